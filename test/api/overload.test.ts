// Load shedding (src/api/overload.ts): under pressure, administration and review requests answer
// 503 NGAC_ERR_OVERLOADED with Retry-After, while decisions, probes and metrics still answer.
// The pressure is the app's overload signal, a flag the test sets (no timing, no busy loop), and
// a heap limit below any heap.
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { SustainedOver } from '../../src/api/overload.js'
import { ERROR_BODY_KEYS, SAMPLE_POLICY, build } from './helper.js'

const EXT_AUTHZ = { identity: [{ type: 'header', header: 'x-user' }], routes: [{ path: '/r/:id', object: '{id}' }] }
const JSON_HEADERS = { 'content-type': 'application/json' }

/** Waits until the app's shedding state is `pressed` (under-pressure reads its checks on timers). */
async function until (t: Test, app: App, pressed: boolean): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (app.isUnderPressure() === pressed) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  t.fail(`the app never became ${pressed ? 'overloaded' : 'normal'}`)
}

async function shedding (t: Test, app: App, retryAfter: string): Promise<void> {
  const requests = [
    { method: 'POST' as const, url: '/v1/nodes', payload: { name: 'shed', type: 'O', parents: ['docs'] } },
    { method: 'POST' as const, url: '/v1/batch', payload: { operations: [{ op: 'createNode', name: 'shed', type: 'O', parents: ['docs'] }] } },
    { method: 'GET' as const, url: '/v1/nodes' },
    { method: 'GET' as const, url: '/v1/policy' },
    { method: 'GET' as const, url: '/v1/capabilities?user=alice' },
    { method: 'GET' as const, url: '/v1/acl?target=report' },
    { method: 'POST' as const, url: '/v1/explain', payload: { user: 'alice', target: 'report' } },
    { method: 'POST' as const, url: '/v1/check/batch', payload: { checks: [{ user: 'alice', right: 'read', target: 'report' }] } },
    { method: 'POST' as const, url: '/access/v1/search/resource', payload: { subject: { type: 'user', id: 'alice' }, action: { name: 'read' }, resource: { type: 'document' } } }
  ]
  for (const request of requests) {
    const res = await app.inject({ ...request, headers: JSON_HEADERS })
    const what = `${request.method} ${request.url}`
    t.equal(res.statusCode, 503, `${what} is shed`)
    t.equal(res.headers['retry-after'], retryAfter, `${what} says when to retry`)
    t.match(res.headers['content-type'], /^application\/json/)
    const body = res.json<{ code: string, message: string }>()
    t.equal(body.code, 'NGAC_ERR_OVERLOADED', what)
    t.ok(Object.keys(body).every((k) => ERROR_BODY_KEYS.includes(k)), `${what}: an error body`)
  }
  // Refused before its body is read: a malformed body is not even parsed.
  const malformed = await app.inject({ method: 'POST', url: '/v1/batch', headers: JSON_HEADERS, payload: '{"operations": [' })
  t.equal(malformed.statusCode, 503, 'shed before parsing')
}

async function decisions (t: Test, app: App): Promise<void> {
  const allow = await app.inject({ method: 'GET', url: '/ext_authz/r/report', headers: { 'x-user': 'alice' } })
  t.equal(allow.statusCode, 200, 'ext_authz allows')
  t.equal(allow.headers['retry-after'], undefined)
  t.equal((await app.inject({ method: 'POST', url: '/ext_authz/r/report', headers: { 'x-user': 'bob' } })).statusCode, 403, 'ext_authz denies')
  t.equal((await app.inject({ method: 'GET', url: '/ext_authz/r/report' })).statusCode, 401, 'ext_authz: no identity')
  const check = await app.inject({ method: 'POST', url: '/v1/check', headers: JSON_HEADERS, payload: { user: 'alice', right: 'read', target: 'report' } })
  t.equal(check.statusCode, 200)
  t.equal(check.json<{ allowed: boolean }>().allowed, true, 'POST /v1/check answers')
  t.equal((await app.inject({ method: 'GET', url: '/v1/privileges?user=alice&target=report' })).statusCode, 200, 'GET /v1/privileges answers')
  const evaluation = await app.inject({ method: 'POST', url: '/access/v1/evaluation', headers: JSON_HEADERS, payload: { subject: { type: 'user', id: 'bob' }, action: { name: 'read' }, resource: { type: 'document', id: 'report' } } })
  t.equal(evaluation.statusCode, 200, 'POST /access/v1/evaluation answers')
  for (const url of ['/healthz', '/readyz', '/metrics']) t.equal((await app.inject({ method: 'GET', url })).statusCode, 200, `${url} answers`)
}

t.test('under pressure, admin and review routes are shed with 503 and Retry-After; decisions still answer; then back to normal', async (t) => {
  let pressed = false
  const app = await build(t, { extAuthz: EXT_AUTHZ, limits: { retryAfterSeconds: 7 } }, { overloaded: { check: () => pressed, intervalMs: 5 } })
  t.equal((await app.inject({ method: 'PUT', url: '/v1/policy', headers: JSON_HEADERS, payload: SAMPLE_POLICY })).statusCode, 200)
  t.equal(app.isUnderPressure(), false, 'not overloaded at first')
  const revision = app.policy.revision

  pressed = true
  await until(t, app, true)
  await shedding(t, app, '7')
  await decisions(t, app)
  t.equal(app.policy.revision, revision, 'nothing shed was applied')
  t.notOk(app.policy.graph.hasNode('shed'))
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /ngac_http_requests_total\{method="POST",route="\/v1\/nodes",status="503"\} 1/, 'shed requests are counted')

  pressed = false
  await until(t, app, false)
  const created = await app.inject({ method: 'POST', url: '/v1/nodes', headers: JSON_HEADERS, payload: { name: 'shed', type: 'O', parents: ['docs'] } })
  t.equal(created.statusCode, 201, 'writes are taken again')
  t.equal((await app.inject({ method: 'GET', url: '/v1/capabilities?user=alice' })).statusCode, 200, 'review queries too')
  await decisions(t, app)
})

t.test('a heap over limits.maxHeapUsedBytes sheds the same way', async (t) => {
  const app = await build(t, { extAuthz: EXT_AUTHZ, limits: { maxHeapUsedBytes: 1024, maxEventLoopDelayMs: 0 } })
  t.equal((await app.inject({ method: 'PUT', url: '/v1/policy', headers: JSON_HEADERS, payload: SAMPLE_POLICY })).statusCode, 200, 'before the first memory sample')
  await until(t, app, true)
  await shedding(t, app, '2')
  const res = await app.inject({ method: 'POST', url: '/v1/nodes', headers: JSON_HEADERS, payload: { name: 'x', type: 'O', parents: ['docs'] } })
  t.match(res.json<{ message: string }>().message, /limits\.maxHeapUsedBytes/, 'the message names the limit')
  await decisions(t, app)
})

t.test('with every limit at 0 and no signal nothing is shed', async (t) => {
  const app = await build(t, { limits: { maxEventLoopDelayMs: 0, maxHeapUsedBytes: 0, maxRssBytes: 0 } })
  t.equal(app.isUnderPressure(), false)
  t.equal((await app.inject({ method: 'PUT', url: '/v1/policy', headers: JSON_HEADERS, payload: SAMPLE_POLICY })).statusCode, 200)
})

t.test('the limits: defaults, 0 turns a threshold off, bad values are refused', async (t) => {
  const { limits } = loadConfig({ document: {} })
  t.equal(limits.maxEventLoopDelayMs, 1000)
  t.equal(limits.maxHeapUsedBytes, undefined, 'unset: 90% of the V8 heap limit')
  t.equal(limits.maxRssBytes, 0)
  t.equal(limits.retryAfterSeconds, 2)
  t.equal(limits.requestTimeoutMs, 60000)
  t.equal(limits.keepAliveMs, 72000)
  t.equal(loadConfig({ document: { limits: { maxEventLoopDelayMs: 0, maxHeapUsedBytes: 0, requestTimeoutMs: 0 } } }).limits.maxHeapUsedBytes, 0)
  for (const bad of [{ maxEventLoopDelayMs: -1 }, { maxHeapUsedBytes: 1.5 }, { maxRssBytes: '1g' }, { retryAfterSeconds: 0 }, { requestTimeoutMs: -5 }, { keepAliveMs: 0 }]) {
    t.throws(() => loadConfig({ document: { limits: bad } }), { code: 'NGAC_ERR_CONFIG' }, JSON.stringify(bad))
  }
})

t.test('the timeouts for slow clients reach the HTTP server', async (t) => {
  const app = await build(t, { limits: { requestTimeoutMs: 30000, keepAliveMs: 5000, revisionWaitMs: 1000 } })
  t.equal(app.server.requestTimeout, 30000, 'the whole request within requestTimeoutMs')
  t.equal(app.server.keepAliveTimeout, 5000, 'idle keep-alive connections closed after keepAliveMs')
  t.equal(app.server.timeout, 31000, 'a silent socket closed after the request time plus the longest revision wait')
  const off = await build(t, { limits: { requestTimeoutMs: 0 } })
  t.equal(off.server.requestTimeout, 0)
  t.equal(off.server.timeout, 0)
})

t.test('the event-loop delay counts only when sustained', async (t) => {
  const late = new SustainedOver(1000)
  t.equal(late.push(5000), false, 'one long pause (an import) is not saturation')
  t.equal(late.push(10), false)
  t.equal(late.push(1500), false)
  t.equal(late.push(Infinity), true, 'two windows in a row over the limit')
  t.equal(late.push(2000), true)
  t.equal(late.over, true)
  t.equal(late.push(1000), false, 'at the limit is not over it')
  t.equal(late.over, false)
})
