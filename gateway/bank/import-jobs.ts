// Bank import jobs (seed 003, pretix's banktransfer API): an upload of bank
// transactions is stored as a job whose transactions are decided one by one
// in the background (import-queue.ts). Each decision (the checksum claimed,
// the match, the ledger booking, the transaction's new state) is one SQLite
// transaction, and every booking has a ref made from the transaction itself
// ('bank:<checksum>', 'bank-return:<end-to-end id>'), so a gateway killed in the
// middle of a job resumes with the first undecided transaction and books
// nothing twice. Matching:
// - a valid transfer reference (transfer-reference.ts) books a bank top-up,
//   clearing:bank -> the wristband;
// - a transfer naming a payout's end-to-end id is that payout come back: the
//   money goes from the payout clearing account back to the guest, whose payout
//   data the payout module marks invalid, and an operator is alerted;
// - anything else is `nomatch`, for an operator to match or discard (the admin API).
import type { SqlDatabase } from '../sql/database.js'
import type { Logger } from 'pino'
import type { Clock } from '../../device-protocol/index.js'
import { LeaseLostError, type JobFence } from '../cluster-jobs.js'
import { HttpError } from '../http.js'
import { LedgerRefusalError, type Ledger } from '../ledger/index.js'
import { migrateGatewayDatabase } from '../migrations.js'
import { checkBankTransaction } from './bank-transaction.js'
import type { TransferCodes } from './transfer-codes.js'
import { transferCodesIn } from './transfer-reference.js'

export const JOB_STATES = ['pending', 'running', 'error', 'completed'] as const
export type JobState = (typeof JOB_STATES)[number]
export const TRANSACTION_STATES = ['imported', 'nomatch', 'invalid', 'error', 'valid', 'discarded', 'already'] as const
export type TransactionState = (typeof TRANSACTION_STATES)[number]

/** A bank transaction as the seed shows it. */
export interface TransactionView {
  state: TransactionState
  message: string
  checksum: string
  payer: string
  external_id: string | null
  reference: string
  amount: string
  iban: string
  bic: string
  date: string
  order: string | null
  comment: string
}

export interface JobView {
  id: number
  event: string | null
  created: string
  state: JobState
  transactions: TransactionView[]
}

/** The payout a returned transfer names, as the payout module (gateway/payouts/) knows it. */
export interface ReturnedPayout {
  uid: string
  /** What was paid out, cents: a return of more than this is not this payout's. */
  amountCents: number
  /** The clearing account the payout was booked to (default payout:sepa). */
  account?: string
}

/** What the bank import needs of the payout module; it implements this over its own tables. */
export interface PayoutReturns {
  findPayoutByEndToEndId(endToEndId: string): ReturnedPayout | undefined
  /** The transfer came back: the guest's payout data is invalid now. Called in the booking's SQLite transaction. */
  markPayoutReturned(endToEndId: string, info: { amountCents: number; checksum: string }): void
}

export type BankLedger = Pick<Ledger, 'ensureAccount' | 'bookExternal' | 'externalBookingByRef' | 'wristband'>

export interface BankImportJobsDeps {
  db: SqlDatabase
  ledger: BankLedger
  transferCodes: TransferCodes
  payouts?: PayoutReturns
  clock: Clock
  logger: Logger
  /** The event's currency: a transaction in another one is invalid. */
  currency: string
  /** Something an operator must look at (a payout came back). */
  alert?: (alert: { kind: string; message: string }) => void
}

export interface BankImportJobs {
  /** Stores the job (state pending) and its transactions, checked; returns its id. */
  create(input: { event: string | null; transactions: ReadonlyArray<Record<string, unknown>>; createdBy: string }): number
  job(id: number): JobView | undefined
  list(filter: { event?: string; state?: string; offset: number; limit: number }): { count: number; jobs: JobView[] }
  /** Ids of the jobs not finished yet, oldest first (after a restart too). */
  openJobs(): number[]
  /**
   * Decides the job's next undecided transactions (up to DECISIONS_PER_COMMIT); false when none was left (the job is then completed).
   * With `fence` (the bank import's lease, several gateways), it is checked in the deciding transaction: false there throws LeaseLostError, nothing written.
   */
  processNext(jobId: number, fence?: JobFence): boolean
  matchByOperator(jobId: number, idx: number, uid: string, operator: string): TransactionView
  discardByOperator(jobId: number, idx: number, comment: string, operator: string): TransactionView
}

interface JobRow {
  id: number
  event: string | null
  created_at: number
  state: JobState
}

interface TransactionRow {
  job_id: number
  idx: number
  state: TransactionState
  message: string
  checksum: string
  payer: string
  reference: string
  amount: string
  amount_cents: number | null
  date: string
  iban: string
  bic: string
  external_id: string | null
  problem: string | null
  order_code: string | null
  comment: string
  uid: string | null
}

interface Decision {
  state: TransactionState
  message: string
  order?: string | null
  uid?: string | null
  bookingRef?: string | null
  /** Payer and reference are forgotten once a transaction is matched or discarded (the seed's rule). */
  forget?: boolean
}

/** The end-to-end ids a transfer may carry: its external id and the words of its reference (at most 35 characters each, as in SEPA). */
function endToEndCandidates(row: TransactionRow): string[] {
  const words = row.reference.split(/[\s/]+/).filter((w) => /^[A-Za-z0-9.\-_:+]{1,35}$/.test(w))
  const all = [...(row.external_id ? [row.external_id] : []), ...words.flatMap((w) => (w.includes(':') ? [w, w.slice(w.lastIndexOf(':') + 1)] : [w]))]
  return [...new Set(all.filter((w) => w.length > 0))].slice(0, 50)
}

/** Transactions decided per SQLite commit: one disk sync for many, and the write lock held only briefly. */
export const DECISIONS_PER_COMMIT = 25

const refusalCode = (err: unknown) => (err instanceof LedgerRefusalError ? err.code : undefined)

export function createBankImportJobs(deps: BankImportJobsDeps): BankImportJobs {
  const { db, ledger, transferCodes, payouts, clock, logger, currency } = deps
  migrateGatewayDatabase(db)
  const q = {
    // RETURNING id rather than lastInsertRowid: both engines run it (gateway/sql/database.ts).
    insertJob: db.prepare<[string | null, number, string], { id: number }>(`INSERT INTO bank_import_jobs (event, created_at, state, created_by) VALUES (?, ?, 'pending', ?) RETURNING id`),
    insertTx: db.prepare(
      `INSERT INTO bank_import_transactions (job_id, idx, state, checksum, payer, reference, amount, amount_cents, currency, date, iban, bic, external_id, problem)
       VALUES (@job, @idx, 'imported', @checksum, @payer, @reference, @amount, @amountCents, @currency, @date, @iban, @bic, @externalId, @problem)`,
    ),
    job: db.prepare<[number], JobRow>(`SELECT id, event, created_at, state FROM bank_import_jobs WHERE id = ?`),
    setJobState: db.prepare<[JobState, number]>(`UPDATE bank_import_jobs SET state = ? WHERE id = ?`),
    open: db.prepare<[], { id: number }>(`SELECT id FROM bank_import_jobs WHERE state IN ('pending', 'running') ORDER BY id`),
    txs: db.prepare<[number], TransactionRow>(`SELECT * FROM bank_import_transactions WHERE job_id = ? ORDER BY idx`),
    tx: db.prepare<[number, number], TransactionRow>(`SELECT * FROM bank_import_transactions WHERE job_id = ? AND idx = ?`),
    // From where the last one was found: transactions are decided in order, so a job is read once, not once per transaction.
    nextUndecided: db.prepare<[number, number], TransactionRow>(`SELECT * FROM bank_import_transactions WHERE job_id = ? AND idx >= ? AND state = 'imported' ORDER BY idx LIMIT 1`),
    claimant: db.prepare<[string], { job_id: number; idx: number }>(`SELECT job_id, idx FROM bank_import_checksums WHERE checksum = ?`),
    claim: db.prepare<[string, number, number]>(`INSERT INTO bank_import_checksums (checksum, job_id, idx) VALUES (?, ?, ?)`),
    decide: db.prepare(
      `UPDATE bank_import_transactions SET state = @state, message = @message, order_code = @order, uid = @uid, booking_ref = @bookingRef, decided_by = @decidedBy,
         payer = CASE WHEN @forget THEN '' ELSE payer END, reference = CASE WHEN @forget THEN '' ELSE reference END,
         comment = COALESCE(@comment, comment)
       WHERE job_id = @job AND idx = @idx`,
    ),
  }

  const viewOfTransaction = (row: TransactionRow): TransactionView => ({
    state: row.state,
    message: row.message,
    checksum: row.checksum,
    payer: row.payer,
    external_id: row.external_id,
    reference: row.reference,
    amount: row.amount,
    iban: row.iban,
    bic: row.bic,
    date: row.date,
    order: row.order_code,
    comment: row.comment,
  })

  function viewOfJob(row: JobRow): JobView {
    return {
      id: row.id,
      event: row.event,
      created: new Date(row.created_at).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      state: row.state,
      // As the seed says: transactions appear once the job has started.
      transactions: row.state === 'pending' ? [] : q.txs.all(row.id).map(viewOfTransaction),
    }
  }

  function write(row: TransactionRow, decision: Decision, by: string, comment: string | null = null): void {
    q.decide.run({
      job: row.job_id,
      idx: row.idx,
      state: decision.state,
      message: decision.message,
      order: decision.order ?? null,
      uid: decision.uid ?? null,
      bookingRef: decision.bookingRef ?? null,
      decidedBy: by,
      forget: decision.forget ? 1 : 0,
      comment,
    })
  }

  /** Books a top-up of this transaction to a wristband; a refusal of the ledger is the transaction's `error`. */
  function bookTopup(row: TransactionRow, uid: string, via: string): Decision {
    const ref = `bank:${row.checksum}`
    const amount = row.amount_cents!
    try {
      ledger.bookExternal({
        ref,
        kind: 'topup_online',
        postings: [
          { account: ledger.ensureAccount('clearing', 'bank'), amount: -amount },
          { account: `customer:${uid}`, amount },
        ],
        customerUid: uid,
        meta: { via, checksum: row.checksum, job: row.job_id },
      })
    } catch (err) {
      const code = refusalCode(err)
      if (code === undefined) throw err
      return { state: 'error', message: `the ledger refused the top-up: ${code}` }
    }
    return { state: 'valid', message: '', order: transferCodes.referenceOf(uid).compact, uid, bookingRef: ref, forget: true }
  }

  function bookReturn(row: TransactionRow, endToEndId: string, payout: ReturnedPayout): { decision: Decision; alert?: string } {
    const amount = row.amount_cents!
    if (amount > payout.amountCents) return { decision: { state: 'nomatch', message: `names payout ${endToEndId} but is more than was paid out` } }
    const ref = `bank-return:${endToEndId}`
    const before = ledger.externalBookingByRef(ref)
    // Another transaction already brought this payout back: a second return is not booked again.
    if (before !== undefined && before.meta.checksum !== row.checksum) return { decision: { state: 'already', message: `the return of payout ${endToEndId} was booked before`, forget: true } }
    const account = payout.account ?? ledger.ensureAccount('payout', 'sepa')
    try {
      ledger.bookExternal({
        ref,
        kind: 'refund',
        postings: [
          { account, amount: -amount },
          { account: `customer:${payout.uid}`, amount },
        ],
        customerUid: payout.uid,
        meta: { via: 'bank_return', checksum: row.checksum, endToEndId, job: row.job_id },
      })
    } catch (err) {
      const code = refusalCode(err)
      if (code === undefined) throw err
      return { decision: { state: 'error', message: `the ledger refused the returned payout ${endToEndId}: ${code}` } }
    }
    payouts!.markPayoutReturned(endToEndId, { amountCents: amount, checksum: row.checksum })
    return {
      decision: { state: 'valid', message: `returned payout ${endToEndId}`, order: endToEndId, uid: payout.uid, bookingRef: ref, forget: true },
      alert: `payout ${endToEndId} of wristband ${payout.uid} came back (${amount} cents): re-credited, payout data marked invalid`,
    }
  }

  /**
   * A debit is money leaving the organiser's account. Our own payouts do: one
   * naming an exported payout by its end-to-end id, for exactly its amount, is
   * that payout leaving (booked at export already, so nothing is booked now) and
   * is `valid`, so the finance team does not discard every payout by hand. Any
   * other debit is not ours to explain: `nomatch`.
   */
  function decideDebit(row: TransactionRow): Decision {
    if (payouts) {
      for (const candidate of endToEndCandidates(row)) {
        const payout = payouts.findPayoutByEndToEndId(candidate)
        if (payout === undefined) continue
        if (payout.amountCents !== -row.amount_cents!) return { state: 'nomatch', message: `names payout ${candidate} but the amount differs from what was paid out` }
        return { state: 'valid', message: `payout ${candidate} left the account`, order: candidate, uid: payout.uid, forget: true }
      }
    }
    return { state: 'nomatch', message: 'a debit is not matched' }
  }

  /** The decision for one undecided transaction, with its booking; runs inside the transaction's SQLite transaction. */
  function decide(row: TransactionRow): { decision: Decision; alert?: string } {
    if (row.problem !== null) return { decision: { state: 'invalid', message: row.problem } }
    const claimant = q.claimant.get(row.checksum)
    if (claimant && (claimant.job_id !== row.job_id || claimant.idx !== row.idx))
      return { decision: { state: 'already', message: `the same transaction is in job ${claimant.job_id}`, forget: true } }
    if (!claimant) q.claim.run(row.checksum, row.job_id, row.idx)
    const amount = row.amount_cents!
    if (amount < 0) return { decision: decideDebit(row) }

    if (payouts) {
      for (const candidate of endToEndCandidates(row)) {
        const payout = payouts.findPayoutByEndToEndId(candidate)
        if (payout) return bookReturn(row, candidate, payout)
      }
    }
    const uids = [...new Set(transferCodesIn(row.reference).map((code) => transferCodes.uidOfCode(code)).filter((uid): uid is string => uid !== undefined))]
    if (uids.length > 1) return { decision: { state: 'nomatch', message: 'the reference names more than one wristband' } }
    if (uids.length === 1) {
      if (ledger.wristband(uids[0]!) === undefined) return { decision: { state: 'nomatch', message: 'the wristband of this reference is no longer in the event' } }
      return { decision: bookTopup(row, uids[0]!, 'transfer_reference') }
    }
    return { decision: { state: 'nomatch', message: '' } }
  }

  /** One transaction's decision; inside a batch it is a savepoint, so a failure takes back only its own part. */
  const decideOne = db.transaction((row: TransactionRow) => {
    const outcome = decide(row)
    write(row, outcome.decision, 'import')
    return outcome
  })

  /**
   * Up to DECISIONS_PER_COMMIT undecided transactions in one IMMEDIATE SQLite
   * transaction (one disk sync for all of them): a stop before the commit
   * leaves all of them undecided and unbooked, after it all decided and booked.
   */
  const decideBatch = db.transaction((jobId: number, fence: JobFence | undefined) => {
    // First, in this transaction: a gateway that lost the lease decides nothing (another one goes on from here).
    if (fence !== undefined && !fence(db)) throw new LeaseLostError('the bank import')
    const alerts: Array<{ idx: number; alert: string }> = []
    let last: number | undefined
    for (let n = 0; n < DECISIONS_PER_COMMIT; n++) {
      const row = q.nextUndecided.get(jobId, last === undefined ? (searchFrom.get(jobId) ?? 0) : last + 1)
      if (row === undefined) break
      last = row.idx
      try {
        const outcome = decideOne(row)
        if (outcome.alert) alerts.push({ idx: row.idx, alert: outcome.alert })
      } catch (err) {
        // Nothing of this decision is left (its savepoint rolled back, the checksum is not claimed);
        // the transaction is marked, never retried in a loop, and an operator can still match or discard it.
        logger.error({ err, job: jobId, idx: row.idx }, 'bank transaction could not be decided')
        write(row, { state: 'error', message: 'internal error while matching (see the gateway log)' }, 'import')
      }
    }
    return { last, alerts }
  })

  /** Per job, the index before which every transaction is decided (in this process; after a restart the search starts at 0 once). */
  const searchFrom = new Map<number, number>()

  function processNext(jobId: number, fence?: JobFence): boolean {
    const job = q.job.get(jobId)
    if (job === undefined || (job.state !== 'pending' && job.state !== 'running')) return false
    if (job.state === 'pending') q.setJobState.run('running', jobId)
    const { last, alerts } = decideBatch.immediate(jobId, fence)
    if (last === undefined) {
      searchFrom.delete(jobId)
      q.setJobState.run('completed', jobId)
      logger.info({ job: jobId }, 'bank import job completed')
      return false
    }
    searchFrom.set(jobId, last + 1)
    // After the commit: an operator hears of a returned payout only once it is booked.
    for (const { idx, alert } of alerts) {
      logger.warn({ job: jobId, idx }, alert)
      deps.alert?.({ kind: 'payout_returned', message: alert })
    }
    return true
  }

  function operatorRow(jobId: number, idx: number): TransactionRow {
    const row = Number.isSafeInteger(jobId) && Number.isSafeInteger(idx) ? q.tx.get(jobId, idx) : undefined
    if (row === undefined) throw new HttpError(404, 'unknown_bank_transaction', `no transaction ${idx} in bank import job ${jobId}`)
    if (row.state !== 'nomatch' && row.state !== 'error' && !(row.state === 'invalid'))
      throw new HttpError(409, 'bank_transaction_decided', `the transaction is ${row.state}: only nomatch, invalid and error transactions are decided by hand`)
    return row
  }

  const matchInTransaction = db.transaction((jobId: number, idx: number, uid: string, operator: string) => {
    const row = operatorRow(jobId, idx)
    if (row.state === 'invalid' || row.amount_cents === null) throw new HttpError(409, 'bank_transaction_decided', 'an invalid transaction can only be discarded')
    if (row.amount_cents <= 0) throw new HttpError(409, 'bank_transaction_debit', 'a debit cannot be booked to a wristband: discard it')
    if (ledger.wristband(uid) === undefined) throw new HttpError(404, 'unknown_tag', `wristband ${uid} is not known`)
    const claimant = q.claimant.get(row.checksum)
    if (claimant && (claimant.job_id !== jobId || claimant.idx !== idx)) throw new HttpError(409, 'bank_transaction_decided', `the same transaction is in job ${claimant.job_id}`)
    if (!claimant) q.claim.run(row.checksum, jobId, idx)
    const decision = bookTopup(row, uid, `operator:${operator}`)
    if (decision.state !== 'valid') throw new HttpError(409, 'ledger_refused', decision.message)
    write(row, { ...decision, message: `matched by ${operator}` }, operator)
    return viewOfTransaction(q.tx.get(jobId, idx)!)
  })

  const discardInTransaction = db.transaction((jobId: number, idx: number, comment: string, operator: string) => {
    const row = operatorRow(jobId, idx)
    write(row, { state: 'discarded', message: `discarded by ${operator}`, forget: true }, operator, comment)
    return viewOfTransaction(q.tx.get(jobId, idx)!)
  })

  return {
    create({ event, transactions, createdBy }) {
      const checked = transactions.map((t) => checkBankTransaction(t, currency))
      return db.transaction(() => {
        const id = q.insertJob.get(event, clock.now(), createdBy)!.id
        checked.forEach((t, idx) => q.insertTx.run({ job: id, idx, ...t }))
        return id
      }).immediate()
    },
    job(id) {
      const row = Number.isSafeInteger(id) ? q.job.get(id) : undefined
      return row === undefined ? undefined : viewOfJob(row)
    },
    list({ event, state, offset, limit }) {
      const where: string[] = []
      const params: Record<string, string | number> = { offset, limit }
      if (event !== undefined) {
        where.push('event = @event')
        params.event = event
      }
      if (state !== undefined) {
        where.push('state = @state')
        params.state = state
      }
      const clause = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`
      const count = db.prepare<Record<string, string | number>, { n: number }>(`SELECT count(*) AS n FROM bank_import_jobs ${clause}`).get(params)!.n
      const rows = db.prepare<Record<string, string | number>, JobRow>(`SELECT id, event, created_at, state FROM bank_import_jobs ${clause} ORDER BY id LIMIT @limit OFFSET @offset`).all(params)
      return { count, jobs: rows.map(viewOfJob) }
    },
    openJobs: () => q.open.all().map((r) => r.id),
    processNext,
    matchByOperator: (jobId, idx, uid, operator) => {
      const view = matchInTransaction.immediate(jobId, idx, uid, operator)
      logger.info({ job: jobId, idx, uid, operator }, 'bank transaction matched by an operator')
      return view
    },
    discardByOperator: (jobId, idx, comment, operator) => {
      const view = discardInTransaction.immediate(jobId, idx, comment, operator)
      logger.info({ job: jobId, idx, operator }, 'bank transaction discarded by an operator')
      return view
    },
  }
}
