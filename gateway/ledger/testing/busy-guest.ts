// Test code only: a guest's festival of every kind of order, booked through
// the ledger (orders-batched.test.ts, orders-engines.test.ts read it back).
import { L, applyOne, type OpsWorld } from './operations-fixtures.js'
import { accountIds } from '../types.js'

/** A guest's festival: top-ups, sales with deposits and discounts, returns, cancels, online top-ups and refunds, some refused. */
export function busyGuest(w: Pick<OpsWorld, 'ledger' | 'kiosks' | 'clock'>, uid: string, rounds: number): void {
  const funded = applyOne(w.ledger, w.kiosks.desk.topup(uid, 100_000))
  if (funded.status !== 'accepted') throw new Error(`funding ${uid} failed: ${funded.reason}`)
  const clearing = w.ledger.ensureAccount('clearing', 'sumup')
  for (let i = 0; i < rounds; i++) {
    // Some orders share a booking time: the tie order must hold too.
    if (i % 3 !== 0) w.clock.advance(1_000)
    applyOne(w.ledger, w.kiosks.bar.cart(uid, [L.beer(1 + (i % 3)), L.cup(), L.happy()]))
    applyOne(w.ledger, w.kiosks.bar.cart(uid, [L.cup(-1)]))
    const sale = w.kiosks.bar.cart(uid, [L.water(2)])
    applyOne(w.ledger, sale)
    if (i % 2 === 0) applyOne(w.ledger, w.kiosks.bar.next({ type: 'cancel', uid, amount: sale.tx.amount }, { ref: sale.tx.id }))
    applyOne(w.ledger, w.kiosks.cash.topup(uid, 500))
    applyOne(w.ledger, w.kiosks.bar.cart(uid, [L.beer(1_000)])) // refused: too little money, no order
    w.ledger.bookExternal({
      ref: `sumup:${uid}:${i}`,
      kind: 'topup_online',
      customerUid: uid,
      postings: [
        { account: clearing, amount: -700 },
        { account: accountIds.customer(uid), amount: 700 },
      ],
    })
    if (i % 4 === 1)
      w.ledger.bookExternal({
        ref: `refund:${uid}:${i}`,
        kind: 'refund',
        customerUid: uid,
        postings: [
          { account: accountIds.customer(uid), amount: -300 },
          { account: clearing, amount: 300 },
        ],
      })
  }
}
