// The till profile in force at a kiosk. A config without `profile` predates
// till profiles: its two flags say what the till may do, and nothing else is
// allowed. The gateway computes the same (gateway/ has its own copy: the two
// daemons share only device-protocol/).
import type { KioskConfig, TillProfile } from '../device-protocol/index.js'

export function effectiveProfile(config: Pick<KioskConfig, 'profile' | 'saleAllowed' | 'topupAllowed' | 'booth'>): TillProfile {
  if (config.profile) return config.profile
  return {
    id: 'default',
    name: config.booth,
    sale: config.saleAllowed,
    topupCash: config.topupAllowed,
    topupCard: config.topupAllowed,
    cashout: false,
    ticketSale: false,
    tagSwitch: false,
    cashRegister: false,
    cancelWindowMs: 0,
  }
}
