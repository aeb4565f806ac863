// Sales and returns (a cart; negative quantities return deposits), offline
// within the caps when the gateway is unreachable, and the cancel of the last
// one within the till profile's window.
import type { KioskCore, Prepared } from './core.js'
import type { LastSaleInfo, Outcome } from './types.js'
import { priceCart, restrictedProducts, type SaleLine } from '../cart.js'
import { checkOfflineSale, offlineCapWindowMs } from '../offline.js'
import { effectiveProfile } from '../profile.js'

export interface SaleOperations {
  sale(lines: readonly SaleLine[]): Promise<Outcome>
  cancelLast(): Promise<Outcome>
  lastSale(): LastSaleInfo | null
}

export function createSaleOperations(core: KioskCore): SaleOperations {
  const { catalog, clock, link, logger, outbox } = core

  async function sale(saleLines: readonly SaleLine[]): Promise<Outcome> {
    return core.exclusive(async () => {
      const config = core.requireConfig()
      const staff = core.staffFor(config, 'sale')
      const cart = core.must(priceCart(saleLines, config))
      core.requireOutboxRoomAndReader()
      if (!link.isReady() && !config.offline?.allowed) core.refuse('gateway_unreachable', 'the gateway is unreachable and this kiosk may not sell offline')
      await core.requireChain()
      const tag = await core.tap()
      const now = core.configNow(config)
      const restricted = restrictedProducts(cart.lines, now, tag.uid)
      if (restricted.length > 0) {
        core.count('restrictedTaps')
        core.refuseAfterTap('product_restricted', `this wristband may not buy ${restricted.join(', ')}`)
      }
      const prepared: Prepared = { ...cart, staff }
      if (link.isReady()) return core.sendAndAwait(core.append(prepared, tag), cart.amount)

      // Offline at tap time: accept within the caps, counted over the gateway's window (offline.ts).
      const windowMs = offlineCapWindowMs(now.offline)
      const allowed = checkOfflineSale(now.offline, cart.type, cart.amount, outbox.offlineExposure(tag.uid, clock.now() - windowMs))
      if (!allowed.ok) core.refuseAfterTap(allowed.type, allowed.message)
      const entry = core.append({ ...prepared, offline: true }, tag)
      core.count('offlineSales')
      core.feedback('offline')
      // Goes out with the resend after the next connect (or now, if the link just came back).
      const sentNow = link.publishTx(entry.envelope)
      logger.info({ id: entry.id, seq: entry.seq, type: cart.type, amount: cart.amount, sentNow }, 'accepted offline and stored')
      core.changed()
      return { status: 'offline', id: entry.id, seq: entry.seq, amount: cart.amount }
    })
  }

  async function cancelLast(): Promise<Outcome> {
    return core.exclusive(async () => {
      const config = core.requireConfig()
      const staff = core.staffFor(config, 'cancel')
      const windowMs = effectiveProfile(config).cancelWindowMs
      if (windowMs <= 0) core.refuse('cancel_not_allowed', `cancelling is not allowed at booth ${config.booth}`)
      const last = outbox.lastSale()
      if (!last || last.cancelled) core.refuse('nothing_to_cancel', 'no accepted sale to cancel at this kiosk')
      if (clock.now() - last.at > windowMs) core.refuse('cancel_not_allowed', `the last sale is older than ${windowMs} ms`)
      core.requireOnline('a cancel')
      core.requireOutboxRoom()
      await core.requireChain()
      // No tap: the guest may have left. The original tag, without its SUN (a used SUN would be a replay).
      return core.sendAndAwait(core.append({ type: 'cancel', lines: [], amount: last.amount, ref: last.id, staff }, { uid: last.tag.uid, type: last.tag.type }), last.amount)
    })
  }

  function lastSale(): LastSaleInfo | null {
    const last = outbox.lastSale()
    if (!last || last.cancelled) return null
    const config = catalog.current()
    const windowMs = config ? effectiveProfile(config).cancelWindowMs : 0
    return { id: last.id, type: last.type, amount: last.amount, at: last.at, cancellableUntil: last.at + windowMs }
  }

  return { sale, cancelLast, lastSale }
}
