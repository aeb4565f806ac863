// Refunds: create against a payment (the whole refundable rest, or part of
// it: never more than the payment less its earlier refunds), retrieve, list.
// A refund is `to_refund` until a settlement pays it out (`refunded`);
// one the card network refuses is `not_honored` and gives the amount back
// to the refundable rest.
import { badRequest, conflict } from './errors.js'
import { getPayment, refundableRest } from './payments.js'
import { byId, createdSince, paginate, type Route } from './route.js'
import type { Refund, SimContext } from './state.js'
import { bodyFields, checkQuery, optAmount, optId, required } from './validate.js'

const REFUNDABLE = new Set(['to_capture', 'captured', 'disputed'])

export interface RefundPolicy {
  /** How many of the next refunds the card network refuses (`not_honored`). */
  refuseNext: number
}

export function refundRoutes(policy: RefundPolicy): Route[] {
  return [
    {
      method: 'POST',
      path: '/v2/refunds',
      handle(ctx: SimContext, { body }) {
        const fields = bodyFields(body, ['payment', 'amount'])
        const paymentId = required(fields, 'payment', (f, n) => optId(f, n, 'paym'))
        const requested = optAmount(fields)
        const payment = getPayment(ctx, paymentId)
        if (!REFUNDABLE.has(payment.status)) throw conflict(`The payment is ${payment.status}, it cannot be refunded`)
        const rest = refundableRest(ctx, payment)
        const amount = requested ?? rest
        if (amount < 1) throw (requested === undefined ? conflict('The payment is refunded in full already') : badRequest('amount must be at least 1'))
        if (amount > rest) throw conflict(`amount ${amount} exceeds the refundable rest of the payment (${rest})`)
        const refused = policy.refuseNext > 0
        if (refused) policy.refuseNext -= 1
        const refund: Refund = {
          id: ctx.newId('refd'),
          amount,
          currency: payment.currency,
          date_bank: null,
          date_refund: null,
          payment: payment.id,
          created: ctx.nowSeconds(),
          status: refused ? 'not_honored' : 'to_refund',
        }
        ctx.state.refunds.set(refund.id, refund)
        ctx.emit(`refund.${refund.status}`, refund)
        return refund
      },
    },
    {
      method: 'GET',
      path: '/v2/refunds',
      handle(ctx, { query }) {
        // `created` is not among the seed's refund list filters; accepted here as on the other lists.
        checkQuery(query, ['created'])
        const since = createdSince(query)
        return paginate([...ctx.state.refunds.values()].filter((r) => since === undefined || r.created >= since), query, 'refunds')
      },
    },
    { method: 'GET', path: '/v2/refunds/:id', handle: (ctx, { params }) => byId(ctx.state.refunds, 'refd', 'refund', params.id) },
  ]
}
