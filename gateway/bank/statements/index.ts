// Bank statement files to one list of transactions: the format is named or
// detected from the content, the size is checked before anything is read, and
// the bytes are decoded (UTF-8, else Latin-1 as older German bank exports are).
import { looksLikeCamt053, parseCamt053 } from './camt053.js'
import { parseCsvStatement, type CsvStatementOptions } from './csv.js'
import { looksLikeMt940, parseMt940 } from './mt940.js'
import { checkStatementSize, StatementFormatError, STATEMENT_MAX_BYTES, type ParsedStatement, type StatementFormat } from './types.js'

export * from './types.js'
export { CSV_DATE_FORMATS, type CsvColumn, type CsvColumnMapping, type CsvDateFormat, type CsvStatementOptions } from './csv.js'

export interface StatementParseOptions {
  /** Detected from the content when not given. */
  format?: StatementFormat
  /** Needed for CSV files. */
  csv?: CsvStatementOptions
  /** Default STATEMENT_MAX_BYTES. */
  maxBytes?: number
}

/** The statement's text: UTF-8 (a byte order mark dropped), or Latin-1 when the bytes are not UTF-8. */
export function decodeStatement(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return new TextDecoder('latin1').decode(bytes)
  }
}

/** The format the content shows; CSV for any other text (the mapping then decides whether it fits). */
export function detectStatementFormat(text: string): StatementFormat {
  if (looksLikeCamt053(text)) return 'camt053'
  if (/^\s*</.test(text)) throw new StatementFormatError('the file is XML but not a CAMT.053 statement (no BkToCstmrStmt element)')
  if (looksLikeMt940(text)) return 'mt940'
  return 'csv'
}

export function parseStatement(input: Uint8Array | string, options: StatementParseOptions = {}): ParsedStatement {
  const sizeBytes = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength
  checkStatementSize(sizeBytes, options.maxBytes ?? STATEMENT_MAX_BYTES)
  const text = typeof input === 'string' ? input.replace(/^\uFEFF/, '') : decodeStatement(input)
  const format = options.format ?? detectStatementFormat(text)
  switch (format) {
    case 'camt053':
      return parseCamt053(text)
    case 'mt940':
      return parseMt940(text)
    case 'csv':
      if (options.csv === undefined) throw new StatementFormatError('a CSV statement needs a column mapping (date, amount, payer, reference; optionally currency and iban)')
      return parseCsvStatement(text, options.csv)
  }
}
