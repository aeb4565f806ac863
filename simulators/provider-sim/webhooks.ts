// Webhooks. The seed's webhooks section is empty: it names no events and no
// signature. So the simulator sends its own, unsigned: a JSON POST of
// `{id: "evnt_…", type: "<object>.<status>", created: <unix seconds>, data: <the object>}`
// for every status an object takes. A receiver should treat an event as a hint
// and read the object back through the API by its id (nothing proves the POST
// came from the provider). Tests choose how the next events arrive: once,
// twice (a duplicate delivery) or never (a lost webhook). Deliveries run one
// after another; flush() waits for them.
import { createWebhookDeliveries, sendsIn, type WebhookDelivery, type WebhookMode } from '../webhook-delivery.js'

export type { WebhookDelivery, WebhookMode }

export interface WebhookEvent {
  id: string
  type: string
  created: number
  data: unknown
}

export interface WebhookSenderOptions {
  url?: string
  fetch?: typeof fetch
  timeoutMs?: number
}

export function createWebhookSender(options: WebhookSenderOptions) {
  const timeoutMs = options.timeoutMs ?? 5_000
  let url = options.url
  let mode: WebhookMode = 'once'
  /** How many more events the mode applies to before it goes back to `once` (Infinity: until changed). */
  let modeLeft = Number.POSITIVE_INFINITY
  const events: WebhookEvent[] = []
  const sender = createWebhookDeliveries({ fetch: options.fetch, timeoutMs })

  function enqueue(event: WebhookEvent, times: number): Promise<void> {
    return sender.enqueue(url, times, () => ({
      eventId: event.id,
      type: event.type,
      body: JSON.stringify(event),
      headers: { 'content-type': 'application/json', 'user-agent': 'provider-sim webhooks' },
    }))
  }

  return {
    /** Called for every new event: recorded, and sent according to the mode. */
    deliver(event: WebhookEvent): void {
      events.push(event)
      const current = modeLeft > 0 ? mode : 'once'
      if (modeLeft > 0 && modeLeft !== Number.POSITIVE_INFINITY) {
        modeLeft -= 1
        if (modeLeft === 0) mode = 'once'
      }
      void enqueue(event, sendsIn(current))
    },
    /** Sends a recorded event again now, whatever the mode. */
    resend(eventId: string): Promise<void> {
      const event = events.find((e) => e.id === eventId)
      if (!event) throw new Error(`provider-sim: no such event ${eventId}`)
      return enqueue(event, 1)
    },
    setUrl(next: string | undefined): void {
      url = next
    },
    /** `count` events get this mode, then it is `once` again; without a count it stays. */
    setMode(next: WebhookMode, count?: number): void {
      mode = next
      modeLeft = count ?? Number.POSITIVE_INFINITY
    },
    flush: sender.flush,
    deliveries: sender.deliveries,
    events: (type?: string): WebhookEvent[] => events.filter((e) => type === undefined || e.type === type),
  }
}

export type WebhookSender = ReturnType<typeof createWebhookSender>
