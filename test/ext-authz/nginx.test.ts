// A real nginx (examples/nginx/nginx.conf, its three addresses changed) in front of a small
// application in this process, every request authorised with auth_request by a real
// `ngac serve` (the built CLI, npm test builds first) over examples/nginx/policy.json and
// examples/nginx/ngac.json. nginx is required: CI installs it (.ci/run); without it this test
// fails, saying so. Waits end on events (a log line, the pid file, a process's exit); the
// timer is only a guard against a hang.
//
// Three records tell what nginx saw from ngac, joined by nginx's request id (sent to the
// client in X-Request-ID, to ngac and the application in X-Request-ID): nginx's log of each
// request (its status and ngac's), its log of each authorization subrequest (ngac's status
// as nginx received it) and ngac's decision log (user, right, object, reason).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { accessSync, chmodSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { guarded } from '../guard.js'
import type { Test } from 'tap'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CLI = join(ROOT, 'dist/src/cli.js')
const EXAMPLE = join(ROOT, 'examples/nginx')

/** The nginx binary on PATH or where distributions put it, or undefined. */
function findNginx (): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin']
  for (const dir of dirs) {
    if (dir === '') continue
    const file = join(dir, 'nginx')
    try {
      accessSync(file, constants.X_OK)
      return file
    } catch {
      // not there: the next directory
    }
  }
  return undefined
}

/** A port nobody listens on now (nginx cannot be given port 0 and asked which it took). */
async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

interface Exit { code: number | null, signal: NodeJS.Signals | null }

interface Child {
  readonly child: ChildProcess
  readonly exited: Promise<Exit>
  /** Everything it wrote to stdout and stderr so far. */
  readonly output: { stdout: string, stderr: string }
}

function start (t: Test, command: string, args: string[], env?: NodeJS.ProcessEnv): Child {
  const child = spawn(command, args, { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  // SIGTERM, not SIGKILL: nginx's master stops its workers on it; a killed master leaves them.
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM') })
  const output = { stdout: '', stderr: '' }
  child.stdout?.setEncoding('utf8')
  child.stderr?.setEncoding('utf8')
  child.stdout?.on('data', (chunk: string) => { output.stdout += chunk })
  child.stderr?.on('data', (chunk: string) => { output.stderr += chunk })
  const exited = new Promise<Exit>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }))
  })
  return { child, exited, output }
}

/** The JSON lines of a text (other lines dropped). */
function jsonLines (text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = []
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      out.push(JSON.parse(line) as Record<string, unknown>)
    } catch {
      // a line cut short or not JSON: not a log entry
    }
  }
  return out
}

/** `ngac serve` on port 0 (gRPC off); resolves to its port once its listening line is out. */
async function startNgac (t: Test, dir: string): Promise<{ port: number, ngac: Child }> {
  const db = join(dir, 'ngac.db')
  const imported = spawnSync(process.execPath, [CLI, 'import', join(EXAMPLE, 'policy.json'), '--db', db], { encoding: 'utf8' })
  if (imported.status !== 0) throw new Error(`ngac import failed (${imported.status}): ${imported.stderr}`)
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const key of ['NGAC_DB', 'HOST', 'PORT', 'NGAC_ADMIN_TOKEN', 'NGAC_PUBLIC_URL']) delete env[key]
  env.NGAC_LOG_LEVEL = 'info'
  const ngac = start(t, process.execPath, [CLI, 'serve', '--port', '0', '--grpc-port', '0', '--db', db, '--config', join(EXAMPLE, 'ngac.json')], env)
  const listening = new Promise<number | undefined>((resolve) => {
    ngac.child.stdout?.on('data', () => {
      for (const line of jsonLines(ngac.output.stdout)) {
        const m = /^Server listening at http:\/\/127\.0\.0\.1:(\d+)$/.exec(String(line.msg))
        if (m !== null) resolve(Number(m[1]))
      }
    })
    void ngac.exited.then(() => resolve(undefined))
  })
  const port = await guarded(listening, 'ngac listening')
  if (port === undefined) throw new Error(`ngac serve exited before listening: ${ngac.output.stderr}`)
  return { port, ngac }
}

/** What reached the application. */
interface Seen { method: string, url: string, headers: IncomingHttpHeaders, body: string }

/** The protected application: records each request and echoes the x-ngac-user it got. */
async function startApp (t: Test): Promise<{ port: number, seen: Seen[] }> {
  const seen: Seen[] = []
  const server = createHttpServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => { body += chunk })
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      const out = JSON.stringify({ user: req.headers['x-ngac-user'] ?? null })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) })
      res.end(out)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { port: (server.address() as AddressInfo).port, seen }
}

/** examples/nginx/nginx.conf with its three addresses replaced; each must be found exactly once. */
function nginxConf (ports: { nginx: number, ngac: number, app: number }): string {
  let conf = readFileSync(join(EXAMPLE, 'nginx.conf'), 'utf8')
  const replace = (from: string, to: string): void => {
    const n = conf.split(from).length - 1
    if (n !== 1) throw new Error(`examples/nginx/nginx.conf: expected '${from}' once, found it ${n} times; update this test with the example`)
    conf = conf.replace(from, to)
  }
  replace('worker_processes auto;', 'worker_processes 1;')
  replace('server 127.0.0.1:8080;', `server 127.0.0.1:${ports.ngac};`)
  replace('server 127.0.0.1:3000;', `server 127.0.0.1:${ports.app};`)
  replace('listen 127.0.0.1:8000;', `listen 127.0.0.1:${ports.nginx};`)
  return conf
}

/**
 * nginx in the foreground with its prefix (logs, temporary files, pid) in `dir`, on a free
 * port; resolves once its pid file holds its pid, which nginx writes after binding its
 * listening socket. A port taken between finding it free and nginx binding it is tried again.
 */
async function startNginx (t: Test, binary: string, dir: string, conf: (port: number) => string): Promise<{ port: number, nginx: Child }> {
  mkdirSync(join(dir, 'logs'), { recursive: true })
  mkdirSync(join(dir, 'tmp'), { recursive: true })
  // Run as root, nginx's workers run as an unprivileged user: they must reach the temp dirs.
  chmodSync(dir, 0o755)
  const errorLog = join(dir, 'logs', 'error.log')
  const pidFile = join(dir, 'logs', 'nginx.pid')
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    writeFileSync(join(dir, 'nginx.conf'), conf(port))
    writeFileSync(errorLog, '')
    const nginx = start(t, binary, ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'])
    const ready = (async (): Promise<boolean> => {
      while (nginx.child.exitCode === null && nginx.child.signalCode === null) {
        if (existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() === String(nginx.child.pid)) return true
        await delay(10)
      }
      return false
    })()
    if (await guarded(ready, 'nginx pid file')) return { port, nginx }
    await nginx.exited
    const log = readFileSync(errorLog, 'utf8')
    if (attempt < 3 && /Address already in use/.test(log)) continue
    throw new Error(`nginx exited before it was ready: ${nginx.output.stderr}${log}`)
  }
}

interface Response { status: number, headers: IncomingHttpHeaders, body: string }

/** A request to nginx with the request target exactly as given (no normalisation). */
async function send (port: number, method: string, target: string, headers: Record<string, string> = {}, body?: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path: target, headers, agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** One request through nginx and what should come of it. */
interface Case {
  readonly name: string
  readonly method: string
  readonly target: string
  readonly headers?: Record<string, string>
  readonly body?: string
  /** The status the client gets. */
  readonly status: number
  /** ngac's answer to nginx's subrequest; absent when nginx refuses the request itself. */
  readonly ngac?: 200 | 401 | 403
  /** The user the application is told (allowed requests). */
  readonly user?: string
  /** ngac's decision: why, and the right and object it decided on (when it got that far). */
  readonly reason?: string
  readonly right?: string
  readonly object?: string
}

const alice = { 'x-user': 'alice' }
const carol = { 'x-user': 'carol' }

const CASES: readonly Case[] = [
  { name: 'GET a mapped route: read order:42, allowed', method: 'GET', target: '/orders/42', headers: alice, status: 200, ngac: 200, user: 'alice', reason: 'allowed', right: 'read', object: 'order:42' },
  { name: 'the query string is not part of the object', method: 'GET', target: '/orders/42?expand=items&next=/../x', headers: alice, status: 200, ngac: 200, user: 'alice', reason: 'allowed', right: 'read', object: 'order:42' },
  { name: 'HEAD is read', method: 'HEAD', target: '/orders/7', headers: alice, status: 200, ngac: 200, user: 'alice', reason: 'allowed', right: 'read', object: 'order:7' },
  { name: 'POST is write, and the body still reaches the application', method: 'POST', target: '/orders/42', headers: { ...alice, 'content-type': 'application/json' }, body: '{"note":"gift wrap"}', status: 200, ngac: 200, user: 'alice', reason: 'allowed', right: 'write', object: 'order:42' },
  { name: 'DELETE is delete: a clerk may not', method: 'DELETE', target: '/orders/42', headers: alice, status: 403, ngac: 403, reason: 'denied', right: 'delete', object: 'order:42' },
  { name: 'DELETE by a manager', method: 'DELETE', target: '/orders/42', headers: carol, status: 200, ngac: 200, user: 'carol', reason: 'allowed', right: 'delete', object: 'order:42' },
  { name: "a route's own right: cancel, which a clerk lacks", method: 'POST', target: '/orders/42/cancel', headers: alice, status: 403, ngac: 403, reason: 'denied', right: 'cancel', object: 'order:42' },
  { name: "a route's own right: cancel, by a manager", method: 'POST', target: '/orders/42/cancel', headers: carol, status: 200, ngac: 200, user: 'carol', reason: 'allowed', right: 'cancel', object: 'order:42' },
  { name: 'a trailing * route: /files/handbook/intro.md is file:handbook/intro.md', method: 'GET', target: '/files/handbook/intro.md', headers: alice, status: 200, ngac: 200, user: 'alice', reason: 'allowed', right: 'read', object: 'file:handbook/intro.md' },
  { name: 'a user without rights on the object', method: 'GET', target: '/orders/42', headers: { 'x-user': 'bob' }, status: 403, ngac: 403, reason: 'denied', right: 'read', object: 'order:42' },
  { name: 'a user the policy does not know', method: 'GET', target: '/orders/42', headers: { 'x-user': 'mallory' }, status: 403, ngac: 403, reason: 'denied', right: 'read', object: 'order:42' },
  { name: 'no identity', method: 'GET', target: '/orders/42', status: 401, ngac: 401, reason: 'no identity' },
  { name: 'an object the policy does not hold', method: 'GET', target: '/orders/43', headers: alice, status: 403, ngac: 403, reason: 'denied', right: 'read', object: 'order:43' },
  { name: 'a path no route maps (unknownObject: deny)', method: 'GET', target: '/admin', headers: alice, status: 403, ngac: 403, reason: 'no route' },
  { name: 'a method the rights table lacks', method: 'OPTIONS', target: '/orders/42', headers: alice, status: 403, ngac: 403, reason: 'unknown method', object: 'order:42' },
  {
    name: "a client's X-Original-URI and X-Forwarded-Uri are overwritten by nginx",
    method: 'GET',
    target: '/admin',
    headers: { ...alice, 'x-original-uri': '/orders/42', 'x-forwarded-uri': '/orders/42' },
    status: 403,
    ngac: 403,
    reason: 'no route'
  },
  {
    name: "a client's X-Original-Method and X-Forwarded-Method are overwritten by nginx",
    method: 'DELETE',
    target: '/orders/42',
    headers: { ...alice, 'x-original-method': 'GET', 'x-forwarded-method': 'GET' },
    status: 403,
    ngac: 403,
    reason: 'denied',
    right: 'delete',
    object: 'order:42'
  },
  { name: "a client's own X-Ngac-User does not reach the application", method: 'GET', target: '/orders/42', headers: { ...alice, 'x-ngac-user': 'carol' }, status: 200, ngac: 200, user: 'alice', reason: 'allowed', right: 'read', object: 'order:42' },
  { name: '.. in the raw path (nginx resolves it, the application might not): denied', method: 'GET', target: '/admin/../orders/42', headers: alice, status: 403, ngac: 403, reason: 'malformed path' },
  { name: 'an encoded .. (%2e%2e): denied', method: 'GET', target: '/orders/%2e%2e/orders/42', headers: alice, status: 403, ngac: 403, reason: 'malformed path' },
  { name: 'an escape that is not UTF-8 (%ff): denied', method: 'GET', target: '/orders/%ff', headers: alice, status: 403, ngac: 403, reason: 'malformed path' },
  { name: 'a truncated UTF-8 escape (%E2%82): denied', method: 'GET', target: '/orders/%E2%82', headers: alice, status: 403, ngac: 403, reason: 'malformed path' },
  { name: 'raw bytes above ASCII in the path: an object like any other', method: 'GET', target: '/orders/caf\u00c3\u00a9', headers: alice, status: 403, ngac: 403, reason: 'denied' },
  { name: 'a long path', method: 'GET', target: `/orders/${'x'.repeat(3000)}`, headers: alice, status: 403, ngac: 403, reason: 'denied', right: 'read', object: `order:${'x'.repeat(3000)}` },
  { name: 'a malformed escape (%zz): nginx answers 400 itself', method: 'GET', target: '/orders/%zz', headers: alice, status: 400 },
  { name: '.. above the root: nginx answers 400 itself', method: 'GET', target: '/../orders/42', headers: alice, status: 400 }
]

t.test('nginx auth_request in front of an application, every request decided by ngac serve', async (t) => {
  const binary = findNginx()
  if (binary === undefined) {
    t.fail('nginx is not installed: this test runs a real nginx (apt-get install nginx; .ci/run installs it when missing)')
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'ngac-nginx-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))

  const { port: ngacPort, ngac } = await startNgac(t, dir)
  const app = await startApp(t)
  const { port: nginxPort, nginx } = await startNginx(t, binary, dir, (port) => nginxConf({ nginx: port, ngac: ngacPort, app: app.port }))

  /** Each case's nginx request id ('' when nginx refused it before giving it one). */
  const ids = new Map<Case, string>()
  for (const c of CASES) {
    await t.test(`${c.method} ${c.target.length > 60 ? `${c.target.slice(0, 60)}...` : c.target}: ${c.name}`, async (t) => {
      const before = app.seen.length
      const res = await send(nginxPort, c.method, c.target, c.headers, c.body)
      const id = typeof res.headers['x-request-id'] === 'string' ? res.headers['x-request-id'] : ''
      ids.set(c, id)
      t.equal(res.status, c.status, 'the status the client gets')
      t.ok(res.status < 500, 'never a 5xx')
      if (c.ngac !== undefined) t.match(id, /^[0-9a-f]{32}$/, 'nginx gave the request an id')
      const reached = app.seen.slice(before)
      if (c.status !== 200) {
        t.same(reached, [], 'the application never saw it')
        return
      }
      t.equal(reached.length, 1, 'the application saw it once')
      const seen = reached[0] as Seen
      t.equal(seen.method, c.method)
      t.equal(seen.url, c.target, 'the request target as the client sent it')
      t.equal(seen.headers['x-request-id'], id)
      t.equal(seen.headers['x-ngac-user'], c.user, 'x-ngac-user from ngac, through auth_request_set and proxy_set_header')
      t.equal(seen.headers['x-ngac-revision'], '1', 'x-ngac-revision: the revision imported')
      t.match(seen.headers['x-ngac-decision-id'], /^\S+$/, 'x-ngac-decision-id')
      t.equal(seen.body, c.body ?? '', 'the body reached the application')
      if (c.method !== 'HEAD') t.same(JSON.parse(res.body), { user: c.user }, "the application's answer")
    })
  }

  // nginx writes its log lines and ngac its decision lines after answering: stop both, then read.
  nginx.child.kill('SIGQUIT')
  t.same(await guarded(nginx.exited, 'nginx exit after SIGQUIT'), { code: 0, signal: null }, 'nginx stopped gracefully')
  ngac.child.kill('SIGTERM')
  t.same(await guarded(ngac.exited, 'ngac exit after SIGTERM'), { code: 0, signal: null }, 'ngac stopped gracefully')

  const access = jsonLines(readFileSync(join(dir, 'logs', 'access.log'), 'utf8'))
  const auth = jsonLines(readFileSync(join(dir, 'logs', 'ngac-auth.log'), 'utf8'))
  const errorLog = readFileSync(join(dir, 'logs', 'error.log'), 'utf8')
  const ngacLog = jsonLines(ngac.output.stdout)
  const decisions = ngacLog.filter((line) => line.msg === 'decision')

  await t.test("nginx's logs: ngac answered every subrequest with 200, 401 or 403, never anything else", async (t) => {
    const asked = CASES.filter((c) => c.ngac !== undefined)
    t.equal(auth.length, asked.length, 'one subrequest for each request that nginx did not refuse itself')
    t.same(auth.filter((line) => !['200', '401', '403'].includes(String(line.ngacStatus))), [], 'no other status from ngac')
    t.notMatch(errorLog, /\[(error|crit|alert|emerg)\]/, 'no errors in nginx error log (an unexpected auth status, ngac unreachable)')
    for (const c of asked) {
      const id = ids.get(c) ?? ''
      const subrequests = auth.filter((line) => line.requestId === id)
      t.same(subrequests.map((line) => line.ngacStatus), [String(c.ngac)], `${c.name}: ngac answered the subrequest ${c.ngac}`)
      const main = access.filter((line) => line.requestId === id)
      t.same(main.map((line) => [line.status, line.ngacStatus]), [[String(c.status), String(c.ngac)]], `${c.name}: nginx's request line`)
    }
    for (const c of CASES.filter((c) => c.ngac === undefined)) {
      t.ok(access.some((line) => String(line.request).includes(c.target) && line.status === String(c.status) && line.ngacStatus === ''),
        `${c.name}: logged by nginx, never asked of ngac`)
    }
  })

  await t.test("ngac's decision log: the user, right and object each request was mapped to", async (t) => {
    t.same(ngacLog.filter((line) => Number(line.level) >= 50 || Number(line.statusCode) >= 500), [], 'no error and no 5xx')
    t.equal(decisions.length, auth.length, 'one decision per subrequest')
    for (const c of CASES.filter((c) => c.ngac !== undefined)) {
      const id = ids.get(c) ?? ''
      const mine = decisions.filter((line) => line.requestId === id)
      t.equal(mine.length, 1, `${c.name}: one decision, with nginx's request id`)
      const d = mine[0] ?? {}
      t.equal(d.reason, c.reason, `${c.name}: ${c.reason}`)
      t.equal(d.allowed, c.ngac === 200)
      t.equal(d.method, c.method, 'the original method (X-Original-Method)')
      if (c.ngac !== 401) t.equal(d.user, c.headers?.['x-user'])
      if (c.right !== undefined) t.equal(d.right, c.right)
      if (c.object !== undefined) t.equal(d.object, c.object)
      const line = access.find((l) => l.requestId === id)
      if (c.ngac === 200) t.equal(line?.decisionId, d.decisionId, "nginx's log and ngac's name the same decision")
    }
  })
})
