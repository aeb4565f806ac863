// Sales per second over a whole load run, for the bench report's
// throughput-over-time figure: how many sales were due in each second (the
// offered rate, from the generator's schedule, whether or not they went out
// on time) and how many answers came back in it (the achieved rate, late
// answers to an earlier phase included, since the gateway did that work then).
// Seconds count from the start of the run's first phase; the gaps between
// phases are in it too, so a queue draining after an overloaded phase shows.

export interface ThroughputSeries {
  /** The width of each bucket: one second. */
  intervalMs: number
  /** Sales due in each second of the run, index 0 being its first second. */
  offeredPerSec: number[]
  /** Answers received in each second; as long as offeredPerSec. */
  achievedPerSec: number[]
  /** Wall-clock time (Date.now()) of second 0, once a phase started: other processes' figures line up with it. */
  startedAtEpochMs?: number
}

export interface ThroughputRecorder {
  /** The run's first phase began at this wall-clock time (Date.now()); second 0 starts then. */
  started(epochMs: number): void
  /** A sale due `atMs` after the run's start. */
  offered(atMs: number): void
  /** An answer received `atMs` after the run's start. */
  answered(atMs: number): void
  /** Both series, zero-filled to the last second anything happened in. */
  series(): ThroughputSeries
}

const INTERVAL_MS = 1000

export function createThroughputRecorder(): ThroughputRecorder {
  const offered: number[] = []
  const achieved: number[] = []
  let startedAtEpochMs: number | undefined
  const add = (counts: number[], atMs: number) => {
    // A time before the start would be a clock step; it counts in the first second.
    const bucket = Math.max(0, Math.floor(atMs / INTERVAL_MS))
    while (counts.length <= bucket) counts.push(0)
    counts[bucket]! += 1
  }
  return {
    started: (epochMs) => void (startedAtEpochMs ??= epochMs),
    offered: (atMs) => add(offered, atMs),
    answered: (atMs) => add(achieved, atMs),
    series() {
      const length = Math.max(offered.length, achieved.length)
      const filled = (counts: number[]) => Array.from({ length }, (_, i) => counts[i] ?? 0)
      return { intervalMs: INTERVAL_MS, offeredPerSec: filled(offered), achievedPerSec: filled(achieved), ...(startedAtEpochMs === undefined ? {} : { startedAtEpochMs }) }
    },
  }
}
