// Small statistics for status lines and benchmark reports.

/** Nearest-rank percentile (0 < p <= 100) of a list of numbers, rounded to 0.1; 0 for an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)))
  return Math.round(sorted[rank - 1]! * 10) / 10
}
