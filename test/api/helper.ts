// Builds the app for a test with inject (no port) and closes it when the test ends
// (fastify/demo: test/helper.ts).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { buildApp, type App, type AppDeps } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'

/**
 * The app on an in-memory policy, silent, with `overrides` merged into the config document
 * (e.g. `{ limits: { bodyBytes: 2048 } }`); closed by the test's teardown.
 */
export async function build (t: Test, overrides: Record<string, unknown> = {}, deps: AppDeps = {}): Promise<App> {
  const app = await buildApp(loadConfig({ document: { db: ':memory:', logLevel: 'silent', ...overrides } }), deps)
  t.teardown(() => app.close())
  return app
}

/** The keys an error body may have: `{code, message, details?}`. */
export const ERROR_BODY_KEYS: readonly string[] = ['code', 'message', 'details']

/** A small policy: alice (staff) may read and write docs' report; bob is a user with no rights. */
export const SAMPLE_POLICY = {
  resourceRights: ['read', 'write'],
  nodes: [
    { name: 'RBAC', type: 'PC' },
    { name: 'staff', type: 'UA' },
    { name: 'guests', type: 'UA' },
    { name: 'alice', type: 'U' },
    { name: 'bob', type: 'U' },
    { name: 'docs', type: 'OA' },
    { name: 'report', type: 'O' }
  ],
  assignments: [['staff', 'RBAC'], ['guests', 'RBAC'], ['alice', 'staff'], ['bob', 'guests'], ['docs', 'RBAC'], ['report', 'docs']],
  associations: [{ ua: 'staff', target: 'docs', rights: ['read', 'write'] }],
  prohibitions: []
} as const

/** A fresh temporary directory (for real SQLite files), removed when the test ends. */
export function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ngac-api-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
