// The PostgreSQL store: the store contract (as the memory and SQLite stores
// pass it), and what only a database server brings: money in bigint, the
// chain cursor checked by the database against a second writer, bounded
// waits, and a server or connection that dies mid-test. One private server
// for the whole file (gateway/testing/postgres-server.ts), one database per test.
import { createServer } from 'node:net'
import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { GENESIS_HASH } from '../../device-protocol/index.js'
import { SchemaTooNewError } from '../migration-runner.js'
import { openPgConnection, PG_NATIVE_MISSING, pgNativeFrom, PgUnavailableError, sqlStateOf, type PgConnection } from '../postgres/connection.js'
import { PG_SCHEMA_VERSION } from '../postgres/migrations.js'
import { postgresForFile } from '../testing/postgres-server.js'
import { createPgLedgerStore, type PgLedgerStore, type PgLedgerStoreOptions } from './pg-store.js'
import { storeContract } from './testing/store-contract.js'
import { accountIds, type PostingRecord } from './types.js'
import type { StoredExternalBooking } from './store.js'

t.test('without pg-native (an install without libpq) the PostgreSQL store is refused with what to do', async (t) => {
  t.throws(
    () =>
      pgNativeFrom(() => {
        throw new Error("Cannot find module 'pg-native'\nRequire stack: ...")
      }),
    { message: `${PG_NATIVE_MISSING} (Cannot find module 'pg-native')` },
  )
  t.match(PG_NATIVE_MISSING, /install libpq-dev .*then run npm install again/)
})

const pg = await postgresForFile(t)
if (pg !== undefined) {
  const { server } = pg
  server.createDatabase('ledger_template')
  // The template is migrated once; every test's database is a copy of it.
  createPgLedgerStore({ url: server.url('ledger_template') }).close()
  const freshDatabase = (): string => pg.freshDatabase('ledger', 'ledger_template').url
  const freshStore = (url = freshDatabase(), options: Partial<PgLedgerStoreOptions> = {}): PgLedgerStore => createPgLedgerStore({ url, ...options })

  storeContract(t, 'postgres store', () => {
    const { name, url } = pg.freshDatabase('ledger', 'ledger_template')
    const store = freshStore(url)
    // Dropped after each test: a database costs a few MB of the memory-backed folder.
    return { store, close: () => (store.close(), server.dropDatabase(name)) }
  })

  /** A plain connection beside the store's, for what a test does behind its back. */
  const sideConnection = (t: Test, url: string): PgConnection => {
    const conn = openPgConnection({ url })
    t.teardown(() => conn.close())
    return conn
  }

  const topUpPostings = (uid: string, cents: number): PostingRecord[] => [
    { account: accountIds.clearing('stripe'), amount: -cents },
    { account: accountIds.customer(uid), amount: cents },
  ]

  function booking(ref: string, postings: readonly PostingRecord[]): StoredExternalBooking {
    return {
      id: randomUUID(),
      ref,
      kind: 'topup_online',
      amount: postings.reduce((s, p) => (p.amount > 0 ? s + p.amount : s), 0),
      customer: null,
      meta: '{}',
      contentHash: 'h',
      receiptId: randomUUID(),
      bookedAt: 1_750_000_000_000,
    }
  }

  /** Opens the accounts a stripe top-up names and books one. */
  function topUp(store: PgLedgerStore, uid: string, cents: number): StoredExternalBooking {
    const postings = topUpPostings(uid, cents)
    const b = booking(`stripe:${randomUUID()}`, postings)
    store.batch(() => {
      store.ensureAccount(accountIds.clearing('stripe'), 'clearing', 'stripe')
      store.ensureAccount(accountIds.customer(uid), 'customer', uid)
      store.commitExternal(b, postings)
    })
    return b
  }

  /** The error `fn` throws (undefined if none), for assertions on its class and text. */
  const thrown = (fn: () => unknown): unknown => {
    try {
      fn()
    } catch (error) {
      return error
    }
    return undefined
  }

  const UID = '04A1B2C3D4E5F6'
  const customer = accountIds.customer(UID)

  t.test('money is bigint in the database and a number only when JavaScript holds it exactly', async (t) => {
    const url = freshDatabase()
    const store = freshStore(url)
    t.teardown(() => store.close())
    const side = sideConnection(t, url)
    const columns = side.query<{ column_name: string; data_type: string }>(
      `SELECT table_name || '.' || column_name AS column_name, data_type FROM information_schema.columns
       WHERE table_schema = 'public' AND column_name IN ('balance', 'amount', 'balance_after', 'float', 'counted', 'expected', 'difference', 'shortfall', 'unit_price', 'total', 'tax')
       ORDER BY 1`,
    )
    t.ok(columns.length >= 13, 'every money column is there')
    // The bank statement's amount as the bank wrote it; its cents are amount_cents, a bigint.
    const asWritten = new Set(['bank_import_transactions.amount'])
    t.strictSame(columns.filter((c) => c.data_type !== 'bigint' && !asWritten.has(c.column_name)), [], 'all of them bigint')
    const large = 3_000_000_000_000 // beyond 32 bits
    topUp(store, UID, large)
    t.strictSame(store.account(customer), { kind: 'customer', balance: large })
    t.equal(store.sumOfAllBalances(), 0)
    side.query(`UPDATE accounts SET balance = 9007199254740993 WHERE id = $1`, [customer])
    t.throws(() => store.account(customer), /9007199254740993, which is not a safe integer/, 'a balance beyond 2^53 is an error, not a rounded number')
    t.throws(() => store.stats(), /not a safe integer/, 'in every read that carries it')
  })

  t.test('the database keeps per-kiosk order against a second writer: the cursor moves only from the seq it expects', async (t) => {
    const url = freshDatabase()
    const first = freshStore(url)
    const second = freshStore(url)
    t.teardown(() => (first.close(), second.close()))
    first.batch(() => first.ensureKiosk('bar-1'))
    t.strictSame(second.cursor('bar-1'), { nextSeq: 1, lastHash: GENESIS_HASH }, 'both see the kiosk at genesis')
    const write = (id: string, hash: string) => ({
      tx: { id } as never,
      row: {
        id,
        kiosk: 'bar-1',
        seq: 1,
        type: 'topup_cash',
        tag: UID,
        amount: 0,
        status: 'rejected' as const,
        reason: 'unknown_tag' as const,
        balanceAfter: null,
        hash,
        envelope: '{}',
        bookedAt: 1,
        booth: 'bar',
        receiptId: null,
        paymentRef: null,
        staff: null,
        resultExtras: null,
        offline: false,
      },
      decision: { status: 'rejected' as const, reason: 'unknown_tag' as const } as never,
    })
    first.batch(() => first.commitTransaction(write(randomUUID(), 'a'.repeat(64))))
    t.throws(() => second.batch(() => second.commitTransaction(write(randomUUID(), 'b'.repeat(64)))), /seq|duplicate key/, 'the second writer of seq 1 is refused')
    t.strictSame(second.cursor('bar-1'), { nextSeq: 2, lastHash: 'a'.repeat(64) }, 'the first booking stands')
    t.equal(second.stats().rejected, 1, 'one transaction recorded')
  })

  t.test('a wait on a lock is bounded by statement_timeout: the batch throws and writes nothing, and books once the lock is gone', async (t) => {
    const url = freshDatabase()
    const store = freshStore(url, { statementTimeoutMs: 300 })
    t.teardown(() => store.close())
    topUp(store, UID, 1_000)
    const other = sideConnection(t, url)
    // Another session (a stuck gateway, later) holds the customer's account row.
    other.query('BEGIN')
    other.query('SELECT balance FROM accounts WHERE id = $1 FOR UPDATE', [customer])
    t.throws(() => topUp(store, UID, 500), /statement timeout/)
    other.query('ROLLBACK')
    t.equal(store.account(customer)?.balance, 1_000, 'nothing of the refused batch')
    t.equal(store.stats().externalBookings, 1)
    topUp(store, UID, 500)
    t.equal(store.account(customer)?.balance, 1_500, 'the same store books again')
    t.strictSame(store.checkInvariants(), [])
  })

  t.test('a connection killed in the middle of a batch: the batch throws, nothing of it is written, the next batch reconnects', async (t) => {
    const url = freshDatabase()
    const store = freshStore(url)
    t.teardown(() => store.close())
    const admin = sideConnection(t, url)
    topUp(store, UID, 1_000)
    const before = { balance: store.account(customer), stats: store.stats() }
    const error = thrown(() =>
      store.batch(() => {
        topUp(store, UID, 200)
        // The server ends the store's session (and waits until it has gone), as a failover would.
        admin.query(`SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'wristpay-gateway'`)
        topUp(store, UID, 300)
      }),
    )
    t.type(error, PgUnavailableError)
    t.match((error as Error).message, /connection to PostgreSQL at .* broke/)
    t.strictSame({ balance: store.account(customer), stats: store.stats() }, before, 'nothing of the batch is there')
    topUp(store, UID, 400)
    t.equal(store.account(customer)?.balance, 1_400)
    t.strictSame(store.checkInvariants(), [])
  })

  t.test("a batch that lost to another writer says so (isConflict: run it again); a timeout or a plain error does not", async (t) => {
    const url = freshDatabase()
    const store = freshStore(url, { statementTimeoutMs: 300 })
    t.teardown(() => store.close())
    const booked = topUp(store, UID, 1_000)
    // What a second gateway booking the same payment meets: the unique key the first one wrote.
    const duplicate = thrown(() => store.batch(() => store.commitExternal({ ...booked, id: randomUUID(), receiptId: randomUUID() }, topUpPostings(UID, 1_000))))
    t.equal(sqlStateOf(duplicate), '23505', "the server's SQLSTATE is kept on the error")
    t.ok(store.isConflict(duplicate))
    const other = sideConnection(t, url)
    other.query('BEGIN')
    other.query('SELECT balance FROM accounts WHERE id = $1 FOR UPDATE', [customer])
    const timeout = thrown(() => topUp(store, UID, 500))
    other.query('ROLLBACK')
    t.equal(sqlStateOf(timeout), '57014')
    t.notOk(store.isConflict(timeout), 'a lock held too long is not a lost race')
    t.notOk(store.isConflict(new Error('deadlock detected')), 'nor an error without a SQLSTATE')
    t.throws(() => store.lockKiosks(['bar-1']), /inside one/, 'kiosks are locked for a batch only')
  })

  t.test('a caught write error inside a batch fails the batch rather than commit it in part', async (t) => {
    const store = freshStore()
    t.teardown(() => store.close())
    topUp(store, UID, 1_000)
    const duplicate = booking('stripe:twice', topUpPostings(UID, 100))
    t.throws(
      () =>
        store.batch(() => {
          store.commitExternal(duplicate, topUpPostings(UID, 100))
          try {
            store.commitExternal({ ...duplicate, id: randomUUID(), receiptId: randomUUID() }, topUpPostings(UID, 100))
          } catch {
            // swallowed on purpose
          }
        }),
      /nothing of the batch was written/,
    )
    t.equal(store.externalBookingByRef('stripe:twice'), undefined)
    t.equal(store.account(customer)?.balance, 1_000)
  })

  t.test('migrations: a new database is brought to this version once; one from a newer build is refused and left alone', async (t) => {
    const url = freshDatabase()
    const side = sideConnection(t, url)
    t.strictSame(side.query('SELECT version FROM schema_version'), [{ version: PG_SCHEMA_VERSION }], 'the template was migrated')
    freshStore(url).close()
    t.strictSame(side.query('SELECT version FROM schema_version'), [{ version: PG_SCHEMA_VERSION }], 'opening again changes nothing')
    side.query('UPDATE schema_version SET version = $1', [PG_SCHEMA_VERSION + 1])
    const error = thrown(() => freshStore(url))
    t.type(error, SchemaTooNewError)
    t.match((error as Error).message, new RegExp(`schema version ${PG_SCHEMA_VERSION + 1}, this build knows ${PG_SCHEMA_VERSION}: a newer wristpay gateway`))
    t.strictSame(side.query('SELECT version FROM schema_version'), [{ version: PG_SCHEMA_VERSION + 1 }], 'left as it was')
  })

  t.test('a server that does not answer: connecting fails after connect_timeout instead of hanging', async (t) => {
    // Accepts TCP connections (the kernel does, even while this process waits) and never says a word.
    const silent = createServer(() => {})
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done))
    t.teardown(() => silent.close())
    const { port } = silent.address() as { port: number }
    const error = thrown(() => createPgLedgerStore({ url: `postgres://nobody:secret@127.0.0.1:${port}/ledger`, connectTimeoutSeconds: 2 }))
    t.type(error, PgUnavailableError)
    t.match((error as Error).message, /^PostgreSQL at postgres:\/\/nobody:\*\*\*@127\.0\.0\.1:\d+\/ledger is unreachable: .*timeout expired/)
    t.notMatch((error as Error).message, /secret/, 'the password stays out of the message')
  })

  // Last: it stops the file's server and starts it again.
  t.test('a server stopped mid-test: batches throw a clear error, nothing is half-written, and the store works again after the restart', async (t) => {
    const url = freshDatabase()
    const store = freshStore(url)
    t.teardown(() => store.close())
    topUp(store, UID, 1_000)
    await server.kill()
    const error = thrown(() => topUp(store, UID, 500))
    t.type(error, PgUnavailableError)
    t.match((error as Error).message, /PostgreSQL at postgres:\/\/wristpay:\*\*\*@127\.0\.0\.1:\d+\/ledger_\d+/)
    t.throws(() => topUp(store, UID, 500), /unreachable: .*Connection refused/, 'and again while it is down, at once')
    await server.restart()
    t.equal(store.account(customer)?.balance, 1_000, 'the committed top-up survived the crash; the refused ones are not there')
    t.equal(store.stats().externalBookings, 1)
    topUp(store, UID, 500)
    t.equal(store.account(customer)?.balance, 1_500, 'the store reconnects and books')
    t.strictSame(store.checkInvariants(), [])
  })
}
