// Payouts: "settle now" groups everything not yet paid out (paid payments,
// refunds waiting to be sent, lost disputes) into one payout per currency,
// with the provider's fees; list (filters created, payment), retrieve, and
// each payout's payments, refunds and disputes. What the merchant receives
// is payments.amount − refunds.amount − disputes.amount − fees − fees_vat
// (the seed's payout shows no net amount, so neither do we).
import { badRequest } from './errors.js'
import { byId, paginate, type Route } from './route.js'
import type { Currency, Payout, PayoutMembers, PayoutStatus, SimContext } from './state.js'
import { checkQuery } from './validate.js'

export const PAYOUT_STATUSES: readonly PayoutStatus[] = ['pending', 'to_pay', 'sent', 'paid', 'failed', 'error']

/** Payments the guest paid (and, without capture, that were captured), not yet in a payout. */
function settleablePayments(ctx: SimContext) {
  return [...ctx.state.payments.values()].filter(
    (p) => (p.status === 'to_capture' || p.status === 'disputed' || p.status === 'captured') && !ctx.state.payoutOf.has(p.id),
  )
}

export function settleNow(ctx: SimContext, status: PayoutStatus = 'paid'): Payout[] {
  const s = ctx.state
  const payments = settleablePayments(ctx)
  const refunds = [...s.refunds.values()].filter((r) => r.status === 'to_refund' && !s.payoutOf.has(r.id))
  const disputes = [...s.disputes.values()].filter((d) => d.status === 'lost' && !s.payoutOf.has(d.id))
  const currencies = new Set<Currency>([...payments, ...refunds, ...disputes].map((x) => x.currency))
  const today = ctx.today()
  const made: Payout[] = []
  for (const currency of currencies) {
    const members: PayoutMembers = { payments: [], refunds: [], disputes: [], created: ctx.nowSeconds() }
    const payout: Payout = {
      id: ctx.newId('pout'),
      currency,
      payments: { amount: 0, count: 0 },
      refunds: { amount: 0, count: 0 },
      disputes: { amount: 0, count: 0 },
      fees: 0,
      fees_vat: 0,
      status,
      date: today,
    }
    for (const p of payments.filter((x) => x.currency === currency)) {
      members.payments.push(p.id)
      s.payoutOf.set(p.id, payout.id)
      payout.payments.amount += p.amount
      payout.payments.count += 1
      payout.fees += p.fee
      p.date_settlement = today
      p.date_bank = today
      if (p.status === 'to_capture') {
        p.status = 'captured'
        ctx.emit('payment.captured', p)
      }
    }
    for (const r of refunds.filter((x) => x.currency === currency)) {
      members.refunds.push(r.id)
      s.payoutOf.set(r.id, payout.id)
      payout.refunds.amount += r.amount
      payout.refunds.count += 1
      r.status = 'refunded'
      r.date_refund = today
      r.date_bank = today
      ctx.emit('refund.refunded', r)
    }
    for (const d of disputes.filter((x) => x.currency === currency)) {
      members.disputes.push(d.id)
      s.payoutOf.set(d.id, payout.id)
      payout.disputes.amount += d.amount
      payout.disputes.count += 1
      d.date_bank = ctx.nowSeconds()
    }
    payout.fees_vat = Math.floor((payout.fees * ctx.fees.vatBasisPoints + 5000) / 10000)
    s.payouts.set(payout.id, payout)
    s.payoutMembers.set(payout.id, members)
    ctx.emit(`payout.${payout.status}`, payout)
    made.push(payout)
  }
  return made
}

export function getPayout(ctx: SimContext, id: string | undefined): Payout {
  return byId(ctx.state.payouts, 'pout', 'payout', id)
}

export function setPayoutStatus(ctx: SimContext, id: string, status: PayoutStatus): Payout {
  if (!PAYOUT_STATUSES.includes(status)) throw badRequest(`status must be one of ${PAYOUT_STATUSES.join(', ')}`)
  const payout = getPayout(ctx, id)
  payout.status = status
  ctx.emit(`payout.${status}`, payout)
  return payout
}

function memberList(kind: 'payments' | 'refunds' | 'disputes'): Route {
  return {
    method: 'GET',
    path: `/v2/payouts/:id/${kind}`,
    handle(ctx, { params, query }) {
      const payout = getPayout(ctx, params.id)
      checkQuery(query, [])
      const ids = ctx.state.payoutMembers.get(payout.id)?.[kind] ?? []
      const map = ctx.state[kind] as Map<string, unknown>
      return paginate(ids.map((id) => map.get(id)), query, kind)
    },
  }
}

export const payoutRoutes: Route[] = [
  {
    method: 'GET',
    path: '/v2/payouts',
    handle(ctx, { query }) {
      checkQuery(query, ['created', 'payment'])
      let since: number | undefined
      if (query.created !== undefined) {
        const ms = Date.parse(query.created)
        if (Number.isNaN(ms)) throw badRequest('created must be a date-time')
        since = Math.floor(ms / 1000)
      }
      const items = [...ctx.state.payouts.values()].filter(
        (p) =>
          (since === undefined || (ctx.state.payoutMembers.get(p.id)?.created ?? 0) >= since) &&
          (query.payment === undefined || ctx.state.payoutOf.get(query.payment) === p.id),
      )
      return paginate(items, query, 'payouts')
    },
  },
  { method: 'GET', path: '/v2/payouts/:id', handle: (ctx, { params }) => getPayout(ctx, params.id) },
  memberList('payments'),
  memberList('refunds'),
  memberList('disputes'),
]
