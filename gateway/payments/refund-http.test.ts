// Refunds to the card over HTTP on the gateway's own server: the guest's
// portal routes (GET/POST /api/customer/card_refund) and the operator's admin
// routes (/admin/wristbands/{uid}/card-refund), on the real ledger (one body
// per engine: a SQLite file and a PostgreSQL database) with the in-memory
// refunding provider.
import pino from 'pino'
import t, { type Test } from 'tap'
import { call, login, TEST_SECRET, fakeTopups } from '../../portal-api/testing/helpers.js'
import { createHttpServer } from '../http.js'
import { PIN, UID } from '../ledger/testing/test-helpers.js'
import { createPinAttempts } from '../pin-attempts.js'
import { operatorAccountsAuth } from '../payouts/payouts-admin.js'
import { portalMount } from '../portal-backend.js'
import { EVENT_CONFIG, startPortalWorld } from '../testing/portal-world.js'
import { cardRefundsAdmin, portalCardRefunds } from './refund-http.js'
import { worldEngines } from '../testing/world-engines.js'
import { startRefundWorld, type RefundWorld } from './testing/refund-world.js'

const ADMIN_TOKEN = 'admin-token-0123456789abcdef0123'
const OLGA = 'olga:olga-token-0123456789abcdef'

async function serve(t: Test, w: RefundWorld) {
  const logger = pino({ level: 'silent' })
  const parts = { ledger: w.world.ledger, db: w.world.db, clock: w.world.clock, logger, pinAttempts: createPinAttempts({ clock: w.world.clock, logger, limits: { perSourceWrongMax: 10_000 } }) }
  const server = createHttpServer({
    logger,
    adminToken: ADMIN_TOKEN,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => {},
    stats: () => {
      throw new Error('unused')
    },
    adminPlugins: [cardRefundsAdmin({ refunds: w.refunds, operatorAuth: operatorAccountsAuth([{ name: 'olga', token: 'olga-token-0123456789abcdef' }]) })],
    plugins: [
      portalMount(parts, { eventConfig: EVENT_CONFIG, topups: fakeTopups(), authSecret: TEST_SECRET, rateLimit: { perIpMax: 10_000 }, cardRefunds: portalCardRefunds(w.refunds) }),
    ],
  })
  const { port } = await server.listen('127.0.0.1', 0)
  t.teardown(() => server.close())
  const root = `http://127.0.0.1:${port}`
  const admin = (method: string, path: string, options: { body?: unknown; operator?: string } = {}) =>
    call(root, method, `/admin${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(options.operator ? { 'wristpay-operator': options.operator } : {}) }, ...(options.body === undefined ? {} : { body: options.body }) })
  return { api: `${root}/api`, root, admin }
}

const engines = await worldEngines(t)

for (const engine of engines) {
  t.test(`${engine.name}: a guest asks on the portal for the balance back on the card, and sees it done`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    const { api } = await serve(t, w)
    await w.topUpOnline(UID.alice, 1000)
    await w.topUpOnline(UID.alice, 500)
    w.sellBeer(UID.alice, 1)
    const alice = await login(api, PIN.alice)

    t.same((await call(api, 'GET', '/customer/card_refund', { token: alice })).body, { refundable: 10.5, refunds: [] })
    t.equal((await call(api, 'GET', '/customer/card_refund', {})).status, 401)
    t.equal((await call(api, 'POST', '/customer/card_refund', { body: {} })).status, 401)

    const made = await call(api, 'POST', '/customer/card_refund', { token: alice, body: { amount: 6.5 } })
    t.equal(made.status, 201)
    t.match(made.body, { amount: 6.5, state: 'refunded', parts: [{ amount: 5, state: 'refunded', reason: null }, { amount: 1.5, state: 'refunded', reason: null }] })
    t.notOk('providerRefundId' in made.body.parts[0], 'no provider ids for the guest')
    t.equal(w.balance(UID.alice), 400)

    const all = await call(api, 'POST', '/customer/card_refund', { token: alice, body: {} })
    t.match(all.body, { amount: 4, state: 'refunded' })
    t.equal(w.balance(UID.alice), 0)
    const listed = await call(api, 'GET', '/customer/card_refund', { token: alice })
    t.equal(listed.body.refundable, 0)
    t.same(
      listed.body.refunds.map((r: { amount: number }) => r.amount),
      [4, 6.5],
      'newest first',
    )
    const again = await call(api, 'POST', '/customer/card_refund', { token: alice, body: {} })
    t.match(again, { status: 409, body: { type: 'nothing_refundable' } })
    // Bob sees only his own.
    const bob = await login(api, PIN.bob)
    t.same((await call(api, 'GET', '/customer/card_refund', { token: bob })).body, { refundable: 0, refunds: [] })
    w.assertSound(t)
  })

  t.test(`${engine.name}: a refused refund shows its reason on the portal, and the money is back`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    const { api } = await serve(t, w)
    await w.topUpOnline(UID.alice, 1000)
    const alice = await login(api, PIN.alice)
    w.provider.failNext('refuse')
    const made = await call(api, 'POST', '/customer/card_refund', { token: alice, body: {} })
    t.equal(made.status, 201)
    t.match(made.body, { state: 'refused', parts: [{ state: 'refused', reason: 'the card account is closed' }] })
    const listed = await call(api, 'GET', '/customer/card_refund', { token: alice })
    t.match(listed.body, { refundable: 10, refunds: [{ state: 'refused', parts: [{ reason: 'the card account is closed' }] }] })
    t.equal(w.balance(UID.alice), 1000)
    w.assertSound(t)
  })

  t.test(`${engine.name}: hostile portal bodies are refused and book nothing`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    const { api } = await serve(t, w)
    await w.topUpOnline(UID.alice, 1000)
    const alice = await login(api, PIN.alice)
    const bodies: unknown[] = [
      { amount: '1e3' },
      { amount: '5' },
      { amount: -5 },
      { amount: 0 },
      { amount: 1.234 },
      { amount: 1e300 },
      { amount: 10.01 },
      { amount: null },
      { amount: [5] },
      { ammount: 5 },
      { amount: 5, uid: UID.bob },
      [],
      'null',
      '{"amount": 5',
    ]
    for (const body of bodies) {
      const res = await call(api, 'POST', '/customer/card_refund', { token: alice, body })
      t.ok(res.status === 400 || res.status === 422, `${JSON.stringify(body)}: ${res.status} ${res.body?.type}`)
    }
    t.match((await call(api, 'POST', '/customer/card_refund', { token: alice, body: { amount: 10.01 } })).body, { type: 'refund_too_large', detail: [{ loc: ['body', 'amount'] }] })
    t.equal(w.balance(UID.alice), 1000, 'nothing booked')
    t.equal(w.provider.refundCalls.length, 0)
    t.same(w.refunds.list(UID.alice), [])
    w.assertSound(t)
  })

  t.test(`${engine.name}: a blocked wristband cannot ask on the portal; a wristband in a payout run is refused`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    const { api } = await serve(t, w)
    await w.topUpOnline(UID.alice, 1000)
    const alice = await login(api, PIN.alice)
    w.world.db.prepare(`INSERT INTO payout_runs (id, state, created_by, created_at, payout_count, payout_sum, donation_sum) VALUES (1, 'created', 'op', 0, 1, 1000, 0)`).run()
    w.world.db
      .prepare(`INSERT INTO payout_run_items (run_id, uid, end_to_end_id, iban, account_name, email, amount, donation) VALUES (1, ?, 'E2E-1', 'DE89370400440532013000', 'A', 'a@example.org', 1000, 0)`)
      .run(UID.alice)
    t.match(await call(api, 'POST', '/customer/card_refund', { token: alice, body: {} }), { status: 409, body: { type: 'refund_in_payout_run' } })
    w.world.db.prepare(`UPDATE payout_run_items SET open = 0`).run()
    w.world.ledger.registry.setWristbandBlocked(UID.alice, true)
    t.match(await call(api, 'POST', '/customer/card_refund', { token: alice, body: {} }), { status: 403, body: { type: 'wristband_blocked' } })
    t.equal(w.balance(UID.alice), 1000)
    w.assertSound(t)
  })

  t.test(`${engine.name}: an operator refunds a wristband with their own credentials, blocked or not; the request names them`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    const { admin, root } = await serve(t, w)
    await w.topUpOnline(UID.alice, 1000)
    w.world.ledger.registry.setWristbandBlocked(UID.alice, true)

    t.equal((await call(root, 'POST', `/admin/wristbands/${UID.alice}/card-refund`, { body: {}, headers: { 'wristpay-operator': OLGA } })).status, 401, 'the admin token is needed too')

    t.match(await admin('POST', `/wristbands/${UID.alice}/card-refund`, { body: {} }), { status: 401, body: { type: 'operator_credentials_required' } })
    t.match(await admin('POST', `/wristbands/${UID.alice}/card-refund`, { body: {}, operator: 'olga:wrong' }), { status: 401 })
    for (const body of [{ amountCents: '1e3' }, { amountCents: 1.5 }, { amountCents: -1 }, { amountCents: 0 }, { amountCents: 2 ** 53 }, { amount: 5 }, { amountCents: 100, uid: UID.bob }])
      t.match(await admin('POST', `/wristbands/${UID.alice}/card-refund`, { body, operator: OLGA }), { status: 400, body: { type: 'invalid_request' } }, JSON.stringify(body))
    t.match(await admin('POST', `/wristbands/${UID.alice}/card-refund`, { body: { amountCents: 1001 }, operator: OLGA }), { status: 409, body: { type: 'refund_too_large' } })
    t.match(await admin('POST', `/wristbands/${UID.stranger}/card-refund`, { body: {}, operator: OLGA }), { status: 404, body: { type: 'unknown_tag' } })
    t.match(await admin('POST', `/wristbands/${UID.bob}/card-refund`, { body: {}, operator: OLGA }), { status: 409, body: { type: 'nothing_refundable' } })
    t.equal(w.balance(UID.alice), 1000, 'nothing booked by a refusal')

    const made = await admin('POST', `/wristbands/${UID.alice}/card-refund`, { body: { amountCents: 700 }, operator: OLGA })
    t.equal(made.status, 201)
    t.match(made.body, { uid: UID.alice, amountCents: 700, state: 'refunded', requestedBy: 'olga', via: 'operator', parts: [{ amountCents: 700, state: 'succeeded' }] })
    const listed = await admin('GET', `/wristbands/${UID.alice}/card-refund`)
    t.match(listed, { status: 200, body: { balanceCents: 300, refundableCents: 300, refunds: [{ id: made.body.id }] } })
    t.equal((await admin('GET', `/wristbands/${UID.stranger}/card-refund`)).status, 404)
    w.assertSound(t)
  })
}

// On SQLite only: the portal world (gateway/testing/portal-world.ts) takes no engine yet.
t.test('an event whose providers cannot refund answers card_refund_unavailable, and books nothing', async (t) => {
  const pw = await startPortalWorld(t)
  const alice = await login(pw.base, PIN.alice)
  const before = pw.ledger.balanceOf(UID.alice)
  t.match(await call(pw.base, 'GET', '/customer/card_refund', { token: alice }), { status: 404, body: { type: 'card_refund_unavailable' } })
  t.match(await call(pw.base, 'POST', '/customer/card_refund', { token: alice, body: {} }), { status: 404, body: { type: 'card_refund_unavailable' } })
  t.equal(pw.ledger.balanceOf(UID.alice), before)
})
