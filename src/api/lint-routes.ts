/**
 * `GET /v1/lint`: the policy's lint report (src/analysis). An administration route: the report
 * names nodes and shows the policy's weak spots, so it sits behind the admin token.
 *
 * The admin plugin registers {@link lintRoutes}, so its one token check covers it.
 */
import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { LINT_RULES, lintPolicy, type LintRule, type LintSeverity } from '../analysis/index.js'
import { ADMIN_POLICY_OA } from '../pap/index.js'
import { ReadAccess } from './admin-auth.js'
import { errorResponses } from './schemas.js'

const Count = Type.Integer({ minimum: 0 })

const LintReportSchema = Type.Object({
  revision: Type.Integer({ minimum: 0, description: 'The revision of the policy linted.' }),
  findings: Type.Array(Type.Object({
    rule: Type.Enum(LINT_RULES.map((r) => r.rule) as LintRule[]),
    severity: Type.Enum(['error', 'warning', 'info'] as LintSeverity[]),
    message: Type.String({ description: 'What is wrong and what to do.' }),
    nodes: Type.Array(Type.String(), { description: 'The nodes concerned, most relevant first.' }),
    prohibition: Type.Optional(Type.String({ description: 'The prohibition concerned, for the prohibition rules.' }))
  }, { additionalProperties: false }), { description: 'Ordered by rule, then by node creation order.' }),
  counts: Type.Object({ error: Count, warning: Count, info: Count }, { additionalProperties: false }),
  statistics: Type.Object({
    nodes: Count,
    nodesByType: Type.Object({ PC: Count, UA: Count, U: Count, OA: Count, O: Count }, { additionalProperties: false }),
    assignments: Count,
    associations: Count,
    prohibitions: Count,
    maxDepth: Type.Integer({ minimum: 0, description: 'The longest chain of assignments from a node up to a policy class.' }),
    maxFanOut: Type.Integer({ minimum: 0, description: 'The most nodes assigned to one node.' }),
    meanFanOut: Type.Number({ minimum: 0, description: 'The mean number of nodes assigned to a node, over the nodes that have any.' })
  }, { additionalProperties: false })
}, { additionalProperties: false, description: 'Findings about likely mistakes in the policy, and its statistics.' })

const DESCRIPTION = `Lints the policy being served. The rules, in report order:

${LINT_RULES.map((r) => `- \`${r.rule}\` (${r.severity}): ${r.description}`).join('\n')}

With admin authorization on, linting needs \`query\` on \`ngac:admin:policy\`: the report covers every tenant.

Lint copies the policy into a graph library and asks its own decision engine, off the decision path; on a large policy it takes a while.`

/** `GET /v1/lint`, without authentication of its own: register it inside the admin plugin. */
export const lintRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/v1/lint', {
    schema: {
      tags: ['administration'],
      summary: 'Lint the policy: likely mistakes and statistics',
      description: DESCRIPTION,
      response: { 200: LintReportSchema, ...errorResponses(401, 403, 503) }
    }
  }, async (request) => {
    new ReadAccess(app.policy, request.caller, app.config.admin.authorization).require(ADMIN_POLICY_OA, 'linting the policy')
    return lintPolicy(app.policy.graph)
  })
}
