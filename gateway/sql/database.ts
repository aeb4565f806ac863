// The part of a SQL database the gateway's modules use: better-sqlite3's
// synchronous prepare/run/get/all and transaction functions. A
// better-sqlite3 Database is one as it is; gateway/postgres/sql-database.ts
// gives the same shape over a PostgreSQL connection, so a module written
// against this interface, in SQL both engines run, works on either store.
//
// Portable SQL, as the modules must write it: placeholders as better-sqlite3
// takes them (`?`, `@name`); `RETURNING id` instead of lastInsertRowid;
// `INSERT … ON CONFLICT … DO NOTHING` instead of `INSERT OR IGNORE`; no rowid;
// integers and text only (money is integer cents), Buffers for bytes.

type AnyFunction = (...params: any[]) => unknown
/** As better-sqlite3's typings spell it, so that its Database is assignable to SqlDatabase. */
type ArgumentTypes<F extends AnyFunction> = F extends (...args: infer A) => unknown ? A : never

export interface SqlRunResult {
  /** Rows inserted, updated or deleted. */
  changes: number
  /** SQLite's rowid of the last insert; the PostgreSQL store has none and throws: use `RETURNING id`. */
  lastInsertRowid: number | bigint
}

export interface SqlStatement<BindParameters extends unknown[], Result = unknown> {
  run(...params: BindParameters): SqlRunResult
  get(...params: BindParameters): Result | undefined
  all(...params: BindParameters): Result[]
  iterate(...params: BindParameters): IterableIterator<Result>
}

/**
 * A function that runs in one transaction: committed when it returns, rolled
 * back when it throws; called inside another transaction it is a savepoint.
 * One SQLite connection is its file's only writer, so there all three are
 * alike. On PostgreSQL, where several gateways share the database, the plain
 * call and `immediate` take a writer lock all of them take, so what the
 * function read is still true when it writes; `deferred` takes none and reads
 * one consistent snapshot (it is for reading).
 */
export interface SqlTransaction<F extends AnyFunction> {
  (...params: ArgumentTypes<F>): ReturnType<F>
  deferred(...params: ArgumentTypes<F>): ReturnType<F>
  immediate(...params: ArgumentTypes<F>): ReturnType<F>
}

export interface SqlDatabase {
  prepare<BindParameters extends unknown[] | {} = unknown[], Result = unknown>(
    source: string,
  ): BindParameters extends unknown[] ? SqlStatement<BindParameters, Result> : SqlStatement<[BindParameters], Result>
  transaction<F extends AnyFunction>(fn: F): SqlTransaction<F>
  /** Runs statements without parameters (several, separated by semicolons). */
  exec(source: string): this
  readonly inTransaction: boolean
}
