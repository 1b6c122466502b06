/**
 * The decision cache (DESIGN section 7): privileges(u, p, t) by integers (user id, target id,
 * process number), for named users and named targets, each entry valid for the revision it was
 * computed at. The process number is the engine's: 0 for no process (or one that no prohibition
 * binds, which decides the same), else a small number per process that prohibitions bind.
 *
 * Layout: a two-way set-associative table of `capacity` entries (a power of two) in typed arrays
 * allocated once: Int32Array user, target and process keys, a Uint32Array stamp per entry and
 * `words` Uint32 words of rights per entry. A set is picked by a hash of the key; a miss evicts
 * the way the set did not use last.
 *
 * Invariants:
 * - an entry is live only when its stamp equals the current generation; a new generation starts
 *   whenever the revision asked about differs from the one the generation belongs to, so every
 *   committed write (each bumps the graph's revision) turns every entry into a miss, in O(1);
 * - generations count up from 1 and 0 is never live; at the top of the range every stamp is
 *   cleared before counting starts again, so a stamp can never be mistaken for a live one;
 * - a change of the rights catalogue's width (words per mask) drops every entry.
 *
 * Cost: a lookup hashes three integers and compares at most two entries; a store copies `words`
 * words. Neither allocates. Memory: capacity x (16.5 + 4 x words) bytes, allocated on first use.
 *
 * What it does not know: a graph changed inside an open `graph.batch` keeps its old revision
 * until the batch commits. Decisions asked of a cached engine in the middle of a batch would be
 * cached under the old revision, and survive a batch that rolls back. Ask such decisions of an
 * engine without cache (`{ cache: false }`); nothing in this project does so today.
 */
import { NgacError } from '../errors.js'
import type { RightsMask } from '../graph/index.js'

/** The default number of entries of a {@link DecisionCache}. */
export const DEFAULT_CACHE_CAPACITY = 65_536

/** The most entries a {@link DecisionCache} may have (2^24: 340 MB of arrays with one mask word). */
export const MAX_CACHE_CAPACITY = 16_777_216

/** What a {@link DecisionCache} has done since it was created. */
export interface DecisionCacheStats {
  /** Entries (a power of two). */
  readonly capacity: number
  /** Lookups answered from the cache. */
  readonly hits: number
  /** Lookups that had to be computed (absent, evicted, or of an older revision). */
  readonly misses: number
}

/**
 * A bounded cache of privileges masks keyed by (user id, target id, process number), valid for
 * one revision.
 *
 * @example
 * ```ts
 * const cache = new DecisionCache(1024)
 * let entry = cache.find(graph.revision, user, target, 0, graph.rights.words)
 * if (entry < 0) entry = cache.store(user, target, 0, evaluatorMask)
 * cache.holds(entry, graph.rights.mask(['read'])) // true when the privileges include read
 * ```
 */
export class DecisionCache {
  /** Entries (a power of two). */
  readonly capacity: number
  /** Lookups answered from the cache. */
  hits = 0
  /** Lookups that missed. */
  misses = 0

  readonly #setMask: number
  #users = new Int32Array(0)
  #targets = new Int32Array(0)
  #processes = new Int32Array(0)
  #stamps = new Uint32Array(0)
  #rights = new Uint32Array(0)
  #victim = new Uint8Array(0) // per set: the way a miss evicts next
  #words = 0
  #generation = 1
  #revision = -1
  // The set a missed lookup hashed to, for the store that follows it.
  #pendingSet = 0

  /**
   * @param capacity entries, rounded up to a power of two (at least 2).
   * @throws NgacError NGAC_ERR_VALIDATION for a capacity that is not a positive integer up to
   * {@link MAX_CACHE_CAPACITY}.
   */
  constructor (capacity: number = DEFAULT_CACHE_CAPACITY) {
    if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > MAX_CACHE_CAPACITY) {
      throw new NgacError('NGAC_ERR_VALIDATION', `invalid decision cache capacity ${String(capacity)}: use an integer from 1 to ${MAX_CACHE_CAPACITY}`)
    }
    let size = 2
    while (size < capacity) size *= 2
    this.capacity = size
    this.#setMask = (size >>> 1) - 1
  }

  /** Hits, misses and capacity. */
  get stats (): DecisionCacheStats {
    return { capacity: this.capacity, hits: this.hits, misses: this.misses }
  }

  /**
   * The entry of (user, target, process) at `revision`, or -1 (counted as a miss; call
   * {@link store} next). `words` is the width of the current rights catalogue.
   */
  find (revision: number, user: number, target: number, process: number, words: number): number {
    if (revision !== this.#revision || words !== this.#words) this.#reset(revision, words)
    const set = hash(user, target, process) & this.#setMask
    const way0 = set << 1
    const generation = this.#generation
    const stamps = this.#stamps
    if (stamps[way0] === generation && this.#users[way0] === user && this.#targets[way0] === target && this.#processes[way0] === process) {
      this.#victim[set] = 1
      this.hits++
      return way0
    }
    const way1 = way0 + 1
    if (stamps[way1] === generation && this.#users[way1] === user && this.#targets[way1] === target && this.#processes[way1] === process) {
      this.#victim[set] = 0
      this.hits++
      return way1
    }
    this.#pendingSet = set
    this.misses++
    return -1
  }

  /**
   * Stores the privileges of (user, target, process) for the revision of the {@link find} that
   * just missed on that key, and returns its entry. Copies `words` words of `mask`.
   */
  store (user: number, target: number, process: number, mask: RightsMask): number {
    const set = this.#pendingSet
    const way0 = set << 1
    const generation = this.#generation
    let entry: number
    if (this.#stamps[way0] !== generation) entry = way0
    else if (this.#stamps[way0 + 1] !== generation) entry = way0 + 1
    else entry = way0 + this.#victim[set]
    this.#victim[set] = entry === way0 ? 1 : 0
    this.#stamps[entry] = generation
    this.#users[entry] = user
    this.#targets[entry] = target
    this.#processes[entry] = process
    const words = this.#words
    const base = entry * words
    const rights = this.#rights
    for (let w = 0; w < words; w++) rights[base + w] = w < mask.length ? mask[w] : 0
    return entry
  }

  /** Whether the privileges of `entry` include every right of `required`. */
  holds (entry: number, required: RightsMask): boolean {
    const words = this.#words
    const base = entry * words
    const rights = this.#rights
    for (let w = 0; w < required.length; w++) {
      if ((required[w] & ~(w < words ? rights[base + w] : 0)) !== 0) return false
    }
    return true
  }

  /** Copies the privileges of `entry` into `into` (which has at least `words` words). */
  copy (entry: number, into: RightsMask): void {
    const words = this.#words
    const base = entry * words
    for (let w = 0; w < words; w++) into[w] = this.#rights[base + w]
  }

  /** Drops every entry (they become misses); hits and misses are kept. */
  clear (): void {
    this.#revision = -1
  }

  /** Starts a new generation for `revision`; (re)allocates when the mask width changes. */
  #reset (revision: number, words: number): void {
    if (words !== this.#words) {
      const capacity = this.capacity
      if (this.#stamps.length === 0) {
        this.#users = new Int32Array(capacity)
        this.#targets = new Int32Array(capacity)
        this.#processes = new Int32Array(capacity)
        this.#stamps = new Uint32Array(capacity)
        this.#victim = new Uint8Array(capacity >>> 1)
      }
      this.#rights = new Uint32Array(capacity * words)
      this.#words = words
    }
    this.#revision = revision
    if (this.#generation === 0xffffffff) {
      this.#stamps.fill(0)
      this.#generation = 0
    }
    this.#generation++
  }
}

/** Mixes a key into 32 bits (murmur3's finalizer over a multiplicative combine). */
function hash (user: number, target: number, process: number): number {
  let h = Math.imul(user, 0x9e3779b1) ^ target ^ Math.imul(process, 0x27d4eb2f)
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return h ^ (h >>> 16)
}
