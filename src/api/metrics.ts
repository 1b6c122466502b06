/**
 * Prometheus metrics (prom-client), in a registry of the app's own so that several apps in one
 * process (tests) do not collide: request counts and latency by route, decisions allowed and
 * denied, the policy's revision and its size by node type, the decision cache's hits and misses.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { FastifyInstance } from 'fastify'
import type { DecisionCacheStats } from '../pdp/index.js'
import type { Policy } from '../policy.js'

/**
 * The metrics of one app.
 *
 * @example
 * ```ts
 * app.metrics.decision(true)
 * const text = await app.metrics.registry.metrics()
 * ```
 */
export class Metrics {
  readonly registry = new Registry()
  readonly #requests: Counter<'method' | 'route' | 'status'>
  readonly #latency: Histogram<'method' | 'route'>
  readonly #allowed: Counter.Internal
  readonly #denied: Counter.Internal

  constructor (policy: Policy) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'ngac_' })
    this.#requests = new Counter({
      name: 'ngac_http_requests_total',
      help: 'HTTP requests by method, route and status',
      labelNames: ['method', 'route', 'status'],
      registers
    })
    this.#latency = new Histogram({
      name: 'ngac_http_request_duration_seconds',
      help: 'HTTP request latency by method and route',
      labelNames: ['method', 'route'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers
    })
    const decisions = new Counter({
      name: 'ngac_decisions_total',
      help: 'Access decisions by outcome',
      labelNames: ['allowed'],
      registers
    })
    // NOTE: children bound once, so counting a decision allocates nothing.
    this.#allowed = decisions.labels('true')
    this.#denied = decisions.labels('false')
    // NOTE: the policy gauges are read at scrape time, so the write path pays nothing for them.
    new Gauge({
      name: 'ngac_policy_revision',
      help: 'Revision of the policy being served',
      registers,
      collect () { this.set(policy.revision) }
    })
    new Gauge({
      name: 'ngac_policy_nodes',
      help: 'Nodes of the policy by type',
      labelNames: ['type'],
      registers,
      collect () {
        for (const [type, count] of Object.entries(policy.graph.stats.nodesByType)) this.set({ type }, count)
      }
    })
    new Gauge({
      name: 'ngac_policy_elements',
      help: 'Assignments, associations and prohibitions of the policy',
      labelNames: ['kind'],
      registers,
      collect () {
        const s = policy.graph.stats
        this.set({ kind: 'assignments' }, s.assignments)
        this.set({ kind: 'associations' }, s.associations)
        this.set({ kind: 'prohibitions' }, s.prohibitions)
      }
    })
    // NOTE: the engine counts cache hits and misses in plain integers; these counters catch up
    // with them at scrape time, so a decision pays nothing for its metrics here.
    const fromCache = (name: string, help: string, read: (stats: DecisionCacheStats) => number): void => {
      let seen = 0
      new Counter({
        name,
        help,
        registers,
        collect () {
          const stats = policy.decisionCache
          const now = stats === undefined ? seen : read(stats)
          if (now > seen) this.inc(now - seen)
          seen = now
        }
      })
    }
    fromCache('ngac_decision_cache_hits_total', 'Decisions answered from the decision cache', (s) => s.hits)
    fromCache('ngac_decision_cache_misses_total', 'Decisions the decision cache did not hold (computed, then cached)', (s) => s.misses)
  }

  /** Counts one decision. */
  decision (allowed: boolean): void {
    if (allowed) this.#allowed.inc()
    else this.#denied.inc()
  }

  /** Adds the request count and latency hook to the app. */
  instrument (app: FastifyInstance): void {
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unknown'
      this.#requests.inc({ method: request.method, route, status: String(reply.statusCode) })
      this.#latency.observe({ method: request.method, route }, reply.elapsedTime / 1000)
      done()
    })
  }
}
