// The decision routes over HTTP (inject): checks, batches, review queries with paging, explain,
// and every way a request can be refused. Errors are matched on `code`, never on message text.
import t, { type Test } from 'tap'
import type { Counter } from 'prom-client'
import type { App } from '../../src/app.js'
import type { PolicyDocument } from '../../src/graph/index.js'
import { build, ERROR_BODY_KEYS } from './helper.js'

/** A parsed JSON answer, read field by field in assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const OBJECTS = Array.from({ length: 250 }, (_, i) => `obj-${String(i).padStart(3, '0')}`)

/**
 * Two policy classes: report is in RBAC (through docs) and in Sites (through site-a); salaries
 * only in RBAC. alice (editors < staff) reads and writes docs; bob (staff) reads; carol (guests)
 * reads public; dave (bulk) reads 250 objects. bob may not read salaries; process p1 may not
 * write anything in docs.
 */
const POLICY: PolicyDocument = {
  resourceRights: ['read', 'write', 'share'],
  nodes: [
    { name: 'RBAC', type: 'PC' },
    { name: 'Sites', type: 'PC' },
    { name: 'staff', type: 'UA' },
    { name: 'editors', type: 'UA' },
    { name: 'guests', type: 'UA' },
    { name: 'bulk', type: 'UA' },
    { name: 'alice', type: 'U' },
    { name: 'bob', type: 'U' },
    { name: 'carol', type: 'U' },
    { name: 'dave', type: 'U' },
    { name: 'docs', type: 'OA' },
    { name: 'public', type: 'OA' },
    { name: 'site-a', type: 'OA' },
    { name: 'bulkdocs', type: 'OA' },
    { name: 'report', type: 'O' },
    { name: 'salaries', type: 'O' },
    ...OBJECTS.map((name) => ({ name, type: 'O' as const }))
  ],
  assignments: [
    ['staff', 'RBAC'], ['editors', 'staff'], ['guests', 'RBAC'], ['bulk', 'RBAC'],
    ['alice', 'editors'], ['bob', 'staff'], ['carol', 'guests'], ['dave', 'bulk'],
    ['docs', 'RBAC'], ['public', 'RBAC'], ['bulkdocs', 'RBAC'], ['site-a', 'Sites'],
    ['report', 'docs'], ['report', 'site-a'], ['salaries', 'docs'],
    ...OBJECTS.map((name): [string, string] => [name, 'bulkdocs'])
  ],
  associations: [
    { ua: 'staff', target: 'docs', rights: ['read'] },
    { ua: 'editors', target: 'docs', rights: ['write'] },
    { ua: 'staff', target: 'site-a', rights: ['read', 'write'] },
    { ua: 'guests', target: 'public', rights: ['read'] },
    { ua: 'bulk', target: 'bulkdocs', rights: ['read'] }
  ],
  prohibitions: [
    { name: 'no-salaries', subject: 'bob', rights: ['read'], intersection: true, containers: [{ name: 'salaries', complement: false }] },
    { name: 'p1-no-write', subject: { process: 'p1' }, rights: ['write'], intersection: true, containers: [{ name: 'docs', complement: false }] }
  ]
}

async function setup (t: Test, overrides: Record<string, unknown> = {}): Promise<App> {
  const app = await build(t, overrides)
  app.policy.replace(POLICY)
  return app
}

/** The revision GET /v1/revision reports. */
async function currentRevision (app: App): Promise<number> {
  const res = await app.inject({ method: 'GET', url: '/v1/revision' })
  return (res.json() as { revision: number }).revision
}

/** POST a JSON body and return status and parsed body. */
async function post (app: App, url: string, payload: unknown): Promise<{ status: number, body: Json }> {
  const res = await app.inject({ method: 'POST', url, payload: payload as object })
  return { status: res.statusCode, body: res.json() }
}

async function get (app: App, url: string): Promise<{ status: number, body: Json }> {
  const res = await app.inject({ method: 'GET', url })
  return { status: res.statusCode, body: res.json() }
}

/** Decisions counted so far, by outcome. */
async function decisions (app: App): Promise<{ allowed: number, denied: number }> {
  const metric = app.metrics.registry.getSingleMetric('ngac_decisions_total') as Counter
  const out = { allowed: 0, denied: 0 }
  for (const v of (await metric.get()).values) {
    if (v.labels.allowed === 'true') out.allowed += v.value
    else out.denied += v.value
  }
  return out
}

/** Asserts an error answer: status, code, and nothing but {code, message, details?}. */
function isError (t: Test, res: { status: number, body: Json }, status: number, code: string, what: string): void {
  t.equal(res.status, status, `${what}: status`)
  t.equal(res.body.code, code, `${what}: code`)
  t.equal(typeof res.body.message, 'string', `${what}: message`)
  t.ok(Object.keys(res.body).every((k) => ERROR_BODY_KEYS.includes(k)), `${what}: error body keys`)
}

t.test('POST /v1/check: allow, deny, rights, anonymous users and objects, processes, unknown names', async (t) => {
  const app = await setup(t)
  const revision = await currentRevision(app)
  t.equal(revision, 1)
  const rows: [string, Record<string, unknown>, boolean][] = [
    ['allow', { user: 'alice', right: 'write', target: 'report' }, true],
    ['allow through a parent UA', { user: 'alice', right: 'read', target: 'report' }, true],
    ['deny: a right nobody grants', { user: 'alice', right: 'share', target: 'report' }, false],
    ['deny: one policy class grants, the other does not', { user: 'bob', right: 'write', target: 'report' }, false],
    ['deny: no association', { user: 'carol', right: 'read', target: 'report' }, false],
    ['rights: all held', { user: 'alice', rights: ['read', 'write'], target: 'report' }, true],
    ['rights: one missing', { user: 'bob', rights: ['read', 'write'], target: 'report' }, false],
    ['rights: one unknown', { user: 'alice', rights: ['read', 'fly'], target: 'report' }, false],
    ['anonymous user', { userAttributes: ['editors'], right: 'write', target: 'report' }, true],
    ['anonymous user of two attributes', { userAttributes: ['guests', 'staff'], rights: ['read'], target: 'report' }, true],
    ['anonymous user without rights', { userAttributes: ['guests'], right: 'read', target: 'report' }, false],
    ['anonymous object', { user: 'alice', right: 'write', targetAttributes: ['docs'] }, true],
    ['anonymous object in two classes', { user: 'bob', right: 'write', targetAttributes: ['docs', 'site-a'] }, false],
    ['user prohibition', { user: 'bob', right: 'read', target: 'salaries' }, false],
    ['user prohibition leaves other objects', { user: 'bob', right: 'read', target: 'report' }, true],
    ['process prohibition', { user: 'alice', right: 'write', target: 'report', process: 'p1' }, false],
    ['process prohibition leaves other rights', { user: 'alice', right: 'read', target: 'report', process: 'p1' }, true],
    ['another process', { user: 'alice', right: 'write', target: 'report', process: 'p2' }, true],
    ['unknown user', { user: 'nobody', right: 'read', target: 'report' }, false],
    ['a UA is not a user', { user: 'staff', right: 'read', target: 'report' }, false],
    ['unknown target', { user: 'alice', right: 'read', target: 'nothing' }, false],
    ['unknown right', { user: 'alice', right: 'fly', target: 'report' }, false],
    ['unknown user attributes', { userAttributes: ['nope'], right: 'read', target: 'report' }, false],
    ['unknown target attributes', { user: 'alice', right: 'read', targetAttributes: ['nope'] }, false],
    ['explain: false', { user: 'alice', right: 'read', target: 'report', explain: false }, true]
  ]
  for (const [what, body, allowed] of rows) {
    const res = await post(app, '/v1/check', body)
    t.equal(res.status, 200, what)
    t.same(res.body, { allowed, revision }, what)
    t.strictSame(Object.keys(res.body), ['allowed', 'revision'], `${what}: nothing else`)
  }
})

t.test('POST /v1/check counts each decision', async (t) => {
  const app = await setup(t)
  await post(app, '/v1/check', { user: 'alice', right: 'read', target: 'report' })
  await post(app, '/v1/check', { user: 'alice', right: 'read', target: 'report' })
  await post(app, '/v1/check', { user: 'bob', right: 'write', target: 'report' })
  await post(app, '/v1/check', { user: 'bob', rght: 'write', target: 'report' })
  t.same(await decisions(app), { allowed: 2, denied: 1 })
})

t.test('POST /v1/check with explain: true adds the explanation', async (t) => {
  const app = await setup(t)
  const revision = await currentRevision(app)
  const res = await post(app, '/v1/check', { user: 'alice', right: 'write', target: 'report', process: 'p1', explain: true })
  t.equal(res.status, 200)
  t.equal(res.body.allowed, false)
  t.equal(res.body.revision, revision)
  const explanation = res.body.explanation
  t.same(explanation, app.policy.explain({ user: 'alice', target: 'report', process: 'p1' }))
  t.same(explanation.privileges, ['read'])
  t.same(explanation.policyClasses.map((pc: { name: string }) => pc.name), ['RBAC', 'Sites'])
  t.same(explanation.prohibitions, [{ name: 'p1-no-write', rights: ['write'] }])
  t.equal(explanation.revision, revision)
  t.same(await decisions(app), { allowed: 0, denied: 1 })
})

t.test('POST /v1/explain', async (t) => {
  const app = await setup(t)
  const revision = await currentRevision(app)

  const alice = await post(app, '/v1/explain', { user: 'alice', target: 'report' })
  t.equal(alice.status, 200)
  t.strictSame(Object.keys(alice.body).sort(), ['policyClasses', 'privileges', 'prohibitions', 'revision'])
  t.same(alice.body.privileges, ['read', 'write'])
  t.equal(alice.body.revision, revision)
  const [rbac, sites] = alice.body.policyClasses
  t.equal(rbac.name, 'RBAC')
  t.same(rbac.privileges, ['read', 'write'])
  t.same([...rbac.paths].sort(), [['alice', 'editors', 'docs', 'report'], ['alice', 'editors', 'staff', 'docs', 'report']])
  t.equal(sites.name, 'Sites')
  t.same(sites.privileges, ['read', 'write'])
  t.same(sites.paths, [['alice', 'editors', 'staff', 'site-a', 'report']])
  t.same(alice.body.prohibitions, [])

  const bob = await post(app, '/v1/explain', { user: 'bob', target: 'salaries' })
  t.equal(bob.status, 200)
  t.same(bob.body.privileges, [])
  t.same(bob.body.prohibitions, [{ name: 'no-salaries', rights: ['read'] }])
  t.same(bob.body.policyClasses.map((pc: { name: string, privileges: string[] }) => [pc.name, pc.privileges]), [['RBAC', ['read']]])

  const anonymous = await post(app, '/v1/explain', { userAttributes: ['guests'], targetAttributes: ['public'], process: 'p1' })
  t.equal(anonymous.status, 200)
  t.same(anonymous.body.privileges, ['read'])
  t.same(anonymous.body.policyClasses[0].paths, [['guests', 'public']])

  const unknown = await post(app, '/v1/explain', { user: 'nobody', target: 'report' })
  t.equal(unknown.status, 200)
  t.same(unknown.body, { privileges: [], policyClasses: [], prohibitions: [], revision })
})

t.test('POST /v1/check/batch', async (t) => {
  const app = await setup(t)
  const revision = await currentRevision(app)

  t.test('results in the order of the checks, at one revision, each counted', async (t) => {
    const before = await decisions(app)
    const res = await post(app, '/v1/check/batch', {
      checks: [
        { user: 'alice', right: 'write', target: 'report' },
        { user: 'bob', right: 'write', target: 'report' },
        { userAttributes: ['staff'], rights: ['read'], target: 'report' },
        { user: 'alice', right: 'write', target: 'report', process: 'p1' },
        { user: 'nobody', right: 'read', target: 'nothing' },
        { user: 'alice', right: 'write', targetAttributes: ['docs'] }
      ]
    })
    t.equal(res.status, 200)
    t.same(res.body, { results: [{ allowed: true }, { allowed: false }, { allowed: true }, { allowed: false }, { allowed: false }, { allowed: true }], revision })
    const after = await decisions(app)
    t.same({ allowed: after.allowed - before.allowed, denied: after.denied - before.denied }, { allowed: 3, denied: 3 })
  })

  t.test('an empty batch', async (t) => {
    t.same(await post(app, '/v1/check/batch', { checks: [] }), { status: 200, body: { results: [], revision } })
  })

  t.test('up to the bound', async (t) => {
    const checks = Array.from({ length: app.config.limits.checkBatch }, (_, i) => ({ user: i % 2 === 0 ? 'dave' : 'carol', right: 'read', target: OBJECTS[i % OBJECTS.length] }))
    const res = await post(app, '/v1/check/batch', { checks })
    t.equal(res.status, 200)
    t.equal(res.body.results.length, app.config.limits.checkBatch)
    t.ok(res.body.results.every((r: { allowed: boolean }, i: number) => r.allowed === (i % 2 === 0)))
    t.equal(res.body.revision, revision)
  })

  t.test('above the bound: 413, nothing counted', async (t) => {
    const before = await decisions(app)
    const checks = Array.from({ length: app.config.limits.checkBatch + 1 }, () => ({ user: 'dave', right: 'read', target: 'obj-000' }))
    isError(t, await post(app, '/v1/check/batch', { checks }), 413, 'NGAC_ERR_BATCH_TOO_LARGE', 'too many checks')
    t.same(await decisions(app), before)
  })

  t.test('a malformed item fails the whole request and names its index', async (t) => {
    const before = await decisions(app)
    const ok = { user: 'alice', right: 'read', target: 'report' }
    const items: [string, unknown][] = [
      ['both user and userAttributes', { user: 'alice', userAttributes: ['staff'], right: 'read', target: 'report' }],
      ['both right and rights', { user: 'alice', right: 'read', rights: ['read'], target: 'report' }],
      ['both target and targetAttributes', { user: 'alice', right: 'read', target: 'report', targetAttributes: ['docs'] }],
      ['no user', { right: 'read', target: 'report' }],
      ['no right', { user: 'alice', target: 'report' }],
      ['no target', { user: 'alice', right: 'read' }]
    ]
    for (const [what, item] of items) {
      const res = await post(app, '/v1/check/batch', { checks: [ok, ok, ok, item, ok] })
      isError(t, res, 400, 'NGAC_ERR_VALIDATION', what)
      t.same(res.body.details, { index: 3 }, `${what}: index`)
    }
    const schemaItems: [string, unknown][] = [
      ['an unknown field', { ...ok, explain: true }],
      ['a number for a name', { ...ok, user: 7 }],
      ['not an object', 'alice read report']
    ]
    for (const [what, item] of schemaItems) {
      isError(t, await post(app, '/v1/check/batch', { checks: [ok, item] }), 400, 'NGAC_ERR_VALIDATION', what)
    }
    t.same(await decisions(app), before, 'nothing counted')
  })
})

t.test('GET /v1/privileges', async (t) => {
  const app = await setup(t)
  const revision = await currentRevision(app)
  const rows: [string, string[]][] = [
    ['user=alice&target=report', ['read', 'write']],
    ['user=bob&target=report', ['read']],
    ['user=bob&target=salaries', []],
    ['user=alice&target=report&process=p1', ['read']],
    ['userAttributes=staff&target=report', ['read']],
    ['userAttributes=staff&userAttributes=editors&target=report', ['read', 'write']],
    ['user=bob&targetAttributes=docs', ['read']],
    ['user=alice&targetAttributes=docs&targetAttributes=site-a', ['read', 'write']],
    ['user=alice&targetAttributes=docs&targetAttributes=public', ['read', 'write']],
    ['user=alice&targetAttributes=public', []],
    ['user=nobody&target=report', []],
    ['user=alice&target=nothing', []],
    ['userAttributes=nope&target=report', []],
    ['user=alice&target=RBAC', []]
  ]
  for (const [query, privileges] of rows) {
    t.same(await get(app, `/v1/privileges?${query}`), { status: 200, body: { privileges, revision } }, query)
  }
})

t.test('GET /v1/capabilities', async (t) => {
  const app = await setup(t)
  const revision = await currentRevision(app)

  const alice = await get(app, '/v1/capabilities?user=alice')
  t.equal(alice.status, 200)
  t.same(alice.body, {
    capabilities: [
      { target: 'docs', privileges: ['read', 'write'] },
      { target: 'report', privileges: ['read', 'write'] },
      { target: 'salaries', privileges: ['read', 'write'] },
      { target: 'site-a', privileges: ['read', 'write'] }
    ],
    revision
  })
  t.notOk('nextCursor' in alice.body, 'one page: no cursor')
  t.same((await get(app, '/v1/capabilities?user=alice&process=p1')).body.capabilities.find((c: { target: string }) => c.target === 'report'),
    { target: 'report', privileges: ['read'] })
  const anonymous = await get(app, '/v1/capabilities?userAttributes=guests&userAttributes=bulk&limit=2')
  t.same(anonymous.body.capabilities, [{ target: 'bulkdocs', privileges: ['read'] }, { target: 'obj-000', privileges: ['read'] }])
  t.equal(anonymous.body.revision, revision)
  t.type(anonymous.body.nextCursor, 'string')
  t.same(await get(app, '/v1/capabilities?userAttributes=guests'), { status: 200, body: { capabilities: [{ target: 'public', privileges: ['read'] }], revision } })
  t.same(await get(app, '/v1/capabilities?user=nobody'), { status: 200, body: { capabilities: [], revision } })
  t.same(await get(app, '/v1/capabilities?user=staff'), { status: 200, body: { capabilities: [], revision } })

  t.test('pages through 251 nodes: no gaps, no duplicates', async (t) => {
    const seen: string[] = []
    let url = '/v1/capabilities?user=dave'
    const sizes: number[] = []
    for (;;) {
      const res = await get(app, url)
      t.equal(res.status, 200)
      t.equal(res.body.revision, revision)
      sizes.push(res.body.capabilities.length)
      for (const c of res.body.capabilities) {
        t.same(c.privileges, ['read'])
        seen.push(c.target)
      }
      if (res.body.nextCursor === undefined) break
      t.match(res.body.nextCursor, /^[A-Za-z0-9_-]+$/, 'cursor is base64url')
      url = `/v1/capabilities?user=dave&cursor=${res.body.nextCursor as string}`
    }
    t.same(sizes, [100, 100, 51], 'default page size')
    t.same(seen, ['bulkdocs', ...OBJECTS], 'every node once, in order')
    t.same(seen, app.policy.capabilities({ user: 'dave' }).map((c) => c.target))
  })

  t.test('limit', async (t) => {
    const first = await get(app, '/v1/capabilities?user=dave&limit=200')
    t.equal(first.body.capabilities.length, 200)
    const second = await get(app, `/v1/capabilities?user=dave&limit=200&cursor=${first.body.nextCursor as string}`)
    t.equal(second.body.capabilities.length, 51)
    t.notOk('nextCursor' in second.body)
    const exact = await get(app, '/v1/capabilities?user=dave&limit=251')
    t.equal(exact.body.capabilities.length, 251)
    t.notOk('nextCursor' in exact.body, 'no cursor when the page ends the list')
    isError(t, await get(app, '/v1/capabilities?user=dave&limit=0'), 400, 'NGAC_ERR_VALIDATION', 'limit 0')
    isError(t, await get(app, '/v1/capabilities?user=dave&limit=1001'), 400, 'NGAC_ERR_PAGE_TOO_LARGE', 'limit above maxPageSize')
    isError(t, await get(app, '/v1/capabilities?user=dave&limit=ten'), 400, 'NGAC_ERR_VALIDATION', 'limit not a number')
    isError(t, await get(app, '/v1/capabilities?user=dave&limit=1.5'), 400, 'NGAC_ERR_VALIDATION', 'limit not an integer')
  })

  t.test('cursors from another query or garbage are refused', async (t) => {
    const first = await get(app, '/v1/capabilities?user=dave&limit=10')
    const cursor = first.body.nextCursor as string
    isError(t, await get(app, `/v1/capabilities?user=alice&cursor=${cursor}`), 400, 'NGAC_ERR_INVALID_CURSOR', 'another user')
    isError(t, await get(app, `/v1/capabilities?user=dave&process=p1&cursor=${cursor}`), 400, 'NGAC_ERR_INVALID_CURSOR', 'another process')
    isError(t, await get(app, `/v1/acl?target=bulkdocs&cursor=${cursor}`), 400, 'NGAC_ERR_INVALID_CURSOR', 'another route')
    isError(t, await get(app, '/v1/capabilities?user=dave&cursor=garbage'), 400, 'NGAC_ERR_INVALID_CURSOR', 'garbage')
    const forged = Buffer.from(JSON.stringify({ r: revision, o: -5, k: 'x' })).toString('base64url')
    isError(t, await get(app, `/v1/capabilities?user=dave&cursor=${forged}`), 400, 'NGAC_ERR_INVALID_CURSOR', 'forged')
    isError(t, await get(app, `/v1/capabilities?user=dave&cursor=${Buffer.from('null').toString('base64url')}`), 400, 'NGAC_ERR_INVALID_CURSOR', 'null')
    isError(t, await get(app, '/v1/capabilities?user=dave&cursor='), 400, 'NGAC_ERR_VALIDATION', 'empty cursor')
  })

  t.test('a cursor is stale after a write', async (t) => {
    const first = await get(app, '/v1/capabilities?user=dave')
    const cursor = first.body.nextCursor as string
    t.equal((await get(app, `/v1/capabilities?user=dave&cursor=${cursor}`)).status, 200, 'fine before the write')
    app.policy.apply([{ op: 'createNode', name: 'obj--new', type: 'O', parents: ['bulkdocs'] }])
    const now = await currentRevision(app)
    t.equal(now, revision + 1)
    isError(t, await get(app, `/v1/capabilities?user=dave&cursor=${cursor}`), 400, 'NGAC_ERR_INVALID_CURSOR', 'stale')
    const again = await get(app, '/v1/capabilities?user=dave')
    t.equal(again.body.revision, now)
    t.equal(again.body.capabilities[1].target, 'obj--new', 'the write shifted the list')
  })
})

t.test('GET /v1/capabilities with configured page sizes', async (t) => {
  const app = await setup(t, { limits: { defaultPageSize: 30, maxPageSize: 50 } })
  const seen: string[] = []
  let url = '/v1/capabilities?user=dave'
  let pages = 0
  for (;;) {
    const res = await get(app, url)
    pages++
    seen.push(...res.body.capabilities.map((c: { target: string }) => c.target))
    if (res.body.nextCursor === undefined) break
    url = `/v1/capabilities?user=dave&cursor=${res.body.nextCursor as string}`
  }
  t.equal(pages, 9)
  t.same(seen, ['bulkdocs', ...OBJECTS])
  t.equal((await get(app, '/v1/capabilities?user=dave&limit=50')).body.capabilities.length, 50)
  isError(t, await get(app, '/v1/capabilities?user=dave&limit=51'), 400, 'NGAC_ERR_PAGE_TOO_LARGE', 'above the configured maximum')
})

t.test('GET /v1/acl', async (t) => {
  const app = await setup(t)
  const revision = await currentRevision(app)
  t.same(await get(app, '/v1/acl?target=report'), {
    status: 200,
    body: { acl: [{ user: 'alice', privileges: ['read', 'write'] }, { user: 'bob', privileges: ['read'] }], revision }
  })
  t.same((await get(app, '/v1/acl?target=report&process=p1')).body.acl,
    [{ user: 'alice', privileges: ['read'] }, { user: 'bob', privileges: ['read'] }])
  t.same((await get(app, '/v1/acl?target=salaries')).body.acl, [{ user: 'alice', privileges: ['read', 'write'] }])
  t.same((await get(app, '/v1/acl?targetAttributes=docs&targetAttributes=site-a')).body.acl,
    [{ user: 'alice', privileges: ['read', 'write'] }, { user: 'bob', privileges: ['read'] }])
  t.same((await get(app, '/v1/acl?targetAttributes=public')).body.acl, [{ user: 'carol', privileges: ['read'] }])
  t.same(await get(app, '/v1/acl?target=nothing'), { status: 200, body: { acl: [], revision } })
  t.same(await get(app, '/v1/acl?targetAttributes=nope'), { status: 200, body: { acl: [], revision } })

  const first = await get(app, '/v1/acl?target=report&limit=1')
  t.same(first.body.acl, [{ user: 'alice', privileges: ['read', 'write'] }])
  t.equal(first.body.revision, revision)
  const second = await get(app, `/v1/acl?target=report&limit=1&cursor=${first.body.nextCursor as string}`)
  t.same(second.body, { acl: [{ user: 'bob', privileges: ['read'] }], revision })
  isError(t, await get(app, `/v1/acl?target=salaries&limit=1&cursor=${first.body.nextCursor as string}`), 400, 'NGAC_ERR_INVALID_CURSOR', 'another target')
  app.policy.apply([{ op: 'createNode', name: 'erin', type: 'U', parents: ['staff'] }])
  isError(t, await get(app, `/v1/acl?target=report&limit=1&cursor=${first.body.nextCursor as string}`), 400, 'NGAC_ERR_INVALID_CURSOR', 'stale')
})

t.test('every answer carries the current revision', async (t) => {
  const app = await setup(t)
  for (let i = 0; i < 2; i++) {
    const revision = await currentRevision(app)
    t.equal((await post(app, '/v1/check', { user: 'alice', right: 'read', target: 'report' })).body.revision, revision)
    t.equal((await post(app, '/v1/check', { user: 'alice', right: 'read', target: 'report', explain: true })).body.explanation.revision, revision)
    t.equal((await post(app, '/v1/check/batch', { checks: [{ user: 'alice', right: 'read', target: 'report' }] })).body.revision, revision)
    t.equal((await get(app, '/v1/privileges?user=alice&target=report')).body.revision, revision)
    t.equal((await get(app, '/v1/capabilities?user=alice')).body.revision, revision)
    t.equal((await get(app, '/v1/acl?target=report')).body.revision, revision)
    t.equal((await post(app, '/v1/explain', { user: 'alice', target: 'report' })).body.revision, revision)
    app.policy.apply([{ op: 'associate', ua: 'guests', target: 'docs', rights: ['read'] }])
  }
  t.equal(await currentRevision(app), 3)
  t.same((await post(app, '/v1/check', { user: 'carol', right: 'read', target: 'report' })).body, { allowed: false, revision: 3 }, 'Sites still blocks')
  t.same((await post(app, '/v1/check', { user: 'carol', right: 'read', target: 'salaries' })).body, { allowed: true, revision: 3 })
})

t.test('malformed bodies: 400 NGAC_ERR_VALIDATION', async (t) => {
  const app = await setup(t)
  const check: [string, unknown][] = [
    ['an unknown field', { user: 'alice', right: 'read', target: 'report', extra: 1 }],
    ['no user', { right: 'read', target: 'report' }],
    ['no target', { user: 'alice', right: 'read' }],
    ['no right', { user: 'alice', target: 'report' }],
    ['both user and userAttributes', { user: 'alice', userAttributes: ['staff'], right: 'read', target: 'report' }],
    ['both right and rights', { user: 'alice', right: 'read', rights: ['write'], target: 'report' }],
    ['both target and targetAttributes', { user: 'alice', right: 'read', target: 'report', targetAttributes: ['docs'] }],
    ['a number for user', { user: 1, right: 'read', target: 'report' }],
    ['an empty user', { user: '', right: 'read', target: 'report' }],
    ['a control character in target', { user: 'alice', right: 'read', target: 're\u0000port' }],
    ['an empty right', { user: 'alice', right: '', target: 'report' }],
    ['empty rights', { user: 'alice', rights: [], target: 'report' }],
    ['a number in rights', { user: 'alice', rights: ['read', 2], target: 'report' }],
    ['empty userAttributes', { userAttributes: [], right: 'read', target: 'report' }],
    ['a string for userAttributes', { userAttributes: 'staff', right: 'read', target: 'report' }],
    ['an empty process', { user: 'alice', right: 'read', target: 'report', process: '' }],
    ['a string for explain (no coercion)', { user: 'alice', right: 'read', target: 'report', explain: 'true' }],
    ['an array body', [{ user: 'alice', right: 'read', target: 'report' }]],
    ['a null body', null],
    ['a string body', 'alice read report']
  ]
  for (const [what, body] of check) {
    const res = await app.inject({ method: 'POST', url: '/v1/check', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) })
    isError(t, { status: res.statusCode, body: res.json() }, 400, 'NGAC_ERR_VALIDATION', `check: ${what}`)
  }
  const batch: [string, unknown][] = [
    ['no checks', {}],
    ['checks not a list', { checks: { user: 'alice' } }],
    ['an unknown field', { checks: [], revision: 1 }]
  ]
  for (const [what, body] of batch) isError(t, await post(app, '/v1/check/batch', body), 400, 'NGAC_ERR_VALIDATION', `batch: ${what}`)
  const explain: [string, unknown][] = [
    ['a right', { user: 'alice', target: 'report', right: 'read' }],
    ['explain', { user: 'alice', target: 'report', explain: true }],
    ['no user', { target: 'report' }],
    ['no target', { user: 'alice' }],
    ['both user and userAttributes', { user: 'alice', userAttributes: ['staff'], target: 'report' }]
  ]
  for (const [what, body] of explain) isError(t, await post(app, '/v1/explain', body), 400, 'NGAC_ERR_VALIDATION', `explain: ${what}`)
  // A name over the fixed name length names the limit.
  const long = await post(app, '/v1/check', { user: 'a'.repeat(1025), right: 'read', target: 'report' })
  isError(t, long, 400, 'NGAC_ERR_INVALID_NAME', 'check: a name too long')
  t.same(long.body.details, { limit: 'nameLength', max: 1024 })
  t.same(await decisions(app), { allowed: 0, denied: 0 }, 'no decision counted')
})

t.test('malformed query strings: 400', async (t) => {
  const app = await setup(t)
  const rows: [string, string][] = [
    ['/v1/privileges?user=alice', 'NGAC_ERR_VALIDATION'],
    ['/v1/privileges?target=report', 'NGAC_ERR_VALIDATION'],
    ['/v1/privileges?user=alice&userAttributes=staff&target=report', 'NGAC_ERR_VALIDATION'],
    ['/v1/privileges?user=alice&target=report&targetAttributes=docs', 'NGAC_ERR_VALIDATION'],
    ['/v1/privileges?user=alice&user=bob&target=report', 'NGAC_ERR_VALIDATION'],
    ['/v1/privileges?user=&target=report', 'NGAC_ERR_VALIDATION'],
    ['/v1/privileges?user=alice&target=report&right=read', 'NGAC_ERR_VALIDATION'],
    ['/v1/privileges?user=alice&target=report&limit=1', 'NGAC_ERR_VALIDATION'],
    ['/v1/capabilities', 'NGAC_ERR_VALIDATION'],
    ['/v1/capabilities?target=report', 'NGAC_ERR_VALIDATION'],
    ['/v1/capabilities?user=alice&userAttributes=staff', 'NGAC_ERR_VALIDATION'],
    ['/v1/capabilities?user=alice&process=', 'NGAC_ERR_VALIDATION'],
    ['/v1/acl', 'NGAC_ERR_VALIDATION'],
    ['/v1/acl?user=alice', 'NGAC_ERR_VALIDATION'],
    ['/v1/acl?target=report&targetAttributes=docs', 'NGAC_ERR_VALIDATION'],
    ['/v1/acl?target=report&limit=-1', 'NGAC_ERR_VALIDATION'],
    ['/v1/acl?target=report&cursor=x', 'NGAC_ERR_INVALID_CURSOR']
  ]
  for (const [url, code] of rows) isError(t, await get(app, url), 400, code, url)
})

t.test('transport errors: malformed JSON, depth, media type, size', async (t) => {
  const app = await setup(t, { limits: { bodyBytes: 2048 } })
  for (const url of ['/v1/check', '/v1/check/batch', '/v1/explain']) {
    const send = async (payload: string, contentType = 'application/json'): Promise<{ status: number, body: Json }> => {
      const res = await app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload })
      return { status: res.statusCode, body: res.json() }
    }
    isError(t, await send('{"user": "alice",'), 400, 'NGAC_ERR_MALFORMED_JSON', `${url}: malformed JSON`)
    isError(t, await send(''), 400, 'NGAC_ERR_MALFORMED_JSON', `${url}: empty body`)
    isError(t, await send('['.repeat(65) + ']'.repeat(65)), 400, 'NGAC_ERR_JSON_TOO_DEEP', `${url}: too deep`)
    isError(t, await send('{"user":"alice","right":"read","target":"report"}', 'text/plain'), 415, 'NGAC_ERR_UNSUPPORTED_MEDIA_TYPE', `${url}: text/plain`)
    isError(t, await send('user=alice', 'application/x-www-form-urlencoded'), 415, 'NGAC_ERR_UNSUPPORTED_MEDIA_TYPE', `${url}: a form`)
    isError(t, await send(JSON.stringify({ user: 'alice', right: 'read', target: 'x'.repeat(3000) })), 413, 'NGAC_ERR_BODY_TOO_LARGE', `${url}: too large`)
  }
  const noBody = await app.inject({ method: 'POST', url: '/v1/check' })
  isError(t, { status: noBody.statusCode, body: noBody.json() }, 400, 'NGAC_ERR_VALIDATION', 'no body at all')
  isError(t, await get(app, '/v1/check'), 404, 'NGAC_ERR_ROUTE_NOT_FOUND', 'GET /v1/check')
  isError(t, await post(app, '/v1/privileges', { user: 'alice', target: 'report' }), 404, 'NGAC_ERR_ROUTE_NOT_FOUND', 'POST /v1/privileges')
})

t.test('the routes are documented under the decisions tag', async (t) => {
  const app = await setup(t)
  const res = await app.inject({ method: 'GET', url: '/openapi.json' })
  t.equal(res.statusCode, 200)
  const paths = (res.json() as { paths: Record<string, Record<string, { tags?: string[], summary?: string, responses?: Record<string, unknown> }>> }).paths
  const routes: [string, string, string[]][] = [
    ['/v1/check', 'post', ['200', '400', '413', '415']],
    ['/v1/check/batch', 'post', ['200', '400', '413', '415']],
    // Review queries answer 401/403 to a caller with an unknown token or without `query` (admin authorization).
    ['/v1/explain', 'post', ['200', '400', '401', '403', '413', '415']],
    ['/v1/privileges', 'get', ['200', '400', '401', '403']],
    ['/v1/capabilities', 'get', ['200', '400', '401', '403']],
    ['/v1/acl', 'get', ['200', '400', '401', '403']]
  ]
  for (const [path, method, statuses] of routes) {
    const op = paths[path]?.[method]
    t.ok(op, `${method} ${path} documented`)
    t.same(op?.tags, ['decisions'], `${path}: tag`)
    t.equal(typeof op?.summary, 'string', `${path}: summary`)
    t.same(Object.keys(op?.responses ?? {}).sort(), statuses, `${path}: a response schema for each status`)
  }
})
