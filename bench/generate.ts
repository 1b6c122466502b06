/**
 * Seeded, deterministic policy graphs for the benchmarks: the same options give the same graph,
 * node for node, on every machine and Node version (own PRNG, no Math.random, no dependency).
 *
 * Graphs are built straight through the {@link PolicyGraph} API, one mutation at a time and NOT
 * inside `graph.batch` (a batch keeps an undo closure per mutation, which would double the memory
 * of a million-element build). Every node is created with all its parents at once, so no
 * `assign` (and no cycle check) is needed.
 *
 * Two shapes:
 * - {@link rbac}: one policy class, a role hierarchy a few levels deep (senior roles assigned to
 *   junior ones), users in 1-3 roles, objects in folders nested 2-3 deep, role -> folder
 *   associations with 1-3 of 6 rights, a few prohibitions.
 * - {@link multiPolicy}: four policy classes (RBAC, Dept, MLS, Projects), attribute hierarchies
 *   10-20 deep on both the user and the object side, objects in up to four classes, UA and
 *   process prohibitions with complemented containers.
 *
 * {@link rbacOptions} and {@link multiPolicyOptions} choose the counts for a wanted total of
 * elements (nodes + assignments + associations); {@link generate} does both steps.
 *
 * Every generator returns sample pairs for queries: `users[i]` with `targets[i]`. About half of
 * the pairs are drawn so that the user probably holds a right on the target (an object found by
 * walking down from one of the user's association targets); the rest are random objects and
 * object attributes, which the user mostly cannot reach.
 *
 * Build cost on the bench machine (see bench/RESULTS.md): about 0.25 s per 100 000 elements;
 * a 1-million-element graph fits in the default Node 20 heap.
 */
import { PolicyGraph, type NodeType, type ProhibitionContainer } from '../src/graph/index.js'

// ---------------------------------------------------------------- PRNG

/**
 * mulberry32: a 32-bit PRNG, small and fast, good enough to shape test graphs.
 *
 * @example
 * ```ts
 * const rng = new Random(42)
 * rng.int(10) // the same number in 0..9 on every run
 * ```
 */
export class Random {
  #state: number

  constructor (seed: number) {
    this.#state = seed >>> 0
  }

  /** A float in [0, 1). */
  next (): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** An integer in [0, n). */
  int (n: number): number {
    return Math.floor(this.next() * n)
  }

  /** An integer in [lo, hi]. */
  range (lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }

  /** True with probability p. */
  chance (p: number): boolean {
    return this.next() < p
  }

  /** A random element of a non-empty list. */
  pick<T> (list: readonly T[]): T {
    return list[this.int(list.length)]
  }

  /** k distinct random elements of `list` (all of it when k >= its length). */
  sample<T> (list: readonly T[], k: number): T[] {
    if (k >= list.length) return [...list]
    const chosen = new Set<number>()
    while (chosen.size < k) chosen.add(this.int(list.length))
    return [...chosen].map((i) => list[i])
  }
}

// ---------------------------------------------------------------- results and options

/** A generated graph and sample queries over it. */
export interface Generated {
  readonly graph: PolicyGraph
  /** Users of the sample pairs (names of existing U nodes); `users[i]` goes with `targets[i]`. */
  readonly users: string[]
  /** Targets of the sample pairs (existing O or OA nodes). */
  readonly targets: string[]
  /** The declared resource rights, to draw the right of a query from. */
  readonly rights: string[]
  /** Process ids that some prohibitions bind (empty when there are none). */
  readonly processes: string[]
}

/** Options of {@link rbac}. */
export interface RbacOptions {
  readonly seed: number
  readonly users: number
  readonly roles: number
  readonly objects: number
  /** Object attributes (folders); objects / 10 by default. */
  readonly folders?: number
  /** Levels of the role hierarchy; 4 by default. */
  readonly roleDepth?: number
  /** Levels of folder nesting (objects sit at the last two); 3 by default. */
  readonly folderDepth?: number
  /** Prohibitions; 4 + users / 1000 by default. */
  readonly prohibitions?: number
  /** Sample pairs to return; 1000 by default. */
  readonly samples?: number
}

/** Options of {@link multiPolicy}. */
export interface MultiPolicyOptions {
  readonly seed: number
  readonly users: number
  readonly objects: number
  /** UAs of the RBAC role hierarchy. */
  readonly roles: number
  /** OAs of the RBAC folder hierarchy. */
  readonly folders: number
  /** UAs of the department tree (the Dept class mirrors it with as many OAs). */
  readonly departments: number
  /** Project teams (the Projects class mirrors them with as many OAs). */
  readonly projects: number
  /** Levels of the role hierarchy; 14 by default. */
  readonly roleDepth?: number
  /** Levels of the folder hierarchy; 16 by default. */
  readonly folderDepth?: number
  /** Levels of the department tree; 10 by default. */
  readonly departmentDepth?: number
  /** MLS levels: the length of the clearance and classification chains; 12 by default. */
  readonly levels?: number
  /** Prohibitions (UA, user and process subjects); 8 + users / 500 by default. */
  readonly prohibitions?: number
  /** Process ids for process prohibitions; 8 by default. */
  readonly processes?: number
  /** Sample pairs to return; 1000 by default. */
  readonly samples?: number
}

/** The graph shapes {@link generate} knows. */
export type GraphKind = 'rbac' | 'multi'

/** Resource rights of every generated graph ('delete' is an admin right, hence 'remove'). */
export const RIGHTS: readonly string[] = Object.freeze(['read', 'write', 'append', 'remove', 'list', 'share'])

// ---------------------------------------------------------------- sizes

/**
 * Parses a size such as `10k`, `100k`, `1m` or `25000` into a number of elements.
 *
 * @example
 * ```ts
 * parseSize('1m') // 1000000
 * ```
 */
export function parseSize (text: string): number {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text.trim())
  if (m === null) throw new TypeError(`invalid size '${text}': use e.g. 10k, 100k, 1m or 25000`)
  const unit = m[2].toLowerCase() === 'k' ? 1e3 : m[2].toLowerCase() === 'm' ? 1e6 : 1
  return Math.round(Number(m[1]) * unit)
}

/**
 * RBAC counts for about `elements` elements (nodes + assignments + associations).
 * Per element budget: users 10% (x3: node, ~2 roles), objects 28% (x2.1), roles 1% (x4.1), folders 3% (x2).
 *
 * @example
 * ```ts
 * const { graph } = rbac(rbacOptions(100_000, 1))
 * ```
 */
export function rbacOptions (elements: number, seed = 1): RbacOptions {
  return {
    seed,
    users: Math.max(10, Math.round(elements * 0.1)),
    roles: Math.max(8, Math.round(elements * 0.01)),
    objects: Math.max(20, Math.round(elements * 0.28)),
    folders: Math.max(7, Math.round(elements * 0.03))
  }
}

/**
 * Multi-policy counts for about `elements` elements (nodes + assignments + associations).
 *
 * @example
 * ```ts
 * const { graph } = multiPolicy(multiPolicyOptions(1_000_000, 1))
 * ```
 */
export function multiPolicyOptions (elements: number, seed = 1): MultiPolicyOptions {
  return {
    seed,
    users: Math.max(20, Math.round(elements * 0.06)),
    objects: Math.max(40, Math.round(elements * 0.145)),
    roles: Math.max(60, Math.round(elements * 0.02)),
    folders: Math.max(80, Math.round(elements * 0.03)),
    departments: Math.max(40, Math.round(elements * 0.005)),
    projects: Math.max(10, Math.round(elements * 0.002))
  }
}

/**
 * A graph of the given kind with about `elements` elements.
 *
 * @example
 * ```ts
 * const { graph, users, targets, rights } = generate('rbac', parseSize('10k'), 1)
 * ```
 */
export function generate (kind: GraphKind, elements: number, seed = 1): Generated {
  return kind === 'rbac' ? rbac(rbacOptions(elements, seed)) : multiPolicy(multiPolicyOptions(elements, seed))
}

/** nodes + assignments + associations of a graph. */
export function elementCount (graph: PolicyGraph): number {
  const s = graph.stats
  return s.nodes + s.assignments + s.associations
}

// ---------------------------------------------------------------- layered hierarchies

/**
 * The shape of a layered hierarchy: for each level, for each node, the indices of its parents in
 * the level above (empty on level 0, whose nodes hang from the roots).
 */
type Shape = number[][][]

/** Level sizes that double from `first` until an even share of what is left, then stay even; sum = count. */
function growingLevels (count: number, depth: number, first: number): number[] {
  const sizes: number[] = []
  let left = Math.max(count, depth)
  let width = Math.max(1, first)
  for (let l = 0; l < depth; l++) {
    const remaining = depth - l
    const size = l === depth - 1 ? left : Math.min(width, Math.max(1, Math.floor(left / remaining)))
    sizes.push(size)
    left -= size
    width *= 2
  }
  return sizes
}

/** Random parents for each node: one in the level above, a second with probability `extra`. */
function makeShape (rng: Random, sizes: readonly number[], extra: number): Shape {
  const shape: Shape = []
  for (let l = 0; l < sizes.length; l++) {
    const level: number[][] = []
    for (let i = 0; i < sizes[l]; i++) {
      if (l === 0) {
        level.push([])
        continue
      }
      const above = sizes[l - 1]
      const first = rng.int(above)
      const parents = [first]
      if (above > 1 && rng.chance(extra)) {
        let second = rng.int(above - 1)
        if (second >= first) second++
        parents.push(second)
      }
      level.push(parents)
    }
    shape.push(level)
  }
  return shape
}

/** Creates the nodes of `shape`, named `${prefix}${level}.${index}`; level 0 hangs from a random root. */
function materialize (graph: PolicyGraph, rng: Random, shape: Shape, prefix: string, type: NodeType, roots: readonly string[]): string[][] {
  const levels: string[][] = []
  for (let l = 0; l < shape.length; l++) {
    const names: string[] = []
    for (let i = 0; i < shape[l].length; i++) {
      const name = `${prefix}${l}.${i}`
      const parents = l === 0 ? [rng.pick(roots)] : shape[l][i].map((p) => levels[l - 1][p])
      graph.createNode(name, type, parents)
      names.push(name)
    }
    levels.push(names)
  }
  return levels
}

/** min..max distinct resource rights, in random order. */
function someRights (rng: Random, min: number, max: number): string[] {
  const k = rng.range(min, max)
  return rng.sample(RIGHTS, k)
}

// ---------------------------------------------------------------- RBAC

/**
 * A one-class RBAC graph: roles nested a few levels, users in 1-3 roles, objects in folders
 * nested 2-3 deep, role -> folder associations, a few prohibitions.
 *
 * @example
 * ```ts
 * const { graph, users, targets } = rbac({ seed: 1, users: 1000, roles: 100, objects: 2800 })
 * ```
 */
export function rbac (options: RbacOptions): Generated {
  const rng = new Random(options.seed)
  const graph = new PolicyGraph()
  graph.setResourceRights(RIGHTS)
  graph.createNode('RBAC', 'PC')

  const roleDepth = options.roleDepth ?? 4
  const roleSizes = growingLevels(options.roles, roleDepth, Math.ceil(options.roles / 15))
  const roles = materialize(graph, rng, makeShape(rng, roleSizes, 0.15), 'role', 'UA', ['RBAC'])
  const allRoles = roles.flat()

  const folderDepth = options.folderDepth ?? 3
  const folderCount = options.folders ?? Math.max(folderDepth, Math.round(options.objects / 10))
  const folderSizes = growingLevels(folderCount, folderDepth, Math.ceil(folderCount / 7))
  const folders = materialize(graph, rng, makeShape(rng, folderSizes, 0.05), 'folder', 'OA', ['RBAC'])
  const allFolders = folders.flat()
  // Objects sit in the last two levels: nested 2 or 3 deep with the default depth.
  const objectFolders = folders.slice(Math.max(0, folderDepth - 2)).flat()

  const users: string[] = []
  for (let i = 0; i < options.users; i++) {
    const name = `u${i}`
    graph.createNode(name, 'U', rng.sample(allRoles, rng.range(1, 3)))
    users.push(name)
  }

  const objects: string[] = []
  for (let i = 0; i < options.objects; i++) {
    const name = `o${i}`
    const parents = [rng.pick(objectFolders)]
    if (rng.chance(0.1)) parents.push(rng.pick(allFolders))
    graph.createNode(name, 'O', parents)
    objects.push(name)
  }

  for (const role of allRoles) {
    for (const folder of rng.sample(allFolders, rng.range(1, 3))) graph.associate(role, folder, someRights(rng, 1, 3))
  }

  const prohibitions = options.prohibitions ?? 4 + Math.floor(options.users / 1000)
  for (let i = 0; i < prohibitions; i++) {
    const name = `deny${i}`
    switch (i % 3) {
      case 0: // a user may not write or share in one top folder
        graph.createProhibition({ name, subject: rng.pick(users), rights: ['write', 'share'], intersection: false, containers: [{ name: rng.pick(folders[0]), complement: false }] })
        break
      case 1: { // a role may not write in a folder, except in one of its subfolders
        const top = rng.pick(folders[0])
        const sub = graph.childrenOf(top).find((c) => graph.node(c)?.type === 'OA') ?? rng.pick(folders[folders.length - 1])
        graph.createProhibition({ name, subject: rng.pick(allRoles), rights: ['write'], intersection: true, containers: [{ name: top, complement: false }, { name: sub, complement: true }] })
        break
      }
      default: // a role may not share or remove outside one top folder
        graph.createProhibition({ name, subject: rng.pick(allRoles), rights: ['share', 'remove'], intersection: false, containers: [{ name: rng.pick(folders[0]), complement: true }] })
    }
  }

  const samples = pickSamples(graph, rng, users, objects, allFolders, options.samples ?? 1000)
  return { graph, ...samples, rights: [...RIGHTS], processes: [] }
}

// ---------------------------------------------------------------- multi-policy

/**
 * A four-class graph: RBAC (deep role and folder hierarchies), Dept (a department tree mirrored
 * on both sides), MLS (clearance and classification chains) and Projects (teams mirrored by
 * project folders). Objects belong to RBAC and, at random, to the other three; prohibitions bind
 * roles, departments, users and processes, most with a complemented container.
 *
 * @example
 * ```ts
 * const { graph, users, targets, processes } = multiPolicy(multiPolicyOptions(10_000, 1))
 * ```
 */
export function multiPolicy (options: MultiPolicyOptions): Generated {
  const rng = new Random(options.seed)
  const graph = new PolicyGraph()
  graph.setResourceRights(RIGHTS)
  for (const pc of ['RBAC', 'Dept', 'MLS', 'Projects']) graph.createNode(pc, 'PC')

  // RBAC: deep role and folder hierarchies.
  const roleDepth = options.roleDepth ?? 14
  const roles = materialize(graph, rng, makeShape(rng, growingLevels(options.roles, roleDepth, 4), 0.1), 'role', 'UA', ['RBAC'])
  const allRoles = roles.flat()
  const userRoles = roles.slice(Math.floor(roleDepth / 2)).flat()
  const folderDepth = options.folderDepth ?? 16
  const folders = materialize(graph, rng, makeShape(rng, growingLevels(options.folders, folderDepth, 4), 0.1), 'folder', 'OA', ['RBAC'])
  const allFolders = folders.flat()
  const objectFolders = folders.slice(Math.floor((folderDepth * 2) / 3)).flat()

  // Dept: one tree shape, as units (UA) and as their records (OA).
  const deptDepth = options.departmentDepth ?? 10
  const deptShape = makeShape(rng, growingLevels(options.departments, deptDepth, 3), 0.05)
  const units = materialize(graph, rng, deptShape, 'unit', 'UA', ['Dept'])
  const records = materialize(graph, rng, deptShape, 'records', 'OA', ['Dept'])

  // MLS: clearance k is contained in clearance k-1; class k is contained in class k+1.
  const levels = options.levels ?? 12
  const clearances: string[] = []
  for (let k = 0; k < levels; k++) {
    graph.createNode(`clear${k}`, 'UA', [k === 0 ? 'MLS' : `clear${k - 1}`])
    clearances.push(`clear${k}`)
  }
  const classes: string[] = []
  for (let k = levels - 1; k >= 0; k--) graph.createNode(`class${k}`, 'OA', [k === levels - 1 ? 'MLS' : `class${k + 1}`])
  for (let k = 0; k < levels; k++) classes.push(`class${k}`)

  // Projects: four groups of teams (whatever the size, so the class blocks alike), mirrored by project folders.
  const projectShape = makeShape(rng, [Math.min(4, options.projects), options.projects], 0)
  const teams = materialize(graph, rng, projectShape, 'team', 'UA', ['Projects'])
  const projects = materialize(graph, rng, projectShape, 'project', 'OA', ['Projects'])

  const users: string[] = []
  for (let i = 0; i < options.users; i++) {
    const name = `u${i}`
    const parents = rng.sample(userRoles, rng.range(1, 2))
    parents.push(rng.pick(units[deptDepth - 1]), rng.pick(clearances))
    if (rng.chance(0.5)) parents.push(rng.pick(teams[1]))
    graph.createNode(name, 'U', parents)
    users.push(name)
  }

  const objects: string[] = []
  for (let i = 0; i < options.objects; i++) {
    const name = `o${i}`
    const parents = [rng.pick(objectFolders)]
    if (rng.chance(0.6)) parents.push(rng.pick(records[deptDepth - 1]))
    if (rng.chance(0.7)) parents.push(rng.pick(classes))
    if (rng.chance(0.3)) parents.push(rng.pick(projects[1]))
    graph.createNode(name, 'O', parents)
    objects.push(name)
  }

  // Associations.
  for (const role of allRoles) {
    for (const folder of rng.sample(allFolders, rng.range(1, 3))) graph.associate(role, folder, someRights(rng, 1, 3))
  }
  for (let l = 0; l < deptDepth; l++) {
    for (let i = 0; i < units[l].length; i++) {
      if (l === 0) graph.associate(units[0][i], records[0][i], ['read', 'list'])
      else if (rng.chance(0.5)) graph.associate(units[l][i], records[l][i], someRights(rng, 1, 4))
    }
  }
  for (let k = 0; k < levels; k++) graph.associate(clearances[k], classes[k], RIGHTS)
  for (let l = 0; l < 2; l++) {
    for (let i = 0; i < teams[l].length; i++) {
      graph.associate(teams[l][i], projects[l][i], l === 0 ? ['read', 'list'] : someRights(rng, 2, 5))
    }
  }

  // Prohibitions, most with a complemented container.
  const processes: string[] = []
  for (let i = 0; i < (options.processes ?? 8); i++) processes.push(`proc${i}`)
  const allRecords = records.flat()
  const allProjects = projects.flat()
  const prohibitions = options.prohibitions ?? 8 + Math.floor(options.users / 500)
  for (let i = 0; i < prohibitions; i++) {
    const name = `deny${i}`
    let subject: string | { process: string }
    let rights: string[]
    let intersection: boolean
    let containers: ProhibitionContainer[]
    switch (i % 5) {
      case 0: // a role may not write outside one project
        subject = rng.pick(allRoles)
        rights = ['write', 'append']
        intersection = false
        containers = [{ name: rng.pick(allProjects), complement: true }]
        break
      case 1: // a department may not share inside a folder subtree unless it is also in its records
        subject = rng.pick(units[rng.int(deptDepth)])
        rights = ['share']
        intersection = true
        containers = [{ name: rng.pick(folders[rng.int(4)]), complement: false }, { name: rng.pick(records[0]), complement: true }]
        break
      case 2: // a process may not write or remove outside one department's records
        subject = { process: rng.pick(processes) }
        rights = ['write', 'remove', 'share']
        intersection = false
        containers = [{ name: rng.pick(records[0]), complement: true }]
        break
      case 3: // a process may not read above a classification (intersection with a complement)
        subject = { process: rng.pick(processes) }
        rights = ['read', 'list']
        intersection = true
        containers = [{ name: rng.pick(folders[rng.int(3)]), complement: false }, { name: rng.pick(classes), complement: true }]
        break
      default: // a user may not remove anything in a record tree or a top folder
        subject = rng.pick(users)
        rights = ['remove', 'write']
        intersection = false
        containers = [{ name: rng.pick(allRecords), complement: false }, { name: rng.pick(folders[0]), complement: false }]
    }
    graph.createProhibition({ name, subject, rights, intersection, containers })
  }

  // Reachable samples start from RBAC grants (role -> folder): every object is in RBAC.
  const samples = pickSamples(graph, rng, users, objects, allFolders, options.samples ?? 1000, isFolder)
  return { graph, ...samples, rights: [...RIGHTS], processes }
}

// ---------------------------------------------------------------- samples

/**
 * Sample (user, target) pairs: about half found by walking down from a random association target
 * of the user's attributes to an object (probably reachable), the rest random objects (and a few
 * object attributes), mostly unreachable.
 */
function pickSamples (graph: PolicyGraph, rng: Random, users: readonly string[], objects: readonly string[],
  attributes: readonly string[], count: number, from?: (graph: PolicyGraph, target: number) => boolean): { users: string[], targets: string[] } {
  const outUsers: string[] = []
  const outTargets: string[] = []
  for (let i = 0; i < count; i++) {
    const user = rng.pick(users)
    let target: string | undefined
    if (rng.chance(0.5)) target = reachable(graph, rng, graph.idOf(user), from)
    if (target === undefined) target = rng.chance(0.9) ? rng.pick(objects) : rng.pick(attributes)
    outUsers.push(user)
    outTargets.push(target)
  }
  return { users: outUsers, targets: outTargets }
}

/** An object below a random association target (one that `from` accepts) of the user's attributes, or undefined. */
function reachable (graph: PolicyGraph, rng: Random, user: number, from?: (graph: PolicyGraph, target: number) => boolean): string | undefined {
  const seen = new Set<number>([user])
  const queue = [user]
  const targets: number[] = []
  for (let i = 0; i < queue.length; i++) {
    for (const a of graph.associationsFrom(queue[i])) if (from === undefined || from(graph, a.target)) targets.push(a.target)
    for (const p of graph.parentIds(queue[i])) {
      if (!seen.has(p)) {
        seen.add(p)
        queue.push(p)
      }
    }
  }
  if (targets.length === 0) return undefined
  let node = rng.pick(targets)
  for (let steps = 0; steps < 64; steps++) {
    const children = graph.childIds(node)
    if (children.length === 0) break
    node = rng.pick(children)
  }
  return graph.nameOf(node)
}

function isFolder (graph: PolicyGraph, id: number): boolean {
  return graph.nameOf(id).startsWith('folder')
}
