// `wristpay-gateway payout create|list|show|approve|cancel|export`: the finance
// team's payout runs through the running gateway's admin API, so every step
// goes through the one process that writes the ledger. Who acts is the
// operator whose credentials are in WRISTPAY_OPERATOR (name:token, an operator
// account of the gateway's config): never an argument, so nobody approves as
// someone else by typing a name, and the token stays out of `ps`.
import { writeFileSync } from 'node:fs'
import { askGateway, centsOfEurosOr, euros, OPERATOR_ENV, operatorTarget, parseOrUsage, parseRunArgs, runActionRequest, type OperatorCommandIo, type RunCommandArgs } from '../admin-command.js'

// Where they were first: other modules and tests import them from here.
export { adminHttpTransport, OPERATOR_ENV, type AdminTransport } from '../admin-command.js'

export const PAYOUT_USAGE = `  payout create [--max-count N] [--max-sum EUROS]
  payout list
  payout show RUN
  payout approve RUN
  payout cancel RUN
  payout export RUN [--out FILE]
                   [--config FILE] [--url URL]
      Payout runs of the running gateway (four eyes: another operator approves
      than the one who created). The operator is named by ${OPERATOR_ENV}=name:token
      (an operator account of the config); the gateway by its config (or --url)
      with its adminToken (config or WRISTPAY_GATEWAY_ADMIN_TOKEN). create names
      the guests it left out because the bank files cannot carry their payout
      data. export books the payouts and writes the run with its payouts and the
      bank files (pain.001.001.09, .03, CSV; needs portal.bankAccount) as JSON to
      FILE (or stdout); if the files cannot be written it books nothing, writes
      nothing and names the payouts at fault.
`

const ACTIONS = ['create', 'list', 'show', 'approve', 'cancel', 'export'] as const
type Action = (typeof ACTIONS)[number]

export interface PayoutCommand extends RunCommandArgs<Action> {
  out?: string
}

export class PayoutUsageError extends Error {
  override name = 'PayoutUsageError'
}

/** Euros as the finance team writes them (1234.50) to cents; refuses anything else (1e3, 12,34, -1). */
export const centsOfEuros = (text: string): number => centsOfEurosOr(text, (message) => new PayoutUsageError(message))

export function parsePayoutArgs(args: readonly string[]): PayoutCommand {
  const { command, values } = parseRunArgs(args, ACTIONS, (message) => new PayoutUsageError(message), {
    options: { out: { type: 'string' } },
    check: (action, own) => {
      if (action !== 'export' && own.out !== undefined) throw new PayoutUsageError('--out belongs to export')
    },
  })
  return values.out === undefined ? command : { ...command, out: values.out }
}

export type PayoutCommandIo = OperatorCommandIo

interface RunJson {
  id: number
  state: string
  createdBy: string
  approvedBy: string | null
  exportedBy: string | null
  payoutCount: number
  payoutSum: number
  donationSum: number
}

function runLine(run: RunJson): string {
  return `run ${run.id}: ${run.state}, ${run.payoutCount} payouts, ${euros(run.payoutSum)} EUR, donations ${euros(run.donationSum)} EUR; created by ${run.createdBy}${run.approvedBy ? `, approved by ${run.approvedBy}` : ''}${run.exportedBy ? `, exported by ${run.exportedBy}` : ''}\n`
}

/** Runs `payout ...` (the arguments after it); resolves with the exit code: 0 done, 1 refused or unreachable, 2 usage or config. */
export async function runPayoutCommand(args: readonly string[], env: NodeJS.ProcessEnv, io: PayoutCommandIo): Promise<number> {
  const command = parseOrUsage(() => parsePayoutArgs(args), PayoutUsageError, PAYOUT_USAGE, io)
  if (command === 2) return 2
  const target = operatorTarget(command, env, io)
  if (target === 2) return 2
  const answer = await askGateway(target, runActionRequest('/payout-runs', command), io)
  if (answer === 1) return 1
  if (command.action === 'list') {
    for (const run of answer.json as RunJson[]) io.stdout(runLine(run))
    if ((answer.json as RunJson[]).length === 0) io.stdout('no payout runs\n')
    return 0
  }
  if (command.action === 'export') {
    const exported = answer.json as { run: RunJson; replay: boolean }
    // The answer carries the bank files (pain.001.001.09, .03 and the CSV, under `files`) when the event set-up names the organiser's account.
    const text = `${JSON.stringify(answer.json, null, 2)}\n`
    if (command.out !== undefined) writeFileSync(command.out, text, { mode: 0o600 })
    else io.stdout(text)
    io.stderr(exported.replay ? `run ${exported.run.id} was exported before: nothing booked now\n` : `run ${exported.run.id} exported: ${exported.run.payoutCount} payouts booked\n`)
    return 0
  }
  if (command.action === 'show') {
    io.stdout(`${JSON.stringify(answer.json, null, 2)}\n`)
    return 0
  }
  io.stdout(runLine(answer.json as RunJson))
  if (command.action === 'create') {
    // Guests with a balance whose payout data the bank files cannot carry: they wait until it is corrected.
    for (const guest of (answer.json as { skipped?: Array<{ uid: string; reason: string }> }).skipped ?? []) io.stdout(`  left out ${guest.uid}: ${guest.reason}\n`)
  }
  return 0
}
