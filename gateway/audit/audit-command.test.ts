// `wristpay-gateway audit`, in-process: the file from --db or from the
// configured data dir, each finding printed (or one JSON object), and the exit
// codes 0 clean, 1 findings, 2 usage or an unreadable file.
import { copyFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { DB_FILE_NAME } from '../app.js'
import { USAGE, main } from '../bin.js'
import { runAuditCommand } from './audit-command.js'
import { writeAuditedLedger } from './testing/audited-ledger.js'

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = ''
  let stderr = ''
  const code = runAuditCommand(args, env, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text) })
  return { code, stdout, stderr }
}

function damagedCopy(t: Test): { clean: string; damaged: string } {
  const { path: clean } = writeAuditedLedger(t.testdir())
  const damaged = join(t.testdirName, 'damaged.db')
  copyFileSync(clean, damaged)
  const db = new Database(damaged)
  db.prepare(`UPDATE accounts SET balance = balance + 500 WHERE kind = 'revenue' AND ref = 'bar'`).run()
  db.close()
  return { clean, damaged }
}

t.test('a clean file: exit 0 and a line saying what was checked', async (t) => {
  const { clean } = damagedCopy(t)
  const r = run(['--db', clean])
  t.equal(r.code, 0)
  t.match(r.stdout, new RegExp(`audit of .*ledger\\.db: clean \\(4 kiosks, 7 transactions, \\d+ postings`))
  t.equal(r.stderr, '')
})

t.test('a damaged file: exit 1 and each finding on its own line with its code', async (t) => {
  const { damaged } = damagedCopy(t)
  const r = run(['--db', damaged])
  t.equal(r.code, 1)
  const lines = r.stdout.trimEnd().split('\n')
  t.match(lines, [/^balance_differs_from_postings {2}account revenue:bar: balance \d+ cents, but its postings sum to \d+$/, /^balances_do_not_sum_to_zero {2}the balances of all accounts sum to 500 cents, not 0$/, /: 2 findings \(checked /])
})

t.test('--json prints one JSON object', async (t) => {
  const { damaged } = damagedCopy(t)
  const r = run(['--db', damaged, '--json'])
  t.equal(r.code, 1)
  const report = JSON.parse(r.stdout) as { db: string; clean: boolean; findings: Array<{ code: string; object: { kind: string; id: string }; message: string }>; checked: { transactions: number } }
  t.equal(report.db, damaged)
  t.equal(report.clean, false)
  t.same(report.findings.map((f) => f.code), ['balance_differs_from_postings', 'balances_do_not_sum_to_zero'])
  t.equal(report.checked.transactions, 7)
})

t.test('without --db: the configured data dir ledger file', async (t) => {
  const { clean } = damagedCopy(t)
  const dataDir = join(t.testdirName, 'data')
  mkdirSync(dataDir)
  copyFileSync(clean, join(dataDir, DB_FILE_NAME))
  const r = run(['--json'], { WRISTPAY_GATEWAY_DATA_DIR: dataDir })
  t.equal(r.code, 0)
  t.equal((JSON.parse(r.stdout) as { db: string }).db, join(dataDir, DB_FILE_NAME))
})

t.test('usage errors and unreadable files exit 2', async (t) => {
  const dir = t.testdir({ 'notes.txt': 'not a database', 'empty.db': '' })
  const usage = run(['--frobnicate'])
  t.equal(usage.code, 2)
  t.match(usage.stderr, /Usage:\n {2}audit \[--db FILE \| --store URL\]/)
  t.equal(run(['--db', 'x', '--config', 'y']).code, 2)
  for (const file of ['notes.txt', 'missing.db', 'empty.db']) {
    const r = run(['--db', join(dir, file)])
    t.equal(r.code, 2, file)
    t.match(r.stderr, /cannot audit/, file)
    t.equal(r.stdout, '', file)
  }
})

t.test('the gateway binary dispatches audit and lists it in its usage', async (t) => {
  t.match(USAGE, /wristpay-gateway audit \[--db FILE \| --store URL\] \[--json\]/)
  t.match(USAGE, /\n {2}audit \[--db FILE \| --store URL\]/)
  t.equal(await main(['audit', '--db', join(t.testdir(), 'missing.db')], {}), 2)
})
