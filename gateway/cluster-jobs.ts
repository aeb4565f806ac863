// Background jobs that must run once across the cluster (issue 18): with
// several gateways on one PostgreSQL database, a job runs only on the gateway
// that holds its lease (postgres/lease.ts); the single gateway on SQLite
// holds every lease (soleLease), so there nothing changes.
//
// A LeaseKeeper holds one job's lease for this gateway: hold() takes it (or
// keeps it), a timer renews it at a third of its length, and a renewal that
// fails (taken over, lapsed, or the database unreachable) drops the holding
// and tells the job to stop. fence() is the check a job makes in its own
// transaction before it writes, so that a gateway that was paused past the
// expiry cannot commit after another took over.
//
// runWhileLeased() wraps a module's periodic worker (its start(intervalMs) →
// stop()): it asks for the lease every pollMs, starts the worker when this
// gateway gets it and stops it when the holding lapses or the gateway stops,
// and then releases the lease so another gateway need not wait for the expiry.
import type { Logger } from 'pino'
import { soleLease, type JobLease, type LeaseHolding } from './postgres/lease.js'
import type { SqlDatabase } from './sql/database.js'
import type { IntervalTimers } from './interval-timers.js'

/** The lease of the job `name` ('bank-import', 'reconciliation', ...): the gateway's leaseFor dependency. */
export type LeaseFor = (name: string) => JobLease

/** The single gateway's leases: always held. */
export const soleLeases: LeaseFor = (name) => soleLease(name)

export type { IntervalTimers }

/** globalThis's timers, unref'd: a lease's renewal alone does not keep the process running. */
export const systemTimers: IntervalTimers = {
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
}

/** A job's write was refused because this gateway no longer holds the job's lease: nothing of that transaction was kept. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError'
  constructor(job: string) {
    super(`this gateway no longer holds the lease of ${job}: another gateway runs it now`)
  }
}

/** The check a job makes inside its own transaction on `db` before it writes: true while the lease is still held. */
export type JobFence = (db: SqlDatabase) => boolean

export interface LeaseKeeper {
  readonly name: string
  /** Takes the lease if free or expired, or keeps the one held: the holding, or undefined when another gateway holds it. */
  hold(): LeaseHolding | undefined
  /** The holding while it lasts; undefined before hold(), after a lapse, and after release(). */
  current(): LeaseHolding | undefined
  /** In the job's transaction on `db`: whether this gateway still holds the lease with the token it had. */
  fence: JobFence
  /** Called when a held lease lapses (not on release()). */
  onLapse(listener: () => void): void
  /** Stops renewing and releases the lease (nothing when not held). */
  release(): void
}

export interface LeaseKeeperDeps {
  lease: JobLease
  logger: Logger
  timers?: IntervalTimers
}

export function createLeaseKeeper({ lease, logger, timers = systemTimers }: LeaseKeeperDeps): LeaseKeeper {
  const log = logger.child({ component: 'job-lease', job: lease.name })
  let holding: LeaseHolding | undefined
  let renewal: unknown
  const listeners: Array<() => void> = []

  function stopRenewing(): void {
    if (renewal === undefined) return
    timers.clearInterval(renewal)
    renewal = undefined
  }

  function lapse(reason: string, err?: unknown): void {
    if (holding === undefined) return
    log.warn({ token: holding.token, ...(err === undefined ? {} : { err }) }, `job lease lapsed (${reason}): the job stops here`)
    holding = undefined
    stopRenewing()
    for (const listener of listeners) listener()
  }

  function renew(): void {
    if (holding === undefined) return
    let renewed: LeaseHolding | undefined
    try {
      renewed = lease.renew(holding)
    } catch (err) {
      // The database cannot say whether we still hold it: stop, as if it had lapsed.
      return lapse('the renewal failed', err)
    }
    if (renewed === undefined) return lapse('taken over or expired')
    holding = renewed
  }

  return {
    name: lease.name,
    hold() {
      if (holding !== undefined) return holding
      const taken = lease.acquire()
      if (taken === undefined) return undefined
      holding = taken
      log.info({ holder: lease.holder, token: taken.token }, 'job lease taken: this gateway runs the job')
      // A lease that never lapses (soleLease) needs no renewal.
      if (Number.isFinite(lease.ttlMs)) renewal = timers.setInterval(renew, Math.max(1, Math.floor(lease.ttlMs / 3)))
      return holding
    },
    current: () => holding,
    fence(db) {
      const held = holding
      if (held === undefined) return false
      if (lease.holds(held, db)) return true
      lapse('found lost in a job transaction')
      return false
    },
    onLapse(listener) {
      listeners.push(listener)
    },
    release() {
      const held = holding
      holding = undefined
      stopRenewing()
      if (held === undefined) return
      try {
        lease.release(held)
      } catch (err) {
        // It lapses by itself at its expiry.
        log.warn({ err }, 'job lease not released; another gateway takes it over at its expiry')
      }
    },
  }
}

export interface LeasedWorker {
  /** Stops the worker (waiting for a run in progress) and releases the lease. */
  stop(): Promise<void>
}

export interface RunWhileLeasedDeps {
  keeper: LeaseKeeper
  /** Starts the job's own periodic worker; called when this gateway gets the lease. */
  start: () => { stop(): Promise<void> }
  /** How often a gateway without the lease asks for it (and the holder checks it still holds it). */
  pollMs: number
  logger: Logger
  timers?: IntervalTimers
}

/** Runs the worker `start` gives only while this gateway holds `keeper`'s lease. */
export function runWhileLeased({ keeper, start, pollMs, logger, timers = systemTimers }: RunWhileLeasedDeps): LeasedWorker {
  let worker: { stop(): Promise<void> } | undefined
  let stopping: Promise<void> = Promise.resolve()
  /** A worker is being stopped: none is started again before its run in progress has ended. */
  let winding = false
  let stopped = false

  function stopWorker(): Promise<void> {
    const running = worker
    worker = undefined
    if (running !== undefined) {
      winding = true
      stopping = stopping
        .then(() => running.stop())
        .catch((err: unknown) => logger.error({ err, job: keeper.name }, 'stopping a job failed'))
        .finally(() => (winding = false))
    }
    return stopping
  }

  function tick(): void {
    if (stopped || winding) return
    if (worker !== undefined) {
      if (keeper.current() === undefined) void stopWorker()
      return
    }
    let held
    try {
      held = keeper.hold()
    } catch (err) {
      logger.warn({ err, job: keeper.name }, 'job lease could not be asked for; trying again later')
      return
    }
    if (held !== undefined) worker = start()
  }

  keeper.onLapse(() => void stopWorker())
  tick()
  const poll = timers.setInterval(tick, pollMs)
  return {
    async stop() {
      stopped = true
      timers.clearInterval(poll)
      await stopWorker()
      keeper.release()
    },
  }
}
