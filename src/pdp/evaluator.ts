/**
 * The contract every decision evaluator keeps (DESIGN section 3), over integer node ids.
 *
 * Names are resolved to ids at the boundary (decision-engine.ts); an evaluator never sees an
 * unknown name and never throws on a decision. Masks it returns are fresh and owned by the caller.
 */
import type { PolicyGraph, RightsMask } from '../graph/index.js'

/**
 * Who asks: a user node, or an anonymous user assigned to `attributes` (UA ids), optionally acting
 * through a process.
 */
export interface Subject {
  /** The U node's id, or -1 for an anonymous user. */
  readonly user: number
  /** For an anonymous user, the UAs it is assigned to; ignored when `user` is set. */
  readonly attributes: readonly number[]
  /** The process the user acts through; binds process prohibitions. */
  readonly process: string | undefined
}

/** What is asked about: a node (any type but PC), or an anonymous object assigned to `attributes`. */
export interface Target {
  /** The node's id, or -1 for an anonymous target. */
  readonly target: number
  /** For an anonymous target, the OAs (or PCs) it is assigned to; ignored when `target` is set. */
  readonly attributes: readonly number[]
}

/** Rights per node id. */
export type RightsByNode = Map<number, RightsMask>

/** A decision evaluator over one graph; it always reads the graph's current state. */
export interface Evaluator {
  readonly graph: PolicyGraph
  /** granted(u, t) minus denied(u, p, t). */
  privileges (subject: Subject, target: Target): RightsMask
  /**
   * Writes privileges(u, t) into the first `graph.rights.words` words of `into`, allocating
   * nothing (the decision cache fills its entries with it).
   */
  privilegesInto (subject: Subject, target: Target, into: RightsMask): void
  /** Whether privileges(u, t) holds every right of `required`; the fast path avoids allocating. */
  allows (subject: Subject, target: Target, required: RightsMask): boolean
  /** denied(u, p, t): the rights of every prohibition that binds the subject and is satisfied for t. */
  denied (subject: Subject, target: Target): RightsMask
  /** Every node (not PC) on which the subject holds a non-empty set of privileges. */
  capabilities (subject: Subject): RightsByNode
  /** Every user (U node) holding a non-empty set of privileges on the target, with `process` if given. */
  acl (target: Target, process?: string): RightsByNode
}
