/**
 * ngac-pdp against casbin (node-casbin 5) on the same RBAC policy and the same requests.
 *
 * The policy is bench/generate.ts's rbac shape without prohibitions (casbin's RBAC model has no
 * counterpart for them): users in 1-3 roles, roles nested a few levels, objects in folders nested
 * 2-3 deep, role -> folder associations with 1-3 rights, one policy class. In casbin:
 *
 * ```
 * p  = role, folder, right            one line per right of each association
 * g  = user, role  and  role, role    the user-side assignments (role hierarchy included)
 * g2 = object, folder and folder, folder   the object-side assignments
 * m  = r.act == p.act && g(r.sub, p.sub) && g2(r.obj, p.obj)
 * ```
 *
 * With a single policy class and no prohibitions, NGAC's privileges(u, t) are the rights of every
 * association (ua, at) with u <= ua and t <= at, which is exactly what the matcher asks (casbin's
 * role manager also counts a name as linked to itself). Both answer the same requests, a fixed
 * seeded sequence of (user, right, target) drawn from the generator's sample pairs (about half
 * probably allowed), and must agree on every request of the agreement sample.
 *
 * Throughput, checks per second, median over BENCH_ROUNDS rounds (each after a warm-up pass):
 * - casbin `Enforcer.enforceSync(user, target, right)`: casbin's plain path, no cache;
 * - casbin `CachedEnforcer.enforce` (awaited; its cache is a Map keyed by the joined request strings);
 * - ngac `DecisionEngine.check` with its decision cache (the sequence repeats 1000 pairs, so after
 *   the warm-up every check is a hit), without it (`{ cache: false }`, every check evaluated,
 *   no memo), and on the cache's miss path (a two-entry cache: every check misses and is
 *   evaluated with the per-user and per-target memos, warm after the warm-up pass).
 *
 * Usage (after `npm run build`): `node dist/bench/casbin-compare.js [sizes]` (`npm run bench:casbin`)
 * sizes: comma separated rbac sizes, default `10k,100k`. Settings: BENCH_QUERIES (20000, the ngac
 * paths), BENCH_CASBIN_QUERIES (300, casbin's enforceSync: it takes milliseconds per check at
 * 100k), BENCH_ROUNDS (5), BENCH_AGREE (500, requests compared), BENCH_SEED (1). The default run
 * takes about two minutes, most of it casbin at 100k.
 */
import { cpus, totalmem } from 'node:os'
import { newCachedEnforcer, newEnforcer, newModelFromString, StringAdapter } from 'casbin'
import type { Enforcer } from 'casbin'
import type { PolicyGraph } from '../src/graph/index.js'
import { DecisionEngine, ProductionEvaluator } from '../src/pdp/index.js'
import { Random, elementCount, parseSize, rbac, rbacOptions } from './generate.js'
import { envInt, fmt, table } from './table.js'

const QUERIES = envInt('BENCH_QUERIES', 20_000)
const CASBIN_QUERIES = envInt('BENCH_CASBIN_QUERIES', 300)
const ROUNDS = envInt('BENCH_ROUNDS', 5)
const AGREE = envInt('BENCH_AGREE', 500)
const SEED = envInt('BENCH_SEED', 1)

const MODEL = `
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _
g2 = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.act == p.act && g(r.sub, p.sub) && g2(r.obj, p.obj)
`

/** The graph as casbin policy lines (CSV, as casbin's file adapter reads them). */
function casbinPolicy (graph: PolicyGraph): { text: string, p: number, g: number, g2: number } {
  const lines: string[] = []
  let p = 0
  let g = 0
  let g2 = 0
  for (const a of graph.associations()) {
    for (const right of a.rights) {
      lines.push(`p, ${a.ua}, ${a.target}, ${right}`)
      p++
    }
  }
  for (const [child, parent] of graph.assignments()) {
    const childType = graph.node(child)?.type
    if (graph.node(parent)?.type === 'PC') continue // one policy class: every node is in it
    if (childType === 'U' || childType === 'UA') {
      lines.push(`g, ${child}, ${parent}`)
      g++
    } else {
      lines.push(`g2, ${child}, ${parent}`)
      g2++
    }
  }
  return { text: lines.join('\n'), p, g, g2 }
}

interface Request { user: string, target: string, right: string }

function makeRequests (users: readonly string[], targets: readonly string[], rights: readonly string[], count: number): Request[] {
  const rng = new Random(SEED ^ 0x5bd1e995)
  const out: Request[] = []
  for (let i = 0; i < count; i++) {
    const pair = rng.int(users.length)
    out.push({ user: users[pair], target: targets[pair], right: rng.pick(rights) })
  }
  return out
}

function median (values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.ceil(s.length / 2) - 1]
}

/** Checks per second, median over rounds, after a warm-up pass; `run` returns how many were allowed. */
function throughput (count: number, run: (from: number, to: number) => number): { perSecond: number, allowed: number } {
  run(0, count)
  const rates: number[] = []
  let allowed = 0
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint()
    allowed = run(0, count)
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9
    rates.push(count / seconds)
  }
  return { perSecond: median(rates), allowed }
}

async function throughputAsync (count: number, run: (from: number, to: number) => Promise<number>): Promise<{ perSecond: number, allowed: number }> {
  await run(0, count)
  const rates: number[] = []
  let allowed = 0
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint()
    allowed = await run(0, count)
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9
    rates.push(count / seconds)
  }
  return { perSecond: median(rates), allowed }
}

function log (line: string): void {
  process.stderr.write(`${line}\n`)
}

interface Row { graph: string, path: string, queries: number, perSecond: number, allowed: number }

async function compare (size: string, rows: Row[], agreement: string[]): Promise<void> {
  const label = `rbac-${size.toLowerCase()}`
  const gen = rbac({ ...rbacOptions(parseSize(size), SEED), prohibitions: 0 })
  const { graph } = gen
  const policy = casbinPolicy(graph)
  log(`${label}: ${elementCount(graph)} elements; casbin: ${policy.p} p, ${policy.g} g, ${policy.g2} g2 lines`)

  const model = newModelFromString(MODEL)
  let t0 = process.hrtime.bigint()
  const enforcer: Enforcer = await newEnforcer(model, new StringAdapter(policy.text))
  log(`  casbin Enforcer loaded in ${fmt(Number(process.hrtime.bigint() - t0) / 1e6)} ms`)
  t0 = process.hrtime.bigint()
  const cachedEnforcer = await newCachedEnforcer(newModelFromString(MODEL), new StringAdapter(policy.text))
  log(`  casbin CachedEnforcer loaded in ${fmt(Number(process.hrtime.bigint() - t0) / 1e6)} ms`)
  const cached = new DecisionEngine(graph)
  const uncached = new DecisionEngine(graph, { cache: false })
  const missing = new DecisionEngine(graph, { cache: { capacity: 2 }, evaluator: new ProductionEvaluator(graph, { memo: 4096 }) })

  const requests = makeRequests(gen.users, gen.targets, gen.rights, Math.max(QUERIES, CASBIN_QUERIES, AGREE))

  // The two must answer alike: the comparison is void otherwise.
  let disagreements = 0
  let allowedInSample = 0
  for (let i = 0; i < AGREE; i++) {
    const { user, target, right } = requests[i]
    const a = enforcer.enforceSync(user, target, right)
    const b = uncached.check({ user, right, target }).allowed
    if (b) allowedInSample++
    if (a !== b) {
      disagreements++
      if (disagreements <= 5) log(`  DISAGREE: ${user} ${right} ${target}: casbin ${String(a)}, ngac ${String(b)}`)
    }
  }
  agreement.push(`${label}: ${disagreements} of ${AGREE} requests differ (${allowedInSample} allowed)`)
  log(`  agreement: ${disagreements} of ${AGREE} differ`)

  const casbinPlain = throughput(CASBIN_QUERIES, (from, to) => {
    let allowed = 0
    for (let i = from; i < to; i++) if (enforcer.enforceSync(requests[i].user, requests[i].target, requests[i].right)) allowed++
    return allowed
  })
  rows.push({ graph: label, path: 'casbin Enforcer.enforceSync', queries: CASBIN_QUERIES, ...casbinPlain })
  log(`  casbin enforceSync        ${fmt(casbinPlain.perSecond)} checks/s`)

  const casbinCached = await throughputAsync(QUERIES, async (from, to) => {
    let allowed = 0
    for (let i = from; i < to; i++) if (await cachedEnforcer.enforce(requests[i].user, requests[i].target, requests[i].right)) allowed++
    return allowed
  })
  rows.push({ graph: label, path: 'casbin CachedEnforcer.enforce', queries: QUERIES, ...casbinCached })
  log(`  casbin CachedEnforcer     ${fmt(casbinCached.perSecond)} checks/s`)

  const checks = requests.slice(0, QUERIES).map(({ user, right, target }) => ({ user, right, target }))
  const ngacUncached = throughput(QUERIES, (from, to) => {
    let allowed = 0
    for (let i = from; i < to; i++) if (uncached.check(checks[i]).allowed) allowed++
    return allowed
  })
  rows.push({ graph: label, path: 'ngac engine.check, no cache', queries: QUERIES, ...ngacUncached })
  log(`  ngac check, no cache      ${fmt(ngacUncached.perSecond)} checks/s`)

  const ngacMiss = throughput(QUERIES, (from, to) => {
    let allowed = 0
    for (let i = from; i < to; i++) if (missing.check(checks[i]).allowed) allowed++
    return allowed
  })
  rows.push({ graph: label, path: 'ngac engine.check, cache misses', queries: QUERIES, ...ngacMiss })
  log(`  ngac check, cache misses  ${fmt(ngacMiss.perSecond)} checks/s (memos warm)`)

  const ngacCached = throughput(QUERIES, (from, to) => {
    let allowed = 0
    for (let i = from; i < to; i++) if (cached.check(checks[i]).allowed) allowed++
    return allowed
  })
  rows.push({ graph: label, path: 'ngac engine.check, cached', queries: QUERIES, ...ngacCached })
  log(`  ngac check, cached        ${fmt(ngacCached.perSecond)} checks/s (cache hits ${cached.cacheStats?.hits ?? 0}, misses ${cached.cacheStats?.misses ?? 0})`)
}

const sizes = (process.argv[2] ?? process.env.BENCH_SIZES ?? '10k,100k').split(',').map((s) => s.trim()).filter((s) => s !== '')
const rows: Row[] = []
const agreement: string[] = []
process.stdout.write(`node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ` +
  `ngac queries ${QUERIES}, casbin queries ${CASBIN_QUERIES}, rounds ${ROUNDS}, seed ${SEED}\n\n`)
for (const size of sizes) await compare(size, rows, agreement)

const out: string[] = []
out.push('throughput, checks/s (median over rounds); ratios = checks/s over casbin enforceSync, and over casbin CachedEnforcer, on the same graph')
out.push(table(['graph', 'path', 'queries', 'checks/s', 'x enforceSync', 'x CachedEnforcer', 'allowed'],
  rows.map((r) => {
    const rate = (path: string): number => rows.find((b) => b.graph === r.graph && b.path === path)?.perSecond ?? r.perSecond
    return [r.graph, r.path, String(r.queries), r.perSecond.toFixed(0), `${fmt(r.perSecond / rate('casbin Enforcer.enforceSync'))}x`,
      `${fmt(r.perSecond / rate('casbin CachedEnforcer.enforce'))}x`, `${(100 * r.allowed / r.queries).toFixed(1)}%`]
  })))
out.push('')
out.push('agreement, casbin enforceSync vs ngac: ' + agreement.join('; '))
process.stdout.write(out.join('\n') + '\n')
