// Money crosses this API's edge as a JSON number with at most two decimals
// (the seed API's choice); inside, everything is integer cents. These two
// functions are the only place where the conversion happens.

/** Largest amount accepted at the edge (100,000.00), so cents stay far below 2^53. */
export const MAX_EDGE_CENTS = 10_000_000

export type CentsResult = { ok: true; cents: number } | { ok: false; reason: string }

/**
 * Converts an edge amount to cents. The number must be exactly the double
 * nearest to a decimal with at most two places: 19.99 and 0.3 are fine (their
 * x*100 is 1998.9999999999998 and 30.000000000000004, so we round, not
 * truncate), while 1.005 or 0.1 + 0.2 (= 0.30000000000000004) are refused
 * rather than silently rounded: the sender meant something we cannot know.
 */
export function centsFromAmount(amount: number): CentsResult {
  if (typeof amount !== 'number' || !Number.isFinite(amount)) return { ok: false, reason: 'amount is not a finite number' }
  if (amount < 0) return { ok: false, reason: 'amount is negative' }
  if (amount > MAX_EDGE_CENTS / 100) return { ok: false, reason: `amount exceeds ${MAX_EDGE_CENTS / 100}` }
  if (Number(amount.toFixed(2)) !== amount) return { ok: false, reason: 'amount has more than 2 decimals' }
  // Math.round on the scaled value also turns -0 into 0.
  return { ok: true, cents: Math.round(amount * 100) + 0 }
}

/** Cents to the edge number: 1999 -> 19.99. Division by 100 of an integer prints with at most 2 decimals. */
export function amountFromCents(cents: number): number {
  if (!Number.isSafeInteger(cents)) throw new RangeError('cents must be a safe integer')
  return cents / 100
}
