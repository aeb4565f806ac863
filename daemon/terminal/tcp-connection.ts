// One TCP connection that stays up: the LAN counterpart of serial-connection.ts
// for card terminals on the network (ZVT on port 20007). open() connects, with a
// connect timeout; a failed connect or a connection closed or reset by the
// other end is retried until close(), after reconnectDelayMs, doubling with each
// failed attempt in a row up to 16 times that (a terminal being rebooted is not
// hammered; one that comes back is reached soon). The first failure of a streak
// is logged at warn, later ones at debug. What travels on it is the caller's
// business (onOpen, onData, onLost). The retry plumbing is
// ../reconnecting-connection.ts, shared with the serial connection.
import { Socket } from 'node:net'
import type { Logger } from 'pino'
import { createReconnectingConnection } from '../reconnecting-connection.js'
import type { SerialConnectionCounter } from '../serial-connection.js'

export interface TcpConnectionOptions {
  host: string
  port: number
  /** A connect attempt that has not succeeded after this long is given up (and retried). */
  connectTimeoutMs: number
  /** Pause before the first retry; doubles with each failed attempt in a row, up to 16 times. */
  reconnectDelayMs: number
  /** Already bound to the device. */
  logger: Logger
  /** reconnects: successful reconnections after the connection was lost; openFailures: failed connects; errors: write errors. */
  counters: Record<SerialConnectionCounter, number>
  /** Connected (a new connection: reset protocol state here). */
  onOpen(): void
  /** Bytes from the other end, in any pieces. */
  onData(chunk: Buffer): void
  /** The connection went away (closed or reset by the other end, or dropped by us); a reconnection follows. */
  onLost(err: Error | null): void
  emitError(err: Error): void
  /** After the connection was lost. */
  emitStatus(): void
}

export interface TcpConnection {
  /** The connected socket, or null. */
  readonly port: Socket | null
  readonly isOpen: boolean
  /** Resolves after the first connect attempt; if it failed, attempts go on in the background. */
  open(): Promise<void>
  /** Stops reconnecting and closes the connection. `detached` runs once the socket is let go of. */
  close(detached?: () => void): Promise<boolean>
  /** Writes to the connection, if any; returns false when there is none. */
  write(bytes: Buffer): boolean
  /** Ends the current connection as lost (e.g. the byte stream is out of step); a reconnection follows. */
  drop(reason: string): void
}

export function createTcpConnection(options: TcpConnectionOptions): TcpConnection {
  const { host, port: tcpPort, connectTimeoutMs, reconnectDelayMs, logger, counters } = options
  const where = `${host}:${tcpPort}`

  function connectOnce(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = new Socket()
      const timer = setTimeout(() => {
        s.destroy()
        reject(new Error(`no connection within ${connectTimeoutMs} ms`))
      }, connectTimeoutMs)
      s.once('error', (err) => {
        clearTimeout(timer)
        s.destroy()
        reject(err)
      })
      s.connect({ host, port: tcpPort }, () => {
        clearTimeout(timer)
        s.removeAllListeners('error')
        resolve(s)
      })
    })
  }

  async function release(s: Socket): Promise<void> {
    const closed = new Promise<void>((resolve) => s.once('close', () => resolve()))
    s.destroy()
    await closed
  }

  const connection = createReconnectingConnection<Socket>({
    counters,
    connect: connectOnce,
    release,
    retryDelayMs: (failuresInARow) => reconnectDelayMs * 2 ** Math.min(Math.max(0, failuresInARow - 1), 4),
    failed(message, failuresInARow) {
      if (failuresInARow === 1) {
        logger.warn({ err: message, retryInMs: reconnectDelayMs }, 'cannot connect to the terminal; retrying')
        options.emitError(new Error(`cannot connect to terminal ${where}: ${message}`))
      } else logger.debug({ err: message }, 'terminal still cannot be reached')
    },
    attach(s, lost) {
      s.setNoDelay(true)
      s.setKeepAlive(true, 10_000) // a terminal that vanishes from the LAN is noticed without traffic
      s.on('data', (chunk: Buffer) => options.onData(chunk))
      // Registered before anything can fail: an 'error' without a listener would crash the process.
      s.on('error', (err) => logger.debug({ err: err.message }, 'terminal connection error'))
      s.on('close', () => lost(null))
      logger.info({ where }, 'terminal connected')
      options.onOpen()
    },
    lost(err) {
      options.onLost(err)
      logger.warn({ err: err?.message }, 'terminal connection closed; reconnecting')
      options.emitError(new Error(`terminal connection ${where} closed${err ? `: ${err.message}` : ''}`))
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
      const socket = connection.current
      if (!socket) return false
      socket.write(bytes, (err) => {
        if (err) {
          counters.errors++
          logger.warn({ err: err.message }, 'write to the terminal failed')
        }
      })
      return true
    },
    drop(reason) {
      const s = connection.current
      if (!s) return
      connection.lose(s, new Error(reason))
      s.destroy()
    },
  }
}
