// Refunds: whole or partial, never more than the refundable rest, refused
// refunds give the amount back, and the payment lists its refunds.
import t from 'tap'
import { api, paidPayment, startSim } from './testing/sim-client.js'

t.test('partial refunds up to the payment\'s amount; more is refused with 409', async (t) => {
  const sim = await startSim(t)
  const payment = await paidPayment(sim, 3000)
  const first = await api(sim, 'POST', '/v2/refunds', { json: { payment, amount: 1000 } })
  t.equal(first.status, 200)
  t.same(Object.keys(first.body).sort(), ['amount', 'created', 'currency', 'date_bank', 'date_refund', 'id', 'payment', 'status'])
  t.match(first.body, { amount: 1000, currency: 'eur', payment, status: 'to_refund', date_refund: null, date_bank: null })
  t.match(first.body.id, /^refd_[a-zA-Z0-9]{24}$/)
  const over = await api(sim, 'POST', '/v2/refunds', { json: { payment, amount: 2001 } })
  t.equal(over.status, 409)
  t.match(over.body.error, /refundable rest of the payment \(2000\)/)
  const rest = await api(sim, 'POST', '/v2/refunds', { json: { payment } })
  t.match(rest.body, { amount: 2000, status: 'to_refund' }, 'without an amount: the whole rest')
  const nothingLeft = await api(sim, 'POST', '/v2/refunds', { json: { payment } })
  t.equal(nothingLeft.status, 409)
  t.equal((await api(sim, 'POST', '/v2/refunds', { json: { payment, amount: 1 } })).status, 409)
  t.same((await api(sim, 'GET', `/v2/refunds/${first.body.id}`)).body, first.body)
  const listed = await api(sim, 'GET', '/v2/refunds')
  t.same(listed.body.refunds.map((r: { id: string }) => r.id), [first.body.id, rest.body.id])
  t.equal(listed.body.range.has_more, false)
  const ofPayment = await api(sim, 'GET', `/v2/payments/${payment}/refunds`)
  t.same(ofPayment.body.map((r: { amount: number }) => r.amount), [1000, 2000], 'a plain array, as the seed shows')
})

t.test('bad refund requests: unknown payment, bad amounts, a payment that was not paid', async (t) => {
  const sim = await startSim(t)
  const payment = await paidPayment(sim, 500)
  t.equal((await api(sim, 'POST', '/v2/refunds', { json: { amount: 100 } })).status, 400, 'payment is required')
  t.equal((await api(sim, 'POST', '/v2/refunds', { json: { payment: 'paym_AAAAAAAAAAAAAAAAAAAAAAAA', amount: 100 } })).status, 404)
  t.equal((await api(sim, 'POST', '/v2/refunds', { json: { payment: 'pi_AAAAAAAAAAAAAAAAAAAAAAAA', amount: 100 } })).status, 400)
  for (const amount of [0, -5, 1.5, '100', 4294967296]) {
    t.equal((await api(sim, 'POST', '/v2/refunds', { json: { payment, amount } })).status, 400, `amount ${JSON.stringify(amount)}`)
  }
  const intent = await api(sim, 'POST', '/v2/payment_intents', { json: { amount: 700 } })
  const refused = sim.controls.payIntent(intent.body.id, 'declined').payment as string
  const onRefused = await api(sim, 'POST', '/v2/refunds', { json: { payment: refused, amount: 100 } })
  t.equal(onRefused.status, 409)
  t.match(onRefused.body.error, /refused/)
  t.equal(sim.state.refunds.size, 0)
})

t.test('a refund the card network refuses is not_honored and gives the amount back', async (t) => {
  const sim = await startSim(t)
  const payment = await paidPayment(sim, 1000)
  sim.controls.refuseNextRefunds(1)
  const refused = await api(sim, 'POST', '/v2/refunds', { json: { payment, amount: 1000 } })
  t.equal(refused.status, 200)
  t.equal(refused.body.status, 'not_honored')
  const retried = await api(sim, 'POST', '/v2/refunds', { json: { payment, amount: 1000 } })
  t.equal(retried.body.status, 'to_refund', 'the whole amount is refundable again')
  const viaControlRoute = await api(sim, 'POST', '/_control/refunds', { json: { refuse_next: 1 } })
  t.equal(viaControlRoute.status, 200)
  const second = await paidPayment(sim, 200, 'order-2')
  t.equal((await api(sim, 'POST', '/v2/refunds', { json: { payment: second } })).body.status, 'not_honored')
})
