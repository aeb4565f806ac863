// Interval timers that fire only when the test says so (gateway/interval-timers.ts). Test code only.
import type { IntervalTimers } from '../interval-timers.js'

export interface FakeIntervalTimers {
  timers: IntervalTimers
  /** The intervals set and not cleared, by handle. */
  intervals: Map<number, { fn: () => void; ms: number }>
  /** Runs every interval of `ms` once (every interval, without `ms`). */
  fire(ms?: number): void
}

export function fakeIntervalTimers(): FakeIntervalTimers {
  const intervals = new Map<number, { fn: () => void; ms: number }>()
  let next = 1
  const timers: IntervalTimers = {
    setInterval: (fn, ms) => {
      intervals.set(next, { fn, ms })
      return next++
    },
    clearInterval: (handle) => void intervals.delete(handle as number),
  }
  return { timers, intervals, fire: (ms) => [...intervals.values()].filter((i) => ms === undefined || i.ms === ms).forEach((i) => i.fn()) }
}
