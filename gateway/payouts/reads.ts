// What the portal reads of payout runs: whether a guest is in one (and since
// when, or when it was paid), and the payouts booked for them. Plain queries on
// the payout tables of the gateway database.
import type { SqlDatabase } from '../sql/database.js'

export interface GuestPayoutInfo {
  inPayoutRun: boolean
  /** The open run's creation, or the export that paid the guest; null outside any run. */
  payoutDateMs: number | null
}

export interface GuestPayout {
  amountCents: number
  bookedAtMs: number
  accountName: string
  endToEndId: string
  /** The payout booking's receipt id (the guest's orders list shows the same booking). */
  receiptId: string | null
}

export interface PayoutReads {
  payoutInfo(uid: string): GuestPayoutInfo
  payoutTransactions(uid: string): GuestPayout[]
}

export function createPayoutReads(db: SqlDatabase): PayoutReads {
  const q = {
    // The newest run the guest is in that is open or paid; a cancelled run is as if it never was, and so is a
    // payout the bank sent back: the money is on the wristband again and the portal must ask for new payout data.
    latest: db.prepare<[string], { state: string; created_at: number; exported_at: number | null }>(`
      SELECT r.state, r.created_at, r.exported_at FROM payout_run_items i JOIN payout_runs r ON r.id = i.run_id
       WHERE i.uid = ? AND r.state IN ('created', 'approved', 'exported') AND i.returned_at IS NULL ORDER BY r.id DESC LIMIT 1`),
    paid: db.prepare<[string], { amount: number; exported_at: number; account_name: string; end_to_end_id: string; receipt_id: string | null }>(`
      SELECT i.amount, r.exported_at, i.account_name, i.end_to_end_id, i.payout_receipt AS receipt_id
        FROM payout_run_items i JOIN payout_runs r ON r.id = i.run_id
       WHERE i.uid = ? AND r.state = 'exported' AND i.returned_at IS NULL ORDER BY r.id DESC`),
    // An open refund run pays the balance back to the guest's card: for the portal that is a payout run too
    // (its page then locks the payout form: bank data entered now would pay nobody).
    openRefundRun: db.prepare<[string], { created_at: number }>(`
      SELECT r.created_at FROM card_refund_run_items i JOIN card_refund_runs r ON r.id = i.run_id WHERE i.uid = ? AND i.open = 1`),
  }
  return {
    payoutInfo(uid) {
      const row = typeof uid === 'string' ? q.latest.get(uid) : undefined
      if (row === undefined) {
        const refundRun = typeof uid === 'string' ? q.openRefundRun.get(uid) : undefined
        return refundRun === undefined ? { inPayoutRun: false, payoutDateMs: null } : { inPayoutRun: true, payoutDateMs: refundRun.created_at }
      }
      return { inPayoutRun: true, payoutDateMs: row.state === 'exported' ? row.exported_at : row.created_at }
    },
    payoutTransactions(uid) {
      if (typeof uid !== 'string') return []
      return q.paid.all(uid).map((row) => ({
        amountCents: row.amount,
        bookedAtMs: row.exported_at,
        accountName: row.account_name,
        endToEndId: row.end_to_end_id,
        receiptId: row.receipt_id,
      }))
    },
  }
}
