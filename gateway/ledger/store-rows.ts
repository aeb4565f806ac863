// The rows both SQL stores (sqlite-store.ts, pg-store.ts) read from their
// transactions and external_bookings tables, and how a row becomes a booking:
// the tables have the same columns on both databases.
import type { RejectReason } from '../../device-protocol/index.js'
import type { RecordedTransaction, TransactionRow, TransactionWrite } from './core.js'
import type { StoredExternalBooking } from './store.js'

export interface TxRow {
  id: string
  kiosk: string
  seq: number
  type: string
  tag: string
  amount: number
  status: 'accepted' | 'rejected'
  reason: string | null
  balance_after: number | null
  hash: string
  envelope: string
  booked_at: number
  booth: string
  receipt_id: string | null
  cancelled_by: string | null
  result_extras: string | null
}

export interface ExternalRow {
  id: string
  ref: string
  kind: string
  amount: number
  customer: string | null
  meta: string
  content_hash: string
  receipt_id: string
  booked_at: number
}

/** How many violations of one kind checkInvariants lists before it stops. */
export const MAX_VIOLATIONS_PER_CHECK = 20

export const externalOf = (row: ExternalRow | undefined): StoredExternalBooking | undefined =>
  row === undefined
    ? undefined
    : {
        id: row.id,
        ref: row.ref,
        kind: row.kind,
        amount: row.amount,
        customer: row.customer,
        meta: row.meta,
        contentHash: row.content_hash,
        receiptId: row.receipt_id,
        bookedAt: row.booked_at,
      }

/**
 * A recorded transaction's row as the values of the stores' INSERT INTO
 * transactions (id, kiosk, seq, type, tag, amount, status, reason,
 * balance_after, hash, envelope, booked_at, booth, receipt_id, payment_ref,
 * staff, result_extras, offline), in that order; each store binds `offline`
 * as its database wants it (SQLite 1/0, PostgreSQL a boolean).
 */
export function transactionRowValues<Offline>(row: TransactionRow, offline: (value: boolean) => Offline) {
  return [
    row.id,
    row.kiosk,
    row.seq,
    row.type,
    row.tag,
    row.amount,
    row.status,
    row.reason,
    row.balanceAfter,
    row.hash,
    row.envelope,
    row.bookedAt,
    row.booth,
    row.receiptId,
    row.paymentRef,
    row.staff,
    row.resultExtras,
    offline(row.offline),
  ] as const
}

/** The store refuses a booking whose postings do not sum to zero, though the core never decides one. */
export function assertBalancedPostings({ row, decision }: TransactionWrite): void {
  if (decision.status !== 'accepted') return
  const sum = decision.postings.reduce((s, p) => s + p.amount, 0)
  if (sum !== 0) throw new Error(`unbalanced postings for ${row.id}: they sum to ${sum}`)
}

/** A transaction row as the core reads it back (what it needs to answer a resend). */
export const recordedOf = (row: TxRow): RecordedTransaction => ({
  id: row.id,
  kiosk: row.kiosk,
  seq: row.seq,
  status: row.status,
  reason: row.reason as RejectReason | null,
  balanceAfter: row.balance_after,
  resultExtras: row.result_extras,
  hash: row.hash,
})

/** A row in the shape records.ts builds from. */
export const fieldsOf = (row: TxRow) => ({ ...row, balanceAfter: row.balance_after, bookedAt: row.booked_at, receiptId: row.receipt_id, resultExtras: row.result_extras })
