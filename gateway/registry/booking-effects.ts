// The registry's side of an accepted booking: wristbands a ticket sale or a
// tag switch brings in, the one a tag switch replaces, vouchers used or given
// back. Runs in the batch's SQLite transaction, before the store writes the
// booking (a new wristband's account exists by then: the ledger opens it).
import type { SqlDatabase } from '../sql/database.js'
import type { Transaction } from '../../device-protocol/index.js'
import type { SideEffect } from '../ledger/rules.js'
import { accountIds } from '../ledger/types.js'

export interface EffectContext {
  tx: Transaction
  effects: readonly SideEffect[]
  /** The keyed lookup of a ticket's derived PIN. */
  ticketPinLookup(): string
}

/**
 * The registry's side of an accepted decision's effects, inside the batch's
 * SQLite transaction and before the store writes the booking: wristbands
 * activated (tickets) or replaced (tag switch), and vouchers used or given
 * back. The accounts of new wristbands exist already (the ledger opens them).
 * The store writes the rest (sqlite-store.ts); core.ts derives the alerts.
 */
export function applyBookingEffects(db: SqlDatabase, ctx: EffectContext): void {
  for (const effect of ctx.effects) {
    switch (effect.kind) {
      case 'register_wristband': {
        const account = accountIds.customer(effect.uid)
        let lookup: string
        if (effect.pinFrom !== undefined) {
          // The guest keeps their PIN: it moves to the new wristband (the UNIQUE index wants the old one parked first).
          lookup = (db.prepare(`SELECT pin_lookup FROM wristbands WHERE uid = ?`).get(effect.pinFrom) as { pin_lookup: string }).pin_lookup
          db.prepare(`UPDATE wristbands SET pin_lookup = 'replaced:' || uid WHERE uid = ?`).run(effect.pinFrom)
        } else {
          lookup = ctx.ticketPinLookup()
        }
        db.prepare(`INSERT INTO wristbands (uid, pin_lookup, blocked, account, variant, vouchers) VALUES (?, ?, 0, ?, ?, 0)`).run(effect.uid, lookup, account, effect.variant)
        break
      }
      case 'replace_wristband':
        db.prepare(`UPDATE wristbands SET blocked = 1, replaced_by = ? WHERE uid = ?`).run(effect.newUid, effect.oldUid)
        break
      case 'vouchers':
        db.prepare(`UPDATE wristbands SET vouchers = vouchers + ? WHERE uid = ?`).run(effect.delta, effect.uid)
        break
      default:
        break
    }
  }
}

