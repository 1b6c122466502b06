/**
 * In-process decision latency on generated graphs (bench/generate.ts).
 *
 * For each graph: its element count, build time and heap; the decision engine's build time and
 * memory (constructor and first check: evaluator scratch space and the decision cache's arrays);
 * then the latency of
 * - `DecisionEngine.check` without decision cache (`{ cache: false }`; names in, the whole
 *   public path, every check a full evaluation),
 * - the default engine's cache-miss path ("engine.check miss": a two-entry cache, so nearly every
 *   check misses, over the default evaluator with its per-user and per-target memos, which the
 *   recurring users and targets of the sequence keep warm), and the same with two-slot memos
 *   ("engine.check cold miss": nearly every user and target walked afresh),
 * - `DecisionEngine.check` with the decision cache ("engine.check cached"): the first
 *   BENCH_WORKING_SET (256) queries of the sequence, cycled to the same number of queries, so
 *   that after the warm-up pass every check is a hit (the cache's hit path); the hit ratio is
 *   printed beside it,
 * - `ProductionEvaluator.allows` with pre-resolved ids (the raw evaluator, no name lookup),
 * - `ReferenceEvaluator.privileges` with ids (graphs of at most 10k elements only: it is slow),
 *   cross-checked against the production evaluator on the same queries,
 * - `DecisionEngine.capabilities` and `.acl` for a sample of users and targets: BENCH_REVIEW_SAMPLES
 *   (50) of each on graphs of at most 200k elements, and BENCH_REVIEW_LARGE_SAMPLES (20) on larger
 *   rbac graphs (rbac-1m by default; issue 5 asks for capability-list and ACL latency at 1m).
 *
 * Queries are a fixed seeded sequence of (user, right, target[, process]) drawn from the
 * generator's sample pairs. After a warm-up pass, each round times batches of BENCH_BATCH queries
 * with process.hrtime.bigint() and divides by the batch size, so timer overhead stays small; the
 * median and p99 are over those per-batch per-check figures (a p99 of batch means, not of single
 * checks), the mean is total time / queries. Each figure printed is the median over the rounds.
 *
 * Usage (after `npm run build`):
 *   node dist/bench/check-latency.js [sizes]
 *   BENCH_SIZES=rbac:10k,multi:1m node dist/bench/check-latency.js
 * sizes: comma separated; `10k` means every kind at 10k, `rbac:100k` one graph.
 *   Default: rbac:10k,rbac:100k,rbac:1m,multi:10k,multi:1m.
 * Other settings: BENCH_QUERIES (20000), BENCH_ROUNDS (5), BENCH_BATCH (100), BENCH_SEED (1),
 *   BENCH_WORKING_SET (256),
 *   BENCH_REF_QUERIES (400), BENCH_REVIEW_SAMPLES (50), BENCH_JSON=file (also write the figures
 *   as JSON, for bench/summarize.js), BENCH_ISOLATE (1: each graph in a fresh child process, the
 *   default; 0: every graph in this process, where earlier graphs skew later figures).
 * The default Node 20 heap suffices: a 1m graph takes about 210 MB of heap, a whole run peaks
 * below 400 MB RSS (see bench/RESULTS.md).
 */
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import vm from 'node:vm'
import { maskContains, type RightsMask } from '../src/graph/index.js'
import { DecisionEngine, ProductionEvaluator, ReferenceEvaluator } from '../src/pdp/index.js'
import type { CheckRequest, Subject, Target } from '../src/pdp/index.js'
import { Random, elementCount, generate, parseSize, type Generated, type GraphKind } from './generate.js'
import { envInt, fmt, pct, table } from './table.js'

// ---------------------------------------------------------------- settings

const DEFAULT_SIZES = 'rbac:10k,rbac:100k,rbac:1m,multi:10k,multi:1m'
const KINDS: readonly GraphKind[] = ['rbac', 'multi']


const QUERIES = envInt('BENCH_QUERIES', 20_000)
const ROUNDS = envInt('BENCH_ROUNDS', 5)
const BATCH = envInt('BENCH_BATCH', 100)
const SEED = envInt('BENCH_SEED', 1)
const REF_QUERIES = envInt('BENCH_REF_QUERIES', 400)
const REF_BATCH = 10
const REF_MAX_ELEMENTS = 20_000
const REVIEW_SAMPLES = envInt('BENCH_REVIEW_SAMPLES', 50)
const REVIEW_MAX_ELEMENTS = 200_000
const REVIEW_LARGE_SAMPLES = envInt('BENCH_REVIEW_LARGE_SAMPLES', 20)
const WORKING_SET = envInt('BENCH_WORKING_SET', 256)

interface GraphSpec { kind: GraphKind, label: string, elements: number, text: string }

function parseSpecs (text: string): GraphSpec[] {
  const specs: GraphSpec[] = []
  for (const token of text.split(',').map((t) => t.trim()).filter((t) => t !== '')) {
    const [a, b] = token.includes(':') ? token.split(':') : [undefined, token]
    const kinds = a === undefined ? KINDS : [a]
    for (const kind of kinds) {
      if (kind !== 'rbac' && kind !== 'multi') throw new TypeError(`unknown graph kind '${kind}': use rbac or multi`)
      specs.push({ kind, label: `${kind}-${b.toLowerCase()}`, elements: parseSize(b), text: `${kind}:${b}` })
    }
  }
  return specs
}

// Heap figures after a full collection; --expose-gc turned on from inside, so the script needs no flag.
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

// ---------------------------------------------------------------- measurement

/** Median-of-rounds latency figures, in microseconds per call. */
interface Latency { median: number, p99: number, mean: number, allowRatio: number, queries: number, rounds: number }

function quantile (sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

function median (values: readonly number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5)
}

/**
 * Times `runBatch` over [0, count) in batches, `rounds` times after one warm-up pass over the first
 * `warmup` queries. runBatch returns how many of its queries were allowed.
 */
function timeQueries (count: number, batch: number, rounds: number, warmup: number,
  runBatch: (from: number, to: number) => number): Latency {
  for (let from = 0; from < warmup; from += batch) runBatch(from, Math.min(warmup, from + batch))
  const medians: number[] = []
  const p99s: number[] = []
  const means: number[] = []
  let allowed = 0
  for (let r = 0; r < rounds; r++) {
    const perBatch: number[] = []
    let total = 0n
    allowed = 0
    for (let from = 0; from < count; from += batch) {
      const to = Math.min(count, from + batch)
      const t0 = process.hrtime.bigint()
      allowed += runBatch(from, to)
      const elapsed = process.hrtime.bigint() - t0
      total += elapsed
      perBatch.push(Number(elapsed) / (to - from) / 1000)
    }
    perBatch.sort((a, b) => a - b)
    medians.push(quantile(perBatch, 0.5))
    p99s.push(quantile(perBatch, 0.99))
    means.push(Number(total) / count / 1000)
  }
  return { median: median(medians), p99: median(p99s), mean: median(means), allowRatio: allowed / count, queries: count, rounds }
}

/** Median-of-rounds figures of single timed calls, in milliseconds, and the mean result size. */
interface Review { median: number, p99: number, mean: number, entries: number, calls: number, rounds: number }

function timeCalls<T> (items: readonly T[], rounds: number, call: (item: T) => number): Review {
  for (const item of items.slice(0, 5)) call(item)
  const medians: number[] = []
  const p99s: number[] = []
  const means: number[] = []
  let entries = 0
  for (let r = 0; r < rounds; r++) {
    const times: number[] = []
    entries = 0
    for (const item of items) {
      const t0 = process.hrtime.bigint()
      entries += call(item)
      times.push(Number(process.hrtime.bigint() - t0) / 1e6)
    }
    means.push(times.reduce((a, b) => a + b, 0) / times.length)
    times.sort((a, b) => a - b)
    medians.push(quantile(times, 0.5))
    p99s.push(quantile(times, 0.99))
  }
  return { median: median(medians), p99: median(p99s), mean: median(means), entries: entries / items.length, calls: items.length, rounds }
}

// ---------------------------------------------------------------- queries

interface Queries {
  requests: CheckRequest[]
  subjects: Subject[]
  targets: Target[]
  required: RightsMask[]
}

/** A fixed seeded sequence over the sample pairs; a quarter act through a process when the graph has process prohibitions. */
function makeQueries (gen: Generated, count: number, seed: number): Queries {
  const rng = new Random(seed ^ 0x5bd1e995)
  const { graph } = gen
  const q: Queries = { requests: [], subjects: [], targets: [], required: [] }
  const masks = new Map(gen.rights.map((r) => [r, graph.rights.mask([r])]))
  for (let i = 0; i < count; i++) {
    const pair = rng.int(gen.users.length)
    const user = gen.users[pair]
    const target = gen.targets[pair]
    const right = rng.pick(gen.rights)
    const process = gen.processes.length > 0 && rng.chance(0.25) ? rng.pick(gen.processes) : undefined
    q.requests.push(process === undefined ? { user, right, target } : { user, right, target, process })
    q.subjects.push({ user: graph.idOf(user), attributes: [], process })
    q.targets.push({ target: graph.idOf(target), attributes: [] })
    q.required.push(masks.get(right) as RightsMask)
  }
  return q
}

// ---------------------------------------------------------------- one graph

interface GraphRow { graph: string, nodes: number, assignments: number, associations: number, prohibitions: number, elements: number, buildMs: number, heapMB: number }
interface LatencyRow extends Latency { graph: string, path: string, hitRatio?: number }
interface ReviewRow extends Review { graph: string, call: string }
/** The engine over a built graph: constructor plus first check (which allocates the scratch space and the cache). */
interface EngineRow { graph: string, cache: number, buildMs: number, heapMB: number, arrayBuffersMB: number }

interface Results { graphs: GraphRow[], engines: EngineRow[], latency: LatencyRow[], review: ReviewRow[], mismatches: { graph: string, compared: number, mismatches: number }[] }

/** heapUsed and arrayBuffers (typed arrays live outside the JS heap) after a full collection, in MB. */
function memoryMB (): { heap: number, arrayBuffers: number } {
  gc()
  const m = process.memoryUsage()
  return { heap: m.heapUsed / 2 ** 20, arrayBuffers: m.arrayBuffers / 2 ** 20 }
}

function benchGraph (spec: GraphSpec, results: Results): void {
  gc()
  const heapBefore = process.memoryUsage().heapUsed
  const t0 = process.hrtime.bigint()
  const gen = generate(spec.kind, spec.elements, SEED)
  const buildMs = Number(process.hrtime.bigint() - t0) / 1e6
  gc()
  const heapMB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20
  const { graph } = gen
  const stats = graph.stats
  const elements = elementCount(graph)
  results.graphs.push({ graph: spec.label, nodes: stats.nodes, assignments: stats.assignments, associations: stats.associations, prohibitions: stats.prohibitions, elements, buildMs, heapMB })
  log(`${spec.label}: ${elements} elements built in ${(buildMs / 1000).toFixed(2)} s, heap +${heapMB.toFixed(0)} MB`)

  const q = makeQueries(gen, QUERIES, SEED)
  const { requests, subjects, targets, required } = q

  const before = memoryMB()
  const e0 = process.hrtime.bigint()
  const engine = new DecisionEngine(graph)
  engine.check(requests[0])
  const engineMs = Number(process.hrtime.bigint() - e0) / 1e6
  const after = memoryMB()
  const capacity = engine.cacheStats?.capacity ?? 0
  results.engines.push({ graph: spec.label, cache: capacity, buildMs: engineMs, heapMB: after.heap - before.heap, arrayBuffersMB: after.arrayBuffers - before.arrayBuffers })
  log(`  engine built in ${fmt(engineMs)} ms (cache of ${capacity} entries): heap +${fmt(after.heap - before.heap)} MB, array buffers +${fmt(after.arrayBuffers - before.arrayBuffers)} MB`)

  const uncached = new DecisionEngine(graph, { cache: false })
  const check = timeQueries(QUERIES, BATCH, ROUNDS, QUERIES, (from, to) => {
    let allowed = 0
    for (let i = from; i < to; i++) if (uncached.check(requests[i]).allowed) allowed++
    return allowed
  })
  results.latency.push({ graph: spec.label, path: 'engine.check', ...check })
  log(`  engine.check       median ${fmt(check.median)} us  p99 ${fmt(check.p99)} us  allow ${pct(check.allowRatio)}  (no cache)`)

  // The miss path of the default engine (a lookup, an evaluation with the memos, a store): a
  // two-entry cache misses on nearly every query of the sequence; the evaluator is the default
  // engine's. "cold" gives the memo two slots too, so nearly every user is walked afresh.
  for (const [path, memoSlots] of [['engine.check miss', 4096], ['engine.check cold miss', 2]] as const) {
    const missing = new DecisionEngine(graph, { cache: { capacity: 2 }, evaluator: new ProductionEvaluator(graph, { memo: memoSlots }) })
    const before = missing.cacheStats ?? { hits: 0, misses: 0 }
    const miss = timeQueries(QUERIES, BATCH, ROUNDS, QUERIES, (from, to) => {
      let allowed = 0
      for (let i = from; i < to; i++) if (missing.check(requests[i]).allowed) allowed++
      return allowed
    })
    const after = missing.cacheStats ?? { hits: 0, misses: 0 }
    const hitRatio = (after.hits - before.hits) / Math.max(1, after.hits - before.hits + after.misses - before.misses)
    results.latency.push({ graph: spec.label, path, ...miss, hitRatio })
    log(`  ${path.padEnd(22)} median ${fmt(miss.median)} us  p99 ${fmt(miss.p99)} us  allow ${pct(miss.allowRatio)}  hits ${pct(hitRatio)}`)
  }

  const working = Math.min(WORKING_SET, QUERIES)
  const hot: CheckRequest[] = []
  for (let i = 0; i < QUERIES; i++) hot.push(requests[i % working])
  const statsBefore = engine.cacheStats ?? { hits: 0, misses: 0 }
  const cached = timeQueries(QUERIES, BATCH, ROUNDS, QUERIES, (from, to) => {
    let allowed = 0
    for (let i = from; i < to; i++) if (engine.check(hot[i]).allowed) allowed++
    return allowed
  })
  const statsAfter = engine.cacheStats ?? { hits: 0, misses: 0 }
  const lookups = statsAfter.hits - statsBefore.hits + statsAfter.misses - statsBefore.misses
  const hitRatio = lookups === 0 ? 0 : (statsAfter.hits - statsBefore.hits) / lookups
  results.latency.push({ graph: spec.label, path: 'engine.check cached', ...cached, hitRatio })
  log(`  engine.check cached median ${fmt(cached.median)} us  p99 ${fmt(cached.p99)} us  allow ${pct(cached.allowRatio)}  hits ${pct(hitRatio)} of ${lookups} lookups (${working} pairs)`)

  const production = new ProductionEvaluator(graph)
  const allows = timeQueries(QUERIES, BATCH, ROUNDS, QUERIES, (from, to) => {
    let allowed = 0
    for (let i = from; i < to; i++) if (production.allows(subjects[i], targets[i], required[i])) allowed++
    return allowed
  })
  results.latency.push({ graph: spec.label, path: 'production.allows', ...allows })
  log(`  production.allows  median ${fmt(allows.median)} us  p99 ${fmt(allows.p99)} us  allow ${pct(allows.allowRatio)}`)

  if (elements <= REF_MAX_ELEMENTS) {
    const n = Math.min(REF_QUERIES, QUERIES)
    const reference = new ReferenceEvaluator(graph)
    const ref = timeQueries(n, REF_BATCH, Math.min(ROUNDS, 3), Math.min(n, 50), (from, to) => {
      let allowed = 0
      for (let i = from; i < to; i++) if (maskContains(reference.privileges(subjects[i], targets[i]), required[i])) allowed++
      return allowed
    })
    results.latency.push({ graph: spec.label, path: 'reference.privileges', ...ref })
    log(`  reference          median ${fmt(ref.median)} us  p99 ${fmt(ref.p99)} us  allow ${pct(ref.allowRatio)}`)
    // The reference is the specification: the production evaluator must agree on every query.
    let mismatches = 0
    for (let i = 0; i < n; i++) {
      const a = maskContains(reference.privileges(subjects[i], targets[i]), required[i])
      if (a !== production.allows(subjects[i], targets[i], required[i])) mismatches++
    }
    results.mismatches.push({ graph: spec.label, compared: n, mismatches })
    if (mismatches > 0) log(`  WARNING: production and reference disagree on ${mismatches} of ${n} queries`)
  }

  // Fewer calls on the large graphs, and rbac only: a call there costs milliseconds.
  const reviewSamples = elements <= REVIEW_MAX_ELEMENTS ? REVIEW_SAMPLES : spec.kind === 'rbac' ? REVIEW_LARGE_SAMPLES : 0
  if (reviewSamples > 0) {
    const users = [...new Set(gen.users)].slice(0, reviewSamples)
    const objects = [...new Set(gen.targets)].slice(0, reviewSamples)
    const caps = timeCalls(users, 3, (user) => engine.capabilities({ user }).length)
    results.review.push({ graph: spec.label, call: 'engine.capabilities', ...caps })
    log(`  capabilities       median ${fmt(caps.median)} ms  p99 ${fmt(caps.p99)} ms  ${caps.entries.toFixed(0)} entries`)
    const acl = timeCalls(objects, 3, (target) => engine.acl({ target }).length)
    results.review.push({ graph: spec.label, call: 'engine.acl', ...acl })
    log(`  acl                median ${fmt(acl.median)} ms  p99 ${fmt(acl.p99)} ms  ${acl.entries.toFixed(0)} entries`)
  }
}

// ---------------------------------------------------------------- output

function log (line: string): void {
  process.stderr.write(`${line}\n`)
}

function printResults (results: Results): void {
  const out: string[] = []
  out.push(table(['graph', 'nodes', 'assignments', 'associations', 'prohibitions', 'elements', 'build s', 'heap MB'],
    results.graphs.map((g) => [g.graph, String(g.nodes), String(g.assignments), String(g.associations), String(g.prohibitions),
      String(g.elements), (g.buildMs / 1000).toFixed(2), g.heapMB.toFixed(0)])))
  out.push('')
  out.push('decision engine: constructor and first check; memory after a full GC')
  out.push(table(['graph', 'cache entries', 'build ms', 'heap MB', 'array buffers MB'],
    results.engines.map((e) => [e.graph, String(e.cache), fmt(e.buildMs), fmt(e.heapMB), fmt(e.arrayBuffersMB)])))
  out.push('')
  out.push('per-check latency, us (median over rounds of batch figures)')
  out.push(table(['graph', 'path', 'queries', 'rounds', 'median', 'p99', 'mean', 'allow', 'cache hits'],
    results.latency.map((r) => [r.graph, r.path, String(r.queries), String(r.rounds), fmt(r.median), fmt(r.p99), fmt(r.mean), pct(r.allowRatio),
      r.hitRatio === undefined ? '-' : pct(r.hitRatio)])))
  if (results.mismatches.length > 0) {
    out.push('')
    out.push('production vs reference: ' + results.mismatches.map((m) => `${m.graph} ${m.mismatches}/${m.compared} differ`).join(', '))
  }
  if (results.review.length > 0) {
    out.push('')
    out.push('access review, ms per call (median over 3 rounds)')
    out.push(table(['graph', 'call', 'calls', 'median', 'p99', 'mean', 'entries'],
      results.review.map((r) => [r.graph, r.call, String(r.calls), fmt(r.median), fmt(r.p99), fmt(r.mean), r.entries.toFixed(0)])))
  }
  process.stdout.write(out.join('\n') + '\n')
}

// ---------------------------------------------------------------- main

/**
 * Runs one graph in a fresh child process and returns its results. NOTE: isolation is on by default
 * because figures depended on what ran before in the same process (multi-10k measured 2-3x slower
 * after the three rbac graphs than alone, with every hot function still optimized).
 */
function benchGraphIsolated (spec: GraphSpec, results: Results): void {
  const file = join(tmpdir(), `ngac-bench-${process.pid}-${spec.label}.json`)
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), spec.text], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, BENCH_JSON: file, BENCH_ISOLATE: '0' }
  })
  if (child.status !== 0) throw new Error(`the bench of ${spec.label} failed (exit ${child.status}, signal ${child.signal})`)
  const part = JSON.parse(readFileSync(file, 'utf8')) as Results
  rmSync(file, { force: true })
  results.graphs.push(...part.graphs)
  results.engines.push(...part.engines)
  results.latency.push(...part.latency)
  results.review.push(...part.review)
  results.mismatches.push(...part.mismatches)
}

const specs = parseSpecs(process.argv[2] ?? process.env.BENCH_SIZES ?? DEFAULT_SIZES)
const isolate = process.env.BENCH_ISOLATE !== '0' && specs.length > 1
const results: Results = { graphs: [], engines: [], latency: [], review: [], mismatches: [] }
const cpu = cpus()[0]?.model ?? 'unknown'
const json = process.env.BENCH_JSON
process.stdout.write(`node ${process.version}, ${cpus().length} cpus (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ` +
  `queries ${QUERIES}, batch ${BATCH}, rounds ${ROUNDS}, seed ${SEED}, ${isolate ? 'one process per graph' : 'one process'}\n\n`)
for (const spec of specs) {
  if (isolate) benchGraphIsolated(spec, results)
  else benchGraph(spec, results)
}
printResults(results)
if (json !== undefined && json !== '') {
  writeFileSync(json, JSON.stringify({ node: process.version, cpu, cpus: cpus().length, queries: QUERIES, batch: BATCH, rounds: ROUNDS, seed: SEED, isolate, ...results }, null, 2))
}
