// The bench's verdict on issue 17's targets: met or not, and for one not met
// the ceiling of this run that stops it.
import t from 'tap'
import { cpuMs, describeCeilings, GROWTH_TARGETS, judgeGrowthTargets, judgeTargets, lowestCeiling, rankCeilings, TARGETS } from './targets.js'

const ceilings = [
  { resource: 'load generator', perSec: 9_000 },
  { resource: 'broker', perSec: 7_500 },
  { resource: 'gateway main thread', perSec: 2_400 },
  { resource: 'SQLite', perSec: 100_000 },
]

t.test('targets met are met, with their values and no limit', async (t) => {
  const verdict = judgeTargets({ capacityPerSec: 6_000, p99At500Ms: 9, verifiesPerSecOneCore: 11_000, ceilings: [{ resource: 'gateway main thread', perSec: 8_000 }] })
  t.same(verdict.capacityPerSec, { met: true, value: 6_000, target: TARGETS.capacityPerSec })
  t.same(verdict.capacityPerVerifyOneCore, { met: true, value: 0.545, target: 0.5 })
  t.same(verdict.p99At500Ms, { met: true, value: 9, target: 15 })
})

t.test('a capacity short of the target names the lowest ceiling that stops it, with its rate', async (t) => {
  const verdict = judgeTargets({ capacityPerSec: 2_000, p99At500Ms: 8, verifiesPerSecOneCore: 12_000, ceilings })
  t.same(verdict.capacityPerSec, { met: false, value: 2_000, target: 5_000, limit: 2_400, limitedBy: 'gateway main thread' })
  t.same(verdict.capacityPerVerifyOneCore, { met: false, value: 0.167, target: 0.5, limit: 2_400, limitedBy: 'gateway main thread' })
})

t.test('every ceiling is listed lowest first with its rate, so the line says what stops capacity and what comes next', async (t) => {
  const withUnmeasured = [...ceilings, { resource: 'not measured here', perSec: 0 }, { resource: 'main thread at 347 µs a sale', perSec: 1e6 / 347 }]
  t.same(
    rankCeilings(withUnmeasured).map((c) => c.perSec),
    [2_400, 2_882, 7_500, 9_000, 100_000],
  )
  t.equal(
    describeCeilings(withUnmeasured),
    'ceilings, lowest first (sales/s): gateway main thread 2,400; main thread at 347 µs a sale 2,882; broker 7,500; load generator 9,000; SQLite 100,000',
  )
  t.equal(describeCeilings([]), 'ceilings, lowest first (sales/s): none measured')
})

t.test('a capacity short of the target with every ceiling above it was stopped by latency', async (t) => {
  const verdict = judgeTargets({ capacityPerSec: 3_000, p99At500Ms: 8, verifiesPerSecOneCore: 12_000, ceilings: ceilings.filter((c) => c.perSec > 6_000) })
  t.equal(verdict.capacityPerSec.met, false)
  t.match(verdict.capacityPerSec.limitedBy, /^p99 over 50 ms before any measured ceiling \(lowest: broker\)/)
  t.equal(verdict.capacityPerSec.limit, 7_500)
  // With how busy the gateway and the machine were where p99 passed its limit.
  const busy = judgeTargets({
    capacityPerSec: 3_000,
    p99At500Ms: 8,
    verifiesPerSecOneCore: 12_000,
    ceilings: ceilings.filter((c) => c.perSec > 6_000),
    atCapacity: { offeredPerSec: 3_000, mainThreadShare: 0.734, machineShare: 0.651 },
  })
  t.equal(busy.capacityPerSec.limitedBy, "p99 over 50 ms before any measured ceiling (lowest: broker); at capacity (3,000/s offered) the gateway's main thread was 73% busy, the machine 65%")
  const gatewayOnly = judgeTargets({ capacityPerSec: 3_000, p99At500Ms: 8, verifiesPerSecOneCore: 12_000, ceilings: ceilings.filter((c) => c.perSec > 6_000), atCapacity: { offeredPerSec: 3_000, mainThreadShare: 0.5 } })
  t.match(gatewayOnly.capacityPerSec.limitedBy, /main thread was 50% busy$/, "without the generator's CPU, the gateway's alone")
})

t.test('a p99 over 15 ms at 500/s names the gateway main thread when it is busy, else the commit time', async (t) => {
  const busy = judgeTargets({ capacityPerSec: 1_000, p99At500Ms: 40, verifiesPerSecOneCore: 12_000, ceilings, mainThreadShareAt500: 0.8, commitMsOneSale: 0.3 })
  t.equal(busy.p99At500Ms.met, false)
  t.equal(busy.p99At500Ms.limit, 0.8)
  t.match(busy.p99At500Ms.limitedBy, /^gateway main thread busy/)
  const slowDisk = judgeTargets({ capacityPerSec: 1_000, p99At500Ms: 40, verifiesPerSecOneCore: 12_000, ceilings, mainThreadShareAt500: 0.2, commitMsOneSale: 12 })
  t.match(slowDisk.p99At500Ms.limitedBy, /^SQLite commit time/)
  t.equal(slowDisk.p99At500Ms.limit, 12)
  const missing = judgeTargets({ capacityPerSec: 1_000, p99At500Ms: undefined, verifiesPerSecOneCore: 12_000, ceilings })
  t.equal(missing.p99At500Ms.met, false, 'no phase at 500/s: not met')
  t.match(missing.p99At500Ms.limitedBy, /^no phase at 500\/s/)
})

t.test('the lowest ceiling ignores unknown ones', async (t) => {
  t.same(lowestCeiling([{ resource: 'a', perSec: 0 }, { resource: 'b', perSec: Number.NaN }, { resource: 'c', perSec: 5 }]), { resource: 'c', perSec: 5 })
  t.equal(lowestCeiling([]), undefined)
})

t.test('CPU time of this process and of its main thread, read from /proc', { skip: process.platform !== 'linux' }, async (t) => {
  const whole = cpuMs(process.pid)
  t.ok(whole !== undefined && whole >= 0)
  const main = cpuMs(process.pid, process.pid)
  t.ok(main !== undefined && main <= whole! + 10, 'the main thread used no more than the process')
  t.equal(cpuMs(-1), undefined, 'a process that does not exist: undefined')
})

t.test('growth targets: met ones carry no limit; one not met names what stops it, with its number', async (t) => {
  const good = { ingestFilledToEmpty: 0.996, ingestFilledSalesPerSec: 2957, portalCustomerToBare: 0.613, portalCustomerRequestsPerSec: 10383, portalBareRequestsPerSec: 16925, kioskRssStartMb: 77.7, kioskRssAfterMb: 79.9, kioskSales: 10_000 }
  const met = judgeGrowthTargets(good)
  t.same(met, {
    ingestFilledToEmpty: { met: true, value: 0.996, target: GROWTH_TARGETS.ingestFilledToEmpty },
    portalCustomerToBare: { met: true, value: 0.613, target: GROWTH_TARGETS.portalCustomerToBare },
    kioskRssAfterMb: { met: true, value: 79.9, target: GROWTH_TARGETS.kioskRssAfterMb },
  })
  const short = judgeGrowthTargets({ ...good, ingestFilledToEmpty: 0.85, ingestFilledSalesPerSec: 2500, portalCustomerToBare: 0.3, portalCustomerRequestsPerSec: 5000, kioskRssAfterMb: 88.2 })
  t.match(short.ingestFilledToEmpty, { met: false, limit: 2500, limitedBy: /filled ledger/ })
  t.match(short.portalCustomerToBare, { met: false, limit: 5000, limitedBy: /bare route 16925\/s/ })
  t.match(short.kioskRssAfterMb, { met: false, limit: 10.5, limitedBy: /growth during 10000 sales/ }, 'started under the target: the sales made the difference')
  t.match(judgeGrowthTargets({ ...good, kioskRssStartMb: 85, kioskRssAfterMb: 86 }).kioskRssAfterMb, { met: false, limit: 85, limitedBy: /before its first sale/ })
  t.equal(judgeGrowthTargets({ ...good, kioskRssAfterMb: 80 }).kioskRssAfterMb.met, false, 'under 80 MB means under')
})
