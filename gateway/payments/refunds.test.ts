// Refunds to the card on the real ledger, in a real SQLite file and in a
// PostgreSQL database (one body per engine), against the in-memory refunding
// provider: how a request is split, what is refused, and that the ledger
// holds after every step.
import t from 'tap'
import { UID } from '../ledger/testing/test-helpers.js'
import { CardRefundError, refundRef } from './refunds.js'
import { createFakeRefundProvider } from './testing/fake-refund-provider.js'
import { startRefundWorld } from './testing/refund-world.js'
import { worldEngines } from '../testing/world-engines.js'

const guest = { via: 'portal' } as const

const engines = await worldEngines(t)

for (const engine of engines) {
  t.test(`${engine.name}: the whole balance goes back by default, split over the top-ups newest first, each at most its amount`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    const first = await w.topUpOnline(UID.alice, 1000)
    const second = await w.topUpOnline(UID.alice, 2000)
    const third = await w.topUpOnline(UID.alice, 500)
    w.sellBeer(UID.alice, 2)
    t.equal(w.balance(UID.alice), 2600)
    t.same(
      w.refunds.refundable(UID.alice).topups.map((x) => x.remainingCents),
      [500, 2000, 1000],
      'newest first',
    )
    const done = await w.refunds.request({ uid: UID.alice, by: guest })
    t.equal(done.amountCents, 2600)
    t.equal(done.state, 'refunded')
    t.same(
      done.parts.map((p) => [p.amountCents, p.state]),
      [
        [500, 'succeeded'],
        [2000, 'succeeded'],
        [100, 'succeeded'],
      ],
    )
    t.same(w.provider.refundsHeld(third).map((r) => r.amountCents), [500])
    t.same(w.provider.refundsHeld(second).map((r) => r.amountCents), [2000])
    t.same(w.provider.refundsHeld(first).map((r) => r.amountCents), [100])
    t.equal(w.balance(UID.alice), 0)
    t.equal(w.clearing(), -3500 + 2600, 'the provider clearing owes what stayed spent')
    t.equal(w.world.ledger.externalBookingByRef(refundRef(done.parts[0]!.id))?.kind, 'refund')
    t.equal(w.refunds.refundable(UID.alice).maxCents, 0)
    t.same(w.refunds.list(UID.alice).map((r) => r.id), [done.id])
    w.assertSound(t)
  })

  t.test(`${engine.name}: partial amounts: each request takes what the newest top-ups have left`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    const older = await w.topUpOnline(UID.alice, 1000)
    const newer = await w.topUpOnline(UID.alice, 500)
    const one = await w.refunds.request({ uid: UID.alice, amountCents: 300, by: guest })
    t.same(one.parts.map((p) => p.amountCents), [300])
    const two = await w.refunds.request({ uid: UID.alice, amountCents: 400, by: guest })
    t.same(two.parts.map((p) => p.amountCents), [200, 200], 'the newest top-up has 200 left, the rest from the older')
    t.same(w.provider.refundsHeld(newer).map((r) => r.amountCents), [300, 200])
    t.same(w.provider.refundsHeld(older).map((r) => r.amountCents), [200])
    t.equal(w.balance(UID.alice), 800)
    t.equal(w.refunds.refundable(UID.alice).maxCents, 800)
    t.same(w.refunds.list(UID.alice).map((r) => r.id), [two.id, one.id], 'newest first')
    w.assertSound(t)
  })

  t.test(`${engine.name}: refused, nothing booked: nothing refundable, more than the balance or the top-ups, a bad amount, unknown wristband`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    const refused = async (input: Parameters<typeof w.refunds.request>[0], code: string) => {
      const money = () => [w.balance(UID.alice), w.clearing(), w.world.ledger.sumOfAllBalances()]
      const before = money()
      const err = await w.refunds.request(input).then(
        () => undefined,
        (e: unknown) => e,
      )
      t.ok(err instanceof CardRefundError, `${code}: a refusal`)
      t.equal((err as CardRefundError).code, code)
      t.same(money(), before, `${code}: nothing booked`)
    }
    await refused({ uid: UID.alice, by: guest }, 'nothing_refundable')
    await refused({ uid: UID.stranger, by: guest }, 'unknown_tag')
    await w.topUpOnline(UID.alice, 1000)
    w.sellBeer(UID.alice, 1)
    await refused({ uid: UID.alice, amountCents: 551, by: guest }, 'refund_too_large')
    for (const amount of [0, -5, 1.5, Number.NaN, 2 ** 60, '100' as unknown as number]) await refused({ uid: UID.alice, amountCents: amount, by: guest }, 'invalid_amount')
    t.equal(w.provider.refundCalls.length, 0, 'the provider was never called')
    t.same(w.refunds.list(UID.alice), [])

    // Money topped up at the cash desk is not the card's: only the online top-up can go back.
    const [cash] = w.world.ledger.applyBatch([{ envelope: w.world.kiosks.cash.topup(UID.alice, 5000) }])
    t.equal(cash?.kind === 'result' && cash.result.status, 'accepted')
    const err = await w.refunds.request({ uid: UID.alice, amountCents: 1001, by: guest }).catch((e: unknown) => e)
    t.match(err, { code: 'refund_too_large', maxCents: 1000 })
    t.equal((await w.refunds.request({ uid: UID.alice, by: guest })).amountCents, 1000, 'the default takes what the cards can get')
    t.equal(w.balance(UID.alice), 4550)
    w.assertSound(t)
  })

  t.test(`${engine.name}: two requests at once never take the same money twice`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    const checkout = await w.topUpOnline(UID.alice, 3000)
    // Both are booked before either reaches the provider.
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    w.provider.beforeRefund = () => held
    const both = Promise.allSettled([
      w.refunds.request({ uid: UID.alice, amountCents: 2000, by: guest }),
      w.refunds.request({ uid: UID.alice, amountCents: 2000, by: guest }),
      w.refunds.request({ uid: UID.alice, amountCents: 1000, by: guest }),
    ])
    release()
    const [a, b, c] = await both
    t.equal(a.status, 'fulfilled')
    t.match(b, { status: 'rejected', reason: { code: 'refund_too_large', maxCents: 1000 } })
    t.equal(c.status, 'fulfilled')
    t.same(w.provider.refundsHeld(checkout).map((r) => r.amountCents), [2000, 1000])
    t.equal(w.balance(UID.alice), 0)
    w.assertSound(t)
  })

  t.test(`${engine.name}: a wristband in an open payout run is refused: the run pays the same money`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    await w.topUpOnline(UID.alice, 1000)
    w.world.db.prepare(`INSERT INTO payout_runs (id, state, created_by, created_at, payout_count, payout_sum, donation_sum) VALUES (1, 'created', 'op', 0, 1, 1000, 0)`).run()
    w.world.db
      .prepare(`INSERT INTO payout_run_items (run_id, uid, end_to_end_id, iban, account_name, email, amount, donation) VALUES (1, ?, 'E2E-1', 'DE89370400440532013000', 'A', 'a@example.org', 1000, 0)`)
      .run(UID.alice)
    await t.rejects(w.refunds.request({ uid: UID.alice, by: guest }), { code: 'in_payout_run' })
    await t.rejects(w.refunds.request({ uid: UID.alice, by: { via: 'operator', operator: 'olga' } }), { code: 'in_payout_run' })
    t.equal(w.balance(UID.alice), 1000)
    t.equal(w.provider.refundCalls.length, 0)
    // Cancelled: the wristband is free again.
    w.world.db.prepare(`UPDATE payout_run_items SET open = 0`).run()
    t.equal((await w.refunds.request({ uid: UID.alice, by: guest })).state, 'refunded')
    w.assertSound(t)
  })

  t.test(`${engine.name}: a blocked wristband: the guest is refused, an operator may refund it`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    await w.topUpOnline(UID.alice, 1000)
    w.world.ledger.registry.setWristbandBlocked(UID.alice, true)
    await t.rejects(w.refunds.request({ uid: UID.alice, by: guest }), { code: 'wristband_blocked' })
    t.equal(w.balance(UID.alice), 1000)
    const done = await w.refunds.request({ uid: UID.alice, amountCents: 600, by: { via: 'operator', operator: 'olga' } })
    t.match(done, { state: 'refunded', requestedBy: 'olga', via: 'operator', amountCents: 600 })
    t.equal(w.balance(UID.alice), 400)
    w.assertSound(t)
  })

  t.test(`${engine.name}: refused by the provider: the money is booked back onto the wristband and the reason kept`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    await w.topUpOnline(UID.alice, 1000)
    w.provider.failNext('refuse')
    const done = await w.refunds.request({ uid: UID.alice, by: guest })
    t.match(done, { state: 'refused', parts: [{ state: 'refused', reason: 'the card account is closed' }] })
    t.equal(w.balance(UID.alice), 1000, 'all of it back')
    t.equal(w.clearing(), -1000)
    t.equal(w.refunds.refundable(UID.alice).maxCents, 1000, 'a refused part takes nothing from its top-up')
    w.assertSound(t)

    // Pending at first, refused later (found by the recovery's look).
    w.provider.failNext('pending')
    const pending = await w.refunds.request({ uid: UID.alice, amountCents: 700, by: guest })
    t.match(pending, { state: 'pending', parts: [{ state: 'sent' }] })
    t.equal(w.balance(UID.alice), 300)
    await w.refunds.recover()
    t.equal(w.refunds.get(pending.id)!.state, 'pending', 'still pending at the provider')
    w.provider.settle(pending.parts[0]!.providerRefundId!, 'refused', 'expired card\u0000\n')
    await w.refunds.recover()
    t.match(w.refunds.get(pending.id), { state: 'refused', parts: [{ state: 'refused', reason: 'expired card' }] })
    t.equal(w.balance(UID.alice), 1000)
    await w.refunds.recover()
    t.equal(w.balance(UID.alice), 1000, 'booked back once')

    // And one that succeeds later.
    w.provider.failNext('pending')
    const later = await w.refunds.request({ uid: UID.alice, amountCents: 100, by: guest })
    w.provider.settle(later.parts[0]!.providerRefundId!, 'succeeded')
    await w.refunds.recover()
    t.equal(w.refunds.get(later.id)!.state, 'refunded')
    t.equal(w.balance(UID.alice), 900)
    w.assertSound(t)
  })

  t.test(`${engine.name}: only top-ups through a provider that can refund count`, async (t) => {
    const cannot = createFakeRefundProvider('norefund')
    // The same provider without its refund capability.
    const { refunds: _dropped, ...withoutRefunds } = cannot
    const w = await startRefundWorld(t, { engine, otherProviders: { norefund: withoutRefunds as typeof cannot } })
    await w.topUpOnline(UID.alice, 1000)
    w.world.db.prepare(`UPDATE online_topups SET provider = 'norefund'`).run()
    await t.rejects(w.refunds.request({ uid: UID.alice, by: guest }), { code: 'nothing_refundable' })
    t.equal(w.balance(UID.alice), 1000)
    w.assertSound(t)
  })
}
