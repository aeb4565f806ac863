// Staff at the kiosk: login with a tap of a staff wristband (and its PIN for
// roles that need one), logout, the session in force. The session itself
// lives in the core (every operation checks it); this is how it changes.
import type { KioskCore } from './core.js'
import { authenticateStaff, type StaffSession } from '../staff-session.js'

export interface StaffOperations {
  login(pin?: string): Promise<StaffSession>
  logout(): void
  session(): StaffSession | null
}

export function createStaffOperations(core: KioskCore): StaffOperations {
  const { logger, sessions } = core

  async function login(pin?: string): Promise<StaffSession> {
    return core.exclusive(async () => {
      const config = core.requireConfig()
      if (config.staff === undefined) core.refuse('unknown_staff', 'this event has no staff list: nobody logs in here')
      core.requireReader()
      const tag = await core.tap()
      const checked = authenticateStaff(core.configNow(config), tag.uid, pin)
      if (!checked.ok) {
        logger.warn({ uid: tag.uid, refusal: checked.type }, 'staff login refused')
        core.refuseAfterTap(checked.type, checked.message)
      }
      const session = sessions.login(checked.value, tag.type)
      core.count('staffLogins')
      core.feedback('accepted')
      logger.info({ staff: session.uid, name: session.name, roles: session.roles }, 'staff logged in')
      core.changed()
      return session
    })
  }

  function logout(): void {
    const had = sessions.current()
    sessions.logout()
    if (had) {
      logger.info({ staff: had.uid }, 'staff logged out')
      core.changed()
    }
  }

  return { login, logout, session: () => sessions.current() ?? null }
}
