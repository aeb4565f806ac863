// An in-memory payment provider with the refund capability, for the refund
// tests: checkouts that a test marks paid, refunds it keeps per checkout, and
// faults to inject into the next refund calls. It refuses to refund more than
// a checkout was paid, as a real provider does, so a refund sent twice shows.
// Test code only.
import { ProviderError, RefundRefusedError, type PaymentProvider, type ProviderCheckout, type ProviderRefund } from '../provider.js'

export type RefundFault =
  /** The provider records the refund, then the answer is lost (a timeout after it accepted). */
  | 'timeout_after_recording'
  /** A 500 before anything is recorded. */
  | 'error_before_recording'
  /** The provider refuses outright (nothing refunded). */
  | 'refuse'
  /** The provider records the refund as pending; settle() decides it later. */
  | 'pending'

export interface FakeRefundProvider extends PaymentProvider {
  /** The guest pays the checkout on the provider's page. */
  pay(providerCheckoutId: string): void
  /** Faults for the next refund() calls, in order; a call with none left succeeds at once. */
  failNext(...faults: RefundFault[]): void
  /** refundsOf() throws (provider down) while this is true. */
  listingFails: boolean
  /** Runs at the start of every refund() call (a test may hold it there). */
  beforeRefund?: () => Promise<void>
  /** Changes a pending refund's status, as the provider does later. */
  settle(refundId: string, status: 'succeeded' | 'refused', reason?: string): void
  refundsHeld(providerCheckoutId: string): ProviderRefund[]
  /** How many refund() calls arrived, and the request ids they carried. */
  readonly refundCalls: { providerCheckoutId: string; amountCents: number; requestId: string }[]
}

export function createFakeRefundProvider(name = 'fakepay'): FakeRefundProvider {
  const checkouts = new Map<string, ProviderCheckout>()
  const refunds = new Map<string, ProviderRefund[]>()
  const faults: RefundFault[] = []
  const refundCalls: FakeRefundProvider['refundCalls'] = []
  let next = 0
  const nextId = (prefix: string) => `${prefix}_${String(++next).padStart(24, '0')}`

  const provider: FakeRefundProvider = {
    name,
    listingFails: false,
    refundCalls,
    async createCheckout(input) {
      const id = nextId('chk')
      checkouts.set(id, { status: 'pending', amountCents: input.amountCents, currency: input.currency, reference: input.reference })
      return { providerCheckoutId: id, redirectUrl: `https://pay.example/${id}` }
    },
    async getCheckout(id) {
      const found = checkouts.get(id)
      if (found === undefined) throw new ProviderError('no such checkout', 404)
      return { ...found }
    },
    async parseWebhook() {
      throw new ProviderError('the fake provider sends no webhooks')
    },
    pay(id) {
      const found = checkouts.get(id)
      if (found === undefined) throw new Error(`no checkout ${id}`)
      found.status = 'paid'
    },
    failNext(...more) {
      faults.push(...more)
    },
    settle(refundId, status, reason) {
      for (const list of refunds.values())
        for (const r of list)
          if (r.id === refundId) {
            r.status = status
            if (reason !== undefined) r.reason = reason
            return
          }
      throw new Error(`no refund ${refundId}`)
    },
    refundsHeld: (id) => (refunds.get(id) ?? []).map((r) => ({ ...r })),
    refunds: {
      async refund(input) {
        refundCalls.push({ providerCheckoutId: input.providerCheckoutId, amountCents: input.amountCents, requestId: input.requestId })
        await provider.beforeRefund?.()
        const fault = faults.shift()
        if (fault === 'error_before_recording') throw new ProviderError('fakepay answered 500', 500)
        if (fault === 'refuse') throw new RefundRefusedError('the card account is closed')
        const checkout = checkouts.get(input.providerCheckoutId)
        if (checkout === undefined || checkout.status !== 'paid') throw new RefundRefusedError('no paid payment for this checkout')
        if (input.currency !== checkout.currency) throw new RefundRefusedError('currency differs from the payment')
        const list = refunds.get(input.providerCheckoutId) ?? []
        const taken = list.filter((r) => r.status !== 'refused').reduce((sum, r) => sum + r.amountCents, 0)
        if (taken + input.amountCents > checkout.amountCents) throw new RefundRefusedError('more than the payment has left to refund')
        const made: ProviderRefund = { id: nextId('refd'), amountCents: input.amountCents, status: fault === 'pending' ? 'pending' : 'succeeded' }
        list.push(made)
        refunds.set(input.providerCheckoutId, list)
        if (fault === 'timeout_after_recording') throw new ProviderError('fakepay timed out')
        return { ...made }
      },
      async refundsOf(id) {
        if (provider.listingFails) throw new ProviderError('fakepay is down', 503)
        return (refunds.get(id) ?? []).map((r) => ({ ...r }))
      },
    },
  }
  return provider
}
