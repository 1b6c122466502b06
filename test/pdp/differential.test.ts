// Randomized differential test: the production evaluator against the reference one, on
// hundreds of random valid graphs (fixed seed), for privileges, denied rights, capability
// lists and access control lists, including anonymous users and targets and processes.
import t from 'tap'
import fc from 'fast-check'
import { PolicyGraph, maskEquals, maskIsEmpty, type NodeType, type RightsMask } from '../../src/graph/index.js'
import { ProductionEvaluator, ReferenceEvaluator, type RightsByNode, type Subject, type Target } from '../../src/pdp/index.js'

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

t.test('production evaluator agrees with the reference on 600 random graphs', async (t) => {
  let compared = 0
  let granted = 0
  let prohibited = 0
  fc.assert(fc.property(recipe, fc.nat(), (r, salt) => {
    const g = build(r)
    const ref = new ReferenceEvaluator(g)
    const prod = new ProductionEvaluator(g)
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
        if (!maskIsEmpty(b)) granted++
        const denied = prod.denied(s, tg)
        if (!maskIsEmpty(denied)) prohibited++
        if (!maskEquals(ref.denied(s, tg), denied)) {
          throw new Error(`denied differs for ${JSON.stringify(s)} on ${JSON.stringify(tg)}`)
        }
        compared++
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
  }), { seed: 20261204, numRuns: 600 })
  t.ok(compared > 10000, `compared ${compared} (subject, target) pairs`)
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
