/**
 * Administration routes (DESIGN section 5, Administration): every write goes through the policy's
 * administrator and answers with the revision it committed. A plugin of its own, with the
 * bearer-token hook, so none of this runs on the decision path.
 *
 * Lists are paged: `limit` (default and maximum from config.limits) and an opaque `cursor`, the
 * `nextCursor` of the previous page. A cursor names the graph object it was read from, so after a
 * whole-policy replacement (PUT /v1/policy) every older cursor is refused. Node pages resume at a
 * node id (ids grow in creation order and are never reused), so a page costs O(limit) node visits
 * when no type filter is given.
 *
 * Callers (src/api/admin-auth.ts): each bearer token maps to an NGAC user, the actor of its
 * changes; the single `admin.token` is a super token of user `admin-token`. With
 * `admin.authorization` on, a non-super caller's operations are checked by the administrator
 * (src/pap/authorization.ts), and reads show only what the caller holds `query` on; the whole
 * policy (export, changelog, lint) needs `query` on `ngac:admin:policy`, and replacing it needs a
 * super token. NOTE: a filtered list scans past what the caller may not see, so a page of a
 * caller who sees little of a large policy costs up to a scan of it (one cached decision per node).
 */
import { randomBytes } from 'node:crypto'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { Type, type TSchema } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { isNgacError, NgacError } from '../errors.js'
import {
  NODE_TYPES,
  OPERATION_NAMES,
  type NodeInfo,
  type NodeType,
  type Operation,
  type OperationName,
  type PolicyGraph,
  type ProhibitionInfo
} from '../graph/index.js'
import { ADMIN_POLICY_OA, type ChangeOptions } from '../pap/index.js'
import { ReadAccess } from './admin-auth.js'
import { lintRoutes } from './lint-routes.js'
import { limitError } from './http.js'
import { errorResponses, ProhibitionSchema, SHARED_SCHEMAS } from './schemas.js'

// ---------------------------------------------------------------- typed references to shared schemas

const Name = (description?: string) => Type.Unsafe<string>(Type.Ref('Name', description === undefined ? {} : { description }))
const NodeTypeRef = () => Type.Unsafe<NodeType>(Type.Ref('NodeType'))
const PropertiesRef = () => Type.Unsafe<Record<string, string>>(Type.Ref('Properties'))
const RightsRef = () => Type.Unsafe<string[]>(Type.Ref('Rights'))
const RevisionRef = () => Type.Ref('Revision')

const WRITE_ERRORS = [400, 401, 403, 503, 507] as const
const BODY_ERRORS = [413, 415] as const
const NEXT_CURSOR = Type.Optional(Type.String({ description: 'Present when there are more items: pass it as `cursor` to get the next page.' }))

// ---------------------------------------------------------------- batch operations

/** The exact shape of each operation of POST /v1/batch (src/graph/operations.ts). */
const OPERATION_SCHEMAS: Readonly<Record<OperationName, TSchema>> = {
  createNode: operation('createNode', {
    name: Name(),
    type: NodeTypeRef(),
    parents: Type.Optional(Type.Array(Name(), { maxItems: 1024 })),
    properties: Type.Optional(PropertiesRef())
  }),
  deleteNode: operation('deleteNode', { name: Name() }),
  setProperties: operation('setProperties', { name: Name(), properties: PropertiesRef() }),
  assign: operation('assign', { child: Name(), parent: Name() }),
  deassign: operation('deassign', { child: Name(), parent: Name() }),
  associate: operation('associate', { ua: Name(), target: Name(), rights: RightsRef() }),
  dissociate: operation('dissociate', { ua: Name(), target: Name() }),
  createProhibition: operation('createProhibition', ProhibitionSchema.properties),
  deleteProhibition: operation('deleteProhibition', { name: Name() }),
  setResourceRights: operation('setResourceRights', { rights: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 1024 }) })
}

function operation (op: OperationName, fields: Record<string, TSchema>): TSchema {
  return Type.Object({ op: Type.Literal(op), ...fields }, { additionalProperties: false })
}

let operationValidators: Readonly<Record<string, ValidateFunction>> | undefined

/** One compiled validator per operation kind, built on first use. */
function validators (): Readonly<Record<string, ValidateFunction>> {
  if (operationValidators !== undefined) return operationValidators
  const ajv = new Ajv({ coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false, strict: false })
  for (const schema of SHARED_SCHEMAS) ajv.addSchema(schema)
  const out: Record<string, ValidateFunction> = {}
  for (const op of OPERATION_NAMES) out[op] = ajv.compile(OPERATION_SCHEMAS[op])
  operationValidators = out
  return out
}

/**
 * Checks the shape of `operations[index]`.
 * @throws NgacError NGAC_ERR_VALIDATION with `details.index`, naming the field: `operations[3]: unknown field 'x'`
 */
function checkOperation (value: unknown, index: number): asserts value is Operation {
  const at = `operations[${index}]`
  const op = (value as { op?: unknown }).op
  if (typeof op !== 'string' || !(OPERATION_NAMES as readonly string[]).includes(op)) {
    throw new NgacError('NGAC_ERR_VALIDATION', `${at}.op: unknown operation ${JSON.stringify(op)}; use one of ${OPERATION_NAMES.join(', ')}`, { details: { index } })
  }
  const validate = validators()[op]
  if (!validate(value)) throw operationError(at, validate.errors, index)
}

function operationError (at: string, errors: ErrorObject[] | null | undefined, index: number): NgacError {
  const e = errors?.[0]
  const where = e === undefined ? at : at + pointerPath(e.instancePath)
  const limit = e === undefined ? undefined : limitError(where, { ...e, instancePath: '' })
  if (limit !== undefined) return new NgacError(limit.code, limit.message, { details: { index, ...(limit.details as object) } })
  let message: string
  switch (e?.keyword) {
    case 'additionalProperties':
      message = `${where}: unknown field '${(e.params as { additionalProperty: string }).additionalProperty}'`
      break
    case 'required':
      message = `${where}: missing field '${(e.params as { missingProperty: string }).missingProperty}'`
      break
    case 'enum':
      message = `${where}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
      break
    case 'const': {
      // A union of literals (a node type) fails once per literal: name them all.
      const allowed = (errors ?? []).filter((x) => x.keyword === 'const' && x.instancePath === e.instancePath)
        .map((x) => JSON.stringify((x.params as { allowedValue: unknown }).allowedValue))
      message = `${where}: must be ${allowed.length > 1 ? `one of ${allowed.join(', ')}` : allowed[0]}`
      break
    }
    default:
      message = `${where}: ${e?.message ?? 'is invalid'}`
  }
  return new NgacError('NGAC_ERR_VALIDATION', message, { details: { index } })
}

/**
 * A time of a changelog filter in the changelog's own form (`Date#toISOString`), so that they compare as strings.
 * @throws NgacError NGAC_ERR_VALIDATION for a value that is not an ISO 8601 time.
 */
function isoTime (value: string | undefined, field: string): string | undefined {
  if (value === undefined) return undefined
  const ms = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?$/.test(value) ? Date.parse(value) : Number.NaN
  if (Number.isNaN(ms)) {
    throw new NgacError('NGAC_ERR_VALIDATION', `querystring/${field} must be an ISO 8601 time such as 2025-01-31T12:00:00Z, not ${JSON.stringify(value)}`)
  }
  return new Date(ms).toISOString()
}

/** Whether the caller may read a prohibition: `query` on its subject (a process: on the policy) and on every container. */
function mayReadProhibition (access: ReadAccess, p: ProhibitionInfo): boolean {
  if (access.all) return true
  if (!access.may(typeof p.subject === 'string' ? p.subject : ADMIN_POLICY_OA)) return false
  for (const c of p.containers) if (!access.may(c.name)) return false
  return true
}

/** `/a/0/b~1c` -> `.a[0]["b/c"]`. */
function pointerPath (pointer: string): string {
  if (pointer === '') return ''
  return pointer.slice(1).split('/').map((raw) => {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~')
    if (/^\d+$/.test(key)) return `[${key}]`
    return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`
  }).join('')
}

// ---------------------------------------------------------------- cursors

/** A random identifier per graph object: a replaced policy is a new graph, so old cursors go stale. */
const graphIds = new WeakMap<PolicyGraph, string>()

function graphId (graph: PolicyGraph): string {
  let id = graphIds.get(graph)
  if (id === undefined) {
    id = randomBytes(9).toString('base64url')
    graphIds.set(graph, id)
  }
  return id
}

/** An opaque cursor: the list it pages (`kind`), the graph it was read from, and a position. */
function encodeCursor (graph: PolicyGraph, kind: string, position: readonly number[]): string {
  return Buffer.from(`${kind}.${graphId(graph)}.${position.join('.')}`, 'utf8').toString('base64url')
}

/**
 * The position a cursor holds, `length` non-negative integers.
 * @throws NgacError NGAC_ERR_INVALID_CURSOR for a cursor not given for this list of this graph.
 */
function decodeCursor (graph: PolicyGraph, kind: string, cursor: string, length: number): number[] {
  const parts = cursor.length > 256 || !/^[A-Za-z0-9_-]+$/.test(cursor)
    ? []
    : Buffer.from(cursor, 'base64url').toString('utf8').split('.')
  if (parts.length !== length + 2 || parts[0] !== kind || !parts.slice(2).every((p) => /^\d{1,15}$/.test(p))) {
    throw new NgacError('NGAC_ERR_INVALID_CURSOR', 'the cursor was not given by this list: pass the nextCursor of the previous page unchanged, with the same filters, or start again without a cursor')
  }
  if (parts[1] !== graphId(graph)) {
    throw new NgacError('NGAC_ERR_INVALID_CURSOR', 'the cursor is stale: the policy was replaced since; start again without a cursor')
  }
  return parts.slice(2).map(Number)
}

/** @throws NgacError NGAC_ERR_INVALID_CURSOR: a list of one page was given a cursor. */
function refuseCursor (cursor: string | undefined): void {
  if (cursor !== undefined) {
    throw new NgacError('NGAC_ERR_INVALID_CURSOR', 'this list has a single page (both ends are given): leave out the cursor')
  }
}

/** The limits on a node's properties. */
interface PropertiesLimits {
  readonly propertiesCount: number
  readonly propertiesBytes: number
}

/**
 * @throws NgacError NGAC_ERR_PROPERTIES_TOO_LARGE when `properties` has more entries than
 *   limits.propertiesCount or more UTF-8 bytes as JSON than limits.propertiesBytes.
 */
function checkProperties (properties: Readonly<Record<string, string>> | undefined, limits: PropertiesLimits, where: string, details: Record<string, unknown> = {}): void {
  if (properties === undefined) return
  const count = Object.keys(properties).length
  if (count > limits.propertiesCount) {
    throw new NgacError('NGAC_ERR_PROPERTIES_TOO_LARGE', `${where}: ${count} properties, more than ${limits.propertiesCount} (limits.propertiesCount)`,
      { details: { ...details, limit: 'propertiesCount', max: limits.propertiesCount } })
  }
  const bytes = Buffer.byteLength(JSON.stringify(properties))
  if (bytes > limits.propertiesBytes) {
    throw new NgacError('NGAC_ERR_PROPERTIES_TOO_LARGE', `${where}: the properties take ${bytes} bytes as JSON, more than ${limits.propertiesBytes} (limits.propertiesBytes)`,
      { details: { ...details, limit: 'propertiesBytes', max: limits.propertiesBytes } })
  }
}

interface Page<T> {
  readonly items: T[]
  /** The position of the next page, when there is one. */
  readonly next?: readonly number[]
}

/**
 * A page of `list` from `offset`. `keyOf` gives each item a number that is kept in the cursor with
 * the offset: when the item before `offset` is no longer the one last shown (items were removed
 * meanwhile), the page resumes after that item wherever it now is.
 */
function pageOfList<T, R> (list: readonly T[], position: readonly number[] | undefined, limit: number, keyOf: (item: T) => number, map: (item: T) => R): Page<R> {
  let offset = 0
  if (position !== undefined) {
    const [at, lastKey] = position as [number, number]
    offset = at
    if (at > 0 && (at > list.length || keyOf(list[at - 1]) !== lastKey)) {
      const i = list.findIndex((item) => keyOf(item) === lastKey)
      if (i >= 0) offset = i + 1
    }
  }
  const end = Math.min(list.length, offset + limit)
  const items: R[] = []
  for (let i = offset; i < end; i++) items.push(map(list[i]))
  return end < list.length ? { items, next: [end, keyOf(list[end - 1])] } : { items }
}

// ---------------------------------------------------------------- the plugin

/** The administration API. */
export const adminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const callers = app.adminCallers
  const authorization = app.config.admin.authorization
  if (callers.enabled) {
    app.addHook('onRequest', async (request) => {
      request.caller = callers.authenticate(request)
    })
  }
  /** The changelog's actor (the token's user) and, under admin authorization, the checks of a non-super caller. */
  const changeOptions = (request: FastifyRequest): ChangeOptions => {
    const caller = request.caller
    if (caller === null) return {}
    return authorization && !caller.super ? { actor: caller.user, authorize: true } : { actor: caller.user }
  }
  const reads = (request: FastifyRequest): ReadAccess => new ReadAccess(app.policy, request.caller, authorization)
  const limits = app.config.limits
  const policyBodyLimit = limits.policyBodyBytes
  const maxPage = limits.maxPageSize
  const Paging = {
    limit: Type.Optional(Type.Integer({
      minimum: 1,
      maximum: maxPage,
      default: Math.min(limits.defaultPageSize, maxPage),
      description: `Items per page, at most ${maxPage}.`
    })),
    cursor: Type.Optional(Type.String({ description: 'The `nextCursor` of the previous page; omit it for the first page.' }))
  }
  const pageSize = (limit: number | undefined): number => limit ?? Math.min(limits.defaultPageSize, maxPage)
  /** Every node's properties within the limits: a policy replacement honours them as the single writes do. */
  const checkNodeProperties = (graph: PolicyGraph): void => {
    for (let id = 0, end = graph.idLimit; id < end; id++) {
      if (!graph.isNode(id)) continue
      const node = graph.nodeInfo(id)
      checkProperties(node.properties, limits, `node ${JSON.stringify(node.name)}`, { node: node.name })
    }
  }

  /**
   * Commits one batch with the caller as actor; a single operation fails with its own plain error
   * (a refusal keeps its details: the operation, the right and the node).
   */
  const commit = (request: FastifyRequest, operations: readonly Operation[]): number => {
    try {
      return app.policy.apply(operations, changeOptions(request)).revision
    } catch (err) {
      if (operations.length === 1 && isNgacError(err) && isNgacError(err.cause) && (err.details as { index?: unknown } | undefined)?.index === 0) {
        throw err.cause
      }
      throw err
    }
  }

  const requireNode = (graph: PolicyGraph, name: string): number => {
    const id = graph.idOf(name)
    if (id < 0) throw new NgacError('NGAC_ERR_NODE_NOT_FOUND', `there is no node ${JSON.stringify(name)}`)
    return id
  }

  await app.register(lintRoutes)

  app.get('/v1/revision', {
    schema: {
      tags: ['administration'],
      summary: 'The revision of the policy being served',
      response: { 200: RevisionRef(), ...errorResponses(401) }
    }
  }, async () => ({ revision: app.policy.revision }))

  // ------------------------------------------------------------ nodes

  app.post('/v1/nodes', {
    schema: {
      tags: ['administration'],
      summary: 'Create a node assigned to its parents',
      description: 'A policy class has no parents (`"parents": []`); every other node needs at least one.',
      body: Type.Object({
        name: Name(),
        type: NodeTypeRef(),
        parents: Type.Array(Name(), { maxItems: 1024, description: 'The nodes it is assigned to.' }),
        properties: Type.Optional(PropertiesRef())
      }, { additionalProperties: false }),
      response: {
        201: Type.Object({ revision: Type.Integer({ minimum: 0 }), node: Type.Ref('Node') }, { additionalProperties: false }),
        ...errorResponses(...WRITE_ERRORS, ...BODY_ERRORS, 404, 409, 422)
      }
    }
  }, async (request, reply) => {
    const { name, type, parents, properties } = request.body
    checkProperties(properties, limits, 'body.properties')
    const revision = commit(request, [properties === undefined
      ? { op: 'createNode', name, type, parents }
      : { op: 'createNode', name, type, parents, properties }])
    reply.code(201)
    return { revision, node: app.policy.graph.node(name) as NodeInfo }
  })

  app.get('/v1/nodes', {
    schema: {
      tags: ['administration'],
      summary: 'List nodes in creation order, optionally of one type',
      description: 'With admin authorization on, only the nodes the caller holds `query` on (a policy class: `query` on `ngac:admin:policy`); the same goes for the assignment, association and prohibition lists, which show a relation when the caller may query all of its nodes.',
      querystring: Type.Object({ type: Type.Optional(NodeTypeRef()), ...Paging }, { additionalProperties: false }),
      response: {
        200: Type.Object({ nodes: Type.Array(Type.Ref('Node')), nextCursor: NEXT_CURSOR }, { additionalProperties: false }),
        ...errorResponses(400, 401, 403)
      }
    }
  }, async (request) => {
    const { type, cursor } = request.query
    const limit = pageSize(request.query.limit)
    const graph = app.policy.graph
    const kind = `n${type ?? ''}`
    const code = type === undefined ? -1 : NODE_TYPES.indexOf(type)
    const access = reads(request)
    let id = cursor === undefined ? 0 : decodeCursor(graph, kind, cursor, 1)[0]
    const end = graph.idLimit
    const nodes: NodeInfo[] = []
    for (; id < end; id++) {
      if (!graph.isNode(id) || (code >= 0 && graph.typeOf(id) !== code) || !access.mayId(id)) continue
      if (nodes.length === limit) break
      nodes.push(graph.nodeInfo(id))
    }
    return id < end ? { nodes, nextCursor: encodeCursor(graph, kind, [id]) } : { nodes }
  })

  app.get('/v1/nodes/:name', {
    schema: {
      tags: ['administration'],
      summary: 'A node, its parents and how many children it has',
      description: 'A policy class may have millions of children, so they are counted here, not listed: page them with `GET /v1/assignments?parent=NAME`.',
      params: Type.Object({ name: Name() }),
      response: {
        200: Type.Object({
          node: Type.Ref('Node'),
          parents: Type.Array(Type.String(), { description: 'The nodes it is assigned to.' }),
          childCount: Type.Integer({ minimum: 0, description: 'How many nodes are assigned to it; list them with GET /v1/assignments?parent=NAME.' })
        }, { additionalProperties: false }),
        ...errorResponses(400, 401, 403, 404)
      }
    }
  }, async (request) => {
    const graph = app.policy.graph
    const id = requireNode(graph, request.params.name)
    const access = reads(request)
    access.require(request.params.name, `reading node '${request.params.name}'`)
    return {
      node: graph.nodeInfo(id),
      parents: graph.parentIds(id).filter((p) => access.mayId(p)).map((p) => graph.nameOf(p)),
      childCount: graph.childIds(id).length
    }
  })

  app.patch('/v1/nodes/:name', {
    schema: {
      tags: ['administration'],
      summary: 'Replace the properties of a node',
      params: Type.Object({ name: Name() }),
      body: Type.Object({ properties: PropertiesRef() }, { additionalProperties: false }),
      response: { 200: RevisionRef(), ...errorResponses(...WRITE_ERRORS, ...BODY_ERRORS, 404) }
    }
  }, async (request) => {
    checkProperties(request.body.properties, limits, 'body.properties')
    return { revision: commit(request, [{ op: 'setProperties', name: request.params.name, properties: request.body.properties }]) }
  })

  app.delete('/v1/nodes/:name', {
    schema: {
      tags: ['administration'],
      summary: 'Delete a node that has no children and no association or prohibition referring to it',
      params: Type.Object({ name: Name() }),
      response: { 200: RevisionRef(), ...errorResponses(...WRITE_ERRORS, 404, 409) }
    }
  }, async (request) => ({ revision: commit(request, [{ op: 'deleteNode', name: request.params.name }]) }))

  // ------------------------------------------------------------ assignments

  const AssignmentQuery = { child: Type.Optional(Name('The assigned node.')), parent: Type.Optional(Name('The node it is assigned to.')) }

  app.post('/v1/assignments', {
    schema: {
      tags: ['administration'],
      summary: 'Assign a child to a parent',
      body: Type.Object({ child: Name(), parent: Name() }, { additionalProperties: false }),
      response: { 201: RevisionRef(), ...errorResponses(...WRITE_ERRORS, ...BODY_ERRORS, 404, 409, 422) }
    }
  }, async (request, reply) => {
    const revision = commit(request, [{ op: 'assign', child: request.body.child, parent: request.body.parent }])
    reply.code(201)
    return { revision }
  })

  app.delete('/v1/assignments', {
    schema: {
      tags: ['administration'],
      summary: 'Remove an assignment (not a node\'s last one)',
      querystring: Type.Object({ child: Name(), parent: Name() }, { additionalProperties: false }),
      response: { 200: RevisionRef(), ...errorResponses(...WRITE_ERRORS, 404, 422) }
    }
  }, async (request) => ({ revision: commit(request, [{ op: 'deassign', child: request.query.child, parent: request.query.parent }]) }))

  app.get('/v1/assignments', {
    schema: {
      tags: ['administration'],
      summary: 'List assignments as [child, parent]: a child\'s parents, a parent\'s children, one pair, or all',
      description: 'With `child` and `parent`, the pair if it exists (one page). With one of them, its parents or children in assignment order, paged. With neither, every assignment grouped by child in creation order, paged.',
      querystring: Type.Object({ ...AssignmentQuery, ...Paging }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          assignments: Type.Array(Type.Array(Type.String(), { minItems: 2, maxItems: 2 }), { description: '`[child, parent]` pairs.' }),
          nextCursor: NEXT_CURSOR
        }, { additionalProperties: false }),
        ...errorResponses(400, 401, 403, 404)
      }
    }
  }, async (request) => {
    const { child, parent, cursor } = request.query
    const limit = pageSize(request.query.limit)
    const graph = app.policy.graph
    const access = reads(request)
    const may = (id: number): boolean => access.mayId(id)
    let kind = 'a'
    let page: Page<[string, string]>
    if (child !== undefined && parent !== undefined) {
      const cid = requireNode(graph, child)
      const pid = requireNode(graph, parent)
      access.require(child, 'listing the assignments of a child')
      access.require(parent, 'listing the assignments to a parent')
      refuseCursor(cursor)
      page = { items: graph.parentIds(cid).includes(pid) ? [[child, parent]] : [] }
    } else if (child !== undefined) {
      const cid = requireNode(graph, child)
      kind = `ac${cid}`
      const position = cursor === undefined ? undefined : decodeCursor(graph, kind, cursor, 2)
      access.require(child, 'listing the assignments of a child')
      page = pageOfList(access.all ? graph.parentIds(cid) : graph.parentIds(cid).filter(may), position, limit, (id) => id, (id) => [child, graph.nameOf(id)])
    } else if (parent !== undefined) {
      const pid = requireNode(graph, parent)
      kind = `ap${pid}`
      const position = cursor === undefined ? undefined : decodeCursor(graph, kind, cursor, 2)
      access.require(parent, 'listing the assignments to a parent')
      page = pageOfList(access.all ? graph.childIds(pid) : graph.childIds(pid).filter(may), position, limit, (id) => id, (id) => [graph.nameOf(id), parent])
    } else {
      let [id, index] = cursor === undefined ? [0, 0] : decodeCursor(graph, kind, cursor, 2)
      const items: [string, string][] = []
      let next: number[] | undefined
      for (const end = graph.idLimit; id < end && next === undefined; id++, index = 0) {
        const parents = graph.isNode(id) && may(id) ? graph.parentIds(id) : []
        for (; index < parents.length; index++) {
          if (!may(parents[index])) continue
          if (items.length === limit) {
            next = [id, index]
            break
          }
          items.push([graph.nameOf(id), graph.nameOf(parents[index])])
        }
      }
      page = next === undefined ? { items } : { items, next }
    }
    return page.next === undefined
      ? { assignments: page.items }
      : { assignments: page.items, nextCursor: encodeCursor(graph, kind, page.next) }
  })

  // ------------------------------------------------------------ associations

  app.post('/v1/associations', {
    schema: {
      tags: ['administration'],
      summary: 'Grant rights to the users of a user attribute on a target; replaces the rights of an existing association of the pair',
      body: Type.Object({ ua: Name(), target: Name(), rights: RightsRef() }, { additionalProperties: false }),
      response: { 201: RevisionRef(), ...errorResponses(...WRITE_ERRORS, ...BODY_ERRORS, 404, 422) }
    }
  }, async (request, reply) => {
    const { ua, target, rights } = request.body
    const revision = commit(request, [{ op: 'associate', ua, target, rights }])
    reply.code(201)
    return { revision }
  })

  app.delete('/v1/associations', {
    schema: {
      tags: ['administration'],
      summary: 'Remove the association of a user attribute on a target',
      querystring: Type.Object({ ua: Name(), target: Name() }, { additionalProperties: false }),
      response: { 200: RevisionRef(), ...errorResponses(...WRITE_ERRORS, 404) }
    }
  }, async (request) => ({ revision: commit(request, [{ op: 'dissociate', ua: request.query.ua, target: request.query.target }]) }))

  app.get('/v1/associations', {
    schema: {
      tags: ['administration'],
      summary: 'List associations: of a user attribute, on a target, one pair, or all',
      description: 'With `ua` and `target`, the association of the pair if it exists (one page). With one of them, its associations, paged. With neither, every association grouped by ua in creation order, paged.',
      querystring: Type.Object({ ua: Type.Optional(Name()), target: Type.Optional(Name()), ...Paging }, { additionalProperties: false }),
      response: {
        200: Type.Object({ associations: Type.Array(Type.Ref('Association')), nextCursor: NEXT_CURSOR }, { additionalProperties: false }),
        ...errorResponses(400, 401, 403, 404)
      }
    }
  }, async (request) => {
    const { ua, target, cursor } = request.query
    const limit = pageSize(request.query.limit)
    const graph = app.policy.graph
    const access = reads(request)
    const may = (a: { readonly ua: number, readonly target: number }): boolean => access.mayId(a.ua) && access.mayId(a.target)
    let kind = 's'
    let page: Page<ReturnType<PolicyGraph['associationInfo']>>
    if (ua !== undefined && target !== undefined) {
      requireNode(graph, ua)
      requireNode(graph, target)
      access.require(ua, 'listing the associations of a user attribute')
      access.require(target, 'listing the associations on a target')
      refuseCursor(cursor)
      const a = graph.association(ua, target)
      page = { items: a === undefined ? [] : [a] }
    } else if (ua !== undefined) {
      const uid = requireNode(graph, ua)
      kind = `su${uid}`
      const position = cursor === undefined ? undefined : decodeCursor(graph, kind, cursor, 2)
      access.require(ua, 'listing the associations of a user attribute')
      page = pageOfList(access.all ? graph.associationsFrom(uid) : graph.associationsFrom(uid).filter(may), position, limit, (a) => a.target, (a) => graph.associationInfo(a))
    } else if (target !== undefined) {
      const tid = requireNode(graph, target)
      kind = `st${tid}`
      const position = cursor === undefined ? undefined : decodeCursor(graph, kind, cursor, 2)
      access.require(target, 'listing the associations on a target')
      page = pageOfList(access.all ? graph.associationsTo(tid) : graph.associationsTo(tid).filter(may), position, limit, (a) => a.ua, (a) => graph.associationInfo(a))
    } else {
      let [id, index] = cursor === undefined ? [0, 0] : decodeCursor(graph, kind, cursor, 2)
      const items: ReturnType<PolicyGraph['associationInfo']>[] = []
      let next: number[] | undefined
      for (const end = graph.idLimit; id < end && next === undefined; id++, index = 0) {
        const list = graph.isNode(id) && access.mayId(id) ? graph.associationsFrom(id) : []
        for (; index < list.length; index++) {
          if (!access.mayId(list[index].target)) continue
          if (items.length === limit) {
            next = [id, index]
            break
          }
          items.push(graph.associationInfo(list[index]))
        }
      }
      page = next === undefined ? { items } : { items, next }
    }
    return page.next === undefined
      ? { associations: page.items }
      : { associations: page.items, nextCursor: encodeCursor(graph, kind, page.next) }
  })

  // ------------------------------------------------------------ prohibitions

  app.post('/v1/prohibitions', {
    schema: {
      tags: ['administration'],
      summary: 'Create a prohibition',
      body: Type.Unsafe<ProhibitionInfo>(Type.Ref('Prohibition')),
      response: { 201: RevisionRef(), ...errorResponses(...WRITE_ERRORS, ...BODY_ERRORS, 404, 409, 422) }
    }
  }, async (request, reply) => {
    const { name, subject, rights, intersection, containers } = request.body
    const revision = commit(request, [{ op: 'createProhibition', name, subject, rights, intersection, containers }])
    reply.code(201)
    return { revision }
  })

  app.get('/v1/prohibitions', {
    schema: {
      tags: ['administration'],
      summary: 'List prohibitions in creation order',
      querystring: Type.Object(Paging, { additionalProperties: false }),
      response: {
        200: Type.Object({ prohibitions: Type.Array(Type.Ref('Prohibition')), nextCursor: NEXT_CURSOR }, { additionalProperties: false }),
        ...errorResponses(400, 401, 403)
      }
    }
  }, async (request) => {
    const graph = app.policy.graph
    const access = reads(request)
    const limit = pageSize(request.query.limit)
    const start = request.query.cursor === undefined ? 0 : decodeCursor(graph, 'p', request.query.cursor, 1)[0]
    const prohibitions: ProhibitionInfo[] = []
    // NOTE: prohibitions live in an insertion-ordered Map, so a page costs O(offset + limit); they are few.
    let i = -1
    let more = false
    for (const p of graph.prohibitionList()) {
      if (++i < start) continue
      const info = graph.prohibitionInfo(p)
      if (!mayReadProhibition(access, info)) continue
      if (prohibitions.length === limit) {
        more = true
        break
      }
      prohibitions.push(info)
    }
    return more ? { prohibitions, nextCursor: encodeCursor(graph, 'p', [i]) } : { prohibitions }
  })

  app.get('/v1/prohibitions/:name', {
    schema: {
      tags: ['administration'],
      summary: 'A prohibition',
      params: Type.Object({ name: Name() }),
      response: { 200: Type.Ref('Prohibition'), ...errorResponses(400, 401, 403, 404) }
    }
  }, async (request) => {
    const p = app.policy.graph.prohibition(request.params.name)
    if (p === undefined) {
      throw new NgacError('NGAC_ERR_PROHIBITION_NOT_FOUND', `there is no prohibition ${JSON.stringify(request.params.name)}`)
    }
    const access = reads(request)
    if (!mayReadProhibition(access, p)) {
      access.require(typeof p.subject === 'string' ? p.subject : ADMIN_POLICY_OA, `reading prohibition '${p.name}'`)
      for (const c of p.containers) access.require(c.name, `reading prohibition '${p.name}'`)
    }
    return p
  })

  app.delete('/v1/prohibitions/:name', {
    schema: {
      tags: ['administration'],
      summary: 'Delete a prohibition',
      params: Type.Object({ name: Name() }),
      response: { 200: RevisionRef(), ...errorResponses(...WRITE_ERRORS, 404) }
    }
  }, async (request) => ({ revision: commit(request, [{ op: 'deleteProhibition', name: request.params.name }]) }))

  // ------------------------------------------------------------ resource rights

  app.get('/v1/resource-rights', {
    schema: {
      tags: ['administration'],
      summary: 'The declared resource rights',
      response: { 200: Type.Object({ rights: Type.Array(Type.String()) }, { additionalProperties: false }), ...errorResponses(401) }
    }
  }, async () => ({ rights: [...app.policy.graph.resourceRights] }))

  app.put('/v1/resource-rights', {
    schema: {
      tags: ['administration'],
      summary: 'Declare the resource rights, replacing the declaration',
      description: 'A right still used by an association or prohibition cannot be removed (409).',
      body: Type.Object({
        rights: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 1024 })
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({ revision: Type.Integer({ minimum: 0 }), rights: Type.Array(Type.String()) }, { additionalProperties: false }),
        ...errorResponses(...WRITE_ERRORS, ...BODY_ERRORS, 409, 422)
      }
    }
  }, async (request) => {
    const revision = commit(request, [{ op: 'setResourceRights', rights: request.body.rights }])
    return { revision, rights: [...app.policy.graph.resourceRights] }
  })

  // ------------------------------------------------------------ batch

  app.post('/v1/batch', {
    bodyLimit: policyBodyLimit,
    config: { bodyLimitName: 'policyBodyBytes' },
    schema: {
      tags: ['administration'],
      summary: 'Apply operations atomically under one revision: all or nothing',
      description: `Operations: ${OPERATION_NAMES.join(', ')}, with the fields of their single routes ` +
        '(createNode `{name, type, parents?, properties?}`, assign `{child, parent}`, associate `{ua, target, rights}`, ' +
        'createProhibition the fields of a prohibition, setResourceRights `{rights}`, ...). ' +
        `At most ${limits.batchOperations} operations (413 beyond). A failing operation answers its own error with \`details.index\`, and nothing is applied. ` +
        'With admin authorization on, each operation is checked against the caller\'s admin rights on the graph as the batch has left it so far; ' +
        'a refusal is 403 NGAC_ERR_FORBIDDEN with `details: {index, op, right, node}` (or NGAC_ERR_RESERVED_NAME for an `ngac:` node), and nothing is applied.',
      body: Type.Object({
        operations: Type.Array(
          Type.Object({ op: Type.String({ description: `One of ${OPERATION_NAMES.join(', ')}.` }) }, { additionalProperties: true }),
          { minItems: 1 })
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          revision: Type.Integer({ minimum: 0 }),
          applied: Type.Integer({ minimum: 1, description: 'How many operations were applied.' })
        }, { additionalProperties: false }),
        ...errorResponses(...WRITE_ERRORS, ...BODY_ERRORS, 404, 409, 422)
      }
    }
  }, async (request) => {
    const operations: unknown[] = request.body.operations
    if (operations.length > limits.batchOperations) {
      throw new NgacError('NGAC_ERR_BATCH_TOO_LARGE', `the batch has ${operations.length} operations, more than ${limits.batchOperations} (limits.batchOperations): split it`,
        { details: { limit: 'batchOperations', max: limits.batchOperations } })
    }
    for (let i = 0; i < operations.length; i++) {
      const o = operations[i]
      checkOperation(o, i)
      if (o.op === 'createNode' || o.op === 'setProperties') checkProperties(o.properties, limits, `operations[${i}].properties`, { index: i })
    }
    const revision = app.policy.apply(operations as Operation[], changeOptions(request)).revision
    return { revision, applied: operations.length }
  })

  // ------------------------------------------------------------ the whole policy

  app.get('/v1/policy', {
    schema: {
      tags: ['administration'],
      summary: 'Export the policy as a policy file',
      response: { 200: Type.Ref('PolicyFile'), ...errorResponses(401, 403) }
    }
  }, async (request) => {
    reads(request).require(ADMIN_POLICY_OA, 'exporting the policy')
    return app.policy.export()
  })

  app.put('/v1/policy', {
    bodyLimit: policyBodyLimit,
    config: { bodyLimitName: 'policyBodyBytes' },
    schema: {
      tags: ['administration'],
      summary: 'Replace the whole policy, atomically',
      description: 'The body is a policy file (see GET /v1/policy), or with `?format=pm` a NIST policy-machine-core JSON policy. ' +
        'The document is checked whole: a bad one changes nothing and answers 400 NGAC_ERR_POLICY_FILE whose `details` list every problem `{path, code, message}`. ' +
        'Cursors of earlier pages are stale afterwards. With admin authorization on, only a super token may replace the policy (it rewrites the administration policy too), ' +
        'and the reserved nodes `ngac:admin` and `ngac:admin:policy` are kept.',
      querystring: Type.Object({
        format: Type.Optional(Type.Union([Type.Literal('ngac'), Type.Literal('pm')], { default: 'ngac', description: '`ngac` (a policy file, the default) or `pm` (policy-machine-core JSON).' }))
      }, { additionalProperties: false }),
      body: Type.Object({
        resourceRights: Type.Optional(Type.Unknown({ description: 'Policy file: the declared resource rights.' })),
        nodes: Type.Optional(Type.Unknown({ description: 'Policy file: `[{name, type, properties?}]`.' })),
        assignments: Type.Optional(Type.Unknown({ description: 'Policy file: `[[child, parent]]`.' })),
        associations: Type.Optional(Type.Unknown({ description: 'Policy file: `[{ua, target, rights}]`.' })),
        prohibitions: Type.Optional(Type.Unknown({ description: 'Both formats: the prohibitions.' })),
        resourceAccessRights: Type.Optional(Type.Unknown({ description: 'format=pm (3.3+).' })),
        resourceOperations: Type.Optional(Type.Unknown({ description: 'format=pm (3.0-3.2).' })),
        graph: Type.Optional(Type.Unknown({ description: 'format=pm: `{pcs, uas, oas, users, objects}`.' })),
        obligations: Type.Optional(Type.Unknown({ description: 'format=pm: ignored.' })),
        operations: Type.Optional(Type.Unknown({ description: 'format=pm: ignored.' })),
        routines: Type.Optional(Type.Unknown({ description: 'format=pm: ignored.' }))
      }, {
        additionalProperties: false,
        description: 'A policy document. Its entries are checked by the loader, which reports every problem at once; the fields of the other format are refused there.'
      }),
      response: { 200: RevisionRef(), ...errorResponses(...WRITE_ERRORS, ...BODY_ERRORS) }
    }
  }, async (request) => {
    const format = request.query.format ?? 'ngac'
    return { revision: app.policy.replace(request.body, format, { ...changeOptions(request), check: checkNodeProperties }) }
  })

  // ------------------------------------------------------------ changelog

  app.get('/v1/changes', {
    schema: {
      tags: ['administration'],
      summary: 'Changelog entries after a revision, oldest first, optionally filtered by actor, node and time',
      description: 'Filters combine (all must match). With admin authorization on, reading the changelog needs `query` on `ngac:admin:policy` (the changelog names nodes of every tenant).',
      querystring: Type.Object({
        since: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0, description: 'Entries with a revision above this one.' })),
        limit: Paging.limit,
        actor: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'Entries made by this actor (the user of the token).' })),
        node: Type.Optional(Name('Entries with an operation that names this node: created, deleted, updated, an end of an assignment or association, a prohibition\'s subject or container.')),
        from: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Entries committed at or after this ISO 8601 time, e.g. `2025-01-31T00:00:00Z`.' })),
        to: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Entries committed at or before this ISO 8601 time.' }))
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          changes: Type.Array(Type.Ref('Change')),
          nextSince: Type.Optional(Type.Integer({ minimum: 0, description: 'Present when there are more entries: pass it as `since`.' }))
        }, { additionalProperties: false }),
        ...errorResponses(400, 401, 403, 503)
      }
    }
  }, async (request) => {
    reads(request).require(ADMIN_POLICY_OA, 'reading the changelog')
    const { actor, node } = request.query
    const since = request.query.since ?? 0
    const limit = pageSize(request.query.limit)
    const from = isoTime(request.query.from, 'from')
    const to = isoTime(request.query.to, 'to')
    const filter = {
      ...(actor === undefined ? {} : { actor }),
      ...(node === undefined ? {} : { node }),
      ...(from === undefined ? {} : { from }),
      ...(to === undefined ? {} : { to })
    }
    const changes = app.policy.changes(since, limit + 1, filter)
    if (changes.length <= limit) return { changes }
    changes.length = limit
    return { changes, nextSince: changes[limit - 1].revision }
  })
}


