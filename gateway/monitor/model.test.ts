import t from 'tap'
import { initialMonitorState, monitorReduce, type MonitorEvent, type MonitorState } from './model.js'
import { fixtureGatewayState } from './testing/fleet-fixtures.js'

const T0 = 1_000_000
const online = (at: number) => ({ ...fixtureGatewayState(3, at), at })

function run(events: MonitorEvent[], start = initialMonitorState(T0, { staleAfterMs: 20_000, alertCapacity: 3 })): MonitorState {
  return events.reduce(monitorReduce, start)
}

t.test('the latest gateway state is kept as published; the gateway counts as up once a state arrived on the connection', async (t) => {
  const s = run([{ kind: 'connected', at: T0 + 10 }, { kind: 'gateway_state', state: online(T0 + 5), at: T0 + 20 }])
  t.equal(s.connected, true)
  t.equal(s.connections, 1)
  t.same(s.gateway, online(T0 + 5))
  t.equal(s.gatewayReceivedAt, T0 + 20)
  t.equal(s.everUp, true)
  t.equal(s.unreachable, null)
  t.equal(s.lastGap, null)
})

t.test('before the gateway was ever seen, a failing connection is waiting, not a gap', async (t) => {
  const s = run([{ kind: 'connected', at: T0 + 10 }, { kind: 'disconnected', at: T0 + 20 }, { kind: 'tick', at: T0 + 60_000 }])
  t.equal(s.everUp, false)
  t.equal(s.unreachable, null)
  t.equal(s.gaps, 0)
})

t.test('a lost connection opens a gap that closes only when a fresh state arrives on the new connection', async (t) => {
  const up = run([{ kind: 'connected', at: T0 }, { kind: 'gateway_state', state: online(T0), at: T0 }])
  const down = run([{ kind: 'disconnected', at: T0 + 5_000 }], up)
  t.same(down.unreachable, { since: T0 + 5_000, reason: 'connection_lost' })
  t.equal(down.gateway?.status, 'online', 'the last state is still shown, for what it was')
  const reconnected = run([{ kind: 'connected', at: T0 + 9_000 }], down)
  t.same(reconnected.unreachable, { since: T0 + 5_000, reason: 'connection_lost' }, 'connected again, but no state yet: still unreachable')
  const back = run([{ kind: 'gateway_state', state: online(T0 + 9_500), at: T0 + 9_600 }], reconnected)
  t.equal(back.unreachable, null)
  t.same(back.lastGap, { from: T0 + 5_000, to: T0 + 9_600 })
  t.equal(back.gaps, 1)
  t.equal(back.connections, 2)
})

t.test('a gateway that says it stops opens the gap then; the connection dropping after it does not move its start', async (t) => {
  const s = run([
    { kind: 'connected', at: T0 },
    { kind: 'gateway_state', state: online(T0), at: T0 },
    { kind: 'gateway_state', state: { status: 'offline', at: T0 + 1_000 }, at: T0 + 1_000 },
  ])
  t.same(s.unreachable, { since: T0 + 1_000, reason: 'gateway_offline' })
  const dropped = run([{ kind: 'disconnected', at: T0 + 1_200 }], s)
  t.same(dropped.unreachable, { since: T0 + 1_000, reason: 'gateway_offline' })
  const back = run([{ kind: 'connected', at: T0 + 4_000 }, { kind: 'gateway_state', state: online(T0 + 3_900), at: T0 + 4_000 }], dropped)
  t.same(back.lastGap, { from: T0 + 1_000, to: T0 + 4_000 })
})

t.test("the last fleet rows stay known when the gateway's offline state carries none", async (t) => {
  const published = online(T0)
  const s = run([
    { kind: 'connected', at: T0 },
    { kind: 'gateway_state', state: published, at: T0 + 10 },
    { kind: 'gateway_state', state: { status: 'offline', at: T0 + 1_000 }, at: T0 + 1_000 },
  ])
  t.same(s.gateway, { status: 'offline', at: T0 + 1_000 }, 'the state as published')
  t.same(s.lastFleet, { fleet: published.fleet, totals: published.totals, receivedAt: T0 + 10 })
})

t.test('a state that stops coming opens a gap from the last one heard, noticed by the tick', async (t) => {
  const up = run([{ kind: 'connected', at: T0 }, { kind: 'gateway_state', state: online(T0), at: T0 + 100 }])
  t.equal(run([{ kind: 'tick', at: T0 + 20_100 }], up).unreachable, null, 'not yet older than staleAfterMs')
  const stale = run([{ kind: 'tick', at: T0 + 20_101 }], up)
  t.same(stale.unreachable, { since: T0 + 100, reason: 'state_stale' })
  const back = run([{ kind: 'gateway_state', state: online(T0 + 30_000), at: T0 + 30_000 }], stale)
  t.same(back.lastGap, { from: T0 + 100, to: T0 + 30_000 })
})

t.test('a failed connection attempt is kept until the next connection', async (t) => {
  const failed = run([{ kind: 'connect_failed', error: 'connect ECONNREFUSED 127.0.0.1:1883', at: T0 + 5 }])
  t.same(failed.lastConnectError, { error: 'connect ECONNREFUSED 127.0.0.1:1883', at: T0 + 5 })
  t.equal(run([{ kind: 'connected', at: T0 + 9 }], failed).lastConnectError, null)
})

t.test('alerts: newest first, at most alertCapacity, all counted', async (t) => {
  const alerts = [1, 2, 3, 4, 5].map((n): MonitorEvent => ({ kind: 'alert', alert: { kind: 'chain_break', message: `alert ${n}`, at: T0 + n }, at: T0 + n }))
  const s = run(alerts)
  t.same(
    s.alerts.map((a) => a.message),
    ['alert 5', 'alert 4', 'alert 3'],
  )
  t.equal(s.alertsReceived, 5)
})

t.test('invalid payloads are counted with the last error, and change nothing else', async (t) => {
  const up = run([{ kind: 'connected', at: T0 }, { kind: 'gateway_state', state: online(T0), at: T0 }])
  const s = run(
    [
      { kind: 'invalid_payload', topic: 'wristpay/v1/gateway/state', error: 'payload is not valid JSON', at: T0 + 1 },
      { kind: 'invalid_payload', topic: 'wristpay/v1/events/alert', error: '/at must be integer', at: T0 + 2 },
    ],
    up,
  )
  t.same(s.invalidPayloads, { count: 2, last: { topic: 'wristpay/v1/events/alert', error: '/at must be integer', at: T0 + 2 } })
  t.same(s.gateway, up.gateway)
  t.equal(s.unreachable, null)
})
