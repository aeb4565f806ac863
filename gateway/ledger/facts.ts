// LedgerFacts (what the core reads) composed of the registry (who is who) and
// the store (money and history). A kiosk's chain cursor is the store's; a
// kiosk the store has no cursor for yet starts at genesis.
import { GENESIS_HASH } from '../../device-protocol/index.js'
import type { LedgerFacts } from './core.js'
import type { LedgerStore, RegistryFacts } from './store.js'
import { accountIds } from './types.js'

export function composeLedgerFacts(registry: RegistryFacts, store: LedgerStore): LedgerFacts {
  return {
    isExternalBooking: (id) => store.isExternalBooking(id),
    recorded: (id) => store.recorded(id),
    kiosk(id) {
      const kiosk = registry.kiosk(id)
      if (kiosk === undefined) return undefined
      const cursor = store.cursor(id) ?? { nextSeq: 1, lastHash: GENESIS_HASH }
      return { ...kiosk, nextSeq: cursor.nextSeq, lastHash: cursor.lastHash }
    },
    checkTag: (tx) => registry.checkTag(tx),
    timeLimits: () => registry.timeLimits(),
    offlineRules: () => registry.offlineRules(),
    offlineSpent: (kioskId, sinceMs, uid) => store.offlineSpent(kioskId, sinceMs, uid),
    depositAccounts: () => store.depositAccounts(),
    maxReturnQty: (booth, productId) => registry.maxReturnQty(booth, productId),
    wristband(uid) {
      // The balance first: inside a batch on PostgreSQL it is read FOR UPDATE, so a payout run on another gateway
      // that holds the row is waited for, and the facts read next see its open payout item (in_payout_run).
      const balance = store.account(accountIds.customer(uid))?.balance ?? 0
      const band = registry.wristband(uid)
      if (band === undefined) return undefined
      return { ...band, balance }
    },
    product: (booth, productId) => registry.product(booth, productId),
    cardPaymentBooked: (ref) => store.cardPaymentBooked(ref),
    staffRoles: () => registry.staffRoles(),
    openShift: (kioskId) => store.openShift(kioskId),
    registerExists: (register) => registry.registerExists(register),
    registerBusy: (register) => store.registerBusy(register),
    accountBalance: (account) => store.account(account)?.balance ?? 0,
    cancelTarget: (id) => store.cancelTarget(id),
    wristbandByPin: (pin) => registry.wristbandByPin(pin),
    ticketPin: (txId) => registry.ticketPin(txId),
  }
}
