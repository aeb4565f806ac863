// Refunds to the card through the Stancer adapter against the provider
// simulator over real HTTP: the real ledger (one body per engine: a SQLite
// file and a PostgreSQL database), online top-ups
// booked by online-topups.ts, and the refund service (refunds.ts) with its
// recovery. Partial, refused, and a timeout after the provider accepted the
// refund, which must not refund twice.
import { Writable } from 'node:stream'
import pino from 'pino'
import t, { type Test } from 'tap'
import { startSim, TEST_SECRET_KEY } from '../../simulators/provider-sim/testing/sim-client.js'
import { makeWorld, UID } from '../ledger/testing/test-helpers.js'
import { worldEngines, type WorldEngine } from '../testing/world-engines.js'
import { createOnlineTopups } from './online-topups.js'
import { createCardRefunds } from './refunds.js'
import { createStancerClient } from './stancer-client.js'
import { createStancerProvider, STANCER_REFUND_NOT_HONORED } from './stancer.js'

const operator = { via: 'operator', operator: 'ops' } as const

async function refundWorld(t: Test, { engine }: { engine: WorldEngine }) {
  const sim = await startSim(t)
  const world = makeWorld(engine.database(t))
  t.teardown(() => world.close())
  const logs: string[] = []
  const logger = pino({ level: 'debug' }, new Writable({ write(chunk: Buffer, _enc, done) { logs.push(chunk.toString('utf8')); done() } }))
  // Short timeouts: the simulator's injected timeouts hang until it closes.
  const client = createStancerClient({ secretKey: TEST_SECRET_KEY, baseUrl: sim.baseUrl, timeoutMs: 500 })
  const stancer = createStancerProvider({ client, logger })
  const providers = { stancer }
  const topups = createOnlineTopups({ db: world.db, ledger: world.ledger, providers, defaultProvider: 'stancer', currency: 'EUR', clock: world.clock, logger, returnUrlBase: 'http://127.0.0.1:9/portal/' })
  const refunds = createCardRefunds({ db: world.db, ledger: world.ledger, providers, currency: 'EUR', clock: world.clock, logger })
  return {
    sim,
    world,
    refunds,
    logs,
    /** A paid online top-up, booked on our own confirmation; its payment intent id. */
    async topUp(uid: string, cents: number): Promise<string> {
      world.clock.advance(60_000)
      const { checkoutId, providerCheckoutId } = await topups.createCheckout({ uid, amountCents: cents })
      sim.controls.payIntent(providerCheckoutId, 'paid')
      const { status } = await topups.checkCheckout({ uid, checkoutId })
      if (status !== 'PAID') throw new Error(`top-up not booked: ${status}`)
      return providerCheckoutId
    },
    paymentOf: (intentId: string) => sim.state.paymentIntents.get(intentId)!.payment!,
    refundsAt: (intentId: string) => [...sim.state.refunds.values()].filter((r) => r.payment === sim.state.paymentIntents.get(intentId)!.payment),
    balance: (uid: string) => world.ledger.balanceOf(uid)!,
    assertSound(t: Test) {
      t.same(world.ledger.checkInvariants(), [], 'ledger invariants hold')
      t.equal(world.ledger.sumOfAllBalances(), 0, 'all balances sum to 0')
      t.notMatch(logs.join(''), TEST_SECRET_KEY, 'the secret key is never logged')
    },
  }
}

const engines = await worldEngines(t)

for (const engine of engines) {
  t.test(`${engine.name}: a partial refund goes to the newest top-up's payment, pending until the provider pays it out`, async (t) => {
    const w = await refundWorld(t, { engine })
    const start = w.balance(UID.alice)
    const older = await w.topUp(UID.alice, 1000)
    const newer = await w.topUp(UID.alice, 2000)
    const asked = await w.refunds.request({ uid: UID.alice, amountCents: 2500, by: operator })
    t.match(asked, { state: 'pending', amountCents: 2500 })
    t.same(asked.parts.map((p) => [p.amountCents, p.state]), [[2000, 'sent'], [500, 'sent']], 'newest first, each no more than its top-up')
    t.same(w.refundsAt(newer).map((r) => [r.amount, r.status]), [[2000, 'to_refund']])
    t.same(w.refundsAt(older).map((r) => [r.amount, r.status]), [[500, 'to_refund']])
    t.same(asked.parts.map((p) => p.providerRefundId), [w.refundsAt(newer)[0]!.id, w.refundsAt(older)[0]!.id], 'each part knows its provider refund')
    t.equal(w.balance(UID.alice), start + 500)

    w.sim.controls.settleNow()
    await w.refunds.recover()
    t.match(w.refunds.get(asked.id), { state: 'refunded', parts: [{ state: 'succeeded' }, { state: 'succeeded' }] })
    t.equal(w.sim.state.refunds.size, 2, 'no refund sent twice')
    t.equal(w.balance(UID.alice), start + 500)
    w.assertSound(t)
  })

  t.test(`${engine.name}: a refund the card's bank refuses puts the money back and says why`, async (t) => {
    const w = await refundWorld(t, { engine })
    const start = w.balance(UID.alice)
    const intent = await w.topUp(UID.alice, 1500)
    w.sim.controls.refuseNextRefunds(1)
    const asked = await w.refunds.request({ uid: UID.alice, amountCents: 1000, by: operator })
    t.match(asked, { state: 'refused', parts: [{ state: 'refused', reason: STANCER_REFUND_NOT_HONORED }] })
    t.equal(w.balance(UID.alice), start + 1500, 'the money is back on the wristband')
    t.same(w.refundsAt(intent).map((r) => r.status), ['not_honored'])
    t.equal(w.refunds.get(asked.id)!.parts[0]!.providerRefundId, w.refundsAt(intent)[0]!.id, 'the refused refund is linked to its part')
    w.assertSound(t)
  })

  t.test(`${engine.name}: a refused refund is never taken for a later refund of the same amount whose outcome is unknown`, async (t) => {
    const w = await refundWorld(t, { engine })
    const start = w.balance(UID.alice)
    const intent = await w.topUp(UID.alice, 1000)
    w.sim.controls.refuseNextRefunds(1)
    const first = await w.refunds.request({ uid: UID.alice, amountCents: 400, by: operator })
    t.equal(first.state, 'refused')
    w.sim.controls.timeoutNext('/v2/refunds', { method: 'POST', when: 'after', hangMs: 60_000 })
    const second = await w.refunds.request({ uid: UID.alice, amountCents: 400, by: operator })
    t.match(second, { parts: [{ state: 'sending' }] })
    await w.refunds.recover()
    const made = w.refundsAt(intent).find((r) => r.status === 'to_refund')!
    t.match(w.refunds.get(second.id), { state: 'pending', parts: [{ state: 'sent', providerRefundId: made.id }] }, 'the refund the provider made is adopted, not the refused one')
    t.equal(w.balance(UID.alice), start + 600, 'the 400 went to the card once; nothing came back twice')
    t.equal(w.refundsAt(intent).length, 2)
    w.assertSound(t)
  })

  t.test(`${engine.name}: a timeout after the provider accepted the refund: asked about, adopted, never refunded twice`, async (t) => {
    const w = await refundWorld(t, { engine })
    const start = w.balance(UID.alice)
    const intent = await w.topUp(UID.alice, 1000)
    w.sim.controls.timeoutNext('/v2/refunds', { method: 'POST', when: 'after', hangMs: 60_000 })
    const asked = await w.refunds.request({ uid: UID.alice, amountCents: 800, by: operator })
    t.match(asked, { state: 'pending', parts: [{ state: 'sending', providerRefundId: null }] }, 'the outcome is unknown')
    t.equal(w.balance(UID.alice), start + 200, 'booked before the call')
    const held = w.refundsAt(intent)
    t.same(held.map((r) => [r.amount, r.status]), [[800, 'to_refund']], 'the provider made it')

    await w.refunds.recover()
    t.match(w.refunds.get(asked.id), { state: 'pending', parts: [{ state: 'sent', providerRefundId: held[0]!.id }] }, 'adopted')
    await w.refunds.recover()
    // The timed-out request is logged only when its hang ends: any POST logged now would be a second one.
    t.same(w.sim.controls.requests().filter((r) => r.method === 'POST' && r.path === '/v2/refunds'), [], 'never sent again')
    t.equal(w.refundsAt(intent).length, 1, 'one refund at the provider')
    w.sim.controls.settleNow()
    await w.refunds.recover()
    t.match(w.refunds.get(asked.id), { state: 'refunded', parts: [{ state: 'succeeded' }] })
    t.equal(w.balance(UID.alice), start + 200)
    w.assertSound(t)
  })

  t.test(`${engine.name}: a 500 before the provider did anything: asked about, not found, sent again once`, async (t) => {
    const w = await refundWorld(t, { engine })
    const intent = await w.topUp(UID.alice, 1000)
    w.sim.controls.failNext('/v2/refunds', { method: 'POST' })
    const asked = await w.refunds.request({ uid: UID.alice, amountCents: 600, by: operator })
    t.match(asked, { state: 'pending', parts: [{ state: 'sending' }] })
    t.equal(w.refundsAt(intent).length, 0)
    await w.refunds.recover()
    t.same(w.refundsAt(intent).map((r) => r.amount), [600], 'one refund')
    t.match(w.refunds.get(asked.id), { parts: [{ state: 'sent', providerRefundId: w.refundsAt(intent)[0]!.id }] })
    w.assertSound(t)
  })
}
