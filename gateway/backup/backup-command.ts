// `wristpay-gateway backup`: asks the running gateway for a backup now
// (POST /admin/backups with the admin token of its config, as `kiosk` does),
// or, with --offline, copies a stopped gateway's database file itself with the
// same checked, all-or-nothing backup.
import Database from 'better-sqlite3'
import { askGateway, gatewayBaseUrl, parseFlags, parseOrUsage, type CommandOutput, type OperatorTarget } from '../admin-command.js'
import { ConfigError, loadConfig } from '../config.js'
import { jsonHttpTransport } from '../json-http-client.js'
import { backupDatabase, type BackupCheck } from './backup.js'
import { storeBackupAdvice } from './store-backups.js'

export const BACKUP_USAGE = `  backup [--config FILE] [--url URL]
  backup --offline --db FILE --to DIR
      A checked backup of the ledger database: the running gateway writes it into
      its backup.dir (the file, its size and pages are printed); --offline copies
      the database FILE of a stopped gateway into DIR instead. The SQLite file
      only: with a PostgreSQL store it is refused and says what to run instead.
`

export class BackupUsageError extends Error {
  override name = 'BackupUsageError'
}

export type BackupCommand = { offline: false; configFile?: string; url?: string } | { offline: true; db: string; to: string }

export function parseBackupArgs(args: readonly string[]): BackupCommand {
  const values = parseFlags(
    args,
    { offline: { type: 'boolean' }, db: { type: 'string' }, to: { type: 'string' }, config: { type: 'string' }, url: { type: 'string' } },
    (message) => new BackupUsageError(message),
  )
  if (values.offline) {
    if (values.config !== undefined || values.url !== undefined) throw new BackupUsageError('--offline works on the file: --config and --url belong to a backup by the running gateway')
    if (values.db === undefined || values.to === undefined) throw new BackupUsageError('--offline needs --db FILE and --to DIR')
    return { offline: true, db: values.db, to: values.to }
  }
  if (values.db !== undefined || values.to !== undefined) throw new BackupUsageError('--db and --to belong to --offline (a stopped gateway)')
  return { offline: false, ...(values.config === undefined ? {} : { configFile: values.config }), ...(values.url === undefined ? {} : { url: values.url }) }
}

export interface BackupCommandIo extends CommandOutput {
  /** The admin API: a real HTTP client by default; tests pass app.inject. */
  transport?: (baseUrl: string, adminToken: string) => OperatorTarget['transport']
  /** Unix ms for an offline backup's name; default now. */
  now?: () => number
  /** The audit of an offline copy; the CLI passes the ledger audit. */
  check?: BackupCheck
}

function adminTarget(command: { configFile?: string; url?: string }, env: NodeJS.ProcessEnv, io: BackupCommandIo): OperatorTarget | 2 {
  try {
    const config = loadConfig({ file: command.configFile, env, overrides: {} })
    // The gateway would answer 409; the operator learns what to run instead without asking it.
    if (config.store !== undefined) throw new ConfigError(storeBackupAdvice(config.store))
    if (config.adminToken === undefined) throw new ConfigError('no admin token: set "adminToken" in the config file or WRISTPAY_GATEWAY_ADMIN_TOKEN')
    const baseUrl = command.url ?? gatewayBaseUrl(config)
    const transport = io.transport?.(baseUrl, config.adminToken) ?? jsonHttpTransport(baseUrl, { authorization: `Bearer ${config.adminToken}` }, 10 * 60_000)
    return { baseUrl, transport: (request) => transport({ ...request, path: `/admin${request.path}` }) }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    io.stderr(`wristpay-gateway: ${err.message}\n`)
    return 2
  }
}

/** Runs `backup ...` (the arguments after it); resolves with the exit code: 0 written, 1 failed or unreachable, 2 usage or config. */
export async function runBackupCommand(args: readonly string[], env: NodeJS.ProcessEnv, io: BackupCommandIo): Promise<number> {
  const command = parseOrUsage(() => parseBackupArgs(args), BackupUsageError, BACKUP_USAGE, io)
  if (command === 2) return 2
  if (command.offline) return offlineBackup(command, io)
  const target = adminTarget(command, env, io)
  if (target === 2) return 2
  const answer = await askGateway(target, { method: 'POST', path: '/backups', body: {} }, io)
  if (answer === 1) return 1
  const { file, bytes, pages } = answer.json as { file: string; bytes: number; pages: number }
  io.stdout(`backup written and checked: ${file} (${bytes} bytes, ${pages} pages)\n`)
  return 0
}

async function offlineBackup(command: { db: string; to: string }, io: BackupCommandIo): Promise<number> {
  if (/^postgres(ql)?:\/\//i.test(command.db)) {
    io.stderr(`wristpay-gateway: ${storeBackupAdvice(command.db)}\n`)
    return 2
  }
  let source: Database.Database
  try {
    // Read-only: a stopped gateway's file is copied, never changed (nor created when the path is wrong).
    source = new Database(command.db, { readonly: true, fileMustExist: true })
  } catch (err) {
    io.stderr(`wristpay-gateway: cannot open ${command.db}: ${(err as Error).message}\n`)
    return 1
  }
  try {
    const result = await backupDatabase({ db: source, dir: command.to, now: (io.now ?? Date.now)(), ...(io.check ? { check: io.check } : {}) })
    io.stdout(`backup written and checked: ${result.file} (${result.bytes} bytes, ${result.pages} pages)\n`)
    return 0
  } catch (err) {
    io.stderr(`wristpay-gateway: ${(err as Error).message}\n`)
    return 1
  } finally {
    source.close()
  }
}
