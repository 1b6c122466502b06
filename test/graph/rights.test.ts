import t from 'tap'
import {
  ADMIN_RIGHTS,
  ALL_RIGHTS,
  RightsCatalog,
  maskAnd,
  maskAndNot,
  maskContains,
  maskEquals,
  maskHas,
  maskIsEmpty,
  maskOr,
  validateRightName
} from '../../src/graph/index.js'
import type { RightsMask } from '../../src/graph/index.js'

function words (...values: number[]): RightsMask {
  return Uint32Array.from(values)
}

t.test('admin rights take the first numbers, resource rights follow in declaration order', (t) => {
  const c = new RightsCatalog(['write', 'read'])
  t.equal(ADMIN_RIGHTS.length, 13)
  for (let i = 0; i < ADMIN_RIGHTS.length; i++) {
    t.equal(c.indexOf(ADMIN_RIGHTS[i]), i, ADMIN_RIGHTS[i])
    t.ok(c.isAdmin(ADMIN_RIGHTS[i]))
  }
  t.equal(c.indexOf('write'), ADMIN_RIGHTS.length)
  t.equal(c.indexOf('read'), ADMIN_RIGHTS.length + 1)
  t.notOk(c.isAdmin('read'))
  t.equal(c.indexOf('nope'), -1)
  t.notOk(c.has('nope'))
  t.notOk(c.isAdmin('nope'))
  t.ok(c.has('read'))
  t.ok(c.has('assign'))
  t.notOk(c.has(ALL_RIGHTS), "'*' is not a right of its own")
  t.equal(c.size, ADMIN_RIGHTS.length + 2)
  t.equal(c.words, 1)
  t.same(c.resourceRights, ['write', 'read'])
  t.ok(Object.isFrozen(c.resourceRights))
  t.end()
})

t.test('an empty catalogue holds the admin rights only', (t) => {
  const c = new RightsCatalog()
  t.equal(c.size, ADMIN_RIGHTS.length)
  t.same(c.resourceRights, [])
  t.same(c.names(c.full()), [...ADMIN_RIGHTS].sort())
  t.end()
})

t.test('names() lists the rights of a mask sorted', (t) => {
  const c = new RightsCatalog(['write', 'read', 'approve'])
  const m = c.mask(['write', 'read', 'assign', 'approve', 'create'])
  t.same(c.names(m), ['approve', 'assign', 'create', 'read', 'write'])
  t.same(c.names(c.empty()), [])
  t.same(c.names(c.full()), [...ADMIN_RIGHTS, 'write', 'read', 'approve'].sort())
  t.end()
})

t.test("mask() sets the named bits; '*' sets every right", (t) => {
  const c = new RightsCatalog(['read', 'write'])
  const m = c.mask(['read'])
  t.ok(maskHas(m, c.indexOf('read')))
  t.notOk(maskHas(m, c.indexOf('write')))
  t.notOk(maskHas(m, 1000), 'an index beyond the mask is not set')
  t.ok(maskEquals(c.mask([ALL_RIGHTS]), c.full()))
  t.ok(maskEquals(c.mask(['read', ALL_RIGHTS]), c.full()))
  t.ok(maskEquals(c.mask([ALL_RIGHTS, 'read']), c.full()))
  t.ok(maskIsEmpty(c.mask([])))
  t.equal(m.length, c.words)
  t.end()
})

t.test('full() and empty() return fresh masks', (t) => {
  const c = new RightsCatalog(['read'])
  const f = c.full()
  f.fill(0)
  t.notOk(maskIsEmpty(c.full()), 'changing a returned full mask does not change the catalogue')
  t.same(c.names(c.full()), [...ADMIN_RIGHTS, 'read'].sort())
  const e = c.empty()
  e[0] = 1
  t.ok(maskIsEmpty(c.empty()))
  t.end()
})

t.test('an unknown right is refused with NGAC_ERR_UNKNOWN_RIGHT', (t) => {
  const c = new RightsCatalog(['read'])
  t.throws(() => c.mask(['read', 'fly']), { code: 'NGAC_ERR_UNKNOWN_RIGHT', statusCode: 422 })
  t.throws(() => c.mask(['fly'], 'the association of x on y'), { code: 'NGAC_ERR_UNKNOWN_RIGHT' })
  t.end()
})

t.test('declaring resource rights: bad names, admin clashes and duplicates are refused', (t) => {
  t.throws(() => new RightsCatalog(['assign']), { code: 'NGAC_ERR_INVALID_RIGHT' })
  t.throws(() => new RightsCatalog(['read', 'read']), { code: 'NGAC_ERR_INVALID_RIGHT' })
  for (const bad of ['', 'a b', 'a,b', '*', 'r*', 'tab\t', 'nul\u0000', 'del\u007f', 'x'.repeat(129)]) {
    t.throws(() => new RightsCatalog([bad]), { code: 'NGAC_ERR_INVALID_RIGHT' }, JSON.stringify(bad))
    t.throws(() => validateRightName(bad), { code: 'NGAC_ERR_INVALID_RIGHT' }, JSON.stringify(bad))
  }
  t.throws(() => validateRightName(7), { code: 'NGAC_ERR_INVALID_RIGHT' })
  for (const good of ['read', 'x'.repeat(128), 'doc:approve', 'lesen-ü', 'a/b']) {
    t.doesNotThrow(() => new RightsCatalog([good]), good)
  }
  t.end()
})

t.test('a catalogue of 40 resource rights needs two words', (t) => {
  const rights = Array.from({ length: 40 }, (_, i) => `r${String(i).padStart(2, '0')}`)
  const c = new RightsCatalog(rights)
  t.equal(c.size, ADMIN_RIGHTS.length + 40)
  t.equal(c.words, 2)
  const last = rights[39]
  t.equal(c.indexOf(last), ADMIN_RIGHTS.length + 39)
  const m = c.mask([last, 'r00', 'create'])
  t.equal(m.length, 2)
  t.ok(maskHas(m, c.indexOf(last)))
  t.not(m[1], 0, 'the last right lives in the second word')
  t.same(c.names(m), ['create', 'r00', last])
  t.same(c.names(c.full()), [...ADMIN_RIGHTS, ...rights].sort())
  // The right numbered 31 sets the sign bit of the first word: still read back as set.
  const r31 = rights[31 - ADMIN_RIGHTS.length]
  t.ok(maskHas(c.mask([r31]), 31))
  t.same(c.names(c.mask([r31])), [r31])
  t.equal(c.full()[0], 0xffffffff)
  t.equal(c.full()[1], (1 << (ADMIN_RIGHTS.length + 40 - 32)) - 1)
  t.end()
})

t.test('exactly 32 rights fit one word, 33 need two', (t) => {
  const fill = (n: number): string[] => Array.from({ length: n - ADMIN_RIGHTS.length }, (_, i) => `r${i}`)
  t.equal(new RightsCatalog(fill(32)).words, 1)
  t.equal(new RightsCatalog(fill(33)).words, 2)
  t.end()
})

t.test('masks of different lengths combine as if the shorter were padded with zeros', (t) => {
  const one = (): RightsMask => words(0b1100)
  const two = (): RightsMask => words(0b1010, 0b1)

  t.test('maskOr', (t) => {
    const into = two()
    maskOr(into, one())
    t.same([...into], [0b1110, 0b1])
    const short = one()
    maskOr(short, two())
    t.equal(short.length, 1, 'a mask never grows')
    t.equal(short[0], 0b1110)
    t.end()
  })

  t.test('maskAnd', (t) => {
    const into = two()
    maskAnd(into, one())
    t.same([...into], [0b1000, 0], 'words missing from the shorter mask count as zero')
    const short = one()
    maskAnd(short, two())
    t.same([...short], [0b1000])
    t.end()
  })

  t.test('maskAndNot', (t) => {
    const into = two()
    maskAndNot(into, one())
    t.same([...into], [0b0010, 0b1], 'the second word is kept')
    const short = one()
    maskAndNot(short, two())
    t.same([...short], [0b0100])
    t.end()
  })

  t.test('maskContains', (t) => {
    t.ok(maskContains(words(0b1110, 0b1), words(0b0110)))
    t.ok(maskContains(words(0b1110), words(0b0110, 0)), 'zero words beyond the mask are contained')
    t.notOk(maskContains(words(0b1110), words(0b0110, 0b1)), 'a right in a word the mask lacks is missing')
    t.notOk(maskContains(words(0b0100, 0b1), words(0b1000)))
    t.ok(maskContains(words(0), words()), 'the empty mask is in every mask')
    t.end()
  })

  t.test('maskEquals', (t) => {
    t.ok(maskEquals(words(0b1100), words(0b1100, 0)))
    t.ok(maskEquals(words(0b1100, 0), words(0b1100)))
    t.notOk(maskEquals(words(0b1100), words(0b1100, 0b1)))
    t.notOk(maskEquals(words(0b1100, 0b1), words(0b1100)))
    t.notOk(maskEquals(words(0b1100), words(0b1000)))
    t.end()
  })

  t.test('maskHas and maskIsEmpty', (t) => {
    t.ok(maskHas(two(), 32))
    t.notOk(maskHas(one(), 32), 'a bit beyond a shorter mask is unset')
    t.ok(maskHas(words(0x80000000), 31))
    t.ok(maskIsEmpty(words(0, 0)))
    t.notOk(maskIsEmpty(words(0, 0x80000000)))
    t.end()
  })

  t.test('a mask built before the catalogue grew stays valid', (t) => {
    const small = new RightsCatalog(['read'])
    const big = new RightsCatalog(['read', ...Array.from({ length: 30 }, (_, i) => `x${i}`)])
    t.equal(small.words, 1)
    t.equal(big.words, 2)
    const old = small.mask(['read', 'create'])
    t.same(big.names(old), ['create', 'read'])
    t.ok(maskContains(big.full(), old))
    t.notOk(maskContains(old, big.mask(['x29'])))
    const acc = big.empty()
    maskOr(acc, old)
    t.ok(maskEquals(acc, big.mask(['read', 'create'])))
    t.end()
  })

  t.end()
})
