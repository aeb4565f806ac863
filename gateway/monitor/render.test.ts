import t from 'tap'
import { initialMonitorState, monitorReduce, type MonitorEvent, type MonitorState } from './model.js'
import { MIN_SCREEN_WIDTH, monitorSnapshot, renderFleetTable, renderScreen, shortDuration } from './render.js'
import { screenForTerminal } from './live.js'
import { FIXTURE_NOW, fixtureGatewayState, fleetRow } from './testing/fleet-fixtures.js'
import { validateGatewayState } from './contract.js'
import { createFleetTracker } from '../fleet/tracker.js'

const utc = (ms: number) => new Date(ms).toISOString().slice(11, 19)
const CTX = { now: FIXTURE_NOW, url: 'mqtt://127.0.0.1:1883', operator: 'ops', timeOfDay: utc }

function stateWith(events: MonitorEvent[]): MonitorState {
  return events.reduce(monitorReduce, initialMonitorState(FIXTURE_NOW - 60_000))
}
const upWith = (kiosks: number) => stateWith([{ kind: 'connected', at: FIXTURE_NOW - 50_000 }, { kind: 'gateway_state', state: fixtureGatewayState(kiosks), at: FIXTURE_NOW - 1_000 }])

/** The kiosk ids of a rendered table, top to bottom. */
const kioskColumn = (text: string) => text.split('\n').flatMap((line) => /^(kiosk-\d{3})\s/.exec(line)?.[1] ?? [])

t.test('a fleet of 150 kiosks renders every row, in the published order (worst first), within the width', async (t) => {
  const state = upWith(150)
  const fleet = state.gateway!.fleet!
  t.equal(fleet[0]!.status, 'lost', 'the fixture puts the lost kiosks first')
  for (const width of [MIN_SCREEN_WIDTH, 140, 220]) {
    const screen = renderScreen(state, { ...CTX, width })
    t.same(kioskColumn(screen), fleet.map((r) => r.kiosk), `width ${width}: every kiosk once, in the gateway's order`)
    const widest = Math.max(...screen.split('\n').map((l) => l.length))
    t.ok(widest <= width, `width ${width}: the widest line has ${widest} columns`)
  }
  const narrow = renderScreen(state, { ...CTX, width: 60 })
  t.ok(Math.max(...narrow.split('\n').map((l) => l.length)) <= MIN_SCREEN_WIDTH, 'a narrow terminal gets the narrowest layout, no wider')
})

t.test('a row shows its kiosk, booth, state, age, devices, outbox, rates, offline sales and problems', async (t) => {
  const lost = fleetRow(10)
  const readerDown = fleetRow(15)
  const table = renderFleetTable([lost, readerDown], FIXTURE_NOW, 140).split('\n')
  t.match(table[0], /^kiosk\s+booth\s+state\s+seen\s+reader\s+terminal\s+outbox\s+sales\/m\s+ref\/m\s+offl\s+problems$/)
  t.match(table[1], /^kiosk-010\s+booth-10\s+lost\s+2m\s+serial\s+zvt\s+0\s+0\s+0\s+4\s+lost 2 min ago$/)
  t.match(table[2], /^kiosk-015\s+booth-3\s+online\s+2s\s+serial down\s+zvt\s+0\s+1\s+0\s+0\s+reader down$/)
  const never = renderFleetTable([{ ...fleetRow(1), status: 'never_seen', lastSeenAt: undefined, reader: undefined, terminal: undefined, outboxDepth: undefined }], FIXTURE_NOW, 140).split('\n')
  t.match(never[1], /^kiosk-001\s+booth-1\s+never seen\s+-\s+-\s+-\s+-\s/)
})

t.test("a kiosk locked by an operator shows who locked it and why among its problems, as the gateway's fleet view publishes it", async (t) => {
  const fleet = createFleetTracker({ now: () => FIXTURE_NOW, kiosks: () => [{ id: 'kiosk-001', booth: 'Bar' }, { id: 'kiosk-002', booth: 'Bar' }] })
  for (const id of ['kiosk-001', 'kiosk-002']) fleet.kioskState(id, { kiosk: id, status: 'online', at: FIXTURE_NOW, bdSeq: 1 })
  fleet.kioskState('kiosk-002', { kiosk: 'kiosk-002', status: 'online', at: FIXTURE_NOW, bdSeq: 1, lock: { by: 'ops', reason: 'cash count', at: FIXTURE_NOW } })
  const { rows, totals } = fleet.snapshot()
  const published = validateGatewayState(JSON.parse(JSON.stringify({ status: 'online', at: FIXTURE_NOW, fleet: rows, totals })))
  if (!published.ok) return t.fail(`the monitor refuses the gateway's state: ${published.error}`)
  const table = renderFleetTable(published.value.fleet!, FIXTURE_NOW, 140).split('\n')
  t.match(table[1], /^kiosk-002\s+Bar\s+online\s.*\slocked by ops \(cash count\)$/, 'the locked kiosk first, its lock among its problems')
  t.match(table[2], /^kiosk-001\s+Bar\s+online\s.*\s0\s*$/, 'the unlocked one after it, without problems')
})

t.test('long texts are cut to their column, not wrapped', async (t) => {
  const row = { ...fleetRow(1), kiosk: 'a-very-long-kiosk-identifier-indeed', problems: ['x'.repeat(128)] }
  const lines = renderFleetTable([row], FIXTURE_NOW, 120).split('\n')
  t.equal(lines.length, 2, 'one line per row')
  t.ok(lines[1]!.length <= 120)
  t.match(lines[1], /^a-very-long-k…/)
  t.match(lines[1], /x…$/)
})

t.test('with fewer lines than kiosks, the healthiest are summed up at the bottom', async (t) => {
  const state = upWith(150)
  const screen = renderScreen(state, { ...CTX, width: 140, maxFleetRows: 20 })
  t.equal(kioskColumn(screen).length, 20)
  t.same(kioskColumn(screen), state.gateway!.fleet!.slice(0, 20).map((r) => r.kiosk))
  t.match(screen, /\.\.\. and 130 more kiosks \(\d+ with problems\)/)
  const fits = screenForTerminal(state, { ...CTX, width: 140 }, 40)
  t.ok(fits.split('\n').length <= 40, 'the live screen fits a terminal of 40 lines')
  t.match(fits, /more kiosks/)
  const allFine = renderScreen(upWith(9), { ...CTX, width: 140, maxFleetRows: 1 })
  t.match(allFine, /\.\.\. and 8 more kiosks \(all fine\)/)
})

t.test('the screen: status, totals, alerts and invalid payloads', async (t) => {
  const state = stateWith([
    { kind: 'connected', at: FIXTURE_NOW - 50_000 },
    { kind: 'gateway_state', state: fixtureGatewayState(30), at: FIXTURE_NOW - 1_000 },
    { kind: 'alert', alert: { kind: 'chain_break', message: 'kiosk-003 sent seq 12 after 9', kiosk: 'kiosk-003', at: FIXTURE_NOW - 500 }, at: FIXTURE_NOW - 400 },
    { kind: 'invalid_payload', topic: 'wristpay/v1/events/alert', error: '/at must be integer', at: FIXTURE_NOW - 300 },
  ])
  const screen = renderScreen(state, { ...CTX, width: 160 })
  t.match(screen, /^wristpay-monitor {2}mqtt:\/\/127\.0\.0\.1:1883 as ops {2}22:30:00$/m)
  t.match(screen, /^gateway online \(version 0\.1\.0, bdSeq 3, up since 20:30:00\), state of 22:30:00$/m)
  t.match(screen, /^kiosks online 27\/30 {2}accepted 12345 {2}rejected 67 {2}sales 98765\.50 {2}top-ups 120000\.00 {2}open debts 45\.00$/m)
  t.match(screen, /^sales\/min 76 {2}tap-to-answer p99 180 ms {2}offline sales 12 {2}alerts in the last hour 3$/m)
  t.match(screen, /^alerts \(latest first, 1 since the monitor started\):\n {2}22:29:59 {2}chain_break {2}kiosk-003 {2}kiosk-003 sent seq 12 after 9$/m)
  t.match(screen, /invalid payloads ignored: 1 \(last on wristpay\/v1\/events\/alert at 22:29:59: \/at must be integer\)/)
  t.notMatch(screen, /UNREACHABLE|last gap/)
})

t.test('while the gateway is unreachable the screen says since when and why; after it, the last gap', async (t) => {
  const up = upWith(5)
  const down = [{ kind: 'disconnected', at: FIXTURE_NOW + 2_000 } as const].reduce(monitorReduce, up)
  const downScreen = renderScreen(down, { ...CTX, now: FIXTURE_NOW + 47_000, width: 140 })
  t.match(downScreen, /^GATEWAY UNREACHABLE since 22:30:02 \(45 s\): no connection to the broker; reconnecting; the table below is from 22:29:59$/m)
  t.match(downScreen, /kiosk-005/, 'the last known fleet stays on screen')
  const back = (
    [
      { kind: 'connected', at: FIXTURE_NOW + 60_000 },
      { kind: 'gateway_state', state: fixtureGatewayState(5, FIXTURE_NOW + 60_000), at: FIXTURE_NOW + 61_000 },
    ] as MonitorEvent[]
  ).reduce(monitorReduce, down)
  const backScreen = renderScreen(back, { ...CTX, now: FIXTURE_NOW + 62_000, width: 140 })
  t.notMatch(backScreen, /UNREACHABLE/)
  t.match(backScreen, /^last gap: 22:30:02 to 22:31:01 \(59 s\); gaps since the monitor started: 1$/m)
  const stopped = [{ kind: 'gateway_state', state: { status: 'offline', at: FIXTURE_NOW }, at: FIXTURE_NOW } as const].reduce(monitorReduce, up)
  const stoppedScreen = renderScreen(stopped, { ...CTX, now: FIXTURE_NOW + 5_000, width: 140 })
  t.match(stoppedScreen, /^GATEWAY UNREACHABLE since 22:30:00 \(5 s\): the gateway said it stopped; the table below is from 22:29:59$/m)
  t.same(kioskColumn(stoppedScreen), up.gateway!.fleet!.map((r) => r.kiosk), "the last fleet stays on screen though the offline state carries none")
  t.match(stoppedScreen, /^kiosks online 5\/5 /m, 'and its totals')
  t.same(monitorSnapshot(stopped, CTX).fleet, [], 'the JSON keeps to what was published')
  const waiting = renderScreen(initialMonitorState(FIXTURE_NOW), { ...CTX, width: 140 })
  t.match(waiting, /^connecting to mqtt:\/\/127\.0\.0\.1:1883 since 22:30:00 \.\.\.$/m)
  const refused = monitorReduce(initialMonitorState(FIXTURE_NOW), { kind: 'connect_failed', error: 'self-signed certificate in certificate chain', at: FIXTURE_NOW + 1_000 })
  t.match(renderScreen(refused, { ...CTX, width: 140 }), /^last connection attempt at 22:30:01: self-signed certificate in certificate chain$/m)
})

t.test('the JSON snapshot: gateway facts, totals, fleet rows as published, alerts and the connection facts', async (t) => {
  const state = upWith(12)
  const snapshot = monitorSnapshot(state, CTX)
  const published = fixtureGatewayState(12)
  t.same(snapshot.gateway, { status: 'online', at: published.at, version: '0.1.0', bdSeq: 3, startedAt: published.startedAt })
  t.same(snapshot.totals, published.totals)
  t.same(snapshot.fleet, published.fleet, 'rows as published, in their order')
  t.same(snapshot.alerts, [])
  t.same(snapshot.monitor, {
    url: CTX.url,
    operator: 'ops',
    at: FIXTURE_NOW,
    connected: true,
    connectedAt: FIXTURE_NOW - 50_000,
    connections: 1,
    stateReceivedAt: FIXTURE_NOW - 1_000,
    unreachable: null,
    lastGap: null,
    gaps: 0,
    invalidPayloads: { count: 0, last: null },
  })
  t.same(JSON.parse(JSON.stringify(snapshot)), snapshot, 'plain JSON')
  t.same(monitorSnapshot(initialMonitorState(FIXTURE_NOW), CTX).fleet, [], 'no state yet: no rows')
})

t.test('durations for people', async (t) => {
  t.same([0, 59_999, 60_000, 3_599_999, 3_600_000, 86_400_000].map(shortDuration), ['0 s', '59 s', '1 min', '59 min', '1 h', '1 d'])
})
