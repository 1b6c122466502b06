// Randomized differential tests (fixed seeds): the production evaluator against the reference
// one on hundreds of random valid graphs, for privileges, denied rights, capability lists and
// access control lists, including anonymous users and targets and processes; the decision
// engine, with and without its decision cache, against the reference on the same graphs; and
// the cached engine against the reference while random writes change the graph between checks.
import t from 'tap'
import fc from 'fast-check'
import { PolicyGraph, maskEquals, maskHas, maskIsEmpty, type NodeType, type RightsMask } from '../../src/graph/index.js'
import { DecisionEngine, ProductionEvaluator, ReferenceEvaluator, type RightsByNode, type Subject, type Target } from '../../src/pdp/index.js'

const RIGHTS = ['read', 'write', 'exec', 'own']
const ALL = [...RIGHTS, 'assign', '*']
const PROCESSES = ['p1', 'p2']

interface Recipe {
  pcs: number
  nodes: { type: NodeType, parents: number[] }[]
  extra: [number, number][]
  associations: { ua: number, target: number, rights: number[] }[]
  prohibitions: { subject: number, process: boolean, rights: number[], intersection: boolean, containers: [number, boolean][] }[]
}

const NON_PC: NodeType[] = ['UA', 'U', 'OA', 'O']
const PARENT_TYPES: Record<NodeType, NodeType[]> = {
  PC: [], UA: ['UA', 'PC'], U: ['UA'], OA: ['OA', 'PC'], O: ['OA', 'PC']
}

const recipe: fc.Arbitrary<Recipe> = fc.record({
  pcs: fc.integer({ min: 1, max: 3 }),
  nodes: fc.array(fc.record({
    type: fc.constantFrom(...NON_PC, 'UA', 'OA'),
    parents: fc.array(fc.nat(), { minLength: 1, maxLength: 3 })
  }), { minLength: 2, maxLength: 18 }),
  extra: fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 10 }),
  associations: fc.array(fc.record({
    ua: fc.nat(), target: fc.nat(), rights: fc.array(fc.nat({ max: ALL.length - 1 }), { minLength: 1, maxLength: 3 })
  }), { maxLength: 10 }),
  prohibitions: fc.array(fc.record({
    subject: fc.nat(),
    process: fc.boolean(),
    rights: fc.array(fc.nat({ max: RIGHTS.length - 1 }), { minLength: 1, maxLength: 2 }),
    intersection: fc.boolean(),
    containers: fc.array(fc.tuple(fc.nat(), fc.boolean()), { minLength: 1, maxLength: 3 })
  }), { maxLength: 4 })
})

/** Builds a valid graph from a recipe: every choice is taken modulo what is valid at that point. */
function build (r: Recipe): PolicyGraph {
  const g = new PolicyGraph()
  g.setResourceRights(RIGHTS)
  const names: string[] = []
  const types: NodeType[] = []
  for (let i = 0; i < r.pcs; i++) {
    g.createNode(`pc${i}`, 'PC')
    names.push(`pc${i}`)
    types.push('PC')
  }
  r.nodes.forEach((n, i) => {
    const candidates = names.filter((_, j) => PARENT_TYPES[n.type].includes(types[j]))
    if (candidates.length === 0) return
    const parents = [...new Set(n.parents.map((p) => candidates[p % candidates.length]))]
    const name = `${n.type.toLowerCase()}${i}`
    g.createNode(name, n.type, parents)
    names.push(name)
    types.push(n.type)
  })
  const pick = (k: number, allowed: NodeType[]): string | undefined => {
    const c = names.filter((_, j) => allowed.includes(types[j]))
    return c.length === 0 ? undefined : c[k % c.length]
  }
  for (const [a, b] of r.extra) {
    const child = names[a % names.length]
    const parent = pick(b, PARENT_TYPES[types[names.indexOf(child)]])
    if (parent === undefined) continue
    try {
      g.assign(child, parent)
    } catch {
      // a duplicate or a cycle: skipped, the graph stays valid
    }
  }
  for (const a of r.associations) {
    const ua = pick(a.ua, ['UA'])
    const target = pick(a.target, ['UA', 'OA', 'O'])
    if (ua === undefined || target === undefined) continue
    g.associate(ua, target, a.rights.map((i) => ALL[i]))
  }
  r.prohibitions.forEach((p, i) => {
    const subject = p.process ? { process: PROCESSES[p.subject % 2] } : pick(p.subject, ['U', 'UA'])
    const containers = [...new Map(p.containers.map(([c, complement]) => [pick(c, ['UA', 'OA', 'O']), complement])).entries()]
    if (subject === undefined || containers.some(([c]) => c === undefined)) return
    g.createProhibition({
      name: `proh${i}`,
      subject,
      rights: p.rights.map((k) => RIGHTS[k]),
      intersection: p.intersection,
      containers: containers.map(([name, complement]) => ({ name: name as string, complement }))
    })
  })
  return g
}

function sameMasks (a: RightsByNode, b: RightsByNode): boolean {
  if (a.size !== b.size) return false
  for (const [k, m] of a) {
    const other = b.get(k)
    if (other === undefined || !maskEquals(m, other)) return false
  }
  return true
}

function describeMask (g: PolicyGraph, m: RightsMask): string {
  return g.rights.names(m).join(',')
}

/** The rights a check may name: declared, admin, and '*' (which names no single right: always a deny). */
const CHECKED_RIGHTS = [...RIGHTS, 'assign', '*']

/** Whether privileges `mask` allow `right`, as DecisionEngine.check must answer. */
function allows (g: PolicyGraph, mask: RightsMask, right: string): boolean {
  const index = g.rights.indexOf(right)
  return index >= 0 && maskHas(mask, index)
}

t.test('production evaluator agrees with the reference on 600 random graphs', async (t) => {
  let compared = 0
  let granted = 0
  let prohibited = 0
  let engineChecks = 0
  let cacheHits = 0
  fc.assert(fc.property(recipe, fc.nat(), (r, salt) => {
    const g = build(r)
    const ref = new ReferenceEvaluator(g)
    const prod = new ProductionEvaluator(g)
    const memo = new ProductionEvaluator(g, { memo: 64 })
    // NOTE: a tiny cache, so that pairs collide and evict each other too.
    const cached = new DecisionEngine(g, { cache: { capacity: 16 } })
    const uncached = new DecisionEngine(g, { cache: false })
    const users: number[] = []
    const uas: number[] = []
    const oas: number[] = []
    const targets: number[] = []
    for (let id = 0; id < g.idLimit; id++) {
      const type = g.typeOf(id)
      if (type === 2) users.push(id)
      if (type === 1) uas.push(id)
      if (type === 3) oas.push(id)
      targets.push(id) // every node, PCs included (they must get nothing)
    }
    const subjects: Subject[] = []
    for (const u of users) {
      subjects.push({ user: u, attributes: [], process: undefined })
      subjects.push({ user: u, attributes: [], process: PROCESSES[(u + salt) % 2] })
    }
    if (uas.length > 0) subjects.push({ user: -1, attributes: [uas[salt % uas.length], uas[(salt >> 3) % uas.length]], process: 'p1' })
    const targetList: Target[] = targets.map((id) => ({ target: id, attributes: [] }))
    if (oas.length > 0) targetList.push({ target: -1, attributes: [oas[salt % oas.length], oas[(salt >> 2) % oas.length]] })
    for (const s of subjects) {
      for (const tg of targetList) {
        const a = ref.privileges(s, tg)
        const b = prod.privileges(s, tg)
        if (!maskEquals(a, b)) {
          throw new Error(`privileges differ for ${JSON.stringify(s)} on ${JSON.stringify(tg)}: reference ${describeMask(g, a)}, production ${describeMask(g, b)}`)
        }
        if (!maskEquals(a, memo.privileges(s, tg))) {
          throw new Error(`privileges differ for ${JSON.stringify(s)} on ${JSON.stringify(tg)}: reference ${describeMask(g, a)}, production with memos ${describeMask(g, memo.privileges(s, tg))}`)
        }
        if (!maskIsEmpty(b)) granted++
        const denied = prod.denied(s, tg)
        if (!maskIsEmpty(denied)) prohibited++
        if (!maskEquals(ref.denied(s, tg), denied)) {
          throw new Error(`denied differs for ${JSON.stringify(s)} on ${JSON.stringify(tg)}`)
        }
        compared++
        if (s.user >= 0 && tg.target >= 0) {
          const request = s.process === undefined
            ? { user: g.nameOf(s.user), target: g.nameOf(tg.target) }
            : { user: g.nameOf(s.user), target: g.nameOf(tg.target), process: s.process }
          for (const right of CHECKED_RIGHTS) {
            const expected = allows(g, a, right)
            for (const engine of [cached, uncached]) {
              if (engine.check({ ...request, right }).allowed !== expected) {
                throw new Error(`engine (${engine === cached ? 'cached' : 'uncached'}) check differs for ${JSON.stringify(request)} ${right}: reference ${String(expected)}`)
              }
            }
            engineChecks++
          }
          if (cached.privileges(request).join() !== describeMask(g, a)) {
            throw new Error(`cached engine privileges differ for ${JSON.stringify(request)}: reference ${describeMask(g, a)}`)
          }
        }
      }
      if (!sameMasks(ref.capabilities(s), prod.capabilities(s))) {
        throw new Error(`capabilities differ for ${JSON.stringify(s)}`)
      }
    }
    for (const tg of targetList) {
      for (const process of [undefined, 'p1']) {
        if (!sameMasks(ref.acl(tg, process), prod.acl(tg, process))) {
          throw new Error(`acl differs for ${JSON.stringify(tg)} process ${process}`)
        }
      }
    }
    cacheHits += cached.cacheStats?.hits ?? 0
  }), { seed: 20261204, numRuns: 600 })
  t.ok(compared > 10000, `compared ${compared} (subject, target) pairs`)
  t.ok(engineChecks > 50000, `compared ${engineChecks} checks of the engine, with and without cache`)
  t.ok(cacheHits > 10000, `${cacheHits} of them answered from the cache`)
  // The random graphs must exercise grants and prohibitions, not only empty answers.
  t.ok(granted > 1000, `${granted} pairs with privileges`)
  t.ok(prohibited > 200, `${prohibited} pairs with denied rights`)
})

t.test('the production evaluator follows changes to the graph it reads', async (t) => {
  const g = new PolicyGraph()
  g.setResourceRights(['read'])
  g.createNode('pc', 'PC')
  g.createNode('ua', 'UA', ['pc'])
  g.createNode('u', 'U', ['ua'])
  g.createNode('oa', 'OA', ['pc'])
  g.createNode('o', 'O', ['oa'])
  const prod = new ProductionEvaluator(g)
  const s: Subject = { user: g.idOf('u'), attributes: [], process: undefined }
  const o: Target = { target: g.idOf('o'), attributes: [] }
  t.same(g.rights.names(prod.privileges(s, o)), [])
  g.associate('ua', 'oa', ['read'])
  t.same(g.rights.names(prod.privileges(s, o)), ['read'])
  // Growing the graph past the evaluator's scratch space and the rights past one mask word.
  for (let i = 0; i < 200; i++) g.createNode(`o${i}`, 'O', ['oa'])
  g.setResourceRights(['read', ...Array.from({ length: 40 }, (_, i) => `r${i}`)])
  g.associate('ua', 'o199', ['r39', 'read'])
  t.same(g.rights.names(prod.privileges(s, { target: g.idOf('o199'), attributes: [] })), ['r39', 'read'])
  t.equal(prod.capabilities(s).size, 202)
})

/** One random write: `kind` chooses the operation, the numbers its operands (modulo what exists). */
interface Mutation { kind: number, a: number, b: number, c: number, rights: number[], flag: boolean }

const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.nat({ max: 11 }),
  a: fc.nat(),
  b: fc.nat(),
  c: fc.nat(),
  rights: fc.array(fc.nat({ max: ALL.length - 1 }), { minLength: 1, maxLength: 3 }),
  flag: fc.boolean()
})

/** Live node ids of the given types. */
function idsOf (g: PolicyGraph, types: readonly number[]): number[] {
  const out: number[] = []
  for (let id = 0; id < g.idLimit; id++) if (g.isNode(id) && types.includes(g.typeOf(id))) out.push(id)
  return out
}

const TYPE_CODE: Record<NodeType, number> = { PC: 0, UA: 1, U: 2, OA: 3, O: 4 }
const PARENT_CODES: number[][] = [[], [1, 0], [1], [3, 0], [3, 0]]

/**
 * Applies one mutation through the graph's public API; a mutation the graph refuses (a cycle, a
 * last parent, a node still referenced...) changes nothing, which is part of what is tested.
 */
function mutate (g: PolicyGraph, m: Mutation, step: number): void {
  const pick = (list: readonly number[], k: number): number | undefined => list.length === 0 ? undefined : list[k % list.length]
  const name = (id: number | undefined): string => id === undefined ? '(none)' : g.nameOf(id)
  const rights = m.rights.map((i) => ALL[i])
  switch (m.kind) {
    case 0: case 1: { // assign
      const child = pick(idsOf(g, [1, 2, 3, 4]), m.a)
      if (child === undefined) return
      g.assign(name(child), name(pick(idsOf(g, PARENT_CODES[g.typeOf(child)]), m.b)))
      return
    }
    case 2: { // deassign
      const child = pick(idsOf(g, [1, 2, 3, 4]).filter((id) => g.parentIds(id).length > 1), m.a)
      if (child === undefined) return
      g.deassign(name(child), name(pick(g.parentIds(child), m.b)))
      return
    }
    case 3: case 4: // associate (a new association, or new rights for an existing one)
      g.associate(name(pick(idsOf(g, [1]), m.a)), name(pick(idsOf(g, [1, 3, 4]), m.b)), rights)
      return
    case 5: { // dissociate
      const list = [...g.associations()]
      if (list.length === 0) return
      const a = list[m.a % list.length]
      g.dissociate(a.ua, a.target)
      return
    }
    case 6: { // prohibit
      const subject = m.flag && m.c % 3 === 0 ? { process: PROCESSES[m.c % 2] } : name(pick(idsOf(g, [1, 2]), m.a))
      const containers = [...new Set([pick(idsOf(g, [1, 3, 4]), m.b), pick(idsOf(g, [1, 3, 4]), m.c)])]
      g.createProhibition({
        name: `w${step}`,
        subject,
        rights: m.rights.map((k) => RIGHTS[k % RIGHTS.length]),
        intersection: m.flag,
        containers: containers.map((c, i) => ({ name: name(c), complement: i === 1 || (m.a & 1) === 1 }))
      })
      return
    }
    case 7: { // delete a prohibition
      const list = [...g.prohibitions()]
      if (list.length > 0) g.deleteProhibition(list[m.a % list.length].name)
      return
    }
    case 8: { // create a node (users and objects most often)
      const type = (['U', 'O', 'UA', 'OA'] as const)[m.a % 4]
      const parents = idsOf(g, PARENT_CODES[TYPE_CODE[type]])
      const chosen = [...new Set([pick(parents, m.b), pick(parents, m.c)])].map(name)
      g.createNode(`n${step}`, type, chosen)
      return
    }
    case 9: // delete a node (refused while it has children or is referenced)
      g.deleteNode(name(pick(idsOf(g, [1, 2, 3, 4]), m.a)))
      return
    case 10: // redeclare the resource rights: sometimes past one mask word, sometimes back
      g.setResourceRights([...RIGHTS, ...Array.from({ length: m.flag ? m.a % 30 : 0 }, (_, i) => `x${i}`)])
      return
    default: // a batch of two writes, one revision; rolled back (no revision) when it throws
      g.batch(() => {
        mutate(g, { ...m, kind: m.a % 9 }, step)
        mutate(g, { ...m, kind: m.b % 9, a: m.c, b: m.a }, step + 100000)
        if (m.flag) throw new Error('roll the batch back')
      })
  }
}

/** mulberry32, to choose the checked pairs from a seed. */
function prng (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let x = Math.imul(state ^ (state >>> 15), state | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

t.test('the cached engine agrees with the reference while random writes change the graph', async (t) => {
  let steps = 0
  let applied = 0
  let checks = 0
  let allowed = 0
  let hits = 0
  let misses = 0
  const committed = new Array<number>(12).fill(0)
  let rolledBack = 0
  fc.assert(fc.property(recipe, fc.array(mutation, { minLength: 15, maxLength: 30 }), fc.nat(), (r, mutations, seed) => {
    const g = build(r)
    const ref = new ReferenceEvaluator(g)
    const engine = new DecisionEngine(g, { cache: { capacity: 64 } })
    const random = prng(seed)
    const verify = (): void => {
      const users = idsOf(g, [2])
      const targets = idsOf(g, [0, 1, 2, 3, 4])
      if (users.length === 0) return
      // A few pairs, each asked for every right, twice: the second round is answered by the cache.
      const pairs: [number, number, string | undefined][] = []
      for (let i = 0; i < 16; i++) {
        const roll = random()
        pairs.push([users[Math.floor(random() * users.length)], targets[Math.floor(random() * targets.length)], roll < 0.2 ? PROCESSES[0] : roll < 0.3 ? PROCESSES[1] : undefined])
      }
      for (let round = 0; round < 2; round++) {
        for (const [user, target, process] of pairs) {
          const expected = ref.privileges({ user, attributes: [], process }, { target, attributes: [] })
          const request = process === undefined
            ? { user: g.nameOf(user), target: g.nameOf(target) }
            : { user: g.nameOf(user), target: g.nameOf(target), process }
          for (const right of CHECKED_RIGHTS) {
            const decision = engine.check({ ...request, right })
            if (decision.allowed !== allows(g, expected, right) || decision.revision !== g.revision) {
              throw new Error(`revision ${g.revision}: cached check of ${JSON.stringify(request)} ${right} is ${String(decision.allowed)} at revision ${decision.revision}, reference ${describeMask(g, expected)}`)
            }
            if (decision.allowed) allowed++
            checks++
          }
          if (engine.privileges(request).join() !== describeMask(g, expected)) {
            throw new Error(`revision ${g.revision}: cached privileges of ${JSON.stringify(request)} differ from the reference ${describeMask(g, expected)}`)
          }
        }
      }
    }
    verify()
    mutations.forEach((m, step) => {
      const before = g.revision
      try {
        mutate(g, m, step)
      } catch {
        // refused or rolled back: the graph is as it was, at the same revision
        if (m.kind === 11 && m.flag) rolledBack++
      }
      if (g.revision !== before) {
        applied++
        committed[m.kind]++
      }
      steps++
      verify()
    })
    hits += engine.cacheStats?.hits ?? 0
    misses += engine.cacheStats?.misses ?? 0
  }), { seed: 7002, numRuns: 80 })
  t.ok(steps >= 1200, `${steps} writes tried`)
  t.ok(applied > steps / 3, `${applied} of them committed (each a new revision)`)
  t.ok(committed.every((n) => n > 0), `every kind of write committed at least once: ${committed.join(' ')}`)
  t.ok(rolledBack > 0, `${rolledBack} batches rolled back`)
  t.ok(checks > 100000, `${checks} checks compared, ${allowed} allowed`)
  t.ok(allowed > 1000, 'a fair share of them allowed')
  t.ok(hits > 0 && misses > 0, `cache hits ${hits}, misses ${misses}`)
  t.ok(hits > misses, 'the repeated checks hit the cache')
})
