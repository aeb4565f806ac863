// Throttling of wrong credentials per source address, shared by the APIs that
// take a bearer token from kiosks and operators (admin, card terminal). An
// address gets `maxFailures` wrong answers (401) per window; after that every
// request from it is answered 429 with Retry-After before its credential is
// looked at, so a right token from that address waits too and a guess learns
// nothing. Requests that are not refused as 401 do not count, so a busy kiosk
// with a right token is never throttled. IPv6 addresses count by their /64
// (one host usually holds a whole /64). The counting (fixed window per key,
// an LRU of keys) is @fastify/rate-limit's.
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { sendApiError } from '../portal-api/http-errors.js'

export interface CredentialThrottleOptions {
  /** Wrong credentials answered (401) per address and window; the next ones get 429 unchecked. */
  maxFailures: number
  windowMs: number
  /** Which API, for the log line when an address reaches the limit. */
  api: string
  logger: Logger
}

/** Addresses remembered at once; beyond that the least recently seen is forgotten. */
const TRACKED_ADDRESSES = 100_000

/**
 * Adds the throttle to `scope` (call it before the scope's own auth hook, so
 * that a throttled request never reaches the credential check). Every route of
 * the scope and of its child plugins is covered; a 401 from any of them counts.
 */
export async function throttleFailedCredentials(scope: FastifyInstance, options: CredentialThrottleOptions): Promise<void> {
  await scope.register(rateLimit, {
    // No route limit of its own: only the limiter below, driven by the hooks.
    global: false,
    max: options.maxFailures,
    timeWindow: options.windowMs,
    cache: TRACKED_ADDRESSES,
    ipv6Subnet: 64,
  })
  const failures = scope.createRateLimit()

  scope.addHook('onRequest', async (request, reply) => {
    const state = await failures(request, { increment: false })
    if (state.isAllowed || state.remaining > 0) return
    reply.header('retry-after', String(state.ttlInSeconds))
    return sendApiError(request, reply, { status: 429, type: 'rate_limited', message: `too many wrong credentials from this address; retry in ${state.ttlInSeconds} s` })
  })

  scope.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode !== 401) return payload
    const state = await failures(request)
    if (!state.isAllowed && state.remaining === 0 && !state.isExceeded) {
      // Once per address and window: the failure that used up the allowance.
      options.logger.warn({ api: options.api, address: state.key, maxFailures: options.maxFailures, windowMs: options.windowMs }, 'wrong credentials from one address: throttled')
    }
    return payload
  })
}
