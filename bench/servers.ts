/**
 * Processes for the HTTP and gRPC benches: the real server (`ngac serve` from dist), the
 * ceilings (bench/ceiling.ts: a bare fastify app and a bare gRPC server that decide nothing),
 * and autocannon, typed.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

/** One request of an autocannon run. */
export interface AutocannonRequest {
  method?: string
  path?: string
  headers?: Record<string, string>
  body?: string
  setupRequest?: (request: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest
}

/** The options of an autocannon run used here. */
export interface AutocannonOptions {
  url: string
  connections: number
  duration: number
  pipelining?: number
  requests?: AutocannonRequest[]
}

/** The figures of an autocannon run used here. */
export interface AutocannonResult {
  duration: number
  errors: number
  timeouts: number
  non2xx: number
  '1xx': number
  '2xx': number
  '3xx': number
  '4xx': number
  '5xx': number
  latency: { p50: number, p99: number, average: number }
}

/** autocannon (CommonJS, no bundled types). */
export const autocannon = createRequire(import.meta.url)('autocannon') as (options: AutocannonOptions) => Promise<AutocannonResult>

/** A progress line, on stderr (the figures go to stdout). */
export function log (line: string): void {
  process.stderr.write(`${line}\n`)
}

/** The q-quantile of sorted numbers (nearest rank). */
export function quantile (sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

/** A port free on 127.0.0.1 just now. */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  server.close()
  await once(server, 'close')
  return port
}

async function waitReady (base: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`)
    try {
      const res = await fetch(`${base}/healthz`)
      if (res.ok) return
    } catch { /* not listening yet */ }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`the server at ${base} did not become ready`)
}

/** A running `ngac serve`. */
export interface NgacProcess { readonly child: ChildProcess, readonly base: string, readonly grpcPort: number }

/**
 * Starts `ngac serve` on free ports with NGAC_LOG_LEVEL=warn (no per-request lines) over `db`;
 * gRPC too when `grpc` is set, with the config file `config` when given, with `workers`
 * worker processes (1 by default).
 */
export async function startNgac (db: string, options: { grpc?: boolean, config?: string, workers?: number } = {}): Promise<NgacProcess> {
  const port = await freePort()
  const grpcPort = options.grpc === true ? await freePort() : 0
  const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url))
  const args = [cli, 'serve', '--host', '127.0.0.1', '--port', String(port), '--grpc-port', String(grpcPort), '--db', db, '--workers', String(options.workers ?? 1)]
  if (options.config !== undefined) args.push('--config', options.config)
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NGAC_LOG_LEVEL: 'warn' } })
  const base = `http://127.0.0.1:${port}`
  await waitReady(base, child)
  return { child, base, grpcPort }
}

/** Starts a ceiling of bench/ceiling.ts (`http` or `grpc`) and resolves with its port. */
export async function startCeiling (kind: 'http' | 'grpc'): Promise<{ child: ChildProcess, port: number }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./ceiling.js', import.meta.url)), kind], { stdio: ['ignore', 'pipe', 'inherit'] })
  let text = ''
  for await (const chunk of child.stdout as NodeJS.ReadableStream) {
    text += String(chunk)
    const m = /listening (\d+)/.exec(text)
    if (m !== null) return { child, port: Number(m[1]) }
  }
  throw new Error(`the ${kind} ceiling did not start`)
}

/** Stops a child process and waits for it to exit. */
export async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  child.kill('SIGTERM')
  await once(child, 'exit')
}
