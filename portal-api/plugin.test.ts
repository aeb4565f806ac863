// The portal plugin against the in-memory backend, over real HTTP: tokens,
// sessions, guest isolation, refusals, money at the edge, rate limits, and
// that PINs never reach the log.
import t, { type Test } from 'tap'
import { SignJWT } from 'jose'
import type { PortalOrder } from './backend.js'
import { AUTHENTICATED_ROUTES, TEST_SECRET, call, fakeTopups, logCapture, login, manualClock, recordingPinAttempts, startPortal } from './testing/helpers.js'
import { createMemoryPortalBackend } from './testing/memory-backend.js'
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from './tokens.js'

const ALICE = { uid: '04A1B2C3D4E5F6', pin: 'ALICEPIN23' }
const BOB = { uid: '04B0B0B0B0B0B0', pin: 'BOBPIN2345' }
const BLOCKED = { uid: '04BADBADBADBAD', pin: 'BLOCKED234' }
const ALICE_RECEIPT = '3f0c6a52-9f1e-4c57-b2a4-0d6c1f0b9a11'
const BOB_RECEIPT = '7d2e1b44-3c5a-4e8f-9a61-5b2c7d8e9f00'

function sale(receiptId: string, totalCents: number): Omit<PortalOrder, 'id'> {
  return {
    receiptId,
    orderType: 'sale',
    paymentMethod: 'tag',
    totalCents,
    bookedAtMs: 1_750_000_000_000,
    lines: [{ itemId: 1, productId: 7, productName: 'Beer', quantity: totalCents / 450, unitPriceCents: 450, taxRateBasisPoints: 1900, taxName: 'VAT 19%', taxRateId: 1 }],
  }
}

async function world(t: Test, options: { rateLimit?: Parameters<typeof startPortal>[1]['rateLimit']; tokenTtlS?: number } = {}) {
  const clock = manualClock()
  const topups = fakeTopups()
  const backend = createMemoryPortalBackend({
    guests: [
      { ...ALICE, balanceCents: 2000, orders: [sale(ALICE_RECEIPT, 900)] },
      { ...BOB, balanceCents: 500, orders: [sale(BOB_RECEIPT, 450)] },
      { ...BLOCKED, balanceCents: 100, blocked: true },
    ],
    topups,
  })
  const logs = logCapture()
  const { base, app } = await startPortal(t, { backend, clock, logger: logs.logger, ...options })
  return { base, app, clock, topups, backend, logs }
}

t.test('login returns a bearer token and the customer; the token opens the guest routes', async (t) => {
  const w = await world(t)
  const res = await call(w.base, 'POST', '/auth/login', { body: { pin: ALICE.pin, node_id: 3 } })
  t.equal(res.status, 200)
  t.equal(res.body.grant_type, 'bearer')
  t.equal(res.body.customer.user_tag_uid_hex, ALICE.uid)
  t.equal(res.body.customer.balance, 20)
  t.equal(res.body.customer.user_tag_pin, null, 'the PIN is never sent back')
  t.equal(res.headers.get('cache-control'), 'no-store')
  const me = await call(w.base, 'GET', '/customer', { token: res.body.access_token })
  t.equal(me.status, 200)
  t.equal(me.body.user_tag_uid_hex, ALICE.uid)
  // node_id is optional (the seed requires it; our one-event gateway does not need it).
  t.equal((await call(w.base, 'POST', '/auth/login', { body: { pin: ALICE.pin } })).status, 200)
  // PINs may be typed in lower case or grouped: the backend normalises, the schema lets them through.
  t.equal((await call(w.base, 'POST', '/auth/login', { body: { pin: 'alic-epin 23' } })).status, 404, 'memory backend compares exactly')
})

t.test('login refusals: unknown PIN, blocked wristband, malformed bodies', async (t) => {
  const w = await world(t)
  const unknown = await call(w.base, 'POST', '/auth/login', { body: { pin: 'NOPE23456' } })
  t.equal(unknown.status, 404, 'the status the OpenAPI file gives login for an unknown PIN')
  t.equal(unknown.body.type, 'invalid_pin')
  t.equal(unknown.body.message, 'this PIN is not known')
  t.equal(unknown.headers.get('www-authenticate'), null, 'no bearer challenge: this is not a 401')
  t.type(unknown.body.id, 'string')
  const blocked = await call(w.base, 'POST', '/auth/login', { body: { pin: BLOCKED.pin } })
  t.equal(blocked.status, 403)
  t.equal(blocked.body.type, 'wristband_blocked')
  for (const body of [{}, { pin: 12345678 }, { pin: 'AB' }, { pin: 'ALICE<script>' }, { pin: ALICE.pin, node_id: 'x' }, [ALICE.pin]]) {
    const res = await call(w.base, 'POST', '/auth/login', { body })
    t.equal(res.status, 422, JSON.stringify(body))
    t.ok(Array.isArray(res.body.detail) && res.body.detail.length > 0, 'detail as in HTTPValidationError')
    t.same(res.body.detail[0].loc[0], 'body')
  }
  const missing = await call(w.base, 'POST', '/auth/login', { body: {} })
  t.same(missing.body.detail[0].loc, ['body', 'pin'])
  const badJson = await call(w.base, 'POST', '/auth/login', { body: `{"pin":${ALICE.pin}}` })
  t.equal(badJson.status, 400)
  t.notMatch(badJson.text, ALICE.pin, 'a broken body is not echoed (it holds the PIN)')
  const wrongType = await call(w.base, 'POST', '/auth/login', { body: `pin=${ALICE.pin}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(wrongType.status, 415)
  t.notMatch(wrongType.text, ALICE.pin)
  t.notMatch(w.logs.text(), ALICE.pin, 'no PIN in the log')
  t.notMatch(w.logs.text(), BLOCKED.pin)
  t.notMatch(w.logs.text(), 'NOPE23456')
})

t.test('every authenticated route refuses a missing, malformed, foreign, tampered or unsigned token', async (t) => {
  const w = await world(t)
  const good = await login(w.base, ALICE.pin)
  const [header, payload, signature] = good.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
  // Same signature, payload changed to Bob: the signature no longer matches.
  const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: BOB.uid })).toString('base64url')}.${signature}`
  const otherKey = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(ALICE.uid).setJti(claims.jti).setIssuer(TOKEN_ISSUER).setAudience(TOKEN_AUDIENCE).setExpirationTime('1h').sign(new Uint8Array(32).fill(7))
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`
  // Signed with our key but naming no session (a jti we never issued).
  const noSession = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(ALICE.uid).setJti('not-a-session').setIssuer(TOKEN_ISSUER).setAudience(TOKEN_AUDIENCE).setIssuedAt(Math.floor(w.clock.now() / 1000)).setExpirationTime(Math.floor(w.clock.now() / 1000) + 3600).sign(TEST_SECRET)
  // Alice's session id under Bob's uid, correctly signed: the session belongs to Alice.
  const swapped = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(BOB.uid).setJti(claims.jti).setIssuer(TOKEN_ISSUER).setAudience(TOKEN_AUDIENCE).setIssuedAt(Math.floor(w.clock.now() / 1000)).setExpirationTime(Math.floor(w.clock.now() / 1000) + 3600).sign(TEST_SECRET)
  const wrongAudience = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(ALICE.uid).setJti(claims.jti).setIssuer(TOKEN_ISSUER).setAudience('someone-else').setExpirationTime('1h').sign(TEST_SECRET)
  const cases: [string, Record<string, string>][] = [
    ['no header', {}],
    ['empty bearer', { authorization: 'Bearer ' }],
    ['basic', { authorization: `Basic ${Buffer.from(`x:${good}`).toString('base64')}` }],
    ['garbage', { authorization: 'Bearer not.a.jwt' }],
    ['tampered', { authorization: `Bearer ${tampered}` }],
    ['other key', { authorization: `Bearer ${otherKey}` }],
    ['alg none', { authorization: `Bearer ${unsigned}` }],
    ['no session', { authorization: `Bearer ${noSession}` }],
    ['swapped subject', { authorization: `Bearer ${swapped}` }],
    ['wrong audience', { authorization: `Bearer ${wrongAudience}` }],
  ]
  for (const route of AUTHENTICATED_ROUTES) {
    for (const [name, headers] of cases) {
      const res = await call(w.base, route.method, route.path, { headers, ...(route.body === undefined ? {} : { body: route.body }) })
      t.equal(res.status, 401, `${route.method} ${route.path}: ${name}`)
      t.equal(res.headers.get('www-authenticate'), 'Bearer')
      t.ok(['unauthorized', 'session_ended'].includes(res.body.type))
    }
  }
  t.equal(w.topups.created.length, 0, 'no checkout was started')
  t.equal((await w.backend.customer(ALICE.uid))?.hasEnteredInfo, false, 'nothing was written')
  t.equal((await call(w.base, 'GET', '/customer', { token: good })).status, 200, 'the real token still works')
})

t.test('logout revokes the token; other sessions stay open', async (t) => {
  const w = await world(t)
  const first = await login(w.base, ALICE.pin)
  const second = await login(w.base, ALICE.pin)
  t.equal((await call(w.base, 'POST', '/auth/logout', { token: first })).status, 204)
  const after = await call(w.base, 'GET', '/customer', { token: first })
  t.equal(after.status, 401)
  t.equal(after.body.type, 'session_ended')
  t.equal((await call(w.base, 'POST', '/auth/logout', { token: first })).status, 401, 'a revoked token cannot log out again')
  t.equal((await call(w.base, 'GET', '/customer', { token: second })).status, 200)
})

t.test('an expired token is refused, a fresh one accepted', async (t) => {
  const w = await world(t, { tokenTtlS: 600 })
  const token = await login(w.base, ALICE.pin)
  w.clock.advance(599_000)
  t.equal((await call(w.base, 'GET', '/customer', { token })).status, 200)
  w.clock.advance(2_000)
  const expired = await call(w.base, 'GET', '/customer', { token })
  t.equal(expired.status, 401)
  t.equal(expired.body.type, 'token_expired')
  t.equal((await call(w.base, 'GET', '/customer', { token: await login(w.base, ALICE.pin) })).status, 200)
})

t.test('a wristband blocked after login loses access (403)', async (t) => {
  const clock = manualClock()
  const backend = createMemoryPortalBackend({ guests: [{ ...ALICE, balanceCents: 100 }], topups: fakeTopups() })
  const { base } = await startPortal(t, { backend, clock })
  const token = await login(base, ALICE.pin)
  const original = backend.customer.bind(backend)
  backend.customer = (uid) => {
    const c = original(uid) as ReturnType<typeof original> & object
    return c === undefined ? c : { ...c, blocked: true }
  }
  const res = await call(base, 'GET', '/customer', { token })
  t.equal(res.status, 403)
  t.equal(res.body.type, 'wristband_blocked')
})

t.test('two guests: each sees and changes only their own data', async (t) => {
  const w = await world(t)
  const alice = await login(w.base, ALICE.pin)
  const bob = await login(w.base, BOB.pin)
  t.equal((await call(w.base, 'GET', '/customer', { token: alice })).body.user_tag_uid_hex, ALICE.uid)
  t.equal((await call(w.base, 'GET', '/customer', { token: bob })).body.user_tag_uid_hex, BOB.uid)
  const aliceOrders = (await call(w.base, 'GET', '/orders_with_bon', { token: alice })).body
  t.same(aliceOrders.map((o: { uuid: string }) => o.uuid), [ALICE_RECEIPT])
  t.same((await call(w.base, 'GET', '/orders_with_bon', { token: bob })).body.map((o: { uuid: string }) => o.uuid), [BOB_RECEIPT])

  const info = { iban: 'DE89 3704 0044 0532 0130 00', account_name: 'Alice A', email: 'alice@example.org', donation: 1.5 }
  t.equal((await call(w.base, 'POST', '/customer_info', { token: alice, body: info })).status, 204)
  t.equal((await call(w.base, 'POST', '/customer_all_donation', { token: bob })).status, 204)
  const a = (await call(w.base, 'GET', '/customer', { token: alice })).body
  const b = (await call(w.base, 'GET', '/customer', { token: bob })).body
  t.match(a, { iban: 'DE89370400440532013000', account_name: 'Alice A', email: 'alice@example.org', donation: 1.5, donate_all: false, has_entered_info: true })
  t.match(b, { iban: null, account_name: null, email: null, donation: 0, donate_all: true, has_entered_info: true })

  // Bob cannot look at or poll Alice's checkout, by either handle.
  const created = await call(w.base, 'POST', '/sumup/create-checkout', { token: alice, body: { amount: 10 } })
  t.equal(created.status, 200)
  t.equal(w.topups.created[0]?.uid, ALICE.uid)
  for (const body of [{ order_uuid: created.body.order_uuid }, { checkout_id: created.body.checkout_id }]) {
    const stolen = await call(w.base, 'POST', '/sumup/check-checkout', { token: bob, body })
    t.equal(stolen.status, 404, JSON.stringify(body))
    t.equal(stolen.body.type, 'unknown_checkout')
    t.same((await call(w.base, 'POST', '/sumup/check-checkout', { token: alice, body })).body, { status: 'PENDING' })
  }
  // Logging out Bob does not end Alice's session.
  await call(w.base, 'POST', '/auth/logout', { token: bob })
  t.equal((await call(w.base, 'GET', '/customer', { token: alice })).status, 200)
  t.notMatch(w.logs.text(), 'DE89370400440532013000', 'the IBAN is not logged')
})

t.test('customer info: IBAN, country, name, email and donation are checked; a refusal changes nothing', async (t) => {
  const w = await world(t)
  const token = await login(w.base, ALICE.pin)
  const valid = { iban: 'DE89370400440532013000', account_name: 'Alice A', email: 'alice@example.org', donation: 0 }
  const refused: [string, Record<string, unknown>, string][] = [
    ['checksum', { iban: 'DE89370400440532013001' }, 'iban'],
    ['garbage', { iban: 'hello' }, 'iban'],
    ['foreign country', { iban: 'FR1420041010050500013M02606' }, 'iban'],
    ['empty name', { account_name: '   ' }, 'account_name'],
    ['control character', { account_name: 'A\u0000B' }, 'account_name'],
    ['email', { email: 'not-an-email' }, 'email'],
    ['donation above balance', { donation: 20.01 }, 'donation'],
    ['negative donation', { donation: -1 }, 'donation'],
    ['three decimals', { donation: 1.005 }, 'donation'],
    ['float artefact', { donation: 0.1 + 0.2 }, 'donation'],
    ['string donation', { donation: '1' }, 'donation'],
    ['a bad known field beside an unknown one', { donation: '1', privacy_policy: true }, 'donation'],
  ]
  for (const [name, change, field] of refused) {
    const res = await call(w.base, 'POST', '/customer_info', { token, body: { ...valid, ...change } })
    t.equal(res.status, 422, name)
    t.ok(Array.isArray(res.body.detail), `${name}: detail`)
    if (field !== '') t.ok(res.body.detail.some((d: { loc: unknown[] }) => d.loc.includes(field)), `${name}: names ${field}`)
    t.notMatch(res.text, String(change.iban ?? '\u0001'), `${name}: the IBAN is not echoed`)
  }
  t.equal((await w.backend.customer(ALICE.uid))?.hasEnteredInfo, false, 'nothing stored')
  // The whole balance may be donated; 0.3 (whose *100 is not exact in floating point) is 30 cents.
  t.equal((await call(w.base, 'POST', '/customer_info', { token, body: { ...valid, donation: 20 } })).status, 204)
  t.equal((await call(w.base, 'POST', '/customer_info', { token, body: { ...valid, donation: 0.3 } })).status, 204)
  t.equal((await w.backend.customer(ALICE.uid))?.donationCents, 30)
  t.equal((await call(w.base, 'POST', '/customer_info', { token, body: { ...valid, iban: 'AT611904300234573201', donation: 19.99 } })).status, 204)
  t.equal((await w.backend.customer(ALICE.uid))?.donationCents, 1999)
  t.equal((await w.backend.customer(ALICE.uid))?.iban, 'AT611904300234573201')
})

t.test('online top-up: amounts are converted exactly, refused beyond 2 decimals or bounds', async (t) => {
  const w = await world(t)
  const token = await login(w.base, ALICE.pin)
  const ok = await call(w.base, 'POST', '/sumup/create-checkout', { token, body: { amount: 19.99 } })
  t.equal(ok.status, 200)
  t.match(ok.body, { checkout_id: 'chk-1', order_uuid: /^[0-9a-f-]{36}$/, redirect_url: 'https://pay.example/chk-1' })
  t.equal(w.topups.created[0]?.amountCents, 1999)
  t.equal((await call(w.base, 'POST', '/sumup/create-checkout', { token, body: { amount: 1.1 } })).status, 200)
  t.equal(w.topups.created[1]?.amountCents, 110)
  for (const amount of [0.1 + 0.2, 1.005, 10.001, -5, 0, 0.5, 500.01, 1e9, '10', null, true]) {
    const res = await call(w.base, 'POST', '/sumup/create-checkout', { token, body: { amount } })
    t.equal(res.status, 422, `amount ${JSON.stringify(amount)}`)
    t.same(res.body.detail[0].loc, ['body', 'amount'])
  }
  t.equal((await call(w.base, 'POST', '/sumup/create-checkout', { token, body: '{"amount": NaN}' })).status, 400)
  t.equal(w.topups.created.length, 2, 'no checkout for a refused amount')
  w.topups.statuses.set('chk-1', 'PAID')
  t.same((await call(w.base, 'POST', '/sumup/check-checkout', { token, body: { order_uuid: ok.body.order_uuid } })).body, { status: 'PAID' })
  for (const body of [{}, { order_uuid: 'nope' }, { order_uuid: 'nope', checkout_id: 'chk-1' }, { checkout_id: '' }])
    t.equal((await call(w.base, 'POST', '/sumup/check-checkout', { token, body })).status, 422, JSON.stringify(body))
  // The OpenAPI file knows only order_uuid: beside it, checkout_id is an unknown field and ignored.
  t.same((await call(w.base, 'POST', '/sumup/check-checkout', { token, body: { order_uuid: ok.body.order_uuid, checkout_id: 'chk-2' } })).body, { status: 'PAID' })
  t.equal((await call(w.base, 'POST', '/sumup/check-checkout', { token, body: { order_uuid: '00000000-0000-4000-8000-000000000000' } })).status, 404)
  // A provider failure is an error answer, not a crash.
  w.topups.fail = true
  const down = await call(w.base, 'POST', '/sumup/create-checkout', { token, body: { amount: 5 } })
  t.equal(down.status, 500)
  t.equal(down.body.type, 'internal')
  t.equal((await call(w.base, 'GET', '/customer', { token })).status, 200, 'still serving')
})

t.test('receipts are public by their random id only; malformed and unknown ids look the same', async (t) => {
  const w = await world(t)
  const bon = await call(w.base, 'GET', `/bon/${ALICE_RECEIPT}`)
  t.equal(bon.status, 200)
  t.equal(bon.body.order.uuid, ALICE_RECEIPT)
  t.equal(bon.body.order.total_price, 9)
  // 900 gross at 19 %: 144 tax, 756 net.
  t.same(bon.body.tax_rate_aggregations, [{ tax_name: 'VAT 19%', tax_rate: 0.19, total_price: 9, total_tax: 1.44, total_no_tax: 7.56 }])
  t.equal((await call(w.base, 'GET', `/bon/${ALICE_RECEIPT.toUpperCase()}`)).status, 200, 'case of the hex does not matter')
  for (const id of ['1', '2', '00000000-0000-0000-0000-000000000000', ALICE_RECEIPT.slice(0, -1) + '2', 'x'.repeat(64), '%27%20OR%201%3D1', ALICE.uid]) {
    const res = await call(w.base, 'GET', `/bon/${id}`)
    t.equal(res.status, 404, id)
    t.equal(res.body.type, 'not_found')
  }
  t.equal((await call(w.base, 'GET', `/bon/${'a'.repeat(65)}`)).status, 422, 'an over-long id is a validation error')
})

t.test('config needs base_url; blobs are served as data', async (t) => {
  const w = await world(t)
  const config = await call(w.base, 'GET', '/config?base_url=https%3A%2F%2Fportal.example')
  t.equal(config.status, 200)
  t.match(config.body, { event_name: 'Test Fest', currency_identifier: 'EUR', allowed_country_codes: ['DE', 'AT', 'NL'], node_id: 1 })
  const missing = await call(w.base, 'GET', '/config')
  t.equal(missing.status, 422)
  t.same(missing.body.detail[0].loc, ['query', 'base_url'])
  const id = '5b3c1d2e-0f4a-4b6c-8d9e-0a1b2c3d4e5f'
  w.backend.putBlob(id, { contentType: 'image/svg+xml', data: new TextEncoder().encode('<svg/>') })
  const blob = await call(w.base, 'GET', `/blob/${id}`)
  t.equal(blob.status, 200)
  t.equal(blob.text, '<svg/>')
  t.equal(blob.headers.get('content-type'), 'image/svg+xml')
  t.equal(blob.headers.get('x-content-type-options'), 'nosniff')
  t.match(blob.headers.get('content-security-policy'), /sandbox/)
  t.equal((await call(w.base, 'GET', '/blob/5b3c1d2e-0f4a-4b6c-8d9e-0a1b2c3d4e50')).status, 404)
  const bad = await call(w.base, 'GET', '/blob/not-a-uuid')
  t.equal(bad.status, 422)
  t.same(bad.body.detail[0].loc, ['path', 'blob_id'])
})

t.test('login is rate limited per client IP', async (t) => {
  const w = await world(t, { rateLimit: { perIpMax: 3 } })
  // Different prefixes each time, so only the per-IP limit can trip.
  const pins = ['AAAPIN2345', 'BBBPIN2345', 'CCCPIN2345']
  for (const pin of pins) t.equal((await call(w.base, 'POST', '/auth/login', { body: { pin } })).status, 404)
  const limited = await call(w.base, 'POST', '/auth/login', { body: { pin: ALICE.pin } })
  t.equal(limited.status, 429, 'even the right PIN waits')
  t.equal(limited.body.type, 'rate_limited')
  t.ok(Number(limited.headers.get('retry-after')) > 0)
  // Another client address is counted separately.
  const other = await w.app.inject({ method: 'POST', url: '/api/auth/login', payload: { pin: ALICE.pin }, remoteAddress: '10.0.0.2' })
  t.equal(other.statusCode, 200)
  // Other routes are not affected.
  t.equal((await call(w.base, 'GET', '/config?base_url=x')).status, 200)
})

t.test('login asks the shared PIN limiter: a refusal is a 429 without a PIN check, only a right PIN is refunded', async (t) => {
  const pinAttempts = recordingPinAttempts()
  const backend = createMemoryPortalBackend({ guests: [{ ...ALICE, balanceCents: 0 }, { ...BLOCKED, balanceCents: 0, blocked: true }], topups: fakeTopups() })
  let pinChecks = 0
  const counted = { ...backend, findWristbandByPin: (pin: string) => (pinChecks++, backend.findWristbandByPin(pin)) }
  const { app } = await startPortal(t, { backend: counted, clock: manualClock(), pinAttempts })
  const login = (pin: string, remoteAddress: string) => app.inject({ method: 'POST', url: '/api/auth/login', payload: { pin }, remoteAddress })

  const wrong = await login('WRONGPIN22', '10.0.2.1')
  t.equal(wrong.json().type, 'invalid_pin')
  t.equal(pinAttempts.refunds, 0, 'a wrong PIN stays counted')
  t.equal((await login(ALICE.pin, '10.0.2.2')).statusCode, 200)
  t.equal(pinAttempts.refunds, 1, 'a right PIN is refunded')
  t.equal((await login(BLOCKED.pin, '10.0.2.3')).statusCode, 403)
  t.equal(pinAttempts.refunds, 2, 'a right PIN of a blocked wristband is no wrong guess either')
  t.same(pinAttempts.sources, [{ address: '10.0.2.1' }, { address: '10.0.2.2' }, { address: '10.0.2.3' }], 'the client address is the source')

  pinAttempts.refuse = { reason: 'source_limit', retryAfterMs: 90_500 }
  const checksBefore = pinChecks
  const refused = await login(ALICE.pin, '10.0.2.1')
  t.equal(refused.statusCode, 429)
  t.equal(refused.json().type, 'rate_limited')
  t.equal(refused.headers['retry-after'], '91')
  t.equal(pinChecks, checksBefore, 'the PIN was not looked up')
})
