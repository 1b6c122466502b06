/**
 * Envoy ext_authz under load: the HTTP route and gRPC Check of a real `ngac serve`, each next to
 * its ceiling measured in the same run (bench/ceiling.ts: bare fastify answering 200 under
 * /ext_authz, bare grpc-js answering OK), and POST /v1/check next to bare fastify's POST /.
 *
 * 1. generates an rbac policy of BENCH_SIZE (100k) elements and imports it with PUT /v1/policy;
 *    the server's config maps `GET /o/:id` to the object `{id}` and takes the user from the
 *    trusted header `x-user` (HTTP) or the peer principal (gRPC);
 * 2. for concurrency 1, 16 and 64, BENCH_DURATION (10) seconds per figure after a 2 s warm-up:
 *    - HTTP: autocannon GETs /ext_authz/o/TARGET with x-user USER, cycling through 1000 of the
 *      generator's sample pairs (about half allowed), against ngac and the ceiling;
 *    - gRPC: a closed-loop client in this process (one channel, N calls in flight) sending
 *      CheckRequests with the same pairs, against ngac and the gRPC ceiling;
 *    - POST /v1/check with the same pairs, against ngac and the ceiling's POST /.
 * "ratio" is requests/s over the ceiling's at the same concurrency. The load generator shares
 * the machine's cores with the server: on 2 cores the figures are lower bounds.
 *
 * Usage (after `npm run build`):
 *   node dist/bench/ext-authz.js
 *   BENCH_SIZE=10k BENCH_DURATION=5 BENCH_WORKERS=2 BENCH_JSON=out.json node dist/bench/ext-authz.js
 * (BENCH_WORKERS: `ngac serve --workers`, 1 by default.)
 *
 * Figures are printed, never asserted: this is a benchmark, not a test.
 */
import * as grpc from '@grpc/grpc-js'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { authorizationService } from '../src/ext-authz/grpc-server.js'
import { exportPolicy } from '../src/graph/index.js'
import { generate, parseSize } from './generate.js'
import { autocannon, log, quantile, startCeiling, startNgac, stop, type AutocannonRequest } from './servers.js'
import { envInt, table } from './table.js'

const SIZE = process.env.BENCH_SIZE ?? '100k'
const SEED = envInt('BENCH_SEED', 1)
const DURATION = envInt('BENCH_DURATION', 10)
const WARMUP = 2
const CONCURRENCY = [1, 16, 64]
const PAIRS = 1000
const WORKERS = envInt('BENCH_WORKERS', 1)

const CONFIG = {
  extAuthz: {
    identity: [{ type: 'principal' }, { type: 'header', header: 'x-user' }],
    routes: [{ path: '/o/:id', object: '{id}' }]
  }
}

interface Row { name: string, connections: number, rps: number, p50: number, p99: number, allowed: number, errors: number, ratio: number | undefined }

/** autocannon against `url`; `decides` when a 403 is an answer (ext_authz), not an error. */
async function http (name: string, url: string, connections: number, request: AutocannonRequest, decides = true): Promise<Row> {
  await autocannon({ url, connections, duration: WARMUP, requests: [request] })
  const r = await autocannon({ url, connections, duration: DURATION, requests: [request] })
  const answered = decides ? r['2xx'] + r['4xx'] : r['2xx']
  const row = { name, connections, rps: answered / r.duration, p50: r.latency.p50, p99: r.latency.p99, allowed: decides ? r['2xx'] / Math.max(1, answered) : NaN, errors: r.errors + r.timeouts + r.non2xx - (decides ? r['4xx'] : 0), ratio: undefined }
  log(`  ${name} c=${connections}: ${row.rps.toFixed(0)} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms${decides ? `, ${(row.allowed * 100).toFixed(0)}% allowed` : ''}${row.errors > 0 ? `, ${row.errors} errors` : ''}`)
  return row
}

type CheckFn = (request: unknown, callback: (err: grpc.ServiceError | null, response?: { status?: { code?: number } }) => void) => void

/** N calls in flight on one channel for `seconds`; latency per call in ms. */
async function rpc (name: string, check: CheckFn, connections: number, requests: readonly unknown[]): Promise<Row> {
  const run = async (seconds: number): Promise<{ latencies: number[], allowed: number, errors: number, elapsed: number }> => {
    const latencies: number[] = []
    let allowed = 0
    let errors = 0
    let k = 0
    const start = process.hrtime.bigint()
    const end = start + BigInt(seconds * 1e9)
    const loop = async (): Promise<void> => {
      while (process.hrtime.bigint() < end) {
        const t = process.hrtime.bigint()
        await new Promise<void>((resolve) => {
          check(requests[k++ % requests.length], (err, response) => {
            if (err !== null) errors++
            else if (response?.status?.code === 0 || response?.status?.code === undefined) allowed++
            latencies.push(Number(process.hrtime.bigint() - t) / 1e6)
            resolve()
          })
        })
      }
    }
    await Promise.all(Array.from({ length: connections }, loop))
    return { latencies, allowed, errors, elapsed: Number(process.hrtime.bigint() - start) / 1e9 }
  }
  await run(WARMUP)
  const r = await run(DURATION)
  r.latencies.sort((a, b) => a - b)
  const row = { name, connections, rps: r.latencies.length / r.elapsed, p50: quantile(r.latencies, 0.5), p99: quantile(r.latencies, 0.99), allowed: r.allowed / Math.max(1, r.latencies.length), errors: r.errors, ratio: undefined }
  log(`  ${name} c=${connections}: ${row.rps.toFixed(0)} calls/s, p50 ${row.p50.toFixed(2)} ms, p99 ${row.p99.toFixed(2)} ms, ${(row.allowed * 100).toFixed(0)}% allowed${row.errors > 0 ? `, ${row.errors} errors` : ''}`)
  return row
}

async function main (): Promise<void> {
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'ngac-ext-authz-bench-'))
  const configFile = join(dir, 'ngac.json')
  writeFileSync(configFile, JSON.stringify(CONFIG))
  const ngac = await startNgac(join(dir, 'policy.db'), { grpc: true, config: configFile, workers: WORKERS })
  const httpCeiling = await startCeiling('http')
  const grpcCeiling = await startCeiling('grpc')
  const cpu = cpus()[0]?.model ?? 'unknown'
  process.stdout.write(`node ${process.version}, ${cpus().length} cpus (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ` +
    `rbac-${SIZE}, seed ${SEED}, ngac with ${WORKERS} worker${WORKERS === 1 ? '' : 's'}, ${DURATION} s per figure after ${WARMUP} s warm-up\n\n`)
  const Client = grpc.makeGenericClientConstructor(await authorizationService(), 'Authorization')
  const clients: grpc.Client[] = []
  const checkOn = (port: number): CheckFn => {
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Check: CheckFn }
    clients.push(client)
    return client.Check.bind(client)
  }
  const rows: Row[] = []
  try {
    const gen = generate('rbac', parseSize(SIZE), SEED)
    const res = await fetch(`${ngac.base}/v1/policy`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(exportPolicy(gen.graph)) })
    if (!res.ok) throw new Error(`PUT /v1/policy answered ${res.status}: ${await res.text()}`)
    const pairs = Array.from({ length: PAIRS }, (_, i) => ({ user: gen.users[i % gen.users.length], target: gen.targets[i % gen.targets.length] }))
    const checkBodies = pairs.map((p) => JSON.stringify({ user: p.user, right: 'read', target: p.target }))
    const grpcRequests = pairs.map((p) => ({ attributes: { source: { principal: p.user }, request: { http: { method: 'GET', path: `/o/${encodeURIComponent(p.target)}`, headers: { host: 'shop.example.com' } } } } }))
    let k = 0
    const extAuthzRequest: AutocannonRequest = {
      method: 'GET',
      setupRequest: (request) => {
        const p = pairs[k++ % pairs.length]
        return { ...request, path: `/ext_authz/o/${encodeURIComponent(p.target)}`, headers: { 'x-user': p.user } }
      }
    }
    let c = 0
    const checkRequest = (path: string): AutocannonRequest => ({
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json' },
      setupRequest: (request) => ({ ...request, body: checkBodies[c++ % checkBodies.length] })
    })
    const ngacCheck = checkOn(ngac.grpcPort)
    const ceilingCheck = checkOn(grpcCeiling.port)
    const httpCeilingUrl = `http://127.0.0.1:${httpCeiling.port}`
    const pair = (top: Row, row: Row): void => {
      row.ratio = row.rps / top.rps
      rows.push(top, row)
    }
    for (const n of CONCURRENCY) {
      pair(await http('ceiling GET /ext_authz/*', httpCeilingUrl, n, extAuthzRequest), await http('HTTP ext_authz', ngac.base, n, extAuthzRequest))
      pair(await rpc('ceiling gRPC Check', ceilingCheck, n, grpcRequests), await rpc('gRPC Check', ngacCheck, n, grpcRequests))
      pair(await http('ceiling POST /', httpCeilingUrl, n, checkRequest('/'), false), await http('POST /v1/check', ngac.base, n, checkRequest('/v1/check'), false))
    }
  } finally {
    for (const client of clients) client.close()
    await stop(ngac.child)
    await stop(httpCeiling.child)
    await stop(grpcCeiling.child)
    rmSync(dir, { recursive: true, force: true })
  }
  const out = [
    `requests/s and latency; ratio = requests/s over the ceiling's at the same concurrency (${DURATION} s each)`,
    table(['request', 'concurrency', 'req/s', 'p50 ms', 'p99 ms', 'allowed', 'ratio', 'errors'],
      rows.map((r) => [r.name, String(r.connections), r.rps.toFixed(0), r.p50.toFixed(2), r.p99.toFixed(2), Number.isNaN(r.allowed) ? '-' : `${(r.allowed * 100).toFixed(0)}%`,
        r.ratio === undefined ? '-' : r.ratio.toFixed(2), String(r.errors)]))
  ]
  process.stdout.write(out.join('\n') + '\n')
  const json = process.env.BENCH_JSON
  if (json !== undefined && json !== '') writeFileSync(json, JSON.stringify({ node: process.version, cpu, size: SIZE, duration: DURATION, rows }, null, 2))
}

await main()
