// The PostgreSQL facade passes the contract better-sqlite3 passes
// (gateway/sql/testing/sql-contract.ts), and keeps SQLite's one-writer
// promise across gateways: a writing transaction holds a lock every gateway's
// writing transactions take. One private server for the file, one database per test.
import t, { type Test } from 'tap'
import { sqlContract } from '../sql/testing/sql-contract.js'
import { postgresForFile } from '../testing/postgres-server.js'
import { openPgConnection, type PgConnection } from './connection.js'
import { createPgSqlDatabase, WRITER_LOCK_SQL } from './sql-database.js'

const ITEMS_DDL = 'CREATE TABLE items (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT NOT NULL UNIQUE, cents BIGINT NOT NULL, data BYTEA)'

const pg = await postgresForFile(t)
if (pg !== undefined) {
  const fresh = (): { url: string; name: string } => {
    const { name, url } = pg.freshDatabase('sql')
    const setup = openPgConnection({ url })
    setup.query(ITEMS_DDL)
    setup.close()
    return { url, name }
  }
  const connect = (t: Test, url: string, options: { statementTimeoutMs?: number } = {}): PgConnection => {
    const connection = openPgConnection({ url, ...options })
    t.teardown(() => connection.close())
    return connection
  }

  sqlContract(t, 'postgres', () => {
    const { url, name } = fresh()
    const connection = openPgConnection({ url })
    return { db: createPgSqlDatabase(connection), close: () => (connection.close(), pg.server.dropDatabase(name)) }
  })

  t.test('a writing transaction holds the writer lock until it ends; a deferred one does not take it', async (t) => {
    const { url } = fresh()
    const db = createPgSqlDatabase(connect(t, url))
    const other = connect(t, url)
    const otherGetsLock = (): boolean => {
      other.query('BEGIN')
      try {
        return other.query<{ got: boolean }>(`SELECT pg_try_advisory_xact_lock(${0x77_72_69_74}, 0) AS got`)[0]!.got
      } finally {
        other.query('ROLLBACK')
      }
    }
    t.equal(WRITER_LOCK_SQL, `SELECT pg_advisory_xact_lock(${0x77_72_69_74}, 0)`, 'the lock this test probes is the one the facade takes')
    const seen: boolean[] = []
    db.transaction(() => seen.push(otherGetsLock()))()
    db.transaction(() => seen.push(otherGetsLock())).immediate()
    db.transaction(() => seen.push(otherGetsLock())).deferred()
    seen.push(otherGetsLock())
    t.same(seen, [false, false, true, true], 'plain and immediate hold it; deferred and no transaction leave it free')
  })

  t.test('a deferred transaction reads one snapshot: what another gateway commits meanwhile is not seen', async (t) => {
    const { url } = fresh()
    const db = createPgSqlDatabase(connect(t, url))
    const other = connect(t, url)
    const count = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM items')
    const counts = db
      .transaction(() => {
        const before = count.get()!.n
        other.query("INSERT INTO items (name, cents) VALUES ('late', 1)")
        return [before, count.get()!.n]
      })
      .deferred()
    t.same(counts, [0, 0])
    t.equal(count.get()!.n, 1, 'after the transaction the new row is there')
  })

  t.test('lastInsertRowid is refused with what to write instead', async (t) => {
    const { url } = fresh()
    const db = createPgSqlDatabase(connect(t, url))
    const result = db.prepare<[string, number]>('INSERT INTO items (name, cents) VALUES (?, ?)').run('x', 1)
    t.equal(result.changes, 1)
    t.throws(() => result.lastInsertRowid, { message: /RETURNING id/ })
  })

  t.test('values better-sqlite3 would store inexactly or refuse are refused before they reach the server', async (t) => {
    const { url } = fresh()
    const db = createPgSqlDatabase(connect(t, url))
    const insert = db.prepare<[string, unknown]>('INSERT INTO items (name, cents) VALUES (?, ?)')
    t.throws(() => insert.run('float', 4.5), /invalid input syntax for type bigint: "4.5"/, 'a fraction of a cent: the bigint column refuses it')
    t.throws(() => insert.run('huge', 2 ** 60), { name: 'RangeError', message: /beyond a safe integer/ })
    t.throws(() => insert.run('nan', Number.NaN), { name: 'RangeError', message: /cannot be stored/ })
    t.throws(() => insert.run('bigint', 2n ** 60n), { name: 'RangeError', message: /beyond a safe integer/ })
    t.throws(() => insert.run('bool', true), { name: 'TypeError', message: /a boolean cannot be bound/ })
    t.equal(insert.run('bigint ok', 12n).changes, 1, 'a bigint within range is a number')
    t.same(db.prepare<[], { name: string }>('SELECT name FROM items').all(), [{ name: 'bigint ok' }])
  })

  t.test('a fraction is stored in a double precision column and read back as a number (a provider score, not money)', async (t) => {
    const { url } = fresh()
    const connection = connect(t, url)
    connection.query('CREATE TABLE scores (id text PRIMARY KEY, score double precision)')
    const db = createPgSqlDatabase(connection)
    db.prepare<[string, number]>('INSERT INTO scores (id, score) VALUES (?, ?)').run('a', 0.875)
    t.same(db.prepare<[string], { score: number }>('SELECT score FROM scores WHERE id = ?').get('a'), { score: 0.875 })
  })

  t.test('a transaction function that returns a promise is refused and rolled back', async (t) => {
    const { url } = fresh()
    const db = createPgSqlDatabase(connect(t, url))
    const write = db.transaction(async () => db.prepare('INSERT INTO items (name, cents) VALUES (?, ?)').run('async', 1))
    t.throws(() => write(), { name: 'TypeError', message: /must not return a promise/ })
    t.equal(db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM items').get()!.n, 0)
  })

  t.test('when the server ends the session mid-transaction, the transaction fails and the next one runs on a new connection', async (t) => {
    const { url } = fresh()
    const connection = connect(t, url)
    const db = createPgSqlDatabase(connection)
    const killer = connect(t, url)
    const insert = db.prepare<[string, number]>('INSERT INTO items (name, cents) VALUES (?, ?)')
    const pid = db.prepare<[], { pid: number }>('SELECT pg_backend_pid() AS pid').get()!.pid
    t.throws(
      () =>
        db.transaction(() => {
          insert.run('lost', 1)
          killer.query('SELECT pg_terminate_backend($1)', [pid])
          insert.run('lost too', 2)
        })(),
      'the statement after the kill fails',
    )
    t.equal(db.inTransaction, false)
    db.transaction(() => insert.run('kept', 3))()
    t.same(db.prepare<[], { name: string }>('SELECT name FROM items').all(), [{ name: 'kept' }], 'nothing of the broken transaction was committed')
  })
}
