/**
 * Operational endpoints every service in a mesh is expected to have: liveness, readiness and
 * Prometheus metrics.
 */
import { Type } from 'typebox'
import type { FastifyPluginAsync } from 'fastify'
import { errorResponses } from './schemas.js'

/** `/healthz`, `/readyz`, `/metrics`. */
export const opsRoutes: FastifyPluginAsync = async (app) => {
  app.get('/healthz', {
    schema: {
      tags: ['operations'],
      summary: 'Liveness: the process answers',
      response: { 200: Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false }) }
    }
  }, async () => ({ status: 'ok' as const }))

  app.get('/readyz', {
    schema: {
      tags: ['operations'],
      summary: 'Readiness: the policy is loaded and the store takes writes',
      response: {
        200: Type.Object({ status: Type.Literal('ready'), revision: Type.Integer() }, { additionalProperties: false }),
        ...errorResponses(503)
      }
    }
  }, async () => {
    app.policy.ready()
    return { status: 'ready' as const, revision: app.policy.revision }
  })

  app.get('/metrics', {
    schema: {
      tags: ['operations'],
      summary: 'Prometheus metrics in the text exposition format',
      produces: ['text/plain'],
      response: { 200: Type.String() }
    }
  }, async (_request, reply) => {
    reply.type(app.metrics.registry.contentType)
    return app.metrics.registry.metrics()
  })
}
