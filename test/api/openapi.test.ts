// The OpenAPI document: generated from the routes, committed as openapi.yaml, served at
// /openapi.json and /docs. CI fails here when the routes change and openapi.yaml does not.
import { existsSync, readFileSync } from 'node:fs'
import t from 'tap'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { parse } from 'yaml'
import { openapiPath, renderOpenapi } from '../../scripts/openapi.js'
import { ERROR_CODES } from '../../src/errors.js'
import { SHARED_SCHEMAS } from '../../src/api/schemas.js'
import { build } from './helper.js'

interface Operation {
  summary?: string
  tags?: string[]
  security?: Record<string, string[]>[]
  parameters?: { name: string, in: string, required?: boolean, schema?: unknown }[]
  requestBody?: { content: Record<string, { schema: unknown }> }
  responses: Record<string, { description: string, content?: Record<string, { schema: unknown }> }>
}
interface Document {
  openapi: string
  info: { title: string, version: string, description: string }
  tags: { name: string }[]
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, unknown>, securitySchemes: Record<string, unknown> }
}

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'])

function operations (doc: Document): [string, Operation][] {
  const out: [string, Operation][] = []
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) if (METHODS.has(method)) out.push([`${method.toUpperCase()} ${path}`, op])
  }
  return out
}

/** Every `$ref` anywhere in `value`. */
function refs (value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refs(v, out)
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v)
      else refs(v, out)
    }
  }
  return out
}

t.test('openapi.yaml is what the routes produce', async (t) => {
  const path = openapiPath()
  const committed = existsSync(path) ? readFileSync(path, 'utf8') : ''
  const generated = await renderOpenapi()
  t.ok(committed === generated, 'openapi.yaml differs from the routes: run `npm run openapi` and commit openapi.yaml')
  t.equal(await renderOpenapi(), generated, 'generation is deterministic')
  t.same(parse(generated), parse(committed))
})

t.test('GET /openapi.json is an OpenAPI 3.1 document of every route', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/openapi.json' })
  t.equal(res.statusCode, 200)
  const doc = res.json<Document>()
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

  t.equal(doc.openapi, '3.1.0')
  t.equal(doc.info.title, 'ngac-pdp')
  t.equal(doc.info.version, pkg.version, 'the version comes from package.json')
  for (const path of ['/v1/check', '/healthz', '/readyz', '/metrics', '/v1/lint']) t.ok(doc.paths[path], `documents ${path}`)
  t.notOk(doc.paths['/openapi.json'], 'the document itself is hidden')
  t.same(parse(readFileSync(openapiPath(), 'utf8')), doc, 'the served document is the committed one')

  const described = doc.info.description + JSON.stringify(doc.components)
  for (const code of Object.keys(ERROR_CODES)) t.ok(described.includes(code), `documents ${code}`)
})

t.test('every route has a summary, known tags and documented responses', async (t) => {
  const app = await build(t)
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<Document>()
  const tags = new Set(doc.tags.map((tag) => tag.name))
  const ops = operations(doc)
  t.ok(ops.length >= 5)
  for (const [name, op] of ops) {
    t.ok(typeof op.summary === 'string' && op.summary.length > 0, `${name} has a summary`)
    t.ok(Array.isArray(op.tags) && op.tags.length > 0 && op.tags.every((tag) => tags.has(tag)), `${name} has declared tags`)
    t.ok(Object.keys(op.responses).length > 0, `${name} documents its responses`)
    for (const [status, response] of Object.entries(op.responses)) {
      t.ok(/^[1-5]\d\d$|^default$/.test(status) && response.description.length > 0, `${name} ${status} is described`)
    }
    if (op.tags?.includes('administration')) t.same(op.security, [{ adminToken: [] }], `${name} needs the admin token`)
  }
})

t.test('shared schemas are components named by their $id, and every $ref resolves', async (t) => {
  const app = await build(t)
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<Document>()
  for (const { $id } of SHARED_SCHEMAS as { $id?: string }[]) {
    t.ok($id !== undefined && doc.components.schemas[$id] !== undefined, `components.schemas.${$id}`)
  }
  t.notOk(Object.keys(doc.components.schemas).some((name) => /^def-\d+$/.test(name)), 'no anonymous def-N component')
  const all = refs(doc)
  t.ok(all.length > 0)
  for (const ref of new Set(all)) {
    const match = /^#\/components\/schemas\/(.+)$/.exec(ref)
    t.ok(match !== null && doc.components.schemas[match[1] as string] !== undefined, `${ref} resolves`)
  }
  t.equal(refs(doc.components.schemas.Error).length, 0)
})

t.test('every schema in the document is valid JSON Schema 2020-12 (OpenAPI 3.1 dialect)', async (t) => {
  const app = await build(t)
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<Document>()
  const ajv = new Ajv2020({ strict: false, validateFormats: false })
  const root = { $id: 'https://ngac-pdp.test/openapi.json', components: doc.components }
  ajv.addSchema(root)
  const rebase = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"https://ngac-pdp.test/openapi.json#/components/'))
  for (const name of Object.keys(doc.components.schemas)) {
    t.doesNotThrow(() => ajv.compile({ $ref: `https://ngac-pdp.test/openapi.json#/components/schemas/${name}` }), `components.schemas.${name}`)
  }
  for (const [name, op] of operations(doc)) {
    const schemas = [
      ...(op.parameters ?? []).map((p) => p.schema),
      ...Object.values(op.requestBody?.content ?? {}).map((c) => c.schema),
      ...Object.values(op.responses).flatMap((r) => Object.values(r.content ?? {}).map((c) => c.schema))
    ].filter((s) => s !== undefined)
    for (const schema of schemas) t.doesNotThrow(() => ajv.compile(rebase(schema) as object), `${name}: a schema compiles`)
  }
})

t.test('GET /docs answers the OpenAPI UI as HTML', async (t) => {
  const app = await build(t)
  let res = await app.inject({ method: 'GET', url: '/docs' })
  for (let hops = 0; hops < 3 && res.statusCode >= 300 && res.statusCode < 400; hops++) {
    res = await app.inject({ method: 'GET', url: new URL(res.headers.location as string, 'http://localhost/docs').pathname })
  }
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/html/)
  t.match(res.body, /<html/i)
})
