// Webhook delivery as the payment simulators do it: each event is POSTed to
// the endpoint set when it was queued, one delivery after another, and every
// answer (or failure) is recorded. A simulator says how often an event goes
// out (once, twice for a duplicate, never for a lost one) and what the request
// carries (its body and headers, built when it is sent, so a signature holds
// the time of sending); flush() waits for everything queued so far.

export type WebhookMode = 'once' | 'twice' | 'none'

export interface WebhookDelivery {
  eventId: string
  type: string
  /** HTTP status of the endpoint's answer, or 0 when it could not be reached. */
  status: number
  error?: string
}

/** One webhook request: which event, and the body and headers to POST. */
export interface OutgoingWebhook {
  eventId: string
  type: string
  body: string
  headers: Record<string, string>
}

/** How many times an event goes out in a mode. */
export const sendsIn = (mode: WebhookMode): number => (mode === 'none' ? 0 : mode === 'twice' ? 2 : 1)

export function createWebhookDeliveries(options: { fetch?: typeof fetch; timeoutMs: number }) {
  const doFetch = options.fetch ?? fetch
  let queue: Promise<void> = Promise.resolve()
  const deliveries: WebhookDelivery[] = []

  async function sendOnce(target: string, build: () => OutgoingWebhook): Promise<void> {
    const webhook = build()
    const delivery: WebhookDelivery = { eventId: webhook.eventId, type: webhook.type, status: 0 }
    try {
      const response = await doFetch(target, { method: 'POST', headers: webhook.headers, body: webhook.body, signal: AbortSignal.timeout(options.timeoutMs) })
      delivery.status = response.status
      await response.arrayBuffer() // drain, so the connection is reused and closed cleanly
    } catch (err) {
      delivery.error = (err as Error).message
    }
    deliveries.push(delivery)
  }

  return {
    /** Queues `times` deliveries to `target` (none without a target); resolves when they and all before them are done. */
    enqueue(target: string | undefined, times: number, build: () => OutgoingWebhook): Promise<void> {
      if (target !== undefined) for (let i = 0; i < times; i += 1) queue = queue.then(() => sendOnce(target, build))
      return queue
    },
    /** Resolves when every delivery queued so far has been answered (or failed). */
    flush: (): Promise<void> => queue,
    deliveries: (): WebhookDelivery[] => [...deliveries],
  }
}
