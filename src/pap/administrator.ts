/**
 * The policy administration point: the only way policy changes (DESIGN sections 1 and 4).
 *
 * A batch is validated by applying it to the in-memory graph inside graph.batch; inside the same
 * batch it is written to the store in one SQLite transaction with its changelog entry. If the
 * graph refuses an operation or the store cannot commit, the batch throws and the graph is
 * rolled back, so memory and disk are both unchanged. The change is answered (the method
 * returns) only after its transaction committed. Everything is synchronous, so no decision ever
 * sees a half-applied batch.
 */
import { NgacError } from '../errors.js'
import {
  applyOperations,
  loadPolicy,
  type Operation,
  type PolicyFormat,
  type PolicyGraph
} from '../graph/index.js'
import type { ChangelogEntry, SqliteStore } from '../store/index.js'

/** Who makes a change, for the changelog. */
export interface ChangeOptions {
  readonly actor?: string
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

  constructor (graph: PolicyGraph, store?: SqliteStore) {
    this.#graph = graph
    this.#store = store
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
    const graph = this.#graph
    graph.batch(() => {
      applyOperations(graph, operations)
      this.#store?.commit(this.#entry(graph.revision + 1, operations, options), operations)
    })
    return { revision: graph.revision }
  }

  /**
   * Replaces the whole policy with `doc`, atomically: validated whole first, then written in one
   * transaction, then swapped in.
   * @throws NgacError NGAC_ERR_POLICY_FILE listing every problem, or NGAC_ERR_STORE_*.
   */
  replace (doc: unknown, options: ChangeOptions & { readonly format?: PolicyFormat } = {}): ChangeResult {
    const next = loadPolicy(doc, options.format === undefined ? {} : { format: options.format })
    const revision = this.#graph.revision + 1
    next.setRevision(revision)
    const stats = next.stats
    const elements = stats.nodes + stats.assignments + stats.associations + stats.prohibitions
    this.#store?.replace(next, {
      revision,
      at: new Date().toISOString(),
      actor: options.actor ?? null,
      operations: [{ op: 'replacePolicy', elements }]
    })
    this.#graph = next
    for (const listener of this.#listeners) listener(next)
    return { revision }
  }

  #entry (revision: number, operations: readonly Operation[], options: ChangeOptions): ChangelogEntry {
    if (options.actor !== undefined && typeof options.actor !== 'string') {
      throw new NgacError('NGAC_ERR_VALIDATION', 'the actor of a change must be a string')
    }
    return { revision, at: new Date().toISOString(), actor: options.actor ?? null, operations }
  }
}
