// Payments: made by the hosted page when the guest pays (or is refused) for
// a payment intent; retrieve, list (filters created, unique_id, order_id,
// card, sepa, payout), and each payment's refunds and disputes. A paid
// payment is `to_capture` (or `authorized` with `capture: false`) until a
// settlement pays it out, when it becomes `captured`.
import { conflict } from './errors.js'
import { byId, createdSince, paginate, type Route } from './route.js'
import type { Payment, PaymentCard, PaymentIntent, SimContext } from './state.js'
import { checkQuery } from './validate.js'

export type PayOutcome = 'paid' | 'declined' | 'challenge'
export type ChallengeOutcome = 'passed' | 'failed'

/** The provider's fee on a payment: basis points of the amount (rounded half up) plus a fixed part, integer cents. */
export function feeFor(ctx: SimContext, amount: number): number {
  return Math.floor((amount * ctx.fees.basisPoints + 5000) / 10000) + ctx.fees.fixedCents
}

function testCard(ctx: SimContext, last4: string): PaymentCard {
  return { id: ctx.newId('card'), brand: 'visa', country: 'FR', exp_month: 12, exp_year: 2030, funding: 'credit', last4, nature: 'personal', network: 'visa' }
}

function makePayment(ctx: SimContext, intent: PaymentIntent, result: 'approved' | 'refused' | 'failed', auth: Payment['auth']): Payment {
  const approved = result === 'approved'
  const payment: Payment = {
    id: ctx.newId('paym'),
    amount: intent.amount,
    auth,
    capture: intent.capture,
    created: ctx.nowSeconds(),
    currency: intent.currency,
    customer: intent.customer,
    date_settlement: null,
    date_bank: null,
    description: intent.description,
    device: null,
    fee: approved ? feeFor(ctx, intent.amount) : 0,
    method: 'card',
    methods_allowed: [...intent.methods_allowed],
    order_id: intent.order_id,
    unique_id: null,
    response: approved ? '00' : '05',
    response_author: 'simulator',
    return_url: intent.return_url,
    card: testCard(ctx, approved ? '4242' : '0002'),
    sepa: null,
    status: approved ? (intent.capture ? 'to_capture' : 'authorized') : result,
  }
  ctx.state.payments.set(payment.id, payment)
  ctx.state.paymentIntentOf.set(payment.id, intent.id)
  intent.payment = payment.id
  ctx.emit(`payment.${payment.status}`, payment)
  return payment
}

function approve(ctx: SimContext, intent: PaymentIntent, auth: Payment['auth']): void {
  makePayment(ctx, intent, 'approved', auth)
  intent.status = intent.capture ? 'captured' : 'authorized'
  ctx.emit(`payment_intent.${intent.status}`, intent)
}

/** The guest on the hosted page: pays, is declined, or is sent to a 3-D Secure challenge. */
export function payIntent(ctx: SimContext, intent: PaymentIntent, outcome: PayOutcome): PaymentIntent {
  if (intent.status !== 'require_payment_method') throw conflict(`The payment intent is ${intent.status}, it cannot be paid`)
  if (outcome === 'paid') approve(ctx, intent, intent.threeds === 'none' ? null : { status: 'attempted' })
  else if (outcome === 'declined') makePayment(ctx, intent, 'refused', null)
  else {
    intent.status = 'require_authentication'
    ctx.emit('payment_intent.require_authentication', intent)
  }
  return intent
}

/** The guest answers the 3-D Secure challenge. */
export function completeChallenge(ctx: SimContext, intent: PaymentIntent, outcome: ChallengeOutcome): PaymentIntent {
  if (intent.status !== 'require_authentication') throw conflict(`The payment intent is ${intent.status}, it has no open challenge`)
  if (outcome === 'passed') approve(ctx, intent, { status: 'success' })
  else {
    makePayment(ctx, intent, 'failed', { status: 'failed' })
    intent.status = 'require_payment_method'
    ctx.emit('payment_intent.require_payment_method', intent)
  }
  return intent
}

export function getPayment(ctx: SimContext, id: string | undefined): Payment {
  return byId(ctx.state.payments, 'paym', 'payment', id)
}

/** What can still be refunded: the amount less every refund not refused (integer cents). */
export function refundableRest(ctx: SimContext, payment: Payment): number {
  let refunded = 0
  for (const r of ctx.state.refunds.values()) if (r.payment === payment.id && r.status !== 'not_honored') refunded += r.amount
  return payment.amount - refunded
}

export const paymentRoutes: Route[] = [
  {
    method: 'GET',
    path: '/v2/payments',
    handle(ctx, { query }) {
      checkQuery(query, ['created', 'unique_id', 'order_id', 'card', 'sepa', 'payout'])
      const since = createdSince(query)
      const items = [...ctx.state.payments.values()].filter(
        (p) =>
          (since === undefined || p.created >= since) &&
          (query.unique_id === undefined || p.unique_id === query.unique_id) &&
          (query.order_id === undefined || p.order_id === query.order_id) &&
          (query.card === undefined || p.card.id === query.card) &&
          query.sepa === undefined &&
          (query.payout === undefined || ctx.state.payoutOf.get(p.id) === query.payout),
      )
      return paginate(items, query, 'payments')
    },
  },
  { method: 'GET', path: '/v2/payments/:id', handle: (ctx, { params }) => getPayment(ctx, params.id) },
  {
    method: 'GET',
    path: '/v2/payments/:id/refunds',
    handle(ctx, { params }) {
      const payment = getPayment(ctx, params.id)
      return [...ctx.state.refunds.values()].filter((r) => r.payment === payment.id)
    },
  },
  {
    method: 'GET',
    path: '/v2/payments/:id/disputes',
    handle(ctx, { params }) {
      const payment = getPayment(ctx, params.id)
      return [...ctx.state.disputes.values()].filter((d) => d.payment === payment.id)
    },
  },
]
