// A guest's orders and receipts read by the one implementation both stores
// use (createOrderReads in orders.ts, over the SqlDatabase), on SQLite and on
// PostgreSQL (gateway/testing/sql-engines.ts): the same festival booked on
// each engine (sales with deposits and happy hour, cup returns, cancels, cash
// and online top-ups, refunds, refused sales, several at one booking time)
// gives the same list on both, field by field (ids and receipt ids are random,
// so they are compared by position), the tie order of equal times included,
// and every receipt of it is found on both.
import t, { type Test } from 'tap'
import { sqlEngines, type SqlEngine } from '../testing/sql-engines.js'
import { createLedger } from './ledger.js'
import { createOrderReads } from './orders.js'
import { busyGuest } from './testing/busy-guest.js'
import { OPS_UID, opsSetup, STAFF, StaffedKiosk } from './testing/operations-fixtures.js'
import { fixedClock, silentLogger } from './testing/test-helpers.js'
import type { CustomerOrder } from './types.js'

const engines = await sqlEngines(t)

/** One festival of two guests on `engine`; the orders of each as read by createOrderReads, with the ids to compare by. */
function festival(t: Test, engine: SqlEngine) {
  const db = engine.open(t)
  const clock = fixedClock()
  const ledger = createLedger({ db, clock, logger: silentLogger })
  const bar = new StaffedKiosk('bar-1', STAFF.cashier)
  const desk = new StaffedKiosk('desk-1', STAFF.supervisor)
  const cash = new StaffedKiosk('cash-1', STAFF.topup)
  const food = new StaffedKiosk('food-1', STAFF.supervisor)
  ledger.registry.importEventSetup(opsSetup({ 'bar-1': bar.keys, 'desk-1': desk.keys, 'cash-1': cash.keys, 'food-1': food.keys }))
  // Twelve rounds of alice's, three of bob's: some of them at one booking time, where the tie order must be the same on both engines.
  const w = { ledger, clock, kiosks: { bar, desk, cash, food } }
  busyGuest(w, OPS_UID.alice, 12)
  busyGuest(w, OPS_UID.bob, 3)
  return { reads: createOrderReads(db), ledger }
}

/** An order without what is random (ids, receipt ids): what the guest sees, in its place in the list. */
const shown = (order: CustomerOrder) => {
  const { id: _id, receiptId: _receiptId, cancels, ...rest } = order
  return { ...rest, ...(cancels === undefined ? {} : { cancels: { kind: cancels.kind, lines: cancels.lines } }) }
}

const lists = new Map<string, { alice: ReturnType<typeof shown>[]; bob: ReturnType<typeof shown>[] }>()

for (const engine of engines) {
  t.test(`${engine.name}: a guest's orders, newest first, and every receipt of them`, async (t) => {
    const { reads, ledger } = festival(t, engine)
    const alice = reads.customerOrders(OPS_UID.alice)
    const kinds = new Set(alice.map((o) => o.kind))
    for (const kind of ['sale', 'return', 'cancel', 'topup_cash', 'topup_online', 'refund']) t.ok(kinds.has(kind), `the list has a ${kind}`)
    t.ok(alice.some((o) => o.cancels !== undefined && o.cancels.lines.length > 0), 'a cancel names the lines of the sale it took back')
    t.ok(alice.some((o) => (o.customerDelta ?? 0) < 0), 'a refund keeps its negative sign')
    t.ok(alice.some((o, i) => i > 0 && o.bookedAt === alice[i - 1]!.bookedAt), 'some orders share a booking time')
    for (let i = 1; i < alice.length; i++) t.ok(alice[i - 1]!.bookedAt >= alice[i]!.bookedAt, `newest first at ${i}`)
    t.same(alice, ledger.customerOrders(OPS_UID.alice), "the ledger's list is these reads")
    for (const order of alice) t.same(reads.receipt(order.receiptId), { ...order, customerUid: OPS_UID.alice }, `receipt of a ${order.kind}`)
    t.equal(reads.receipt('00000000-0000-4000-8000-000000000000'), undefined)
    t.same(reads.customerOrders('04FFFFFFFFFFFF'), [])
    lists.set(engine.name, { alice: alice.map(shown), bob: reads.customerOrders(OPS_UID.bob).map(shown) })
  })
}

if (engines.length > 1)
  t.test('the same festival gives the same lists on both engines, field by field and in the same order', async (t) => {
    const sqlite = lists.get('sqlite')
    const postgres = lists.get('postgres')
    t.ok(sqlite !== undefined && postgres !== undefined, 'both engines listed')
    t.same(postgres?.alice, sqlite?.alice)
    t.same(postgres?.bob, sqlite?.bob)
  })
