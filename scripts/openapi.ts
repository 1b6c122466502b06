/**
 * Writes openapi.yaml at the repository root: the OpenAPI document @fastify/swagger generates from
 * the routes' schemas (`npm run openapi`). test/api/openapi.test.ts fails when the committed file
 * differs from what the routes produce, so the file and the routes cannot drift apart.
 */
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'

const HEADER = '# Generated from the routes by `npm run openapi`; do not edit by hand.\n'

/**
 * The OpenAPI document of the app as YAML, exactly as openapi.yaml holds it.
 *
 * @example
 * ```ts
 * writeFileSync('openapi.yaml', await renderOpenapi())
 * ```
 */
export async function renderOpenapi (): Promise<string> {
  const app = await buildApp(loadConfig({ document: { db: ':memory:', logLevel: 'silent' } }))
  try {
    return HEADER + app.swagger({ yaml: true })
  } finally {
    await app.close()
  }
}

/** Where openapi.yaml lives: the directory of ngac-pdp's package.json, above this file (scripts/ or dist/scripts/). */
export function openapiPath (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'ngac-pdp') {
      return join(dir, 'openapi.yaml')
    }
    const parent = dirname(dir)
    if (parent === dir) return join(process.cwd(), 'openapi.yaml')
    dir = parent
  }
}

// Run when executed (`node dist/scripts/openapi.js`), not when imported by the test.
if (process.argv[1] !== undefined && isMain(process.argv[1])) {
  const path = openapiPath()
  writeFileSync(path, await renderOpenapi())
  process.stdout.write(`wrote ${path}\n`)
}

function isMain (script: string): boolean {
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url)
  } catch {
    return false
  }
}
