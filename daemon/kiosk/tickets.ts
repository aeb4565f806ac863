// Tickets (the tap is the guest's new wristband; the accepted answer carries
// its portal PIN) and tag switches (the guest's portal PIN, sealed to the
// gateway, then a tap of the new wristband).
import type { KioskCore } from './core.js'
import type { Outcome, TicketSale } from './types.js'
import { priceTickets } from '../cart.js'
import { effectiveProfile } from '../profile.js'
import { normalisePortalPin, sealPin } from '../pin-seal.js'

export interface TicketOperations {
  sellTicket(sale: TicketSale): Promise<Outcome>
  switchTag(pin: string): Promise<Outcome>
}

export function createTicketOperations(core: KioskCore): TicketOperations {
  async function sellTicket(ticketSale: TicketSale): Promise<Outcome> {
    return core.exclusive(async () => {
      const config = core.requireConfig()
      const staff = core.staffFor(config, 'ticket')
      const priced = core.must(priceTickets(ticketSale?.lines, ticketSale?.topup, config))
      core.requireShiftFor(effectiveProfile(config), 'a ticket sale')
      core.requireOnline('a ticket sale')
      // The tap is the guest's new wristband.
      return core.run({ type: 'ticket', lines: priced.lines, amount: priced.amount, topup: priced.topup, staff })
    })
  }

  async function switchTag(pin: string): Promise<Outcome> {
    return core.exclusive(async () => {
      const config = core.requireConfig()
      const staff = core.staffFor(config, 'tag_switch')
      if (!effectiveProfile(config).tagSwitch) core.refuse('tag_switch_not_allowed', `tag switches are not allowed at booth ${config.booth}`)
      const portalPin = normalisePortalPin(pin)
      if (portalPin === undefined) core.refuse('invalid_pin', 'a portal PIN is 8 to 32 letters and digits (no I, O, 0 or 1)')
      if (config.pinSealKey === undefined) core.refuse('pin_seal_unavailable', 'the gateway has sent no key to seal the PIN to')
      core.requireOnline('a tag switch')
      core.requireOutboxRoomAndReader()
      // Sealed before the tap, so the PIN leaves memory before anything waits on the guest.
      const sealedPin = await sealPin(portalPin, config.pinSealKey)
      return core.run({ type: 'tag_switch', lines: [], amount: 0, sealedPin, staff })
    })
  }

  return { sellTicket, switchTag }
}
