/**
 * Decision routes (DESIGN section 5, Decisions). A plugin of their own, so that no admin hook
 * runs on the decision path.
 */
import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses } from './schemas.js'

const Subject = {
  user: Type.Optional(Type.Ref('Name')),
  userAttributes: Type.Optional(Type.Array(Type.Ref('Name'), { minItems: 1, maxItems: 1024 })),
  process: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 }))
}
const Target = {
  target: Type.Optional(Type.Ref('Name')),
  targetAttributes: Type.Optional(Type.Array(Type.Ref('Name'), { minItems: 1, maxItems: 1024 }))
}

/** `POST /v1/check`. */
export const decisionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/v1/check', {
    schema: {
      tags: ['decisions'],
      summary: 'May the user do the right (or all the rights) on the target?',
      body: Type.Object({
        ...Subject,
        ...Target,
        right: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
        rights: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, maxItems: 1024 }))
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({ allowed: Type.Boolean(), revision: Type.Integer() }, { additionalProperties: false }),
        ...errorResponses(400, 413, 415)
      }
    }
  }, async (request) => {
    const decision = app.policy.check(request.body as Parameters<typeof app.policy.check>[0])
    app.metrics.decision(decision.allowed)
    return decision
  })
}
