// Refunds to the card through the Stripe adapter against the Stripe simulator
// over real HTTP: the real ledger (one body per engine: a SQLite file and a
// PostgreSQL database), online top-ups booked by online-topups.ts, and the refund service (refunds.ts) with its recovery.
// Partial, refused (at once, later, or by a 400), a timeout after Stripe made
// the refund (replayed by its Idempotency-Key, or adopted by recovery), a 500
// before, and answers from a hostile server that must never be trusted.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import pino from 'pino'
import t, { type Test } from 'tap'
import { startStripeSim } from '../../simulators/stripe-sim/index.js'
import { TEST_API_KEY } from '../../simulators/stripe-sim/testing/sim-client.js'
import { makeWorld, UID } from '../ledger/testing/test-helpers.js'
import { worldEngines, type WorldEngine } from '../testing/world-engines.js'
import { createOnlineTopups } from './online-topups.js'
import { ProviderError, RefundRefusedError, type CardRefunds } from './provider.js'
import { createCardRefunds } from './refunds.js'
import { createStripeClient } from './stripe-client.js'
import { STRIPE_REFUND_REASONS } from './stripe-refunds.js'
import { createStripeProvider } from './stripe.js'

const operator = { via: 'operator', operator: 'ops' } as const
const WEBHOOK_SECRET = 'whsec_stripe_refunds_test'

function capturingLogger() {
  const logs: string[] = []
  const logger = pino({ level: 'debug' }, new Writable({ write(chunk: Buffer, _enc, done) { logs.push(chunk.toString('utf8')); done() } }))
  return { logger, logs }
}

async function refundWorld(t: Test, options: { engine: WorldEngine; maxNetworkRetries?: number }) {
  const sim = await startStripeSim({ apiKey: TEST_API_KEY })
  t.teardown(() => sim.close())
  const world = makeWorld(options.engine.database(t))
  t.teardown(() => world.close())
  const { logger, logs } = capturingLogger()
  // Short timeouts: the simulator's injected hangs last until it closes.
  const stripe = createStripeClient({ apiKey: sim.apiKey, baseUrl: sim.baseUrl, maxNetworkRetries: options.maxNetworkRetries ?? 0, timeoutMs: 1_000 })
  const provider = createStripeProvider({ stripe, webhookSecret: WEBHOOK_SECRET, logger })
  const providers = { stripe: provider }
  const topups = createOnlineTopups({ db: world.db, ledger: world.ledger, providers, defaultProvider: 'stripe', currency: 'EUR', clock: world.clock, logger, returnUrlBase: 'http://127.0.0.1:9/portal/' })
  const refunds = createCardRefunds({ db: world.db, ledger: world.ledger, providers, currency: 'EUR', clock: world.clock, logger })
  const intentOf = (sessionId: string) => sim.control.object(sessionId)!.payment_intent as string
  const refundsAt = async (sessionId: string) => (await stripe.refunds.list({ payment_intent: intentOf(sessionId), limit: 100 })).data.reverse()
  return {
    sim,
    stripe,
    world,
    refunds,
    /** A paid online top-up (a Checkout Session paid on the hosted page), booked on our own confirmation. */
    async topUp(uid: string, cents: number): Promise<string> {
      world.clock.advance(60_000)
      const { checkoutId, providerCheckoutId } = await topups.createCheckout({ uid, amountCents: cents })
      sim.control.completeCheckout(providerCheckoutId, 'paid')
      const { status } = await topups.checkCheckout({ uid, checkoutId })
      if (status !== 'PAID') throw new Error(`top-up not booked: ${status}`)
      return providerCheckoutId
    },
    /** The refunds Stripe holds for a session's payment, oldest first. */
    refundsAt,
    refundPosts: () => sim.control.requests().filter((r) => r.method === 'POST' && r.path === '/v1/refunds'),
    balance: (uid: string) => world.ledger.balanceOf(uid)!,
    assertSound(t: Test) {
      t.same(world.ledger.checkInvariants(), [], 'ledger invariants hold')
      t.equal(world.ledger.sumOfAllBalances(), 0, 'all balances sum to 0')
      t.notMatch(logs.join(''), sim.apiKey, 'the secret key is never logged')
    },
  }
}

const engines = await worldEngines(t)

for (const engine of engines) {
  t.test(`${engine.name}: a partial refund is split over two top-ups newest first, pending until Stripe pays it out`, async (t) => {
    const w = await refundWorld(t, { engine })
    const start = w.balance(UID.alice)
    const older = await w.topUp(UID.alice, 1000)
    const newer = await w.topUp(UID.alice, 2000)
    w.sim.control.holdRefunds(true)
    const asked = await w.refunds.request({ uid: UID.alice, amountCents: 2500, by: operator })
    t.match(asked, { state: 'pending', amountCents: 2500 })
    t.same(asked.parts.map((p) => [p.amountCents, p.state]), [[2000, 'sent'], [500, 'sent']], 'newest first, each no more than its top-up')
    const atNewer = await w.refundsAt(newer)
    const atOlder = await w.refundsAt(older)
    t.same(atNewer.map((r) => [r.amount, r.status, r.currency]), [[2000, 'pending', 'eur']], 'in cents, as ours')
    t.same(atOlder.map((r) => [r.amount, r.status]), [[500, 'pending']])
    t.same(asked.parts.map((p) => p.providerRefundId), [atNewer[0]!.id, atOlder[0]!.id], 'each part knows its Stripe refund')
    t.same(w.refundPosts().map((r) => r.idempotencyKey), asked.parts.map((p) => `wristpay-refund-${p.id}.1`), 'each refund sent with its own Idempotency-Key')
    t.equal(w.balance(UID.alice), start + 500)

    await w.refunds.recover()
    t.equal(w.refunds.get(asked.id)!.state, 'pending', 'still pending at Stripe')
    w.sim.control.settleRefund(atNewer[0]!.id, 'succeeded')
    w.sim.control.settleRefund(atOlder[0]!.id, 'succeeded')
    await w.refunds.recover()
    t.match(w.refunds.get(asked.id), { state: 'refunded', parts: [{ state: 'succeeded' }, { state: 'succeeded' }] })
    t.equal(w.refundPosts().length, 2, 'no refund sent twice')
    t.equal(w.balance(UID.alice), start + 500)
    w.assertSound(t)
  })

  t.test(`${engine.name}: a card refund Stripe makes at once is succeeded at once`, async (t) => {
    const w = await refundWorld(t, { engine })
    const session = await w.topUp(UID.alice, 1200)
    const asked = await w.refunds.request({ uid: UID.alice, amountCents: 1200, by: operator })
    t.match(asked, { state: 'refunded', parts: [{ state: 'succeeded', amountCents: 1200 }] })
    t.same((await w.refundsAt(session)).map((r) => [r.amount, r.status]), [[1200, 'succeeded']])
    w.assertSound(t)
  })

  t.test(`${engine.name}: a refund that fails at the card's bank puts the money back and says why`, async (t) => {
    const w = await refundWorld(t, { engine })
    const start = w.balance(UID.alice)
    const session = await w.topUp(UID.alice, 1500)
    w.sim.control.failNextRefunds(1, 'expired_or_canceled_card')
    const asked = await w.refunds.request({ uid: UID.alice, amountCents: 1000, by: operator })
    t.match(asked, { state: 'refused', parts: [{ state: 'refused', reason: STRIPE_REFUND_REASONS.cardGone }] })
    t.equal(w.balance(UID.alice), start + 1500, 'the money is back on the wristband')
    const held = await w.refundsAt(session)
    t.same(held.map((r) => r.status), ['failed'])
    t.equal(w.refunds.get(asked.id)!.parts[0]!.providerRefundId, held[0]!.id, 'the failed refund is linked to its part')

    // Pending first, failing later: the recovery's poll books it back.
    w.sim.control.holdRefunds(true)
    const later = await w.refunds.request({ uid: UID.alice, amountCents: 700, by: operator })
    t.match(later, { state: 'pending', parts: [{ state: 'sent' }] })
    w.sim.control.settleRefund(later.parts[0]!.providerRefundId!, 'failed', 'insufficient_funds')
    await w.refunds.recover()
    t.match(w.refunds.get(later.id), { state: 'refused', parts: [{ state: 'refused', reason: STRIPE_REFUND_REASONS.bankRefused }] })
    t.equal(w.balance(UID.alice), start + 1500)
    w.assertSound(t)
  })

  t.test(`${engine.name}: Stripe refusing the refund with a 400 (already refunded outside wristpay) puts the money back`, async (t) => {
    const w = await refundWorld(t, { engine })
    const start = w.balance(UID.alice)
    const session = await w.topUp(UID.alice, 900)
    // Someone refunded the whole payment in Stripe's dashboard; our balance still shows it.
    await w.stripe.refunds.create({ payment_intent: w.sim.control.object(session)!.payment_intent as string })
    const asked = await w.refunds.request({ uid: UID.alice, amountCents: 900, by: operator })
    t.match(asked, { state: 'refused', parts: [{ state: 'refused', reason: STRIPE_REFUND_REASONS.alreadyRefunded, providerRefundId: null }] })
    t.equal(w.balance(UID.alice), start + 900, 'the money is back on the wristband')
    t.same(w.refundPosts().map((r) => r.statusCode), [200, 400])
    w.assertSound(t)
  })

  t.test(`${engine.name}: a timeout after Stripe made the refund: the package's retry replays it by its Idempotency-Key`, async (t) => {
    const w = await refundWorld(t, { engine, maxNetworkRetries: 1 })
    const start = w.balance(UID.alice)
    const session = await w.topUp(UID.alice, 1000)
    w.sim.control.hangNextRequests(1, { when: 'after', method: 'POST', path: '/v1/refunds' })
    const asked = await w.refunds.request({ uid: UID.alice, amountCents: 800, by: operator })
    const held = await w.refundsAt(session)
    t.same(held.map((r) => [r.amount, r.status]), [[800, 'succeeded']], 'one refund at Stripe')
    t.match(asked, { state: 'refunded', parts: [{ state: 'succeeded', providerRefundId: held[0]!.id }] })
    // The hung request is logged only when its hang ends: the one logged is the retry, replayed.
    t.match(w.refundPosts(), [{ replayed: true, idempotencyKey: `wristpay-refund-${asked.parts[0]!.id}.1` }])
    t.equal(w.balance(UID.alice), start + 200)
    w.assertSound(t)
  })

  t.test(`${engine.name}: a timeout after Stripe made the refund, no retry: recovery asks, adopts it, never refunds twice`, async (t) => {
    const w = await refundWorld(t, { engine })
    const start = w.balance(UID.alice)
    const session = await w.topUp(UID.alice, 1000)
    w.sim.control.holdRefunds(true)
    w.sim.control.hangNextRequests(1, { when: 'after', method: 'POST', path: '/v1/refunds' })
    const asked = await w.refunds.request({ uid: UID.alice, amountCents: 800, by: operator })
    t.match(asked, { state: 'pending', parts: [{ state: 'sending', providerRefundId: null }] }, 'the outcome is unknown')
    t.equal(w.balance(UID.alice), start + 200, 'booked before the call')
    const held = await w.refundsAt(session)
    t.same(held.map((r) => [r.amount, r.status]), [[800, 'pending']], 'Stripe made it')

    await w.refunds.recover()
    t.match(w.refunds.get(asked.id), { state: 'pending', parts: [{ state: 'sent', providerRefundId: held[0]!.id }] }, 'adopted')
    await w.refunds.recover()
    t.same(w.refundPosts(), [], 'never sent again')
    t.equal((await w.refundsAt(session)).length, 1, 'one refund at Stripe')
    w.sim.control.settleRefund(held[0]!.id, 'succeeded')
    await w.refunds.recover()
    t.match(w.refunds.get(asked.id), { state: 'refunded', parts: [{ state: 'succeeded' }] })
    t.equal(w.balance(UID.alice), start + 200)
    w.assertSound(t)
  })

  t.test(`${engine.name}: a 500 before Stripe did anything: asked about, not found, sent again once`, async (t) => {
    const w = await refundWorld(t, { engine })
    const session = await w.topUp(UID.alice, 1000)
    w.sim.control.failNextRequests(1, { when: 'before', method: 'POST', path: '/v1/refunds' })
    const asked = await w.refunds.request({ uid: UID.alice, amountCents: 600, by: operator })
    t.match(asked, { state: 'pending', parts: [{ state: 'sending' }] })
    t.equal((await w.refundsAt(session)).length, 0)
    await w.refunds.recover()
    const held = await w.refundsAt(session)
    t.same(held.map((r) => r.amount), [600], 'one refund')
    t.match(w.refunds.get(asked.id), { state: 'refunded', parts: [{ state: 'succeeded', providerRefundId: held[0]!.id }] })
    t.same(w.refundPosts().map((r) => [r.statusCode, r.idempotencyKey]), [[500, `wristpay-refund-${asked.parts[0]!.id}.1`], [200, `wristpay-refund-${asked.parts[0]!.id}.2`]], 'the second attempt has its own key')
    w.assertSound(t)
  })
}

// ---------------------------------------------------------------------------
// A hostile server: a paid session of pi_good in EUR, and whatever `refundAnswer` says for refunds.
// The adapter alone, no ledger: so once, not per engine.

const SESSION = 'cs_test_hostile0001'
const GOOD_REFUND = { id: 're_good0001', object: 'refund', amount: 500, currency: 'eur', payment_intent: 'pi_good0001', status: 'succeeded' }

async function hostileStripe(t: Test, refundAnswer: () => { status: number; body: string }): Promise<CardRefunds> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume()
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]
      const { status, body } = path === `/v1/checkout/sessions/${SESSION}`
        ? { status: 200, body: JSON.stringify({ id: SESSION, object: 'checkout.session', currency: 'eur', payment_intent: 'pi_good0001', mode: 'payment', amount_total: 1000 }) }
        : refundAnswer()
      res.writeHead(status, { 'content-type': 'application/json', 'stripe-should-retry': 'false' }).end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const { port } = server.address() as AddressInfo
  const stripe = createStripeClient({ apiKey: TEST_API_KEY, baseUrl: `http://127.0.0.1:${port}`, maxNetworkRetries: 0, timeoutMs: 2_000 })
  return createStripeProvider({ stripe, webhookSecret: WEBHOOK_SECRET, logger: capturingLogger().logger }).refunds!
}

const refundInput = { providerCheckoutId: SESSION, amountCents: 500, currency: 'EUR', requestId: 'part-1.1' }
const json = (body: unknown, status = 200) => () => ({ status, body: JSON.stringify(body) })
const list = (data: unknown[], more = false) => ({ object: 'list', data, has_more: more, url: '/v1/refunds' })

t.test('answers that cannot be trusted are ProviderErrors (outcome unknown), never a refund nor a refusal', async (t) => {
  const hostile: Array<[string, () => { status: number; body: string }]> = [
    ['not JSON', () => ({ status: 200, body: '<html>hello</html>' })],
    ['not a refund', json({ ...GOOD_REFUND, object: 'charge' })],
    ['another payment', json({ ...GOOD_REFUND, payment_intent: 'pi_other0001' })],
    ['another currency', json({ ...GOOD_REFUND, currency: 'usd' })],
    ['a negative amount', json({ ...GOOD_REFUND, amount: -500 })],
    ['a fractional amount', json({ ...GOOD_REFUND, amount: 5.5 })],
    ['an amount as text', json({ ...GOOD_REFUND, amount: '500' })],
    ['an unknown status', json({ ...GOOD_REFUND, status: 'refunded' })],
    ['an id with path characters', json({ ...GOOD_REFUND, id: 're_../../x' })],
    ['no id', json({ ...GOOD_REFUND, id: undefined })],
    ['a 500', json({ error: { type: 'api_error', message: 'boom' } }, 500)],
    ['a 404', json({ error: { type: 'invalid_request_error', code: 'resource_missing', message: 'No such payment_intent' } }, 404)],
    ['an idempotency error (the key\'s first request may have refunded)', json({ error: { type: 'idempotency_error', message: 'Keys for idempotent requests...' } }, 400)],
  ]
  for (const [what, answer] of hostile) {
    const refunds = await hostileStripe(t, answer)
    await t.rejects(refunds.refund(refundInput), ProviderError, `refund: ${what}`)
  }
  const badLists: Array<[string, () => { status: number; body: string }]> = [
    ['not a list', json({ object: 'refund', data: [GOOD_REFUND] })],
    ['data not an array', json({ object: 'list', data: 'x', has_more: false })],
    ['a refund of another payment', json(list([GOOD_REFUND, { ...GOOD_REFUND, id: 're_good0002', payment_intent: 'pi_other0001' }]))],
    ['a refund listed twice', json(list([GOOD_REFUND, GOOD_REFUND]))],
    ['more promised, none given', json(list([], true))],
    ['more, forever (a new refund on every page)', (() => {
      let n = 0
      return () => ({ status: 200, body: JSON.stringify(list([{ ...GOOD_REFUND, id: `re_page${String(++n).padStart(6, '0')}` }], true)) })
    })()],
  ]
  for (const [what, answer] of badLists) {
    const refunds = await hostileStripe(t, answer)
    await t.rejects(refunds.refundsOf(SESSION), ProviderError, `refundsOf: ${what}`)
  }
  const trusted = await hostileStripe(t, json(GOOD_REFUND))
  t.same(await trusted.refund(refundInput), { id: 're_good0001', amountCents: 500, status: 'succeeded' }, 'a sound answer is taken')
})

t.test('a 400 about the refund is a refusal; a failed or canceled refund is refused with its id and reason', async (t) => {
  const refused = await hostileStripe(t, json({ error: { type: 'invalid_request_error', code: 'amount_too_large', message: 'Refund amount is greater than unrefunded amount' } }, 400))
  await t.rejects(refused.refund(refundInput), new RefundRefusedError(STRIPE_REFUND_REASONS.tooLarge))
  const odd = await hostileStripe(t, json({ error: { type: 'invalid_request_error', code: 'something_new', message: 'Card 4242 4242 4242 4242 no' } }, 400))
  await t.rejects(odd.refund(refundInput), new RefundRefusedError(STRIPE_REFUND_REASONS.refused), 'an unknown code: general words, never Stripe\'s text')
  const failed = await hostileStripe(t, json({ ...GOOD_REFUND, status: 'failed', failure_reason: 'lost_or_stolen_card' }))
  t.same(await failed.refund(refundInput), { id: 're_good0001', amountCents: 500, status: 'refused', reason: STRIPE_REFUND_REASONS.cardGone })
  const strange = await hostileStripe(t, json({ ...GOOD_REFUND, status: 'failed', failure_reason: '<b>call 0800</b>' }))
  t.same(await strange.refund(refundInput), { id: 're_good0001', amountCents: 500, status: 'refused', reason: STRIPE_REFUND_REASONS.bankRefused }, 'an unknown failure_reason is not echoed')
  const canceled = await hostileStripe(t, json({ ...GOOD_REFUND, status: 'canceled' }))
  t.same(await canceled.refund(refundInput), { id: 're_good0001', amountCents: 500, status: 'refused', reason: STRIPE_REFUND_REASONS.canceled })
  await t.rejects(canceled.refund({ ...refundInput, currency: 'USD' }), ProviderError, 'a refund in another currency than the payment is not sent')
  await t.rejects(canceled.refund({ ...refundInput, providerCheckoutId: '../v1/refunds' }), RangeError, 'not a session id: nothing sent')
})
