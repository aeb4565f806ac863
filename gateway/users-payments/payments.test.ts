// Payments of the users API against the Stripe simulator and a real ledger (on
// SQLite and on PostgreSQL, one body per engine): the cuid idempotency key, confirm and booking exactly once, declines, and
// that a user never reaches another user's payments.
import t, { type Test } from 'tap'
import { startHarness, type Harness } from './testing/harness.js'
import { testOnEngines, worldEngines, type WorldEngine } from '../testing/world-engines.js'

const engines = await worldEngines(t)
const onEveryEngine = (name: string, body: (t: Test, engine: WorldEngine) => Promise<void>) => testOnEngines(t, engines, name, body)

const STRIPE_CLEARING = 'clearing:stripe'

function prepaid(h: Harness, userId: string): number | undefined {
  return h.world.ledger.accountBalance(`prepaid:${userId}`)
}

function intentCreates(h: Harness): number {
  return h.sim.control.requests().filter((r) => r.method === 'POST' && r.path === '/v1/payment_intents' && r.statusCode === 200 && !r.replayed).length
}

onEveryEngine('POST /payment creates one intent per cuid; the same cuid returns the same payment', async (t, engine) => {
  const h = await startHarness(t, {}, {}, { database: engine.database(t) })
  const a = await h.register('a@example.org')
  const created = await h.api('POST', '/payment', { cuid: 'cjld2cjxh0000qzrmn831i7rn' }, a.token)
  t.equal(created.status, 201)
  t.match(created.body, { id: /^pi_/, amount: 2000, currency: 'eur', status: 'requires_payment_method', paymentMethod: '', clientSecret: /_secret_/ })
  t.same(Object.keys(created.body).sort(), ['amount', 'clientSecret', 'currency', 'id', 'paymentMethod', 'status'])

  const again = await h.api('POST', '/payment', { cuid: 'cjld2cjxh0000qzrmn831i7rn' }, a.token)
  t.equal(again.status, 201)
  t.same(again.body, created.body, 'same payment again')
  t.equal(intentCreates(h), 1, 'one intent at Stripe')
  const key = h.sim.control.requests().find((r) => r.path === '/v1/payment_intents')?.idempotencyKey
  t.match(key, /cjld2cjxh0000qzrmn831i7rn/, 'the cuid reaches Stripe inside the Idempotency-Key')

  const me = await h.api('GET', '/user', undefined, a.token)
  t.match(me.body[0].customerId, /^cus_/, 'the user got a Stripe customer')
  t.equal((h.sim.control.object(created.body.id) as unknown as { customer: string }).customer, me.body[0].customerId)

  const conflict = await h.api('POST', '/payment', { cuid: 'cjld2cjxh0000qzrmn831i7rn', amount: 5000 }, a.token)
  t.equal(conflict.status, 409, 'same cuid, different amount')
  t.equal(conflict.body.type, 'cuid_conflict')

  const other = await h.api('POST', '/payment', { cuid: 'cuid-second-payment', amount: 5000 }, a.token)
  t.equal(other.status, 201)
  t.not(other.body.id, created.body.id)
  t.equal(other.body.amount, 5000)
  t.equal(intentCreates(h), 2)

  const list = await h.api('GET', '/payment', undefined, a.token)
  t.equal(list.status, 200)
  t.same(list.body.map((p: { id: string }) => p.id).sort(), [created.body.id, other.body.id].sort())
  t.notOk('clientSecret' in list.body[0], 'the list does not repeat client secrets')
})

onEveryEngine('the same cuid sent concurrently: one intent, one booking', async (t, engine) => {
  const h = await startHarness(t, {}, {}, { database: engine.database(t) })
  const a = await h.register('a@example.org')
  const replies = await Promise.all(Array.from({ length: 6 }, () => h.api('POST', '/payment', { cuid: 'cuid-concurrent-01' }, a.token)))
  t.same(
    replies.map((r) => r.status),
    [201, 201, 201, 201, 201, 201],
  )
  const ids = new Set(replies.map((r) => r.body.id))
  t.equal(ids.size, 1, 'one payment')
  t.equal(intentCreates(h), 1, 'one intent at Stripe')

  const id = [...ids][0]
  const confirms = await Promise.all(
    Array.from({ length: 4 }, () => h.api('POST', '/payment/confirm', { cuid: 'cuid-concurrent-01', paymentId: id, paymentMethodId: 'pm_card_visa' }, a.token)),
  )
  for (const c of confirms) {
    t.equal(c.status, 201)
    t.equal(c.body.status, 'succeeded')
  }
  t.equal(prepaid(h, a.userId), 2000, 'booked once')
  t.equal(h.world.ledger.accountBalance(STRIPE_CLEARING), -2000)
  t.same(h.world.ledger.checkInvariants(), [])
})

onEveryEngine('two users may use the same cuid: their payments stay apart', async (t, engine) => {
  const h = await startHarness(t, {}, {}, { database: engine.database(t) })
  const a = await h.register('a@example.org')
  const b = await h.register('b@example.org')
  const pa = await h.api('POST', '/payment', { cuid: 'cuid-shared-by-both' }, a.token)
  const pb = await h.api('POST', '/payment', { cuid: 'cuid-shared-by-both', amount: 700 }, b.token)
  t.equal(pa.status, 201)
  t.equal(pb.status, 201)
  t.not(pa.body.id, pb.body.id)
  t.equal(pb.body.amount, 700)
})

onEveryEngine('confirm books exactly once, to prepaid:{userId}', async (t, engine) => {
  const h = await startHarness(t, {}, {}, { database: engine.database(t) })
  const a = await h.register('a@example.org')
  const created = await h.api('POST', '/payment', { cuid: 'cuid-confirm-0001', amount: 2500 }, a.token)
  const body = { cuid: 'cuid-confirm-0001', paymentId: created.body.id, paymentMethodId: 'pm_card_visa' }
  const confirmed = await h.api('POST', '/payment/confirm', body, a.token)
  t.equal(confirmed.status, 201)
  t.match(confirmed.body, { id: created.body.id, amount: 2500, currency: 'eur', status: 'succeeded', paymentMethod: /^pm_/ })
  t.notOk('clientSecret' in confirmed.body)
  t.equal(prepaid(h, a.userId), 2500)
  const booking = h.world.ledger.externalBookingByRef(`users:${created.body.id}`)
  t.match(booking, { kind: 'prepayment', amount: 2500 })

  const twice = await h.api('POST', '/payment/confirm', body, a.token)
  t.equal(twice.status, 201)
  t.equal(twice.body.status, 'succeeded')
  const otherCard = await h.api('POST', '/payment/confirm', { ...body, paymentMethodId: 'pm_card_mastercard' }, a.token)
  t.equal(otherCard.status, 201, 'confirming a succeeded payment again answers with its state')
  t.equal(prepaid(h, a.userId), 2500, 'still booked once')
  const fetched = await h.api('GET', `/payment/${created.body.id}`, undefined, a.token)
  t.equal(fetched.status, 200)
  t.match(fetched.body, { id: created.body.id, status: 'succeeded', amount: 2500 })
  t.same(h.world.ledger.checkInvariants(), [])
})

onEveryEngine('a declined card books nothing; another card then succeeds', async (t, engine) => {
  const h = await startHarness(t, {}, {}, { database: engine.database(t) })
  const a = await h.register('a@example.org')
  const created = await h.api('POST', '/payment', { cuid: 'cuid-decline-001' }, a.token)
  const declined = await h.api('POST', '/payment/confirm', { cuid: 'cuid-decline-001', paymentId: created.body.id, paymentMethodId: 'pm_card_chargeDeclined' }, a.token)
  t.equal(declined.status, 402)
  t.match(declined.body, { type: 'card_declined', id: String, message: /declined/ })
  t.equal(prepaid(h, a.userId) ?? 0, 0, 'nothing booked')
  t.equal(h.world.ledger.externalBookingByRef(`users:${created.body.id}`), undefined)
  const after = await h.api('GET', `/payment/${created.body.id}`, undefined, a.token)
  t.equal(after.body.status, 'requires_payment_method')

  const funds = await h.api('POST', '/payment/confirm', { cuid: 'cuid-decline-001', paymentId: created.body.id, paymentMethodId: 'pm_card_chargeDeclinedInsufficientFunds' }, a.token)
  t.equal(funds.status, 402)
  t.equal(prepaid(h, a.userId) ?? 0, 0)

  const ok = await h.api('POST', '/payment/confirm', { cuid: 'cuid-decline-001', paymentId: created.body.id, paymentMethodId: 'pm_card_visa' }, a.token)
  t.equal(ok.status, 201)
  t.equal(ok.body.status, 'succeeded')
  t.equal(prepaid(h, a.userId), 2000)
  t.same(h.world.ledger.checkInvariants(), [])
})

onEveryEngine('a user never reads or confirms another user\'s payments', async (t, engine) => {
  const h = await startHarness(t, {}, {}, { database: engine.database(t) })
  const a = await h.register('a@example.org')
  const b = await h.register('b@example.org')
  const pb = await h.api('POST', '/payment', { cuid: 'cuid-of-b-000001' }, b.token)

  const read = await h.api('GET', `/payment/${pb.body.id}`, undefined, a.token)
  t.equal(read.status, 404)
  t.equal(read.body.type, 'payment_not_found')
  const unknown = await h.api('GET', '/payment/pi_doesnotexist000', undefined, a.token)
  t.same([unknown.status, unknown.body.type], [404, 'payment_not_found'], 'another user\'s payment answers like a missing one')
  const confirm = await h.api('POST', '/payment/confirm', { cuid: 'cuid-of-b-000001', paymentId: pb.body.id, paymentMethodId: 'pm_card_visa' }, a.token)
  t.equal(confirm.status, 404)
  t.same((await h.api('GET', '/payment', undefined, a.token)).body, [], 'a lists none of b\'s payments')
  const again = await h.api('POST', '/payment', { cuid: 'cuid-of-b-000001' }, a.token)
  t.not(again.body.id, pb.body.id, 'b\'s cuid gives a its own payment, never b\'s')
  t.equal((h.sim.control.object(pb.body.id) as unknown as { status: string }).status, 'requires_payment_method', 'b\'s intent untouched')
  t.equal(prepaid(h, a.userId) ?? 0, 0)
  t.equal(prepaid(h, b.userId) ?? 0, 0)
})

onEveryEngine('confirm with a cuid of another payment is refused', async (t, engine) => {
  const h = await startHarness(t, {}, {}, { database: engine.database(t) })
  const a = await h.register('a@example.org')
  const p1 = await h.api('POST', '/payment', { cuid: 'cuid-first-00001' }, a.token)
  await h.api('POST', '/payment', { cuid: 'cuid-second-0001' }, a.token)
  const res = await h.api('POST', '/payment/confirm', { cuid: 'cuid-second-0001', paymentId: p1.body.id, paymentMethodId: 'pm_card_visa' }, a.token)
  t.equal(res.status, 409)
  t.equal(res.body.type, 'cuid_mismatch')
  t.equal((h.sim.control.object(p1.body.id) as unknown as { status: string }).status, 'requires_payment_method', 'not confirmed at Stripe')
  t.equal(prepaid(h, a.userId) ?? 0, 0)
})

onEveryEngine('hostile payment bodies get a clear 4xx and change nothing', async (t, engine) => {
  const h = await startHarness(t, {}, {}, { database: engine.database(t) })
  const a = await h.register('a@example.org')
  const bad: Array<[string, unknown, number]> = [
    ['no cuid', {}, 400],
    ['short cuid', { cuid: 'abc' }, 400],
    ['cuid with spaces', { cuid: 'cuid with spaces!' }, 400],
    ['float amount', { cuid: 'cuid-float-00001', amount: 12.5 }, 400],
    ['string amount', { cuid: 'cuid-string-0001', amount: '2000' }, 400],
    ['negative amount', { cuid: 'cuid-negative-01', amount: -100 }, 400],
    ['zero amount', { cuid: 'cuid-zero-000001', amount: 0 }, 400],
    ['huge amount', { cuid: 'cuid-huge-000001', amount: 1e15 }, 400],
    ['below minimum', { cuid: 'cuid-small-00001', amount: 50 }, 422],
    ['above maximum', { cuid: 'cuid-big-0000001', amount: 100_001 }, 422],
    ['extra field', { cuid: 'cuid-extra-00001', userId: 'someone' }, 400],
  ]
  for (const [name, body, status] of bad) {
    const res = await h.api('POST', '/payment', body, a.token)
    t.equal(res.status, status, name)
    t.match(res.body, { type: String, id: String, message: String }, `${name}: error body`)
  }
  const confirmBad: Array<[string, unknown]> = [
    ['no payment method', { cuid: 'cuid-x-00000001', paymentId: 'pi_123' }],
    ['not a payment intent id', { cuid: 'cuid-x-00000001', paymentId: '../../v1/customers', paymentMethodId: 'pm_card_visa' }],
    ['not a payment method id', { cuid: 'cuid-x-00000001', paymentId: 'pi_123', paymentMethodId: 'tok_visa' }],
  ]
  for (const [name, body] of confirmBad) t.equal((await h.api('POST', '/payment/confirm', body, a.token)).status, 400, name)
  t.equal((await h.api('GET', '/payment/..%2F..%2Fv1', undefined, a.token)).status, 400, 'path traversal in the id')
  t.equal(intentCreates(h), 0, 'no intent created')
  t.same((await h.api('GET', '/payment', undefined, a.token)).body, [])
  t.same(h.world.ledger.checkInvariants(), [])
})

onEveryEngine('Stripe answer lost: a clear 502, nothing booked; the same cuid later gives the same single intent', async (t, engine) => {
  // No automatic retries by the package: this is the answer lost for good (or our process dying), not a blip.
  const h = await startHarness(t, {}, { maxNetworkRetries: 0 }, { database: engine.database(t) })
  const a = await h.register('a@example.org')
  await h.api('POST', '/payment', { cuid: 'cuid-first-for-customer' }, a.token)
  // The intent is created at Stripe but the answer never reaches us.
  h.sim.control.failNextRequests(1, { when: 'after' })
  const lost = await h.api('POST', '/payment', { cuid: 'cuid-lost-answer' }, a.token)
  t.equal(lost.status, 502)
  t.equal(lost.body.type, 'payment_provider_error')
  t.equal((await h.api('GET', '/payment', undefined, a.token)).body.length, 1, 'the half-made payment is not listed')

  const retry = await h.api('POST', '/payment', { cuid: 'cuid-lost-answer' }, a.token)
  t.equal(retry.status, 201)
  const creates = h.sim.control.requests().filter((r) => r.path === '/v1/payment_intents' && r.method === 'POST')
  t.same(
    creates.map((r) => r.replayed),
    [false, false, true],
    'the retry replayed the intent made for the lost answer (same Idempotency-Key), none was made twice',
  )
  t.equal((await h.api('GET', '/payment', undefined, a.token)).body.length, 2)

  h.sim.control.failNextRequests(1, { when: 'before' })
  const down = await h.api('POST', '/payment', { cuid: 'cuid-stripe-down' }, a.token)
  t.equal(down.status, 502)
  h.sim.control.failNextRequests(1, { when: 'before' })
  const fetched = await h.api('GET', `/payment/${retry.body.id}`, undefined, a.token)
  t.equal(fetched.status, 200, 'reading a payment still works while Stripe is unreachable')
  t.equal(fetched.body.status, 'requires_payment_method', 'with what we stored')
  t.same(h.world.ledger.checkInvariants(), [])
})

onEveryEngine('a payment confirmed by the client at Stripe (Stripe.js) is booked by GET /payment/{id} or reconcilePending, once', async (t, engine) => {
  const h = await startHarness(t, {}, {}, { database: engine.database(t) })
  const a = await h.register('a@example.org')
  const p1 = await h.api('POST', '/payment', { cuid: 'cuid-client-side1', amount: 1200 }, a.token)
  const p2 = await h.api('POST', '/payment', { cuid: 'cuid-client-side2', amount: 800 }, a.token)
  await h.stripe.paymentIntents.confirm(p1.body.id, { payment_method: 'pm_card_visa' })
  await h.stripe.paymentIntents.confirm(p2.body.id, { payment_method: 'pm_card_visa' })

  const fetched = await h.api('GET', `/payment/${p1.body.id}`, undefined, a.token)
  t.equal(fetched.body.status, 'succeeded')
  t.equal(prepaid(h, a.userId), 1200)

  const pass = await h.payments.reconcilePending()
  t.equal(pass.booked, 1, 'the other one')
  t.equal(prepaid(h, a.userId), 2000)
  const again = await h.payments.reconcilePending()
  t.same(again, { checked: 0, booked: 0 }, 'nothing open any more')
  t.equal((await h.api('GET', `/payment/${p1.body.id}`, undefined, a.token)).body.status, 'succeeded')
  t.equal(prepaid(h, a.userId), 2000)
  t.same(h.world.ledger.checkInvariants(), [])
})
