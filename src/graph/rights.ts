/**
 * Access rights: the catalogue that numbers them and the bitmask operations the engine uses.
 *
 * A rights mask is a Uint32Array; bit i of word i >> 5 stands for the right numbered i.
 * Admin rights take the first numbers, declared resource rights follow. Masks of different
 * lengths combine as if the shorter were padded with zero words, so a mask built before the
 * catalogue grew stays valid. Every operation is a loop over a handful of words, allocation free
 * unless it says it returns a new mask.
 */
import { NgacError } from '../errors.js'

/** The admin rights of DESIGN section 4, checked on the graph itself when admin authorization is on. */
export const ADMIN_RIGHTS = Object.freeze([
  'create', 'delete', 'update',
  'assign', 'assign_to', 'deassign', 'deassign_from',
  'associate', 'associate_to', 'dissociate', 'dissociate_from',
  'prohibit', 'query'
] as const)

/** The wildcard: every right, resource and admin, including those declared later. */
export const ALL_RIGHTS = '*'

/** A set of rights as a bitmask over a {@link RightsCatalog}. */
export type RightsMask = Uint32Array<ArrayBuffer>

const MAX_RIGHT_NAME = 128
// eslint-disable-next-line no-control-regex
const BAD_RIGHT_CHARS = /[\u0000-\u0020\u007f,*]/

/**
 * Numbers every right of a policy: admin rights first, then the declared resource rights.
 *
 * @example
 * ```ts
 * const catalog = new RightsCatalog(['read', 'write'])
 * const mask = catalog.mask(['read'])
 * catalog.names(mask) // ['read']
 * ```
 */
export class RightsCatalog {
  readonly resourceRights: readonly string[]
  /** Words per mask. */
  readonly words: number
  readonly #names: readonly string[]
  readonly #index: ReadonlyMap<string, number>
  readonly #full: RightsMask

  /** @throws NgacError NGAC_ERR_INVALID_RIGHT for a name that is empty, reserved or repeated. */
  constructor (resourceRights: readonly string[] = []) {
    const names: string[] = [...ADMIN_RIGHTS]
    const index = new Map<string, number>()
    for (let i = 0; i < names.length; i++) index.set(names[i], i)
    for (const right of resourceRights) {
      validateRightName(right)
      if (index.has(right)) {
        const why = (ADMIN_RIGHTS as readonly string[]).includes(right)
          ? 'it is an admin right'
          : 'it is declared twice'
        throw new NgacError('NGAC_ERR_INVALID_RIGHT', `cannot declare resource right '${right}': ${why}`)
      }
      index.set(right, names.length)
      names.push(right)
    }
    this.resourceRights = Object.freeze([...resourceRights])
    this.#names = Object.freeze(names)
    this.#index = index
    this.words = Math.max(1, Math.ceil(names.length / 32))
    this.#full = new Uint32Array(this.words)
    for (let i = 0; i < names.length; i++) this.#full[i >>> 5] |= 1 << (i & 31)
  }

  /** How many rights are numbered, admin and resource. */
  get size (): number {
    return this.#names.length
  }

  /** The number of a right, or -1 when the catalogue does not know it. */
  indexOf (right: string): number {
    return this.#index.get(right) ?? -1
  }

  /** Whether `right` is a declared resource right or an admin right. */
  has (right: string): boolean {
    return this.#index.has(right)
  }

  /** Whether `right` is an admin right. */
  isAdmin (right: string): boolean {
    const i = this.indexOf(right)
    return i >= 0 && i < ADMIN_RIGHTS.length
  }

  /**
   * A new mask of the named rights; `*` sets every right.
   * @throws NgacError NGAC_ERR_UNKNOWN_RIGHT naming the first unknown right and `what` it was for.
   */
  mask (rights: Iterable<string>, what = 'rights'): RightsMask {
    const mask = new Uint32Array(this.words)
    for (const right of rights) {
      if (right === ALL_RIGHTS) {
        mask.set(this.#full)
        continue
      }
      const i = this.indexOf(right)
      if (i < 0) {
        throw new NgacError('NGAC_ERR_UNKNOWN_RIGHT',
          `unknown right '${right}' in ${what}: declare it as a resource right first (or use an admin right or '*')`)
      }
      mask[i >>> 5] |= 1 << (i & 31)
    }
    return mask
  }

  /** A new mask with every right set. */
  full (): RightsMask {
    return this.#full.slice()
  }

  /** A new empty mask. */
  empty (): RightsMask {
    return new Uint32Array(this.words)
  }

  /** The names of the rights in `mask`, sorted. */
  names (mask: RightsMask): string[] {
    const out: string[] = []
    const n = Math.min(this.#names.length, mask.length * 32)
    for (let i = 0; i < n; i++) {
      if ((mask[i >>> 5] & (1 << (i & 31))) !== 0) out.push(this.#names[i])
    }
    return out.sort()
  }
}

/** @throws NgacError NGAC_ERR_INVALID_RIGHT when `right` cannot be a resource right's name. */
export function validateRightName (right: unknown): asserts right is string {
  if (typeof right !== 'string' || right.length === 0 || right.length > MAX_RIGHT_NAME || BAD_RIGHT_CHARS.test(right)) {
    throw new NgacError('NGAC_ERR_INVALID_RIGHT',
      `invalid right name ${JSON.stringify(right)}: use 1 to ${MAX_RIGHT_NAME} characters without spaces, commas, '*' or control characters`)
  }
}

/** Whether `mask` has the right numbered `index`. */
export function maskHas (mask: RightsMask, index: number): boolean {
  const w = index >>> 5
  return w < mask.length && (mask[w] & (1 << (index & 31))) !== 0
}

/** into |= from */
export function maskOr (into: RightsMask, from: RightsMask): void {
  const n = Math.min(into.length, from.length)
  for (let i = 0; i < n; i++) into[i] |= from[i]
}

/** into &= from (words missing from `from` count as zero). */
export function maskAnd (into: RightsMask, from: RightsMask): void {
  const n = Math.min(into.length, from.length)
  for (let i = 0; i < n; i++) into[i] &= from[i]
  for (let i = n; i < into.length; i++) into[i] = 0
}

/** into &= ~from */
export function maskAndNot (into: RightsMask, from: RightsMask): void {
  const n = Math.min(into.length, from.length)
  for (let i = 0; i < n; i++) into[i] &= ~from[i]
}

/** Whether no right is set. */
export function maskIsEmpty (mask: RightsMask): boolean {
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) return false
  return true
}

/** Whether every right of `required` is in `mask`. */
export function maskContains (mask: RightsMask, required: RightsMask): boolean {
  for (let i = 0; i < required.length; i++) {
    const have = i < mask.length ? mask[i] : 0
    if ((required[i] & ~have) !== 0) return false
  }
  return true
}

/** Whether two masks hold the same rights. */
export function maskEquals (a: RightsMask, b: RightsMask): boolean {
  const n = Math.max(a.length, b.length)
  for (let i = 0; i < n; i++) {
    if ((i < a.length ? a[i] : 0) !== (i < b.length ? b[i] : 0)) return false
  }
  return true
}
