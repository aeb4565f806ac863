// Money crosses some API edges as decimals of major units (a JSON number like
// 19.99, or a string like "56.78"); inside wristpay it is always integer cents.
// These functions are the only crossings, shared by every API that needs one.

export type CentsResult = { ok: true; cents: number } | { ok: false; reason: string }

/** Default bound of an amount at an edge (1,000,000.00): far above any payment, far below 2^53. */
export const MAX_EDGE_AMOUNT_CENTS = 100_000_000

/**
 * A JSON number of major units to cents. It must be exactly the double nearest
 * to a decimal with at most two places: 19.99 and 0.3 are fine (their x*100 is
 * 1998.9999999999998 and 30.000000000000004, so we round, not truncate), while
 * 1.005 or 0.1 + 0.2 (= 0.30000000000000004) are refused rather than silently
 * rounded: the sender meant something we cannot know.
 */
export function centsFromDecimal(value: unknown, options: { maxCents?: number; allowNegative?: boolean } = {}): CentsResult {
  const maxCents = options.maxCents ?? MAX_EDGE_AMOUNT_CENTS
  if (typeof value !== 'number' || !Number.isFinite(value)) return { ok: false, reason: 'amount is not a finite number' }
  if (value < 0 && !options.allowNegative) return { ok: false, reason: 'amount is negative' }
  if (Math.abs(value) > maxCents / 100) return { ok: false, reason: `amount exceeds ${maxCents / 100}` }
  if (Number(value.toFixed(2)) !== value) return { ok: false, reason: 'amount has more than 2 decimals' }
  // `+ 0` turns -0 into 0.
  return { ok: true, cents: Math.round(value * 100) + 0 }
}

/** Cents to a JSON number of major units: 1999 -> 19.99 (an integer divided by 100 prints with at most 2 decimals). */
export function decimalFromCents(cents: number): number {
  if (!Number.isSafeInteger(cents)) throw new RangeError(`not an integer amount of cents: ${cents}`)
  return cents / 100
}

const DECIMAL_STRING = /^(0|[1-9][0-9]{0,8})(\.[0-9]{1,2})?$/

/**
 * A non-negative decimal string with at most two decimals ("56.78") to cents;
 * undefined for anything else (signs, exponents, spaces, three decimals, above
 * maxCents). The string is split, never parsed as a float, so "0.29" is exactly 29.
 */
export function centsFromDecimalString(text: string, maxCents = MAX_EDGE_AMOUNT_CENTS): number | undefined {
  const match = DECIMAL_STRING.exec(text)
  if (match === null) return undefined
  const fraction = match[2] === undefined ? 0 : Number(match[2].slice(1).padEnd(2, '0'))
  const cents = Number(match[1]) * 100 + fraction
  return cents <= maxCents ? cents : undefined
}

/** Cents as a decimal string: 5678 -> "56.78", -1234 -> "-12.34". */
export function decimalStringFromCents(cents: number): string {
  if (!Number.isSafeInteger(cents)) throw new RangeError(`not an integer amount of cents: ${cents}`)
  const abs = Math.abs(cents)
  return `${cents < 0 ? '-' : ''}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`
}
