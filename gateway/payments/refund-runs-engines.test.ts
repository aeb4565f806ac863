// Refund runs' records on SQLite and on PostgreSQL (gateway/testing/sql-engines.ts): runs made, approved by a
// second operator and executed on a bare database, with top-ups written as online-topups.ts writes them and a
// ledger that only counts its bookings; refund-runs.test.ts tests runs with the real ledger on SQLite.
import t from 'tap'
import { fixedClock, silentLogger } from '../ledger/testing/test-helpers.js'
import { migrateGatewayDatabase } from '../migrations.js'
import { sqlEngines } from '../testing/sql-engines.js'
import type { PaymentProvider } from './provider.js'
import { createRefundRuns } from './refund-runs.js'
import { createCardRefunds } from './refunds.js'
import { countingLedger, paidTopup } from './testing/counting-ledger.js'

const engines = await sqlEngines(t)

for (const engine of engines) {
  t.test(`${engine.name}: a run lists its guests in the order of their first top-up, is approved by another operator and books each once`, async (t) => {
    const db = engine.open(t)
    migrateGatewayDatabase(db)
    const clock = fixedClock(10_000)
    const ledger = countingLedger((uid) => ({ '04A1': 700, '04B2': 400, '04C3': 250, '04D4': 0 })[uid])
    const provider = { name: 'sim', refunds: {} } as unknown as PaymentProvider
    const refunds = createCardRefunds({ db, ledger, providers: { sim: provider }, currency: 'EUR', clock, logger: silentLogger })
    const runs = createRefundRuns({ db, ledger, refunds, clock, logger: silentLogger, allowedCountryCodes: () => null })
    // Not in the order of their uids: the run keeps the order of each guest's first paid top-up.
    paidTopup(db, 'tp-b', '04B2', 400, 3_000)
    paidTopup(db, 'tp-c', '04C3', 250, 1_000)
    paidTopup(db, 'tp-a2', '04A1', 500, 4_000)
    paidTopup(db, 'tp-a1', '04A1', 500, 2_000)
    paidTopup(db, 'tp-d', '04D4', 100, 500)

    const made = runs.create({ operator: 'anna' })
    t.same(made.items.map((i) => [i.uid, i.amount]), [['04C3', 250], ['04A1', 700], ['04B2', 400]], 'nothing for a guest without balance')
    t.same([made.itemCount, made.itemSum], [3, 1_350])
    t.throws(() => runs.approve(made.id, 'anna'), { code: 'approver_is_creator' })
    runs.approve(made.id, 'ben')
    const done = runs.execute(made.id, 'ben')
    t.same(done.run.items.map((i) => [i.uid, i.booked]), [['04C3', 250], ['04A1', 700], ['04B2', 400]])
    t.equal(ledger.bookings, 4, "alice's refund takes two top-ups: two parts, two bookings")
    t.same(runs.get(made.id).events.map((e) => e.action), ['created', 'refused', 'approved', 'executed'], 'the refused approval is kept too')
    t.same(runs.list().map((r) => [r.id, r.state]), [[made.id, 'executed']])
  })
}
