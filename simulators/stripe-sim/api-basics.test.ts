// The simulator's cross-cutting behaviour, through the official package where
// it can be: API keys, Stripe-shaped errors, unknown routes and parameters,
// and idempotency keys (replay, conflict, lost answers and retries).
import t from 'tap'
import Stripe from 'stripe'
import { ANY_MESSAGE, rawRequest, startSimWithClient, stripeClientFor } from './testing/sim-client.js'

t.test('a wrong or missing API key is refused with 401', async (t) => {
  const { sim } = await startSimWithClient(t)
  const wrong = stripeClientFor(sim, 'sk_test_not_the_right_one')
  await t.rejects(wrong.customers.create({ email: 'a@example.org' }), { message: ANY_MESSAGE, type: 'StripeAuthenticationError', statusCode: 401 })
  const missing = await rawRequest(sim, 'GET', '/v1/customers', { apiKey: null })
  t.equal(missing.status, 401)
  t.equal(missing.body.error.type, 'invalid_request_error')
  t.match(missing.body.error.message, /did not provide an API key/)
  const bad = await rawRequest(sim, 'GET', '/v1/customers', { apiKey: 'sk_test_wrong_key_1234' })
  t.equal(bad.status, 401)
  t.notMatch(bad.body.error.message, /wrong_key/, 'the presented key is not echoed in full')
  t.equal(sim.control.requests().length, 0, 'refused before any endpoint ran')
})

t.test('unknown ids, routes and parameters answer as Stripe does', async (t) => {
  const { sim, stripe } = await startSimWithClient(t)
  await t.rejects(stripe.customers.retrieve('cus_doesnotexist'), {
    type: 'StripeInvalidRequestError',
    statusCode: 404,
    code: 'resource_missing',
    message: "No such customer: 'cus_doesnotexist'",
  })
  const unknownRoute = await rawRequest(sim, 'GET', '/v1/charges_of_the_light_brigade')
  t.equal(unknownRoute.status, 404)
  t.match(unknownRoute.body.error.message, /Unrecognized request URL/)
  await t.rejects(stripe.customers.create({ emial: 'typo@example.org' } as Stripe.CustomerCreateParams), {
    statusCode: 400,
    code: 'parameter_unknown',
    param: 'emial',
  })
  await t.rejects(stripe.paymentIntents.create({ amount: 'ten' as unknown as number, currency: 'eur' }), {
    statusCode: 400,
    code: 'parameter_invalid_integer',
  })
  const json = await rawRequest(sim, 'POST', '/v1/customers', { body: '{"email":"a@b.c"}', headers: { 'content-type': 'application/json' } })
  t.equal(json.status, 400)
  t.match(json.body.error.message, /x-www-form-urlencoded/)
  const hostile = await rawRequest(sim, 'POST', '/v1/customers', { body: '__proto__[x]=1' })
  t.equal(hostile.status, 400)
  t.equal(hostile.body.error.type, 'invalid_request_error')
  t.equal((await stripe.customers.list()).data.length, 0, 'no refused request created a customer')
})

t.test('an Idempotency-Key replays the first answer and refuses other parameters', async (t) => {
  const { sim, stripe } = await startSimWithClient(t)
  const params = { amount: 1500, currency: 'eur', payment_method: 'pm_card_visa', confirm: true }
  const first = await stripe.paymentIntents.create(params, { idempotencyKey: 'topup-1' })
  const again = await stripe.paymentIntents.create(params, { idempotencyKey: 'topup-1' })
  t.equal(again.id, first.id, 'same key, same parameters: the same PaymentIntent')
  t.equal(again.status, 'succeeded')
  t.equal((await stripe.paymentIntents.list()).data.length, 1, 'charged once')
  t.same(sim.control.requests().filter((r) => r.replayed).map((r) => r.idempotencyKey), ['topup-1'])
  await t.rejects(stripe.paymentIntents.create({ ...params, amount: 1600 }, { idempotencyKey: 'topup-1' }), { message: ANY_MESSAGE, 
    type: 'StripeIdempotencyError',
    statusCode: 400,
  })
  await t.rejects(stripe.customers.create({}, { idempotencyKey: 'topup-1' }), { message: ANY_MESSAGE, type: 'StripeIdempotencyError' }, 'another endpoint, same key')
  t.equal((await stripe.paymentIntents.list()).data.length, 1)
})

t.test('a declined charge is saved under its key; a parameter error is not', async (t) => {
  const { stripe } = await startSimWithClient(t)
  const declined = { amount: 700, currency: 'eur', payment_method: 'pm_card_chargeDeclined', confirm: true }
  const e1 = await stripe.paymentIntents.create(declined, { idempotencyKey: 'd-1' }).catch((e) => e)
  const e2 = await stripe.paymentIntents.create(declined, { idempotencyKey: 'd-1' }).catch((e) => e)
  t.equal(e1.type, 'StripeCardError')
  t.equal(e2.type, 'StripeCardError')
  t.equal(e2.raw.payment_intent.id, e1.raw.payment_intent.id, 'the replay names the same intent')
  t.equal((await stripe.paymentIntents.list()).data.length, 1)

  await t.rejects(stripe.paymentIntents.create({ amount: 10, currency: 'eur' }, { idempotencyKey: 'fix-me' }), { code: 'amount_too_small' })
  const fixed = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur' }, { idempotencyKey: 'fix-me' })
  t.equal(fixed.amount, 1000, 'after a refused parameter the same key may carry corrected parameters')
})

t.test('a lost answer is retried by the package with the same key and charges once', async (t) => {
  const { sim } = await startSimWithClient(t)
  const retrying = stripeClientFor(sim, sim.apiKey, 1)
  sim.control.failNextRequests(1, { when: 'after' })
  const pi = await retrying.paymentIntents.create({ amount: 2500, currency: 'eur', payment_method: 'pm_card_visa', confirm: true }, { idempotencyKey: 'lost-answer' })
  t.equal(pi.status, 'succeeded')
  const log = sim.control.requests()
  t.same(log.map((r) => [r.statusCode, r.replayed]), [[500, false], [200, true]], 'first answer lost, the retry replayed it')
  t.equal(log[0]?.idempotencyKey, log[1]?.idempotencyKey)
  t.equal(sim.control.events('payment_intent.succeeded').length, 1, 'charged once')

  sim.control.failNextRequests(1, { when: 'before' })
  const noRetry = stripeClientFor(sim, sim.apiKey)
  await t.rejects(noRetry.customers.create({ email: 'x@example.org' }), { message: ANY_MESSAGE, type: 'StripeAPIError', statusCode: 500 })
  t.equal((await noRetry.customers.list()).data.length, 0, 'a failure before the endpoint changed nothing')
})
