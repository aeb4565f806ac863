// Disputes (chargebacks) on stancer top-ups against the provider simulator
// over real HTTP: the real ledger (one body per engine: a SQLite file and a
// PostgreSQL database), top-ups booked by
// online-topups.ts, the provider's webhooks delivered to our webhook route on
// 127.0.0.1:0 (unsigned hints), and the poller. After every test the ledger
// balances.
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import pino from 'pino'
import t, { type Test } from 'tap'
import { api, paidPayment, startSim, TEST_SECRET_KEY } from '../../simulators/provider-sim/testing/sim-client.js'
import { makeWorld, UID, verified } from '../ledger/testing/test-helpers.js'
import { dialectOf } from '../sql/dialect.js'
import { worldEngines, type WorldEngine } from '../testing/world-engines.js'
import { disputesAdmin } from './disputes-admin.js'
import { createDisputeService, disputeRef, disputeWonRef, type DisputeAlert } from './disputes.js'
import { createOnlineTopups } from './online-topups.js'
import { createCardRefunds } from './refunds.js'
import { createStancerClient } from './stancer-client.js'
import { createStancerProvider } from './stancer.js'

async function disputeWorld(t: Test, options: { engine: WorldEngine; simClock?: () => number }) {
  const sim = await startSim(t, options.simClock ? { clock: options.simClock } : {})
  const world = makeWorld(options.engine.database(t))
  const logs: string[] = []
  const logger = pino({ level: 'debug' }, new Writable({ write(chunk: Buffer, _enc, done) { logs.push(chunk.toString('utf8')); done() } }))
  const client = createStancerClient({ secretKey: TEST_SECRET_KEY, baseUrl: sim.baseUrl, timeoutMs: 2_000 })
  const alerts: DisputeAlert[] = []
  const published: string[][] = []
  const disputes = createDisputeService({
    db: world.db,
    ledger: world.ledger,
    client,
    provider: 'stancer',
    clock: world.clock,
    logger,
    alert: (a) => alerts.push(a),
    publishKioskConfigs: async (ids) => void published.push([...ids]),
    pageLimit: 2,
  })
  const stancer = disputes.withWebhookHints(createStancerProvider({ client, logger }))
  const topups = createOnlineTopups({ db: world.db, ledger: world.ledger, providers: { stancer }, defaultProvider: 'stancer', currency: 'EUR', clock: world.clock, logger, returnUrlBase: 'http://127.0.0.1:9/portal/' })

  // Our webhook route and the admin routes on a real socket; the simulator posts its webhooks there.
  const app = Fastify({ logger: false })
  // The gateway's error bodies ({type, id, message}), as its admin scope answers them.
  app.setErrorHandler((err: Error & { statusCode?: number; type?: string }, request, reply) => {
    void reply.code(err.statusCode ?? 500).send({ type: err.type ?? 'internal', id: request.id, message: err.message })
  })
  await app.register(topups.webhookPlugin, { prefix: '' })
  await app.register(disputesAdmin({ disputes }), { prefix: '/admin' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address() as { port: number }
  const webhookUrl = `http://127.0.0.1:${address.port}/payments/webhooks/stancer`
  sim.controls.setWebhookUrl(webhookUrl)
  t.teardown(async () => {
    await app.close()
    world.close()
  })

  return {
    sim,
    world,
    disputes,
    stancer,
    logger,
    alerts,
    published,
    logs,
    webhookUrl,
    app,
    /** A paid online top-up booked on our own confirmation; its checkout id and the provider's payment id. */
    async topUp(uid: string, cents: number): Promise<{ checkoutId: string; payment: string }> {
      world.clock.advance(60_000)
      const { checkoutId, providerCheckoutId } = await topups.createCheckout({ uid, amountCents: cents })
      sim.controls.payIntent(providerCheckoutId, 'paid')
      await sim.controls.flushWebhooks()
      const { status } = await topups.checkCheckout({ uid, checkoutId })
      if (status !== 'PAID') throw new Error(`top-up not booked: ${status}`)
      return { checkoutId, payment: sim.state.paymentIntents.get(providerCheckoutId)!.payment! }
    },
    /** Beers (4.50 each) sold at the bar kiosk, as the ledger decides it. */
    sell(uid: string, beers: number) {
      const [outcome] = world.ledger.applyBatch([verified(world.kiosks.bar.sale(uid, [{ product: 'beer', qty: beers, unitPrice: 450 }], { amount: 450 * beers, at: world.clock.now() }))])
      return outcome !== undefined && 'result' in outcome ? outcome.result : outcome
    },
    balance: (uid: string) => world.ledger.balanceOf(uid)!,
    clearing: () => world.ledger.accountBalance('clearing:stancer') ?? 0,
    blocked: (uid: string) => world.ledger.registry.wristbandBlocked(uid),
    onBlocklist: (uid: string) => world.ledger.registry.kioskConfig('bar-1').blocklist!.uids.includes(uid),
    disputeBookings: () => world.db.prepare<[], { ref: string; amount: number }>(`SELECT ref, amount FROM external_bookings WHERE ref LIKE 'dispute%' ORDER BY ${dialectOf(world.db).externalBookingsWritten}`).all(),
    post: (body: string, contentType = 'application/json') => fetch(webhookUrl, { method: 'POST', headers: { 'content-type': contentType }, body }),
    assertSound(t: Test) {
      t.same(world.ledger.checkInvariants(), [], 'ledger invariants hold')
      t.equal(world.ledger.sumOfAllBalances(), 0, 'all balances sum to 0')
      t.notMatch(logs.join(''), TEST_SECRET_KEY, 'the secret key is never logged')
    },
  }
}

const fakeId = (prefix: string) => `${prefix}_${'Zz9'.repeat(8)}`

const engines = await worldEngines(t)

for (const engine of engines) {
  t.test(`${engine.name}: webhook path: a dispute blocks the wristband at every kiosk and books the amount once, however often the webhook comes`, async (t) => {
    const w = await disputeWorld(t, { engine })
    const { checkoutId, payment } = await w.topUp(UID.alice, 3_000)
    t.equal(w.balance(UID.alice), 3_000)
    const configVersion = w.world.ledger.registry.kioskConfig('bar-1').version

    w.sim.controls.setWebhookMode('twice')
    const raised = w.sim.controls.raiseDispute(payment, { amount: 2_000 })
    await w.sim.controls.flushWebhooks()
    t.ok(w.sim.controls.deliveries().filter((d) => d.type === 'dispute.open').length === 2 && w.sim.controls.deliveries().every((d) => d.status === 200), 'dispute.open came twice (and payment.disputed twice), all acknowledged')
    await w.sim.controls.resendEvent(w.sim.controls.events('dispute.open')[0]!.id)

    const dispute = w.disputes.get(raised.id)!
    t.match(dispute, { state: 'open', uid: UID.alice, topupId: checkoutId, payment, amountCents: 2_000, bookedCents: 2_000, openDebtCents: 0, blocksWristband: true, reasonCode: '4837', type: 'chargeback' })
    t.same(w.disputeBookings(), [{ ref: disputeRef('stancer', raised.id), amount: 2_000 }], 'booked once')
    t.equal(w.balance(UID.alice), 1_000, 'the disputed amount is off the balance')
    t.equal(w.clearing(), -1_000, 'and back on the provider clearing account')
    t.equal(w.alerts.filter((a) => a.reason === 'opened').length, 1, 'one alert')

    // Every kiosk: the gateway refuses the tap, and the signed blocklist (offline kiosks) names it.
    t.equal(w.blocked(UID.alice), true)
    t.ok(w.onBlocklist(UID.alice), 'on the signed blocklist')
    t.ok(w.world.ledger.registry.kioskConfig('bar-1').version > configVersion, "the kiosk's config changed")
    t.ok(w.published.some((ids) => ids.includes('bar-1') && ids.includes('cash-1') && ids.includes('food-1')), 'every kiosk config published')
    t.match(w.sell(UID.alice, 1), { status: 'rejected', reason: 'tag_blocked' })

    const listed = await w.app.inject({ method: 'GET', url: '/admin/disputes' })
    t.equal(listed.statusCode, 200)
    t.match(listed.json(), [{ id: raised.id, state: 'open', uid: UID.alice, amountCents: 2_000 }])
    t.match((await w.app.inject({ method: 'GET', url: `/admin/disputes/${raised.id}` })).json(), { id: raised.id, bookedCents: 2_000 })
    t.equal((await w.app.inject({ method: 'GET', url: `/admin/disputes/${fakeId('dspt')}` })).statusCode, 404)
    t.equal((await w.app.inject({ method: 'GET', url: '/admin/disputes?state=unmatched' })).json().length, 0)
    w.assertSound(t)
  })

  t.test(`${engine.name}: polling path: lost webhooks are made up by the poll, which remembers its mark; a won dispute is reversed and unblocked`, async (t) => {
    const w = await disputeWorld(t, { engine })
    const { payment } = await w.topUp(UID.bob, 2_500)
    w.sim.controls.setWebhookMode('none')
    const raised = w.sim.controls.raiseDispute(payment)
    await w.sim.controls.flushWebhooks()
    t.equal(w.disputes.get(raised.id), undefined, 'no webhook, nothing known yet')

    t.match(await w.disputes.poll(), { listed: 1, changed: 1, failed: 0 })
    t.match(w.disputes.get(raised.id), { state: 'open', bookedCents: 2_500, blocksWristband: true })
    t.equal(w.balance(UID.bob), 0)
    const mark = w.world.db.prepare(`SELECT created_since FROM dispute_polls WHERE provider = 'stancer'`).get() as { created_since: number }
    t.equal(mark.created_since, raised.created, 'the high-water mark is the newest dispute seen')
    t.match(await w.disputes.poll(), { changed: 0, failed: 0 }, 'seen again: nothing booked')
    t.equal(w.disputeBookings().length, 1)

    w.sim.controls.resolveDispute(raised.id, 'won')
    t.match(await w.disputes.poll(), { changed: 1 }, 'the open dispute is asked about again')
    t.match(w.disputes.get(raised.id), { state: 'won', openDebtCents: 0 })
    t.same(w.disputeBookings(), [
      { ref: disputeRef('stancer', raised.id), amount: 2_500 },
      { ref: disputeWonRef('stancer', raised.id), amount: 2_500 },
    ])
    t.equal(w.balance(UID.bob), 2_500, 'the money is back')
    t.equal(w.blocked(UID.bob), false, 'unblocked')
    t.notOk(w.onBlocklist(UID.bob), 'off the blocklist')
    t.match(w.sell(UID.bob, 1), { status: 'accepted' })
    t.match(await w.disputes.poll(), { changed: 0 }, 'a won dispute is not reversed twice')
    t.equal(w.disputeBookings().length, 2)
    w.assertSound(t)
  })

  t.test(`${engine.name}: the poll lists its pages in bounds and goes on from its mark at the next run`, async (t) => {
    let nowMs = Date.UTC(2026, 6, 1)
    const w = await disputeWorld(t, { engine, simClock: () => nowMs })
    w.sim.controls.setWebhookMode('none')
    const raised: string[] = []
    for (let i = 0; i < 5; i += 1) {
      const { payment } = await w.topUp(UID.alice, 1_000)
      nowMs += 10_000
      raised.push(w.sim.controls.raiseDispute(payment, { amount: 100 }).id)
    }
    t.match(await w.disputes.poll(), { listed: 5, changed: 5 }, 'three pages of two')
    t.same(w.disputes.list({ state: 'open' }).map((d) => d.id).sort(), [...raised].sort())
    nowMs += 10_000
    const { payment } = await w.topUp(UID.bob, 1_000)
    const later = w.sim.controls.raiseDispute(payment, { amount: 500 })
    const before = w.sim.controls.requests().length
    t.match(await w.disputes.poll(), { listed: 2, changed: 1 }, 'only from the last mark on (its second again, and the new one)')
    const listings = w.sim.controls.requests().slice(before).filter((r) => r.path.startsWith('/v2/disputes') && r.path.split('/').length === 3)
    t.equal(listings.length, 1, 'one page this time')
    t.match(w.disputes.get(later.id), { state: 'open', uid: UID.bob })
    t.equal(w.balance(UID.alice), 4_500)
    w.assertSound(t)
  })

  t.test(`${engine.name}: a balance lower than the dispute: what it covers is booked, the rest is an open debt; lost keeps all of it`, async (t) => {
    const w = await disputeWorld(t, { engine })
    const { payment } = await w.topUp(UID.alice, 2_000)
    t.match(w.sell(UID.alice, 3), { status: 'accepted', balance: 650 })
    const raised = w.sim.controls.raiseDispute(payment)
    await w.sim.controls.flushWebhooks()
    t.match(w.disputes.get(raised.id), { state: 'open', amountCents: 2_000, bookedCents: 650, openDebtCents: 1_350 })
    t.equal(w.balance(UID.alice), 0, 'never below zero')
    t.match(w.alerts.find((a) => a.reason === 'opened'), { debtCents: 1_350, message: /1350 cents open debt/ })

    w.sim.controls.resolveDispute(raised.id, 'lost')
    await w.sim.controls.flushWebhooks()
    t.match(w.disputes.get(raised.id), { state: 'lost', bookedCents: 650, openDebtCents: 1_350, reversalBookingId: null })
    t.equal(w.blocked(UID.alice), true, 'lost keeps the block')
    t.ok(w.alerts.some((a) => a.reason === 'lost'))
    t.equal(w.disputeBookings().length, 1)
    w.assertSound(t)
  })

  t.test(`${engine.name}: won unblocks only a block the dispute made: an operator's block, or another open dispute, keeps it`, async (t) => {
    const w = await disputeWorld(t, { engine })
    const first = await w.topUp(UID.alice, 1_000)
    const second = await w.topUp(UID.alice, 1_000)
    const a = w.sim.controls.raiseDispute(first.payment)
    const b = w.sim.controls.raiseDispute(second.payment)
    await w.sim.controls.flushWebhooks()
    t.match(w.disputes.list({ uid: UID.alice }).map((d) => d.blocksWristband), [true, true])
    w.sim.controls.resolveDispute(a.id, 'won')
    await w.sim.controls.flushWebhooks()
    t.equal(w.disputes.get(a.id)!.state, 'won')
    t.equal(w.blocked(UID.alice), true, 'the other open dispute still holds the block')
    w.sim.controls.resolveDispute(b.id, 'won')
    await w.sim.controls.flushWebhooks()
    t.equal(w.blocked(UID.alice), false, 'the last one lifts it')
    t.equal(w.balance(UID.alice), 2_000)

    // Bob was blocked by an operator before his dispute: winning it leaves the operator's block.
    const bob = await w.topUp(UID.bob, 1_000)
    w.world.ledger.registry.setWristbandBlocked(UID.bob, true)
    const c = w.sim.controls.raiseDispute(bob.payment)
    await w.sim.controls.flushWebhooks()
    t.match(w.disputes.get(c.id), { state: 'open', blocksWristband: false, bookedCents: 1_000 })
    w.sim.controls.resolveDispute(c.id, 'won')
    await w.sim.controls.flushWebhooks()
    t.match(w.disputes.get(c.id), { state: 'won' })
    t.equal(w.blocked(UID.bob), true, "the operator's block stays")
    t.equal(w.balance(UID.bob), 1_000)
    w.assertSound(t)
  })

  t.test(`${engine.name}: a dispute that is not on one of our paid top-ups is stored unmatched, alerted, listed, never thrown, and books nothing`, async (t) => {
    const w = await disputeWorld(t, { engine })
    const { checkoutId } = await w.topUp(UID.alice, 1_000)
    // A payment of another shop on the same account.
    const foreign = await paidPayment(w.sim, 700, 'not-ours-1')
    const d1 = w.sim.controls.raiseDispute(foreign)
    // A payment that claims our checkout id as order_id but is not our intent's payment.
    const impostor = await paidPayment(w.sim, 1_000, checkoutId)
    const d2 = w.sim.controls.raiseDispute(impostor)
    await w.sim.controls.flushWebhooks()
    t.ok(w.sim.controls.deliveries().every((d) => d.status === 200), 'every webhook acknowledged')
    t.match(w.disputes.get(d1.id), { state: 'unmatched', unmatchedReason: 'unknown_order', uid: null, bookedCents: 0 })
    t.match(w.disputes.get(d2.id), { state: 'unmatched', unmatchedReason: 'payment_mismatch', uid: null, bookedCents: 0 })
    t.equal(w.alerts.filter((a) => a.reason === 'unmatched').length, 2)
    t.same(w.disputeBookings(), [])
    t.equal(w.blocked(UID.alice), false)
    t.equal(w.balance(UID.alice), 1_000)
    t.same((await w.app.inject({ method: 'GET', url: '/admin/disputes?state=unmatched' })).json().map((d: { id: string }) => d.id).sort(), [d1.id, d2.id].sort())
    t.match(await w.disputes.poll(), { changed: 0, failed: 0 }, 'polling them again changes nothing')
    w.assertSound(t)
  })

  t.test(`${engine.name}: a forged webhook naming a dispute or payment the provider does not know books nothing; the body is never believed`, async (t) => {
    const w = await disputeWorld(t, { engine })
    const { checkoutId, payment } = await w.topUp(UID.alice, 1_000)
    const forgedDispute = { id: 'evnt_' + 'a'.repeat(24), type: 'dispute.open', created: 1, data: { id: fakeId('dspt'), amount: 1_000, currency: 'eur', order_id: checkoutId, payment, status: 'open' } }
    t.equal((await w.post(JSON.stringify(forgedDispute))).status, 200, 'acknowledged: the provider must not retry what is not its own')
    t.equal((await w.post(JSON.stringify({ type: 'payment.disputed', data: { id: fakeId('paym'), order_id: checkoutId } }))).status, 200)
    // A real payment of ours without a dispute: the hint finds nothing.
    t.equal((await w.post(JSON.stringify({ type: 'payment.disputed', data: { id: payment, status: 'disputed' } }))).status, 200)
    t.same(w.disputes.list(), [])
    t.same(w.disputeBookings(), [])
    t.equal(w.blocked(UID.alice), false)
    t.match(w.logs.join(''), /a webhook named a dispute the provider does not know/)
    t.match(w.logs.join(''), /a webhook named a payment the provider does not know/)
    w.assertSound(t)
  })

  t.test(`${engine.name}: hostile webhook bodies are refused or ignored and book nothing`, async (t) => {
    const w = await disputeWorld(t, { engine })
    await w.topUp(UID.alice, 1_000)
    const bodies: Array<[string, number]> = [
      ['not json', 400],
      ['[]', 400],
      ['null', 400],
      [JSON.stringify({ type: 'dispute.open' }), 400],
      [JSON.stringify({ type: 'dispute.open', data: { id: 'dspt_../../v2/payments' } }), 400],
      [JSON.stringify({ type: 'dispute.open', data: { id: `${fakeId('dspt')}?x=1` } }), 400],
      [JSON.stringify({ type: 'dispute.open', data: { id: fakeId('paym') } }), 400],
      [JSON.stringify({ type: 'DISPUTE.OPEN', data: { id: fakeId('dspt') } }), 400],
      ['{"__proto__": {"polluted": true}, "type": "dispute.open", "data": {"id": "x"}}', 400],
      [JSON.stringify({ type: 'dispute.open', data: { id: fakeId('dspt') }, pad: 'x'.repeat(20_000) }), 400],
      [JSON.stringify({ type: 'customer.created', data: { id: fakeId('cust') } }), 200],
    ]
    for (const [body, status] of bodies) t.equal((await w.post(body)).status, status, body.slice(0, 60))
    t.equal((await w.post('x'.repeat(70_000))).status, 413, 'a huge body is cut off')
    t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution')
    t.same(w.disputes.list(), [])
    t.same(w.disputeBookings(), [])
    w.assertSound(t)
  })

  t.test(`${engine.name}: while the provider cannot be asked, a hint books nothing and the next poll records the dispute`, async (t) => {
    const w = await disputeWorld(t, { engine })
    const { payment } = await w.topUp(UID.alice, 1_000)
    w.sim.controls.failNext(/^\/v2\/disputes/, { count: 4 })
    w.sim.controls.raiseDispute(payment)
    await w.sim.controls.flushWebhooks()
    t.same(w.disputes.list(), [], 'not recorded while the provider fails')
    t.ok(w.sim.controls.deliveries().every((d) => d.status === 200), 'webhooks acknowledged all the same (the poll catches up)')
    w.sim.controls.clearFaults()
    t.match(await w.disputes.poll(), { changed: 1 })
    t.equal(w.disputes.list()[0]!.state, 'open')
    t.equal(w.balance(UID.alice), 0)
    w.assertSound(t)
  })

  t.test(`${engine.name}: unknown ids do not reach the provider as paths`, async (t) => {
    const w = await disputeWorld(t, { engine })
    const before = w.sim.controls.requests().length
    await w.disputes.hint({ prefix: 'dspt', id: '../payments' })
    t.equal(w.sim.controls.requests().length, before, 'refused before any request')
    t.match(w.logs.join(''), /dispute hint not followed now/)
    t.equal((await api(w.sim, 'GET', `/v2/disputes/${fakeId('dspt')}`)).status, 404, 'the simulator does not know the made-up id')
  })

  t.test(`${engine.name}: a dispute that comes before we confirmed its top-up is matched once the top-up is paid`, async (t) => {
    const w = await disputeWorld(t, { engine })
    w.world.clock.advance(60_000)
    // The guest pays, but neither the webhook nor the guest's poll tells us yet.
    w.sim.controls.setWebhookMode('none')
    const topups = createOnlineTopups({ db: w.world.db, ledger: w.world.ledger, providers: { stancer: createStancerProvider({ client: createStancerClient({ secretKey: TEST_SECRET_KEY, baseUrl: w.sim.baseUrl }), logger: pino({ level: 'silent' }) }) }, defaultProvider: 'stancer', currency: 'EUR', clock: w.world.clock, logger: pino({ level: 'silent' }), returnUrlBase: 'http://127.0.0.1:9/portal/' })
    const { checkoutId, providerCheckoutId } = await topups.createCheckout({ uid: UID.alice, amountCents: 1_200 })
    w.sim.controls.payIntent(providerCheckoutId, 'paid')
    const raised = w.sim.controls.raiseDispute(w.sim.state.paymentIntents.get(providerCheckoutId)!.payment!)
    t.match(await w.disputes.poll(), { listed: 1 })
    t.match(w.disputes.get(raised.id), { state: 'unmatched', unmatchedReason: 'topup_not_paid' })
    t.same(w.disputeBookings(), [])

    t.same(await topups.checkCheckout({ uid: UID.alice, checkoutId }), { status: 'PAID' })
    t.equal(w.balance(UID.alice), 1_200)
    await w.disputes.poll()
    t.match(w.disputes.get(raised.id), { state: 'open', topupId: checkoutId, uid: UID.alice, bookedCents: 1_200, blocksWristband: true })
    t.equal(w.balance(UID.alice), 0)
    t.equal(w.blocked(UID.alice), true)
    await w.disputes.poll()
    t.equal(w.disputeBookings().length, 1, 'once')
    w.assertSound(t)
  })

  t.test(`${engine.name}: a disputed top-up cannot also be refunded to the card: the chargeback already gave that money back`, async (t) => {
    const w = await disputeWorld(t, { engine })
    const older = await w.topUp(UID.alice, 3_000)
    const newer = await w.topUp(UID.alice, 3_000)
    const refunds = createCardRefunds({ db: w.world.db, ledger: w.world.ledger, providers: { stancer: w.stancer }, currency: 'EUR', clock: w.world.clock, logger: w.logger })
    t.equal(refunds.refundable(UID.alice).maxCents, 6_000, 'before the dispute both top-ups can go back')

    const raised = w.sim.controls.raiseDispute(newer.payment, { amount: 2_000 })
    await w.sim.controls.flushWebhooks()
    t.match(w.disputes.get(raised.id), { state: 'open', bookedCents: 2_000 })
    t.same(
      refunds.refundable(UID.alice).topups.map((x) => [x.topupId, x.remainingCents]),
      [[newer.checkoutId, 1_000], [older.checkoutId, 3_000]],
      'the disputed top-up has only what the dispute did not take',
    )
    t.equal(refunds.refundable(UID.alice).maxCents, 4_000, 'and the balance after the dispute caps it')

    // An operator refunds the blocked wristband: the money goes to what the dispute left, never to the disputed part.
    const refund = await refunds.request({ uid: UID.alice, by: { via: 'operator', operator: 'ops' } })
    t.same(refund.parts.map((p) => [p.topupId, p.amountCents]), [[newer.checkoutId, 1_000], [older.checkoutId, 3_000]])
    t.equal(w.balance(UID.alice), 0)
    w.assertSound(t)
  })
}
