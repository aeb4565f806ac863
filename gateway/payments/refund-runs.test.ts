// Refund runs on the real ledger, in a real SQLite file and in a PostgreSQL
// database (one body per engine), with the in-memory refunding provider: who is picked, four eyes, what an open run holds, and
// that execution books each item once and leaves the sending to the refund
// service's recovery loop. The ledger holds after every test.
import t, { type Test } from 'tap'
import { UID, silentLogger, testSetup, verified } from '../ledger/testing/test-helpers.js'
import { createPayoutRuns } from '../payouts/payout-runs.js'
import { createRefundRuns, RefundRunError, type RefundRuns } from './refund-runs.js'
import { worldEngines, type WorldEngine } from '../testing/world-engines.js'
import { startRefundWorld, type RefundWorld } from './testing/refund-world.js'

/** More guests than testSetup's three. */
const MORE = { carol: '04C0C0C0C0C0C0', dave: '04D0D0D0D0D0D0', erin: '04E0E0E0E0E0E0', frank: '04F0F0F0F0F0F0', gina: '04A0A0A0A0A0A0' } as const
const VALID_IBAN = 'DE89370400440532013000'

async function start(t: Test, engine: WorldEngine): Promise<RefundWorld & { runs: RefundRuns }> {
  const w = await startRefundWorld(t, { engine })
  const { kiosks } = w.world
  const setup = testSetup({ 'bar-1': kiosks.bar.keys, 'cash-1': kiosks.cash.keys, 'food-1': kiosks.food.keys })
  setup.offline = { allowed: true, perTagCapCents: 5000, kioskTotalCapCents: 50_000 }
  w.world.ledger.registry.importEventSetup({ ...setup, wristbands: [...setup.wristbands, ...Object.values(MORE).map((uid, i) => ({ uid, pin: `PNQ${"ABCDE"[i]}2345AB` }))] })
  const runs = createRefundRuns({ db: w.world.db, ledger: w.world.ledger, refunds: w.refunds, clock: w.world.clock, logger: silentLogger, allowedCountryCodes: () => ['DE'] })
  return Object.assign(w, { runs })
}

function registerPayoutData(w: RefundWorld, uid: string, iban: string) {
  w.world.db.prepare(`INSERT INTO portal_customers (uid, iban, account_name, email, has_entered_info) VALUES (?, ?, 'Guest', 'g@example.org', 1)`).run(uid, iban)
}

function refused(t: Test, fn: () => unknown, code: string) {
  const err = (() => {
    try {
      fn()
    } catch (e) {
      return e
    }
    return undefined
  })()
  t.ok(err instanceof RefundRunError, `${code}: a refusal`)
  t.equal((err as RefundRunError).code, code)
}

function sale(w: RefundWorld, uid: string, offline = false) {
  const [outcome] = w.world.ledger.applyBatch([verified(w.world.kiosks.bar.sale(uid, [{ product: 'beer', qty: 1, unitPrice: 450 }], offline ? { offline: true } : {}))])
  return outcome?.kind === 'result' ? outcome.result : undefined
}

const engines = await worldEngines(t)

for (const engine of engines) {
  t.test(`${engine.name}: create picks online top-ups without payout data, books nothing, and holds their wristbands`, async (t) => {
    const w = await start(t, engine)
    await w.topUpOnline(UID.alice, 1000)
    w.sellBeer(UID.alice, 1) // 550 left
    await w.topUpOnline(UID.bob, 2000)
    registerPayoutData(w, UID.bob, VALID_IBAN) // a payout run pays bob
    await w.topUpOnline(MORE.carol, 800)
    w.world.ledger.registry.setWristbandBlocked(MORE.carol, true) // lost or disputed: by hand
    // dave topped up at the cash desk only: nothing of it can go back to a card.
    const [cash] = w.world.ledger.applyBatch([verified(w.world.kiosks.cash.topup(MORE.dave, 3000))])
    t.equal(cash?.kind === 'result' && cash.result.status, 'accepted')
    await w.topUpOnline(MORE.erin, 500)
    registerPayoutData(w, MORE.erin, VALID_IBAN)
    const payoutRuns = createPayoutRuns({ db: w.world.db, ledger: w.world.ledger, clock: w.world.clock, logger: silentLogger, allowedCountryCodes: () => ['DE'] })
    const payoutRun = payoutRuns.create({ operator: 'anna' })
    t.same(payoutRun.items.map((i) => i.uid).sort(), [UID.bob, MORE.erin].sort())
    // erin then makes her payout data invalid: she stays in the open payout run, so no refund run takes her.
    w.world.db.prepare(`UPDATE portal_customers SET iban = 'XX00' WHERE uid = ?`).run(MORE.erin)
    await w.topUpOnline(MORE.frank, 300)
    registerPayoutData(w, MORE.frank, 'DE00000000000000000000') // data no payout run can pay to: the card it is
    await w.topUpOnline(MORE.gina, 900)
    w.sellBeer(MORE.gina, 2) // nothing left
    t.equal(w.balance(MORE.gina), 0)

    const money = () => [w.balance(UID.alice), w.balance(MORE.frank), w.clearing(), w.world.ledger.sumOfAllBalances()]
    const before = money()
    const run = w.runs.create({ operator: 'anna' })
    t.match(run, { id: 1, state: 'created', createdBy: 'anna', itemCount: 2, itemSum: 850, bookedCount: 0, bookedSum: 0 })
    t.same(run.items.map((i) => [i.uid, i.amount, i.refundId]), [[UID.alice, 550, null], [MORE.frank, 300, null]])
    t.same(run.events.map((e) => [e.action, e.operator]), [['created', 'anna']])
    t.same(money(), before, 'creating books nothing')
    t.equal(w.provider.refundCalls.length, 0)

    // Held: the till refuses (the payout run's reason), a refund to the card is refused with the run's own.
    t.equal(sale(w, UID.alice)?.reason, 'in_payout_run', 'a sale is refused')
    await t.rejects(w.refunds.request({ uid: UID.alice, by: { via: 'portal' } }), { code: 'in_refund_run' })
    await t.rejects(w.refunds.request({ uid: UID.alice, by: { via: 'operator', operator: 'olga' } }), { code: 'in_refund_run' })
    t.equal(w.balance(UID.alice), 550)
    // Nobody is in two open runs: a second run finds nobody.
    refused(t, () => w.runs.create({ operator: 'ben' }), 'empty_refund_run')
    t.same(w.runs.list().map((r) => r.id), [1], 'the refused run left no trace')
    w.assertSound(t)
  })

  t.test(`${engine.name}: limits: maxCount and maxSum, and hostile values refused before anything`, async (t) => {
    const w = await start(t, engine)
    await w.topUpOnline(UID.alice, 1000)
    await w.topUpOnline(UID.bob, 700)
    await w.topUpOnline(MORE.carol, 200)
    for (const bad of [{ maxCount: 0 }, { maxCount: -1 }, { maxCount: 1.5 }, { maxCount: '1e3' }, { maxSum: '100' }, { maxSum: -5 }, { maxSum: Number.NaN }, { maxSum: 2 ** 60 }])
      refused(t, () => w.runs.create({ operator: 'anna', ...(bad as object) }), 'invalid_refund_run_limits')
    for (const operator of ['', ' anna', 'x'.repeat(65), 'anna\n', 42 as unknown as string]) refused(t, () => w.runs.create({ operator }), 'invalid_operator')
    t.same(w.runs.list(), [], 'nothing made')
    const small = w.runs.create({ operator: 'anna', maxSum: 900 })
    t.same(small.items.map((i) => i.uid), [UID.bob, MORE.carol], 'alice does not fit 900; the next ones do')
    const one = w.runs.create({ operator: 'anna', maxCount: 1 })
    t.same(one.items.map((i) => [i.uid, i.amount]), [[UID.alice, 1000]])
    w.assertSound(t)
  })

  t.test(`${engine.name}: four eyes: the creator cannot approve; cancel frees the wristbands; every step is an event`, async (t) => {
    const w = await start(t, engine)
    await w.topUpOnline(UID.alice, 1000)
    const run = w.runs.create({ operator: 'anna' })
    refused(t, () => w.runs.approve(run.id, 'anna'), 'approver_is_creator')
    refused(t, () => w.runs.execute(run.id, 'ben'), 'refund_run_not_executable')
    refused(t, () => w.runs.get(99), 'unknown_refund_run')
    refused(t, () => w.runs.approve(0, 'ben'), 'unknown_refund_run')
    t.equal(w.runs.approve(run.id, 'ben').state, 'approved')
    refused(t, () => w.runs.approve(run.id, 'carl'), 'refund_run_not_approvable')
    t.equal(sale(w, UID.alice)?.reason, 'in_payout_run', 'held while approved')
    const cancelled = w.runs.cancel(run.id, 'ben')
    t.match(cancelled, { state: 'cancelled', cancelledBy: 'ben' })
    t.same(cancelled.events.map((e) => [e.action, e.operator]), [['created', 'anna'], ['refused', 'anna'], ['approved', 'ben'], ['cancelled', 'ben']])
    t.equal(sale(w, UID.alice)?.status, 'accepted', 'the wristband spends again')
    refused(t, () => w.runs.execute(run.id, 'anna'), 'refund_run_not_executable')
    refused(t, () => w.runs.cancel(run.id, 'anna'), 'refund_run_not_cancellable')
    t.equal(w.provider.refundCalls.length, 0)
    // A new run takes the guest again, with what is left now.
    t.same(w.runs.create({ operator: 'ben' }).items.map((i) => [i.uid, i.amount]), [[UID.alice, 550]])
    w.assertSound(t)
  })

  t.test(`${engine.name}: execute books every item once without calling the provider; the recovery loop sends them; again books nothing`, async (t) => {
    const w = await start(t, engine)
    const aliceCheckouts = [await w.topUpOnline(UID.alice, 1000), await w.topUpOnline(UID.alice, 500)]
    await w.topUpOnline(UID.bob, 700)
    await w.topUpOnline(MORE.carol, 200)
    const run = w.runs.create({ operator: 'anna' })
    w.runs.approve(run.id, 'ben')
    const clearingBefore = w.clearing()
    const done = w.runs.execute(run.id, 'anna')
    t.equal(done.replay, false)
    t.match(done.run, { state: 'executed', executedBy: 'anna', bookedCount: 3, bookedSum: 2400, progress: { pending: 3, notBooked: 0 } })
    t.same([w.balance(UID.alice), w.balance(UID.bob), w.balance(MORE.carol)], [0, 0, 0], 'booked: off the balances')
    t.equal(w.clearing(), clearingBefore + 2400)
    t.equal(w.provider.refundCalls.length, 0, 'no provider call in the execution')
    for (const item of done.run.items) {
      const request = w.refunds.get(item.refundId!)!
      t.match(request, { requestedBy: 'anna', via: 'operator', amountCents: item.amount })
      t.ok(request.parts.every((p) => p.state === 'booked'), `${item.uid}: parts booked, not sent`)
    }
    t.same(w.refunds.get(done.run.items[0]!.refundId!)!.parts.map((p) => p.amountCents), [500, 1000], 'split newest first, as any refund')
    t.equal(sale(w, UID.alice, true)?.status, 'accepted', 'executed: the item no longer holds the wristband (an offline sale goes into debt)')

    const again = w.runs.execute(run.id, 'ben')
    t.equal(again.replay, true)
    t.equal(again.run.bookedSum, 2400)
    t.equal(w.clearing(), clearingBefore + 2400, 'nothing booked again')
    t.same(again.run.events.map((e) => e.action), ['created', 'approved', 'executed', 'executed_again'])

    await w.refunds.recover()
    t.equal(w.provider.refundCalls.length, 4, 'one call per part, sent by the loop')
    t.same(w.provider.refundsHeld(aliceCheckouts[1]!).map((r) => r.amountCents), [500])
    t.same(w.provider.refundsHeld(aliceCheckouts[0]!).map((r) => r.amountCents), [1000])
    t.match(w.runs.get(run.id), { progress: { refunded: 3, pending: 0, refused: 0 } })
    await w.refunds.recover()
    t.equal(w.provider.refundCalls.length, 4, 'nothing sent twice')
    w.assertSound(t)
  })

  t.test(`${engine.name}: a part the provider refuses puts its money back and is listed in the run`, async (t) => {
    const w = await start(t, engine)
    await w.topUpOnline(UID.alice, 1000)
    await w.topUpOnline(UID.bob, 700)
    const run = w.runs.create({ operator: 'anna' })
    w.runs.approve(run.id, 'ben')
    w.runs.execute(run.id, 'ben')
    w.provider.failNext('refuse')
    await w.refunds.recover()
    // The parts were booked at the same time, so which one the loop sends first (and the provider refuses) is not fixed.
    const after = w.runs.get(run.id)
    const refused = after.items.find((i) => i.refundState === 'refused')
    const refunded = after.items.find((i) => i.refundState === 'refunded')
    t.ok(refused !== undefined && refunded !== undefined, 'one part refused, the other refunded')
    const cents: Record<string, number> = { [UID.alice]: 1000, [UID.bob]: 700 }
    t.match(after.progress, { refunded: 1, refused: 1, refusedCents: cents[refused!.uid] })
    t.match(refused, { refusedCents: cents[refused!.uid], refusedReasons: ['the card account is closed'] })
    t.equal(w.balance(refused!.uid), cents[refused!.uid], 'booked back onto the wristband')
    t.equal(w.balance(refunded!.uid), 0)
    t.equal(sale(w, refused!.uid)?.status, 'accepted', 'and it can be spent (or refunded by hand)')
    w.assertSound(t)
  })

  t.test(`${engine.name}: a guest whose balance changed since creation is refunded what still fits, noted; one with nothing left is noted`, async (t) => {
    const w = await start(t, engine)
    await w.topUpOnline(UID.alice, 1000)
    await w.topUpOnline(UID.bob, 400)
    await w.topUpOnline(MORE.carol, 600)
    const run = w.runs.create({ operator: 'anna' })
    w.runs.approve(run.id, 'ben')
    // Offline sales that came in after the run was made (the till could not ask).
    t.equal(sale(w, UID.alice, true)?.status, 'accepted')
    t.equal(sale(w, UID.bob, true)?.status, 'accepted')
    t.equal(w.balance(UID.bob), -50, 'into debt')
    w.world.ledger.registry.setWristbandBlocked(MORE.carol, true)
    const done = w.runs.execute(run.id, 'anna')
    const item = (uid: string) => done.run.items.find((i) => i.uid === uid)!
    t.match(item(UID.alice), { amount: 1000, booked: 550, note: /balance changed since the run was made: 5\.50 of 10\.00/ })
    t.match(item(UID.bob), { amount: 400, booked: null, refundId: null, note: /nothing left/ })
    t.match(item(MORE.carol), { amount: 600, booked: null, note: /blocked/ })
    t.match(done.run, { bookedCount: 1, bookedSum: 550, progress: { notBooked: 2, pending: 1 } })
    t.same([w.balance(UID.alice), w.balance(MORE.carol)], [0, 600])
    w.assertSound(t)
  })

  t.test(`${engine.name}: a guest who registers payout data while in a refund run and lands in a payout run too is paid once`, async (t) => {
    const w = await start(t, engine)
    await w.topUpOnline(UID.alice, 1000)
    await w.topUpOnline(UID.bob, 800)
    const run = w.runs.create({ operator: 'anna' })
    w.runs.approve(run.id, 'ben')
    // Alice saves payout data on the portal afterwards; a payout run takes her (it knows nothing of refund runs).
    registerPayoutData(w, UID.alice, VALID_IBAN)
    const payoutRuns = createPayoutRuns({ db: w.world.db, ledger: w.world.ledger, clock: w.world.clock, logger: silentLogger, allowedCountryCodes: () => ['DE'] })
    t.same(payoutRuns.create({ operator: 'anna' }).items.map((i) => i.uid), [UID.alice])
    const done = w.runs.execute(run.id, 'anna')
    t.match(done.run.items.find((i) => i.uid === UID.alice), { booked: null, refundId: null, note: /in_payout_run/ })
    t.match(done.run.items.find((i) => i.uid === UID.bob), { booked: 800 })
    t.equal(w.balance(UID.alice), 1000, 'left for the payout run')
    w.assertSound(t)
  })
}
