// Double entry, recomputed: every booking's postings sum to zero, every
// account's balance is the sum of its postings, all balances sum to zero, and
// every posting belongs to a booking and an account that exist.
import type { SqlDatabase } from '../sql/database.js'
import { finding, type AuditFinding } from './findings.js'

// Portable SQL: HAVING and WHERE name the expressions, since PostgreSQL takes an output column's alias only in ORDER BY.

export function auditBookings(db: SqlDatabase): AuditFinding[] {
  const findings: AuditFinding[] = []
  for (const r of db.prepare<[], { tx_id: string; s: number; n: number }>(`SELECT tx_id, SUM(amount) AS s, COUNT(*) AS n FROM postings GROUP BY tx_id HAVING SUM(amount) <> 0`).all())
    findings.push(finding('booking_unbalanced', { kind: 'booking', id: r.tx_id }, `booking ${r.tx_id}: its ${r.n} postings sum to ${r.s} cents, not 0`))
  for (const r of db
    .prepare<[], { tx_id: string; n: number }>(
      `SELECT p.tx_id, COUNT(*) AS n FROM postings p
       WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.id = p.tx_id) AND NOT EXISTS (SELECT 1 FROM external_bookings e WHERE e.id = p.tx_id)
       GROUP BY p.tx_id`,
    )
    .all())
    findings.push(finding('posting_orphaned', { kind: 'booking', id: r.tx_id }, `${r.n} postings name ${r.tx_id}, which is neither a kiosk transaction nor an external booking`))
  for (const r of db.prepare<[], { id: number; account: string }>(`SELECT p.id, p.account FROM postings p WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = p.account)`).all())
    findings.push(finding('posting_account_missing', { kind: 'account', id: r.account }, `posting ${r.id} names account ${r.account}, which does not exist`))
  for (const r of db
    .prepare<[], { id: string; status: string; n: number }>(
      `SELECT t.id, t.status, COUNT(p.id) AS n FROM transactions t LEFT JOIN postings p ON p.tx_id = t.id GROUP BY t.id
       HAVING (t.status = 'accepted' AND COUNT(p.id) < 2) OR (t.status = 'rejected' AND COUNT(p.id) > 0)`,
    )
    .all()) {
    if (r.status === 'accepted') findings.push(finding('booking_missing_postings', { kind: 'transaction', id: r.id }, `accepted transaction ${r.id} has ${r.n} postings (a booking has at least two)`))
    else findings.push(finding('rejected_with_postings', { kind: 'transaction', id: r.id }, `rejected transaction ${r.id} has ${r.n} postings`))
  }
  for (const r of db
    .prepare<[], { id: string; balance: number; s: number }>(
      `SELECT a.id, a.balance, COALESCE(SUM(p.amount), 0) AS s FROM accounts a LEFT JOIN postings p ON p.account = a.id GROUP BY a.id HAVING a.balance <> COALESCE(SUM(p.amount), 0)`,
    )
    .all())
    findings.push(finding('balance_differs_from_postings', { kind: 'account', id: r.id }, `account ${r.id}: balance ${r.balance} cents, but its postings sum to ${r.s}`))
  const total = db.prepare<[], { s: number }>(`SELECT COALESCE(SUM(balance), 0) AS s FROM accounts`).get()!.s
  if (total !== 0) findings.push(finding('balances_do_not_sum_to_zero', { kind: 'ledger', id: 'accounts' }, `the balances of all accounts sum to ${total} cents, not 0`))
  return findings
}
