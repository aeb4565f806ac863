// The field rules every statement format shares: amounts to exact signed
// decimal strings (through the device-protocol money module, never floats),
// calendar dates, currency codes, IBANs and free text. Each returns a reason
// instead of throwing, so one bad field makes one problem.
import { electronicFormatIBAN, isValidIBAN } from 'ibantools'
import { centsFromDecimalString, decimalStringFromCents } from '../../../device-protocol/money.js'
import type { StatementTransaction } from './types.js'

export type FieldResult<T> = { ok: true; value: T } | { ok: false; reason: string }

/** The largest amount the money module's decimal form can carry (nine integer digits). */
const MAX_STATEMENT_CENTS = 99_999_999_999

/**
 * An unsigned decimal with a point ("12.34", "12.340", "12") and a direction to
 * signed cents. Decimals beyond two are accepted only when they are zeros (ISO
 * 20022 allows five), so nothing is ever rounded. A zero amount is refused:
 * there is nothing to book and a bank does not move nothing.
 */
export function signedCents(unsigned: string, direction: 'credit' | 'debit'): FieldResult<number> {
  const trimmed = /^\d+\.\d{3,5}$/.test(unsigned) ? unsigned.replace(/(\.\d\d)0+$/, '$1') : unsigned
  const cents = centsFromDecimalString(trimmed.replace(/^0+(?=\d)/, ''), MAX_STATEMENT_CENTS)
  if (cents === undefined) return { ok: false, reason: `amount ${JSON.stringify(clip(unsigned))} is not a decimal amount with at most two decimals` }
  if (cents === 0) return { ok: false, reason: 'amount is zero' }
  return { ok: true, value: direction === 'debit' ? -cents : cents }
}

export function amountString(cents: number): string {
  return decimalStringFromCents(cents)
}

/** A real calendar date from its parts, as YYYY-MM-DD. */
export function isoDate(year: string, month: string, day: string): FieldResult<string> {
  const y = Number(year)
  const m = Number(month)
  const d = Number(day)
  const valid = /^\d{4}$/.test(year) && /^\d{1,2}$/.test(month) && /^\d{1,2}$/.test(day) && m >= 1 && m <= 12 && d >= 1 && d <= new Date(Date.UTC(y, m, 0)).getUTCDate()
  if (!valid) return { ok: false, reason: `date ${JSON.stringify(clip(`${year}-${month}-${day}`))} is not a calendar date` }
  return { ok: true, value: `${year}-${month.padStart(2, '0')}-${day.padStart(2, '0')}` }
}

/** "2026-07-01" or "2026-07-01T10:00:00+02:00" (its date part) to YYYY-MM-DD. */
export function isoDateFromIso(text: string): FieldResult<string> {
  const match = /^(\d{4})-(\d{2})-(\d{2})(T.*)?$/.exec(text)
  if (match === null) return { ok: false, reason: `date ${JSON.stringify(clip(text))} is not an ISO date` }
  return isoDate(match[1]!, match[2]!, match[3]!)
}

export function currencyCode(text: string): FieldResult<string> {
  return /^[A-Z]{3}$/.test(text) ? { ok: true, value: text } : { ok: false, reason: `currency ${JSON.stringify(clip(text))} is not an ISO 4217 code` }
}

/**
 * The IBAN in electronic format when it is a valid one, else undefined: the
 * field is optional, and a mangled IBAN must not be taken for a real account.
 */
export function validIban(text: string | undefined): string | undefined {
  if (text === undefined) return undefined
  const electronic = electronicFormatIBAN(text)
  return electronic && isValidIBAN(electronic) ? electronic : undefined
}

/** Free text with control characters gone and white space collapsed, as people read it. */
export function cleanText(text: string | undefined): string {
  if (text === undefined) return ''
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim()
}

/** A SEPA end-to-end id, absent when the sender gave none ("NOTPROVIDED" is the scheme's word for none). */
export function endToEndId(text: string | undefined): string | undefined {
  const cleaned = cleanText(text)
  return cleaned === '' || cleaned.toUpperCase() === 'NOTPROVIDED' ? undefined : cleaned
}

/** A transaction with the optional fields present only when they have a value (so equal input gives equal output). */
export function transaction(fields: StatementTransaction): StatementTransaction {
  const result: StatementTransaction = {
    date: fields.date,
    amount: fields.amount,
    currency: fields.currency,
    payer: fields.payer,
    reference: fields.reference,
  }
  if (fields.iban !== undefined) result.iban = fields.iban
  if (fields.endToEndId !== undefined) result.endToEndId = fields.endToEndId
  if (fields.returnReason !== undefined) result.returnReason = fields.returnReason
  return result
}

/** A value quoted in a problem message, cut so a hostile file cannot flood the report. */
export function clip(text: string, maxChars = 40): string {
  return text.length > maxChars ? `${text.slice(0, maxChars)}…` : text
}
