// Runs bank import jobs in the background, one transaction at a time, from
// what the database says is open: a job uploaded before a restart (pending, or
// running when the gateway died) is picked up again at start. Between two
// transactions it yields to the event loop, so a large job never holds up the
// kiosks' bookings.
import type { Logger } from 'pino'
import type { BankImportJobs } from './import-jobs.js'

export interface ImportQueue {
  /** Something was uploaded: work until no job is open. */
  kick(): void
  /** Resolves once no job is open (tests, shutdown). */
  drained(): Promise<void>
  /** Stops after the transaction in progress. */
  stop(): Promise<void>
}

export function createImportQueue({ jobs, logger }: { jobs: BankImportJobs; logger: Logger }): ImportQueue {
  let running: Promise<void> | undefined
  let again = false
  let stopped = false
  const nextTick = () => new Promise<void>((resolve) => setImmediate(resolve))

  async function work(): Promise<void> {
    do {
      again = false
      for (const jobId of jobs.openJobs()) {
        while (!stopped && jobs.processNext(jobId)) await nextTick()
        if (stopped) return
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
      .catch((err: unknown) => logger.error({ err }, 'bank import queue failed'))
      .finally(() => {
        running = undefined
      })
  }

  return {
    kick,
    async drained() {
      while (running) await running
    },
    async stop() {
      stopped = true
      await running
    },
  }
}
