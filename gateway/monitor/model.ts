// The monitor's picture of the gateway, as a pure reducer: the latest gateway
// state (totals and fleet rows as published), the latest alerts, payloads that
// failed their schema, and the gaps: from when to when the gateway could not be
// seen (the monitor's connection dropped, the gateway said it went offline, or
// its state stopped coming). No I/O and no clock of its own: every event
// carries the time it happened.
import type { AlertEvent, GatewayState } from './contract.js'

export interface MonitorModelOptions {
  /** Alerts kept, newest first. */
  alertCapacity: number
  /** A gateway whose state is older than this counts as unreachable (it publishes every few seconds). */
  staleAfterMs: number
}

export const DEFAULT_MONITOR_MODEL_OPTIONS: MonitorModelOptions = { alertCapacity: 50, staleAfterMs: 20_000 }

export type UnreachableReason = 'connection_lost' | 'gateway_offline' | 'state_stale'

export interface MonitorGap {
  from: number
  to: number
}

export interface MonitorState {
  readonly options: MonitorModelOptions
  readonly startedAt: number
  readonly connected: boolean
  /** When the current connection (or the last one) was made. */
  readonly connectedAt: number | null
  readonly disconnectedAt: number | null
  /** Why the last connection attempt failed (unreachable, a certificate refused); cleared on connecting. */
  readonly lastConnectError: { error: string; at: number } | null
  /** Connections made, the first included. */
  readonly connections: number
  /** The latest valid gateway state and when it arrived. */
  readonly gateway: GatewayState | null
  readonly gatewayReceivedAt: number | null
  /**
   * The latest fleet rows and totals the gateway published, and when they arrived: kept while the gateway is
   * gone (its `offline` state carries none), so that the operator still sees the last picture.
   */
  readonly lastFleet: { fleet: NonNullable<GatewayState['fleet']>; totals: GatewayState['totals']; receivedAt: number } | null
  /** Whether a gateway state arrived on the current connection (the retained one comes first). */
  readonly stateOnThisConnection: boolean
  /** Newest first, at most options.alertCapacity. */
  readonly alerts: readonly AlertEvent[]
  readonly alertsReceived: number
  readonly invalidPayloads: { count: number; last: { topic: string; error: string; at: number } | null }
  /** Whether the gateway was ever seen up; before that there is no gap, only waiting. */
  readonly everUp: boolean
  /** While the gateway cannot be seen: since when and why; null while it is up (or never was). */
  readonly unreachable: { since: number; reason: UnreachableReason } | null
  readonly lastGap: MonitorGap | null
  readonly gaps: number
}

export type MonitorEvent =
  | { kind: 'connected'; at: number }
  | { kind: 'disconnected'; at: number }
  /** A connection attempt failed; the source tries again. */
  | { kind: 'connect_failed'; error: string; at: number }
  | { kind: 'gateway_state'; state: GatewayState; at: number }
  | { kind: 'alert'; alert: AlertEvent; at: number }
  | { kind: 'invalid_payload'; topic: string; error: string; at: number }
  /** Time passes: a state that stopped coming opens a gap. */
  | { kind: 'tick'; at: number }

export function initialMonitorState(startedAt: number, options: Partial<MonitorModelOptions> = {}): MonitorState {
  return {
    options: { ...DEFAULT_MONITOR_MODEL_OPTIONS, ...options },
    startedAt,
    connected: false,
    connectedAt: null,
    disconnectedAt: null,
    lastConnectError: null,
    connections: 0,
    gateway: null,
    gatewayReceivedAt: null,
    lastFleet: null,
    stateOnThisConnection: false,
    alerts: [],
    alertsReceived: 0,
    invalidPayloads: { count: 0, last: null },
    everUp: false,
    unreachable: null,
    lastGap: null,
    gaps: 0,
  }
}

/** Why the gateway cannot be seen at `at`, or null when it can. */
function downReason(s: MonitorState, at: number): UnreachableReason | null {
  if (!s.connected) return 'connection_lost'
  if (!s.stateOnThisConnection || s.gateway === null) return 'connection_lost'
  if (s.gateway.status !== 'online') return 'gateway_offline'
  if (s.gatewayReceivedAt !== null && at - s.gatewayReceivedAt > s.options.staleAfterMs) return 'state_stale'
  return null
}

/** The state after `event`. */
export function monitorReduce(state: MonitorState, event: MonitorEvent): MonitorState {
  const applied = apply(state, event)
  return withGaps(state, applied, event.at)
}

function apply(s: MonitorState, e: MonitorEvent): MonitorState {
  switch (e.kind) {
    case 'connected':
      return { ...s, connected: true, connectedAt: e.at, connections: s.connections + 1, stateOnThisConnection: false, lastConnectError: null }
    case 'disconnected':
      return s.connected ? { ...s, connected: false, disconnectedAt: e.at } : s
    case 'connect_failed':
      return { ...s, lastConnectError: { error: e.error, at: e.at } }
    case 'gateway_state':
      return {
        ...s,
        gateway: e.state,
        gatewayReceivedAt: e.at,
        stateOnThisConnection: true,
        lastFleet: e.state.fleet === undefined ? s.lastFleet : { fleet: e.state.fleet, totals: e.state.totals, receivedAt: e.at },
      }
    case 'alert':
      return { ...s, alerts: [e.alert, ...s.alerts].slice(0, s.options.alertCapacity), alertsReceived: s.alertsReceived + 1 }
    case 'invalid_payload':
      return { ...s, invalidPayloads: { count: s.invalidPayloads.count + 1, last: { topic: e.topic, error: e.error, at: e.at } } }
    case 'tick':
      return s
  }
}

function withGaps(before: MonitorState, after: MonitorState, at: number): MonitorState {
  const reason = downReason(after, at)
  if (reason === null) {
    if (after.unreachable === null) return after.everUp ? after : { ...after, everUp: true }
    // Back: the gap closes when a fresh state of an online gateway arrives.
    return { ...after, everUp: true, unreachable: null, lastGap: { from: after.unreachable.since, to: at }, gaps: after.gaps + 1 }
  }
  if (!after.everUp) return after
  if (after.unreachable !== null) return after
  // Gone: a gateway whose state stopped coming has been silent since its last state, not since the monitor noticed.
  const since = reason === 'state_stale' && before.gatewayReceivedAt !== null ? before.gatewayReceivedAt : at
  return { ...after, unreachable: { since, reason } }
}
