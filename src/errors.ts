/**
 * The one error class of ngac-pdp and the catalogue of its stable codes.
 *
 * Codes are promises to users: clients and tests match on `code`, never on the message.
 * Each code carries the HTTP status a server answers with when the error reaches a client.
 */

/** Every error code with its HTTP status. */
export const ERROR_CODES = {
  /** Malformed input: wrong types, missing fields, bad names. */
  NGAC_ERR_VALIDATION: 400,
  /** A policy file that cannot be loaded; `details` lists every problem with its entry. */
  NGAC_ERR_POLICY_FILE: 400,
  /**
   * A node name that is empty, too long (`details` then `{limit: 'nameLength', max: 1024}`), holds
   * control characters or unpaired surrogates, or is `__proto__`.
   */
  NGAC_ERR_INVALID_NAME: 400,
  /** An unknown node type. */
  NGAC_ERR_INVALID_TYPE: 400,
  /** The named node does not exist. */
  NGAC_ERR_NODE_NOT_FOUND: 404,
  /** A node of that name already exists. */
  NGAC_ERR_NODE_EXISTS: 409,
  /** A non-PC node created without a parent. */
  NGAC_ERR_NO_PARENT: 422,
  /** The node still has children or is referenced by an association or prohibition. */
  NGAC_ERR_NODE_IN_USE: 409,
  /** An assignment between types the model does not allow. */
  NGAC_ERR_INVALID_ASSIGNMENT: 422,
  /** The assignment would close a cycle. */
  NGAC_ERR_ASSIGNMENT_CYCLE: 409,
  /** The assignment exists already. */
  NGAC_ERR_ASSIGNMENT_EXISTS: 409,
  /** The assignment does not exist. */
  NGAC_ERR_ASSIGNMENT_NOT_FOUND: 404,
  /** Removing the assignment would leave the node without a parent. */
  NGAC_ERR_LAST_PARENT: 422,
  /** An association whose ends have the wrong types. */
  NGAC_ERR_INVALID_ASSOCIATION: 422,
  /** The association does not exist. */
  NGAC_ERR_ASSOCIATION_NOT_FOUND: 404,
  /** A (ua, target) pair given two associations in one document or batch, where one is allowed. */
  NGAC_ERR_ASSOCIATION_EXISTS: 409,
  /** A right that is neither a declared resource right, an admin right nor `*`. */
  NGAC_ERR_UNKNOWN_RIGHT: 422,
  /** A resource right name that clashes with an admin right or is not a valid name. */
  NGAC_ERR_INVALID_RIGHT: 422,
  /** A resource right that cannot be removed because associations or prohibitions use it. */
  NGAC_ERR_RIGHT_IN_USE: 409,
  /** A prohibition with a bad subject, containers or rights. */
  NGAC_ERR_INVALID_PROHIBITION: 422,
  /** A prohibition of that name already exists. */
  NGAC_ERR_PROHIBITION_EXISTS: 409,
  /** The prohibition does not exist. */
  NGAC_ERR_PROHIBITION_NOT_FOUND: 404,
  /** A config file, environment variable or flag with a wrong or unknown value. */
  NGAC_ERR_CONFIG: 400,
  /** No route matches the method and path. */
  NGAC_ERR_ROUTE_NOT_FOUND: 404,
  /** The request body is larger than the route accepts; `details` names the limit: `{limit: 'bodyBytes' | 'policyBodyBytes', max}`. */
  NGAC_ERR_BODY_TOO_LARGE: 413,
  /** The body is not valid JSON. */
  NGAC_ERR_MALFORMED_JSON: 400,
  /** The JSON body nests deeper than `limits.jsonDepth`; `details` is `{limit: 'jsonDepth', max}`. */
  NGAC_ERR_JSON_TOO_DEEP: 400,
  /** The body's content type is not application/json. */
  NGAC_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  /** The URL cannot be decoded. */
  NGAC_ERR_BAD_URL: 400,
  /** A page cursor that this server did not give, or that the policy replacement made stale. */
  NGAC_ERR_INVALID_CURSOR: 400,
  /** A batch with more operations (or checks, or evaluations) than its limit; `details` names it: `{limit, max}`. */
  NGAC_ERR_BATCH_TOO_LARGE: 413,
  /** A node's properties over `limits.propertiesCount` or `limits.propertiesBytes`; `details` names the limit: `{limit, max}`. */
  NGAC_ERR_PROPERTIES_TOO_LARGE: 413,
  /** A list request whose `limit` is over `limits.maxPageSize`; `details` is `{limit: 'maxPageSize', max}`. */
  NGAC_ERR_PAGE_TOO_LARGE: 400,
  /** The request did not arrive whole within `limits.requestTimeoutMs` (a slow client); the connection is closed. */
  NGAC_ERR_REQUEST_TIMEOUT: 408,
  /** The request line and headers are larger than `limits.headerBytes`; the connection is closed. */
  NGAC_ERR_HEADERS_TOO_LARGE: 431,
  /** The request is not well-formed HTTP/1.1 (request line, header or framing); the connection is closed. */
  NGAC_ERR_MALFORMED_REQUEST: 400,
  /** The policy did not reach the `atLeastRevision` asked for within the wait limit. */
  NGAC_ERR_REVISION_NOT_REACHED: 409,
  /** The administration routes need a valid bearer token. */
  NGAC_ERR_UNAUTHORIZED: 401,
  /** The caller lacks the right for the operation; `details` name the operation index, the right and the node. */
  NGAC_ERR_FORBIDDEN: 403,
  /** A name under `ngac:` is reserved for the administration policy: only a super token may change such a node. */
  NGAC_ERR_RESERVED_NAME: 403,
  // Faults of the durable store: not the client's doing, so 5xx.
  /** The disk or database is full. */
  NGAC_ERR_STORE_FULL: 507,
  /** The database file or its directory is read-only. */
  NGAC_ERR_STORE_READONLY: 503,
  /** Another process holds the database's write lock longer than the busy timeout. */
  NGAC_ERR_STORE_BUSY: 503,
  /** An I/O error, or a file that cannot be opened. */
  NGAC_ERR_STORE_IO: 503,
  /** The store was closed. */
  NGAC_ERR_STORE_CLOSED: 503,
  /** Another worker kept committing first; the write was not applied: retry it. */
  NGAC_ERR_STORE_STALE: 503,
  /** The file is not an ngac-pdp database (text, another program's SQLite); it is left untouched. */
  NGAC_ERR_STORE_FOREIGN: 500,
  /** The database has a newer schema than this version understands; it is left untouched. */
  NGAC_ERR_STORE_VERSION: 500,
  /** SQLite found the database corrupt. */
  NGAC_ERR_STORE_CORRUPT: 500,
  /**
   * The server is saturated (event-loop delay or memory over `limits`) and sheds this request:
   * retry after `Retry-After` seconds. Only administration and review requests are shed.
   */
  NGAC_ERR_OVERLOADED: 503,
  /** A bug: something the server did not expect. Reported with the request id; never caused by input. */
  NGAC_ERR_INTERNAL: 500
} as const

/** A stable error code of the catalogue. */
export type ErrorCode = keyof typeof ERROR_CODES

/** Options of an {@link NgacError}. */
export interface NgacErrorOptions {
  /** Machine-readable detail, e.g. the list of problems in a policy file. */
  details?: unknown
  /** The underlying error. */
  cause?: unknown
}

/**
 * The error every ngac-pdp failure is thrown as.
 *
 * @example
 * ```ts
 * try {
 *   graph.assign('alice', 'docs')
 * } catch (err) {
 *   if (err instanceof NgacError && err.code === 'NGAC_ERR_INVALID_ASSIGNMENT') { ... }
 * }
 * ```
 */
export class NgacError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly details: unknown

  constructor (code: ErrorCode, message: string, options: NgacErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'NgacError'
    this.code = code
    this.statusCode = ERROR_CODES[code]
    this.details = options.details
  }

  /** The JSON body a server answers with: `{code, message, details?}`. */
  toJSON (): { code: ErrorCode, message: string, details?: unknown } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details }
  }
}

/**
 * Whether `err` is an {@link NgacError}, optionally of the given code.
 *
 * @example
 * ```ts
 * if (isNgacError(err, 'NGAC_ERR_NODE_NOT_FOUND')) return null
 * ```
 */
export function isNgacError (err: unknown, code?: ErrorCode): err is NgacError {
  return err instanceof NgacError && (code === undefined || err.code === code)
}
