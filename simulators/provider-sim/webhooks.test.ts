// Webhooks: every status an object takes is POSTed (unsigned JSON) to the
// configured URL; the next events can arrive twice or never.
import t from 'tap'
import { api, paidPayment, startSim, startWebhookReceiver } from './testing/sim-client.js'

t.test('events are POSTed as {id, type, created, data} without a signature', async (t) => {
  const receiver = await startWebhookReceiver(t)
  const now = Date.UTC(2026, 7, 1, 10)
  const sim = await startSim(t, { webhookUrl: receiver.url, clock: () => now })
  const payment = await paidPayment(sim, 1200, 'co_9')
  const refund = (await api(sim, 'POST', '/v2/refunds', { json: { payment, amount: 200 } })).body
  await sim.controls.flushWebhooks()
  t.same(receiver.received.map((w) => w.body.type), ['payment.to_capture', 'payment_intent.captured', 'refund.to_refund'])
  const [first] = receiver.received
  t.match(first?.headers['content-type'], /application\/json/)
  t.equal(first?.headers['x-signature'], undefined)
  t.same(Object.keys(first?.body ?? {}).sort(), ['created', 'data', 'id', 'type'])
  t.match(first?.body, { id: /^evnt_[a-zA-Z0-9]{24}$/, created: now / 1000, data: { id: payment, amount: 1200, order_id: 'co_9', status: 'to_capture' } })
  t.match(receiver.received[2]?.body.data, { id: refund.id, status: 'to_refund' })
  sim.controls.settleNow()
  await sim.controls.flushWebhooks()
  t.same(receiver.received.slice(3).map((w) => w.body.type), ['payment.captured', 'refund.refunded', 'payout.paid'])
  t.ok(sim.controls.deliveries().every((d) => d.status === 200))
})

t.test('the next event can arrive twice or never; a lost one can be resent', async (t) => {
  const receiver = await startWebhookReceiver(t)
  const sim = await startSim(t, { webhookUrl: receiver.url })
  const payment = await paidPayment(sim, 1000)
  await sim.controls.flushWebhooks()
  receiver.received.length = 0

  sim.controls.setWebhookMode('twice', 1)
  await api(sim, 'POST', '/v2/refunds', { json: { payment, amount: 100 } })
  await api(sim, 'POST', '/v2/refunds', { json: { payment, amount: 100 } })
  await sim.controls.flushWebhooks()
  const ids = receiver.received.map((w) => w.body.id)
  t.equal(ids.length, 3, 'the first refund\'s event twice, the second\'s once')
  t.equal(ids[0], ids[1], 'a duplicate carries the same event id')
  t.not(ids[1], ids[2])

  receiver.received.length = 0
  const viaRoute = await api(sim, 'POST', '/_control/webhooks', { json: { mode: 'none', count: 1 } })
  t.equal(viaRoute.status, 200)
  const lost = (await api(sim, 'POST', '/v2/refunds', { json: { payment, amount: 100 } })).body
  await api(sim, 'POST', '/v2/refunds', { json: { payment, amount: 100 } })
  await sim.controls.flushWebhooks()
  t.equal(receiver.received.length, 1, 'the first event never came')
  const lostEvent = sim.controls.events('refund.to_refund').find((e) => (e.data as { id: string }).id === lost.id)
  t.ok(lostEvent, 'it is recorded all the same')
  await sim.controls.resendEvent(lostEvent?.id ?? '')
  t.equal(receiver.received.at(-1)?.body.id, lostEvent?.id)

  sim.controls.setWebhookMode('none')
  sim.controls.settleNow()
  await sim.controls.flushWebhooks()
  t.equal(receiver.received.length, 2, 'none without a count: until changed')
})

t.test('an unreachable endpoint is recorded as a failed delivery, and the simulator goes on', async (t) => {
  const sim = await startSim(t, { webhookUrl: 'http://127.0.0.1:1/unreachable' })
  await paidPayment(sim, 100)
  await sim.controls.flushWebhooks()
  t.ok(sim.controls.deliveries().length > 0)
  t.ok(sim.controls.deliveries().every((d) => d.status === 0 && typeof d.error === 'string'))
  t.equal((await api(sim, 'GET', '/v2/payments')).status, 200)
})
