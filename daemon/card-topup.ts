// Card top-up at a kiosk: the guest's card pays the terminal, and only an
// approved payment becomes a signed topup_card carrying the terminal's
// reference. Never twice, never lost:
//
//   tap → record "card payment in progress" (SQLite, fsynced) → terminal.pay()
//     approved → ONE SQLite transaction: outbox append + record closed → publish
//     declined/aborted → record closed, nothing sent
//     unknown → record kept open: card top-ups refused until it is resolved
//
// After a crash the open record is settled with terminal.recoverLast(), or by a
// supervisor who reads the terminal's journal. The gateway refuses a second
// booking of the same terminal reference (duplicate_payment) whatever happens here.
//
// kiosk.ts owns the operation lock, the config checks and the outbox/link
// plumbing and hands them in as `steps`; this module owns the card logic.
import type { Logger } from 'pino'
import { CardPayment, createValidator, type CardPayment as CardPaymentValue } from '../device-protocol/index.js'
import type { CardPaymentRecord, CardPaymentResolution, CardPaymentStore } from './card-payments.js'
import type { OutboxEntry } from './outbox.js'
import { storageFaultCode } from '../device-protocol/storage-fault.js'
import { KioskError, storageFailedMessage } from './kiosk-error.js'
import type { TagInfo } from './reader/reader.js'
import type { CardPaymentResult, PaymentTerminal } from './terminal/terminal.js'

export interface CardTopUpOutcome {
  /**
   * accepted/rejected/pending: the terminal approved and the top-up went to the
   * gateway (its answer, or none yet). declined/aborted: the card was not
   * charged, nothing was sent. unresolved: whether the card was charged is not
   * known; the record stays open for recovery or a supervisor.
   */
  status: 'accepted' | 'rejected' | 'pending' | 'declined' | 'aborted' | 'unresolved'
  amount: number
  /** The kiosk's record of this card payment. */
  cardPaymentId: string
  /** The topup_card transaction, once one was stored. */
  id?: string
  seq?: number
  balance?: number
  reason?: string
  /** The terminal's reference (masked PAN only). */
  payment?: CardPaymentValue
  resultCode?: number
  message?: string
}

export interface CardCounters {
  cardTopUps: number
  cardApproved: number
  cardDeclined: number
  cardAborted: number
  /** Payments the terminal could not tell the outcome of (live or in recovery). */
  cardUnknown: number
  /** Open payments settled after a restart from the terminal's last transaction. */
  cardRecovered: number
  /** Open payments a supervisor settled. */
  cardResolvedBySupervisor: number
  /** Open payments the terminal never charged (its last transaction was an earlier one). */
  cardNotCharged: number
  /** Open records not being paid right now: card top-ups are refused while this is above 0. */
  cardPaymentsUnresolved: number
}

/** What a supervisor read on the terminal (display, journal) about the open payment. */
export interface CardResolution {
  outcome: 'approved' | 'declined'
  receiptNumber?: string
  traceNumber?: string
  terminalId?: string
}

/** The kiosk flow's parts this module uses. */
export interface CardTopUpSteps {
  waitForTag(): Promise<TagInfo>
  /** Builds, signs and stores a topup_card; `within` runs inside the same SQLite transaction. Refuses (KioskError) when full. */
  append(input: { tag: TagInfo; amount: number; payment: CardPaymentValue }, within: (entry: OutboxEntry) => void): OutboxEntry
  /** Publishes a stored entry and waits for the gateway's answer (pending when none comes in time). */
  sendAndAwait(entry: OutboxEntry, amount: number): Promise<{ status: 'accepted' | 'rejected' | 'pending'; id: string; seq: number; balance?: number; reason?: string }>
  /** Publishes a stored entry without waiting (recovery); the answer is recorded when it comes. */
  sendInBackground(entry: OutboxEntry): void
  feedback(status: 'accepted' | 'rejected' | 'pending'): void
  /** Lets a stop() during the payment ask the terminal to abort. */
  setAbort(abort: (() => void) | undefined): void
  changed(): void
}

export interface CardTopUpHooks {
  /**
   * Test seam: runs after the terminal answered and before anything is stored.
   * Throwing here is a crash at the worst moment: the record stays open, exactly
   * as if the daemon had died, and a restart must recover it.
   */
  afterTerminalAnswer?(result: CardPaymentResult, record: CardPaymentRecord): void | Promise<void>
}

export interface CardTopUpOptions {
  kioskId: string
  terminal: PaymentTerminal | undefined
  payments: CardPaymentStore
  logger: Logger
  newId: () => string
  steps: CardTopUpSteps
  hooks?: CardTopUpHooks
  /** Passed to terminal.pay; the adapter's default when omitted. */
  payTimeoutMs?: number
}

export interface CardTopUp {
  /** Whether a terminal is configured and connected. */
  terminalReady(): boolean
  unresolvedCount(): number
  /** Settles open records from the terminal's last transaction. Call with the operation lock held. */
  recover(): Promise<void>
  /** Tap, record, pay, and book on approval. Call with the operation lock held, after the kiosk's own checks. */
  take(amountCents: number): Promise<CardTopUpOutcome>
  /** A supervisor settles the open record. Call with the operation lock held. Throws CardResolveError. */
  resolve(resolution: CardResolution): Promise<CardTopUpOutcome>
  counters(): CardCounters
}

export class CardResolveError extends Error {
  override readonly name = 'CardResolveError'
  constructor(
    readonly type: 'no_unresolved_card_payment' | 'invalid_reference',
    message: string,
  ) {
    super(message)
  }
}

const validateCardPayment = createValidator(CardPayment)

/**
 * The terminal's reference as a topup_card carries it, or undefined when the
 * terminal did not give a usable one. Optional parts that do not pass (a PAN
 * that is not masked, an odd card name) are dropped, never signed.
 */
export function paymentReference(result: CardPaymentResult): CardPaymentValue | undefined {
  const { terminalId, receiptNumber, traceNumber } = result
  if (terminalId === undefined || receiptNumber === undefined || traceNumber === undefined) return undefined
  const core = { terminalId, receiptNumber, traceNumber }
  if (!validateCardPayment(core).ok) return undefined
  const payment: CardPaymentValue = { ...core }
  if (result.maskedPan !== undefined && validateCardPayment({ ...core, maskedPan: result.maskedPan }).ok) payment.maskedPan = result.maskedPan
  if (result.cardType !== undefined && validateCardPayment({ ...core, cardType: result.cardType }).ok) payment.cardType = result.cardType
  // What the terminal's TLV container told, each kept only if it passes on its own.
  for (const name of ['cardTechnology', 'cardholderVerification', 'aid', 'longReceiptNumber'] as const) {
    const value = result[name]
    if (value !== undefined && validateCardPayment({ ...core, [name]: value }).ok) payment[name] = value
  }
  return payment
}

export function createCardTopUp(options: CardTopUpOptions): CardTopUp {
  const { kioskId, terminal, payments, logger, newId, steps, hooks } = options
  const counts = {
    cardTopUps: 0,
    cardApproved: 0,
    cardDeclined: 0,
    cardAborted: 0,
    cardUnknown: 0,
    cardRecovered: 0,
    cardResolvedBySupervisor: 0,
    cardNotCharged: 0,
  }
  /** The record whose payment is being taken right now: open, but not unresolved. */
  let inProgress: string | undefined

  const unresolvedCount = () => payments.openRecords().filter((r) => r.id !== inProgress).length

  function keepOpen(record: CardPaymentRecord, note: string): void {
    counts.cardUnknown += 1
    try {
      payments.markUnresolved(record.id, note)
    } catch (err) {
      // Still open in the database either way; recovery and the supervisor see it.
      logger.error({ err: (err as Error).message, cardPayment: record.id }, 'could not mark the card payment unresolved')
    }
    logger.error({ cardPayment: record.id, amount: record.amount, note }, 'card payment outcome unknown: card top-ups are refused until it is recovered or a supervisor resolves it')
    steps.changed()
  }

  /** Appends the topup_card and closes the record in one SQLite transaction. */
  function book(record: CardPaymentRecord, payment: CardPaymentValue, resolution: CardPaymentResolution): OutboxEntry {
    return steps.append({ tag: { uid: record.uid, type: record.tagType }, amount: record.amount, payment }, (entry) =>
      payments.markBooked(record.id, entry.id, payment, resolution),
    )
  }

  async function sendBooked(record: CardPaymentRecord, entry: OutboxEntry, payment: CardPaymentValue): Promise<CardTopUpOutcome> {
    const answer = await steps.sendAndAwait(entry, record.amount)
    const outcome: CardTopUpOutcome = { status: answer.status, amount: record.amount, cardPaymentId: record.id, id: answer.id, seq: answer.seq, payment }
    if (answer.balance !== undefined) outcome.balance = answer.balance
    if (answer.reason !== undefined) outcome.reason = answer.reason
    return outcome
  }

  /** Settles an open record from the terminal's last transaction; logs what it did. */
  async function recoverOne(record: CardPaymentRecord): Promise<void> {
    if (!terminal) {
      keepOpen(record, 'no card terminal configured to ask')
      return
    }
    let result: CardPaymentResult | null
    try {
      result = await terminal.recoverLast()
    } catch (err) {
      keepOpen(record, `terminal recovery failed: ${(err as Error).message}`.slice(0, 200))
      return
    }
    if (result === null) {
      // The terminal knows no last payment; that may be a reset terminal as well as "never charged": ask a human.
      keepOpen(record, 'the terminal reports no last transaction')
      return
    }
    if (result.status === 'declined' || result.status === 'aborted') {
      payments.closeUnbooked(record.id, result.status, 'recovered', result.resultCode)
      counts.cardRecovered += 1
      logger.info({ cardPayment: record.id, status: result.status }, 'open card payment recovered: not charged')
      steps.changed()
      return
    }
    if (result.status !== 'approved') {
      keepOpen(record, 'the terminal could not tell the outcome')
      return
    }
    const payment = paymentReference(result)
    if (payment === undefined) {
      keepOpen(record, 'the terminal approved without a usable reference')
      return
    }
    if (payments.isBookedRef(payment)) {
      // The terminal's last approval is one this kiosk booked before: ours never reached it.
      payments.closeUnbooked(record.id, 'not_charged', 'recovered')
      counts.cardNotCharged += 1
      logger.info({ cardPayment: record.id }, 'open card payment was never charged: the terminal last approved an earlier, booked payment')
      steps.changed()
      return
    }
    if (result.amountCents !== record.amount) {
      keepOpen(record, `the terminal's last approval is for ${result.amountCents} cents, this payment was ${record.amount}`)
      return
    }
    const entry = book(record, payment, 'recovered')
    counts.cardRecovered += 1
    logger.info({ cardPayment: record.id, id: entry.id, seq: entry.seq, amount: record.amount }, 'open card payment recovered as approved: top-up stored and sent')
    steps.sendInBackground(entry)
    steps.changed()
  }

  async function recover(): Promise<void> {
    for (const record of payments.openRecords()) {
      if (record.id === inProgress) continue
      await recoverOne(record)
    }
  }

  async function take(amountCents: number): Promise<CardTopUpOutcome> {
    if (!terminal) throw new Error('no card terminal')
    const tag = await steps.waitForTag()
    const terminalId = terminal.status().terminalId
    let record: CardPaymentRecord
    try {
      record = payments.open({ id: newId(), uid: tag.uid, tagType: tag.type, amount: amountCents, ...(terminalId ? { terminalId } : {}) })
    } catch (err) {
      // The record must be on disk before the card is charged: without it, no payment is taken.
      const code = storageFaultCode(err)
      if (code === undefined) throw err
      logger.error({ err, code }, 'card payment record not stored: card top-up refused before the card was charged')
      steps.feedback('rejected')
      throw new KioskError('storage_failed', storageFailedMessage(code))
    }
    counts.cardTopUps += 1
    inProgress = record.id
    steps.changed()
    try {
      let result: CardPaymentResult
      steps.setAbort(() => {
        terminal.abort().catch((err: Error) => logger.warn({ err: err.message }, 'terminal abort failed'))
      })
      try {
        result = await terminal.pay(amountCents, options.payTimeoutMs === undefined ? undefined : { timeoutMs: options.payTimeoutMs })
      } catch (err) {
        // Whether the card was charged is not known: never read a failure as a decline.
        result = { status: 'unknown', amountCents, message: (err as Error).message }
      } finally {
        steps.setAbort(undefined)
      }
      await hooks?.afterTerminalAnswer?.(result, record)
      logger.info({ cardPayment: record.id, status: result.status, resultCode: result.resultCode, amount: amountCents }, 'terminal answered')

      const base = { amount: amountCents, cardPaymentId: record.id, ...(result.resultCode === undefined ? {} : { resultCode: result.resultCode }), ...(result.message ? { message: result.message.slice(0, 200) } : {}) }
      if (result.status === 'declined' || result.status === 'aborted') {
        // The terminal's error details (result code FF) stay with the record, for the operator.
        payments.closeUnbooked(record.id, result.status, 'terminal', result.resultCode, result.errorDetail)
        if (result.status === 'declined') counts.cardDeclined += 1
        else counts.cardAborted += 1
        steps.feedback('rejected')
        steps.changed()
        return { ...base, status: result.status }
      }
      if (result.status !== 'approved') {
        keepOpen(record, 'the terminal could not tell the outcome')
        steps.feedback('pending')
        return { ...base, status: 'unresolved' }
      }
      counts.cardApproved += 1
      const payment = paymentReference(result)
      if (payment === undefined || result.amountCents !== amountCents) {
        keepOpen(record, payment === undefined ? 'the terminal approved without a usable reference' : `the terminal approved ${result.amountCents} cents instead of ${amountCents}`)
        steps.feedback('pending')
        return { ...base, status: 'unresolved' }
      }
      let entry: OutboxEntry
      try {
        entry = book(record, payment, 'terminal')
      } catch (err) {
        // Approved and not stored: the record stays open, recovery finds the approval again.
        keepOpen(record, `storing the approved top-up failed: ${(err as Error).message}`.slice(0, 200))
        steps.feedback('pending')
        return { ...base, status: 'unresolved', payment }
      }
      return { ...(await sendBooked(record, entry, payment)), ...base }
    } finally {
      inProgress = undefined
    }
  }

  async function resolve(resolution: CardResolution): Promise<CardTopUpOutcome> {
    const record = payments.openRecords()[0]
    if (!record) throw new CardResolveError('no_unresolved_card_payment', 'there is no open card payment to resolve')
    if (resolution.outcome === 'declined') {
      payments.closeUnbooked(record.id, 'declined', 'supervisor')
      counts.cardResolvedBySupervisor += 1
      logger.warn({ cardPayment: record.id, amount: record.amount }, 'supervisor resolved the open card payment as declined')
      steps.changed()
      return { status: 'declined', amount: record.amount, cardPaymentId: record.id }
    }
    // Parts the supervisor did not read are made unique to this record, so they can never match another payment.
    const payment: CardPaymentValue = {
      terminalId: resolution.terminalId ?? record.terminalId ?? `kiosk-${kioskId}`,
      receiptNumber: resolution.receiptNumber ?? 'manual',
      traceNumber: resolution.traceNumber ?? `manual-${record.id}`,
    }
    if (!validateCardPayment(payment).ok) throw new CardResolveError('invalid_reference', 'terminalId, receiptNumber and traceNumber must be 1-64 of A-Z a-z 0-9 . _ : -')
    const entry = book(record, payment, 'supervisor')
    counts.cardResolvedBySupervisor += 1
    logger.warn({ cardPayment: record.id, id: entry.id, seq: entry.seq, amount: record.amount }, 'supervisor resolved the open card payment as approved: top-up stored and sent')
    steps.changed()
    return sendBooked(record, entry, payment)
  }

  return {
    terminalReady: () => terminal !== undefined && terminal.status().connected,
    unresolvedCount,
    recover,
    take,
    resolve,
    counters: () => ({ ...counts, cardPaymentsUnresolved: unresolvedCount() }),
  }
}
