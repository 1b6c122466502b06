/**
 * Administration routes (DESIGN section 5, Administration): every write goes through the policy's
 * administrator and answers with the revision it committed. A plugin of its own, with the
 * bearer-token hook, so none of this runs on the decision path.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { NgacError } from '../errors.js'
import { errorResponses } from './schemas.js'

/** The administration API. */
export const adminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const token = app.config.admin.token
  if (token !== undefined) {
    const expected = digest(token)
    app.addHook('onRequest', async (request) => {
      const header = request.headers.authorization
      const given = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : undefined
      if (given === undefined || !timingSafeEqual(digest(given), expected)) {
        throw new NgacError('NGAC_ERR_UNAUTHORIZED', 'the administration API needs the header "Authorization: Bearer <admin token>"')
      }
    })
  }

  app.get('/v1/revision', {
    schema: {
      tags: ['administration'],
      summary: 'The revision of the policy being served',
      response: { 200: Type.Ref('Revision'), ...errorResponses(401) }
    }
  }, async () => ({ revision: app.policy.revision }))
}

/** NOTE: comparing fixed-length digests keeps the comparison constant-time whatever the token's length. */
function digest (token: string): Buffer {
  return createHash('sha256').update(token).digest()
}
