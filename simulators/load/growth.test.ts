// The growth bench, tiny: the real gateway on an empty and on a filled ledger,
// the load generator, autocannon against the portal and a bare route, and a
// real kiosk daemon process, with a handful of everything. Only that it runs
// and reports every field as a number is checked, never a rate.
import t from 'tap'
import { runGrowthBench } from './growth.js'
import { judgeGrowthTargets } from './targets.js'

t.test('the growth bench runs and reports every field as a number', async (t) => {
  const lines: string[] = []
  const result = await runGrowthBench(
    {
      postings: 300,
      fillKiosks: 2,
      fillWristbands: 10,
      kiosks: 2,
      wristbands: 4,
      ingestOfferedPerSec: 20,
      ingestSeconds: 0.5,
      ingestDrainSeconds: 20,
      portalConnections: 2,
      portalWarmupSeconds: 0.5,
      portalRounds: 2,
      portalRoundSeconds: 0.5,
      portalIngestRounds: 1,
      portalIngestPerSec: 20,
      kioskSales: 20,
    },
    (line) => lines.push(line),
  )
  const json = JSON.parse(JSON.stringify(result)) as Record<string, unknown>
  for (const key of [
    'postings',
    'fillMs',
    'ingestEmptySalesPerSec',
    'ingestFilledSalesPerSec',
    'ingestFilledToEmpty',
    'portalCustomerRequestsPerSec',
    'portalBareRequestsPerSec',
    'portalCustomerWithIngestRequestsPerSec',
    'portalCustomerToBare',
    'portalWithIngestToBare',
    'portalCustomerCpuMicrosPerRequest',
    'portalBareCpuMicrosPerRequest',
    'portalCpuRatio',
    'portalIngestAchievedPerSec',
    'kioskRssStartMb',
    'kioskRssAfterMb',
    'ms',
  ])
    t.type(json[key], 'number', key)
  t.ok((json.postings as number) >= 300, 'the filled ledger holds the postings asked for')
  t.equal(json.kioskSalesAccepted, 20, 'every sale of the kiosk daemon was accepted')
  t.equal(json.portalFailedRequests, 0, 'the portal answered every request 200')
  t.equal((json.portalRoundRatios as unknown[]).length, 2, 'a ratio for each round of the portal against the bare route')
  t.equal((json.portalWithIngestRoundRatios as unknown[]).length, 1, 'a ratio for each run of the portal beside the sales')
  t.ok(lines.some((l) => l.startsWith('growth, portal round 2 of 2: portal ')), 'each round is printed')
  t.ok(lines.some((l) => l.startsWith('growth, filled ledger: load: open loop')), 'the generator ran against the filled ledger')
  // The bench judges the growth targets from this result (targets.ts): each verdict says met or not, and what stops one that is not.
  for (const [name, verdict] of Object.entries(judgeGrowthTargets(result))) {
    t.type(verdict.met, 'boolean', `${name}.met`)
    if (!verdict.met) t.type(verdict.limitedBy, 'string', `${name}: what stops it`)
  }
})
