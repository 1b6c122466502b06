/**
 * HTTP plumbing shared by every route: the JSON body parser with its depth limit, the validator
 * compilers (strict for bodies, coercing for query strings), and the mapping of every error to
 * the `{code, message, details?}` body with a 4xx status (DESIGN section 5, Input rules).
 */
import { STATUS_CODES, type ServerOptions } from 'node:http'
import type { Duplex } from 'node:stream'
import { Ajv, type AnySchema, type ErrorObject } from 'ajv'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaCompiler } from 'fastify'
import { isNgacError, NgacError, type ErrorCode } from '../errors.js'

/** The error body of every route. */
export interface ErrorBody {
  code: ErrorCode
  message: string
  details?: unknown
}

/**
 * Builds the validator compilers: bodies are validated strictly (no coercion, no defaults that
 * hide mistakes, unknown fields refused by each schema's additionalProperties: false), query
 * strings and params are coerced from their text (numbers, repeated keys into arrays).
 */
export function buildValidatorCompiler (externalSchemas: Record<string, unknown>): FastifySchemaCompiler<AnySchema> {
  const strict = new Ajv({ coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false, strict: false })
  const lenient = new Ajv({ coerceTypes: 'array', useDefaults: true, removeAdditional: false, allErrors: false, strict: false })
  for (const schema of Object.values(externalSchemas)) {
    strict.addSchema(schema as AnySchema)
    lenient.addSchema(schema as AnySchema)
  }
  return ({ schema, httpPart }) => (httpPart === 'body' ? strict : lenient).compile(schema)
}

/**
 * The JSON body parser: refuses bodies nested deeper than `maxDepth` before parsing them (a
 * linear scan, so a hostile body costs no more than its size), then JSON.parse.
 */
export function installJsonParser (app: FastifyInstance, maxDepth: number): void {
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string
    if (text.length === 0 && (req.method === 'DELETE' || req.method === 'GET')) {
      done(null, undefined) // clients often send the header on body-less requests
      return
    }
    if (text.length === 0) {
      done(new NgacError('NGAC_ERR_MALFORMED_JSON', 'the body is empty; send a JSON document'), undefined)
      return
    }
    if (depthExceeds(text, maxDepth)) {
      done(new NgacError('NGAC_ERR_JSON_TOO_DEEP', `the JSON body nests deeper than ${maxDepth} levels (limits.jsonDepth)`, { details: { limit: 'jsonDepth', max: maxDepth } }), undefined)
      return
    }
    try {
      done(null, JSON.parse(text))
    } catch (err) {
      done(new NgacError('NGAC_ERR_MALFORMED_JSON', `the body is not valid JSON: ${(err as Error).message}`), undefined)
    }
  })
}

/** Whether `text` opens more than `max` nested arrays or objects (outside strings). */
export function depthExceeds (text: string, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
    } else if (c === 34) {
      inString = true
    } else if (c === 91 || c === 123) {
      if (++depth > max) return true
    } else if (c === 93 || c === 125) {
      depth--
    }
  }
  return false
}

/** Marks a parsed query string that held a malformed escape; see {@link rejectMalformedRequests}. */
declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route reads the raw URL itself: a malformed query string is its business, not an error. */
    rawQuery?: boolean
    /** The limit that sets the route's bodyLimit, when it is not `bodyBytes` (NGAC_ERR_BODY_TOO_LARGE names it). */
    bodyLimitName?: 'policyBodyBytes'
  }
}

const BAD_QUERY: unique symbol = Symbol('ngac.badQuery')

/**
 * A strict query string parser: a malformed `%` escape is flagged (the router must not throw, so
 * {@link rejectMalformedRequests} turns the flag into NGAC_ERR_BAD_URL) rather than passed through
 * as text, as fastify's default does. Repeated keys become arrays; '+' is a space.
 */
export function parseQueryString (query: string): Record<string, string | string[]> {
  const out = Object.create(null) as Record<string, string | string[]> & { [BAD_QUERY]?: string }
  if (query.length === 0) return out
  for (const pair of query.split('&')) {
    if (pair.length === 0) continue
    const eq = pair.indexOf('=')
    const key = decode(eq < 0 ? pair : pair.slice(0, eq))
    const value = eq < 0 ? '' : decode(pair.slice(eq + 1))
    if (key === undefined || value === undefined) {
      out[BAD_QUERY] = pair.slice(0, 64)
      continue
    }
    const previous = out[key]
    if (previous === undefined) out[key] = value
    else if (Array.isArray(previous)) previous.push(value)
    else out[key] = [previous, value]
  }
  return out
}

function decode (text: string): string | undefined {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '))
  } catch {
    return undefined
  }
}

/**
 * An onRequest hook: answers 400 NGAC_ERR_BAD_URL for a query string with a malformed escape, and
 * 400 NGAC_ERR_MALFORMED_REQUEST for an HTTP/1.1 request without a Host header (node's own
 * refusal of it would have no body: see {@link httpServerOptions}).
 * NOTE: a callback hook, so the decision path pays no promise for it.
 */
export function rejectMalformedRequests (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
  if (request.headers.host === undefined && request.raw.httpVersion === '1.1') {
    done(new NgacError('NGAC_ERR_MALFORMED_REQUEST', 'an HTTP/1.1 request needs a Host header'))
    return
  }
  const bad = (request.query as { [BAD_QUERY]?: string } | undefined)?.[BAD_QUERY]
  if (bad === undefined || request.routeOptions.config.rawQuery === true) done()
  else done(new NgacError('NGAC_ERR_BAD_URL', `the query string holds a malformed escape: ${JSON.stringify(bad)}`))
}

/** Fastify's own error codes mapped to the catalogue. */
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'NGAC_ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'NGAC_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'NGAC_ERR_VALIDATION',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'NGAC_ERR_MALFORMED_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'NGAC_ERR_MALFORMED_JSON',
  FST_ERR_BAD_URL: 'NGAC_ERR_BAD_URL',
  FST_ERR_INVALID_URL: 'NGAC_ERR_BAD_URL',
  FST_ERR_ASYNC_CONSTRAINT: 'NGAC_ERR_VALIDATION'
}

/** What to do about a refusal of fastify's, added to its terse message. */
const FIXES: Readonly<Partial<Record<ErrorCode, string>>> = {
  NGAC_ERR_UNSUPPORTED_MEDIA_TYPE: 'send the body as JSON with the header Content-Type: application/json',
  NGAC_ERR_BAD_URL: 'percent-encode the path (encodeURIComponent for each segment)'
}

/** The catalogue error a thrown value stands for. Anything unexpected is NGAC_ERR_INTERNAL (500). */
export function toNgacError (err: unknown): NgacError {
  if (isNgacError(err)) return err
  const e = err as FastifyError & { validation?: ErrorObject[], validationContext?: string }
  if (Array.isArray(e.validation)) {
    const part = e.validationContext ?? 'body'
    const limit = e.validation.length === 0 ? undefined : limitError(part, e.validation[0])
    if (limit !== undefined) return limit
    const problems = e.validation.map((v) => describeValidation(part, v))
    return new NgacError('NGAC_ERR_VALIDATION', problems.join('; '), { details: problems })
  }
  const mapped = typeof e.code === 'string' ? FASTIFY_CODES[e.code] : undefined
  if (mapped !== undefined) return new NgacError(mapped, FIXES[mapped] === undefined ? e.message : `${e.message}: ${FIXES[mapped]}`, { cause: err })
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new NgacError('NGAC_ERR_VALIDATION', e.message, { cause: err })
  }
  return new NgacError('NGAC_ERR_INTERNAL', 'an internal error occurred; it has been logged with the request id', { cause: err })
}

/**
 * The error naming a limit, when a schema refused a value for passing one: a node name longer
 * than the fixed name length (NGAC_ERR_INVALID_NAME), a page `limit` over limits.maxPageSize
 * (NGAC_ERR_PAGE_TOO_LARGE).
 */
export function limitError (part: string, v: ErrorObject): NgacError | undefined {
  const at = part + v.instancePath.replaceAll('/', '.')
  const max = (v.params as { limit?: unknown }).limit
  if (v.schemaPath === 'Name/maxLength') {
    return new NgacError('NGAC_ERR_INVALID_NAME', `${at}: a name has at most ${String(max)} characters (the fixed name length limit)`, { details: { limit: 'nameLength', max } })
  }
  if (v.keyword === 'maximum' && part === 'querystring' && v.instancePath === '/limit') {
    return new NgacError('NGAC_ERR_PAGE_TOO_LARGE', `${at}: at most ${String(max)} items per page (limits.maxPageSize); follow nextCursor for more`, { details: { limit: 'maxPageSize', max } })
  }
  return undefined
}

function describeValidation (part: string, v: ErrorObject): string {
  const at = part + v.instancePath.replaceAll('/', '.')
  switch (v.keyword) {
    case 'additionalProperties':
      return `${at}: unknown field '${(v.params as { additionalProperty: string }).additionalProperty}'`
    case 'required':
      return `${at}: missing field '${(v.params as { missingProperty: string }).missingProperty}'`
    case 'enum':
      return `${at}: must be one of ${((v.params as { allowedValues: unknown[] }).allowedValues).map((x) => JSON.stringify(x)).join(', ')}`
    default:
      return `${at}: ${v.message ?? 'is invalid'}`
  }
}

/**
 * Sends an error as `{code, message, details?}` with its status; logs what is not the client's
 * doing. A body over the route's limit is answered naming that limit (bodyBytes or policyBodyBytes).
 */
export function sendError (err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  let e = toNgacError(err)
  if (e.code === 'NGAC_ERR_BODY_TOO_LARGE' && e.details === undefined) {
    const limit = request.routeOptions.config.bodyLimitName ?? 'bodyBytes'
    const max = request.routeOptions.bodyLimit
    e = new NgacError(e.code, `the body is larger than ${max} bytes (limits.${limit}): send less, or raise the limit in the config`, { details: { limit, max }, cause: err })
  }
  if (e.statusCode >= 500) request.log.error({ err }, e.message)
  return reply.code(e.statusCode).type('application/json; charset=utf-8').send(JSON.stringify(e.toJSON()))
}

/**
 * Node's own server options for the limits: headers at most limits.headerBytes, and the request
 * timeout checked four times per timeout (node checks every 30 s by default), so that a slow
 * client hears 408 within 1.25 x limits.requestTimeoutMs. A missing Host header is refused by
 * {@link rejectMalformedRequests}, with the error body, rather than by node without one.
 */
export function httpServerOptions (limits: { readonly requestTimeoutMs: number, readonly headerBytes: number }): ServerOptions {
  const ms = limits.requestTimeoutMs
  const common = { maxHeaderSize: limits.headerBytes, requireHostHeader: false }
  if (ms === 0) return common
  return { ...common, requestTimeout: ms, headersTimeout: ms, connectionsCheckingInterval: Math.min(30_000, Math.max(25, Math.ceil(ms / 4))) }
}

/**
 * Answers what node's HTTP parser refuses before any route sees it (fastify's
 * clientErrorHandler), with the error body and `Connection: close`: a request that did not
 * arrive whole within limits.requestTimeoutMs (408 NGAC_ERR_REQUEST_TIMEOUT), a request line and
 * headers over limits.headerBytes (431 NGAC_ERR_HEADERS_TOO_LARGE), anything else that is not
 * well-formed HTTP/1.1 (400 NGAC_ERR_MALFORMED_REQUEST).
 */
export function clientErrorAnswer (limits: { readonly requestTimeoutMs: number, readonly headerBytes: number }): (err: NodeJS.ErrnoException, socket: Duplex) => void {
  return (err, socket) => {
    // A reset connection has nobody left to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    let e: NgacError
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      e = new NgacError('NGAC_ERR_REQUEST_TIMEOUT', `the request did not arrive whole within ${limits.requestTimeoutMs} ms (limits.requestTimeoutMs): send it at once`,
        { details: { limit: 'requestTimeoutMs', max: limits.requestTimeoutMs } })
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      e = new NgacError('NGAC_ERR_HEADERS_TOO_LARGE', `the request line and headers are larger than ${limits.headerBytes} bytes (limits.headerBytes)`,
        { details: { limit: 'headerBytes', max: limits.headerBytes } })
    } else {
      e = new NgacError('NGAC_ERR_MALFORMED_REQUEST', `the request is not well-formed HTTP/1.1 (${err.code ?? 'unreadable'}); the connection is closed`)
    }
    const body = JSON.stringify(e.toJSON())
    // As node does: never write into an answer already under way on this connection.
    // NOTE: `_httpMessage` is the socket's in-flight ServerResponse, node's own (undocumented) field.
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage
    if (socket.writable && inFlight?.headersSent !== true) {
      socket.write(`HTTP/1.1 ${e.statusCode} ${STATUS_CODES[e.statusCode] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
    }
    socket.destroy(err)
  }
}
