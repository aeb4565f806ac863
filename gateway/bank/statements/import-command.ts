// `wristpay-gateway bank import FILE`: a bank statement file becomes a bank
// import job of the running gateway. The file is parsed here (CAMT.053, MT940
// or CSV with a column mapping) and sent to the gateway's bank import jobs API
// (seed 003) as any bank tool would send it, so the job takes the same path as
// every other upload: the same checks, deduplication, matching and bookings,
// decided by the one process that writes the ledger, with its alerts. The
// command waits for the job and prints every transaction's result.
import { readFileSync, statSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { slugOfEventName } from '../../apis.js'
import { ConfigError, loadConfig, type GatewayConfig } from '../../config.js'
import { EventSetupError, loadEventSetup } from '../../event-setup.js'
import { STATEMENT_FORMATS, CSV_DATE_FORMATS, checkStatementSize, parseStatement, StatementFormatError, type CsvColumnMapping, type CsvDateFormat, type CsvStatementOptions, type ParsedStatement, type StatementFormat, type StatementTransaction } from './index.js'
import { jsonHttpTransport, type JsonTransport } from '../../json-http-client.js'
import { gatewayBaseUrl } from '../../admin-command.js'

export const BANK_IMPORT_USAGE = `  bank import FILE [--format camt053|mt940|csv] [--csv-columns MAPPING] [CSV options]
                   [--config FILE] [--url URL] [--organizer SLUG] [--wait-seconds N]
      Sends a bank statement file (CAMT.053, MT940, or CSV with a column mapping;
      the format is detected when not given) to the running gateway as a bank
      import job, waits for it and prints the result of every transaction.
      The gateway is http://<http.host>:<http.port> of the config (or --url), with
      its adminToken (config or WRISTPAY_GATEWAY_ADMIN_TOKEN); the organizer and
      event slugs are the config's bank.organizerSlug and bank.eventSlug, else the
      event's name in lower case with dashes (--organizer overrides the organizer).
      --csv-columns   field=column pairs joined by commas; fields date, amount,
                      payer, reference (needed), currency, iban, endToEndId,
                      returnReason; a column is a header name or a position from 1,
                      e.g. date=Buchungstag,amount=Betrag,payer=Name,reference=Verwendungszweck
      --csv-delimiter C        one character (default: guessed from the first line)
      --csv-decimal-comma      amounts are written 1.234,56
      --csv-date-format F      DD.MM.YYYY or YYYY-MM-DD (default)
      --csv-currency CODE      currency of every row without a currency column (default EUR)
      --csv-no-header          the first row is a transaction (columns by position only)
      --wait-seconds N         how long to wait for the job (default 120)
`

export interface BankImportCommand {
  file: string
  parse: { format?: StatementFormat; csv?: CsvStatementOptions }
  configFile?: string
  url?: string
  organizer?: string
  waitMs: number
}

export class BankUsageError extends Error {
  override name = 'BankUsageError'
}

const CSV_FIELDS: ReadonlyArray<keyof CsvColumnMapping> = ['date', 'amount', 'payer', 'reference', 'currency', 'iban', 'endToEndId', 'returnReason']

/** `field=column,...` to a column mapping: a column of digits only is a position. */
export function parseCsvColumns(text: string): CsvColumnMapping {
  const mapping: Partial<Record<keyof CsvColumnMapping, string | number>> = {}
  for (const pair of text.split(',')) {
    const at = pair.indexOf('=')
    const field = pair.slice(0, at).trim() as keyof CsvColumnMapping
    const column = pair.slice(at + 1).trim()
    if (at <= 0 || column === '') throw new BankUsageError(`--csv-columns: ${JSON.stringify(pair)} is not field=column`)
    if (!CSV_FIELDS.includes(field)) throw new BankUsageError(`--csv-columns: unknown field ${JSON.stringify(field)} (fields: ${CSV_FIELDS.join(', ')})`)
    if (mapping[field] !== undefined) throw new BankUsageError(`--csv-columns: ${field} is mapped twice`)
    mapping[field] = /^\d+$/.test(column) ? Number(column) : column
  }
  const missing = (['date', 'amount', 'payer', 'reference'] as const).filter((field) => mapping[field] === undefined)
  if (missing.length > 0) throw new BankUsageError(`--csv-columns: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not mapped`)
  return mapping as CsvColumnMapping
}

/** The arguments after `bank`. Throws BankUsageError. */
export function parseBankArgs(args: readonly string[]): BankImportCommand {
  if (args[0] !== 'import') throw new BankUsageError(args[0] === undefined ? 'bank needs a command: import' : `unknown bank command ${JSON.stringify(args[0])} (known: import)`)
  let parsed
  try {
    parsed = parseArgs({
      args: args.slice(1),
      strict: true,
      allowPositionals: true,
      options: {
        format: { type: 'string' },
        'csv-columns': { type: 'string' },
        'csv-delimiter': { type: 'string' },
        'csv-decimal-comma': { type: 'boolean' },
        'csv-date-format': { type: 'string' },
        'csv-currency': { type: 'string' },
        'csv-no-header': { type: 'boolean' },
        config: { type: 'string' },
        url: { type: 'string' },
        organizer: { type: 'string' },
        'wait-seconds': { type: 'string' },
      },
    })
  } catch (err) {
    throw new BankUsageError((err as Error).message)
  }
  const { values, positionals } = parsed
  if (positionals.length !== 1) throw new BankUsageError('bank import needs exactly one FILE')
  const format = values.format
  if (format !== undefined && !(STATEMENT_FORMATS as readonly string[]).includes(format)) throw new BankUsageError(`--format must be one of ${STATEMENT_FORMATS.join(', ')}`)
  const dateFormat = values['csv-date-format']
  if (dateFormat !== undefined && !(CSV_DATE_FORMATS as readonly string[]).includes(dateFormat)) throw new BankUsageError(`--csv-date-format must be one of ${CSV_DATE_FORMATS.join(', ')}`)
  const waitText = values['wait-seconds'] ?? '120'
  if (!/^[1-9]\d{0,4}$/.test(waitText)) throw new BankUsageError('--wait-seconds must be a whole number of seconds from 1')
  const usesCsv = values['csv-delimiter'] !== undefined || values['csv-decimal-comma'] || dateFormat !== undefined || values['csv-currency'] !== undefined || values['csv-no-header']
  if (values['csv-columns'] === undefined && (format === 'csv' || usesCsv)) throw new BankUsageError('a CSV statement needs --csv-columns')
  const csv: CsvStatementOptions | undefined =
    values['csv-columns'] === undefined
      ? undefined
      : {
          columns: parseCsvColumns(values['csv-columns']),
          ...(values['csv-delimiter'] !== undefined ? { delimiter: values['csv-delimiter'] } : {}),
          ...(values['csv-decimal-comma'] ? { decimalComma: true } : {}),
          ...(dateFormat !== undefined ? { dateFormat: dateFormat as CsvDateFormat } : {}),
          ...(values['csv-currency'] !== undefined ? { currency: values['csv-currency'] } : {}),
          ...(values['csv-no-header'] ? { headerRow: false } : {}),
        }
  return {
    file: positionals[0]!,
    parse: { ...(format !== undefined ? { format: format as StatementFormat } : {}), ...(csv !== undefined ? { csv } : {}) },
    ...(values.config !== undefined ? { configFile: values.config } : {}),
    ...(values.url !== undefined ? { url: values.url } : {}),
    ...(values.organizer !== undefined ? { organizer: values.organizer } : {}),
    waitMs: Number(waitText) * 1000,
  }
}

/** Reads and parses the file; the size is checked before a byte is read. */
export function readStatementFile(path: string, options: BankImportCommand['parse']): ParsedStatement {
  checkStatementSize(statSync(path).size)
  return parseStatement(readFileSync(path), options)
}

/** One transaction of a job as the bank import jobs API takes it (pretix's fields, strings). */
export interface JobTransaction {
  payer: string
  reference: string
  amount: string
  date: string
  iban: string
  bic: string
  external_id: string | null
  currency: string
}

/**
 * The statement as a job's transactions, in file order. An entry the parser
 * could not read goes in too, with its problem as the reference and no amount
 * or date, so that the job shows it `invalid` instead of leaving it out.
 */
export function jobTransactionsOf(parsed: ParsedStatement): JobTransaction[] {
  const problemsAt = new Map(parsed.problems.filter((problem) => problem.index >= 0).map((problem) => [problem.index, problem.message]))
  const total = parsed.transactions.length + problemsAt.size
  const result: JobTransaction[] = []
  let next = 0
  for (let index = 0; index < total; index++) {
    const problem = problemsAt.get(index)
    if (problem !== undefined) {
      result.push({ payer: '', reference: `unreadable ${parsed.format} entry: ${problem}`, amount: '', date: '', iban: '', bic: '', external_id: null, currency: '' })
      continue
    }
    const transaction: StatementTransaction = parsed.transactions[next++]!
    result.push({
      payer: transaction.payer,
      reference: transaction.reference,
      amount: transaction.amount,
      date: transaction.date,
      iban: transaction.iban ?? '',
      bic: '',
      external_id: transaction.endToEndId ?? null,
      currency: transaction.currency,
    })
  }
  return result
}

/** How the command reaches the API: a real HTTP client, or app.inject in tests. */
export type ApiTransport = JsonTransport

export function httpTransport(baseUrl: string, token: string): ApiTransport {
  return jsonHttpTransport(baseUrl, { authorization: `Token ${token}` }, 30_000)
}

export interface JobResult {
  id: number
  state: string
  transactions: Array<{ state: string; message: string; amount: string; date: string; payer: string; reference: string; external_id: string | null; order: string | null }>
}

export class BankImportError extends Error {
  override name = 'BankImportError'
}

/** Creates the job through the API and waits until it is completed (or failed, or the wait is over). */
export async function submitStatementJob(options: {
  transport: ApiTransport
  organizer: string
  /** The event slug the job names (null: none); the organizer's slug when absent. */
  event?: string | null
  transactions: JobTransaction[]
  waitMs: number
  pollMs?: number
  sleep?: (ms: number) => Promise<void>
  now?: () => number
}): Promise<{ job: JobResult; finished: boolean }> {
  const { transport, organizer, transactions } = options
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
  const now = options.now ?? Date.now
  const path = `/api/v1/organizers/${encodeURIComponent(organizer)}/bankimportjobs/`
  const created = await transport({ method: 'POST', path, body: { event: options.event === undefined ? organizer : options.event, transactions } })
  if (created.status !== 201) throw new BankImportError(`the gateway refused the job (${created.status}): ${messageOf(created.json)}`)
  const id = (created.json as { id: number }).id
  const deadline = now() + options.waitMs
  for (;;) {
    const got = await transport({ method: 'GET', path: `${path}${id}/` })
    if (got.status !== 200) throw new BankImportError(`job ${id} could not be read (${got.status}): ${messageOf(got.json)}`)
    const job = got.json as JobResult
    if (job.state === 'completed' || job.state === 'error') return { job, finished: true }
    if (now() >= deadline) return { job, finished: false }
    await sleep(options.pollMs ?? 250)
  }
}

function messageOf(json: unknown): string {
  if (typeof json === 'object' && json !== null) {
    const { message, detail, type } = json as Record<string, unknown>
    for (const text of [message, detail, type]) if (typeof text === 'string') return text.slice(0, 300)
  }
  return JSON.stringify(json).slice(0, 300)
}

/** The report, one line per transaction in file order: what the file said and what the job decided. */
export function formatJobReport(parsed: ParsedStatement, job: JobResult, finished: boolean): string {
  const sent = jobTransactionsOf(parsed)
  const lines = [`${parsed.format} statement${parsed.account ? ` of ${parsed.account}` : ''}: ${sent.length} entries, bank import job ${job.id} ${job.state}`]
  // The return reason has no field in the API: it is shown from the file.
  const problemIndexes = new Set(parsed.problems.map((problem) => problem.index))
  const returnReasons = new Map<number, string>()
  let next = 0
  sent.forEach((_, index) => {
    if (problemIndexes.has(index)) return
    const reason = parsed.transactions[next++]?.returnReason
    if (reason !== undefined) returnReasons.set(index, reason)
  })
  sent.forEach((original, index) => {
    // A job shows its transactions once it has started; before that each is still to be decided.
    const decided = job.transactions[index]
    const fields = [`#${index}`, (decided?.state ?? 'pending').padEnd(9), (original.amount || '-').padStart(10), original.currency || '-', original.date || '-', JSON.stringify(original.payer), JSON.stringify(original.reference)]
    if (original.external_id) fields.push(`e2e=${original.external_id}`)
    if (returnReasons.has(index)) fields.push(`return=${returnReasons.get(index)}`)
    if (decided?.order) fields.push(`-> ${decided.order}`)
    if (decided?.message) fields.push(`(${decided.message})`)
    lines.push(fields.join(' '))
  })
  for (const problem of parsed.problems.filter((p) => p.index < 0)) lines.push(`statement: ${problem.message}`)
  if (!finished) lines.push(`job ${job.id} is still ${job.state}: the gateway goes on deciding it; see GET /api/v1/organizers/<organizer>/bankimportjobs/${job.id}/`)
  return `${lines.join('\n')}\n`
}

export interface BankCommandIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** How to reach the gateway; an HTTP client by default (tests pass app.inject). */
  transport?: (baseUrl: string, token: string) => ApiTransport
}

/** Runs `bank ...` (the arguments after it); resolves with the exit code: 0 done, 1 refused or failed, 2 usage or file. */
export async function runBankCommand(args: readonly string[], env: NodeJS.ProcessEnv, io: BankCommandIo): Promise<number> {
  let command: BankImportCommand
  try {
    command = parseBankArgs(args)
  } catch (err) {
    if (!(err instanceof BankUsageError)) throw err
    io.stderr(`wristpay-gateway: ${err.message}\n\nUsage: wristpay-gateway bank import FILE [options]\n${BANK_IMPORT_USAGE}`)
    return 2
  }
  let config: GatewayConfig
  let organizer: string
  let event: string | null
  try {
    config = loadConfig({ file: command.configFile, env, overrides: {} })
    // The slugs the gateway serves (gateway/apis.ts): the config's, else the event's name as a slug.
    const bank = config.bank ?? {}
    const derived = () => (config.eventFile === undefined ? undefined : slugOfEventName(loadEventSetup(config.eventFile).event.name))
    if (command.organizer !== undefined) {
      organizer = command.organizer
      event = bank.eventSlug ?? command.organizer
    } else {
      const fromEvent = bank.organizerSlug !== undefined && bank.eventSlug !== undefined ? undefined : derived()
      const configured = bank.organizerSlug ?? fromEvent
      if (configured === undefined) throw new ConfigError('no organizer: give --organizer SLUG, bank.organizerSlug in the config, or the event file in the config (its event name gives the slug)')
      organizer = configured
      event = bank.eventSlug ?? fromEvent ?? null
    }
    if (config.adminToken === undefined) throw new ConfigError('no admin token: set "adminToken" in the config file or WRISTPAY_GATEWAY_ADMIN_TOKEN')
  } catch (err) {
    if (!(err instanceof ConfigError) && !(err instanceof EventSetupError)) throw err
    io.stderr(`wristpay-gateway: ${err.message}\n`)
    return 2
  }
  let parsed: ParsedStatement
  try {
    parsed = readStatementFile(command.file, command.parse)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (!(err instanceof StatementFormatError) && code !== 'ENOENT' && code !== 'EACCES' && code !== 'EISDIR') throw err
    io.stderr(`wristpay-gateway: ${command.file}: ${(err as Error).message}\n`)
    return 2
  }
  const sent = jobTransactionsOf(parsed)
  if (sent.length === 0) {
    io.stderr(`wristpay-gateway: ${command.file}: the statement has no transactions; no job created\n`)
    return 1
  }
  const baseUrl = command.url ?? gatewayBaseUrl(config)
  const transport = (io.transport ?? httpTransport)(baseUrl, config.adminToken)
  try {
    const { job, finished } = await submitStatementJob({ transport, organizer, event, transactions: sent, waitMs: command.waitMs })
    io.stdout(formatJobReport(parsed, job, finished))
    return job.state === 'completed' ? 0 : 1
  } catch (err) {
    io.stderr(`wristpay-gateway: ${err instanceof BankImportError ? err.message : `the gateway at ${baseUrl} cannot be reached: ${(err as Error).message}`}\n`)
    return 1
  }
}

export { StatementFormatError }
