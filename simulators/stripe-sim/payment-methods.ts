// /v1/payment_methods: create (test tokens or test numbers), retrieve, update,
// attach, detach, list by customer; and the magic `pm_card_*` ids that Stripe
// accepts wherever a payment method id goes.
import { cardFromNumber, cardFromToken, type CardDecline, type TestCard } from './cards.js'
import { paramInvalid, paramMissing, resourceMissing, StripeSimError } from './errors.js'
import { applyMetadata, optEnum, optObject, optString, rejectUnknown, reqString, type Params } from './params.js'
import { paginate, withExpand, type Route } from './route.js'
import { newId, type Customer, type PaymentMethod, type SimContext } from './state.js'
import { getCustomer } from './customers.js'

export function cardError(decline: CardDecline, extra: Record<string, unknown> = {}): StripeSimError {
  return new StripeSimError(402, {
    type: 'card_error',
    code: decline.code,
    decline_code: decline.declineCode,
    message: decline.message,
    ...extra,
  })
}

function cardDetails(ctx: SimContext, card: TestCard, expMonth = 12, expYear?: number): Record<string, unknown> {
  const year = expYear ?? new Date(ctx.nowSeconds() * 1000).getUTCFullYear() + 3
  return {
    brand: card.brand,
    checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
    country: 'US',
    display_brand: card.brand,
    exp_month: expMonth,
    exp_year: year,
    fingerprint: `fp${card.number.slice(-8)}`,
    funding: 'credit',
    generated_from: null,
    last4: card.number.slice(-4),
    networks: { available: [card.brand], preferred: null },
    three_d_secure_usage: { supported: true },
    wallet: null,
  }
}

export function storeCardPaymentMethod(
  ctx: SimContext,
  card: TestCard,
  type: 'card' | 'card_present',
  extra: { expMonth?: number; expYear?: number; billingDetails?: Params; metadata?: Record<string, string> } = {},
): PaymentMethod {
  const details = cardDetails(ctx, card, extra.expMonth, extra.expYear)
  const pm: PaymentMethod = {
    id: newId('pm', 24),
    object: 'payment_method',
    allow_redisplay: 'unspecified',
    billing_details: {
      address: { city: null, country: null, line1: null, line2: null, postal_code: null, state: null },
      email: null,
      name: null,
      phone: null,
      ...(extra.billingDetails ?? {}),
    },
    created: ctx.nowSeconds(),
    customer: null,
    livemode: false,
    metadata: extra.metadata ?? {},
    type,
    ...(type === 'card' ? { card: details } : { card_present: { ...details, read_method: 'contactless_emv', cardholder_name: null } }),
  }
  ctx.state.paymentMethods.set(pm.id, pm)
  ctx.state.cards.set(pm.id, card)
  return pm
}

/** A stored payment method, or a fresh one for a magic `pm_card_*` id (as Stripe does). */
export function resolvePaymentMethod(ctx: SimContext, id: string, param: string): PaymentMethod {
  const stored = ctx.state.paymentMethods.get(id)
  if (stored) return stored
  const magic = id.startsWith('pm_card_') ? cardFromToken(id) : undefined
  if (magic) return storeCardPaymentMethod(ctx, magic, 'card')
  throw resourceMissing('PaymentMethod', id, param)
}

/** Why charging this payment method fails, if it does. */
export function declineFor(ctx: SimContext, pm: PaymentMethod): CardDecline | undefined {
  return ctx.state.cards.get(pm.id)?.decline
}

/** Attaching checks the card with the issuer: declining cards cannot be saved (except 4000000000000341). */
export function checkAttachable(ctx: SimContext, pm: PaymentMethod, customer: Customer): void {
  if (pm.customer !== null && pm.customer !== customer.id) {
    throw new StripeSimError(400, {
      type: 'invalid_request_error',
      message: 'The payment method you provided has already been attached to a customer.',
    })
  }
  if (pm.type !== 'card') {
    throw paramInvalid('payment_method', `PaymentMethods of type ${pm.type} cannot be attached to a customer.`)
  }
  const card = ctx.state.cards.get(pm.id)
  if (card?.decline && !card.attachSucceeds) throw cardError(card.decline)
}

export function attachPaymentMethod(ctx: SimContext, pm: PaymentMethod, customer: Customer): void {
  checkAttachable(ctx, pm, customer)
  if (pm.customer === customer.id) return
  pm.customer = customer.id
  ctx.emit('payment_method.attached', pm)
}

function getPaymentMethod(ctx: SimContext, id: string): PaymentMethod {
  const pm = ctx.state.paymentMethods.get(id)
  if (!pm) throw resourceMissing('PaymentMethod', id)
  return pm
}

function createFromParams(ctx: SimContext, params: Params): PaymentMethod {
  rejectUnknown(params, ['type', 'card', 'billing_details', 'metadata', 'expand', 'allow_redisplay'])
  const type = optString(params, 'type')
  if (type === undefined) throw paramMissing('type')
  if (type !== 'card') throw paramInvalid('type', `Invalid type: the simulator supports 'card' (got ${type}).`)
  const cardParams = optObject(params, 'card')
  if (!cardParams) throw paramMissing('card')
  rejectUnknown(cardParams, ['token', 'number', 'exp_month', 'exp_year', 'cvc'], 'card')
  const metadata = applyMetadata({}, params)
  const billingDetails = optObject(params, 'billing_details')
  const token = optString(cardParams, 'token')
  if (token !== undefined) {
    const card = cardFromToken(token)
    if (!card || !token.startsWith('tok_')) throw resourceMissing('token', token, 'card[token]')
    return storeCardPaymentMethod(ctx, card, 'card', { billingDetails, metadata })
  }
  const number = reqString(cardParams, 'number', 19).replace(/\s+/g, '')
  const card = cardFromNumber(number)
  if (!card) {
    throw new StripeSimError(402, { type: 'card_error', code: 'incorrect_number', message: 'Your card number is incorrect.', param: 'card[number]' })
  }
  const expMonth = Number(reqString(cardParams, 'exp_month', 2))
  const expYearRaw = Number(reqString(cardParams, 'exp_year', 4))
  if (!Number.isInteger(expMonth) || expMonth < 1 || expMonth > 12) {
    throw new StripeSimError(402, { type: 'card_error', code: 'invalid_expiry_month', message: "Your card's expiration month is invalid.", param: 'card[exp_month]' })
  }
  const expYear = expYearRaw < 100 ? 2000 + expYearRaw : expYearRaw
  const now = new Date(ctx.nowSeconds() * 1000)
  const expired = expYear < now.getUTCFullYear() || (expYear === now.getUTCFullYear() && expMonth < now.getUTCMonth() + 1)
  if (!Number.isInteger(expYear) || expired || expYear > now.getUTCFullYear() + 50) {
    throw new StripeSimError(402, { type: 'card_error', code: 'invalid_expiry_year', message: "Your card's expiration year is invalid.", param: 'card[exp_year]' })
  }
  return storeCardPaymentMethod(ctx, card, 'card', { expMonth, expYear, billingDetails, metadata })
}

function listFor(ctx: SimContext, params: Params, customer: string | undefined, url: string) {
  const type = optEnum(params, 'type', ['card', 'card_present'] as const)
  const all = [...ctx.state.paymentMethods.values()].filter(
    (pm) => (customer === undefined ? pm.customer !== null : pm.customer === customer) && (type === undefined || pm.type === type),
  )
  return paginate(all, params, url)
}

export const paymentMethodRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/payment_methods',
    handle: (ctx, { params }) => withExpand(ctx, createFromParams(ctx, params), params),
  },
  {
    method: 'GET',
    path: '/v1/payment_methods/:id',
    handle: (ctx, { params, pathParams }) => withExpand(ctx, resolvePaymentMethod(ctx, pathParams.id as string, 'id'), params),
  },
  {
    method: 'POST',
    path: '/v1/payment_methods/:id',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, ['billing_details', 'metadata', 'expand', 'allow_redisplay'])
      const pm = getPaymentMethod(ctx, pathParams.id as string)
      const metadata = applyMetadata(pm.metadata, params)
      const billing = optObject(params, 'billing_details')
      pm.metadata = metadata
      if (billing) pm.billing_details = { ...(pm.billing_details as object), ...billing }
      ctx.emit('payment_method.updated', pm)
      return withExpand(ctx, pm, params)
    },
  },
  {
    method: 'POST',
    path: '/v1/payment_methods/:id/attach',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, ['customer', 'expand'])
      const customer = getCustomer(ctx, reqString(params, 'customer'), 'customer')
      const pm = resolvePaymentMethod(ctx, pathParams.id as string, 'payment_method')
      attachPaymentMethod(ctx, pm, customer)
      return withExpand(ctx, pm, params)
    },
  },
  {
    method: 'POST',
    path: '/v1/payment_methods/:id/detach',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, ['expand'])
      const pm = getPaymentMethod(ctx, pathParams.id as string)
      if (pm.customer === null) {
        throw new StripeSimError(400, {
          type: 'invalid_request_error',
          message: `The payment method you provided is not attached to a customer so detachment is impossible.`,
        })
      }
      const customer = ctx.state.customers.get(pm.customer)
      if (customer?.invoice_settings.default_payment_method === pm.id) customer.invoice_settings.default_payment_method = null
      pm.customer = null
      ctx.emit('payment_method.detached', pm)
      return withExpand(ctx, pm, params)
    },
  },
  {
    method: 'GET',
    path: '/v1/payment_methods',
    handle(ctx, { params }) {
      rejectUnknown(params, ['customer', 'type', 'limit', 'starting_after', 'ending_before', 'expand', 'allow_redisplay'])
      const customer = optString(params, 'customer')
      if (customer !== undefined) getCustomer(ctx, customer, 'customer')
      return listFor(ctx, params, customer, '/v1/payment_methods')
    },
  },
  {
    method: 'GET',
    path: '/v1/customers/:id/payment_methods',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, ['type', 'limit', 'starting_after', 'ending_before', 'expand', 'allow_redisplay'])
      const customer = getCustomer(ctx, pathParams.id as string)
      return listFor(ctx, params, customer.id, `/v1/customers/${customer.id}/payment_methods`)
    },
  },
]
