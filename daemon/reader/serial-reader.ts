// Reader adapter for NFC reader boards on a serial line (USB CDC or UART),
// speaking the framed protocol of device-protocol/frame.ts and
// reader-messages.ts. It survives anything the line does: noise, bad CRCs,
// unknown messages and hostile payloads are counted and logged; a port that
// closes or disappears is reopened every reconnectDelayMs until close().
import { EventEmitter } from 'node:events'
import { SerialPortStream } from '@serialport/stream'
import type { Logger } from 'pino'
import {
  MAX_FRAME_BYTES,
  createDeframer,
  decodeFrame,
  decodeReaderMessage,
  encodeFrame,
  encodeReaderMessage,
  type Deframer,
  type ReaderMessage,
} from '../../device-protocol/index.js'
import type { Reader, ReaderDeviceInfo, ReaderFeedback, ReaderStatus } from './reader.js'

/** A serialport binding: the OS one by default, MockBinding (or a wrapper of it) in tests. */
export type SerialBinding = ConstructorParameters<typeof SerialPortStream>[0]['binding']

export interface SerialReaderOptions {
  /** e.g. /dev/ttyACM0 */
  path: string
  baudRate?: number
  /** Default: serialport's binding for this operating system. */
  binding?: SerialBinding
  logger: Logger
  /** How long feedback() waits for the reader's acknowledgement. */
  ackTimeoutMs?: number
  /** Pause between attempts to (re)open the port. */
  reconnectDelayMs?: number
  maxFrameBytes?: number
}

export const SERIAL_READER_COUNTERS = [
  'frames', // frames with a good CRC
  'crcErrors',
  'discardedBytes', // noise, oversize and invalid-COBS bytes
  'oversize', // frames dropped for size
  'malformed', // bad COBS, short/version errors, malformed payloads, wrong-direction messages
  'unknownTypes', // message types this host does not know
  'reconnects', // successful reopenings after the port was lost
  'openFailures',
  'errors', // port errors, write errors, listeners that threw
  'deviceErrors', // error reports sent by the reader
  'feedbackTimeouts',
  'unmatchedAcks', // acks for no pending feedback (late, or a confused reader)
] as const
export type SerialReaderCounter = (typeof SERIAL_READER_COUNTERS)[number]

export interface SerialReader extends Reader {
  readonly path: string
}

interface PendingAck {
  resolve: () => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

async function defaultBinding(): Promise<SerialBinding> {
  // Loaded only when needed: it pulls in the native bindings.
  const { SerialPort } = await import('serialport')
  return SerialPort.binding
}

export function createSerialReader(options: SerialReaderOptions): SerialReader {
  const { path, baudRate = 115_200, logger: parentLogger, ackTimeoutMs = 1_000, reconnectDelayMs = 2_000, maxFrameBytes = MAX_FRAME_BYTES } = options
  const logger = parentLogger.child({ reader: 'serial', path })
  const counters = Object.fromEntries(SERIAL_READER_COUNTERS.map((name) => [name, 0])) as Record<SerialReaderCounter, number>
  const pending = new Map<number, PendingAck>()

  let wanted = false // between open() and close()
  let port: SerialPortStream | null = null
  let device: ReaderDeviceInfo | undefined
  let deframer: Deframer = createDeframer({ maxFrameBytes })
  let reconnectTimer: NodeJS.Timeout | null = null
  let attempt: Promise<void> | null = null
  let lost = false // the port was open once and went away
  let openFailing = false // open attempts are failing; report the streak once
  let seq = 0
  // Each kind of line trouble is logged at warn once per connection, then at debug:
  // a noisy line must not flood the logs.
  const warned = new Set<string>()

  const reader = new EventEmitter() as SerialReader

  function status(): ReaderStatus {
    return { kind: 'serial', connected: port !== null, ...(device ? { device: { ...device } } : {}), counters: { ...counters } }
  }

  function safeEmit(event: string, ...args: unknown[]): void {
    try {
      reader.emit(event, ...args)
    } catch (err) {
      counters.errors++
      logger.error({ err, event }, 'a reader event listener threw')
    }
  }

  function lineTrouble(kind: string, detail: Record<string, unknown>, msg: string): void {
    if (warned.has(kind)) {
      logger.debug(detail, msg)
    } else {
      warned.add(kind)
      logger.warn(detail, `${msg} (further ones at debug level)`)
    }
  }

  function rejectPending(reason: string): void {
    for (const [, ack] of pending) {
      clearTimeout(ack.timer)
      ack.reject(new Error(reason))
    }
    pending.clear()
  }

  function write(bytes: Buffer): void {
    port?.write(bytes, (err) => {
      if (err) {
        counters.errors++
        logger.warn({ err: err.message }, 'write to the reader failed')
      }
    })
  }

  function nextSeq(): number | null {
    for (let i = 0; i < 256; i++) {
      const candidate = seq
      seq = (seq + 1) & 0xff
      if (!pending.has(candidate)) return candidate
    }
    return null
  }

  function send(message: ReaderMessage, frameSeq: number): void {
    write(encodeFrame({ seq: frameSeq, ...encodeReaderMessage(message) }))
  }

  function handleMessage(message: ReaderMessage): void {
    switch (message.kind) {
      case 'hello':
        device = { model: message.model, firmware: message.firmware, serial: message.serial }
        logger.info({ device }, 'reader identified')
        safeEmit('status', status())
        return
      case 'tagPresent':
        safeEmit('tag', { uid: message.uid, type: message.type })
        return
      case 'tagGone':
        safeEmit('tagGone', message.uid)
        return
      case 'feedbackAck': {
        const ack = pending.get(message.ackSeq)
        if (!ack) {
          counters.unmatchedAcks++
          logger.debug({ ackSeq: message.ackSeq }, 'acknowledgement for no pending feedback')
          return
        }
        pending.delete(message.ackSeq)
        clearTimeout(ack.timer)
        ack.resolve()
        return
      }
      case 'error':
        counters.deviceErrors++
        logger.warn({ code: message.code, text: message.text }, 'the reader reported an error')
        safeEmit('readerError', new Error(`reader reported error 0x${message.code.toString(16).padStart(2, '0')}: ${message.text}`))
        return
      default:
        // identify / feedback are ours to send, not to receive.
        counters.malformed++
        lineTrouble('direction', { kind: message.kind }, 'host-to-reader message received from the reader')
    }
  }

  function handleBody(body: Buffer): void {
    const frame = decodeFrame(body, maxFrameBytes)
    if (!frame.ok) {
      if (frame.error === 'crc') counters.crcErrors++
      else if (frame.error === 'oversize') counters.oversize++
      else counters.malformed++
      lineTrouble(`frame-${frame.error}`, { error: frame.error, detail: frame.detail }, 'bad frame from the reader dropped')
      return
    }
    counters.frames++
    const decoded = decodeReaderMessage(frame.frame.type, frame.frame.payload)
    if (!decoded.ok) {
      if (decoded.error === 'unknown-type') counters.unknownTypes++
      else counters.malformed++
      lineTrouble(`message-${decoded.error}`, { error: decoded.error, detail: decoded.detail }, 'unusable message from the reader dropped')
      return
    }
    handleMessage(decoded.message)
  }

  function onData(chunk: Buffer): void {
    try {
      const r = deframer.push(chunk)
      counters.discardedBytes += r.discardedBytes
      counters.oversize += r.oversize
      counters.malformed += r.invalid
      if (r.discardedBytes > 0) lineTrouble('noise', { discardedBytes: r.discardedBytes }, 'bytes outside any frame discarded')
      for (const body of r.frames) handleBody(body)
    } catch (err) {
      // Not expected (the codecs do not throw on input), but a reader must never take the daemon down.
      counters.errors++
      logger.error({ err }, 'handling bytes from the reader failed')
    }
  }

  function scheduleReconnect(): void {
    if (!wanted || reconnectTimer) return
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null
      startAttempt()
    }, reconnectDelayMs)
  }

  function startAttempt(): Promise<void> {
    if (!attempt) {
      attempt = tryOpen().finally(() => {
        attempt = null
      })
    }
    return attempt
  }

  function closePort(p: SerialPortStream): Promise<void> {
    return new Promise((resolve) => {
      if (!p.isOpen) return resolve()
      p.close(() => resolve())
    })
  }

  async function tryOpen(): Promise<void> {
    if (!wanted || port) return
    let p: SerialPortStream
    try {
      const binding = options.binding ?? (await defaultBinding())
      p = new SerialPortStream({ binding, path, baudRate, autoOpen: false })
      // Registered before open: an 'error' event without a listener would crash the process.
      p.on('error', (err: Error) => {
        counters.errors++
        logger.warn({ err: err.message }, 'serial port error')
        safeEmit('readerError', err)
      })
      await new Promise<void>((resolve, reject) => p.open((err) => (err ? reject(err) : resolve())))
    } catch (err) {
      counters.openFailures++
      const message = err instanceof Error ? err.message : String(err)
      if (!openFailing) {
        openFailing = true
        logger.warn({ err: message, retryInMs: reconnectDelayMs }, 'cannot open the reader port; retrying')
        safeEmit('readerError', new Error(`cannot open reader port ${path}: ${message}`))
      } else {
        logger.debug({ err: message }, 'reader port still cannot be opened')
      }
      scheduleReconnect()
      return
    }
    if (!wanted) {
      await closePort(p) // close() was called while we were opening
      return
    }
    port = p
    openFailing = false
    deframer = createDeframer({ maxFrameBytes })
    warned.clear()
    if (lost) counters.reconnects++
    p.on('data', onData)
    p.on('close', (err: Error | null) => onClose(p, err))
    logger.info('reader port open')
    safeEmit('status', status())
    // The reader may have greeted before we listened: ask it who it is.
    const s = nextSeq()
    if (s !== null) send({ kind: 'identify' }, s)
  }

  function onClose(p: SerialPortStream, err: Error | null): void {
    if (p !== port) return // a port we let go of on purpose
    port = null
    device = undefined
    lost = true
    rejectPending('reader disconnected')
    logger.warn({ err: err?.message }, 'reader port closed; reopening')
    safeEmit('readerError', new Error(`reader port ${path} closed${err ? `: ${err.message}` : ''}`))
    safeEmit('status', status())
    scheduleReconnect()
  }

  return Object.assign(reader, {
    kind: 'serial' as const,
    path,
    status,
    /** Resolves after the first attempt to open the port; if it failed, attempts go on in the background (see status().connected). */
    async open() {
      if (wanted) return
      wanted = true
      await startAttempt()
    },
    async close() {
      wanted = false
      lost = false
      openFailing = false
      if (reconnectTimer) clearTimeout(reconnectTimer)
      reconnectTimer = null
      rejectPending('reader closed')
      await attempt
      const p = port
      port = null
      device = undefined
      if (p) {
        await closePort(p)
        safeEmit('status', status())
      }
    },
    feedback(feedback: ReaderFeedback): Promise<void> {
      if (!port) return Promise.reject(new Error('reader not connected'))
      let encoded: { type: number; payload: Buffer }
      try {
        encoded = encodeReaderMessage({ kind: 'feedback', led: feedback.led, beep: feedback.beep, durationMs: feedback.durationMs })
      } catch (err) {
        return Promise.reject(err)
      }
      const frameSeq = nextSeq()
      if (frameSeq === null) return Promise.reject(new Error('256 feedback commands await acknowledgement'))
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(frameSeq)
          counters.feedbackTimeouts++
          reject(new Error(`reader did not acknowledge feedback within ${ackTimeoutMs} ms`))
        }, ackTimeoutMs)
        pending.set(frameSeq, { resolve, reject, timer })
        write(encodeFrame({ seq: frameSeq, ...encoded }))
      })
    },
  })
}
