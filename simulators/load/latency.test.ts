import t from 'tap'
import { createLatencyRecorder } from './latency.js'

t.test('the HDR summary has every field, in ms, from all recorded answers', async (t) => {
  const latency = createLatencyRecorder()
  t.same(latency.summary(), { count: 0, p50: 0, p99: 0, p999: 0, max: 0 }, 'all zero before anything is recorded')
  for (let ms = 1; ms <= 1000; ms++) latency.record(ms)
  latency.record(2500.5)
  const s = latency.summary()
  t.same(Object.keys(s).sort(), ['count', 'max', 'p50', 'p99', 'p999'])
  t.equal(s.count, 1001)
  // Three significant digits: within 0.1% of the exact ranks.
  t.ok(Math.abs(s.p50 - 501) <= 1, `p50 ${s.p50}`)
  t.ok(Math.abs(s.p99 - 991) <= 1, `p99 ${s.p99}`)
  t.ok(Math.abs(s.p999 - 1000) <= 1, `p99.9 ${s.p999}`)
  t.ok(Math.abs(s.max - 2500.5) <= 2.5, `max ${s.max}`)
})

t.test('a value below the resolution or negative (a clock step) is still counted', async (t) => {
  const latency = createLatencyRecorder()
  latency.record(-3)
  latency.record(0.0001)
  t.equal(latency.summary().count, 2)
  t.equal(latency.summary().max, 0)
})
