// The `ngac` command as users run it: a real child process of the built CLI (npm test builds first).
import { join } from 'node:path'
import t from 'tap'
import { cliRunner } from './cli-helper.js'

const { dir, ngac, file } = cliRunner('ngac-cli-')

const policy = file('policy.json', {
  resourceRights: ['read', 'write'],
  nodes: [
    { name: 'RBAC', type: 'PC' }, { name: 'Secrecy', type: 'PC' },
    { name: 'staff', type: 'UA' }, { name: 'cleared', type: 'UA' },
    { name: 'alice', type: 'U' }, { name: 'bob', type: 'U' },
    { name: 'docs', type: 'OA' }, { name: 'public', type: 'OA' },
    { name: 'report', type: 'O' }
  ],
  assignments: [
    ['staff', 'RBAC'], ['cleared', 'Secrecy'], ['alice', 'staff'], ['alice', 'cleared'], ['bob', 'staff'],
    ['docs', 'RBAC'], ['public', 'Secrecy'], ['report', 'docs'], ['report', 'public']
  ],
  associations: [
    { ua: 'staff', target: 'docs', rights: ['read', 'write'] },
    { ua: 'cleared', target: 'public', rights: ['read'] }
  ],
  prohibitions: [
    { name: 'no-write-by-tool', subject: { process: 'tool' }, rights: ['read'], intersection: true, containers: [{ name: 'docs', complement: false }] }
  ]
})

t.test('an allowed check exits 0 and prints the decision and the privileges', async (t) => {
  const r = ngac('check', 'alice', 'read', 'report', '--policy', policy)
  t.equal(r.status, 0)
  t.match(r.stdout, /^ALLOW: alice may read report$/m)
  t.match(r.stdout, /^privileges of alice on report: read$/m)
})

t.test('a denied check exits 1; the class that blocks is shown with --explain', async (t) => {
  const r = ngac('check', 'bob', 'read', 'report', '--policy', policy, '--explain')
  t.equal(r.status, 1)
  t.match(r.stdout, /^DENY: bob may not read report$/m)
  t.match(r.stdout, /^policy class RBAC: read, write$/m)
  t.match(r.stdout, /^ {2}via bob -> staff -> docs -> report$/m)
  t.match(r.stdout, /^policy class Secrecy: nothing: this class blocks access$/m)
})

t.test('--process binds process prohibitions and --explain names them', async (t) => {
  const r = ngac('check', 'alice', 'read', 'report', '--policy', policy, '--process', 'tool', '--explain')
  t.equal(r.status, 1)
  t.match(r.stdout, /^prohibition no-write-by-tool denies: read$/m)
})

t.test('unknown users, targets and rights are denies, not errors', async (t) => {
  t.equal(ngac('check', 'mallory', 'read', 'report', '--policy', policy).status, 1)
  t.equal(ngac('check', 'alice', 'read', 'nothing', '--policy', policy).status, 1)
  t.equal(ngac('check', 'alice', 'fly', 'report', '--policy', policy).status, 1)
})

t.test('bad input exits 2 with a message that says what to fix', async (t) => {
  const missing = ngac('check', 'alice', 'read', 'report', '--policy', join(dir, 'absent.json'))
  t.equal(missing.status, 2)
  t.match(missing.stderr, /cannot read .*absent\.json: ENOENT/)

  const notJson = ngac('check', 'alice', 'read', 'report', '--policy', file('bad.json', '{"nodes": ['))
  t.equal(notJson.status, 2)
  t.match(notJson.stderr, /NGAC_ERR_POLICY_FILE/)

  const invalid = ngac('check', 'alice', 'read', 'report', '--policy', file('invalid.json', {
    nodes: [{ name: 'RBAC', type: 'PC' }, { name: 'docs', type: 'OA' }],
    assignments: [['docs', 'RBAC'], ['x', 'docs']]
  }))
  t.equal(invalid.status, 2)
  t.match(invalid.stderr, /assignments\[1\]/)
  t.match(invalid.stderr, /'x'/)

  t.equal(ngac('check', 'alice', 'read', '--policy', policy).status, 2, 'too few arguments')
  t.equal(ngac('check', 'alice', 'read', 'report').status, 2, 'no --policy and no database')
  t.equal(ngac('check', 'alice', 'read', 'report', '--policy', policy, '--db', 'x.db').status, 2, 'both --policy and --db')
  t.equal(ngac('check', 'alice', 'read', 'report', '--policy', policy, '--bogus').status, 2, 'unknown flag')
  t.equal(ngac('check', 'alice', 'read', 'report', '--policy', policy, '--format', 'xml').status, 2, 'unknown format')
  t.equal(ngac('frobnicate').status, 2, 'unknown command')
})

t.test('help', async (t) => {
  const r = ngac('help')
  t.equal(r.status, 0)
  t.match(r.stdout, /ngac check USER RIGHT TARGET \(--db FILE \| --policy FILE\)/)
})

t.test('import into a database, check against it, export it and back it up', async (t) => {
  const db = join(dir, 'store', 'ngac.db')
  const imported = ngac('import', policy, '--db', db)
  t.equal(imported.status, 0, imported.stderr)
  t.match(imported.stdout, /revision 1, 9 nodes/)
  t.equal(ngac('check', 'alice', 'read', 'report', '--db', db).status, 0)
  t.equal(ngac('check', 'bob', 'read', 'report', '--db', db).status, 1)

  const exported = ngac('export', '--db', db)
  t.equal(exported.status, 0)
  const doc = JSON.parse(exported.stdout) as { nodes: unknown[], associations: unknown[], prohibitions: unknown[] }
  t.equal(doc.nodes.length, 9)
  t.equal(doc.associations.length, 2)
  t.equal(doc.prohibitions.length, 1)

  const copy = join(dir, 'backups', 'copy.db')
  const backed = ngac('backup', '--db', db, '--to', copy)
  t.equal(backed.status, 0, backed.stderr)
  t.match(backed.stdout, /at revision 1/)
  t.equal(ngac('check', 'alice', 'read', 'report', '--db', copy).status, 0, 'the backup answers the same')
  t.same(JSON.parse(ngac('export', '--db', copy).stdout), doc)

  const again = ngac('import', policy, '--db', db)
  t.match(again.stdout, /revision 2/, 'a second import is the next revision')
})

t.test('the database commands refuse what they cannot use', async (t) => {
  t.equal(ngac('export', '--db', join(dir, 'absent.db')).status, 2, 'export does not create a database')
  t.equal(ngac('backup', '--db', join(dir, 'absent.db'), '--to', join(dir, 'x.db')).status, 2)
  const text = file('notes.txt', 'not a database')
  const refused = ngac('import', policy, '--db', text)
  t.equal(refused.status, 2)
  t.match(refused.stderr, /NGAC_ERR_STORE_FOREIGN/)
  t.equal(ngac('export', '--db', text).status, 2)
  t.equal(ngac('export', '--format', 'pm', '--db', text).status, 2, 'pm is an import format')
})
