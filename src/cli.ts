#!/usr/bin/env node
/**
 * The `ngac` command (DESIGN section 5, CLI). Exit codes: 0 success (or allowed), 1 denied,
 * 2 bad input or usage.
 */
import { readFileSync, realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { isNgacError, NgacError } from './errors.js'
import { loadPolicy, type PolicyFormat } from './graph/index.js'
import { DecisionEngine, type Explanation } from './pdp/index.js'

const USAGE = `ngac: NGAC policy decision point

Usage:
  ngac check USER RIGHT TARGET --policy FILE [--format ngac|pm] [--explain]
      Decide whether USER may do RIGHT on TARGET under the policy in FILE.
      Prints the decision and USER's privileges on TARGET.
      Exit code 0 when allowed, 1 when denied, 2 on bad input.
  ngac help
      Show this text.

Options:
  --policy FILE     a policy file (JSON, DESIGN section 5)
  --format FORMAT   ngac (default) or pm (NIST policy-machine-core JSON)
  --explain         show, per policy class, the rights and the paths that grant them,
                    and the prohibitions that apply
  --process ID      decide for USER acting through process ID
`

/** Output streams and exit, injectable for tests. */
export interface CliIo {
  out: (text: string) => void
  err: (text: string) => void
}

const defaultIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text)
}

/**
 * Runs the CLI with `argv` (without node and script) and returns the exit code.
 *
 * @example
 * ```ts
 * const code = runCli(['check', 'alice', 'read', 'report', '--policy', 'policy.json'])
 * ```
 */
export function runCli (argv: readonly string[], io: CliIo = defaultIo): number {
  try {
    const [command, ...rest] = argv
    switch (command) {
      case 'check':
        return check(rest, io)
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
    return 2
  }
}

function check (argv: readonly string[], io: CliIo): number {
  const { values, positionals } = usage(() => parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      policy: { type: 'string' },
      format: { type: 'string' },
      explain: { type: 'boolean' },
      process: { type: 'string' }
    }
  }))
  if (positionals.length !== 3) {
    throw new NgacError('NGAC_ERR_VALIDATION', 'usage: ngac check USER RIGHT TARGET --policy FILE [--explain]')
  }
  const [user, right, target] = positionals as [string, string, string]
  const file = values.policy
  if (typeof file !== 'string') {
    throw new NgacError('NGAC_ERR_VALIDATION', 'give the policy with --policy FILE')
  }
  const graph = loadPolicy(readJson(file), { format: policyFormat(values.format) })
  const pdp = new DecisionEngine(graph)
  const process = typeof values.process === 'string' ? values.process : undefined
  const request = process === undefined ? { user, target } : { user, target, process }
  const { allowed } = pdp.check({ ...request, right })
  const privileges = pdp.privileges(request)
  io.out(`${allowed ? 'ALLOW' : 'DENY'}: ${user} ${allowed ? 'may' : 'may not'} ${right} ${target}\n`)
  io.out(`privileges of ${user} on ${target}: ${privileges.length === 0 ? '(none)' : privileges.join(', ')}\n`)
  if (values.explain === true) io.out(formatExplanation(pdp.explain(request)))
  return allowed ? 0 : 1
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
      ? '\n' + err.details.map((d: { path?: string, message?: string }) => `  ${d.path ?? ''}: ${d.message ?? ''}`).join('\n')
      : ''
    return `${err.message} [${err.code}]${details}`
  }
  return err instanceof Error ? err.message : String(err)
}

// Run when executed directly (bin or `node dist/src/cli.js`), not when imported by tests.
if (process.argv[1] !== undefined && isMain(process.argv[1])) {
  process.exitCode = runCli(process.argv.slice(2))
}

function isMain (script: string): boolean {
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url)
  } catch {
    return false
  }
}
