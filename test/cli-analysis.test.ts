// `ngac lint` and `ngac export --format dot|gexf|graphology` as users run them: a real child
// process of the built CLI (npm test builds first).
import { join } from 'node:path'
import t from 'tap'
import { cliRunner } from './cli-helper.js'

const { dir, ngac, file } = cliRunner('ngac-cli-analysis-')

const cleanDoc = {
  resourceRights: ['read', 'write'],
  nodes: [
    { name: 'RBAC', type: 'PC' }, { name: 'staff', type: 'UA' }, { name: 'alice', type: 'U' },
    { name: 'docs', type: 'OA' }, { name: 'report', type: 'O' }
  ],
  assignments: [['staff', 'RBAC'], ['alice', 'staff'], ['docs', 'RBAC'], ['report', 'docs']],
  associations: [{ ua: 'staff', target: 'docs', rights: ['read', 'write'] }]
}
const clean = file('clean.json', cleanDoc)

// An error (Secrecy grants nothing) and a warning (bob holds nothing).
const faulty = file('faulty.json', {
  ...cleanDoc,
  nodes: [...cleanDoc.nodes, { name: 'Secrecy', type: 'PC' }, { name: 'secret', type: 'OA' }, { name: 'plan', type: 'O' }, { name: 'interns', type: 'UA' }, { name: 'bob', type: 'U' }],
  assignments: [...cleanDoc.assignments, ['secret', 'Secrecy'], ['plan', 'secret'], ['interns', 'RBAC'], ['bob', 'interns']]
})

// Only a warning: bob holds nothing.
const warnOnly = file('warn.json', {
  ...cleanDoc,
  nodes: [...cleanDoc.nodes, { name: 'interns', type: 'UA' }, { name: 'bob', type: 'U' }],
  assignments: [...cleanDoc.assignments, ['interns', 'RBAC'], ['bob', 'interns']]
})

t.test('lint of a clean policy exits 0 and prints its shape', async (t) => {
  const r = ngac('lint', '--policy', clean)
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /^no findings$/m)
  t.match(r.stdout, /^policy at revision \d+: 5 nodes \(1 PC, 1 UA, 1 U, 1 OA, 1 O\), 4 assignments, 1 association, 0 prohibitions$/m)
  t.match(r.stdout, /^assignment depth 2; children per node: at most 2, 1\.33 on average$/m)
})

t.test('lint exits 1 when a finding is an error, and prints one line per finding', async (t) => {
  const r = ngac('lint', '--policy', faulty)
  t.equal(r.status, 1, r.stderr)
  t.match(r.stdout, /^error {4}policy-class-grants-nothing: policy class 'Secrecy' contains 1 object/m)
  t.match(r.stdout, /^warning {2}user-without-privileges: user 'bob' holds no right on any node/m)
  t.match(r.stdout, /^2 findings: 1 error, 1 warning, 0 info$/m)
})

t.test('lint exits 0 on warnings only', async (t) => {
  const r = ngac('lint', '--policy', warnOnly)
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /^1 finding: 0 errors, 1 warning, 0 info$/m)
})

t.test('lint --json prints the report', async (t) => {
  const r = ngac('lint', '--policy', faulty, '--json')
  t.equal(r.status, 1)
  const report = JSON.parse(r.stdout) as { findings: { rule: string, severity: string, nodes: string[] }[], counts: unknown, statistics: { nodes: number } }
  t.same(report.findings.map((f) => [f.rule, f.severity, f.nodes]), [
    ['policy-class-grants-nothing', 'error', ['Secrecy']],
    ['user-without-privileges', 'warning', ['bob']]
  ])
  t.same(report.counts, { error: 1, warning: 1, info: 0 })
  t.equal(report.statistics.nodes, 10)
})

t.test('lint and export read a database', async (t) => {
  const db = join(dir, 'store', 'ngac.db')
  t.equal(ngac('import', faulty, '--db', db).status, 0)
  const r = ngac('lint', '--db', db)
  t.equal(r.status, 1)
  t.match(r.stdout, /^policy at revision 1: 10 nodes/m)

  const dot = ngac('export', '--db', db, '--format', 'dot')
  t.equal(dot.status, 0, dot.stderr)
  t.match(dot.stdout, /^digraph ngac \{$/m)
  for (const name of ['RBAC', 'Secrecy', 'alice', 'bob', 'plan']) t.match(dot.stdout, `[label="${name}"`)
  t.match(dot.stdout, /label="NGAC policy, revision 1"/)

  const gexf = ngac('export', '--db', db, '--format', 'gexf')
  t.equal(gexf.status, 0, gexf.stderr)
  t.match(gexf.stdout, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<gexf xmlns="http:\/\/gexf\.net\/1\.3"/)
  t.equal([...gexf.stdout.matchAll(/<node id=/g)].length, 10)
  t.equal([...gexf.stdout.matchAll(/<edge id=/g)].length, 8 + 1)

  const json = ngac('export', '--db', db, '--format', 'graphology')
  t.equal(json.status, 0, json.stderr)
  const graph = JSON.parse(json.stdout) as { nodes: unknown[], edges: unknown[], attributes: { revision: number } }
  t.equal(graph.nodes.length, 10)
  t.equal(graph.edges.length, 8 + 1)
  t.equal(graph.attributes.revision, 1)

  const ngacFormat = ngac('export', '--db', db, '--format', 'ngac')
  t.same(JSON.parse(ngacFormat.stdout), JSON.parse(ngac('export', '--db', db).stdout), 'ngac is the default')
})

t.test('bad input exits 2', async (t) => {
  t.equal(ngac('lint', '--policy', join(dir, 'absent.json')).status, 2, 'a missing file')
  t.equal(ngac('lint', '--policy', file('bad.json', '{"nodes": [')).status, 2, 'not JSON')
  const invalid = ngac('lint', '--policy', file('invalid.json', { nodes: [{ name: 'x', type: 'OA' }] }))
  t.equal(invalid.status, 2, 'not a valid policy')
  t.match(invalid.stderr, /NGAC_ERR_POLICY_FILE/)
  t.equal(ngac('lint').status, 2, 'no --policy and no database')
  t.equal(ngac('lint', '--policy', clean, '--db', 'x.db').status, 2, 'both')
  t.equal(ngac('lint', '--policy', clean, 'extra').status, 2, 'a positional argument')
  t.equal(ngac('lint', '--policy', clean, '--bogus').status, 2, 'an unknown flag')
  const db = join(dir, 'formats.db')
  t.equal(ngac('import', clean, '--db', db).status, 0)
  const unknown = ngac('export', '--db', db, '--format', 'svg')
  t.equal(unknown.status, 2)
  t.match(unknown.stderr, /ngac, dot, gexf or graphology/)
  t.equal(ngac('export', '--db', db, '--format', 'pm').status, 2, 'pm is an import format')
  t.equal(ngac('export', '--db', db, '--format', 'constructor').status, 2, 'not a property of a lookup table')
})

t.test('help lists lint and the export formats', async (t) => {
  const r = ngac('help')
  t.match(r.stdout, /ngac lint \(--db FILE \| --policy FILE\) \[--json\]/)
  t.match(r.stdout, /ngac export \[--db FILE\] \[--format ngac\|dot\|gexf\|graphology\]/)
})
