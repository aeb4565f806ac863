// The terminal registry, configuration and connection tokens through real HTTP
// against the Stripe simulator; the registry's whole flow on SQLite and on
// PostgreSQL (one body per engine).
import t, { type Test } from 'tap'
import { silentLogger } from '../ledger/testing/test-helpers.js'
import { TOKEN, registerBarReader, startHarness } from './testing/harness.js'
import { locationsFromLedger } from './types.js'
import { testOnEngines, worldEngines, type WorldEngine } from '../testing/world-engines.js'

const engines = await worldEngines(t)
const onEveryEngine = (name: string, body: (t: Test, engine: WorldEngine) => Promise<void>) => testOnEngines(t, engines, name, body)

const V1 = '/api/stripe/v1'

t.test('every endpoint refuses a missing, unknown or malformed bearer token', async (t) => {
  const h = await startHarness(t)
  const paths = ['configuration/', 'setup_intent/', 'store_payment_method/', 'payment_intent/', 'payment_status/', 'connection_token/', 'register_terminal/', 'terminal_readers/', 'update_terminal/', 'deregister_terminal/']
  for (const path of paths) {
    for (const token of [null, 'not-a-token', '']) {
      const res = await h.call(`${V1}/${path}`, { location: 'bar' }, { token })
      t.equal(res.status, 401, `${path} with ${JSON.stringify(token)}`)
      t.equal(res.body.type, 'unauthorized')
      t.type(res.body.id, 'string')
    }
  }
  const basic = await fetch(`${h.baseUrl}${V1}/configuration/`, { headers: { authorization: `Basic ${Buffer.from(TOKEN.bar).toString('base64')}` } })
  t.equal(basic.status, 401, 'only Bearer')
  t.equal(h.sim.control.requests().length, 0, 'nothing reached Stripe')
})

onEveryEngine('register, list, relabel and deregister a terminal', async (t, engine) => {
  const h = await startHarness(t, { database: engine.database(t) })
  h.sim.control.addRegistrationCode('donkey-gecko-inspired')
  const reg = await h.call(`${V1}/register_terminal/`, { location: 'bar', registration_code: 'donkey-gecko-inspired', label: 'Front Desk' })
  t.equal(reg.status, 204)
  t.equal(reg.body, undefined, 'no content')

  const list = await h.call(`${V1}/terminal_readers/`, { location: 'bar' })
  t.equal(list.status, 200)
  t.equal(list.body.length, 1)
  const [{ terminal_id: id, label }] = list.body
  t.match(id, /^tmr_/)
  t.equal(label, 'Front Desk')
  const reader = h.sim.control.object(id) as unknown as { location: string; label: string }
  t.equal(reader.location, h.store.stripeLocationOf('bar'), 'registered at the Stripe location of the booth')
  t.equal(h.store.terminal(id)?.registered_by, 'kiosk:bar-1')

  t.same((await h.call(`${V1}/terminal_readers/`, { location: 'food' }, { token: TOKEN.operator })).body, [], 'another location has none')

  const upd = await h.call(`${V1}/update_terminal/`, { terminal_id: id, label: 'Bar left' })
  t.equal(upd.status, 204)
  t.same((await h.call(`${V1}/terminal_readers/`, { location: 'bar' })).body, [{ terminal_id: id, label: 'Bar left' }])
  t.equal((h.sim.control.object(id) as unknown as { label: string }).label, 'Bar left', 'label changed at Stripe too')

  const dereg = await h.call(`${V1}/deregister_terminal/`, { terminal_id: id })
  t.equal(dereg.status, 204)
  t.same((await h.call(`${V1}/terminal_readers/`, { location: 'bar' })).body, [])
  t.equal(h.sim.control.object(id), undefined, 'deleted at Stripe')
  const again = await h.call(`${V1}/deregister_terminal/`, { terminal_id: id })
  t.equal(again.status, 422)
  t.equal(again.body.type, 'unknown_terminal')
})

onEveryEngine('a registration code works once, a wrong one is refused and can be retried', async (t, engine) => {
  const h = await startHarness(t, { database: engine.database(t) })
  const first = await h.call(`${V1}/register_terminal/`, { location: 'bar', registration_code: 'simulated-wpe', label: 'One' })
  t.equal(first.status, 204)
  // The simulator would register simulated-wpe again; the registry refuses a code used before.
  const second = await h.call(`${V1}/register_terminal/`, { location: 'bar', registration_code: 'simulated-wpe', label: 'Two' })
  t.equal(second.status, 422)
  t.equal(second.body.type, 'registration_code_used')
  t.equal(h.store.terminalsAt('bar').length, 1, 'no second terminal')
  const readersAtStripe = await h.stripe.terminal.readers.list({ location: h.store.stripeLocationOf('bar')! })
  t.equal(readersAtStripe.data.length, 1, 'and none at Stripe')

  const wrong = await h.call(`${V1}/register_terminal/`, { location: 'bar', registration_code: 'sepia-cerulean-aardvark', label: 'Three' })
  t.equal(wrong.status, 422)
  t.equal(wrong.body.type, 'invalid_registration_code')
  // The code appears on the reader later: a refused attempt did not burn it.
  h.sim.control.addRegistrationCode('sepia-cerulean-aardvark')
  const retried = await h.call(`${V1}/register_terminal/`, { location: 'bar', registration_code: 'sepia-cerulean-aardvark', label: 'Three' })
  t.equal(retried.status, 204)
  t.equal(h.store.terminalsAt('bar').length, 2)
})

t.test('a kiosk manages only the terminals of its own location; an operator any existing one', async (t) => {
  const h = await startHarness(t)
  const barReader = await registerBarReader(h)

  const foreign = await h.call(`${V1}/register_terminal/`, { location: 'bar', registration_code: 'simulated-s700', label: 'x' }, { token: TOKEN.food })
  t.equal(foreign.status, 403)
  t.equal(foreign.body.type, 'other_location')
  t.equal((await h.call(`${V1}/terminal_readers/`, { location: 'bar' }, { token: TOKEN.food })).status, 403)
  const relabel = await h.call(`${V1}/update_terminal/`, { terminal_id: barReader, label: 'hijacked' }, { token: TOKEN.food })
  t.equal(relabel.status, 403)
  const remove = await h.call(`${V1}/deregister_terminal/`, { terminal_id: barReader }, { token: TOKEN.food })
  t.equal(remove.status, 403)
  t.same((await h.call(`${V1}/terminal_readers/`, { location: 'bar' })).body, [{ terminal_id: barReader, label: 'Bar till' }], 'unchanged')
  t.ok(h.sim.control.object(barReader), 'still at Stripe')

  const unknown = await h.call(`${V1}/register_terminal/`, { location: 'nowhere', registration_code: 'simulated-s700', label: 'x' }, { token: TOKEN.operator })
  t.equal(unknown.status, 422)
  t.equal(unknown.body.type, 'unknown_location')
  t.equal((await h.call(`${V1}/terminal_readers/`, { location: 'nowhere' }, { token: TOKEN.operator })).status, 422)

  const byOperator = await h.call(`${V1}/register_terminal/`, { location: 'food', registration_code: 'simulated-s700', label: 'Food till' }, { token: TOKEN.operator })
  t.equal(byOperator.status, 204)
  const food = await h.call(`${V1}/terminal_readers/`, { location: 'food' }, { token: TOKEN.food })
  t.equal(food.body.length, 1)
  t.equal(food.body[0].label, 'Food till')
  t.equal((await h.call(`${V1}/update_terminal/`, { terminal_id: barReader, label: 'By operator' }, { token: TOKEN.operator })).status, 204)
  t.equal((await h.call(`${V1}/update_terminal/`, { terminal_id: 'tmr_doesnotexist', label: 'x' }, { token: TOKEN.operator })).status, 422)
})

t.test('a reader already deleted at Stripe is still deregistered here', async (t) => {
  const h = await startHarness(t)
  const id = await registerBarReader(h)
  await h.stripe.terminal.readers.del(id)
  t.equal((await h.call(`${V1}/deregister_terminal/`, { terminal_id: id })).status, 204)
  t.equal(h.store.terminal(id), undefined)
})

t.test('Stripe failing answers 502 and changes nothing', async (t) => {
  const h = await startHarness(t)
  const id = await registerBarReader(h)
  h.sim.control.failNextRequests(1)
  const res = await h.call(`${V1}/update_terminal/`, { terminal_id: id, label: 'new' })
  t.equal(res.status, 502)
  t.equal(res.body.type, 'provider_error')
  t.equal(h.store.terminal(id)?.label, 'Bar till')
  h.sim.control.failNextRequests(1)
  t.equal((await h.call(`${V1}/deregister_terminal/`, { terminal_id: id })).status, 502)
  t.ok(h.store.terminal(id), 'still registered')
})

t.test('hostile terminal requests get a clear 4xx and change nothing', async (t) => {
  const h = await startHarness(t)
  const id = await registerBarReader(h)
  const requestsBefore = h.sim.control.requests().length
  const cases: Array<[string, unknown]> = [
    ['register_terminal/', {}],
    ['register_terminal/', { location: 'bar', registration_code: 'simulated-wpe' }],
    ['register_terminal/', { location: 'bar', registration_code: 'simulated-wpe', label: '' }],
    ['register_terminal/', { location: 'bar', registration_code: 'simulated-wpe', label: 'x'.repeat(101) }],
    ['register_terminal/', { location: 'bar', registration_code: 'simulated-wpe', label: 'bad\u0000label' }],
    ['register_terminal/', { location: 'bar', registration_code: 'has spaces in it', label: 'x' }],
    ['register_terminal/', { location: 'bar', registration_code: 'simulated-wpe', label: 'x', extra: true }],
    ['register_terminal/', { location: ['bar'], registration_code: 'simulated-wpe', label: 'x' }],
    ['register_terminal/', { location: -1, registration_code: 'simulated-wpe', label: 'x' }],
    ['register_terminal/', { location: 'b'.repeat(10_000), registration_code: 'simulated-wpe', label: 'x' }],
    ['register_terminal/', [1, 2, 3]],
    ['register_terminal/', 'bar'],
    ['terminal_readers/', {}],
    ['terminal_readers/', { location: null }],
    ['terminal_readers/', { location: 1.5 }],
    ['update_terminal/', { terminal_id: id }],
    ['update_terminal/', { terminal_id: id, label: 42 }],
    ['update_terminal/', { terminal_id: '../../etc', label: 'x' }],
    ['deregister_terminal/', { terminal_id: { $ne: null } }],
    ['deregister_terminal/', {}],
  ]
  for (const [path, body] of cases) {
    const res = await h.call(`${V1}/${path}`, body)
    t.equal(res.status, 422, `${path} ${JSON.stringify(body).slice(0, 80)}`)
    t.equal(res.body.type, 'invalid_request')
    t.type(res.body.message, 'string')
  }
  const badJson = await h.call(`${V1}/register_terminal/`, undefined, { rawBody: '{"location": "bar",' })
  t.equal(badJson.status, 422)
  t.type(badJson.body.type, 'string')
  const huge = await h.call(`${V1}/register_terminal/`, undefined, { rawBody: JSON.stringify({ location: 'bar', registration_code: 'simulated-wpe', label: 'x'.repeat(200_000) }) })
  t.equal(huge.status, 413, 'body above the limit')
  const form = await h.call(`${V1}/register_terminal/`, undefined, { rawBody: 'location=bar', contentType: 'application/x-www-form-urlencoded' })
  t.equal(form.status, 415)

  t.equal(h.sim.control.requests().length, requestsBefore, 'nothing reached Stripe')
  t.same(h.store.terminalsAt('bar').map((r) => [r.terminal_id, r.label]), [[id, 'Bar till']], 'registry unchanged')
})

t.test('configuration: publishable key, and the Stripe location of a cart', async (t) => {
  const h = await startHarness(t)
  const get = await h.call(`${V1}/configuration/`, undefined, { method: 'GET' })
  t.equal(get.status, 200)
  t.same(get.body, { stripe_publishable_api_key: h.sim.publishableKey })
  const postEmpty = await h.call(`${V1}/configuration/`)
  t.equal(postEmpty.status, 200, 'the body is optional')
  t.same(postEmpty.body, { stripe_publishable_api_key: h.sim.publishableKey })
  t.equal(h.store.stripeLocationOf('bar'), undefined, 'no cart, no location needed')

  const withCart = await h.call(`${V1}/configuration/`, { cart: 123 })
  t.equal(withCart.status, 200)
  t.match(withCart.body.stripe_location_id, /^tml_/)
  t.equal(withCart.body.stripe_location_id, h.store.stripeLocationOf('bar'))
  const viaQuery = await h.call(`${V1}/configuration/?cart=123`, undefined, { method: 'GET' })
  t.same(viaQuery.body, withCart.body, 'GET with ?cart= answers the same')
  const again = await h.call(`${V1}/configuration/`, { cart: '124' })
  t.equal(again.body.stripe_location_id, withCart.body.stripe_location_id, 'one Stripe location per booth')
  const locations = await h.stripe.terminal.locations.list()
  t.equal(locations.data.length, 1)

  const food = await h.call(`${V1}/configuration/`, { cart: 'x' }, { token: TOKEN.food })
  t.not(food.body.stripe_location_id, withCart.body.stripe_location_id, "the food kiosk's booth has its own")
  const operator = await h.call(`${V1}/configuration/`, { cart: 'unknown' }, { token: TOKEN.operator })
  t.same(operator.body, { stripe_publishable_api_key: h.sim.publishableKey }, 'an operator without such a cart gets no location')

  for (const body of [{ cart: '' }, { cart: null }, { cart: 1.5 }, { cart: 'x', other: 1 }, { cart: 'a'.repeat(65) }]) {
    const res = await h.call(`${V1}/configuration/`, body)
    t.equal(res.status, 422, JSON.stringify(body).slice(0, 40))
  }
  t.equal((await h.call(`${V1}/configuration/?cart=`, undefined, { method: 'GET' })).status, 422)
})

t.test('connection token for the terminal SDK, scoped to the location', async (t) => {
  const h = await startHarness(t)
  const res = await h.call(`${V1}/connection_token/`, { cart: 123 })
  t.equal(res.status, 200)
  t.match(res.body.stripe_connection_token, /^pst_test_/)
  t.same(Object.keys(res.body), ['stripe_connection_token'])
  const sent = h.sim.control.requests().filter((r) => r.path === '/v1/terminal/connection_tokens')
  t.equal(sent.length, 1)
  t.equal((await h.call(`${V1}/connection_token/`, {})).status, 422, 'cart is required')
  t.equal((await h.call(`${V1}/connection_token/`, { cart: true })).status, 422)
  const operator = await h.call(`${V1}/connection_token/`, { cart: 'c1' }, { token: TOKEN.operator })
  t.equal(operator.status, 200, 'an operator gets an unscoped token')
})

t.test('the plugin form mounts with its options, as the gateway mounts plugins', async (t) => {
  const { cardTerminalPlugin } = await import('./plugin.js')
  const { createHttpServer } = await import('../http.js')
  const h = await startHarness(t)
  const http = createHttpServer({
    logger: silentLogger,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => {},
    stats: () => {
      throw new Error('not in this test')
    },
    plugins: [
      {
        plugin: cardTerminalPlugin,
        prefix: '',
        options: {
          store: h.store,
          ledger: h.world.ledger,
          stripe: h.stripe,
          auth: (token: string) => (token === 'op' ? { role: 'operator', id: 'o' } : null),
          locations: locationsFromLedger(h.world.ledger),
          clock: h.world.clock,
          logger: silentLogger,
          currency: 'EUR',
          publishableKey: 'pk_test_x',
          venue: { line1: 'a', city: 'b', postal_code: '1', country: 'DE' },
        },
      },
    ],
  })
  const { port } = await http.listen('127.0.0.1', 0)
  t.teardown(() => http.close())
  const res = await fetch(`http://127.0.0.1:${port}/api/stripe/v1/configuration/`, { headers: { authorization: 'Bearer op' } })
  t.equal(res.status, 200)
  t.same(await res.json(), { stripe_publishable_api_key: 'pk_test_x' })
  const refused = await fetch(`http://127.0.0.1:${port}/api/stripe/v1/configuration/`, { headers: { authorization: 'Bearer nope' } })
  t.equal(refused.status, 401)
  t.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, 'the rest of the gateway is untouched')
})

t.test('terminal_readers lists what Stripe has at the location, with our labels; such readers can be managed here', async (t) => {
  const h = await startHarness(t)
  const ours = await registerBarReader(h, 'Bar till')
  // Paired in Stripe's dashboard, not through us.
  const stripeLocation = h.store.stripeLocationOf('bar')!
  const elsewhere = await h.stripe.terminal.readers.create({ registration_code: 'simulated-wpe', label: 'Dashboard label', location: stripeLocation })
  // Relabelled at Stripe directly: for a reader registered through us, our label is the one shown.
  await h.stripe.terminal.readers.update(ours, { label: 'changed at Stripe' })
  const list = await h.call(`${V1}/terminal_readers/`, { location: 'bar' })
  t.equal(list.status, 200)
  t.same(
    [...list.body].sort((a: { terminal_id: string }, b: { terminal_id: string }) => a.terminal_id.localeCompare(b.terminal_id)),
    [
      { terminal_id: ours, label: 'Bar till' },
      { terminal_id: elsewhere.id, label: 'Dashboard label' },
    ].sort((a, b) => a.terminal_id.localeCompare(b.terminal_id)),
  )
  t.same((await h.call(`${V1}/terminal_readers/`, { location: stripeLocation })).body, list.body, 'the tml_ id names the same location')

  // A reader at a Stripe location of no booth of ours is not this event's.
  const foreignLocation = await h.stripe.terminal.locations.create({ display_name: 'Other shop', address: { line1: 'x', city: 'y', postal_code: '1', country: 'DE' } })
  const foreign = await h.stripe.terminal.readers.create({ registration_code: 'simulated-wpe', label: 'Theirs', location: foreignLocation.id })
  t.equal((await h.call(`${V1}/update_terminal/`, { terminal_id: foreign.id, label: 'x' }, { token: TOKEN.operator })).body.type, 'unknown_terminal')
  t.equal((h.sim.control.object(foreign.id) as unknown as { label: string }).label, 'Theirs', 'untouched')
  t.equal((await h.call(`${V1}/terminal_readers/`, { location: foreignLocation.id }, { token: TOKEN.operator })).status, 422, 'nor is its location')

  t.equal((await h.call(`${V1}/update_terminal/`, { terminal_id: elsewhere.id, label: 'x' }, { token: TOKEN.food })).status, 403, 'another kiosk may not')
  t.equal((await h.call(`${V1}/update_terminal/`, { terminal_id: elsewhere.id, label: 'Bar right' })).status, 204)
  t.equal((h.sim.control.object(elsewhere.id) as unknown as { label: string }).label, 'Bar right')
  t.equal((await h.call(`${V1}/deregister_terminal/`, { terminal_id: elsewhere.id })).status, 204)
  t.same((await h.call(`${V1}/terminal_readers/`, { location: 'bar' })).body, [{ terminal_id: ours, label: 'Bar till' }])

  h.sim.control.failNextRequests(1)
  const failing = await h.call(`${V1}/terminal_readers/`, { location: 'bar' })
  t.equal(failing.status, 502, 'Stripe not answering is no empty list')
  t.same((await h.call(`${V1}/terminal_readers/`, { location: 'food' }, { token: TOKEN.operator })).body, [], 'a booth without a Stripe location has no readers')
})
