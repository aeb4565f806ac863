// The Stripe Checkout adapter against the Stripe simulator, through the official package.
import t from 'tap'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import Stripe from 'stripe'
import { createStripeClient } from './stripe-client.js'
import { createStripeProvider, IgnoredWebhookEventError } from './stripe.js'
import { ProviderError, WebhookIgnoredError, WebhookVerificationError, type CreateCheckoutInput } from './provider.js'
import { startSimWithClient } from '../../simulators/stripe-sim/testing/sim-client.js'
import { startWebhookReceiver } from '../../simulators/stripe-sim/testing/webhook-receiver.js'
import { signPayload } from '../../simulators/stripe-sim/index.js'

const WEBHOOK_SECRET = 'whsec_provider_test_secret'

function capturingLogger() {
  const lines: string[] = []
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk))
      done()
    },
  })
  return { logger: pino({ level: 'debug' }, destination), lines }
}

async function setup(t: { teardown(fn: () => unknown): void }, clock?: () => number) {
  const receiver = await startWebhookReceiver(t)
  const { sim, stripe } = await startSimWithClient(t, { webhookSecret: WEBHOOK_SECRET, webhookUrl: receiver.url })
  const { logger, lines } = capturingLogger()
  const provider = createStripeProvider({ stripe, webhookSecret: WEBHOOK_SECRET, logger, clock })
  return { sim, stripe, provider, receiver, lines }
}

const input = (overrides: Partial<CreateCheckoutInput> = {}): CreateCheckoutInput => ({
  reference: 'otu_0001',
  amountCents: 2550,
  currency: 'EUR',
  description: 'wristpay top-up',
  returnUrl: 'http://127.0.0.1:8080/portal/topup/otu_0001',
  ...overrides,
})

t.test('createCheckout makes one Checkout Session per reference, in cents', async (t) => {
  const { sim, stripe, provider, lines } = await setup(t)
  t.equal(provider.name, 'stripe')
  const created = await provider.createCheckout(input())
  t.match(created.providerCheckoutId, /^cs_test_/)
  t.equal(created.redirectUrl, `${sim.baseUrl}/pay/cs/${created.providerCheckoutId}`)
  const session = await stripe.checkout.sessions.retrieve(created.providerCheckoutId)
  t.match(session, {
    mode: 'payment',
    amount_total: 2550,
    currency: 'eur',
    client_reference_id: 'otu_0001',
    metadata: { reference: 'otu_0001' },
    success_url: input().returnUrl,
    cancel_url: input().returnUrl,
  })

  const again = await provider.createCheckout(input())
  t.equal(again.providerCheckoutId, created.providerCheckoutId, 'a retried create (same reference) returns the same session')
  t.equal((await stripe.checkout.sessions.list()).data.length, 1)
  await t.rejects(provider.createCheckout(input({ amountCents: 9999 })), ProviderError, 'same reference, other amount: refused, not a second session')
  t.equal((await stripe.checkout.sessions.list()).data.length, 1)
  t.notOk(lines.join('').includes(sim.apiKey), 'the API key is never logged')
})

t.test('createCheckout refuses bad input before calling Stripe', async (t) => {
  const { sim, provider } = await setup(t)
  const bad: Array<Partial<CreateCheckoutInput>> = [
    { amountCents: 0 },
    { amountCents: -5 },
    { amountCents: 10.5 },
    { amountCents: Number.MAX_SAFE_INTEGER + 2 },
    { currency: 'eur' },
    { currency: 'EURO' },
    { reference: '' },
    { reference: 'r'.repeat(201) },
    { returnUrl: 'not a url' },
    { returnUrl: 'javascript:alert(1)' },
  ]
  for (const b of bad) await t.rejects(provider.createCheckout(input(b)), RangeError, JSON.stringify(b))
  t.equal(sim.control.requests().length, 0)
  await t.rejects(provider.createCheckout(input({ amountCents: 10 })), ProviderError, "below Stripe's minimum: the provider refuses")
})

t.test('getCheckout follows the session: pending, paid, failed', async (t) => {
  const { sim, provider } = await setup(t)
  const paid = await provider.createCheckout(input({ reference: 'r-paid' }))
  t.same(await provider.getCheckout(paid.providerCheckoutId), { status: 'pending', amountCents: 2550, currency: 'EUR', reference: 'r-paid' })
  sim.control.completeCheckout(paid.providerCheckoutId, 'declined')
  t.equal((await provider.getCheckout(paid.providerCheckoutId)).status, 'pending', 'a declined card: the guest may still pay')
  sim.control.completeCheckout(paid.providerCheckoutId, 'paid')
  t.same(await provider.getCheckout(paid.providerCheckoutId), { status: 'paid', amountCents: 2550, currency: 'EUR', reference: 'r-paid' })

  const expired = await provider.createCheckout(input({ reference: 'r-expired' }))
  sim.control.expireCheckout(expired.providerCheckoutId)
  t.equal((await provider.getCheckout(expired.providerCheckoutId)).status, 'failed')

  const slowOk = await provider.createCheckout(input({ reference: 'r-slow-ok' }))
  sim.control.completeCheckout(slowOk.providerCheckoutId, 'processing')
  t.equal((await provider.getCheckout(slowOk.providerCheckoutId)).status, 'pending', 'complete but not yet paid')
  sim.control.settleCheckout(slowOk.providerCheckoutId, 'succeeded')
  t.equal((await provider.getCheckout(slowOk.providerCheckoutId)).status, 'paid')

  const slowFail = await provider.createCheckout(input({ reference: 'r-slow-fail' }))
  sim.control.completeCheckout(slowFail.providerCheckoutId, 'processing')
  sim.control.settleCheckout(slowFail.providerCheckoutId, 'failed')
  t.equal((await provider.getCheckout(slowFail.providerCheckoutId)).status, 'failed')
})

t.test('getCheckout errors: bad ids, unknown sessions, Stripe unreachable', async (t) => {
  const { provider, sim } = await setup(t)
  for (const id of ['', 'pi_123', 'cs_test_../../v1/customers', 'cs_test_a?expand[]=x']) await t.rejects(provider.getCheckout(id), RangeError, id)
  t.equal(sim.control.requests().length, 0)
  const missing = await provider.getCheckout('cs_test_doesnotexist').catch((e) => e)
  t.ok(missing instanceof ProviderError)
  t.equal(missing.providerStatus, 404)
  sim.control.failNextRequests(1)
  await t.rejects(provider.getCheckout('cs_test_doesnotexist'), { name: 'ProviderError', providerStatus: 500 })

  const stripe = createStripeClient({ apiKey: sim.apiKey, baseUrl: 'http://127.0.0.1:9', maxNetworkRetries: 0, timeoutMs: 2000 })
  const offline = createStripeProvider({ stripe, webhookSecret: WEBHOOK_SECRET, logger: pino({ level: 'silent' }) })
  await t.rejects(offline.getCheckout('cs_test_abc'), ProviderError)
  await t.rejects(offline.createCheckout(input()), ProviderError)
})

t.test('parseWebhook accepts what Stripe signed, once or twice, and names the session', async (t) => {
  const { sim, provider, receiver, lines } = await setup(t)
  sim.control.setWebhookMode('twice')
  const created = await provider.createCheckout(input())
  sim.control.completeCheckout(created.providerCheckoutId, 'paid')
  await sim.control.flushWebhooks()
  const completed = receiver.received.filter((r) => r.body.includes('"checkout.session.completed"'))
  t.equal(completed.length, 2)
  for (const delivery of completed) {
    t.same(await provider.parseWebhook(delivery.body, delivery.headers), { providerCheckoutId: created.providerCheckoutId })
  }
  const other = receiver.received.find((r) => r.body.includes('"payment_intent.succeeded"'))!
  await t.rejects(provider.parseWebhook(other.body, other.headers), IgnoredWebhookEventError)
  const ignored = await provider.parseWebhook(other.body, other.headers).catch((e) => e)
  t.ok(ignored instanceof WebhookIgnoredError, 'it is a WebhookIgnoredError: the route acknowledges it, Stripe stops re-sending')
  t.notOk(ignored instanceof WebhookVerificationError, 'not a verification failure')
  t.equal(ignored.eventType, 'payment_intent.succeeded')
  t.notOk(lines.join('').includes(WEBHOOK_SECRET), 'the webhook secret is never logged')
})

t.test('parseWebhook refuses forged, tampered, stale and malformed webhooks', async (t) => {
  let nowMs = Date.now()
  const { sim, provider, receiver } = await setup(t, () => nowMs)
  const created = await provider.createCheckout(input())
  sim.control.completeCheckout(created.providerCheckoutId, 'paid')
  await sim.control.flushWebhooks()
  const genuine = receiver.received.find((r) => r.body.includes('"checkout.session.completed"'))!
  const signature = genuine.headers['stripe-signature'] as string

  const tampered = Buffer.from(genuine.body.toString().replace(created.providerCheckoutId, 'cs_test_someoneelse'))
  await t.rejects(provider.parseWebhook(tampered, genuine.headers), WebhookVerificationError, 'tampered body')
  const forged = signPayload('whsec_attacker', genuine.body.toString(), Math.floor(nowMs / 1000))
  await t.rejects(provider.parseWebhook(genuine.body, { 'stripe-signature': forged }), WebhookVerificationError, 'wrong secret')
  await t.rejects(provider.parseWebhook(genuine.body, {}), WebhookVerificationError, 'no signature')
  await t.rejects(provider.parseWebhook(genuine.body, { 'stripe-signature': [signature, signature] }), WebhookVerificationError, 'two signature headers')
  await t.rejects(provider.parseWebhook(genuine.body, { 'stripe-signature': 'garbage' }), WebhookVerificationError, 'malformed signature')
  await t.rejects(provider.parseWebhook(Buffer.alloc(600 * 1024, 0x20), genuine.headers), WebhookVerificationError, 'oversized body')

  const stale = Stripe.webhooks.generateTestHeaderString({ payload: genuine.body.toString(), secret: WEBHOOK_SECRET, timestamp: Math.floor(nowMs / 1000) - 301 })
  await t.rejects(provider.parseWebhook(genuine.body, { 'stripe-signature': stale }), WebhookVerificationError, 'older than the tolerance: a replay')
  const fresh = Stripe.webhooks.generateTestHeaderString({ payload: genuine.body.toString(), secret: WEBHOOK_SECRET, timestamp: Math.floor(nowMs / 1000) - 299 })
  t.same(await provider.parseWebhook(genuine.body, { 'stripe-signature': fresh }), { providerCheckoutId: created.providerCheckoutId })
  nowMs += 10 * 60 * 1000
  await t.rejects(provider.parseWebhook(genuine.body, genuine.headers), WebhookVerificationError, 'the genuine delivery replayed ten minutes later')

  const sign = (payload: string) => ({ 'stripe-signature': signPayload(WEBHOOK_SECRET, payload, Math.floor(nowMs / 1000)) })
  const notJson = 'not json'
  await t.rejects(provider.parseWebhook(Buffer.from(notJson), sign(notJson)), WebhookVerificationError, 'signed but not JSON')
  const wrongObject = JSON.stringify({ id: 'evt_1', object: 'event', type: 'checkout.session.completed', data: { object: { id: 'pi_123', object: 'payment_intent' } } })
  await t.rejects(provider.parseWebhook(Buffer.from(wrongObject), sign(wrongObject)), WebhookVerificationError, 'names no checkout session')
  const pathy = JSON.stringify({ id: 'evt_2', object: 'event', type: 'checkout.session.completed', data: { object: { id: 'cs_test_../x', object: 'checkout.session' } } })
  await t.rejects(provider.parseWebhook(Buffer.from(pathy), sign(pathy)), WebhookVerificationError, 'a session id with path characters')
})

t.test('the adapter refuses a configuration that would disable checks', async (t) => {
  const { stripe } = await startSimWithClient(t)
  const logger = pino({ level: 'silent' })
  t.throws(() => createStripeProvider({ stripe, webhookSecret: '', logger }), /webhookSecret/)
  t.throws(() => createStripeProvider({ stripe, webhookSecret: WEBHOOK_SECRET, webhookToleranceSeconds: 0, logger }), RangeError)
})
