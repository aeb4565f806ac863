// Types of the ledger's public API.
import type { Envelope, RejectReason, TxResult } from '../../device-protocol/index.js'

/**
 * An envelope whose Ed25519 signature the caller has checked against the
 * kiosk's enrolled key. The ledger trusts that and checks everything else
 * (shape, sequence, chain, business rules); it computes the envelope hash itself.
 */
export interface VerifiedEnvelope {
  envelope: Envelope
  /** tag_switch: the guest's PIN, unsealed from `sealedPin` by ingest; never stored. */
  pin?: string
  /** tag_switch: the PIN limiter (gateway/pin-attempts.ts) refused this kiosk, so the PIN was not opened. */
  pinRefused?: true
  /** canonicalText(envelope.tx), when the caller made it for the signature check: the ledger then does not canonicalise again. */
  txText?: string
}

export type Outcome =
  | {
      kind: 'result'
      result: TxResult
      /** Postings were written by this call (a new accepted transaction). */
      booked: boolean
      /** A new row was written by this call, accepted or rejected: the kiosk's cursor moved. */
      recorded: boolean
      /** The id was already recorded: `result` is its first outcome, nothing changed. */
      replay: boolean
      /** Things an operator should see (an offline sale that made a debt, a blocked wristband used offline). */
      alerts?: Array<{ kind: string; message: string }>
      /** The booking changed what kiosk configs hold (blocklist, wristband variants): republish them. */
      configsChanged?: boolean
    }
  | {
      kind: 'gap'
      kioskId: string
      /** The seq the ledger expects next: the kiosk should send again from here. */
      fromSeq: number
    }

export interface KioskCursor {
  /** The seq the next transaction of this kiosk must carry. */
  nextSeq: number
  /** Hash of the kiosk's last recorded envelope (GENESIS_HASH before the first). */
  lastHash: string
}

export interface PostingRecord {
  account: string
  amount: number
}

export interface TransactionRecord {
  id: string
  kiosk: string
  seq: number
  type: string
  tag: string
  amount: number
  status: 'accepted' | 'rejected'
  reason?: RejectReason
  /** The guest's balance after the booking (accepted), or at the time of an insufficient_balance refusal. */
  balanceAfter?: number
  hash: string
  envelope: Envelope
  bookedAt: number
  /** The kiosk's booth when it was booked. */
  booth: string
  /** Accepted transactions only. */
  receiptId?: string
  postings: PostingRecord[]
}

export interface LedgerStats {
  accepted: number
  rejected: number
  rejectedByReason: Record<string, number>
  /** Cents earned per booth. */
  revenueByBooth: Record<string, number>
  /** Cents of cash taken in per kiosk (top-ups paid in cash). */
  cashByKiosk: Record<string, number>
  /** Cents each cash register's drawer should hold now (0 after a close-out). */
  cashByRegister: Record<string, number>
  /** Deposits held per booth (returnable items out with guests), cents. */
  depositsByBooth: Record<string, number>
  /** Wristbands below zero through offline sales, and how far below in total. */
  openDebts: { count: number; cents: number }
  /** Cents held on all wristbands together. */
  customerBalances: number
  /** Sum of the balances per account kind (customer, revenue, cash, clearing, prepaid, donation, payout). */
  balancesByKind: Record<string, number>
  externalBookings: number
}

/** Kinds of account an external booking may open with ensureAccount (customer, revenue and cash come from the set-up). */
export type ExternalAccountKind = 'clearing' | 'prepaid' | 'donation' | 'payout' | 'expense'
export type AccountKind = 'customer' | 'revenue' | 'cash' | 'deposit' | 'voucher' | 'register' | 'vault' | 'imbalance' | ExternalAccountKind
export const EXTERNAL_ACCOUNT_KINDS: readonly ExternalAccountKind[] = ['clearing', 'prepaid', 'donation', 'payout', 'expense']

/**
 * Account ids: one customer account per wristband, a revenue account per
 * booth, a cash account per kiosk; a clearing account per payment provider
 * (money the provider holds for us), a prepaid account per user who paid
 * before the event, the event's donation account and the payout (bank) account.
 */
export const accountIds = {
  customer: (uid: string) => `customer:${uid}`,
  revenue: (boothId: string) => `revenue:${boothId}`,
  cash: (kioskId: string) => `cash:${kioskId}`,
  clearing: (provider: string) => `clearing:${provider}`,
  prepaid: (userId: string) => `prepaid:${userId}`,
  donation: (ref = 'event') => `donation:${ref}`,
  payout: (ref = 'bank') => `payout:${ref}`,
  /** Deposits taken for returnable items at a booth: owed back to whoever returns them. */
  deposit: (boothId: string) => `deposit:${boothId}`,
  /** What vouchers paid for: the event's cost of crew drinks and the like. */
  voucher: (ref = 'event') => `voucher:${ref}`,
  /** A cash register's drawer (negative: cash held). */
  register: (registerId: string) => `register:${registerId}`,
  /** The cash office: floats go out of it, counted cash comes back. */
  vault: (ref = 'event') => `vault:${ref}`,
  /** Differences between counted and expected cash at shift close-outs. */
  imbalance: (ref = 'event') => `imbalance:${ref}`,
  /** What the event pays to others (negative: paid), e.g. `expense:fees:stancer`, the payment provider's fees. */
  expense: (ref: string) => `expense:${ref}`,
} as const

export const EXTERNAL_BOOKING_KINDS = [
  'topup_online',
  'topup_card',
  'prepayment',
  'prepaid_transfer',
  'card_payment',
  'payout',
  'donation',
  'refund',
] as const
export type ExternalBookingKind = (typeof EXTERNAL_BOOKING_KINDS)[number]

export type BookingMetaValue = string | number | boolean | null

export interface ExternalBookingInput {
  /** Idempotency key from outside, e.g. 'sumup:chk_123', 'stripe:pi_123', 'users:cuid_abc'. */
  ref: string
  kind: ExternalBookingKind
  /** Integer cents, summing to 0, each account at most once and existing. */
  postings: Array<{ account: string; amount: number }>
  /** The wristband concerned, if any (its orders list shows the booking). Taken from a customer posting when omitted. */
  customerUid?: string
  /** Not part of the idempotency comparison (a webhook and a poll may describe the same payment differently). */
  meta?: Record<string, BookingMetaValue>
}

export interface ExternalBookingResult {
  /** 'replay': the ref was booked before with the same content; this is the first result, nothing changed. */
  status: 'booked' | 'replay'
  id: string
  receiptId: string
  bookedAt: number
}

export interface ExternalBookingRecord {
  id: string
  ref: string
  kind: ExternalBookingKind
  amount: number
  customerUid: string | null
  meta: Record<string, BookingMetaValue>
  receiptId: string
  bookedAt: number
  postings: PostingRecord[]
}

export interface WristbandInfo {
  uid: string
  blocked: boolean
  /** Cents. */
  balance: number
  /** The wristband's customer account id. */
  account: string
}

export interface OrderLine {
  product: string
  /** The product's name at the transaction's booth now (the name it was sold under if it left the catalog since). */
  name: string
  qty: number
  unitPrice: number
  /** The tax rate in force when the line was booked, basis points (undefined for sales booked before line items). */
  taxRate?: number
}

export interface CustomerOrder {
  /** The kiosk transaction's or the external booking's id. */
  id: string
  /** Random and unguessable: the public receipt link. */
  receiptId: string
  /** 'sale' | 'topup_cash' | an external booking kind. */
  kind: string
  /** Cents, positive: the sale's or top-up's amount, or the sum of an external booking's positive postings. */
  amount: number
  bookedAt: number
  kiosk?: string
  booth?: string
  lines: OrderLine[]
  /** A cancel only: the order it cancelled, whose lines it takes back. */
  cancels?: { receiptId: string; kind: string; lines: OrderLine[] }
  /** An external booking only: what it changed on the guest's balance, cents (negative: money off the wristband). */
  customerDelta?: number
}

export interface Receipt extends CustomerOrder {
  customerUid: string | null
}
