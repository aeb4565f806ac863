// Table tests of the ledger core (core.ts) without any database: every result
// code the ledger can answer has a case, built from plain facts, in the style
// of TigerBeetle's state machine tests. The ledger and store tests check the
// same codes end to end; these pin down the core's own order of checks.
import t from 'tap'
import { GENESIS_HASH, REJECT_REASONS, envelopeHash, type Envelope, type RejectReason, type Transaction } from '../../device-protocol/index.js'
import { applyEnvelope, type Applied, type ApplyInput, type KioskState, type LedgerFacts, type RecordedTransaction } from './core.js'
import type { ProductFacts, ProfileFacts, WristbandFacts } from './rules.js'
import { SigningKiosk, productFacts } from './testing/test-helpers.js'
import { accountIds } from './types.js'

const GUEST = '04A1B2C3D4E5F6'
const NEW_BAND = '04F0F0F0F0F001'
const STAFF = '0A000001'
const AT = 1_750_000_000_000

const FULL_PROFILE: ProfileFacts = {
  sale: true,
  topupCash: true,
  topupCard: true,
  cashout: true,
  ticketSale: true,
  tagSwitch: true,
  cashRegister: false,
  cancelWindowMs: 60_000,
}

const product = productFacts

const PRODUCTS: Record<string, ProductFacts> = {
  beer: product('beer', 450, { restrictions: ['under18'] }),
  cup: product('cup', 200, { kind: 'deposit' }),
  day: product('day', 5000, { kind: 'ticket', ticketVariant: 'adult' }),
}

interface World {
  kiosk: SigningKiosk
  facts: LedgerFacts
  state: { kiosk: KioskState | undefined; bands: Map<string, WristbandFacts> }
}

/** Facts of one kiosk at a bar selling beer and cups, with one guest holding 1000 cents; `over` replaces any fact. */
function world(over: Partial<LedgerFacts> = {}, profile: Partial<ProfileFacts> = {}): World {
  const kiosk = new SigningKiosk('bar-1', undefined, AT)
  const state: World['state'] = {
    kiosk: { id: 'bar-1', booth: 'bar', profile: { ...FULL_PROFILE, ...profile }, nextSeq: 1, lastHash: GENESIS_HASH },
    bands: new Map([[GUEST, { blocked: false, balance: 1000, vouchers: 0, variant: null }]]),
  }
  const facts: LedgerFacts = {
    isExternalBooking: () => false,
    recorded: () => undefined,
    kiosk: (id) => (id === state.kiosk?.id ? state.kiosk : undefined),
    checkTag: () => ({ ok: true }),
    timeLimits: () => ({ maxAheadMs: 60_000, maxBehindMs: 3_600_000 }),
    offlineRules: () => ({ allowed: true, perTagCapCents: 2000, kioskTotalCapCents: 10_000, capWindowMs: 3_600_000 }),
    offlineSpent: () => ({ tagCents: 0, kioskCents: 0 }),
    depositAccounts: () => [{ account: accountIds.deposit('bar'), balance: 1000 }],
    maxReturnQty: () => 10,
    wristband: (uid) => state.bands.get(uid),
    product: (booth, id) => (booth === 'bar' ? PRODUCTS[id] : undefined),
    cardPaymentBooked: () => false,
    staffRoles: () => undefined,
    openShift: () => undefined,
    registerExists: () => true,
    registerBusy: () => false,
    accountBalance: () => 0,
    cancelTarget: () => undefined,
    wristbandByPin: () => undefined,
    ticketPin: (id) => `PIN-OF-${id.slice(0, 4)}`,
    ...over,
  }
  return { kiosk, facts, state }
}

const input = (envelope: Envelope, over: Partial<ApplyInput> = {}): ApplyInput => ({ envelope, now: envelope.tx.at, newReceiptId: () => 'receipt-1', ...over })

const beer = { product: 'beer', qty: 1, unitPrice: 450 }
const sale = (w: World, override: Partial<Transaction> = {}, lines = [beer]) =>
  w.kiosk.next({ type: 'sale', uid: GUEST, lines, amount: lines.reduce((s, l) => s + l.qty * l.unitPrice, 0) }, override)
const payment = { terminalId: '52500038', receiptNumber: '1001', traceNumber: '000001', maskedPan: '************0119', cardType: 'girocard' }
const SEALED = 'eyJhbGciOiJFQ0RILUVTIn0.sealed-pin-placeholder'

function reasonOf(applied: Applied): RejectReason | 'accepted' | 'gap' | undefined {
  if (applied.outcome.kind === 'gap') return 'gap'
  return applied.outcome.result.status === 'accepted' ? 'accepted' : applied.outcome.result.reason
}

interface Case {
  reason: RejectReason
  /** Recorded (the kiosk's cursor moves) or refused without a trace. */
  recorded: boolean
  run(): Applied
}

const cases: Case[] = [
  {
    reason: 'invalid_transaction',
    recorded: false,
    run: () => {
      const w = world()
      const envelope = sale(w)
      return applyEnvelope(w.facts, input({ ...envelope, tx: { ...envelope.tx, amount: -1.5 } }))
    },
  },
  { reason: 'unknown_kiosk', recorded: false, run: () => { const w = world({ kiosk: () => undefined }); return applyEnvelope(w.facts, input(sale(w))) } },
  {
    reason: 'seq_conflict',
    recorded: false,
    run: () => {
      const w = world()
      w.state.kiosk!.nextSeq = 2
      return applyEnvelope(w.facts, input(sale(w)))
    },
  },
  {
    reason: 'chain_mismatch',
    recorded: true,
    run: () => {
      const w = world()
      w.state.kiosk!.lastHash = 'f'.repeat(64)
      return applyEnvelope(w.facts, input(sale(w)))
    },
  },
  { reason: 'unknown_tag', recorded: true, run: () => { const w = world({ wristband: () => undefined }); return applyEnvelope(w.facts, input(sale(w))) } },
  {
    reason: 'tag_blocked',
    recorded: true,
    run: () => {
      const w = world()
      w.state.bands.get(GUEST)!.blocked = true
      return applyEnvelope(w.facts, input(sale(w)))
    },
  },
  { reason: 'unknown_product', recorded: true, run: () => { const w = world(); return applyEnvelope(w.facts, input(sale(w, {}, [{ product: 'wine', qty: 1, unitPrice: 450 }]))) } },
  { reason: 'price_mismatch', recorded: true, run: () => { const w = world(); return applyEnvelope(w.facts, input(sale(w, {}, [{ product: 'beer', qty: 1, unitPrice: 1 }]))) } },
  { reason: 'amount_mismatch', recorded: true, run: () => { const w = world(); return applyEnvelope(w.facts, input(sale(w, { amount: 449 }))) } },
  {
    reason: 'insufficient_balance',
    recorded: true,
    run: () => {
      const w = world()
      w.state.bands.get(GUEST)!.balance = 100
      return applyEnvelope(w.facts, input(sale(w)))
    },
  },
  { reason: 'topup_not_allowed', recorded: true, run: () => { const w = world({}, { topupCash: false }); return applyEnvelope(w.facts, input(w.kiosk.topup(GUEST, 500))) } },
  { reason: 'sale_not_allowed', recorded: true, run: () => { const w = world({}, { sale: false }); return applyEnvelope(w.facts, input(sale(w))) } },
  { reason: 'tag_not_authentic', recorded: true, run: () => { const w = world({ checkTag: () => ({ ok: false, reason: 'tag_not_authentic' }) }); return applyEnvelope(w.facts, input(sale(w))) } },
  { reason: 'tag_replayed', recorded: true, run: () => { const w = world({ checkTag: () => ({ ok: false, reason: 'tag_replayed' }) }); return applyEnvelope(w.facts, input(sale(w))) } },
  { reason: 'tag_type_not_accepted', recorded: true, run: () => { const w = world({ checkTag: () => ({ ok: false, reason: 'tag_type_not_accepted' }) }); return applyEnvelope(w.facts, input(sale(w))) } },
  {
    reason: 'duplicate_payment',
    recorded: true,
    run: () => {
      const w = world({ cardPaymentBooked: () => true })
      return applyEnvelope(w.facts, input(w.kiosk.next({ type: 'topup_card', uid: GUEST, amount: 500 }, { payment })))
    },
  },
  { reason: 'staff_required', recorded: true, run: () => { const w = world({ staffRoles: () => () => ['cashier'] }); return applyEnvelope(w.facts, input(sale(w))) } },
  { reason: 'staff_not_allowed', recorded: true, run: () => { const w = world({ staffRoles: () => () => ['topup'] }); return applyEnvelope(w.facts, input(sale(w, { staff: STAFF }))) } },
  {
    reason: 'product_restricted',
    recorded: true,
    run: () => {
      const w = world()
      w.state.bands.get(GUEST)!.variant = 'under18'
      return applyEnvelope(w.facts, input(sale(w)))
    },
  },
  {
    reason: 'not_returnable',
    recorded: true,
    run: () => {
      const w = world()
      return applyEnvelope(w.facts, input(w.kiosk.next({ type: 'return', uid: GUEST, lines: [{ product: 'beer', qty: -1, unitPrice: 450 }], amount: 450 })))
    },
  },
  { reason: 'cancel_not_allowed', recorded: true, run: () => { const w = world(); return applyEnvelope(w.facts, input(w.kiosk.next({ type: 'cancel', uid: GUEST, amount: 450 }, { ref: '0190a1b2-0000-7000-8000-000000000001' }))) } },
  { reason: 'cashout_not_allowed', recorded: true, run: () => { const w = world({}, { cashout: false }); return applyEnvelope(w.facts, input(w.kiosk.next({ type: 'cashout', uid: GUEST, amount: 500 }))) } },
  {
    reason: 'ticket_not_allowed',
    recorded: true,
    run: () => {
      const w = world({}, { ticketSale: false })
      return applyEnvelope(w.facts, input(w.kiosk.next({ type: 'ticket', uid: NEW_BAND, lines: [{ product: 'day', qty: 1, unitPrice: 5000 }], amount: 5000 })))
    },
  },
  {
    reason: 'tag_already_registered',
    recorded: true,
    run: () => {
      const w = world()
      return applyEnvelope(w.facts, input(w.kiosk.next({ type: 'ticket', uid: GUEST, lines: [{ product: 'day', qty: 1, unitPrice: 5000 }], amount: 5000 })))
    },
  },
  {
    reason: 'tag_switch_not_allowed',
    recorded: true,
    run: () => {
      const w = world({}, { tagSwitch: false })
      return applyEnvelope(w.facts, input(w.kiosk.next({ type: 'tag_switch', uid: NEW_BAND, amount: 0 }, { sealedPin: SEALED }), { pin: 'ALCE2345AB' }))
    },
  },
  {
    reason: 'wrong_pin',
    recorded: true,
    run: () => {
      const w = world()
      return applyEnvelope(w.facts, input(w.kiosk.next({ type: 'tag_switch', uid: NEW_BAND, amount: 0 }, { sealedPin: SEALED }), { pin: 'WRNG2345AB' }))
    },
  },
  {
    reason: 'pin_attempts_exceeded',
    recorded: true,
    run: () => {
      // The PIN would be right: a refused limiter means it is not even looked at.
      const w = world({ wristbandByPin: () => GUEST })
      return applyEnvelope(w.facts, input(w.kiosk.next({ type: 'tag_switch', uid: NEW_BAND, amount: 0 }, { sealedPin: SEALED }), { pinRefused: true }))
    },
  },
  { reason: 'no_open_shift', recorded: true, run: () => { const w = world({}, { cashRegister: true }); return applyEnvelope(w.facts, input(w.kiosk.topup(GUEST, 500))) } },
  {
    reason: 'shift_already_open',
    recorded: true,
    run: () => {
      const w = world({ openShift: () => ({ id: 'shift-1', register: 'drawer-1' }) }, { cashRegister: true })
      return applyEnvelope(w.facts, input(w.kiosk.next({ type: 'shift_open', uid: GUEST, amount: 10_000 }, { register: 'drawer-1' })))
    },
  },
  {
    reason: 'unknown_register',
    recorded: true,
    run: () => {
      const w = world({ registerExists: () => false }, { cashRegister: true })
      return applyEnvelope(w.facts, input(w.kiosk.next({ type: 'shift_open', uid: GUEST, amount: 10_000 }, { register: 'drawer-9' })))
    },
  },
  {
    reason: 'offline_not_allowed',
    recorded: true,
    run: () => {
      const w = world({ offlineRules: () => ({ allowed: false, perTagCapCents: 0, kioskTotalCapCents: 0, capWindowMs: 3_600_000 }) })
      w.state.bands.get(GUEST)!.balance = 100
      return applyEnvelope(w.facts, input(sale(w, { offline: true })))
    },
  },
  {
    reason: 'offline_limit_exceeded',
    recorded: true,
    run: () => {
      const w = world({ offlineSpent: () => ({ tagCents: 1900, kioskCents: 1900 }) })
      w.state.bands.get(GUEST)!.balance = 100
      return applyEnvelope(w.facts, input(sale(w, { offline: true })))
    },
  },
  {
    reason: 'deposit_not_handed_out',
    recorded: true,
    run: () => {
      const w = world({ depositAccounts: () => [] })
      return applyEnvelope(w.facts, input(w.kiosk.next({ type: 'return', uid: GUEST, lines: [{ product: 'cup', qty: -1, unitPrice: 200 }], amount: 200 })))
    },
  },
  {
    reason: 'return_qty_exceeded',
    recorded: true,
    run: () => {
      const w = world({ maxReturnQty: () => 1 })
      return applyEnvelope(w.facts, input(w.kiosk.next({ type: 'return', uid: GUEST, lines: [{ product: 'cup', qty: -2, unitPrice: 200 }], amount: 400 })))
    },
  },
  { reason: 'timestamp_in_future', recorded: true, run: () => { const w = world(); const e = sale(w); return applyEnvelope(w.facts, input(e, { now: e.tx.at - 120_000 })) } },
  { reason: 'timestamp_too_old', recorded: true, run: () => { const w = world(); const e = sale(w); return applyEnvelope(w.facts, input(e, { now: e.tx.at + 7_200_000 })) } },
  {
    reason: 'in_payout_run',
    recorded: true,
    run: () => {
      const w = world()
      w.state.bands.get(GUEST)!.inPayoutRun = true
      return applyEnvelope(w.facts, input(sale(w)))
    },
  },
]

t.test('every result code the ledger answers has a case, and each case gets exactly its code', async (t) => {
  // bad_signature is ingest's answer: the ledger only ever sees verified envelopes (ingest.test.ts covers it).
  const ledgerCodes = REJECT_REASONS.filter((r) => r !== 'bad_signature')
  t.same([...new Set(cases.map((c) => c.reason))].sort(), [...ledgerCodes].sort(), 'one case per code')
  for (const c of cases) {
    const applied = c.run()
    t.equal(reasonOf(applied), c.reason, c.reason)
    t.equal(applied.kind, c.recorded ? 'recorded' : 'unrecorded', `${c.reason} is ${c.recorded ? 'recorded' : 'not recorded'}`)
    if (applied.kind === 'recorded') {
      t.equal(applied.write.row.status, 'rejected')
      t.equal(applied.write.row.receiptId, null, `${c.reason}: a refusal gets no receipt`)
      t.equal(applied.outcome.kind === 'result' && applied.outcome.booked, false)
    }
  }
})

t.test('an accepted sale: postings that sum to zero, the balance after, a receipt, the row to write', async (t) => {
  const w = world()
  const envelope = sale(w)
  const applied = applyEnvelope(w.facts, input(envelope))
  t.equal(applied.kind, 'recorded')
  if (applied.kind !== 'recorded' || applied.write.decision.status !== 'accepted') throw new Error('not accepted')
  t.same(applied.outcome, { kind: 'result', result: { kind: 'result', id: envelope.tx.id, seq: 1, status: 'accepted', balance: 550 }, booked: true, recorded: true, replay: false })
  t.same(applied.write.decision.postings, [
    { account: accountIds.customer(GUEST), amount: -450 },
    { account: accountIds.revenue('bar'), amount: 450 },
  ])
  t.equal(applied.write.row.hash, envelopeHash(envelope), 'the row carries the envelope hash the chain continues from')
  t.equal(applied.write.row.receiptId, 'receipt-1')
  t.equal(applied.write.row.bookedAt, envelope.tx.at, 'booked at the gateway clock reading that came in')
})

t.test('the order of checks: the id before the kiosk, the sequence before the chain, the chain before the tag, the tag before the rules', async (t) => {
  const w = world({ kiosk: () => undefined, isExternalBooking: () => true })
  t.equal(reasonOf(applyEnvelope(w.facts, input(sale(w)))), 'invalid_transaction', 'an external booking id is refused before the kiosk is looked up')

  let tagChecked = false
  const broken = world({
    checkTag: () => {
      tagChecked = true
      return { ok: false, reason: 'tag_not_authentic' }
    },
  })
  broken.state.kiosk!.lastHash = 'e'.repeat(64)
  t.equal(reasonOf(applyEnvelope(broken.facts, input(sale(broken)))), 'chain_mismatch')
  t.equal(tagChecked, false, 'a broken chain is not tag-checked (no SUN counter is used up)')

  const gap = world({ checkTag: () => ({ ok: false, reason: 'tag_replayed' }) })
  gap.kiosk.next({ type: 'topup_cash', uid: GUEST, amount: 1 })
  const applied = applyEnvelope(gap.facts, input(sale(gap)))
  t.same(applied.outcome, { kind: 'gap', kioskId: 'bar-1', fromSeq: 1 }, 'a future seq is a gap, whatever else is wrong with it')

  const blockedAndRefusedTag = world({ checkTag: () => ({ ok: false, reason: 'tag_type_not_accepted' }) })
  blockedAndRefusedTag.state.bands.get(GUEST)!.blocked = true
  t.equal(reasonOf(applyEnvelope(blockedAndRefusedTag.facts, input(sale(blockedAndRefusedTag)))), 'tag_type_not_accepted', 'the tag before the rules')
})

t.test('a recorded id is answered again with its first outcome; another kiosk using it gets nothing of it', async (t) => {
  const w = world()
  const envelope = sale(w)
  const first: RecordedTransaction = {
    id: envelope.tx.id,
    kiosk: 'bar-1',
    seq: 1,
    status: 'accepted',
    reason: null,
    balanceAfter: 550,
    resultExtras: JSON.stringify({ newPin: true, vouchers: 0 }),
    hash: envelopeHash(envelope),
  }
  const replayWorld = world({ recorded: (id) => (id === envelope.tx.id ? first : undefined) })
  const same = applyEnvelope(replayWorld.facts, input(envelope))
  t.equal(same.kind, 'replay')
  t.same(same.outcome, { kind: 'result', result: { kind: 'result', id: envelope.tx.id, seq: 1, status: 'accepted', balance: 550, vouchers: 0, pin: `PIN-OF-${envelope.tx.id.slice(0, 4)}` }, booked: false, recorded: false, replay: true })
  t.notOk('note' in same && same.note, 'the same content is no news')

  const changed = applyEnvelope(replayWorld.facts, input({ ...envelope, tx: { ...envelope.tx, amount: 900, lines: [{ ...beer, qty: 2 }] } }))
  t.equal(changed.kind, 'replay', 'different content under a recorded id still gets the first answer')
  t.match(changed.kind === 'replay' ? changed.note?.message : '', /different content/)

  const rival = world({ recorded: () => ({ ...first, kiosk: 'food-1' }) })
  const stolen = applyEnvelope(rival.facts, input(sale(rival)))
  t.equal(stolen.kind, 'unrecorded')
  t.equal(reasonOf(stolen), 'invalid_transaction')
  t.notMatch(JSON.stringify(stolen.outcome), /550/, "the other kiosk's answer (a guest's balance) is not handed out")
})

t.test('side effects become alerts and config changes in the outcome', async (t) => {
  const offline = world()
  offline.state.bands.get(GUEST)!.balance = 100
  const debt = applyEnvelope(offline.facts, input(sale(offline, { offline: true })))
  t.same(debt.outcome.kind === 'result' && debt.outcome.alerts?.map((a) => a.kind), ['debt'], 'an offline sale below zero alerts a debt')

  const switched = world({ wristbandByPin: () => GUEST })
  const applied = applyEnvelope(switched.facts, input(switched.kiosk.next({ type: 'tag_switch', uid: NEW_BAND, amount: 0 }, { sealedPin: SEALED }), { pin: 'ALCE2345AB' }))
  t.equal(reasonOf(applied), 'accepted')
  t.equal(applied.outcome.kind === 'result' && applied.outcome.configsChanged, true, 'a tag switch changes the blocklist')

  const future = world()
  const e = sale(future)
  const refused = applyEnvelope(future.facts, input(e, { now: e.tx.at - 120_000 }))
  t.same(refused.outcome.kind === 'result' && refused.outcome.alerts?.map((a) => a.kind), ['timestamp_in_future'], 'a refusal no honest kiosk causes is alerted')
})

t.test('the same facts and input give the same answer (no clock, no randomness inside)', async (t) => {
  const w = world()
  const envelope = sale(w)
  t.same(applyEnvelope(w.facts, input(envelope)), applyEnvelope(w.facts, input(envelope)))
})

t.test('a wristband in a payout run cannot spend: sales, cash-outs and a tag switch from it are refused; top-ups and offline sales are booked', async (t) => {
  const inRun = (over: Partial<LedgerFacts> = {}) => {
    const w = world(over)
    w.state.bands.get(GUEST)!.inPayoutRun = true
    return w
  }
  const cashout = inRun()
  t.equal(reasonOf(applyEnvelope(cashout.facts, input(cashout.kiosk.next({ type: 'cashout', uid: GUEST, amount: 100 })))), 'in_payout_run', 'cash-out')
  const switched = inRun({ wristbandByPin: () => GUEST })
  const switchApplied = applyEnvelope(switched.facts, input(switched.kiosk.next({ type: 'tag_switch', uid: NEW_BAND, amount: 0 }, { sealedPin: SEALED }), { pin: 'ALCE2345AB' }))
  t.equal(reasonOf(switchApplied), 'in_payout_run', 'tag switch moving its balance away')
  const topup = inRun()
  t.equal(reasonOf(applyEnvelope(topup.facts, input(topup.kiosk.next({ type: 'topup_cash', uid: GUEST, amount: 100 })))), 'accepted', 'a top-up spends nothing')
  const offline = inRun()
  const offlineSale = applyEnvelope(offline.facts, input(sale(offline, { offline: true })))
  t.equal(reasonOf(offlineSale), 'accepted', 'offline, the goods are gone: booked')
  t.same(offlineSale.outcome.kind === 'result' && offlineSale.outcome.alerts?.map((a) => a.kind), ['offline_in_payout_run'], 'and alerted')
  const free = world()
  t.equal(reasonOf(applyEnvelope(free.facts, input(sale(free)))), 'accepted', 'a wristband in no run sells as before')
})
