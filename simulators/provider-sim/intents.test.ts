// Payment intents and the hosted payment page: the guest pays, is declined,
// or goes through a 3-D Secure challenge; paying makes the payment, sets the
// statuses and sends the browser back to return_url.
import t from 'tap'
import { api, startSim } from './testing/sim-client.js'

const RETURN_URL = 'https://festival.example.org/topup/return?checkout=co_1'

async function newIntent(sim: Parameters<typeof api>[0], extra: Record<string, unknown> = {}) {
  const answer = await api(sim, 'POST', '/v2/payment_intents', {
    json: { amount: 2500, currency: 'eur', order_id: 'co_1', return_url: RETURN_URL, description: 'Top-up 25 EUR', ...extra },
  })
  if (answer.status !== 200) throw new Error(`intent not created: ${JSON.stringify(answer.body)}`)
  return answer.body
}

t.test('an intent is created with the seed\'s fields, retrieved and listed by order_id', async (t) => {
  const now = Date.UTC(2026, 7, 1, 12, 0, 0)
  const sim = await startSim(t, { clock: () => now })
  const intent = await newIntent(sim)
  t.same(Object.keys(intent).sort(), [
    'amount', 'capture', 'card', 'created_at', 'currency', 'customer', 'description', 'id', 'metadata', 'methods_allowed', 'order_id', 'payment', 'return_url',
    'sepa', 'status', 'threeds', 'url',
  ])
  t.match(intent, {
    amount: 2500, currency: 'eur', order_id: 'co_1', return_url: RETURN_URL, description: 'Top-up 25 EUR', status: 'require_payment_method',
    payment: null, capture: true, threeds: 'required', methods_allowed: ['card', 'sepa'], created_at: '2026-08-01T12:00:00Z',
  })
  t.equal(intent.url, `${sim.baseUrl}/pay/${intent.id}`)
  t.same((await api(sim, 'GET', `/v2/payment_intents/${intent.id}`)).body, intent)
  await newIntent(sim, { order_id: 'co_2' })
  const listed = await api(sim, 'GET', '/v2/payment_intents?order_id=co_1')
  t.same(listed.body.payment_intents.map((pi: { id: string }) => pi.id), [intent.id])
  t.equal((await api(sim, 'POST', '/v2/payment_intents', { json: { amount: 100, return_url: 'javascript:alert(1)' } })).status, 400)
  t.equal((await api(sim, 'POST', '/v2/payment_intents', { json: { amount: 100, description: 'ab' } })).status, 400, 'description 3..64')
  t.equal((await api(sim, 'POST', '/v2/payment_intents', { json: { amount: 100, order_id: 'x'.repeat(37) } })).status, 400, 'order_id 1..36')
})

t.test('paying on the hosted page makes the payment and redirects to return_url', async (t) => {
  const sim = await startSim(t, { feeBasisPoints: 140, feeFixedCents: 25 })
  const intent = await newIntent(sim)
  const page = await api(sim, 'GET', `/pay/${intent.id}`, { auth: null })
  t.equal(page.status, 200)
  t.match(page.headers.get('content-type'), /text\/html/)
  t.match(page.body, /25\.00 EUR/)
  t.match(page.body, new RegExp(`action="/pay/${intent.id}/pay"`))
  const paid = await api(sim, 'POST', `/pay/${intent.id}/pay`, { auth: null })
  t.equal(paid.status, 303)
  t.equal(paid.headers.get('location'), RETURN_URL)
  const after = (await api(sim, 'GET', `/v2/payment_intents/${intent.id}`)).body
  t.equal(after.status, 'captured')
  t.match(after.payment, /^paym_[a-zA-Z0-9]{24}$/)
  const payment = (await api(sim, 'GET', `/v2/payments/${after.payment}`)).body
  t.match(payment, { amount: 2500, currency: 'eur', order_id: 'co_1', status: 'to_capture', response: '00', method: 'card', capture: true, fee: 60, auth: { status: 'attempted' } })
  t.equal(payment.fee, Math.round((2500 * 140) / 10000) + 25, '1.4 % + 25 cents, integer cents')
  t.match(payment.card, { last4: '4242', brand: 'visa' })
  const again = await api(sim, 'POST', `/pay/${intent.id}/pay`, { auth: null })
  t.equal(again.status, 303, 'paying again only sends the guest back')
  t.equal(sim.state.payments.size, 1, 'no second payment')
  t.same((await api(sim, 'GET', `/v2/payment_intents/${intent.id}/payments`)).body.payments.map((p: { id: string }) => p.id), [after.payment])
  t.same((await api(sim, 'GET', '/v2/payments?order_id=co_1')).body.payments.map((p: { id: string }) => p.id), [after.payment])
  t.same((await api(sim, 'GET', '/v2/payments?order_id=co_9')).body.payments, [])
  t.equal((await api(sim, 'GET', '/pay/pi_AAAAAAAAAAAAAAAAAAAAAAAA', { auth: null })).status, 404)
})

t.test('a declined card refuses the payment and leaves the intent payable', async (t) => {
  const sim = await startSim(t)
  const intent = await newIntent(sim)
  const declined = await api(sim, 'POST', `/pay/${intent.id}/decline`, { auth: null })
  t.equal(declined.status, 402)
  t.match(declined.body, /declined/)
  const after = (await api(sim, 'GET', `/v2/payment_intents/${intent.id}`)).body
  t.equal(after.status, 'require_payment_method')
  const refused = (await api(sim, 'GET', `/v2/payments/${after.payment}`)).body
  t.match(refused, { status: 'refused', response: '05', fee: 0 })
  const paid = await api(sim, 'POST', `/pay/${intent.id}/pay`, { auth: null })
  t.equal(paid.status, 303, 'the guest tries again and pays')
  t.equal((await api(sim, 'GET', `/v2/payment_intents/${intent.id}/payments`)).body.payments.length, 2)
})

t.test('a 3-D Secure challenge: passed pays, failed leaves the intent payable', async (t) => {
  const sim = await startSim(t)
  const intent = await newIntent(sim)
  const toChallenge = await api(sim, 'POST', `/pay/${intent.id}/challenge`, { auth: null })
  t.equal(toChallenge.status, 303)
  t.equal(toChallenge.headers.get('location'), `/pay/${intent.id}/3ds`)
  t.equal((await api(sim, 'GET', `/v2/payment_intents/${intent.id}`)).body.status, 'require_authentication')
  const challenge = await api(sim, 'GET', `/pay/${intent.id}/3ds`, { auth: null })
  t.match(challenge.body, /3-D Secure/)
  t.match(challenge.body, new RegExp(`/pay/${intent.id}/3ds/pass`))
  const failed = await api(sim, 'POST', `/pay/${intent.id}/3ds/fail`, { auth: null })
  t.equal(failed.status, 402)
  const afterFail = (await api(sim, 'GET', `/v2/payment_intents/${intent.id}`)).body
  t.equal(afterFail.status, 'require_payment_method')
  t.match((await api(sim, 'GET', `/v2/payments/${afterFail.payment}`)).body, { status: 'failed', auth: { status: 'failed' } })

  await api(sim, 'POST', `/pay/${intent.id}/challenge`, { auth: null })
  const passed = await api(sim, 'POST', `/pay/${intent.id}/3ds/pass`, { auth: null })
  t.equal(passed.status, 303)
  t.equal(passed.headers.get('location'), RETURN_URL)
  const afterPass = (await api(sim, 'GET', `/v2/payment_intents/${intent.id}`)).body
  t.equal(afterPass.status, 'captured')
  t.match((await api(sim, 'GET', `/v2/payments/${afterPass.payment}`)).body, { status: 'to_capture', auth: { status: 'success' } })
})

t.test('capture: false authorizes until captured; an unpaid intent can be deleted', async (t) => {
  const sim = await startSim(t)
  const intent = await newIntent(sim, { capture: false })
  sim.controls.payIntent(intent.id, 'paid')
  const authorized = (await api(sim, 'GET', `/v2/payment_intents/${intent.id}`)).body
  t.equal(authorized.status, 'authorized')
  t.equal((await api(sim, 'GET', `/v2/payments/${authorized.payment}`)).body.status, 'authorized')
  t.equal((await api(sim, 'DELETE', `/v2/payment_intents/${intent.id}`)).status, 409, 'a paid intent cannot be deleted')
  const captured = await api(sim, 'POST', `/v2/payment_intents/${intent.id}/capture`)
  t.equal(captured.body.status, 'captured')
  t.equal((await api(sim, 'GET', `/v2/payments/${authorized.payment}`)).body.status, 'to_capture')
  t.equal((await api(sim, 'POST', `/v2/payment_intents/${intent.id}/capture`)).status, 409)

  const unpaid = await newIntent(sim)
  const deleted = await api(sim, 'DELETE', `/v2/payment_intents/${unpaid.id}`)
  t.equal(deleted.body.status, 'canceled')
  const page = await api(sim, 'POST', `/pay/${unpaid.id}/pay`, { auth: null })
  t.equal(page.status, 200, 'a canceled intent cannot be paid on the page')
  t.match(page.body, /canceled/)
  t.throws(() => sim.controls.payIntent(unpaid.id, 'paid'), /canceled, it cannot be paid/)
})
