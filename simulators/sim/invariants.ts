// What must hold in the simulation, checked from outside the ledger: from the
// envelopes the kiosks stored and the answers they showed, against what the
// ledger says. A broken store or ingest can fool its own checks; these
// recompute what they can (chains, balances, doubles) themselves.
import { GENESIS_HASH, envelopeHash, type Envelope } from '../../device-protocol/index.js'
import type { Ledger, TransactionRecord } from '../../gateway/ledger/index.js'
import type { Outbox } from '../../daemon/outbox.js'
import type { Shown } from './kiosk-node.js'
import { SIM_WRISTBANDS } from './event.js'

/** Refusals the gateway answers without recording (daemon/chain-check.ts UNRECORDED_REASONS, and the malformed). */
const UNRECORDED = new Set(['unknown_kiosk', 'bad_signature', 'invalid_transaction', 'seq_conflict'])

export interface Observed {
  /** Every id a kiosk stored, with its latest envelope (an id signed again moves to another seq). */
  stored: Map<string, { kiosk: string; envelope: Envelope }>
  shown: Shown[]
  outboxes: Map<string, Outbox>
}

/** A violation: `kind` names which promise broke (the shrinker keeps to one kind). */
export interface Violation {
  kind: 'ledger' | 'booked_twice' | 'chain' | 'balance' | 'debt' | 'answer' | 'lost' | 'audit' | 'stuck'
  message: string
}

const v = (kind: Violation['kind'], message: string): Violation => ({ kind, message })

/** The safety invariants: they hold after every step, faults or not. */
export function checkSafety(ledger: Ledger, observed: Observed): Violation[] {
  const found: Violation[] = []
  for (const message of ledger.checkInvariants()) found.push(v('ledger', `ledger.checkInvariants: ${message}`))
  const total = ledger.sumOfAllBalances()
  if (total !== 0) found.push(v('ledger', `all balances sum to ${total}, not 0`))

  const records = new Map<string, TransactionRecord>()
  const byKiosk = new Map<string, Map<number, TransactionRecord>>()
  for (const [id, { kiosk }] of observed.stored) {
    const record = ledger.transaction(id)
    if (!record) continue
    records.set(id, record)
    if (record.kiosk !== kiosk) found.push(v('chain', `transaction ${id} of ${kiosk} is booked for kiosk ${record.kiosk}`))
    const seqs = byKiosk.get(record.kiosk) ?? new Map<number, TransactionRecord>()
    byKiosk.set(record.kiosk, seqs)
    const other = seqs.get(record.seq)
    if (other) found.push(v('booked_twice', `kiosk ${record.kiosk} seq ${record.seq} is booked for two ids (${other.id}, ${id})`))
    seqs.set(record.seq, record)
    const sum = record.postings.reduce((s, p) => s + p.amount, 0)
    if (sum !== 0) found.push(v('ledger', `the postings of ${id} sum to ${sum}`))
    if (record.status === 'accepted' && record.postings.length === 0) found.push(v('ledger', `accepted ${id} has no postings`))
  }
  const stats = ledger.stats()
  if (stats.accepted + stats.rejected !== records.size) {
    found.push(v('booked_twice', `the ledger holds ${stats.accepted + stats.rejected} kiosk transactions, the kiosks stored ${records.size} of them`))
  }

  // Every kiosk's chain: seqs 1..nextSeq-1 booked, each prev the hash of the one before, the cursor on the last.
  for (const kioskId of observed.outboxes.keys()) {
    const cursor = ledger.kioskCursor(kioskId)
    const seqs = byKiosk.get(kioskId) ?? new Map<number, TransactionRecord>()
    if (!cursor) {
      if (seqs.size > 0) found.push(v('chain', `kiosk ${kioskId} has bookings but no cursor`))
      continue
    }
    let prev = GENESIS_HASH
    for (let seq = 1; seq < cursor.nextSeq; seq++) {
      const record = seqs.get(seq)
      if (!record) {
        found.push(v('chain', `kiosk ${kioskId}: the cursor is at ${cursor.nextSeq} but seq ${seq} is not booked`))
        break
      }
      if (record.envelope.tx.prev !== prev) found.push(v('chain', `kiosk ${kioskId} seq ${seq}: prev is not the hash of seq ${seq - 1}`))
      if (record.reason === 'chain_mismatch') found.push(v('chain', `kiosk ${kioskId} seq ${seq} was booked as chain_mismatch`))
      prev = envelopeHash(record.envelope)
    }
    for (const seq of seqs.keys()) if (seq >= cursor.nextSeq) found.push(v('chain', `kiosk ${kioskId}: seq ${seq} is booked beyond the cursor ${cursor.nextSeq}`))
    if (seqs.size === cursor.nextSeq - 1 && cursor.lastHash !== prev) found.push(v('chain', `kiosk ${kioskId}: the cursor's last hash is not that of seq ${cursor.nextSeq - 1}`))
  }

  // Balances from the bookings (sales take, top-ups give; this event has no vouchers or deposits), and debts only from offline sales.
  const model = new Map<string, number>()
  const offlineSales = new Set<string>()
  for (const record of records.values()) {
    if (record.status !== 'accepted') continue
    const tx = record.envelope.tx
    const delta = tx.type === 'topup_cash' ? tx.amount : tx.type === 'sale' ? -tx.amount : 0
    model.set(tx.tag.uid, (model.get(tx.tag.uid) ?? 0) + delta)
    if (tx.type === 'sale' && tx.offline) offlineSales.add(tx.tag.uid)
    if (tx.type === 'sale' && !tx.offline && (record.balanceAfter ?? 0) < 0) found.push(v('debt', `online sale ${record.id} took ${tx.tag.uid} below zero (${record.balanceAfter})`))
  }
  for (const uid of SIM_WRISTBANDS) {
    const balance = ledger.balanceOf(uid) ?? 0
    const expected = model.get(uid) ?? 0
    if (balance !== expected) found.push(v('balance', `wristband ${uid} holds ${balance}, its bookings add up to ${expected}`))
    if (balance < 0 && !offlineSales.has(uid)) found.push(v('debt', `wristband ${uid} is at ${balance} without an offline sale`))
  }

  // What the cashiers were shown, and what the outboxes recorded as answered (late answers too), is what the ledger says.
  for (const shown of observed.shown) {
    const outcome = shown.outcome
    if (!outcome || (outcome.status !== 'accepted' && outcome.status !== 'rejected')) continue
    const record = records.get(outcome.id)
    if (!record) {
      if (outcome.status === 'rejected' && UNRECORDED.has(outcome.reason ?? '')) continue
      found.push(v('answer', `${shown.kiosk} showed ${outcome.status} for ${outcome.id} (seq ${outcome.seq}), the ledger has no such booking`))
      continue
    }
    if (record.status !== outcome.status || (record.reason ?? undefined) !== (outcome.reason ?? undefined)) {
      found.push(v('answer', `${shown.kiosk} showed ${outcome.status}${outcome.reason ? ` (${outcome.reason})` : ''} for ${outcome.id}, the ledger booked ${record.status}${record.reason ? ` (${record.reason})` : ''}`))
    }
    if (outcome.status === 'accepted' && outcome.balance !== undefined && record.balanceAfter !== undefined && outcome.balance !== record.balanceAfter) {
      found.push(v('answer', `${shown.kiosk} showed balance ${outcome.balance} after ${outcome.id}, the ledger ${record.balanceAfter}`))
    }
  }
  for (const [id, { kiosk }] of observed.stored) {
    const answered = observed.outboxes.get(kiosk)?.answered(id)
    if (!answered) continue
    const record = records.get(id)
    if (!record) {
      if (answered.status === 'rejected' && UNRECORDED.has(answered.reason ?? '')) continue
      found.push(v('answer', `${kiosk}'s outbox recorded ${answered.status} for ${id}, the ledger has no such booking`))
    } else if (record.status !== answered.status) {
      found.push(v('answer', `${kiosk}'s outbox recorded ${answered.status} for ${id}, the ledger booked ${record.status}`))
    }
  }
  return found
}

/** Once the faults have stopped and the run drained: nothing a kiosk stored is missing, and every chain ends where its kiosk's does. */
export function checkDrained(ledger: Ledger, observed: Observed): Violation[] {
  const found: Violation[] = []
  for (const [id, { kiosk, envelope }] of observed.stored) {
    if (ledger.transaction(id)) continue
    const answered = observed.outboxes.get(kiosk)?.answered(id)
    if (answered?.status === 'rejected' && UNRECORDED.has(answered.reason ?? '')) continue
    found.push(v('lost', `${kiosk} stored ${id} (seq ${envelope.tx.seq}, ${envelope.tx.type} ${envelope.tx.amount}) and the ledger never booked it`))
  }
  for (const [kioskId, outbox] of observed.outboxes) {
    const depth = outbox.depth()
    if (depth > 0) found.push(v('lost', `${kioskId}'s outbox still holds ${depth} unanswered transactions`))
    const head = outbox.head()
    const cursor = ledger.kioskCursor(kioskId)
    if (cursor && (cursor.nextSeq !== head.nextSeq || cursor.lastHash !== head.prev)) {
      found.push(v('chain', `${kioskId} would sign seq ${head.nextSeq}, the ledger expects ${cursor.nextSeq}${cursor.nextSeq === head.nextSeq ? ' on another hash' : ''}`))
    }
  }
  return found
}
