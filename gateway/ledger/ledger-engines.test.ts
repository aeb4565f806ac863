// createLedger on the gateway's database, SQLite and PostgreSQL (the
// SqlDatabase facade, gateway/testing/sql-engines.ts): one test body per
// engine, the ledger's store and registry on the same database and its
// transactions. Sales, top-ups and refusals; the registry's writes inside a
// batch (a ticket's new wristband, a voucher used) kept with it or undone with
// it; a kiosk's key enrolled mid-chain and a kiosk enrolled by code, each from
// where its chain stands; shift reports, orders and receipts; and after all of
// it the ledger's invariants and the audit find nothing on either engine.
import t, { type Test } from 'tap'
import { auditLedgerDatabase } from '../audit/audit.js'
import { sqlEngines, type SqlEngine } from '../testing/sql-engines.js'
import { createLedger } from './ledger.js'
import { applyAll, applyOne, L, OPS_UID, opsSetup, STAFF, StaffedKiosk, type OpsKioskName } from './testing/operations-fixtures.js'
import { fixedClock, makeKioskKeys, silentLogger, UID } from './testing/test-helpers.js'
import type { LedgerStore } from './store.js'
import { accountIds } from './types.js'

const engines = await sqlEngines(t)

function world(t: Test, engine: SqlEngine, wrapStore?: (store: LedgerStore) => LedgerStore) {
  const db = engine.open(t)
  const clock = fixedClock()
  const ledger = createLedger({ db, clock, logger: silentLogger, ...(wrapStore === undefined ? {} : { wrapStore }) })
  const kiosks: Record<OpsKioskName, StaffedKiosk> = {
    bar: new StaffedKiosk('bar-1', STAFF.cashier),
    cash: new StaffedKiosk('cash-1', STAFF.topup),
    food: new StaffedKiosk('food-1', STAFF.supervisor),
    desk: new StaffedKiosk('desk-1', STAFF.supervisor),
  }
  ledger.registry.importEventSetup(opsSetup({ 'bar-1': kiosks.bar.keys, 'cash-1': kiosks.cash.keys, 'food-1': kiosks.food.keys, 'desk-1': kiosks.desk.keys }))
  /** The ledger's own checks and the audit's, both of which must find nothing. */
  const problems = () => ({ invariants: ledger.checkInvariants(), audit: auditLedgerDatabase({ db }).findings })
  return { db, ledger, kiosks, clock, problems }
}

const shiftOpen = (k: StaffedKiosk, float: number) => k.next({ type: 'shift_open', uid: STAFF.topup, amount: float }, { register: 'drawer-1' })
const shiftClose = (k: StaffedKiosk, counted: number) => k.next({ type: 'shift_close', uid: STAFF.topup, amount: counted }, { register: 'drawer-1' })

for (const engine of engines) {
  t.test(`${engine.name}: sales, top-ups and refusals, with orders, receipts and balance views`, async (t) => {
    const w = world(t, engine)
    const { desk, bar, food } = w.kiosks
    const [topup, sale, tooMuch, unknownTag, wrongPrice] = applyAll(
      w.ledger,
      desk.topup(UID.alice, 2_000),
      bar.cart(UID.alice, [L.beer(2), L.water()]),
      bar.cart(UID.alice, [L.beer(5)]),
      bar.cart(UID.stranger, [L.water()]),
      bar.cart(UID.alice, [{ ...L.water(), unitPrice: 150 }]),
    )
    t.match(topup, { status: 'accepted', balance: 2_000 })
    t.match(sale, { status: 'accepted', balance: 900 })
    t.match(tooMuch, { status: 'rejected', reason: 'insufficient_balance' })
    t.match(unknownTag, { status: 'rejected', reason: 'unknown_tag' })
    t.match(wrongPrice, { status: 'rejected', reason: 'price_mismatch' })
    t.match(applyOne(w.ledger, food.cart(UID.alice, [{ product: 'fries', qty: 1, unitPrice: 350 }])), { status: 'accepted', balance: 550 })
    t.equal(w.ledger.balanceOf(UID.alice), 550)
    t.equal(w.ledger.accountBalance(accountIds.revenue('bar')), 1_100)
    t.same(w.ledger.kioskCursor('bar-1'), { nextSeq: 5, lastHash: bar.lastHash }, 'the cursor stands after the last transaction, rejected ones included')
    t.match(w.ledger.stats(), { accepted: 3, rejected: 3 })

    const orders = w.ledger.customerOrders(UID.alice)
    t.same(
      orders.map((o) => [o.kind, o.amount, o.lines.map((l) => `${l.qty} ${l.name}`)]),
      [
        ['sale', 350, ['1 Fries']],
        ['sale', 1_100, ['2 Beer', '1 Water']],
        ['topup_cash', 2_000, []],
      ],
      'newest first (equal times: written last first), lines as booked',
    )
    t.match(w.ledger.receipt(orders[1]!.receiptId), { id: sale!.id, customerUid: UID.alice, kiosk: 'bar-1' })
    t.match(w.ledger.balanceView(UID.alice), { balance: 550, recent: [{ amount: -350, booth: 'food' }, { amount: -1_100, booth: 'bar' }, { amount: 2_000 }] })
    t.same(w.problems(), { invariants: [], audit: [] })
  })

  t.test(`${engine.name}: a wristband whose balance a refund run is paying back is refused at the till`, async (t) => {
    const w = world(t, engine)
    const { desk, bar } = w.kiosks
    t.match(applyOne(w.ledger, desk.topup(UID.alice, 2_000)), { status: 'accepted' })
    // An open item of a refund run (gateway/payments/refund-runs.ts), as the run writes it.
    const run = w.db
      .prepare<[number], { id: number }>(`INSERT INTO card_refund_runs (state, created_by, created_at, item_count, item_sum) VALUES ('created', 'anna', ?, 1, 2000) RETURNING id`)
      .get(w.clock.now())!
    w.db.prepare<[number, string]>('INSERT INTO card_refund_run_items (run_id, uid, amount) VALUES (?, ?, 2000)').run(run.id, UID.alice)
    t.match(applyOne(w.ledger, bar.cart(UID.alice, [L.water()])), { status: 'rejected', reason: 'in_payout_run' })
    t.equal(w.ledger.balanceOf(UID.alice), 2_000, 'nothing spent')
  })

  t.test(`${engine.name}: the registry's writes inside a batch are kept with it and undone with it`, async (t) => {
    let failOn: string | undefined
    const w = world(t, engine, (store) => ({
      ...store,
      commitTransaction(write) {
        if (write.tx.id === failOn) throw new Error('the disk is full')
        store.commitTransaction(write)
      },
    }))
    const { cash, bar } = w.kiosks
    applyAll(w.ledger, shiftOpen(cash, 10_000))
    const ticket = cash.next({ type: 'ticket', uid: OPS_UID.fresh, lines: [L.day()], amount: 5_000 })
    const crewBeer = bar.cart(OPS_UID.crew, [L.beer()])
    failOn = crewBeer.tx.id
    t.throws(() => applyAll(w.ledger, ticket, crewBeer), /the disk is full/)
    t.equal(w.ledger.wristband(OPS_UID.fresh), undefined, "the ticket's new wristband went with the failed batch")
    t.equal(w.ledger.registry.wristband(OPS_UID.crew)?.vouchers, 3, 'no voucher was used')
    t.equal(w.ledger.kioskCursor('cash-1')?.nextSeq, 2, "the ticket's cursor step went too")

    failOn = undefined
    const [sold, beer] = applyAll(w.ledger, ticket, crewBeer)
    t.match(sold, { status: 'accepted' })
    t.match(beer, { status: 'accepted' })
    t.match(w.ledger.wristband(OPS_UID.fresh), { blocked: false, balance: 0 }, 'the ticket brought its wristband in')
    t.equal(w.ledger.registry.wristband(OPS_UID.crew)?.vouchers, 2, 'the beer used a voucher')
    t.ok(w.ledger.registry.verifyPin(OPS_UID.fresh, w.ledger.registry.ticketPin(ticket.tx.id)), "the ticket's PIN logs in")

    applyAll(w.ledger, cash.topup(OPS_UID.fresh, 1_500), shiftClose(cash, 16_500))
    const [report] = w.ledger.shiftReports()
    t.match(report, { register: 'drawer-1', kiosk: 'cash-1', float: 10_000, expected: 16_500, counted: 16_500, difference: 0 })
    t.match(report, { tickets: { count: 1, cents: 5_000 }, cashTopups: { count: 1, cents: 1_500 } }, 'what the shift took, between its open and its close')
    t.same(w.problems(), { invariants: [], audit: [] })
  })

  t.test(`${engine.name}: a key enrolled mid-chain and a kiosk enrolled by code start where their chains stand`, async (t) => {
    const w = world(t, engine)
    const { desk, bar } = w.kiosks
    applyAll(w.ledger, desk.topup(UID.alice, 3_000), bar.cart(UID.alice, [L.water()]), bar.cart(UID.alice, [L.water()]))

    // bar-1 is re-imaged with a new key after two transactions: the key counts from seq 3.
    const newKeys = makeKioskKeys()
    const rebuilt = new StaffedKiosk('bar-1', STAFF.cashier, newKeys)
    rebuilt.history.push(...bar.history)
    w.ledger.registry.enrollKiosk('bar-1', newKeys.publicKeyBase64Url)
    t.match(applyOne(w.ledger, rebuilt.cart(UID.alice, [L.water()])), { status: 'accepted', seq: 3 })
    const fromSeq = (kiosk: string) =>
      w.db
        .prepare<[string], { from_seq: number; source: string }>(`SELECT from_seq, source FROM kiosk_key_history WHERE kiosk_id = ? ORDER BY from_seq, source`)
        .all(kiosk)
        .map((r) => `${r.source}@${r.from_seq}`)
    t.same(fromSeq('bar-1'), ['event_setup@1', 'admin@3'], "the admin key's period starts at the kiosk's next seq")

    // A kiosk made through the admin API and enrolled with a registration code starts at genesis.
    w.ledger.registry.createKiosk({ id: 'bar-9', booth: 'bar', saleAllowed: true, topupAllowed: false })
    t.same(w.ledger.kioskCursor('bar-9'), { nextSeq: 1, lastHash: new StaffedKiosk('bar-9', undefined).lastHash }, 'a new kiosk stands at genesis')
    const { code } = w.ledger.registry.issueRegistrationCode('bar-9', w.clock.now(), 60_000)
    const bar9 = new StaffedKiosk('bar-9', STAFF.cashier)
    t.match(w.ledger.registry.redeemRegistrationCode(code, bar9.keys.publicKeyBase64Url, w.clock.now()), { ok: true, kioskId: 'bar-9' })
    t.same(fromSeq('bar-9'), ['registration_code@1'])
    t.match(applyAll(w.ledger, bar9.cart(UID.alice, [L.water()]), bar9.cart(UID.alice, [L.water()])), [{ status: 'accepted' }, { status: 'accepted' }])
    t.same(w.ledger.kioskCursor('bar-9'), { nextSeq: 3, lastHash: bar9.lastHash })

    const audit = auditLedgerDatabase({ db: w.db })
    t.match(audit.checked, { kiosks: 5, transactions: 6 })
    t.same(w.problems(), { invariants: [], audit: [] }, 'every envelope checks against the key current for its seq')
  })
}

const postgres = engines.find((engine) => engine.name === 'postgres')
if (postgres?.openShared !== undefined) {
  t.test("postgres: two gateways on one database: one's import or kiosk change reaches the other's cached registry at its next batch", async (t) => {
    const [dbA, dbB] = postgres.openShared!(t, 2)
    const clock = fixedClock()
    const gatewayA = createLedger({ db: dbA!, clock, logger: silentLogger })
    const kiosks = { bar: new StaffedKiosk('bar-1', STAFF.cashier), desk: new StaffedKiosk('desk-1', STAFF.supervisor), food: new StaffedKiosk('food-1', STAFF.supervisor) }
    const setup = opsSetup({ 'bar-1': kiosks.bar.keys, 'desk-1': kiosks.desk.keys, 'food-1': kiosks.food.keys })
    gatewayA.registry.importEventSetup(setup)
    const gatewayB = createLedger({ db: dbB!, clock, logger: silentLogger })
    // B reads the bar's kiosk, profile and products into memory.
    t.match(applyAll(gatewayB, kiosks.desk.topup(UID.alice, 5_000), kiosks.bar.cart(UID.alice, [L.beer()]), kiosks.food.cart(UID.alice, [{ product: 'fries', qty: 1, unitPrice: 350 }])), [
      { status: 'accepted' },
      { status: 'accepted', balance: 4_550 },
      { status: 'accepted' },
    ])

    // A raises the beer's price and disables food-1.
    gatewayA.registry.importEventSetup({ ...setup, products: setup.products.map((p) => (p.id === 'beer' ? { ...p, price: 500 } : p)) })
    t.equal(gatewayA.registry.retirement.setKioskDisabled('food-1', true), true)

    const [beer] = applyAll(gatewayB, kiosks.bar.cart(UID.alice, [{ ...L.beer(), unitPrice: 500 }]))
    t.match(beer, { status: 'accepted', balance: 3_700 }, "B sells at A's new price")
    t.match(applyAll(gatewayB, kiosks.food.cart(UID.alice, [{ product: 'fries', qty: 1, unitPrice: 350 }])), [{ status: 'rejected', reason: 'unknown_kiosk' }], 'and refuses the kiosk A disabled')
    t.same(gatewayB.checkInvariants(), [])
  })
}
