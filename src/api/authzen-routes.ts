/**
 * OpenID AuthZEN Authorization API 1.0 (DESIGN section 5): access evaluation, batches of
 * evaluations, subject/resource/action search and the discovery document, mapped onto NGAC.
 *
 * Mapping: subject.id names a U node, resource.id a node (not a PC), action.name a right. A
 * node's `type` property, when it has one, is its AuthZEN type: a request naming another type
 * is a deny (or no search result). A subject (resource) whose id names no node is an anonymous
 * user (object) assigned to the UAs (OAs) named `key=value` for each of its `properties`; when
 * none exists the request is a deny.
 *
 * Unlike /v1/*, these routes ignore unknown fields, as the AuthZEN spec requires. A deny is 200
 * `{decision: false}`; a malformed request is 400; a malformed batch item is a false decision
 * with `context.error` and does not fail the batch.
 */
import { createHash } from 'node:crypto'
import { Type, type Static } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { isNgacError, NgacError } from '../errors.js'
import { O, OA, PC, U, UA, type PolicyGraph } from '../graph/index.js'
import type { CheckRequest, SubjectRequest, TargetRequest } from '../pdp/index.js'
import type { Policy } from '../policy.js'
import { sendError, toNgacError } from './http.js'
import { errorResponses } from './schemas.js'

const Properties = Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Attributes: for a subject or resource that names no node, each `key: value` names the attribute `key=value`.' }))
const Id = Type.String({ minLength: 1, maxLength: 1024 })
const EntityType = Type.String({ minLength: 1, maxLength: 1024, description: 'The AuthZEN type; compared with the node\'s `type` property when it has one.' })

const Subject = Type.Object({ type: EntityType, id: Id, properties: Properties }, { description: 'A user: id is the name of a U node.' })
const Resource = Type.Object({ type: EntityType, id: Id, properties: Properties }, { description: 'A resource: id is the name of a node (not a policy class).' })
const Action = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 128, description: 'The access right.' }),
  properties: Properties
}, { description: 'An action: name is the access right.' })
const Context = Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Accepted and ignored: NGAC decisions depend on the policy only.' }))
const SearchedSubject = Type.Object({ type: EntityType, id: Type.Optional(Type.String()), properties: Properties })
const SearchedResource = Type.Object({ type: EntityType, id: Type.Optional(Type.String()), properties: Properties })
const PageRequest = Type.Optional(Type.Object({
  token: Type.Optional(Type.String({ maxLength: 2048, description: 'The next_token of the previous page.' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, description: 'Results per page (at most limits.maxPageSize).' }))
}))
const PageResponse = Type.Object({
  next_token: Type.String({ description: 'Give it as page.token for the next page; empty on the last page.' }),
  count: Type.Integer({ minimum: 0, description: 'Results in this page.' }),
  total: Type.Integer({ minimum: 0, description: 'Results in all pages.' })
}, { additionalProperties: false })
const EntityResult = Type.Object({ type: Type.String(), id: Type.String() }, { additionalProperties: false })
const ItemError = Type.Object({
  error: Type.Object({ status: Type.Integer(), message: Type.String() }, { additionalProperties: false })
}, { additionalProperties: false })
const ActionResult = Type.Object({ name: Type.String() }, { additionalProperties: false })
const SearchResults = (item: typeof EntityResult | typeof ActionResult, what: string) => ({
  200: Type.Object({ results: Type.Array(item, { description: what }), page: PageResponse }, { additionalProperties: false }),
  ...errorResponses(400, 413)
})
const Decision = Type.Object({ decision: Type.Boolean(), context: Type.Optional(ItemError) }, { additionalProperties: false })

type SubjectT = Static<typeof Subject>
type ResourceT = Static<typeof Resource>
type ActionT = Static<typeof Action>
type DecisionT = Static<typeof Decision>

const SEMANTICS = ['execute_all', 'deny_on_first_deny', 'permit_on_first_permit'] as const

/** The AuthZEN routes. */
export const authzenRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { policy, metrics } = app
  const { maxPageSize, checkBatch } = app.config.limits
  const defaultPageSize = Math.min(app.config.limits.defaultPageSize, maxPageSize)
  const publicUrl = app.config.publicUrl?.replace(/\/+$/, '')
  const tags = ['decisions']

  // The AuthZEN certification asks 400, not 415, for a body that is not JSON.
  app.setErrorHandler((err, request, reply) => {
    const e = toNgacError(err)
    return sendError(e.code === 'NGAC_ERR_UNSUPPORTED_MEDIA_TYPE'
      ? new NgacError('NGAC_ERR_VALIDATION', 'AuthZEN requests are JSON: send the body with Content-Type: application/json', { cause: err })
      : e, request, reply)
  })

  app.post('/access/v1/evaluation', {
    schema: {
      tags,
      summary: 'AuthZEN access evaluation: may the subject do the action on the resource?',
      body: Type.Object({ subject: Subject, action: Action, resource: Resource, context: Context }),
      response: { 200: Decision, ...errorResponses(400, 413) }
    }
  }, (request) => {
    const { subject, action, resource } = request.body
    const decision = evaluate(policy, subject, action, resource)
    metrics.decision(decision)
    return { decision }
  })

  app.post('/access/v1/evaluations', {
    schema: {
      tags,
      summary: `AuthZEN access evaluations: many evaluations (at most limits.checkBatch, ${checkBatch}), results in request order`,
      description: 'Top-level subject, action, resource and context are defaults; an item\'s own entity replaces the default whole. Without items (or with an empty list) it answers as /access/v1/evaluation does.',
      body: Type.Object({
        subject: Type.Optional(Subject),
        action: Type.Optional(Action),
        resource: Type.Optional(Resource),
        context: Context,
        evaluations: Type.Optional(Type.Array(Type.Record(Type.String(), Type.Unknown()), { maxItems: checkBatch })),
        options: Type.Optional(Type.Object({
          evaluations_semantic: Type.Optional(Type.Unsafe<(typeof SEMANTICS)[number]>({ type: 'string', enum: [...SEMANTICS], default: 'execute_all', description: 'execute_all (the default), deny_on_first_deny or permit_on_first_permit: stop at the first deny (permit), which is the last result.' }))
        }))
      }),
      response: {
        200: Type.Object({
          evaluations: Type.Optional(Type.Array(Decision)),
          decision: Type.Optional(Type.Boolean())
        }, { additionalProperties: false, description: '`evaluations` for a batch; `decision` alone when the request had no items.' }),
        ...errorResponses(400, 413)
      }
    },
    preValidation: async (request) => {
      const items = (request.body as { evaluations?: unknown } | null | undefined)?.evaluations
      if (Array.isArray(items) && items.length > checkBatch) {
        throw new NgacError('NGAC_ERR_BATCH_TOO_LARGE', `the request has ${items.length} evaluations, more than ${checkBatch} (limits.checkBatch); split it`,
          { details: { limit: 'checkBatch', max: checkBatch } })
      }
    }
  }, (request) => {
    const body = request.body
    const items = body.evaluations
    if (items === undefined || items.length === 0) {
      const missing = (['subject', 'action', 'resource'] as const).filter((k) => body[k] === undefined)
      if (missing.length > 0) throw new NgacError('NGAC_ERR_VALIDATION', `body: missing field '${missing[0]}' (give it, or a list of evaluations)`)
      const decision = evaluate(policy, body.subject as SubjectT, body.action as ActionT, body.resource as ResourceT)
      metrics.decision(decision)
      return { decision }
    }
    const semantic: string = body.options?.evaluations_semantic ?? 'execute_all'
    const results: DecisionT[] = []
    for (let i = 0; i < items.length; i++) {
      const item = items[i]
      const subject = item.subject ?? body.subject
      const action = item.action ?? body.action
      const resource = item.resource ?? body.resource
      const problem = entityProblem(subject, 'subject', true) ?? actionProblem(action) ?? entityProblem(resource, 'resource', true) ??
        (item.context !== undefined && !isObject(item.context) ? 'context must be an object' : undefined)
      let decision = false
      if (problem === undefined) {
        decision = evaluate(policy, subject as SubjectT, action as ActionT, resource as ResourceT)
        results.push({ decision })
      } else {
        results.push({ decision: false, context: { error: { status: 400, message: `evaluations[${i}]: ${problem}` } } })
      }
      metrics.decision(decision)
      if ((semantic === 'deny_on_first_deny' && !decision) || (semantic === 'permit_on_first_permit' && decision)) break
    }
    return { evaluations: results }
  })

  /** One page of a search's results; the token pins the revision and the query. */
  function page<T> (request: FastifyRequest, pageRequest: { token?: string, limit?: number } | undefined, all: T[]): { results: T[], page: Static<typeof PageResponse> } {
    const revision = policy.revision
    const body = request.body as Record<string, unknown>
    const key = createHash('sha256').update(JSON.stringify([request.url, body.subject, body.action, body.resource])).digest('base64url').slice(0, 16)
    const token = pageRequest?.token
    const offset = token === undefined || token === '' ? 0 : readToken(token, revision, key)
    const limit = Math.min(pageRequest?.limit ?? defaultPageSize, maxPageSize)
    const end = offset + limit
    const results = all.slice(offset, end)
    const next = end < all.length ? writeToken(revision, end, key) : ''
    return { results, page: { next_token: next, count: results.length, total: all.length } }
  }


  app.post('/access/v1/search/subject', {
    schema: {
      tags,
      summary: 'AuthZEN subject search: the users (U nodes of subject.type) who may do the action on the resource',
      body: Type.Object({ subject: SearchedSubject, action: Action, resource: Resource, context: Context, page: PageRequest }),
      response: SearchResults(EntityResult, 'Users, sorted by id.')
    }
  }, (request) => {
    const { subject, action, resource } = request.body
    const graph = policy.graph
    const target = targetOf(graph, resource)
    const all: { type: string, id: string }[] = []
    if (target !== null) {
      for (const entry of policy.acl(target)) {
        if (!entry.privileges.includes(action.name)) continue
        const type = typeMatch(graph, graph.idOf(entry.user), subject.type)
        if (type !== null) all.push({ type, id: entry.user })
      }
    }
    return page(request, request.body.page, all)
  })

  app.post('/access/v1/search/resource', {
    schema: {
      tags,
      summary: 'AuthZEN resource search: the objects (O nodes of resource.type) the subject may do the action on',
      body: Type.Object({ subject: Subject, action: Action, resource: SearchedResource, context: Context, page: PageRequest }),
      response: SearchResults(EntityResult, 'Objects, sorted by id.')
    }
  }, (request) => {
    const { subject, action, resource } = request.body
    const graph = policy.graph
    const user = subjectOf(graph, subject)
    const all: { type: string, id: string }[] = []
    if (user !== null) {
      for (const capability of policy.capabilities(user)) {
        if (!capability.privileges.includes(action.name)) continue
        const id = graph.idOf(capability.target)
        if (graph.typeOf(id) !== O) continue
        const type = typeMatch(graph, id, resource.type)
        if (type !== null) all.push({ type, id: capability.target })
      }
    }
    return page(request, request.body.page, all)
  })

  app.post('/access/v1/search/action', {
    schema: {
      tags,
      summary: 'AuthZEN action search: the rights the subject holds on the resource',
      body: Type.Object({ subject: Subject, action: Type.Optional(Type.Unknown()), resource: Resource, context: Context, page: PageRequest }),
      response: SearchResults(ActionResult, 'Rights, sorted by name.')
    }
  }, (request) => {
    const { subject, resource } = request.body
    const graph = policy.graph
    const user = subjectOf(graph, subject)
    const target = targetOf(graph, resource)
    const all = user === null || target === null ? [] : policy.privileges({ ...user, ...target }).map((name) => ({ name }))
    return page(request, request.body.page, all)
  })

  app.get('/.well-known/authzen-configuration', {
    schema: {
      tags,
      summary: 'AuthZEN PDP metadata: where the evaluation and search endpoints are',
      response: {
        200: Type.Object({
          policy_decision_point: Type.String({ description: 'The configured publicUrl, else the scheme and host of the request.' }),
          access_evaluation_endpoint: Type.String(),
          access_evaluations_endpoint: Type.String(),
          search_subject_endpoint: Type.String(),
          search_resource_endpoint: Type.String(),
          search_action_endpoint: Type.String()
        }, { additionalProperties: false })
      }
    }
  }, (request) => {
    const base = publicUrl ?? `${request.protocol}://${request.host}`
    return {
      policy_decision_point: base,
      access_evaluation_endpoint: `${base}/access/v1/evaluation`,
      access_evaluations_endpoint: `${base}/access/v1/evaluations`,
      search_subject_endpoint: `${base}/access/v1/search/subject`,
      search_resource_endpoint: `${base}/access/v1/search/resource`,
      search_action_endpoint: `${base}/access/v1/search/action`
    }
  })
}

/** One AuthZEN evaluation: true when the subject holds the action's right on the resource. */
function evaluate (policy: Policy, subject: SubjectT, action: ActionT, resource: ResourceT): boolean {
  const graph = policy.graph
  const user = subjectOf(graph, subject)
  const target = targetOf(graph, resource)
  if (user === null || target === null) return false
  const request: CheckRequest = { ...user, ...target, right: action.name }
  try {
    return policy.check(request).allowed
  } catch (err) {
    // A right the engine refuses as a name is one nobody holds.
    if (isNgacError(err, 'NGAC_ERR_VALIDATION')) return false
    throw err
  }
}

/** The subject as the engine takes it, or null when it is nobody (unknown, or of another type). */
function subjectOf (graph: PolicyGraph, subject: { type: string, id?: string, properties?: Record<string, unknown> }): SubjectRequest | null {
  const id = subject.id === undefined ? -1 : graph.idOf(subject.id)
  if (id >= 0) {
    if (graph.typeOf(id) !== U || typeMatch(graph, id, subject.type) === null) return null
    return { user: subject.id as string }
  }
  const userAttributes = attributesOf(graph, subject.properties, UA)
  return userAttributes.length === 0 ? null : { userAttributes }
}

/** The resource as the engine takes it, or null when it is nothing (unknown, a PC, or of another type). */
function targetOf (graph: PolicyGraph, resource: { type: string, id?: string, properties?: Record<string, unknown> }): TargetRequest | null {
  const id = resource.id === undefined ? -1 : graph.idOf(resource.id)
  if (id >= 0) {
    if (graph.typeOf(id) === PC || typeMatch(graph, id, resource.type) === null) return null
    return { target: resource.id as string }
  }
  const targetAttributes = attributesOf(graph, resource.properties, OA)
  return targetAttributes.length === 0 ? null : { targetAttributes }
}

/** The names `key=value` of `properties` that name existing nodes of `type`. */
function attributesOf (graph: PolicyGraph, properties: Record<string, unknown> | undefined, type: number): string[] {
  const out: string[] = []
  if (properties === undefined) return out
  for (const key of Object.keys(properties)) {
    const value = properties[key]
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') continue
    const name = `${key}=${String(value)}`
    const id = graph.idOf(name)
    if (id >= 0 && graph.typeOf(id) === type) out.push(name)
  }
  return out
}

/** The node's AuthZEN type when it is `wanted` (or the node has none), else null. */
function typeMatch (graph: PolicyGraph, id: number, wanted: string): string | null {
  const own = graph.nodeInfo(id).properties.type
  return own === undefined || own === wanted ? wanted : null
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** What is wrong with a batch item's subject or resource, or undefined. */
function entityProblem (value: unknown, what: string, needsId: boolean): string | undefined {
  if (value === undefined) return `missing ${what} (give it in the item or at the top level)`
  if (!isObject(value)) return `${what} must be an object`
  if (typeof value.type !== 'string' || value.type.length === 0) return `${what}.type must be a non-empty string`
  if (needsId && (typeof value.id !== 'string' || value.id.length === 0)) return `${what}.id must be a non-empty string`
  if (value.properties !== undefined && !isObject(value.properties)) return `${what}.properties must be an object`
  return undefined
}

function actionProblem (value: unknown): string | undefined {
  if (value === undefined) return 'missing action (give it in the item or at the top level)'
  if (!isObject(value)) return 'action must be an object'
  if (typeof value.name !== 'string' || value.name.length === 0) return 'action.name must be a non-empty string'
  if (value.properties !== undefined && !isObject(value.properties)) return 'action.properties must be an object'
  return undefined
}

/** What a page token holds: the revision, the offset of the next result, and the query's key. */
interface TokenState {
  readonly r: number
  readonly o: number
  readonly k: string
}

function writeToken (revision: number, offset: number, key: string): string {
  const state: TokenState = { r: revision, o: offset, k: key }
  return Buffer.from(JSON.stringify(state)).toString('base64url')
}

/**
 * The offset a page token points at.
 * @throws NgacError NGAC_ERR_INVALID_CURSOR when this server did not give it for this query, or
 *   gave it at another revision.
 */
function readToken (token: string, revision: number, key: string): number {
  let state: Partial<TokenState> | null
  try {
    state = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<TokenState> | null
  } catch {
    state = null
  }
  if (state === null || typeof state !== 'object' || !Number.isSafeInteger(state.r) || !Number.isSafeInteger(state.o) ||
    (state.o as number) < 0 || state.k !== key) {
    throw new NgacError('NGAC_ERR_INVALID_CURSOR', 'page.token was not given by this server for this search; start again without a token')
  }
  if (state.r !== revision) {
    throw new NgacError('NGAC_ERR_INVALID_CURSOR', `the policy changed since page.token was given (revision ${String(state.r)}, now ${revision}); start again without a token`)
  }
  return state.o as number
}
