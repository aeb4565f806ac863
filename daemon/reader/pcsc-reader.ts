// Reader adapter for USB PC/SC readers (ACS ACR122U, ACR1252U and any other
// PC/SC contactless reader) through pcscd and nfc-pcsc. It reads the UID of
// ISO 14443 tags with GET DATA (FF CA 00 00 00), reports tags coming and going,
// and survives readers unplugged and plugged back in and pcscd stopping and
// starting again: it never hangs and never crashes the daemon.
//
// nfc-pcsc is an optional dependency (its native part needs libpcsclite), so it
// is loaded only here, inside try/catch. Its native pcsclite() blocks the whole
// process forever when pcscd is not running, so the adapter first checks that
// pcscd answers on its socket, and keeps checking every pollMs until it does.
import { EventEmitter } from 'node:events'
import { connect } from 'node:net'
import { existsSync } from 'node:fs'
import type { Logger } from 'pino'
import { normaliseUid } from '../../device-protocol/index.js'
import type { Reader, ReaderFeedback, ReaderStatus } from './reader.js'

export const DEFAULT_PCSCD_SOCKET_PATH = '/run/pcscd/pcscd.comm'
export const PCSCD_NOT_RUNNING_MESSAGE = 'pcscd is not running: start it with systemctl start pcscd'

/** GET DATA, P1 00: the UID of the tag in the field (PC/SC part 3, 3.2.2.1.3). */
export const GET_UID_APDU = Buffer.from([0xff, 0xca, 0x00, 0x00, 0x00])

// ---- the part of nfc-pcsc this adapter uses (injectable for tests) ----------

export interface NfcPcscCard {
  atr?: Buffer
  standard?: string
}

export interface NfcPcscReaderDevice extends EventEmitter {
  readonly name: string
  /** false: nfc-pcsc only connects and emits 'card'; we read the UID ourselves (works for ISO 14443-3 and -4 tags alike). */
  autoProcessing: boolean
  /** Set by nfc-pcsc while a card is connected. */
  readonly card: unknown
  readonly connection: unknown
  transmit(data: Buffer, responseMaxLength: number): Promise<Buffer>
  control(data: Buffer, responseMaxLength: number): Promise<Buffer>
}

export interface NfcPcscInstance extends EventEmitter {
  close(): void
}

export interface NfcPcscModule {
  NFC: new (logger?: unknown) => NfcPcscInstance
}

async function loadRealNfcPcsc(): Promise<NfcPcscModule> {
  // CommonJS package: the named export may sit on default depending on the loader.
  const mod = (await import('nfc-pcsc' as string)) as { NFC?: unknown; default?: { NFC?: unknown } }
  const NFC = mod.NFC ?? mod.default?.NFC
  if (typeof NFC !== 'function') throw new Error('nfc-pcsc has no NFC export')
  return { NFC: NFC as NfcPcscModule['NFC'] }
}

// ---- options, counters -------------------------------------------------------

/** How LED/buzzer feedback is sent: 'auto' picks by reader name (ACS models), 'none' never sends. */
export type PcscFeedbackMode = 'auto' | 'acr122' | 'acr1252' | 'none'

export interface PcscReaderOptions {
  logger: Logger
  /** Which readers to use: a case-insensitive part of the name, or a pattern. Default: every reader. */
  readerName?: string | RegExp
  pcscdSocketPath?: string
  /** How often to look for pcscd again while it is not there. */
  pollMs?: number
  /** How long one APDU may take before it counts as failed. */
  transmitTimeoutMs?: number
  feedbackMode?: PcscFeedbackMode
  loadNfcPcsc?: () => Promise<NfcPcscModule>
}

export const PCSC_READER_COUNTERS = [
  'cards', // tags read and reported
  'tagsGone',
  'uidErrors', // tags whose UID could not be read (removed too early, odd answers)
  'readersLost', // readers unplugged, or lost with pcscd
  'reconnects', // a reader came back after one was lost
  'pcscdDown', // times pcscd was found absent or failed
  'errors', // reader and PC/SC errors, listeners that threw
  'feedbackSent',
  'feedbackFailures',
] as const
export type PcscReaderCounter = (typeof PCSC_READER_COUNTERS)[number]

export interface PcscReader extends Reader {
  /** Names of the readers in use right now. */
  readerNames(): string[]
}

interface Attached {
  device: NfcPcscReaderDevice
  /** UID reported for the tag in the field, if any. */
  uid: string | null
  /** Bumped on every card and card.off event: a UID read that finishes after the tag left is dropped. */
  cardEpoch: number
}

// ---- pure helpers --------------------------------------------------------------

/** Tag family from a PC/SC part 3 contactless ATR (3B 8x 80 01 80 4F 0C A0 00 00 03 06 SS NN NN ...). */
export function tagTypeFromAtr(atr: Buffer | undefined): string {
  if (!atr || atr.length < 15 || atr[4] !== 0x80 || atr[5] !== 0x4f) return 'iso14443a'
  if (atr.subarray(7, 12).compare(Buffer.from([0xa0, 0x00, 0x00, 0x03, 0x06])) !== 0) return 'iso14443a'
  const cardName = atr.readUInt16BE(13)
  switch (cardName) {
    case 0x0001: // MIFARE Classic 1K
    case 0x0002: // MIFARE Classic 4K
    case 0x0026: // MIFARE Mini
      return 'mifare-classic'
    case 0x0003: // MIFARE Ultralight, and NTAG 21x, which readers report the same way
      return 'mifare-ultralight'
    default:
      return 'iso14443a'
  }
}

/** UID from a GET DATA response (UID bytes + SW 90 00), upper-case hex, or an error text. */
export function uidFromGetDataResponse(response: Buffer): { uid: string } | { error: string } {
  if (!Buffer.isBuffer(response) || response.length < 2) return { error: 'response shorter than a status word' }
  const sw = response.readUInt16BE(response.length - 2)
  if (sw !== 0x9000) return { error: `status word ${sw.toString(16).padStart(4, '0')}` }
  const uid = normaliseUid(response.subarray(0, response.length - 2).toString('hex'))
  if (uid === null) return { error: `UID of ${response.length - 2} bytes (want 4, 7 or 10)` }
  return { uid }
}

function clampByte(n: number): number {
  return Math.max(0, Math.min(255, Math.round(n)))
}

/**
 * ACR122U "Bi-Color LED and Buzzer Control" pseudo-APDU: FF 00 40 P2 04 T1 T2
 * reps link. The reader ties the buzzer to the blink phases, so the light is on
 * during T1 (with the buzzer when it beeps) and off during T2, repeated: a
 * 'short' beep is a short flash. It has red and green only: blue shows green,
 * yellow is both.
 */
export function acr122FeedbackApdu(feedback: ReaderFeedback): Buffer {
  const red = feedback.led === 'red' || feedback.led === 'yellow'
  const green = feedback.led === 'green' || feedback.led === 'yellow' || feedback.led === 'blue'
  // Final state: both off (masks set); blink masks and initial states for the lit colours.
  const p2 = 0b0000_1100 | (red ? 0b0101_0000 : 0) | (green ? 0b1010_0000 : 0)
  const repetitions = feedback.beep === 'double' ? 2 : feedback.beep === 'error' ? 3 : 1
  const totalUnits = Math.max(1, feedback.durationMs / 100) // units of 100 ms
  const t1 = feedback.beep === 'short' ? 1 : clampByte(Math.max(1, totalUnits / repetitions))
  const t2 = repetitions > 1 ? 1 : 0
  const link = feedback.beep === 'none' ? 0x00 : 0x01 // buzzer during T1
  return Buffer.from([0xff, 0x00, 0x40, p2, 0x04, t1, t2, repetitions, link])
}

/**
 * ACR1252U escape commands (sent with SCardControl): LED control E0 00 00 29 01
 * (bit 0 red, bit 1 green) and buzzer control E0 00 00 28 01 (duration in 10 ms).
 */
export function acr1252FeedbackCommands(feedback: ReaderFeedback): Buffer[] {
  const red = feedback.led === 'red' || feedback.led === 'yellow'
  const green = feedback.led === 'green' || feedback.led === 'yellow' || feedback.led === 'blue'
  const commands = [Buffer.from([0xe0, 0x00, 0x00, 0x29, 0x01, (red ? 1 : 0) | (green ? 2 : 0)])]
  const beepMs = { none: 0, short: 100, double: 300, long: 600, error: 1_000 }[feedback.beep]
  if (beepMs > 0) commands.push(Buffer.from([0xe0, 0x00, 0x00, 0x28, 0x01, clampByte(beepMs / 10)]))
  return commands
}

function feedbackProtocolFor(mode: PcscFeedbackMode, readerName: string): 'acr122' | 'acr1252' | 'none' {
  if (mode !== 'auto') return mode
  const name = readerName.toLowerCase()
  if (name.includes('acr122')) return 'acr122'
  if (name.includes('acr1252')) return 'acr1252'
  return 'none'
}

/** Whether something accepts connections on pcscd's socket; a stale socket file left by a killed pcscd does not. */
export function probePcscdSocket(socketPath: string, timeoutMs = 1_000): Promise<boolean> {
  if (!existsSync(socketPath)) return Promise.resolve(false)
  return new Promise((resolve) => {
    const s = connect({ path: socketPath })
    const timer = setTimeout(() => finish(false), timeoutMs)
    function finish(ok: boolean): void {
      clearTimeout(timer)
      s.destroy()
      resolve(ok)
    }
    s.once('connect', () => finish(true))
    s.once('error', () => finish(false))
  })
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

// ---- the adapter ------------------------------------------------------------------

export function createPcscReader(options: PcscReaderOptions): PcscReader {
  const {
    logger: parentLogger,
    readerName,
    pcscdSocketPath = DEFAULT_PCSCD_SOCKET_PATH,
    pollMs = 3_000,
    transmitTimeoutMs = 2_000,
    feedbackMode = 'auto',
    loadNfcPcsc = loadRealNfcPcsc,
  } = options
  const logger = parentLogger.child({ reader: 'pcsc' })
  const counters = Object.fromEntries(PCSC_READER_COUNTERS.map((name) => [name, 0])) as Record<PcscReaderCounter, number>
  const attached = new Map<string, Attached>()

  let wanted = false
  let nfc: NfcPcscInstance | null = null
  /** Bumped whenever the nfc-pcsc instance is replaced: events of an old one are ignored. */
  let generation = 0
  let retryTimer: NodeJS.Timeout | null = null
  let attempt: Promise<void> | null = null
  let pcscdAbsentReported = false
  let moduleFailed = false
  let lost = false // a reader was in use and went away
  let lastTagReader: string | null = null

  const reader = new EventEmitter() as PcscReader

  function status(): ReaderStatus {
    const first = attached.values().next().value as Attached | undefined
    return {
      kind: 'pcsc',
      connected: attached.size > 0,
      ...(first ? { device: { model: first.device.name, firmware: '', serial: '' } } : {}),
      counters: { ...counters },
    }
  }

  function safeEmit(event: string, ...args: unknown[]): void {
    try {
      reader.emit(event, ...args)
    } catch (err) {
      counters.errors++
      logger.error({ err, event }, 'a reader event listener threw')
    }
  }

  function readerWanted(name: string): boolean {
    if (readerName === undefined) return true
    if (typeof readerName === 'string') return name.toLowerCase().includes(readerName.toLowerCase())
    readerName.lastIndex = 0
    return readerName.test(name)
  }

  // nfc-pcsc logs through this; its debug output names card data, so it stays at trace.
  const nfcLogger = {
    log: (...args: unknown[]) => logger.trace({ nfcPcsc: args.map(String) }, 'nfc-pcsc'),
    debug: (...args: unknown[]) => logger.trace({ nfcPcsc: args.map(String) }, 'nfc-pcsc'),
    info: (...args: unknown[]) => logger.trace({ nfcPcsc: args.map(String) }, 'nfc-pcsc'),
    warn: (...args: unknown[]) => logger.debug({ nfcPcsc: args.map(String) }, 'nfc-pcsc warning'),
    error: (...args: unknown[]) => logger.debug({ nfcPcsc: args.map(String) }, 'nfc-pcsc error'),
  }

  function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what} took longer than ${transmitTimeoutMs} ms`)), transmitTimeoutMs)
      promise.then(
        (value) => (clearTimeout(timer), resolve(value)),
        (err: unknown) => (clearTimeout(timer), reject(err instanceof Error ? err : new Error(String(err)))),
      )
    })
  }

  function scheduleRetry(): void {
    if (!wanted || retryTimer) return
    retryTimer = setTimeout(() => {
      retryTimer = null
      void startAttempt()
    }, pollMs)
  }

  function startAttempt(): Promise<void> {
    if (!attempt) {
      attempt = tryStart().finally(() => {
        attempt = null
      })
    }
    return attempt
  }

  async function tryStart(): Promise<void> {
    if (!wanted || nfc || moduleFailed) return
    if (!(await probePcscdSocket(pcscdSocketPath))) {
      if (!pcscdAbsentReported) {
        pcscdAbsentReported = true
        counters.pcscdDown++
        logger.warn({ socket: pcscdSocketPath, retryInMs: pollMs }, PCSCD_NOT_RUNNING_MESSAGE)
        safeEmit('readerError', new Error(PCSCD_NOT_RUNNING_MESSAGE))
        safeEmit('status', status())
      }
      scheduleRetry()
      return
    }
    if (!wanted) return
    let mod: NfcPcscModule
    try {
      mod = await loadNfcPcsc()
    } catch (err) {
      // Permanent: the optional package is missing or its native part did not build. Retrying cannot help.
      moduleFailed = true
      counters.errors++
      const message = `PC/SC readers are unavailable: nfc-pcsc could not be loaded (${errorMessage(err)}); install libpcsclite-dev and reinstall`
      logger.error(message)
      safeEmit('readerError', new Error(message))
      return
    }
    if (!wanted || nfc) return
    const myGeneration = ++generation
    let instance: NfcPcscInstance
    try {
      // pcscd answered just now; a daemon that dies in this very moment could still block here (native code).
      instance = new mod.NFC(nfcLogger)
    } catch (err) {
      counters.errors++
      logger.warn({ err: errorMessage(err) }, 'cannot start PC/SC; retrying')
      safeEmit('readerError', new Error(`cannot start PC/SC: ${errorMessage(err)}`))
      scheduleRetry()
      return
    }
    nfc = instance
    if (pcscdAbsentReported) logger.info('pcscd is running')
    pcscdAbsentReported = false
    instance.on('reader', (device: NfcPcscReaderDevice) => {
      if (myGeneration !== generation) return
      onReader(device, myGeneration)
    })
    instance.on('error', (err: unknown) => {
      if (myGeneration !== generation) return
      onPcscFailure(err)
    })
    logger.info({ socket: pcscdSocketPath }, 'PC/SC started; waiting for readers')
  }

  /** PC/SC as a whole failed (pcscd stopped or restarted): drop everything and start over once pcscd answers. */
  function onPcscFailure(err: unknown): void {
    counters.errors++
    counters.pcscdDown++
    logger.warn({ err: errorMessage(err) }, 'PC/SC failed; restarting it when pcscd is back')
    safeEmit('readerError', new Error(`PC/SC failed: ${errorMessage(err)}`))
    teardown()
    safeEmit('status', status())
    scheduleRetry()
  }

  function dropReader(name: string, unplanned = true): void {
    const entry = attached.get(name)
    if (!entry) return
    attached.delete(name)
    if (lastTagReader === name) lastTagReader = null
    if (entry.uid) {
      counters.tagsGone++
      safeEmit('tagGone', entry.uid)
    }
    if (unplanned) {
      counters.readersLost++
      lost = true
    }
  }

  function teardown(unplanned = true): void {
    generation++ // the old instance's late events are ignored from now on
    for (const name of [...attached.keys()]) dropReader(name, unplanned)
    const old = nfc
    nfc = null
    if (old) {
      try {
        old.close()
      } catch (err) {
        logger.debug({ err: errorMessage(err) }, 'closing PC/SC failed')
      }
    }
  }

  function onReader(device: NfcPcscReaderDevice, myGeneration: number): void {
    const name = device.name
    // nfc-pcsc re-emits reader errors as 'error': without a listener that would throw out of native code.
    device.on('error', (err: unknown) => {
      if (myGeneration !== generation || !attached.has(name)) {
        logger.debug({ reader: name, err: errorMessage(err) }, 'error from a reader not in use')
        return
      }
      counters.errors++
      logger.warn({ reader: name, err: errorMessage(err) }, 'reader error')
      safeEmit('readerError', new Error(`reader ${name}: ${errorMessage(err)}`))
    })
    try {
      device.autoProcessing = false
    } catch {
      // a reader object that refuses: it then reads tags its own way, and we still read the UID ourselves
    }
    if (!readerWanted(name)) {
      logger.info({ reader: name }, 'PC/SC reader ignored (does not match readerName)')
      return
    }
    const entry: Attached = { device, uid: null, cardEpoch: 0 }
    attached.set(name, entry)
    if (lost) counters.reconnects++
    lost = false
    logger.info({ reader: name, feedback: feedbackProtocolFor(feedbackMode, name) }, 'PC/SC reader in use')
    safeEmit('status', status())

    device.on('card', (card: NfcPcscCard) => {
      if (myGeneration !== generation || attached.get(name) !== entry) return
      void readUid(entry, card)
    })
    device.on('card.off', () => {
      if (myGeneration !== generation || attached.get(name) !== entry) return
      entry.cardEpoch++
      const uid = entry.uid
      entry.uid = null
      if (uid) {
        counters.tagsGone++
        safeEmit('tagGone', uid)
      }
    })
    device.on('end', () => {
      if (myGeneration !== generation || attached.get(name) !== entry) return
      dropReader(name)
      logger.warn({ reader: name }, 'PC/SC reader removed; waiting for it to come back')
      safeEmit('readerError', new Error(`reader ${name} was removed`))
      safeEmit('status', status())
    })
  }

  async function readUid(entry: Attached, card: NfcPcscCard): Promise<void> {
    const epoch = ++entry.cardEpoch
    let result: { uid: string } | { error: string }
    try {
      const response = await withTimeout(Promise.resolve().then(() => entry.device.transmit(GET_UID_APDU, 12)), 'reading the UID')
      result = uidFromGetDataResponse(response)
    } catch (err) {
      result = { error: errorMessage(err) }
    }
    if (entry.cardEpoch !== epoch || attached.get(entry.device.name) !== entry) return // the tag (or reader) left meanwhile
    if ('error' in result) {
      counters.uidErrors++
      logger.warn({ reader: entry.device.name, err: result.error }, 'cannot read the UID of the tag')
      safeEmit('readerError', new Error(`cannot read the tag's UID: ${result.error}`))
      return
    }
    if (entry.uid === result.uid) return
    entry.uid = result.uid
    lastTagReader = entry.device.name
    counters.cards++
    safeEmit('tag', { uid: result.uid, type: tagTypeFromAtr(card?.atr) })
  }

  async function sendFeedback(entry: Attached, feedback: ReaderFeedback): Promise<void> {
    const protocol = feedbackProtocolFor(feedbackMode, entry.device.name)
    // Most PC/SC readers have no LED/buzzer command at all, and the ACS commands
    // need a card connection with the Debian CCID driver: then feedback is a
    // no-op and the kiosk screen alone shows the result.
    if (protocol === 'none') return
    if (!entry.device.card || !entry.device.connection) {
      logger.debug({ reader: entry.device.name }, 'no card connection: LED/buzzer feedback skipped')
      return
    }
    try {
      if (protocol === 'acr122') {
        const response = await withTimeout(Promise.resolve().then(() => entry.device.transmit(acr122FeedbackApdu(feedback), 2)), 'LED/buzzer command')
        if (response.length < 2 || response.readUInt16BE(response.length - 2) !== 0x9000) {
          throw new Error(`reader answered ${response.toString('hex')} to the LED/buzzer command`)
        }
      } else {
        for (const command of acr1252FeedbackCommands(feedback)) {
          await withTimeout(Promise.resolve().then(() => entry.device.control(command, 8)), 'LED/buzzer command')
        }
      }
      counters.feedbackSent++
    } catch (err) {
      counters.feedbackFailures++
      logger.warn({ reader: entry.device.name, err: errorMessage(err) }, 'LED/buzzer feedback failed')
      throw err instanceof Error ? err : new Error(String(err))
    }
  }

  return Object.assign(reader, {
    kind: 'pcsc' as const,
    status,
    readerNames: () => [...attached.keys()],
    /** Resolves after the first look for pcscd; without it, the adapter keeps looking every pollMs (see 'readerError' and status()). */
    async open() {
      if (wanted) return
      wanted = true
      await startAttempt()
    },
    async close() {
      wanted = false
      if (retryTimer) clearTimeout(retryTimer)
      retryTimer = null
      await attempt
      const hadReaders = attached.size > 0
      teardown(false)
      lost = false
      pcscdAbsentReported = false
      if (hadReaders) safeEmit('status', status())
    },
    feedback(feedback: ReaderFeedback): Promise<void> {
      const entry = (lastTagReader ? attached.get(lastTagReader) : undefined) ?? attached.values().next().value
      if (!entry) return Promise.reject(new Error('reader not connected'))
      return sendFeedback(entry, feedback)
    },
  })
}
