// One TCP connection that stays up: the LAN counterpart of serial-connection.ts
// for card terminals on the network (ZVT on port 20007). open() connects, with a
// connect timeout; a failed connect or a connection closed or reset by the
// other end is retried until close(), after reconnectDelayMs, doubling with each
// failed attempt in a row up to 16 times that (a terminal being rebooted is not
// hammered; one that comes back is reached soon). The first failure of a streak
// is logged at warn, later ones at debug. What travels on it is the caller's
// business (onOpen, onData, onLost).
import { Socket } from 'node:net'
import type { Logger } from 'pino'
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
  let wanted = false
  let socket: Socket | null = null
  let reconnectTimer: NodeJS.Timeout | null = null
  let attempt: Promise<void> | null = null
  let lost = false
  let failuresInARow = 0

  function scheduleReconnect(): void {
    if (!wanted || reconnectTimer) return
    const delayMs = reconnectDelayMs * 2 ** Math.min(Math.max(0, failuresInARow - 1), 4)
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null
      void startAttempt()
    }, delayMs)
  }

  function startAttempt(): Promise<void> {
    attempt ??= tryConnect().finally(() => {
      attempt = null
    })
    return attempt
  }

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

  async function tryConnect(): Promise<void> {
    if (!wanted || socket) return
    let s: Socket
    try {
      s = await connectOnce()
    } catch (err) {
      counters.openFailures++
      failuresInARow++
      const message = err instanceof Error ? err.message : String(err)
      if (failuresInARow === 1) {
        logger.warn({ err: message, retryInMs: reconnectDelayMs }, 'cannot connect to the terminal; retrying')
        options.emitError(new Error(`cannot connect to terminal ${where}: ${message}`))
      } else logger.debug({ err: message }, 'terminal still cannot be reached')
      scheduleReconnect()
      return
    }
    if (!wanted) {
      s.destroy() // close() was called while we were connecting
      return
    }
    socket = s
    failuresInARow = 0
    if (lost) counters.reconnects++
    s.setNoDelay(true)
    s.setKeepAlive(true, 10_000) // a terminal that vanishes from the LAN is noticed without traffic
    s.on('data', (chunk: Buffer) => options.onData(chunk))
    // Registered before anything can fail: an 'error' without a listener would crash the process.
    s.on('error', (err) => logger.debug({ err: err.message }, 'terminal connection error'))
    s.on('close', () => onClose(s, null))
    logger.info({ where }, 'terminal connected')
    options.onOpen()
  }

  function onClose(s: Socket, err: Error | null): void {
    if (s !== socket) return // a socket we let go of on purpose
    socket = null
    lost = true
    options.onLost(err)
    logger.warn({ err: err?.message }, 'terminal connection closed; reconnecting')
    options.emitError(new Error(`terminal connection ${where} closed${err ? `: ${err.message}` : ''}`))
    options.emitStatus()
    scheduleReconnect()
  }

  return {
    get port() {
      return socket
    },
    get isOpen() {
      return socket !== null
    },
    async open() {
      if (wanted) return
      wanted = true
      await startAttempt()
    },
    async close(detached) {
      wanted = false
      lost = false
      failuresInARow = 0
      if (reconnectTimer) clearTimeout(reconnectTimer)
      reconnectTimer = null
      await attempt
      const s = socket
      socket = null
      detached?.()
      if (s) {
        const closed = new Promise<void>((resolve) => s.once('close', () => resolve()))
        s.destroy()
        await closed
      }
      return s !== null
    },
    write(bytes) {
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
      const s = socket
      if (!s) return
      onClose(s, new Error(reason))
      s.destroy()
    },
  }
}
