// Online top-up through the stancer provider end to end: the real gateway
// (createGateway) configured with payments.stancer pointing at the provider
// simulator, a guest on the portal API's online top-up routes, the hosted
// payment page as a browser uses it, and the simulator's webhooks to the
// gateway's webhook route. Booked exactly once, on the gateway's own
// confirmation with the provider, whether the webhook arrives once, twice or
// never; a forged webhook books nothing.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { startSim, TEST_SECRET_KEY } from '../../simulators/provider-sim/testing/sim-client.js'
import type { WebhookMode } from '../../simulators/provider-sim/index.js'
import { call, login } from '../../portal-api/testing/helpers.js'
import { createGateway } from '../app.js'
import { resolveConfig } from '../config.js'

const UID = '04A1B2C3D4E5F6'
const PIN = 'STNCR23456'

const EVENT = {
  event: { name: 'Test Fest', currency: 'EUR' },
  booths: [{ id: 'bar', name: 'Bar' }],
  products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
  kiosks: [{ id: 'bar-1', booth: 'bar', token: 'token-bar-1-0123456789', saleAllowed: true, topupAllowed: false }],
  wristbands: [{ uid: UID, pin: PIN }],
}

async function stancerGateway(t: Test, webhookMode: WebhookMode) {
  const sim = await startSim(t)
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-stancer-gw-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const eventFile = join(dir, 'event.json')
  if (!existsSync(eventFile)) writeFileSync(eventFile, JSON.stringify(EVENT))
  const config = resolveConfig({
    mqtt: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    dataDir: join(dir, 'data'),
    eventFile,
    adminToken: 'admin-token-for-tests-0123',
    logLevel: 'debug',
    payments: { stancer: { secretKey: TEST_SECRET_KEY, baseUrl: sim.baseUrl } },
  })
  const logs: string[] = []
  const logger = pino({ level: 'debug' }, new Writable({ write(chunk: Buffer, _enc, done) { logs.push(chunk.toString('utf8')); done() } }))
  const gateway = await createGateway({ config, logger })
  t.teardown(() => gateway.stop())
  await gateway.start()
  const httpBase = `http://127.0.0.1:${gateway.httpAddress!.port}`
  sim.controls.setWebhookUrl(`${httpBase}/payments/webhooks/stancer`)
  sim.controls.setWebhookMode(webhookMode)
  const base = `${httpBase}/api`
  const token = await login(base, PIN)
  return {
    sim,
    gateway,
    httpBase,
    logs,
    async topUp(euros: number): Promise<{ checkoutId: string; redirectUrl: string; intentId: string }> {
      const created = await call(base, 'POST', '/sumup/create-checkout', { token, body: { amount: euros } })
      if (created.status !== 200) throw new Error(`create-checkout: ${created.status} ${created.text}`)
      const redirectUrl = created.body.redirect_url as string
      return { checkoutId: created.body.checkout_id, redirectUrl, intentId: new URL(redirectUrl).pathname.split('/').at(-1)! }
    },
    async check(checkoutId: string): Promise<string> {
      const answer = await call(base, 'POST', '/sumup/check-checkout', { token, body: { checkout_id: checkoutId } })
      if (answer.status !== 200) throw new Error(`check-checkout: ${answer.status} ${answer.text}`)
      return answer.body.status as string
    },
    /** The guest's browser on the hosted page: a form post, following nothing. */
    click: (url: string) => fetch(url, { method: 'POST', redirect: 'manual' }),
    balance: () => gateway.ledger.balanceOf(UID)!,
    bookingsOf: (intentId: string) => (gateway.ledger.externalBookingByRef(`stancer:${intentId}`) === undefined ? 0 : 1),
    assertSound(t: Test) {
      t.same(gateway.ledger.checkInvariants(), [], 'ledger invariants hold')
      t.equal(gateway.ledger.sumOfAllBalances(), 0, 'all balances sum to 0')
      t.equal(gateway.ledger.accountBalance('clearing:stancer') ?? 0, -(gateway.ledger.balanceOf(UID) ?? 0), 'the guest\'s money came from the stancer clearing account')
      const text = logs.join('')
      t.ok(text.includes('stancer payment intent created'), 'the log was captured')
      t.notMatch(text, TEST_SECRET_KEY, 'the secret key is never logged')
      t.notMatch(text, Buffer.from(`${TEST_SECRET_KEY}:`).toString('base64'), 'nor its Basic form')
    },
  }
}

t.test('pay on the hosted page without any webhook: booked once on the guest\'s own check', async (t) => {
  const g = await stancerGateway(t, 'none')
  const { checkoutId, redirectUrl, intentId } = await g.topUp(25)
  t.match(intentId, /^pi_[a-zA-Z0-9]{24}$/)
  t.match(g.sim.state.paymentIntents.get(intentId), { amount: 2500, currency: 'eur', methods_allowed: ['card'] })
  t.equal(await g.check(checkoutId), 'PENDING')
  const paid = await g.click(`${redirectUrl}/pay`)
  t.equal(paid.status, 303)
  t.match(paid.headers.get('location'), `${g.httpBase}/portal/`, 'the browser goes back to the portal page')
  t.equal(g.balance(), 0, 'nothing booked on the browser\'s word')
  t.equal(await g.check(checkoutId), 'PAID')
  t.equal(g.balance(), 2500)
  for (let i = 0; i < 3; i += 1) t.equal(await g.check(checkoutId), 'PAID')
  t.equal(g.balance(), 2500, 'booked exactly once')
  t.equal(g.bookingsOf(intentId), 1)
  t.same(g.sim.controls.deliveries(), [], 'no webhook was delivered')
  g.assertSound(t)
})

t.test('the webhook arrives twice: booked once, before the guest even asks', async (t) => {
  const g = await stancerGateway(t, 'twice')
  const { checkoutId, redirectUrl, intentId } = await g.topUp(10)
  await g.click(`${redirectUrl}/pay`)
  await g.sim.controls.flushWebhooks()
  const captured = g.sim.controls.deliveries().filter((d) => d.type === 'payment_intent.captured')
  t.same(captured.map((d) => d.status), [200, 200], 'the intent\'s event delivered twice, both acknowledged')
  t.equal(g.balance(), 1000, 'booked by the webhook\'s confirmation (asked of the provider)')
  t.equal(await g.check(checkoutId), 'PAID')
  t.equal(g.balance(), 1000, 'once')
  t.equal(g.bookingsOf(intentId), 1)
  g.assertSound(t)
})

t.test('a declined card leaves the top-up pending, the guest pays with another card: booked once', async (t) => {
  const g = await stancerGateway(t, 'once')
  const { checkoutId, redirectUrl } = await g.topUp(15)
  const declined = await g.click(`${redirectUrl}/decline`)
  t.equal(declined.status, 402, 'the hosted page says the card was declined')
  await g.sim.controls.flushWebhooks()
  t.equal(await g.check(checkoutId), 'PENDING', 'the intent can still be paid')
  t.equal(g.balance(), 0)
  const paid = await g.click(`${redirectUrl}/pay`)
  t.equal(paid.status, 303)
  await g.sim.controls.flushWebhooks()
  t.equal(await g.check(checkoutId), 'PAID')
  t.equal(g.balance(), 1500)
  g.assertSound(t)
})

t.test('3-D Secure: pending during the challenge, paid once it passes', async (t) => {
  const g = await stancerGateway(t, 'none')
  const { checkoutId, redirectUrl } = await g.topUp(20)
  const challenge = await g.click(`${redirectUrl}/challenge`)
  t.equal(challenge.status, 303)
  t.match(challenge.headers.get('location'), /\/3ds$/)
  t.equal(await g.check(checkoutId), 'PENDING')
  const failed = await g.click(`${redirectUrl}/3ds/fail`)
  t.equal(failed.status, 402)
  t.equal(await g.check(checkoutId), 'PENDING', 'a failed challenge: the guest may try again')
  await g.click(`${redirectUrl}/challenge`)
  const passed = await g.click(`${redirectUrl}/3ds/pass`)
  t.equal(passed.status, 303)
  t.match(passed.headers.get('location'), `checkout_id=`)
  t.equal(await g.check(checkoutId), 'PAID')
  t.equal(g.balance(), 2000)
  g.assertSound(t)
})

t.test('a forged webhook books nothing: the gateway asks the provider, which says pending', async (t) => {
  const g = await stancerGateway(t, 'none')
  const { checkoutId, intentId } = await g.topUp(30)
  const forged = { id: `evnt_${'F'.repeat(24)}`, type: 'payment_intent.captured', created: 1, data: { id: intentId, status: 'captured', amount: 3000 } }
  const post = (body: string) => fetch(`${g.httpBase}/payments/webhooks/stancer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  t.equal((await post(JSON.stringify(forged))).status, 200, 'acknowledged: it may be genuine')
  t.equal(g.balance(), 0, 'nothing booked: the provider says the intent is not paid')
  t.equal((await post('{"type":"payment_intent.captured","data":{"id":"pi_../../x"}}')).status, 400, 'an id that is not one is refused')
  t.equal((await post('<html>')).status, 400)
  t.equal(await g.check(checkoutId), 'PENDING')
  t.equal(g.balance(), 0)
  g.assertSound(t)
})
