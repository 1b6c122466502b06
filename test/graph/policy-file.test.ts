import { readFileSync } from 'node:fs'
import t from 'tap'
import {
  ADMIN_RIGHTS,
  MAX_POLICY_FILE_PROBLEMS,
  PolicyGraph,
  exportPolicy,
  fromPolicyMachine,
  loadPolicy
} from '../../src/graph/index.js'
import type { PolicyDocument, PolicyFileProblem } from '../../src/graph/index.js'
import { NgacError } from '../../src/errors.js'

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

const PM_SAMPLE: unknown = JSON.parse(readFileSync(new URL('./fixtures/pm-sample.json', import.meta.url), 'utf8'))

const VALID: PolicyDocument = {
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
  prohibitions: [{
    name: 'no-report',
    subject: 'alice',
    rights: ['read'],
    intersection: true,
    containers: [{ name: 'report', complement: false }]
  }]
}

/** The problems of a document that must not load. */
function problemsOf (t: Test, doc: unknown, format?: 'ngac' | 'pm'): PolicyFileProblem[] {
  try {
    loadPolicy(doc, format === undefined ? {} : { format })
  } catch (err) {
    t.ok(err instanceof NgacError, 'an NgacError')
    const e = err as NgacError
    t.equal(e.code, 'NGAC_ERR_POLICY_FILE')
    t.equal(e.statusCode, 400)
    t.ok(Array.isArray(e.details), 'details is a list')
    return e.details as PolicyFileProblem[]
  }
  t.fail('the document loaded')
  return []
}

/** Asserts that `problems` has an entry at `path` with `code`. */
function hasProblem (t: Test, problems: readonly PolicyFileProblem[], path: string, code: string): void {
  const found = problems.some((p) => p.path === path && p.code === code)
  t.ok(found, `${code} at '${path}'`, found ? {} : { found: problems.map((p) => `${p.path} ${p.code}`) })
}

function pathsAndCodes (problems: readonly PolicyFileProblem[]): string[] {
  return problems.map((p) => `${p.path} ${p.code}`)
}

/** A graph as sorted plain data, to compare graphs regardless of creation order. */
function contents (graph: PolicyGraph): unknown {
  const sort = <T>(list: T[]): T[] => list.sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)
  return {
    resourceRights: [...graph.resourceRights].sort(),
    nodes: sort([...graph.nodes()].map((n) => ({ ...n, properties: { ...n.properties } }))),
    assignments: sort([...graph.assignments()]),
    associations: sort([...graph.associations()].map((a) => ({ ...a, rights: [...a.rights] }))),
    prohibitions: sort([...graph.prohibitions()].map((p) => JSON.parse(JSON.stringify(p))))
  }
}

t.test('a valid document loads, at revision 1', (t) => {
  const graph = loadPolicy(VALID)
  t.equal(graph.revision, 1)
  t.strictSame(graph.resourceRights, ['read', 'write'])
  t.strictSame([...graph.nodes()].map((n) => [n.name, n.type]),
    [['RBAC', 'PC'], ['staff', 'UA'], ['alice', 'U'], ['docs', 'OA'], ['report', 'O']])
  t.strictSame(graph.node('alice')?.properties, { email: 'alice@example.com' })
  t.strictSame(graph.node('staff')?.properties, {})
  t.strictSame([...graph.assignments()], [['staff', 'RBAC'], ['alice', 'staff'], ['docs', 'RBAC'], ['report', 'docs']])
  t.strictSame([...graph.associations()], [{ ua: 'staff', target: 'docs', rights: ['read'] }])
  t.strictSame([...graph.prohibitions()], [{
    name: 'no-report', subject: 'alice', rights: ['read'], intersection: true, containers: [{ name: 'report', complement: false }]
  }])
  t.strictSame(graph.stats, { nodesByType: { PC: 1, UA: 1, U: 1, OA: 1, O: 1 }, nodes: 5, assignments: 4, associations: 1, prohibitions: 1 })
  t.end()
})

t.test('only nodes are required; a process subject and several parents load', (t) => {
  t.equal(loadPolicy({ nodes: [] }).stats.nodes, 0)
  t.equal(loadPolicy({ nodes: [{ name: 'pc', type: 'PC' }] }).stats.nodes, 1)
  const graph = loadPolicy({
    resourceRights: ['read'],
    nodes: [{ name: 'a', type: 'PC' }, { name: 'b', type: 'PC' }, { name: 'oa', type: 'OA' }, { name: 'ua', type: 'UA' }],
    assignments: [['oa', 'a'], ['oa', 'b'], ['ua', 'a']],
    associations: [{ ua: 'ua', target: 'oa', rights: ['*'] }],
    prohibitions: [{ name: 'p', subject: { process: '42' }, rights: ['read', 'assign'], intersection: false, containers: [{ name: 'oa', complement: true }] }]
  })
  t.strictSame(graph.parentsOf('oa'), ['a', 'b'])
  t.strictSame(graph.association('ua', 'oa')?.rights, ['*'])
  t.strictSame(graph.prohibition('p')?.subject, { process: '42' })
  t.strictSame(graph.prohibition('p')?.rights, ['assign', 'read'])
  t.end()
})

t.test('nodes may be listed in any order, children before parents', (t) => {
  const graph = loadPolicy({
    resourceRights: ['read'],
    nodes: [
      { name: 'report', type: 'O' },
      { name: 'alice', type: 'U' },
      { name: 'docs', type: 'OA' },
      { name: 'staff', type: 'UA' },
      { name: 'RBAC', type: 'PC' }
    ],
    assignments: [['report', 'docs'], ['alice', 'staff'], ['docs', 'RBAC'], ['staff', 'RBAC']],
    associations: [{ ua: 'staff', target: 'report', rights: ['read'] }]
  })
  t.strictSame(graph.parentsOf('report'), ['docs'])
  t.strictSame(graph.parentsOf('alice'), ['staff'])
  t.strictSame(graph.parentsOf('docs'), ['RBAC'])
  t.strictSame(graph.childrenOf('RBAC').sort(), ['docs', 'staff'])
  t.equal(graph.revision, 1)
  t.strictSame([...graph.associations()], [{ ua: 'staff', target: 'report', rights: ['read'] }])
  t.end()
})

t.test('a 10-level chain listed in reverse loads', (t) => {
  const names = Array.from({ length: 10 }, (_, i) => `level${i}`)
  const doc: PolicyDocument = {
    nodes: [...names.map((name) => ({ name, type: 'OA' as const })).reverse(), { name: 'pc', type: 'PC' }],
    assignments: names.map((name, i): [string, string] => [name, i === 0 ? 'pc' : names[i - 1]]).reverse()
  }
  const graph = loadPolicy(doc)
  for (let i = 1; i < 10; i++) t.strictSame(graph.parentsOf(names[i]), [names[i - 1]])
  t.strictSame(graph.parentsOf('level0'), ['pc'])
  t.ok(graph.contains(graph.idOf('pc'), graph.idOf('level9')))
  t.strictSame([...graph.nodes()].map((n) => n.name), ['pc', ...names], 'created parents first')
  t.end()
})

t.test('a document that is not an object, or has wrong field types', (t) => {
  for (const doc of [null, [], 'policy', 42, undefined]) {
    const problems = problemsOf(t, doc)
    t.equal(problems.length, 1)
    hasProblem(t, problems, '', 'NGAC_ERR_VALIDATION')
  }
  hasProblem(t, problemsOf(t, {}), 'nodes', 'NGAC_ERR_VALIDATION')
  hasProblem(t, problemsOf(t, { nodes: {} }), 'nodes', 'NGAC_ERR_VALIDATION')
  hasProblem(t, problemsOf(t, { nodes: [], resourceRights: 'read' }), 'resourceRights', 'NGAC_ERR_VALIDATION')
  hasProblem(t, problemsOf(t, { nodes: [], assignments: {} }), 'assignments', 'NGAC_ERR_VALIDATION')
  hasProblem(t, problemsOf(t, { nodes: [], associations: 1 }), 'associations', 'NGAC_ERR_VALIDATION')
  hasProblem(t, problemsOf(t, { nodes: [], prohibitions: null }), 'prohibitions', 'NGAC_ERR_VALIDATION')

  const problems = problemsOf(t, {
    resourceRights: ['read', 7, 'create', 'read', 'bad right'],
    nodes: [
      'pc',
      { name: 'pc', type: 'PC', extra: 1 },
      { name: 'x', type: 'XX' },
      { name: '', type: 'OA' },
      { type: 'OA' },
      { name: 'y', type: 'OA', properties: { a: 'ok', b: 2 } },
      { name: 'z', type: 'OA', properties: [] }
    ],
    assignments: [['y', 'pc'], ['z', 'pc'], 'x->pc', ['x'], ['x', 'pc']],
    associations: [null, { ua: 1, target: 'pc', rights: 'read' }]
  })
  hasProblem(t, problems, 'resourceRights[1]', 'NGAC_ERR_INVALID_RIGHT')
  hasProblem(t, problems, 'resourceRights[2]', 'NGAC_ERR_INVALID_RIGHT')
  hasProblem(t, problems, 'resourceRights[3]', 'NGAC_ERR_INVALID_RIGHT')
  hasProblem(t, problems, 'resourceRights[4]', 'NGAC_ERR_INVALID_RIGHT')
  hasProblem(t, problems, 'nodes[0]', 'NGAC_ERR_VALIDATION')
  hasProblem(t, problems, 'nodes[1].extra', 'NGAC_ERR_VALIDATION')
  hasProblem(t, problems, 'nodes[2].type', 'NGAC_ERR_INVALID_TYPE')
  hasProblem(t, problems, 'nodes[3].name', 'NGAC_ERR_INVALID_NAME')
  hasProblem(t, problems, 'nodes[4].name', 'NGAC_ERR_VALIDATION')
  hasProblem(t, problems, 'nodes[5].properties.b', 'NGAC_ERR_VALIDATION')
  hasProblem(t, problems, 'nodes[6].properties', 'NGAC_ERR_VALIDATION')
  hasProblem(t, problems, 'assignments[2]', 'NGAC_ERR_VALIDATION')
  hasProblem(t, problems, 'assignments[3]', 'NGAC_ERR_VALIDATION')
  hasProblem(t, problems, 'associations[0]', 'NGAC_ERR_VALIDATION')
  hasProblem(t, problems, 'associations[1].ua', 'NGAC_ERR_VALIDATION')
  hasProblem(t, problems, 'associations[1].rights', 'NGAC_ERR_VALIDATION')
  t.notOk(problems.some((p) => p.path === 'assignments[4]'), 'a node refused for its type is not reported again where it is used')
  t.end()
})

t.test('unknown fields are rejected', (t) => {
  const problems = problemsOf(t, {
    ...VALID,
    version: 2,
    'odd key': true,
    associations: [{ ua: 'staff', target: 'docs', rights: ['read'], note: 'x' }],
    prohibitions: [{ ...VALID.prohibitions?.[0], why: 'x', containers: [{ name: 'report', complement: false, deep: true }] }]
  })
  hasProblem(t, problems, 'version', 'NGAC_ERR_VALIDATION')
  hasProblem(t, problems, '["odd key"]', 'NGAC_ERR_VALIDATION')
  hasProblem(t, problems, 'associations[0].note', 'NGAC_ERR_VALIDATION')
  hasProblem(t, problems, 'prohibitions[0].why', 'NGAC_ERR_VALIDATION')
  hasProblem(t, problems, 'prohibitions[0].containers[0].deep', 'NGAC_ERR_VALIDATION')
  t.equal(problems.length, 5)
  t.end()
})

t.test('duplicate node names', (t) => {
  const problems = problemsOf(t, {
    nodes: [{ name: 'pc', type: 'PC' }, { name: 'a', type: 'OA' }, { name: 'a', type: 'UA' }],
    assignments: [['a', 'pc']]
  })
  t.strictSame(pathsAndCodes(problems), ['nodes[2].name NGAC_ERR_NODE_EXISTS'])
  t.end()
})

t.test('unknown nodes referenced anywhere', (t) => {
  const problems = problemsOf(t, {
    ...VALID,
    assignments: [...VALID.assignments ?? [], ['ghost', 'RBAC'], ['report', 'nowhere']],
    associations: [{ ua: 'staff', target: 'x', rights: ['read'] }, { ua: 'nobody', target: 'docs', rights: ['read'] }],
    prohibitions: [
      { name: 'p1', subject: 'eve', rights: ['read'], intersection: true, containers: [{ name: 'docs', complement: false }] },
      { name: 'p2', subject: 'alice', rights: ['read'], intersection: true, containers: [{ name: 'docs', complement: false }, { name: 'y', complement: true }] }
    ]
  })
  t.strictSame(pathsAndCodes(problems).sort(), [
    'assignments[4] NGAC_ERR_NODE_NOT_FOUND',
    'assignments[5] NGAC_ERR_NODE_NOT_FOUND',
    'associations[0].target NGAC_ERR_NODE_NOT_FOUND',
    'associations[1].ua NGAC_ERR_NODE_NOT_FOUND',
    'prohibitions[0].subject NGAC_ERR_NODE_NOT_FOUND',
    'prohibitions[1].containers[1].name NGAC_ERR_NODE_NOT_FOUND'
  ])
  t.end()
})

t.test('a node other than a policy class without a parent', (t) => {
  const problems = problemsOf(t, {
    nodes: [{ name: 'pc', type: 'PC' }, { name: 'orphan', type: 'OA' }, { name: 'u', type: 'U' }, { name: 'ua', type: 'UA' }],
    assignments: [['u', 'ua'], ['ua', 'pc']]
  })
  t.strictSame(pathsAndCodes(problems), ['nodes[1] NGAC_ERR_NO_PARENT'])
  t.end()
})

t.test('assignments between types the model does not allow', (t) => {
  const problems = problemsOf(t, {
    nodes: [
      { name: 'pc', type: 'PC' }, { name: 'pc2', type: 'PC' }, { name: 'ua', type: 'UA' }, { name: 'oa', type: 'OA' },
      { name: 'u', type: 'U' }, { name: 'o', type: 'O' }
    ],
    assignments: [['ua', 'pc'], ['oa', 'pc'], ['u', 'oa'], ['u', 'ua'], ['o', 'ua'], ['o', 'oa'], ['pc2', 'pc'], ['u', 'pc'], ['oa', 'o']]
  })
  t.strictSame(pathsAndCodes(problems), [
    'assignments[2] NGAC_ERR_INVALID_ASSIGNMENT',
    'assignments[4] NGAC_ERR_INVALID_ASSIGNMENT',
    'assignments[6] NGAC_ERR_INVALID_ASSIGNMENT',
    'assignments[7] NGAC_ERR_INVALID_ASSIGNMENT',
    'assignments[8] NGAC_ERR_INVALID_ASSIGNMENT'
  ])
  t.end()
})

t.test('cycles are reported with the nodes involved', (t) => {
  // a, b and c only have each other as parents: none can be created.
  let problems = problemsOf(t, {
    nodes: [{ name: 'pc', type: 'PC' }, { name: 'a', type: 'OA' }, { name: 'b', type: 'OA' }, { name: 'c', type: 'OA' }, { name: 'o', type: 'O' }],
    assignments: [['o', 'a'], ['a', 'b'], ['b', 'c'], ['c', 'a']]
  })
  t.strictSame(pathsAndCodes(problems), ['assignments[1] NGAC_ERR_ASSIGNMENT_CYCLE'])
  for (const name of ["'a'", "'b'", "'c'"]) t.match(problems[0].message, name)
  t.notMatch(problems[0].message, "'o'", 'a node waiting on the cycle is not part of it')

  // The cycle closes through a second parent: the graph refuses that assignment.
  problems = problemsOf(t, {
    nodes: [{ name: 'pc', type: 'PC' }, { name: 'a', type: 'OA' }, { name: 'b', type: 'OA' }, { name: 'c', type: 'OA' }],
    assignments: [['a', 'pc'], ['b', 'a'], ['c', 'b'], ['a', 'c']]
  })
  t.strictSame(pathsAndCodes(problems), ['assignments[3] NGAC_ERR_ASSIGNMENT_CYCLE'])
  for (const name of ["'a'", "'b'", "'c'"]) t.match(problems[0].message, name)

  problems = problemsOf(t, { nodes: [{ name: 'pc', type: 'PC' }, { name: 'a', type: 'OA' }], assignments: [['a', 'pc'], ['a', 'a']] })
  t.strictSame(pathsAndCodes(problems), ['assignments[1] NGAC_ERR_ASSIGNMENT_CYCLE'])
  t.end()
})

t.test('an assignment listed twice is refused by the graph, at its entry', (t) => {
  const problems = problemsOf(t, { ...VALID, assignments: [...VALID.assignments ?? [], ['alice', 'staff']] })
  t.strictSame(pathsAndCodes(problems), ['assignments[4] NGAC_ERR_ASSIGNMENT_EXISTS'])
  t.end()
})

t.test('associations: a pair given twice, wrong ends, unknown rights', (t) => {
  const problems = problemsOf(t, {
    ...VALID,
    associations: [
      { ua: 'staff', target: 'docs', rights: ['read', 'exec'] },
      { ua: 'staff', target: 'report', rights: ['read'] },
      { ua: 'staff', target: 'report', rights: ['write'] },
      { ua: 'alice', target: 'docs', rights: ['read'] },
      { ua: 'staff', target: 'RBAC', rights: ['read'] },
      { ua: 'staff', target: 'staff', rights: [] }
    ]
  })
  t.strictSame(pathsAndCodes(problems), [
    'associations[0].rights[1] NGAC_ERR_UNKNOWN_RIGHT',
    'associations[2] NGAC_ERR_ASSOCIATION_EXISTS',
    'associations[3].ua NGAC_ERR_INVALID_ASSOCIATION',
    'associations[4].target NGAC_ERR_INVALID_ASSOCIATION',
    'associations[5].rights NGAC_ERR_VALIDATION'
  ])
  t.end()
})

t.test('prohibitions: a name given twice, bad subjects and containers, unknown rights', (t) => {
  const base = { rights: ['read'], intersection: true, containers: [{ name: 'docs', complement: false }] }
  const problems = problemsOf(t, {
    ...VALID,
    prohibitions: [
      { ...base, name: 'p', subject: 'alice' },
      { ...base, name: 'p', subject: 'staff' },
      { ...base, name: 'q', subject: 'docs' },
      { ...base, name: 'r', subject: { process: '' } },
      { ...base, name: 's', subject: 'alice', rights: ['read', 'fly'] },
      { ...base, name: 't', subject: 'alice', containers: [] },
      { ...base, name: 'u', subject: 'alice', containers: [{ name: 'RBAC', complement: false }] },
      { ...base, name: 'v', subject: 'alice', intersection: 'yes' },
      { ...base, name: 'w', subject: 'alice', containers: [{ name: 'docs', complement: false }, { name: 'docs', complement: true }] },
      { ...base, name: '', subject: 'alice' }
    ]
  })
  t.strictSame(pathsAndCodes(problems), [
    'prohibitions[1].name NGAC_ERR_PROHIBITION_EXISTS',
    'prohibitions[2].subject NGAC_ERR_INVALID_PROHIBITION',
    'prohibitions[3].subject.process NGAC_ERR_INVALID_PROHIBITION',
    'prohibitions[4].rights[1] NGAC_ERR_UNKNOWN_RIGHT',
    'prohibitions[5].containers NGAC_ERR_INVALID_PROHIBITION',
    'prohibitions[6].containers[0].name NGAC_ERR_INVALID_PROHIBITION',
    'prohibitions[7].intersection NGAC_ERR_VALIDATION',
    'prohibitions[8].containers[1].name NGAC_ERR_INVALID_PROHIBITION',
    'prohibitions[9].name NGAC_ERR_INVALID_NAME'
  ])
  t.end()
})

t.test('several problems are reported together, and the message lists the first', (t) => {
  let err: unknown
  try {
    loadPolicy({
      resourceRights: ['read'],
      nodes: [{ name: 'pc', type: 'PC' }, { name: 'x', type: 'OA' }, { name: 'x', type: 'OA' }, { name: 'u', type: 'U' }, { name: 'o', type: 'O' }],
      assignments: [['x', 'pc'], ['u', 'pc'], ['y', 'pc']],
      associations: [{ ua: 'u', target: 'pc', rights: ['exec'] }],
      extra: true
    })
  } catch (e) {
    err = e
  }
  t.ok(err instanceof NgacError)
  const e = err as NgacError
  t.equal(e.code, 'NGAC_ERR_POLICY_FILE')
  const problems = e.details as PolicyFileProblem[]
  t.strictSame(pathsAndCodes(problems).sort(), [
    'assignments[1] NGAC_ERR_INVALID_ASSIGNMENT',
    'assignments[2] NGAC_ERR_NODE_NOT_FOUND',
    'associations[0].rights[0] NGAC_ERR_UNKNOWN_RIGHT',
    'associations[0].target NGAC_ERR_INVALID_ASSOCIATION',
    'associations[0].ua NGAC_ERR_INVALID_ASSOCIATION',
    'extra NGAC_ERR_VALIDATION',
    'nodes[2].name NGAC_ERR_NODE_EXISTS',
    'nodes[4] NGAC_ERR_NO_PARENT'
  ])
  for (const p of problems.slice(0, 5)) t.match(e.message, `${p.path}: `, `the message names ${p.path}`)
  t.strictSame(Object.keys(e.toJSON()), ['code', 'message', 'details'])
  t.end()
})

t.test(`at most ${MAX_POLICY_FILE_PROBLEMS} problems are listed`, (t) => {
  const nodes = [{ name: 'pc', type: 'PC' }, ...Array.from({ length: 500 }, (_, i) => ({ name: `n${i}`, type: 'OA' }))]
  const problems = problemsOf(t, { nodes, assignments: nodes.slice(1).map((n) => [n.name, 'missing']) })
  t.equal(problems.length, MAX_POLICY_FILE_PROBLEMS)
  hasProblem(t, problems, 'assignments[0]', 'NGAC_ERR_NODE_NOT_FOUND')
  t.end()
})

t.test('an unknown format is refused', (t) => {
  t.throws(() => loadPolicy(VALID, { format: 'xml' as 'ngac' }), { code: 'NGAC_ERR_VALIDATION' })
  t.end()
})

t.test('export is canonical and round-trips', (t) => {
  const doc: PolicyDocument = {
    resourceRights: ['write', 'read', 'approve'],
    nodes: [
      { name: 'report', type: 'O', properties: { owner: 'alice', 'data-class': 'internal' } },
      { name: 'alice', type: 'U' },
      { name: 'finance', type: 'OA', properties: {} },
      { name: 'docs', type: 'OA' },
      { name: 'staff', type: 'UA' },
      { name: 'managers', type: 'UA' },
      { name: 'RBAC', type: 'PC' },
      { name: 'Location', type: 'PC', properties: { region: 'EU' } }
    ],
    assignments: [
      ['report', 'docs'], ['report', 'finance'], ['alice', 'managers'], ['alice', 'staff'], ['managers', 'staff'],
      ['staff', 'RBAC'], ['docs', 'RBAC'], ['finance', 'Location'], ['docs', 'Location']
    ],
    associations: [
      { ua: 'staff', target: 'docs', rights: ['read', 'read'] },
      { ua: 'managers', target: 'finance', rights: ['write', 'approve', 'assign_to'] },
      { ua: 'managers', target: 'staff', rights: ['*'] }
    ],
    prohibitions: [
      { name: 'no-write', subject: 'alice', rights: ['write'], intersection: false, containers: [{ name: 'finance', complement: false }, { name: 'docs', complement: true }] },
      { name: 'kiosk', subject: { process: 'kiosk-1' }, rights: ['approve'], intersection: true, containers: [{ name: 'docs', complement: false }] }
    ]
  }
  const graph = loadPolicy(doc)
  const first = exportPolicy(graph)
  t.strictSame(first.resourceRights, ['write', 'read', 'approve'], 'resource rights in declared order')
  t.strictSame(first.nodes.map((n) => n.name), ['RBAC', 'docs', 'report', 'staff', 'managers', 'alice', 'Location', 'finance'],
    'document order, each node right after its first parent when that comes later')
  t.strictSame(first.nodes.find((n) => n.name === 'finance'), { name: 'finance', type: 'OA' }, 'no empty properties')
  t.strictSame(first.nodes.find((n) => n.name === 'report'), { name: 'report', type: 'O', properties: { owner: 'alice', 'data-class': 'internal' } })
  t.strictSame(first.associations?.[0], { ua: 'staff', target: 'docs', rights: ['read'] })
  t.strictSame(Object.keys(first), ['resourceRights', 'nodes', 'assignments', 'associations', 'prohibitions'])

  const again = loadPolicy(JSON.parse(JSON.stringify(first)))
  t.strictSame(contents(again), contents(graph), 'loads back into an equal graph')
  t.strictSame(exportPolicy(again), first, 'export -> load -> export is stable')
  t.equal(again.revision, 1)
  t.end()
})

t.test('a graph built through the API exports to a document that loads into an equal graph', (t) => {
  const graph = new PolicyGraph()
  graph.setResourceRights(['read'])
  graph.createNode('pc1', 'PC')
  graph.createNode('first', 'OA', ['pc1'])
  graph.createNode('o', 'O', ['first'])
  graph.createNode('later', 'OA', ['pc1'])
  graph.assign('o', 'later')
  graph.deassign('o', 'first') // o's only parent is now created after it
  graph.createNode('pc2', 'PC')
  graph.assign('later', 'pc2')
  graph.createNode('ua', 'UA', ['pc1'])
  graph.associate('ua', 'o', ['read'])
  const doc = exportPolicy(graph)
  const loaded = loadPolicy(doc)
  t.strictSame(contents(loaded), contents(graph))
  t.strictSame(exportPolicy(loadPolicy(exportPolicy(loaded))), exportPolicy(loaded))
  t.end()
})

t.test('policy-machine-core JSON: the sample converts and loads', (t) => {
  const doc = fromPolicyMachine(PM_SAMPLE)
  t.strictSame(doc.resourceRights, ['read', 'write', 'sign'], "'delete' is our admin right, not declared")
  t.strictSame(doc.nodes.slice(0, 4), [
    { name: 'PM_ADMIN', type: 'PC' },
    { name: 'PM_ADMIN:base', type: 'OA' },
    { name: 'Clinic RBAC', type: 'PC' },
    { name: 'Wards', type: 'PC', properties: { owner: 'medical-director' } }
  ])
  t.equal(doc.nodes.length, 22)

  const graph = loadPolicy(PM_SAMPLE, { format: 'pm' })
  t.equal(graph.revision, 1)
  t.strictSame(graph.node('dr.ana'), { name: 'dr.ana', type: 'U', properties: { email: 'ana@clinic.example' } })
  t.strictSame(graph.node('chart 1001')?.type, 'O')
  t.strictSame(graph.parentsOf('nurse.ben'), ['clinician', 'cardiology staff', 'oncology staff'])
  t.strictSame(graph.parentsOf('cardiology records'), ['medical records', 'cardiology'])
  t.strictSame(graph.parentsOf('@super'), ['PM_ADMIN'])
  t.strictSame(graph.parentsOf('PM_ADMIN:base'), ['PM_ADMIN'])

  t.strictSame(graph.association('clinician', 'medical records')?.rights, ['read', 'write'])
  t.strictSame(graph.association('physician', 'medical records')?.rights, ['assign', 'create', 'sign'])
  t.strictSame(graph.association('records admin', 'medical records')?.rights, [
    'assign', 'assign_to', 'associate', 'associate_to', 'create', 'deassign', 'deassign_from', 'delete',
    'dissociate', 'dissociate_from', 'query', 'read', 'sign', 'update', 'write'
  ])
  t.strictSame(graph.association('cardiology staff', 'cardiology')?.rights, ['*'])
  t.strictSame(graph.association('auditor', 'medical records')?.rights, ['query', 'read'])
  t.equal(graph.association('auditor', 'cardiology'), undefined, 'an association left with no right is dropped')
  t.strictSame(graph.association('@super', 'PM_ADMIN:base')?.rights, [...ADMIN_RIGHTS].sort())
  t.equal(graph.stats.associations, 7)

  t.strictSame([...graph.prohibitions()], [
    {
      name: 'ben may not change oncology charts',
      subject: 'nurse.ben',
      rights: ['delete', 'write'],
      intersection: true,
      containers: [{ name: 'oncology records', complement: false }]
    },
    {
      name: 'kiosk is read only outside cardiology',
      subject: { process: 'ward-kiosk-7' },
      rights: ['delete', 'sign', 'write'],
      intersection: true,
      containers: [{ name: 'medical records', complement: false }, { name: 'cardiology', complement: true }]
    }
  ], 'a prohibition of nothing we model is dropped')
  t.end()
})

t.test('policy-machine-core JSON of 3.0-3.2: resourceOperations, legacy prohibitions, *a and *r', (t) => {
  const graph = loadPolicy({
    resourceOperations: ['read', 'write'],
    graph: {
      pcs: [{ id: 1, name: 'pc1' }],
      uas: [{
        id: 2,
        name: 'ua1',
        assignments: [1],
        associations: [
          { target: 3, arset: ['*r', 'create_object', 'delete_object_from', '*q'] },
          { target: -2, arset: ['*a'] }
        ]
      }],
      oas: [{ id: 3, name: 'oa1', assignments: [1], properties: [{ key: 'k', value: 'v' }] }],
      users: [{ id: 4, name: 'u1', assignments: [2] }],
      objects: [{ id: 5, name: 'o1', assignments: [3] }]
    },
    prohibitions: [
      { name: 'p1', subject: { node: 4 }, containers: [{ id: 3, complement: false }, { id: 5, complement: true }], arset: ['write'], intersection: false },
      { name: 'p2', subject: { process: '123' }, containers: [{ id: 3, complement: false }], arset: ['read'] }
    ],
    obligations: [{ name: 'o', author: 4, pml: 'create obligation "o" ...' }],
    operations: ['operation op() {}'],
    routines: ['routine r() {}']
  }, { format: 'pm' })
  t.strictSame(graph.resourceRights, ['read', 'write'])
  t.strictSame(graph.association('ua1', 'oa1')?.rights, ['create', 'query', 'read', 'write'])
  t.strictSame(graph.association('ua1', 'PM_ADMIN:base')?.rights, [...ADMIN_RIGHTS].sort())
  t.strictSame(graph.node('oa1')?.properties, { k: 'v' })
  t.strictSame(graph.prohibition('p1'), {
    name: 'p1', subject: 'u1', rights: ['write'], intersection: false,
    containers: [{ name: 'oa1', complement: false }, { name: 'o1', complement: true }]
  })
  t.strictSame(graph.prohibition('p2')?.subject, { process: '123' })
  t.equal(graph.prohibition('p2')?.intersection, true, 'intersection defaults to true, as in policy-machine-core')
  t.end()
})

t.test('policy-machine-core JSON: an admin node referred to only by a prohibition is created', (t) => {
  const graph = loadPolicy({
    resourceAccessRights: ['read'],
    graph: { pcs: [{ id: 1, name: 'pc' }], uas: [{ id: 2, name: 'ua', assignments: [1] }] },
    prohibitions: [{ name: 'p', nodeId: 2, accessRightSet: ['admin:graph:node:create'], inclusionSet: [-3], exclusionSet: [], isConjunctive: true }]
  }, { format: 'pm' })
  t.strictSame(graph.parentsOf('PM_ADMIN:policy_classes'), ['PM_ADMIN:base'])
  t.strictSame(graph.parentsOf('PM_ADMIN:base'), ['PM_ADMIN'])
  t.strictSame(graph.prohibition('p')?.containers, [{ name: 'PM_ADMIN:policy_classes', complement: false }])
  t.strictSame(graph.prohibition('p')?.rights, ['create'])
  t.end()
})

t.test('policy-machine-core JSON: problems are reported at their place in the original document', (t) => {
  hasProblem(t, problemsOf(t, [], 'pm'), '', 'NGAC_ERR_VALIDATION')
  t.throws(() => fromPolicyMachine('x'), { code: 'NGAC_ERR_POLICY_FILE' })

  // Found while converting.
  let problems = problemsOf(t, {
    resourceAccessRights: ['read'],
    policy: {},
    graph: {
      pcs: [{ id: 1, name: 'pc' }],
      uas: [{ id: 2, name: 'ua', assignments: [1], associations: [{ target: 3, arset: ['read', 'fly'] }] }],
      oas: [{ id: 3, name: 'oa', assignments: [1] }, { id: 3, name: 'oa-again', assignments: [1] }],
      users: [{ id: 4, name: 'u', assignments: [2, 99] }],
      nodes: []
    },
    prohibitions: [{ name: 'p', nodeId: 4, accessRightSet: ['read'], inclusionSet: [77], exclusionSet: [], isConjunctive: true }]
  }, 'pm')
  t.strictSame(pathsAndCodes(problems).sort(), [
    'graph.nodes NGAC_ERR_VALIDATION',
    'graph.oas[1].id NGAC_ERR_NODE_EXISTS',
    'graph.uas[0].associations[0].arset[1] NGAC_ERR_UNKNOWN_RIGHT',
    'graph.users[0].assignments[1] NGAC_ERR_NODE_NOT_FOUND',
    'policy NGAC_ERR_VALIDATION',
    'prohibitions[0].inclusionSet[0] NGAC_ERR_NODE_NOT_FOUND'
  ])

  // Found while loading the converted document, reported with the original paths.
  problems = problemsOf(t, {
    resourceAccessRights: ['read', 'read file'],
    graph: {
      pcs: [{ id: 1, name: 'pc' }],
      uas: [{ id: 2, name: 'ua', assignments: [1], associations: [{ target: 1, arset: ['read'] }] }],
      oas: [{ id: 3, name: 'oa', assignments: [1] }, { id: 5, name: 'oa', assignments: [1] }],
      users: [{ id: 4, name: 'u', assignments: [1] }],
      objects: [{ id: 6, name: 'o', assignments: [] }]
    }
  }, 'pm')
  t.strictSame(pathsAndCodes(problems).sort(), [
    'graph.oas[1].name NGAC_ERR_NODE_EXISTS',
    'graph.objects[0] NGAC_ERR_NO_PARENT',
    'graph.uas[0].associations[0].target NGAC_ERR_INVALID_ASSOCIATION',
    'graph.users[0].assignments[0] NGAC_ERR_INVALID_ASSIGNMENT',
    'resourceAccessRights[1] NGAC_ERR_INVALID_RIGHT'
  ])
  t.end()
})

t.test('a large document (about 200k elements, children first, a deep chain) loads without recursion', (t) => {
  const DEPTH = 5000
  const OBJECTS = 60000
  const USERS = 30000
  const ROLES = 500
  const nodes: { name: string, type: 'PC' | 'UA' | 'U' | 'OA' | 'O' }[] = []
  const assignments: [string, string][] = []
  const associations: { ua: string, target: string, rights: string[] }[] = []
  for (let i = 0; i < OBJECTS; i++) {
    nodes.push({ name: `o${i}`, type: 'O' })
    assignments.push([`o${i}`, `c${DEPTH - 1 - (i % 100)}`])
  }
  for (let i = 0; i < USERS; i++) {
    nodes.push({ name: `u${i}`, type: 'U' })
    assignments.push([`u${i}`, `r${i % ROLES}`])
  }
  for (let i = DEPTH - 1; i >= 0; i--) {
    nodes.push({ name: `c${i}`, type: 'OA' })
    assignments.push([`c${i}`, i === 0 ? 'pc' : `c${i - 1}`])
  }
  for (let i = 0; i < ROLES; i++) {
    nodes.push({ name: `r${i}`, type: 'UA' })
    assignments.push([`r${i}`, 'pc'])
    associations.push({ ua: `r${i}`, target: `c${(i * 7) % DEPTH}`, rights: ['read'] })
  }
  nodes.push({ name: 'pc', type: 'PC' })
  const start = performance.now()
  const graph = loadPolicy({ resourceRights: ['read'], nodes, assignments, associations })
  const ms = performance.now() - start
  t.equal(graph.stats.nodes, nodes.length)
  t.equal(graph.stats.assignments, assignments.length)
  t.equal(graph.stats.associations, ROLES)
  t.ok(nodes.length + assignments.length + associations.length > 190000)
  t.strictSame(graph.parentsOf(`c${DEPTH - 1}`), [`c${DEPTH - 2}`])
  t.ok(ms < 5000, `loaded in ${Math.round(ms)} ms`)

  const exported = exportPolicy(graph)
  t.equal(exported.nodes[0].name, 'pc')
  t.equal(exported.nodes.length, nodes.length)
  t.end()
})
