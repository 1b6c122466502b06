import t from 'tap'
import { ERROR_CODES, NgacError, isNgacError } from '../src/errors.js'
import type { ErrorCode } from '../src/errors.js'

const CODES = Object.keys(ERROR_CODES) as ErrorCode[]

t.test('an NgacError carries its code, the status of that code, details and cause', (t) => {
  const cause = new Error('disk full')
  const details = [{ entry: 3, problem: 'unknown type' }]
  const err = new NgacError('NGAC_ERR_POLICY_FILE', 'cannot load policy.json', { details, cause })
  t.ok(err instanceof Error)
  t.ok(err instanceof NgacError)
  t.equal(err.name, 'NgacError')
  t.equal(err.code, 'NGAC_ERR_POLICY_FILE')
  t.equal(err.statusCode, 400)
  t.equal(err.message, 'cannot load policy.json')
  t.equal(err.details, details)
  t.equal(err.cause, cause)
  t.type(err.stack, 'string')
  t.end()
})

t.test('every code gets the status of the catalogue', (t) => {
  for (const code of CODES) {
    const err = new NgacError(code, 'x')
    t.equal(err.statusCode, ERROR_CODES[code], code)
  }
  t.equal(new NgacError('NGAC_ERR_NODE_NOT_FOUND', 'x').statusCode, 404)
  t.equal(new NgacError('NGAC_ERR_ASSIGNMENT_CYCLE', 'x').statusCode, 409)
  t.equal(new NgacError('NGAC_ERR_INVALID_ASSIGNMENT', 'x').statusCode, 422)
  t.equal(new NgacError('NGAC_ERR_VALIDATION', 'x').statusCode, 400)
  t.end()
})

t.test('without options there are no details and no cause', (t) => {
  const err = new NgacError('NGAC_ERR_NODE_NOT_FOUND', 'there is no node "x"')
  t.equal(err.details, undefined)
  t.equal(err.cause, undefined)
  t.notOk('cause' in err, 'no cause property at all')
  t.end()
})

t.test('toJSON is {code, message} plus details only when there are some', (t) => {
  const plain = new NgacError('NGAC_ERR_NODE_EXISTS', 'a node of that name exists')
  t.strictSame(plain.toJSON(), { code: 'NGAC_ERR_NODE_EXISTS', message: 'a node of that name exists' })
  t.notOk('details' in plain.toJSON())
  t.strictSame(JSON.parse(JSON.stringify(plain)), { code: 'NGAC_ERR_NODE_EXISTS', message: 'a node of that name exists' })

  const detailed = new NgacError('NGAC_ERR_POLICY_FILE', 'bad file', { details: { problems: ['a', 'b'] }, cause: new Error('inner') })
  t.strictSame(detailed.toJSON(), { code: 'NGAC_ERR_POLICY_FILE', message: 'bad file', details: { problems: ['a', 'b'] } })
  t.strictSame(JSON.parse(JSON.stringify(detailed)), { code: 'NGAC_ERR_POLICY_FILE', message: 'bad file', details: { problems: ['a', 'b'] } },
    'the cause and stack never reach a client')

  const falsy = new NgacError('NGAC_ERR_VALIDATION', 'x', { details: 0 })
  t.strictSame(falsy.toJSON(), { code: 'NGAC_ERR_VALIDATION', message: 'x', details: 0 }, 'falsy details are kept')
  t.end()
})

t.test('every code of the catalogue is NGAC_ERR_*; client mistakes are 4xx, only store faults, overload and bugs 5xx', (t) => {
  t.ok(CODES.length > 0)
  for (const code of CODES) {
    t.match(code, /^NGAC_ERR_[A-Z0-9_]+$/, code)
    const status = ERROR_CODES[code]
    const range = code.startsWith('NGAC_ERR_STORE_') || code === 'NGAC_ERR_INTERNAL' || code === 'NGAC_ERR_OVERLOADED' ? [500, 600] : [400, 500]
    t.ok(Number.isInteger(status) && status >= range[0] && status < range[1], `${code} has a status in ${range[0]}-${range[1] - 1} (${status})`)
  }
  t.end()
})

t.test('isNgacError recognises NgacErrors, optionally of one code', (t) => {
  const err = new NgacError('NGAC_ERR_NODE_NOT_FOUND', 'x')
  t.equal(isNgacError(err), true)
  t.equal(isNgacError(err, 'NGAC_ERR_NODE_NOT_FOUND'), true)
  t.equal(isNgacError(err, 'NGAC_ERR_NODE_EXISTS'), false)
  const lookalike = Object.assign(new Error('x'), { code: 'NGAC_ERR_NODE_NOT_FOUND', statusCode: 404 })
  t.equal(isNgacError(lookalike), false, 'an Error with a code property is not an NgacError')
  t.equal(isNgacError(lookalike, 'NGAC_ERR_NODE_NOT_FOUND'), false)
  t.equal(isNgacError({ code: 'NGAC_ERR_NODE_NOT_FOUND' }), false)
  t.equal(isNgacError(undefined), false)
  t.equal(isNgacError(null), false)
  t.equal(isNgacError('NGAC_ERR_NODE_NOT_FOUND'), false)
  t.end()
})
