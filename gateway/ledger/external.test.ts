import t from 'tap'
import { MAX_AMOUNT_CENTS } from '../../device-protocol/index.js'
import { LedgerRefusalError, type LedgerRefusalCode } from './errors.js'
import { MAX_REF_LENGTH } from './external.js'
import { UID, makeWorld, verified, type TestWorld } from './testing/test-helpers.js'
import { accountIds, type ExternalBookingInput } from './types.js'

const SUMUP = accountIds.clearing('sumup')
const PREPAID = accountIds.prepaid('user-1')
const ALICE = accountIds.customer(UID.alice)
const BOB = accountIds.customer(UID.bob)
const BLOCKED = accountIds.customer(UID.blocked)

/** A world with the external accounts opened, alice holding 5000 (online top-up) and user-1 6000 prepaid. */
function world(): TestWorld {
  const w = makeWorld()
  w.ledger.ensureAccount('clearing', 'sumup')
  w.ledger.ensureAccount('clearing', 'stripe')
  w.ledger.ensureAccount('prepaid', 'user-1')
  w.ledger.ensureAccount('donation', 'event')
  w.ledger.ensureAccount('payout', 'bank')
  w.ledger.bookExternal(topup('setup:alice', UID.alice, 5000))
  w.ledger.bookExternal({ ref: 'setup:prepaid', kind: 'prepayment', postings: [{ account: accountIds.clearing('stripe'), amount: -6000 }, { account: PREPAID, amount: 6000 }] })
  return w
}

function topup(ref: string, uid: string, amount: number): ExternalBookingInput {
  return { ref, kind: 'topup_online', customerUid: uid, postings: [{ account: SUMUP, amount: -amount }, { account: accountIds.customer(uid), amount }] }
}

/** Everything a refused booking must leave untouched. */
function snapshot(w: TestWorld) {
  return {
    stats: w.ledger.stats(),
    postings: w.db.prepare('SELECT COUNT(*) AS n FROM postings').get(),
    bookings: w.db.prepare('SELECT * FROM external_bookings ORDER BY id').all(),
    accounts: w.db.prepare('SELECT * FROM accounts ORDER BY id').all(),
  }
}

function refusalOf(fn: () => unknown): LedgerRefusalError {
  try {
    fn()
  } catch (err) {
    if (err instanceof LedgerRefusalError) return err
    throw err
  }
  throw new Error('expected a LedgerRefusalError, nothing was thrown')
}

type RefusalCase = [name: string, input: () => unknown, code: LedgerRefusalCode]
const p = (account: string, amount: unknown) => ({ account, amount })

const refusals: RefusalCase[] = [
  ['postings do not sum to 0', () => ({ ref: 'r', kind: 'topup_online', postings: [p(SUMUP, -1000), p(ALICE, 999)] }), 'unbalanced'],
  ['a single posting', () => ({ ref: 'r', kind: 'topup_online', postings: [p(ALICE, 100)] }), 'unbalanced'],
  ['no postings', () => ({ ref: 'r', kind: 'topup_online', postings: [] }), 'invalid_amount'],
  ['postings missing', () => ({ ref: 'r', kind: 'topup_online' }), 'invalid_amount'],
  ['a fractional amount', () => ({ ref: 'r', kind: 'topup_online', postings: [p(SUMUP, -10.5), p(ALICE, 10.5)] }), 'invalid_amount'],
  ['an amount as a string', () => ({ ref: 'r', kind: 'topup_online', postings: [p(SUMUP, '-100'), p(ALICE, '100')] }), 'invalid_amount'],
  ['a zero posting', () => ({ ref: 'r', kind: 'topup_online', postings: [p(SUMUP, -100), p(ALICE, 100), p(BOB, 0)] }), 'invalid_amount'],
  ['NaN', () => ({ ref: 'r', kind: 'topup_online', postings: [p(SUMUP, NaN), p(ALICE, NaN)] }), 'invalid_amount'],
  ['Infinity', () => ({ ref: 'r', kind: 'topup_online', postings: [p(SUMUP, -Infinity), p(ALICE, Infinity)] }), 'invalid_amount'],
  ['above the maximum', () => ({ ref: 'r', kind: 'topup_online', postings: [p(SUMUP, -(MAX_AMOUNT_CENTS + 1)), p(ALICE, MAX_AMOUNT_CENTS + 1)] }), 'invalid_amount'],
  [
    'several postings together above the maximum',
    () => ({ ref: 'r', kind: 'card_payment', postings: [p(SUMUP, -2 * MAX_AMOUNT_CENTS), p(accountIds.revenue('bar'), MAX_AMOUNT_CENTS), p(accountIds.revenue('food'), MAX_AMOUNT_CENTS)] }),
    'invalid_amount',
  ],
  ['an account that does not exist', () => ({ ref: 'r', kind: 'topup_online', postings: [p(accountIds.clearing('nobody'), -100), p(ALICE, 100)] }), 'unknown_account'],
  ['an empty account id', () => ({ ref: 'r', kind: 'topup_online', postings: [p('', -100), p(ALICE, 100)] }), 'unknown_account'],
  ['an account id that is not a string', () => ({ ref: 'r', kind: 'topup_online', postings: [{ account: 42, amount: -100 }, p(ALICE, 100)] }), 'unknown_account'],
  ['an unknown wristband', () => topup('r', UID.stranger, 100), 'unknown_tag'],
  ['an unknown wristband named only by its posting', () => ({ ref: 'r', kind: 'topup_online', postings: [p(SUMUP, -100), p(accountIds.customer(UID.stranger), 100)] }), 'unknown_tag'],
  ['an unknown customerUid on a booking without customer posting', () => ({ ref: 'r', kind: 'card_payment', customerUid: UID.stranger, postings: [p(SUMUP, -100), p(accountIds.revenue('bar'), 100)] }), 'unknown_tag'],
  ['an online top-up of a blocked wristband', () => topup('r', UID.blocked, 100), 'tag_blocked'],
  [
    'a transfer of prepaid money onto a blocked wristband',
    () => ({ ref: 'r', kind: 'prepaid_transfer', customerUid: UID.blocked, postings: [p(PREPAID, -100), p(BLOCKED, 100)] }),
    'tag_blocked',
  ],
  ['a payout above the balance', () => ({ ref: 'r', kind: 'payout', customerUid: UID.alice, postings: [p(ALICE, -5001), p(accountIds.payout(), 5001)] }), 'insufficient_balance'],
  ['a payout from an empty wristband', () => ({ ref: 'r', kind: 'payout', customerUid: UID.bob, postings: [p(BOB, -1), p(accountIds.payout(), 1)] }), 'insufficient_balance'],
  ['a transfer above the prepaid money', () => ({ ref: 'r', kind: 'prepaid_transfer', customerUid: UID.bob, postings: [p(PREPAID, -6001), p(BOB, 6001)] }), 'insufficient_balance'],
  [
    'a card payment taking more from the balance than there is',
    () => ({ ref: 'r', kind: 'card_payment', customerUid: UID.alice, postings: [p(ALICE, -5500), p(SUMUP, -500), p(accountIds.revenue('bar'), 6000)] }),
    'insufficient_balance',
  ],
  ['the input is null', () => null, 'invalid_booking'],
  ['the input is an array', () => [], 'invalid_booking'],
  ['an empty ref', () => ({ ...topup('', UID.alice, 100) }), 'invalid_booking'],
  ['a ref with a space', () => ({ ...topup('sumup chk_1', UID.alice, 100) }), 'invalid_booking'],
  ['a ref with a newline', () => ({ ...topup('sumup:chk_1\nINFO forged log line', UID.alice, 100) }), 'invalid_booking'],
  ['a ref that is too long', () => ({ ...topup('x'.repeat(MAX_REF_LENGTH + 1), UID.alice, 100) }), 'invalid_booking'],
  ['a ref that is a number', () => ({ ...topup('r', UID.alice, 100), ref: 42 }), 'invalid_booking'],
  ['an unknown kind', () => ({ ...topup('r', UID.alice, 100), kind: 'sale' }), 'invalid_booking'],
  ['a customerUid that is not a string', () => ({ ...topup('r', UID.alice, 100), customerUid: 7 }), 'invalid_booking'],
  ['the same account twice', () => ({ ref: 'r', kind: 'topup_online', postings: [p(SUMUP, -100), p(ALICE, 50), p(ALICE, 50)] }), 'invalid_booking'],
  ['two wristbands in one booking', () => ({ ref: 'r', kind: 'topup_online', postings: [p(SUMUP, -100), p(ALICE, 50), p(BOB, 50)] }), 'invalid_booking'],
  ["a customer posting on another guest's wristband", () => ({ ...topup('r', UID.alice, 100), customerUid: UID.bob }), 'invalid_booking'],
  ['meta with an object value', () => ({ ...topup('r', UID.alice, 100), meta: { nested: { a: 1 } } }), 'invalid_booking'],
  ['meta as an array', () => ({ ...topup('r', UID.alice, 100), meta: ['a'] }), 'invalid_booking'],
  ['meta with NaN', () => ({ ...topup('r', UID.alice, 100), meta: { n: NaN } }), 'invalid_booking'],
  ['meta that is too big', () => ({ ...topup('r', UID.alice, 100), meta: { blob: 'x'.repeat(10_000) } }), 'invalid_booking'],
  ['meta with too many keys', () => ({ ...topup('r', UID.alice, 100), meta: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i])) }), 'invalid_booking'],
  ['too many postings', () => ({ ref: 'r', kind: 'card_payment', postings: [p(SUMUP, -51), ...Array.from({ length: 51 }, () => p(ALICE, 1))] }), 'invalid_booking'],
]

t.test('each refusal has its code and changes nothing', async (t) => {
  for (const [name, input, code] of refusals) {
    t.test(name, async (t) => {
      const w = world()
      t.teardown(w.close)
      const before = snapshot(w)
      const err = refusalOf(() => w.ledger.bookExternal(input() as ExternalBookingInput))
      t.equal(err.code, code)
      t.type(err.message, 'string')
      t.same(snapshot(w), before, 'nothing changed')
      t.same(w.ledger.checkInvariants(), [])
    })
  }
})

t.test('a refusal does not use up its ref', async (t) => {
  const w = world()
  t.teardown(w.close)
  t.equal(refusalOf(() => w.ledger.bookExternal(topup('sumup:chk_1', UID.stranger, 100))).code, 'unknown_tag')
  t.equal(w.ledger.bookExternal(topup('sumup:chk_1', UID.alice, 100)).status, 'booked')
  t.equal(w.ledger.balanceOf(UID.alice), 5100)
})

t.test('insufficient_balance tells which account and what it holds', async (t) => {
  const w = world()
  t.teardown(w.close)
  const err = refusalOf(() => w.ledger.bookExternal({ ref: 'r', kind: 'payout', postings: [p(ALICE, -9000), p(accountIds.payout(), 9000)] as ExternalBookingInput['postings'] }))
  t.same(err.details, { account: ALICE, balance: 5000 })
})

t.test('a booking moves the balances and is recorded', async (t) => {
  const w = world()
  t.teardown(w.close)
  w.clock.advance(1000)
  const result = w.ledger.bookExternal({ ...topup('sumup:chk_42', UID.bob, 2500), meta: { provider: 'sumup', checkout: 'chk_42', fee: null, test: true } })
  t.match(result, { status: 'booked', bookedAt: w.clock.now() })
  t.match(result.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  t.not(result.receiptId, result.id, 'the receipt id is not the booking id')
  t.equal(w.ledger.balanceOf(UID.bob), 2500)
  t.equal(w.ledger.accountBalance(SUMUP), -7500)
  t.same(w.ledger.externalBooking(result.id), {
    id: result.id,
    ref: 'sumup:chk_42',
    kind: 'topup_online',
    amount: 2500,
    customerUid: UID.bob,
    meta: { provider: 'sumup', checkout: 'chk_42', fee: null, test: true },
    receiptId: result.receiptId,
    bookedAt: result.bookedAt,
    postings: [
      { account: SUMUP, amount: -2500 },
      { account: BOB, amount: 2500 },
    ],
  })
  t.same(w.ledger.externalBookingByRef('sumup:chk_42')?.id, result.id)
  t.equal(w.ledger.externalBooking('nope'), undefined)
  t.equal(w.ledger.externalBookingByRef('nope'), undefined)
  const stats = w.ledger.stats()
  t.equal(stats.externalBookings, 3)
  t.same(stats.balancesByKind, { customer: 7500, revenue: 0, cash: 0, clearing: -13500, prepaid: 6000, donation: 0, payout: 0, deposit: 0, voucher: 0, vault: 0, imbalance: 0 })
  t.equal(stats.customerBalances, 7500, 'customerBalances counts wristbands only')
  t.same(w.ledger.checkInvariants(), [])
})

t.test('the customer is taken from the customer posting when customerUid is omitted', async (t) => {
  const w = world()
  t.teardown(w.close)
  const { customerUid: _omitted, ...input } = topup('r1', UID.bob, 300)
  const result = w.ledger.bookExternal(input)
  t.equal(w.ledger.externalBooking(result.id)?.customerUid, UID.bob)
  t.equal(w.ledger.customerOrders(UID.bob)[0]?.id, result.id)
})

t.test('idempotency by ref', async (t) => {
  t.test('the same ref and content again is a replay with the first result', async (t) => {
    const w = world()
    t.teardown(w.close)
    const first = w.ledger.bookExternal(topup('stripe:pi_1', UID.alice, 700))
    const before = snapshot(w)
    w.clock.advance(60_000)
    const again = w.ledger.bookExternal(topup('stripe:pi_1', UID.alice, 700))
    t.same(again, { ...first, status: 'replay' })
    t.same(snapshot(w), before, 'nothing booked')
  })

  t.test('postings in another order and different meta are still a replay', async (t) => {
    const w = world()
    t.teardown(w.close)
    const first = w.ledger.bookExternal({ ...topup('stripe:pi_2', UID.alice, 700), meta: { source: 'webhook' } })
    const input = topup('stripe:pi_2', UID.alice, 700)
    const again = w.ledger.bookExternal({ ...input, postings: [...input.postings].reverse(), meta: { source: 'poll' } })
    t.same(again, { ...first, status: 'replay' })
    t.same(w.ledger.externalBooking(first.id)?.meta, { source: 'webhook' }, 'the first meta is kept')
    t.equal(w.ledger.balanceOf(UID.alice), 5700)
  })

  t.test('a replay is answered even when the booking could not be made again', async (t) => {
    const w = world()
    t.teardown(w.close)
    const payout = { ref: 'payout:1', kind: 'payout' as const, postings: [p(ALICE, -5000), p(accountIds.payout(), 5000)] as ExternalBookingInput['postings'] }
    const first = w.ledger.bookExternal(payout)
    t.equal(w.ledger.balanceOf(UID.alice), 0)
    t.same(w.ledger.bookExternal(payout), { ...first, status: 'replay' })
    w.ledger.registry.setWristbandBlocked(UID.alice, true)
    t.same(w.ledger.bookExternal(payout), { ...first, status: 'replay' })
  })

  const conflicts: Array<[string, (base: ExternalBookingInput) => ExternalBookingInput]> = [
    ['another amount', () => topup('dup', UID.alice, 701)],
    ['another kind', (b) => ({ ...b, kind: 'topup_card' })],
    ['another wristband', () => topup('dup', UID.bob, 700)],
    ['another clearing account', (b) => ({ ...b, postings: [p(accountIds.clearing('stripe'), -700), p(ALICE, 700)] as ExternalBookingInput['postings'] })],
    [
      'an extra posting',
      (b) => ({ ...b, postings: [p(SUMUP, -700), p(ALICE, 600), p(accountIds.donation(), 100)] as ExternalBookingInput['postings'] }),
    ],
  ]
  for (const [name, change] of conflicts) {
    t.test(`the same ref with ${name} is a ref_conflict`, async (t) => {
      const w = world()
      t.teardown(w.close)
      const base = topup('dup', UID.alice, 700)
      w.ledger.bookExternal(base)
      const before = snapshot(w)
      t.equal(refusalOf(() => w.ledger.bookExternal(change(base))).code, 'ref_conflict')
      t.same(snapshot(w), before)
    })
  }
})

t.test('kinds of booking', async (t) => {
  const w = world()
  t.teardown(w.close)
  const revenue = accountIds.revenue('bar')
  const book = (input: ExternalBookingInput) => w.ledger.bookExternal(input).status
  t.equal(book({ ref: 'u:1', kind: 'prepaid_transfer', customerUid: UID.bob, postings: [p(PREPAID, -6000), p(BOB, 6000)] as ExternalBookingInput['postings'] }), 'booked')
  t.equal(w.ledger.accountBalance(PREPAID), 0)
  t.equal(w.ledger.balanceOf(UID.bob), 6000)
  // Part from the balance, part by card.
  t.equal(book({ ref: 'ct:1', kind: 'card_payment', customerUid: UID.bob, postings: [p(BOB, -1000), p(SUMUP, -500), p(revenue, 1500)] as ExternalBookingInput['postings'] }), 'booked')
  t.equal(book({ ref: 'don:1', kind: 'donation', postings: [p(BOB, -500), p(accountIds.donation(), 500)] as ExternalBookingInput['postings'] }), 'booked')
  t.equal(book({ ref: 'pay:1', kind: 'payout', postings: [p(BOB, -4500), p(accountIds.payout(), 4500)] as ExternalBookingInput['postings'] }), 'booked')
  t.equal(book({ ref: 'ref:1', kind: 'refund', postings: [p(accountIds.payout(), -100), p(SUMUP, 100)] as ExternalBookingInput['postings'] }), 'booked')
  t.equal(w.ledger.balanceOf(UID.bob), 0, 'spent to exactly zero')
  t.equal(w.ledger.accountBalance(revenue), 1500)
  t.equal(w.ledger.stats().revenueByBooth.bar, 1500)
  t.equal(w.ledger.sumOfAllBalances(), 0)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('a blocked wristband can still be paid out and donate', async (t) => {
  const w = world()
  t.teardown(w.close)
  w.ledger.registry.setWristbandBlocked(UID.alice, true)
  t.equal(refusalOf(() => w.ledger.bookExternal(topup('t', UID.alice, 100))).code, 'tag_blocked')
  t.equal(w.ledger.bookExternal({ ref: 'd', kind: 'donation', postings: [p(ALICE, -1000), p(accountIds.donation(), 1000)] as ExternalBookingInput['postings'] }).status, 'booked')
  t.equal(w.ledger.bookExternal({ ref: 'p', kind: 'payout', postings: [p(ALICE, -4000), p(accountIds.payout(), 4000)] as ExternalBookingInput['postings'] }).status, 'booked')
  t.equal(w.ledger.balanceOf(UID.alice), 0)
})

t.test('external bookings and kiosk transactions see each other', async (t) => {
  const w = world()
  t.teardown(w.close)
  // Bob has nothing: a kiosk sale is refused until an online top-up lands.
  const refused = w.ledger.applyBatch([verified(w.kiosks.bar.sale(UID.bob, [{ product: 'beer', qty: 1, unitPrice: 450 }]))])
  t.match(refused, [{ kind: 'result', result: { status: 'rejected', reason: 'insufficient_balance' } }])
  w.ledger.bookExternal(topup('sumup:bob', UID.bob, 1000))
  const accepted = w.ledger.applyBatch([verified(w.kiosks.bar.sale(UID.bob, [{ product: 'beer', qty: 1, unitPrice: 450 }]))])
  t.match(accepted, [{ kind: 'result', result: { status: 'accepted', balance: 550 } }])
  // A payout may not take what a kiosk sale already spent.
  t.equal(refusalOf(() => w.ledger.bookExternal({ ref: 'pay', kind: 'payout', postings: [p(BOB, -1000), p(accountIds.payout(), 1000)] as ExternalBookingInput['postings'] })).code, 'insufficient_balance')
  t.same(w.ledger.checkInvariants(), [])
})

t.test("a kiosk transaction may not carry an external booking's id", async (t) => {
  const w = world()
  t.teardown(w.close)
  const booked = w.ledger.bookExternal(topup('x', UID.alice, 100))
  const envelope = w.kiosks.cash.topup(UID.alice, 100, { id: booked.id })
  const [outcome] = w.ledger.applyBatch([verified(envelope)])
  t.match(outcome, { kind: 'result', result: { status: 'rejected', reason: 'invalid_transaction' }, recorded: false, booked: false })
  t.equal(w.ledger.transaction(booked.id), undefined)
  t.equal(w.ledger.balanceOf(UID.alice), 5100)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('ensureAccount', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  t.equal(w.ledger.ensureAccount('clearing', 'card-terminal'), 'clearing:card-terminal')
  t.equal(w.ledger.ensureAccount('clearing', 'card-terminal'), 'clearing:card-terminal', 'idempotent')
  t.equal(w.ledger.ensureAccount('prepaid', 'cuid_abc'), accountIds.prepaid('cuid_abc'))
  t.equal(w.ledger.ensureAccount('donation', 'event'), accountIds.donation())
  t.equal(w.ledger.ensureAccount('payout', 'bank'), accountIds.payout())
  t.equal(w.ledger.accountBalance('clearing:card-terminal'), 0)
  t.equal(w.ledger.accountBalance('clearing:nobody'), undefined)
  t.equal(w.ledger.accountBalance(42 as unknown as string), undefined)
  t.equal(w.ledger.accountBalance(accountIds.customer(UID.alice)), 0)
  for (const [kind, ref] of [
    ['customer', UID.stranger],
    ['revenue', 'x'],
    ['bogus', 'x'],
    ['clearing', ''],
    ['clearing', 'has space'],
    ['clearing', 'x'.repeat(MAX_REF_LENGTH + 1)],
    ['clearing', 7],
  ] as const) {
    const err = refusalOf(() => w.ledger.ensureAccount(kind as 'clearing', ref as string))
    t.equal(err.code, 'invalid_account', `${kind} ${String(ref).slice(0, 20)}`)
  }
  t.equal(w.ledger.accountBalance(accountIds.customer(UID.stranger)), undefined, 'no customer account made for an unknown wristband')
  t.same(w.ledger.checkInvariants(), [])
})

t.test('checkInvariants catches what external bookings could break', async (t) => {
  t.test('postings whose tx id is neither a kiosk transaction nor an external booking', async (t) => {
    const w = world()
    t.teardown(w.close)
    // Balanced and reflected in the balances: only the orphan check can see it.
    w.db.prepare(`INSERT INTO postings (tx_id, account, amount) VALUES ('ghost', ?, -100), ('ghost', ?, 100)`).run(SUMUP, ALICE)
    w.db.prepare(`UPDATE accounts SET balance = balance - 100 WHERE id = ?`).run(SUMUP)
    w.db.prepare(`UPDATE accounts SET balance = balance + 100 WHERE id = ?`).run(ALICE)
    t.same(w.ledger.checkInvariants(), ['2 postings of ghost, which is neither a kiosk transaction nor an external booking'])
  })

  t.test('an external booking whose postings do not sum to 0', async (t) => {
    const w = world()
    t.teardown(w.close)
    const booking = w.ledger.externalBookingByRef('setup:alice')!
    w.db.prepare(`UPDATE postings SET amount = amount + 1 WHERE tx_id = ? AND amount > 0`).run(booking.id)
    t.ok(w.ledger.checkInvariants().some((v) => v === `postings of ${booking.id} sum to 1, not 0`))
  })

  t.test('an external booking whose recorded amount is not what its postings move', async (t) => {
    const w = world()
    t.teardown(w.close)
    const booking = w.ledger.externalBookingByRef('setup:alice')!
    w.db.prepare(`UPDATE external_bookings SET amount = 4999 WHERE id = ?`).run(booking.id)
    t.same(w.ledger.checkInvariants(), [`external booking ${booking.id} has 2 postings moving 5000, recorded amount 4999`])
  })

  t.test('a negative prepaid account', async (t) => {
    const w = world()
    t.teardown(w.close)
    w.db.prepare(`UPDATE postings SET amount = -amount WHERE account IN (?, ?)`).run(PREPAID, accountIds.clearing('stripe'))
    w.db.prepare(`UPDATE accounts SET balance = -balance WHERE id IN (?, ?)`).run(PREPAID, accountIds.clearing('stripe'))
    t.same(w.ledger.checkInvariants(), [`prepaid account ${PREPAID} is negative (-6000)`])
  })

  t.test('an id that is both a kiosk transaction and an external booking', async (t) => {
    const w = world()
    t.teardown(w.close)
    w.ledger.applyBatch([verified(w.kiosks.cash.topup(UID.bob, 100))])
    const tx = w.db.prepare(`SELECT id FROM transactions`).get() as { id: string }
    const booking = w.ledger.externalBookingByRef('setup:alice')!
    w.db.prepare(`UPDATE postings SET tx_id = ? WHERE tx_id = ?`).run(tx.id, booking.id)
    w.db.prepare(`UPDATE external_bookings SET id = ? WHERE id = ?`).run(tx.id, booking.id)
    t.ok(w.ledger.checkInvariants().includes(`${tx.id} is both a kiosk transaction and an external booking`))
  })
})
