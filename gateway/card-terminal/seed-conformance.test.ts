// The card-terminal document (seeds/card-terminal-payments-api.txt) replayed as
// its clients send it: for every endpoint, each of its code samples' requests
// with their headers and bodies as written (curl and Python: Content-Type
// application/json and no body; JavaScript and Go: the example body; PHP: the
// body `[]`; Java: no headers at all), checked against the documented answer.
// Ids are adapted only where the document's cannot exist in our data (its
// location "123", user "123", terminal "tmr_123"); each adapted request is
// named. Every status seen must be listed for its operation in /docs/json,
// and every operation carries its bearer security there. The replay runs on
// SQLite and on PostgreSQL.
import t, { type Test } from 'tap'
import { testSetup } from '../ledger/testing/test-helpers.js'
import { TOKEN, UID, startHarness, type Harness } from './testing/harness.js'
import { testOnEngines, worldEngines, type WorldEngine } from '../testing/world-engines.js'

const engines = await worldEngines(t)
const onEveryEngine = (name: string, body: (t: Test, engine: WorldEngine) => Promise<void>) => testOnEngines(t, engines, name, body)

const V1 = '/api/stripe/v1'
/** A wristband whose UID is all decimal digits, so the document's numeric `user` (234510) can name one: 23451000. */
const NUMERIC_UID = '23451000'

interface Sent {
  method: string
  path: string
  status: number
  body: any
}

/** Requests exactly as given: no header or body is added. */
function client(h: Harness, seen: Sent[]) {
  return async (path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Sent> => {
    const method = init.method ?? 'POST'
    const res = await fetch(h.baseUrl + path, { method, headers: init.headers ?? {}, ...(init.body !== undefined ? { body: init.body } : {}) })
    const text = await res.text()
    let body: unknown = text
    try {
      body = text === '' ? undefined : JSON.parse(text)
    } catch {
      // not JSON: the text stays
    }
    const sent = { method, path: path.split('?')[0]!, status: res.status, body }
    seen.push(sent)
    return sent
  }
}

/** The sample's headers: curl, Python, PHP, JavaScript and Go send these (register/update/deregister have no Accept). */
const withAccept = { 'Content-Type': 'application/json', Accept: 'application/json', Authorization: `Bearer ${TOKEN.bar}` }
const withoutAccept = { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN.bar}` }

onEveryEngine('every example request of the card-terminal document gets the documented answer', async (t, engine) => {
  const h = await startHarness(t, { database: engine.database(t), docs: true })
  // The document's numeric user id needs a wristband whose UID reads as that number.
  const setup = testSetup({ 'bar-1': h.world.kiosks.bar.keys, 'cash-1': h.world.kiosks.cash.keys, 'food-1': h.world.kiosks.food.keys })
  h.world.ledger.registry.importEventSetup({ ...setup, wristbands: [...setup.wristbands, { uid: NUMERIC_UID, pin: 'NUMR2345AB' }] })
  const seen: Sent[] = []
  const send = client(h, seen)
  const pk = h.sim.publishableKey

  // The samples each endpoint has, apart from the JavaScript/Go body: with no body, with PHP's `[]`, and Java's bare POST.
  async function bodyless(path: string, headers: Record<string, string>) {
    return {
      curl: await send(path, { headers }),
      php: await send(path, { headers, body: '[]' }),
      java: await send(path),
    }
  }

  await t.test('configuration', async (t) => {
    const path = `${V1}/configuration/`
    const { curl, php, java } = await bodyless(path, withAccept)
    t.equal(curl.status, 200, 'curl/Python: Content-Type json and no body (the body is optional)')
    t.same(curl.body, { stripe_publishable_api_key: pk })
    t.same(php.body, curl.body, 'PHP: []')
    t.equal(java.status, 401, 'Java: no Authorization header')
    const js = await send(path, { headers: withAccept, body: '{\n  "cart": 123\n}' })
    t.equal(js.status, 200)
    t.same(Object.keys(js.body).sort(), ['stripe_location_id', 'stripe_publishable_api_key'])
    t.equal(js.body.stripe_publishable_api_key, pk)
    t.match(js.body.stripe_location_id, /^tml_/, 'the Stripe location of the kiosk booth')
    const get = await send(path, { method: 'GET', headers: { Accept: 'application/json', Authorization: `Bearer ${TOKEN.bar}` } })
    t.same(get.body, curl.body, '"Accepts both GET and POST requests"')
  })
  const stripeLocation = h.store.stripeLocationOf('bar')!

  await t.test('setup_intent', async (t) => {
    const path = `${V1}/setup_intent/`
    const { curl, php, java } = await bodyless(path, withAccept)
    t.equal(curl.status, 422, 'no body: user is required')
    t.equal(php.status, 422)
    t.equal(java.status, 401)
    const example = await send(path, { headers: withAccept, body: '{\n  "user": "123",\n  "colletion_method": "terminal"\n}' })
    t.equal(example.status, 422, 'user "123" is no wristband of this event')
    t.equal(example.body.type, 'unknown_user', 'refused for what it names, not for its type')
    const adapted = await send(path, { headers: withAccept, body: JSON.stringify({ user: UID.alice, colletion_method: 'terminal' }) })
    t.equal(adapted.status, 200, 'adapted: user is a wristband UID')
    t.same(Object.keys(adapted.body).sort(), ['client_secret', 'stripe_publishable_api_key', 'stripe_setup_intent_id'])
    t.match(adapted.body, { stripe_setup_intent_id: /^seti_/, stripe_publishable_api_key: pk, client_secret: /^seti_.*_secret_/ })
  })

  await t.test('store_payment_method', async (t) => {
    const path = `${V1}/store_payment_method/`
    const { curl, php, java } = await bodyless(path, withAccept)
    t.equal(curl.status, 422)
    t.equal(php.status, 422)
    t.equal(java.status, 401)
    const verbatim = '{\n  "name": "Jane Doe",\n  "partner": 72341,\n  "payment_method": "pm_1L2PfRI1kLQM3y1JNVjc7KLL",\n  "postal_code": 33213,\n  "user": 234510\n}'
    const example = await send(path, { headers: withAccept, body: verbatim })
    t.equal(example.status, 422, 'user 234510 is no wristband of this event')
    t.equal(example.body.type, 'unknown_user')
    const pm = await h.stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_visa' } } as never)
    const adaptedBody = verbatim.replace('234510', NUMERIC_UID).replace('pm_1L2PfRI1kLQM3y1JNVjc7KLL', pm.id)
    const adapted = await send(path, { headers: withAccept, body: adaptedBody })
    t.equal(adapted.status, 200, 'adapted: a numeric user naming a wristband, and a payment method that exists')
    t.same(adapted.body, { payment_method: pm.id, bankcard: adapted.body.bankcard })
    t.match(adapted.body.bankcard, /^[0-9]+$/)
    t.equal((await h.stripe.paymentMethods.retrieve(pm.id)).billing_details.address?.postal_code, '33213')
  })

  await t.test('payment_intent', async (t) => {
    const path = `${V1}/payment_intent/`
    const { curl, php, java } = await bodyless(path, withAccept)
    t.equal(curl.status, 422)
    t.equal(php.status, 422)
    t.equal(java.status, 401)
    const example = { cart: '123', amount: '56.78', account_balance_payment_amount: '12.34', payment_type: 'card' }
    const verbatim = await send(path, { headers: withAccept, body: JSON.stringify(example, null, 2) })
    t.equal(verbatim.status, 422, 'a balance part needs the wristband: the document names none (README: deliberate difference)')
    t.equal(verbatim.body.type, 'user_required')
    t.match(verbatim.body.message, /`user`/)
    t.equal(h.balance(`customer:${UID.alice}`), 5000, 'nothing taken')
    const withUser = await send(path, { headers: withAccept, body: JSON.stringify({ ...example, user: UID.alice }) })
    t.equal(withUser.status, 200, 'the example with the documented `user` extension')
    t.same(Object.keys(withUser.body).sort(), ['client_secret', 'stripe_payment_intent_id', 'stripe_publishable_api_key'])
    t.match(withUser.body, { stripe_payment_intent_id: /^pi_/, stripe_publishable_api_key: pk, client_secret: /^pi_.*_secret_/ })
    t.equal((await h.stripe.paymentIntents.retrieve(withUser.body.stripe_payment_intent_id)).amount, 5678, 'amount is the card part, in cents')
    t.equal(h.balance(`customer:${UID.alice}`), 5000 - 1234, 'the balance part, in cents')
    const { account_balance_payment_amount: _balance, ...cardOnly } = example
    const card = await send(path, { headers: withAccept, body: JSON.stringify({ ...cardOnly, cart: '124' }) })
    t.equal(card.status, 200, 'card only: the example without a balance part works as it is (cart id 124: 123 is taken above)')
  })

  await t.test('payment_status', async (t) => {
    const path = `${V1}/payment_status/`
    const { curl, php, java } = await bodyless(path, withAccept)
    t.equal(curl.status, 422)
    t.equal(php.status, 422)
    t.equal(java.status, 401)
    const example = '{\n  "cart": "123"\n}'
    const open = await send(path, { headers: withAccept, body: example })
    t.equal(open.status, 200)
    t.same(open.body, { status: 'Open' })
    const intent = h.store.latestPayment('kiosk:bar-1', '123')!.stripe_payment_intent_id!
    await h.stripe.paymentIntents.confirm(intent, { payment_method: 'pm_card_visa' })
    const done = await send(path, { headers: withAccept, body: example })
    t.equal(done.status, 200)
    t.same(Object.keys(done.body).sort(), ['order', 'status'])
    t.equal(done.body.status, 'Submitted', '"Submitted means successful"')
    t.equal(h.balance('revenue:bar'), 5678 + 1234)
  })

  await t.test('connection_token', async (t) => {
    const path = `${V1}/connection_token/`
    const { curl, php, java } = await bodyless(path, withAccept)
    t.equal(curl.status, 422, 'cart is required')
    t.equal(php.status, 422)
    t.equal(java.status, 401)
    const js = await send(path, { headers: withAccept, body: '{\n  "cart": 123\n}' })
    t.equal(js.status, 200)
    t.same(Object.keys(js.body), ['stripe_connection_token'])
    t.match(js.body.stripe_connection_token, /^pst_test_/)
  })

  let terminalId = ''
  await t.test('register_terminal', async (t) => {
    const path = `${V1}/register_terminal/`
    const { curl, php, java } = await bodyless(path, withoutAccept)
    t.equal(curl.status, 422)
    t.equal(php.status, 422)
    t.equal(java.status, 401)
    h.sim.control.addRegistrationCode('donkey-gecko-inspired')
    const verbatim = '{\n  "location": "123",\n  "registration_code": "donkey-gecko-inspired",\n  "label": "Front Desk"\n}'
    const example = await send(path, { headers: withoutAccept, body: verbatim })
    t.equal(example.status, 403, 'location "123" is not the kiosk\'s')
    const asOperator = await send(path, { headers: { ...withoutAccept, Authorization: `Bearer ${TOKEN.operator}` }, body: verbatim })
    t.equal(asOperator.status, 422, 'nor any location of this event')
    t.equal(asOperator.body.type, 'unknown_location')
    const adapted = await send(path, { headers: withoutAccept, body: verbatim.replace('"123"', JSON.stringify(stripeLocation)) })
    t.equal(adapted.status, 204, 'adapted: the location id configuration answered (tml_...)')
    t.equal(adapted.body, undefined, 'No Content')
    terminalId = h.store.terminalsAt('bar')[0]!.terminal_id
  })

  await t.test('terminal_readers', async (t) => {
    const path = `${V1}/terminal_readers/`
    const { curl, php, java } = await bodyless(path, withAccept)
    t.equal(curl.status, 422)
    t.equal(php.status, 422)
    t.equal(java.status, 401)
    t.equal((await send(path, { headers: withAccept, body: '{\n  "location": "123"\n}' })).status, 403, 'location "123" is not the kiosk\'s')
    const adapted = await send(path, { headers: withAccept, body: JSON.stringify({ location: stripeLocation }) })
    t.equal(adapted.status, 200, 'adapted: the tml_ location')
    t.same(adapted.body, [{ terminal_id: terminalId, label: 'Front Desk' }])
    t.same((await send(path, { headers: withAccept, body: '{"location": "bar"}' })).body, adapted.body, 'the booth id names the same location')
  })

  await t.test('update_terminal', async (t) => {
    const path = `${V1}/update_terminal/`
    const { curl, php, java } = await bodyless(path, withoutAccept)
    t.equal(curl.status, 422)
    t.equal(php.status, 422)
    t.equal(java.status, 401)
    const verbatim = '{\n  "terminal_id": "tmr_123",\n  "label": "Front Desk"\n}'
    const example = await send(path, { headers: withoutAccept, body: verbatim })
    t.equal(example.status, 422, 'tmr_123 is no reader of this event')
    t.equal(example.body.type, 'unknown_terminal')
    const adapted = await send(path, { headers: withoutAccept, body: verbatim.replace('tmr_123', terminalId).replace('Front Desk', 'Bar left') })
    t.equal(adapted.status, 204)
    t.equal(adapted.body, undefined)
    t.equal((h.sim.control.object(terminalId) as unknown as { label: string }).label, 'Bar left')
  })

  await t.test('deregister_terminal', async (t) => {
    const path = `${V1}/deregister_terminal/`
    const { curl, php, java } = await bodyless(path, withoutAccept)
    t.equal(curl.status, 422)
    t.equal(php.status, 422)
    t.equal(java.status, 401)
    const verbatim = '{\n  "terminal_id": "tmr_123"\n}'
    t.equal((await send(path, { headers: withoutAccept, body: verbatim })).status, 422)
    const adapted = await send(path, { headers: withoutAccept, body: verbatim.replace('tmr_123', terminalId) })
    t.equal(adapted.status, 204)
    t.equal(h.sim.control.object(terminalId), undefined, 'gone at Stripe')
  })

  await t.test('/docs/json: every status seen is listed for its operation, and every operation has bearer security', async (t) => {
    const res = await fetch(`${h.baseUrl}/docs/json`)
    const doc = (await res.json()) as { paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>> }
    const operations = Object.entries(doc.paths)
      .filter(([p]) => p.startsWith(V1))
      .flatMap(([p, ops]) => Object.entries(ops).map(([method, o]) => ({ key: `${method.toUpperCase()} ${p}`, ...o })))
    t.equal(operations.length, 11, '10 POST operations and GET configuration')
    for (const o of operations) {
      t.same(o.security, [{ bearerAuth: [] }], `${o.key}: security`)
      for (const code of ['401', '403', '422']) t.ok(o.responses[code], `${o.key}: the document's ${code}`)
    }
    const byKey = new Map(operations.map((o) => [o.key, o]))
    for (const s of seen) {
      const o = byKey.get(`${s.method} ${s.path}`)
      t.ok(o?.responses[String(s.status)], `${s.method} ${s.path} answered ${s.status}, which /docs lists`)
    }
    const paymentIntent = byKey.get(`POST ${V1}/payment_intent/`) as unknown as { requestBody: { content: Record<string, { schema: { properties: Record<string, { description?: string }> } }> } }
    t.match(paymentIntent.requestBody.content['application/json']!.schema.properties.user!.description, /wristpay extension/, 'the `user` extension is documented')
  })
})
