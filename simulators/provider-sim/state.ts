// The simulator's in-memory provider account. API objects are stored in the
// JSON shape the seed shows (snake_case field names), so handlers hand out
// copies as they are; what the provider knows but does not show (which
// intent made a payment, which payout holds it) lives beside them.
import type { IdGenerator } from './ids.js'

export type Currency = 'eur' | 'aud' | 'cad' | 'chf' | 'dkk' | 'gbp' | 'nok' | 'pln' | 'sek' | 'usd'

export interface Customer {
  id: string
  country: string | null
  /** Unix seconds (the seed's sample shows a placeholder string here). */
  created: number
  date_birth: string | null
  email: string | null
  external_id: string | null
  legal_id: string | null
  mobile: string | null
  name: string | null
  deleted: boolean
}

/**
 * The seed shows `require_payment_method` only; the others are ours:
 * waiting for the guest's 3-D Secure challenge, paid but not captured
 * (`capture: false`), paid and captured, and deleted.
 */
export type PaymentIntentStatus = 'require_payment_method' | 'require_authentication' | 'authorized' | 'captured' | 'canceled'

export interface PaymentIntent {
  id: string
  customer: string | null
  payment: string | null
  methods_allowed: Array<'card' | 'sepa'>
  order_id: string | null
  card: string | null
  sepa: string | null
  /** Integer cents. */
  amount: number
  currency: Currency
  description: string | null
  status: PaymentIntentStatus
  metadata: unknown
  threeds: 'required' | 'none'
  return_url: string | null
  created_at: string
  capture: boolean
  /** The hosted payment page (not in the seed's sample; the guest's browser opens it). */
  url: string
}

/** The seed shows `refused`; the rest follow the provider's payment life cycle. */
export type PaymentStatus = 'authorized' | 'to_capture' | 'captured' | 'refused' | 'failed' | 'canceled' | 'disputed'

export interface PaymentCard {
  id: string
  brand: string
  country: string
  exp_month: number
  exp_year: number
  funding: string
  last4: string
  nature: string
  network: string
}

export interface Payment {
  id: string
  /** Integer cents. */
  amount: number
  auth: { status: 'attempted' | 'success' | 'failed' } | null
  capture: boolean
  created: number
  currency: Currency
  customer: string | null
  date_settlement: string | null
  date_bank: string | null
  description: string | null
  device: null
  /** The provider's fee for this payment, integer cents. */
  fee: number
  method: 'card'
  methods_allowed: Array<'card' | 'sepa'>
  order_id: string | null
  unique_id: string | null
  /** Card network answer: `00` approved, `05` do not honour, `51` insufficient funds. */
  response: string
  response_author: string
  return_url: string | null
  card: PaymentCard
  sepa: null
  status: PaymentStatus
}

/** Seed: `to_refund`; then `refunded` when paid out, or `not_honored` when refused. */
export type RefundStatus = 'to_refund' | 'refunded' | 'not_honored'

export interface Refund {
  id: string
  /** Integer cents. */
  amount: number
  currency: Currency
  date_bank: string | null
  date_refund: string | null
  payment: string
  created: number
  status: RefundStatus
}

export interface Dispute {
  id: string
  /** Integer cents. */
  amount: number
  currency: Currency
  /** Unix seconds the disputed amount left the merchant's account (when paid out lost), else null. */
  date_bank: number | null
  order_id: string | null
  payment: string
  /** The card network's reason code. */
  response: string
  created: number
  type: string
  /** Not in the seed (which has no dispute outcome): `open`, then `won` or `lost`. */
  status: 'open' | 'won' | 'lost'
}

export type PayoutStatus = 'pending' | 'to_pay' | 'sent' | 'paid' | 'failed' | 'error'

export interface PayoutTotal {
  /** Integer cents (always positive: refunds and disputes are subtracted from the payout). */
  amount: number
  count: number
}

export interface Payout {
  id: string
  currency: Currency
  payments: PayoutTotal
  refunds: PayoutTotal
  disputes: PayoutTotal
  /** Integer cents. */
  fees: number
  fees_vat: number
  status: PayoutStatus
  date: string
}

export interface SepaCheck {
  id: string
  created: number
  /** score_name: 0..1, 1 when the name matches the account holder; null while the check is pending. */
  person: { name: string; score_name: number | null } | null
  company: { name: string; score_name: number | null } | null
  check_type: 'person' | 'company'
  status: 'pending' | 'succeeded'
}

/** Where each payment, refund and dispute was paid out, and the payout's members in order. */
export interface PayoutMembers {
  payments: string[]
  refunds: string[]
  disputes: string[]
  /** Unix seconds (the list filter `created`; not shown on the payout). */
  created: number
}

export interface ProviderState {
  customers: Map<string, Customer>
  paymentIntents: Map<string, PaymentIntent>
  payments: Map<string, Payment>
  refunds: Map<string, Refund>
  disputes: Map<string, Dispute>
  payouts: Map<string, Payout>
  checks: Map<string, SepaCheck>
  /** payment id → the intent that made it. */
  paymentIntentOf: Map<string, string>
  /** payment, refund or dispute id → payout id. */
  payoutOf: Map<string, string>
  payoutMembers: Map<string, PayoutMembers>
}

export function createState(): ProviderState {
  return {
    customers: new Map(),
    paymentIntents: new Map(),
    payments: new Map(),
    refunds: new Map(),
    disputes: new Map(),
    payouts: new Map(),
    checks: new Map(),
    paymentIntentOf: new Map(),
    payoutOf: new Map(),
    payoutMembers: new Map(),
  }
}

export interface FeeSchedule {
  basisPoints: number
  fixedCents: number
  vatBasisPoints: number
}

/** What every handler gets: the account, ids, the clock and a way to send events. */
export interface SimContext {
  state: ProviderState
  newId: IdGenerator
  /** Unix seconds. */
  nowSeconds(): number
  /** Today as YYYY-MM-DD (UTC), from the clock. */
  today(): string
  isoNow(): string
  baseUrl(): string
  fees: FeeSchedule
  /** Sends a webhook event with a snapshot of `object`. */
  emit(type: string, object: object): void
}
