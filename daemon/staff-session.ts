// Staff at a kiosk: who may log in (a tap, plus the PIN for roles that need
// one) and whether the logged-in member may book a transaction type. The
// session lives in memory only: a restarted kiosk is logged out. The roles are
// read from the config in force at each check, so a changed or removed staff
// member loses what the new config takes away at once.
import type { Clock, KioskConfig, StaffMember, StaffRole, TransactionType } from '../device-protocol/index.js'
import { PIN_ROLES, ROLES_FOR_TYPE, roleAllows, verifyStaffPin } from '../device-protocol/index.js'
import { ok, refusal, type Checked } from './kiosk-error.js'

export interface StaffSession {
  uid: string
  name: string
  roles: StaffRole[]
  /** Login time, Unix ms. */
  since: number
  /** The wristband's tag type, for transactions signed without a fresh tap (shifts). */
  tagType: string
}

export function findStaff(config: KioskConfig, uid: string): StaffMember | undefined {
  return config.staff?.find((m) => m.uid === uid)
}

export const needsPin = (member: Pick<StaffMember, 'roles'>): boolean => member.roles.some((r) => PIN_ROLES.includes(r))

/** Checks a staff tap (and PIN) against the config; the PIN is never logged or kept. */
export function authenticateStaff(config: KioskConfig, uid: string, pin: string | undefined): Checked<StaffMember> {
  if (config.staff === undefined) return refusal('unknown_staff', 'this event has no staff list: nobody logs in here')
  const member = findStaff(config, uid)
  if (!member) return refusal('unknown_staff', 'this wristband belongs to no staff member')
  if (needsPin(member)) {
    if (pin === undefined || member.pinHash === undefined || !verifyStaffPin(pin, member.pinHash)) return refusal('wrong_staff_pin', `the PIN of ${member.name} is wrong or missing`)
  }
  return ok(member)
}

/**
 * The `staff` a transaction of `type` carries: undefined when the event has no
 * staff list, else the logged-in member, if the config in force lets their roles book it.
 */
export function authorizeStaff(config: KioskConfig, session: StaffSession | undefined, type: TransactionType): Checked<string | undefined> {
  if (config.staff === undefined) return ok(undefined)
  if (!session) return refusal('not_logged_in', 'log in with a staff wristband first')
  const member = findStaff(config, session.uid)
  if (!member) return refusal('not_logged_in', `${session.name} is no longer on the staff list: log in again`)
  if (!roleAllows(member.roles, type)) return refusal('staff_not_allowed', `${member.name} may not book ${type} (needs ${ROLES_FOR_TYPE[type].join(' or ')})`)
  return ok(member.uid)
}

/** Supervisor-only actions outside transactions (settling a card payment). */
export function authorizeSupervisor(config: KioskConfig, session: StaffSession | undefined): Checked<string | undefined> {
  if (config.staff === undefined) return ok(undefined)
  if (!session) return refusal('not_logged_in', 'a supervisor must log in first')
  const member = findStaff(config, session.uid)
  if (!member) return refusal('not_logged_in', `${session.name} is no longer on the staff list: log in again`)
  if (!member.roles.includes('supervisor')) return refusal('staff_not_allowed', `${member.name} is no supervisor`)
  return ok(member.uid)
}

export interface StaffSessions {
  login(member: StaffMember, tagType: string): StaffSession
  logout(): void
  current(): StaffSession | undefined
}

export function createStaffSessions(clock: Clock): StaffSessions {
  let session: StaffSession | undefined
  return {
    login(member, tagType) {
      session = { uid: member.uid, name: member.name, roles: [...member.roles], since: clock.now(), tagType }
      return { ...session, roles: [...session.roles] }
    },
    logout() {
      session = undefined
    },
    current: () => (session ? { ...session, roles: [...session.roles] } : undefined),
  }
}
