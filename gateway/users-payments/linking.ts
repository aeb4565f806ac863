// Linking a user account to a wristband: the user's whole prepaid balance moves
// to the wristband's customer account, and later prepayments go straight there
// (payments.ts reads the link). The link and the transfer are one SQLite
// transaction, so a crash leaves either both or neither; the ledger's ref
// `link:{userId}:{uid}` makes the transfer idempotent on top.
import type { Logger } from 'pino'
import type { Clock } from '../../device-protocol/index.js'
import { ledgerRefusalCode, type UsersLedger } from './ledger-port.js'
import type { UsersStore } from './store.js'

export type LinkRefusalCode =
  | 'unknown_user'
  /** The user is linked to another wristband already. */
  | 'already_linked'
  /** The wristband is linked to another user already. */
  | 'wristband_taken'
  | 'unknown_tag'
  | 'tag_blocked'

export class LinkRefusedError extends Error {
  override name = 'LinkRefusedError'
  constructor(
    readonly code: LinkRefusalCode,
    message: string,
  ) {
    super(message)
  }
}

export interface LinkDeps {
  store: UsersStore
  ledger: UsersLedger
  clock: Clock
  logger: Logger
}

export interface LinkResult {
  /** 'replay': this user was linked to this wristband before; nothing moved now. */
  status: 'linked' | 'replay'
  userId: string
  uid: string
  /** Cents moved from prepaid:{userId} to the wristband by this call. */
  movedCents: number
  /** The ledger booking of the transfer, if money moved. */
  bookingId: string | null
}

/**
 * Links the user to the wristband and moves the prepaid balance onto it, exactly
 * once. For trusted callers (the gateway, a ticket sale); the HTTP route checks
 * the wristband's PIN first. Throws LinkRefusedError.
 */
export function linkWristband(deps: LinkDeps, { userId, uid }: { userId: string; uid: string }): LinkResult {
  const { store, ledger, clock, logger } = deps
  return store.db
    .transaction((): LinkResult => {
      const user = store.userById(userId)
      if (user === undefined) throw new LinkRefusedError('unknown_user', 'no such user')
      if (user.linkedUid === uid) return { status: 'replay', userId, uid, movedCents: 0, bookingId: null }
      if (user.linkedUid !== null) throw new LinkRefusedError('already_linked', 'this user is already linked to another wristband')
      if (store.userByLinkedUid(uid) !== undefined) throw new LinkRefusedError('wristband_taken', 'this wristband is already linked to another user')
      const band = ledger.wristband(uid)
      if (band === undefined) throw new LinkRefusedError('unknown_tag', 'no such wristband')
      if (band.blocked) throw new LinkRefusedError('tag_blocked', 'this wristband is blocked')

      store.setLinkedUid(userId, uid, clock.now())
      const prepaid = ledger.ensureAccount('prepaid', userId)
      const balance = ledger.accountBalance(prepaid) ?? 0
      let bookingId: string | null = null
      if (balance > 0) {
        try {
          bookingId = ledger.bookExternal({
            ref: `link:${userId}:${uid}`,
            kind: 'prepaid_transfer',
            postings: [
              { account: prepaid, amount: -balance },
              { account: band.account, amount: balance },
            ],
            customerUid: uid,
            meta: { userId },
          }).id
        } catch (err) {
          // Throwing rolls the link back too: linked without the money moved is not a state we keep.
          if (ledgerRefusalCode(err) === 'tag_blocked') throw new LinkRefusedError('tag_blocked', 'this wristband is blocked')
          throw err
        }
      }
      logger.info({ userId, uid, movedCents: balance }, 'user linked to wristband')
      return { status: 'linked', userId, uid, movedCents: balance, bookingId }
    })
    .immediate()
}
