// A refund whose outcome is unknown (a timeout, a 500, a crash while the
// provider was called) is settled by asking the provider, never by sending it
// blindly again: found there, it is adopted; not found, it is sent once more.
// One body on each engine: a SQLite file and a PostgreSQL database.
import t from 'tap'
import { UID } from '../ledger/testing/test-helpers.js'
import { worldEngines } from '../testing/world-engines.js'
import { startRefundWorld } from './testing/refund-world.js'

const guest = { via: 'portal' } as const

const engines = await worldEngines(t)

for (const engine of engines) {
  t.test(`${engine.name}: a timeout after the provider accepted: the refund is found and adopted, not sent twice`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    const checkout = await w.topUpOnline(UID.alice, 1000)
    w.provider.failNext('timeout_after_recording')
    const asked = await w.refunds.request({ uid: UID.alice, amountCents: 800, by: guest })
    t.match(asked, { state: 'pending', parts: [{ state: 'sending', providerRefundId: null }] }, 'outcome unknown')
    t.equal(w.balance(UID.alice), 200, 'booked before the call')
    await w.refunds.recover()
    const held = w.provider.refundsHeld(checkout)
    t.equal(held.length, 1, 'one refund at the provider')
    t.match(w.refunds.get(asked.id), { state: 'refunded', parts: [{ state: 'succeeded', providerRefundId: held[0]!.id }] })
    t.equal(w.provider.refundCalls.length, 1, 'never sent again')
    await w.refunds.recover()
    t.equal(w.provider.refundCalls.length, 1)
    t.equal(w.balance(UID.alice), 200)
    w.assertSound(t)
  })

  t.test(`${engine.name}: a 500 before the provider recorded anything: sent again, once`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    const checkout = await w.topUpOnline(UID.alice, 1000)
    w.provider.failNext('error_before_recording')
    const asked = await w.refunds.request({ uid: UID.alice, by: guest })
    t.match(asked, { state: 'pending', parts: [{ state: 'sending' }] })
    t.equal(w.provider.refundsHeld(checkout).length, 0)
    await w.refunds.recover()
    t.match(w.refunds.get(asked.id), { state: 'refunded', parts: [{ state: 'succeeded' }] })
    t.same(w.provider.refundsHeld(checkout).map((r) => r.amountCents), [1000], 'one refund')
    t.equal(w.provider.refundCalls.length, 2)
    const [first, second] = w.provider.refundCalls
    t.not(first!.requestId, second!.requestId, 'each attempt its own request id')
    await w.refunds.recover()
    t.equal(w.provider.refundCalls.length, 2, 'done: no third call')
    t.equal(w.balance(UID.alice), 0)
    w.assertSound(t)
  })

  t.test(`${engine.name}: while the provider cannot be asked, a refund of unknown outcome waits; it is never resent unasked`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    const checkout = await w.topUpOnline(UID.alice, 1000)
    w.provider.failNext('timeout_after_recording')
    const asked = await w.refunds.request({ uid: UID.alice, amountCents: 400, by: guest })
    w.provider.listingFails = true
    await w.refunds.recover()
    await w.refunds.recover()
    t.equal(w.refunds.get(asked.id)!.parts[0]!.state, 'sending')
    // A second request on the same payment waits for the first to be settled.
    const second = await w.refunds.request({ uid: UID.alice, amountCents: 300, by: guest })
    t.equal(second.parts[0]!.state, 'booked', 'not sent while another refund of this payment is unknown')
    t.equal(w.provider.refundCalls.length, 1)
    w.provider.listingFails = false
    await w.refunds.recover()
    t.equal(w.refunds.get(asked.id)!.state, 'refunded')
    t.equal(w.refunds.get(second.id)!.state, 'refunded')
    t.same(w.provider.refundsHeld(checkout).map((r) => r.amountCents), [400, 300])
    t.equal(w.provider.refundCalls.length, 2)
    t.equal(w.balance(UID.alice), 300)
    w.assertSound(t)
  })

  t.test(`${engine.name}: a crash while sending: after a restart the refund is found at the provider (or sent, if it is not there)`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    const older = await w.topUpOnline(UID.alice, 1000)
    const newer = await w.topUpOnline(UID.alice, 500)
    // The provider records the newer part, then the gateway "dies" before hearing back; the older
    // part's call never reaches the provider.
    w.provider.failNext('timeout_after_recording', 'error_before_recording')
    const asked = await w.refunds.request({ uid: UID.alice, amountCents: 1200, by: guest })
    t.same(
      asked.parts.map((p) => p.state),
      ['sending', 'sending'],
    )
    w.reopen()
    t.same(
      w.refunds.get(asked.id)!.parts.map((p) => p.state),
      ['sending', 'sending'],
      'the database remembers both as of unknown outcome',
    )
    t.equal(w.balance(UID.alice), 300)
    const stop = w.refunds.startRecovering(3_600_000)
    await stop.stop()
    t.match(w.refunds.get(asked.id), { state: 'refunded' })
    t.same(w.provider.refundsHeld(newer).map((r) => r.amountCents), [500])
    t.same(w.provider.refundsHeld(older).map((r) => r.amountCents), [700])
    t.equal(w.provider.refundCalls.length, 3, 'the newer adopted, the older sent once more')
    t.equal(w.balance(UID.alice), 300)
    w.assertSound(t)
  })

  t.test(`${engine.name}: a crash after booking and before any call: the part is sent after the restart`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    const checkout = await w.topUpOnline(UID.alice, 1000)
    w.provider.failNext('error_before_recording')
    const asked = await w.refunds.request({ uid: UID.alice, amountCents: 250, by: guest })
    // What a crash between the booking's commit and the part's move to 'sending' leaves behind.
    w.world.db.prepare(`UPDATE card_refund_parts SET state = 'booked', attempts = 0`).run()
    w.reopen()
    await w.refunds.recover()
    t.equal(w.refunds.get(asked.id)!.state, 'refunded')
    t.same(w.provider.refundsHeld(checkout).map((r) => r.amountCents), [250])
    t.equal(w.provider.refundCalls.length, 2, 'one call after the restart')
    t.equal(w.balance(UID.alice), 750)
    w.assertSound(t)
  })

  t.test(`${engine.name}: a refund someone made outside wristpay, of another amount, is not adopted`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    const checkout = await w.topUpOnline(UID.alice, 1000)
    // Refunded in the provider's dashboard: 100 of it.
    await w.provider.refunds!.refund({ providerCheckoutId: checkout, amountCents: 100, currency: 'EUR', requestId: 'dashboard' })
    w.provider.failNext('timeout_after_recording')
    const asked = await w.refunds.request({ uid: UID.alice, amountCents: 300, by: guest })
    await w.refunds.recover()
    const held = w.provider.refundsHeld(checkout)
    t.same(held.map((r) => r.amountCents), [100, 300])
    t.equal(w.refunds.get(asked.id)!.parts[0]!.providerRefundId, held[1]!.id, 'ours adopted, not the dashboard one')
    t.equal(w.balance(UID.alice), 700)
    w.assertSound(t)
  })

  t.test(`${engine.name}: a provider that can no longer refund (its configuration changed): the part waits and an operator is alerted`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    await w.topUpOnline(UID.alice, 1000)
    w.provider.failNext('error_before_recording')
    const asked = await w.refunds.request({ uid: UID.alice, amountCents: 400, by: guest })
    const capability = w.provider.refunds
    Object.assign(w.provider, { refunds: undefined })
    await w.refunds.recover()
    t.equal(w.refunds.get(asked.id)!.parts[0]!.state, 'sending', 'still of unknown outcome, not given up')
    t.match(w.alerts, [{ kind: 'card_refund_attention', reason: 'provider_cannot_refund', partId: asked.parts[0]!.id, amountCents: 400 }])
    Object.assign(w.provider, { refunds: capability })
    await w.refunds.recover()
    t.equal(w.refunds.get(asked.id)!.state, 'refunded')
    t.equal(w.provider.refundCalls.length, 2)
    w.assertSound(t)
  })

  t.test(`${engine.name}: of two unlinked refunds of the same amount, the one that went through is adopted, not a refused one`, async (t) => {
    const w = await startRefundWorld(t, { engine })
    const checkout = await w.topUpOnline(UID.alice, 1000)
    // Made outside wristpay and refused by the card's bank.
    w.provider.failNext('pending')
    const outside = await w.provider.refunds!.refund({ providerCheckoutId: checkout, amountCents: 300, currency: 'EUR', requestId: 'dashboard' })
    w.provider.settle(outside.id, 'refused', 'not honoured')
    w.provider.failNext('timeout_after_recording')
    const asked = await w.refunds.request({ uid: UID.alice, amountCents: 300, by: guest })
    await w.refunds.recover()
    const ours = w.provider.refundsHeld(checkout)[1]!
    t.match(w.refunds.get(asked.id), { state: 'refunded', parts: [{ state: 'succeeded', providerRefundId: ours.id }] })
    t.equal(w.balance(UID.alice), 700, 'not booked back: the card got it')
    w.assertSound(t)
  })
}
