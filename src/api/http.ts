/**
 * HTTP plumbing shared by every route: the JSON body parser with its depth limit, the validator
 * compilers (strict for bodies, coercing for query strings), and the mapping of every error to
 * the `{code, message, details?}` body with a 4xx status (DESIGN section 5, Input rules).
 */
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
      done(new NgacError('NGAC_ERR_JSON_TOO_DEEP', `the JSON body nests deeper than ${maxDepth} levels`), undefined)
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

/** Marks a parsed query string that held a malformed escape; see {@link rejectBadQueryStrings}. */
declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route reads the raw URL itself: a malformed query string is its business, not an error. */
    rawQuery?: boolean
  }
}

const BAD_QUERY: unique symbol = Symbol('ngac.badQuery')

/**
 * A strict query string parser: a malformed `%` escape is flagged (the router must not throw, so
 * {@link rejectBadQueryStrings} turns the flag into NGAC_ERR_BAD_URL) rather than passed through
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
 * An onRequest hook: answers 400 NGAC_ERR_BAD_URL for a query string with a malformed escape.
 * NOTE: a callback hook, so the decision path pays no promise for it.
 */
export function rejectBadQueryStrings (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
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
  NGAC_ERR_BODY_TOO_LARGE: 'send less, or raise limits.bodyBytes (limits.policyBodyBytes for PUT /v1/policy and POST /v1/batch) in the config',
  NGAC_ERR_UNSUPPORTED_MEDIA_TYPE: 'send the body as JSON with the header Content-Type: application/json',
  NGAC_ERR_BAD_URL: 'percent-encode the path (encodeURIComponent for each segment)'
}

/** The catalogue error a thrown value stands for. Anything unexpected is NGAC_ERR_INTERNAL (500). */
export function toNgacError (err: unknown): NgacError {
  if (isNgacError(err)) return err
  const e = err as FastifyError & { validation?: ErrorObject[], validationContext?: string }
  if (Array.isArray(e.validation)) {
    const problems = e.validation.map((v) => describeValidation(e.validationContext ?? 'body', v))
    return new NgacError('NGAC_ERR_VALIDATION', problems.join('; '), { details: problems })
  }
  const mapped = typeof e.code === 'string' ? FASTIFY_CODES[e.code] : undefined
  if (mapped !== undefined) return new NgacError(mapped, FIXES[mapped] === undefined ? e.message : `${e.message}: ${FIXES[mapped]}`, { cause: err })
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new NgacError('NGAC_ERR_VALIDATION', e.message, { cause: err })
  }
  return new NgacError('NGAC_ERR_INTERNAL', 'an internal error occurred; it has been logged with the request id', { cause: err })
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

/** Sends an error as `{code, message, details?}` with its status; logs what is not the client's doing. */
export function sendError (err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const e = toNgacError(err)
  if (e.statusCode >= 500) request.log.error({ err }, e.message)
  return reply.code(e.statusCode).type('application/json; charset=utf-8').send(JSON.stringify(e.toJSON()))
}
