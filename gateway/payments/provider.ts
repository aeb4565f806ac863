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
