import { verify as cryptoVerify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import t, { type Test } from 'tap'
import { canonicalBytes, createValidator, AlertEvent as AlertEventSchema, BookedEvent as BookedEventSchema, validateReply, type AlertEvent, type BookedEvent, type Envelope, type ReplyMessage } from '../device-protocol/index.js'
import { createIngest, type IngestDeps, type IngestObservation } from './ingest.js'
import { createLedger } from './ledger/ledger.js'
import { openLedgerDatabase } from './ledger/db.js'
import { SigningKiosk, UID, fixedClock, makeKioskKeys, makeWorld, silentLogger, testSetup, type TestWorld } from './ledger/testing/test-helpers.js'

const validateBooked = createValidator(BookedEventSchema)
const validateAlert = createValidator(AlertEventSchema)

interface SentReply {
  kioskId: string
  message: ReplyMessage
  /** Facts at the moment of publishing: was a SQLite transaction open, what did the ledger hold for this id. */
  inTransaction: boolean
  ledgerStatus: string | undefined
}

function harness(t: Test, world: TestWorld = makeWorld(), opts: Partial<IngestDeps> = {}) {
  t.teardown(world.close)
  const replies: SentReply[] = []
  const booked: BookedEvent[] = []
  const alerts: AlertEvent[] = []
  const ingest = createIngest({
    ledger: world.ledger,
    logger: silentLogger,
    clock: world.clock,
    publishReply(kioskId, message) {
      replies.push({
        kioskId,
        message,
        inTransaction: world.db.inTransaction,
        ledgerStatus: message.kind === 'result' ? world.ledger.transaction(message.id)?.status : undefined,
      })
    },
    publishEvent(kind, payload) {
      if (kind === 'booked') booked.push(payload as BookedEvent)
      else alerts.push(payload as AlertEvent)
    },
    ...opts,
  })
  const send = (kioskId: string, envelope: Envelope | unknown) => ingest.submit(kioskId, Buffer.from(JSON.stringify(envelope)))
  const ledgerUntouched = () => {
    const s = world.ledger.stats()
    return s.accepted + s.rejected === 0 && ['bar-1', 'cash-1', 'food-1'].every((k) => world.ledger.kioskCursor(k)?.nextSeq === 1)
  }
  return { world, ingest, replies, booked, alerts, send, ledgerUntouched, k: world.kiosks }
}

/** A signature check the test finishes by hand, in any order. */
function heldVerify() {
  const pending: Array<{ envelope: Envelope; key: KeyObject; resolve(ok: boolean): void }> = []
  const verify = (envelope: Envelope, key: KeyObject) => new Promise<boolean>((resolve) => pending.push({ envelope, key, resolve }))
  const finish = (i: number) => {
    const p = pending[i]!
    p.resolve(cryptoVerify(null, canonicalBytes(p.envelope.tx), p.key, Buffer.from(p.envelope.sig, 'base64')))
  }
  return { verify, pending, finish }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))
const beer = { product: 'beer', qty: 1, unitPrice: 450 }

t.test('valid envelopes are booked, answered and announced', async (t) => {
  const h = harness(t)
  h.send('cash-1', h.k.cash.topup(UID.alice, 2000))
  h.send('bar-1', h.k.bar.sale(UID.alice, [{ ...beer, qty: 2 }]))
  await h.ingest.drain()
  t.same(
    h.replies.map((r) => [r.kioskId, r.message]),
    [
      ['cash-1', { kind: 'result', id: h.k.cash.history[0]!.tx.id, seq: 1, status: 'accepted', balance: 2000 }],
      ['bar-1', { kind: 'result', id: h.k.bar.history[0]!.tx.id, seq: 1, status: 'accepted', balance: 1100 }],
    ],
  )
  for (const r of h.replies) t.ok(validateReply(r.message).ok, 'reply matches the protocol schema')
  t.equal(h.booked.length, 2)
  for (const b of h.booked) t.ok(validateBooked(b).ok, 'booked event matches its schema')
  t.match(h.booked[1], { kiosk: 'bar-1', seq: 1, type: 'sale', amount: 900, status: 'accepted' })
  t.match(h.ingest.counters(), { received: 2, accepted: 2, rejected: 0, malformed: 0 })
  t.equal(h.world.ledger.balanceOf(UID.alice), 1100)
})

t.test('replies are published only after the commit', async (t) => {
  const h = harness(t)
  h.send('cash-1', h.k.cash.topup(UID.alice, 500))
  h.send('bar-1', h.k.bar.sale(UID.alice, [beer]))
  h.send('bar-1', h.k.bar.sale(UID.alice, [beer])) // insufficient: a recorded refusal
  await h.ingest.drain()
  t.equal(h.replies.length, 3)
  for (const r of h.replies) {
    t.equal(r.inTransaction, false, 'no SQLite transaction open while replying')
    t.equal(r.ledgerStatus, r.message.kind === 'result' ? r.message.status : undefined, 'the answer is already in the ledger')
  }
})

t.test('envelopes reach the ledger in arrival order, in shared batches', async (t) => {
  const held = heldVerify()
  const h = harness(t, makeWorld(), { verify: held.verify })
  const envelopes = [1, 2, 3, 4, 5].map((n) => h.k.cash.topup(UID.alice, n))
  for (const e of envelopes) h.send('cash-1', e)
  for (const i of [4, 3, 2, 1]) held.finish(i)
  await turn()
  await turn()
  t.same(h.replies, [], 'nothing is answered while the first check is still running')
  t.equal(h.world.ledger.kioskCursor('cash-1')?.nextSeq, 1, 'nothing is committed either')
  held.finish(0)
  await h.ingest.drain()
  t.same(
    h.replies.map((r) => r.message),
    envelopes.map((e, i) => ({ kind: 'result', id: e.tx.id, seq: i + 1, status: 'accepted', balance: ((i + 1) * (i + 2)) / 2 })),
  )
  t.equal(h.ingest.counters().batches, 1, 'five settled envelopes, one commit')
  t.equal(h.ingest.counters().gaps, 0)
})

t.test('maxBatch bounds the envelopes per commit', async (t) => {
  const held = heldVerify()
  const h = harness(t, makeWorld(), { verify: held.verify, maxBatch: 2 })
  for (const n of [1, 2, 3, 4, 5]) h.send('cash-1', h.k.cash.topup(UID.alice, n))
  for (const i of [0, 1, 2, 3, 4]) held.finish(i)
  await h.ingest.drain()
  t.equal(h.ingest.counters().batches, 3)
  t.equal(h.world.ledger.balanceOf(UID.alice), 15)
})

t.test('malformed payloads are counted, answered when addressable, and change nothing', async (t) => {
  const h = harness(t)
  const good = h.k.cash.topup(UID.alice, 100)
  const id = good.tx.id
  const withTx = (patch: Record<string, unknown>) => JSON.stringify({ ...good, tx: { ...good.tx, ...patch } })
  const cases: Array<[string, string | Buffer, boolean]> = [
    ['not JSON', 'this is not json', false],
    ['empty', '', false],
    ['binary garbage', Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x7b]), false],
    ['null', 'null', false],
    ['an array', '[]', false],
    ['a string', '"tx"', false],
    ['a huge number', '1e400', false],
    ['no signature', JSON.stringify({ tx: good.tx }), true],
    ['seq as a string', withTx({ seq: '1' }), false],
    ['fractional amount', withTx({ amount: 1.5 }), true],
    ['negative amount', withTx({ amount: -100 }), true],
    ['amount above the maximum', withTx({ amount: 1e20 }), true],
    ['unknown type', withTx({ type: 'refund' }), true],
    ['extra field', withTx({ note: 'hi' }), true],
    ['lower-case tag uid', withTx({ tag: { uid: '04a1b2c3d4e5f6', type: 'ntag215' } }), true],
    ['id not a uuid', withTx({ id: 'DROP TABLE transactions' }), false],
    ['seq zero', withTx({ seq: 0 }), false],
    ['too many lines', withTx({ lines: Array.from({ length: 101 }, () => beer) }), true],
    ['signature of the wrong length', JSON.stringify({ ...good, sig: 'AAAA' }), true],
    ['huge payload', JSON.stringify({ ...good, pad: 'x'.repeat(70_000) }), false],
    ['deeply nested arrays', '['.repeat(30_000) + ']'.repeat(30_000), false],
    ['deeply nested objects', '{"tx":'.repeat(6_000) + '1' + '}'.repeat(6_000), false],
    ['__proto__ at the top', JSON.stringify(good).replace('{"tx":', '{"__proto__":{"polluted":true},"tx":'), true],
    ['__proto__ inside tx', JSON.stringify(good).replace('{"tx":{', '{"tx":{"__proto__":{"polluted":true},'), true],
    ['constructor.prototype', JSON.stringify({ ...good, constructor: { prototype: { polluted: true } } }), true],
    // JSON.stringify writes a lone surrogate as the escape \ud800, which JSON.parse reads back as one.
    ['a lone surrogate in a line\'s product', withTx({ lines: [{ ...beer, product: 'beer\ud800' }] }), true],
    ['a lone surrogate in the tag type', withTx({ tag: { ...good.tx.tag, type: '\udfff' } }), true],
  ]
  for (const [, payload] of cases) t.doesNotThrow(() => h.ingest.submit('cash-1', payload))
  await h.ingest.drain()
  t.equal(h.ingest.counters().malformed, cases.length)
  const answered = cases.filter(([, , addressable]) => addressable).map(([name]) => name)
  t.equal(h.replies.length, answered.length, `answered: ${answered.join(', ')}`)
  for (const r of h.replies) t.same(r.message, { kind: 'result', id, seq: 1, status: 'rejected', reason: 'invalid_transaction' })
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is not polluted')
  t.ok(h.ledgerUntouched(), 'the ledger is unchanged')
  t.same(h.booked, [])

  // The real envelope still goes through afterwards.
  h.send('cash-1', good)
  await h.ingest.drain()
  t.match(h.replies.at(-1)?.message, { id, status: 'accepted', balance: 100 })
})

t.test('odd topic kiosk ids never throw', async (t) => {
  const h = harness(t)
  for (const kioskId of ['', '../../etc', 'x'.repeat(10_000), '\u0000', 'BAR-1']) {
    t.doesNotThrow(() => h.send(kioskId, h.k.bar.sale(UID.alice, [beer], { seq: 1 })))
    t.doesNotThrow(() => h.ingest.submit(kioskId, 'garbage'))
  }
  await h.ingest.drain()
  t.equal(h.ingest.counters().kioskMismatch, 5)
  for (const a of h.alerts) t.ok(validateAlert(a).ok, 'alerts stay within their schema')
  t.ok(h.ledgerUntouched())
})

t.test('a forged signature is refused, alerted, and changes nothing', async (t) => {
  const h = harness(t)
  const impostor = new SigningKiosk('cash-1', makeKioskKeys())
  const forged = impostor.topup(UID.alice, 100_000)
  const genuine = h.k.cash.topup(UID.alice, 100)
  const tampered: Envelope = { ...genuine, tx: { ...genuine.tx, amount: 100_000 } }
  h.send('cash-1', forged)
  h.send('cash-1', tampered)
  await h.ingest.drain()
  t.same(
    h.replies.map((r) => r.message),
    [
      { kind: 'result', id: forged.tx.id, seq: 1, status: 'rejected', reason: 'bad_signature' },
      { kind: 'result', id: genuine.tx.id, seq: 1, status: 'rejected', reason: 'bad_signature' },
    ],
  )
  t.equal(h.ingest.counters().badSignature, 2)
  t.equal(h.alerts.filter((a) => a.kind === 'bad_signature').length, 2)
  t.ok(h.ledgerUntouched())
  t.equal(h.world.ledger.transaction(genuine.tx.id), undefined, 'not recorded: the genuine envelope can still come')
  h.send('cash-1', genuine)
  await h.ingest.drain()
  t.match(h.replies.at(-1)?.message, { id: genuine.tx.id, status: 'accepted', balance: 100 })
})

t.test("an envelope on another kiosk's topic is refused and changes nothing", async (t) => {
  const h = harness(t)
  const envelope = h.k.bar.sale(UID.alice, [beer])
  h.send('food-1', envelope)
  await h.ingest.drain()
  t.same(h.replies.map((r) => [r.kioskId, r.message]), [['food-1', { kind: 'result', id: envelope.tx.id, seq: 1, status: 'rejected', reason: 'invalid_transaction' }]])
  t.equal(h.ingest.counters().kioskMismatch, 1)
  t.match(h.alerts, [{ kind: 'kiosk_mismatch', kiosk: 'food-1' }])
  t.ok(h.ledgerUntouched())
})

t.test('a kiosk that is unknown or not enrolled is refused', async (t) => {
  const db = openLedgerDatabase(':memory:')
  const ledger = createLedger({ db, clock: fixedClock(), logger: silentLogger })
  ledger.registry.importEventSetup(testSetup()) // no public keys
  const world: TestWorld = { db, ledger, clock: fixedClock(), kiosks: { bar: new SigningKiosk('bar-1'), cash: new SigningKiosk('cash-1'), food: new SigningKiosk('food-1') }, close: () => db.close() }
  const h = harness(t, world)
  h.send('cash-1', h.k.cash.topup(UID.alice, 100))
  h.send('ghost-7', new SigningKiosk('ghost-7').topup(UID.alice, 100))
  await h.ingest.drain()
  t.same(h.replies.map((r) => [r.kioskId, r.message.kind === 'result' && r.message.reason]), [
    ['cash-1', 'unknown_kiosk'],
    ['ghost-7', 'unknown_kiosk'],
  ])
  t.equal(h.ingest.counters().unknownKiosk, 2)
  t.ok(h.ledgerUntouched())
})

t.test('the same envelope twice: booked once, the same answer twice', async (t) => {
  const h = harness(t)
  const e = h.k.cash.topup(UID.alice, 300)
  h.send('cash-1', e)
  await h.ingest.drain()
  h.send('cash-1', e)
  h.send('cash-1', e)
  await h.ingest.drain()
  t.equal(h.replies.length, 3)
  t.same(h.replies[1]!.message, h.replies[0]!.message)
  t.same(h.replies[2]!.message, h.replies[0]!.message)
  t.equal(h.booked.length, 1, 'one booked event')
  t.match(h.ingest.counters(), { accepted: 1, replays: 2 })
  t.equal(h.world.ledger.balanceOf(UID.alice), 300)
})

t.test('a gap asks for a resend once, and the resend fills it', async (t) => {
  const h = harness(t, makeWorld(), { resendRepeatMs: 5_000 })
  const [e1, e2, e3, e4] = [1, 2, 3, 4].map((n) => h.k.cash.topup(UID.alice, n)) as [Envelope, Envelope, Envelope, Envelope]
  h.send('cash-1', e1)
  h.send('cash-1', e3)
  h.send('cash-1', e4)
  await h.ingest.drain()
  t.same(
    h.replies.map((r) => r.message),
    [
      { kind: 'result', id: e1.tx.id, seq: 1, status: 'accepted', balance: 1 },
      { kind: 'resend', fromSeq: 2 },
    ],
    'one resend request for two envelopes past the gap',
  )
  t.match(h.alerts, [{ kind: 'gap', kiosk: 'cash-1' }])
  t.equal(h.ingest.counters().gaps, 2)
  t.equal(h.world.ledger.transaction(e3.tx.id), undefined, 'nothing past the gap is recorded')

  h.world.clock.advance(5_000)
  h.send('cash-1', e4)
  await h.ingest.drain()
  t.same(h.replies.at(-1)?.message, { kind: 'resend', fromSeq: 2 }, 'asked again once the repeat interval passed')

  h.replies.length = 0
  for (const e of [e2, e3, e4]) h.send('cash-1', e)
  await h.ingest.drain()
  t.same(
    h.replies.map((r) => r.message.kind === 'result' && [r.message.seq, r.message.status]),
    [
      [2, 'accepted'],
      [3, 'accepted'],
      [4, 'accepted'],
    ],
  )
  t.equal(h.world.ledger.balanceOf(UID.alice), 10)

  // A new gap after the cursor moved on is asked for at once.
  const e5 = h.k.cash.topup(UID.alice, 5)
  const e6 = h.k.cash.topup(UID.alice, 6)
  h.send('cash-1', e6)
  await h.ingest.drain()
  t.same(h.replies.at(-1)?.message, { kind: 'resend', fromSeq: 5 })
  void e5
  t.same(h.world.ledger.checkInvariants(), [])
})

t.test('a broken chain is answered, announced and alerted', async (t) => {
  const h = harness(t)
  h.send('cash-1', h.k.cash.topup(UID.alice, 100))
  const broken = h.k.cash.topup(UID.alice, 100, { prev: 'e'.repeat(64) })
  h.send('cash-1', broken)
  await h.ingest.drain()
  t.match(h.replies.at(-1)?.message, { id: broken.tx.id, status: 'rejected', reason: 'chain_mismatch' })
  t.match(h.booked.at(-1), { id: broken.tx.id, status: 'rejected', reason: 'chain_mismatch' })
  t.match(h.alerts, [{ kind: 'chain_mismatch', kiosk: 'cash-1' }])
})

t.test('a failed commit answers nothing; the resend is booked', async (t) => {
  // Held checks, finished together, so both envelopes share one commit.
  const held = heldVerify()
  const h = harness(t, makeWorld(), { verify: held.verify })
  h.world.db.exec(`CREATE TRIGGER fail_777 BEFORE INSERT ON postings WHEN NEW.amount = 777 BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`)
  const a = h.k.cash.topup(UID.alice, 100)
  const b = h.k.cash.topup(UID.alice, 777)
  h.send('cash-1', a)
  h.send('cash-1', b)
  held.finish(0)
  held.finish(1)
  await h.ingest.drain()
  t.same(h.replies, [])
  t.equal(h.ingest.counters().commitErrors, 1)
  t.match(h.alerts, [{ kind: 'commit_failed' }])
  t.ok(h.ledgerUntouched())
  h.world.db.exec(`DROP TRIGGER fail_777`)
  h.send('cash-1', a)
  h.send('cash-1', b)
  held.finish(2)
  held.finish(3)
  await h.ingest.drain()
  t.same(h.replies.map((r) => r.message.kind === 'result' && r.message.status), ['accepted', 'accepted'])
})

t.test('failing publishers and signature checks do not stop ingest', async (t) => {
  let calls = 0
  const h = harness(t, makeWorld(), {
    publishReply: () => {
      calls++
      if (calls === 1) throw new Error('broker gone')
      return Promise.reject(new Error('broker still gone'))
    },
    publishEvent: () => Promise.reject(new Error('no events either')),
  })
  h.send('cash-1', h.k.cash.topup(UID.alice, 100))
  h.send('cash-1', h.k.cash.topup(UID.alice, 100))
  await h.ingest.drain()
  await turn()
  t.equal(h.world.ledger.balanceOf(UID.alice), 200, 'booked although the answers could not be sent')
  t.equal(h.ingest.counters().publishErrors, 4)

  const h2 = harness(t, makeWorld(), { verify: () => Promise.reject(new Error('thread pool on fire')) })
  h2.send('cash-1', h2.k.cash.topup(UID.alice, 100))
  await h2.ingest.drain()
  t.match(h2.replies.map((r) => r.message), [{ status: 'rejected', reason: 'bad_signature' }], 'an unverifiable envelope is never booked')
  t.ok(h2.ledgerUntouched())
})

t.test('a full queue drops new messages instead of growing', async (t) => {
  const held = heldVerify()
  const h = harness(t, makeWorld(), { verify: held.verify, maxQueued: 2 })
  for (const n of [1, 2, 3]) h.send('cash-1', h.k.cash.topup(UID.alice, n))
  t.equal(held.pending.length, 2)
  t.equal(h.ingest.counters().dropped, 1)
  held.finish(0)
  held.finish(1)
  await h.ingest.drain()
  t.equal(h.world.ledger.balanceOf(UID.alice), 3)
})

t.test('the observer hears every answer (with its queueing time), every commit and every drop; a throwing observer changes nothing', async (t) => {
  const observations: IngestObservation[] = []
  let monotonic = 0
  const held = heldVerify()
  const world = makeWorld()
  const h = harness(t, world, {
    verify: held.verify,
    maxQueued: 3,
    monotonicNowMs: () => (monotonic += 7),
    observe(o) {
      observations.push(o)
      throw new Error('observer bug')
    },
  })
  const topup = h.k.cash.topup(UID.alice, 2000)
  h.send('cash-1', topup)
  h.send('bar-1', h.k.bar.sale(UID.alice, [beer]))
  h.send('bar-1', { tx: { id: '0190a3f0-0000-7000-8000-000000000001', seq: 9 } })
  h.send('cash-1', h.k.cash.topup(UID.alice, 1))
  t.same(observations, [{ kind: 'dropped', kioskId: 'cash-1' }], 'the fourth message finds the queue full')
  world.clock.advance(40)
  held.finish(0)
  held.finish(1)
  await h.ingest.drain()
  h.send('cash-1', topup)
  held.finish(2)
  await h.ingest.drain()
  t.same(observations.slice(1), [
    { kind: 'committed', size: 2, commitMs: 7 },
    { kind: 'answered', kioskId: 'cash-1', txType: 'topup_cash', offline: false, status: 'accepted', replay: false, queuedMs: 40 },
    { kind: 'answered', kioskId: 'bar-1', txType: 'sale', offline: false, status: 'accepted', replay: false, queuedMs: 40 },
    { kind: 'answered', kioskId: 'bar-1', offline: false, status: 'rejected', reason: 'invalid_transaction', replay: false, queuedMs: 40 },
    { kind: 'committed', size: 1, commitMs: 7 },
    { kind: 'answered', kioskId: 'cash-1', txType: 'topup_cash', offline: false, status: 'accepted', replay: true, queuedMs: 0 },
  ])
  t.equal(h.world.ledger.balanceOf(UID.alice), 1550, 'the observer threw every time; ingest booked and answered all the same')
  t.equal(h.replies.length, 4)
})

t.test('settled() resolves once the batch holding the messages before it is committed, without waiting for later ones', async (t) => {
  const held = heldVerify()
  const h = harness(t, makeWorld(), { verify: held.verify })
  const seen: string[] = []
  const note = (what: string) => () => void seen.push(`${what} at nextSeq ${h.world.ledger.kioskCursor('cash-1')?.nextSeq}`)
  void h.ingest.settled().then(note('nothing submitted'))
  h.send('cash-1', h.k.cash.topup(UID.alice, 100))
  void h.ingest.settled().then(note('first'))
  h.send('cash-1', h.k.cash.topup(UID.alice, 200))
  void h.ingest.settled().then(note('second'))
  void h.ingest.drain().then(note('drain'))
  held.finish(0)
  await turn()
  await turn()
  t.same(seen, ['nothing submitted at nextSeq 1', 'first at nextSeq 2'], "the first one's commit settles it; the second is still being checked")
  held.finish(1)
  await h.ingest.drain()
  t.same(seen.slice(2).sort(), ['drain at nextSeq 3', 'second at nextSeq 3'])

  // A failed commit settles its messages too: nothing is answered and the kiosk sends them again.
  h.world.db.exec(`CREATE TRIGGER fail_777 BEFORE INSERT ON postings WHEN NEW.amount = 777 BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`)
  h.send('cash-1', h.k.cash.topup(UID.alice, 777))
  const failed = h.ingest.settled().then(() => 'settled')
  held.finish(2)
  t.equal(await failed, 'settled')
  t.equal(h.ingest.counters().commitErrors, 1)
})
