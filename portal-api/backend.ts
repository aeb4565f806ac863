// What the portal API needs from the gateway: a data-access interface in
// integer cents and wristband UIDs. The plugin never opens a database; the
// gateway hands it an implementation (gateway/portal-backend.ts), tests may
// hand it the in-memory one below. Every method takes the uid of the
// authenticated guest, so a backend can only ever answer about that guest.

export type Awaitable<T> = T | Promise<T>

export type CheckoutStatus = 'PENDING' | 'PAID' | 'FAILED'

/** Online top-up (implemented in gateway/payments/; the backend takes it as a dependency). */
export interface TopupService {
  createCheckout(input: { uid: string; amountCents: number }): Promise<{ checkoutId: string; redirectUrl?: string }>
  checkCheckout(input: { uid: string; checkoutId: string }): Promise<{ status: CheckoutStatus }>
}

/**
 * A refusal a backend (or the plugin) answers with: HTTP status, a stable
 * machine-readable `type`, a message safe to show (never a PIN, token or IBAN).
 * `field` names the request field for 422 answers.
 */
export class PortalError extends Error {
  override name = 'PortalError'
  constructor(
    readonly statusCode: 400 | 401 | 403 | 404 | 409 | 422 | 429 | 502 | 503,
    readonly type: string,
    message: string,
    readonly field?: string,
  ) {
    super(message)
  }
}

export interface PortalSession {
  /** The JWT id; also the session's key. */
  jti: string
  uid: string
  createdAtMs: number
  expiresAtMs: number
}

export interface PortalCustomer {
  /** Stable integer id of the guest's account (the seed's `id`, `customer_account_id`, `user_tag_id`). */
  id: number
  /** Wristband UID, upper-case hex. */
  uid: string
  balanceCents: number
  blocked: boolean
  iban: string | null
  accountName: string | null
  email: string | null
  donationCents: number
  donateAll: boolean
  hasEnteredInfo: boolean
}

export type PortalOrderType = 'sale' | 'cancel_sale' | 'top_up' | 'pay_out' | 'ticket' | 'money_transfer'
export type PortalPaymentMethod = 'cash' | 'sumup' | 'tag' | 'sumup_online'

export interface PortalOrderLine {
  /** 1-based position in the order. */
  itemId: number
  /** Stable integer id of the product (the seed's ids are integers). */
  productId: number
  productName: string
  quantity: number
  unitPriceCents: number
  /** Tax contained in the (gross) price, in basis points: 1900 = 19 %. */
  taxRateBasisPoints: number
  taxName: string
  taxRateId: number
}

export interface PortalOrder {
  /** Stable integer id of the order (the seed's ids are integers); receiptId is the real key. */
  id: number
  /** The receipt id: a random UUID, the only key of the public `/bon/{id}`. */
  receiptId: string
  orderType: PortalOrderType
  paymentMethod: PortalPaymentMethod
  /**
   * Signed as the reference server signs it: what the guest pays in this order.
   * Negative when the guest gets money back: a cancel (its lines negate the
   * cancelled ones), a deposit return, a pay-out, a refund.
   */
  totalCents: number
  bookedAtMs: number
  lines: PortalOrderLine[]
  /** A cancel: the integer id of the order it cancels (the seed's `cancels_order`). */
  cancelsOrderId?: number | null
}

export interface PortalReceipt {
  order: PortalOrder
  customer: { id: number; uid: string }
}

/** How a guest tops up by bank transfer before the event (a wristpay addition to the seed's API). */
export interface PortalBankTransfer {
  /** The guest's transfer reference with its check digits, as the bank statement carries it: `RF47ABCDEFGH`. */
  reference: string
  /** The same in groups of four, as people type it: `RF47 ABCD EFGH`. */
  referenceDisplay: string
  accountHolder: string
  iban: string
  bic: string | null
}

/** A refund of the guest's balance to the card(s) they topped up with online (a wristpay addition). */
export interface PortalCardRefund {
  id: string
  amountCents: number
  /** pending while the provider has not finished every part. */
  state: 'pending' | 'refunded' | 'partly_refused' | 'refused'
  createdAtMs: number
  /** One per card payment the money goes back to. */
  parts: Array<{ amountCents: number; state: 'pending' | 'refunded' | 'refused'; reason: string | null }>
}

export interface PortalCardRefunds {
  /** What a refund to the card could take now, cents. */
  refundableCents: number
  /** Newest first. */
  refunds: PortalCardRefund[]
}

/** Refunds to the card (implemented in gateway/payments/; refusals are PortalErrors). */
export interface CardRefundPortalService {
  list(uid: string): Awaitable<PortalCardRefunds>
  /** The whole refundable amount when amountCents is undefined. */
  request(uid: string, amountCents: number | undefined): Promise<PortalCardRefund>
}

/** What the SEPA check of the guest's payout data says, in the guest's terms. */
export type PortalPayoutCheckState = 'checking' | 'ok' | 'needs_correction'

/** SEPA checks of payout data (implemented in gateway/payments/sepa-checks.ts). */
export interface PayoutCheckPortalService {
  /** After the guest's payout data was saved: starts a check in the background. Must not wait for the provider. */
  saved(uid: string): void
  /** The check of the guest's current payout data; undefined when they have none. */
  status(uid: string): Awaitable<{ state: PortalPayoutCheckState } | undefined>
}

export interface PortalPayoutInfo {
  inPayoutRun: boolean
  payoutDateMs: number | null
}

export interface PortalPayoutTransaction {
  transactionId: number
  amountCents: number
  bookedAtMs: number
  targetAccountName: string
  targetAccountType: string
}

export interface PortalConfig {
  nodeId: number
  testMode: boolean
  testModeMessage: string
  eventName: string
  dataPrivacyUrl: string
  contactEmail: string
  aboutPageUrl: string
  payoutEnabled: boolean
  /** ISO 4217. */
  currency: string
  topupEnabled: boolean
  /** Upper-case ISO 3166 alpha-2 codes of IBANs accepted for payouts; null = any. */
  allowedCountryCodes: string[] | null
  /** Per language ('en-US', 'de-DE'), texts by key. */
  translationTexts: Record<string, Record<string, string>>
  bonLogoBlobId: string | null
  feedbackUrl: string | null
  /** Receipt header. */
  bon: { title: string; issuer: string; address: string; ustId: string }
  /** Bounds of one online top-up. */
  minTopupCents: number
  maxTopupCents: number
}

export interface PortalBlob {
  contentType: string
  data: Uint8Array
}

export interface CustomerInfoUpdate {
  /** Already normalised and checked (checkCustomerInfo). */
  iban: string
  accountName: string
  email: string
  donationCents: number
}

export interface PortalBackend {
  /** The uid of the wristband with this PIN, or undefined. Must not log the PIN. */
  findWristbandByPin(pin: string): Awaitable<string | undefined>
  createSession(session: PortalSession): Awaitable<void>
  /** True when the session exists, belongs to `uid`, is not revoked and not expired at `nowMs`. */
  sessionActive(jti: string, uid: string, nowMs: number): Awaitable<boolean>
  /** Idempotent. */
  revokeSession(jti: string, nowMs: number): Awaitable<void>
  customer(uid: string): Awaitable<PortalCustomer | undefined>
  /**
   * sessionActive and then customer in one go, for the check every authenticated request makes: 'session_ended'
   * when the session is not active, else the customer (undefined when unknown). The gateway's reads them in one
   * database read transaction instead of one per statement. Absent: the two are asked one after the other.
   */
  sessionCustomer?(jti: string, uid: string, nowMs: number): Awaitable<PortalCustomer | undefined | 'session_ended'>
  orders(uid: string): Awaitable<PortalOrder[]>
  /** Throws PortalError 422 (field `donation`) when the donation exceeds the balance; checks and writes atomically. */
  updateCustomerInfo(uid: string, info: CustomerInfoUpdate): Awaitable<void>
  /** Records that the whole remaining balance is to be donated at payout. */
  donateAll(uid: string): Awaitable<void>
  payoutInfo(uid: string): Awaitable<PortalPayoutInfo>
  payoutTransactions(uid: string): Awaitable<PortalPayoutTransaction[]>
  /** The guest's bank transfer details; undefined when the organiser takes no bank transfers. */
  bankTransfer?(uid: string): Awaitable<PortalBankTransfer | undefined>
  /** Refunds to the card; absent when no payment provider of the event can refund. */
  cardRefunds?: CardRefundPortalService
  /** Whether the holder name matches the IBAN (the provider's SEPA check); absent when the event has no such check. */
  payoutCheck?: PayoutCheckPortalService
  config(): Awaitable<PortalConfig>
  /**
   * config().nodeId alone, for the routes that need nothing else of the config (the account view a guest
   * polls): config() reads the event's name, currency and texts each time. Absent: config() is asked.
   */
  nodeId?(): Awaitable<number>
  /** undefined for an unknown or malformed id: the caller answers 404 either way. */
  receipt(receiptId: string): Awaitable<PortalReceipt | undefined>
  blob(blobId: string): Awaitable<PortalBlob | undefined>
  /** Starts an online top-up; `orderUuid` is the portal's handle of it, owned by `uid`. */
  createCheckout(uid: string, amountCents: number): Promise<{ orderUuid: string; checkoutId: string; redirectUrl?: string }>
  /** Status of the guest's own checkout, named by either handle; PortalError 404 when it is not this guest's. */
  checkCheckout(uid: string, ref: { orderUuid: string } | { checkoutId: string }): Promise<{ status: CheckoutStatus }>
}
