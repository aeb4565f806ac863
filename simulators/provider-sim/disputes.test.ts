// Disputes: raised on a paid payment by a control (as the card network
// would), listed and retrieved through the API, resolved won or lost.
import t from 'tap'
import { api, paidPayment, startSim } from './testing/sim-client.js'

t.test('a dispute is raised on a payment, listed, retrieved, and resolved', async (t) => {
  const sim = await startSim(t)
  const payment = await paidPayment(sim, 4000, 'co_77')
  const dispute = sim.controls.raiseDispute(payment, { amount: 2500 })
  t.match(dispute.id, /^dspt_[a-zA-Z0-9]{24}$/)
  const fetched = (await api(sim, 'GET', `/v2/disputes/${dispute.id}`)).body
  t.same(Object.keys(fetched).sort(), ['amount', 'created', 'currency', 'date_bank', 'id', 'order_id', 'payment', 'response', 'status', 'type'])
  t.match(fetched, { amount: 2500, currency: 'eur', order_id: 'co_77', payment, response: '4837', type: 'chargeback', status: 'open', date_bank: null })
  t.equal((await api(sim, 'GET', `/v2/payments/${payment}`)).body.status, 'disputed')
  t.same((await api(sim, 'GET', '/v2/disputes')).body.disputes.map((d: { id: string }) => d.id), [dispute.id])
  t.same((await api(sim, 'GET', `/v2/payments/${payment}/disputes`)).body.map((d: { id: string }) => d.id), [dispute.id])
  t.throws(() => sim.controls.raiseDispute(payment), /disputed, it cannot be disputed/, 'one open dispute per payment')

  const won = sim.controls.resolveDispute(dispute.id, 'won')
  t.equal(won.status, 'won')
  t.equal((await api(sim, 'GET', `/v2/payments/${payment}`)).body.status, 'to_capture', 'a won dispute gives the payment back')
  t.throws(() => sim.controls.resolveDispute(dispute.id, 'lost'), /won already/)

  const other = await paidPayment(sim, 1000, 'co_78')
  const viaRoute = await api(sim, 'POST', `/_control/payments/${other}/dispute`, { json: {} })
  t.equal(viaRoute.status, 200)
  t.equal(viaRoute.body.amount, 1000, 'the whole payment by default')
  const lost = await api(sim, 'POST', `/_control/disputes/${viaRoute.body.id}/resolve`, { json: { outcome: 'lost' } })
  t.equal(lost.body.status, 'lost')
  t.equal((await api(sim, 'GET', `/v2/payments/${other}`)).body.status, 'disputed')
  t.equal((await api(sim, 'GET', '/v2/disputes/dspt_AAAAAAAAAAAAAAAAAAAAAAAA')).status, 404)
  t.equal((await api(sim, 'POST', '/_control/disputes/dspt_AAAAAAAAAAAAAAAAAAAAAAAA/resolve', { json: { outcome: 'won' } })).status, 404)
  t.equal((await api(sim, 'POST', `/_control/payments/${other}/dispute`, { json: { amount: 99999 } })).status, 409, 'already disputed')
})

t.test('disputes list by created, and only paid payments can be disputed', async (t) => {
  let now = Date.UTC(2026, 7, 1)
  const sim = await startSim(t, { clock: () => now })
  const early = sim.controls.raiseDispute(await paidPayment(sim, 100))
  now += 3600_000
  const late = sim.controls.raiseDispute(await paidPayment(sim, 200))
  t.same((await api(sim, 'GET', `/v2/disputes?created=${now / 1000}`)).body.disputes.map((d: { id: string }) => d.id), [late.id])
  t.not(early.id, late.id)
  const intent = await api(sim, 'POST', '/v2/payment_intents', { json: { amount: 700 } })
  const refused = sim.controls.payIntent(intent.body.id, 'declined').payment as string
  t.throws(() => sim.controls.raiseDispute(refused), /refused/)
  const small = await paidPayment(sim, 300)
  t.throws(() => sim.controls.raiseDispute(small, { amount: 301 }), /amount/)
})
