// Timer functions as the gateway's periodic work takes them (backups, the
// background jobs' leases and polls): globalThis's in a running gateway, a
// fake that fires when a test says so (gateway/testing/fake-interval-timers.ts).

export interface IntervalTimers {
  setInterval(fn: () => void, ms: number): unknown
  clearInterval(handle: unknown): void
}
