/**
 * Envoy's gRPC external authorization service (DESIGN section 5, gRPC): serves
 * `envoy.service.auth.v3.Authorization/Check` and `grpc.health.v1.Health` on a port of their own,
 * both loaded from the official protos (Envoy's in @grpc/grpc-js-xds, grpc-health-check's own).
 *
 * Invariants: every Check is answered with a `status` (Envoy treats a CheckResponse without one as
 * an allow), and only a decision's allow answers OK. A request that cannot be mapped (missing
 * attributes, no identity, bad path) is a deny from {@link ExtAuthz}; a fault of the PDP itself
 * answers status INTERNAL with a 503 `denied_response`, which Envoy turns into a deny whatever its
 * `failure_mode_allow` says (an RPC error would honour it, and fail open when it is set).
 *
 * Cost per Check: protobuf decoding by grpc-js, one ExtAuthz decision, a response of at most five
 * small objects. NOTE: grpc-js, proto-loader and the protos load on the first start, not on import:
 * they cost about 200 ms, which `ngac check` and library users who never serve gRPC do not pay.
 */
import { createRequire } from 'node:module'
import { isIP } from 'node:net'
import { dirname, join } from 'node:path'
import type * as GrpcJs from '@grpc/grpc-js'
import type { sendUnaryData, Server, ServerUnaryCall, ServerWritableStream, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js'
import type * as GrpcHealthCheck from 'grpc-health-check'
import type { HealthImplementation } from 'grpc-health-check'
import { NgacError } from '../errors.js'
import { allowHeaders, denyBody, type ExtAuthz, type ProxyDecision } from './mapping.js'

/** The full name of Envoy's authorization service, also its name in the health service. */
export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization'

/** Options of {@link startGrpcServer}. */
export interface GrpcServerOptions {
  /** Decides the Check calls; share the HTTP route's instance so both count one sequence of decision ids. */
  readonly extAuthz: ExtAuthz
  /** The address to listen on (default 127.0.0.1). */
  readonly host?: string
  /** The port to listen on; 0 (the default) picks a free one, see {@link GrpcServer.port}. */
  readonly port?: number
  /** Counts decisions (the app's `metrics`). */
  readonly metrics?: { decision (allowed: boolean): void }
  /** Where faults of the PDP are reported (a pino logger). */
  readonly log?: { error (obj: object, msg: string): void }
  /** How long {@link GrpcServer.close} lets in-flight calls finish before cutting them, in ms (default 10000). */
  readonly shutdownGraceMs?: number
}

/** A running gRPC ext_authz server. */
export interface GrpcServer {
  /** The address it listens on, as given. */
  readonly host: string
  /** The port it listens on (the one chosen when 0 was asked for). */
  readonly port: number
  /**
   * Marks both health services NOT_SERVING (and ends health watches after telling them), stops
   * accepting calls, lets in-flight calls finish within the grace time, then cuts the rest.
   * Idempotent: every call returns the same promise.
   */
  close (): Promise<void>
}

// The message shapes this module reads and writes, as proto-loader gives them (keepCase, enums as
// strings, no defaults: an absent field is undefined).
interface HeaderValueMessage { key?: string, value?: string, raw_value?: Uint8Array }
interface HttpRequestMessage {
  id?: string
  method?: string
  path?: string
  headers?: Record<string, string>
  header_map?: { headers?: HeaderValueMessage[] } | null
}
interface CheckRequestMessage {
  attributes?: {
    source?: { principal?: string } | null
    request?: { http?: HttpRequestMessage | null } | null
    context_extensions?: Record<string, string>
  } | null
}
interface HeaderValueOptionMessage {
  header: { key: string, value: string }
  append_action: 'OVERWRITE_IF_EXISTS_OR_ADD'
}
interface CheckResponseMessage {
  status: { code: number, message?: string }
  ok_response?: { headers: HeaderValueOptionMessage[] }
  denied_response?: { status: { code: string }, headers: HeaderValueOptionMessage[], body: string }
}

type Headers = Record<string, string | string[]>

/** google.rpc.Code values. */
const CODE_OK = 0
const CODE_PERMISSION_DENIED = 7
const CODE_INTERNAL = 13
const CODE_UNAUTHENTICATED = 16

const OK_STATUS = Object.freeze({ code: CODE_OK })
const FORBIDDEN = Object.freeze({ code: 'Forbidden' })
const UNAUTHORIZED = Object.freeze({ code: 'Unauthorized' })
const JSON_CONTENT_TYPE = overwrite(['content-type', 'application/json'])
const EMPTY_HEADERS: Headers = Object.freeze(Object.create(null) as Headers)
const UPPER_CASE = /[A-Z]/

/** The answer to a Check that the PDP could not decide: a deny that Envoy passes on as a 503. */
const FAULT_RESPONSE: CheckResponseMessage = Object.freeze({
  status: { code: CODE_INTERNAL, message: 'the PDP failed to decide' },
  denied_response: {
    status: { code: 'ServiceUnavailable' },
    headers: [JSON_CONTENT_TYPE],
    body: JSON.stringify({ allowed: false, reason: 'pdp error' })
  }
})

/** What the first start loads, once per process. */
interface Runtime {
  readonly grpc: typeof GrpcJs
  readonly health: typeof GrpcHealthCheck
  readonly authorization: ServiceDefinition
}

let runtime: Promise<Runtime> | undefined

function loadRuntime (): Promise<Runtime> {
  runtime ??= (async () => {
    const [grpc, health, protoLoader] = await Promise.all([import('@grpc/grpc-js'), import('grpc-health-check'), import('@grpc/proto-loader')])
    const require = createRequire(import.meta.url)
    const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps')
    const definition = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: false,
      oneofs: true,
      includeDirs: ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((dir) => join(deps, dir))
    })
    return { grpc, health, authorization: definition[AUTHORIZATION_SERVICE] as ServiceDefinition }
  })()
  return runtime
}

/**
 * Envoy's `envoy.service.auth.v3.Authorization` service definition, loaded from the official
 * protos once per process: for a client, or a server of one's own.
 *
 * @example
 * ```ts
 * const Authorization = grpc.makeGenericClientConstructor(await authorizationService(), 'Authorization')
 * const client = new Authorization('127.0.0.1:9191', grpc.credentials.createInsecure())
 * ```
 */
export async function authorizationService (): Promise<ServiceDefinition> {
  return (await loadRuntime()).authorization
}

/**
 * Starts the gRPC ext_authz server (Authorization/Check and grpc.health.v1.Health, insecure
 * credentials) and resolves once it listens.
 * @throws NgacError NGAC_ERR_CONFIG when it cannot listen on `host:port` (in use, not an address of this host).
 *
 * @example
 * ```ts
 * const authz = new ExtAuthz(policy, config.extAuthz)
 * const grpc = await startGrpcServer({ extAuthz: authz, host: '127.0.0.1', port: 9191 })
 * // envoy: grpc_service: { envoy_grpc: { cluster_name: ngac } } -> 127.0.0.1:9191
 * await grpc.close()
 * ```
 */
export async function startGrpcServer (options: GrpcServerOptions): Promise<GrpcServer> {
  const { grpc, health, authorization } = await loadRuntime()
  const host = options.host ?? '127.0.0.1'
  const address = `${isIP(host) === 6 ? `[${host}]` : host}:${options.port ?? 0}`
  const server = new grpc.Server()
  const authz = new AuthorizationService(options)
  server.addService(authorization, { Check: authz.check })
  const healthService = new HealthService(new health.HealthImplementation({ '': 'SERVING', [AUTHORIZATION_SERVICE]: 'SERVING' }), server)
  let port: number
  try {
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) => { if (err === null) resolve(bound); else reject(err) })
    })
  } catch (err) {
    server.forceShutdown()
    throw new NgacError('NGAC_ERR_CONFIG', `cannot serve gRPC on ${address}: ${(err as Error).message}; free port ${options.port ?? 0} or choose another with --grpc-port or grpc.port in the config (0 turns gRPC off)`, { cause: err })
  }
  const graceMs = options.shutdownGraceMs ?? 10_000
  let closed: Promise<void> | undefined
  return {
    host,
    port,
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        healthService.stop()
        const force = setTimeout(() => {
          server.forceShutdown()
          resolve()
        }, graceMs)
        force.unref()
        server.tryShutdown(() => {
          clearTimeout(force)
          resolve()
        })
      })
      return closed
    }
  }
}

/** Envoy's Authorization service over an {@link ExtAuthz}. */
class AuthorizationService {
  readonly #authz: ExtAuthz
  readonly #metrics: GrpcServerOptions['metrics']
  readonly #log: GrpcServerOptions['log']

  constructor (options: GrpcServerOptions) {
    this.#authz = options.extAuthz
    this.#metrics = options.metrics
    this.#log = options.log
  }

  /** The Check handler; bound once, as grpc-js calls it without `this`. */
  readonly check = (call: ServerUnaryCall<CheckRequestMessage, CheckResponseMessage>, callback: sendUnaryData<CheckResponseMessage>): void => {
    let response: CheckResponseMessage
    try {
      const attributes = call.request.attributes
      const http = attributes?.request?.http
      const headers = headersOf(http)
      const decision = this.#authz.decide({
        method: http?.method ?? '',
        path: http?.path ?? '',
        headers,
        principal: attributes?.source?.principal,
        contextExtensions: attributes?.context_extensions
      }, requestIdOf(headers, http))
      this.#metrics?.decision(decision.allowed)
      response = decision.allowed ? allowResponse(decision) : denyResponse(decision)
    } catch (err) {
      this.#log?.error({ err }, 'ext_authz gRPC Check failed; answered as a deny (503)')
      response = FAULT_RESPONSE
    }
    callback(null, response)
  }
}

/** grpc-health-check's implementation, with its watches tracked so that closing can end them. */
class HealthService {
  readonly #health: HealthImplementation
  readonly #watches = new Set<ServerWritableStream<unknown, unknown>>()

  constructor (health: HealthImplementation, server: Server) {
    this.#health = health
    health.addToServer({
      addService: (service, implementation) => {
        const watch = implementation.watch as (call: ServerWritableStream<unknown, unknown>) => void
        const tracked: UntypedServiceImplementation = {
          ...implementation,
          watch: (call: ServerWritableStream<unknown, unknown>) => {
            this.#watches.add(call)
            const forget = (): void => { this.#watches.delete(call) }
            call.once('cancelled', forget)
            call.once('finish', forget)
            watch(call)
          }
        }
        server.addService(service as ServiceDefinition, tracked)
      }
    })
  }

  /** NOT_SERVING for both services, then ends the watches (after they were told). */
  stop (): void {
    this.#health.setStatus('', 'NOT_SERVING')
    this.#health.setStatus(AUTHORIZATION_SERVICE, 'NOT_SERVING')
    for (const call of this.#watches) call.end()
    this.#watches.clear()
  }
}

/**
 * The request's headers, names in lower case: Envoy's `headers` map (already lower case from
 * Envoy, copied only when it is not), else its `header_map` (sent with `encode_raw_headers`),
 * where a repeated name keeps every value in order.
 */
function headersOf (http: HttpRequestMessage | null | undefined): Headers {
  const map = http?.headers
  if (map !== undefined) {
    for (const name in map) {
      if (UPPER_CASE.test(name)) return lowerCased(map)
    }
    return map
  }
  const entries = http?.header_map?.headers
  if (entries === undefined || entries.length === 0) return EMPTY_HEADERS
  const out = Object.create(null) as Headers
  for (const entry of entries) {
    if (entry.key === undefined) continue
    const name = entry.key.toLowerCase()
    const value = entry.value ?? (entry.raw_value === undefined ? '' : Buffer.from(entry.raw_value).toString('utf8'))
    const seen = out[name]
    if (seen === undefined) out[name] = value
    else if (typeof seen === 'string') out[name] = [seen, value]
    else seen.push(value)
  }
  return out
}

/** The proxy's request id: `x-request-id` (the last one), else Envoy's own id of the request. */
function requestIdOf (headers: Headers, http: HttpRequestMessage | null | undefined): string | undefined {
  const id = headers['x-request-id']
  const last = typeof id === 'string' ? id : id?.[id.length - 1]
  return last === undefined || last === '' ? http?.id : last
}

function lowerCased (map: Record<string, string>): Headers {
  const out = Object.create(null) as Headers
  for (const name in map) out[name.toLowerCase()] = map[name] as string
  return out
}

function allowResponse (decision: ProxyDecision): CheckResponseMessage {
  return { status: OK_STATUS, ok_response: { headers: allowHeaders(decision).map(overwrite) } }
}

function denyResponse (decision: ProxyDecision): CheckResponseMessage {
  const unauthenticated = decision.status === 401
  return {
    status: { code: unauthenticated ? CODE_UNAUTHENTICATED : CODE_PERMISSION_DENIED, message: decision.reason },
    denied_response: { status: unauthenticated ? UNAUTHORIZED : FORBIDDEN, headers: [JSON_CONTENT_TYPE], body: denyBody(decision) }
  }
}

/** A header that replaces any of the same name, so a client cannot smuggle its own x-ngac-user upstream. */
function overwrite ([key, value]: readonly [string, string]): HeaderValueOptionMessage {
  return { header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }
}
