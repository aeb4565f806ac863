// The business rules of one transaction, as a pure function: given what the
// ledger knows about the kiosk, the wristband and the catalog, decide accepted
// (with balanced postings) or rejected (with a named reason). Sequence and
// chain checks happen before this, in the ledger.
import { cardPaymentRef, linesTotal, type RejectReason, type Transaction } from '../../device-protocol/index.js'
import { accountIds, type PostingRecord } from './types.js'

/** The clearing account of the kiosks' card terminals (ZVT): money the acquirer owes the event. */
export const CARD_TERMINAL_CLEARING = 'card-terminal'

export interface KioskFacts {
  id: string
  booth: string
  saleAllowed: boolean
  topupAllowed: boolean
}

export interface WristbandFacts {
  blocked: boolean
  /** Current balance of the guest's account, cents. */
  balance: number
}

export type Decision =
  | { status: 'accepted'; postings: PostingRecord[]; balanceAfter: number }
  | { status: 'rejected'; reason: RejectReason; balance?: number }

export interface DecisionInputs {
  tx: Transaction
  kiosk: KioskFacts
  /** undefined: the tag is not a wristband of this event. */
  wristband: WristbandFacts | undefined
  /** Price in cents of a product at a booth, undefined if the booth does not sell it. */
  priceOf(booth: string, productId: string): number | undefined
  /** Whether a card payment with this reference (cardPaymentRef) is already booked. */
  cardPaymentBooked(ref: string): boolean
}

const reject = (reason: RejectReason, balance?: number): Decision =>
  balance === undefined ? { status: 'rejected', reason } : { status: 'rejected', reason, balance }

export function decide({ tx, kiosk, wristband, priceOf, cardPaymentBooked }: DecisionInputs): Decision {
  const customer = accountIds.customer(tx.tag.uid)
  // A card terminal's reference belongs on card top-ups only.
  if ((tx.type === 'topup_card') !== (tx.payment !== undefined)) return reject('invalid_transaction')
  switch (tx.type) {
    case 'sale': {
      if (!kiosk.saleAllowed) return reject('sale_not_allowed')
      if (tx.lines.length === 0) return reject('invalid_transaction')
      if (wristband === undefined) return reject('unknown_tag')
      if (wristband.blocked) return reject('tag_blocked')
      for (const line of tx.lines) {
        const price = priceOf(kiosk.booth, line.product)
        if (price === undefined) return reject('unknown_product')
        if (price !== line.unitPrice) return reject('price_mismatch')
      }
      if (linesTotal(tx.lines) !== tx.amount) return reject('amount_mismatch')
      // The balance goes with this refusal so the cashier can tell the guest what is left.
      if (wristband.balance < tx.amount) return reject('insufficient_balance', wristband.balance)
      return {
        status: 'accepted',
        postings: [
          { account: customer, amount: -tx.amount },
          { account: accountIds.revenue(kiosk.booth), amount: tx.amount },
        ],
        balanceAfter: wristband.balance - tx.amount,
      }
    }
    case 'topup_cash': {
      if (!kiosk.topupAllowed) return reject('topup_not_allowed')
      if (tx.lines.length !== 0 || tx.amount <= 0) return reject('invalid_transaction')
      if (wristband === undefined) return reject('unknown_tag')
      if (wristband.blocked) return reject('tag_blocked')
      return {
        status: 'accepted',
        postings: [
          { account: accountIds.cash(kiosk.id), amount: -tx.amount },
          { account: customer, amount: tx.amount },
        ],
        balanceAfter: wristband.balance + tx.amount,
      }
    }
    case 'topup_card': {
      if (!kiosk.topupAllowed) return reject('topup_not_allowed')
      if (tx.lines.length !== 0 || tx.amount <= 0 || tx.payment === undefined) return reject('invalid_transaction')
      // The terminal took this payment once: a second transaction naming it (any kiosk, any seq) books nothing.
      if (cardPaymentBooked(cardPaymentRef(tx.payment))) return reject('duplicate_payment')
      if (wristband === undefined) return reject('unknown_tag')
      if (wristband.blocked) return reject('tag_blocked')
      return {
        status: 'accepted',
        postings: [
          { account: accountIds.clearing(CARD_TERMINAL_CLEARING), amount: -tx.amount },
          { account: customer, amount: tx.amount },
        ],
        balanceAfter: wristband.balance + tx.amount,
      }
    }
    default: {
      // The envelope schema admits only the types above; a new type must get rules here first.
      const unknownType: never = tx.type
      void unknownType
      return reject('invalid_transaction')
    }
  }
}
