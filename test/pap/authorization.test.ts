// Administration governed by the graph (src/pap/authorization.ts) through the library: every
// operation kind with its rights on both ends, batches checked as they proceed, reserved names.
import t from 'tap'
import type { Operation, PolicyDocument } from '../../src/graph/index.js'
import { ADMIN_PC, ADMIN_POLICY_OA, adminNodeOperations, isReservedName, requiredRights, reservedNodeOf } from '../../src/pap/index.js'
import { openPolicy, type Policy } from '../../src/policy.js'
import { PolicyGraph } from '../../src/graph/index.js'

/** tester (in testers) is the caller; everything else is material to change. */
const BASE: PolicyDocument = {
  resourceRights: ['read', 'write'],
  nodes: [
    { name: 'P', type: 'PC' },
    { name: 'testers', type: 'UA' }, { name: 'tester', type: 'U' },
    { name: 'ua1', type: 'UA' }, { name: 'ua2', type: 'UA' }, { name: 'u1', type: 'U' },
    { name: 'oa1', type: 'OA' }, { name: 'oa2', type: 'OA' }, { name: 'o1', type: 'O' }, { name: 'spare', type: 'OA' }
  ],
  assignments: [
    ['testers', 'P'], ['tester', 'testers'], ['ua1', 'P'], ['ua2', 'P'], ['u1', 'ua1'],
    ['oa1', 'P'], ['oa2', 'P'], ['o1', 'oa1'], ['spare', 'P']
  ],
  associations: [],
  prohibitions: []
}

interface End { readonly right: string, readonly node: string, readonly grantOn?: string }
interface Case { readonly name: string, readonly setup?: Operation[], readonly op: Operation, readonly ends: readonly End[] }

const PROHIBITION = { name: 'p1', subject: 'u1', rights: ['read'], intersection: false, containers: [{ name: 'oa1', complement: false }, { name: 'oa2', complement: true }] }

const CASES: readonly Case[] = [
  { name: 'createNode', op: { op: 'createNode', name: 'n', type: 'OA', parents: ['oa1', 'oa2'] }, ends: [{ right: 'create', node: 'oa1' }, { right: 'create', node: 'oa2' }] },
  { name: 'createNode of a policy class', op: { op: 'createNode', name: 'P2', type: 'PC', parents: [] }, ends: [{ right: 'create', node: ADMIN_POLICY_OA }] },
  { name: 'createNode under a policy class', op: { op: 'createNode', name: 'n', type: 'UA', parents: ['P', 'ua1'] }, ends: [{ right: 'create', node: ADMIN_POLICY_OA }, { right: 'create', node: 'ua1' }] },
  // o1 itself cannot be an association target and be deleted, so the right is granted on its container.
  { name: 'deleteNode', op: { op: 'deleteNode', name: 'o1' }, ends: [{ right: 'delete', node: 'o1', grantOn: 'oa1' }] },
  { name: 'deleteNode of a policy class', setup: [{ op: 'createNode', name: 'P2', type: 'PC', parents: [] }], op: { op: 'deleteNode', name: 'P2' }, ends: [{ right: 'delete', node: ADMIN_POLICY_OA }] },
  { name: 'setProperties', op: { op: 'setProperties', name: 'o1', properties: { k: 'v' } }, ends: [{ right: 'update', node: 'o1' }] },
  { name: 'assign', op: { op: 'assign', child: 'o1', parent: 'oa2' }, ends: [{ right: 'assign', node: 'o1' }, { right: 'assign_to', node: 'oa2' }] },
  { name: 'assign to a policy class', op: { op: 'assign', child: 'ua2', parent: 'P2' }, setup: [{ op: 'createNode', name: 'P2', type: 'PC', parents: [] }], ends: [{ right: 'assign', node: 'ua2' }, { right: 'assign_to', node: ADMIN_POLICY_OA }] },
  { name: 'deassign', setup: [{ op: 'assign', child: 'o1', parent: 'oa2' }], op: { op: 'deassign', child: 'o1', parent: 'oa2' }, ends: [{ right: 'deassign', node: 'o1' }, { right: 'deassign_from', node: 'oa2' }] },
  { name: 'associate', op: { op: 'associate', ua: 'ua1', target: 'oa1', rights: ['read'] }, ends: [{ right: 'associate', node: 'ua1' }, { right: 'associate_to', node: 'oa1' }] },
  { name: 'dissociate', setup: [{ op: 'associate', ua: 'ua1', target: 'oa1', rights: ['read'] }], op: { op: 'dissociate', ua: 'ua1', target: 'oa1' }, ends: [{ right: 'dissociate', node: 'ua1' }, { right: 'dissociate_from', node: 'oa1' }] },
  { name: 'createProhibition', op: { op: 'createProhibition', ...PROHIBITION }, ends: [{ right: 'prohibit', node: 'u1', grantOn: 'ua1' }, { right: 'prohibit', node: 'oa1' }, { right: 'prohibit', node: 'oa2' }] },
  {
    name: 'createProhibition of a process',
    op: { op: 'createProhibition', ...PROHIBITION, subject: { process: '42' } },
    ends: [{ right: 'prohibit', node: ADMIN_POLICY_OA }, { right: 'prohibit', node: 'oa1' }, { right: 'prohibit', node: 'oa2' }]
  },
  { name: 'deleteProhibition', setup: [{ op: 'createProhibition', ...PROHIBITION }], op: { op: 'deleteProhibition', name: 'p1' }, ends: [{ right: 'prohibit', node: 'u1', grantOn: 'ua1' }, { right: 'prohibit', node: 'oa1' }, { right: 'prohibit', node: 'oa2' }] },
  { name: 'setResourceRights', op: { op: 'setResourceRights', rights: ['read', 'write', 'print'] }, ends: [{ right: 'update', node: ADMIN_POLICY_OA }] }
]

// A user cannot be an association target: rights on u1 are granted on its attribute ua1.
/** A governed policy with the case's setup and grants made unchecked (as a super token would). */
function prepare (c: Case, grants: readonly End[]): Policy {
  const policy = openPolicy({ db: ':memory:', policy: BASE })
  policy.governAdministration()
  if (c.setup !== undefined) policy.apply(c.setup, { actor: 'root' })
  const byNode = new Map<string, string[]>()
  for (const g of grants) {
    const at = g.grantOn ?? g.node
    byNode.set(at, [...(byNode.get(at) ?? []), g.right])
  }
  // `create` on spare lets a batch start with a harmless operation.
  byNode.set('spare', [...(byNode.get('spare') ?? []), 'create'])
  policy.apply([...byNode].map(([target, rights]) => ({ op: 'associate', ua: 'testers', target, rights })), { actor: 'root' })
  return policy
}

function refusal (fn: () => unknown): { code?: string, details?: Record<string, unknown>, message?: string } {
  try {
    fn()
  } catch (err) {
    return err as { code?: string, details?: Record<string, unknown>, message?: string }
  }
  return {}
}

for (const c of CASES) {
  t.test(`${c.name}: allowed with every end's right, refused without any one of them, in a batch too; super is unchecked`, async (t) => {
    const allowed = prepare(c, c.ends)
    t.teardown(() => allowed.close())
    const before = allowed.revision
    t.same(allowed.apply([c.op], { actor: 'tester', authorize: true }), { revision: before + 1 }, 'allowed')
    t.equal(allowed.changes(before, 10)[0].actor, 'tester', 'the changelog names the caller')

    for (let i = 0; i < c.ends.length; i++) {
      const end = c.ends[i]
      const policy = prepare(c, c.ends.filter((_, j) => j !== i))
      t.teardown(() => policy.close())
      const revision = policy.revision
      const err = refusal(() => policy.apply([c.op], { actor: 'tester', authorize: true }))
      t.equal(err.code, 'NGAC_ERR_FORBIDDEN', `refused without '${end.right}' on '${end.node}' (end ${i + 1})`)
      t.same(err.details, { index: 0, op: c.op.op, right: end.right, node: end.node })
      t.match(err.message, end.right)
      t.match(err.message, end.node)
      t.equal(policy.revision, revision, 'nothing applied')

      const batch = refusal(() => policy.apply([{ op: 'createNode', name: 'first', type: 'O', parents: ['spare'] }, c.op], { actor: 'tester', authorize: true }))
      t.equal(batch.code, 'NGAC_ERR_FORBIDDEN', 'refused inside a batch')
      t.same(batch.details, { index: 1, op: c.op.op, right: end.right, node: end.node })
      t.equal(policy.revision, revision, 'the batch applied nothing')
      t.notOk(policy.graph.hasNode('first'), 'not even its allowed first operation')
    }

    const unchecked = prepare(c, [])
    t.teardown(() => unchecked.close())
    t.equal(refusal(() => unchecked.apply([c.op], { actor: 'tester', authorize: true })).code, 'NGAC_ERR_FORBIDDEN', 'no rights: refused')
    const next = unchecked.revision + 1
    t.same(unchecked.apply([c.op], { actor: 'root' }), { revision: next }, 'the super path (no authorize) is not checked')
  })
}

t.test('a batch is checked on the graph as it proceeds', async (t) => {
  const c: Case = { name: 'x', op: { op: 'deleteProhibition', name: 'none' }, ends: [] }
  const policy = prepare(c, [
    { right: 'create', node: 'ua1' }, { right: 'associate', node: 'ua1' },
    { right: 'create', node: 'oa1' }, { right: 'associate_to', node: 'oa1' }, { right: 'dissociate_from', node: 'oa1' },
    { right: 'dissociate', node: 'testers' }
  ])
  t.teardown(() => policy.close())
  const revision = policy.revision
  // Nodes created in the batch under controlled containers can be granted on, and hold users, at once.
  policy.apply([
    { op: 'createNode', name: 'team', type: 'UA', parents: ['ua1'] },
    { op: 'createNode', name: 'folder', type: 'OA', parents: ['oa1'] },
    { op: 'associate', ua: 'team', target: 'folder', rights: ['read'] },
    { op: 'createNode', name: 'carol', type: 'U', parents: ['team'] },
    { op: 'createNode', name: 'memo', type: 'O', parents: ['folder'] }
  ], { actor: 'tester', authorize: true })
  t.equal(policy.revision, revision + 1)
  t.same(policy.check({ user: 'carol', right: 'read', target: 'memo' }).allowed, true)

  // Giving up its own rights first: the next operation is checked without them (no stale cache).
  t.ok(policy.check({ user: 'tester', right: 'create', target: 'oa1' }).allowed, 'the cache holds the right now')
  const err = refusal(() => policy.apply([
    { op: 'dissociate', ua: 'testers', target: 'oa1' },
    { op: 'createNode', name: 'late', type: 'O', parents: ['oa1'] }
  ], { actor: 'tester', authorize: true }))
  t.equal(err.code, 'NGAC_ERR_FORBIDDEN')
  t.same(err.details, { index: 1, op: 'createNode', right: 'create', node: 'oa1' })
  t.ok(policy.check({ user: 'tester', right: 'create', target: 'oa1' }).allowed, 'nothing applied: the right is still there')

  // A refused operation anywhere refuses the batch: a long batch's last operation.
  const ops: Operation[] = []
  for (let i = 0; i < 50; i++) ops.push({ op: 'createNode', name: `doc${i}`, type: 'O', parents: ['folder'] })
  ops.push({ op: 'createNode', name: 'outside', type: 'O', parents: ['oa2'] })
  const long = refusal(() => policy.apply(ops, { actor: 'tester', authorize: true }))
  t.same(long.details, { index: 50, op: 'createNode', right: 'create', node: 'oa2' })
  t.notOk(policy.graph.hasNode('doc0'))
})

t.test('the first check of a batch is a cached decision', async (t) => {
  const policy = prepare({ name: 'x', op: { op: 'deleteProhibition', name: 'none' }, ends: [] }, [{ right: 'create', node: 'oa1' }])
  t.teardown(() => policy.close())
  const stats = policy.decisionCache
  if (stats === undefined) throw new Error('a cache was expected')
  policy.apply([{ op: 'createNode', name: 'a', type: 'O', parents: ['oa1'] }], { actor: 'tester', authorize: true })
  const after = policy.decisionCache
  t.equal((after?.hits ?? 0) + (after?.misses ?? 0), stats.hits + stats.misses + 1, 'one decision through the cache')
})

t.test('reserved names: refused to every authorized caller, even with every right', async (t) => {
  const policy = prepare({ name: 'x', op: { op: 'deleteProhibition', name: 'none' }, ends: [] }, [
    { right: '*', node: ADMIN_POLICY_OA }, { right: '*', node: 'oa1' }, { right: '*', node: 'ua1' }
  ])
  t.teardown(() => policy.close())
  const revision = policy.revision
  const refused: [Operation, string][] = [
    [{ op: 'createNode', name: 'ngac:mine', type: 'PC', parents: [] }, 'ngac:mine'],
    [{ op: 'createNode', name: 'inside', type: 'OA', parents: [ADMIN_POLICY_OA] }, ADMIN_POLICY_OA],
    [{ op: 'createNode', name: 'inside', type: 'OA', parents: [ADMIN_PC] }, ADMIN_PC],
    [{ op: 'deleteNode', name: ADMIN_POLICY_OA }, ADMIN_POLICY_OA],
    [{ op: 'deleteNode', name: ADMIN_PC }, ADMIN_PC],
    [{ op: 'setProperties', name: ADMIN_POLICY_OA, properties: { owner: 'me' } }, ADMIN_POLICY_OA],
    [{ op: 'assign', child: ADMIN_POLICY_OA, parent: 'oa1' }, ADMIN_POLICY_OA],
    [{ op: 'assign', child: 'oa1', parent: ADMIN_POLICY_OA }, ADMIN_POLICY_OA],
    [{ op: 'deassign', child: ADMIN_POLICY_OA, parent: ADMIN_PC }, ADMIN_POLICY_OA]
  ]
  for (const [op, node] of refused) {
    const err = refusal(() => policy.apply([op], { actor: 'tester', authorize: true }))
    t.equal(err.code, 'NGAC_ERR_RESERVED_NAME', `${op.op} on ${node}`)
    t.same(err.details, { index: 0, op: op.op, node })
  }
  t.equal(policy.revision, revision, 'nothing applied')
  // Granting on the reserved attribute is an ordinary, checked operation: how policy-wide rights are delegated.
  policy.apply([{ op: 'associate', ua: 'ua1', target: ADMIN_POLICY_OA, rights: ['create'] }], { actor: 'tester', authorize: true })
  t.equal(policy.revision, revision + 1)
  // Super (unchecked) may.
  policy.apply([{ op: 'setProperties', name: ADMIN_POLICY_OA, properties: { note: 'by root' } }], { actor: 'root' })
  t.equal(policy.revision, revision + 2)
})

t.test('governAdministration: reserved nodes created once by actor ngac, kept by replacements; a checked replacement is refused', async (t) => {
  const policy = openPolicy({ db: ':memory:', policy: BASE })
  t.teardown(() => policy.close())
  t.equal(policy.governAdministration(), 2)
  t.same(policy.changes(1, 10).map((c) => [c.actor, c.operations]), [['ngac', adminNodeOperations(new PolicyGraph())]])
  t.equal(policy.governAdministration(), undefined, 'nothing to do the second time')
  t.same(policy.graph.parentsOf(ADMIN_POLICY_OA), [ADMIN_PC])
  policy.replace(BASE, 'ngac', { actor: 'root' })
  t.ok(policy.graph.hasNode(ADMIN_PC) && policy.graph.hasNode(ADMIN_POLICY_OA), 'the replacement keeps them')
  const err = refusal(() => policy.replace(BASE, 'ngac', { actor: 'tester', authorize: true }))
  t.equal(err.code, 'NGAC_ERR_FORBIDDEN')
  t.equal(refusal(() => policy.apply([{ op: 'createNode', name: 'x', type: 'PC' }], { authorize: true })).code, 'NGAC_ERR_VALIDATION', 'authorize needs an actor')

  const taken = openPolicy({ db: ':memory:', policy: { nodes: [{ name: 'ngac:admin', type: 'PC' }, { name: 'ngac:admin:policy', type: 'UA' }], assignments: [['ngac:admin:policy', 'ngac:admin']] } })
  t.teardown(() => taken.close())
  t.equal(refusal(() => taken.governAdministration()).code, 'NGAC_ERR_RESERVED_NAME', 'a reserved name of the wrong type')
})

t.test('requiredRights, reservedNodeOf, isReservedName', async (t) => {
  const policy = openPolicy({ db: ':memory:', policy: BASE })
  t.teardown(() => policy.close())
  const graph = policy.graph
  t.same(requiredRights(graph, { op: 'assign', child: 'u1', parent: 'ua2' }), [{ right: 'assign', node: 'u1' }, { right: 'assign_to', node: 'ua2' }])
  t.same(requiredRights(graph, { op: 'assign', child: 'u1', parent: 'nowhere' }), [{ right: 'assign', node: 'u1' }], 'a missing node is left to the graph')
  t.same(requiredRights(graph, { op: 'createNode', name: 'x', type: 'PC' }), [{ right: 'create', node: ADMIN_POLICY_OA }], 'even when the reserved attribute is missing')
  t.same(requiredRights(graph, { op: 'createNode', name: 'x', type: 'UA', parents: ['P', 'P'] }), [{ right: 'create', node: ADMIN_POLICY_OA }], 'one requirement per right and node')
  t.equal(reservedNodeOf({ op: 'associate', ua: 'ua1', target: ADMIN_POLICY_OA, rights: ['create'] }), undefined)
  t.equal(reservedNodeOf({ op: 'deassign', child: 'x', parent: 'ngac:y' }), 'ngac:y')
  t.ok(isReservedName('ngac:'))
  t.notOk(isReservedName('NGAC:admin'))
  t.notOk(isReservedName(42))
})
