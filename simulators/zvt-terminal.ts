// A ZVT card terminal (the "PT") on a serial line or on TCP, built on the same codecs as
// the daemon's adapter (device-protocol/zvt). Tests and the demo use it in
// place of a real terminal, attached to serialport's MockBinding (in-process)
// or to one end of a socat pty pair, or listening on TCP like a LAN terminal
// (transport 'tcp': bare APDUs, no framing or ACK bytes). Each payment follows a behaviour the test
// sets: approve, decline with a real result code, wait for a card, time out,
// lose the line after the authorisation, or go mute. Its journal (the last
// transaction) answers status enquiries, which is how an ECR recovers an
// outcome it did not hear, and repeat receipts (06 20); it reverses its own
// approved payments by receipt number (06 30) once, and its end of day (06 50)
// reports the totals of the payments since the last one, reversed ones left out.
import { EventEmitter } from 'node:events'
import { createServer, type Socket } from 'node:net'
import {
  ZVT_ACK,
  ZVT_CURRENCY_EUR,
  ZVT_MAX_SEND_ATTEMPTS,
  ZVT_NAK,
  ZVT_RESULT,
  ZVT_TERMINAL_READY,
  ZVT_UNKNOWN_BMPS,
  ZVT_TOTALS_CARD_TYPES,
  createZvtApduSplitter,
  createZvtDeframer,
  decodeApdu,
  decodeZvtMessage,
  encodeApdu,
  encodeZvtFrame,
  encodeZvtMessage,
  type ZvtCardTypeTotal,
  type ZvtMessage,
  type ZvtStatusInformation,
  type ZvtTotalsCardType,
} from '../device-protocol/zvt/index.js'
import { createMockSerialDevice, type MockBindingInterface } from './mock-serial-device.js'


export type ZvtPaymentBehaviour =
  /** Approves, after sending these intermediate status codes (e.g. 0x0A insert card). */
  | { kind: 'approve'; intermediate?: Array<number | string> }
  /**
   * Declines: codes 0x01-0x63 come from the authorisation host (journaled with a trace number, status information, then abort); others (0x64 card not readable, 0x6C aborted) only abort.
   * With errorDetail (result code FF "system error" as real terminals send it) the status information carries the extended error code and text in its TLV container (1F16, 1F17), whatever the code.
   */
  | { kind: 'decline'; resultCode: number; errorDetail?: { code?: string; text?: string } }
  /** Shows "insert card" (or `text`, as an intermediate status FF with a TLV display text) and waits for presentCard() (approves) or an ECR abort (aborts with 0x6C). */
  | { kind: 'waitForCard'; text?: string }
  /** Acknowledges the authorisation and never sends its result. 'stuck' stays busy until reset(). */
  | { kind: 'timeout'; outcome: 'approved' | 'declined' | 'stuck' }
  /** The line is lost right after the authorisation was acknowledged, the payment approved at the terminal or not. */
  | { kind: 'disconnect'; approved: boolean }
  /** Acknowledges the frame, then ignores everything until unmute(). */
  | { kind: 'mute' }
  /** Acknowledges, then aborts with 06 1E 00: no result code, as some terminals do (nothing journaled). */
  | { kind: 'abortWithoutCode' }

export interface ZvtTerminalMisbehaviour {
  /** Answer this many good frames from the ECR with NAK (the ECR must repeat them). */
  nakFrames?: number
  /** Send this many of our frames with a broken CRC first (the ECR must NAK; we repeat). */
  corruptCrcFrames?: number
  /** Bytes written before every frame (line noise). */
  noiseBeforeFrame?: Uint8Array
  /** Write frames in pieces of at most this many bytes. */
  chunkBytes?: number
  /** Report this amount in status information instead of the real one (a confused terminal). */
  reportAmountCents?: number
  /** Append bitmaps the ECR does not know (ZVT_UNKNOWN_BMPS: LLVAR and LLLVAR ones) to every status information. */
  unknownBmpsInStatus?: boolean
  /**
   * Answer status enquiries with the completion alone, without the last
   * transaction (as terminals do whose enquiry reports no journal): with a
   * payment whose answer is dropped (behaviour timeout/disconnect), only a
   * repeat receipt (06 20) tells the ECR the outcome.
   */
  enquiryWithoutTransaction?: boolean
  /** Answer the next end of day with an abort with this result code (e.g. 0x77 end of day not possible), once. */
  failEndOfDay?: number
}

export interface ZvtSimTransaction {
  kind: 'payment' | 'reversal' | 'endOfDay'
  amountCents: number
  resultCode: number
  traceNumber: string
  receiptNumber: string
  reversed?: boolean
  info: ZvtStatusInformation
}

export interface ZvtTerminalCounters {
  framesReceived: number
  framesSent: number
  crcErrors: number
  badFrames: number
  discardedBytes: number
  naksSent: number
  naksReceived: number
  retransmits: number
  sendFailures: number
  malformed: number
  ignoredWhileMute: number
  strayAcks: number
}

export interface ZvtTerminalSimulatorOptions {
  password?: string
  terminalId?: string
  currency?: number
  firstTrace?: number
  firstReceipt?: number
  maskedPan?: string
  cardName?: string
  /**
   * What approved payments' status information carries in its TLV container
   * (BMP 06): card technology (1F12), cardholder verification (1F10), the AID
   * (60 ⊃ 43); with longReceiptNumber the trace number in long format (1F2B,
   * '000000' + the trace number). Without it there is no container.
   */
  cardData?: { cardTechnology?: string; cardholderVerification?: string; aid?: string; longReceiptNumber?: boolean }
  /** How long to wait for the ECR's ACK byte before repeating a frame, and for its ACK APDU. */
  ackTimeoutMs?: number
  behaviour?: ZvtPaymentBehaviour
  misbehave?: ZvtTerminalMisbehaviour
  /** The terminal's clock, for the time and date in status information. */
  now?: () => Date
  /** 'serial' (default): DLE/STX frames with CRC and ACK/NAK bytes; 'tcp': bare APDUs back to back, as on port 20007. */
  transport?: 'serial' | 'tcp'
}

/**
 * Events: 'command' (ZvtMessage from the ECR), 'transaction' (ZvtSimTransaction
 * journaled), 'linkDropped', 'ecrError' (detail: string) for unusable input.
 */
export interface ZvtTerminalSimulator extends EventEmitter {
  readonly counters: ZvtTerminalCounters
  readonly journal: readonly ZvtSimTransaction[]
  readonly lastTransaction: ZvtSimTransaction | undefined
  /** Every message the ECR sent, decoded. */
  readonly received: readonly ZvtMessage[]
  readonly registered: boolean
  readonly busy: boolean
  misbehave: ZvtTerminalMisbehaviour
  /** Behaviour for payments when the queue is empty. */
  behaviour: ZvtPaymentBehaviour
  /** Behaviours for the next payments, in order. */
  queueBehaviours(...behaviours: ZvtPaymentBehaviour[]): void
  /** Where our bytes go; null: nobody listens (bytes are lost, as on a dead line). */
  attach(write: ((bytes: Buffer) => void) | null): void
  /** Called to pull the cable (set by the attachment). */
  dropLink: () => void
  receive(chunk: Uint8Array): void
  /** The card for a waitForCard payment: approves it. */
  presentCard(): void
  unmute(): void
  /** Power cycle: not busy, not muted, registration forgotten; the journal stays. */
  reset(): void
  sendRaw(bytes: Uint8Array): void
}

interface PendingSend {
  resolve: (ok: boolean) => void
  frame: Buffer
  attempts: number
  timer: NodeJS.Timeout
}

const pad = (n: number, digits: number) => String(n % 10 ** digits).padStart(digits, '0')

export function createZvtTerminalSimulator(options: ZvtTerminalSimulatorOptions = {}): ZvtTerminalSimulator {
  const password = options.password ?? '123456'
  const terminalId = options.terminalId ?? '52000123'
  const currency = options.currency ?? ZVT_CURRENCY_EUR
  const ackTimeoutMs = options.ackTimeoutMs ?? 1_000
  const maskedPan = options.maskedPan ?? '************1234'
  const cardName = options.cardName ?? 'girocard'
  let trace = options.firstTrace ?? 1
  let receipt = options.firstReceipt ?? 1

  const counters: ZvtTerminalCounters = {
    framesReceived: 0, framesSent: 0, crcErrors: 0, badFrames: 0, discardedBytes: 0, naksSent: 0,
    naksReceived: 0, retransmits: 0, sendFailures: 0, malformed: 0, ignoredWhileMute: 0, strayAcks: 0,
  }
  const journal: ZvtSimTransaction[] = []
  const received: ZvtMessage[] = []
  const queue: ZvtPaymentBehaviour[] = []
  let write: ((bytes: Buffer) => void) | null = null
  const tcp = options.transport === 'tcp'
  let deframer = createZvtDeframer()
  let splitter = createZvtApduSplitter()
  let pending: PendingSend | null = null
  let sendChain: Promise<unknown> = Promise.resolve()
  let ecrAckWaiter: ((m: ZvtMessage | null) => void) | null = null
  let muted = false
  let busy = false
  let registered = false
  let cardWaiter: ((outcome: 'card' | 'abort') => void) | null = null
  // A card (or an ECR abort) that came before the terminal started waiting for it.
  let earlyCardOutcome: 'card' | 'abort' | null = null
  let linkEpoch = 0 // bumps when the line drops: flows of an old line stop
  /** Where the current day starts in the journal: an end of day totals what follows. */
  let dayStart = 0

  const sim = new EventEmitter() as ZvtTerminalSimulator
  sim.misbehave = { ...options.misbehave }
  sim.behaviour = options.behaviour ?? { kind: 'approve' }
  sim.dropLink = () => {}

  function writeWire(bytes: Buffer): void {
    if (!write) return
    const chunk = sim.misbehave.chunkBytes
    if (chunk && chunk > 0) for (let i = 0; i < bytes.length; i += chunk) write(bytes.subarray(i, i + chunk))
    else write(bytes)
  }

  function transmit(p: PendingSend): void {
    let frame = p.frame
    if ((sim.misbehave.corruptCrcFrames ?? 0) > 0) {
      sim.misbehave.corruptCrcFrames!--
      frame = Buffer.from(frame)
      frame[frame.length - 1] = frame[frame.length - 1]! ^ 0x5a
    }
    const noise = sim.misbehave.noiseBeforeFrame
    writeWire(noise && noise.length > 0 ? Buffer.concat([noise, frame]) : frame)
    p.timer = setTimeout(() => retry(p), ackTimeoutMs)
  }

  function retry(p: PendingSend): void {
    if (pending !== p) return
    clearTimeout(p.timer)
    if (p.attempts >= ZVT_MAX_SEND_ATTEMPTS) {
      pending = null
      counters.sendFailures++
      p.resolve(false)
      return
    }
    p.attempts++
    counters.retransmits++
    transmit(p)
  }

  /** Sends one APDU (a message, or its bytes) as a frame; resolves true once the ECR acknowledged it with 06. */
  function sendApdu(message: ZvtMessage | Buffer): Promise<boolean> {
    const apdu = Buffer.isBuffer(message) ? message : encodeZvtMessage(message)
    const frame = encodeZvtFrame(apdu)
    const epoch = linkEpoch
    const run = () =>
      new Promise<boolean>((resolve) => {
        if (epoch !== linkEpoch || !write) return resolve(false)
        counters.framesSent++
        if (tcp) {
          // TCP delivers or the connection fails: the APDU alone, nothing to wait for.
          writeWire(apdu)
          return resolve(true)
        }
        const p: PendingSend = { resolve, frame, attempts: 1, timer: setTimeout(() => {}, 0) }
        pending = p
        transmit(p)
      })
    const result = sendChain.then(run, run)
    sendChain = result
    return result
  }

  function waitForEcrAck(): Promise<ZvtMessage | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        ecrAckWaiter = null
        resolve(null)
      }, ackTimeoutMs * 4)
      ecrAckWaiter = (m) => {
        clearTimeout(timer)
        ecrAckWaiter = null
        resolve(m)
      }
    })
  }

  /** A terminal command: the frame, then the ECR's ACK APDU (80 00 00). */
  async function command(message: ZvtMessage | Buffer): Promise<boolean> {
    const acked = waitForEcrAck()
    if (!(await sendApdu(message))) {
      ecrAckWaiter?.(null)
      return false
    }
    const answer = await acked
    return answer?.kind === 'ack'
  }

  /** A status information, with unknown bitmaps appended when misbehaving so (our encoder cannot write those). */
  function statusInformation(info: ZvtStatusInformation): ZvtMessage | Buffer {
    const message: ZvtMessage = { kind: 'statusInformation', info }
    if (!sim.misbehave.unknownBmpsInStatus) return message
    const decoded = decodeApdu(encodeZvtMessage(message))
    if (!decoded.ok) return message // our own encoding always decodes
    return encodeApdu(0x04, 0x0f, Buffer.concat([decoded.apdu.data, ZVT_UNKNOWN_BMPS]))
  }

  function journalise(kind: ZvtSimTransaction['kind'], amountCents: number, resultCode: number): ZvtSimTransaction {
    const now = (options.now ?? (() => new Date()))()
    const t: ZvtSimTransaction = {
      kind,
      amountCents,
      resultCode,
      traceNumber: pad(trace++, 6),
      receiptNumber: pad(receipt++, 4),
      info: {},
    }
    t.info = {
      resultCode,
      amountCents: sim.misbehave.reportAmountCents ?? amountCents,
      traceNumber: t.traceNumber,
      time: `${pad(now.getHours(), 2)}${pad(now.getMinutes(), 2)}${pad(now.getSeconds(), 2)}`,
      date: `${pad(now.getMonth() + 1, 2)}${pad(now.getDate(), 2)}`,
      ...(resultCode === 0 ? { maskedPan, cardType: 5, cardName } : {}),
      ...(resultCode === 0 && kind === 'payment' ? approvedCardData(t.traceNumber) : {}),
      terminalId,
      currency,
      receiptNumber: t.receiptNumber,
    }
    journal.push(t)
    sim.emit('transaction', t)
    return t
  }

  function approvedCardData(traceNumber: string): Partial<ZvtStatusInformation> {
    const data = options.cardData
    if (!data) return {}
    return {
      ...(data.cardTechnology ? { cardTechnology: data.cardTechnology } : {}),
      ...(data.cardholderVerification ? { cardholderVerification: data.cardholderVerification } : {}),
      ...(data.aid ? { aid: data.aid } : {}),
      ...(data.longReceiptNumber ? { longReceiptNumber: `000000${traceNumber}` } : {}),
    }
  }

  /** An intermediate status: a code, or (a string) status FF with the text in a TLV container. */
  const intermediate = (status: number | string): ZvtMessage =>
    typeof status === 'string' ? { kind: 'intermediateStatus', status: 0xff, timeoutS: 30, text: status } : { kind: 'intermediateStatus', status }

  async function approve(amountCents: number): Promise<void> {
    const t = journalise('payment', amountCents, ZVT_RESULT.success)
    if (!(await command(statusInformation(t.info)))) return
    await command({ kind: 'completion' })
  }

  async function authorise(amountCents: number, requestedCurrency: number | undefined): Promise<void> {
    const behaviour = queue.shift() ?? sim.behaviour
    if (behaviour.kind === 'mute') {
      muted = true
      return
    }
    busy = true
    try {
      if (!(await sendApdu({ kind: 'ack' }))) return
      if (requestedCurrency !== undefined && requestedCurrency !== currency) {
        await command({ kind: 'abort', resultCode: ZVT_RESULT.wrongCurrency })
        return
      }
      switch (behaviour.kind) {
        case 'approve':
          for (const status of behaviour.intermediate ?? []) if (!(await command(intermediate(status)))) return
          await approve(amountCents)
          return
        case 'decline': {
          if ((behaviour.resultCode >= 0x01 && behaviour.resultCode <= 0x63) || behaviour.errorDetail) {
            const t = journalise('payment', amountCents, behaviour.resultCode)
            const { code, text } = behaviour.errorDetail ?? {}
            if (code !== undefined) t.info.extendedErrorCode = code
            if (text !== undefined) t.info.extendedErrorText = text
            if (!(await command(statusInformation(t.info)))) return
          }
          await command({ kind: 'abort', resultCode: behaviour.resultCode })
          return
        }
        case 'waitForCard': {
          if (!(await command(intermediate(behaviour.text ?? 0x0a)))) return
          const outcome = earlyCardOutcome ?? (await new Promise<'card' | 'abort'>((resolve) => (cardWaiter = resolve)))
          earlyCardOutcome = null
          cardWaiter = null
          if (outcome === 'card') await approve(amountCents)
          else await command({ kind: 'abort', resultCode: ZVT_RESULT.abortedByCustomer })
          return
        }
        case 'timeout':
          if (behaviour.outcome === 'approved') journalise('payment', amountCents, ZVT_RESULT.success)
          else if (behaviour.outcome === 'declined') journalise('payment', amountCents, ZVT_RESULT.declined)
          // 'stuck': stays busy (the finally below leaves it so) until reset().
          return
        case 'abortWithoutCode':
          await command({ kind: 'abort' })
          return
        case 'disconnect':
          if (behaviour.approved) journalise('payment', amountCents, ZVT_RESULT.success)
          linkDropped()
          sim.dropLink()
          return
      }
    } finally {
      if (!(behaviour.kind === 'timeout' && behaviour.outcome === 'stuck')) busy = false
    }
  }

  async function reverse(receiptNumber: string | undefined): Promise<void> {
    busy = true
    try {
      if (!(await sendApdu({ kind: 'ack' }))) return
      // Only payments of the current day: after an end of day they are settled with the host.
      const original = journal.slice(dayStart).find((t) => t.kind === 'payment' && t.resultCode === 0 && t.receiptNumber === receiptNumber)
      if (!original) return void (await command({ kind: 'abort', resultCode: ZVT_RESULT.reversalNotPossible }))
      if (original.reversed) return void (await command({ kind: 'abort', resultCode: ZVT_RESULT.alreadyReversed }))
      original.reversed = true
      const t = journalise('reversal', original.amountCents, ZVT_RESULT.success)
      if (!(await command(statusInformation(t.info)))) return
      await command({ kind: 'completion' })
    } finally {
      busy = false
    }
  }

  async function repeatReceipt(): Promise<void> {
    busy = true
    try {
      if (!(await sendApdu({ kind: 'ack' }))) return
      const last = journal.at(-1)
      // Without a transaction there is no receipt to repeat: the completion alone.
      if (last) {
        if (!(await command(statusInformation(last.info)))) return
        const euros = `${Math.floor(last.amountCents / 100)},${String(last.amountCents % 100).padStart(2, '0')}`
        for (const text of [`BELEG-NR. ${last.receiptNumber}  TRACE ${last.traceNumber}`, `BETRAG EUR ${euros}`, last.resultCode === 0 ? 'ZAHLUNG ERFOLGT' : 'ABGELEHNT']) {
          if (!(await command({ kind: 'printLine', attribute: 0x00, text }))) return
        }
      }
      await command({ kind: 'completion' })
    } finally {
      busy = false
    }
  }

  function totalsCardType(t: ZvtSimTransaction): ZvtTotalsCardType {
    const name = (t.info.cardName ?? '').toLowerCase()
    return (ZVT_TOTALS_CARD_TYPES as readonly string[]).includes(name) ? (name as ZvtTotalsCardType) : 'other'
  }

  async function endOfDay(): Promise<void> {
    busy = true
    try {
      if (!(await sendApdu({ kind: 'ack' }))) return
      if (sim.misbehave.failEndOfDay !== undefined) {
        const resultCode = sim.misbehave.failEndOfDay
        delete sim.misbehave.failEndOfDay
        await command({ kind: 'abort', resultCode })
        return
      }
      const booked = journal.slice(dayStart).filter((t) => t.kind === 'payment' && t.resultCode === 0 && !t.reversed)
      const byType = new Map<ZvtTotalsCardType, ZvtCardTypeTotal>()
      for (const t of booked) {
        const cardType = totalsCardType(t)
        const total = byType.get(cardType) ?? { cardType, count: 0, amountCents: 0 }
        total.count = Math.min(99, total.count + 1) // BMP 60 counts in one BCD byte
        total.amountCents += t.amountCents
        byType.set(cardType, total)
      }
      const totalCents = booked.reduce((a, t) => a + t.amountCents, 0)
      const t = journalise('endOfDay', totalCents, ZVT_RESULT.success)
      t.info = {
        resultCode: 0,
        amountCents: totalCents,
        traceNumber: t.traceNumber,
        ...(t.info.time ? { time: t.info.time } : {}),
        ...(t.info.date ? { date: t.info.date } : {}),
        terminalId,
        totals: {
          receiptFrom: booked[0]?.receiptNumber ?? t.receiptNumber,
          receiptTo: booked.at(-1)?.receiptNumber ?? t.receiptNumber,
          cardTypes: ZVT_TOTALS_CARD_TYPES.flatMap((c) => (byType.has(c) ? [byType.get(c)!] : [])),
        },
      }
      dayStart = journal.length
      if (!(await command(statusInformation(t.info)))) return
      await command({ kind: 'completion' })
    } finally {
      busy = false
    }
  }

  async function handleMessage(message: ZvtMessage): Promise<void> {
    switch (message.kind) {
      case 'ack':
      case 'nak':
        if (ecrAckWaiter) ecrAckWaiter(message)
        else counters.strayAcks++
        return
      case 'registration':
        if (message.password !== password) return void (await sendApdu({ kind: 'nak', code: ZVT_RESULT.functionNotPossible }))
        if (!(await sendApdu({ kind: 'ack' }))) return
        registered = true
        await command({ kind: 'completion', terminalId })
        return
      case 'statusEnquiry': {
        if (message.password !== password) return void (await sendApdu({ kind: 'nak', code: ZVT_RESULT.functionNotPossible }))
        if (!(await sendApdu({ kind: 'ack' }))) return
        const last = sim.misbehave.enquiryWithoutTransaction ? undefined : journal.at(-1)
        if (last && !(await command(statusInformation(last.info)))) return
        await command({ kind: 'completion', softwareVersion: 'WP-SIM 1.0', terminalStatus: busy ? ZVT_RESULT.pleaseWait : ZVT_TERMINAL_READY })
        return
      }
      case 'authorisation':
        if (busy) return void (await sendApdu({ kind: 'nak', code: ZVT_RESULT.pleaseWait }))
        if (!registered) {
          if (!(await sendApdu({ kind: 'ack' }))) return
          await command({ kind: 'abort', resultCode: ZVT_RESULT.notRegistered })
          return
        }
        await authorise(message.amountCents, message.currency)
        return
      case 'reversal':
        if (message.password !== password) return void (await sendApdu({ kind: 'nak', code: ZVT_RESULT.functionNotPossible }))
        if (busy) return void (await sendApdu({ kind: 'nak', code: ZVT_RESULT.pleaseWait }))
        await reverse(message.receiptNumber)
        return
      case 'repeatReceipt':
      case 'endOfDay':
        if (message.password !== password) return void (await sendApdu({ kind: 'nak', code: ZVT_RESULT.functionNotPossible }))
        if (busy) return void (await sendApdu({ kind: 'nak', code: ZVT_RESULT.pleaseWait }))
        await (message.kind === 'repeatReceipt' ? repeatReceipt() : endOfDay())
        return
      case 'ecrAbort':
        await sendApdu({ kind: 'ack' })
        if (cardWaiter) cardWaiter('abort')
        else if (busy) earlyCardOutcome = 'abort'
        return
      default:
        // Terminal-to-ECR messages, or commands this terminal does not offer.
        await sendApdu({ kind: 'nak', code: ZVT_RESULT.functionNotPossible })
    }
  }

  function onFrame(apdu: Buffer): void {
    counters.framesReceived++
    if (!tcp && (sim.misbehave.nakFrames ?? 0) > 0) {
      sim.misbehave.nakFrames!--
      counters.naksSent++
      write?.(Buffer.of(ZVT_NAK))
      return
    }
    if (!tcp) write?.(Buffer.of(ZVT_ACK))
    const decoded = decodeZvtMessage(apdu)
    if (!decoded.ok) {
      counters.malformed++
      sim.emit('ecrError', decoded.detail)
      void sendApdu({ kind: 'nak', code: ZVT_RESULT.protocolError })
      return
    }
    received.push(decoded.message)
    sim.emit('command', decoded.message)
    const handle = () => handleMessage(decoded.message).catch((err: unknown) => sim.emit('ecrError', String(err)))
    // The ECR's ACK APDU settles our command at once; a command that came in the
    // same chunk (TCP) waits until the flow that ACK ends has finished, as a
    // terminal reads the next command only after it is done with the last.
    if (decoded.message.kind === 'ack' || decoded.message.kind === 'nak') void handle()
    else setImmediate(() => void handle())
  }

  function linkDropped(): void {
    linkEpoch++
    deframer = createZvtDeframer()
    splitter = createZvtApduSplitter()
    if (pending) {
      clearTimeout(pending.timer)
      const p = pending
      pending = null
      p.resolve(false)
    }
    ecrAckWaiter?.(null)
    sim.emit('linkDropped')
  }

  Object.defineProperties(sim, {
    counters: { value: counters, enumerable: true },
    journal: { value: journal, enumerable: true },
    received: { value: received, enumerable: true },
    lastTransaction: { get: () => journal.at(-1), enumerable: true },
    registered: { get: () => registered, enumerable: true },
    busy: { get: () => busy, enumerable: true },
  })

  return Object.assign(sim, {
    queueBehaviours(...behaviours: ZvtPaymentBehaviour[]) {
      queue.push(...behaviours)
    },
    attach(w: ((bytes: Buffer) => void) | null) {
      if (write !== null && write !== w) linkDropped()
      write = w
    },
    receive(chunk: Uint8Array) {
      if (muted) {
        counters.ignoredWhileMute += chunk.length
        return
      }
      if (tcp) {
        let apdus: Buffer[]
        try {
          apdus = splitter.push(chunk)
        } catch (err) {
          // The stream is out of step for good: a real terminal would drop the connection.
          counters.badFrames++
          sim.emit('ecrError', (err as Error).message)
          sim.dropLink()
          return
        }
        for (const apdu of apdus) onFrame(apdu)
        return
      }
      const r = deframer.push(chunk)
      counters.discardedBytes += r.discardedBytes
      for (const event of r.events) {
        switch (event.kind) {
          case 'ack':
            if (pending) {
              clearTimeout(pending.timer)
              const p = pending
              pending = null
              p.resolve(true)
            } else counters.strayAcks++
            break
          case 'nak':
            counters.naksReceived++
            if (pending) retry(pending)
            break
          case 'badFrame':
            counters.badFrames++
            if (event.reason === 'crc') counters.crcErrors++
            counters.naksSent++
            write?.(Buffer.of(ZVT_NAK))
            sim.emit('ecrError', event.detail)
            break
          case 'frame':
            onFrame(event.apdu)
            break
        }
      }
    },
    presentCard() {
      if (cardWaiter) cardWaiter('card')
      else if (busy) earlyCardOutcome = 'card'
    },
    unmute() {
      muted = false
    },
    reset() {
      muted = false
      busy = false
      registered = false
      cardWaiter = null
      earlyCardOutcome = null
      linkDropped()
    },
    sendRaw(bytes: Uint8Array) {
      write?.(Buffer.from(bytes))
    },
  })
}

// ---- attachment (a): serialport's MockBinding -----------------------------------

export interface MockZvtTerminalLink {
  /** Pass to createZvtTerminal({ binding }) as the ECR's serial binding. */
  binding: MockBindingInterface
  path: string
  terminal: ZvtTerminalSimulator
  readonly hostOpen: boolean
  /** Everything the ECR wrote since the link was made. */
  readonly recording: Buffer
  /** The cable is pulled: the ECR's reads fail and opening fails until replug(). */
  unplug(): void
  replug(): void
}

export interface MockZvtTerminalLinkOptions extends ZvtTerminalSimulatorOptions {
  path: string
  /** After a 'disconnect' behaviour pulls the cable, plug it back in after this long. Default 20 ms. */
  replugAfterMs?: number
}

/** A simulated terminal behind serialport's MockBinding (see createMockReaderLink, which this mirrors). */
export function createMockZvtTerminalLink(options: MockZvtTerminalLinkOptions): MockZvtTerminalLink {
  const { path, replugAfterMs = 20, ...terminalOptions } = options
  const terminal = createZvtTerminalSimulator(terminalOptions)
  const device = createMockSerialDevice({
    path,
    receive: (bytes) => terminal.receive(bytes),
    onOpen: () => terminal.attach((bytes) => device.send(bytes)),
    onUnplug: () => terminal.attach(null),
  })
  const link: MockZvtTerminalLink = {
    binding: device.binding,
    path,
    terminal,
    get hostOpen() {
      return device.hostOpen
    },
    get recording() {
      return device.recording
    },
    unplug: () => device.unplug(),
    replug: () => device.replug(),
  }
  terminal.dropLink = () => {
    link.unplug()
    setTimeout(() => link.replug(), replugAfterMs)
  }
  return link
}

// ---- attachment (b): a real serial device, e.g. one end of a socat pty pair ----

export interface SerialZvtTerminalDevice {
  close(): Promise<void>
}

/** Runs a (possibly existing) simulated terminal on a serial device path. */
export async function attachZvtTerminalToSerialPort(options: { path: string; baudRate?: number; terminal: ZvtTerminalSimulator }): Promise<SerialZvtTerminalDevice> {
  const { path, baudRate = 9_600, terminal } = options
  const { SerialPort } = await import('serialport')
  const port = new SerialPort({ path, baudRate, autoOpen: false })
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())))
  const write = (bytes: Buffer) => void port.write(bytes)
  terminal.attach(write)
  port.on('data', (chunk: Buffer) => terminal.receive(chunk))
  port.on('error', () => {})
  return {
    close: () =>
      new Promise<void>((resolve) => {
        terminal.attach(null)
        if (!port.isOpen) return resolve()
        port.close(() => resolve())
      }),
  }
}

// ---- attachment (c): listening on TCP like a LAN terminal (port 20007) ----

export interface TcpZvtTerminalListener {
  /** The port it listens on (the real one when 0 was asked for). */
  readonly port: number
  readonly host: string
  terminal: ZvtTerminalSimulator
  /** Connections accepted so far. */
  readonly connections: number
  /** Cuts the current connection (as a LAN cable pulled or a terminal reset); the ECR reconnects. */
  cut(): void
  close(): Promise<void>
}

/**
 * Runs a simulated terminal made with transport 'tcp' on a TCP port. One ECR at
 * a time, as a real terminal: a new connection replaces the old one. The
 * 'disconnect' behaviour cuts the connection.
 */
export async function listenZvtTerminalOnTcp(options: { terminal: ZvtTerminalSimulator; host?: string; port?: number }): Promise<TcpZvtTerminalListener> {
  const { terminal, host = '127.0.0.1' } = options
  let current: Socket | null = null
  let connections = 0
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    connections++
    sockets.add(socket)
    current?.destroy()
    current = socket
    socket.setNoDelay(true)
    const write = (bytes: Buffer) => void socket.write(bytes)
    terminal.attach(write)
    socket.on('data', (chunk: Buffer) => {
      if (current === socket) terminal.receive(chunk)
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      sockets.delete(socket)
      if (current === socket) {
        current = null
        terminal.attach(null)
      }
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => resolve())
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const cut = () => current?.destroy()
  terminal.dropLink = cut
  return {
    port,
    host,
    terminal,
    get connections() {
      return connections
    },
    cut,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
