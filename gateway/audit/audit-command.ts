// `wristpay-gateway audit [--db FILE | --store URL] [--json]`: audits a ledger
// database, a SQLite file or the PostgreSQL store (by default the one the
// configuration names, as the daemon finds it: config `store` or
// WRISTPAY_GATEWAY_STORE, else the data dir's file) and prints each finding.
// It only reads, so it is safe next to running gateways.
// Exit codes: 0 the books add up, 1 findings, 2 usage or a database it cannot read.
import { join } from 'node:path'
import { parseFlags, parseOrUsage, type CommandOutput } from '../admin-command.js'
import { DB_FILE_NAME } from '../app.js'
import { ConfigError, loadConfig } from '../config.js'
import { redactedUrl } from '../postgres/connection.js'
import { StorageConfigError } from '../storage.js'
import { auditLedgerDatabase, type AuditResult, type AuditSource } from './audit.js'

export const AUDIT_USAGE = `  audit [--db FILE | --store URL] [--config FILE] [--json]
      Recomputes the books from the ledger database (default: the configured
      store, else the data dir's ${DB_FILE_NAME}; read-only, safe while gateways
      run): signatures, each kiosk's chain, postings, balances, deposits, debts
      and external bookings. Prints each finding (--json: one JSON object);
      exits 0 when clean, 1 with findings, 2 when the database cannot be read.
`

export class AuditUsageError extends Error {
  override name = 'AuditUsageError'
}

export interface AuditCommand {
  db?: string
  /** A postgres:// URL, as the gateway's --store takes it. */
  store?: string
  configFile?: string
  json: boolean
}

export function parseAuditArgs(args: readonly string[]): AuditCommand {
  const values = parseFlags(args, { db: { type: 'string' }, store: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' } }, (message) => new AuditUsageError(message))
  if (values.db !== undefined && values.store !== undefined) throw new AuditUsageError('--db audits a SQLite file, --store a PostgreSQL store: name one of them')
  if (values.db !== undefined && values.config !== undefined) throw new AuditUsageError('--db names the file itself: --config only says where to find it')
  if (values.store !== undefined && values.config !== undefined) throw new AuditUsageError('--store names the database itself: --config only says where to find it')
  return {
    json: values.json === true,
    ...(values.db === undefined ? {} : { db: values.db }),
    ...(values.store === undefined ? {} : { store: values.store }),
    ...(values.config === undefined ? {} : { configFile: values.config }),
  }
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

/** The database to audit, and how the report names it (a store's URL without credentials). */
function auditTarget(command: AuditCommand, env: NodeJS.ProcessEnv): { source: AuditSource; where: string } {
  const store = (url: string) => ({ source: { store: url, env }, where: redactedUrl(url) })
  if (command.db !== undefined) return { source: { path: command.db }, where: command.db }
  if (command.store !== undefined) return store(command.store)
  // As the daemon reads it: defaults < config file < WRISTPAY_GATEWAY_* (STORE, DATA_DIR).
  const config = loadConfig({ file: command.configFile, env, overrides: {} })
  if (config.store !== undefined) return store(config.store)
  const file = join(config.dataDir, DB_FILE_NAME)
  return { source: { path: file }, where: file }
}

export function runAuditCommand(args: readonly string[], env: NodeJS.ProcessEnv, io: CommandOutput): number {
  const command = parseOrUsage(() => parseAuditArgs(args), AuditUsageError, AUDIT_USAGE, io)
  if (command === 2) return 2
  let target: { source: AuditSource; where: string }
  let result: AuditResult
  try {
    target = auditTarget(command, env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    io.stderr(`wristpay-gateway: ${err.message}\n`)
    return 2
  }
  try {
    result = auditLedgerDatabase(target.source)
  } catch (err) {
    // A store URL the gateway would refuse too (a password in it, an open passfile): its message says what to change.
    if (err instanceof StorageConfigError) {
      io.stderr(`wristpay-gateway: ${err.message}\n`)
      return 2
    }
    // Missing, not SQLite, unreachable, not a ledger (no such table) or locked: the books could not be read at all.
    io.stderr(`wristpay-gateway: cannot audit ${target.where}: ${(err as Error).message}\n`)
    return 2
  }
  if (command.json) io.stdout(`${JSON.stringify({ db: target.where, clean: result.findings.length === 0, findings: result.findings, checked: result.checked })}\n`)
  else io.stdout(formatAuditReport(target.where, result))
  return result.findings.length === 0 ? 0 : 1
}
