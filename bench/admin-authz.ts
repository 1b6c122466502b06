/**
 * What admin authorization costs on writes: the same writes over HTTP with `admin.authorization`
 * off and on, in the same run.
 *
 * Starts two servers (`ngac serve`, NGAC_LOG_LEVEL=warn, each on its own SQLite file in a temp
 * directory), both with an admin token: "off" with `admin.authorization` false (the token's user
 * is only the changelog's actor), "on" with it true, where the writer is a non-super NGAC user
 * `bench-admin` holding `create` on the parent OA through a UA of its own, so every operation is
 * checked (one decision on the parent per createNode). Both import the same generated rbac policy
 * of BENCH_SIZE (100k) elements with the super token. Then autocannon, BENCH_DURATION (10) s per
 * figure after a 2 s warm-up, one connection, alternating off and on: POST /v1/nodes (one
 * createNode per request, unique names) and POST /v1/batch of 1000 createNode operations
 * (operations/s). The batch's first operation is a cached decision, the others uncached walks
 * (the cache trusts the revision, which moves when the batch commits).
 * Last, in this process and without HTTP (an in-memory SQLite store, so no fsync), the same
 * 1000-operation batch applied BENCH_BATCHES (30) times with and without the checks, alternating:
 * the median ms per batch isolates the cost of the checks from the disk and the network.
 *
 * Usage (after `npm run build`):
 *   BENCH_SIZE=100k BENCH_DURATION=3 node dist/bench/admin-authz.js
 *
 * Figures are printed, never asserted: this is a benchmark, not a test.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { exportPolicy, type Operation } from '../src/graph/index.js'
import { openPolicy } from '../src/policy.js'
import { generate, parseSize } from './generate.js'
import { autocannon, log, quantile, startNgac, stop, type AutocannonRequest, type NgacProcess } from './servers.js'
import { envInt, table } from './table.js'

const SIZE = process.env.BENCH_SIZE ?? '100k'
const SEED = envInt('BENCH_SEED', 1)
const DURATION = envInt('BENCH_DURATION', 10)
const WARMUP = 2
const BATCH_OPS = 1000
/** An OA and the PC of every generated rbac graph. */
const PARENT = 'folder0.0'
const PC = 'RBAC'
const SUPER = 'bench-super-token-0123456789'
const WRITER = 'bench-writer-token-0123456789'
const BATCHES = envInt('BENCH_BATCHES', 30)

interface Row { name: string, mode: string, rps: number, opsPerSec: number, p50: number, p99: number, errors: number }

async function send (base: string, method: string, path: string, body: unknown, token: string): Promise<void> {
  const res = await fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) })
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${await res.text()}`)
}

async function load (name: string, mode: string, server: NgacProcess, request: AutocannonRequest, opsPerRequest: number): Promise<Row> {
  await autocannon({ url: server.base, connections: 1, duration: WARMUP, requests: [request] })
  const r = await autocannon({ url: server.base, connections: 1, duration: DURATION, requests: [request] })
  const rps = r['2xx'] / r.duration
  const row = { name, mode, rps, opsPerSec: rps * opsPerRequest, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx }
  log(`  ${name} authorization ${mode}: ${rps.toFixed(1)} req/s, ${row.opsPerSec.toFixed(0)} ops/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms${row.errors > 0 ? `, ${row.errors} errors or non-2xx` : ''}`)
  return row
}

const BATCHES_OPS_LABEL = String(BATCH_OPS)

/** The same batch with and without the checks, alternating, on an in-memory store. */
function measureInProcess (): { mode: string, median: number, p90: number }[] {
  const gen = generate('rbac', parseSize(SIZE), SEED)
  const policy = openPolicy({ db: ':memory:', policy: exportPolicy(gen.graph) })
  try {
    policy.governAdministration()
    policy.apply([
      { op: 'createNode', name: 'bench-admins', type: 'UA', parents: [PC] },
      { op: 'createNode', name: 'bench-admin', type: 'U', parents: ['bench-admins'] },
      { op: 'associate', ua: 'bench-admins', target: PARENT, rights: ['create'] }
    ], { actor: 'root' })
    const times: Record<string, number[]> = { off: [], on: [] }
    for (let b = 0; b < BATCHES * 2; b++) {
      const mode = b % 2 === 0 ? 'off' : 'on'
      const operations: Operation[] = []
      for (let i = 0; i < BATCH_OPS; i++) operations.push({ op: 'createNode', name: `inproc-${b}.${i}`, type: 'O', parents: [PARENT] })
      const t = process.hrtime.bigint()
      policy.apply(operations, mode === 'on' ? { actor: 'bench-admin', authorize: true } : { actor: 'bench-admin' })
      times[mode].push(Number(process.hrtime.bigint() - t) / 1e6)
    }
    return ['off', 'on'].map((mode) => {
      const sorted = times[mode].sort((a, b) => a - b)
      return { mode, median: quantile(sorted, 0.5), p90: quantile(sorted, 0.9) }
    })
  } finally {
    policy.close()
  }
}

async function main (): Promise<void> {
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'ngac-authz-bench-'))
  const servers: Record<string, NgacProcess> = {}
  const rows: Row[] = []
  const cpu = cpus()[0]?.model ?? 'unknown'
  process.stdout.write(`node ${process.version}, ${cpus().length} cpus (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ` +
    `rbac-${SIZE}, seed ${SEED}, ${DURATION} s per figure after ${WARMUP} s warm-up, 1 connection\n\n`)
  try {
    const gen = generate('rbac', parseSize(SIZE), SEED)
    const policy = JSON.stringify(exportPolicy(gen.graph))
    for (const mode of ['off', 'on']) {
      const config = join(dir, `${mode}.json`)
      writeFileSync(config, JSON.stringify({
        admin: {
          authorization: mode === 'on',
          tokens: [{ token: SUPER, user: 'root', super: true }, { token: WRITER, user: 'bench-admin' }]
        }
      }))
      const server = await startNgac(join(dir, `${mode}.db`), { config })
      servers[mode] = server
      await send(server.base, 'PUT', '/v1/policy', JSON.parse(policy), SUPER)
      await send(server.base, 'POST', '/v1/batch', {
        operations: [
          { op: 'createNode', name: 'bench-admins', type: 'UA', parents: [PC] },
          { op: 'createNode', name: 'bench-admin', type: 'U', parents: ['bench-admins'] },
          { op: 'associate', ua: 'bench-admins', target: PARENT, rights: ['create'] }
        ]
      }, SUPER)
      log(`authorization ${mode}: rbac-${SIZE} imported`)
    }
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${WRITER}` }
    let n = 0
    const nodeRequest: AutocannonRequest = {
      method: 'POST',
      path: '/v1/nodes',
      headers,
      setupRequest: (request) => ({ ...request, body: JSON.stringify({ name: `authz-node-${n++}`, type: 'O', parents: [PARENT] }) })
    }
    let b = 0
    const batchRequest: AutocannonRequest = {
      method: 'POST',
      path: '/v1/batch',
      headers,
      setupRequest: (request) => {
        const batch = b++
        const operations = []
        for (let i = 0; i < BATCH_OPS; i++) operations.push({ op: 'createNode', name: `authz-batch-${batch}.${i}`, type: 'O', parents: [PARENT] })
        return { ...request, body: JSON.stringify({ operations }) }
      }
    }
    for (const mode of ['off', 'on']) rows.push(await load('POST /v1/nodes', mode, servers[mode], nodeRequest, 1))
    for (const mode of ['off', 'on']) rows.push(await load(`POST /v1/batch (${BATCH_OPS} ops)`, mode, servers[mode], batchRequest, BATCH_OPS))
  } finally {
    for (const server of Object.values(servers)) await stop(server.child)
    rmSync(dir, { recursive: true, force: true })
  }
  const inProcess = measureInProcess()
  const ratio = (row: Row): string => {
    const off = rows.find((r) => r.name === row.name && r.mode === 'off')
    return off === undefined || row.mode === 'off' ? '-' : (row.opsPerSec / off.opsPerSec).toFixed(2)
  }
  process.stdout.write('\n' + table(['request', 'authorization', 'req/s', 'ops/s', 'p50 ms', 'p99 ms', 'on/off', 'errors'],
    rows.map((r) => [r.name, r.mode, r.rps.toFixed(1), r.opsPerSec.toFixed(0), String(r.p50), String(r.p99), ratio(r), String(r.errors)])) + '\n')
  process.stdout.write(`\nin process, ${BATCHES} batches of ${BATCHES_OPS_LABEL} createNode each way, :memory: store: median ms per batch\n`)
  process.stdout.write(table(['authorization', 'median ms', 'p90 ms', 'ops/s'], inProcess.map((r) => [r.mode, r.median.toFixed(1), r.p90.toFixed(1), (BATCH_OPS / r.median * 1000).toFixed(0)])) + '\n')
  const json = process.env.BENCH_JSON
  if (json !== undefined && json !== '') writeFileSync(json, JSON.stringify({ node: process.version, cpu, size: SIZE, duration: DURATION, rows, inProcess }, null, 2))
}

await main()
