// `wristpay-gateway reconcile provider`: asks the running gateway to reconcile
// the payments provider's payouts (POST /admin/reconciliation/run), or shows the
// latest report (--show, GET /admin/reconciliation), and prints its summary. The
// gateway does the work: it is the one process that writes the ledger, so the
// command only talks to its admin API, as `bank import` talks to its bank API.
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig, type GatewayConfig } from '../config.js'
import { jsonHttpTransport, type JsonTransport } from '../json-http-client.js'
import { askGateway, gatewayBaseUrl } from '../admin-command.js'
import type { ReconciliationReport } from './reconciliation.js'

export const RECONCILE_USAGE = `  reconcile provider [--since] [--show] [--json] [--config FILE] [--url URL]
      Reconciles the payments provider's payouts with the ledger on the running
      gateway and prints the report's summary (--json: the whole report). Every
      payout is read again unless --since (from where the last run left off);
      --show prints the latest report without a run. Exit code 0: clean, 3: the
      report lists mismatches, 1: refused or unreachable, 2: usage or config.
      The gateway is http://<http.host>:<http.port> of the config (or --url), with
      its adminToken (config or WRISTPAY_GATEWAY_ADMIN_TOKEN).
`

export interface ReconcileCommand {
  mode: 'all' | 'since'
  show: boolean
  json: boolean
  configFile?: string
  url?: string
}

export class ReconcileUsageError extends Error {
  override name = 'ReconcileUsageError'
}

/** The arguments after `reconcile`. Throws ReconcileUsageError. */
export function parseReconcileArgs(args: readonly string[]): ReconcileCommand {
  if (args[0] !== 'provider') throw new ReconcileUsageError(args[0] === undefined ? 'reconcile needs a command: provider' : `unknown reconcile command ${JSON.stringify(args[0])} (known: provider)`)
  let values
  try {
    ;({ values } = parseArgs({
      args: args.slice(1),
      strict: true,
      allowPositionals: false,
      options: { since: { type: 'boolean' }, show: { type: 'boolean' }, json: { type: 'boolean' }, config: { type: 'string' }, url: { type: 'string' } },
    }))
  } catch (err) {
    throw new ReconcileUsageError((err as Error).message)
  }
  if (values.show && values.since) throw new ReconcileUsageError('--show runs nothing: it does not take --since')
  return {
    mode: values.since ? 'since' : 'all',
    show: values.show === true,
    json: values.json === true,
    ...(values.config !== undefined ? { configFile: values.config } : {}),
    ...(values.url !== undefined ? { url: values.url } : {}),
  }
}

const euros = (cents: number) => `${cents < 0 ? '-' : ''}${Math.trunc(Math.abs(cents) / 100)}.${String(Math.abs(cents) % 100).padStart(2, '0')}`

/** The report as lines a finance team reads: one per payout, then every mismatch. */
export function reportSummary(report: ReconciliationReport): string {
  const lines: string[] = []
  const booked = report.booked.payouts === 0 ? 'nothing booked now' : `${report.booked.payouts} payouts booked now (net ${euros(report.booked.net)}, fees ${euros(report.booked.fees)})`
  lines.push(`${report.provider}: ${report.payouts.length} payouts, ${report.matched.length} items matched, ${booked}: ${report.clean ? 'clean' : 'MISMATCHES'}`)
  for (const p of report.payouts) {
    lines.push(
      `  payout ${p.id} ${p.date ?? '-'} ${p.status}: payments ${euros(p.payments.amount)} (${p.matched.payments}/${p.payments.count} matched), refunds ${euros(p.refunds.amount)} (${p.matched.refunds}/${p.refunds.count}), disputes ${euros(p.disputes.amount)} (${p.matched.disputes}/${p.disputes.count}), fees ${euros(p.fees + p.feesVat)}, net ${euros(p.net)} ${p.currency.toUpperCase()} [${p.booking}]`,
    )
  }
  for (const m of report.missingInLedger) lines.push(`  missing in the ledger: ${m.kind} ${m.id} of ${euros(m.amount)} in payout ${m.payoutId} (${m.reason})`)
  for (const m of report.missingAtProvider) lines.push(`  missing at the provider: ${m.kind} ${m.id}${m.providerId ? ` (${m.providerId})` : ''} of ${euros(m.amount)} for wristband ${m.uid}`)
  for (const d of report.amountDifferences) lines.push(`  difference: ${d.kind} ${d.id} in payout ${d.payoutId}: provider ${euros(d.provider)}, ledger ${euros(d.ledger)} (${d.what})`)
  for (const m of report.matched) if (m.openDebt !== undefined) lines.push(`  open debt: dispute ${m.id} took ${euros(m.amount)}, ${euros(m.openDebt)} of it not covered by the guest's balance`)
  // Open disputes are in no payout yet: listed so the report shows them, though they are no mismatch (reports stored before the list lack it).
  for (const d of report.openDisputes ?? []) {
    lines.push(`  open dispute: ${d.id} on wristband ${d.wristband ?? '-'} of ${euros(d.amountCents)} since ${new Date(d.since).toISOString()}: ${euros(d.bookedCents)} booked off the balance, ${euros(d.openDebtCents)} open debt`)
  }
  return `${lines.join('\n')}\n`
}

export interface ReconcileCommandIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** How the command reaches the gateway (tests pass app.inject or a local server). */
  transport?: (baseUrl: string, adminToken: string) => JsonTransport
}

export function adminTransport(baseUrl: string, adminToken: string): JsonTransport {
  const transport = jsonHttpTransport(baseUrl, { authorization: `Bearer ${adminToken}` }, 120_000)
  return (request) => transport({ ...request, path: `/admin${request.path}` })
}

/** Runs `reconcile ...` (the arguments after it); resolves with the exit code. */
export async function runReconcileCommand(args: readonly string[], env: NodeJS.ProcessEnv, io: ReconcileCommandIo): Promise<number> {
  let command: ReconcileCommand
  try {
    command = parseReconcileArgs(args)
  } catch (err) {
    if (!(err instanceof ReconcileUsageError)) throw err
    io.stderr(`wristpay-gateway: ${err.message}\n\nUsage:\n${RECONCILE_USAGE}`)
    return 2
  }
  let config: GatewayConfig
  try {
    config = loadConfig({ file: command.configFile, env, overrides: {} })
    if (config.adminToken === undefined) throw new ConfigError('no admin token: set "adminToken" in the config file or WRISTPAY_GATEWAY_ADMIN_TOKEN')
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    io.stderr(`wristpay-gateway: ${err.message}\n`)
    return 2
  }
  const baseUrl = command.url ?? gatewayBaseUrl(config)
  const target = { baseUrl, transport: (io.transport ?? adminTransport)(baseUrl, config.adminToken) }
  const answer = await askGateway(target, command.show ? { method: 'GET', path: '/reconciliation' } : { method: 'POST', path: '/reconciliation/run', body: { mode: command.mode } }, io)
  if (answer === 1) return 1
  const report = answer.json as ReconciliationReport
  io.stdout(command.json ? `${JSON.stringify(report, null, 2)}\n` : reportSummary(report))
  return report.clean ? 0 : 3
}
