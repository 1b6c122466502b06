// The README's worked example, pasted into a shell as a user would: it must keep working and
// print what the README says it prints.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const root = fileURLToPath(new URL('..', import.meta.url))
const readme = readFileSync(join(root, 'README.md'), 'utf8')
const blocks = [...readme.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], body: m[2] }))

t.test('the worked example prints what the README shows', async (t) => {
  const example = blocks.find((b) => b.lang === 'sh' && b.body.includes('/tmp/quickstart.json'))
  const shown = blocks.find((b) => b.lang === 'text' && b.body.startsWith('ALLOW'))
  if (example === undefined || shown === undefined) throw new Error('the README lost its worked example')
  const policy = join(mkdtempSync(join(tmpdir(), 'ngac-readme-')), 'quickstart.json')
  // Run each command on its own so that every exit code is seen.
  const script = example.body
    .replaceAll('/tmp/quickstart.json', policy)
    .replace(/^(node dist\/src\/cli\.js .*)$/gm, '$1; echo "exit=$?"; echo ---')
  const r = spawnSync('bash', ['-c', script], { cwd: root, encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  const outputs = r.stdout.split('---\n')
  t.equal(outputs.length, 4, 'three commands ran')
  t.equal(outputs[0], shown.body + 'exit=0\n', 'the first command prints exactly the README text')
  t.match(outputs[1], /^DENY: bob may not write report$/m)
  t.match(outputs[1], /exit=1/)
  t.match(outputs[2], /^prohibition no-salaries denies: read, write$/m)
  t.match(outputs[2], /exit=1/)
})
