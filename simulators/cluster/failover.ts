// `npm run failover`: the cluster of `npm run cluster` (two gateways on one
// PostgreSQL and one Mosquitto, the demo's tills selling through them) while
// one machine after another fails:
//
//   gateway-kill      SIGKILL of gateway-a (a machine that dies), later started again
//   broker-restart    Mosquitto stopped and started again on the same port and data
//   postgres-restart  PostgreSQL killed (immediate shutdown, as a crash) and started
//                     again on the same data folder and port: it recovers from its WAL
//
// Each phase: the tills sell for a while, the fault happens, the script waits
// (bounded) until every till has had a sale answered by a gateway again and
// prints how long that took (answeredAgainMs: a measurement, never a pass
// mark), the tills sell on for a while and stop, the kiosks empty their
// outboxes, and the books are checked: nothing a till showed accepted is
// missing from the ledger (lost), nothing is booked more often than the
// tills made transactions (duplicates), every kiosk's chain is complete (its
// outbox empty and the gateways' cursor at the kiosk's next seq, the same
// hash) and the ledger balances (the store's invariant checks, the same for
// every store). The phases run one after the other on the same books, so
// each phase's checks cover everything booked so far.
//
// What it found (Mosquitto 2.0.11):
//  - gateway-kill: with the gateways' sessions persistent (MQTT 3.1.1) the
//    survivor did not take over: Mosquitto kept the dead gateway's session in
//    the share group, with the messages it held and its turn of new ones, and
//    a kiosk's chain stopped at the first of its transactions that went there.
//    The gateways' sessions now expire (MQTT 5, mqtt.external.
//    sessionExpirySeconds, default 20 s): a gateway down longer leaves the
//    share group, the survivor gets every new transaction, asks for the gaps,
//    and the kiosks send their oldest unanswered transaction again
//    (daemon/unanswered-nudge.ts), so what the dropped session held is booked
//    too. A gateway back within the expiry finds its session as before.
//  - broker-restart: Mosquitto restores the gateways' sessions but not their
//    shared subscriptions; the gateway now subscribes again (external-broker.ts).
//  - postgres-restart: the gateways' batches fail while the server is down,
//    and are asked again from the kiosks after the ingest's storage retry.
import { parseArgs } from 'node:util'
import { runTill, closeTill, type RecordedOperation, type TillContext, type DemoGuest } from '../demo/demo-tills.js'
import { randomTagUid } from '../demo/demo-event.js'
import { percentile } from '../demo/stats.js'
import { answeredBy, clusterUnavailable, startCluster, type Cluster } from './cluster.js'
import { runAsProgram } from '../script-main.js'

const USAGE = `usage: npm run failover -- [options]

Starts a private PostgreSQL and Mosquitto, two gateways sharing them and the
demo's kiosks selling through them; then kills gateway-a (SIGKILL) and starts
it again, restarts Mosquitto, restarts PostgreSQL. Prints one JSON summary:
per phase how long until sales were answered again (answeredAgainMs) and the
checks (nothing lost or doubled, every kiosk's chain complete, the ledger
balanced). Exit code 0 only if every phase recovered and every check holds.

  --warm SECONDS      selling before each fault (default 5)
  --down SECONDS      how long gateway-a and the broker stay down (default 3)
  --after SECONDS     selling after sales are answered again (default 5)
  --recover SECONDS   bound on the wait for answers after a fault (default 120)
  --kiosks N          number of kiosks (default 4)
  --guests N          number of guests with wristbands (default 40)
  --help              this text`

export interface FailoverOptions {
  warmS: number
  downS: number
  /** How long gateway-a stays down (default downS): past its session's expiry, the other gateway takes over. */
  gatewayDownS?: number
  afterS: number
  /** Bound on the wait until every till is answered again; a phase that takes longer has not recovered. */
  recoverTimeoutS: number
  /** Bound on the wait for the outboxes to empty once the tills stopped. */
  drainTimeoutS?: number
  kiosks: number
  guests: number
  gatewayArgs?: string[]
  /** The gateways' session expiry at the broker (default the gateway's): a gateway down longer leaves the share group. */
  gatewaySessionExpiryS?: number
  /** Called with the cluster once it runs (a test registers its teardown: it is stopped even if the run is cut short). */
  onStarted?: (cluster: Cluster) => void
}

export const PHASES = ['gateway-kill', 'broker-restart', 'postgres-restart'] as const
export type PhaseName = (typeof PHASES)[number]

export interface ChainCheck {
  /** Transactions the kiosk still holds unanswered. */
  outbox: number
  kioskNextSeq: number
  /** The ledger's cursor for the kiosk (undefined: the ledger does not know it). */
  gatewayNextSeq: number | undefined
  sameHash: boolean
}

export interface PhaseChecks {
  lost: number
  /** The first lost ones: what the till showed, and what the ledger holds (missing, or rejected and why). */
  lostDetails?: Array<{ id: string; kiosk: string; shown: string; ledger: string; reason?: string }>
  duplicates: number
  chainsComplete: boolean
  chains: Record<string, ChainCheck>
  ledgerBalanced: boolean
  invariantViolations: string[]
}

export interface PhaseResult extends PhaseChecks {
  phase: PhaseName
  /** From the fault until every till had a sale it made after the fault answered (accepted or rejected) by a gateway; null: not within the bound. */
  answeredAgainMs: number | null
  /** From the fault until the first such answer at any till. */
  firstAnswerMs: number | null
  recovered: boolean
  /** The tills' operations in this phase, by what the kiosk showed. */
  operations: { accepted: number; rejected: number; pending: number; offline: number }
  latencyMs: { p50: number; p99: number; max: number }
  /** gateway-kill only: whether every till was answered again before gateway-a was back (by the survivor alone). */
  answeredWhileDown?: boolean
  /** gateway-kill only: whether the restarted gateway-a answered sales again, and when (from its restart). */
  rejoined?: boolean
  rejoinAnsweredMs?: number | null
  /** Kept short: what went wrong at the tills in this phase (refusals are counted apart). */
  errors: string[]
}

export interface FailoverSummary {
  phases: PhaseResult[]
  transactions: number
  ledger: { accepted: number; rejected: number }
  refusals: Record<string, number>
  gateways: Record<string, { alive: boolean; answered: number | null }>
  durationS: number
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms))

/** Polls `check` every `everyMs` until it holds or `timeoutMs` passed; whether it held. */
async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (performance.now() >= deadline) return false
    await sleep(everyMs)
  }
}

/** An operation's answer came from a gateway (not offline, not the kiosk's "pending" after its reply timeout). */
const answered = (r: RecordedOperation) => r.outcome.status === 'accepted' || r.outcome.status === 'rejected'
/** When the kiosk sent it: the answer's time less its latency (which starts after the tap). */
const sentAtMs = (r: RecordedOperation) => r.atMs - r.latencyMs

/**
 * From `faultMs` until every kiosk in `kioskIds` had an operation it sent after
 * the fault answered, and until the first such answer; null for what did not happen.
 */
export function answeredAgain(recorded: readonly RecordedOperation[], kioskIds: readonly string[], faultMs: number): { allMs: number | null; firstMs: number | null } {
  const earliest = new Map<string, number>()
  for (const r of recorded) {
    if (!answered(r) || sentAtMs(r) < faultMs) continue
    const known = earliest.get(r.kioskId)
    if (known === undefined || r.atMs < known) earliest.set(r.kioskId, r.atMs)
  }
  const times = kioskIds.map((id) => earliest.get(id)).filter((at): at is number => at !== undefined)
  return {
    allMs: kioskIds.length > 0 && times.length === kioskIds.length ? Math.max(...times) - faultMs : null,
    firstMs: times.length > 0 ? Math.min(...times) - faultMs : null,
  }
}

/** Whether a run is sound: all three phases ran, each recovered, nothing lost or doubled, every chain complete, the books balanced. */
export function failoverSound(summary: Pick<FailoverSummary, 'phases'>): boolean {
  return (
    PHASES.every((name) => summary.phases.some((p) => p.phase === name)) &&
    summary.phases.every(
      (p) => p.recovered && p.lost === 0 && p.duplicates === 0 && p.chainsComplete && p.ledgerBalanced && p.invariantViolations.length === 0 && (p.phase !== 'gateway-kill' || p.rejoined === true),
    )
  )
}

/** Whether the script's ledger answers a query (after PostgreSQL restarted, its first query fails and the next reconnects). */
function booksReachable(cluster: Cluster): boolean {
  try {
    cluster.ledger.stats()
    return true
  } catch {
    return false
  }
}

/** The books against what the tills showed, and every kiosk's chain against the ledger's cursor. */
function checkBooks(cluster: Cluster, recorded: readonly RecordedOperation[]): PhaseChecks {
  const { ledger, runtimes } = cluster
  const shownAccepted = recorded.filter((r) => r.outcome.status === 'accepted' || r.outcome.status === 'offline')
  const lostOnes = shownAccepted.filter((r) => ledger.transaction(r.outcome.id)?.status !== 'accepted')
  const lost = lostOnes.length
  const lostDetails = lostOnes.slice(0, 10).map((r) => {
    const booked = ledger.transaction(r.outcome.id)
    return { id: r.outcome.id, kiosk: r.kioskId, shown: r.outcome.status, ledger: booked?.status ?? 'missing', ...(booked?.reason === undefined ? {} : { reason: booked.reason }) }
  })
  const stats = ledger.stats()
  const created = new Set(recorded.map((r) => r.outcome.id)).size
  const chains: Record<string, ChainCheck> = {}
  for (const r of runtimes) {
    const head = r.daemon.outbox.head()
    const cursor = ledger.kioskCursor(r.spec.id)
    chains[r.spec.id] = { outbox: r.daemon.outbox.depth(), kioskNextSeq: head.nextSeq, gatewayNextSeq: cursor?.nextSeq, sameHash: cursor?.lastHash === head.prev }
  }
  const violations = ledger.checkInvariants()
  return {
    lost,
    ...(lost === 0 ? {} : { lostDetails }),
    // The ledger holds no more transactions than the tills made (each has one id).
    duplicates: Math.max(0, stats.accepted + stats.rejected - created),
    chainsComplete: Object.values(chains).every((c) => c.outbox === 0 && c.gatewayNextSeq === c.kioskNextSeq && c.sameHash),
    chains,
    ledgerBalanced: ledger.sumOfAllBalances() === 0 && violations.length === 0,
    invariantViolations: violations,
  }
}

export async function runFailover(options: FailoverOptions, out: (line: string) => void = console.log): Promise<FailoverSummary> {
  const startedMs = performance.now()
  let ticker: NodeJS.Timeout | undefined
  const cluster = await startCluster({ kiosks: options.kiosks, guests: options.guests, dirPrefix: 'wristpay-failover-', ...(options.gatewayArgs ? { gatewayArgs: options.gatewayArgs } : {}), ...(options.gatewaySessionExpiryS === undefined ? {} : { gatewaySessionExpiryS: options.gatewaySessionExpiryS }) }, out)
  try {
    options.onStarted?.(cluster)
    const { runtimes } = cluster
    const kioskIds = runtimes.map((r) => r.spec.id)
    const recorded: RecordedOperation[] = []
    const refusals: Record<string, number> = {}
    const guests: DemoGuest[] = cluster.setup.wristbands.map((w) => ({ uid: w.uid, knownBalance: 0, cups: 0 }))
    const freshWristbands = Array.from({ length: Math.ceil(options.guests / 2) }, () => randomTagUid())

    /** The tills sell until the returned stop(); the guests, the record and the shifts go on from phase to phase. */
    const sell = (errors: string[]) => {
      let stopping = false
      const ctx: TillContext = { guests, freshWristbands, recorded, refusals, errors, logger: cluster.logger, isStopping: () => stopping }
      const loops = runtimes.map((k) => runTill(k, ctx))
      return {
        ctx,
        async stop() {
          stopping = true
          await Promise.all(loops)
        },
      }
    }
    const drain = () => waitFor(() => runtimes.every((r) => r.daemon.outbox.depth() === 0), (options.drainTimeoutS ?? 120) * 1_000, 100)

    // A status line every 2 s: what the tills saw lately, what the kiosks still hold, who is online.
    ticker = setInterval(() => {
      const now = performance.now()
      const recent = recorded.filter((r) => now - r.atMs <= 2_000)
      const by = (status: string) => recent.filter((r) => r.outcome.status === status).length
      const outbox = runtimes.reduce((sum, r) => sum + r.daemon.outbox.depth(), 0)
      const online = runtimes.filter((r) => r.daemon.status().connected).length
      out(`  last 2 s: accepted ${by('accepted')} rejected ${by('rejected')} pending ${by('pending')} offline ${by('offline')}; outbox ${outbox}; kiosks online ${online}/${runtimes.length}`)
    }, 2_000)
    const phases: PhaseResult[] = []
    for (const phase of PHASES) {
      const errors: string[] = []
      const firstIndex = recorded.length
      const tills = sell(errors)
      await sleep(options.warmS * 1_000)
      const faultMs = performance.now()
      out(`failover: ${phase} (${cluster.elapsedS()} s)`)
      let rejoined: boolean | undefined
      let answeredWhileDown: boolean | undefined
      let rejoinAnsweredMs: number | null | undefined
      const recoveredWithin = (timeoutMs: number) => waitFor(() => answeredAgain(recorded, kioskIds, faultMs).allMs !== null, timeoutMs)
      let recovered: boolean
      if (phase === 'gateway-kill') {
        await cluster.killGateway('gateway-a')
        // While gateway-a is down, only the survivor can answer.
        const gatewayDownMs = (options.gatewayDownS ?? options.downS) * 1_000
        answeredWhileDown = await recoveredWithin(gatewayDownMs)
        await sleep(Math.max(0, faultMs + gatewayDownMs - performance.now()))
        const restartMs = performance.now()
        await cluster.startGateway('gateway-a')
        out(`failover: gateway-a started again (${cluster.elapsedS()} s)`)
        recovered = await recoveredWithin(options.recoverTimeoutS * 1_000)
        const a = cluster.gateways.find((g) => g.name === 'gateway-a')!
        rejoined = await waitFor(async () => ((await answeredBy(a)).answered ?? 0) > 0, options.recoverTimeoutS * 1_000, 200)
        rejoinAnsweredMs = rejoined ? Math.round(performance.now() - restartMs) : null
      } else if (phase === 'broker-restart') {
        await cluster.mosquitto.stop()
        await sleep(options.downS * 1_000)
        await cluster.mosquitto.restart()
        out(`failover: Mosquitto started again (${cluster.elapsedS()} s)`)
        recovered = await recoveredWithin(options.recoverTimeoutS * 1_000)
      } else {
        await cluster.postgres.kill()
        await cluster.postgres.restart()
        out(`failover: PostgreSQL started again (${cluster.elapsedS()} s)`)
        // The script's own connection broke too: its next query fails once, the one after reconnects.
        await waitFor(() => booksReachable(cluster), options.recoverTimeoutS * 1_000, 200)
        recovered = await recoveredWithin(options.recoverTimeoutS * 1_000)
      }
      const { allMs, firstMs } = answeredAgain(recorded, kioskIds, faultMs)
      out(`failover: ${phase}: ${recovered ? `answered again after ${Math.round(allMs!)} ms` : 'NOT answered again'} (${cluster.elapsedS()} s)`)
      await sleep(options.afterS * 1_000)
      await tills.stop()
      // The last phase closes the cash shifts, as the end of the day does.
      if (phase === PHASES.at(-1)) for (const k of runtimes) await closeTill(k, tills.ctx, cluster.ledger)
      const drained = await drain()
      if (!drained) errors.push(`outboxes not empty after the drain: ${runtimes.map((r) => `${r.spec.id} ${r.daemon.outbox.depth()}`).join(', ')}`)
      const mine = recorded.slice(firstIndex)
      const count = (status: string) => mine.filter((r) => r.outcome.status === status).length
      const latencies = mine.map((r) => r.latencyMs)
      const result: PhaseResult = {
        phase,
        answeredAgainMs: allMs === null ? null : Math.round(allMs),
        firstAnswerMs: firstMs === null ? null : Math.round(firstMs),
        recovered,
        operations: { accepted: count('accepted'), rejected: count('rejected'), pending: count('pending'), offline: count('offline') },
        latencyMs: { p50: Math.round(percentile(latencies, 50)), p99: Math.round(percentile(latencies, 99)), max: Math.round(percentile(latencies, 100)) },
        ...(rejoined === undefined ? {} : { answeredWhileDown: answeredWhileDown ?? false, rejoined, rejoinAnsweredMs: rejoinAnsweredMs ?? null }),
        ...checkBooks(cluster, recorded),
        errors: errors.slice(0, 10),
      }
      phases.push(result)
      out(`failover: ${phase} checked: lost ${result.lost}, duplicates ${result.duplicates}, chains ${result.chainsComplete ? 'complete' : 'INCOMPLETE'}, ledger ${result.ledgerBalanced ? 'balanced' : 'NOT balanced'} (${cluster.elapsedS()} s)`)
    }
    const stats = cluster.ledger.stats()
    const gateways: FailoverSummary['gateways'] = {}
    for (const g of cluster.gateways) gateways[g.name] = await answeredBy(g)
    return { phases, transactions: recorded.length, ledger: { accepted: stats.accepted, rejected: stats.rejected }, refusals, gateways, durationS: Math.round((performance.now() - startedMs) / 100) / 10 }
  } finally {
    clearInterval(ticker)
    await cluster.teardown()
  }
}

function parseOptions(argv: string[]): FailoverOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      warm: { type: 'string', default: '5' },
      down: { type: 'string', default: '3' },
      after: { type: 'string', default: '5' },
      recover: { type: 'string', default: '120' },
      kiosks: { type: 'string', default: '4' },
      guests: { type: 'string', default: '40' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  })
  if (values.help) return 'help'
  const num = (name: string, raw: string, min: number, max: number, integer = false): number => {
    const n = Number(raw)
    if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) throw new Error(`--${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got "${raw}"`)
    return n
  }
  return {
    warmS: num('warm', values.warm, 0.5, 3_600),
    downS: num('down', values.down, 0, 3_600),
    afterS: num('after', values.after, 0.5, 3_600),
    recoverTimeoutS: num('recover', values.recover, 1, 3_600),
    kiosks: num('kiosks', values.kiosks, 1, 50, true),
    guests: num('guests', values.guests, 1, 5_000, true),
  }
}

// Run only as a program, not when a test imports runFailover.
runAsProgram(
  {
    name: 'failover',
    usage: USAGE,
    parse: parseOptions,
    unavailable: clusterUnavailable,
    async run(options) {
      // Progress on stderr; stdout is the JSON summary alone.
      const summary = await runFailover(options, (line) => console.error(line))
      console.log(JSON.stringify(summary, null, 2))
      return failoverSound(summary) ? 0 : 1
    },
  },
  process.argv[1]?.endsWith('simulators/cluster/failover.ts') === true,
)
