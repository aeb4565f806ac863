// The bank import queue on several gateways sharing one PostgreSQL database
// (issue 18): only the gateway holding the 'bank-import' lease decides, a job
// uploaded through another gateway is picked up by the holder's poll, a dead
// holder's job is finished once by the gateway that takes the lease over after
// its expiry, and a former holder commits nothing after the takeover. Each
// gateway has its own connections and fake timers (a dead gateway's never
// fire); expiry is reached by moving the lease's expiry into the past from a
// side connection, never by waiting.
import pino from 'pino'
import t, { type Test } from 'tap'
import { createLeaseKeeper, LeaseLostError, soleLeases, type IntervalTimers } from '../cluster-jobs.js'
import { openPgConnection, sqlStateOf, type PgConnection } from '../postgres/connection.js'
import { createPgLease } from '../postgres/lease.js'
import { createPgSqlDatabase } from '../postgres/sql-database.js'
import { openLedgerDatabase } from '../ledger/index.js'
import { postgresForFile } from '../testing/postgres-server.js'
import { createBankImportJobs, DECISIONS_PER_COMMIT, type BankLedger, type BankImportJobs } from './import-jobs.js'
import { createImportQueue } from './import-queue.js'
import { createTransferCodes } from './transfer-codes.js'
import type { SqlDatabase } from '../sql/database.js'
import { fakeIntervalTimers } from '../testing/fake-interval-timers.js'

const silent = pino({ level: 'silent' })
const clock = { now: () => Date.UTC(2026, 6, 1, 12) }
const POLL_MS = 5_000
/** Transfers that name no wristband: each is decided `nomatch`, without the ledger. */
const transfers = (n: number) => Array.from({ length: n }, (_, i) => ({ payer: 'Guest', reference: `no code ${i}`, amount: `${i + 1}.00`, date: '2026-07-01' }))
const noLedger = new Proxy({} as BankLedger, {
  get: (_, what) => () => {
    throw new Error(`a transfer naming nobody does not ask the ledger (${String(what)})`)
  },
})


/** One gateway's bank import on `db`, with the queue counting the decisions it committed. */
function bankImport(db: SqlDatabase, queueDeps: { lease?: ReturnType<typeof createLeaseKeeper>; pollMs?: number; timers?: IntervalTimers }) {
  const jobs = createBankImportJobs({ db, ledger: noLedger, transferCodes: createTransferCodes({ db, clock }), clock, logger: silent, currency: 'EUR' })
  const committed: number[] = []
  let dieAfter = Infinity
  const counted: Pick<BankImportJobs, 'openJobs' | 'processNext'> = {
    openJobs: () => jobs.openJobs(),
    processNext(jobId, fence) {
      if (committed.length >= dieAfter) throw new Error('this gateway died here')
      const more = jobs.processNext(jobId, fence)
      if (more) committed.push(jobId)
      return more
    },
  }
  const queue = createImportQueue({ jobs: counted, logger: silent, ...queueDeps })
  return { jobs, queue, committed, dieAfterCommits: (n: number) => (dieAfter = n) }
}

const statesOf = (jobs: BankImportJobs, id: number) => jobs.job(id)!.transactions.map((x) => x.state)

t.test('on SQLite the sole lease holds, and a poll picks up a job nobody kicked', async (t) => {
  const db = openLedgerDatabase(':memory:')
  t.teardown(() => db.close())
  const fake = fakeIntervalTimers()
  const keeper = createLeaseKeeper({ lease: soleLeases('bank-import'), logger: silent, timers: fake.timers })
  const g = bankImport(db, { lease: keeper, pollMs: POLL_MS, timers: fake.timers })
  const id = g.jobs.create({ event: null, transactions: transfers(3), createdBy: 'admin' })
  fake.fire(POLL_MS)
  await g.queue.drained()
  t.equal(g.jobs.job(id)!.state, 'completed')
  t.same(statesOf(g.jobs, id), ['nomatch', 'nomatch', 'nomatch'])
  t.equal([...fake.intervals.values()].filter((i) => i.ms !== POLL_MS).length, 0, 'a lease that never lapses is never renewed')
  await g.queue.stop()
  t.equal(fake.intervals.size, 0, 'stop ends the poll')
})

const pg = await postgresForFile(t)
if (pg !== undefined) {
  const { freshDatabase } = pg

  /** A database shared by the gateways, and a side connection to it (the test's own, for what a dead gateway or an operator would do). */
  function cluster(t: Test) {
    const url = freshDatabase('bank_cluster').url
    const opened: PgConnection[] = []
    const open = () => {
      const conn = openPgConnection({ url })
      opened.push(conn)
      return conn
    }
    t.teardown(() => opened.forEach((c) => c.close()))
    const side = open()
    /** A gateway process: its store's connection, its lease's connection, its own timers. */
    function gateway(holder: string) {
      const conn = open()
      const leaseConn = open()
      const db = createPgSqlDatabase(conn)
      const fake = fakeIntervalTimers()
      const keeper = createLeaseKeeper({ lease: createPgLease({ conn: leaseConn, name: 'bank-import', holder, ttlMs: 30_000 }), logger: silent, timers: fake.timers })
      const g = bankImport(db, { lease: keeper, pollMs: POLL_MS, timers: fake.timers })
      /** Dies: its timers never fire again, its connections are gone; its lease stays until the expiry. */
      const die = () => {
        conn.close()
        leaseConn.close()
      }
      return { ...g, db, keeper, fake, die, poll: () => (fake.fire(POLL_MS), g.queue.drained()) }
    }
    /** The lease ends now, as if its holder had stopped renewing long enough ago. */
    const expire = () => side.query(`UPDATE job_leases SET expires_at = clock_timestamp() - interval '1 second' WHERE name = 'bank-import'`)
    return { gateway, side, expire }
  }

  t.test('only the holder decides; a job uploaded through the other gateway is picked up by the holder’s poll', async (t) => {
    const { gateway } = cluster(t)
    const a = gateway('gateway-a')
    const b = gateway('gateway-b')
    await a.poll()
    t.equal(a.keeper.current()?.token, 1, 'A took the lease at its first poll')

    const id = b.jobs.create({ event: null, transactions: transfers(2 * DECISIONS_PER_COMMIT + 1), createdBy: 'admin' })
    b.queue.kick()
    await b.queue.drained()
    await b.poll()
    t.same(b.committed, [], 'B, uploaded to and polling, decides nothing: A holds the lease')
    t.equal(b.jobs.job(id)!.state, 'pending')

    await a.poll()
    t.same(a.committed, [id, id, id], 'A decided the job in three commits')
    t.equal(a.jobs.job(id)!.state, 'completed')
    t.ok(statesOf(a.jobs, id).every((s) => s === 'nomatch'))
    t.equal(b.keeper.current(), undefined)

    await a.queue.stop()
    await b.poll()
    t.equal(b.keeper.current()?.token, 2, 'A released the lease at its stop: B takes it at its next poll, without waiting for the expiry')
    await b.queue.stop()
  })

  t.test('a holder that dies mid-job: the other takes over after the expiry and finishes the job once', async (t) => {
    const { gateway, expire } = cluster(t)
    const a = gateway('gateway-a')
    const b = gateway('gateway-b')
    await a.poll()
    const id = a.jobs.create({ event: null, transactions: transfers(3 * DECISIONS_PER_COMMIT), createdBy: 'admin' })
    a.dieAfterCommits(1)
    a.queue.kick()
    await a.queue.drained()
    a.die()
    t.same(a.committed, [id], 'A committed one batch, then died')
    t.equal(statesOf(b.jobs, id).filter((s) => s === 'imported').length, 2 * DECISIONS_PER_COMMIT, 'two batches are left')

    await b.poll()
    t.same(b.committed, [], 'before the expiry B does not take over')
    t.equal(b.keeper.current(), undefined)

    expire()
    await b.poll()
    t.equal(b.keeper.current()?.token, 2, 'after it, B holds the lease with a higher token')
    t.same(b.committed, [id, id], 'and decides the two batches left, not the first again')
    t.equal(b.jobs.job(id)!.state, 'completed')
    t.ok(statesOf(b.jobs, id).every((s) => s === 'nomatch'))
    await b.queue.stop()
  })

  t.test('a holder whose lease was taken over commits nothing; while it holds, a takeover waits for its transaction', async (t) => {
    const { gateway, side, expire } = cluster(t)
    const a = gateway('gateway-a')
    const b = gateway('gateway-b')
    await a.poll()

    // Within A's deciding transaction the lease row is share-locked: a takeover cannot slip in before its commit.
    a.db.transaction(() => {
      t.ok(a.keeper.fence(a.db), 'A holds it')
      const err = t.throws(() => side.query(`SELECT 1 FROM job_leases WHERE name = 'bank-import' FOR UPDATE NOWAIT`))
      t.equal(sqlStateOf(err), '55P03', "the lease row is locked until A's transaction ends (a takeover would wait)")
    })()

    const id = a.jobs.create({ event: null, transactions: transfers(DECISIONS_PER_COMMIT), createdBy: 'admin' })
    expire()
    t.equal(b.keeper.hold()?.token, 2, 'A was paused past its expiry: B takes over')
    t.throws(() => a.jobs.processNext(id, a.keeper.fence), LeaseLostError, "A wakes up: its decision is refused in its own transaction")
    t.ok(statesOf(a.jobs, id).every((s) => s === 'imported'), 'nothing of it was committed')
    t.equal(a.keeper.current(), undefined, 'and A knows it lost the lease')
    a.fake.fire(10_000)
    t.equal(a.keeper.current(), undefined, "A's renewal timer does not bring it back")

    await b.poll()
    t.same(b.committed, [id], 'B decides the job')
    t.ok(statesOf(b.jobs, id).every((s) => s === 'nomatch'))
    await a.queue.stop()
    await b.queue.stop()
  })
}
