// Runs the built `ngac` command as a real child process (npm test builds first), in a temp dir
// of its own, with files written there.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const CLI = fileURLToPath(new URL('../dist/src/cli.js', import.meta.url))

/** What a run of the command gave. */
export interface CliResult {
  status: number | null
  stdout: string
  stderr: string
}

/** A runner of `ngac` in a fresh temp dir (`dir`), and a writer of files (JSON or text) into it. */
export function cliRunner (prefix: string): { dir: string, ngac: (...args: string[]) => CliResult, file: (name: string, content: unknown) => string } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return {
    dir,
    ngac (...args) {
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: dir, env: { ...process.env, NGAC_DB: '' } })
      return { status: r.status, stdout: r.stdout, stderr: r.stderr }
    },
    file (name, content) {
      const path = join(dir, name)
      writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content))
      return path
    }
  }
}
