// Payment intents: create (amount, currency, order_id, return_url,
// description, customer, capture, threeds, metadata, methods_allowed),
// retrieve, list (order_id, card, sepa), delete (cancel an unpaid one),
// capture (of a `capture: false` intent) and the intent's payments.
// The guest pays on the hosted page at the intent's `url`.
import { badRequest, conflict, notFound } from './errors.js'
import { getCustomer } from './customers.js'
import { byId, paginate, type Route } from './route.js'
import type { Currency, PaymentIntent, SimContext } from './state.js'
import {
  bodyFields,
  checkQuery,
  CURRENCIES,
  optAmount,
  optBoolean,
  optEnum,
  optId,
  optString,
  optUrl,
  required,
  type Fields,
} from './validate.js'

const CREATE_FIELDS = [
  'description', 'amount', 'currency', 'customer', 'order_id', 'methods_allowed', 'card', 'sepa', 'metadata', 'return_url', 'threeds', 'capture',
] as const

function methodsAllowed(fields: Fields): Array<'card' | 'sepa'> | undefined {
  const value = fields.methods_allowed
  if (value === undefined || value === null) return undefined
  if (!Array.isArray(value) || value.some((m) => m !== 'card' && m !== 'sepa') || new Set(value).size !== value.length) {
    throw badRequest('methods_allowed must be a list of distinct methods: card, sepa')
  }
  return value as Array<'card' | 'sepa'>
}

export function getIntent(ctx: SimContext, id: string | undefined): PaymentIntent {
  return byId(ctx.state.paymentIntents, 'pi', 'payment intent', id)
}

export const paymentIntentRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v2/payment_intents',
    handle(ctx, { body }) {
      const fields = bodyFields(body, CREATE_FIELDS)
      const amount = required(fields, 'amount', optAmount)
      const customer = optId(fields, 'customer', 'cust')
      if (customer !== undefined) getCustomer(ctx, customer)
      // Cards and SEPA accounts are not simulated: an id of either is unknown.
      const card = optId(fields, 'card', 'card')
      if (card !== undefined) throw notFound('card', card)
      const sepa = optId(fields, 'sepa', 'sepa')
      if (sepa !== undefined) throw notFound('sepa', sepa)
      const id = ctx.newId('pi')
      const intent: PaymentIntent = {
        id,
        customer: customer ?? null,
        payment: null,
        methods_allowed: methodsAllowed(fields) ?? ['card', 'sepa'],
        order_id: optString(fields, 'order_id', 1, 36) ?? null,
        card: null,
        sepa: null,
        amount,
        currency: optEnum<Currency>(fields, 'currency', CURRENCIES) ?? 'eur',
        description: optString(fields, 'description', 3, 64) ?? null,
        status: 'require_payment_method',
        metadata: fields.metadata ?? null,
        threeds: optEnum(fields, 'threeds', ['required', 'none'] as const) ?? 'required',
        return_url: optUrl(fields, 'return_url') ?? null,
        created_at: ctx.isoNow(),
        capture: optBoolean(fields, 'capture') ?? true,
        url: `${ctx.baseUrl()}/pay/${id}`,
      }
      ctx.state.paymentIntents.set(id, intent)
      return intent
    },
  },
  {
    method: 'GET',
    path: '/v2/payment_intents',
    handle(ctx, { query }) {
      checkQuery(query, ['order_id', 'card', 'sepa'])
      const items = [...ctx.state.paymentIntents.values()].filter(
        (pi) =>
          (query.order_id === undefined || pi.order_id === query.order_id) &&
          (query.card === undefined || pi.card === query.card) &&
          (query.sepa === undefined || pi.sepa === query.sepa),
      )
      return paginate(items, query, 'payment_intents')
    },
  },
  { method: 'GET', path: '/v2/payment_intents/:id', handle: (ctx, { params }) => getIntent(ctx, params.id) },
  {
    method: 'DELETE',
    path: '/v2/payment_intents/:id',
    handle(ctx, { params }) {
      const intent = getIntent(ctx, params.id)
      if (intent.status !== 'require_payment_method' && intent.status !== 'require_authentication') {
        throw conflict(`The payment intent is ${intent.status}, it cannot be deleted`)
      }
      intent.status = 'canceled'
      ctx.emit('payment_intent.canceled', intent)
      return intent
    },
  },
  {
    method: 'POST',
    path: '/v2/payment_intents/:id/capture',
    handle(ctx, { params, body }) {
      const intent = getIntent(ctx, params.id)
      bodyFields(body, [])
      if (intent.status !== 'authorized' || intent.payment === null) throw conflict(`The payment intent is ${intent.status}, it cannot be captured`)
      const payment = ctx.state.payments.get(intent.payment)
      if (payment) {
        payment.status = 'to_capture'
        ctx.emit('payment.to_capture', payment)
      }
      intent.status = 'captured'
      ctx.emit('payment_intent.captured', intent)
      return intent
    },
  },
  {
    method: 'GET',
    path: '/v2/payment_intents/:id/payments',
    handle(ctx, { params, query }) {
      const intent = getIntent(ctx, params.id)
      checkQuery(query, [])
      const items = [...ctx.state.payments.values()].filter((p) => ctx.state.paymentIntentOf.get(p.id) === intent.id)
      return paginate(items, query, 'payments')
    },
  },
]
