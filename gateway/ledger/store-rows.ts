// The rows both SQL stores (sqlite-store.ts, pg-store.ts) read from their
// transactions and external_bookings tables, and how a row becomes a booking:
// the tables have the same columns on both databases.
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
