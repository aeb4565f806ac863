// The fleet as operators see it (contract C2): kiosk states from the broker
// (births, republished states, wills, clean stops) and ingest's observations
// of every answer, turned into FleetRows sorted worst first, with totals.
// Pure: the clock, the registry's kiosk list and the open debts are handed in;
// nothing here does I/O, so the rules are tested with a fake clock.
//
// Sparkplug-style deaths: a `lost` (or `offline`) whose bdSeq is lower than the
// latest birth's belongs to an older connection noticed late, after the kiosk
// came back: it is ignored, as is a birth whose bdSeq goes back while the kiosk
// is online. A birth after a death is taken whatever its bdSeq (a replaced Pi
// starts again from 0; the broker has no stale births to deliver).
import type { BookedEvent, DeviceStatus, FleetRow, FleetTotals, KioskState } from '../../device-protocol/index.js'
import type { IngestObservation } from '../ingest.js'

export interface FleetKiosk {
  id: string
  booth: string
}

export interface FleetThresholds {
  /** An outbox this deep is a problem (the kiosk's answers are not coming back). */
  outboxDepth: number
  /** Refusals per minute at one kiosk that are worth a look. */
  refusalsPerMin: number
  /** Tap-to-answer p99 that guests feel. */
  tapToAnswerP99Ms: number
  /** An online kiosk that sent no state for this long is reported silent (it republishes every 10 s by default). */
  silentAfterMs: number
}

export const DEFAULT_FLEET_THRESHOLDS: FleetThresholds = { outboxDepth: 10, refusalsPerMin: 5, tapToAnswerP99Ms: 2_000, silentAfterMs: 60_000 }

export interface FleetTrackerOptions {
  now: () => number
  /** The registry's kiosks: each gets a row, `never_seen` until it reports. */
  kiosks: () => readonly FleetKiosk[]
  /** Cents of open debts (the ledger's); 0 without it. */
  openDebtsCents?: () => number
  thresholds?: Partial<FleetThresholds>
}

export interface FleetSnapshot {
  /** Worst first: severity descending, then kiosk id. */
  rows: FleetRow[]
  totals: FleetTotals
}

/** What became of a kiosk state handed to the tracker. */
export type KioskStateOutcome = 'applied' | 'stale' | 'ignored'

export interface FleetTracker {
  /** A validated state from the kiosk's own state topic (its will too). */
  kioskState(kioskId: string, state: KioskState): KioskStateOutcome
  /** Whether kioskState would discard this state as stale (the broker then keeps it from replacing the retained state). */
  isStale(kioskId: string, state: KioskState): boolean
  /** Ingest's observation of an answer (IngestDeps.observe); other kinds are ignored. */
  observe(observation: IngestObservation): void
  /** A booked event (money totals since the gateway started). */
  booked(event: BookedEvent): void
  /** An alert was published. */
  alert(): void
  snapshot(): FleetSnapshot
  /** Told when a kiosk's lifecycle status changes (online, offline, lost). */
  onStatusChange(listener: (kioskId: string, status: KioskState['status']) => void): void
}

interface KioskEntry {
  state?: KioskState
  status?: KioskState['status']
  /** The bdSeq of the latest birth taken. */
  birthBdSeq?: number
  since?: number
  lastSeenAt?: number
  lastStateAt?: number
  previousOutboxDepth?: number
  sales: number[]
  refusals: number[]
}

const MINUTE_MS = 60_000
/** A locked kiosk's weight: above healthy (0) and never connected (5), below stopped (10) and lost (100). */
const LOCKED_SEVERITY = 8
const HOUR_MS = 3_600_000

/** Cents owed by wristbands with an open debt (a wristband counts once, at how far it is below zero now). */
export function openDebtCents(debts: readonly { uid: string; balanceNow: number; open: boolean }[]): number {
  const owed = new Map<string, number>()
  for (const debt of debts) if (debt.open) owed.set(debt.uid, Math.max(0, -debt.balanceNow))
  let cents = 0
  for (const value of owed.values()) cents += value
  return cents
}

/** "12 s", "3 min", "2 h": how long ago, short. */
export function shortDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min`
  return `${Math.floor(s / 3600)} h`
}

/** Older kiosks send the reader as "kind:connected" / "kind:disconnected". */
function readerStatus(reader: KioskState['reader']): DeviceStatus | undefined {
  if (reader === undefined || typeof reader === 'object') return reader
  const [kind, link] = reader.split(':')
  return { kind: (kind || 'unknown').slice(0, 64), health: link === 'connected' ? 'ok' : link === 'disconnected' ? 'down' : 'unknown' }
}

function pruneBefore(times: number[], cutoff: number): void {
  let drop = 0
  while (drop < times.length && times[drop]! <= cutoff) drop++
  if (drop > 0) times.splice(0, drop)
}

export function createFleetTracker(options: FleetTrackerOptions): FleetTracker {
  const { now } = options
  const limits: FleetThresholds = { ...DEFAULT_FLEET_THRESHOLDS, ...options.thresholds }
  const entries = new Map<string, KioskEntry>()
  const listeners: Array<(kioskId: string, status: KioskState['status']) => void> = []
  const totals = { accepted: 0, rejected: 0, salesCents: 0, topupsCents: 0 }
  const alerts: number[] = []

  function entry(kioskId: string): KioskEntry {
    let e = entries.get(kioskId)
    if (!e) {
      e = { sales: [], refusals: [] }
      entries.set(kioskId, e)
    }
    return e
  }

  /** Whether a state of this bdSeq belongs to an older connection than the latest birth. */
  function isStale(e: KioskEntry, state: KioskState): boolean {
    if (state.bdSeq === undefined || e.birthBdSeq === undefined) return false
    if (state.status === 'online') return e.status === 'online' && state.bdSeq < e.birthBdSeq
    return state.bdSeq < e.birthBdSeq
  }

  function kioskState(kioskId: string, state: KioskState): KioskStateOutcome {
    if (state.kiosk !== kioskId) return 'ignored'
    const e = entry(kioskId)
    if (isStale(e, state)) return 'stale'
    const at = now()
    const changed = e.status !== state.status
    if (state.status === 'online') {
      if (state.bdSeq !== undefined) e.birthBdSeq = state.bdSeq
      e.lastSeenAt = at
      e.lastStateAt = at
      e.previousOutboxDepth = e.status === 'online' ? e.state?.outboxDepth : undefined
    } else if (state.status === 'offline') {
      // A clean stop is the kiosk itself speaking; a will is the broker speaking for it.
      e.lastSeenAt = at
    }
    // A death carries no details of its own: keep what the last birth said, for the operator.
    e.state = state.status === 'online' || e.state === undefined ? state : { ...e.state, status: state.status, at: state.at, ...(state.bdSeq === undefined ? {} : { bdSeq: state.bdSeq }) }
    e.status = state.status
    if (changed) {
      e.since = at
      for (const listener of listeners) {
        try {
          listener(kioskId, state.status)
        } catch {
          // A listener's failure is its own; the fleet view goes on.
        }
      }
    }
    return 'applied'
  }

  function observe(observation: IngestObservation): void {
    if (observation.kind !== 'answered' || observation.replay) return
    const at = now()
    const e = entry(observation.kioskId)
    e.lastSeenAt = at
    if (observation.status === 'accepted') {
      totals.accepted++
      if (observation.txType === 'sale') e.sales.push(at)
    } else {
      totals.rejected++
      e.refusals.push(at)
    }
    pruneBefore(e.sales, at - MINUTE_MS)
    pruneBefore(e.refusals, at - MINUTE_MS)
  }

  function booked(event: BookedEvent): void {
    if (event.status !== 'accepted') return
    if (event.type === 'sale') totals.salesCents += event.amount
    else if (event.type === 'return') totals.salesCents -= event.amount
    else if (event.type.startsWith('topup')) totals.topupsCents += event.amount
  }

  function row(kiosk: FleetKiosk, at: number): FleetRow {
    const e = entries.get(kiosk.id)
    if (e) {
      pruneBefore(e.sales, at - MINUTE_MS)
      pruneBefore(e.refusals, at - MINUTE_MS)
    }
    const state = e?.state
    const status: FleetRow['status'] = e?.status ?? 'never_seen'
    const r: FleetRow = {
      kiosk: kiosk.id,
      booth: kiosk.booth.slice(0, 64),
      status,
      salesPerMin: e?.sales.length ?? 0,
      refusalsPerMin: e?.refusals.length ?? 0,
      offlineSales: state?.offline?.sales ?? 0,
      severity: 0,
      problems: [],
    }
    if (e?.since !== undefined) r.since = e.since
    if (e?.lastSeenAt !== undefined) r.lastSeenAt = e.lastSeenAt
    if (state?.version !== undefined) r.version = state.version
    if (state?.configVersion !== undefined) r.configVersion = state.configVersion
    const reader = readerStatus(state?.reader)
    if (reader) r.reader = reader
    if (state?.terminal) r.terminal = state.terminal
    if (state?.outboxDepth !== undefined) r.outboxDepth = state.outboxDepth
    if (state?.chain) r.chain = state.chain.status
    if (state?.tapToAnswerMs && state.tapToAnswerMs.count > 0) r.tapToAnswerMs = { p50: state.tapToAnswerMs.p50, p99: state.tapToAnswerMs.p99 }
    if (state?.lock) r.lock = state.lock

    const problems: Array<[number, string]> = []
    const since = e?.since ?? at
    if (status === 'never_seen') problems.push([5, 'never connected'])
    else if (status === 'lost') problems.push([100, `lost ${shortDuration(at - since)} ago`])
    else if (status === 'offline') problems.push([10, `stopped ${shortDuration(at - since)} ago`])
    else if (e?.lastStateAt !== undefined && at - e.lastStateAt >= limits.silentAfterMs) problems.push([60, `silent for ${shortDuration(at - e.lastStateAt)}`])
    // A lock is an operator's choice, not a fault: above a healthy kiosk (the till sells nothing), below a stopped or lost one.
    // A lost or stopped kiosk stays locked (the lock survives a restart), so its last word on it still holds.
    if (r.lock) problems.push([LOCKED_SEVERITY, `locked by ${r.lock.by}${r.lock.reason ? ` (${r.lock.reason})` : ''}`])
    if (r.chain === 'recovery_required') problems.push([90, 'chain needs recovery'])
    // The till refuses every sale until its disk takes writes again: as bad as a dead reader, worse than a slow gateway.
    if (status === 'online' && state?.storage) problems.push([80, `storage failing (${state.storage.code}): sales refused`])
    else if (r.chain === 'not_enrolled') problems.push([90, 'not enrolled'])
    // What a lost or stopped kiosk last said of its devices is history, not news.
    if (status === 'online') {
      for (const [name, device, down, degraded] of [
        ['reader', r.reader, 50, 20],
        ['terminal', r.terminal, 40, 15],
      ] as const) {
        if (device?.health === 'down') problems.push([down, `${name} down`])
        else if (device?.health === 'degraded') problems.push([degraded, `${name} degraded`])
      }
    }
    const depth = r.outboxDepth ?? 0
    if (depth >= limits.outboxDepth) {
      const growing = e?.previousOutboxDepth !== undefined && depth > e.previousOutboxDepth
      problems.push(growing ? [30, `outbox ${depth} and growing`] : [15, `outbox ${depth}`])
    }
    if (r.refusalsPerMin >= limits.refusalsPerMin) problems.push([20, `refusals ${r.refusalsPerMin}/min`])
    if (status === 'online' && r.tapToAnswerMs && r.tapToAnswerMs.p99 >= limits.tapToAnswerP99Ms) problems.push([10, `slow answers (p99 ${(r.tapToAnswerMs.p99 / 1000).toFixed(1)} s)`])
    if (r.offlineSales > 0) problems.push([10, `${r.offlineSales} offline sales not answered`])
    r.severity = problems.reduce((sum, [weight]) => sum + weight, 0)
    r.problems = problems.map(([, text]) => text.slice(0, 128))
    return r
  }

  function snapshot(): FleetSnapshot {
    const at = now()
    pruneBefore(alerts, at - HOUR_MS)
    const rows = options.kiosks().map((k) => row(k, at))
    rows.sort((a, b) => b.severity - a.severity || (a.kiosk < b.kiosk ? -1 : a.kiosk > b.kiosk ? 1 : 0))
    let openDebtsCents = 0
    try {
      openDebtsCents = Math.max(0, Math.trunc(options.openDebtsCents?.() ?? 0))
    } catch {
      // The ledger could not say: the totals go out without it rather than not at all.
    }
    return {
      rows,
      totals: {
        kiosksOnline: rows.filter((r) => r.status === 'online').length,
        kiosksTotal: rows.length,
        accepted: totals.accepted,
        rejected: totals.rejected,
        salesCents: totals.salesCents,
        topupsCents: totals.topupsCents,
        offlineSales: rows.reduce((sum, r) => sum + r.offlineSales, 0),
        openDebtsCents,
        alertsLastHour: alerts.length,
        salesPerMin: rows.reduce((sum, r) => sum + r.salesPerMin, 0),
        tapToAnswerP99Ms: rows.reduce((max, r) => (r.status === 'online' && r.tapToAnswerMs ? Math.max(max, r.tapToAnswerMs.p99) : max), 0),
      },
    }
  }

  return {
    kioskState,
    isStale: (kioskId, state) => {
      const e = entries.get(kioskId)
      return e !== undefined && state.kiosk === kioskId && isStale(e, state)
    },
    observe,
    booked,
    alert: () => {
      const at = now()
      alerts.push(at)
      pruneBefore(alerts, at - HOUR_MS)
    },
    snapshot,
    onStatusChange: (listener) => void listeners.push(listener),
  }
}
