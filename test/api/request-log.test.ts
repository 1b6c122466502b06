// One structured log line per request at info, never a request body (a policy may be secret).
import { Writable } from 'node:stream'
import t from 'tap'
import { build } from './helper.js'

t.test('one info line per request, with method, URL, status and time, and no body', async (t) => {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    }
  })
  const app = await build(t, { logLevel: 'info' }, { logger: { level: 'info', stream } })
  const secret = 'top-secret-node-name'
  const put = await app.inject({
    method: 'PUT',
    url: '/v1/policy',
    headers: { 'x-request-id': 'log-1' },
    payload: { nodes: [{ name: secret, type: 'PC' }] }
  })
  t.equal(put.statusCode, 200)
  const bad = await app.inject({ method: 'GET', url: '/nowhere', headers: { 'x-request-id': 'log-2' } })
  t.equal(bad.statusCode, 404)
  const mine = lines.filter((l) => l.reqId === 'log-1')
  t.equal(mine.length, 1, 'exactly one line for the request')
  t.match(mine[0], { level: 30, msg: 'request', method: 'PUT', url: '/v1/policy', statusCode: 200 })
  t.type(mine[0].responseTime, 'number')
  t.equal(lines.filter((l) => l.reqId === 'log-2').length, 1, 'one line for a 404 too')
  t.notOk(JSON.stringify(lines).includes(secret), 'the policy body is never logged')
})
