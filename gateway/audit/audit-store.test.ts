// `wristpay-gateway audit` on the PostgreSQL store, on a private server: the
// ledger of real signed traffic (the same as audit-command.test.ts's file)
// audits clean, damage done with plain SQL on the store is found with the
// same codes, lines and exit codes as on the file, the store comes from
// --store, WRISTPAY_GATEWAY_STORE or the config file as the gateway's start
// takes it, the audit's session cannot write, and a store it cannot read
// exits 2.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { main } from '../bin.js'
import { openPgConnection } from '../postgres/connection.js'
import { createPgSqlDatabase } from '../postgres/sql-database.js'
import { passfileUrl, postgresForFile } from '../testing/postgres-server.js'
import { openStoreReadOnly } from './audit.js'
import { runAuditCommand } from './audit-command.js'
import { fillAuditedLedger, type AuditedLedgerIds } from './testing/audited-ledger.js'

const pg = await postgresForFile(t)

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = ''
  let stderr = ''
  const code = runAuditCommand(args, env, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text) })
  return { code, stdout, stderr }
}

if (pg !== undefined) {
  const { server } = pg
  // The traffic is booked once; each test audits a copy of it (CREATE DATABASE ... TEMPLATE).
  const template = pg.freshDatabase('audited')
  let ids: AuditedLedgerIds
  {
    const connection = openPgConnection({ url: template.url })
    try {
      ids = fillAuditedLedger(createPgSqlDatabase(connection))
    } finally {
      connection.close()
    }
  }
  let copies = 0
  /** A copy of the audited store: its URL as an operator gives it (password in a passfile), and plain SQL on it for the damage. */
  const auditedStore = (t: Test) => {
    const name = `audited_copy_${++copies}`
    const url = server.createDatabase(name, template.name)
    const store = passfileUrl(url, t.testdir())
    return {
      store,
      where: `postgres://wristpay@127.0.0.1:${server.port}/${name}`,
      damage(sql: string, ...params: string[]) {
        const connection = openPgConnection({ url })
        try {
          // Damage as an attacker or a broken disk would: no trigger or key in the way.
          connection.query('SET session_replication_role = replica')
          const changed = connection.query<{ n: number }>(`WITH changed AS (${sql} RETURNING 1) SELECT COUNT(*)::int AS n FROM changed`, params)[0]!.n
          if (changed === 0) throw new Error(`damage changed nothing: ${sql}`)
        } finally {
          connection.close()
        }
      },
    }
  }

  t.test('a clean store: exit 0 and the line saying what was checked, the store named without credentials', async (t) => {
    const { store, where } = auditedStore(t)
    const r = run(['--store', store])
    t.equal(r.stderr, '')
    t.equal(r.code, 0)
    t.match(r.stdout, new RegExp(`^audit of ${where.replace(/[./]/g, '\\$&')}: clean \\(4 kiosks, 7 transactions, \\d+ postings, \\d+ accounts, 1 external bookings, 1 debts\\)\\n$`))
    t.notMatch(r.stdout, /passfile|pgpass/)
  })

  t.test("a tampered balance: exit 1 and the file's findings, line for line", async (t) => {
    const { store, damage } = auditedStore(t)
    damage(`UPDATE accounts SET balance = balance + 500 WHERE kind = 'revenue' AND ref = 'bar'`)
    const r = run(['--store', store])
    t.equal(r.code, 1)
    t.match(r.stdout.trimEnd().split('\n'), [
      /^balance_differs_from_postings {2}account revenue:bar: balance \d+ cents, but its postings sum to \d+$/,
      /^balances_do_not_sum_to_zero {2}the balances of all accounts sum to 500 cents, not 0$/,
      /: 2 findings \(checked /,
    ])
  })

  t.test("a tampered sale and a deleted posting: the chain's and the double entry's codes, as --json", async (t) => {
    const { store, where, damage } = auditedStore(t)
    damage(`UPDATE transactions SET amount = amount + 100 WHERE id = $1`, ids.beerWithCup)
    damage(`DELETE FROM postings WHERE id = (SELECT MIN(id) FROM postings WHERE tx_id = $1)`, ids.secondBarSale)
    const r = run(['--store', store, '--json'])
    t.equal(r.code, 1)
    const report = JSON.parse(r.stdout) as { db: string; clean: boolean; findings: Array<{ code: string; object: { kind: string; id: string } }>; checked: { transactions: number } }
    t.equal(report.db, where)
    t.equal(report.clean, false)
    const found = (code: string) => report.findings.filter((f) => f.code === code).map((f) => f.object.id)
    t.same([...new Set(report.findings.map((f) => f.code))].sort(), ['balance_differs_from_postings', 'booking_missing_postings', 'booking_unbalanced', 'transaction_differs_from_envelope'])
    t.same(found('transaction_differs_from_envelope'), [ids.beerWithCup])
    t.same(found('booking_unbalanced'), [ids.secondBarSale])
    t.same(found('booking_missing_postings'), [ids.secondBarSale], 'a water sale has two postings: one is left')
    t.equal(report.checked.transactions, 7)
  })

  t.test('without --store: the store of WRISTPAY_GATEWAY_STORE or of the config file, before the data dir', async (t) => {
    const { store, where, damage } = auditedStore(t)
    damage(`UPDATE accounts SET balance = balance + 1 WHERE kind = 'revenue' AND ref = 'bar'`)
    const dir = t.testdirName
    const fromEnv = run(['--json'], { WRISTPAY_GATEWAY_STORE: store, WRISTPAY_GATEWAY_DATA_DIR: join(dir, 'no-such-dir') })
    t.equal(fromEnv.code, 1, fromEnv.stderr)
    t.equal((JSON.parse(fromEnv.stdout) as { db: string }).db, where)
    const config = join(dir, 'gateway.json')
    writeFileSync(config, JSON.stringify({ store, dataDir: join(dir, 'no-such-dir') }))
    const fromFile = run(['--config', config])
    t.equal(fromFile.code, 1, fromFile.stderr)
    t.match(fromFile.stdout, new RegExp(`audit of ${where.replace(/[./]/g, '\\$&')}: 2 findings`))
  })

  t.test("the audit's session is read-only: a write through it is refused and changes nothing", async (t) => {
    const { store } = auditedStore(t)
    const opened = openStoreReadOnly(store, {})
    t.teardown(() => opened.close())
    t.throws(() => opened.db.prepare(`UPDATE accounts SET balance = balance + 1`).run(), /read-only transaction/)
    t.throws(() => opened.db.transaction(() => opened.db.prepare(`DELETE FROM postings`).run()).deferred(), /read-only transaction/)
    t.throws(() => opened.db.transaction(() => opened.db.prepare(`DELETE FROM postings`).run())(), /read-only transaction/, "the writers' transaction too")
    t.ok(opened.db.prepare<[], { n: number }>(`SELECT COUNT(*) AS n FROM postings`).get()!.n > 10, 'the postings are all there')
    t.equal(run(['--store', store]).code, 0, 'the store still audits clean')
  })

  t.test('a store it cannot read, or a URL the gateway would refuse: exit 2 and why, nothing on stdout', async (t) => {
    const dir = t.testdir()
    const empty = passfileUrl(pg.freshDatabase('not_a_ledger').url, dir)
    const cases: Array<[string, string[], RegExp]> = [
      ['a database without the ledger', ['--store', empty], /cannot audit postgres:\/\/wristpay@127\.0\.0\.1:\d+\/not_a_ledger_\d+: .*(does not exist)/],
      ['a database that is not there', ['--store', empty.replace(/not_a_ledger_\d+/, 'missing')], /cannot audit postgres:\/\/wristpay@127\.0\.0\.1:\d+\/missing: /],
      ['a password in the URL', ['--store', server.url('postgres')], /carries a password: put it in a passfile/],
      ['not a postgres:// URL', ['--store', 'mysql://db/x'], /store must be a postgres:\/\/ URL/],
      ['--store and --db', ['--store', empty, '--db', 'x.sqlite'], /name one of them/],
      ['--store and --config', ['--store', empty, '--config', 'x.json'], /--store names the database itself/],
    ]
    for (const [name, args, message] of cases) {
      const r = run(args)
      t.equal(r.code, 2, name)
      t.match(r.stderr, message, name)
      t.equal(r.stdout, '', name)
      t.notMatch(r.stderr, /:[0-9a-f]{24}@/, `${name}: no password in the message`)
    }
  })

  t.test('the gateway binary passes --store on to the audit', async (t) => {
    // stderr, not stdout: this process's stdout is the test's own report.
    const store = passfileUrl(pg.freshDatabase('bin_not_a_ledger').url, t.testdir())
    let err = ''
    const write = process.stderr.write
    process.stderr.write = ((chunk: string) => ((err += chunk), true)) as typeof process.stderr.write
    let code: number
    try {
      code = await main(['audit', '--store', store], {})
    } finally {
      process.stderr.write = write
    }
    t.equal(code, 2)
    t.match(err, /^wristpay-gateway: cannot audit postgres:\/\/wristpay@127\.0\.0\.1:\d+\/bin_not_a_ledger_\d+: /)
  })
}
