// Checkout Sessions, the hosted page and signed webhooks.
import t from 'tap'
import { ANY_MESSAGE, rawRequest, startSimWithClient } from './testing/sim-client.js'
import { startWebhookReceiver } from './testing/webhook-receiver.js'

const lineItem = (unitAmount: number, name = 'Top-up') => ({ quantity: 1, price_data: { currency: 'eur', unit_amount: unitAmount, product_data: { name } } })

t.test('a session is created in minor units and paid on the hosted page', async (t) => {
  const { stripe, sim } = await startSimWithClient(t)
  const session = await stripe.checkout.sessions.create({
    mode: 'payment',
    client_reference_id: 'topup-1',
    success_url: 'http://127.0.0.1:9/portal/topup?session={CHECKOUT_SESSION_ID}',
    cancel_url: 'http://127.0.0.1:9/portal/topup?canceled=1',
    line_items: [lineItem(1250, '<script>alert(1)</script>')],
    metadata: { reference: 'topup-1' },
    payment_intent_data: { metadata: { reference: 'topup-1' } },
  })
  t.match(session, { object: 'checkout.session', mode: 'payment', status: 'open', payment_status: 'unpaid', amount_total: 1250, currency: 'eur', client_reference_id: 'topup-1', payment_intent: null })
  t.equal(session.url, `${sim.baseUrl}/pay/cs/${session.id}`)

  const page = await rawRequest(sim, 'GET', `/pay/cs/${session.id}`, { apiKey: null })
  t.equal(page.status, 200)
  t.match(page.body, /12\.50 EUR/)
  t.notMatch(page.body, /<script>/, 'nothing of the request is put into the page unescaped')

  const pay = await rawRequest(sim, 'GET', `/pay/cs/${session.id}/pay`, { apiKey: null })
  t.equal(pay.status, 303)
  t.equal(pay.headers.get('location'), `http://127.0.0.1:9/portal/topup?session=${session.id}`)
  const paid = await stripe.checkout.sessions.retrieve(session.id, { expand: ['payment_intent'] })
  t.match(paid, { status: 'complete', payment_status: 'paid', url: null })
  t.match(paid.payment_intent, { object: 'payment_intent', status: 'succeeded', amount_received: 1250, metadata: { reference: 'topup-1' } })
  const again = await rawRequest(sim, 'POST', `/pay/cs/${session.id}/pay`, { apiKey: null })
  t.equal(again.status, 303, 'paying a finished session again only sends the guest back')
  t.equal(sim.control.events('checkout.session.completed').length, 1)
  t.equal(sim.control.events('payment_intent.succeeded').length, 1)
  const missing = await rawRequest(sim, 'GET', '/pay/cs/cs_test_nope', { apiKey: null })
  t.equal(missing.status, 404)
})

t.test('declined, cancelled, delayed and expired sessions', async (t) => {
  let nowMs = Date.parse('2026-07-01T12:00:00Z')
  const { stripe, sim } = await startSimWithClient(t, { clock: () => nowMs })
  const create = () => stripe.checkout.sessions.create({ mode: 'payment', success_url: 'https://shop.example/ok', cancel_url: 'https://shop.example/back', line_items: [lineItem(800)] })

  const declined = await create()
  const page = await rawRequest(sim, 'GET', `/pay/cs/${declined.id}/decline`, { apiKey: null })
  t.equal(page.status, 402)
  t.match(page.body, /declined/)
  const stillOpen = await stripe.checkout.sessions.retrieve(declined.id, { expand: ['payment_intent'] })
  t.match(stillOpen, { status: 'open', payment_status: 'unpaid' })
  t.match(stillOpen.payment_intent, { status: 'requires_payment_method', last_payment_error: { code: 'card_declined' } })
  const cancel = await rawRequest(sim, 'GET', `/pay/cs/${declined.id}/cancel`, { apiKey: null })
  t.equal(cancel.headers.get('location'), 'https://shop.example/back')
  sim.control.completeCheckout(declined.id, 'paid')
  t.equal((await stripe.checkout.sessions.retrieve(declined.id)).payment_status, 'paid', 'the guest may pay after a decline')

  const delayed = await create()
  sim.control.completeCheckout(delayed.id, 'processing')
  t.match(await stripe.checkout.sessions.retrieve(delayed.id), { status: 'complete', payment_status: 'unpaid' })
  sim.control.settleCheckout(delayed.id, 'failed')
  const failed = await stripe.checkout.sessions.retrieve(delayed.id, { expand: ['payment_intent'] })
  t.match(failed, { status: 'complete', payment_status: 'unpaid', payment_intent: { status: 'requires_payment_method' } })
  t.throws(() => sim.control.settleCheckout(delayed.id, 'succeeded'), /no payment waiting/)
  const delayedOk = await create()
  sim.control.completeCheckout(delayedOk.id, 'processing')
  sim.control.settleCheckout(delayedOk.id, 'succeeded')
  t.equal((await stripe.checkout.sessions.retrieve(delayedOk.id)).payment_status, 'paid')
  t.equal(sim.control.events('checkout.session.async_payment_failed').length, 1)
  t.equal(sim.control.events('checkout.session.async_payment_succeeded').length, 1)

  const expired = await stripe.checkout.sessions.expire((await create()).id)
  t.match(expired, { status: 'expired', url: null })
  await t.rejects(stripe.checkout.sessions.expire(expired.id), { message: ANY_MESSAGE, statusCode: 400 })
  t.throws(() => sim.control.completeCheckout(expired.id, 'paid'), /expired/)

  const late = await create()
  nowMs += 24 * 3600 * 1000
  t.equal((await stripe.checkout.sessions.retrieve(late.id)).status, 'expired', 'a session expires after 24 hours')
  const expiredPage = await rawRequest(sim, 'GET', `/pay/cs/${late.id}/pay`, { apiKey: null })
  t.equal(expiredPage.status, 200)
  t.match(expiredPage.body, /expired/)
  t.equal(sim.control.events('checkout.session.expired').length, 2)
})

t.test('bad session parameters are refused', async (t) => {
  const { stripe } = await startSimWithClient(t)
  const base = { mode: 'payment' as const, success_url: 'https://shop.example/ok', line_items: [lineItem(500)] }
  await t.rejects(stripe.checkout.sessions.create({ ...base, line_items: [] }), { statusCode: 400, code: 'parameter_missing' })
  await t.rejects(stripe.checkout.sessions.create({ ...base, line_items: [lineItem(10)] }), { code: 'amount_too_small' })
  await t.rejects(stripe.checkout.sessions.create({ ...base, success_url: 'javascript:alert(1)' }), { statusCode: 400, code: 'url_invalid' })
  await t.rejects(stripe.checkout.sessions.create({ ...base, mode: 'subscription' }), { message: ANY_MESSAGE, statusCode: 400 })
  await t.rejects(stripe.checkout.sessions.create({ ...base, client_reference_id: 'x'.repeat(201) }), { message: ANY_MESSAGE, statusCode: 400 })
  await t.rejects(stripe.checkout.sessions.create({ ...base, line_items: [{ quantity: 1, price_data: { currency: 'eur', unit_amount: 500 } }] } as never), { message: ANY_MESSAGE, 
    statusCode: 400,
    param: 'line_items[0][price_data][product_data]',
  })
  await t.rejects(stripe.checkout.sessions.retrieve('cs_test_missing'), { statusCode: 404, code: 'resource_missing' })
  t.equal((await stripe.checkout.sessions.list()).data.length, 0)
})

t.test('webhooks are signed as Stripe signs them and sent once, twice or not at all', async (t) => {
  const receiver = await startWebhookReceiver(t)
  const { stripe, sim } = await startSimWithClient(t, { webhookUrl: receiver.url, webhookSecret: 'whsec_test_secret' })
  const create = () => stripe.checkout.sessions.create({ mode: 'payment', success_url: 'https://shop.example/ok', line_items: [lineItem(600)] })

  const s1 = await create()
  sim.control.completeCheckout(s1.id, 'paid')
  await sim.control.flushWebhooks()
  const completed = receiver.received.filter((r) => JSON.parse(r.body.toString()).type === 'checkout.session.completed')
  t.equal(completed.length, 1)
  const delivered = completed[0]!
  const event = stripe.webhooks.constructEvent(delivered.body, delivered.headers['stripe-signature'] as string, 'whsec_test_secret')
  t.match(event, { type: 'checkout.session.completed', data: { object: { id: s1.id, object: 'checkout.session', payment_status: 'paid' } } })
  t.throws(() => stripe.webhooks.constructEvent(delivered.body, delivered.headers['stripe-signature'] as string, 'whsec_other'), { message: ANY_MESSAGE, type: 'StripeSignatureVerificationError' })
  t.same(await stripe.events.retrieve(event.id), JSON.parse(delivered.body.toString()), 'the event is also readable through the API')

  sim.control.setWebhookMode('twice')
  const s2 = await create()
  sim.control.completeCheckout(s2.id, 'paid')
  await sim.control.flushWebhooks()
  const forS2 = receiver.received.filter((r) => r.body.includes(s2.id) && JSON.parse(r.body.toString()).type === 'checkout.session.completed')
  t.equal(forS2.length, 2, 'a duplicate delivery')
  t.equal(JSON.parse(forS2[0]!.body.toString()).id, JSON.parse(forS2[1]!.body.toString()).id, 'the same event id both times')

  sim.control.setWebhookMode('none')
  const before = receiver.received.length
  const s3 = await create()
  sim.control.completeCheckout(s3.id, 'paid')
  await sim.control.flushWebhooks()
  t.equal(receiver.received.length, before, 'a lost webhook')
  const lost = sim.control.events('checkout.session.completed').find((e) => e.data.object.id === s3.id)!
  await sim.control.resendEvent(lost.id)
  t.equal(receiver.received.length, before + 1, 'resent on demand')
  t.ok(sim.control.deliveries().every((d) => d.status === 200))
})

t.test('an unreachable webhook endpoint is recorded, not fatal', async (t) => {
  const { stripe, sim } = await startSimWithClient(t, { webhookUrl: 'http://127.0.0.1:9/unreachable' })
  const s = await stripe.checkout.sessions.create({ mode: 'payment', success_url: 'https://shop.example/ok', line_items: [lineItem(600)] })
  sim.control.completeCheckout(s.id, 'paid')
  await sim.control.flushWebhooks()
  const deliveries = sim.control.deliveries()
  t.ok(deliveries.length > 0)
  t.ok(deliveries.every((d) => d.status === 0 && typeof d.error === 'string'))
})
