// The contract every LedgerStore (store.ts) passes, as one suite of tap
// subtests run against a fresh store each (the model: aedes-persistence's
// abstract test suite). It drives the store the way the ledger does: a small
// fake registry (plain objects) and the store under test make the LedgerFacts,
// the test kiosks sign envelopes, core.ts's applyEnvelope decides, and the
// write goes to commitTransaction inside store.batch. Test code only.
import { createHash, randomUUID } from 'node:crypto'
import type { Test } from 'tap'
import { GENESIS_HASH, cardPaymentRef, envelopeHash, type Envelope, type Line } from '../../../device-protocol/index.js'
import { applyEnvelope, type Applied, type LedgerFacts, type TransactionWrite } from '../core.js'
import { composeLedgerFacts } from '../facts.js'
import { CARD_TERMINAL_CLEARING, type ProductFacts, type ProfileFacts } from '../rules.js'
import type { LedgerStore, RegisteredKiosk, RegisteredWristband, RegistryFacts, StoredExternalBooking } from '../store.js'
import { accountIds, type AccountKind, type PostingRecord } from '../types.js'
import { SigningKiosk, productFacts } from './test-helpers.js'

/**
 * What the suite's fake registry holds. A store that keeps registry rows
 * beside its own (SQLite: booths, kiosks, cash registers, for the foreign
 * keys of transactions and shifts) seeds them from this in its factory.
 */
export const STORE_CONTRACT_FIXTURE = {
  booths: ['bar', 'desk'],
  kiosks: [
    { id: 'bar-1', booth: 'bar' },
    { id: 'desk-1', booth: 'desk' },
  ],
  registers: ['drawer-1'],
} as const

export interface StoreUnderTest {
  store: LedgerStore
  close(): void
}

const UID = {
  alice: '04A1B2C3D4E5F6',
  bob: '04B0B0B0B0B0B0',
  carol: '04C0C0C0C0C0C0',
  dave: '04D0D0D0D0D0D0',
  stranger: '04FFFFFFFFFFFF',
  cashier: '0A0A0A0A',
} as const
const CAROL_PIN = 'CAROLPIN22'
const START_MS = 1_750_000_000_000
const NOW_MS = START_MS + 1_000

const beer: Line = { product: 'beer', qty: 1, unitPrice: 450 }
const water: Line = { product: 'water', qty: 1, unitPrice: 200 }
const cup: Line = { product: 'cup', qty: 1, unitPrice: 100 }
const snack: Line = { product: 'snack', qty: 1, unitPrice: 300 }

const product = productFacts

const PRODUCTS: Record<string, Record<string, ProductFacts>> = {
  bar: {
    beer: product('beer', 450, { voucherEligible: true, taxRate: 1900 }),
    water: product('water', 200),
    cup: product('cup', 100, { kind: 'deposit' }),
  },
  desk: { snack: product('snack', 300) },
}

const profile = (more: Partial<ProfileFacts>): ProfileFacts => ({
  sale: false,
  topupCash: false,
  topupCard: false,
  cashout: false,
  ticketSale: false,
  tagSwitch: false,
  cashRegister: false,
  cancelWindowMs: 0,
  ...more,
})

const KIOSKS: Record<string, RegisteredKiosk> = {
  // Cash goes to the kiosk's cash account; it may cancel and switch tags.
  'bar-1': { id: 'bar-1', booth: 'bar', profile: profile({ sale: true, topupCash: true, topupCard: true, tagSwitch: true, cancelWindowMs: 600_000 }) },
  // Keeps a cash register: cash moves through the open shift's drawer.
  'desk-1': { id: 'desk-1', booth: 'desk', profile: profile({ sale: true, topupCash: true, cashout: true, cashRegister: true }) },
}

/** The registry as plain objects: wristbands change through applyBooking, as the real registry's do. */
interface FakeRegistry extends RegistryFacts {
  readonly bands: Map<string, RegisteredWristband & { pin?: string }>
}

function fakeRegistry(): FakeRegistry {
  const bands = new Map<string, RegisteredWristband & { pin?: string }>([
    [UID.alice, { blocked: false, vouchers: 0, variant: null }],
    [UID.bob, { blocked: false, vouchers: 2, variant: null }],
    [UID.carol, { blocked: false, vouchers: 0, variant: null, pin: CAROL_PIN }],
  ])
  return {
    bands,
    kiosk: (id) => KIOSKS[id],
    wristband: (uid) => {
      const band = bands.get(uid)
      return band === undefined ? undefined : { blocked: band.blocked, vouchers: band.vouchers, variant: band.variant }
    },
    product: (booth, productId) => PRODUCTS[booth]?.[productId],
    maxReturnQty: () => 5,
    staffRoles: () => undefined,
    registerExists: (register) => (STORE_CONTRACT_FIXTURE.registers as readonly string[]).includes(register),
    wristbandByPin: (pin) => [...bands].find(([, b]) => b.pin === pin && !b.blocked)?.[0],
    ticketPin: () => 'TICKETPIN2',
    checkTag: () => ({ ok: true }),
    timeLimits: () => ({ maxAheadMs: 3_600_000, maxBehindMs: 86_400_000 }),
    offlineRules: () => ({ allowed: true, perTagCapCents: 2_000, kioskTotalCapCents: 5_000, capWindowMs: 3_600_000 }),
    applyBooking({ decision }) {
      if (decision.status !== 'accepted') return
      for (const e of decision.effects) {
        if (e.kind === 'register_wristband') {
          const pin = e.pinFrom === undefined ? undefined : bands.get(e.pinFrom)?.pin
          bands.set(e.uid, { blocked: false, vouchers: 0, variant: e.variant, ...(pin === undefined ? {} : { pin }) })
        } else if (e.kind === 'replace_wristband') {
          const old = bands.get(e.oldUid)!
          bands.set(e.oldUid, { blocked: true, vouchers: old.vouchers, variant: old.variant })
        } else if (e.kind === 'vouchers') {
          const band = bands.get(e.uid)!
          bands.set(e.uid, { ...band, vouchers: band.vouchers + e.delta })
        }
      }
    },
  }
}

/** The accounts the event set-up opens (as the import does), by id. */
const SETUP_ACCOUNTS: Array<[string, AccountKind, string]> = [
  [accountIds.customer(UID.alice), 'customer', UID.alice],
  [accountIds.customer(UID.bob), 'customer', UID.bob],
  [accountIds.customer(UID.carol), 'customer', UID.carol],
  [accountIds.revenue('bar'), 'revenue', 'bar'],
  [accountIds.revenue('desk'), 'revenue', 'desk'],
  [accountIds.cash('bar-1'), 'cash', 'bar-1'],
  [accountIds.cash('desk-1'), 'cash', 'desk-1'],
  [accountIds.deposit('bar'), 'deposit', 'bar'],
  [accountIds.deposit('desk'), 'deposit', 'desk'],
  [accountIds.voucher(), 'voucher', 'event'],
  [accountIds.vault(), 'vault', 'event'],
  [accountIds.imbalance(), 'imbalance', 'event'],
  [accountIds.register('drawer-1'), 'register', 'drawer-1'],
]

interface World {
  store: LedgerStore
  registry: FakeRegistry
  facts: LedgerFacts
  bar: SigningKiosk
  desk: SigningKiosk
  /** Decides and, if recorded, writes one envelope in its own batch (the gateway's clock reads `now`). */
  apply(envelope: Envelope, options?: { now?: number; pin?: string }): Applied
  /** Decides only: what the ledger would write, not written. */
  decide(envelope: Envelope, options?: { now?: number; facts?: Partial<LedgerFacts> }): Applied
  /** Writes a decided transaction as the ledger does: accounts it needs, the registry's side, the store's. */
  commit(write: TransactionWrite): void
}

function makeWorld(t: Test, makeStore: () => StoreUnderTest): World {
  const { store, close } = makeStore()
  t.teardown(close)
  const registry = fakeRegistry()
  const facts = composeLedgerFacts(registry, store)
  store.batch(() => {
    for (const [id, kind, ref] of SETUP_ACCOUNTS) store.ensureAccount(id, kind, ref)
    for (const k of STORE_CONTRACT_FIXTURE.kiosks) store.ensureKiosk(k.id)
  })
  const decide: World['decide'] = (envelope, options = {}) =>
    applyEnvelope(
      { ...facts, ...options.facts },
      { envelope, now: options.now ?? NOW_MS, newReceiptId: () => randomUUID() },
    )
  const commit = (write: TransactionWrite): void => {
    if (write.decision.status === 'accepted') {
      // What the ledger opens before postings name it: a new wristband's account, the card terminals' clearing account.
      for (const e of write.decision.effects) if (e.kind === 'register_wristband') store.ensureAccount(accountIds.customer(e.uid), 'customer', e.uid)
      if (write.tx.type === 'topup_card') store.ensureAccount(accountIds.clearing(CARD_TERMINAL_CLEARING), 'clearing', CARD_TERMINAL_CLEARING)
    }
    registry.applyBooking(write)
    store.commitTransaction(write)
  }
  return {
    store,
    registry,
    facts,
    bar: new SigningKiosk('bar-1', undefined, START_MS),
    desk: new SigningKiosk('desk-1', undefined, START_MS),
    decide,
    commit,
    apply: (envelope, options = {}) =>
      store.batch(() => {
        const applied = applyEnvelope(facts, {
          envelope,
          now: options.now ?? NOW_MS,
          ...(options.pin === undefined ? {} : { pin: options.pin }),
          newReceiptId: () => randomUUID(),
        })
        if (applied.kind === 'recorded') commit(applied.write)
        return applied
      }),
  }
}

function resultOf(applied: Applied) {
  if (applied.outcome.kind !== 'result') throw new Error(`expected a result, got ${JSON.stringify(applied.outcome)}`)
  return applied.outcome.result
}

/** Applies and insists on an accepted booking (a set-up step of a test, not what it tests). */
function book(w: World, envelope: Envelope, options?: { now?: number; pin?: string }): TransactionWrite {
  const applied = w.apply(envelope, options)
  if (applied.kind !== 'recorded' || applied.write.decision.status !== 'accepted')
    throw new Error(`expected ${envelope.tx.type} ${envelope.tx.seq} accepted, got ${JSON.stringify(applied.outcome)}`)
  return applied.write
}

function recordedWrite(applied: Applied): TransactionWrite {
  if (applied.kind !== 'recorded') throw new Error(`expected a recorded write, got ${applied.kind}`)
  return applied.write
}

/** An accepted write with other postings than its decision's. */
function withPostings(write: TransactionWrite, postings: PostingRecord[]): TransactionWrite {
  if (write.decision.status !== 'accepted') throw new Error('expected an accepted write')
  return { ...write, decision: { ...write.decision, postings } }
}

const balance = (w: World, account: string) => w.store.account(account)?.balance

/** Everything a test can see of the store without knowing ids. */
function snapshot(w: World) {
  const { store } = w
  return {
    accounts: [...SETUP_ACCOUNTS.map(([id]) => id), accountIds.customer(UID.dave), accountIds.clearing('stripe'), accountIds.donation()].map((id) => [id, store.account(id)]),
    cursors: STORE_CONTRACT_FIXTURE.kiosks.map((k) => store.cursor(k.id)),
    stats: store.stats(),
    sum: store.sumOfAllBalances(),
    deposits: store.depositAccounts(),
    shifts: STORE_CONTRACT_FIXTURE.kiosks.map((k) => store.openShift(k.id)),
    busy: store.registerBusy('drawer-1'),
    offline: STORE_CONTRACT_FIXTURE.kiosks.map((k) => store.offlineSpent(k.id, 0, UID.alice)),
    invariants: store.checkInvariants(),
  }
}

function externalBooking(ref: string, postings: readonly PostingRecord[], more: Partial<StoredExternalBooking> = {}): StoredExternalBooking {
  const amount = postings.reduce((s, p) => (p.amount > 0 ? s + p.amount : s), 0)
  return {
    id: randomUUID(),
    ref,
    kind: 'topup_online',
    amount,
    customer: null,
    meta: JSON.stringify({ provider: 'stripe' }),
    contentHash: createHash('sha256').update(JSON.stringify(postings)).digest('hex'),
    receiptId: randomUUID(),
    bookedAt: NOW_MS,
    ...more,
  }
}

const stripeTopUp = (w: World, ref: string, uid: string, cents: number) => {
  const postings = [
    { account: accountIds.clearing('stripe'), amount: -cents },
    { account: accountIds.customer(uid), amount: cents },
  ]
  const booking = externalBooking(ref, postings)
  w.store.batch(() => {
    w.store.ensureAccount(accountIds.clearing('stripe'), 'clearing', 'stripe')
    w.store.commitExternal(booking, postings)
  })
  return { booking, postings }
}

const PAYMENT = { terminalId: '52500038', receiptNumber: '0042', traceNumber: '000123' }

/** Runs the contract against stores made by `makeStore`, each subtest on a fresh one. */
export function storeContract(t: Test, name: string, makeStore: () => StoreUnderTest): void {
  const test = (title: string, fn: (t: Test) => void | Promise<void>): void => {
    // async: a subtest ends when its function returns, without a t.end() in each
    void t.test(`${name}: ${title}`, async (t) => fn(t))
  }

  test('accounts and balances follow top-ups and sales', (t) => {
    const w = makeWorld(t, makeStore)
    t.same(w.store.cursor('bar-1'), { nextSeq: 1, lastHash: GENESIS_HASH }, 'a kiosk starts at genesis')
    book(w, w.bar.topup(UID.alice, 5_000))
    const sale = book(w, w.bar.sale(UID.alice, [{ ...beer, qty: 2 }]))
    t.equal(sale.decision.status === 'accepted' && sale.decision.balanceAfter, 4_100)
    t.strictSame(w.store.account(accountIds.customer(UID.alice)), { kind: 'customer', balance: 4_100 })
    t.strictSame(w.store.account(accountIds.revenue('bar')), { kind: 'revenue', balance: 900 })
    t.strictSame(w.store.account(accountIds.cash('bar-1')), { kind: 'cash', balance: -5_000 })
    t.equal(w.store.sumOfAllBalances(), 0)
    t.equal(w.store.account('customer:04000000000000'), undefined, 'no such account')
    t.strictSame(w.store.cursor('bar-1'), { nextSeq: 3, lastHash: w.bar.lastHash }, 'the cursor moved past both')
    w.store.batch(() => w.store.ensureAccount(accountIds.customer(UID.alice), 'revenue', 'other'))
    t.strictSame(w.store.account(accountIds.customer(UID.alice)), { kind: 'customer', balance: 4_100 }, 'ensureAccount keeps an existing account as it is')
    w.store.batch(() => w.store.ensureAccount(accountIds.payout(), 'payout', 'bank'))
    t.strictSame(w.store.account(accountIds.payout()), { kind: 'payout', balance: 0 }, 'a new account starts at 0')
  })

  test('a kiosk cursor starts at genesis with ensureKiosk and is never reset by it', (t) => {
    const { store, close } = makeStore()
    t.teardown(close)
    t.equal(store.cursor('ghost-1'), undefined, 'no cursor for a kiosk the store does not know')
    store.batch(() => store.ensureKiosk('bar-1'))
    t.strictSame(store.cursor('bar-1'), { nextSeq: 1, lastHash: GENESIS_HASH })
    const w = makeWorld(t, () => ({ store, close: () => {} }))
    book(w, w.bar.topup(UID.alice, 1_000))
    store.batch(() => store.ensureKiosk('bar-1'))
    t.strictSame(store.cursor('bar-1'), { nextSeq: 2, lastHash: w.bar.lastHash })
  })

  test('a replay answers the first answer again and writes nothing', (t) => {
    const w = makeWorld(t, makeStore)
    book(w, w.bar.topup(UID.alice, 1_000))
    const sale = w.bar.sale(UID.bob, [beer])
    const first = w.apply(sale)
    t.equal(first.kind, 'recorded')
    t.match(resultOf(first), { status: 'accepted', balance: 0, charged: 0, vouchersUsed: 1, vouchers: 1 }, 'a voucher paid for the beer')
    const refused = w.bar.sale(UID.carol, [beer])
    const firstRefusal = w.apply(refused)
    t.match(resultOf(firstRefusal), { status: 'rejected', reason: 'insufficient_balance', balance: 0 })
    t.strictSame(w.store.recorded(sale.tx.id), {
      id: sale.tx.id,
      kiosk: 'bar-1',
      seq: 2,
      status: 'accepted',
      reason: null,
      balanceAfter: 0,
      resultExtras: JSON.stringify({ charged: 0, vouchersUsed: 1, vouchers: 1 }),
      hash: envelopeHash(sale),
    })
    t.equal(w.store.recorded(randomUUID()), undefined)
    const before = snapshot(w)
    for (const [envelope, answer] of [
      [sale, first],
      [refused, firstRefusal],
    ] as const) {
      const again = w.apply(envelope)
      t.equal(again.kind, 'replay')
      t.strictSame(resultOf(again), resultOf(answer), `${envelope.tx.seq} is answered as the first time`)
    }
    t.strictSame(snapshot(w), before, 'nothing changed')
  })

  test('a seq conflict and a gap write nothing', (t) => {
    const w = makeWorld(t, makeStore)
    book(w, w.bar.topup(UID.alice, 1_000))
    const before = snapshot(w)
    const conflict = w.bar.sign({ ...w.bar.history[0]!.tx, id: randomUUID(), amount: 2_000 })
    t.match(resultOf(w.apply(conflict)), { status: 'rejected', reason: 'seq_conflict' })
    const second = w.bar.sale(UID.alice, [beer])
    const third = w.bar.sale(UID.alice, [water])
    const gap = w.apply(third)
    t.strictSame([gap.kind, gap.outcome], ['gap', { kind: 'gap', kioskId: 'bar-1', fromSeq: 2 }])
    t.strictSame(snapshot(w), before, 'nothing changed')
    t.equal(w.store.recorded(conflict.tx.id), undefined)
    t.equal(w.store.recorded(third.tx.id), undefined)
    t.equal(w.apply(second).kind, 'recorded')
    t.equal(w.apply(third).kind, 'recorded', 'the gap filled, the chain goes on')
    t.equal(balance(w, accountIds.customer(UID.alice)), 350)
  })

  test('a batch that throws leaves the store exactly as before', (t) => {
    const w = makeWorld(t, makeStore)
    book(w, w.bar.topup(UID.alice, 5_000))
    book(w, w.bar.topup(UID.carol, 100))
    const before = snapshot(w)
    const sale = w.bar.sale(UID.alice, [beer, cup])
    const debt = w.bar.sale(UID.carol, [beer], { offline: true })
    const open = w.desk.next({ type: 'shift_open', uid: UID.cashier, amount: 1_000 }, { register: 'drawer-1' })
    const topUp = w.desk.topup(UID.alice, 500)
    let external: StoredExternalBooking | undefined
    t.throws(
      () =>
        w.store.batch(() => {
          for (const envelope of [sale, debt, open, topUp]) t.equal(w.apply(envelope).kind, 'recorded')
          external = stripeTopUp(w, 'stripe:pi_rolled_back', UID.alice, 700).booking
          w.store.ensureAccount(accountIds.donation(), 'donation', 'event')
          w.store.batch(() => w.store.ensureAccount(accountIds.payout(), 'payout', 'bank'))
          t.equal(balance(w, accountIds.customer(UID.carol)), -350, 'inside the batch its writes are read')
          throw new Error('power cut')
        }),
      /power cut/,
    )
    t.strictSame(snapshot(w), before, 'balances, cursors, shifts, offline counts, stats as before')
    for (const envelope of [sale, debt, open, topUp]) {
      t.equal(w.store.recorded(envelope.tx.id), undefined)
      t.equal(w.store.transaction(envelope.tx.id), undefined)
      t.strictSame(w.store.postingsOf(envelope.tx.id), [])
    }
    t.equal(w.store.cancelTarget(sale.tx.id), undefined)
    t.equal(w.store.account(accountIds.donation()), undefined, 'the account opened in the batch is gone')
    t.equal(w.store.account(accountIds.payout()), undefined, 'so is the one of the nested batch')
    t.equal(w.store.isExternalBooking(external!.id), false)
    t.equal(w.store.externalBookingByRef('stripe:pi_rolled_back'), undefined)
    t.strictSame(w.store.checkInvariants(), [])
    for (const envelope of [sale, debt, open, topUp]) t.equal(w.apply(envelope).kind, 'recorded', `seq ${envelope.tx.seq} books again`)
    t.equal(balance(w, accountIds.customer(UID.carol)), -350)
    t.strictSame(w.store.checkInvariants(), [])
  })

  test('commitTransaction refuses a wrong seq, a recorded id and a kiosk without a cursor', (t) => {
    const w = makeWorld(t, makeStore)
    book(w, w.bar.topup(UID.alice, 1_000))
    const before = snapshot(w)
    const write = recordedWrite(w.decide(w.bar.sale(UID.alice, [beer])))
    const firstId = w.bar.history[0]!.tx.id
    const first = w.store.recorded(firstId)
    const tryCommit = (bad: TransactionWrite, what: string) => {
      t.throws(() => w.store.batch(() => w.store.commitTransaction(bad)), what)
      t.strictSame(snapshot(w), before, `${what}: nothing written`)
      t.equal(w.store.recorded(write.row.id), undefined)
      t.strictSame(w.store.recorded(firstId), first)
    }
    tryCommit({ ...write, row: { ...write.row, seq: 3 } }, 'a seq ahead of the cursor')
    tryCommit({ ...write, row: { ...write.row, seq: 1 } }, 'a seq behind the cursor')
    tryCommit({ ...write, row: { ...write.row, kiosk: 'ghost-1' } }, 'a kiosk without a cursor')
    tryCommit({ ...write, tx: { ...write.tx, id: firstId }, row: { ...write.row, id: firstId } }, 'an id recorded before')
    w.store.batch(() => w.store.commitTransaction(write))
    t.equal(w.store.recorded(write.row.id)?.status, 'accepted')
    t.throws(() => w.store.batch(() => w.store.commitTransaction(write)), 'the same write twice')
    t.equal(balance(w, accountIds.customer(UID.alice)), 550, 'booked once')
    t.strictSame(w.store.cursor('bar-1'), { nextSeq: 3, lastHash: envelopeHash(w.bar.history[1]!) })
  })

  test('a card payment is booked once: its reference is held by the accepted top-up only', (t) => {
    const w = makeWorld(t, makeStore)
    const ref = cardPaymentRef(PAYMENT)
    const other = { ...PAYMENT, traceNumber: '000999' }
    const refused = w.apply(w.bar.next({ type: 'topup_card', uid: UID.stranger, amount: 2_000 }, { payment: other }))
    t.match(resultOf(refused), { status: 'rejected', reason: 'unknown_tag' })
    t.equal(w.store.cardPaymentBooked(cardPaymentRef(other)), false, 'a refused top-up holds no reference')
    t.equal(w.store.cardPaymentBooked(ref), false)
    book(w, w.bar.next({ type: 'topup_card', uid: UID.alice, amount: 2_000 }, { payment: PAYMENT }))
    t.equal(w.store.cardPaymentBooked(ref), true)
    t.equal(balance(w, accountIds.clearing(CARD_TERMINAL_CLEARING)), -2_000)
    t.match(resultOf(w.apply(w.bar.next({ type: 'topup_card', uid: UID.alice, amount: 2_000 }, { payment: PAYMENT }))), {
      status: 'rejected',
      reason: 'duplicate_payment',
    })
    // A decision that did not see the first booking (as if the check were missing): the store refuses all the same.
    const blind = recordedWrite(w.decide(w.bar.next({ type: 'topup_card', uid: UID.alice, amount: 2_000 }, { payment: PAYMENT }), { facts: { cardPaymentBooked: () => false } }))
    t.equal(blind.row.paymentRef, ref)
    const before = snapshot(w)
    t.throws(() => w.store.batch(() => w.commit(blind)))
    t.strictSame(snapshot(w), before, 'nothing written')
    t.equal(balance(w, accountIds.customer(UID.alice)), 2_000)
  })

  test('a cancel marks its target, and cancelTarget says so', (t) => {
    const w = makeWorld(t, makeStore)
    book(w, w.bar.topup(UID.alice, 5_000))
    const first = w.bar.sale(UID.alice, [beer])
    book(w, first)
    t.strictSame(w.store.cancelTarget(first.tx.id), {
      id: first.tx.id,
      kiosk: 'bar-1',
      type: 'sale',
      tag: UID.alice,
      amount: 450,
      at: first.tx.at,
      status: 'accepted',
      cancelled: false,
      isLast: true,
      postings: [
        { account: accountIds.customer(UID.alice), amount: -450 },
        { account: accountIds.revenue('bar'), amount: 450 },
      ],
      vouchersUsed: 0,
    })
    const second = w.bar.sale(UID.alice, [water])
    book(w, second)
    t.equal(w.store.cancelTarget(first.tx.id)?.isLast, false, 'a later sale is the last now')
    t.equal(w.store.cancelTarget(second.tx.id)?.isLast, true)
    const refused = w.bar.sale(UID.stranger, [beer])
    t.match(resultOf(w.apply(refused)), { status: 'rejected', reason: 'unknown_tag' })
    book(w, w.bar.topup(UID.alice, 100))
    t.equal(w.store.cancelTarget(second.tx.id)?.isLast, true, 'a refused sale and a top-up do not count')
    t.match(w.store.cancelTarget(refused.tx.id), { status: 'rejected', cancelled: false, isLast: false, postings: [] })
    t.equal(w.store.cancelTarget(randomUUID()), undefined)

    const cancel = w.bar.next({ type: 'cancel', uid: UID.alice, amount: 200 }, { ref: second.tx.id })
    book(w, cancel)
    t.equal(w.store.cancelTarget(second.tx.id)?.cancelled, true)
    t.equal(w.store.cancelTarget(first.tx.id)?.cancelled, false, 'only the target is marked')
    t.equal(balance(w, accountIds.customer(UID.alice)), 5_000 - 450 + 100)
    const again = w.bar.next({ type: 'cancel', uid: UID.alice, amount: 200 }, { ref: second.tx.id })
    t.match(resultOf(w.apply(again)), { status: 'rejected', reason: 'cancel_not_allowed' }, 'a sale is cancelled once')

    const voucherSale = w.bar.sale(UID.bob, [beer])
    book(w, voucherSale)
    t.equal(w.store.cancelTarget(voucherSale.tx.id)?.vouchersUsed, 1, 'the vouchers it used, from its answer')
  })

  test('a shift opens and closes: openShift and registerBusy follow it', (t) => {
    const w = makeWorld(t, makeStore)
    t.equal(w.store.openShift('desk-1'), undefined)
    t.equal(w.store.registerBusy('drawer-1'), false)
    t.match(resultOf(w.apply(w.desk.topup(UID.alice, 500))), { status: 'rejected', reason: 'no_open_shift' })
    const open = w.desk.next({ type: 'shift_open', uid: UID.cashier, amount: 10_000 }, { register: 'drawer-1' })
    book(w, open)
    t.strictSame(w.store.openShift('desk-1'), { id: open.tx.id, register: 'drawer-1' })
    t.equal(w.store.openShift('bar-1'), undefined, 'at that kiosk only')
    t.equal(w.store.registerBusy('drawer-1'), true)
    t.equal(w.store.registerBusy('drawer-2'), false)
    t.equal(balance(w, accountIds.register('drawer-1')), -10_000)
    t.equal(balance(w, accountIds.vault()), 10_000)
    t.match(resultOf(w.apply(w.desk.next({ type: 'shift_open', uid: UID.cashier, amount: 0 }, { register: 'drawer-1' }))), {
      status: 'rejected',
      reason: 'shift_already_open',
    })
    book(w, w.desk.topup(UID.alice, 3_000))
    t.equal(balance(w, accountIds.register('drawer-1')), -13_000, 'cash goes through the drawer')
    const close = book(w, w.desk.next({ type: 'shift_close', uid: UID.cashier, amount: 12_900 }, { register: 'drawer-1' }))
    t.match(close.decision, { status: 'accepted', extras: { expected: 13_000, difference: -100 } })
    t.equal(w.store.openShift('desk-1'), undefined, 'closed')
    t.equal(w.store.registerBusy('drawer-1'), false)
    t.equal(balance(w, accountIds.register('drawer-1')), 0)
    t.equal(balance(w, accountIds.imbalance()), -100)
    t.equal(w.store.stats().cashByRegister['drawer-1'], 0)
    const reopen = w.desk.next({ type: 'shift_open', uid: UID.cashier, amount: 0 }, { register: 'drawer-1' })
    book(w, reopen)
    t.strictSame(w.store.openShift('desk-1'), { id: reopen.tx.id, register: 'drawer-1' }, 'a new shift, named by its transaction')
    t.strictSame(w.store.checkInvariants(), [])
  })

  test('an offline sale below zero is a debt, and the debt moves with a tag switch', (t) => {
    const w = makeWorld(t, makeStore)
    book(w, w.bar.topup(UID.carol, 100))
    const sale = book(w, w.bar.sale(UID.carol, [beer], { offline: true }))
    t.match(sale.decision, { status: 'accepted', balanceAfter: -350, effects: [{ kind: 'debt', uid: UID.carol, shortfall: 350 }] })
    t.equal(balance(w, accountIds.customer(UID.carol)), -350)
    t.strictSame(w.store.checkInvariants(), [], 'the debt allows the negative balance')
    t.strictSame(w.store.stats().openDebts, { count: 1, cents: 350 })
    const sealedPin = 'sealed-pin-for-the-test'
    const change = book(w, w.bar.next({ type: 'tag_switch', uid: UID.dave, amount: 0 }, { sealedPin }), { pin: CAROL_PIN })
    t.match(change.decision, { status: 'accepted', balanceAfter: -350 })
    t.equal(balance(w, accountIds.customer(UID.carol)), 0)
    t.equal(balance(w, accountIds.customer(UID.dave)), -350)
    t.strictSame(w.store.checkInvariants(), [], 'the debt went to the new wristband')
    t.strictSame(w.store.stats().openDebts, { count: 1, cents: 350 })
  })

  test('external bookings: committed with their postings, found by id and by ref, a ref once', (t) => {
    const w = makeWorld(t, makeStore)
    const { booking, postings } = stripeTopUp(w, 'stripe:pi_1', UID.alice, 2_000)
    t.equal(w.store.isExternalBooking(booking.id), true)
    t.equal(w.store.isExternalBooking(randomUUID()), false)
    t.strictSame(w.store.externalBooking(booking.id), booking)
    t.strictSame(w.store.externalBookingByRef('stripe:pi_1'), booking)
    t.equal(w.store.externalBookingByRef('stripe:pi_2'), undefined)
    t.equal(w.store.externalBooking(randomUUID()), undefined)
    t.strictSame(w.store.postingsOf(booking.id), postings)
    t.equal(balance(w, accountIds.customer(UID.alice)), 2_000)
    t.equal(w.store.stats().externalBookings, 1)
    t.strictSame(w.store.checkInvariants(), [])

    const before = snapshot(w)
    const again = externalBooking('stripe:pi_1', postings)
    t.throws(() => w.store.batch(() => w.store.commitExternal(again, postings)), 'a ref is booked once')
    const unknown = [
      { account: accountIds.clearing('stripe'), amount: -500 },
      { account: accountIds.customer(UID.stranger), amount: 500 },
    ]
    const toNowhere = externalBooking('stripe:pi_3', unknown)
    t.throws(() => w.store.batch(() => w.store.commitExternal(toNowhere, unknown)), 'postings to an unknown account')
    t.strictSame(snapshot(w), before, 'nothing written')
    t.equal(w.store.isExternalBooking(again.id), false)
    t.equal(w.store.isExternalBooking(toNowhere.id), false)
    t.strictSame(w.store.externalBookingByRef('stripe:pi_1'), booking, 'the ref still names the first')

    const sameId = w.bar.next({ type: 'topup_cash', uid: UID.alice, amount: 100, id: booking.id })
    t.match(resultOf(w.apply(sameId)), { status: 'rejected', reason: 'invalid_transaction' }, "an external booking's id is no kiosk's")
    t.strictSame(w.store.cursor('bar-1'), { nextSeq: 1, lastHash: GENESIS_HASH })
  })

  test('offlineSpent counts accepted offline sales of a kiosk booked after a time', (t) => {
    const w = makeWorld(t, makeStore)
    book(w, w.bar.topup(UID.alice, 5_000))
    book(w, w.bar.sale(UID.alice, [beer], { offline: true }), { now: NOW_MS + 10 })
    book(w, w.bar.sale(UID.alice, [water], { offline: true }), { now: NOW_MS + 20 })
    book(w, w.bar.sale(UID.carol, [water], { offline: true }), { now: NOW_MS + 30 })
    book(w, w.bar.sale(UID.alice, [beer]), { now: NOW_MS + 40 })
    t.match(resultOf(w.apply(w.bar.sale(UID.stranger, [beer], { offline: true }), { now: NOW_MS + 50 })), { status: 'rejected' })
    book(w, w.desk.sale(UID.alice, [snack], { offline: true }), { now: NOW_MS + 60 })
    t.strictSame(w.store.offlineSpent('bar-1', NOW_MS, UID.alice), { tagCents: 650, kioskCents: 850 }, 'online and refused sales do not count')
    t.strictSame(w.store.offlineSpent('bar-1', NOW_MS + 10, UID.alice), { tagCents: 200, kioskCents: 400 }, 'booked after the time, not at it')
    t.strictSame(w.store.offlineSpent('bar-1', NOW_MS + 30, UID.alice), { tagCents: 0, kioskCents: 0 })
    t.strictSame(w.store.offlineSpent('bar-1', NOW_MS, UID.bob), { tagCents: 0, kioskCents: 850 })
    t.strictSame(w.store.offlineSpent('desk-1', NOW_MS, UID.alice), { tagCents: 300, kioskCents: 300 }, 'per kiosk')
    t.strictSame(w.store.offlineSpent('ghost-1', 0, UID.alice), { tagCents: 0, kioskCents: 0 })
  })

  test('depositAccounts lists every deposit account by id with its balance', (t) => {
    const w = makeWorld(t, makeStore)
    t.strictSame(w.store.depositAccounts(), [
      { account: accountIds.deposit('bar'), balance: 0 },
      { account: accountIds.deposit('desk'), balance: 0 },
    ])
    w.store.batch(() => w.store.ensureAccount(accountIds.deposit('aaa'), 'deposit', 'aaa'))
    book(w, w.bar.topup(UID.alice, 1_000))
    book(w, w.bar.sale(UID.alice, [beer, { ...cup, qty: 2 }]))
    t.strictSame(w.store.depositAccounts(), [
      { account: accountIds.deposit('aaa'), balance: 0 },
      { account: accountIds.deposit('bar'), balance: 200 },
      { account: accountIds.deposit('desk'), balance: 0 },
    ])
    book(w, w.bar.next({ type: 'return', uid: UID.alice, lines: [{ ...cup, qty: -1 }], amount: 100 }))
    t.equal(w.store.depositAccounts()[1]?.balance, 100, 'a cup came back')
    t.equal(balance(w, accountIds.customer(UID.alice)), 1_000 - 650 + 100)
  })

  test('stats counts transactions by status and reason, and money per booth, kiosk and register', (t) => {
    const w = makeWorld(t, makeStore)
    book(w, w.bar.topup(UID.alice, 5_000))
    book(w, w.bar.sale(UID.alice, [beer]))
    book(w, w.desk.sale(UID.alice, [snack]))
    book(w, w.bar.sale(UID.alice, [beer, cup]))
    w.apply(w.bar.sale(UID.carol, [beer]))
    w.apply(w.bar.sale(UID.stranger, [beer]))
    w.apply(w.desk.sale(UID.stranger, [snack]))
    book(w, w.desk.next({ type: 'shift_open', uid: UID.cashier, amount: 1_000 }, { register: 'drawer-1' }))
    book(w, w.desk.topup(UID.bob, 500))
    stripeTopUp(w, 'stripe:pi_1', UID.alice, 1_000)
    t.strictSame(w.store.stats(), {
      accepted: 6,
      rejected: 3,
      rejectedByReason: { insufficient_balance: 1, unknown_tag: 2 },
      revenueByBooth: { bar: 900, desk: 300 },
      cashByKiosk: { 'bar-1': 5_000, 'desk-1': -0 },
      cashByRegister: { 'drawer-1': 1_500 },
      depositsByBooth: { bar: 100, desk: 0 },
      openDebts: { count: 0, cents: 0 },
      customerBalances: 4_700 + 500,
      balancesByKind: { customer: 5_200, revenue: 1_200, cash: -5_000, deposit: 100, voucher: 0, vault: 1_000, imbalance: 0, register: -1_500, clearing: -1_000 },
      externalBookings: 1,
    })
  })

  test('transaction(id) is the record with its envelope and postings', (t) => {
    const w = makeWorld(t, makeStore)
    book(w, w.bar.topup(UID.alice, 5_000))
    const sale = w.bar.sale(UID.alice, [beer])
    const write = book(w, sale, { now: NOW_MS + 5 })
    t.strictSame(w.store.transaction(sale.tx.id), {
      id: sale.tx.id,
      kiosk: 'bar-1',
      seq: 2,
      type: 'sale',
      tag: UID.alice,
      amount: 450,
      status: 'accepted',
      hash: envelopeHash(sale),
      envelope: sale,
      bookedAt: NOW_MS + 5,
      booth: 'bar',
      postings: [
        { account: accountIds.customer(UID.alice), amount: -450 },
        { account: accountIds.revenue('bar'), amount: 450 },
      ],
      receiptId: write.row.receiptId,
      balanceAfter: 4_550,
    })
    const refused = w.bar.sale(UID.carol, [beer])
    w.apply(refused)
    t.strictSame(w.store.transaction(refused.tx.id), {
      id: refused.tx.id,
      kiosk: 'bar-1',
      seq: 3,
      type: 'sale',
      tag: UID.carol,
      amount: 450,
      status: 'rejected',
      hash: envelopeHash(refused),
      envelope: refused,
      bookedAt: NOW_MS,
      booth: 'bar',
      postings: [],
      reason: 'insufficient_balance',
      balanceAfter: 0,
    })
    t.equal(w.store.transaction(randomUUID()), undefined)
  })

  test('checkInvariants is empty after a mixed run and names what breaks them', (t) => {
    const w = makeWorld(t, makeStore)
    book(w, w.bar.topup(UID.alice, 5_000))
    book(w, w.bar.topup(UID.carol, 100))
    book(w, w.bar.sale(UID.alice, [beer, { ...cup, qty: 2 }]))
    book(w, w.bar.next({ type: 'return', uid: UID.alice, lines: [{ ...cup, qty: -1 }], amount: 100 }))
    const last = w.bar.sale(UID.alice, [water])
    book(w, last)
    book(w, w.bar.next({ type: 'cancel', uid: UID.alice, amount: 200 }, { ref: last.tx.id }))
    book(w, w.bar.sale(UID.bob, [beer, beer]))
    book(w, w.bar.sale(UID.carol, [beer], { offline: true }))
    book(w, w.bar.next({ type: 'tag_switch', uid: UID.dave, amount: 0 }, { sealedPin: 'sealed-pin-for-the-test' }), { pin: CAROL_PIN })
    book(w, w.bar.next({ type: 'topup_card', uid: UID.alice, amount: 2_000 }, { payment: PAYMENT }))
    w.apply(w.bar.sale(UID.stranger, [beer]))
    book(w, w.desk.next({ type: 'shift_open', uid: UID.cashier, amount: 1_000 }, { register: 'drawer-1' }))
    book(w, w.desk.topup(UID.bob, 700))
    book(w, w.desk.next({ type: 'cashout', uid: UID.alice, amount: 300 }))
    book(w, w.desk.next({ type: 'shift_close', uid: UID.cashier, amount: 1_450 }, { register: 'drawer-1' }))
    stripeTopUp(w, 'stripe:pi_1', UID.bob, 1_000)
    const chainBroken = w.bar.sign({ ...w.bar.next({ type: 'topup_cash', uid: UID.alice, amount: 1 }).tx, prev: 'a'.repeat(64) })
    w.bar.history[w.bar.history.length - 1] = chainBroken
    t.match(resultOf(w.apply(chainBroken)), { status: 'rejected', reason: 'chain_mismatch' })
    t.strictSame(w.store.checkInvariants(), [])
    t.equal(w.store.sumOfAllBalances(), 0)
    t.equal(w.store.cursor('bar-1')?.nextSeq, w.bar.history.length + 1)

    // Writes no honest ledger makes, to see each check speak.
    const topUp = recordedWrite(w.decide(w.bar.topup(UID.alice, 50)))
    const overdrawn = withPostings(topUp, [
      { account: accountIds.customer(UID.bob), amount: -99_999 },
      { account: accountIds.revenue('bar'), amount: 99_999 },
    ])
    w.store.batch(() => w.store.commitTransaction(overdrawn))
    const bobNow = balance(w, accountIds.customer(UID.bob))
    t.strictSame(w.store.checkInvariants(), [`customer account ${accountIds.customer(UID.bob)} is negative (${bobNow})`], 'a negative balance without a debt')
    const negative = `customer account ${accountIds.customer(UID.bob)} is negative (${bobNow})`
    const paidBack = withPostings(recordedWrite(w.decide(w.bar.topup(UID.alice, 10))), [
      { account: accountIds.deposit('desk'), amount: -10 },
      { account: accountIds.revenue('desk'), amount: 10 },
    ])
    w.store.batch(() => w.store.commitTransaction(paidBack))
    const deposits = `deposit account ${accountIds.deposit('desk')} is negative (-10): more deposits paid back than taken`
    t.strictSame(w.store.checkInvariants(), [negative, deposits], 'a deposit account below zero')
    const forged = recordedWrite(w.decide(w.bar.sale(UID.stranger, [beer])))
    w.store.batch(() => w.store.commitTransaction({ ...forged, row: { ...forged.row, hash: 'f'.repeat(64) } }))
    t.strictSame(w.store.checkInvariants(), [negative, deposits, `transaction ${forged.row.id}: stored envelope does not match its hash`], 'an envelope that is not what its hash says')
  })

  test('commitTransaction refuses accepted postings that do not sum to 0', (t) => {
    const w = makeWorld(t, makeStore)
    const before = snapshot(w)
    const topUp = recordedWrite(w.decide(w.bar.topup(UID.alice, 50)))
    const unbalanced = withPostings(topUp, [{ account: accountIds.customer(UID.alice), amount: 50 }])
    t.throws(() => w.store.batch(() => w.store.commitTransaction(unbalanced)))
    t.strictSame(snapshot(w), before, 'nothing written')
    t.equal(w.store.recorded(topUp.row.id), undefined)
  })

  test('commitTransaction refuses a posting to an account that does not exist', (t) => {
    const w = makeWorld(t, makeStore)
    const before = snapshot(w)
    const topUp = recordedWrite(w.decide(w.bar.topup(UID.alice, 50)))
    const toNowhere = withPostings(topUp, [
      { account: 'customer:04000000000000', amount: 50 },
      { account: accountIds.cash('bar-1'), amount: -50 },
    ])
    t.throws(() => w.store.batch(() => w.store.commitTransaction(toNowhere)))
    t.strictSame(snapshot(w), before, 'nothing written')
    t.equal(w.store.recorded(topUp.row.id), undefined)
    t.equal(w.store.account('customer:04000000000000'), undefined)
  })

  test('checkInvariants names an external booking that does not balance or move its amount', (t) => {
    const w = makeWorld(t, makeStore)
    const oneSided = [{ account: accountIds.customer(UID.alice), amount: 500 }]
    const booking = externalBooking('stripe:pi_one_sided', oneSided, { amount: 700 })
    w.store.batch(() => w.store.commitExternal(booking, oneSided))
    t.strictSame(w.store.checkInvariants(), [
      `postings of ${booking.id} sum to 500, not 0`,
      'sum of all balances is 500, not 0',
      `external booking ${booking.id} has 1 postings moving 500, recorded amount 700`,
    ])
  })

  test("customerOrders and receipt: a wristband's accepted orders newest first, and one order by its receipt id", (t) => {
    const w = makeWorld(t, makeStore)
    const topUp = book(w, w.bar.topup(UID.alice, 5_000))
    const sale = book(w, w.bar.sale(UID.alice, [{ ...beer, qty: 2 }]), { now: NOW_MS + 10 })
    t.match(resultOf(w.apply(w.bar.sale(UID.carol, [beer]))), { status: 'rejected' })
    const orders = w.store.customerOrders(UID.alice)
    t.strictSame(
      orders.map((o) => [o.kind, o.amount, o.receiptId, o.bookedAt]),
      [
        ['sale', 900, sale.row.receiptId, NOW_MS + 10],
        ['topup_cash', 5_000, topUp.row.receiptId, NOW_MS],
      ],
    )
    t.strictSame(orders[0]!.lines, [{ product: 'beer', name: 'beer', qty: 2, unitPrice: 450, taxRate: 1900 }], 'lines as booked, with their tax rate')
    t.strictSame(w.store.customerOrders(UID.carol), [], 'a refused sale is no order')
    t.match(w.store.receipt(sale.row.receiptId!), { id: sale.row.id, receiptId: sale.row.receiptId, customerUid: UID.alice, kind: 'sale', amount: 900, kiosk: 'bar-1', booth: 'bar' })
    t.equal(w.store.receipt(randomUUID()), undefined)
    t.equal(w.store.receipt('not-a-receipt-id'), undefined)
  })

  test('a nested batch that throws undoes its own writes only, like a savepoint', (t) => {
    const { store, close } = makeStore()
    t.teardown(close)
    store.batch(() => {
      store.ensureAccount(accountIds.vault(), 'vault', 'event')
      t.throws(() =>
        store.batch(() => {
          store.ensureAccount(accountIds.payout(), 'payout', 'bank')
          throw new Error('inner')
        }),
      )
      t.equal(store.account(accountIds.payout()), undefined, 'the inner batch is undone at once')
    })
    t.strictSame(store.account(accountIds.vault()), { kind: 'vault', balance: 0 }, 'the outer batch kept its write')
  })

  test('a batch is synchronous: one whose function returns a promise is refused and undone', (t) => {
    const { store, close } = makeStore()
    t.teardown(close)
    t.throws(() => store.batch(() => (store.ensureAccount(accountIds.vault(), 'vault', 'event'), Promise.resolve())))
    t.equal(store.account(accountIds.vault()), undefined)
  })

  test('ensureAccount refuses a kind outside the ledger schema', (t) => {
    const { store, close } = makeStore()
    t.teardown(close)
    t.throws(() => store.batch(() => store.ensureAccount('bogus:1', 'bogus' as AccountKind, '1')))
    t.equal(store.account('bogus:1'), undefined)
  })
}
