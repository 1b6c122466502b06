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
 * The evaluator reads the graph as it is now; by default it keeps no state across calls but
 * scratch space.
 *
 * With the `memo` option (the decision engine turns it on with its cache), decisions keep per
 * revision (DESIGN section 7), in two direct-mapped tables of that many slots:
 * - per named user, the user side: its ancestors, the prohibitions bound to them and, per
 *   association target of its attributes, the union of the rights granted there (sorted by
 *   target id);
 * - per named target, the target side: its ancestors (sorted, for prohibition containers) and,
 *   per ancestor that is an association target, the policy classes of the target it reaches
 *   (a bitset; targets in more than 32 classes are not memoized).
 * With both memos a decision is a merge of two small sorted arrays and a few bit operations: it
 * reads no graph structure at all. With the user's only, it skips the walk up from the user and
 * the associations of its attributes. A slot is claimed on the first decision for its user or
 * target and filled on the second, so what comes once pays nothing (see bench/RESULTS.md for
 * the figures). The memos trust the revision as the decision cache does: changes inside an open
 * `graph.batch` keep the old revision, so an evaluator with memos must not decide in the middle
 * of a batch.
 */
import {
  PC, U, UA, OA,
  maskIsEmpty,
  type PolicyGraph,
  type Prohibition,
  type RightsMask
} from '../graph/index.js'
import type { Evaluator, RightsByNode, Subject, Target } from './evaluator.js'

/** Options of a {@link ProductionEvaluator}. */
export interface ProductionEvaluatorOptions {
  /**
   * Slots of the per-user and per-target memos, rounded up to a power of two (at most 2^20);
   * 0, the default, for none. See the file's header for when memos are safe.
   */
  readonly memo?: number
}

/** What the user side of a decision found for one named user, at one revision. */
class UserMemo {
  stamp = 0
  user = -1
  /** False while the user has been seen only once at this generation: the slot is claimed, not filled. */
  filled = false
  /** The user and its ancestors. */
  nodes = new Int32Array(16)
  nodeCount = 0
  /** The prohibitions whose subject is one of `nodes`. */
  readonly bound: Prohibition[] = []
  /** Association targets of the user's attributes, ascending, with the union of the rights on each (`words` per target). */
  grantAt = new Int32Array(16)
  grantRights = new Uint32Array(16)
  grantCount = 0
}

/** What the target side of a decision found for one named target, at one revision. */
class TargetMemo {
  stamp = 0
  target = -1
  filled = false
  /** The target and its ancestors, ascending. */
  ancestors = new Int32Array(16)
  ancestorCount = 0
  /** Ancestors (or the target) that are association targets, each with the bitset of the target's policy classes it reaches. */
  at = new Int32Array(8)
  atReach = new Uint32Array(8)
  atCount = 0
  /** The target's policy classes (at most 32). */
  pcCount = 0
}

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

  // The memos: direct-mapped by user id and by target id, valid for one revision and one mask
  // width; slots are created on first use.
  readonly #userMemos: (UserMemo | null)[] = []
  readonly #targetMemos: (TargetMemo | null)[] = []
  #memoMask = -1
  #memoGeneration = 0
  #memoRevision = -1
  #memoWords = 0
  #memoRows = new Uint32Array(32) // 32 policy classes x words, for decisions from both memos

  constructor (graph: PolicyGraph, options: ProductionEvaluatorOptions = {}) {
    this.graph = graph
    const slots = Math.min(options.memo ?? 0, 1 << 20)
    if (slots > 0) {
      let size = 1
      while (size < slots) size *= 2
      for (let i = 0; i < size; i++) {
        this.#userMemos.push(null)
        this.#targetMemos.push(null)
      }
      this.#memoMask = size - 1
    }
  }

  privileges (subject: Subject, target: Target): RightsMask {
    return this.#decide(subject, target) ? this.#result.slice(0, this.#words) : this.graph.rights.empty()
  }

  privilegesInto (subject: Subject, target: Target, into: RightsMask): void {
    const words = this.graph.rights.words
    if (this.#decide(subject, target)) {
      const result = this.#result
      for (let w = 0; w < words; w++) into[w] = result[w]
    } else {
      into.fill(0, 0, words)
    }
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
    if (!this.#validTarget(target)) return false
    if (this.#memoMask >= 0 && subject.user >= 0) {
      const memo = this.#userMemo(subject.user)
      if (memo !== null) {
        const targetMemo = target.target >= 0 ? this.#targetMemo(target.target) : null
        if (targetMemo !== null) return this.#decideFromMemos(memo, targetMemo, subject.process)
        return this.#decideWithMemo(memo, subject, target)
      }
    }
    if (!this.#userSide(subject)) return false
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
    return this.#finishDecision(target)
  }

  /**
   * {@link #decide} from the memos of a named user and a named target: per policy class of the
   * target, the union of the user's rights on the target's ancestors that reach that class; their
   * intersection; minus the prohibitions satisfied for the target.
   */
  #decideFromMemos (user: UserMemo, target: TargetMemo, process: string | undefined): boolean {
    const classes = target.pcCount
    if (classes === 0 || user.grantCount === 0 || target.atCount === 0) return false
    const words = this.#words
    if (this.#memoRows.length < 32 * words) this.#memoRows = new Uint32Array(32 * words)
    const rows = this.#memoRows
    rows.fill(0, 0, classes * words)
    const grantAt = user.grantAt
    const grantRights = user.grantRights
    let any = false
    // Both lists ascending: one merge.
    let g = 0
    for (let i = 0; i < target.atCount && g < user.grantCount; i++) {
      const at = target.at[i]
      while (g < user.grantCount && grantAt[g] < at) g++
      if (g === user.grantCount || grantAt[g] !== at) continue
      any = true
      const from = g * words
      let reach = target.atReach[i]
      while (reach !== 0) {
        const k = 31 - Math.clz32(reach & -reach)
        reach &= reach - 1
        const base = k * words
        for (let w = 0; w < words; w++) rows[base + w] |= grantRights[from + w]
      }
    }
    if (!any) return false
    const result = this.#result
    for (let w = 0; w < words; w++) result[w] = rows[w]
    for (let k = 1; k < classes; k++) andWords(result, rows, k * words, words)
    const bound = user.bound
    for (let i = 0; i < bound.length; i++) {
      if (this.#satisfiedInMemo(bound[i], target)) andNotWords(result, bound[i].mask, words)
    }
    if (process !== undefined) {
      const more = this.graph.processProhibitions(process)
      for (let i = 0; i < more.length; i++) {
        if (this.#satisfiedInMemo(more[i], target)) andNotWords(result, more[i].mask, words)
      }
    }
    return true
  }

  /** Whether `p` is satisfied for the target of `memo`, from its sorted ancestors. */
  #satisfiedInMemo (p: Prohibition, memo: TargetMemo): boolean {
    const containers = p.containers
    for (let i = 0; i < containers.length; i++) {
      const hit = sortedHas(memo.ancestors, memo.ancestorCount, containers[i]) !== p.complements[i]
      if (p.intersection && !hit) return false
      if (!p.intersection && hit) return true
    }
    return p.intersection
  }

  /** {@link #decide} for a named user, with the user side taken from (or first put in) the memo. */
  #decideWithMemo (memo: UserMemo, subject: Subject, target: Target): boolean {
    const bound = this.#bound
    bound.length = 0
    for (let i = 0; i < memo.bound.length; i++) bound.push(memo.bound[i])
    if (subject.process !== undefined) {
      const more = this.graph.processProhibitions(subject.process)
      for (let j = 0; j < more.length; j++) bound.push(more[j])
    }
    this.#walkTarget(target)
    const graph = this.graph
    let toTarget = 0
    for (let i = 0; i < this.#orderLength; i++) toTarget += graph.associationsTo(this.#order[i]).length
    if (memo.grantCount === 0 || toTarget === 0) return false
    this.#grantList.length = 0
    const words = this.#words
    if (memo.grantCount <= toTarget) {
      const epoch = this.#nextGrantEpoch()
      for (let i = 0; i < memo.grantCount; i++) {
        const at = memo.grantAt[i]
        if (this.#stamp[at] !== this.#epoch) continue
        this.#grantStamp[at] = epoch
        const base = at * words
        const from = i * words
        for (let w = 0; w < words; w++) this.#grants[base + w] = memo.grantRights[from + w]
        this.#grantList.push(at)
      }
    } else {
      const epoch = this.#nextUserEpoch()
      for (let i = 0; i < memo.nodeCount; i++) this.#userStamp[memo.nodes[i]] = epoch
      this.#grantsFromTarget()
    }
    return this.#finishDecision(target)
  }

  /**
   * The memo of a named user at the current revision, or null: for an id that is not a live U
   * node, and for a user not seen before at this revision. NOTE: a memo is filled on the second
   * decision for its user only, so users that come once (a cold start, a scan) pay nothing for it;
   * filling costs about one more decision.
   */
  #userMemo (user: number): UserMemo | null {
    const graph = this.graph
    if (!graph.isNode(user) || graph.typeOf(user) !== U) return null
    this.#syncMemos()
    const words = this.#words
    const slot = user & this.#memoMask
    let memo = this.#userMemos[slot]
    if (memo === null) {
      memo = new UserMemo()
      this.#userMemos[slot] = memo
    }
    if (memo.stamp !== this.#memoGeneration || memo.user !== user) {
      memo.stamp = this.#memoGeneration
      memo.user = user
      memo.filled = false
      return null
    }
    if (memo.filled) return memo
    // Fill: the user side's walk, then every grant of its attributes.
    this.#userSide({ user, attributes: NO_IDS, process: undefined })
    this.#grantsFromUser(false)
    const count = this.#userCount
    if (memo.nodes.length < count) memo.nodes = new Int32Array(grow(count))
    memo.nodes.set(this.#userNodes.subarray(0, count))
    memo.nodeCount = count
    memo.bound.length = 0
    for (let i = 0; i < this.#bound.length; i++) memo.bound.push(this.#bound[i])
    const grants = this.#grantList.length
    if (memo.grantAt.length < grants) memo.grantAt = new Int32Array(grow(grants))
    if (memo.grantRights.length < grants * words) memo.grantRights = new Uint32Array(grow(grants * words))
    this.#grantList.sort(ascending)
    for (let i = 0; i < grants; i++) {
      const at = this.#grantList[i]
      memo.grantAt[i] = at
      for (let w = 0; w < words; w++) memo.grantRights[i * words + w] = this.#grants[at * words + w]
    }
    memo.grantCount = grants
    memo.filled = true
    return memo
  }

  /**
   * The memo of a named target at the current revision, or null: for a target not seen before
   * at this revision (claimed, as for users), and for one in more than 32 policy classes.
   */
  #targetMemo (target: number): TargetMemo | null {
    this.#syncMemos()
    const slot = target & this.#memoMask
    let memo = this.#targetMemos[slot]
    if (memo === null) {
      memo = new TargetMemo()
      this.#targetMemos[slot] = memo
    }
    if (memo.stamp !== this.#memoGeneration || memo.target !== target) {
      memo.stamp = this.#memoGeneration
      memo.target = target
      memo.filled = false
      memo.pcCount = -1
      return null
    }
    if (memo.filled) return memo
    if (memo.pcCount === -2) return null // more than 32 classes: never memoized at this revision
    // Fill: the target's walk, its classes numbered, one reach row per ancestor.
    const graph = this.graph
    this.#bound.length = 0
    this.#walkUp(this.#single(target), false)
    this.#markPolicyClasses()
    if (this.#pcCount > 32) {
      memo.pcCount = -2
      return null
    }
    this.#markContainers(this.#bound)
    this.#fillRows(false)
    const count = this.#orderLength
    if (memo.ancestors.length < count) memo.ancestors = new Int32Array(grow(count))
    memo.ancestors.set(this.#order.subarray(0, count))
    memo.ancestors.subarray(0, count).sort()
    memo.ancestorCount = count
    let ats = 0
    for (let i = 0; i < count; i++) if (graph.associationsTo(this.#order[i]).length > 0) ats++
    if (memo.at.length < ats) {
      memo.at = new Int32Array(grow(ats))
      memo.atReach = new Uint32Array(grow(ats))
    }
    // NOTE: with no containers marked, a row's reach is one word: its policy classes.
    ats = 0
    for (let i = 0; i < count; i++) {
      if (graph.associationsTo(this.#order[i]).length === 0) continue
      memo.at[ats] = this.#order[i]
      memo.atReach[ats] = this.#reach[i]
      ats++
    }
    sortPairs(memo.at, memo.atReach, ats)
    memo.atCount = ats
    memo.pcCount = this.#pcCount
    memo.filled = true
    return memo
  }

  /** Starts a new memo generation when the revision or the mask width changed. */
  #syncMemos (): void {
    this.#ensureCapacity()
    const graph = this.graph
    if (graph.revision === this.#memoRevision && this.#words === this.#memoWords) return
    this.#memoRevision = graph.revision
    this.#memoWords = this.#words
    if (this.#memoGeneration === 0xffffffff) {
      for (const m of this.#userMemos) if (m !== null) m.stamp = 0
      for (const m of this.#targetMemos) if (m !== null) m.stamp = 0
      this.#memoGeneration = 0
    }
    this.#memoGeneration++
  }

  /** The end of a decision: the target's rows from the gathered grants, then the prohibitions. */
  #finishDecision (target: Target): boolean {
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

const NO_IDS: readonly number[] = Object.freeze([])

function ascending (a: number, b: number): number {
  return a - b
}

/** Whether the first `count` entries of the ascending `list` hold `value` (binary search). */
function sortedHas (list: Int32Array, count: number, value: number): boolean {
  let lo = 0
  let hi = count - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const v = list[mid]
    if (v === value) return true
    if (v < value) lo = mid + 1
    else hi = mid - 1
  }
  return false
}

/** Sorts the first `count` keys ascending, moving the values along (insertion sort: a handful of entries). */
function sortPairs (keys: Int32Array, values: Uint32Array, count: number): void {
  for (let i = 1; i < count; i++) {
    const key = keys[i]
    const value = values[i]
    let j = i - 1
    while (j >= 0 && keys[j] > key) {
      keys[j + 1] = keys[j]
      values[j + 1] = values[j]
      j--
    }
    keys[j + 1] = key
    values[j + 1] = value
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
