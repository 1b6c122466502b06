import t, { type Test } from 'tap'
import { LINT_RULES, lintPolicy, type LintFinding } from '../../src/analysis/index.js'
import { loadPolicy, type PolicyDocument, type PolicyNode, type PolicyAssignment, type PolicyAssociation, type PolicyProhibition } from '../../src/graph/index.js'

/** A small policy with no likely mistake: every user holds something, every object is reachable. */
const CLEAN = {
  resourceRights: ['read', 'write'],
  nodes: [
    { name: 'RBAC', type: 'PC' },
    { name: 'staff', type: 'UA' },
    { name: 'alice', type: 'U' },
    { name: 'bob', type: 'U' },
    { name: 'docs', type: 'OA' },
    { name: 'drafts', type: 'OA' },
    { name: 'report', type: 'O' },
    { name: 'memo', type: 'O' },
    { name: 'draft-1', type: 'O' }
  ],
  assignments: [
    ['staff', 'RBAC'], ['alice', 'staff'], ['bob', 'staff'],
    ['docs', 'RBAC'], ['report', 'docs'], ['memo', 'docs'], ['drafts', 'docs'], ['draft-1', 'drafts']
  ],
  associations: [{ ua: 'staff', target: 'docs', rights: ['read', 'write'] }],
  prohibitions: [
    { name: 'bob-keeps-memo', subject: 'bob', rights: ['write'], intersection: true, containers: [{ name: 'memo', complement: false }] }
  ]
} satisfies PolicyDocument

/** The clean policy with more elements. */
function withExtra (extra: {
  nodes?: PolicyNode[]
  assignments?: PolicyAssignment[]
  associations?: PolicyAssociation[]
  prohibitions?: PolicyProhibition[]
}): PolicyDocument {
  return {
    resourceRights: CLEAN.resourceRights,
    nodes: [...CLEAN.nodes, ...(extra.nodes ?? [])],
    assignments: [...CLEAN.assignments, ...(extra.assignments ?? [])] as PolicyAssignment[],
    associations: [...CLEAN.associations, ...(extra.associations ?? [])],
    prohibitions: [...CLEAN.prohibitions, ...(extra.prohibitions ?? [])]
  }
}

function only (t: Test, findings: readonly LintFinding[]): LintFinding {
  t.equal(findings.length, 1, `one finding: ${findings.map((f) => f.message).join(' | ')}`)
  return findings[0] as LintFinding
}

t.test('a clean policy has no findings, and its statistics', async (t) => {
  const graph = loadPolicy(CLEAN)
  const report = lintPolicy(graph)
  t.same(report.findings, [])
  t.same(report.counts, { error: 0, warning: 0, info: 0 })
  t.equal(report.revision, graph.revision)
  t.same(report.statistics, {
    nodes: 9,
    nodesByType: { PC: 1, UA: 1, U: 2, OA: 2, O: 3 },
    assignments: 8,
    associations: 1,
    prohibitions: 1,
    maxDepth: 3, // draft-1 -> drafts -> docs -> RBAC
    maxFanOut: 3, // docs: report, memo, drafts
    meanFanOut: 2 // 8 assignments over RBAC, staff, docs, drafts
  })
})

t.test('a policy class with objects and no association inside it grants nothing', async (t) => {
  const report = lintPolicy(loadPolicy(withExtra({
    nodes: [{ name: 'Secrecy', type: 'PC' }, { name: 'secret', type: 'OA' }, { name: 'plan', type: 'O' }],
    assignments: [['secret', 'Secrecy'], ['plan', 'secret']]
  })))
  const f = only(t, report.findings)
  t.equal(f.rule, 'policy-class-grants-nothing')
  t.equal(f.severity, 'error')
  t.same(f.nodes, ['Secrecy'])
  t.match(f.message, /'Secrecy' contains 1 object/)
  t.equal(report.counts.error, 1)
})

t.test('an association whose user attribute is in none of the target\'s policy classes is a warning', async (t) => {
  const report = lintPolicy(loadPolicy(withExtra({
    nodes: [{ name: 'Org', type: 'PC' }, { name: 'auditors', type: 'UA' }, { name: 'carol', type: 'U' }],
    assignments: [['auditors', 'Org'], ['carol', 'auditors']],
    associations: [{ ua: 'auditors', target: 'docs', rights: ['read'] }]
  })))
  const f = only(t, report.findings)
  t.equal(f.rule, 'association-outside-policy-class')
  t.equal(f.severity, 'warning')
  t.same(f.nodes, ['auditors', 'docs'])
  t.match(f.message, /'auditors' is in none of the policy classes of 'docs' \(RBAC\)/)
})

t.test('an intersection inside a container and outside one that contains it can never match', async (t) => {
  const report = lintPolicy(loadPolicy(withExtra({
    prohibitions: [{
      name: 'impossible',
      subject: 'bob',
      rights: ['read'],
      intersection: true,
      containers: [{ name: 'report', complement: false }, { name: 'docs', complement: true }]
    }]
  })))
  const f = only(t, report.findings)
  t.equal(f.rule, 'prohibition-contradictory')
  t.equal(f.severity, 'error')
  t.equal(f.prohibition, 'impossible')
  t.same(f.nodes, ['report', 'docs'])
})

t.test('an intersection of containers that share no descendant matches nothing', async (t) => {
  const report = lintPolicy(loadPolicy(withExtra({
    prohibitions: [{
      name: 'disjoint',
      subject: 'staff',
      rights: ['write'],
      intersection: true,
      containers: [{ name: 'report', complement: false }, { name: 'drafts', complement: false }]
    }]
  })))
  const f = only(t, report.findings)
  t.equal(f.rule, 'prohibition-matches-nothing')
  t.equal(f.severity, 'warning')
  t.equal(f.prohibition, 'disjoint')
  t.same(f.nodes, ['report', 'drafts'])
  t.match(f.message, /in 'report' and in 'drafts'/)
})

t.test('a union of empty containers matches nothing', async (t) => {
  const report = lintPolicy(loadPolicy(withExtra({
    nodes: [{ name: 'archive', type: 'OA' }, { name: 'attic', type: 'OA' }],
    assignments: [['archive', 'docs'], ['attic', 'RBAC']],
    prohibitions: [{
      name: 'no-archive',
      subject: 'alice',
      rights: ['read'],
      intersection: false,
      containers: [{ name: 'archive', complement: false }, { name: 'attic', complement: false }]
    }]
  })))
  const f = only(t, report.findings)
  t.equal(f.rule, 'prohibition-matches-nothing')
  t.equal(f.prohibition, 'no-archive')
  t.match(f.message, /in 'archive' or in 'attic'/)
})

t.test('a complement, an object container and a non-empty union all match', async (t) => {
  const report = lintPolicy(loadPolicy(withExtra({
    prohibitions: [
      { name: 'outside-drafts', subject: 'bob', rights: ['write'], intersection: true, containers: [{ name: 'drafts', complement: true }] },
      { name: 'either', subject: 'bob', rights: ['write'], intersection: false, containers: [{ name: 'drafts', complement: false }, { name: 'report', complement: false }] }
    ]
  })))
  t.same(report.findings, [])
})

t.test('a user whose attributes are associated with nothing holds no privileges', async (t) => {
  const report = lintPolicy(loadPolicy(withExtra({
    nodes: [{ name: 'interns', type: 'UA' }, { name: 'dave', type: 'U' }],
    assignments: [['interns', 'RBAC'], ['dave', 'interns']]
  })))
  const f = only(t, report.findings)
  t.equal(f.rule, 'user-without-privileges')
  t.equal(f.severity, 'warning')
  t.same(f.nodes, ['dave'])
  t.match(f.message, /no association starts from any of its attributes \('interns'\)/)
})

t.test('a user whose every right is prohibited holds no privileges', async (t) => {
  const report = lintPolicy(loadPolicy(withExtra({
    nodes: [{ name: 'eve', type: 'U' }],
    assignments: [['eve', 'staff']],
    prohibitions: [{ name: 'eve-nothing', subject: 'eve', rights: ['read', 'write'], intersection: true, containers: [{ name: 'docs', complement: false }] }]
  })))
  const f = only(t, report.findings)
  t.equal(f.rule, 'user-without-privileges')
  t.same(f.nodes, ['eve'])
  t.match(f.message, /prohibitions deny it every right/)
})

t.test('users with the same parents share one capability list but are each reported', async (t) => {
  const report = lintPolicy(loadPolicy(withExtra({
    nodes: [{ name: 'interns', type: 'UA' }, { name: 'dave', type: 'U' }, { name: 'erin', type: 'U' }],
    assignments: [['interns', 'staff'], ['dave', 'interns'], ['erin', 'interns']],
    prohibitions: [{ name: 'no-interns', subject: 'interns', rights: ['*'], intersection: false, containers: [{ name: 'docs', complement: false }] }]
  })))
  t.same(report.findings.map((f) => [f.rule, f.nodes]), [
    ['user-without-privileges', ['dave']],
    ['user-without-privileges', ['erin']]
  ])
  t.match(report.findings[1]?.message, /user 'erin' holds no right on any node: prohibitions deny it/)
})

t.test('an object no user holds any right on is reported as information', async (t) => {
  const report = lintPolicy(loadPolicy(withExtra({
    nodes: [{ name: 'attic', type: 'OA' }, { name: 'orphan', type: 'O' }],
    assignments: [['attic', 'RBAC'], ['orphan', 'attic']]
  })))
  const f = only(t, report.findings)
  t.equal(f.rule, 'object-unreachable')
  t.equal(f.severity, 'info')
  t.same(f.nodes, ['orphan', 'RBAC'])
  t.match(f.message, /no association in policy class 'RBAC' targets it or an attribute it is in/)
  t.same(report.counts, { error: 0, warning: 0, info: 1 })
})

t.test('an object is unreachable when one of its policy classes grants nothing on it', async (t) => {
  const report = lintPolicy(loadPolicy(withExtra({
    nodes: [
      { name: 'Secrecy', type: 'PC' }, { name: 'cleared', type: 'UA' }, { name: 'public', type: 'OA' },
      { name: 'secret', type: 'OA' }, { name: 'leaflet', type: 'O' }, { name: 'plan', type: 'O' }
    ],
    assignments: [
      ['cleared', 'Secrecy'], ['alice', 'cleared'], ['public', 'Secrecy'], ['secret', 'Secrecy'],
      ['leaflet', 'public'], ['leaflet', 'docs'], ['plan', 'secret'], ['plan', 'docs']
    ],
    associations: [{ ua: 'cleared', target: 'public', rights: ['read'] }]
  })))
  const f = only(t, report.findings)
  t.equal(f.rule, 'object-unreachable')
  t.same(f.nodes, ['plan', 'Secrecy'], 'docs grants plan in RBAC, but nothing grants it in Secrecy')
})

t.test('findings come in rule order, and lint leaves the graph as it was', async (t) => {
  const graph = loadPolicy(withExtra({
    nodes: [
      { name: 'interns', type: 'UA' }, { name: 'dave', type: 'U' },
      { name: 'Secrecy', type: 'PC' }, { name: 'secret', type: 'OA' }, { name: 'plan', type: 'O' }
    ],
    assignments: [['interns', 'RBAC'], ['dave', 'interns'], ['secret', 'Secrecy'], ['plan', 'secret']]
  }))
  const before = graph.revision
  const report = lintPolicy(graph)
  t.same(report.findings.map((f) => f.rule), ['policy-class-grants-nothing', 'user-without-privileges'])
  t.equal(graph.revision, before)
  t.same(lintPolicy(graph), report, 'the same policy gives the same report')
  t.same(LINT_RULES.map((r) => r.rule), [
    'policy-class-grants-nothing', 'association-outside-policy-class', 'prohibition-contradictory',
    'prohibition-matches-nothing', 'user-without-privileges', 'object-unreachable'
  ])
})

t.test('an empty policy has nothing to say', async (t) => {
  const report = lintPolicy(loadPolicy({ nodes: [] }))
  t.same(report.findings, [])
  t.equal(report.statistics.maxDepth, 0)
  t.equal(report.statistics.meanFanOut, 0)
})
