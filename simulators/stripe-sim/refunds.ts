// /v1/refunds: create (by payment_intent or charge, whole or partial),
// retrieve, list (by payment_intent or charge), and the outcomes a test can
// force. As on Stripe: only a succeeded payment can be refunded; refunds that
// did not fail or get canceled count against what was received, so an
// over-refund is a 400 (`charge_already_refunded` once nothing is left,
// `amount_too_large` otherwise) and nothing is made. Card refunds succeed at
// once (Stripe's test mode) unless the test holds them pending or makes the
// next ones fail with a `failure_reason`. Events: refund.created,
// refund.updated, refund.failed.
import { paramInvalid, paramMissing, resourceMissing, StripeSimError } from './errors.js'
import { applyMetadata, optEnum, optInteger, optString, rejectUnknown, type Params } from './params.js'
import { getPaymentIntent } from './payment-intents.js'
import { paginate, withExpand, type Route } from './route.js'
import { newId, type PaymentIntent, type Refund, type RefundFailureReason, type SimContext } from './state.js'

const REASONS = ['duplicate', 'fraudulent', 'requested_by_customer'] as const
export const REFUND_FAILURE_REASONS: readonly RefundFailureReason[] = [
  'lost_or_stolen_card',
  'expired_or_canceled_card',
  'charge_for_pending_refund_disputed',
  'insufficient_funds',
  'declined',
  'merchant_request',
  'unknown',
]

/** What the next refunds do; set through the simulator's controls. */
export interface RefundBehaviour {
  /** New refunds stay `pending` until settleRefund() (otherwise they succeed at once, as card refunds do in test mode). */
  hold: boolean
  /** The next refunds made fail at once with this reason (first in, first used). */
  failures: RefundFailureReason[]
}

export function createRefundBehaviour(): RefundBehaviour {
  return { hold: false, failures: [] }
}

export function getRefund(ctx: SimContext, id: string, param = 'id'): Refund {
  const refund = ctx.state.refunds.get(id)
  if (!refund) throw resourceMissing('refund', id, param)
  return refund
}

/** What is left to refund on an intent: received less every refund that did not fail or get canceled. */
export function refundableLeft(ctx: SimContext, pi: PaymentIntent): number {
  let taken = 0
  for (const r of ctx.state.refunds.values()) {
    if (r.payment_intent === pi.id && r.status !== 'failed' && r.status !== 'canceled') taken += r.amount
  }
  return pi.amount_received - taken
}

function intentOfCharge(ctx: SimContext, charge: string): PaymentIntent {
  for (const pi of ctx.state.paymentIntents.values()) if (pi.latest_charge === charge) return pi
  throw resourceMissing('charge', charge, 'charge')
}

function createRefund(ctx: SimContext, behaviour: RefundBehaviour, params: Params): Refund {
  rejectUnknown(params, ['payment_intent', 'charge', 'amount', 'reason', 'metadata', 'expand', 'instructions_email', 'origin'])
  const piId = optString(params, 'payment_intent')
  const chargeId = optString(params, 'charge')
  if (piId === undefined && chargeId === undefined) throw paramMissing('payment_intent')
  if (piId !== undefined && chargeId !== undefined) {
    throw paramInvalid('charge', 'You cannot specify both a charge and a payment_intent.')
  }
  const pi = piId !== undefined ? getPaymentIntent(ctx, piId, 'payment_intent') : intentOfCharge(ctx, chargeId as string)
  if (pi.status !== 'succeeded' || pi.amount_received <= 0) {
    throw new StripeSimError(400, {
      type: 'invalid_request_error',
      code: 'charge_not_refundable',
      message: `This PaymentIntent (${pi.id}) does not have a successful charge to refund.`,
      ...(piId !== undefined ? { param: 'payment_intent' } : {}),
    })
  }
  const left = refundableLeft(ctx, pi)
  if (left <= 0) {
    throw new StripeSimError(400, {
      type: 'invalid_request_error',
      code: 'charge_already_refunded',
      message: `Charge ${pi.latest_charge ?? pi.id} has already been refunded.`,
    })
  }
  const amount = optInteger(params, 'amount', 1, 99_999_999) ?? left
  if (amount > left) {
    throw new StripeSimError(400, {
      type: 'invalid_request_error',
      code: 'amount_too_large',
      message: `Refund amount (${amount} ${pi.currency} minor units) is greater than unrefunded amount on charge (${left} ${pi.currency} minor units).`,
      param: 'amount',
    })
  }
  const failure = behaviour.failures.shift()
  const refund: Refund = {
    id: newId('re', 24),
    object: 'refund',
    amount,
    balance_transaction: newId('txn', 24),
    charge: pi.latest_charge,
    created: ctx.nowSeconds(),
    currency: pi.currency,
    destination_details: { type: 'card', card: { type: 'refund', reference_status: 'pending', reference_type: 'acquirer_reference_number', reference: null } },
    metadata: applyMetadata({}, params),
    payment_intent: pi.id,
    payment_method: pi.payment_method,
    reason: optEnum(params, 'reason', REASONS) ?? null,
    receipt_number: null,
    source_transfer_reversal: null,
    status: failure !== undefined || behaviour.hold ? 'pending' : 'succeeded',
    transfer_reversal: null,
  }
  ctx.state.refunds.set(refund.id, refund)
  ctx.emit('refund.created', refund)
  if (failure !== undefined) failRefund(ctx, refund, failure)
  return refund
}

function failRefund(ctx: SimContext, refund: Refund, reason: RefundFailureReason): void {
  refund.status = 'failed'
  refund.failure_reason = reason
  refund.failure_balance_transaction = newId('txn', 24)
  ctx.emit('refund.failed', refund)
  ctx.emit('refund.updated', refund)
}

/** A pending refund ends: paid out, failed at the card's bank (with its reason), or canceled. */
export function settleRefund(ctx: SimContext, refund: Refund, outcome: 'succeeded' | 'failed' | 'canceled', failureReason: RefundFailureReason = 'declined'): Refund {
  if (refund.status !== 'pending' && refund.status !== 'requires_action') {
    throw new StripeSimError(400, { type: 'invalid_request_error', message: `Refund ${refund.id} is ${refund.status}: only a pending refund can settle.` })
  }
  if (outcome === 'failed') {
    failRefund(ctx, refund, failureReason)
    return refund
  }
  refund.status = outcome
  ctx.emit('refund.updated', refund)
  return refund
}

export function refundRoutes(behaviour: RefundBehaviour): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/refunds',
      handle: (ctx, { params }) => withExpand(ctx, createRefund(ctx, behaviour, params), params),
    },
    {
      method: 'GET',
      path: '/v1/refunds/:id',
      handle: (ctx, { params, pathParams }) => withExpand(ctx, getRefund(ctx, pathParams.id as string), params),
    },
    {
      method: 'GET',
      path: '/v1/refunds',
      handle(ctx, { params }) {
        rejectUnknown(params, ['payment_intent', 'charge', 'limit', 'starting_after', 'ending_before', 'created', 'expand'])
        const paymentIntent = optString(params, 'payment_intent')
        const charge = optString(params, 'charge')
        // Stripe answers an unknown intent with 404, not an empty list.
        if (paymentIntent !== undefined) getPaymentIntent(ctx, paymentIntent, 'payment_intent')
        const all = [...ctx.state.refunds.values()].filter(
          (r) => (paymentIntent === undefined || r.payment_intent === paymentIntent) && (charge === undefined || r.charge === charge),
        )
        return paginate(all, params, '/v1/refunds')
      },
    },
  ]
}
