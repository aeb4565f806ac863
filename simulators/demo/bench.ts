// `npm run bench`: signed sales end to end, measured honestly (the gateway
// and the load generator in processes of their own, sales offered open loop
// at fixed rates, latency from each sale's intended send time, and the highest
// rate sustained with p99 under 50 ms), and in the same run the ceilings this
// machine puts on them (../load/bench-run.ts); the same against a gateway on
// PostgreSQL, shorter (../load/postgres-bench.ts). Then the portal-load scenario
// (portal-load.ts): sales at a fixed offered rate alone, guests polling the
// portal alone, then both. Prints readable lines, then one JSON object as the
// last line.
import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { FULL_BENCH, QUICK_BENCH, runEndToEndBench } from '../load/bench-run.js'
import { FULL_POSTGRES_BENCH, QUICK_POSTGRES_BENCH, runPostgresBench, storeComparisonLines } from '../load/postgres-bench.js'
import { portalLoadReport, runPortalLoad } from './portal-load.js'
import { FULL_GROWTH, QUICK_GROWTH, runGrowthBench } from '../load/growth.js'
import { judgeGrowthTargets } from '../load/targets.js'
import { DEFAULT_REPORT_FILE, writeBenchReport } from '../load/report-file.js'
import { benchCacheDir, defaultBenchCacheDir } from '../load/bench-build.js'

const { values: args } = parseArgs({
  options: {
    kiosks: { type: 'string', default: '8' },
    quick: { type: 'boolean', default: false },
    rates: { type: 'string' },
    'load-kiosks': { type: 'string' },
    wristbands: { type: 'string' },
    seconds: { type: 'string' },
    'p99-ms': { type: 'string' },
    'capacity-phases': { type: 'string' },
    'capacity-seconds': { type: 'string' },
    only: { type: 'string' },
    profile: { type: 'string' },
    'growth-postings': { type: 'string' },
    'portal-rate': { type: 'string', default: '500' },
    'portal-guests': { type: 'string' },
    'portal-seconds': { type: 'string' },
    'portal-poll-ms': { type: 'string', default: '2000' },
    report: { type: 'string', default: DEFAULT_REPORT_FILE },
    cache: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log(`usage: npm run bench -- [--quick] [--only e2e|postgres|portal-load|growth] [--rates R,R,...] [--load-kiosks N] [--seconds S] [--portal-...]
  --quick             a smoke check in under a minute: short phases, fewer rates, fewer kiosks
  --only              run one scenario: e2e (the limits and sales end to end), postgres (the same on a PostgreSQL store, shorter),
                      portal-load or growth (default all four; postgres is skipped, saying why, without PostgreSQL 15's binaries)
  --rates             end to end: sales/s offered open loop, one phase each (default ${FULL_BENCH.ratesPerSec.join(',')})
  --load-kiosks       end to end: kiosks of the load generator, one MQTT connection each (default ${FULL_BENCH.kiosks})
  --wristbands        end to end: guests the sales go to (default ${FULL_BENCH.wristbands})
  --seconds           end to end: length of each open-loop phase (default ${FULL_BENCH.phaseMs / 1000})
  --p99-ms            end to end: the capacity search's p99 limit (default ${FULL_BENCH.capacity.p99LimitMs})
  --capacity-phases   end to end: phases the capacity search may use (default ${FULL_BENCH.capacity.maxPhases})
  --capacity-seconds  end to end: length of each capacity phase (default ${FULL_BENCH.capacity.phaseMs / 1000})
  --profile DIR       end to end: run the gateway with node --cpu-prof and write its .cpuprofile to DIR (read it with npm run profile-summary)
  --growth-postings   growth: postings in the filled ledger (default ${FULL_GROWTH.postings}; --quick ${QUICK_GROWTH.postings})
  --kiosks            portal load: simulated kiosks publishing at once (default 8)
  --portal-rate       portal load: sales offered per second, paced (default 500)
  --portal-guests     portal load: guests logged in to the portal, polling (default 200; --quick 50)
  --portal-seconds    portal load: length of each phase: sales alone, guests alone, both (default 20; --quick 2)
  --portal-poll-ms    portal load: each guest refreshes this long after the last refresh was answered (default 2000)
  --report PATH       also write the results as an HTML page with figures to PATH (default ${DEFAULT_REPORT_FILE} in the current folder)
  --cache DIR|off     where the bench keeps its transpiled build and the growth part's filled ledger between runs
                      (default $WRISTPAY_BENCH_CACHE, else ${defaultBenchCacheDir()}); off: keep nothing, fill every time`)
  process.exit(0)
}
const kioskCount = Number(args.kiosks)
// The children and bench-build.ts read the cache folder from here.
if (args.cache !== undefined) process.env.WRISTPAY_BENCH_CACHE = args.cache

/** The limits of this machine, then signed sales end to end: prints its lines, returns its JSON fields. */
async function endToEndScenario(): Promise<Record<string, unknown>> {
  const base = args.quick ? QUICK_BENCH : FULL_BENCH
  const number = (value: string | undefined, fallback: number) => (value === undefined ? fallback : Number(value))
  return runEndToEndBench(
    {
      ...base,
      kiosks: number(args['load-kiosks'], base.kiosks),
      wristbands: number(args.wristbands, base.wristbands),
      ratesPerSec: args.rates === undefined ? base.ratesPerSec : args.rates.split(',').map(Number),
      phaseMs: number(args.seconds, base.phaseMs / 1000) * 1000,
      capacity: {
        p99LimitMs: number(args['p99-ms'], base.capacity.p99LimitMs),
        maxPhases: number(args['capacity-phases'], base.capacity.maxPhases),
        phaseMs: number(args['capacity-seconds'], base.capacity.phaseMs / 1000) * 1000,
      },
      ...(args.profile === undefined ? {} : { profileDir: args.profile }),
    },
    (line) => console.log(line),
  )
}

const only = args.only
if (only !== undefined && only !== 'e2e' && only !== 'postgres' && only !== 'portal-load' && only !== 'growth') {
  console.error(`--only: e2e, postgres, portal-load or growth, not ${only}`)
  process.exit(2)
}
const startedAt = new Date()
const loadAverageAtStart = loadavg()
const partSeconds: Record<string, number> = {}
const partCpuSeconds: Record<string, number> = {}
/** CPU ms of this process and of its children that have exited (Linux: /proc/self/stat utime, stime, cutime, cstime in 10 ms ticks). */
function cpuWithChildrenMs(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields.slice(11, 15).reduce((sum, f) => sum + Number(f), 0) * 10
  } catch {
    return undefined
  }
}
/** Runs one part of the bench and notes how long it took and the CPU it used, for the report. */
async function timed<T>(part: string, run: () => Promise<T>): Promise<T> {
  const start = performance.now()
  const cpuStart = cpuWithChildrenMs()
  try {
    return await run()
  } finally {
    partSeconds[part] = (performance.now() - start) / 1000
    const cpuEnd = cpuWithChildrenMs()
    if (cpuStart !== undefined && cpuEnd !== undefined) partCpuSeconds[part] = (cpuEnd - cpuStart) / 1000
  }
}
const report: Record<string, unknown> = only === undefined || only === 'e2e' ? await timed('end to end', endToEndScenario) : {}
if (only === undefined || only === 'postgres') {
  // The same load against one gateway on a PostgreSQL store, beside the SQLite figures above (skipped, saying why, without PostgreSQL).
  const base = args.quick ? QUICK_POSTGRES_BENCH : FULL_POSTGRES_BENCH
  const postgres = await timed('postgres', () =>
    runPostgresBench(
      {
        ...base,
        kiosks: args['load-kiosks'] === undefined ? base.kiosks : Number(args['load-kiosks']),
        wristbands: args.wristbands === undefined ? base.wristbands : Number(args.wristbands),
        capacity: { ...base.capacity, p99LimitMs: args['p99-ms'] === undefined ? base.capacity.p99LimitMs : Number(args['p99-ms']) },
      },
      (line) => console.log(line),
    ),
  )
  report.postgres = postgres
  for (const line of storeComparisonLines(report, postgres)) console.log(line)
  // Books that do not balance on PostgreSQL fail the run (a sale still unanswered when the generator stops may be unbooked, as in the SQLite part).
  if (postgres.skipped === undefined && (postgres.ledgerBalanced !== true || postgres.invariantViolations !== 0)) process.exitCode = 1
}
if (only === undefined || only === 'portal-load') {
  const portalLoad = await timed('portal load', () => runPortalLoad({
    salesPerSec: Number(args['portal-rate']),
    guests: Number(args['portal-guests'] ?? (args.quick ? 50 : 200)),
    kiosks: kioskCount,
    phaseMs: Number(args['portal-seconds'] ?? (args.quick ? 2 : 20)) * 1000,
    pollIntervalMs: Number(args['portal-poll-ms']),
  }))
  for (const line of portalLoadReport(portalLoad)) console.log(line)
  report.portalLoad = portalLoad
  // Lost or doubled sales, unbalanced books or a guest shown someone else's data fail the run;
  // rates below the baseline's are this machine's figures and only print FAIL.
  if (portalLoad.checks.some((c) => c.kind === 'correctness' && !c.pass)) process.exitCode = 1
}
if (only === undefined || only === 'growth') {
  // Ingest on an empty and on a filled ledger, the portal against a bare route, a kiosk daemon's memory (../load/growth.ts).
  const growth = args.quick ? QUICK_GROWTH : FULL_GROWTH
  const fillCacheDir = benchCacheDir()
  const growthReport = await timed('growth', () =>
    runGrowthBench({ ...growth, postings: Number(args['growth-postings'] ?? growth.postings), ...(fillCacheDir === undefined ? {} : { fillCacheDir }) }, (line) => console.log(line)),
  )
  report.growth = growthReport
  // Beside the end-to-end part's targets (bench-run.ts), in the same key and the same form.
  const growthTargets = judgeGrowthTargets(growthReport)
  for (const [name, verdict] of Object.entries(growthTargets))
    console.log(`target ${name}: ${verdict.met ? 'met' : 'NOT met'}, ${verdict.value} (target ${verdict.target})${verdict.met ? '' : `; limited by ${verdict.limitedBy}: ${verdict.limit}`}`)
  report.targets = { ...(report.targets as object | undefined), ...growthTargets }
}
// The page a person opens; the JSON line below stays the machine-readable result, and the last line.
const reportPath = writeBenchReport(args.report, report, {
  argv: process.argv.slice(2),
  options: args,
  // The end-to-end part's durations and sizes, when it ran.
  preset: only === undefined || only === 'e2e' ? (args.quick ? QUICK_BENCH : FULL_BENCH) : only === 'postgres' ? (args.quick ? QUICK_POSTGRES_BENCH : FULL_POSTGRES_BENCH) : undefined,
  startedAt,
  partSeconds,
  partCpuSeconds,
  loadAverageAtStart,
})
console.log(`report: ${reportPath} (open it in a browser)`)
console.log(JSON.stringify(report))
