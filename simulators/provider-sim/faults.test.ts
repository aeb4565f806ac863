// Injected failures: the next requests to a path time out (carried out
// anyway, the answer lost) or answer 500 (before or after carrying out).
import t from 'tap'
import { api, paidPayment, startSim } from './testing/sim-client.js'

t.test('a timeout after the provider accepted a refund: no answer, the refund is there', async (t) => {
  const sim = await startSim(t)
  const payment = await paidPayment(sim, 2000)
  sim.controls.timeoutNext('/v2/refunds', { method: 'POST', hangMs: 600_000 })
  await t.rejects(api(sim, 'POST', '/v2/refunds', { json: { payment, amount: 500 }, signal: AbortSignal.timeout(300) }), 'the client gives up')
  const refunds = (await api(sim, 'GET', `/v2/payments/${payment}/refunds`)).body
  t.match(refunds, [{ amount: 500, status: 'to_refund' }], 'the provider carried the refund out')
  const next = await api(sim, 'POST', '/v2/refunds', { json: { payment, amount: 100 } })
  t.equal(next.status, 200, 'only the next request timed out')
  await sim.controls.endTimeouts()
  t.match(sim.controls.requests().find((r) => r.fault === 'timeout'), { method: 'POST', path: '/v2/refunds', statusCode: 200 })
})

t.test('a timeout before: the request is carried out only when the hang ends', async (t) => {
  const sim = await startSim(t)
  const payment = await paidPayment(sim, 2000)
  sim.controls.timeoutNext('/v2/refunds', { method: 'POST', when: 'before', hangMs: 600_000 })
  await t.rejects(api(sim, 'POST', '/v2/refunds', { json: { payment, amount: 700 }, signal: AbortSignal.timeout(300) }))
  t.same((await api(sim, 'GET', `/v2/payments/${payment}/refunds`)).body, [], 'not yet')
  await sim.controls.endTimeouts()
  t.match((await api(sim, 'GET', `/v2/payments/${payment}/refunds`)).body, [{ amount: 700 }], 'carried out late')
})

t.test('500s: before (nothing happens) or after (carried out, answer lost), for the next N requests', async (t) => {
  const sim = await startSim(t)
  const payment = await paidPayment(sim, 2000)
  sim.controls.failNext('/v2/refunds', { count: 2 })
  for (let i = 0; i < 2; i += 1) {
    const answer = await api(sim, 'POST', '/v2/refunds', { json: { payment, amount: 100 } })
    t.equal(answer.status, 500)
    t.match(answer.body, { error: /injected/ })
  }
  t.equal(sim.state.refunds.size, 0, 'nothing was carried out')
  t.equal((await api(sim, 'POST', '/v2/refunds', { json: { payment, amount: 100 } })).status, 200, 'the third goes through')

  sim.controls.failNext('/v2/refunds', { when: 'after' })
  t.equal((await api(sim, 'POST', '/v2/refunds', { json: { payment, amount: 300 } })).status, 500)
  t.equal(sim.state.refunds.size, 2, 'carried out though the answer was a 500')

  sim.controls.failNext(/^\/v2\/payments\/paym_/, { method: 'GET', statusCode: 503 })
  t.equal((await api(sim, 'GET', `/v2/payments/${payment}`)).status, 503, 'a pattern and a status')
  t.equal((await api(sim, 'GET', `/v2/payments/${payment}`)).status, 200)

  sim.controls.failNext('/v2/payouts', { count: 5 })
  sim.controls.clearFaults()
  t.equal((await api(sim, 'GET', '/v2/payouts')).status, 200, 'cleared')
  t.equal(sim.controls.requests().filter((r) => r.fault === 'error').length, 4)
})

t.test('faults over the control route, which is never itself failed', async (t) => {
  const sim = await startSim(t)
  const payment = await paidPayment(sim, 2000)
  const set = await api(sim, 'POST', '/_control/faults', { json: { kind: 'timeout', path: '/v2/refunds/', method: 'POST', hang_ms: 600_000 } })
  t.equal(set.status, 200)
  await t.rejects(api(sim, 'POST', '/v2/refunds/', { json: { payment, amount: 100 }, signal: AbortSignal.timeout(300) }), 'trailing slash is the same path')
  t.equal(sim.state.refunds.size, 1)
  t.equal((await api(sim, 'POST', '/_control/faults', { json: { kind: 'error', path: '/_control/settle' } })).status, 200)
  t.equal((await api(sim, 'POST', '/_control/settle')).status, 200, 'control routes are not faultable')
  t.equal((await api(sim, 'POST', '/_control/faults', { json: { kind: 'explode', path: '/v2/refunds' } })).status, 400)
  t.equal((await api(sim, 'POST', '/_control/faults', { json: { kind: 'error' } })).status, 400)
  t.equal((await api(sim, 'DELETE', '/_control/faults')).status, 200)
})
