// The steps every run with four eyes takes the same way (payout runs,
// gateway/payouts/payout-runs.ts; refund runs, gateway/payments/refund-runs.ts):
// its event log (who, when, what), approval by another operator than the
// creator, and cancellation before the run's last step, which closes its items
// so the wristbands spend again. What a run holds, how it is made and its last
// step (export, execute) stay the run kind's own.
import type { SqlDatabase } from '../sql/database.js'
import type { Logger } from 'pino'
import type { Clock } from '../../device-protocol/index.js'

/** A refusal of these steps, for the run kind to name with its own error code. */
export type RunStepRefusal = 'approver_is_creator' | 'not_approvable' | 'not_cancellable'

export interface RunEvent<Action extends string> {
  action: Action
  operator: string
  at: number
  detail: string | null
}

export interface RunStepsDeps<Run> {
  db: SqlDatabase
  clock: Clock
  log: Logger
  /** The run kind's tables (constants of the code, never input): runs with state, approved_by/at, cancelled_by/at; items with run_id and open; events. */
  tables: { runs: string; items: string; events: string }
  /** How messages name a run: 'payout run'. */
  kind: string
  /** The run's last step as its state says it ('exported'): a run in it cannot be cancelled. */
  doneState: string
  /** The operator's name checked, or the run kind's invalid_operator error. */
  checkOperator(operator: unknown): string
  /** The run's row, or the run kind's unknown-run error. */
  runRow(id: number): { state: string; created_by: string }
  /** The run as answered after a step. */
  get(id: number): Run
  refuse(why: RunStepRefusal, message: string): Error
}

export interface RunSteps<Run, Action extends string> {
  /** Writes one row of the run's event log, at the clock's now. */
  event(runId: number, action: Action, operator: string, detail?: string | null): void
  events(runId: number): Array<RunEvent<Action>>
  /** The items no longer hold their wristbands. */
  closeItems(runId: number): void
  approve(id: number, operator: string): Run
  cancel(id: number, operator: string): Run
}

export function createRunSteps<Run, Action extends string>(deps: RunStepsDeps<Run>): RunSteps<Run, Action> {
  const { db, clock, log, tables, kind } = deps
  const q = {
    events: db.prepare<[number], RunEvent<Action>>(`SELECT action, operator, at, detail FROM ${tables.events} WHERE run_id = ? ORDER BY id`),
    insertEvent: db.prepare(`INSERT INTO ${tables.events} (run_id, action, operator, at, detail) VALUES (?, ?, ?, ?, ?)`),
    approve: db.prepare(`UPDATE ${tables.runs} SET state = 'approved', approved_by = ?, approved_at = ? WHERE id = ? AND state = 'created'`),
    cancel: db.prepare(`UPDATE ${tables.runs} SET state = 'cancelled', cancelled_by = ?, cancelled_at = ? WHERE id = ? AND state IN ('created', 'approved')`),
    closeItems: db.prepare(`UPDATE ${tables.items} SET open = 0 WHERE run_id = ?`),
  }

  const event = (runId: number, action: Action, operator: string, detail: string | null = null) => {
    q.insertEvent.run(runId, action, operator, clock.now(), detail)
  }
  const closeItems = (runId: number) => {
    q.closeItems.run(runId)
  }

  const approveTx = db.transaction((id: number, operator: string) => {
    const row = deps.runRow(id)
    if (row.state !== 'created') throw deps.refuse('not_approvable', `${kind} ${id} is ${row.state}: only a created run can be approved`)
    if (row.created_by === operator) return 'creator' as const
    q.approve.run(operator, clock.now(), id)
    event(id, 'approved' as Action, operator)
    return 'approved' as const
  })

  function approve(id: number, operator: string): Run {
    const who = deps.checkOperator(operator)
    if (approveTx.immediate(id, who) === 'creator') {
      // The refusal is an operator action too: whoever reads the run sees the attempt.
      event(id, 'refused' as Action, who, 'approve by the creator')
      log.warn({ run: id, operator: who }, `${kind}: the creator tried to approve it`)
      throw deps.refuse('approver_is_creator', `${kind} ${id} was created by ${who}: another operator must approve it`)
    }
    log.info({ run: id, operator: who }, `${kind} approved`)
    return deps.get(id)
  }

  const cancelTx = db.transaction((id: number, operator: string) => {
    const row = deps.runRow(id)
    if (row.state !== 'created' && row.state !== 'approved')
      throw deps.refuse('not_cancellable', `${kind} ${id} is ${row.state}: only a run not yet ${deps.doneState} can be cancelled`)
    q.cancel.run(operator, clock.now(), id)
    closeItems(id)
    event(id, 'cancelled' as Action, operator)
  })

  function cancel(id: number, operator: string): Run {
    const who = deps.checkOperator(operator)
    cancelTx.immediate(id, who)
    log.info({ run: id, operator: who }, `${kind} cancelled: its wristbands spend again`)
    return deps.get(id)
  }

  return { event, events: (runId) => q.events.all(runId), closeItems, approve, cancel }
}
