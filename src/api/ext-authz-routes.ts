/**
 * Envoy's HTTP external authorization (DESIGN section 5): every method under `/ext_authz/`,
 * Envoy's `path_prefix`, with the original request path after it. The same route serves nginx
 * `auth_request` (`X-Original-URI`, `X-Original-Method`) and Caddy `forward_auth`
 * (`X-Forwarded-Uri`, `X-Forwarded-Method`); those headers win over the path when present, and
 * a request whose descriptions disagree (a client added its own) is denied.
 *
 * Answers: 200 and `x-ngac-*` headers to allow (Envoy treats any other status, 2xx included,
 * as a deny), 403 with a small JSON reason to deny, 401 without an identity. Nothing a client
 * sends makes it answer anything else: a body is read and dropped whatever its type, and a
 * malformed path is a deny. Only a fault of the PDP answers 5xx, which every proxy treats as a
 * deny unless told to fail open.
 *
 * NOTE: the plugin has its own body parser and logs one decision line (sampled) in place of
 * the request line, so nothing on this path parses JSON or logs twice.
 */
import { Type } from 'typebox'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { allowHeaders, denyBody, type ExtAuthz, type ProxyDecision } from '../ext-authz/mapping.js'
import { sendError, toNgacError } from './http.js'

/** The route prefix, as Envoy's `path_prefix`. */
export const EXT_AUTHZ_PREFIX = '/ext_authz'

declare module 'fastify' {
  interface FastifyInstance {
    extAuthz: ExtAuthz
  }
}

const DenySchema = Type.Object({
  allowed: Type.Literal(false),
  reason: Type.String({ description: "Why: 'denied', 'no identity', 'unknown method', 'no route', 'malformed path' or 'ambiguous request' (the X-Original-*, X-Forwarded-* headers and the path disagree)." }),
  decisionId: Type.String({ description: 'The id of this decision in the decision log.' })
}, { additionalProperties: false })

const ALLOW_HEADERS = {
  'x-ngac-user': { type: 'string', description: 'The user decided for (percent-encoded when not plain ASCII).' },
  'x-ngac-revision': { type: 'string', description: 'The policy revision decided at.' },
  'x-ngac-decision-id': { type: 'string', description: 'The id of this decision in the decision log.' }
}

const schema = {
  tags: ['ext_authz'],
  summary: 'Envoy ext_authz, nginx auth_request and Caddy forward_auth: may this request pass?',
  description: 'Every method, at /ext_authz and under it: the path after /ext_authz is the original request path (Envoy path_prefix), unless X-Original-URI or X-Forwarded-Uri gives it; the method is the request\'s, unless X-Original-Method or X-Forwarded-Method gives it. The identity, right and object come from the extAuthz section of the config. A body is read and ignored.',
  response: {
    200: { description: 'Allowed: forward the request (with the x-ngac-* headers).', headers: ALLOW_HEADERS, type: 'null' },
    401: { ...DenySchema, description: 'No identity in the request.' },
    403: { ...DenySchema, description: 'Denied.' }
  }
}

/** The ext_authz route; it asks the app's {@link ExtAuthz} (`app.extAuthz`, shared with gRPC). */
export const extAuthzRoutes: FastifyPluginAsync = async (app) => {
  // Envoy may forward the request body (with_request_body); it plays no part in the decision.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, payload, done) => {
    payload.on('error', done)
    payload.on('end', () => { done(null) })
    payload.resume()
  })
  // A body fastify refuses before the parser sees it (an empty Content-Type) is ignored as well:
  // the request is decided. Only a fault of the PDP's own answers with its error.
  app.setErrorHandler((err, request, reply) => {
    if (toNgacError(err).statusCode < 500) return answerExtAuthz(request, reply)
    return sendError(err, request, reply)
  })
  // NOTE: the request line is replaced by the decision log line (ExtAuthz), so it logs at warn.
  const options = { logLevel: 'warn' as const, config: { rawQuery: true }, handler: answerExtAuthz }
  const hidden = { ...schema, hide: true }
  // One documented operation stands for every method (OpenAPI has no WebDAV methods).
  app.route({ ...options, method: 'GET', url: EXT_AUTHZ_PREFIX, schema, exposeHeadRoute: false })
  app.route({ ...options, method: app.supportedMethods.filter((m) => m !== 'GET'), url: EXT_AUTHZ_PREFIX, schema: hidden })
  app.route({ ...options, method: app.supportedMethods, url: `${EXT_AUTHZ_PREFIX}/*`, schema: hidden })
}

/**
 * Answers a request to the ext_authz route. Also called for the requests the router refuses
 * under the prefix (a malformed escape in the path), which are denies, never 400s: nginx turns
 * any status but 2xx, 401 and 403 from its auth request into a 500.
 */
export function answerExtAuthz (request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { extAuthz, metrics } = request.server
  const headers = request.headers
  const originalUri = header(headers['x-original-uri'])
  const forwardedUri = header(headers['x-forwarded-uri'])
  const originalMethod = header(headers['x-original-method'])
  const forwardedMethod = header(headers['x-forwarded-method'])
  const rest = request.url.slice(EXT_AUTHZ_PREFIX.length)
  // Envoy's form: the original path after the prefix ('/ext_authz/' alone is the forward-auth form).
  const inPath = rest === '' || rest === '/' || rest.charCodeAt(0) === 0x3f || rest.startsWith('/?') ? undefined : rest.charCodeAt(0) === 0x2f ? rest : `/${rest}`
  const uri = originalUri ?? forwardedUri
  const path = uri ?? inPath ?? '/'
  const method = originalMethod ?? forwardedMethod ?? request.method
  // NOTE: each proxy overwrites its own headers and passes the client's others on (Caddy passes a
  // client's X-Original-URI, nginx a client's X-Forwarded-Uri): two descriptions that differ deny.
  const ambiguous = (originalUri !== undefined && forwardedUri !== undefined && originalUri !== forwardedUri) ||
    (originalMethod !== undefined && forwardedMethod !== undefined && originalMethod !== forwardedMethod) ||
    (uri !== undefined && inPath !== undefined && uri !== inPath)
  const decision = extAuthz.decide({ method, path, headers, ambiguous }, request.id)
  metrics.decision(decision.allowed)
  return send(reply, decision)
}

/** Whether a URL is under the ext_authz prefix. */
export function isExtAuthzUrl (url: string): boolean {
  return url.startsWith(EXT_AUTHZ_PREFIX) && (url.length === EXT_AUTHZ_PREFIX.length || url[EXT_AUTHZ_PREFIX.length] === '/' || url[EXT_AUTHZ_PREFIX.length] === '?')
}

function send (reply: FastifyReply, decision: ProxyDecision): FastifyReply {
  if (decision.allowed) {
    for (const [name, value] of allowHeaders(decision)) reply.header(name, value)
    return reply.code(200).send()
  }
  return reply.code(decision.status).type('application/json; charset=utf-8').send(denyBody(decision))
}

function header (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[value.length - 1] : value
}
