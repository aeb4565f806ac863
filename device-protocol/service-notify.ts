// systemd's notify protocol for both daemons (units with Type=notify and
// WatchdogSec=): READY=1 once they serve, WATCHDOG=1 while they are healthy,
// STOPPING=1 on a clean stop. This module does no I/O of its own: the daemons
// hand it the notifier (the sd-notify library, loaded by the importer they
// pass) and a health check, so tests can stand in for both.
//
// The pings come from a timer and only after the health check passes: a
// daemon whose event loop or database is stuck stops pinging, and systemd
// kills and restarts it once WatchdogSec= has gone by without one.

/** What the daemons tell systemd; each call sends one datagram to $NOTIFY_SOCKET. */
export interface SystemdNotifier {
  ready(): void
  watchdog(): void
  stopping(): void
}

export interface ServiceNotifierOptions {
  /** The process environment: NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are read from it. */
  env: Readonly<Record<string, string | undefined>>
  /** This process's id (WATCHDOG_PID, when set, must name it). */
  pid: number
  /** Null: nothing is sent (no systemd, or the library is missing). */
  notifier: SystemdNotifier | null
  /** Asked before every watchdog ping; false or a throw skips the ping. */
  healthy: () => boolean
  /** Told when pings stop or start again (for the log); `reason` is the health check's error, if it threw. */
  onHealthChange?: (healthy: boolean, reason?: string) => void
  /** Told when the notifier itself throws (a send failed). */
  onError?: (err: unknown) => void
  /** Timers; the global ones by default (tests pass fakes). */
  timers?: { setInterval: (fn: () => void, ms: number) => unknown; clearInterval: (handle: unknown) => void }
}

export interface ServiceNotifier {
  /** The daemon serves: READY=1, then watchdog pings every watchdogIntervalMs while healthy. */
  ready(): void
  /** A clean stop begins: pings end, STOPPING=1. */
  stopping(): void
  /** Pings end without telling systemd anything (the daemon failed to start, tests). */
  close(): void
  /** Time between pings, null without a watchdog for this process. */
  readonly watchdogIntervalMs: number | null
  /** Runs one watchdog round now (the timer's own step): pings when healthy. Returns whether it pinged. */
  tick(): boolean
}

/**
 * Half of systemd's watchdog timeout (WATCHDOG_USEC, microseconds), as sd_notify(3)
 * recommends; null when there is no watchdog, or it is meant for another process
 * (WATCHDOG_PID names the process systemd watches: a child must not ping for it).
 */
export function watchdogIntervalMs(env: Readonly<Record<string, string | undefined>>, pid: number): number | null {
  const usec = env.WATCHDOG_USEC
  if (usec === undefined || !/^\d{1,15}$/.test(usec) || Number(usec) === 0) return null
  const watchedPid = env.WATCHDOG_PID
  if (watchedPid !== undefined && watchedPid !== '' && watchedPid !== String(pid)) return null
  return Math.max(1, Math.floor(Number(usec) / 2000))
}

export function createServiceNotifier(options: ServiceNotifierOptions): ServiceNotifier {
  const { notifier } = options
  const timers = options.timers ?? {
    setInterval: (fn: () => void, ms: number) => {
      const handle = setInterval(fn, ms)
      // The pings must never keep a stopping daemon alive.
      handle.unref()
      return handle
    },
    clearInterval: (handle: unknown) => clearInterval(handle as ReturnType<typeof setInterval>),
  }
  const intervalMs = notifier === null ? null : watchdogIntervalMs(options.env, options.pid)
  let timer: unknown
  let lastHealthy = true
  let ended = false

  function send(what: 'ready' | 'watchdog' | 'stopping'): boolean {
    try {
      notifier?.[what]()
      return true
    } catch (err) {
      options.onError?.(err)
      return false
    }
  }

  function tick(): boolean {
    if (ended || notifier === null) return false
    let healthy = false
    let reason: string | undefined
    try {
      healthy = options.healthy() === true
    } catch (err) {
      reason = err instanceof Error ? err.message : String(err)
    }
    if (healthy !== lastHealthy) {
      lastHealthy = healthy
      options.onHealthChange?.(healthy, reason)
    }
    return healthy && send('watchdog')
  }

  function stopTimer(): void {
    if (timer !== undefined) timers.clearInterval(timer)
    timer = undefined
  }

  return {
    watchdogIntervalMs: intervalMs,
    tick,
    ready() {
      if (ended || notifier === null) return
      send('ready')
      if (intervalMs !== null && timer === undefined) timer = timers.setInterval(tick, intervalMs)
    },
    stopping() {
      if (ended) return
      ended = true
      stopTimer()
      send('stopping')
    },
    close() {
      ended = true
      stopTimer()
    },
  }
}

/**
 * The sd-notify library as a SystemdNotifier, or why not: null without
 * NOTIFY_SOCKET (not run by systemd, or a unit that is not Type=notify) and
 * when the library cannot be loaded (it is an optional native dependency and
 * needs libsystemd). `importSdNotify` is `() => import('sd-notify')`.
 */
export async function loadSystemdNotifier(
  env: Readonly<Record<string, string | undefined>>,
  pid: number,
  importSdNotify: () => Promise<unknown>,
): Promise<{ notifier: SystemdNotifier | null; problem?: string }> {
  if (!env.NOTIFY_SOCKET) return { notifier: null }
  let lib: SdNotifyLibrary
  try {
    const mod = (await importSdNotify()) as { default?: SdNotifyLibrary } & Partial<SdNotifyLibrary>
    lib = (mod.default ?? mod) as SdNotifyLibrary
    if (typeof lib.ready !== 'function' || typeof lib.watchdog !== 'function' || typeof lib.stopping !== 'function') throw new Error('the module has no ready, watchdog and stopping')
  } catch (err) {
    return { notifier: null, problem: `the sd-notify library could not be loaded (${err instanceof Error ? err.message.split('\n')[0] : String(err)})` }
  }
  return {
    notifier: {
      // ready() sends with this process's pid; stopping() of the native binding wants it given.
      ready: () => lib.ready(),
      watchdog: () => lib.watchdog(),
      stopping: () => lib.stopping(pid),
    },
  }
}

/** The part of sd-notify (2.x) used here. */
interface SdNotifyLibrary {
  ready(): void
  watchdog(): void
  stopping(pid: number): void
}

export interface SystemdServiceOptions extends Omit<ServiceNotifierOptions, 'notifier' | 'onHealthChange' | 'onError'> {
  /** `() => import('sd-notify')`: loaded only when systemd gave a NOTIFY_SOCKET. */
  importSdNotify: () => Promise<unknown>
  /** Where the notifier says what it does (the daemon's logger). */
  log: { info(message: string): void; warn(message: string): void; error(message: string): void }
}

/** loadSystemdNotifier and createServiceNotifier together, saying in the daemon's log what happens. */
export async function createSystemdService(options: SystemdServiceOptions): Promise<ServiceNotifier> {
  const { log } = options
  const loaded = await loadSystemdNotifier(options.env, options.pid, options.importSdNotify)
  if (loaded.problem) {
    // With Type=notify systemd waits for READY=1 and gives up after TimeoutStartSec=: say why it will not come.
    log.error(`NOTIFY_SOCKET is set but ${loaded.problem}: systemd will not hear that the daemon is ready nor get watchdog pings (install libsystemd-dev and rebuild sd-notify, or use Type=simple without WatchdogSec=)`)
  }
  const service = createServiceNotifier({
    ...options,
    notifier: loaded.notifier,
    onHealthChange: (healthy, reason) =>
      healthy
        ? log.info('health check passes again: systemd watchdog pings resumed')
        : log.error(`health check failed${reason ? ` (${reason})` : ''}: systemd watchdog pings stopped; systemd restarts the daemon unless it recovers within WatchdogSec=`),
    onError: (err) => log.warn(`systemd notification failed: ${err instanceof Error ? err.message : String(err)}`),
  })
  if (loaded.notifier) log.info(service.watchdogIntervalMs === null ? 'systemd notifications on (no watchdog)' : `systemd notifications on, watchdog ping every ${service.watchdogIntervalMs} ms`)
  return service
}
