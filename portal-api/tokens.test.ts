import t from 'tap'
import { SignJWT } from 'jose'
import { TOKEN_AUDIENCE, TOKEN_ISSUER, createBearerTokens, createPortalTokens } from './tokens.js'
import { TEST_SECRET, manualClock } from './testing/helpers.js'

t.test('issue and verify; expiry by the injected clock', async (t) => {
  const clock = manualClock()
  const tokens = createPortalTokens({ secret: TEST_SECRET, clock, ttlS: 60 })
  const issued = await tokens.issue('04A1B2C3')
  t.equal(issued.expiresAtMs - issued.issuedAtMs, 60_000)
  t.same(await tokens.verify(issued.token), { ok: true, claims: { uid: '04A1B2C3', jti: issued.jti } })
  const other = await tokens.issue('04A1B2C3')
  t.not(other.jti, issued.jti, 'each token names its own session')
  clock.advance(61_000)
  t.same(await tokens.verify(issued.token), { ok: false, reason: 'expired' })
})

t.test('refuses weak keys, bad ttl, other algorithms and missing claims', async (t) => {
  const clock = manualClock()
  t.throws(() => createPortalTokens({ secret: new Uint8Array(16), clock, ttlS: 60 }))
  t.throws(() => createPortalTokens({ secret: TEST_SECRET, clock, ttlS: 0 }))
  const tokens = createPortalTokens({ secret: TEST_SECRET, clock, ttlS: 60 })
  const nowS = Math.floor(clock.now() / 1000)
  const base = () => new SignJWT({}).setIssuer(TOKEN_ISSUER).setAudience(TOKEN_AUDIENCE).setIssuedAt(nowS)
  const noJti = await base().setProtectedHeader({ alg: 'HS256' }).setSubject('04A1B2C3').setExpirationTime(nowS + 60).sign(TEST_SECRET)
  const noExp = await base().setProtectedHeader({ alg: 'HS256' }).setSubject('04A1B2C3').setJti('j').sign(TEST_SECRET)
  const hs512 = await base().setProtectedHeader({ alg: 'HS512' }).setSubject('04A1B2C3').setJti('j').setExpirationTime(nowS + 60).sign(TEST_SECRET)
  for (const token of [noJti, noExp, hs512, '', 'a.b.c']) t.same(await tokens.verify(token), { ok: false, reason: 'invalid' })
})

t.test('one module, many APIs: a token of another issuer or audience is refused, even with the same key', async (t) => {
  const clock = manualClock()
  const portal = createPortalTokens({ secret: TEST_SECRET, clock, ttlS: 60 })
  const users = createBearerTokens({ secret: TEST_SECRET, clock, ttlS: 60, issuer: 'wristpay', audience: 'wristpay-users-api', secretName: 'jwtSecret' })
  const otherIssuer = createBearerTokens({ secret: TEST_SECRET, clock, ttlS: 60, issuer: 'wristpay', audience: TOKEN_AUDIENCE, secretName: 'x' })
  t.same(await portal.verify((await users.issue('04A1B2C3')).token), { ok: false, reason: 'invalid' })
  t.same(await portal.verify((await otherIssuer.issue('04A1B2C3')).token), { ok: false, reason: 'invalid' })
  t.same(await users.verify((await portal.issue('04A1B2C3')).token), { ok: false, reason: 'invalid' })
  t.throws(() => createBearerTokens({ secret: 'short', clock, ttlS: 60, issuer: 'i', audience: 'a', secretName: 'jwtSecret' }), /jwtSecret must have at least 32 bytes/)
})
