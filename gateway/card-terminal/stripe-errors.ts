// Turning what the Stripe client throws into this API's errors. Stripe's own
// messages may quote request parameters, so only its code goes to the caller.
import Stripe from 'stripe'
import { HttpError } from '../http.js'

export function isStripeError(err: unknown): err is InstanceType<typeof Stripe.errors.StripeError> {
  return err instanceof Stripe.errors.StripeError
}

/** Stripe said the object does not exist (404 resource_missing). */
export function isResourceMissing(err: unknown): boolean {
  return isStripeError(err) && (err.code === 'resource_missing' || err.statusCode === 404)
}

/** Stripe refused the request itself (4xx other than auth): the caller's input was wrong. */
export function isStripeRequestRefusal(err: unknown): boolean {
  return isStripeError(err) && err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 && err.statusCode !== 401 && err.statusCode !== 403 && err.statusCode !== 429
}

/** A 502 for a Stripe failure we cannot blame on the caller (network, 5xx, our key). */
export function providerFailure(what: string, err: unknown): HttpError {
  const code = isStripeError(err) && err.code ? ` (${err.code})` : ''
  return new HttpError(502, 'provider_error', `${what}: Stripe did not complete the request${code}`)
}

/** A short, secret-free description for logs. */
export function describeStripeError(err: unknown): Record<string, unknown> {
  if (isStripeError(err)) return { stripeType: err.type, stripeCode: err.code, statusCode: err.statusCode, requestId: err.requestId }
  return { error: err instanceof Error ? err.name : typeof err }
}
