// Payouts: "settle now" groups what is settled into a payout with the
// provider's fees, and the payout lists its payments, refunds and disputes.
import t from 'tap'
import { api, paidPayment, startSim } from './testing/sim-client.js'

const ids = (items: Array<{ id: string }>) => items.map((x) => x.id)

t.test('settling pays out payments less refunds and lost disputes, with fees', async (t) => {
  const now = Date.UTC(2026, 7, 3, 18)
  const sim = await startSim(t, { clock: () => now, feeBasisPoints: 100, feeFixedCents: 10, feeVatBasisPoints: 2000 })
  const a = await paidPayment(sim, 5000, 'co_a')
  const b = await paidPayment(sim, 2000, 'co_b')
  const c = await paidPayment(sim, 1000, 'co_c')
  const d = await paidPayment(sim, 800, 'co_d')
  const refund = (await api(sim, 'POST', '/v2/refunds', { json: { payment: a, amount: 1500 } })).body
  const lost = sim.controls.raiseDispute(c)
  sim.controls.resolveDispute(lost.id, 'lost')
  const won = sim.controls.raiseDispute(d)
  sim.controls.resolveDispute(won.id, 'won')
  const intent = await api(sim, 'POST', '/v2/payment_intents', { json: { amount: 999 } })
  sim.controls.payIntent(intent.body.id, 'declined')

  const [payout, more] = sim.controls.settleNow()
  t.equal(more, undefined, 'one currency, one payout')
  if (!payout) throw new Error('no payout')
  t.match(payout.id, /^pout_[a-zA-Z0-9]{24}$/)
  const fetched = (await api(sim, 'GET', `/v2/payouts/${payout.id}`)).body
  t.same(Object.keys(fetched).sort(), ['currency', 'date', 'disputes', 'fees', 'fees_vat', 'id', 'payments', 'refunds', 'status'])
  const fees = [5000, 2000, 1000, 800].reduce((sum, amount) => sum + Math.round(amount / 100) + 10, 0)
  t.same(fetched, {
    id: payout.id,
    currency: 'eur',
    payments: { amount: 8800, count: 4 },
    refunds: { amount: 1500, count: 1 },
    disputes: { amount: 1000, count: 1 },
    fees,
    fees_vat: Math.round(fees * 0.2),
    status: 'paid',
    date: '2026-08-03',
  })

  t.same(ids((await api(sim, 'GET', `/v2/payouts/${payout.id}/payments`)).body.payments), [a, b, c, d])
  t.same(ids((await api(sim, 'GET', `/v2/payouts/${payout.id}/payments?start=1&limit=2`)).body.payments), [b, c])
  t.same(ids((await api(sim, 'GET', `/v2/payouts/${payout.id}/refunds`)).body.refunds), [refund.id])
  t.same(ids((await api(sim, 'GET', `/v2/payouts/${payout.id}/disputes`)).body.disputes), [lost.id], 'a won dispute is not in any payout')
  t.same(ids((await api(sim, 'GET', `/v2/payments?payout=${payout.id}`)).body.payments), [a, b, c, d])
  t.same(ids((await api(sim, 'GET', `/v2/payouts?payment=${b}`)).body.payouts), [payout.id])

  const paymentA = (await api(sim, 'GET', `/v2/payments/${a}`)).body
  t.match(paymentA, { status: 'captured', date_settlement: '2026-08-03', date_bank: '2026-08-03' })
  t.match((await api(sim, 'GET', `/v2/refunds/${refund.id}`)).body, { status: 'refunded', date_refund: '2026-08-03', date_bank: '2026-08-03' })
  t.equal((await api(sim, 'GET', `/v2/disputes/${lost.id}`)).body.date_bank, now / 1000)
  t.equal((await api(sim, 'GET', `/v2/payments/${c}`)).body.status, 'disputed', 'a lost dispute keeps the payment disputed')

  t.same(sim.controls.settleNow(), [], 'nothing left to pay out')
  const later = await api(sim, 'POST', '/v2/refunds', { json: { payment: b, amount: 200 } })
  const viaRoute = await api(sim, 'POST', '/_control/settle', { json: { status: 'pending' } })
  t.equal(viaRoute.body.payouts.length, 1)
  const second = viaRoute.body.payouts[0]
  t.match(second, { payments: { amount: 0, count: 0 }, refunds: { amount: 200, count: 1 }, fees: 0, status: 'pending' })
  t.same(ids((await api(sim, 'GET', `/v2/payouts/${second.id}/refunds`)).body.refunds), [later.body.id])
  t.same(ids((await api(sim, 'GET', '/v2/payouts')).body.payouts), [payout.id, second.id])
  const paidNow = await api(sim, 'POST', `/_control/payouts/${second.id}/status`, { json: { status: 'paid' } })
  t.equal(paidNow.body.status, 'paid')
  t.equal((await api(sim, 'POST', `/_control/payouts/${second.id}/status`, { json: { status: 'lost' } })).status, 400)
})

t.test('payouts: unknown ids are 404, the created filter is a date-time', async (t) => {
  let now = Date.UTC(2026, 7, 3, 18)
  const sim = await startSim(t, { clock: () => now })
  await paidPayment(sim, 100)
  const [first] = sim.controls.settleNow()
  now += 86_400_000
  await paidPayment(sim, 200)
  const [second] = sim.controls.settleNow()
  t.same(ids((await api(sim, 'GET', `/v2/payouts?created=${encodeURIComponent(new Date(now).toISOString())}`)).body.payouts), [second?.id])
  t.not(first?.id, second?.id)
  t.equal((await api(sim, 'GET', '/v2/payouts?created=yesterday')).status, 400)
  for (const path of ['/v2/payouts/pout_AAAAAAAAAAAAAAAAAAAAAAAA', '/v2/payouts/pout_AAAAAAAAAAAAAAAAAAAAAAAA/payments', '/v2/payouts/pout_x/refunds']) {
    t.equal((await api(sim, 'GET', path)).status, 404, path)
  }
})
