// The fleet view of the gateway (contract C2): gateway.fleet.snapshot() gives
// the rows and totals that gateway/state publishes.
export { createFleetTracker, DEFAULT_FLEET_THRESHOLDS, openDebtCents, shortDuration, type FleetKiosk, type FleetSnapshot, type FleetThresholds, type FleetTracker, type FleetTrackerOptions, type KioskStateOutcome } from './tracker.js'
export { takeGatewayBdSeq } from './birth-seq.js'

/** Default period of gateway/state (gateway config monitoring.stateIntervalMs). */
export const DEFAULT_GATEWAY_STATE_INTERVAL_MS = 5_000
/** After a kiosk's status changes, gateway/state goes out again within this (several changes, one message). */
export const STATUS_CHANGE_DEBOUNCE_MS = 250
