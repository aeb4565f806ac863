// Refunds to the card through the SumUp adapter against the SumUp simulator
// over real HTTP: the real ledger (one body per engine: a SQLite file and a
// PostgreSQL database), online top-ups booked by online-topups.ts, and the
// refund service (refunds.ts) with its recovery.
// SumUp takes no idempotency key and names no refund in its 204, so the
// adapter tells its refund by reading the transaction before and after, and a
// lost answer is settled by recovery. Hostile answers are ProviderErrors.
import { Writable } from 'node:stream'
import pino from 'pino'
import t, { type Test } from 'tap'
import { startSumUpSim } from '../../simulators/sumup-sim.js'
import { makeWorld, UID } from '../ledger/testing/test-helpers.js'
import { worldEngines, type WorldEngine } from '../testing/world-engines.js'
import { createOnlineTopups } from './online-topups.js'
import { ProviderError, RefundRefusedError } from './provider.js'
import { createCardRefunds } from './refunds.js'
import { SUMUP_REFUND_REASONS } from './sumup-refunds.js'
import { createSumUpProvider } from './sumup.js'

const API_KEY = 'sup_sk_refunds_test_0001'
const operator = { via: 'operator', operator: 'ops' } as const

function capturingLogger() {
  const logs: string[] = []
  const logger = pino({ level: 'debug' }, new Writable({ write(chunk: Buffer, _enc, done) { logs.push(chunk.toString('utf8')); done() } }))
  return { logger, logs }
}

async function refundWorld(t: Test, { engine }: { engine: WorldEngine }) {
  const sim = await startSumUpSim({ apiKey: API_KEY, merchantCode: 'MSIM0001', webhookMode: 'never' })
  t.teardown(() => sim.close())
  const world = makeWorld(engine.database(t))
  t.teardown(() => world.close())
  const { logger, logs } = capturingLogger()
  // A short timeout: a lost answer hangs until the simulator closes.
  const sumup = createSumUpProvider({ apiKey: API_KEY, merchantCode: 'MSIM0001', baseUrl: sim.baseUrl, logger, timeoutMs: 1_000 })
  const providers = { sumup }
  const topups = createOnlineTopups({ db: world.db, ledger: world.ledger, providers, defaultProvider: 'sumup', currency: 'EUR', clock: world.clock, logger, returnUrlBase: 'http://127.0.0.1:9/portal/' })
  const refunds = createCardRefunds({ db: world.db, ledger: world.ledger, providers, currency: 'EUR', clock: world.clock, logger })
  const txnOf = (checkoutId: string) => sim.control.checkout(checkoutId)!.transactions.find((x) => x.status === 'SUCCESSFUL')!.id
  return {
    sim,
    world,
    refunds,
    async topUp(uid: string, cents: number): Promise<string> {
      world.clock.advance(60_000)
      const { checkoutId, providerCheckoutId } = await topups.createCheckout({ uid, amountCents: cents })
      await sim.control.pay(providerCheckoutId)
      const { status } = await topups.checkCheckout({ uid, checkoutId })
      if (status !== 'PAID') throw new Error(`top-up not booked: ${status}`)
      return providerCheckoutId
    },
    /** The refunds SumUp holds for a checkout's transaction, oldest first, amounts in cents. */
    refundsAt: (checkoutId: string) => w(sim.control.refunds(txnOf(checkoutId))),
    balance: (uid: string) => world.ledger.balanceOf(uid)!,
    assertSound(t: Test) {
      t.same(world.ledger.checkInvariants(), [], 'ledger invariants hold')
      t.equal(world.ledger.sumOfAllBalances(), 0, 'all balances sum to 0')
      t.notMatch(logs.join(''), API_KEY, 'the API key is never logged')
    },
  }
}
const w = (events: Array<{ id: number; amount: number; status: string }>) => events.map((e) => ({ id: String(e.id), cents: Math.round(e.amount * 100), status: e.status }))

const engines = await worldEngines(t)

for (const engine of engines) {
  t.test(`${engine.name}: a partial refund is split over two top-ups newest first; pending ones are polled to the end`, async (t) => {
    const h = await refundWorld(t, { engine })
    const start = h.balance(UID.alice)
    const older = await h.topUp(UID.alice, 1000)
    const newer = await h.topUp(UID.alice, 2050)
    h.sim.control.holdRefunds(true)
    const asked = await h.refunds.request({ uid: UID.alice, amountCents: 2550, by: operator })
    t.same(asked.parts.map((p) => [p.amountCents, p.state]), [[2050, 'sent'], [500, 'sent']], 'newest first, each no more than its top-up')
    t.same(h.refundsAt(newer).map((r) => [r.cents, r.status]), [[2050, 'PENDING']], 'the decimal at SumUp is our cents')
    t.same(h.refundsAt(older).map((r) => [r.cents, r.status]), [[500, 'PENDING']])
    t.same(asked.parts.map((p) => p.providerRefundId), [h.refundsAt(newer)[0]!.id, h.refundsAt(older)[0]!.id], 'each part knows its SumUp refund')
    t.equal(h.balance(UID.alice), start + 500)
    for (const r of [...h.refundsAt(newer), ...h.refundsAt(older)]) h.sim.control.settleRefund(Number(r.id), 'REFUNDED')
    await h.refunds.recover()
    t.match(h.refunds.get(asked.id), { state: 'refunded', parts: [{ state: 'succeeded' }, { state: 'succeeded' }] })
    t.equal(h.sim.control.requestCounts.refund, 2, 'no refund sent twice')
    h.assertSound(t)
  })

  t.test(`${engine.name}: a refund the card's bank refuses puts the money back and says why; so does a 409`, async (t) => {
    const h = await refundWorld(t, { engine })
    const start = h.balance(UID.alice)
    const checkout = await h.topUp(UID.alice, 1500)
    h.sim.control.failNextRefunds(1)
    const asked = await h.refunds.request({ uid: UID.alice, amountCents: 1000, by: operator })
    t.match(asked, { state: 'refused', parts: [{ state: 'refused', reason: SUMUP_REFUND_REASONS.failed, providerRefundId: h.refundsAt(checkout)[0]!.id }] })
    t.equal(h.balance(UID.alice), start + 1500, 'the money is back on the wristband')

    // Refunded in SumUp's dashboard meanwhile: SumUp answers 409 and refunds nothing.
    const txn = h.sim.control.checkout(checkout)!.transactions[0]!.id
    const dashboard = await fetch(`${h.sim.baseUrl}/v0.1/me/refund/${txn}`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: '{}' })
    t.equal(dashboard.status, 204)
    const again = await h.refunds.request({ uid: UID.alice, amountCents: 1000, by: operator })
    t.match(again, { state: 'refused', parts: [{ state: 'refused', reason: SUMUP_REFUND_REASONS.notRefundable, providerRefundId: null }] })
    t.equal(h.balance(UID.alice), start + 1500)
    h.assertSound(t)
  })

  t.test(`${engine.name}: a lost answer after SumUp made the refund: asked about, adopted, never refunded twice`, async (t) => {
    const h = await refundWorld(t, { engine })
    const start = h.balance(UID.alice)
    const checkout = await h.topUp(UID.alice, 1000)
    h.sim.control.loseNextRefundAnswers(1)
    const asked = await h.refunds.request({ uid: UID.alice, amountCents: 800, by: operator })
    t.match(asked, { state: 'pending', parts: [{ state: 'sending', providerRefundId: null }] }, 'the outcome is unknown')
    t.same(h.refundsAt(checkout).map((r) => [r.cents, r.status]), [[800, 'REFUNDED']], 'SumUp made it')
    await h.refunds.recover()
    t.match(h.refunds.get(asked.id), { state: 'refunded', parts: [{ state: 'succeeded', providerRefundId: h.refundsAt(checkout)[0]!.id }] }, 'adopted')
    await h.refunds.recover()
    t.equal(h.sim.control.requestCounts.refund, 1, 'never sent again')
    t.equal(h.refundsAt(checkout).length, 1)
    t.equal(h.balance(UID.alice), start + 200)
    h.assertSound(t)
  })

  t.test(`${engine.name}: a 503 before SumUp did anything: asked about, not found, sent again once`, async (t) => {
    const h = await refundWorld(t, { engine })
    const checkout = await h.topUp(UID.alice, 1000)
    h.sim.control.failNextRefundRequests(1)
    const asked = await h.refunds.request({ uid: UID.alice, amountCents: 600, by: operator })
    t.match(asked, { state: 'pending', parts: [{ state: 'sending' }] })
    t.equal(h.refundsAt(checkout).length, 0)
    await h.refunds.recover()
    t.same(h.refundsAt(checkout).map((r) => r.cents), [600], 'one refund')
    t.match(h.refunds.get(asked.id), { state: 'refunded', parts: [{ state: 'succeeded', providerRefundId: h.refundsAt(checkout)[0]!.id }] })
    t.equal(h.sim.control.requestCounts.refund, 2)
    h.assertSound(t)
  })
}

// ---------------------------------------------------------------------------
// Hostile answers, through the adapter's fetch: a paid checkout of txn-1 in EUR, and what `transaction` says.
// No ledger here: the adapter alone, so once, not per engine.

const CHECKOUT = { id: 'co-1', status: 'PAID', amount: 10, currency: 'EUR', checkout_reference: 'r', transactions: [{ id: 'txn-1', status: 'SUCCESSFUL', amount: 10, currency: 'EUR' }] }
const REFUND_EVENT = { id: 9001, transaction_id: 'txn-1', type: 'REFUND', status: 'REFUNDED', amount: 5 }

function hostileSumUp(answers: { checkout?: unknown; transaction: () => unknown; refund?: () => Response }) {
  const fetch = async (url: string | URL | Request): Promise<Response> => {
    const path = new URL(String(url)).pathname
    const json = (body: unknown) => new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } })
    if (path === '/v0.1/checkouts/co-1') return json(answers.checkout ?? CHECKOUT)
    if (path === '/v0.1/me/transactions') return json(answers.transaction())
    return answers.refund?.() ?? new Response(null, { status: 204 })
  }
  return createSumUpProvider({ apiKey: API_KEY, merchantCode: 'M', baseUrl: 'http://127.0.0.1:9', fetch: fetch as typeof globalThis.fetch, logger: capturingLogger().logger }).refunds!
}
const input = { providerCheckoutId: 'co-1', amountCents: 500, currency: 'EUR', requestId: 'p.1' }
/** The transaction without refunds before the POST, then with `events`. */
function afterPost(events: unknown) {
  let calls = 0
  return () => (calls++ === 0 ? { id: 'txn-1', currency: 'EUR', events: [] } : { id: 'txn-1', currency: 'EUR', events })
}

t.test('answers that cannot be trusted are ProviderErrors, never a refund nor a refusal', async (t) => {
  const hostile: Array<[string, () => unknown]> = [
    ['a refund of another transaction', afterPost([{ ...REFUND_EVENT, transaction_id: 'txn-2' }])],
    ['an id that is not a number', afterPost([{ ...REFUND_EVENT, id: '../x' }])],
    ['a negative amount', afterPost([{ ...REFUND_EVENT, amount: -5 }])],
    ['an amount of thousandths', afterPost([{ ...REFUND_EVENT, amount: 5.001 }])],
    ['an unknown status', afterPost([{ ...REFUND_EVENT, status: 'MAYBE' }])],
    ['events not a list', afterPost('none')],
    ['another transaction', () => ({ id: 'txn-2', events: [] })],
    ['no new refund after the 204', afterPost([])],
    ['two new refunds after the 204', afterPost([REFUND_EVENT, { ...REFUND_EVENT, id: 9002 }])],
    ['a refund listed twice', afterPost([REFUND_EVENT, REFUND_EVENT])],
  ]
  for (const [what, transaction] of hostile) await t.rejects(hostileSumUp({ transaction }).refund(input), ProviderError, what)
  await t.rejects(hostileSumUp({ transaction: afterPost([REFUND_EVENT]), checkout: { ...CHECKOUT, transactions: [CHECKOUT.transactions[0], { ...CHECKOUT.transactions[0], id: 'txn-2' }] } }).refund(input), ProviderError, 'two successful transactions')
  await t.rejects(hostileSumUp({ transaction: afterPost([REFUND_EVENT]), checkout: { ...CHECKOUT, id: 'co-2' } }).refund(input), ProviderError, 'another checkout')
  await t.rejects(hostileSumUp({ transaction: afterPost([REFUND_EVENT]), refund: () => new Response('{}', { status: 503 }) }).refund(input), ProviderError, 'a 503')

  t.same(await hostileSumUp({ transaction: afterPost([REFUND_EVENT]) }).refund(input), { id: '9001', amountCents: 500, status: 'succeeded' }, 'a sound answer is taken')
  t.same(await hostileSumUp({ transaction: afterPost([{ ...REFUND_EVENT, status: 'FAILED' }]) }).refund(input), { id: '9001', amountCents: 500, status: 'refused', reason: SUMUP_REFUND_REASONS.failed })
  await t.rejects(hostileSumUp({ transaction: afterPost([]), refund: () => new Response('{"error_code":"CONFLICT"}', { status: 409 }) }).refund(input), new RefundRefusedError(SUMUP_REFUND_REASONS.notRefundable))
  await t.rejects(hostileSumUp({ transaction: afterPost([]), checkout: { ...CHECKOUT, status: 'PENDING' } }).refund(input), RefundRefusedError, 'an unpaid checkout: nothing to refund')
  await t.rejects(hostileSumUp({ transaction: afterPost([]) }).refund({ ...input, currency: 'USD' }), ProviderError, 'another currency: not sent')
})
