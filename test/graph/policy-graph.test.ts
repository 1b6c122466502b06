import t from 'tap'
import type { Test } from 'tap'
import { ADMIN_RIGHTS, NODE_TYPES, O, OA, PC, PolicyGraph, U, UA, validateName } from '../../src/graph/index.js'
import type { NodeType, ProhibitionInfo, ProhibitionSubject } from '../../src/graph/index.js'
import type { ErrorCode } from '../../src/errors.js'

// ------------------------------------------------------------------ helpers

/**
 * RBAC:  staff (UA) -> RBAC; eng (UA) -> staff; alice (U) -> staff; bob (U) -> eng
 *        docs (OA) -> RBAC; report (O) -> docs; memo (O) -> docs
 * Level: cleared (UA) -> Level; alice -> cleared; secret (OA) -> Level; report -> secret
 */
function sample (): PolicyGraph {
  const g = new PolicyGraph()
  g.setResourceRights(['read', 'write'])
  g.createNode('RBAC', 'PC')
  g.createNode('Level', 'PC')
  g.createNode('staff', 'UA', ['RBAC'])
  g.createNode('eng', 'UA', ['staff'])
  g.createNode('cleared', 'UA', ['Level'])
  g.createNode('alice', 'U', ['staff', 'cleared'])
  g.createNode('bob', 'U', ['eng'])
  g.createNode('docs', 'OA', ['RBAC'])
  g.createNode('secret', 'OA', ['Level'])
  g.createNode('report', 'O', ['docs', 'secret'], { owner: 'alice' })
  g.createNode('memo', 'O', ['docs'])
  return g
}

/** {@link sample} with associations and prohibitions. */
function rich (): PolicyGraph {
  const g = sample()
  g.associate('staff', 'docs', ['read', 'write'])
  g.associate('eng', 'docs', ['*'])
  g.associate('cleared', 'secret', ['read'])
  g.associate('staff', 'memo', ['read'])
  g.createProhibition(prohibition('alice-no-secret-write', 'alice', [['secret', false]], ['write'], true))
  g.createProhibition(prohibition('proc-outside-docs', { process: 'p-1' }, [['docs', true]], ['read']))
  g.createProhibition(prohibition('eng-no-memo', 'eng', [['memo', false]], ['write']))
  return g
}

function prohibition (
  name: string,
  subject: ProhibitionSubject,
  containers: [string, boolean][],
  rights: string[] = ['read'],
  intersection = false
): ProhibitionInfo {
  return { name, subject, rights, intersection, containers: containers.map(([n, complement]) => ({ name: n, complement })) }
}

const byJson = (x: unknown): string => JSON.stringify(x)

/** Everything the graph shows, with lists whose order is unspecified sorted. */
function snapshot (g: PolicyGraph): unknown {
  return {
    revision: g.revision,
    stats: g.stats,
    idLimit: g.idLimit,
    resourceRights: [...g.resourceRights],
    nodes: [...g.nodes()].map((n) => {
      const id = g.idOf(n.name)
      return {
        ...n,
        id,
        typeCode: g.typeOf(id),
        parents: g.parentsOf(n.name).sort(),
        children: g.childrenOf(n.name).sort(),
        associationsFrom: g.associationsFrom(id).map((a) => `${g.nameOf(a.target)}:${g.rights.names(a.mask).join(',')}`).sort(),
        associationsTo: g.associationsTo(id).map((a) => g.nameOf(a.ua)).sort(),
        prohibitionsOf: g.prohibitionsOf(id).map((p) => p.name).sort()
      }
    }),
    assignments: [...g.assignments()].map(byJson).sort(),
    associations: [...g.associations()].map(byJson).sort(),
    prohibitions: [...g.prohibitions()].map(byJson).sort(),
    prohibitionMasks: [...g.prohibitionList()].map((p) => `${p.name}:${g.rights.names(p.mask).join(',')}`).sort(),
    processProhibitions: g.processProhibitions('p-1').map((p) => p.name).sort(),
    policyClasses: [...g.policyClassIds()].sort((a, b) => a - b)
  }
}

/** Like {@link snapshot}, but every list in the order the graph gives it. */
function orderedSnapshot (g: PolicyGraph): unknown {
  return {
    nodes: [...g.nodes()],
    children: [...g.nodes()].map((n) => [n.name, g.childrenOf(n.name)]),
    assignments: [...g.assignments()],
    associations: [...g.associations()],
    prohibitions: [...g.prohibitions()],
    policyClasses: [...g.policyClassIds()]
  }
}

/** `fn` throws `code` and leaves the graph exactly as it was, revision included. */
function refuses (t: Test, g: PolicyGraph, fn: () => unknown, code: ErrorCode, what?: string): void {
  const before = snapshot(g)
  const revision = g.revision
  t.throws(fn, { code }, what ?? code)
  t.equal(g.revision, revision, `${what ?? code}: revision unchanged`)
  t.same(snapshot(g), before, `${what ?? code}: graph unchanged`)
}

// ------------------------------------------------------------------ nodes

t.test('the five node types', (t) => {
  t.same(NODE_TYPES, ['PC', 'UA', 'U', 'OA', 'O'])
  t.ok(Object.isFrozen(NODE_TYPES))
  t.same([PC, UA, U, OA, O], [0, 1, 2, 3, 4])
  const g = sample()
  for (const [name, type] of [['RBAC', 'PC'], ['staff', 'UA'], ['alice', 'U'], ['docs', 'OA'], ['report', 'O']] as const) {
    t.equal(g.node(name)?.type, type, `${name} is a ${type}`)
    t.equal(NODE_TYPES[g.typeOf(g.idOf(name))], type)
  }
  t.same([...g.nodes('PC')].map((n) => n.name), ['RBAC', 'Level'])
  t.same([...g.nodes('UA')].map((n) => n.name), ['staff', 'eng', 'cleared'])
  t.same([...g.nodes('U')].map((n) => n.name), ['alice', 'bob'])
  t.same([...g.nodes('OA')].map((n) => n.name), ['docs', 'secret'])
  t.same([...g.nodes('O')].map((n) => n.name), ['report', 'memo'])
  t.same([...g.nodes()].map((n) => n.name),
    ['RBAC', 'Level', 'staff', 'eng', 'cleared', 'alice', 'bob', 'docs', 'secret', 'report', 'memo'], 'creation order')
  t.same([...g.policyClassIds()].map((id) => g.nameOf(id)), ['RBAC', 'Level'])
  t.end()
})

t.test('creating nodes', (t) => {
  const g = new PolicyGraph()
  t.equal(g.revision, 0)
  t.same(g.stats, { nodesByType: { PC: 0, UA: 0, U: 0, OA: 0, O: 0 }, nodes: 0, assignments: 0, associations: 0, prohibitions: 0 })
  g.createNode('RBAC', 'PC')
  g.createNode('staff', 'UA', ['RBAC'])
  g.createNode('alice', 'U', ['staff'])
  g.createNode('docs', 'OA', ['RBAC'])
  g.createNode('report', 'O', ['docs', 'RBAC'])
  t.same(g.stats, { nodesByType: { PC: 1, UA: 1, U: 1, OA: 1, O: 1 }, nodes: 5, assignments: 5, associations: 0, prohibitions: 0 })
  t.ok(g.hasNode('alice'))
  t.notOk(g.hasNode('carol'))
  t.equal(g.node('carol'), undefined)
  t.equal(g.idOf('carol'), -1)
  t.same(g.node('alice'), { name: 'alice', type: 'U', properties: {} })
  t.same(g.parentsOf('report'), ['docs', 'RBAC'])
  t.same(g.childrenOf('RBAC'), ['staff', 'docs', 'report'])
  t.same([...g.assignments()], [['staff', 'RBAC'], ['alice', 'staff'], ['docs', 'RBAC'], ['report', 'docs'], ['report', 'RBAC']])
  t.same([0, 1, 2, 3, 4].map((id) => g.nameOf(id)), ['RBAC', 'staff', 'alice', 'docs', 'report'], 'ids in creation order')
  t.equal(g.idLimit, 5)
  t.ok(g.isNode(0))
  t.notOk(g.isNode(5))
  t.same(g.parentIds(g.idOf('report')), [g.idOf('docs'), g.idOf('RBAC')])
  t.same(g.childIds(g.idOf('docs')), [g.idOf('report')])
  t.same(g.parentIds(99), [], 'unknown ids have no parents')
  t.same(g.childIds(99), [])
  t.same(g.associationsFrom(99), [])
  t.same(g.associationsTo(99), [])
  t.same(g.prohibitionsOf(99), [])
  t.throws(() => g.parentsOf('carol'), { code: 'NGAC_ERR_NODE_NOT_FOUND' })
  t.throws(() => g.childrenOf('carol'), { code: 'NGAC_ERR_NODE_NOT_FOUND' })
  t.end()
})

t.test('a parent listed twice gives one assignment', (t) => {
  const g = sample()
  const before = g.stats.assignments
  g.createNode('carol', 'U', ['staff', 'staff'])
  t.same(g.parentsOf('carol'), ['staff'])
  t.equal(g.stats.assignments, before + 1)
  t.end()
})

t.test('containment is reflexive and transitive', (t) => {
  const g = sample()
  const id = (n: string): number => g.idOf(n)
  t.ok(g.contains(id('bob'), id('bob')))
  t.ok(g.contains(id('eng'), id('bob')))
  t.ok(g.contains(id('staff'), id('bob')))
  t.ok(g.contains(id('RBAC'), id('bob')))
  t.notOk(g.contains(id('bob'), id('staff')))
  t.notOk(g.contains(id('Level'), id('bob')))
  t.ok(g.contains(id('Level'), id('report')))
  t.notOk(g.contains(id('secret'), id('memo')))
  t.end()
})

t.test('names are unique across the graph', (t) => {
  const g = sample()
  refuses(t, g, () => g.createNode('alice', 'U', ['staff']), 'NGAC_ERR_NODE_EXISTS', 'same name, same type')
  refuses(t, g, () => g.createNode('alice', 'OA', ['RBAC']), 'NGAC_ERR_NODE_EXISTS', 'same name, other type')
  refuses(t, g, () => g.createNode('RBAC', 'PC'), 'NGAC_ERR_NODE_EXISTS', 'a second PC of the same name')
  t.end()
})

t.test('invalid names are refused', (t) => {
  const g = sample()
  const bad: [string, unknown][] = [
    ['empty', ''],
    ['NUL', 'a\u0000b'],
    ['newline', 'a\nb'],
    ['carriage return', 'a\rb'],
    ['tab', '\tx'],
    ['unit separator', 'x\u001f'],
    ['DEL', 'x\u007f'],
    ['too long', 'x'.repeat(1025)],
    // Found by test/api/fuzz.test.ts: SQLite stores text as UTF-8, so an unpaired surrogate came back as U+FFFD after a restart.
    ['an unpaired high surrogate', 'a\ud800b'],
    ['an unpaired low surrogate', '\udfff'],
    // Found by test/api/fuzz.test.ts: graphology keys adjacency by plain objects, so GET /v1/lint failed with a 500.
    ['__proto__', '__proto__'],
    ['not a string', 42],
    ['null', null]
  ]
  for (const [why, name] of bad) {
    refuses(t, g, () => g.createNode(name as string, 'PC'), 'NGAC_ERR_INVALID_NAME', `${why}: PC`)
    refuses(t, g, () => g.createNode(name as string, 'U', ['staff']), 'NGAC_ERR_INVALID_NAME', `${why}: U`)
    t.throws(() => validateName(name), { code: 'NGAC_ERR_INVALID_NAME' }, `${why}: validateName`)
  }
  for (const [label, name] of [['U+0085', 'next\u0085line'], ['U+009B', 'csi\u009b2J']]) {
    t.throws(() => validateName(name), { code: 'NGAC_ERR_INVALID_NAME' }, `C1 control ${label}`)
  }
  t.end()
})

t.test("names with '/', '%', unicode and spaces are fine", (t) => {
  const g = sample()
  const good = ['a/b/c', '100%', '%2F', 'ünïcødé', '名前', 'emoji 🚀', 'with space', ' padded ', 'x'.repeat(1024), 'ngac-ish:colon', "quote'd", '"dq"',
    '\u{10ffff}', 'constructor', 'toString', '__proto__x', 'e\u0301']
  for (const name of good) {
    t.doesNotThrow(() => g.createNode(name, 'O', ['docs']), JSON.stringify(name))
    t.equal(g.node(name)?.name, name)
    t.doesNotThrow(() => validateName(name))
  }
  t.end()
})

t.test('an unknown node type is refused', (t) => {
  const g = sample()
  for (const type of ['X', 'pc', 'user', '', 'toString', '__proto__', 'constructor', 'hasOwnProperty']) {
    refuses(t, g, () => g.createNode('n', type as NodeType, ['RBAC']), 'NGAC_ERR_INVALID_TYPE', JSON.stringify(type))
  }
  refuses(t, g, () => g.createNode('n', 3 as unknown as NodeType, ['RBAC']), 'NGAC_ERR_INVALID_TYPE', 'a number')
  refuses(t, g, () => g.createNode('n', undefined as unknown as NodeType), 'NGAC_ERR_INVALID_TYPE', 'undefined')
  t.same([...g.nodes(('X' as NodeType))], [], 'nodes() of an unknown type is empty')
  t.end()
})

t.test('properties are stored, copied and frozen', (t) => {
  const g = sample()
  const input: Record<string, string> = { owner: 'alice', 'class/level': 'секрет' }
  g.createNode('plan', 'O', ['docs'], input)
  input.owner = 'mallory'
  input.added = 'x'
  const props = g.node('plan')?.properties
  t.same(props, { owner: 'alice', 'class/level': 'секрет' }, 'later changes to the input do not leak in')
  t.ok(Object.isFrozen(props))
  t.throws(() => { (props as Record<string, string>).owner = 'x' }, TypeError, 'frozen (strict mode throws)')
  t.same(g.node('memo')?.properties, {})
  t.ok(Object.isFrozen(g.node('memo')?.properties))

  const revision = g.revision
  g.setProperties('plan', { reviewer: 'bob' })
  t.same(g.node('plan')?.properties, { reviewer: 'bob' }, 'setProperties replaces, it does not merge')
  t.ok(Object.isFrozen(g.node('plan')?.properties))
  t.equal(g.revision, revision + 1)
  g.setProperties('plan', {})
  t.same(g.node('plan')?.properties, {})
  t.end()
})

t.test('properties are validated', (t) => {
  const g = sample()
  const bad: [string, unknown][] = [
    ['a number value', { owner: 1 }],
    ['a null value', { owner: null }],
    ['an object value', { owner: { name: 'alice' } }],
    ['an array', ['a']],
    ['null', null],
    ['a string', 'owner=alice']
  ]
  for (const [why, props] of bad) {
    refuses(t, g, () => g.createNode('plan', 'O', ['docs'], props as Record<string, string>), 'NGAC_ERR_VALIDATION', `create with ${why}`)
    refuses(t, g, () => g.setProperties('report', props as Record<string, string>), 'NGAC_ERR_VALIDATION', `set ${why}`)
  }
  t.same(g.node('report')?.properties, { owner: 'alice' })
  refuses(t, g, () => g.setProperties('nobody', { a: 'b' }), 'NGAC_ERR_NODE_NOT_FOUND', 'setProperties of an unknown node')
  t.end()
})

t.test('a property named __proto__ is kept like any other', (t) => {
  const g = sample()
  g.createNode('plan', 'O', ['docs'], JSON.parse('{"__proto__": "x", "owner": "alice"}') as Record<string, string>)
  const props = g.node('plan')?.properties ?? {}
  t.equal(props.owner, 'alice')
  t.equal(Object.getPrototypeOf(props), Object.prototype, 'the prototype is not replaced')
  t.ok(Object.hasOwn(props, '__proto__'), 'the key is kept')
  t.same(Object.keys(props).sort(), ['__proto__', 'owner'], 'both keys')
  t.end()
})

t.test('parents: a PC has none, every other node at least one', (t) => {
  const g = sample()
  for (const parent of ['RBAC', 'staff', 'alice', 'docs', 'report']) {
    refuses(t, g, () => g.createNode('pc2', 'PC', [parent]), 'NGAC_ERR_INVALID_ASSIGNMENT', `PC with parent ${parent}`)
  }
  for (const type of ['UA', 'U', 'OA', 'O'] as const) {
    refuses(t, g, () => g.createNode('n', type), 'NGAC_ERR_NO_PARENT', `${type} without parents argument`)
    refuses(t, g, () => g.createNode('n', type, []), 'NGAC_ERR_NO_PARENT', `${type} with []`)
  }
  refuses(t, g, () => g.createNode('n', 'UA', ['nowhere']), 'NGAC_ERR_NODE_NOT_FOUND', 'unknown parent')
  refuses(t, g, () => g.createNode('n', 'UA', ['RBAC', 'nowhere']), 'NGAC_ERR_NODE_NOT_FOUND', 'one unknown parent among good ones')
  refuses(t, g, () => g.createNode('n', 'UA', ['RBAC', 'docs']), 'NGAC_ERR_INVALID_ASSIGNMENT', 'one bad parent among good ones')
  refuses(t, g, () => g.createNode('n', 'UA', 'RBAC' as unknown as string[]), 'NGAC_ERR_VALIDATION', 'parents not a list')
  t.end()
})

// ------------------------------------------------------------------ assignments

const ALLOWED = new Set(['U->UA', 'UA->UA', 'UA->PC', 'O->OA', 'O->PC', 'OA->OA', 'OA->PC'])

/** A graph with a PC `base` holding `baseUA` and `baseOA`, and fresh `child` and `parent` of the given types. */
function pairGraph (child: NodeType, parent: NodeType | null): PolicyGraph {
  const g = new PolicyGraph()
  g.createNode('base', 'PC')
  g.createNode('baseUA', 'UA', ['base'])
  g.createNode('baseOA', 'OA', ['base'])
  const home = (type: NodeType): string[] => type === 'PC' ? [] : type === 'UA' || type === 'U' ? ['baseUA'] : ['baseOA']
  if (parent !== null) g.createNode('parent', parent, home(parent))
  g.createNode('child', child, home(child))
  return g
}

t.test('the assignment table over all 25 type pairs', (t) => {
  let allowed = 0
  for (const child of NODE_TYPES) {
    for (const parent of NODE_TYPES) {
      const pair = `${child}->${parent}`
      const g = pairGraph(child, parent)
      if (ALLOWED.has(pair)) {
        allowed++
        const revision = g.revision
        const assignments = g.stats.assignments
        t.doesNotThrow(() => g.assign('child', 'parent'), `${pair} allowed by assign`)
        t.ok(g.parentsOf('child').includes('parent'), `${pair}: parent recorded`)
        t.ok(g.childrenOf('parent').includes('child'), `${pair}: child recorded`)
        t.equal(g.revision, revision + 1)
        t.equal(g.stats.assignments, assignments + 1)
      } else {
        refuses(t, g, () => g.assign('child', 'parent'), 'NGAC_ERR_INVALID_ASSIGNMENT', `${pair} refused by assign`)
      }

      const h = pairGraph(child, parent)
      h.deleteNode('child')
      if (ALLOWED.has(pair)) {
        t.doesNotThrow(() => h.createNode('child2', child, ['parent']), `${pair} allowed by createNode`)
        t.same(h.parentsOf('child2'), ['parent'])
      } else {
        refuses(t, h, () => h.createNode('child2', child, ['parent']), 'NGAC_ERR_INVALID_ASSIGNMENT', `${pair} refused by createNode`)
      }
    }
  }
  t.equal(allowed, 7, 'exactly seven pairs are allowed')
  t.end()
})

t.test('assign refuses unknown nodes and duplicates', (t) => {
  const g = sample()
  refuses(t, g, () => g.assign('carol', 'staff'), 'NGAC_ERR_NODE_NOT_FOUND', 'unknown child')
  refuses(t, g, () => g.assign('alice', 'nowhere'), 'NGAC_ERR_NODE_NOT_FOUND', 'unknown parent')
  refuses(t, g, () => g.assign('alice', 'staff'), 'NGAC_ERR_ASSIGNMENT_EXISTS', 'duplicate U->UA')
  refuses(t, g, () => g.assign('report', 'docs'), 'NGAC_ERR_ASSIGNMENT_EXISTS', 'duplicate O->OA')
  refuses(t, g, () => g.assign('staff', 'RBAC'), 'NGAC_ERR_ASSIGNMENT_EXISTS', 'duplicate UA->PC')
  t.end()
})

t.test('assignments never close a cycle', (t) => {
  const g = sample()
  g.createNode('a', 'UA', ['RBAC'])
  g.createNode('b', 'UA', ['a'])
  g.createNode('c', 'UA', ['b'])
  g.createNode('oa1', 'OA', ['RBAC'])
  g.createNode('oa2', 'OA', ['oa1'])
  refuses(t, g, () => g.assign('a', 'a'), 'NGAC_ERR_ASSIGNMENT_CYCLE', 'self assignment UA')
  refuses(t, g, () => g.assign('oa1', 'oa1'), 'NGAC_ERR_ASSIGNMENT_CYCLE', 'self assignment OA')
  refuses(t, g, () => g.assign('a', 'b'), 'NGAC_ERR_ASSIGNMENT_CYCLE', 'two-node cycle')
  refuses(t, g, () => g.assign('a', 'c'), 'NGAC_ERR_ASSIGNMENT_CYCLE', 'three-node cycle')
  refuses(t, g, () => g.assign('oa1', 'oa2'), 'NGAC_ERR_ASSIGNMENT_CYCLE', 'OA cycle')
  refuses(t, g, () => g.assign('staff', 'eng'), 'NGAC_ERR_ASSIGNMENT_CYCLE', 'cycle through existing sample nodes')
  // A diamond is not a cycle.
  g.createNode('d', 'UA', ['a'])
  t.doesNotThrow(() => g.assign('c', 'd'))
  t.doesNotThrow(() => g.assign('eng', 'c'))
  refuses(t, g, () => g.assign('a', 'eng'), 'NGAC_ERR_ASSIGNMENT_CYCLE', 'cycle through a diamond')
  t.end()
})

t.test('deassign', (t) => {
  const g = sample()
  refuses(t, g, () => g.deassign('alice', 'eng'), 'NGAC_ERR_ASSIGNMENT_NOT_FOUND', 'existing nodes, no assignment')
  refuses(t, g, () => g.deassign('staff', 'alice'), 'NGAC_ERR_ASSIGNMENT_NOT_FOUND', 'the reverse of an assignment')
  refuses(t, g, () => g.deassign('carol', 'staff'), 'NGAC_ERR_NODE_NOT_FOUND', 'unknown child')
  refuses(t, g, () => g.deassign('alice', 'nowhere'), 'NGAC_ERR_NODE_NOT_FOUND', 'unknown parent')
  refuses(t, g, () => g.deassign('bob', 'eng'), 'NGAC_ERR_LAST_PARENT', 'the last parent of a U')
  refuses(t, g, () => g.deassign('memo', 'docs'), 'NGAC_ERR_LAST_PARENT', 'the last parent of an O')
  refuses(t, g, () => g.deassign('staff', 'RBAC'), 'NGAC_ERR_LAST_PARENT', 'the last parent of a UA')

  const revision = g.revision
  const assignments = g.stats.assignments
  g.deassign('alice', 'cleared')
  t.same(g.parentsOf('alice'), ['staff'])
  t.same(g.childrenOf('cleared'), [])
  t.equal(g.stats.assignments, assignments - 1)
  t.equal(g.revision, revision + 1)
  refuses(t, g, () => g.deassign('alice', 'staff'), 'NGAC_ERR_LAST_PARENT', 'now the last parent')
  g.assign('bob', 'staff')
  g.deassign('bob', 'eng')
  t.same(g.parentsOf('bob'), ['staff'])
  t.end()
})

t.test('a refused assignment names both nodes and their types', (t) => {
  const g = new PolicyGraph()
  g.createNode('RBAC', 'PC')
  g.createNode('staff', 'UA', ['RBAC'])
  g.createNode('alice', 'U', ['staff'])
  g.createNode('docs', 'OA', ['RBAC'])
  for (const attempt of [() => g.assign('alice', 'docs'), () => g.createNode('alice2', 'U', ['docs'])]) {
    try {
      attempt()
      t.fail('should have thrown')
    } catch (err) {
      t.match(err, { code: 'NGAC_ERR_INVALID_ASSIGNMENT' })
      const message = (err as Error).message
      t.ok(message.includes("'docs' (OA)"), message)
      t.ok(message.includes("'alice' (U)") || message.includes("'alice2' (U)"), message)
    }
  }
  t.end()
})

// ------------------------------------------------------------------ deleting nodes

t.test('deleting nodes', (t) => {
  const g = rich()
  const memoId = g.idOf('memo')
  const idLimit = g.idLimit

  refuses(t, g, () => g.deleteNode('nobody'), 'NGAC_ERR_NODE_NOT_FOUND', 'unknown node')
  refuses(t, g, () => g.deleteNode('RBAC'), 'NGAC_ERR_NODE_IN_USE', 'a PC with children')
  refuses(t, g, () => g.deleteNode('staff'), 'NGAC_ERR_NODE_IN_USE', 'a UA with children')
  refuses(t, g, () => g.deleteNode('docs'), 'NGAC_ERR_NODE_IN_USE', 'an OA with children')

  g.createNode('auditors', 'UA', ['RBAC'])
  g.createNode('archive', 'OA', ['RBAC'])
  g.associate('auditors', 'archive', ['read'])
  refuses(t, g, () => g.deleteNode('auditors'), 'NGAC_ERR_NODE_IN_USE', 'the ua of an association')
  refuses(t, g, () => g.deleteNode('archive'), 'NGAC_ERR_NODE_IN_USE', 'the target of an association')
  refuses(t, g, () => g.deleteNode('memo'), 'NGAC_ERR_NODE_IN_USE', 'an O that is a target and a prohibition container')
  g.dissociate('auditors', 'archive')
  g.createNode('temp', 'U', ['auditors'])
  g.createProhibition(prohibition('temp-no-archive', 'temp', [['archive', false]]))
  refuses(t, g, () => g.deleteNode('temp'), 'NGAC_ERR_NODE_IN_USE', 'the U subject of a prohibition')
  refuses(t, g, () => g.deleteNode('archive'), 'NGAC_ERR_NODE_IN_USE', 'an OA container of a prohibition')
  g.deleteProhibition('temp-no-archive')
  g.createProhibition(prohibition('auditors-no-archive', 'auditors', [['archive', true]]))
  g.deleteNode('temp')
  refuses(t, g, () => g.deleteNode('auditors'), 'NGAC_ERR_NODE_IN_USE', 'the UA subject of a prohibition')
  refuses(t, g, () => g.deleteNode('archive'), 'NGAC_ERR_NODE_IN_USE', 'a complemented container')
  g.createNode('lead', 'UA', ['auditors'])
  g.deleteProhibition('auditors-no-archive')
  g.createProhibition(prohibition('proc-no-lead', { process: 'p-9' }, [['lead', false]]))
  refuses(t, g, () => g.deleteNode('lead'), 'NGAC_ERR_NODE_IN_USE', 'a UA container of a prohibition')
  g.deleteProhibition('proc-no-lead')
  g.deleteNode('lead')
  g.deleteNode('auditors')
  g.deleteNode('archive')

  const stats = g.stats
  const revision = g.revision
  g.dissociate('staff', 'memo')
  g.deleteProhibition('eng-no-memo')
  g.deleteNode('memo')
  t.equal(g.revision, revision + 3)
  t.notOk(g.hasNode('memo'))
  t.equal(g.idOf('memo'), -1)
  t.notOk(g.isNode(memoId))
  t.same(g.childrenOf('docs'), ['report'])
  t.same(g.stats, {
    nodesByType: { ...stats.nodesByType, O: stats.nodesByType.O - 1 },
    nodes: stats.nodes - 1,
    assignments: stats.assignments - 1,
    associations: stats.associations - 1,
    prohibitions: stats.prohibitions - 1
  })
  t.notOk([...g.assignments()].some(([c, p]) => c === 'memo' || p === 'memo'))

  const limit = g.idLimit
  t.ok(limit > idLimit)
  g.createNode('memo', 'O', ['docs'])
  t.equal(g.idOf('memo'), limit, 'a recreated node gets a new id')
  t.not(g.idOf('memo'), memoId, 'ids are never reused')
  g.deleteNode('memo')

  g.createNode('Empty', 'PC')
  const pcId = g.idOf('Empty')
  g.deleteNode('Empty')
  t.notOk([...g.policyClassIds()].includes(pcId), 'a deleted PC leaves the policy classes')
  t.end()
})

// ------------------------------------------------------------------ associations

t.test('association ends', (t) => {
  const g = sample()
  for (const ua of ['RBAC', 'alice', 'docs', 'report']) {
    refuses(t, g, () => g.associate(ua, 'docs', ['read']), 'NGAC_ERR_INVALID_ASSOCIATION', `${g.node(ua)?.type} as first end`)
  }
  refuses(t, g, () => g.associate('staff', 'RBAC', ['read']), 'NGAC_ERR_INVALID_ASSOCIATION', 'a PC target')
  refuses(t, g, () => g.associate('staff', 'alice', ['read']), 'NGAC_ERR_INVALID_ASSOCIATION', 'a U target')
  refuses(t, g, () => g.associate('nobody', 'docs', ['read']), 'NGAC_ERR_NODE_NOT_FOUND', 'unknown ua')
  refuses(t, g, () => g.associate('staff', 'nothing', ['read']), 'NGAC_ERR_NODE_NOT_FOUND', 'unknown target')
  g.associate('staff', 'eng', ['read'])
  g.associate('staff', 'staff', ['read'])
  g.associate('staff', 'docs', ['read'])
  g.associate('staff', 'report', ['read'])
  t.same([...g.associations()].map((a) => a.target), ['eng', 'staff', 'docs', 'report'], 'UA, OA and O targets')
  t.equal(g.stats.associations, 4)
  t.end()
})

t.test('association rights', (t) => {
  const g = sample()
  refuses(t, g, () => g.associate('staff', 'docs', ['read', 'fly']), 'NGAC_ERR_UNKNOWN_RIGHT', 'an undeclared right')
  refuses(t, g, () => g.associate('staff', 'docs', ['READ']), 'NGAC_ERR_UNKNOWN_RIGHT', 'rights are case sensitive')
  refuses(t, g, () => g.associate('staff', 'docs', []), 'NGAC_ERR_VALIDATION', 'no rights')
  refuses(t, g, () => g.associate('staff', 'docs', 'read' as unknown as string[]), 'NGAC_ERR_VALIDATION', 'rights not a list')
  refuses(t, g, () => g.associate('staff', 'docs', [1] as unknown as string[]), 'NGAC_ERR_VALIDATION', 'a right not a string')

  g.associate('staff', 'docs', ['write', 'read', 'write'])
  t.same(g.association('staff', 'docs'), { ua: 'staff', target: 'docs', rights: ['read', 'write'] }, 'sorted, without duplicates')
  g.associate('eng', 'docs', ['assign', 'assign_to', 'create'])
  t.same(g.association('eng', 'docs')?.rights, ['assign', 'assign_to', 'create'], 'admin rights')
  g.associate('eng', 'memo', [...ADMIN_RIGHTS])
  t.same(g.association('eng', 'memo')?.rights, [...ADMIN_RIGHTS].sort(), 'every admin right')
  g.associate('cleared', 'secret', ['*'])
  t.same(g.association('cleared', 'secret')?.rights, ['*'], "'*' is kept as given")
  const [a] = g.associationsFrom(g.idOf('cleared'))
  t.same(g.rights.names(a.mask), [...ADMIN_RIGHTS, 'read', 'write'].sort(), "'*' means every right")
  t.end()
})

t.test('associating a pair again replaces its rights', (t) => {
  const g = sample()
  g.associate('staff', 'docs', ['read'])
  g.associate('staff', 'memo', ['read'])
  const stats = g.stats
  const revision = g.revision
  g.associate('staff', 'docs', ['write'])
  t.same(g.association('staff', 'docs')?.rights, ['write'])
  t.same(g.stats, stats, 'still one association per pair')
  t.equal(g.revision, revision + 1)
  t.same([...g.associations()], [
    { ua: 'staff', target: 'docs', rights: ['write'] },
    { ua: 'staff', target: 'memo', rights: ['read'] }
  ], 'in place')
  const from = g.associationsFrom(g.idOf('staff'))
  const to = g.associationsTo(g.idOf('docs'))
  t.equal(from.length, 2)
  t.equal(to.length, 1)
  t.same(g.rights.names(to[0].mask), ['write'])
  t.equal(from.find((x) => x.target === g.idOf('docs')), to[0], 'the same association from both ends')
  t.end()
})

t.test('dissociate', (t) => {
  const g = sample()
  g.associate('staff', 'docs', ['read'])
  const revision = g.revision
  refuses(t, g, () => g.dissociate('staff', 'memo'), 'NGAC_ERR_ASSOCIATION_NOT_FOUND', 'no association on the pair')
  refuses(t, g, () => g.dissociate('docs', 'staff'), 'NGAC_ERR_ASSOCIATION_NOT_FOUND', 'the ends swapped')
  refuses(t, g, () => g.dissociate('nobody', 'docs'), 'NGAC_ERR_NODE_NOT_FOUND', 'unknown ua')
  refuses(t, g, () => g.dissociate('staff', 'nothing'), 'NGAC_ERR_NODE_NOT_FOUND', 'unknown target')
  g.dissociate('staff', 'docs')
  t.equal(g.revision, revision + 1)
  t.equal(g.association('staff', 'docs'), undefined)
  t.equal(g.stats.associations, 0)
  t.same(g.associationsFrom(g.idOf('staff')), [])
  t.same(g.associationsTo(g.idOf('docs')), [])
  refuses(t, g, () => g.dissociate('staff', 'docs'), 'NGAC_ERR_ASSOCIATION_NOT_FOUND', 'twice')
  t.equal(g.association('nobody', 'docs'), undefined, 'association() of unknown nodes is undefined')
  t.end()
})

// ------------------------------------------------------------------ prohibitions

t.test('prohibition subjects', (t) => {
  const g = sample()
  g.createProhibition(prohibition('u', 'alice', [['docs', false]]))
  g.createProhibition(prohibition('ua', 'eng', [['docs', false]]))
  g.createProhibition(prohibition('proc', { process: 'p-1' }, [['docs', false]]))
  g.createProhibition(prohibition('proc2', { process: 'p-1' }, [['secret', false]]))
  t.equal(g.stats.prohibitions, 4)
  t.same(g.prohibition('u')?.subject, 'alice')
  t.same(g.prohibition('proc')?.subject, { process: 'p-1' })
  t.same(g.prohibitionsOf(g.idOf('alice')).map((p) => p.name), ['u'])
  t.same(g.prohibitionsOf(g.idOf('eng')).map((p) => p.name), ['ua'])
  t.same(g.processProhibitions('p-1').map((p) => p.name), ['proc', 'proc2'])
  t.same(g.processProhibitions('p-2'), [])
  const proc = g.processProhibitions('p-1')[0]
  t.equal(proc.subject, -1)
  t.equal(proc.process, 'p-1')
  t.equal(g.prohibitionsOf(g.idOf('alice'))[0].process, undefined)

  for (const subject of ['RBAC', 'docs', 'report']) {
    refuses(t, g, () => g.createProhibition(prohibition('bad', subject, [['docs', false]])), 'NGAC_ERR_INVALID_PROHIBITION', `a ${g.node(subject)?.type} subject`)
  }
  refuses(t, g, () => g.createProhibition(prohibition('bad', 'nobody', [['docs', false]])), 'NGAC_ERR_NODE_NOT_FOUND', 'an unknown subject')
  refuses(t, g, () => g.createProhibition(prohibition('bad', { process: '' }, [['docs', false]])), 'NGAC_ERR_INVALID_PROHIBITION', 'an empty process id')
  refuses(t, g, () => g.createProhibition(prohibition('bad', { process: 7 } as unknown as ProhibitionSubject, [['docs', false]])), 'NGAC_ERR_INVALID_PROHIBITION', 'a process id not a string')
  refuses(t, g, () => g.createProhibition(prohibition('bad', null as unknown as ProhibitionSubject, [['docs', false]])), 'NGAC_ERR_INVALID_PROHIBITION', 'a null subject')
  t.end()
})

t.test('prohibition containers', (t) => {
  const g = sample()
  g.createProhibition(prohibition('containers', 'alice', [['eng', false], ['docs', true], ['report', false]], ['read', 'write'], true))
  t.same(g.prohibition('containers'), {
    name: 'containers',
    subject: 'alice',
    rights: ['read', 'write'],
    intersection: true,
    containers: [{ name: 'eng', complement: false }, { name: 'docs', complement: true }, { name: 'report', complement: false }]
  }, 'UA, OA and O containers, with complements')
  const p = g.prohibitionsOf(g.idOf('alice'))[0]
  t.same(p.containers, [g.idOf('eng'), g.idOf('docs'), g.idOf('report')])
  t.same(p.complements, [false, true, false])
  t.same(g.rights.names(p.mask), ['read', 'write'])

  refuses(t, g, () => g.createProhibition(prohibition('bad', 'alice', [['RBAC', false]])), 'NGAC_ERR_INVALID_PROHIBITION', 'a PC container')
  refuses(t, g, () => g.createProhibition(prohibition('bad', 'alice', [['docs', false], ['Level', true]])), 'NGAC_ERR_INVALID_PROHIBITION', 'a PC container among good ones')
  refuses(t, g, () => g.createProhibition(prohibition('bad', 'alice', [['bob', false]])), 'NGAC_ERR_INVALID_PROHIBITION', 'a U container')
  refuses(t, g, () => g.createProhibition(prohibition('bad', 'alice', [])), 'NGAC_ERR_INVALID_PROHIBITION', 'no containers')
  refuses(t, g, () => g.createProhibition(prohibition('bad', 'alice', [['docs', false], ['docs', true]])), 'NGAC_ERR_INVALID_PROHIBITION', 'a container listed twice')
  refuses(t, g, () => g.createProhibition(prohibition('bad', 'alice', [['nothing', false]])), 'NGAC_ERR_NODE_NOT_FOUND', 'an unknown container')
  refuses(t, g, () => g.createProhibition({ ...prohibition('bad', 'alice', []), containers: [{ name: 'docs' }] as unknown as ProhibitionInfo['containers'] }),
    'NGAC_ERR_INVALID_PROHIBITION', 'a container without complement')
  refuses(t, g, () => g.createProhibition({ ...prohibition('bad', 'alice', []), containers: undefined as unknown as ProhibitionInfo['containers'] }),
    'NGAC_ERR_INVALID_PROHIBITION', 'containers missing')
  refuses(t, g, () => g.createProhibition({ ...prohibition('bad', 'alice', [['docs', false]]), intersection: 'yes' as unknown as boolean }),
    'NGAC_ERR_INVALID_PROHIBITION', 'intersection not a boolean')
  t.end()
})

t.test('prohibition names and rights; deleting prohibitions', (t) => {
  const g = sample()
  g.createProhibition(prohibition('p', 'alice', [['docs', false]]))
  const revision = g.revision
  refuses(t, g, () => g.createProhibition(prohibition('p', 'bob', [['secret', false]])), 'NGAC_ERR_PROHIBITION_EXISTS', 'a duplicate name')
  refuses(t, g, () => g.createProhibition(prohibition('', 'bob', [['secret', false]])), 'NGAC_ERR_INVALID_NAME', 'an empty name')
  refuses(t, g, () => g.createProhibition(prohibition('a\nb', 'bob', [['secret', false]])), 'NGAC_ERR_INVALID_NAME', 'a control character')
  refuses(t, g, () => g.createProhibition(prohibition('q', 'bob', [['secret', false]], ['fly'])), 'NGAC_ERR_UNKNOWN_RIGHT', 'an unknown right')
  refuses(t, g, () => g.createProhibition(prohibition('q', 'bob', [['secret', false]], [])), 'NGAC_ERR_VALIDATION', 'no rights')
  g.createProhibition(prohibition('q', 'bob', [['secret', false]], ['*', 'delete']))
  t.same(g.prohibition('q')?.rights, ['*', 'delete'])
  t.equal(g.revision, revision + 1)

  refuses(t, g, () => g.deleteProhibition('nope'), 'NGAC_ERR_PROHIBITION_NOT_FOUND', 'delete missing')
  g.deleteProhibition('p')
  t.equal(g.prohibition('p'), undefined)
  t.same(g.prohibitionsOf(g.idOf('alice')), [])
  t.equal(g.stats.prohibitions, 1)
  t.equal(g.revision, revision + 2)
  refuses(t, g, () => g.deleteProhibition('p'), 'NGAC_ERR_PROHIBITION_NOT_FOUND', 'delete twice')
  g.createProhibition(prohibition('p', 'alice', [['docs', false]]))
  t.ok(g.prohibition('p'), 'a deleted name can be used again')
  t.end()
})

// ------------------------------------------------------------------ resource rights

t.test('declaring resource rights', (t) => {
  const g = new PolicyGraph()
  t.same(g.resourceRights, [])
  g.setResourceRights(['read', 'write'])
  t.same(g.resourceRights, ['read', 'write'])
  t.ok(g.rights.has('read'))
  t.equal(g.revision, 1)
  refuses(t, g, () => g.setResourceRights(['read', 'assign']), 'NGAC_ERR_INVALID_RIGHT', 'a clash with an admin right')
  refuses(t, g, () => g.setResourceRights(['read', 'read']), 'NGAC_ERR_INVALID_RIGHT', 'a duplicate')
  refuses(t, g, () => g.setResourceRights(['read', '*']), 'NGAC_ERR_INVALID_RIGHT', "'*'")
  refuses(t, g, () => g.setResourceRights(['a b']), 'NGAC_ERR_INVALID_RIGHT', 'a space')
  refuses(t, g, () => g.setResourceRights(['']), 'NGAC_ERR_INVALID_RIGHT', 'empty')
  g.setResourceRights([])
  t.same(g.resourceRights, [])
  t.end()
})

t.test('a right in use cannot be removed', (t) => {
  const g = sample()
  g.associate('staff', 'docs', ['write'])
  refuses(t, g, () => g.setResourceRights(['read']), 'NGAC_ERR_RIGHT_IN_USE', 'used by an association')
  g.dissociate('staff', 'docs')
  g.createProhibition(prohibition('no-write', 'alice', [['docs', false]], ['write']))
  refuses(t, g, () => g.setResourceRights(['read']), 'NGAC_ERR_RIGHT_IN_USE', 'used by a prohibition')
  g.deleteProhibition('no-write')
  g.associate('staff', 'docs', ['*'])
  g.createProhibition(prohibition('no-all', 'alice', [['docs', false]], ['*', 'assign']))
  t.doesNotThrow(() => g.setResourceRights([]), "'*' and admin rights do not hold resource rights")
  t.same(g.rights.names(g.associationsFrom(g.idOf('staff'))[0].mask), [...ADMIN_RIGHTS].sort())
  t.end()
})

t.test("'*' follows newly declared rights and masks are renumbered", (t) => {
  const g = sample()
  g.associate('staff', 'docs', ['*'])
  g.associate('cleared', 'secret', ['write'])
  g.createProhibition(prohibition('all', 'bob', [['docs', false]], ['*']))
  g.createProhibition(prohibition('w', 'bob', [['secret', false]], ['write']))
  const starMask = (): string[] => g.rights.names(g.associationsFrom(g.idOf('staff'))[0].mask)
  const writeMask = (): string[] => g.rights.names(g.associationsFrom(g.idOf('cleared'))[0].mask)
  const prohibitionMask = (name: string): string[] => {
    const p = [...g.prohibitionList()].find((x) => x.name === name)
    return p === undefined ? [] : g.rights.names(p.mask)
  }
  t.same(starMask(), [...ADMIN_RIGHTS, 'read', 'write'].sort())

  g.setResourceRights(['read', 'write', 'approve'])
  t.same(starMask(), [...ADMIN_RIGHTS, 'approve', 'read', 'write'].sort(), 'the wildcard association gains the new right')
  t.same(prohibitionMask('all'), [...ADMIN_RIGHTS, 'approve', 'read', 'write'].sort(), 'so does the wildcard prohibition')
  t.same(g.association('staff', 'docs')?.rights, ['*'])

  g.setResourceRights(['approve', 'write', 'read'])
  t.same(writeMask(), ['write'], 'a named right keeps its meaning when renumbered')
  t.same(prohibitionMask('w'), ['write'])

  const many = Array.from({ length: 40 }, (_, i) => `r${i}`)
  g.setResourceRights(['write', ...many])
  t.equal(g.rights.words, 2)
  t.equal(g.associationsFrom(g.idOf('staff'))[0].mask.length, 2, 'masks grow with the catalogue')
  t.same(starMask(), [...ADMIN_RIGHTS, 'write', ...many].sort())
  t.same(writeMask(), ['write'])
  t.end()
})

// ------------------------------------------------------------------ revision

t.test('the revision counts successful mutations, one each', (t) => {
  const g = new PolicyGraph()
  const steps: [string, () => void][] = [
    ['setResourceRights', () => g.setResourceRights(['read'])],
    ['createNode PC', () => g.createNode('RBAC', 'PC')],
    ['createNode UA', () => g.createNode('staff', 'UA', ['RBAC'])],
    ['createNode U', () => g.createNode('alice', 'U', ['staff'])],
    ['createNode OA', () => g.createNode('docs', 'OA', ['RBAC'])],
    ['createNode OA 2', () => g.createNode('more', 'OA', ['RBAC'])],
    ['setProperties', () => g.setProperties('docs', { a: 'b' })],
    ['assign', () => g.assign('docs', 'more')],
    ['deassign', () => g.deassign('docs', 'more')],
    ['associate', () => g.associate('staff', 'docs', ['read'])],
    ['associate again', () => g.associate('staff', 'docs', ['*'])],
    ['dissociate', () => g.dissociate('staff', 'docs')],
    ['createProhibition', () => g.createProhibition(prohibition('p', 'alice', [['docs', false]]))],
    ['deleteProhibition', () => g.deleteProhibition('p')],
    ['deleteNode', () => g.deleteNode('more')]
  ]
  for (let i = 0; i < steps.length; i++) {
    const [what, step] = steps[i]
    step()
    t.equal(g.revision, i + 1, what)
  }
  refuses(t, g, () => g.createNode('alice', 'U', ['staff']), 'NGAC_ERR_NODE_EXISTS', 'a refused createNode')
  refuses(t, g, () => g.associate('staff', 'docs', ['fly']), 'NGAC_ERR_UNKNOWN_RIGHT', 'a refused associate')
  t.equal(g.revision, steps.length)
  t.end()
})

t.test('setRevision', (t) => {
  const g = sample()
  g.setRevision(41)
  t.equal(g.revision, 41)
  g.createNode('carol', 'U', ['staff'])
  t.equal(g.revision, 42, 'mutations count on from the set revision')
  g.setRevision(0)
  t.equal(g.revision, 0)
  g.setRevision(Number.MAX_SAFE_INTEGER)
  t.equal(g.revision, Number.MAX_SAFE_INTEGER)
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1, '3' as unknown as number]) {
    t.throws(() => g.setRevision(bad), { code: 'NGAC_ERR_VALIDATION' }, String(bad))
    t.equal(g.revision, Number.MAX_SAFE_INTEGER)
  }
  g.setRevision(5)
  t.throws(() => g.batch(() => g.setRevision(9)), { code: 'NGAC_ERR_VALIDATION' }, 'inside a batch')
  t.equal(g.revision, 5)
  t.end()
})

// ------------------------------------------------------------------ batches

t.test('a batch applies several mutations under one new revision', (t) => {
  const g = sample()
  const revision = g.revision
  const result = g.batch((b) => {
    t.equal(b, g, 'fn gets the graph')
    b.createNode('carol', 'U', ['staff'])
    b.associate('staff', 'docs', ['read'])
    b.createProhibition(prohibition('p', 'carol', [['docs', false]]))
    t.equal(g.revision, revision, 'no new revision inside the batch')
    t.ok(g.hasNode('carol'), 'changes are visible inside the batch')
    return 'done'
  })
  t.equal(result, 'done', 'batch returns what fn returns')
  t.equal(g.revision, revision + 1)
  t.ok(g.hasNode('carol'))
  t.equal(g.stats.prohibitions, 1)
  t.end()
})

t.test('a batch that throws midway restores everything', (t) => {
  const g = rich()
  const before = snapshot(g)
  const ids = new Map([...g.nodes()].map((n) => [n.name, g.idOf(n.name)]))
  const failure = new Error('stop')
  t.throws(() => g.batch((b) => {
    b.setResourceRights(['read', 'write', 'approve'])
    b.createNode('carol', 'U', ['eng'], { team: 'eng' })
    b.createNode('Third', 'PC')
    b.createNode('vault', 'OA', ['Third', 'secret'])
    b.associate('eng', 'report', ['approve'])
    b.associate('staff', 'docs', ['read'])
    b.associate('cleared', 'vault', ['*'])
    b.dissociate('cleared', 'secret')
    b.deleteProhibition('alice-no-secret-write')
    b.deleteProhibition('proc-outside-docs')
    b.createProhibition(prohibition('carol-no-vault', 'carol', [['vault', false]], ['approve']))
    b.createProhibition(prohibition('proc-2', { process: 'p-1' }, [['report', true]], ['write']))
    b.setProperties('report', { owner: 'bob' })
    b.setProperties('memo', { draft: 'yes' })
    b.deassign('report', 'secret')
    b.assign('memo', 'secret')
    b.assign('eng', 'cleared')
    b.deassign('alice', 'cleared')
    b.deleteNode('bob')
    b.createNode('bob', 'U', ['cleared'])
    b.deleteProhibition('eng-no-memo')
    b.dissociate('staff', 'memo')
    b.deleteNode('memo')
    b.setResourceRights(['read', 'write', 'approve', 'sign'])
    throw failure
  }), failure, 'the error is rethrown as is')
  t.same(snapshot(g), before, 'nodes, assignments, associations, prohibitions, properties, rights, stats and revision restored')
  for (const [name, id] of ids) t.equal(g.idOf(name), id, `${name} keeps its id`)
  t.equal(g.idOf('carol'), -1)
  t.equal(g.processProhibitions('p-1').length, 1)

  // The graph still works after a rollback.
  const revision = g.revision
  const idLimit = g.idLimit
  g.createNode('carol', 'U', ['eng'])
  t.equal(g.revision, revision + 1)
  t.equal(g.idOf('carol'), idLimit)
  t.end()
})

t.test('a batch refused by the graph midway restores everything', (t) => {
  const g = rich()
  const before = snapshot(g)
  t.throws(() => g.batch((b) => {
    b.createNode('carol', 'U', ['eng'])
    b.associate('eng', 'memo', ['read'])
    b.deleteProhibition('eng-no-memo')
    b.setProperties('report', {})
    b.assign('alice', 'bob')
  }), { code: 'NGAC_ERR_INVALID_ASSIGNMENT' })
  t.same(snapshot(g), before)
  t.end()
})

t.test('a batch deleting and recreating nodes, then failing, restores ids', (t) => {
  const g = rich()
  const before = snapshot(g)
  const names = ['bob', 'report', 'memo', 'Level', 'alice', 'secret', 'cleared']
  const ids = names.map((n) => g.idOf(n))
  t.throws(() => g.batch((b) => {
    b.deleteNode('bob')
    b.createNode('bob', 'U', ['staff'])
    b.deleteNode('bob')
    b.createNode('bob', 'UA', ['staff'])
    b.deleteNode('report')
    b.createNode('report', 'O', ['docs'])
    b.dissociate('staff', 'memo')
    b.deleteProhibition('eng-no-memo')
    b.deleteNode('memo')
    b.createNode('memo', 'OA', ['docs'])
    b.deleteNode('report')
    b.dissociate('cleared', 'secret')
    b.deleteProhibition('alice-no-secret-write')
    b.deleteNode('secret')
    b.deleteNode('alice')
    b.deleteNode('cleared')
    b.deleteNode('Level')
    b.createNode('Level', 'PC')
    b.createNode('alice', 'UA', ['Level'])
    t.equal(b.stats.nodes, 8, 'the batch got this far')
    b.deleteNode('cleared')
  }), { code: 'NGAC_ERR_NODE_NOT_FOUND' })
  t.same(names.map((n) => g.idOf(n)), ids)
  t.same(snapshot(g), before)
  t.equal(g.node('bob')?.type, 'U')
  t.equal(g.node('memo')?.type, 'O')
  t.equal(g.node('alice')?.type, 'U')
  t.same(g.parentsOf('report').sort(), ['docs', 'secret'])
  t.same([...g.policyClassIds()].map((id) => g.nameOf(id)).sort(), ['Level', 'RBAC'])
  t.end()
})

t.test('a failed batch leaves nothing behind for a later batch to trip on', (t) => {
  const g = sample()
  t.throws(() => g.batch((b) => {
    b.createNode('tmp', 'PC')
    b.createNode('tmpUA', 'UA', ['tmp'])
    throw new Error('stop')
  }))
  const idLimit = g.idLimit
  g.batch((b) => {
    b.createNode('tmp', 'PC')
    b.createNode('tmpUA', 'UA', ['tmp'])
  })
  t.equal(g.idOf('tmp'), idLimit)
  t.same(g.childrenOf('tmp'), ['tmpUA'])
  t.same([...g.policyClassIds()].map((id) => g.nameOf(id)), ['RBAC', 'Level', 'tmp'])
  t.end()
})

t.test('a nested batch joins the outer one', (t) => {
  const g = sample()
  const revision = g.revision
  g.batch((outer) => {
    outer.createNode('carol', 'U', ['staff'])
    const inner = outer.batch((b) => {
      b.createNode('dave', 'U', ['staff'])
      return 7
    })
    t.equal(inner, 7)
    t.equal(g.revision, revision, 'the inner batch adds no revision of its own')
  })
  t.equal(g.revision, revision + 1, 'one revision for outer and inner')
  t.ok(g.hasNode('dave'))

  const before = snapshot(g)
  t.throws(() => g.batch((outer) => {
    outer.batch((b) => b.createNode('erin', 'U', ['staff']))
    outer.createNode('frank', 'U', ['staff'])
    throw new Error('stop')
  }))
  t.notOk(g.hasNode('erin'), 'a completed inner batch is undone with the outer')
  t.same(snapshot(g), before)
  t.end()
})

t.test('a rollback restores the order of every list', (t) => {
  const g = rich()
  g.createNode('Spare', 'PC')
  g.createNode('Another', 'PC')
  const before = orderedSnapshot(g)
  const content = snapshot(g)
  t.throws(() => g.batch((b) => {
    b.deassign('alice', 'staff')
    b.deassign('report', 'docs')
    b.dissociate('staff', 'docs')
    b.deleteProhibition('alice-no-secret-write')
    b.deleteNode('bob')
    b.deleteNode('Spare')
    throw new Error('stop')
  }))
  t.same(snapshot(g), content, 'the content is restored')
  const after = orderedSnapshot(g) as Record<string, unknown>
  for (const [key, value] of Object.entries(before as Record<string, unknown>)) {
    t.same(after[key], value, `${key} in the order they had`)
  }
  t.end()
})

t.test('a nested batch that throws undoes only its own changes', (t) => {
  const g = rich()
  const revision = g.revision
  g.batch((outer) => {
    outer.createNode('kept', 'PC')
    t.throws(() => outer.batch((inner) => {
      inner.createNode('dropped', 'PC')
      throw new Error('stop')
    }))
  })
  t.ok(g.hasNode('kept'))
  t.notOk(g.hasNode('dropped'))
  t.equal(g.revision, revision + 1, 'one revision for the outer batch')
  t.end()
})

t.test('a batch that changes nothing takes no revision; an async one is refused and undone', (t) => {
  const g = rich()
  const revision = g.revision
  g.batch(() => undefined)
  t.equal(g.revision, revision)
  t.throws(() => g.batch(async (b) => { b.createNode('late', 'PC') }), { code: 'NGAC_ERR_VALIDATION' })
  t.notOk(g.hasNode('late'))
  t.equal(g.revision, revision)
  t.end()
})
