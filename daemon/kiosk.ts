// The kiosk flow: ring up → tap → sign → outbox → publish → answer → feedback.
//
// It knows the reader only through the Reader interface and the gateway only
// through the link, and refuses anything it can already tell is wrong (empty
// cart, unknown product, top-up not allowed, outbox full) before the guest taps.
// One operation at a time: a kiosk has one reader and one guest in front of it.
import type { KeyObject } from 'node:crypto'
import { v7 as uuidv7 } from 'uuid'
import type { Logger } from 'pino'
import type { CardPayment, Clock, Envelope, Line, ReplyMessage, Transaction, TransactionType, TxResult } from '../device-protocol/index.js'
import { MAX_AMOUNT_CENTS, MAX_LINES, linesTotal, signTransaction, validateEnvelope, TagSun, TagUid } from '../device-protocol/index.js'
import { createValidator } from '../device-protocol/index.js'
import type { Reader, ReaderFeedback, TagInfo } from './reader/reader.js'
import type { Outbox, OutboxEntry } from './outbox.js'
import { OutboxFullError } from './outbox.js'
import type { PaymentTerminal } from './terminal/terminal.js'
import { createCardPaymentStore } from './card-payments.js'
import { CardResolveError, createCardTopUp, type CardCounters, type CardResolution, type CardTopUpHooks, type CardTopUpOutcome } from './card-topup.js'
import type { MqttLink } from './mqtt-link.js'
import type { CatalogSource } from './local-config.js'

export const KIOSK_ERROR_TYPES = [
  'busy',
  'no_config',
  'empty_cart',
  'unknown_product',
  'invalid_quantity',
  'cart_too_large',
  'invalid_amount',
  'sale_not_allowed',
  'topup_not_allowed',
  'outbox_full',
  'reader_unavailable',
  'tap_timeout',
  'stopped',
  'terminal_unavailable',
  'card_payment_unresolved',
  'no_unresolved_card_payment',
  'invalid_reference',
] as const
export type KioskErrorType = (typeof KIOSK_ERROR_TYPES)[number]

/** A refusal the cashier should see; nothing was signed or stored, except for 'outbox_full' after a tap (nothing stored either). */
export class KioskError extends Error {
  override readonly name = 'KioskError'
  constructor(
    readonly type: KioskErrorType,
    message: string,
  ) {
    super(message)
  }
}

export interface SaleLine {
  product: string
  qty: number
}

export interface Outcome {
  status: 'accepted' | 'rejected' | 'pending'
  id: string
  seq: number
  amount: number
  /** Guest balance after the booking, cents (accepted/rejected answers may carry it). */
  balance?: number
  reason?: string
}

export interface KioskCounters extends CardCounters {
  sales: number
  topups: number
  accepted: number
  rejected: number
  /** Operations that ended without an answer in time (their entries stay in the outbox). */
  pending: number
  lateAnswers: number
  malformedReplies: number
  unknownReplies: number
  conflictingReplies: number
  resendRequests: number
  refused: number
  tapTimeouts: number
  badTags: number
  cardTopUpsRefused: number
  outboxDepth: number
}

export type KioskLink = Pick<MqttLink, 'publishTx' | 'resendPending' | 'onReply'> & Partial<Pick<MqttLink, 'counters'>>

export interface KioskOptions {
  kioskId: string
  reader: Reader
  outbox: Outbox
  link: KioskLink
  privateKey: KeyObject
  clock: Clock
  logger: Logger
  catalog: CatalogSource
  /** How long a sale waits for the gateway before it is shown as pending. */
  replyTimeoutMs: number
  /** How long a sale waits for a tap. */
  tapTimeoutMs: number
  /** How long the reader LED stays lit after an answer. */
  feedbackDurationMs?: number
  newId?: () => string
  /** The card terminal for card top-ups; without one they are refused with 'terminal_unavailable'. */
  terminal?: PaymentTerminal
  /** Passed to terminal.pay (the adapter's default when omitted). */
  cardPaymentTimeoutMs?: number
  /** Test seams of the card top-up (see CardTopUpHooks). */
  cardHooks?: CardTopUpHooks
}

export interface Kiosk {
  sale(lines: readonly SaleLine[]): Promise<Outcome>
  topUp(amountCents: number): Promise<Outcome>
  /** Cashier entered an amount: tap, card payment at the terminal, and on approval a signed topup_card. */
  cardTopUp(amountCents: number): Promise<CardTopUpOutcome>
  /** A supervisor settles the open card payment (see CardResolution). */
  resolveCardPayment(resolution: CardResolution): Promise<CardTopUpOutcome>
  /** Settles card payments left open by a crash, from the terminal's last transaction. Skipped while busy. */
  recoverCardPayments(): Promise<void>
  isBusy(): boolean
  counters(): KioskCounters
  /** Called after every change of the counters or the outbox. */
  onChange(listener: () => void): void
  /** Ends the operation in progress: a tap wait fails with 'stopped', a reply wait ends as pending. */
  stop(): void
}

const FEEDBACK: Record<'accepted' | 'rejected' | 'pending', Omit<ReaderFeedback, 'durationMs'>> = {
  accepted: { led: 'green', beep: 'short' },
  rejected: { led: 'red', beep: 'error' },
  // Not an answer yet: the cashier must not hand over goods as if it were accepted.
  pending: { led: 'yellow', beep: 'double' },
}

const validateTagUid = createValidator(TagUid)
const validateTagSun = createValidator(TagSun)

interface Prepared {
  type: TransactionType
  lines: Line[]
  amount: number
  payment?: CardPayment
}

export function createKiosk(options: KioskOptions): Kiosk {
  const { kioskId, reader, outbox, link, privateKey, clock, logger, catalog, replyTimeoutMs, tapTimeoutMs } = options
  const feedbackDurationMs = options.feedbackDurationMs ?? 1_500
  const newId = options.newId ?? (() => uuidv7())

  const counts = {
    sales: 0,
    topups: 0,
    accepted: 0,
    rejected: 0,
    pending: 0,
    lateAnswers: 0,
    unknownReplies: 0,
    conflictingReplies: 0,
    resendRequests: 0,
    refused: 0,
    tapTimeouts: 0,
    badTags: 0,
    /** Card top-ups the gateway refused after the terminal had charged the card (a refund is due). */
    cardTopUpsRefused: 0,
  }
  const listeners: Array<() => void> = []
  /** Operations waiting for the answer to their transaction id. */
  const waiters = new Map<string, (result: TxResult) => void>()
  let busy = false
  let stopped = false
  let abortCurrent: ((reason: 'stopped') => void) | undefined

  function changed(): void {
    for (const listener of listeners) {
      try {
        listener()
      } catch (err) {
        logger.error({ err }, 'change listener failed')
      }
    }
  }

  function refuse(type: KioskErrorType, message: string): never {
    counts.refused += 1
    throw new KioskError(type, message)
  }

  function requireConfig() {
    const config = catalog.current()
    if (!config) refuse('no_config', 'this kiosk has no configuration from the gateway yet')
    return config
  }

  function prepareSale(saleLines: readonly SaleLine[]): Prepared {
    const config = requireConfig()
    if (!config.saleAllowed) refuse('sale_not_allowed', `sales are not allowed at booth ${config.booth}`)
    if (!Array.isArray(saleLines) || saleLines.length === 0) refuse('empty_cart', 'the cart is empty')
    if (saleLines.length > MAX_LINES) refuse('cart_too_large', `a cart holds at most ${MAX_LINES} lines`)
    const lines: Line[] = []
    for (const line of saleLines) {
      const product = config.products.find((p) => p.id === line?.product)
      if (!product) refuse('unknown_product', `unknown product ${JSON.stringify(String(line?.product)).slice(0, 80)}`)
      if (!Number.isInteger(line.qty) || line.qty < 1 || line.qty > 1000) refuse('invalid_quantity', `quantity of ${product.id} must be a whole number from 1 to 1000`)
      lines.push({ product: product.id, qty: line.qty, unitPrice: product.price })
    }
    const amount = linesTotal(lines)
    if (amount > MAX_AMOUNT_CENTS) refuse('cart_too_large', `the cart total ${amount} exceeds ${MAX_AMOUNT_CENTS} cents`)
    return { type: 'sale', lines, amount }
  }

  function prepareTopUp(amountCents: number): Prepared {
    const config = requireConfig()
    if (!config.topupAllowed) refuse('topup_not_allowed', `top-ups are not allowed at booth ${config.booth}`)
    if (!Number.isInteger(amountCents) || amountCents < 1 || amountCents > MAX_AMOUNT_CENTS) {
      refuse('invalid_amount', `a top-up amount must be a whole number of cents from 1 to ${MAX_AMOUNT_CENTS}`)
    }
    return { type: 'topup_cash', lines: [], amount: amountCents }
  }

  /** Resolves with the next valid tag presented after the call; rejects on timeout or stop. */
  function waitForTag(): Promise<TagInfo> {
    return new Promise((resolve, reject) => {
      const onTag = (tag: TagInfo) => {
        const uid = validateTagUid(tag?.uid)
        const type = tag?.type
        // A SUN message is optional; one that is there but garbled is not dropped silently (the gateway may require it).
        const sun = tag?.sun === undefined ? undefined : validateTagSun(tag.sun)
        if (!uid.ok || typeof type !== 'string' || type.length < 1 || type.length > 32 || (sun !== undefined && !sun.ok)) {
          // The adapter is a boundary too: a garbled UID must never end up signed.
          counts.badTags += 1
          const error = !uid.ok ? uid.error : sun !== undefined && !sun.ok ? 'bad SUN message' : 'bad tag type'
          logger.warn({ error }, 'unusable tag from the reader ignored')
          return
        }
        finish()
        resolve(sun === undefined ? { uid: uid.value, type } : { uid: uid.value, type, sun: { piccData: sun.value.piccData, cmac: sun.value.cmac } })
      }
      const timer = setTimeout(() => {
        finish()
        counts.tapTimeouts += 1
        reject(new KioskError('tap_timeout', `no wristband was presented within ${tapTimeoutMs} ms`))
      }, tapTimeoutMs)
      const finish = () => {
        clearTimeout(timer)
        reader.off('tag', onTag)
        abortCurrent = undefined
      }
      abortCurrent = () => {
        finish()
        reject(new KioskError('stopped', 'the kiosk is stopping'))
      }
      reader.on('tag', onTag)
    })
  }

  /** Resolves with the answer, or undefined when none came in time (or the kiosk stops). */
  function waitForReply(id: string): Promise<TxResult | undefined> {
    return new Promise<TxResult | undefined>((resolve) => {
      const timer = setTimeout(() => done(undefined), replyTimeoutMs)
      const done = (result: TxResult | undefined) => {
        clearTimeout(timer)
        waiters.delete(id)
        abortCurrent = undefined
        resolve(result)
      }
      waiters.set(id, done)
      abortCurrent = () => done(undefined)
    })
  }

  function feedback(status: Outcome['status']): void {
    reader.feedback({ ...FEEDBACK[status], durationMs: feedbackDurationMs }).catch((err: Error) => {
      // The answer stands even if the LED did not light: the cashier screen shows it too.
      logger.warn({ err: err.message, status }, 'reader feedback failed')
    })
  }

  function buildEnvelope(prepared: Prepared, tag: TagInfo, id: string, seq: number, prev: string): Envelope {
    const tx: Transaction = { v: 1, id, kiosk: kioskId, seq, prev, type: prepared.type, tag, lines: prepared.lines, amount: prepared.amount, at: clock.now() }
    if (prepared.payment !== undefined) tx.payment = prepared.payment
    const envelope = signTransaction(tx, privateKey)
    const checked = validateEnvelope(envelope)
    // Never store what the gateway would refuse as malformed: that would be a bug here, so fail loudly.
    if (!checked.ok) throw new Error(`built an invalid transaction: ${checked.error}`)
    return envelope
  }

  function requireOutboxRoomAndReader(): void {
    if (outbox.isFull()) refuse('outbox_full', `outbox full: ${outbox.maxEntries} transactions are waiting for the gateway`)
    if (!reader.status().connected) refuse('reader_unavailable', 'the wristband reader is not connected')
  }

  /** Signs and stores the transaction; `within` runs in the same SQLite transaction (card payment records). */
  function appendEntry(prepared: Prepared, tag: TagInfo, within?: (entry: OutboxEntry) => void): OutboxEntry {
    const id = newId()
    let entry: OutboxEntry
    try {
      entry = outbox.append((seq, prev) => buildEnvelope(prepared, tag, id, seq, prev), within)
    } catch (err) {
      if (err instanceof OutboxFullError) {
        feedback('rejected')
        refuse('outbox_full', err.message)
      }
      throw err
    }
    if (prepared.type === 'sale') counts.sales += 1
    else counts.topups += 1
    return entry
  }

  async function sendAndAwait(entry: OutboxEntry, amount: number): Promise<Outcome> {
    const id = entry.id
    // Register before publishing: the answer may arrive before publish() returns.
    const reply = waitForReply(id)
    changed()
    const sentNow = link.publishTx(entry.envelope)
    logger.info({ id, seq: entry.seq, type: entry.envelope.tx.type, amount, sentNow }, 'transaction stored and sent')

    const result = await reply
    if (!result) {
      counts.pending += 1
      feedback('pending')
      changed()
      logger.warn({ id, seq: entry.seq }, 'no answer in time: the transaction stays in the outbox')
      return { status: 'pending', id, seq: entry.seq, amount }
    }
    feedback(result.status)
    const outcome: Outcome = { status: result.status, id, seq: entry.seq, amount }
    if (result.balance !== undefined) outcome.balance = result.balance
    if (result.reason !== undefined) outcome.reason = result.reason
    return outcome
  }

  async function run(prepared: Prepared): Promise<Outcome> {
    requireOutboxRoomAndReader()
    const tag = await waitForTag()
    return sendAndAwait(appendEntry(prepared, tag), prepared.amount)
  }

  /** One operation at a time: the lock every operation (and card recovery) takes. */
  async function exclusive<T>(operation: () => Promise<T>): Promise<T> {
    if (stopped) refuse('stopped', 'the kiosk is stopping')
    if (busy) refuse('busy', 'another operation is in progress at this kiosk')
    busy = true
    try {
      return await operation()
    } finally {
      busy = false
    }
  }

  const operate = (prepare: () => Prepared): Promise<Outcome> => exclusive(() => run(prepare()))

  /** Sent without anybody waiting (recovered card payments): their answer is not a "late" one. */
  const unwaited = new Set<string>()
  const cardPayments = createCardPaymentStore({ db: outbox.database, clock })
  const card = createCardTopUp({
    kioskId,
    terminal: options.terminal,
    payments: cardPayments,
    logger: logger.child({ part: 'card-topup' }),
    newId,
    ...(options.cardHooks ? { hooks: options.cardHooks } : {}),
    ...(options.cardPaymentTimeoutMs === undefined ? {} : { payTimeoutMs: options.cardPaymentTimeoutMs }),
    steps: {
      waitForTag,
      append: ({ tag, amount, payment }, within) => appendEntry({ type: 'topup_card', lines: [], amount, payment }, tag, within),
      sendAndAwait,
      sendInBackground(entry) {
        unwaited.add(entry.id)
        const sentNow = link.publishTx(entry.envelope)
        logger.info({ id: entry.id, seq: entry.seq, type: entry.envelope.tx.type, sentNow }, 'transaction stored and sent')
        changed()
      },
      feedback,
      setAbort(abort) {
        abortCurrent = abort
      },
      changed,
    },
  })

  async function cardTopUp(amountCents: number): Promise<CardTopUpOutcome> {
    return exclusive(async () => {
      const config = requireConfig()
      if (!config.topupAllowed) refuse('topup_not_allowed', `top-ups are not allowed at booth ${config.booth}`)
      if (!Number.isInteger(amountCents) || amountCents < 1 || amountCents > MAX_AMOUNT_CENTS) {
        refuse('invalid_amount', `a top-up amount must be a whole number of cents from 1 to ${MAX_AMOUNT_CENTS}`)
      }
      if (!card.terminalReady()) refuse('terminal_unavailable', 'no card terminal is connected to this kiosk')
      // A payment left open must be settled first: the terminal can only tell about its last one.
      if (card.unresolvedCount() > 0) await card.recover()
      const unresolved = card.unresolvedCount()
      if (unresolved > 0) refuse('card_payment_unresolved', `${unresolved} card payment(s) with unknown outcome: a supervisor must resolve it before the next card top-up`)
      requireOutboxRoomAndReader()
      return card.take(amountCents)
    })
  }

  async function resolveCardPayment(resolution: CardResolution): Promise<CardTopUpOutcome> {
    return exclusive(async () => {
      try {
        return await card.resolve(resolution)
      } catch (err) {
        if (err instanceof CardResolveError) refuse(err.type, err.message)
        throw err
      }
    })
  }

  async function recoverCardPayments(): Promise<void> {
    if (stopped || busy || card.unresolvedCount() === 0) return
    await exclusive(() => card.recover())
  }

  function handleResult(result: TxResult): void {
    const marked = outbox.markAnswered(result.id, result)
    if (marked.outcome === 'unknown') {
      counts.unknownReplies += 1
      logger.warn({ id: result.id, seq: result.seq }, 'answer for a transaction this kiosk does not know')
      changed()
      return
    }
    if (marked.outcome === 'duplicate') {
      if (marked.record.status !== result.status) {
        counts.conflictingReplies += 1
        logger.error({ id: result.id, first: marked.record.status, now: result.status }, 'gateway answered one transaction twice differently; the first answer stands')
        changed()
      }
      return
    }
    if (marked.entry.seq !== result.seq) logger.warn({ id: result.id, seq: marked.entry.seq, replySeq: result.seq }, 'answer names another seq than the transaction')
    if (result.status === 'accepted') counts.accepted += 1
    else counts.rejected += 1
    if (result.status === 'rejected' && marked.entry.envelope.tx.type === 'topup_card') {
      counts.cardTopUpsRefused += 1
      // The card was charged and the gateway booked nothing: the guest must get the money back at the terminal.
      logger.error({ id: result.id, seq: marked.entry.seq, reason: result.reason, amount: marked.entry.envelope.tx.amount }, 'gateway refused a paid card top-up: refund it at the terminal')
    }
    const waiter = waiters.get(result.id)
    if (waiter) waiter(result)
    else if (unwaited.delete(result.id)) logger.info({ id: result.id, seq: marked.entry.seq, status: result.status }, 'answer recorded')
    else {
      counts.lateAnswers += 1
      logger.info({ id: result.id, seq: marked.entry.seq, status: result.status }, 'late answer recorded')
    }
    changed()
  }

  function handleReply(reply: ReplyMessage): void {
    if (reply.kind === 'result') {
      handleResult(reply)
      return
    }
    counts.resendRequests += 1
    const { nextSeq } = outbox.head()
    if (reply.fromSeq >= nextSeq) logger.warn({ fromSeq: reply.fromSeq, nextSeq }, 'gateway asks for transactions this kiosk never made')
    const first = outbox.pending({ limit: 1 })[0]
    if (first && first.seq > reply.fromSeq) {
      // Those seqs were answered here: the gateway has lost what it had answered. Say so loudly.
      logger.error({ fromSeq: reply.fromSeq, firstPending: first.seq }, 'gateway asks for transactions it already answered')
    }
    const count = link.resendPending(reply.fromSeq)
    logger.info({ fromSeq: reply.fromSeq, count }, 'resend requested by the gateway')
    changed()
  }

  link.onReply((reply) => {
    try {
      handleReply(reply)
    } catch (err) {
      // A database error here must not kill the daemon; the entry stays pending and is resent.
      logger.error({ err }, 'handling a reply failed')
    }
  })

  return {
    sale: (lines) => operate(() => prepareSale(lines)),
    topUp: (amountCents) => operate(() => prepareTopUp(amountCents)),
    cardTopUp,
    resolveCardPayment,
    recoverCardPayments,
    isBusy: () => busy,
    counters: () => ({
      ...counts,
      ...card.counters(),
      malformedReplies: link.counters?.().malformedReplies ?? 0,
      outboxDepth: outbox.depth(),
    }),
    onChange: (listener) => void listeners.push(listener),
    stop() {
      stopped = true
      abortCurrent?.('stopped')
    },
  }
}
