// The kiosk flow: ring up → tap → sign → outbox → publish → answer → feedback.
//
// It knows the reader only through the Reader interface and the gateway only
// through the link, and refuses anything it can already tell is wrong (empty
// cart, unknown product, a till profile or a staff role that does not allow it,
// outbox full, a blocked or restricted wristband) before anything is signed.
// One operation at a time: a kiosk has one reader and one guest in front of it.
// The config is read from the catalog source at each step, never kept: a new
// config from the gateway applies to the next operation.
import { createPublicKey, type KeyObject } from 'node:crypto'
import { v7 as uuidv7 } from 'uuid'
import type { Logger } from 'pino'
import type { BalanceAnswer, CardPayment, Clock, Envelope, KioskConfig, Line, ReplyMessage, TillProfile, Transaction, TransactionType, TxResult, WristbandView } from '../device-protocol/index.js'
import { MAX_AMOUNT_CENTS, publicKeyToBase64Url, signTransaction, validateEnvelope, TagSun, TagUid } from '../device-protocol/index.js'
import { createValidator } from '../device-protocol/index.js'
import type { Reader, ReaderFeedback, TagInfo } from './reader/reader.js'
import type { OfflineTotals, Outbox, OutboxEntry } from './outbox.js'
import { OutboxFullError } from './outbox.js'
import type { PaymentTerminal } from './terminal/terminal.js'
import { createCardPaymentStore } from './card-payments.js'
import { CardResolveError, createCardTopUp, type CardCounters, type CardResolution, type CardTopUpHooks, type CardTopUpOutcome } from './card-topup.js'
import type { MqttLink } from './mqtt-link.js'
import type { CatalogSource, KioskLocalState, OpenShift } from './local-config.js'
import { KioskError, type Checked, type KioskErrorType } from './kiosk-error.js'
import { priceCart, priceTickets, restrictedProducts, type SaleLine, type TicketLine } from './cart.js'
import { authenticateStaff, authorizeStaff, authorizeSupervisor, createStaffSessions, type StaffSession } from './staff-session.js'
import { checkOfflineSale } from './offline.js'
import { isBlocked } from './blocklist.js'
import { effectiveProfile } from './profile.js'
import { normalisePortalPin, sealPin } from './pin-seal.js'
import { createChainGuard, type ChainRecovery, type ChainState } from './chain-guard.js'
import { isUnrecordedRefusal } from './chain-check.js'

export { KIOSK_ERROR_TYPES, KioskError, type KioskErrorType } from './kiosk-error.js'
export type { SaleLine, TicketLine } from './cart.js'

export interface Outcome {
  /**
   * accepted/rejected: the gateway's answer. pending: no answer in time (the
   * entry stays in the outbox). offline: accepted by this kiosk while the
   * gateway was unreachable, within the offline caps: hand out the goods; the
   * gateway books it when it arrives.
   */
  status: 'accepted' | 'rejected' | 'pending' | 'offline'
  id: string
  seq: number
  amount: number
  /** Guest balance after the booking, cents (accepted/rejected answers may carry it). */
  balance?: number
  reason?: string
  /** sale: cents taken from the balance after vouchers. */
  charged?: number
  vouchersUsed?: number
  /** Vouchers left on the wristband. */
  vouchers?: number
  /** ticket: the new wristband's portal PIN; show it to the guest once, never store it. */
  pin?: string
  /** shift_close: cash the register should hold, and counted minus expected. */
  expected?: number
  difference?: number
  /** An offline sale left the balance below zero: booked as a flagged debt. */
  debt?: true
}

/** What a balance check shows the cashier. */
export type BalanceInfo = WristbandView

export interface LastSaleInfo {
  id: string
  type: 'sale' | 'return'
  amount: number
  at: number
  /** Until when (kiosk clock, Unix ms) cancelLast() may undo it. */
  cancellableUntil: number
}

export interface TicketSale {
  lines: readonly TicketLine[]
  /** Cents put on the new wristband besides the tickets. */
  topup: number
}


export interface KioskCounters extends CardCounters {
  /** Sales and returns signed. */
  sales: number
  topups: number
  /** Other transactions signed: cancels, cash-outs, tickets, tag switches, shifts. */
  otherTransactions: number
  accepted: number
  rejected: number
  /** Operations that ended without an answer in time (their entries stay in the outbox). */
  pending: number
  /** Sales and returns accepted offline. */
  offlineSales: number
  lateAnswers: number
  malformedReplies: number
  unknownReplies: number
  conflictingReplies: number
  resendRequests: number
  refused: number
  tapTimeouts: number
  badTags: number
  /** Taps of wristbands on the verified blocklist. */
  blockedTaps: number
  /** Taps refused because the wristband's variant may not buy a product of the cart. */
  restrictedTaps: number
  balanceChecks: number
  /** Balance answers that were unusable (status ok without a balance, another uid). */
  badBalanceAnswers: number
  staffLogins: number
  cardTopUpsRefused: number
  outboxDepth: number
}

export type KioskLink = Pick<MqttLink, 'publishTx' | 'resendPending' | 'onReply' | 'isReady' | 'publishQuery' | 'onReadyChange' | 'setSendGate'> & Partial<Pick<MqttLink, 'counters'>>

export interface KioskOptions {
  kioskId: string
  reader: Reader
  outbox: Outbox
  link: KioskLink
  privateKey: KeyObject
  clock: Clock
  logger: Logger
  catalog: CatalogSource
  /** Where the open shift is kept across restarts (the lowdb local config); in memory when omitted. */
  localState?: KioskLocalState
  /** How long a sale waits for the gateway before it is shown as pending; also the balance query's timeout. */
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
  /** A cart (negative qty returns deposits): tap, sign, answer; offline within the caps when the gateway is unreachable. */
  sale(lines: readonly SaleLine[]): Promise<Outcome>
  topUp(amountCents: number): Promise<Outcome>
  /** Cashier entered an amount: tap, card payment at the terminal, and on approval a signed topup_card. */
  cardTopUp(amountCents: number): Promise<CardTopUpOutcome>
  /** A supervisor settles the open card payment (see CardResolution). */
  resolveCardPayment(resolution: CardResolution): Promise<CardTopUpOutcome>
  /** Settles card payments left open by a crash, from the terminal's last transaction. Skipped while busy. */
  recoverCardPayments(): Promise<void>
  /** Tap, ask the gateway for the balance, sign a cashout of all of it; pay out only when accepted. */
  cashOut(): Promise<Outcome>
  /** Tap the new wristband; the accepted outcome carries the guest's portal PIN. */
  sellTicket(sale: TicketSale): Promise<Outcome>
  /** The guest's portal PIN (sealed to the gateway), then a tap of the new wristband. */
  switchTag(pin: string): Promise<Outcome>
  /** Undoes this kiosk's last accepted sale or return within the profile's window; no tap. */
  cancelLast(): Promise<Outcome>
  /** Tap, then the gateway's answer about the wristband. */
  checkBalance(): Promise<BalanceInfo>
  openShift(register: string, floatCents: number): Promise<Outcome>
  closeShift(countedCents: number): Promise<Outcome>
  /** Tap of a staff wristband (and its PIN for roles that need one). */
  login(pin?: string): Promise<StaffSession>
  logout(): void
  session(): StaffSession | null
  shift(): OpenShift | null
  lastSale(): LastSaleInfo | null
  /** Unanswered offline sales of this kiosk. */
  offlineTotals(): Omit<OfflineTotals, 'tagCents'>
  /** Ends a tap wait with 'aborted' (the cashier's cancel button). Returns whether one was waiting. */
  abort(): boolean
  isBusy(): boolean
  counters(): KioskCounters
  /** Called after every change of the counters, the outbox, the session or the shift. */
  onChange(listener: () => void): void
  /** Whether the outbox's chain matches what the gateway booked (chain-guard.ts). */
  chainState(): ChainState
  /**
   * An operator confirms a damaged outbox (chain_recovery_required): it goes on
   * from the gateway's head and sends what it still holds. A supervisor's
   * session is needed where the event has staff.
   */
  confirmChainRecovery(): Promise<ChainRecovery>
  /** Ends the operation in progress: a tap wait fails with 'stopped', a reply wait ends as pending. */
  stop(): void
}

type FeedbackKind = 'accepted' | 'rejected' | 'pending' | 'offline'

const FEEDBACK: Record<FeedbackKind, Omit<ReaderFeedback, 'durationMs'>> = {
  accepted: { led: 'green', beep: 'short' },
  rejected: { led: 'red', beep: 'error' },
  // Not an answer yet: the cashier must not hand over goods as if it were accepted.
  pending: { led: 'yellow', beep: 'double' },
  // Hand over the goods, but the cashier (and the guest) hear that it was not checked online.
  offline: { led: 'green', beep: 'long' },
}

const validateTagUid = createValidator(TagUid)
const validateTagSun = createValidator(TagSun)

interface Prepared {
  type: TransactionType
  lines: Line[]
  amount: number
  payment?: CardPayment
  staff?: string | undefined
  ref?: string
  register?: string
  topup?: number
  sealedPin?: string
  offline?: true
}

const RESULT_EXTRAS = ['charged', 'vouchersUsed', 'vouchers', 'pin', 'expected', 'difference', 'debt'] as const

function memoryState(): KioskLocalState {
  let shift: OpenShift | undefined
  return {
    shift: () => (shift ? { ...shift } : undefined),
    async setShift(next) {
      shift = next ? { ...next } : undefined
    },
  }
}

const validAmount = (cents: unknown, minimum: number): cents is number => Number.isSafeInteger(cents) && (cents as number) >= minimum && (cents as number) <= MAX_AMOUNT_CENTS

export function createKiosk(options: KioskOptions): Kiosk {
  const { kioskId, reader, outbox, link, privateKey, clock, logger, catalog, replyTimeoutMs, tapTimeoutMs } = options
  const feedbackDurationMs = options.feedbackDurationMs ?? 1_500
  const newId = options.newId ?? (() => uuidv7())
  const localState = options.localState ?? memoryState()
  const sessions = createStaffSessions(clock)

  const counts = {
    sales: 0,
    topups: 0,
    otherTransactions: 0,
    accepted: 0,
    rejected: 0,
    pending: 0,
    offlineSales: 0,
    lateAnswers: 0,
    unknownReplies: 0,
    conflictingReplies: 0,
    resendRequests: 0,
    refused: 0,
    tapTimeouts: 0,
    badTags: 0,
    blockedTaps: 0,
    restrictedTaps: 0,
    balanceChecks: 0,
    badBalanceAnswers: 0,
    staffLogins: 0,
    /** Card top-ups the gateway refused after the terminal had charged the card (a refund is due). */
    cardTopUpsRefused: 0,
  }
  const listeners: Array<() => void> = []
  /** Operations waiting for the answer to their transaction id. */
  const waiters = new Map<string, (result: TxResult) => void>()
  /** Balance checks waiting for their answer, by requestId. */
  const queryWaiters = new Map<string, { uid: string; settle: (answer: BalanceAnswer) => void }>()
  let busy = false
  let stopped = false
  let abortCurrent: ((reason: 'stopped') => void) | undefined
  /** Set only while a tap is awaited: what the cashier's cancel button ends. */
  let abortTap: (() => void) | undefined
  /** The last write of the shift state, awaited before a shift operation reports. */
  let stateWrite: Promise<void> = Promise.resolve()
  /** Staff of the card top-up in progress (the card flow appends on its own). */
  let cardStaff: string | undefined

  function changed(): void {
    for (const listener of listeners) {
      try {
        listener()
      } catch (err) {
        logger.error({ err }, 'change listener failed')
      }
    }
  }

  const chain = createChainGuard({
    outbox,
    link,
    // Same id and content, another place in the chain: the gateway has never seen the id.
    resign: (entry, seq, prev) => {
      const envelope = signTransaction({ ...entry.envelope.tx, seq, prev }, privateKey)
      const checked = validateEnvelope(envelope)
      if (!checked.ok) throw new Error(`re-signed an invalid transaction: ${checked.error}`)
      return envelope
    },
    clock,
    logger: logger.child({ part: 'chain' }),
    newId,
    answerTimeoutMs: replyTimeoutMs,
    kioskId,
    publicKey: publicKeyToBase64Url(createPublicKey(privateKey)),
    changed: () => changed(),
  })
  // Nothing goes out on a chain the gateway has not confirmed: an entry ahead of its head on a rewritten chain would be booked as chain_mismatch.
  link.setSendGate(() => chain.maySend())
  link.onReadyChange((ready) => {
    if (ready) chain.onReady()
  })
  if (link.isReady()) chain.onReady()

  async function confirmChainRecovery(): Promise<ChainRecovery> {
    return exclusive(async () => {
      const config = catalog.current()
      if (config) must(authorizeSupervisor(config, sessions.current()))
      try {
        return await chain.confirm()
      } catch (err) {
        if (err instanceof KioskError) refuse(err.type, err.message)
        throw err
      }
    })
  }

  function refuse(type: KioskErrorType, message: string): never {
    counts.refused += 1
    throw new KioskError(type, message)
  }

  function must<T>(checked: Checked<T>): T {
    if (!checked.ok) refuse(checked.type, checked.message)
    return checked.value
  }

  /** After a tap: the guest sees red at once, nothing is signed. */
  function refuseAfterTap(type: KioskErrorType, message: string): never {
    feedback('rejected')
    refuse(type, message)
  }

  function requireConfig(): KioskConfig {
    const config = catalog.current()
    if (!config) refuse('no_config', 'this kiosk has no configuration from the gateway yet')
    return config
  }

  /** The config after a tap: the newest one (it may have changed while the guest came up). */
  const configNow = (fallback: KioskConfig): KioskConfig => catalog.current() ?? fallback

  const staffFor = (config: KioskConfig, type: TransactionType): string | undefined => must(authorizeStaff(config, sessions.current(), type))

  function requireOnline(what: string): void {
    if (!link.isReady()) refuse('gateway_unreachable', `the gateway is unreachable: ${what} needs it online`)
  }

  function requireShiftFor(profile: TillProfile, what: string): void {
    if (profile.cashRegister && !localState.shift()) refuse('no_open_shift', `open a cash register shift before ${what}`)
  }

  function requireOutboxRoom(): void {
    if (outbox.isFull()) refuse('outbox_full', `outbox full: ${outbox.maxEntries} transactions are waiting for the gateway`)
  }

  function requireReader(): void {
    if (!reader.status().connected) refuse('reader_unavailable', 'the wristband reader is not connected')
  }

  function requireOutboxRoomAndReader(): void {
    requireOutboxRoom()
    requireReader()
  }

  /** Before a transaction is signed: refused while the chain waits for an operator (or, online, for the gateway's check). */
  async function requireChain(): Promise<void> {
    must(await chain.check(link.isReady()))
  }

  /** Resolves with the next valid tag presented after the call; rejects on timeout, stop or abort. */
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
        abortTap = undefined
      }
      abortCurrent = () => {
        finish()
        reject(new KioskError('stopped', 'the kiosk is stopping'))
      }
      abortTap = () => {
        finish()
        reject(new KioskError('aborted', 'the cashier cancelled the operation'))
      }
      reader.on('tag', onTag)
    })
  }

  /** A tap, refused when the wristband is on the verified blocklist (a lost band: refused for everything). */
  async function tap(): Promise<TagInfo> {
    const tag = await waitForTag()
    if (isBlocked(catalog.current()?.blocklist, tag.uid)) {
      counts.blockedTaps += 1
      logger.warn({ uid: tag.uid }, 'blocked wristband tapped')
      refuseAfterTap('tag_blocked', 'this wristband is blocked')
    }
    return tag
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

  /** Asks the gateway about a wristband; gateway_unreachable when it cannot be asked or does not answer in time. */
  function askBalance(uid: string): Promise<BalanceAnswer> {
    const requestId = newId()
    return new Promise<BalanceAnswer>((resolve, reject) => {
      const done = (settle: () => void) => {
        clearTimeout(timer)
        queryWaiters.delete(requestId)
        abortCurrent = undefined
        settle()
      }
      const timer = setTimeout(() => done(() => reject(new KioskError('gateway_unreachable', `the gateway did not answer the balance query within ${replyTimeoutMs} ms`))), replyTimeoutMs)
      queryWaiters.set(requestId, { uid, settle: (answer) => done(() => resolve(answer)) })
      abortCurrent = () => done(() => reject(new KioskError('stopped', 'the kiosk is stopping')))
      if (!link.publishQuery({ kind: 'balance', requestId, uid })) done(() => reject(new KioskError('gateway_unreachable', 'the gateway is unreachable')))
    })
  }

  function feedback(status: FeedbackKind): void {
    reader.feedback({ ...FEEDBACK[status], durationMs: feedbackDurationMs }).catch((err: Error) => {
      // The answer stands even if the LED did not light: the cashier screen shows it too.
      logger.warn({ err: err.message, status }, 'reader feedback failed')
    })
  }

  function buildEnvelope(prepared: Prepared, tag: TagInfo, id: string, seq: number, prev: string): Envelope {
    const tx: Transaction = { v: 1, id, kiosk: kioskId, seq, prev, type: prepared.type, tag, lines: prepared.lines, amount: prepared.amount, at: clock.now() }
    if (prepared.payment !== undefined) tx.payment = prepared.payment
    if (prepared.staff !== undefined) tx.staff = prepared.staff
    if (prepared.ref !== undefined) tx.ref = prepared.ref
    if (prepared.register !== undefined) tx.register = prepared.register
    if (prepared.topup !== undefined) tx.topup = prepared.topup
    if (prepared.sealedPin !== undefined) tx.sealedPin = prepared.sealedPin
    if (prepared.offline) tx.offline = true
    const envelope = signTransaction(tx, privateKey)
    const checked = validateEnvelope(envelope)
    // Never store what the gateway would refuse as malformed: that would be a bug here, so fail loudly.
    if (!checked.ok) throw new Error(`built an invalid transaction: ${checked.error}`)
    return envelope
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
    if (prepared.type === 'sale' || prepared.type === 'return') counts.sales += 1
    else if (prepared.type === 'topup_cash' || prepared.type === 'topup_card') counts.topups += 1
    else counts.otherTransactions += 1
    return entry
  }

  async function sendAndAwait(entry: OutboxEntry, amount: number): Promise<Outcome & { status: 'accepted' | 'rejected' | 'pending' }> {
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
    // A shift's answer changes the stored shift: report only once that is on disk.
    await stateWrite.catch(() => undefined)
    feedback(result.status)
    const outcome: Outcome & { status: 'accepted' | 'rejected' } = { status: result.status, id, seq: entry.seq, amount }
    if (result.balance !== undefined) outcome.balance = result.balance
    if (result.reason !== undefined) outcome.reason = result.reason
    for (const key of RESULT_EXTRAS) if (result[key] !== undefined) (outcome as unknown as Record<string, unknown>)[key] = result[key]
    return outcome
  }

  async function run(prepared: Prepared): Promise<Outcome> {
    requireOutboxRoomAndReader()
    await requireChain()
    const tag = await tap()
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

  async function sale(saleLines: readonly SaleLine[]): Promise<Outcome> {
    return exclusive(async () => {
      const config = requireConfig()
      const staff = staffFor(config, 'sale')
      const cart = must(priceCart(saleLines, config))
      requireOutboxRoomAndReader()
      if (!link.isReady() && !config.offline?.allowed) refuse('gateway_unreachable', 'the gateway is unreachable and this kiosk may not sell offline')
      await requireChain()
      const tag = await tap()
      const now = configNow(config)
      const restricted = restrictedProducts(cart.lines, now, tag.uid)
      if (restricted.length > 0) {
        counts.restrictedTaps += 1
        refuseAfterTap('product_restricted', `this wristband may not buy ${restricted.join(', ')}`)
      }
      const prepared: Prepared = { ...cart, staff }
      if (link.isReady()) return sendAndAwait(appendEntry(prepared, tag), cart.amount)

      // Offline at tap time: accept within the caps, from what the outbox still holds unanswered.
      const allowed = checkOfflineSale(now.offline, cart.type, cart.amount, outbox.offlineTotals(tag.uid))
      if (!allowed.ok) refuseAfterTap(allowed.type, allowed.message)
      const entry = appendEntry({ ...prepared, offline: true }, tag)
      counts.offlineSales += 1
      feedback('offline')
      // Goes out with the resend after the next connect (or now, if the link just came back).
      const sentNow = link.publishTx(entry.envelope)
      logger.info({ id: entry.id, seq: entry.seq, type: cart.type, amount: cart.amount, sentNow }, 'accepted offline and stored')
      changed()
      return { status: 'offline', id: entry.id, seq: entry.seq, amount: cart.amount }
    })
  }

  function checkTopUpAmount(amountCents: number): void {
    if (!validAmount(amountCents, 1)) refuse('invalid_amount', `a top-up amount must be a whole number of cents from 1 to ${MAX_AMOUNT_CENTS}`)
  }

  async function topUp(amountCents: number): Promise<Outcome> {
    return exclusive(async () => {
      const config = requireConfig()
      const staff = staffFor(config, 'topup_cash')
      const profile = effectiveProfile(config)
      if (!profile.topupCash) refuse('topup_not_allowed', `top-ups are not allowed at booth ${config.booth}`)
      checkTopUpAmount(amountCents)
      requireShiftFor(profile, 'a cash top-up')
      // Offline a cash top-up is signed and stays pending, as it always did: the guest gets the money once it is booked.
      return run({ type: 'topup_cash', lines: [], amount: amountCents, staff })
    })
  }

  async function cashOut(): Promise<Outcome> {
    return exclusive(async () => {
      const config = requireConfig()
      const staff = staffFor(config, 'cashout')
      const profile = effectiveProfile(config)
      if (!profile.cashout) refuse('cashout_not_allowed', `cash-outs are not allowed at booth ${config.booth}`)
      requireShiftFor(profile, 'a cash-out')
      requireOnline('a cash-out')
      requireOutboxRoomAndReader()
      await requireChain()
      const tag = await tap()
      const answer = await askBalance(tag.uid)
      if (answer.status === 'unknown_tag') refuseAfterTap('unknown_tag', 'the gateway does not know this wristband')
      if (answer.blocked) refuseAfterTap('tag_blocked', 'this wristband is blocked')
      const balance = answer.balance ?? 0
      if (balance <= 0) refuseAfterTap('nothing_to_pay_out', 'this wristband holds no money')
      // The whole balance; one transaction holds at most MAX_AMOUNT_CENTS (a second cash-out takes the rest).
      const amount = Math.min(balance, MAX_AMOUNT_CENTS)
      return sendAndAwait(appendEntry({ type: 'cashout', lines: [], amount, staff }, tag), amount)
    })
  }

  async function sellTicket(ticketSale: TicketSale): Promise<Outcome> {
    return exclusive(async () => {
      const config = requireConfig()
      const staff = staffFor(config, 'ticket')
      const priced = must(priceTickets(ticketSale?.lines, ticketSale?.topup, config))
      requireShiftFor(effectiveProfile(config), 'a ticket sale')
      requireOnline('a ticket sale')
      // The tap is the guest's new wristband.
      return run({ type: 'ticket', lines: priced.lines, amount: priced.amount, topup: priced.topup, staff })
    })
  }

  async function switchTag(pin: string): Promise<Outcome> {
    return exclusive(async () => {
      const config = requireConfig()
      const staff = staffFor(config, 'tag_switch')
      if (!effectiveProfile(config).tagSwitch) refuse('tag_switch_not_allowed', `tag switches are not allowed at booth ${config.booth}`)
      const portalPin = normalisePortalPin(pin)
      if (portalPin === undefined) refuse('invalid_pin', 'a portal PIN is 8 to 32 letters and digits (no I, O, 0 or 1)')
      if (config.pinSealKey === undefined) refuse('pin_seal_unavailable', 'the gateway has sent no key to seal the PIN to')
      requireOnline('a tag switch')
      requireOutboxRoomAndReader()
      // Sealed before the tap, so the PIN leaves memory before anything waits on the guest.
      const sealedPin = await sealPin(portalPin, config.pinSealKey)
      return run({ type: 'tag_switch', lines: [], amount: 0, sealedPin, staff })
    })
  }

  async function cancelLast(): Promise<Outcome> {
    return exclusive(async () => {
      const config = requireConfig()
      const staff = staffFor(config, 'cancel')
      const windowMs = effectiveProfile(config).cancelWindowMs
      if (windowMs <= 0) refuse('cancel_not_allowed', `cancelling is not allowed at booth ${config.booth}`)
      const last = outbox.lastSale()
      if (!last || last.cancelled) refuse('nothing_to_cancel', 'no accepted sale to cancel at this kiosk')
      if (clock.now() - last.at > windowMs) refuse('cancel_not_allowed', `the last sale is older than ${windowMs} ms`)
      requireOnline('a cancel')
      requireOutboxRoom()
      await requireChain()
      // No tap: the guest may have left. The original tag, without its SUN (a used SUN would be a replay).
      return sendAndAwait(appendEntry({ type: 'cancel', lines: [], amount: last.amount, ref: last.id, staff }, { uid: last.tag.uid, type: last.tag.type }), last.amount)
    })
  }

  async function checkBalance(): Promise<BalanceInfo> {
    return exclusive(async () => {
      const config = requireConfig()
      // Not a transaction, but a staffed kiosk is used by logged-in staff only.
      if (config.staff !== undefined && !sessions.current()) refuse('not_logged_in', 'log in with a staff wristband first')
      requireOnline('a balance check')
      requireReader()
      const tag = await tap()
      const answer = await askBalance(tag.uid)
      if (answer.status === 'unknown_tag') refuseAfterTap('unknown_tag', 'the gateway does not know this wristband')
      counts.balanceChecks += 1
      feedback(answer.blocked ? 'rejected' : 'accepted')
      changed()
      return {
        uid: answer.uid,
        balance: answer.balance ?? 0,
        vouchers: answer.vouchers ?? 0,
        blocked: answer.blocked ?? false,
        variant: answer.variant ?? null,
        debt: answer.debt ?? false,
        recent: answer.recent ?? [],
      }
    })
  }

  /**
   * A shift is booked on the logged-in staff member's wristband (no new tap);
   * without a staff list the cashier taps their own wristband.
   */
  async function shiftTag(): Promise<TagInfo> {
    const session = sessions.current()
    if (session) return { uid: session.uid, type: session.tagType }
    requireReader()
    return tap()
  }

  async function openShift(register: string, floatCents: number): Promise<Outcome> {
    return exclusive(async () => {
      const config = requireConfig()
      const staff = staffFor(config, 'shift_open')
      if (typeof register !== 'string' || !(config.registers ?? []).some((r) => r.id === register)) refuse('unknown_register', `no cash register ${JSON.stringify(String(register)).slice(0, 80)} at this kiosk`)
      const open = localState.shift()
      if (open) refuse('shift_already_open', `a shift is open on register ${open.register} since ${new Date(open.openedAt).toISOString()}`)
      if (!validAmount(floatCents, 0)) refuse('invalid_amount', `the opening float must be a whole number of cents from 0 to ${MAX_AMOUNT_CENTS}`)
      requireOnline('opening a shift')
      requireOutboxRoom()
      await requireChain()
      const tag = await shiftTag()
      return sendAndAwait(appendEntry({ type: 'shift_open', lines: [], amount: floatCents, register, staff }, tag), floatCents)
    })
  }

  async function closeShift(countedCents: number): Promise<Outcome> {
    return exclusive(async () => {
      const config = requireConfig()
      const staff = staffFor(config, 'shift_close')
      const open = localState.shift()
      if (!open) refuse('no_open_shift', 'no shift is open at this kiosk')
      if (!validAmount(countedCents, 0)) refuse('invalid_amount', `the counted cash must be a whole number of cents from 0 to ${MAX_AMOUNT_CENTS}`)
      requireOnline('closing a shift')
      requireOutboxRoom()
      await requireChain()
      const tag = await shiftTag()
      return sendAndAwait(appendEntry({ type: 'shift_close', lines: [], amount: countedCents, register: open.register, staff }, tag), countedCents)
    })
  }

  async function login(pin?: string): Promise<StaffSession> {
    return exclusive(async () => {
      const config = requireConfig()
      if (config.staff === undefined) refuse('unknown_staff', 'this event has no staff list: nobody logs in here')
      requireReader()
      const tag = await tap()
      const checked = authenticateStaff(configNow(config), tag.uid, pin)
      if (!checked.ok) {
        logger.warn({ uid: tag.uid, refusal: checked.type }, 'staff login refused')
        refuseAfterTap(checked.type, checked.message)
      }
      const session = sessions.login(checked.value, tag.type)
      counts.staffLogins += 1
      feedback('accepted')
      logger.info({ staff: session.uid, name: session.name, roles: session.roles }, 'staff logged in')
      changed()
      return session
    })
  }

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
      // Blocked wristbands are refused before the card is charged.
      waitForTag: tap,
      append: ({ tag, amount, payment }, within) => appendEntry({ type: 'topup_card', lines: [], amount, payment, staff: cardStaff ?? recoveryStaff() }, tag, within),
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

  /**
   * A card payment recovered after a crash is booked by whoever is logged in
   * now (the session did not survive the restart), if their roles allow it.
   */
  function recoveryStaff(): string | undefined {
    const config = catalog.current()
    if (!config) return undefined
    const checked = authorizeStaff(config, sessions.current(), 'topup_card')
    return checked.ok ? checked.value : undefined
  }

  async function cardTopUp(amountCents: number): Promise<CardTopUpOutcome> {
    return exclusive(async () => {
      const config = requireConfig()
      const staff = staffFor(config, 'topup_card')
      if (!effectiveProfile(config).topupCard) refuse('topup_not_allowed', `top-ups are not allowed at booth ${config.booth}`)
      checkTopUpAmount(amountCents)
      if (!card.terminalReady()) refuse('terminal_unavailable', 'no card terminal is connected to this kiosk')
      // A payment left open must be settled first: the terminal can only tell about its last one.
      if (card.unresolvedCount() > 0) await card.recover()
      const unresolved = card.unresolvedCount()
      if (unresolved > 0) refuse('card_payment_unresolved', `${unresolved} card payment(s) with unknown outcome: a supervisor must resolve it before the next card top-up`)
      requireOutboxRoomAndReader()
      await requireChain()
      cardStaff = staff
      try {
        return await card.take(amountCents)
      } finally {
        cardStaff = undefined
      }
    })
  }

  async function resolveCardPayment(resolution: CardResolution): Promise<CardTopUpOutcome> {
    return exclusive(async () => {
      const config = catalog.current()
      if (config) must(authorizeSupervisor(config, sessions.current()))
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

  /** The gateway accepted a shift transaction: the open shift changes (also for late answers). */
  function trackShift(tx: Transaction): void {
    let next: OpenShift | undefined
    if (tx.type === 'shift_open' && tx.register !== undefined) next = { register: tx.register, openedAt: tx.at, staff: tx.staff ?? null, floatCents: tx.amount }
    else if (tx.type !== 'shift_close') return
    stateWrite = localState.setShift(next).catch((err: Error) => logger.error({ err: err.message }, 'storing the shift failed'))
  }

  function handleResult(result: TxResult): void {
    // Not booked (the gateway looks ids up before seqs): not an answer to record, but a seq to move.
    if (result.status === 'rejected' && result.reason === 'seq_conflict' && outbox.get(result.id) !== undefined) {
      chain.onSeqConflict(result.id)
      return
    }
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
    const tx = marked.entry.envelope.tx
    if (marked.entry.seq !== result.seq) logger.warn({ id: result.id, seq: marked.entry.seq, replySeq: result.seq }, 'answer names another seq than the transaction')
    if (result.status === 'accepted') {
      counts.accepted += 1
      trackShift(tx)
    } else counts.rejected += 1
    if (result.status === 'rejected' && tx.type === 'topup_card') {
      counts.cardTopUpsRefused += 1
      // The card was charged and the gateway booked nothing: the guest must get the money back at the terminal.
      logger.error({ id: result.id, seq: marked.entry.seq, reason: result.reason, amount: tx.amount }, 'gateway refused a paid card top-up: refund it at the terminal')
    }
    if (result.debt) logger.warn({ id: result.id, seq: marked.entry.seq, uid: tx.tag.uid }, 'an offline sale left a debt on the wristband')
    // Recorded as refused (the cashier sees the refusal, it is never sent again), but the gateway's cursor did not move.
    if (isUnrecordedRefusal(result)) chain.onUnrecordedRefusal(marked.entry.seq, result.reason ?? '')
    const waiter = waiters.get(result.id)
    if (waiter) waiter(result)
    else if (unwaited.delete(result.id)) logger.info({ id: result.id, seq: marked.entry.seq, status: result.status }, 'answer recorded')
    else {
      counts.lateAnswers += 1
      logger.info({ id: result.id, seq: marked.entry.seq, status: result.status }, 'late answer recorded')
    }
    changed()
  }

  function handleBalance(answer: BalanceAnswer): void {
    const waiter = queryWaiters.get(answer.requestId)
    if (!waiter) {
      counts.unknownReplies += 1
      logger.info({ requestId: answer.requestId }, 'balance answer nobody waits for (late or foreign)')
      changed()
      return
    }
    if (answer.uid !== waiter.uid || (answer.status === 'ok' && answer.balance === undefined)) {
      // Not the answer to this question: keep waiting (the timeout ends it) rather than show a wrong balance.
      counts.badBalanceAnswers += 1
      logger.warn({ requestId: answer.requestId, status: answer.status }, 'unusable balance answer ignored')
      changed()
      return
    }
    waiter.settle(answer)
  }

  function handleReply(reply: ReplyMessage): void {
    if (reply.kind === 'result') {
      handleResult(reply)
      return
    }
    if (reply.kind === 'balance') {
      handleBalance(reply)
      return
    }
    if (reply.kind === 'chain') {
      chain.handleAnswer(reply)
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

  function lastSale(): LastSaleInfo | null {
    const last = outbox.lastSale()
    if (!last || last.cancelled) return null
    const config = catalog.current()
    const windowMs = config ? effectiveProfile(config).cancelWindowMs : 0
    return { id: last.id, type: last.type, amount: last.amount, at: last.at, cancellableUntil: last.at + windowMs }
  }

  return {
    sale,
    topUp,
    cardTopUp,
    resolveCardPayment,
    recoverCardPayments,
    cashOut,
    sellTicket,
    switchTag,
    cancelLast,
    checkBalance,
    openShift,
    closeShift,
    login,
    logout() {
      const had = sessions.current()
      sessions.logout()
      if (had) {
        logger.info({ staff: had.uid }, 'staff logged out')
        changed()
      }
    },
    session: () => sessions.current() ?? null,
    shift: () => localState.shift() ?? null,
    lastSale,
    offlineTotals() {
      const { kioskCents, count } = outbox.offlineTotals()
      return { kioskCents, count }
    },
    abort() {
      if (!abortTap) return false
      abortTap()
      return true
    },
    isBusy: () => busy,
    counters: () => ({
      ...counts,
      ...card.counters(),
      malformedReplies: link.counters?.().malformedReplies ?? 0,
      outboxDepth: outbox.depth(),
    }),
    onChange: (listener) => void listeners.push(listener),
    chainState: () => chain.state(),
    confirmChainRecovery,
    stop() {
      stopped = true
      chain.stop()
      abortCurrent?.('stopped')
    },
  }
}
