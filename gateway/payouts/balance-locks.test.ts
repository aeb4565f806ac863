// The balances a payout run decides on (balance-locks.ts), at the SQL level:
// on PostgreSQL, once the run's transaction has locked a guest's balance row,
// a sale on another gateway (its own connection, reading the balance FOR
// UPDATE as ledger/pg-store.ts does) cannot take it until the run commits,
// and then sees what the run wrote; without the lock the sale slips in between
// the run's read and its write, and the run pays out money that was spent. On
// SQLite there is nothing to lock. A sale that waits would block this
// synchronous test, so the other gateway asks with NOWAIT: refused (55P03)
// where a real batch would wait.
//
// The payout run itself on PostgreSQL (createPayoutRuns with createLedger on
// one connection) is not tested here: it needs the ledger on PostgreSQL.
import t, { type Test } from 'tap'
import { openLedgerDatabase } from '../ledger/index.js'
import { openPgConnection, sqlStateOf, type PgConnection } from '../postgres/connection.js'
import { migratePgDatabase } from '../postgres/migrations.js'
import { createPgSqlDatabase } from '../postgres/sql-database.js'
import { postgresForFile } from '../testing/postgres-server.js'
import { balanceLocks } from './balance-locks.js'

const ALICE = '04A1B2C3D4E5F6'
const BOB = '04B1B2C3D4E5F6'

t.test('on SQLite the locks are nothing (its single writer keeps every balance still)', async (t) => {
  const db = openLedgerDatabase(':memory:')
  t.teardown(() => db.close())
  const locks = balanceLocks(db)
  t.doesNotThrow(() => db.transaction(() => locks.lockCustomers([ALICE]))())
})

const pg = await postgresForFile(t)
if (pg !== undefined) {
  const { freshDatabase } = pg

  /** The payout run's gateway (the facade) and another gateway's ledger connection, on one database with two guests' balances. */
  function twoGateways(t: Test) {
    const url = freshDatabase('balance_locks').url
    const runConn = openPgConnection({ url })
    const other = openPgConnection({ url })
    t.teardown(() => [runConn, other].forEach((c) => c.close()))
    migratePgDatabase(runConn)
    runConn.query(`INSERT INTO accounts (id, kind, ref, balance) VALUES ($1, 'customer', $2, 1000), ($3, 'customer', $4, 500)`, [`customer:${ALICE}`, ALICE, `customer:${BOB}`, BOB])
    const db = createPgSqlDatabase(runConn)
    const balance = (uid: string) => db.prepare<[string], { balance: number }>(`SELECT balance FROM accounts WHERE id = ?`).get(`customer:${uid}`)!.balance
    /** The other gateway's sale of 300 cents, as its batch does it: the balance FOR UPDATE, then the new one; refused if it would wait. */
    const sale = (uid: string) => {
      other.query('BEGIN')
      try {
        const [row] = other.query<{ balance: number }>(`SELECT balance FROM accounts WHERE id = $1 FOR UPDATE NOWAIT`, [`customer:${uid}`])
        if (row!.balance < 300) throw new Error('insufficient balance')
        other.query(`UPDATE accounts SET balance = balance - 300 WHERE id = $1`, [`customer:${uid}`])
        other.query('COMMIT')
      } catch (err) {
        other.query('ROLLBACK')
        throw err
      }
    }
    /** A payout run's transaction: reads the balance, lets the other gateway try its sale, then pays out what it read. */
    const payoutRun = (lock: boolean) => {
      let saleError: unknown
      db.transaction(() => {
        if (lock) balanceLocks(db).lockCustomers([BOB, ALICE])
        const read = balance(ALICE)
        try {
          sale(ALICE)
        } catch (err) {
          saleError = err
        }
        db.prepare(`UPDATE accounts SET balance = balance - ? WHERE id = ?`).run(read, `customer:${ALICE}`)
      })()
      return saleError
    }
    return { db, balance, sale, payoutRun }
  }

  t.test('without the lock, a sale on another gateway spends between the run’s read and its write: the run pays out money that was spent', async (t) => {
    const g = twoGateways(t)
    t.equal(g.payoutRun(false), undefined, 'the sale went through in the middle of the run')
    t.equal(g.balance(ALICE), -300, 'the guest is 300 cents below zero: paid out and spent')
  })

  t.test('with the lock, the sale cannot take the balance until the run commits, and then finds it paid out', async (t) => {
    const g = twoGateways(t)
    const err = g.payoutRun(true)
    t.equal(sqlStateOf(err), '55P03', 'the sale would wait for the run (NOWAIT: refused at once)')
    t.equal(g.balance(ALICE), 0, 'the run paid out the whole balance it read')
    t.throws(() => g.sale(ALICE), /insufficient balance/, 'after the commit the sale reads the paid-out balance and is refused')
    t.equal(g.balance(ALICE), 0)
    g.sale(BOB)
    t.equal(g.balance(BOB), 200, 'the locks ended with the run: another guest’s sale goes through')
  })

  t.test('the locks are taken inside a transaction only, and an account without a row is no error', async (t) => {
    const g = twoGateways(t)
    const locks = balanceLocks(g.db)
    t.throws(() => locks.lockCustomers([ALICE]), /inside the payout run/)
    t.doesNotThrow(() => g.db.transaction(() => locks.lockCustomers(['04FFFFFFFFFFFF']))())
  })
}
