// The kiosk's core: what every operation is made of, and nothing of any one
// operation. Tap (a valid tag, not on the blocklist), sign (a transaction
// into the outbox, chained), send and wait for the answer, and the answers
// themselves (results, balances, chain checks, resend requests). Besides:
// the one-operation-at-a-time lock, the refusals every operation shares, the
// counters and the change listeners. The answers are routed in answers.ts.
// The operations (sale.ts, topups.ts, shifts.ts, tickets.ts, staff.ts) are
// built on this contract only.
import { createPublicKey } from 'node:crypto'
import type { Logger } from 'pino'
import type { BalanceAnswer, CardPayment, Clock, Envelope, KioskConfig, Line, TerminalTotals, TillProfile, Transaction, TransactionType } from '../../device-protocol/index.js'
import { MAX_AMOUNT_CENTS, publicKeyToBase64Url, signTransaction, validateEnvelope, TagSun, TagUid } from '../../device-protocol/index.js'
import { createValidator } from '../../device-protocol/index.js'
import type { Reader, ReaderFeedback, TagInfo } from '../reader/reader.js'
import type { Outbox, OutboxEntry } from '../outbox.js'
import { OutboxFullError, OutboxStorageError } from '../outbox.js'
import type { CatalogSource, KioskLocalState, OpenShift } from '../local-config.js'
import { KioskError, storageFailedMessage, type Checked, type KioskErrorType } from '../kiosk-error.js'
import { authorizeStaff, authorizeSupervisor, type StaffSessions } from '../staff-session.js'
import { isBlocked } from '../blocklist.js'
import { createChainGuard, type ChainRecovery, type ChainState } from '../chain-guard.js'
import { createAnswers } from './answers.js'
import type { CardCounters } from '../card-topup.js'
import type { KioskCounters, KioskLink, KioskOptions, Outcome } from './types.js'

export type FeedbackKind = 'accepted' | 'rejected' | 'pending' | 'offline'

/** What an operation has decided to sign, before the tap adds the tag. */
export interface Prepared {
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
  terminalTotals?: TerminalTotals
}

/** The counters the core and the operations keep (the card flow and the link keep their own). */
export type CoreCounters = Omit<KioskCounters, keyof CardCounters | 'malformedReplies' | 'outboxDepth'>

export type SentOutcome = Outcome & { status: 'accepted' | 'rejected' | 'pending' }

/** The outbox's storage while a write of it fails (disk full, I/O error, locked), from the first failure of the episode. */
export interface StorageFault {
  /** SQLite's or the file system's code of the latest failure: SQLITE_FULL, SQLITE_IOERR_WRITE, SQLITE_BUSY, ENOSPC, ... */
  code: string
  /** Clock time of the episode's first failure, Unix ms. */
  since: number
  /** Answers of the gateway that could not be recorded in this episode (their entries stay pending). */
  unrecordedAnswers: number
}

/** The kiosk's own options, with kiosk.ts's defaults filled in, plus the staff sessions it shares with the staff module. */
export type KioskCoreOptions = Required<Pick<KioskOptions, 'kioskId' | 'reader' | 'outbox' | 'link' | 'privateKey' | 'clock' | 'logger' | 'catalog' | 'localState' | 'newId' | 'replyTimeoutMs' | 'tapTimeoutMs' | 'feedbackDurationMs' | 'lockedMessage'>> & {
  sessions: StaffSessions
}

/** The one contract the operations are written against. */
export interface KioskCore {
  readonly kioskId: string
  readonly clock: Clock
  readonly logger: Logger
  readonly catalog: CatalogSource
  readonly outbox: Outbox
  readonly link: KioskLink
  readonly localState: KioskLocalState
  readonly sessions: StaffSessions
  readonly newId: () => string

  /**
   * One operation at a time: the lock every operation (and card recovery) takes. Refuses 'busy' and 'stopped', and
   * 'locked' while an operator has locked the kiosk, unless evenWhenLocked (settling card payments already taken).
   */
  exclusive<T>(operation: () => Promise<T>, options?: { evenWhenLocked?: boolean }): Promise<T>
  isBusy(): boolean
  isStopped(): boolean

  /** Counts the refusal and throws it as a KioskError. */
  refuse(type: KioskErrorType, message: string): never
  /** The value of a passed check; a failed one is refused. */
  must<T>(checked: Checked<T>): T
  /** After a tap: the guest sees red at once, nothing is signed. */
  refuseAfterTap(type: KioskErrorType, message: string): never
  requireConfig(): KioskConfig
  /** The config after a tap: the newest one (it may have changed while the guest came up). */
  configNow(fallback: KioskConfig): KioskConfig
  /** The `staff` a transaction of `type` carries; refuses when the session may not book it. */
  staffFor(config: KioskConfig, type: TransactionType): string | undefined
  requireOnline(what: string): void
  requireShiftFor(profile: TillProfile, what: string): void
  requireOutboxRoom(): void
  requireReader(): void
  requireOutboxRoomAndReader(): void
  /** Before a transaction is signed: refused while the chain waits for an operator (or, online, for the gateway's check). */
  requireChain(): Promise<void>

  /** A valid tap, refused when the wristband is on the verified blocklist; rejects on timeout, stop or abort. */
  tap(): Promise<TagInfo>
  /** Ends a tap wait with 'aborted'. Returns whether one was waiting. */
  abortTap(): boolean
  /** Asks the gateway about a wristband; gateway_unreachable when it cannot be asked or does not answer in time. */
  askBalance(uid: string): Promise<BalanceAnswer>
  feedback(status: FeedbackKind): void

  /** Signs and stores the transaction; `within` runs in the same SQLite transaction (card payment records). */
  append(prepared: Prepared, tag: TagInfo, within?: (entry: OutboxEntry) => void): OutboxEntry
  /** Publishes a stored entry and waits for the answer (pending when none comes in time). */
  sendAndAwait(entry: OutboxEntry, amount: number): Promise<SentOutcome>
  /** Publishes a stored entry nobody waits for (recovered card payments): its answer is not a "late" one. */
  sendInBackground(entry: OutboxEntry): void
  /** Room, reader, chain, tap, sign, send, answer: the common path of a tapped transaction. */
  run(prepared: Prepared): Promise<Outcome>
  /** Lets stop() end what the operation waits on (a tap, an answer, a card payment). */
  setAbort(abort: ((reason: 'stopped') => void) | undefined): void

  /**
   * Called with every transaction the gateway accepts (late answers too); an
   * answer is reported only once the promise it returns has settled.
   */
  onAccepted(handler: (tx: Transaction) => Promise<void> | void): void
  /** Called when the gateway refuses a topup_card the terminal had approved (its first answer, late ones too). */
  onCardTopUpRefused(handler: (tx: Transaction, reason: string) => void): void

  count(counter: keyof CoreCounters): void
  counters(): CoreCounters
  changed(): void
  onChange(listener: () => void): void
  chainState(): ChainState
  /** The outbox's storage fault while writes fail, undefined while they work. */
  storageFault(): StorageFault | undefined
  /** An operator confirms a damaged outbox; a supervisor's session is needed where the event has staff. */
  confirmChainRecovery(): Promise<ChainRecovery>
  stop(): void
}

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

const RESULT_EXTRAS = ['charged', 'vouchersUsed', 'vouchers', 'pin', 'expected', 'difference', 'debt'] as const

export const validAmount = (cents: unknown, minimum: number): cents is number => Number.isSafeInteger(cents) && (cents as number) >= minimum && (cents as number) <= MAX_AMOUNT_CENTS

/** The open shift in memory, for kiosks without a local config file. */
export function memoryState(): KioskLocalState {
  let shift: OpenShift | undefined
  return {
    shift: () => (shift ? { ...shift } : undefined),
    async setShift(next) {
      shift = next ? { ...next } : undefined
    },
  }
}

export function createKioskCore(options: KioskCoreOptions): KioskCore {
  const { kioskId, reader, outbox, link, privateKey, clock, logger, catalog, localState, sessions, newId, replyTimeoutMs, tapTimeoutMs, feedbackDurationMs } = options

  const counts: CoreCounters = {
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
    cardTopUpsRefused: 0,
  }
  const listeners: Array<() => void> = []
  const acceptedHandlers: Array<(tx: Transaction) => Promise<void> | void> = []
  const cardRefusedHandlers: Array<(tx: Transaction, reason: string) => void> = []
  let busy = false
  let stopped = false
  let abortCurrent: ((reason: 'stopped') => void) | undefined
  /** Set only while a tap is awaited: what the cashier's cancel button ends. */
  let abortTap: (() => void) | undefined
  /** The last write caused by an accepted answer (the shift state), awaited before an operation reports. */
  let stateWrite: Promise<void> = Promise.resolve()
  /** Set while writes to the outbox fail: one episode, logged once, ended by the next write that works. */
  let storageFault: StorageFault | undefined

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

  /** A write of the outbox failed: the episode's first failure is logged and shown in the state; later ones only update the code. */
  function storageFailed(err: OutboxStorageError, what: 'append' | 'answer'): void {
    if (storageFault === undefined) {
      storageFault = { code: err.code, since: clock.now(), unrecordedAnswers: 0 }
      logger.error({ err, code: err.code, what }, 'the outbox cannot be written: new transactions are refused until it can; nothing stored is lost')
    } else storageFault.code = err.code
    if (what === 'answer') storageFault.unrecordedAnswers += 1
    changed()
  }

  /**
   * A transaction was stored: the episode is over (a recorded answer does not end it: it may fit where a
   * transaction does not). Entries whose answers could not be recorded are sent again, so the gateway answers them again.
   */
  function storageWorks(): void {
    if (storageFault === undefined) return
    const { code, since, unrecordedAnswers } = storageFault
    storageFault = undefined
    logger.info({ code, failingForMs: clock.now() - since, unrecordedAnswers }, 'the outbox can be written again')
    if (unrecordedAnswers > 0) link.resendPending()
    changed()
  }

  const answers = createAnswers({
    outbox,
    link,
    chain,
    logger,
    newId,
    replyTimeoutMs,
    tally: (counter) => void (counts[counter] += 1),
    changed,
    accepted,
    storageFailed: (err) => storageFailed(err, 'answer'),
    setAbort: (abort) => void (abortCurrent = abort),
    cardTopUpRefused: (tx, reason) => {
      for (const handler of cardRefusedHandlers) handler(tx, reason)
    },
  })

  function refuse(type: KioskErrorType, message: string): never {
    counts.refused += 1
    throw new KioskError(type, message)
  }

  function must<T>(checked: Checked<T>): T {
    if (!checked.ok) refuse(checked.type, checked.message)
    return checked.value
  }

  function refuseAfterTap(type: KioskErrorType, message: string): never {
    feedback('rejected')
    refuse(type, message)
  }

  function requireConfig(): KioskConfig {
    const config = catalog.current()
    if (!config) refuse('no_config', 'this kiosk has no configuration from the gateway yet')
    return config
  }

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
    if (prepared.terminalTotals !== undefined) tx.terminalTotals = prepared.terminalTotals
    if (prepared.topup !== undefined) tx.topup = prepared.topup
    if (prepared.sealedPin !== undefined) tx.sealedPin = prepared.sealedPin
    if (prepared.offline) tx.offline = true
    const envelope = signTransaction(tx, privateKey)
    const checked = validateEnvelope(envelope)
    // Never store what the gateway would refuse as malformed: that would be a bug here, so fail loudly.
    if (!checked.ok) throw new Error(`built an invalid transaction: ${checked.error}`)
    return envelope
  }

  function append(prepared: Prepared, tag: TagInfo, within?: (entry: OutboxEntry) => void): OutboxEntry {
    const id = newId()
    let entry: OutboxEntry
    try {
      entry = outbox.append((seq, prev) => buildEnvelope(prepared, tag, id, seq, prev), within)
    } catch (err) {
      if (err instanceof OutboxFullError) {
        feedback('rejected')
        refuse('outbox_full', err.message)
      }
      if (err instanceof OutboxStorageError) {
        // Nothing was stored, so nothing may be shown as paid (nor a card charged after this).
        storageFailed(err, 'append')
        feedback('rejected')
        refuse('storage_failed', storageFailedMessage(err.code))
      }
      throw err
    }
    storageWorks()
    if (prepared.type === 'sale' || prepared.type === 'return') counts.sales += 1
    else if (prepared.type === 'topup_cash' || prepared.type === 'topup_card') counts.topups += 1
    else counts.otherTransactions += 1
    return entry
  }

  async function sendAndAwait(entry: OutboxEntry, amount: number): Promise<SentOutcome> {
    const id = entry.id
    // Register before publishing: the answer may arrive before publish() returns.
    const reply = answers.waitForReply(id)
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

  function sendInBackground(entry: OutboxEntry): void {
    answers.expectUnwaited(entry.id)
    const sentNow = link.publishTx(entry.envelope)
    logger.info({ id: entry.id, seq: entry.seq, type: entry.envelope.tx.type, sentNow }, 'transaction stored and sent')
    changed()
  }

  async function run(prepared: Prepared): Promise<Outcome> {
    requireOutboxRoomAndReader()
    await requireChain()
    const tag = await tap()
    return sendAndAwait(append(prepared, tag), prepared.amount)
  }

  async function exclusive<T>(operation: () => Promise<T>, exclusiveOptions: { evenWhenLocked?: boolean } = {}): Promise<T> {
    if (stopped) refuse('stopped', 'the kiosk is stopping')
    const locked = exclusiveOptions.evenWhenLocked ? null : options.lockedMessage()
    if (locked !== null) refuse('locked', locked)
    if (busy) refuse('busy', 'another operation is in progress at this kiosk')
    busy = true
    try {
      return await operation()
    } finally {
      busy = false
    }
  }

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

  function accepted(tx: Transaction): void {
    for (const handler of acceptedHandlers) {
      const done = handler(tx)
      if (done) stateWrite = done
    }
  }

  return {
    kioskId,
    clock,
    logger,
    catalog,
    outbox,
    link,
    localState,
    sessions,
    newId,
    exclusive,
    isBusy: () => busy,
    isStopped: () => stopped,
    refuse,
    must,
    refuseAfterTap,
    requireConfig,
    configNow: (fallback) => catalog.current() ?? fallback,
    staffFor: (config, type) => must(authorizeStaff(config, sessions.current(), type)),
    requireOnline,
    requireShiftFor,
    requireOutboxRoom,
    requireReader,
    requireOutboxRoomAndReader,
    requireChain,
    tap,
    abortTap() {
      if (!abortTap) return false
      abortTap()
      return true
    },
    askBalance: answers.askBalance,
    feedback,
    append,
    sendAndAwait,
    sendInBackground,
    run,
    setAbort(abort) {
      abortCurrent = abort
    },
    onAccepted: (handler) => void acceptedHandlers.push(handler),
    onCardTopUpRefused: (handler) => void cardRefusedHandlers.push(handler),
    count(counter) {
      counts[counter] += 1
    },
    counters: () => ({ ...counts }),
    changed,
    onChange: (listener) => void listeners.push(listener),
    chainState: () => chain.state(),
    storageFault: () => (storageFault === undefined ? undefined : { ...storageFault }),
    confirmChainRecovery,
    stop() {
      stopped = true
      chain.stop()
      abortCurrent?.('stopped')
    },
  }
}
