// The gateway's CPU per sale in the seconds it answered most, beside the
// whole run's. Over a whole run the figure mixes the quiet phases (a sale or
// two per commit, so every per-batch cost falls on one sale) with the busy
// ones (big batches): the run's average can say a core carries 2,000 sales/s
// while the same gateway answered 3,900 in a second of the same run. What a
// core carries when the gateway is at its busiest is the ceiling to judge
// capacity by; the run's average stays beside it. The same samples, taken of
// the load generator's process, give its CPU in the same seconds (the two
// share the machine), and the seconds at one offered rate say how busy both
// were there.
import type { ThroughputSeries } from './throughput.js'

/** A process's CPU (the gateway's, the generator's) as sampled during the run: wall-clock time (Date.now()) and cumulative CPU ms. */
export interface CpuSample {
  atEpochMs: number
  mainMs: number
  processMs: number
}

export interface BusiestSecondsCpu {
  /** How many seconds were taken (the busiest by answers; fewer when the run had fewer with answers). */
  seconds: number
  /** Answers per second in those seconds, on average. */
  answeredPerSec: number
  mainThreadUsPerSale: number
  processUsPerSale: number
}

/** The gateway's CPU in each second of the series: the growth between samples, split over the seconds each interval spans. */
export function cpuPerSecond(samples: readonly CpuSample[], series: Pick<ThroughputSeries, 'intervalMs' | 'startedAtEpochMs' | 'achievedPerSec'>): Array<{ mainMs: number; processMs: number }> {
  const buckets = series.achievedPerSec.map(() => ({ mainMs: 0, processMs: 0 }))
  const start = series.startedAtEpochMs
  if (start === undefined) return buckets
  for (let i = 1; i < samples.length; i++) {
    const from = samples[i - 1]!
    const to = samples[i]!
    const spanMs = to.atEpochMs - from.atEpochMs
    if (!(spanMs > 0)) continue
    const mainMs = to.mainMs - from.mainMs
    const processMs = to.processMs - from.processMs
    // Each second gets the share of this interval that falls in it.
    const first = Math.max(0, Math.floor((from.atEpochMs - start) / series.intervalMs))
    const last = Math.min(buckets.length - 1, Math.floor((to.atEpochMs - start) / series.intervalMs))
    for (let b = first; b <= last; b++) {
      const bucketStart = start + b * series.intervalMs
      const overlapMs = Math.min(to.atEpochMs, bucketStart + series.intervalMs) - Math.max(from.atEpochMs, bucketStart)
      if (overlapMs <= 0) continue
      buckets[b]!.mainMs += (mainMs * overlapMs) / spanMs
      buckets[b]!.processMs += (processMs * overlapMs) / spanMs
    }
  }
  return buckets
}

type Series = Pick<ThroughputSeries, 'intervalMs' | 'startedAtEpochMs' | 'achievedPerSec'>

/** The seconds of the series with answers that the samples cover whole (a second before the first sample or after the last has no CPU in it). */
function coveredSeconds(samples: readonly CpuSample[], series: Series): Array<{ answered: number; i: number }> {
  if (series.startedAtEpochMs === undefined || samples.length < 2) return []
  const coveredFrom = samples[0]!.atEpochMs
  const coveredTo = samples.at(-1)!.atEpochMs
  return series.achievedPerSec
    .map((answered, i) => ({ answered, i, from: series.startedAtEpochMs! + i * series.intervalMs }))
    .filter((s) => s.answered > 0 && s.from >= coveredFrom && s.from + series.intervalMs <= coveredTo)
}

/** CPU per answer in the `count` seconds with the most answers; undefined without a start time, samples or answers. */
export function busiestSecondsCpu(samples: readonly CpuSample[], series: Series, count = 5): BusiestSecondsCpu | undefined {
  const seconds = coveredSeconds(samples, series)
    .sort((a, b) => b.answered - a.answered || a.i - b.i)
    .slice(0, count)
  const answered = seconds.reduce((n, s) => n + s.answered, 0)
  if (answered === 0) return undefined
  const cpu = cpuPerSecond(samples, series)
  const mainMs = seconds.reduce((n, s) => n + cpu[s.i]!.mainMs, 0)
  const processMs = seconds.reduce((n, s) => n + cpu[s.i]!.processMs, 0)
  return {
    seconds: seconds.length,
    answeredPerSec: Math.round(answered / seconds.length),
    mainThreadUsPerSale: Math.round((mainMs * 1000) / answered),
    processUsPerSale: Math.round((processMs * 1000) / answered),
  }
}

/** How busy a process was while one rate was offered: its CPU as a share of one core, over the seconds offered at that rate. */
export interface CpuAtRate {
  offeredPerSec: number
  seconds: number
  answeredPerSec: number
  /** CPU of the main thread a second, as a share of one core (1: always running). */
  mainThreadShare: number
  /** CPU of the whole process a second, as a share of one core (2: two cores' worth). */
  processShare: number
}

/**
 * The CPU in the seconds where `ratePerSec` was offered (within 1%, so a phase's
 * first and last seconds, only partly in it, are left out); undefined where no
 * such second was covered. Capacity is where p99 passes its limit: how busy the
 * gateway and the generator were there tells whether the machine was full or the
 * gateway's own queueing stopped it.
 */
export function cpuAtOfferedRate(samples: readonly CpuSample[], series: Series & Pick<ThroughputSeries, 'offeredPerSec'>, ratePerSec: number): CpuAtRate | undefined {
  const seconds = coveredSeconds(samples, series).filter((s) => Math.abs((series.offeredPerSec[s.i] ?? 0) - ratePerSec) <= ratePerSec * 0.01)
  if (seconds.length === 0) return undefined
  const cpu = cpuPerSecond(samples, series)
  const share = (ms: number) => Math.round((ms / (seconds.length * series.intervalMs)) * 1000) / 1000
  return {
    offeredPerSec: ratePerSec,
    seconds: seconds.length,
    answeredPerSec: Math.round(seconds.reduce((n, s) => n + s.answered, 0) / seconds.length),
    mainThreadShare: share(seconds.reduce((n, s) => n + cpu[s.i]!.mainMs, 0)),
    processShare: share(seconds.reduce((n, s) => n + cpu[s.i]!.processMs, 0)),
  }
}
