/**
 * buildApp: the fastify application, its plugin tree and no listening socket (tests use inject).
 *
 * ```
 * app: JSON parser (depth limit), validator compilers, error and not-found handlers, metrics,
 *      load shedding (under-pressure: admin and review answer 503 when saturated, decisions never)
 *  +- ops plugin        /healthz /readyz /metrics
 *  +- docs plugin       /openapi.json /docs
 *  +- decision plugin   /v1/check ...           (no admin hooks on the decision path)
 *  +- authzen plugin    /access/v1/...
 *  +- ext_authz plugin  /ext_authz/*            (Envoy, nginx, Caddy; its own body parser)
 *  +- admin plugin      /v1/nodes /v1/batch /v1/lint ... (bearer token when configured; admin
 *                       rights checked in the graph with admin.authorization)
 * ```
 */
import { METHODS } from 'node:http'
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { AdminCallers, type Caller } from './api/admin-auth.js'
import { adminRoutes } from './api/admin-routes.js'
import { authzenRoutes } from './api/authzen-routes.js'
import { decisionRoutes } from './api/decision-routes.js'
import { docsRoutes } from './api/docs-routes.js'
import { answerExtAuthz, extAuthzRoutes, isExtAuthzUrl } from './api/ext-authz-routes.js'
import { buildValidatorCompiler, clientErrorAnswer, httpServerOptions, installJsonParser, parseQueryString, rejectMalformedRequests, sendError } from './api/http.js'
import { Metrics } from './api/metrics.js'
import { opsRoutes } from './api/ops-routes.js'
import { registerOverload, type OverloadSignal } from './api/overload.js'
import { SHARED_SCHEMAS } from './api/schemas.js'
import type { Config } from './config.js'
import { NgacError } from './errors.js'
import { ExtAuthz } from './ext-authz/mapping.js'
import { openPolicy, type Policy } from './policy.js'

/** One info line per request, when it completes: method, URL, status, time. Never a body. */
class RequestLog extends LogController {
  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = { method: request.method, url: request.url, statusCode: reply.statusCode, responseTime: reply.elapsedTime }
    if (error) reply.log.error({ ...line, err: error }, 'request errored')
    else reply.log.info(line, 'request')
  }
}

/** What the app is built from besides its config. */
export interface AppDeps {
  /** The policy to serve; opened from `config.db` when not given (and then closed with the app). */
  readonly policy?: Policy
  /** fastify's logger option; the config's log level when not given. */
  readonly logger?: FastifyServerOptions['logger']
  /**
   * Run when the app closes, after its HTTP server has stopped and before its own policy closes:
   * startServer closes its gRPC server here (hooks cannot be added once the app is built).
   */
  readonly onClose?: () => Promise<void>
  /** An overload signal of the embedder's besides `limits`: while it reports true, the app sheds as when a limit is passed. */
  readonly overloaded?: OverloadSignal
}

/** The app with its type provider. */
export type App = FastifyInstance & { readonly policy: Policy, readonly config: Config, readonly metrics: Metrics, readonly extAuthz: ExtAuthz, readonly adminCallers: AdminCallers }

declare module 'fastify' {
  interface FastifyInstance {
    policy: Policy
    config: Config
    metrics: Metrics
    /** The administration API's callers, by token digest. */
    adminCallers: AdminCallers
  }
  interface FastifyRequest {
    /** The authenticated caller of an administration request (or a review query with a token); null otherwise. */
    caller: Caller | null
  }
}

/**
 * Builds the app for a config. Call `listen` yourself, or `inject` in tests.
 *
 * @example
 * ```ts
 * const app = await buildApp(loadConfig({ document: { db: ':memory:' } }))
 * const res = await app.inject({ method: 'GET', url: '/healthz' })
 * await app.close()
 * ```
 */
export async function buildApp (config: Config, deps: AppDeps = {}): Promise<App> {
  const app = Fastify({
    logger: deps.logger ?? { level: config.logLevel },
    bodyLimit: config.limits.bodyBytes,
    // Slow clients: the whole request within requestTimeoutMs; a silent socket is closed once a
    // request could have arrived and waited its longest for atLeastRevision.
    requestTimeout: config.limits.requestTimeoutMs,
    connectionTimeout: config.limits.requestTimeoutMs === 0 ? 0 : config.limits.requestTimeoutMs + config.limits.revisionWaitMs,
    keepAliveTimeout: config.limits.keepAliveMs,
    http: httpServerOptions(config.limits),
    clientErrorHandler: clientErrorAnswer(config.limits),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    requestIdHeader: 'x-request-id',
    logController: new RequestLog(),
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 2048, querystringParser: parseQueryString },
    schemaController: {
      compilersFactory: {
        // NOTE: fastify's type for this factory is narrower than what it passes at run time.
        buildValidator: ((externalSchemas: Record<string, unknown>) => buildValidatorCompiler(externalSchemas)) as never
      }
    },
    frameworkErrors: (err, request, reply) => {
      if (isExtAuthzUrl(request.url)) answerExtAuthz(request, reply)
      else sendError(err, request, reply)
    }
  }).withTypeProvider<TypeBoxTypeProvider>()

  // A proxy asks ext_authz about any method its clients use (WebDAV's too); CONNECT never reaches it.
  for (const method of METHODS) if (method !== 'CONNECT' && !app.supportedMethods.includes(method)) app.addHttpMethod(method, { hasBody: true })

  const ownPolicy = deps.policy === undefined
  const policy = deps.policy ?? openPolicy({ db: config.db, cache: config.decisionCache.enabled && { capacity: config.decisionCache.capacity } })
  // Another worker's or process's writes to the same file show here within about 10 ms.
  if (ownPolicy) policy.follow()
  app.decorate('policy', policy)
  app.decorate('config', config)
  app.decorate('metrics', new Metrics(policy))
  app.decorate('extAuthz', new ExtAuthz(policy, config.extAuthz, { log: app.log }))
  app.decorate('adminCallers', new AdminCallers(config.admin))
  app.decorateRequest('caller', null)
  // Administration governed by the graph: the reserved nodes exist whenever it is on.
  if (config.admin.authorization) {
    try {
      policy.governAdministration()
    } catch (err) {
      if (ownPolicy) policy.close()
      throw err
    }
  }
  app.addHook('onClose', async () => {
    try {
      await deps.onClose?.()
    } finally {
      if (ownPolicy) policy.close()
    }
  })

  // First of the onRequest hooks, so that a shed request costs the least (src/api/overload.ts).
  await registerOverload(app, config.limits, deps.overloaded)
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema)
  app.removeContentTypeParser('text/plain')
  installJsonParser(app, config.limits.jsonDepth)
  app.setErrorHandler((err, request, reply) => sendError(err, request, reply))
  app.setNotFoundHandler((request, reply) => sendError(
    new NgacError('NGAC_ERR_ROUTE_NOT_FOUND', `there is no route ${request.method} ${request.url.split('?')[0]}; see /docs for the API`),
    request, reply))
  app.addHook('onRequest', rejectMalformedRequests)
  // Echo the request id (the client's X-Request-ID, or fastify's own) so logs and clients correlate.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id)
    done(null, payload)
  })
  app.metrics.instrument(app)

  await app.register(docsRoutes)
  await app.register(opsRoutes)
  await app.register(decisionRoutes)
  await app.register(authzenRoutes)
  await app.register(extAuthzRoutes)
  await app.register(adminRoutes)
  await app.ready()
  return app as unknown as App
}
