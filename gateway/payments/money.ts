// Money at the edge of an API that speaks decimals (SumUp: 12.34 means 12 euros 34 cents).
// Inside wristpay money is integer cents; these are the only two crossings.

/** The largest amount any payment API of ours accepts, in cents: far above any top-up, far below 2^53. */
export const MAX_DECIMAL_AMOUNT_CENTS = 100_000_000_00

/** Integer cents to a decimal number of major units (1234 -> 12.34). Throws on a non-integer. */
export function centsToDecimal(cents: number): number {
  if (!Number.isSafeInteger(cents)) throw new RangeError('amount in cents must be a safe integer')
  // Division by 100 of an integer gives the closest double to the decimal, which JSON prints exactly as 12.34.
  return cents / 100
}

/**
 * A decimal number of major units with at most two decimals to integer cents.
 * Returns undefined for anything else (NaN, Infinity, strings, 0.001, 1e21), so
 * the caller decides how to refuse it.
 */
export function decimalToCents(value: unknown): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined
  if (Math.abs(value) > MAX_DECIMAL_AMOUNT_CENTS / 100) return undefined
  // The shortest round-trip string of a double says how many decimals it was written with: 0.1+0.2 is
  // 0.30000000000000004 and is refused, 12.3 is accepted. Exponent forms (1e-7) are refused too.
  if (!/^-?\d+(\.\d{1,2})?$/.test(String(value))) return undefined
  const cents = Math.round(value * 100)
  return Object.is(cents, -0) ? 0 : cents
}
