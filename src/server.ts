/**
 * The one process entry: load the config, build the app, listen, and close cleanly on SIGTERM or
 * SIGINT (stop accepting, finish in-flight requests, close the database).
 */
import { isIP } from 'node:net'
import { buildApp, type App } from './app.js'
import type { Config } from './config.js'
import { NgacError } from './errors.js'

/** Whether `host` only listens on the loopback interface. */
export function isLoopback (host: string): boolean {
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  if (isIP(host) === 6) return host === '::1'
  return false
}

/**
 * Starts serving `config`; resolves once listening.
 * @throws NgacError NGAC_ERR_CONFIG on a non-loopback host without an admin token.
 *
 * @example
 * ```ts
 * const app = await startServer(loadConfig({ env: process.env }))
 * console.log(app.server.address())
 * ```
 */
export async function startServer (config: Config): Promise<App> {
  if (!isLoopback(config.host) && config.admin.token === undefined && config.admin.tokens.length === 0) {
    throw new NgacError('NGAC_ERR_CONFIG', `refusing to serve the administration API on ${config.host} without an admin token: set NGAC_ADMIN_TOKEN or admin.token in the config, or listen on 127.0.0.1`)
  }
  const app = await buildApp(config)
  try {
    await app.listen({ host: config.host, port: config.port })
  } catch (err) {
    // A port in use or an address not on this host: release the database before reporting it.
    await app.close()
    throw err
  }
  let closing = false
  const close = (signal: string): void => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'closing: finishing in-flight requests')
    app.close().then(() => process.exit(0), (err: unknown) => {
      app.log.error({ err }, 'close failed')
      process.exit(1)
    })
  }
  process.once('SIGTERM', () => close('SIGTERM'))
  process.once('SIGINT', () => close('SIGINT'))
  return app
}
