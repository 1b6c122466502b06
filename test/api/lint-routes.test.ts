// GET /v1/lint through app.inject: the lint report of the policy being served, behind the admin token.
import t from 'tap'
import { lintPolicy } from '../../src/analysis/index.js'
import { build, ERROR_BODY_KEYS, SAMPLE_POLICY } from './helper.js'

// SAMPLE_POLICY plus a policy class that grants nothing on its object.
const FAULTY = {
  ...SAMPLE_POLICY,
  nodes: [...SAMPLE_POLICY.nodes, { name: 'Secrecy', type: 'PC' }, { name: 'secret', type: 'OA' }, { name: 'plan', type: 'O' }],
  assignments: [...SAMPLE_POLICY.assignments, ['secret', 'Secrecy'], ['plan', 'secret']]
}

t.test('GET /v1/lint answers the lint report of the policy being served', async (t) => {
  const app = await build(t)
  t.equal((await app.inject({ method: 'PUT', url: '/v1/policy', payload: FAULTY })).statusCode, 200)
  const res = await app.inject({ method: 'GET', url: '/v1/lint' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  const report = res.json()
  t.same(report, JSON.parse(JSON.stringify(lintPolicy(app.policy.graph))), 'the report of lintPolicy, whole')
  t.equal(report.revision, app.policy.revision)
  t.same(report.findings.map((f: { rule: string, nodes: string[] }) => [f.rule, f.nodes]), [
    ['policy-class-grants-nothing', ['Secrecy']],
    ['user-without-privileges', ['bob']]
  ])
  t.same(report.counts, { error: 1, warning: 1, info: 0 })
  t.equal(report.statistics.nodes, 10)
})

t.test('GET /v1/lint of an empty policy', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/v1/lint' })
  t.equal(res.statusCode, 200)
  t.same(res.json().findings, [])
  t.equal(res.json().statistics.nodes, 0)
})

t.test('GET /v1/lint needs the admin token when one is configured', async (t) => {
  const token = 'a-very-secret-admin-token'
  const app = await build(t, { admin: { token } })
  for (const authorization of [undefined, 'Bearer wrong-token-wrong-token', token]) {
    const res = await app.inject({ method: 'GET', url: '/v1/lint', headers: authorization === undefined ? {} : { authorization } })
    t.equal(res.statusCode, 401, `refused with ${authorization ?? 'no header'}`)
    t.equal(res.json().code, 'NGAC_ERR_UNAUTHORIZED')
    t.ok(Object.keys(res.json()).every((k) => ERROR_BODY_KEYS.includes(k)))
  }
  const ok = await app.inject({ method: 'GET', url: '/v1/lint', headers: { authorization: `Bearer ${token}` } })
  t.equal(ok.statusCode, 200)
  t.same(ok.json().counts, { error: 0, warning: 0, info: 0 })
})

t.test('the decision routes stay free of the lint plugin\'s token hook', async (t) => {
  const app = await build(t, { admin: { token: 'a-very-secret-admin-token' } })
  const res = await app.inject({ method: 'POST', url: '/v1/check', payload: { user: 'alice', right: 'read', target: 'report' } })
  t.equal(res.statusCode, 200)
})
