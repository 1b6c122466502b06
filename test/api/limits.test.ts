// The limits that protect the process (issue 9). Each has a documented default and a key under
// `limits` in the config (the name length is fixed: a policy valid on one server must load on
// every other); passing it answers a 4xx whose code is documented and whose `details` name the
// limit, `{limit, max}`; and the refused request changes nothing.
import { connect, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { build, ERROR_BODY_KEYS, SAMPLE_POLICY } from './helper.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

interface Reply {
  status: number
  body: Json
}

async function send (app: App, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown): Promise<Reply> {
  const res = await app.inject({
    method,
    url,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, payload: typeof body === 'string' ? body : JSON.stringify(body) })
  })
  return { status: res.statusCode, body: res.body === '' ? undefined : JSON.parse(res.body) }
}

/** An app serving SAMPLE_POLICY (revision 1) with `limits`. */
async function sample (t: Test, limits: Record<string, unknown>): Promise<App> {
  const app = await build(t, { limits: { maxEventLoopDelayMs: 0, ...limits } })
  app.policy.replace(SAMPLE_POLICY)
  return app
}

/**
 * Asserts that `request` is refused with `status` and `code`, that its details name `limit` with
 * `max` (and hold `extra`), and that the policy and its revision are as they were.
 */
async function refused (t: Test, app: App, request: () => Promise<Reply>, status: number, code: string, limit: string, max: number, extra: Record<string, unknown> = {}): Promise<void> {
  const before = { revision: app.policy.revision, policy: JSON.stringify(app.policy.export()) }
  const res = await request()
  t.equal(res.status, status, `${code}: status ${status}`)
  t.equal(res.body?.code, code)
  t.type(res.body?.message, 'string')
  t.ok(Object.keys(res.body ?? {}).every((k) => ERROR_BODY_KEYS.includes(k)), 'only code, message, details')
  t.same(res.body?.details, { ...extra, limit, max }, `details name the limit ${limit}`)
  t.same({ revision: app.policy.revision, policy: JSON.stringify(app.policy.export()) }, before, 'nothing changed')
}

t.test('the documented defaults', async (t) => {
  t.match(loadConfig({}).limits, {
    bodyBytes: 1048576,
    policyBodyBytes: 268435456,
    jsonDepth: 64,
    maxPageSize: 1000,
    batchOperations: 100000,
    checkBatch: 1000,
    propertiesCount: 256,
    propertiesBytes: 65536,
    headerBytes: 16384
  })
})

t.test('limits.bodyBytes and limits.policyBodyBytes: 413 NGAC_ERR_BODY_TOO_LARGE', async (t) => {
  const app = await sample(t, { bodyBytes: 2048, policyBodyBytes: 8192 })
  const pad = (n: number): string => 'x'.repeat(n)
  await refused(t, app, () => send(app, 'POST', '/v1/nodes', { name: 'n', type: 'O', parents: ['docs'], properties: { pad: pad(2100) } }),
    413, 'NGAC_ERR_BODY_TOO_LARGE', 'bodyBytes', 2048)
  await refused(t, app, () => send(app, 'POST', '/v1/check', { user: pad(2100), right: 'read', target: 'report' }), 413, 'NGAC_ERR_BODY_TOO_LARGE', 'bodyBytes', 2048)
  const big = { ...SAMPLE_POLICY, nodes: [...SAMPLE_POLICY.nodes, { name: 'big', type: 'O', properties: { pad: pad(9000) } }], assignments: [...SAMPLE_POLICY.assignments, ['big', 'docs']] }
  await refused(t, app, () => send(app, 'PUT', '/v1/policy', big), 413, 'NGAC_ERR_BODY_TOO_LARGE', 'policyBodyBytes', 8192)
  await refused(t, app, () => send(app, 'POST', '/v1/batch', { operations: [{ op: 'createNode', name: 'n', type: 'O', parents: ['docs'], properties: { pad: pad(9000) } }] }),
    413, 'NGAC_ERR_BODY_TOO_LARGE', 'policyBodyBytes', 8192)
  // Under their own limit, the policy routes take more than bodyBytes.
  const ok = await send(app, 'POST', '/v1/batch', { operations: [{ op: 'createNode', name: 'n', type: 'O', parents: ['docs'], properties: { pad: pad(3000) } }] })
  t.equal(ok.status, 200)
})

t.test('limits.jsonDepth: 400 NGAC_ERR_JSON_TOO_DEEP', async (t) => {
  const app = await sample(t, { jsonDepth: 8 })
  // The body is level 1, operations 2, the operation 3, properties 4: 4 more arrays make 8.
  const nested = (extra: number): string => `{"operations":[{"op":"createNode","name":"n","type":"O","parents":["docs"],"properties":{"x":${'['.repeat(extra)}${']'.repeat(extra)}}}]}`
  const atLimit = await send(app, 'POST', '/v1/batch', nested(4))
  t.equal(atLimit.body.code, 'NGAC_ERR_VALIDATION', '8 levels are parsed (then refused: a property is a string)')
  await refused(t, app, () => send(app, 'POST', '/v1/batch', nested(5)), 400, 'NGAC_ERR_JSON_TOO_DEEP', 'jsonDepth', 8)
})

t.test('the name length (fixed, 1024): 400 NGAC_ERR_INVALID_NAME wherever a name is given', async (t) => {
  const app = await sample(t, {})
  const long = 'n'.repeat(1025)
  await refused(t, app, () => send(app, 'POST', '/v1/nodes', { name: long, type: 'O', parents: ['docs'] }), 400, 'NGAC_ERR_INVALID_NAME', 'nameLength', 1024)
  await refused(t, app, () => send(app, 'POST', '/v1/nodes', { name: 'ok', type: 'O', parents: ['docs', long] }), 400, 'NGAC_ERR_INVALID_NAME', 'nameLength', 1024)
  await refused(t, app, () => send(app, 'POST', '/v1/batch', { operations: [{ op: 'assign', child: 'report', parent: 'staff' }, { op: 'createNode', name: long, type: 'O', parents: ['docs'] }] }),
    400, 'NGAC_ERR_INVALID_NAME', 'nameLength', 1024, { index: 1 })
  await refused(t, app, () => send(app, 'DELETE', `/v1/nodes/${long}`), 400, 'NGAC_ERR_INVALID_NAME', 'nameLength', 1024)
  await refused(t, app, () => send(app, 'DELETE', `/v1/assignments?child=${long}&parent=docs`), 400, 'NGAC_ERR_INVALID_NAME', 'nameLength', 1024)
  await refused(t, app, () => send(app, 'GET', `/v1/privileges?user=${long}&target=report`), 400, 'NGAC_ERR_INVALID_NAME', 'nameLength', 1024)
  // A whole policy lists every problem, this one among them.
  const policy = await send(app, 'PUT', '/v1/policy', { ...SAMPLE_POLICY, nodes: [...SAMPLE_POLICY.nodes, { name: long, type: 'PC' }] })
  t.equal(policy.body.code, 'NGAC_ERR_POLICY_FILE')
  t.match(policy.body.details, [{ path: `nodes[${SAMPLE_POLICY.nodes.length}].name`, code: 'NGAC_ERR_INVALID_NAME' }])
  t.equal(app.policy.revision, 1)
  const at = await send(app, 'POST', '/v1/nodes', { name: 'n'.repeat(1024), type: 'O', parents: ['docs'] })
  t.equal(at.status, 201, '1024 characters are a name')
})

t.test('limits.propertiesCount and limits.propertiesBytes: 413 NGAC_ERR_PROPERTIES_TOO_LARGE on every write', async (t) => {
  const app = await sample(t, { propertiesCount: 3, propertiesBytes: 100 })
  const four = { a: '1', b: '2', c: '3', d: '4' }
  // {"k":"ééé..."}: 8 bytes of JSON around the value, and 2 bytes per é.
  const heavy = { k: 'é'.repeat(47) }
  const within = { k: 'é'.repeat(46) }
  const node = (properties: Record<string, string>) => ({ name: 'n', type: 'O', parents: ['docs'], properties })
  await refused(t, app, () => send(app, 'POST', '/v1/nodes', node(four)), 413, 'NGAC_ERR_PROPERTIES_TOO_LARGE', 'propertiesCount', 3)
  await refused(t, app, () => send(app, 'POST', '/v1/nodes', node(heavy)), 413, 'NGAC_ERR_PROPERTIES_TOO_LARGE', 'propertiesBytes', 100)
  await refused(t, app, () => send(app, 'PATCH', '/v1/nodes/report', { properties: four }), 413, 'NGAC_ERR_PROPERTIES_TOO_LARGE', 'propertiesCount', 3)
  await refused(t, app, () => send(app, 'PATCH', '/v1/nodes/report', { properties: heavy }), 413, 'NGAC_ERR_PROPERTIES_TOO_LARGE', 'propertiesBytes', 100)
  await refused(t, app, () => send(app, 'POST', '/v1/batch', { operations: [{ op: 'createNode', ...node({}) }, { op: 'setProperties', name: 'n', properties: four }] }),
    413, 'NGAC_ERR_PROPERTIES_TOO_LARGE', 'propertiesCount', 3, { index: 1 })
  await refused(t, app, () => send(app, 'PUT', '/v1/policy', { ...SAMPLE_POLICY, nodes: SAMPLE_POLICY.nodes.map((n) => n.name === 'bob' ? { ...n, properties: heavy } : n) }),
    413, 'NGAC_ERR_PROPERTIES_TOO_LARGE', 'propertiesBytes', 100, { node: 'bob' })
  t.equal((await send(app, 'POST', '/v1/nodes', node({ a: '1', b: '2', c: '3' }))).status, 201, 'three properties')
  t.equal((await send(app, 'PATCH', '/v1/nodes/n', { properties: within })).status, 200, '100 bytes')
})

t.test('limits.batchOperations: 413 NGAC_ERR_BATCH_TOO_LARGE', async (t) => {
  const app = await sample(t, { batchOperations: 3 })
  const op = (i: number) => ({ op: 'createNode', name: `n${i}`, type: 'O', parents: ['docs'] })
  await refused(t, app, () => send(app, 'POST', '/v1/batch', { operations: [op(1), op(2), op(3), op(4)] }), 413, 'NGAC_ERR_BATCH_TOO_LARGE', 'batchOperations', 3)
  t.same((await send(app, 'POST', '/v1/batch', { operations: [op(1), op(2), op(3)] })).body, { revision: 2, applied: 3 })
})

t.test('limits.checkBatch: 413 NGAC_ERR_BATCH_TOO_LARGE for checks and AuthZEN evaluations', async (t) => {
  const app = await sample(t, { checkBatch: 5 })
  const checks = (n: number) => Array.from({ length: n }, () => ({ user: 'alice', right: 'read', target: 'report' }))
  await refused(t, app, () => send(app, 'POST', '/v1/check/batch', { checks: checks(6) }), 413, 'NGAC_ERR_BATCH_TOO_LARGE', 'checkBatch', 5)
  t.equal((await send(app, 'POST', '/v1/check/batch', { checks: checks(5) })).body.results.length, 5)
  const evaluations = (n: number) => ({
    subject: { type: 'user', id: 'alice' },
    action: { name: 'read' },
    evaluations: Array.from({ length: n }, () => ({ resource: { type: 'document', id: 'report' } }))
  })
  await refused(t, app, () => send(app, 'POST', '/access/v1/evaluations', evaluations(6)), 413, 'NGAC_ERR_BATCH_TOO_LARGE', 'checkBatch', 5)
  t.equal((await send(app, 'POST', '/access/v1/evaluations', evaluations(5))).body.evaluations.length, 5)
})

t.test('limits.maxPageSize: 400 NGAC_ERR_PAGE_TOO_LARGE on every paged list', async (t) => {
  const app = await sample(t, { maxPageSize: 5, defaultPageSize: 2 })
  for (const url of ['/v1/nodes', '/v1/assignments', '/v1/associations', '/v1/prohibitions', '/v1/changes', '/v1/capabilities?user=alice', '/v1/acl?target=report']) {
    const sep = url.includes('?') ? '&' : '?'
    await refused(t, app, () => send(app, 'GET', `${url}${sep}limit=6`), 400, 'NGAC_ERR_PAGE_TOO_LARGE', 'maxPageSize', 5)
    t.equal((await send(app, 'GET', `${url}${sep}limit=5`)).status, 200, `${url}: 5 items a page`)
  }
  // AuthZEN pages are clamped to the limit instead, as its spec lets a PDP choose the page size.
  const search = await send(app, 'POST', '/access/v1/search/resource', { subject: { type: 'user', id: 'alice' }, action: { name: 'read' }, resource: { type: 'document' }, page: { limit: 6 } })
  t.equal(search.status, 200)
  t.ok(search.body.page.count <= 5)
})

// ---------------------------------------------------------------- limits of the HTTP server itself

interface Raw {
  readonly socket: Socket
  /** Everything the server sent, once it closed the connection. */
  readonly closed: Promise<string>
}

function open (port: number): Raw {
  const socket = connect(port, '127.0.0.1')
  const chunks: Buffer[] = []
  socket.on('data', (c: Buffer) => chunks.push(c))
  const closed = new Promise<string>((resolve) => {
    socket.on('error', () => {})
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')))
  })
  return { socket, closed }
}

/** The status and JSON body of the one response in `text`. */
function response (text: string): Reply {
  const end = text.indexOf('\r\n\r\n')
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]), body: JSON.parse(text.slice(end + 4)) }
}

async function listening (t: Test, limits: Record<string, unknown>): Promise<{ app: App, port: number }> {
  const app = await sample(t, limits)
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, port: (app.server.address() as { port: number }).port }
}

t.test('limits.headerBytes: 431 NGAC_ERR_HEADERS_TOO_LARGE', async (t) => {
  const { app, port } = await listening(t, { headerBytes: 2048 })
  const before = app.policy.revision
  const big = open(port)
  big.socket.write(`POST /v1/nodes HTTP/1.1\r\nhost: x\r\nx-pad: ${'p'.repeat(3000)}\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`)
  const res = response(await big.closed)
  t.equal(res.status, 431)
  t.same(res.body.details, { limit: 'headerBytes', max: 2048 })
  t.equal(res.body.code, 'NGAC_ERR_HEADERS_TOO_LARGE')
  const small = open(port)
  small.socket.end(`GET /v1/revision HTTP/1.1\r\nhost: x\r\nx-pad: ${'p'.repeat(1500)}\r\nconnection: close\r\n\r\n`)
  t.equal(response(await small.closed).status, 200, 'headers under the limit are read')
  t.equal(app.policy.revision, before)
})

t.test('limits.requestTimeoutMs: a slow client is answered 408 NGAC_ERR_REQUEST_TIMEOUT and let go', async (t) => {
  // revisionWaitMs keeps the idle-socket timeout (requestTimeoutMs + revisionWaitMs) out of the way.
  const { app, port } = await listening(t, { requestTimeoutMs: 300, revisionWaitMs: 10000 })
  const before = app.policy.revision
  for (const [what, start, drip] of [
    ['headers one byte at a time', 'POST /v1/nodes HTTP/1.1\r\nhost: x\r\n', 'x'],
    ['a body one byte at a time', 'POST /v1/nodes HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"name":"', 'n']
  ] as const) {
    const slow = open(port)
    slow.socket.write(start)
    // The client keeps sending, never enough to finish the request.
    const timer = setInterval(() => { if (slow.socket.writable) slow.socket.write(drip === 'x' ? 'x-drip: 1\r\n' : drip) }, 40)
    const text = await slow.closed
    clearInterval(timer)
    const res = response(text)
    t.equal(res.status, 408, `${what}: 408`)
    t.equal(res.body.code, 'NGAC_ERR_REQUEST_TIMEOUT')
    t.same(res.body.details, { limit: 'requestTimeoutMs', max: 300 })
  }
  t.equal(app.policy.revision, before, 'nothing was written')
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
})

t.test('limits.keepAliveMs: an idle keep-alive connection is closed by the server', async (t) => {
  const { port } = await listening(t, { keepAliveMs: 100 })
  const idle = open(port)
  idle.socket.write('GET /v1/revision HTTP/1.1\r\nhost: x\r\n\r\n')
  const text = await idle.closed
  t.match(text, /^HTTP\/1\.1 200 /, 'answered, then closed while idle')
})

t.test('malformed HTTP is 400 NGAC_ERR_MALFORMED_REQUEST with the error body, and a missing Host too', async (t) => {
  const { port } = await listening(t, {})
  for (const request of [
    'GET /v1/revision HTTP/1.1\r\nhost: x\r\nbad header: 1\r\n\r\n',
    'G E T /v1/revision HTTP/1.1\r\nhost: x\r\n\r\n',
    'POST /v1/check HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}',
    'POST /v1/check HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 2\r\n\r\n{}',
    'GET /v1/revision HTTP/1.1\r\nconnection: close\r\n\r\n'
  ]) {
    const raw = open(port)
    raw.socket.end(request)
    const res = response(await raw.closed)
    t.equal(res.status, 400, JSON.stringify(request.split('\r\n')[0]))
    t.equal(res.body.code, 'NGAC_ERR_MALFORMED_REQUEST')
  }
})
