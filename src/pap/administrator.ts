/**
 * The policy administration point: the only way policy changes (DESIGN sections 1 and 4).
 *
 * A batch is validated by applying it to the in-memory graph inside graph.batch; inside the same
 * batch it is written to the store in one SQLite transaction with its changelog entry. If the
 * graph refuses an operation or the store cannot commit, the batch throws and the graph is
 * rolled back, so memory and disk are both unchanged. The change is answered (the method
 * returns) only after its transaction committed. Everything is synchronous, so no decision ever
 * sees a half-applied batch.
 *
 * Several administrators (one per worker process) may share one database file: each catches up
 * with the changelog before it writes ({@link PolicyAdministrator.sync}), and the store refuses a
 * commit that is not the next revision, so writes are serialised and none is lost.
 */
import { isNgacError, NgacError } from '../errors.js'
import {
  applyOperations,
  loadPolicy,
  type Operation,
  type PolicyFormat,
  type PolicyGraph
} from '../graph/index.js'
import type { ChangelogEntry, SqliteStore } from '../store/index.js'
import { ADMIN_POLICY_OA, AdminAuthorizer, adminNodeOperations, type AdminRightsOracle } from './authorization.js'

/** Changelog entries read per step of {@link PolicyAdministrator.sync}. */
const SYNC_PAGE = 1000

/** Tries of a write that keeps finding that another writer committed first. */
const MAX_WRITE_ATTEMPTS = 20

/** Who makes a change, for the changelog, and whether their admin rights are checked. */
export interface ChangeOptions {
  /** The acting user, recorded in the changelog. */
  readonly actor?: string
  /**
   * Check every operation against the actor's admin rights in the graph before it is applied
   * (DESIGN section 4; src/pap/authorization.ts): the actor is an NGAC user, and a refused
   * operation refuses the whole batch. A replacement with `authorize` is refused: replacing the
   * policy rewrites the administration policy itself, so only an unchecked (super) caller may.
   */
  readonly authorize?: boolean
}

/** Options of a {@link PolicyAdministrator}. */
export interface PolicyAdministratorOptions {
  /** Decides admin rights for changes made with `authorize` (the decision engine). */
  readonly oracle?: AdminRightsOracle
}

/** Options of {@link PolicyAdministrator.replace}. */
export interface ReplaceOptions extends ChangeOptions {
  readonly format?: PolicyFormat
  /** Called with the loaded policy before anything is written: throw to refuse it (nothing changes). */
  readonly check?: (graph: PolicyGraph) => void
}

/** The answer to a committed change. */
export interface ChangeResult {
  readonly revision: number
}

/**
 * Applies administrative changes to a graph and, when it has one, to a durable store.
 *
 * @example
 * ```ts
 * const pap = new PolicyAdministrator(graph, store)
 * pap.apply([{ op: 'createNode', name: 'eng', type: 'UA', parents: ['RBAC'] }], { actor: 'alice' })
 * ```
 */
export class PolicyAdministrator {
  #graph: PolicyGraph
  readonly #store: SqliteStore | undefined
  readonly #listeners: ((graph: PolicyGraph) => void)[] = []
  readonly #oracle: AdminRightsOracle | undefined
  #governed = false

  constructor (graph: PolicyGraph, store?: SqliteStore, options: PolicyAdministratorOptions = {}) {
    this.#graph = graph
    this.#store = store
    this.#oracle = options.oracle
  }

  /** Whether the reserved administration nodes are kept ({@link PolicyAdministrator.governAdministration}). */
  get governed (): boolean {
    return this.#governed
  }

  /**
   * Turns on administration governed by the graph: creates the reserved policy class `ngac:admin`
   * and object attribute `ngac:admin:policy` when missing (one change, actor `ngac`), and keeps
   * them through every later replacement.
   * @returns the revision that created them, or undefined when they existed.
   * @throws NgacError NGAC_ERR_RESERVED_NAME when a reserved name is taken by a node of another type, NGAC_ERR_STORE_*.
   */
  governAdministration (): number | undefined {
    this.#governed = true
    for (let attempt = 1; ; attempt++) {
      this.sync()
      const operations = adminNodeOperations(this.#graph)
      if (operations.length === 0) return undefined
      try {
        return this.apply(operations, { actor: 'ngac' }).revision
      } catch (err) {
        // Another worker created them first: catch up and look again.
        if (!isNgacError(err, 'NGAC_ERR_NODE_EXISTS') || attempt === MAX_WRITE_ATTEMPTS) throw err
      }
    }
  }

  /** The current graph (a new object after {@link PolicyAdministrator.replace}). */
  get graph (): PolicyGraph {
    return this.#graph
  }

  /** Calls `listener` with the new graph whenever a replacement swaps it in. */
  onReplace (listener: (graph: PolicyGraph) => void): void {
    this.#listeners.push(listener)
  }

  /**
   * Applies `operations` atomically as one new revision, durably when there is a store.
   * @throws NgacError the failing operation's error (with `details.index`), or NGAC_ERR_STORE_*.
   */
  apply (operations: readonly Operation[], options: ChangeOptions = {}): ChangeResult {
    const user = options.authorize === true ? this.#authorizingUser(options) : undefined
    return this.#retrying(() => {
      const graph = this.#graph
      graph.batch(() => {
        if (user === undefined) {
          applyOperations(graph, operations)
        } else {
          const authorizer = new AdminAuthorizer(graph, this.#oracle as AdminRightsOracle, user)
          applyOperations(graph, operations, (o, i) => { authorizer.check(o, i) })
        }
        this.#store?.commit(this.#entry(graph.revision + 1, operations, options), operations)
      })
      return { revision: graph.revision }
    })
  }

  /**
   * Replaces the whole policy with `doc`, atomically: validated whole first, then written in one
   * transaction, then swapped in.
   * @throws NgacError NGAC_ERR_POLICY_FILE listing every problem, or NGAC_ERR_STORE_*.
   */
  replace (doc: unknown, options: ReplaceOptions = {}): ChangeResult {
    if (options.authorize === true) {
      throw new NgacError('NGAC_ERR_FORBIDDEN', `replacing the whole policy rewrites the administration policy too, so it needs a super token; user '${String(options.actor)}' may change the policy operation by operation (POST /v1/batch)`,
        { details: { index: 0, op: 'replacePolicy', right: 'update', node: ADMIN_POLICY_OA } })
    }
    const next = loadPolicy(doc, options.format === undefined ? {} : { format: options.format })
    options.check?.(next)
    if (this.#governed) {
      const reserved = adminNodeOperations(next)
      if (reserved.length > 0) applyOperations(next, reserved)
    }
    const stats = next.stats
    const elements = stats.nodes + stats.assignments + stats.associations + stats.prohibitions
    return this.#retrying(() => {
      const revision = this.#graph.revision + 1
      next.setRevision(revision)
      this.#store?.replace(next, {
        revision,
        at: new Date().toISOString(),
        actor: options.actor ?? null,
        operations: [{ op: 'replacePolicy', elements }]
      })
      this.#swap(next)
      return { revision }
    })
  }

  /**
   * Brings the graph up to the store's last revision: replays the changelog entries that other
   * connections (other workers, another process) committed since, or reloads the whole policy
   * after a replacement or anything it cannot replay. Decisions read either the old revision or
   * the new one, never a state in between: each entry is applied as one graph batch.
   * @returns whether the graph changed.
   * @throws NgacError NGAC_ERR_STORE_* when the store cannot be read.
   */
  sync (): boolean {
    const store = this.#store
    if (store === undefined) return false
    let changed = false
    for (;;) {
      const graph = this.#graph
      const stored = store.revision
      if (stored === graph.revision) return changed
      const entries = stored > graph.revision ? store.changes(graph.revision, SYNC_PAGE) : []
      if (entries.length === 0 || !this.#replay(graph, entries)) {
        this.#reload(store)
        return true
      }
      changed = true
    }
  }

  /** Applies `entries` to `graph` one batch each; false when one cannot be replayed. */
  #replay (graph: PolicyGraph, entries: readonly ChangelogEntry[]): boolean {
    for (const entry of entries) {
      if (entry.revision !== graph.revision + 1) return false
      const operations = entry.operations
      for (const o of operations) if (o.op === 'replacePolicy') return false
      try {
        graph.batch(() => { applyOperations(graph, operations as readonly Operation[]) })
      } catch {
        return false
      }
      if (graph.revision !== entry.revision) return false
    }
    return true
  }

  #reload (store: SqliteStore): void {
    const { revision, document } = store.load()
    const next = loadPolicy(document)
    next.setRevision(revision)
    this.#swap(next)
  }

  #swap (next: PolicyGraph): void {
    this.#graph = next
    for (const listener of this.#listeners) listener(next)
  }

  /**
   * Runs a write after catching up with the store, again when another writer committed first
   * (the store refuses a commit whose revision is not the next one, inside its write lock).
   */
  #retrying<T> (write: () => T): T {
    for (let attempt = 1; ; attempt++) {
      this.sync()
      try {
        return write()
      } catch (err) {
        if (!isNgacError(err) || err.code !== 'NGAC_ERR_STORE_STALE' || attempt === MAX_WRITE_ATTEMPTS) throw err
      }
    }
  }

  /** @throws NgacError NGAC_ERR_VALIDATION without an actor or without an oracle to decide. */
  #authorizingUser (options: ChangeOptions): string {
    if (typeof options.actor !== 'string' || options.actor === '') {
      throw new NgacError('NGAC_ERR_VALIDATION', 'an authorized change needs its actor: the NGAC user whose admin rights are checked')
    }
    if (this.#oracle === undefined) {
      throw new NgacError('NGAC_ERR_VALIDATION', 'this administrator has no decision engine to check admin rights with: give it an oracle')
    }
    return options.actor
  }

  #entry (revision: number, operations: readonly Operation[], options: ChangeOptions): ChangelogEntry {
    if (options.actor !== undefined && typeof options.actor !== 'string') {
      throw new NgacError('NGAC_ERR_VALIDATION', 'the actor of a change must be a string')
    }
    return { revision, at: new Date().toISOString(), actor: options.actor ?? null, operations }
  }
}
