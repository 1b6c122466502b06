// Concurrency over real HTTP (issue 9): a real server on 127.0.0.1 over a real SQLite file, with
// many writers (POST /v1/batch, some batches deliberately invalid) and readers (POST
// /v1/check/batch, GET /v1/revision) at once; then two apps (two "workers", each with its own
// Policy) over the same file, writing and reading at once.
//
// Each valid batch creates an object under `limbo` (where alice may write) and grants alice read
// on it through a new attribute, in one batch: a decision that sees the object (write) but not the
// grant (read), or the reverse, saw half a batch. Invalid batches end with an assignment to a node
// that does not exist, so nothing of them may ever be seen.
//
// Asserted: every acknowledged write has its own revision, strictly increasing per writer, and
// together they are 1..N with no gap; each is in GET /v1/changes as it was sent and in the final
// export, refused ones nowhere; every decision answered matches the policy at the revision it
// reports, rebuilt by replaying the changelog and asked of the reference evaluator.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import type { App } from '../../src/app.js'
import { applyOperations, loadPolicy, type Operation, type PolicyDocument, type PolicyGraph } from '../../src/graph/index.js'
import { ReferenceEvaluator } from '../../src/pdp/reference-evaluator.js'
import { build, tempDir } from './helper.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const WRITERS = 6
const BATCHES = 10
const READERS = 4

const INITIAL: PolicyDocument = {
  resourceRights: ['read', 'write'],
  nodes: [
    { name: 'RBAC', type: 'PC' },
    { name: 'staff', type: 'UA' },
    { name: 'alice', type: 'U' },
    { name: 'limbo', type: 'OA' },
    { name: 'shared', type: 'O' }
  ],
  assignments: [['staff', 'RBAC'], ['alice', 'staff'], ['limbo', 'RBAC'], ['shared', 'limbo']],
  associations: [{ ua: 'staff', target: 'limbo', rights: ['write'] }],
  prohibitions: []
}

interface Planned {
  readonly writer: number
  readonly step: number
  readonly object: string
  /** An invalid batch: its last operation names a node that does not exist. */
  readonly invalid: boolean
  readonly operations: Operation[]
}

/** Writer w's batches; every third one (from the second) is invalid. */
function plan (writer: number): Planned[] {
  return Array.from({ length: BATCHES }, (_, step) => {
    const object = `obj-${writer}-${step}`
    const box = `box-${writer}-${step}`
    const invalid = step % 3 === 1
    const operations: Operation[] = [
      { op: 'createNode', name: object, type: 'O', parents: ['limbo'] },
      { op: 'createNode', name: box, type: 'OA', parents: ['RBAC'] },
      { op: 'associate', ua: 'staff', target: box, rights: ['read'] },
      { op: 'assign', child: object, parent: box },
      // Every writer overwrites the same node: the last acknowledged write must be what stays.
      { op: 'setProperties', name: 'shared', properties: { writer: String(writer), step: String(step) } }
    ]
    if (invalid) operations.push({ op: 'assign', child: object, parent: `missing-${writer}-${step}` })
    return { writer, step, object, invalid, operations }
  })
}

interface Ack {
  readonly planned: Planned
  readonly revision: number
}

interface Decision {
  readonly revision: number
  readonly object: string
  readonly write: boolean
  readonly read: boolean
}

async function http (base: string, method: string, path: string, body?: unknown): Promise<{ status: number, body: Json }> {
  const res = await fetch(base + path, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  })
  return { status: res.status, body: await res.json() }
}

async function listen (t: Test, db: string): Promise<{ app: App, base: string }> {
  // No load shedding: its 503s depend on how busy the machine is, not on the writes.
  const app = await build(t, { db, limits: { maxEventLoopDelayMs: 0 } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, base: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` }
}

/** Runs the writers (writer w against bases[w % n]) and the readers (reader r against bases[r % n]) at once. */
async function run (t: Test, bases: readonly string[]): Promise<{ acks: Ack[], refused: Planned[], decisions: Decision[], plans: Planned[][] }> {
  const plans = Array.from({ length: WRITERS }, (_, w) => plan(w))
  const objects = plans.flat().map((p) => p.object)
  const acks: Ack[] = []
  const refused: Planned[] = []
  const decisions: Decision[] = []
  let writing = true

  const writer = async (w: number): Promise<void> => {
    const base = bases[w % bases.length]
    let last = 0
    for (const planned of plans[w]) {
      const res = await http(base, 'POST', '/v1/batch', { operations: planned.operations })
      if (planned.invalid) {
        t.equal(res.status, 404, `writer ${w} step ${planned.step}: refused`)
        t.equal(res.body.code, 'NGAC_ERR_NODE_NOT_FOUND')
        t.same(res.body.details, { index: planned.operations.length - 1 })
        refused.push(planned)
      } else {
        t.equal(res.status, 200, `writer ${w} step ${planned.step}: acknowledged`)
        t.ok(res.body.revision > last, `writer ${w}: revision ${res.body.revision} after ${last}`)
        last = res.body.revision
        acks.push({ planned, revision: res.body.revision })
      }
    }
  }

  const reader = async (r: number): Promise<void> => {
    const base = bases[r % bases.length]
    let lastRevision = 0
    // Reads while anything is written, then once more.
    for (let more = true; more;) {
      more = writing
      const checks = objects.flatMap((target) => [{ user: 'alice', right: 'write', target }, { user: 'alice', right: 'read', target }])
      const res = await http(base, 'POST', '/v1/check/batch', { checks })
      t.equal(res.status, 200)
      const results = res.body.results as { allowed: boolean }[]
      objects.forEach((object, i) => decisions.push({ revision: res.body.revision, object, write: results[2 * i].allowed, read: results[2 * i + 1].allowed }))
      const revision = await http(base, 'GET', '/v1/revision')
      if (revision.body.revision < lastRevision) t.fail(`reader ${r}: the revision went back from ${lastRevision} to ${revision.body.revision}`)
      lastRevision = revision.body.revision
    }
  }

  const readers = Array.from({ length: READERS }, (_, r) => reader(r))
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)))
  writing = false
  await Promise.all(readers)
  return { acks, refused, decisions, plans }
}

/** Every changelog entry, following nextSince. */
async function allChanges (base: string): Promise<Json[]> {
  const out: Json[] = []
  for (let since = 0; ;) {
    const res = await http(base, 'GET', `/v1/changes?since=${since}&limit=1000`)
    out.push(...res.body.changes)
    if (res.body.nextSince === undefined) return out
    since = res.body.nextSince
  }
}

/**
 * Checks the run: revisions, the changelog, the final export, and every decision against the
 * policy at its revision (the changelog replayed from INITIAL, asked of the reference evaluator).
 */
async function verify (t: Test, base: string, result: Awaited<ReturnType<typeof run>>): Promise<void> {
  const { acks, refused, decisions } = result
  t.equal(refused.length, WRITERS * Math.ceil((BATCHES - 1) / 3), 'every invalid batch was refused')
  t.equal(acks.length + refused.length, WRITERS * BATCHES, 'every batch was answered')

  // Revision 1 is the initial policy; every acknowledged batch has its own revision after it, with no gap.
  const revisions = acks.map((a) => a.revision).sort((a, b) => a - b)
  t.same(revisions, Array.from({ length: acks.length }, (_, i) => i + 2), 'acknowledged revisions are 2..N, no duplicate, no gap')
  const last = acks.length + 1
  t.same((await http(base, 'GET', '/v1/revision')).body, { revision: last })

  // The changelog holds each acknowledged batch as it was sent, under its revision, and nothing else.
  const changes = await allChanges(base)
  t.same(changes.map((c) => c.revision), Array.from({ length: last }, (_, i) => i + 1), 'the changelog is 1..N')
  for (const ack of acks) t.same(changes[ack.revision - 1].operations, ack.planned.operations, `revision ${ack.revision} is writer ${ack.planned.writer}'s step ${ack.planned.step}`)

  // The export holds every acknowledged object and none refused; the shared node has the last write.
  const exported = (await http(base, 'GET', '/v1/policy')).body as PolicyDocument
  const names = new Set(exported.nodes.map((n) => n.name))
  for (const ack of acks) t.ok(names.has(ack.planned.object), `${ack.planned.object} is in the policy`)
  for (const p of refused) t.notOk(names.has(p.object), `${p.object} (refused) is not`)
  const lastAck = acks.find((a) => a.revision === last) as Ack
  t.same(exported.nodes.find((n) => n.name === 'shared')?.properties, { writer: String(lastAck.planned.writer), step: String(lastAck.planned.step) },
    'the shared node holds the last acknowledged write')

  // No decision saw half a batch, and every one is what the policy at its revision decides.
  const committedAt = new Map(acks.map((a) => [a.planned.object, a.revision]))
  let halves = 0
  let wrong = 0
  for (const d of decisions) {
    if (d.write !== d.read) halves++
    const at = committedAt.get(d.object)
    if (d.read !== (at !== undefined && at <= d.revision)) wrong++
  }
  t.equal(halves, 0, `no decision of ${decisions.length} saw half a batch`)
  t.equal(wrong, 0, 'every decision sees exactly the batches committed at or before its revision')
  t.ok(decisions.some((d) => d.read) && decisions.some((d) => !d.read), 'decisions saw objects both before and after their batch')

  const byRevision = new Map<number, Map<string, Decision>>()
  for (const d of decisions) {
    const at = byRevision.get(d.revision) ?? new Map<string, Decision>()
    at.set(d.object, d)
    byRevision.set(d.revision, at)
  }
  const graph = loadPolicy(INITIAL)
  graph.setRevision(1)
  let mismatches = 0
  let checked = 0
  for (let revision = 1; revision <= last; revision++) {
    if (revision > 1) {
      graph.batch(() => { applyOperations(graph, changes[revision - 1].operations as Operation[]) })
      if (graph.revision !== revision) t.fail(`the replay is at ${graph.revision}, not ${revision}`)
    }
    for (const d of byRevision.get(revision)?.values() ?? []) {
      checked++
      if (allows(graph, d.object, 'write') !== d.write || allows(graph, d.object, 'read') !== d.read) mismatches++
    }
  }
  t.equal(mismatches, 0, `${checked} distinct decisions match the replayed policy at their revision`)
  t.ok(byRevision.size > 1, `decisions were answered at ${byRevision.size} revisions`)
}

function allows (graph: PolicyGraph, object: string, right: string): boolean {
  const target = graph.idOf(object)
  if (target < 0) return false
  const evaluator = new ReferenceEvaluator(graph)
  return evaluator.allows({ user: graph.idOf('alice'), attributes: [], process: undefined }, { target, attributes: [] }, graph.rights.mask([right]))
}

t.test('one server: concurrent writers and readers over HTTP', async (t) => {
  const db = join(tempDir(t), 'ngac.db')
  const { base } = await listen(t, db)
  t.equal((await http(base, 'PUT', '/v1/policy', INITIAL)).body.revision, 1)
  const result = await run(t, [base])
  await verify(t, base, result)
})

t.test('two workers (two apps, each with its own Policy) over one SQLite file', async (t) => {
  const db = join(tempDir(t), 'ngac.db')
  const a = await listen(t, db)
  const b = await listen(t, db)
  t.equal((await http(a.base, 'PUT', '/v1/policy', INITIAL)).body.revision, 1)
  const result = await run(t, [a.base, b.base])
  t.ok(new Set(result.acks.map((ack) => ack.planned.writer % 2)).size === 2, 'both workers acknowledged writes')
  // Each follows the other: both reach the last revision and hold the same policy.
  const last = result.acks.length + 1
  for (const { base } of [a, b]) {
    const caughtUp = await http(base, 'POST', '/v1/check', { user: 'alice', right: 'read', target: 'shared', atLeastRevision: last })
    t.equal(caughtUp.body.revision, last)
  }
  t.same((await http(b.base, 'GET', '/v1/policy')).body, (await http(a.base, 'GET', '/v1/policy')).body, 'both workers serve the same policy')
  await verify(t, a.base, result)
  await verify(t, b.base, result)
})
