// Property test: random sequences of sales, top-ups, resends, out-of-order
// sends, rival transactions and broken chains, mixed with external bookings
// (online top-ups from a clearing account, prepayments, transfers from prepaid
// money, payouts, their replays and conflicting reuses of a ref), run against
// the ledger and against a small in-memory model of the rules. After every
// step the ledger must agree with the model and keep its invariants.
import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import t from 'tap'
import { GENESIS_HASH, envelopeHash, type Envelope, type Line } from '../../device-protocol/index.js'
import { LedgerRefusalError } from './errors.js'
import { postgresInstalled, startPostgresServer } from '../testing/postgres-server.js'
import { createPgLedgerStore } from './pg-store.js'
import { STORE_KINDS, SigningKiosk, UID, makeWorld, verified, type StoreKind, type TestWorld } from './testing/test-helpers.js'
import { accountIds, type ExternalBookingInput, type Outcome } from './types.js'

const TAGS = [UID.alice, UID.bob, UID.blocked, UID.stranger] as const
const KIOSKS = [
  { key: 'bar', id: 'bar-1', booth: 'bar', sale: true, topup: false },
  { key: 'cash', id: 'cash-1', booth: 'cashdesk', sale: false, topup: true },
  { key: 'food', id: 'food-1', booth: 'food', sale: true, topup: true },
] as const
const CATALOG: Record<string, { id: string; price: number }[]> = {
  bar: [
    { id: 'beer', price: 450 },
    { id: 'water', price: 200 },
  ],
  food: [
    { id: 'fries', price: 350 },
    { id: 'tap-water', price: 0 },
  ],
  cashdesk: [],
}

type Fault = 'none' | 'price' | 'amount' | 'product' | 'chain'
type Action =
  | { t: 'new'; kiosk: number; kind: 'sale' | 'topup' | 'card'; tag: number; fault: Fault; qty: number; product: number; amount: number; hold: boolean; ref?: number }
  | { t: 'resend'; kiosk: number; pick: number }
  | { t: 'sendHeld'; kiosk: number; reverse: boolean }
  | { t: 'recover'; kiosk: number }
  | { t: 'rival'; kiosk: number; pick: number }
  | { t: 'toggleBlock' }
  | { t: 'external'; op: 'topup' | 'prepay' | 'transfer' | 'payout'; tag: number; user: number; amount: number }
  | { t: 'externalAgain'; pick: number; conflict: boolean }

const USERS = ['user-1', 'user-2'] as const
const CARD_CLEARING = accountIds.clearing('card-terminal')
const EXTERNAL_ACCOUNTS = [accountIds.clearing('sumup'), accountIds.clearing('stripe'), accountIds.payout(), ...USERS.map(accountIds.prepaid)]

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('new' as const),
      kiosk: fc.nat(2),
      kind: fc.constantFrom('sale' as const, 'topup' as const, 'card' as const),
      tag: fc.oneof({ weight: 6, arbitrary: fc.nat(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 3 }) }),
      fault: fc.oneof({ weight: 8, arbitrary: fc.constant('none' as const) }, { weight: 1, arbitrary: fc.constantFrom('price' as const, 'amount' as const, 'product' as const, 'chain' as const) }),
      qty: fc.integer({ min: 1, max: 4 }),
      product: fc.nat(1),
      amount: fc.integer({ min: 1, max: 3000 }),
      hold: fc.boolean(),
      // Card top-ups draw their terminal reference from a small pool, so the same payment is sent again.
      ref: fc.nat(5),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('resend' as const), kiosk: fc.nat(2), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('sendHeld' as const), kiosk: fc.nat(2), reverse: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('recover' as const), kiosk: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('rival' as const), kiosk: fc.nat(2), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ t: 'toggleBlock' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('external' as const),
      op: fc.constantFrom('topup' as const, 'prepay' as const, 'transfer' as const, 'payout' as const),
      tag: fc.oneof({ weight: 6, arbitrary: fc.nat(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 3 }) }),
      user: fc.nat(1),
      amount: fc.integer({ min: 1, max: 3000 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('externalAgain' as const), pick: fc.nat(), conflict: fc.boolean() }) },
)

/** What the generator meant an envelope to be; the model decides from this, not from the ledger's code. */
interface Meta {
  kind: 'sale' | 'topup' | 'card'
  /** Card top-ups: the terminal reference. */
  ref?: string
  uid: string
  amount: number
  fault: Fault
}

type ModelOutcome =
  | { kind: 'result'; id: string; seq: number; status: 'accepted' | 'rejected'; reason?: string; balance?: number; replay: boolean }
  | { kind: 'gap'; kioskId: string; fromSeq: number }

class Model {
  balances = new Map<string, number>()
  blocked = new Set<string>([UID.blocked])
  known = new Set<string>([UID.alice, UID.bob, UID.blocked])
  cursors = new Map<string, { next: number; last: string }>(KIOSKS.map((k) => [k.id, { next: 1, last: GENESIS_HASH }]))
  recorded = new Map<string, Omit<Extract<ModelOutcome, { kind: 'result' }>, 'replay'> & { kiosk: string }>()
  accepted = 0
  /** Terminal references of booked card top-ups. */
  cardRefs = new Set<string>()
  /** Booked external refs: their content key and the ledger's booking id (learnt when booked). */
  externalByRef = new Map<string, { key: string; id: string }>()
  externalBooked = 0
  /** Accepted orders per wristband (kiosk transactions and external bookings). */
  orders = new Map<string, number>()

  countOrder(uid: string): void {
    this.orders.set(uid, (this.orders.get(uid) ?? 0) + 1)
  }

  /** The model of bookExternal, for the bookings this test makes: 'booked', 'replay' or a refusal code. */
  processExternal(input: ExternalBookingInput): string {
    const key = JSON.stringify([input.kind, input.customerUid ?? null, [...input.postings].sort((a, b) => a.account.localeCompare(b.account))])
    const seen = this.externalByRef.get(input.ref)
    if (seen) return seen.key === key ? 'replay' : 'ref_conflict'
    const uid = input.customerUid
    if (uid !== undefined) {
      if (!this.known.has(uid)) return 'unknown_tag'
      if (this.blocked.has(uid) && (input.kind === 'topup_online' || input.kind === 'prepaid_transfer')) return 'tag_blocked'
    }
    for (const p of input.postings)
      if (p.amount < 0 && (p.account.startsWith('customer:') || p.account.startsWith('prepaid:')) && this.bal(p.account) + p.amount < 0)
        return 'insufficient_balance'
    for (const p of input.postings) this.add(p.account, p.amount)
    this.externalBooked++
    if (uid !== undefined) this.countOrder(uid)
    this.externalByRef.set(input.ref, { key, id: '' })
    return 'booked'
  }

  bal(account: string): number {
    return this.balances.get(account) ?? 0
  }
  add(account: string, cents: number): void {
    this.balances.set(account, this.bal(account) + cents)
  }

  process(e: Envelope, meta: Meta): ModelOutcome {
    const { tx } = e
    const seen = this.recorded.get(tx.id)
    if (seen) return { ...seen, kiosk: undefined, replay: true } as unknown as ModelOutcome
    const cursor = this.cursors.get(tx.kiosk)!
    if (tx.seq < cursor.next) return { kind: 'result', id: tx.id, seq: tx.seq, status: 'rejected', reason: 'seq_conflict', replay: false }
    if (tx.seq > cursor.next) return { kind: 'gap', kioskId: tx.kiosk, fromSeq: cursor.next }
    const kiosk = KIOSKS.find((k) => k.id === tx.kiosk)!
    const customer = `customer:${meta.uid}`
    let reason: string | undefined
    let balance: number | undefined
    if (tx.prev !== cursor.last) reason = 'chain_mismatch'
    else if (meta.kind === 'sale') {
      if (!kiosk.sale) reason = 'sale_not_allowed'
      else if (!this.known.has(meta.uid)) reason = 'unknown_tag'
      else if (this.blocked.has(meta.uid)) reason = 'tag_blocked'
      else if (meta.fault === 'product') reason = 'unknown_product'
      else if (meta.fault === 'price') reason = 'price_mismatch'
      else if (meta.fault === 'amount') reason = 'amount_mismatch'
      else if (this.bal(customer) < meta.amount) {
        reason = 'insufficient_balance'
        balance = this.bal(customer)
      } else {
        this.add(customer, -meta.amount)
        this.add(`revenue:${kiosk.booth}`, meta.amount)
        balance = this.bal(customer)
      }
    } else if (meta.kind === 'card') {
      if (!kiosk.topup) reason = 'topup_not_allowed'
      else if (this.cardRefs.has(meta.ref!)) reason = 'duplicate_payment'
      else if (!this.known.has(meta.uid)) reason = 'unknown_tag'
      else if (this.blocked.has(meta.uid)) reason = 'tag_blocked'
      else {
        this.add(CARD_CLEARING, -meta.amount)
        this.add(customer, meta.amount)
        this.cardRefs.add(meta.ref!)
        balance = this.bal(customer)
      }
    } else {
      if (!kiosk.topup) reason = 'topup_not_allowed'
      else if (!this.known.has(meta.uid)) reason = 'unknown_tag'
      else if (this.blocked.has(meta.uid)) reason = 'tag_blocked'
      else {
        this.add(`cash:${kiosk.id}`, -meta.amount)
        this.add(customer, meta.amount)
        balance = this.bal(customer)
      }
    }
    const outcome = {
      kind: 'result' as const,
      id: tx.id,
      seq: tx.seq,
      status: reason === undefined ? ('accepted' as const) : ('rejected' as const),
      ...(balance === undefined ? {} : { balance }),
      ...(reason === undefined ? {} : { reason }),
    }
    if (reason === undefined) {
      this.accepted++
      this.countOrder(meta.uid)
    }
    this.recorded.set(tx.id, { ...outcome, kiosk: tx.kiosk })
    this.cursors.set(tx.kiosk, { next: tx.seq + 1, last: envelopeHash(e) })
    return { ...outcome, replay: false }
  }
}

function normalise(o: Outcome): ModelOutcome {
  if (o.kind === 'gap') return o
  const { kind, id, seq, status, reason, balance } = o.result
  return { kind, id, seq, status, ...(balance === undefined ? {} : { balance }), ...(reason === undefined ? {} : { reason }), replay: o.replay }
}

interface Sim {
  kiosk: SigningKiosk
  held: Envelope[]
}

function run(actions: Action[], store: StoreKind | 'postgres'): void {
  const world: TestWorld = makeWorld(':memory:', store === 'postgres' ? createPgLedgerStore({ url: freshPgDatabase() }) : store)
  try {
    const model = new Model()
    const metas = new Map<string, Meta>()
    const sims: Sim[] = KIOSKS.map((k) => ({ kiosk: world.kiosks[k.key], held: [] }))
    for (const account of EXTERNAL_ACCOUNTS) {
      const [kind, ref] = account.split(':') as ['clearing' | 'prepaid' | 'payout', string]
      world.ledger.ensureAccount(kind, ref)
    }
    const externalSent: ExternalBookingInput[] = []

    const book = (input: ExternalBookingInput, label: string) => {
      let got: string
      let id = ''
      try {
        const result = world.ledger.bookExternal(input)
        got = result.status
        id = result.id
      } catch (err) {
        if (!(err instanceof LedgerRefusalError)) throw err
        got = err.code
      }
      const want = model.processExternal(input)
      if (got !== want) throw new Error(`${label}: ledger answered ${got}, model ${want}`)
      const known = model.externalByRef.get(input.ref)
      if (want === 'booked') known!.id = id
      if (want === 'replay' && known!.id !== id) throw new Error(`${label}: replay answered booking ${id}, first was ${known!.id}`)
    }

    const send = (envelopes: Envelope[], label: string) => {
      if (envelopes.length === 0) return
      const got = world.ledger.applyBatch(envelopes.map(verified)).map(normalise)
      const want = envelopes.map((e) => model.process(e, metas.get(e.tx.id)!))
      if (JSON.stringify(got) !== JSON.stringify(want))
        throw new Error(`${label}: ledger answered ${JSON.stringify(got)}, model ${JSON.stringify(want)}`)
    }

    for (const [step, a] of actions.entries()) {
      const label = `step ${step} ${JSON.stringify(a)}`
      if (a.t === 'new') {
        const spec = KIOSKS[a.kiosk]!
        const sim = sims[a.kiosk]!
        const uid = TAGS[a.tag]!
        let envelope: Envelope
        let meta: Meta
        const override = a.fault === 'chain' ? { prev: 'ab'.repeat(32) } : {}
        if (a.kind === 'topup') {
          envelope = sim.kiosk.topup(uid, a.amount, override)
          meta = { kind: 'topup', uid, amount: a.amount, fault: a.fault === 'chain' ? 'chain' : 'none' }
        } else if (a.kind === 'card') {
          const ref = a.ref ?? 0
          const payment = { terminalId: '52500038', receiptNumber: String(ref), traceNumber: String(ref).padStart(6, '0') }
          envelope = sim.kiosk.next({ type: 'topup_card', uid, amount: a.amount }, { ...override, payment })
          meta = { kind: 'card', ref: String(ref), uid, amount: a.amount, fault: a.fault === 'chain' ? 'chain' : 'none' }
        } else {
          const catalog = CATALOG[spec.booth]!
          const product = catalog[a.product % Math.max(catalog.length, 1)] ?? { id: 'beer', price: 450 }
          const line: Line = { product: product.id, qty: a.qty, unitPrice: product.price }
          if (a.fault === 'product') line.product = spec.booth === 'bar' ? 'fries' : 'beer'
          if (a.fault === 'price') line.unitPrice += 1
          const amount = line.qty * line.unitPrice + (a.fault === 'amount' ? 1 : 0)
          envelope = sim.kiosk.next({ type: 'sale', uid, lines: [line], amount }, override)
          meta = { kind: 'sale', uid, amount, fault: a.fault }
        }
        metas.set(envelope.tx.id, meta)
        if (a.hold) sim.held.push(envelope)
        else send([envelope], label)
      } else if (a.t === 'resend') {
        const history = sims[a.kiosk]!.kiosk.history
        if (history.length > 0) send([history[a.pick % history.length]!], label)
      } else if (a.t === 'sendHeld') {
        const sim = sims[a.kiosk]!
        const batch = a.reverse ? [...sim.held].reverse() : [...sim.held]
        sim.held = []
        send(batch, label)
      } else if (a.t === 'recover') {
        // What a kiosk does on a resend request: everything from the gateway's cursor on, in order.
        const sim = sims[a.kiosk]!
        const from = world.ledger.kioskCursor(KIOSKS[a.kiosk]!.id)!.nextSeq
        sim.held = []
        send(sim.kiosk.history.slice(from - 1), label)
      } else if (a.t === 'rival') {
        const history = sims[a.kiosk]!.kiosk.history
        if (history.length === 0) continue
        const original = history[a.pick % history.length]!
        const { payment: _payment, ...originalTx } = original.tx
        const rival = sims[a.kiosk]!.kiosk.sign({ ...originalTx, id: randomUUID(), type: 'topup_cash', tag: { uid: UID.alice, type: 'ntag215' }, lines: [], amount: 1 })
        metas.set(rival.tx.id, { kind: 'topup', uid: UID.alice, amount: 1, fault: 'none' })
        send([rival], label)
      } else if (a.t === 'external') {
        const uid = TAGS[a.tag]!
        const customer = accountIds.customer(uid)
        const prepaid = accountIds.prepaid(USERS[a.user]!)
        const ref = `ext:${externalSent.length}`
        const input: ExternalBookingInput =
          a.op === 'topup'
            ? { ref, kind: 'topup_online', customerUid: uid, postings: [{ account: accountIds.clearing('sumup'), amount: -a.amount }, { account: customer, amount: a.amount }] }
            : a.op === 'prepay'
              ? { ref, kind: 'prepayment', postings: [{ account: accountIds.clearing('stripe'), amount: -a.amount }, { account: prepaid, amount: a.amount }] }
              : a.op === 'transfer'
                ? { ref, kind: 'prepaid_transfer', customerUid: uid, postings: [{ account: prepaid, amount: -a.amount }, { account: customer, amount: a.amount }] }
                : { ref, kind: 'payout', customerUid: uid, postings: [{ account: customer, amount: -a.amount }, { account: accountIds.payout(), amount: a.amount }] }
        externalSent.push(input)
        book(input, label)
      } else if (a.t === 'externalAgain') {
        if (externalSent.length === 0) continue
        const earlier = externalSent[a.pick % externalSent.length]!
        const again = a.conflict ? { ...earlier, postings: earlier.postings.map((p) => ({ account: p.account, amount: p.amount < 0 ? p.amount - 1 : p.amount + 1 })) } : earlier
        book(again, label)
      } else {
        const blocked = model.blocked.has(UID.bob)
        world.ledger.registry.setWristbandBlocked(UID.bob, !blocked)
        if (blocked) model.blocked.delete(UID.bob)
        else model.blocked.add(UID.bob)
      }

      const violations = world.ledger.checkInvariants()
      if (violations.length > 0) throw new Error(`${label}: invariants broken: ${violations.join('; ')}`)
      if (world.ledger.sumOfAllBalances() !== 0) throw new Error(`${label}: balances do not sum to 0`)
      for (const uid of [UID.alice, UID.bob, UID.blocked]) {
        if (world.ledger.balanceOf(uid) !== model.bal(`customer:${uid}`))
          throw new Error(`${label}: balance of ${uid} is ${world.ledger.balanceOf(uid)}, model ${model.bal(`customer:${uid}`)}`)
        const orders = world.ledger.customerOrders(uid)
        if (orders.length !== (model.orders.get(uid) ?? 0)) throw new Error(`${label}: ${uid} has ${orders.length} orders, model ${model.orders.get(uid) ?? 0}`)
      }
      if ((world.ledger.accountBalance(CARD_CLEARING) ?? 0) !== model.bal(CARD_CLEARING))
        throw new Error(`${label}: card clearing holds ${world.ledger.accountBalance(CARD_CLEARING)}, model ${model.bal(CARD_CLEARING)}`)
      for (const account of EXTERNAL_ACCOUNTS)
        if (world.ledger.accountBalance(account) !== model.bal(account))
          throw new Error(`${label}: ${account} holds ${world.ledger.accountBalance(account)}, model ${model.bal(account)}`)
      const stats = world.ledger.stats()
      for (const booth of ['bar', 'food', 'cashdesk'])
        if ((stats.revenueByBooth[booth] ?? 0) !== model.bal(`revenue:${booth}`)) throw new Error(`${label}: revenue of ${booth} differs`)
      for (const k of KIOSKS)
        if ((stats.cashByKiosk[k.id] ?? 0) !== -model.bal(`cash:${k.id}`)) throw new Error(`${label}: cash of ${k.id} differs`)
      if (stats.accepted !== model.accepted) throw new Error(`${label}: ${stats.accepted} accepted, model ${model.accepted}`)
      if (stats.externalBookings !== model.externalBooked) throw new Error(`${label}: ${stats.externalBookings} external bookings, model ${model.externalBooked}`)
      const doubled = world.db.prepare(`SELECT tx_id FROM postings GROUP BY tx_id HAVING COUNT(*) != 2`).all()
      if (doubled.length > 0) throw new Error(`${label}: a transaction was booked more than once: ${JSON.stringify(doubled)}`)
      for (const k of KIOSKS) {
        const c = world.ledger.kioskCursor(k.id)!
        const m = model.cursors.get(k.id)!
        if (c.nextSeq !== m.next || c.lastHash !== m.last) throw new Error(`${label}: cursor of ${k.id} differs from the model`)
      }
    }
  } finally {
    world.close()
  }
}

// Where PostgreSQL 15 is installed: a private server, a database per history (a copy of a migrated template).
const postgres = postgresInstalled() ? await startPostgresServer() : undefined
if (postgres !== undefined) {
  t.teardown(() => postgres.stop())
  postgres.createDatabase('property_template')
  createPgLedgerStore({ url: postgres.url('property_template') }).close()
}
let pgDatabases = 0
const freshPgDatabase = () => postgres!.createDatabase(`property_${++pgDatabases}`, 'property_template')

// The same histories against every store (store.ts): each must agree with the model on its own. A history on
// PostgreSQL costs a database and a round trip per read, so it gets fewer random ones.
for (const store of [...STORE_KINDS, ...(postgres === undefined ? [] : (['postgres'] as const))]) {
  const numRuns = store === 'postgres' ? 8 : 100
  t.test(`${store} store: the ledger agrees with the model and keeps its invariants after every step`, async (t) => {
    fc.assert(
      fc.property(fc.array(action, { minLength: 5, maxLength: 60, size: 'max' }), (actions) => {
        run(actions, store)
      }),
      { numRuns },
    )
    t.pass(`${numRuns} random histories`)
  })

  t.test(`${store} store: a known history: held top-up, gap, recovery, then a sale`, async (t) => {
    t.doesNotThrow(() =>
      run([
        { t: 'new', kiosk: 1, kind: 'topup', tag: 0, fault: 'none', qty: 1, product: 0, amount: 100, hold: true },
        { t: 'new', kiosk: 1, kind: 'topup', tag: 0, fault: 'none', qty: 1, product: 0, amount: 200, hold: false },
        { t: 'recover', kiosk: 1 },
        { t: 'new', kiosk: 0, kind: 'sale', tag: 0, fault: 'none', qty: 1, product: 1, amount: 0, hold: false },
        { t: 'new', kiosk: 0, kind: 'sale', tag: 0, fault: 'chain', qty: 1, product: 1, amount: 0, hold: false },
        { t: 'rival', kiosk: 0, pick: 0 },
        { t: 'resend', kiosk: 1, pick: 0 },
      ], store),
    )
  })

  t.test(`${store} store: a known history of external bookings: prepay, transfer, spend, payout, replays`, async (t) => {
    t.doesNotThrow(() =>
      run([
        { t: 'external', op: 'prepay', tag: 0, user: 0, amount: 1000 },
        { t: 'external', op: 'transfer', tag: 1, user: 0, amount: 1001 },
        { t: 'external', op: 'transfer', tag: 1, user: 0, amount: 1000 },
        { t: 'externalAgain', pick: 2, conflict: false },
        { t: 'externalAgain', pick: 2, conflict: true },
        { t: 'externalAgain', pick: 1, conflict: false },
        { t: 'new', kiosk: 0, kind: 'sale', tag: 1, fault: 'none', qty: 1, product: 0, amount: 0, hold: false },
        { t: 'external', op: 'payout', tag: 1, user: 0, amount: 551 },
        { t: 'external', op: 'payout', tag: 1, user: 0, amount: 550 },
        { t: 'toggleBlock' },
        { t: 'external', op: 'topup', tag: 1, user: 0, amount: 10 },
        { t: 'external', op: 'topup', tag: 3, user: 0, amount: 10 },
        { t: 'external', op: 'topup', tag: 2, user: 0, amount: 10 },
        { t: 'external', op: 'payout', tag: 2, user: 0, amount: 1 },
      ], store),
    )
  })
}
