// The decision cache: its table (hits, misses, revisions, eviction, mask width), the engine's use
// of it (which requests it answers, which bypass it), and its wiring into openPolicy and /metrics.
// Its agreement with the reference evaluator is tested in conformance.test.ts and
// differential.test.ts.
import t from 'tap'
import { Metrics } from '../../src/api/metrics.js'
import { PolicyGraph } from '../../src/graph/index.js'
import { DecisionCache, DecisionEngine, DEFAULT_CACHE_CAPACITY } from '../../src/pdp/index.js'
import { openPolicy } from '../../src/policy.js'

const DOC = {
  resourceRights: ['read', 'write'],
  nodes: [
    { name: 'RBAC', type: 'PC' }, { name: 'staff', type: 'UA' }, { name: 'alice', type: 'U' }, { name: 'bob', type: 'U' },
    { name: 'docs', type: 'OA' }, { name: 'report', type: 'O' }, { name: 'memo', type: 'O' }
  ],
  assignments: [['staff', 'RBAC'], ['alice', 'staff'], ['bob', 'staff'], ['docs', 'RBAC'], ['report', 'docs'], ['memo', 'docs']],
  associations: [{ ua: 'staff', target: 'docs', rights: ['read', 'write'] }],
  prohibitions: [{ name: 'p1-no-write', subject: { process: 'p1' }, rights: ['write'], intersection: true, containers: [{ name: 'docs', complement: false }] }]
}

function graph (): PolicyGraph {
  const g = new PolicyGraph()
  g.setResourceRights(['read', 'write'])
  g.createNode('RBAC', 'PC')
  g.createNode('staff', 'UA', ['RBAC'])
  g.createNode('alice', 'U', ['staff'])
  g.createNode('bob', 'U', ['staff'])
  g.createNode('docs', 'OA', ['RBAC'])
  g.createNode('report', 'O', ['docs'])
  g.createNode('memo', 'O', ['docs'])
  g.associate('staff', 'docs', ['read'])
  return g
}

t.test('capacity: rounded up to a power of two; a bad one is NGAC_ERR_VALIDATION', async (t) => {
  t.equal(new DecisionCache().capacity, DEFAULT_CACHE_CAPACITY)
  t.equal(new DecisionCache(1).capacity, 2)
  t.equal(new DecisionCache(1000).capacity, 1024)
  t.equal(new DecisionCache(4096).capacity, 4096)
  for (const bad of [0, -4, 1.5, Number.NaN, 16777217]) {
    t.throws(() => new DecisionCache(bad), { code: 'NGAC_ERR_VALIDATION' }, String(bad))
    t.throws(() => new DecisionEngine(graph(), { cache: { capacity: bad } }), { code: 'NGAC_ERR_VALIDATION' }, `engine ${bad}`)
  }
})

t.test('find, store, holds and copy; counted hits and misses', async (t) => {
  const cache = new DecisionCache(8)
  const mask = new Uint32Array([0b101])
  t.equal(cache.find(1, 3, 4, 0, 1), -1, 'empty: a miss')
  const entry = cache.store(3, 4, 0, mask)
  t.equal(cache.find(1, 3, 4, 0, 1), entry, 'then a hit')
  t.equal(cache.find(1, 4, 3, 0, 1), -1, 'the pair is ordered')
  t.equal(cache.find(1, 3, 4, 1, 1), -1, 'another process number is another key')
  const other = cache.store(3, 4, 1, new Uint32Array([0b001]))
  t.equal(cache.find(1, 3, 4, 1, 1), other)
  t.equal(cache.find(1, 3, 4, 0, 1), entry, 'both kept')
  t.ok(cache.holds(entry, new Uint32Array([0b100])))
  t.ok(cache.holds(entry, new Uint32Array([0b101])))
  t.notOk(cache.holds(entry, new Uint32Array([0b010])))
  t.notOk(cache.holds(entry, new Uint32Array([0, 1])), 'a wider required mask: its extra word is not held')
  const out = new Uint32Array(1)
  cache.copy(entry, out)
  t.same([...out], [0b101])
  t.same(cache.stats, { capacity: 8, hits: 3, misses: 3 })
})

t.test('an entry of another revision, or of another mask width, is a miss', async (t) => {
  const cache = new DecisionCache(8)
  t.equal(cache.find(5, 1, 2, 0, 1), -1)
  cache.store(1, 2, 0, new Uint32Array([1]))
  t.ok(cache.find(5, 1, 2, 0, 1) >= 0)
  t.equal(cache.find(6, 1, 2, 0, 1), -1, 'a newer revision')
  cache.store(1, 2, 0, new Uint32Array([3]))
  t.equal(cache.find(5, 1, 2, 0, 1), -1, 'back to an older number: still a new generation')
  const entry = cache.store(1, 2, 0, new Uint32Array([1]))
  t.equal(cache.find(5, 1, 2, 0, 1), entry)
  t.equal(cache.find(5, 1, 2, 0, 2), -1, 'the catalogue grew past one word')
  const wide = cache.store(1, 2, 0, new Uint32Array([1, 2]))
  t.ok(cache.holds(wide, new Uint32Array([1, 2])))
  t.equal(cache.find(5, 1, 2, 0, 2), wide)
  cache.clear()
  t.equal(cache.find(5, 1, 2, 0, 2), -1, 'clear drops every entry')
})

t.test('two ways per set: a third pair evicts the one used least recently', async (t) => {
  const cache = new DecisionCache(2) // one set of two ways
  const m = new Uint32Array([1])
  t.equal(cache.find(1, 1, 1, 0, 1), -1)
  cache.store(1, 1, 0, m)
  t.equal(cache.find(1, 2, 2, 0, 1), -1)
  cache.store(2, 2, 0, m)
  t.ok(cache.find(1, 1, 1, 0, 1) >= 0, '(1,1) used last')
  t.equal(cache.find(1, 3, 3, 0, 1), -1)
  cache.store(3, 3, 0, m)
  t.ok(cache.find(1, 1, 1, 0, 1) >= 0, '(1,1) kept')
  t.ok(cache.find(1, 3, 3, 0, 1) >= 0, '(3,3) stored')
  t.equal(cache.find(1, 2, 2, 0, 1), -1, '(2,2) evicted')
})

t.test('the engine caches checks and privileges of named users on named targets', async (t) => {
  const g = graph()
  const engine = new DecisionEngine(g, { cache: { capacity: 16 } })
  t.same(engine.cacheStats, { capacity: 16, hits: 0, misses: 0 })
  t.same(engine.check({ user: 'alice', right: 'read', target: 'report' }), { allowed: true, revision: g.revision })
  t.same(engine.check({ user: 'alice', right: 'write', target: 'report' }), { allowed: false, revision: g.revision })
  t.same(engine.privileges({ user: 'alice', target: 'report' }), ['read'])
  t.same(engine.cacheStats, { capacity: 16, hits: 2, misses: 1 }, 'one evaluation for the pair, whatever the right')
  g.associate('staff', 'docs', ['read', 'write'])
  t.same(engine.check({ user: 'alice', right: 'write', target: 'report' }), { allowed: true, revision: g.revision }, 'a write is seen at once')
  t.same(engine.cacheStats, { capacity: 16, hits: 2, misses: 2 })

  // Denies that need no entry: unknown names, a user name that is not a user, an unknown right.
  const before = engine.cacheStats
  t.equal(engine.check({ user: 'nobody', right: 'read', target: 'report' }).allowed, false)
  t.equal(engine.check({ user: 'alice', right: 'read', target: 'nothing' }).allowed, false)
  t.equal(engine.check({ user: 'staff', right: 'read', target: 'report' }).allowed, false)
  t.same(engine.cacheStats, before)
  t.equal(engine.check({ user: 'alice', right: 'fly', target: 'report' }).allowed, false)
  t.equal(engine.check({ user: 'alice', right: '*', target: 'report' }).allowed, false, "'*' names no single right")
  t.equal(engine.check({ user: 'alice', right: 'read', target: 'RBAC' }).allowed, false, 'a policy class holds no privileges')
})

t.test('processes: one entry for no process and unbound ones, one per bound process', async (t) => {
  const g = graph()
  g.createProhibition({ name: 'p1-no-read', subject: { process: 'p1' }, rights: ['read'], intersection: true, containers: [{ name: 'docs', complement: false }] })
  const engine = new DecisionEngine(g)
  t.equal(engine.check({ user: 'alice', right: 'read', target: 'report', process: 'p1' }).allowed, false, 'p1 is bound')
  t.same(engine.privileges({ user: 'alice', target: 'report', process: 'p1' }), [])
  t.same(engine.cacheStats, { capacity: DEFAULT_CACHE_CAPACITY, hits: 1, misses: 1 })
  t.equal(engine.check({ user: 'alice', right: 'read', target: 'report', process: 'p2' }).allowed, true, 'no prohibition binds p2')
  t.equal(engine.check({ user: 'alice', right: 'read', target: 'report' }).allowed, true, 'the same entry')
  t.same(engine.cacheStats, { capacity: DEFAULT_CACHE_CAPACITY, hits: 2, misses: 2 })
  g.createProhibition({ name: 'p2-no-read', subject: { process: 'p2' }, rights: ['read'], intersection: true, containers: [{ name: 'report', complement: false }] })
  t.equal(engine.check({ user: 'alice', right: 'read', target: 'report', process: 'p2' }).allowed, false, 'p2 is bound now')
  t.equal(engine.check({ user: 'alice', right: 'read', target: 'memo', process: 'p2' }).allowed, true)
  t.equal(engine.check({ user: 'alice', right: 'read', target: 'memo', process: 'p1' }).allowed, false)
  t.equal(engine.check({ user: 'alice', right: 'read', target: 'report' }).allowed, true)
  // Many bound processes: past the numbering's bound it starts over, answers unchanged.
  g.batch(() => {
    for (let i = 0; i < 1100; i++) g.createProhibition({ name: `q${i}`, subject: { process: `q${i}` }, rights: ['read'], intersection: true, containers: [{ name: 'memo', complement: false }] })
  })
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 1100; i++) {
      if (engine.check({ user: 'bob', right: 'read', target: i % 2 === 0 ? 'memo' : 'report', process: `q${i}` }).allowed !== (i % 2 === 1)) {
        t.fail(`q${i} round ${round}`)
      }
    }
  }
  t.equal(engine.check({ user: 'bob', right: 'read', target: 'memo', process: 'p1' }).allowed, false)
  t.equal(engine.check({ user: 'bob', right: 'read', target: 'memo' }).allowed, true)
})

t.test('what bypasses the cache: anonymous subjects and targets, several rights', async (t) => {
  const engine = new DecisionEngine(graph())
  t.equal(engine.check({ userAttributes: ['staff'], right: 'read', target: 'report' }).allowed, true)
  t.equal(engine.check({ user: 'alice', right: 'read', targetAttributes: ['docs'] }).allowed, true)
  t.equal(engine.check({ user: 'alice', rights: ['read'], target: 'report' }).allowed, true)
  t.same(engine.privileges({ userAttributes: ['staff'], target: 'report' }), ['read'])
  t.same(engine.cacheStats, { capacity: DEFAULT_CACHE_CAPACITY, hits: 0, misses: 0 })
  // Malformed requests are still errors, never cached answers.
  t.throws(() => engine.check({ user: 'alice', right: 'read', rights: ['read'], target: 'report' }), { code: 'NGAC_ERR_VALIDATION' })
  t.throws(() => engine.check({ user: 'alice', userAttributes: ['staff'], right: 'read', target: 'report' }), { code: 'NGAC_ERR_VALIDATION' })
  t.throws(() => engine.check({ user: 'alice', right: 'read', target: 'report', targetAttributes: [] }), { code: 'NGAC_ERR_VALIDATION' })
  t.throws(() => engine.check({ user: 'alice', right: 'read', target: 'report', process: 7 as unknown as string }), { code: 'NGAC_ERR_VALIDATION' })
  t.throws(() => engine.check({ user: 'alice', target: 'report' }), { code: 'NGAC_ERR_VALIDATION' })
})

t.test('without cache: the same answers, no counters', async (t) => {
  const engine = new DecisionEngine(graph(), { cache: false })
  t.equal(engine.cacheStats, undefined)
  t.equal(engine.check({ user: 'bob', right: 'read', target: 'memo' }).allowed, true)
  t.same(engine.privileges({ user: 'bob', target: 'memo' }), ['read'])
})

t.test('openPolicy passes the cache option; its counters only grow across replacements', async (t) => {
  const none = openPolicy({ policy: DOC, cache: false })
  t.teardown(() => none.close())
  t.equal(none.decisionCache, undefined)
  t.equal(none.check({ user: 'alice', right: 'write', target: 'report' }).allowed, true)

  const policy = openPolicy({ policy: DOC, cache: { capacity: 100 } })
  t.teardown(() => policy.close())
  t.same(policy.decisionCache, { capacity: 128, hits: 0, misses: 0 })
  policy.check({ user: 'alice', right: 'write', target: 'report' })
  policy.check({ user: 'alice', right: 'read', target: 'report' })
  t.same(policy.decisionCache, { capacity: 128, hits: 1, misses: 1 })
  policy.replace(DOC)
  t.same(policy.decisionCache, { capacity: 128, hits: 1, misses: 1 }, 'kept across a replacement')
  t.equal(policy.check({ user: 'alice', right: 'write', target: 'report', process: 'p1' }).allowed, false)
  t.equal(policy.check({ user: 'alice', right: 'write', target: 'report' }).allowed, true)
  t.same(policy.decisionCache, { capacity: 128, hits: 1, misses: 3 }, 'the new engine caches from scratch')
  t.throws(() => openPolicy({ cache: { capacity: 0 } }), { code: 'NGAC_ERR_VALIDATION' })
})

t.test('/metrics reads the counters at scrape time', async (t) => {
  const policy = openPolicy({ policy: DOC })
  t.teardown(() => policy.close())
  const metrics = new Metrics(policy)
  const value = async (name: string): Promise<number> => {
    const line = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${name} `))
    return Number(line?.split(' ')[1])
  }
  t.equal(await value('ngac_decision_cache_hits_total'), 0)
  t.equal(await value('ngac_decision_cache_misses_total'), 0)
  for (let i = 0; i < 3; i++) policy.check({ user: 'bob', right: 'read', target: 'memo' })
  t.equal(await value('ngac_decision_cache_hits_total'), 2)
  t.equal(await value('ngac_decision_cache_misses_total'), 1)
  policy.check({ user: 'bob', right: 'read', target: 'report' })
  t.equal(await value('ngac_decision_cache_hits_total'), 2, 'a second scrape adds only what is new')
  t.equal(await value('ngac_decision_cache_misses_total'), 2)
})
