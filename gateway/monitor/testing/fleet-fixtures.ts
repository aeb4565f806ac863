// Gateway states as contract C2 describes them, for the monitor's tests: a
// fleet of any size with some kiosks in trouble, sorted worst first as the
// gateway publishes it.
import type { FleetRow, GatewayState, Totals } from '../contract.js'

export const FIXTURE_NOW = Date.UTC(2026, 6, 18, 22, 30, 0)

/** Row i of a fleet: every 10th lost, every 15th with its reader down, every 25th with a growing outbox, the rest fine. */
export function fleetRow(i: number, now = FIXTURE_NOW): FleetRow {
  const kiosk = `kiosk-${String(i).padStart(3, '0')}`
  const base: FleetRow = {
    kiosk,
    booth: `booth-${i % 12}`,
    status: 'online',
    since: now - 3_600_000,
    lastSeenAt: now - 2_000,
    version: '0.1.0',
    configVersion: 7,
    reader: { kind: 'serial', health: 'ok' },
    terminal: { kind: 'zvt', health: 'ok' },
    outboxDepth: 0,
    salesPerMin: i % 7,
    refusalsPerMin: 0,
    offlineSales: 0,
    severity: 0,
    problems: [],
  }
  if (i % 10 === 0) return { ...base, status: 'lost', since: now - 120_000, lastSeenAt: now - 125_000, salesPerMin: 0, offlineSales: 4, severity: 30, problems: ['lost 2 min ago'] }
  if (i % 15 === 0) return { ...base, reader: { kind: 'serial', health: 'down', detail: 'no answer for 30 s' }, severity: 20, problems: ['reader down'] }
  if (i % 25 === 0) return { ...base, outboxDepth: 37, severity: 10, problems: ['outbox 37 and growing'] }
  return base
}

/** The gateway's order: severity descending, then kiosk id. */
export function worstFirst(rows: FleetRow[]): FleetRow[] {
  return [...rows].sort((a, b) => b.severity - a.severity || (a.kiosk < b.kiosk ? -1 : a.kiosk > b.kiosk ? 1 : 0))
}

export function fixtureTotals(fleet: FleetRow[]): Totals {
  return {
    kiosksOnline: fleet.filter((r) => r.status === 'online').length,
    kiosksTotal: fleet.length,
    accepted: 12_345,
    rejected: 67,
    salesCents: 9_876_550,
    topupsCents: 12_000_000,
    offlineSales: fleet.reduce((sum, r) => sum + r.offlineSales, 0),
    openDebtsCents: 4_500,
    alertsLastHour: 3,
    salesPerMin: fleet.reduce((sum, r) => sum + r.salesPerMin, 0),
    tapToAnswerP99Ms: 180,
  }
}

export function fixtureGatewayState(kiosks: number, now = FIXTURE_NOW): GatewayState {
  const fleet = worstFirst(Array.from({ length: kiosks }, (_, i) => fleetRow(i + 1, now)))
  return { status: 'online', at: now, version: '0.1.0', bdSeq: 3, startedAt: now - 7_200_000, totals: fixtureTotals(fleet), fleet }
}
