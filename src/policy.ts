/**
 * The library's short path (DESIGN section 5, Library): one object that holds a policy and
 * answers decisions about it, synchronously.
 */
import { NgacError } from './errors.js'
import { exportPolicy, loadPolicy, PolicyGraph, type PolicyDocument, type PolicyFormat } from './graph/index.js'
import {
  DecisionEngine,
  type AclEntry,
  type Capability,
  type CheckRequest,
  type Decision,
  type DecisionRequest,
  type Explanation,
  type SubjectRequest,
  type TargetRequest
} from './pdp/index.js'

/** Options of {@link openPolicy}. */
export interface OpenPolicyOptions {
  /**
   * Where the policy lives: `':memory:'` (the default) keeps it in this process only.
   * A file path will name an SQLite database once the durable store lands.
   */
  readonly db?: string
  /** A policy document to start from. */
  readonly policy?: unknown
  /** The format of `policy`: `ngac` (default) or `pm` (NIST policy-machine-core JSON). */
  readonly format?: PolicyFormat
}

/**
 * A policy and its decision engine.
 *
 * @example
 * ```ts
 * const policy = openPolicy({ db: ':memory:' })
 * policy.replace(doc)
 * policy.check({ user: 'alice', right: 'read', target: 'report' }) // { allowed: true, revision: 1 }
 * policy.close()
 * ```
 */
export class Policy {
  #graph: PolicyGraph
  #engine: DecisionEngine
  #closed = false

  constructor (graph: PolicyGraph = new PolicyGraph()) {
    this.#graph = graph
    this.#engine = new DecisionEngine(graph)
  }

  /** The policy graph; change it only through this object's methods or a batch on it. */
  get graph (): PolicyGraph {
    this.#open()
    return this.#graph
  }

  /** The revision of the last committed change. */
  get revision (): number {
    return this.#open().revision
  }

  /**
   * Replaces the whole policy with `doc`, atomically: a bad document changes nothing.
   * @returns the new revision.
   * @throws NgacError NGAC_ERR_POLICY_FILE listing every problem of the document.
   */
  replace (doc: unknown, format: PolicyFormat = 'ngac'): number {
    const previous = this.#open().revision
    const graph = loadPolicy(doc, { format })
    graph.setRevision(previous + 1)
    this.#graph = graph
    this.#engine = new DecisionEngine(graph)
    return graph.revision
  }

  /** The policy as a policy document (DESIGN section 5). */
  export (): PolicyDocument {
    return exportPolicy(this.#open())
  }

  /** Whether the subject may do `right` (or all `rights`) on the target. */
  check (request: CheckRequest): Decision {
    this.#open()
    return this.#engine.check(request)
  }

  /** The subject's privileges on the target, sorted. */
  privileges (request: DecisionRequest): string[] {
    this.#open()
    return this.#engine.privileges(request)
  }

  /** The rights prohibitions deny the subject on the target, sorted. */
  deniedPrivileges (request: DecisionRequest): string[] {
    this.#open()
    return this.#engine.deniedPrivileges(request)
  }

  /** Every node the subject holds rights on. */
  capabilities (request: SubjectRequest): Capability[] {
    this.#open()
    return this.#engine.capabilities(request)
  }

  /** Every user holding rights on the target. */
  acl (request: TargetRequest & { readonly process?: string }): AclEntry[] {
    this.#open()
    return this.#engine.acl(request)
  }

  /** Why the subject holds what it holds on the target. */
  explain (request: DecisionRequest): Explanation {
    this.#open()
    return this.#engine.explain(request)
  }

  /** Releases the policy; later calls throw. */
  close (): void {
    this.#closed = true
  }

  #open (): PolicyGraph {
    if (this.#closed) throw new NgacError('NGAC_ERR_VALIDATION', 'the policy is closed')
    return this.#graph
  }
}

/**
 * Opens a policy. Synchronous, like the engine.
 *
 * @example
 * ```ts
 * import { openPolicy } from 'ngac-pdp'
 * const policy = openPolicy({ db: ':memory:' })
 * policy.replace({ resourceRights: ['read'], nodes: [...], assignments: [...], associations: [...] })
 * policy.privileges({ user: 'alice', target: 'report' }) // ['read']
 * policy.close()
 * ```
 */
export function openPolicy (options: OpenPolicyOptions = {}): Policy {
  const db = options.db ?? ':memory:'
  if (db !== ':memory:') {
    throw new NgacError('NGAC_ERR_VALIDATION', `cannot open '${db}': only ':memory:' policies are available in this version`)
  }
  const policy = new Policy()
  if (options.policy !== undefined) policy.replace(options.policy, options.format)
  return policy
}
