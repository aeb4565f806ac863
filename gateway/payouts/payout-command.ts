// `wristpay-gateway payout create|list|show|approve|cancel|export`: the finance
// team's payout runs through the running gateway's admin API, so every step
// goes through the one process that writes the ledger. Who acts is the
// operator whose credentials are in WRISTPAY_OPERATOR (name:token, an operator
// account of the gateway's config): never an argument, so nobody approves as
// someone else by typing a name, and the token stays out of `ps`.
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { askGateway, euros, OPERATOR_ENV, operatorTarget, parseOrUsage, runActionRequest, type OperatorCommandIo } from '../admin-command.js'

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

export interface PayoutCommand {
  action: Action
  runId?: number
  maxCount?: number
  /** Cents. */
  maxSum?: number
  out?: string
  configFile?: string
  url?: string
}

export class PayoutUsageError extends Error {
  override name = 'PayoutUsageError'
}

/** Euros as the finance team writes them (1234.50) to cents; refuses anything else (1e3, 12,34, -1). */
export function centsOfEuros(text: string): number {
  const m = /^(\d{1,12})(?:\.(\d{1,2}))?$/.exec(text)
  if (m === null) throw new PayoutUsageError(`--max-sum must be an amount in euros like 1500 or 1500.50, got ${JSON.stringify(text)}`)
  const cents = Number(m[1]) * 100 + Number((m[2] ?? '0').padEnd(2, '0'))
  if (cents <= 0) throw new PayoutUsageError('--max-sum must be above zero')
  return cents
}

export function parsePayoutArgs(args: readonly string[]): PayoutCommand {
  let parsed
  try {
    parsed = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: true,
      options: { 'max-count': { type: 'string' }, 'max-sum': { type: 'string' }, out: { type: 'string' }, config: { type: 'string' }, url: { type: 'string' } },
    })
  } catch (err) {
    throw new PayoutUsageError((err as Error).message)
  }
  const [action, run, ...rest] = parsed.positionals
  if (action === undefined || !(ACTIONS as readonly string[]).includes(action)) throw new PayoutUsageError(`the action must be one of ${ACTIONS.join(', ')}`)
  const command: PayoutCommand = { action: action as Action }
  const needsRun = action !== 'create' && action !== 'list'
  if (rest.length > 0 || (!needsRun && run !== undefined)) throw new PayoutUsageError('too many arguments')
  if (needsRun) {
    if (run === undefined || !/^[1-9]\d{0,14}$/.test(run)) throw new PayoutUsageError(`${action} needs the run's number`)
    command.runId = Number(run)
  }
  const { values } = parsed
  if (action !== 'create' && (values['max-count'] !== undefined || values['max-sum'] !== undefined)) throw new PayoutUsageError('--max-count and --max-sum belong to create')
  if (action !== 'export' && values.out !== undefined) throw new PayoutUsageError('--out belongs to export')
  if (values['max-count'] !== undefined) {
    if (!/^[1-9]\d{0,5}$/.test(values['max-count'])) throw new PayoutUsageError('--max-count must be a whole number from 1 to 999999')
    command.maxCount = Number(values['max-count'])
  }
  if (values['max-sum'] !== undefined) command.maxSum = centsOfEuros(values['max-sum'])
  if (values.out !== undefined) command.out = values.out
  if (values.config !== undefined) command.configFile = values.config
  if (values.url !== undefined) command.url = values.url
  return command
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
