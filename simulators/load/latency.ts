// Latency of a load phase in an HDR histogram (hdr-histogram-js): every sale's
// wait is recorded, at microsecond resolution with three significant digits,
// so p99.9 and the maximum are read from all of them rather than a sample.
import * as hdr from 'hdr-histogram-js'

export interface LatencySummary {
  /** Answers recorded. */
  count: number
  p50: number
  p99: number
  p999: number
  max: number
}

export interface LatencyRecorder {
  /** One answer that came `ms` after the sale's intended send time. */
  record(ms: number): void
  /** Milliseconds, rounded to 0.01; all zero before anything is recorded. */
  summary(): LatencySummary
}

/** Longest wait the histogram tracks: an hour, far past any phase. */
const HIGHEST_TRACKABLE_US = 3_600_000_000

const round2 = (us: number) => Math.round(us / 10) / 100

export function createLatencyRecorder(): LatencyRecorder {
  const histogram = hdr.build({ useWebAssembly: false, lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_TRACKABLE_US, numberOfSignificantValueDigits: 3 })
  return {
    record(ms) {
      // An answer cannot come before it was due; a negative value would be a clock step.
      histogram.recordValue(Math.min(HIGHEST_TRACKABLE_US, Math.max(1, Math.round(ms * 1000))))
    },
    summary() {
      const count = histogram.totalCount
      if (count === 0) return { count: 0, p50: 0, p99: 0, p999: 0, max: 0 }
      return {
        count,
        p50: round2(histogram.getValueAtPercentile(50)),
        p99: round2(histogram.getValueAtPercentile(99)),
        p999: round2(histogram.getValueAtPercentile(99.9)),
        max: round2(histogram.maxValue),
      }
    },
  }
}
