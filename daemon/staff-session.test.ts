import t from 'tap'
import { staffPinHash, type KioskConfig } from '../device-protocol/index.js'
import { authenticateStaff, authorizeStaff, authorizeSupervisor, createStaffSessions } from './staff-session.js'

const SUPERVISOR = { uid: '04000000000001', name: 'Sue', roles: ['supervisor' as const], pinHash: staffPinHash('4711') }
const CASHIER = { uid: '04000000000002', name: 'Cas', roles: ['cashier' as const] }
const config: KioskConfig = { kiosk: 'bar-1', booth: 'Bar', version: 1, products: [], topupAllowed: true, saleAllowed: true, staff: [SUPERVISOR, CASHIER] }
const clock = { now: () => 1_000 }

t.test('login: the uid must be staff; a PIN role needs the right PIN', async (t) => {
  t.match(authenticateStaff(config, CASHIER.uid, undefined), { ok: true, value: { name: 'Cas' } })
  t.match(authenticateStaff(config, CASHIER.uid, '0000'), { ok: true }, 'a PIN is not asked of a cashier')
  t.match(authenticateStaff(config, SUPERVISOR.uid, '4711'), { ok: true, value: { name: 'Sue' } })
  for (const pin of [undefined, '4712', '', '47111', 'abcd', '4711\n']) t.match(authenticateStaff(config, SUPERVISOR.uid, pin), { ok: false, type: 'wrong_staff_pin' }, String(pin))
  t.match(authenticateStaff({ ...config, staff: [{ ...SUPERVISOR, pinHash: undefined as never }] }, SUPERVISOR.uid, '4711'), { ok: false, type: 'wrong_staff_pin' }, 'no hash: no login')
  t.match(authenticateStaff(config, '04FFFFFFFFFFFF', undefined), { ok: false, type: 'unknown_staff' })
  const noStaff = { ...config }
  delete noStaff.staff
  t.match(authenticateStaff(noStaff, CASHIER.uid, undefined), { ok: false, type: 'unknown_staff' })
})

t.test('authorize: roles of the config in force decide each transaction type', async (t) => {
  const sessions = createStaffSessions(clock)
  t.match(authorizeStaff(config, sessions.current(), 'sale'), { ok: false, type: 'not_logged_in' })
  const session = sessions.login(CASHIER, 'ntag215')
  t.same(session, { uid: CASHIER.uid, name: 'Cas', roles: ['cashier'], since: 1_000, tagType: 'ntag215' })
  t.same(authorizeStaff(config, sessions.current(), 'sale'), { ok: true, value: CASHIER.uid })
  t.same(authorizeStaff(config, sessions.current(), 'cancel'), { ok: true, value: CASHIER.uid })
  for (const type of ['topup_cash', 'cashout', 'ticket', 'tag_switch', 'shift_open'] as const) t.match(authorizeStaff(config, sessions.current(), type), { ok: false, type: 'staff_not_allowed' }, type)
  t.match(authorizeSupervisor(config, sessions.current()), { ok: false, type: 'staff_not_allowed' })
  // Live config: a member taken off the list is out at once; a new role applies at once.
  t.match(authorizeStaff({ ...config, staff: [SUPERVISOR] }, sessions.current(), 'sale'), { ok: false, type: 'not_logged_in' })
  t.same(authorizeStaff({ ...config, staff: [{ ...CASHIER, roles: ['topup'] }] }, sessions.current(), 'topup_cash'), { ok: true, value: CASHIER.uid })
  const noStaff = { ...config }
  delete noStaff.staff
  t.same(authorizeStaff(noStaff, undefined, 'tag_switch'), { ok: true, value: undefined }, 'no staff list: no staff field')
  sessions.login(SUPERVISOR, 'ntag424')
  t.same(authorizeSupervisor(config, sessions.current()), { ok: true, value: SUPERVISOR.uid })
  sessions.logout()
  t.equal(sessions.current(), undefined)
})
