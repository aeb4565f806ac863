// One bank transaction as a bank import job receives it (pretix's banktransfer
// fields, all strings), checked without the database: the amount as integer
// cents, the date the bank wrote, the currency, and the checksum that tells a
// transaction seen before. Nothing here throws on what a client sends: a field
// it cannot read becomes `problem`, and the transaction is `invalid`.
import { createHash } from 'node:crypto'
import { centsFromDecimalString } from '../../device-protocol/index.js'

/** Longest text kept per field; longer ones make the transaction invalid (and are cut before they are stored). */
export const FIELD_MAX_CHARS = { payer: 1000, reference: 2000, amount: 40, date: 40, iban: 64, bic: 16, external_id: 200, currency: 8 } as const
type FieldName = keyof typeof FIELD_MAX_CHARS

export interface CheckedTransaction {
  payer: string
  reference: string
  /** As sent (cut to its field's length): the API shows it back in the user's format. */
  amount: string
  date: string
  iban: string
  bic: string
  externalId: string | null
  currency: string | null
  /** Integer cents, negative for a debit; null when the amount cannot be read. */
  amountCents: number | null
  /** The date as YYYY-MM-DD; null when it cannot be read. */
  isoDate: string | null
  checksum: string
  /** Why the transaction is invalid; null when it can be matched. */
  problem: string | null
}

const textOf = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined)

/**
 * A signed decimal string with at most two places ("57.00", "-12.5") to cents.
 * Refused: exponents (`1e3`), a decimal comma (`12,34`), thousands separators,
 * spaces, a plus sign, zero in any spelling (`-0.00`), more than 1,000,000.00.
 */
export function centsOfBankAmount(text: string): number | undefined {
  const negative = text.startsWith('-')
  const cents = centsFromDecimalString(negative ? text.slice(1) : text)
  if (cents === undefined || cents === 0) return undefined
  return negative ? -cents : cents
}

/** A booking date as banks write it: 2017-06-26, 26.06.2017, 26.06.17, 20170626, 26/06/2017. */
export function isoDateOfBankDate(text: string): string | undefined {
  let y: number, m: number, d: number
  let match: RegExpExecArray | null
  if ((match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text)) || (match = /^(\d{4})(\d{2})(\d{2})$/.exec(text))) [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])]
  else if ((match = /^(\d{1,2})[./](\d{1,2})[./](\d{4}|\d{2})$/.exec(text))) {
    ;[d, m, y] = [Number(match[1]), Number(match[2]), Number(match[3])]
    if (match[3]!.length === 2) y += 2000
  } else return undefined
  const date = new Date(Date.UTC(y, m - 1, d))
  if (y < 2000 || y > 2099 || date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return undefined
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`
}

/**
 * SHA-1 (40 hex digits, as pretix shows it) over payer and reference without
 * case, spaces or punctuation, the amount in cents and the date as read: the
 * same transfer in two statements (or re-typed with other line breaks) has the
 * same checksum. Unreadable amounts and dates enter as sent.
 */
export function bankChecksum(fields: { payer: string; reference: string; amountCents: number | null; amount: string; isoDate: string | null; date: string }): string {
  const clean = (text: string) => text.toLowerCase().replace(/[^a-z0-9.-]/g, '')
  return createHash('sha1')
    .update(JSON.stringify([clean(fields.payer), clean(fields.reference), fields.amountCents ?? `raw:${fields.amount}`, fields.isoDate ?? `raw:${fields.date}`]), 'utf8')
    .digest('hex')
}

/** Checks one transaction of an upload; `currency` is the event's (a transaction in another one is invalid). */
export function checkBankTransaction(input: Record<string, unknown>, currency: string): CheckedTransaction {
  const problems: string[] = []
  const field = (name: FieldName, required: boolean): string => {
    const raw = input[name]
    if (raw === undefined || raw === null) {
      if (required) problems.push(`${name} is missing`)
      return ''
    }
    const text = textOf(raw)
    if (text === undefined) {
      problems.push(`${name} must be a string`)
      return ''
    }
    if (text.length > FIELD_MAX_CHARS[name]) {
      problems.push(`${name} is longer than ${FIELD_MAX_CHARS[name]} characters`)
      return text.slice(0, FIELD_MAX_CHARS[name])
    }
    return text
  }
  const payer = field('payer', false)
  const reference = field('reference', false)
  const amount = field('amount', true)
  const date = field('date', true)
  const iban = field('iban', false)
  const bic = field('bic', false)
  const externalId = field('external_id', false) || null
  const currencyText = field('currency', false).trim().toUpperCase() || null

  const amountCents = centsOfBankAmount(amount.trim()) ?? null
  if (amountCents === null) problems.push('amount is not a non-zero decimal with at most two places (like 57.00)')
  const isoDate = isoDateOfBankDate(date.trim()) ?? null
  if (isoDate === null) problems.push('date is not a date (YYYY-MM-DD or DD.MM.YYYY)')
  if (currencyText !== null && currencyText !== currency) problems.push(`currency ${currencyText.replace(/[^A-Z]/g, '?')} is not the event's (${currency})`)

  return {
    payer,
    reference,
    amount,
    date,
    iban,
    bic,
    externalId,
    currency: currencyText,
    amountCents,
    isoDate,
    checksum: bankChecksum({ payer, reference, amountCents, amount, isoDate, date }),
    problem: problems.length === 0 ? null : problems.join('; '),
  }
}

