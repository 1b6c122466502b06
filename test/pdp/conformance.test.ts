/**
 * The decision conformance spec: every fixture of test/pdp/fixtures (a policy file plus expected
 * decisions) run against every evaluator we have, and through the DecisionEngine over each of
 * them with and without the decision cache. One subtest per fixture file, one subtest per
 * evaluator (and engine) inside it, one assertion per fixture row.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { loadPolicy, maskHas } from '../../src/graph/index.js'
import type { PolicyGraph, RightsMask } from '../../src/graph/index.js'
import type { Evaluator, RightsByNode } from '../../src/pdp/evaluator.js'
import { ProductionEvaluator } from '../../src/pdp/production-evaluator.js'
import { ReferenceEvaluator } from '../../src/pdp/reference-evaluator.js'
import { DecisionEngine } from '../../src/pdp/index.js'
import { request, resolveSubject, resolveTarget } from './helper.js'
import type { Fixture } from './helper.js'

/** Every evaluator the fixtures run against. */
const EVALUATORS: readonly { name: string, create: (graph: PolicyGraph) => Evaluator }[] = [
  { name: 'reference', create: (graph) => new ReferenceEvaluator(graph) },
  { name: 'production', create: (graph) => new ProductionEvaluator(graph) },
  { name: 'production with memos', create: (graph) => new ProductionEvaluator(graph, { memo: 4 }) }
]

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url))
const files = readdirSync(FIXTURES).filter((file) => file.endsWith('.json')).sort()

/** The `t` a subtest callback receives. */
type Test = Parameters<Parameters<typeof t.test>[0]>[0]

function names (graph: PolicyGraph, mask: RightsMask | null): string[] {
  return mask === null ? [] : graph.rights.names(mask)
}

function byNode (graph: PolicyGraph, rights: RightsByNode): { name: string, privileges: string[] }[] {
  return [...rights]
    .map(([id, mask]) => ({ name: graph.nameOf(id), privileges: graph.rights.names(mask) }))
    .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
}

function sortedByName<T> (rows: readonly T[], key: (row: T) => string): T[] {
  return [...rows].sort((a, b) => key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)
}

/** The same fixture through the name-level DecisionEngine: checks (twice, so a cache answers the second pass), privileges and explain. */
function runEngine (t: Test, file: string, fixture: Fixture, engine: DecisionEngine): void {
  for (const pass of [1, 2]) {
    fixture.checks.forEach((row, i) => {
      const [user, right, target, expected] = row
      t.equal(engine.check({ ...request(user, target), right }).allowed, expected, `${file} engine pass ${pass} checks[${i}] ${JSON.stringify(row)}`)
    })
  }
  fixture.privileges?.forEach((row, i) => {
    t.strictSame(engine.privileges(request(row.user, row.target)), row.privileges, `${file} engine privileges[${i}] ${JSON.stringify(row)}`)
  })
  fixture.explain?.forEach((row, i) => {
    const e = engine.explain(request(row.user, row.target))
    t.strictSame({
      privileges: e.privileges,
      policyClasses: e.policyClasses.map(({ name, privileges }) => ({ name, privileges })),
      prohibitions: e.prohibitions
    }, {
      privileges: row.privileges,
      policyClasses: row.policyClasses,
      prohibitions: row.prohibitions
    }, `${file} engine explain[${i}] ${JSON.stringify(row)}`)
    // Every path runs from the user (or one of its attributes) to the target (or one of its attributes).
    for (const pc of e.policyClasses) {
      t.equal(pc.paths.length > 0, pc.privileges.length > 0, `${file} explain[${i}] ${pc.name}: a path for every grant`)
    }
  })
}

function runFixture (t: Test, file: string, fixture: Fixture, graph: PolicyGraph, evaluator: Evaluator): void {
  fixture.checks.forEach((row, i) => {
    const [user, right, target, expected] = row
    const subject = resolveSubject(graph, user)
    const object = resolveTarget(graph, target)
    const index = graph.rights.indexOf(right)
    const allowed = subject !== null && object !== null && index >= 0 &&
      maskHas(evaluator.privileges(subject, object), index)
    t.equal(allowed, expected, `${file} checks[${i}] ${JSON.stringify(row)}`)
  })

  fixture.privileges?.forEach((row, i) => {
    const subject = resolveSubject(graph, row.user)
    const object = resolveTarget(graph, row.target)
    const actual = subject === null || object === null ? null : evaluator.privileges(subject, object)
    t.strictSame(names(graph, actual), row.privileges, `${file} privileges[${i}] ${JSON.stringify(row)}`)
  })

  for (const [user, expected] of Object.entries(fixture.capabilities ?? {})) {
    const subject = resolveSubject(graph, user)
    const actual = subject === null ? [] : byNode(graph, evaluator.capabilities(subject)).map(({ name, privileges }) => ({ target: name, privileges }))
    t.strictSame(actual, sortedByName(expected, (row) => row.target),
      `${file} capabilities[${JSON.stringify(user)}] ${JSON.stringify(expected)}`)
  }

  for (const [target, expected] of Object.entries(fixture.acl ?? {})) {
    const object = resolveTarget(graph, target)
    const actual = object === null ? [] : byNode(graph, evaluator.acl(object)).map(({ name, privileges }) => ({ user: name, privileges }))
    t.strictSame(actual, sortedByName(expected, (row) => row.user),
      `${file} acl[${JSON.stringify(target)}] ${JSON.stringify(expected)}`)
  }

  fixture.explain?.forEach((row, i) => {
    const message = `${file} explain[${i}] ${JSON.stringify(row)}`
    const subject = resolveSubject(graph, row.user)
    const object = resolveTarget(graph, row.target)
    const known = subject !== null && object !== null
    const actual = {
      privileges: names(graph, known ? evaluator.privileges(subject, object) : null),
      denied: names(graph, known ? evaluator.denied(subject, object) : null)
    }
    const denied = graph.rights.names(graph.rights.mask(row.prohibitions.flatMap((p) => p.rights)))
    t.strictSame(actual, { privileges: row.privileges, denied }, message)
  })
}

for (const file of files) {
  t.test(file, async (t) => {
    const fixture = JSON.parse(readFileSync(FIXTURES + file, 'utf8')) as Fixture
    const graph = loadPolicy(fixture.policy)
    for (const { name, create } of EVALUATORS) {
      t.test(`${name} evaluator`, async (t) => {
        runFixture(t, file, fixture, graph, create(graph))
      })
      t.test(`decision engine over the ${name} evaluator, no cache`, async (t) => {
        const engine = new DecisionEngine(graph, { evaluator: create(graph), cache: false })
        runEngine(t, file, fixture, engine)
        t.equal(engine.cacheStats, undefined)
      })
      t.test(`decision engine over the ${name} evaluator, with the decision cache`, async (t) => {
        const engine = new DecisionEngine(graph, { evaluator: create(graph), cache: { capacity: 64 } })
        runEngine(t, file, fixture, engine)
        const named = fixture.checks.filter(([user, , target]) => typeof user === 'string' && typeof target === 'string').length
        if (named > 0) t.ok((engine.cacheStats?.hits ?? 0) > 0, 'the second pass hits the cache')
      })
    }
  })
}
