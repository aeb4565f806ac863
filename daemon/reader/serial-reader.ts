// Reader adapter for NFC reader boards on a serial line (USB CDC or UART),
// speaking the framed protocol of device-protocol/frame.ts and
// reader-messages.ts. It survives anything the line does: noise, bad CRCs,
// unknown messages and hostile payloads are counted and logged; a port that
// closes or disappears is reopened every reconnectDelayMs until close().
import { EventEmitter } from 'node:events'
import { SerialPortStream } from '@serialport/stream'
import type { Logger } from 'pino'
import { MAX_FRAME_BYTES } from '../../device-protocol/index.js'
import { createFramedReaderLink } from './framed-link.js'
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

// The framed link's counters (framed-link.ts; passing `counters` to it fails to
// compile if one is missing here) plus the port's own, in the order the state
// message shows.
export const SERIAL_READER_COUNTERS = [
  'frames',
  'crcErrors',
  'discardedBytes',
  'oversize',
  'malformed',
  'unknownTypes',
  'reconnects', // successful reopenings after the port was lost
  'openFailures',
  'errors', // port errors, write errors, listeners that threw
  'deviceErrors',
  'feedbackTimeouts',
  'unmatchedAcks',
] as const satisfies readonly string[]
export type SerialReaderCounter = (typeof SERIAL_READER_COUNTERS)[number]

export interface SerialReader extends Reader {
  readonly path: string
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

  let wanted = false // between open() and close()
  let port: SerialPortStream | null = null
  let device: ReaderDeviceInfo | undefined
  let reconnectTimer: NodeJS.Timeout | null = null
  let attempt: Promise<void> | null = null
  let lost = false // the port was open once and went away
  let openFailing = false // open attempts are failing; report the streak once

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

  function write(bytes: Buffer): void {
    port?.write(bytes, (err) => {
      if (err) {
        counters.errors++
        logger.warn({ err: err.message }, 'write to the reader failed')
      }
    })
  }

  const link = createFramedReaderLink({
    logger,
    counters,
    ackTimeoutMs,
    maxFrameBytes,
    write,
    emit: safeEmit,
    onDevice(info) {
      device = info
      safeEmit('status', status())
    },
  })

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
    link.reset()
    if (lost) counters.reconnects++
    p.on('data', (chunk: Buffer) => link.receive(chunk))
    p.on('close', (err: Error | null) => onClose(p, err))
    logger.info('reader port open')
    safeEmit('status', status())
    // The reader may have greeted before we listened: ask it who it is.
    link.identify()
  }

  function onClose(p: SerialPortStream, err: Error | null): void {
    if (p !== port) return // a port we let go of on purpose
    port = null
    device = undefined
    lost = true
    link.rejectPending('reader disconnected')
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
      link.rejectPending('reader closed')
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
      return link.feedback(feedback)
    },
  })
}
