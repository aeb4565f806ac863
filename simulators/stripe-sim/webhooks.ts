// Webhook delivery as Stripe does it: the event JSON POSTed to the endpoint
// with `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "t.payload")>`.
// Tests choose how often each event arrives: once, twice (a duplicate
// delivery, which Stripe allows) or not at all (a lost webhook, so the
// receiver must also poll). Deliveries run one after another; flush() waits.
import { createHmac } from 'node:crypto'
import type { StripeEvent } from './state.js'
import { createWebhookDeliveries, sendsIn, type WebhookDelivery, type WebhookMode } from '../webhook-delivery.js'

export type { WebhookDelivery, WebhookMode }

export interface WebhookSenderOptions {
  secret: string
  url?: string
  mode?: WebhookMode
  nowSeconds: () => number
  fetch?: typeof fetch
  timeoutMs?: number
}

export function signPayload(secret: string, payload: string, timestampSeconds: number): string {
  const signature = createHmac('sha256', secret).update(`${timestampSeconds}.${payload}`).digest('hex')
  return `t=${timestampSeconds},v1=${signature}`
}

export function createWebhookSender(options: WebhookSenderOptions) {
  const timeoutMs = options.timeoutMs ?? 10_000
  let url = options.url
  let mode: WebhookMode = options.mode ?? 'once'
  const sender = createWebhookDeliveries({ fetch: options.fetch, timeoutMs })

  function enqueue(event: StripeEvent, times: number): Promise<void> {
    return sender.enqueue(url, times, () => {
      const body = JSON.stringify(event, null, 2)
      return {
        eventId: event.id,
        type: event.type,
        body,
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'stripe-signature': signPayload(options.secret, body, options.nowSeconds()),
        },
      }
    })
  }

  return {
    /** Called for every new event: sends it according to the mode. */
    deliver(event: StripeEvent): void {
      void enqueue(event, sendsIn(mode))
    },
    /** Sends an event again (Stripe's "resend" in the dashboard), whatever the mode. */
    resend(event: StripeEvent): Promise<void> {
      return enqueue(event, 1)
    },
    setUrl(next: string | undefined): void {
      url = next
    },
    setMode(next: WebhookMode): void {
      mode = next
    },
    /** Resolves when every delivery queued so far has been answered (or failed). */
    flush: sender.flush,
    deliveries: sender.deliveries,
  }
}

export type WebhookSender = ReturnType<typeof createWebhookSender>
