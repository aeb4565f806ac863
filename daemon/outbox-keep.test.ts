// The outbox keeps answered envelopes, exactly as signed, for a gateway
// restored from a backup (OutboxOptions.keepAnswered): a count and an age,
// whichever keeps more, within a byte budget, oldest first out.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { generateKeyPairSync } from 'node:crypto'
import { v7 as uuidv7 } from 'uuid'
import { signTransaction, type Envelope } from '../device-protocol/index.js'
import { DEFAULT_KEEP_ANSWERED, createOutbox, type KeepAnswered, type Outbox } from './outbox.js'

const { privateKey } = generateKeyPairSync('ed25519')

function manualClock(startMs = 1_700_000_000_000) {
  let now = startMs
  return { now: () => now, advance: (ms: number) => void (now += ms) }
}
type ManualClock = ReturnType<typeof manualClock>

function builder(clock: ManualClock, amount = 250) {
  return (seq: number, prev: string): Envelope =>
    signTransaction(
      { v: 1, id: uuidv7(), kiosk: 'bar-1', seq, prev, type: 'sale', tag: { uid: '04A1B2C3', type: 'ntag215' }, lines: [{ product: 'beer', qty: 1, unitPrice: amount }], amount, at: clock.now() },
      privateKey,
    )
}

function open(t: Test, clock: ManualClock, keepAnswered?: KeepAnswered, path = join(t.testdir(), 'o.sqlite'), historySize?: number): Outbox {
  const outbox = createOutbox({ path, maxEntries: 100, clock, ...(keepAnswered ? { keepAnswered } : {}), ...(historySize === undefined ? {} : { historySize }) })
  t.teardown(() => outbox.close())
  return outbox
}

/** Appends and answers `n` sales; returns their envelopes. */
function sell(outbox: Outbox, clock: ManualClock, n: number): Envelope[] {
  return Array.from({ length: n }, () => {
    const entry = outbox.append(builder(clock))
    outbox.markAnswered(entry.id, { status: 'accepted', balance: 100 })
    return entry.envelope
  })
}

const keptSeqs = (outbox: Outbox) => outbox.keptAnswered().map((e) => e.seq)

t.test('answered envelopes are kept as they were stored, with their answer; refusals the gateway did not record are not', async (t) => {
  const clock = manualClock()
  const outbox = open(t, clock, undefined, undefined, 0)
  const a = outbox.append(builder(clock))
  const b = outbox.append(builder(clock))
  const c = outbox.append(builder(clock))
  const stored = (id: string) => (outbox.database.prepare('SELECT envelope FROM pending WHERE id = ?').get(id) as { envelope: string }).envelope
  const bytesOfA = stored(a.id)
  const bytesOfB = stored(b.id)
  outbox.markAnswered(a.id, { status: 'accepted', balance: 750 })
  outbox.markAnswered(b.id, { status: 'rejected', reason: 'insufficient_balance', balance: 20 })
  outbox.markAnswered(c.id, { status: 'rejected', reason: 'unknown_kiosk' })
  t.same(keptSeqs(outbox), [1, 2], 'an accepted and a recorded refusal; unknown_kiosk voids its seq')
  const [keptA, keptB] = outbox.keptAnswered()
  t.same(keptA!.envelope, a.envelope)
  t.equal((outbox.database.prepare('SELECT envelope FROM answered_envelopes WHERE seq = 1').get() as { envelope: string }).envelope, bytesOfA, 'byte for byte what was stored and sent')
  t.same(keptB!.envelope, b.envelope)
  t.same(outbox.keptAnswered({ fromSeq: 2 }).map((e) => e.id), [b.id])
  t.same(outbox.keptTotals(), { count: 2, bytes: Buffer.byteLength(bytesOfA) + Buffer.byteLength(bytesOfB), firstSeq: 1 })

  // historySize 0: the answer history keeps nothing, the kept envelopes still tell an answered seq and a repeated answer.
  t.equal(outbox.answered(a.id), undefined)
  t.equal(outbox.answeredSeq(1), true)
  t.equal(outbox.answeredSeq(3), false, 'a void seq is not answered')
  t.match(outbox.markAnswered(a.id, { status: 'rejected', reason: 'unknown_tag' }), { outcome: 'duplicate', record: { status: 'accepted', balance: 750, seq: 1 } }, 'the first answer stands')
  t.same(keptA!.envelope, outbox.keptAnswered()[0]!.envelope, 'a repeated answer changes nothing kept')
})

t.test('by count and by age, whichever keeps more: an envelope goes only when it is beyond both', async (t) => {
  const clock = manualClock()
  const outbox = open(t, clock, { count: 3, maxAgeMs: 60_000, maxBytes: 1_000_000 })
  sell(outbox, clock, 5)
  t.same(keptSeqs(outbox), [1, 2, 3, 4, 5], 'beyond the count, but all younger than the age: all kept')
  clock.advance(61_000)
  sell(outbox, clock, 1)
  t.same(keptSeqs(outbox), [4, 5, 6], 'older than the age: only the newest 3 stay')
  clock.advance(61_000)
  t.same(keptSeqs(outbox), [4, 5, 6], 'nothing goes without an answer (pruning runs with each answer)')
  sell(outbox, clock, 1)
  t.same(keptSeqs(outbox), [5, 6, 7], 'the count keeps old ones')
  t.equal(outbox.head().nextSeq, 8, 'pruning never touches the chain head')

  const byAge = open(t, clock, { count: 0, maxAgeMs: 60_000, maxBytes: 1_000_000 }, join(t.testdir(), 'age.sqlite'))
  sell(byAge, clock, 2)
  clock.advance(30_000)
  sell(byAge, clock, 1)
  clock.advance(31_000)
  sell(byAge, clock, 1)
  t.same(keptSeqs(byAge), [3, 4], 'count 0: the last minute only')
})

t.test('the byte budget bounds what is kept, oldest first out, whatever the count and age say', async (t) => {
  const clock = manualClock()
  const probe = open(t, clock, { count: 0, maxAgeMs: 0, maxBytes: 1_000_000 }, join(t.testdir(), 'probe.sqlite'))
  sell(probe, clock, 1)
  const oneEnvelope = probe.keptTotals().bytes
  t.ok(oneEnvelope > 300 && oneEnvelope < 1_000, `an envelope takes ${oneEnvelope} bytes`)

  const outbox = open(t, clock, { count: 1_000, maxAgeMs: 3_600_000, maxBytes: Math.floor(oneEnvelope * 2.5) })
  sell(outbox, clock, 5)
  t.same(keptSeqs(outbox), [4, 5])
  t.ok(outbox.keptTotals().bytes <= oneEnvelope * 2.5)
  t.equal(outbox.keptTotals().count, 2)

  const none = open(t, clock, { count: 0, maxAgeMs: 0, maxBytes: 0 }, join(t.testdir(), 'none.sqlite'))
  sell(none, clock, 3)
  t.same(none.keptTotals(), { count: 0, bytes: 0, firstSeq: undefined }, 'zeros keep nothing (the behaviour before envelopes were kept)')
})

t.test('smaller settings take effect when the outbox is opened again', async (t) => {
  const clock = manualClock()
  const path = join(t.testdir(), 'o.sqlite')
  const first = createOutbox({ path, maxEntries: 100, clock })
  sell(first, clock, 6)
  t.same(keptSeqs(first), [1, 2, 3, 4, 5, 6])
  first.close()
  clock.advance(DEFAULT_KEEP_ANSWERED.maxAgeMs + 1)
  const reopened = open(t, clock, { ...DEFAULT_KEEP_ANSWERED, count: 2 }, path)
  t.same(keptSeqs(reopened), [5, 6])
})

t.test('a rebase drops kept envelopes from the gateway head on: the chain goes on from there without them', async (t) => {
  const clock = manualClock()
  const outbox = open(t, clock)
  const envelopes = sell(outbox, clock, 4)
  const resign = (entry: { envelope: Envelope }, seq: number, prev: string) => signTransaction({ ...entry.envelope.tx, seq, prev }, privateKey)
  outbox.rebase({ nextSeq: 3, lastHash: 'f'.repeat(64) }, resign)
  t.same(keptSeqs(outbox), [1, 2])
  t.same(outbox.keptAnswered()[1]!.envelope, envelopes[1])
  t.same(outbox.keptTotals().count, 2, 'the totals follow every delete')
})
