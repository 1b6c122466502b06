/**
 * Who calls the administration API: bearer tokens mapped to NGAC users (config `admin.tokens`,
 * and the single `admin.token`, a super token of user `admin-token`).
 *
 * Only SHA-256 digests of the tokens are held (the config keeps no token). A presented token is
 * hashed once and compared with every configured digest by crypto.timingSafeEqual, without
 * stopping at a match, so the time taken says nothing about which digest (or how much of one)
 * matched.
 */
import { timingSafeEqual, createHash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { Config } from '../config.js'
import { PC } from '../graph/index.js'
import { NgacError } from '../errors.js'
import type { Policy } from '../policy.js'
import { ADMIN_POLICY_OA, type AdminRight } from '../pap/index.js'

/** The caller of an administration request. */
export interface Caller {
  /** The NGAC user the token maps to (the actor of the changes it makes). */
  readonly user: string
  /** A super token: every right, no checks; each use is logged. */
  readonly super: boolean
}

/** The user of the single `admin.token`. */
export const ADMIN_TOKEN_USER = 'admin-token'

interface Entry {
  readonly digest: Buffer
  readonly caller: Caller
}

/**
 * The configured callers, by token digest.
 *
 * @example
 * ```ts
 * const callers = new AdminCallers(config.admin)
 * callers.identify('Bearer s3cr3t-t0ken-0123456') // { user: 'alice', super: false } or undefined
 * ```
 */
export class AdminCallers {
  readonly #entries: readonly Entry[]
  /** Whether admin rights are checked (config `admin.authorization`). */
  readonly authorization: boolean

  constructor (admin: Config['admin']) {
    const entries: Entry[] = admin.tokens.map((t) => ({
      digest: Buffer.from(t.tokenSha256, 'hex'),
      caller: Object.freeze({ user: t.user, super: t.super === true })
    }))
    if (admin.tokenSha256 !== undefined) {
      entries.push({ digest: Buffer.from(admin.tokenSha256, 'hex'), caller: Object.freeze({ user: ADMIN_TOKEN_USER, super: true }) })
    }
    this.#entries = entries
    this.authorization = admin.authorization
  }

  /** Whether any token is configured (then the administration API needs one). */
  get enabled (): boolean {
    return this.#entries.length > 0
  }

  /** The caller an `Authorization: Bearer <token>` header names, or undefined for none or an unknown token. */
  identify (header: string | undefined): Caller | undefined {
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) return undefined
    // NOTE: one digest of the presented token, compared with every digest: no early exit.
    const given = createHash('sha256').update(header.slice(7), 'utf8').digest()
    let found: Caller | undefined
    for (const entry of this.#entries) {
      if (timingSafeEqual(given, entry.digest)) found = entry.caller
    }
    return found
  }

  /**
   * The caller of `request`, logged at warn when it holds a super token.
   * @throws NgacError NGAC_ERR_UNAUTHORIZED without a known bearer token.
   */
  authenticate (request: FastifyRequest): Caller {
    const caller = this.identify(request.headers.authorization)
    if (caller === undefined) {
      throw new NgacError('NGAC_ERR_UNAUTHORIZED', 'the administration API needs the header "Authorization: Bearer <admin token>"')
    }
    if (caller.super) request.log.warn({ route: `${request.method} ${request.routeOptions.url ?? request.url}`, user: caller.user }, 'super token used')
    return caller
  }
}

/**
 * What `caller` may read under admin authorization: `query` on a node. A null caller (authorization
 * off, no token configured) or a super one reads everything.
 *
 * @example
 * ```ts
 * const access = new ReadAccess(app.policy, request.caller, app.config.admin.authorization)
 * const visible = names.filter((name) => access.may(name))
 * access.require('ngac:admin:policy', 'exporting the policy') // throws NGAC_ERR_FORBIDDEN without query
 * ```
 */
export class ReadAccess {
  readonly #policy: Policy
  readonly #user: string | undefined

  constructor (policy: Policy, caller: Caller | null, authorization: boolean) {
    this.#policy = policy
    this.#user = authorization && caller !== null && !caller.super ? caller.user : undefined
  }

  /** Whether every node is visible (no check needed). */
  get all (): boolean {
    return this.#user === undefined
  }

  /** Whether the caller holds `right` (query by default) on the node `name`; a policy class is checked on the reserved object attribute. */
  may (name: string, right: AdminRight = 'query'): boolean {
    const user = this.#user
    if (user === undefined) return true
    const graph = this.#policy.graph
    const id = graph.idOf(name)
    const target = id >= 0 && graph.typeOf(id) === PC ? ADMIN_POLICY_OA : name
    return this.#policy.check({ user, right, target }).allowed
  }

  /** Whether the caller may see the node with this id. */
  mayId (id: number): boolean {
    return this.#user === undefined || this.may(this.#policy.graph.nameOf(id))
  }

  /**
   * Throws unless the caller holds `query` on `name`.
   * @throws NgacError NGAC_ERR_FORBIDDEN naming the right and the node.
   */
  require (name: string, what: string): void {
    if (this.may(name)) return
    const graph = this.#policy.graph
    const id = graph.idOf(name)
    const node = id >= 0 && graph.typeOf(id) === PC ? ADMIN_POLICY_OA : name
    throw new NgacError('NGAC_ERR_FORBIDDEN', `${what} needs the admin right 'query' on '${node}', which user '${String(this.#user)}' lacks`,
      { details: { right: 'query', node } })
  }
}
