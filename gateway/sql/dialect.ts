// What the gateway's statements cannot say once for both engines, in one
// place. Everything else is written once, in SQL both run (database.ts); what
// is here differs because the schemas differ on purpose, not the SQL:
//
// - A kiosk's place in its chain: on SQLite two columns of its kiosks row
//   (next_seq, last_hash), which the SQLite store moves; on PostgreSQL the
//   ledger store's kiosk_cursors row, the only one a booking moves, made at
//   the kiosk's first booking (postgres/migrations.ts). A kiosk without one
//   stands at genesis: next seq 1, last hash GENESIS_HASH.
// - The order rows of transactions and external bookings were written in:
//   SQLite's rowid, the `written` identity column on PostgreSQL.
// - A JSON list parameter as rows: SQLite's json_each, PostgreSQL's
//   json_array_elements_text.
// - How a broken unique key and a table's existence are told.
import { GENESIS_HASH } from '../../device-protocol/index.js'
import { sqlStateOf } from '../postgres/connection.js'
import { pgConnectionOf } from '../postgres/sql-database.js'
import type { SqlDatabase } from './database.js'

export interface SqlDialect {
  readonly engine: 'sqlite' | 'postgres'
  /** An expression: the next seq of the kiosk whose kiosks row is `kiosk` (an alias or the table's name). */
  kioskNextSeq(kiosk: string): string
  /** An expression: the hash of the last transaction of that kiosk (GENESIS_HASH before any). */
  kioskLastHash(kiosk: string): string
  /** What an INSERT INTO kiosks adds so the chain starts at genesis: a column and its value on SQLite, nothing on PostgreSQL. */
  readonly kioskChainInsert: { readonly columns: string; readonly values: string }
  /** The column of transactions that orders them as they were written. */
  readonly transactionsWritten: string
  /** The column of external_bookings that orders them as they were written. */
  readonly externalBookingsWritten: string
  /** A subquery (without its parentheses) of one text column: the elements of the JSON list of strings `param` (a placeholder). */
  jsonTextList(param: string): string
  /** Whether `error` is a unique key (or primary key) the statement would have broken. */
  isUniqueViolation(error: unknown): boolean
  /** Whether the database has this table (an old file audited without migrating may not). */
  tableExists(db: SqlDatabase, table: string): boolean
}

const GENESIS_LITERAL = `'${GENESIS_HASH}'`

const sqlite: SqlDialect = {
  engine: 'sqlite',
  kioskNextSeq: (kiosk) => `${kiosk}.next_seq`,
  kioskLastHash: (kiosk) => `${kiosk}.last_hash`,
  kioskChainInsert: { columns: ', last_hash', values: `, ${GENESIS_LITERAL}` },
  transactionsWritten: 'rowid',
  externalBookingsWritten: 'rowid',
  jsonTextList: (param) => `SELECT value FROM json_each(${param})`,
  isUniqueViolation: (error) => {
    const code = (error as { code?: unknown } | null)?.code
    return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  },
  tableExists: (db, table) => db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(table) !== undefined,
}

const postgres: SqlDialect = {
  engine: 'postgres',
  kioskNextSeq: (kiosk) => `COALESCE((SELECT c.next_seq FROM kiosk_cursors c WHERE c.kiosk = ${kiosk}.id), 1)`,
  kioskLastHash: (kiosk) => `COALESCE((SELECT c.last_hash FROM kiosk_cursors c WHERE c.kiosk = ${kiosk}.id), ${GENESIS_LITERAL})`,
  kioskChainInsert: { columns: '', values: '' },
  transactionsWritten: 'written',
  externalBookingsWritten: 'written',
  jsonTextList: (param) => `SELECT json_array_elements_text(CAST(${param} AS json))`,
  isUniqueViolation: (error) => sqlStateOf(error) === '23505',
  tableExists: (db, table) => db.prepare<[string], { found: number }>(`SELECT to_regclass(?) IS NOT NULL AS found`).get(table)?.found === 1,
}

/** The dialect of `db`: PostgreSQL for the PostgreSQL SqlDatabase, SQLite for better-sqlite3. */
export function dialectOf(db: SqlDatabase): SqlDialect {
  return pgConnectionOf(db) === undefined ? sqlite : postgres
}
