// The OpenID AuthZEN routes over HTTP (inject): evaluation, evaluations with each semantic,
// the three searches paged to the end (every result agreeing with an evaluation), refusals,
// X-Request-ID and the discovery document. Errors are matched on `code`, never on message text.
import { readFileSync } from 'node:fs'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import type { PolicyDocument } from '../../src/graph/index.js'
import { build, ERROR_BODY_KEYS } from './helper.js'

/** A parsed JSON answer, read field by field in assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

function fixture (name: string): PolicyDocument {
  return (JSON.parse(readFileSync(new URL(`fixtures/authzen-${name}.json`, import.meta.url), 'utf8')) as { policy: PolicyDocument }).policy
}

/**
 * The certification policy (alice: member, bob: admin; record-1 active, record-2 archived;
 * staff read all, members write active, admins write archived), plus a PC and a UA to ask about.
 */
async function certApp (t: Test, overrides: Record<string, unknown> = {}): Promise<App> {
  const app = await build(t, overrides)
  app.policy.replace(fixture('certification'))
  app.policy.apply([{ op: 'createNode', name: 'untyped', type: 'U', parents: ['role=member'] }])
  return app
}

async function post (app: App, url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number, body: Json, headers: Record<string, unknown> }> {
  const res = await app.inject({ method: 'POST', url, headers, payload: body as Record<string, unknown> })
  return { status: res.statusCode, body: res.json(), headers: res.headers }
}

const alice = { type: 'user', id: 'alice' }
const bob = { type: 'user', id: 'bob' }
const read = { name: 'read' }
const write = { name: 'write' }
const record1 = { type: 'record', id: 'record-1' }
const record2 = { type: 'record', id: 'record-2' }

async function decide (app: App, subject: unknown, action: unknown, resource: unknown): Promise<boolean> {
  const res = await post(app, '/access/v1/evaluation', { subject, action, resource })
  if (res.status !== 200) throw new Error(`evaluation answered ${res.status}`)
  return res.body.decision as boolean
}

t.test('evaluation: permits, denies (200 decision false), and maps ids, types and properties', async (t) => {
  const app = await certApp(t)
  t.same((await post(app, '/access/v1/evaluation', { subject: alice, action: read, resource: record1 })).body, { decision: true })
  const deny = await post(app, '/access/v1/evaluation', { subject: bob, action: write, resource: record1 })
  t.equal(deny.status, 200)
  t.same(deny.body, { decision: false })
  t.equal(await decide(app, alice, write, record1), true)
  t.equal(await decide(app, alice, write, record2), false, 'members do not write archived records')
  t.equal(await decide(app, bob, write, record2), true, 'admins do')
  t.equal(await decide(app, alice, { name: 'no-such-right' }, record1), false, 'an unknown right is a deny')
  t.equal(await decide(app, { type: 'user', id: 'nobody' }, read, record1), false, 'an unknown subject without properties is a deny')
  t.equal(await decide(app, alice, read, { type: 'record', id: 'nothing' }), false, 'an unknown resource is a deny')

  // The node's type property is its AuthZEN type; a node without one matches any type.
  t.equal(await decide(app, { type: 'service', id: 'alice' }, read, record1), false, 'a subject of another type is a deny')
  t.equal(await decide(app, alice, read, { type: 'document', id: 'record-1' }), false, 'a resource of another type is a deny')
  t.equal(await decide(app, { type: 'anything', id: 'untyped' }, write, record1), true, 'a node without a type property matches any type')

  // Only U nodes are subjects; a policy class is no resource.
  t.equal(await decide(app, { type: 'user', id: 'role=admin' }, write, record2), false, 'a UA is not a subject')
  t.equal(await decide(app, alice, read, { type: 'record', id: 'records-app' }), false, 'a PC is not a resource')
  t.equal(await decide(app, alice, read, { type: 'record', id: 'records' }), true, 'an OA is a resource')

  // Anonymous users and objects: properties naming `key=value` attributes.
  t.equal(await decide(app, { type: 'user', id: 'carol', properties: { role: 'admin' } }, write, record2), true, 'anonymous admin')
  t.equal(await decide(app, { type: 'user', id: 'carol', properties: { role: 'admin' } }, write, record1), false)
  t.equal(await decide(app, { type: 'user', id: 'carol', properties: { role: 'guest', team: 7 } }, read, record1), false, 'no property names a UA: deny')
  t.equal(await decide(app, alice, write, { type: 'record', id: 'record-9', properties: { status: 'active' } }), true, 'anonymous active record')
  t.equal(await decide(app, alice, write, { type: 'record', id: 'record-9', properties: { status: 'archived' } }), false, 'anonymous archived record')
  t.equal(await decide(app, alice, read, { type: 'record', id: 'record-9', properties: { status: 'lost' } }), false, 'no property names an OA: deny')
  t.equal(await decide(app, bob, write, { type: 'record', id: 'record-1', properties: { status: 'archived' } }), false, 'a known node\'s properties in the request are ignored')

  // Unknown fields are ignored everywhere; context is accepted.
  const extra = await post(app, '/access/v1/evaluation', {
    subject: { ...alice, extra: 1 }, action: { ...read, extra: [] }, resource: { ...record1, extra: {} }, context: { time: 'now' }, future: true
  })
  t.same(extra.body, { decision: true })
})

t.test('evaluation: malformed requests and other content types are 400, X-Request-ID is echoed', async (t) => {
  const app = await certApp(t)
  const bad: unknown[] = [
    { action: read, resource: record1 },
    { subject: alice, resource: record1 },
    { subject: alice, action: read },
    { subject: { id: 'alice' }, action: read, resource: record1 },
    { subject: { type: 'user' }, action: read, resource: record1 },
    { subject: alice, action: {}, resource: record1 },
    { subject: alice, action: { name: 123 }, resource: record1 },
    { subject: 'alice', action: read, resource: record1 },
    { subject: alice, action: read, resource: { id: 'record-1' } },
    { subject: alice, action: read, resource: record1, context: 'now' },
    []
  ]
  for (const body of bad) {
    const res = await post(app, '/access/v1/evaluation', body)
    t.equal(res.status, 400, JSON.stringify(body))
    t.equal(res.body.code, 'NGAC_ERR_VALIDATION')
    t.ok(Object.keys(res.body).every((k) => ERROR_BODY_KEYS.includes(k)))
  }
  const notJson = await app.inject({ method: 'POST', url: '/access/v1/evaluation', headers: { 'content-type': 'application/json' }, payload: '{"subject":' })
  t.equal(notJson.statusCode, 400)
  t.equal(notJson.json().code, 'NGAC_ERR_MALFORMED_JSON')
  const empty = await app.inject({ method: 'POST', url: '/access/v1/evaluation', headers: { 'content-type': 'application/json' }, payload: '' })
  t.equal(empty.statusCode, 400)
  const text = await app.inject({ method: 'POST', url: '/access/v1/evaluation', headers: { 'content-type': 'text/plain' }, payload: 'alice read record-1' })
  t.equal(text.statusCode, 400, 'the certification asks 400 for a body that is not JSON')
  t.equal(text.json().code, 'NGAC_ERR_VALIDATION')

  const echoed = await post(app, '/access/v1/evaluation', { subject: alice, action: read, resource: record1 }, { 'x-request-id': 'req-42' })
  t.equal(echoed.headers['x-request-id'], 'req-42')
  const refused = await post(app, '/access/v1/evaluation', {}, { 'x-request-id': 'req-43' })
  t.equal(refused.headers['x-request-id'], 'req-43', 'also on errors')
  const own = await post(app, '/access/v1/evaluation', { subject: alice, action: read, resource: record1 })
  t.type(own.headers['x-request-id'], 'string', 'a request without one gets the server\'s id')
})

t.test('evaluations: defaults, whole-object overrides, request order, bad items', async (t) => {
  const app = await certApp(t)
  const res = await post(app, '/access/v1/evaluations', {
    subject: alice,
    action: write,
    resource: { ...record1, properties: { status: 'active' } },
    context: { time: 'now' },
    evaluations: [
      {},
      { resource: record2 },
      { subject: bob },
      { subject: bob, resource: record2, context: { source: 'item' } },
      { action: read, resource: record2 },
      { resource: { id: 'record-1' } },
      { action: { name: 7 } },
      { subject: 'bob' }
    ]
  })
  t.equal(res.status, 200)
  t.same(res.body.evaluations.slice(0, 5), [{ decision: true }, { decision: false }, { decision: false }, { decision: true }, { decision: true }])
  for (const item of res.body.evaluations.slice(5)) {
    t.equal(item.decision, false, 'a malformed item is a deny')
    t.equal(item.context.error.status, 400)
    t.type(item.context.error.message, 'string')
  }
  t.equal(res.body.evaluations.length, 8)

  const noDefaults = await post(app, '/access/v1/evaluations', { evaluations: [{ subject: alice, action: read, resource: record1 }, { action: read, resource: record1 }] })
  t.same(noDefaults.body.evaluations[0], { decision: true })
  t.equal(noDefaults.body.evaluations[1].context.error.status, 400, 'an item without a subject anywhere')

  // Without items (or with none) it is a single evaluation.
  t.same((await post(app, '/access/v1/evaluations', { subject: alice, action: read, resource: record1 })).body, { decision: true })
  t.same((await post(app, '/access/v1/evaluations', { subject: bob, action: write, resource: record1, evaluations: [] })).body, { decision: false })
  const incomplete = await post(app, '/access/v1/evaluations', { subject: alice, action: read })
  t.equal(incomplete.status, 400)
  t.equal(incomplete.body.code, 'NGAC_ERR_VALIDATION')

  for (const body of [{ evaluations: {} }, { evaluations: [1] }, { subject: { id: 'x' }, evaluations: [{}] }, { options: { evaluations_semantic: 'first' }, evaluations: [] }]) {
    const bad = await post(app, '/access/v1/evaluations', body)
    t.equal(bad.status, 400, JSON.stringify(body))
    t.equal(bad.body.code, 'NGAC_ERR_VALIDATION')
  }
  const tooMany = await post(app, '/access/v1/evaluations', { subject: alice, action: read, evaluations: Array.from({ length: app.config.limits.checkBatch + 1 }, () => ({ resource: record1 })) })
  t.equal(tooMany.status, 413)
  t.equal(tooMany.body.code, 'NGAC_ERR_BATCH_TOO_LARGE')
})

t.test('evaluations: each evaluations_semantic', async (t) => {
  const app = await certApp(t)
  // alice writes record-1 (permit), not record-2 (deny).
  const items = [{ resource: record1 }, { resource: record2 }, { resource: record1 }, { resource: record2 }]
  const run = async (semantic?: string): Promise<Json> => (await post(app, '/access/v1/evaluations', {
    subject: alice, action: write, evaluations: items, ...(semantic === undefined ? {} : { options: { evaluations_semantic: semantic } })
  })).body.evaluations
  const all = [{ decision: true }, { decision: false }, { decision: true }, { decision: false }]
  t.same(await run(), all, 'execute_all is the default')
  t.same(await run('execute_all'), all)
  t.same(await run('deny_on_first_deny'), all.slice(0, 2), 'stops at the first deny, which is the last result')
  t.same(await run('permit_on_first_permit'), all.slice(0, 1), 'stops at the first permit')
  const denies = await post(app, '/access/v1/evaluations', { subject: alice, action: write, options: { evaluations_semantic: 'permit_on_first_permit' }, evaluations: [{ resource: record2 }, { resource: record2 }] })
  t.same(denies.body.evaluations, [{ decision: false }, { decision: false }], 'no permit: every result')
  const badFirst = await post(app, '/access/v1/evaluations', { subject: alice, action: write, options: { evaluations_semantic: 'deny_on_first_deny' }, evaluations: [{ resource: 'x' }, { resource: record1 }] })
  t.equal(badFirst.body.evaluations.length, 1, 'a malformed item is a deny for deny_on_first_deny')
  t.equal(badFirst.body.evaluations[0].context.error.status, 400)
  t.same(JSON.stringify(JSON.parse(JSON.stringify(await run()))), JSON.stringify(all), 'items carry only decision')
})

/** Pages a search to the end with `limit`, checking each page's count and total. */
async function pageAll (t: Test, app: App, url: string, body: Record<string, unknown>, limit: number): Promise<Json[]> {
  const out: Json[] = []
  let token: string | undefined
  for (let pages = 0; pages < 1000; pages++) {
    const res = await post(app, url, { ...body, page: token === undefined ? { limit } : { limit, token } })
    t.equal(res.status, 200)
    t.ok(res.body.results.length <= limit)
    t.equal(res.body.page.count, res.body.results.length)
    out.push(...res.body.results)
    if (res.body.page.next_token === '') {
      t.equal(res.body.page.total, out.length, 'total counts every page')
      return out
    }
    token = res.body.page.next_token
  }
  throw new Error('paging did not end')
}

t.test('search: paged to the end, and every result agrees with an evaluation', async (t) => {
  const app = await build(t)
  app.policy.replace(fixture('search'))
  const users = ['alice', 'bob', 'carol', 'dan', 'erin', 'felix']
  const records = Array.from({ length: 20 }, (_, i) => String(101 + i))
  const rights = ['view', 'edit', 'delete']

  for (const right of rights) {
    for (const record of ['101', '110', '115']) {
      const found = await pageAll(t, app, '/access/v1/search/subject', { subject: { type: 'user' }, action: { name: right }, resource: { type: 'record', id: record } }, 2)
      const ids = found.map((s) => s.id as string)
      t.same(ids, [...ids].sort(), 'sorted by id')
      for (const user of users) {
        t.equal(ids.includes(user), await decide(app, { type: 'user', id: user }, { name: right }, { type: 'record', id: record }), `${user} ${right} ${record}`)
      }
      for (const s of found) t.equal(s.type, 'user')
    }
    for (const user of users) {
      const found = await pageAll(t, app, '/access/v1/search/resource', { subject: { type: 'user', id: user }, action: { name: right }, resource: { type: 'record' } }, 3)
      const ids = found.map((r) => r.id as string)
      for (const record of records) {
        t.equal(ids.includes(record), await decide(app, { type: 'user', id: user }, { name: right }, { type: 'record', id: record }), `${user} ${right} ${record}`)
      }
      for (const r of found) t.equal(r.type, 'record')
    }
  }
  for (const user of users) {
    for (const record of ['101', '104', '116']) {
      const found = await pageAll(t, app, '/access/v1/search/action', { subject: { type: 'user', id: user }, resource: { type: 'record', id: record } }, 1)
      const names = found.map((a) => a.name as string)
      for (const right of rights) t.equal(names.includes(right), await decide(app, { type: 'user', id: user }, { name: right }, { type: 'record', id: record }), `${user} ${right} ${record}`)
    }
  }

  // Types filter: a type no node carries finds nothing; unknown entities find nothing.
  t.same((await post(app, '/access/v1/search/subject', { subject: { type: 'group' }, action: { name: 'view' }, resource: { type: 'record', id: '101' } })).body.results, [])
  t.same((await post(app, '/access/v1/search/resource', { subject: { type: 'user', id: 'alice' }, action: { name: 'view' }, resource: { type: 'folder' } })).body.results, [])
  t.same((await post(app, '/access/v1/search/action', { subject: { type: 'user', id: 'zed' }, resource: { type: 'record', id: '101' } })).body, { results: [], page: { next_token: '', count: 0, total: 0 } })
  t.same((await post(app, '/access/v1/search/resource', { subject: { type: 'user', id: 'alice' }, action: { name: 'view' }, resource: { type: 'record' } })).body.page, { next_token: '', count: 20, total: 20 }, 'one page by default')
})

t.test('search: page tokens are opaque, bound to the query and the revision', async (t) => {
  const app = await build(t)
  app.policy.replace(fixture('search'))
  const body = { subject: { type: 'user', id: 'alice' }, action: { name: 'view' }, resource: { type: 'record' } }
  const first = await post(app, '/access/v1/search/resource', { ...body, page: { limit: 5 } })
  const token = first.body.page.next_token as string
  t.match(token, /^[A-Za-z0-9_-]+$/, 'base64url')
  const second = await post(app, '/access/v1/search/resource', { ...body, page: { limit: 5, token } })
  t.same(second.body.results.map((r: Json) => r.id), ['106', '107', '108', '109', '110'])

  for (const bad of ['garbage', Buffer.from('{"r":1}').toString('base64url')]) {
    const res = await post(app, '/access/v1/search/resource', { ...body, page: { token: bad } })
    t.equal(res.status, 400)
    t.equal(res.body.code, 'NGAC_ERR_INVALID_CURSOR')
  }
  const otherQuery = await post(app, '/access/v1/search/resource', { ...body, action: { name: 'edit' }, page: { token } })
  t.equal(otherQuery.body.code, 'NGAC_ERR_INVALID_CURSOR', 'another query')
  const otherRoute = await post(app, '/access/v1/search/subject', { subject: { type: 'user' }, action: { name: 'view' }, resource: { type: 'record', id: '101' }, page: { token } })
  t.equal(otherRoute.body.code, 'NGAC_ERR_INVALID_CURSOR', 'another search')
  app.policy.apply([{ op: 'createNode', name: '121', type: 'O', parents: ['records'], properties: { type: 'record' } }])
  const stale = await post(app, '/access/v1/search/resource', { ...body, page: { token } })
  t.equal(stale.status, 400)
  t.equal(stale.body.code, 'NGAC_ERR_INVALID_CURSOR', 'the policy changed')
})

t.test('search: anonymous entities, malformed requests', async (t) => {
  const app = await certApp(t)
  const subjects = await post(app, '/access/v1/search/subject', { subject: { type: 'user' }, action: write, resource: { type: 'record', id: 'new', properties: { status: 'archived' } } })
  t.same(subjects.body.results, [{ type: 'user', id: 'bob' }], 'users who may write an anonymous archived record')
  const resources = await post(app, '/access/v1/search/resource', { subject: { type: 'user', id: 'carol', properties: { role: 'admin' } }, action: write, resource: { type: 'record' } })
  t.same(resources.body.results, [{ type: 'record', id: 'record-2' }], 'what an anonymous admin may write')
  const actions = await post(app, '/access/v1/search/action', { subject: alice, resource: record1, context: { ip: '10.0.0.1' } })
  t.same(actions.body.results, [{ name: 'read' }, { name: 'write' }])

  const bad: [string, unknown][] = [
    ['/access/v1/search/subject', { subject: { type: 'user' }, resource: record1 }],
    ['/access/v1/search/subject', { subject: { type: 'user' }, action: read, resource: { type: 'record' } }],
    ['/access/v1/search/subject', { action: read, resource: record1 }],
    ['/access/v1/search/resource', { action: read, resource: { type: 'record' } }],
    ['/access/v1/search/resource', { subject: { type: 'user' }, action: read, resource: { type: 'record' } }],
    ['/access/v1/search/resource', { subject: alice, action: read, resource: { type: 'record' }, page: { limit: 0 } }],
    ['/access/v1/search/action', { subject: alice }],
    ['/access/v1/search/action', { subject: { type: 'user' }, resource: record1 }]
  ]
  for (const [url, body] of bad) {
    const res = await post(app, url, body)
    t.equal(res.status, 400, `${url} ${JSON.stringify(body)}`)
    t.equal(res.body.code, 'NGAC_ERR_VALIDATION')
  }
  const text = await app.inject({ method: 'POST', url: '/access/v1/search/action', headers: { 'content-type': 'text/plain' }, payload: 'x' })
  t.equal(text.statusCode, 400)
})

t.test('GET /.well-known/authzen-configuration', async (t) => {
  const app = await certApp(t)
  const res = await app.inject({ method: 'GET', url: '/.well-known/authzen-configuration', headers: { host: 'pdp.local:8080', 'x-request-id': 'wk' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['x-request-id'], 'wk')
  t.same(res.json(), {
    policy_decision_point: 'http://pdp.local:8080',
    access_evaluation_endpoint: 'http://pdp.local:8080/access/v1/evaluation',
    access_evaluations_endpoint: 'http://pdp.local:8080/access/v1/evaluations',
    search_subject_endpoint: 'http://pdp.local:8080/access/v1/search/subject',
    search_resource_endpoint: 'http://pdp.local:8080/access/v1/search/resource',
    search_action_endpoint: 'http://pdp.local:8080/access/v1/search/action'
  })

  const configured = await certApp(t, { publicUrl: 'https://pdp.example.com/' })
  const doc = (await configured.inject({ method: 'GET', url: '/.well-known/authzen-configuration' })).json()
  t.equal(doc.policy_decision_point, 'https://pdp.example.com', 'the configured public URL')
  t.equal(doc.search_action_endpoint, 'https://pdp.example.com/access/v1/search/action')
})

t.test('examples/multi-tenant answers what its README shows', async (t) => {
  const app = await build(t)
  app.policy.replace(JSON.parse(readFileSync(new URL('../../examples/multi-tenant/policy.json', import.meta.url), 'utf8')) as PolicyDocument)
  const user = (id: string) => ({ type: 'user', id })
  const doc = (id: string) => ({ type: 'document', id })
  t.equal(await decide(app, user('bob'), write, doc('acme/roadmap')), true)
  t.equal(await decide(app, user('bob'), write, doc('acme/budget')), false)
  t.equal(await decide(app, user('dave'), read, doc('acme/roadmap')), false)
  t.equal(await decide(app, { ...user('ext-42'), properties: { role: 'auditor' } }, read, doc('globex/plan')), true)
  t.equal(await decide(app, user('bob'), write, { type: 'document', id: 'draft', properties: { 'owned-by': 'bob' } }), true)
  const batch = await post(app, '/access/v1/evaluations', {
    subject: user('alice'),
    action: write,
    evaluations: [{ resource: doc('acme/roadmap') }, { resource: doc('acme/budget') }, { resource: doc('globex/plan') }, { action: { name: 'share' }, resource: doc('acme/budget') }]
  })
  t.same(batch.body.evaluations, [{ decision: true }, { decision: true }, { decision: false }, { decision: true }])
  const early = await post(app, '/access/v1/evaluations', {
    subject: user('carol'),
    options: { evaluations_semantic: 'deny_on_first_deny' },
    evaluations: [{ action: read, resource: doc('acme/roadmap') }, { action: write, resource: doc('acme/roadmap') }, { action: read, resource: doc('acme/budget') }]
  })
  t.same(early.body.evaluations, [{ decision: true }, { decision: false }])
  const readers = await post(app, '/access/v1/search/subject', { subject: { type: 'user' }, action: read, resource: doc('acme/roadmap') })
  t.same(readers.body, { results: [user('alice'), user('bob'), user('carol')], page: { next_token: '', count: 3, total: 3 } })
  const actions = await post(app, '/access/v1/search/action', { subject: user('bob'), resource: doc('acme/roadmap') })
  t.same(actions.body.results, [{ name: 'read' }, { name: 'write' }])
})
