// The HTTP ext_authz route, spoken to as Envoy, nginx and Caddy speak to it: raw HTTP/1.1
// requests on a real socket, with the original request's Host, the path prefix, XFCC and the
// proxies' X-Original-* / X-Forwarded-* headers.
import { connect } from 'node:net'
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import { build } from './helper.js'

const FRONTEND = 'spiffe://example.org/ns/shop/sa/frontend'
const ADMIN = 'spiffe://example.org/ns/ops/sa/admin'

const POLICY = {
  resourceRights: ['read', 'write'], // delete is an admin right: it needs no declaration
  nodes: [
    { name: 'mesh', type: 'PC' },
    { name: 'shop-services', type: 'UA' },
    { name: 'ops-services', type: 'UA' },
    { name: FRONTEND, type: 'U' },
    { name: ADMIN, type: 'U' },
    { name: 'José', type: 'U' },
    { name: 'orders', type: 'OA' },
    { name: 'order:42', type: 'O' },
    { name: 'order:a/b', type: 'O' },
    { name: 'static', type: 'OA' },
    { name: '/health', type: 'O' },
    { name: 'file:css/site.css', type: 'O' }
  ],
  assignments: [
    ['shop-services', 'mesh'], ['ops-services', 'mesh'], [FRONTEND, 'shop-services'], [ADMIN, 'ops-services'], ['José', 'shop-services'],
    ['orders', 'mesh'], ['order:42', 'orders'], ['order:a/b', 'orders'], ['static', 'mesh'], ['/health', 'static'], ['file:css/site.css', 'static']
  ],
  associations: [
    { ua: 'shop-services', target: 'orders', rights: ['read', 'write'] },
    { ua: 'shop-services', target: 'static', rights: ['read'] },
    { ua: 'ops-services', target: 'orders', rights: ['read', 'write', 'delete'] }
  ],
  prohibitions: []
}

const EXT_AUTHZ = {
  identity: [{ type: 'xfcc' }, { type: 'header', header: 'x-user' }],
  routes: [
    { path: '/orders/:id', object: 'order:{id}' },
    { path: '/orders/:id/cancel', object: 'order:{id}', right: 'delete' },
    { path: '/static/*', object: 'file:{*}' }
  ]
}

interface RawResponse { status: number, headers: Record<string, string>, body: string }

/** Sends `request` (CRLF line ends added) on a fresh connection and reads the whole response. */
async function raw (port: number, lines: string[], body = ''): Promise<RawResponse> {
  const text = lines.join('\r\n') + '\r\nconnection: close\r\n\r\n' + body
  const data = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(text))
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    socket.on('error', reject)
  })
  const split = data.indexOf('\r\n\r\n')
  const head = data.slice(0, split).split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { status: Number(head[0].split(' ')[1]), headers, body: data.slice(split + 4) }
}

/** An Envoy-shaped check of `method path` for the client certificate `spiffe`. */
function envoy (method: string, path: string, spiffe?: string, extra: string[] = []): string[] {
  return [
    `${method} /ext_authz${path} HTTP/1.1`,
    'host: shop.example.com',
    'x-request-id: 9c1d2c2e-0000-4000-8000-000000000001',
    'x-envoy-expected-rq-timeout-ms: 200',
    ...(spiffe === undefined ? [] : [`x-forwarded-client-cert: By=spiffe://example.org/ns/shop/sa/orders;Hash=abc123;Subject="CN=frontend,OU=shop";URI=${spiffe}`]),
    ...extra,
    'content-length: 0'
  ]
}

async function serve (t: Test, extAuthz: Record<string, unknown> = EXT_AUTHZ, logger?: { level: string, stream: Writable }): Promise<{ app: App, port: number }> {
  const app = await build(t, { extAuthz }, logger === undefined ? {} : { logger })
  app.policy.replace(POLICY)
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, port: (app.server.address() as { port: number }).port }
}

t.test('Envoy HTTP ext_authz: allow is exactly 200 with the x-ngac-* headers and no body', async (t) => {
  const { app, port } = await serve(t)
  const res = await raw(port, envoy('GET', '/orders/42?expand=items', FRONTEND))
  t.equal(res.status, 200)
  t.equal(res.headers['x-ngac-user'], FRONTEND)
  t.equal(res.headers['x-ngac-revision'], String(app.policy.revision))
  t.match(res.headers['x-ngac-decision-id'], /^[\w-]+-[0-9a-z]+$/)
  t.equal(res.body, '')
  const head = await raw(port, envoy('HEAD', '/orders/42', FRONTEND))
  t.equal(head.status, 200, 'HEAD maps to read')
  const other = await raw(port, envoy('GET', '/orders/42', FRONTEND))
  t.not(other.headers['x-ngac-decision-id'], res.headers['x-ngac-decision-id'], 'each decision has its own id')
})

t.test('deny is 403 with a small JSON reason; no identity is 401', async (t) => {
  const { port } = await serve(t)
  const deny = await raw(port, envoy('DELETE', '/orders/42', FRONTEND))
  t.equal(deny.status, 403)
  t.match(deny.headers['content-type'], /^application\/json/)
  const body = JSON.parse(deny.body) as Record<string, unknown>
  t.same(Object.keys(body).sort(), ['allowed', 'decisionId', 'reason'])
  t.match(body, { allowed: false, reason: 'denied' })
  t.equal(deny.headers['x-ngac-user'], undefined, 'no identity header on a deny')
  const none = await raw(port, envoy('GET', '/orders/42'))
  t.equal(none.status, 401)
  t.match(JSON.parse(none.body), { allowed: false, reason: 'no identity' })
})

t.test('only the last XFCC element, the one the nearest proxy added, is trusted', async (t) => {
  const { port } = await serve(t)
  // A client that got its own XFCC element through claims the admin's identity first.
  const res = await raw(port, envoy('DELETE', '/orders/42', undefined, [
    `x-forwarded-client-cert: By=spiffe://example.org/ns/edge/sa/gw;URI=${ADMIN},By=spiffe://example.org/ns/shop/sa/orders;URI=${FRONTEND}`
  ]))
  t.equal(res.status, 403, 'decided for the frontend, which may not delete')
  const admin = await raw(port, envoy('DELETE', '/orders/42', ADMIN))
  t.equal(admin.status, 200)
  t.equal(admin.headers['x-ngac-user'], ADMIN)
})

t.test('route templates, per-route rights, the path fallback and unknown names', async (t) => {
  const { port } = await serve(t)
  const cases: [string, string, string | undefined, number][] = [
    ['POST', '/orders/42', FRONTEND, 200],
    ['POST', '/orders/42/cancel', FRONTEND, 403], // the route asks for delete
    ['POST', '/orders/42/cancel', ADMIN, 200],
    ['GET', '/orders/a%2Fb', FRONTEND, 200], // an encoded slash inside a parameter
    ['GET', '/static/css/site.css', FRONTEND, 200],
    ['GET', '/static/css/other.css', FRONTEND, 403], // unknown object
    ['GET', '/health', FRONTEND, 200], // no route: the path itself
    ['GET', '/health/', FRONTEND, 200], // a trailing slash is ignored
    ['GET', '/orders/43', FRONTEND, 403],
    ['GET', '/orders/42', 'spiffe://example.org/ns/shop/sa/unknown', 403], // unknown user
    ['OPTIONS', '/orders/42', FRONTEND, 403], // a method with no right
    ['PROPFIND', '/orders/42', FRONTEND, 403]
  ]
  for (const [method, path, user, status] of cases) {
    const res = await raw(port, envoy(method, path, user))
    t.equal(res.status, status, `${method} ${path} as ${user ?? 'nobody'}`)
  }
  const unknownMethod = await raw(port, envoy('OPTIONS', '/orders/42', FRONTEND))
  t.match(JSON.parse(unknownMethod.body), { reason: 'unknown method' })
})

t.test('unknownObject deny: a path no route matches is refused without a lookup', async (t) => {
  const { port } = await serve(t, { ...EXT_AUTHZ, unknownObject: 'deny' })
  const res = await raw(port, envoy('GET', '/health', FRONTEND))
  t.equal(res.status, 403)
  t.match(JSON.parse(res.body), { reason: 'no route' })
  t.equal((await raw(port, envoy('GET', '/orders/42', FRONTEND))).status, 200)
})

t.test('nothing a client sends makes it answer other than 200, 401 or 403', async (t) => {
  const { port } = await serve(t)
  const cases: [string, string[], string, number, string?][] = [
    ['malformed escape in the path', envoy('GET', '/orders/%zz', FRONTEND), '', 403, 'malformed path'],
    ['dot segments', envoy('GET', '/static/../orders/42', FRONTEND), '', 403, 'malformed path'],
    ['encoded dot segments', envoy('GET', '/static/%2e%2e/orders/42', FRONTEND), '', 403, 'malformed path'],
    ['encoded slash on the path fallback', envoy('GET', '/he%2Falth', FRONTEND), '', 403, 'malformed path'],
    ['malformed escape in the query string', envoy('GET', '/orders/42?q=%zz', FRONTEND), '', 200],
    ['a forwarded JSON body that is not JSON', [...envoy('POST', '/orders/42', FRONTEND).slice(0, -1), 'content-type: application/json', 'content-length: 9'], '{not json', 200],
    ['a forwarded body of any type', [...envoy('POST', '/orders/42', FRONTEND).slice(0, -1), 'content-type: application/x-unknown', 'content-length: 3'], 'abc', 200],
    ['a body without a content type', [...envoy('POST', '/orders/42', FRONTEND).slice(0, -1), 'content-length: 3'], 'abc', 200],
    // Found by test/api/fuzz.test.ts: fastify refused an empty Content-Type with a 415 before the route.
    ['an empty content type', [...envoy('POST', '/orders/42', FRONTEND).slice(0, -1), 'content-type: ', 'content-length: 3'], 'abc', 200],
    ['an empty content type and no identity', [...envoy('POST', '/orders/42').slice(0, -1), 'content-type:', 'content-length: 0'], '', 401],
    ['an empty XFCC', envoy('GET', '/orders/42', undefined, ['x-forwarded-client-cert: ']), '', 401],
    ['an XFCC without a SPIFFE URI', envoy('GET', '/orders/42', undefined, ['x-forwarded-client-cert: By=x;URI=https://example.org/']), '', 401]
  ]
  for (const [what, lines, body, status, reason] of cases) {
    const res = await raw(port, lines, body)
    t.equal(res.status, status, what)
    if (reason !== undefined) t.match(JSON.parse(res.body), { reason }, `${what}: the reason`)
  }
})

t.test('nginx auth_request and Caddy forward_auth: the original request in headers', async (t) => {
  const { port } = await serve(t)
  const nginx = (uri: string, method: string, user: string): string[] => [
    'GET /ext_authz HTTP/1.1', 'host: 127.0.0.1', `x-original-uri: ${uri}`, `x-original-method: ${method}`, `x-user: ${user}`]
  t.equal((await raw(port, nginx('/orders/42?x=1', 'GET', FRONTEND))).status, 200)
  t.equal((await raw(port, nginx('/orders/42', 'DELETE', FRONTEND))).status, 403, 'the original method, not the subrequest\'s')
  const caddy = (uri: string, method: string, user: string): string[] => [
    'GET /ext_authz/ HTTP/1.1', 'host: 127.0.0.1', `x-forwarded-uri: ${uri}`, `x-forwarded-method: ${method}`, 'x-forwarded-host: shop.example.com', `x-user: ${user}`]
  t.equal((await raw(port, caddy('/orders/42', 'PUT', FRONTEND))).status, 200)
  t.equal((await raw(port, caddy('/orders/42', 'DELETE', FRONTEND))).status, 403)
  t.equal((await raw(port, caddy('/orders/42', 'DELETE', ADMIN))).status, 200)
  // A client's own copy of the other proxy's headers, passed on: the descriptions disagree.
  const smuggled: [string, string[]][] = [
    ['a client X-Original-URI through Caddy', [...caddy('/orders/42', 'DELETE', FRONTEND), 'x-original-uri: /static/css/site.css']],
    ['a client X-Forwarded-Method through nginx', [...nginx('/orders/42', 'DELETE', FRONTEND), 'x-forwarded-method: GET']],
    ['a client X-Original-URI through Envoy', envoy('DELETE', '/orders/42', FRONTEND, ['x-original-uri: /orders/42/x'])]
  ]
  for (const [what, lines] of smuggled) {
    const res = await raw(port, lines)
    t.equal(res.status, 403, what)
    t.match(JSON.parse(res.body), { reason: 'ambiguous request' }, what)
  }
  t.equal((await raw(port, [...nginx('/orders/42', 'GET', FRONTEND), 'x-forwarded-uri: /orders/42'])).status, 200, 'descriptions that agree are fine')
  t.equal((await raw(port, envoy('GET', '/orders/42', FRONTEND, ['x-original-uri: /orders/42']))).status, 200)
})

t.test('identity from a JWT payload Envoy forwarded; a name not plain ASCII is percent-encoded', async (t) => {
  const { port } = await serve(t, { ...EXT_AUTHZ, identity: [{ type: 'xfcc' }, { type: 'jwt', header: 'x-jwt-payload', claim: 'sub' }] })
  const payload = (claims: unknown): string => Buffer.from(JSON.stringify(claims)).toString('base64url')
  const check = (claims: unknown): Promise<RawResponse> => raw(port, ['GET /ext_authz/orders/42 HTTP/1.1', 'host: a', `x-jwt-payload: ${payload(claims)}`])
  const res = await check({ sub: 'José', iss: 'https://idp.example.com' })
  t.equal(res.status, 200)
  t.equal(res.headers['x-ngac-user'], 'Jos%C3%A9')
  t.equal((await check({ sub: 42 })).status, 401, 'a claim that is not a string is no identity')
  t.equal((await raw(port, ['GET /ext_authz/orders/42 HTTP/1.1', 'host: a', 'x-jwt-payload: %%%'])).status, 401, 'nor is a payload that is not base64url JSON')
  t.equal((await raw(port, ['GET /ext_authz/orders/42 HTTP/1.1', 'host: a', 'x-user: José'])).status, 401, 'a plain header is trusted only when configured')
})

t.test('a write shows in the next decision, with its revision', async (t) => {
  const { app, port } = await serve(t)
  t.equal((await raw(port, envoy('DELETE', '/orders/42', FRONTEND))).status, 403)
  const { revision } = app.policy.apply([{ op: 'associate', ua: 'shop-services', target: 'orders', rights: ['read', 'write', 'delete'] }])
  const res = await raw(port, envoy('DELETE', '/orders/42', FRONTEND))
  t.equal(res.status, 200)
  t.equal(res.headers['x-ngac-revision'], String(revision))
})

t.test('a fault of the PDP is a 5xx, never an allow', async (t) => {
  const { app, port } = await serve(t)
  app.policy.close()
  const res = await raw(port, envoy('GET', '/orders/42', FRONTEND))
  t.ok(res.status >= 500, `answered ${res.status}`)
  t.equal(res.headers['x-ngac-user'], undefined)
})

t.test('one decision log line per decision, without the query string; sampled by config', async (t) => {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    }
  })
  const { app, port } = await serve(t, EXT_AUTHZ, { level: 'info', stream })
  await raw(port, envoy('GET', '/orders/42?token=secret-value', FRONTEND))
  await raw(port, envoy('DELETE', '/orders/42', FRONTEND, ['x-request-id: del-1']).filter((l) => !l.startsWith('x-request-id: 9c')))
  await new Promise((resolve) => setImmediate(resolve))
  const decisions = lines.filter((l) => l.msg === 'decision')
  t.equal(decisions.length, 2)
  t.match(decisions[0], { user: FRONTEND, method: 'GET', path: '/orders/42', right: 'read', object: 'order:42', allowed: true, reason: 'allowed', revision: app.policy.revision, requestId: '9c1d2c2e-0000-4000-8000-000000000001' })
  t.type(decisions[0].latencyMs, 'number')
  t.type(decisions[0].decisionId, 'string')
  t.match(decisions[1], { allowed: false, reason: 'denied', right: 'delete', requestId: 'del-1' })
  t.notOk(JSON.stringify(lines).includes('secret-value'), 'the query string is not logged')
  t.equal(lines.filter((l) => l.msg === 'request').length, 0, 'the decision line replaces the request line')

  const quiet: Record<string, unknown>[] = []
  const quietStream = new Writable({ write (chunk: Buffer, _e, done) { quiet.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done() } })
  const off = await serve(t, { ...EXT_AUTHZ, decisionLog: { sample: 0 } }, { level: 'info', stream: quietStream })
  t.equal((await raw(off.port, envoy('GET', '/orders/42', FRONTEND))).status, 200)
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(quiet.filter((l) => l.msg === 'decision').length, 0, 'sample 0 logs no decisions')
})

t.test('decisions are counted in /metrics', async (t) => {
  const { app, port } = await serve(t)
  await raw(port, envoy('GET', '/orders/42', FRONTEND))
  await raw(port, envoy('DELETE', '/orders/42', FRONTEND))
  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  t.match(metrics.body, /ngac_decisions_total\{allowed="true"\} 1/)
  t.match(metrics.body, /ngac_decisions_total\{allowed="false"\} 1/)
})

t.test('a route template that cannot be compiled is a config error', async (t) => {
  await t.rejects(build(t, { extAuthz: { routes: [{ path: '/orders/:id', object: 'order:{oid}' }] } }), { code: 'NGAC_ERR_CONFIG' })
  await t.rejects(build(t, { extAuthz: { routes: [{ path: '/a/*/b', object: 'x' }] } }), { code: 'NGAC_ERR_CONFIG' })
})
