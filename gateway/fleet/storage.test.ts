// A kiosk whose outbox cannot be written (its state says storage failed) is a
// problem in the fleet view until its state no longer says so.
import t from 'tap'
import { validateKioskState, type KioskState } from '../../device-protocol/index.js'
import { createFleetTracker } from './tracker.js'

const T0 = 1_750_000_000_000

t.test('storage failing: a named problem of an online kiosk, above a healthy one, gone once the kiosk writes again', async (t) => {
  const fleet = createFleetTracker({ now: () => T0, kiosks: () => [{ id: 'bar-1', booth: 'Bar' }, { id: 'bar-2', booth: 'Bar' }], openDebtsCents: () => 0 })
  const failing: KioskState = { kiosk: 'bar-2', status: 'online', at: T0, bdSeq: 1, storage: { status: 'failed', code: 'SQLITE_FULL', since: T0 - 5_000 } }
  t.ok(validateKioskState(failing).ok, 'the state schema carries it')
  t.notOk(validateKioskState({ ...failing, storage: { status: 'failed', code: 'SQLITE_FULL', since: T0, extra: 1 } }).ok, 'and nothing else')
  fleet.kioskState('bar-1', { kiosk: 'bar-1', status: 'online', at: T0, bdSeq: 1 })
  fleet.kioskState('bar-2', failing)
  const rows = fleet.snapshot().rows
  t.equal(rows[0]!.kiosk, 'bar-2', 'sorted first')
  t.same(rows[0]!.problems, ['storage failing (SQLITE_FULL): sales refused'])
  t.ok(rows[0]!.severity > 0)
  const { storage: _gone, ...writesAgain } = failing
  fleet.kioskState('bar-2', writesAgain)
  t.same(fleet.snapshot().rows.find((r) => r.kiosk === 'bar-2')!.problems, [])
})
