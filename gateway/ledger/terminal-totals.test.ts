// A shift_close may carry the card terminal's totals from its end of day
// (terminalTotals): kept with the shift's envelope, nothing booked from them;
// hostile or misplaced ones refuse the transaction with nothing booked.
import t from 'tap'
import type { Envelope } from '../../device-protocol/index.js'
import { opsWorld as world, bookChecked as book, OPS_UID, STAFF, applyOne, fund, postingsSum, type StaffedKiosk } from './testing/operations-fixtures.js'
import { accountIds } from './types.js'

const open = (k: StaffedKiosk, register: string, float: number) => k.next({ type: 'shift_open', uid: k.staff ?? STAFF.topup, amount: float }, { register })
const close = (k: StaffedKiosk, register: string, counted: number, over: Partial<Envelope['tx']> = {}) =>
  k.next({ type: 'shift_close', uid: k.staff ?? STAFF.topup, amount: counted }, { register, ...over })

const GOOD = { status: 'ok' as const, terminalId: '52000123', totalCents: 4_500, count: 3, cardTypes: [{ cardType: 'girocard', count: 2, amountCents: 3_500 }, { cardType: 'visa', count: 1, amountCents: 1_000 }] }

t.test('a shift_close with the terminal totals, or with them missing and why, is booked as without them', async (t) => {
  const w = world(t)
  const { cash } = w.kiosks
  t.match(book(t, w, open(cash, 'drawer-1', 1_000)), { status: 'accepted' })
  const closed = close(cash, 'drawer-1', 1_000, { terminalTotals: GOOD })
  t.match(book(t, w, closed), { status: 'accepted', expected: 1_000, difference: 0 })
  t.equal(postingsSum(w.ledger, closed.tx.id), 0)
  t.match(book(t, w, open(cash, 'drawer-1', 0)), { status: 'accepted' })
  t.match(book(t, w, close(cash, 'drawer-1', 0, { terminalTotals: { status: 'missing', reason: 'the terminal aborted the end of day' } })), { status: 'accepted' })
  t.same(w.ledger.checkInvariants(), [])
})

t.test('hostile terminal totals, or totals on another transaction, are refused with nothing booked', async (t) => {
  const hostile: unknown[] = [
    { ...GOOD, totalCents: -5 },
    { ...GOOD, totalCents: 1.5 },
    { ...GOOD, totalCents: Number.MAX_SAFE_INTEGER },
    { ...GOOD, count: 10_000_000 },
    { ...GOOD, cardTypes: Array.from({ length: 17 }, () => ({ cardType: 'visa', count: 1, amountCents: 1 })) },
    { ...GOOD, cardTypes: [{ cardType: '<script>', count: 1, amountCents: 1 }] },
    { ...GOOD, cardTypes: [{ cardType: 'visa', count: 1, amountCents: 1, extra: true }] },
    { ...GOOD, surplus: 1 },
    JSON.parse('{"status":"ok","totalCents":1,"count":1,"cardTypes":[],"__proto__":{"polluted":true}}'),
    { status: 'missing', reason: '' },
    { status: 'missing', reason: 'x'.repeat(201) },
    { status: 'missing', reason: 'bell\u0007' },
    { status: 'maybe' },
    'ok',
  ]
  for (const terminalTotals of hostile) {
    // A fresh world each: a refusal by shape is not recorded, so the kiosk's next seq stays where it was.
    const w = world(t)
    const { cash } = w.kiosks
    t.match(applyOne(w.ledger, open(cash, 'drawer-1', 1_000)), { status: 'accepted' })
    const drawer = w.ledger.accountBalance(accountIds.register('drawer-1'))
    const answer = applyOne(w.ledger, close(cash, 'drawer-1', 900, { terminalTotals } as Partial<Envelope['tx']>))
    t.match(answer, { status: 'rejected', reason: 'invalid_transaction', booked: false }, JSON.stringify(terminalTotals)?.slice(0, 60))
    t.equal(w.ledger.accountBalance(accountIds.register('drawer-1')), drawer, 'the drawer did not move')
    t.same(w.ledger.checkInvariants(), [])
    t.equal(({} as Record<string, unknown>).polluted, undefined)
  }
  const w = world(t)
  fund(w, OPS_UID.alice, 1_000)
  const { cash } = w.kiosks
  t.match(book(t, w, open(cash, 'drawer-1', 1_000)), { status: 'accepted' })
  const topup = cash.next({ type: 'topup_cash', uid: OPS_UID.alice, amount: 100 }, { terminalTotals: GOOD } as Partial<Envelope['tx']>)
  t.match(book(t, w, topup), { status: 'rejected', reason: 'invalid_transaction' }, 'only a shift_close carries them')
  t.equal(w.ledger.balanceOf(OPS_UID.alice), 1_000)
  t.match(book(t, w, close(cash, 'drawer-1', 1_000, { terminalTotals: GOOD })), { status: 'accepted' }, 'the shift is still open and closes')
})

t.test("the shift report shows the terminal's totals next to the card top-ups booked, or that they are missing and why", async (t) => {
  const w = world(t)
  fund(w, OPS_UID.alice, 1_000)
  const { cash } = w.kiosks
  let receipt = 0
  const cardTopup = (cents: number) => {
    receipt += 1
    return cash.next({ type: 'topup_card', uid: OPS_UID.alice, amount: cents }, { payment: { terminalId: '52000123', receiptNumber: String(receipt), traceNumber: String(receipt).padStart(6, '0'), cardType: 'girocard' } })
  }

  // Totals that agree: 3,500 + 1,000 booked, the terminal says 4,500.
  const first = open(cash, 'drawer-1', 1_000)
  t.match(book(t, w, first), { status: 'accepted' })
  t.match(w.ledger.shiftReport(first.tx.id), { terminalTotals: null, cardDifference: null, cardTopups: { count: 0, cents: 0 } }, 'an open shift has no totals yet')
  t.match(book(t, w, cardTopup(3_500)), { status: 'accepted' })
  t.match(book(t, w, cardTopup(1_000)), { status: 'accepted' })
  t.match(book(t, w, close(cash, 'drawer-1', 1_000, { terminalTotals: GOOD })), { status: 'accepted' })
  t.match(w.ledger.shiftReport(first.tx.id), { cardTopups: { count: 2, cents: 4_500 }, terminalTotals: GOOD, cardDifference: 0, difference: 0 })

  // The terminal took 500 more than the gateway booked (a refused top-up not reversed): a difference.
  const second = open(cash, 'drawer-1', 0)
  t.match(book(t, w, second), { status: 'accepted' })
  t.match(book(t, w, cardTopup(4_000)), { status: 'accepted' })
  t.match(book(t, w, close(cash, 'drawer-1', 0, { terminalTotals: GOOD })), { status: 'accepted' })
  t.match(w.ledger.shiftReport(second.tx.id), { cardTopups: { count: 1, cents: 4_000 }, terminalTotals: { status: 'ok', totalCents: 4_500 }, cardDifference: 500 })

  // Missing totals: the reason, and no difference claimed.
  const third = open(cash, 'drawer-1', 0)
  t.match(book(t, w, third), { status: 'accepted' })
  t.match(book(t, w, cardTopup(700)), { status: 'accepted' })
  const reason = 'the terminal aborted the end of day'
  t.match(book(t, w, close(cash, 'drawer-1', 0, { terminalTotals: { status: 'missing', reason } })), { status: 'accepted' })
  t.same(pick(w.ledger.shiftReport(third.tx.id)), { cardTopups: { count: 1, cents: 700 }, terminalTotals: { status: 'missing', reason }, cardDifference: null })

  // A kiosk without a terminal sends none: null, as before.
  const fourth = open(cash, 'drawer-1', 0)
  t.match(book(t, w, fourth), { status: 'accepted' })
  t.match(book(t, w, close(cash, 'drawer-1', 0)), { status: 'accepted' })
  t.same(pick(w.ledger.shiftReport(fourth.tx.id)), { cardTopups: { count: 0, cents: 0 }, terminalTotals: null, cardDifference: null })
  t.same(w.ledger.shiftReports().map((r) => r.id), [fourth, third, second, first].map((e) => e.tx.id))
})

const pick = (r: { cardTopups: unknown; terminalTotals: unknown; cardDifference: unknown } | undefined) =>
  r === undefined ? undefined : { cardTopups: r.cardTopups, terminalTotals: r.terminalTotals, cardDifference: r.cardDifference }
