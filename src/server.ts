/**
 * The one process entry: load the config, build the app, listen (HTTP, then Envoy's gRPC
 * ext_authz unless `grpc.port` is 0), and close cleanly on SIGTERM or SIGINT (stop accepting,
 * finish in-flight requests and calls, close the database).
 *
 * With several workers (DESIGN section 6), the primary process only opens the database once,
 * forks the workers (node:cluster, which shares the listening sockets between them) and watches
 * them; each worker is a whole server holding its own copy of the policy, following the others'
 * writes through the changelog (Policy.follow), so a write on one is visible on all within about
 * the follow interval, and `atLeastRevision` gives read-your-writes on any of them.
 */
import cluster, { type Worker } from 'node:cluster'
import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import { pino } from 'pino'
import { buildApp, type App } from './app.js'
import type { Config } from './config.js'
import { NgacError } from './errors.js'
import { startGrpcServer, type GrpcServer } from './ext-authz/grpc-server.js'
import { SqliteStore } from './store/index.js'

/** Whether `host` only listens on the loopback interface. */
export function isLoopback (host: string): boolean {
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  if (isIP(host) === 6) return host === '::1'
  return false
}

/**
 * Starts serving `config`; resolves once listening: HTTP on `host:port`, and the gRPC
 * Authorization and Health services on `host:grpc.port` (logged as `grpc listening at
 * host:port`, with `grpcPort`) unless `grpc.port` is 0. Closing the app closes both.
 * @throws NgacError NGAC_ERR_CONFIG on a non-loopback host without an admin token, or when the
 * gRPC port cannot be bound (the HTTP side is closed first).
 *
 * @example
 * ```ts
 * const app = await startServer(loadConfig({ env: process.env }))
 * console.log(app.server.address())
 * ```
 */
export async function startServer (config: Config): Promise<App> {
  refuseUnsafeHost(config)
  let grpc: GrpcServer | undefined
  const app = await buildApp(config, { onClose: async () => { await grpc?.close() } })
  try {
    await app.listen({ host: config.host, port: config.port })
  } catch (err) {
    // A port in use or an address not on this host: release the database before reporting it.
    await app.close()
    throw err
  }
  if (config.grpc.port !== 0) {
    try {
      grpc = await startGrpcServer({ extAuthz: app.extAuthz, host: config.host, port: config.grpc.port, metrics: app.metrics, log: app.log })
    } catch (err) {
      await app.close()
      throw err
    }
    app.log.info({ grpcPort: grpc.port }, `grpc listening at ${config.host}:${grpc.port}`)
  }
  let closing = false
  const close = (signal: string): void => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'closing: finishing in-flight requests')
    // Both stop accepting at once; the app's close waits for the gRPC server's too.
    void grpc?.close()
    app.close().then(() => process.exit(0), (err: unknown) => {
      app.log.error({ err }, 'close failed')
      process.exit(1)
    })
  }
  process.once('SIGTERM', () => close('SIGTERM'))
  process.once('SIGINT', () => close('SIGINT'))
  return app
}

function refuseUnsafeHost (config: Config): void {
  if (!isLoopback(config.host) && config.admin.tokenSha256 === undefined && config.admin.tokens.length === 0) {
    throw new NgacError('NGAC_ERR_CONFIG', `refusing to serve the administration API on ${config.host} without an admin token: set NGAC_ADMIN_TOKEN or admin.token in the config, or listen on 127.0.0.1`)
  }
}

/** How many worker processes serve `config`: `workers`, else one per core; one for an in-memory policy. */
export function workerCount (config: Config): number {
  if (config.db === ':memory:' || config.db === '') return 1
  return config.workers ?? availableParallelism()
}

/** The message a worker sends its primary once it serves. */
const READY = 'ngac:ready'

/**
 * Serves `config` in this process, or with {@link workerCount} worker processes: `ngac serve`.
 * In a worker, or with one worker, it is {@link startServer}. In the primary it resolves once
 * every worker serves, restarts a worker that dies afterwards, and on SIGTERM or SIGINT passes
 * the signal on and exits once every worker has closed.
 * @throws NgacError NGAC_ERR_CONFIG (as startServer), NGAC_ERR_STORE_* when the database cannot
 * be opened, or the failure of a worker that could not start.
 *
 * @example
 * ```ts
 * await serve(loadConfig({ env: process.env, flags: { workers: 4 } }))
 * ```
 */
export async function serve (config: Config): Promise<void> {
  const workers = workerCount(config)
  if (cluster.isWorker || workers <= 1) {
    await startServer(config)
    process.send?.(READY)
    return
  }
  refuseUnsafeHost(config)
  // Created and migrated once here, so that the workers do not race to do it.
  new SqliteStore(config.db).close()
  const log = pino({ level: config.logLevel })
  let stopping = false
  const fork = (): Promise<Worker> => new Promise((resolve, reject) => {
    const worker = cluster.fork()
    const onStartExit = (code: number | null, signal: string | null): void => {
      reject(new NgacError('NGAC_ERR_CONFIG', `a worker could not start (exit code ${code ?? signal ?? 'unknown'}); see its error above`))
    }
    worker.once('exit', onStartExit)
    worker.on('message', (message: unknown) => {
      if (message !== READY) return
      worker.off('exit', onStartExit)
      worker.once('exit', (code, signal) => {
        if (stopping) return
        log.error({ worker: worker.id, pid: worker.process.pid, code, signal }, 'worker died: starting another')
        fork().catch((err: unknown) => { log.error({ err }, 'cannot restart the worker') })
      })
      resolve(worker)
    })
  })
  const stopAll = (signal: NodeJS.Signals): Promise<void> => {
    stopping = true
    const exits = Object.values(cluster.workers ?? {}).map((w) => w === undefined || w.isDead()
      ? Promise.resolve()
      : new Promise<void>((resolve) => { w.once('exit', () => { resolve() }); w.process.kill(signal) }))
    return Promise.all(exits).then(() => {})
  }
  const close = (signal: NodeJS.Signals): void => {
    if (stopping) return
    log.info({ signal }, 'closing: stopping the workers')
    void stopAll(signal).then(() => process.exit(0))
  }
  process.once('SIGTERM', () => { close('SIGTERM') })
  process.once('SIGINT', () => { close('SIGINT') })
  try {
    await Promise.all(Array.from({ length: workers }, fork))
  } catch (err) {
    if (stopping) return
    await stopAll('SIGTERM')
    throw err
  }
  log.info({ workers, pid: process.pid }, `serving with ${workers} workers`)
}
