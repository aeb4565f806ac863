// /v1/payment_intents: create (optionally confirming), retrieve, update, list,
// confirm, capture, cancel. Confirming charges the test card behind the
// payment method: a declining card answers 402 with Stripe's codes and leaves
// the intent in `requires_payment_method` with `last_payment_error`.
import type { TestCard } from './cards.js'
import { paramInvalid, resourceMissing, StripeSimError, unexpectedState } from './errors.js'
import {
  applyMetadata,
  optBoolean,
  optEnum,
  optInteger,
  optNullableString,
  optString,
  optStringArray,
  rejectUnknown,
  reqChargeAmount,
  reqCurrency,
  type Params,
} from './params.js'
import { attachPaymentMethod, cardError, declineFor, resolvePaymentMethod } from './payment-methods.js'
import { getCustomer } from './customers.js'
import { paginate, withExpand, type Route } from './route.js'
import { newId, type PaymentIntent, type PaymentMethod, type SimContext } from './state.js'

const CAPTURE_METHODS = ['automatic', 'automatic_async', 'manual'] as const
const SUPPORTED_TYPES = ['card', 'card_present']
const CANCELABLE = ['requires_payment_method', 'requires_capture', 'requires_confirmation', 'requires_action', 'processing']
const CANCELLATION_REASONS = ['duplicate', 'fraudulent', 'requested_by_customer', 'abandoned'] as const

export function getPaymentIntent(ctx: SimContext, id: string, param = 'id'): PaymentIntent {
  const pi = ctx.state.paymentIntents.get(id)
  if (!pi) throw resourceMissing('payment_intent', id, param)
  return pi
}

export function createPaymentIntent(
  ctx: SimContext,
  fields: { amount: number; currency: string; customer?: string | null; description?: string | null; metadata?: Record<string, string>; paymentMethodTypes?: string[]; captureMethod?: PaymentIntent['capture_method'] },
): PaymentIntent {
  const id = newId('pi', 24)
  const pi: PaymentIntent = {
    id,
    object: 'payment_intent',
    amount: fields.amount,
    amount_capturable: 0,
    amount_details: { tip: {} },
    amount_received: 0,
    application: null,
    allowed_payment_method_types: null,
    automatic_payment_methods: null,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: fields.captureMethod ?? 'automatic_async',
    client_secret: `${id}_secret_${newId('', 25).slice(1)}`,
    confirmation_method: 'automatic',
    created: ctx.nowSeconds(),
    currency: fields.currency,
    customer: fields.customer ?? null,
    description: fields.description ?? null,
    last_payment_error: null,
    latest_charge: null,
    livemode: false,
    metadata: fields.metadata ?? {},
    next_action: null,
    payment_method: null,
    payment_method_options: {},
    payment_method_types: fields.paymentMethodTypes ?? ['card'],
    processing: null,
    receipt_email: null,
    setup_future_usage: null,
    statement_descriptor: null,
    status: 'requires_payment_method',
  }
  ctx.state.paymentIntents.set(pi.id, pi)
  ctx.emit('payment_intent.created', pi)
  return pi
}

/**
 * Charges `pm` for `pi` (the issuer's answer is the test card's). Used by API
 * confirms and by terminal readers when a card is presented. Throws the 402
 * card error after recording the failure on the intent.
 */
export function chargeIntent(ctx: SimContext, pi: PaymentIntent, pm: PaymentMethod, card?: TestCard): void {
  const decline = card ? card.decline : declineFor(ctx, pm)
  pi.latest_charge = newId('ch', 24)
  if (decline) {
    pi.status = 'requires_payment_method'
    pi.payment_method = null
    pi.last_payment_error = {
      type: 'card_error',
      code: decline.code,
      decline_code: decline.declineCode,
      message: decline.message,
      charge: pi.latest_charge,
      payment_method: structuredClone(pm),
    }
    ctx.emit('payment_intent.payment_failed', pi)
    throw cardError(decline, { payment_intent: structuredClone(pi), payment_method: structuredClone(pm) })
  }
  pi.payment_method = pm.id
  pi.last_payment_error = null
  if (pi.setup_future_usage !== null && pi.customer !== null && pm.type === 'card') {
    const customer = ctx.state.customers.get(pi.customer)
    if (customer) attachPaymentMethod(ctx, pm, customer)
  }
  if (pi.capture_method === 'manual') {
    pi.status = 'requires_capture'
    pi.amount_capturable = pi.amount
    ctx.emit('payment_intent.amount_capturable_updated', pi)
  } else {
    pi.status = 'succeeded'
    pi.amount_received = pi.amount
    ctx.emit('payment_intent.succeeded', pi)
  }
}

function confirm(ctx: SimContext, pi: PaymentIntent, params: Params): void {
  if (pi.status !== 'requires_payment_method' && pi.status !== 'requires_confirmation') {
    throw unexpectedState(
      'payment_intent',
      `This PaymentIntent's payment_method could not be updated because it has a status of ${pi.status}. You may only update the payment_method of a PaymentIntent with one of the following statuses: requires_payment_method, requires_confirmation, requires_action.`,
    )
  }
  const pmId = optString(params, 'payment_method') ?? pi.payment_method
  if (!pmId) {
    throw unexpectedState(
      'payment_intent',
      "You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the PaymentIntent with cus, specify a payment method attached to this customer along with the customer ID.",
    )
  }
  const pm = resolvePaymentMethod(ctx, pmId, 'payment_method')
  if (pm.type === 'card_present' || !pi.payment_method_types.includes(pm.type)) {
    // card_present payments are confirmed by the reader (process_payment_intent), not through the API.
    throw paramInvalid('payment_method', `The PaymentMethod provided (${pm.type}) is not allowed for this PaymentIntent (payment_method_types: ${pi.payment_method_types.join(', ')}).`)
  }
  if (pm.customer !== null && pm.customer !== pi.customer) {
    throw paramInvalid('payment_method', 'The provided PaymentMethod belongs to a Customer, but you did not provide that Customer (or provided another one) on the PaymentIntent.')
  }
  const sfu = optEnum(params, 'setup_future_usage', ['off_session', 'on_session'] as const)
  if (sfu !== undefined) pi.setup_future_usage = sfu
  chargeIntent(ctx, pi, pm)
}

/**
 * API versions from 2026 (the package's `endive`) name the parameter
 * `allowed_payment_method_types`; older ones `payment_method_types`. Both are
 * accepted; the object shows both, as Stripe does.
 */
export function paymentMethodTypes(params: Params): string[] | null {
  const name = params.allowed_payment_method_types !== undefined ? 'allowed_payment_method_types' : 'payment_method_types'
  const types = optStringArray(params, name)
  if (types === undefined) return null
  if (types.length === 0) throw paramInvalid(name, `Invalid array: ${name} must not be empty.`)
  for (const type of types) {
    if (!SUPPORTED_TYPES.includes(type)) throw paramInvalid(name, `The payment method type "${type}" is invalid.`)
  }
  return types
}

const CREATE_PARAMS = [
  'allowed_payment_method_types', 'excluded_payment_method_types', 'amount_details',
  'amount', 'currency', 'customer', 'description', 'metadata', 'payment_method', 'payment_method_types', 'capture_method',
  'confirm', 'off_session', 'setup_future_usage', 'receipt_email', 'statement_descriptor', 'statement_descriptor_suffix',
  'automatic_payment_methods', 'return_url', 'expand', 'confirmation_method', 'payment_method_options', 'error_on_requires_action',
]

export const paymentIntentRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/payment_intents',
    handle(ctx, { params }) {
      rejectUnknown(params, CREATE_PARAMS)
      const currency = reqCurrency(params)
      const amount = reqChargeAmount(params, 'amount', currency)
      const customerId = optString(params, 'customer')
      if (customerId !== undefined) getCustomer(ctx, customerId, 'customer')
      const allowed = paymentMethodTypes(params)
      const captureMethod = optEnum(params, 'capture_method', CAPTURE_METHODS)
      const confirmNow = optBoolean(params, 'confirm') ?? false
      optBoolean(params, 'off_session')
      const sfu = optEnum(params, 'setup_future_usage', ['off_session', 'on_session'] as const)
      const pmId = optString(params, 'payment_method')
      const pm = pmId === undefined ? undefined : resolvePaymentMethod(ctx, pmId, 'payment_method')
      const metadata = applyMetadata({}, params)
      const description = optNullableString(params, 'description', 1000)
      const pi = createPaymentIntent(ctx, { amount, currency, customer: customerId, description, metadata, paymentMethodTypes: allowed ?? undefined, captureMethod })
      pi.allowed_payment_method_types = allowed
      pi.receipt_email = optString(params, 'receipt_email', 800) ?? null
      if (sfu !== undefined) pi.setup_future_usage = sfu
      if (pm) {
        pi.payment_method = pm.id
        pi.status = 'requires_confirmation'
      }
      if (confirmNow) confirm(ctx, pi, {})
      return withExpand(ctx, pi, params)
    },
  },
  {
    method: 'GET',
    path: '/v1/payment_intents/:id',
    handle: (ctx, { params, pathParams }) => withExpand(ctx, getPaymentIntent(ctx, pathParams.id as string), params),
  },
  {
    method: 'POST',
    path: '/v1/payment_intents/:id',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, ['amount', 'currency', 'customer', 'description', 'metadata', 'payment_method', 'receipt_email', 'setup_future_usage', 'expand', 'capture_method'])
      const pi = getPaymentIntent(ctx, pathParams.id as string)
      if (!['requires_payment_method', 'requires_confirmation', 'requires_action'].includes(pi.status)) {
        throw unexpectedState('payment_intent', `This PaymentIntent could not be updated because it has a status of ${pi.status}.`)
      }
      const draft = structuredClone(pi)
      draft.currency = params.currency === undefined ? pi.currency : reqCurrency(params)
      if (params.amount !== undefined) draft.amount = reqChargeAmount(params, 'amount', draft.currency)
      const customerId = optString(params, 'customer')
      if (customerId !== undefined) draft.customer = getCustomer(ctx, customerId, 'customer').id
      const description = optNullableString(params, 'description', 1000)
      if (description !== undefined) draft.description = description
      draft.metadata = applyMetadata(pi.metadata, params)
      draft.capture_method = optEnum(params, 'capture_method', CAPTURE_METHODS) ?? pi.capture_method
      const pmId = optString(params, 'payment_method')
      if (pmId !== undefined) {
        draft.payment_method = resolvePaymentMethod(ctx, pmId, 'payment_method').id
        draft.status = 'requires_confirmation'
      }
      Object.assign(pi, draft)
      return withExpand(ctx, pi, params)
    },
  },
  {
    method: 'GET',
    path: '/v1/payment_intents',
    handle(ctx, { params }) {
      rejectUnknown(params, ['customer', 'limit', 'starting_after', 'ending_before', 'expand', 'created'])
      const customer = optString(params, 'customer')
      const all = [...ctx.state.paymentIntents.values()].filter((pi) => customer === undefined || pi.customer === customer)
      return paginate(all, params, '/v1/payment_intents')
    },
  },
  {
    method: 'POST',
    path: '/v1/payment_intents/:id/confirm',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, ['payment_method', 'return_url', 'off_session', 'setup_future_usage', 'expand', 'receipt_email', 'payment_method_options', 'error_on_requires_action', 'capture_method'])
      const pi = getPaymentIntent(ctx, pathParams.id as string)
      const captureMethod = optEnum(params, 'capture_method', CAPTURE_METHODS)
      if (captureMethod !== undefined) pi.capture_method = captureMethod
      confirm(ctx, pi, params)
      return withExpand(ctx, pi, params)
    },
  },
  {
    method: 'POST',
    path: '/v1/payment_intents/:id/capture',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, ['amount_to_capture', 'metadata', 'expand', 'final_capture', 'statement_descriptor'])
      const pi = getPaymentIntent(ctx, pathParams.id as string)
      if (pi.status !== 'requires_capture') {
        throw unexpectedState('payment_intent', `This PaymentIntent could not be captured because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.`)
      }
      const amount = optInteger(params, 'amount_to_capture', 1, 99_999_999) ?? pi.amount_capturable
      if (amount > pi.amount_capturable) {
        throw new StripeSimError(400, {
          type: 'invalid_request_error',
          code: 'amount_too_large',
          message: `The amount to capture (${amount}) is greater than the amount capturable (${pi.amount_capturable}).`,
          param: 'amount_to_capture',
        })
      }
      pi.metadata = applyMetadata(pi.metadata, params)
      pi.amount_received = amount
      pi.amount_capturable = 0
      pi.status = 'succeeded'
      ctx.emit('payment_intent.succeeded', pi)
      return withExpand(ctx, pi, params)
    },
  },
  {
    method: 'POST',
    path: '/v1/payment_intents/:id/cancel',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, ['cancellation_reason', 'expand'])
      const pi = getPaymentIntent(ctx, pathParams.id as string)
      const reason = optEnum(params, 'cancellation_reason', CANCELLATION_REASONS)
      if (!CANCELABLE.includes(pi.status)) {
        throw unexpectedState('payment_intent', `You cannot cancel this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be canceled: ${CANCELABLE.join(', ')}.`)
      }
      pi.status = 'canceled'
      pi.amount_capturable = 0
      pi.canceled_at = ctx.nowSeconds()
      pi.cancellation_reason = reason ?? null
      ctx.emit('payment_intent.canceled', pi)
      return withExpand(ctx, pi, params)
    },
  },
]
