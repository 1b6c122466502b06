/**
 * The durable store on generated rbac policies (bench/generate.ts): import, file size, cold start
 * and commit latency, through the library's public path (`openPolicy({ db })`).
 *
 * For each size (100k and 1m elements by default), in fresh child processes:
 * - import: `openPolicy({ db: file }).replace(exportPolicy(graph))` into a new file, timed around
 *   `replace` (validation, one transaction, the swap); then the file size after close;
 * - cold start: `openPolicy({ db: file })` on the existing file in a fresh process, BENCH_LOADS
 *   times (3): the time from process start (`performance.timeOrigin`, so Node's boot and module
 *   loading count) to a ready policy (`policy.ready()` passed), the `openPolicy` call alone, and
 *   heapUsed (after a full GC) and RSS once ready;
 * - single-change commits: BENCH_COMMITS (2000) calls of `policy.apply([createNode])`, each its own
 *   transaction with synchronous=FULL in WAL mode on the file system of os.tmpdir() (or
 *   BENCH_DIR), after 20 unrecorded ones: median and p99 of single commits;
 * - batches: BENCH_BATCHES (10) calls of `policy.apply` with 1000 createNode operations each:
 *   median ms per batch and operations per second at that median.
 *
 * Usage (after `npm run build`):
 *   node dist/bench/store-load.js [sizes]          sizes: e.g. 100k,1m (the default)
 *   BENCH_JSON=out.json node dist/bench/store-load.js
 *
 * Figures are printed, never asserted: this is a benchmark, not a test.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import vm from 'node:vm'
import { exportPolicy, type Operation } from '../src/graph/index.js'
import { openPolicy } from '../src/policy.js'
import { elementCount, generate, parseSize } from './generate.js'
import { envInt, fmt, table } from './table.js'

// ---------------------------------------------------------------- settings


const SEED = envInt('BENCH_SEED', 1)
const LOADS = envInt('BENCH_LOADS', 3)
const COMMITS = envInt('BENCH_COMMITS', 2000)
const BATCHES = envInt('BENCH_BATCHES', 10)
const BATCH_OPS = 1000
const WARMUP_COMMITS = 20
/** An OA of every generated rbac graph: the parent of the nodes the commits create. */
const PARENT = 'folder0.0'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

function quantile (sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

function median (values: readonly number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5)
}

function ms (from: bigint): number {
  return Number(process.hrtime.bigint() - from) / 1e6
}

function log (line: string): void {
  process.stderr.write(`${line}\n`)
}

// ---------------------------------------------------------------- child steps

interface ImportResult { elements: number, buildMs: number, exportMs: number, importMs: number, fileMB: number }
interface LoadResult { readyMs: number, openMs: number, heapMB: number, rssMB: number }
interface CommitResult { median: number, p99: number, mean: number, batchMedian: number, batchP99: number }

function importStep (file: string, elements: number): ImportResult {
  let t = process.hrtime.bigint()
  const { graph } = generate('rbac', elements, SEED)
  const buildMs = ms(t)
  t = process.hrtime.bigint()
  const doc = exportPolicy(graph)
  const exportMs = ms(t)
  const count = elementCount(graph)
  gc()
  const policy = openPolicy({ db: file })
  t = process.hrtime.bigint()
  policy.replace(doc)
  const importMs = ms(t)
  policy.close()
  const wal = `${file}-wal`
  const bytes = statSync(file).size + (existsSync(wal) ? statSync(wal).size : 0)
  return { elements: count, buildMs, exportMs, importMs, fileMB: bytes / 2 ** 20 }
}

function loadStep (file: string): LoadResult {
  const t = process.hrtime.bigint()
  const policy = openPolicy({ db: file })
  policy.ready()
  const openMs = ms(t)
  const readyMs = performance.now()
  gc()
  const mem = process.memoryUsage()
  policy.close()
  return { readyMs, openMs, heapMB: mem.heapUsed / 2 ** 20, rssMB: mem.rss / 2 ** 20 }
}

function commitStep (file: string): CommitResult {
  const policy = openPolicy({ db: file })
  const one = (name: string): Operation[] => [{ op: 'createNode', name, type: 'O', parents: [PARENT] }]
  for (let i = 0; i < WARMUP_COMMITS; i++) policy.apply(one(`warm${i}`))
  const times: number[] = []
  for (let i = 0; i < COMMITS; i++) {
    const ops = one(`commit${i}`)
    const t = process.hrtime.bigint()
    policy.apply(ops)
    times.push(ms(t))
  }
  const mean = times.reduce((a, b) => a + b, 0) / times.length
  times.sort((a, b) => a - b)
  const batches: number[] = []
  for (let b = 0; b < BATCHES; b++) {
    const ops: Operation[] = []
    for (let i = 0; i < BATCH_OPS; i++) ops.push({ op: 'createNode', name: `batch${b}.${i}`, type: 'O', parents: [PARENT] })
    const t = process.hrtime.bigint()
    policy.apply(ops)
    batches.push(ms(t))
  }
  policy.close()
  batches.sort((a, b) => a - b)
  return { median: quantile(times, 0.5), p99: quantile(times, 0.99), mean, batchMedian: quantile(batches, 0.5), batchP99: quantile(batches, 0.99) }
}

/** Runs one step in a fresh process; the child prints its result as JSON on stdout. */
function inChild<T> (step: string, file: string, elements: number): T {
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_STEP: step, BENCH_FILE: file, BENCH_ELEMENTS: String(elements) },
    maxBuffer: 1 << 20
  })
  if (child.status !== 0) throw new Error(`the ${step} step failed (exit ${child.status}, signal ${child.signal})`)
  return JSON.parse(child.stdout.toString('utf8')) as T
}

// ---------------------------------------------------------------- parent

interface Row {
  size: string
  import: ImportResult
  loads: LoadResult[]
  load: LoadResult
  commit: CommitResult
}

function benchSize (dir: string, text: string): Row {
  const file = join(dir, `rbac-${text}.db`)
  const elements = parseSize(text)
  const imported = inChild<ImportResult>('import', file, elements)
  log(`rbac-${text}: ${imported.elements} elements, import ${(imported.importMs / 1000).toFixed(2)} s, file ${imported.fileMB.toFixed(1)} MB`)
  const loads: LoadResult[] = []
  for (let i = 0; i < LOADS; i++) {
    const load = inChild<LoadResult>('load', file, elements)
    loads.push(load)
    log(`  cold start ${fmt(load.readyMs)} ms (openPolicy ${fmt(load.openMs)} ms), heap ${load.heapMB.toFixed(0)} MB, rss ${load.rssMB.toFixed(0)} MB`)
  }
  const load: LoadResult = {
    readyMs: median(loads.map((l) => l.readyMs)),
    openMs: median(loads.map((l) => l.openMs)),
    heapMB: median(loads.map((l) => l.heapMB)),
    rssMB: median(loads.map((l) => l.rssMB))
  }
  const commit = inChild<CommitResult>('commit', file, elements)
  log(`  commit median ${fmt(commit.median)} ms p99 ${fmt(commit.p99)} ms; batch of ${BATCH_OPS} median ${fmt(commit.batchMedian)} ms`)
  rmSync(file, { force: true })
  rmSync(`${file}-wal`, { force: true })
  rmSync(`${file}-shm`, { force: true })
  return { size: text, import: imported, loads, load, commit }
}

function printRows (rows: readonly Row[]): void {
  const out: string[] = []
  out.push('import and cold start (cold start: median of ' + LOADS + ' fresh processes)')
  out.push(table(['graph', 'elements', 'import s', 'file MB', 'start->ready ms', 'openPolicy ms', 'heap MB', 'rss MB'],
    rows.map((r) => [`rbac-${r.size}`, String(r.import.elements), (r.import.importMs / 1000).toFixed(2), r.import.fileMB.toFixed(1),
      fmt(r.load.readyMs), fmt(r.load.openMs), r.load.heapMB.toFixed(0), r.load.rssMB.toFixed(0)])))
  out.push('')
  out.push(`commits: ${COMMITS} single createNode applies, ${BATCHES} batches of ${BATCH_OPS} (synchronous=FULL, WAL)`)
  out.push(table(['graph', 'commit median ms', 'commit p99 ms', 'commit mean ms', 'commits/s', 'batch median ms', 'batch ops/s'],
    rows.map((r) => [`rbac-${r.size}`, fmt(r.commit.median), fmt(r.commit.p99), fmt(r.commit.mean), (1000 / r.commit.mean).toFixed(0),
      fmt(r.commit.batchMedian), (BATCH_OPS / (r.commit.batchMedian / 1000)).toFixed(0)])))
  process.stdout.write(out.join('\n') + '\n')
}

const step = process.env.BENCH_STEP
if (step !== undefined && step !== '') {
  const file = process.env.BENCH_FILE as string
  const elements = Number(process.env.BENCH_ELEMENTS)
  const result = step === 'import' ? importStep(file, elements) : step === 'load' ? loadStep(file) : commitStep(file)
  process.stdout.write(JSON.stringify(result))
} else {
  const sizes = (process.argv[2] ?? process.env.BENCH_SIZES ?? '100k,1m').split(',').map((s) => s.trim()).filter((s) => s !== '')
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'ngac-store-bench-'))
  const cpu = cpus()[0]?.model ?? 'unknown'
  process.stdout.write(`node ${process.version}, ${cpus().length} cpus (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ` +
    `files in ${dir}; seed ${SEED}, ${LOADS} cold starts, ${COMMITS} commits, ${BATCHES} batches of ${BATCH_OPS}\n\n`)
  const rows: Row[] = []
  try {
    for (const size of sizes) rows.push(benchSize(dir, size))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  printRows(rows)
  const json = process.env.BENCH_JSON
  if (json !== undefined && json !== '') writeFileSync(json, JSON.stringify({ node: process.version, cpu, seed: SEED, commits: COMMITS, batches: BATCHES, rows }, null, 2))
}
