import t from 'tap'
import { PolicyGraph } from '../../src/graph/index.js'
import type { ProhibitionInfo } from '../../src/graph/index.js'
import type { Subject, Target } from '../../src/pdp/evaluator.js'
import { ReferenceEvaluator } from '../../src/pdp/reference-evaluator.js'

function user (graph: PolicyGraph, name: string, process?: string): Subject {
  return { user: graph.idOf(name), attributes: [], process }
}

function anonymousUser (graph: PolicyGraph, attributes: string[], process?: string): Subject {
  return { user: -1, attributes: attributes.map((a) => graph.idOf(a)), process }
}

function node (graph: PolicyGraph, name: string): Target {
  return { target: graph.idOf(name), attributes: [] }
}

function anonymousTarget (graph: PolicyGraph, attributes: string[]): Target {
  return { target: -1, attributes: attributes.map((a) => graph.idOf(a)) }
}

/**
 * Two policy classes:
 *   RBAC:  staff -> RBAC, alice -> staff, docs -> RBAC; staff on docs: read, write
 *   Level: cleared -> Level, alice -> cleared, secret -> Level; cleared on secret: read
 *   report -> docs, secret; memo -> docs; loose (OA) -> RBAC only
 */
function twoClasses (): PolicyGraph {
  const g = new PolicyGraph()
  g.setResourceRights(['read', 'write', 'execute'])
  g.createNode('RBAC', 'PC')
  g.createNode('Level', 'PC')
  g.createNode('staff', 'UA', ['RBAC'])
  g.createNode('cleared', 'UA', ['Level'])
  g.createNode('alice', 'U', ['staff', 'cleared'])
  g.createNode('bob', 'U', ['staff'])
  g.createNode('docs', 'OA', ['RBAC'])
  g.createNode('secret', 'OA', ['Level'])
  g.createNode('report', 'O', ['docs', 'secret'])
  g.createNode('memo', 'O', ['docs'])
  g.associate('staff', 'docs', ['read', 'write'])
  g.associate('cleared', 'secret', ['read'])
  return g
}

t.test('multiple policy classes: the intersection of what each class grants', async (t) => {
  const g = twoClasses()
  const e = new ReferenceEvaluator(g)
  t.strictSame(g.rights.names(e.privileges(user(g, 'alice'), node(g, 'report'))), ['read'])
  t.strictSame(g.rights.names(e.privileges(user(g, 'bob'), node(g, 'report'))), [], 'Level grants bob nothing')
  t.strictSame(g.rights.names(e.privileges(user(g, 'alice'), node(g, 'memo'))), ['read', 'write'], 'memo is in RBAC only')
  t.strictSame(e.policyClassesOf(node(g, 'report')).map((id) => g.nameOf(id)), ['RBAC', 'Level'])
  t.strictSame(g.rights.names(e.grantedIn(user(g, 'alice'), node(g, 'report'), g.idOf('RBAC'))), ['read', 'write'])
  t.strictSame(g.rights.names(e.grantedIn(user(g, 'alice'), node(g, 'report'), g.idOf('Level'))), ['read'])
})

t.test('the association ua need not be under the policy class; the target must be', async (t) => {
  const g = twoClasses()
  // cleared (in Level) on docs (in RBAC): serves RBAC.
  g.associate('cleared', 'docs', ['execute'])
  const e = new ReferenceEvaluator(g)
  t.strictSame(g.rights.names(e.privileges(user(g, 'alice'), node(g, 'memo'))), ['execute', 'read', 'write'])
  t.strictSame(g.rights.names(e.privileges(user(g, 'alice'), node(g, 'report'))), ['read'], 'Level grants no delete on report')
})

t.test('a node is inside itself as an association target', async (t) => {
  const g = twoClasses()
  const e = new ReferenceEvaluator(g)
  t.strictSame(g.rights.names(e.privileges(user(g, 'bob'), node(g, 'docs'))), ['read', 'write'])
})

t.test('an object in no policy class has no privileges', async (t) => {
  const g = twoClasses()
  const e = new ReferenceEvaluator(g)
  const nowhere = anonymousTarget(g, [])
  t.strictSame(e.policyClassesOf(nowhere), [])
  t.strictSame(g.rights.names(e.privileges(user(g, 'alice'), nowhere)), [])
  t.strictSame(g.rights.names(e.granted(user(g, 'alice'), nowhere)), [])
  // A user-side node is in a PC too, but nobody is associated with it here.
  t.strictSame(g.rights.names(e.privileges(user(g, 'alice'), node(g, 'staff'))), [])
})

t.test('a PC target yields empty masks', async (t) => {
  const g = twoClasses()
  g.createProhibition({ name: 'outside', subject: 'alice', rights: ['read'], intersection: true, containers: [{ name: 'docs', complement: true }] })
  const e = new ReferenceEvaluator(g)
  t.strictSame(g.rights.names(e.privileges(user(g, 'alice'), node(g, 'RBAC'))), [])
  t.strictSame(g.rights.names(e.denied(user(g, 'alice'), node(g, 'RBAC'))), [])
  t.same(e.acl(node(g, 'RBAC')).size, 0)
  t.notOk(e.capabilities(user(g, 'alice')).has(g.idOf('RBAC')))
})

t.test('unknown and deleted ids yield empty masks, never an error', async (t) => {
  const g = twoClasses()
  g.createNode('temp', 'O', ['docs'])
  const temp = g.idOf('temp')
  g.deleteNode('temp')
  const e = new ReferenceEvaluator(g)
  const alice = user(g, 'alice')
  const report = node(g, 'report')
  const unknowns: [Subject, Target, string][] = [
    [{ user: 999, attributes: [], process: undefined }, report, 'user id past the graph'],
    [{ user: temp, attributes: [], process: undefined }, report, 'deleted user id'],
    [{ user: g.idOf('staff'), attributes: [], process: undefined }, report, 'a UA given as the user'],
    [{ user: -2, attributes: [], process: undefined }, report, 'negative user id'],
    [{ user: -1, attributes: [], process: undefined }, report, 'anonymous user with no attributes'],
    [alice, { target: 999, attributes: [] }, 'target id past the graph'],
    [alice, { target: temp, attributes: [] }, 'deleted target id'],
    [alice, { target: -1, attributes: [] }, 'anonymous target with no attributes']
  ]
  for (const [subject, target, what] of unknowns) {
    t.strictSame(g.rights.names(e.privileges(subject, target)), [], what)
    t.strictSame(g.rights.names(e.denied(subject, target)), [], `${what}: denied`)
  }
  t.same(e.capabilities({ user: 999, attributes: [], process: undefined }).size, 0)
  t.same(e.acl({ target: 999, attributes: [] }).size, 0)
})

t.test('anonymous user and anonymous target', async (t) => {
  const g = twoClasses()
  const e = new ReferenceEvaluator(g)
  t.strictSame(g.rights.names(e.privileges(anonymousUser(g, ['staff', 'cleared']), node(g, 'report'))), ['read'])
  t.strictSame(g.rights.names(e.privileges(anonymousUser(g, ['staff']), node(g, 'memo'))), ['read', 'write'])
  t.strictSame(g.rights.names(e.privileges(anonymousUser(g, ['staff', 'docs', 'alice']), node(g, 'memo'))), ['read', 'write'],
    'ids that are not UAs are ignored')
  t.strictSame(g.rights.names(e.privileges(anonymousUser(g, ['docs']), node(g, 'memo'))), [], 'only non-UA attributes')

  t.strictSame(g.rights.names(e.privileges(user(g, 'alice'), anonymousTarget(g, ['docs', 'secret']))), ['read'])
  t.strictSame(g.rights.names(e.privileges(user(g, 'alice'), anonymousTarget(g, ['docs']))), ['read', 'write'])
  t.strictSame(g.rights.names(e.privileges(user(g, 'alice'), anonymousTarget(g, ['docs', 'staff', 'memo']))), ['read', 'write'],
    'ids that are not OAs or PCs are ignored')
  t.strictSame(g.rights.names(e.privileges(user(g, 'alice'), anonymousTarget(g, ['docs', 'Level']))), [],
    'assigned directly to Level, where nothing is granted on it')
  t.strictSame(g.rights.names(e.privileges(anonymousUser(g, ['cleared']), anonymousTarget(g, ['secret']))), ['read'])

  const caps = e.capabilities(anonymousUser(g, ['cleared']))
  t.strictSame([...caps.keys()].map((id) => g.nameOf(id)), ['secret'], 'report is also in RBAC, where cleared has nothing')
})

t.test('prohibitions of every kind', async (t) => {
  const build = (p: ProhibitionInfo): { g: PolicyGraph, e: ReferenceEvaluator } => {
    const g = twoClasses()
    g.createNode('private', 'OA', ['docs'])
    g.createNode('diary', 'O', ['private'])
    g.createProhibition(p)
    return { g, e: new ReferenceEvaluator(g) }
  }
  const rights = ['write']
  const within = (name: string, complement = false): { name: string, complement: boolean } => ({ name, complement })

  t.test('user subject', async (t) => {
    const { g, e } = build({ name: 'p', subject: 'alice', rights, intersection: true, containers: [within('private')] })
    t.strictSame(g.rights.names(e.denied(user(g, 'alice'), node(g, 'diary'))), ['write'])
    t.strictSame(g.rights.names(e.privileges(user(g, 'alice'), node(g, 'diary'))), ['read'])
    t.strictSame(g.rights.names(e.privileges(user(g, 'alice'), node(g, 'memo'))), ['read', 'write'], 'memo is outside the container')
    t.strictSame(g.rights.names(e.privileges(user(g, 'bob'), node(g, 'diary'))), ['read', 'write'], 'binds alice only')
    t.strictSame(g.rights.names(e.denied(user(g, 'alice'), node(g, 'private'))), ['write'], 'a container includes itself')
  })

  t.test('user attribute subject binds every user contained in it', async (t) => {
    const { g, e } = build({ name: 'p', subject: 'staff', rights, intersection: true, containers: [within('private')] })
    t.strictSame(g.rights.names(e.privileges(user(g, 'alice'), node(g, 'diary'))), ['read'])
    t.strictSame(g.rights.names(e.privileges(user(g, 'bob'), node(g, 'diary'))), ['read'])
    t.strictSame(g.rights.names(e.privileges(anonymousUser(g, ['staff']), node(g, 'diary'))), ['read'])
    t.strictSame(g.rights.names(e.privileges(anonymousUser(g, ['cleared']), node(g, 'diary'))), [], 'cleared has nothing on diary anyway')
    t.strictSame(g.rights.names(e.denied(anonymousUser(g, ['cleared']), node(g, 'diary'))), [], 'cleared is not in staff')
  })

  t.test('process subject binds only the subject acting through that process', async (t) => {
    const { g, e } = build({ name: 'p', subject: { process: 'p1' }, rights, intersection: true, containers: [within('private')] })
    t.strictSame(g.rights.names(e.privileges(user(g, 'alice', 'p1'), node(g, 'diary'))), ['read'])
    t.strictSame(g.rights.names(e.privileges(user(g, 'alice', 'p2'), node(g, 'diary'))), ['read', 'write'])
    t.strictSame(g.rights.names(e.privileges(user(g, 'alice'), node(g, 'diary'))), ['read', 'write'])
    t.strictSame(g.rights.names(e.privileges(anonymousUser(g, ['staff'], 'p1'), node(g, 'diary'))), ['read'])
    t.strictSame(g.rights.names(e.acl(node(g, 'diary'), 'p1').get(g.idOf('bob')) ?? g.rights.empty()), ['read'])
    t.strictSame(g.rights.names(e.acl(node(g, 'diary')).get(g.idOf('bob')) ?? g.rights.empty()), ['read', 'write'])
  })

  t.test('intersection with a complement container', async (t) => {
    // In docs and not in private.
    const { g, e } = build({ name: 'p', subject: 'alice', rights, intersection: true, containers: [within('docs'), within('private', true)] })
    t.strictSame(g.rights.names(e.denied(user(g, 'alice'), node(g, 'memo'))), ['write'])
    t.strictSame(g.rights.names(e.denied(user(g, 'alice'), node(g, 'diary'))), [])
    t.strictSame(g.rights.names(e.denied(user(g, 'alice'), node(g, 'private'))), [], 'private is inside itself')
    t.strictSame(g.rights.names(e.denied(user(g, 'alice'), node(g, 'secret'))), [], 'secret is not in docs')
  })

  t.test('union of containers', async (t) => {
    // In private, or in secret.
    const { g, e } = build({ name: 'p', subject: 'alice', rights, intersection: false, containers: [within('private'), within('secret')] })
    t.strictSame(g.rights.names(e.denied(user(g, 'alice'), node(g, 'diary'))), ['write'])
    t.strictSame(g.rights.names(e.denied(user(g, 'alice'), node(g, 'report'))), ['write'])
    t.strictSame(g.rights.names(e.denied(user(g, 'alice'), node(g, 'memo'))), [])
  })

  t.test('union with a complement container', async (t) => {
    // Outside docs, or in private.
    const { g, e } = build({ name: 'p', subject: 'alice', rights, intersection: false, containers: [within('docs', true), within('private')] })
    t.strictSame(g.rights.names(e.denied(user(g, 'alice'), node(g, 'secret'))), ['write'])
    t.strictSame(g.rights.names(e.denied(user(g, 'alice'), node(g, 'diary'))), ['write'])
    t.strictSame(g.rights.names(e.denied(user(g, 'alice'), node(g, 'memo'))), [])
    t.strictSame(g.rights.names(e.denied(user(g, 'alice'), anonymousTarget(g, []))), ['write'],
      'an anonymous target with no attributes is outside every container')
    t.strictSame(g.rights.names(e.denied(user(g, 'alice'), anonymousTarget(g, ['private']))), ['write'],
      'an anonymous target is inside the containers of its attributes')
  })

  t.test('a UA container on the user side', async (t) => {
    const { g, e } = build({ name: 'p', subject: 'bob', rights: ['read'], intersection: true, containers: [within('cleared')] })
    g.associate('staff', 'cleared', ['read'])
    t.strictSame(g.rights.names(e.privileges(user(g, 'alice'), node(g, 'cleared'))), ['read'])
    t.strictSame(g.rights.names(e.granted(user(g, 'bob'), node(g, 'cleared'))), ['read'])
    t.strictSame(g.rights.names(e.privileges(user(g, 'bob'), node(g, 'cleared'))), [])
    t.strictSame(g.rights.names(e.privileges(user(g, 'alice'), node(g, 'alice'))), [], 'RBAC grants nothing on alice')
  })
})

t.test('capabilities and acl list every node and user with non-empty privileges', async (t) => {
  const g = twoClasses()
  const e = new ReferenceEvaluator(g)
  const caps = [...e.capabilities(user(g, 'alice'))].map(([id, m]) => [g.nameOf(id), g.rights.names(m)])
  t.strictSame(caps.sort(), [['docs', ['read', 'write']], ['memo', ['read', 'write']], ['report', ['read']], ['secret', ['read']]])
  const acl = [...e.acl(node(g, 'memo'))].map(([id, m]) => [g.nameOf(id), g.rights.names(m)])
  t.strictSame(acl.sort(), [['alice', ['read', 'write']], ['bob', ['read', 'write']]])
  const anonymousAcl = [...e.acl(anonymousTarget(g, ['secret']))].map(([id, m]) => [g.nameOf(id), g.rights.names(m)])
  t.strictSame(anonymousAcl, [['alice', ['read']]])
})

t.test('masks are fresh: the caller may modify them', async (t) => {
  const g = twoClasses()
  const e = new ReferenceEvaluator(g)
  const first = e.privileges(user(g, 'alice'), node(g, 'memo'))
  first.fill(0)
  t.strictSame(g.rights.names(e.privileges(user(g, 'alice'), node(g, 'memo'))), ['read', 'write'])
})
