// The one transaction of a PostgreSQL connection, whoever opens it. On the
// gateway's PostgreSQL database the ledger store (ledger/pg-store.ts) and the
// SqlDatabase facade (sql-database.ts) share one connection, and their
// transactions nest both ways: a ledger batch writes the registry's side of a
// booking through the facade inside the store's BEGIN, and an import or an
// admin operation inside a facade transaction books through the store. A
// connection has one transaction, so both keep its state here, on one object
// per connection: whoever comes second opens a savepoint inside it, never a
// second BEGIN (which PostgreSQL answers with a warning, and the inner COMMIT
// would then commit the outer part early).
//
// better-sqlite3's rules, which the modules were written for: the outermost
// call commits when its function returns and rolls back when it throws; an
// inner call is a savepoint, undone alone when its function throws. Beyond
// them, for money: a statement that failed inside, whose error the function
// caught, fails its part rather than letting COMMIT end the aborted
// transaction as a silent rollback; and a connection that broke and came back
// is never mistaken for the one the transaction began on.
import { PgUnavailableError, type PgConnection } from './connection.js'

export interface PgTransactionOptions {
  /** What opens the outermost transaction: 'BEGIN', 'BEGIN ISOLATION LEVEL REPEATABLE READ', ... */
  begin: string
  /** Runs first inside the outermost transaction only (the facade's writer lock); an inner part joins what the outer one holds. */
  afterBegin?: () => void
  /** The caller's name for its part in messages ('batch', 'transaction'). */
  noun: string
}

export interface PgTransactions {
  /** 0 outside a transaction, 1 in the outermost one, one more per savepoint inside. */
  readonly depth: number
  /** Throws PgUnavailableError inside a transaction whose connection broke (and may have reconnected since): its writes are gone. */
  assertIntact(): void
  /** Runs `body` in the connection's transaction: the outermost one, or a savepoint inside the one already open. */
  run<R>(options: PgTransactionOptions, body: () => R): R
}

const transactionsByConnection = new WeakMap<PgConnection, PgTransactions>()

/** The transaction state of `conn`, the same object for every module on it. */
export function pgTransactionsOf(conn: PgConnection): PgTransactions {
  let transactions = transactionsByConnection.get(conn)
  if (transactions === undefined) {
    transactions = createPgTransactions(conn)
    transactionsByConnection.set(conn, transactions)
  }
  return transactions
}

const isThenable = (value: unknown): boolean => typeof (value as { then?: unknown } | null)?.then === 'function'

function createPgTransactions(conn: PgConnection): PgTransactions {
  let depth = 0
  /** The connection the outermost transaction began on (connection.generation). */
  let generation = -1
  const intact = (): boolean => conn.connected && conn.generation === generation

  function assertIntact(): void {
    if (depth > 0 && conn.generation !== generation) throw new PgUnavailableError('the connection to PostgreSQL broke during this transaction: nothing of it was written')
  }

  /** A rollback after a failure: one that fails too (the connection broke) drops the connection; the first error is the one reported. */
  function rollback(statement: string): void {
    if (!intact()) return
    try {
      conn.query(statement)
    } catch {
      conn.drop()
    }
  }

  function refuseThenable(result: unknown, noun: string): void {
    if (isThenable(result)) throw new TypeError(`a ${noun} function must not return a promise (the ${noun} would end before it settles)`)
  }

  function outer<R>(options: PgTransactionOptions, body: () => R): R {
    conn.query(options.begin)
    generation = conn.generation
    depth = 1
    let result: R
    try {
      options.afterBegin?.()
      result = body()
      refuseThenable(result, options.noun)
    } catch (error) {
      depth = 0
      rollback('ROLLBACK')
      throw error
    }
    depth = 0
    if (conn.generation !== generation || conn.transactionStatus() !== 'T') {
      // COMMIT would end an aborted transaction as a silent ROLLBACK: a failed statement whose error was caught fails the whole.
      rollback('ROLLBACK')
      throw new Error(`a statement of this ${options.noun} failed (its error was caught inside the ${options.noun}): nothing of the ${options.noun} was written`)
    }
    try {
      conn.query('COMMIT')
    } catch (error) {
      if (error instanceof PgUnavailableError)
        throw new PgUnavailableError(`${error.message} (during COMMIT: the ${options.noun} is either all written or not at all; resent transactions are answered from the record)`, {
          cause: error,
        })
      throw error
    }
    return result
  }

  /** A part inside the open transaction: a savepoint, so a throw undoes its own writes and the outer part goes on (as better-sqlite3 does). */
  function inner<R>(options: PgTransactionOptions, body: () => R): R {
    assertIntact()
    const savepoint = `wp_sp_${depth}`
    conn.query(`SAVEPOINT ${savepoint}`)
    depth += 1
    let result: R
    try {
      result = body()
      refuseThenable(result, options.noun)
    } catch (error) {
      depth -= 1
      rollback(`ROLLBACK TO SAVEPOINT ${savepoint}; RELEASE SAVEPOINT ${savepoint}`)
      throw error
    }
    depth -= 1
    if (conn.transactionStatus() === 'E') {
      rollback(`ROLLBACK TO SAVEPOINT ${savepoint}; RELEASE SAVEPOINT ${savepoint}`)
      throw new Error(`a statement of this inner ${options.noun} failed (its error was caught inside it): nothing of the inner ${options.noun} was kept`)
    }
    assertIntact()
    conn.query(`RELEASE SAVEPOINT ${savepoint}`)
    return result
  }

  return {
    get depth() {
      return depth
    },
    assertIntact,
    run: (options, body) => (depth > 0 ? inner(options, body) : outer(options, body)),
  }
}
