// /v1/refunds through the official package: partial refunds up to what was
// received, over-refunds refused as Stripe does, pending / failed / canceled
// outcomes with their events, lists by payment intent, idempotency keys, and
// the faults a client must survive (a 500 or a hang after the refund was made).
import t from 'tap'
import { ANY_MESSAGE, rawRequest, startSimWithClient } from './testing/sim-client.js'
import type { StripeSim } from './server.js'
import type Stripe from 'stripe'

/** A paid checkout of `cents`; its payment intent id. */
async function paidIntent(stripe: Stripe, sim: StripeSim, cents: number): Promise<string> {
  const session = await stripe.checkout.sessions.create({
    mode: 'payment',
    success_url: 'https://shop.example/ok',
    line_items: [{ quantity: 1, price_data: { currency: 'eur', unit_amount: cents, product_data: { name: 'Top-up' } } }],
  })
  sim.control.completeCheckout(session.id, 'paid')
  return sim.control.object(session.id)!.payment_intent as string
}

t.test('partial refunds up to what was received; then charge_already_refunded', async (t) => {
  const { stripe, sim } = await startSimWithClient(t)
  const pi = await paidIntent(stripe, sim, 1000)
  const first = await stripe.refunds.create({ payment_intent: pi, amount: 600, metadata: { part: 'p1' } })
  t.match(first, { object: 'refund', amount: 600, currency: 'eur', payment_intent: pi, status: 'succeeded', metadata: { part: 'p1' } })
  t.match(first.id, /^re_/)
  await t.rejects(stripe.refunds.create({ payment_intent: pi, amount: 500 }), { type: 'StripeInvalidRequestError', statusCode: 400, code: 'amount_too_large', param: 'amount', message: ANY_MESSAGE })
  const rest = await stripe.refunds.create({ payment_intent: pi })
  t.equal(rest.amount, 400, 'without an amount: what is left')
  await t.rejects(stripe.refunds.create({ payment_intent: pi, amount: 1 }), { statusCode: 400, code: 'charge_already_refunded', message: ANY_MESSAGE })
  t.same((await stripe.refunds.list({ payment_intent: pi })).data.map((r) => r.amount), [400, 600], 'newest first')
  t.same((await stripe.refunds.retrieve(first.id)).amount, 600)
  t.equal(sim.control.events('refund.created').length, 2)
  await t.rejects(stripe.refunds.retrieve('re_nope'), { statusCode: 404, code: 'resource_missing', message: ANY_MESSAGE })
  await t.rejects(stripe.refunds.list({ payment_intent: 'pi_nope' }), { statusCode: 404, code: 'resource_missing', message: ANY_MESSAGE })
})

t.test('only a succeeded payment can be refunded; a payment intent or a charge is required', async (t) => {
  const { stripe, sim } = await startSimWithClient(t)
  const session = await stripe.checkout.sessions.create({
    mode: 'payment',
    success_url: 'https://shop.example/ok',
    line_items: [{ quantity: 1, price_data: { currency: 'eur', unit_amount: 900, product_data: { name: 'Top-up' } } }],
  })
  sim.control.completeCheckout(session.id, 'processing')
  const pi = sim.control.object(session.id)!.payment_intent as string
  await t.rejects(stripe.refunds.create({ payment_intent: pi, amount: 100 }), { statusCode: 400, code: 'charge_not_refundable', message: ANY_MESSAGE })
  await t.rejects(stripe.refunds.create({ amount: 100 }), { statusCode: 400, code: 'parameter_missing', message: ANY_MESSAGE })
  t.equal(sim.control.events('refund.created').length, 0)
  const paid = await paidIntent(stripe, sim, 700)
  const charge = sim.control.object(paid)!.latest_charge as string
  t.match(await stripe.refunds.create({ charge, amount: 100 }), { payment_intent: paid, charge, amount: 100 }, 'by charge')
})

t.test('pending refunds settle; failed and canceled ones give their amount back', async (t) => {
  const { stripe, sim } = await startSimWithClient(t)
  const pi = await paidIntent(stripe, sim, 1000)
  sim.control.failNextRefunds(1, 'expired_or_canceled_card')
  const failed = await stripe.refunds.create({ payment_intent: pi, amount: 1000 })
  t.match(failed, { status: 'failed', failure_reason: 'expired_or_canceled_card' })
  t.equal(sim.control.events('refund.failed').length, 1)

  sim.control.holdRefunds(true)
  const pending = await stripe.refunds.create({ payment_intent: pi, amount: 1000 })
  t.equal(pending.status, 'pending', 'the failed refund took nothing')
  sim.control.settleRefund(pending.id, 'canceled')
  t.equal((await stripe.refunds.retrieve(pending.id)).status, 'canceled')
  const again = await stripe.refunds.create({ payment_intent: pi, amount: 1000 })
  sim.control.settleRefund(again.id, 'succeeded')
  t.equal((await stripe.refunds.retrieve(again.id)).status, 'succeeded')
  t.throws(() => sim.control.settleRefund(again.id, 'failed'), /only a pending refund/)
  t.same(sim.control.events('refund.updated').map((e) => e.data.object.status), ['failed', 'canceled', 'succeeded'])
})

t.test('an Idempotency-Key replays the refund; a 500 or a hang after it was made loses only the answer', async (t) => {
  const { stripe, sim } = await startSimWithClient(t)
  const pi = await paidIntent(stripe, sim, 1000)
  const made = await stripe.refunds.create({ payment_intent: pi, amount: 300 }, { idempotencyKey: 'refund-a' })
  const replayed = await stripe.refunds.create({ payment_intent: pi, amount: 300 }, { idempotencyKey: 'refund-a' })
  t.equal(replayed.id, made.id)
  await t.rejects(stripe.refunds.create({ payment_intent: pi, amount: 301 }, { idempotencyKey: 'refund-a' }), { type: 'StripeIdempotencyError', message: ANY_MESSAGE })

  sim.control.failNextRequests(1, { when: 'after', method: 'POST', path: '/v1/refunds' })
  await stripe.checkout.sessions.list() // another request: not hit by a fault aimed at /v1/refunds
  await t.rejects(stripe.refunds.create({ payment_intent: pi, amount: 200 }, { idempotencyKey: 'refund-b' }), { statusCode: 500, message: ANY_MESSAGE })
  const retried = await stripe.refunds.create({ payment_intent: pi, amount: 200 }, { idempotencyKey: 'refund-b' })
  t.equal((await stripe.refunds.list({ payment_intent: pi })).data.length, 2, 'the retry replayed the refund made before the 500')
  t.equal(retried.amount, 200)

  // Over-refunds are saved too: the endpoint ran.
  const tooMuch = await rawRequest(sim, 'POST', '/v1/refunds', { body: `payment_intent=${pi}&amount=900`, headers: { 'idempotency-key': 'refund-c' } })
  t.match(tooMuch, { status: 400, body: { error: { type: 'invalid_request_error', code: 'amount_too_large' } } })
  const tooMuchAgain = await rawRequest(sim, 'POST', '/v1/refunds', { body: `payment_intent=${pi}&amount=900`, headers: { 'idempotency-key': 'refund-c' } })
  t.equal(tooMuchAgain.headers.get('idempotent-replayed'), 'true')
})

t.test('a hang after the refund was made: the client times out, the refund exists', async (t) => {
  const { stripe, sim } = await startSimWithClient(t)
  const pi = await paidIntent(stripe, sim, 1000)
  sim.control.hangNextRequests(1, { when: 'after', method: 'POST', path: '/v1/refunds' })
  await t.rejects(stripe.refunds.create({ payment_intent: pi, amount: 400 }, { timeout: 300 }), { type: 'StripeConnectionError', message: ANY_MESSAGE })
  t.same((await stripe.refunds.list({ payment_intent: pi })).data.map((r) => r.amount), [400])

  sim.control.hangNextRequests(1, { when: 'before', method: 'POST', path: '/v1/refunds', hangMs: 600_000 })
  await t.rejects(stripe.refunds.create({ payment_intent: pi, amount: 100 }, { timeout: 300 }), { type: 'StripeConnectionError', message: ANY_MESSAGE })
  t.equal((await stripe.refunds.list({ payment_intent: pi })).data.length, 1, 'a hang before: nothing made (yet)')
})
