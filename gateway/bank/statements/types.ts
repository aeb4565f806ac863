// What every statement parser returns: one list of transactions in one shape,
// whatever the bank's file format. Amounts stay decimal strings here (the
// import job turns them into cents); a transaction that cannot be read is a
// problem of its own, never a reason to drop the whole file.

export type StatementFormat = 'camt053' | 'mt940' | 'csv'
export const STATEMENT_FORMATS: readonly StatementFormat[] = ['camt053', 'mt940', 'csv']

export interface StatementTransaction {
  /** Booking date (value date when the file has no booking date), YYYY-MM-DD. */
  date: string
  /** Signed decimal string with exactly two decimals: "12.34" came in, "-5.00" went out. */
  amount: string
  /** ISO 4217 code, e.g. "EUR". */
  currency: string
  /** The other party's name (the payer of a credit, the payee of a debit); "" when the file names none. */
  payer: string
  /** The other party's IBAN, electronic format, only when it is a valid IBAN. */
  iban?: string
  /** The remittance information as the bank gave it (our transfer references sit somewhere in it); "" when none. */
  reference: string
  /** The SEPA end-to-end id (absent for NOTPROVIDED): a returned payout carries the one we sent. */
  endToEndId?: string
  /** The ISO 20022 return reason code (e.g. AC04) of a returned transfer. */
  returnReason?: string
}

export interface StatementProblem {
  /**
   * Position of the entry in the file, counted from 0 over every entry that is
   * a transaction or a problem, in file order; -1 for a problem of the
   * statement as a whole (balances that do not add up).
   */
  index: number
  message: string
}

export interface ParsedStatement {
  format: StatementFormat
  /** The statement's own account (IBAN or the bank's account id), when the file says. */
  account?: string
  transactions: StatementTransaction[]
  problems: StatementProblem[]
}

/** The file as a whole is not a statement of the format asked for (or of any format we read). */
export class StatementFormatError extends Error {
  override name = 'StatementFormatError'
}

/** The file is larger than the limit: refused before anything is parsed. */
export class StatementTooLargeError extends StatementFormatError {
  override name = 'StatementTooLargeError'
  constructor(
    readonly sizeBytes: number,
    readonly maxBytes: number,
  ) {
    super(`statement file is ${sizeBytes} bytes, over the limit of ${maxBytes} bytes (${Math.floor(maxBytes / (1024 * 1024))} MiB)`)
  }
}

/**
 * 20 MiB: a CAMT.053 entry takes about 1.5 kB, so this holds over ten thousand
 * bank transfers, while a runaway or hostile upload is refused unread.
 */
export const STATEMENT_MAX_BYTES = 20 * 1024 * 1024

/** Throws StatementTooLargeError when sizeBytes is over maxBytes: call it before reading or parsing. */
export function checkStatementSize(sizeBytes: number, maxBytes: number = STATEMENT_MAX_BYTES): void {
  if (sizeBytes > maxBytes) throw new StatementTooLargeError(sizeBytes, maxBytes)
}
