/**
 * The decision API by name: resolves names to ids, asks an {@link Evaluator}, and answers
 * with right names and the revision the answer was computed at. Unknown users, targets,
 * attributes and rights are denies, never errors; a request that is malformed (no user, both
 * a user and attributes, no right) is an NGAC_ERR_VALIDATION error.
 *
 * The hot path is `check` of a named user, one right and a named target (DESIGN section 7):
 * two name lookups, the right's mask from a small map, then the {@link DecisionCache} by
 * (user id, target id, process number); only a miss asks the evaluator, which fills the entry.
 * It allocates the Decision only. A process that no prohibition binds decides as no process and
 * shares its entries (number 0); a process that prohibitions bind gets a number of its own.
 * Anonymous subjects or targets and checks of several rights take the general path, uncached.
 *
 * Invariant: a cached entry is used only at the revision it was computed at (see
 * decision-cache.ts), so a cached engine answers exactly as an uncached one.
 */
import { NgacError } from '../errors.js'
import { PC, U, UA, OA, type PolicyGraph, type RightsCatalog, type RightsMask } from '../graph/index.js'
import { DecisionCache, DEFAULT_CACHE_CAPACITY, type DecisionCacheStats } from './decision-cache.js'
import type { Evaluator, Subject, Target } from './evaluator.js'
import { ProductionEvaluator } from './production-evaluator.js'

/** Who asks: a user by name, or an anonymous user assigned to `userAttributes`; optionally a process. */
export interface SubjectRequest {
  readonly user?: string
  readonly userAttributes?: readonly string[]
  readonly process?: string
}

/** What is asked about: a node by name, or an anonymous object assigned to `targetAttributes`. */
export interface TargetRequest {
  readonly target?: string
  readonly targetAttributes?: readonly string[]
}

/** A question about a subject and a target. */
export interface DecisionRequest extends SubjectRequest, TargetRequest {}

/** May the subject do `right` (or every one of `rights`) on the target? */
export interface CheckRequest extends DecisionRequest {
  readonly right?: string
  readonly rights?: readonly string[]
}

/** The answer to a check. */
export interface Decision {
  readonly allowed: boolean
  readonly revision: number
}

/** A node the subject holds rights on. */
export interface Capability {
  readonly target: string
  readonly privileges: string[]
}

/** A user holding rights on the target. */
export interface AclEntry {
  readonly user: string
  readonly privileges: string[]
}

/** Why a subject holds what it holds on a target. */
export interface Explanation {
  /** The privileges: granted in every class, minus what prohibitions deny. */
  readonly privileges: string[]
  /** Every policy class containing the target; one whose privileges are empty blocks access. */
  readonly policyClasses: {
    readonly name: string
    readonly privileges: string[]
    /** One path per granting association: user, its attributes up to the ua, then the association target down to the target. */
    readonly paths: string[][]
  }[]
  /** Prohibitions that bind the subject and are satisfied for the target, with the rights each denies. */
  readonly prohibitions: { readonly name: string, readonly rights: string[] }[]
  readonly revision: number
}

/** Options of a {@link DecisionEngine}. */
export interface DecisionEngineOptions {
  /**
   * The evaluator to use; by default the production evaluator, with its per-user and per-target
   * memos when the engine has a cache.
   */
  readonly evaluator?: Evaluator
  /**
   * The decision cache: its number of entries (rounded up to a power of two; 65536 by default),
   * or `false` for none.
   */
  readonly cache?: { readonly capacity: number } | false
}

/** A subject or target the engine fills in place for the evaluator (never kept by it). */
interface Scratch { user: number, attributes: readonly number[], process: string | undefined }
interface ScratchTarget { target: number, attributes: readonly number[] }

const NO_IDS: readonly number[] = Object.freeze([])

/** Slots of the production evaluator's per-user and per-target memos when the engine has a cache. */
const MEMO_SLOTS = 4096

/** Most process numbers kept before they are dropped with the cache (only processes prohibitions bind get one). */
const MAX_PROCESS_NUMBERS = 1024

/**
 * Answers access questions about a policy graph, by name.
 *
 * @example
 * ```ts
 * const pdp = new DecisionEngine(graph)
 * pdp.check({ user: 'alice', right: 'read', target: 'report' }) // { allowed: true, revision: 3 }
 * pdp.privileges({ user: 'alice', target: 'report' })           // ['read']
 * ```
 */
export class DecisionEngine {
  readonly graph: PolicyGraph
  readonly #evaluator: Evaluator
  readonly #cache: DecisionCache | null
  #catalog: RightsCatalog | undefined
  readonly #masks = new Map<string, RightsMask>()
  readonly #processNumbers = new Map<string, number>()
  readonly #subjectScratch: Scratch = { user: -1, attributes: NO_IDS, process: undefined }
  readonly #targetScratch: ScratchTarget = { target: -1, attributes: NO_IDS }
  #maskScratch: RightsMask = new Uint32Array(1)

  /** @throws NgacError NGAC_ERR_VALIDATION for an evaluator of another graph or a bad cache capacity. */
  constructor (graph: PolicyGraph, options: DecisionEngineOptions = {}) {
    this.graph = graph
    const cache = options.cache ?? { capacity: DEFAULT_CACHE_CAPACITY }
    this.#cache = cache === false ? null : new DecisionCache(cache.capacity)
    // NOTE: the memos pay on cache misses of users and targets seen at this revision
    // (bench/RESULTS.md); they trust revisions as the cache does, so they come with the cache only.
    this.#evaluator = options.evaluator ??
      new ProductionEvaluator(graph, this.#cache === null ? {} : { memo: Math.min(this.#cache.capacity, MEMO_SLOTS) })
    if (this.#evaluator.graph !== graph) {
      throw new NgacError('NGAC_ERR_VALIDATION', 'the evaluator must read the same graph as the decision engine')
    }
  }

  /** The decision cache's capacity, hits and misses; undefined when the engine has no cache. */
  get cacheStats (): DecisionCacheStats | undefined {
    return this.#cache?.stats
  }

  /**
   * Whether the subject may do `right`, or every one of `rights`, on the target.
   * @throws NgacError NGAC_ERR_VALIDATION for a malformed request (never for unknown names).
   */
  check (request: CheckRequest): Decision {
    const { user, target, right } = request
    // NOTE: the cached path; the shape tests keep every malformed request on the general path below.
    if (this.#cache !== null && typeof user === 'string' && typeof target === 'string' && typeof right === 'string' &&
        request.rights === undefined && request.userAttributes === undefined && request.targetAttributes === undefined) {
      const process = request.process
      if (process === undefined || typeof process === 'string') {
        const revision = this.graph.revision
        return { allowed: this.#cachedCheck(user, right, target, process, revision), revision }
      }
    }
    const required = requiredRights(request)
    const subject = this.#subject(request)
    const object = this.#target(request)
    const revision = this.graph.revision
    if (subject === null || object === null) return { allowed: false, revision }
    const mask = this.#requiredMask(required)
    return { allowed: mask !== null && this.#evaluator.allows(subject, object, mask), revision }
  }

  /** The subject's privileges on the target, sorted. */
  privileges (request: DecisionRequest): string[] {
    const { user, target } = request
    if (this.#cache !== null && typeof user === 'string' && typeof target === 'string' &&
        request.userAttributes === undefined && request.targetAttributes === undefined) {
      const process = request.process
      if (process === undefined || typeof process === 'string') {
        const graph = this.graph
        const entry = this.#cachedEntry(graph.idOf(user), graph.idOf(target), process, graph.revision)
        const mask = graph.rights.empty()
        if (entry >= 0) this.#cache.copy(entry, mask)
        return this.#names(mask)
      }
    }
    return this.#names(this.#privilegesMask(request))
  }

  /** The rights prohibitions deny the subject on the target, sorted. */
  deniedPrivileges (request: DecisionRequest): string[] {
    const subject = this.#subject(request)
    const target = this.#target(request)
    if (subject === null || target === null) return []
    return this.#names(this.#evaluator.denied(subject, target))
  }

  /** Every node the subject holds any right on, with its privileges, sorted by name. */
  capabilities (request: SubjectRequest): Capability[] {
    const subject = this.#subject(request)
    if (subject === null) return []
    const out: Capability[] = []
    for (const [id, mask] of this.#evaluator.capabilities(subject)) {
      out.push({ target: this.graph.nameOf(id), privileges: this.#names(mask) })
    }
    return out.sort((a, b) => compare(a.target, b.target))
  }

  /** Every user holding any right on the target, with its privileges, sorted by name. */
  acl (request: TargetRequest & { readonly process?: string }): AclEntry[] {
    const target = this.#target(request)
    if (target === null) return []
    const out: AclEntry[] = []
    for (const [id, mask] of this.#evaluator.acl(target, request.process)) {
      out.push({ user: this.graph.nameOf(id), privileges: this.#names(mask) })
    }
    return out.sort((a, b) => compare(a.user, b.user))
  }

  /** Per policy class, the rights granted and the paths that grant them, and the prohibitions applied. */
  explain (request: DecisionRequest): Explanation {
    const graph = this.graph
    const revision = graph.revision
    const subject = this.#subject(request)
    const target = this.#target(request)
    if (subject === null || target === null) return { privileges: [], policyClasses: [], prohibitions: [], revision }
    if (target.target >= 0 && graph.typeOf(target.target) === PC) return { privileges: [], policyClasses: [], prohibitions: [], revision }
    const rights = graph.rights
    const userUp = pathsUp(graph, subject.user >= 0 ? [subject.user] : subject.attributes)
    const targetUp = pathsUp(graph, target.target >= 0 ? [target.target] : target.attributes)
    const classes = [...targetUp.keys()].filter((id) => graph.typeOf(id) === PC).sort((a, b) => compare(graph.nameOf(a), graph.nameOf(b)))
    const policyClasses = classes.map((pc) => {
      const mask = rights.empty()
      const paths: string[][] = []
      for (const ua of userUp.keys()) {
        for (const a of graph.associationsFrom(ua)) {
          if (!targetUp.has(a.target) || !graph.contains(pc, a.target)) continue
          for (let w = 0; w < mask.length && w < a.mask.length; w++) mask[w] |= a.mask[w]
          const up = chain(userUp, ua)
          const down = chain(targetUp, a.target).reverse()
          paths.push([...up, ...down].map((id) => graph.nameOf(id)))
        }
      }
      return { name: graph.nameOf(pc), privileges: rights.names(mask), paths }
    })
    const prohibitions: { name: string, rights: string[] }[] = []
    const bound = new Set(subject.process === undefined ? [] : graph.processProhibitions(subject.process))
    for (const node of userUp.keys()) for (const p of graph.prohibitionsOf(node)) bound.add(p)
    for (const p of bound) {
      let hits = 0
      for (let i = 0; i < p.containers.length; i++) if (targetUp.has(p.containers[i]) !== p.complements[i]) hits++
      if (p.intersection ? hits === p.containers.length : hits > 0) prohibitions.push({ name: p.name, rights: [...p.rights] })
    }
    prohibitions.sort((a, b) => compare(a.name, b.name))
    return { privileges: this.privileges(request), policyClasses, prohibitions, revision }
  }

  /** check() of a named user, one right and a named target, through the cache. */
  #cachedCheck (user: string, right: string, target: string, process: string | undefined, revision: number): boolean {
    const graph = this.graph
    const entry = this.#cachedEntry(graph.idOf(user), graph.idOf(target), process, revision)
    if (entry < 0) return false
    const required = this.#singleMask(right)
    return required !== null && (this.#cache as DecisionCache).holds(entry, required)
  }

  /**
   * The cache entry of (user id, target id, process), computed on a miss; -1 when the user is not
   * a U node or the target is unknown (a deny that needs no entry).
   */
  #cachedEntry (user: number, target: number, process: string | undefined, revision: number): number {
    const graph = this.graph
    if (user < 0 || target < 0 || graph.typeOf(user) !== U) return -1
    const cache = this.#cache as DecisionCache
    const number = process === undefined ? 0 : this.#processNumber(process)
    const words = graph.rights.words
    const entry = cache.find(revision, user, target, number, words)
    if (entry >= 0) return entry
    if (this.#maskScratch.length < words) this.#maskScratch = new Uint32Array(words)
    const subject = this.#subjectScratch
    subject.user = user
    subject.process = number === 0 ? undefined : process
    const object = this.#targetScratch
    object.target = target
    this.#evaluator.privilegesInto(subject, object, this.#maskScratch)
    return cache.store(user, target, number, this.#maskScratch)
  }

  /**
   * The cache's number for a process: 0 when no prohibition binds it (it decides as no process),
   * else one of its own. NOTE: only processes that prohibitions bind are numbered, so the map is
   * bounded by the policy, not by the requests; past MAX_PROCESS_NUMBERS it starts over with an
   * empty cache, so a number is never reused for another process while an entry carries it.
   */
  #processNumber (process: string): number {
    if (this.graph.processProhibitions(process).length === 0) return 0
    let number = this.#processNumbers.get(process)
    if (number === undefined) {
      if (this.#processNumbers.size >= MAX_PROCESS_NUMBERS) {
        this.#processNumbers.clear()
        this.#cache?.clear()
      }
      number = this.#processNumbers.size + 1
      this.#processNumbers.set(process, number)
    }
    return number
  }

  /** The mask of one right, or null when it is unknown ('*' included). */
  #singleMask (right: string): RightsMask | null {
    const catalog = this.graph.rights
    if (catalog !== this.#catalog) {
      this.#catalog = catalog
      this.#masks.clear()
    }
    const cached = this.#masks.get(right)
    if (cached !== undefined) return cached
    if (!catalog.has(right)) return null
    const mask = catalog.mask([right])
    // NOTE: bounded by the number of declared rights: unknown rights never get here.
    this.#masks.set(right, mask)
    return mask
  }

  /** The mask of `rights`, or null when one of them is unknown (so nobody holds it). Single rights are cached. */
  #requiredMask (rights: readonly string[]): RightsMask | null {
    if (rights.length === 1) return this.#singleMask(rights[0])
    const catalog = this.graph.rights
    // '*' names no single right: checking it is a deny, like any unknown right.
    for (let i = 0; i < rights.length; i++) if (!catalog.has(rights[i])) return null
    return catalog.mask(rights)
  }

  #privilegesMask (request: DecisionRequest): RightsMask {
    const subject = this.#subject(request)
    const target = this.#target(request)
    if (subject === null || target === null) return this.graph.rights.empty()
    return this.#evaluator.privileges(subject, target)
  }

  #names (mask: RightsMask): string[] {
    return this.graph.rights.names(mask)
  }

  /** The subject by ids, or null when it names no known user. */
  #subject (request: SubjectRequest): Subject | null {
    const { user, userAttributes, process } = request
    if (process !== undefined && typeof process !== 'string') {
      throw new NgacError('NGAC_ERR_VALIDATION', 'process must be a string')
    }
    if (user !== undefined) {
      if (userAttributes !== undefined) {
        throw new NgacError('NGAC_ERR_VALIDATION', 'give either user or userAttributes, not both')
      }
      if (typeof user !== 'string') throw new NgacError('NGAC_ERR_VALIDATION', 'user must be a node name')
      const id = this.graph.idOf(user)
      if (id < 0 || this.graph.typeOf(id) !== U) return null
      return { user: id, attributes: [], process }
    }
    if (userAttributes === undefined) {
      throw new NgacError('NGAC_ERR_VALIDATION', 'give the user, or userAttributes for an anonymous user')
    }
    const attributes = this.#ids(userAttributes, 'userAttributes', [UA])
    return attributes.length === 0 ? null : { user: -1, attributes, process }
  }

  /** The target by ids, or null when it names no known node. */
  #target (request: TargetRequest): Target | null {
    const { target, targetAttributes } = request
    if (target !== undefined) {
      if (targetAttributes !== undefined) {
        throw new NgacError('NGAC_ERR_VALIDATION', 'give either target or targetAttributes, not both')
      }
      if (typeof target !== 'string') throw new NgacError('NGAC_ERR_VALIDATION', 'target must be a node name')
      const id = this.graph.idOf(target)
      return id < 0 ? null : { target: id, attributes: [] }
    }
    if (targetAttributes === undefined) {
      throw new NgacError('NGAC_ERR_VALIDATION', 'give the target, or targetAttributes for an anonymous object')
    }
    const attributes = this.#ids(targetAttributes, 'targetAttributes', [OA, PC])
    return attributes.length === 0 ? null : { target: -1, attributes }
  }

  /** Ids of the known names of the allowed types; unknown names contribute nothing. */
  #ids (names: readonly string[], what: string, types: readonly number[]): number[] {
    if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) {
      throw new NgacError('NGAC_ERR_VALIDATION', `${what} must be a list of node names`)
    }
    const ids: number[] = []
    for (const name of names) {
      const id = this.graph.idOf(name)
      if (id >= 0 && types.includes(this.graph.typeOf(id)) && !ids.includes(id)) ids.push(id)
    }
    return ids
  }
}

function requiredRights (request: CheckRequest): readonly string[] {
  const { right, rights } = request
  if (right !== undefined) {
    if (rights !== undefined) throw new NgacError('NGAC_ERR_VALIDATION', 'give either right or rights, not both')
    if (typeof right !== 'string') throw new NgacError('NGAC_ERR_VALIDATION', 'right must be a right name')
    return [right]
  }
  if (!Array.isArray(rights) || rights.length === 0 || rights.some((r) => typeof r !== 'string')) {
    throw new NgacError('NGAC_ERR_VALIDATION', 'give the right to check, or a non-empty list of rights')
  }
  return rights
}

/** Breadth-first walk up from `starts`: every ancestor (starts included) with the node it was reached from (-1 for a start). */
function pathsUp (graph: PolicyGraph, starts: readonly number[]): Map<number, number> {
  const from = new Map<number, number>()
  const queue: number[] = []
  for (const s of starts) {
    if (!from.has(s)) {
      from.set(s, -1)
      queue.push(s)
    }
  }
  for (let i = 0; i < queue.length; i++) {
    for (const p of graph.parentIds(queue[i])) {
      if (!from.has(p)) {
        from.set(p, queue[i])
        queue.push(p)
      }
    }
  }
  return from
}

/** The shortest path from a start up to `node`, as recorded by {@link pathsUp}. */
function chain (from: Map<number, number>, node: number): number[] {
  const out: number[] = []
  for (let n = node; n >= 0; n = from.get(n) as number) out.push(n)
  return out.reverse()
}

function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
