// Refunds to the card for the Stripe Checkout adapter (the CardRefunds
// capability of provider.ts), through the official `stripe` package.
//
//   refund    -> the checkout session's payment intent (checkout.sessions.retrieve: `payment_intent`),
//                then refunds.create {payment_intent, amount} with Idempotency-Key
//                `wristpay-refund-<requestId>`: the package's own retries (a timeout, a 5xx) replay
//                the first result instead of refunding twice, and refunds.ts never sends the same
//                requestId again (a new attempt after recovery found nothing has a new one).
//   refundsOf -> refunds.list {payment_intent}, every page.
//
// Amounts are integer cents at Stripe too (minor units): no conversion. Statuses: pending and
// requires_action -> pending, succeeded -> succeeded, failed / canceled -> refused with the
// failure_reason in a guest's words. A 400 for the refund itself (charge_already_refunded,
// amount_too_large, charge_not_refundable, ...) means Stripe made nothing: RefundRefusedError.
// Anything else (timeouts, 5xx, 404, a body we cannot trust) is a ProviderError: outcome unknown.
import type Stripe from 'stripe'
import type { Logger } from 'pino'
import { ProviderError, RefundRefusedError, type CardRefunds, type ProviderRefund, type ProviderRefundStatus } from './provider.js'

/** Checkout Session ids: `cs_test_...` / `cs_live_...`; never anything with path characters. */
export const STRIPE_SESSION_ID = /^cs_[A-Za-z0-9_]{1,250}$/
const PAYMENT_INTENT_ID = /^pi_[A-Za-z0-9_]{1,250}$/
const REFUND_ID = /^re_[A-Za-z0-9_]{1,250}$/
/** Pages of 100 refunds read for one payment at most: far more than a top-up ever has. */
const MAX_LIST_PAGES = 20

const REFUND_STATUS: Record<string, ProviderRefundStatus> = {
  pending: 'pending',
  requires_action: 'pending',
  succeeded: 'succeeded',
  failed: 'refused',
  canceled: 'refused',
}

/** What a guest reads for a refund Stripe did not make or that failed (no card data, no provider text). */
export const STRIPE_REFUND_REASONS = {
  bankRefused: "The card's bank did not accept the refund.",
  cardGone: 'The card can no longer receive refunds (expired, cancelled, lost or stolen).',
  canceled: 'The refund was cancelled at the payment provider.',
  alreadyRefunded: 'The card payment has already been refunded in full.',
  tooLarge: 'The card payment has less left to refund than asked.',
  notRefundable: 'The card payment cannot be refunded (not paid, or disputed).',
  refused: 'The payment provider refused the refund.',
} as const

const FAILURE_REASON: Record<string, string> = {
  lost_or_stolen_card: STRIPE_REFUND_REASONS.cardGone,
  expired_or_canceled_card: STRIPE_REFUND_REASONS.cardGone,
  insufficient_funds: STRIPE_REFUND_REASONS.bankRefused,
  declined: STRIPE_REFUND_REASONS.bankRefused,
  charge_for_pending_refund_disputed: STRIPE_REFUND_REASONS.notRefundable,
  merchant_request: STRIPE_REFUND_REASONS.canceled,
  unknown: STRIPE_REFUND_REASONS.bankRefused,
}

/** Error codes of a 400 that refuses this refund; other 400s are refusals too, in general words. */
const REFUSAL_REASON: Record<string, string> = {
  charge_already_refunded: STRIPE_REFUND_REASONS.alreadyRefunded,
  amount_too_large: STRIPE_REFUND_REASONS.tooLarge,
  charge_not_refundable: STRIPE_REFUND_REASONS.notRefundable,
  charge_disputed: STRIPE_REFUND_REASONS.notRefundable,
}

export interface StripeRefundsOptions {
  stripe: Stripe
  logger: Logger
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Wraps what the stripe package throws, without secrets or bodies. */
function providerError(err: unknown, what: string): ProviderError {
  if (err instanceof ProviderError) return err
  const e = err as { type?: unknown; statusCode?: unknown; code?: unknown }
  const type = typeof e.type === 'string' ? e.type.slice(0, 64) : 'Error'
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined
  const code = typeof e.code === 'string' ? ` ${e.code.slice(0, 64)}` : ''
  return new ProviderError(`stripe ${what} failed: ${type}${code}${status === undefined ? '' : ` (HTTP ${status})`}`, status)
}

/** An id field that may come expanded (an object with an id) or as the id itself. */
function idOf(value: unknown): unknown {
  return isRecord(value) ? value.id : value
}

export function createStripeRefunds(options: StripeRefundsOptions): CardRefunds {
  const { stripe, logger: log } = options

  /** The payment intent behind a checkout session, or undefined when nothing was paid on it yet. */
  async function paymentOf(providerCheckoutId: string): Promise<{ paymentIntent: string | undefined; currency: string }> {
    if (!STRIPE_SESSION_ID.test(providerCheckoutId)) throw new RangeError('not a stripe checkout session id')
    let session: Stripe.Checkout.Session
    try {
      session = await stripe.checkout.sessions.retrieve(providerCheckoutId)
    } catch (err) {
      throw providerError(err, 'checkout.sessions.retrieve')
    }
    if (!isRecord(session) || session.id !== providerCheckoutId) throw new ProviderError('stripe answered with another session')
    const currency = typeof session.currency === 'string' ? session.currency.toUpperCase() : ''
    if (!/^[A-Z]{3}$/.test(currency)) throw new ProviderError('stripe session has an unusable currency')
    const pi = idOf(session.payment_intent)
    if (pi === null || pi === undefined) return { paymentIntent: undefined, currency }
    if (typeof pi !== 'string' || !PAYMENT_INTENT_ID.test(pi)) throw new ProviderError('stripe session names an unusable payment intent')
    return { paymentIntent: pi, currency }
  }

  /** A refund as Stripe reports it, checked field by field: it must be of this payment and currency. */
  function toProviderRefund(raw: unknown, paymentIntent: string, currency: string): ProviderRefund {
    if (!isRecord(raw) || raw.object !== 'refund') throw new ProviderError('stripe answered something that is not a refund')
    if (typeof raw.id !== 'string' || !REFUND_ID.test(raw.id)) throw new ProviderError('stripe refund has an unusable id')
    const amount = raw.amount
    if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0) throw new ProviderError('stripe refund has an unusable amount')
    if (idOf(raw.payment_intent) !== paymentIntent) throw new ProviderError('stripe refund is of another payment')
    if (typeof raw.currency !== 'string' || raw.currency.toUpperCase() !== currency) throw new ProviderError('stripe refund is in another currency')
    const status = typeof raw.status === 'string' && Object.hasOwn(REFUND_STATUS, raw.status) ? REFUND_STATUS[raw.status]! : undefined
    if (status === undefined) throw new ProviderError('stripe refund has an unknown status')
    if (status !== 'refused') return { id: raw.id, amountCents: amount, status }
    const failure = typeof raw.failure_reason === 'string' && Object.hasOwn(FAILURE_REASON, raw.failure_reason) ? FAILURE_REASON[raw.failure_reason]! : undefined
    const reason = raw.status === 'canceled' ? STRIPE_REFUND_REASONS.canceled : (failure ?? STRIPE_REFUND_REASONS.bankRefused)
    return { id: raw.id, amountCents: amount, status, reason }
  }

  /** A 400 about this refund: Stripe made nothing. An idempotency error is not one (the key's first request may have). */
  function refusalOf(err: unknown): RefundRefusedError | undefined {
    const e = err as { statusCode?: unknown; type?: unknown; code?: unknown }
    if (e?.statusCode !== 400 || e.type !== 'StripeInvalidRequestError') return undefined
    const reason = typeof e.code === 'string' && Object.hasOwn(REFUSAL_REASON, e.code) ? REFUSAL_REASON[e.code]! : STRIPE_REFUND_REASONS.refused
    return new RefundRefusedError(reason)
  }

  return {
    async refund({ providerCheckoutId, amountCents, currency, requestId }) {
      if (!Number.isSafeInteger(amountCents) || amountCents <= 0) throw new RangeError('amountCents must be a positive integer')
      if (typeof requestId !== 'string' || requestId.length === 0 || requestId.length > 200) throw new RangeError('requestId must be 1..200 characters')
      const { paymentIntent, currency: paid } = await paymentOf(providerCheckoutId)
      if (paid !== currency) throw new ProviderError('stripe session is in another currency than the refund')
      if (paymentIntent === undefined) throw new RefundRefusedError(STRIPE_REFUND_REASONS.notRefundable)
      let made: Stripe.Refund
      try {
        made = await stripe.refunds.create(
          { payment_intent: paymentIntent, amount: amountCents, metadata: { wristpay_request: requestId } },
          // One key per attempt of a part: the package's own retries of this call replay, never refund twice.
          { idempotencyKey: `wristpay-refund-${requestId}` },
        )
      } catch (err) {
        const refused = refusalOf(err)
        if (refused !== undefined) {
          log.info({ provider: 'stripe', providerCheckoutId, amount: amountCents, reason: refused.reason }, 'stripe refused the refund')
          throw refused
        }
        throw providerError(err, 'refunds.create')
      }
      // Of another amount than asked, it is still the refund this call made: answered as it is, so that
      // refunds.ts links it to the part (never sends again) and raises an alert about the difference.
      const reported = toProviderRefund(made, paymentIntent, currency)
      log.info({ provider: 'stripe', providerCheckoutId, providerRefund: reported.id, status: reported.status, amount: amountCents }, 'stripe refund made')
      // A failed or canceled refund is answered as refused WITH its id (not thrown), so that refunds.ts
      // links it to its part and never takes it later for another part's refund of the same amount.
      return reported
    },

    async refundsOf(providerCheckoutId) {
      const { paymentIntent, currency } = await paymentOf(providerCheckoutId)
      if (paymentIntent === undefined) return []
      const all: ProviderRefund[] = []
      const seen = new Set<string>()
      let startingAfter: string | undefined
      for (let page = 0; page < MAX_LIST_PAGES; page++) {
        let list: Stripe.ApiList<Stripe.Refund>
        try {
          list = await stripe.refunds.list({ payment_intent: paymentIntent, limit: 100, ...(startingAfter === undefined ? {} : { starting_after: startingAfter }) })
        } catch (err) {
          throw providerError(err, 'refunds.list')
        }
        if (!isRecord(list) || list.object !== 'list' || !Array.isArray(list.data)) throw new ProviderError('stripe answered a refund list that is not a list')
        for (const raw of list.data) {
          const refund = toProviderRefund(raw, paymentIntent, currency)
          if (seen.has(refund.id)) throw new ProviderError('stripe listed a refund twice')
          seen.add(refund.id)
          all.push(refund)
        }
        if (list.has_more !== true) return all
        if (list.data.length === 0) throw new ProviderError('stripe refund list says more but gives none')
        startingAfter = all[all.length - 1]!.id
      }
      throw new ProviderError(`stripe lists more than ${MAX_LIST_PAGES * 100} refunds for one payment`)
    },
  }
}
