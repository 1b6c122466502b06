/**
 * Decision routes (DESIGN section 5, Decisions): checks, batches of checks, and the access
 * review queries (privileges, capabilities, access control lists, explain). A plugin of their
 * own, so that no admin hook runs on the decision path.
 *
 * Every answer carries the revision it was computed at. The engine is synchronous, so a
 * handler reads one revision from start to end, a whole batch included. Unknown users, targets
 * and rights are denies or empty lists, never errors; malformed requests are
 * NGAC_ERR_VALIDATION (the schemas catch most; the engine the rest, e.g. both `user` and
 * `userAttributes`).
 *
 * With admin authorization on, the review queries check a caller who presents an admin token:
 * asking about another user (or an ACL's target) needs `query` on it. `POST /v1/check` and its
 * batch stay open: a PEP asks about its callers, and would otherwise need rights on every user.
 *
 * NOTE: handlers are synchronous functions returning their answer (fastify sends it), so the
 * check path costs no promise; `POST /v1/check` sends the engine's own decision object unless
 * an explanation is asked for.
 */
import { createHash } from 'node:crypto'
import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import { ReadAccess } from './admin-auth.js'
import { isNgacError, NgacError } from '../errors.js'
import { errorResponses } from './schemas.js'

// NOTE: Type.Ref is typed unknown without a context; Unsafe gives the referenced schema its type.
const Name = Type.Unsafe<string>(Type.Ref('Name'))
const Rights = Type.Unsafe<string[]>(Type.Ref('Rights'))
const Names = (description: string) => Type.Array(Name, { minItems: 1, maxItems: 1024, description })

const Subject = {
  user: Type.Optional(Name),
  userAttributes: Type.Optional(Names('An anonymous user assigned to these user attributes; in place of user.')),
  process: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'The process acting for the user: its prohibitions apply too.' }))
}
const Target = {
  target: Type.Optional(Name),
  targetAttributes: Type.Optional(Names('An anonymous object assigned to these object attributes; in place of target.'))
}
const Right = {
  right: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'The right to check; or give rights, which must all be held.' })),
  rights: Type.Optional(Rights)
}

const CheckItem = Type.Object({ ...Subject, ...Target, ...Right }, { additionalProperties: false })
const AtLeast = {
  atLeastRevision: Type.Optional(Type.Integer({ minimum: 0, description: 'Answer at this revision or later: a read-your-writes token (the revision a write answered). The server waits up to limits.revisionWaitMs, then answers 409 NGAC_ERR_REVISION_NOT_REACHED.' }))
}
const Privileges = Type.Array(Type.String(), { description: 'Right names, sorted.' })
const Revision = Type.Integer({ minimum: 0, description: 'The revision the answer was computed at.' })
const NextCursor = Type.Optional(Type.String({ description: 'Give it as `cursor` for the next page; absent on the last page.' }))

/** The decision API. */
export const decisionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { policy, metrics } = app
  const { maxPageSize, checkBatch } = app.config.limits
  const defaultPageSize = Math.min(app.config.limits.defaultPageSize, maxPageSize)
  const Page = {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: maxPageSize, default: defaultPageSize, description: 'Items per page.' })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'The nextCursor of the previous page, at the same revision.' }))
  }

  const { revisionWaitMs } = app.config.limits
  // Read-your-writes: a request with atLeastRevision ahead of the policy waits for it (bounded).
  // NOTE: a callback hook, so a request without the field (the hot path) costs no promise.
  app.addHook('preHandler', (request, _reply, done) => {
    const wanted = (request.body as { atLeastRevision?: number } | undefined)?.atLeastRevision ??
      (request.query as { atLeastRevision?: number } | undefined)?.atLeastRevision
    if (wanted === undefined || wanted <= policy.revision) {
      done()
      return
    }
    policy.waitForRevision(wanted, revisionWaitMs).then((reached) => {
      done(reached ? undefined : new NgacError('NGAC_ERR_REVISION_NOT_REACHED', `the policy is at revision ${policy.revision}, not yet at ${wanted}, after waiting ${revisionWaitMs} ms; retry later`))
    }, done)
  })

  // Review queries under admin authorization (DESIGN section 4): a caller who presents an admin
  // token may ask about itself, and about another user (or attributes, or an ACL's target) only
  // with `query` on it. Without a token the routes stay open, like /v1/check, for PEPs and
  // services on the trusted network. NOTE: no hook at all when authorization is off.
  const review = app.config.admin.authorization ? reviewGuard(app) : undefined
  const guarded = (about: (request: FastifyRequest) => ReviewAbout): { preHandler?: preHandlerAsyncHookHandler } =>
    review === undefined ? {} : { preHandler: async (request) => { review(request, about(request)) } }

  app.post('/v1/check', {
    schema: {
      tags: ['decisions'],
      summary: 'May the user do the right (or all the rights) on the target?',
      body: Type.Object({
        ...CheckItem.properties,
        ...AtLeast,
        explain: Type.Optional(Type.Boolean({ description: 'Also answer why, as POST /v1/explain does.' }))
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          allowed: Type.Boolean(),
          revision: Revision,
          explanation: Type.Optional(Type.Ref('Explanation'))
        }, { additionalProperties: false }),
        ...errorResponses(400, 413, 415)
      }
    }
  }, (request) => {
    const body = request.body
    const decision = policy.check(body)
    metrics.decision(decision.allowed)
    if (body.explain !== true) return decision
    return { allowed: decision.allowed, revision: decision.revision, explanation: policy.explain(body) }
  })

  app.post('/v1/check/batch', {
    schema: {
      tags: ['decisions'],
      summary: `Many checks at one revision (at most limits.checkBatch, ${checkBatch}); results in the order of the checks`,
      body: Type.Object({
        checks: Type.Array(CheckItem, { description: `At most ${checkBatch} checks (limits.checkBatch; 413 beyond), as POST /v1/check takes them (without explain).` }),
        ...AtLeast
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          results: Type.Array(Type.Object({ allowed: Type.Boolean() }, { additionalProperties: false })),
          revision: Revision
        }, { additionalProperties: false }),
        ...errorResponses(400, 413, 415)
      }
    },
    // Refuses an oversized batch before its items are validated.
    preValidation: async (request) => {
      const checks = (request.body as { checks?: unknown } | null | undefined)?.checks
      if (Array.isArray(checks) && checks.length > checkBatch) {
        throw new NgacError('NGAC_ERR_BATCH_TOO_LARGE', `the batch has ${checks.length} checks, more than ${checkBatch} (limits.checkBatch); split it`,
          { details: { limit: 'checkBatch', max: checkBatch } })
      }
    }
  }, (request) => {
    const checks = request.body.checks
    const revision = policy.revision
    const results: { allowed: boolean }[] = new Array(checks.length)
    for (let i = 0; i < checks.length; i++) {
      try {
        results[i] = { allowed: policy.check(checks[i]).allowed }
      } catch (err) {
        if (isNgacError(err, 'NGAC_ERR_VALIDATION')) {
          throw new NgacError('NGAC_ERR_VALIDATION', `checks[${i}]: ${err.message}`, { details: { index: i }, cause: err })
        }
        throw err
      }
    }
    for (let i = 0; i < results.length; i++) metrics.decision(results[i].allowed)
    return { results, revision }
  })

  app.get('/v1/privileges', {
    ...guarded((request) => subjectOf(request.query as SubjectQuery)),
    schema: {
      tags: ['decisions'],
      summary: 'The rights the user holds on the target',
      querystring: Type.Object({ ...Subject, ...Target, ...AtLeast }, { additionalProperties: false }),
      response: {
        200: Type.Object({ privileges: Privileges, revision: Revision }, { additionalProperties: false }),
        ...errorResponses(400, 401, 403)
      }
    }
  }, (request) => {
    const revision = policy.revision
    return { privileges: policy.privileges(request.query), revision }
  })

  /** One page of a review query's answer, at the current revision; the cursor pins revision and query. */
  function page<T> (query: { cursor?: string, limit?: number }, key: string, compute: () => T[]): { items: T[], revision: number, nextCursor?: string } {
    const revision = policy.revision
    const offset = query.cursor === undefined ? 0 : readCursor(query.cursor, revision, key)
    const end = offset + (query.limit ?? defaultPageSize)
    const all = compute()
    const items = all.slice(offset, end)
    return end < all.length ? { items, revision, nextCursor: writeCursor(revision, end, key) } : { items, revision }
  }

  app.get('/v1/capabilities', {
    ...guarded((request) => subjectOf(request.query as SubjectQuery)),
    schema: {
      tags: ['decisions'],
      summary: 'Every node the user holds any right on, with the rights, by name, in pages',
      querystring: Type.Object({ ...Subject, ...Page, ...AtLeast }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          capabilities: Type.Array(Type.Object({ target: Type.String(), privileges: Privileges }, { additionalProperties: false })),
          revision: Revision,
          nextCursor: NextCursor
        }, { additionalProperties: false }),
        ...errorResponses(400, 401, 403)
      }
    }
  }, (request) => {
    const query = request.query
    const key = queryKey(['capabilities', query.user, query.userAttributes, query.process])
    const { items, revision, nextCursor } = page(query, key, () => policy.capabilities(query))
    return nextCursor === undefined ? { capabilities: items, revision } : { capabilities: items, revision, nextCursor }
  })

  app.get('/v1/acl', {
    ...guarded((request) => {
      const { target, targetAttributes } = request.query as { target?: string, targetAttributes?: string[] }
      return { user: undefined, nodes: target !== undefined ? [target] : (targetAttributes ?? []), what: 'the access control list of' }
    }),
    schema: {
      tags: ['decisions'],
      summary: 'Every user holding any right on the target, with the rights, by name, in pages',
      querystring: Type.Object({ ...Target, process: Subject.process, ...Page, ...AtLeast }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          acl: Type.Array(Type.Object({ user: Type.String(), privileges: Privileges }, { additionalProperties: false })),
          revision: Revision,
          nextCursor: NextCursor
        }, { additionalProperties: false }),
        ...errorResponses(400, 401, 403)
      }
    }
  }, (request) => {
    const query = request.query
    const key = queryKey(['acl', query.target, query.targetAttributes, query.process])
    const { items, revision, nextCursor } = page(query, key, () => policy.acl(query))
    return nextCursor === undefined ? { acl: items, revision } : { acl: items, revision, nextCursor }
  })

  app.post('/v1/explain', {
    ...guarded((request) => subjectOf(request.body as SubjectQuery)),
    schema: {
      tags: ['decisions'],
      summary: 'Why the user holds what it holds on the target: per policy class, the granting paths, and the prohibitions',
      body: Type.Object({ ...Subject, ...Target, ...AtLeast }, { additionalProperties: false }),
      response: {
        200: Type.Ref('Explanation'),
        ...errorResponses(400, 401, 403, 413, 415)
      }
    }
  }, (request) => policy.explain(request.body))
}

/** Who or what a review query is about: the user asked about (when it names one) and the nodes that need `query`. */
interface ReviewAbout {
  readonly user: string | undefined
  readonly nodes: readonly string[]
  readonly what: string
}

interface SubjectQuery {
  readonly user?: string
  readonly userAttributes?: readonly string[]
}

function subjectOf (query: SubjectQuery): ReviewAbout {
  return query.user !== undefined
    ? { user: query.user, nodes: [query.user], what: 'a review query about user' }
    : { user: undefined, nodes: query.userAttributes ?? [], what: 'a review query about user attribute' }
}

/** The check of a review query's caller, when it presents a token: `query` on what it asks about, unless it asks about itself. */
function reviewGuard (app: FastifyInstance): (request: FastifyRequest, about: ReviewAbout) => void {
  const { adminCallers, policy } = app
  return (request, about) => {
    if (request.headers.authorization === undefined) return
    const caller = adminCallers.authenticate(request)
    request.caller = caller
    if (caller.super || (about.user !== undefined && about.user === caller.user)) return
    const access = new ReadAccess(policy, caller, true)
    for (const node of about.nodes) access.require(node, `${about.what} '${node}'`)
  }
}

/** What a page cursor holds: the revision, the offset of the next item, and the query's key. */
interface CursorState {
  readonly r: number
  readonly o: number
  readonly k: string
}

/** A short digest of the query a cursor belongs to, so that it is refused with another query. */
function queryKey (parts: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 16)
}

function writeCursor (revision: number, offset: number, key: string): string {
  const state: CursorState = { r: revision, o: offset, k: key }
  return Buffer.from(JSON.stringify(state)).toString('base64url')
}

/**
 * The offset a cursor points at.
 * @throws NgacError NGAC_ERR_INVALID_CURSOR when this server did not give it for this query, or
 *   gave it at another revision (the list may have shifted since).
 */
function readCursor (cursor: string, revision: number, key: string): number {
  let state: Partial<CursorState> | null
  try {
    state = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Partial<CursorState> | null
  } catch {
    state = null
  }
  if (state === null || typeof state !== 'object' || !Number.isSafeInteger(state.r) || !Number.isSafeInteger(state.o) ||
    (state.o as number) < 0 || state.k !== key) {
    throw new NgacError('NGAC_ERR_INVALID_CURSOR', 'the cursor was not given by this server for this query; start again without a cursor')
  }
  if (state.r !== revision) {
    throw new NgacError('NGAC_ERR_INVALID_CURSOR', `the policy changed since the cursor was given (revision ${String(state.r)}, now ${revision}), so the list may have shifted; start again without a cursor`)
  }
  return state.o as number
}
