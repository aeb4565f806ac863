// The SumUp adapter against the SumUp simulator, over real HTTP on 127.0.0.1.
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import t, { type Test } from 'tap'
import { startSumUpSim, type WebhookMode } from '../../simulators/sumup-sim.js'
import { ProviderError, WebhookIgnoredError, WebhookVerificationError, type PaymentProvider } from './provider.js'
import { createSumUpProvider, signSumUpWebhook, SUMUP_SIGNATURE_HEADER } from './sumup.js'

const API_KEY = 'sup_sk_test_0123456789'
const SECRET = 'webhook-secret-for-tests'
const silent = pino({ level: 'silent' })

/** A tiny webhook receiver: records every body it gets, answers 200. */
async function startReceiver(t: Test) {
  const received: Array<{ body: string; headers: IncomingMessage['headers'] }> = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers })
      res.writeHead(200).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received }
}

async function setup(t: Test, opts: { webhookMode?: WebhookMode; webhookSecret?: string; timeoutMs?: number; fetch?: typeof fetch } = {}) {
  const receiver = await startReceiver(t)
  const sim = await startSumUpSim({ apiKey: API_KEY, merchantCode: 'MTEST', webhookMode: opts.webhookMode ?? 'once', webhookSecret: opts.webhookSecret })
  t.teardown(() => sim.close())
  const provider = createSumUpProvider({
    apiKey: API_KEY,
    merchantCode: 'MTEST',
    baseUrl: sim.baseUrl,
    webhookUrl: receiver.url,
    webhookSecret: opts.webhookSecret,
    timeoutMs: opts.timeoutMs ?? 5000,
    logger: silent,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  })
  return { sim, provider, receiver }
}

const input = (reference = 'c0ffee00-0000-4000-8000-000000000001', amountCents = 1234) => ({
  reference,
  amountCents,
  currency: 'EUR',
  description: 'Wristband top-up',
  returnUrl: 'http://127.0.0.1:9/portal/?checkout_id=x',
})

t.test('create a hosted checkout: decimal amount at the edge, our reference, redirect and webhook URLs', async (t) => {
  const { sim, provider, receiver } = await setup(t)
  const created = await provider.createCheckout(input())
  t.match(created.redirectUrl, `${sim.baseUrl}/pay/${created.providerCheckoutId}`)
  const stored = sim.control.checkout(created.providerCheckoutId)!
  t.equal(stored.amount, 12.34, 'the API receives 12.34, not 1234')
  t.equal(stored.currency, 'EUR')
  t.equal(stored.checkout_reference, input().reference)
  t.equal(stored.merchant_code, 'MTEST')
  t.equal(stored.redirect_url, input().returnUrl, 'the browser comes back to our return URL')
  t.equal(stored.return_url, receiver.url, "SumUp's return_url is the webhook target")
  t.same(stored.hosted_checkout, { enabled: true })
  t.same(await provider.getCheckout(created.providerCheckoutId), { status: 'pending', amountCents: 1234, currency: 'EUR', reference: input().reference })
})

t.test('statuses map to pending / paid / failed (declined and expired)', async (t) => {
  const { sim, provider } = await setup(t, { webhookMode: 'never' })
  const a = await provider.createCheckout(input('ref-paid'))
  const b = await provider.createCheckout(input('ref-declined'))
  const c = await provider.createCheckout(input('ref-expired'))
  await sim.control.pay(a.providerCheckoutId)
  await sim.control.decline(b.providerCheckoutId)
  await sim.control.expire(c.providerCheckoutId)
  t.equal((await provider.getCheckout(a.providerCheckoutId)).status, 'paid')
  t.equal((await provider.getCheckout(b.providerCheckoutId)).status, 'failed')
  t.equal((await provider.getCheckout(c.providerCheckoutId)).status, 'failed')
})

t.test('the provider reports what it has, even a tampered amount (the caller refuses it)', async (t) => {
  const { sim, provider } = await setup(t, { webhookMode: 'never' })
  const a = await provider.createCheckout(input('ref-tampered'))
  sim.control.tamper(a.providerCheckoutId, { amount: 123.4, currency: 'USD' })
  t.same(await provider.getCheckout(a.providerCheckoutId), { status: 'pending', amountCents: 12340, currency: 'USD', reference: 'ref-tampered' })
  sim.control.tamper(a.providerCheckoutId, { amount: 0.001 })
  await t.rejects(provider.getCheckout(a.providerCheckoutId), ProviderError, 'an amount with three decimals is not trusted')
})

t.test('a created checkout that differs from the request is refused', async (t) => {
  // A fetch that lets the simulator create the checkout but rewrites the amount in its answer.
  const rewriting: typeof fetch = async (url, init) => {
    const res = await fetch(url, init)
    const body = (await res.json()) as Record<string, unknown>
    return new Response(JSON.stringify({ ...body, amount: 1.23 }), { status: res.status, headers: { 'content-type': 'application/json' } })
  }
  const { provider } = await setup(t, { fetch: rewriting })
  await t.rejects(provider.createCheckout(input()), ProviderError)
})

t.test('API errors become ProviderError, without the API key in the message', async (t) => {
  const { sim, provider } = await setup(t, { timeoutMs: 300 })
  const wrongKey = createSumUpProvider({ apiKey: 'sup_sk_wrong', merchantCode: 'MTEST', baseUrl: sim.baseUrl, logger: silent })
  const unauthorized = await wrongKey.createCheckout(input()).catch((e: unknown) => e)
  t.type(unauthorized, ProviderError)
  t.equal((unauthorized as ProviderError).providerStatus, 401)
  t.notMatch((unauthorized as Error).message, /sup_sk/)

  const unknown = await provider.getCheckout('does-not-exist').catch((e: unknown) => e)
  t.equal((unknown as ProviderError).providerStatus, 404)

  sim.control.failNext(1, '5xx')
  t.equal(((await provider.createCheckout(input('ref-5xx')).catch((e: unknown) => e)) as ProviderError).providerStatus, 503)
  t.equal(sim.control.checkouts().length, 0, 'nothing was created by the failed request')

  sim.control.failNext(1, 'hang')
  const hung = await provider.createCheckout(input('ref-hang')).catch((e: unknown) => e)
  t.type(hung, ProviderError, 'a request that never answers ends as ProviderError (timeout)')

  sim.control.setDown(true)
  await t.rejects(provider.createCheckout(input('ref-down')), ProviderError)
  sim.control.setDown(false)
  t.ok(await provider.createCheckout(input('ref-up')), 'works again once the provider is back')

  const nowhere = createSumUpProvider({ apiKey: API_KEY, merchantCode: 'MTEST', baseUrl: 'http://127.0.0.1:1', logger: silent })
  await t.rejects(nowhere.getCheckout('abc'), ProviderError, 'connection refused')
})

t.test('hostile ids and amounts never reach the provider', async (t) => {
  const { sim, provider } = await setup(t)
  for (const id of ['../v0.1/checkouts', 'a/b', '', 'x'.repeat(200), 'id?x=1', 'a b'])
    await t.rejects(provider.getCheckout(id), RangeError, `refuses id ${JSON.stringify(id).slice(0, 30)}`)
  for (const amountCents of [0, -100, 12.5, Number.NaN, Number.MAX_SAFE_INTEGER + 2])
    await t.rejects(provider.createCheckout({ ...input(), amountCents }), RangeError, `refuses amount ${amountCents}`)
  await t.rejects(provider.createCheckout({ ...input(), currency: 'eur' }), RangeError)
  t.equal(sim.control.requestCounts.get ?? 0, 0)
  t.equal(sim.control.requestCounts.create ?? 0, 0)
})

t.test('webhooks: both SumUp event forms, everything else refused', async (t) => {
  const { provider } = await setup(t)
  const parse = (body: string | Buffer, headers: Record<string, string | string[] | undefined> = {}) =>
    provider.parseWebhook(Buffer.isBuffer(body) ? body : Buffer.from(body), headers)
  t.same(await parse('{"event_type":"CHECKOUT_STATUS_CHANGED","id":"abc-123"}'), { providerCheckoutId: 'abc-123' })
  t.same(await parse('{"id":"e1","event_type":"checkout.status.updated","payload":{"checkout_id":"abc-124","status":"PAID"}}'), {
    providerCheckoutId: 'abc-124',
  })
  const bad = [
    '',
    'not json',
    'null',
    '[]',
    '"CHECKOUT_STATUS_CHANGED"',
    '{}',
    '{"event_type":"CHECKOUT_STATUS_CHANGED"}',
    '{"event_type":"CHECKOUT_STATUS_CHANGED","id":42}',
    '{"event_type":"CHECKOUT_STATUS_CHANGED","id":"../../etc"}',
    '{"event_type":"checkout.status.updated","payload":"x"}',
    '{"event_type":"CHECKOUT_STATUS_CHANGED","id":"' + 'a'.repeat(20000) + '"}',
  ]
  for (const body of bad) await t.rejects(parse(body), WebhookVerificationError, `refuses ${body.slice(0, 40)}`)
  // SumUp may add event types; they are genuine but not ours to act on.
  await t.rejects(parse('{"event_type":"SOMETHING_ELSE","id":"abc"}'), WebhookIgnoredError)
  await t.rejects(parse('{"event_type":"solo.transaction.updated","payload":{}}'), WebhookIgnoredError)
  await t.rejects(parse(Buffer.from([0xff, 0xfe, 0x00])), WebhookVerificationError, 'refuses binary garbage')
})

t.test('webhooks with a shared secret: HMAC-SHA256 of the raw body, checked in constant time', async (t) => {
  const { provider } = await setup(t, { webhookSecret: SECRET })
  const body = '{"event_type":"CHECKOUT_STATUS_CHANGED","id":"abc-123"}'
  const good = signSumUpWebhook(SECRET, body)
  t.same(await provider.parseWebhook(Buffer.from(body), { [SUMUP_SIGNATURE_HEADER]: good }), { providerCheckoutId: 'abc-123' })
  t.same(await provider.parseWebhook(Buffer.from(body), { [SUMUP_SIGNATURE_HEADER]: good.slice('sha256='.length) }), { providerCheckoutId: 'abc-123' })
  const refused: Array<[string, Record<string, string | string[] | undefined>]> = [
    ['no signature', {}],
    ['empty', { [SUMUP_SIGNATURE_HEADER]: '' }],
    ['another secret', { [SUMUP_SIGNATURE_HEADER]: signSumUpWebhook('other', body) }],
    ['another body', { [SUMUP_SIGNATURE_HEADER]: signSumUpWebhook(SECRET, body + ' ') }],
    ['not hex', { [SUMUP_SIGNATURE_HEADER]: 'sha256=' + 'z'.repeat(64) }],
    ['too short', { [SUMUP_SIGNATURE_HEADER]: good.slice(0, 40) }],
    ['twice', { [SUMUP_SIGNATURE_HEADER]: [good, good] }],
  ]
  for (const [what, headers] of refused) await t.rejects(provider.parseWebhook(Buffer.from(body), headers), WebhookVerificationError, what)
})

t.test('hosted page: pay and decline buttons, redirect back, webhook once / twice / never / late', async (t) => {
  const { sim, provider, receiver } = await setup(t, { webhookSecret: SECRET })
  const a = await provider.createCheckout(input('ref-page-a'))
  const html = await (await fetch(a.redirectUrl)).text()
  t.match(html, /<button id="pay"/)
  t.match(html, /<button id="decline"/)
  t.match(html, /12\.34 EUR/)
  const paid = await fetch(`${sim.baseUrl}/pay/${a.providerCheckoutId}/pay`, { method: 'POST', redirect: 'manual' })
  t.equal(paid.status, 303)
  t.equal(paid.headers.get('location'), input().returnUrl)
  await sim.control.idle()
  t.equal(receiver.received.length, 1, 'one webhook')
  t.same(JSON.parse(receiver.received[0]!.body), { event_type: 'CHECKOUT_STATUS_CHANGED', id: a.providerCheckoutId })
  const header = receiver.received[0]!.headers[SUMUP_SIGNATURE_HEADER]
  t.same(await provider.parseWebhook(Buffer.from(receiver.received[0]!.body), { [SUMUP_SIGNATURE_HEADER]: header }), {
    providerCheckoutId: a.providerCheckoutId,
  })
  t.equal((await provider.getCheckout(a.providerCheckoutId)).status, 'paid')
  // Paying again does not change a finished checkout.
  await fetch(`${sim.baseUrl}/pay/${a.providerCheckoutId}/decline`, { method: 'POST', redirect: 'manual' })
  t.equal((await provider.getCheckout(a.providerCheckoutId)).status, 'paid')
  t.match(await (await fetch(a.redirectUrl)).text(), /PAID/)

  sim.control.setWebhookMode('twice')
  const b = await provider.createCheckout(input('ref-page-b'))
  await fetch(`${sim.baseUrl}/pay/${b.providerCheckoutId}/decline`, { method: 'POST', redirect: 'manual' })
  await sim.control.idle()
  t.equal(receiver.received.filter((r) => r.body.includes(b.providerCheckoutId)).length, 2, 'twice')
  t.equal((await provider.getCheckout(b.providerCheckoutId)).status, 'failed')

  sim.control.setWebhookMode('never')
  const c = await provider.createCheckout(input('ref-page-c'))
  await sim.control.pay(c.providerCheckoutId)
  await sim.control.idle()
  t.equal(receiver.received.filter((r) => r.body.includes(c.providerCheckoutId)).length, 0, 'never')
  const late = await sim.control.sendWebhook(c.providerCheckoutId)
  t.same(late.map((d) => d.status), [200], 'late, on demand')

  t.equal((await fetch(`${sim.baseUrl}/pay/nope`)).status, 404)
})
