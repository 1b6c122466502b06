/**
 * The production evaluator: DESIGN section 3 computed by linear-time walks over integer ids.
 *
 * - User side: one walk up from the user collects the rights its UAs hold on each association
 *   target (into a flat word array indexed by node id) and the prohibitions that bind it.
 * - Target side: one walk up from the target numbers its ancestors in post-order (parents
 *   first); one pass over that order then memoizes, per node, which policy classes and
 *   prohibition containers it reaches (a bitset) and the rights granted per policy class.
 *   granted = AND over the target's classes; prohibitions are decided from its reach bits.
 * - Capability lists run the target side once over every descendant of the user's association
 *   targets; access control lists run it once over the target's ancestors and push the rights
 *   down from the granting UAs to their users. Each touches only the subgraph it needs.
 *
 * Cost: O((nodes + assignments touched) x (classes + containers) / 32 x mask words).
 * Visited marks are epoch stamps in Uint32Arrays and every scratch buffer is reused, so a
 * decision allocates only its result mask (none for {@link ProductionEvaluator.allows}).
 * The evaluator reads the graph as it is now; it keeps no state across calls but scratch space.
 */
import {
  PC, U, UA, OA,
  maskIsEmpty,
  type PolicyGraph,
  type Prohibition,
  type RightsMask
} from '../graph/index.js'
import type { Evaluator, RightsByNode, Subject, Target } from './evaluator.js'

/**
 * Decides access over a {@link PolicyGraph} with linear-time traversals.
 *
 * @example
 * ```ts
 * const ev = new ProductionEvaluator(graph)
 * const mask = ev.privileges({ user: graph.idOf('alice'), attributes: [], process: undefined },
 *   { target: graph.idOf('report'), attributes: [] })
 * graph.rights.names(mask) // ['read']
 * ```
 */
export class ProductionEvaluator implements Evaluator {
  readonly graph: PolicyGraph

  // Per node id, sized to the graph's id limit and grown on demand.
  #capacity = 0
  #stamp = new Uint32Array(0) // visited by the current walk
  #epoch = 0
  #down = new Uint32Array(0) // in the current descendant set
  #downEpoch = 0
  #grantStamp = new Uint32Array(0) // holds a user-side grant
  #grantEpoch = 0
  #markStamp = new Uint32Array(0) // is a mark (policy class or container) of the current query
  #markEpoch = 0
  #userStamp = new Uint32Array(0) // an ancestor (or self) of the current subject
  #userEpoch = 0
  #userNodes = new Int32Array(0)
  #userCount = 0
  #mark = new Int32Array(0) // mark number
  #slot = new Int32Array(0) // post-order position in the current walk
  #nodeStack = new Int32Array(0)
  #indexStack = new Int32Array(0)
  #order = new Int32Array(0)
  #orderLength = 0
  #grants = new Uint32Array(0) // words rights words per node id
  #words = 0

  // Per query.
  #grantList: number[] = []
  #bound: Prohibition[] = []
  #pcCount = 0 // marks 0..pcCount-1 are policy classes, the rest prohibition containers
  #markCount = 0
  #reachWords = 1
  #reach = new Uint32Array(0) // reachWords per row
  #rows = new Uint32Array(0) // pcCount * words per row
  #result = new Uint32Array(0)
  #scratchIds: number[] = []

  constructor (graph: PolicyGraph) {
    this.graph = graph
  }

  privileges (subject: Subject, target: Target): RightsMask {
    return this.#decide(subject, target) ? this.#result.slice(0, this.#words) : this.graph.rights.empty()
  }

  /** Whether the subject holds every right of `required` on the target. Allocation free. */
  allows (subject: Subject, target: Target, required: RightsMask): boolean {
    if (!this.#decide(subject, target)) return false
    const result = this.#result
    for (let i = 0; i < required.length; i++) {
      if ((required[i] & ~(i < this.#words ? result[i] : 0)) !== 0) return false
    }
    return true
  }

  denied (subject: Subject, target: Target): RightsMask {
    const out = this.graph.rights.empty()
    if (!this.#validTarget(target) || !this.#userSide(subject)) return out
    this.#walkTarget(target)
    this.#fillTarget(target, false)
    const row = target.target >= 0 ? this.#slot[target.target] : this.#orderLength
    for (const p of this.#bound) {
      if (this.#satisfied(p, row)) orWords(out, 0, p.mask, this.#words)
    }
    return out
  }

  capabilities (subject: Subject): RightsByNode {
    const out: RightsByNode = new Map()
    if (!this.#userSide(subject)) return out
    this.#grantsFromUser(false)
    if (this.#grantList.length === 0) return out
    const graph = this.graph
    // Every node under an association target: the only nodes the user may hold rights on.
    const candidates = this.#descendants(this.#grantList)
    this.#walkUp(candidates, false)
    this.#markPolicyClasses()
    this.#markContainers(this.#bound)
    this.#fillRows(true)
    const words = this.#words
    const perRow = this.#pcCount * words
    for (let c = 0; c < candidates.length; c++) {
      const node = candidates[c]
      if (graph.typeOf(node) === PC) continue
      const row = this.#slot[node]
      const mask = new Uint32Array(words)
      if (!this.#grantedInto(mask, row, perRow)) continue
      for (const p of this.#bound) {
        if (this.#satisfied(p, row)) andNotWords(mask, p.mask, words)
      }
      if (!maskIsEmpty(mask)) out.set(node, mask)
    }
    return out
  }

  acl (target: Target, process?: string): RightsByNode {
    const out: RightsByNode = new Map()
    if (!this.#validTarget(target)) return out
    const graph = this.graph
    this.#ensureCapacity()
    this.#bound.length = 0
    this.#walkTarget(target)
    this.#fillTarget(target, false)
    const pcCount = this.#pcCount
    if (pcCount === 0) return out
    // Prohibitions satisfied for the target, decided while the walk's stamps still hold its ancestors.
    const satisfied: Prohibition[] = []
    for (const p of graph.prohibitionList()) {
      if ((p.subject >= 0 || p.process === process) && this.#satisfiedByWalk(p)) satisfied.push(p)
    }
    // Rights each association on an ancestor of the target contributes, per policy class.
    const words = this.#words
    const perRow = pcCount * words
    const granting: number[] = []
    const contribution = new Map<number, Uint32Array>()
    const reach = this.#reach
    const reachWords = this.#reachWords
    for (let i = 0; i < this.#orderLength; i++) {
      const at = this.#order[i]
      const assocs = graph.associationsTo(at)
      for (let a = 0; a < assocs.length; a++) {
        const assoc = assocs[a]
        let vector = contribution.get(assoc.ua)
        if (vector === undefined) {
          vector = new Uint32Array(perRow)
          contribution.set(assoc.ua, vector)
          granting.push(assoc.ua)
        }
        for (let k = 0; k < pcCount; k++) {
          if ((reach[i * reachWords + (k >>> 5)] & (1 << (k & 31))) !== 0) orWords(vector, k * words, assoc.mask, words)
        }
      }
    }
    if (granting.length === 0) return out
    // Push the contributions down to the users under the granting UAs.
    const members = this.#descendants(granting)
    this.#walkUpWithin(members)
    const acc = new Uint32Array(this.#orderLength * perRow)
    for (let i = 0; i < this.#orderLength; i++) {
      const node = this.#order[i]
      const base = i * perRow
      const own = contribution.get(node)
      if (own !== undefined) acc.set(own, base)
      const parents = graph.parentIds(node)
      for (let j = 0; j < parents.length; j++) {
        const p = parents[j]
        if (this.#down[p] !== this.#downEpoch) continue
        const pbase = this.#slot[p] * perRow
        for (let w = 0; w < perRow; w++) acc[base + w] |= acc[pbase + w]
      }
    }
    for (let i = 0; i < this.#orderLength; i++) {
      const node = this.#order[i]
      if (graph.typeOf(node) !== U) continue
      const mask = new Uint32Array(words)
      mask.set(acc.subarray(i * perRow, i * perRow + words))
      for (let k = 1; k < pcCount; k++) andWords(mask, acc, i * perRow + k * words, words)
      if (!maskIsEmpty(mask)) out.set(node, mask)
    }
    // Subtract what satisfied prohibitions deny to the users they bind.
    for (const p of satisfied) {
      if (p.subject < 0) {
        for (const mask of out.values()) andNotWords(mask, p.mask, words)
      } else {
        for (const user of this.#usersUnder(p.subject)) {
          const mask = out.get(user)
          if (mask !== undefined) andNotWords(mask, p.mask, words)
        }
      }
    }
    for (const [user, mask] of out) if (maskIsEmpty(mask)) out.delete(user)
    return out
  }

  // ---------------------------------------------------------------- the decision

  /** Computes privileges(subject, target) into #result; false when they are certainly empty. */
  #decide (subject: Subject, target: Target): boolean {
    if (!this.#validTarget(target) || !this.#userSide(subject)) return false
    this.#walkTarget(target)
    // NOTE: grants are gathered from whichever side has fewer associations to look at: the
    // user's attributes (associations from them) or the target's ancestors (associations to them).
    const graph = this.graph
    let fromUser = 0
    for (let i = 0; i < this.#userCount; i++) fromUser += graph.associationsFrom(this.#userNodes[i]).length
    let toTarget = 0
    for (let i = 0; i < this.#orderLength; i++) toTarget += graph.associationsTo(this.#order[i]).length
    if (fromUser === 0 || toTarget === 0) return false
    if (fromUser <= toTarget) this.#grantsFromUser(true)
    else this.#grantsFromTarget()
    if (this.#grantList.length === 0) return false
    this.#fillTarget(target, true)
    const row = target.target >= 0 ? this.#slot[target.target] : this.#orderLength
    const result = this.#result
    if (!this.#grantedInto(result, row, this.#pcCount * this.#words)) return false
    for (let i = 0; i < this.#bound.length; i++) {
      const p = this.#bound[i]
      if (this.#satisfied(p, row)) andNotWords(result, p.mask, this.#words)
    }
    return true
  }

  #validTarget (target: Target): boolean {
    const graph = this.graph
    if (target.target >= 0) return graph.isNode(target.target) && graph.typeOf(target.target) !== PC
    return target.attributes.length > 0
  }

  /**
   * Walks up from the subject: stamps its attributes (and itself) in #userStamp, lists them in
   * #userNodes and collects the prohibitions that bind it. False for an unknown or invalid subject.
   */
  #userSide (subject: Subject): boolean {
    const graph = this.graph
    this.#ensureCapacity()
    this.#grantList.length = 0
    this.#bound.length = 0
    let starts: readonly number[]
    if (subject.user >= 0) {
      if (!graph.isNode(subject.user) || graph.typeOf(subject.user) !== U) return false
      starts = this.#single(subject.user)
    } else {
      starts = subject.attributes.filter((id) => graph.isNode(id) && graph.typeOf(id) === UA)
      if (starts.length === 0) return false
    }
    this.#walkUp(starts, false)
    const epoch = this.#nextUserEpoch()
    for (let i = 0; i < this.#orderLength; i++) {
      const node = this.#order[i]
      this.#userStamp[node] = epoch
      this.#userNodes[i] = node
      const bound = graph.prohibitionsOf(node)
      for (let j = 0; j < bound.length; j++) this.#bound.push(bound[j])
    }
    this.#userCount = this.#orderLength
    if (subject.process !== undefined) {
      const bound = graph.processProhibitions(subject.process)
      for (let j = 0; j < bound.length; j++) this.#bound.push(bound[j])
    }
    return true
  }

  /**
   * Records the rights the subject's attributes hold per association target, from the associations
   * of the attributes; with `onTargetWalk`, only targets the current walk stamped.
   */
  #grantsFromUser (onTargetWalk: boolean): void {
    const graph = this.graph
    const epoch = this.#nextGrantEpoch()
    const words = this.#words
    for (let i = 0; i < this.#userCount; i++) {
      const assocs = graph.associationsFrom(this.#userNodes[i])
      for (let j = 0; j < assocs.length; j++) {
        const at = assocs[j].target
        if (onTargetWalk && this.#stamp[at] !== this.#epoch) continue
        this.#grant(at, assocs[j].mask, epoch, words)
      }
    }
  }

  /** Records the same from the associations to the target's ancestors whose ua holds the subject. */
  #grantsFromTarget (): void {
    const graph = this.graph
    const epoch = this.#nextGrantEpoch()
    const words = this.#words
    const userEpoch = this.#userEpoch
    for (let i = 0; i < this.#orderLength; i++) {
      const at = this.#order[i]
      const assocs = graph.associationsTo(at)
      for (let j = 0; j < assocs.length; j++) {
        if (this.#userStamp[assocs[j].ua] === userEpoch) this.#grant(at, assocs[j].mask, epoch, words)
      }
    }
  }

  #grant (at: number, mask: RightsMask, epoch: number, words: number): void {
    const base = at * words
    if (this.#grantStamp[at] !== epoch) {
      this.#grantStamp[at] = epoch
      this.#grants.fill(0, base, base + words)
      this.#grantList.push(at)
    }
    orWords(this.#grants, base, mask, words)
  }

  /** Numbers the target's ancestors (or an anonymous target's attributes' ancestors) in #order. */
  #walkTarget (target: Target): void {
    if (target.target >= 0) {
      this.#walkUp(this.#single(target.target), false)
    } else {
      this.#scratchIds = this.#targetAttributes(target)
      this.#walkUp(this.#scratchIds, false)
    }
  }

  /** Marks classes and containers and fills the rows of the walk; an anonymous target gets the row after them. */
  #fillTarget (target: Target, grants: boolean): void {
    this.#markPolicyClasses()
    this.#markContainers(this.#bound)
    this.#fillRows(grants)
    if (target.target < 0) this.#fillRow(this.#orderLength, -1, this.#scratchIds, grants)
  }

  #targetAttributes (target: Target): number[] {
    const graph = this.graph
    return target.attributes.filter((id) => graph.isNode(id) && (graph.typeOf(id) === OA || graph.typeOf(id) === PC))
  }

  #single (id: number): readonly number[] {
    this.#scratchIds.length = 0
    this.#scratchIds.push(id)
    return this.#scratchIds
  }

  /** AND of the rights of every class the row reaches, into `into`; false if it reaches none. */
  #grantedInto (into: RightsMask, row: number, perRow: number): boolean {
    const words = this.#words
    const reachBase = row * this.#reachWords
    const rowBase = row * perRow
    let any = false
    for (let k = 0; k < this.#pcCount; k++) {
      if ((this.#reach[reachBase + (k >>> 5)] & (1 << (k & 31))) === 0) continue
      if (!any) {
        for (let w = 0; w < words; w++) into[w] = this.#rows[rowBase + k * words + w]
        any = true
      } else {
        andWords(into, this.#rows, rowBase + k * words, words)
      }
    }
    return any
  }

  /** Whether prohibition `p` is satisfied for the node of `row`, from its reach bits. */
  #satisfied (p: Prohibition, row: number): boolean {
    const containers = p.containers
    const reachBase = row * this.#reachWords
    for (let i = 0; i < containers.length; i++) {
      const c = containers[i]
      let inside = false
      if (this.#markStamp[c] === this.#markEpoch) {
        const m = this.#mark[c]
        inside = (this.#reach[reachBase + (m >>> 5)] & (1 << (m & 31))) !== 0
      }
      const hit = inside !== p.complements[i]
      if (p.intersection && !hit) return false
      if (!p.intersection && hit) return true
    }
    return p.intersection
  }

  /** Whether `p` is satisfied for the target whose ancestors the current walk stamped. */
  #satisfiedByWalk (p: Prohibition): boolean {
    const containers = p.containers
    for (let i = 0; i < containers.length; i++) {
      const hit = (this.#stamp[containers[i]] === this.#epoch) !== p.complements[i]
      if (p.intersection && !hit) return false
      if (!p.intersection && hit) return true
    }
    return p.intersection
  }

  // ---------------------------------------------------------------- walks and rows

  /**
   * Iterative depth-first walk up from `starts`: afterwards #order[0..#orderLength) lists every
   * ancestor (starts included) with parents before children, and #slot gives each its position.
   */
  #walkUp (starts: readonly number[], within: boolean): void {
    const graph = this.graph
    const epoch = this.#nextEpoch()
    const stamp = this.#stamp
    const down = this.#down
    const downEpoch = this.#downEpoch
    const nodes = this.#nodeStack
    const next = this.#indexStack
    const order = this.#order
    let length = 0
    for (let s = 0; s < starts.length; s++) {
      const start = starts[s]
      if (stamp[start] === epoch) continue
      stamp[start] = epoch
      nodes[0] = start
      next[0] = 0
      let sp = 1
      while (sp > 0) {
        const node = nodes[sp - 1]
        const parents = graph.parentIds(node)
        const i = next[sp - 1]
        if (i < parents.length) {
          next[sp - 1] = i + 1
          const p = parents[i]
          if (stamp[p] !== epoch && (!within || down[p] === downEpoch)) {
            stamp[p] = epoch
            nodes[sp] = p
            next[sp] = 0
            sp++
          }
        } else {
          sp--
          this.#slot[node] = length
          order[length++] = node
        }
      }
    }
    this.#orderLength = length
  }

  /** {@link #walkUp} that follows only parents in the current descendant set. */
  #walkUpWithin (starts: readonly number[]): void {
    this.#walkUp(starts, true)
  }

  /** Every node at or below one of `roots`, stamped in #down; returned in discovery order. */
  #descendants (roots: readonly number[]): number[] {
    const graph = this.graph
    const epoch = this.#nextDownEpoch()
    const down = this.#down
    const out: number[] = []
    for (const root of roots) {
      if (down[root] === epoch) continue
      down[root] = epoch
      out.push(root)
    }
    for (let i = 0; i < out.length; i++) {
      const children = graph.childIds(out[i])
      for (let j = 0; j < children.length; j++) {
        const c = children[j]
        if (down[c] !== epoch) {
          down[c] = epoch
          out.push(c)
        }
      }
    }
    return out
  }

  /** Users at or below `root` (a walk of its own; leaves #down alone). */
  #usersUnder (root: number): number[] {
    const graph = this.graph
    const epoch = this.#nextEpoch()
    const stamp = this.#stamp
    const queue = [root]
    const users: number[] = []
    stamp[root] = epoch
    for (let i = 0; i < queue.length; i++) {
      const node = queue[i]
      if (graph.typeOf(node) === U) users.push(node)
      const children = graph.childIds(node)
      for (let j = 0; j < children.length; j++) {
        const c = children[j]
        if (stamp[c] !== epoch) {
          stamp[c] = epoch
          queue.push(c)
        }
      }
    }
    return users
  }

  /** Gives every policy class in the current order a mark, numbered from 0. */
  #markPolicyClasses (): void {
    const graph = this.graph
    const epoch = this.#nextMarkEpoch()
    let count = 0
    for (let i = 0; i < this.#orderLength; i++) {
      const node = this.#order[i]
      if (graph.typeOf(node) === PC) {
        this.#markStamp[node] = epoch
        this.#mark[node] = count++
      }
    }
    this.#pcCount = count
    this.#markCount = count
  }

  /** Gives every container of `prohibitions` that the current walk reached a mark. */
  #markContainers (prohibitions: readonly Prohibition[]): void {
    const epoch = this.#markEpoch
    const stamp = this.#stamp
    for (let i = 0; i < prohibitions.length; i++) {
      const containers = prohibitions[i].containers
      for (let j = 0; j < containers.length; j++) {
        const c = containers[j]
        if (stamp[c] === this.#epoch && this.#markStamp[c] !== epoch) {
          this.#markStamp[c] = epoch
          this.#mark[c] = this.#markCount++
        }
      }
    }
    this.#reachWords = Math.max(1, (this.#markCount + 31) >>> 5)
  }

  /** Fills reach bits (and, with `grants`, rights per class) of every row of the current order. */
  #fillRows (grants: boolean): void {
    const rows = this.#orderLength + 1 // one spare row for an anonymous target
    const reachLength = rows * this.#reachWords
    const rowsLength = rows * this.#pcCount * this.#words
    if (this.#reach.length < reachLength) this.#reach = new Uint32Array(grow(reachLength))
    if (this.#rows.length < rowsLength) this.#rows = new Uint32Array(grow(rowsLength))
    this.#reach.fill(0, 0, reachLength)
    this.#rows.fill(0, 0, rowsLength)
    const graph = this.graph
    for (let i = 0; i < this.#orderLength; i++) {
      const node = this.#order[i]
      this.#fillRow(i, node, graph.parentIds(node), grants)
    }
  }

  #fillRow (row: number, node: number, parents: readonly number[], grants: boolean): void {
    const reach = this.#reach
    const rows = this.#rows
    const reachWords = this.#reachWords
    const words = this.#words
    const perRow = this.#pcCount * words
    const reachBase = row * reachWords
    const rowBase = row * perRow
    if (node >= 0 && this.#markStamp[node] === this.#markEpoch) {
      const m = this.#mark[node]
      reach[reachBase + (m >>> 5)] |= 1 << (m & 31)
    }
    for (let j = 0; j < parents.length; j++) {
      const ps = this.#slot[parents[j]]
      const preach = ps * reachWords
      for (let w = 0; w < reachWords; w++) reach[reachBase + w] |= reach[preach + w]
      const prow = ps * perRow
      for (let w = 0; w < perRow; w++) rows[rowBase + w] |= rows[prow + w]
    }
    if (grants && node >= 0 && this.#grantStamp[node] === this.#grantEpoch) {
      const grantBase = node * words
      for (let k = 0; k < this.#pcCount; k++) {
        if ((reach[reachBase + (k >>> 5)] & (1 << (k & 31))) === 0) continue
        const at = rowBase + k * words
        for (let w = 0; w < words; w++) rows[at + w] |= this.#grants[grantBase + w]
      }
    }
  }

  // ---------------------------------------------------------------- scratch space

  #ensureCapacity (): void {
    const graph = this.graph
    const words = graph.rights.words
    if (words !== this.#words) {
      this.#words = words
      this.#grants = new Uint32Array(this.#capacity * words)
      this.#grantStamp.fill(0)
      this.#result = new Uint32Array(words)
    }
    const limit = graph.idLimit
    if (limit <= this.#capacity) return
    const capacity = grow(limit)
    this.#capacity = capacity
    this.#stamp = resized(this.#stamp, capacity)
    this.#down = resized(this.#down, capacity)
    this.#grantStamp = resized(this.#grantStamp, capacity)
    this.#markStamp = resized(this.#markStamp, capacity)
    this.#userStamp = resized(this.#userStamp, capacity)
    this.#userNodes = new Int32Array(capacity)
    this.#mark = new Int32Array(capacity)
    this.#slot = new Int32Array(capacity)
    this.#nodeStack = new Int32Array(capacity)
    this.#indexStack = new Int32Array(capacity)
    this.#order = new Int32Array(capacity)
    const grants = new Uint32Array(capacity * words)
    grants.set(this.#grants)
    this.#grants = grants
  }

  #nextEpoch (): number {
    if (this.#epoch === 0xffffffff) {
      this.#stamp.fill(0)
      this.#epoch = 0
    }
    return ++this.#epoch
  }

  #nextDownEpoch (): number {
    if (this.#downEpoch === 0xffffffff) {
      this.#down.fill(0)
      this.#downEpoch = 0
    }
    return ++this.#downEpoch
  }

  #nextGrantEpoch (): number {
    if (this.#grantEpoch === 0xffffffff) {
      this.#grantStamp.fill(0)
      this.#grantEpoch = 0
    }
    return ++this.#grantEpoch
  }

  #nextUserEpoch (): number {
    if (this.#userEpoch === 0xffffffff) {
      this.#userStamp.fill(0)
      this.#userEpoch = 0
    }
    return ++this.#userEpoch
  }

  #nextMarkEpoch (): number {
    if (this.#markEpoch === 0xffffffff) {
      this.#markStamp.fill(0)
      this.#markEpoch = 0
    }
    return ++this.#markEpoch
  }
}

function grow (n: number): number {
  let size = 64
  while (size < n) size *= 2
  return size
}

function resized (array: Uint32Array, capacity: number): Uint32Array<ArrayBuffer> {
  const out = new Uint32Array(capacity)
  out.set(array)
  return out
}

function orWords (into: Uint32Array, base: number, from: RightsMask, words: number): void {
  const n = Math.min(words, from.length)
  for (let w = 0; w < n; w++) into[base + w] |= from[w]
}

function andWords (into: RightsMask, from: Uint32Array, base: number, words: number): void {
  for (let w = 0; w < words; w++) into[w] &= from[base + w]
}

function andNotWords (into: RightsMask, from: RightsMask, words: number): void {
  const n = Math.min(words, from.length)
  for (let w = 0; w < n; w++) into[w] &= ~from[w]
}
