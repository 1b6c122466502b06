// Envoy's gRPC ext_authz service spoken to as Envoy speaks to it: a real grpc-js client built from
// Envoy's official protos (the ones in @grpc/grpc-js-xds) and grpc-health-check's health proto, on
// 127.0.0.1 with an ephemeral port, against a real policy. Waits end on events (answers, stream
// data, close); deadlines only guard against a hang.
import { createRequire } from 'node:module'
import { createServer, type AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { credentials, loadPackageDefinition, type CallOptions, type Client, type ClientReadableStream, type ClientUnaryCall, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { protoPath as HEALTH_PROTO } from 'grpc-health-check'
import t, { type Test } from 'tap'
import { loadConfig, type Config } from '../../src/config.js'
import { AUTHORIZATION_SERVICE, startGrpcServer, type GrpcServer, type GrpcServerOptions } from '../../src/ext-authz/grpc-server.js'
import { ExtAuthz } from '../../src/ext-authz/mapping.js'
import { openPolicy, type Policy } from '../../src/policy.js'
import { startServer } from '../../src/server.js'

const FRONTEND = 'spiffe://example.org/ns/shop/sa/frontend'
const AUDITOR = 'spiffe://example.org/ns/shop/sa/auditor'
const STRANGER = 'spiffe://example.org/ns/other/sa/stranger'
/** Only a guard: every call is answered long before. */
const DEADLINE_MS = 30_000

/** The frontend (and alice) read and write orders; the auditor only reads them. */
const POLICY = {
  resourceRights: ['read', 'write'],
  nodes: [
    { name: 'shop', type: 'PC' },
    { name: 'frontends', type: 'UA' },
    { name: 'auditors', type: 'UA' },
    { name: FRONTEND, type: 'U' },
    { name: AUDITOR, type: 'U' },
    { name: 'alice', type: 'U' },
    { name: 'orders', type: 'OA' },
    { name: 'order:42', type: 'O' },
    { name: 'order:43', type: 'O' }
  ],
  assignments: [
    ['frontends', 'shop'], ['auditors', 'shop'], [FRONTEND, 'frontends'], [AUDITOR, 'auditors'], ['alice', 'frontends'],
    ['orders', 'shop'], ['order:42', 'orders'], ['order:43', 'orders']
  ],
  associations: [
    { ua: 'frontends', target: 'orders', rights: ['read', 'write'] },
    { ua: 'auditors', target: 'orders', rights: ['read'] }
  ],
  prohibitions: []
}

const EXT_AUTHZ = {
  identity: [{ type: 'xfcc' }, { type: 'principal' }, { type: 'jwt', header: 'x-jwt-payload', claim: 'sub' }],
  routes: [{ path: '/orders/:id', object: 'order:{id}' }],
  unknownObject: 'deny'
}

// What the client reads: proto-loader objects without defaults (an absent field is undefined).
interface HeaderValueOption { header: { key: string, value: string }, append_action?: string }
interface CheckResponse {
  status?: { code?: number, message?: string }
  ok_response?: { headers?: HeaderValueOption[] }
  denied_response?: { status?: { code?: string }, headers?: HeaderValueOption[], body?: string }
  http_response?: string
}
type Callback<T> = (err: ServiceError | null, value?: T) => void
interface AuthorizationClient extends Client {
  Check (request: object, options: CallOptions, callback: Callback<CheckResponse>): ClientUnaryCall
}
interface HealthClient extends Client {
  Check (request: { service: string }, options: CallOptions, callback: Callback<{ status: string }>): ClientUnaryCall
  Watch (request: { service: string }, options: CallOptions): ClientReadableStream<{ status: string }>
}

const require = createRequire(import.meta.url)
const PROTO_DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps')
const LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true }
const envoy = loadPackageDefinition(loadSync('envoy/service/auth/v3/external_auth.proto', {
  ...LOADER_OPTIONS,
  includeDirs: ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((dir) => join(PROTO_DEPS, dir))
})) as unknown as { envoy: { service: { auth: { v3: { Authorization: ServiceClientConstructor } } } } }
const health = loadPackageDefinition(loadSync(HEALTH_PROTO, LOADER_OPTIONS)) as unknown as
  { grpc: { health: { v1: { Health: ServiceClientConstructor } } } }

function config (): Config {
  return loadConfig({ document: { db: ':memory:', logLevel: 'silent', extAuthz: EXT_AUTHZ } })
}

function policy (t: Test): Policy {
  const p = openPolicy({ db: ':memory:', policy: POLICY })
  t.teardown(() => { p.close() })
  return p
}

/** A server on an ephemeral port with its own ExtAuthz over `p`; closed at teardown. */
async function serve (t: Test, p: Policy, options: Partial<GrpcServerOptions> = {}): Promise<GrpcServer> {
  const server = await startGrpcServer({ extAuthz: new ExtAuthz(p, config().extAuthz), host: '127.0.0.1', port: 0, ...options })
  t.teardown(() => server.close())
  return server
}

function authorizationClient (t: Test, port: number): AuthorizationClient {
  const client = new envoy.envoy.service.auth.v3.Authorization(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as AuthorizationClient
  t.teardown(() => { client.close() })
  return client
}

function healthClient (t: Test, port: number): HealthClient {
  const client = new health.grpc.health.v1.Health(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as HealthClient
  t.teardown(() => { client.close() })
  return client
}

function deadline (): CallOptions {
  return { deadline: Date.now() + DEADLINE_MS }
}

async function check (client: AuthorizationClient, request: object): Promise<CheckResponse> {
  return new Promise((resolve, reject) => {
    client.Check(request, deadline(), (err, res) => { if (err === null && res !== undefined) resolve(res); else reject(err) })
  })
}

/** The rejection of a call that must fail. */
async function failure (client: AuthorizationClient, request: object): Promise<ServiceError> {
  return check(client, request).then(() => { throw new Error('the call succeeded') }, (err: ServiceError) => err)
}

async function healthCheck (client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) => {
    client.Check({ service }, deadline(), (err, res) => { if (err === null && res !== undefined) resolve(res.status); else reject(err) })
  })
}

/** A CheckRequest as Envoy builds it for an HTTP request. */
function request (method: string, path: string, options: { principal?: string, headers?: Record<string, string>, extensions?: Record<string, string>, id?: string } = {}): object {
  return {
    attributes: {
      ...(options.principal === undefined ? {} : { source: { principal: options.principal } }),
      request: { http: { id: options.id ?? '1234', method, path, host: 'shop.example.org', scheme: 'http', protocol: 'HTTP/1.1', headers: { ':method': method, ':path': path, ...options.headers } } },
      ...(options.extensions === undefined ? {} : { context_extensions: options.extensions })
    }
  }
}

/** The headers of an ok_response as name -> [value, append_action]. */
function okHeaders (res: CheckResponse): Record<string, [string, string | undefined]> {
  return Object.fromEntries((res.ok_response?.headers ?? []).map((h) => [h.header.key, [h.header.value, h.append_action]]))
}

/** Asserts an allow for `user`; returns the ok_response headers. */
function assertAllowed (t: Test, res: CheckResponse, user: string, what = 'allowed'): Record<string, [string, string | undefined]> {
  t.equal(res.status?.code ?? -1, 0, `${what}: status OK`)
  t.equal(res.http_response, 'ok_response')
  t.equal(res.denied_response, undefined)
  const headers = okHeaders(res)
  t.same(headers['x-ngac-user'], [user, 'OVERWRITE_IF_EXISTS_OR_ADD'], `${what}: x-ngac-user`)
  return headers
}

/** Asserts a deny with `httpStatus` and `reason`; returns the parsed body. */
function assertDenied (t: Test, res: CheckResponse, httpStatus: 'Forbidden' | 'Unauthorized', reason: string): Record<string, unknown> {
  t.equal(res.status?.code, httpStatus === 'Forbidden' ? 7 : 16, httpStatus === 'Forbidden' ? 'PERMISSION_DENIED' : 'UNAUTHENTICATED')
  t.equal(res.http_response, 'denied_response')
  t.equal(res.ok_response, undefined)
  t.equal(res.denied_response?.status?.code, httpStatus)
  t.same(res.denied_response?.headers, [{ header: { key: 'content-type', value: 'application/json' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }])
  const body = JSON.parse(res.denied_response?.body ?? '') as Record<string, unknown>
  t.equal(body.allowed, false)
  t.equal(body.reason, reason)
  t.type(body.decisionId, 'string')
  return body
}

function payload (claims: object): string {
  return Buffer.from(JSON.stringify(claims)).toString('base64url')
}

async function freePort (): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}

t.test('Check: allows and denies with the policy, and answers every deny as Envoy expects', async (t) => {
  const p = policy(t)
  const counted: boolean[] = []
  const server = await serve(t, p, { metrics: { decision: (allowed) => { counted.push(allowed) } } })
  t.ok(server.port > 0, `an ephemeral port: ${server.port}`)
  const client = authorizationClient(t, server.port)

  t.test('allow via source.principal: status OK and the x-ngac-* headers overwrite what the client sent', async (t) => {
    const res = await check(client, request('GET', '/orders/42?expand=items', { principal: FRONTEND, headers: { 'x-ngac-user': 'root' } }))
    const headers = assertAllowed(t, res, FRONTEND)
    t.same(headers['x-ngac-revision'], [String(p.revision), 'OVERWRITE_IF_EXISTS_OR_ADD'])
    t.match(headers['x-ngac-decision-id'], [/\S/, 'OVERWRITE_IF_EXISTS_OR_ADD'])
    t.same(Object.keys(headers).sort(), ['x-ngac-decision-id', 'x-ngac-revision', 'x-ngac-user'])
  })

  t.test('deny: PERMISSION_DENIED and a 403 with a JSON reason', async (t) => {
    assertDenied(t, await check(client, request('POST', '/orders/42', { principal: AUDITOR })), 'Forbidden', 'denied')
    assertAllowed(t, await check(client, request('GET', '/orders/42', { principal: AUDITOR })), AUDITOR)
  })

  t.test('no identity: UNAUTHENTICATED and a 401', async (t) => {
    assertDenied(t, await check(client, request('GET', '/orders/42')), 'Unauthorized', 'no identity')
    assertDenied(t, await check(client, request('GET', '/orders/42', { principal: '' })), 'Unauthorized', 'no identity')
  })

  t.test('identity from XFCC in the headers map: only the last element, and before the principal', async (t) => {
    const xfcc = `By=spiffe://example.org/ns/shop/sa/orders;Hash=abc;URI=${FRONTEND},By=spiffe://example.org/ns/shop/sa/orders;URI=${AUDITOR}`
    assertAllowed(t, await check(client, request('GET', '/orders/42', { headers: { 'x-forwarded-client-cert': xfcc } })), AUDITOR)
    assertDenied(t, await check(client, request('PUT', '/orders/42', { headers: { 'x-forwarded-client-cert': xfcc } })), 'Forbidden', 'denied')
    assertAllowed(t, await check(client, request('GET', '/orders/42', { principal: FRONTEND, headers: { 'x-forwarded-client-cert': xfcc } })), AUDITOR,
      'XFCC comes first in the configured order')
    assertAllowed(t, await check(client, request('GET', '/orders/42', { headers: { 'X-Forwarded-Client-Cert': `URI=${FRONTEND}` } })), FRONTEND,
      'header names are compared in lower case')
  })

  t.test('identity from header_map (encode_raw_headers), values as bytes', async (t) => {
    const res = await check(client, {
      attributes: {
        request: {
          http: {
            method: 'PATCH',
            path: '/orders/43',
            header_map: {
              headers: [
                { key: ':method', raw_value: Buffer.from('PATCH') },
                { key: 'x-forwarded-client-cert', raw_value: Buffer.from(`URI=${AUDITOR}`) },
                { key: 'X-Forwarded-Client-Cert', raw_value: Buffer.from(`URI=${FRONTEND}`) }
              ]
            }
          }
        }
      }
    })
    assertAllowed(t, res, FRONTEND)
  })

  t.test('identity from the jwt_authn payload header', async (t) => {
    assertAllowed(t, await check(client, request('POST', '/orders/43', { headers: { 'x-jwt-payload': payload({ sub: 'alice', iss: 'idp' }) } })), 'alice')
    assertDenied(t, await check(client, request('GET', '/orders/43', { headers: { 'x-jwt-payload': 'not%json' } })), 'Unauthorized', 'no identity')
  })

  t.test('context_extensions name the object and the right', async (t) => {
    assertAllowed(t, await check(client, request('GET', '/anything', { principal: AUDITOR, extensions: { object: 'order:43', right: 'read' } })), AUDITOR)
    assertDenied(t, await check(client, request('GET', '/anything', { principal: AUDITOR, extensions: { object: 'order:43', right: 'write' } })), 'Forbidden', 'denied')
    assertDenied(t, await check(client, request('GET', '/orders/42', { principal: AUDITOR, extensions: { right: 'write' } })), 'Forbidden', 'denied')
    assertAllowed(t, await check(client, request('DELETE', '/orders/42', { principal: FRONTEND, extensions: { right: 'write' } })), FRONTEND)
    assertDenied(t, await check(client, request('GET', '/anything', { principal: FRONTEND, extensions: { object: 'order:43', right: 'fly' } })), 'Forbidden', 'denied')
  })

  t.test('whatever cannot be mapped or is unknown is a deny', async (t) => {
    const cases: [string, object, string][] = [
      ['unknown user', request('GET', '/orders/42', { principal: STRANGER }), 'denied'],
      ['unknown object', request('GET', '/orders/999', { principal: FRONTEND }), 'denied'],
      ['no route (unknownObject deny)', request('GET', '/products/1', { principal: FRONTEND }), 'no route'],
      ['unknown method', request('BREW', '/orders/42', { principal: FRONTEND }), 'unknown method'],
      ['dot segments', request('GET', '/a/../b', { principal: FRONTEND }), 'malformed path'],
      ['encoded dot segments', request('GET', '/orders/%2e%2e/42', { principal: FRONTEND }), 'malformed path'],
      ['malformed escape', request('GET', '/orders/%zz', { principal: FRONTEND }), 'malformed path'],
      ['no path', { attributes: { source: { principal: FRONTEND }, request: { http: { method: 'GET' } } } }, 'malformed path'],
      ['no request attributes', { attributes: { source: { principal: FRONTEND } } }, 'malformed path']
    ]
    for (const [what, req, reason] of cases) {
      t.test(what, async (t) => { assertDenied(t, await check(client, req), 'Forbidden', reason) })
    }
  })

  t.test('an empty CheckRequest, or one with empty attributes, is a deny, not a crash', async (t) => {
    assertDenied(t, await check(client, {}), 'Unauthorized', 'no identity')
    assertDenied(t, await check(client, { attributes: {} }), 'Unauthorized', 'no identity')
    assertAllowed(t, await check(client, request('GET', '/orders/42', { principal: FRONTEND })), FRONTEND, 'the server answers on')
  })

  t.test('every decision was counted', async (t) => {
    t.ok(counted.length > 20)
    t.ok(counted.includes(true) && counted.includes(false))
  })
})

t.test('the decision log carries the request id: x-request-id, else Envoy\'s id', async (t) => {
  const p = policy(t)
  const lines: Record<string, unknown>[] = []
  const log = { info: (obj: object) => { lines.push(obj as Record<string, unknown>) } }
  const server = await startGrpcServer({ extAuthz: new ExtAuthz(p, config().extAuthz, { log }), port: 0 })
  t.teardown(() => server.close())
  const client = authorizationClient(t, server.port)
  await check(client, request('GET', '/orders/42', { principal: FRONTEND, id: 'envoy-1', headers: { 'x-request-id': 'req-1' } }))
  await check(client, request('GET', '/orders/42', { principal: AUDITOR, id: 'envoy-2' }))
  // The log is written on the turn of the event loop after the decision, long before an answer arrives.
  await new Promise((resolve) => setImmediate(resolve))
  t.match(lines, [
    { requestId: 'req-1', user: FRONTEND, method: 'GET', path: '/orders/42', right: 'read', object: 'order:42', allowed: true, reason: 'allowed' },
    { requestId: 'envoy-2', user: AUDITOR, allowed: true }
  ])
})

t.test('a fault of the PDP is a deny (status INTERNAL, a 503), never an allow', async (t) => {
  const p = openPolicy({ db: ':memory:', policy: POLICY })
  const errors: object[] = []
  const server = await serve(t, p, { log: { error: (obj: object) => { errors.push(obj) } } })
  const client = authorizationClient(t, server.port)
  assertAllowed(t, await check(client, request('GET', '/orders/42', { principal: FRONTEND })), FRONTEND)
  p.close()
  const res = await check(client, request('GET', '/orders/42', { principal: FRONTEND }))
  t.equal(res.status?.code, 13, 'INTERNAL')
  t.equal(res.http_response, 'denied_response')
  t.equal(res.denied_response?.status?.code, 'ServiceUnavailable')
  t.same(JSON.parse(res.denied_response?.body ?? ''), { allowed: false, reason: 'pdp error' })
  t.match(errors, [{ err: { code: 'NGAC_ERR_STORE_CLOSED' } }], 'the fault is logged')
})

t.test('health: SERVING for the server and the Authorization service; closing tells watchers NOT_SERVING', async (t) => {
  const server = await serve(t, policy(t))
  const client = healthClient(t, server.port)
  t.equal(await healthCheck(client, ''), 'SERVING')
  t.equal(await healthCheck(client, AUTHORIZATION_SERVICE), 'SERVING')
  await t.rejects(healthCheck(client, 'some.other.Service'), { code: 5 }, 'NOT_FOUND for a service it does not serve')

  const watch = client.Watch({ service: AUTHORIZATION_SERVICE }, deadline())
  const seen: string[] = []
  const ended = new Promise<void>((resolve, reject) => {
    watch.on('data', (message: { status: string }) => {
      seen.push(message.status)
      if (seen.length === 1) void server.close()
    })
    watch.on('error', reject)
    watch.on('end', () => resolve())
  })
  await ended
  t.same(seen, ['SERVING', 'NOT_SERVING'], 'the watch saw SERVING, then NOT_SERVING, then ended')
  await server.close()
  t.equal(server.close(), server.close(), 'close is idempotent')

  const check = authorizationClient(t, server.port)
  t.equal((await failure(check, request('GET', '/orders/42', { principal: FRONTEND }))).code, 14, 'closed: UNAVAILABLE')
  await t.rejects(healthCheck(client, ''), { code: 14 }, 'the health service is gone too')
})

t.test('a port in use is NGAC_ERR_CONFIG naming it', async (t) => {
  const first = await serve(t, policy(t))
  await t.rejects(startGrpcServer({ extAuthz: new ExtAuthz(policy(t), config().extAuthz), port: first.port }), {
    code: 'NGAC_ERR_CONFIG',
    message: new RegExp(`127\\.0\\.0\\.1:${first.port}.*--grpc-port`)
  })
})

t.test('startServer serves Check on grpc.port, shares its ExtAuthz with HTTP, and closes both', async (t) => {
  const grpcPort = await freePort()
  const app = await startServer(loadConfig({ document: { db: ':memory:', logLevel: 'silent', port: 0, grpc: { port: grpcPort }, extAuthz: EXT_AUTHZ } }))
  let open = true
  t.teardown(async () => { if (open) await app.close() })
  app.policy.replace(POLICY)

  const http = await app.inject({ method: 'GET', url: '/ext_authz/orders/42', headers: { 'x-forwarded-client-cert': `URI=${FRONTEND}` } })
  t.equal(http.statusCode, 200)
  const client = authorizationClient(t, grpcPort)
  const headers = assertAllowed(t, await check(client, request('GET', '/orders/42', { principal: FRONTEND })), FRONTEND)
  const [httpPrefix, httpSequence] = String(http.headers['x-ngac-decision-id']).split('-')
  const [grpcPrefix, grpcSequence] = (headers['x-ngac-decision-id']?.[0] ?? '').split('-')
  t.equal(grpcPrefix, httpPrefix, 'one ExtAuthz: the same decision id prefix')
  t.equal(parseInt(grpcSequence ?? '', 36), parseInt(httpSequence ?? '', 36) + 1, 'and one sequence')
  t.equal(await healthCheck(healthClient(t, grpcPort), ''), 'SERVING')

  await app.close()
  open = false
  t.equal((await failure(client, request('GET', '/orders/42', { principal: FRONTEND }))).code, 14, 'closing the app closed gRPC: UNAVAILABLE')
})

t.test('startServer with the gRPC port taken closes the HTTP side and throws NGAC_ERR_CONFIG naming the port', async (t) => {
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())))
  const { port } = blocker.address() as AddressInfo
  const httpPort = await freePort()
  await t.rejects(startServer(loadConfig({ document: { db: ':memory:', logLevel: 'silent', port: httpPort, grpc: { port } } })), {
    code: 'NGAC_ERR_CONFIG',
    message: new RegExp(`:${port}\\b`)
  })
  const reuse = createServer()
  await new Promise<void>((resolve, reject) => {
    reuse.once('error', reject)
    reuse.listen(httpPort, '127.0.0.1', resolve)
  })
  await new Promise<void>((resolve) => reuse.close(() => resolve()))
  t.pass(`the HTTP port ${httpPort} was released`)
})
