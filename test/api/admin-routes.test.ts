// The administration API (DESIGN section 5, Administration) through app.inject: every route's
// success and each error code it can give, paging, batch atomicity, the policy round trip, the
// admin token, and a write that survives reopening its SQLite file.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import { openPolicy } from '../../src/policy.js'
import { build, ERROR_BODY_KEYS, SAMPLE_POLICY, tempDir } from './helper.js'

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

interface Reply {
  status: number
  body: Json
  contentType: string | undefined
}

/** Sends a JSON request (an object body is serialised; a string body is sent as is). */
async function call (app: App, method: Method, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await app.inject({
    method,
    url,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) })
  })
  const type = res.headers['content-type']
  return { status: res.statusCode, body: res.body === '' ? undefined : JSON.parse(res.body), contentType: typeof type === 'string' ? type : undefined }
}

/** Asserts an error answer: the status, the code, and nothing but `{code, message, details?}`. */
function failed (t: Test, res: Reply, status: number, code: string): void {
  t.equal(res.status, status, `status ${status} (${code})`)
  t.equal(res.body?.code, code)
  t.type(res.body?.message, 'string')
  t.ok(Object.keys(res.body ?? {}).every((k) => ERROR_BODY_KEYS.includes(k)), 'only code, message, details')
}

/** An app serving SAMPLE_POLICY (revision 1). */
async function sample (t: Test, overrides: Record<string, unknown> = {}): Promise<App> {
  const app = await build(t, overrides)
  const res = await call(app, 'PUT', '/v1/policy', SAMPLE_POLICY)
  t.equal(res.status, 200)
  return app
}

/** Every item of a paged list, following nextCursor (from `start`, when given). */
async function allPages (t: Test, app: App, url: string, key: string, start?: string): Promise<{ items: Json[], pages: number }> {
  const items: Json[] = []
  let cursor = start
  let pages = 0
  do {
    const sep = url.includes('?') ? '&' : '?'
    const res = await call(app, 'GET', cursor === undefined ? url : `${url}${sep}cursor=${encodeURIComponent(cursor)}`)
    t.equal(res.status, 200)
    items.push(...res.body[key])
    cursor = res.body.nextCursor
    pages++
  } while (cursor !== undefined && pages < 1000)
  return { items, pages }
}

t.test('GET /v1/revision', async (t) => {
  const app = await build(t)
  t.same((await call(app, 'GET', '/v1/revision')).body, { revision: 0 })
})

t.test('POST /v1/nodes', async (t) => {
  const app = await sample(t)
  let res = await call(app, 'POST', '/v1/nodes', { name: 'carol', type: 'U', parents: ['staff', 'guests'], properties: { email: 'carol@example.com' } })
  t.equal(res.status, 201)
  t.same(res.body, { revision: 2, node: { name: 'carol', type: 'U', properties: { email: 'carol@example.com' } } })
  res = await call(app, 'POST', '/v1/nodes', { name: 'ABAC', type: 'PC', parents: [] })
  t.equal(res.status, 201)
  t.same(res.body, { revision: 3, node: { name: 'ABAC', type: 'PC', properties: {} } })

  failed(t, await call(app, 'POST', '/v1/nodes', { name: 'carol', type: 'U', parents: ['staff'] }), 409, 'NGAC_ERR_NODE_EXISTS')
  failed(t, await call(app, 'POST', '/v1/nodes', { name: 'dave', type: 'U', parents: ['nobody'] }), 404, 'NGAC_ERR_NODE_NOT_FOUND')
  failed(t, await call(app, 'POST', '/v1/nodes', { name: 'dave', type: 'U', parents: [] }), 422, 'NGAC_ERR_NO_PARENT')
  failed(t, await call(app, 'POST', '/v1/nodes', { name: 'dave', type: 'U', parents: ['docs'] }), 422, 'NGAC_ERR_INVALID_ASSIGNMENT')
  failed(t, await call(app, 'POST', '/v1/nodes', { name: 'PC2', type: 'PC', parents: ['RBAC'] }), 422, 'NGAC_ERR_INVALID_ASSIGNMENT')
  // Malformed requests.
  failed(t, await call(app, 'POST', '/v1/nodes', { name: 'dave', type: 'U', parents: ['staff'], colour: 'red' }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/nodes', { name: 'dave', type: 'U' }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/nodes', { name: 5, type: 'U', parents: ['staff'] }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/nodes', { name: 'dave', type: 'X', parents: ['staff'] }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/nodes', { name: 'dave', type: 'U', parents: 'staff' }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/nodes', { name: '', type: 'U', parents: ['staff'] }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/nodes', { name: 'a\u0001b', type: 'U', parents: ['staff'] }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/nodes', { name: 'dave', type: 'U', parents: ['staff'], properties: { n: 1 } }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/nodes', '{"name": "dave",'), 400, 'NGAC_ERR_MALFORMED_JSON')
  failed(t, await call(app, 'POST', '/v1/nodes', '[1]'), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/nodes', 'name=dave', { 'content-type': 'text/plain' }), 415, 'NGAC_ERR_UNSUPPORTED_MEDIA_TYPE')
  failed(t, await call(app, 'POST', '/v1/nodes', 'name=dave', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'NGAC_ERR_UNSUPPORTED_MEDIA_TYPE')
  t.equal((await call(app, 'GET', '/v1/revision')).body.revision, 3, 'no failed request changed the policy')
})

t.test('a body over the limit is 413 on the single routes', async (t) => {
  const app = await sample(t, { limits: { bodyBytes: 1024 } })
  const big = { name: 'dave', type: 'U', parents: ['staff'], properties: { pad: 'x'.repeat(2000) } }
  failed(t, await call(app, 'POST', '/v1/nodes', big), 413, 'NGAC_ERR_BODY_TOO_LARGE')
  failed(t, await call(app, 'PATCH', '/v1/nodes/alice', { properties: { pad: 'x'.repeat(2000) } }), 413, 'NGAC_ERR_BODY_TOO_LARGE')
  failed(t, await call(app, 'POST', '/v1/assignments', { child: 'alice', parent: 'x'.repeat(1100) }), 413, 'NGAC_ERR_BODY_TOO_LARGE')
})

t.test('GET, PATCH and DELETE /v1/nodes/{name}', async (t) => {
  const app = await sample(t)
  let res = await call(app, 'GET', '/v1/nodes/staff')
  t.equal(res.status, 200)
  t.same(res.body, { node: { name: 'staff', type: 'UA', properties: {} }, parents: ['RBAC'], childCount: 1 })
  res = await call(app, 'GET', '/v1/nodes/RBAC')
  t.same(res.body, { node: { name: 'RBAC', type: 'PC', properties: {} }, parents: [], childCount: 3 })
  failed(t, await call(app, 'GET', '/v1/nodes/nobody'), 404, 'NGAC_ERR_NODE_NOT_FOUND')

  res = await call(app, 'PATCH', '/v1/nodes/alice', { properties: { email: 'alice@example.com', team: 'blue' } })
  t.same(res, { status: 200, body: { revision: 2 }, contentType: res.contentType })
  t.same((await call(app, 'GET', '/v1/nodes/alice')).body.node.properties, { email: 'alice@example.com', team: 'blue' })
  res = await call(app, 'PATCH', '/v1/nodes/alice', { properties: {} })
  t.same(res.body, { revision: 3 })
  t.same((await call(app, 'GET', '/v1/nodes/alice')).body.node.properties, {}, 'PATCH replaces the properties')
  failed(t, await call(app, 'PATCH', '/v1/nodes/nobody', { properties: {} }), 404, 'NGAC_ERR_NODE_NOT_FOUND')
  failed(t, await call(app, 'PATCH', '/v1/nodes/alice', { properties: {}, name: 'x' }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'PATCH', '/v1/nodes/alice', { properties: { a: true } }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'PATCH', '/v1/nodes/alice', {}), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'PATCH', '/v1/nodes/alice', 'x', { 'content-type': 'text/plain' }), 415, 'NGAC_ERR_UNSUPPORTED_MEDIA_TYPE')

  failed(t, await call(app, 'DELETE', '/v1/nodes/staff'), 409, 'NGAC_ERR_NODE_IN_USE') // alice is assigned to it
  failed(t, await call(app, 'DELETE', '/v1/nodes/docs'), 409, 'NGAC_ERR_NODE_IN_USE') // report, and an association
  failed(t, await call(app, 'DELETE', '/v1/nodes/nobody'), 404, 'NGAC_ERR_NODE_NOT_FOUND')
  res = await call(app, 'DELETE', '/v1/nodes/alice')
  t.same([res.status, res.body], [200, { revision: 4 }])
  failed(t, await call(app, 'GET', '/v1/nodes/alice'), 404, 'NGAC_ERR_NODE_NOT_FOUND')
})

t.test('node names with "/", "%", spaces and unicode in the path', async (t) => {
  const app = await sample(t)
  const names = ['team/a', 'a/b/c', '100% done', 'dossier é', '数据', 'ends with /', '%2F literal', 'a?b#c&d=e+f']
  for (const name of names) {
    const res = await call(app, 'POST', '/v1/nodes', { name, type: 'OA', parents: ['docs'], properties: { k: name } })
    t.equal(res.status, 201, name)
  }
  for (const name of names) {
    const url = `/v1/nodes/${encodeURIComponent(name)}`
    const res = await call(app, 'GET', url)
    t.equal(res.status, 200, url)
    t.equal(res.body?.node?.name, name)
    t.same(res.body?.parents, ['docs'])
    t.equal((await call(app, 'PATCH', url, { properties: {} })).status, 200)
  }
  t.equal((await call(app, 'GET', '/v1/nodes/team%2Fa')).body.node.name, 'team/a', '%2F is part of the name')
  failed(t, await call(app, 'GET', '/v1/nodes/team/a'), 404, 'NGAC_ERR_ROUTE_NOT_FOUND')
  failed(t, await call(app, 'GET', '/v1/nodes/%E0%A4%A'), 400, 'NGAC_ERR_BAD_URL')
  for (const name of names) t.equal((await call(app, 'DELETE', `/v1/nodes/${encodeURIComponent(name)}`)).status, 200, `delete ${name}`)
  // The longest name, all escaped (3 to 12 characters of URL per character), is still reachable.
  const long = 'é'.repeat(1024)
  t.equal((await call(app, 'POST', '/v1/nodes', { name: long, type: 'OA', parents: ['docs'] })).status, 201)
  t.equal((await call(app, 'GET', `/v1/nodes/${encodeURIComponent(long)}`)).body?.node?.name, long)
})

t.test('GET /v1/nodes pages 250 nodes by 100 with an opaque cursor', async (t) => {
  const app = await sample(t)
  const operations = Array.from({ length: 243 }, (_, i) => ({ op: 'createNode', name: `obj-${i}`, type: 'O', parents: ['docs'] }))
  t.equal((await call(app, 'POST', '/v1/batch', { operations })).status, 200)
  const expected = [...SAMPLE_POLICY.nodes.map((n) => n.name), ...operations.map((o) => o.name)]
  t.equal(expected.length, 250)

  const first = await call(app, 'GET', '/v1/nodes?limit=100')
  t.equal(first.body.nodes.length, 100)
  t.same(first.body.nodes[0], { name: 'RBAC', type: 'PC', properties: {} })
  t.type(first.body.nextCursor, 'string')
  const second = await call(app, 'GET', `/v1/nodes?limit=100&cursor=${first.body.nextCursor}`)
  t.equal(second.body.nodes.length, 100)
  const third = await call(app, 'GET', `/v1/nodes?limit=100&cursor=${second.body.nextCursor}`)
  t.equal(third.body.nodes.length, 50)
  t.equal(third.body.nextCursor, undefined, 'the last page has no cursor')
  const names = [...first.body.nodes, ...second.body.nodes, ...third.body.nodes].map((n: Json) => n.name)
  t.same(names, expected, 'creation order, no duplicates, no gaps')

  // The default page size, a type filter, and a page that ends exactly at the end.
  t.equal((await call(app, 'GET', '/v1/nodes')).body.nodes.length, 100)
  const users = await allPages(t, app, '/v1/nodes?type=U&limit=1', 'nodes')
  t.same(users.items.map((n: Json) => n.name), ['alice', 'bob'])
  t.equal(users.pages, 2)
  const all = await allPages(t, app, '/v1/nodes?limit=125', 'nodes')
  t.same([all.items.length, all.pages], [250, 2])

  // Deleting and creating between pages: the cursor holds a position, not a snapshot.
  const page1 = await call(app, 'GET', '/v1/nodes?limit=100')
  t.equal((await call(app, 'DELETE', '/v1/nodes/obj-99')).status, 200) // on the next page
  t.equal((await call(app, 'POST', '/v1/nodes', { name: 'late', type: 'O', parents: ['docs'] })).status, 201)
  const rest = await allPages(t, app, '/v1/nodes?limit=100', 'nodes', page1.body.nextCursor)
  const seen = [...page1.body.nodes, ...rest.items].map((n: Json) => n.name)
  t.same(seen, [...expected.filter((n) => n !== 'obj-99'), 'late'])

  // Bad limits and cursors.
  failed(t, await call(app, 'GET', '/v1/nodes?limit=1001'), 400, 'NGAC_ERR_PAGE_TOO_LARGE')
  failed(t, await call(app, 'GET', '/v1/nodes?limit=0'), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'GET', '/v1/nodes?limit=ten'), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'GET', '/v1/nodes?type=X'), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'GET', '/v1/nodes?colour=red'), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'GET', '/v1/nodes?cursor=garbage'), 400, 'NGAC_ERR_INVALID_CURSOR')
  failed(t, await call(app, 'GET', '/v1/nodes?cursor=%21%21'), 400, 'NGAC_ERR_INVALID_CURSOR')
  failed(t, await call(app, 'GET', `/v1/nodes?cursor=${Buffer.from('n.x.1').toString('base64url')}`), 400, 'NGAC_ERR_INVALID_CURSOR')
  failed(t, await call(app, 'GET', `/v1/nodes?type=O&cursor=${first.body.nextCursor}`), 400, 'NGAC_ERR_INVALID_CURSOR')
  failed(t, await call(app, 'GET', `/v1/prohibitions?cursor=${first.body.nextCursor}`), 400, 'NGAC_ERR_INVALID_CURSOR')

  // A replaced policy makes every earlier cursor stale.
  t.equal((await call(app, 'GET', `/v1/nodes?limit=100&cursor=${first.body.nextCursor}`)).status, 200)
  t.equal((await call(app, 'PUT', '/v1/policy', SAMPLE_POLICY)).status, 200)
  failed(t, await call(app, 'GET', `/v1/nodes?limit=100&cursor=${first.body.nextCursor}`), 400, 'NGAC_ERR_INVALID_CURSOR')
})

t.test('a page of nodes costs O(limit) node visits without a type filter', async (t) => {
  const app = await sample(t)
  const operations = Array.from({ length: 5000 }, (_, i) => ({ op: 'createNode', name: `o${i}`, type: 'O', parents: ['docs'] }))
  t.equal((await call(app, 'POST', '/v1/batch', { operations })).status, 200)
  const graph = app.policy.graph
  const isNode = graph.isNode.bind(graph)
  let visits = 0
  graph.isNode = (id: number) => { visits++; return isNode(id) }
  t.teardown(() => { graph.isNode = isNode })
  let res = await call(app, 'GET', '/v1/nodes?limit=10')
  t.ok(visits <= 11, `first page: ${visits} visits`)
  visits = 0
  for (let i = 0; i < 3; i++) res = await call(app, 'GET', `/v1/nodes?limit=10&cursor=${res.body.nextCursor}`)
  t.ok(visits <= 33, `three more pages: ${visits} visits`)
  t.same(res.body.nodes.map((n: Json) => n.name), Array.from({ length: 10 }, (_, i) => `o${23 + i}`), 'the 7 sample nodes, then o0...')
})

t.test('the page size comes from config.limits', async (t) => {
  const app = await sample(t, { limits: { defaultPageSize: 3, maxPageSize: 5 } })
  const res = await call(app, 'GET', '/v1/nodes')
  t.equal(res.body.nodes.length, 3)
  t.equal((await call(app, 'GET', '/v1/nodes?limit=5')).body.nodes.length, 5)
  failed(t, await call(app, 'GET', '/v1/nodes?limit=6'), 400, 'NGAC_ERR_PAGE_TOO_LARGE')
  failed(t, await call(app, 'GET', '/v1/changes?limit=6'), 400, 'NGAC_ERR_PAGE_TOO_LARGE')
})

t.test('/v1/assignments', async (t) => {
  const app = await sample(t)
  let res = await call(app, 'POST', '/v1/assignments', { child: 'alice', parent: 'guests' })
  t.same([res.status, res.body], [201, { revision: 2 }])
  failed(t, await call(app, 'POST', '/v1/assignments', { child: 'alice', parent: 'guests' }), 409, 'NGAC_ERR_ASSIGNMENT_EXISTS')
  t.equal((await call(app, 'POST', '/v1/assignments', { child: 'guests', parent: 'staff' })).status, 201)
  failed(t, await call(app, 'POST', '/v1/assignments', { child: 'staff', parent: 'guests' }), 409, 'NGAC_ERR_ASSIGNMENT_CYCLE')
  failed(t, await call(app, 'POST', '/v1/assignments', { child: 'alice', parent: 'docs' }), 422, 'NGAC_ERR_INVALID_ASSIGNMENT')
  failed(t, await call(app, 'POST', '/v1/assignments', { child: 'alice', parent: 'nobody' }), 404, 'NGAC_ERR_NODE_NOT_FOUND')
  failed(t, await call(app, 'POST', '/v1/assignments', { child: 'alice' }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/assignments', { child: 'alice', parent: 'staff', weight: 1 }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/assignments', 'x', { 'content-type': 'text/plain' }), 415, 'NGAC_ERR_UNSUPPORTED_MEDIA_TYPE')

  t.same((await call(app, 'GET', '/v1/assignments?child=alice')).body, { assignments: [['alice', 'staff'], ['alice', 'guests']] })
  t.same((await call(app, 'GET', '/v1/assignments?parent=staff')).body, { assignments: [['alice', 'staff'], ['guests', 'staff']] })
  t.same((await call(app, 'GET', '/v1/assignments?child=alice&parent=staff')).body, { assignments: [['alice', 'staff']] })
  t.same((await call(app, 'GET', '/v1/assignments?child=bob&parent=staff')).body, { assignments: [] })
  t.same((await call(app, 'GET', '/v1/assignments')).body.assignments.length, 8)
  failed(t, await call(app, 'GET', '/v1/assignments?child=nobody'), 404, 'NGAC_ERR_NODE_NOT_FOUND')
  failed(t, await call(app, 'GET', '/v1/assignments?parent=nobody&child=alice'), 404, 'NGAC_ERR_NODE_NOT_FOUND')

  res = await call(app, 'DELETE', '/v1/assignments?child=alice&parent=guests')
  t.same([res.status, res.body], [200, { revision: 4 }])
  failed(t, await call(app, 'DELETE', '/v1/assignments?child=alice&parent=guests'), 404, 'NGAC_ERR_ASSIGNMENT_NOT_FOUND')
  failed(t, await call(app, 'DELETE', '/v1/assignments?child=alice&parent=staff'), 422, 'NGAC_ERR_LAST_PARENT')
  failed(t, await call(app, 'DELETE', '/v1/assignments?child=nobody&parent=staff'), 404, 'NGAC_ERR_NODE_NOT_FOUND')
  failed(t, await call(app, 'DELETE', '/v1/assignments?child=alice'), 400, 'NGAC_ERR_VALIDATION')
})

t.test('GET /v1/assignments pages a parent\'s children, a child\'s parents and all', async (t) => {
  const app = await sample(t)
  const operations: Json[] = Array.from({ length: 150 }, (_, i) => ({ op: 'createNode', name: `o${i}`, type: 'O', parents: ['docs'] }))
  operations.push(...Array.from({ length: 5 }, (_, i) => ({ op: 'createNode', name: `oa${i}`, type: 'OA', parents: ['RBAC'] })))
  operations.push(...Array.from({ length: 5 }, (_, i) => ({ op: 'assign', child: 'o0', parent: `oa${i}` })))
  t.equal((await call(app, 'POST', '/v1/batch', { operations })).status, 200)

  const children = await allPages(t, app, '/v1/assignments?parent=docs&limit=100', 'assignments')
  t.equal(children.pages, 2)
  t.same(children.items, [['report', 'docs'], ...Array.from({ length: 150 }, (_, i) => [`o${i}`, 'docs'])])
  const parents = await allPages(t, app, '/v1/assignments?child=o0&limit=2', 'assignments')
  t.same(parents.items, [['o0', 'docs'], ['o0', 'oa0'], ['o0', 'oa1'], ['o0', 'oa2'], ['o0', 'oa3'], ['o0', 'oa4']])
  t.equal(parents.pages, 3)
  const everything = await allPages(t, app, '/v1/assignments?limit=7', 'assignments')
  t.equal(everything.items.length, 6 + 150 + 5 + 5)
  t.equal(new Set(everything.items.map((a: Json) => a.join('\u0000'))).size, everything.items.length, 'no duplicates')

  // Removing an item already shown does not make the next page skip one.
  const page = await call(app, 'GET', '/v1/assignments?parent=docs&limit=10')
  t.equal((await call(app, 'DELETE', '/v1/nodes/o3')).status, 200)
  const next = await call(app, 'GET', `/v1/assignments?parent=docs&limit=10&cursor=${page.body.nextCursor}`)
  t.same(next.body.assignments[0], ['o9', 'docs'])

  failed(t, await call(app, 'GET', `/v1/assignments?parent=staff&cursor=${page.body.nextCursor}`), 400, 'NGAC_ERR_INVALID_CURSOR')
  failed(t, await call(app, 'GET', `/v1/assignments?cursor=${page.body.nextCursor}`), 400, 'NGAC_ERR_INVALID_CURSOR')
  failed(t, await call(app, 'GET', `/v1/assignments?parent=docs&child=o1&cursor=${page.body.nextCursor}`), 400, 'NGAC_ERR_INVALID_CURSOR')
  failed(t, await call(app, 'GET', '/v1/assignments?parent=docs&cursor=AAAA'), 400, 'NGAC_ERR_INVALID_CURSOR')
  failed(t, await call(app, 'GET', '/v1/assignments?parent=docs&limit=1001'), 400, 'NGAC_ERR_PAGE_TOO_LARGE')
})

t.test('/v1/associations', async (t) => {
  const app = await sample(t)
  let res = await call(app, 'POST', '/v1/associations', { ua: 'guests', target: 'docs', rights: ['read'] })
  t.same([res.status, res.body], [201, { revision: 2 }])
  res = await call(app, 'POST', '/v1/associations', { ua: 'guests', target: 'docs', rights: ['write', 'read'] })
  t.same([res.status, res.body], [201, { revision: 3 }])
  t.same((await call(app, 'GET', '/v1/associations?ua=guests&target=docs')).body,
    { associations: [{ ua: 'guests', target: 'docs', rights: ['read', 'write'] }] }, 'setting again replaces the rights')
  t.equal((await call(app, 'POST', '/v1/associations', { ua: 'staff', target: 'guests', rights: ['*'] })).status, 201)

  failed(t, await call(app, 'POST', '/v1/associations', { ua: 'alice', target: 'docs', rights: ['read'] }), 422, 'NGAC_ERR_INVALID_ASSOCIATION')
  failed(t, await call(app, 'POST', '/v1/associations', { ua: 'staff', target: 'RBAC', rights: ['read'] }), 422, 'NGAC_ERR_INVALID_ASSOCIATION')
  failed(t, await call(app, 'POST', '/v1/associations', { ua: 'staff', target: 'docs', rights: ['fly'] }), 422, 'NGAC_ERR_UNKNOWN_RIGHT')
  failed(t, await call(app, 'POST', '/v1/associations', { ua: 'staff', target: 'nobody', rights: ['read'] }), 404, 'NGAC_ERR_NODE_NOT_FOUND')
  failed(t, await call(app, 'POST', '/v1/associations', { ua: 'staff', target: 'docs', rights: [] }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/associations', { ua: 'staff', target: 'docs', rights: 'read' }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/associations', { ua: 'staff', target: 'docs', rights: ['read'], x: 1 }), 400, 'NGAC_ERR_VALIDATION')

  t.same((await call(app, 'GET', '/v1/associations?ua=staff')).body, {
    associations: [{ ua: 'staff', target: 'docs', rights: ['read', 'write'] }, { ua: 'staff', target: 'guests', rights: ['*'] }]
  })
  t.same((await call(app, 'GET', '/v1/associations?target=docs')).body.associations.map((a: Json) => a.ua), ['staff', 'guests'])
  t.same((await call(app, 'GET', '/v1/associations?ua=bob&target=docs')).body, { associations: [] })
  const all = await allPages(t, app, '/v1/associations?limit=1', 'associations')
  t.same([all.items.length, all.pages], [3, 3])
  const byUa = await allPages(t, app, '/v1/associations?ua=staff&limit=1', 'associations')
  t.same(byUa.items.map((a: Json) => a.target), ['docs', 'guests'])
  failed(t, await call(app, 'GET', '/v1/associations?ua=nobody'), 404, 'NGAC_ERR_NODE_NOT_FOUND')
  failed(t, await call(app, 'GET', '/v1/associations?cursor=bm9wZQ'), 400, 'NGAC_ERR_INVALID_CURSOR')

  res = await call(app, 'DELETE', '/v1/associations?ua=guests&target=docs')
  t.same([res.status, res.body], [200, { revision: 5 }])
  failed(t, await call(app, 'DELETE', '/v1/associations?ua=guests&target=docs'), 404, 'NGAC_ERR_ASSOCIATION_NOT_FOUND')
  failed(t, await call(app, 'DELETE', '/v1/associations?ua=nobody&target=docs'), 404, 'NGAC_ERR_NODE_NOT_FOUND')
  failed(t, await call(app, 'DELETE', '/v1/associations?ua=guests'), 400, 'NGAC_ERR_VALIDATION')
})

t.test('/v1/prohibitions', async (t) => {
  const app = await sample(t)
  const p1 = { name: 'no-report', subject: 'alice', rights: ['write'], intersection: true, containers: [{ name: 'report', complement: false }] }
  const p2 = { name: 'sandbox', subject: { process: 'pid-42' }, rights: ['*'], intersection: false, containers: [{ name: 'docs', complement: true }] }
  let res = await call(app, 'POST', '/v1/prohibitions', p1)
  t.same([res.status, res.body], [201, { revision: 2 }])
  t.equal((await call(app, 'POST', '/v1/prohibitions', p2)).status, 201)
  failed(t, await call(app, 'POST', '/v1/prohibitions', p1), 409, 'NGAC_ERR_PROHIBITION_EXISTS')
  failed(t, await call(app, 'POST', '/v1/prohibitions', { ...p1, name: 'p3', subject: 'report' }), 422, 'NGAC_ERR_INVALID_PROHIBITION')
  failed(t, await call(app, 'POST', '/v1/prohibitions', { ...p1, name: 'p3', containers: [{ name: 'RBAC', complement: false }] }), 422, 'NGAC_ERR_INVALID_PROHIBITION')
  failed(t, await call(app, 'POST', '/v1/prohibitions', { ...p1, name: 'p3', rights: ['fly'] }), 422, 'NGAC_ERR_UNKNOWN_RIGHT')
  failed(t, await call(app, 'POST', '/v1/prohibitions', { ...p1, name: 'p3', subject: 'nobody' }), 404, 'NGAC_ERR_NODE_NOT_FOUND')
  failed(t, await call(app, 'POST', '/v1/prohibitions', { ...p1, name: 'p3', containers: [] }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/prohibitions', { ...p1, name: 'p3', containers: [{ name: 'report' }] }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/prohibitions', { ...p1, name: 'p3', containers: [{ name: 'report', complement: false, x: 1 }] }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/prohibitions', { ...p1, name: 'p3', subject: { process: 'p', user: 'alice' } }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/prohibitions', { ...p1, name: 'p3', intersection: 'yes' }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/prohibitions', { ...p1, name: 'p3', extra: true }), 400, 'NGAC_ERR_VALIDATION')

  t.same((await call(app, 'GET', '/v1/prohibitions')).body, { prohibitions: [p1, p2] })
  const pages = await allPages(t, app, '/v1/prohibitions?limit=1', 'prohibitions')
  t.same([pages.items, pages.pages], [[p1, p2], 2])
  t.same((await call(app, 'GET', '/v1/prohibitions/sandbox')).body, p2)
  failed(t, await call(app, 'GET', '/v1/prohibitions/nope'), 404, 'NGAC_ERR_PROHIBITION_NOT_FOUND')
  failed(t, await call(app, 'GET', '/v1/prohibitions?cursor=zzz'), 400, 'NGAC_ERR_INVALID_CURSOR')
  failed(t, await call(app, 'DELETE', '/v1/nodes/report'), 409, 'NGAC_ERR_NODE_IN_USE')

  res = await call(app, 'DELETE', '/v1/prohibitions/no-report')
  t.same([res.status, res.body], [200, { revision: 4 }])
  failed(t, await call(app, 'DELETE', '/v1/prohibitions/no-report'), 404, 'NGAC_ERR_PROHIBITION_NOT_FOUND')
  t.same((await call(app, 'GET', '/v1/prohibitions')).body, { prohibitions: [p2] })
})

t.test('/v1/resource-rights', async (t) => {
  const app = await sample(t)
  t.same((await call(app, 'GET', '/v1/resource-rights')).body, { rights: ['read', 'write'] })
  let res = await call(app, 'PUT', '/v1/resource-rights', { rights: ['read', 'write', 'approve'] })
  t.same([res.status, res.body], [200, { revision: 2, rights: ['read', 'write', 'approve'] }])
  t.same((await call(app, 'GET', '/v1/resource-rights')).body, { rights: ['read', 'write', 'approve'] })
  failed(t, await call(app, 'PUT', '/v1/resource-rights', { rights: ['read'] }), 409, 'NGAC_ERR_RIGHT_IN_USE') // staff writes docs
  failed(t, await call(app, 'PUT', '/v1/resource-rights', { rights: ['read', 'write', 'assign'] }), 422, 'NGAC_ERR_INVALID_RIGHT')
  failed(t, await call(app, 'PUT', '/v1/resource-rights', { rights: 'read' }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'PUT', '/v1/resource-rights', { rights: ['read'], more: [] }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'PUT', '/v1/resource-rights', 'read', { 'content-type': 'text/plain' }), 415, 'NGAC_ERR_UNSUPPORTED_MEDIA_TYPE')
  res = await call(app, 'GET', '/v1/revision')
  t.same(res.body, { revision: 2 })
})

t.test('POST /v1/batch', async (t) => {
  const app = await sample(t)
  const operations = [
    { op: 'createNode', name: 'eng', type: 'UA', parents: ['staff'], properties: { cost: '42' } },
    { op: 'createNode', name: 'dana', type: 'U', parents: ['eng'] },
    { op: 'createNode', name: 'Wards', type: 'PC' },
    { op: 'assign', child: 'docs', parent: 'Wards' },
    { op: 'associate', ua: 'eng', target: 'report', rights: ['write'] },
    { op: 'setProperties', name: 'bob', properties: { team: 'ops' } },
    { op: 'createProhibition', name: 'p', subject: 'dana', rights: ['read'], intersection: true, containers: [{ name: 'report', complement: false }] },
    { op: 'setResourceRights', rights: ['read', 'write', 'sign'] },
    { op: 'deleteProhibition', name: 'p' },
    { op: 'dissociate', ua: 'eng', target: 'report' },
    { op: 'deassign', child: 'docs', parent: 'Wards' },
    { op: 'deleteNode', name: 'dana' }
  ]
  const res = await call(app, 'POST', '/v1/batch', { operations })
  t.same([res.status, res.body], [200, { revision: 2, applied: operations.length }])
  t.same((await call(app, 'GET', '/v1/nodes/eng')).body.node, { name: 'eng', type: 'UA', properties: { cost: '42' } })
  failed(t, await call(app, 'GET', '/v1/nodes/dana'), 404, 'NGAC_ERR_NODE_NOT_FOUND')
  t.same((await call(app, 'GET', '/v1/resource-rights')).body.rights, ['read', 'write', 'sign'])
})

t.test('POST /v1/batch is all or nothing', async (t) => {
  const app = await sample(t)
  const before = (await call(app, 'GET', '/v1/policy')).body
  const good = [
    { op: 'createNode', name: 'eng', type: 'UA', parents: ['staff'] },
    { op: 'associate', ua: 'eng', target: 'docs', rights: ['read'] }
  ]
  const cases: [Json, number, string][] = [
    [{ op: 'assign', child: 'alice', parent: 'nobody' }, 404, 'NGAC_ERR_NODE_NOT_FOUND'],
    [{ op: 'createNode', name: 'eng', type: 'UA', parents: ['staff'] }, 409, 'NGAC_ERR_NODE_EXISTS'],
    [{ op: 'assign', child: 'staff', parent: 'eng' }, 409, 'NGAC_ERR_ASSIGNMENT_CYCLE'],
    [{ op: 'assign', child: 'alice', parent: 'docs' }, 422, 'NGAC_ERR_INVALID_ASSIGNMENT'],
    [{ op: 'deleteNode', name: 'staff' }, 409, 'NGAC_ERR_NODE_IN_USE'],
    [{ op: 'associate', ua: 'eng', target: 'docs', rights: ['fly'] }, 422, 'NGAC_ERR_UNKNOWN_RIGHT'],
    [{ op: 'createNode', name: 'eng2', type: 'UA', parents: ['staff'], colour: 'red' }, 400, 'NGAC_ERR_VALIDATION'],
    [{ op: 'assign', child: 'alice' }, 400, 'NGAC_ERR_VALIDATION'],
    [{ op: 'assign', child: 'alice', parent: 7 }, 400, 'NGAC_ERR_VALIDATION'],
    [{ op: 'createProhibition', name: 'p', subject: 'alice', rights: ['read'], intersection: true, containers: [{ name: 'docs' }] }, 400, 'NGAC_ERR_VALIDATION'],
    [{ op: 'launch' }, 400, 'NGAC_ERR_VALIDATION'],
    [{ op: 'replacePolicy', elements: 1 }, 400, 'NGAC_ERR_VALIDATION']
  ]
  for (const [bad, status, code] of cases) {
    const res = await call(app, 'POST', '/v1/batch', { operations: [...good, bad] })
    failed(t, res, status, code)
    t.same(res.body.details?.index, 2, `${code}: details.index names the failing operation`)
  }
  t.same((await call(app, 'GET', '/v1/policy')).body, before, 'nothing changed')
  t.same((await call(app, 'GET', '/v1/revision')).body, { revision: 1 }, 'revision unchanged')
  failed(t, await call(app, 'GET', '/v1/nodes/eng'), 404, 'NGAC_ERR_NODE_NOT_FOUND')

  failed(t, await call(app, 'POST', '/v1/batch', { operations: [] }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/batch', { operations: [1] }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/batch', { operations: good, atomic: false }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/batch', {}), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'POST', '/v1/batch', 'operations', { 'content-type': 'text/plain' }), 415, 'NGAC_ERR_UNSUPPORTED_MEDIA_TYPE')
})

t.test('POST /v1/batch limits: operations and body size', async (t) => {
  const app = await sample(t, { limits: { batchOperations: 3, bodyBytes: 1024, policyBodyBytes: 4096 } })
  const node = (i: number) => ({ op: 'createNode', name: `n${i}`, type: 'O', parents: ['docs'] })
  failed(t, await call(app, 'POST', '/v1/batch', { operations: [node(1), node(2), node(3), node(4)] }), 413, 'NGAC_ERR_BATCH_TOO_LARGE')
  t.equal((await call(app, 'POST', '/v1/batch', { operations: [node(1), node(2), node(3)] })).status, 200)
  // The batch route takes bodies up to policyBodyBytes, beyond the 1 KiB of the other routes.
  const padded = { op: 'createNode', name: 'n9', type: 'O', parents: ['docs'], properties: { pad: 'x'.repeat(2000) } }
  t.equal((await call(app, 'POST', '/v1/batch', { operations: [padded] })).status, 200)
  failed(t, await call(app, 'POST', '/v1/batch', { operations: [{ ...padded, properties: { pad: 'x'.repeat(5000) } }] }), 413, 'NGAC_ERR_BODY_TOO_LARGE')
  failed(t, await call(app, 'PUT', '/v1/policy', { ...SAMPLE_POLICY, nodes: [...SAMPLE_POLICY.nodes, { name: 'x'.repeat(5000), type: 'PC' }] }), 413, 'NGAC_ERR_BODY_TOO_LARGE')
})

t.test('PUT and GET /v1/policy round trip', async (t) => {
  const app = await build(t)
  const doc = {
    resourceRights: ['read', 'write'],
    nodes: [
      { name: 'RBAC', type: 'PC' },
      { name: 'staff', type: 'UA' },
      { name: 'alice', type: 'U', properties: { email: 'alice@example.com' } },
      { name: 'docs', type: 'OA' },
      { name: 'report', type: 'O' }
    ],
    assignments: [['staff', 'RBAC'], ['alice', 'staff'], ['docs', 'RBAC'], ['report', 'docs']],
    associations: [{ ua: 'staff', target: 'docs', rights: ['read'] }],
    prohibitions: [{ name: 'no-report', subject: 'alice', rights: ['read'], intersection: true, containers: [{ name: 'report', complement: false }] },
      { name: 'proc', subject: { process: '7' }, rights: ['write'], intersection: false, containers: [{ name: 'docs', complement: true }] }]
  }
  let res = await call(app, 'PUT', '/v1/policy', doc)
  t.same([res.status, res.body], [200, { revision: 1 }])
  res = await call(app, 'GET', '/v1/policy')
  t.equal(res.status, 200)
  t.same(res.body, doc)
  t.equal((await call(app, 'PUT', '/v1/policy', res.body)).body.revision, 2)
  t.same((await call(app, 'GET', '/v1/policy')).body, doc, 'exporting an import gives the same document')

  // A bad document changes nothing and lists its problems.
  res = await call(app, 'PUT', '/v1/policy', { nodes: [{ name: 'alice', type: 'U' }, { name: 'bob', type: 'Q' }], assignments: [['alice', 'nobody']] })
  failed(t, res, 400, 'NGAC_ERR_POLICY_FILE')
  t.ok(Array.isArray(res.body.details) && res.body.details.length >= 2, 'details lists every problem')
  t.ok(res.body.details.every((d: Json) => typeof d.path === 'string' && typeof d.code === 'string'))
  failed(t, await call(app, 'PUT', '/v1/policy', { nodes: 'none' }), 400, 'NGAC_ERR_POLICY_FILE')
  failed(t, await call(app, 'PUT', '/v1/policy', { nodes: [], graph: {} }), 400, 'NGAC_ERR_POLICY_FILE')
  failed(t, await call(app, 'PUT', '/v1/policy', { nodes: [], version: 2 }), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'PUT', '/v1/policy', [doc]), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'PUT', '/v1/policy?format=xml', doc), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'PUT', '/v1/policy', '{"nodes": ['), 400, 'NGAC_ERR_MALFORMED_JSON')
  failed(t, await call(app, 'PUT', '/v1/policy', 'nodes', { 'content-type': 'text/plain' }), 415, 'NGAC_ERR_UNSUPPORTED_MEDIA_TYPE')
  t.same((await call(app, 'GET', '/v1/revision')).body, { revision: 2 })
  t.same((await call(app, 'GET', '/v1/policy')).body, doc)
})

t.test('PUT /v1/policy?format=pm reads policy-machine-core JSON', async (t) => {
  const app = await build(t)
  const pm: Json = JSON.parse(readFileSync(new URL('../graph/fixtures/pm-sample.json', import.meta.url), 'utf8'))
  let res = await call(app, 'PUT', '/v1/policy?format=pm', pm)
  t.same([res.status, res.body], [200, { revision: 1 }])
  res = await call(app, 'GET', '/v1/nodes/Wards')
  t.same(res.body.node, { name: 'Wards', type: 'PC', properties: { owner: 'medical-director' } })
  failed(t, await call(app, 'PUT', '/v1/policy', pm), 400, 'NGAC_ERR_POLICY_FILE') // not a policy file
  failed(t, await call(app, 'PUT', '/v1/policy?format=pm', SAMPLE_POLICY), 400, 'NGAC_ERR_POLICY_FILE') // not a pm policy
  failed(t, await call(app, 'PUT', '/v1/policy?format=pm', { ...pm, graph: { pcs: [{ id: 1 }] } }), 400, 'NGAC_ERR_POLICY_FILE')
  t.same((await call(app, 'GET', '/v1/revision')).body, { revision: 1 })
})

t.test('GET /v1/changes', async (t) => {
  const app = await sample(t, { limits: { defaultPageSize: 2 } })
  await call(app, 'POST', '/v1/nodes', { name: 'eng', type: 'UA', parents: ['staff'] })
  await call(app, 'POST', '/v1/assignments', { child: 'bob', parent: 'eng' })
  let res = await call(app, 'GET', '/v1/changes')
  t.equal(res.status, 200)
  t.equal(res.body.changes.length, 2)
  t.equal(res.body.nextSince, 2)
  t.match(res.body.changes[0], { revision: 1, actor: null, operations: [{ op: 'replacePolicy' }] })
  t.same(res.body.changes[1].operations, [{ op: 'createNode', name: 'eng', type: 'UA', parents: ['staff'] }])
  t.ok(!Number.isNaN(Date.parse(res.body.changes[1].at)))
  res = await call(app, 'GET', `/v1/changes?since=${res.body.nextSince}`)
  t.same(res.body.changes.map((c: Json) => c.revision), [3])
  t.same(res.body.changes[0].operations, [{ op: 'assign', child: 'bob', parent: 'eng' }])
  t.equal(res.body.nextSince, undefined)
  t.same((await call(app, 'GET', '/v1/changes?since=3')).body, { changes: [] })
  t.same((await call(app, 'GET', '/v1/changes?since=1&limit=1')).body.changes.map((c: Json) => c.revision), [2])
  failed(t, await call(app, 'GET', '/v1/changes?since=-1'), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'GET', '/v1/changes?since=abc'), 400, 'NGAC_ERR_VALIDATION')
  failed(t, await call(app, 'GET', '/v1/changes?cursor=x'), 400, 'NGAC_ERR_VALIDATION')
})

t.test('the admin token guards every administration route', async (t) => {
  const token = 'a-very-secret-admin-token'
  const app = await build(t, { admin: { token } })
  const auth = { authorization: `Bearer ${token}` }
  const routes: [Method, string, unknown?][] = [
    ['GET', '/v1/revision'],
    ['GET', '/v1/nodes'],
    ['POST', '/v1/nodes', { name: 'RBAC', type: 'PC', parents: [] }],
    ['GET', '/v1/nodes/RBAC'],
    ['PATCH', '/v1/nodes/RBAC', { properties: {} }],
    ['DELETE', '/v1/nodes/RBAC'],
    ['GET', '/v1/assignments'],
    ['POST', '/v1/assignments', { child: 'a', parent: 'b' }],
    ['DELETE', '/v1/assignments?child=a&parent=b'],
    ['GET', '/v1/associations'],
    ['POST', '/v1/associations', { ua: 'a', target: 'b', rights: ['read'] }],
    ['DELETE', '/v1/associations?ua=a&target=b'],
    ['GET', '/v1/prohibitions'],
    ['GET', '/v1/prohibitions/p'],
    ['DELETE', '/v1/prohibitions/p'],
    ['POST', '/v1/prohibitions', { name: 'p', subject: 'a', rights: ['read'], intersection: true, containers: [{ name: 'b', complement: false }] }],
    ['GET', '/v1/resource-rights'],
    ['PUT', '/v1/resource-rights', { rights: [] }],
    ['POST', '/v1/batch', { operations: [{ op: 'deleteNode', name: 'x' }] }],
    ['GET', '/v1/policy'],
    ['PUT', '/v1/policy', SAMPLE_POLICY],
    ['GET', '/v1/changes']
  ]
  for (const [method, url, body] of routes) {
    failed(t, await call(app, method, url, body), 401, 'NGAC_ERR_UNAUTHORIZED')
    failed(t, await call(app, method, url, body, { authorization: 'Bearer wrong-token-wrong-token' }), 401, 'NGAC_ERR_UNAUTHORIZED')
    failed(t, await call(app, method, url, body, { authorization: token }), 401, 'NGAC_ERR_UNAUTHORIZED')
  }
  t.same((await call(app, 'GET', '/v1/revision', undefined, auth)).body, { revision: 0 }, 'nothing changed')
  let res = await call(app, 'POST', '/v1/nodes', { name: 'RBAC', type: 'PC', parents: [] }, auth)
  t.equal(res.status, 201)
  res = await call(app, 'GET', '/v1/changes', undefined, auth)
  t.equal(res.body.changes[0].actor, 'admin-token', 'the change records the token as its actor')
  // The token is checked before the body is read: an unauthenticated oversized or malformed body is still 401.
  failed(t, await call(app, 'POST', '/v1/nodes', '{', {}), 401, 'NGAC_ERR_UNAUTHORIZED')
  // Decisions are not administration.
  t.equal((await call(app, 'POST', '/v1/check', { user: 'alice', right: 'read', target: 'RBAC' })).status, 200)
})

t.test('a write is durable: reopening the SQLite file finds it', async (t) => {
  const db = join(tempDir(t), 'ngac.db')
  const app = await build(t, { db, admin: { token: 'token-of-sixteen-chars' } })
  const auth = { authorization: 'Bearer token-of-sixteen-chars' }
  t.equal((await call(app, 'PUT', '/v1/policy', SAMPLE_POLICY, auth)).status, 200)
  t.equal((await call(app, 'POST', '/v1/nodes', { name: 'a/b', type: 'O', parents: ['docs'], properties: { k: 'v' } }, auth)).status, 201)
  t.equal((await call(app, 'POST', '/v1/batch', { operations: [{ op: 'associate', ua: 'guests', target: 'a/b', rights: ['read'] }] }, auth)).status, 200)
  const exported = (await call(app, 'GET', '/v1/policy', undefined, auth)).body
  await app.close()

  const policy = openPolicy({ db })
  t.teardown(() => policy.close())
  t.equal(policy.revision, 3)
  t.same(policy.graph.node('a/b'), { name: 'a/b', type: 'O', properties: { k: 'v' } })
  t.same(policy.export(), exported)
  t.same(policy.changes(0).map((c) => [c.revision, c.actor]), [[1, 'admin-token'], [2, 'admin-token'], [3, 'admin-token']])
  t.same(policy.privileges({ user: 'bob', target: 'a/b' }), ['read'])
})

// Found by test/api/fuzz.test.ts: a name with an unpaired surrogate was acknowledged, then stored
// by SQLite as U+FFFD, so the node had another name after a restart; a node named __proto__ made
// GET /v1/lint fail with a 500 (graphology keys plain objects by name).
t.test('a name is what a restart reads back: unpaired surrogates and __proto__ are refused', async (t) => {
  const db = join(tempDir(t), 'ngac.db')
  const app = await build(t, { db })
  t.equal((await call(app, 'PUT', '/v1/policy', SAMPLE_POLICY)).status, 200)
  for (const name of ['a\ud800b', '\udfff']) {
    failed(t, await call(app, 'POST', '/v1/nodes', { name, type: 'O', parents: ['docs'] }), 400, 'NGAC_ERR_VALIDATION')
    failed(t, await call(app, 'POST', '/v1/batch', { operations: [{ op: 'createNode', name, type: 'O', parents: ['docs'] }] }), 400, 'NGAC_ERR_VALIDATION')
  }
  failed(t, await call(app, 'POST', '/v1/nodes', { name: '__proto__', type: 'O', parents: ['docs'] }), 400, 'NGAC_ERR_INVALID_NAME')
  failed(t, await call(app, 'PUT', '/v1/policy', { ...SAMPLE_POLICY, nodes: [...SAMPLE_POLICY.nodes, { name: 'x\ud800', type: 'PC' }] }), 400, 'NGAC_ERR_POLICY_FILE')
  for (const name of ['\u{1f680}\u{10ffff}', 'e\u0301', 'constructor']) {
    t.equal((await call(app, 'POST', '/v1/nodes', { name, type: 'O', parents: ['docs'] })).status, 201, JSON.stringify(name))
  }
  t.equal((await call(app, 'GET', '/v1/lint')).status, 200)
  const exported = (await call(app, 'GET', '/v1/policy')).body
  await app.close()
  const policy = openPolicy({ db })
  t.teardown(() => policy.close())
  t.same(policy.export(), exported, 'the names read back are the names written')
  t.equal(policy.revision, 4)
})

t.test('the OpenAPI document lists every administration route with a summary', async (t) => {
  const app = await build(t)
  const doc: Json = (await call(app, 'GET', '/openapi.json')).body
  const expected = [
    ['get', '/v1/revision'], ['post', '/v1/nodes'], ['get', '/v1/nodes'], ['get', '/v1/nodes/{name}'], ['patch', '/v1/nodes/{name}'],
    ['delete', '/v1/nodes/{name}'], ['post', '/v1/assignments'], ['delete', '/v1/assignments'], ['get', '/v1/assignments'],
    ['post', '/v1/associations'], ['delete', '/v1/associations'], ['get', '/v1/associations'], ['post', '/v1/prohibitions'],
    ['get', '/v1/prohibitions'], ['get', '/v1/prohibitions/{name}'], ['delete', '/v1/prohibitions/{name}'],
    ['get', '/v1/resource-rights'], ['put', '/v1/resource-rights'], ['post', '/v1/batch'], ['get', '/v1/policy'],
    ['put', '/v1/policy'], ['get', '/v1/changes']
  ]
  for (const [method, path] of expected) {
    const op = doc.paths?.[path]?.[method]
    t.ok(op, `${method} ${path}`)
    t.same(op?.tags, ['administration'])
    t.type(op?.summary, 'string')
    t.ok(Object.keys(op?.responses ?? {}).some((s) => s.startsWith('2')), 'a success response')
    t.ok(op?.responses?.['401'], '401 documented')
  }
})
