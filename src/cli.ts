#!/usr/bin/env node
/**
 * The `ngac` command (DESIGN section 5, CLI). Exit codes: 0 success (or allowed), 1 denied (or
 * lint found errors), 2 bad input or usage.
 */
import cluster from 'node:cluster'
import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { lintPolicy, toDot, toGexf, toGraphologyJson, type LintReport } from './analysis/index.js'
import { isNgacError, NgacError } from './errors.js'
import { loadPolicy, type PolicyFormat, type PolicyGraph } from './graph/index.js'
import type { Explanation } from './pdp/index.js'
import { loadConfig } from './config.js'
import { openPolicy } from './policy.js'
import { serve as serveConfig } from './server.js'
import { SqliteStore } from './store/index.js'

const USAGE = `ngac: NGAC policy decision point

Usage:
  ngac serve [--db FILE] [--host H] [--port P] [--grpc-port P] [--workers N] [--config FILE]
      Serve the REST API (administration, decisions, /docs, /metrics) on
      127.0.0.1:8080 by default, with the policy in ./data/ngac.db, and Envoy's
      gRPC ext_authz (Authorization/Check, grpc.health.v1) on port 9191
      (--grpc-port P; 0 turns it off), with N worker processes sharing the
      ports (default: one per core).
      Environment: NGAC_DB, HOST, PORT, NGAC_ADMIN_TOKEN, NGAC_LOG_LEVEL.
  ngac check USER RIGHT TARGET (--db FILE | --policy FILE) [--explain] [--process ID]
      Decide whether USER may do RIGHT on TARGET, under the policy in a database
      (--db, default ./data/ngac.db) or in a policy file (--policy).
      Prints the decision and USER's privileges on TARGET.
      Exit code 0 when allowed, 1 when denied, 2 on bad input.
  ngac import FILE [--db FILE] [--format ngac|pm]
      Replace the policy in the database with the policy file FILE, atomically.
  ngac export [--db FILE] [--format ngac|dot|gexf|graphology]
      Print the policy in the database as a policy file (ngac, the default), a
      Graphviz digraph (dot), GEXF 1.3 for Gephi (gexf) or graphology JSON.
  ngac lint (--db FILE | --policy FILE) [--json]
      Report likely mistakes in the policy: policy classes that grant nothing,
      associations outside the target's policy classes, prohibitions that can
      never match, users without privileges, objects nobody can reach; then
      statistics. Exit code 0 when no finding is an error, 1 otherwise, 2 on
      bad input.
  ngac backup --db FILE --to FILE
      Copy the database with SQLite's online backup (consistent while it is served).
  ngac help
      Show this text.

Options:
  --db FILE         the SQLite database (default ./data/ngac.db, or $NGAC_DB)
  --policy FILE     a policy file (JSON, DESIGN section 5)
  --format FORMAT   ngac (default) or pm (NIST policy-machine-core JSON, import only);
                    export also writes dot, gexf and graphology
  --json            lint: print the report as JSON
  --explain         show, per policy class, the rights and the paths that grant them,
                    and the prohibitions that apply
  --process ID      decide for USER acting through process ID

Exit codes: 0 success or allowed, 1 denied, 2 bad input (including a file that is not
an ngac-pdp database), 3 the database failed (full, locked, read-only, I/O error).
`

const DEFAULT_DB = './data/ngac.db'

/** Failures of the database itself rather than of what the user gave: exit code 3. */
const FAULTS: ReadonlySet<string> = new Set([
  'NGAC_ERR_STORE_FULL', 'NGAC_ERR_STORE_READONLY', 'NGAC_ERR_STORE_BUSY', 'NGAC_ERR_STORE_IO', 'NGAC_ERR_STORE_CORRUPT'
])

/** Output streams, injectable for tests. */
export interface CliIo {
  out: (text: string) => void
  err: (text: string) => void
}

const defaultIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text)
}

/**
 * Runs the CLI with `argv` (without node and script) and resolves to the exit code.
 *
 * @example
 * ```ts
 * const code = await runCli(['check', 'alice', 'read', 'report', '--policy', 'policy.json'])
 * ```
 */
export async function runCli (argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  try {
    const [command, ...rest] = argv
    switch (command) {
      case 'check':
        return check(rest, io)
      case 'import':
        return importPolicy(rest, io)
      case 'export':
        return exportCommand(rest, io)
      case 'lint':
        return lint(rest, io)
      case 'backup':
        return await backup(rest, io)
      case 'serve':
        return await serve(rest)
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE)
        return 0
      default:
        throw new NgacError('NGAC_ERR_VALIDATION', `unknown command '${command}'; run 'ngac help' for the commands`)
    }
  } catch (err) {
    io.err(`ngac: ${describe(err)}\n`)
    return isNgacError(err) && FAULTS.has(err.code) ? 3 : 2
  }
}

function check (argv: readonly string[], io: CliIo): number {
  const { values, positionals } = usage(() => parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      db: { type: 'string' },
      policy: { type: 'string' },
      format: { type: 'string' },
      explain: { type: 'boolean' },
      process: { type: 'string' }
    }
  }))
  if (positionals.length !== 3) {
    throw new NgacError('NGAC_ERR_VALIDATION', 'usage: ngac check USER RIGHT TARGET (--db FILE | --policy FILE) [--explain]')
  }
  const [user, right, target] = positionals as [string, string, string]
  if (values.db !== undefined && values.policy !== undefined) {
    throw new NgacError('NGAC_ERR_VALIDATION', 'give either --db or --policy, not both')
  }
  const policy = typeof values.policy === 'string'
    ? openPolicy({ policy: readJson(values.policy), format: policyFormat(values.format) })
    : openPolicy({ db: existingDb(dbPath(values.db)) })
  try {
    const process = typeof values.process === 'string' ? values.process : undefined
    const request = process === undefined ? { user, target } : { user, target, process }
    const { allowed } = policy.check({ ...request, right })
    const privileges = policy.privileges(request)
    io.out(`${allowed ? 'ALLOW' : 'DENY'}: ${user} ${allowed ? 'may' : 'may not'} ${right} ${target}\n`)
    io.out(`privileges of ${user} on ${target}: ${privileges.length === 0 ? '(none)' : privileges.join(', ')}\n`)
    if (values.explain === true) io.out(formatExplanation(policy.explain(request)))
    return allowed ? 0 : 1
  } finally {
    policy.close()
  }
}

function importPolicy (argv: readonly string[], io: CliIo): number {
  const { values, positionals } = usage(() => parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { db: { type: 'string' }, format: { type: 'string' }, actor: { type: 'string' } }
  }))
  if (positionals.length !== 1) throw new NgacError('NGAC_ERR_VALIDATION', 'usage: ngac import FILE [--db FILE] [--format ngac|pm]')
  const doc = readJson(positionals[0] as string)
  const format = policyFormat(values.format)
  const db = dbPath(values.db)
  const policy = openPolicy({ db })
  try {
    const revision = policy.replace(doc, format, { actor: typeof values.actor === 'string' ? values.actor : 'ngac import' })
    const stats = policy.graph.stats
    io.out(`imported ${positionals[0]} into ${db}: revision ${revision}, ${stats.nodes} nodes, ${stats.assignments} assignments, ${stats.associations} associations, ${stats.prohibitions} prohibitions\n`)
    return 0
  } finally {
    policy.close()
  }
}

const EXPORT_FORMATS: Readonly<Record<string, (graph: PolicyGraph) => string>> = {
  dot: toDot,
  gexf: toGexf,
  graphology: (graph) => JSON.stringify(toGraphologyJson(graph), null, 2) + '\n'
}

function exportCommand (argv: readonly string[], io: CliIo): number {
  const { values, positionals } = usage(() => parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { db: { type: 'string' }, format: { type: 'string' } }
  }))
  if (positionals.length !== 0) throw new NgacError('NGAC_ERR_VALIDATION', 'usage: ngac export [--db FILE] [--format ngac|dot|gexf|graphology]')
  const format = values.format ?? 'ngac'
  if (format === 'pm') {
    throw new NgacError('NGAC_ERR_VALIDATION', 'export does not write policy-machine-core JSON, an import format; use ngac, dot, gexf or graphology')
  }
  const render = Object.hasOwn(EXPORT_FORMATS, format) ? EXPORT_FORMATS[format] : undefined
  if (format !== 'ngac' && render === undefined) {
    throw new NgacError('NGAC_ERR_VALIDATION', `unknown --format ${JSON.stringify(format)}; export writes ngac, dot, gexf or graphology`)
  }
  const store = new SqliteStore(existingDb(dbPath(values.db)), { readonly: true })
  try {
    const { revision, document } = store.load()
    if (render === undefined) {
      io.out(JSON.stringify(document, null, 2) + '\n')
    } else {
      const graph = loadPolicy(document)
      graph.setRevision(revision)
      io.out(render(graph))
    }
    return 0
  } finally {
    store.close()
  }
}

function lint (argv: readonly string[], io: CliIo): number {
  const { values, positionals } = usage(() => parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { db: { type: 'string' }, policy: { type: 'string' }, format: { type: 'string' }, json: { type: 'boolean' } }
  }))
  if (positionals.length !== 0) throw new NgacError('NGAC_ERR_VALIDATION', 'usage: ngac lint (--db FILE | --policy FILE) [--json]')
  if (values.db !== undefined && values.policy !== undefined) {
    throw new NgacError('NGAC_ERR_VALIDATION', 'give either --db or --policy, not both')
  }
  let graph: PolicyGraph
  if (typeof values.policy === 'string') {
    graph = loadPolicy(readJson(values.policy), { format: policyFormat(values.format) })
  } else {
    const store = new SqliteStore(existingDb(dbPath(values.db)), { readonly: true })
    try {
      const { revision, document } = store.load()
      graph = loadPolicy(document)
      graph.setRevision(revision)
    } finally {
      store.close()
    }
  }
  const report = lintPolicy(graph)
  io.out(values.json === true ? JSON.stringify(report, null, 2) + '\n' : formatLintReport(report))
  return report.counts.error > 0 ? 1 : 0
}

function formatLintReport (report: LintReport): string {
  const lines: string[] = []
  const width = Math.max(0, ...report.findings.map((f) => f.severity.length))
  for (const f of report.findings) lines.push(`${f.severity.padEnd(width)}  ${f.rule}: ${f.message}`)
  const { error, warning, info } = report.counts
  lines.push(report.findings.length === 0
    ? 'no findings'
    : `${plural(report.findings.length, 'finding')}: ${plural(error, 'error')}, ${plural(warning, 'warning')}, ${info} info`)
  const s = report.statistics
  const byType = Object.entries(s.nodesByType).map(([type, n]) => `${n} ${type}`).join(', ')
  lines.push(`policy at revision ${report.revision}: ${plural(s.nodes, 'node')} (${byType}), ${plural(s.assignments, 'assignment')}, ${plural(s.associations, 'association')}, ${plural(s.prohibitions, 'prohibition')}`)
  lines.push(`assignment depth ${s.maxDepth}; children per node: at most ${s.maxFanOut}, ${s.meanFanOut} on average`)
  return lines.join('\n') + '\n'
}

function plural (n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`
}

async function backup (argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = usage(() => parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { db: { type: 'string' }, to: { type: 'string' } }
  }))
  if (positionals.length !== 0 || typeof values.to !== 'string') {
    throw new NgacError('NGAC_ERR_VALIDATION', 'usage: ngac backup --db FILE --to FILE')
  }
  const store = new SqliteStore(existingDb(dbPath(values.db)), { readonly: true })
  try {
    await store.backup(values.to)
    io.out(`backed up ${store.path} at revision ${store.revision} to ${values.to}\n`)
    return 0
  } finally {
    store.close()
  }
}

async function serve (argv: readonly string[]): Promise<number> {
  const { values, positionals } = usage(() => parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      db: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'grpc-port': { type: 'string' },
      workers: { type: 'string' },
      config: { type: 'string' }
    }
  }))
  if (positionals.length !== 0) throw new NgacError('NGAC_ERR_VALIDATION', 'usage: ngac serve [--db FILE] [--host H] [--port P] [--grpc-port P] [--workers N] [--config FILE]')
  const flags: Record<string, string | number> = {}
  if (values.db !== undefined) flags.db = values.db as string
  if (values.host !== undefined) flags.host = values.host as string
  if (values.port !== undefined) flags.port = integer(values.port, '--port')
  if (values['grpc-port'] !== undefined) flags.grpcPort = integer(values['grpc-port'], '--grpc-port')
  if (values.workers !== undefined) flags.workers = integer(values.workers, '--workers')
  const config = loadConfig({
    ...(typeof values.config === 'string' ? { file: values.config } : {}),
    env: process.env,
    flags
  })
  await serveConfig(config)
  // Keep running: the server closes the process on SIGTERM or SIGINT.
  return new Promise<number>(() => {})
}

function integer (value: unknown, flag: string): number {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) throw new NgacError('NGAC_ERR_VALIDATION', `${flag} must be a non-negative integer`)
  return Number(value)
}

function dbPath (flag: unknown): string {
  if (typeof flag === 'string') return flag
  return process.env.NGAC_DB ?? DEFAULT_DB
}

/** Commands that only read refuse to create a database where there is none. */
function existingDb (path: string): string {
  if (path !== ':memory:' && !existsSync(path)) {
    throw new NgacError('NGAC_ERR_VALIDATION', `there is no database at ${path}; create one with 'ngac import FILE --db ${path}', or give --db or --policy`)
  }
  return path
}

function formatExplanation (e: Explanation): string {
  const lines: string[] = []
  if (e.policyClasses.length === 0) lines.push('the target is in no policy class (or the user or target is unknown): nothing is granted')
  for (const pc of e.policyClasses) {
    const rights = pc.privileges.length === 0 ? 'nothing: this class blocks access' : pc.privileges.join(', ')
    lines.push(`policy class ${pc.name}: ${rights}`)
    for (const path of pc.paths) lines.push(`  via ${path.join(' -> ')}`)
  }
  for (const p of e.prohibitions) lines.push(`prohibition ${p.name} denies: ${p.rights.join(', ')}`)
  return lines.join('\n') + '\n'
}

/** Runs an argument parser, turning its complaints into usage errors. */
function usage<T> (parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    throw new NgacError('NGAC_ERR_VALIDATION', `${(err as Error).message}; run 'ngac help' for usage`)
  }
}

function policyFormat (format: unknown): PolicyFormat {
  if (format === undefined || format === 'ngac' || format === 'pm') return format ?? 'ngac'
  throw new NgacError('NGAC_ERR_VALIDATION', `unknown --format ${JSON.stringify(format)}; use ngac or pm`)
}

function readJson (file: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new NgacError('NGAC_ERR_VALIDATION', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new NgacError('NGAC_ERR_POLICY_FILE', `${file} is not valid JSON: ${(err as Error).message}`)
  }
}

function describe (err: unknown): string {
  if (isNgacError(err)) {
    const details = Array.isArray(err.details) && err.details.length > 0
      ? '\n' + err.details.map((d: string | { path?: string, message?: string }) =>
        typeof d === 'string' ? `  ${d}` : `  ${d.path ?? ''}: ${d.message ?? ''}`).join('\n')
      : ''
    return `${err.message} [${err.code}]${details}`
  }
  return err instanceof Error ? err.message : String(err)
}

// Run when executed directly (bin or `node dist/src/cli.js`), not when imported by tests.
if (process.argv[1] !== undefined && isMain(process.argv[1])) {
  // A reader that stops early (`ngac export | head`) is not an error of ours.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err
    process.exit(process.exitCode ?? 0)
  })
  process.exitCode = await runCli(process.argv.slice(2))
  // A worker that could not start: its channel to the primary would keep it alive.
  if (cluster.isWorker) process.exit()
}

function isMain (script: string): boolean {
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url)
  } catch {
    return false
  }
}
