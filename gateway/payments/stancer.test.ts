// The Stancer adapter against the provider simulator over real HTTP: checkouts
// (payment intents) and their statuses, webhooks as hints, and card refunds.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import pino from 'pino'
import t from 'tap'
import { api, startSim, TEST_SECRET_KEY } from '../../simulators/provider-sim/testing/sim-client.js'
import { ProviderError, RefundRefusedError, WebhookIgnoredError, WebhookVerificationError, type CreateCheckoutInput } from './provider.js'
import { createStancerClient } from './stancer-client.js'
import { createStancerProvider, parseStancerWebhookEvent, STANCER_REFUND_NOT_HONORED } from './stancer.js'

type Teardown = { teardown(fn: () => unknown): void }

async function setup(t: Teardown, timeoutMs = 5_000) {
  const sim = await startSim(t)
  const logs: string[] = []
  const logger = pino({ level: 'debug' }, new Writable({ write(chunk: Buffer, _enc, done) { logs.push(chunk.toString('utf8')); done() } }))
  const client = createStancerClient({ secretKey: TEST_SECRET_KEY, baseUrl: sim.baseUrl, timeoutMs })
  const provider = createStancerProvider({ client, logger })
  return { sim, provider, logs }
}

const input = (over: Partial<CreateCheckoutInput> = {}): CreateCheckoutInput => ({
  reference: '0190b5a2-7c1e-7d3a-9f00-123456789abc',
  amountCents: 2500,
  currency: 'EUR',
  description: 'Festival top-up',
  returnUrl: 'http://127.0.0.1:9/portal/topup?checkout_id=x',
  ...over,
})

t.test('a checkout is a payment intent with our id as order_id, paid on the hosted page', async (t) => {
  const { sim, provider, logs } = await setup(t)
  const created = await provider.createCheckout(input())
  t.match(created.providerCheckoutId, /^pi_[a-zA-Z0-9]{24}$/)
  t.equal(created.redirectUrl, `${sim.baseUrl}/pay/${created.providerCheckoutId}`)
  const intent = sim.state.paymentIntents.get(created.providerCheckoutId)!
  t.match(intent, { amount: 2500, currency: 'eur', order_id: input().reference, return_url: input().returnUrl, description: 'Festival top-up', methods_allowed: ['card'], capture: true })
  t.same(await provider.getCheckout(created.providerCheckoutId), { status: 'pending', amountCents: 2500, currency: 'EUR', reference: input().reference })
  const page = await fetch(`${created.redirectUrl}/pay`, { method: 'POST', redirect: 'manual' })
  t.equal(page.status, 303)
  t.equal(page.headers.get('location'), input().returnUrl, 'the guest goes back to our return URL')
  t.same(await provider.getCheckout(created.providerCheckoutId), { status: 'paid', amountCents: 2500, currency: 'EUR', reference: input().reference })
  t.notMatch(logs.join(''), TEST_SECRET_KEY, 'the key is never logged')
})

t.test('the description fits the provider\'s 3..64 characters', async (t) => {
  const { sim, provider } = await setup(t)
  const long = await provider.createCheckout(input({ description: 'x'.repeat(100) }))
  t.equal(sim.state.paymentIntents.get(long.providerCheckoutId)!.description, 'x'.repeat(64))
  const short = await provider.createCheckout(input({ description: 'a' }))
  t.equal(sim.state.paymentIntents.get(short.providerCheckoutId)!.description, 'Top-up')
  await t.rejects(provider.createCheckout(input({ reference: 'r'.repeat(37) })), RangeError, 'order_id holds 36 characters at most')
  await t.rejects(provider.createCheckout(input({ amountCents: 10.5 })), RangeError)
  await t.rejects(provider.createCheckout(input({ returnUrl: 'javascript:alert(1)' })), RangeError)
})

t.test('statuses: a declined card or a failed challenge leaves the intent payable (pending), paid after 3-D Secure, failed once canceled', async (t) => {
  const { sim, provider } = await setup(t)
  const declined = await provider.createCheckout(input())
  sim.controls.payIntent(declined.providerCheckoutId, 'declined')
  t.equal((await provider.getCheckout(declined.providerCheckoutId)).status, 'pending', 'the hosted page offers another card')
  sim.controls.payIntent(declined.providerCheckoutId, 'paid')
  t.equal((await provider.getCheckout(declined.providerCheckoutId)).status, 'paid', 'then paid with another card')

  const challenged = await provider.createCheckout(input())
  sim.controls.payIntent(challenged.providerCheckoutId, 'challenge')
  t.equal((await provider.getCheckout(challenged.providerCheckoutId)).status, 'pending', 'waiting for 3-D Secure')
  sim.controls.completeChallenge(challenged.providerCheckoutId, 'failed')
  t.equal((await provider.getCheckout(challenged.providerCheckoutId)).status, 'pending', 'a failed challenge: try again')
  sim.controls.payIntent(challenged.providerCheckoutId, 'challenge')
  sim.controls.completeChallenge(challenged.providerCheckoutId, 'passed')
  t.equal((await provider.getCheckout(challenged.providerCheckoutId)).status, 'paid')

  const abandoned = await provider.createCheckout(input())
  t.equal((await api(sim, 'DELETE', `/v2/payment_intents/${abandoned.providerCheckoutId}`)).status, 200)
  t.equal((await provider.getCheckout(abandoned.providerCheckoutId)).status, 'failed')

  const disputed = await provider.createCheckout(input())
  sim.controls.payIntent(disputed.providerCheckoutId, 'paid')
  sim.controls.raiseDispute(sim.state.paymentIntents.get(disputed.providerCheckoutId)!.payment!)
  t.equal((await provider.getCheckout(disputed.providerCheckoutId)).status, 'paid', 'a dispute does not unpay a payment (disputes are their own flow)')
  await t.rejects(provider.getCheckout('pi_not-an-id'), RangeError)
})

t.test('a provider that answers something else than asked for, or an intent whose payment disagrees, is not trusted', async (t) => {
  let answer: (body: any) => unknown = (body) => body
  const intentId = `pi_${'B'.repeat(24)}`
  const paymentId = `paym_${'C'.repeat(24)}`
  let payment: Record<string, unknown> = {}
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {}
      const reply = req.url?.startsWith('/v2/payments/') ? payment : answer(body)
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const provider = createStancerProvider({ client: createStancerClient({ secretKey: TEST_SECRET_KEY, baseUrl }), logger: pino({ level: 'silent' }) })
  const intent = (body: any, over: object = {}) => ({ id: intentId, payment: null, status: 'require_payment_method', url: `${baseUrl}/pay/${intentId}`, ...body, ...over })

  answer = (body) => intent(body, { amount: body.amount + 1 })
  await t.rejects(provider.createCheckout(input()), /differs/, 'another amount')
  answer = (body) => intent(body, { order_id: 'someone-else' })
  await t.rejects(provider.createCheckout(input()), /differs/, 'another order')
  answer = (body) => intent(body, { url: 'javascript:alert(1)' })
  await t.rejects(provider.createCheckout(input()), ProviderError, 'a hosted page that is not http(s)')
  answer = (body) => intent(body, { status: 'captured' })
  await t.rejects(provider.createCheckout(input()), ProviderError, 'a new intent that is paid already')

  const stored = { amount: 2500, currency: 'eur', order_id: input().reference }
  answer = () => intent(stored, { status: 'captured', payment: paymentId })
  payment = { id: paymentId, ...stored, status: 'refused' }
  await t.rejects(provider.getCheckout(intentId), /refused/, 'captured intent, refused payment')
  payment = { id: paymentId, ...stored, amount: 1, status: 'captured' }
  await t.rejects(provider.getCheckout(intentId), /differs/, 'a payment of another amount')
  payment = { id: paymentId, ...stored, status: 'captured' }
  t.equal((await provider.getCheckout(intentId)).status, 'paid')
  answer = () => intent(stored, { status: 'captured', payment: null })
  await t.rejects(provider.getCheckout(intentId), ProviderError, 'captured without a payment')
  answer = () => intent(stored, { status: 'exploded' })
  await t.rejects(provider.getCheckout(intentId), /unknown status/)
})

t.test('webhooks are unsigned hints: only a payment intent\'s id is taken, checked', async (t) => {
  const { sim, provider } = await setup(t)
  const hooks: Buffer[] = []
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => { hooks.push(Buffer.concat(chunks)); res.writeHead(200).end() })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => receiver.close(() => resolve())))
  sim.controls.setWebhookUrl(`http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`)
  const created = await provider.createCheckout(input())
  sim.controls.payIntent(created.providerCheckoutId, 'paid')
  await sim.controls.flushWebhooks()
  const named: string[] = []
  let ignored = 0
  for (const body of hooks) {
    try {
      named.push((await provider.parseWebhook(body, {})).providerCheckoutId)
    } catch (err) {
      t.type(err, WebhookIgnoredError, 'the payment\'s own event is ignored, not refused')
      ignored += 1
    }
  }
  t.same(named, [created.providerCheckoutId], 'the intent\'s event names it')
  t.ok(ignored >= 1)

  const event = (o: unknown) => Buffer.from(JSON.stringify(o))
  const pi = `pi_${'D'.repeat(24)}`
  t.same(await provider.parseWebhook(event({ id: `evnt_${'E'.repeat(24)}`, type: 'payment_intent.captured', data: { id: pi, amount: 1e9 } }), {}), { providerCheckoutId: pi }, 'nothing but the id is taken')
  t.same(parseStancerWebhookEvent(event({ type: 'dispute.open', data: { id: `dspt_${'F'.repeat(24)}` } })).object, { prefix: 'dspt', id: `dspt_${'F'.repeat(24)}` }, 'other modules can read other objects\' events')
  await t.rejects(provider.parseWebhook(event({ type: 'refund.refunded', data: { id: `refd_${'F'.repeat(24)}` } }), {}), WebhookIgnoredError)
  await t.rejects(provider.parseWebhook(event({ type: 'customer.created', data: { id: 'x' } }), {}), WebhookIgnoredError, 'an object wristpay does not use')
  for (const bad of [
    Buffer.from('not json'),
    event([1]),
    event({ type: 'payment_intent.captured' }),
    event({ type: 'payment_intent.captured', data: { id: 'pi_short' } }),
    event({ type: 'payment_intent.captured', data: { id: `paym_${'A'.repeat(24)}` } }),
    event({ type: 'PAYMENT INTENT', data: { id: pi } }),
    event({ type: 'payment_intent.captured', data: { id: pi }, pad: 'x'.repeat(20_000) }),
  ]) {
    await t.rejects(provider.parseWebhook(bad, {}), WebhookVerificationError)
  }
})

t.test('refunds: partial, listed with their status, refused by the card\'s bank, and more than is left', async (t) => {
  const { sim, provider } = await setup(t)
  const refunds = provider.refunds!
  const created = await provider.createCheckout(input({ amountCents: 3000 }))
  t.same(await refunds.refundsOf(created.providerCheckoutId), [], 'nothing paid, nothing refunded')
  await t.rejects(refunds.refund({ providerCheckoutId: created.providerCheckoutId, amountCents: 100, currency: 'EUR', requestId: 'r0' }), RefundRefusedError, 'an unpaid intent cannot be refunded')
  sim.controls.payIntent(created.providerCheckoutId, 'paid')
  const paymentId = sim.state.paymentIntents.get(created.providerCheckoutId)!.payment!

  const part = await refunds.refund({ providerCheckoutId: created.providerCheckoutId, amountCents: 1000, currency: 'EUR', requestId: 'r1' })
  t.match(part, { id: /^refd_/, amountCents: 1000, status: 'pending' })
  t.equal(sim.state.refunds.get(part.id)!.payment, paymentId, 'the intent\'s payment was refunded')

  sim.controls.refuseNextRefunds(1)
  const refused = await refunds.refund({ providerCheckoutId: created.providerCheckoutId, amountCents: 500, currency: 'EUR', requestId: 'r2' })
  t.match(refused, { id: /^refd_/, amountCents: 500, status: 'refused', reason: STANCER_REFUND_NOT_HONORED }, 'refused by the card\'s bank: answered with its id, so the caller can link it')
  const tooMuch = await refunds.refund({ providerCheckoutId: created.providerCheckoutId, amountCents: 2001, currency: 'EUR', requestId: 'r3' }).catch((e: unknown) => e)
  t.type(tooMuch, RefundRefusedError, 'more than is left: refused, nothing refunded')
  await t.rejects(refunds.refund({ providerCheckoutId: created.providerCheckoutId, amountCents: 100, currency: 'CHF', requestId: 'r4' }), ProviderError, 'another currency is never sent')

  const listed = await refunds.refundsOf(created.providerCheckoutId)
  t.same(listed.map((r) => [r.amountCents, r.status]), [[1000, 'pending'], [500, 'refused']])
  t.equal(listed[1]!.reason, STANCER_REFUND_NOT_HONORED)
  sim.controls.settleNow()
  t.same((await refunds.refundsOf(created.providerCheckoutId)).map((r) => r.status), ['succeeded', 'refused'], 'paid out: succeeded')
  t.equal([...sim.state.refunds.values()].length, 2, 'only the provider\'s two refunds exist')
})

t.test('a refund the provider made while our call timed out: an unknown outcome, and refundsOf finds it', async (t) => {
  const { sim, provider } = await setup(t, 300)
  const refunds = provider.refunds!
  const created = await provider.createCheckout(input({ amountCents: 3000 }))
  sim.controls.payIntent(created.providerCheckoutId, 'paid')
  sim.controls.timeoutNext('/v2/refunds', { method: 'POST', when: 'after', hangMs: 60_000 })
  const lost = await refunds.refund({ providerCheckoutId: created.providerCheckoutId, amountCents: 1200, currency: 'EUR', requestId: 'r1' }).catch((e: unknown) => e)
  t.type(lost, ProviderError, 'a timeout is not a refusal: the outcome is unknown')
  t.notOk(lost instanceof RefundRefusedError)
  const found = await refunds.refundsOf(created.providerCheckoutId)
  t.same(found.map((r) => [r.amountCents, r.status]), [[1200, 'pending']], 'the provider holds it: the caller adopts it instead of sending again')
})
