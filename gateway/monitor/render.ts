// The monitor's picture as text (the live screen and --once) and as one JSON
// object (--once --json). Pure: the time and the terminal's size come in. The
// fleet rows are shown exactly in the order the gateway published them (worst
// first); the monitor never re-sorts or judges them.
import Table from 'cli-table3'
import { euros } from '../admin-command.js'
import type { FleetRow, GatewayState } from './contract.js'
import type { MonitorState, UnreachableReason } from './model.js'

export interface RenderContext {
  now: number
  /** Where and as whom the monitor connects (never the token). */
  url: string
  operator: string
  /** Terminal columns; every line stays within max(width, MIN_SCREEN_WIDTH). */
  width: number
  /** Fleet rows shown at most; the rest (the healthiest, since rows come worst first) are summed up in one line. */
  maxFleetRows?: number
  /** Alerts shown at most. */
  maxAlerts?: number
  /** Wall-clock time of day of a timestamp; local HH:MM:SS by default. */
  timeOfDay?: (ms: number) => string
}

/** Narrowest screen the table is laid out for: the fixed columns plus a problems column of 20. */
export const MIN_SCREEN_WIDTH = 104

const FIXED_COLUMNS: ReadonlyArray<{ head: string; width: number; align?: 'right' }> = [
  { head: 'kiosk', width: 14 },
  { head: 'booth', width: 10 },
  { head: 'state', width: 10 },
  { head: 'seen', width: 6, align: 'right' },
  { head: 'reader', width: 11 },
  { head: 'terminal', width: 11 },
  { head: 'outbox', width: 6, align: 'right' },
  { head: 'sales/m', width: 7, align: 'right' },
  { head: 'ref/m', width: 5, align: 'right' },
  { head: 'offl', width: 4, align: 'right' },
]
const MIN_PROBLEMS_WIDTH = MIN_SCREEN_WIDTH - FIXED_COLUMNS.reduce((sum, c) => sum + c.width + 1, 0)

/** Borderless: columns separated by one space, so a row is exactly as wide as its columns. */
const PLAIN_CHARS = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
  bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: ' ',
}

/** A duration for people: 5 s, 3 min, 2 h, 4 d. */
export function shortDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min`
  if (s < 86_400) return `${Math.floor(s / 3600)} h`
  return `${Math.floor(s / 86_400)} d`
}

/** How long ago, for the "seen" column: now, 12s, 3m, 2h, 4d. */
function ago(now: number, at: number | undefined): string {
  if (at === undefined) return '-'
  const s = Math.max(0, Math.floor((now - at) / 1000))
  if (s < 2) return 'now'
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m`
  if (s < 86_400) return `${Math.floor(s / 3600)}h`
  return `${Math.floor(s / 86_400)}d`
}

function localTimeOfDay(ms: number): string {
  const d = new Date(ms)
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':')
}

const device = (d: FleetRow['reader']) => (d === undefined ? '-' : d.health === 'ok' ? d.kind : `${d.kind} ${d.health}`)

function fleetCells(row: FleetRow, now: number): string[] {
  return [
    row.kiosk,
    row.booth,
    row.status === 'never_seen' ? 'never seen' : row.status,
    row.status === 'never_seen' ? '-' : ago(now, row.lastSeenAt),
    device(row.reader),
    device(row.terminal),
    row.outboxDepth === undefined ? '-' : String(row.outboxDepth),
    String(row.salesPerMin),
    String(row.refusalsPerMin),
    String(row.offlineSales),
    row.problems.join('; '),
  ]
}

/** The fleet table, rows in the given order, every line at most `width` wide (never below MIN_SCREEN_WIDTH). */
export function renderFleetTable(rows: readonly FleetRow[], now: number, width: number): string {
  const problemsWidth = Math.max(MIN_PROBLEMS_WIDTH, width - FIXED_COLUMNS.reduce((sum, c) => sum + c.width + 1, 0))
  const table = new Table({
    head: [...FIXED_COLUMNS.map((c) => c.head), 'problems'],
    colWidths: [...FIXED_COLUMNS.map((c) => c.width), problemsWidth],
    colAligns: [...FIXED_COLUMNS.map((c) => c.align ?? 'left'), 'left'],
    wordWrap: false,
    truncate: '…',
    chars: PLAIN_CHARS,
    style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [], compact: true },
  })
  for (const row of rows) table.push(fleetCells(row, now))
  // cli-table3 pads the last column too: trailing spaces carry nothing.
  return table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
}

const REASON_TEXT: Record<UnreachableReason, string> = {
  connection_lost: 'no connection to the broker; reconnecting',
  gateway_offline: 'the gateway said it stopped',
  state_stale: 'no gateway state arrives',
}

function statusLines(state: MonitorState, ctx: RenderContext, at: (ms: number) => string): string[] {
  const lines: string[] = []
  const g = state.gateway
  if (state.unreachable !== null) {
    const u = state.unreachable
    const picture = state.lastFleet === null ? '' : `; the table below is from ${at(state.lastFleet.receivedAt)}`
    lines.push(`GATEWAY UNREACHABLE since ${at(u.since)} (${shortDuration(ctx.now - u.since)}): ${REASON_TEXT[u.reason]}${picture}`)
  } else if (!state.everUp) {
    lines.push(state.connected ? `connected, waiting for the gateway's state since ${at(state.connectedAt ?? state.startedAt)}` : `connecting to ${ctx.url} since ${at(state.startedAt)} ...`)
  } else if (g !== null) {
    const facts = [g.version === undefined ? null : `version ${g.version}`, g.bdSeq === undefined ? null : `bdSeq ${g.bdSeq}`, g.startedAt === undefined ? null : `up since ${at(g.startedAt)}`].filter((f) => f !== null)
    lines.push(`gateway ${g.status}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}, state of ${at(g.at)}`)
  }
  if (!state.connected && state.lastConnectError !== null) lines.push(`last connection attempt at ${at(state.lastConnectError.at)}: ${state.lastConnectError.error}`)
  if (state.lastGap !== null) lines.push(`last gap: ${at(state.lastGap.from)} to ${at(state.lastGap.to)} (${shortDuration(state.lastGap.to - state.lastGap.from)}); gaps since the monitor started: ${state.gaps}`)
  return lines
}

/** The fleet rows and totals to show: the gateway's latest, or while it is unreachable the last it published. */
function shownFleet(state: MonitorState): Pick<GatewayState, 'fleet' | 'totals'> {
  if (state.gateway?.fleet !== undefined) return state.gateway
  return state.unreachable !== null && state.lastFleet !== null ? state.lastFleet : {}
}

function totalsLines(state: MonitorState): string[] {
  const t = shownFleet(state).totals
  if (t === undefined) return []
  return [
    `kiosks online ${t.kiosksOnline}/${t.kiosksTotal}  accepted ${t.accepted}  rejected ${t.rejected}  sales ${euros(t.salesCents)}  top-ups ${euros(t.topupsCents)}  open debts ${euros(t.openDebtsCents)}`,
    `sales/min ${t.salesPerMin}  tap-to-answer p99 ${t.tapToAnswerP99Ms} ms  offline sales ${t.offlineSales}  alerts in the last hour ${t.alertsLastHour}`,
  ]
}

/** Cuts a line to the screen's width. */
function fit(line: string, width: number): string {
  return line.length <= width ? line : `${line.slice(0, width - 1)}…`
}

/** The whole screen: header, the gateway's status and gaps, totals, the fleet, the latest alerts. */
export function renderScreen(state: MonitorState, ctx: RenderContext): string {
  const width = Math.max(ctx.width, MIN_SCREEN_WIDTH)
  const at = ctx.timeOfDay ?? localTimeOfDay
  const lines: string[] = [`wristpay-monitor  ${ctx.url} as ${ctx.operator}  ${at(ctx.now)}`, ...statusLines(state, ctx, at)]
  lines.push(...totalsLines(state))
  const fleet = shownFleet(state).fleet
  if (fleet !== undefined) {
    const shown = ctx.maxFleetRows === undefined ? fleet : fleet.slice(0, Math.max(0, ctx.maxFleetRows))
    lines.push('', renderFleetTable(shown, ctx.now, width))
    const hidden = fleet.slice(shown.length)
    if (hidden.length > 0) {
      const withProblems = hidden.filter((r) => r.severity > 0).length
      lines.push(`... and ${hidden.length} more kiosks (${withProblems === 0 ? 'all fine' : `${withProblems} with problems`}): enlarge the window to see them`)
    }
  } else if (state.gateway !== null && state.unreachable === null) {
    lines.push('', 'the gateway publishes no fleet rows (an older gateway?)')
  }
  const alerts = state.alerts.slice(0, ctx.maxAlerts ?? 8)
  lines.push('', alerts.length === 0 ? 'alerts: none since the monitor started' : `alerts (latest first, ${state.alertsReceived} since the monitor started):`)
  for (const a of alerts) lines.push(`  ${at(a.at)}  ${a.kind}${a.kiosk === undefined ? '' : `  ${a.kiosk}`}  ${a.message.replace(/\s+/g, ' ')}`)
  if (state.invalidPayloads.count > 0) {
    const last = state.invalidPayloads.last!
    lines.push(`invalid payloads ignored: ${state.invalidPayloads.count} (last on ${last.topic} at ${at(last.at)}: ${last.error})`)
  }
  return lines.map((line) => (line.includes('\n') ? line.split('\n').map((l) => fit(l, width)).join('\n') : fit(line, width))).join('\n')
}

/** What --once --json prints: the gateway's state as published, the latest alerts, and the monitor's connection facts. */
export interface MonitorSnapshot {
  gateway: { status: 'online' | 'offline'; at: number; version?: string; bdSeq?: number; startedAt?: number; counters?: Record<string, number> } | null
  totals: NonNullable<MonitorState['gateway']>['totals'] | null
  fleet: FleetRow[]
  alerts: MonitorState['alerts']
  monitor: {
    url: string
    operator: string
    at: number
    connected: boolean
    connectedAt: number | null
    connections: number
    stateReceivedAt: number | null
    unreachable: MonitorState['unreachable']
    lastGap: MonitorState['lastGap']
    gaps: number
    invalidPayloads: MonitorState['invalidPayloads']
  }
}

export function monitorSnapshot(state: MonitorState, ctx: Pick<RenderContext, 'now' | 'url' | 'operator'>): MonitorSnapshot {
  const g = state.gateway
  return {
    gateway:
      g === null
        ? null
        : {
            status: g.status,
            at: g.at,
            ...(g.version === undefined ? {} : { version: g.version }),
            ...(g.bdSeq === undefined ? {} : { bdSeq: g.bdSeq }),
            ...(g.startedAt === undefined ? {} : { startedAt: g.startedAt }),
            ...(g.counters === undefined ? {} : { counters: g.counters }),
          },
    totals: g?.totals ?? null,
    fleet: g?.fleet ?? [],
    alerts: state.alerts,
    monitor: {
      url: ctx.url,
      operator: ctx.operator,
      at: ctx.now,
      connected: state.connected,
      connectedAt: state.connectedAt,
      connections: state.connections,
      stateReceivedAt: state.gatewayReceivedAt,
      unreachable: state.unreachable,
      lastGap: state.lastGap,
      gaps: state.gaps,
      invalidPayloads: state.invalidPayloads,
    },
  }
}
