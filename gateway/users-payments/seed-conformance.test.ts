// The users and payments document (seeds/users-payments-api.txt) replayed as
// its clients send it: every example request with the sample's headers and
// body, checked against the documented answer (status and fields). Ids are
// adapted only where the document's cannot exist in our data (its user,
// payment intent and payment method ids, and a second user's email, which the
// document reuses); each adaptation is named. Every status seen must be listed
// for its operation in /docs/json, and every operation states its security.
// The replay runs on SQLite and on PostgreSQL.
import t, { type Test } from 'tap'
import { PREFIX, startHarness } from './testing/harness.js'
import { testOnEngines, worldEngines, type WorldEngine } from '../testing/world-engines.js'

const engines = await worldEngines(t)
const onEveryEngine = (name: string, body: (t: Test, engine: WorldEngine) => Promise<void>) => testOnEngines(t, engines, name, body)

interface Sent {
  method: string
  /** The route as /docs names it. */
  route: string
  status: number
  body: any
}

const CREATE_USER = '{\n"userName": "Alan Turing",\n"email": "aturing@gmail.com",\n"password": "password"\n}'
const LOGIN = '{\n"email": "aturing@gmail.com",\n"password": "password"\n}'
const PATCH_USER = '{\n"userName": "Alan Turing",\n"email": "aturing@gmail.com",\n"customerId": "cus_1234567890"\n}'
const CREATE_PAYMENT = '{\n"cuid": "cjld2cjxh0000qzrmn831i7rn"\n}'
const CONFIRM_PAYMENT = '{\n"cuid": "cjld2cjxh0000qzrmn831i7rn",\n"paymentId": "pi_1H4Q2cKZ4Z4Z4Z4Z4Z4Z4Z4Z",\n"paymentMethodId": "pm_1H7jg1CZ6F7J6I8jW2Q2c2jG"\n}'

const USER_FIELDS = ['customerId', 'email', 'userId', 'userName']
const PAYMENT_FIELDS = ['amount', 'currency', 'id', 'paymentMethod', 'status']

onEveryEngine('every example request of the users and payments document gets the documented answer', async (t, engine) => {
  const h = await startHarness(t, {}, {}, { docs: true, database: engine.database(t) })
  const seen: Sent[] = []
  async function send(method: string, path: string, route: string, headers: Record<string, string>, body?: string): Promise<Sent> {
    const res = await fetch(`${h.origin}${PREFIX}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) })
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      // not JSON: the text stays
    }
    const sent = { method, route, status: res.status, body: parsed }
    seen.push(sent)
    return sent
  }
  // The samples' headers: with a body Content-Type, Accept (and Authorization where secured); without one Accept and Authorization.
  const json = (token?: string) => ({ 'Content-Type': 'application/json', Accept: 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) })
  const noBody = (token: string) => ({ Accept: 'application/json', Authorization: `Bearer ${token}` })

  const register = await send('POST', '/user/register', '/user/register', json(), CREATE_USER)
  t.equal(register.status, 201, 'POST /user/register')
  t.same(Object.keys(register.body), ['access_token'])
  const login = await send('POST', '/user/login', '/user/login', json(), LOGIN)
  t.equal(login.status, 201, 'POST /user/login')
  t.same(Object.keys(login.body), ['access_token'])
  const token = login.body.access_token as string

  const createSame = await send('POST', '/user', '/user', json(token), CREATE_USER)
  t.equal(createSame.status, 409, 'POST /user with the document body: its email is registered above')
  const created = await send('POST', '/user', '/user', json(token), CREATE_USER.replace('aturing@gmail.com', 'aturing+created@gmail.com'))
  t.equal(created.status, 201, 'POST /user, adapted: another email')
  t.same(Object.keys(created.body).sort(), ['email', 'userId', 'userName'], 'no customerId: "Users without transactions do not have a customer id"')
  t.match(created.body, { userName: 'Alan Turing', email: 'aturing+created@gmail.com', userId: /^[0-9a-f]{24}$/ })

  const list = await send('GET', '/user', '/user', noBody(token))
  t.equal(list.status, 200, 'GET /user')
  t.equal(list.body.length, 2, 'the caller and the user it created')
  t.same(list.body[1], created.body)
  const me = list.body[0]
  t.match(me, { userName: 'Alan Turing', email: 'aturing@gmail.com' })

  const one = await send('GET', `/user/${created.body.userId}`, '/user/{id}', noBody(token))
  t.equal(one.status, 200, 'GET /user/{id}, adapted: an id of ours')
  t.same(one.body, created.body)
  t.equal((await send('GET', '/user/5f9f1c9b9c9c9c9c9c9c9c9c', '/user/{id}', noBody(token))).status, 404, "GET /user/{id} with the document's id: none such")

  const payments0 = await send('GET', '/payment', '/payment', noBody(token))
  t.equal(payments0.status, 200, 'GET /payment')
  t.same(payments0.body, [])
  const payment = await send('POST', '/payment', '/payment', json(token), CREATE_PAYMENT)
  t.equal(payment.status, 201, 'POST /payment')
  t.same(Object.keys(payment.body).sort(), [...PAYMENT_FIELDS, 'clientSecret'].sort())
  t.match(payment.body, { id: /^pi_/, amount: 2000, currency: 'eur', status: 'requires_payment_method', paymentMethod: '', clientSecret: /_secret_/ })
  const again = await send('POST', '/payment', '/payment', json(token), CREATE_PAYMENT)
  t.same(again.body, payment.body, 'the cuid is the idempotency key: a retry answers the same intent')
  const fetched = await send('GET', `/payment/${payment.body.id}`, '/payment/{id}', noBody(token))
  t.equal(fetched.status, 200, 'GET /payment/{id}, adapted: the intent created above')
  t.same(Object.keys(fetched.body).sort(), PAYMENT_FIELDS)
  t.equal((await send('GET', '/payment/pi_1H7jg1CZ6F7J6I8jW2Q2c2jG', '/payment/{id}', noBody(token))).status, 404, "the document's id: none such")

  const confirmVerbatim = await send('POST', '/payment/confirm', '/payment/confirm', json(token), CONFIRM_PAYMENT)
  t.equal(confirmVerbatim.status, 404, "POST /payment/confirm with the document's payment id: none such")
  const confirmed = await send(
    'POST',
    '/payment/confirm',
    '/payment/confirm',
    json(token),
    CONFIRM_PAYMENT.replace('pi_1H4Q2cKZ4Z4Z4Z4Z4Z4Z4Z4Z', payment.body.id).replace('pm_1H7jg1CZ6F7J6I8jW2Q2c2jG', 'pm_card_visa'),
  )
  t.equal(confirmed.status, 201, 'POST /payment/confirm, adapted: our intent and a test card')
  t.same(Object.keys(confirmed.body).sort(), PAYMENT_FIELDS)
  t.match(confirmed.body, { id: payment.body.id, amount: 2000, currency: 'eur', status: 'succeeded', paymentMethod: /^pm_/ })
  t.same((await send('GET', '/payment', '/payment', noBody(token))).body, [confirmed.body], 'GET /payment lists it')

  const withCustomer = (await send('GET', `/user/${me.userId}`, '/user/{id}', noBody(token))).body
  t.match(withCustomer.customerId, /^cus_/, 'a customer id after the first payment')
  const patchVerbatim = await send('PATCH', `/user/${me.userId}`, '/user/{id}', json(token), PATCH_USER)
  t.equal(patchVerbatim.status, 403, 'PATCH with the document\'s customerId: another customer cannot be taken over')
  const patched = await send('PATCH', `/user/${me.userId}`, '/user/{id}', json(token), PATCH_USER.replace('cus_1234567890', withCustomer.customerId))
  t.equal(patched.status, 200, 'PATCH /user/{id}, adapted: the user\'s own customer id')
  t.same(Object.keys(patched.body).sort(), USER_FIELDS)
  t.same(patched.body, withCustomer)
  const wholeUser = await send('PATCH', `/user/${me.userId}`, '/user/{id}', json(token), JSON.stringify({ ...withCustomer, userName: 'Alan M. Turing' }))
  t.equal(wholeUser.status, 200, 'PATCH with the whole returned user')
  t.equal(wholeUser.body.userName, 'Alan M. Turing')

  // The document's samples for GET and DELETE send no Content-Type; clients that always send it (and no body) work too.
  const deleted = await send('DELETE', `/user/${created.body.userId}`, '/user/{id}', { ...json(token) })
  t.equal(deleted.status, 200, 'DELETE /user/{id} (Content-Type json, no body)')
  t.same(deleted.body, created.body, 'answers the deleted user')
  t.equal((await send('DELETE', `/user/${created.body.userId}`, '/user/{id}', noBody(token))).status, 404, 'it is gone')

  const docs = await fetch(`${h.origin}/docs/json`)
  const doc = (await docs.json()) as { paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>> }
  const operations = new Map(
    Object.entries(doc.paths)
      .filter(([p]) => p.startsWith(PREFIX))
      .flatMap(([p, ops]) => Object.entries(ops).map(([method, o]) => [`${method.toUpperCase()} ${p.slice(PREFIX.length)}`, o] as const)),
  )
  for (const [key, o] of operations) t.ok(Array.isArray(o.security), `${key}: security is stated`)
  t.same(operations.get('POST /user/login')?.security, [], 'login needs no token')
  t.same(operations.get('POST /user/register')?.security, [])
  t.same(operations.get('GET /user/{id}')?.security, [{ bearerAuth: [] }])
  for (const s of seen) t.ok(operations.get(`${s.method} ${s.route}`)?.responses[String(s.status)], `${s.method} ${s.route} answered ${s.status}, which /docs lists`)
})
