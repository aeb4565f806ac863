// Pure decisions about the kiosk's chain against what the gateway booked.
//
// A kiosk's outbox can be damaged without SQLite noticing: truncated to 0
// bytes or its WAL deleted after a crash, it opens empty with seq 1; a damaged
// WAL is cut at the first bad frame, an older state. Only the gateway knows
// where the chain really ends, so after every start the kiosk asks it
// (ChainQuery/ChainAnswer) and compares with assessChain(). When they differ,
// planRebase() says how to go on from the gateway's head without booking
// anything twice: entries the gateway may already hold (seq below its head)
// stay as they are (a resent id gets its first answer), entries ahead of it
// that still chain from it stay, and the rest are signed again, same id and
// content, on the next free seqs (the gateway has never seen those ids).
//
// Refusals the gateway answers without recording (unknown_kiosk: no key
// enrolled; bad_signature: another key enrolled) do not move its cursor. An
// entry so refused was shown as refused and is never sent again: its seq is
// void. When the only seqs between the gateway's head and the kiosk's are void
// or still unanswered, the kiosk re-anchors on the gateway's head by itself
// (assessChain's 're_anchor'): nothing of it was ever booked, nothing is lost.
// Any other difference (a seq lost from the outbox, an answer the gateway no
// longer has) stays damage for an operator: a real gap is never skipped.
import { envelopeHash, type Envelope, type RejectReason } from '../device-protocol/index.js'

/** Refusals the gateway answers before its ledger sees the transaction: its sequence does not move (gateway/ingest.ts). */
export const UNRECORDED_REASONS: readonly RejectReason[] = ['unknown_kiosk', 'bad_signature']

export const isUnrecordedRefusal = (result: { status: string; reason?: string | undefined }): boolean =>
  result.status === 'rejected' && (UNRECORDED_REASONS as readonly string[]).includes(result.reason ?? '')

/**
 * Whether the gateway checks this kiosk's signatures with its key, from a
 * ChainAnswer's enrolledKey: unknown when the gateway does not say (older
 * gateways), other_key when it holds a different one (a key printed from
 * another data folder, or a kiosk whose key file was replaced).
 */
export type Enrollment = 'enrolled' | 'not_enrolled' | 'other_key' | 'unknown'

export function assessEnrollment(ownKey: string, enrolledKey: string | null | undefined): Enrollment {
  if (enrolledKey === undefined) return 'unknown'
  if (enrolledKey === null) return 'not_enrolled'
  return enrolledKey === ownKey ? 'enrolled' : 'other_key'
}

/** Where the gateway's record of a kiosk's chain ends (ChainAnswer). */
export interface GatewayHead {
  nextSeq: number
  lastHash: string
}

/** Where the kiosk's own chain ends (the outbox's head). */
export interface LocalHead {
  nextSeq: number
  prev: string
}

export interface ChainEntry {
  seq: number
  id: string
  envelope: Envelope
}

/**
 * behind: the gateway booked seqs this kiosk would sign again (emptied or
 * rolled-back outbox). diverged: same place, other hash, or an entry ahead
 * that does not chain from the gateway's last one (a history rewritten after
 * a rollback). entries_missing: unanswered entries are gone from the outbox
 * (deleted rows), so the ones after them cannot be booked where they are.
 */
export const CHAIN_DAMAGE = ['behind', 'diverged', 'entries_missing'] as const
export type ChainDamage = (typeof CHAIN_DAMAGE)[number]

export type ChainAssessment =
  | { kind: 'intact' }
  /**
   * The gateway lacks seqs this kiosk has answers for: the gateway lost what it
   * had answered (its own damage, alerted there), not this outbox.
   */
  | { kind: 'gateway_behind'; gatewayNextSeq: number }
  /**
   * Every seq from the gateway's head to the kiosk's is void (refused
   * unrecorded) or still unanswered: go on from the gateway's head (rebase)
   * without an operator; `voided` seqs are given to the next transactions.
   */
  | { kind: 're_anchor'; gatewayNextSeq: number; voided: number }
  | {
      kind: 'damaged'
      reason: ChainDamage
      localNextSeq: number
      gatewayNextSeq: number
      /** Seqs this kiosk signed from the gateway's head on that are neither booked nor in the outbox: lost. */
      missing: number
    }

/** What the chain check found, as the kiosk keeps, shows and reports it until an operator confirms. */
export interface ChainDamageReport {
  reason: ChainDamage | 'seq_conflict'
  localNextSeq: number
  gatewayNextSeq: number
  missing: number
  /** Kiosk clock, Unix ms. */
  detectedAt: number
}

export interface RebasePlan {
  /** Unanswered entries ahead of the gateway that already chain from its head: sent as they are. */
  keep: ChainEntry[]
  /** Entries ahead of the gateway that do not chain from its head, in order, with the seq each is signed again on. */
  resign: Array<{ entry: ChainEntry; seq: number }>
  /** The head after the plan: resigned entries chain from the last kept one (or the gateway's head). */
  nextSeq: number
  /** Hash of the last kept entry, or the gateway's last hash; resigned entries' hashes are known only once signed. */
  lastKeptHash: string
}

/** `pending`: the outbox's unanswered entries in seq order. Entries below the gateway's head are not part of the plan. */
export function planRebase(gateway: GatewayHead, pending: readonly ChainEntry[]): RebasePlan {
  const keep: ChainEntry[] = []
  const resign: RebasePlan['resign'] = []
  let nextSeq = gateway.nextSeq
  let lastKeptHash = gateway.lastHash
  for (const entry of pending) {
    if (entry.seq < gateway.nextSeq) continue
    // Once one entry is signed again, every later one names another prev: all of them follow.
    if (resign.length === 0 && entry.seq === nextSeq && entry.envelope.tx.prev === lastKeptHash) {
      keep.push(entry)
      lastKeptHash = envelopeHash(entry.envelope)
    } else resign.push({ entry, seq: nextSeq })
    nextSeq += 1
  }
  return { keep, resign, nextSeq, lastKeptHash }
}

/**
 * `pending`: unanswered entries in seq order; `answeredLocally(seq)`: whether
 * this kiosk recorded an answer the gateway recorded too for that seq (its
 * bounded history); `voidedLocally(seq)`: whether its only recorded answer is
 * an unrecorded refusal (UNRECORDED_REASONS).
 */
export function assessChain(
  local: LocalHead,
  gateway: GatewayHead,
  pending: readonly ChainEntry[],
  answeredLocally: (seq: number) => boolean,
  voidedLocally: (seq: number) => boolean = () => false,
): ChainAssessment {
  const damaged = (reason: ChainDamage, missing = 0): ChainAssessment => ({ kind: 'damaged', reason, localNextSeq: local.nextSeq, gatewayNextSeq: gateway.nextSeq, missing })
  if (local.nextSeq < gateway.nextSeq) return damaged('behind')
  if (local.nextSeq === gateway.nextSeq) return local.prev === gateway.lastHash ? { kind: 'intact' } : damaged('diverged')
  // Ahead: the entries from the gateway's head on must all be here and chain from it.
  const plan = planRebase(gateway, pending)
  if (plan.resign.length === 0 && plan.nextSeq === local.nextSeq && plan.lastKeptHash === local.prev) return { kind: 'intact' }
  const held = new Set(pending.filter((e) => e.seq >= gateway.nextSeq).map((e) => e.seq))
  if (!held.has(gateway.nextSeq) && answeredLocally(gateway.nextSeq)) return { kind: 'gateway_behind', gatewayNextSeq: gateway.nextSeq }
  let missing = 0
  let voided = 0
  for (let seq = gateway.nextSeq; seq < local.nextSeq; seq++) {
    if (held.has(seq)) continue
    if (!answeredLocally(seq) && voidedLocally(seq)) voided += 1
    else missing += 1
  }
  // Only void seqs and unanswered entries: the gateway never booked any of them. One seq the
  // gateway may hold, or that is lost here, and it is damage, whatever else was void.
  if (missing === 0 && voided > 0) return { kind: 're_anchor', gatewayNextSeq: gateway.nextSeq, voided }
  return damaged(missing > 0 ? 'entries_missing' : 'diverged', missing)
}

/**
 * What to send a gateway that lacks seqs this kiosk has answers for (a gateway
 * restored from a backup): every envelope from its head on, answered ones as
 * the outbox kept them and unanswered ones, in seq order and unchanged, so the
 * gateway books them exactly as they were. 'unrecoverable' when a seq in that
 * range is neither kept nor unanswered (pruned from the kept window), or when
 * the envelopes do not chain from the gateway's last hash: nothing of the range
 * is sent then (it would only wait behind the gap, or be booked as a chain
 * break), and an operator must act.
 */
export type GatewayResendPlan =
  | { kind: 'resend'; entries: ChainEntry[] }
  | {
      kind: 'unrecoverable'
      /** pruned: seqs no longer kept here; not_chained: what is kept does not chain from the gateway's last envelope. */
      why: 'pruned' | 'not_chained'
      /** The seqs the gateway lacks that this kiosk cannot send, first and last (inclusive). */
      missingFromSeq: number
      missingToSeq: number
    }

/**
 * `fromSeq`: the gateway's head (ChainAnswer.nextSeq, or a ResendRequest's
 * fromSeq); `kept`: answered envelopes the outbox kept, `pending`: unanswered
 * entries (both in any order); `gatewayLastHash`: the gateway's last hash when
 * known (a chain answer), checked against the first envelope's prev.
 */
export function planGatewayResend(fromSeq: number, localNextSeq: number, kept: readonly ChainEntry[], pending: readonly ChainEntry[], gatewayLastHash?: string): GatewayResendPlan {
  const bySeq = new Map<number, ChainEntry>()
  for (const entry of [...kept, ...pending]) if (entry.seq >= fromSeq && entry.seq < localNextSeq) bySeq.set(entry.seq, entry)
  const entries: ChainEntry[] = []
  let prev = gatewayLastHash
  for (let seq = fromSeq; seq < localNextSeq; seq++) {
    const entry = bySeq.get(seq)
    if (entry === undefined) {
      let last = seq
      while (last + 1 < localNextSeq && !bySeq.has(last + 1)) last += 1
      return { kind: 'unrecoverable', why: 'pruned', missingFromSeq: seq, missingToSeq: last }
    }
    if (prev !== undefined && entry.envelope.tx.prev !== prev) return { kind: 'unrecoverable', why: 'not_chained', missingFromSeq: fromSeq, missingToSeq: localNextSeq - 1 }
    prev = envelopeHash(entry.envelope)
    entries.push(entry)
  }
  return { kind: 'resend', entries }
}
