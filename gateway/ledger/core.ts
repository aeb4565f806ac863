// The ledger's state machine for one kiosk envelope, as a pure function: given
// what the ledger knows (read through LedgerFacts) and a signature-verified
// envelope, say what happens: refused without a trace, answered again, a gap
// to ask for, or recorded (accepted with postings and side effects, or
// rejected with a named reason). It owns the order of the checks; the store
// writes what it returns, in the batch's database transaction.
//
// The order matters and is the contract:
//   1. shape (the ledger re-checks what ingest checked: it is the last line before money moves)
//   2. the id: an external booking's id is refused; an id already recorded gets its first answer again
//   3. the kiosk: unknown is refused unrecorded; an old seq is a conflict, a future seq a gap
//   4. the chain: a wrong prev is recorded as chain_mismatch (the chain goes on from it)
//   5. the tag: the event's tag policy and a secure wristband's SUN (gateway/sun/)
//   6. the rules: decide() in rules.ts
// Nothing here reads a clock, a random source or a database: the clock reading
// and the receipt id come in with the input, so the same facts and input give
// the same answer (TigerBeetle's deterministic state machine).
import { createHash } from 'node:crypto'
import {
  canonicalEnvelopeBytes,
  cardPaymentRef,
  validateEnvelope,
  type Envelope,
  type RejectReason,
  type StaffRole,
  type Transaction,
  type TxResult,
} from '../../device-protocol/index.js'
import type { TagCheckResult } from '../sun/tag-check.js'
import {
  decide,
  type CancelTarget,
  type Decision,
  type DecisionInputs,
  type DepositAccountFacts,
  type KioskFacts,
  type OfflineRules,
  type OfflineSpent,
  type ProductFacts,
  type ProfileFacts,
  type ShiftFacts,
  type SideEffect,
  type TimeLimits,
  type WristbandFacts,
} from './rules.js'
import type { Outcome } from './types.js'

/** A kiosk as the core needs it: who it is, what it may do, and where its chain stands. */
export interface KioskState {
  id: string
  booth: string
  profile: ProfileFacts
  /** The seq its next transaction must carry. */
  nextSeq: number
  /** Hash of its last recorded envelope (GENESIS_HASH before the first). */
  lastHash: string
}

/** A recorded transaction as far as answering it again needs. */
export interface RecordedTransaction {
  id: string
  kiosk: string
  seq: number
  status: 'accepted' | 'rejected'
  reason: RejectReason | null
  balanceAfter: number | null
  /** JSON of the accepted decision's extras (charged, vouchers, shift figures, newPin). */
  resultExtras: string | null
  /** SHA-256 of the recorded envelope's canonical bytes. */
  hash: string
}

/** What the core reads. The stores implement it over their data; tests implement it with plain objects. */
export interface LedgerFacts {
  /** Whether an external booking (online top-up, payout, ...) holds this id. */
  isExternalBooking(id: string): boolean
  recorded(id: string): RecordedTransaction | undefined
  /** An enrolled kiosk that is not retired. */
  kiosk(id: string): KioskState | undefined
  /** The tag policy and SUN check of this transaction's tag (on an intact chain only). */
  checkTag(tx: Transaction): TagCheckResult
  timeLimits(): TimeLimits
  offlineRules(): OfflineRules
  /** Offline sales booked from the kiosk after `sinceMs` (gateway clock): of the wristband, and in total. */
  offlineSpent(kioskId: string, sinceMs: number, uid: string): OfflineSpent
  depositAccounts(): readonly DepositAccountFacts[]
  maxReturnQty(booth: string, productId: string): number
  wristband(uid: string): WristbandFacts | undefined
  product(booth: string, productId: string): ProductFacts | undefined
  cardPaymentBooked(ref: string): boolean
  /** undefined: the event has no staff list. */
  staffRoles(): ((uid: string) => readonly StaffRole[] | undefined) | undefined
  openShift(kioskId: string): ShiftFacts | undefined
  registerExists(register: string): boolean
  registerBusy(register: string): boolean
  accountBalance(account: string): number
  cancelTarget(id: string): CancelTarget | undefined
  /** The wristband with this PIN (retired ones excepted), undefined for an unknown or malformed PIN. */
  wristbandByPin(pin: string): string | undefined
  /** The PIN a ticket sale hands out, derived from its id with the ledger's secret. */
  ticketPin(txId: string): string
}

export interface ApplyInput {
  envelope: Envelope
  /** tag_switch: the guest's PIN, unsealed by ingest. */
  pin?: string
  /** tag_switch: the PIN limiter refused, the PIN was not opened. */
  pinRefused?: true
  /** canonicalText(envelope.tx) if the caller made it already (VerifiedEnvelope.txText). */
  txText?: string
  /** The gateway's clock, read once for this envelope: time checks, cap window and booked_at agree. */
  now: number
  /** A fresh receipt id for an accepted transaction (random: one receipt tells nothing of another). */
  newReceiptId(): string
}

/** The row the store writes for a recorded transaction. */
export interface TransactionRow {
  id: string
  kiosk: string
  seq: number
  type: string
  tag: string
  amount: number
  status: 'accepted' | 'rejected'
  reason: RejectReason | null
  balanceAfter: number | null
  hash: string
  /** The canonical JSON the kiosk signed (its hash is `hash`). */
  envelope: string
  bookedAt: number
  booth: string
  receiptId: string | null
  /** Only a booked card payment holds its reference (unique): a refused one must not block the real one. */
  paymentRef: string | null
  staff: string | null
  resultExtras: string | null
  offline: boolean
}

/** Everything a recorded transaction writes, in one database transaction. */
export interface TransactionWrite {
  tx: Transaction
  row: TransactionRow
  decision: Decision
  /** The verified SUN counter to record for the tag (used by this transaction, accepted or not). */
  tagCounter?: { uid: string; counter: number }
}

/** A note for the operator's log: something odd that changed nothing. */
export interface LogNote {
  message: string
  fields: Record<string, unknown>
}

export type Applied =
  | { kind: 'unrecorded'; outcome: Outcome; note?: LogNote }
  | { kind: 'replay'; outcome: Outcome; note?: LogNote }
  | { kind: 'gap'; outcome: Outcome }
  | { kind: 'recorded'; outcome: Outcome; write: TransactionWrite }

/** A refusal that is not recorded: the kiosk's cursor does not move. */
function unrecorded(envelope: Envelope, reason: RejectReason, note?: LogNote): Applied {
  const outcome: Outcome = {
    kind: 'result',
    result: { kind: 'result', id: envelope.tx.id, seq: envelope.tx.seq, status: 'rejected', reason },
    booked: false,
    recorded: false,
    replay: false,
  }
  return note === undefined ? { kind: 'unrecorded', outcome } : { kind: 'unrecorded', outcome, note }
}

/** The answer a recorded transaction gets, the first time and every time it is sent again. */
export function resultOf(recorded: RecordedTransaction, ticketPin: (txId: string) => string): TxResult {
  const result: TxResult = { kind: 'result', id: recorded.id, seq: recorded.seq, status: recorded.status }
  if (recorded.balanceAfter !== null) result.balance = recorded.balanceAfter
  if (recorded.reason !== null) result.reason = recorded.reason
  if (recorded.resultExtras !== null) {
    const { newPin, ...extras } = JSON.parse(recorded.resultExtras) as NonNullable<Extract<Decision, { status: 'accepted' }>['extras']>
    Object.assign(result, extras)
    // Derived, never stored: a resent ticket sale gets the same PIN again.
    if (newPin) result.pin = ticketPin(recorded.id)
  }
  return result
}

/** What an operator must hear of a booking's side effects, in their order. */
export function effectAlerts(txId: string, kioskId: string, effects: readonly SideEffect[]): Array<{ kind: string; message: string }> {
  const alerts: Array<{ kind: string; message: string }> = []
  for (const effect of effects) {
    if (effect.kind === 'close_shift' && effect.difference !== 0)
      alerts.push({
        kind: 'cash_difference',
        message: `shift ${effect.shiftId} at ${kioskId} closed ${effect.difference} cents off (counted ${effect.counted}, expected ${effect.expected})`,
      })
    else if (effect.kind === 'debt')
      alerts.push({ kind: 'debt', message: `offline sale ${txId} at ${kioskId} took wristband ${effect.uid} ${effect.shortfall} cents below zero` })
    else if (effect.kind === 'alert') alerts.push({ kind: effect.alert, message: effect.message })
  }
  return alerts
}

/** Whether a booking changes what kiosk configs hold: the blocklist, or the variants of wristbands. */
export function changesKioskConfigs(effects: readonly SideEffect[]): boolean {
  return effects.some(
    (e) => e.kind === 'replace_wristband' || (e.kind === 'register_wristband' && e.variant !== null && e.variant !== 'adult'),
  )
}

/**
 * What decide() reads for one transaction, over the ledger's facts. Its methods live on the class: the object
 * literal it replaces made a dozen closures for every sale, garbage the gateway's profile showed.
 */
class RuleInputs implements DecisionInputs {
  readonly tx: Transaction
  readonly kiosk: KioskFacts
  readonly now: number
  readonly timeLimits: TimeLimits
  readonly offlinePolicy: OfflineRules
  readonly wristband: WristbandFacts | undefined
  readonly staffRoles: ((uid: string) => readonly StaffRole[] | undefined) | undefined
  readonly pinRefused: boolean

  constructor(
    private readonly facts: LedgerFacts,
    kiosk: KioskState,
    private readonly input: ApplyInput,
  ) {
    this.tx = input.envelope.tx
    this.kiosk = { id: kiosk.id, booth: kiosk.booth, profile: kiosk.profile }
    this.now = input.now
    // Read in the order they always were (the wristband's balance may take a row lock on PostgreSQL).
    this.offlinePolicy = facts.offlineRules()
    this.staffRoles = facts.staffRoles()
    this.timeLimits = facts.timeLimits()
    this.wristband = facts.wristband(this.tx.tag.uid)
    this.pinRefused = input.pinRefused === true
  }

  offlineSpent(): OfflineSpent {
    return this.facts.offlineSpent(this.kiosk.id, this.now - this.offlinePolicy.capWindowMs, this.tx.tag.uid)
  }
  depositAccounts(): readonly DepositAccountFacts[] {
    return this.facts.depositAccounts()
  }
  maxReturnQty(booth: string, productId: string): number {
    return this.facts.maxReturnQty(booth, productId)
  }
  product(booth: string, productId: string): ProductFacts | undefined {
    return this.facts.product(booth, productId)
  }
  cardPaymentBooked(ref: string): boolean {
    return this.facts.cardPaymentBooked(ref)
  }
  openShift(): ShiftFacts | undefined {
    return this.facts.openShift(this.kiosk.id)
  }
  registerExists(register: string): boolean {
    return this.facts.registerExists(register)
  }
  registerBusy(register: string): boolean {
    return this.facts.registerBusy(register)
  }
  accountBalance(account: string): number {
    return this.facts.accountBalance(account)
  }
  cancelTarget(id: string): CancelTarget | undefined {
    return this.facts.cancelTarget(id)
  }
  wristbandByPin(): { uid: string; facts: WristbandFacts } | undefined {
    const pin = this.input.pin
    const uid = pin === undefined ? undefined : this.facts.wristbandByPin(pin)
    const found = uid === undefined ? undefined : this.facts.wristband(uid)
    return uid === undefined || found === undefined ? undefined : { uid, facts: found }
  }
}

function decideRules(facts: LedgerFacts, kiosk: KioskState, input: ApplyInput): Decision {
  return decide(new RuleInputs(facts, kiosk, input))
}

/** Applies one signature-verified envelope to what the facts say; see the order of checks above. */
export function applyEnvelope(facts: LedgerFacts, input: ApplyInput): Applied {
  const { envelope } = input
  if (!validateEnvelope(envelope).ok) return unrecorded(envelope, 'invalid_transaction')
  const { tx } = envelope
  // Same bytes as envelopeHash(envelope), computed once: they are hashed and stored.
  const canonical = canonicalEnvelopeBytes(envelope, input.txText)
  const hash = createHash('sha256').update(canonical).digest('hex')

  if (facts.isExternalBooking(tx.id))
    // Postings of kiosk transactions and external bookings share their id: an id may belong to one of them only.
    return unrecorded(envelope, 'invalid_transaction', { message: 'transaction id is the id of an external booking', fields: { kiosk: tx.kiosk, id: tx.id } })
  const existing = facts.recorded(tx.id)
  if (existing !== undefined) {
    if (existing.kiosk !== tx.kiosk)
      // Another kiosk's id: never hand out that kiosk's answer (it holds a guest's balance).
      return unrecorded(envelope, 'invalid_transaction', {
        message: 'transaction id already used by another kiosk',
        fields: { kiosk: tx.kiosk, id: tx.id, owner: existing.kiosk },
      })
    const outcome: Outcome = { kind: 'result', result: resultOf(existing, (id) => facts.ticketPin(id)), booked: false, recorded: false, replay: true }
    return existing.hash === hash
      ? { kind: 'replay', outcome }
      : {
          kind: 'replay',
          outcome,
          note: { message: 'resent transaction id with different content; answering with the first outcome', fields: { kiosk: tx.kiosk, id: tx.id, seq: tx.seq } },
        }
  }

  const kiosk = facts.kiosk(tx.kiosk)
  if (kiosk === undefined) return unrecorded(envelope, 'unknown_kiosk')
  if (tx.seq < kiosk.nextSeq) return unrecorded(envelope, 'seq_conflict')
  if (tx.seq > kiosk.nextSeq) return { kind: 'gap', outcome: { kind: 'gap', kioskId: kiosk.id, fromSeq: kiosk.nextSeq } }

  const chainIntact = tx.prev === kiosk.lastHash
  const tag: TagCheckResult = chainIntact ? facts.checkTag(tx) : { ok: true }
  let decision: Decision
  if (!chainIntact) {
    // Recorded, and the chain continues from this envelope: the kiosk's history
    // is what it signed, and an operator is alerted to look at the break.
    decision = { status: 'rejected', reason: 'chain_mismatch' }
  } else if (!tag.ok) {
    decision = { status: 'rejected', reason: tag.reason }
  } else {
    decision = decideRules(facts, kiosk, input)
  }

  const accepted = decision.status === 'accepted'
  if (decision.status === 'accepted') {
    const sum = decision.postings.reduce((s, p) => s + p.amount, 0)
    // Unreachable by construction; throwing rolls the whole batch back rather than book unbalanced.
    if (sum !== 0) throw new Error(`unbalanced postings for ${tx.id}`)
  }
  const balanceAfter = decision.status === 'accepted' ? decision.balanceAfter : decision.balance
  const row: TransactionRow = {
    id: tx.id,
    kiosk: kiosk.id,
    seq: tx.seq,
    type: tx.type,
    tag: tx.tag.uid,
    amount: tx.amount,
    status: decision.status,
    reason: decision.status === 'rejected' ? decision.reason : null,
    balanceAfter: balanceAfter ?? null,
    hash,
    envelope: canonical.toString('utf8'),
    bookedAt: input.now,
    booth: kiosk.booth,
    receiptId: accepted ? input.newReceiptId() : null,
    paymentRef: accepted && tx.payment !== undefined ? cardPaymentRef(tx.payment) : null,
    staff: tx.staff ?? null,
    resultExtras: decision.status === 'accepted' && decision.extras !== undefined ? JSON.stringify(decision.extras) : null,
    offline: tx.offline === true,
  }
  const write: TransactionWrite = { tx, row, decision }
  // The SUN was used by this recorded transaction, accepted or not: the same one is never good again.
  if (tag.ok && tag.counter !== undefined) write.tagCounter = { uid: tx.tag.uid, counter: tag.counter }

  const result = resultOf(
    { id: row.id, kiosk: row.kiosk, seq: row.seq, status: row.status, reason: row.reason, balanceAfter: row.balanceAfter, resultExtras: row.resultExtras, hash },
    (id) => facts.ticketPin(id),
  )
  const outcome: Outcome & { kind: 'result' } = { kind: 'result', result, booked: accepted, recorded: true, replay: false }
  const alerts = decision.status === 'accepted' ? effectAlerts(tx.id, kiosk.id, decision.effects) : decision.alert === undefined ? [] : [decision.alert]
  if (alerts.length > 0) outcome.alerts = alerts
  if (decision.status === 'accepted' && changesKioskConfigs(decision.effects)) outcome.configsChanged = true
  return { kind: 'recorded', outcome, write }
}
