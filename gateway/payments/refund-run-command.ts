// `wristpay-gateway refund-run create|list|show|approve|cancel|execute`: the
// refund runs through the running gateway's admin API, as `payout` does for
// payout runs (gateway/payouts/payout-command.ts): every step goes through the
// one process that writes the ledger, and who acts is the operator whose
// credentials are in WRISTPAY_OPERATOR (name:token), never an argument.
import { askGateway, euros, OPERATOR_ENV, operatorTarget, parseOrUsage, parseRunArgs, runActionRequest, type OperatorCommandIo, type RunCommandArgs } from '../admin-command.js'

export const REFUND_RUN_USAGE = `  refund-run create [--max-count N] [--max-sum EUROS]
  refund-run list
  refund-run show RUN
  refund-run approve RUN
  refund-run cancel RUN
  refund-run execute RUN
                   [--config FILE] [--url URL]
      Refund runs of the running gateway: after the event, the balance of every
      guest who topped up online and registered no payout data goes back to the
      card (four eyes: another operator approves than the one who created). The
      run's wristbands cannot spend until it is executed or cancelled. execute
      books the refunds and returns at once; the gateway sends them to the
      provider in the background (show RUN tells how far it has come, and lists
      refused ones, whose money is back on the wristband). The operator is named
      by ${OPERATOR_ENV}=name:token, the gateway by its config (or --url).
`

const ACTIONS = ['create', 'list', 'show', 'approve', 'cancel', 'execute'] as const
type Action = (typeof ACTIONS)[number]

export type RefundRunCommand = RunCommandArgs<Action>

export class RefundRunUsageError extends Error {
  override name = 'RefundRunUsageError'
}

export function parseRefundRunArgs(args: readonly string[]): RefundRunCommand {
  return parseRunArgs(args, ACTIONS, (message) => new RefundRunUsageError(message)).command
}

export type RefundRunCommandIo = OperatorCommandIo

interface RunJson {
  id: number
  state: string
  createdBy: string
  approvedBy: string | null
  executedBy: string | null
  itemCount: number
  itemSum: number
  bookedCount: number
  bookedSum: number
}

function runLine(run: RunJson): string {
  const booked = run.state === 'executed' ? `, ${run.bookedCount} booked for ${euros(run.bookedSum)} EUR` : ''
  return `run ${run.id}: ${run.state}, ${run.itemCount} refunds, ${euros(run.itemSum)} EUR${booked}; created by ${run.createdBy}${run.approvedBy ? `, approved by ${run.approvedBy}` : ''}${run.executedBy ? `, executed by ${run.executedBy}` : ''}\n`
}

/** Runs `refund-run ...` (the arguments after it); resolves with the exit code: 0 done, 1 refused or unreachable, 2 usage or config. */
export async function runRefundRunCommand(args: readonly string[], env: NodeJS.ProcessEnv, io: RefundRunCommandIo): Promise<number> {
  const command = parseOrUsage(() => parseRefundRunArgs(args), RefundRunUsageError, REFUND_RUN_USAGE, io)
  if (command === 2) return 2
  const target = operatorTarget(command, env, io)
  if (target === 2) return 2
  const answer = await askGateway(target, runActionRequest('/refund-runs', command), io)
  if (answer === 1) return 1
  if (command.action === 'list') {
    for (const run of answer.json as RunJson[]) io.stdout(runLine(run))
    if ((answer.json as RunJson[]).length === 0) io.stdout('no refund runs\n')
    return 0
  }
  if (command.action === 'show') {
    io.stdout(`${JSON.stringify(answer.json, null, 2)}\n`)
    return 0
  }
  if (command.action === 'execute') {
    const executed = answer.json as { run: RunJson & { items: Array<{ uid: string; note: string | null }> }; replay: boolean }
    io.stdout(runLine(executed.run))
    // Guests refunded less than planned, or not at all, and why: the finance team looks at them.
    for (const item of executed.run.items) if (item.note !== null) io.stdout(`  ${item.uid}: ${item.note}\n`)
    io.stderr(executed.replay ? `run ${executed.run.id} was executed before: nothing booked now\n` : `run ${executed.run.id} executed: the gateway sends the refunds now\n`)
    return 0
  }
  io.stdout(runLine(answer.json as RunJson))
  return 0
}
