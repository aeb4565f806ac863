// Online top-ups end to end: the real ledger (one body per engine: a SQLite
// file and a PostgreSQL database), the SumUp adapter talking to
// the SumUp simulator over HTTP, and the webhook route on the gateway's own
// HTTP server (createHttpServer), which the simulator calls back.
import { randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import pino from 'pino'
import t, { type Test } from 'tap'
import { startSumUpSim, SIM_SIGNATURE_HEADER, simSignWebhook, type WebhookMode } from '../../simulators/sumup-sim.js'
import { createHttpServer } from '../http.js'
import { makeWorld, UID, type TestWorld } from '../ledger/testing/test-helpers.js'
import { worldEngines, type WorldEngine } from '../testing/world-engines.js'
import { createOnlineTopups, OnlineTopupError, type OnlineTopupAlert, type OnlineTopups } from './online-topups.js'
import type { PaymentProvider } from './provider.js'
import type { SqlDatabase } from '../sql/database.js'
import { createSumUpProvider } from './sumup.js'

const API_KEY = 'sup_sk_test_topups_0123456789'
const SECRET = 'shared-webhook-secret-0123456789'

interface Harness {
  world: TestWorld<SqlDatabase>
  topups: OnlineTopups
  sim: Awaited<ReturnType<typeof startSumUpSim>>
  webhookUrl: string
  alerts: OnlineTopupAlert[]
  logs: string[]
  balance(uid: string): number
  clearing(): number
  /** The guest pays on the hosted page, as a browser would (form post, 303 back to the portal). */
  payInBrowser(redirectUrl: string): Promise<Response>
  post(body: string | Buffer, headers?: Record<string, string>, provider?: string): Promise<Response>
}

async function harness(t: Test, opts: { engine: WorldEngine; webhookMode?: WebhookMode; webhookSecret?: string; provider?: (real: PaymentProvider) => PaymentProvider }): Promise<Harness> {
  const world = makeWorld(opts.engine.database(t))
  t.teardown(() => world.close())
  const logs: string[] = []
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(chunk.toString('utf8'))
        done()
      },
    }),
  )
  const sim = await startSumUpSim({ apiKey: API_KEY, webhookMode: opts.webhookMode ?? 'never', webhookSecret: opts.webhookSecret })
  t.teardown(() => sim.close())

  // The adapter needs the webhook URL, which exists only once the server listens: delegate to it.
  let sumup: PaymentProvider | undefined
  const lazy: PaymentProvider = {
    name: 'sumup',
    createCheckout: (input) => sumup!.createCheckout(input),
    getCheckout: (id) => sumup!.getCheckout(id),
    parseWebhook: (body, headers) => sumup!.parseWebhook(body, headers),
  }
  const alerts: OnlineTopupAlert[] = []
  const topups = createOnlineTopups({
    db: world.db,
    ledger: world.ledger,
    providers: { sumup: opts.provider ? opts.provider(lazy) : lazy },
    defaultProvider: 'sumup',
    currency: 'EUR',
    clock: world.clock,
    logger,
    returnUrlBase: 'http://127.0.0.1:9/portal/topup?lang=en',
    alert: (a) => alerts.push(a),
  })
  const http = createHttpServer({
    logger,
    health: () => ({ mqtt: true, db: true }),
    kioskExists: () => false,
    enrollKiosk: () => {},
    stats: () => {
      throw new Error('unused')
    },
    plugins: [{ plugin: topups.webhookPlugin, prefix: '' }],
  })
  const { port } = await http.listen('127.0.0.1', 0)
  t.teardown(() => http.close())
  const webhookUrl = `http://127.0.0.1:${port}/payments/webhooks/sumup`
  sumup = createSumUpProvider({ apiKey: API_KEY, merchantCode: 'MSIM0001', baseUrl: sim.baseUrl, webhookUrl, webhookSecret: opts.webhookSecret, logger, timeoutMs: 1000 })
  return {
    world,
    topups,
    sim,
    webhookUrl,
    alerts,
    logs,
    balance: (uid) => world.ledger.balanceOf(uid)!,
    clearing: () => world.ledger.accountBalance('clearing:sumup') ?? 0,
    payInBrowser: (redirectUrl) => fetch(`${redirectUrl}/pay`, { method: 'POST', redirect: 'manual' }),
    post: (body, headers = { 'content-type': 'application/json' }, provider = 'sumup') =>
      fetch(`http://127.0.0.1:${port}/payments/webhooks/${provider}`, { method: 'POST', headers, body }),
  }
}

function providerId(h: Harness, checkoutId: string): string {
  return h.topups.checkout(checkoutId)!.providerCheckoutId!
}

function assertLedgerSound(t: Test, h: Harness) {
  t.same(h.world.ledger.checkInvariants(), [], 'ledger invariants hold')
  t.equal(h.world.ledger.sumOfAllBalances(), 0, 'all balances sum to 0')
}

const engines = await worldEngines(t)

for (const engine of engines) {
  t.test(`${engine.name}: pay on the hosted page, poll: booked once, and every later poll books nothing`, async (t) => {
    const h = await harness(t, { engine })
    const before = h.balance(UID.alice)
    const { checkoutId, redirectUrl } = await h.topups.createCheckout({ uid: UID.alice, amountCents: 2000 })
    t.match(checkoutId, /^[0-9a-f-]{36}$/)
    t.same(await h.topups.checkCheckout({ uid: UID.alice, checkoutId }), { status: 'PENDING' })
    const page = await h.payInBrowser(redirectUrl)
    t.equal(page.status, 303)
    const back = new URL(page.headers.get('location')!)
    t.equal(back.searchParams.get('checkout_id'), checkoutId, 'the browser comes back with our checkout id')
    t.equal(back.searchParams.get('lang'), 'en', 'the return URL keeps its own query')
    t.equal(h.balance(UID.alice), before, 'nothing booked before the provider is asked')

    t.same(await h.topups.checkCheckout({ uid: UID.alice, checkoutId }), { status: 'PAID' })
    t.equal(h.balance(UID.alice), before + 2000)
    t.equal(h.clearing(), -2000, 'the money came from the provider clearing account')
    for (let i = 0; i < 3; i++) t.same(await h.topups.checkCheckout({ uid: UID.alice, checkoutId }), { status: 'PAID' })
    await h.topups.reconcilePending()
    t.equal(h.balance(UID.alice), before + 2000, 'still booked once')
    const record = h.topups.checkout(checkoutId)!
    t.equal(record.status, 'paid')
    const booking = h.world.ledger.externalBookingByRef(`sumup:${record.providerCheckoutId}`)!
    t.equal(booking.id, record.bookingId)
    t.equal(booking.kind, 'topup_online')
    t.equal(booking.customerUid, UID.alice)
    t.same(h.alerts, [])
    assertLedgerSound(t, h)
  })

  t.test(`${engine.name}: webhook and poll both confirm: booked once`, async (t) => {
    const h = await harness(t, { engine, webhookMode: 'once' })
    const before = h.balance(UID.bob)
    const { checkoutId, redirectUrl } = await h.topups.createCheckout({ uid: UID.bob, amountCents: 1550 })
    await h.payInBrowser(redirectUrl)
    await h.sim.control.idle()
    t.same(h.sim.control.deliveries.map((d) => d.status), [200], 'the webhook was accepted')
    t.equal(h.topups.checkout(checkoutId)!.status, 'paid', 'the webhook alone booked it')
    t.same(await h.topups.checkCheckout({ uid: UID.bob, checkoutId }), { status: 'PAID' })
    t.equal(h.balance(UID.bob), before + 1550)
    assertLedgerSound(t, h)
  })

  t.test(`${engine.name}: webhooks twice and concurrently, with polls racing them: booked once`, async (t) => {
    const h = await harness(t, { engine, webhookMode: 'twice' })
    const before = h.balance(UID.alice)
    const { checkoutId, redirectUrl } = await h.topups.createCheckout({ uid: UID.alice, amountCents: 1000 })
    await h.payInBrowser(redirectUrl)
    const results = await Promise.all([
      h.sim.control.sendWebhook(providerId(h, checkoutId), 5),
      h.topups.checkCheckout({ uid: UID.alice, checkoutId }),
      h.topups.checkCheckout({ uid: UID.alice, checkoutId }),
      h.topups.reconcilePending(),
      h.topups.reconcilePending(),
      h.topups.handleWebhook('sumup', Buffer.from(JSON.stringify({ event_type: 'CHECKOUT_STATUS_CHANGED', id: providerId(h, checkoutId) })), {}),
    ])
    await h.sim.control.idle()
    t.same(results[0].map((d) => d.status), [200, 200, 200, 200, 200])
    t.ok(h.sim.control.deliveries.every((d) => d.status === 200), 'every delivery answered 200')
    t.equal(h.balance(UID.alice), before + 1000, 'booked exactly once')
    t.equal(h.clearing(), -1000)
    assertLedgerSound(t, h)
  })

  t.test(`${engine.name}: a webhook that arrives while an older status request is running is not lost`, async (t) => {
    let hold: Promise<void> | undefined
    let release: (() => void) | undefined
    const h = await harness(t, { engine,
      provider: (real) => ({
        ...real,
        name: 'sumup',
        getCheckout: async (id) => {
          const reported = await real.getCheckout(id)
          // The first answer ('pending') is held back until the test has paid and sent the webhook.
          if (hold !== undefined) {
            const wait = hold
            hold = undefined
            await wait
          }
          return reported
        },
      }),
    })
    const { checkoutId } = await h.topups.createCheckout({ uid: UID.alice, amountCents: 1300 })
    hold = new Promise<void>((resolve) => (release = resolve))
    const poll = h.topups.checkCheckout({ uid: UID.alice, checkoutId })
    for (let i = 0; i < 100 && hold !== undefined; i++) await new Promise((r) => setImmediate(r))
    t.equal(hold, undefined, 'the poll got its (pending) answer and is held')
    await h.sim.control.pay(providerId(h, checkoutId))
    const hook = h.topups.handleWebhook('sumup', Buffer.from(JSON.stringify({ event_type: 'CHECKOUT_STATUS_CHANGED', id: providerId(h, checkoutId) })), {})
    release!()
    await Promise.all([poll, hook])
    t.equal(h.topups.checkout(checkoutId)!.status, 'paid', 'the webhook made the running confirmation ask again')
    t.equal(h.balance(UID.alice), 1300)
    assertLedgerSound(t, h)
  })

  t.test(`${engine.name}: declined: FAILED, nothing booked`, async (t) => {
    const h = await harness(t, { engine, webhookMode: 'once' })
    const before = h.balance(UID.alice)
    const { checkoutId, redirectUrl } = await h.topups.createCheckout({ uid: UID.alice, amountCents: 3000 })
    const page = await fetch(`${redirectUrl}/decline`, { method: 'POST', redirect: 'manual' })
    t.equal(page.status, 303)
    await h.sim.control.idle()
    t.same(await h.topups.checkCheckout({ uid: UID.alice, checkoutId }), { status: 'FAILED' })
    t.equal(h.balance(UID.alice), before)
    t.equal(h.clearing(), 0)
    // An expired checkout ends the same way.
    const second = await h.topups.createCheckout({ uid: UID.alice, amountCents: 3000 })
    await h.sim.control.expire(providerId(h, second.checkoutId))
    await h.topups.reconcilePending()
    t.same(await h.topups.checkCheckout({ uid: UID.alice, checkoutId: second.checkoutId }), { status: 'FAILED' })
    t.equal(h.balance(UID.alice), before)
    assertLedgerSound(t, h)
  })

  t.test(`${engine.name}: the browser closes midway and no webhook comes: reconcilePending books it`, async (t) => {
    const h = await harness(t, { engine, webhookMode: 'never' })
    const before = h.balance(UID.bob)
    const { checkoutId } = await h.topups.createCheckout({ uid: UID.bob, amountCents: 2500 })
    await h.sim.control.pay(providerId(h, checkoutId))
    t.equal(h.balance(UID.bob), before)
    await h.topups.reconcilePending()
    t.equal(h.topups.checkout(checkoutId)!.status, 'paid')
    t.equal(h.balance(UID.bob), before + 2500)
    // The guest opens the portal the next day: PAID, and nothing more is booked.
    t.same(await h.topups.checkCheckout({ uid: UID.bob, checkoutId }), { status: 'PAID' })
    t.equal(h.balance(UID.bob), before + 2500)
    assertLedgerSound(t, h)
  })

  t.test(`${engine.name}: after a restart (a new instance on the same database) open checkouts are still settled once`, async (t) => {
    const h = await harness(t, { engine })
    const before = h.balance(UID.alice)
    const { checkoutId } = await h.topups.createCheckout({ uid: UID.alice, amountCents: 700 })
    await h.sim.control.pay(providerId(h, checkoutId))
    const provider = createSumUpProvider({ apiKey: API_KEY, merchantCode: 'MSIM0001', baseUrl: h.sim.baseUrl, logger: pino({ level: 'silent' }) })
    const restarted = createOnlineTopups({
      db: h.world.db,
      ledger: h.world.ledger,
      providers: { sumup: provider },
      defaultProvider: 'sumup',
      currency: 'EUR',
      clock: h.world.clock,
      logger: pino({ level: 'silent' }),
      returnUrlBase: 'http://127.0.0.1:9/portal/',
    })
    await restarted.reconcilePending()
    await h.topups.reconcilePending()
    t.equal(h.balance(UID.alice), before + 700)
    // Second lock: even if the row were somehow back at 'pending', the ledger's ref refuses a second booking.
    h.world.db.prepare(`UPDATE online_topups SET status = 'pending', booking_id = NULL WHERE id = ?`).run(checkoutId)
    t.same(await restarted.checkCheckout({ uid: UID.alice, checkoutId }), { status: 'PAID' })
    t.equal(h.balance(UID.alice), before + 700, 'the ledger answered replay, nothing booked twice')
    assertLedgerSound(t, h)
  })

  t.test(`${engine.name}: forged webhooks are refused (with a shared secret) or only trigger a check (without)`, async (t) => {
    t.test('with a shared secret: a bad signature is 400 and asks the provider nothing', async (t) => {
      const h = await harness(t, { engine, webhookMode: 'never', webhookSecret: SECRET })
      const before = h.balance(UID.alice)
      const { checkoutId } = await h.topups.createCheckout({ uid: UID.alice, amountCents: 1200 })
      const id = providerId(h, checkoutId)
      await h.sim.control.pay(id)
      const body = JSON.stringify({ event_type: 'CHECKOUT_STATUS_CHANGED', id })
      const getsBefore = h.sim.control.requestCounts.get ?? 0
      for (const signature of [undefined, simSignWebhook('wrong-secret', body), simSignWebhook(SECRET, body + '\n'), 'sha256=00'])
        for (const res of [await h.post(body, { 'content-type': 'application/json', ...(signature ? { [SIM_SIGNATURE_HEADER]: signature } : {}) })]) {
          t.equal(res.status, 400)
          const error = (await res.json()) as { type: string; id: string; message: string }
          t.equal(error.type, 'invalid_webhook')
          t.type(error.id, 'string')
        }
      t.equal(h.sim.control.requestCounts.get ?? 0, getsBefore, 'no provider call for a forged webhook')
      t.equal(h.topups.checkout(checkoutId)!.status, 'pending')
      t.equal(h.balance(UID.alice), before)
      // The real one, signed by the simulator, books it.
      const delivered = await h.sim.control.sendWebhook(id)
      t.same(delivered.map((d) => d.status), [200])
      t.equal(h.balance(UID.alice), before + 1200)
      assertLedgerSound(t, h)
    })

    t.test('without a secret (SumUp does not sign): a webhook is only a hint, confirmed by GET', async (t) => {
      const h = await harness(t, { engine })
      const before = h.balance(UID.alice)
      const { checkoutId } = await h.topups.createCheckout({ uid: UID.alice, amountCents: 1200 })
      const forged = await h.post(JSON.stringify({ event_type: 'CHECKOUT_STATUS_CHANGED', id: providerId(h, checkoutId) }))
      t.equal(forged.status, 200)
      t.equal(h.topups.checkout(checkoutId)!.status, 'pending', 'the provider says pending, so nothing happens')
      t.equal(h.balance(UID.alice), before)
      const unknown = await h.post(JSON.stringify({ event_type: 'CHECKOUT_STATUS_CHANGED', id: 'not-one-of-ours' }))
      t.equal(unknown.status, 200, 'an unknown checkout is acknowledged and ignored')
      assertLedgerSound(t, h)
    })
  })

  t.test(`${engine.name}: provider down: PENDING, webhook answered 503 so it is retried, booked once it is back`, async (t) => {
    const h = await harness(t, { engine, webhookMode: 'never' })
    const before = h.balance(UID.bob)
    const { checkoutId } = await h.topups.createCheckout({ uid: UID.bob, amountCents: 900 })
    const id = providerId(h, checkoutId)
    await h.sim.control.pay(id)
    h.sim.control.setDown(true)
    t.same(await h.topups.checkCheckout({ uid: UID.bob, checkoutId }), { status: 'PENDING' })
    t.same((await h.sim.control.sendWebhook(id)).map((d) => d.status), [503])
    await h.topups.reconcilePending()
    t.equal(h.balance(UID.bob), before)
    await t.rejects(h.topups.createCheckout({ uid: UID.bob, amountCents: 900 }), { code: 'provider_unavailable', statusCode: 503 })
    t.equal(h.sim.control.checkouts().length, 1, 'no checkout was created while down')

    h.sim.control.failNext(1, 'hang')
    h.sim.control.setDown(false)
    t.same(await h.topups.checkCheckout({ uid: UID.bob, checkoutId }), { status: 'PENDING' }, 'a request that times out leaves it pending')
    await h.topups.reconcilePending()
    t.same(await h.topups.checkCheckout({ uid: UID.bob, checkoutId }), { status: 'PAID' })
    t.equal(h.balance(UID.bob), before + 900)
    assertLedgerSound(t, h)
  })

  t.test(`${engine.name}: the provider reports another amount, currency or reference: not booked, alert`, async (t) => {
    const h = await harness(t, { engine })
    const before = h.balance(UID.alice)
    for (const tampered of [{ amount: 200 }, { currency: 'USD' }, { checkout_reference: randomUUID() }]) {
      const { checkoutId } = await h.topups.createCheckout({ uid: UID.alice, amountCents: 2000 })
      const id = providerId(h, checkoutId)
      h.sim.control.tamper(id, tampered)
      await h.sim.control.pay(id)
      t.same(await h.topups.checkCheckout({ uid: UID.alice, checkoutId }), { status: 'PENDING' })
      t.same(await h.topups.checkCheckout({ uid: UID.alice, checkoutId }), { status: 'PENDING' })
      await h.topups.reconcilePending()
      const record = h.topups.checkout(checkoutId)!
      t.equal(record.status, 'attention')
      t.equal(record.attentionReason, 'provider_mismatch')
    }
    t.equal(h.balance(UID.alice), before, 'nothing booked')
    t.equal(h.alerts.length, 3, 'one alert per checkout, not one per poll')
    t.same(h.alerts.map((a) => a.reason), ['provider_mismatch', 'provider_mismatch', 'provider_mismatch'])
    t.equal(h.topups.needingAttention().length, 3)
    assertLedgerSound(t, h)
  })

  t.test(`${engine.name}: a wristband blocked before the provider confirms: alert, never booked, never twice`, async (t) => {
    const h = await harness(t, { engine, webhookMode: 'twice' })
    const before = h.balance(UID.alice)
    const { checkoutId, redirectUrl } = await h.topups.createCheckout({ uid: UID.alice, amountCents: 4000 })
    h.world.ledger.registry.setWristbandBlocked(UID.alice, true)
    await h.payInBrowser(redirectUrl)
    await h.sim.control.idle()
    t.same(await h.topups.checkCheckout({ uid: UID.alice, checkoutId }), { status: 'PENDING' })
    await h.topups.reconcilePending()
    h.world.ledger.registry.setWristbandBlocked(UID.alice, false)
    await h.topups.reconcilePending()
    await h.sim.control.sendWebhook(providerId(h, checkoutId))
    t.equal(h.balance(UID.alice), before, 'not booked, not even after unblocking: an operator settles it')
    const record = h.topups.checkout(checkoutId)!
    t.equal(record.status, 'attention')
    t.equal(record.attentionReason, 'ledger_refused:tag_blocked')
    t.equal(h.alerts.length, 1)
    t.match(h.alerts[0], { kind: 'online_topup_attention', reason: 'ledger_refused:tag_blocked', checkoutId, uid: UID.alice, amountCents: 4000 })
    t.ok(h.logs.some((l) => l.includes('needs manual attention')), 'the alert is in the log')
    assertLedgerSound(t, h)
  })

  t.test(`${engine.name}: a provider that turns a failed checkout into a paid one: booked once, with an alert`, async (t) => {
    const h = await harness(t, { engine, webhookMode: 'once' })
    const before = h.balance(UID.bob)
    const { checkoutId } = await h.topups.createCheckout({ uid: UID.bob, amountCents: 600 })
    await h.sim.control.decline(providerId(h, checkoutId))
    await h.sim.control.idle()
    t.same(await h.topups.checkCheckout({ uid: UID.bob, checkoutId }), { status: 'FAILED' })
    h.sim.control.force(providerId(h, checkoutId), 'PAID')
    await h.sim.control.idle()
    t.same(await h.topups.checkCheckout({ uid: UID.bob, checkoutId }), { status: 'PAID' })
    t.equal(h.balance(UID.bob), before + 600)
    t.same(h.alerts.map((a) => a.reason), ['paid_after_failed'])
    assertLedgerSound(t, h)
  })

  t.test("a guest can never see another guest's checkout", async (t) => {
    const h = await harness(t, { engine })
    const { checkoutId } = await h.topups.createCheckout({ uid: UID.alice, amountCents: 1000 })
    await h.sim.control.pay(providerId(h, checkoutId))
    const bobBefore = h.balance(UID.bob)
    for (const attempt of [
      { uid: UID.bob, checkoutId },
      { uid: UID.bob, checkoutId: checkoutId.toUpperCase() },
      { uid: UID.bob, checkoutId: randomUUID() },
      { uid: UID.alice, checkoutId: randomUUID() },
      { uid: UID.alice, checkoutId: providerId(h, checkoutId) },
      { uid: UID.alice, checkoutId: "' OR 1=1 --" },
      { uid: UID.alice, checkoutId: '' },
      { uid: UID.alice, checkoutId: 42 as unknown as string },
      { uid: undefined as unknown as string, checkoutId },
    ])
      await t.rejects(h.topups.checkCheckout(attempt), { code: 'not_found', statusCode: 404 }, `not found: ${JSON.stringify(attempt).slice(0, 80)}`)
    t.equal(h.topups.checkout(checkoutId)!.status, 'pending', "bob's attempt did not even confirm alice's checkout")
    t.equal(h.balance(UID.bob), bobBefore)
    t.same(await h.topups.checkCheckout({ uid: UID.alice, checkoutId }), { status: 'PAID' })
  })

  t.test(`${engine.name}: hostile amounts, wristbands and floods are refused before the provider is asked`, async (t) => {
    const h = await harness(t, { engine })
    const bad: Array<[unknown, string]> = [
      [-100, 'invalid_amount'],
      [0, 'invalid_amount'],
      [12.5, 'invalid_amount'],
      [Number.NaN, 'invalid_amount'],
      [Infinity, 'invalid_amount'],
      ['1000', 'invalid_amount'],
      [null, 'invalid_amount'],
      [1e15, 'amount_out_of_range'],
      [Number.MAX_SAFE_INTEGER, 'amount_out_of_range'],
      [99, 'amount_out_of_range'],
      [50_001, 'amount_out_of_range'],
    ]
    for (const [amountCents, code] of bad)
      await t.rejects(h.topups.createCheckout({ uid: UID.alice, amountCents: amountCents as number }), { code, statusCode: 422 }, `${String(amountCents)} -> ${code}`)
    await t.rejects(h.topups.createCheckout({ uid: UID.stranger, amountCents: 1000 }), { code: 'unknown_tag', statusCode: 404 })
    await t.rejects(h.topups.createCheckout({ uid: {} as unknown as string, amountCents: 1000 }), { code: 'unknown_tag' })
    await t.rejects(h.topups.createCheckout({ uid: UID.blocked, amountCents: 1000 }), { code: 'tag_blocked', statusCode: 403 })
    t.equal(h.sim.control.requestCounts.create ?? 0, 0, 'the provider was never asked')

    for (let i = 0; i < 5; i++) await h.topups.createCheckout({ uid: UID.bob, amountCents: 100 })
    await t.rejects(h.topups.createCheckout({ uid: UID.bob, amountCents: 100 }), { code: 'too_many_open_checkouts', statusCode: 429 })
    t.ok(await h.topups.createCheckout({ uid: UID.alice, amountCents: 50_000 }), 'another guest is not affected; the maximum itself is fine')
    h.world.clock.advance(3_600_001)
    t.ok(await h.topups.createCheckout({ uid: UID.bob, amountCents: 100 }), 'an hour later bob may start another')
    t.equal(h.balance(UID.bob), 0)
    assertLedgerSound(t, h)
  })

  t.test(`${engine.name}: malformed and hostile webhook requests change nothing and never crash`, async (t) => {
    const h = await harness(t, { engine })
    const { checkoutId } = await h.topups.createCheckout({ uid: UID.alice, amountCents: 1000 })
    await h.sim.control.pay(providerId(h, checkoutId))
    const cases: Array<[string, string | Buffer, Record<string, string>, string, number]> = [
      ['not JSON', 'hello', { 'content-type': 'application/json' }, 'sumup', 400],
      ['empty', '', { 'content-type': 'application/json' }, 'sumup', 400],
      ['JSON array', '[1,2]', { 'content-type': 'application/json' }, 'sumup', 400],
      ['form body', 'event_type=CHECKOUT_STATUS_CHANGED', { 'content-type': 'application/x-www-form-urlencoded' }, 'sumup', 400],
      ['binary', Buffer.from([0, 1, 2, 255]), { 'content-type': 'application/octet-stream' }, 'sumup', 400],
      ['huge', 'x'.repeat(70 * 1024), { 'content-type': 'application/json' }, 'sumup', 413],
      ['unknown provider', '{}', { 'content-type': 'application/json' }, 'paypal', 404],
      ['prototype key as provider', '{}', { 'content-type': 'application/json' }, '__proto__', 404],
      ['constructor as provider', '{}', { 'content-type': 'application/json' }, 'constructor', 404],
      ['provider name with odd characters', '{}', { 'content-type': 'application/json' }, 'SUMUP%20x', 400],
    ]
    for (const [what, body, headers, provider, status] of cases) {
      const res = await h.post(body, headers, provider)
      t.equal(res.status, status, what)
      const error = (await res.json()) as Record<string, unknown>
      t.same(Object.keys(error).sort(), ['id', 'message', 'type'], `${what}: error body {type, id, message}`)
    }
    await t.rejects(h.topups.handleWebhook('nope', Buffer.from('{}'), {}), OnlineTopupError)
    const otherEvent = await h.post(JSON.stringify({ event_type: 'solo.transaction.updated', payload: { id: 'x' } }))
    t.equal(otherEvent.status, 200, 'a genuine event of another type is acknowledged, so it is not retried')
    t.equal(h.topups.checkout(checkoutId)!.status, 'pending', 'no malformed request settled anything')
    t.equal(h.balance(UID.alice), 0)
    // The route still works after all that.
    const ok = await h.post(JSON.stringify({ event_type: 'CHECKOUT_STATUS_CHANGED', id: providerId(h, checkoutId) }))
    t.same(await ok.json(), { received: true })
    t.equal(h.balance(UID.alice), 1000)
    assertLedgerSound(t, h)
  })

  t.test(`${engine.name}: a checkout whose creation never got an answer is flagged, and a late answer does not revive it`, async (t) => {
    let release: (() => void) | undefined
    const h = await harness(t, { engine,
      provider: (real) => ({
        ...real,
        name: 'sumup',
        createCheckout: async (input) => {
          const created = await real.createCheckout(input)
          await new Promise<void>((resolve) => (release = resolve))
          return created
        },
      }),
    })
    const pending = h.topups.createCheckout({ uid: UID.alice, amountCents: 1000 })
    for (let i = 0; i < 100 && release === undefined; i++) await new Promise((r) => setImmediate(r))
    t.ok(release, 'the provider created the checkout and the answer is held back')
    h.world.clock.advance(11 * 60_000)
    await h.topups.reconcilePending()
    t.same(h.alerts.map((a) => a.reason), ['create_unconfirmed'])
    release!()
    await t.rejects(pending, { code: 'provider_unavailable' })
    const [record] = h.topups.needingAttention()
    t.equal(record?.status, 'attention', 'stays with the operator, not silently failed')
  })

  t.test(`${engine.name}: the reconcile loop books a paid checkout by itself and stops cleanly`, async (t) => {
    const h = await harness(t, { engine })
    const { checkoutId } = await h.topups.createCheckout({ uid: UID.bob, amountCents: 800 })
    await h.sim.control.pay(providerId(h, checkoutId))
    const loop = h.topups.startReconciling(5)
    t.teardown(() => loop.stop())
    // Bounded wait for the loop, not a timing assertion.
    for (let i = 0; i < 400 && h.topups.checkout(checkoutId)!.status !== 'paid'; i++) await new Promise((r) => setTimeout(r, 5))
    await loop.stop()
    t.equal(h.topups.checkout(checkoutId)!.status, 'paid')
    t.equal(h.balance(UID.bob), 800)
    t.throws(() => h.topups.startReconciling(0), RangeError)
    assertLedgerSound(t, h)
  })

  t.test(`${engine.name}: construction refuses nonsense configuration`, async (t) => {
    const world = makeWorld(engine.database(t))
    t.teardown(() => world.close())
    const base = {
      db: world.db,
      ledger: world.ledger,
      providers: {} as Record<string, PaymentProvider>,
      defaultProvider: 'sumup',
      currency: 'EUR',
      clock: world.clock,
      logger: pino({ level: 'silent' }),
      returnUrlBase: 'http://127.0.0.1:9/',
    }
    t.throws(() => createOnlineTopups(base), /default provider/)
    const providers = { sumup: createSumUpProvider({ apiKey: 'k', merchantCode: 'm', logger: base.logger }) }
    t.throws(() => createOnlineTopups({ ...base, providers, minAmountCents: 0 }), RangeError)
    t.throws(() => createOnlineTopups({ ...base, providers, minAmountCents: 500, maxAmountCents: 100 }), RangeError)
    t.throws(() => createOnlineTopups({ ...base, providers, returnUrlBase: 'not a url' }))
    t.throws(() => createOnlineTopups({ ...base, providers: { other: providers.sumup }, defaultProvider: 'other' }), /own name/)
  })

  t.test(`${engine.name}: secrets stay out of the log`, async (t) => {
    const h = await harness(t, { engine, webhookMode: 'once', webhookSecret: SECRET })
    const { redirectUrl } = await h.topups.createCheckout({ uid: UID.alice, amountCents: 1000 })
    await h.payInBrowser(redirectUrl)
    await h.sim.control.idle()
    h.sim.control.setDown(true)
    await h.topups.reconcilePending()
    await h.post('{}', { 'content-type': 'application/json', [SIM_SIGNATURE_HEADER]: 'sha256=' + 'ab'.repeat(32) })
    t.ok(h.logs.length > 0)
    const all = h.logs.join('\n')
    t.notMatch(all, API_KEY)
    t.notMatch(all, SECRET)
  })
}
