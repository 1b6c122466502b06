// The README's worked example, pasted into a shell as a user would: it must keep working and
// print what the README says it prints.
import { spawn, spawnSync } from 'node:child_process'
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

t.test('the curl session works against a real server and prints what the README shows', async (t) => {
  const session = blocks.find((b) => b.lang === 'sh' && b.body.includes('curl'))
  const shown = blocks.find((b) => b.lang === 'text' && b.body.startsWith('{"revision":1'))
  if (session === undefined || shown === undefined) throw new Error('the README lost its curl session')
  const db = join(mkdtempSync(join(tmpdir(), 'ngac-readme-')), 'ngac.db')
  const server = spawn(process.execPath, [join(root, 'dist/src/cli.js'), 'serve', '--port', '0', '--grpc-port', '0', '--workers', '1', '--db', db], {
    cwd: root, env: { ...process.env, NGAC_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => { server.kill('SIGKILL') })
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    server.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const m = /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(out)
      if (m !== null) resolve(Number(m[1]))
    })
    server.once('exit', (code) => reject(new Error(`the server exited with ${code}`)))
  })
  const run = (body: string): Promise<{ status: number | null, stdout: string }> => new Promise((resolve) => {
    const child = spawn('bash', ['-c', body.replaceAll('localhost:8080', `127.0.0.1:${port}`)], { cwd: root })
    let stdout = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.once('exit', (status) => resolve({ status, stdout }))
  })
  const r = await run(session.body)
  t.equal(r.status, 0)
  t.equal(r.stdout, shown.body)

  // The ext_authz example continues the same session.
  const proxied = blocks.find((b) => b.lang === 'sh' && b.body.includes('/ext_authz/'))
  const proxiedShown = blocks.find((b) => b.lang === 'text' && b.body.startsWith('{"revision":3,"applied":2}'))
  if (proxied === undefined || proxiedShown === undefined) throw new Error('the README lost its ext_authz example')
  const p = await run(proxied.body)
  t.equal(p.status, 0)
  t.equal(p.stdout.replace(/"decisionId":"[^"]+"/g, '"decisionId":"..."'), proxiedShown.body)
})
