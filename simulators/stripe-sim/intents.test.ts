// SetupIntents and PaymentIntents through the official package: saving a card,
// charging it, manual capture, cancel, and Stripe's decline codes and state errors.
import t from 'tap'
import { ANY_MESSAGE, rawRequest, startSimWithClient } from './testing/sim-client.js'

t.test('setup intents save a card on the customer; a declining card is refused', async (t) => {
  const { stripe, sim } = await startSimWithClient(t)
  const customer = await stripe.customers.create({ email: 'c@example.org' })
  const si = await stripe.setupIntents.create({ customer: customer.id, usage: 'off_session', metadata: { user: '42' } })
  t.match(si, { object: 'setup_intent', status: 'requires_payment_method', customer: customer.id, usage: 'off_session', metadata: { user: '42' } })
  t.match(si.client_secret, new RegExp(`^${si.id}_secret_`))
  t.same(await stripe.setupIntents.retrieve(si.id), si)

  const done = await stripe.setupIntents.confirm(si.id, { payment_method: 'pm_card_visa' })
  t.equal(done.status, 'succeeded')
  const pm = await stripe.paymentMethods.retrieve(done.payment_method as string)
  t.equal(pm.customer, customer.id, 'the card is saved on the customer')
  await t.rejects(stripe.setupIntents.confirm(si.id, { payment_method: 'pm_card_visa' }), { statusCode: 400, code: 'setup_intent_unexpected_state' })

  const bad = await stripe.setupIntents.create({ customer: customer.id })
  const err = await stripe.setupIntents.confirm(bad.id, { payment_method: 'pm_card_chargeDeclinedInsufficientFunds' }).catch((e) => e)
  t.match(err, { type: 'StripeCardError', statusCode: 402, code: 'card_declined', decline_code: 'insufficient_funds' })
  const after = await stripe.setupIntents.retrieve(bad.id)
  t.equal(after.status, 'requires_payment_method')
  t.match(after.last_setup_error, { code: 'card_declined', decline_code: 'insufficient_funds' })
  t.equal((await stripe.paymentMethods.list({ customer: customer.id })).data.length, 1, 'nothing saved for the declined card')

  const oneStep = await stripe.setupIntents.create({ customer: customer.id, payment_method: 'pm_card_mastercard', confirm: true })
  t.equal(oneStep.status, 'succeeded')
  const expanded = await stripe.setupIntents.retrieve(oneStep.id, { expand: ['payment_method'] })
  t.match(expanded.payment_method, { object: 'payment_method', card: { brand: 'mastercard' } })
  await t.rejects(stripe.setupIntents.create({ customer: 'cus_nobody' }), { statusCode: 404, code: 'resource_missing', param: 'customer' })
  const canceled = await stripe.setupIntents.cancel((await stripe.setupIntents.create({})).id)
  t.equal(canceled.status, 'canceled')
  t.equal(sim.control.events('setup_intent.succeeded').length, 2)
  t.equal(sim.control.events('setup_intent.setup_failed').length, 1)
})

t.test('payment intents: confirm now or later, with a saved card, off session', async (t) => {
  const { stripe, sim } = await startSimWithClient(t)
  const customer = await stripe.customers.create({})
  const pm = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id })

  const pi = await stripe.paymentIntents.create({ amount: 2050, currency: 'EUR', customer: customer.id, metadata: { cart: '7' } })
  t.match(pi, { object: 'payment_intent', status: 'requires_payment_method', amount: 2050, currency: 'eur', amount_received: 0 })
  const confirmed = await stripe.paymentIntents.confirm(pi.id, { payment_method: pm.id })
  t.match(confirmed, { status: 'succeeded', amount_received: 2050, payment_method: pm.id })
  t.match(confirmed.latest_charge, /^ch_/)
  await t.rejects(stripe.paymentIntents.confirm(pi.id, { payment_method: pm.id }), { code: 'payment_intent_unexpected_state' }, 'a succeeded intent is not charged again')
  await t.rejects(stripe.paymentIntents.cancel(pi.id), { statusCode: 400, code: 'payment_intent_unexpected_state' })

  const offSession = await stripe.paymentIntents.create({ amount: 900, currency: 'eur', customer: customer.id, payment_method: pm.id, off_session: true, confirm: true })
  t.equal(offSession.status, 'succeeded')
  await t.rejects(
    stripe.paymentIntents.create({ amount: 900, currency: 'eur', payment_method: pm.id, confirm: true }),
    { message: ANY_MESSAGE, statusCode: 400 },
    "another customer's saved card cannot be used without that customer",
  )
  const listed = await stripe.paymentIntents.list({ customer: customer.id })
  t.equal(listed.data.length, 2)
  t.equal(sim.control.events('payment_intent.succeeded').length, 2)
})

t.test('payment intents: declines carry Stripe codes and leave the intent payable', async (t) => {
  const { stripe, sim } = await startSimWithClient(t)
  const cases: Array<[string, string, string]> = [
    ['pm_card_chargeDeclined', 'card_declined', 'generic_decline'],
    ['pm_card_chargeDeclinedInsufficientFunds', 'card_declined', 'insufficient_funds'],
    ['pm_card_chargeDeclinedLostCard', 'card_declined', 'lost_card'],
    ['pm_card_chargeDeclinedExpiredCard', 'expired_card', 'expired_card'],
    ['pm_card_chargeDeclinedIncorrectCvc', 'incorrect_cvc', 'incorrect_cvc'],
    ['pm_card_chargeDeclinedProcessingError', 'processing_error', 'processing_error'],
  ]
  for (const [pm, code, declineCode] of cases) {
    const err = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur', payment_method: pm, confirm: true }).catch((e) => e)
    t.match(err, { type: 'StripeCardError', statusCode: 402, code, decline_code: declineCode }, pm)
    t.equal(err.raw.payment_intent.status, 'requires_payment_method', `${pm}: intent payable again`)
  }
  const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'eur' })
  await t.rejects(stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_chargeDeclined' }), { code: 'card_declined' })
  const failed = await stripe.paymentIntents.retrieve(pi.id)
  t.match(failed, { status: 'requires_payment_method', amount_received: 0, last_payment_error: { code: 'card_declined' } })
  const retried = await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' })
  t.match(retried, { status: 'succeeded', amount_received: 1000, last_payment_error: null })
  t.equal(sim.control.events('payment_intent.payment_failed').length, cases.length + 1)
})

t.test('payment intents: manual capture (partial), cancel, and bad amounts', async (t) => {
  const { stripe } = await startSimWithClient(t)
  const held = await stripe.paymentIntents.create({ amount: 5000, currency: 'eur', capture_method: 'manual', payment_method: 'pm_card_visa', confirm: true })
  t.match(held, { status: 'requires_capture', amount_capturable: 5000, amount_received: 0 })
  await t.rejects(stripe.paymentIntents.capture(held.id, { amount_to_capture: 5001 }), { statusCode: 400, code: 'amount_too_large' })
  const captured = await stripe.paymentIntents.capture(held.id, { amount_to_capture: 3200 })
  t.match(captured, { status: 'succeeded', amount_received: 3200, amount_capturable: 0 })
  await t.rejects(stripe.paymentIntents.capture(held.id), { code: 'payment_intent_unexpected_state' })

  const other = await stripe.paymentIntents.create({ amount: 5000, currency: 'eur', capture_method: 'manual', payment_method: 'pm_card_visa', confirm: true })
  const canceled = await stripe.paymentIntents.cancel(other.id, { cancellation_reason: 'requested_by_customer' })
  t.match(canceled, { status: 'canceled', cancellation_reason: 'requested_by_customer', amount_capturable: 0 })
  await t.rejects(stripe.paymentIntents.cancel(other.id), { code: 'payment_intent_unexpected_state' })
  await t.rejects(stripe.paymentIntents.cancel(held.id, { cancellation_reason: 'because' as never }), { message: ANY_MESSAGE, statusCode: 400 })

  await t.rejects(stripe.paymentIntents.create({ amount: 49, currency: 'eur' }), { statusCode: 400, code: 'amount_too_small' })
  await t.rejects(stripe.paymentIntents.create({ amount: -100, currency: 'eur' }), { message: ANY_MESSAGE, statusCode: 400 })
  await t.rejects(stripe.paymentIntents.create({ amount: 10.5, currency: 'eur' }), { statusCode: 400, code: 'parameter_invalid_integer' })
  await t.rejects(stripe.paymentIntents.create({ currency: 'eur' } as never), { statusCode: 400, code: 'parameter_missing', param: 'amount' })
  await t.rejects(stripe.paymentIntents.create({ amount: 100, currency: 'euro' }), { message: ANY_MESSAGE, statusCode: 400 })
  await t.rejects(stripe.paymentIntents.retrieve('pi_missing'), { statusCode: 404, code: 'resource_missing' })
  const updated = await stripe.paymentIntents.update((await stripe.paymentIntents.create({ amount: 100, currency: 'eur' })).id, { amount: 250, metadata: { k: 'v' } })
  t.match(updated, { amount: 250, metadata: { k: 'v' } })
  await t.rejects(stripe.paymentIntents.update(captured.id, { amount: 1 }), { code: 'payment_intent_unexpected_state' })
})

t.test('payment method types: the current parameter name and the older one', async (t) => {
  const { stripe, sim } = await startSimWithClient(t)
  const current = await stripe.paymentIntents.create({ amount: 500, currency: 'eur', allowed_payment_method_types: ['card_present'] })
  t.same(current.payment_method_types, ['card_present'])
  t.same(current.allowed_payment_method_types, ['card_present'])
  const legacy = await rawRequest(sim, 'POST', '/v1/payment_intents', { body: 'amount=500&currency=eur&payment_method_types[0]=card' })
  t.equal(legacy.status, 200)
  t.same(legacy.body.payment_method_types, ['card'])
  const unknown = await rawRequest(sim, 'POST', '/v1/payment_intents', { body: 'amount=500&currency=eur&allowed_payment_method_types[0]=bitcoin' })
  t.equal(unknown.status, 400)
  const empty = await rawRequest(sim, 'POST', '/v1/setup_intents', { body: 'allowed_payment_method_types=' })
  t.equal(empty.status, 400)
})
