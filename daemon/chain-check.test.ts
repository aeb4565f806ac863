import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { v7 as uuidv7 } from 'uuid'
import { GENESIS_HASH, envelopeHash, signTransaction, type Envelope } from '../device-protocol/index.js'
import { assessChain, assessEnrollment, isUnrecordedRefusal, planGatewayResend, planRebase, type ChainEntry } from './chain-check.js'

const { privateKey } = generateKeyPairSync('ed25519')

/** A chain of `n` signed entries from seq 1, as an outbox holds them. */
function chain(n: number): ChainEntry[] {
  const entries: ChainEntry[] = []
  let prev = GENESIS_HASH
  for (let seq = 1; seq <= n; seq++) {
    const envelope: Envelope = signTransaction({ v: 1, id: uuidv7(), kiosk: 'bar-1', seq, prev, type: 'topup_cash', tag: { uid: '04A1B2C3', type: 'ntag215' }, lines: [], amount: 100, at: 1_000 + seq }, privateKey)
    entries.push({ seq, id: envelope.tx.id, envelope })
    prev = envelopeHash(envelope)
  }
  return entries
}
const headAfter = (entries: ChainEntry[], n: number) => ({ nextSeq: n + 1, prev: n === 0 ? GENESIS_HASH : envelopeHash(entries[n - 1]!.envelope) })
const gatewayAfter = (entries: ChainEntry[], n: number) => ({ nextSeq: n + 1, lastHash: n === 0 ? GENESIS_HASH : envelopeHash(entries[n - 1]!.envelope) })
const never = () => false

t.test('an intact chain: the same head, or unanswered entries that chain from the gateway head', async (t) => {
  const c = chain(6)
  t.same(assessChain(headAfter(c, 6), gatewayAfter(c, 6), [], never), { kind: 'intact' })
  t.same(assessChain(headAfter(c, 6), gatewayAfter(c, 3), c.slice(3), never), { kind: 'intact' }, 'seq 4..6 wait for answers')
  t.same(assessChain(headAfter(c, 6), gatewayAfter(c, 3), c.slice(1), never), { kind: 'intact' }, 'entries below the head (answers on their way) do not matter')
  t.same(assessChain(headAfter(c, 0), gatewayAfter(c, 0), [], never), { kind: 'intact' }, 'a new kiosk')
})

t.test('damage: behind, diverged, entries missing', async (t) => {
  const c = chain(6)
  const other = chain(6)
  t.match(assessChain(headAfter(c, 0), gatewayAfter(c, 6), [], never), { kind: 'damaged', reason: 'behind', localNextSeq: 1, gatewayNextSeq: 7 }, 'emptied outbox')
  t.match(assessChain(headAfter(c, 4), gatewayAfter(c, 6), c.slice(2, 4), never), { kind: 'damaged', reason: 'behind' }, 'rolled back')
  t.match(assessChain(headAfter(other, 6), gatewayAfter(c, 6), [], never), { kind: 'damaged', reason: 'diverged' }, 'same seq, another hash')
  t.match(assessChain(headAfter(other, 6), gatewayAfter(c, 3), other.slice(3), never), { kind: 'damaged', reason: 'diverged', missing: 0 }, 'entries ahead that do not chain from the gateway head')
  t.match(assessChain(headAfter(c, 6), gatewayAfter(c, 3), [c[4]!, c[5]!], never), { kind: 'damaged', reason: 'entries_missing', missing: 1 }, 'seq 4 deleted')
  t.match(assessChain(headAfter(c, 6), gatewayAfter(c, 3), [c[3]!, c[4]!], never), { kind: 'damaged', reason: 'entries_missing', missing: 1 }, 'the last one deleted')
  t.same(assessChain(headAfter(c, 6), gatewayAfter(c, 3), [], (seq) => seq <= 6), { kind: 'gateway_behind', gatewayNextSeq: 4 }, 'answered here, missing there: the gateway lost them')
})

t.test('planRebase keeps what chains from the gateway head and re-signs the rest on the next seqs', async (t) => {
  const c = chain(8)
  const plan = planRebase(gatewayAfter(c, 3), [c[1]!, c[3]!, c[4]!, c[6]!, c[7]!])
  t.same(plan.keep.map((e) => e.seq), [4, 5], 'seq 2 is below the head: left alone; 4 and 5 chain')
  t.same(plan.resign.map(({ entry, seq }) => [entry.seq, seq]), [[7, 6], [8, 7]], 'after the hole at 6, 7 and 8 move down')
  t.equal(plan.nextSeq, 8)
  t.equal(plan.lastKeptHash, envelopeHash(c[4]!.envelope))

  const empty = planRebase(gatewayAfter(c, 8), [])
  t.same({ keep: empty.keep, resign: empty.resign, nextSeq: empty.nextSeq, lastKeptHash: empty.lastKeptHash }, { keep: [], resign: [], nextSeq: 9, lastKeptHash: envelopeHash(c[7]!.envelope) }, 'an emptied outbox goes on from the gateway head')
})

t.test('seqs refused unrecorded (unknown_kiosk, bad_signature) are void: the kiosk re-anchors on the gateway head only when nothing else lies between', async (t) => {
  const c = chain(4)
  const voidUpTo = (n: number) => (seq: number) => seq <= n
  t.same(assessChain(headAfter(c, 2), gatewayAfter(c, 0), [], never, voidUpTo(2)), { kind: 're_anchor', gatewayNextSeq: 1, voided: 2 }, 'two sales refused before enrollment, nothing booked')
  t.same(assessChain(headAfter(c, 4), gatewayAfter(c, 0), c.slice(2), never, voidUpTo(2)), { kind: 're_anchor', gatewayNextSeq: 1, voided: 2 }, 'entries signed after them wait: they are signed again from seq 1')
  t.same(assessChain(headAfter(c, 4), gatewayAfter(c, 2), [], never, (seq) => seq === 3 || seq === 4), { kind: 're_anchor', gatewayNextSeq: 3, voided: 2 }, 'refused after another key was enrolled, on top of booked ones')

  // Never a way past a real gap.
  t.match(assessChain(headAfter(c, 4), gatewayAfter(c, 0), [c[3]!], never, voidUpTo(2)), { kind: 'damaged', reason: 'entries_missing', missing: 1 }, 'seq 3 lost from the outbox: an operator decides, void seqs or not')
  t.match(assessChain(headAfter(c, 4), gatewayAfter(c, 2), [], (seq) => seq === 4, (seq) => seq === 3), { kind: 'damaged', missing: 1 }, 'an answer the gateway recorded (and no longer has) is not void')
  t.same(assessChain(headAfter(c, 2), gatewayAfter(c, 0), [], (seq) => seq <= 2, voidUpTo(2)), { kind: 'gateway_behind', gatewayNextSeq: 1 }, 'a seq with a recorded answer is the gateway\'s loss, never re-anchored over')
  t.same(assessChain(headAfter(c, 4), gatewayAfter(c, 4), [], never, voidUpTo(4)), { kind: 'intact' }, 'void seqs below the gateway head do not matter')
})

t.test('which refusals are unrecorded, and what a chain answer says about enrollment', async (t) => {
  t.equal(isUnrecordedRefusal({ status: 'rejected', reason: 'unknown_kiosk' }), true)
  t.equal(isUnrecordedRefusal({ status: 'rejected', reason: 'bad_signature' }), true)
  for (const reason of ['insufficient_balance', 'seq_conflict', 'chain_mismatch', 'invalid_transaction', undefined]) t.equal(isUnrecordedRefusal({ status: 'rejected', reason }), false, `${reason} is recorded or handled otherwise`)
  t.equal(isUnrecordedRefusal({ status: 'accepted', reason: 'unknown_kiosk' }), false)
  const mine = 'A'.repeat(43)
  t.equal(assessEnrollment(mine, mine), 'enrolled')
  t.equal(assessEnrollment(mine, null), 'not_enrolled')
  t.equal(assessEnrollment(mine, 'B'.repeat(43)), 'other_key')
  t.equal(assessEnrollment(mine, undefined), 'unknown', 'an older gateway does not say')
})

t.test('a gateway behind (restored from a backup) is sent everything from its head on, kept answered envelopes first, in order and unchanged', async (t) => {
  const c = chain(7)
  // Answered 1..5 (kept from seq 2 on), 6 and 7 unanswered; the restored gateway ends after seq 2.
  const kept = c.slice(1, 5)
  const pending = c.slice(5)
  const head = headAfter(c, 7)
  t.same(assessChain(head, gatewayAfter(c, 2), pending, (seq) => seq <= 5), { kind: 'gateway_behind', gatewayNextSeq: 3 }, 'the check says where the gateway ends')
  const plan = planGatewayResend(3, head.nextSeq, kept, pending, gatewayAfter(c, 2).lastHash)
  t.same(plan, { kind: 'resend', entries: c.slice(2, 7) }, 'seqs 3, 4, 5 as kept, then 6 and 7: the same envelopes, nothing signed again')
  t.same(planGatewayResend(4, head.nextSeq, [...kept].reverse(), pending), { kind: 'resend', entries: c.slice(3, 7) }, 'a resend request from seq 4 (no hash to check): from there on, in seq order')
  t.same(planGatewayResend(8, head.nextSeq, kept, pending), { kind: 'resend', entries: [] }, 'nothing this kiosk made')
  t.same(planGatewayResend(6, head.nextSeq, kept, pending), { kind: 'resend', entries: c.slice(5, 7) }, 'only unanswered ones: the usual resend')
})

t.test('a gateway behind what the kiosk still keeps: the missing seqs are named, nothing of the range is sent', async (t) => {
  const c = chain(7)
  const head = headAfter(c, 7)
  // Kept from seq 5 on only (older ones pruned); the gateway ends after seq 2.
  t.same(planGatewayResend(3, head.nextSeq, c.slice(4, 5), c.slice(5), gatewayAfter(c, 2).lastHash), { kind: 'unrecoverable', why: 'pruned', missingFromSeq: 3, missingToSeq: 4 })
  t.same(planGatewayResend(3, head.nextSeq, [], [], gatewayAfter(c, 2).lastHash), { kind: 'unrecoverable', why: 'pruned', missingFromSeq: 3, missingToSeq: 7 }, 'nothing kept at all')
  t.same(planGatewayResend(3, head.nextSeq, [c[2]!, c[4]!], [c[5]!, c[6]!]), { kind: 'unrecoverable', why: 'pruned', missingFromSeq: 4, missingToSeq: 4 }, 'a hole')
  const other = chain(7)
  t.same(planGatewayResend(3, head.nextSeq, c.slice(2, 5), c.slice(5), gatewayAfter(other, 2).lastHash), { kind: 'unrecoverable', why: 'not_chained', missingFromSeq: 3, missingToSeq: 7 }, 'kept envelopes that do not chain from the gateway\'s last one are never sent')
})
