// Money at this API's edge: the seed sends amounts as decimal strings ("56.78").
// Inside everything is integer cents; these two functions are the only crossing.

/** Largest amount one payment may carry, in cents (1,000,000.00): far above any festival cart, far below 2^53. */
export const MAX_AMOUNT_CENTS = 100_000_000

const DECIMAL_AMOUNT = /^(0|[1-9][0-9]{0,8})(\.[0-9]{1,2})?$/

/**
 * Parses a non-negative decimal amount with at most two decimals into cents.
 * Returns undefined for anything else (signs, exponents, spaces, three decimals,
 * more than MAX_AMOUNT_CENTS): the caller answers with a clear error.
 * The string is split, never parsed as a float, so "0.29" is exactly 29.
 */
export function parseAmountCents(text: string): number | undefined {
  const match = DECIMAL_AMOUNT.exec(text)
  if (match === null) return undefined
  const whole = Number(match[1])
  const fraction = match[2] === undefined ? 0 : Number(match[2].slice(1).padEnd(2, '0'))
  const cents = whole * 100 + fraction
  return cents <= MAX_AMOUNT_CENTS ? cents : undefined
}

/** Cents as the seed's decimal string, e.g. 5678 -> "56.78". */
export function formatAmount(cents: number): string {
  if (!Number.isSafeInteger(cents)) throw new RangeError(`not an integer amount of cents: ${cents}`)
  const sign = cents < 0 ? '-' : ''
  const abs = Math.abs(cents)
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`
}
