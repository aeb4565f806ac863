// The gateway's CPU per sale in its busiest seconds: samples split over the
// seconds they span, the seconds with the most answers taken, and nothing
// claimed where the series has no start or the samples do not cover it.
import t from 'tap'
import { busiestSecondsCpu, cpuAtOfferedRate, cpuPerSecond, type CpuSample } from './busiest-seconds.js'

const START = 1_700_000_000_000
/** Samples every 500 ms from START, the CPU growing by the given ms in each half second (main thread, process). */
function samplesOf(halfSeconds: Array<[number, number]>): CpuSample[] {
  const samples: CpuSample[] = [{ atEpochMs: START, mainMs: 1_000, processMs: 2_000 }]
  for (const [main, process] of halfSeconds) {
    const last = samples.at(-1)!
    samples.push({ atEpochMs: last.atEpochMs + 500, mainMs: last.mainMs + main, processMs: last.processMs + process })
  }
  return samples
}

t.test('each second gets the CPU of the intervals in it, an interval across two seconds split by time', async (t) => {
  const series = { intervalMs: 1000, startedAtEpochMs: START, achievedPerSec: [10, 20] }
  t.same(cpuPerSecond(samplesOf([[100, 150], [200, 300], [400, 500], [40, 60]]), series), [
    { mainMs: 300, processMs: 450 },
    { mainMs: 440, processMs: 560 },
  ])
  // From 250 ms into second 0 to 250 ms into second 1: three quarters of the interval fall in second 0.
  const skewed: CpuSample[] = [
    { atEpochMs: START + 250, mainMs: 0, processMs: 0 },
    { atEpochMs: START + 1_250, mainMs: 100, processMs: 200 },
  ]
  t.same(cpuPerSecond(skewed, series), [
    { mainMs: 75, processMs: 150 },
    { mainMs: 25, processMs: 50 },
  ])
})

t.test('the busiest seconds: CPU per answer where the gateway answered most, not the run average', async (t) => {
  // A quiet second (100 answers, 50 ms of main thread: 500 µs each) and two busy ones (2,000 answers on 600 ms: 300 µs each).
  const samples = samplesOf([[25, 40], [25, 40], [300, 450], [300, 450], [300, 450], [300, 450], [10, 10], [10, 10]])
  const series = { intervalMs: 1000, startedAtEpochMs: START, achievedPerSec: [100, 2_000, 2_000, 0] }
  t.same(busiestSecondsCpu(samples, series, 2), { seconds: 2, answeredPerSec: 2_000, mainThreadUsPerSale: 300, processUsPerSale: 450 })
  t.same(busiestSecondsCpu(samples, series, 5), { seconds: 3, answeredPerSec: 1_367, mainThreadUsPerSale: 305, processUsPerSale: 459 }, 'fewer seconds with answers than asked: those there are')
})

t.test('nothing is claimed without a start, samples, answers, or seconds the samples cover', async (t) => {
  const samples = samplesOf([[100, 100], [100, 100]])
  t.equal(busiestSecondsCpu(samples, { intervalMs: 1000, achievedPerSec: [100] }), undefined, 'no start time')
  t.equal(busiestSecondsCpu(samples.slice(0, 1), { intervalMs: 1000, startedAtEpochMs: START, achievedPerSec: [100] }), undefined, 'one sample')
  t.equal(busiestSecondsCpu(samples, { intervalMs: 1000, startedAtEpochMs: START, achievedPerSec: [0] }), undefined, 'no answers')
  // The series began 2 s before the samples: its seconds 0 and 1 had CPU nobody measured.
  t.same(
    busiestSecondsCpu(samples, { intervalMs: 1000, startedAtEpochMs: START - 2_000, achievedPerSec: [5_000, 5_000, 100] }),
    { seconds: 1, answeredPerSec: 100, mainThreadUsPerSale: 2_000, processUsPerSale: 2_000 },
    'only the second the samples cover',
  )
})

t.test('the CPU at one offered rate: the seconds offered at it, as shares of a core, its partial first and last seconds left out', async (t) => {
  // Seconds 0-3: 1,000/s offered in seconds 1 and 2 only whole; second 0 and 3 are the phase's edges.
  const series = { intervalMs: 1000, startedAtEpochMs: START, offeredPerSec: [400, 1_000, 1_005, 600, 2_000], achievedPerSec: [380, 990, 1_010, 620, 1_900] }
  const samples = samplesOf([
    [100, 150],
    [100, 150],
    [300, 500],
    [400, 700],
    [250, 400],
    [250, 400],
    [200, 300],
    [200, 300],
    [450, 900],
    [450, 900],
  ])
  t.same(cpuAtOfferedRate(samples, series, 1_000), { offeredPerSec: 1_000, seconds: 2, answeredPerSec: 1_000, mainThreadShare: 0.6, processShare: 1 })
  t.same(cpuAtOfferedRate(samples, series, 2_000), { offeredPerSec: 2_000, seconds: 1, answeredPerSec: 1_900, mainThreadShare: 0.9, processShare: 1.8 })
  t.equal(cpuAtOfferedRate(samples, series, 3_000), undefined, 'a rate not offered')
  t.equal(cpuAtOfferedRate(samples.slice(0, 3), series, 2_000), undefined, 'seconds the samples do not cover')
  t.equal(cpuAtOfferedRate(samples, { ...series, startedAtEpochMs: undefined }, 1_000), undefined, 'no start time')
})
