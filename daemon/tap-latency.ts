// Tap-to-answer times over a sliding window (the last minute by default), for
// the kiosk's state message: how long guests wait at this till right now.

export interface TapLatencyStats {
  count: number
  p50: number
  p99: number
  max: number
}

export interface TapLatencyWindow {
  record(durationMs: number): void
  stats(): TapLatencyStats
}

export interface TapLatencyOptions {
  now: () => number
  windowMs?: number
  /**
   * Samples kept at most (the oldest go first). A guest's tap takes seconds, so
   * a real till records far fewer than this in a minute; the bound is for a
   * till driven faster than any queue of guests (the bench's), whose memory
   * must not grow with its rate.
   */
  maxSamples?: number
}

/** Nearest-rank percentile of sorted values; 0 for none. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!
}

/**
 * The samples live in a ring of typed arrays allocated once, and the stats
 * sort a copy in a scratch array allocated once: a sale and a state message
 * leave no garbage here. (Objects per sample and an array sorted per state
 * message were about a third of what a kiosk selling fast left for V8's
 * full collections.)
 */
export function createTapLatencyWindow(options: TapLatencyOptions): TapLatencyWindow {
  const windowMs = options.windowMs ?? 60_000
  const capacity = options.maxSamples ?? 1_000
  const at = new Float64Array(capacity)
  const ms = new Float64Array(capacity)
  const scratch = new Float64Array(capacity)
  /** Index of the oldest sample, and how many there are. */
  let head = 0
  let count = 0
  const prune = (now: number) => {
    while (count > 0 && at[head]! <= now - windowMs) {
      head = (head + 1) % capacity
      count -= 1
    }
  }
  return {
    record(durationMs) {
      if (!Number.isFinite(durationMs)) return
      const now = options.now()
      prune(now)
      if (count === capacity) {
        head = (head + 1) % capacity
        count -= 1
      }
      const slot = (head + count) % capacity
      at[slot] = now
      ms[slot] = Math.max(0, Math.round(durationMs))
      count += 1
    },
    stats() {
      prune(options.now())
      for (let i = 0; i < count; i++) scratch[i] = ms[(head + i) % capacity]!
      const sorted = scratch.subarray(0, count).sort()
      return { count, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: count === 0 ? 0 : sorted[count - 1]! }
    },
  }
}
