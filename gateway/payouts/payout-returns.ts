// The payout runs' side of a returned transfer, for the bank import
// (gateway/bank/ books the money back onto the wristband): find the payout an
// end-to-end id names, and once the return is booked, mark the payout returned
// and the guest's payout data invalid, so no later run sends money to that
// account again and the portal asks the guest for new data.
import type { SqlDatabase } from '../sql/database.js'
import type { Clock } from '../../device-protocol/index.js'
import { accountIds } from '../ledger/index.js'
import { isEndToEndId } from './end-to-end-id.js'
import { PAYOUT_ACCOUNT_REF } from './payout-runs.js'

export interface ReturnedPayoutFacts {
  uid: string
  /** What was paid out, cents. */
  amountCents: number
  /** The account the payout was booked to. */
  account: string
}

export interface PayoutReturnsPort {
  findPayoutByEndToEndId(endToEndId: string): ReturnedPayoutFacts | undefined
  /** Called in the SQLite transaction that books the return. */
  markPayoutReturned(endToEndId: string, info: { amountCents: number; checksum: string }): void
}

export function createPayoutReturns({ db, clock }: { db: SqlDatabase; clock: Clock }): PayoutReturnsPort {
  const q = {
    // Only a payout that was booked (its run exported) can come back.
    exported: db.prepare<[string], { run_id: number; uid: string; amount: number }>(`
      SELECT i.run_id, i.uid, i.amount FROM payout_run_items i JOIN payout_runs r ON r.id = i.run_id
       WHERE i.end_to_end_id = ? AND r.state = 'exported' AND i.payout_booking IS NOT NULL`),
    markReturned: db.prepare(`UPDATE payout_run_items SET returned_at = COALESCE(returned_at, ?) WHERE end_to_end_id = ?`),
    invalidate: db.prepare(`UPDATE portal_customers SET iban = NULL, has_entered_info = 0, updated_at = ? WHERE uid = ?`),
    event: db.prepare(`INSERT INTO payout_run_events (run_id, action, operator, at, detail) VALUES (?, 'returned', 'bank', ?, ?)`),
  }
  return {
    findPayoutByEndToEndId(endToEndId) {
      const row = isEndToEndId(endToEndId) ? q.exported.get(endToEndId) : undefined
      return row === undefined ? undefined : { uid: row.uid, amountCents: row.amount, account: accountIds.payout(PAYOUT_ACCOUNT_REF) }
    },
    markPayoutReturned(endToEndId, info) {
      const row = isEndToEndId(endToEndId) ? q.exported.get(endToEndId) : undefined
      if (row === undefined) throw new Error(`no exported payout ${JSON.stringify(String(endToEndId).slice(0, 40))}`)
      const now = clock.now()
      q.markReturned.run(now, endToEndId)
      // The bank refused the account: the guest enters their data again before a later run pays them.
      q.invalidate.run(now, row.uid)
      q.event.run(row.run_id, now, JSON.stringify({ endToEndId, uid: row.uid, amountCents: info.amountCents, checksum: String(info.checksum).slice(0, 80) }))
    },
  }
}
