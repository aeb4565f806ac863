// The simulator's cross-cutting behaviour: ids, authentication, list
// pagination, error answers, and customers as the simplest resource.
import t from 'tap'
import { createProviderSim } from './server.js'
import { api, startSim, TEST_SECRET_KEY } from './testing/sim-client.js'

t.test('ids carry the seed\'s prefixes and 24 letters or digits, the same on every run with a seed', async (t) => {
  const first = await startSim(t, { seed: 'fixed' })
  const second = await startSim(t, { seed: 'fixed' })
  const other = await startSim(t, { seed: 'other' })
  const ids = []
  for (const sim of [first, second, other]) {
    const customer = await api(sim, 'POST', '/v2/customers', { json: { email: 'a@example.org' } })
    const intent = await api(sim, 'POST', '/v2/payment_intents', { json: { amount: 1000 } })
    t.match(customer.body.id, /^cust_[a-zA-Z0-9]{24}$/)
    t.match(intent.body.id, /^pi_[a-zA-Z0-9]{24}$/)
    ids.push([customer.body.id, intent.body.id])
  }
  t.same(ids[0], ids[1], 'same seed, same ids')
  t.not(ids[0]?.[0], ids[2]?.[0], 'another seed, other ids')
  t.not(ids[0]?.[0].slice(5), ids[0]?.[1].slice(3), 'each id is new')
})

t.test('the secret key is accepted as Basic user or Bearer token; anything else is 401', async (t) => {
  const sim = await startSim(t)
  t.equal((await api(sim, 'GET', '/v2/customers', { auth: TEST_SECRET_KEY })).status, 200, 'Bearer')
  t.equal((await api(sim, 'GET', '/v2/customers', { auth: { basic: TEST_SECRET_KEY } })).status, 200, 'Basic, key as user')
  const missing = await api(sim, 'GET', '/v2/customers', { auth: null })
  t.equal(missing.status, 401)
  t.match(missing.body, { error: /secret key/ })
  t.match(missing.headers.get('www-authenticate'), /Basic/)
  const wrong = await api(sim, 'GET', '/v2/customers', { auth: 'stest_not_the_key_at_all' })
  t.equal(wrong.status, 401)
  t.notMatch(JSON.stringify(wrong.body), /not_the_key/, 'the presented key is not echoed')
  t.equal((await api(sim, 'GET', '/v2/customers', { auth: { basic: 'stest_not_the_key_at_all' } })).status, 401)
  t.equal((await api(sim, 'POST', '/v2/payment_intents', { auth: null, json: { amount: 100 } })).status, 401)
  t.equal(sim.state.paymentIntents.size, 0, 'refused before anything was created')
  t.equal((await api(sim, 'POST', '/_control/settle', { auth: null })).status, 401, 'the control routes need the key too')
  t.throws(() => createProviderSim({ secretKey: 'short' }), /secretKey/)
})

t.test('lists page with start and limit and say so in range, oldest first', async (t) => {
  const sim = await startSim(t)
  const ids: string[] = []
  for (let i = 0; i < 12; i += 1) ids.push((await api(sim, 'POST', '/v2/customers', { json: { name: `Guest ${i}` } })).body.id)
  const first = await api(sim, 'GET', '/v2/customers')
  t.same(first.body.range, { start: 0, end: 9, limit: 10, has_more: true }, 'default limit 10')
  t.same(first.body.customers.map((c: { id: string }) => c.id), ids.slice(0, 10))
  const second = await api(sim, 'GET', '/v2/customers?start=10&limit=5')
  t.same(second.body.range, { start: 10, end: 11, limit: 5, has_more: false })
  t.same(second.body.customers.map((c: { id: string }) => c.id), ids.slice(10))
  const beyond = await api(sim, 'GET', '/v2/customers?start=50')
  t.same(beyond.body.customers, [])
  t.equal(beyond.body.range.has_more, false)
  for (const bad of ['limit=0', 'limit=101', 'start=-1', 'limit=ten', 'start=1.5']) {
    const answer = await api(sim, 'GET', `/v2/customers?${bad}`)
    t.equal(answer.status, 400, bad)
    t.type(answer.body.error, 'string')
  }
  t.equal((await api(sim, 'GET', '/v2/customers?colour=blue')).status, 400, 'unknown query parameter')
  const byName = await api(sim, 'GET', '/v2/customers?name=Guest%203')
  t.same(byName.body.customers.map((c: { id: string }) => c.id), [ids[3]])
})

t.test('customers: create, retrieve, update, delete; unique external_id', async (t) => {
  let now = Date.UTC(2026, 7, 1, 12)
  const sim = await startSim(t, { clock: () => now })
  const created = await api(sim, 'POST', '/v2/customers', {
    json: { email: 'guest@example.org', name: 'Arthur Martin', mobile: '+33100000000', date_birth: '1953-01-19', country: 'FR', external_id: 'user-42', legal_id: 'X1' },
  })
  t.equal(created.status, 200)
  t.same(Object.keys(created.body).sort(), ['country', 'created', 'date_birth', 'deleted', 'email', 'external_id', 'id', 'legal_id', 'mobile', 'name'])
  t.match(created.body, { email: 'guest@example.org', name: 'Arthur Martin', external_id: 'user-42', created: now / 1000, deleted: false })
  t.same((await api(sim, 'GET', `/v2/customers/${created.body.id}`)).body, created.body)
  const dup = await api(sim, 'POST', '/v2/customers', { json: { external_id: 'user-42' } })
  t.equal(dup.status, 409, 'external_id is unique')
  const updated = await api(sim, 'PATCH', `/v2/customers/${created.body.id}`, { json: { name: 'A. Martin' } })
  t.equal(updated.body.name, 'A. Martin')
  now += 60_000
  await api(sim, 'POST', '/v2/customers', { json: { name: 'Later' } })
  const since = await api(sim, 'GET', `/v2/customers?created=${now / 1000}`)
  t.same(since.body.customers.map((c: { name: string }) => c.name), ['Later'], 'created: at or after')
  const deleted = await api(sim, 'DELETE', `/v2/customers/${created.body.id}`)
  t.equal(deleted.body.deleted, true)
  t.equal((await api(sim, 'GET', '/v2/customers')).body.customers.length, 1, 'a deleted customer is no longer listed')
  t.equal((await api(sim, 'POST', '/v2/customers', { json: { email: 'not-an-email' } })).status, 400)
  t.equal((await api(sim, 'POST', '/v2/customers', { json: { country: 'FRA' } })).status, 400)
})

t.test('errors: 404 for unknown and malformed ids and paths, 400 for missing, unknown or wrong fields', async (t) => {
  const sim = await startSim(t)
  const unknown = await api(sim, 'GET', '/v2/customers/cust_AAAAAAAAAAAAAAAAAAAAAAAA')
  t.equal(unknown.status, 404)
  t.same(Object.keys(unknown.body), ['error'], 'the seed\'s error body: {error: string}')
  t.match(unknown.body.error, /No such customer/)
  for (const path of ['/v2/customers/cust_short', '/v2/payment_intents/cust_AAAAAAAAAAAAAAAAAAAAAAAA', '/v2/refunds/refd_AAAAAAAAAAAAAAAAAAAAAAA!', '/v2/payouts/nope', '/v2/nothing']) {
    t.equal((await api(sim, 'GET', path)).status, 404, path)
  }
  const missing = await api(sim, 'POST', '/v2/payment_intents', { json: { currency: 'eur' } })
  t.equal(missing.status, 400)
  t.match(missing.body.error, /Missing field: amount/)
  const unknownField = await api(sim, 'POST', '/v2/payment_intents', { json: { amount: 100, amonut: 100 } })
  t.equal(unknownField.status, 400)
  t.match(unknownField.body.error, /Unknown field: amonut/)
  for (const amount of [-1, 4294967296, 10.5, '1000', true]) {
    const answer = await api(sim, 'POST', '/v2/payment_intents', { json: { amount } })
    t.equal(answer.status, 400, `amount ${JSON.stringify(amount)}`)
    t.match(answer.body.error, /amount must be/)
  }
  t.equal((await api(sim, 'POST', '/v2/payment_intents', { json: { amount: 4294967295 } })).status, 200, 'the largest amount')
  t.equal((await api(sim, 'POST', '/v2/payment_intents', { json: { amount: 100, currency: 'xxx' } })).status, 400)
  t.equal((await api(sim, 'POST', '/v2/payment_intents', { json: { amount: 100, customer: 'cust_AAAAAAAAAAAAAAAAAAAAAAAA' } })).status, 404, 'an unknown customer')
  t.equal((await api(sim, 'POST', '/v2/payment_intents', { json: { amount: 100, customer: 'nobody' } })).status, 400, 'not a customer id')
})
