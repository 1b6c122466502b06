// The operational endpoints (DESIGN section 5, Operations): liveness, readiness (a real locked
// SQLite file refuses it) and Prometheus metrics.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import type { Test } from 'tap'
import { openPolicy } from '../../src/policy.js'
import { build, ERROR_BODY_KEYS, SAMPLE_POLICY } from './helper.js'

/** A fresh temp dir, removed after the test. */
function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ngac-ops-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The samples of `metric` in a text exposition, by their label text (`` for none). */
function samples (text: string, metric: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line)
    if (m !== null && m[1] === metric) out.set(m[2] ?? '', Number(m[3]))
  }
  return out
}

t.test('/healthz: 200 while the process answers', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/healthz' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ok' })
})

t.test('/readyz: 200 with the revision being served', async (t) => {
  const app = await build(t)
  t.same((await app.inject({ method: 'GET', url: '/readyz' })).json(), { status: 'ready', revision: 0 })
  app.policy.replace(SAMPLE_POLICY)
  const res = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ready', revision: 1 })
})

t.test('/readyz: 503 NGAC_ERR_STORE_BUSY while another connection holds the write lock', async (t) => {
  const file = join(tempDir(t), 'policy.db')
  // busyTimeout bounds how long the refused probe waits; the outcome does not depend on it.
  const policy = openPolicy({ db: file, busyTimeout: 10, policy: SAMPLE_POLICY })
  t.teardown(() => policy.close())
  const app = await build(t, { db: file }, { policy })
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200, 'ready before the lock')

  const other = new Database(file)
  t.teardown(() => { if (other.open) other.close() })
  other.exec('BEGIN IMMEDIATE')

  const busy = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(busy.statusCode, 503)
  t.match(busy.headers['content-type'], /^application\/json/)
  const body = busy.json() as { code: string, message: string }
  t.equal(body.code, 'NGAC_ERR_STORE_BUSY')
  t.match(body.code, /^NGAC_ERR_STORE_/)
  t.same(Object.keys(body).filter((k) => !ERROR_BODY_KEYS.includes(k)), [])
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'still alive')
  const decision = await app.inject({ method: 'POST', url: '/v1/check', payload: { user: 'alice', right: 'read', target: 'report' } })
  t.same(decision.json(), { allowed: true, revision: 1 }, 'decisions are still answered')

  other.exec('ROLLBACK')
  const again = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(again.statusCode, 200, 'ready once the lock is released')
  t.same(again.json(), { status: 'ready', revision: 1 })
  t.equal(policy.revision, 1, 'the probe committed nothing')
})

t.test('/readyz: 503 NGAC_ERR_STORE_CLOSED once the policy is closed', async (t) => {
  const policy = openPolicy({ db: ':memory:' })
  const app = await build(t, {}, { policy })
  policy.close()
  const res = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'NGAC_ERR_STORE_CLOSED')
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
})

t.test('/metrics: the Prometheus text format', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.match(res.body, /^# HELP ngac_decisions_total /m)
  t.match(res.body, /^# TYPE ngac_decisions_total counter$/m)
  t.match(res.body, /^# TYPE ngac_http_requests_total counter$/m)
  t.match(res.body, /^# TYPE ngac_http_request_duration_seconds histogram$/m)
  t.match(res.body, /^# TYPE ngac_policy_revision gauge$/m)
  t.match(res.body, /^ngac_process_cpu_user_seconds_total /m, 'process metrics, with the ngac_ prefix')
})

t.test('/metrics: decisions by outcome, requests by route, the policy revision and size', async (t) => {
  const app = await build(t)
  app.policy.replace(SAMPLE_POLICY)
  const scrape = async (): Promise<string> => (await app.inject({ method: 'GET', url: '/metrics' })).body

  const before = await scrape()
  t.equal(samples(before, 'ngac_decisions_total').size, 0, 'no decision yet')
  t.same(samples(before, 'ngac_policy_revision'), new Map([['', 1]]))

  t.same((await app.inject({ method: 'POST', url: '/v1/check', payload: { user: 'alice', right: 'read', target: 'report' } })).json(),
    { allowed: true, revision: 1 })
  let text = await scrape()
  t.equal(samples(text, 'ngac_decisions_total').get('{allowed="true"}'), 1)
  t.equal(samples(text, 'ngac_decisions_total').get('{allowed="false"}'), undefined)

  await app.inject({ method: 'POST', url: '/v1/check', payload: { user: 'bob', right: 'read', target: 'report' } })
  await app.inject({ method: 'POST', url: '/v1/check', payload: { user: 'bob', right: 'write', target: 'report' } })
  await app.inject({ method: 'POST', url: '/v1/check', payload: { user: 'bob', right: 7 } })
  await app.inject({ method: 'GET', url: '/v1/revision' })
  await app.inject({ method: 'GET', url: '/v1/nowhere/1' })
  await app.inject({ method: 'GET', url: '/v1/nowhere/2' })
  text = await scrape()
  const decisions = samples(text, 'ngac_decisions_total')
  t.equal(decisions.get('{allowed="true"}'), 1)
  t.equal(decisions.get('{allowed="false"}'), 2, 'refused requests are no decisions')

  const requests = samples(text, 'ngac_http_requests_total')
  t.equal(requests.get('{method="POST",route="/v1/check",status="200"}'), 3)
  t.equal(requests.get('{method="POST",route="/v1/check",status="400"}'), 1)
  t.equal(requests.get('{method="GET",route="/v1/revision",status="200"}'), 1)
  t.equal(requests.get('{method="GET",route="/metrics",status="200"}'), 2, 'earlier scrapes are counted')
  t.equal(requests.get('{method="GET",route="unknown",status="404"}'), 2, 'unknown paths share one label, not one each')
  t.notOk([...requests.keys()].some((k) => k.includes('nowhere')))
  t.equal(samples(text, 'ngac_http_request_duration_seconds_count').get('{method="POST",route="/v1/check"}'), 4)

  t.same(samples(text, 'ngac_policy_revision'), new Map([['', 1]]))
  t.same(samples(text, 'ngac_policy_nodes'), new Map([
    ['{type="PC"}', 1], ['{type="UA"}', 2], ['{type="U"}', 2], ['{type="OA"}', 1], ['{type="O"}', 1]
  ]))
  t.same(samples(text, 'ngac_policy_elements'), new Map([
    ['{kind="assignments"}', 6], ['{kind="associations"}', 1], ['{kind="prohibitions"}', 0]
  ]))

  // The gauges are read at scrape time: a change shows on the next scrape.
  app.policy.apply([{ op: 'createNode', name: 'memo', type: 'O', parents: ['docs'] }])
  text = await scrape()
  t.same(samples(text, 'ngac_policy_revision'), new Map([['', 2]]))
  t.equal(samples(text, 'ngac_policy_nodes').get('{type="O"}'), 2)
  t.equal(samples(text, 'ngac_policy_elements').get('{kind="assignments"}'), 7)
})

t.test('two apps in one process keep their own metrics', async (t) => {
  const a = await build(t)
  const b = await build(t)
  await a.inject({ method: 'POST', url: '/v1/check', payload: { user: 'alice', right: 'read', target: 'report' } })
  const textB = (await b.inject({ method: 'GET', url: '/metrics' })).body
  t.equal(samples(textB, 'ngac_decisions_total').size, 0)
  const textA = (await a.inject({ method: 'GET', url: '/metrics' })).body
  t.equal(samples(textA, 'ngac_decisions_total').get('{allowed="false"}'), 1)
})
