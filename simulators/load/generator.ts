// The load generator: many kiosks at the protocol level (the benchmark's
// fleet kiosks: one MQTT connection each, their own key, sequence and hash
// chain), offering sales in an open loop. Each phase's sales are signed before
// the phase starts, in chain order, and each is sent at its intended time
// whether or not earlier ones were answered; its latency runs from that
// intended time to the answer, so time spent queueing anywhere (in the
// generator too) counts. The generator measures its own event-loop
// utilisation so that a report can show it was not the limit.
import { performance } from 'node:perf_hooks'
import { systemClock, type Envelope } from '../../device-protocol/index.js'
import { createFleetKiosk, type FleetKiosk, type SendOutcome } from '../demo/kiosk-fleet.js'
import { createLatencyRecorder, type LatencySummary } from './latency.js'
import { createThroughputRecorder, type ThroughputSeries } from './throughput.js'
import { fleetPrivateKey, type LoadFleetFile } from './load-event.js'

export interface PhaseOptions {
  ratePerSec: number
  durationMs: number
  /** How long after the last intended send answers are still waited for; later ones count as unanswered. */
  drainMs: number
}

export interface PhaseResult {
  offeredPerSec: number
  /** Answers per second over the phase (or until the last answer, when that came later). */
  achievedPerSec: number
  /** Latency in ms from each sale's intended send time to its answer. */
  p50: number
  p99: number
  p999: number
  max: number
  sales: number
  accepted: number
  rejected: number
  unanswered: number
  /** The latest the generator sent a sale after its intended time, ms: its own lag, included in the latencies. */
  sendLagMaxMs: number
  /** Share of the phase the generator's event loop was idle (1 - event-loop utilisation). */
  generatorIdleShare: number
  /** Time spent signing the phase's sales before it started (not measured), ms. */
  signMs: number
}

export interface LoadGenerator {
  readonly kiosks: number
  connect(): Promise<void>
  /** Tops every wristband up by `cents` (closed loop, before anything is measured). */
  fund(cents: number): Promise<void>
  runPhase(options: PhaseOptions): Promise<PhaseResult>
  /** Waits (at most `timeoutMs`) until no kiosk has a sale in flight; resolves with how many still are. */
  settle(timeoutMs: number): Promise<number>
  /** Sales due and answers received per second since the first phase started, over every phase so far. */
  throughput(): ThroughputSeries
  close(): Promise<void>
}

/** Connections opened at once: the gateway admits only so many not yet logged in per address. */
const CONNECT_CHUNK = 16
/** The first sale of a phase is due this long after the phase starts, so that its timer is set first. */
const START_DELAY_MS = 5

interface PlannedSale {
  kiosk: FleetKiosk
  envelope: Envelope
  /** Intended send time, ms after the phase's start. */
  dueMs: number
}

export function createLoadGenerator(options: { fleet: LoadFleetFile; mqttUrl: string; kiosks?: number }): LoadGenerator {
  const { fleet } = options
  const count = Math.min(fleet.kiosks.length, Math.max(1, options.kiosks ?? fleet.kiosks.length))
  const kiosks = fleet.kiosks
    .slice(0, count)
    .map((k) => createFleetKiosk({ kioskId: k.id, token: k.token, privateKey: fleetPrivateKey(k.privateKey), mqttUrl: options.mqttUrl, clock: systemClock }))
  const lines = [{ product: fleet.product.id, qty: 1, unitPrice: fleet.product.price }]
  const throughput = createThroughputRecorder()
  /** performance.now() when the first phase started: second 0 of the throughput series. */
  let runStartMs: number | undefined

  function plan(ratePerSec: number, durationMs: number): PlannedSale[] {
    const total = Math.max(1, Math.round((ratePerSec * durationMs) / 1000))
    const stampedFrom = Date.now()
    const sales: PlannedSale[] = []
    // Round robin over the kiosks: each kiosk's sales are signed and sent in its chain's order.
    for (let i = 0; i < total; i++) {
      const kiosk = kiosks[i % kiosks.length]!
      const dueMs = START_DELAY_MS + (i * 1000) / ratePerSec
      const uid = fleet.wristbands[i % fleet.wristbands.length]!
      sales.push({ kiosk, dueMs, envelope: kiosk.sign('sale', uid, lines, fleet.product.price, stampedFrom + Math.round(dueMs)) })
    }
    return sales
  }

  return {
    kiosks: count,
    async connect() {
      for (let i = 0; i < kiosks.length; i += CONNECT_CHUNK) await Promise.all(kiosks.slice(i, i + CONNECT_CHUNK).map((k) => k.connect()))
    },
    async fund(cents) {
      const outcomes = await Promise.all(fleet.wristbands.map((uid, i) => kiosks[i % kiosks.length]!.send('topup_cash', uid, [], cents)))
      const refused = outcomes.find((o) => o.result.status !== 'accepted')
      if (refused) throw new Error(`top-up refused: ${refused.result.reason}`)
    },
    async runPhase({ ratePerSec, durationMs, drainMs }) {
      const signStart = performance.now()
      const sales = plan(ratePerSec, durationMs)
      const signMs = performance.now() - signStart
      const latency = createLatencyRecorder()
      let answered = 0
      let accepted = 0
      let lastAnswerMs = 0
      let sendLagMaxMs = 0
      let open = true
      let allAnswered: () => void = () => {}
      const everyAnswer = new Promise<void>((resolve) => (allAnswered = resolve))

      const t0 = performance.now()
      const elu0 = performance.eventLoopUtilization()
      if (runStartMs === undefined) throughput.started(Date.now())
      const runStart = (runStartMs ??= t0)
      for (const sale of sales) throughput.offered(t0 - runStart + sale.dueMs)
      const onAnswer = (sale: PlannedSale, outcome: SendOutcome) => {
        throughput.answered(performance.now() - runStart)
        if (!open) return // a late answer to an earlier phase
        const nowMs = performance.now() - t0
        latency.record(nowMs - sale.dueMs)
        answered += 1
        if (outcome.result.status === 'accepted') accepted += 1
        lastAnswerMs = nowMs
        if (answered === sales.length) allAnswered()
      }
      await new Promise<void>((sent) => {
        let next = 0
        const tick = () => {
          while (next < sales.length) {
            const sale = sales[next]!
            const nowMs = performance.now() - t0
            if (sale.dueMs > nowMs) break
            sendLagMaxMs = Math.max(sendLagMaxMs, nowMs - sale.dueMs)
            next += 1
            void sale.kiosk.sendSigned(sale.envelope).then((outcome) => onAnswer(sale, outcome))
          }
          if (next >= sales.length) return sent()
          setTimeout(tick, Math.max(0, sales[next]!.dueMs - (performance.now() - t0)))
        }
        setTimeout(tick, START_DELAY_MS)
      })
      let drainTimer: NodeJS.Timeout | undefined
      await Promise.race([everyAnswer, new Promise<void>((resolve) => (drainTimer = setTimeout(resolve, drainMs)))])
      clearTimeout(drainTimer)
      open = false
      const idle = 1 - performance.eventLoopUtilization(elu0).utilization
      const summary: LatencySummary = latency.summary()
      return {
        offeredPerSec: ratePerSec,
        achievedPerSec: Math.round((answered * 1000) / Math.max(durationMs, lastAnswerMs)),
        p50: summary.p50,
        p99: summary.p99,
        p999: summary.p999,
        max: summary.max,
        sales: sales.length,
        accepted,
        rejected: answered - accepted,
        unanswered: sales.length - answered,
        sendLagMaxMs: Math.round(sendLagMaxMs * 100) / 100,
        generatorIdleShare: Math.round(idle * 1000) / 1000,
        signMs: Math.round(signMs),
      }
    },
    async settle(timeoutMs) {
      const until = performance.now() + timeoutMs
      const inFlight = () => kiosks.reduce((n, k) => n + k.inFlight(), 0)
      while (inFlight() > 0 && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 50))
      return inFlight()
    },
    throughput: () => throughput.series(),
    async close() {
      await Promise.all(kiosks.map((k) => k.close()))
    },
  }
}

/** A phase the gateway sustained: everything answered, at the offered rate, with p99 under the limit. */
export function sustained(phase: PhaseResult, p99LimitMs: number): boolean {
  return phase.unanswered === 0 && phase.achievedPerSec >= 0.95 * phase.offeredPerSec && phase.p99 < p99LimitMs
}

/**
 * The rate of a phase that saturates the gateway, so that it is measured with a backlog (its busiest seconds,
 * where its CPU per sale is what a fully loaded gateway pays): twice the highest rate offered so far; undefined
 * when a phase had a backlog already: it fell behind (answered under 90% of its offered rate) or its median
 * sale waited `backlogMs` or more (a queue that grew all phase long).
 */
export function saturationRate(phases: readonly PhaseResult[], backlogMs: number): number | undefined {
  if (phases.length === 0 || phases.some((p) => p.achievedPerSec < 0.9 * p.offeredPerSec || p.p50 >= backlogMs)) return undefined
  return 2 * Math.max(...phases.map((p) => p.offeredPerSec))
}

export interface CapacitySearch {
  /** The highest offered rate sustained (0: none was). */
  capacityPerSec: number
  phases: PhaseResult[]
}

/**
 * The highest rate the gateway sustains with p99 under `p99LimitMs`, found by
 * doubling until a rate fails, then bisecting, in at most `maxPhases` phases;
 * rates already known to pass or fail (the open-loop table's) narrow it first.
 * Stops once the bracket is within 10% of its lower end.
 */
export async function findCapacity(
  runPhase: (ratePerSec: number) => Promise<PhaseResult>,
  options: { p99LimitMs: number; maxPhases: number; startPerSec: number; knownGoodPerSec?: number; knownBadPerSec?: number },
): Promise<CapacitySearch> {
  let good = options.knownGoodPerSec ?? 0
  let bad = options.knownBadPerSec
  const phases: PhaseResult[] = []
  while (phases.length < options.maxPhases) {
    if (bad !== undefined && bad - good <= Math.max(1, good * 0.1)) break
    const rate = bad === undefined ? (good === 0 ? options.startPerSec : good * 2) : Math.round((good + bad) / 2)
    const phase = await runPhase(rate)
    phases.push(phase)
    if (sustained(phase, options.p99LimitMs)) good = rate
    else bad = rate
  }
  return { capacityPerSec: good, phases }
}
