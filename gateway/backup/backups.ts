// The gateway's backups as an operator sees them: one at a time (a second
// request waits for the running one and gets its own copy), each logged, the
// folder kept to the newest `keep`, and a failed one raised as an operator
// alert. The schedule is a timer started and stopped with the gateway; its
// timer functions are injected, so tests drive it with a fake clock.
import type Database from 'better-sqlite3'
import type { Logger } from 'pino'
import type { Clock } from '../../device-protocol/index.js'
import { auditLedgerDatabase } from '../audit/audit.js'
import { BackupError, backupDatabase, pruneBackups, type BackupCheck, type BackupResult } from './backup.js'
import type { IntervalTimers } from '../interval-timers.js'

export interface BackupsDeps {
  db: Database.Database
  dir: string
  keep: number
  clock: Clock
  logger: Logger
  /** Raises an operator alert (events/alert). */
  alert: (kind: 'backup_failed', message: string) => void
  check?: BackupCheck
  pagesPerStep?: number
}

export interface Backups {
  /** Takes a checked backup now; throws BackupError after logging and alerting. */
  run(reason: 'scheduled' | 'requested'): Promise<BackupResult>
  /** Resolves once no backup runs (the gateway waits for it before it closes the database). */
  idle(): Promise<void>
}

export function createBackups(deps: BackupsDeps): Backups {
  let last: Promise<unknown> = Promise.resolve()

  async function runOne(reason: string): Promise<BackupResult> {
    const startedAt = deps.clock.now()
    try {
      const result = await backupDatabase({ db: deps.db, dir: deps.dir, now: startedAt, ...(deps.check ? { check: deps.check } : {}), ...(deps.pagesPerStep ? { pagesPerStep: deps.pagesPerStep } : {}) })
      let pruned: string[] = []
      try {
        pruned = pruneBackups(deps.dir, deps.keep)
      } catch (err) {
        // The new backup is whole; an old one left over is no reason to call this one failed.
        deps.logger.error({ err, dir: deps.dir }, 'old backups not pruned')
      }
      deps.logger.info({ reason, file: result.file, bytes: result.bytes, pages: result.pages, pruned, tookMs: deps.clock.now() - startedAt }, 'backup written and checked')
      return result
    } catch (err) {
      const error = err instanceof BackupError ? err : new BackupError((err as Error).message)
      deps.logger.error({ reason, dir: deps.dir, err: error.message, findings: error.findings.slice(0, 20) }, 'backup failed')
      deps.alert('backup_failed', `backup of the gateway's database failed: ${error.message}`)
      throw error
    }
  }

  return {
    run(reason) {
      const next = last.then(
        () => runOne(reason),
        () => runOne(reason),
      )
      last = next.catch(() => undefined)
      return next
    },
    idle: () => last.then(() => undefined),
  }
}

export type { IntervalTimers }

const systemTimers: IntervalTimers = {
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
}

export interface BackupSchedule {
  start(): void
  stop(): void
}

/** Runs `backups` every `intervalMs` between start() and stop(); a failure is already logged and alerted by run(). */
export function createBackupSchedule(backups: Pick<Backups, 'run'>, intervalMs: number, timers: IntervalTimers = systemTimers): BackupSchedule {
  let handle: unknown
  let running = false
  return {
    start() {
      if (handle !== undefined) return
      handle = timers.setInterval(() => {
        // A backup slower than the interval is not stacked behind itself.
        if (running) return
        running = true
        backups.run('scheduled').then(
          () => (running = false),
          () => (running = false),
        )
      }, intervalMs)
    },
    stop() {
      if (handle === undefined) return
      timers.clearInterval(handle)
      handle = undefined
    },
  }
}

/** backup.keep when the config does not say: a day of hourly backups. */
export const DEFAULT_BACKUP_KEEP = 24

/** The check every backup passes before it is kept: the ledger audit (gateway/audit/) on the read-only copy. */
export const ledgerAuditCheck: BackupCheck = (copy) => auditLedgerDatabase({ db: copy }).findings.map((f) => `${f.code}: ${f.message}`)
