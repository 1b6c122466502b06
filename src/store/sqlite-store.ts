/**
 * The durable policy store (DESIGN sections 4, 6 and 8): an SQLite file through better-sqlite3,
 * or `:memory:`.
 *
 * - The tables mirror the graph (nodes, assignments, associations, prohibitions, meta) and a
 *   changelog records every committed batch: revision, time, actor, operations as JSON.
 * - A batch is written in ONE transaction with its changelog entry; WAL mode with
 *   synchronous=FULL makes a committed transaction survive a crash or power loss.
 * - The schema is versioned by `PRAGMA user_version` with numbered migrations, and the file is
 *   marked with `PRAGMA application_id`, so a file that is not ours (text, another program's
 *   SQLite, a newer schema) is refused before anything is written to it.
 * - Every statement is prepared once, in the constructor.
 * - Loading keeps every element and, for nodes, their creation order, except that a node
 *   re-parented under nodes created after it moves after its first parent (the graph creates a
 *   node under an existing parent).
 */
import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { isNgacError, NgacError, type ErrorCode } from '../errors.js'
import type { Operation, PolicyDocument, PolicyGraph, PolicyProhibition } from '../graph/index.js'
import { exportPolicy } from '../graph/index.js'

/** `PRAGMA application_id` of an ngac-pdp database: "NGAC" in ASCII. */
export const APPLICATION_ID = 0x4e474143

/** A change recorded in the changelog: an administrative operation, or a whole-policy replacement. */
export type ChangeOperation = Operation | { readonly op: 'replacePolicy', readonly elements: number }

/** One committed batch. */
export interface ChangelogEntry {
  readonly revision: number
  /** ISO 8601 time of the commit. */
  readonly at: string
  /** Who made the change, when known. */
  readonly actor: string | null
  readonly operations: readonly ChangeOperation[]
}

/** Which changelog entries to read: all of them must match. */
export interface ChangeFilter {
  /** Made by this actor. */
  readonly actor?: string
  /** With an operation that names this node (created, deleted, updated, an end of a relation, a prohibition's subject or container). */
  readonly node?: string
  /** Committed at or after this ISO 8601 time (UTC, as `Date#toISOString` writes it). */
  readonly from?: string
  /** Committed at or before this ISO 8601 time. */
  readonly to?: string
}

/** Whether the operation names `node` as a node. */
function mentionsNode (o: ChangeOperation, node: string): boolean {
  switch (o.op) {
    case 'createNode': return o.name === node || (o.parents ?? []).includes(node)
    case 'deleteNode':
    case 'setProperties': return o.name === node
    case 'assign':
    case 'deassign': return o.child === node || o.parent === node
    case 'associate':
    case 'dissociate': return o.ua === node || o.target === node
    case 'createProhibition': return o.subject === node || o.containers.some((c) => c.name === node)
    default: return false
  }
}

/** Options of {@link SqliteStore}. */
export interface SqliteStoreOptions {
  /** How long a write waits for another connection's lock before NGAC_ERR_STORE_BUSY, in ms. Default 5000. */
  readonly busyTimeout?: number
  /** Open for reading only (decision replicas, export, backup). */
  readonly readonly?: boolean
}

/** What the store holds, as a policy document plus its revision. */
export interface StoredPolicy {
  readonly revision: number
  readonly document: PolicyDocument
}

const SQLITE_HEADER = 'SQLite format 3\u0000'

/** Numbered migrations: MIGRATIONS[i] takes the schema from version i to i + 1. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
   INSERT INTO meta (key, value) VALUES ('revision', '0'), ('resourceRights', '[]');
   CREATE TABLE nodes (
     id INTEGER PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     type TEXT NOT NULL CHECK (type IN ('PC', 'UA', 'U', 'OA', 'O')),
     properties TEXT
   );
   CREATE TABLE assignments (
     id INTEGER PRIMARY KEY,
     child TEXT NOT NULL REFERENCES nodes (name),
     parent TEXT NOT NULL REFERENCES nodes (name),
     UNIQUE (child, parent)
   );
   CREATE INDEX assignments_parent ON assignments (parent);
   CREATE TABLE associations (
     id INTEGER PRIMARY KEY,
     ua TEXT NOT NULL REFERENCES nodes (name),
     target TEXT NOT NULL REFERENCES nodes (name),
     rights TEXT NOT NULL,
     UNIQUE (ua, target)
   );
   CREATE INDEX associations_target ON associations (target);
   CREATE TABLE prohibitions (
     id INTEGER PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     definition TEXT NOT NULL
   );
   CREATE TABLE changelog (
     revision INTEGER PRIMARY KEY,
     at TEXT NOT NULL,
     actor TEXT,
     operations TEXT NOT NULL
   );`
]

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length

/**
 * A policy store in an SQLite file (or `:memory:`).
 *
 * @example
 * ```ts
 * const store = new SqliteStore('./data/ngac.db')
 * const { revision, document } = store.load()
 * store.close()
 * ```
 */
export class SqliteStore {
  readonly path: string
  readonly #db: Database.Database
  readonly #statements: Statements
  #closed = false

  /**
   * Opens (creating it and its directory if needed) the store at `path`.
   * @throws NgacError NGAC_ERR_STORE_FOREIGN for a file that is not an ngac-pdp database,
   * NGAC_ERR_STORE_VERSION for a newer schema, NGAC_ERR_STORE_* for what SQLite refuses.
   */
  constructor (path: string, options: SqliteStoreOptions = {}) {
    this.path = path
    const memory = path === ':memory:' || path === ''
    const readonly = options.readonly === true
    if (!memory) {
      inspectFile(path, readonly)
      if (!readonly) mkdirSync(dirname(path), { recursive: true })
    }
    let db: Database.Database | undefined
    try {
      db = new Database(memory ? ':memory:' : path, { readonly, fileMustExist: readonly })
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeout ?? 5000))}`)
      if (!readonly) {
        if (!memory) db.pragma('journal_mode = WAL')
        db.pragma('synchronous = FULL')
        db.pragma('foreign_keys = ON')
        migrate(db, path)
      } else {
        checkSchema(db, path)
      }
    } catch (err) {
      db?.close()
      throw storeError(err, `cannot open the policy store ${path}`)
    }
    this.#db = db
    this.#statements = prepareStatements(db)
  }

  /** The revision of the last committed batch (0 for a new store). */
  get revision (): number {
    return Number(this.#statements.getMeta.get('revision')?.value ?? 0)
  }

  /**
   * SQLite's `data_version`: it changes when another connection (another worker or process)
   * commits to the file, and not for this connection's own commits. One cheap read: a follower
   * polls it to learn that the changelog has grown.
   */
  dataVersion (): number {
    this.#open()
    return this.#statements.dataVersion.get() as number
  }

  /** The stored policy: one read of each table, in creation order. */
  load (): StoredPolicy {
    this.#open()
    const s = this.#statements
    try {
      return this.#db.transaction(() => {
        const nodes = (s.allNodes.all() as [string, string, string | null][]).map(([name, type, properties]) =>
          properties === null ? { name, type: type as 'PC' } : { name, type: type as 'PC', properties: JSON.parse(properties) as Record<string, string> })
        const assignments = s.allAssignments.all() as [string, string][]
        const associations = (s.allAssociations.all() as [string, string, string][]).map(([ua, target, rights]) =>
          ({ ua, target, rights: JSON.parse(rights) as string[] }))
        const prohibitions = (s.allProhibitions.all() as string[]).map((d) => JSON.parse(d) as PolicyProhibition)
        const resourceRights = JSON.parse(s.getMeta.get('resourceRights')?.value ?? '[]') as string[]
        return { revision: this.revision, document: { resourceRights, nodes, assignments, associations, prohibitions } }
      })()
    } catch (err) {
      throw storeError(err, `cannot read the policy store ${this.path}`)
    }
  }

  /**
   * Durably records a batch that the graph has just applied (inside its graph.batch), with its
   * changelog entry, in one transaction. Throws, leaving the file as it was, when SQLite cannot.
   * @throws NgacError NGAC_ERR_STORE_FULL, NGAC_ERR_STORE_READONLY, NGAC_ERR_STORE_BUSY, NGAC_ERR_STORE_IO
   */
  commit (entry: ChangelogEntry, operations: readonly Operation[]): void {
    this.#open()
    const s = this.#statements
    try {
      this.#db.transaction(() => {
        this.#expect(entry.revision - 1)
        for (const o of operations) {
          switch (o.op) {
            case 'createNode':
              s.insertNode.run(o.name, o.type, propertiesJson(o.properties))
              for (const parent of new Set(o.parents ?? [])) s.insertAssignment.run(o.name, parent)
              break
            case 'deleteNode':
              s.deleteAssignmentsOf.run(o.name)
              s.deleteNode.run(o.name)
              break
            case 'setProperties':
              s.setProperties.run(propertiesJson(o.properties), o.name)
              break
            case 'assign':
              s.insertAssignment.run(o.child, o.parent)
              break
            case 'deassign':
              s.deleteAssignment.run(o.child, o.parent)
              break
            case 'associate':
              s.upsertAssociation.run(o.ua, o.target, JSON.stringify([...new Set(o.rights)].sort()))
              break
            case 'dissociate':
              s.deleteAssociation.run(o.ua, o.target)
              break
            case 'createProhibition':
              s.insertProhibition.run(o.name, JSON.stringify(prohibitionOf(o)))
              break
            case 'deleteProhibition':
              s.deleteProhibition.run(o.name)
              break
            case 'setResourceRights':
              s.setMeta.run('resourceRights', JSON.stringify(o.rights))
              break
          }
        }
        this.#record(entry)
      }).immediate()
    } catch (err) {
      throw storeError(err, `cannot commit revision ${entry.revision} to ${this.path}`)
    }
  }

  /**
   * Replaces the whole stored policy with `graph`'s, in one transaction, recording `entry`.
   * @throws NgacError NGAC_ERR_STORE_*
   */
  replace (graph: PolicyGraph, entry: ChangelogEntry): void {
    this.#open()
    const s = this.#statements
    const doc = exportPolicy(graph)
    try {
      this.#db.transaction(() => {
        this.#expect(entry.revision - 1)
        s.clearProhibitions.run()
        s.clearAssociations.run()
        s.clearAssignments.run()
        s.clearNodes.run()
        s.setMeta.run('resourceRights', JSON.stringify(doc.resourceRights ?? []))
        for (const n of doc.nodes) s.insertNode.run(n.name, n.type, propertiesJson(n.properties))
        for (const [child, parent] of doc.assignments ?? []) s.insertAssignment.run(child, parent)
        for (const a of doc.associations ?? []) s.upsertAssociation.run(a.ua, a.target, JSON.stringify(a.rights))
        for (const p of doc.prohibitions ?? []) s.insertProhibition.run(p.name, JSON.stringify(p))
        this.#record(entry)
      }).immediate()
    } catch (err) {
      throw storeError(err, `cannot replace the policy in ${this.path}`)
    }
  }

  /**
   * Changelog entries after `since`, oldest first, at most `limit`; with a `filter`, only the
   * entries it matches (a filtered read scans the entries after `since` until it has `limit`).
   *
   * @example
   * ```ts
   * store.changes(0, 100, { actor: 'acme-admin', node: 'acme-docs', from: '2025-01-01T00:00:00.000Z' })
   * ```
   */
  changes (since = 0, limit = 1000, filter: ChangeFilter = {}): ChangelogEntry[] {
    this.#open()
    const toEntry = (row: { revision: number, at: string, actor: string | null, operations: string }): ChangelogEntry => ({
      revision: row.revision,
      at: row.at,
      actor: row.actor,
      operations: JSON.parse(row.operations) as ChangeOperation[]
    })
    try {
      if (filter.actor === undefined && filter.node === undefined && filter.from === undefined && filter.to === undefined) {
        return this.#statements.changesSince.all(since, limit).map(toEntry)
      }
      const node = filter.node
      const out: ChangelogEntry[] = []
      // NOTE: SQL narrows by actor, time and the name's JSON text; the operations are then read to
      // keep only entries where the name is a node of an operation (not a prohibition's name or a property).
      for (const row of this.#statements.changesMatching.iterate({
        since,
        actor: filter.actor ?? null,
        from: filter.from ?? null,
        to: filter.to ?? null,
        text: node === undefined ? null : JSON.stringify(node)
      })) {
        const entry = toEntry(row)
        if (node !== undefined && !entry.operations.some((o) => mentionsNode(o, node))) continue
        out.push(entry)
        if (out.length >= limit) break
      }
      return out
    } catch (err) {
      throw storeError(err, `cannot read the changelog of ${this.path}`)
    }
  }

  /**
   * Copies the database to `to` with SQLite's online backup: consistent while others write.
   * @throws NgacError NGAC_ERR_STORE_IO
   */
  async backup (to: string): Promise<void> {
    this.#open()
    try {
      mkdirSync(dirname(to), { recursive: true })
      await this.#db.backup(to)
    } catch (err) {
      throw storeError(err, `cannot back up ${this.path} to ${to}`)
    }
  }

  /**
   * Throws unless the store can take a write now: takes the write lock and gives it back.
   * @throws NgacError NGAC_ERR_STORE_READONLY, NGAC_ERR_STORE_BUSY, NGAC_ERR_STORE_*
   */
  checkWritable (): void {
    this.#open()
    try {
      this.#db.exec('BEGIN IMMEDIATE')
      this.#db.exec('ROLLBACK')
    } catch (err) {
      throw storeError(err, `the policy store ${this.path} cannot take writes`)
    }
  }

  /** Closes the database; later calls throw. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#db.close()
  }

  /**
   * Throws NGAC_ERR_STORE_STALE unless the stored revision is `revision`: inside a write
   * transaction, so another connection's commit since the caller's graph was read is seen.
   */
  #expect (revision: number): void {
    const stored = this.revision
    if (stored !== revision) {
      throw new NgacError('NGAC_ERR_STORE_STALE', `the store is at revision ${stored}, not ${revision}: another writer committed first; catch up and retry`)
    }
  }

  #record (entry: ChangelogEntry): void {
    const s = this.#statements
    s.insertChange.run(entry.revision, entry.at, entry.actor, JSON.stringify(entry.operations))
    s.setMeta.run('revision', String(entry.revision))
  }

  #open (): void {
    if (this.#closed) throw new NgacError('NGAC_ERR_STORE_CLOSED', `the policy store ${this.path} is closed`)
  }
}

/** Every statement of the store, prepared once. */
function prepareStatements (db: Database.Database) {
  return {
    getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
    dataVersion: db.prepare('PRAGMA data_version').pluck(),
    setMeta: db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    allNodes: db.prepare('SELECT name, type, properties FROM nodes ORDER BY id').raw(),
    allAssignments: db.prepare('SELECT child, parent FROM assignments ORDER BY id').raw(),
    allAssociations: db.prepare('SELECT ua, target, rights FROM associations ORDER BY id').raw(),
    allProhibitions: db.prepare('SELECT definition FROM prohibitions ORDER BY id').pluck(),
    insertNode: db.prepare<[string, string, string | null]>('INSERT INTO nodes (name, type, properties) VALUES (?, ?, ?)'),
    deleteNode: db.prepare<[string]>('DELETE FROM nodes WHERE name = ?'),
    setProperties: db.prepare<[string | null, string]>('UPDATE nodes SET properties = ? WHERE name = ?'),
    insertAssignment: db.prepare<[string, string]>('INSERT INTO assignments (child, parent) VALUES (?, ?)'),
    deleteAssignment: db.prepare<[string, string]>('DELETE FROM assignments WHERE child = ? AND parent = ?'),
    deleteAssignmentsOf: db.prepare<[string]>('DELETE FROM assignments WHERE child = ?'),
    upsertAssociation: db.prepare<[string, string, string]>('INSERT INTO associations (ua, target, rights) VALUES (?, ?, ?) ON CONFLICT (ua, target) DO UPDATE SET rights = excluded.rights'),
    deleteAssociation: db.prepare<[string, string]>('DELETE FROM associations WHERE ua = ? AND target = ?'),
    insertProhibition: db.prepare<[string, string]>('INSERT INTO prohibitions (name, definition) VALUES (?, ?)'),
    deleteProhibition: db.prepare<[string]>('DELETE FROM prohibitions WHERE name = ?'),
    insertChange: db.prepare<[number, string, string | null, string]>('INSERT INTO changelog (revision, at, actor, operations) VALUES (?, ?, ?, ?)'),
    changesSince: db.prepare<[number, number], { revision: number, at: string, actor: string | null, operations: string }>(
      'SELECT revision, at, actor, operations FROM changelog WHERE revision > ? ORDER BY revision LIMIT ?'),
    changesMatching: db.prepare<[{ since: number, actor: string | null, from: string | null, to: string | null, text: string | null }], { revision: number, at: string, actor: string | null, operations: string }>(
      'SELECT revision, at, actor, operations FROM changelog WHERE revision > @since AND (@actor IS NULL OR actor = @actor) ' +
      'AND (@from IS NULL OR at >= @from) AND (@to IS NULL OR at <= @to) AND (@text IS NULL OR instr(operations, @text) > 0) ORDER BY revision'),
    clearNodes: db.prepare('DELETE FROM nodes'),
    clearAssignments: db.prepare('DELETE FROM assignments'),
    clearAssociations: db.prepare('DELETE FROM associations'),
    clearProhibitions: db.prepare('DELETE FROM prohibitions')
  }
}

type Statements = ReturnType<typeof prepareStatements>

/**
 * Refuses, without writing a byte or creating a file beside it, a file that is not ours: decided
 * from SQLite's 100-byte header (application_id at offset 68, user_version at 60) and, for an
 * unmarked file, the cell count of its first page (an empty database has none). Only a database
 * whose header may be stale (a `-wal` file beside it) is probed through a read-only connection.
 */
function inspectFile (path: string, readonly: boolean): void {
  if (!existsSync(path)) {
    if (readonly) throw new NgacError('NGAC_ERR_STORE_IO', `cannot open the policy store ${path}: there is no such file`)
    return
  }
  const stat = statSync(path)
  if (!stat.isFile()) throw new NgacError('NGAC_ERR_STORE_FOREIGN', `${path} is not a file`)
  if (stat.size === 0) return
  const header = Buffer.alloc(108)
  const fd = openSync(path, 'r')
  let read: number
  try {
    read = readSync(fd, header, 0, header.length, 0)
  } finally {
    closeSync(fd)
  }
  if (read < 100 || header.toString('latin1', 0, 16) !== SQLITE_HEADER) {
    throw new NgacError('NGAC_ERR_STORE_FOREIGN', `${path} is not an SQLite database, so not an ngac-pdp policy store; give another --db path`)
  }
  const wal = `${path}-wal`
  if (existsSync(wal) && statSync(wal).size > 0) {
    const probe = new Database(path, { readonly: true, fileMustExist: true })
    try {
      checkSchema(probe, path)
    } catch (err) {
      throw storeError(err, `cannot open the policy store ${path}`)
    } finally {
      probe.close()
    }
    return
  }
  const version = header.readUInt32BE(60)
  const applicationId = header.readUInt32BE(68)
  const pageOneCells = read >= 105 ? header.readUInt16BE(103) : 0
  checkMarks(path, applicationId, version, applicationId === 0 && version === 0 && pageOneCells === 0)
}

/** Accepts an empty database, or one of ours at this schema version or older. */
function checkMarks (path: string, applicationId: number, version: number, empty: boolean): void {
  if (empty) return
  if (applicationId !== APPLICATION_ID) {
    throw new NgacError('NGAC_ERR_STORE_FOREIGN', `${path} is an SQLite database of another program (application_id ${applicationId}); ngac-pdp leaves it untouched: give another --db path`)
  }
  if (version > SCHEMA_VERSION) {
    throw new NgacError('NGAC_ERR_STORE_VERSION', `${path} has schema version ${version}, newer than this ngac-pdp understands (${SCHEMA_VERSION}); upgrade ngac-pdp`)
  }
}

/** The same check through an open connection. */
function checkSchema (db: Database.Database, path: string): void {
  const applicationId = db.pragma('application_id', { simple: true }) as number
  const version = db.pragma('user_version', { simple: true }) as number
  const tables = db.prepare("SELECT count(*) FROM sqlite_schema").pluck().get() as number
  checkMarks(path, applicationId, version, applicationId === 0 && version === 0 && tables === 0)
}

function migrate (db: Database.Database, path: string): void {
  checkSchema(db, path)
  const version = db.pragma('user_version', { simple: true }) as number
  if (version === SCHEMA_VERSION) return
  db.transaction(() => {
    for (let v = version; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v])
    db.pragma(`application_id = ${APPLICATION_ID}`)
    db.pragma(`user_version = ${SCHEMA_VERSION}`)
  }).immediate()
}

function propertiesJson (properties: Readonly<Record<string, string>> | undefined): string | null {
  return properties === undefined || Object.keys(properties).length === 0 ? null : JSON.stringify(properties)
}

function prohibitionOf (o: Extract<Operation, { op: 'createProhibition' }>): PolicyProhibition {
  return {
    name: o.name,
    subject: typeof o.subject === 'string' ? o.subject : { process: o.subject.process },
    rights: [...new Set(o.rights)].sort(),
    intersection: o.intersection,
    containers: o.containers.map((c) => ({ name: c.name, complement: c.complement }))
  }
}

/** SQLite's error codes mapped to the catalogue. */
const SQLITE_CODES: readonly [string, ErrorCode, string][] = [
  ['SQLITE_FULL', 'NGAC_ERR_STORE_FULL', 'the disk or database is full; free space and retry'],
  ['SQLITE_READONLY', 'NGAC_ERR_STORE_READONLY', 'the database is read-only; check the file and directory permissions'],
  ['SQLITE_BUSY', 'NGAC_ERR_STORE_BUSY', 'the database is locked by another process; retry later'],
  ['SQLITE_LOCKED', 'NGAC_ERR_STORE_BUSY', 'the database is locked; retry later'],
  ['SQLITE_NOTADB', 'NGAC_ERR_STORE_FOREIGN', 'the file is not an SQLite database'],
  ['SQLITE_CORRUPT', 'NGAC_ERR_STORE_CORRUPT', 'the database file is corrupt; restore it from a backup'],
  ['SQLITE_CANTOPEN', 'NGAC_ERR_STORE_IO', 'the file cannot be opened; check the path and permissions'],
  ['SQLITE_IOERR', 'NGAC_ERR_STORE_IO', 'an I/O error occurred; check the disk']
]

/** The error to throw for a failure of SQLite (or of ours, passed through). */
function storeError (err: unknown, what: string): NgacError {
  if (isNgacError(err)) return err
  const code = String((err as { code?: unknown }).code ?? '')
  for (const [prefix, ngac, why] of SQLITE_CODES) {
    if (code.startsWith(prefix)) return new NgacError(ngac, `${what}: ${why} (${code})`, { cause: err })
  }
  return new NgacError('NGAC_ERR_STORE_IO', `${what}: ${(err as Error).message ?? String(err)}`, { cause: err })
}
