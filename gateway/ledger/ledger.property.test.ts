// Property test: random sequences of sales, top-ups, resends, out-of-order
// sends, rival transactions and broken chains, run against the ledger and
// against a small in-memory model of the rules. After every step the ledger
// must agree with the model and keep its invariants.
import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import t from 'tap'
import { GENESIS_HASH, envelopeHash, type Envelope, type Line } from '../../device-protocol/index.js'
import { SigningKiosk, UID, makeWorld, verified, type TestWorld } from './test-helpers.js'
import type { Outcome } from './types.js'

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
  | { t: 'new'; kiosk: number; kind: 'sale' | 'topup'; tag: number; fault: Fault; qty: number; product: number; amount: number; hold: boolean }
  | { t: 'resend'; kiosk: number; pick: number }
  | { t: 'sendHeld'; kiosk: number; reverse: boolean }
  | { t: 'recover'; kiosk: number }
  | { t: 'rival'; kiosk: number; pick: number }
  | { t: 'toggleBlock' }

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('new' as const),
      kiosk: fc.nat(2),
      kind: fc.constantFrom('sale' as const, 'topup' as const),
      tag: fc.oneof({ weight: 6, arbitrary: fc.nat(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 3 }) }),
      fault: fc.oneof({ weight: 8, arbitrary: fc.constant('none' as const) }, { weight: 1, arbitrary: fc.constantFrom('price' as const, 'amount' as const, 'product' as const, 'chain' as const) }),
      qty: fc.integer({ min: 1, max: 4 }),
      product: fc.nat(1),
      amount: fc.integer({ min: 1, max: 3000 }),
      hold: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('resend' as const), kiosk: fc.nat(2), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('sendHeld' as const), kiosk: fc.nat(2), reverse: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('recover' as const), kiosk: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('rival' as const), kiosk: fc.nat(2), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ t: 'toggleBlock' as const }) },
)

/** What the generator meant an envelope to be; the model decides from this, not from the ledger's code. */
interface Meta {
  kind: 'sale' | 'topup'
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
    if (reason === undefined) this.accepted++
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

function run(actions: Action[]): void {
  const world: TestWorld = makeWorld()
  try {
    const model = new Model()
    const metas = new Map<string, Meta>()
    const sims: Sim[] = KIOSKS.map((k) => ({ kiosk: world.kiosks[k.key], held: [] }))

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
        const rival = sims[a.kiosk]!.kiosk.sign({ ...original.tx, id: randomUUID(), type: 'topup_cash', tag: { uid: UID.alice, type: 'ntag215' }, lines: [], amount: 1 })
        metas.set(rival.tx.id, { kind: 'topup', uid: UID.alice, amount: 1, fault: 'none' })
        send([rival], label)
      } else {
        const blocked = model.blocked.has(UID.bob)
        world.ledger.setWristbandBlocked(UID.bob, !blocked)
        if (blocked) model.blocked.delete(UID.bob)
        else model.blocked.add(UID.bob)
      }

      const violations = world.ledger.checkInvariants()
      if (violations.length > 0) throw new Error(`${label}: invariants broken: ${violations.join('; ')}`)
      if (world.ledger.sumOfAllBalances() !== 0) throw new Error(`${label}: balances do not sum to 0`)
      for (const uid of [UID.alice, UID.bob, UID.blocked])
        if (world.ledger.balanceOf(uid) !== model.bal(`customer:${uid}`))
          throw new Error(`${label}: balance of ${uid} is ${world.ledger.balanceOf(uid)}, model ${model.bal(`customer:${uid}`)}`)
      const stats = world.ledger.stats()
      for (const booth of ['bar', 'food', 'cashdesk'])
        if ((stats.revenueByBooth[booth] ?? 0) !== model.bal(`revenue:${booth}`)) throw new Error(`${label}: revenue of ${booth} differs`)
      for (const k of KIOSKS)
        if ((stats.cashByKiosk[k.id] ?? 0) !== -model.bal(`cash:${k.id}`)) throw new Error(`${label}: cash of ${k.id} differs`)
      if (stats.accepted !== model.accepted) throw new Error(`${label}: ${stats.accepted} accepted, model ${model.accepted}`)
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

t.test('the ledger agrees with the model and keeps its invariants after every step', async (t) => {
  fc.assert(
    fc.property(fc.array(action, { minLength: 5, maxLength: 60, size: 'max' }), (actions) => {
      run(actions)
    }),
    { numRuns: 100 },
  )
  t.pass('100 random histories')
})

t.test('a known history: held top-up, gap, recovery, then a sale', async (t) => {
  t.doesNotThrow(() =>
    run([
      { t: 'new', kiosk: 1, kind: 'topup', tag: 0, fault: 'none', qty: 1, product: 0, amount: 100, hold: true },
      { t: 'new', kiosk: 1, kind: 'topup', tag: 0, fault: 'none', qty: 1, product: 0, amount: 200, hold: false },
      { t: 'recover', kiosk: 1 },
      { t: 'new', kiosk: 0, kind: 'sale', tag: 0, fault: 'none', qty: 1, product: 1, amount: 0, hold: false },
      { t: 'new', kiosk: 0, kind: 'sale', tag: 0, fault: 'chain', qty: 1, product: 1, amount: 0, hold: false },
      { t: 'rival', kiosk: 0, pick: 0 },
      { t: 'resend', kiosk: 1, pick: 0 },
    ]),
  )
})
