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
  /** Samples kept at most (the oldest go first): a busy till must not grow memory without bound. */
  maxSamples?: number
}

/** Nearest-rank percentile of sorted values; 0 for none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!
}

export function createTapLatencyWindow(options: TapLatencyOptions): TapLatencyWindow {
  const windowMs = options.windowMs ?? 60_000
  const maxSamples = options.maxSamples ?? 10_000
  const samples: Array<{ at: number; ms: number }> = []
  const prune = (now: number) => {
    while (samples.length > 0 && (samples[0]!.at <= now - windowMs || samples.length > maxSamples)) samples.shift()
  }
  return {
    record(durationMs) {
      if (!Number.isFinite(durationMs)) return
      const now = options.now()
      samples.push({ at: now, ms: Math.max(0, Math.round(durationMs)) })
      prune(now)
    },
    stats() {
      prune(options.now())
      const sorted = samples.map((s) => s.ms).sort((a, b) => a - b)
      return { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? 0 }
    },
  }
}
