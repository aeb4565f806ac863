import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { v7 as uuidv7 } from 'uuid'
import { GENESIS_HASH, envelopeHash, signTransaction, type Envelope } from '../device-protocol/index.js'
import { assessChain, planRebase, type ChainEntry } from './chain-check.js'

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
