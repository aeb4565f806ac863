// A bank's CSV export to statement transactions, read with csv-parse and a
// column mapping (every bank names and orders its columns differently). The
// mapping names each column by its header or by its 1-based position, and says
// how the bank writes amounts (decimal point or comma) and dates. A row that
// does not fit is a problem of its own; a file whose header lacks a mapped
// column is refused as a whole, since then no row can be right.
import { parse } from 'csv-parse/sync'
import { amountString, cleanText, clip, currencyCode, endToEndId, isoDate, signedCents, transaction, validIban, type FieldResult } from './fields.js'
import { StatementFormatError, type ParsedStatement, type StatementProblem, type StatementTransaction } from './types.js'

/** A column by its header text (matched ignoring case and surrounding spaces) or its 1-based position, as a spreadsheet counts. */
export type CsvColumn = string | number

export interface CsvColumnMapping {
  date: CsvColumn
  amount: CsvColumn
  payer: CsvColumn
  reference: CsvColumn
  currency?: CsvColumn
  iban?: CsvColumn
  /** The SEPA end-to-end id, when the export has it (a returned payout is matched by it). */
  endToEndId?: CsvColumn
  /** The return reason code of a returned transfer, when the export has it. */
  returnReason?: CsvColumn
}

export type CsvDateFormat = 'DD.MM.YYYY' | 'YYYY-MM-DD'
export const CSV_DATE_FORMATS: readonly CsvDateFormat[] = ['DD.MM.YYYY', 'YYYY-MM-DD']

export interface CsvStatementOptions {
  columns: CsvColumnMapping
  /** One character; by default the one of ';', ',' and tab that the first line has most of. */
  delimiter?: string
  /** Amounts are written "1.234,56" (German style) instead of "1234.56". Default false. */
  decimalComma?: boolean
  /** Default 'YYYY-MM-DD'. */
  dateFormat?: CsvDateFormat
  /** The currency of every row when the mapping has no currency column. Default 'EUR'. */
  currency?: string
  /** Whether the first row is a header. Default true; column names need one. */
  headerRow?: boolean
}

const FIELDS = ['date', 'amount', 'payer', 'reference', 'currency', 'iban', 'endToEndId', 'returnReason'] as const

export function parseCsvStatement(text: string, options: CsvStatementOptions): ParsedStatement {
  if (text.includes('\u0000')) throw new StatementFormatError('not a CSV statement: the file contains binary data')
  if (text.trim() === '') throw new StatementFormatError('not a CSV statement: the file is empty')
  const headerRow = options.headerRow ?? true
  const delimiter = options.delimiter ?? guessDelimiter(text)
  if ([...delimiter].length !== 1 || delimiter === '"' || /[\r\n]/.test(delimiter)) throw new StatementFormatError(`CSV delimiter must be one character other than a quote or line break, got ${JSON.stringify(delimiter)}`)

  const problems: StatementProblem[] = []
  // Rows in file order; a row csv-parse could not read keeps its error (both callbacks run in file order).
  const rows: Array<{ line: number; cells: string[]; error?: string }> = []
  try {
    parse(text, {
      delimiter,
      bom: true,
      relax_column_count: true,
      // A stray quote (Ben"s or "Ben"x) stays text: strict quoting would lose every row after it.
      relax_quotes: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      // No trim option: with it, csv-parse drops every row after a stray quote without a word. Cells are trimmed below.
      on_record: (record: string[], context) => {
        rows.push({ line: context.lines, cells: record })
        return record
      },
      on_skip: (err) => {
        rows.push({ line: Number(err?.lines ?? 0), cells: [], error: err?.message ?? 'row cannot be read' })
        return undefined
      },
    })
  } catch (err) {
    throw new StatementFormatError(`not a CSV statement: ${clip((err as Error).message, 120)}`)
  }

  const header = headerRow ? rows.shift() : undefined
  if (headerRow && (header === undefined || header.error !== undefined)) throw new StatementFormatError('CSV statement has no header row (or it cannot be read)')
  const positions = columnPositions(options.columns, header?.cells)
  const dateFormat = options.dateFormat ?? 'YYYY-MM-DD'
  const defaultCurrency = options.currency ?? 'EUR'

  const transactions: StatementTransaction[] = []
  rows.forEach((row, index) => {
    const result: FieldResult<StatementTransaction> =
      row.error !== undefined ? { ok: false, reason: clip(row.error, 120) } : csvTransaction(row.cells, positions, options.decimalComma ?? false, dateFormat, defaultCurrency)
    if (result.ok) transactions.push(result.value)
    else problems.push({ index, message: `line ${row.line}: ${result.reason}` })
  })
  return { format: 'csv', transactions, problems }
}

type Positions = { [K in (typeof FIELDS)[number]]?: number }

/** 0-based positions of the mapped columns; refuses a mapping the header cannot satisfy. */
function columnPositions(mapping: CsvColumnMapping, header: string[] | undefined): Positions {
  const positions: Positions = {}
  for (const field of FIELDS) {
    const column = mapping[field]
    if (column === undefined) continue
    if (typeof column === 'number') {
      if (!Number.isInteger(column) || column < 1) throw new StatementFormatError(`CSV column of ${field} must be a header name or a position from 1, got ${column}`)
      positions[field] = column - 1
      continue
    }
    if (header === undefined) throw new StatementFormatError(`CSV column of ${field} is named (${JSON.stringify(column)}) but the file has no header row: give its position instead`)
    const wanted = column.trim().toLowerCase()
    const position = header.findIndex((name) => name.trim().toLowerCase() === wanted)
    if (position === -1) throw new StatementFormatError(`CSV header has no column ${JSON.stringify(clip(column))} for ${field} (it has ${header.map((name) => JSON.stringify(clip(name, 30))).join(', ')})`)
    positions[field] = position
  }
  return positions
}

function csvTransaction(cells: string[], positions: Positions, decimalComma: boolean, dateFormat: CsvDateFormat, defaultCurrency: string): FieldResult<StatementTransaction> {
  const needed = Math.max(...Object.values(positions)) + 1
  if (cells.length < needed) return { ok: false, reason: `has ${cells.length} column${cells.length === 1 ? '' : 's'}, the mapping needs ${needed}` }
  const cell = (field: keyof Positions) => (positions[field] === undefined ? undefined : cells[positions[field]!]!.trim())
  const date = csvDate(cell('date')!, dateFormat)
  if (!date.ok) return date
  const cents = csvAmount(cell('amount')!, decimalComma)
  if (!cents.ok) return cents
  const currency = currencyCode(cell('currency') ?? defaultCurrency)
  if (!currency.ok) return currency
  return {
    ok: true,
    value: transaction({
      date: date.value,
      amount: amountString(cents.value),
      currency: currency.value,
      payer: cleanText(cell('payer')),
      iban: validIban(cell('iban')),
      reference: cleanText(cell('reference')),
      endToEndId: endToEndId(cell('endToEndId')),
      returnReason: cleanText(cell('returnReason')) || undefined,
    }),
  }
}

/**
 * A signed amount as the mapping says the bank writes it: "-1234.56" with a
 * decimal point; "-1.234,56" or "-1234,56" with a decimal comma. Exponents,
 * the other separator and more than two decimals are refused, never guessed.
 */
export function csvAmount(text: string, decimalComma: boolean): FieldResult<number> {
  const pattern = decimalComma ? /^([+-]?)(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d{1,2}))?$/ : /^([+-]?)(\d+)(?:\.(\d{1,2}))?$/
  const match = pattern.exec(text)
  if (match === null) {
    const hint = !decimalComma && /^[+-]?\d+,\d{1,2}$/.test(text) ? ' (it has a decimal comma: map the file with the decimal comma option)' : ''
    return { ok: false, reason: `amount ${JSON.stringify(clip(text))} is not a ${decimalComma ? 'decimal-comma' : 'decimal-point'} amount${hint}` }
  }
  const units = match[2]!.replace(/\./g, '')
  return signedCents(match[3] === undefined ? units : `${units}.${match[3]}`, match[1] === '-' ? 'debit' : 'credit')
}

function csvDate(text: string, format: CsvDateFormat): FieldResult<string> {
  const match = format === 'DD.MM.YYYY' ? /^(\d{2})\.(\d{2})\.(\d{4})$/.exec(text) : /^(\d{4})-(\d{2})-(\d{2})$/.exec(text)
  if (match === null) return { ok: false, reason: `date ${JSON.stringify(clip(text))} is not written ${format}` }
  return format === 'DD.MM.YYYY' ? isoDate(match[3]!, match[2]!, match[1]!) : isoDate(match[1]!, match[2]!, match[3]!)
}

function guessDelimiter(text: string): string {
  const firstLine = text.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0] ?? ''
  const counts = [';', ',', '\t'].map((candidate) => ({ candidate, count: firstLine.split(candidate).length - 1 }))
  counts.sort((a, b) => b.count - a.count)
  return counts[0]!.count > 0 ? counts[0]!.candidate : ','
}
