// Disputes (chargebacks): list (filter created) and retrieve through the
// API; raised on a paid payment and resolved won or lost by the controls,
// as a card network would. A lost dispute is taken from the next payout;
// a won one never touches a payout.
import { conflict, badRequest } from './errors.js'
import { getPayment } from './payments.js'
import { byId, createdSince, paginate, type Route } from './route.js'
import type { Dispute, SimContext } from './state.js'
import { checkQuery } from './validate.js'

export interface RaiseDisputeOptions {
  /** Integer cents; the whole payment when omitted. */
  amount?: number
  /** Card network reason code; `4837` (no cardholder authorisation) when omitted. */
  response?: string
  type?: string
}

export function raiseDispute(ctx: SimContext, paymentId: string, options: RaiseDisputeOptions = {}): Dispute {
  const payment = getPayment(ctx, paymentId)
  if (payment.status !== 'to_capture' && payment.status !== 'captured') throw conflict(`The payment is ${payment.status}, it cannot be disputed`)
  const amount = options.amount ?? payment.amount
  if (!Number.isInteger(amount) || amount < 1 || amount > payment.amount) throw badRequest(`amount must be an integer from 1 to ${payment.amount}`)
  const dispute: Dispute = {
    id: ctx.newId('dspt'),
    amount,
    currency: payment.currency,
    date_bank: null,
    order_id: payment.order_id,
    payment: payment.id,
    response: options.response ?? '4837',
    created: ctx.nowSeconds(),
    type: options.type ?? 'chargeback',
    status: 'open',
  }
  ctx.state.disputes.set(dispute.id, dispute)
  payment.status = 'disputed'
  ctx.emit('dispute.open', dispute)
  ctx.emit('payment.disputed', payment)
  return dispute
}

export function resolveDispute(ctx: SimContext, disputeId: string, outcome: 'won' | 'lost'): Dispute {
  const dispute = byId(ctx.state.disputes, 'dspt', 'dispute', disputeId)
  if (dispute.status !== 'open') throw conflict(`The dispute is ${dispute.status} already`)
  dispute.status = outcome
  ctx.emit(`dispute.${outcome}`, dispute)
  if (outcome === 'won') {
    const payment = getPayment(ctx, dispute.payment)
    payment.status = ctx.state.payoutOf.has(payment.id) ? 'captured' : 'to_capture'
    ctx.emit(`payment.${payment.status}`, payment)
  }
  return dispute
}

export const disputeRoutes: Route[] = [
  {
    method: 'GET',
    path: '/v2/disputes',
    handle(ctx, { query }) {
      checkQuery(query, ['created'])
      const since = createdSince(query)
      return paginate([...ctx.state.disputes.values()].filter((d) => since === undefined || d.created >= since), query, 'disputes')
    },
  },
  { method: 'GET', path: '/v2/disputes/:id', handle: (ctx, { params }) => byId(ctx.state.disputes, 'dspt', 'dispute', params.id) },
]
