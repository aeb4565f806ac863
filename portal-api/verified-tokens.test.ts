// Remembered token verifications: a token used again skips jose, but nothing
// jose would refuse is accepted, and the per-request session and wristband
// checks still apply to a remembered token.
import t from 'tap'
import { jwtVerify } from 'jose'
import { createPortalTokens } from './tokens.js'
import { createVerifiedTokenCache } from './verified-tokens.js'
import { TEST_SECRET, call, fakeTopups, login, manualClock, startPortal } from './testing/helpers.js'
import { createMemoryPortalBackend } from './testing/memory-backend.js'

const ALICE = { uid: '04A1B2C3D4E5F6', pin: 'ALICEPIN23' }

function countingTokens(options: { ttlS?: number; maxEntries?: number; maxAgeMs?: number } = {}) {
  const clock = manualClock()
  let verifications = 0
  const tokens = createPortalTokens({
    secret: TEST_SECRET,
    clock,
    ttlS: options.ttlS ?? 3600,
    verifiedCache: { ...(options.maxEntries === undefined ? {} : { maxEntries: options.maxEntries }), ...(options.maxAgeMs === undefined ? {} : { maxAgeMs: options.maxAgeMs }) },
    verifyJwt: (token, key, verifyOptions) => {
      verifications++
      return jwtVerify(token, key, verifyOptions)
    },
  })
  return { tokens, clock, verifications: () => verifications }
}

t.test('a token used again is verified by jose once, and again after the age cap', async (t) => {
  const w = countingTokens({ maxAgeMs: 60_000 })
  const issued = await w.tokens.issue(ALICE.uid)
  for (let i = 0; i < 5; i++) t.same(await w.tokens.verify(issued.token), { ok: true, claims: { uid: ALICE.uid, jti: issued.jti } })
  t.equal(w.verifications(), 1)
  w.clock.advance(60_000)
  t.same(await w.tokens.verify(issued.token), { ok: true, claims: { uid: ALICE.uid, jti: issued.jti } })
  t.equal(w.verifications(), 2, 'the signature is checked again after the cap')
})

t.test('an expired remembered token is refused as jose refuses it, by the clock of each use', async (t) => {
  const w = countingTokens({ ttlS: 30, maxAgeMs: 60_000 })
  const issued = await w.tokens.issue(ALICE.uid)
  t.equal((await w.tokens.verify(issued.token)).ok, true)
  w.clock.advance(29_999)
  t.equal((await w.tokens.verify(issued.token)).ok, true, 'a hit just before exp')
  t.equal(w.verifications(), 1)
  w.clock.advance(1)
  t.same(await w.tokens.verify(issued.token), { ok: false, reason: 'expired' })
  t.same(await w.tokens.verify(issued.token), { ok: false, reason: 'expired' }, 'and still after it left the cache (jose)')
  const jose = createPortalTokens({ secret: TEST_SECRET, clock: w.clock, ttlS: 30 })
  t.same(await jose.verify(issued.token), { ok: false, reason: 'expired' }, 'what jose alone answers')
})

t.test('a tampered token is never a hit', async (t) => {
  const w = countingTokens()
  const issued = await w.tokens.issue(ALICE.uid)
  t.equal((await w.tokens.verify(issued.token)).ok, true)
  const [header, payload, signature] = issued.token.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
  const otherPayload = Buffer.from(JSON.stringify({ ...claims, sub: '04B0B0B0B0B0B0' })).toString('base64url')
  const flipped = signature.slice(0, -2) + (signature.at(-2) === 'A' ? 'B' : 'A') + signature.at(-1)
  for (const tampered of [`${header}.${otherPayload}.${signature}`, `${header}.${payload}.${flipped}`, issued.token.slice(0, -1)]) {
    const before = w.verifications()
    t.same(await w.tokens.verify(tampered), { ok: false, reason: 'invalid' })
    t.equal(w.verifications(), before + 1, 'jose checked it')
    t.same(await w.tokens.verify(tampered), { ok: false, reason: 'invalid' }, 'a refusal is not remembered as valid')
  }
})

t.test('the cache is bounded: the least recently used token is verified again', async (t) => {
  const w = countingTokens({ maxEntries: 3 })
  const issued = await Promise.all([1, 2, 3, 4].map(() => w.tokens.issue(ALICE.uid)))
  for (const i of [0, 1, 2]) await w.tokens.verify(issued[i]!.token)
  await w.tokens.verify(issued[0]!.token) // 0 is now the most recently used
  t.equal(w.verifications(), 3)
  await w.tokens.verify(issued[3]!.token) // evicts 1
  t.equal(w.verifications(), 4)
  for (const i of [0, 2, 3]) await w.tokens.verify(issued[i]!.token)
  t.equal(w.verifications(), 4, 'the three most recent are hits')
  await w.tokens.verify(issued[1]!.token)
  t.equal(w.verifications(), 5, 'the evicted one goes to jose')

  const cache = createVerifiedTokenCache<string>({ clock: manualClock(), maxEntries: 100 })
  for (let i = 0; i < 1_000; i++) cache.remember(`token-${i}`, 'claims', Date.now() + 3_600_000_000)
  t.equal(cache.size, 100)
  t.throws(() => createVerifiedTokenCache({ clock: manualClock(), maxEntries: 0 }))
})

t.test('through the portal: a remembered token is still refused after logout, blocking or expiry', async (t) => {
  const clock = manualClock()
  const backend = createMemoryPortalBackend({ guests: [{ ...ALICE, balanceCents: 100 }], topups: fakeTopups() })
  const { base } = await startPortal(t, { backend, clock, tokenTtlS: 600 })

  const loggedOut = await login(base, ALICE.pin)
  for (let i = 0; i < 3; i++) t.equal((await call(base, 'GET', '/customer', { token: loggedOut })).status, 200)
  t.equal((await call(base, 'POST', '/auth/logout', { token: loggedOut })).status, 204)
  const afterLogout = await call(base, 'GET', '/customer', { token: loggedOut })
  t.equal(afterLogout.status, 401)
  t.equal(afterLogout.body.type, 'session_ended')

  const blocked = await login(base, ALICE.pin)
  t.equal((await call(base, 'GET', '/customer', { token: blocked })).status, 200)
  const original = backend.customer.bind(backend)
  backend.customer = (uid) => {
    const c = original(uid) as ReturnType<typeof original> & object
    return c === undefined ? c : { ...c, blocked: true }
  }
  const afterBlock = await call(base, 'GET', '/customer', { token: blocked })
  t.equal(afterBlock.status, 403)
  t.equal(afterBlock.body.type, 'wristband_blocked')
  backend.customer = original

  const expiring = await login(base, ALICE.pin)
  clock.advance(599_000)
  t.equal((await call(base, 'GET', '/customer', { token: expiring })).status, 200)
  t.equal((await call(base, 'GET', '/customer', { token: expiring })).status, 200)
  clock.advance(1_000)
  const afterExpiry = await call(base, 'GET', '/customer', { token: expiring })
  t.equal(afterExpiry.status, 401)
  t.equal(afterExpiry.body.type, 'token_expired')
})
