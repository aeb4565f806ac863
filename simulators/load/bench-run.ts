// The honest end-to-end benchmark: the real gateway in its own process, the
// load generator (`wristpay-sim load`) in another, speaking MQTT between them
// like kiosks on their own Pis; in the same run the limits of this machine,
// each measured the way the gateway uses it, and the generator's own ceiling
// against the null gateway. Returns the fields of the bench's JSON line.
import { spawn } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import pino from 'pino'
import { systemClock } from '../../device-protocol/index.js'
import { DB_FILE_NAME } from '../../gateway/app.js'
import { createLedger } from '../../gateway/ledger/index.js'
import { exited, freePort, startGatewayProcess } from '../../gateway/testing/gateway-process.js'
import { createFleetKiosk } from '../demo/kiosk-fleet.js'
import { measureAsyncVerifiesPerSec, measureBrokerRoundTripsPerSec, measureSqliteCommitsPerSec, measureVerifiesPerSec, measureVerifyThreadsPerSec } from '../demo/limits.js'
import type { LoadReport } from './cli.js'
import { createLoadEvent, LOAD_PRODUCT, writeJsonPrivately } from './load-event.js'
import { benchBuild } from './bench-build.js'
import { startNullGateway } from './null-gateway.js'
import { busiestSecondsCpu, cpuAtOfferedRate, type CpuSample } from './busiest-seconds.js'
import { cpuMs, describeCeilings, judgeTargets, rankCeilings, type Ceiling } from './targets.js'

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))))

export interface EndToEndBenchOptions {
  kiosks: number
  wristbands: number
  ratesPerSec: number[]
  phaseMs: number
  drainMs: number
  capacity: { p99LimitMs: number; maxPhases: number; phaseMs: number }
  /** The rate offered to the null gateway: far above what the real gateway takes. */
  nullRatePerSec: number
  nullPhaseMs: number
  /** How long each limit is measured. */
  limitMs: number
  /** Sales per commit at which SQLite is measured. */
  sqliteBatchSizes: number[]
  /** After the search, a phase at twice the highest rate offered unless one had a backlog already: the gateway's busiest seconds, and the ceilings from them, are then those of a gateway with a backlog. */
  saturate?: boolean
  /** When set, the gateway runs with `node --cpu-prof` and writes its .cpuprofile here when it stops. */
  profileDir?: string
}

export const FULL_BENCH: EndToEndBenchOptions = {
  kiosks: 200,
  wristbands: 1000,
  ratesPerSec: [100, 500, 1000, 2000],
  phaseMs: 10_000,
  drainMs: 5_000,
  capacity: { p99LimitMs: 50, maxPhases: 6, phaseMs: 5_000 },
  saturate: true,
  nullRatePerSec: 10_000,
  nullPhaseMs: 2_000,
  limitMs: 1_500,
  sqliteBatchSizes: [1, 16, 128, 512],
}

/** `npm run bench -- --quick`: the same steps, short and fewer, for a smoke check in under a minute. */
export const QUICK_BENCH: EndToEndBenchOptions = {
  kiosks: 20,
  wristbands: 100,
  ratesPerSec: [100, 500],
  phaseMs: 1_000,
  drainMs: 2_000,
  capacity: { p99LimitMs: 50, maxPhases: 1, phaseMs: 1_000 },
  nullRatePerSec: 3_000,
  nullPhaseMs: 500,
  limitMs: 200,
  sqliteBatchSizes: [1, 64, 512],
}

/** Top-up per wristband before the sales (one transaction's most is 100,000.00): over 10,000 beers each, more than any run sells. */
/** The load generator's arguments for the bench's measured run: open-loop phases at `ratesPerSec`, then the capacity search. */
export function measuredRunArgs(o: {
  mqttUrl: string
  fleetFile: string
  kiosks: number
  drainMs: number
  ratesPerSec: readonly number[]
  phaseMs: number
  capacity: { p99LimitMs: number; maxPhases: number; phaseMs: number }
  saturate?: boolean
}): string[] {
  return [
    '--mqtt', o.mqttUrl,
    '--fleet', o.fleetFile,
    '--kiosks', String(o.kiosks),
    '--drain-seconds', String(o.drainMs / 1000),
    '--fund-cents', String(FUND_CENTS),
    '--rates', o.ratesPerSec.join(','),
    '--seconds', String(o.phaseMs / 1000),
    '--capacity',
    '--p99-ms', String(o.capacity.p99LimitMs),
    '--capacity-phases', String(o.capacity.maxPhases),
    '--capacity-seconds', String(o.capacity.phaseMs / 1000),
    ...(o.saturate ? ['--saturate'] : []),
  ]
}

/**
 * A process's CPU (main thread and whole process: the gateway's, the load generator's) from now until
 * stop(), sampled every 250 ms so that a process gone at the end still counts; perSale() divides it by
 * the sales booked, in µs, and samples() gives the series (for the busiest seconds, busiest-seconds.ts).
 */
export function processCpuMeter(pid: number): {
  stop(): void
  perSale(salesBooked: number): { mainThreadUsPerSale: number | undefined; processUsPerSale: number | undefined; cores: number }
  samples(): CpuSample[]
} {
  const atStart = { main: cpuMs(pid, pid), process: cpuMs(pid) }
  let atEnd = atStart
  const series: CpuSample[] = []
  const sample = () => {
    atEnd = { main: cpuMs(pid, pid) ?? atEnd.main, process: cpuMs(pid) ?? atEnd.process }
    if (atEnd.main !== undefined && atEnd.process !== undefined) series.push({ atEpochMs: Date.now(), mainMs: atEnd.main, processMs: atEnd.process })
  }
  sample()
  const sampler = setInterval(sample, 250)
  const us = (start: number | undefined, end: number | undefined, sales: number) =>
    start === undefined || end === undefined || sales === 0 ? undefined : Math.round(((end - start) * 1000) / sales)
  return {
    stop() {
      clearInterval(sampler)
      sample()
    },
    perSale: (sales) => ({ mainThreadUsPerSale: us(atStart.main, atEnd.main, sales), processUsPerSale: us(atStart.process, atEnd.process, sales), cores: availableParallelism() }),
    samples: () => [...series],
  }
}

export const FUND_CENTS = 5_000_000

/**
 * Runs `wristpay-sim load` in its own process (from the bench's transpiled build); its lines go to `log`, its
 * last line is its report. `onSpawn` gets its pid once it runs (to measure its CPU).
 */
export function runLoadProcess(args: string[], log: (line: string) => void, onSpawn?: (pid: number) => void): Promise<LoadReport> {
  const child = spawn(process.execPath, [...benchBuild().loadArgs, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  if (child.pid !== undefined) onSpawn?.(child.pid)
  let last = ''
  let errors = ''
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith('{')) last = line
    else log(`load: ${line}`)
  })
  child.stderr!.on('data', (chunk: Buffer) => (errors = (errors + chunk.toString()).slice(-4_000)))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => {
      if (code !== 0 || last === '') reject(new Error(`wristpay-sim load exited with ${code}: ${errors}`))
      else resolve(JSON.parse(last) as LoadReport)
    })
  })
}

/** The size of a signed sale as it goes over MQTT, so the broker's limit is measured with the same payload. */
function saleEnvelopeBytes(): number {
  const kiosk = createFleetKiosk({ kioskId: 'load-100', token: 'unused', privateKey: generateKeyPairSync('ed25519').privateKey, mqttUrl: 'mqtt://127.0.0.1:1', clock: systemClock })
  const envelope = kiosk.sign('sale', '04000000000001', [{ product: LOAD_PRODUCT.id, qty: 1, unitPrice: LOAD_PRODUCT.price }], LOAD_PRODUCT.price)
  return Buffer.byteLength(JSON.stringify(envelope))
}

export async function runEndToEndBench(options: EndToEndBenchOptions, log: (line: string) => void): Promise<Record<string, unknown>> {
  const verifiesPerSec = measureVerifiesPerSec(options.limitMs)
  log(`limit: Ed25519 verifies/s, one core, synchronous: ${verifiesPerSec}`)
  const poolVerifiesPerSec = await measureAsyncVerifiesPerSec(options.limitMs)
  log(`limit: Ed25519 verifies/s, libuv thread pool (where ingest checks a batch whose thread failed): ${poolVerifiesPerSec}`)
  const verifyThreads = await measureVerifyThreadsPerSec(options.limitMs)
  log(`limit: Ed25519 verifies/s, the gateway's ${verifyThreads.threads} signature-check thread(s) (as ingest verifies): ${verifyThreads.perSec}`)
  const payloadBytes = saleEnvelopeBytes()
  const roundTripsPerSec = await measureBrokerRoundTripsPerSec(options.limitMs * 2, options.kiosks * 4, { connections: options.kiosks, payloadBytes })
  log(`limit: broker QoS 1 request/answer round trips/s (${options.kiosks} connections, ${payloadBytes}-byte payload): ${roundTripsPerSec}`)
  const sqliteCommitsPerSec: Record<string, number> = {}
  for (const size of options.sqliteBatchSizes) {
    sqliteCommitsPerSec[String(size)] = await measureSqliteCommitsPerSec(size, options.limitMs)
    log(`limit: SQLite commits/s of ${size} sale(s) each, WAL, group commit (on disk when counted): ${sqliteCommitsPerSec[String(size)]} (${sqliteCommitsPerSec[String(size)]! * size} sales/s)`)
  }

  const dir = mkdtempSync(join(tmpdir(), 'wristpay-bench-'))
  try {
    const { setup, fleet } = createLoadEvent({ kiosks: options.kiosks, wristbands: options.wristbands })
    const eventFile = join(dir, 'event.json')
    const fleetFile = join(dir, 'fleet.json')
    writeJsonPrivately(eventFile, setup)
    writeJsonPrivately(fleetFile, fleet)
    const common = ['--fleet', fleetFile, '--kiosks', String(options.kiosks), '--drain-seconds', String(options.drainMs / 1000)]

    // The generator's own ceiling: a gateway that answers at once and does nothing else.
    const nullGateway = await startNullGateway()
    let nullReport: LoadReport
    try {
      nullReport = await runLoadProcess(['--mqtt', nullGateway.url, ...common, '--rates', String(options.nullRatePerSec), '--seconds', String(options.nullPhaseMs / 1000)], (l) =>
        log(`null gateway: ${l}`),
      )
    } finally {
      await nullGateway.close()
    }
    const maxRatePerSec = nullReport.openLoop[0]?.achievedPerSec ?? 0

    const port = await freePort()
    // From the bench's transpiled build (no TypeScript compiled at its start); profiled through ts-node as before.
    const entryArgs =
      options.profileDir === undefined ? benchBuild().gatewayArgs : ['--cpu-prof', '--cpu-prof-dir', options.profileDir, '--loader', 'ts-node/esm', '--no-warnings', join(ROOT, 'gateway/bin.ts')]
    const gateway = await startGatewayProcess(['--event', eventFile, '--data-dir', join(dir, 'gateway'), '--mqtt-port', String(port), '--http-port', '0'], {}, { entryArgs })
    // The gateway's CPU from listening to its last answer: its main thread (where ingest, the ledger and
    // the broker run) and the whole process (the verifies on the thread pool too). Read while it runs.
    const pid = gateway.pid ?? 0
    const cpu = processCpuMeter(pid)
    // The generator's CPU too: on this machine it shares the cores with the gateway.
    let generatorCpu: ReturnType<typeof processCpuMeter> | undefined
    let report: LoadReport
    try {
      report = await runLoadProcess(
        measuredRunArgs({
          mqttUrl: `mqtt://127.0.0.1:${port}`,
          fleetFile,
          kiosks: options.kiosks,
          drainMs: options.drainMs,
          ratesPerSec: options.ratesPerSec,
          phaseMs: options.phaseMs,
          capacity: options.capacity,
          saturate: options.saturate === true,
        }),
        log,
        (generatorPid) => (generatorCpu = processCpuMeter(generatorPid)),
      )
    } finally {
      generatorCpu?.stop()
      cpu.stop()
      gateway.kill('SIGTERM')
      await exited(gateway)
    }
    const books = checkBooks(join(dir, 'gateway', DB_FILE_NAME))
    const phases = [...report.openLoop, ...(report.capacity?.phases ?? []), ...(report.saturation === undefined ? [] : [report.saturation])]
    const acceptedSales = phases.reduce((n, p) => n + p.accepted, 0)
    const offeredSales = phases.reduce((n, p) => n + p.sales, 0)
    log(
      `books: ${books.salesBooked} of ${offeredSales} sales offered are booked (${acceptedSales} answered accepted within their phases, the rest later), ` +
        `balanced: ${books.ledgerBalanced}, invariant violations: ${books.invariantViolations}`,
    )

    // Today's keys: the most booked per second in any phase, and the latency at 500/s offered (the issue's reference load).
    const reference = report.openLoop.find((p) => p.offeredPerSec === 500) ?? report.openLoop[0]
    const gatewaySamples = cpu.samples()
    const busiest = busiestSecondsCpu(gatewaySamples, report.throughput)
    const gatewayCpu = { ...cpu.perSale(books.salesBooked), ...(busiest === undefined ? {} : { busiest }) }
    // The generator in the same seconds (the busiest are picked from the same series, so they are the same seconds).
    const generatorSamples = generatorCpu?.samples() ?? []
    const generatorBusiest = busiestSecondsCpu(generatorSamples, report.throughput)
    const generatorCpuPerSale = {
      processUsPerSale: generatorCpu?.perSale(offeredSales).processUsPerSale,
      ...(generatorBusiest === undefined ? {} : { busiest: { seconds: generatorBusiest.seconds, answeredPerSec: generatorBusiest.answeredPerSec, processUsPerSale: generatorBusiest.processUsPerSale } }),
    }
    // The ceilings of the gateway's own CPU from its busiest seconds, where batches are as big as at capacity; the run's average otherwise.
    const mainUs = gatewayCpu.busiest?.mainThreadUsPerSale ?? gatewayCpu.mainThreadUsPerSale
    const processUs = gatewayCpu.busiest?.processUsPerSale ?? gatewayCpu.processUsPerSale
    const when = gatewayCpu.busiest ? ` in its ${gatewayCpu.busiest.seconds} busiest seconds, ${gatewayCpu.busiest.answeredPerSec} answers/s` : ''
    const sharedUs = gatewayCpu.busiest && generatorBusiest ? { gateway: gatewayCpu.busiest.processUsPerSale, generator: generatorBusiest.processUsPerSale } : undefined
    const cpuAtCapacity = capacityCpu(report, gatewaySamples, generatorSamples, gatewayCpu.cores)
    const ceilings: Ceiling[] = [
      { resource: 'load generator and broker (against the null gateway)', perSec: maxRatePerSec },
      { resource: 'broker QoS 1 round trips (bare aedes)', perSec: roundTripsPerSec },
      { resource: `Ed25519 verifies on the gateway's ${verifyThreads.threads} signature-check thread(s)`, perSec: verifyThreads.perSec },
      { resource: 'SQLite commits (best batch size)', perSec: Math.max(...Object.entries(sqliteCommitsPerSec).map(([size, n]) => Number(size) * n)) },
      ...(mainUs ? [{ resource: `gateway main thread (one core at ${mainUs} µs a sale${when})`, perSec: 1e6 / mainUs }] : []),
      ...(processUs ? [{ resource: `the machine's ${gatewayCpu.cores} cores for the gateway alone (${processUs} µs a sale${when}, verifies included)`, perSec: (gatewayCpu.cores * 1e6) / processUs }] : []),
      // What this machine carries as the bench runs it: the generator's kiosks take their share of the same cores.
      ...(sharedUs
        ? [
            {
              resource: `the machine's ${gatewayCpu.cores} cores shared by the gateway and the load generator (${sharedUs.gateway} + ${sharedUs.generator} µs a sale${when})`,
              perSec: (gatewayCpu.cores * 1e6) / (sharedUs.gateway + sharedUs.generator),
            },
          ]
        : []),
    ]
    const at500 = report.openLoop.find((p) => p.offeredPerSec === 500)
    const targets = judgeTargets({
      capacityPerSec: report.capacity?.capacityPerSec ?? 0,
      p99At500Ms: at500?.p99,
      verifiesPerSecOneCore: verifiesPerSec,
      ceilings,
      ...(gatewayCpu.mainThreadUsPerSale === undefined ? {} : { mainThreadShareAt500: (gatewayCpu.mainThreadUsPerSale * 500) / 1e6 }),
      ...(sqliteCommitsPerSec['1'] ? { commitMsOneSale: 1000 / sqliteCommitsPerSec['1'] } : {}),
      ...(cpuAtCapacity === undefined
        ? {}
        : {
            atCapacity: {
              offeredPerSec: cpuAtCapacity.offeredPerSec,
              mainThreadShare: cpuAtCapacity.gatewayMainThreadShare,
              ...(cpuAtCapacity.machineShare === undefined ? {} : { machineShare: cpuAtCapacity.machineShare }),
            },
          }),
    })
    log(
      `gateway CPU per sale booked: main thread ${gatewayCpu.mainThreadUsPerSale ?? '?'} µs, whole process ${gatewayCpu.processUsPerSale ?? '?'} µs over the run` +
        (gatewayCpu.busiest
          ? `; in its ${gatewayCpu.busiest.seconds} busiest seconds (${gatewayCpu.busiest.answeredPerSec} answers/s) main thread ${gatewayCpu.busiest.mainThreadUsPerSale} µs, whole process ${gatewayCpu.busiest.processUsPerSale} µs`
          : ''),
    )
    log(describeCeilings(ceilings))
    if (cpuAtCapacity !== undefined)
      log(
        `at capacity (${cpuAtCapacity.offeredPerSec}/s offered, ${cpuAtCapacity.seconds} s): the gateway's main thread ${Math.round(cpuAtCapacity.gatewayMainThreadShare * 100)}% of a core, ` +
          `the gateway ${cpuAtCapacity.gatewayProcessShare} cores` +
          (cpuAtCapacity.generatorProcessShare === undefined ? '' : ` and the generator ${cpuAtCapacity.generatorProcessShare}`) +
          (cpuAtCapacity.machineShare === undefined ? '' : `: ${Math.round(cpuAtCapacity.machineShare * 100)}% of the machine's ${gatewayCpu.cores} cores`),
      )
    for (const [name, verdict] of Object.entries(targets))
      log(`target ${name}: ${verdict.met ? 'met' : 'NOT met'}, ${verdict.value} (target ${verdict.target})${verdict.met ? '' : `; limited by ${verdict.limitedBy}: ${verdict.limit}`}`)
    const openLoop = report.openLoop.map(({ offeredPerSec, achievedPerSec, p50, p99, p999, max, unanswered, rejected, sendLagMaxMs, generatorIdleShare }) => ({
      offeredPerSec,
      achievedPerSec,
      p50,
      p99,
      p999,
      max,
      unanswered,
      rejected,
      sendLagMaxMs,
      generatorIdleShare,
    }))
    return {
      e2eSalesPerSec: Math.max(0, ...phases.map((p) => p.achievedPerSec)),
      latencyMs: { p50: reference?.p50 ?? 0, p99: reference?.p99 ?? 0, max: reference?.max ?? 0, atOfferedPerSec: reference?.offeredPerSec ?? 0 },
      openLoop,
      closedLoopCapacityPerSec: report.capacity?.capacityPerSec ?? 0,
      capacityP99LimitMs: options.capacity.p99LimitMs,
      capacitySearch: (report.capacity?.phases ?? []).map((p) => ({ offeredPerSec: p.offeredPerSec, achievedPerSec: p.achievedPerSec, p50: p.p50, p99: p.p99, unanswered: p.unanswered })),
      /** The phase at twice the highest rate offered, when no earlier one had a backlog: the most the gateway answers with a queue. */
      ...(report.saturation === undefined
        ? {}
        : { saturation: { offeredPerSec: report.saturation.offeredPerSec, achievedPerSec: report.saturation.achievedPerSec, p50: report.saturation.p50, p99: report.saturation.p99, unanswered: report.saturation.unanswered } }),
      /** Sales due and answered per second against the real gateway, from its first phase to its last answer: the report's throughput over time. */
      throughputOverTime: report.throughput,
      limits: {
        ed25519VerifiesPerSec: verifiesPerSec,
        ed25519VerifiesPerSecPool: poolVerifiesPerSec,
        ed25519VerifiesPerSecVerifyThreads: verifyThreads.perSec,
        verifyThreads: verifyThreads.threads,
        brokerQos1RoundTripsPerSec: roundTripsPerSec,
        brokerConnections: options.kiosks,
        brokerPayloadBytes: payloadBytes,
        sqliteCommitsPerSec,
      },
      generator: {
        maxRatePerSec,
        maxRateOfferedPerSec: options.nullRatePerSec,
        idleShare: report.generator.idleShareMin,
        sendLagMaxMs: report.generator.sendLagMaxMs,
      },
      kiosks: report.kiosks,
      /** Every sale offered in the measured phases; all are booked in the end, those answered late too. */
      salesOffered: offeredSales,
      /** Answered accepted within their phase's drain time. */
      salesAnsweredInPhases: acceptedSales,
      salesBooked: books.salesBooked,
      /** The gateway's CPU per sale booked over the run (µs): its main thread, and the process with the thread pool. */
      gatewayCpu,
      /** The load generator's CPU per sale offered (µs), over the run (signing ahead included) and in the gateway's busiest seconds. */
      generatorCpu: generatorCpuPerSale,
      /** How busy the gateway and the generator were at the capacity found: shares of a core, and of the machine. */
      ...(cpuAtCapacity === undefined ? {} : { cpuAtCapacity }),
      // What stops capacity first, and how far the next limits are (sales/s each, this run).
      ceilings: rankCeilings(ceilings),
      /** Issue 17's targets: met or not, the value, and for one not met the ceiling that stops it (targets.ts). */
      targets,
      ledgerBalanced: books.ledgerBalanced,
      invariantViolations: books.invariantViolations,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * The CPU of the gateway (main thread, process) and of the generator in the seconds offered at the capacity
 * found, and both together as a share of the machine: near 1, the machine was full; well below, the p99 limit
 * was reached by queueing inside the gateway while cores were still free.
 */
export function capacityCpu(
  report: Pick<LoadReport, 'capacity' | 'throughput'>,
  gatewaySamples: readonly CpuSample[],
  generatorSamples: readonly CpuSample[],
  cores: number,
): { offeredPerSec: number; seconds: number; gatewayMainThreadShare: number; gatewayProcessShare: number; generatorProcessShare?: number; machineShare?: number } | undefined {
  const rate = report.capacity?.capacityPerSec
  if (rate === undefined || rate <= 0) return undefined
  const gateway = cpuAtOfferedRate(gatewaySamples, report.throughput, rate)
  if (gateway === undefined) return undefined
  const generator = cpuAtOfferedRate(generatorSamples, report.throughput, rate)
  return {
    offeredPerSec: rate,
    seconds: gateway.seconds,
    gatewayMainThreadShare: gateway.mainThreadShare,
    gatewayProcessShare: gateway.processShare,
    ...(generator === undefined
      ? {}
      : { generatorProcessShare: generator.processShare, machineShare: Math.round(((gateway.processShare + generator.processShare) / cores) * 1000) / 1000 }),
  }
}

/** After the gateway stopped: what its ledger file holds and whether it balances. */
function checkBooks(path: string): { salesBooked: number; ledgerBalanced: boolean; invariantViolations: number } {
  const db = new Database(path)
  try {
    const ledger = createLedger({ db, clock: systemClock, logger: pino({ level: 'silent' }) })
    const { n } = db.prepare("SELECT count(*) AS n FROM transactions WHERE type = 'sale' AND status = 'accepted'").get() as { n: number }
    const violations = ledger.checkInvariants()
    return { salesBooked: n, ledgerBalanced: ledger.sumOfAllBalances() === 0, invariantViolations: violations.length }
  } finally {
    db.close()
  }
}
