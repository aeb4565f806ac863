// README's operations guide, run: a primary and a streaming replica made with
// pg_basebackup -R and a replication slot, the replica made synchronous
// (synchronous_standby_names, set once it streams), a ledger booking on the
// primary through a store URL that names both servers with
// target_session_attrs=read-write. The primary is killed the hard way (a
// crash), the replica promoted with pg_ctl promote. Then every sale answered
// before the crash is on the promoted server, its books balance and the audit
// finds nothing, and the same ledger, without a restart, books its next sale
// there once its connection has found the new primary.
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { auditLedgerDatabase } from '../audit/audit.js'
import { createLedger } from '../ledger/ledger.js'
import { applyAll, applyOne, L, opsSetup, STAFF, StaffedKiosk } from '../ledger/testing/operations-fixtures.js'
import { fixedClock, silentLogger, UID } from '../ledger/testing/test-helpers.js'
import { postgresForFile } from '../testing/postgres-server.js'
import { startStandby } from '../testing/postgres-standby.js'
import { openPgConnection } from './connection.js'
import { createPgSqlDatabase } from './sql-database.js'

const pg = await postgresForFile(t)

t.test('a synchronous standby promoted after the primary crashed holds every answered sale, and the ledger books on it without a restart', { skip: pg === undefined }, async (t) => {
  const primary = pg!.server
  const { name } = pg!.freshDatabase('standby')
  const standby = await startStandby(primary, { slot: 'standby1', applicationName: 'standby1' })
  t.teardown(() => standby.stop())

  // Made synchronous only once it streams: set before, every commit on the primary would wait for a standby that is not there.
  const admin = openPgConnection({ url: primary.url() })
  t.teardown(() => admin.close())
  admin.query("ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (standby1)'")
  admin.query('SELECT pg_reload_conf()')
  let syncState: string | undefined
  for (let i = 0; i < 300 && syncState !== 'sync'; i++) {
    syncState = admin.query<{ sync_state: string }>("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'")[0]?.sync_state
    if (syncState !== 'sync') await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.equal(syncState, 'sync', 'the primary sees the standby streaming, synchronous')
  t.same(
    admin.query("SELECT slot_name, slot_type FROM pg_replication_slots"),
    [{ slot_name: 'standby1', slot_type: 'physical' }],
    'pg_basebackup -C made its replication slot',
  )

  // The gateway's store URL: both servers, the password in a 0600 passfile; libpq connects to whichever takes writes.
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-standby-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const password = decodeURIComponent(new URL(primary.url()).password)
  const passfile = join(dir, 'pgpass')
  writeFileSync(passfile, `127.0.0.1:*:${name}:wristpay:${password}\n`, { mode: 0o600 })
  const store = `postgres://wristpay@127.0.0.1,127.0.0.1/${name}?port=${primary.port},${standby.port}&target_session_attrs=read-write&passfile=${passfile}`
  const connection = openPgConnection({ url: store, connectTimeoutSeconds: 2 })
  t.teardown(() => connection.close())
  const ledger = createLedger({ db: createPgSqlDatabase(connection), clock: fixedClock(), logger: silentLogger })
  const bar = new StaffedKiosk('bar-1', STAFF.cashier)
  const desk = new StaffedKiosk('desk-1', STAFF.supervisor)
  ledger.registry.importEventSetup(opsSetup({ 'bar-1': bar.keys, 'desk-1': desk.keys }))
  const answered = [
    ...applyAll(ledger, desk.topup(UID.alice, 20_000), desk.topup(UID.bob, 5_000)),
    ...applyAll(ledger, bar.cart(UID.alice, [L.beer(2)]), bar.cart(UID.bob, [L.water()])),
    applyOne(ledger, bar.cart(UID.alice, [L.beer(1), L.water()])),
  ]
  t.same(answered.map((a) => a.status), ['accepted', 'accepted', 'accepted', 'accepted', 'accepted'], 'the sales are answered, each after its commit reached the standby')
  const aliceAnswered = answered[4]!.balance

  // Failover: the primary crashes (no shutdown), the standby is promoted.
  await primary.kill()
  standby.promote()
  const promoted = openPgConnection({ url: standby.url(name) })
  t.teardown(() => promoted.close())
  t.same(promoted.query('SELECT pg_is_in_recovery() AS recovery'), [{ recovery: false }], 'the promoted standby takes writes')

  // The ledger on the promoted server, read afresh: everything answered is there, once, and balances.
  const afterDb = createPgSqlDatabase(promoted)
  const after = createLedger({ db: afterDb, clock: fixedClock(), logger: silentLogger })
  t.match(after.stats(), { accepted: answered.length, rejected: 0 }, 'every answered transaction, once')
  t.equal(after.balanceOf(UID.alice), aliceAnswered, "alice's balance as her last answer said")
  t.same(after.checkInvariants(), [], 'postings sum to zero, balances equal postings')
  t.equal(after.sumOfAllBalances(), 0)
  t.same(auditLedgerDatabase({ db: afterDb }).findings, [], 'the audit finds nothing')

  // The running ledger's connection broke with the primary; its next batch reconnects, and the URL leads it to the new primary.
  const next = bar.cart(UID.alice, [L.water()])
  let answer: ReturnType<typeof applyOne> | undefined
  const failures: string[] = []
  for (let attempt = 0; attempt < 5 && answer === undefined; attempt++) {
    try {
      answer = applyOne(ledger, next)
    } catch (error) {
      failures.push((error as Error).name)
    }
  }
  t.ok(failures.every((name) => name === 'PgUnavailableError'), `a batch on the broken connection fails as unavailable (${failures.join(', ') || 'none'})`)
  t.match(answer, { status: 'accepted' }, 'the next sale is booked on the promoted server')
  t.same(promoted.query<{ port: number }>('SELECT inet_server_port() AS port'), [{ port: standby.port }])
  t.match(after.stats(), { accepted: answered.length + 1 }, 'and is there')
  t.same(after.checkInvariants(), [])
})
