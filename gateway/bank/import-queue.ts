// Runs bank import jobs in the background, one transaction at a time, from
// what the database says is open: a job uploaded before a restart (pending, or
// running when the gateway died) is picked up again at start. Between two
// transactions it yields to the event loop, so a large job never holds up the
// kiosks' bookings.
//
// With several gateways on one database (issue 18) the queue runs on the one
// that holds the 'bank-import' lease (cluster-jobs.ts): it works only while
// it holds it, checks it in each transaction that decides (so a gateway that
// lost it commits nothing more), and polls the open jobs every pollMs, since
// a job may have been uploaded through another gateway's HTTP. The others ask
// for the lease at the same pace and take over, at the first undecided
// transaction, once the holder's lease has expired. On SQLite the lease is
// always held and an upload kicks the queue, so no polling is needed.
import type { Logger } from 'pino'
import { LeaseLostError, systemTimers, type IntervalTimers, type LeaseKeeper } from '../cluster-jobs.js'
import type { BankImportJobs } from './import-jobs.js'

export interface ImportQueue {
  /** Something was uploaded: work until no job is open. */
  kick(): void
  /** Resolves once no job is open (tests, shutdown). */
  drained(): Promise<void>
  /** Stops after the transaction in progress (and releases the lease). */
  stop(): Promise<void>
}

export interface ImportQueueDeps {
  jobs: Pick<BankImportJobs, 'openJobs' | 'processNext'>
  logger: Logger
  /** The 'bank-import' lease; without it this gateway is the only one (SQLite). */
  lease?: LeaseKeeper
  /** Looks for open jobs (and asks for the lease) this often; without it only kick() starts work. */
  pollMs?: number
  timers?: IntervalTimers
}

export function createImportQueue({ jobs, logger, lease, pollMs, timers = systemTimers }: ImportQueueDeps): ImportQueue {
  let running: Promise<void> | undefined
  let again = false
  let stopped = false
  const nextTick = () => new Promise<void>((resolve) => setImmediate(resolve))

  async function work(): Promise<void> {
    const holding = lease?.hold()
    // Another gateway holds it: it polls the open jobs, this one too (for a takeover).
    if (lease !== undefined && holding === undefined) return
    const stillHeld = () => lease === undefined || lease.current()?.token === holding!.token
    do {
      again = false
      for (const jobId of jobs.openJobs()) {
        while (!stopped && stillHeld() && jobs.processNext(jobId, lease?.fence)) await nextTick()
        if (stopped || !stillHeld()) return
      }
    } while (again && !stopped)
  }

  function kick(): void {
    if (stopped) return
    if (running) {
      again = true
      return
    }
    // Never inside the caller's turn: the upload is answered before its job starts.
    running = nextTick()
      .then(work)
      .catch((err: unknown) => {
        if (err instanceof LeaseLostError) logger.warn({ err }, 'bank import queue stopped: the lease was lost; the gateway holding it goes on')
        else logger.error({ err }, 'bank import queue failed')
      })
      .finally(() => {
        running = undefined
      })
  }

  const poll = pollMs === undefined ? undefined : timers.setInterval(kick, pollMs)

  return {
    kick,
    async drained() {
      while (running) await running
    },
    async stop() {
      stopped = true
      if (poll !== undefined) timers.clearInterval(poll)
      await running
      lease?.release()
    },
  }
}
