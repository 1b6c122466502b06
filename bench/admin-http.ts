/**
 * The HTTP API under load, against a bare fastify route as the ceiling.
 *
 * Starts two child processes: the real server (`node dist/src/cli.js serve --host 127.0.0.1
 * --port P --grpc-port 0 --db FILE`, NGAC_LOG_LEVEL=warn so no per-request log lines; P is a
 * free port found just before) and bench/ceiling.ts's bare fastify app (logger off) answering
 * `{ok:true}` on GET / and POST /.
 * Then, from this process:
 * 1. imports a generated rbac policy of BENCH_SIZE (1m) elements with PUT /v1/policy (timed);
 * 2. pages through GET /v1/nodes?limit=100 with `nextCursor` to the end (about 4200 pages at 1m),
 *    a sequential fetch client: median and p99 per page; the same client on the ceiling's GET /
 *    for BENCH_CEILING_GETS (2000) requests;
 * 3. autocannon, BENCH_DURATION (10) seconds per figure after a 2 s warm-up at each endpoint:
 *    POST /v1/check at concurrency 1, 16 and 64 (bodies cycling through 1000 of the generator's
 *    sample pairs) and the ceiling's POST / with a check body at the same concurrencies;
 *    POST /v1/nodes (one createNode per request, unique names from setupRequest) at 1 and 16;
 *    POST /v1/batch with 1000 createNode operations per request at 1 and 16 (operations/s).
 * Writes go to the 1m policy imported in step 1, so they commit on a database of that size.
 * "ratio" is requests/s over the ceiling's requests/s at the same concurrency.
 *
 * Usage (after `npm run build`):
 *   node dist/bench/admin-http.js
 *   BENCH_SIZE=100k BENCH_DURATION=5 BENCH_JSON=out.json node dist/bench/admin-http.js
 *
 * Figures are printed, never asserted: this is a benchmark, not a test.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { exportPolicy } from '../src/graph/index.js'
import { generate, parseSize } from './generate.js'
import { autocannon, log, quantile, startCeiling, startNgac, stop, type AutocannonRequest } from './servers.js'
import { envInt, fmt, table } from './table.js'

// ---------------------------------------------------------------- settings

const SIZE = process.env.BENCH_SIZE ?? '1m'
const SEED = envInt('BENCH_SEED', 1)
const DURATION = envInt('BENCH_DURATION', 10)
const WARMUP = 2
const PAGE = 100
const CEILING_GETS = envInt('BENCH_CEILING_GETS', 2000)
const BATCH_OPS = 1000
/** An OA of every generated rbac graph: the parent of the nodes the writes create. */
const PARENT = 'folder0.0'
const JSON_HEADERS = { 'content-type': 'application/json' }

// ---------------------------------------------------------------- measurements

interface LoadRow { name: string, connections: number, rps: number, opsPerSec: number, p50: number, p99: number, errors: number, ratio: number | undefined }
interface PagingRow { name: string, requests: number, median: number, p99: number, mean: number }

async function load (name: string, base: string, connections: number, request: AutocannonRequest, opsPerRequest = 1): Promise<LoadRow> {
  await autocannon({ url: base, connections, duration: WARMUP, requests: [request] })
  const r = await autocannon({ url: base, connections, duration: DURATION, requests: [request] })
  const rps = r['2xx'] / r.duration
  const row: LoadRow = { name, connections, rps, opsPerSec: rps * opsPerRequest, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx, ratio: undefined }
  log(`  ${name} c=${connections}: ${rps.toFixed(0)} req/s${opsPerRequest > 1 ? ` (${row.opsPerSec.toFixed(0)} ops/s)` : ''}, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms${row.errors > 0 ? `, ${row.errors} errors or non-2xx` : ''}`)
  return row
}

/** Sequential GETs following `next`, each timed alone (fetch, one keep-alive connection). */
async function sequential (name: string, first: string, next: (body: unknown) => string | undefined, max: number): Promise<PagingRow> {
  const times: number[] = []
  let url: string | undefined = first
  while (url !== undefined && times.length < max) {
    const t = process.hrtime.bigint()
    const res = await fetch(url)
    const body = await res.json() as unknown
    times.push(Number(process.hrtime.bigint() - t) / 1e6)
    if (!res.ok) throw new Error(`GET ${url} answered ${res.status}: ${JSON.stringify(body)}`)
    url = next(body)
  }
  const mean = times.reduce((a, b) => a + b, 0) / times.length
  times.sort((a, b) => a - b)
  const row = { name, requests: times.length, median: quantile(times, 0.5), p99: quantile(times, 0.99), mean }
  log(`  ${name}: ${row.requests} requests, median ${fmt(row.median)} ms, p99 ${fmt(row.p99)} ms`)
  return row
}

// ---------------------------------------------------------------- main

async function main (): Promise<void> {
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'ngac-http-bench-'))
  const ngac = await startNgac(join(dir, 'policy.db'))
  const ceilingProcess = await startCeiling('http')
  const ceiling = { child: ceilingProcess.child, base: `http://127.0.0.1:${ceilingProcess.port}` }
  const cpu = cpus()[0]?.model ?? 'unknown'
  process.stdout.write(`node ${process.version}, ${cpus().length} cpus (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ` +
    `rbac-${SIZE}, seed ${SEED}, ${DURATION} s per figure after ${WARMUP} s warm-up\n\n`)
  const loads: LoadRow[] = []
  const paging: PagingRow[] = []
  let importS: number
  let elements: number
  try {
    // 1. the policy
    const checks: string[] = []
    {
      const gen = generate('rbac', parseSize(SIZE), SEED)
      const s = gen.graph.stats
      elements = s.nodes + s.assignments + s.associations
      for (let i = 0; i < 1000; i++) {
        const j = i % gen.users.length
        checks.push(JSON.stringify({ user: gen.users[j], right: gen.rights[i % gen.rights.length], target: gen.targets[j] }))
      }
      const body = JSON.stringify(exportPolicy(gen.graph))
      const t = process.hrtime.bigint()
      const res = await fetch(`${ngac.base}/v1/policy`, { method: 'PUT', headers: JSON_HEADERS, body })
      importS = Number(process.hrtime.bigint() - t) / 1e9
      if (!res.ok) throw new Error(`PUT /v1/policy answered ${res.status}: ${await res.text()}`)
      log(`rbac-${SIZE}: ${elements} elements, ${(body.length / 2 ** 20).toFixed(0)} MB of JSON, imported with PUT /v1/policy in ${importS.toFixed(1)} s`)
    }

    // 2. paging, sequential
    paging.push(await sequential(`GET /v1/nodes?limit=${PAGE}`, `${ngac.base}/v1/nodes?limit=${PAGE}`, (body) => {
      const cursor = (body as { nextCursor?: string }).nextCursor
      return cursor === undefined ? undefined : `${ngac.base}/v1/nodes?limit=${PAGE}&cursor=${encodeURIComponent(cursor)}`
    }, Infinity))
    paging.push(await sequential('ceiling GET /', `${ceiling.base}/`, () => `${ceiling.base}/`, CEILING_GETS))

    // 3. decisions against the ceiling
    let k = 0
    const checkRequest = (path: string): AutocannonRequest => ({
      method: 'POST',
      path,
      headers: JSON_HEADERS,
      setupRequest: (request) => ({ ...request, body: checks[k++ % checks.length] })
    })
    for (const c of [1, 16, 64]) {
      const top = await load('ceiling POST /', ceiling.base, c, checkRequest('/'))
      const row = await load('POST /v1/check', ngac.base, c, checkRequest('/v1/check'))
      row.ratio = row.rps / top.rps
      loads.push(top, row)
    }

    // 4. writes
    let n = 0
    const nodeRequest: AutocannonRequest = {
      method: 'POST',
      path: '/v1/nodes',
      headers: JSON_HEADERS,
      setupRequest: (request) => ({ ...request, body: JSON.stringify({ name: `http-node-${n++}`, type: 'O', parents: [PARENT] }) })
    }
    let b = 0
    const batchRequest: AutocannonRequest = {
      method: 'POST',
      path: '/v1/batch',
      headers: JSON_HEADERS,
      setupRequest: (request) => {
        const batch = b++
        const operations = []
        for (let i = 0; i < BATCH_OPS; i++) operations.push({ op: 'createNode', name: `http-batch-${batch}.${i}`, type: 'O', parents: [PARENT] })
        return { ...request, body: JSON.stringify({ operations }) }
      }
    }
    for (const c of [1, 16]) {
      const top = loads.find((r) => r.name === 'ceiling POST /' && r.connections === c)
      const row = await load('POST /v1/nodes', ngac.base, c, nodeRequest)
      row.ratio = top === undefined ? undefined : row.rps / top.rps
      loads.push(row)
    }
    for (const c of [1, 16]) loads.push(await load(`POST /v1/batch (${BATCH_OPS} ops)`, ngac.base, c, batchRequest, BATCH_OPS))
  } finally {
    await stop(ngac.child)
    await stop(ceiling.child)
    rmSync(dir, { recursive: true, force: true })
  }

  const out: string[] = []
  out.push(`rbac-${SIZE}: ${elements} elements, PUT /v1/policy ${importS.toFixed(1)} s`)
  out.push('')
  out.push('sequential GETs, ms per request (one client)')
  out.push(table(['request', 'requests', 'median ms', 'p99 ms', 'mean ms'],
    paging.map((p) => [p.name, String(p.requests), fmt(p.median), fmt(p.p99), fmt(p.mean)])))
  out.push('')
  out.push(`autocannon, ${DURATION} s each; ratio = req/s over the ceiling's at the same concurrency`)
  out.push(table(['request', 'connections', 'req/s', 'ops/s', 'p50 ms', 'p99 ms', 'ratio', 'errors'],
    loads.map((r) => [r.name, String(r.connections), r.rps.toFixed(0), r.opsPerSec.toFixed(0), String(r.p50), String(r.p99),
      r.ratio === undefined ? '-' : r.ratio.toFixed(2), String(r.errors)])))
  process.stdout.write(out.join('\n') + '\n')
  const json = process.env.BENCH_JSON
  if (json !== undefined && json !== '') writeFileSync(json, JSON.stringify({ node: process.version, cpu, size: SIZE, elements, importS, duration: DURATION, paging, loads }, null, 2))
}

await main()
