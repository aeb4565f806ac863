// Money that did not come from a kiosk: every external booking moves what it
// records and shares no id with a kiosk transaction, and every record that
// says it booked money (a paid online top-up, a refund part, a payout or its
// donation) names a booking that exists, no booking named by two of them.
import type { SqlDatabase } from '../sql/database.js'
import { dialectOf } from '../sql/dialect.js'
import { finding, type AuditFinding, type AuditObject } from './findings.js'

/** A table whose rows name the external booking that moved their money. */
interface BookingReference {
  table: string
  object: AuditObject['kind']
  /** SQL for the row's id as the finding names it. */
  idSql: string
  bookingColumn: string
  /** Whether the column holds the booking's id or its ref (the caller's idempotency key). */
  names: 'id' | 'ref'
  what: string
}

const REFERENCES: readonly BookingReference[] = [
  { table: 'online_topups', object: 'online_topup', idSql: 'id', bookingColumn: 'booking_id', names: 'id', what: 'online top-up' },
  { table: 'card_refund_parts', object: 'refund_part', idSql: 'id', bookingColumn: 'booking_id', names: 'id', what: 'refund part' },
  { table: 'payout_run_items', object: 'payout_item', idSql: `run_id || ':' || uid`, bookingColumn: 'payout_booking', names: 'id', what: 'payout' },
  { table: 'payout_run_items', object: 'payout_item', idSql: `run_id || ':' || uid`, bookingColumn: 'donation_booking', names: 'id', what: 'payout donation' },
  { table: 'provider_payouts', object: 'provider_payout', idSql: `provider || ':' || id`, bookingColumn: 'booking_id', names: 'id', what: 'provider payout' },
  { table: 'disputes', object: 'dispute', idSql: `provider || ':' || id`, bookingColumn: 'booking_id', names: 'id', what: 'dispute' },
  { table: 'disputes', object: 'dispute', idSql: `provider || ':' || id`, bookingColumn: 'reversal_booking_id', names: 'id', what: 'dispute reversal' },
  { table: 'users_api_payments', object: 'users_api_payment', idSql: 'seq', bookingColumn: 'booking_id', names: 'id', what: 'users-API payment' },
  { table: 'bank_import_transactions', object: 'bank_transaction', idSql: `job_id || ':' || idx`, bookingColumn: 'booking_ref', names: 'ref', what: 'bank statement line' },
]

export function auditExternalBookings(db: SqlDatabase): AuditFinding[] {
  const findings: AuditFinding[] = []
  const dialect = dialectOf(db)
  for (const r of db
    .prepare<[], { id: string; ref: string; amount: number; n: number; moved: number }>(
      `SELECT e.id, e.ref, e.amount, COUNT(p.id) AS n, COALESCE(SUM(CASE WHEN p.amount > 0 THEN p.amount ELSE 0 END), 0) AS moved
       FROM external_bookings e LEFT JOIN postings p ON p.tx_id = e.id GROUP BY e.id
       HAVING COUNT(p.id) < 2 OR COALESCE(SUM(CASE WHEN p.amount > 0 THEN p.amount ELSE 0 END), 0) <> e.amount`,
    )
    .all()) {
    const booking = { kind: 'external_booking' as const, id: r.id }
    if (r.n < 2) findings.push(finding('booking_missing_postings', booking, `external booking ${r.id} (${r.ref}) has ${r.n} postings (a booking has at least two)`))
    else findings.push(finding('external_amount_differs', booking, `external booking ${r.id} (${r.ref}) records ${r.amount} cents, but its postings move ${r.moved}`))
  }
  for (const r of db
    .prepare<[], { id: string; ref: string }>(
      `SELECT e.id, e.ref FROM external_bookings e WHERE EXISTS (SELECT 1 FROM transactions t WHERE t.id = e.id OR t.receipt_id = e.receipt_id)`,
    )
    .all())
    findings.push(finding('external_id_reused', { kind: 'external_booking', id: r.id }, `external booking ${r.id} (${r.ref}) shares its id or receipt with a kiosk transaction`))
  // Who claims which booking, over every referencing table: a booking claimed twice is money counted twice.
  const claims = new Map<string, string[]>()
  for (const ref of REFERENCES) {
    if (!dialect.tableExists(db, ref.table)) continue
    for (const r of db
      .prepare<[], { row_id: string; booking: string; known: number }>(
        `SELECT ${ref.idSql} AS row_id, ${ref.bookingColumn} AS booking, CASE WHEN EXISTS (SELECT 1 FROM external_bookings e WHERE e.${ref.names} = x.${ref.bookingColumn}) THEN 1 ELSE 0 END AS known
         FROM ${ref.table} x WHERE ${ref.bookingColumn} IS NOT NULL`,
      )
      .all()) {
      const label = `${ref.what} ${r.row_id}`
      if (r.known !== 1) findings.push(finding('external_reference_missing', { kind: ref.object, id: String(r.row_id) }, `${label} names booking ${ref.names} ${r.booking}, which does not exist`))
      const key = `${ref.names}:${r.booking}`
      claims.set(key, [...(claims.get(key) ?? []), label])
    }
  }
  for (const [key, by] of claims) {
    const booking = key.slice(key.indexOf(':') + 1)
    if (by.length > 1) findings.push(finding('external_reference_duplicate', { kind: 'external_booking', id: booking }, `booking ${booking} is claimed by ${by.length} records: ${by.join(', ')}`))
  }
  return findings
}
