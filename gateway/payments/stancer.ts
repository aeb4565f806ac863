// Adapter for the payments provider's v2 API (Stancer) through stancer-client.ts:
// one payment intent per online top-up, paid on the provider's hosted page.
//
//   createCheckout -> POST /v2/payment_intents {amount (integer cents, as ours), currency (lower case
//                     here), order_id = our checkout id, return_url, description (3..64 characters),
//                     methods_allowed: [card], capture: true}; the guest goes to the intent's `url`
//   getCheckout    -> GET the intent, and its payment when it has one:
//                       canceled                             -> failed (it can no longer be paid)
//                       captured/authorized + a paid payment -> paid
//                       require_payment_method,
//                       require_authentication               -> pending (a declined card or a failed
//                                                               3-D Secure challenge leaves the intent
//                                                               payable: the hosted page offers another try)
//   parseWebhook   -> the provider's webhooks are NOT signed, so one is only a hint: it names an intent
//                     and online-topups asks the provider itself (GET) before it books anything. A forged
//                     webhook therefore books nothing; at worst it costs one GET.
//   refunds        -> POST /v2/refunds {payment: the intent's payment, amount}; the payment's refunds
//                     (GET /v2/payments/{id}/refunds) for refundsOf. to_refund / refund_sent -> pending,
//                     refunded -> succeeded, not_honored / failed -> refused (answered with its id and a
//                     reason); a 409 (nothing refundable left, not paid) is a RefundRefusedError.
import type { Logger } from 'pino'
import {
  assertCheckoutMatches,
  hostedPageUrl,
  ProviderError,
  RefundRefusedError,
  WebhookIgnoredError,
  WebhookVerificationError,
  type CardRefunds,
  type CheckoutStatus,
  type CreateCheckoutInput,
  type PaymentProvider,
  type ProviderCheckout,
  type ProviderRefund,
  type ProviderRefundStatus,
} from './provider.js'
import { isStancerId, type StancerClient, type StancerIdPrefix, type StancerPaymentIntent, type StancerRefund } from './stancer-client.js'

/** A webhook body is one object of a few hundred bytes; anything much larger is not the provider's. */
const MAX_WEBHOOK_BYTES = 16 * 1024
const CURRENCY = /^[A-Z]{3}$/
const EVENT_TYPE = /^[a-z_]{1,40}\.[a-z_]{1,40}$/
/** The provider's order_id is 1..36 characters: our checkout ids (UUIDs) are 36. */
const MAX_ORDER_ID = 36
/** Payment statuses that mean the guest's money was taken (a later dispute is handled as a dispute). */
const PAID_PAYMENT = new Set(['to_capture', 'capture_sent', 'captured', 'disputed'])

const REFUND_STATUS: Record<string, ProviderRefundStatus> = {
  to_refund: 'pending',
  refund_sent: 'pending',
  refunded: 'succeeded',
  not_honored: 'refused',
  failed: 'refused',
}
/** What a guest reads when the card's bank did not take the refund (no card data, no provider text). */
export const STANCER_REFUND_NOT_HONORED = 'The card\'s bank did not accept the refund.'
export const STANCER_REFUND_NOT_REFUNDABLE = 'The card payment can no longer be refunded (already refunded, or not paid).'

export interface StancerWebhookEvent {
  /** `<object>.<status>`, e.g. `payment_intent.captured`, `refund.refunded`, `dispute.open`. */
  type: string
  /** The event's own id, when it has a usable one. */
  eventId?: string
  /** The object the event is about, by its id prefix. */
  object: { prefix: StancerIdPrefix; id: string }
}

const OBJECT_PREFIX: Record<string, StancerIdPrefix> = {
  payment_intent: 'pi',
  payment: 'paym',
  refund: 'refd',
  dispute: 'dspt',
  payout: 'pout',
  sepa_check: 'chck',
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Reads an (unsigned) webhook: `{id, type: "<object>.<status>", created, data: <the object>}`.
 * Only the type and the object's id are taken, both checked; nothing else of the body is
 * believed. For other modules (disputes) too: they must read the object back the same way.
 */
export function parseStancerWebhookEvent(rawBody: Buffer): StancerWebhookEvent {
  if (rawBody.length > MAX_WEBHOOK_BYTES) throw new WebhookVerificationError('webhook body too large')
  let event: unknown
  try {
    event = JSON.parse(rawBody.toString('utf8'))
  } catch {
    throw new WebhookVerificationError('webhook body is not JSON')
  }
  if (!isRecord(event)) throw new WebhookVerificationError('webhook body is not an object')
  if (typeof event.type !== 'string' || !EVENT_TYPE.test(event.type)) throw new WebhookVerificationError('webhook has no usable event type')
  const kind = event.type.split('.')[0]!
  const prefix = OBJECT_PREFIX[kind]
  if (prefix === undefined) throw new WebhookIgnoredError(`webhook about ${kind.slice(0, 40)}, which wristpay does not use`)
  const objectId = isRecord(event.data) ? event.data.id : undefined
  if (!isStancerId(prefix, objectId)) throw new WebhookVerificationError(`webhook names no valid ${prefix}_ id`)
  const eventId = typeof event.id === 'string' && /^[a-z]{2,8}_[a-zA-Z0-9]{24}$/.test(event.id) ? event.id : undefined
  return { type: event.type, object: { prefix, id: objectId }, ...(eventId === undefined ? {} : { eventId }) }
}

export interface StancerProviderOptions {
  client: StancerClient
  logger: Logger
}

export function createStancerProvider(options: StancerProviderOptions): PaymentProvider {
  const { client, logger: log } = options

  function checkIntentId(providerCheckoutId: string): void {
    if (!isStancerId('pi', providerCheckoutId)) throw new RangeError('not a payment intent id')
  }

  async function statusOf(intent: StancerPaymentIntent): Promise<CheckoutStatus> {
    switch (intent.status) {
      case 'canceled':
        return 'failed'
      case 'require_payment_method':
      case 'require_authentication':
        return 'pending'
      case 'authorized':
      case 'captured': {
        if (intent.payment === null) throw new ProviderError(`stancer intent is ${intent.status} without a payment`)
        const payment = await client.getPayment(intent.payment)
        // Paid only when the payment itself says so, for the intent's amount: the intent alone is not enough.
        if (payment.amount !== intent.amount || payment.currency !== intent.currency || payment.order_id !== intent.order_id) {
          throw new ProviderError('stancer payment differs from its intent (amount, currency or order)')
        }
        if (PAID_PAYMENT.has(payment.status)) return 'paid'
        // An authorisation not captured yet: the money is not taken (we always ask for capture).
        if (payment.status === 'authorized') return 'pending'
        throw new ProviderError(`stancer intent is ${intent.status} but its payment is ${payment.status}`)
      }
      default:
        throw new ProviderError(`stancer intent has an unknown status '${intent.status}'`)
    }
  }

  function toProviderCheckout(intent: StancerPaymentIntent, status: CheckoutStatus): ProviderCheckout {
    if (intent.order_id === null) throw new ProviderError('stancer intent has no order_id')
    return { status, amountCents: intent.amount, currency: intent.currency.toUpperCase(), reference: intent.order_id }
  }

  function description(text: string): string {
    const clean = text.replace(/\s+/g, ' ').trim().slice(0, 64)
    return clean.length >= 3 ? clean : 'Top-up'
  }

  function toProviderRefund(refund: StancerRefund): ProviderRefund {
    const status = REFUND_STATUS[refund.status]
    if (status === undefined) throw new ProviderError(`stancer refund has an unknown status '${refund.status}'`)
    return { id: refund.id, amountCents: refund.amount, status, ...(status === 'refused' ? { reason: STANCER_REFUND_NOT_HONORED } : {}) }
  }

  /** The intent's payment, or undefined when nothing was paid on it. */
  async function paymentOf(providerCheckoutId: string): Promise<{ intent: StancerPaymentIntent; payment: string | undefined }> {
    checkIntentId(providerCheckoutId)
    const intent = await client.getPaymentIntent(providerCheckoutId)
    return { intent, payment: intent.payment ?? undefined }
  }

  const refunds: CardRefunds = {
    // The provider has no idempotency key for refunds: requestId cannot go with the call. That is why
    // refunds.ts asks refundsOf() before it ever sends a refund whose outcome is unknown again.
    async refund({ providerCheckoutId, amountCents, currency }) {
      if (!Number.isSafeInteger(amountCents) || amountCents <= 0) throw new RangeError('amountCents must be a positive integer')
      const { intent, payment } = await paymentOf(providerCheckoutId)
      if (intent.currency.toUpperCase() !== currency) throw new ProviderError('stancer intent is in another currency than the refund')
      if (payment === undefined) throw new RefundRefusedError(STANCER_REFUND_NOT_REFUNDABLE)
      let made: StancerRefund
      try {
        made = await client.createRefund({ payment, amount: amountCents })
      } catch (err) {
        // 409: the payment's state does not allow it (refunded in full, not paid, ...): nothing was refunded.
        if (err instanceof ProviderError && err.providerStatus === 409) throw new RefundRefusedError(STANCER_REFUND_NOT_REFUNDABLE)
        throw err
      }
      const reported = toProviderRefund(made)
      log.info({ provider: 'stancer', providerCheckoutId, providerRefund: made.id, status: made.status, amount: amountCents }, 'stancer refund made')
      // A refund the card's bank did not honour is answered as a refused refund WITH its id, not thrown:
      // the caller links the id to its part, so that this refused refund, which stays in the payment's
      // list, is never taken later for another part's refund of the same amount whose outcome is unknown.
      return reported
    },

    async refundsOf(providerCheckoutId) {
      const { payment } = await paymentOf(providerCheckoutId)
      if (payment === undefined) return []
      return (await client.listPaymentRefunds(payment)).map(toProviderRefund)
    },
  }

  return {
    name: 'stancer',

    async createCheckout(input: CreateCheckoutInput) {
      if (!Number.isSafeInteger(input.amountCents) || input.amountCents <= 0) throw new RangeError('amountCents must be a positive integer')
      if (!CURRENCY.test(input.currency)) throw new RangeError('currency must be an ISO 4217 code')
      if (input.reference.length === 0 || input.reference.length > MAX_ORDER_ID) throw new RangeError(`reference must be 1..${MAX_ORDER_ID} characters (the provider's order_id)`)
      let returnUrl: URL
      try {
        returnUrl = new URL(input.returnUrl)
      } catch {
        throw new RangeError('returnUrl must be an absolute URL')
      }
      if (returnUrl.protocol !== 'https:' && returnUrl.protocol !== 'http:') throw new RangeError('returnUrl must be http(s)')
      const intent = await client.createPaymentIntent({
        amount: input.amountCents,
        currency: input.currency.toLowerCase(),
        order_id: input.reference,
        return_url: returnUrl.href,
        description: description(input.description),
        // Card only: a top-up must be paid when the guest comes back, and refunds go back to a card.
        methods_allowed: ['card'],
        capture: true,
      })
      const created = toProviderCheckout(intent, 'pending')
      // Refuse to send a guest to a page that charges something other than what we asked for.
      assertCheckoutMatches('stancer', created, input)
      if (intent.status !== 'require_payment_method') throw new ProviderError(`stancer created an intent that is ${intent.status}`)
      const redirectUrl = hostedPageUrl('stancer', intent.url)
      log.info({ provider: 'stancer', providerCheckoutId: intent.id, reference: input.reference }, 'stancer payment intent created')
      return { providerCheckoutId: intent.id, redirectUrl }
    },

    async getCheckout(providerCheckoutId: string) {
      checkIntentId(providerCheckoutId)
      const intent = await client.getPaymentIntent(providerCheckoutId)
      return toProviderCheckout(intent, await statusOf(intent))
    },

    async parseWebhook(rawBody) {
      const event = parseStancerWebhookEvent(rawBody)
      // Only an intent's own events concern a checkout: each payment on it comes with one.
      if (event.object.prefix !== 'pi') throw new WebhookIgnoredError(`webhook ${event.type} is not about a payment intent`)
      log.debug({ provider: 'stancer', eventType: event.type, eventId: event.eventId, providerCheckoutId: event.object.id }, 'stancer webhook names an intent (unsigned: confirmed with the provider)')
      return { providerCheckoutId: event.object.id }
    },

    refunds,
  }
}
