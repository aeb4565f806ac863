// Webhook delivery as Stripe does it: the event JSON POSTed to the endpoint
// with `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "t.payload")>`.
// Tests choose how often each event arrives: once, twice (a duplicate
// delivery, which Stripe allows) or not at all (a lost webhook, so the
// receiver must also poll). Deliveries run one after another; flush() waits.
import { createHmac } from 'node:crypto'
import type { StripeEvent } from './state.js'

export type WebhookMode = 'once' | 'twice' | 'none'

export interface WebhookDelivery {
  eventId: string
  type: string
  /** HTTP status of the endpoint's answer, or 0 when it could not be reached. */
  status: number
  error?: string
}

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
  const doFetch = options.fetch ?? fetch
  const timeoutMs = options.timeoutMs ?? 10_000
  let url = options.url
  let mode: WebhookMode = options.mode ?? 'once'
  let queue: Promise<void> = Promise.resolve()
  const deliveries: WebhookDelivery[] = []

  async function sendOnce(event: StripeEvent, target: string): Promise<void> {
    const payload = JSON.stringify(event, null, 2)
    const delivery: WebhookDelivery = { eventId: event.id, type: event.type, status: 0 }
    try {
      const response = await doFetch(target, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'stripe-signature': signPayload(options.secret, payload, options.nowSeconds()),
        },
        body: payload,
        signal: AbortSignal.timeout(timeoutMs),
      })
      delivery.status = response.status
      await response.arrayBuffer() // drain, so the connection is reused and closed cleanly
    } catch (err) {
      delivery.error = (err as Error).message
    }
    deliveries.push(delivery)
  }

  function enqueue(event: StripeEvent, times: number): void {
    const target = url
    if (target === undefined) return
    for (let i = 0; i < times; i += 1) queue = queue.then(() => sendOnce(event, target))
  }

  return {
    /** Called for every new event: sends it according to the mode. */
    deliver(event: StripeEvent): void {
      enqueue(event, mode === 'none' ? 0 : mode === 'twice' ? 2 : 1)
    },
    /** Sends an event again (Stripe's "resend" in the dashboard), whatever the mode. */
    resend(event: StripeEvent): Promise<void> {
      enqueue(event, 1)
      return queue
    },
    setUrl(next: string | undefined): void {
      url = next
    },
    setMode(next: WebhookMode): void {
      mode = next
    },
    /** Resolves when every delivery queued so far has been answered (or failed). */
    flush(): Promise<void> {
      return queue
    },
    deliveries(): WebhookDelivery[] {
      return [...deliveries]
    },
  }
}

export type WebhookSender = ReturnType<typeof createWebhookSender>
