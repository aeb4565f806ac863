// The audit on a real gateway ledger file: clean after real signed traffic,
// and each kind of damage, made with plain SQL on the file, found with its code.
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { auditLedgerDatabase } from './audit.js'
import type { AuditFindingCode } from './findings.js'
import { writeAuditedLedger, type AuditedLedgerFile } from './testing/audited-ledger.js'

/** A fresh clean ledger file for one test. */
function ledgerFile(t: Test): AuditedLedgerFile {
  return writeAuditedLedger(t.testdir())
}

/** Changes the file as an attacker or a broken disk would: plain SQL, no triggers, no foreign keys. */
function damage(path: string, sql: string, ...params: unknown[]): void {
  const db = new Database(path)
  db.pragma('foreign_keys = OFF')
  const changed = db.prepare(sql).run(...params).changes
  db.close()
  if (changed === 0) throw new Error(`damage changed nothing: ${sql}`)
}

const codes = (path: string): AuditFindingCode[] => [...new Set(auditLedgerDatabase({ path }).findings.map((f) => f.code))].sort()

t.test('a ledger built from real signed traffic audits clean', async (t) => {
  const { path } = ledgerFile(t)
  const result = auditLedgerDatabase({ path })
  t.same(result.findings, [])
  t.match(result.checked, { kiosks: 4, transactions: 7, externalBookings: 1, debts: 1 })
  t.ok(result.checked.postings > 10)
})
