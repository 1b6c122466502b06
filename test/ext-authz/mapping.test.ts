// The proxy request mapping on its own (no transport): XFCC parsing, JWT payload claims, path
// segments, route templates, the unknown-object rule, the order of identity sources and the
// headers of an allow. Decisions run against a real in-memory policy.
import t, { type Test } from 'tap'
import { loadConfig } from '../../src/config.js'
import { allowHeaders, claimFromPayload, denyBody, ExtAuthz, pathSegments, spiffeFromXfcc, type ProxyDecision, type ProxyRequest } from '../../src/ext-authz/mapping.js'
import { openPolicy, type Policy } from '../../src/policy.js'

const FRONTEND = 'spiffe://example.org/ns/shop/sa/frontend'
const AUDITOR = 'spiffe://example.org/ns/shop/sa/auditor'

/** Every user reads and writes orders and files; the auditor only reads; nobody holds 'special'. */
const POLICY = {
  resourceRights: ['read', 'write'],
  nodes: [
    { name: 'shop', type: 'PC' },
    { name: 'staff', type: 'UA' },
    { name: 'readers', type: 'UA' },
    { name: FRONTEND, type: 'U' },
    { name: AUDITOR, type: 'U' },
    { name: 'alice', type: 'U' },
    { name: 'bob', type: 'U' },
    { name: 'José', type: 'U' },
    { name: 'a%41', type: 'U' },
    { name: 'orders', type: 'OA' },
    { name: 'order:42', type: 'O' },
    { name: 'order:special', type: 'O' },
    { name: 'special', type: 'O' },
    { name: 'file:css/site.css', type: 'O' },
    { name: '/health', type: 'O' }
  ],
  assignments: [
    ['staff', 'shop'], ['readers', 'shop'],
    [FRONTEND, 'staff'], ['alice', 'staff'], ['bob', 'staff'], ['José', 'staff'], ['a%41', 'staff'], [AUDITOR, 'readers'],
    ['orders', 'shop'], ['order:42', 'orders'], ['order:special', 'orders'], ['special', 'shop'], ['file:css/site.css', 'orders'], ['/health', 'orders']
  ],
  associations: [
    { ua: 'staff', target: 'orders', rights: ['read', 'write', 'delete'] },
    { ua: 'readers', target: 'orders', rights: ['read'] }
  ],
  prohibitions: []
}

function policy (t: Test): Policy {
  const p = openPolicy({ db: ':memory:', policy: POLICY })
  t.teardown(() => { p.close() })
  return p
}

/** An ExtAuthz over the policy with `extAuthz` as the config section (defaults filled in). */
function authz (t: Test, extAuthz: Record<string, unknown> = {}, p: Policy = policy(t)): ExtAuthz {
  return new ExtAuthz(p, loadConfig({ document: { extAuthz } }).extAuthz)
}

function req (method: string, path: string, headers: ProxyRequest['headers'] = {}, more: Partial<ProxyRequest> = {}): ProxyRequest {
  return { method, path, headers, ...more }
}

function b64 (claims: unknown): string {
  return Buffer.from(JSON.stringify(claims)).toString('base64url')
}

/** The parts of a decision the tables compare. */
function outcome (d: ProxyDecision): [number, string, string | undefined, string | undefined, string | undefined] {
  return [d.status, d.reason, d.user, d.right, d.object]
}

t.test('spiffeFromXfcc', async (t) => {
  const cases: [string | undefined, string | undefined, string][] = [
    [undefined, undefined, 'no header'],
    ['', undefined, 'an empty header'],
    [`URI=${FRONTEND}`, FRONTEND, 'a URI alone'],
    [`By=spiffe://example.org/ns/shop/sa/orders;Hash=0123abcd;URI=${FRONTEND}`, FRONTEND, 'a full element'],
    [` By=spiffe://example.org/x ; uri = ${FRONTEND} `, FRONTEND, 'spaces around pairs, a lower-case key'],
    [`URI=${AUDITOR},URI=${FRONTEND}`, FRONTEND, 'several elements: the last one'],
    [`URI=${FRONTEND},By=spiffe://example.org/x;Hash=00`, undefined, 'the last element has no URI: an earlier one is not trusted'],
    [`URI=${FRONTEND},`, undefined, 'an empty last element'],
    [`Subject="CN=a, O=b; c";URI=${FRONTEND}`, FRONTEND, 'a quoted value holding a comma and a semicolon'],
    [`URI=${AUDITOR};Subject="CN=x,O=y",Subject="CN=a, O=b";URI=${FRONTEND}`, FRONTEND, 'commas inside quotes in both elements'],
    [`Subject="CN=\\"a,b\\";c";URI=${FRONTEND}`, FRONTEND, 'escaped quotes inside a quoted value'],
    [`URI="${FRONTEND}"`, FRONTEND, 'a quoted URI'],
    [`URI="spiffe://example.org/ns/a\\"b"`, 'spiffe://example.org/ns/a"b', 'an escaped quote inside a quoted URI'],
    ['URI=https://example.org/frontend', undefined, 'a URI that is not a SPIFFE ID'],
    [`URI=https://example.org/frontend;URI=${FRONTEND}`, FRONTEND, 'the SPIFFE ID among the URIs'],
    [`DNS=${FRONTEND};By=${AUDITOR}`, undefined, 'a SPIFFE ID under another key'],
    ['URI=SPIFFE://example.org/x', undefined, 'the scheme is lower case']
  ]
  for (const [header, expected, what] of cases) t.equal(spiffeFromXfcc(header), expected, what)
})

t.test('claimFromPayload', async (t) => {
  const payload = b64({ sub: 'alice', n: 7, ok: true, list: ['a'], nested: { user: { name: 'bob' } }, empty: '' })
  t.equal(claimFromPayload(payload, 'sub'), 'alice')
  t.equal(claimFromPayload(payload, 'nested.user.name'), 'bob', 'a dotted claim walks objects')
  t.equal(claimFromPayload(payload, 'empty'), '', 'an empty string is returned as it is (the caller skips it)')
  for (const claim of ['n', 'ok', 'list', 'nested', 'nested.user', 'list.0', 'missing', 'nested.missing', 'sub.length', 'constructor', 'toString']) {
    t.equal(claimFromPayload(payload, claim), undefined, `${claim}: not a string claim of the payload`)
  }
  t.equal(claimFromPayload(Buffer.from(JSON.stringify({ sub: 'alice' })).toString('base64'), 'sub'), 'alice', 'padded base64 is read too')
  for (const [header, what] of [[undefined, 'no header'], ['', 'empty'], ['%%%', 'not base64url'], [b64('alice').slice(0, -2), 'truncated JSON'],
    [Buffer.from('not json').toString('base64url'), 'not JSON'], [b64(['alice']), 'an array'], [b64('alice'), 'a string'], [b64(null), 'null']] as const) {
    t.equal(claimFromPayload(header, 'sub'), undefined, what)
  }
})

t.test('pathSegments', async (t) => {
  const cases: [string, string[] | null, string][] = [
    ['/', ['', ''], 'the root'],
    ['/orders/42', ['', 'orders', '42'], 'plain'],
    ['/orders/42?expand=items&x=%zz', ['', 'orders', '42'], 'the query string is dropped, malformed or not'],
    ['/orders/42#top', ['', 'orders', '42'], 'the fragment is dropped'],
    ['/orders/42#a?b', ['', 'orders', '42'], 'a fragment before a ?'],
    ['/orders/42/', ['', 'orders', '42'], 'one trailing slash is ignored'],
    ['/orders/42//', ['', 'orders', '42', ''], 'only one'],
    ['/a//b', ['', 'a', '', 'b'], 'empty segments are kept'],
    ['/files/caf%C3%A9/a%20b', ['', 'files', 'café', 'a b'], 'escapes are decoded per segment'],
    ['/orders/a%2Fb', ['', 'orders', 'a/b'], 'an encoded slash stays inside its segment'],
    ['/orders/%zz', null, 'a malformed escape'],
    ['/orders/%C3', null, 'an escape that is not UTF-8'],
    ['/a/../b', null, 'a .. segment'],
    ['/a/./b', null, 'a . segment'],
    ['/a/..', null, 'a trailing .. segment'],
    ['/a/%2e%2E/b', null, 'an encoded .. segment'],
    ['/a/%2e', null, 'an encoded . segment'],
    ['/a/..b/.c', ['', 'a', '..b', '.c'], 'dots inside a segment are fine'],
    ['orders/42', null, 'no leading slash'],
    ['', null, 'empty'],
    ['*', null, 'the asterisk form'],
    ['http://shop.example.org/orders/42', null, 'the absolute form'],
    ['?x=1', null, 'only a query string']
  ]
  for (const [target, expected, what] of cases) t.same(pathSegments(target), expected, `${what}: ${target}`)
})

t.test('route templates', async (t) => {
  const a = authz(t, {
    unknownObject: 'deny',
    routes: [
      { path: '/orders/special', object: 'order:special' },
      { path: '/orders/:id', object: 'order:{id}' },
      { path: '/orders/:id', object: 'never' },
      { path: '/orders/:id/cancel', object: 'order:{id}', right: 'delete' },
      { path: '/orders/:id/items/:item', object: 'order:{id}' },
      { path: '/static/*', object: 'file:{*}' },
      { path: '/v/:version/', object: 'special' }
    ]
  })
  const as = (method: string, path: string): ReturnType<typeof outcome> => outcome(a.decide(req(method, path, {}, { principal: FRONTEND })))
  t.same(as('GET', '/orders/42'), [200, 'allowed', FRONTEND, 'read', 'order:42'], 'a parameter')
  t.same(as('GET', '/orders/special'), [200, 'allowed', FRONTEND, 'read', 'order:special'], 'first match wins (a literal before a parameter)')
  t.same(as('POST', '/orders/42/cancel'), [200, 'allowed', FRONTEND, 'delete', 'order:42'], 'a per-route right overrides the method')
  t.same(as('GET', '/orders/42/items/7'), [200, 'allowed', FRONTEND, 'read', 'order:42'], 'two parameters')
  t.same(as('GET', '/static/css/site.css'), [200, 'allowed', FRONTEND, 'read', 'file:css/site.css'], 'a trailing * takes the rest of the path')
  t.same(as('GET', '/static/css%2Fsite.css'), [200, 'allowed', FRONTEND, 'read', 'file:css/site.css'], 'the rest is decoded per segment')
  t.same(as('GET', '/orders/43'), [403, 'denied', FRONTEND, 'read', 'order:43'], 'an unknown object is a deny')
  t.same(as('GET', '/orders//cancel'), [403, 'no route', FRONTEND, undefined, undefined], 'an empty parameter segment does not match')
  t.same(as('GET', '/orders/42/cancel/now'), [403, 'no route', FRONTEND, undefined, undefined], 'more segments than the template')
  t.same(as('GET', '/v/2'), [403, 'denied', FRONTEND, 'read', 'special'], 'a template with a trailing slash matches without one')
  t.same(as('BREW', '/orders/42'), [403, 'unknown method', FRONTEND, undefined, 'order:42'], 'a method without a right')
  t.same(as('get', '/orders/42'), [200, 'allowed', FRONTEND, 'read', 'order:42'], 'methods are compared in upper case')

  const bad: [Record<string, string>, RegExp][] = [
    [{ path: '/static/*/x', object: 'file:{*}' }, /'\*' may only end a path/],
    [{ path: '/orders/:1d', object: 'order' }, /':1d' is not a parameter name/],
    [{ path: '/orders/:', object: 'order' }, /':' is not a parameter name/],
    [{ path: '/orders/:id/x/:id', object: 'order:{id}' }, /':id' appears twice/],
    [{ path: '/orders/:id', object: 'order:{nope}' }, /'\{nope\}' is not a parameter/],
    [{ path: '/orders/:id', object: 'order:{*}' }, /no trailing \*/],
    [{ path: '/orders/:id', object: 'order:{}' }, /'\{\}' is not a parameter/]
  ]
  for (const [route, message] of bad) {
    t.throws(() => authz(t, { routes: [{ path: '/ok/:id', object: 'ok:{id}' }, route] }), { code: 'NGAC_ERR_CONFIG', message }, `${route.path} -> ${route.object}`)
    t.throws(() => authz(t, { routes: [{ path: '/ok/:id', object: 'ok:{id}' }, route] }), { message: /extAuthz\.routes\[1\]/ }, 'the message names the route')
  }
})

t.test("unknownObject: 'path' uses the path itself, 'deny' denies", async (t) => {
  const p = policy(t)
  const byPath = authz(t, {}, p)
  const denying = authz(t, { unknownObject: 'deny' }, p)
  const as = (a: ExtAuthz, path: string): ReturnType<typeof outcome> => outcome(a.decide(req('GET', path, {}, { principal: FRONTEND })))
  t.same(as(byPath, '/health?verbose=1'), [200, 'allowed', FRONTEND, 'read', '/health'], "'path' (the default): the path without its query string")
  t.same(as(byPath, '/health/'), [200, 'allowed', FRONTEND, 'read', '/health'], 'without its trailing slash')
  t.same(as(byPath, '/nothing/here'), [403, 'denied', FRONTEND, 'read', '/nothing/here'], 'an unknown object is a deny')
  t.same(as(byPath, '/he%2Falth'), [403, 'malformed path', FRONTEND, undefined, undefined], 'an encoded slash cannot become an object name')
  t.same(as(denying, '/health'), [403, 'no route', FRONTEND, undefined, undefined], "'deny'")
  t.same(outcome(denying.decide(req('GET', '/health', {}, { principal: FRONTEND, contextExtensions: { object: '/health' } }))),
    [200, 'allowed', FRONTEND, 'read', '/health'], 'context_extensions name the object even then')
})

t.test('identity sources: the first configured one that yields an identity', async (t) => {
  const p = policy(t)
  const xfcc = `URI=${AUDITOR}`
  const jwt = b64({ sub: 'alice', user: { id: 'bob' } })
  const headers = { 'x-forwarded-client-cert': xfcc, 'x-jwt': jwt, 'x-user': ' José ' }
  const user = (a: ExtAuthz, h: ProxyRequest['headers'], principal?: string): string | undefined => a.decide(req('GET', '/orders/42', h, { principal })).user

  const defaults = authz(t, {}, p)
  t.equal(user(defaults, headers, FRONTEND), AUDITOR, 'by default: XFCC first')
  t.equal(user(defaults, { 'x-user': 'alice' }, FRONTEND), FRONTEND, 'then source.principal')
  t.equal(user(defaults, { 'x-user': 'alice', 'x-jwt': jwt }), undefined, 'a plain header or a JWT is trusted only when configured')

  const headerFirst = authz(t, { identity: [{ type: 'header', header: 'X-User' }, { type: 'jwt', header: 'x-jwt', claim: 'user.id' }, { type: 'xfcc' }] }, p)
  t.equal(user(headerFirst, headers), 'José', 'a configured header, trimmed, named in any case')
  t.equal(user(headerFirst, { ...headers, 'x-user': '   ' }), 'bob', 'a blank header falls through to the next source')
  t.equal(user(headerFirst, { 'x-forwarded-client-cert': xfcc, 'x-jwt': '!!' }), AUDITOR, 'so does a payload that cannot be read')
  t.equal(user(headerFirst, { 'x-user': ['mallory', 'alice'] }), 'alice', 'the last of a repeated header')
  t.equal(user(headerFirst, { 'x-user': [] }), undefined)

  const principalFirst = authz(t, { identity: [{ type: 'principal' }, { type: 'xfcc' }] }, p)
  t.equal(user(principalFirst, headers, FRONTEND), FRONTEND)
  t.equal(user(principalFirst, headers, ''), AUDITOR, 'an empty principal falls through')
  t.equal(user(principalFirst, { 'x-forwarded-client-cert': [`URI=${FRONTEND}`, xfcc] }), AUDITOR, 'the last XFCC header')

  const none = defaults.decide(req('GET', '/orders/42'))
  t.same(outcome(none), [401, 'no identity', undefined, undefined, undefined], 'no identity: 401')
  t.equal(none.allowed, false)
})

t.test('decisions: one shape, unique ids, the revision decided at; context_extensions', async (t) => {
  const p = policy(t)
  const a = authz(t, { routes: [{ path: '/orders/:id', object: 'order:{id}' }] }, p)
  const allow = a.decide(req('PUT', '/orders/42', {}, { principal: FRONTEND }))
  const deny = a.decide(req('PUT', '/orders/42', {}, { principal: AUDITOR }))
  t.same(Object.keys(allow).sort(), ['allowed', 'decisionId', 'object', 'reason', 'revision', 'right', 'status', 'user'])
  t.same(Object.keys(deny).sort(), Object.keys(allow).sort())
  t.match(allow, { allowed: true, status: 200, reason: 'allowed', right: 'write', object: 'order:42', revision: p.revision })
  t.match(deny, { allowed: false, status: 403, reason: 'denied' })
  t.not(allow.decisionId, deny.decisionId)
  t.equal(allow.decisionId.split('-')[0], deny.decisionId.split('-')[0], 'one prefix per instance')
  t.not(authz(t, {}, p).decide(req('GET', '/')).decisionId.split('-')[0], allow.decisionId.split('-')[0], 'another per instance')
  t.same(JSON.parse(denyBody(deny)), { allowed: false, reason: 'denied', decisionId: deny.decisionId })

  const ext = (contextExtensions: Record<string, string>, method = 'GET'): ReturnType<typeof outcome> =>
    outcome(a.decide(req(method, '/elsewhere', {}, { principal: AUDITOR, contextExtensions })))
  t.same(ext({ object: 'order:42', right: 'read' }), [200, 'allowed', AUDITOR, 'read', 'order:42'])
  t.same(ext({ object: 'order:42', right: 'write' }), [403, 'denied', AUDITOR, 'write', 'order:42'])
  t.same(ext({ object: 'order:42' }, 'DELETE'), [403, 'denied', AUDITOR, 'delete', 'order:42'], 'an object alone: the right from the method')
  t.same(ext({ object: 'order:42' }, 'BREW'), [403, 'unknown method', AUDITOR, undefined, 'order:42'])
  t.same(ext({ right: 'read' }), [403, 'denied', AUDITOR, 'read', '/elsewhere'], 'a right alone: the object from the path')
  t.same(ext({ object: 'order:42', right: 'read', other: 'x' }), [200, 'allowed', AUDITOR, 'read', 'order:42'], 'other keys are ignored')
})

t.test('allowHeaders: the user percent-encoded unless plain, so decoding always gives it back', async (t) => {
  const p = policy(t)
  const a = authz(t, { identity: [{ type: 'header', header: 'x-user' }] }, p)
  const headers = (user: string): [string, string][] => allowHeaders(a.decide(req('GET', '/health', { 'x-user': user })))
  const d = a.decide(req('GET', '/health', { 'x-user': 'alice' }))
  t.same(allowHeaders(d), [['x-ngac-user', 'alice'], ['x-ngac-revision', String(p.revision)], ['x-ngac-decision-id', d.decisionId]])
  t.same(headers(FRONTEND)[0], ['x-ngac-user', FRONTEND], 'a SPIFFE ID is sent as it is')
  t.same(headers('José')[0], ['x-ngac-user', 'Jos%C3%A9'], 'non-ASCII is percent-encoded')
  t.same(headers('a%41')[0], ['x-ngac-user', 'a%2541'], "a '%' is encoded, so the value never decodes to another user")
  for (const user of [FRONTEND, 'José', 'a%41', 'alice']) {
    t.equal(decodeURIComponent(headers(user)[0]?.[1] ?? ''), user, `decodeURIComponent gives back ${user}`)
  }
  const spaced: ProxyDecision = { ...d, user: ' bob smith ' }
  t.same(allowHeaders(spaced)[0], ['x-ngac-user', '%20bob%20smith%20'], 'spaces at either end would be trimmed in transit: encoded')
  t.same(allowHeaders({ ...d, user: 'bob smith' })[0], ['x-ngac-user', 'bob smith'], 'inner spaces are plain')
  t.same(allowHeaders({ ...d, user: 'line\nbreak' })[0], ['x-ngac-user', 'line%0Abreak'], 'control characters are encoded')
})
