// The interface every online payment adapter (SumUp-style hosted checkout, Stripe, ...) implements.
// Money crosses this interface as integer cents; each adapter converts at its own API's edge.

export type CheckoutStatus = 'pending' | 'paid' | 'failed'

export interface CreateCheckoutInput {
  /** Our own checkout id; the provider echoes it back so that a checkout can be matched to it. */
  reference: string
  amountCents: number
  /** ISO 4217, upper case, e.g. 'EUR'. */
  currency: string
  description: string
  /** Where the provider sends the guest's browser after paying or declining. */
  returnUrl: string
}

export interface ProviderCheckout {
  status: CheckoutStatus
  amountCents: number
  currency: string
  reference: string
}

export interface PaymentProvider {
  readonly name: string // 'sumup' | 'stripe'
  createCheckout(input: CreateCheckoutInput): Promise<{ providerCheckoutId: string; redirectUrl: string }>
  getCheckout(providerCheckoutId: string): Promise<ProviderCheckout>
  /**
   * Verifies a webhook (signature and freshness) and says which checkout it concerns; throws
   * WebhookVerificationError (forged, stale, malformed) or WebhookIgnoredError (genuine, but not about a checkout).
   */
  parseWebhook(rawBody: Buffer, headers: Record<string, string | string[] | undefined>): Promise<{ providerCheckoutId: string }>
  /** Refunds to the card the guest paid a checkout with; an adapter whose provider cannot refund leaves it out. */
  readonly refunds?: CardRefunds
}

export type ProviderRefundStatus = 'pending' | 'succeeded' | 'refused'

/** A refund as the provider reports it; amounts in integer cents, in the checkout's currency. */
export interface ProviderRefund {
  /** The provider's own id of the refund. */
  id: string
  amountCents: number
  status: ProviderRefundStatus
  /** Why the provider refused it, in words a guest may read (no card data). */
  reason?: string
}

export interface CardRefundInput {
  /** The checkout the guest paid; the adapter finds the provider's payment behind it itself. */
  providerCheckoutId: string
  amountCents: number
  /** ISO 4217, upper case: the checkout's currency. */
  currency: string
  /** Ours, one per attempt: an adapter passes it as the provider's idempotency key where there is one. */
  requestId: string
}

/**
 * The refund capability of a provider. refund() throws RefundRefusedError when the provider
 * says no and refunded nothing; any other error (timeout, 5xx) leaves the outcome unknown,
 * and the caller asks refundsOf() before it sends again, never the other way round.
 */
export interface CardRefunds {
  refund(input: CardRefundInput): Promise<ProviderRefund>
  /** Every refund the provider holds for this checkout's payment, whoever made it. */
  refundsOf(providerCheckoutId: string): Promise<ProviderRefund[]>
}

/** The provider refused a refund outright (nothing refunded): the caller puts the money back on the wristband. */
export class RefundRefusedError extends Error {
  constructor(readonly reason: string) {
    super(`refund refused: ${reason}`)
    this.name = 'RefundRefusedError'
  }
}

/** A webhook that is forged, stale or malformed. The HTTP layer answers it with 400 and books nothing. */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'WebhookVerificationError'
  }
}

/**
 * A genuine webhook (signature checked, if the provider signs) about something that is not a checkout
 * status change, e.g. an event type we do not use. The HTTP layer acknowledges it (200) and books nothing,
 * so the provider does not keep retrying it.
 */
export class WebhookIgnoredError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'WebhookIgnoredError'
  }
}

/** The provider could not be reached or answered with something we cannot trust (5xx, timeout, bad body). */
export class ProviderError extends Error {
  constructor(message: string, readonly providerStatus?: number) {
    super(message)
    this.name = 'ProviderError'
  }
}

/** Refuses to send a guest to a page that charges something other than what we asked for. */
export function assertCheckoutMatches(provider: string, created: Pick<ProviderCheckout, 'amountCents' | 'currency' | 'reference'>, input: CreateCheckoutInput): void {
  if (created.amountCents !== input.amountCents || created.currency !== input.currency || created.reference !== input.reference)
    throw new ProviderError(`${provider} created a checkout that differs from the request (amount, currency or reference)`)
}

/** The provider's hosted payment page, which must be an http(s) URL: the guest's browser goes there. */
export function hostedPageUrl(provider: string, raw: unknown): string {
  let url: URL
  try {
    url = new URL(String(raw ?? ''))
  } catch {
    throw new ProviderError(`${provider} checkout has no hosted page URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ProviderError(`${provider} hosted page URL is not http(s)`)
  return url.href
}
