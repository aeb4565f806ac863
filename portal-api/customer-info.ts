// Checks of the payout registration a guest submits (IBAN, account holder,
// email, donation). Pure functions: the plugin runs them at the edge and the
// gateway backend runs them again before it writes, so no path can store an
// unchecked IBAN. The balance check of the donation is the backend's, inside
// the same database transaction as the write.
import { electronicFormatIBAN, isValidIBAN } from 'ibantools'

export interface CustomerInfoInput {
  iban: string
  accountName: string
  email: string
  donationCents: number
}

/** One refused field, in the seed API's HTTPValidationError terms. */
export interface FieldProblem {
  field: 'iban' | 'account_name' | 'email' | 'donation'
  msg: string
  type: string
}

export type CustomerInfoResult = { ok: true; value: CustomerInfoInput } | { ok: false; problems: FieldProblem[] }

/** SEPA allows 70 characters for a name. */
export const MAX_ACCOUNT_NAME_LENGTH = 70
/** RFC 5321 path limit. */
export const MAX_EMAIL_LENGTH = 254

// Deliberately simple: one @, something on both sides, a dot in the domain, no
// spaces or control characters. Whether it really exists only a mail can tell.
const EMAIL = /^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+\.[^\s@\p{Cc}]+$/u
const CONTROL = /\p{Cc}/u

/**
 * Normalises and checks. `allowedCountryCodes` null means any country whose
 * IBAN is valid; otherwise the IBAN's first two letters must be in the list.
 * Error messages never repeat the IBAN (it is personal data and ends up in logs).
 */
export function checkCustomerInfo(input: CustomerInfoInput, allowedCountryCodes: readonly string[] | null): CustomerInfoResult {
  const problems: FieldProblem[] = []
  const iban = electronicFormatIBAN(input.iban) ?? ''
  if (!isValidIBAN(iban)) {
    problems.push({ field: 'iban', msg: 'IBAN is not valid', type: 'value_error.iban' })
  } else if (allowedCountryCodes !== null && !allowedCountryCodes.map((c) => c.toUpperCase()).includes(iban.slice(0, 2))) {
    problems.push({
      field: 'iban',
      msg: `IBAN country is not accepted for payouts (accepted: ${allowedCountryCodes.join(', ') || 'none'})`,
      type: 'value_error.iban_country',
    })
  }
  const accountName = input.accountName.trim()
  if (accountName.length === 0 || accountName.length > MAX_ACCOUNT_NAME_LENGTH || CONTROL.test(accountName))
    problems.push({ field: 'account_name', msg: `account name must be 1 to ${MAX_ACCOUNT_NAME_LENGTH} printable characters`, type: 'value_error.account_name' })
  const email = input.email.trim()
  if (email.length > MAX_EMAIL_LENGTH || !EMAIL.test(email)) problems.push({ field: 'email', msg: 'email address is not valid', type: 'value_error.email' })
  if (!Number.isSafeInteger(input.donationCents) || input.donationCents < 0)
    problems.push({ field: 'donation', msg: 'donation must be zero or more', type: 'value_error.donation' })
  if (problems.length > 0) return { ok: false, problems }
  return { ok: true, value: { iban, accountName, email, donationCents: input.donationCents } }
}
