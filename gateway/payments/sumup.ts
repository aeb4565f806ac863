// Adapter for a SumUp-style hosted checkout (SumUp's REST API, v0.1 checkouts).
//
//   POST /v0.1/checkouts  {checkout_reference, amount (decimal), currency, merchant_code, description,
//                          redirect_url, return_url?, hosted_checkout: {enabled: true}}
//        -> {id, status: PENDING|PAID|FAILED|EXPIRED, amount, currency, checkout_reference, hosted_checkout_url}
//   GET  /v0.1/checkouts/{id}
//   refunds: POST /v0.1/me/refund/{txn_id} and GET /v0.1/me/transactions?id= (sumup-refunds.ts)
//
// In SumUp's API `redirect_url` is where the guest's browser goes back after the hosted page, and
// `return_url` is where SumUp posts its webhook ({event_type: 'CHECKOUT_STATUS_CHANGED', id}).
// Money is a decimal at this edge and integer cents everywhere else.
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Logger } from 'pino'
import { centsFromDecimal, decimalFromCents } from '../../device-protocol/index.js'
import {
  assertCheckoutMatches,
  hostedPageUrl,
  ProviderError,
  WebhookIgnoredError,
  WebhookVerificationError,
  type CheckoutStatus,
  type CreateCheckoutInput,
  type PaymentProvider,
  type ProviderCheckout,
} from './provider.js'
import { createSumUpRefunds } from './sumup-refunds.js'

export const SUMUP_DEFAULT_BASE_URL = 'https://api.sumup.com'
/** Header carrying the optional shared-secret HMAC of a webhook body (hex, optionally prefixed `sha256=`). */
export const SUMUP_SIGNATURE_HEADER = 'x-payment-signature'
/** A webhook body is a few dozen bytes; anything much larger is not SumUp. */
const MAX_WEBHOOK_BYTES = 16 * 1024
/** Checkout ids are UUIDs at SumUp; be a little more lenient but never allow path characters. */
const CHECKOUT_ID = /^[A-Za-z0-9_-]{1,128}$/
const CURRENCY = /^[A-Z]{3}$/

export interface SumUpProviderOptions {
  /** Secret API key (`sup_sk_...`), sent as a bearer token; never logged. */
  apiKey: string
  merchantCode: string
  /** The API's origin; the simulator's URL in tests and the demo. */
  baseUrl?: string
  /** SumUp's `return_url`: where SumUp posts status-change webhooks. Without it we rely on polling alone. */
  webhookUrl?: string | (() => string)
  /**
   * SumUp does not sign its webhooks. When a proxy (or the simulator) adds an HMAC-SHA256 of the raw
   * body with a shared secret, set it here and unsigned or wrongly signed webhooks are refused.
   */
  webhookSecret?: string
  fetch?: typeof globalThis.fetch
  /** Per request; a timed-out request counts as "provider unavailable", the checkout stays pending. */
  timeoutMs?: number
  logger: Logger
}

interface SumUpCheckoutBody {
  id: string
  status: string
  amount: unknown
  currency: unknown
  checkout_reference: unknown
  hosted_checkout_url?: unknown
}

const STATUS_FROM_SUMUP: Record<string, CheckoutStatus> = {
  PENDING: 'pending',
  PAID: 'paid',
  FAILED: 'failed',
  // An expired hosted checkout can no longer be paid.
  EXPIRED: 'failed',
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name] ?? headers[name.toLowerCase()]
  return Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value
}

export function signSumUpWebhook(secret: string, rawBody: Buffer | string): string {
  return 'sha256=' + createHmac('sha256', secret).update(rawBody).digest('hex')
}

export function createSumUpProvider(options: SumUpProviderOptions): PaymentProvider {
  const baseUrl = (options.baseUrl ?? SUMUP_DEFAULT_BASE_URL).replace(/\/+$/, '')
  const doFetch = options.fetch ?? globalThis.fetch
  const timeoutMs = options.timeoutMs ?? 10_000
  const log = options.logger

  /** The parsed JSON answer; undefined for a 204 (SumUp's refund answers without a body). */
  async function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    let res: Response
    try {
      res = await doFetch(baseUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${options.apiKey}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      })
    } catch (err) {
      // Timeouts and refused connections: the outcome at the provider is unknown, so the caller keeps polling.
      throw new ProviderError(`sumup ${method} ${path.split('/').slice(0, 3).join('/')} failed: ${(err as Error).name}`)
    }
    if (res.status === 204) return undefined
    let parsed: unknown
    try {
      parsed = await res.json()
    } catch {
      parsed = undefined
    }
    if (!res.ok) {
      const code = isRecord(parsed) && typeof parsed.error_code === 'string' ? parsed.error_code.slice(0, 64) : 'unknown'
      throw new ProviderError(`sumup answered ${res.status} (${code})`, res.status)
    }
    if (parsed === undefined) throw new ProviderError('sumup answered with a body that is not JSON', res.status)
    return parsed
  }

  function checkoutBody(value: unknown): SumUpCheckoutBody {
    if (!isRecord(value) || typeof value.id !== 'string' || !CHECKOUT_ID.test(value.id) || typeof value.status !== 'string')
      throw new ProviderError('sumup checkout has no usable id or status')
    return value as unknown as SumUpCheckoutBody
  }

  function toProviderCheckout(body: SumUpCheckoutBody): ProviderCheckout {
    const status = STATUS_FROM_SUMUP[body.status]
    if (status === undefined) throw new ProviderError(`sumup checkout has an unknown status '${body.status.slice(0, 32)}'`)
    const amount = centsFromDecimal(body.amount)
    const amountCents = amount.ok ? amount.cents : 0
    if (amountCents <= 0) throw new ProviderError('sumup checkout has an unusable amount')
    if (typeof body.currency !== 'string' || !CURRENCY.test(body.currency)) throw new ProviderError('sumup checkout has an unusable currency')
    if (typeof body.checkout_reference !== 'string') throw new ProviderError('sumup checkout has no reference')
    return { status, amountCents, currency: body.currency, reference: body.checkout_reference }
  }

  return {
    name: 'sumup',
    refunds: createSumUpRefunds({ call, logger: log }),

    async createCheckout(input: CreateCheckoutInput) {
      if (!Number.isSafeInteger(input.amountCents) || input.amountCents <= 0) throw new RangeError('amountCents must be a positive integer')
      if (!CURRENCY.test(input.currency)) throw new RangeError('currency must be an ISO 4217 code')
      const request = {
        checkout_reference: input.reference,
        amount: decimalFromCents(input.amountCents),
        currency: input.currency,
        merchant_code: options.merchantCode,
        description: input.description,
        redirect_url: input.returnUrl,
        ...(options.webhookUrl === undefined ? {} : { return_url: typeof options.webhookUrl === 'function' ? options.webhookUrl() : options.webhookUrl }),
        hosted_checkout: { enabled: true },
      }
      const body = checkoutBody(await call('POST', '/v0.1/checkouts', request))
      const created = toProviderCheckout(body)
      assertCheckoutMatches('sumup', created, input)
      const redirectUrl = hostedPageUrl('sumup', body.hosted_checkout_url)
      log.info({ provider: 'sumup', providerCheckoutId: body.id, reference: input.reference }, 'sumup checkout created')
      return { providerCheckoutId: body.id, redirectUrl }
    },

    async getCheckout(providerCheckoutId: string) {
      if (!CHECKOUT_ID.test(providerCheckoutId)) throw new RangeError('not a sumup checkout id')
      const body = checkoutBody(await call('GET', `/v0.1/checkouts/${encodeURIComponent(providerCheckoutId)}`))
      if (body.id !== providerCheckoutId) throw new ProviderError('sumup answered with another checkout')
      return toProviderCheckout(body)
    },

    /**
     * SumUp does not sign webhooks, so a webhook is only a hint that a checkout changed: the caller
     * must confirm the status with getCheckout() before it books anything (online-topups does). A
     * forged or replayed webhook then costs one GET and changes nothing. That is also why there is no
     * freshness check here: the body carries no timestamp, and a replay is harmless for the same reason.
     */
    async parseWebhook(rawBody, headers) {
      if (rawBody.length > MAX_WEBHOOK_BYTES) throw new WebhookVerificationError('webhook body too large')
      if (options.webhookSecret !== undefined) {
        const presented = headerValue(headers, SUMUP_SIGNATURE_HEADER)
        const hex = presented?.replace(/^sha256=/, '')
        if (hex === undefined || !/^[0-9a-f]{64}$/i.test(hex)) throw new WebhookVerificationError('webhook signature missing or malformed')
        const expected = createHmac('sha256', options.webhookSecret).update(rawBody).digest()
        if (!timingSafeEqual(Buffer.from(hex, 'hex'), expected)) throw new WebhookVerificationError('webhook signature does not match')
      }
      let event: unknown
      try {
        event = JSON.parse(rawBody.toString('utf8'))
      } catch {
        throw new WebhookVerificationError('webhook body is not JSON')
      }
      if (!isRecord(event)) throw new WebhookVerificationError('webhook body is not an object')
      let id: unknown
      // The classic form, and the newer event form ({event_type: 'checkout.status.updated', payload: {checkout_id}}).
      if (event.event_type === 'CHECKOUT_STATUS_CHANGED') id = event.id
      else if (event.event_type === 'checkout.status.updated') id = isRecord(event.payload) ? event.payload.checkout_id : undefined
      // SumUp asks integrations to ignore event types they do not know (new ones may appear any time).
      else if (typeof event.event_type === 'string') throw new WebhookIgnoredError('webhook event type is not a checkout status change')
      else throw new WebhookVerificationError('webhook has no event type')
      if (typeof id !== 'string' || !CHECKOUT_ID.test(id)) throw new WebhookVerificationError('webhook names no valid checkout id')
      return { providerCheckoutId: id }
    },
  }
}
