/**
 * The decision API by name: resolves names to ids, asks an {@link Evaluator}, and answers
 * with right names and the revision the answer was computed at. Unknown users, targets,
 * attributes and rights are denies, never errors; a request that is malformed (no user, both
 * a user and attributes, no right) is an NGAC_ERR_VALIDATION error.
 */
import { NgacError } from '../errors.js'
import { PC, U, UA, OA, type PolicyGraph, type RightsCatalog, type RightsMask } from '../graph/index.js'
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
  /** The evaluator to use; the production evaluator by default. */
  readonly evaluator?: Evaluator
}

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
  #catalog: RightsCatalog | undefined
  readonly #masks = new Map<string, RightsMask>()

  constructor (graph: PolicyGraph, options: DecisionEngineOptions = {}) {
    this.graph = graph
    this.#evaluator = options.evaluator ?? new ProductionEvaluator(graph)
    if (this.#evaluator.graph !== graph) {
      throw new NgacError('NGAC_ERR_VALIDATION', 'the evaluator must read the same graph as the decision engine')
    }
  }

  /**
   * Whether the subject may do `right`, or every one of `rights`, on the target.
   * @throws NgacError NGAC_ERR_VALIDATION for a malformed request (never for unknown names).
   */
  check (request: CheckRequest): Decision {
    const required = requiredRights(request)
    const subject = this.#subject(request)
    const target = this.#target(request)
    const revision = this.graph.revision
    if (subject === null || target === null) return { allowed: false, revision }
    const mask = this.#requiredMask(required)
    return { allowed: mask !== null && this.#evaluator.allows(subject, target, mask), revision }
  }

  /** The subject's privileges on the target, sorted. */
  privileges (request: DecisionRequest): string[] {
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

  /** The mask of `rights`, or null when one of them is unknown (so nobody holds it). Single rights are cached. */
  #requiredMask (rights: readonly string[]): RightsMask | null {
    const catalog = this.graph.rights
    if (catalog !== this.#catalog) {
      this.#catalog = catalog
      this.#masks.clear()
    }
    if (rights.length === 1) {
      const cached = this.#masks.get(rights[0])
      if (cached !== undefined) return cached
    }
    // '*' names no single right: checking it is a deny, like any unknown right.
    for (let i = 0; i < rights.length; i++) if (!catalog.has(rights[i])) return null
    const mask = catalog.mask(rights)
    // NOTE: bounded by the number of declared rights: unknown rights never get here.
    if (rights.length === 1) this.#masks.set(rights[0], mask)
    return mask
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
