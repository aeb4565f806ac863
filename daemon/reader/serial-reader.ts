// Reader adapter for NFC reader boards on a serial line (USB CDC or UART),
// speaking the framed protocol of device-protocol/frame.ts and
// reader-messages.ts. It survives anything the line does: noise, bad CRCs,
// unknown messages and hostile payloads are counted and logged; a port that
// closes or disappears is reopened every reconnectDelayMs until close().
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { MAX_FRAME_BYTES } from '../../device-protocol/index.js'
import { createSerialConnection, type SerialBinding } from '../serial-connection.js'
import { createFramedReaderLink } from './framed-link.js'
import type { Reader, ReaderDeviceInfo, ReaderFeedback, ReaderStatus } from './reader.js'

export type { SerialBinding } from '../serial-connection.js'

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

export function createSerialReader(options: SerialReaderOptions): SerialReader {
  const { path, baudRate = 115_200, logger: parentLogger, ackTimeoutMs = 1_000, reconnectDelayMs = 2_000, maxFrameBytes = MAX_FRAME_BYTES } = options
  const logger = parentLogger.child({ reader: 'serial', path })
  const counters = Object.fromEntries(SERIAL_READER_COUNTERS.map((name) => [name, 0])) as Record<SerialReaderCounter, number>

  let device: ReaderDeviceInfo | undefined

  const reader = new EventEmitter() as SerialReader

  function status(): ReaderStatus {
    return { kind: 'serial', connected: connection.isOpen, ...(device ? { device: { ...device } } : {}), counters: { ...counters } }
  }

  function safeEmit(event: string, ...args: unknown[]): void {
    try {
      reader.emit(event, ...args)
    } catch (err) {
      counters.errors++
      logger.error({ err, event }, 'a reader event listener threw')
    }
  }

  const link = createFramedReaderLink({
    logger,
    counters,
    ackTimeoutMs,
    maxFrameBytes,
    write: (bytes) => connection.write(bytes),
    emit: safeEmit,
    onDevice(info) {
      device = info
      safeEmit('status', status())
    },
  })

  const connection = createSerialConnection({
    path,
    baudRate,
    binding: options.binding,
    logger,
    reconnectDelayMs,
    what: 'reader',
    counters,
    onOpen() {
      link.reset()
      safeEmit('status', status())
      // The reader may have greeted before we listened: ask it who it is.
      link.identify()
    },
    onData: (chunk) => link.receive(chunk),
    onLost() {
      device = undefined
      link.rejectPending('reader disconnected')
    },
    emitError: (err) => safeEmit('readerError', err),
    emitStatus: () => safeEmit('status', status()),
  })

  return Object.assign(reader, {
    kind: 'serial' as const,
    path,
    status,
    /** Resolves after the first attempt to open the port; if it failed, attempts go on in the background (see status().connected). */
    async open() {
      await connection.open()
    },
    async close() {
      link.rejectPending('reader closed')
      const hadPort = await connection.close(() => {
        device = undefined
      })
      if (hadPort) safeEmit('status', status())
    },
    feedback(feedback: ReaderFeedback): Promise<void> {
      if (!connection.isOpen) return Promise.reject(new Error('reader not connected'))
      return link.feedback(feedback)
    },
  })
}
