// /v1/setup_intents: create (optionally confirming), retrieve, update, list,
// confirm, cancel. Confirming checks the card with the (simulated) issuer and
// saves it on the customer; a card that cannot be saved answers 402.
import { paramInvalid, resourceMissing, unexpectedState } from './errors.js'
import { applyMetadata, optBoolean, optEnum, optNullableString, optString, rejectUnknown, type Params } from './params.js'
import { attachPaymentMethod, cardError, resolvePaymentMethod } from './payment-methods.js'
import { paymentMethodTypes } from './payment-intents.js'
import { getCustomer } from './customers.js'
import { paginate, withExpand, type Route } from './route.js'
import { newId, type PaymentMethod, type SetupIntent, type SimContext } from './state.js'

export function getSetupIntent(ctx: SimContext, id: string, param = 'id'): SetupIntent {
  const si = ctx.state.setupIntents.get(id)
  if (!si) throw resourceMissing('setup_intent', id, param)
  return si
}

/** Saves `pm` for the intent's customer; used by API confirms and by readers (process_setup_intent). */
export function completeSetup(ctx: SimContext, si: SetupIntent, pm: PaymentMethod): void {
  const card = ctx.state.cards.get(pm.id)
  if (card?.decline && !card.attachSucceeds) {
    si.status = 'requires_payment_method'
    si.payment_method = null
    si.last_setup_error = { type: 'card_error', code: card.decline.code, decline_code: card.decline.declineCode, message: card.decline.message, payment_method: structuredClone(pm) }
    ctx.emit('setup_intent.setup_failed', si)
    throw cardError(card.decline, { setup_intent: structuredClone(si), payment_method: structuredClone(pm) })
  }
  if (si.customer !== null) {
    const customer = getCustomer(ctx, si.customer, 'customer')
    if (pm.type === 'card') attachPaymentMethod(ctx, pm, customer)
  }
  si.payment_method = pm.id
  si.last_setup_error = null
  si.status = 'succeeded'
  ctx.emit('setup_intent.succeeded', si)
}

function confirm(ctx: SimContext, si: SetupIntent, params: Params): void {
  if (si.status !== 'requires_payment_method' && si.status !== 'requires_confirmation') {
    throw unexpectedState('setup_intent', `You cannot confirm this SetupIntent because it has a status of ${si.status}.`)
  }
  const pmId = optString(params, 'payment_method') ?? si.payment_method
  if (!pmId) throw unexpectedState('setup_intent', "You cannot confirm this SetupIntent because it's missing a payment method.")
  const pm = resolvePaymentMethod(ctx, pmId, 'payment_method')
  if (pm.type === 'card_present' || !si.payment_method_types.includes(pm.type)) {
    throw paramInvalid('payment_method', `The PaymentMethod provided (${pm.type}) is not allowed for this SetupIntent (payment_method_types: ${si.payment_method_types.join(', ')}).`)
  }
  if (pm.customer !== null && pm.customer !== si.customer) {
    throw paramInvalid('payment_method', 'The provided PaymentMethod is attached to another Customer.')
  }
  completeSetup(ctx, si, pm)
}

export const setupIntentRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/setup_intents',
    handle(ctx, { params }) {
      rejectUnknown(params, ['allowed_payment_method_types', 'excluded_payment_method_types', 'customer', 'description', 'metadata', 'payment_method', 'payment_method_types', 'usage', 'confirm', 'return_url', 'expand', 'automatic_payment_methods', 'payment_method_options', 'single_use', 'attach_to_self'])
      const customerId = optString(params, 'customer')
      if (customerId !== undefined) getCustomer(ctx, customerId, 'customer')
      const allowed = paymentMethodTypes(params)
      const types = allowed ?? ['card']
      const usage = optEnum(params, 'usage', ['off_session', 'on_session'] as const) ?? 'off_session'
      const confirmNow = optBoolean(params, 'confirm') ?? false
      const pmId = optString(params, 'payment_method')
      const pm = pmId === undefined ? undefined : resolvePaymentMethod(ctx, pmId, 'payment_method')
      const metadata = applyMetadata({}, params)
      const description = optNullableString(params, 'description', 1000) ?? null
      const id = newId('seti', 24)
      const si: SetupIntent = {
        id,
        object: 'setup_intent',
        allowed_payment_method_types: allowed,
        application: null,
        cancellation_reason: null,
        client_secret: `${id}_secret_${newId('', 25).slice(1)}`,
        created: ctx.nowSeconds(),
        customer: customerId ?? null,
        description,
        last_setup_error: null,
        latest_attempt: null,
        livemode: false,
        mandate: null,
        metadata,
        next_action: null,
        payment_method: pm ? pm.id : null,
        payment_method_types: types,
        status: pm ? 'requires_confirmation' : 'requires_payment_method',
        usage,
      }
      ctx.state.setupIntents.set(si.id, si)
      ctx.emit('setup_intent.created', si)
      if (confirmNow) confirm(ctx, si, {})
      return withExpand(ctx, si, params)
    },
  },
  {
    method: 'GET',
    path: '/v1/setup_intents/:id',
    handle: (ctx, { params, pathParams }) => withExpand(ctx, getSetupIntent(ctx, pathParams.id as string), params),
  },
  {
    method: 'POST',
    path: '/v1/setup_intents/:id',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, ['allowed_payment_method_types', 'excluded_payment_method_types', 'customer', 'description', 'metadata', 'payment_method', 'expand'])
      const si = getSetupIntent(ctx, pathParams.id as string)
      if (si.status === 'succeeded' || si.status === 'canceled') {
        throw unexpectedState('setup_intent', `This SetupIntent could not be updated because it has a status of ${si.status}.`)
      }
      const draft = structuredClone(si)
      const customerId = optString(params, 'customer')
      if (customerId !== undefined) draft.customer = getCustomer(ctx, customerId, 'customer').id
      const description = optNullableString(params, 'description', 1000)
      if (description !== undefined) draft.description = description
      draft.metadata = applyMetadata(si.metadata, params)
      const pmId = optString(params, 'payment_method')
      if (pmId !== undefined) {
        draft.payment_method = resolvePaymentMethod(ctx, pmId, 'payment_method').id
        draft.status = 'requires_confirmation'
      }
      Object.assign(si, draft)
      return withExpand(ctx, si, params)
    },
  },
  {
    method: 'GET',
    path: '/v1/setup_intents',
    handle(ctx, { params }) {
      rejectUnknown(params, ['customer', 'payment_method', 'limit', 'starting_after', 'ending_before', 'expand', 'created'])
      const customer = optString(params, 'customer')
      const all = [...ctx.state.setupIntents.values()].filter((si) => customer === undefined || si.customer === customer)
      return paginate(all, params, '/v1/setup_intents')
    },
  },
  {
    method: 'POST',
    path: '/v1/setup_intents/:id/confirm',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, ['payment_method', 'return_url', 'expand', 'payment_method_options', 'mandate_data', 'use_stripe_sdk'])
      const si = getSetupIntent(ctx, pathParams.id as string)
      confirm(ctx, si, params)
      return withExpand(ctx, si, params)
    },
  },
  {
    method: 'POST',
    path: '/v1/setup_intents/:id/cancel',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, ['cancellation_reason', 'expand'])
      const si = getSetupIntent(ctx, pathParams.id as string)
      const reason = optEnum(params, 'cancellation_reason', ['abandoned', 'requested_by_customer', 'duplicate'] as const)
      if (si.status === 'succeeded' || si.status === 'canceled') {
        throw unexpectedState('setup_intent', `You cannot cancel this SetupIntent because it has a status of ${si.status}.`)
      }
      si.status = 'canceled'
      si.cancellation_reason = reason ?? null
      ctx.emit('setup_intent.canceled', si)
      return withExpand(ctx, si, params)
    },
  },
]
