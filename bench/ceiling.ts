/**
 * The ceilings of the HTTP and gRPC benches: servers that answer without deciding anything, so
 * that a figure of ngac-pdp can be read as a fraction of what the framework allows here.
 *
 * Usage: `node dist/bench/ceiling.js http` (bare fastify, logger off: `{ok:true}` on GET / and
 * POST /, an empty 200 on every method under /ext_authz) or `node dist/bench/ceiling.js grpc`
 * (bare @grpc/grpc-js: Authorization/Check answers status OK, from Envoy's protos). Prints
 * `listening PORT` once it listens on 127.0.0.1.
 */
import * as grpc from '@grpc/grpc-js'
import Fastify from 'fastify'
import { authorizationService } from '../src/ext-authz/grpc-server.js'

async function http (): Promise<number> {
  const app = Fastify({ logger: false })
  app.get('/', async () => ({ ok: true }))
  app.post('/', async () => ({ ok: true }))
  app.all('/ext_authz/*', (_request, reply) => { reply.code(200).send() })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  return typeof address === 'object' && address !== null ? address.port : 0
}

async function rpc (): Promise<number> {
  const server = new grpc.Server()
  const ok = { status: { code: 0 }, ok_response: { headers: [] } }
  server.addService(await authorizationService(), {
    Check: (_call: unknown, callback: (err: null, response: unknown) => void) => { callback(null, ok) }
  })
  return await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => { if (err === null) resolve(port); else reject(err) })
  })
}

const port = process.argv[2] === 'grpc' ? await rpc() : await http()
process.stdout.write(`listening ${port}\n`)
