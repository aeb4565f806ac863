// A returned payout and the portal's view of payouts, on SQLite and on PostgreSQL (gateway/testing/sql-engines.ts):
// the stores on a bare database with a run written as payout-runs.ts writes one; payout-runs.test.ts and
// the bank import's tests make and return runs through the whole ledger on SQLite.
import t from 'tap'
import { fixedClock } from '../ledger/testing/test-helpers.js'
import { migrateGatewayDatabase } from '../migrations.js'
import type { SqlDatabase } from '../sql/database.js'
import { sqlEngines } from '../testing/sql-engines.js'
import { createPayoutReturns } from './payout-returns.js'
import { createPayoutReads } from './reads.js'

const engines = await sqlEngines(t)

const E2E_ALICE = 'WP-R1-1-ABCDEFGH'
const E2E_BOB = 'WP-R1-2-JKLMNPQR'

/** An exported run (alice paid 1200, bob's booking missing) and an open one holding carol; returns the runs' ids. */
function seedRuns(db: SqlDatabase): { exported: number; open: number } {
  migrateGatewayDatabase(db)
  const guest = db.prepare(`INSERT INTO portal_customers (uid, iban, account_name, email, has_entered_info) VALUES (?, 'DE89370400440532013000', ?, 'x@example.org', 1)`)
  for (const [uid, name] of [['04A1', 'Alice'], ['04B2', 'Bob'], ['04C3', 'Carol']] as const) guest.run(uid, name)
  const run = db.prepare<[string, number], { id: number }>(
    `INSERT INTO payout_runs (state, created_by, created_at, payout_count, payout_sum, donation_sum) VALUES (?, 'anna', ?, 0, 0, 0) RETURNING id`,
  )
  const item = db.prepare(
    `INSERT INTO payout_run_items (run_id, uid, end_to_end_id, iban, account_name, email, amount, donation, payout_booking, payout_receipt, open)
     VALUES (?, ?, ?, 'DE89370400440532013000', ?, 'x@example.org', ?, 0, ?, ?, ?)`,
  )
  const exported = run.get('created', 1_000)!.id
  item.run(exported, '04A1', E2E_ALICE, 'Alice', 1200, 'booking-a', 'receipt-a', 0)
  item.run(exported, '04B2', E2E_BOB, 'Bob', 800, null, null, 0)
  db.prepare(`UPDATE payout_runs SET state = 'exported', exported_by = 'ben', exported_at = 2000 WHERE id = ?`).run(exported)
  const open = run.get('created', 3_000)!.id
  item.run(open, '04C3', 'WP-R2-1-STUVWXYZ', 'Carol', 500, null, null, 1)
  return { exported, open }
}

for (const engine of engines) {
  t.test(`${engine.name}: a payout the bank sent back is found by its end-to-end id, marked once, and its account is not paid again`, async (t) => {
    const db = engine.open(t)
    const { exported } = seedRuns(db)
    const clock = fixedClock(5_000)
    const returns = createPayoutReturns({ db, clock })
    t.match(returns.findPayoutByEndToEndId(E2E_ALICE), { uid: '04A1', amountCents: 1200 })
    t.equal(returns.findPayoutByEndToEndId(E2E_BOB), undefined, 'a payout never booked cannot come back')
    t.equal(returns.findPayoutByEndToEndId('WP-R2-1-STUVWXYZ'), undefined, 'nor one of a run not exported')
    t.equal(returns.findPayoutByEndToEndId('not an id; DROP TABLE x'), undefined)

    const write = db.transaction(() => returns.markPayoutReturned(E2E_ALICE, { amountCents: 1200, checksum: 'c1' }))
    write()
    clock.advance(1_000)
    write()
    t.same(db.prepare(`SELECT returned_at FROM payout_run_items WHERE end_to_end_id = ?`).get(E2E_ALICE), { returned_at: 5_000 }, 'the first return is the one kept')
    t.same(db.prepare(`SELECT iban, has_entered_info FROM portal_customers WHERE uid = '04A1'`).get(), { iban: null, has_entered_info: 0 })
    const events = db.prepare<[number], { action: string; operator: string; detail: string }>(`SELECT action, operator, detail FROM payout_run_events WHERE run_id = ? ORDER BY id`).all(exported)
    t.equal(events.length, 2)
    t.match(JSON.parse(events[0]!.detail), { endToEndId: E2E_ALICE, uid: '04A1', amountCents: 1200, checksum: 'c1' })
    t.throws(() => returns.markPayoutReturned(E2E_BOB, { amountCents: 800, checksum: 'c2' }), /no exported payout/)
  })

  t.test(`${engine.name}: the portal reads a guest's payouts: paid, returned, or held by an open run`, async (t) => {
    const db = engine.open(t)
    seedRuns(db)
    const reads = createPayoutReads(db)
    t.same(reads.payoutInfo('04A1'), { inPayoutRun: true, payoutDateMs: 2_000 }, 'paid: the export date')
    t.same(reads.payoutTransactions('04A1'), [{ amountCents: 1200, bookedAtMs: 2_000, accountName: 'Alice', endToEndId: E2E_ALICE, receiptId: 'receipt-a' }])
    t.same(reads.payoutInfo('04C3'), { inPayoutRun: true, payoutDateMs: 3_000 }, 'an open run: its creation')
    t.same(reads.payoutInfo('04D4'), { inPayoutRun: false, payoutDateMs: null })
    db.prepare(`UPDATE payout_run_items SET returned_at = 9 WHERE uid = '04A1'`).run()
    t.same(reads.payoutInfo('04A1'), { inPayoutRun: false, payoutDateMs: null }, 'a returned payout is as if it never was')
    t.same(reads.payoutTransactions('04A1'), [])
  })
}
