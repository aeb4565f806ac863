// Webhooks. The seed's webhooks section is empty: it names no events and no
// signature. So the simulator sends its own, unsigned: a JSON POST of
// `{id: "evnt_…", type: "<object>.<status>", created: <unix seconds>, data: <the object>}`
// for every status an object takes. A receiver should treat an event as a hint
// and read the object back through the API by its id (nothing proves the POST
// came from the provider). Tests choose how the next events arrive: once,
// twice (a duplicate delivery) or never (a lost webhook). Deliveries run one
// after another; flush() waits for them.

export type WebhookMode = 'once' | 'twice' | 'none'

export interface WebhookEvent {
  id: string
  type: string
  created: number
  data: unknown
}

export interface WebhookDelivery {
  eventId: string
  type: string
  /** HTTP status of the endpoint's answer, or 0 when it could not be reached. */
  status: number
  error?: string
}

export interface WebhookSenderOptions {
  url?: string
  fetch?: typeof fetch
  timeoutMs?: number
}

export function createWebhookSender(options: WebhookSenderOptions) {
  const doFetch = options.fetch ?? fetch
  const timeoutMs = options.timeoutMs ?? 5_000
  let url = options.url
  let mode: WebhookMode = 'once'
  /** How many more events the mode applies to before it goes back to `once` (Infinity: until changed). */
  let modeLeft = Number.POSITIVE_INFINITY
  let queue: Promise<void> = Promise.resolve()
  const deliveries: WebhookDelivery[] = []
  const events: WebhookEvent[] = []

  async function sendOnce(event: WebhookEvent, target: string): Promise<void> {
    const delivery: WebhookDelivery = { eventId: event.id, type: event.type, status: 0 }
    try {
      const response = await doFetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'provider-sim webhooks' },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(timeoutMs),
      })
      delivery.status = response.status
      await response.arrayBuffer() // drain, so the connection is reused and closed cleanly
    } catch (err) {
      delivery.error = (err as Error).message
    }
    deliveries.push(delivery)
  }

  function enqueue(event: WebhookEvent, times: number): void {
    const target = url
    if (target === undefined) return
    for (let i = 0; i < times; i += 1) queue = queue.then(() => sendOnce(event, target))
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
      enqueue(event, current === 'none' ? 0 : current === 'twice' ? 2 : 1)
    },
    /** Sends a recorded event again now, whatever the mode. */
    resend(eventId: string): Promise<void> {
      const event = events.find((e) => e.id === eventId)
      if (!event) throw new Error(`provider-sim: no such event ${eventId}`)
      enqueue(event, 1)
      return queue
    },
    setUrl(next: string | undefined): void {
      url = next
    },
    /** `count` events get this mode, then it is `once` again; without a count it stays. */
    setMode(next: WebhookMode, count?: number): void {
      mode = next
      modeLeft = count ?? Number.POSITIVE_INFINITY
    },
    flush(): Promise<void> {
      return queue
    },
    deliveries: (): WebhookDelivery[] => [...deliveries],
    events: (type?: string): WebhookEvent[] => events.filter((e) => type === undefined || e.type === type),
  }
}

export type WebhookSender = ReturnType<typeof createWebhookSender>
