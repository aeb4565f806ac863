// The benchmark's portal-load scenario (issue 16, point 7): signed sales at a
// fixed offered rate while guests poll the portal. A real gateway in this
// process (SQLite file, HTTP on loopback, the embedded MQTT broker), kiosks as
// MQTT clients that sign their sales, guests as HTTP clients with keep-alive.
// Three phases of the same length: the sales alone (the baseline), the guests
// alone (logged in, refreshing their account view), then the same sales while
// the guests refresh. The first two are the limits the third is compared
// against, measured in the same run on the same machine.
//
// The sales are paced open-loop: sale i is due at start + i / rate whatever
// the gateway answered so far, so a slow gateway shows as lag and latency,
// never as a lower offered rate. Latency is counted from when a sale was due.
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import pino, { type Logger } from 'pino'
import { publicKeyToBase64Url, systemClock } from '../../device-protocol/index.js'
import type { Gateway } from '../../gateway/app.js'
import { DEFAULT_CONFIG } from '../../gateway/config.js'
import { randomPin, type EventSetup } from '../../gateway/event-setup.js'
import { startLoopbackGateway } from '../e2e/kiosk-harness.js'
import { createFleetKiosk, type FleetKiosk } from './kiosk-fleet.js'
import { createPortalGuest, type GuestRequest, type PortalGuest } from './portal-guest.js'
import { percentile } from './stats.js'

const BEER_CENTS = 450
/** How long the answers of a phase may still come after its last sale was due; later ones are late (not in its achieved rate). */
const DEFAULT_DRAIN_MS = 30_000
/** How long the end of the run waits for late answers before it checks the books; sales still unanswered then count as unanswered. */
const FINAL_WAIT_MS = 180_000

/** The share of the offered rate the baseline must reach: below it, this machine cannot carry the rate at all. */
export const MIN_BASELINE_SHARE_OF_OFFERED = 0.95
/** The share of the baseline's achieved rate the sales must keep while guests poll the portal. */
export const MIN_RATE_SHARE_UNDER_PORTAL = 0.95
/** The share of the portal's request rate alone that it must keep while the sales run (guests wait for each answer). */
export const MIN_PORTAL_RATE_SHARE_UNDER_SALES = 0.9

export interface PortalLoadOptions {
  /** Sales offered per second, over all kiosks together. */
  salesPerSec: number
  /** Guests polling the portal, each with a wristband of their own; the sales go to their wristbands. */
  guests: number
  kiosks: number
  /** Length of each phase (sales alone, guests alone, both). */
  phaseMs: number
  /** Each guest refreshes the account view this long after the previous refresh was answered. */
  pollIntervalMs: number
  drainMs?: number
  logger?: Logger
  /** Called with what the run did before the gateway stops (tests check the ledger against it). */
  inspect?: (run: PortalLoadRun) => void | Promise<void>
}

export interface PortalLoadRun {
  gateway: Gateway
  /** Every sale the gateway answered: its transaction id and the wristband it charged. */
  answeredSales: ReadonlyArray<{ id: string; uid: string; status: string }>
  guests: ReadonlyArray<GuestRecord>
}

/** What one guest did and saw. */
export interface GuestRecord {
  uid: string
  polls: number
  /** Refreshes answered 200 with this guest's own data only. */
  okPolls: number
  foreignRecords: number
  /** The orders a last refresh after every sale was answered listed (receipt ids, newest first). */
  finalOrderIds: string[] | undefined
}

export interface LatencySummary {
  p50: number
  p95: number
  p99: number
  max: number
}

export interface SalesPhase {
  offeredSalesPerSec: number
  /** Sales answered within the phase's drain time per second, from the phase's start to the last of those answers. */
  achievedSalesPerSec: number
  sent: number
  /** Answered by the end of the run (accepted + refused). */
  answered: number
  /** Of those, answered after the phase's drain time (a backlog, not a loss). */
  answeredLate: number
  accepted: number
  refused: number
  /** Not answered by the end of the run. */
  unanswered: number
  /** From when each sale was due to its answer. */
  latencyMs: LatencySummary
  /** How late the pacer sent its latest sale (the load generator's own lag, same process). */
  maxSendLagMs: number
  /**
   * The process's event loop (gateway, kiosks and guests share it): how late
   * its timers ran during the phase. A busy loop delays everything at once.
   */
  eventLoopDelayMs: { p50: number; p99: number; max: number }
  /** CPU time of the whole process during the phase, per wall-clock time (100: one core busy). */
  cpuPercent: number
}

/** The portal's figures of one phase. */
export interface PortalPhase {
  requests: number
  requestsPerSec: number
  latencyMs: LatencySummary
  /** Requests by status; where no answer came, by the socket error's code (ECONNRESET, ...). */
  statuses: Record<string, number>
  /** Requests sent again after the server closed their idle keep-alive connection under them (as a browser does). */
  retriedAfterClose: number
}

export interface PortalLoadSummary {
  scenario: 'portal-load'
  targetSalesPerSec: number
  kiosks: number
  guests: number
  pollIntervalMs: number
  phaseSeconds: number
  baseline: SalesPhase
  withPortal: SalesPhase
  /** The guests refreshing with no sales running. */
  portalAlone: PortalPhase
  /** The guests refreshing while the sales of `withPortal` run; polls count both phases. */
  portal: PortalPhase & {
    logins: number
    polls: number
    /** Refreshes answered 200 with the guest's own data only. */
    okPolls: number
    /** Customers and orders answered to a guest that named another wristband (must be 0). */
    foreignRecords: number
    /** Guests whose last refresh, after every sale was answered, did not list exactly their orders in the ledger. */
    finalViewMismatches: number
  }
  ledger: {
    /** Top-ups of the warm-up plus accepted sales. */
    expectedAccepted: number
    accepted: number
    /** Sales answered accepted that the ledger does not hold as accepted. */
    missing: number
    balanced: boolean
    invariantViolations: number
  }
  checks: BenchCheck[]
}

export interface BenchCheck {
  name: string
  pass: boolean
  detail: string
  /** correctness: the books or the guests' data are wrong; rate: the machine did not keep up (never fails a test). */
  kind: 'correctness' | 'rate'
}

const latencySummary = (values: readonly number[]): LatencySummary => ({
  p50: percentile(values, 50),
  p95: percentile(values, 95),
  p99: percentile(values, 99),
  max: percentile(values, 100),
})

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms))

/**
 * Calls `send(i, dueAtMs)` for i = 0 .. count-1, each when it is due
 * (start + i / rate), catching up at once when the event loop was late.
 */
async function pace(ratePerSec: number, count: number, send: (index: number, dueAtMs: number) => void): Promise<{ startMs: number; maxLagMs: number }> {
  const startMs = performance.now()
  const intervalMs = 1000 / ratePerSec
  let maxLagMs = 0
  let index = 0
  while (index < count) {
    const nowMs = performance.now()
    while (index < count && startMs + index * intervalMs <= nowMs) {
      const dueAtMs = startMs + index * intervalMs
      maxLagMs = Math.max(maxLagMs, nowMs - dueAtMs)
      send(index, dueAtMs)
      index += 1
    }
    if (index < count) await sleep(Math.max(0, startMs + index * intervalMs - performance.now()))
  }
  return { startMs, maxLagMs }
}

/** Resolves with the promises' values once all settled, or at the deadline with what settled by then. */
async function settleWithin<T>(promises: readonly Promise<T>[], deadlineMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([Promise.allSettled(promises), new Promise<void>((done) => (timer = setTimeout(done, deadlineMs)))])
  clearTimeout(timer)
}

function portalPhase(requests: readonly GuestRequest[], seconds: number): PortalPhase {
  const statuses: Record<string, number> = {}
  for (const r of requests) {
    const key = r.status === 0 ? (r.error ?? 'no answer') : String(r.status)
    statuses[key] = (statuses[key] ?? 0) + 1
  }
  return {
    requests: requests.length,
    requestsPerSec: Math.round(requests.length / Math.max(0.001, seconds)),
    latencyMs: latencySummary(requests.map((r) => r.latencyMs)),
    statuses,
    retriedAfterClose: requests.filter((r) => r.retried).length,
  }
}

/** Guest i's own loopback address (Linux: all of 127/8 is loopback); elsewhere all guests share 127.0.0.1. */
function guestAddress(index: number): string | undefined {
  if (process.platform !== 'linux') return undefined
  return `127.1.${Math.floor(index / 250)}.${(index % 250) + 1}`
}

export async function runPortalLoad(options: PortalLoadOptions): Promise<PortalLoadSummary> {
  const { salesPerSec, kiosks: kioskCount, phaseMs, pollIntervalMs } = options
  const guestCount = Math.max(1, options.guests)
  const drainMs = options.drainMs ?? DEFAULT_DRAIN_MS
  const salesPerPhase = Math.max(1, Math.round((salesPerSec * phaseMs) / 1000))
  const salesPerWristband = Math.ceil((2 * salesPerPhase) / guestCount)
  // Enough for every sale of both phases, twice over: a refusal for want of money would be a wrong figure.
  const topupCents = Math.max(10_000, 2 * salesPerWristband * BEER_CENTS)

  const dir = mkdtempSync(join(tmpdir(), 'wristpay-portal-load-'))
  const kioskKeys = Array.from({ length: kioskCount }, () => generateKeyPairSync('ed25519'))
  const setup: EventSetup = {
    event: { name: 'portal load', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: 'beer', name: 'Beer', price: BEER_CENTS, booth: 'bar' }],
    kiosks: kioskKeys.map((key, i) => ({
      id: `load-${i + 1}`,
      booth: 'bar',
      token: randomBytes(24).toString('base64url'),
      publicKey: publicKeyToBase64Url(key.publicKey),
      saleAllowed: true,
      topupAllowed: true,
    })),
    wristbands: Array.from({ length: guestCount }, (_, i) => ({
      uid: (0x05000000 + i).toString(16).toUpperCase().padStart(14, '0'),
      pin: randomPin(),
    })),
  }
  const logger = options.logger ?? pino({ level: 'warn' })
  const gateway = await startLoopbackGateway({ dir, setup, logger, config: { logLevel: 'warn' } })
  const mqttUrl = `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`
  const fleet: FleetKiosk[] = setup.kiosks.map((k, i) =>
    createFleetKiosk({ kioskId: k.id, token: k.token, privateKey: kioskKeys[i]!.privateKey, mqttUrl, clock: systemClock }),
  )
  const http = gateway.httpAddress!
  const guests: PortalGuest[] = setup.wristbands.map((w, i) =>
    createPortalGuest({ host: http.host, port: http.port, apiPrefix: DEFAULT_CONFIG.portal.prefix, uid: w.uid, pin: w.pin!, ...(guestAddress(i) ? { localAddress: guestAddress(i)! } : {}) }),
  )
  const records: GuestRecord[] = guests.map((g) => ({ uid: g.uid, polls: 0, okPolls: 0, foreignRecords: 0, finalOrderIds: undefined }))
  const answeredSales: Array<{ id: string; uid: string; status: string }> = []
  const aloneRequests: GuestRequest[] = []
  const portalRequests: GuestRequest[] = []
  let nextSale = 0

  /** One phase of paced sales; its figures are read with `phase()` once the late answers had their time. */
  async function salesPhase(): Promise<{ phase: () => SalesPhase; pending: Promise<void>[] }> {
    const latencies: number[] = []
    const pending: Promise<void>[] = []
    let accepted = 0
    let refused = 0
    let onTime = 0
    let drained = false
    let lastAnswerMs = 0
    const loopDelay = monitorEventLoopDelay({ resolution: 10 })
    loopDelay.enable()
    const cpuAtStart = process.cpuUsage()
    const { startMs, maxLagMs } = await pace(salesPerSec, salesPerPhase, (_index, dueAtMs) => {
      const n = nextSale++
      const uid = setup.wristbands[n % guestCount]!.uid
      const kiosk = fleet[n % kioskCount]!
      pending.push(
        kiosk.send('sale', uid, [{ product: 'beer', qty: 1, unitPrice: BEER_CENTS }], BEER_CENTS).then(({ result }) => {
          const answeredAtMs = performance.now()
          latencies.push(answeredAtMs - dueAtMs)
          if (!drained) {
            onTime += 1
            lastAnswerMs = answeredAtMs
          }
          answeredSales.push({ id: result.id, uid, status: result.status })
          if (result.status === 'accepted') accepted += 1
          else refused += 1
        }),
      )
    })
    const sentEndMs = performance.now()
    await settleWithin(pending, drainMs)
    drained = true
    loopDelay.disable()
    const cpu = process.cpuUsage(cpuAtStart)
    const drainedMs = performance.now()
    const nsToMs = (ns: number) => Math.round(ns / 1e5) / 10
    const endMs = onTime > 0 ? lastAnswerMs : sentEndMs
    const achievedSalesPerSec = Math.round((onTime * 1000) / Math.max(1, endMs - startMs))
    return {
      pending,
      phase: () => ({
        offeredSalesPerSec: Math.round((salesPerPhase * 1000) / Math.max(1, sentEndMs - startMs)),
        achievedSalesPerSec,
        sent: salesPerPhase,
        answered: accepted + refused,
        answeredLate: accepted + refused - onTime,
        accepted,
        refused,
        unanswered: salesPerPhase - accepted - refused,
        latencyMs: latencySummary(latencies),
        maxSendLagMs: Math.round(maxLagMs * 10) / 10,
        eventLoopDelayMs: { p50: nsToMs(loopDelay.percentile(50)), p99: nsToMs(loopDelay.percentile(99)), max: nsToMs(loopDelay.max) },
        cpuPercent: Math.round((((cpu.user + cpu.system) / 1000) * 100) / Math.max(1, drainedMs - startMs)),
      }),
    }
  }

  try {
    await Promise.all(fleet.map((k) => k.connect()))
    // Warm-up, not measured: every guest gets money.
    await Promise.all(setup.wristbands.map((w, i) => fleet[i % kioskCount]!.send('topup_cash', w.uid, [], topupCents)))

    const baseline = await salesPhase()

    // Logging in is not part of the measured phase: the guests are on the page when the rush starts.
    let logins = 0
    for (const guest of guests) {
      await guest.logIn()
      logins += 1
    }
    let polling = true
    // A refresh counts in the phase it was asked in, also when it is answered after.
    let phaseRequests = aloneRequests
    const pollers = guests.map(async (guest, i) => {
      // Spread the first refreshes over one interval, so the guests do not all ask at once.
      await sleep(Math.random() * pollIntervalMs)
      while (polling) {
        const counted = phaseRequests
        const poll = await guest.poll()
        counted.push(...poll.requests)
        records[i]!.polls += 1
        if (poll.ok) records[i]!.okPolls += 1
        records[i]!.foreignRecords += poll.foreignRecords
        if (polling) await sleep(pollIntervalMs)
      }
    })
    const aloneStartMs = performance.now()
    await sleep(phaseMs)
    const aloneSeconds = (performance.now() - aloneStartMs) / 1000
    phaseRequests = portalRequests
    // The guests refresh until the phase's answers are in (its drain too): their rate is over all of that time.
    const withStartMs = performance.now()
    const withPortal = await salesPhase()
    polling = false
    const portalSeconds = (performance.now() - withStartMs) / 1000
    await Promise.all(pollers)

    // Answers still on their way are late, not lost: the books are checked once they are in (or the wait is over).
    await settleWithin([...baseline.pending, ...withPortal.pending], FINAL_WAIT_MS)

    // A last refresh after every sale was answered: it must list exactly the guest's orders in the ledger.
    let finalViewMismatches = 0
    for (const [i, guest] of guests.entries()) {
      const final = await guest.poll()
      records[i]!.foreignRecords += final.foreignRecords
      records[i]!.finalOrderIds = final.orderIds
      const booked = gateway.ledger.customerOrders(guest.uid).map((o) => o.receiptId)
      if (!final.ok || JSON.stringify(final.orderIds) !== JSON.stringify(booked)) finalViewMismatches += 1
    }

    const acceptedSales = answeredSales.filter((s) => s.status === 'accepted')
    const missing = acceptedSales.filter((s) => gateway.ledger.transaction(s.id)?.status !== 'accepted').length
    const violations = gateway.ledger.checkInvariants()
    for (const v of violations) console.error(`invariant violated: ${v}`)
    const polls = records.reduce((sum, r) => sum + r.polls, 0)
    const summary: Omit<PortalLoadSummary, 'checks'> = {
      scenario: 'portal-load',
      targetSalesPerSec: salesPerSec,
      kiosks: kioskCount,
      guests: guestCount,
      pollIntervalMs,
      phaseSeconds: phaseMs / 1000,
      baseline: baseline.phase(),
      withPortal: withPortal.phase(),
      portalAlone: portalPhase(aloneRequests, aloneSeconds),
      portal: {
        ...portalPhase(portalRequests, portalSeconds),
        logins,
        polls,
        okPolls: records.reduce((sum, r) => sum + r.okPolls, 0),
        foreignRecords: records.reduce((sum, r) => sum + r.foreignRecords, 0),
        finalViewMismatches,
      },
      ledger: {
        expectedAccepted: guestCount + acceptedSales.length,
        accepted: gateway.ledger.stats().accepted,
        missing,
        balanced: gateway.ledger.sumOfAllBalances() === 0,
        invariantViolations: violations.length,
      },
    }
    await options.inspect?.({ gateway, answeredSales, guests: records })
    return { ...summary, checks: portalLoadChecks(summary) }
  } finally {
    for (const guest of guests) guest.close()
    await Promise.all(fleet.map((k) => k.close()))
    await gateway.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The scenario's checks: correctness first, then the rates against the offered rate and the baseline of the same run. */
export function portalLoadChecks(s: Omit<PortalLoadSummary, 'checks'>): BenchCheck[] {
  const sent = s.baseline.sent + s.withPortal.sent
  const unanswered = s.baseline.unanswered + s.withPortal.unanswered
  const refused = s.baseline.refused + s.withPortal.refused
  const notOk = (statuses: Record<string, number>) => Object.entries(statuses).reduce((sum, [status, n]) => (status === '200' ? sum : sum + n), 0)
  const nonOk = notOk(s.portalAlone.statuses) + notOk(s.portal.statuses)
  const share = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 1000) / 10 : 0)
  return [
    {
      name: 'every sale answered and booked once',
      kind: 'correctness',
      pass: unanswered === 0 && refused === 0 && s.ledger.missing === 0 && s.ledger.accepted === s.ledger.expectedAccepted,
      detail: `${sent} sent, ${unanswered} unanswered, ${refused} refused, ${s.ledger.missing} missing, ledger accepted ${s.ledger.accepted} of ${s.ledger.expectedAccepted}`,
    },
    {
      name: 'ledger balanced',
      kind: 'correctness',
      pass: s.ledger.balanced && s.ledger.invariantViolations === 0,
      detail: `balances sum to zero: ${s.ledger.balanced}, invariant violations ${s.ledger.invariantViolations}`,
    },
    {
      name: 'every portal request answered 200 with the guest\'s own data',
      kind: 'correctness',
      pass: nonOk === 0 && s.portal.foreignRecords === 0 && s.portal.finalViewMismatches === 0 && s.portal.polls > 0,
      detail: `${s.portalAlone.requests + s.portal.requests} requests, ${nonOk} not 200, ${s.portal.foreignRecords} foreign records, ${s.portal.finalViewMismatches} final views unlike the ledger`,
    },
    {
      name: `baseline reaches ${MIN_BASELINE_SHARE_OF_OFFERED * 100}% of the offered rate`,
      kind: 'rate',
      pass: s.baseline.achievedSalesPerSec >= MIN_BASELINE_SHARE_OF_OFFERED * s.targetSalesPerSec,
      detail: `${s.baseline.achievedSalesPerSec} of ${s.targetSalesPerSec} sales/s (${share(s.baseline.achievedSalesPerSec, s.targetSalesPerSec)}%)`,
    },
    {
      name: `under portal load ingest keeps ${MIN_RATE_SHARE_UNDER_PORTAL * 100}% of the baseline's rate`,
      kind: 'rate',
      pass: s.withPortal.achievedSalesPerSec >= MIN_RATE_SHARE_UNDER_PORTAL * s.baseline.achievedSalesPerSec,
      detail: `${s.withPortal.achievedSalesPerSec} against ${s.baseline.achievedSalesPerSec} sales/s (${share(s.withPortal.achievedSalesPerSec, s.baseline.achievedSalesPerSec)}%)`,
    },
    {
      name: 'portal p99 within the poll interval',
      kind: 'rate',
      pass: s.portal.latencyMs.p99 <= s.pollIntervalMs,
      detail: `p99 ${s.portal.latencyMs.p99} ms with the sales (${s.portalAlone.latencyMs.p99} ms alone), guests refresh every ${s.pollIntervalMs} ms`,
    },
    {
      name: `with the sales the portal keeps ${MIN_PORTAL_RATE_SHARE_UNDER_SALES * 100}% of its request rate alone`,
      kind: 'rate',
      pass: s.portal.requestsPerSec >= MIN_PORTAL_RATE_SHARE_UNDER_SALES * s.portalAlone.requestsPerSec,
      detail: `${s.portal.requestsPerSec} against ${s.portalAlone.requestsPerSec} requests/s (${share(s.portal.requestsPerSec, s.portalAlone.requestsPerSec)}%)`,
    },
  ]
}

/** The scenario's readable lines, then its checks as PASS/FAIL lines. */
export function portalLoadReport(s: PortalLoadSummary): string[] {
  const phase = (name: string, p: SalesPhase) =>
    `portal load, ${name}: offered ${p.offeredSalesPerSec} sales/s, achieved ${p.achievedSalesPerSec} sales/s ` +
    `(${p.answered} of ${p.sent} answered${p.answeredLate > 0 ? `, ${p.answeredLate} of them after the drain time` : ''}), latency ms p50 ${p.latencyMs.p50} p95 ${p.latencyMs.p95} p99 ${p.latencyMs.p99} max ${p.latencyMs.max}, ` +
    `pacer lag max ${p.maxSendLagMs} ms, event loop delay ms p99 ${p.eventLoopDelayMs.p99} max ${p.eventLoopDelayMs.max}, CPU ${p.cpuPercent}%`
  const portal = (name: string, p: PortalPhase) =>
    `portal load, ${name}: ${p.requests} requests (${p.requestsPerSec}/s), ` +
    `latency ms p50 ${p.latencyMs.p50} p95 ${p.latencyMs.p95} p99 ${p.latencyMs.p99} max ${p.latencyMs.max}, ` +
    `by status ${Object.entries(p.statuses).map(([status, n]) => `${status}: ${n}`).join(', ') || 'none'}` +
    (p.retriedAfterClose > 0 ? `, ${p.retriedAfterClose} sent again after a keep-alive close` : '')
  return [
    phase('sales alone (baseline)', s.baseline),
    portal(`${s.guests} guests alone (${s.portal.logins} logged in, refreshing every ${s.pollIntervalMs} ms)`, s.portalAlone),
    phase(`sales with ${s.guests} guests refreshing`, s.withPortal),
    portal('guests with the sales', s.portal),
    ...s.checks.map((c) => `${c.pass ? 'PASS' : 'FAIL'} ${c.name}: ${c.detail}`),
  ]
}
