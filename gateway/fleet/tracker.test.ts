import t from 'tap'
import { validateGatewayState, type KioskState } from '../../device-protocol/index.js'
import type { IngestObservation } from '../ingest.js'
import { createFleetTracker, openDebtCents, shortDuration } from './tracker.js'

const T0 = 1_750_000_000_000

function world(kiosks = [{ id: 'bar-1', booth: 'Bar' }, { id: 'bar-2', booth: 'Bar' }, { id: 'food-1', booth: 'Food' }]) {
  const clock = { ms: T0 }
  const changes: Array<[string, string]> = []
  const fleet = createFleetTracker({ now: () => clock.ms, kiosks: () => kiosks, openDebtsCents: () => 1234 })
  fleet.onStatusChange((kiosk, status) => changes.push([kiosk, status]))
  const row = (id: string) => fleet.snapshot().rows.find((r) => r.kiosk === id)!
  return { clock, fleet, changes, row }
}

const birth = (kiosk: string, bdSeq: number, extra: Partial<KioskState> = {}): KioskState => ({ kiosk, status: 'online', at: T0, bdSeq, ...extra })
const death = (kiosk: string, bdSeq: number, status: 'lost' | 'offline' = 'lost'): KioskState => ({ kiosk, status, at: T0, bdSeq })
const answered = (kioskId: string, status: 'accepted' | 'rejected', txType: 'sale' | 'topup_cash' = 'sale', replay = false): IngestObservation => ({ kind: 'answered', kioskId, txType, offline: false, status, replay, queuedMs: 3 })

t.test('every registry kiosk has a row: never_seen until it reports', async (t) => {
  const { fleet } = world()
  const { rows, totals } = fleet.snapshot()
  t.same(rows.map((r) => [r.kiosk, r.status, r.problems]), [
    ['bar-1', 'never_seen', ['never connected']],
    ['bar-2', 'never_seen', ['never connected']],
    ['food-1', 'never_seen', ['never connected']],
  ])
  t.match(totals, { kiosksOnline: 0, kiosksTotal: 3, openDebtsCents: 1234 })
})

t.test('birth, republish, will: online then lost, with since and the bdSeq rules', async (t) => {
  const { clock, fleet, changes, row } = world()
  t.equal(fleet.kioskState('bar-1', birth('bar-1', 3, { version: '1.0', configVersion: 7, reader: { kind: 'serial', health: 'ok' }, outboxDepth: 0 })), 'applied')
  t.match(row('bar-1'), { status: 'online', since: T0, lastSeenAt: T0, version: '1.0', configVersion: 7, severity: 0, problems: [] })
  clock.ms += 10_000
  fleet.kioskState('bar-1', birth('bar-1', 3, { outboxDepth: 1 }))
  t.match(row('bar-1'), { status: 'online', since: T0, lastSeenAt: T0 + 10_000, outboxDepth: 1 }, 'a republished state changes details, not since')
  clock.ms += 5_000
  t.equal(fleet.kioskState('bar-1', death('bar-1', 3)), 'applied')
  clock.ms += 120_000
  t.match(row('bar-1'), { status: 'lost', since: T0 + 15_000, lastSeenAt: T0 + 10_000, outboxDepth: 1, problems: ['lost 2 min ago'] })
  t.equal(fleet.snapshot().rows[0]!.kiosk, 'bar-1', 'the lost kiosk sorts first')
  t.same(changes, [['bar-1', 'online'], ['bar-1', 'lost']])
})

t.test('a stale death after a fast reconnect is ignored; the live kiosk stays online', async (t) => {
  const { fleet, changes, row } = world()
  fleet.kioskState('bar-1', birth('bar-1', 4))
  fleet.kioskState('bar-1', birth('bar-1', 5)) // reconnected before the broker noticed the old connection died
  t.equal(fleet.kioskState('bar-1', death('bar-1', 4)), 'stale')
  t.equal(fleet.kioskState('bar-1', death('bar-1', 4, 'offline')), 'stale')
  t.equal(row('bar-1').status, 'online')
  t.same(changes, [['bar-1', 'online']])
  t.equal(fleet.kioskState('bar-1', death('bar-1', 5)), 'applied', 'the death of the live connection counts')
  t.equal(row('bar-1').status, 'lost')
})

t.test('a birth whose bdSeq goes back while online changes nothing; after a death a lower bdSeq is a new life (replaced Pi)', async (t) => {
  const { fleet, row } = world()
  fleet.kioskState('bar-1', birth('bar-1', 9, { version: 'real' }))
  t.equal(fleet.kioskState('bar-1', birth('bar-1', 2, { version: 'forged' })), 'stale')
  t.equal(row('bar-1').version, 'real')
  fleet.kioskState('bar-1', death('bar-1', 9, 'offline'))
  t.equal(fleet.kioskState('bar-1', birth('bar-1', 0, { version: 'new pi' })), 'applied')
  t.match(row('bar-1'), { status: 'online', version: 'new pi' })
  t.equal(fleet.kioskState('bar-1', death('bar-1', 0)), 'applied')
  t.equal(row('bar-1').status, 'lost')
})

t.test('a state naming another kiosk than its topic is ignored', async (t) => {
  const { fleet, row } = world()
  t.equal(fleet.kioskState('bar-1', birth('bar-2', 1)), 'ignored')
  t.equal(row('bar-1').status, 'never_seen')
  t.equal(row('bar-2').status, 'never_seen')
})

t.test('states without bdSeq (older kiosks) are taken in order of arrival; an older reader string is read', async (t) => {
  const { fleet, row } = world()
  fleet.kioskState('bar-1', { kiosk: 'bar-1', status: 'online', at: T0, reader: 'serial:disconnected' })
  t.match(row('bar-1'), { status: 'online', reader: { kind: 'serial', health: 'down' }, problems: ['reader down'] })
  fleet.kioskState('bar-1', { kiosk: 'bar-1', status: 'lost', at: T0 })
  t.equal(row('bar-1').status, 'lost')
})

t.test('problems and severity: devices, outbox, refusals, slow answers, offline sales, chain, silence', async (t) => {
  const { clock, fleet, row } = world()
  fleet.kioskState('bar-1', birth('bar-1', 1, { outboxDepth: 12, terminal: { kind: 'zvt', health: 'degraded' }, reader: { kind: 'serial', health: 'down' } }))
  fleet.kioskState('bar-1', birth('bar-1', 1, { outboxDepth: 37, terminal: { kind: 'zvt', health: 'degraded' }, reader: { kind: 'serial', health: 'down' }, offline: { sales: 3, cents: 900 }, tapToAnswerMs: { count: 5, p50: 800, p99: 2500, max: 2600 } }))
  for (let i = 0; i < 12; i++) fleet.observe(answered('bar-1', 'rejected'))
  t.same(row('bar-1').problems, ['reader down', 'terminal degraded', 'outbox 37 and growing', 'refusals 12/min', 'slow answers (p99 2.5 s)', '3 offline sales not answered'])
  t.equal(row('bar-1').severity, 50 + 15 + 30 + 20 + 10 + 10)
  fleet.kioskState('bar-1', birth('bar-1', 1, { outboxDepth: 37, chain: { status: 'recovery_required' } }))
  t.same(row('bar-1').problems, ['chain needs recovery', 'outbox 37', 'refusals 12/min'], 'a steady outbox is not growing; the reader is fine again')
  clock.ms += 61_000
  t.same(row('bar-1').problems, ['silent for 1 min', 'chain needs recovery', 'outbox 37'], 'refusals of more than a minute ago are gone')
})

t.test('a lost kiosk is not blamed for the devices it last reported', async (t) => {
  const { fleet, row } = world()
  fleet.kioskState('bar-1', birth('bar-1', 1, { reader: { kind: 'serial', health: 'down' } }))
  fleet.kioskState('bar-1', death('bar-1', 1))
  t.same(row('bar-1').problems, ['lost 0 s ago'])
  t.match(row('bar-1'), { reader: { kind: 'serial', health: 'down' } }, 'but the row still shows it')
})

t.test('rates per minute and totals from observations, booked events and alerts; replays are not counted', async (t) => {
  const { clock, fleet, row } = world()
  fleet.kioskState('bar-1', birth('bar-1', 0, { tapToAnswerMs: { count: 3, p50: 100, p99: 300, max: 310 } }))
  fleet.kioskState('food-1', birth('food-1', 0, { tapToAnswerMs: { count: 3, p50: 100, p99: 700, max: 710 }, offline: { sales: 2, cents: 500 } }))
  fleet.observe(answered('bar-1', 'accepted'))
  fleet.observe(answered('bar-1', 'accepted'))
  fleet.observe(answered('bar-1', 'accepted', 'sale', true))
  fleet.observe(answered('bar-1', 'accepted', 'topup_cash'))
  fleet.observe(answered('food-1', 'rejected'))
  fleet.observe({ kind: 'committed', size: 3, commitMs: 1 })
  fleet.booked({ id: '0190a8b0-0000-7000-8000-000000000001', kiosk: 'bar-1', seq: 1, type: 'sale', amount: 700, status: 'accepted', at: T0 })
  fleet.booked({ id: '0190a8b0-0000-7000-8000-000000000002', kiosk: 'bar-1', seq: 2, type: 'return', amount: 200, status: 'accepted', at: T0 })
  fleet.booked({ id: '0190a8b0-0000-7000-8000-000000000003', kiosk: 'bar-1', seq: 3, type: 'topup_cash', amount: 5000, status: 'accepted', at: T0 })
  fleet.booked({ id: '0190a8b0-0000-7000-8000-000000000004', kiosk: 'food-1', seq: 1, type: 'sale', amount: 999, status: 'rejected', at: T0 })
  fleet.alert()
  t.match(row('bar-1'), { salesPerMin: 2, refusalsPerMin: 0 })
  t.match(row('food-1'), { salesPerMin: 0, refusalsPerMin: 1, offlineSales: 2 })
  const { totals } = fleet.snapshot()
  t.same(totals, { kiosksOnline: 2, kiosksTotal: 3, accepted: 3, rejected: 1, salesCents: 500, topupsCents: 5000, offlineSales: 2, openDebtsCents: 1234, alertsLastHour: 1, salesPerMin: 2, tapToAnswerP99Ms: 700 })
  clock.ms += 3_600_001
  t.match(fleet.snapshot().totals, { salesPerMin: 0, alertsLastHour: 0, accepted: 3 }, 'rates and the alert hour move on; totals since start stay')
})

t.test('a kiosk locked by an operator carries the lock and a problem, sorting above healthy and never seen kiosks, below stopped and lost ones', async (t) => {
  const ids = ['fine', 'locked', 'new', 'stopped', 'gone']
  const { clock, fleet, row } = world(ids.map((id) => ({ id, booth: 'Bar' })))
  const lock = { by: 'ops', reason: 'cash count', at: T0 - 5_000 }
  for (const id of ['fine', 'locked', 'stopped', 'gone']) fleet.kioskState(id, birth(id, 1))
  fleet.kioskState('locked', birth('locked', 1, { lock }))
  fleet.kioskState('stopped', death('stopped', 1, 'offline'))
  fleet.kioskState('gone', death('gone', 1))
  clock.ms += 30_000
  t.match(row('locked'), { status: 'online', lock, problems: ['locked by ops (cash count)'] })
  t.notOk('lock' in row('fine'), 'an unlocked kiosk has no lock field')
  const snap = fleet.snapshot()
  t.same(snap.rows.map((r) => r.kiosk), ['gone', 'stopped', 'locked', 'new', 'fine'])
  t.ok(validateGatewayState({ status: 'online', at: T0, fleet: snap.rows, totals: snap.totals }).ok, 'the row with its lock fits the schema')
  fleet.kioskState('locked', birth('locked', 1, { lock: { by: 'ops', at: T0 } }))
  t.same(row('locked').problems, ['locked by ops'], 'without a reason, just who')
  fleet.kioskState('locked', death('locked', 1))
  t.same(row('locked').problems, ['lost 0 s ago', 'locked by ops'], 'a lost kiosk stays locked: its restart keeps the lock')
  fleet.kioskState('locked', birth('locked', 2))
  t.match(row('locked'), { severity: 0, problems: [] }, 'unlocked: the state no longer has the lock')
  t.notOk('lock' in row('locked'))
})

t.test('rows sort worst first, then by kiosk id, and the snapshot fits the GatewayState schema', async (t) => {
  const { fleet } = world()
  fleet.kioskState('food-1', birth('food-1', 0))
  fleet.kioskState('bar-2', birth('bar-2', 0, { reader: { kind: 'ble', health: 'down' } }))
  const snap = fleet.snapshot()
  t.same(snap.rows.map((r) => r.kiosk), ['bar-2', 'bar-1', 'food-1'])
  t.ok(validateGatewayState({ status: 'online', at: T0, fleet: snap.rows, totals: snap.totals }).ok)
})

t.test('a kiosk removed from the registry has no row; a failing debt source leaves 0', async (t) => {
  let kiosks = [{ id: 'bar-1', booth: 'Bar' }]
  const fleet = createFleetTracker({ now: () => T0, kiosks: () => kiosks, openDebtsCents: () => { throw new Error('db closed') } })
  fleet.kioskState('bar-1', birth('bar-1', 0))
  kiosks = []
  t.same(fleet.snapshot().rows, [])
  t.equal(fleet.snapshot().totals.openDebtsCents, 0)
})

t.test('short durations', async (t) => {
  t.same([shortDuration(0), shortDuration(59_999), shortDuration(120_000), shortDuration(7_200_000)], ['0 s', '59 s', '2 min', '2 h'])
})

t.test('isStale tells a stale death before it is applied, without applying anything', async (t) => {
  const { fleet, row } = world()
  t.equal(fleet.isStale('bar-1', death('bar-1', 0)), false, 'nothing known yet')
  fleet.kioskState('bar-1', birth('bar-1', 2))
  t.equal(fleet.isStale('bar-1', death('bar-1', 1)), true)
  t.equal(fleet.isStale('bar-1', death('bar-1', 2)), false)
  t.equal(fleet.isStale('bar-1', death('bar-2', 1)), false, 'another kiosk in the payload is not judged here')
  t.equal(row('bar-1').status, 'online')
})

t.test('open debt cents count each wristband once, as far below zero as it is now', async (t) => {
  t.equal(openDebtCents([
    { uid: 'A', balanceNow: -300, open: true },
    { uid: 'A', balanceNow: -300, open: true },
    { uid: 'B', balanceNow: -50, open: true },
    { uid: 'C', balanceNow: 0, open: false },
  ]), 350)
})
