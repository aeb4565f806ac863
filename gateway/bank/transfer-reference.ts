// The transfer reference a guest writes on a bank transfer to top up their
// wristband before the event: an ISO 11649 creditor reference ("RF" and two
// check digits computed with ISO 7064 MOD 97-10, as in IBANs) around a random
// code kept per wristband. The code is random rather than derived from the
// wristband's uid because uid and PIN together log a guest into the portal: a
// reference passed around with a bank statement must not name the uid. The check
// digits catch every single-character typo and every swap of two neighbouring
// characters, so a mistyped reference is `nomatch`, never someone else's band.
import { randomInt } from 'node:crypto'

/** Letters and digits that cannot be misread for one another (no I, O, 0, 1). */
export const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'
export const CODE_LENGTH = 8

/** ISO 7064 MOD 97-10 over letters and digits: letters count as 10..35, as in IBANs and RF references. */
export function mod97(text: string): number {
  let remainder = 0
  for (const char of text) {
    const code = char.charCodeAt(0)
    const value = code >= 48 && code <= 57 ? code - 48 : code >= 65 && code <= 90 ? code - 55 : -1
    if (value < 0) throw new Error('mod97 takes upper-case letters and digits only')
    remainder = (value < 10 ? remainder * 10 + value : remainder * 100 + value) % 97
  }
  return remainder
}

/** `RF` + check digits + body, as ISO 11649 computes them (body: 1..21 letters and digits). */
export function creditorReference(body: string): string {
  if (!/^[A-Z0-9]{1,21}$/.test(body)) throw new Error('a creditor reference body is 1..21 upper-case letters and digits')
  const check = 98 - mod97(`${body}RF00`)
  return `RF${String(check).padStart(2, '0')}${body}`
}

/** Whether a reference (spaces allowed, any case) is a well-formed RF reference whose check digits hold. */
export function isValidCreditorReference(reference: string): boolean {
  const compact = reference.replace(/ /g, '').toUpperCase()
  if (!/^RF[0-9]{2}[A-Z0-9]{1,21}$/.test(compact)) return false
  return mod97(`${compact.slice(4)}${compact.slice(0, 4)}`) === 1
}

/** A fresh random code for a wristband (40 bits). */
export function newTransferCode(draw: (max: number) => number = randomInt): string {
  let code = ''
  for (let i = 0; i < CODE_LENGTH; i++) code += CODE_ALPHABET[draw(CODE_ALPHABET.length)]
  return code
}

/** The reference for a wristband's code, grouped in fours as people type it: `RF47 ABCD EFGH`. */
export function transferReferenceOf(code: string): { compact: string; display: string } {
  const compact = creditorReference(code)
  return { compact, display: compact.replace(/(.{4})(?=.)/g, '$1 ') }
}

/**
 * The codes of every valid transfer reference in a bank transfer's free text
 * (spaces, line breaks and hyphens inside are ignored, case too). Only
 * references with our code's length count, so a reference of another creditor
 * that happens to be in the text matches nothing.
 */
export function transferCodesIn(text: string): string[] {
  const compact = text.toUpperCase().replace(/[\s-]+/g, '')
  const codes: string[] = []
  for (const m of compact.matchAll(new RegExp(`RF[0-9]{2}[${CODE_ALPHABET}]{${CODE_LENGTH}}`, 'g'))) {
    const candidate = m[0]
    if (isValidCreditorReference(candidate) && !codes.includes(candidate.slice(4))) codes.push(candidate.slice(4))
  }
  return codes
}
