// Deposits and debts, recomputed from the postings: a transaction moves into
// and out of deposit accounts exactly what its deposit lines say, no deposit
// account is below zero, a customer account is below zero only with a debt,
// and every debt comes from an accepted offline sale no smaller than it.
import type { SqlDatabase } from '../sql/database.js'
import { finding, type AuditFinding } from './findings.js'

export function auditDeposits(db: SqlDatabase): AuditFinding[] {
  const findings: AuditFinding[] = []
  for (const r of db.prepare<[], { id: string; balance: number }>(`SELECT id, balance FROM accounts WHERE kind = 'deposit' AND balance < 0`).all())
    findings.push(finding('deposit_negative', { kind: 'account', id: r.id }, `deposit account ${r.id} is at ${r.balance} cents: more deposits paid back than taken`))
  for (const r of db
    .prepare<[], { id: string; lines: number; posted: number }>(
      // A derived table: PostgreSQL's WHERE cannot name the select list's aliases.
      `SELECT id, lines, posted FROM (
         SELECT t.id,
                (SELECT COALESCE(SUM(li.total), 0) FROM line_items li WHERE li.tx_id = t.id AND li.kind = 'deposit') AS lines,
                (SELECT COALESCE(SUM(p.amount), 0) FROM postings p JOIN accounts a ON a.id = p.account WHERE p.tx_id = t.id AND a.kind = 'deposit') AS posted
         FROM transactions t WHERE t.status = 'accepted') x
       WHERE lines <> posted`,
    )
    .all())
    findings.push(finding('deposit_postings_differ_from_lines', { kind: 'transaction', id: r.id }, `transaction ${r.id}: its deposit lines come to ${r.lines} cents, but it posted ${r.posted} to deposit accounts`))
  return findings
}

export function auditDebts(db: SqlDatabase): AuditFinding[] {
  const findings: AuditFinding[] = []
  for (const r of db
    .prepare<[], { id: string; ref: string; balance: number }>(
      `SELECT id, ref, balance FROM accounts a WHERE kind = 'customer' AND balance < 0 AND NOT EXISTS (SELECT 1 FROM debts d WHERE d.uid = a.ref)`,
    )
    .all())
    findings.push(finding('debt_missing', { kind: 'account', id: r.id }, `wristband ${r.ref} is at ${r.balance} cents without a debt: only an offline sale may take it below zero, and that is flagged`))
  for (const r of db
    .prepare<[], { tx_id: string; kiosk: string; shortfall: number; status: string | null; offline: number | null; tx_kiosk: string | null; amount: number | null }>(
      // offline as 1/0 on both engines (a boolean on PostgreSQL), NULL without a transaction.
      `SELECT d.tx_id, d.kiosk, d.shortfall, t.status, CASE WHEN t.offline IS NULL THEN NULL WHEN t.offline THEN 1 ELSE 0 END AS offline, t.kiosk AS tx_kiosk, t.amount
       FROM debts d LEFT JOIN transactions t ON t.id = d.tx_id`,
    )
    .all()) {
    const debt = { kind: 'debt' as const, id: r.tx_id }
    if (r.status !== 'accepted' || r.offline !== 1 || r.tx_kiosk !== r.kiosk) {
      const what = r.status === null ? 'no stored transaction' : `a ${r.status}${r.offline === 1 ? ' offline' : ' online'} transaction of kiosk ${r.tx_kiosk}`
      findings.push(finding('debt_without_offline_sale', debt, `debt of ${r.shortfall} cents (kiosk ${r.kiosk}) names ${r.tx_id}, ${what}: only an accepted offline sale of that kiosk may leave a debt`))
    } else if (r.amount !== null && r.shortfall > r.amount) {
      findings.push(finding('debt_exceeds_sale', debt, `debt of ${r.shortfall} cents from transaction ${r.tx_id}, a sale of ${r.amount} cents`))
    }
  }
  return findings
}
