// atLeastRevision on the decision routes: a read-your-writes token (DESIGN section 6).
import t from 'tap'
import { build, SAMPLE_POLICY } from './helper.js'

const CHECK = { user: 'bob', right: 'read', target: 'report' }

t.test('a revision already reached answers at once', async (t) => {
  const app = await build(t)
  app.policy.replace(SAMPLE_POLICY)
  const r = await app.inject({ method: 'POST', url: '/v1/check', payload: { ...CHECK, atLeastRevision: 1 } })
  t.equal(r.statusCode, 200)
  t.same(r.json(), { allowed: false, revision: 1 })
  const q = await app.inject({ method: 'GET', url: '/v1/privileges?user=alice&target=report&atLeastRevision=0' })
  t.same(q.json(), { privileges: ['read', 'write'], revision: 1 })
})

t.test('a revision ahead waits for the write that reaches it, and answers from it', async (t) => {
  const app = await build(t)
  app.policy.replace(SAMPLE_POLICY)
  const pending = app.inject({ method: 'POST', url: '/v1/check', payload: { ...CHECK, atLeastRevision: 2 } })
  const batch = app.inject({ method: 'POST', url: '/v1/check/batch', payload: { checks: [CHECK], atLeastRevision: 2 } })
  const acl = app.inject({ method: 'GET', url: '/v1/acl?target=report&atLeastRevision=2' })
  app.policy.apply([{ op: 'assign', child: 'bob', parent: 'staff' }])
  const [r, b, a] = await Promise.all([pending, batch, acl])
  t.equal(r.statusCode, 200)
  t.same(r.json(), { allowed: true, revision: 2 }, 'the decision sees the write')
  t.same(b.json(), { results: [{ allowed: true }], revision: 2 })
  t.same(a.json().acl.map((e: { user: string }) => e.user), ['alice', 'bob'])
})

t.test('a revision not reached within the wait limit is 409 NGAC_ERR_REVISION_NOT_REACHED', async (t) => {
  const app = await build(t, { limits: { revisionWaitMs: 0 } })
  app.policy.replace(SAMPLE_POLICY)
  const r = await app.inject({ method: 'POST', url: '/v1/explain', payload: { user: 'bob', target: 'report', atLeastRevision: 7 } })
  t.equal(r.statusCode, 409)
  t.equal(r.json().code, 'NGAC_ERR_REVISION_NOT_REACHED')
  const bad = await app.inject({ method: 'POST', url: '/v1/check', payload: { ...CHECK, atLeastRevision: -1 } })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'NGAC_ERR_VALIDATION')
})

t.test('closing the policy releases waiters with a refusal', async (t) => {
  const app = await build(t)
  const waiting = app.policy.waitForRevision(99, 60_000)
  app.policy.close()
  t.equal(await waiting, false)
})
