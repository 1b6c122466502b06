/**
 * How soon a write on one worker shows on another: `ngac serve --workers 2` over an rbac
 * policy of BENCH_SIZE (100k) elements, two keep-alive connections (the primary hands new
 * connections to the workers in turn, so each connection is served by its own worker).
 * BENCH_ROUNDS (200) times, alternating the writer: POST /v1/nodes creates an object on one
 * connection; the other connection then checks read on it, without atLeastRevision, until the
 * check allows it. The time from the write's answer to the first allow is the delay to
 * visibility (the follow interval is 10 ms). Also the same with `atLeastRevision` (one request
 * that waits on the server), and the write itself.
 *
 * Usage (after `npm run build`):
 *   node dist/bench/workers.js
 *   BENCH_SIZE=10k BENCH_ROUNDS=100 node dist/bench/workers.js
 *
 * Figures are printed, never asserted: this is a benchmark, not a test.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from 'undici'
import { exportPolicy } from '../src/graph/index.js'
import { generate, parseSize } from './generate.js'
import { log, quantile, startNgac, stop } from './servers.js'
import { envInt, fmt, table } from './table.js'

const SIZE = process.env.BENCH_SIZE ?? '100k'
const ROUNDS = envInt('BENCH_ROUNDS', 200)
const JSON_HEADERS = { 'content-type': 'application/json' }

async function post (client: Client, path: string, body: unknown): Promise<{ status: number, body: Record<string, unknown> }> {
  const res = await client.request({ method: 'POST', path, headers: JSON_HEADERS, body: JSON.stringify(body) })
  return { status: res.statusCode, body: await res.body.json() as Record<string, unknown> }
}

function ms (from: bigint): number {
  return Number(process.hrtime.bigint() - from) / 1e6
}

async function main (): Promise<void> {
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'ngac-workers-bench-'))
  const ngac = await startNgac(join(dir, 'policy.db'), { workers: 2 })
  const clients = [new Client(ngac.base, { pipelining: 1 }), new Client(ngac.base, { pipelining: 1 })]
  const rows: string[][] = []
  try {
    const gen = generate('rbac', parseSize(SIZE), 1)
    const res = await fetch(`${ngac.base}/v1/policy`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify(exportPolicy(gen.graph)) })
    if (!res.ok) throw new Error(`PUT /v1/policy answered ${res.status}`)
    // A user and a folder it reads: every object created in the folder is readable by the user.
    const grant = gen.graph.associationInfo(gen.graph.associationsFrom(gen.graph.idOf(gen.graph.parentsOf(gen.users[0])[0]))[0])
    const folder = grant.target
    const right = grant.rights.find((r) => r !== '*') ?? 'read'
    const user = gen.users[0]
    // Both connections open, so that the primary gives them different workers.
    for (const client of clients) await post(client, '/v1/check', { user, right, target: folder })
    const write: number[] = []
    const visible: number[] = []
    const waited: number[] = []
    let polls = 0
    for (let i = 0; i < ROUNDS; i++) {
      const writer = clients[i % 2]
      const reader = clients[(i + 1) % 2]
      const name = `visible-${i}`
      let t = process.hrtime.bigint()
      const created = await post(writer, '/v1/nodes', { name, type: 'O', parents: [folder] })
      if (created.status !== 201) throw new Error(`POST /v1/nodes answered ${created.status}: ${JSON.stringify(created.body)}`)
      write.push(ms(t))
      t = process.hrtime.bigint()
      for (;;) {
        polls++
        const check = await post(reader, '/v1/check', { user, right, target: name })
        if (check.body.allowed === true) break
      }
      visible.push(ms(t))
      const second = `waited-${i}`
      const { body } = await post(writer, '/v1/nodes', { name: second, type: 'O', parents: [folder] })
      t = process.hrtime.bigint()
      const check = await post(reader, '/v1/check', { user, right, target: second, atLeastRevision: body.revision })
      if (check.body.allowed !== true) throw new Error(`not allowed at revision ${String(body.revision)}: ${JSON.stringify(check.body)}`)
      waited.push(ms(t))
    }
    for (const [name, values] of [['write (POST /v1/nodes)', write], ['visible on the other worker (polling)', visible], ['check with atLeastRevision on the other worker', waited]] as const) {
      const sorted = [...values].sort((a, b) => a - b)
      rows.push([name, fmt(quantile(sorted, 0.5)), fmt(quantile(sorted, 0.99)), fmt(sorted[sorted.length - 1])])
    }
    log(`${polls} polling checks for ${ROUNDS} writes`)
  } finally {
    for (const client of clients) await client.close()
    await stop(ngac.child)
    rmSync(dir, { recursive: true, force: true })
  }
  process.stdout.write(`node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? 'unknown'}); rbac-${SIZE}, --workers 2, ${ROUNDS} writes\n\n`)
  process.stdout.write(table(['ms', 'median', 'p99', 'max'], rows) + '\n')
}

await main()
