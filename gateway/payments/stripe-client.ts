// The one place a `Stripe` client (the official package) is made. Everything
// Stripe-backed (online top-up, users and payments, card terminals) takes the
// client from here, so that tests and the demo can point all of it at the
// Stripe simulator (simulators/stripe-sim) with `baseUrl`.
//
// Retries and idempotency (real money): the package retries a request after a
// network error, a 409 or a 5xx (`maxNetworkRetries`), and it puts a random
// Idempotency-Key on every POST so that such a retry replays the first result
// instead of creating a second charge. That key lives only as long as the
// call. A caller that may run again after a crash or restart (or a request
// that is itself retried by a client) must therefore pass its own key, derived
// from its own record, on EVERY create/confirm/capture call:
//
//   stripe.paymentIntents.create(params, { idempotencyKey: `wristpay:pi:${paymentId}` })
//
// Stripe keeps keys for at least 24 hours and answers a reused key with
// different parameters with an idempotency error (StripeIdempotencyError).
import Stripe from 'stripe'

export interface StripeClientOptions {
  /** Secret key, `sk_live_...` or `sk_test_...`. Never logged. */
  apiKey: string
  /** e.g. the simulator's `http://127.0.0.1:PORT`; default: Stripe's own API. */
  baseUrl?: string
  /** Automatic retries after network errors, 409 and 5xx (safe: see above). Default 2. */
  maxNetworkRetries?: number
  /** Per-request timeout. Default 30 s. */
  timeoutMs?: number
}

export function createStripeClient(options: StripeClientOptions): Stripe {
  if (!/^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/.test(options.apiKey)) {
    throw new Error('Stripe API key must be a secret key (sk_test_..., sk_live_..., or a restricted rk_ key)')
  }
  const config: Stripe.StripeConfig = {
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
    timeout: options.timeoutMs ?? 30_000,
    // No request-latency telemetry headers: nothing about our traffic leaves with the requests.
    telemetry: false,
    appInfo: { name: 'wristpay' },
  }
  if (options.baseUrl !== undefined) {
    const url = new URL(options.baseUrl)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`Stripe baseUrl must be http(s): ${options.baseUrl}`)
    if (url.pathname !== '/' || url.search !== '' || url.username !== '' || url.password !== '') {
      throw new Error('Stripe baseUrl must be a bare origin such as http://127.0.0.1:12111 (the package adds /v1/...)')
    }
    config.protocol = url.protocol === 'http:' ? 'http' : 'https'
    config.host = url.hostname
    config.port = url.port === '' ? (url.protocol === 'http:' ? 80 : 443) : Number(url.port)
  }
  return new Stripe(options.apiKey, config)
}
