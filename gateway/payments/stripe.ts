// Adapter for Stripe Checkout (hosted payment page) through the official
// `stripe` package: one Checkout Session in mode `payment` per online top-up.
//
//   createCheckout -> checkout.sessions.create  (client_reference_id and metadata.reference = our
//                     reference; success_url = cancel_url = returnUrl; one line item in minor units)
//   getCheckout    -> checkout.sessions.retrieve (expand payment_intent): paid when payment_status is
//                     'paid'; failed when the session expired or its delayed payment failed
//   parseWebhook   -> stripe.webhooks.constructEvent (Stripe-Signature, HMAC and timestamp tolerance)
//                     for checkout.session.completed / async_payment_succeeded / async_payment_failed /
//                     expired. A webhook only says WHICH checkout changed: the caller books after
//                     getCheckout() confirms it, so a duplicate or replayed event books nothing twice.
//   refunds        -> refunds to the card through the session's payment intent (stripe-refunds.ts).
//
// Stripe amounts are integer minor units, as ours: no conversion. Currencies are lower case at Stripe.
import type Stripe from 'stripe'
import type { Logger } from 'pino'
import {
  assertCheckoutMatches,
  hostedPageUrl,
  ProviderError,
  WebhookIgnoredError,
  WebhookVerificationError,
  type CheckoutStatus,
  type CreateCheckoutInput,
  type PaymentProvider,
  type ProviderCheckout,
} from './provider.js'
import { createStripeRefunds } from './stripe-refunds.js'

/** Stripe's own default tolerance for webhook timestamps (replay protection). */
export const STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
const CURRENCY = /^[A-Z]{3}$/
/** Checkout Session ids: `cs_test_...` / `cs_live_...`; never anything with path characters. */
const SESSION_ID = /^cs_[A-Za-z0-9_]{1,250}$/
const MAX_WEBHOOK_BYTES = 512 * 1024
/** Event types that concern a Checkout Session's payment (configure the endpoint to send these). */
export const STRIPE_CHECKOUT_EVENT_TYPES = [
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'checkout.session.expired',
] as const

/**
 * An authentic Stripe event of a type this adapter does not act on: a
 * WebhookIgnoredError, which the webhook route acknowledges with 2xx so that
 * Stripe stops re-sending an event we will never need.
 */
export class IgnoredWebhookEventError extends WebhookIgnoredError {
  constructor(readonly eventType: string) {
    super(`stripe event type ${eventType} is not a checkout payment event`)
    this.name = 'IgnoredWebhookEventError'
  }
}

export interface StripeProviderOptions {
  /** From createStripeClient(). */
  stripe: Stripe
  /** The webhook endpoint's signing secret (`whsec_...`); never logged. */
  webhookSecret: string
  /** Seconds a signed webhook stays acceptable. Default 300 (Stripe's). */
  webhookToleranceSeconds?: number
  /** Milliseconds since the epoch, for the webhook timestamp check. */
  clock?: () => number
  logger: Logger
}

function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name]
  // Two Stripe-Signature headers is not something Stripe sends: refuse rather than pick one.
  return Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value
}

/** Wraps what the stripe package throws into our error types, without secrets or bodies. */
function providerError(err: unknown, what: string): ProviderError {
  if (err instanceof ProviderError) return err
  const e = err as { type?: unknown; statusCode?: unknown; code?: unknown }
  const type = typeof e.type === 'string' ? e.type : 'Error'
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined
  const code = typeof e.code === 'string' ? ` ${e.code.slice(0, 64)}` : ''
  return new ProviderError(`stripe ${what} failed: ${type}${code}${status === undefined ? '' : ` (HTTP ${status})`}`, status)
}

export function createStripeProvider(options: StripeProviderOptions): PaymentProvider {
  const { stripe, logger: log } = options
  const tolerance = options.webhookToleranceSeconds ?? STRIPE_WEBHOOK_TOLERANCE_SECONDS
  const clock = options.clock ?? Date.now
  if (!options.webhookSecret) throw new Error('stripe webhookSecret is required')
  // The package skips the age check when the tolerance is 0: never allow that.
  if (!Number.isInteger(tolerance) || tolerance < 1) throw new RangeError('webhookToleranceSeconds must be a positive integer')

  function toProviderCheckout(session: Stripe.Checkout.Session): ProviderCheckout {
    if (session.mode !== 'payment') throw new ProviderError('stripe session is not a payment session')
    const amountCents = session.amount_total
    if (typeof amountCents !== 'number' || !Number.isSafeInteger(amountCents) || amountCents <= 0) {
      throw new ProviderError('stripe session has an unusable amount')
    }
    const currency = typeof session.currency === 'string' ? session.currency.toUpperCase() : ''
    if (!CURRENCY.test(currency)) throw new ProviderError('stripe session has an unusable currency')
    const reference = session.client_reference_id ?? session.metadata?.reference
    if (typeof reference !== 'string' || reference.length === 0) throw new ProviderError('stripe session has no reference')
    return { status: statusOf(session), amountCents, currency, reference }
  }

  function statusOf(session: Stripe.Checkout.Session): CheckoutStatus {
    if (session.payment_status === 'paid') return 'paid'
    if (session.status === 'expired') return 'failed'
    if (session.status === 'complete') {
      // Completed but unpaid: a delayed payment method (e.g. SEPA debit) is still
      // processing, or it failed (the intent went back to requires_payment_method).
      const pi = session.payment_intent
      if (pi !== null && typeof pi === 'object') {
        if (pi.status === 'succeeded') return 'paid'
        if (pi.status === 'requires_payment_method' || pi.status === 'canceled') return 'failed'
      }
    }
    return 'pending'
  }

  return {
    name: 'stripe',
    refunds: createStripeRefunds({ stripe, logger: log }),

    async createCheckout(input: CreateCheckoutInput) {
      if (!Number.isSafeInteger(input.amountCents) || input.amountCents <= 0) throw new RangeError('amountCents must be a positive integer')
      if (!CURRENCY.test(input.currency)) throw new RangeError('currency must be an ISO 4217 code')
      if (input.reference.length === 0 || input.reference.length > 200) throw new RangeError('reference must be 1..200 characters')
      let returnUrl: URL
      try {
        returnUrl = new URL(input.returnUrl)
      } catch {
        throw new RangeError('returnUrl must be an absolute URL')
      }
      if (returnUrl.protocol !== 'https:' && returnUrl.protocol !== 'http:') throw new RangeError('returnUrl must be http(s)')
      let session: Stripe.Checkout.Session
      try {
        session = await stripe.checkout.sessions.create(
          {
            mode: 'payment',
            client_reference_id: input.reference,
            success_url: returnUrl.href,
            cancel_url: returnUrl.href,
            line_items: [
              {
                quantity: 1,
                price_data: {
                  currency: input.currency.toLowerCase(),
                  unit_amount: input.amountCents,
                  product_data: { name: input.description.slice(0, 250) || 'Top-up' },
                },
              },
            ],
            metadata: { reference: input.reference },
            payment_intent_data: { metadata: { reference: input.reference } },
          },
          // Our reference makes the call idempotent across our own retries and restarts:
          // creating the checkout twice for one top-up returns the same session.
          { idempotencyKey: `wristpay-checkout-${input.reference}` },
        )
      } catch (err) {
        throw providerError(err, 'checkout.sessions.create')
      }
      const created = toProviderCheckout(session)
      // Refuse to send a guest to a page that charges something other than what we asked for.
      assertCheckoutMatches('stripe', created, input)
      if (!SESSION_ID.test(session.id)) throw new ProviderError('stripe session has an unusable id')
      const redirectUrl = hostedPageUrl('stripe', session.url)
      log.info({ provider: 'stripe', providerCheckoutId: session.id, reference: input.reference }, 'stripe checkout session created')
      return { providerCheckoutId: session.id, redirectUrl }
    },

    async getCheckout(providerCheckoutId: string) {
      if (!SESSION_ID.test(providerCheckoutId)) throw new RangeError('not a stripe checkout session id')
      let session: Stripe.Checkout.Session
      try {
        session = await stripe.checkout.sessions.retrieve(providerCheckoutId, { expand: ['payment_intent'] })
      } catch (err) {
        throw providerError(err, 'checkout.sessions.retrieve')
      }
      if (session.id !== providerCheckoutId) throw new ProviderError('stripe answered with another session')
      return toProviderCheckout(session)
    },

    async parseWebhook(rawBody, headers) {
      if (rawBody.length > MAX_WEBHOOK_BYTES) throw new WebhookVerificationError('webhook body too large')
      const signature = headerValue(headers, 'stripe-signature')
      if (signature === undefined || signature.length === 0 || signature.length > 2048) {
        throw new WebhookVerificationError('Stripe-Signature header missing or malformed')
      }
      let event: Stripe.Event
      try {
        event = stripe.webhooks.constructEvent(rawBody, signature, options.webhookSecret, tolerance, undefined, clock())
      } catch (err) {
        // Signature mismatch, stale timestamp, or a body that is not JSON: all the same to us.
        throw new WebhookVerificationError(`stripe webhook refused: ${(err as Error).message.split('\n')[0]?.slice(0, 200)}`)
      }
      if (!(STRIPE_CHECKOUT_EVENT_TYPES as readonly string[]).includes(event.type)) {
        log.info({ provider: 'stripe', eventId: event.id, eventType: event.type }, 'stripe webhook of another type ignored')
        throw new IgnoredWebhookEventError(event.type)
      }
      const object = event.data?.object as { object?: unknown; id?: unknown } | undefined
      if (object?.object !== 'checkout.session' || typeof object.id !== 'string' || !SESSION_ID.test(object.id)) {
        throw new WebhookVerificationError('stripe webhook does not name a checkout session')
      }
      log.info({ provider: 'stripe', eventId: event.id, eventType: event.type, providerCheckoutId: object.id }, 'stripe webhook verified')
      return { providerCheckoutId: object.id }
    },
  }
}
