/**
 * Load with faults: mixed decision and administration traffic against a real `ngac serve`
 * (dist/src/cli.js with BENCH_WORKERS worker processes, 2 by default, over an SQLite file) for
 * BENCH_DURATION (30) seconds, while the server is killed with SIGKILL BENCH_CYCLES (3) times,
 * evenly spaced but each at least 2 s after the server serves again (so the run lasts longer
 * when restarts are slow), and restarted at once on the same database and ports. Then it holds
 * what the clients were told against what the database kept:
 * - lost writes: every acknowledged write (a 2xx with its revision) must be in the changelog at
 *   that revision and its node in the exported policy;
 * - bad allows: every decision answered allow must be allowed by the policy at the revision it
 *   reported: the changelog is replayed from revision 0 into a fresh graph and each decision
 *   asked again of the ReferenceEvaluator at its revision. POST /v1/check also reports the
 *   revision of a deny, so its denies are checked the same way (bad denies).
 *
 * The kills alternate: the process group (primary and workers at once), then the primary alone,
 * after which the workers must exit by themselves (a node:cluster worker exits when its channel to
 * the primary closes); a worker still alive 5 s later is reported as an orphan and killed.
 *
 * Traffic, on loopback, one keep-alive connection per client (so clients spread over workers):
 * - BENCH_WRITERS (3) writers. Each request creates a node of a unique name: POST /v1/nodes (an
 *   object in one of 4 folders), or POST /v1/batch of such a node and one grant or revocation of
 *   the writer's own team `team{w}`: associate (read, or read and write) or dissociate it on a
 *   folder, assign or deassign one of 4 users to it, create or delete a prohibition of a user's
 *   read or write on a folder. So access to the folders' documents flips all the time. A write
 *   whose answer was lost in a kill has an unknown outcome; the writer's view of its team heals
 *   on the 404 or 409 of its next conflicting write (counted as a conflict).
 * - BENCH_DECIDERS (4) deciders, each cycling through POST /v1/check, /ext_authz/o/{id} (GET for
 *   read, POST for write, user in the trusted header x-user) and gRPC Check (user as
 *   source.principal): a user asks read or write on a folder's document or, one time in four, on
 *   an object a writer created (POST /v1/check with that write's revision as atLeastRevision).
 * Clients keep going across restarts: an error (connection refused or reset, UNAVAILABLE) is
 * counted by kind and followed by a 50 ms pause. A write refused before it was sent (connection
 * refused) is known not applied; one whose connection broke after it was sent is of unknown
 * outcome, and the report says how many of those committed after all.
 *
 * It prints the kills (how long the workers took to go, how long until the server served again),
 * the counts and checks, the latency of answered requests (each client sends one request at a
 * time, so this is latency under the write load, not throughput) and the clients' errors by kind.
 *
 * Usage (after `npm run build`; `npm run bench:faults` builds first):
 *   node dist/bench/fault-load.js
 *   BENCH_DURATION=60 BENCH_CYCLES=5 BENCH_WORKERS=4 node dist/bench/fault-load.js
 * Other settings: BENCH_WRITERS, BENCH_DECIDERS, BENCH_SEED (1), BENCH_DIR (the temp dir's
 * parent), BENCH_KEEP=1 (keep the database and server.log, the server's warnings; kept anyway
 * when a check fails). Needs Linux's /proc to find the worker processes.
 *
 * Exit code 1 when an acknowledged write was lost, a decision disagrees with the policy at its
 * revision, the changelog has a gap or does not replay, or a worker outlived its primary.
 */
import * as grpc from '@grpc/grpc-js'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client, type Dispatcher } from 'undici'
import { authorizationService } from '../src/ext-authz/grpc-server.js'
import { applyOperations, PolicyGraph, type Operation } from '../src/graph/index.js'
import { ReferenceEvaluator } from '../src/pdp/index.js'
import { freePort, log, quantile } from './servers.js'
import { envInt, fmt, table } from './table.js'

// ---------------------------------------------------------------- settings

const DURATION = envInt('BENCH_DURATION', 30)
const CYCLES = envInt('BENCH_CYCLES', 3)
const WORKERS = envInt('BENCH_WORKERS', 2)
const WRITERS = envInt('BENCH_WRITERS', 3)
const DECIDERS = envInt('BENCH_DECIDERS', 4)
const SEED = envInt('BENCH_SEED', 1)
const KEEP = process.env.BENCH_KEEP === '1'
const USERS = 4
const FOLDERS = 4
const RIGHTS = ['read', 'write'] as const
/** How long a worker may outlive its killed primary. */
const ORPHAN_GRACE_MS = 5000
const PAUSE_MS = 50
const JSON_HEADERS = { 'content-type': 'application/json' }
const CONFIG = {
  extAuthz: {
    identity: [{ type: 'principal' }, { type: 'header', header: 'x-user' }],
    routes: [{ path: '/o/:id', object: '{id}' }]
  }
}
/** Client errors that say the request never reached the server. */
const NOT_SENT = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT'])
/** The least time the server serves between a restart and the next kill, in ms. */
const MIN_UP_MS = 2000
/** 5xx codes that say the write was not applied. */
const NOT_APPLIED = new Set(['NGAC_ERR_OVERLOADED', 'NGAC_ERR_STORE_STALE', 'NGAC_ERR_STORE_BUSY'])

// ---------------------------------------------------------------- small tools

/** mulberry32: a seeded PRNG, so that each client's choices repeat from run to run. */
function prng (seed: number): (n: number) => number {
  let a = seed >>> 0
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n)
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Counts by kind. */
class Tally {
  readonly counts = new Map<string, number>()
  add (kind: string): void { this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1) }
  get total (): number { let n = 0; for (const v of this.counts.values()) n += v; return n }
}

function kindOf (err: unknown): string {
  const e = err as { code?: unknown, name?: unknown }
  return typeof e.code === 'string' ? e.code : typeof e.code === 'number' ? `gRPC ${grpc.status[e.code] ?? e.code}` : String(e.name ?? 'error')
}

interface Answer { status: number, body: Record<string, unknown>, headers: Record<string, string | string[] | undefined> }

async function request (client: Client, method: Dispatcher.HttpMethod, path: string, body?: unknown, headers: Record<string, string> = JSON_HEADERS): Promise<Answer> {
  const res = await client.request({ method, path, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }), headersTimeout: 10000, bodyTimeout: 10000 })
  const text = await res.body.text()
  let parsed: Record<string, unknown> = {}
  if (text.length > 0 && String(res.headers['content-type'] ?? '').startsWith('application/json')) parsed = JSON.parse(text) as Record<string, unknown>
  return { status: res.statusCode, body: parsed, headers: res.headers }
}

// ---------------------------------------------------------------- the server and its processes

/** The state letter of a process in /proc ('Z' a zombie), or undefined when it is gone. */
function processState (pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0]
  } catch {
    return undefined
  }
}

const isAlive = (pid: number): boolean => { const s = processState(pid); return s !== undefined && s !== 'Z' }

/** The processes whose parent is `pid` (the cluster's workers). */
function childrenOf (pid: number): number[] {
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry))
    } catch { /* gone meanwhile */ }
  }
  return out
}

async function waitGone (pids: readonly number[], ms: number): Promise<number[]> {
  const end = Date.now() + ms
  let alive = pids.filter(isAlive)
  while (alive.length > 0 && Date.now() < end) {
    await sleep(20)
    alive = alive.filter(isAlive)
  }
  return alive
}

interface Kill { cycle: number, atS: number, mode: 'group' | 'primary', workers: number, goneMs: number, orphans: number, backMs: number }

/** `ngac serve` in a process group of its own, restartable on the same ports and database. */
class Server {
  readonly base: string
  #child: ChildProcess | undefined
  readonly #args: string[]
  readonly #logFd: number

  constructor (readonly db: string, readonly port: number, readonly grpcPort: number, config: string, logFile: string) {
    this.base = `http://127.0.0.1:${port}`
    const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url))
    this.#args = [cli, 'serve', '--host', '127.0.0.1', '--port', String(port), '--grpc-port', String(grpcPort), '--db', db, '--workers', String(WORKERS), '--config', config]
    this.#logFd = openSync(logFile, 'a')
  }

  async start (): Promise<void> {
    const child = spawn(process.execPath, this.#args, { detached: true, stdio: ['ignore', 'ignore', this.#logFd], env: { ...process.env, NGAC_LOG_LEVEL: 'warn' } })
    this.#child = child
    for (let i = 0; i < 600; i++) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the server exited with ${child.exitCode ?? child.signalCode}; see its log`)
      try {
        const res = await fetch(`${this.base}/readyz`)
        await res.arrayBuffer()
        // Every worker serves once the primary has forked them all: wait for their count.
        if (res.ok && (WORKERS === 1 || childrenOf(child.pid as number).length >= WORKERS)) return
      } catch { /* not listening yet */ }
      await sleep(50)
    }
    throw new Error(`the server at ${this.base} did not become ready`)
  }

  /**
   * SIGKILL: the whole group, or the primary alone (then its workers must exit by themselves).
   * Resolves once no process of the server is left, with the workers it had and the orphans it
   * had to kill.
   */
  async kill (mode: 'group' | 'primary'): Promise<{ workers: number, goneMs: number, orphans: number }> {
    const child = this.#child as ChildProcess
    const pid = child.pid as number
    const workers = childrenOf(pid)
    const exited = once(child, 'exit')
    const t = Date.now()
    process.kill(mode === 'group' ? -pid : pid, 'SIGKILL')
    await exited
    const orphans = await waitGone(workers, ORPHAN_GRACE_MS)
    const goneMs = Date.now() - t
    for (const orphan of orphans) process.kill(orphan, 'SIGKILL')
    const left = await waitGone(orphans, ORPHAN_GRACE_MS)
    if (left.length > 0) throw new Error(`processes ${left.join(', ')} survive SIGKILL`)
    return { workers: workers.length, goneMs, orphans: orphans.length }
  }

  /** SIGTERM, for a clean end. */
  async stop (): Promise<void> {
    const child = this.#child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const workers = childrenOf(child.pid as number)
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    await exited
    await waitGone(workers, ORPHAN_GRACE_MS)
    closeSync(this.#logFd)
  }

  /** Kills whatever is left (the bench failing half way). */
  killNow (): void {
    const pid = this.#child?.pid
    if (pid !== undefined) try { process.kill(-pid, 'SIGKILL') } catch { /* gone */ }
  }
}

// ---------------------------------------------------------------- what clients saw

interface Ack { name: string, revision: number, route: '/v1/nodes' | '/v1/batch' }
/** A decision; `revision` is -1 for a deny that does not say its revision (ext_authz, gRPC). */
interface Decision { via: 'check' | 'ext_authz' | 'grpc', user: string, right: string, target: string, allowed: boolean, revision: number }

const acks: Ack[] = []
/** Names of writes whose outcome is unknown: the answer was lost, or a 5xx that may have committed. */
const unknown: string[] = []
const decisions: Decision[] = []
/** Objects acknowledged as created, with their revision, for the deciders to ask about. */
const created: { name: string, revision: number }[] = []
const errors = new Tally()
/** Latency of answered requests in ms, by what they were. */
const latency = new Map<string, number[]>()
const timed = (what: string, since: bigint): void => {
  let list = latency.get(what)
  if (list === undefined) latency.set(what, list = [])
  list.push(Number(process.hrtime.bigint() - since) / 1e6)
}
let answered = 0
let conflicts = 0
let stopped = false

/** The initial policy, committed as revision 1 by POST /v1/batch so that the changelog replays from 0. */
function setup (): unknown[] {
  const ops: unknown[] = [{ op: 'setResourceRights', rights: [...RIGHTS] }, { op: 'createNode', name: 'RBAC', type: 'PC' }]
  ops.push({ op: 'createNode', name: 'everyone', type: 'UA', parents: ['RBAC'] })
  for (let w = 0; w < WRITERS; w++) ops.push({ op: 'createNode', name: `team${w}`, type: 'UA', parents: ['RBAC'] })
  for (let i = 0; i < USERS; i++) ops.push({ op: 'createNode', name: `u${i}`, type: 'U', parents: ['everyone'] })
  for (let j = 0; j < FOLDERS; j++) {
    ops.push({ op: 'createNode', name: `f${j}`, type: 'OA', parents: ['RBAC'] })
    ops.push({ op: 'createNode', name: `f${j}.doc`, type: 'O', parents: [`f${j}`] })
  }
  return ops
}

/** One grant or revocation, and what its outcome says about the team's state. */
interface Toggle { op: Record<string, unknown>, applied: () => void, conflict: () => void, unsure: () => void }

async function writer (w: number, base: string): Promise<void> {
  const pick = prng(SEED * 1000 + w)
  const client = new Client(base, { pipelining: 1, connect: { timeout: 2000 } })
  const team = `team${w}`
  const associated = new Array<boolean>(FOLDERS).fill(false)
  const member = new Array<boolean>(USERS).fill(false)
  const prohibitions: string[][] = Array.from({ length: USERS * FOLDERS }, () => [])
  const nothing = (): void => {}
  let seq = 0
  const toggle = (): Toggle => {
    const kind = pick(3)
    if (kind === 0) {
      const j = pick(FOLDERS)
      if (associated[j] && pick(2) === 0) {
        const set = (): void => { associated[j] = false }
        return { op: { op: 'dissociate', ua: team, target: `f${j}` }, applied: set, conflict: set, unsure: nothing }
      }
      const set = (): void => { associated[j] = true }
      return { op: { op: 'associate', ua: team, target: `f${j}`, rights: pick(2) === 0 ? ['read'] : ['read', 'write'] }, applied: set, conflict: nothing, unsure: nothing }
    }
    if (kind === 1) {
      const i = pick(USERS)
      const value = !member[i]
      const set = (): void => { member[i] = value }
      return { op: { op: value ? 'assign' : 'deassign', child: `u${i}`, parent: team }, applied: set, conflict: set, unsure: nothing }
    }
    const i = pick(USERS)
    const j = pick(FOLDERS)
    const names = prohibitions[i * FOLDERS + j]
    if (names.length > 0) {
      const drop = (): void => { names.shift() }
      return { op: { op: 'deleteProhibition', name: names[0] }, applied: drop, conflict: drop, unsure: nothing }
    }
    const name = `w${w}.p${seq}`
    const add = (): void => { names.push(name) }
    const op = { op: 'createProhibition', name, subject: `u${i}`, rights: [RIGHTS[pick(2)]], intersection: false, containers: [{ name: `f${j}`, complement: false }] }
    return { op, applied: add, conflict: nothing, unsure: add }
  }
  try {
    while (!stopped) {
      const name = `w${w}.${seq++}`
      const node = { name, type: 'O', parents: [`f${pick(FOLDERS)}`] }
      const change = pick(10) < 3 ? undefined : toggle()
      const route = change === undefined ? '/v1/nodes' : '/v1/batch'
      let res: Answer
      const t = process.hrtime.bigint()
      try {
        res = await request(client, 'POST', route, change === undefined ? node : { operations: [{ op: 'createNode', ...node }, change.op] })
      } catch (err) {
        const kind = kindOf(err)
        errors.add(`write: ${kind}`)
        if (!NOT_SENT.has(kind)) {
          unknown.push(name)
          change?.unsure()
        }
        await sleep(PAUSE_MS)
        continue
      }
      answered++
      timed(`POST ${route}`, t)
      if (res.status === 200 || res.status === 201) {
        const revision = res.body.revision as number
        acks.push({ name, revision, route })
        created.push({ name, revision })
        change?.applied()
        continue
      }
      const code = typeof res.body.code === 'string' ? res.body.code : 'no code'
      errors.add(`write: ${res.status} ${code}`)
      if (res.status === 404 || res.status === 409) {
        conflicts++
        change?.conflict()
      } else if (res.status >= 500) {
        if (!NOT_APPLIED.has(code)) {
          unknown.push(name)
          change?.unsure()
        }
        await sleep(PAUSE_MS)
      }
    }
  } finally {
    await client.destroy()
  }
}

type CheckCall = (request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response?: { status?: { code?: number }, ok_response?: { headers?: { header?: { key?: string, value?: string } }[] } }) => void) => void

async function decider (d: number, base: string, check: CheckCall): Promise<void> {
  const pick = prng(SEED * 1000 + 500 + d)
  const client = new Client(base, { pipelining: 1, connect: { timeout: 2000 } })
  let k = d
  try {
    while (!stopped) {
      const user = `u${pick(USERS)}`
      const right = RIGHTS[pick(2)]
      let target = `f${pick(FOLDERS)}.doc`
      let atLeastRevision: number | undefined
      if (created.length > 0 && pick(4) === 0) {
        const c = created[created.length - 1 - pick(Math.min(200, created.length))]
        target = c.name
        atLeastRevision = c.revision
      }
      const via = (['check', 'ext_authz', 'grpc'] as const)[k++ % 3]
      const t = process.hrtime.bigint()
      try {
        if (via === 'check') {
          const res = await request(client, 'POST', '/v1/check', { user, right, target, ...(atLeastRevision === undefined ? {} : { atLeastRevision }) })
          answered++
          timed(atLeastRevision === undefined ? 'POST /v1/check' : 'POST /v1/check (atLeastRevision)', t)
          if (res.status === 200) decisions.push({ via, user, right, target, allowed: res.body.allowed === true, revision: res.body.revision as number })
          else errors.add(`check: ${res.status} ${String(res.body.code ?? 'no code')}`)
        } else if (via === 'ext_authz') {
          const res = await request(client, right === 'read' ? 'GET' : 'POST', `/ext_authz/o/${encodeURIComponent(target)}`, undefined, { 'x-user': user })
          answered++
          timed('HTTP ext_authz', t)
          if (res.status === 200) decisions.push({ via, user, right, target, allowed: true, revision: Number(res.headers['x-ngac-revision']) })
          else if (res.status === 403) decisions.push({ via, user, right, target, allowed: false, revision: -1 })
          else errors.add(`ext_authz: ${res.status}`)
        } else {
          const body = { attributes: { source: { principal: user }, request: { http: { method: right === 'read' ? 'GET' : 'POST', path: `/o/${encodeURIComponent(target)}`, headers: { host: 'app.example' } } } } }
          const response = await new Promise<Parameters<Parameters<CheckCall>[3]>[1]>((resolve, reject) => {
            check(body, new grpc.Metadata(), { deadline: Date.now() + 10000 }, (err, res) => { if (err === null) resolve(res); else reject(err) })
          })
          answered++
          timed('gRPC Check', t)
          const code = response?.status?.code ?? 0
          if (code === grpc.status.OK) {
            const revision = response?.ok_response?.headers?.find((h) => h.header?.key === 'x-ngac-revision')?.header?.value
            decisions.push({ via, user, right, target, allowed: true, revision: Number(revision) })
          } else if (code === grpc.status.PERMISSION_DENIED) {
            decisions.push({ via, user, right, target, allowed: false, revision: -1 })
          } else {
            errors.add(`grpc: status ${grpc.status[code] ?? code}`)
          }
        }
      } catch (err) {
        errors.add(`${via}: ${kindOf(err)}`)
        await sleep(PAUSE_MS)
      }
    }
  } finally {
    await client.destroy()
  }
}

// ---------------------------------------------------------------- the checks

interface Change { revision: number, operations: Operation[] }

interface Verdict {
  finalRevision: number
  changes: number
  gaps: number[]
  replayError: string | undefined
  lost: { name: string, revision: number, why: string }[]
  badAllows: Decision[]
  badDenies: Decision[]
  unknownRevision: Decision[]
  checkedAllows: number
  checkedDenies: number
  unknownCommitted: number
}

async function collect (base: string): Promise<{ changes: Change[], nodes: Set<string> }> {
  const client = new Client(base, { pipelining: 1 })
  try {
    // One connection, so one worker: wait until it has followed every acknowledged write.
    const wanted = acks.reduce((m, a) => Math.max(m, a.revision), 0)
    for (let i = 0; ; i++) {
      const res = await request(client, 'GET', '/v1/revision')
      if ((res.body.revision as number) >= wanted) break
      if (i > 500) throw new Error(`the server stays at revision ${String(res.body.revision)}, below the acknowledged ${wanted}`)
      await sleep(20)
    }
    const policy = await request(client, 'GET', '/v1/policy')
    if (policy.status !== 200) throw new Error(`GET /v1/policy answered ${policy.status}`)
    const nodes = new Set((policy.body.nodes as { name: string }[]).map((n) => n.name))
    const changes: Change[] = []
    let since = 0
    for (;;) {
      const res = await request(client, 'GET', `/v1/changes?since=${since}&limit=1000`)
      if (res.status !== 200) throw new Error(`GET /v1/changes answered ${res.status}`)
      changes.push(...(res.body.changes as Change[]))
      if (res.body.nextSince === undefined) break
      since = res.body.nextSince as number
    }
    return { changes, nodes }
  } finally {
    await client.destroy()
  }
}

function verify (changes: readonly Change[], nodes: ReadonlySet<string>): Verdict {
  const byRevision = new Map(changes.map((c) => [c.revision, c]))
  const finalRevision = changes.length === 0 ? 0 : changes[changes.length - 1].revision
  const gaps: number[] = []
  for (let r = 1; r <= finalRevision; r++) if (!byRevision.has(r)) gaps.push(r)
  const createdAt = new Map<string, number>()
  for (const c of changes) for (const op of c.operations) if (op.op === 'createNode') createdAt.set(op.name, c.revision)

  const lost: Verdict['lost'] = []
  const revisions = new Map<number, string>()
  for (const a of acks) {
    const at = createdAt.get(a.name)
    if (at === undefined) lost.push({ name: a.name, revision: a.revision, why: 'not in the changelog' })
    else if (at !== a.revision) lost.push({ name: a.name, revision: a.revision, why: `in the changelog at revision ${at}` })
    else if (!nodes.has(a.name)) lost.push({ name: a.name, revision: a.revision, why: 'not in the exported policy' })
    const other = revisions.get(a.revision)
    if (other !== undefined) lost.push({ name: a.name, revision: a.revision, why: `revision also acknowledged for ${other}` })
    revisions.set(a.revision, a.name)
  }
  const unknownCommitted = unknown.filter((name) => createdAt.has(name)).length

  // Replay: the graph at revision r answers the decisions made at r.
  // -1: a deny that does not say its revision; anything else must be a revision of the changelog.
  const reported = decisions.filter((d) => d.revision !== -1)
  const unknownRevision = reported.filter((d) => !Number.isInteger(d.revision) || d.revision < 1 || d.revision > finalRevision)
  const checked = reported.filter((d) => !unknownRevision.includes(d)).sort((a, b) => a.revision - b.revision)
  const badAllows: Decision[] = []
  const badDenies: Decision[] = []
  let replayError: string | undefined
  const graph = new PolicyGraph()
  const reference = new ReferenceEvaluator(graph)
  let next = 0
  try {
    for (let r = 1; r <= finalRevision && replayError === undefined; r++) {
      const change = byRevision.get(r)
      if (change === undefined) { replayError = `revision ${r} is missing`; break }
      applyOperations(graph, change.operations)
      graph.setRevision(r)
      while (next < checked.length && checked[next].revision < r) next++
      const memo = new Map<string, boolean>()
      for (; next < checked.length && checked[next].revision === r; next++) {
        const d = checked[next]
        const key = `${d.user}\u0000${d.right}\u0000${d.target}`
        let allowed = memo.get(key)
        if (allowed === undefined) {
          allowed = reference.allows({ user: graph.idOf(d.user), attributes: [], process: undefined }, { target: graph.idOf(d.target), attributes: [] }, graph.rights.mask([d.right]))
          memo.set(key, allowed)
        }
        if (d.allowed && !allowed) badAllows.push(d)
        if (!d.allowed && allowed) badDenies.push(d)
      }
    }
  } catch (err) {
    replayError = (err as Error).message
  }
  return {
    finalRevision,
    changes: changes.length,
    gaps,
    replayError,
    lost,
    badAllows,
    badDenies,
    unknownRevision,
    checkedAllows: checked.filter((d) => d.allowed).length,
    checkedDenies: checked.filter((d) => !d.allowed).length,
    unknownCommitted
  }
}

// ---------------------------------------------------------------- main

async function main (): Promise<number> {
  if (!existsSync('/proc/self/stat')) throw new Error('this bench needs Linux /proc to find the worker processes')
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'ngac-faults-'))
  const configFile = join(dir, 'ngac.json')
  writeFileSync(configFile, JSON.stringify(CONFIG))
  const logFile = join(dir, 'server.log')
  const server = new Server(join(dir, 'policy.db'), await freePort(), await freePort(), configFile, logFile)
  process.once('exit', () => { server.killNow() })
  const cpu = cpus()[0]?.model ?? 'unknown'
  process.stdout.write(`node ${process.version}, ${cpus().length} cpus (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ` +
    `ngac serve --workers ${WORKERS} over ${join(dir, 'policy.db')}; ${DURATION} s, ${CYCLES} SIGKILLs, ${WRITERS} writers, ${DECIDERS} deciders, seed ${SEED}\n\n`)

  await server.start()
  const first = new Client(server.base)
  const res = await request(first, 'POST', '/v1/batch', { operations: setup() })
  await first.destroy()
  if (res.status !== 200) throw new Error(`the setup batch answered ${res.status}: ${JSON.stringify(res.body)}`)
  acks.push({ name: 'RBAC', revision: res.body.revision as number, route: '/v1/batch' })

  const GrpcClient = grpc.makeGenericClientConstructor(await authorizationService(), 'Authorization')
  const grpcClients: grpc.Client[] = []
  const kills: Kill[] = []
  const start = Date.now()
  const clients: Promise<void>[] = []
  for (let w = 0; w < WRITERS; w++) clients.push(writer(w, server.base))
  for (let d = 0; d < DECIDERS; d++) {
    const c = new GrpcClient(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure(), {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000
    }) as unknown as grpc.Client & { Check: CheckCall }
    grpcClients.push(c)
    clients.push(decider(d, server.base, c.Check.bind(c)))
  }
  log(`traffic for ${DURATION} s`)
  try {
    let up = start
    for (let k = 1; k <= CYCLES; k++) {
      // Evenly spaced, but never before the server has served MIN_UP_MS since its restart.
      const at = Math.max(start + (DURATION * 1000 * k) / (CYCLES + 1), up + MIN_UP_MS)
      await sleep(Math.max(0, at - Date.now()))
      const mode = k % 2 === 1 ? 'group' : 'primary'
      const t = Date.now()
      const { workers, goneMs, orphans } = await server.kill(mode)
      await server.start()
      up = Date.now()
      const kill: Kill = { cycle: k, atS: (t - start) / 1000, mode, workers, goneMs, orphans, backMs: up - t }
      kills.push(kill)
      log(`  kill ${k} (${mode}) at ${kill.atS.toFixed(1)} s: ${workers} workers gone after ${goneMs} ms, ${orphans} orphans, serving again after ${kill.backMs} ms`)
    }
    await sleep(Math.max(0, Math.max(start + DURATION * 1000, up + MIN_UP_MS) - Date.now()))
  } finally {
    stopped = true
    await Promise.all(clients)
    for (const c of grpcClients) c.close()
  }
  const elapsed = (Date.now() - start) / 1000
  const serving = elapsed - kills.reduce((ms, k) => ms + k.backMs, 0) / 1000
  log('checking')
  const { changes, nodes } = await collect(server.base)
  await server.stop()
  const v = verify(changes, nodes)

  // ------------------------------------------------------------ report
  const out: string[] = []
  out.push('kills (SIGKILL; "group": primary and workers at once, "primary": the workers must exit by themselves)')
  out.push(table(['cycle', 'at s', 'killed', 'workers', 'all gone after ms', 'orphans', 'serving again after ms'],
    kills.map((k) => [String(k.cycle), k.atS.toFixed(1), k.mode, String(k.workers), String(k.goneMs), String(k.orphans), String(k.backMs)])))
  out.push('')
  const allowed = decisions.filter((d) => d.allowed).length
  const via = (name: Decision['via']): string => String(decisions.filter((d) => d.via === name).length)
  const rows: [string, string, string][] = [
    ['requests answered by the server (any status)', String(answered), `${(answered / serving).toFixed(0)}/s over the ${serving.toFixed(1)} s of ${elapsed.toFixed(1)} s the server was up`],
    ['  writes acknowledged', String(acks.length - 1), `POST /v1/nodes ${acks.filter((a) => a.route === '/v1/nodes').length}, POST /v1/batch ${acks.filter((a) => a.route === '/v1/batch').length - 1}`],
    ['  writes refused as conflicts (404/409)', String(conflicts), 'a grant or revocation after a write of unknown outcome'],
    ['  decisions', String(decisions.length), `allowed ${allowed}; /v1/check ${via('check')}, ext_authz ${via('ext_authz')}, gRPC ${via('grpc')}`],
    ['errors seen by clients', String(errors.total), 'by kind below'],
    ['writes of unknown outcome', String(unknown.length), `committed after all: ${v.unknownCommitted}`],
    ['changelog', String(v.changes), `revisions 1..${v.finalRevision}, ${v.gaps.length === 0 ? 'no gaps' : `gaps at ${v.gaps.slice(0, 10).join(', ')}`}, ${v.replayError === undefined ? 'replayed' : `replay failed: ${v.replayError}`}`],
    ['acknowledged writes lost', String(v.lost.length), 'must be 0'],
    ['allows checked against the replay', String(v.checkedAllows), 'every allow'],
    ['denies checked against the replay', String(v.checkedDenies), 'POST /v1/check denies (they carry their revision)'],
    ['decisions at a revision not in the changelog', String(v.unknownRevision.length), 'must be 0'],
    ['bad allows (the policy at their revision denies)', String(v.badAllows.length), 'must be 0'],
    ['bad denies (the policy at their revision allows)', String(v.badDenies.length), 'must be 0'],
    ['workers that outlived their primary', String(kills.reduce((n, k) => n + k.orphans, 0)), 'must be 0']
  ]
  out.push(table(['', 'count', ''], rows))
  out.push('')
  out.push('latency of answered requests, ms (one request at a time per client)')
  out.push(table(['request', 'answered', 'p50', 'p99', 'max'], [...latency].sort((a, b) => a[0].localeCompare(b[0])).map(([what, list]) => {
    list.sort((a, b) => a - b)
    return [what, String(list.length), fmt(quantile(list, 0.5)), fmt(quantile(list, 0.99)), fmt(list[list.length - 1])]
  })))
  out.push('')
  out.push('errors seen by clients, by kind')
  out.push(table(['client: error', 'count'], [...errors.counts].sort((a, b) => b[1] - a[1]).map(([kind, n]) => [kind, String(n)])))
  for (const l of v.lost.slice(0, 10)) out.push(`LOST ${l.name} (revision ${l.revision}): ${l.why}`)
  for (const d of [...v.badAllows, ...v.badDenies, ...v.unknownRevision].slice(0, 10)) out.push(`BAD ${JSON.stringify(d)}`)
  process.stdout.write(out.join('\n') + '\n')

  const failed = v.lost.length > 0 || v.badAllows.length > 0 || v.badDenies.length > 0 || v.unknownRevision.length > 0 ||
    v.gaps.length > 0 || v.replayError !== undefined || kills.some((k) => k.orphans > 0) || kills.length < CYCLES
  if (KEEP || failed) log(`kept ${dir} (policy.db, server.log)`)
  else rmSync(dir, { recursive: true, force: true })
  return failed ? 1 : 0
}

process.exitCode = await main()
