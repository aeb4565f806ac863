// The audit: recomputes from what the gateway's database stores whatever can
// be recomputed (signatures, chains, double entry, deposits, debts, external
// bookings against their references) and reports what does not add up. It
// only reads: the file is opened read-only (a PostgreSQL store through a
// session the server keeps read-only) and every check runs in one read
// transaction, so running gateways keep writing and the audit sees one
// consistent snapshot.
import Database from 'better-sqlite3'
import { openPgConnection, redactedUrl } from '../postgres/connection.js'
import { createPgSqlDatabase } from '../postgres/sql-database.js'
import type { SqlDatabase } from '../sql/database.js'
import { checkedStoreUrl } from '../storage.js'
import { dialectOf } from '../sql/dialect.js'
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

/**
 * A connection you hold (SQLite or the PostgreSQL SqlDatabase), a SQLite
 * file's path, or a PostgreSQL store's URL (as config `store` takes it: no
 * password in it; `env` is where libpq finds PGPASSFILE, default process.env).
 */
export type AuditSource = { db: SqlDatabase } | { path: string } | { store: string; env?: NodeJS.ProcessEnv }

/** Opens a ledger file for reading only; throws (SQLite's error) when it cannot be read. */
export function openLedgerReadOnly(path: string): Database.Database {
  return new Database(path, { readonly: true, fileMustExist: true })
}

function fileReadOnly(path: string): { db: SqlDatabase; check(): void; close(): void } {
  const db = openLedgerReadOnly(path)
  return { db, check() {}, close: () => db.close() }
}

/**
 * The audit reads every row of a large event in one snapshot and verifies
 * signatures between statements: more than the gateway's 10 s per statement
 * and 30 s idle in a transaction, which bound a booking, not a read-only scan.
 */
const STORE_AUDIT_STATEMENT_TIMEOUT_MS = 15 * 60_000
const STORE_AUDIT_IDLE_IN_TRANSACTION_TIMEOUT_MS = 15 * 60_000

/**
 * Opens a PostgreSQL store for reading only; the URL is checked as the
 * gateway checks it (StorageConfigError). The session is read-only on the
 * server (SET SESSION CHARACTERISTICS), so no statement through it can write,
 * whatever it is; a connection the audit lost and made again would not be, so
 * the audit fails then instead (`check()`). Close with close().
 */
export function openStoreReadOnly(store: string, env: NodeJS.ProcessEnv = process.env): { db: SqlDatabase; check(): void; close(): void } {
  const url = checkedStoreUrl(store, env)
  const connection = openPgConnection({ url, statementTimeoutMs: STORE_AUDIT_STATEMENT_TIMEOUT_MS, idleInTransactionTimeoutMs: STORE_AUDIT_IDLE_IN_TRANSACTION_TIMEOUT_MS })
  try {
    connection.query('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY')
  } catch (error) {
    connection.close()
    throw error
  }
  const generation = connection.generation
  return {
    db: createPgSqlDatabase(connection),
    check() {
      if (connection.generation !== generation) throw new Error(`the connection to ${redactedUrl(url)} was lost and made again during the audit: run it again`)
    },
    close: () => connection.close(),
  }
}

function auditKioskChains(db: SqlDatabase): AuditFinding[] {
  const dialect = dialectOf(db)
  // The chain cursor: the kiosk's row on SQLite, the ledger store's kiosk_cursors on PostgreSQL (sql/dialect.ts).
  const kiosks = db
    .prepare<[], { id: string; public_key: string | null; next_seq: number; last_hash: string }>(
      `SELECT k.id, k.public_key, ${dialect.kioskNextSeq('k')} AS next_seq, ${dialect.kioskLastHash('k')} AS last_hash FROM kiosks k ORDER BY k.id`,
    )
    .all()
  const byKiosk = db.prepare<[string], StoredTransaction>(`SELECT id, kiosk, seq, type, tag, amount, hash, envelope FROM transactions WHERE kiosk = ? ORDER BY seq`)
  // A file from before migration 22 (audited without migrating) has no history: the current key alone.
  const hasHistory = dialect.tableExists(db, 'kiosk_key_history')
  const history = hasHistory
    ? db.prepare<[string], { public_key: string; from_seq: number; source: string }>(`SELECT public_key, from_seq, source FROM kiosk_key_history WHERE kiosk_id = ? ORDER BY from_seq, id`)
    : undefined
  return kiosks.flatMap((k) => {
    const keyHistory: KeyPeriod[] = (history?.all(k.id) ?? []).map((h) => ({ publicKey: h.public_key, fromSeq: h.from_seq, seeded: h.source === 'migration' }))
    const kiosk: StoredKiosk = { id: k.id, publicKey: k.public_key, nextSeq: k.next_seq, lastHash: k.last_hash, keyHistory }
    return auditKioskChain(kiosk, byKiosk.all(k.id))
  })
}

function count(db: SqlDatabase, table: string): number {
  return db.prepare<[], { n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).get()!.n
}

/** Audits a ledger database: a connection you hold (only read), or a file or store opened read-only for the audit and closed after. */
export function auditLedgerDatabase(source: AuditSource): AuditResult {
  if ('db' in source) return auditOpenDatabase(source.db)
  const opened = 'store' in source ? openStoreReadOnly(source.store, source.env) : fileReadOnly(source.path)
  try {
    const result = auditOpenDatabase(opened.db)
    opened.check()
    return result
  } finally {
    opened.close()
  }
}

/** Every check in one read transaction (DEFERRED: one snapshot; on PostgreSQL a REPEATABLE READ one without the writer lock). */
function auditOpenDatabase(db: SqlDatabase): AuditResult {
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
  return run.deferred()
}
