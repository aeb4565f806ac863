// Refund runs: after the event, the balance of every guest who topped up
// online and registered no payout data goes back to their cards, with the same
// four eyes as the payout runs (gateway/payouts/payout-runs.ts).
//
// create   an operator picks the guests: a paid online top-up of a provider
//          that can refund with something left, a balance above zero, no
//          payout data a payout run would take (the portal's checks: IBAN,
//          country, holder, e-mail), not blocked, in no open payout run and
//          no other open refund run; the amount is what a refund to the card
//          would take by default (refunds.ts refundable(): never more than
//          the balance nor than the top-ups have left); at most maxCount
//          guests and maxSum cents. Nothing is booked. From now on their
//          wristbands cannot spend: the registry reads the open items as it
//          reads a payout run's, so the rules answer in_payout_run (the
//          meaning is the same: the balance is being paid back to the guest),
//          and a refund to the card by the guest or an operator is refused
//          (in_refund_run).
// approve  a second operator, never the creator.
// cancel   before execution: the wristbands spend again.
// execute  for each item, in one SQLite transaction with the run's state
//          change: the item is closed, then a refund request is booked by
//          refunds.ts (book(): request, parts and bookings, the operator as
//          who asked), each item in its own savepoint. The provider is not
//          called here: the refund service's recovery loop sends the parts,
//          so a run of thousands of guests holds no HTTP request open. A guest
//          whose balance changed since the run was made gets what still fits,
//          and the item says so; one who cannot be refunded any more (blocked
//          since, in a payout run since, nothing left) gets nothing and a
//          note. Executing again books nothing (each item once).
// Every step is a row in card_refund_run_events: who, when, what.
import type { SqlDatabase } from '../sql/database.js'
import type { Logger } from 'pino'
import type { Clock } from '../../device-protocol/index.js'
import { MAX_AMOUNT_CENTS } from '../../device-protocol/index.js'
import { checkCustomerInfo } from '../../portal-api/index.js'
import { checkOperatorName } from '../four-eyes/operator-credentials.js'
import { createRunSteps } from '../four-eyes/run-steps.js'
import type { Ledger } from '../ledger/index.js'
import { migrateGatewayDatabase } from '../migrations.js'
import { balanceLocks } from '../payouts/balance-locks.js'
import { CardRefundError, type CardRefundService, type RefundRequestState } from './refunds.js'

export type RefundRunState = 'created' | 'approved' | 'executed' | 'cancelled'

export type RefundRunErrorCode =
  /** No run with this id. */
  | 'unknown_refund_run'
  /** The operator who created the run tried to approve it. */
  | 'approver_is_creator'
  /** Approve on a run that is not `created`. */
  | 'refund_run_not_approvable'
  /** Cancel on an executed or cancelled run. */
  | 'refund_run_not_cancellable'
  /** Execute on a run that is not approved (an executed one is a replay, not an error). */
  | 'refund_run_not_executable'
  /** maxCount or maxSum are not whole numbers above zero within bounds. */
  | 'invalid_refund_run_limits'
  /** No operator name, or one that is not 1..64 printable characters. */
  | 'invalid_operator'
  /** No guest is eligible (or fits the limits). */
  | 'empty_refund_run'

export class RefundRunError extends Error {
  override name = 'RefundRunError'
  constructor(
    readonly code: RefundRunErrorCode,
    message: string,
  ) {
    super(message)
  }
}

export interface RefundRunSummary {
  id: number
  state: RefundRunState
  createdBy: string
  createdAt: number
  approvedBy: string | null
  approvedAt: number | null
  executedBy: string | null
  executedAt: number | null
  cancelledBy: string | null
  cancelledAt: number | null
  maxCount: number | null
  maxSum: number | null
  /** Guests in the run and the cents planned for them when it was made. */
  itemCount: number
  itemSum: number
  /** At execution: the refunds booked and their cents. */
  bookedCount: number
  bookedSum: number
}

export interface RefundRunItem {
  uid: string
  /** Cents planned when the run was made. */
  amount: number
  /** The refund request booked at execution (refunds.ts), or null. */
  refundId: string | null
  /** Cents booked at execution, or null when nothing was. */
  booked: number | null
  /** Why less (or nothing) was booked than planned. */
  note: string | null
  /** The refund request's state now (pending until the provider answered every part), or null before execution or without a request. */
  refundState: RefundRequestState | null
  /** Cents the provider refused (booked back onto the wristband), with its reasons. */
  refusedCents: number
  refusedReasons: string[]
}

export interface RefundRunEvent {
  action: 'created' | 'approved' | 'cancelled' | 'executed' | 'executed_again' | 'refused'
  operator: string
  at: number
  detail: string | null
}

export interface RefundRun extends RefundRunSummary {
  /** Items by the state of their refund: how far the sending has come. */
  progress: { notBooked: number; pending: number; refunded: number; partlyRefused: number; refused: number; refusedCents: number }
  items: RefundRunItem[]
  events: RefundRunEvent[]
}

export interface RefundRunExecution {
  run: RefundRun
  /** False: this call booked the refunds; true: an earlier execution did, nothing changed. */
  replay: boolean
}

export interface CreateRefundRunOptions {
  operator: string
  maxCount?: number
  /** Cents. */
  maxSum?: number
}

export interface RefundRuns {
  create(options: CreateRefundRunOptions): RefundRun
  list(): RefundRunSummary[]
  get(id: number): RefundRun
  approve(id: number, operator: string): RefundRun
  cancel(id: number, operator: string): RefundRun
  execute(id: number, operator: string): RefundRunExecution
}

export interface RefundRunsDeps {
  /** The ledger's own connection: the run's state and every refund's booking share one SQLite transaction. */
  db: SqlDatabase
  ledger: Pick<Ledger, 'wristband'>
  refunds: Pick<CardRefundService, 'refundable' | 'book' | 'get'>
  clock: Clock
  logger: Logger
  /** The portal's accepted IBAN countries (upper case); null accepts any valid IBAN. Payout data that passes is a payout run's, not ours. */
  allowedCountryCodes(): readonly string[] | null
  /** Called after an execution that booked refunds (the gateway starts sending them at once instead of at the next recovery run). */
  afterExecute?: () => void
}

const MAX_NOTE_LENGTH = 300

interface RunRow {
  id: number
  state: RefundRunState
  created_by: string
  created_at: number
  approved_by: string | null
  approved_at: number | null
  executed_by: string | null
  executed_at: number | null
  cancelled_by: string | null
  cancelled_at: number | null
  max_count: number | null
  max_sum: number | null
  item_count: number
  item_sum: number
  booked_count: number
  booked_sum: number
}

interface ItemRow {
  run_id: number
  uid: string
  amount: number
  refund_id: string | null
  booked: number | null
  note: string | null
}

interface PayoutDataRow {
  iban: string | null
  account_name: string | null
  email: string | null
}

const checkOperator = (operator: unknown): string => checkOperatorName(operator, (message) => new RefundRunError('invalid_operator', message))

function checkLimit(name: string, value: unknown, max: number): number | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max)
    throw new RefundRunError('invalid_refund_run_limits', `${name} must be a whole number from 1 to ${max}`)
  return value
}

const summaryOf = (row: RunRow): RefundRunSummary => ({
  id: row.id,
  state: row.state,
  createdBy: row.created_by,
  createdAt: row.created_at,
  approvedBy: row.approved_by,
  approvedAt: row.approved_at,
  executedBy: row.executed_by,
  executedAt: row.executed_at,
  cancelledBy: row.cancelled_by,
  cancelledAt: row.cancelled_at,
  maxCount: row.max_count,
  maxSum: row.max_sum,
  itemCount: row.item_count,
  itemSum: row.item_sum,
  bookedCount: row.booked_count,
  bookedSum: row.booked_sum,
})

const euros = (cents: number) => `${Math.trunc(cents / 100)}.${String(cents % 100).padStart(2, '0')}`

/** A run item's guest's first paid top-up (candidates' order), for ORDER BY: the item table has no key of its own that keeps it. */
const FIRST_TOPUP = `(SELECT MIN(t.created_at) FROM online_topups t WHERE t.uid = i.uid AND t.status = 'paid' AND t.provider_checkout_id IS NOT NULL)`

export function createRefundRuns(deps: RefundRunsDeps): RefundRuns {
  const { db, ledger, refunds, clock } = deps
  migrateGatewayDatabase(db)
  const log = deps.logger.child({ component: 'refund-runs' })
  // On PostgreSQL other gateways' kiosk batches book without the writer lock: the balances decided on are locked first (balance-locks.ts).
  const locks = balanceLocks(db)

  const q = {
    // Guests with a paid online top-up, in the order of their first one; those held by an open run of either kind are left out.
    // (Every ORDER BY here ends in a unique key, so SQLite and PostgreSQL list alike.)
    candidates: db.prepare<[], { uid: string }>(`
      SELECT t.uid FROM online_topups t
       WHERE t.status = 'paid' AND t.provider_checkout_id IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM card_refund_run_items r WHERE r.uid = t.uid AND r.open = 1)
         AND NOT EXISTS (SELECT 1 FROM payout_run_items p WHERE p.uid = t.uid AND p.open = 1)
       GROUP BY t.uid ORDER BY MIN(t.created_at), t.uid`),
    payoutData: db.prepare<[string], PayoutDataRow>(`SELECT iban, account_name, email FROM portal_customers WHERE uid = ? AND has_entered_info = 1`),
    insertRun: db.prepare<{ operator: string; at: number; maxCount: number | null; maxSum: number | null }, { id: number }>(`
      INSERT INTO card_refund_runs (state, created_by, created_at, max_count, max_sum, item_count, item_sum)
      VALUES ('created', @operator, @at, @maxCount, @maxSum, 0, 0) RETURNING id`),
    setTotals: db.prepare(`UPDATE card_refund_runs SET item_count = ?, item_sum = ? WHERE id = ?`),
    insertItem: db.prepare(`INSERT INTO card_refund_run_items (run_id, uid, amount) VALUES (?, ?, ?)`),
    run: db.prepare<[number], RunRow>(`
      SELECT r.*, (SELECT COUNT(*) FROM card_refund_run_items i WHERE i.run_id = r.id AND i.refund_id IS NOT NULL) AS booked_count,
             (SELECT COALESCE(SUM(i.booked), 0) FROM card_refund_run_items i WHERE i.run_id = r.id) AS booked_sum
        FROM card_refund_runs r WHERE r.id = ?`),
    runs: db.prepare<[], RunRow>(`
      SELECT r.*, (SELECT COUNT(*) FROM card_refund_run_items i WHERE i.run_id = r.id AND i.refund_id IS NOT NULL) AS booked_count,
             (SELECT COALESCE(SUM(i.booked), 0) FROM card_refund_run_items i WHERE i.run_id = r.id) AS booked_sum
        FROM card_refund_runs r ORDER BY r.id DESC`),
    // In the order of the guests' first paid top-up, as candidates listed them when the run was made.
    items: db.prepare<[number], ItemRow>(`SELECT run_id, uid, amount, refund_id, booked, note FROM card_refund_run_items i WHERE run_id = ? ORDER BY ${FIRST_TOPUP}, uid`),
    // Each item once: only one neither booked nor noted is taken, and the write says so.
    itemsToExecute: db.prepare<[number], ItemRow>(
      `SELECT run_id, uid, amount, refund_id, booked, note FROM card_refund_run_items i WHERE run_id = ? AND executed_at IS NULL ORDER BY ${FIRST_TOPUP}, uid`,
    ),
    closeItem: db.prepare(`UPDATE card_refund_run_items SET open = 0 WHERE run_id = ? AND uid = ?`),
    setOutcome: db.prepare(`UPDATE card_refund_run_items SET refund_id = ?, booked = ?, note = ?, executed_at = ? WHERE run_id = ? AND uid = ? AND executed_at IS NULL`),
    executed: db.prepare(`UPDATE card_refund_runs SET state = 'executed', executed_by = ?, executed_at = ? WHERE id = ? AND state = 'approved'`),
  }

  function runRow(id: number): RunRow {
    const row = Number.isSafeInteger(id) && id > 0 ? q.run.get(id) : undefined
    if (row === undefined) throw new RefundRunError('unknown_refund_run', `no refund run ${String(id).slice(0, 20)}`)
    return row
  }

  function itemView(row: ItemRow): RefundRunItem {
    const request = row.refund_id === null ? undefined : refunds.get(row.refund_id)
    const refused = request?.parts.filter((p) => p.state === 'refused') ?? []
    return {
      uid: row.uid,
      amount: row.amount,
      refundId: row.refund_id,
      booked: row.booked,
      note: row.note,
      refundState: request?.state ?? null,
      refusedCents: refused.reduce((sum, p) => sum + p.amountCents, 0),
      refusedReasons: refused.map((p) => p.reason ?? 'refused by the payment provider'),
    }
  }

  function get(id: number): RefundRun {
    const row = runRow(id)
    const items = q.items.all(row.id).map(itemView)
    const progress = { notBooked: 0, pending: 0, refunded: 0, partlyRefused: 0, refused: 0, refusedCents: 0 }
    for (const item of items) {
      if (item.refundState === null) progress.notBooked++
      else if (item.refundState === 'partly_refused') progress.partlyRefused++
      else progress[item.refundState]++
      progress.refusedCents += item.refusedCents
    }
    return { ...summaryOf(row), progress, items, events: steps.events(row.id) }
  }

  const steps = createRunSteps<RefundRun, RefundRunEvent['action']>({
    db,
    clock,
    log,
    tables: { runs: 'card_refund_runs', items: 'card_refund_run_items', events: 'card_refund_run_events' },
    kind: 'refund run',
    doneState: 'executed',
    checkOperator,
    runRow,
    get,
    refuse: (why, message) =>
      new RefundRunError(why === 'not_approvable' ? 'refund_run_not_approvable' : why === 'not_cancellable' ? 'refund_run_not_cancellable' : 'approver_is_creator', message),
  })
  const { event } = steps

  /** Whether the guest registered payout data a payout run would pay to: then the balance is theirs, not ours. */
  function hasPayoutData(uid: string, countries: readonly string[] | null): boolean {
    const data = q.payoutData.get(uid)
    if (data === undefined) return false
    return checkCustomerInfo({ iban: data.iban ?? '', accountName: data.account_name ?? '', email: data.email ?? '', donationCents: 0 }, countries).ok
  }

  const createTx = db.transaction((operator: string, maxCount: number | null, maxSum: number | null): number => {
    const runId = q.insertRun.get({ operator, at: clock.now(), maxCount, maxSum })!.id
    const countries = deps.allowedCountryCodes()
    let count = 0
    let sum = 0
    const candidates = q.candidates.all()
    locks.lockCustomers(candidates.map((c) => c.uid))
    for (const { uid } of candidates) {
      if (maxCount !== null && count >= maxCount) break
      const band = ledger.wristband(uid)
      // A blocked wristband (lost, or a top-up disputed) is an operator's to look at, by hand.
      if (band === undefined || band.blocked || band.balance <= 0) continue
      if (hasPayoutData(uid, countries)) continue
      const amount = refunds.refundable(uid).maxCents
      if (amount <= 0) continue
      if (maxSum !== null && sum + amount > maxSum) continue
      q.insertItem.run(runId, uid, amount)
      count++
      sum += amount
    }
    if (count === 0) throw new RefundRunError('empty_refund_run', 'no guest is eligible for a refund to the card (or fits the limits)')
    q.setTotals.run(count, sum, runId)
    event(runId, 'created', operator, JSON.stringify({ refunds: count, sum, maxCount, maxSum }))
    return runId
  })

  function create(options: CreateRefundRunOptions): RefundRun {
    if (typeof options !== 'object' || options === null) throw new RefundRunError('invalid_refund_run_limits', 'options must be an object')
    const operator = checkOperator(options.operator)
    const maxCount = checkLimit('maxCount', options.maxCount, 1_000_000)
    const maxSum = checkLimit('maxSum', options.maxSum, Number.MAX_SAFE_INTEGER - MAX_AMOUNT_CENTS)
    const id = createTx.immediate(operator, maxCount, maxSum)
    const run = get(id)
    log.info({ run: id, operator, refunds: run.itemCount, sum: run.itemSum }, 'refund run created: its wristbands cannot spend until it is executed or cancelled')
    return run
  }

  /** One item's refund, inside the execution's transaction: what was booked, or why nothing or less was. */
  function executeItem(item: ItemRow, operator: string): { refundId: string | null; booked: number | null; note: string | null } {
    // Closed first: the open item holds the wristband against refunds too (in_refund_run), and it is this run's now.
    q.closeItem.run(item.run_id, item.uid)
    const band = ledger.wristband(item.uid)
    if (band === undefined) return { refundId: null, booked: null, note: 'the wristband is no longer known' }
    if (band.blocked)
      return { refundId: null, booked: null, note: 'blocked since the run was made (lost, or a top-up disputed): not refunded; an operator may refund it by hand after looking at it' }
    const fits = Math.min(item.amount, refunds.refundable(item.uid).maxCents)
    if (fits <= 0) return { refundId: null, booked: null, note: `nothing left to refund to the card (balance ${euros(Math.max(0, band.balance))})` }
    try {
      const made = refunds.book({ uid: item.uid, amountCents: fits, by: { via: 'operator', operator } })
      const note = fits < item.amount ? `the balance changed since the run was made: ${euros(fits)} of ${euros(item.amount)} refunded` : null
      return { refundId: made.id, booked: made.amountCents, note }
    } catch (err) {
      // Refused by the refund service (nothing booked: its savepoint rolled back): in a payout run since, ...
      if (err instanceof CardRefundError) return { refundId: null, booked: null, note: `not refunded (${err.code}): ${err.message}`.slice(0, MAX_NOTE_LENGTH) }
      throw err
    }
  }

  const executeTx = db.transaction((id: number, operator: string): { replay: boolean; booked: number; noted: number } => {
    const row = runRow(id)
    if (row.state === 'executed') {
      event(id, 'executed_again', operator)
      return { replay: true, booked: 0, noted: 0 }
    }
    if (row.state !== 'approved') throw new RefundRunError('refund_run_not_executable', `refund run ${id} is ${row.state}: only an approved run can be executed`)
    const now = clock.now()
    let booked = 0
    let noted = 0
    const items = q.itemsToExecute.all(id)
    locks.lockCustomers(items.map((item) => item.uid))
    for (const item of items) {
      const outcome = executeItem(item, operator)
      if (q.setOutcome.run(outcome.refundId, outcome.booked, outcome.note, now, id, item.uid).changes !== 1) throw new Error(`refund run ${id}: item ${item.uid} was executed twice`)
      if (outcome.refundId !== null) booked++
      if (outcome.note !== null) noted++
    }
    q.executed.run(operator, now, id)
    steps.closeItems(id)
    event(id, 'executed', operator, JSON.stringify({ booked, noted }))
    return { replay: false, booked, noted }
  })

  function execute(id: number, operator: string): RefundRunExecution {
    const who = checkOperator(operator)
    const outcome = executeTx.immediate(id, who)
    const run = get(id)
    if (!outcome.replay) {
      log.info({ run: id, operator: who, booked: outcome.booked, sum: run.bookedSum, noted: outcome.noted }, 'refund run executed: refunds booked, the recovery loop sends them')
      if (outcome.noted > 0) log.warn({ run: id, items: run.items.filter((i) => i.note !== null).map((i) => ({ uid: i.uid, note: i.note })) }, 'refund run: items refunded less than planned or not at all')
      try {
        deps.afterExecute?.()
      } catch (err) {
        log.error({ err }, 'refund run: starting to send failed (the recovery loop sends them)')
      }
    }
    return { run, replay: outcome.replay }
  }

  return { create, list: () => q.runs.all().map(summaryOf), get, approve: steps.approve, cancel: steps.cancel, execute }
}
