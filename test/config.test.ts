// The config loader (DESIGN section 5, Config): defaults, a file, the environment and flags, each
// overriding the one before; unknown keys and wrong values are NGAC_ERR_CONFIG naming them; the
// result is frozen.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { loadConfig, tokenDigest, type ConfigSources } from '../src/config.js'

/** A JSON file in a temp dir removed after the test. */
function configFile (t: Test, content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'ngac-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'ngac.json')
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content))
  return file
}

/** What loadConfig throws for `sources` (it must throw). */
function refused (sources: ConfigSources): { code?: string, message?: string, details?: unknown } {
  try {
    loadConfig(sources)
  } catch (err) {
    return err as { code?: string, message?: string, details?: unknown }
  }
  return {}
}

/** Whether some entry of an error's `details` mentions `text`. */
function detailsMention (details: unknown, text: string): boolean {
  return Array.isArray(details) && details.some((d) => typeof d === 'string' && d.includes(text))
}

t.test('defaults: the safe ones of DESIGN sections 5 and 8', async (t) => {
  const config = loadConfig()
  t.equal(config.db, './data/ngac.db')
  t.equal(config.host, '127.0.0.1')
  t.equal(config.port, 8080)
  t.equal(config.logLevel, 'info')
  t.equal(config.grpc.port, 9191)
  t.equal(config.publicUrl, undefined)
  t.equal(config.workers, undefined)
  t.same(config.extAuthz, {
    identity: [{ type: 'xfcc' }, { type: 'principal' }],
    rights: { GET: 'read', HEAD: 'read', POST: 'write', PUT: 'write', PATCH: 'write', DELETE: 'delete' },
    routes: [],
    unknownObject: 'path',
    decisionLog: { sample: 1 }
  })
  t.same(config.admin, { authorization: false, tokens: [] })
  t.equal(config.admin.tokenSha256, undefined)
  t.same(config.limits, {
    bodyBytes: 1048576,
    policyBodyBytes: 268435456,
    jsonDepth: 64,
    defaultPageSize: 100,
    maxPageSize: 1000,
    batchOperations: 100000,
    checkBatch: 1000,
    propertiesCount: 256,
    propertiesBytes: 65536,
    headerBytes: 16384,
    revisionWaitMs: 5000,
    maxEventLoopDelayMs: 1000,
    maxRssBytes: 0,
    retryAfterSeconds: 2,
    requestTimeoutMs: 60000,
    keepAliveMs: 72000
  })
  t.same(config.decisionCache, { enabled: true, capacity: 65536 })
  t.same(loadConfig({ env: {}, flags: {} }), config, 'empty env and flags change nothing')
})

t.test('a file: its values, with defaults for what it leaves out', async (t) => {
  const file = configFile(t, {
    db: '/var/lib/ngac/policy.db',
    port: 9000,
    logLevel: 'warn',
    publicUrl: 'https://pdp.example.com',
    grpc: { port: 0 },
    extAuthz: { identity: [{ type: 'header', header: 'x-user' }], routes: [{ path: '/orders/:id', object: 'order:{id}' }] },
    admin: { tokens: [{ token: 'a-long-enough-token-1', user: 'alice' }] },
    limits: { bodyBytes: 4096 },
    decisionCache: { capacity: 1024 }
  })
  const config = loadConfig({ file })
  t.equal(config.db, '/var/lib/ngac/policy.db')
  t.equal(config.host, '127.0.0.1', 'a default beside file values')
  t.equal(config.port, 9000)
  t.equal(config.logLevel, 'warn')
  t.equal(config.publicUrl, 'https://pdp.example.com')
  t.equal(config.grpc.port, 0)
  t.same(config.extAuthz.identity, [{ type: 'header', header: 'x-user' }])
  t.same(config.extAuthz.routes, [{ path: '/orders/:id', object: 'order:{id}' }])
  t.equal(config.extAuthz.unknownObject, 'path', 'a nested default beside nested file values')
  t.equal(config.extAuthz.rights.GET, 'read')
  t.same(config.admin.tokens, [{ tokenSha256: tokenDigest('a-long-enough-token-1'), user: 'alice' }], 'only the digest of a token is kept')
  t.equal(config.limits.bodyBytes, 4096)
  t.equal(config.limits.jsonDepth, 64)
  t.same(config.decisionCache, { enabled: true, capacity: 1024 })
})

t.test('a file that cannot be read, or is not a JSON object, is NGAC_ERR_CONFIG', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ngac-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const missing = refused({ file: join(dir, 'absent.json') })
  t.equal(missing.code, 'NGAC_ERR_CONFIG')
  t.match(missing.message, /absent\.json/)
  t.equal(refused({ file: configFile(t, '{"port": ') }).code, 'NGAC_ERR_CONFIG', 'not JSON')
  t.equal(refused({ file: configFile(t, '[1, 2]') }).code, 'NGAC_ERR_CONFIG', 'an array')
  t.equal(refused({ file: configFile(t, '"text"') }).code, 'NGAC_ERR_CONFIG', 'a string')
  t.equal(refused({ document: [] }).code, 'NGAC_ERR_CONFIG', 'an array document')
})

t.test('the environment overrides the file, and flags override the environment', async (t) => {
  const file = configFile(t, {
    db: 'file.db',
    host: '127.0.0.2',
    port: 1111,
    logLevel: 'error',
    workers: 2,
    grpc: { port: 2222 },
    admin: { token: 'token-from-the-file-0123', authorization: true }
  })
  const env = {
    NGAC_DB: 'env.db',
    HOST: '127.0.0.3',
    PORT: '3333',
    NGAC_ADMIN_TOKEN: 'token-from-the-env-45678',
    NGAC_LOG_LEVEL: 'debug',
    NGAC_PUBLIC_URL: 'http://env.example'
  }

  const fromEnv = loadConfig({ file, env })
  t.equal(fromEnv.db, 'env.db')
  t.equal(fromEnv.host, '127.0.0.3')
  t.equal(fromEnv.port, 3333)
  t.equal(fromEnv.logLevel, 'debug')
  t.equal(fromEnv.publicUrl, 'http://env.example')
  t.equal(fromEnv.admin.tokenSha256, tokenDigest('token-from-the-env-45678'))
  t.equal(fromEnv.admin.authorization, true, 'the token from the env keeps the rest of the admin section')
  t.equal(fromEnv.workers, 2)
  t.equal(fromEnv.grpc.port, 2222)

  const fromFlags = loadConfig({ file, env, flags: { db: 'flag.db', host: '127.0.0.4', port: 4444, workers: 3, grpcPort: 0 } })
  t.equal(fromFlags.db, 'flag.db')
  t.equal(fromFlags.host, '127.0.0.4')
  t.equal(fromFlags.port, 4444)
  t.equal(fromFlags.workers, 3)
  t.equal(fromFlags.grpc.port, 0)
  t.equal(fromFlags.logLevel, 'debug', 'no flag: the env value stays')
  t.equal(fromFlags.admin.tokenSha256, tokenDigest('token-from-the-env-45678'))

  const portZero = loadConfig({ env: { PORT: '5555' }, flags: { port: 0 } })
  t.equal(portZero.port, 0, 'a flag of 0 still overrides')
})

t.test('empty environment variables are ignored, as when unset', async (t) => {
  const file = configFile(t, { db: 'file.db', port: 1111, admin: { token: 'token-from-the-file-0123' } })
  const config = loadConfig({ file, env: { NGAC_DB: '', HOST: '', PORT: '', NGAC_ADMIN_TOKEN: '', NGAC_LOG_LEVEL: '' } })
  t.equal(config.db, 'file.db')
  t.equal(config.host, '127.0.0.1')
  t.equal(config.port, 1111)
  t.equal(config.logLevel, 'info')
  t.equal(config.admin.tokenSha256, tokenDigest('token-from-the-file-0123'))
})

t.test('an unknown key at the top is NGAC_ERR_CONFIG naming it', async (t) => {
  const err = refused({ document: { port: 8080, prot: 9090 } })
  t.equal(err.code, 'NGAC_ERR_CONFIG')
  t.ok(detailsMention(err.details, "'prot'"), 'details name the key')
  t.match(err.message, /prot/)
  const fromFile = refused({ file: configFile(t, { dbPath: 'x.db' }) })
  t.equal(fromFile.code, 'NGAC_ERR_CONFIG')
  t.ok(detailsMention(fromFile.details, "'dbPath'"))
})

t.test('unknown nested keys are NGAC_ERR_CONFIG naming their path', async (t) => {
  const cases: [unknown, string][] = [
    [{ limits: { bodySize: 10 } }, 'limits.bodySize'],
    [{ grpc: { host: '0.0.0.0' } }, 'grpc.host'],
    [{ admin: { tokens: [{ token: 'a-long-enough-token-1', user: 'alice', role: 'root' }] } }, 'admin.tokens.0.role'],
    [{ extAuthz: { routes: [{ path: '/a', object: 'a' }, { path: '/b', object: 'b', method: 'GET' }] } }, 'extAuthz.routes.1.method'],
    [{ extAuthz: { identity: [{ type: 'xfcc', trusted: true }] } }, 'extAuthz.identity.0.trusted'],
    [{ decisionCache: { size: 1024 } }, 'decisionCache.size']
  ]
  for (const [document, path] of cases) {
    const err = refused({ document })
    t.equal(err.code, 'NGAC_ERR_CONFIG', path)
    t.ok(detailsMention(err.details, `'${path}'`), `details name ${path}`)
  }
})

t.test('every problem is listed, not only the first', async (t) => {
  const err = refused({ document: { colour: 'blue', port: 'x', limits: { depth: 3 } } })
  t.equal(err.code, 'NGAC_ERR_CONFIG')
  t.ok(detailsMention(err.details, "'colour'"))
  t.ok(detailsMention(err.details, 'port'))
  t.ok(detailsMention(err.details, "'limits.depth'"))
})

t.test('wrong types and values are NGAC_ERR_CONFIG, never coerced', async (t) => {
  const cases: [unknown, string][] = [
    [{ port: '8080' }, 'port'],
    [{ port: 65536 }, 'port'],
    [{ port: 80.5 }, 'port'],
    [{ db: '' }, 'db'],
    [{ host: 7 }, 'host'],
    [{ logLevel: 'loud' }, 'logLevel'],
    [{ publicUrl: 'pdp.example.com' }, 'publicUrl'],
    [{ workers: 0 }, 'workers'],
    [{ grpc: { port: -1 } }, 'grpc.port'],
    [{ grpc: 9191 }, 'grpc'],
    [{ admin: { authorization: 'true' } }, 'admin.authorization'],
    [{ admin: { token: 'short' } }, 'admin.token'],
    [{ admin: { tokens: [{ token: 'a-long-enough-token-1' }] } }, 'admin.tokens.0'],
    [{ extAuthz: { unknownObject: 'allow' } }, 'extAuthz.unknownObject'],
    [{ extAuthz: { rights: { GET: 1 } } }, 'extAuthz.rights.GET'],
    [{ extAuthz: { routes: [{ path: 'orders/:id', object: 'order:{id}' }] } }, 'extAuthz.routes.0.path'],
    [{ extAuthz: { identity: [{ type: 'cookie' }] } }, 'extAuthz.identity.0.type'],
    [{ extAuthz: { identity: [{ type: 'jwt', header: 'x-jwt-payload' }] } }, 'extAuthz.identity.0'],
    [{ extAuthz: { identity: [{ type: 'header' }] } }, 'extAuthz.identity.0'],
    [{ limits: { bodyBytes: 100 } }, 'limits.bodyBytes'],
    [{ limits: { jsonDepth: '64' } }, 'limits.jsonDepth'],
    [{ limits: { checkBatch: 0 } }, 'limits.checkBatch'],
    [{ limits: { propertiesCount: 0 } }, 'limits.propertiesCount'],
    [{ limits: { propertiesBytes: 10 } }, 'limits.propertiesBytes'],
    [{ limits: { headerBytes: 100 } }, 'limits.headerBytes'],
    [{ decisionCache: { enabled: 'yes' } }, 'decisionCache.enabled'],
    [{ decisionCache: { capacity: 0 } }, 'decisionCache.capacity'],
    [{ decisionCache: { capacity: 1.5 } }, 'decisionCache.capacity'],
    [{ decisionCache: { capacity: 16777217 } }, 'decisionCache.capacity']
  ]
  for (const [document, path] of cases) {
    const err = refused({ document })
    t.equal(err.code, 'NGAC_ERR_CONFIG', JSON.stringify(document))
    t.ok(detailsMention(err.details, path), `details name ${path}: ${JSON.stringify(err.details)}`)
  }
})

t.test('a section that is not an object stays an error when the env or flags add to it', async (t) => {
  const admin = refused({ document: { admin: 'yes' }, env: { NGAC_ADMIN_TOKEN: 'token-from-the-env-45678' } })
  t.equal(admin.code, 'NGAC_ERR_CONFIG')
  t.same(admin.details, ['admin must be object'], 'no invented keys admin.0, admin.1, ...')
  const grpc = refused({ document: { grpc: [9191] }, flags: { grpcPort: 0 } })
  t.equal(grpc.code, 'NGAC_ERR_CONFIG')
  t.same(grpc.details, ['grpc must be object'])
})

t.test('bad environment values are NGAC_ERR_CONFIG', async (t) => {
  for (const PORT of ['http', '80a', '-1', ' 80', '8080.0', '123456']) {
    const err = refused({ env: { PORT } })
    t.equal(err.code, 'NGAC_ERR_CONFIG', `PORT=${JSON.stringify(PORT)}`)
    t.match(err.message, /PORT/)
  }
  const tooHigh = refused({ env: { PORT: '99999' } })
  t.equal(tooHigh.code, 'NGAC_ERR_CONFIG', 'PORT=99999')
  t.ok(detailsMention(tooHigh.details, 'port'))
  t.equal(refused({ env: { NGAC_LOG_LEVEL: 'verbose' } }).code, 'NGAC_ERR_CONFIG')
  t.equal(refused({ env: { NGAC_ADMIN_TOKEN: 'short' } }).code, 'NGAC_ERR_CONFIG')
  t.equal(refused({ env: { NGAC_PUBLIC_URL: 'ftp://x' } }).code, 'NGAC_ERR_CONFIG')
  t.equal(refused({ flags: { port: 70000 } }).code, 'NGAC_ERR_CONFIG', 'a flag out of range')
})

t.test('the result is frozen, all the way down; the document given is left as it was', async (t) => {
  const document = { port: 9000, extAuthz: { routes: [{ path: '/orders/:id', object: 'order:{id}' }] } }
  const before = structuredClone(document)
  const config = loadConfig({ document, env: { NGAC_ADMIN_TOKEN: 'token-from-the-env-45678' } })
  t.same(document, before, 'the input document is not changed (no defaults written into it)')
  for (const value of [config, config.grpc, config.extAuthz, config.extAuthz.identity, config.extAuthz.identity[0],
    config.extAuthz.rights, config.extAuthz.routes, config.extAuthz.routes[0], config.admin, config.admin.tokens, config.limits]) {
    t.ok(Object.isFrozen(value))
  }
  t.throws(() => { (config as { port: number }).port = 1 }, TypeError)
  t.throws(() => { (config.limits as { bodyBytes: number }).bodyBytes = 1 }, TypeError)
  t.throws(() => { (config.extAuthz.routes as unknown[]).push({}) }, TypeError)
  t.equal(config.port, 9000)
})

t.test('admin tokens: digests only, no token twice, authorization needs a token', async (t) => {
  const config = loadConfig({
    document: {
      admin: {
        token: 'the-single-admin-token-0',
        authorization: true,
        tokens: [{ token: 'token-of-alice-0123456', user: 'alice' }, { token: 'token-of-root-01234567', user: 'root', super: true }]
      }
    }
  })
  t.same(config.admin, {
    tokenSha256: tokenDigest('the-single-admin-token-0'),
    authorization: true,
    tokens: [
      { tokenSha256: tokenDigest('token-of-alice-0123456'), user: 'alice' },
      { tokenSha256: tokenDigest('token-of-root-01234567'), user: 'root', super: true }
    ]
  })
  t.notMatch(JSON.stringify(config), /token-of-alice|token-of-root|the-single-admin-token/, 'no token is kept in the config')
  t.equal(tokenDigest('x').length, 64, 'a hex SHA-256 digest')
  t.equal(refused({ document: { admin: { authorization: true } } }).code, 'NGAC_ERR_CONFIG', 'authorization without tokens')
  t.equal(refused({ document: { admin: { tokens: [{ token: 'token-of-alice-0123456', user: 'alice' }, { token: 'token-of-alice-0123456', user: 'bob' }] } } }).code,
    'NGAC_ERR_CONFIG', 'one token for two users')
})
