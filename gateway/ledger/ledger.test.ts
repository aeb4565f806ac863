import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { GENESIS_HASH, envelopeHash, type Envelope, type TxResult } from '../../device-protocol/index.js'
import { openLedgerDatabase } from './db.js'
import { createLedger } from './ledger.js'
import { PIN, SigningKiosk, UID, fixedClock, makeKioskKeys, makeWorld, silentLogger, testSetup, verified, type TestWorld } from './testing/test-helpers.js'
import type { Outcome } from './types.js'

function resultOf(outcome: Outcome | undefined): TxResult & { booked: boolean; recorded: boolean; replay: boolean } {
  if (outcome?.kind !== 'result') throw new Error(`expected a result, got ${JSON.stringify(outcome)}`)
  return { ...outcome.result, booked: outcome.booked, recorded: outcome.recorded, replay: outcome.replay }
}

function apply(w: TestWorld, ...envelopes: Envelope[]): Outcome[] {
  return w.ledger.applyBatch(envelopes.map(verified))
}

const beer = { product: 'beer', qty: 1, unitPrice: 450 }

interface Case {
  name: string
  /** Builds the envelope under test (after alice got 5000 cents at cash-1). */
  make(k: TestWorld['kiosks']): Envelope
  status: 'accepted' | 'rejected'
  reason?: string
  balance?: number
  /** Expected balances after, by account kind, when accepted. */
  alice: number
  revenue?: Record<string, number>
  cash?: Record<string, number>
}

const cases: Case[] = [
  { name: 'sale of two beers at the bar', make: (k) => k.bar.sale(UID.alice, [{ ...beer, qty: 2 }]), status: 'accepted', balance: 4100, alice: 4100, revenue: { bar: 900 } },
  {
    name: 'sale of several lines',
    make: (k) => k.bar.sale(UID.alice, [beer, { product: 'water', qty: 3, unitPrice: 200 }]),
    status: 'accepted',
    balance: 3950,
    alice: 3950,
    revenue: { bar: 1050 },
  },
  { name: 'sale over the balance', make: (k) => k.food.sale(UID.alice, [{ product: 'fries', qty: 15, unitPrice: 350 }, { product: 'tap-water', qty: 1, unitPrice: 0 }], {}), status: 'rejected', reason: 'insufficient_balance', balance: 5000, alice: 5000 },
  { name: 'sale of exactly the balance', make: (k) => k.bar.sale(UID.alice, [{ product: 'water', qty: 25, unitPrice: 200 }]), status: 'accepted', balance: 0, alice: 0, revenue: { bar: 5000 } },
  { name: 'free product', make: (k) => k.food.sale(UID.alice, [{ product: 'tap-water', qty: 1, unitPrice: 0 }]), status: 'accepted', balance: 5000, alice: 5000, revenue: { food: 0 } },
  { name: 'cash top-up at a combined kiosk', make: (k) => k.food.topup(UID.alice, 1500), status: 'accepted', balance: 6500, alice: 6500, cash: { 'food-1': 1500, 'cash-1': 5000 } },
  { name: 'sale at a top-up-only kiosk', make: (k) => k.cash.next({ type: 'sale', uid: UID.alice, lines: [beer], amount: 450 }), status: 'rejected', reason: 'sale_not_allowed', alice: 5000 },
  { name: 'top-up at a sale-only kiosk', make: (k) => k.bar.topup(UID.alice, 1000), status: 'rejected', reason: 'topup_not_allowed', alice: 5000 },
  { name: 'sale to an unknown tag', make: (k) => k.bar.sale(UID.stranger, [beer]), status: 'rejected', reason: 'unknown_tag', alice: 5000 },
  { name: 'sale to a blocked tag', make: (k) => k.bar.sale(UID.blocked, [beer]), status: 'rejected', reason: 'tag_blocked', alice: 5000 },
  { name: 'product of another booth', make: (k) => k.bar.sale(UID.alice, [{ product: 'fries', qty: 1, unitPrice: 350 }]), status: 'rejected', reason: 'unknown_product', alice: 5000 },
  { name: 'product that does not exist', make: (k) => k.bar.sale(UID.alice, [{ product: 'champagne', qty: 1, unitPrice: 9000 }]), status: 'rejected', reason: 'unknown_product', alice: 5000 },
  { name: 'wrong unit price', make: (k) => k.bar.sale(UID.alice, [{ ...beer, unitPrice: 400 }]), status: 'rejected', reason: 'price_mismatch', alice: 5000 },
  { name: 'amount differs from the lines', make: (k) => k.bar.next({ type: 'sale', uid: UID.alice, lines: [beer], amount: 449 }), status: 'rejected', reason: 'amount_mismatch', alice: 5000 },
  { name: 'amount above the lines', make: (k) => k.bar.next({ type: 'sale', uid: UID.alice, lines: [beer], amount: 451 }), status: 'rejected', reason: 'amount_mismatch', alice: 5000 },
  { name: 'sale to a guest with no money', make: (k) => k.bar.sale(UID.bob, [beer]), status: 'rejected', reason: 'insufficient_balance', balance: 0, alice: 5000 },
  { name: 'sale without lines', make: (k) => k.bar.next({ type: 'sale', uid: UID.alice, lines: [], amount: 0 }), status: 'rejected', reason: 'invalid_transaction', alice: 5000 },
  { name: 'top-up with lines', make: (k) => k.cash.next({ type: 'topup_cash', uid: UID.alice, lines: [beer], amount: 450 }), status: 'rejected', reason: 'invalid_transaction', alice: 5000 },
  { name: 'top-up of zero', make: (k) => k.cash.topup(UID.alice, 0), status: 'rejected', reason: 'invalid_transaction', alice: 5000 },
  { name: 'top-up of an unknown tag', make: (k) => k.cash.topup(UID.stranger, 100), status: 'rejected', reason: 'unknown_tag', alice: 5000 },
  { name: 'top-up of a blocked tag', make: (k) => k.cash.topup(UID.blocked, 100), status: 'rejected', reason: 'tag_blocked', alice: 5000 },
]

t.test('each booking and each refusal', async (t) => {
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const w = makeWorld()
      t.teardown(w.close)
      const first = resultOf(apply(w, w.kiosks.cash.topup(UID.alice, 5000))[0])
      t.match(first, { status: 'accepted', balance: 5000, booked: true })
      const before = w.ledger.stats()
      const envelope = c.make(w.kiosks)
      const got = resultOf(apply(w, envelope)[0])
      t.equal(got.status, c.status)
      t.equal(got.reason, c.reason)
      t.equal(got.balance, c.balance)
      t.equal(got.id, envelope.tx.id)
      t.equal(got.seq, envelope.tx.seq)
      t.equal(got.booked, c.status === 'accepted')
      t.equal(got.recorded, true, 'accepted or rejected, it is recorded')
      t.equal(got.replay, false)
      t.equal(w.ledger.balanceOf(UID.alice), c.alice)
      const record = w.ledger.transaction(envelope.tx.id)!
      t.equal(record.status, c.status)
      t.same(record.envelope, envelope)
      t.equal(record.hash, envelopeHash(envelope))
      if (c.status === 'accepted') {
        t.equal(record.postings.length, 2)
        t.equal(record.postings.reduce((s, p) => s + p.amount, 0), 0)
      } else {
        t.same(record.postings, [])
        t.same(w.ledger.stats().revenueByBooth, before.revenueByBooth, 'a refusal moves no money')
        t.same(w.ledger.stats().cashByKiosk, before.cashByKiosk)
      }
      const stats = w.ledger.stats()
      for (const [booth, cents] of Object.entries(c.revenue ?? {})) t.equal(stats.revenueByBooth[booth], cents, `revenue of ${booth}`)
      for (const [kiosk, cents] of Object.entries(c.cash ?? {})) t.equal(stats.cashByKiosk[kiosk], cents, `cash of ${kiosk}`)
      t.same(w.ledger.kioskCursor(envelope.tx.kiosk), { nextSeq: envelope.tx.seq + 1, lastHash: envelopeHash(envelope) })
      t.same(w.ledger.checkInvariants(), [])
      t.equal(w.ledger.sumOfAllBalances(), 0)
    })
  }
})

t.test('the same envelope twice books once and answers the same', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  const topup = w.kiosks.cash.topup(UID.alice, 1000)
  const [a, b] = apply(w, topup, topup).map(resultOf)
  t.match(a, { status: 'accepted', balance: 1000, booked: true, replay: false })
  t.match(b, { status: 'accepted', balance: 1000, booked: false, recorded: false, replay: true })
  const c = resultOf(apply(w, topup)[0])
  t.same({ ...c, replay: true }, { ...a, booked: false, recorded: false, replay: true }, 'a later batch gets the first answer too')
  t.equal(w.ledger.balanceOf(UID.alice), 1000)
  t.equal(w.ledger.stats().accepted, 1)

  const refused = w.kiosks.bar.sale(UID.bob, [beer])
  const r1 = resultOf(apply(w, refused)[0])
  apply(w, w.kiosks.cash.topup(UID.bob, 5000))
  const r2 = resultOf(apply(w, refused)[0])
  t.match(r1, { status: 'rejected', reason: 'insufficient_balance', balance: 0 })
  t.same(r2, { ...r1, recorded: false, replay: true }, 'a refusal stays a refusal even though bob now has money')
  t.equal(w.ledger.balanceOf(UID.bob), 5000)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('an id first recorded by another kiosk is refused and reveals nothing', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  const original = w.kiosks.cash.topup(UID.alice, 1000)
  apply(w, original)
  const copycat = w.kiosks.food.topup(UID.alice, 1, { id: original.tx.id })
  const got = resultOf(apply(w, copycat)[0])
  t.same(got, { kind: 'result', id: original.tx.id, seq: 1, status: 'rejected', reason: 'invalid_transaction', booked: false, recorded: false, replay: false })
  t.equal(w.ledger.kioskCursor('food-1')?.nextSeq, 1)
  t.equal(w.ledger.balanceOf(UID.alice), 1000)
})

t.test('a gap is reported, nothing past it is recorded, and the resend fills it', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  const k = w.kiosks.cash
  const e1 = k.topup(UID.alice, 100)
  const e2 = k.topup(UID.alice, 200)
  const e3 = k.topup(UID.alice, 300)
  const first = apply(w, e1, e3)
  t.match(resultOf(first[0]), { status: 'accepted', balance: 100 })
  t.same(first[1], { kind: 'gap', kioskId: 'cash-1', fromSeq: 2 })
  t.equal(w.ledger.transaction(e3.tx.id), undefined, 'seq 3 is not recorded')
  t.equal(w.ledger.kioskCursor('cash-1')?.nextSeq, 2)
  t.same(apply(w, e3), [{ kind: 'gap', kioskId: 'cash-1', fromSeq: 2 }], 'the same gap again')

  const second = apply(w, e2, e3).map(resultOf)
  t.match(second, [
    { status: 'accepted', balance: 300, replay: false },
    { status: 'accepted', balance: 600, replay: false },
  ])
  t.equal(w.ledger.balanceOf(UID.alice), 600)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('a different transaction for a seq already processed is a seq_conflict, not recorded', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  const k = w.kiosks.cash
  const e1 = k.topup(UID.alice, 100)
  apply(w, e1)
  const rival = k.sign({ ...e1.tx, id: '0190a000-0000-7000-8000-000000000001', amount: 999 })
  t.match(resultOf(apply(w, rival)[0]), { status: 'rejected', reason: 'seq_conflict', recorded: false, booked: false })
  t.equal(w.ledger.transaction(rival.tx.id), undefined)
  t.same(w.ledger.kioskCursor('cash-1'), { nextSeq: 2, lastHash: envelopeHash(e1) })
  t.equal(w.ledger.balanceOf(UID.alice), 100)

  // Within one batch: the first of two rivals for the same seq wins.
  const e2 = k.topup(UID.alice, 5)
  const rival2 = k.sign({ ...e2.tx, id: '0190a000-0000-7000-8000-000000000002', amount: 7 })
  const [a, b] = apply(w, e2, rival2).map(resultOf)
  t.match(a, { status: 'accepted', balance: 105 })
  t.match(b, { status: 'rejected', reason: 'seq_conflict' })
})

t.test('a broken chain is recorded as chain_mismatch and the chain continues from it', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  const k = w.kiosks.cash
  apply(w, k.topup(UID.alice, 100))
  const broken = k.topup(UID.alice, 200, { prev: 'f'.repeat(64) })
  const after = k.topup(UID.alice, 300)
  const [a, b] = apply(w, broken, after).map(resultOf)
  t.match(a, { status: 'rejected', reason: 'chain_mismatch', recorded: true, booked: false })
  t.match(b, { status: 'accepted', balance: 400 }, 'the next envelope chains to the broken one and is accepted')
  t.equal(w.ledger.transaction(broken.tx.id)?.reason, 'chain_mismatch')
  t.same(w.ledger.checkInvariants(), [])

  const first = w.kiosks.bar.sale(UID.alice, [beer], { prev: envelopeHash(after) })
  t.match(resultOf(apply(w, first)[0]), { status: 'rejected', reason: 'chain_mismatch' }, "seq 1 must carry the genesis hash")
})

t.test('an unknown kiosk or a malformed envelope changes nothing', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  const ghost = new SigningKiosk('ghost-1')
  t.match(resultOf(apply(w, ghost.topup(UID.alice, 100))[0]), { status: 'rejected', reason: 'unknown_kiosk', recorded: false })
  const bad = w.kiosks.cash.topup(UID.alice, 100, { amount: -5 })
  t.match(resultOf(apply(w, bad)[0]), { status: 'rejected', reason: 'invalid_transaction', recorded: false })
  const extra = { ...w.kiosks.cash.topup(UID.alice, 100), evil: true } as unknown as Envelope
  t.match(resultOf(apply(w, extra)[0]), { status: 'rejected', reason: 'invalid_transaction' })
  t.equal(w.ledger.kioskCursor('cash-1')?.nextSeq, 1)
  t.equal(w.ledger.stats().accepted + w.ledger.stats().rejected, 0)
  t.same(w.ledger.applyBatch([]), [])
})

t.test('a batch is one transaction: a failure part-way commits none of it', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  // A trigger stands in for an I/O error in the middle of a batch.
  w.db.exec(`CREATE TRIGGER fail_777 BEFORE INSERT ON postings WHEN NEW.amount = 777 BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`)
  const k = w.kiosks.cash
  const ok = k.topup(UID.alice, 100)
  const doomed = k.topup(UID.alice, 777)
  t.throws(() => apply(w, ok, doomed), /disk on fire/)
  t.equal(w.ledger.transaction(ok.tx.id), undefined)
  t.equal(w.ledger.balanceOf(UID.alice), 0)
  t.same(w.ledger.kioskCursor('cash-1'), { nextSeq: 1, lastHash: GENESIS_HASH })
  w.db.exec(`DROP TRIGGER fail_777`)
  t.match(apply(w, ok, doomed).map(resultOf), [{ status: 'accepted' }, { status: 'accepted', balance: 877 }])
})

t.test('checkInvariants notices tampering', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  const e = w.kiosks.cash.topup(UID.alice, 100)
  apply(w, e, w.kiosks.bar.sale(UID.alice, [{ product: 'water', qty: 1, unitPrice: 200 }]))
  t.same(w.ledger.checkInvariants(), [])
  w.db.prepare(`UPDATE accounts SET balance = balance + 1 WHERE id = ?`).run(`customer:${UID.alice}`)
  const v1 = w.ledger.checkInvariants()
  t.ok(v1.some((v) => v.includes('postings sum to')), 'balance differs from postings')
  t.ok(v1.some((v) => v.includes('sum of all balances is 1')))
  w.db.prepare(`UPDATE accounts SET balance = balance - 1 WHERE id = ?`).run(`customer:${UID.alice}`)
  w.db.prepare(`UPDATE postings SET amount = amount + 5 WHERE tx_id = ? AND amount > 0`).run(e.tx.id)
  t.ok(w.ledger.checkInvariants().some((v) => v.includes(`postings of ${e.tx.id} sum to 5`)))
  w.db.prepare(`UPDATE postings SET amount = amount - 5 WHERE tx_id = ? AND amount > 0`).run(e.tx.id)
  w.db.prepare(`UPDATE accounts SET balance = -3 WHERE id = ?`).run(`customer:${UID.bob}`)
  w.db.prepare(`UPDATE accounts SET balance = balance + 3 WHERE id = 'revenue:bar'`).run()
  t.ok(w.ledger.checkInvariants().some((v) => v.includes('is negative')))
  w.db.prepare(`UPDATE accounts SET balance = 0 WHERE id = ?`).run(`customer:${UID.bob}`)
  w.db.prepare(`UPDATE accounts SET balance = balance - 3 WHERE id = 'revenue:bar'`).run()
  t.same(w.ledger.checkInvariants(), [])
  w.db.pragma('foreign_keys = OFF')
  w.db.prepare(`UPDATE transactions SET seq = 5 WHERE id = ?`).run(e.tx.id)
  t.ok(w.ledger.checkInvariants().some((v) => v.includes('kiosk cash-1')))
  w.db.prepare(`UPDATE transactions SET seq = 1, envelope = replace(envelope, '100', '101') WHERE id = ?`).run(e.tx.id)
  t.ok(w.ledger.checkInvariants().some((v) => v.includes('does not match its hash')))
})

t.test('event set-up import', async (t) => {
  t.test('stores secrets only as hashes and authenticates kiosks', async (t) => {
    const w = makeWorld()
    t.teardown(w.close)
    const setup = testSetup()
    const token = setup.kiosks[0]!.token
    const dump = JSON.stringify([w.db.prepare('SELECT * FROM kiosks').all(), w.db.prepare('SELECT * FROM wristbands').all()])
    t.notOk(dump.includes(token), 'token not stored in plain')
    for (const pin of Object.values(PIN)) t.notOk(dump.toUpperCase().includes(pin), 'PINs not stored in plain')
    t.equal(w.ledger.registry.kioskAuth('bar-1', token), true)
    t.equal(w.ledger.registry.kioskAuth('bar-1', token + 'x'), false)
    t.equal(w.ledger.registry.kioskAuth('bar-1', ''), false)
    t.equal(w.ledger.registry.kioskAuth('cash-1', token), false, "another kiosk's token")
    t.equal(w.ledger.registry.kioskAuth('nobody', token), false)
    t.equal(w.ledger.registry.verifyPin(UID.alice, PIN.alice), true)
    t.equal(w.ledger.registry.verifyPin(UID.alice, PIN.alice.toLowerCase()), true, 'case-insensitive')
    t.equal(w.ledger.registry.verifyPin(UID.alice, 'ALCE2345AC'), false)
    t.equal(w.ledger.registry.verifyPin(UID.alice, PIN.bob), false, "another guest's PIN")
    t.equal(w.ledger.registry.verifyPin(UID.stranger, PIN.alice), false)
  })

  t.test('is idempotent and bumps config versions only on change', async (t) => {
    const w = makeWorld()
    t.teardown(w.close)
    const before = w.ledger.registry.kioskConfig('bar-1')
    t.match(before, {
      kiosk: 'bar-1',
      booth: 'bar',
      version: 1,
      products: [
        { id: 'beer', name: 'Beer', price: 450 },
        { id: 'water', name: 'Water', price: 200 },
      ],
      topupAllowed: false,
      saleAllowed: true,
    })
    apply(w, w.kiosks.cash.topup(UID.alice, 1000))
    const again = w.ledger.registry.importEventSetup(testSetup())
    t.same(again.configChanged, [])
    t.same(w.ledger.registry.kioskConfig('bar-1'), before)
    t.equal(w.ledger.balanceOf(UID.alice), 1000, 'balances survive a re-import')
    t.ok(w.ledger.registry.kioskPublicKey('bar-1'), 'an enrolled key survives a re-import without keys')
    t.equal(w.ledger.registry.verifyPin(UID.alice, PIN.alice), true)

    const changed = testSetup()
    changed.products[0]!.price = 500
    changed.kiosks[2]!.topupAllowed = false
    changed.wristbands[0]!.pin = 'NEWPAN2345'
    const summary = w.ledger.registry.importEventSetup(changed)
    t.same(summary.configChanged.sort(), ['bar-1', 'food-1'])
    t.equal(w.ledger.registry.kioskConfig('bar-1').version, 2)
    t.equal(w.ledger.registry.kioskConfig('cash-1').version, 1)
    t.equal(w.ledger.registry.kioskConfig('bar-1').products[0]?.price, 500)
    t.equal(w.ledger.registry.verifyPin(UID.alice, 'NEWPAN2345'), true)
    t.equal(w.ledger.registry.verifyPin(UID.alice, PIN.alice), false)
    const sale = w.kiosks.bar.sale(UID.alice, [beer])
    t.match(resultOf(apply(w, sale)[0]), { status: 'rejected', reason: 'price_mismatch' }, 'the old price is refused')
  })

  t.test('keeps an operator block when the file says nothing', async (t) => {
    const w = makeWorld()
    t.teardown(w.close)
    w.ledger.registry.setWristbandBlocked(UID.bob, true)
    w.ledger.registry.importEventSetup(testSetup())
    t.match(resultOf(apply(w, w.kiosks.cash.topup(UID.bob, 100))[0]), { reason: 'tag_blocked' })
    w.ledger.registry.setWristbandBlocked(UID.bob, false)
    t.match(resultOf(apply(w, w.kiosks.cash.topup(UID.bob, 100))[0]), { status: 'accepted' })
    t.throws(() => w.ledger.registry.setWristbandBlocked(UID.stranger, true), /unknown wristband/)
  })

  t.test('refuses to change the currency once money moved, and changes nothing', async (t) => {
    const w = makeWorld()
    t.teardown(w.close)
    apply(w, w.kiosks.cash.topup(UID.alice, 1000))
    const usd = testSetup()
    usd.event.currency = 'USD'
    usd.products[0]!.price = 1
    t.throws(() => w.ledger.registry.importEventSetup(usd), /currency/)
    t.same(w.ledger.registry.event(), { name: 'Test Fest', currency: 'EUR' })
    t.equal(w.ledger.registry.kioskConfig('bar-1').products[0]?.price, 450)
  })
})

t.test('kiosk enrollment', async (t) => {
  const db = openLedgerDatabase(':memory:')
  t.teardown(() => db.close())
  const ledger = createLedger({ db, clock: fixedClock(), logger: silentLogger })
  ledger.registry.importEventSetup(testSetup())
  t.equal(ledger.registry.kioskPublicKey('bar-1'), undefined, 'no key before enrollment')
  t.throws(() => ledger.registry.enrollKiosk('bar-1', 'not-a-key'), /not a base64url Ed25519 key/)
  t.throws(() => ledger.registry.enrollKiosk('nobody', makeKioskKeys().publicKeyBase64Url), /unknown kiosk/)
  t.equal(ledger.registry.kioskPublicKey('bar-1'), undefined, 'a refused enrollment stores nothing')
  const keys = makeKioskKeys()
  ledger.registry.enrollKiosk('bar-1', keys.publicKeyBase64Url)
  t.ok(ledger.registry.kioskPublicKey('bar-1')?.equals(keys.publicKey))
  t.equal(ledger.registry.kioskPublicKey('bar-1'), ledger.registry.kioskPublicKey('bar-1'), 'the KeyObject is cached')
  const replacement = makeKioskKeys()
  ledger.registry.enrollKiosk('bar-1', replacement.publicKeyBase64Url)
  t.ok(ledger.registry.kioskPublicKey('bar-1')?.equals(replacement.publicKey), 're-enrollment replaces the cached key')
  t.same(ledger.registry.kioskIds(), ['bar-1', 'cash-1', 'food-1'])
  t.throws(() => ledger.registry.kioskConfig('nobody'), /unknown kiosk/)
})

t.test('state survives closing and reopening the database file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-ledger-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'ledger.sqlite')
  const w = makeWorld(path)
  t.equal(w.db.pragma('journal_mode', { simple: true }), 'wal')
  t.equal(w.db.pragma('synchronous', { simple: true }), 2, 'synchronous=FULL')
  const k = w.kiosks.cash
  const e1 = k.topup(UID.alice, 700)
  const e2 = k.topup(UID.bob, 300)
  const answers = apply(w, e1, e2).map(resultOf)
  const sale = w.kiosks.bar.sale(UID.alice, [beer])
  apply(w, sale)
  const statsBefore = w.ledger.stats()
  w.close()

  const db = openLedgerDatabase(path)
  t.teardown(() => db.close())
  const ledger = createLedger({ db, clock: fixedClock(), logger: silentLogger })
  t.equal(ledger.balanceOf(UID.alice), 250)
  t.equal(ledger.balanceOf(UID.bob), 300)
  t.same(ledger.stats(), statsBefore)
  t.same(ledger.checkInvariants(), [])
  t.same(ledger.kioskCursor('cash-1'), { nextSeq: 3, lastHash: envelopeHash(e2) })
  t.ok(ledger.registry.kioskPublicKey('cash-1')?.equals(k.keys.publicKey))
  const replay = ledger.applyBatch([verified(e1)]).map(resultOf)[0]
  t.same(replay, { ...answers[0], booked: false, recorded: false, replay: true }, 'a resend after restart gets the first answer')
  t.match(ledger.applyBatch([verified(k.topup(UID.alice, 50))]).map(resultOf), [{ status: 'accepted', balance: 300 }])
})
