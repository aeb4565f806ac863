// The gateway's SqlDatabase (gateway/sql/database.ts) over one PostgreSQL
// connection: the modules that keep the registry, payouts, bank jobs and
// provider records prepare, run and wrap transactions exactly as they do on
// better-sqlite3, and this maps each call onto libpq. It rewrites only the
// placeholders (placeholders.ts); the statements themselves must be portable.
//
// Transactions. One SQLite connection is its file's only writer, and the
// modules rely on it: a transaction reads, decides and writes, and nothing
// can change in between. Several gateways on one PostgreSQL database would
// break that, so a transaction called plainly or `immediate` takes a writer
// lock (a transaction-scoped advisory lock) that every gateway's such
// transactions take: they run one at a time across the cluster, as on
// SQLite. `deferred` takes no lock and reads one snapshot (REPEATABLE READ).
// Nested calls are savepoints, as in better-sqlite3; the transaction is the
// connection's (transactions.ts), shared with the ledger store on it.
import { createHash } from 'node:crypto'
import type { SqlDatabase, SqlRunResult, SqlStatement, SqlTransaction } from '../sql/database.js'
import type { PgConnection, PgParam } from './connection.js'
import { bindSlots, translatePlaceholders, type TranslatedStatement } from './placeholders.js'
import { pgTransactionsOf } from './transactions.js'

/** The advisory lock (two-int form, first half 'writ') that orders writing transactions across gateways. */
export const WRITER_LOCK_SQL = `SELECT pg_advisory_xact_lock(${0x77_72_69_74}, 0)`

const LAST_INSERT_ROWID =
  'lastInsertRowid is SQLite only: on PostgreSQL the statement must say `RETURNING id` and be read with get(), which both engines run'

/** A value better-sqlite3 would bind, as a PostgreSQL parameter; what it would refuse is refused here too. */
function paramOf(value: unknown, statement: string): PgParam {
  if (value === undefined) throw new RangeError(`a parameter of the statement is undefined (better-sqlite3 refuses it too): ${statement}`)
  if (value === null || typeof value === 'string' || Buffer.isBuffer(value)) return value
  if (typeof value === 'number') {
    if (Number.isInteger(value) && !Number.isSafeInteger(value)) throw new RangeError(`${value} is beyond a safe integer: ${statement}`)
    if (!Number.isFinite(value)) throw new RangeError(`${value} cannot be stored: ${statement}`)
    // A fraction goes as text: a double precision column takes it, a bigint (money) column refuses it, as it must.
    return Number.isInteger(value) ? value : String(value)
  }
  if (typeof value === 'bigint') {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) throw new RangeError(`${value} is beyond a safe integer: ${statement}`)
    return Number(value)
  }
  throw new TypeError(`a ${typeof value} cannot be bound (better-sqlite3 binds numbers, bigints, strings, Buffers and null): ${statement}`)
}

/** Tells a PostgreSQL facade from better-sqlite3 without importing either into the caller's module. */
export function pgConnectionOf(db: SqlDatabase): PgConnection | undefined {
  const connection = (db as Partial<PgSqlDatabase>).connection
  return connection !== undefined && (db as { [PG_FACADE]?: true })[PG_FACADE] === true ? connection : undefined
}
const PG_FACADE = Symbol('wristpay PostgreSQL SqlDatabase')

/**
 * SQLite has no booleans: a comparison or EXISTS in a select list is 1 or 0,
 * and the modules test for `=== 1`. PostgreSQL answers true or false, which
 * would make every such test false; so the facade answers as SQLite does.
 */
function withoutBooleans(rows: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  for (const row of rows) {
    for (const key in row) {
      if (typeof row[key] === 'boolean') row[key] = row[key] ? 1 : 0
    }
  }
  return rows
}

export interface PgSqlDatabase extends SqlDatabase {
  /** The connection underneath (for what only PostgreSQL has, such as the ledger store's own statements). */
  readonly connection: PgConnection
}

/** A SqlDatabase on `connection`; it does not own the connection (close that yourself). */
export function createPgSqlDatabase(connection: PgConnection): PgSqlDatabase {
  const statementNames = new Map<string, string>()
  // Shared with the ledger store on the same connection (transactions.ts): a facade transaction inside a store
  // batch, or a batch inside a facade transaction, is a savepoint of the one transaction.
  const transactions = pgTransactionsOf(connection)

  function execute(translated: TranslatedStatement, source: string, args: readonly unknown[]): Array<Record<string, unknown>> {
    const params = bindSlots(translated, args).map((value) => paramOf(value, source))
    // Inside a transaction whose connection broke, a statement must not run on the next connection, outside it.
    transactions.assertIntact()
    let name = statementNames.get(translated.text)
    if (name === undefined) {
      // Named by its text, so that two databases on one connection never give one name to different statements.
      name = `wp_sql_${createHash('sha256').update(translated.text).digest('hex').slice(0, 24)}`
      statementNames.set(translated.text, name)
    }
    return withoutBooleans(connection.run(name, translated.text, params))
  }

  function prepare(source: string): SqlStatement<unknown[], unknown> {
    const translated = translatePlaceholders(source)
    return {
      run(...args: unknown[]): SqlRunResult {
        execute(translated, source, args)
        const changes = connection.lastRowCount()
        return {
          changes,
          get lastInsertRowid(): number {
            throw new Error(LAST_INSERT_ROWID)
          },
        }
      },
      get: (...args: unknown[]) => execute(translated, source, args)[0],
      all: (...args: unknown[]) => execute(translated, source, args),
      iterate: (...args: unknown[]) => execute(translated, source, args)[Symbol.iterator](),
    }
  }

  type Mode = 'writer' | 'snapshot'
  const writer = { begin: 'BEGIN ISOLATION LEVEL READ COMMITTED', afterBegin: () => void connection.query(WRITER_LOCK_SQL), noun: 'transaction' }
  const snapshot = { begin: 'BEGIN ISOLATION LEVEL REPEATABLE READ', noun: 'transaction' }
  const runInTransaction = <R>(mode: Mode, body: () => R): R => transactions.run(mode === 'writer' ? writer : snapshot, body)

  const database: PgSqlDatabase & { [PG_FACADE]: true } = {
    [PG_FACADE]: true,
    connection,
    prepare: prepare as PgSqlDatabase['prepare'],
    transaction<F extends (...params: any[]) => unknown>(fn: F): SqlTransaction<F> {
      const call = (mode: Mode) => (...params: unknown[]) => runInTransaction(mode, () => fn(...params)) as ReturnType<F>
      return Object.assign(call('writer'), { immediate: call('writer'), deferred: call('snapshot') })
    },
    exec(source: string) {
      connection.query(source)
      return database
    },
    get inTransaction() {
      return transactions.depth > 0
    },
  }
  return database
}

