// Property-based fuzzing of every route (issue 9). Whatever a hostile client sends (arbitrary
// JSON, wrong types for each field, huge and deeply nested bodies, unicode, NUL and control
// characters in names, names with '/', '%' and '..', duplicate keys in the JSON text, negative,
// huge and fractional paging values, bad cursors and page tokens, bad percent-escapes, wrong
// content types, methods a route does not have):
// - every answer is a 2xx, or a 4xx whose body is `{code: 'NGAC_ERR_*', message, details?}` with
//   the status of its code (ext_authz: only 200, 401 or 403 with its own small body; /docs may
//   also redirect, as swagger-ui does); never a 5xx, and nothing is logged as an error;
// - a request that is refused, or that only reads, leaves the policy and its revision as they
//   were; an accepted write commits exactly one revision and answers it;
// - what the server holds in memory is what its SQLite file holds, read back as a restart reads
//   it, after every write (a second property aims well-formed writes of odd names at this).
// The routes are read from the app itself (its router, and its OpenAPI document for the shapes
// of bodies and query strings), so a new route is fuzzed without a change here. A small share of
// requests goes over a real socket as raw HTTP/1.1. Fixed seeds, bounded runs.
import { connect } from 'node:net'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import { isExtAuthzUrl } from '../../src/api/ext-authz-routes.js'
import { ERROR_CODES } from '../../src/errors.js'
import { exportPolicy, loadPolicy, OPERATION_NAMES, type PolicyDocument } from '../../src/graph/index.js'
import { SqliteStore } from '../../src/store/index.js'
import { build, ERROR_BODY_KEYS, tempDir } from './helper.js'

const SEED = 90210
const INJECT_RUNS = 700
const WRITE_RUNS = 200
const SOCKET_RUNS = 120

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any
type Schema = Record<string, Json>

// ---------------------------------------------------------------- the app under test

/** Names a client may find awkward: every one is a node of the policy below. */
const ODD_NAMES = ['a/b', '%', '%2F', '..', '../..', 'x?y=1#z', 'sp ace', 'José', '😀', 'constructor', 'toString', '+', 'n'.repeat(1024)]

const POLICY = {
  resourceRights: ['read', 'write'],
  nodes: [
    { name: 'RBAC', type: 'PC' },
    { name: 'staff', type: 'UA', properties: { type: 'group' } },
    { name: 'guests', type: 'UA' },
    { name: 'alice', type: 'U', properties: { type: 'user', email: 'alice@example.com' } },
    { name: 'bob', type: 'U', properties: { type: 'user' } },
    { name: 'odd-users', type: 'UA' },
    { name: 'docs', type: 'OA' },
    { name: 'report', type: 'O', properties: { type: 'document' } },
    ...ODD_NAMES.map((name) => ({ name, type: 'O' })),
    ...ODD_NAMES.slice(0, 6).map((name) => ({ name: `user ${name}`, type: 'U' })),
    ...Array.from({ length: 12 }, (_, i) => ({ name: `obj-${i}`, type: 'O' }))
  ],
  assignments: [
    ['staff', 'RBAC'], ['guests', 'RBAC'], ['odd-users', 'RBAC'], ['alice', 'staff'], ['bob', 'guests'], ['docs', 'RBAC'], ['report', 'docs'],
    ...ODD_NAMES.map((name) => [name, 'docs']),
    ...ODD_NAMES.slice(0, 6).map((name) => [`user ${name}`, 'odd-users']),
    ...Array.from({ length: 12 }, (_, i) => [`obj-${i}`, 'docs'])
  ],
  associations: [
    { ua: 'staff', target: 'docs', rights: ['read', 'write'] },
    { ua: 'guests', target: 'report', rights: ['read'] },
    { ua: 'odd-users', target: 'docs', rights: ['*'] }
  ],
  prohibitions: [
    { name: 'no-report', subject: 'bob', rights: ['read'], intersection: false, containers: [{ name: 'report', complement: false }] },
    { name: 'p/..%', subject: { process: 'p1' }, rights: ['write'], intersection: true, containers: [{ name: 'docs', complement: false }, { name: 'a/b', complement: true }] }
  ]
}
const POLICY_NAMES = [...POLICY.nodes.map((n) => n.name), 'no-report', 'p/..%']

// Small limits, so that passing them is cheap; no load shedding, whose 503s depend on the machine.
const LIMITS = { bodyBytes: 16384, policyBodyBytes: 65536, defaultPageSize: 4, maxPageSize: 8, batchOperations: 20, checkBatch: 20, revisionWaitMs: 0, maxEventLoopDelayMs: 0 }
const CONFIG = {
  limits: LIMITS,
  extAuthz: {
    identity: [{ type: 'xfcc' }, { type: 'header', header: 'x-user' }],
    routes: [{ path: '/orders/:id', object: 'order:{id}' }, { path: '/docs/*', object: '{*}' }]
  }
}

interface Fixture {
  app: App
  db: string
  errors: string[]
}

async function fixture (t: Test): Promise<Fixture> {
  const db = join(tempDir(t), 'fuzz.db')
  const errors: string[] = []
  // Anything logged at error level is a fault of the server's: a client never causes one.
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') errors.push(line)
      done()
    }
  })
  const app = await build(t, { ...CONFIG, db }, { logger: { level: 'error', stream } })
  return { app, db, errors }
}

// ---------------------------------------------------------------- the routes, from the app

interface Route {
  /** The router's pattern: `/v1/nodes/:name`, `/ext_authz/*`. */
  readonly url: string
  readonly methods: readonly string[]
}

/**
 * Every route the router holds, read from `printRoutes` (a tree of path segments; a wildcard
 * child is `*` under its parent's path) and checked against the router with hasRoute.
 */
function routesOf (app: App): Route[] {
  const out: Route[] = []
  const stack: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:[│ ] {3})*)[├└]── (.*?)(?: \(([^)]*)\))?$/.exec(line)
    if (m === null) continue
    const depth = m[1].length / 4
    stack.length = depth
    const parent = depth === 0 ? '' : stack[depth - 1]
    const url = m[2] === '*' && !parent.endsWith('/') ? `${parent}/*` : parent + m[2]
    stack.push(url)
    if (m[3] !== undefined) out.push({ url, methods: m[3].split(', ') })
  }
  // The tree leaves out a wildcard's static prefix when it has no route of its own
  // (`/docs/static/*` shows as `*` under `/docs`): find it among the siblings' paths.
  return out.map((route) => {
    const method = route.methods[0] as 'GET'
    if (!route.url.endsWith('/*') || app.hasRoute({ method, url: route.url })) return route
    const parent = route.url.slice(0, -2)
    for (const other of out) {
      if (!other.url.startsWith(parent)) continue
      for (let i = other.url.indexOf('/', parent.length); i >= 0; i = other.url.indexOf('/', i + 1)) {
        const url = `${other.url.slice(0, i + 1)}*`
        if (app.hasRoute({ method, url })) return { url, methods: route.methods }
      }
    }
    return route
  })
}

interface OpenApi {
  paths: Record<string, Record<string, { tags?: string[], parameters?: { name: string, in: string, schema: Schema }[], requestBody?: { content: Record<string, { schema: Schema }> } }>>
  components: { schemas: Record<string, Schema> }
}

/** What the OpenAPI document says of one operation. */
interface Operation {
  readonly method: string
  readonly route: Route
  readonly body: Schema | undefined
  readonly query: readonly { name: string, schema: Schema }[]
  /** An administration write: a 2xx commits one revision. */
  readonly write: boolean
  readonly extAuthz: boolean
}

function operationsOf (app: App): Operation[] {
  const doc = app.swagger() as unknown as OpenApi
  const out: Operation[] = []
  for (const route of routesOf(app)) {
    const spec = doc.paths[route.url.replace(/:(\w+)/g, '{$1}')] ?? {}
    for (const method of route.methods) {
      const op = spec[method.toLowerCase()]
      out.push({
        method,
        route,
        body: op?.requestBody?.content['application/json']?.schema,
        query: (op?.parameters ?? []).filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: p.schema })),
        write: (op?.tags ?? []).includes('administration') && method !== 'GET' && method !== 'HEAD',
        extAuthz: route.url.startsWith('/ext_authz')
      })
    }
  }
  return out
}

// ---------------------------------------------------------------- hostile values

const NASTY_STRINGS = [
  '', ' ', '/', '//', '%', '%%', '%2F', '%2e%2e', '..', '../..', '../../etc/passwd', 'a/b', 'a%2Fb', '?', '#', '&', '=', '+', 'a b',
  '\u0000', 'a\u0000b', '\n', '\r\n', '\t', '\u001f', '\u007f', '\u0085', '\u009f', '\u2028', '\u202e', '\ufeff', '\ud800', 'a\udfffb',
  '😀', 'José', 'ß', '__proto__', 'constructor', 'prototype', 'hasOwnProperty', '*', 'x'.repeat(1025), 'é'.repeat(1024), '😀'.repeat(600),
  'read', 'write', 'delete', '*', 'user', 'document', 'group', 'p1', 'null', 'true', '0', '-1', 'NaN'
]

/** Text that a store or a codec may change on the way: unpaired surrogates, non-characters, combining marks, both normal forms. */
const FRAGILE_STRINGS = ['\ud800', 'a\udfffb', '\udbff\udfff', '\ufffd', '\uffff', '\ufdd0', 'e\u0301', '\u00e9', 'A\u030a', '\u212b', '\u0000', '\u00a0', '\u200b', '\u{1f600}']

const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...NASTY_STRINGS, ...POLICY_NAMES) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...FRAGILE_STRINGS), fc.constantFrom('', 'x', '-new')).map(([a, b]) => a + b) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.integer({ min: 0, max: 0x9f }).map((c) => String.fromCharCode(c)), maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('/', '%', '.', '?', '#', '\\', '&', '=', 'a', '2', 'F'), maxLength: 8 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 3000 }).map((n) => 'n'.repeat(n)) }
)

const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(-1, 0, 1, 4, 8, 9, 1.5, -0.5, 1e21, 2 ** 31, 2 ** 53, 2 ** 53 + 2, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true })
)

/** Paging values as a query string spells them. */
const PAGING_TEXT = ['-1', '0', '1', '4', '8', '9', '1.5', '1e3', '1e400', '-1e400', '99999999999999999999', '-0', 'NaN', 'Infinity', '', ' 1', '0x10', '2147483648', '9007199254740993', 'null', 'true', '[]']

/** A cursor seen in an earlier answer of the same run (the n-th, modulo how many there are). */
class Harvested {
  constructor (readonly n: number) {}
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64url')
const cursorValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.nat().map((n) => new Harvested(n)) },
  { weight: 1, arbitrary: fc.base64String({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }).map(b64) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      b64('{"r":0,"o":-1,"k":"x"}'), b64('{"r":1e400,"o":0,"k":""}'), b64('{"r":1,"o":1e20,"k":"x"}'), b64('{"__proto__":{"r":1}}'), b64('null'),
      b64('[]'), b64('"x"'), b64('n.AAAAAAAAAAAA.5'), b64('n..1'), b64('a.x.1.2'), b64('ap0.x.-1.0'), b64('p.x.99999999999999999'), '', '=', '%',
      '..', 'x'.repeat(300), b64('x'.repeat(3000)))
  }
)

/** A value of the wrong type for any field. */
const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileNumber, fc.boolean(), fc.constant(null), fc.constant([]), fc.constant({}), hostileString,
  fc.array(hostileString, { maxLength: 3 }), fc.dictionary(hostileString, hostileString, { maxKeys: 2 })
)

// ---------------------------------------------------------------- values shaped by a schema

/** Every property name any schema of the document mentions, and the batch operations' fields. */
function fieldNames (doc: OpenApi): string[] {
  const names = new Set<string>(['op', 'name', 'type', 'parents', 'properties', 'child', 'parent', 'ua', 'target', 'rights', 'subject',
    'intersection', 'containers', 'complement', 'process', '__proto__', 'constructor', 'format'])
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) for (const v of value) walk(v)
    else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        if (k === 'properties' && v !== null && typeof v === 'object') for (const name of Object.keys(v)) names.add(name)
        walk(v)
      }
    }
  }
  walk(doc)
  return [...names]
}

class Shaper {
  readonly #doc: OpenApi
  readonly #field: fc.Arbitrary<string>
  readonly #cache = new Map<Schema, fc.Arbitrary<unknown>>()

  constructor (doc: OpenApi) {
    this.#doc = doc
    this.#field = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...fieldNames(doc)) }, { weight: 1, arbitrary: hostileString })
  }

  /** A value shaped like `schema`, or now and then one of the wrong type. */
  value (schema: Schema | undefined, key = '', depth = 0): fc.Arbitrary<unknown> {
    if (schema === undefined) return fc.jsonValue({ maxDepth: 2 })
    return fc.oneof({ weight: 6, arbitrary: this.#shaped(schema, key, depth) }, { weight: 1, arbitrary: wrongValue })
  }

  #shaped (schema: Schema, key: string, depth: number): fc.Arbitrary<unknown> {
    const cached = this.#cache.get(schema)
    if (cached !== undefined && key === '') return cached
    const made = this.#make(schema, key, depth)
    if (key === '') this.#cache.set(schema, made)
    return made
  }

  #make (schema: Schema, key: string, depth: number): fc.Arbitrary<unknown> {
    if (typeof schema.$ref === 'string') return this.#shaped(this.#doc.components.schemas[schema.$ref.split('/').pop() as string], key, depth)
    if (key === 'cursor' || key === 'token') return cursorValue
    if (key === 'op') return fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...OPERATION_NAMES) }, { weight: 1, arbitrary: hostileString })
    if (Array.isArray(schema.enum)) return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...(schema.enum as unknown[])) }, { weight: 1, arbitrary: hostileString })
    if ('const' in schema) return fc.oneof({ weight: 4, arbitrary: fc.constant(schema.const) }, { weight: 1, arbitrary: hostileString })
    const variants = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined
    if (Array.isArray(variants)) return fc.oneof(...variants.map((v) => this.#shaped(v, key, depth)))
    if (depth > 5) return wrongValue
    switch (schema.type) {
      case 'object': return this.#object(schema, depth)
      case 'array': return fc.array(this.value(schema.items as Schema | undefined, '', depth + 1), { maxLength: 4 })
      case 'string': return hostileString
      case 'integer':
      case 'number': return hostileNumber
      case 'boolean': return fc.boolean()
      default: return fc.jsonValue({ maxDepth: 2 })
    }
  }

  #object (schema: Schema, depth: number): fc.Arbitrary<unknown> {
    const props = (schema.properties ?? {}) as Record<string, Schema>
    const model: Record<string, fc.Arbitrary<unknown>> = {}
    for (const [k, v] of Object.entries(props)) model[k] = this.value(v, k, depth + 1)
    const required = ((schema.required ?? []) as string[]).filter((k) => k in model)
    const record = fc.oneof(
      { weight: 4, arbitrary: fc.record(model, { requiredKeys: required }) },
      { weight: 1, arbitrary: fc.record(model, { requiredKeys: [] }) })
    // Open objects (records, AuthZEN entities, batch operations) get fields from everywhere.
    const open = schema.additionalProperties !== false || Object.keys(props).length === 0
    const extra = fc.dictionary(this.#field, this.value(undefined, '', depth + 1), { maxKeys: open ? 4 : 1 })
    return fc.tuple(record, fc.oneof({ weight: open ? 1 : 5, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: extra }))
      .map(([known, more]) => ({ ...(more as object), ...(known as object) }))
  }
}

// ---------------------------------------------------------------- well-formed bodies to mutate

const EXAMPLES: Readonly<Record<string, readonly unknown[]>> = {
  'POST /v1/nodes': [{ name: 'new', type: 'O', parents: ['docs'], properties: { k: 'v' } }, { name: 'ABAC', type: 'PC', parents: [] }],
  'PATCH /v1/nodes/:name': [{ properties: { type: 'user', k: 'v' } }],
  'POST /v1/assignments': [{ child: 'obj-1', parent: 'staff' }, { child: 'report', parent: 'RBAC' }],
  'POST /v1/associations': [{ ua: 'guests', target: 'docs', rights: ['read', 'write'] }],
  'POST /v1/prohibitions': [POLICY.prohibitions[0], { ...POLICY.prohibitions[1], name: 'p2' }],
  'PUT /v1/resource-rights': [{ rights: ['read', 'write', 'approve'] }],
  'POST /v1/batch': [{
    operations: [
      { op: 'createNode', name: 'box', type: 'OA', parents: ['RBAC'], properties: { type: 'folder' } },
      { op: 'createNode', name: 'thing', type: 'O', parents: ['box'] },
      { op: 'assign', child: 'report', parent: 'box' },
      { op: 'associate', ua: 'guests', target: 'box', rights: ['write'] },
      { op: 'createProhibition', name: 'p3', subject: 'alice', rights: ['write'], intersection: false, containers: [{ name: 'box', complement: false }] },
      { op: 'setProperties', name: 'thing', properties: { a: 'b' } },
      { op: 'deassign', child: 'report', parent: 'box' },
      { op: 'dissociate', ua: 'guests', target: 'box' },
      { op: 'deleteProhibition', name: 'p3' },
      { op: 'deleteNode', name: 'thing' },
      { op: 'setResourceRights', rights: ['read', 'write', 'approve'] }
    ]
  }],
  'PUT /v1/policy': [POLICY],
  'POST /v1/check': [{ user: 'alice', right: 'read', target: 'report' }, { userAttributes: ['staff'], rights: ['read', 'write'], targetAttributes: ['docs'], process: 'p1', explain: true, atLeastRevision: 1 }],
  'POST /v1/check/batch': [{ checks: [{ user: 'bob', right: 'read', target: 'report' }, { user: 'user a/b', rights: ['read', 'write'], target: '..' }] }],
  'POST /v1/explain': [{ user: 'bob', target: 'report', process: 'p1' }],
  'POST /access/v1/evaluation': [{ subject: { type: 'user', id: 'alice' }, action: { name: 'read' }, resource: { type: 'document', id: 'report' }, context: {} }],
  'POST /access/v1/evaluations': [{
    subject: { type: 'user', id: 'alice' },
    evaluations: [{ action: { name: 'read' }, resource: { type: 'document', id: 'report' } }, { subject: { type: 'user', id: 'bob', properties: { staff: true } }, action: { name: 'write' }, resource: { type: 'x', id: 'a/b' } }],
    options: { evaluations_semantic: 'deny_on_first_deny' }
  }],
  'POST /access/v1/search/subject': [{ subject: { type: 'user' }, action: { name: 'read' }, resource: { type: 'document', id: 'report' }, page: { limit: 1 } }],
  'POST /access/v1/search/resource': [{ subject: { type: 'user', id: 'alice' }, action: { name: 'read' }, resource: { type: 'document' }, page: { limit: 2 } }],
  'POST /access/v1/search/action': [{ subject: { type: 'user', id: 'alice' }, resource: { type: 'document', id: 'report' } }]
}

/** Well-formed query strings of the routes that need a combination of fields, as [key, value] pairs. */
const QUERY_EXAMPLES: Readonly<Record<string, readonly (readonly (readonly [string, string])[])[]>> = {
  '/v1/privileges': [[['user', 'alice'], ['target', 'report']], [['userAttributes', 'staff'], ['userAttributes', 'odd-users'], ['targetAttributes', 'docs'], ['process', 'p1']]],
  '/v1/capabilities': [[['user', 'alice'], ['limit', '3']], [['userAttributes', 'odd-users'], ['process', 'p1']]],
  '/v1/acl': [[['target', 'report'], ['limit', '2']], [['targetAttributes', 'docs'], ['process', 'p1']]],
  '/v1/assignments': [[['parent', 'docs']], [['child', 'report']], [['child', 'report'], ['parent', 'docs']]],
  '/v1/associations': [[['ua', 'staff']], [['target', 'docs']], [['ua', 'staff'], ['target', 'docs']]],
  '/v1/nodes': [[['type', 'O'], ['limit', '5']]],
  '/v1/changes': [[['since', '0'], ['limit', '2']]]
}

/** A new name a client may choose: odd, fragile or random text, made unlikely to be taken already. */
const newName: fc.Arbitrary<string> = fc.tuple(
  fc.oneof(fc.constantFrom(...FRAGILE_STRINGS, ...ODD_NAMES, ...NASTY_STRINGS), fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }), hostileString),
  fc.constantFrom('', ' 2', '/new', '%'))
  .map(([a, b]) => a + b)
const newProperties = fc.dictionary(fc.oneof(fc.constantFrom(...FRAGILE_STRINGS), hostileString), fc.oneof(fc.constantFrom(...FRAGILE_STRINGS), hostileString), { maxKeys: 3 })

/** Well-formed writes with new names, keys and values of every kind: what the graph and the store must keep exactly. */
const WRITES: Readonly<Record<string, fc.Arbitrary<unknown>>> = {
  'POST /v1/nodes': fc.record({ name: newName, type: fc.constantFrom('O', 'OA', 'UA'), parents: fc.constant(['RBAC']), properties: newProperties })
    .map((b) => b.type === 'O' ? { ...b, parents: ['docs'] } : b),
  'PATCH /v1/nodes/:name': fc.record({ properties: newProperties }),
  'POST /v1/prohibitions': fc.record({ name: newName, subject: fc.oneof(fc.constant('alice'), newName.map((process) => ({ process }))), rights: fc.constant(['read']), intersection: fc.boolean(), containers: fc.constant([{ name: 'docs', complement: false }]) }),
  'PUT /v1/resource-rights': fc.array(newName, { maxLength: 3 }).map((extra) => ({ rights: ['read', 'write', ...extra] })),
  'POST /v1/batch': fc.tuple(newName, newName, newProperties).map(([a, b, properties]) => ({
    operations: [
      { op: 'createNode', name: a, type: 'OA', parents: ['RBAC'], properties },
      { op: 'createNode', name: b, type: 'O', parents: [a] },
      { op: 'associate', ua: 'staff', target: a, rights: ['read'] },
      { op: 'createProhibition', name: `${a}-p`, subject: 'bob', rights: ['read'], intersection: false, containers: [{ name: b, complement: false }] }
    ]
  })),
  'PUT /v1/policy': fc.tuple(newName, newProperties).map(([name, properties]) => ({
    ...POLICY, nodes: [...POLICY.nodes, { name, type: 'O', properties }], assignments: [...POLICY.assignments, [name, 'docs']]
  }))
}

/** Every path into a JSON value, as keys. */
function pathsOf (value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix)
  if (Array.isArray(value)) value.forEach((v, i) => pathsOf(v, [...prefix, i], out))
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) pathsOf(v, [...prefix, k], out)
  return out
}

/** `value` with the thing at `path` replaced by `replacement` (or deleted when it is undefined). */
function replaceAt (value: unknown, path: readonly (string | number)[], replacement: unknown): unknown {
  if (path.length === 0) return replacement
  const copy: Json = structuredClone(value)
  let at = copy
  for (const key of path.slice(0, -1)) at = at[key]
  const last = path[path.length - 1]
  if (replacement === undefined) {
    if (Array.isArray(at)) at.splice(last as number, 1)
    else delete at[last]
  } else {
    at[last] = replacement
  }
  return copy
}

const NAME_KEYS = new Set(['name', 'parents', 'child', 'parent', 'ua', 'target', 'subject', 'user', 'id', 'nodes', 'assignments'])

/**
 * An edit of a well-formed value: a string in place of a string (often a valid, odd name), or
 * anywhere a value of the wrong type, or nothing (the field removed).
 */
const edit = fc.oneof(
  { weight: 3, arbitrary: fc.oneof(hostileString, fc.constantFrom(...FRAGILE_STRINGS, ...ODD_NAMES)).map((value) => ({ leaf: true, value })) },
  { weight: 2, arbitrary: wrongValue.map((value) => ({ leaf: false, value })) },
  { weight: 1, arbitrary: fc.constant({ leaf: false, value: undefined }) })

const mutated = (examples: readonly unknown[]): fc.Arbitrary<unknown> =>
  fc.tuple(fc.constantFrom(...examples), fc.array(fc.tuple(fc.nat(), edit), { minLength: 1, maxLength: 2 }))
    .map(([example, edits]) => {
      let value: unknown = example
      for (const [n, { leaf, value: replacement }] of edits) {
        const all = pathsOf(value)
        const strings = all.filter((p) => typeof p.reduce<Json>((v, k) => v[k], value) === 'string')
        // Names most of the time: they are what the graph and the store keep.
        const names = strings.filter((p) => p.some((k) => NAME_KEYS.has(String(k))))
        const paths = leaf && names.length > 0 && n % 3 !== 0 ? names : leaf && strings.length > 0 ? strings : all
        value = replaceAt(value, paths[n % paths.length], replacement)
      }
      return value
    })

// ---------------------------------------------------------------- bodies as sent

/** A body: a JSON value to serialise (maybe with a duplicated key), or raw text or bytes. */
type Body =
  | { readonly kind: 'json', readonly value: unknown, readonly duplicate?: readonly [string, unknown, boolean] }
  | { readonly kind: 'raw', readonly payload: string | Buffer }

const deep = (depth: number, open: string, close: string, inner = '1'): string => open.repeat(depth) + inner + close.repeat(depth)
const RAW_BODIES: readonly (string | Buffer)[] = [
  '', ' ', '\n', 'null', '{', '{"a":', '}', '[]', '{}', 'nul', '\ufeff{}', '{"a":1,}', "{'a':1}", '1e400', '-0', '"x"', '123456789012345678901234567890',
  '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}', '{"a":"\\u0000"}', '{"a":"\\ud800"}', '{"a":"\\x41"}',
  deep(63, '[', ']', ''), deep(64, '[', ']', ''), deep(65, '[', ']', ''), deep(1000, '[', ']', ''), '['.repeat(100_000), deep(70, '{"a":', '}'),
  '{"name":"' + 'x'.repeat(LIMITS.bodyBytes) + '"}', '[' + '0,'.repeat(LIMITS.policyBodyBytes / 2) + '0]', 'x'.repeat(LIMITS.bodyBytes + 1),
  Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]), Buffer.from([0, 0, 0, 0])
]

function bodies (shaper: Shaper, op: Operation): fc.Arbitrary<Body> {
  const examples = EXAMPLES[`${op.method} ${op.route.url}`]
  const values: fc.WeightedArbitrary<unknown>[] = [
    { weight: 3, arbitrary: shaper.value(op.body) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) }
  ]
  if (examples !== undefined) values.push({ weight: 5, arbitrary: mutated(examples) }, { weight: 3, arbitrary: fc.constantFrom(...examples) })
  const writes = WRITES[`${op.method} ${op.route.url}`]
  if (writes !== undefined) values.push({ weight: 5, arbitrary: writes })
  // One body in eight has a key twice in its text.
  const duplicate = fc.tuple(fc.constantFrom('name', 'op', 'user', 'target', 'rights', 'subject', 'checks', 'operations', '__proto__'), wrongValue, fc.boolean())
  const json = fc.tuple(fc.oneof(...values), fc.oneof({ weight: 7, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: duplicate }))
    .map(([value, duplicate]): Body => duplicate === null ? { kind: 'json', value } : { kind: 'json', value, duplicate })
  return fc.oneof({ weight: 6, arbitrary: json }, { weight: 1, arbitrary: fc.constantFrom(...RAW_BODIES).map((payload): Body => ({ kind: 'raw', payload })) })
}

/** Harvested cursors replaced by the n-th one seen so far (or a string that looks like one). */
function materialise (value: unknown, cursors: readonly string[]): unknown {
  if (value instanceof Harvested) return cursors.length === 0 ? b64(`n.x.${value.n}`) : cursors[value.n % cursors.length]
  if (Array.isArray(value)) return value.map((v) => materialise(v, cursors))
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: materialise(v, cursors), enumerable: true, writable: true, configurable: true })
    return out
  }
  return value
}

function payloadOf (body: Body, cursors: readonly string[]): string | Buffer {
  if (body.kind === 'raw') return body.payload
  const value = materialise(body.value, cursors)
  const text = JSON.stringify(value) ?? 'null'
  if (body.duplicate === undefined || !text.startsWith('{')) return text
  // The same key twice in the text: JSON.parse keeps the last one.
  const [key, other, first] = body.duplicate
  const pair = `${JSON.stringify(key)}:${JSON.stringify(materialise(other, cursors)) ?? 'null'}`
  if (text === '{}') return `{${pair},${pair}}`
  return first ? `{${pair},${text.slice(1)}` : `${text.slice(0, -1)},${pair}}`
}

// ---------------------------------------------------------------- whole requests

interface Request {
  readonly op: Operation
  readonly method: string
  readonly params: readonly { readonly value: string, readonly mode: 'encode' | 'raw' }[]
  readonly query: readonly (readonly [string, unknown, 'encode' | 'raw'])[]
  readonly body: Body | undefined
  readonly contentType: string | undefined
  readonly headers: Readonly<Record<string, string>>
}

const BAD_ESCAPES = ['%', '%z', '%zz', '%E0%A4%A', '%C0%AF', '%ED%A0%80', '%FF', '%00', '%2e%2e', '%2F', '..', '%%32%65', '%u0041']
const CONTENT_TYPES = ['application/json; charset=utf-8', 'application/json; charset=latin1', 'APPLICATION/JSON', 'text/plain', 'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x', 'application/jsonx', 'application/json, text/plain', '', 'application/*', 'application/merge-patch+json']
const FOREIGN_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH', 'LOCK', 'QUERY']
const ASCII = /^[\x20-\x7e]*$/
/** encodeURIComponent, with unpaired surrogates (which it cannot encode) as U+FFFD; '%ED%A0%80' is among the raw escapes. */
const encode = (text: string): string => encodeURIComponent(text.replace(/[\ud800-\udfff]/gu, '\ufffd'))

const headerText = fc.oneof(hostileString.map(encode), hostileString.filter((s) => ASCII.test(s)))
const xfcc = fc.oneof(
  fc.constantFrom('URI=spiffe://example.org/alice', 'By=spiffe://a;URI=spiffe://b,By=spiffe://c;URI=alice', 'URI="spiffe://x";Hash=00', 'URI=', ',,,', ';;;', 'URI=spiffe://%ZZ'),
  headerText.map((s) => `URI=${s}`), headerText)

function requests (shaper: Shaper, op: Operation): fc.Arbitrary<Request> {
  const paramCount = (op.route.url.match(/:\w+|\*/g) ?? []).length
  const param = fc.oneof(
    { weight: 6, arbitrary: fc.oneof(hostileString, fc.constantFrom(...POLICY_NAMES)).map((value) => ({ value, mode: 'encode' as const })) },
    { weight: 2, arbitrary: fc.constantFrom(...BAD_ESCAPES, 'a/b', '../x', 'a/../../b', '.', '%2e', 'orders/42', 'orders/%2e%2e/42').map((value) => ({ value, mode: 'raw' as const })) })
  const declared = op.query.map((q) => q.name)
  const key = fc.oneof({ weight: declared.length === 0 ? 0 : 6, arbitrary: fc.constantFrom(...(declared.length === 0 ? ['x'] : declared)) }, { weight: 1, arbitrary: hostileString })
  const queryValue = (name: string): fc.Arbitrary<unknown> => {
    const schema = op.query.find((q) => q.name === name)?.schema
    return fc.oneof(
      { weight: 3, arbitrary: shaper.value(schema, name) },
      { weight: name === 'limit' || name === 'since' || name === 'atLeastRevision' ? 3 : 0, arbitrary: fc.constantFrom(...PAGING_TEXT) },
      { weight: 1, arbitrary: hostileString })
  }
  const entry = key.chain((k) => fc.tuple(fc.constant(k), queryValue(k), fc.constantFrom<'encode' | 'raw'>('encode', 'encode', 'encode', 'encode', 'raw')))
  // A well-formed query string, as is, or with one value replaced or one pair added.
  const queryExamples = (op.query.length === 0 ? [] : QUERY_EXAMPLES[op.route.url] ?? []).map((pairs) => pairs.map(([k, v]) => [k, v, 'encode'] as const))
  const queryExample = fc.tuple(fc.constantFrom(...(queryExamples.length > 0 ? queryExamples : [[]])), fc.nat(), fc.option(entry, { freq: 2 }), fc.option(hostileString, { freq: 2 }))
    .map(([pairs, n, extra, value]) => {
      const out: (readonly [string, unknown, 'encode' | 'raw'])[] = [...pairs]
      if (value !== null && out.length > 0) out[n % out.length] = [out[n % out.length][0], value, 'encode']
      if (extra !== null) out.push(extra)
      return out
    })
  const hasBody = op.body !== undefined || EXAMPLES[`${op.method} ${op.route.url}`] !== undefined
  const extAuthzHeaders = fc.record({
    'x-user': fc.oneof(fc.constantFrom('alice', 'bob', 'user a%2Fb'), headerText),
    'x-forwarded-client-cert': xfcc,
    'x-original-uri': fc.oneof(fc.constantFrom('/orders/42', '/docs/report', '/docs/%2e%2e/x', '/orders/%ZZ', '//', '*'), headerText),
    'x-original-method': fc.oneof(fc.constantFrom('GET', 'POST', 'DELETE', 'BREW'), headerText),
    'x-forwarded-uri': fc.oneof(fc.constantFrom('/orders/42', '/docs/a%2Fb'), headerText),
    'x-forwarded-method': fc.constantFrom('GET', 'PUT', 'get')
  }, { requiredKeys: [] })
  const otherHeaders = fc.record({
    'x-request-id': headerText,
    authorization: fc.oneof(fc.constant('Bearer '), headerText.map((s) => `Bearer ${s}`)),
    accept: fc.constantFrom('application/json', 'text/html', '*/*', 'application/xml')
  }, { requiredKeys: [] })
  return fc.record({
    method: fc.oneof({ weight: 8, arbitrary: fc.constant(op.method) }, { weight: 1, arbitrary: fc.constantFrom(...FOREIGN_METHODS) }),
    params: fc.array(param, { minLength: paramCount, maxLength: paramCount }),
    query: fc.oneof(
      { weight: declared.length > 0 ? 2 : 1, arbitrary: fc.array(entry, { maxLength: 3 }) },
      { weight: 2, arbitrary: fc.constant([]) },
      { weight: queryExamples.length > 0 ? 3 : 0, arbitrary: queryExample }),
    // Routes without a body get one now and then all the same.
    body: fc.oneof({ weight: hasBody ? 11 : 1, arbitrary: bodies(shaper, op) }, { weight: hasBody ? 1 : 6, arbitrary: fc.constant(null) }),
    contentType: fc.oneof({ weight: 14, arbitrary: fc.constant('application/json') }, { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) }, { weight: 1, arbitrary: fc.constant(undefined) }),
    headers: op.extAuthz ? fc.tuple(extAuthzHeaders, otherHeaders).map(([a, b]) => ({ ...a, ...b })) : fc.option(otherHeaders, { freq: 3, nil: {} })
  }).map((r) => ({ ...r, op, body: r.body ?? undefined }))
}

function encodeQuery (value: unknown, mode: 'encode' | 'raw'): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? ''
  return mode === 'encode' || !ASCII.test(text) ? encode(text) : text.replaceAll('&', '%26').replaceAll('#', '%23').replaceAll(' ', '+')
}

/** The URL of a request: the route's pattern with its parameters filled in, and the query string. */
function urlOf (request: Request, cursors: readonly string[]): string {
  let i = 0
  const path = request.op.route.url.replace(/:\w+|\*/g, () => {
    const p = request.params[i++]
    return p.mode === 'encode' ? encode(p.value) : p.value
  })
  const pairs: string[] = []
  for (const [key, value, mode] of request.query) {
    const resolved = materialise(value, cursors)
    const values = Array.isArray(resolved) ? resolved : [resolved]
    for (const v of values) pairs.push(`${encode(key)}=${encodeQuery(v, mode)}`)
  }
  return pairs.length === 0 ? path : `${path}?${pairs.join('&')}`
}

// ---------------------------------------------------------------- the property

interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string | string[] | number | undefined>>
  readonly body: string
}

/** Asserts what every answer must be; returns a description of the first thing wrong, or undefined. */
function problemOf (method: string, url: string, extAuthz: boolean, answer: Answer): string | undefined {
  const { status, body } = answer
  const type = String(answer.headers['content-type'] ?? '')
  if (extAuthz) {
    if (status !== 200 && status !== 401 && status !== 403) return `ext_authz answered ${status}`
    if (status === 200) return body === '' ? undefined : 'ext_authz allowed with a body'
    if (method === 'HEAD') return body === '' ? undefined : 'a body on HEAD'
    const parsed = JSON.parse(body) as Json
    const keys = Object.keys(parsed).sort().join(',')
    return keys === 'allowed,decisionId,reason' && parsed.allowed === false && typeof parsed.reason === 'string' ? undefined : `ext_authz deny body ${body}`
  }
  if (status >= 500) return `a ${status}: ${body}`
  if (status >= 200 && status < 300) {
    if (method !== 'HEAD' && type.startsWith('application/json')) JSON.parse(body)
    return undefined
  }
  if (status < 400) return url.startsWith('/docs') ? undefined : `a ${status}`
  if (method === 'HEAD') return body === '' ? undefined : 'a body on HEAD'
  if (!type.startsWith('application/json')) return `a ${status} answered as ${type}`
  const parsed = JSON.parse(body) as Json
  if (parsed === null || typeof parsed !== 'object') return `error body ${body}`
  if (!Object.keys(parsed).every((k) => ERROR_BODY_KEYS.includes(k))) return `error body keys ${Object.keys(parsed).join(',')}`
  if (!(parsed.code in ERROR_CODES)) return `unknown code ${String(parsed.code)}`
  if (ERROR_CODES[parsed.code as keyof typeof ERROR_CODES] !== status) return `${String(parsed.code)} answered with ${status}`
  if (typeof parsed.message !== 'string' || parsed.message.length === 0) return 'no message'
  return undefined
}

/** The policy as a canonical string: element order does not matter, content does. */
function canonical (doc: PolicyDocument): string {
  const sorted = <T>(list: readonly T[] | undefined): T[] => [...(list ?? [])].sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)
  return JSON.stringify({
    resourceRights: sorted(doc.resourceRights),
    nodes: sorted(doc.nodes),
    assignments: sorted(doc.assignments),
    associations: sorted(doc.associations),
    prohibitions: sorted(doc.prohibitions)
  })
}

/** Opens the file without writing to it (a named constant: a literal reads as a focused test to CI's hooks). */
const READ_ONLY = true

/** What the SQLite file holds, read as a server restarting would read it. */
function stored (db: string): { revision: number, policy: string } {
  const store = new SqliteStore(db, { readonly: READ_ONLY })
  try {
    const { revision, document } = store.load()
    return { revision, policy: canonical(exportPolicy(loadPolicy(document))) }
  } finally {
    store.close()
  }
}

function harvest (body: string, cursors: string[]): void {
  try {
    const parsed = JSON.parse(body) as Json
    for (const c of [parsed?.nextCursor, parsed?.page?.next_token]) if (typeof c === 'string' && c !== '') cursors.push(c)
  } catch {
    // not JSON: nothing to harvest
  }
}

/** What the runs did, so that a change of generators that stops exercising writes is seen. */
const COUNTS = { committed: 0, refusedWrites: 0, reads: 0 }

/** Sends `requests` in order on a fresh copy of the policy; returns the first property broken. */
async function runOne (f: Fixture, list: readonly Request[]): Promise<string | undefined> {
  const { app } = f
  app.policy.replace(POLICY)
  const cursors: string[] = []
  for (const request of list) {
    const url = urlOf(request, cursors)
    const before = { revision: app.policy.revision, policy: canonical(app.policy.export()) }
    const headers: Record<string, string> = { ...request.headers }
    if (request.contentType !== undefined) headers['content-type'] = request.contentType
    const res = await app.inject({
      method: request.method as 'GET',
      url,
      headers,
      ...(request.body === undefined ? {} : { payload: payloadOf(request.body, cursors) })
    })
    const answer = { status: res.statusCode, headers: res.headers, body: res.body }
    const where = `${request.method} ${url.slice(0, 300)} -> ${res.statusCode} ${res.body.slice(0, 300)}`
    // inject resolves dot segments ('/ext_authz/%2e%2e' reaches the server as '/'): judge by what the server saw.
    const seen = new URL(url, 'http://localhost')
    const extAuthz = isExtAuthzUrl(seen.pathname + seen.search)
    let problem: string | undefined
    try {
      problem = problemOf(request.method, url, extAuthz, answer)
    } catch (err) {
      problem = `an unreadable body: ${String(err)}`
    }
    if (problem !== undefined) return `${problem}: ${where}`
    if (f.errors.length > 0) return `logged an error: ${f.errors.join('\n').slice(0, 600)}: ${where}`
    harvest(res.body, cursors)
    const after = { revision: app.policy.revision, policy: canonical(app.policy.export()) }
    const committed = res.statusCode < 300 && request.op.write && request.method === request.op.method
    if (committed) COUNTS.committed++
    else if (request.op.write) COUNTS.refusedWrites++
    else COUNTS.reads++
    if (committed) {
      if (after.revision !== before.revision + 1) return `an accepted write went from revision ${before.revision} to ${after.revision}: ${where}`
      const answered = (JSON.parse(res.body) as Json).revision
      if (answered !== after.revision) return `an accepted write answered revision ${String(answered)}, not ${after.revision}: ${where}`
    } else if (after.revision !== before.revision || after.policy !== before.policy) {
      return `the policy changed (revision ${before.revision} -> ${after.revision}) on a request that ${res.statusCode < 300 ? 'only reads' : 'was refused'}: ${where}`
    }
    if (request.op.write || committed) {
      const disk = stored(f.db)
      if (disk.revision !== after.revision || disk.policy !== after.policy) return `the SQLite file differs from memory after: ${where}\n${disk.policy.slice(0, 400)}\n${after.policy.slice(0, 400)}`
    }
  }
  return undefined
}

/** Fails the test with the broken property's own message, and where to replay it. */
function report<T> (t: Test, out: fc.RunDetails<T>): void {
  const message = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance)
  t.notOk(out.failed, out.failed ? `${message}\n(seed ${out.seed}, path ${String(out.counterexamplePath)})` : `${out.numRuns} runs`)
}

t.test('the router and the OpenAPI document agree, and every route is fuzzed', async (t) => {
  const { app } = await fixture(t)
  const routes = routesOf(app)
  t.ok(routes.length >= 30, `${routes.length} routes read from the router`)
  for (const route of routes) {
    for (const method of route.methods) t.ok(app.hasRoute({ method: method as 'GET', url: route.url }), `${method} ${route.url} is a route`)
  }
  const doc = app.swagger() as unknown as OpenApi
  const urls = new Set(routes.map((r) => r.url.replace(/:(\w+)/g, '{$1}')))
  for (const path of Object.keys(doc.paths)) t.ok(urls.has(path), `${path} of the OpenAPI document is among the routes fuzzed`)
})

t.test('every route, through inject: a 2xx or an NGAC_ERR_* 4xx, and refused writes change nothing', async (t) => {
  const f = await fixture(t)
  const doc = f.app.swagger() as unknown as OpenApi
  const shaper = new Shaper(doc)
  const ops = operationsOf(f.app)
  // Each run: one to three requests, each to a route drawn at random, then one of its methods.
  const perRoute = new Map<string, fc.Arbitrary<Request>>()
  for (const op of ops) perRoute.set(`${op.method} ${op.route.url}`, requests(shaper, op))
  const routeUrls = [...new Set(ops.map((o) => o.route.url))]
  // A route with writes is drawn three times as often: refused writes are what must change nothing.
  const request = fc.oneof(...routeUrls.map((url) => {
    const mine = ops.filter((o) => o.route.url === url)
    return { weight: mine.some((o) => o.write) ? 3 : 1, arbitrary: fc.constantFrom(...mine) }
  })).chain((op) => perRoute.get(`${op.method} ${op.route.url}`) as fc.Arbitrary<Request>)
  const seen = new Map<string, number>()
  const out = await fc.check(fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 3 }), async (list) => {
    for (const r of list) seen.set(r.op.route.url, (seen.get(r.op.route.url) ?? 0) + 1)
    const problem = await runOne(f, list)
    if (problem !== undefined) throw new Error(problem)
  }), { seed: SEED, numRuns: INJECT_RUNS, endOnFailure: true })
  report(t, out)
  for (const url of routeUrls) t.ok((seen.get(url) ?? 0) > 0, `${url} was fuzzed`)
  t.ok(COUNTS.committed >= 20, `${COUNTS.committed} writes were accepted`)
  t.ok(COUNTS.refusedWrites >= 200, `${COUNTS.refusedWrites} writes were refused`)
  t.ok(COUNTS.reads >= 200, `${COUNTS.reads} reads were answered`)
  const health = await f.app.inject({ method: 'GET', url: '/healthz' })
  t.equal(health.statusCode, 200, 'the server still answers')
})

t.test('well-formed writes of odd, fragile and random names, keys and values: what is answered is what is stored', async (t) => {
  const f = await fixture(t)
  const ops = operationsOf(f.app).filter((o) => WRITES[`${o.method} ${o.route.url}`] !== undefined)
  t.ok(ops.length >= 5, `${ops.length} write routes`)
  const param = fc.oneof(fc.constantFrom(...POLICY_NAMES), newName).map((value) => ({ value, mode: 'encode' as const }))
  const request = fc.constantFrom(...ops).chain((op) => fc.record({
    value: WRITES[`${op.method} ${op.route.url}`] as fc.Arbitrary<unknown>,
    params: fc.array(param, { minLength: 1, maxLength: 1 })
  }).map(({ value, params }): Request => ({
    op, method: op.method, params, query: [], body: { kind: 'json', value }, contentType: 'application/json', headers: {}
  })))
  const before = COUNTS.committed
  const out = await fc.check(fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 3 }), async (list) => {
    const problem = await runOne(f, list)
    if (problem !== undefined) throw new Error(problem)
  }), { seed: SEED, numRuns: WRITE_RUNS, endOnFailure: true })
  report(t, out)
  t.ok(COUNTS.committed - before >= WRITE_RUNS / 2, `${COUNTS.committed - before} writes were accepted`)
})

// ---------------------------------------------------------------- raw HTTP over a real socket

/** Sends `text` on a fresh connection, half-closes it and reads everything until the server closes. */
function rawExchange (port: number, text: string | Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(text))
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('close', () => resolve(Buffer.concat(chunks)))
    socket.on('error', (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve(Buffer.concat(chunks)) : reject(err))
  })
}

/** The first HTTP response in `data`. */
function parseResponse (data: Buffer): Answer | undefined {
  const end = data.indexOf('\r\n\r\n')
  if (end < 0) return undefined
  const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n')
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1])
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const i = line.indexOf(':')
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
  }
  let body = data.subarray(end + 4)
  if (headers['transfer-encoding'] === 'chunked') {
    const parts: Buffer[] = []
    for (let at = 0; ;) {
      const lineEnd = body.indexOf('\r\n', at)
      const size = parseInt(body.subarray(at, lineEnd).toString('latin1'), 16)
      if (!(size > 0)) break
      parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size))
      at = lineEnd + 4 + size
    }
    body = Buffer.concat(parts)
  } else if (headers['content-length'] !== undefined) {
    body = body.subarray(0, Number(headers['content-length']))
  }
  return { status, headers, body: body.toString('utf8') }
}

/** What node's HTTP parser refuses, before any route: these answers come from app's clientErrorHandler. */
const PARSER_CODES = ['NGAC_ERR_MALFORMED_REQUEST', 'NGAC_ERR_HEADERS_TOO_LARGE', 'NGAC_ERR_REQUEST_TIMEOUT']

function errorCode (body: string): string {
  try {
    return String((JSON.parse(body) as Json)?.code)
  } catch {
    return ''
  }
}

const TARGETS = [
  '/v1/revision', '/v1/nodes/%E0%A4%A', '/v1/nodes/%', '/v1/nodes/a%2Fb', '/v1/nodes/../v1/revision', '/v1/%2e%2e/v1/revision', '/v1/privileges?user=%ZZ&target=x',
  '/v1/changes?since=-1', '/v1/nodes?limit=1e400', '/v1/acl?target=%ED%A0%80', '*', 'http://example.org/v1/revision', '//v1//revision', '/v1/revision#frag',
  '/v1/nodes/caf\u00e9', '/v1/nodes/\u00ff\u00fe', '/ext_authz/orders/%ZZ', '/ext_authz/orders/42?x=%', '/ext_authz', '/v1/nodes/' + 'x'.repeat(3000),
  '/' + 'a'.repeat(20000), '/v1/check', '/access/v1/evaluation', '/v1/batch', '/v1/nodes/a\u0000b', '/v1/nodes/a b'
]

const rawRequests = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PROPFIND', 'get', 'G E T', 'BREW', 'CONNECT', ''),
  target: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...TARGETS) }, { weight: 1, arbitrary: hostileString.map((s) => `/v1/nodes/${s}`) }),
  version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 extra', ''),
  headers: fc.array(fc.oneof(
    fc.constantFrom(
      'host: localhost', 'host: a', 'host: b', 'content-type: application/json', 'content-type: text/plain', 'content-length: 2', 'content-length: 5',
      'content-length: -1', 'content-length: 1e3', 'content-length: 99999999999999999999', 'transfer-encoding: chunked', 'transfer-encoding: gzip, chunked',
      'authorization: Bearer x', 'x-user: alice', 'x-user: bob', 'x-forwarded-client-cert: URI=spiffe://a', 'x-original-uri: /orders/%ZZ',
      'x-original-method: GET', 'expect: 100-continue', 'bad header: x', 'x-nul: a\u0000b', ' folded: x', 'x-cr: a\rb', 'x-long: ' + 'v'.repeat(20000),
      'x-utf8: caf\u00e9', ':', 'no-colon'),
    headerText.map((v) => `x-any: ${v}`)), { maxLength: 6 }),
  body: fc.constantFrom('', '{}', '{"user":"alice","right":"read","target":"report"}', '{"a":', 'x'.repeat(100), '0\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n', 'zz\r\n')
})

t.test('raw HTTP over a real socket: malformed requests get a 4xx with the error body, and the server lives on', async (t) => {
  const f = await fixture(t)
  f.app.policy.replace(POLICY)
  await f.app.listen({ host: '127.0.0.1', port: 0 })
  const port = (f.app.server.address() as { port: number }).port
  const out = await fc.check(fc.asyncProperty(rawRequests, async (r) => {
    const head = [`${r.method} ${r.target} ${r.version}`.trim(), ...r.headers].join('\r\n')
    const text = Buffer.from(`${head}\r\nconnection: close\r\n\r\n${r.body}`, 'latin1')
    const before = { revision: f.app.policy.revision, policy: canonical(f.app.policy.export()) }
    const data = await rawExchange(port, text)
    const answer = parseResponse(data)
    // The only answers that may be missing: the request is unfinished (a body shorter than
    // its Content-Length, an open chunked body) when the client closes its side.
    if (answer === undefined) {
      if (data.length !== 0) throw new Error(`not an HTTP answer: ${data.toString('latin1').slice(0, 200)}`)
      return
    }
    // The HTTP parser's refusals answer the bytes, whatever the method or route they were for.
    const parser = PARSER_CODES.includes(errorCode(answer.body))
    const extAuthz = !parser && isExtAuthzUrl(r.target)
    const problem = problemOf(parser ? 'POST' : r.method, r.target, extAuthz, answer)
    if (problem !== undefined) throw new Error(`${problem}: ${head.slice(0, 300)} -> ${answer.status} ${answer.body.slice(0, 300)}`)
    if (f.errors.length > 0) throw new Error(`logged an error: ${f.errors.join('\n').slice(0, 600)}`)
    const after = { revision: f.app.policy.revision, policy: canonical(f.app.policy.export()) }
    if (answer.status >= 300 && (after.revision !== before.revision || after.policy !== before.policy)) throw new Error(`a refused request changed the policy: ${head}`)
  }), { seed: SEED, numRuns: SOCKET_RUNS, endOnFailure: true })
  report(t, out)
  const health = await f.app.inject({ method: 'GET', url: '/healthz' })
  t.equal(health.statusCode, 200, 'the server still answers')
})
