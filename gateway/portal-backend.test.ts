// The portal on the gateway's real backend (ledger + SQLite file, and the
// whole-flow tests on PostgreSQL too: one body per engine) over real HTTP: what guests see of the ledger, that two guests never reach each
// other's data, sessions across a restart, payout details and donations,
// receipts, top-up ownership, and that secrets stay out of the log.
import t, { type Test } from 'tap'
import pino from 'pino'
import type { PortalError } from '../portal-api/index.js'
import { logCapture } from '../portal-api/testing/helpers.js'
import { AUTHENTICATED_ROUTES, call, login } from '../portal-api/testing/helpers.js'
import { openLedgerDatabase } from './ledger/index.js'
import { createPortalBackend, orderIntegerId, portalAuthSecret, productIntegerId } from './portal-backend.js'
import { migrateGatewayDatabase } from './migrations.js'
import { EVENT_CONFIG, PIN, UID, reopenBackend, startPortalWorld } from './testing/portal-world.js'
import { testOnEngines, worldEngines, type WorldEngine } from './testing/world-engines.js'

const IBAN = 'DE89370400440532013000'

/** The status of the PortalError a call throws, undefined if it does not throw. */
function statusOf(fn: () => unknown): number | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    return (err as PortalError).statusCode
  }
}

const engines = await worldEngines(t)
const onEveryEngine = (name: string, body: (t: Test, engine: WorldEngine) => Promise<void>) => testOnEngines(t, engines, name, body)

onEveryEngine('the customer and orders come from the ledger, in the seed terms', async (t, engine) => {
  const w = await startPortalWorld(t, { database: engine.database(t) })
  const token = await login(w.base, PIN.alice)
  const customer = (await call(w.base, 'GET', '/customer', { token })).body
  t.match(customer, { user_tag_uid_hex: UID.alice, balance: 21, type: 'private', user_tag_pin: null, donation: 0, has_entered_info: false })
  // 04A1B2C3D4E5F6 fits a JSON number exactly (below 2^53); longer UIDs give null (views.test.ts).
  t.equal(customer.user_tag_uid, 0x04a1b2c3d4e5f6)

  const orders = (await call(w.base, 'GET', '/orders_with_bon', { token })).body
  t.same(
    orders.map((o: any) => [o.id, o.order_type, o.payment_method, o.total_price]),
    orders.map((o: any) => [orderIntegerId(o.uuid), ...[['top_up', 'sumup_online', 10], ['sale', 'tag', 9], ['top_up', 'cash', 20]][orders.indexOf(o)]!]),
    'newest first, integer ids from the receipt ids',
  )
  const sale = orders[1]
  t.match(sale.line_items, [{ quantity: 2, product_price: 4.5, total_price: 9, tax_name: 'VAT 19%', tax_rate: 0.19, total_tax: 1.44, product: { name: 'Beer', id: productIntegerId('bar', 'beer') } }])
  t.equal(sale.total_no_tax, 7.56)
  t.match(orders[0].line_items, [{ quantity: 1, total_price: 10, total_tax: 0, product: { type: 'topup' } }], 'a top-up shows one line')
  t.equal(new Set(orders.map((o: any) => o.uuid)).size, 3, 'each order has its own receipt id')

  // A new sale shows at once (in the same millisecond as the last booking: ids must not shift).
  w.sellBeer(UID.alice, 1)
  t.equal((await call(w.base, 'GET', '/customer', { token })).body.balance, 16.5)
  const after = (await call(w.base, 'GET', '/orders_with_bon', { token })).body
  t.equal(after.length, 4)
  const idsBefore = new Map(orders.map((o: any) => [o.uuid, o.id]))
  for (const o of after) if (idsBefore.has(o.uuid)) t.equal(o.id, idsBefore.get(o.uuid), 'earlier orders keep their ids')
  t.equal(new Set(after.map((o: any) => o.id)).size, 4, 'ids are distinct')
  t.same(w.ledger.checkInvariants(), [], 'the ledger balances')
})

onEveryEngine('PINs as the ledger compares them; a blocked wristband cannot log in', async (t, engine) => {
  const w = await startPortalWorld(t, { database: engine.database(t) })
  for (const pin of [PIN.alice, PIN.alice.toLowerCase(), `${PIN.alice.slice(0, 4)}-${PIN.alice.slice(4)}`, ` ${PIN.alice.slice(0, 5)} ${PIN.alice.slice(5)}`])
    t.equal((await call(w.base, 'POST', '/auth/login', { body: { pin } })).status, 200, pin)
  for (const pin of [PIN.alice.slice(0, -1), `${PIN.alice}A`, 'ALCE2345A0', '12345678'])
    t.equal((await call(w.base, 'POST', '/auth/login', { body: { pin } })).status, 404, pin)
  const blocked = await call(w.base, 'POST', '/auth/login', { body: { pin: PIN.blocked } })
  t.equal(blocked.status, 403)
  t.equal(blocked.body.type, 'wristband_blocked')
})

onEveryEngine('two guests: no route lets one read or change the other', async (t, engine) => {
  const w = await startPortalWorld(t, { database: engine.database(t) })
  const alice = await login(w.base, PIN.alice)
  const bob = await login(w.base, PIN.bob)
  const aliceOrders = (await call(w.base, 'GET', '/orders_with_bon', { token: alice })).body.map((o: any) => o.uuid)
  const bobOrders = (await call(w.base, 'GET', '/orders_with_bon', { token: bob })).body.map((o: any) => o.uuid)
  t.equal(bobOrders.length, 2)
  t.same(aliceOrders.filter((id: string) => bobOrders.includes(id)), [], 'no shared orders')
  t.equal((await call(w.base, 'GET', '/customer', { token: bob })).body.balance, 0.5)

  // Every authenticated route with Bob's token answers about Bob only.
  const checkout = (await call(w.base, 'POST', '/sumup/create-checkout', { token: alice, body: { amount: 12 } })).body
  for (const route of AUTHENTICATED_ROUTES.filter((r) => r.path !== '/auth/logout')) {
    const body = route.path === '/sumup/check-checkout' ? { order_uuid: checkout.order_uuid } : route.path === '/customer_info' ? { iban: IBAN, account_name: 'Bob', email: 'bob@example.org', donation: 0.5 } : route.body
    const res = await call(w.base, route.method, route.path, { token: bob, ...(body === undefined ? {} : { body }) })
    t.notMatch(res.text, UID.alice, `${route.method} ${route.path}: nothing of Alice`)
    for (const id of aliceOrders) t.notMatch(res.text, id, `${route.method} ${route.path}: no receipt of Alice`)
  }
  const stolen = await call(w.base, 'POST', '/sumup/check-checkout', { token: bob, body: { checkout_id: checkout.checkout_id } })
  t.equal(stolen.status, 404, "Bob cannot poll Alice's checkout by its provider id either")
  t.same(w.topups.created.map((c) => c.uid), [UID.alice, UID.bob], "Bob's checkout is Bob's")

  // Bob's payout details and donate-all did not touch Alice.
  const a = (await call(w.base, 'GET', '/customer', { token: alice })).body
  t.match(a, { iban: null, account_name: null, email: null, donation: 0, donate_all: false, has_entered_info: false })
  t.match((await call(w.base, 'GET', '/customer', { token: bob })).body, { iban: IBAN, account_name: 'Bob', donation: 0.5, donate_all: true })
  t.equal(w.ledger.balanceOf(UID.alice), 2100, "Alice's money did not move")
  t.equal(w.ledger.balanceOf(UID.bob), 50)
})

onEveryEngine('payout details: checked, stored, the donation within the balance at the time', async (t, engine) => {
  const w = await startPortalWorld(t, { database: engine.database(t) })
  const token = await login(w.base, PIN.alice)
  const info = { iban: 'de89 3704 0044 0532 0130 00', account_name: ' Alice Example ', email: 'alice@example.org' }
  const above = await call(w.base, 'POST', '/customer_info', { token, body: { ...info, donation: 21.01 } })
  t.equal(above.status, 422)
  t.equal(above.body.type, 'donation_exceeds_balance')
  t.same(above.body.detail[0].loc, ['body', 'donation'])
  const foreign = await call(w.base, 'POST', '/customer_info', { token, body: { ...info, iban: 'FR1420041010050500013M02606' } })
  t.equal(foreign.status, 422)
  t.equal(foreign.body.type, 'value_error.iban_country')
  t.equal((await call(w.base, 'POST', '/customer_info', { token, body: { ...info, donation: 0.1 + 0.2 } })).status, 422)
  const row = () => w.world.db.prepare(`SELECT iban, account_name, donation_cents, has_entered_info FROM portal_customers WHERE uid = ?`).get(UID.alice)
  t.match(row(), { iban: null, has_entered_info: 0 }, 'refusals stored nothing')

  t.equal((await call(w.base, 'POST', '/customer_info', { token, body: { ...info, donation: 21 } })).status, 204, 'the whole balance may be donated')
  t.same(row(), { iban: IBAN, account_name: 'Alice Example', donation_cents: 2100, has_entered_info: 1 }, 'normalised')
  // After a sale the old donation would be too high: a new registration is checked against the new balance.
  w.sellBeer(UID.alice, 1)
  t.equal((await call(w.base, 'POST', '/customer_info', { token, body: { ...info, donation: 21 } })).status, 422)
  t.equal((await call(w.base, 'POST', '/customer_info', { token, body: { ...info, donation: 16.5 } })).status, 204)

  t.equal((await call(w.base, 'POST', '/customer_all_donation', { token })).status, 204)
  t.match((await call(w.base, 'GET', '/customer', { token })).body, { donate_all: true, has_entered_info: true, balance: 16.5 })
  t.equal(w.ledger.balanceOf(UID.alice), 1650, 'donate-all books nothing now (the payout run settles it)')
  // Registering details again replaces donate-all with the stated donation.
  t.equal((await call(w.base, 'POST', '/customer_info', { token, body: { ...info, donation: 1 } })).status, 204)
  t.match((await call(w.base, 'GET', '/customer', { token })).body, { donate_all: false, donation: 1 })
  t.same((await call(w.base, 'GET', '/payout_info', { token })).body, { in_payout_run: false, payout_date: null })
  t.same((await call(w.base, 'GET', '/get_payout_transactions', { token })).body, [])

  // The backend checks on its own too, whoever calls it.
  t.equal(statusOf(() => w.backend.updateCustomerInfo(UID.alice, { iban: 'DE00370400440532013000', accountName: 'A', email: 'a@example.org', donationCents: 0 })), 422)
  t.equal(statusOf(() => w.backend.updateCustomerInfo(UID.stranger, { iban: IBAN, accountName: 'A', email: 'a@example.org', donationCents: 0 })), 404)
  t.same(w.ledger.checkInvariants(), [])
})

onEveryEngine('receipts: every order has one, public by its random id only', async (t, engine) => {
  const w = await startPortalWorld(t, { database: engine.database(t) })
  const token = await login(w.base, PIN.alice)
  const orders = (await call(w.base, 'GET', '/orders_with_bon', { token })).body
  for (const order of orders) {
    const bon = await call(w.base, 'GET', `/bon/${order.uuid}`)
    t.equal(bon.status, 200)
    t.equal(bon.body.order.uuid, order.uuid)
    t.equal(bon.body.order.id, order.id)
    t.equal(bon.body.order.total_price, order.total_price)
    t.equal(bon.body.currency_identifier, 'EUR')
    t.match(bon.body.config, { title: 'Test Fest', issuer: 'Test Fest e.V.', ust_id: 'DE123456789' })
  }
  // The kiosk's transaction id is known to kiosks and operators: it is not a receipt key.
  const saleTx = w.world.kiosks.bar.history[0]!.tx.id
  t.equal((await call(w.base, 'GET', `/bon/${saleTx}`)).status, 404)
  for (const id of ['1', '2', '3', UID.alice, '00000000-0000-0000-0000-000000000000', `${orders[0].uuid.slice(0, 35)}${orders[0].uuid.endsWith('0') ? '1' : '0'}` /* one character off */])
    t.equal((await call(w.base, 'GET', `/bon/${id}`)).status, 404, id)
})

onEveryEngine('sessions live in the database: a restart keeps them, logout ends them for good', async (t, engine) => {
  const w = await startPortalWorld(t, { database: engine.database(t), tokenTtlS: 3600 })
  const token = await login(w.base, PIN.alice)
  const [, payload] = token.split('.') as [string, string]
  const { jti } = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
  const restarted = reopenBackend(w)
  t.ok(restarted.sessionActive(jti, UID.alice, w.world.clock.now()), 'known to a new backend on the same file')
  t.notOk(restarted.sessionActive(jti, UID.bob, w.world.clock.now()), 'and only for its own wristband')
  t.notOk(restarted.sessionActive(jti, UID.alice, w.world.clock.now() + 3_600_000), 'not after expiry')
  t.equal((await call(w.base, 'POST', '/auth/logout', { token })).status, 204)
  t.notOk(restarted.sessionActive(jti, UID.alice, w.world.clock.now()), 'revoked for every backend')
  t.equal((await call(w.base, 'GET', '/customer', { token })).status, 401)
  t.equal(restarted.purgeSessions(w.world.clock.now() + 3_600_001), 1, 'expired sessions can be purged')

  // The token key persists in the database when none is configured.
  const first = portalAuthSecret(w.world.db)
  t.equal(first.byteLength, 32)
  t.same(portalAuthSecret(w.world.db), first)
  const configured = new Uint8Array(32).fill(3)
  t.equal(portalAuthSecret(w.world.db, configured), configured)
  migrateGatewayDatabase(w.world.db)
  t.same(portalAuthSecret(w.world.db), first, 'running the migrations again keeps the key')
})

t.test('expired token on the real backend', async (t) => {
  const w = await startPortalWorld(t, { tokenTtlS: 60 })
  const token = await login(w.base, PIN.alice)
  w.world.clock.advance(61_000)
  const res = await call(w.base, 'GET', '/customer', { token })
  t.equal(res.status, 401)
  t.equal(res.body.type, 'token_expired')
})

onEveryEngine('online top-up: the checkout is the guest\'s; provider failures are a clear 502', async (t, engine) => {
  const w = await startPortalWorld(t, { database: engine.database(t) })
  const token = await login(w.base, PIN.alice)
  const created = await call(w.base, 'POST', '/sumup/create-checkout', { token, body: { amount: 19.99 } })
  t.equal(created.status, 200)
  t.same(w.topups.created, [{ uid: UID.alice, amountCents: 1999, checkoutId: 'chk-1' }])
  const stored = w.world.db.prepare(`SELECT uid, checkout_id, amount FROM portal_checkouts WHERE order_uuid = ?`).get(created.body.order_uuid)
  t.same(stored, { uid: UID.alice, checkout_id: 'chk-1', amount: 1999 })
  w.topups.statuses.set('chk-1', 'FAILED')
  t.same((await call(w.base, 'POST', '/sumup/check-checkout', { token, body: { order_uuid: created.body.order_uuid } })).body, { status: 'FAILED' })
  t.same((await call(w.base, 'POST', '/sumup/check-checkout', { token, body: { checkout_id: 'chk-1' } })).body, { status: 'FAILED' })
  for (const amount of [0.99, 500.01]) t.equal((await call(w.base, 'POST', '/sumup/create-checkout', { token, body: { amount } })).status, 422, `bounds: ${amount}`)
  w.topups.fail = true
  for (const [path, body] of [['/sumup/create-checkout', { amount: 5 }], ['/sumup/check-checkout', { order_uuid: created.body.order_uuid }]] as const) {
    const res = await call(w.base, 'POST', path, { token, body })
    t.equal(res.status, 502, path)
    t.equal(res.body.type, 'payment_provider_error')
  }
  t.same(w.world.db.prepare(`SELECT COUNT(*) AS n FROM portal_checkouts`).get(), { n: 1 }, 'a failed create leaves no checkout row')
  t.equal(w.ledger.balanceOf(UID.alice), 2100, 'the portal itself books nothing')
  t.same(w.ledger.checkInvariants(), [])
})

onEveryEngine('top-up refused for a wristband blocked after login', async (t, engine) => {
  const w = await startPortalWorld(t, { database: engine.database(t) })
  const token = await login(w.base, PIN.alice)
  w.ledger.registry.setWristbandBlocked(UID.alice, true)
  const res = await call(w.base, 'POST', '/sumup/create-checkout', { token, body: { amount: 5 } })
  t.equal(res.status, 403)
  t.equal(w.topups.created.length, 0)
  const refused = await w.backend.createCheckout(UID.alice, 500).then(() => undefined, (err: unknown) => (err as PortalError).statusCode)
  t.equal(refused, 403, 'the backend refuses on its own too')
})

t.test('login rate limit on the gateway: per IP', async (t) => {
  const w = await startPortalWorld(t, { rateLimit: { perIpMax: 4 } })
  for (const pin of ['AAAA2345ZZ', 'BBBB2345ZZ', 'CCCC2345ZZ', 'DDDD2345ZZ']) t.equal((await call(w.base, 'POST', '/auth/login', { body: { pin } })).status, 404)
  const limited = await call(w.base, 'POST', '/auth/login', { body: { pin: PIN.alice } })
  t.equal(limited.status, 429)
  t.equal(limited.body.type, 'rate_limited')
})

t.test('no PIN, token or IBAN in the log', async (t) => {
  const logs = logCapture()
  const w = await startPortalWorld(t, { logger: logs.logger })
  const token = await login(w.base, PIN.alice)
  await call(w.base, 'POST', '/auth/login', { body: { pin: 'WRNG2345PIN' } })
  await call(w.base, 'POST', '/auth/login', { body: `{"pin":${PIN.bob}}` })
  await call(w.base, 'POST', '/customer_info', { token, body: { iban: IBAN, account_name: 'Alice', email: 'a@example.org' } })
  await call(w.base, 'POST', '/customer_info', { token, body: { iban: 'DE00370400440532013000', account_name: 'Alice', email: 'a@example.org' } })
  await call(w.base, 'GET', '/customer', { token })
  await call(w.base, 'POST', '/auth/logout', { token })
  const text = logs.text()
  t.ok(text.length > 0, 'something was logged')
  for (const secret of [PIN.alice, PIN.bob, 'WRNG2345PIN', token, token.split('.')[2]!, IBAN, 'DE00370400440532013000']) t.notMatch(text, secret)
})

t.test('the backend opens on an existing gateway database', async (t) => {
  const w = await startPortalWorld(t)
  const db = openLedgerDatabase(w.dbPath!)
  t.teardown(() => db.close())
  migrateGatewayDatabase(db)
  t.same(db.prepare(`SELECT COUNT(*) AS n FROM portal_customers`).get(), { n: 0 }, 'no guest has logged in yet')
})

t.test("nodeId() is config()'s node id, the configured one or 1", async (t) => {
  const w = await startPortalWorld(t)
  t.equal(w.backend.nodeId?.(), (await w.backend.config()).nodeId)
  t.equal(w.backend.nodeId?.(), 1, 'none configured')
  const configured = createPortalBackend({ db: w.world.db, ledger: w.ledger, clock: w.world.clock, logger: pino({ level: 'silent' }), eventConfig: { ...EVENT_CONFIG, nodeId: 7 }, topups: w.topups })
  t.equal(configured.nodeId?.(), 7)
  t.equal((await configured.config()).nodeId, 7)
})
