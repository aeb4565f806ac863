// The retry plumbing shared by a serial port that stays open
// (serial-connection.ts) and a TCP connection that stays up
// (terminal/tcp-connection.ts): between open() and close() a failed attempt or
// a connection lost on its own is retried after a pause the caller chooses,
// one attempt at a time; close() stops the retries, waits for an attempt in
// flight and lets the connection go. What a connection is, how it is made,
// listened to and closed, and what is logged, is the caller's.

export interface ReconnectingOptions<C> {
  /** reconnects: successful reconnections after the connection was lost; openFailures: failed attempts. */
  counters: { reconnects: number; openFailures: number }
  /** One attempt; rejects if it fails. */
  connect(): Promise<C>
  /** Lets a connection go (close() was called, also while it was being made). */
  release(connection: C): Promise<void>
  /** Pause before the next attempt, after `failuresInARow` failed attempts in a row (0 after a loss). */
  retryDelayMs(failuresInARow: number): number
  /** An attempt failed (`failuresInARow` counts it, 1 for the first of a streak); a retry is scheduled after. */
  failed(message: string, failuresInARow: number): void
  /** A new connection: listen to it, and call `lost` when it goes away on its own. */
  attach(connection: C, lost: (err: Error | null) => void): void
  /** The connection went away on its own; a retry is scheduled after. */
  lost(err: Error | null): void
}

export interface ReconnectingConnection<C> {
  /** The current connection, or null. */
  readonly current: C | null
  /** Resolves after the first attempt; if it failed, attempts go on in the background. */
  open(): Promise<void>
  /** Stops retrying; `detached` runs once the connection is let go of, before it is released. Resolves true if there was one. */
  close(detached?: () => void): Promise<boolean>
  /** Treats `connection` as lost (if it is the current one); a retry follows. */
  lose(connection: C, err: Error | null): void
}

export function createReconnectingConnection<C>(options: ReconnectingOptions<C>): ReconnectingConnection<C> {
  const { counters } = options
  let wanted = false // between open() and close()
  let current: C | null = null
  let reconnectTimer: NodeJS.Timeout | null = null
  let attempt: Promise<void> | null = null
  let lost = false // there was a connection once and it went away
  let failuresInARow = 0

  function scheduleReconnect(): void {
    if (!wanted || reconnectTimer) return
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null
      void startAttempt()
    }, options.retryDelayMs(failuresInARow))
  }

  function startAttempt(): Promise<void> {
    attempt ??= tryConnect().finally(() => {
      attempt = null
    })
    return attempt
  }

  async function tryConnect(): Promise<void> {
    if (!wanted || current) return
    let connection: C
    try {
      connection = await options.connect()
    } catch (err) {
      counters.openFailures++
      failuresInARow++
      options.failed(err instanceof Error ? err.message : String(err), failuresInARow)
      scheduleReconnect()
      return
    }
    if (!wanted) {
      await options.release(connection) // close() was called while we were connecting
      return
    }
    current = connection
    failuresInARow = 0
    if (lost) counters.reconnects++
    options.attach(connection, (err) => lose(connection, err))
  }

  function lose(connection: C, err: Error | null): void {
    if (connection !== current) return // a connection we let go of on purpose
    current = null
    lost = true
    options.lost(err)
    scheduleReconnect()
  }

  return {
    get current() {
      return current
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
      const connection = current
      current = null
      detached?.()
      if (connection !== null) await options.release(connection)
      return connection !== null
    },
    lose,
  }
}
