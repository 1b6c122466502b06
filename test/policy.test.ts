// The library as users import it: by the package name, through package.json's exports map
// (resolved to the build in dist/, which npm test makes first).
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { openPolicy, NgacError, type PolicyDocument } from 'ngac-pdp'

const doc: PolicyDocument = {
  resourceRights: ['read', 'write'],
  nodes: [
    { name: 'RBAC', type: 'PC' },
    { name: 'staff', type: 'UA' },
    { name: 'editors', type: 'UA' },
    { name: 'alice', type: 'U', properties: { email: 'alice@example.com' } },
    { name: 'bob', type: 'U' },
    { name: 'docs', type: 'OA' },
    { name: 'report', type: 'O' },
    { name: 'salaries', type: 'O' }
  ],
  assignments: [
    ['staff', 'RBAC'], ['editors', 'staff'], ['alice', 'editors'], ['bob', 'staff'],
    ['docs', 'RBAC'], ['report', 'docs'], ['salaries', 'docs']
  ],
  associations: [
    { ua: 'staff', target: 'docs', rights: ['read'] },
    { ua: 'editors', target: 'docs', rights: ['write'] }
  ],
  prohibitions: [
    { name: 'no-salaries', subject: 'staff', rights: ['read', 'write'], intersection: true, containers: [{ name: 'salaries', complement: false }] }
  ]
}

t.test('openPolicy: replace, check, privileges, review queries, explain, close', async (t) => {
  const policy = openPolicy({ db: ':memory:' })
  t.equal(policy.revision, 0)
  t.equal(policy.replace(doc), 1)
  t.same(policy.check({ user: 'alice', right: 'write', target: 'report' }), { allowed: true, revision: 1 })
  t.same(policy.check({ user: 'bob', right: 'write', target: 'report' }), { allowed: false, revision: 1 })
  t.same(policy.check({ user: 'alice', rights: ['read', 'write'], target: 'report' }).allowed, true)
  t.same(policy.check({ user: 'bob', rights: ['read', 'write'], target: 'report' }).allowed, false)
  t.same(policy.privileges({ user: 'alice', target: 'report' }), ['read', 'write'])
  t.same(policy.privileges({ user: 'alice', target: 'salaries' }), [])
  t.same(policy.deniedPrivileges({ user: 'alice', target: 'salaries' }), ['read', 'write'])
  t.same(policy.capabilities({ user: 'bob' }), [
    { target: 'docs', privileges: ['read'] },
    { target: 'report', privileges: ['read'] }
  ])
  t.same(policy.acl({ target: 'report' }), [
    { user: 'alice', privileges: ['read', 'write'] },
    { user: 'bob', privileges: ['read'] }
  ])
  const e = policy.explain({ user: 'alice', target: 'salaries' })
  t.same(e.privileges, [])
  t.same(e.policyClasses.map((pc) => [pc.name, pc.privileges]), [['RBAC', ['read', 'write']]])
  t.same(e.prohibitions, [{ name: 'no-salaries', rights: ['read', 'write'] }])
  t.equal(e.revision, 1)
  policy.close()
  t.throws(() => policy.check({ user: 'alice', right: 'read', target: 'report' }), { code: 'NGAC_ERR_STORE_CLOSED' })
})

t.test('anonymous users and objects, by their attributes', async (t) => {
  const policy = openPolicy({ policy: doc })
  t.equal(policy.check({ userAttributes: ['editors'], right: 'write', targetAttributes: ['docs'] }).allowed, true)
  t.equal(policy.check({ userAttributes: ['staff'], right: 'write', targetAttributes: ['docs'] }).allowed, false)
  t.equal(policy.check({ userAttributes: ['nobody'], right: 'read', target: 'report' }).allowed, false)
})

t.test('unknown names deny; malformed requests throw NGAC_ERR_VALIDATION', async (t) => {
  const policy = openPolicy({ policy: doc })
  t.same(policy.check({ user: 'mallory', right: 'read', target: 'report' }), { allowed: false, revision: 1 })
  t.same(policy.check({ user: 'alice', right: 'read', target: 'nowhere' }), { allowed: false, revision: 1 })
  t.same(policy.check({ user: 'alice', right: 'teleport', target: 'report' }), { allowed: false, revision: 1 })
  t.same(policy.check({ user: 'staff', right: 'read', target: 'report' }).allowed, false, 'a UA is not a user')
  t.same(policy.privileges({ user: 'alice', target: 'RBAC' }), [], 'a policy class is no target')
  t.same(policy.capabilities({ user: 'mallory' }), [])
  t.same(policy.acl({ target: 'nowhere' }), [])
  const bad = [
    { right: 'read', target: 'report' },
    { user: 'alice', target: 'report' },
    { user: 'alice', userAttributes: ['staff'], right: 'read', target: 'report' },
    { user: 'alice', right: 'read' },
    { user: 'alice', rights: [], target: 'report' },
    { user: 42, right: 'read', target: 'report' }
  ]
  for (const request of bad) {
    t.throws(() => policy.check(request as never), { code: 'NGAC_ERR_VALIDATION' }, JSON.stringify(request))
  }
})

t.test('replace is atomic: a bad document changes nothing', async (t) => {
  const policy = openPolicy({ policy: doc })
  const before = policy.export()
  const err = t.throws(() => policy.replace({ ...doc, assignments: [...doc.assignments ?? [], ['ghost', 'docs']] }))
  t.ok(err instanceof NgacError && err.code === 'NGAC_ERR_POLICY_FILE')
  t.equal(policy.revision, 1)
  t.same(policy.export(), before)
  t.equal(policy.check({ user: 'alice', right: 'read', target: 'report' }).allowed, true)
})

t.test('a database file keeps the policy and its changes across opens', async (t) => {
  const db = join(mkdtempSync(join(tmpdir(), 'ngac-policy-')), 'nested', 'ngac.db')
  const first = openPolicy({ db, policy: doc })
  t.same(first.apply([
    { op: 'createNode', name: 'carol', type: 'U', parents: ['editors'] },
    { op: 'assign', child: 'salaries', parent: 'RBAC' },
    { op: 'deassign', child: 'salaries', parent: 'docs' }
  ], { actor: 'test' }), { revision: 2 })
  t.throws(() => first.apply([{ op: 'assign', child: 'carol', parent: 'nowhere' }]), { code: 'NGAC_ERR_NODE_NOT_FOUND' })
  first.close()
  const second = openPolicy({ db })
  t.equal(second.revision, 2)
  t.equal(second.check({ user: 'carol', right: 'write', target: 'report' }).allowed, true)
  t.same(second.graph.parentsOf('salaries'), ['RBAC'])
  t.same(second.changes().map((c) => [c.revision, c.actor, c.operations.map((o) => o.op)]), [
    [1, null, ['replacePolicy']],
    [2, 'test', ['createNode', 'assign', 'deassign']]
  ])
  second.close()
})

t.test('two policies over one file: each catches up with the other\'s writes', async (t) => {
  const db = join(mkdtempSync(join(tmpdir(), 'ngac-policy-')), 'ngac.db')
  const a = openPolicy({ db, policy: doc })
  const b = openPolicy({ db })
  t.teardown(() => { a.close(); b.close() })
  t.equal(b.revision, 1)

  a.apply([{ op: 'createNode', name: 'memo', type: 'O', parents: ['docs'] }])
  t.equal(b.check({ user: 'alice', right: 'read', target: 'memo' }).allowed, false, 'b has not looked yet')
  t.equal(b.sync(), true, 'b replays the changelog')
  t.same(b.check({ user: 'alice', right: 'read', target: 'memo' }), { allowed: true, revision: 2 })
  t.equal(b.sync(), false, 'nothing new')

  // b writes without having seen a's latest write: it catches up first, and neither is lost.
  a.apply([{ op: 'createNode', name: 'memo2', type: 'O', parents: ['docs'] }])
  t.same(b.apply([{ op: 'createNode', name: 'memo3', type: 'O', parents: ['docs'] }]), { revision: 4 })
  t.ok(b.graph.hasNode('memo2') && b.graph.hasNode('memo3'))
  t.same(a.apply([{ op: 'assign', child: 'memo3', parent: 'RBAC' }]), { revision: 5 }, 'a catches up before its write too')
  t.same(a.changes().map((c) => c.revision), [1, 2, 3, 4, 5], 'one changelog, revisions in order')

  // A write refused after catching up applies nothing, anywhere.
  t.throws(() => a.apply([{ op: 'createNode', name: 'memo3', type: 'O', parents: ['docs'] }]), { code: 'NGAC_ERR_NODE_EXISTS' })
  t.equal(a.revision, 5)

  // A replacement on one side is a reload on the other.
  const waited = b.waitForRevision(6, 5000)
  a.replace({ ...doc, nodes: [...doc.nodes ?? [], { name: 'fresh', type: 'O' }], assignments: [...doc.assignments ?? [], ['fresh', 'docs']] })
  t.equal(b.sync(), true)
  t.equal(await waited, true, 'waiting for a revision ends when sync reaches it')
  t.equal(b.revision, 6)
  t.equal(b.graph.hasNode('memo'), false)
  t.equal(b.check({ user: 'alice', right: 'read', target: 'fresh' }).allowed, true)
  t.same(b.export(), a.export())
})

t.test('follow: a policy notices another connection\'s commit by itself', async (t) => {
  const db = join(mkdtempSync(join(tmpdir(), 'ngac-policy-')), 'ngac.db')
  const writer = openPolicy({ db, policy: doc })
  const follower = openPolicy({ db })
  t.teardown(() => { writer.close(); follower.close() })
  follower.follow(5)
  const { revision } = writer.apply([{ op: 'createNode', name: 'memo', type: 'O', parents: ['docs'] }])
  t.equal(await follower.waitForRevision(revision, 10_000), true)
  t.equal(follower.check({ user: 'alice', right: 'read', target: 'memo' }).allowed, true)
})
