// Provider payout reconciliation on the real gateway (createGateway; one body
// per engine: a real SQLite file, and a PostgreSQL database as config `store`) configured with payments.stancer pointing at the provider
// simulator over HTTP on 127.0.0.1: guests top up online on the portal and ask
// for refunds to the card, the provider settles its payouts, and the
// reconciliation matches every payout item to a ledger booking, books each
// payout once and reports what does not match.
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { api, startSim, TEST_SECRET_KEY } from '../../simulators/provider-sim/testing/sim-client.js'
import { call, login } from '../../portal-api/testing/helpers.js'
import { createGateway, type GatewayParts } from '../app.js'
import { worldEngines, type WorldEngine } from '../testing/world-engines.js'
import { createDisputeService } from './disputes.js'
import { runReconcileCommand } from './reconciliation-command.js'
import { ProviderError } from './provider.js'
import { createReconciliation, FEES_ACCOUNT_REF, payoutRef, type ReconciliationAlert, type ReconciliationClient } from './reconciliation.js'
import { createStancerClient, type StancerPage } from './stancer-client.js'
import { loopbackGatewayConfig } from '../testing/loopback-config.js'

const GUESTS = [
  { uid: '04A1B2C3D4E5F6', pin: 'RECNX23456' },
  { uid: '04A1B2C3D4E5F7', pin: 'RECNY34567' },
]
const ADMIN_TOKEN = 'admin-token-for-tests-0123'

/** The gateway's config `store` on a fresh database of `engine` (none on SQLite: the file in its data folder). */
function storeOf(engine: WorldEngine, t: Test, dir: string): { store?: string } {
  const store = engine.database(t).gatewayStore(dir)
  return store === undefined ? {} : { store }
}

const EVENT = {
  event: { name: 'Test Fest', currency: 'EUR' },
  booths: [{ id: 'bar', name: 'Bar' }],
  products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
  kiosks: [{ id: 'bar-1', booth: 'bar', token: 'token-bar-1-0123456789', saleAllowed: true, topupAllowed: false }],
  wristbands: GUESTS.map((g) => ({ uid: g.uid, pin: g.pin })),
}

async function world(t: Test, { engine }: { engine: WorldEngine }) {
  const sim = await startSim(t)
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-reconcile-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const config = loopbackGatewayConfig(dir, EVENT, {
    ...storeOf(engine, t, dir),
    adminToken: ADMIN_TOKEN,
    logLevel: 'info',
    payments: { stancer: { secretKey: TEST_SECRET_KEY, baseUrl: sim.baseUrl } },
  })
  const logs: string[] = []
  const logger = pino({ level: 'info' }, new Writable({ write(chunk: Buffer, _enc, done) { logs.push(chunk.toString('utf8')); done() } }))
  let parts: GatewayParts | undefined
  const gateway = await createGateway({ config, logger, httpPlugins: (p) => ((parts = p), []) })
  t.teardown(() => gateway.stop())
  await gateway.start()
  const db = parts!.db
  const ledger = gateway.ledger
  const httpBase = `http://127.0.0.1:${gateway.httpAddress!.port}`
  const base = `${httpBase}/api`
  const tokens = await Promise.all(GUESTS.map((g) => login(base, g.pin)))
  const client = createStancerClient({ secretKey: TEST_SECRET_KEY, baseUrl: sim.baseUrl, timeoutMs: 5_000 })
  const alerts: ReconciliationAlert[] = []
  // The service as the gateway builds it, with its alerts in hand (the gateway publishes them on MQTT).
  const reconciliation = createReconciliation({ db, ledger, client, provider: 'stancer', currency: 'EUR', clock: { now: () => Date.now() }, logger, alert: (a) => alerts.push(a) })
  const balanceOf = (account: string) => ledger.accountBalance(account) ?? 0

  return {
    sim,
    gateway,
    httpBase,
    db,
    ledger,
    logs,
    alerts,
    reconciliation,
    /** A guest tops up `euros` on the portal and pays on the hosted page; the intent id and its payment. */
    async topUp(guest: number, euros: number): Promise<{ intentId: string; paymentId: string; checkoutId: string }> {
      const created = await call(base, 'POST', '/sumup/create-checkout', { token: tokens[guest]!, body: { amount: euros } })
      if (created.status !== 200) throw new Error(`create-checkout: ${created.status} ${created.text}`)
      const redirectUrl = created.body.redirect_url as string
      const paid = await fetch(`${redirectUrl}/pay`, { method: 'POST', redirect: 'manual' })
      await paid.arrayBuffer()
      const checked = await call(base, 'POST', '/sumup/check-checkout', { token: tokens[guest]!, body: { checkout_id: created.body.checkout_id } })
      if (checked.body.status !== 'PAID') throw new Error(`not paid: ${checked.text}`)
      const intentId = new URL(redirectUrl).pathname.split('/').at(-1)!
      return { intentId, paymentId: sim.state.paymentIntents.get(intentId)!.payment as string, checkoutId: created.body.checkout_id as string }
    },
    async refund(guest: number, euros: number): Promise<void> {
      const made = await call(base, 'POST', '/customer/card_refund', { token: tokens[guest]!, body: { amount: euros } })
      if (made.status !== 201) throw new Error(`card_refund: ${made.status} ${made.text}`)
    },
    admin: (method: 'GET' | 'POST', path: string, body?: unknown) =>
      fetch(`${httpBase}/admin${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as any })),
    balanceOf,
    bookingCount: () => (db.prepare(`SELECT count(*) AS n FROM external_bookings`).get() as { n: number }).n,
    /** A top-up in our ledger that the provider never saw: its row and its booking, as online-topups.ts makes them. */
    bookForeignTopup(guest: number, amount: number, ageMs: number, orderId = randomUUID(), intentId = `pi_${'x'.repeat(8)}${randomUUID().replace(/-/g, '').slice(0, 16)}`) {
      const uid = GUESTS[guest]!.uid
      const booking = ledger.bookExternal({
        ref: `stancer:${intentId}`,
        kind: 'topup_online',
        postings: [
          { account: ledger.ensureAccount('clearing', 'stancer'), amount: -amount },
          { account: `customer:${uid}`, amount },
        ],
        customerUid: uid,
      })
      const at = Date.now() - ageMs
      db.prepare(
        `INSERT INTO online_topups (id, provider, provider_checkout_id, uid, amount, currency, status, booking_id, created_at, updated_at) VALUES (?, 'stancer', ?, ?, ?, 'EUR', 'paid', ?, ?, ?)`,
      ).run(orderId, intentId, uid, amount, booking.id, at, at)
      return { orderId, intentId }
    },
    assertSound(t: Test) {
      t.same(ledger.checkInvariants(), [], 'ledger invariants hold')
      t.equal(ledger.sumOfAllBalances(), 0, 'all balances sum to 0')
      t.notMatch(logs.join(''), TEST_SECRET_KEY, 'the secret key is never logged')
    },
  }
}

const feesOf = (payout: { fees: number; fees_vat: number }) => payout.fees + payout.fees_vat

const engines = await worldEngines(t)

for (const engine of engines) {
  t.test(`${engine.name}: a clean reconciliation: every item matched, the payout booked once, clearing at zero, the report stored`, async (t) => {
    const w = await world(t, { engine })
    await w.topUp(0, 20)
    await w.topUp(0, 15)
    await w.topUp(1, 30)
    await w.refund(0, 5)
    await w.refund(1, 10)
    t.equal(w.balanceOf('clearing:stancer'), -(3500 + 3000 - 500 - 1000), 'before: the provider holds what was topped up less the refunds')

    t.equal((await w.admin('GET', '/reconciliation')).status, 404, 'no report before the first run')
    const [payout] = w.sim.controls.settleNow()
    const answer = await w.admin('POST', '/reconciliation/run', {})
    t.equal(answer.status, 200)
    const report = answer.body
    t.equal(report.clean, true, 'clean')
    t.same(report.missingInLedger, [])
    t.same(report.missingAtProvider, [])
    t.same(report.amountDifferences, [])
    t.equal(report.payouts.length, 1)
    const net = 6500 - 1500 - feesOf(payout!)
    t.match(report.payouts[0], {
      id: payout!.id,
      status: 'paid',
      payments: { amount: 6500, count: 3 },
      refunds: { amount: 1500, count: 2 },
      disputes: { amount: 0, count: 0 },
      fees: payout!.fees,
      net,
      matched: { payments: 3, refunds: 2, disputes: 0 },
      booking: 'booked',
    })
    t.equal(report.matched.length, 5)
    t.ok(report.matched.every((m: { ref: string }) => w.ledger.externalBookingByRef(m.ref) !== undefined), 'every matched item names a booking of the ledger')
    t.ok(payout!.fees > 0, 'the simulator charged fees')
    t.equal(w.balanceOf('clearing:stancer'), 0, 'the settled items leave clearing:stancer at zero')
    t.equal(w.balanceOf(`expense:${FEES_ACCOUNT_REF('stancer')}`), -feesOf(payout!), 'the fees are booked')
    t.equal(w.balanceOf('clearing:bank'), -net, 'the net reached the bank side')
    t.match(w.ledger.externalBookingByRef(payoutRef('stancer', payout!.id)), { kind: 'payout' })
    t.same(w.alerts, [], 'no alert for a clean run')

    const stored = await w.admin('GET', '/reconciliation')
    t.equal(stored.status, 200)
    t.same(stored.body, report, 'GET answers the latest report')

    const bookings = w.bookingCount()
    const again = await w.admin('POST', '/reconciliation/run', { mode: 'since' })
    t.equal(again.status, 200)
    t.equal(again.body.payouts[0].booking, 'already', 'the second run sees the payout booked')
    t.same(again.body.booked, { payouts: 0, net: 0, fees: 0 })
    t.equal(w.bookingCount(), bookings, 'running twice books nothing more')
    t.equal(w.balanceOf('clearing:bank'), -net)
    t.equal(again.body.clean, true)

    // The provider rewrites the booked payout's fees: reported, nothing booked again.
    const feesBooked = feesOf(payout!)
    w.sim.state.payouts.get(payout!.id)!.fees += 7
    const rewritten = await w.admin('POST', '/reconciliation/run')
    t.match(rewritten.body.amountDifferences, [{ kind: 'payout', id: payout!.id, provider: net - 7, ledger: net, what: /changed after it was booked/ }])
    t.equal(w.bookingCount(), bookings)
    t.equal(w.balanceOf(`expense:${FEES_ACCOUNT_REF('stancer')}`), -feesBooked, 'the fees booked stay as they were')
    w.assertSound(t)
  })

  t.test(`${engine.name}: the report survives a restart of the service (it is stored)`, async (t) => {
    const w = await world(t, { engine })
    await w.topUp(0, 12)
    w.sim.controls.settleNow()
    const first = await w.reconciliation.run()
    const reopened = createReconciliation({ db: w.db, ledger: w.ledger, client: createStancerClient({ secretKey: TEST_SECRET_KEY, baseUrl: w.sim.baseUrl }), provider: 'stancer', currency: 'EUR', clock: { now: () => Date.now() }, logger: pino({ level: 'silent' }) })
    t.same(reopened.latest(), first)
    w.assertSound(t)
  })

  t.test(`${engine.name}: a payment at the provider that the ledger lacks is missing in the ledger, and alerts`, async (t) => {
    const w = await world(t, { engine })
    await w.topUp(0, 10)
    // Paid at the provider under an order that is not one of our checkouts.
    const created = await api(w.sim, 'POST', '/v2/payment_intents', { json: { amount: 4200, currency: 'eur', order_id: 'not-ours-1', threeds: 'none' } })
    const foreign = w.sim.controls.payIntent(created.body.id, 'paid').payment as string
    const [payout] = w.sim.controls.settleNow()
    const report = await w.reconciliation.run()
    t.equal(report.clean, false)
    t.same(report.missingInLedger, [{ kind: 'payment', id: foreign, payoutId: payout!.id, amount: 4200, reason: 'unknown_order' }])
    t.equal(report.payouts[0]!.matched.payments, 1)
    t.equal(report.payouts[0]!.booking, 'booked', 'the money did arrive: the payout is booked all the same')
    t.equal(w.balanceOf('clearing:stancer'), 4200, 'what clearing holds now is exactly the payment we lack')
    t.equal(w.alerts.length, 1)
    t.match(w.alerts[0], { kind: 'provider_reconciliation', provider: 'stancer', message: /1 missing in the ledger/ })
    w.assertSound(t)
  })

  t.test(`${engine.name}: a top-up in the ledger the provider never paid out is missing at the provider`, async (t) => {
    const w = await world(t, { engine })
    const foreign = w.bookForeignTopup(1, 777, 60 * 60_000)
    await w.topUp(0, 10)
    w.sim.controls.settleNow()
    const report = await w.reconciliation.run()
    t.same(report.missingAtProvider, [{ kind: 'topup', id: foreign.orderId, providerId: foreign.intentId, uid: GUESTS[1]!.uid, amount: 777 }])
    t.same(report.missingInLedger, [])
    t.equal(report.clean, false)
    t.equal(w.alerts.length, 1)
    t.equal(w.balanceOf('clearing:stancer'), -777, 'the provider still owes what it never paid out')
    w.assertSound(t)
  })

  t.test(`${engine.name}: a refund sent to the provider that no payout contains is missing at the provider`, async (t) => {
    const w = await world(t, { engine })
    await w.topUp(0, 20)
    await w.refund(0, 5)
    const part = w.db.prepare(`SELECT id, provider_refund_id FROM card_refund_parts`).get() as { id: string; provider_refund_id: string }
    t.match(part.provider_refund_id, /^refd_/)
    // The provider holds the refund back from its payouts (as if it were still pending with the card network) ...
    w.sim.state.payoutOf.set(part.provider_refund_id, 'held-back')
    // ... and asked for well before the newest payment it paid out.
    w.db.prepare(`UPDATE card_refund_parts SET created_at = created_at - 3600000 WHERE id = ?`).run(part.id)
    const [payout] = w.sim.controls.settleNow()
    t.equal(payout!.refunds.count, 0)
    const report = await w.reconciliation.run()
    t.same(report.missingAtProvider, [{ kind: 'refund', id: part.id, providerId: part.provider_refund_id, uid: GUESTS[0]!.uid, amount: 500 }])
    t.equal(report.payouts[0]!.matched.payments, 1)
    t.equal(w.balanceOf('clearing:stancer'), 500, 'clearing holds the refund the provider has not taken yet')
    t.equal(w.alerts.length, 1)
    w.assertSound(t)
  })

  t.test(`${engine.name}: an amount difference between a payment and its top-up is reported`, async (t) => {
    const w = await world(t, { engine })
    // Our top-up says 9.99, the provider took 10.00 for the same order.
    const { orderId } = w.bookForeignTopup(0, 999, 0)
    const created = await api(w.sim, 'POST', '/v2/payment_intents', { json: { amount: 1000, currency: 'eur', order_id: orderId, threeds: 'none' } })
    const paymentId = w.sim.controls.payIntent(created.body.id, 'paid').payment as string
    const [payout] = w.sim.controls.settleNow()
    const report = await w.reconciliation.run()
    t.same(report.amountDifferences, [{ kind: 'payment', id: paymentId, payoutId: payout!.id, provider: 1000, ledger: 999, what: `top-up ${orderId}` }])
    t.same(report.missingAtProvider, [], 'the top-up is in a payout, with another amount')
    t.equal(report.clean, false)
    t.equal(w.alerts.length, 1)
    t.equal(w.balanceOf('clearing:stancer'), 1, 'the cent of difference stays in clearing')
    w.assertSound(t)
  })

  t.test(`${engine.name}: a lost dispute taken from a payout is matched to the dispute's booking`, async (t) => {
    const w = await world(t, { engine })
    const { paymentId } = await w.topUp(0, 20)
    await w.topUp(1, 10)
    const [first] = w.sim.controls.settleNow()
    t.equal((await w.reconciliation.run()).clean, true)

    const client = createStancerClient({ secretKey: TEST_SECRET_KEY, baseUrl: w.sim.baseUrl })
    const disputes = createDisputeService({ db: w.db, ledger: w.ledger, client, provider: 'stancer', clock: { now: () => Date.now() }, logger: pino({ level: 'silent' }) })
    const raised = w.sim.controls.raiseDispute(paymentId)
    w.sim.controls.resolveDispute(raised.id, 'lost')
    await disputes.recordDispute(await client.getDispute(raised.id))
    t.equal(w.balanceOf('clearing:stancer'), 2000, 'the dispute\'s booking gave the money back to clearing')

    const [second] = w.sim.controls.settleNow()
    const report = await w.reconciliation.run({ mode: 'since' })
    t.equal(report.clean, true, 'clean: the dispute is ours and booked')
    const line = report.payouts.find((p) => p.id === second!.id)!
    t.match(line, { disputes: { amount: 2000, count: 1 }, matched: { disputes: 1 }, booking: 'booked', net: -2000 - feesOf(second!) })
    t.match(report.matched.find((m) => m.kind === 'dispute'), { id: raised.id, payoutId: second!.id, ref: `dispute:stancer:${raised.id}` })
    t.equal(w.balanceOf('clearing:stancer'), 0, 'clearing at zero after both payouts')
    t.equal(w.balanceOf('clearing:bank'), -(3000 - feesOf(first!)) + 2000 + feesOf(second!), 'the lost dispute was taken from the bank side')
    w.assertSound(t)
  })

  t.test(`${engine.name}: an open dispute is listed apart without making the report unclean; once lost and paid out it is matched and no longer open`, async (t) => {
    const w = await world(t, { engine })
    const { paymentId } = await w.topUp(0, 20)
    w.sim.controls.settleNow()
    const client = createStancerClient({ secretKey: TEST_SECRET_KEY, baseUrl: w.sim.baseUrl })
    const disputes = createDisputeService({ db: w.db, ledger: w.ledger, client, provider: 'stancer', clock: { now: () => Date.now() }, logger: pino({ level: 'silent' }) })
    const raised = w.sim.controls.raiseDispute(paymentId)
    await disputes.recordDispute(await client.getDispute(raised.id))

    const open = await w.reconciliation.run()
    t.equal(open.clean, true, 'an open dispute is in no payout yet: no mismatch')
    t.same(open.missingInLedger, [])
    t.equal(open.openDisputes.length, 1)
    t.match(open.openDisputes[0], { id: raised.id, wristband: GUESTS[0]!.uid, amountCents: 2000, bookedCents: 2000, openDebtCents: 0, since: Number })
    t.equal(open.matched.filter((m) => m.kind === 'dispute').length, 0)
    const out: string[] = []
    const io = { stdout: (text: string) => void out.push(text), stderr: () => undefined }
    t.equal(await runReconcileCommand(['provider', '--show', '--url', w.httpBase], { WRISTPAY_GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN }, io), 0, 'clean: exit code 0')
    t.match(out.join(''), new RegExp(`^  open dispute: ${raised.id} on wristband ${GUESTS[0]!.uid} of 20\\.00 since \\d{4}-\\d{2}-\\d{2}T.*: 20\\.00 booked off the balance, 0\\.00 open debt$`, 'm'))

    w.sim.controls.resolveDispute(raised.id, 'lost')
    await disputes.recordDispute(await client.getDispute(raised.id))
    const [second] = w.sim.controls.settleNow()
    const lost = await w.reconciliation.run({ mode: 'since' })
    t.equal(lost.clean, true)
    t.same(lost.openDisputes, [], 'lost: no longer open')
    t.match(lost.matched.find((m) => m.kind === 'dispute'), { id: raised.id, payoutId: second!.id })
    w.assertSound(t)
  })

  t.test(`${engine.name}: a 500 mid-run books nothing and leaves the previous report; the next run books once`, async (t) => {
    const w = await world(t, { engine })
    await w.topUp(0, 10)
    w.sim.controls.settleNow()
    const first = await w.admin('POST', '/reconciliation/run')
    t.equal(first.status, 200)
    await w.topUp(1, 25)
    await w.refund(1, 5)
    const [second] = w.sim.controls.settleNow()
    const bookings = w.bookingCount()
    const bank = w.balanceOf('clearing:bank')
    // The second payout's refunds fail after its payments were listed.
    w.sim.controls.failNext(`/v2/payouts/${second!.id}/refunds`)
    const failed = await w.admin('POST', '/reconciliation/run')
    t.equal(failed.status, 503)
    t.equal(failed.body.type, 'provider_unavailable')
    t.equal(w.bookingCount(), bookings, 'nothing booked')
    t.equal(w.balanceOf('clearing:bank'), bank)
    t.same((await w.admin('GET', '/reconciliation')).body, first.body, 'the previous report stays')

    const again = await w.admin('POST', '/reconciliation/run')
    t.equal(again.status, 200)
    t.equal(again.body.clean, true)
    t.equal(w.ledger.externalBookingByRef(payoutRef('stancer', second!.id)) !== undefined, true, 'booked when the provider answers')
    t.equal(w.balanceOf('clearing:stancer'), 0)
    w.assertSound(t)
  })

  t.test(`${engine.name}: a run whose gateway lost the reconciliation lease (several gateways) books nothing and stores no report; the holder’s run books once`, async (t) => {
    const w = await world(t, { engine })
    await w.topUp(0, 10)
    const [payout] = w.sim.controls.settleNow()
    const bookings = w.bookingCount()
    const asked: string[] = []
    // The fence as cluster-jobs.ts's keeper gives it: asked in the writing transaction, on the job's database.
    const lost = (db: unknown) => (asked.push(db === w.db ? 'in the gateway database' : 'elsewhere'), false)
    await t.rejects(w.reconciliation.run({ mode: 'since', fence: lost }), { name: 'LeaseLostError' })
    t.same(asked, ['in the gateway database'], 'asked once, before the payout’s booking, then the run ended')
    t.equal(w.bookingCount(), bookings, 'nothing booked')
    t.equal(w.reconciliation.latest(), undefined, 'no report stored')
    t.same(w.alerts, [])

    const held = await w.reconciliation.run({ mode: 'since', fence: () => true })
    t.equal(held.payouts[0]!.booking, 'booked')
    t.ok(w.ledger.externalBookingByRef(payoutRef('stancer', payout!.id)))
    w.assertSound(t)
  })

  t.test(`${engine.name}: hostile but well-formed answers are reported, never thrown, and book only what the provider paid`, async (t) => {
    const w = await world(t, { engine })
    const { orderId } = w.bookForeignTopup(0, 1500, 0)
    const id = (prefix: string, n: number) => `${prefix}_${String(n).padStart(24, '0')}`
    const payment = { id: id('paym', 1), amount: 1500, currency: 'eur', status: 'captured', order_id: orderId, fee: 46, response: '00', created: Math.floor(Date.now() / 1000) }
    const payout = (n: number, over: object = {}) => ({
      id: id('pout', n),
      currency: 'eur',
      payments: { amount: 1500, count: 1 },
      refunds: { amount: 0, count: 0 },
      disputes: { amount: 0, count: 0 },
      fees: 46,
      fees_vat: 0,
      status: 'paid',
      date: '2026-07-01',
      ...over,
    })
    const page = <T>(items: T[]): StancerPage<T> => ({ range: { start: 0, end: items.length, limit: 100, has_more: false }, items })
    const payouts = [
      payout(1),
      // The same payment again in a second payout, whose totals do not add up, with an unknown refund and dispute.
      payout(2, { refunds: { amount: 300, count: 1 }, disputes: { amount: 100, count: 1 }, payments: { amount: 9999, count: 1 } }),
      // In dollars: reported, never booked.
      payout(3, { currency: 'usd', payments: { amount: 0, count: 0 }, fees: 0 }),
      // Listed, but its items are unknown to the provider itself.
      payout(4),
    ]
    const hostile: ReconciliationClient = {
      listPayouts: async () => page(payouts),
      listPayoutPayments: async (payoutId) => {
        if (payoutId === id('pout', 4)) throw new ProviderError('stancer GET /v2/payouts/{id}/payments answered 404: not found', 404)
        return page(payoutId === id('pout', 3) ? [] : [payment])
      },
      listPayoutRefunds: async (payoutId) => page(payoutId === id('pout', 2) ? [{ id: id('refd', 9), payment: payment.id, amount: 300, currency: 'eur', status: 'refunded', created: null }] : []),
      listPayoutDisputes: async (payoutId) =>
        page(payoutId === id('pout', 2) ? [{ id: id('dspt', 9), payment: payment.id, amount: 100, currency: 'eur', order_id: null, response: '45', type: null, created: null, status: 'lost' }] : []),
    }
    const alerts: ReconciliationAlert[] = []
    const reconciliation = createReconciliation({ db: w.db, ledger: w.ledger, client: hostile, provider: 'stancer', currency: 'EUR', clock: { now: () => Date.now() }, logger: pino({ level: 'silent' }), alert: (a) => alerts.push(a) })
    const report = await reconciliation.run()
    t.same(report.payouts.map((p) => p.booking), ['booked', 'booked', 'refused', 'refused'])
    t.match(report.amountDifferences, [
      { kind: 'payment', id: payment.id, payoutId: id('pout', 2), what: `also in payout ${id('pout', 1)}` },
      { kind: 'payout', id: id('pout', 2), what: /^payments: / },
      { kind: 'payout', id: id('pout', 3), what: /^currency usd/ },
      { kind: 'payout', id: id('pout', 4), what: /^its items cannot be read \(stancer GET .* 404/ },
    ])
    t.match(report.missingInLedger, [
      { kind: 'refund', id: id('refd', 9), reason: 'unknown_refund' },
      { kind: 'dispute', id: id('dspt', 9), reason: 'unknown_dispute' },
    ])
    t.equal(alerts.length, 1)
    t.equal(w.ledger.externalBookingByRef(payoutRef('stancer', id('pout', 3))), undefined, 'the dollar payout is not booked')
    t.equal(w.ledger.externalBookingByRef(payoutRef('stancer', id('pout', 4))), undefined, 'nor the one whose items are unknown')
    w.assertSound(t)
  })

  t.test(`${engine.name}: an answer that cannot be trusted fails the run before anything is booked`, async (t) => {
    const w = await world(t, { engine })
    await w.topUp(0, 10)
    // A provider that answers HTML for the payout list.
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end('<html>maintenance</html>')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const client = createStancerClient({ secretKey: TEST_SECRET_KEY, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })
    const reconciliation = createReconciliation({ db: w.db, ledger: w.ledger, client, provider: 'stancer', currency: 'EUR', clock: { now: () => Date.now() }, logger: pino({ level: 'silent' }) })
    const bookings = w.bookingCount()
    await t.rejects(reconciliation.run(), ProviderError)
    t.equal(reconciliation.latest(), undefined, 'no report')
    t.equal(w.bookingCount(), bookings, 'nothing booked')
    w.assertSound(t)
  })

  t.test(`${engine.name}: wristpay-gateway reconcile provider runs it on the gateway over HTTP and prints the summary`, async (t) => {
    const w = await world(t, { engine })
    await w.topUp(0, 20)
    const [payout] = w.sim.controls.settleNow()
    const out: string[] = []
    const err: string[] = []
    const io = { stdout: (text: string) => void out.push(text), stderr: (text: string) => void err.push(text) }
    const env = { WRISTPAY_GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN }
    t.equal(await runReconcileCommand(['provider', '--show', '--url', w.httpBase], env, io), 1, 'no report yet: refused')
    t.match(err.join(''), /404 no_reconciliation_report/)
    t.equal(await runReconcileCommand(['provider', '--url', w.httpBase], env, io), 0, 'clean: exit code 0')
    const text = out.join('')
    t.match(text, /^stancer: 1 payouts, 1 items matched, 1 payouts booked now .*: clean$/m)
    t.match(text, new RegExp(`payout ${payout!.id} \\d{4}-\\d{2}-\\d{2} paid: payments 20\\.00 \\(1/1 matched\\)`))
    t.ok(w.ledger.externalBookingByRef(payoutRef('stancer', payout!.id)), 'the gateway booked it')

    // A payment the ledger lacks: the report lists it and the exit code says so.
    const created = await api(w.sim, 'POST', '/v2/payment_intents', { json: { amount: 300, currency: 'eur', order_id: 'not-ours-2', threeds: 'none' } })
    w.sim.controls.payIntent(created.body.id, 'paid')
    w.sim.controls.settleNow()
    out.length = 0
    t.equal(await runReconcileCommand(['provider', '--since', '--url', w.httpBase], env, io), 3)
    t.match(out.join(''), /missing in the ledger: payment paym_\w{24} of 3\.00 in payout pout_\w{24} \(unknown_order\)/)
    out.length = 0
    t.equal(await runReconcileCommand(['provider', '--show', '--json', '--url', w.httpBase], env, io), 3)
    t.match(JSON.parse(out.join('')), { clean: false, mode: 'since' })
    w.assertSound(t)
  })

  t.test(`${engine.name}: the gateway reconciles every payments.stancer.reconcileIntervalMinutes from where the last run left off, and stops with it; 0: only on demand`, async (t) => {
    // The gateway's timers are recorded as it starts (and still run for real): the one this setting adds is found by its
    // interval and run by hand, so no test waits minutes or depends on when a timer fires.
    const scheduled: Array<{ intervalMs: number; run: () => void; timer: NodeJS.Timeout }> = []
    const cleared = new Set<unknown>()
    const realSetInterval = globalThis.setInterval
    const realClearInterval = globalThis.clearInterval
    globalThis.setInterval = ((run: () => void, intervalMs: number, ...rest: unknown[]) => {
      const timer = (realSetInterval as (...args: unknown[]) => NodeJS.Timeout)(run, intervalMs, ...rest)
      scheduled.push({ intervalMs, run, timer })
      return timer
    }) as typeof setInterval
    globalThis.clearInterval = ((timer: NodeJS.Timeout) => {
      cleared.add(timer)
      realClearInterval(timer)
    }) as typeof clearInterval
    t.teardown(() => {
      globalThis.setInterval = realSetInterval
      globalThis.clearInterval = realClearInterval
    })
    const sim = await startSim(t)
    const startGateway = async (reconcileIntervalMinutes: number) => {
      const dir = mkdtempSync(join(tmpdir(), 'wristpay-reconcile-periodic-'))
      t.teardown(() => rmSync(dir, { recursive: true, force: true }))
      const config = loopbackGatewayConfig(dir, EVENT, {
        adminToken: ADMIN_TOKEN,
        logLevel: 'info',
        payments: { stancer: { secretKey: TEST_SECRET_KEY, baseUrl: sim.baseUrl, reconcileIntervalMinutes } },
      })
      const gateway = await createGateway({ config, logger: pino({ level: 'silent' }) })
      t.teardown(() => gateway.stop()) // stop() is idempotent: the test stops one itself
      const from = scheduled.length
      await gateway.start()
      const intervals = scheduled.slice(from)
      const report = () =>
        fetch(`http://127.0.0.1:${gateway.httpAddress!.port}/admin/reconciliation`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }))
      return { gateway, intervals, report }
    }

    const onDemand = await startGateway(0)
    const hourly = await startGateway(7)
    const minutes7 = hourly.intervals.filter((s) => s.intervalMs === 7 * 60_000)
    t.equal(minutes7.length, 1, 'one timer every 7 minutes')
    t.same(
      onDemand.intervals.map((s) => s.intervalMs).sort(),
      hourly.intervals.filter((s) => s !== minutes7[0]).map((s) => s.intervalMs).sort(),
      '0: the same timers without it',
    )

    t.equal((await hourly.report()).status, 404, 'no run before the timer fires')
    // Only the admin token reads or runs it: without it, or with another, 401 and nothing is run.
    const adminBase = `http://127.0.0.1:${hourly.gateway.httpAddress!.port}/admin/reconciliation`
    for (const headers of [{}, { authorization: 'Bearer not-the-admin-token' }] as Array<Record<string, string>>) {
      t.equal((await fetch(adminBase, { headers })).status, 401, 'reading the report needs the admin token')
      t.equal((await fetch(`${adminBase}/run`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{}' })).status, 401, 'running it needs the admin token')
    }
    t.equal((await hourly.report()).status, 404, 'and nothing was run')
    minutes7[0]!.run()
    let stored = await hourly.report()
    for (let i = 0; i < 200 && stored.status !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      stored = await hourly.report()
    }
    t.match(stored, { status: 200, body: { provider: 'stancer', mode: 'since', clean: true } }, 'the timer runs the reconciliation from where the last run left off')

    await hourly.gateway.stop()
    t.ok(cleared.has(minutes7[0]!.timer), 'stopping the gateway stops it')
  })
}
