// `wristpay-gateway audit [--db FILE] [--json]`: audits a ledger database file
// (by default the configured data dir's, as the daemon finds it) and prints
// each finding. It only reads, so it is safe next to a running gateway.
// Exit codes: 0 the books add up, 1 findings, 2 usage or a file it cannot read.
import { join } from 'node:path'
import { parseFlags, parseOrUsage, type CommandOutput } from '../admin-command.js'
import { DB_FILE_NAME } from '../app.js'
import { ConfigError, loadConfig } from '../config.js'
import { auditLedgerDatabase, type AuditResult } from './audit.js'

export const AUDIT_USAGE = `  audit [--db FILE] [--config FILE] [--json]
      Recomputes the books from the ledger database (default: the configured
      data dir's ${DB_FILE_NAME}; read-only, safe while the gateway runs):
      signatures, each kiosk's chain, postings, balances, deposits, debts and
      external bookings. Prints each finding (--json: one JSON object); exits 0
      when clean, 1 with findings, 2 when the file cannot be read.
`

export class AuditUsageError extends Error {
  override name = 'AuditUsageError'
}

export interface AuditCommand {
  db?: string
  configFile?: string
  json: boolean
}

export function parseAuditArgs(args: readonly string[]): AuditCommand {
  const values = parseFlags(args, { db: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' } }, (message) => new AuditUsageError(message))
  if (values.db !== undefined && values.config !== undefined) throw new AuditUsageError('--db names the file itself: --config only says where to find it')
  return { json: values.json === true, ...(values.db === undefined ? {} : { db: values.db }), ...(values.config === undefined ? {} : { configFile: values.config }) }
}

/** The human form: one line per finding, then what was checked. */
export function formatAuditReport(file: string, result: AuditResult): string {
  const c = result.checked
  const checked = `${c.kiosks} kiosks, ${c.transactions} transactions, ${c.postings} postings, ${c.accounts} accounts, ${c.externalBookings} external bookings, ${c.debts} debts`
  // Every message names its object already; --json gives the object as fields.
  const lines = result.findings.map((f) => `${f.code}  ${f.message}`)
  const verdict = result.findings.length === 0 ? `audit of ${file}: clean (${checked})` : `audit of ${file}: ${result.findings.length} finding${result.findings.length === 1 ? '' : 's'} (checked ${checked})`
  return `${[...lines, verdict].join('\n')}\n`
}

function ledgerFile(command: AuditCommand, env: NodeJS.ProcessEnv): string {
  if (command.db !== undefined) return command.db
  return join(loadConfig({ file: command.configFile, env, overrides: {} }).dataDir, DB_FILE_NAME)
}

export function runAuditCommand(args: readonly string[], env: NodeJS.ProcessEnv, io: CommandOutput): number {
  const command = parseOrUsage(() => parseAuditArgs(args), AuditUsageError, AUDIT_USAGE, io)
  if (command === 2) return 2
  let file: string
  let result: AuditResult
  try {
    file = ledgerFile(command, env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    io.stderr(`wristpay-gateway: ${err.message}\n`)
    return 2
  }
  try {
    result = auditLedgerDatabase({ path: file })
  } catch (err) {
    // Missing, not SQLite, not a ledger (no such table) or locked: the books could not be read at all.
    io.stderr(`wristpay-gateway: cannot audit ${file}: ${(err as Error).message}\n`)
    return 2
  }
  if (command.json) io.stdout(`${JSON.stringify({ db: file, clean: result.findings.length === 0, findings: result.findings, checked: result.checked })}\n`)
  else io.stdout(formatAuditReport(file, result))
  return result.findings.length === 0 ? 0 : 1
}
