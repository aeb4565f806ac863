// Small parts of the users API: password hashes, bearer tokens, the keyed lock.
import t from 'tap'
import { fixedClock } from '../ledger/testing/test-helpers.js'
import { createKeyedLock } from '../keyed-lock.js'
import { hashPassword, verifyPassword } from './passwords.js'
import { createTokenIssuer } from './tokens.js'

const SECRET = 'a-secret-of-at-least-thirty-two-bytes!!'

t.test('passwords: right, wrong, and malformed stored hashes', async (t) => {
  const stored = await hashPassword('correct horse battery', 1024)
  t.equal(await verifyPassword('correct horse battery', stored), true)
  t.equal(await verifyPassword('correct horse batterY', stored), false)
  t.equal(await verifyPassword('correct horse battery', ''), false, 'a deleted user\'s empty hash never matches')
  t.equal(await verifyPassword('x', 'scrypt$1073741824$8$1$AAAA$AAAA'), false, 'absurd cost refused, not computed')
  t.equal(await verifyPassword('x', 'scrypt$1024$8$1$AAAA$AAAA'), false, 'short key refused')
  t.equal(await verifyPassword('x', 'bcrypt$whatever'), false)
})

t.test('tokens: round trip, expiry, tampering, weak secret', async (t) => {
  const clock = fixedClock()
  const issuer = createTokenIssuer({ secret: SECRET, clock, ttlSeconds: 10 })
  const token = await issuer.issue('user-1')
  t.equal(await issuer.verify(token), 'user-1')
  const [h, p, s] = token.split('.')
  const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as { sub: string }
  payload.sub = 'user-2'
  t.equal(await issuer.verify(`${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`), null, 'tampered subject')
  t.equal(await issuer.verify('a.b.c'), null)
  clock.advance(11_000)
  t.equal(await issuer.verify(token), null, 'expired')
  t.throws(() => createTokenIssuer({ secret: 'short', clock, ttlSeconds: 10 }), /at least 32 bytes/)
  t.throws(() => createTokenIssuer({ secret: SECRET, clock, ttlSeconds: 0 }), /positive/)
})

t.test('keyed lock: one at a time per key, failures do not block the next, keys are released', async (t) => {
  const lock = createKeyedLock()
  const order: string[] = []
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  const first = lock.run('k', async () => {
    order.push('first start')
    await gate
    order.push('first end')
    throw new Error('first failed')
  })
  const second = lock.run('k', async () => {
    order.push('second')
    return 2
  })
  const other = lock.run('other', async () => {
    order.push('other key')
    return 3
  })
  t.equal(await other, 3)
  release()
  await t.rejects(first, /first failed/)
  t.equal(await second, 2)
  t.same(order, ['first start', 'other key', 'first end', 'second'])
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(lock.size, 0)
})
