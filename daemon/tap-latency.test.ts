import t from 'tap'
import { createTapLatencyWindow, percentile } from './tap-latency.js'

t.test('nearest-rank percentiles', async (t) => {
  t.equal(percentile([], 50), 0)
  t.equal(percentile([7], 99), 7)
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1)
  t.equal(percentile(hundred, 50), 50)
  t.equal(percentile(hundred, 99), 99)
})

t.test('stats cover the last minute only (fake clock)', async (t) => {
  let now = 0
  const window = createTapLatencyWindow({ now: () => now })
  t.same(window.stats(), { count: 0, p50: 0, p99: 0, max: 0 })
  window.record(900)
  now = 30_000
  for (const ms of [100, 200, 300]) window.record(ms)
  t.same(window.stats(), { count: 4, p50: 200, p99: 900, max: 900 })
  now = 60_001
  t.same(window.stats(), { count: 3, p50: 200, p99: 300, max: 300 }, 'the sample of minute ago is gone')
  now = 90_001
  t.same(window.stats(), { count: 0, p50: 0, p99: 0, max: 0 })
})

t.test('samples are bounded and nonsense durations are ignored', async (t) => {
  const window = createTapLatencyWindow({ now: () => 0, maxSamples: 3 })
  for (const ms of [1, 2, 3, 4, 5]) window.record(ms)
  window.record(Number.NaN)
  window.record(-5)
  t.same(window.stats(), { count: 3, p50: 4, p99: 5, max: 5 }, 'the oldest went first (1, 2, 3); a negative time counts as 0; NaN is dropped')
})
