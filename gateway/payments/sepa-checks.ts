// SEPA checks of payout data: does the holder name the guest typed match the
// IBAN's account holder? Asked of the payments provider (Stancer's
// sepa_check) after the portal saved the data, never during the save: the
// guest's save does not wait for the provider and cannot fail because of it.
//
// One row per guest (sepa-check-schema.ts), about a fingerprint of the IBAN
// and name it checks. requested(uid) (the portal calls it after each save)
// starts a new check when the data changed; the old result no longer applies.
// A small worker then asks the provider: create the check, read it back until
// it is no longer pending. Whatever goes wrong with the provider (down, a 500,
// HTML, an id that is not one, a status or score we do not know) leaves the
// check `unknown`, tried again later with a growing pause; only a score the
// provider answered makes it `matched` or `mismatch`. The worker works on at
// most `batchSize` rows a pass, one at a time; rows still due after a restart
// are found again in the table, and data saved before the checks were
// configured is queued at start (queueUnchecked).
//
// The name and IBAN are personal data: the log names the guest's wristband,
// the check id and at most a masked IBAN (maskIban), never the name.
import { createHash } from 'node:crypto'
import type { SqlDatabase, SqlStatement } from '../sql/database.js'
import type { Logger } from 'pino'
import type { Clock } from '../../device-protocol/index.js'
import type { PayoutCheckPortalService } from '../../portal-api/index.js'
import { migrateGatewayDatabase } from '../migrations.js'
import { ProviderError } from './provider.js'
import type { StancerClient, StancerSepaCheck } from './stancer-client.js'

export type SepaCheckState = 'queued' | 'pending' | 'unknown' | 'matched' | 'mismatch'

/** A score at or above this is a match; below it (the provider answers 0.1 for a wrong name), a mismatch. */
export const SEPA_MATCH_SCORE_MIN = 0.5
/** The first pause after a failed or pending attempt; it doubles each time up to maxRetryMs. */
export const SEPA_CHECK_RETRY_MS = 30_000
export const SEPA_CHECK_MAX_RETRY_MS = 60 * 60_000
/** Rows worked on in one pass. */
export const SEPA_CHECK_BATCH_SIZE = 20

export interface SepaCheckStatus {
  state: SepaCheckState
  /** The provider's name score (0..1) once answered. */
  score: number | null
  requestedAt: number
  completedAt: number | null
}

/** The payout data a check is about. */
export interface SepaPayee {
  iban: string
  accountName: string
}

export interface SepaChecks {
  /** After the guest saved payout data: a new check when it differs from the one checked (returns the state now). */
  requested(uid: string): SepaCheckState | undefined
  /** The check of the guest's current payout data (queued when it has none yet); undefined when the guest has no payout data. */
  status(uid: string): SepaCheckStatus | undefined
  /** Queues a check for every guest whose payout data has none (saved before the checks were configured, or changed meanwhile). */
  queueUnchecked(): number
  /** One pass over the due rows (at most batchSize); a pass already running is joined, and one more follows when asked meanwhile. */
  runDue(): Promise<void>
  /** Starts the worker: queueUnchecked, a pass now and every intervalMs; stop() waits for a pass in progress. */
  start(intervalMs: number): { stop(): Promise<void> }
}

export interface SepaChecksDeps {
  db: SqlDatabase
  client: Pick<StancerClient, 'createSepaCheck' | 'getSepaCheck'>
  clock: Clock
  logger: Logger
  retryMs?: number
  maxRetryMs?: number
  batchSize?: number
}

/** The IBAN as the log may show it: country, check digits and the last four, the rest starred. */
export function maskIban(iban: string): string {
  const compact = iban.replace(/\s+/g, '').toUpperCase()
  if (compact.length < 10) return '****'
  return `${compact.slice(0, 4)}${'*'.repeat(compact.length - 8)}${compact.slice(-4)}`
}

export function payeeFingerprint(payee: SepaPayee): string {
  return createHash('sha256').update(`${payee.iban.replace(/\s+/g, '').toUpperCase()}\u0000${payee.accountName}`, 'utf8').digest('hex')
}

/** Reads a check's state for the payout runs and the portal without a provider client (the table only). */
export function sepaCheckOf(db: SqlDatabase): (uid: string, payee: SepaPayee) => SepaCheckStatus | undefined {
  // Prepared at the first read: the caller may build this before the database is migrated.
  let get: SqlStatement<[string], CheckRow> | undefined
  return (uid, payee) => {
    get ??= db.prepare<[string], CheckRow>(`SELECT * FROM sepa_checks WHERE uid = ?`)
    const row = get.get(uid)
    return row === undefined || row.fingerprint !== payeeFingerprint(payee) ? undefined : statusOf(row)
  }
}

interface CheckRow {
  uid: string
  fingerprint: string
  state: SepaCheckState
  check_id: string | null
  score: number | null
  attempts: number
  next_attempt_at: number
  requested_at: number
  completed_at: number | null
  last_error: string | null
}

interface PayeeRow {
  iban: string | null
  account_name: string | null
}

const statusOf = (row: CheckRow): SepaCheckStatus => ({ state: row.state, score: row.score, requestedAt: row.requested_at, completedAt: row.completed_at })

/** What a read check says: a final score, still pending, or an answer we cannot trust (a reason). */
type Reading = { kind: 'scored'; score: number } | { kind: 'pending' } | { kind: 'untrusted'; reason: string }

function readCheck(check: StancerSepaCheck): Reading {
  if (check.status === 'pending') return { kind: 'pending' }
  if (check.status !== 'succeeded') return { kind: 'untrusted', reason: `status ${check.status.slice(0, 40)}` }
  // We ask about a person; a company answer (or none) is not about what we asked.
  const score = check.person?.score_name
  if (typeof score !== 'number' || !Number.isFinite(score) || score < 0 || score > 1) return { kind: 'untrusted', reason: 'succeeded without a score between 0 and 1' }
  return { kind: 'scored', score }
}

export function createSepaChecks(deps: SepaChecksDeps): SepaChecks {
  const { db, client, clock } = deps
  const retryMs = deps.retryMs ?? SEPA_CHECK_RETRY_MS
  const maxRetryMs = deps.maxRetryMs ?? SEPA_CHECK_MAX_RETRY_MS
  const batchSize = deps.batchSize ?? SEPA_CHECK_BATCH_SIZE
  const log = deps.logger.child({ component: 'sepa-checks' })
  migrateGatewayDatabase(db)

  const q = {
    payee: db.prepare<[string], PayeeRow>(`SELECT iban, account_name FROM portal_customers WHERE uid = ?`),
    row: db.prepare<[string], CheckRow>(`SELECT * FROM sepa_checks WHERE uid = ?`),
    // A new check for new data: whatever was asked before no longer applies.
    restart: db.prepare(`
      INSERT INTO sepa_checks (uid, fingerprint, state, check_id, score, attempts, next_attempt_at, requested_at, completed_at, last_error)
      VALUES (@uid, @fingerprint, 'queued', NULL, NULL, 0, @now, @now, NULL, NULL)
      ON CONFLICT(uid) DO UPDATE SET fingerprint = excluded.fingerprint, state = 'queued', check_id = NULL, score = NULL, attempts = 0,
        next_attempt_at = excluded.next_attempt_at, requested_at = excluded.requested_at, completed_at = NULL, last_error = NULL`),
    due: db.prepare<[number, number], CheckRow>(`
      SELECT * FROM sepa_checks WHERE state IN ('queued', 'pending', 'unknown') AND next_attempt_at <= ? ORDER BY next_attempt_at, uid LIMIT ?`),
    // Every guest with payout data; those whose check is missing or about other data are queued.
    withData: db.prepare<[], { uid: string; iban: string; account_name: string; fingerprint: string | null }>(`
      SELECT c.uid, c.iban, c.account_name, s.fingerprint FROM portal_customers c LEFT JOIN sepa_checks s ON s.uid = c.uid
       WHERE c.iban IS NOT NULL AND c.account_name IS NOT NULL`),
    // Every write names the fingerprint it worked on: a guest who changed their data meanwhile has a new row it must not touch.
    created: db.prepare(`UPDATE sepa_checks SET state = 'pending', check_id = ?, next_attempt_at = ?, last_error = NULL WHERE uid = ? AND fingerprint = ?`),
    stillPending: db.prepare(`UPDATE sepa_checks SET state = 'pending', attempts = attempts + 1, next_attempt_at = ? WHERE uid = ? AND fingerprint = ?`),
    answered: db.prepare(`UPDATE sepa_checks SET state = ?, score = ?, completed_at = ?, last_error = NULL WHERE uid = ? AND fingerprint = ?`),
    failed: db.prepare(`UPDATE sepa_checks SET state = 'unknown', check_id = ?, attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE uid = ? AND fingerprint = ?`),
    drop: db.prepare(`DELETE FROM sepa_checks WHERE uid = ? AND fingerprint = ?`),
  }

  const pauseAfter = (attempts: number) => Math.min(maxRetryMs, retryMs * 2 ** Math.min(attempts, 20))

  function requested(uid: string): SepaCheckState | undefined {
    const payee = q.payee.get(uid)
    if (payee === undefined || payee.iban === null || payee.account_name === null) return undefined
    const fingerprint = payeeFingerprint({ iban: payee.iban, accountName: payee.account_name })
    const row = q.row.get(uid)
    if (row !== undefined && row.fingerprint === fingerprint) return row.state
    q.restart.run({ uid, fingerprint, now: clock.now() })
    log.info({ uid, iban: maskIban(payee.iban), replaces: row?.state ?? null }, 'SEPA check queued for new payout data')
    return 'queued'
  }

  function status(uid: string): SepaCheckStatus | undefined {
    const payee = q.payee.get(uid)
    if (payee === undefined || payee.iban === null || payee.account_name === null) return undefined
    const row = q.row.get(uid)
    // Data with no check of its own yet (saved before the checks were configured): as good as queued.
    if (row === undefined || row.fingerprint !== payeeFingerprint({ iban: payee.iban, accountName: payee.account_name }))
      return { state: 'queued', score: null, requestedAt: clock.now(), completedAt: null }
    return statusOf(row)
  }

  const queueUnchecked = db.transaction((): number => {
    let queued = 0
    for (const c of q.withData.all()) {
      if (c.fingerprint === payeeFingerprint({ iban: c.iban, accountName: c.account_name })) continue
      q.restart.run({ uid: c.uid, fingerprint: payeeFingerprint({ iban: c.iban, accountName: c.account_name }), now: clock.now() })
      queued++
    }
    return queued
  })

  function fail(row: CheckRow, payee: SepaPayee, checkId: string | null, err: unknown, what: string): void {
    // The provider's words may quote what we sent: the IBAN and the name never go into the row or the log.
    const said = (err instanceof Error ? err.message : String(err)).split(payee.iban).join(maskIban(payee.iban)).split(payee.accountName).join('(name)')
    const reason = `${what}: ${said}`.slice(0, 300)
    const next = clock.now() + pauseAfter(row.attempts)
    q.failed.run(checkId, next, reason, row.uid, row.fingerprint)
    log.warn({ uid: row.uid, check: checkId, attempts: row.attempts + 1, reason }, 'SEPA check: the provider could not answer; it stays unknown and is tried again')
  }

  /** One row: create the check if the provider has none yet, then read it. Never throws. */
  async function work(row: CheckRow): Promise<void> {
    const payee = q.payee.get(row.uid)
    if (payee === undefined || payee.iban === null || payee.account_name === null) {
      q.drop.run(row.uid, row.fingerprint)
      return
    }
    const current = { iban: payee.iban, accountName: payee.account_name }
    // The data changed after this row was read (requested() made a new row, or is about to): a check of the data as it is now.
    if (payeeFingerprint(current) !== row.fingerprint) {
      q.restart.run({ uid: row.uid, fingerprint: payeeFingerprint(current), now: clock.now() })
      return
    }
    let checkId = row.check_id
    if (checkId === null) {
      try {
        // A create whose answer is lost makes a second check next time: an extra check costs a fee, a missing one a wrong payout.
        checkId = (await client.createSepaCheck({ iban: payee.iban.replace(/\s+/g, '').toUpperCase(), person: { name: payee.account_name } })).id
      } catch (err) {
        fail(row, current, null, err, 'create')
        return
      }
      q.created.run(checkId, clock.now(), row.uid, row.fingerprint)
      log.info({ uid: row.uid, check: checkId, iban: maskIban(payee.iban) }, 'SEPA check created at the provider')
    }
    let reading: Reading
    try {
      reading = readCheck(await client.getSepaCheck(checkId))
    } catch (err) {
      // A 404 for our own id: the provider lost it; the next attempt creates a new one.
      fail(row, current, err instanceof ProviderError && err.providerStatus === 404 ? null : checkId, err, 'read')
      return
    }
    if (reading.kind === 'untrusted') {
      fail(row, current, checkId, new Error(reading.reason), 'read')
      return
    }
    if (reading.kind === 'pending') {
      q.stillPending.run(clock.now() + pauseAfter(row.attempts), row.uid, row.fingerprint)
      return
    }
    const state: SepaCheckState = reading.score >= SEPA_MATCH_SCORE_MIN ? 'matched' : 'mismatch'
    q.answered.run(state, reading.score, clock.now(), row.uid, row.fingerprint)
    const line = { uid: row.uid, check: checkId, iban: maskIban(payee.iban), score: reading.score }
    if (state === 'matched') log.info(line, 'SEPA check: the holder name matches the IBAN')
    else log.warn(line, 'SEPA check: the holder name does not match the IBAN; the guest is asked to correct it')
  }

  let running: Promise<void> | undefined
  let again = false
  async function pass(): Promise<void> {
    do {
      again = false
      for (const row of q.due.all(clock.now(), batchSize)) {
        try {
          await work(row)
        } catch (err) {
          // Only our own database can throw here; the row stays due.
          log.error({ err, uid: row.uid }, 'SEPA check: could not record an attempt')
        }
      }
    } while (again)
  }

  function runDue(): Promise<void> {
    // Only our own database can make a pass fail (closed at shutdown): logged, the rows stay due.
    return runPass().catch((err: unknown) => log.error({ err }, 'SEPA checks: a pass failed'))
  }

  function runPass(): Promise<void> {
    if (running !== undefined) {
      again = true
      return running
    }
    running = pass().finally(() => {
      running = undefined
    })
    return running
  }

  function start(intervalMs: number) {
    const queued = queueUnchecked()
    if (queued > 0) log.info({ queued }, 'SEPA checks queued for payout data that had none')
    void runDue()
    const timer = setInterval(() => void runDue(), intervalMs)
    timer.unref()
    return {
      async stop() {
        clearInterval(timer)
        await running
      },
    }
  }

  return { requested, status, queueUnchecked, runDue, start }
}

/** The portal's view of the checks: a save queues one and starts a pass without waiting for it. */
export function portalPayoutCheck(checks: SepaChecks): PayoutCheckPortalService {
  return {
    saved(uid) {
      if (checks.requested(uid) === 'queued') void checks.runDue()
    },
    status(uid) {
      const found = checks.status(uid)
      if (found === undefined) return undefined
      return { state: found.state === 'matched' ? 'ok' : found.state === 'mismatch' ? 'needs_correction' : 'checking' }
    },
  }
}
