// The growth bench (`npm run bench`'s growth part): what a long event does to
// the gateway and to a kiosk, each against its own baseline in the same run.
// 1. Ingest: the same offered load, once against an empty ledger and once
//    against one with millions of postings written by the ledger filler
//    (ledger-filler.ts), each time the real gateway in its own process.
// 2. The portal: GET /api/customer of a real logged-in wristband with
//    autocannon against the filled gateway, and the same against a bare
//    fastify route answering the same JSON from the gateway's own HTTP server
//    in a process of its own (bare-route-server.ts), alternately in short
//    rounds after a warm-up (portal-rounds.ts); then the portal again, in
//    rounds, while the load generator offers sales at a fixed rate.
// 3. A real kiosk daemon's resident memory (till-child.ts: the daemon alone in
//    its own process, from plain JavaScript as an installed kiosk runs) at its
//    start and after many sales to the empty-ledger gateway.
// Returns the fields of the bench JSON line's `growth` object.
import { spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exited, freePort, startGatewayProcess } from '../../gateway/testing/gateway-process.js'
import { DIED, startKioskProcess, type KioskProcess, type Runner } from '../chaos/processes.js'
import { KIOSK_NODE_FLAGS } from './kiosk-node-flags.js'
import { benchBuild } from './bench-build.js'
import { runLoadProcess } from './bench-run.js'
import { prepareGrowthLedger } from './fill-cache.js'
import { BARE_ROUTE_PATH, BARE_ROUTE_PREFIX } from './bare-route-server.js'
import { measureRounds, measureTarget, median, startBareRouteProcess, summariseRatio, type Round, type RoundTarget } from './portal-rounds.js'
import { writeJsonPrivately, type LoadFleetFile } from './load-event.js'

export interface GrowthBenchOptions {
  /** Postings the filled ledger holds before the measurement. */
  postings: number
  fillKiosks: number
  fillWristbands: number
  /** The load generator's kiosks (each of its two runs on a gateway has its own) and wristbands. */
  kiosks: number
  wristbands: number
  /** Ingest: the rate offered to both ledgers (above what the gateway takes, so that the answers per second are its rate). */
  ingestOfferedPerSec: number
  ingestSeconds: number
  ingestDrainSeconds: number
  /**
   * The portal: autocannon's connections; each route warmed up this long, then this many rounds of one
   * run of each route (alternating which runs first), each this long; then this many runs of the portal
   * while sales are offered at `portalIngestPerSec`.
   */
  portalConnections: number
  portalWarmupSeconds: number
  portalRounds: number
  portalRoundSeconds: number
  portalIngestRounds: number
  portalIngestPerSec: number
  /** Sales the kiosk daemon makes before its memory is read again. */
  kioskSales: number
  /** Where the filled ledger is stored for later runs and found again (fill-cache.ts); undefined: always fill. */
  fillCacheDir?: string
}

export const FULL_GROWTH: GrowthBenchOptions = {
  postings: 10_000_000,
  fillKiosks: 100,
  fillWristbands: 100_000,
  kiosks: 100,
  wristbands: 1_000,
  ingestOfferedPerSec: 3_000,
  ingestSeconds: 4,
  ingestDrainSeconds: 30,
  portalConnections: 10,
  // The filled gateway answered its first seconds of portal requests at a fraction of its later rate (its
  // first 10 s at 2-3 times the later CPU per request, in a profile): the warm-up keeps them out of the rounds.
  portalWarmupSeconds: 5,
  portalRounds: 5,
  portalRoundSeconds: 2,
  portalIngestRounds: 3,
  portalIngestPerSec: 500,
  kioskSales: 10_000,
}

/** `npm run bench -- --quick`: each part, small. */
export const QUICK_GROWTH: GrowthBenchOptions = {
  postings: 20_000,
  fillKiosks: 10,
  fillWristbands: 500,
  kiosks: 10,
  wristbands: 100,
  ingestOfferedPerSec: 500,
  ingestSeconds: 1,
  ingestDrainSeconds: 10,
  portalConnections: 10,
  // A smoke check that the figures come out, not a measurement: no warm-up (two autocannon processes fewer).
  portalWarmupSeconds: 0,
  portalRounds: 1,
  portalRoundSeconds: 1,
  portalIngestRounds: 1,
  portalIngestPerSec: 200,
  kioskSales: 300,
}

export interface GrowthReport {
  /** Postings in the filled ledger before the measurement, and how long the filler took to write them. */
  postings: number
  fillTransactions: number
  fillMs: number
  /** Whether the filled ledger was a stored one (copied and checked, `fillCopyMs`) rather than filled in this run (`fillMs` is then the run that filled it). */
  fillReused: boolean
  fillCopyMs: number
  ingestOfferedPerSec: number
  /** Sales answered per second, the same load offered to each ledger. */
  ingestEmptySalesPerSec: number
  ingestFilledSalesPerSec: number
  ingestFilledToEmpty: number
  /** GET /api/customer requests/s on the filled gateway; the bare fastify route; the portal while ingest runs (each the median of its rounds). */
  portalCustomerRequestsPerSec: number
  portalBareRequestsPerSec: number
  portalCustomerWithIngestRequestsPerSec: number
  /** The median of the rounds' portal-to-bare ratios; with ingest: the median of its rounds' rates over the bare route's median. */
  portalCustomerToBare: number
  portalWithIngestToBare: number
  /** Each round's ratio, in order (the scatter of the measurement). */
  portalRoundRatios: number[]
  portalWithIngestRoundRatios: number[]
  /**
   * The server processes' CPU time per request, µs (medians of the rounds), and bare over portal. None beside
   * the sales: the gateway's CPU then is mostly theirs.
   */
  portalCustomerCpuMicrosPerRequest: number
  portalBareCpuMicrosPerRequest: number
  portalCpuRatio: number
  /** Answers other than 2xx and connection errors over the three measurements (0 when all is well). */
  portalFailedRequests: number
  portalIngestOfferedPerSec: number
  portalIngestAchievedPerSec: number
  portalConnections: number
  portalRounds: number
  portalRoundSeconds: number
  /** The kiosk daemon's resident memory, MB, once it started and after `kioskSales` sales. */
  kioskSales: number
  kioskSalesAccepted: number
  kioskRssStartMb: number
  kioskRssAfterMb: number
  ms: number
}

const round = (n: number, places = 0) => Math.round(n * 10 ** places) / 10 ** places
const ratio = (a: number, b: number) => (b > 0 ? round(a / b, 3) : 0)

/** Resident memory of a process, MB (Linux: /proc/PID/status). */
export function residentMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))
  if (line === undefined) throw new Error(`no VmRSS for process ${pid}`)
  return round(Number(line.replace(/\D+/g, '')) / 1024, 1)
}

/**
 * The sources as plain JavaScript (the bench's one transpiled build, bench-build.ts, the till in it):
 * a kiosk's memory without the TypeScript compiler in it, and quick starts. Returns how to start the till.
 */
function buildForGrowth(): { modules: number; reused: boolean; till: Runner; gatewayEntry: string; bareRouteEntry: string } {
  const build = benchBuild()
  // The till runs with the kiosk unit's V8 flags: its memory is the installed daemon's.
  return {
    modules: build.modules,
    reused: build.reused,
    till: { args: () => [...KIOSK_NODE_FLAGS, build.tillEntry] },
    gatewayEntry: build.gatewayArgs[0]!,
    bareRouteEntry: join(build.dir, 'simulators/load/bare-route-server.js'),
  }
}

interface RunningGateway {
  mqttUrl: string
  httpUrl: string
  child: ChildProcess
  stop(): Promise<void>
}

async function startGateway(entry: string, eventFile: string, dataDir: string): Promise<RunningGateway> {
  const [mqttPort, httpPort] = [await freePort(), await freePort()]
  const child = await startGatewayProcess(['--event', eventFile, '--data-dir', dataDir, '--mqtt-port', String(mqttPort), '--http-port', String(httpPort)], {}, { entryArgs: [entry], startTimeoutMs: 180_000 })
  return {
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    child,
    async stop() {
      child.kill('SIGTERM')
      await exited(child)
    },
  }
}

/** Logs in as a guest the way the portal page does; returns the bearer token. */
async function portalLogin(httpUrl: string, pin: string): Promise<string> {
  const response = await fetch(`${httpUrl}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pin }) })
  const body = (await response.json()) as { access_token?: unknown }
  if (response.status !== 200 || typeof body.access_token !== 'string') throw new Error(`portal login answered ${response.status}: ${JSON.stringify(body)}`)
  return body.access_token
}

/** The load generator's fleet for one run: its own kiosks (a kiosk's chain starts once per gateway), all the wristbands. */
function fleetShare(fleet: LoadFleetFile, from: number, count: number): LoadFleetFile {
  return { ...fleet, kiosks: fleet.kiosks.slice(from, from + count) }
}

/** `count` sales of the kiosk daemon, one at a time as at a till, a few queued; returns how many were accepted. */
async function sellAtKiosk(kiosk: KioskProcess, uids: readonly string[], count: number): Promise<number> {
  // A started daemon sells once it is connected and has its config from the gateway; a gateway still busy
  // with an earlier measurement's sales may answer its first top-up late (pending: its outbox sends it again).
  const pause = () => new Promise((resolve) => setTimeout(resolve, 200))
  for (let waitedMs = 0; ; waitedMs += 200) {
    const reply = await kiosk.request({ op: 'topup', n: 0, uid: uids[0]!, amount: 5_000_000 })
    if (waitedMs > 180_000 || reply === DIED) throw new Error(`the kiosk daemon's first top-up failed: ${JSON.stringify(reply)}`)
    if (reply.type === 'outcome' && reply.status === 'accepted') break
    if (reply.type === 'outcome' && reply.status === 'pending') {
      for (let status = await kiosk.request({ op: 'status' }); status !== DIED && status.type === 'status' && status.depth > 0 && waitedMs < 180_000; status = await kiosk.request({ op: 'status' })) {
        await pause()
        waitedMs += 200
      }
      break
    }
    if (reply.type !== 'refused') throw new Error(`the kiosk daemon's first top-up failed: ${JSON.stringify(reply)}`)
    await pause()
  }
  for (const [n, uid] of uids.entries()) {
    if (n === 0) continue
    const reply = await kiosk.request({ op: 'topup', n, uid, amount: 5_000_000 })
    if (reply === DIED || reply.type !== 'outcome' || reply.status !== 'accepted') throw new Error(`kiosk top-up of ${uid} failed: ${JSON.stringify(reply)}`)
  }
  let accepted = 0
  const QUEUED = 32
  for (let i = 0; i < count; i += QUEUED) {
    const replies = await Promise.all(
      Array.from({ length: Math.min(QUEUED, count - i) }, (_, j) => kiosk.request({ op: 'sale', n: uids.length + i + j, uid: uids[(i + j) % uids.length]!, unitPrice: 100 })),
    )
    for (const reply of replies) {
      if (reply === DIED) throw new Error('the kiosk daemon died during the growth bench')
      if (reply.type === 'outcome' && reply.status === 'accepted') accepted += 1
    }
  }
  return accepted
}

export async function runGrowthBench(options: GrowthBenchOptions, log: (line: string) => void): Promise<GrowthReport> {
  const started = performance.now()
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-growth-'))
  try {
    const { modules, reused: buildReused, till: tillRunner, gatewayEntry, bareRouteEntry } = buildForGrowth()
    log(`growth: the gateway and the kiosk daemon run from the bench's transpiled build (${buildReused ? 'stored by an earlier run' : `${modules} modules, made in this run`})`)
    const tillDir = join(dir, 'till-1')
    // The event and the filled ledger, from the cache when a whole one of this filler, schema and size is there.
    // Twice the load kiosks: the ingest measurement and the portal's background sales each need chains of their own.
    const { event, till, fill, reused: fillReused, copyMs: fillCopyMs } = await prepareGrowthLedger({
      postings: options.postings,
      shape: { kiosks: 2 * options.kiosks, wristbands: options.wristbands, fillKiosks: options.fillKiosks, fillWristbands: options.fillWristbands },
      tillDir,
      dataDir: join(dir, 'filled'),
      ...(options.fillCacheDir === undefined ? {} : { cacheDir: options.fillCacheDir }),
      log,
    })
    log(
      fillReused
        ? `growth: the stored ledger of ${fill.postings} postings (${fill.transactions} signed transactions; the filler took ${round(fill.ms / 1000, 1)} s when it wrote it) copied and checked in ${round(fillCopyMs / 1000, 1)} s`
        : `growth: the filler wrote ${fill.postings} postings (${fill.transactions} signed transactions) in ${round(fill.ms / 1000, 1)} s`,
    )
    // The fill or the copy left gigabytes of dirty pages that the kernel writes back for a minute or more;
    // measured meanwhile, the first gateway (the empty ledger's ingest, the portal) would compete with that.
    const syncStartMs = performance.now()
    spawnSync('sync', { stdio: 'ignore' })
    log(`growth: waited ${round((performance.now() - syncStartMs) / 1000, 1)} s for the filled ledger's writes to reach the disk before measuring`)
    const eventFile = join(dir, 'event.json')
    writeJsonPrivately(eventFile, event.setup)
    const ingestFleet = join(dir, 'fleet-ingest.json')
    const backgroundFleet = join(dir, 'fleet-background.json')
    writeJsonPrivately(ingestFleet, fleetShare(event.fleet, 0, options.kiosks))
    writeJsonPrivately(backgroundFleet, fleetShare(event.fleet, options.kiosks, options.kiosks))
    const ingestArgs = (mqttUrl: string) => [
      '--mqtt',
      mqttUrl,
      '--fleet',
      ingestFleet,
      '--fund-cents',
      '5000000',
      '--rates',
      String(options.ingestOfferedPerSec),
      '--seconds',
      String(options.ingestSeconds),
      '--drain-seconds',
      String(options.ingestDrainSeconds),
    ]

    // The empty ledger: ingest, then the kiosk daemon's sales.
    const empty = await startGateway(gatewayEntry, eventFile, join(dir, 'empty'))
    let ingestEmpty: number
    let kioskRssStartMb: number
    let kioskRssAfterMb: number
    let kioskSalesAccepted: number
    try {
      const emptyIngest = await runLoadProcess(ingestArgs(empty.mqttUrl), (l) => log(`growth, empty ledger: ${l}`))
      ingestEmpty = emptyIngest.openLoop[0]?.achievedPerSec ?? 0
      const kiosk = await startKioskProcess(tillRunner, { kioskId: till.id, token: till.token, mqttUrl: empty.mqttUrl, dataDir: tillDir, clockOffsetMs: 0, replyTimeoutMs: 10_000 })
      try {
        kioskRssStartMb = residentMb(kiosk.child.pid!)
        kioskSalesAccepted = await sellAtKiosk(kiosk, event.fleet.wristbands.slice(0, 50), options.kioskSales)
        kioskRssAfterMb = residentMb(kiosk.child.pid!)
      } finally {
        await kiosk.kill()
      }
      log(`growth: kiosk daemon resident memory ${kioskRssStartMb} MB at start, ${kioskRssAfterMb} MB after ${options.kioskSales} sales (${kioskSalesAccepted} accepted)`)
    } finally {
      await empty.stop()
    }

    const filled = await startGateway(gatewayEntry, eventFile, join(dir, 'filled'))
    try {
      const filledIngest = await runLoadProcess(ingestArgs(filled.mqttUrl), (l) => log(`growth, filled ledger: ${l}`))
      const ingestFilled = filledIngest.openLoop[0]?.achievedPerSec ?? 0
      log(`growth: ingest ${ingestEmpty} sales/s on the empty ledger, ${ingestFilled} sales/s with ${fill.postings} postings (${options.ingestOfferedPerSec}/s offered to each)`)

      // The portal: a wristband of the load generator's, with history now.
      const uid = event.fleet.wristbands[0]!
      const token = await portalLogin(filled.httpUrl, event.pins.get(uid)!)
      const customerUrl = `${filled.httpUrl}/api/customer`
      const headers = { authorization: `Bearer ${token}` }
      const sample = await fetch(customerUrl, { headers })
      if (sample.status !== 200) throw new Error(`GET /api/customer answered ${sample.status}`)
      const body = (await sample.json()) as unknown
      const bodyFile = join(dir, 'bare-body.json')
      writeJsonPrivately(bodyFile, body)
      const bare = await startBareRouteProcess([bareRouteEntry], bodyFile)
      const portalTarget: RoundTarget = { name: 'portal', url: customerUrl, pid: filled.child.pid!, headers }
      const bareTarget: RoundTarget = { name: 'bare', url: `${bare.baseUrl}${BARE_ROUTE_PREFIX}${BARE_ROUTE_PATH}`, pid: bare.child.pid! }
      const roundLine = (r: Round) =>
        `portal ${Math.round(r.portal!.requestsPerSec)}/s (${r.portal!.cpuMicrosPerRequest} µs CPU a request), bare ${Math.round(r.bare!.requestsPerSec)}/s (${r.bare!.cpuMicrosPerRequest} µs), ratio ${ratio(r.portal!.requestsPerSec, r.bare!.requestsPerSec)}`
      let quiet: Awaited<ReturnType<typeof measureRounds>>
      try {
        quiet = await measureRounds([portalTarget, bareTarget], {
          connections: options.portalConnections,
          warmupSeconds: options.portalWarmupSeconds,
          rounds: options.portalRounds,
          roundSeconds: options.portalRoundSeconds,
          onRound: (r, i) => log(`growth, portal round ${i + 1} of ${options.portalRounds}: ${roundLine(r)}`),
        })
      } finally {
        await bare.stop()
      }
      const portal = summariseRatio(quiet.rounds, 'portal', 'bare')
      // Sales at a fixed rate from kiosks of their own; the portal is measured while the second phase runs.
      let startPortal: () => void = () => {}
      const backgroundStarted = new Promise<void>((resolve) => (startPortal = resolve))
      const background = runLoadProcess(
        [
          '--mqtt',
          filled.mqttUrl,
          '--fleet',
          backgroundFleet,
          '--fund-cents',
          '5000000',
          '--rates',
          `${options.portalIngestPerSec},${options.portalIngestPerSec}`,
          '--seconds',
          // Each run's autocannon process starts in well under a second; the phase outlasts the runs.
          String(options.portalIngestRounds * (options.portalRoundSeconds + 1) + 1),
          '--drain-seconds',
          '5',
        ],
        (l) => {
          log(`growth, sales beside the portal: ${l}`)
          if (l.includes('open loop')) startPortal()
        },
      )
      await Promise.race([backgroundStarted, background])
      const withIngestRuns = []
      for (let i = 0; i < options.portalIngestRounds; i++) {
        const run = await measureTarget(portalTarget, options.portalConnections, options.portalRoundSeconds)
        withIngestRuns.push(run)
        log(`growth, portal with sales, run ${i + 1} of ${options.portalIngestRounds}: ${Math.round(run.requestsPerSec)}/s, ratio to the bare route's median ${ratio(run.requestsPerSec, portal.baseRequestsPerSec)}`)
      }
      const backgroundReport = await background
      const during = backgroundReport.openLoop[1] ?? backgroundReport.openLoop[0]
      const withIngestPerSec = median(withIngestRuns.map((r) => r.requestsPerSec))
      const report: GrowthReport = {
        postings: fill.postings,
        fillTransactions: fill.transactions,
        fillMs: fill.ms,
        fillReused,
        fillCopyMs,
        ingestOfferedPerSec: options.ingestOfferedPerSec,
        ingestEmptySalesPerSec: ingestEmpty,
        ingestFilledSalesPerSec: ingestFilled,
        ingestFilledToEmpty: ratio(ingestFilled, ingestEmpty),
        portalCustomerRequestsPerSec: portal.requestsPerSec,
        portalBareRequestsPerSec: portal.baseRequestsPerSec,
        portalCustomerWithIngestRequestsPerSec: round(withIngestPerSec),
        portalCustomerToBare: portal.ratio,
        portalWithIngestToBare: ratio(withIngestPerSec, portal.baseRequestsPerSec),
        portalRoundRatios: portal.roundRatios,
        portalWithIngestRoundRatios: withIngestRuns.map((r) => ratio(r.requestsPerSec, portal.baseRequestsPerSec)),
        portalCustomerCpuMicrosPerRequest: portal.cpuMicrosPerRequest,
        portalBareCpuMicrosPerRequest: portal.baseCpuMicrosPerRequest,
        portalCpuRatio: portal.cpuRatio,
        portalFailedRequests: quiet.failed + withIngestRuns.reduce((n, r) => n + r.failed, 0),
        portalIngestOfferedPerSec: options.portalIngestPerSec,
        portalIngestAchievedPerSec: during?.achievedPerSec ?? 0,
        portalConnections: options.portalConnections,
        portalRounds: options.portalRounds,
        portalRoundSeconds: options.portalRoundSeconds,
        kioskSales: options.kioskSales,
        kioskSalesAccepted,
        kioskRssStartMb,
        kioskRssAfterMb,
        ms: 0,
      }
      log(
        `growth: portal GET /api/customer ${report.portalCustomerRequestsPerSec} requests/s, bare fastify route ${report.portalBareRequestsPerSec}/s ` +
          `(medians of ${options.portalRounds} rounds of ${options.portalRoundSeconds} s; ratio ${report.portalCustomerToBare}, the rounds' ${report.portalRoundRatios.join(', ')}; ` +
          `CPU a request ${report.portalCustomerCpuMicrosPerRequest} µs against ${report.portalBareCpuMicrosPerRequest} µs, ratio ${report.portalCpuRatio}), ` +
          `with ${options.portalIngestPerSec} sales/s offered ${report.portalCustomerWithIngestRequestsPerSec}/s (ratio ${report.portalWithIngestToBare}; ` +
          `sales achieved ${report.portalIngestAchievedPerSec}/s), ${report.portalFailedRequests} failed requests`,
      )
      report.ms = Math.round(performance.now() - started)
      return report
    } finally {
      await filled.stop()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
