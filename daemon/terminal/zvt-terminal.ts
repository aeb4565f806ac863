// Card terminal adapter for ZVT terminals on a serial line or, with `tcp`, on
// the LAN (ZVT over TCP, port 20007; the kiosk is the ECR). The transport is
// chosen once here; everything below the link and the connection is the same. open() registers (06 00); pay() checks the terminal's journal with a
// status enquiry (05 01), sends the authorisation (06 01), forwards the
// intermediate statuses (04 FF) and takes the result from the status
// information (04 0F) and completion (06 0F) or abort (06 1E).
//
// Money safety: when the answer is lost (line cut, timeout, garbled or
// contradictory messages) the adapter reconnects and asks the terminal for its
// last transaction. It answers 'approved' only if that transaction is new since
// the enquiry made just before this payment, has this payment's amount and the
// result code 00; 'aborted' only if the terminal is idle and its journal has no
// new transaction; 'unknown' otherwise. It never guesses. Terminals whose status
// enquiry does not carry the last transaction are asked for a repeat receipt
// (06 20) instead, judged by the same rules against the last trace number this
// adapter knew before the payment.
//
// reverse() sends a reversal (06 30) by receipt number; endOfDay() closes the
// terminal's day (06 50) and reads its totals (BMP 60).
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import {
  ZVT_MAX_AMOUNT_CENTS,
  ZVT_TCP_DEFAULT_PORT,
  ZVT_TERMINAL_READY,
  decodeZvtMessage,
  encodeZvtMessage,
  isAbortCode,
  zvtIntermediateText,
  zvtResultText,
  type ZvtMessage,
  type ZvtStatusInformation,
} from '../../device-protocol/zvt/index.js'
import { createSerialConnection, type SerialBinding } from '../serial-connection.js'
import type { CardPaymentResult, EndOfDayResult, PaymentTerminal, ReversalResult, TerminalStatus } from './terminal.js'
import { ZVT_LINK_COUNTERS, ZvtSendError, createZvtLink, type ZvtLink } from './zvt-link.js'
import { createZvtTcpLink } from './zvt-tcp-link.js'
import { createTcpConnection } from './tcp-connection.js'

export type { SerialBinding } from '../serial-connection.js'

export interface ZvtTerminalOptions {
  /** e.g. /dev/ttyUSB0; not used with `tcp`. */
  path?: string
  /** ZVT over TCP instead of the serial line: the terminal's address on the LAN. */
  tcp?: { host: string; port?: number; connectTimeoutMs?: number }
  /** ZVT serial lines run at 9600 baud by default. */
  baudRate?: number
  binding?: SerialBinding
  /** The terminal's 6-digit ECR password. Never logged. */
  password: string
  /** ISO 4217 numeric, e.g. 978 for EUR. */
  currency: number
  logger: Logger
  /** How long to wait for the ACK byte of a frame, and for the ACK APDU of a command. */
  ackTimeoutMs?: number
  /** The whole authorisation, customer included (card, PIN). */
  paymentTimeoutMs?: number
  /** Registration and status enquiry. */
  commandTimeoutMs?: number
  /** How long a recovery may wait for the line to come back before it answers 'unknown'. */
  recoveryTimeoutMs?: number
  /** Pause between attempts to (re)open the port or register. */
  reconnectDelayMs?: number
  /** Registration config byte. Default 0x08: the terminal sends intermediate status information. */
  configByte?: number
}

export const ZVT_TERMINAL_COUNTERS = [
  ...ZVT_LINK_COUNTERS,
  'reconnects',
  'openFailures',
  'connectionLosses',
  'errors', // port errors, write errors, listeners that threw
  'malformed', // APDUs that do not decode
  'unexpected', // messages that fit no exchange in progress
  'commandNaks', // 84 xx answers to our commands
  'commandTimeouts', // commands the terminal did not acknowledge (80 00 00) in time
  'registrations',
  'registrationFailures',
  'enquiries',
  'payments',
  'approved',
  'declined',
  'aborted',
  'unknown',
  'paymentTimeouts',
  'recoveries',
  'recovered',
  'repeatReceipts', // repeat receipts (06 20) asked for while recovering
  'recoveredByReceipt', // outcomes only the repeated receipt told
  'reversals',
  'reversed',
  'endOfDays',
  'endOfDayFailures',
  'intermediate',
  'skippedBmps', // bitmaps unknown to us, passed over by their length: the message is still whole
] as const
export type ZvtTerminalCounter = (typeof ZVT_TERMINAL_COUNTERS)[number]

export interface ZvtTerminal extends PaymentTerminal {
  readonly kind: 'zvt'
  readonly path: string
}

type FinalMessage = Extract<ZvtMessage, { kind: 'completion' | 'abort' }>

type ExchangeOutcome =
  | { kind: 'final'; final: FinalMessage; messages: ZvtMessage[]; garbled: boolean }
  | { kind: 'refused'; code: number }
  /** No final answer: the line went, the terminal stopped answering, or the frame was never acknowledged. */
  | { kind: 'lost'; reason: string; messages: ZvtMessage[]; garbled: boolean }

interface Exchange {
  messages: ZvtMessage[]
  garbled: boolean
  onMessage: (m: ZvtMessage) => void
  lost: (reason: string) => void
}

interface PendingPayment {
  amountCents: number
  /** The trace number of the terminal's last transaction before this payment; null: it had none (or, when not baselineKnown, none we know of). */
  baselineTrace: string | null
  /** Whether baselineTrace is known: the status enquiry before the payment told it, or this adapter saw the terminal's last trace itself. */
  baselineKnown: boolean
}

interface RepeatedReceipt {
  last: ZvtStatusInformation | null
  lines: string[]
  garbled: boolean
}

interface Enquiry {
  last: ZvtStatusInformation | null
  terminalStatus: number | undefined
  garbled: boolean
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const abortText = (resultCode: number | undefined): string => (resultCode === undefined ? 'aborted without a result code' : zvtResultText(resultCode))

export function createZvtTerminal(options: ZvtTerminalOptions): ZvtTerminal {
  const {
    baudRate = 9_600,
    password,
    currency,
    logger: parentLogger,
    ackTimeoutMs = 3_000,
    paymentTimeoutMs = 120_000,
    commandTimeoutMs = 15_000,
    recoveryTimeoutMs = 30_000,
    reconnectDelayMs = 2_000,
    configByte = 0x08,
  } = options
  const path = options.tcp ? `${options.tcp.host}:${options.tcp.port ?? ZVT_TCP_DEFAULT_PORT}` : options.path
  if (!path) throw new RangeError('a ZVT terminal needs a serial port path or a tcp address')
  if (!/^[0-9]{6}$/.test(password)) throw new RangeError('the ZVT password must be 6 digits')
  if (!Number.isInteger(currency) || currency < 1 || currency > 999) throw new RangeError(`currency must be an ISO 4217 numeric code, got ${currency}`)
  const logger = parentLogger.child({ terminal: 'zvt', path })
  const counters = Object.fromEntries(ZVT_TERMINAL_COUNTERS.map((name) => [name, 0])) as Record<ZvtTerminalCounter, number>

  let wanted = false // between open() and close(): registration retries stop with close()
  let registered = false
  let terminalId: string | undefined
  let registering: Promise<void> | null = null
  let busy = false
  let exchange: Exchange | null = null
  let unresolved: PendingPayment | null = null
  /** The newest trace number this adapter heard from the terminal (payments, reversals, journals): the baseline for a repeat receipt. */
  let lastSeenTrace: string | undefined
  const commandAckWaiters: ((m: Extract<ZvtMessage, { kind: 'ack' | 'nak' }>) => void)[] = []
  const readyWaiters = new Set<() => void>()
  // Each kind of line trouble is logged at warn once per connection, then at debug.
  const warned = new Set<string>()

  const terminal = new EventEmitter() as ZvtTerminal

  function status(): TerminalStatus {
    return { kind: 'zvt', connected: connection.isOpen && registered, busy, ...(terminalId ? { terminalId } : {}), counters: { ...counters } }
  }

  function safeEmit(event: string, ...args: unknown[]): void {
    try {
      terminal.emit(event, ...args)
    } catch (err) {
      counters.errors++
      logger.error({ err, event }, 'a terminal event listener threw')
    }
  }

  function trouble(kind: string, detail: unknown, msg: string): void {
    if (warned.has(kind)) logger.debug({ detail }, msg)
    else {
      warned.add(kind)
      logger.warn({ detail }, `${msg} (further ones at debug level)`)
    }
  }

  const link: ZvtLink = options.tcp
    ? createZvtTcpLink({
        write: (bytes) => tcpConnection!.write(bytes),
        onApdu: handleApdu,
        onTrouble: (kind, detail) => trouble(kind, detail, 'trouble on the terminal connection'),
        onStreamBroken: (reason) => tcpConnection!.drop(reason),
        counters,
      })
    : createZvtLink({
        write: (bytes) => connection.write(bytes),
        onApdu: handleApdu,
        onTrouble: (kind, detail) => trouble(kind, detail, 'trouble on the terminal line'),
        counters,
        ackTimeoutMs,
      })

  function reply(message: ZvtMessage): void {
    link.send(encodeZvtMessage(message)).catch((err: Error) => logger.debug({ err: err.message }, 'our acknowledgement APDU was not acknowledged'))
  }

  function handleApdu(apdu: Buffer): void {
    const decoded = decodeZvtMessage(apdu)
    if (!decoded.ok) {
      counters.malformed++
      trouble('malformed', { error: decoded.error, detail: decoded.detail }, 'unusable APDU from the terminal')
      if (exchange) exchange.garbled = true
      // Acknowledge it all the same: the terminal goes on to its completion, and a
      // garbled exchange ends in recovery by status enquiry, never in a guess.
      if (decoded.error !== 'apdu' && decoded.cls !== 0x80 && decoded.cls !== 0x84) reply({ kind: 'ack' })
      return
    }
    const message = decoded.message
    if (message.kind === 'ack' || message.kind === 'nak') {
      const waiter = commandAckWaiters.shift()
      if (waiter) waiter(message)
      else {
        counters.unexpected++
        trouble('unexpected-ack', message, 'acknowledgement APDU for no command of ours')
      }
      return
    }
    if (message.kind === 'statusInformation' && message.info.parseError) {
      trouble('status-info-partial', message.info.parseError, 'status information only partly readable')
      if (exchange) exchange.garbled = true
    }
    if (message.kind === 'statusInformation' && !message.info.parseError && message.info.traceNumber !== undefined) lastSeenTrace = message.info.traceNumber
    if (message.kind === 'statusInformation' && message.info.tlvError) {
      // Not garbled: the bitmaps around the container are whole, the result code counts; only the container's extras are lost.
      trouble('status-info-tlv', message.info.tlvError, 'status information with an unreadable TLV container')
    }
    if (message.kind === 'statusInformation' && message.info.skippedTags) {
      // Not garbled: every bitmap was read or passed over by its own length.
      counters.skippedBmps += message.info.skippedTags.length
      trouble('unknown-bmps', message.info.skippedTags.map((tag) => `0x${tag.toString(16).padStart(2, '0')}`), 'status information with bitmaps unknown to us, passed over')
    }
    // Every terminal command gets our ACK APDU, print lines included.
    reply({ kind: 'ack' })
    if (message.kind === 'intermediateStatus') {
      counters.intermediate++
      if (message.tlvError) trouble('intermediate-tlv', message.tlvError, 'intermediate status with an unreadable TLV container')
      // Status FF: the terminal's own text (already cleaned of control characters and bounded by the codec).
      safeEmit('intermediate', message.text ?? zvtIntermediateText(message.status))
    }
    if (exchange) exchange.onMessage(message)
    else if (message.kind !== 'other' && message.kind !== 'printLine') {
      counters.unexpected++
      trouble('unexpected', { kind: message.kind }, 'message from the terminal outside any exchange')
    }
  }

  /** Sends a command and waits for the terminal's ACK APDU. */
  async function sendCommand(message: ZvtMessage): Promise<{ ok: true } | { ok: false; code?: number; reason: string }> {
    let waiter!: (m: Extract<ZvtMessage, { kind: 'ack' | 'nak' }>) => void
    const answer = new Promise<Extract<ZvtMessage, { kind: 'ack' | 'nak' }> | null>((resolve) => {
      const timer = setTimeout(() => {
        const i = commandAckWaiters.indexOf(waiter)
        if (i >= 0) commandAckWaiters.splice(i, 1)
        resolve(null)
      }, ackTimeoutMs)
      waiter = (m) => {
        clearTimeout(timer)
        resolve(m)
      }
      commandAckWaiters.push(waiter)
    })
    try {
      await link.send(encodeZvtMessage(message))
    } catch (err) {
      const i = commandAckWaiters.indexOf(waiter)
      if (i >= 0) commandAckWaiters.splice(i, 1)
      waiter({ kind: 'ack' }) // settles the timer; the answer is not used
      return { ok: false, reason: err instanceof ZvtSendError ? `frame not delivered: ${err.message}` : String(err) }
    }
    const m = await answer
    if (m === null) {
      counters.commandTimeouts++
      return { ok: false, reason: `no acknowledgement APDU within ${ackTimeoutMs} ms` }
    }
    if (m.kind === 'nak') {
      counters.commandNaks++
      return { ok: false, code: m.code, reason: `terminal refused the command: ${zvtResultText(m.code)}` }
    }
    return { ok: true }
  }

  /** One command and everything the terminal sends until its completion or abort. */
  async function runExchange(message: ZvtMessage, finalTimeoutMs: number): Promise<ExchangeOutcome> {
    if (exchange) throw new Error('another exchange with the terminal is in progress')
    let settle!: (o: ExchangeOutcome) => void
    const done = new Promise<ExchangeOutcome>((resolve) => (settle = resolve))
    const ex: Exchange = {
      messages: [],
      garbled: false,
      onMessage(m) {
        ex.messages.push(m)
        if (m.kind === 'completion' || m.kind === 'abort') settle({ kind: 'final', final: m, messages: ex.messages, garbled: ex.garbled })
      },
      lost(reason) {
        settle({ kind: 'lost', reason, messages: ex.messages, garbled: ex.garbled })
      },
    }
    exchange = ex
    let timer: NodeJS.Timeout | null = null
    try {
      const sent = await sendCommand(message)
      if (!sent.ok) {
        if (sent.code !== undefined) return { kind: 'refused', code: sent.code }
        ex.lost(sent.reason)
        return await done
      }
      timer = setTimeout(() => ex.lost(`no final answer within ${finalTimeoutMs} ms`), finalTimeoutMs)
      return await done
    } finally {
      if (timer) clearTimeout(timer)
      exchange = null
    }
  }

  async function statusEnquiry(): Promise<Enquiry> {
    counters.enquiries++
    const outcome = await runExchange({ kind: 'statusEnquiry', password }, commandTimeoutMs)
    if (outcome.kind === 'refused') throw new Error(`status enquiry refused: ${zvtResultText(outcome.code)}`)
    if (outcome.kind === 'lost') throw new Error(`status enquiry unanswered: ${outcome.reason}`)
    if (outcome.final.kind === 'abort') throw new Error(`status enquiry aborted: ${abortText(outcome.final.resultCode)}`)
    const infos = outcome.messages.flatMap((m) => (m.kind === 'statusInformation' ? [m.info] : []))
    return { last: infos.at(-1) ?? null, terminalStatus: outcome.final.terminalStatus, garbled: outcome.garbled }
  }

  /** 06 20: the terminal's last receipt again. Throws when the terminal refuses, aborts or does not answer. */
  async function repeatReceipt(): Promise<RepeatedReceipt> {
    counters.repeatReceipts++
    const outcome = await runExchange({ kind: 'repeatReceipt', password }, commandTimeoutMs)
    if (outcome.kind === 'refused') throw new Error(`repeat receipt refused: ${zvtResultText(outcome.code)}`)
    if (outcome.kind === 'lost') throw new Error(`repeat receipt unanswered: ${outcome.reason}`)
    if (outcome.final.kind === 'abort') throw new Error(`repeat receipt aborted: ${abortText(outcome.final.resultCode)}`)
    const infos = outcome.messages.flatMap((m) => (m.kind === 'statusInformation' ? [m.info] : []))
    const lines = outcome.messages.flatMap((m) => (m.kind === 'printLine' ? [m.text] : []))
    return { last: infos.at(-1) ?? null, lines, garbled: outcome.garbled }
  }

  // ---- port and registration ----

  function notifyReady(): void {
    for (const w of readyWaiters) w()
    readyWaiters.clear()
  }

  function waitReady(timeoutMs: number): Promise<boolean> {
    if (connection.isOpen && registered) return Promise.resolve(true)
    if (connection.isOpen && !registering) void register()
    return new Promise((resolve) => {
      const w = () => {
        clearTimeout(timer)
        resolve(true)
      }
      const timer = setTimeout(() => {
        readyWaiters.delete(w)
        resolve(connection.isOpen && registered)
      }, Math.max(0, timeoutMs))
      readyWaiters.add(w)
    })
  }

  function register(): Promise<void> {
    if (registering) return registering
    registering = (async () => {
      const p = connection.port
      if (!p) return
      const outcome = await runExchange({ kind: 'registration', password, configByte, currency }, commandTimeoutMs).catch((err: Error) => ({ kind: 'lost' as const, reason: err.message, messages: [], garbled: false }))
      if (connection.port !== p) return
      if (outcome.kind === 'final' && outcome.final.kind === 'completion') {
        counters.registrations++
        registered = true
        if (outcome.final.terminalId) terminalId = outcome.final.terminalId
        logger.info({ terminalId }, 'registered at the terminal')
        safeEmit('status', status())
        notifyReady()
        return
      }
      counters.registrationFailures++
      const why = outcome.kind === 'refused' ? zvtResultText(outcome.code) : outcome.kind === 'lost' ? outcome.reason : abortText((outcome.final as Extract<ZvtMessage, { kind: 'abort' }>).resultCode)
      logger.warn({ why, retryInMs: reconnectDelayMs }, 'registration at the terminal failed')
      safeEmit('terminalError', new Error(`registration at the terminal failed: ${why}`))
      setTimeout(() => {
        if (connection.port === p && !registered && wanted && !busy) void register()
      }, reconnectDelayMs).unref()
    })().finally(() => {
      registering = null
    })
    return registering
  }

  const connectionEvents = {
    onOpen() {
      warned.clear()
      link.reset('port reopened')
      void register()
    },
    onData(chunk: Buffer) {
      try {
        link.receive(chunk)
      } catch (err) {
        counters.errors++
        logger.error({ err }, 'handling bytes from the terminal failed')
      }
    },
    onLost() {
      registered = false
      counters.connectionLosses++
      link.reset('connection lost')
      exchange?.lost('connection lost')
    },
    emitError: (err: Error) => safeEmit('terminalError', err),
    emitStatus: () => safeEmit('status', status()),
  }
  const tcpConnection = options.tcp
    ? createTcpConnection({
        host: options.tcp.host,
        port: options.tcp.port ?? ZVT_TCP_DEFAULT_PORT,
        connectTimeoutMs: options.tcp.connectTimeoutMs ?? 5_000,
        reconnectDelayMs,
        logger,
        counters,
        ...connectionEvents,
      })
    : null
  const connection: {
    readonly port: object | null
    readonly isOpen: boolean
    open(): Promise<void>
    close(detached?: () => void): Promise<boolean>
    write(bytes: Buffer): unknown
  } = tcpConnection ?? createSerialConnection({ path, baudRate, binding: options.binding, logger, reconnectDelayMs, what: 'terminal', counters, ...connectionEvents })

  // ---- payments ----

  function resultFromInfo(info: ZvtStatusInformation, amountCents: number, via: string): CardPaymentResult {
    const code = info.resultCode
    // The error details behind result code FF ("system error"): what the terminal says went wrong.
    const errorDetail = code === 0xff ? [info.extendedErrorCode === undefined ? '' : `code ${info.extendedErrorCode}`, info.extendedErrorText ?? ''].filter(Boolean).join(': ') : ''
    const statusOf = (): CardPaymentResult['status'] => (code === 0 ? 'approved' : code !== undefined && isAbortCode(code) ? 'aborted' : code !== undefined ? 'declined' : 'unknown')
    return {
      status: statusOf(),
      amountCents,
      ...(code !== undefined ? { resultCode: code } : {}),
      ...(info.traceNumber ? { traceNumber: info.traceNumber } : {}),
      ...(info.receiptNumber ? { receiptNumber: info.receiptNumber } : {}),
      ...(info.terminalId || terminalId ? { terminalId: info.terminalId ?? terminalId } : {}),
      ...(info.maskedPan ? { maskedPan: info.maskedPan } : {}),
      ...(info.cardName || info.cardType !== undefined ? { cardType: info.cardName ?? `zvt-card-type-${info.cardType}` } : {}),
      ...(info.cardTechnology ? { cardTechnology: info.cardTechnology } : {}),
      ...(info.cardholderVerification ? { cardholderVerification: info.cardholderVerification } : {}),
      ...(info.aid ? { aid: info.aid } : {}),
      ...(info.longReceiptNumber ? { longReceiptNumber: info.longReceiptNumber } : {}),
      ...(errorDetail ? { errorDetail } : {}),
      message: code !== undefined ? `${zvtResultText(code)}${errorDetail ? ` (${errorDetail})` : ''}${via}` : `no result code${via}`,
    }
  }

  function unknown(amountCents: number, why: string): CardPaymentResult {
    return { status: 'unknown', amountCents, message: `outcome could not be learnt: ${why}` }
  }

  /**
   * What the terminal's journal says about this payment; null: ask again (the
   * terminal is still busy); 'ask-receipt': idle, but the enquiry carried no
   * transaction at all, so only a repeat receipt can tell.
   */
  function judge(p: PendingPayment, enquiry: Enquiry): CardPaymentResult | null | 'ask-receipt' {
    const last = enquiry.last
    if (enquiry.garbled || last?.parseError) return unknown(p.amountCents, 'the terminal journal could not be read')
    if (last && last.traceNumber !== undefined && last.traceNumber !== p.baselineTrace) {
      const same = last.amountCents === p.amountCents && (last.currency === undefined || last.currency === currency) && last.resultCode !== undefined
      if (same) return resultFromInfo(last, p.amountCents, ' (recovered by status enquiry)')
      return unknown(p.amountCents, `the terminal's last transaction (trace ${last.traceNumber}) is not this payment`)
    }
    if (enquiry.terminalStatus !== ZVT_TERMINAL_READY) return null
    if (!last) return 'ask-receipt'
    if (last.traceNumber === undefined) return unknown(p.amountCents, 'the terminal journal has no trace numbers')
    // Idle, and the journal ends where it ended before this payment: it did not happen.
    return { status: 'aborted', amountCents: p.amountCents, message: 'the terminal is idle and has no record of this payment (recovered by status enquiry)' }
  }

  /**
   * What the repeated receipt says about this payment, by judge()'s rules; null
   * when it cannot be proven either way. Called only when the terminal is idle.
   */
  function judgeReceipt(p: PendingPayment, receipt: RepeatedReceipt): CardPaymentResult | null {
    const last = receipt.last
    if (receipt.garbled || last?.parseError) return null
    if (!last) {
      // No receipt at all: the terminal has no transaction, so not this one either,
      // unless it had one before this payment (then it was reset: nobody can tell).
      return p.baselineTrace === null ? { status: 'aborted', amountCents: p.amountCents, message: 'the terminal is idle and has no receipt at all (recovered by repeat receipt)' } : null
    }
    if (last.traceNumber === undefined || !p.baselineKnown) return null
    if (last.traceNumber === p.baselineTrace) {
      return { status: 'aborted', amountCents: p.amountCents, message: 'the terminal is idle and its last receipt is from before this payment (recovered by repeat receipt)' }
    }
    const same = last.amountCents === p.amountCents && (last.currency === undefined || last.currency === currency) && last.resultCode !== undefined
    return same ? resultFromInfo(last, p.amountCents, ' (recovered by repeat receipt)') : null
  }

  async function askReceipt(p: PendingPayment): Promise<CardPaymentResult | null> {
    try {
      const verdict = judgeReceipt(p, await repeatReceipt())
      if (verdict) counters.recoveredByReceipt++
      return verdict
    } catch (err) {
      logger.warn({ why: (err as Error).message }, 'repeat receipt did not tell the outcome either')
      return null
    }
  }

  async function recover(p: PendingPayment, why: string): Promise<CardPaymentResult> {
    counters.recoveries++
    logger.warn({ why, amountCents: p.amountCents }, 'payment outcome not heard; recovering by status enquiry')
    const deadline = Date.now() + recoveryTimeoutMs
    let problem = why
    for (let i = 0; i < 10 && Date.now() < deadline; i++) {
      if (!(await waitReady(deadline - Date.now()))) {
        problem = 'the terminal is not reachable'
        break
      }
      try {
        const judged = judge(p, await statusEnquiry())
        // The status enquiry cannot tell: the repeated receipt may.
        const verdict = judged === 'ask-receipt' || judged?.status === 'unknown' ? ((await askReceipt(p)) ?? (judged === 'ask-receipt' ? unknown(p.amountCents, 'neither the status enquiry nor the repeated receipt tells this payment') : judged)) : judged
        if (verdict) {
          if (verdict.status !== 'unknown') counters.recovered++
          return verdict
        }
        problem = 'the terminal stays busy'
      } catch (err) {
        problem = (err as Error).message
      }
      await sleep(Math.min(reconnectDelayMs, Math.max(0, deadline - Date.now())))
    }
    return unknown(p.amountCents, problem)
  }

  function count(result: CardPaymentResult): CardPaymentResult {
    counters[result.status]++
    logger.info(
      { status: result.status, amountCents: result.amountCents, resultCode: result.resultCode, traceNumber: result.traceNumber, receiptNumber: result.receiptNumber },
      'card payment finished',
    )
    return result
  }

  async function authorise(p: PendingPayment, timeoutMs: number): Promise<CardPaymentResult> {
    const outcome = await runExchange({ kind: 'authorisation', amountCents: p.amountCents, currency }, timeoutMs)
    if (outcome.kind === 'refused') {
      // The terminal refused the command itself: no payment was started.
      return { status: 'declined', amountCents: p.amountCents, resultCode: outcome.code, message: zvtResultText(outcome.code) }
    }
    if (outcome.kind === 'lost') {
      if (outcome.reason.startsWith('no final answer')) counters.paymentTimeouts++
      return recover(p, outcome.reason)
    }
    const infos = outcome.messages.flatMap((m) => (m.kind === 'statusInformation' ? [m.info] : []))
    const info = infos.at(-1)
    if (outcome.garbled) return recover(p, 'garbled answer')
    const final = outcome.final
    if (final.kind === 'abort') {
      if (info?.resultCode === 0) return recover(p, 'approval followed by an abort')
      if (final.resultCode === undefined) {
        // 06 1E 00: the terminal ended the payment without saying why. An abort
        // all the same; a status information before it may still tell why.
        if (info?.resultCode !== undefined) return resultFromInfo(info, p.amountCents, '')
        return { ...resultFromInfo(info ?? {}, p.amountCents, ''), status: 'aborted', message: 'aborted by the terminal without a result code' }
      }
      const result = info ? resultFromInfo({ ...info, resultCode: final.resultCode }, p.amountCents, '') : resultFromInfo({ resultCode: final.resultCode }, p.amountCents, '')
      return result
    }
    if (!info || info.resultCode === undefined) return recover(p, 'completion without status information')
    if (info.resultCode !== 0) return resultFromInfo(info, p.amountCents, '')
    if (info.amountCents !== undefined && info.amountCents !== p.amountCents) {
      logger.error({ approvedCents: info.amountCents, requestedCents: p.amountCents }, 'the terminal approved a different amount')
      return recover(p, 'approval of a different amount')
    }
    if (info.traceNumber === undefined) return recover(p, 'approval without a trace number')
    return resultFromInfo(info, p.amountCents, '')
  }

  return Object.assign(terminal, {
    kind: 'zvt' as const,
    path,
    status,
    async open() {
      if (wanted) return
      wanted = true
      await connection.open()
      if (connection.isOpen) await registering
    },
    async close() {
      wanted = false
      await connection.close(() => {
        registered = false
        link.reset('terminal closed')
        exchange?.lost('terminal closed')
        notifyReady()
      })
      safeEmit('status', status())
    },
    async pay(amountCents: number, payOptions: { timeoutMs?: number } = {}): Promise<CardPaymentResult> {
      if (!Number.isSafeInteger(amountCents) || amountCents <= 0 || amountCents > ZVT_MAX_AMOUNT_CENTS) {
        throw new RangeError(`amount must be a positive integer number of cents up to ${ZVT_MAX_AMOUNT_CENTS}, got ${amountCents}`)
      }
      if (busy) throw new Error('a card payment is already in progress')
      busy = true
      safeEmit('status', status())
      try {
        if (!(await waitReady(commandTimeoutMs))) throw new Error('card terminal not connected; no payment was started')
        // The journal's last transaction before this payment: what recovery compares against.
        let before: Enquiry
        try {
          before = await statusEnquiry()
        } catch (err) {
          throw new Error(`card terminal did not answer the status enquiry; no payment was started (${(err as Error).message})`)
        }
        if (before.garbled || before.last?.parseError) throw new Error('card terminal journal unreadable; no payment was started')
        if (before.terminalStatus !== ZVT_TERMINAL_READY) throw new Error(`card terminal not ready (status ${before.terminalStatus}); no payment was started`)
        if (before.last && before.last.traceNumber === undefined) throw new Error('card terminal journal has no trace numbers; no payment was started')
        const baselineTrace = before.last?.traceNumber ?? lastSeenTrace ?? null
        const p: PendingPayment = { amountCents, baselineTrace, baselineKnown: before.last !== null || lastSeenTrace !== undefined }
        counters.payments++
        unresolved = p
        const result = count(await authorise(p, payOptions.timeoutMs ?? paymentTimeoutMs))
        if (result.status !== 'unknown') unresolved = null
        return result
      } finally {
        busy = false
        safeEmit('status', status())
      }
    },
    async recoverLast(): Promise<CardPaymentResult | null> {
      if (busy) throw new Error('a card payment is in progress')
      busy = true
      try {
        const p = unresolved
        if (p) {
          const result = count(await recover(p, 'asked by the kiosk'))
          if (result.status !== 'unknown') unresolved = null
          return result
        }
        if (!(await waitReady(commandTimeoutMs))) throw new Error('card terminal not connected')
        const enquiry = await statusEnquiry()
        if (!enquiry.last) return null
        if (enquiry.garbled || enquiry.last.parseError) throw new Error('card terminal journal unreadable')
        return resultFromInfo(enquiry.last, enquiry.last.amountCents ?? 0, ' (last transaction in the terminal journal)')
      } finally {
        busy = false
      }
    },
    async reverse(receiptNumber: string, amountCents: number): Promise<ReversalResult> {
      if (!/^[0-9]{1,4}$/.test(receiptNumber)) throw new RangeError(`a ZVT receipt number is 1-4 digits, got ${JSON.stringify(receiptNumber)}`)
      const receipt = receiptNumber.padStart(4, '0')
      if (busy) throw new Error('the card terminal is busy')
      busy = true
      safeEmit('status', status())
      const result = (r: ReversalResult): ReversalResult => {
        if (r.status === 'reversed') counters.reversed++
        logger.info({ status: r.status, receiptNumber: receipt, amountCents, resultCode: r.resultCode }, 'reversal finished')
        return r
      }
      try {
        if (!(await waitReady(commandTimeoutMs))) return result({ status: 'declined', receiptNumber: receipt, amountCents, message: 'card terminal not connected; no reversal was started' })
        counters.reversals++
        const outcome = await runExchange({ kind: 'reversal', password, receiptNumber: receipt }, paymentTimeoutMs)
        if (outcome.kind === 'refused') return result({ status: 'declined', receiptNumber: receipt, amountCents, resultCode: outcome.code, message: zvtResultText(outcome.code) })
        if (outcome.kind === 'lost') return result({ status: 'unknown', receiptNumber: receipt, amountCents, message: `reversal outcome not heard: ${outcome.reason}` })
        const info = outcome.messages.flatMap((m) => (m.kind === 'statusInformation' ? [m.info] : [])).at(-1)
        if (outcome.garbled) return result({ status: 'unknown', receiptNumber: receipt, amountCents, message: 'garbled answer to the reversal' })
        if (outcome.final.kind === 'abort') {
          const code = outcome.final.resultCode ?? info?.resultCode
          return result({ status: 'declined', receiptNumber: receipt, amountCents, ...(code !== undefined ? { resultCode: code } : {}), message: abortText(code) })
        }
        if (info?.resultCode === undefined) return result({ status: 'unknown', receiptNumber: receipt, amountCents, message: 'the terminal completed the reversal without a result code' })
        const traced = info.traceNumber !== undefined ? { traceNumber: info.traceNumber } : {}
        if (info.resultCode !== 0) return result({ status: 'declined', receiptNumber: receipt, amountCents, resultCode: info.resultCode, ...traced, message: zvtResultText(info.resultCode) })
        return result({ status: 'reversed', receiptNumber: receipt, amountCents: info.amountCents ?? amountCents, resultCode: 0, ...traced, message: zvtResultText(0) })
      } finally {
        busy = false
        safeEmit('status', status())
      }
    },
    async endOfDay(): Promise<EndOfDayResult> {
      if (busy) return { ok: false, reason: 'the card terminal is busy' }
      busy = true
      safeEmit('status', status())
      const failed = (reason: string, resultCode?: number): EndOfDayResult => {
        counters.endOfDayFailures++
        logger.warn({ reason, resultCode }, 'end of day at the terminal failed')
        return { ok: false, reason, ...(resultCode !== undefined ? { resultCode } : {}) }
      }
      try {
        if (!(await waitReady(commandTimeoutMs))) return failed('card terminal not connected')
        counters.endOfDays++
        const outcome = await runExchange({ kind: 'endOfDay', password }, paymentTimeoutMs)
        if (outcome.kind === 'refused') return failed(`the terminal refused the end of day: ${zvtResultText(outcome.code)}`, outcome.code)
        if (outcome.kind === 'lost') return failed(`no answer to the end of day: ${outcome.reason}`)
        if (outcome.garbled) return failed('garbled answer to the end of day')
        const info = outcome.messages.flatMap((m) => (m.kind === 'statusInformation' ? [m.info] : [])).at(-1)
        if (outcome.final.kind === 'abort') return failed(`the terminal aborted the end of day: ${abortText(outcome.final.resultCode)}`, outcome.final.resultCode)
        if (!info) return failed('the terminal closed its day without reporting totals')
        if (info.resultCode !== undefined && info.resultCode !== 0) return failed(`the terminal's end of day failed: ${zvtResultText(info.resultCode)}`, info.resultCode)
        const cardTypes = (info.totals?.cardTypes ?? []).map((c) => ({ cardType: c.cardType, count: c.count, amountCents: c.amountCents }))
        const sum = cardTypes.reduce((a, c) => a + c.amountCents, 0)
        if (info.amountCents === undefined && !info.totals) return failed('the terminal reported neither a total nor individual totals')
        const totals = {
          totalCents: info.amountCents ?? sum,
          count: cardTypes.reduce((a, c) => a + c.count, 0),
          cardTypes,
          ...(info.totals ? { receiptFrom: info.totals.receiptFrom, receiptTo: info.totals.receiptTo } : {}),
          ...(info.terminalId ?? terminalId ? { terminalId: info.terminalId ?? terminalId } : {}),
          ...(info.traceNumber ? { traceNumber: info.traceNumber } : {}),
        }
        if (info.totals && info.amountCents !== undefined && sum !== info.amountCents) logger.warn({ totalCents: info.amountCents, sumCents: sum }, 'the terminal total differs from the sum of its individual totals')
        logger.info({ totalCents: totals.totalCents, count: totals.count }, 'end of day at the terminal')
        return { ok: true, totals }
      } finally {
        busy = false
        safeEmit('status', status())
      }
    },
    async abort(): Promise<void> {
      if (!connection.isOpen) return
      const sent = await sendCommand({ kind: 'ecrAbort' })
      if (!sent.ok) logger.warn({ why: sent.reason }, 'ECR abort not acknowledged')
    },
  })
}
