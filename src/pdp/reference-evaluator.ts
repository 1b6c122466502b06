/**
 * The reference evaluator: the executable specification of DESIGN section 3.
 *
 * It transcribes the definitions literally, for tests (the conformance fixtures and the
 * differential tests against the fast path), and is deliberately slow: every question walks the
 * graph from scratch, iterates every association and every prohibition of the graph, and builds
 * plain Sets. Do not optimise it; its worth is that it is obviously right.
 *
 *   x <= y        reflexive-transitive closure of assignment (walks over parentIds)
 *   PCs(t)        = { pc : t <= pc }
 *   granted(u,t)  = INTERSECT over pc in PCs(t) of UNION of rights of every association
 *                   (ua, rights, at) with u <= ua, t <= at, at <= pc     (empty if PCs(t) is empty)
 *   denied(u,p,t) = UNION of rights of every prohibition binding u (subject is u, a UA with
 *                   u <= ua, or process p) that is satisfied for t
 *   privileges    = granted(u,t) minus denied(u,p,t)
 *
 * An anonymous user (user -1) is a fictitious user whose parents are its `attributes` (UA ids only);
 * an anonymous target (target -1) is a fictitious object whose parents are its `attributes` (OA or
 * PC ids only), contained in nothing else and itself no container. An unknown or deleted id, a user
 * id that is not a U, or a PC target yields empty masks: never an error.
 */
import { OA, PC, U, UA, maskAnd, maskAndNot, maskContains, maskIsEmpty, maskOr } from '../graph/index.js'
import type { PolicyGraph, Prohibition, RightsMask } from '../graph/index.js'
import type { Evaluator, RightsByNode, Subject, Target } from './evaluator.js'

/**
 * A decision evaluator that follows DESIGN section 3 to the letter, for tests.
 *
 * @example
 * ```ts
 * const evaluator = new ReferenceEvaluator(graph)
 * const subject = { user: graph.idOf('alice'), attributes: [], process: undefined }
 * const mask = evaluator.privileges(subject, { target: graph.idOf('report'), attributes: [] })
 * graph.rights.names(mask) // ['read']
 * ```
 */
export class ReferenceEvaluator implements Evaluator {
  readonly graph: PolicyGraph

  constructor (graph: PolicyGraph) {
    this.graph = graph
  }

  /** granted(u, t) minus denied(u, p, t). */
  allows (subject: Subject, target: Target, required: RightsMask): boolean {
    return maskContains(this.privileges(subject, target), required)
  }

  privileges (subject: Subject, target: Target): RightsMask {
    if (!this.#validSubject(subject) || !this.#validTarget(target)) return this.graph.rights.empty()
    const privileges = this.granted(subject, target)
    maskAndNot(privileges, this.denied(subject, target))
    return privileges
  }

  /** privileges(u, t), copied into `into`. */
  privilegesInto (subject: Subject, target: Target, into: RightsMask): void {
    const privileges = this.privileges(subject, target)
    for (let w = 0; w < this.graph.rights.words; w++) into[w] = w < privileges.length ? privileges[w] : 0
  }

  /** granted(u, t): the intersection over PCs(t) of what the associations grant in each class. */
  granted (subject: Subject, target: Target): RightsMask {
    if (!this.#validSubject(subject) || !this.#validTarget(target)) return this.graph.rights.empty()
    const pcs = this.policyClassesOf(target)
    if (pcs.length === 0) return this.graph.rights.empty()
    const granted = this.graph.rights.full()
    for (const pc of pcs) maskAnd(granted, this.grantedIn(subject, target, pc))
    return granted
  }

  /**
   * The union of rights of every association (ua, rights, at) with u <= ua, t <= at and at <= pc:
   * what the policy class `pc` grants, before intersecting with the other classes.
   */
  grantedIn (subject: Subject, target: Target, pc: number): RightsMask {
    const granted = this.graph.rights.empty()
    if (!this.#validSubject(subject) || !this.#validTarget(target)) return granted
    for (let ua = 0; ua < this.graph.idLimit; ua++) {
      for (const association of this.graph.associationsFrom(ua)) {
        if (this.#subjectIn(subject, association.ua) &&
            this.#targetIn(target, association.target) &&
            this.#nodeIn(association.target, pc)) {
          maskOr(granted, association.mask)
        }
      }
    }
    return granted
  }

  /** PCs(t) = { pc : t <= pc }, in the graph's order of policy classes. */
  policyClassesOf (target: Target): number[] {
    if (!this.#validTarget(target)) return []
    const pcs: number[] = []
    for (const pc of this.graph.policyClassIds()) {
      if (this.#targetIn(target, pc)) pcs.push(pc)
    }
    return pcs
  }

  /** denied(u, p, t): the rights of every prohibition that binds the subject and is satisfied for t. */
  denied (subject: Subject, target: Target): RightsMask {
    const denied = this.graph.rights.empty()
    if (!this.#validSubject(subject) || !this.#validTarget(target)) return denied
    for (const prohibition of this.graph.prohibitionList()) {
      if (this.binds(prohibition, subject) && this.isSatisfied(prohibition, target)) {
        maskOr(denied, prohibition.mask)
      }
    }
    return denied
  }

  /** Whether the prohibition's subject is u itself, a UA with u <= ua, or the subject's process. */
  binds (prohibition: Prohibition, subject: Subject): boolean {
    if (prohibition.subject < 0) {
      return subject.process !== undefined && prohibition.process === subject.process
    }
    if (subject.user >= 0 && prohibition.subject === subject.user) return true
    return this.graph.typeOf(prohibition.subject) === UA && this.#subjectIn(subject, prohibition.subject)
  }

  /**
   * intersection: t is in every non-complement container and in no complement container;
   * union: t is in some non-complement container or outside some complement container.
   */
  isSatisfied (prohibition: Prohibition, target: Target): boolean {
    const holds = (i: number): boolean => {
      const inside = this.#targetIn(target, prohibition.containers[i])
      return prohibition.complements[i] ? !inside : inside
    }
    const n = prohibition.containers.length
    if (prohibition.intersection) {
      for (let i = 0; i < n; i++) if (!holds(i)) return false
      return true
    }
    for (let i = 0; i < n; i++) if (holds(i)) return true
    return false
  }

  /** Every live node that is not a PC on which the subject holds a non-empty set of privileges. */
  capabilities (subject: Subject): RightsByNode {
    const out: RightsByNode = new Map()
    if (!this.#validSubject(subject)) return out
    for (let id = 0; id < this.graph.idLimit; id++) {
      if (!this.graph.isNode(id) || this.graph.typeOf(id) === PC) continue
      const privileges = this.privileges(subject, { target: id, attributes: [] })
      if (!maskIsEmpty(privileges)) out.set(id, privileges)
    }
    return out
  }

  /** Every U node holding a non-empty set of privileges on the target, acting through `process` if given. */
  acl (target: Target, process?: string): RightsByNode {
    const out: RightsByNode = new Map()
    if (!this.#validTarget(target)) return out
    for (let id = 0; id < this.graph.idLimit; id++) {
      if (!this.graph.isNode(id) || this.graph.typeOf(id) !== U) continue
      const privileges = this.privileges({ user: id, attributes: [], process }, target)
      if (!maskIsEmpty(privileges)) out.set(id, privileges)
    }
    return out
  }

  // ---------------------------------------------------------------- containment

  /** A U node, or the anonymous user (-1). */
  #validSubject (subject: Subject): boolean {
    if (subject.user === -1) return true
    return this.#isLive(subject.user) && this.graph.typeOf(subject.user) === U
  }

  /** Any live node but a PC, or the anonymous target (-1). */
  #validTarget (target: Target): boolean {
    if (target.target === -1) return true
    return this.#isLive(target.target) && this.graph.typeOf(target.target) !== PC
  }

  #isLive (id: number): boolean {
    return Number.isInteger(id) && id >= 0 && this.graph.isNode(id)
  }

  /** x <= y: walks up from x over parentIds. */
  #nodeIn (x: number, y: number): boolean {
    const seen = new Set<number>([x])
    const stack = [x]
    while (stack.length > 0) {
      const node = stack.pop() as number
      if (node === y) return true
      for (const parent of this.graph.parentIds(node)) {
        if (!seen.has(parent)) {
          seen.add(parent)
          stack.push(parent)
        }
      }
    }
    return false
  }

  /** u <= x; the anonymous user's parents are its UA attributes. */
  #subjectIn (subject: Subject, x: number): boolean {
    if (subject.user >= 0) return this.#nodeIn(subject.user, x)
    for (const a of subject.attributes) {
      if (this.#isLive(a) && this.graph.typeOf(a) === UA && this.#nodeIn(a, x)) return true
    }
    return false
  }

  /** t <= x; the anonymous target's parents are its OA and PC attributes, and it is no container. */
  #targetIn (target: Target, x: number): boolean {
    if (target.target >= 0) return this.#nodeIn(target.target, x)
    for (const a of target.attributes) {
      if (this.#isLive(a) && (this.graph.typeOf(a) === OA || this.graph.typeOf(a) === PC) && this.#nodeIn(a, x)) return true
    }
    return false
  }
}
