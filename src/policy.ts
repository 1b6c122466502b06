/**
 * The library's short path (DESIGN section 5, Library): one object that holds a policy and
 * answers decisions about it, synchronously.
 */
import { NgacError } from './errors.js'
import { exportPolicy, loadPolicy, PolicyGraph, type Operation, type PolicyDocument, type PolicyFormat } from './graph/index.js'
import { PolicyAdministrator, type ChangeOptions, type ChangeResult, type ReplaceOptions } from './pap/index.js'
import {
  DecisionEngine,
  type AclEntry,
  type Capability,
  type CheckRequest,
  type Decision,
  type DecisionCacheStats,
  type DecisionEngineOptions,
  type DecisionRequest,
  type Explanation,
  type SubjectRequest,
  type TargetRequest
} from './pdp/index.js'
import { SqliteStore, type ChangeFilter, type ChangelogEntry } from './store/index.js'

/** Options of {@link openPolicy}. */
export interface OpenPolicyOptions {
  /**
   * Where the policy lives: an SQLite file (created with its directory when missing), or
   * `':memory:'` (the default) to keep it in this process only.
   */
  readonly db?: string
  /** A policy document to replace the stored policy with on opening. */
  readonly policy?: unknown
  /** The format of `policy`: `ngac` (default) or `pm` (NIST policy-machine-core JSON). */
  readonly format?: PolicyFormat
  /** How long a write waits for another connection's lock, in milliseconds (default 5000). */
  readonly busyTimeout?: number
  /** The decision cache: `{ capacity }` entries (65536 by default), or `false` for none. */
  readonly cache?: DecisionEngineOptions['cache']
}

/** Options of a {@link Policy}'s decision engine. */
export interface PolicyOptions {
  /** The decision cache: `{ capacity }` entries (65536 by default), or `false` for none. */
  readonly cache?: DecisionEngineOptions['cache']
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
  readonly #store: SqliteStore | undefined
  readonly #pap: PolicyAdministrator
  #engine: DecisionEngine
  /** An uncached engine over the same graph: admin checks inside a batch, where the revision has not moved yet. */
  #batchEngine: DecisionEngine
  #closed = false
  #follower: NodeJS.Timeout | undefined
  #waiters: { revision: number, resolve: (reached: boolean) => void }[] = []
  // Hits and misses of the caches of engines replaced since opening, so the totals only grow.
  #cacheHits = 0
  #cacheMisses = 0

  constructor (graph: PolicyGraph = new PolicyGraph(), store?: SqliteStore, options: PolicyOptions = {}) {
    this.#store = store
    // Admin rights are decided by the engine: cached at a committed revision, uncached inside a batch.
    this.#pap = new PolicyAdministrator(graph, store, {
      oracle: {
        allowed: (user, right, target) => this.#engine.check({ user, right, target }).allowed,
        allowedInBatch: (user, right, target) => this.#batchEngine.check({ user, right, target }).allowed
      }
    })
    const engineOptions: DecisionEngineOptions = options.cache === undefined ? {} : { cache: options.cache }
    this.#engine = new DecisionEngine(graph, engineOptions)
    this.#batchEngine = new DecisionEngine(graph, { cache: false })
    this.#pap.onReplace((next) => {
      const stats = this.#engine.cacheStats
      if (stats !== undefined) {
        this.#cacheHits += stats.hits
        this.#cacheMisses += stats.misses
      }
      this.#engine = new DecisionEngine(next, engineOptions)
      this.#batchEngine = new DecisionEngine(next, { cache: false })
    })
  }

  /**
   * Turns on administration governed by the policy itself (DESIGN section 4): creates the reserved
   * policy class `ngac:admin` and object attribute `ngac:admin:policy` when missing (a change by
   * actor `ngac`) and keeps them through replacements. Changes applied with `authorize: true` are
   * then checked against their actor's admin rights, which policy-wide rights are held on
   * `ngac:admin:policy`.
   * @returns the revision that created the reserved nodes, or undefined when they existed.
   * @throws NgacError NGAC_ERR_RESERVED_NAME when a reserved name is taken by a node of another type, NGAC_ERR_STORE_*.
   *
   * @example
   * ```ts
   * const policy = openPolicy({ db: ':memory:' })
   * policy.governAdministration()
   * policy.apply([{ op: 'createNode', name: 'acme', type: 'PC' }], { actor: 'mallory', authorize: true })
   * // throws NGAC_ERR_FORBIDDEN: mallory lacks 'create' on 'ngac:admin:policy'
   * ```
   */
  governAdministration (): number | undefined {
    this.#open()
    const revision = this.#pap.governAdministration()
    this.#notify()
    return revision
  }

  /**
   * The decision cache's capacity and its hits and misses since the policy was opened (they
   * only grow, across replacements); undefined when the policy was opened without a cache.
   */
  get decisionCache (): DecisionCacheStats | undefined {
    const stats = this.#engine.cacheStats
    if (stats === undefined) return undefined
    return { capacity: stats.capacity, hits: this.#cacheHits + stats.hits, misses: this.#cacheMisses + stats.misses }
  }

  /** The policy graph; change it only through this object's methods. */
  get graph (): PolicyGraph {
    return this.#open()
  }

  /** The revision of the last committed change. */
  get revision (): number {
    return this.#open().revision
  }

  /**
   * Replaces the whole policy with `doc`, atomically (and durably, with a database): a bad document
   * changes nothing. `options.check`, when given, sees the loaded policy before it is written and
   * refuses it by throwing.
   * @returns the new revision.
   * @throws NgacError NGAC_ERR_POLICY_FILE listing every problem of the document, NGAC_ERR_STORE_*.
   */
  replace (doc: unknown, format: PolicyFormat = 'ngac', options: Omit<ReplaceOptions, 'format'> = {}): number {
    this.#open()
    const { revision } = this.#pap.replace(doc, { ...options, format })
    this.#notify()
    return revision
  }

  /**
   * Applies administrative operations as one atomic batch (DESIGN section 4). With
   * `{ actor, authorize: true }` each operation is first checked against the actor's admin rights
   * on the graph as the batch has left it so far.
   * @throws NgacError the failing operation's error (nothing applied), NGAC_ERR_FORBIDDEN or
   *   NGAC_ERR_RESERVED_NAME for a refused operation (`details.index`), NGAC_ERR_STORE_*.
   *
   * @example
   * ```ts
   * policy.apply([{ op: 'createNode', name: 'carol', type: 'U', parents: ['acme-users'] }], { actor: 'acme-admin', authorize: true })
   * ```
   */
  apply (operations: readonly Operation[], options: ChangeOptions = {}): ChangeResult {
    this.#open()
    const result = this.#pap.apply(operations, options)
    this.#notify()
    return result
  }

  /**
   * Catches up with changes other connections committed to the database (another worker or
   * process writing the same file): replays the changelog, or reloads after a replacement.
   * @returns whether the policy changed.
   * @throws NgacError NGAC_ERR_STORE_* when the database cannot be read.
   */
  sync (): boolean {
    this.#open()
    const changed = this.#pap.sync()
    if (changed) this.#notify()
    return changed
  }

  /**
   * Follows the database: every `intervalMs` it asks SQLite whether another connection committed
   * (one cheap pragma) and, if so, catches up ({@link Policy.sync}). For a server sharing its
   * file with other workers or processes; stops when the policy closes.
   *
   * @example
   * ```ts
   * const policy = openPolicy({ db: './data/ngac.db' })
   * policy.follow(10) // another process's `ngac import` shows within about 10 ms
   * ```
   */
  follow (intervalMs = 10): void {
    const store = this.#store
    if (store === undefined || this.#follower !== undefined) return
    let seen = store.dataVersion()
    this.#follower = setInterval(() => {
      try {
        const version = store.dataVersion()
        if (version === seen) return
        seen = version
        this.sync()
      } catch {
        // A store that cannot be read now is tried again on the next tick; decisions keep the last revision.
      }
    }, intervalMs)
    this.#follower.unref()
  }

  /**
   * Resolves true once the policy is at `revision` or later, false after `timeoutMs` (a
   * read-your-writes token: a client that wrote revision N asks decisions at N or later).
   *
   * @example
   * ```ts
   * const reached = await policy.waitForRevision(42, 5000) // false: not there yet, answer 503
   * ```
   */
  async waitForRevision (revision: number, timeoutMs: number): Promise<boolean> {
    if (this.#open().revision >= revision) return true
    return new Promise<boolean>((resolve) => {
      const waiter = {
        revision,
        resolve: (reached: boolean) => {
          clearTimeout(timer)
          resolve(reached)
        }
      }
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter)
        resolve(false)
      }, timeoutMs)
      this.#waiters.push(waiter)
    })
  }

  /** Wakes the waiters whose revision is reached. */
  #notify (): void {
    if (this.#waiters.length === 0) return
    const revision = this.#pap.graph.revision
    const ready = this.#waiters.filter((w) => w.revision <= revision)
    if (ready.length === 0) return
    this.#waiters = this.#waiters.filter((w) => w.revision > revision)
    for (const w of ready) w.resolve(true)
  }

  /**
   * Throws unless the policy is open and its store takes writes (readiness).
   * @throws NgacError NGAC_ERR_STORE_*
   */
  ready (): void {
    this.#open()
    this.#store?.checkWritable()
  }

  /**
   * Changelog entries after `since`, at most `limit`, optionally only those a filter matches (by
   * actor, node named, time); needs a database: empty in memory.
   *
   * @example
   * ```ts
   * policy.changes(0, 100, { actor: 'acme-admin' })
   * ```
   */
  changes (since = 0, limit = 1000, filter: ChangeFilter = {}): ChangelogEntry[] {
    this.#open()
    return this.#store?.changes(since, limit, filter) ?? []
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

  /** Closes the policy and its database; later calls throw. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#follower)
    for (const w of this.#waiters) w.resolve(false)
    this.#waiters = []
    this.#store?.close()
  }

  #open (): PolicyGraph {
    if (this.#closed) throw new NgacError('NGAC_ERR_STORE_CLOSED', 'the policy is closed')
    return this.#pap.graph
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
  const store = new SqliteStore(db, options.busyTimeout === undefined ? {} : { busyTimeout: options.busyTimeout })
  let policy: Policy
  try {
    const { revision, document } = store.load()
    const graph = loadPolicy(document)
    graph.setRevision(revision)
    policy = new Policy(graph, store, options.cache === undefined ? {} : { cache: options.cache })
    if (options.policy !== undefined) policy.replace(options.policy, options.format)
  } catch (err) {
    store.close()
    throw err
  }
  return policy
}
