// The simulator's in-memory Stripe account: every object by id, in creation
// order, plus the events it has emitted. Objects are stored in the JSON shape
// Stripe returns (snake_case), so handlers hand them out as they are.
import { randomBytes } from 'node:crypto'
import type { TestCard } from './cards.js'
import type { Metadata } from './params.js'

export type StripeObject = { id: string; object: string; created?: number; [key: string]: unknown }

export interface Customer extends StripeObject {
  object: 'customer'
  created: number
  email: string | null
  name: string | null
  phone: string | null
  description: string | null
  metadata: Metadata
  invoice_settings: { custom_fields: null; default_payment_method: string | null; footer: null; rendering_options: null }
  [key: string]: unknown
}

export interface PaymentMethod extends StripeObject {
  object: 'payment_method'
  created: number
  type: 'card' | 'card_present'
  customer: string | null
  metadata: Metadata
  [key: string]: unknown
}

export type PaymentIntentStatus =
  | 'requires_payment_method'
  | 'requires_confirmation'
  | 'requires_action'
  | 'processing'
  | 'requires_capture'
  | 'canceled'
  | 'succeeded'

export interface PaymentIntent extends StripeObject {
  object: 'payment_intent'
  created: number
  amount: number
  amount_capturable: number
  amount_received: number
  currency: string
  customer: string | null
  payment_method: string | null
  payment_method_types: string[]
  capture_method: 'automatic' | 'automatic_async' | 'manual'
  status: PaymentIntentStatus
  metadata: Metadata
  last_payment_error: unknown
  latest_charge: string | null
  canceled_at: number | null
  cancellation_reason: string | null
  setup_future_usage: 'off_session' | 'on_session' | null
  [key: string]: unknown
}

export type SetupIntentStatus = 'requires_payment_method' | 'requires_confirmation' | 'requires_action' | 'processing' | 'canceled' | 'succeeded'

export interface SetupIntent extends StripeObject {
  object: 'setup_intent'
  created: number
  customer: string | null
  payment_method: string | null
  payment_method_types: string[]
  status: SetupIntentStatus
  usage: 'off_session' | 'on_session'
  metadata: Metadata
  last_setup_error: unknown
  [key: string]: unknown
}

export interface CheckoutSession extends StripeObject {
  object: 'checkout.session'
  created: number
  amount_total: number
  currency: string
  client_reference_id: string | null
  success_url: string | null
  cancel_url: string | null
  payment_intent: string | null
  payment_status: 'paid' | 'unpaid' | 'no_payment_required'
  status: 'open' | 'complete' | 'expired'
  metadata: Metadata
  expires_at: number
  url: string | null
  [key: string]: unknown
}

export interface TerminalLocation extends StripeObject {
  object: 'terminal.location'
  display_name: string
  metadata: Metadata
  [key: string]: unknown
}

export interface ReaderAction {
  type: 'process_payment_intent' | 'process_setup_intent'
  status: 'in_progress' | 'succeeded' | 'failed'
  failure_code: string | null
  failure_message: string | null
  process_payment_intent?: { payment_intent: string }
  process_setup_intent?: { setup_intent: string; generated_card?: string }
}

export interface TerminalReader extends StripeObject {
  object: 'terminal.reader'
  label: string
  location: string | null
  status: 'online' | 'offline'
  action: ReaderAction | null
  metadata: Metadata
  [key: string]: unknown
}

export type RefundStatus = 'pending' | 'requires_action' | 'succeeded' | 'failed' | 'canceled'
export type RefundFailureReason =
  | 'lost_or_stolen_card'
  | 'expired_or_canceled_card'
  | 'charge_for_pending_refund_disputed'
  | 'insufficient_funds'
  | 'declined'
  | 'merchant_request'
  | 'unknown'

export interface Refund extends StripeObject {
  object: 'refund'
  created: number
  amount: number
  charge: string | null
  currency: string
  metadata: Metadata
  payment_intent: string
  reason: 'duplicate' | 'fraudulent' | 'requested_by_customer' | null
  status: RefundStatus
  failure_reason?: RefundFailureReason
  [key: string]: unknown
}

export interface StripeEvent extends StripeObject {
  object: 'event'
  type: string
  created: number
  data: { object: StripeObject }
}

export interface SimState {
  customers: Map<string, Customer>
  deletedCustomers: Set<string>
  paymentMethods: Map<string, PaymentMethod>
  paymentIntents: Map<string, PaymentIntent>
  refunds: Map<string, Refund>
  setupIntents: Map<string, SetupIntent>
  checkoutSessions: Map<string, CheckoutSession>
  locations: Map<string, TerminalLocation>
  readers: Map<string, TerminalReader>
  /** Registration codes a (simulated) physical terminal shows, waiting to be paired. */
  registrationCodes: Map<string, { deviceType: string; serialNumber: string }>
  events: Map<string, StripeEvent>
  /** The test card behind each card payment method (never part of the object Stripe shows). */
  cards: Map<string, TestCard>
  /** `payment_intent_data` of each checkout session, used when its PaymentIntent is made. */
  checkoutIntentData: Map<string, { metadata: Metadata; description: string | null }>
}

export function createState(): SimState {
  return {
    customers: new Map(),
    deletedCustomers: new Set(),
    paymentMethods: new Map(),
    paymentIntents: new Map(),
    refunds: new Map(),
    setupIntents: new Map(),
    checkoutSessions: new Map(),
    locations: new Map(),
    readers: new Map(),
    registrationCodes: new Map(),
    events: new Map(),
    cards: new Map(),
    checkoutIntentData: new Map(),
  }
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** Stripe-like ids: a prefix and random base62 (`cus_Nf3k...`). */
export function newId(prefix: string, length = 24): string {
  const bytes = randomBytes(length)
  let out = ''
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length]
  return `${prefix}_${out}`
}

/** What every resource handler gets: the account, the clock and a way to emit events. */
export interface SimContext {
  state: SimState
  /** Unix seconds, as Stripe's `created`. */
  nowSeconds(): number
  /** The simulator's own base URL (hosted checkout pages live there). */
  baseUrl(): string
  /** Records an event (a snapshot of the object) and delivers it to the webhook URL, if any. */
  emit(type: string, object: StripeObject): void
}
