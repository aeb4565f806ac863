// One serial port that stays open: the port management shared by the serial
// NFC reader (reader/serial-reader.ts) and the ZVT card terminal
// (terminal/zvt-terminal.ts). It exists so both adapters open, retry, survive
// unplugging and close their port the same way, from one copy of the code:
// open() opens the port (the OS binding is loaded lazily, tests inject
// MockBinding); a failed open or a port that closes on its own is reopened
// every reconnectDelayMs until close() (the retry plumbing is
// reconnecting-connection.ts, shared with the TCP connection). The first failure of a streak is
// logged at warn, later ones at debug. What travels on the line is the
// caller's business (onOpen, onData, onLost).
import { SerialPortStream } from '@serialport/stream'
import type { Logger } from 'pino'
import { createReconnectingConnection } from './reconnecting-connection.js'

/** A serialport binding: the OS one by default, MockBinding (or a wrapper of it) in tests. */
export type SerialBinding = ConstructorParameters<typeof SerialPortStream>[0]['binding']

/** The counters a serial connection keeps (in the caller's counter record). */
export type SerialConnectionCounter = 'reconnects' | 'openFailures' | 'errors'

export interface SerialConnectionOptions {
  path: string
  baudRate: number
  /** Default: serialport's binding for this operating system. */
  binding?: SerialBinding
  /** Already bound to the device (path etc.). */
  logger: Logger
  /** Pause between attempts to (re)open the port. */
  reconnectDelayMs: number
  /** What the port leads to, for messages: "cannot open the reader port". */
  what: 'reader' | 'terminal'
  /** reconnects: successful reopenings after the port was lost; errors: port and write errors. */
  counters: Record<SerialConnectionCounter, number>
  /** The port is open and listened to (a new connection: reset protocol state here). */
  onOpen(port: SerialPortStream): void
  /** Bytes from the port, in any pieces. */
  onData(chunk: Buffer): void
  /** The port went away on its own (unplugged); called before emitError and emitStatus. A reopening follows. */
  onLost(err: Error | null): void
  /** Port errors, failure to open, loss of the port. */
  emitError(err: Error): void
  /** After the port was lost. */
  emitStatus(): void
}

export interface SerialConnection {
  /** The open port, or null. */
  readonly port: SerialPortStream | null
  readonly isOpen: boolean
  /** Resolves after the first attempt to open the port; if it failed, attempts go on in the background. */
  open(): Promise<void>
  /**
   * Stops reopening and closes the port. `detached` runs once the port is let
   * go of, before it is closed. Resolves true if a port was open.
   */
  close(detached?: () => void): Promise<boolean>
  /** Writes to the open port, if any; failures are counted and logged. */
  write(bytes: Buffer): void
}

async function defaultBinding(): Promise<SerialBinding> {
  // Loaded only when needed: it pulls in the native bindings.
  const { SerialPort } = await import('serialport')
  return SerialPort.binding
}

function closePort(p: SerialPortStream): Promise<void> {
  return new Promise((resolve) => {
    if (!p.isOpen) return resolve()
    p.close(() => resolve())
  })
}

export function createSerialConnection(options: SerialConnectionOptions): SerialConnection {
  const { path, baudRate, logger, reconnectDelayMs, what, counters } = options

  const connection = createReconnectingConnection<SerialPortStream>({
    counters,
    async connect() {
      const binding = options.binding ?? (await defaultBinding())
      const p = new SerialPortStream({ binding, path, baudRate, autoOpen: false })
      // Registered before open: an 'error' event without a listener would crash the process.
      p.on('error', (err: Error) => {
        counters.errors++
        logger.warn({ err: err.message }, 'serial port error')
        options.emitError(err)
      })
      await new Promise<void>((resolve, reject) => p.open((err) => (err ? reject(err) : resolve())))
      return p
    },
    release: closePort,
    retryDelayMs: () => reconnectDelayMs,
    failed(message, failuresInARow) {
      if (failuresInARow === 1) {
        logger.warn({ err: message, retryInMs: reconnectDelayMs }, `cannot open the ${what} port; retrying`)
        options.emitError(new Error(`cannot open ${what} port ${path}: ${message}`))
      } else {
        logger.debug({ err: message }, `${what} port still cannot be opened`)
      }
    },
    attach(p, lost) {
      p.on('data', (chunk: Buffer) => options.onData(chunk))
      p.on('close', (err: Error | null) => lost(err))
      logger.info(`${what} port open`)
      options.onOpen(p)
    },
    lost(err) {
      options.onLost(err)
      logger.warn({ err: err?.message }, `${what} port closed; reopening`)
      options.emitError(new Error(`${what} port ${path} closed${err ? `: ${err.message}` : ''}`))
      options.emitStatus()
    },
  })

  return {
    get port() {
      return connection.current
    },
    get isOpen() {
      return connection.current !== null
    },
    open: () => connection.open(),
    close: (detached) => connection.close(detached),
    write(bytes) {
      connection.current?.write(bytes, (err) => {
        if (err) {
          counters.errors++
          logger.warn({ err: err.message }, `write to the ${what} failed`)
        }
      })
    },
  }
}
