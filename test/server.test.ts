// `ngac serve` as it runs in production: real child processes of the built CLI (npm test builds
// first) on 127.0.0.1 port 0 over a real SQLite file, spoken to over real HTTP. Waits are bound
// by events (the listening line, the process's exit); the timer is only a guard against a hang.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { guarded } from './guard.js'
import type { Test } from 'tap'
import { loadConfig } from '../src/config.js'
import { isLoopback, startServer } from '../src/server.js'

const CLI = fileURLToPath(new URL('../dist/src/cli.js', import.meta.url))
const TOKEN = 'a-test-admin-token-0123456789'
/** alice (staff) may read and write what is in docs; bob (guests) holds nothing. */
const POLICY = {
  resourceRights: ['read', 'write'],
  nodes: [
    { name: 'RBAC', type: 'PC' }, { name: 'staff', type: 'UA' }, { name: 'guests', type: 'UA' },
    { name: 'alice', type: 'U' }, { name: 'bob', type: 'U' }, { name: 'docs', type: 'OA' }, { name: 'report', type: 'O' }
  ],
  assignments: [['staff', 'RBAC'], ['guests', 'RBAC'], ['alice', 'staff'], ['bob', 'guests'], ['docs', 'RBAC'], ['report', 'docs']],
  associations: [{ ua: 'staff', target: 'docs', rights: ['read', 'write'] }],
  prohibitions: []
}

interface Exit { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

interface Serve {
  readonly child: ChildProcess
  /** The port from the listening line, or undefined when the process exited first. */
  readonly listening: Promise<number | undefined>
  readonly exited: Promise<Exit>
  /** Resolves once a log line whose message matches `re` has been written. */
  logged: (re: RegExp) => Promise<Record<string, unknown>>
  /** Every JSON log line so far. */
  lines: () => Record<string, unknown>[]
}

/** The environment of the tests' processes: none of the runner's NGAC settings leak in. */
function env (extra: Record<string, string>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...process.env }
  for (const key of ['NGAC_DB', 'HOST', 'PORT', 'NGAC_ADMIN_TOKEN', 'NGAC_LOG_LEVEL', 'NGAC_PUBLIC_URL']) delete out[key]
  return { ...out, NGAC_LOG_LEVEL: 'info', ...extra }
}

/** Starts `ngac serve ARGS` (on port 0, gRPC off, one worker unless ARGS say otherwise: a request on a fresh connection may reach a worker 10 ms behind a write); killed at teardown if still running. */
function serve (t: Test, args: string[], extraEnv: Record<string, string> = {}): Serve {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--grpc-port', '0', '--workers', '1', ...args], {
    env: env(extraEnv),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => { stderr += chunk })
  const exited = new Promise<Exit>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
  const listening = new Promise<number | undefined>((resolve) => {
    let pending = ''
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) {
        const m = /^Server listening at http:\/\/.*:(\d+)$/.exec(logMessage(line))
        if (m !== null) resolve(Number(m[1]))
      }
    })
    void exited.then(() => resolve(undefined))
  })
  const lines = (): Record<string, unknown>[] => stdout.split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>]
    } catch {
      return []
    }
  })
  const logged = (re: RegExp): Promise<Record<string, unknown>> => new Promise((resolve, reject) => {
    const look = (): boolean => {
      const line = lines().find((l) => typeof l.msg === 'string' && re.test(l.msg))
      if (line !== undefined) resolve(line)
      return line !== undefined
    }
    if (look()) return
    const onData = (): void => { if (look()) child.stdout.off('data', onData) }
    child.stdout.on('data', onData)
    void exited.then(() => { if (!look()) reject(new Error(`the server exited before logging ${String(re)}`)) })
  })
  return { child, listening, exited, logged, lines }
}

/** The `msg` of a JSON log line ('' for anything else). */
function logMessage (line: string): string {
  try {
    const entry = JSON.parse(line) as { msg?: unknown }
    return typeof entry.msg === 'string' ? entry.msg : ''
  } catch {
    return ''
  }
}

/** Starts a server and resolves to its base URL once it listens; fails if it exits instead. */
async function started (t: Test, s: Serve): Promise<string> {
  const port = await guarded(s.listening, 'listening')
  if (port === undefined) {
    const exit = await s.exited
    throw new Error(`the server exited with ${exit.code} before listening: ${exit.stderr}`)
  }
  t.ok(port > 0, `listening on port ${port}`)
  return `http://127.0.0.1:${port}`
}

/** SIGTERM, then the process's exit. */
async function stop (s: Serve): Promise<Exit> {
  s.child.kill('SIGTERM')
  return guarded(s.exited, 'exit after SIGTERM')
}

/** A JSON request; resolves to the status and the parsed body. */
async function request (url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number, body: unknown }> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await res.text()
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) }
}

function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ngac-server-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('serve: a policy over HTTP, a decision, a graceful SIGTERM, and the policy intact after a restart', async (t) => {
  const db = join(tempDir(t), 'data', 'ngac.db')

  const first = serve(t, ['--db', db])
  const url = await started(t, first)
  t.same(await request(`${url}/healthz`, 'GET'), { status: 200, body: { status: 'ok' } })
  t.same(await request(`${url}/v1/policy`, 'PUT', POLICY), { status: 200, body: { revision: 1 } })
  t.same(await request(`${url}/v1/check`, 'POST', { user: 'alice', right: 'write', target: 'report' }),
    { status: 200, body: { allowed: true, revision: 1 } })
  t.same(await request(`${url}/v1/check`, 'POST', { user: 'bob', right: 'read', target: 'report' }),
    { status: 200, body: { allowed: false, revision: 1 } })
  t.same(await request(`${url}/v1/nodes`, 'POST', { name: 'memo', type: 'O', parents: ['docs'] }).then((r) => r.status), 201,
    'a second write')
  const exported = await request(`${url}/v1/policy`, 'GET')
  t.equal(exported.status, 200)
  t.same(await request(`${url}/readyz`, 'GET'), { status: 200, body: { status: 'ready', revision: 2 } })

  const exit = await stop(first)
  t.equal(exit.code, 0, 'SIGTERM: a graceful exit with code 0')
  t.equal(exit.signal, null, 'the process exited by itself, not by the signal')
  t.ok(exit.stdout.split('\n').some((line) => logMessage(line).startsWith('closing')), 'it logged that it was closing')

  const second = serve(t, ['--db', db])
  const again = await started(t, second)
  t.same(await request(`${again}/v1/revision`, 'GET'), { status: 200, body: { revision: 2 } }, 'the revision is intact')
  t.same(await request(`${again}/v1/policy`, 'GET'), exported, 'the policy is intact')
  t.same(await request(`${again}/v1/check`, 'POST', { user: 'alice', right: 'read', target: 'memo' }),
    { status: 200, body: { allowed: true, revision: 2 } })
  t.equal((await stop(second)).code, 0)
})

t.test('serve --workers 2: both workers serve, each sees the other\'s writes, one that dies is replaced', async (t) => {
  const db = join(tempDir(t), 'ngac.db')
  const s = serve(t, ['--db', db, '--workers', '2'])
  const url = await started(t, s)
  t.match(await guarded(s.logged(/^serving with 2 workers$/), 'both workers'), { workers: 2 })
  t.same(await request(`${url}/v1/policy`, 'PUT', POLICY), { status: 200, body: { revision: 1 } })
  // A new connection per request, so the primary hands them to the workers in turn.
  const fresh = { connection: 'close' }
  for (let i = 0; i < 12; i++) {
    const write = await request(`${url}/v1/nodes`, 'POST', { name: `memo${i}`, type: 'O', parents: ['docs'] }, fresh)
    t.equal(write.status, 201)
    const { revision } = write.body as { revision: number }
    t.equal(revision, i + 2, 'revisions follow each other whichever worker wrote')
    t.same(await request(`${url}/v1/check`, 'POST', { user: 'alice', right: 'read', target: `memo${i}`, atLeastRevision: revision }, fresh),
      { status: 200, body: { allowed: true, revision } }, `memo${i} is readable at its revision`)
  }
  const checked = s.lines().filter((l) => l.url === '/v1/check').map((l) => l.pid)
  t.equal(new Set(checked).size, 2, 'both workers answered checks')

  const pid = checked[0] as number
  process.kill(pid, 'SIGKILL')
  await guarded(s.logged(/^worker died/), 'the restart')
  await guarded(s.logged(/^serving with 2 workers$/).then(() => new Promise<void>((resolve) => {
    const wait = (): void => { if (s.lines().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening')).length >= 3) resolve(); else setTimeout(wait, 50) }
    wait()
  })), 'the new worker listening')
  for (let i = 0; i < 4; i++) {
    t.same(await request(`${url}/v1/revision`, 'GET', undefined, fresh), { status: 200, body: { revision: 13 } }, 'the new worker loaded the policy')
  }
  const exit = await stop(s)
  t.equal(exit.code, 0, 'SIGTERM stops the workers, then the primary')
  const workers = new Set(s.lines().map((l) => l.pid).filter((p) => p !== s.child.pid))
  for (const worker of workers) t.throws(() => process.kill(worker as number, 0), { code: 'ESRCH' }, `worker ${String(worker)} is gone`)
})

t.test('serve refuses a non-loopback host without an admin token: exit 2, NGAC_ERR_CONFIG', async (t) => {
  const db = join(tempDir(t), 'ngac.db')
  const s = serve(t, ['--db', db, '--host', '0.0.0.0'])
  t.equal(await guarded(s.listening, 'exit'), undefined, 'it never listens')
  const exit = await s.exited
  t.equal(exit.code, 2)
  t.match(exit.stderr, /NGAC_ERR_CONFIG/)
  t.match(exit.stderr, /NGAC_ADMIN_TOKEN/, 'the message says what to do')
})

t.test('serve on a non-loopback host with NGAC_ADMIN_TOKEN: starts, and the admin routes need the token', async (t) => {
  const db = join(tempDir(t), 'ngac.db')
  const s = serve(t, ['--db', db, '--host', '0.0.0.0'], { NGAC_ADMIN_TOKEN: TOKEN })
  const url = await started(t, s)
  const anonymous = await request(`${url}/v1/revision`, 'GET')
  t.equal(anonymous.status, 401)
  t.equal((anonymous.body as { code: string }).code, 'NGAC_ERR_UNAUTHORIZED')
  t.same(await request(`${url}/v1/revision`, 'GET', undefined, { authorization: `Bearer ${TOKEN}` }),
    { status: 200, body: { revision: 0 } })
  t.equal((await request(`${url}/healthz`, 'GET')).status, 200, 'operations need no token')
  t.equal((await stop(s)).code, 0)
})

t.test('serve with an unknown config key exits 2 with NGAC_ERR_CONFIG naming it', async (t) => {
  const dir = tempDir(t)
  const config = join(dir, 'ngac.json')
  writeFileSync(config, JSON.stringify({ limits: { bodyBytes: 4096, bodySize: 1 } }))
  const s = serve(t, ['--db', join(dir, 'ngac.db'), '--config', config])
  t.equal(await guarded(s.listening, 'exit'), undefined, 'it never listens')
  const exit = await s.exited
  t.equal(exit.code, 2)
  t.match(exit.stderr, /NGAC_ERR_CONFIG/)
  t.match(exit.stderr, /limits\.bodySize/)
})

t.test('serve with bad settings exits 2 before listening', async (t) => {
  const dir = tempDir(t)
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['--db', join(dir, 'a.db')], { PORT: 'http' }, /NGAC_ERR_CONFIG/],
    [['--db', join(dir, 'b.db'), '--port', 'x'], {}, /--port/],
    [['--db', join(dir, 'c.db'), '--bogus'], {}, /bogus/],
    [['--db', join(dir, 'd.db'), '--config', join(dir, 'absent.json')], {}, /NGAC_ERR_CONFIG/]
  ]
  // Started together: they are independent, and each one's wait ends with its own exit.
  const servers = cases.map(([args, extraEnv]) => serve(t, args, extraEnv))
  for (const [i, [args, , message]] of cases.entries()) {
    const s = servers[i] as Serve
    t.equal(await guarded(s.listening, 'exit'), undefined, `${args.slice(2).join(' ')} never listens`)
    const exit = await s.exited
    t.equal(exit.code, 2)
    t.match(exit.stderr, message)
  }
})

t.test('serve on a port in use exits 2 with the reason', async (t) => {
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())))
  const { port } = blocker.address() as AddressInfo
  const s = serve(t, ['--db', join(tempDir(t), 'ngac.db'), '--port', String(port)])
  t.equal(await guarded(s.listening, 'exit'), undefined, 'it never listens')
  const exit = await s.exited
  t.equal(exit.code, 2)
  t.match(exit.stderr, /EADDRINUSE/)
})

t.test('isLoopback: only addresses that stay on this host', async (t) => {
  for (const host of ['127.0.0.1', '127.0.0.2', '127.255.255.254', '::1', 'localhost']) t.equal(isLoopback(host), true, host)
  for (const host of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', '128.0.0.1', 'example.com', '::ffff:10.0.0.1', 'localhost.example.com']) {
    t.equal(isLoopback(host), false, host)
  }
})

t.test('startServer refuses a non-loopback host without a token before opening anything', async (t) => {
  const dir = tempDir(t)
  for (const host of ['0.0.0.0', '::', '10.1.2.3']) {
    await t.rejects(startServer(loadConfig({ document: { host, db: join(dir, 'never', 'ngac.db'), logLevel: 'silent' } })),
      { code: 'NGAC_ERR_CONFIG' }, host)
  }
  t.notOk(existsSync(join(dir, 'never')), 'no database was created')
})
