// Stripe Terminal through the official package: locations, connection tokens,
// the reader registry, and the server-driven payment and card-saving flows.
import t from 'tap'
import { ANY_MESSAGE, startSimWithClient } from './testing/sim-client.js'

const address = { line1: 'Festival Road 1', city: 'Berlin', postal_code: '10115', country: 'DE' }

t.test('locations and connection tokens', async (t) => {
  const { stripe } = await startSimWithClient(t)
  const main = await stripe.terminal.locations.create({ display_name: 'Main stage', address })
  t.match(main, { object: 'terminal.location', display_name: 'Main stage', address: { country: 'DE', city: 'Berlin' } })
  t.match(main.id, /^tml_/)
  await stripe.terminal.locations.create({ display_name: 'Camping', address })
  t.equal((await stripe.terminal.locations.list()).data.length, 2)
  await t.rejects(stripe.terminal.locations.create({ display_name: 'x' } as never), { statusCode: 400, code: 'parameter_missing', param: 'address' })
  await t.rejects(stripe.terminal.locations.create({ display_name: 'x', address: { country: 'germany' } }), { message: ANY_MESSAGE, statusCode: 400 })

  const token = await stripe.terminal.connectionTokens.create({ location: main.id })
  t.match(token, { object: 'terminal.connection_token', location: main.id })
  t.match(token.secret, /^pst_test_/)
  const other = await stripe.terminal.connectionTokens.create()
  t.not(other.secret, token.secret)
  await t.rejects(stripe.terminal.connectionTokens.create({ location: 'tml_missing' }), { statusCode: 404, code: 'resource_missing' })
})

t.test('readers: register with a code, label, list by location, deregister', async (t) => {
  const { stripe, sim } = await startSimWithClient(t)
  const bar = await stripe.terminal.locations.create({ display_name: 'Bar', address })
  const food = await stripe.terminal.locations.create({ display_name: 'Food', address })
  sim.control.addRegistrationCode('sepia-cerulean-aardvark', { deviceType: 'bbpos_wisepos_e', serialNumber: 'WSC513105011295' })
  const reader = await stripe.terminal.readers.create({ registration_code: 'sepia-cerulean-aardvark', label: 'Bar till 1', location: bar.id })
  t.match(reader, { object: 'terminal.reader', label: 'Bar till 1', location: bar.id, serial_number: 'WSC513105011295', device_type: 'bbpos_wisepos_e', status: 'online', action: null })
  await t.rejects(
    stripe.terminal.readers.create({ registration_code: 'sepia-cerulean-aardvark', location: bar.id }),
    { message: ANY_MESSAGE, statusCode: 400, param: 'registration_code' },
    'a registration code pairs one device once',
  )
  await t.rejects(stripe.terminal.readers.create({ registration_code: 'made-up-code', location: bar.id }), { message: ANY_MESSAGE, statusCode: 400, param: 'registration_code' })
  await t.rejects(stripe.terminal.readers.create({ registration_code: 'simulated-wpe', location: 'tml_missing' }), { message: ANY_MESSAGE, statusCode: 404, param: 'location' })
  await t.rejects(stripe.terminal.readers.create({ location: bar.id } as never), { statusCode: 400, code: 'parameter_missing', param: 'registration_code' })
  const sim2 = await stripe.terminal.readers.create({ registration_code: 'simulated-wpe', location: food.id })
  t.equal(sim2.device_type, 'simulated_wisepos_e')

  const renamed = await stripe.terminal.readers.update(reader.id, { label: 'Bar till A' })
  t.equal((renamed as { label: string }).label, 'Bar till A')
  t.equal((await stripe.terminal.readers.retrieve(reader.id) as { label: string }).label, 'Bar till A')
  await t.rejects(stripe.terminal.readers.update(reader.id, { label: 'x'.repeat(101) }), { message: ANY_MESSAGE, statusCode: 400 })
  t.same((await stripe.terminal.readers.list({ location: bar.id })).data.map((r) => r.id), [reader.id])
  t.same((await stripe.terminal.readers.list({ location: food.id })).data.map((r) => r.id), [sim2.id])
  const unplaced = await stripe.terminal.readers.create({ registration_code: 'simulated-s700' })
  t.equal(unplaced.location, null, 'location is optional')
  t.equal((await stripe.terminal.readers.list()).data.length, 3)

  const gone = await stripe.terminal.readers.del(reader.id)
  t.same(gone, { id: reader.id, object: 'terminal.reader', deleted: true })
  await t.rejects(stripe.terminal.readers.retrieve(reader.id), { statusCode: 404, code: 'resource_missing' })
  t.same((await stripe.terminal.readers.list({ location: bar.id })).data, [])
})

async function readerAndIntent(t: { teardown(fn: () => unknown): void }, captureMethod: 'automatic' | 'manual' = 'automatic') {
  const { stripe, sim } = await startSimWithClient(t)
  const location = await stripe.terminal.locations.create({ display_name: 'Top-up booth', address })
  const reader = await stripe.terminal.readers.create({ registration_code: 'simulated-wpe', location: location.id, label: 'Top-up 1' })
  const pi = await stripe.paymentIntents.create({ amount: 3000, currency: 'eur', allowed_payment_method_types: ['card_present'], capture_method: captureMethod })
  return { stripe, sim, reader, pi }
}

t.test('a card presented on a reader pays the intent (test helper of the package)', async (t) => {
  const { stripe, sim, reader, pi } = await readerAndIntent(t, 'manual')
  const busy = await stripe.terminal.readers.processPaymentIntent(reader.id, { payment_intent: pi.id })
  t.match(busy.action, { type: 'process_payment_intent', status: 'in_progress', process_payment_intent: { payment_intent: pi.id } })
  const other = await stripe.paymentIntents.create({ amount: 100, currency: 'eur', allowed_payment_method_types: ['card_present'] })
  await t.rejects(stripe.terminal.readers.processPaymentIntent(reader.id, { payment_intent: other.id }), { statusCode: 400, code: 'terminal_reader_busy' })

  const done = await stripe.testHelpers.terminal.readers.presentPaymentMethod(reader.id, { type: 'card_present', card_present: { number: '4242424242424242' } })
  t.match((done as { action: unknown }).action, { status: 'succeeded' })
  const held = await stripe.paymentIntents.retrieve(pi.id, { expand: ['payment_method'] })
  t.match(held, { status: 'requires_capture', amount_capturable: 3000, payment_method: { type: 'card_present', card_present: { last4: '4242' } } })
  const captured = await stripe.paymentIntents.capture(pi.id)
  t.equal(captured.status, 'succeeded')
  await t.rejects(stripe.testHelpers.terminal.readers.presentPaymentMethod(reader.id), { message: ANY_MESSAGE, statusCode: 400 }, 'nothing to pay any more')
  t.equal(sim.control.events('terminal.reader.action_succeeded').length, 1)

  await t.rejects(
    stripe.terminal.readers.processPaymentIntent(reader.id, { payment_intent: pi.id }),
    { code: 'payment_intent_unexpected_state' },
    'a paid intent is not processed again',
  )
  const cardOnly = await stripe.paymentIntents.create({ amount: 100, currency: 'eur' })
  await t.rejects(stripe.terminal.readers.processPaymentIntent(reader.id, { payment_intent: cardOnly.id }), { message: ANY_MESSAGE, statusCode: 400, param: 'payment_intent' })
  await t.rejects(stripe.paymentIntents.confirm(other.id, { payment_method: 'pm_card_visa' }), { message: ANY_MESSAGE, statusCode: 400 }, 'card_present intents are paid on a reader')
})

t.test('a declined card fails the reader action and leaves the intent payable', async (t) => {
  const { stripe, sim, reader, pi } = await readerAndIntent(t)
  await stripe.terminal.readers.processPaymentIntent(reader.id, { payment_intent: pi.id })
  const failed = sim.control.presentCard(reader.id, { number: '4000000000009995' })
  t.match(failed.action, { status: 'failed', failure_code: 'card_declined', failure_message: 'Your card has insufficient funds.' })
  const after = await stripe.paymentIntents.retrieve(pi.id)
  t.match(after, { status: 'requires_payment_method', amount_received: 0, last_payment_error: { decline_code: 'insufficient_funds' } })
  t.equal(sim.control.events('terminal.reader.action_failed').length, 1)

  await stripe.terminal.readers.processPaymentIntent(reader.id, { payment_intent: pi.id })
  const cancelled = await stripe.terminal.readers.cancelAction(reader.id)
  t.equal((cancelled as { action: unknown }).action, null)
  await t.rejects(stripe.terminal.readers.cancelAction(reader.id), { message: ANY_MESSAGE, statusCode: 400 })
  await stripe.terminal.readers.processPaymentIntent(reader.id, { payment_intent: pi.id })
  sim.control.presentCard(reader.id)
  t.match(await stripe.paymentIntents.retrieve(pi.id), { status: 'succeeded', amount_received: 3000 })
  t.throws(() => sim.control.presentCard(reader.id, { number: '1234' }), /stripe-sim/)

  sim.control.setReaderStatus(reader.id, 'offline')
  const next = await stripe.paymentIntents.create({ amount: 500, currency: 'eur', allowed_payment_method_types: ['card_present'] })
  await t.rejects(stripe.terminal.readers.processPaymentIntent(reader.id, { payment_intent: next.id }), { statusCode: 400, code: 'terminal_reader_offline' })
})

t.test('saving a card at a reader (process_setup_intent) gives a reusable card', async (t) => {
  const { stripe, sim } = await startSimWithClient(t)
  const location = await stripe.terminal.locations.create({ display_name: 'Info desk', address })
  const reader = await stripe.terminal.readers.create({ registration_code: 'simulated-wpe', location: location.id })
  const customer = await stripe.customers.create({ email: 'guest@example.org' })
  const si = await stripe.setupIntents.create({ customer: customer.id, allowed_payment_method_types: ['card_present'] })
  const processing = await stripe.terminal.readers.processSetupIntent(reader.id, { setup_intent: si.id, allow_redisplay: 'always' })
  t.match(processing.action, { type: 'process_setup_intent', status: 'in_progress' })
  const done = sim.control.presentCard(reader.id, { number: '5555555555554444' })
  t.equal(done.action?.status, 'succeeded')
  const saved = await stripe.setupIntents.retrieve(si.id)
  t.equal(saved.status, 'succeeded')
  t.equal(done.action?.process_setup_intent?.generated_card, saved.payment_method)
  const card = await stripe.paymentMethods.retrieve(saved.payment_method as string)
  t.match(card, { type: 'card', customer: customer.id, card: { brand: 'mastercard', last4: '4444' } })
  const charge = await stripe.paymentIntents.create({ amount: 1200, currency: 'eur', customer: customer.id, payment_method: card.id, off_session: true, confirm: true })
  t.equal(charge.status, 'succeeded', 'the saved card can be charged later')
})
