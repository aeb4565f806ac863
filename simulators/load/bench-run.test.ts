// The honest benchmark, tiny: the real gateway and two load generators as
// processes of their own, a handful of sales. Only the shape of its JSON and
// the books are checked, never a rate or a latency.
import t from 'tap'
import { capacityCpu, runEndToEndBench } from './bench-run.js'
import { escapeHtml, jsonFigures, renderBenchReport } from './report.js'

t.test('the end-to-end bench runs and reports every field as JSON', async (t) => {
  const lines: string[] = []
  const result = await runEndToEndBench(
    {
      kiosks: 4,
      wristbands: 8,
      ratesPerSec: [20],
      phaseMs: 500,
      drainMs: 20_000,
      capacity: { p99LimitMs: 50, maxPhases: 1, phaseMs: 500 },
      saturate: true,
      nullRatePerSec: 100,
      nullPhaseMs: 300,
      limitMs: 50,
      sqliteBatchSizes: [1, 8],
    },
    (line) => lines.push(line),
  )
  const json = JSON.parse(JSON.stringify(result)) as Record<string, any>
  for (const key of ['e2eSalesPerSec', 'closedLoopCapacityPerSec']) t.type(json[key], 'number', key)
  t.same(Object.keys(json.latencyMs).sort(), ['atOfferedPerSec', 'max', 'p50', 'p99'])
  t.equal(json.openLoop.length, 1, 'one open-loop row per offered rate')
  t.same(Object.keys(json.openLoop[0]).filter((k) => ['offeredPerSec', 'achievedPerSec', 'p50', 'p99', 'p999', 'max', 'unanswered'].includes(k)).sort(), [
    'achievedPerSec',
    'max',
    'offeredPerSec',
    'p50',
    'p99',
    'p999',
    'unanswered',
  ])
  t.equal(json.openLoop[0].offeredPerSec, 20)
  for (const key of ['ed25519VerifiesPerSec', 'ed25519VerifiesPerSecPool', 'ed25519VerifiesPerSecVerifyThreads', 'verifyThreads', 'brokerQos1RoundTripsPerSec']) t.type(json.limits[key], 'number', `limits.${key}`)
  const ceilings = json.ceilings as Array<{ resource: string; perSec: number }>
  t.ok(ceilings.length >= 4, 'the ceilings of the run: generator, broker, verify threads, SQLite (and the gateway\'s CPU)')
  t.same(
    ceilings.map((c) => c.perSec),
    [...ceilings.map((c) => c.perSec)].sort((a, b) => a - b),
    'lowest first',
  )
  t.ok(ceilings.some((c) => /signature-check thread/.test(c.resource)), 'the verify threads are one of them')
  t.same(Object.keys(json.limits.sqliteCommitsPerSec).sort(), ['1', '8'], 'SQLite commits/s per batch size')
  // The saturation phase: twice the highest rate offered before it, unless a phase had a backlog already.
  const before = [...json.openLoop, ...json.capacitySearch] as Array<{ offeredPerSec: number; achievedPerSec: number; p50: number }>
  const backlogBefore = before.some((p) => p.achievedPerSec < 0.9 * p.offeredPerSec || p.p50 >= 50)
  if (backlogBefore) t.equal(json.saturation, undefined, 'no saturation phase after a backlog')
  else t.equal(json.saturation?.offeredPerSec, 2 * Math.max(...before.map((p) => p.offeredPerSec)), 'the saturation phase at twice the highest rate offered')
  t.type(json.generator.idleShare, 'number')
  t.type(json.generator.maxRatePerSec, 'number')
  t.equal(json.ledgerBalanced, true, 'the books balance')
  t.equal(json.invariantViolations, 0)
  t.equal(json.salesBooked, json.salesOffered, 'every sale offered is booked, once')
  t.equal(json.salesAnsweredInPhases, json.salesOffered, 'and answered within its phase (a generous drain)')
  const { offeredPerSec, achievedPerSec } = json.throughputOverTime as { offeredPerSec: number[]; achievedPerSec: number[] }
  t.equal(offeredPerSec.length, achievedPerSec.length, 'throughput over time: one value per second in each series')
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0)
  t.equal(sum(offeredPerSec), json.salesOffered, 'every sale offered to the real gateway is in the offered series')
  t.equal(sum(achievedPerSec), json.salesAnsweredInPhases, 'every answer in the achieved series')
  // The report page of this very result: a point per offered rate and per second, every figure of the JSON line named.
  const html = renderBenchReport({ results: json, settings: {} })
  t.match(html, `data-series="p99" data-points="${json.openLoop.length}"`, 'the latency figure has a point per offered rate')
  t.match(html, `data-series="achieved" data-points="${achievedPerSec.length}"`, 'the throughput figure a point per second')
  t.same(
    jsonFigures(json).filter(([key, value]) => !html.includes(`<td>${escapeHtml(key)}</td><td>${escapeHtml(value)}</td>`)),
    [],
    'every figure of the JSON line is on the page',
  )
  for (const name of ['capacityPerSec', 'capacityPerVerifyOneCore', 'p99At500Ms']) {
    const verdict = json.targets[name] as Record<string, unknown>
    t.type(verdict.met, 'boolean', `targets.${name}.met`)
    t.type(verdict.value, 'number', `targets.${name}.value`)
    if (verdict.met === false) t.type(verdict.limitedBy, 'string', `targets.${name}: what stops it`)
  }
  t.type(json.gatewayCpu.cores, 'number')
  // The gateway's CPU in the seconds it answered most, lined up with the generator's clock.
  t.type(json.throughputOverTime.startedAtEpochMs, 'number', 'the series says when its second 0 began')
  t.type(json.gatewayCpu.busiest?.mainThreadUsPerSale, 'number', 'main thread µs a sale in the busiest seconds')
  t.ok(json.gatewayCpu.busiest.answeredPerSec > 0 && json.gatewayCpu.busiest.seconds >= 1)
  t.ok(lines.some((l) => /busiest seconds \(\d+ answers\/s\) main thread \d+ µs/.test(l)), 'and printed')
  // The generator's CPU, measured beside the gateway's: both share this machine's cores.
  t.type(json.generatorCpu.processUsPerSale, 'number', "the generator's CPU per sale offered, over the run")
  t.type(json.generatorCpu.busiest?.processUsPerSale, 'number', 'and in the busiest seconds')
  t.equal(json.generatorCpu.busiest.seconds, json.gatewayCpu.busiest.seconds, 'the same seconds as the gateway')
  const shared = ceilings.find((c) => /shared by the gateway and the load generator/.test(c.resource))
  t.ok(shared, 'a ceiling for the cores the gateway and the generator share')
  t.ok(shared!.perSec < ceilings.find((c) => /for the gateway alone/.test(c.resource))!.perSec, 'below the gateway alone')
  t.ok(lines.some((l) => l.startsWith('load: open loop')), 'the generator process reported its phase')
  t.ok(lines.some((l) => l.startsWith('null gateway: ')), 'and its phase against the null gateway')
})

t.test('the CPU at the capacity found: the gateway and the generator in the seconds offered at that rate, and the machine they share', async (t) => {
  const START = 1_700_000_000_000
  const throughput = { intervalMs: 1000, startedAtEpochMs: START, offeredPerSec: [2_000, 2_000, 3_000, 3_000], achievedPerSec: [2_000, 2_000, 2_900, 2_950] }
  /** A sample at each second's start, the CPU growing by the given ms in each second (main thread, process). */
  const samplesOf = (perSecond: Array<[number, number]>) =>
    perSecond.reduce((samples, [main, proc], i) => [...samples, { atEpochMs: START + (i + 1) * 1000, mainMs: samples.at(-1)!.mainMs + main, processMs: samples.at(-1)!.processMs + proc }], [
      { atEpochMs: START, mainMs: 0, processMs: 0 },
    ])
  const gateway = samplesOf([
    [700, 1_100],
    [740, 1_140],
    [950, 1_500],
    [960, 1_520],
  ])
  const generator = samplesOf([
    [300, 500],
    [300, 540],
    [450, 700],
    [450, 720],
  ])
  t.same(capacityCpu({ capacity: { capacityPerSec: 2_000, phases: [] } as never, throughput }, gateway, generator, 2), {
    offeredPerSec: 2_000,
    seconds: 2,
    gatewayMainThreadShare: 0.72,
    gatewayProcessShare: 1.12,
    generatorProcessShare: 0.52,
    machineShare: 0.82,
  })
  t.same(capacityCpu({ capacity: { capacityPerSec: 2_000, phases: [] } as never, throughput }, gateway, [], 2), {
    offeredPerSec: 2_000,
    seconds: 2,
    gatewayMainThreadShare: 0.72,
    gatewayProcessShare: 1.12,
  }, "without the generator's samples: the gateway's only")
  t.equal(capacityCpu({ throughput }, gateway, generator, 2), undefined, 'no capacity search')
  t.equal(capacityCpu({ capacity: { capacityPerSec: 0, phases: [] } as never, throughput }, gateway, generator, 2), undefined, 'no rate sustained')
})
