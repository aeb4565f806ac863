import t from 'tap'
import { parseJson } from './validate.js'
import { MAX_GATEWAY_STATE_PAYLOAD_BYTES, validateGatewayState, validateKioskState, type FleetRow, type GatewayState, type KioskState } from './messages.js'

const birth: KioskState = {
  kiosk: 'bar-1',
  status: 'online',
  at: 1_700_000_000_000,
  bdSeq: 4,
  version: '1.2.0',
  configVersion: 7,
  reader: { kind: 'serial', health: 'ok' },
  terminal: { kind: 'zvt', health: 'down', detail: 'no answer for 30 s' },
  outboxDepth: 3,
  offline: { sales: 2, cents: 900 },
  tapToAnswerMs: { count: 12, p50: 180, p99: 420, max: 500 },
  chain: { status: 'intact' },
}

t.test('a kiosk birth with bdSeq, devices, offline totals and tap-to-answer stats validates', async (t) => {
  t.same(validateKioskState(birth), { ok: true, value: birth })
  const failing = { ...birth, storage: { status: 'failed' as const, code: 'SQLITE_FULL', since: 1 } }
  t.same(validateKioskState(failing), { ok: true, value: failing }, 'a storage fault validates')
})

t.test('older kiosk states (reader as a string, no bdSeq) still validate', async (t) => {
  t.ok(validateKioskState({ kiosk: 'bar-1', status: 'lost', at: 1, reader: 'serial' }).ok)
})

t.test('kiosk states with wrong shapes are refused', async (t) => {
  const bad: Array<[string, unknown]> = [
    ['negative bdSeq', { ...birth, bdSeq: -1 }],
    ['fractional bdSeq', { ...birth, bdSeq: 1.5 }],
    ['unknown health', { ...birth, reader: { kind: 'serial', health: 'great' } }],
    ['terminal as string', { ...birth, terminal: 'zvt' }],
    ['extra key', { ...birth, extra: 1 }],
    ['offline totals without cents', { ...birth, offline: { sales: 1 } }],
    ['tap stats negative', { ...birth, tapToAnswerMs: { count: 1, p50: -1, p99: 1, max: 1 } }],
    ['storage with another status', { ...birth, storage: { status: 'ok', code: 'SQLITE_FULL', since: 1 } }],
    ['storage code over 64 characters', { ...birth, storage: { status: 'failed', code: 'X'.repeat(65), since: 1 } }],
    ['storage with an extra key', { ...birth, storage: { status: 'failed', code: 'SQLITE_FULL', since: 1, path: '/etc' } }],
    ['storage without since', { ...birth, storage: { status: 'failed', code: 'SQLITE_FULL' } }],
  ]
  for (const [name, value] of bad) t.notOk(validateKioskState(value).ok, name)
})

const row: FleetRow = {
  kiosk: 'bar-1',
  booth: 'Bar 1',
  status: 'lost',
  since: 1,
  lastSeenAt: 1,
  reader: { kind: 'serial', health: 'down' },
  outboxDepth: 37,
  salesPerMin: 4,
  refusalsPerMin: 12,
  offlineSales: 2,
  chain: 'intact',
  tapToAnswerMs: { p50: 100, p99: 300 },
  severity: 100,
  problems: ['lost 2 min ago', 'reader down'],
}

const gatewayState: GatewayState = {
  status: 'online',
  at: 2,
  version: '1.0.0',
  bdSeq: 3,
  startedAt: 1,
  counters: { connects: 4 },
  totals: {
    kiosksOnline: 0,
    kiosksTotal: 1,
    accepted: 10,
    rejected: 1,
    salesCents: 1000,
    topupsCents: 5000,
    offlineSales: 2,
    openDebtsCents: 0,
    alertsLastHour: 1,
    salesPerMin: 4,
    tapToAnswerP99Ms: 300,
  },
  fleet: [row, { kiosk: 'gate-2', booth: 'Gate 2', status: 'never_seen', salesPerMin: 0, refusalsPerMin: 0, offlineSales: 0, severity: 1, problems: [] }],
}

t.test('a gateway state with counters, totals and fleet validates; the bare older form too', async (t) => {
  t.same(validateGatewayState(gatewayState), { ok: true, value: gatewayState })
  t.ok(validateGatewayState({ status: 'offline', at: 5 }).ok)
})

t.test('gateway states with wrong shapes are refused', async (t) => {
  const bad: Array<[string, unknown]> = [
    ['unknown row status', { ...gatewayState, fleet: [{ ...row, status: 'gone' }] }],
    ['row without severity', { ...gatewayState, fleet: [{ ...row, severity: undefined }] }],
    ['fractional total', { ...gatewayState, totals: { ...gatewayState.totals, salesPerMin: 1.5 } }],
    ['missing total', { ...gatewayState, totals: { kiosksOnline: 1 } }],
    ['extra row key', { ...gatewayState, fleet: [{ ...row, x: 1 }] }],
  ]
  for (const [name, value] of bad) t.notOk(validateGatewayState(value).ok, name)
})

t.test('a fleet of 1000 kiosks fits the gateway state payload limit', async (t) => {
  const fleet = Array.from({ length: 1000 }, (_, i) => ({ ...row, kiosk: `kiosk-${i}` }))
  const payload = JSON.stringify({ ...gatewayState, fleet })
  t.ok(parseJson(payload, validateGatewayState, MAX_GATEWAY_STATE_PAYLOAD_BYTES).ok)
})
