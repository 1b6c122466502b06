/**
 * The NGAC policy graph in memory (DESIGN section 2): nodes, assignments, associations,
 * prohibitions, declared rights and a revision counter. Pure data and invariants, no I/O.
 *
 * Invariants kept by every mutation:
 * - names are unique; each node has an integer id that never changes while it lives;
 * - assignments follow the allowed type pairs and never close a cycle;
 * - every non-PC node has at least one parent, so every node reaches a PC;
 * - a node with children, associations or prohibitions referring to it is not deleted;
 * - one association per (ua, target) pair; rights are declared resource rights, admin rights or `*`.
 *
 * A mutation validates everything before it changes anything, so a refused one leaves the graph
 * as it was. {@link PolicyGraph.batch} groups mutations: all apply, under one new revision, or none.
 * Ids are never reused (a deleted node leaves a hole), so engines can size arrays by
 * {@link PolicyGraph.idLimit} and index them by id.
 */
import { NgacError } from '../errors.js'
import { ALL_RIGHTS, RightsCatalog, type RightsMask } from './rights.js'

/** The five node types of NGAC. */
export type NodeType = 'PC' | 'UA' | 'U' | 'OA' | 'O'

/** Node types as the small integers the engine compares. */
export const PC = 0
export const UA = 1
export const U = 2
export const OA = 3
export const O = 4

/** Node type names, indexed by their integer code. */
export const NODE_TYPES: readonly NodeType[] = Object.freeze(['PC', 'UA', 'U', 'OA', 'O'])

const TYPE_CODES: Readonly<Record<string, number>> = Object.freeze({ PC, UA, U, OA, O })

/** String properties of a node. */
export type Properties = Readonly<Record<string, string>>

/** A node as the public API shows it. */
export interface NodeInfo {
  readonly name: string
  readonly type: NodeType
  readonly properties: Properties
}

/** An association as the public API shows it. */
export interface AssociationInfo {
  readonly ua: string
  readonly target: string
  readonly rights: readonly string[]
}

/** The subject of a prohibition: a U or UA node name, or a process id. */
export type ProhibitionSubject = string | { readonly process: string }

/** A container of a prohibition; a complemented container stands for everything outside it. */
export interface ProhibitionContainer {
  readonly name: string
  readonly complement: boolean
}

/** A prohibition as the public API shows it. */
export interface ProhibitionInfo {
  readonly name: string
  readonly subject: ProhibitionSubject
  readonly rights: readonly string[]
  /** true: the target must satisfy every container; false: any one container. */
  readonly intersection: boolean
  readonly containers: readonly ProhibitionContainer[]
}

/** An association inside the engine. */
export interface Association {
  readonly ua: number
  readonly target: number
  /** The rights as given (may hold `*`), sorted. */
  readonly rights: readonly string[]
  mask: RightsMask
}

/** A prohibition inside the engine. */
export interface Prohibition {
  readonly name: string
  /** The subject node's id, or -1 for a process subject. */
  readonly subject: number
  /** The process id for a process subject, else undefined. */
  readonly process: string | undefined
  readonly rights: readonly string[]
  mask: RightsMask
  readonly intersection: boolean
  /** Container node ids, parallel to `complements`. */
  readonly containers: readonly number[]
  readonly complements: readonly boolean[]
}

const EMPTY: readonly never[] = Object.freeze([])
const NO_PROPERTIES: Properties = Object.freeze({})
/** The longest node or prohibition name, in UTF-16 code units: a fixed limit, so a policy valid on one server loads on every other. */
export const MAX_NAME_LENGTH = 1024
// NOTE: a lone surrogate is refused too: SQLite stores text as UTF-8, so the name would not survive a restart.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\ud800-\udfff]/u

/** Allowed parent types for each child type, indexed by type code. */
const ALLOWED_PARENTS: readonly (readonly number[])[] = [
  [], // PC
  [UA, PC], // UA
  [UA], // U
  [OA, PC], // OA
  [OA, PC] // O
]

const ASSIGNMENT_RULE: readonly string[] = [
  'a policy class is assigned to nothing',
  'a user attribute may only be assigned to a user attribute or a policy class',
  'a user may only be assigned to a user attribute',
  'an object attribute may only be assigned to an object attribute or a policy class',
  'an object may only be assigned to an object attribute or a policy class'
]

/**
 * An NGAC policy graph held in memory.
 *
 * @example
 * ```ts
 * const g = new PolicyGraph()
 * g.setResourceRights(['read', 'write'])
 * g.createNode('RBAC', 'PC')
 * g.createNode('staff', 'UA', ['RBAC'])
 * g.createNode('alice', 'U', ['staff'])
 * g.createNode('docs', 'OA', ['RBAC'])
 * g.associate('staff', 'docs', ['read'])
 * g.revision // 5
 * ```
 */
export class PolicyGraph {
  #revision = 0
  #rights = new RightsCatalog()
  readonly #ids = new Map<string, number>()
  // Per id; a deleted node's slot holds undefined / -1 / EMPTY.
  readonly #names: (string | undefined)[] = []
  readonly #types: number[] = []
  readonly #properties: Properties[] = []
  readonly #parents: number[][] = []
  readonly #children: number[][] = []
  readonly #assocsFrom: Association[][] = []
  readonly #assocsTo: Association[][] = []
  readonly #prohibitionsOf: Prohibition[][] = []
  readonly #containerRefs: number[] = []
  readonly #prohibitions = new Map<string, Prohibition>()
  readonly #processProhibitions = new Map<string, Prohibition[]>()
  readonly #policyClasses: number[] = [] // in id order
  #nodeCount = 0
  readonly #typeCounts = [0, 0, 0, 0, 0]
  #assignmentCount = 0
  #associationCount = 0
  #undo: (() => void)[] | null = null

  // ---------------------------------------------------------------- reading, by name

  /** The revision of the last committed change; 0 for a new graph. */
  get revision (): number {
    return this.#revision
  }

  /** The rights catalogue: admin rights and declared resource rights. */
  get rights (): RightsCatalog {
    return this.#rights
  }

  /** The declared resource rights, in declaration order. */
  get resourceRights (): readonly string[] {
    return this.#rights.resourceRights
  }

  /** Element counts, nodes also by type. */
  get stats (): { nodes: number, assignments: number, associations: number, prohibitions: number, nodesByType: Record<NodeType, number> } {
    const t = this.#typeCounts
    return {
      nodesByType: { PC: t[PC], UA: t[UA], U: t[U], OA: t[OA], O: t[O] },
      nodes: this.#nodeCount,
      assignments: this.#assignmentCount,
      associations: this.#associationCount,
      prohibitions: this.#prohibitions.size
    }
  }

  /** Whether a node of that name exists. */
  hasNode (name: string): boolean {
    return this.#ids.has(name)
  }

  /** The node of that name, or undefined. */
  node (name: string): NodeInfo | undefined {
    const id = this.idOf(name)
    return id < 0 ? undefined : this.nodeInfo(id)
  }

  /** Every node, optionally only those of one type, in creation order. */
  * nodes (type?: NodeType): IterableIterator<NodeInfo> {
    const code = type === undefined ? -1 : TYPE_CODES[type]
    for (let id = 0; id < this.#names.length; id++) {
      if (this.#names[id] !== undefined && (code < 0 || this.#types[id] === code)) yield this.nodeInfo(id)
    }
  }

  /** Names of the nodes `name` is assigned to. @throws NgacError NGAC_ERR_NODE_NOT_FOUND */
  parentsOf (name: string): string[] {
    return this.#parents[this.#require(name)].map((id) => this.#names[id] as string)
  }

  /** Names of the nodes assigned to `name`. @throws NgacError NGAC_ERR_NODE_NOT_FOUND */
  childrenOf (name: string): string[] {
    return this.#children[this.#require(name)].map((id) => this.#names[id] as string)
  }

  /** Every assignment as `[child, parent]`, children in creation order. */
  * assignments (): IterableIterator<[string, string]> {
    for (let id = 0; id < this.#names.length; id++) {
      const child = this.#names[id]
      if (child === undefined) continue
      for (const parent of this.#parents[id]) yield [child, this.#names[parent] as string]
    }
  }

  /** The association of `ua` on `target`, or undefined. */
  association (ua: string, target: string): AssociationInfo | undefined {
    const a = this.#findAssociation(this.idOf(ua), this.idOf(target))
    return a === undefined ? undefined : this.associationInfo(a)
  }

  /** Every association, grouped by ua in creation order. */
  * associations (): IterableIterator<AssociationInfo> {
    for (const list of this.#assocsFrom) {
      if (list !== undefined) for (const a of list) yield this.associationInfo(a)
    }
  }

  /** The prohibition of that name, or undefined. */
  prohibition (name: string): ProhibitionInfo | undefined {
    const p = this.#prohibitions.get(name)
    return p === undefined ? undefined : this.prohibitionInfo(p)
  }

  /** Every prohibition, in creation order. */
  * prohibitions (): IterableIterator<ProhibitionInfo> {
    for (const p of this.#prohibitions.values()) yield this.prohibitionInfo(p)
  }

  // ---------------------------------------------------------------- reading, by id (for engines)

  /** The id of a node, or -1. */
  idOf (name: string): number {
    return this.#ids.get(name) ?? -1
  }

  /** One past the highest id ever given: size arrays indexed by id with it. */
  get idLimit (): number {
    return this.#names.length
  }

  /** Whether `id` is a live node. */
  isNode (id: number): boolean {
    return this.#names[id] !== undefined
  }

  /** The name of a live node. */
  nameOf (id: number): string {
    return this.#names[id] as string
  }

  /** The type code (PC, UA, U, OA, O) of a live node. */
  typeOf (id: number): number {
    return this.#types[id]
  }

  /** Ids of the parents of a node. Do not modify. */
  parentIds (id: number): readonly number[] {
    return this.#parents[id] ?? EMPTY
  }

  /** Ids of the children of a node. Do not modify. */
  childIds (id: number): readonly number[] {
    return this.#children[id] ?? EMPTY
  }

  /** Associations whose ua is `id`. Do not modify. */
  associationsFrom (id: number): readonly Association[] {
    return this.#assocsFrom[id] ?? EMPTY
  }

  /** Associations whose target is `id`. Do not modify. */
  associationsTo (id: number): readonly Association[] {
    return this.#assocsTo[id] ?? EMPTY
  }

  /** Prohibitions whose subject is the node `id`. Do not modify. */
  prohibitionsOf (id: number): readonly Prohibition[] {
    return this.#prohibitionsOf[id] ?? EMPTY
  }

  /** Prohibitions whose subject is the process `process`. Do not modify. */
  processProhibitions (process: string): readonly Prohibition[] {
    return this.#processProhibitions.get(process) ?? EMPTY
  }

  /** Every prohibition, in creation order. */
  prohibitionList (): IterableIterator<Prohibition> {
    return this.#prohibitions.values()
  }

  /** Ids of the policy classes. */
  policyClassIds (): IterableIterator<number> {
    return this.#policyClasses.values()
  }

  /** The public view of a live node. */
  nodeInfo (id: number): NodeInfo {
    return { name: this.#names[id] as string, type: NODE_TYPES[this.#types[id]], properties: this.#properties[id] }
  }

  /** The public view of an association. */
  associationInfo (a: Association): AssociationInfo {
    return { ua: this.#names[a.ua] as string, target: this.#names[a.target] as string, rights: a.rights }
  }

  /** The public view of a prohibition. */
  prohibitionInfo (p: Prohibition): ProhibitionInfo {
    return {
      name: p.name,
      subject: p.subject < 0 ? { process: p.process as string } : this.#names[p.subject] as string,
      rights: p.rights,
      intersection: p.intersection,
      containers: p.containers.map((id, i) => ({ name: this.#names[id] as string, complement: p.complements[i] }))
    }
  }

  /** Whether `descendant <= ancestor` (reflexive-transitive containment). Walks up from `descendant`. */
  contains (ancestor: number, descendant: number): boolean {
    if (ancestor === descendant) return true
    const seen = new Set<number>([descendant])
    const stack = [descendant]
    while (stack.length > 0) {
      const parents = this.#parents[stack.pop() as number]
      for (let i = 0; i < parents.length; i++) {
        const p = parents[i]
        if (p === ancestor) return true
        if (!seen.has(p)) {
          seen.add(p)
          stack.push(p)
        }
      }
    }
    return false
  }

  // ---------------------------------------------------------------- mutations

  /**
   * Applies `fn`'s mutations atomically under one new revision: if `fn` throws, every change it
   * made is undone and the error is rethrown. A nested batch joins the outer one (one revision for
   * both) but undoes its own changes when it throws. A batch that changes nothing takes no revision.
   * `fn` must be synchronous.
   *
   * @example
   * ```ts
   * graph.batch((g) => {
   *   g.createNode('eng', 'UA', ['RBAC'])
   *   g.createNode('bob', 'U', ['eng'])
   * })
   * ```
   */
  batch<T>(fn: (graph: this) => T): T {
    const outer = this.#undo
    const undo = outer ?? []
    const mark = undo.length
    this.#undo = undo
    try {
      const result = fn(this)
      if (isThenable(result)) {
        throw new NgacError('NGAC_ERR_VALIDATION', 'a batch function must be synchronous: it returned a promise, so its changes were undone')
      }
      if (outer === null && undo.length > 0) this.#revision++
      return result
    } catch (err) {
      for (let i = undo.length - 1; i >= mark; i--) undo[i]()
      undo.length = mark
      throw err
    } finally {
      this.#undo = outer
    }
  }

  /**
   * Sets the revision of a graph just loaded from a store or file. Not a change of policy.
   * @throws NgacError NGAC_ERR_VALIDATION inside a batch or for a negative or fractional number.
   */
  setRevision (revision: number): void {
    if (this.#undo !== null || !Number.isSafeInteger(revision) || revision < 0) {
      throw new NgacError('NGAC_ERR_VALIDATION', `cannot set revision ${revision}: use a non-negative integer outside a batch`)
    }
    this.#revision = revision
  }

  /**
   * Declares the resource rights, replacing the previous declaration.
   * @throws NgacError NGAC_ERR_INVALID_RIGHT, NGAC_ERR_RIGHT_IN_USE when a removed right is still used.
   */
  setResourceRights (rights: readonly string[]): void {
    const catalog = new RightsCatalog(rights)
    for (const a of this.#allAssociations()) this.#checkRightsKept(a.rights, catalog, () => `the association of '${this.nameOf(a.ua)}' on '${this.nameOf(a.target)}'`)
    for (const p of this.#prohibitions.values()) this.#checkRightsKept(p.rights, catalog, () => `prohibition '${p.name}'`)
    const previous = this.#rights
    this.#commit(() => this.#setCatalog(catalog), () => this.#setCatalog(previous))
  }

  /**
   * Creates a node assigned to `parents` (none for a PC, at least one otherwise).
   * @throws NgacError NGAC_ERR_INVALID_NAME, NGAC_ERR_INVALID_TYPE, NGAC_ERR_NODE_EXISTS, NGAC_ERR_NO_PARENT,
   * NGAC_ERR_NODE_NOT_FOUND, NGAC_ERR_INVALID_ASSIGNMENT, NGAC_ERR_VALIDATION (properties)
   */
  createNode (name: string, type: NodeType, parents: readonly string[] = [], properties?: Record<string, string>): void {
    validateName(name)
    const code = TYPE_CODES[type]
    if (typeof type !== 'string' || code === undefined || !Object.hasOwn(TYPE_CODES, type)) {
      throw new NgacError('NGAC_ERR_INVALID_TYPE', `cannot create '${name}': unknown node type ${JSON.stringify(type)}; use PC, UA, U, OA or O`)
    }
    if (this.#ids.has(name)) {
      throw new NgacError('NGAC_ERR_NODE_EXISTS', `cannot create '${name}' (${type}): a ${this.node(name)?.type} of that name exists`)
    }
    const props = normalizeProperties(name, properties)
    if (!Array.isArray(parents)) {
      throw new NgacError('NGAC_ERR_VALIDATION', `cannot create '${name}': parents must be a list of node names`)
    }
    if (code === PC && parents.length > 0) {
      throw new NgacError('NGAC_ERR_INVALID_ASSIGNMENT', `cannot create policy class '${name}' with parents: ${ASSIGNMENT_RULE[PC]}`)
    }
    if (code !== PC && parents.length === 0) {
      throw new NgacError('NGAC_ERR_NO_PARENT', `cannot create '${name}' (${type}) without a parent: assign it to at least one node`)
    }
    const parentIds: number[] = []
    for (const parent of parents) {
      const pid = this.#require(parent, () => `cannot assign '${name}' (${type}) to '${parent}'`)
      this.#checkAssignable(name, code, pid)
      if (!parentIds.includes(pid)) parentIds.push(pid)
    }
    const id = this.#names.length
    this.#commit(() => {
      this.#names.push(name)
      this.#types.push(code)
      this.#properties.push(props)
      this.#parents.push(parentIds)
      this.#children.push([])
      this.#assocsFrom.push([])
      this.#assocsTo.push([])
      this.#prohibitionsOf.push([])
      this.#containerRefs.push(0)
      this.#ids.set(name, id)
      this.#nodeCount++
      this.#typeCounts[code]++
      if (code === PC) this.#policyClasses.push(id)
      for (const pid of parentIds) this.#children[pid].push(id)
      this.#assignmentCount += parentIds.length
    }, () => {
      for (const pid of parentIds) this.#children[pid].pop()
      this.#assignmentCount -= parentIds.length
      if (code === PC) this.#policyClasses.pop()
      this.#nodeCount--
      this.#typeCounts[code]--
      this.#ids.delete(name)
      this.#names.pop()
      this.#types.pop()
      this.#properties.pop()
      this.#parents.pop()
      this.#children.pop()
      this.#assocsFrom.pop()
      this.#assocsTo.pop()
      this.#prohibitionsOf.pop()
      this.#containerRefs.pop()
    })
  }

  /**
   * Deletes a node that has no children and is not referenced by an association or prohibition.
   * @throws NgacError NGAC_ERR_NODE_NOT_FOUND, NGAC_ERR_NODE_IN_USE
   */
  deleteNode (name: string): void {
    const id = this.#require(name, () => `cannot delete '${name}'`)
    const type = NODE_TYPES[this.#types[id]]
    const children = this.#children[id].length
    if (children > 0) {
      throw new NgacError('NGAC_ERR_NODE_IN_USE', `cannot delete '${name}' (${type}): ${children} node(s) are assigned to it, e.g. '${this.nameOf(this.#children[id][0])}'; deassign or delete them first`)
    }
    const uses = this.#assocsFrom[id].length + this.#assocsTo[id].length
    if (uses > 0) {
      const a = this.#assocsFrom[id][0] ?? this.#assocsTo[id][0]
      throw new NgacError('NGAC_ERR_NODE_IN_USE', `cannot delete '${name}' (${type}): it is used by ${uses} association(s), e.g. '${this.nameOf(a.ua)}' on '${this.nameOf(a.target)}'; dissociate first`)
    }
    if (this.#prohibitionsOf[id].length > 0 || this.#containerRefs[id] > 0) {
      const p = this.#prohibitionsOf[id][0] ?? this.#firstProhibitionWithContainer(id)
      throw new NgacError('NGAC_ERR_NODE_IN_USE', `cannot delete '${name}' (${type}): prohibition '${p?.name}' refers to it; delete the prohibition first`)
    }
    const parents = this.#parents[id]
    const properties = this.#properties[id]
    const code = this.#types[id]
    const positions: number[] = []
    let pcPosition = -1
    this.#commit(() => {
      for (const pid of parents) positions.push(removeItem(this.#children[pid], id))
      this.#assignmentCount -= parents.length
      this.#ids.delete(name)
      this.#names[id] = undefined
      this.#parents[id] = EMPTY as unknown as number[]
      this.#properties[id] = NO_PROPERTIES
      if (code === PC) pcPosition = removeItem(this.#policyClasses, id)
      this.#nodeCount--
      this.#typeCounts[code]--
    }, () => {
      this.#nodeCount++
      this.#typeCounts[code]++
      if (code === PC) insertItem(this.#policyClasses, pcPosition, id)
      this.#properties[id] = properties
      this.#parents[id] = parents
      this.#names[id] = name
      this.#ids.set(name, id)
      this.#assignmentCount += parents.length
      for (let i = parents.length - 1; i >= 0; i--) insertItem(this.#children[parents[i]], positions[i], id)
    })
  }

  /**
   * Replaces the properties of a node.
   * @throws NgacError NGAC_ERR_NODE_NOT_FOUND, NGAC_ERR_VALIDATION
   */
  setProperties (name: string, properties: Record<string, string>): void {
    const id = this.#require(name, () => `cannot set properties of '${name}'`)
    const props = normalizeProperties(name, properties)
    const previous = this.#properties[id]
    this.#commit(() => { this.#properties[id] = props }, () => { this.#properties[id] = previous })
  }

  /**
   * Assigns `child` to `parent`.
   * @throws NgacError NGAC_ERR_NODE_NOT_FOUND, NGAC_ERR_INVALID_ASSIGNMENT, NGAC_ERR_ASSIGNMENT_EXISTS,
   * NGAC_ERR_ASSIGNMENT_CYCLE
   */
  assign (child: string, parent: string): void {
    const what = (): string => `cannot assign '${child}' to '${parent}'`
    const cid = this.#require(child, what)
    const pid = this.#require(parent, what)
    this.#checkAssignable(child, this.#types[cid], pid)
    if (this.#parents[cid].includes(pid)) {
      throw new NgacError('NGAC_ERR_ASSIGNMENT_EXISTS', `'${child}' is already assigned to '${parent}'`)
    }
    if (this.contains(cid, pid)) {
      throw new NgacError('NGAC_ERR_ASSIGNMENT_CYCLE', `cannot assign '${child}' to '${parent}': '${parent}' is contained in '${child}', so the assignment would close a cycle`)
    }
    this.#commit(() => this.#link(cid, pid), () => this.#unlink(cid, pid))
  }

  /**
   * Removes the assignment of `child` to `parent`; the last parent of a node is kept.
   * @throws NgacError NGAC_ERR_NODE_NOT_FOUND, NGAC_ERR_ASSIGNMENT_NOT_FOUND, NGAC_ERR_LAST_PARENT
   */
  deassign (child: string, parent: string): void {
    const what = (): string => `cannot deassign '${child}' from '${parent}'`
    const cid = this.#require(child, what)
    const pid = this.#require(parent, what)
    const parents = this.#parents[cid]
    if (!parents.includes(pid)) {
      throw new NgacError('NGAC_ERR_ASSIGNMENT_NOT_FOUND', `${what()}: '${child}' is not assigned to '${parent}'`)
    }
    if (parents.length === 1) {
      throw new NgacError('NGAC_ERR_LAST_PARENT', `${what()}: it is the last parent of '${child}'; assign it elsewhere first or delete it`)
    }
    let at: readonly [number, number] = [-1, -1]
    this.#commit(() => { at = this.#unlink(cid, pid) }, () => this.#link(cid, pid, at))
  }

  /**
   * Grants `rights` to the users of `ua` on `target` and everything in it; replaces the rights of an
   * existing association of the pair.
   * @throws NgacError NGAC_ERR_NODE_NOT_FOUND, NGAC_ERR_INVALID_ASSOCIATION, NGAC_ERR_UNKNOWN_RIGHT
   */
  associate (ua: string, target: string, rights: readonly string[]): void {
    const what = (): string => `cannot associate '${ua}' with '${target}'`
    const uid = this.#require(ua, what)
    const tid = this.#require(target, what)
    if (this.#types[uid] !== UA) {
      throw new NgacError('NGAC_ERR_INVALID_ASSOCIATION', `${what()}: '${ua}' is a ${NODE_TYPES[this.#types[uid]]}; the first end of an association must be a user attribute`)
    }
    const ttype = this.#types[tid]
    if (ttype !== UA && ttype !== OA && ttype !== O) {
      throw new NgacError('NGAC_ERR_INVALID_ASSOCIATION', `${what()}: '${target}' is a ${NODE_TYPES[ttype]}; the target of an association must be a user attribute, object attribute or object (grant rights on policy classes through the object attribute 'ngac:admin:policy')`)
    }
    const names = normalizeRights(rights, what)
    const mask = this.#rights.mask(names, `the association of '${ua}' on '${target}'`)
    const previous = this.#findAssociation(uid, tid)
    const next: Association = { ua: uid, target: tid, rights: names, mask }
    if (previous === undefined) {
      this.#commit(() => this.#addAssociation(next), () => this.#removeAssociation(next))
    } else {
      this.#commit(() => this.#replaceAssociation(previous, next), () => this.#replaceAssociation(next, previous))
    }
  }

  /**
   * Removes the association of `ua` on `target`.
   * @throws NgacError NGAC_ERR_NODE_NOT_FOUND, NGAC_ERR_ASSOCIATION_NOT_FOUND
   */
  dissociate (ua: string, target: string): void {
    const what = (): string => `cannot dissociate '${ua}' from '${target}'`
    const a = this.#findAssociation(this.#require(ua, what), this.#require(target, what))
    if (a === undefined) {
      throw new NgacError('NGAC_ERR_ASSOCIATION_NOT_FOUND', `${what()}: there is no association of '${ua}' on '${target}'`)
    }
    let at: readonly [number, number] = [-1, -1]
    this.#commit(() => { at = this.#removeAssociation(a) }, () => this.#addAssociation(a, at))
  }

  /**
   * Creates a prohibition.
   * @throws NgacError NGAC_ERR_INVALID_NAME, NGAC_ERR_PROHIBITION_EXISTS, NGAC_ERR_NODE_NOT_FOUND,
   * NGAC_ERR_INVALID_PROHIBITION, NGAC_ERR_UNKNOWN_RIGHT
   */
  createProhibition (prohibition: ProhibitionInfo): void {
    const { name, subject, intersection, containers } = prohibition
    validateName(name, 'prohibition name')
    const what = (): string => `cannot create prohibition '${name}'`
    if (this.#prohibitions.has(name)) {
      throw new NgacError('NGAC_ERR_PROHIBITION_EXISTS', `${what()}: a prohibition of that name exists`)
    }
    let subjectId = -1
    let process: string | undefined
    if (typeof subject === 'string') {
      subjectId = this.#require(subject, what)
      const t = this.#types[subjectId]
      if (t !== U && t !== UA) {
        throw new NgacError('NGAC_ERR_INVALID_PROHIBITION', `${what()}: its subject '${subject}' is a ${NODE_TYPES[t]}; a subject must be a user, a user attribute or {"process": id}`)
      }
    } else if (subject !== null && typeof subject === 'object' && typeof subject.process === 'string' && subject.process.length > 0) {
      process = subject.process
    } else {
      throw new NgacError('NGAC_ERR_INVALID_PROHIBITION', `${what()}: its subject must be a user or user attribute name, or {"process": id}`)
    }
    if (typeof intersection !== 'boolean') {
      throw new NgacError('NGAC_ERR_INVALID_PROHIBITION', `${what()}: 'intersection' must be true or false`)
    }
    if (!Array.isArray(containers) || containers.length === 0) {
      throw new NgacError('NGAC_ERR_INVALID_PROHIBITION', `${what()}: it needs at least one container`)
    }
    const ids: number[] = []
    const complements: boolean[] = []
    for (const c of containers) {
      if (c === null || typeof c !== 'object' || typeof c.complement !== 'boolean') {
        throw new NgacError('NGAC_ERR_INVALID_PROHIBITION', `${what()}: each container is {"name": node, "complement": true|false}`)
      }
      const cid = this.#require(c.name, what)
      const t = this.#types[cid]
      if (t !== UA && t !== OA && t !== O) {
        throw new NgacError('NGAC_ERR_INVALID_PROHIBITION', `${what()}: container '${c.name}' is a ${NODE_TYPES[t]}; containers must be user attributes, object attributes or objects`)
      }
      if (ids.includes(cid)) {
        throw new NgacError('NGAC_ERR_INVALID_PROHIBITION', `${what()}: container '${c.name}' is listed twice`)
      }
      ids.push(cid)
      complements.push(c.complement)
    }
    const names = normalizeRights(prohibition.rights, what)
    const mask = this.#rights.mask(names, `prohibition '${name}'`)
    const p: Prohibition = { name, subject: subjectId, process, rights: names, mask, intersection, containers: ids, complements }
    this.#commit(() => this.#addProhibition(p), () => this.#removeProhibition(p))
  }

  /**
   * Deletes a prohibition.
   * @throws NgacError NGAC_ERR_PROHIBITION_NOT_FOUND
   */
  deleteProhibition (name: string): void {
    const p = this.#prohibitions.get(name)
    if (p === undefined) {
      throw new NgacError('NGAC_ERR_PROHIBITION_NOT_FOUND', `cannot delete prohibition '${name}': there is no prohibition of that name`)
    }
    let at: readonly [number, number] = [-1, -1]
    this.#commit(() => { at = this.#removeProhibition(p) }, () => this.#addProhibition(p, at))
  }

  // ---------------------------------------------------------------- internals

  /** Runs a validated change; records its inverse inside a batch, else counts a revision. */
  #commit (apply: () => void, revert: () => void): void {
    apply()
    if (this.#undo === null) this.#revision++
    else this.#undo.push(revert)
  }

  /** The id of `name`; `what` (built only on failure) says what could not be done. */
  #require (name: string, what?: () => string): number {
    const id = typeof name === 'string' ? this.#ids.get(name) : undefined
    if (id === undefined) {
      const prefix = what === undefined ? '' : `${what()}: `
      throw new NgacError('NGAC_ERR_NODE_NOT_FOUND', `${prefix}there is no node ${JSON.stringify(name)}`)
    }
    return id
  }

  #checkAssignable (child: string, childType: number, parentId: number): void {
    const parentType = this.#types[parentId]
    if (!ALLOWED_PARENTS[childType].includes(parentType)) {
      throw new NgacError('NGAC_ERR_INVALID_ASSIGNMENT',
        `cannot assign '${child}' (${NODE_TYPES[childType]}) to '${this.nameOf(parentId)}' (${NODE_TYPES[parentType]}): ${ASSIGNMENT_RULE[childType]}`)
    }
  }

  /** Adds the assignment, at the end or back at positions an unlink reported. */
  #link (cid: number, pid: number, at: readonly [number, number] = [-1, -1]): void {
    insertItem(this.#parents[cid], at[0], pid)
    insertItem(this.#children[pid], at[1], cid)
    this.#assignmentCount++
  }

  /** Removes the assignment; returns where it was in the parent and child lists. */
  #unlink (cid: number, pid: number): [number, number] {
    const at: [number, number] = [removeItem(this.#parents[cid], pid), removeItem(this.#children[pid], cid)]
    this.#assignmentCount--
    return at
  }

  #findAssociation (uid: number, tid: number): Association | undefined {
    if (uid < 0 || tid < 0) return undefined
    const list = this.#assocsFrom[uid]
    for (let i = 0; i < list.length; i++) if (list[i].target === tid) return list[i]
    return undefined
  }

  #addAssociation (a: Association, at: readonly [number, number] = [-1, -1]): void {
    insertItem(this.#assocsFrom[a.ua], at[0], a)
    insertItem(this.#assocsTo[a.target], at[1], a)
    this.#associationCount++
  }

  #removeAssociation (a: Association): [number, number] {
    const at: [number, number] = [removeItem(this.#assocsFrom[a.ua], a), removeItem(this.#assocsTo[a.target], a)]
    this.#associationCount--
    return at
  }

  #replaceAssociation (from: Association, to: Association): void {
    replaceItem(this.#assocsFrom[from.ua], from, to)
    replaceItem(this.#assocsTo[from.target], from, to)
  }

  * #allAssociations (): IterableIterator<Association> {
    for (const list of this.#assocsFrom) if (list !== undefined) yield * list
  }

  /** Adds the prohibition, at the end or back at positions a removal reported. */
  #addProhibition (p: Prohibition, at: readonly [number, number] = [-1, -1]): void {
    if (at[0] < 0 || at[0] >= this.#prohibitions.size) {
      this.#prohibitions.set(p.name, p)
    } else {
      const entries = [...this.#prohibitions]
      entries.splice(at[0], 0, [p.name, p])
      this.#prohibitions.clear()
      for (const [name, q] of entries) this.#prohibitions.set(name, q)
    }
    if (p.subject >= 0) {
      insertItem(this.#prohibitionsOf[p.subject], at[1], p)
    } else {
      const list = this.#processProhibitions.get(p.process as string)
      if (list === undefined) this.#processProhibitions.set(p.process as string, [p])
      else insertItem(list, at[1], p)
    }
    for (const c of p.containers) this.#containerRefs[c]++
  }

  /** Removes the prohibition; returns its positions in creation order and in its subject's list. */
  #removeProhibition (p: Prohibition): [number, number] {
    const order = [...this.#prohibitions.keys()].indexOf(p.name)
    this.#prohibitions.delete(p.name)
    let position: number
    if (p.subject >= 0) {
      position = removeItem(this.#prohibitionsOf[p.subject], p)
    } else {
      const list = this.#processProhibitions.get(p.process as string) as Prohibition[]
      position = removeItem(list, p)
      if (list.length === 0) this.#processProhibitions.delete(p.process as string)
    }
    for (const c of p.containers) this.#containerRefs[c]--
    return [order, position]
  }

  #firstProhibitionWithContainer (id: number): Prohibition | undefined {
    for (const p of this.#prohibitions.values()) if (p.containers.includes(id)) return p
    return undefined
  }

  #checkRightsKept (rights: readonly string[], catalog: RightsCatalog, what: () => string): void {
    for (const r of rights) {
      if (r !== ALL_RIGHTS && !catalog.has(r)) {
        throw new NgacError('NGAC_ERR_RIGHT_IN_USE', `cannot remove resource right '${r}': ${what()} uses it; change that first`)
      }
    }
  }

  /** Installs a catalogue and renumbers every stored mask. */
  #setCatalog (catalog: RightsCatalog): void {
    this.#rights = catalog
    for (const a of this.#allAssociations()) a.mask = catalog.mask(a.rights)
    for (const p of this.#prohibitions.values()) p.mask = catalog.mask(p.rights)
  }
}

function isThenable (value: unknown): boolean {
  return value !== null && (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
}

/** @throws NgacError NGAC_ERR_INVALID_NAME */
export function validateName (name: unknown, what = 'node name'): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH || CONTROL_CHARS.test(name)) {
    throw new NgacError('NGAC_ERR_INVALID_NAME',
      `invalid ${what} ${JSON.stringify(name)}: use 1 to ${MAX_NAME_LENGTH} characters without control characters or unpaired surrogates`,
      typeof name === 'string' && name.length > MAX_NAME_LENGTH ? { details: { limit: 'nameLength', max: MAX_NAME_LENGTH } } : {})
  }
  // JavaScript tools key plain objects by names, and there this one is the prototype (graphology loses its edges).
  if (name === '__proto__') throw new NgacError('NGAC_ERR_INVALID_NAME', `invalid ${what} "__proto__": JavaScript tools cannot key an object by it; choose another name`)
}

function normalizeProperties (name: string, properties: unknown): Properties {
  if (properties === undefined) return NO_PROPERTIES
  if (properties === null || typeof properties !== 'object' || Array.isArray(properties)) {
    throw new NgacError('NGAC_ERR_VALIDATION', `invalid properties of '${name}': use an object of string values`)
  }
  const entries = Object.entries(properties)
  for (const [key, value] of entries) {
    if (typeof value !== 'string') {
      throw new NgacError('NGAC_ERR_VALIDATION', `invalid property '${key}' of '${name}': values must be strings`)
    }
  }
  // NOTE: fromEntries defines own properties, so a key such as "__proto__" is kept, not lost to the prototype.
  return Object.freeze(Object.fromEntries(entries))
}

function normalizeRights (rights: unknown, what: () => string): readonly string[] {
  if (!Array.isArray(rights) || rights.some((r) => typeof r !== 'string')) {
    throw new NgacError('NGAC_ERR_VALIDATION', `${what()}: rights must be a list of right names`)
  }
  if (rights.length === 0) {
    throw new NgacError('NGAC_ERR_VALIDATION', `${what()}: give at least one right`)
  }
  return Object.freeze([...new Set(rights as string[])].sort())
}

/** Removes `item` from `list`; returns where it was (-1 if absent). */
function removeItem<T> (list: T[], item: T): number {
  const i = list.lastIndexOf(item)
  if (i >= 0) list.splice(i, 1)
  return i
}

/** Inserts `item` at `index`, or appends it when `index` is -1 or past the end. */
function insertItem<T> (list: T[], index: number, item: T): void {
  if (index < 0 || index >= list.length) list.push(item)
  else list.splice(index, 0, item)
}

function replaceItem<T> (list: T[], from: T, to: T): void {
  const i = list.indexOf(from)
  if (i >= 0) list[i] = to
}
