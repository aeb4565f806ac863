// Payout runs: paying every guest's remaining balance back to their bank
// account after the event, as a finance team does it with four eyes.
//
// create   an operator picks the guests: payout data from the portal that
//          passes its checks (IBAN with ibantools, a country the portal
//          accepts, holder, e-mail), a balance above zero after their donation,
//          not blocked, in no other open run; at most maxCount payouts and
//          maxSum cents. A guest whose payout data the bank files cannot carry
//          (a holder name with no Latin spelling, ...: payeeProblem, the
//          renderer's own conversion) is left out and named in `skipped` with
//          the reason, as is one whose data no longer passes the portal's
//          checks. When the event checks payout data with the provider's
//          SEPA check, a guest whose check found the holder name not to
//          match the IBAN is left out too (skipped, the portal asks them to
//          correct it); one whose check is not answered yet is in the run,
//          its item flagged with the check's state, unless the run is made
//          with requireSepaCheck. Their donations are booked now (customer → donation);
//          nothing else is. From now on their wristbands cannot spend (the
//          registry reads the open items; the rules answer in_payout_run).
// approve  a second operator, never the creator.
// export   books one payout per guest (customer → payout:sepa) and renders
//          the bank files in the same SQLite transaction as the run's state
//          change: files that cannot be rendered roll it all back (nothing
//          booked, the run stays approved) and the error names the payouts at
//          fault. A second export books nothing and returns the same payouts
//          and files.
// cancel   before export: nothing is undone (donations stay booked), the
//          wristbands spend again.
// Every step is a row in payout_run_events: who, when, what.
//
// The transactions are the gateway database's (better-sqlite3): the ledger's
// SQLite store joins them as savepoints, so a refusal anywhere rolls back the
// run and every booking of it. Over the in-memory store this atomicity does not
// hold; payout runs are for the SQLite ledger. On PostgreSQL, where other
// gateways' kiosk batches book without the facade's writer lock, create and
// export first lock the balances they decide on (balance-locks.ts).
import type { SqlDatabase } from '../sql/database.js'
import type { Logger } from 'pino'
import type { Clock } from '../../device-protocol/index.js'
import { MAX_AMOUNT_CENTS } from '../../device-protocol/index.js'
import { checkCustomerInfo } from '../../portal-api/index.js'
import { checkOperatorName } from '../four-eyes/operator-credentials.js'
import { createRunSteps } from '../four-eyes/run-steps.js'
import { LedgerRefusalError, accountIds, type Ledger } from '../ledger/index.js'
import { migrateGatewayDatabase } from '../migrations.js'
import { balanceLocks } from './balance-locks.js'
import { endToEndId, randomSuffix } from './end-to-end-id.js'
import { payeeProblem as bankFilePayeeProblem } from './payout-files.js'

export type PayoutRunState = 'created' | 'approved' | 'exported' | 'cancelled'

export type PayoutRunErrorCode =
  /** No run with this id. */
  | 'unknown_payout_run'
  /** The operator who created the run tried to approve it. */
  | 'approver_is_creator'
  /** Approve on a run that is not `created` (approved, exported or cancelled). */
  | 'payout_run_not_approvable'
  /** Cancel on an exported or cancelled run. */
  | 'payout_run_not_cancellable'
  /** Export on a run that is not approved (or exported: that is a replay, not an error). */
  | 'payout_run_not_exportable'
  /** At export, a guest's balance no longer covers their payout (an offline sale came in): nothing booked. */
  | 'payout_balance_changed'
  /** maxCount or maxSum are not positive whole numbers within bounds. */
  | 'invalid_payout_limits'
  /** No operator name, or one that is not 1..64 printable characters. */
  | 'invalid_operator'
  /** No guest is eligible (or fits the limits) and nobody has a donation to book. */
  | 'empty_payout_run'
  /** At export, the bank files cannot be rendered (a holder name SEPA cannot spell, ...): nothing booked, the run stays approved. */
  | 'payout_files_unrenderable'

/** A payout the bank files cannot carry, and why. */
export interface PayoutAtFault {
  uid: string
  endToEndId: string
  reason: string
}

export class PayoutRunError extends Error {
  override name = 'PayoutRunError'
  constructor(
    readonly code: PayoutRunErrorCode,
    message: string,
    /** payout_files_unrenderable: the payouts at fault, when the renderer's error names some. */
    readonly payouts: readonly PayoutAtFault[] = [],
  ) {
    super(message)
  }
}

export interface PayoutRunSummary {
  id: number
  state: PayoutRunState
  createdBy: string
  createdAt: number
  approvedBy: string | null
  approvedAt: number | null
  exportedBy: string | null
  exportedAt: number | null
  cancelledBy: string | null
  cancelledAt: number | null
  maxCount: number | null
  maxSum: number | null
  payoutCount: number
  /** Cents. */
  payoutSum: number
  /** Cents booked to the donation account when the run was created. */
  donationSum: number
}

export interface PayoutItem {
  uid: string
  endToEndId: string
  iban: string
  accountName: string
  email: string
  /** Cents to pay. */
  amount: number
  /** Cents donated when the run was created. */
  donation: number
  /** The payout booking, once exported. */
  payoutBooking: string | null
  /** The guest's SEPA check when the run was made (matched, or not answered yet: queued, pending, unknown); absent when the event has no SEPA check. */
  sepaCheck?: string
}

export interface PayoutRunEvent {
  action: 'created' | 'approved' | 'cancelled' | 'exported' | 'exported_again' | 'refused'
  operator: string
  at: number
  detail: string | null
}

export interface PayoutRun extends PayoutRunSummary {
  items: PayoutItem[]
  events: PayoutRunEvent[]
}

export interface PayoutExport {
  run: PayoutRun
  /** False: this call booked the payouts; true: they were booked by an earlier export, nothing changed. */
  replay: boolean
  /** The bank files by name, when export was given a renderer. */
  files?: Record<string, string>
}

/** The bank files of an exported run, by file name (payout-files.ts renderPayoutFiles with the organiser's account); throws when they cannot be written. */
export type RenderPayoutFiles = (run: PayoutRun) => Record<string, string>

/** A guest with a balance to pay back whom a new run left out, and why. */
export interface SkippedGuest {
  uid: string
  reason: string
}

export interface CreatedPayoutRun extends PayoutRun {
  /** Guests left out because their payout data cannot be paid to (no limits, no zero balances: only data). */
  skipped: SkippedGuest[]
}

export interface CreateRunOptions {
  operator: string
  maxCount?: number
  /** Cents. */
  maxSum?: number
  /** Leave out guests whose SEPA check is not answered yet, too (by default they are in, flagged). */
  requireSepaCheck?: boolean
}

export interface PayoutRuns {
  create(options: CreateRunOptions): CreatedPayoutRun
  list(): PayoutRunSummary[]
  get(id: number): PayoutRun
  approve(id: number, operator: string): PayoutRun
  cancel(id: number, operator: string): PayoutRun
  /** With renderFiles, the files are rendered inside the export's transaction: if they cannot be, nothing is booked. */
  export(id: number, operator: string, renderFiles?: RenderPayoutFiles): PayoutExport
}

export interface PayoutRunsDeps {
  db: SqlDatabase
  ledger: Pick<Ledger, 'wristband' | 'ensureAccount' | 'bookExternal' | 'externalBookingByRef'>
  clock: Clock
  logger: Logger
  /** The portal's accepted IBAN countries (upper case); null accepts any valid IBAN. Read at each run. */
  allowedCountryCodes(): readonly string[] | null
  /** The random part of end-to-end ids; injected for tests. */
  newSuffix?: () => string
  /** Why a payee cannot go into the bank files (null: it can); the renderer's own check by default (payout-files.ts). */
  payeeProblem?: (payee: { accountName: string; iban: string }) => string | null
  /**
   * The state of the guest's SEPA check for exactly this payout data (gateway/payments/sepa-checks.ts
   * sepaCheckOf; undefined: none yet). Absent when the event has no SEPA check: nobody is checked or flagged.
   */
  sepaCheck?: (uid: string, payee: { accountName: string; iban: string }) => { state: string } | undefined
}

/** The account payouts go to: money on its way to the guests' banks. */
export const PAYOUT_ACCOUNT_REF = 'sepa'
export const DONATION_ACCOUNT_REF = 'event'

/** A guest's donation is booked once, whatever happens to the run it came with. */
export const donationRef = (uid: string) => `payout-donation:${uid}`
export const payoutRef = (e2e: string) => `payout:${e2e}`

interface RunRow {
  id: number
  state: PayoutRunState
  created_by: string
  created_at: number
  approved_by: string | null
  approved_at: number | null
  exported_by: string | null
  exported_at: number | null
  cancelled_by: string | null
  cancelled_at: number | null
  max_count: number | null
  max_sum: number | null
  payout_count: number
  payout_sum: number
  donation_sum: number
}

interface ItemRow {
  run_id: number
  uid: string
  end_to_end_id: string
  iban: string
  account_name: string
  email: string
  amount: number
  donation: number
  payout_booking: string | null
  sepa_check: string | null
}

interface CandidateRow {
  uid: string
  iban: string | null
  account_name: string | null
  email: string | null
  donation_cents: number
  donate_all: number
}

const checkOperator = (operator: unknown): string => checkOperatorName(operator, (message) => new PayoutRunError('invalid_operator', message))

function checkLimit(name: string, value: unknown): number | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > Number.MAX_SAFE_INTEGER)
    throw new PayoutRunError('invalid_payout_limits', `${name} must be a whole number above zero`)
  return value
}

const summaryOf = (row: RunRow): PayoutRunSummary => ({
  id: row.id,
  state: row.state,
  createdBy: row.created_by,
  createdAt: row.created_at,
  approvedBy: row.approved_by,
  approvedAt: row.approved_at,
  exportedBy: row.exported_by,
  exportedAt: row.exported_at,
  cancelledBy: row.cancelled_by,
  cancelledAt: row.cancelled_at,
  maxCount: row.max_count,
  maxSum: row.max_sum,
  payoutCount: row.payout_count,
  payoutSum: row.payout_sum,
  donationSum: row.donation_sum,
})

/** At most this many payouts are named in an error's message (all of them in its `payouts`). */
const NAMED_PAYOUTS_MAX = 10

/** The export's refusal when the files cannot be rendered: the payouts at fault by their own check, else the one the renderer's error points at. */
function unrenderable(err: unknown, items: readonly ItemRow[], problemOf: (item: ItemRow) => string | null, replay: boolean): PayoutRunError {
  const rendererMessage = (err instanceof Error ? err.message : String(err)).slice(0, 300)
  let payouts: PayoutAtFault[] = items.flatMap((item) => {
    const reason = problemOf(item)
    return reason === null ? [] : [{ uid: item.uid, endToEndId: item.end_to_end_id, reason }]
  })
  // sepa-export names a payment by its place in the file, which is the run's item order (payout-files.ts).
  const place = /^payments\[(\d+)\]\.\S+: (.*)$/s.exec(rendererMessage)
  const item = place === null ? undefined : items[Number(place[1])]
  if (payouts.length === 0 && item !== undefined) payouts = [{ uid: item.uid, endToEndId: item.end_to_end_id, reason: rendererMessage }]
  const named = payouts.slice(0, NAMED_PAYOUTS_MAX).map((p) => `wristband ${p.uid} (end-to-end id ${p.endToEndId}): ${p.reason}`)
  if (payouts.length > NAMED_PAYOUTS_MAX) named.push(`and ${payouts.length - NAMED_PAYOUTS_MAX} more`)
  const what = named.length > 0 ? named.join('; ') : rendererMessage
  const message = replay
    ? `the bank files of this exported run cannot be written again (its payouts stay booked): ${what}. Fix the organiser's account or the event's name in the event set-up`
    : `the bank files cannot be written, so nothing was booked and the run stays approved: ${what}. Cancel this run and create a new one (it leaves out guests whose payout data the files cannot carry), or fix the organiser's account`
  return new PayoutRunError('payout_files_unrenderable', message, payouts)
}

export function createPayoutRuns({ db, ledger, clock, logger, allowedCountryCodes, newSuffix = randomSuffix, payeeProblem = bankFilePayeeProblem, sepaCheck }: PayoutRunsDeps): PayoutRuns {
  migrateGatewayDatabase(db)
  const log = logger.child({ component: 'payout-runs' })
  const locks = balanceLocks(db)

  const q = {
    // Guests who told the portal anything, in the order they did; a wristband in an open run is left out.
    candidates: db.prepare<[], CandidateRow>(`
      SELECT c.uid, c.iban, c.account_name, c.email, c.donation_cents, c.donate_all FROM portal_customers c
       WHERE c.has_entered_info = 1 AND NOT EXISTS (SELECT 1 FROM payout_run_items i WHERE i.uid = c.uid AND i.open = 1)
       ORDER BY c.id`),
    insertRun: db.prepare<{ operator: string; at: number; maxCount: number | null; maxSum: number | null }, { id: number }>(`
      INSERT INTO payout_runs (state, created_by, created_at, max_count, max_sum, payout_count, payout_sum, donation_sum)
      VALUES ('created', @operator, @at, @maxCount, @maxSum, 0, 0, 0) RETURNING id`),
    setTotals: db.prepare(`UPDATE payout_runs SET payout_count = ?, payout_sum = ?, donation_sum = ? WHERE id = ?`),
    insertItem: db.prepare(`
      INSERT INTO payout_run_items (run_id, uid, end_to_end_id, iban, account_name, email, amount, donation, donation_booking, sepa_check)
      VALUES (@runId, @uid, @endToEndId, @iban, @accountName, @email, @amount, @donation, @donationBooking, @sepaCheck)`),
    run: db.prepare<[number], RunRow>(`SELECT * FROM payout_runs WHERE id = ?`),
    runs: db.prepare<[], RunRow>(`SELECT * FROM payout_runs ORDER BY id DESC`),
    // In the order they were made (candidates: by portal_customers.id); the bank files list them so.
    items: db.prepare<[number], ItemRow>(`SELECT i.* FROM payout_run_items i WHERE run_id = ? ORDER BY (SELECT c.id FROM portal_customers c WHERE c.uid = i.uid), uid`),
    exported: db.prepare(`UPDATE payout_runs SET state = 'exported', exported_by = ?, exported_at = ? WHERE id = ? AND state = 'approved'`),
    setPayoutBooking: db.prepare(`UPDATE payout_run_items SET payout_booking = ?, payout_receipt = ? WHERE run_id = ? AND uid = ?`),
  }

  function runRow(id: number): RunRow {
    const row = Number.isSafeInteger(id) && id > 0 ? q.run.get(id) : undefined
    if (row === undefined) throw new PayoutRunError('unknown_payout_run', `no payout run ${String(id).slice(0, 20)}`)
    return row
  }

  function get(id: number): PayoutRun {
    const row = runRow(id)
    return {
      ...summaryOf(row),
      items: q.items.all(row.id).map((i) => ({
        uid: i.uid,
        endToEndId: i.end_to_end_id,
        iban: i.iban,
        accountName: i.account_name,
        email: i.email,
        amount: i.amount,
        donation: i.donation,
        payoutBooking: i.payout_booking,
        ...(i.sepa_check === null ? {} : { sepaCheck: i.sepa_check }),
      })),
      events: steps.events(row.id),
    }
  }

  const steps = createRunSteps<PayoutRun, PayoutRunEvent['action']>({
    db,
    clock,
    log,
    tables: { runs: 'payout_runs', items: 'payout_run_items', events: 'payout_run_events' },
    kind: 'payout run',
    doneState: 'exported',
    checkOperator,
    runRow,
    get,
    refuse: (why, message) =>
      new PayoutRunError(why === 'not_approvable' ? 'payout_run_not_approvable' : why === 'not_cancellable' ? 'payout_run_not_cancellable' : 'approver_is_creator', message),
  })
  const { event } = steps

  const createTx = db.transaction((operator: string, maxCount: number | null, maxSum: number | null, requireSepaCheck: boolean, skipped: SkippedGuest[]): number => {
    const now = clock.now()
    const runId = q.insertRun.get({ operator, at: now, maxCount, maxSum })!.id
    const countries = allowedCountryCodes()
    const donationAccount = ledger.ensureAccount('donation', DONATION_ACCOUNT_REF)
    let count = 0
    let sum = 0
    let donations = 0
    const candidates = q.candidates.all()
    // Before any balance is read: no sale on another gateway changes one until this run is committed.
    locks.lockCustomers(candidates.map((c) => c.uid))
    for (const c of candidates) {
      const band = ledger.wristband(c.uid)
      if (band === undefined || band.blocked || band.balance <= 0) continue
      // A donation is booked once: a guest in a cancelled run donated already.
      const donated = ledger.externalBookingByRef(donationRef(c.uid)) !== undefined
      const donation = donated ? 0 : c.donate_all === 1 ? band.balance : Math.min(c.donation_cents, band.balance)
      const amount = band.balance - donation
      let item: { iban: string; accountName: string; email: string } | undefined
      let sepaState: string | null = null
      if (amount > 0) {
        const checked = checkCustomerInfo({ iban: c.iban ?? '', accountName: c.account_name ?? '', email: c.email ?? '', donationCents: 0 }, countries)
        // Without valid payout data nothing happens for this guest, the donation neither: they come in a later run.
        if (!checked.ok) {
          skipped.push({ uid: c.uid, reason: checked.problems.map((p) => p.msg).join('; ') })
          continue
        }
        // Nor when the bank files could not carry it: better left out now than an export that cannot be written.
        const problem = payeeProblem(checked.value)
        if (problem !== null) {
          skipped.push({ uid: c.uid, reason: problem })
          continue
        }
        // The provider's SEPA check: a name that does not match the IBAN would pay a stranger (or come back).
        if (sepaCheck !== undefined) {
          sepaState = sepaCheck(c.uid, checked.value)?.state ?? 'queued'
          if (sepaState === 'mismatch') {
            skipped.push({ uid: c.uid, reason: 'the SEPA check found that the account holder name does not match the IBAN; the portal asks the guest to correct it' })
            continue
          }
          if (requireSepaCheck && sepaState !== 'matched') {
            skipped.push({ uid: c.uid, reason: `the SEPA check is not answered yet (${sepaState}) and this run requires one` })
            continue
          }
        }
        if (maxCount !== null && count + 1 > maxCount) continue
        if (maxSum !== null && sum + amount > maxSum) continue
        item = checked.value
      }
      let donationBooking: string | null = null
      if (donation > 0) {
        donationBooking = ledger.bookExternal({
          ref: donationRef(c.uid),
          kind: 'donation',
          customerUid: c.uid,
          postings: [
            { account: accountIds.customer(c.uid), amount: -donation },
            { account: donationAccount, amount: donation },
          ],
          meta: { payoutRun: runId },
        }).id
        donations += donation
      }
      if (item === undefined) continue
      count++
      sum += amount
      q.insertItem.run({ runId, uid: c.uid, endToEndId: endToEndId(runId, count, newSuffix()), ...item, amount, donation, donationBooking, sepaCheck: sepaState })
    }
    if (count === 0 && donations === 0) throw new PayoutRunError('empty_payout_run', 'no guest is eligible for a payout (or fits the limits), and no donation is waiting')
    q.setTotals.run(count, sum, donations, runId)
    event(runId, 'created', operator, JSON.stringify({ payouts: count, sum, donations, maxCount, maxSum, ...(skipped.length > 0 ? { skipped } : {}) }))
    return runId
  })

  function create(options: CreateRunOptions): CreatedPayoutRun {
    if (typeof options !== 'object' || options === null) throw new PayoutRunError('invalid_payout_limits', 'options must be an object')
    const operator = checkOperator(options.operator)
    const maxCount = checkLimit('maxCount', options.maxCount)
    const maxSum = checkLimit('maxSum', options.maxSum)
    if (maxSum !== null && maxSum > Number.MAX_SAFE_INTEGER - MAX_AMOUNT_CENTS) throw new PayoutRunError('invalid_payout_limits', 'maxSum is too large')
    const skipped: SkippedGuest[] = []
    const id = createTx.immediate(operator, maxCount, maxSum, options.requireSepaCheck === true, skipped)
    const run = get(id)
    log.info({ run: id, operator, payouts: run.payoutCount, sum: run.payoutSum, donations: run.donationSum, skipped: skipped.length }, 'payout run created')
    if (skipped.length > 0) log.warn({ run: id, skipped }, 'payout run: guests left out, their payout data cannot be paid to')
    return { ...run, skipped }
  }

  /** The run's files, rendered inside the export's transaction; a failure becomes the refusal that rolls it back. */
  function renderInside(id: number, render: RenderPayoutFiles, replay: boolean): Record<string, string> {
    const run = get(id)
    try {
      return render(run)
    } catch (err) {
      throw unrenderable(err, q.items.all(id), (item) => payeeProblem({ accountName: item.account_name, iban: item.iban }), replay)
    }
  }

  const exportTx = db.transaction((id: number, operator: string, render: RenderPayoutFiles | undefined): { replay: boolean; files?: Record<string, string> } => {
    const row = runRow(id)
    if (row.state === 'exported') {
      event(id, 'exported_again', operator)
      // The same run renders the same files: its items and export time are frozen.
      return { replay: true, ...(render === undefined ? {} : { files: renderInside(id, render, true) }) }
    }
    if (row.state !== 'approved') throw new PayoutRunError('payout_run_not_exportable', `payout run ${id} is ${row.state}: only an approved run can be exported`)
    const payoutAccount = ledger.ensureAccount('payout', PAYOUT_ACCOUNT_REF)
    const items = q.items.all(id)
    // Each payout takes its item's amount from a balance that cannot change until the export is committed.
    locks.lockCustomers(items.map((item) => item.uid))
    for (const item of items) {
      let booked
      try {
        booked = ledger.bookExternal({
          ref: payoutRef(item.end_to_end_id),
          kind: 'payout',
          customerUid: item.uid,
          postings: [
            { account: accountIds.customer(item.uid), amount: -item.amount },
            { account: payoutAccount, amount: item.amount },
          ],
          meta: { payoutRun: id, endToEndId: item.end_to_end_id },
        })
      } catch (err) {
        if (err instanceof LedgerRefusalError && err.code === 'insufficient_balance')
          throw new PayoutRunError('payout_balance_changed', `wristband ${item.uid} no longer holds its payout of ${item.amount} cents (an offline sale came in): nothing was booked; cancel this run and create a new one`)
        throw err
      }
      const record = ledger.externalBookingByRef(payoutRef(item.end_to_end_id))
      q.setPayoutBooking.run(booked.id, record?.receiptId ?? booked.receiptId, id, item.uid)
    }
    q.exported.run(operator, clock.now(), id)
    steps.closeItems(id)
    event(id, 'exported', operator)
    // Last, before the commit: files that cannot be written take back every booking above.
    return { replay: false, ...(render === undefined ? {} : { files: renderInside(id, render, false) }) }
  })

  function exportRun(id: number, operator: string, renderFiles?: RenderPayoutFiles): PayoutExport {
    const who = checkOperator(operator)
    let outcome
    try {
      outcome = exportTx.immediate(id, who, renderFiles)
    } catch (err) {
      if (err instanceof PayoutRunError && err.code === 'payout_files_unrenderable') {
        // The refusal is an operator action too (after the rollback, so it stays).
        event(id, 'refused', who, `export: ${err.message}`.slice(0, 2000))
        log.error({ run: id, operator: who, payouts: err.payouts }, 'payout run not exported: its bank files cannot be written; nothing booked')
      }
      throw err
    }
    const run = get(id)
    if (!outcome.replay) log.info({ run: id, operator: who, payouts: run.payoutCount, sum: run.payoutSum }, 'payout run exported: payouts booked')
    return { run, ...outcome }
  }

  return {
    create,
    list: () => q.runs.all().map(summaryOf),
    get,
    approve: steps.approve,
    cancel: steps.cancel,
    export: exportRun,
  }
}

/** The payout account's id (payout:sepa), for reports. */
export const payoutAccountId = accountIds.payout(PAYOUT_ACCOUNT_REF)
