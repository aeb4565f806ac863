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

t.test('a full ring keeps the newest samples in the order they came, over many turns', async (t) => {
  let now = 0
  const window = createTapLatencyWindow({ now: () => now, maxSamples: 4, windowMs: 1_000 })
  for (let i = 1; i <= 10; i++) window.record(i * 10)
  t.same(window.stats(), { count: 4, p50: 80, p99: 100, max: 100 }, '70, 80, 90 and 100 are kept')
  now = 500
  window.record(5)
  t.same(window.stats(), { count: 4, p50: 80, p99: 100, max: 100 }, '70 made room for 5: 5, 80, 90, 100')
  now = 1_000
  t.same(window.stats(), { count: 1, p50: 5, p99: 5, max: 5 }, 'the four of time 0 left the window; the one of time 500 is still in it')
  window.record(1_000_000)
  t.same(window.stats(), { count: 2, p50: 5, p99: 1_000_000, max: 1_000_000 }, 'sorted as numbers, not as text')
})
