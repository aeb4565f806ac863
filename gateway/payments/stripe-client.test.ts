import t from 'tap'
import { createStripeClient } from './stripe-client.js'
import { startStripeSim } from '../../simulators/stripe-sim/index.js'

t.test('the client talks to the base URL it is given', async (t) => {
  const sim = await startStripeSim({ apiKey: 'sk_test_client_check' })
  t.teardown(() => sim.close())
  const stripe = createStripeClient({ apiKey: 'sk_test_client_check', baseUrl: sim.baseUrl, maxNetworkRetries: 0 })
  const customer = await stripe.customers.create({ email: 'c@example.org' }, { idempotencyKey: 'cus-1' })
  t.match(customer.id, /^cus_/)
  t.same(sim.control.requests().map((r) => [r.method, r.path, r.idempotencyKey]), [['POST', '/v1/customers', 'cus-1']])
  const auto = await stripe.customers.create({})
  t.ok(auto.id)
  t.match(sim.control.requests()[1]?.idempotencyKey, /^stripe-node-retry-/, 'the package keys every POST by itself too')
})

t.test('bad options are refused', async (t) => {
  t.throws(() => createStripeClient({ apiKey: 'pk_test_publishable' }), /secret key/)
  t.throws(() => createStripeClient({ apiKey: '' }), /secret key/)
  t.throws(() => createStripeClient({ apiKey: 'sk_test_x', baseUrl: 'ftp://127.0.0.1' }), /http/)
  t.throws(() => createStripeClient({ apiKey: 'sk_test_x', baseUrl: 'http://127.0.0.1:1/prefix' }), /bare origin/)
  t.throws(() => createStripeClient({ apiKey: 'sk_test_x', baseUrl: 'not a url' }))
  t.ok(createStripeClient({ apiKey: 'sk_live_abc' }), 'the real API by default')
})
