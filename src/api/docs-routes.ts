/**
 * The OpenAPI document, generated from the route schemas (@fastify/swagger), served at
 * `/openapi.json` with an interactive page at `/docs` (@fastify/swagger-ui). openapi.yaml at the
 * repository root is the same document, written by `npm run openapi`.
 */
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import { existsSync, readFileSync } from 'node:fs'
import { ERROR_CODES } from '../errors.js'

/** The package version: package.json is two levels up from src/api (tests on the sources), three from dist/src/api. */
function packageVersion (): string {
  for (const path of ['../../package.json', '../../../package.json']) {
    const url = new URL(path, import.meta.url)
    if (existsSync(url)) return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version
  }
  return '0.0.0'
}
const version = packageVersion()

const DESCRIPTION = `A policy decision point for NIST Next Generation Access Control (NGAC).

Every error is \`{"code": "NGAC_ERR_...", "message": "...", "details"?: ...}\`. The codes and their statuses:

${Object.entries(ERROR_CODES).map(([code, status]) => `- \`${code}\` (${status})`).join('\n')}

When the server is saturated, any route except the decisions (ext_authz, \`POST /v1/check\`, \`GET /v1/privileges\`, \`POST /access/v1/evaluation\`) and \`/healthz\`, \`/readyz\`, \`/metrics\` may answer 503 \`NGAC_ERR_OVERLOADED\` with a \`Retry-After\` header: retry after that many seconds.
`

/** Registers the OpenAPI generator, `/openapi.json` and `/docs`. */
export const docsRoutes = fp(async (app) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'ngac-pdp', version, description: DESCRIPTION, license: { name: 'Apache-2.0', identifier: 'Apache-2.0' } },
      tags: [
        { name: 'decisions', description: 'Access decisions and review queries' },
        { name: 'administration', description: 'Policy administration' },
        { name: 'ext_authz', description: 'Envoy external authorization (HTTP), nginx auth_request and Caddy forward_auth' },
        { name: 'operations', description: 'Health, readiness and metrics' }
      ],
      components: {
        securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'An admin token (config admin.tokens, each mapped to an NGAC user; admin.token or NGAC_ADMIN_TOKEN, a super token), when one is set' } }
      }
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}` },
    // Administration routes sit behind the admin token: say so on each, unless a route says otherwise.
    transform: ({ schema, url }) => {
      const tags = (schema as { tags?: unknown } | undefined)?.tags
      if (schema === undefined || schema === null || !Array.isArray(tags) || !tags.includes('administration') || 'security' in schema) return { schema, url }
      return { schema: { ...schema, security: [{ adminToken: [] }] }, url }
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
}, { name: 'ngac-docs' })
