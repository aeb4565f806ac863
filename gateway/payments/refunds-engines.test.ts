// Card refunds' records on SQLite and on PostgreSQL (gateway/testing/sql-engines.ts): the refund service on a bare
// database, with top-ups written as online-topups.ts writes them and a ledger that only counts its bookings;
// refunds.test.ts and its neighbours test refunds with the real ledger and provider on SQLite.
import t from 'tap'
import { fixedClock, silentLogger } from '../ledger/testing/test-helpers.js'
import { migrateGatewayDatabase } from '../migrations.js'
import { sqlEngines } from '../testing/sql-engines.js'
import type { PaymentProvider } from './provider.js'
import { createCardRefunds } from './refunds.js'
import { countingLedger, paidTopup } from './testing/counting-ledger.js'

const engines = await sqlEngines(t)

for (const engine of engines) {
  t.test(`${engine.name}: a refund splits over the guest's top-ups newest first and lists its parts so`, async (t) => {
    const db = engine.open(t)
    migrateGatewayDatabase(db)
    const clock = fixedClock(10_000)
    // Ids that sort in the order they are made, as UUIDs made at the same millisecond do not.
    let ids = 0
    const newId = () => `id-${String(++ids).padStart(3, '0')}`
    const ledger = countingLedger(() => 1_700)
    const provider = { name: 'sim', refunds: {} } as unknown as PaymentProvider
    const refunds = createCardRefunds({ db, ledger, providers: { sim: provider }, currency: 'EUR', clock, logger: silentLogger, newId })
    paidTopup(db, 'tp-old', '04A1', 500, 1_000)
    paidTopup(db, 'tp-mid', '04A1', 1_000, 2_000)
    paidTopup(db, 'tp-new', '04A1', 300, 3_000)
    paidTopup(db, 'tp-bob', '04B2', 900, 2_500)

    const before = refunds.refundable('04A1')
    t.same(before.topups.map((tp) => [tp.topupId, tp.remainingCents]), [['tp-new', 300], ['tp-mid', 1_000], ['tp-old', 500]])
    t.equal(before.maxCents, 1_700)
    const first = refunds.book({ uid: '04A1', amountCents: 1_500, by: { via: 'operator', operator: 'anna' } })
    t.same(first.parts.map((p) => p.amountCents), [300, 1_000, 200], 'newest first, the oldest top-up gives the rest')
    t.equal(ledger.bookings, 3, 'one booking per part')
    t.same(refunds.get(first.id)?.parts.map((p) => p.amountCents), [300, 1_000, 200], 'read back in the same order')
    t.same(refunds.refundable('04A1').topups.map((tp) => [tp.topupId, tp.remainingCents]), [['tp-old', 300]], 'what the parts took is gone')

    const second = refunds.book({ uid: '04A1', amountCents: 100, by: { via: 'portal' } })
    t.same(refunds.list('04A1').map((r) => [r.id, r.amountCents]), [[second.id, 100], [first.id, 1_500]], 'requests of the same millisecond: the later first')
    t.same(refunds.list('04B2'), [])
  })
}
