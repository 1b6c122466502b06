/**
 * Proxy request mapping (DESIGN section 5, Request mapping): turns what a proxy says about a
 * request (method, path, headers, peer principal, Envoy's context_extensions) into an NGAC
 * question (user, right, object) and answers it. Shared by the HTTP ext_authz route, the gRPC
 * Authorization service and the nginx/Caddy forward-auth forms of the HTTP route.
 *
 * Invariants: it never throws on a request; anything it cannot map is a deny (403) or, with
 * no identity, 401; only a fault of the PDP itself escapes as an exception, which callers
 * answer as an error status, never as an allow.
 *
 * Cost: one pass over the identity sources, one split of the path, a linear scan of the
 * route table (compiled once), then one engine check.
 */
import { randomBytes } from 'node:crypto'
import { NgacError } from '../errors.js'
import type { Config } from '../config.js'
import type { Policy } from '../policy.js'

/** What a proxy tells the PDP about the request it holds. */
export interface ProxyRequest {
  /** The original request's method. */
  readonly method: string
  /** The original request target: the path with its query string, as on the request line. */
  readonly path: string
  /** The original request's headers, names in lower case. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>
  /** The peer's principal as the proxy verified it (gRPC `source.principal`). */
  readonly principal?: string | undefined
  /**
   * The proxy described the original request in two ways that differ (e.g. X-Original-URI and
   * X-Forwarded-Uri): one of them came from the client, so the request is denied.
   */
  readonly ambiguous?: boolean
  /** Envoy's `context_extensions`: `object` and `right` name them directly. */
  readonly contextExtensions?: Readonly<Record<string, string>> | undefined
}

/** Why a request was allowed or not; stable strings, also sent to the proxy on a deny. */
export type Reason = 'allowed' | 'denied' | 'no identity' | 'unknown method' | 'no route' | 'malformed path' | 'ambiguous request'

/** The answer for a proxy. */
export interface ProxyDecision {
  readonly allowed: boolean
  /** The HTTP status to answer: 200 allow, 403 deny, 401 no identity. */
  readonly status: 200 | 401 | 403
  readonly reason: Reason
  readonly user: string | undefined
  readonly right: string | undefined
  readonly object: string | undefined
  /** The revision decided at. */
  readonly revision: number
  /** Unique within this process's lifetime, and across processes with high probability. */
  readonly decisionId: string
}

/** Options of an {@link ExtAuthz}. */
export interface ExtAuthzOptions {
  /** Where decision log lines go (a pino logger); none when absent. */
  readonly log?: { info (obj: object, msg: string): void, isLevelEnabled?: (level: string) => boolean }
}

/** The extAuthz section of the config. */
export type ExtAuthzConfig = Config['extAuthz']

type IdentitySource = ExtAuthzConfig['identity'][number]

/** A route template, compiled. */
export interface CompiledRoute {
  /** Literal segments, or null for a parameter; a trailing `*` is `rest`. */
  readonly segments: readonly (string | null)[]
  readonly params: readonly (string | null)[]
  readonly rest: boolean
  /** The object template split at its placeholders: literal, name, literal, name, ... literal. */
  readonly template: readonly string[]
  readonly right: string | undefined
}

/**
 * Header values sent as they are: visible ASCII but `%`, with inner spaces. Anything else is
 * percent-encoded, so that decoding is never ambiguous (a user named `a%41` is sent as `a%2541`,
 * never as something that decodes to `aA`) and no space at either end is trimmed away in transit.
 */
const PLAIN_HEADER = /^[\x21-\x24\x26-\x7e]+(?: +[\x21-\x24\x26-\x7e]+)*$/

/**
 * The ext_authz decision function: maps a proxy's request and checks it against the policy.
 *
 * @example
 * ```ts
 * const authz = new ExtAuthz(policy, config.extAuthz)
 * authz.decide({ method: 'GET', path: '/orders/42', headers: { 'x-user': 'alice' } })
 * // { allowed: true, status: 200, user: 'alice', right: 'read', object: 'order:42', ... }
 * ```
 */
export class ExtAuthz {
  readonly #policy: Policy
  readonly #identity: readonly IdentitySource[]
  readonly #rights: ReadonlyMap<string, string>
  readonly #routes: readonly CompiledRoute[]
  readonly #pathFallback: boolean
  readonly #sample: number
  readonly #log: ExtAuthzOptions['log']
  readonly #idPrefix = randomBytes(6).toString('hex') // NOTE: hex, so the id splits at its one '-'
  #sequence = 0
  #pending: object[] = []

  /** @throws NgacError NGAC_ERR_CONFIG for a route template that cannot be compiled. */
  constructor (policy: Policy, config: ExtAuthzConfig, options: ExtAuthzOptions = {}) {
    this.#policy = policy
    this.#identity = config.identity
    this.#rights = new Map(Object.entries(config.rights).map(([method, right]) => [method.toUpperCase(), right]))
    this.#routes = compileRoutes(config.routes)
    this.#pathFallback = config.unknownObject === 'path'
    // NOTE: a logger that drops info lines gets none: no timing, no queue, no line built.
    this.#sample = options.log === undefined || options.log.isLevelEnabled?.('info') === false ? 0 : config.decisionLog.sample
    this.#log = options.log
  }

  /** Decides a proxy's request. Throws only on a fault of the PDP itself, never for the request's content. */
  decide (request: ProxyRequest, requestId?: string): ProxyDecision {
    const logged = this.#sample > 0 && (this.#sample >= 1 || Math.random() < this.#sample)
    const started = logged ? performance.now() : 0
    const decision = this.#decide(request)
    if (logged) this.#logDecision(decision, request, requestId, performance.now() - started)
    return decision
  }

  #decide (request: ProxyRequest): ProxyDecision {
    const user = this.#user(request)
    const revision = this.#policy.revision
    if (user === undefined) return this.#answer(401, 'no identity', undefined, undefined, undefined, revision)
    if (request.ambiguous === true) return this.#answer(403, 'ambiguous request', user, undefined, undefined, revision)
    const segments = pathSegments(request.path)
    if (segments === null) return this.#answer(403, 'malformed path', user, undefined, undefined, revision)
    const extensions = request.contextExtensions
    let object = extensions?.object
    let right = extensions?.right
    if (object === undefined || right === undefined) {
      const matched = this.#match(segments)
      if (object === undefined) {
        object = matched === null ? (this.#pathFallback ? plainPath(segments) : undefined) : matched.object
        if (object === undefined) return this.#answer(403, matched === null && this.#pathFallback ? 'malformed path' : 'no route', user, undefined, undefined, revision)
      }
      right ??= matched?.right ?? this.#rights.get(request.method.toUpperCase())
      if (right === undefined) return this.#answer(403, 'unknown method', user, undefined, object, revision)
    }
    const decision = this.#policy.check({ user, right, target: object })
    return this.#answer(decision.allowed ? 200 : 403, decision.allowed ? 'allowed' : 'denied', user, right, object, decision.revision)
  }

  #answer (status: 200 | 401 | 403, reason: Reason, user: string | undefined, right: string | undefined, object: string | undefined, revision: number): ProxyDecision {
    return { allowed: status === 200, status, reason, user, right, object, revision, decisionId: `${this.#idPrefix}-${(++this.#sequence).toString(36)}` }
  }

  /** The identity of the first configured source that yields one. */
  #user (request: ProxyRequest): string | undefined {
    for (const source of this.#identity) {
      let user: string | undefined
      switch (source.type) {
        case 'xfcc': user = spiffeFromXfcc(lastValue(request.headers['x-forwarded-client-cert'])); break
        case 'principal': user = request.principal === '' ? undefined : request.principal; break
        case 'jwt': user = claimFromPayload(lastValue(request.headers[source.header.toLowerCase()]), source.claim); break
        case 'header': user = lastValue(request.headers[source.header.toLowerCase()])?.trim(); break
      }
      if (user !== undefined && user !== '') return user
    }
    return undefined
  }

  /** The first route whose template matches, with its object name and right override. */
  #match (segments: readonly string[]): { object: string, right: string | undefined } | null {
    for (const route of this.#routes) {
      const object = matchRoute(route, segments)
      if (object !== null) return { object, right: route.right }
    }
    return null
  }

  // NOTE: lines are queued and written on the next turn of the event loop, off the response path.
  #logDecision (d: ProxyDecision, request: ProxyRequest, requestId: string | undefined, latencyMs: number): void {
    if (this.#pending.length === 0) setImmediate(() => { this.#flush() })
    this.#pending.push({
      decisionId: d.decisionId,
      requestId,
      user: d.user,
      method: request.method,
      // NOTE: the path without its query string, which may carry secrets.
      path: pathOnly(request.path),
      right: d.right,
      object: d.object,
      allowed: d.allowed,
      reason: d.reason,
      revision: d.revision,
      latencyMs: Math.round(latencyMs * 1000) / 1000
    })
  }

  #flush (): void {
    const lines = this.#pending
    this.#pending = []
    for (const line of lines) this.#log?.info(line, 'decision')
  }
}

/**
 * The response headers of an allow, for Envoy's `allowed_upstream_headers` (and nginx's
 * `auth_request_set`, Caddy's `copy_headers`): the user (percent-encoded when it is not plain
 * ASCII, holds a `%` or starts or ends with a space: `decodeURIComponent` always gives it back),
 * the revision and the decision id.
 *
 * @example
 * ```ts
 * allowHeaders(authz.decide(request))
 * // [['x-ngac-user', 'spiffe://example.org/ns/shop/sa/frontend'], ['x-ngac-revision', '3'], ['x-ngac-decision-id', 'Zk3...-1']]
 * ```
 */
export function allowHeaders (decision: ProxyDecision): [string, string][] {
  const user = decision.user ?? ''
  return [
    ['x-ngac-user', PLAIN_HEADER.test(user) ? user : encodeURIComponent(user)],
    ['x-ngac-revision', String(decision.revision)],
    ['x-ngac-decision-id', decision.decisionId]
  ]
}

/**
 * The small JSON body of a deny or a 401, as a proxy passes it on to the client.
 *
 * @example
 * ```ts
 * denyBody(decision) // '{"allowed":false,"reason":"denied","decisionId":"Zk3...-2"}'
 * ```
 */
export function denyBody (decision: ProxyDecision): string {
  return JSON.stringify({ allowed: false, reason: decision.reason, decisionId: decision.decisionId })
}

function pathOnly (target: string): string {
  const q = target.indexOf('?')
  return q < 0 ? target : target.slice(0, q)
}

function lastValue (value: string | readonly string[] | undefined): string | undefined {
  if (value === undefined || typeof value === 'string') return value
  return value.length === 0 ? undefined : value[value.length - 1]
}

/**
 * The SPIFFE ID in the last element of an `x-forwarded-client-cert` header, the one the
 * nearest proxy added: `By=...;Hash=...;URI=spiffe://td/ns/x/sa/y`. Values may be quoted, and
 * quoted values may hold `,` and `;`.
 *
 * @example
 * ```ts
 * spiffeFromXfcc('By=spiffe://a/x;URI=spiffe://a/client,By=spiffe://a/y;URI=spiffe://a/frontend')
 * // 'spiffe://a/frontend'
 * ```
 */
export function spiffeFromXfcc (header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  // The start of the last element: the last comma outside quotes.
  let start = 0
  let quoted = false
  for (let i = 0; i < header.length; i++) {
    const c = header.charCodeAt(i)
    if (c === 0x5c && quoted) i++ // backslash escapes the next character inside quotes
    else if (c === 0x22) quoted = !quoted
    else if (c === 0x2c && !quoted) start = i + 1
  }
  const element = header.slice(start)
  quoted = false
  let pairStart = 0
  for (let i = 0; i <= element.length; i++) {
    const c = i === element.length ? 0x3b : element.charCodeAt(i)
    if (c === 0x5c && quoted) { i++; continue }
    if (c === 0x22) quoted = !quoted
    else if (c === 0x3b && !quoted) {
      const pair = element.slice(pairStart, i).trim()
      pairStart = i + 1
      const eq = pair.indexOf('=')
      if (eq < 0 || pair.slice(0, eq).trim().toLowerCase() !== 'uri') continue
      let value = pair.slice(eq + 1).trim()
      if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1).replace(/\\(.)/g, '$1')
      if (value.startsWith('spiffe://')) return value
    }
  }
  return undefined
}

/**
 * A claim of the JWT payload Envoy's jwt_authn filter forwards (`forward_payload_header`):
 * base64url JSON. Envoy has verified the token; this reads it. A dotted claim walks objects.
 *
 * @example
 * ```ts
 * const payload = Buffer.from(JSON.stringify({ sub: 'alice', ext: { user: 'bob' } })).toString('base64url')
 * claimFromPayload(payload, 'ext.user') // 'bob'
 * ```
 */
export function claimFromPayload (header: string | undefined, claim: string): string | undefined {
  if (header === undefined || header === '') return undefined
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
  for (const key of claim.split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, key)) return undefined
    value = (value as Record<string, unknown>)[key]
  }
  return typeof value === 'string' ? value : undefined
}

/**
 * The decoded segments of a request target's path (query string and fragment dropped; one
 * trailing slash ignored), or null when it cannot be trusted: not starting with `/`, a
 * malformed escape, or a `.` or `..` segment (the proxy should normalise paths, Envoy's
 * `normalize_path`; the upstream might resolve them differently).
 *
 * @example
 * ```ts
 * pathSegments('/orders/caf%C3%A9/?x=1') // ['', 'orders', 'café']
 * pathSegments('/a/../b') // null
 * ```
 */
export function pathSegments (target: string): string[] | null {
  let end = target.length
  const q = target.indexOf('?')
  if (q >= 0) end = q
  const h = target.indexOf('#')
  if (h >= 0 && h < end) end = h
  if (target.charCodeAt(0) !== 0x2f) return null
  const raw = target.slice(1, end).split('/')
  if (raw.length > 1 && raw[raw.length - 1] === '') raw.pop()
  const segments = ['']
  for (const part of raw) {
    let segment: string
    try {
      segment = part.includes('%') ? decodeURIComponent(part) : part
    } catch {
      return null
    }
    if (segment === '.' || segment === '..') return null
    segments.push(segment)
  }
  return segments
}

/** The path itself as an object name, or undefined when a segment held an encoded `/`. */
function plainPath (segments: readonly string[]): string | undefined {
  for (const s of segments) if (s.includes('/')) return undefined
  return segments.length === 1 ? '/' : segments.join('/')
}

/**
 * Compiles the route table of an extAuthz config.
 * @throws NgacError NGAC_ERR_CONFIG naming the first route that cannot be compiled.
 */
export function compileRoutes (routes: ExtAuthzConfig['routes']): CompiledRoute[] {
  return routes.map((route, i) => compileRoute(route, i))
}

function compileRoute (route: ExtAuthzConfig['routes'][number], index: number): CompiledRoute {
  const where = `extAuthz.routes[${index}]`
  const parts = route.path.slice(1).split('/')
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop()
  const segments: (string | null)[] = ['']
  const params: (string | null)[] = [null]
  let rest = false
  parts.forEach((part, i) => {
    if (part === '*') {
      if (i !== parts.length - 1) throw new NgacError('NGAC_ERR_CONFIG', `${where}.path: '*' may only end a path, as in /static/*`)
      rest = true
    } else if (part.startsWith(':')) {
      const name = part.slice(1)
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new NgacError('NGAC_ERR_CONFIG', `${where}.path: ':${name}' is not a parameter name (letters, digits, _)`)
      if (params.includes(name)) throw new NgacError('NGAC_ERR_CONFIG', `${where}.path: the parameter ':${name}' appears twice`)
      segments.push(null)
      params.push(name)
    } else {
      segments.push(part)
      params.push(null)
    }
  })
  const template = route.object.split(/\{([^{}]*)\}/)
  for (let i = 1; i < template.length; i += 2) {
    const name = template[i]
    if (!(name === '*' ? rest : params.includes(name))) {
      throw new NgacError('NGAC_ERR_CONFIG', `${where}.object: '{${name}}' is not a parameter of the path ${route.path}${name === '*' ? ' (it has no trailing *)' : ''}`)
    }
  }
  return { segments, params, rest, template, right: route.right }
}

/** The route's object name for these segments, or null when they do not match it. */
function matchRoute (route: CompiledRoute, segments: readonly string[]): string | null {
  const n = route.segments.length
  if (route.rest ? segments.length < n : segments.length !== n) return null
  for (let i = 1; i < n; i++) {
    const literal = route.segments[i]
    if (literal === null ? segments[i] === '' : literal !== segments[i]) return null
  }
  const t = route.template
  let out = t[0]
  for (let i = 1; i < t.length; i += 2) {
    const name = t[i]
    out += name === '*' ? segments.slice(n).join('/') : segments[route.params.indexOf(name)]
    out += t[i + 1]
  }
  return out
}
