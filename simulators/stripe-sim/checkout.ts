// /v1/checkout/sessions (mode `payment`): create, retrieve, list, expire; the
// hosted payment page (`GET /pay/cs/{id}`) with pay / decline / cancel links;
// and the outcomes a test can force (paid, declined, an asynchronous payment
// that later succeeds or fails), each with the events Stripe sends.
import { paramInvalid, paramMissing, resourceMissing, StripeSimError } from './errors.js'
import {
  applyMetadata,
  optArray,
  optEnum,
  optInteger,
  optObject,
  optString,
  rejectUnknown,
  reqChargeAmount,
  reqCurrency,
  reqString,
  type Params,
} from './params.js'
import { createPaymentIntent, paymentMethodTypes } from './payment-intents.js'
import { getCustomer } from './customers.js'
import { paginate, withExpand, type Route } from './route.js'
import { newId, type CheckoutSession, type PaymentIntent, type SimContext } from './state.js'

const DAY_SECONDS = 24 * 3600

export function getSession(ctx: SimContext, id: string, param = 'id'): CheckoutSession {
  const session = ctx.state.checkoutSessions.get(id)
  if (!session) throw resourceMissing('checkout.session', id, param)
  expireIfDue(ctx, session)
  return session
}

function expireIfDue(ctx: SimContext, session: CheckoutSession): void {
  if (session.status === 'open' && ctx.nowSeconds() >= session.expires_at) expireSession(ctx, session)
}

export function expireSession(ctx: SimContext, session: CheckoutSession): void {
  if (session.status !== 'open') {
    throw new StripeSimError(400, {
      type: 'invalid_request_error',
      message: `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${session.status}".`,
    })
  }
  session.status = 'expired'
  session.url = null
  ctx.emit('checkout.session.expired', session)
}

function checkUrl(value: string, param: string): string {
  let parsed: URL
  try {
    parsed = new URL(value)
  } catch {
    throw paramInvalid(param, `Not a valid URL: ${param}`, 'url_invalid')
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw paramInvalid(param, `Not a valid URL: ${param}`, 'url_invalid')
  return value
}

function lineItemsTotal(items: Params[], currency: { value?: string }): number {
  let total = 0
  items.forEach((item, i) => {
    const p = `line_items[${i}]`
    rejectUnknown(item, ['price_data', 'quantity', 'price', 'adjustable_quantity', 'tax_rates'], p)
    if (item.price !== undefined) throw paramInvalid(`${p}[price]`, 'The simulator supports price_data line items only.')
    const priceData = optObject(item, 'price_data')
    if (!priceData) throw paramMissing(`${p}[price_data]`)
    rejectUnknown(priceData, ['currency', 'unit_amount', 'product_data', 'product', 'tax_behavior', 'unit_amount_decimal'], `${p}[price_data]`)
    const itemCurrency = reqCurrency(priceData)
    if (currency.value !== undefined && currency.value !== itemCurrency) {
      throw paramInvalid(`${p}[price_data][currency]`, 'All line items must use the same currency.')
    }
    currency.value = itemCurrency
    const productData = optObject(priceData, 'product_data')
    if (!productData) throw paramMissing(`${p}[price_data][product_data]`)
    reqString(productData, 'name', 250)
    const unitAmount = optInteger(priceData, 'unit_amount', 0, 99_999_999)
    if (unitAmount === undefined) throw paramMissing(`${p}[price_data][unit_amount]`)
    const quantity = optInteger(item, 'quantity', 1, 999_999)
    if (quantity === undefined) throw paramMissing(`${p}[quantity]`)
    total += unitAmount * quantity
  })
  return total
}

function createSession(ctx: SimContext, params: Params): CheckoutSession {
  rejectUnknown(params, [
    'mode', 'line_items', 'success_url', 'cancel_url', 'client_reference_id', 'customer', 'customer_email', 'metadata',
    'payment_intent_data', 'payment_method_types', 'allowed_payment_method_types', 'excluded_payment_method_types', 'expires_at', 'locale', 'currency', 'expand', 'submit_type', 'ui_mode', 'customer_creation',
  ])
  const mode = reqString(params, 'mode')
  if (mode !== 'payment') throw paramInvalid('mode', `The simulator supports mode=payment only (got ${mode}).`)
  const successUrl = checkUrl(reqString(params, 'success_url', 5000), 'success_url')
  const cancelUrlRaw = optString(params, 'cancel_url', 5000)
  const cancelUrl = cancelUrlRaw === undefined ? null : checkUrl(cancelUrlRaw, 'cancel_url')
  const lineItems = optArray(params, 'line_items')
  if (!lineItems || lineItems.length === 0) throw paramMissing('line_items')
  if (lineItems.length > 100) throw paramInvalid('line_items', 'At most 100 line items.')
  const items = lineItems.map((item, i) => {
    if (typeof item !== 'object' || Array.isArray(item)) throw paramInvalid(`line_items[${i}]`, `Invalid object: line_items[${i}]`)
    return item
  })
  const currency: { value?: string } = {}
  const total = lineItemsTotal(items, currency)
  const currencyCode = currency.value as string
  // Same minimum as a charge: check the total as if it were an `amount`.
  reqChargeAmount({ amount_total: String(total) }, 'amount_total', currencyCode)
  const clientReferenceId = optString(params, 'client_reference_id', 200) ?? null
  const customerId = optString(params, 'customer')
  if (customerId !== undefined) getCustomer(ctx, customerId, 'customer')
  const now = ctx.nowSeconds()
  const expiresAt = optInteger(params, 'expires_at', 0, 2 ** 40) ?? now + DAY_SECONDS
  if (expiresAt < now + 30 * 60 || expiresAt > now + DAY_SECONDS) {
    throw paramInvalid('expires_at', 'The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.')
  }
  const piData = optObject(params, 'payment_intent_data') ?? {}
  rejectUnknown(piData, ['metadata', 'description', 'capture_method', 'setup_future_usage', 'receipt_email', 'statement_descriptor'], 'payment_intent_data')
  const piMetadata = applyMetadata({}, piData)
  const allowed = paymentMethodTypes(params)
  const types = allowed ?? ['card']
  const id = newId('cs_test', 58)
  const session: CheckoutSession = {
    id,
    object: 'checkout.session',
    allowed_payment_method_types: allowed,
    amount_subtotal: total,
    amount_total: total,
    cancel_url: cancelUrl,
    client_reference_id: clientReferenceId,
    created: now,
    currency: currencyCode,
    customer: customerId ?? null,
    customer_email: optString(params, 'customer_email', 800) ?? null,
    expires_at: expiresAt,
    livemode: false,
    locale: optString(params, 'locale') ?? null,
    metadata: applyMetadata({}, params),
    mode: 'payment',
    payment_intent: null,
    payment_method_types: types,
    payment_status: 'unpaid',
    status: 'open',
    success_url: successUrl,
    ui_mode: optEnum(params, 'ui_mode', ['hosted'] as const) ?? 'hosted',
    url: `${ctx.baseUrl()}/pay/cs/${id}`,
  }
  // Kept off the object (Stripe does not show it on the session either).
  ctx.state.checkoutIntentData.set(session.id, { metadata: piMetadata, description: optString(piData, 'description', 1000) ?? null })
  ctx.state.checkoutSessions.set(session.id, session)
  return session
}

function intentFor(ctx: SimContext, session: CheckoutSession): PaymentIntent {
  if (session.payment_intent) {
    const existing = ctx.state.paymentIntents.get(session.payment_intent)
    if (existing) return existing
  }
  const data = ctx.state.checkoutIntentData.get(session.id)
  const pi = createPaymentIntent(ctx, {
    amount: session.amount_total,
    currency: session.currency,
    customer: session.customer as string | null,
    description: data?.description ?? null,
    metadata: data?.metadata ?? {},
  })
  session.payment_intent = pi.id
  return pi
}

export type CheckoutOutcome = 'paid' | 'declined' | 'processing'

/**
 * The guest finishes the hosted page: `paid` (card accepted), `declined`
 * (the session stays open, the guest may try again), `processing` (an
 * asynchronous method: the session completes unpaid; settleCheckout decides).
 */
export function completeCheckout(ctx: SimContext, session: CheckoutSession, outcome: CheckoutOutcome): CheckoutSession {
  expireIfDue(ctx, session)
  if (session.status !== 'open') {
    throw new StripeSimError(400, { type: 'invalid_request_error', message: `This Checkout Session is ${session.status}.` })
  }
  const pi = intentFor(ctx, session)
  pi.latest_charge = newId('ch', 24)
  if (outcome === 'declined') {
    pi.last_payment_error = { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' }
    ctx.emit('payment_intent.payment_failed', pi)
    return session
  }
  pi.payment_method = newId('pm', 24)
  pi.last_payment_error = null
  session.status = 'complete'
  session.url = null
  if (outcome === 'paid') {
    pi.status = 'succeeded'
    pi.amount_received = pi.amount
    session.payment_status = 'paid'
    ctx.emit('payment_intent.succeeded', pi)
  } else {
    pi.status = 'processing'
    ctx.emit('payment_intent.processing', pi)
  }
  ctx.emit('checkout.session.completed', session)
  return session
}

/** An asynchronous payment (outcome `processing`) settles. */
export function settleCheckout(ctx: SimContext, session: CheckoutSession, result: 'succeeded' | 'failed'): CheckoutSession {
  const pi = session.payment_intent ? ctx.state.paymentIntents.get(session.payment_intent) : undefined
  if (session.status !== 'complete' || session.payment_status !== 'unpaid' || !pi || pi.status !== 'processing') {
    throw new StripeSimError(400, { type: 'invalid_request_error', message: 'This Checkout Session has no payment waiting to settle.' })
  }
  if (result === 'succeeded') {
    pi.status = 'succeeded'
    pi.amount_received = pi.amount
    session.payment_status = 'paid'
    ctx.emit('payment_intent.succeeded', pi)
    ctx.emit('checkout.session.async_payment_succeeded', session)
  } else {
    pi.status = 'requires_payment_method'
    pi.last_payment_error = { type: 'card_error', code: 'payment_method_provider_decline', message: 'The payment was declined.' }
    ctx.emit('payment_intent.payment_failed', pi)
    ctx.emit('checkout.session.async_payment_failed', session)
  }
  return session
}

export const checkoutRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/checkout/sessions',
    handle(ctx, { params }) {
      return withExpand(ctx, createSession(ctx, params), params)
    },
  },
  {
    method: 'GET',
    path: '/v1/checkout/sessions/:id',
    handle: (ctx, { params, pathParams }) => withExpand(ctx, getSession(ctx, pathParams.id as string), params),
  },
  {
    method: 'GET',
    path: '/v1/checkout/sessions',
    handle(ctx, { params }) {
      rejectUnknown(params, ['payment_intent', 'customer', 'status', 'limit', 'starting_after', 'ending_before', 'expand', 'created'])
      const paymentIntent = optString(params, 'payment_intent')
      const customer = optString(params, 'customer')
      const status = optEnum(params, 'status', ['open', 'complete', 'expired'] as const)
      const all = [...ctx.state.checkoutSessions.values()].filter((s) => {
        expireIfDue(ctx, s)
        return (paymentIntent === undefined || s.payment_intent === paymentIntent) && (customer === undefined || s.customer === customer) && (status === undefined || s.status === status)
      })
      return paginate(all, params, '/v1/checkout/sessions')
    },
  },
  {
    method: 'POST',
    path: '/v1/checkout/sessions/:id/expire',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, ['expand'])
      const session = getSession(ctx, pathParams.id as string)
      expireSession(ctx, session)
      return withExpand(ctx, session, params)
    },
  },
]

// ---------------------------------------------------------------------------
// The hosted page. Plain HTML, no script: a test browser or a person clicks a link.

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string)
}

export function successRedirect(session: CheckoutSession): string {
  return (session.success_url ?? '').replaceAll('{CHECKOUT_SESSION_ID}', session.id)
}

export function renderCheckoutPage(session: CheckoutSession, notice?: string): string {
  const amount = `${(session.amount_total / 100).toFixed(2)} ${session.currency.toUpperCase()}`
  const id = encodeURIComponent(session.id)
  const open = session.status === 'open'
  const actions = open
    ? `<p><a id="pay" href="/pay/cs/${id}/pay">Pay ${escapeHtml(amount)}</a></p>
<p><a id="decline" href="/pay/cs/${id}/decline">Pay with a declined card</a></p>
<p><a id="async" href="/pay/cs/${id}/async">Pay with a delayed method</a></p>
<p><a id="cancel" href="/pay/cs/${id}/cancel">Cancel and go back</a></p>`
    : `<p id="closed">This checkout is ${escapeHtml(session.status)}.</p>`
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Stripe simulator checkout</title></head>
<body>
<h1>Checkout (Stripe simulator)</h1>
<p id="amount">${escapeHtml(amount)}</p>
${notice ? `<p id="notice">${escapeHtml(notice)}</p>` : ''}
${actions}
</body></html>`
}
