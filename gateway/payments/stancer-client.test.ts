// The provider's API client against the provider simulator over real HTTP,
// and against a hostile fake server whose answers must never be trusted.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { startSim, TEST_SECRET_KEY } from '../../simulators/provider-sim/testing/sim-client.js'
import { ProviderError } from './provider.js'
import { createStancerClient, listAll, type StancerPage } from './stancer-client.js'

type Teardown = { teardown(fn: () => unknown): void }

async function simAndClient(t: Teardown, timeoutMs = 5_000) {
  const sim = await startSim(t)
  const client = createStancerClient({ secretKey: TEST_SECRET_KEY, baseUrl: sim.baseUrl, timeoutMs })
  return { sim, client }
}

/** A paid payment of `amount` cents through the hosted page (the simulator's controls). */
async function paidPayment(sim: Awaited<ReturnType<typeof startSim>>, client: ReturnType<typeof createStancerClient>, amount: number, orderId = 'order-1') {
  const intent = await client.createPaymentIntent({ amount, currency: 'eur', order_id: orderId, description: 'Top-up test', threeds: 'none' })
  sim.controls.payIntent(intent.id, 'paid')
  const paid = await client.getPaymentIntent(intent.id)
  return paid.payment!
}

/** A fake provider answering every request with `handler`; every request it saw is in `seen`. */
async function fakeServer(t: Teardown, handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen: Array<{ method?: string; url?: string; authorization?: string }> = []
  const server = createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization })
    req.resume()
    req.on('end', () => handler(req, res))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  const { port } = server.address() as AddressInfo
  return { baseUrl: `http://127.0.0.1:${port}`, seen }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

const ID = (prefix: string) => `${prefix}_${'A'.repeat(24)}`

t.test('payment intents, payments and refunds round-trip, in integer cents, with Basic auth', async (t) => {
  const { sim, client } = await simAndClient(t)
  const intent = await client.createPaymentIntent({ amount: 2550, currency: 'eur', order_id: 'our-checkout-1', return_url: 'http://127.0.0.1:9/back', description: 'Festival top-up', methods_allowed: ['card'] })
  t.match(intent, { amount: 2550, currency: 'eur', order_id: 'our-checkout-1', status: 'require_payment_method', payment: null })
  t.match(intent.url, /^http:\/\/127\.0\.0\.1:\d+\/pay\/pi_/)
  sim.controls.payIntent(intent.id, 'paid')
  const paid = await client.getPaymentIntent(intent.id)
  t.equal(paid.status, 'captured')
  const payment = await client.getPayment(paid.payment!)
  t.match(payment, { id: paid.payment, amount: 2550, currency: 'eur', order_id: 'our-checkout-1', status: 'to_capture', response: '00' })
  t.ok(Number.isInteger(payment.fee))

  const part = await client.createRefund({ payment: payment.id, amount: 1000 })
  t.match(part, { payment: payment.id, amount: 1000, currency: 'eur', status: 'to_refund' })
  t.same(await client.getRefund(part.id), part)
  const rest = await client.createRefund({ payment: payment.id })
  t.equal(rest.amount, 1550, 'without an amount: the refundable rest')
  t.same((await client.listPaymentRefunds(payment.id)).map((r) => r.id), [part.id, rest.id])

  const over = await client.createRefund({ payment: payment.id, amount: 1 }).catch((e: unknown) => e)
  t.type(over, ProviderError)
  t.equal((over as ProviderError).providerStatus, 409, 'an over-refund is the provider\'s 409, its status kept')
  t.same(sim.controls.requests().slice(0, 2).map((r) => `${r.method} ${r.path}`), ['POST /v2/payment_intents', `GET /v2/payment_intents/${intent.id}`], 'the API\'s v2 paths')
})

t.test('disputes, payouts and their members, and SEPA checks', async (t) => {
  const { sim, client } = await simAndClient(t)
  const first = await paidPayment(sim, client, 1000, 'o-1')
  const second = await paidPayment(sim, client, 2000, 'o-2')
  const dispute = sim.controls.raiseDispute(first)
  const listed = await client.listDisputes({ created: 0 })
  t.same(listed.items.map((d) => d.id), [dispute.id])
  t.match(await client.getDispute(dispute.id), { payment: first, amount: 1000, order_id: 'o-1', status: 'open' })
  t.same((await client.listDisputes({ created: dispute.created + 10 })).items, [], 'created filters')
  sim.controls.resolveDispute(dispute.id, 'lost')
  const refund = await client.createRefund({ payment: second, amount: 500 })
  const [payout] = sim.controls.settleNow()
  const payouts = await client.listPayouts()
  t.same(payouts.items.map((p) => p.id), [payout!.id])
  const got = await client.getPayout(payout!.id)
  t.match(got, { currency: 'eur', payments: { amount: 3000, count: 2 }, refunds: { amount: 500, count: 1 }, disputes: { amount: 1000, count: 1 }, status: 'paid' })
  t.same((await client.listPayoutPayments(payout!.id)).items.map((p) => p.id), [first, second])
  t.same((await client.listPayoutRefunds(payout!.id)).items.map((r) => r.id), [refund.id])
  t.same((await client.listPayoutDisputes(payout!.id)).items.map((d) => d.id), [dispute.id])
  t.same((await client.listPayouts({ payment: second })).items.map((p) => p.id), [payout!.id])

  const check = await client.createSepaCheck({ iban: 'DE89370400440532013000', person: { name: 'Erika Mustermann' } })
  t.match(await client.getSepaCheck(check.id), { id: check.id, status: 'succeeded', check_type: 'person', person: { name: 'Erika Mustermann', score_name: 1 } })
})

t.test('listAll follows range/start/limit over pages and stops at a hard bound', async (t) => {
  const { sim, client } = await simAndClient(t)
  const payments: string[] = []
  for (let i = 0; i < 5; i += 1) payments.push(await paidPayment(sim, client, 100 + i, `o-${i}`))
  for (const p of payments) sim.controls.raiseDispute(p)
  const all = await listAll((q) => client.listDisputes({ ...q, created: 0 }), { limit: 2 })
  t.same(all.map((d) => d.payment), payments, 'three pages of two, in order')
  await t.rejects(listAll((q) => client.listDisputes(q), { limit: 2, maxPages: 2 }), ProviderError, 'more pages than allowed')

  const endless = (q: { start: number; limit: number }): Promise<StancerPage<number>> =>
    Promise.resolve({ range: { start: q.start, end: q.start, limit: q.limit, has_more: true }, items: [q.start] })
  await t.rejects(listAll(endless, { maxPages: 5 }), /more than 5 pages/)
  const stuck = (q: { start: number; limit: number }): Promise<StancerPage<number>> =>
    Promise.resolve({ range: { start: q.start, end: q.start, limit: q.limit, has_more: true }, items: [] })
  await t.rejects(listAll(stuck), /empty page/)
})

t.test('a wrong key, an unknown id, a 500 and a timeout are ProviderErrors that name no key', async (t) => {
  const { sim } = await simAndClient(t)
  const wrong = createStancerClient({ secretKey: 'stest_wrong_key_0000000000', baseUrl: sim.baseUrl })
  const unauthorised = await wrong.listDisputes().catch((e: unknown) => e)
  t.type(unauthorised, ProviderError)
  t.equal((unauthorised as ProviderError).providerStatus, 401)
  t.notMatch((unauthorised as Error).message, /wrong_key/)

  const client = createStancerClient({ secretKey: TEST_SECRET_KEY, baseUrl: sim.baseUrl, timeoutMs: 300 })
  const unknown = await client.getPayment(ID('paym')).catch((e: unknown) => e)
  t.equal((unknown as ProviderError).providerStatus, 404)
  sim.controls.failNext('/v2/disputes')
  const failed = await client.listDisputes().catch((e: unknown) => e)
  t.equal((failed as ProviderError).providerStatus, 500)
  sim.controls.timeoutNext('/v2/disputes', { hangMs: 60_000 })
  const timedOut = await client.listDisputes().catch((e: unknown) => e)
  t.type(timedOut, ProviderError)
  t.match((timedOut as Error).message, /timed out/)
  for (const err of [unknown, failed, timedOut]) t.notMatch(String((err as Error).message), TEST_SECRET_KEY)

  t.throws(() => client.getPayment('paym_../../v2/refunds'), RangeError, 'an id that is not one never becomes a path')
  t.throws(() => client.getDispute(ID('paym')), RangeError)
  t.throws(() => createStancerClient({ secretKey: 'short' }), /secretKey/)
  t.throws(() => createStancerClient({ secretKey: TEST_SECRET_KEY, baseUrl: 'http://127.0.0.1:1/v2' }), /bare origin/)
  t.throws(() => createStancerClient({ secretKey: TEST_SECRET_KEY, baseUrl: 'ftp://127.0.0.1' }), /http/)
})

t.test('answers we cannot trust are ProviderErrors, never a crash', async (t) => {
  let answer: (res: ServerResponse) => void = (res) => json(res, 200, {})
  const fake = await fakeServer(t, (_req, res) => answer(res))
  const client = createStancerClient({ secretKey: TEST_SECRET_KEY, baseUrl: fake.baseUrl, timeoutMs: 2_000 })
  const payment = { id: ID('paym'), amount: 1000, currency: 'eur', status: 'captured', order_id: 'x', fee: 39, response: '00', created: 1 }
  const cases: Array<[string, (res: ServerResponse) => void]> = [
    ['a bad id', (res) => json(res, 200, { ...payment, id: 'paym_short' })],
    ['another object\'s id', (res) => json(res, 200, { ...payment, id: ID('refd') })],
    ['a float amount', (res) => json(res, 200, { ...payment, amount: 10.5 })],
    ['a negative amount', (res) => json(res, 200, { ...payment, amount: -1 })],
    ['an amount out of range', (res) => json(res, 200, { ...payment, amount: 4294967296 })],
    ['an amount as a string', (res) => json(res, 200, { ...payment, amount: '1000' })],
    ['a float fee', (res) => json(res, 200, { ...payment, fee: 0.39 })],
    ['a strange status', (res) => json(res, 200, { ...payment, status: '<script>' })],
    ['no currency', (res) => json(res, 200, { ...payment, currency: undefined })],
    ['a 500', (res) => json(res, 500, { error: 'boom' })],
    ['HTML instead of JSON', (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Maintenance</body></html>')],
    ['an HTML error page', (res) => res.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad gateway</html>')],
    ['an array', (res) => json(res, 200, [payment])],
    ['null', (res) => json(res, 200, null)],
    ['a cut-off body', (res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' }).end('{"id":')],
    ['a body larger than 1 MiB, sent without a length', (res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write(`{"pad":"`)
      for (let i = 0; i < 20; i += 1) res.write('x'.repeat(64 * 1024))
      res.end('"}')
    }],
    ['a length over 1 MiB', (res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(2 * 1024 * 1024) }).end('{}')],
  ]
  for (const [name, respond] of cases) {
    answer = respond
    const err = await client.getPayment(ID('paym')).catch((e: unknown) => e)
    t.type(err, ProviderError, name)
  }
  // An answer that never ends is cut off at 1 MiB (not read until the timeout, nor into memory).
  answer = (res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    let open = true
    res.on('close', () => { open = false })
    const more = () => { while (open && res.write('x'.repeat(64 * 1024))) { /* until the socket is full */ } if (open) res.once('drain', more) }
    more()
  }
  await t.rejects(client.getPayment(ID('paym')), /too large/, 'an endless answer')

  answer = (res) => json(res, 200, payment)
  const one = await client.getPayment(ID('paym'))
  t.equal(one.amount, 1000, 'the same answer with good values is taken')

  answer = (res) => json(res, 200, [{ id: ID('refd'), payment: ID('paym').replace('A', 'B'), amount: 1, currency: 'eur', status: 'to_refund' }])
  await t.rejects(client.listPaymentRefunds(ID('paym')), ProviderError, 'a refund of another payment in a payment\'s list')
  answer = (res) => json(res, 200, { range: { start: 0, end: 0, limit: 10, has_more: 'yes' }, disputes: [] })
  await t.rejects(client.listDisputes(), ProviderError, 'a range that is not one')
  answer = (res) => json(res, 200, { id: ID('refd'), payment: ID('paym'), amount: 999, currency: 'eur', status: 'to_refund' })
  await t.rejects(client.createRefund({ payment: ID('paym'), amount: 1000 }), /differs/, 'a refund of another amount than asked')

  t.ok(fake.seen.every((r) => r.authorization === `Basic ${Buffer.from(`${TEST_SECRET_KEY}:`).toString('base64')}`), 'Basic auth, the key as user')
})
