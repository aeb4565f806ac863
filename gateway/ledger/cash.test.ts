// Cash at register-kept tills: shifts open with a float from the vault, cash
// top-ups, cash-outs and ticket sales go through the drawer, the close-out
// books counted cash to the vault and the difference to the imbalance account.
import t, { type Test } from 'tap'
import type { Envelope } from '../../device-protocol/index.js'
import { opsWorld as world, bookChecked as book, L, OPS_UID, STAFF, applyOne, fund, line, makeOpsWorld, postingsSum, resultFields, type Answer, type OpsWorld, type StaffedKiosk } from './testing/operations-fixtures.js'
import { accountIds } from './types.js'

const DRAWER = accountIds.register('drawer-1')



const open = (k: StaffedKiosk, register: string, float: number) => k.next({ type: 'shift_open', uid: k.staff ?? STAFF.topup, amount: float }, { register })
const close = (k: StaffedKiosk, register: string, counted: number) => k.next({ type: 'shift_close', uid: k.staff ?? STAFF.topup, amount: counted }, { register })
const cashout = (k: StaffedKiosk, uid: string, amount: number) => k.next({ type: 'cashout', uid, amount })
const ticket = (k: StaffedKiosk, uid: string, lines: ReturnType<typeof L.day>[], topup = 0, over: Partial<Envelope['tx']> = {}) =>
  k.next({ type: 'ticket', uid, lines, amount: lines.reduce((s, l) => s + l.qty * l.unitPrice, 0) + topup }, { ...(topup > 0 ? { topup } : {}), ...over })

t.test('without an open shift a register till handles no cash', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.alice, 1_000)
  const { cash } = w.kiosks
  t.match(book(t, w, cash.topup(OPS_UID.alice, 500)), { status: 'rejected', reason: 'no_open_shift' })
  t.match(book(t, w, cashout(cash, OPS_UID.alice, 500)), { status: 'rejected', reason: 'no_open_shift' })
  t.match(book(t, w, ticket(cash, OPS_UID.fresh, [L.day()])), { status: 'rejected', reason: 'no_open_shift' })
  t.match(book(t, w, close(cash, 'drawer-1', 0)), { status: 'rejected', reason: 'no_open_shift' })
  t.equal(w.ledger.wristband(OPS_UID.fresh), undefined)
  // A card top-up goes to the card terminal's clearing account: no drawer needed.
  const card = cash.next({ type: 'topup_card', uid: OPS_UID.alice, amount: 700 }, { payment: { terminalId: 'T1', receiptNumber: '1', traceNumber: '1' } })
  t.match(book(t, w, card), { status: 'accepted', balance: 1_700 })
  t.equal(w.ledger.balanceOf(OPS_UID.alice), 1_700)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('a shift: float, cash top-ups, cash-outs and tickets through the drawer, close-out with a difference', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.alice, 3_000)
  const { cash, bar } = w.kiosks

  w.clock.advance(1_000)
  const opened = open(cash, 'drawer-1', 10_000)
  const o = book(t, w, opened)
  t.match(o, { status: 'accepted' })
  t.equal(o.balance, undefined, 'a shift has no guest balance')
  t.equal(w.ledger.accountBalance(DRAWER), -10_000, 'the drawer holds the float (negative: cash held)')
  t.equal(w.ledger.accountBalance(accountIds.vault()), 10_000)
  t.equal(w.ledger.stats().cashByRegister['drawer-1'], 10_000)

  t.match(book(t, w, open(cash, 'drawer-1', 0)), { status: 'rejected', reason: 'shift_already_open' })
  t.match(book(t, w, open(cash, 'drawer-2', 0)), { status: 'rejected', reason: 'shift_already_open' }, 'one shift per kiosk')

  t.match(book(t, w, cash.topup(OPS_UID.alice, 2_000)), { status: 'accepted', balance: 5_000 })
  t.match(book(t, w, cash.topup(OPS_UID.bob, 1_500)), { status: 'accepted', balance: 1_500 })
  t.equal(w.ledger.accountBalance(accountIds.cash('cash-1')), 0, "the kiosk's own cash account is not used")
  t.match(book(t, w, cashout(cash, OPS_UID.alice, 5_001)), { status: 'rejected', reason: 'insufficient_balance', balance: 5_000 })
  t.match(book(t, w, cashout(cash, OPS_UID.alice, 0)), { status: 'rejected', reason: 'invalid_transaction' })
  t.match(book(t, w, cashout(cash, OPS_UID.blocked, 100)), { status: 'rejected', reason: 'tag_blocked' })
  t.match(book(t, w, cashout(cash, OPS_UID.stranger, 100)), { status: 'rejected', reason: 'unknown_tag' })
  t.match(book(t, w, cashout(cash, OPS_UID.alice, 1_200)), { status: 'accepted', balance: 3_800 })
  t.match(book(t, w, ticket(cash, OPS_UID.fresh, [L.day()], 1_000)), { status: 'accepted', balance: 1_000 })
  // 10000 float + 2000 + 1500 top-ups - 1200 cash-out + 6000 ticket
  const expected = 18_300
  t.equal(w.ledger.accountBalance(DRAWER), -expected)
  t.equal(w.ledger.stats().cashByRegister['drawer-1'], expected)
  t.match(w.ledger.shiftReport(opened.tx.id), { expected, counted: null, difference: null, closedAt: null })

  // A sale elsewhere does not touch the drawer.
  t.match(applyOne(w.ledger, bar.cart(OPS_UID.alice, [L.beer()])), { status: 'accepted' })
  t.match(book(t, w, close(cash, 'drawer-2', 18_000)), { status: 'rejected', reason: 'no_open_shift' }, 'the open shift is on drawer-1')

  w.clock.advance(3_600_000)
  const closed = close(cash, 'drawer-1', 18_250)
  const c = applyOne(w.ledger, closed)
  t.match(c, { status: 'accepted', expected, difference: -50 })
  t.match(c.alerts, [{ kind: 'cash_difference' }], 'a difference is alerted')
  t.match(c.alerts?.[0]?.message, /-50/)
  t.equal(postingsSum(w.ledger, closed.tx.id), 0)
  const again = applyOne(w.ledger, closed)
  t.ok(again.replay)
  t.same(resultFields(again), resultFields(c), 'a resent close-out repeats expected and difference')
  t.equal(again.alerts, undefined, 'a replay raises no second alert')

  t.equal(w.ledger.accountBalance(DRAWER), 0, 'the drawer ends at zero')
  t.equal(w.ledger.accountBalance(accountIds.vault()), 10_000 - 18_250, 'the vault gave the float and got the counted cash')
  t.equal(w.ledger.accountBalance(accountIds.imbalance()), -50, 'the shortfall is on the imbalance account')
  t.equal(w.ledger.stats().cashByRegister['drawer-1'], 0)

  const report = w.ledger.shiftReport(opened.tx.id)
  t.same(report, {
    id: opened.tx.id,
    register: 'drawer-1',
    registerName: 'Drawer 1',
    kiosk: 'cash-1',
    staff: STAFF.topup,
    staffName: 'Tom Topup',
    openedAt: 1_750_000_001_000,
    closedAt: 1_750_003_601_000,
    float: 10_000,
    cashTopups: { count: 2, cents: 3_500 },
    cashouts: { count: 1, cents: 1_200 },
    tickets: { count: 1, cents: 6_000 },
    expected,
    counted: 18_250,
    difference: -50,
    cardTopups: { count: 0, cents: 0 },
    terminalTotals: null,
    cardDifference: null,
  })
  t.same(w.ledger.shiftReports(), [report])

  // Closed: cash needs a new shift.
  t.match(book(t, w, cash.topup(OPS_UID.alice, 100)), { status: 'rejected', reason: 'no_open_shift' })
  t.same(w.ledger.checkInvariants(), [])
})

t.test('a second shift: exact count, no alert, its report counts only its own movements', async (t) => {
  const w = world(t)
  const { cash } = w.kiosks
  const first = open(cash, 'drawer-1', 5_000)
  t.match(applyOne(w.ledger, first), { status: 'accepted' })
  t.match(applyOne(w.ledger, cash.topup(OPS_UID.alice, 1_000)), { status: 'accepted' })
  t.match(applyOne(w.ledger, close(cash, 'drawer-1', 6_300)), { status: 'accepted', expected: 6_000, difference: 300 })
  t.equal(w.ledger.accountBalance(accountIds.imbalance()), 300, 'an overage too')

  w.clock.advance(60_000)
  const second = open(cash, 'drawer-1', 2_000)
  t.match(book(t, w, second), { status: 'accepted' })
  t.match(applyOne(w.ledger, cash.topup(OPS_UID.bob, 700)), { status: 'accepted' })
  const closing = close(cash, 'drawer-1', 2_700)
  const c = applyOne(w.ledger, closing)
  t.match(c, { status: 'accepted', expected: 2_700, difference: 0 })
  t.equal(c.alerts, undefined, 'no alert for an exact count')
  t.equal(w.ledger.accountBalance(accountIds.imbalance()), 300)
  t.equal(postingsSum(w.ledger, closing.tx.id), 0)

  const reports = w.ledger.shiftReports()
  t.same(reports.map((r) => r.id), [second.tx.id, first.tx.id], 'newest first')
  t.match(reports[0], { float: 2_000, cashTopups: { count: 1, cents: 700 }, cashouts: { count: 0, cents: 0 }, tickets: { count: 0, cents: 0 }, counted: 2_700, difference: 0 })
  t.match(reports[1], { float: 5_000, cashTopups: { count: 1, cents: 1_000 }, counted: 6_300, difference: 300 })
  t.equal(w.ledger.shiftReport('00000000-0000-4000-8000-000000000000'), undefined)
  // +5000 float, -6300 counted, +2000 float, -2700 counted.
  t.equal(w.ledger.accountBalance(accountIds.vault()), -2_000)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('registers: unknown ones, busy ones, tills without one', async (t) => {
  // food-1 becomes a second register till.
  const w = world(t, (s) => {
    s.kiosks = s.kiosks.map((k) => (k.id === 'food-1' ? { ...k, profile: 'cash-till' } : k))
  })
  const { cash, food, desk, bar } = w.kiosks
  food.staff = STAFF.topup
  t.match(book(t, w, open(cash, 'drawer-9', 0)), { status: 'rejected', reason: 'unknown_register' })
  t.match(book(t, w, open(desk, 'drawer-1', 0)), { status: 'rejected', reason: 'unknown_register' }, 'the info desk keeps no register')
  t.match(book(t, w, open(cash, 'drawer-1', 1_000)), { status: 'accepted' })
  t.match(book(t, w, open(food, 'drawer-1', 1_000)), { status: 'rejected', reason: 'shift_already_open' }, 'the register is busy at another till')
  t.match(book(t, w, close(food, 'drawer-1', 1_000)), { status: 'rejected', reason: 'no_open_shift' }, "another till's shift")
  t.match(book(t, w, open(food, 'drawer-2', 500)), { status: 'accepted' })
  t.equal(w.ledger.stats().cashByRegister['drawer-2'], 500)
  // Roles: a cashier may not open a shift.
  bar.staff = STAFF.cashier
  cash.staff = STAFF.cashier
  t.match(book(t, w, close(cash, 'drawer-1', 1_000)), { status: 'rejected', reason: 'staff_not_allowed' })
  cash.staff = STAFF.supervisor
  t.match(book(t, w, close(cash, 'drawer-1', 1_000)), { status: 'accepted', expected: 1_000, difference: 0 })
  t.same(w.ledger.checkInvariants(), [])
})

t.test('a ticket sale activates a new wristband with a derived PIN', async (t) => {
  const w = world(t)
  const { cash, bar } = w.kiosks
  t.match(applyOne(w.ledger, open(cash, 'drawer-1', 0)), { status: 'accepted' })
  const sold = ticket(cash, OPS_UID.fresh, [L.day()], 2_500)
  const a = applyOne(w.ledger, sold)
  t.match(a, { status: 'accepted', balance: 2_500, vouchers: 0, configsChanged: undefined })
  t.type(a.pin, 'string')
  const pin = a.pin!
  t.match(pin, /^[A-HJ-NP-Z2-9]{8,32}$/)
  t.equal(postingsSum(w.ledger, sold.tx.id), 0)
  t.ok(w.ledger.registry.verifyPin(OPS_UID.fresh, pin), 'the shown PIN is the wristband’s portal PIN')
  t.equal(w.ledger.registry.findWristbandByPin(pin.toLowerCase()), OPS_UID.fresh)
  const again = applyOne(w.ledger, sold)
  t.ok(again.replay)
  t.equal(again.pin, pin, 'a resend shows the same PIN')
  t.same(resultFields(again), resultFields(a))
  t.notMatch(JSON.stringify(w.db.prepare(`SELECT * FROM transactions WHERE id = ?`).get(sold.tx.id)), new RegExp(pin), 'the PIN is not stored')

  t.equal(w.ledger.balanceOf(OPS_UID.fresh), 2_500)
  t.equal(w.ledger.accountBalance(accountIds.revenue('cashdesk')), 5_000)
  t.equal(w.ledger.accountBalance(DRAWER), -7_500)
  const items = w.db.prepare(`SELECT product, kind, total, tax_rate, tax FROM line_items WHERE tx_id = ?`).all(sold.tx.id)
  t.same(items, [{ product: 'day', kind: 'ticket', total: 5_000, tax_rate: 700, tax: 327 }])
  t.match(w.ledger.balanceView(OPS_UID.fresh), { balance: 2_500, vouchers: 0, blocked: false, variant: null, debt: false })
  // The new wristband pays at once.
  t.match(applyOne(w.ledger, bar.cart(OPS_UID.fresh, [L.beer()])), { status: 'accepted', balance: 2_050 })

  // A youth ticket: the wristband is under16, its restrictions apply and the kiosk configs change.
  const youth = ticket(cash, OPS_UID.fresh2, [L.youth()])
  const y = applyOne(w.ledger, youth)
  t.match(y, { status: 'accepted', balance: 0, configsChanged: true })
  t.not(y.pin, pin, 'each ticket its own PIN')
  t.equal(w.ledger.balanceView(OPS_UID.fresh2)?.variant, 'under16')
  t.equal(postingsSum(w.ledger, youth.tx.id), 0, 'a ticket without top-up books a zero posting to the wristband all the same')
  t.match(applyOne(w.ledger, w.kiosks.desk.topup(OPS_UID.fresh2, 1_000)), { status: 'accepted' })
  t.match(applyOne(w.ledger, bar.cart(OPS_UID.fresh2, [L.beer()])), { status: 'rejected', reason: 'product_restricted' })
  t.same(w.ledger.registry.refreshKioskConfigs().sort(), ['bar-1', 'cash-1', 'desk-1', 'food-1'])
  t.match(w.ledger.registry.kioskConfig('bar-1').tagVariants, [{ uid: OPS_UID.teen, variant: 'under16' }, { uid: OPS_UID.fresh2, variant: 'under16' }].sort((a, b) => a.uid.localeCompare(b.uid)))
  t.same(w.ledger.checkInvariants(), [])
})

t.test('refused ticket sales', async (t) => {
  const w = world(t)
  const { cash } = w.kiosks
  t.match(applyOne(w.ledger, open(cash, 'drawer-1', 0)), { status: 'accepted' })
  t.match(book(t, w, ticket(cash, OPS_UID.alice, [L.day()])), { status: 'rejected', reason: 'tag_already_registered' })
  t.match(book(t, w, ticket(cash, STAFF.cashier, [L.day()])), { status: 'rejected', reason: 'tag_already_registered' }, 'a staff wristband is no guest wristband')
  t.match(book(t, w, ticket(cash, OPS_UID.fresh, [line('merch', 1, 1_500)])), { status: 'rejected', reason: 'ticket_not_allowed' }, 'no ticket in the cart')
  t.match(book(t, w, ticket(cash, OPS_UID.fresh, [L.day(), line('merch', 1, 1_500)])), { status: 'rejected', reason: 'ticket_not_allowed' })
  t.match(book(t, w, ticket(cash, OPS_UID.fresh, [])), { status: 'rejected', reason: 'ticket_not_allowed' })
  t.match(book(t, w, ticket(cash, OPS_UID.fresh, [L.day(2), L.day(-1)])), { status: 'rejected', reason: 'ticket_not_allowed' }, 'a returned ticket line')
  t.match(book(t, w, ticket(cash, OPS_UID.fresh, [line('day', 1, 4_000)])), { status: 'rejected', reason: 'price_mismatch' })
  t.match(book(t, w, cash.next({ type: 'ticket', uid: OPS_UID.fresh, lines: [L.day()], amount: 6_000 }, { topup: 500 })), { status: 'rejected', reason: 'amount_mismatch' })
  t.match(book(t, w, cash.next({ type: 'ticket', uid: OPS_UID.fresh, lines: [L.day()], amount: 5_500 })), { status: 'rejected', reason: 'amount_mismatch' }, 'a top-up must be named')
  t.match(book(t, w, cash.next({ type: 'ticket', uid: OPS_UID.fresh, lines: [line('beer', 1, 450)], amount: 450 })), { status: 'rejected', reason: 'unknown_product' })
  cash.staff = STAFF.cashier
  t.match(book(t, w, ticket(cash, OPS_UID.fresh, [L.day()])), { status: 'rejected', reason: 'staff_not_allowed' })
  t.equal(w.ledger.wristband(OPS_UID.fresh), undefined)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('a ticket product in an ordinary cart is refused', async (t) => {
  const w = world(t, (s) => {
    s.kiosks = s.kiosks.map(({ profile, ...k }) => (k.id === 'desk-1' ? { ...k, saleAllowed: true, topupAllowed: true } : { ...k, ...(profile === undefined ? {} : { profile }) }))
  })
  fund(w, OPS_UID.alice, 10_000)
  t.match(book(t, w, w.kiosks.desk.cart(OPS_UID.alice, [L.day()])), { status: 'rejected', reason: 'ticket_not_allowed' })
  t.equal(w.ledger.balanceOf(OPS_UID.alice), 10_000)
  t.same(w.ledger.checkInvariants(), [])
})
