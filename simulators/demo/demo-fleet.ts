// The demo's fleet, apart from the gateway it sells through: real kiosk
// daemons with simulated readers on an MQTT broker (startDemoKiosks), the
// simulated staff and guests at their tills for a while (runDemoTills), and
// the summary read from the ledger (summariseDemo). `npm start` runs them
// against the gateway it creates in its own process; `npm run cluster`
// (simulators/cluster/) against gateway processes on PostgreSQL and Mosquitto,
// reading the same database through a ledger of its own.
import { join } from 'node:path'
import type { Logger } from 'pino'
import { systemClock } from '../../device-protocol/index.js'
import { createKioskDaemon } from '../../daemon/app.js'
import type { Ledger } from '../../gateway/ledger/index.js'
import type { DemoKiosk } from './demo-event.js'
import { randomTagUid } from './demo-event.js'
import { kioskDaemonConfig } from '../e2e/kiosk-harness.js'
import { closeTill, runTill, type DemoGuest, type RecordedOperation, type TillContext, type TillRuntime } from './demo-tills.js'
import { createSimulatedReader, type PcscStack, type SimulatedReaderKind } from './demo-readers.js'
import { percentile } from './stats.js'

/** What of the ledger the fleet reads: the close-out's expected cash and the summary. */
export type DemoLedger = Pick<Ledger, 'stats' | 'transaction' | 'checkInvariants' | 'sumOfAllBalances' | 'accountBalance' | 'shiftReports'>

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms))

export interface DemoKiosksOptions {
  specs: readonly DemoKiosk[]
  readers: readonly SimulatedReaderKind[]
  mqttUrl: string
  /** Each kiosk's outbox goes to dataDir/kiosk-{id}. */
  dataDir: string
  logger: Logger
  pcsc: () => Promise<PcscStack & { endpoint: { path: string } | { host: string; port: number } }>
  /** Enrollment: the gateway learns the key the kiosk made on its first start. */
  enroll(kioskId: string, publicKeyBase64Url: string): void
  /** Where each started kiosk goes at once, so that the caller stops what was started even if a later one fails. */
  runtimes: TillRuntime[]
  /** The readers' closers, likewise. */
  closers: Array<() => Promise<void>>
}

/** Starts one kiosk daemon per spec, enrolled and connected to `mqttUrl`. */
export async function startDemoKiosks(options: DemoKiosksOptions): Promise<void> {
  for (const spec of options.specs) {
    const kioskLogger = options.logger.child({ service: 'kiosk', kiosk: spec.id })
    const index = options.runtimes.length
    const simulatedReader = await createSimulatedReader(options.readers[index % options.readers.length]!, { kioskId: spec.id, index, logger: kioskLogger, pcsc: options.pcsc })
    options.closers.push(() => simulatedReader.close())
    const config = kioskDaemonConfig({
      kioskId: spec.id,
      token: spec.token,
      mqttUrl: options.mqttUrl,
      dataDir: join(options.dataDir, `kiosk-${spec.id}`),
      overrides: { stateIntervalMs: 5_000, feedbackDurationMs: 300, tapTimeoutMs: 10_000 },
    })
    const daemon = await createKioskDaemon({ config, logger: kioskLogger, clock: systemClock, reader: simulatedReader.reader })
    options.enroll(spec.id, daemon.publicKeyBase64Url)
    await daemon.start()
    options.runtimes.push({ spec, daemon, simulatedReader })
  }
}

/** Test hooks: whileRunning runs once the tills sell; the sales go on until it and the duration are both done. */
export interface DemoHooks {
  whileRunning?: () => Promise<void>
}

export interface DemoTillsOptions {
  runtimes: readonly TillRuntime[]
  /** The pre-sale's wristbands. */
  wristbandUids: readonly string[]
  /** Blank wristbands the cash desk sells tickets onto. */
  freshWristbands: number
  /** Stop after this long; undefined: on SIGINT or SIGTERM only. */
  durationS: number | undefined
  ledger: DemoLedger
  logger: Logger
  out(line: string): void
  hooks?: DemoHooks
}

export interface DemoTillsResult {
  recorded: RecordedOperation[]
  errors: string[]
  refusals: Record<string, number>
}

/**
 * The staff at every till until the duration is up (or a signal): a status
 * line every second; then the open sales finish, the cash shifts close with
 * the counted cash, the outboxes empty and the daemons stop.
 */
export async function runDemoTills(options: DemoTillsOptions): Promise<DemoTillsResult> {
  const { runtimes, out } = options
  const recorded: RecordedOperation[] = []
  const errors: string[] = []
  const refusals: Record<string, number> = {}
  let stopping = false
  const guests: DemoGuest[] = options.wristbandUids.map((uid) => ({ uid, knownBalance: 0, cups: 0 }))
  const ctx: TillContext = {
    guests,
    freshWristbands: Array.from({ length: options.freshWristbands }, () => randomTagUid()),
    recorded,
    refusals,
    errors,
    logger: options.logger,
    isStopping: () => stopping,
  }
  const startMs = performance.now()
  const statusLine = (): string => {
    const now = performance.now()
    const lastSecond = recorded.filter((r) => now - r.atMs <= 1_000).length
    const recent = recorded.filter((r) => now - r.atMs <= 10_000).map((r) => r.latencyMs)
    const accepted = recorded.filter((r) => r.outcome.status === 'accepted').length
    const rejected = recorded.filter((r) => r.outcome.status === 'rejected').length
    const outbox = runtimes.reduce((sum, r) => sum + r.daemon.outbox.depth(), 0)
    const online = runtimes.filter((r) => r.daemon.status().connected).length
    return (
      `${((now - startMs) / 1000).toFixed(0).padStart(4)}s  ${lastSecond} tx/s  accepted ${accepted}  rejected ${rejected}  ` +
      `latency p50 ${percentile(recent, 50)} ms p99 ${percentile(recent, 99)} ms  outbox ${outbox}  kiosks online ${online}/${runtimes.length}`
    )
  }

  const loops = runtimes.map((k) => runTill(k, ctx))
  const ticker = setInterval(() => out(statusLine()), 1_000)
  try {
    const watched = options.hooks?.whileRunning?.().then(
      () => null,
      (err: unknown) => err,
    )
    await new Promise<void>((done) => {
      const finish = () => {
        process.off('SIGINT', finish)
        process.off('SIGTERM', finish)
        done()
      }
      process.once('SIGINT', finish)
      process.once('SIGTERM', finish)
      if (options.durationS) setTimeout(finish, options.durationS * 1_000).unref()
    })
    const hookFailure = await watched
    if (hookFailure) throw hookFailure
    stopping = true
    clearInterval(ticker)
    out('stopping: finishing open sales, closing the cash shifts and emptying the outboxes ...')
    await Promise.all(loops)
    const closeOuts = await Promise.all(runtimes.map((k) => closeTill(k, ctx, options.ledger)))
    if (closeOuts.some((c) => c !== undefined && c.status !== 'accepted')) errors.push('a cash shift did not close')
    // Every transaction a kiosk still holds is answered before the summary is taken.
    for (let i = 0; i < 200 && runtimes.some((r) => r.daemon.outbox.depth() > 0); i++) await sleep(50)
    for (const r of runtimes) await r.daemon.stop()
    return { recorded, errors, refusals }
  } finally {
    stopping = true
    clearInterval(ticker)
  }
}

/** The demo's JSON summary: what the kiosks showed against what the ledger holds. */
export function summariseDemo(ledger: DemoLedger, runtimes: readonly TillRuntime[], { recorded, errors, refusals }: DemoTillsResult): Record<string, unknown> {
  const stats = ledger.stats()
  // Accepted offline counts as shown accepted: the guest got the goods.
  const shownAccepted = recorded.filter((r) => r.outcome.status === 'accepted' || r.outcome.status === 'offline')
  // Accepted on a kiosk screen but not accepted in the ledger: money that went missing.
  const lost = shownAccepted.filter((r) => ledger.transaction(r.outcome.id)?.status !== 'accepted').length
  // Answers that came after the kiosk had shown "pending".
  const pending = recorded.filter((r) => r.outcome.status === 'pending')
  const lateAccepted = pending.filter((r) => runtimes.find((k) => k.spec.id === r.kioskId)?.daemon.outbox.answered(r.outcome.id)?.status === 'accepted').length
  // Every transaction the kiosks created has one id; the ledger must hold no more than that.
  const created = new Set(recorded.map((r) => r.outcome.id)).size
  const duplicates = Math.max(0, stats.accepted + stats.rejected - created)
  const violations = ledger.checkInvariants()
  const latencies = recorded.map((r) => r.latencyMs)
  return {
    transactions: recorded.length,
    accepted: shownAccepted.length,
    rejected: recorded.filter((r) => r.outcome.status === 'rejected').length,
    pending: pending.length,
    lateAccepted,
    lost,
    duplicates,
    ledgerBalanced: ledger.sumOfAllBalances() === 0 && violations.length === 0,
    invariantViolations: violations,
    ledger: { accepted: stats.accepted, rejected: stats.rejected, rejectedByReason: stats.rejectedByReason },
    revenueByBooth: stats.revenueByBooth,
    depositsByBooth: stats.depositsByBooth,
    // Each register's shifts: the float, cash in and out, and the close-out (counted, expected, difference).
    cashByRegister: Object.fromEntries(
      ledger.shiftReports().map((r) => [
        r.register,
        { float: r.float, cashTopups: r.cashTopups.cents, cashouts: r.cashouts.cents, tickets: r.tickets.cents, expected: r.expected, counted: r.counted, difference: r.difference, closed: r.closedAt !== null },
      ]),
    ),
    vault: -(ledger.accountBalance('vault:event') ?? 0),
    imbalance: ledger.accountBalance('imbalance:event') ?? 0,
    openDebts: stats.openDebts,
    refusals,
    customerBalances: stats.customerBalances,
    latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: percentile(latencies, 100) },
    errors: errors.length,
  }
}
