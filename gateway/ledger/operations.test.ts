// Kiosk-operation rules of the ledger (rules.ts): carts with tax, deposits,
// returns, discounts and free prices; vouchers; restricted products; till
// profiles; staff roles; cancelling the last sale.
import t, { type Test } from 'tap'
import type { Envelope } from '../../device-protocol/index.js'
import { opsWorld as world, bookChecked as book, CANCEL_WINDOW_MS, L, OPS_UID, STAFF, applyOne, fund, line, makeOpsWorld, postingsSum, resultFields, type Answer, type OpsWorld } from './testing/operations-fixtures.js'
import { accountIds } from './types.js'



interface LineItemRow {
  line_no: number
  product: string
  kind: string
  qty: number
  unit_price: number
  total: number
  tax_rate: number
  tax: number
}
const lineItems = (w: OpsWorld, id: string) =>
  w.db.prepare(`SELECT line_no, product, kind, qty, unit_price, total, tax_rate, tax FROM line_items WHERE tx_id = ? ORDER BY line_no`).all(id) as LineItemRow[]

t.test('a sale books each line item with the tax rate and tax in force', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.alice, 5_000)
  const sale = w.kiosks.bar.cart(OPS_UID.alice, [L.beer(2), L.water(1)])
  const a = book(t, w, sale)
  t.match(a, { status: 'accepted', balance: 3_900 })
  t.notOk('charged' in a, 'a wristband without vouchers gets a plain answer')
  t.equal(w.ledger.accountBalance(accountIds.revenue('bar')), 1_100)
  t.same(lineItems(w, sale.tx.id), [
    // 900 gross at 19 %: 143.70 -> 144; 200 at 7 %: 13.08 -> 13.
    { line_no: 0, product: 'beer', kind: 'item', qty: 2, unit_price: 450, total: 900, tax_rate: 1900, tax: 144 },
    { line_no: 1, product: 'water', kind: 'item', qty: 1, unit_price: 200, total: 200, tax_rate: 700, tax: 13 },
  ])
  const order = w.ledger.customerOrders(OPS_UID.alice).find((o) => o.id === sale.tx.id)
  t.match(order?.lines, [{ product: 'beer', taxRate: 1900 }, { product: 'water', taxRate: 700 }])
  t.same(w.ledger.checkInvariants(), [])
})

t.test('deposits: a cup is a liability of the booth, a return pays it back', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.alice, 2_000)
  const sale = w.kiosks.bar.cart(OPS_UID.alice, [L.beer(), L.cup(2)])
  t.match(book(t, w, sale), { status: 'accepted', balance: 1_150 })
  t.equal(w.ledger.accountBalance(accountIds.revenue('bar')), 450, 'only the beer is revenue')
  t.equal(w.ledger.accountBalance(accountIds.deposit('bar')), 400)
  t.equal(w.ledger.stats().depositsByBooth.bar, 400)
  t.match(lineItems(w, sale.tx.id)[1], { product: 'cup', kind: 'deposit', total: 400, tax: 0 })

  // Bob never bought a cup but brings one back: cups go round, the booth pays the deposit.
  const ret = w.kiosks.bar.cart(OPS_UID.bob, [L.cup(-1)])
  t.equal(ret.tx.type, 'return')
  t.equal(ret.tx.amount, 200)
  t.match(book(t, w, ret), { status: 'accepted', balance: 200 })
  t.equal(w.ledger.accountBalance(accountIds.deposit('bar')), 200)
  t.same(w.ledger.transaction(ret.tx.id)?.postings.sort((a, b) => a.account.localeCompare(b.account)), [
    { account: accountIds.customer(OPS_UID.bob), amount: 200 },
    { account: accountIds.deposit('bar'), amount: -200 },
  ])

  // A sale that returns a cup and buys a water: the cup pays for the water.
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [L.water(), L.cup(-1)])), { status: 'accepted', balance: 1_150 })
  t.equal(w.ledger.accountBalance(accountIds.deposit('bar')), 0)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('refused returns', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.alice, 2_000)
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [L.beer(-1)])), { status: 'rejected', reason: 'not_returnable' }, 'a beer is no deposit')
  t.match(book(t, w, w.kiosks.bar.next({ type: 'return', uid: OPS_UID.alice, lines: [L.cup(-1)], amount: 100 })), { status: 'rejected', reason: 'amount_mismatch' })
  t.match(book(t, w, w.kiosks.bar.next({ type: 'return', uid: OPS_UID.alice, lines: [L.cup(1), L.cup(-1)], amount: 0 })), { status: 'rejected', reason: 'amount_mismatch' }, 'a return pays something back')
  t.match(book(t, w, w.kiosks.bar.next({ type: 'sale', uid: OPS_UID.alice, lines: [L.cup(-1)], amount: 0 })), { status: 'rejected', reason: 'amount_mismatch' }, 'a negative cart is a return, not a sale')
  t.match(book(t, w, w.kiosks.bar.next({ type: 'return', uid: OPS_UID.alice, lines: [line('cup', 0, 200)], amount: 0 })), { status: 'rejected', reason: 'invalid_transaction' }, 'qty 0')
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.blocked, [L.cup(-1)])), { status: 'rejected', reason: 'tag_blocked' })
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.stranger, [L.cup(-1)])), { status: 'rejected', reason: 'unknown_tag' })
  t.equal(w.ledger.balanceOf(OPS_UID.alice), 2_000)
  t.equal(w.ledger.accountBalance(accountIds.deposit('bar')), 0)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('discounts and free prices', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.alice, 5_000)
  const discounted = w.kiosks.bar.cart(OPS_UID.alice, [L.beer(2), L.happy(2)])
  t.equal(discounted.tx.amount, 800)
  t.match(book(t, w, discounted), { status: 'accepted', balance: 4_200 })
  t.match(lineItems(w, discounted.tx.id)[1], { product: 'happy', kind: 'discount', qty: 2, unit_price: -50, total: -100 })
  t.equal(w.ledger.accountBalance(accountIds.revenue('bar')), 800)

  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [L.beer(), line('happy', 1, -100)])), { status: 'rejected', reason: 'price_mismatch' }, 'a discount has its fixed price')
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [L.beer(), line('happy', -1, -50)])), { status: 'rejected', reason: 'not_returnable' }, 'a discount cannot be returned')
  t.match(book(t, w, w.kiosks.bar.next({ type: 'sale', uid: OPS_UID.alice, lines: [L.happy()], amount: 0 })), { status: 'rejected', reason: 'amount_mismatch' }, 'a discount alone is no sale')

  // tip: no limit; donation: at most 1000.
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [line('tip', 1, 1_234)])), { status: 'accepted', balance: 2_966 })
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [line('donation', 1, 1_000)])), { status: 'accepted', balance: 1_966 })
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [line('donation', 1, 1_001)])), { status: 'rejected', reason: 'price_mismatch' }, 'above the free price limit')
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [L.beer(), line('tip', 1, -10)])), { status: 'rejected', reason: 'price_mismatch' }, 'a free price is never negative')
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [line('tip', 1, 0)])), { status: 'accepted', balance: 1_966 }, 'a zero tip is a zero sale')
  t.equal(w.ledger.balanceOf(OPS_UID.alice), 1_966)
  t.equal(w.ledger.accountBalance(accountIds.revenue('bar')), 800 + 1_234 + 1_000)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('vouchers pay for the dearest eligible units first and come back on a cancel', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.crew, 1_000)
  // 3 vouchers; beer is eligible, water is not.
  const first = w.kiosks.bar.cart(OPS_UID.crew, [L.water(), L.beer(2)])
  t.match(book(t, w, first), { status: 'accepted', balance: 800, charged: 200, vouchersUsed: 2, vouchers: 1 })
  t.equal(w.ledger.accountBalance(accountIds.voucher()), -900)
  t.equal(w.ledger.accountBalance(accountIds.revenue('bar')), 1_100)
  t.equal(w.ledger.balanceView(OPS_UID.crew)?.vouchers, 1)

  const second = w.kiosks.bar.cart(OPS_UID.crew, [L.beer(2)])
  t.match(book(t, w, second), { status: 'accepted', balance: 350, charged: 450, vouchersUsed: 1, vouchers: 0 })
  t.equal(w.ledger.accountBalance(accountIds.voucher()), -1_350)

  const cancel = w.kiosks.bar.next({ type: 'cancel', uid: OPS_UID.crew, amount: second.tx.amount }, { ref: second.tx.id })
  t.match(book(t, w, cancel), { status: 'accepted', balance: 800, vouchers: 1 })
  t.equal(w.ledger.balanceView(OPS_UID.crew)?.vouchers, 1, 'the voucher is back')
  t.equal(w.ledger.accountBalance(accountIds.voucher()), -900)
  t.equal(w.ledger.accountBalance(accountIds.revenue('bar')), 1_100)

  // With vouchers left, even a sale they do not cover answers with the voucher figures.
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.crew, [L.water()])), { status: 'accepted', balance: 600, charged: 200, vouchersUsed: 0, vouchers: 1 })
  t.same(w.ledger.checkInvariants(), [])
})

t.test('a voucher never pays out money: with a discount it covers only the discounted price', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.crew, 1_000)
  const sale = w.kiosks.bar.cart(OPS_UID.crew, [L.beer(), L.happy()])
  const a = book(t, w, sale)
  t.match(a, { status: 'accepted', charged: 0, vouchersUsed: 1, vouchers: 2, balance: 1_000 })
  t.equal(w.ledger.balanceOf(OPS_UID.crew), 1_000, 'the guest gains nothing')
  t.equal(w.ledger.accountBalance(accountIds.voucher()), -400)
  t.equal(w.ledger.accountBalance(accountIds.revenue('bar')), 400)

  // A returned cup (one the event handed out) is paid back as ever, with the voucher paying the beer.
  fund(w, OPS_UID.alice, 200)
  t.match(applyOne(w.ledger, w.kiosks.bar.cart(OPS_UID.alice, [L.cup()])), { status: 'accepted', balance: 0 })
  const withCup = w.kiosks.bar.cart(OPS_UID.crew, [L.beer(), L.cup(-1)])
  t.match(book(t, w, withCup), { status: 'accepted', charged: -200, vouchersUsed: 1, vouchers: 1, balance: 1_200 })
  t.same(w.ledger.checkInvariants(), [])
})

t.test('restricted products are refused for the wristband variants named', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.teen, 2_000)
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.teen, [L.water(), L.beer()])), { status: 'rejected', reason: 'product_restricted' })
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.teen, [L.beer()], { offline: true })), { status: 'rejected', reason: 'product_restricted' }, 'offline too')
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.teen, [L.water(), L.cup()])), { status: 'accepted', balance: 1_600 })
  t.equal(w.ledger.balanceView(OPS_UID.teen)?.variant, 'under16')
  t.same(w.ledger.checkInvariants(), [])
})

t.test('the till profile decides what a kiosk may do', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.alice, 5_000)
  const { bar, cash, food } = w.kiosks
  t.match(book(t, w, bar.cart(OPS_UID.alice, [line('hidden', 1, 100)])), { status: 'rejected', reason: 'unknown_product' }, 'a product the profile does not list')
  t.match(book(t, w, bar.cart(OPS_UID.alice, [line('fries', 1, 350)])), { status: 'rejected', reason: 'unknown_product' }, "another booth's product")
  bar.staff = STAFF.supervisor
  t.match(book(t, w, bar.topup(OPS_UID.alice, 100)), { status: 'rejected', reason: 'topup_not_allowed' })
  t.match(book(t, w, bar.next({ type: 'cashout', uid: OPS_UID.alice, amount: 100 })), { status: 'rejected', reason: 'cashout_not_allowed' })
  t.match(book(t, w, bar.next({ type: 'ticket', uid: OPS_UID.fresh, lines: [line('beer', 1, 450)], amount: 450 })), { status: 'rejected', reason: 'ticket_not_allowed' })
  t.match(book(t, w, bar.next({ type: 'tag_switch', uid: OPS_UID.fresh, amount: 0 }, { sealedPin: 'x'.repeat(40) })), { status: 'rejected', reason: 'tag_switch_not_allowed' })
  cash.staff = STAFF.supervisor
  t.match(book(t, w, cash.next({ type: 'sale', uid: OPS_UID.alice, lines: [line('merch', 1, 1_500)], amount: 1_500 })), { status: 'rejected', reason: 'sale_not_allowed' })
  // A kiosk without a profile keeps its two flags: food-1 sells and tops up, nothing else.
  t.match(book(t, w, food.next({ type: 'cashout', uid: OPS_UID.alice, amount: 100 })), { status: 'rejected', reason: 'cashout_not_allowed' })
  t.match(book(t, w, food.cart(OPS_UID.alice, [line('fries', 1, 350)])), { status: 'accepted', balance: 4_650 })
  const sale = w.kiosks.food.history.at(-1)!
  t.match(book(t, w, food.next({ type: 'cancel', uid: OPS_UID.alice, amount: 350 }, { ref: sale.tx.id })), { status: 'rejected', reason: 'cancel_not_allowed' }, 'no cancel window without a profile')
  t.equal(w.ledger.balanceOf(OPS_UID.alice), 4_650)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('staff: every transaction names a logged-in member whose roles allow it', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.alice, 5_000)
  const { bar, food } = w.kiosks
  bar.staff = undefined
  t.match(book(t, w, bar.cart(OPS_UID.alice, [L.beer()])), { status: 'rejected', reason: 'staff_required' }, 'nobody logged in')
  bar.staff = '0AFFFFFF'
  t.match(book(t, w, bar.cart(OPS_UID.alice, [L.beer()])), { status: 'rejected', reason: 'staff_required' }, 'an unknown staff wristband')
  bar.staff = OPS_UID.alice
  t.match(book(t, w, bar.cart(OPS_UID.alice, [L.beer()])), { status: 'rejected', reason: 'staff_required' }, 'a guest wristband is no staff')
  bar.staff = STAFF.topup
  t.match(book(t, w, bar.cart(OPS_UID.alice, [L.beer()])), { status: 'rejected', reason: 'staff_not_allowed' }, 'a top-up clerk may not sell')
  bar.staff = STAFF.both
  t.match(book(t, w, bar.cart(OPS_UID.alice, [L.beer()])), { status: 'accepted', balance: 4_550 }, 'cashier and top-up in one')
  food.staff = STAFF.cashier
  t.match(book(t, w, food.topup(OPS_UID.alice, 100)), { status: 'rejected', reason: 'staff_not_allowed' }, 'a cashier may not top up')
  food.staff = STAFF.topup
  t.match(book(t, w, food.topup(OPS_UID.alice, 100)), { status: 'accepted', balance: 4_650 })
  // A card top-up recovered after a restart may come with nobody logged in: the card was charged.
  food.staff = undefined
  const card = food.next(
    { type: 'topup_card', uid: OPS_UID.alice, amount: 1_000 },
    { payment: { terminalId: '52500038', receiptNumber: '77', traceNumber: '000077' } },
  )
  t.match(book(t, w, card), { status: 'accepted', balance: 5_650 })
  t.match(book(t, w, food.topup(OPS_UID.alice, 100)), { status: 'rejected', reason: 'staff_required' }, 'a cash top-up without staff is refused')
  t.equal(w.ledger.balanceOf(OPS_UID.alice), 5_650)
  const booked = w.db.prepare(`SELECT staff FROM transactions WHERE id = ?`).get(bar.history.at(-1)!.tx.id) as { staff: string }
  t.equal(booked.staff, STAFF.both, 'who booked it is on record')
  t.same(w.ledger.checkInvariants(), [])
})

t.test('an event without staff needs no login', async (t) => {
  const w = world(t, (s) => void delete s.staff)
  fund(w, OPS_UID.alice, 1_000)
  w.kiosks.bar.staff = undefined
  t.match(book(t, w, w.kiosks.bar.cart(OPS_UID.alice, [L.beer()])), { status: 'accepted', balance: 550 })
  t.same(w.ledger.checkInvariants(), [])
})

t.test('cancel undoes the kiosk’s last sale within the window, once', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.alice, 5_000)
  const { bar } = w.kiosks
  const sale = bar.cart(OPS_UID.alice, [L.beer(2), L.cup(), L.happy()])
  t.match(book(t, w, sale), { status: 'accepted', balance: 3_950 })
  t.equal(w.ledger.accountBalance(accountIds.deposit('bar')), 200)
  const cancel = bar.next({ type: 'cancel', uid: OPS_UID.alice, amount: sale.tx.amount }, { ref: sale.tx.id })
  t.match(book(t, w, cancel), { status: 'accepted', balance: 5_000 })
  t.same(
    w.ledger.transaction(cancel.tx.id)?.postings.map((p) => ({ ...p })).sort((a, b) => a.account.localeCompare(b.account)),
    w.ledger.transaction(sale.tx.id)?.postings.map((p) => ({ ...p, amount: -p.amount })).sort((a, b) => a.account.localeCompare(b.account)),
    'the exact negation of the sale',
  )
  t.equal(w.ledger.accountBalance(accountIds.revenue('bar')), 0)
  t.equal(w.ledger.accountBalance(accountIds.deposit('bar')), 0)
  t.match(book(t, w, bar.next({ type: 'cancel', uid: OPS_UID.alice, amount: sale.tx.amount }, { ref: sale.tx.id })), { status: 'rejected', reason: 'cancel_not_allowed' }, 'twice')
  t.equal(w.ledger.balanceOf(OPS_UID.alice), 5_000)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('cancel refusals', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.alice, 5_000)
  fund(w, OPS_UID.bob, 5_000)
  const { bar } = w.kiosks
  const older = bar.cart(OPS_UID.alice, [L.water()])
  const last = bar.cart(OPS_UID.bob, [L.beer()])
  t.match(applyOne(w.ledger, older), { status: 'accepted' })
  t.match(applyOne(w.ledger, last), { status: 'accepted' })
  const cancel = (ref: string, uid: string, amount: number, over: Partial<Envelope['tx']> = {}) => bar.next({ type: 'cancel', uid, amount }, { ref, ...over })
  t.match(book(t, w, cancel(older.tx.id, OPS_UID.alice, 200)), { status: 'rejected', reason: 'cancel_not_allowed' }, 'not the last sale')
  t.match(book(t, w, cancel(last.tx.id, OPS_UID.bob, 450, { at: last.tx.at + CANCEL_WINDOW_MS + 1 })), { status: 'rejected', reason: 'cancel_not_allowed' }, 'outside the window')
  t.match(book(t, w, cancel(last.tx.id, OPS_UID.bob, 450, { at: last.tx.at - 1 })), { status: 'rejected', reason: 'cancel_not_allowed' }, 'before the sale')
  t.match(book(t, w, cancel(last.tx.id, OPS_UID.bob, 449)), { status: 'rejected', reason: 'amount_mismatch' })
  t.match(book(t, w, cancel(last.tx.id, OPS_UID.alice, 450)), { status: 'rejected', reason: 'invalid_transaction' }, 'another wristband')
  t.match(book(t, w, cancel('00000000-0000-4000-8000-000000000000', OPS_UID.bob, 450)), { status: 'rejected', reason: 'cancel_not_allowed' }, 'no such sale')
  t.match(book(t, w, bar.next({ type: 'cancel', uid: OPS_UID.bob, amount: 450, lines: [L.beer()] }, { ref: last.tx.id })), { status: 'rejected', reason: 'invalid_transaction' }, 'with lines')
  t.match(book(t, w, bar.next({ type: 'cancel', uid: OPS_UID.bob, amount: 450 })), { status: 'rejected', reason: 'invalid_transaction' }, 'without ref')
  const topup = w.kiosks.desk.history.at(-1)!
  t.match(book(t, w, cancel(topup.tx.id, OPS_UID.bob, 5_000)), { status: 'rejected', reason: 'cancel_not_allowed' }, "another kiosk's top-up")
  // A rejected sale is no cancel target either.
  const refused = bar.cart(OPS_UID.bob, [L.beer(100)])
  t.match(applyOne(w.ledger, refused), { status: 'rejected', reason: 'insufficient_balance' })
  t.match(book(t, w, cancel(refused.tx.id, OPS_UID.bob, refused.tx.amount)), { status: 'rejected', reason: 'cancel_not_allowed' })
  // The last sale, in time, still cancels after all those refusals.
  t.match(book(t, w, cancel(last.tx.id, OPS_UID.bob, 450, { at: last.tx.at + CANCEL_WINDOW_MS })), { status: 'accepted', balance: 5_000 })
  t.same(w.ledger.checkInvariants(), [])
})

t.test('cancelling a return takes the deposit back, not below zero', async (t) => {
  const w = world(t)
  const { bar } = w.kiosks
  // Alice takes three cups; Bob brings two of them back.
  fund(w, OPS_UID.alice, 600)
  t.match(applyOne(w.ledger, bar.cart(OPS_UID.alice, [L.cup(3)])), { status: 'accepted', balance: 0 })
  const ret = bar.cart(OPS_UID.bob, [L.cup(-2)])
  t.match(applyOne(w.ledger, ret), { status: 'accepted', balance: 400 })
  t.equal(w.ledger.accountBalance(accountIds.deposit('bar')), 200)
  t.match(book(t, w, bar.next({ type: 'cancel', uid: OPS_UID.bob, amount: 400 }, { ref: ret.tx.id })), { status: 'accepted', balance: 0 })
  t.equal(w.ledger.accountBalance(accountIds.deposit('bar')), 600)

  // Money from a return that is spent already cannot be taken back.
  const ret2 = bar.cart(OPS_UID.bob, [L.cup(-1)])
  t.match(applyOne(w.ledger, ret2), { status: 'accepted', balance: 200 })
  t.match(applyOne(w.ledger, w.kiosks.food.cart(OPS_UID.bob, [line('fries', 1, 350)])), { status: 'rejected', reason: 'insufficient_balance' })
  t.match(applyOne(w.ledger, w.kiosks.food.topup(OPS_UID.bob, 150)), { status: 'accepted' })
  t.match(applyOne(w.ledger, w.kiosks.food.cart(OPS_UID.bob, [line('fries', 1, 350)])), { status: 'accepted', balance: 0 })
  t.match(book(t, w, bar.next({ type: 'cancel', uid: OPS_UID.bob, amount: 200 }, { ref: ret2.tx.id })), { status: 'rejected', reason: 'insufficient_balance', balance: 0 })
  t.same(w.ledger.checkInvariants(), [])
})

t.test('fields of another transaction type make it invalid', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.alice, 1_000)
  const { bar, food, cash } = w.kiosks
  const cases: Array<[string, Envelope]> = [
    ['sale with ref', bar.cart(OPS_UID.alice, [L.beer()], { ref: '00000000-0000-4000-8000-000000000000' })],
    ['sale with register', bar.cart(OPS_UID.alice, [L.beer()], { register: 'drawer-1' })],
    ['sale with topup', bar.cart(OPS_UID.alice, [L.beer()], { topup: 100 })],
    ['sale with sealedPin', bar.cart(OPS_UID.alice, [L.beer()], { sealedPin: 'x'.repeat(40) })],
    ['top-up with offline', food.topup(OPS_UID.alice, 100, { offline: true })],
    ['shift open without register', cash.next({ type: 'shift_open', uid: STAFF.topup, amount: 0 })],
    ['tag switch without sealedPin', w.kiosks.desk.next({ type: 'tag_switch', uid: OPS_UID.fresh, amount: 0 })],
  ]
  for (const [name, envelope] of cases) t.match(book(t, w, envelope), { status: 'rejected', reason: 'invalid_transaction' }, name)
  t.equal(w.ledger.balanceOf(OPS_UID.alice), 1_000)
  t.same(w.ledger.checkInvariants(), [])
})
