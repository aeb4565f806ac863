// Sales a kiosk accepted while the gateway was unreachable: the guest has the
// goods, so the gateway books them even beyond the balance (a debt, flagged
// and alerted) or on a wristband blocked since; online the balance never goes
// below zero.
import t, { type Test } from 'tap'
import type { Envelope } from '../../device-protocol/index.js'
import { opsWorld as world, bookChecked as book, L, OPS_UID, applyOne, fund, line, makeOpsWorld, postingsSum, resultFields, type Answer, type OpsWorld } from './testing/operations-fixtures.js'
import { accountIds } from './types.js'



t.test('an offline sale beyond the balance is booked as a debt', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.alice, 200)
  const sale = w.kiosks.bar.cart(OPS_UID.alice, [L.beer()], { offline: true })
  const a = book(t, w, sale)
  t.match(a, { status: 'accepted', balance: -250, debt: true, booked: true })
  t.equal(a.alerts?.length, 1)
  t.match(a.alerts?.[0], { kind: 'debt', message: new RegExp(`${OPS_UID.alice} 250 cents below zero`) })
  t.equal(w.ledger.balanceOf(OPS_UID.alice), -250)
  t.equal(w.ledger.accountBalance(accountIds.revenue('bar')), 450, 'the bar earned the full price')
  t.same(w.ledger.debts(), [{ txId: sale.tx.id, uid: OPS_UID.alice, kiosk: 'bar-1', shortfall: 250, bookedAt: w.clock.now(), balanceNow: -250, open: true }])
  t.same(w.ledger.stats().openDebts, { count: 1, cents: 250 })
  t.match(w.ledger.balanceView(OPS_UID.alice), { balance: -250, debt: true })
  t.same(w.ledger.checkInvariants(), [], 'a flagged debt keeps the invariants')

  // Online, nothing more until the guest tops up.
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [L.water()])), { status: 'rejected', reason: 'insufficient_balance', balance: -250 })
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [line('tip', 1, 0)])), { status: 'accepted', balance: -250 }, 'a cart that charges nothing does not make the debt worse: allowed')

  fund(w, OPS_UID.alice, 1_000)
  t.equal(w.ledger.balanceOf(OPS_UID.alice), 750)
  t.match(w.ledger.debts(), [{ txId: sale.tx.id, balanceNow: 750, open: false }], 'the top-up cleared the debt')
  t.same(w.ledger.stats().openDebts, { count: 0, cents: 0 })
  t.match(w.ledger.balanceView(OPS_UID.alice), { debt: false })
  t.same(w.ledger.checkInvariants(), [])
})

t.test('online a sale never goes below zero; offline within the balance is a plain sale', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.bob, 500)
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.bob, [L.beer(2)])), { status: 'rejected', reason: 'insufficient_balance', balance: 500 })
  t.equal(w.ledger.balanceOf(OPS_UID.bob), 500)
  const a = book(t, w, w.kiosks.bar.cart(OPS_UID.bob, [L.beer()], { offline: true }))
  t.match(a, { status: 'accepted', balance: 50 })
  t.equal(a.debt, undefined)
  t.equal(a.alerts, undefined)
  t.same(w.ledger.debts(), [])
  t.same(w.ledger.stats().openDebts, { count: 0, cents: 0 })
  t.same(w.ledger.checkInvariants(), [])
})

t.test('a second offline sale below zero adds only its own charge', async (t) => {
  const w = world(t)
  const first = w.kiosks.bar.cart(OPS_UID.bob, [L.beer()], { offline: true })
  const second = w.kiosks.bar.cart(OPS_UID.bob, [L.water()], { offline: true })
  t.match(book(t, w, first), { status: 'accepted', balance: -450, debt: true })
  t.match(book(t, w, second), { status: 'accepted', balance: -650, debt: true })
  t.same(
    w.ledger.debts().map((d) => [d.txId, d.shortfall, d.open]).sort(),
    [
      [first.tx.id, 450, true],
      [second.tx.id, 200, true],
    ].sort(),
  )
  t.same(w.ledger.stats().openDebts, { count: 1, cents: 650 }, 'one wristband, 650 below')
  t.same(w.ledger.checkInvariants(), [])
})

t.test('an offline sale that charges nothing to a wristband in debt is booked without a new debt', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.crew, 100)
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.crew, [L.water()], { offline: true })), { status: 'accepted', balance: -100, debt: true })
  // Used to throw 'CHECK constraint failed: shortfall > 0' and roll back the whole batch.
  const free = w.kiosks.bar.cart(OPS_UID.crew, [line('tip', 1, 0)], { offline: true })
  const others = w.kiosks.desk.topup(OPS_UID.alice, 300)
  const [a, b] = [applyOne(w.ledger, free), applyOne(w.ledger, others)]
  t.match(a, { status: 'accepted', balance: -100, booked: true })
  t.equal(a.debt, undefined, 'no new debt')
  t.match(b, { status: 'accepted', balance: 300 })
  // A voucher pays the beer: nothing charged, nothing owed.
  const voucher = w.kiosks.bar.cart(OPS_UID.crew, [L.beer()], { offline: true })
  t.match(book(t, w, voucher), { status: 'accepted', balance: -100, charged: 0, vouchersUsed: 1, vouchers: 2 })
  t.equal(w.ledger.debts().length, 1)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('offline on a blocked wristband: booked and alerted', async (t) => {
  const w = world(t)
  const sale = w.kiosks.bar.cart(OPS_UID.blocked, [L.beer()], { offline: true })
  const a = book(t, w, sale)
  t.match(a, { status: 'accepted', balance: -450, debt: true })
  t.same(a.alerts?.map((x) => x.kind).sort(), ['debt', 'offline_blocked'])
  t.match(a.alerts?.find((x) => x.kind === 'offline_blocked')?.message, new RegExp(`${sale.tx.id}.*${OPS_UID.blocked}`))
  t.equal(w.ledger.wristband(OPS_UID.blocked)?.blocked, true, 'still blocked')
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.blocked, [L.cup(-1)])), { status: 'rejected', reason: 'tag_blocked' }, 'online it is refused')
  t.same(w.ledger.checkInvariants(), [])
})

t.test('offline does not open what the till or the wristband does not allow', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.alice, 1_000)
  const { bar, desk, cash, food } = w.kiosks
  t.match(book(t, w, bar.cart(OPS_UID.stranger, [L.beer()], { offline: true })), { status: 'rejected', reason: 'unknown_tag' })
  t.match(book(t, w, bar.cart(OPS_UID.alice, [line('hidden', 1, 100)], { offline: true })), { status: 'rejected', reason: 'unknown_product' })
  t.match(book(t, w, bar.cart(OPS_UID.alice, [line('beer', 1, 400)], { offline: true })), { status: 'rejected', reason: 'price_mismatch' })
  t.match(book(t, w, desk.next({ type: 'sale', uid: OPS_UID.alice, lines: [line('merch', 1, 1_500)], amount: 1_500 }, { offline: true })), { status: 'rejected', reason: 'sale_not_allowed' })
  // Only sales and returns exist offline.
  t.match(book(t, w, desk.topup(OPS_UID.alice, 100, { offline: true })), { status: 'rejected', reason: 'invalid_transaction' })
  t.match(book(t, w, cash.next({ type: 'cashout', uid: OPS_UID.alice, amount: 100 }, { offline: true })), { status: 'rejected', reason: 'invalid_transaction' })
  t.match(book(t, w, cash.next({ type: 'shift_open', uid: OPS_UID.alice, amount: 0 }, { register: 'drawer-1', offline: true })), { status: 'rejected', reason: 'invalid_transaction' })
  const sale = bar.cart(OPS_UID.alice, [L.beer(), L.cup()])
  t.match(applyOne(w.ledger, sale), { status: 'accepted' })
  t.match(book(t, w, bar.next({ type: 'cancel', uid: OPS_UID.alice, amount: 650 }, { ref: sale.tx.id, offline: true })), { status: 'rejected', reason: 'invalid_transaction' })
  t.match(book(t, w, food.cart(OPS_UID.alice, [line('fries', 1, 350)], { offline: true })), { status: 'accepted', balance: 0 })
  // A return offline is fine (of a cup the event handed out).
  t.match(book(t, w, bar.cart(OPS_UID.alice, [L.cup(-1)], { offline: true })), { status: 'accepted', balance: 200 })
  t.equal(w.ledger.balanceOf(OPS_UID.alice), 200)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('cancelling an offline debt sale gives the money back; the record stays, closed', async (t) => {
  const w = world(t)
  const sale = w.kiosks.bar.cart(OPS_UID.bob, [L.beer()], { offline: true })
  t.match(applyOne(w.ledger, sale), { status: 'accepted', balance: -450, debt: true })
  t.match(book(t, w, w.kiosks.bar.next({ type: 'cancel', uid: OPS_UID.bob, amount: 450 }, { ref: sale.tx.id })), { status: 'accepted', balance: 0 })
  t.match(w.ledger.debts(), [{ txId: sale.tx.id, open: false, balanceNow: 0 }])
  t.same(w.ledger.stats().openDebts, { count: 0, cents: 0 })
  t.same(w.ledger.checkInvariants(), [])
})
