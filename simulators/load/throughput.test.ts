// Sales per second over a load run: the recorder's buckets, and the
// generator's series against the null gateway (counts only, never a rate).
import t from 'tap'
import { createLoadGenerator } from './generator.js'
import { createLoadEvent } from './load-event.js'
import { startNullGateway } from './null-gateway.js'
import { createThroughputRecorder } from './throughput.js'

t.test('sales due and answers received are counted in the second they fall in, gaps zero-filled', async (t) => {
  const recorder = createThroughputRecorder()
  t.same(recorder.series(), { intervalMs: 1000, offeredPerSec: [], achievedPerSec: [] }, 'empty before anything happened')
  for (const atMs of [0, 10, 999, 2_500]) recorder.offered(atMs)
  for (const atMs of [400, 1_000, 3_999.9, -5]) recorder.answered(atMs)
  t.same(recorder.series(), { intervalMs: 1000, offeredPerSec: [3, 0, 1, 0], achievedPerSec: [2, 1, 0, 1] }, 'both as long as the later one; a time before the start counts in second 0')
  recorder.started(1_700_000_000_000)
  recorder.started(1_700_000_009_000)
  t.equal(recorder.series().startedAtEpochMs, 1_700_000_000_000, 'second 0 began when the first phase started, not a later one')
})

t.test('the generator reports every sale it offered and every answer, per second, across phases', async (t) => {
  const { fleet } = createLoadEvent({ kiosks: 2, wristbands: 2 })
  const nullGateway = await startNullGateway()
  t.teardown(() => nullGateway.close())
  const generator = createLoadGenerator({ fleet, mqttUrl: nullGateway.url })
  t.teardown(() => generator.close())
  await generator.connect()
  t.same(generator.throughput().offeredPerSec, [], 'nothing before the first phase')
  const first = await generator.runPhase({ ratePerSec: 40, durationMs: 500, drainMs: 5_000 })
  const second = await generator.runPhase({ ratePerSec: 20, durationMs: 500, drainMs: 5_000 })
  const series = generator.throughput()
  t.ok(series.startedAtEpochMs !== undefined && series.startedAtEpochMs <= Date.now() && series.startedAtEpochMs > Date.now() - 60_000, 'the wall-clock time of second 0, so another process can line its figures up')
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0)
  t.equal(series.offeredPerSec.length, series.achievedPerSec.length, 'one point per second in each series')
  t.equal(sum(series.offeredPerSec), first.sales + second.sales, 'every sale offered is in the series')
  t.equal(sum(series.achievedPerSec), first.sales + second.sales - first.unanswered - second.unanswered, 'and every answer')
  t.equal(second.unanswered, 0)
})
