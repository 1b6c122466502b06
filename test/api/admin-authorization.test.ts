// Administration governed by the graph, over HTTP with real tokens (examples/tenants): every
// operation kind allowed inside a tenant and refused without either end's right, batches, the
// super token, escalation attempts, filtered reads, review queries, the changelog's audit.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import { build, ERROR_BODY_KEYS } from './helper.js'

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const EXAMPLE = join(import.meta.dirname, '..', '..', 'examples', 'tenants')
const POLICY = JSON.parse(readFileSync(join(EXAMPLE, 'policy.json'), 'utf8')) as Json
const CONFIG = JSON.parse(readFileSync(join(EXAMPLE, 'ngac.json'), 'utf8')) as Json
const ROOT = 'root-bootstrap-token-change-me'
const ACME = 'acme-admin-token-change-me'
const GLOBEX = 'globex-admin-token-change-me'

interface Reply { status: number, body: Json }

async function call (app: App, token: string | undefined, method: Method, url: string, body?: unknown): Promise<Reply> {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` }
  const res = await app.inject({
    method,
    url,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) })
  })
  return { status: res.statusCode, body: res.body === '' ? undefined : JSON.parse(res.body) }
}

function failed (t: Test, res: Reply, status: number, code: string, details?: Record<string, unknown>): void {
  t.equal(res.status, status, `status ${status} (${code})`)
  t.equal(res.body?.code, code)
  t.ok(Object.keys(res.body ?? {}).every((k) => ERROR_BODY_KEYS.includes(k)), 'only code, message, details')
  if (details !== undefined) {
    t.same(res.body?.details, details)
    if (typeof details.right === 'string') t.match(res.body?.message, details.right, 'the message names the right')
    if (typeof details.node === 'string') t.match(res.body?.message, details.node, 'the message names the node')
    t.match(res.body?.message, `operations[${String(details.index)}]`, 'and the operation index')
  }
}

/** The tenants example, served with its config (in memory), loaded by the super token; warn lines collected. */
async function tenants (t: Test): Promise<{ app: App, warnings: Json[] }> {
  const warnings: Json[] = []
  const stream = { write: (line: string) => { const entry = JSON.parse(line); if (entry.level === 40) warnings.push(entry) } }
  const app = await build(t, { admin: CONFIG.admin, logLevel: 'warn' }, { logger: { level: 'warn', stream } })
  t.equal((await call(app, ROOT, 'PUT', '/v1/policy', POLICY)).status, 200)
  return { app, warnings }
}

interface Kind { name: string, setup?: unknown[], allowed: [Method, string, unknown?], first: [Method, string, unknown?, Json?], second?: [Method, string, unknown?, Json?] }
const KINDS: readonly Kind[] = [
  {
    name: 'createNode',
    allowed: ['POST', '/v1/nodes', { name: 'bob', type: 'U', parents: ['acme-users'] }],
    first: ['POST', '/v1/nodes', { name: 'eve', type: 'U', parents: ['globex-users'] }, { op: 'createNode', right: 'create', node: 'globex-users' }],
    second: ['POST', '/v1/nodes', { name: 'eve', type: 'U', parents: ['acme-users', 'globex-users'] }, { op: 'createNode', right: 'create', node: 'globex-users' }]
  },
  {
    name: 'setProperties',
    allowed: ['PATCH', '/v1/nodes/alice', { properties: { team: 'sales' } }],
    first: ['PATCH', '/v1/nodes/gus', { properties: { team: 'x' } }, { op: 'setProperties', right: 'update', node: 'gus' }]
  },
  {
    name: 'assign',
    allowed: ['POST', '/v1/assignments', { child: 'acme-plan', parent: 'acme-archive' }],
    first: ['POST', '/v1/assignments', { child: 'globex-roadmap', parent: 'acme-archive' }, { op: 'assign', right: 'assign', node: 'globex-roadmap' }],
    second: ['POST', '/v1/assignments', { child: 'acme-plan', parent: 'globex-archive' }, { op: 'assign', right: 'assign_to', node: 'globex-archive' }]
  },
  {
    name: 'deassign',
    // Assigned into acme, a node is in acme's scope (containment grants): globex-secret stays out
    // of it because it is also in a policy class where acme holds nothing.
    setup: [{ op: 'assign', child: 'globex-secret', parent: 'acme-archive' }, { op: 'assign', child: 'acme-plan', parent: 'globex-archive' }],
    allowed: ['DELETE', '/v1/assignments?child=acme-plan&parent=acme-archive'],
    first: ['DELETE', '/v1/assignments?child=globex-secret&parent=acme-archive', undefined, { op: 'deassign', right: 'deassign', node: 'globex-secret' }],
    second: ['DELETE', '/v1/assignments?child=acme-plan&parent=globex-archive', undefined, { op: 'deassign', right: 'deassign_from', node: 'globex-archive' }]
  },
  {
    name: 'associate',
    allowed: ['POST', '/v1/associations', { ua: 'acme-users', target: 'acme-archive', rights: ['write'] }],
    first: ['POST', '/v1/associations', { ua: 'globex-users', target: 'acme-docs', rights: ['read'] }, { op: 'associate', right: 'associate', node: 'globex-users' }],
    second: ['POST', '/v1/associations', { ua: 'acme-users', target: 'globex-docs', rights: ['read'] }, { op: 'associate', right: 'associate_to', node: 'globex-docs' }]
  },
  {
    name: 'dissociate',
    setup: [{ op: 'associate', ua: 'globex-users', target: 'acme-archive', rights: ['read'] }, { op: 'associate', ua: 'acme-users', target: 'globex-archive', rights: ['read'] }],
    allowed: ['DELETE', '/v1/associations?ua=acme-users&target=acme-archive'],
    first: ['DELETE', '/v1/associations?ua=globex-users&target=acme-archive', undefined, { op: 'dissociate', right: 'dissociate', node: 'globex-users' }],
    second: ['DELETE', '/v1/associations?ua=acme-users&target=globex-archive', undefined, { op: 'dissociate', right: 'dissociate_from', node: 'globex-archive' }]
  },
  {
    name: 'createProhibition',
    allowed: ['POST', '/v1/prohibitions', { name: 'no-plan', subject: 'alice', rights: ['read'], intersection: true, containers: [{ name: 'acme-plan', complement: false }] }],
    first: ['POST', '/v1/prohibitions', { name: 'p', subject: 'gus', rights: ['read'], intersection: true, containers: [{ name: 'acme-docs', complement: false }] }, { op: 'createProhibition', right: 'prohibit', node: 'gus' }],
    second: ['POST', '/v1/prohibitions', { name: 'p', subject: 'alice', rights: ['read'], intersection: true, containers: [{ name: 'globex-docs', complement: false }] }, { op: 'createProhibition', right: 'prohibit', node: 'globex-docs' }]
  },
  {
    name: 'deleteProhibition',
    setup: [
      { op: 'createProhibition', name: 'theirs', subject: 'gus', rights: ['read'], intersection: true, containers: [{ name: 'acme-docs', complement: false }] },
      { op: 'createProhibition', name: 'mixed', subject: 'alice', rights: ['read'], intersection: true, containers: [{ name: 'globex-docs', complement: false }] }
    ],
    allowed: ['DELETE', '/v1/prohibitions/no-plan'],
    first: ['DELETE', '/v1/prohibitions/theirs', undefined, { op: 'deleteProhibition', right: 'prohibit', node: 'gus' }],
    second: ['DELETE', '/v1/prohibitions/mixed', undefined, { op: 'deleteProhibition', right: 'prohibit', node: 'globex-docs' }]
  },
  {
    name: 'deleteNode',
    allowed: ['DELETE', '/v1/nodes/bob'],
    first: ['DELETE', '/v1/nodes/globex-roadmap', undefined, { op: 'deleteNode', right: 'delete', node: 'globex-roadmap' }]
  },
  {
    name: 'setResourceRights',
    allowed: ['PUT', '/v1/resource-rights', { rights: ['read', 'write', 'print'] }],
    first: ['PUT', '/v1/resource-rights', { rights: ['read'] }, { op: 'setResourceRights', right: 'update', node: 'ngac:admin:policy' }]
  }
]

/** What the super token sets up before the kinds run: material outside acme, and each kind's setup. */
const MATERIAL = [
  { op: 'createNode', name: 'acme-archive', type: 'OA', parents: ['acme-docs'] },
  { op: 'createNode', name: 'globex-archive', type: 'OA', parents: ['globex-docs'] },
  { op: 'createNode', name: 'vault', type: 'PC', parents: [] },
  { op: 'createNode', name: 'vault-docs', type: 'OA', parents: ['vault'] },
  { op: 'createNode', name: 'globex-secret', type: 'O', parents: ['globex-docs', 'vault-docs'] }
]

async function revision (app: App): Promise<number> {
  return (await call(app, ROOT, 'GET', '/v1/revision')).body.revision
}

t.test('every operation kind over HTTP: inside the tenant allowed, either end outside refused, nothing applied', async (t) => {
  const { app } = await tenants(t)
  const su = (method: Method, url: string, body?: unknown): Promise<Reply> => call(app, ROOT, method, url, body)
  t.equal((await su('POST', '/v1/batch', { operations: MATERIAL })).status, 200)
  const kinds = KINDS
  for (const kind of kinds) {
    if (kind.setup !== undefined) t.equal((await su('POST', '/v1/batch', { operations: kind.setup })).status, 200, `${kind.name}: setup`)
    for (const refused of [kind.first, kind.second]) {
      if (refused === undefined) continue
      const [method, url, body, details] = refused
      const before = await revision(app)
      failed(t, await call(app, ACME, method, url, body), 403, 'NGAC_ERR_FORBIDDEN', { index: 0, ...details })
      t.equal(await revision(app), before, `${kind.name}: refused, nothing applied`)
    }
    if (kind.name === 'setResourceRights') {
      // Policy-wide rights are delegated on the reserved attribute, by the super token.
      t.equal((await su('POST', '/v1/associations', { ua: 'acme-admins', target: 'ngac:admin:policy', rights: ['update'] })).status, 201)
    }
    const before = await revision(app)
    const [method, url, body] = kind.allowed
    const res = await call(app, ACME, method, url, body)
    t.ok(res.status === 200 || res.status === 201, `${kind.name}: allowed inside the tenant (${res.status} ${JSON.stringify(res.body)})`)
    t.equal(res.body.revision, before + 1)
  }

  // Inside a batch: the allowed operation first, a refused one second; nothing applied.
  const before = await revision(app)
  for (const kind of kinds) {
    const [, , body, details] = kind.second ?? kind.first
    const op = { ...(body as object), op: details.op }
    // Those whose fields are in the URL are listed below; acme holds `update` on the policy by now.
    if (['deassign', 'dissociate', 'deleteNode', 'deleteProhibition', 'setProperties', 'setResourceRights'].includes(details.op)) continue
    const res = await call(app, ACME, 'POST', '/v1/batch', { operations: [{ op: 'createNode', name: 'first', type: 'O', parents: ['acme-docs'] }, op] })
    failed(t, res, 403, 'NGAC_ERR_FORBIDDEN', { index: 1, ...details })
  }
  for (const [op, details] of [
    [{ op: 'deassign', child: 'globex-secret', parent: 'acme-archive' }, { op: 'deassign', right: 'deassign', node: 'globex-secret' }],
    [{ op: 'dissociate', ua: 'globex-users', target: 'acme-archive' }, { op: 'dissociate', right: 'dissociate', node: 'globex-users' }],
    [{ op: 'deleteNode', name: 'globex-roadmap' }, { op: 'deleteNode', right: 'delete', node: 'globex-roadmap' }],
    [{ op: 'deleteProhibition', name: 'theirs' }, { op: 'deleteProhibition', right: 'prohibit', node: 'gus' }],
    [{ op: 'setProperties', name: 'gus', properties: {} }, { op: 'setProperties', right: 'update', node: 'gus' }]
  ] as const) {
    failed(t, await call(app, ACME, 'POST', '/v1/batch', { operations: [{ op: 'createNode', name: 'first', type: 'O', parents: ['acme-docs'] }, op] }), 403, 'NGAC_ERR_FORBIDDEN', { index: 1, ...details })
  }
  failed(t, await call(app, GLOBEX, 'POST', '/v1/batch', { operations: [{ op: 'createNode', name: 'first', type: 'O', parents: ['globex-docs'] }, { op: 'setResourceRights', rights: ['read'] }] }),
    403, 'NGAC_ERR_FORBIDDEN', { index: 1, op: 'setResourceRights', right: 'update', node: 'ngac:admin:policy' })
  t.equal(await revision(app), before, 'no refused batch applied anything')
  failed(t, await su('GET', '/v1/nodes/first'), 404, 'NGAC_ERR_NODE_NOT_FOUND')
})

t.test('the super token: every operation kind, unchecked (its user is not even a node)', async (t) => {
  const { app } = await tenants(t)
  const setup = [...MATERIAL, ...KINDS.flatMap((k) => k.setup ?? [])]
  t.equal((await call(app, ROOT, 'POST', '/v1/batch', { operations: setup })).status, 200)
  for (const kind of KINDS) {
    const before = await revision(app)
    const [method, url, body] = kind.allowed
    const res = await call(app, ROOT, method, url, body)
    t.ok(res.status === 200 || res.status === 201, `super: ${kind.name} (${res.status} ${JSON.stringify(res.body)})`)
    t.equal(res.body.revision, before + 1)
  }
  // Outside every tenant and on reserved nodes too.
  t.equal((await call(app, ROOT, 'DELETE', '/v1/nodes/globex-roadmap')).status, 200)
  t.equal((await call(app, ROOT, 'PATCH', '/v1/nodes/ngac:admin:policy', { properties: { note: 'root only' } })).status, 200)
  t.equal((await call(app, ROOT, 'POST', '/v1/nodes', { name: 'acme-pc', type: 'PC', parents: [] })).status, 201)
})

t.test('a batch builds inside the tenant: nodes created earlier in it are then granted on and filled', async (t) => {
  const { app } = await tenants(t)
  const res = await call(app, ACME, 'POST', '/v1/batch', {
    operations: [
      { op: 'createNode', name: 'acme-sales', type: 'UA', parents: ['acme-users'] },
      { op: 'createNode', name: 'acme-contracts', type: 'OA', parents: ['acme-docs'] },
      { op: 'associate', ua: 'acme-sales', target: 'acme-contracts', rights: ['read', 'write'] },
      { op: 'createNode', name: 'carol', type: 'U', parents: ['acme-sales'] },
      { op: 'createNode', name: 'contract-1', type: 'O', parents: ['acme-contracts'] }
    ]
  })
  t.equal(res.status, 200)
  t.same((await call(app, undefined, 'POST', '/v1/check', { user: 'carol', right: 'write', target: 'contract-1' })).body.allowed, true)
})

t.test('escalation: a tenant admin stays inside the tenant', async (t) => {
  const { app } = await tenants(t)
  const before = await revision(app)
  // Into the other tenant's attributes: not themselves, not their UA, not their users.
  failed(t, await call(app, ACME, 'POST', '/v1/assignments', { child: 'acme-admin', parent: 'globex-admins' }), 403, 'NGAC_ERR_FORBIDDEN',
    { index: 0, op: 'assign', right: 'assign', node: 'acme-admin' })
  failed(t, await call(app, ACME, 'POST', '/v1/assignments', { child: 'acme-admins', parent: 'globex-users' }), 403, 'NGAC_ERR_FORBIDDEN',
    { index: 0, op: 'assign', right: 'assign', node: 'acme-admins' })
  failed(t, await call(app, ACME, 'POST', '/v1/assignments', { child: 'alice', parent: 'globex-users' }), 403, 'NGAC_ERR_FORBIDDEN',
    { index: 0, op: 'assign', right: 'assign_to', node: 'globex-users' })
  // Their own admins attribute is not theirs to grow either.
  failed(t, await call(app, ACME, 'POST', '/v1/assignments', { child: 'alice', parent: 'acme-admins' }), 403, 'NGAC_ERR_FORBIDDEN',
    { index: 0, op: 'assign', right: 'assign_to', node: 'acme-admins' })
  // Rights on containers they do not control.
  failed(t, await call(app, ACME, 'POST', '/v1/associations', { ua: 'acme-users', target: 'globex-docs', rights: ['read'] }), 403, 'NGAC_ERR_FORBIDDEN',
    { index: 0, op: 'associate', right: 'associate_to', node: 'globex-docs' })
  failed(t, await call(app, ACME, 'POST', '/v1/associations', { ua: 'acme-users', target: 'ngac:admin:policy', rights: ['*'] }), 403, 'NGAC_ERR_FORBIDDEN',
    { index: 0, op: 'associate', right: 'associate_to', node: 'ngac:admin:policy' })
  // Prohibitions on others.
  failed(t, await call(app, ACME, 'POST', '/v1/prohibitions', { name: 'lockout', subject: 'globex-admin', rights: ['*'], intersection: false, containers: [{ name: 'acme-docs', complement: true }] }),
    403, 'NGAC_ERR_FORBIDDEN', { index: 0, op: 'createProhibition', right: 'prohibit', node: 'globex-admin' })
  failed(t, await call(app, ACME, 'POST', '/v1/prohibitions', { name: 'lockout', subject: { process: '1' }, rights: ['read'], intersection: true, containers: [{ name: 'acme-docs', complement: false }] }),
    403, 'NGAC_ERR_FORBIDDEN', { index: 0, op: 'createProhibition', right: 'prohibit', node: 'ngac:admin:policy' })
  // A policy class of their own, or the whole policy.
  failed(t, await call(app, ACME, 'POST', '/v1/nodes', { name: 'acme-pc', type: 'PC', parents: [] }), 403, 'NGAC_ERR_FORBIDDEN',
    { index: 0, op: 'createNode', right: 'create', node: 'ngac:admin:policy' })
  failed(t, await call(app, ACME, 'POST', '/v1/nodes', { name: 'acme-top', type: 'OA', parents: ['tenants'] }), 403, 'NGAC_ERR_FORBIDDEN',
    { index: 0, op: 'createNode', right: 'create', node: 'ngac:admin:policy' })
  failed(t, await call(app, ACME, 'PUT', '/v1/policy', POLICY), 403, 'NGAC_ERR_FORBIDDEN')
  // Reserved nodes: not deleted, reassigned, renamed or created, whatever rights.
  failed(t, await call(app, ACME, 'DELETE', '/v1/nodes/ngac:admin:policy'), 403, 'NGAC_ERR_RESERVED_NAME')
  failed(t, await call(app, ACME, 'DELETE', '/v1/nodes/ngac:admin'), 403, 'NGAC_ERR_RESERVED_NAME')
  failed(t, await call(app, ACME, 'POST', '/v1/assignments', { child: 'ngac:admin:policy', parent: 'acme-docs' }), 403, 'NGAC_ERR_RESERVED_NAME')
  failed(t, await call(app, ACME, 'DELETE', '/v1/assignments?child=ngac:admin:policy&parent=ngac:admin'), 403, 'NGAC_ERR_RESERVED_NAME')
  failed(t, await call(app, ACME, 'PATCH', '/v1/nodes/ngac:admin:policy', { properties: { owner: 'acme' } }), 403, 'NGAC_ERR_RESERVED_NAME')
  failed(t, await call(app, ACME, 'POST', '/v1/nodes', { name: 'ngac:acme', type: 'OA', parents: ['acme-docs'] }), 403, 'NGAC_ERR_RESERVED_NAME')
  t.equal(await revision(app), before, 'no attempt changed anything')
  // Even the other tenant's admin with every right there cannot touch acme.
  failed(t, await call(app, GLOBEX, 'DELETE', '/v1/nodes/acme-plan'), 403, 'NGAC_ERR_FORBIDDEN', { index: 0, op: 'deleteNode', right: 'delete', node: 'acme-plan' })
})

t.test('reads: listings show only what the caller may query; review queries about others need query', async (t) => {
  const { app } = await tenants(t)
  await call(app, ROOT, 'POST', '/v1/prohibitions', { name: 'gus-no-roadmap', subject: 'gus', rights: ['read'], intersection: true, containers: [{ name: 'globex-roadmap', complement: false }] })
  const names = (await call(app, ACME, 'GET', '/v1/nodes')).body.nodes.map((n: Json) => n.name)
  t.same(names, ['acme-users', 'alice', 'acme-docs', 'acme-plan'], 'acme sees acme only (not the other tenant, the policy classes or the reserved nodes)')
  t.ok((await call(app, ROOT, 'GET', '/v1/nodes')).body.nodes.length > 12, 'super sees everything')
  // Paging still works over the filtered list.
  const page1 = (await call(app, ACME, 'GET', '/v1/nodes?limit=3')).body
  t.same(page1.nodes.map((n: Json) => n.name), ['acme-users', 'alice', 'acme-docs'])
  const page2 = (await call(app, ACME, 'GET', `/v1/nodes?limit=3&cursor=${page1.nextCursor}`)).body
  t.same(page2.nodes.map((n: Json) => n.name), ['acme-plan'])
  t.same((await call(app, ACME, 'GET', '/v1/nodes?type=U')).body.nodes.map((n: Json) => n.name), ['alice'])

  failed(t, await call(app, ACME, 'GET', '/v1/nodes/globex-docs'), 403, 'NGAC_ERR_FORBIDDEN')
  const alice = (await call(app, ACME, 'GET', '/v1/nodes/alice')).body
  t.same(alice.parents, ['acme-users'])
  t.same((await call(app, ACME, 'GET', '/v1/nodes/acme-users')).body.parents, [], 'the policy class parent is not shown')

  t.same((await call(app, ACME, 'GET', '/v1/assignments')).body.assignments, [['alice', 'acme-users'], ['acme-plan', 'acme-docs']])
  t.same((await call(app, ACME, 'GET', '/v1/assignments?parent=acme-docs')).body.assignments, [['acme-plan', 'acme-docs']])
  failed(t, await call(app, ACME, 'GET', '/v1/assignments?parent=globex-docs'), 403, 'NGAC_ERR_FORBIDDEN')
  t.same((await call(app, ACME, 'GET', '/v1/associations')).body.associations, [{ ua: 'acme-users', target: 'acme-docs', rights: ['read'] }],
    'associations with both ends visible (not those of acme-admins, which acme-admin may not query)')
  failed(t, await call(app, ACME, 'GET', '/v1/associations?target=globex-docs'), 403, 'NGAC_ERR_FORBIDDEN')
  t.same((await call(app, ACME, 'GET', '/v1/prohibitions')).body.prohibitions, [])
  t.equal((await call(app, GLOBEX, 'GET', '/v1/prohibitions')).body.prohibitions.length, 1)
  failed(t, await call(app, ACME, 'GET', '/v1/prohibitions/gus-no-roadmap'), 403, 'NGAC_ERR_FORBIDDEN')
  // The whole policy, its changelog and its lint report cover every tenant.
  for (const url of ['/v1/policy', '/v1/changes', '/v1/lint']) {
    failed(t, await call(app, ACME, 'GET', url), 403, 'NGAC_ERR_FORBIDDEN')
    t.equal((await call(app, ROOT, 'GET', url)).status, 200, `${url}: super`)
  }

  // Review queries: about oneself, or with query on the user (acl: on the target).
  t.equal((await call(app, ACME, 'GET', '/v1/capabilities?user=alice')).status, 200)
  t.equal((await call(app, ACME, 'GET', '/v1/capabilities?user=acme-admin')).status, 200, 'about oneself')
  failed(t, await call(app, ACME, 'GET', '/v1/capabilities?user=gus'), 403, 'NGAC_ERR_FORBIDDEN')
  failed(t, await call(app, ACME, 'GET', '/v1/privileges?user=gus&target=acme-plan'), 403, 'NGAC_ERR_FORBIDDEN')
  failed(t, await call(app, ACME, 'GET', '/v1/capabilities?userAttributes=globex-users'), 403, 'NGAC_ERR_FORBIDDEN')
  failed(t, await call(app, ACME, 'POST', '/v1/explain', { user: 'gus', target: 'globex-roadmap' }), 403, 'NGAC_ERR_FORBIDDEN')
  t.equal((await call(app, ACME, 'POST', '/v1/explain', { user: 'alice', target: 'acme-plan' })).status, 200)
  failed(t, await call(app, ACME, 'GET', '/v1/acl?target=globex-roadmap'), 403, 'NGAC_ERR_FORBIDDEN')
  t.same((await call(app, ACME, 'GET', '/v1/acl?target=acme-plan')).body.acl.map((e: Json) => e.user), ['acme-admin', 'alice'])
  t.equal((await call(app, GLOBEX, 'GET', '/v1/capabilities?user=gus')).status, 200)
  t.equal((await call(app, ROOT, 'GET', '/v1/capabilities?user=gus')).status, 200, 'super')
  failed(t, await call(app, 'wrong-token-wrong-token', 'GET', '/v1/capabilities?user=gus'), 401, 'NGAC_ERR_UNAUTHORIZED')
  // Without a token the decision routes are open (PEPs), and /v1/check never asks.
  t.equal((await call(app, undefined, 'GET', '/v1/capabilities?user=gus')).status, 200)
  t.equal((await call(app, ACME, 'POST', '/v1/check', { user: 'gus', right: 'read', target: 'globex-roadmap' })).status, 200)
})

t.test('tokens: unknown ones 401, only digests kept, super use logged, the changelog names each caller', async (t) => {
  const { app, warnings } = await tenants(t)
  for (const header of [undefined, 'Bearer wrong-token-wrong-token', `Bearer ${ACME}x`, `Bearer ${ACME.slice(0, -1)}`, ACME, `bearer ${ACME}`]) {
    const res = await app.inject({ method: 'GET', url: '/v1/nodes', headers: header === undefined ? {} : { authorization: header } })
    t.equal(res.statusCode, 401, `refused: ${header ?? 'no header'}`)
    t.equal(JSON.parse(res.body).code, 'NGAC_ERR_UNAUTHORIZED')
  }
  // No plaintext token anywhere in the config the app holds, nor in what its callers expose.
  const seen = new Set<unknown>()
  const strings: string[] = []
  const walk = (value: unknown): void => {
    if (typeof value === 'string') strings.push(value)
    if (value === null || typeof value !== 'object' || seen.has(value)) return
    seen.add(value)
    for (const v of Object.values(value)) walk(v)
  }
  walk(app.config)
  walk(app.adminCallers)
  t.ok(Object.isFrozen(app.config.admin) && Object.isFrozen(app.config.admin.tokens[0]), 'frozen')
  for (const token of [ROOT, ACME, GLOBEX]) t.notOk(strings.some((s) => s.includes(token)), 'no plaintext token is reachable')
  t.same(Object.keys(app.config.admin.tokens[0]).sort(), ['super', 'tokenSha256', 'user'])

  const start = warnings.length
  await call(app, ROOT, 'POST', '/v1/nodes', { name: 'bootstrap', type: 'OA', parents: ['acme-docs'] })
  await call(app, ACME, 'POST', '/v1/nodes', { name: 'bob', type: 'U', parents: ['acme-users'] })
  const used = warnings.slice(start).filter((w) => w.msg === 'super token used')
  t.equal(used.length, 1, 'one warning per super request, none for others')
  t.same({ route: used[0].route, user: used[0].user }, { route: 'POST /v1/nodes', user: 'root' })
  t.ok(warnings.some((w) => w.msg === 'super token used' && w.route === 'PUT /v1/policy'), 'the bootstrap load was logged too')

  const changes = (await call(app, ROOT, 'GET', '/v1/changes')).body.changes
  t.same(changes.map((c: Json) => c.actor), ['ngac', 'root', 'root', 'acme-admin'], 'reserved nodes by ngac, then each caller')
})

t.test('GET /v1/changes filters by actor, node and time', async (t) => {
  const { app } = await tenants(t)
  await call(app, ACME, 'POST', '/v1/nodes', { name: 'bob', type: 'U', parents: ['acme-users'] })
  await call(app, GLOBEX, 'POST', '/v1/nodes', { name: 'gina', type: 'U', parents: ['globex-users'] })
  await call(app, ACME, 'POST', '/v1/associations', { ua: 'acme-users', target: 'acme-plan', rights: ['write'] })
  await call(app, ACME, 'POST', '/v1/prohibitions', { name: 'acme-users', subject: 'bob', rights: ['write'], intersection: true, containers: [{ name: 'acme-plan', complement: false }] })
  const get = async (query: string): Promise<Json> => (await call(app, ROOT, 'GET', `/v1/changes?${query}`)).body
  const revisions = (body: Json): number[] => body.changes.map((c: Json) => c.revision)
  // 1 reserved nodes (ngac), 2 the example (root), 3 bob, 4 gina, 5 an association, 6 a prohibition named like a node.
  t.same(revisions(await get('actor=acme-admin')), [3, 5, 6])
  t.same(revisions(await get('actor=globex-admin')), [4])
  t.same(revisions(await get('node=bob')), [3, 6], 'created, then a prohibition subject')
  t.same(revisions(await get('node=acme-users')), [3, 5], 'a user created under it, its association; not the prohibition named like it')
  t.same(revisions(await get('node=acme-plan&actor=acme-admin')), [5, 6])
  t.same(revisions(await get('actor=acme-admin&limit=2')), [3, 5])
  t.equal((await get('actor=acme-admin&limit=2')).nextSince, 5)
  t.same(revisions(await get('actor=acme-admin&since=5')), [6])
  const all = (await get('')).changes
  t.same(revisions(await get(`from=${encodeURIComponent(all[3].at)}&actor=globex-admin`)), [4])
  t.same(revisions(await get('to=2000-01-01T00:00:00Z')), [])
  t.same(revisions(await get('from=2000-01-01')), [1, 2, 3, 4, 5, 6])
  failed(t, await call(app, ROOT, 'GET', '/v1/changes?from=yesterday'), 400, 'NGAC_ERR_VALIDATION')
})
