/**
 * The one config loader (DESIGN section 5, Config): a JSON document validated by ajv against
 * the schema below (defaults filled in, unknown keys an error that names them), then the
 * environment, then command-line flags, each overriding the one before. The result is frozen.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Ajv, type ErrorObject } from 'ajv'
import { NgacError } from './errors.js'
import { compileRoutes } from './ext-authz/mapping.js'

/** The validated, frozen configuration of a server. */
export interface Config {
  /** The SQLite database, or ':memory:'. */
  readonly db: string
  readonly host: string
  readonly port: number
  /** The public URL of this PDP (AuthZEN discovery); else the request's scheme and host. */
  readonly publicUrl?: string
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  readonly grpc: { readonly port: number }
  readonly workers?: number
  readonly extAuthz: {
    readonly identity: readonly ({ readonly type: 'xfcc' | 'principal' } | { readonly type: 'jwt', readonly header: string, readonly claim: string } | { readonly type: 'header', readonly header: string })[]
    readonly rights: Readonly<Record<string, string>>
    readonly routes: readonly { readonly path: string, readonly object: string, readonly right?: string }[]
    /** A path no route matches: 'path' uses the path itself as the object name, 'deny' denies it. */
    readonly unknownObject: 'deny' | 'path'
    /** One log line per decision, for this fraction of decisions (0 turns them off). */
    readonly decisionLog: { readonly sample: number }
  }
  /**
   * The administration API's callers. The file gives bearer tokens (`admin.token`, `admin.tokens[].token`,
   * or NGAC_ADMIN_TOKEN); once loaded only their SHA-256 digests are kept, never the tokens.
   */
  readonly admin: {
    /**
     * SHA-256 (hex) of the single admin token: a super token acting as user `admin-token`. An admin
     * token is required on a non-loopback host.
     */
    readonly tokenSha256?: string
    /** Check every administrative operation against its caller's admin rights (DESIGN section 4). */
    readonly authorization: boolean
    /** Tokens of NGAC users (SHA-256, hex); a `super` one holds every right (bootstrapping; every use is logged). */
    readonly tokens: readonly { readonly tokenSha256: string, readonly user: string, readonly super?: boolean }[]
  }
  readonly limits: {
    /** Largest request body on most routes, in bytes. */
    readonly bodyBytes: number
    /** Largest body of `PUT /v1/policy` and `POST /v1/batch`, in bytes. */
    readonly policyBodyBytes: number
    /** Deepest JSON nesting accepted in a body. */
    readonly jsonDepth: number
    /** Items per page when a list request gives no `limit`. */
    readonly defaultPageSize: number
    /** Largest `limit` of a list request. */
    readonly maxPageSize: number
    /** Most operations in one batch. */
    readonly batchOperations: number
    /** Most checks in one `POST /v1/check/batch`, and evaluations in one `POST /access/v1/evaluations`. */
    readonly checkBatch: number
    /** Most properties of one node. */
    readonly propertiesCount: number
    /** Largest properties of one node: the properties object as JSON, in UTF-8 bytes. */
    readonly propertiesBytes: number
    /** Largest request line and headers, in bytes. */
    readonly headerBytes: number
    /** Longest wait for `atLeastRevision`, in milliseconds. */
    readonly revisionWaitMs: number
    /**
     * Mean event-loop delay, in milliseconds, above which (two one-second windows in a row)
     * administration and review requests are shed with 503 NGAC_ERR_OVERLOADED (decisions never
     * are: src/api/overload.ts); 0 turns it off.
     */
    readonly maxEventLoopDelayMs: number
    /** V8 heap in use, in bytes, above which requests are shed as for the delay; 90% of V8's heap limit when unset; 0 turns it off. */
    readonly maxHeapUsedBytes?: number
    /** Resident set size, in bytes, above which requests are shed as for the delay; 0 (the default) turns it off. */
    readonly maxRssBytes: number
    /** The `Retry-After` of a shed request, in seconds. */
    readonly retryAfterSeconds: number
    /** Time a client has to send a whole request (headers and body), in milliseconds; 0 turns it off. */
    readonly requestTimeoutMs: number
    /** How long an idle keep-alive connection stays open, in milliseconds. */
    readonly keepAliveMs: number
  }
  /** The decision cache of the engine (DESIGN section 7). */
  readonly decisionCache: {
    readonly enabled: boolean
    /** Entries, rounded up to a power of two; about 20 bytes each. */
    readonly capacity: number
  }
}

/** The JSON Schema of the config file. Every object is closed: an unknown key is an error. */
export const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    db: { type: 'string', minLength: 1, default: './data/ngac.db' },
    host: { type: 'string', minLength: 1, default: '127.0.0.1' },
    port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
    publicUrl: { type: 'string', pattern: '^https?://' },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    workers: { type: 'integer', minimum: 1, maximum: 256 },
    grpc: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { port: { type: 'integer', minimum: 0, maximum: 65535, default: 9191 } }
    },
    extAuthz: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        identity: {
          type: 'array',
          default: [{ type: 'xfcc' }, { type: 'principal' }],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['type'],
            properties: {
              type: { enum: ['xfcc', 'principal', 'jwt', 'header'] },
              header: { type: 'string', minLength: 1 },
              claim: { type: 'string', minLength: 1 }
            },
            // NOTE: strict ajv wants the properties a `then` requires declared beside it.
            allOf: [
              { if: { properties: { type: { const: 'jwt' } } }, then: { required: ['header', 'claim'], properties: { header: true, claim: true } } },
              { if: { properties: { type: { const: 'header' } } }, then: { required: ['header'], properties: { header: true } } }
            ]
          }
        },
        rights: {
          type: 'object',
          additionalProperties: { type: 'string', minLength: 1 },
          default: { GET: 'read', HEAD: 'read', POST: 'write', PUT: 'write', PATCH: 'write', DELETE: 'delete' }
        },
        routes: {
          type: 'array',
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['path', 'object'],
            properties: {
              path: { type: 'string', pattern: '^/' },
              object: { type: 'string', minLength: 1 },
              right: { type: 'string', minLength: 1 }
            }
          }
        },
        unknownObject: { enum: ['deny', 'path'], default: 'path' },
        decisionLog: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: { sample: { type: 'number', minimum: 0, maximum: 1, default: 1 } }
        }
      }
    },
    admin: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        token: { type: 'string', minLength: 16 },
        authorization: { type: 'boolean', default: false },
        tokens: {
          type: 'array',
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['token', 'user'],
            properties: {
              token: { type: 'string', minLength: 16 },
              user: { type: 'string', minLength: 1 },
              super: { type: 'boolean' }
            }
          }
        }
      }
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        bodyBytes: { type: 'integer', minimum: 1024, default: 1048576 },
        policyBodyBytes: { type: 'integer', minimum: 1024, default: 268435456 },
        jsonDepth: { type: 'integer', minimum: 2, maximum: 1024, default: 64 },
        defaultPageSize: { type: 'integer', minimum: 1, default: 100 },
        maxPageSize: { type: 'integer', minimum: 1, default: 1000 },
        batchOperations: { type: 'integer', minimum: 1, default: 100000 },
        checkBatch: { type: 'integer', minimum: 1, maximum: 100000, default: 1000 },
        propertiesCount: { type: 'integer', minimum: 1, default: 256 },
        propertiesBytes: { type: 'integer', minimum: 64, default: 65536 },
        headerBytes: { type: 'integer', minimum: 1024, maximum: 1048576, default: 16384 },
        revisionWaitMs: { type: 'integer', minimum: 0, maximum: 60000, default: 5000 },
        maxEventLoopDelayMs: { type: 'integer', minimum: 0, default: 1000 },
        maxHeapUsedBytes: { type: 'integer', minimum: 0 },
        maxRssBytes: { type: 'integer', minimum: 0, default: 0 },
        retryAfterSeconds: { type: 'integer', minimum: 1, maximum: 3600, default: 2 },
        requestTimeoutMs: { type: 'integer', minimum: 0, default: 60000 },
        keepAliveMs: { type: 'integer', minimum: 1, default: 72000 }
      }
    },
    decisionCache: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        capacity: { type: 'integer', minimum: 1, maximum: 16777216, default: 65536 }
      }
    }
  }
} as const

/** Where a config comes from: a file, the environment and flags, later ones winning. */
export interface ConfigSources {
  /** Path of a JSON config file. */
  readonly file?: string
  /** A config document given directly (tests, embedding), applied where the file would be. */
  readonly document?: unknown
  /** Environment variables: NGAC_DB, HOST, PORT, NGAC_ADMIN_TOKEN, NGAC_PUBLIC_URL, NGAC_LOG_LEVEL. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Values from command-line flags. */
  readonly flags?: Partial<Pick<Config, 'db' | 'host' | 'port' | 'workers'>> & { readonly grpcPort?: number }
}

const ajv = new Ajv({ useDefaults: true, allErrors: true, coerceTypes: false, strict: true })
const validate = ajv.compile(CONFIG_SCHEMA)

/**
 * Loads, validates and freezes a config.
 * @throws NgacError NGAC_ERR_CONFIG naming every unknown key and wrong value.
 *
 * @example
 * ```ts
 * const config = loadConfig({ file: 'ngac.json', env: process.env, flags: { port: 9000 } })
 * ```
 */
export function loadConfig (sources: ConfigSources = {}): Config {
  const doc = structuredClone(sources.file === undefined ? (sources.document ?? {}) : readConfigFile(sources.file)) as Record<string, unknown>
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new NgacError('NGAC_ERR_CONFIG', 'the config must be a JSON object')
  }
  const env = sources.env ?? {}
  const flags = sources.flags ?? {}
  const set = (key: string, value: unknown): void => { if (value !== undefined && value !== '') doc[key] = value }
  set('db', env.NGAC_DB)
  set('host', env.HOST)
  set('port', env.PORT === undefined || env.PORT === '' ? undefined : toPort(env.PORT, 'PORT'))
  set('publicUrl', env.NGAC_PUBLIC_URL)
  set('logLevel', env.NGAC_LOG_LEVEL)
  if (env.NGAC_ADMIN_TOKEN !== undefined && env.NGAC_ADMIN_TOKEN !== '') {
    doc.admin = merge(doc.admin, { token: env.NGAC_ADMIN_TOKEN })
  }
  set('db', flags.db)
  set('host', flags.host)
  set('port', flags.port)
  set('workers', flags.workers)
  if (flags.grpcPort !== undefined) doc.grpc = merge(doc.grpc, { port: flags.grpcPort })
  if (!validate(doc)) {
    // An `if` error only repeats the `then` errors beside it.
    const problems = (validate.errors ?? []).filter((e) => e.keyword !== 'if').map(describe)
    throw new NgacError('NGAC_ERR_CONFIG', `invalid config: ${problems.join('; ')}`, { details: problems })
  }
  compileRoutes((doc as unknown as Config).extAuthz.routes)
  doc.admin = hashTokens(doc.admin as RawAdmin)
  return deepFreeze(doc) as unknown as Config
}

/** The admin section as the file gives it, validated. */
interface RawAdmin {
  token?: string
  authorization: boolean
  tokens: { token: string, user: string, super?: boolean }[]
}

/**
 * The SHA-256 digest of a bearer token, hex: what the config keeps of a token.
 *
 * @example
 * ```ts
 * tokenDigest('a-long-enough-token-1') // '5c1b...'
 * ```
 */
export function tokenDigest (token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

/**
 * The admin section with every token replaced by its digest.
 * @throws NgacError NGAC_ERR_CONFIG for a token given twice, or authorization without any token.
 */
function hashTokens (admin: RawAdmin): Config['admin'] {
  const tokens = admin.tokens.map((t) => t.super === undefined
    ? { tokenSha256: tokenDigest(t.token), user: t.user }
    : { tokenSha256: tokenDigest(t.token), user: t.user, super: t.super })
  const digests = tokens.map((t) => t.tokenSha256)
  const tokenSha256 = admin.token === undefined ? undefined : tokenDigest(admin.token)
  if (tokenSha256 !== undefined) digests.push(tokenSha256)
  if (new Set(digests).size !== digests.length) {
    throw new NgacError('NGAC_ERR_CONFIG', 'invalid config: the same token is given twice in admin.token and admin.tokens; give each caller a token of its own')
  }
  if (admin.authorization && digests.length === 0) {
    throw new NgacError('NGAC_ERR_CONFIG', 'invalid config: admin.authorization needs callers: give admin.tokens (users, one of them super for bootstrapping) or admin.token')
  }
  return tokenSha256 === undefined
    ? { authorization: admin.authorization, tokens }
    : { tokenSha256, authorization: admin.authorization, tokens }
}

function readConfigFile (file: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new NgacError('NGAC_ERR_CONFIG', `cannot read the config file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new NgacError('NGAC_ERR_CONFIG', `the config file ${file} is not valid JSON: ${(err as Error).message}`)
  }
}

/**
 * `section` with `values` set on it; a section that is not an object is left as it is, so that
 * validation reports it (spreading a string would invent keys '0', '1', ...).
 */
function merge (section: unknown, values: Record<string, unknown>): unknown {
  if (section === undefined) return values
  if (section === null || typeof section !== 'object' || Array.isArray(section)) return section
  return { ...section, ...values }
}

function toPort (value: string, name: string): number {
  if (!/^\d{1,5}$/.test(value)) throw new NgacError('NGAC_ERR_CONFIG', `${name} must be a port number, not ${JSON.stringify(value)}`)
  return Number(value)
}

function describe (e: ErrorObject): string {
  const at = e.instancePath === '' ? 'the config' : e.instancePath.slice(1).replaceAll('/', '.')
  if (e.keyword === 'additionalProperties') {
    const key = (e.params as { additionalProperty: string }).additionalProperty
    return `unknown key '${e.instancePath === '' ? key : `${at}.${key}`}'`
  }
  if (e.keyword === 'enum') {
    return `${at} must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
  }
  return `${at} ${e.message ?? 'is invalid'}`
}

function deepFreeze (value: unknown): unknown {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
