// Hostile and broken requests get clear errors in the provider's error body,
// and the simulator keeps answering.
import t from 'tap'
import { api, startSim } from './testing/sim-client.js'

t.test('malformed JSON, wrong content types, huge and odd bodies', async (t) => {
  const sim = await startSim(t, { bodyLimitBytes: 4096 })
  const cases: Array<[string, Parameters<typeof api>[3], number, RegExp]> = [
    ['malformed JSON', { raw: '{"amount": 100,', headers: { 'content-type': 'application/json' } }, 400, /not valid JSON/],
    ['form body', { raw: 'amount=100', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, /application\/json/],
    ['no content type', { raw: '{"amount":100}' }, 415, /application\/json/],
    ['too large', { json: { amount: 100, description: 'x'.repeat(10_000) } }, 413, /too large/],
    ['an array', { json: [1, 2, 3] }, 400, /JSON object/],
    ['a string', { json: 'amount' }, 400, /JSON object/],
    ['__proto__', { raw: '{"amount":100,"__proto__":{"admin":true}}', headers: { 'content-type': 'application/json' } }, 400, /Unknown field: __proto__/],
    ['constructor', { json: { amount: 100, constructor: 1 } }, 400, /Unknown field: constructor/],
    ['metadata is free, amount still checked', { json: { amount: 1e308, metadata: { a: [1, { b: null }] } } }, 400, /amount/],
  ]
  for (const [name, options, status, message] of cases) {
    const answer = await api(sim, 'POST', '/v2/payment_intents', options)
    t.equal(answer.status, status, name)
    t.match(answer.body, { error: message }, name)
  }
  t.equal(sim.state.paymentIntents.size, 0, 'nothing was created')
  t.equal(({} as Record<string, unknown>).admin, undefined, 'no prototype was touched')
  const charset = await api(sim, 'POST', '/v2/payment_intents', { raw: '{"amount":100}', headers: { 'content-type': 'application/json; charset=utf-8' } })
  t.equal(charset.status, 200, 'a charset is fine')
})

t.test('unknown ids, methods and query strings', async (t) => {
  const sim = await startSim(t)
  const long = 'x'.repeat(5000)
  for (const [method, path] of [
    ['GET', '/v2/payments/paym_%00%00'],
    ['PUT', '/v2/customers'],
    ['DELETE', '/v2/refunds/refd_AAAAAAAAAAAAAAAAAAAAAAAA'],
    ['GET', '/v2/../etc/passwd'],
  ] as const) {
    const answer = await api(sim, method, path)
    t.equal(answer.status, 404, `${method} ${path.slice(0, 40)}`)
    t.type(answer.body.error, 'string')
    t.ok(answer.body.error.length < 300, 'the error does not echo a long input in full')
  }
  const tooLong = await api(sim, 'GET', `/v2/payments/${long}`)
  t.equal(tooLong.status, 414)
  t.same(tooLong.body, { error: 'The path is too long' }, 'in the provider\'s error body, not echoed')
  t.equal((await api(sim, 'GET', '/v2/payments?limit=1&limit=2')).status, 400, 'a repeated parameter')
  t.equal((await api(sim, 'GET', '/v2/payments?created=99999999999999999999')).status, 400)
  t.equal((await api(sim, 'GET', '/v2/customers', { headers: { authorization: 'Basic %%%' }, auth: null })).status, 401)
  t.equal((await api(sim, 'GET', '/v2/customers', { headers: { authorization: 'Bearer' }, auth: null })).status, 401)
  t.equal((await api(sim, 'GET', '/v2/customers')).status, 200, 'still answering')
})
