// The fleet view of the gateway (contract C2): gateway.fleet.snapshot() gives
// the rows and totals that gateway/state publishes.
export { createFleetTracker, DEFAULT_FLEET_THRESHOLDS, shortDuration, type FleetKiosk, type FleetSnapshot, type FleetThresholds, type FleetTracker, type FleetTrackerOptions, type KioskStateOutcome } from './tracker.js'
