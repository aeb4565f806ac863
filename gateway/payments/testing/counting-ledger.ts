// For the payments modules' tests on a bare database of either engine
// (gateway/testing/sql-engines.ts): the part of the ledger card refunds and
// refund runs ask, counting its bookings, and paid top-ups written as
// online-topups.ts writes them. refund-world.ts has the real ledger. Test code only.
import type { SqlDatabase } from '../../sql/database.js'
import type { CardRefundDeps } from '../refunds.js'

/** Wristbands with the balances `balanceOf` gives (undefined: no such wristband), none blocked or in a payout run. */
export function countingLedger(balanceOf: (uid: string) => number | undefined): CardRefundDeps['ledger'] & { bookings: number } {
  const ledger = {
    bookings: 0,
    wristband: (uid: string) => {
      const balance = balanceOf(uid)
      return balance === undefined ? undefined : { balance, blocked: false }
    },
    ensureAccount: (kind: string, ref: string) => `${kind}:${ref}`,
    bookExternal: () => ({ id: `booking-${++ledger.bookings}` }),
    registry: { wristband: () => ({ inPayoutRun: false }) },
  }
  return ledger as unknown as CardRefundDeps['ledger'] & { bookings: number }
}

export function paidTopup(db: SqlDatabase, id: string, uid: string, amount: number, at: number): void {
  db.prepare(
    `INSERT INTO online_topups (id, provider, provider_checkout_id, uid, amount, currency, status, booking_id, created_at, updated_at)
     VALUES (?, 'sim', ?, ?, ?, 'EUR', 'paid', ?, ?, ?)`,
  ).run(id, `chk-${id}`, uid, amount, `topup-booking-${id}`, at, at)
}
