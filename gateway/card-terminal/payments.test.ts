// Card payments through real HTTP against the Stripe simulator and a real
// ledger, on SQLite and on PostgreSQL (one body per engine): balance part and
// card part each booked exactly once, nothing lost or doubled when the card
// fails, retries and replays book nothing new.
import t, { type Test } from 'tap'
import { accountIds } from '../ledger/index.js'
import { ledgerRefs } from './payments.js'
import { OPEN_TIMEOUT_MS, TOKEN, UID, registerBarReader, startHarness, type Harness } from './testing/harness.js'
import { testOnEngines, worldEngines, type WorldEngine } from '../testing/world-engines.js'

const engines = await worldEngines(t)
const onEveryEngine = (name: string, body: (t: Test, engine: WorldEngine) => Promise<void>) => testOnEngines(t, engines, name, body)

const V1 = '/api/stripe/v1'
const HOLD = 'clearing:card-hold'
const STRIPE = 'clearing:stripe'
const REVENUE_BAR = accountIds.revenue('bar')
const ALICE = accountIds.customer(UID.alice)

function intentRequests(h: Harness) {
  return h.sim.control.requests().filter((r) => r.method === 'POST' && r.path === '/v1/payment_intents')
}

async function status(h: Harness, cart: string | number, token: string = TOKEN.bar) {
  const res = await h.call(`${V1}/payment_status/`, { cart }, { token })
  return res
}

function checkLedger(t: Test, h: Harness) {
  t.same(h.world.ledger.checkInvariants(), [], 'ledger invariants hold')
}

onEveryEngine('card-only payment: Open until Stripe says succeeded, then booked once', async (t, engine) => {
  const h = await startHarness(t, { database: engine.database(t) })
  const created = await h.call(`${V1}/payment_intent/`, { cart: '123', amount: '56.78' })
  t.equal(created.status, 200)
  t.match(created.body, { stripe_payment_intent_id: /^pi_/, stripe_publishable_api_key: h.sim.publishableKey, client_secret: /_secret_/ })
  const piId = created.body.stripe_payment_intent_id
  const pi = await h.stripe.paymentIntents.retrieve(piId)
  t.equal(pi.amount, 5678)
  t.equal(pi.currency, 'eur')
  t.same(pi.payment_method_types, ['card'])
  t.equal(pi.metadata.cart, '123')

  t.same((await status(h, '123')).body, { status: 'Open' })
  t.equal(h.bookings(), 0, 'nothing booked before the card is paid')

  // The guest's browser (Stripe.js) confirms with the card.
  await h.stripe.paymentIntents.confirm(piId, { payment_method: 'pm_card_visa' })
  const done = await status(h, 123)
  t.equal(done.status, 200)
  t.equal(done.body.status, 'Submitted')
  t.type(done.body.order, 'string')
  t.equal(h.balance(REVENUE_BAR), 5678)
  t.equal(h.balance(STRIPE), -5678)
  t.equal(h.bookings(), 1)

  for (let i = 0; i < 3; i++) t.same((await status(h, '123')).body, done.body, 'polling again answers the same')
  t.equal(h.bookings(), 1, 'and books nothing more')
  const again = await h.call(`${V1}/payment_intent/`, { cart: '123', amount: '56.78' })
  t.equal(again.status, 422)
  t.equal(again.body.type, 'cart_paid')
  t.equal(h.world.ledger.externalBookingByRef(ledgerRefs.card(h.store.latestPayment('kiosk:bar-1', '123')!.id))?.receiptId, done.body.order, 'order is the receipt of the card booking')
  checkLedger(t, h)
})

onEveryEngine('terminal payment with part from the wristband balance', async (t, engine) => {
  const h = await startHarness(t, { database: engine.database(t), initialAliceCents: 5000 })
  const reader = await registerBarReader(h)
  const created = await h.call(`${V1}/payment_intent/`, { cart: 'c-1', amount: '10.00', account_balance_payment_amount: '12.34', payment_type: 'terminal', user: UID.alice })
  t.equal(created.status, 200)
  const piId = created.body.stripe_payment_intent_id
  t.same((await h.stripe.paymentIntents.retrieve(piId)).payment_method_types, ['card_present'])
  t.equal(h.balance(ALICE), 5000 - 1234, 'balance part taken at once')
  t.equal(h.balance(HOLD), 1234, 'and held until the card part settles')
  t.equal(h.balance(REVENUE_BAR), 0, 'no revenue yet')

  await h.stripe.terminal.readers.processPaymentIntent(reader, { payment_intent: piId })
  t.same((await status(h, 'c-1')).body, { status: 'Open' }, 'waiting for the card')
  h.sim.control.presentCard(reader)
  const done = await status(h, 'c-1')
  t.equal(done.body.status, 'Submitted')
  t.equal(h.balance(REVENUE_BAR), 2234, 'revenue is the whole cart')
  t.equal(h.balance(HOLD), 0, 'hold released')
  t.equal(h.balance(STRIPE), -1000)
  t.equal(h.balance(ALICE), 3766, 'balance part taken once')
  t.equal(h.bookings(), 2)
  for (let i = 0; i < 3; i++) await status(h, 'c-1')
  t.equal(h.bookings(), 2, 'polling books nothing more')
  t.equal(h.balance(ALICE), 3766)
  checkLedger(t, h)
})

onEveryEngine('a declined card books nothing and gives the balance part back, once', async (t, engine) => {
  const h = await startHarness(t, { database: engine.database(t) })
  const reader = await registerBarReader(h)
  const created = await h.call(`${V1}/payment_intent/`, { cart: 'c-2', amount: '20.00', account_balance_payment_amount: '5.00', payment_type: 'terminal', user: UID.alice })
  const piId = created.body.stripe_payment_intent_id
  t.equal(h.balance(ALICE), 4500)
  await h.stripe.terminal.readers.processPaymentIntent(reader, { payment_intent: piId })
  h.sim.control.presentCard(reader, { number: '4000000000000002' })
  const failed = await status(h, 'c-2')
  t.equal(failed.status, 200)
  t.same(failed.body, { status: 'Failed', error: 'Your card was declined.' })
  t.equal(h.balance(ALICE), 5000, 'balance part refunded')
  t.equal(h.balance(HOLD), 0)
  t.equal(h.balance(REVENUE_BAR), 0, 'no revenue')
  t.equal(h.balance(STRIPE), 0, 'no card money')
  t.equal((await h.stripe.paymentIntents.retrieve(piId)).status, 'canceled', 'the intent can never succeed later')
  const bookings = h.bookings()
  for (let i = 0; i < 3; i++) t.same((await status(h, 'c-2')).body, failed.body)
  t.equal(h.bookings(), bookings, 'refund booked once')
  t.equal(h.balance(ALICE), 5000)

  // The kiosk tries again with the same cart: a new attempt, a new intent.
  const retry = await h.call(`${V1}/payment_intent/`, { cart: 'c-2', amount: '20.00', account_balance_payment_amount: '5.00', payment_type: 'terminal', user: UID.alice })
  t.equal(retry.status, 200)
  t.not(retry.body.stripe_payment_intent_id, piId)
  t.equal(h.balance(ALICE), 4500)
  await h.stripe.terminal.readers.processPaymentIntent(reader, { payment_intent: retry.body.stripe_payment_intent_id })
  h.sim.control.presentCard(reader)
  t.equal((await status(h, 'c-2')).body.status, 'Submitted')
  t.equal(h.balance(REVENUE_BAR), 2500)
  t.equal(h.balance(ALICE), 4500)
  checkLedger(t, h)
})

onEveryEngine('a declined card without a balance part books nothing at all', async (t, engine) => {
  const h = await startHarness(t, { database: engine.database(t) })
  const created = await h.call(`${V1}/payment_intent/`, { cart: 9, amount: '3.50' })
  await t.rejects(h.stripe.paymentIntents.confirm(created.body.stripe_payment_intent_id, { payment_method: 'pm_card_chargeDeclinedInsufficientFunds' }))
  const res = await status(h, 9)
  t.equal(res.body.status, 'Failed')
  t.match(res.body.error, /insufficient funds/)
  t.equal(h.bookings(), 0)
  checkLedger(t, h)
})

onEveryEngine('the same request again answers the same intent and books once, even all at once', async (t, engine) => {
  const h = await startHarness(t, { database: engine.database(t) })
  const body = { cart: 'c-3', amount: '4.00', account_balance_payment_amount: '6.00', user: UID.alice }
  const answers = await Promise.all(Array.from({ length: 6 }, () => h.call(`${V1}/payment_intent/`, body)))
  for (const a of answers) t.equal(a.status, 200)
  t.equal(new Set(answers.map((a) => a.body.stripe_payment_intent_id)).size, 1, 'one intent')
  t.equal(new Set(answers.map((a) => a.body.client_secret)).size, 1)
  t.equal(intentRequests(h).length, 1, 'created once at Stripe')
  t.equal(h.balance(ALICE), 4400, 'balance part taken once')
  t.equal(h.bookings(), 1)

  const other = await h.call(`${V1}/payment_intent/`, { ...body, amount: '5.00' })
  t.equal(other.status, 422)
  t.equal(other.body.type, 'cart_in_progress')
  const otherUser = await h.call(`${V1}/payment_intent/`, { ...body, user: UID.bob })
  t.equal(otherUser.status, 422)
  t.equal(h.balance(ALICE), 4400)

  await h.stripe.paymentIntents.confirm(answers[0]!.body.stripe_payment_intent_id, { payment_method: 'pm_card_visa' })
  const polls = await Promise.all(Array.from({ length: 5 }, () => status(h, 'c-3')))
  for (const p of polls) t.equal(p.body.status, 'Submitted')
  t.equal(new Set(polls.map((p) => p.body.order)).size, 1)
  t.equal(h.bookings(), 2, 'card part booked once under concurrent polls')
  t.equal(h.balance(REVENUE_BAR), 1000)
  checkLedger(t, h)
})

onEveryEngine('carts are scoped to the caller', async (t, engine) => {
  const h = await startHarness(t, { database: engine.database(t) })
  await h.call(`${V1}/payment_intent/`, { cart: 'shared-id', amount: '1.00' })
  const food = await status(h, 'shared-id', TOKEN.food)
  t.equal(food.status, 422, "another kiosk does not see the bar's cart")
  t.equal(food.body.type, 'unknown_cart')
  const foodOwn = await h.call(`${V1}/payment_intent/`, { cart: 'shared-id', amount: '2.00' }, { token: TOKEN.food })
  t.equal(foodOwn.status, 200, 'and may use the same cart id for its own cart')
  const op = await h.call(`${V1}/payment_intent/`, { cart: 'x', amount: '2.00' }, { token: TOKEN.operator })
  t.equal(op.status, 403)
  t.equal(op.body.type, 'kiosk_only')
  t.equal((await status(h, 'never-started')).status, 422)
})

onEveryEngine('refusals of the balance part book nothing and create nothing at Stripe', async (t, engine) => {
  const h = await startHarness(t, { database: engine.database(t), initialAliceCents: 1000 })
  const cases: Array<[Record<string, unknown>, number, string]> = [
    [{ cart: 'r1', amount: '1.00', account_balance_payment_amount: '10.01', user: UID.alice }, 422, 'insufficient_balance'],
    [{ cart: 'r2', amount: '1.00', account_balance_payment_amount: '1.00', user: UID.blocked }, 422, 'user_blocked'],
    [{ cart: 'r3', amount: '1.00', account_balance_payment_amount: '1.00', user: UID.stranger }, 422, 'unknown_user'],
    [{ cart: 'r4', amount: '1.00', account_balance_payment_amount: '1.00' }, 422, 'user_required'],
  ]
  for (const [body, code, type] of cases) {
    const res = await h.call(`${V1}/payment_intent/`, body)
    t.equal(res.status, code, type)
    t.equal(res.body.type, type)
    t.equal((await status(h, body.cart as string)).body.type, 'unknown_cart', 'no cart was recorded')
  }
  t.equal(intentRequests(h).length, 0)
  t.equal(h.bookings(), 0)
  t.equal(h.balance(ALICE), 1000)
  // Exactly the whole balance is fine.
  const all = await h.call(`${V1}/payment_intent/`, { cart: 'r5', amount: '1.00', account_balance_payment_amount: '10.00', user: UID.alice.toLowerCase() })
  t.equal(all.status, 200, 'a lower-case uid is the same wristband')
  t.equal(h.balance(ALICE), 0)
  checkLedger(t, h)
})

onEveryEngine('hostile payment bodies get a clear 4xx and change nothing', async (t, engine) => {
  const h = await startHarness(t, { database: engine.database(t) })
  const bad: unknown[] = [
    {},
    { cart: 'h', amount: '-1.00' },
    { cart: 'h', amount: '1.234' },
    { cart: 'h', amount: 12.34 },
    { cart: 'h', amount: '1e3' },
    { cart: 'h', amount: '' },
    { cart: 'h', amount: '0.00' },
    { cart: 'h', amount: '0' },
    { cart: 'h', amount: '1000000.01' },
    { cart: 'h', amount: '99999999999' },
    { cart: 'h', amount: 'NaN' },
    { cart: 'h', amount: '1'.repeat(10_000) },
    { cart: 'h', amount: '1.00', account_balance_payment_amount: '-0.01', user: UID.alice },
    { cart: 'h', amount: '1.00', account_balance_payment_amount: 5, user: UID.alice },
    { cart: 'h', amount: '1.00', payment_type: 'cash' },
    { cart: 'h', amount: '1.00', user: 'not-hex!' },
    { cart: 'h', amount: '1.00', unexpected: 'x' },
    { cart: { $gt: '' }, amount: '1.00' },
    { cart: -5, amount: '1.00' },
    { cart: 'x'.repeat(100_000), amount: '1.00' },
    { amount: '1.00' },
    [{ cart: 'h', amount: '1.00' }],
    null,
  ]
  for (const body of bad) {
    const res = await h.call(`${V1}/payment_intent/`, body)
    t.ok(res.status === 422 || res.status === 400 || res.status === 413, `${res.status} for ${JSON.stringify(body)?.slice(0, 60)}`)
    t.type(res.body?.type, 'string')
  }
  for (const body of [{}, { cart: [] }, { cart: 'a', extra: 1 }]) t.equal((await h.call(`${V1}/payment_status/`, body)).status, 422)
  t.equal(h.sim.control.requests().length, 0, 'nothing reached Stripe')
  t.equal(h.bookings(), 0)
  t.equal(h.balance(ALICE), 5000)
  checkLedger(t, h)
})

onEveryEngine('Stripe failing to create the intent gives the balance part back', async (t, engine) => {
  const h = await startHarness(t, { database: engine.database(t) })
  h.sim.control.failNextRequests(1, { when: 'before' })
  const res = await h.call(`${V1}/payment_intent/`, { cart: 'f1', amount: '2.00', account_balance_payment_amount: '3.00', user: UID.alice })
  t.equal(res.status, 502)
  t.equal(res.body.type, 'provider_error')
  t.equal(h.balance(ALICE), 5000, 'refunded')
  t.equal(h.balance(HOLD), 0)
  t.equal((await status(h, 'f1')).body.status, 'Failed')
  // Trying again works and takes the balance part anew, once.
  const again = await h.call(`${V1}/payment_intent/`, { cart: 'f1', amount: '2.00', account_balance_payment_amount: '3.00', user: UID.alice })
  t.equal(again.status, 200)
  t.equal(h.balance(ALICE), 4700)
  checkLedger(t, h)
})

onEveryEngine('Stripe failing while polling answers 502 and changes nothing', async (t, engine) => {
  const h = await startHarness(t, { database: engine.database(t) })
  const created = await h.call(`${V1}/payment_intent/`, { cart: 'p1', amount: '2.00', account_balance_payment_amount: '1.00', user: UID.alice })
  await h.stripe.paymentIntents.confirm(created.body.stripe_payment_intent_id, { payment_method: 'pm_card_visa' })
  h.sim.control.failNextRequests(1)
  const res = await status(h, 'p1')
  t.equal(res.status, 502)
  t.equal(h.balance(REVENUE_BAR), 0)
  t.equal((await status(h, 'p1')).body.status, 'Submitted', 'the next poll books it')
  t.equal(h.balance(REVENUE_BAR), 300)
  checkLedger(t, h)
})

onEveryEngine('an open payment that is never paid expires: cancelled at Stripe, balance back', async (t, engine) => {
  const h = await startHarness(t, { database: engine.database(t) })
  const created = await h.call(`${V1}/payment_intent/`, { cart: 'e1', amount: '2.00', account_balance_payment_amount: '1.50', user: UID.alice })
  const other = await h.call(`${V1}/payment_intent/`, { cart: 'e2', amount: '2.00', account_balance_payment_amount: '1.00', user: UID.alice })
  t.equal(h.balance(ALICE), 4750)
  h.world.clock.advance(OPEN_TIMEOUT_MS - 1)
  t.same((await status(h, 'e1')).body, { status: 'Open' }, 'not yet')
  t.equal(await h.api.payments.sweep(), 0, 'the sweep finds nothing due yet')
  h.world.clock.advance(1)
  t.same((await status(h, 'e1')).body, { status: 'Failed', error: 'the card payment timed out' })
  t.equal((await h.stripe.paymentIntents.retrieve(created.body.stripe_payment_intent_id)).status, 'canceled')
  t.equal(h.balance(ALICE), 4900)
  // The periodic sweep settles carts nobody polls any more.
  t.equal(await h.api.payments.sweep(), 1)
  t.equal((await h.stripe.paymentIntents.retrieve(other.body.stripe_payment_intent_id)).status, 'canceled')
  t.equal(h.balance(ALICE), 5000)
  t.equal(h.balance(HOLD), 0)
  t.equal(await h.api.payments.sweep(), 0)
  checkLedger(t, h)
})

onEveryEngine('a payment interrupted before its intent existed is settled without inventing money', async (t, engine) => {
  const h = await startHarness(t, { database: engine.database(t) })
  // As if the gateway stopped right after taking the balance part (a) or before (b).
  const insert = (cart: string) =>
    h.store.insertPayment({ id: `00000000-0000-4000-8000-00000000000${cart === 'a' ? 1 : 2}`, owner: 'kiosk:bar-1', cart, location: 'bar', currency: 'EUR', cardCents: 100, balanceCents: 700, wristband: UID.alice, paymentType: 'card', at: h.world.clock.now() })
  const a = insert('a')
  h.world.ledger.bookExternal({ ref: ledgerRefs.balance(a.id), kind: 'card_payment', postings: [{ account: ALICE, amount: -700 }, { account: h.world.ledger.ensureAccount('clearing', 'card-hold'), amount: 700 }], customerUid: UID.alice })
  insert('b')
  t.equal(h.balance(ALICE), 4300)
  t.same((await status(h, 'a')).body, { status: 'Failed', error: 'the payment was interrupted; start it again' })
  t.equal(h.balance(ALICE), 5000, 'what was taken is given back')
  t.equal((await status(h, 'b')).body.status, 'Failed')
  t.equal(h.balance(ALICE), 5000, 'nothing given back that was never taken')
  t.equal(h.world.ledger.externalBookingByRef(ledgerRefs.refund('00000000-0000-4000-8000-000000000002')), undefined)
  t.equal(h.balance(HOLD), 0)
  checkLedger(t, h)
})

onEveryEngine('a retried request resumes an interrupted payment instead of taking the balance twice', async (t, engine) => {
  const h = await startHarness(t, { database: engine.database(t) })
  const row = h.store.insertPayment({ id: '00000000-0000-4000-8000-000000000003', owner: 'kiosk:bar-1', cart: 'resume', location: 'bar', currency: 'EUR', cardCents: 250, balanceCents: 400, wristband: UID.alice, paymentType: 'card', at: h.world.clock.now() })
  h.world.ledger.bookExternal({ ref: ledgerRefs.balance(row.id), kind: 'card_payment', postings: [{ account: ALICE, amount: -400 }, { account: h.world.ledger.ensureAccount('clearing', 'card-hold'), amount: 400 }], customerUid: UID.alice })
  const res = await h.call(`${V1}/payment_intent/`, { cart: 'resume', amount: '2.50', account_balance_payment_amount: '4.00', user: UID.alice })
  t.equal(res.status, 200)
  t.equal(h.balance(ALICE), 4600, 'balance part still taken once')
  await h.stripe.paymentIntents.confirm(res.body.stripe_payment_intent_id, { payment_method: 'pm_card_visa' })
  t.equal((await status(h, 'resume')).body.status, 'Submitted')
  t.equal(h.balance(REVENUE_BAR), 650)
  checkLedger(t, h)
})

onEveryEngine('an intent whose amount differs at Stripe is not booked', async (t, engine) => {
  const h = await startHarness(t, { database: engine.database(t) })
  const created = await h.call(`${V1}/payment_intent/`, { cart: 'm1', amount: '2.00' })
  const piId = created.body.stripe_payment_intent_id
  await h.stripe.paymentIntents.update(piId, { amount: 100 })
  await h.stripe.paymentIntents.confirm(piId, { payment_method: 'pm_card_visa' })
  const res = await status(h, 'm1')
  t.equal(res.status, 502)
  t.equal(res.body.type, 'provider_mismatch')
  t.equal(h.bookings(), 0)
})

onEveryEngine('stored cards: setup intent and store payment method', async (t, engine) => {
  const h = await startHarness(t, { database: engine.database(t) })
  const si = await h.call(`${V1}/setup_intent/`, { user: UID.alice, colletion_method: 'terminal' })
  t.equal(si.status, 200)
  t.match(si.body, { stripe_setup_intent_id: /^seti_/, stripe_publishable_api_key: h.sim.publishableKey, client_secret: /_secret_/ })
  const seti = await h.stripe.setupIntents.retrieve(si.body.stripe_setup_intent_id)
  t.same(seti.payment_method_types, ['card_present'])
  const manual = await h.call(`${V1}/setup_intent/`, { user: UID.alice })
  t.same((await h.stripe.setupIntents.retrieve(manual.body.stripe_setup_intent_id)).payment_method_types, ['card'], 'manual by default')
  t.equal(seti.customer, (await h.stripe.setupIntents.retrieve(manual.body.stripe_setup_intent_id)).customer, 'one Stripe customer per wristband')
  t.equal((await h.call(`${V1}/setup_intent/`, { user: UID.stranger })).status, 422)
  t.equal((await h.call(`${V1}/setup_intent/`, { user: UID.alice, colletion_method: 'carrier-pigeon' })).status, 422)
  t.equal((await h.call(`${V1}/setup_intent/`, {})).status, 422)

  const pm = await h.stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_visa' } } as never)
  const stored = await h.call(`${V1}/store_payment_method/`, { name: 'Jane Doe', partner: 72341, payment_method: pm.id, postal_code: 33213, user: UID.alice })
  t.equal(stored.status, 200)
  t.same(stored.body, { payment_method: pm.id, bankcard: stored.body.bankcard })
  t.type(stored.body.bankcard, 'string')
  const atStripe = await h.stripe.paymentMethods.retrieve(pm.id)
  t.equal(atStripe.customer, seti.customer, "attached to the wristband's customer")
  t.equal(atStripe.billing_details.address?.postal_code, '33213')
  t.equal(atStripe.billing_details.name, 'Jane Doe')

  const replay = await h.call(`${V1}/store_payment_method/`, { name: 'Jane Doe', partner: '72341', payment_method: pm.id, postal_code: '33213', user: UID.alice })
  t.same(replay.body, stored.body, 'the same request again answers the same bankcard')
  const stolen = await h.call(`${V1}/store_payment_method/`, { partner: '1', payment_method: pm.id, postal_code: '1', user: UID.bob })
  t.equal(stolen.status, 422)
  t.equal(stolen.body.type, 'payment_method_taken')
  const missing = await h.call(`${V1}/store_payment_method/`, { partner: '1', payment_method: 'pm_doesnotexist', postal_code: '1', user: UID.alice })
  t.equal(missing.status, 422)
  t.equal(missing.body.type, 'unknown_payment_method')
  for (const body of [{ partner: '1', payment_method: pm.id, user: UID.alice }, { partner: '1', payment_method: pm.id, postal_code: '1', user: UID.alice, card_number: '4242424242424242' }, { partner: '1', payment_method: 'pm x', postal_code: '1', user: UID.alice }]) {
    t.equal((await h.call(`${V1}/store_payment_method/`, body)).status, 422)
  }
})
