/**
 * Load shedding (@fastify/under-pressure): while the process is saturated (the mean event-loop
 * delay, the V8 heap or the RSS over `limits`, or an embedder's own signal) a request is answered
 * at once with 503, `Retry-After` and NGAC_ERR_OVERLOADED, before its body is read, instead of
 * being queued while latency and memory grow.
 *
 * Decisions are never shed, only administration, review and the rest. Never shed: ext_authz (HTTP;
 * Envoy's gRPC Check is not served by this app and is never shed either), `POST /v1/check`,
 * `GET /v1/privileges`, AuthZEN's single `evaluation`, and `/healthz`, `/readyz`, `/metrics`. Why:
 * - a proxy turns a 5xx from its authorization service into a deny (or, with Envoy's
 *   `failure_mode_allow`, an allow): a shed decision fails the mesh's request, the very outage
 *   shedding is meant to prevent;
 * - one decision costs microseconds from memory, about what refusing it costs (the request is
 *   parsed either way), so refusing it would free nothing;
 * - what saturates a PDP is the rest: writes (an fsync each, an import of the whole policy),
 *   review queries (capabilities, acl and searches walk the graph), batches of checks, bodies of
 *   up to limits.policyBodyBytes. Refusing those gives the event loop and the heap back to decisions;
 * - probes and metrics must answer under load: a failed liveness probe restarts the PDP, a failed
 *   readiness probe withdraws it (its decisions go elsewhere or nowhere), and metrics are how an
 *   operator sees the overload.
 * A client of a shed route sees 503 with `Retry-After` and retries later; nothing was applied.
 *
 * The event-loop delay counts only when sustained: the mean delay of two seconds in a row over
 * the limit. One long pause (an import of a large policy blocks the loop for seconds) is not
 * saturation, and shedding the writes that follow it would only make clients wait.
 *
 * NOTE: the exemption is a Set lookup by route template made only under pressure; otherwise a
 * request pays under-pressure's few comparisons and nothing else.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { getHeapStatistics } from 'node:v8'
import underPressure, { type FastifyUnderPressureOptions } from '@fastify/under-pressure'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.js'
import { NgacError } from '../errors.js'

/** The route templates never shed: decisions, probes and metrics (see the header). */
export const NEVER_SHED: ReadonlySet<string> = new Set([
  '/ext_authz', '/ext_authz/*',
  '/v1/check', '/v1/privileges', '/access/v1/evaluation',
  '/healthz', '/readyz', '/metrics'
])

/** An overload signal of the embedder's (tests, a host process), beside the `limits`. */
export interface OverloadSignal {
  /** Whether the server is overloaded now; read every `intervalMs`. */
  readonly check: () => boolean
  /** How often `check` is read, in milliseconds (250 by default). */
  readonly intervalMs?: number
}

/** The V8 heap in use above which requests are shed when `limits.maxHeapUsedBytes` is unset: 90% of V8's limit. */
export function defaultMaxHeapUsedBytes (): number {
  return Math.floor(getHeapStatistics().heap_size_limit * 0.9)
}

/**
 * Whether a measure stays over a limit: true once `samples` measures in a row are over it,
 * false again at the first one under it.
 *
 * @example
 * ```ts
 * const late = new SustainedOver(1000)
 * late.push(5000) // false: one pause
 * late.push(1200) // true: two seconds in a row
 * ```
 */
export class SustainedOver {
  readonly #limit: number
  readonly #samples: number
  #run = 0

  constructor (limit: number, samples = 2) {
    this.#limit = limit
    this.#samples = samples
  }

  push (value: number): boolean {
    this.#run = value > this.#limit ? this.#run + 1 : 0
    return this.over
  }

  get over (): boolean {
    return this.#run >= this.#samples
  }
}

/** How often the event-loop delay is averaged, in milliseconds. */
const DELAY_WINDOW_MS = 1000
/** The resolution of the event-loop delay monitor, in milliseconds (subtracted from its mean). */
const DELAY_RESOLUTION_MS = 10

/**
 * Registers the load shedding on the app, before any route: the thresholds of `limits` (0 turns
 * one off) and, when given, the embedder's own `signal`.
 *
 * @example
 * ```ts
 * await registerOverload(app, config.limits, { check: () => queue.length > 1000 })
 * ```
 */
export async function registerOverload (app: FastifyInstance, limits: Config['limits'], signal?: OverloadSignal): Promise<void> {
  const maxHeapUsedBytes = limits.maxHeapUsedBytes ?? defaultMaxHeapUsedBytes()
  const retryAfter = String(limits.retryAfterSeconds)
  let lateMs = 0
  const late = new SustainedOver(limits.maxEventLoopDelayMs)
  if (limits.maxEventLoopDelayMs > 0) {
    const histogram = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS })
    histogram.enable()
    const timer = setInterval(() => {
      // No sample at all: the loop was blocked for the whole window.
      lateMs = histogram.count === 0 ? Infinity : Math.max(0, histogram.mean / 1e6 - DELAY_RESOLUTION_MS)
      histogram.reset()
      late.push(lateMs)
    }, DELAY_WINDOW_MS)
    timer.unref()
    app.addHook('onClose', async () => {
      clearInterval(timer)
      histogram.disable()
    })
  }
  const why = (type: string, value: number | undefined): string => {
    switch (type) {
      case underPressure.TYPE_HEAP_USED_BYTES:
        return `the heap holds ${mib(value)} MiB (limits.maxHeapUsedBytes ${mib(maxHeapUsedBytes)} MiB)`
      case underPressure.TYPE_RSS_BYTES:
        return `the process holds ${mib(value)} MiB (limits.maxRssBytes ${mib(limits.maxRssBytes)} MiB)`
      default:
        return late.over
          ? `the event loop runs ${Number.isFinite(lateMs) ? Math.round(lateMs) : 'over ' + DELAY_WINDOW_MS} ms late on average (limits.maxEventLoopDelayMs ${limits.maxEventLoopDelayMs})`
          : 'the host reports it overloaded'
    }
  }
  const shed = (request: FastifyRequest, reply: FastifyReply, type: string, value: number | undefined): string | undefined => {
    const route = request.routeOptions.url
    if (route !== undefined && NEVER_SHED.has(route)) return undefined
    const error = new NgacError('NGAC_ERR_OVERLOADED', `the server is overloaded: ${why(type, value)}; retry after ${retryAfter} s (decisions are still answered)`)
    reply.code(error.statusCode).header('retry-after', retryAfter).type('application/json; charset=utf-8')
    return JSON.stringify(error.toJSON())
  }
  const options: FastifyUnderPressureOptions = {
    maxHeapUsedBytes,
    maxRssBytes: limits.maxRssBytes,
    retryAfter: limits.retryAfterSeconds,
    // NOTE: under-pressure sends what the handler returns and lets the request through when it
    // returns nothing (index.js, handlePressure); its types say the handler returns nothing.
    pressureHandler: shed as unknown as NonNullable<FastifyUnderPressureOptions['pressureHandler']>
  }
  // The sustained delay and the embedder's signal reach under-pressure as its health check.
  if (limits.maxEventLoopDelayMs > 0 || signal !== undefined) {
    options.healthCheck = async () => !late.over && signal?.check() !== true
    options.healthCheckInterval = signal?.intervalMs ?? 250
  }
  await app.register(underPressure, options)
}

function mib (bytes: number | undefined): string {
  return ((bytes ?? 0) / 2 ** 20).toFixed(0)
}
