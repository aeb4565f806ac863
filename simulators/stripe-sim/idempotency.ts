// Stripe's idempotency keys: the first result of a POST is saved under its
// `Idempotency-Key`; the same key with the same parameters gets that result
// again, with different parameters (or another endpoint) a 400
// idempotency_error. As on Stripe, only requests that started executing are
// saved: a refusal of the parameters is not, so the caller can fix and retry.
import { StripeSimError } from './errors.js'

export interface SavedResult {
  statusCode: number
  body: unknown
}

interface Entry extends SavedResult {
  fingerprint: string
}

const MAX_KEY_LENGTH = 255

/** Method, path and the parameters in a canonical order. */
export function requestFingerprint(method: string, path: string, rawBody: string): string {
  const pairs = [...new URLSearchParams(rawBody)].map(([k, v]) => `${k}=${v}`).sort()
  return `${method} ${path}\n${pairs.join('&')}`
}

/** Which outcomes count as "the endpoint ran": successes, card errors, state refusals. */
export function isSavedOutcome(statusCode: number, code: string | undefined): boolean {
  if (statusCode < 300 || statusCode === 402) return true
  if (statusCode !== 400 || code === undefined) return false
  return code.endsWith('_unexpected_state') || code.startsWith('terminal_reader_') || REFUND_REFUSALS.has(code)
}

/** A refund the payment's state refuses (nothing left, too much, not paid): the endpoint ran. */
const REFUND_REFUSALS = new Set(['charge_already_refunded', 'amount_too_large', 'charge_not_refundable'])

export function createIdempotencyStore() {
  const entries = new Map<string, Entry>()
  return {
    /** The saved result for a replay, undefined for a new key; throws on a mismatched reuse. */
    lookup(key: string, fingerprint: string): SavedResult | undefined {
      if (key.length === 0 || key.length > MAX_KEY_LENGTH) {
        throw new StripeSimError(400, {
          type: 'invalid_request_error',
          message: `Invalid Idempotency-Key: it must be between 1 and ${MAX_KEY_LENGTH} characters long.`,
        })
      }
      const entry = entries.get(key)
      if (!entry) return undefined
      if (entry.fingerprint !== fingerprint) {
        throw new StripeSimError(400, {
          type: 'idempotency_error',
          message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
        })
      }
      return { statusCode: entry.statusCode, body: entry.body }
    },
    save(key: string, fingerprint: string, result: SavedResult): void {
      entries.set(key, { fingerprint, ...result })
    },
  }
}
