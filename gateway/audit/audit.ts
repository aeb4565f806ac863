// The audit: recomputes from what the gateway's database stores whatever can
// be recomputed (signatures, chains, double entry, deposits, debts, external
// bookings against their references) and reports what does not add up. It
// only reads: the file is opened read-only and every check runs in one read
// transaction, so a running gateway (WAL) keeps writing and the audit sees one
// consistent snapshot.
import Database from 'better-sqlite3'
import { auditBookings } from './bookings.js'
import { auditDebts, auditDeposits } from './deposits-debts.js'
import { auditExternalBookings } from './external-bookings.js'
import type { AuditFinding } from './findings.js'
import { auditKioskChain, type KeyPeriod, type StoredKiosk, type StoredTransaction } from './kiosk-chains.js'

export interface AuditCounts {
  kiosks: number
  transactions: number
  postings: number
  accounts: number
  externalBookings: number
  debts: number
}

export interface AuditResult {
  findings: AuditFinding[]
  checked: AuditCounts
}

export type AuditSource = { db: Database.Database } | { path: string }

/** Opens a ledger file for reading only; throws (SQLite's error) when it cannot be read. */
export function openLedgerReadOnly(path: string): Database.Database {
  return new Database(path, { readonly: true, fileMustExist: true })
}

function auditKioskChains(db: Database.Database): AuditFinding[] {
  const kiosks = db.prepare<[], { id: string; public_key: string | null; next_seq: number; last_hash: string }>(`SELECT id, public_key, next_seq, last_hash FROM kiosks ORDER BY id`).all()
  const byKiosk = db.prepare<[string], StoredTransaction>(`SELECT id, kiosk, seq, type, tag, amount, hash, envelope FROM transactions WHERE kiosk = ? ORDER BY seq`)
  // A file from before migration 22 (audited without migrating) has no history: the current key alone.
  const hasHistory = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kiosk_key_history'`).get() !== undefined
  const history = hasHistory
    ? db.prepare<[string], { public_key: string; from_seq: number; source: string }>(`SELECT public_key, from_seq, source FROM kiosk_key_history WHERE kiosk_id = ? ORDER BY from_seq, id`)
    : undefined
  return kiosks.flatMap((k) => {
    const keyHistory: KeyPeriod[] = (history?.all(k.id) ?? []).map((h) => ({ publicKey: h.public_key, fromSeq: h.from_seq, seeded: h.source === 'migration' }))
    const kiosk: StoredKiosk = { id: k.id, publicKey: k.public_key, nextSeq: k.next_seq, lastHash: k.last_hash, keyHistory }
    return auditKioskChain(kiosk, byKiosk.all(k.id))
  })
}

function count(db: Database.Database, table: string): number {
  return db.prepare<[], { n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).get()!.n
}

/** Audits a ledger database: a connection you hold (only read), or a file opened read-only for the audit and closed after. */
export function auditLedgerDatabase(source: AuditSource): AuditResult {
  const db = 'db' in source ? source.db : openLedgerReadOnly(source.path)
  try {
    const run = db.transaction((): AuditResult => {
      const findings = [...auditKioskChains(db), ...auditBookings(db), ...auditDeposits(db), ...auditDebts(db), ...auditExternalBookings(db)]
      const checked: AuditCounts = {
        kiosks: count(db, 'kiosks'),
        transactions: count(db, 'transactions'),
        postings: count(db, 'postings'),
        accounts: count(db, 'accounts'),
        externalBookings: count(db, 'external_bookings'),
        debts: count(db, 'debts'),
      }
      return { findings, checked }
    })
    // DEFERRED: a read transaction, one snapshot for every check.
    return run.deferred()
  } finally {
    if (!('db' in source)) db.close()
  }
}
