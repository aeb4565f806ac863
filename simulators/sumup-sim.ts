// A SumUp-style online payment provider, simulated: the checkouts API
// (POST/GET /v0.1/checkouts), a hosted checkout page with "Pay" and "Decline"
// buttons that redirects the browser back to `redirect_url`, and webhooks
// ({event_type: 'CHECKOUT_STATUS_CHANGED', id}) posted to the checkout's
// `return_url`. Tests and the demo drive it through `control`: pay, decline or
// expire a checkout, deliver webhooks once, twice, late or never, report a
// tampered amount, fail API requests (5xx, hang until the client gives up).
// Refunds as SumUp's API has them: POST /v0.1/me/refund/{txn_id} (optional
// decimal `amount`, 204 without a body: SumUp gives no refund id and takes
// no idempotency key) and GET /v0.1/me/transactions?id={txn_id}, whose
// `events` carry each REFUND with its numeric id and status (PENDING,
// REFUNDED, FAILED). More than is left to refund is a 409.
import { createHmac, randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'

/** The header the gateway's SumUp adapter checks when a webhook secret is configured (simulators import no gateway code). */
export const SIM_SIGNATURE_HEADER = 'x-payment-signature'

export function simSignWebhook(secret: string, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex')
}

export type SumUpSimStatus = 'PENDING' | 'PAID' | 'FAILED' | 'EXPIRED'

export interface SumUpSimCheckout {
  id: string
  checkout_reference: string
  amount: number
  currency: string
  merchant_code: string
  description: string
  redirect_url?: string
  return_url?: string
  status: SumUpSimStatus
  date: string
  hosted_checkout: { enabled: boolean }
  hosted_checkout_url: string
  transactions: Array<{ id: string; amount: number; currency: string; status: 'SUCCESSFUL' | 'FAILED'; timestamp: string }>
}

/**
 * What happens after a status change: 'once' posts the webhook once, 'twice' posts it twice at the
 * same time (a duplicate delivery), 'never' posts nothing (tests call control.sendWebhook later).
 */
export type WebhookMode = 'once' | 'twice' | 'never'

/** How the next API requests fail: '5xx' answers 503, 'hang' never answers (the client times out). */
export type FailureKind = '5xx' | 'hang'

export type SumUpSimRefundStatus = 'PENDING' | 'REFUNDED' | 'FAILED'

export interface SumUpSimRefundEvent {
  id: number
  transaction_id: string
  type: 'REFUND'
  status: SumUpSimRefundStatus
  /** Decimal, as SumUp's amounts. */
  amount: number
  timestamp: string
}

export interface SumUpSimOptions {
  apiKey: string
  merchantCode?: string
  host?: string
  port?: number
  webhookMode?: WebhookMode
  /** If set, webhooks carry `x-payment-signature: sha256=HMAC-SHA256(secret, body)` (a proxy's job in real life). */
  webhookSecret?: string
  /** Webhooks go to each checkout's `return_url`; this one is used when a checkout has none. */
  defaultWebhookUrl?: string
  webhookTimeoutMs?: number
}

export interface WebhookDelivery {
  checkoutId: string
  url: string
  /** HTTP status, or 0 when the request failed. */
  status: number
}

export interface SumUpSimControl {
  checkout(id: string): SumUpSimCheckout | undefined
  checkouts(): SumUpSimCheckout[]
  /** Marks a checkout paid (as if the guest paid) and delivers webhooks per the webhook mode. */
  pay(id: string): Promise<void>
  decline(id: string): Promise<void>
  expire(id: string): Promise<void>
  /** Sets any status, even on a finished checkout (a provider that changes its mind), with webhooks per the mode. */
  force(id: string, status: SumUpSimStatus): void
  setWebhookMode(mode: WebhookMode): void
  /** Posts the status-change webhook of a checkout now (e.g. late, after polling already saw it), `times` at once. */
  sendWebhook(id: string, times?: number, overrides?: { body?: string; signature?: string }): Promise<WebhookDelivery[]>
  /** The next `count` API requests fail this way (the hosted page keeps working). */
  failNext(count: number, kind: FailureKind): void
  /** While down, every API request answers 503. */
  setDown(down: boolean): void
  /** What GET reports for a checkout from now on, whatever was asked for (a provider bug or an attack). */
  tamper(id: string, reported: { amount?: number; currency?: string; checkout_reference?: string }): void
  /** Waits until every webhook delivery started so far has finished. */
  idle(): Promise<void>
  /** New refunds stay PENDING until settleRefund() (true), or are REFUNDED at once (false, the default). */
  holdRefunds(hold: boolean): void
  /** The next `count` refunds are recorded FAILED (the card's bank refused them). */
  failNextRefunds(count: number): void
  /** The next `count` refund requests answer 503 before anything is done. */
  failNextRefundRequests(count: number): void
  /** The next `count` refund requests are carried out, then never answered (the client times out). */
  loseNextRefundAnswers(count: number): void
  settleRefund(eventId: number, status: 'REFUNDED' | 'FAILED'): void
  /** The refund events of a transaction (the checkout's successful one). */
  refunds(transactionId: string): SumUpSimRefundEvent[]
  readonly deliveries: readonly WebhookDelivery[]
  /** API requests seen (authorised or not), by route. */
  readonly requestCounts: Record<string, number>
}

export interface SumUpSim {
  baseUrl: string
  app: FastifyInstance
  control: SumUpSimControl
  close(): Promise<void>
}

const CURRENCIES = new Set(['BRL', 'CHF', 'CLP', 'COP', 'CZK', 'DKK', 'EUR', 'GBP', 'HRK', 'HUF', 'NOK', 'PLN', 'RON', 'SEK', 'USD'])

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > 2048) return false
  try {
    const url = new URL(value)
    return url.protocol === 'http:' || url.protocol === 'https:'
  } catch {
    return false
  }
}

function sumUpError(reply: FastifyReply, status: number, errorCode: string, message: string, param?: string) {
  return reply.code(status).send({ error_code: errorCode, message, ...(param === undefined ? {} : { param }) })
}

export async function startSumUpSim(options: SumUpSimOptions): Promise<SumUpSim> {
  const merchantCode = options.merchantCode ?? 'MSIM0001'
  const checkouts = new Map<string, SumUpSimCheckout>()
  const tampered = new Map<string, { amount?: number; currency?: string; checkout_reference?: string }>()
  const deliveries: WebhookDelivery[] = []
  const inFlight = new Set<Promise<unknown>>()
  const hanging = new Set<() => void>()
  const requestCounts: Record<string, number> = {}
  let webhookMode: WebhookMode = options.webhookMode ?? 'once'
  let failures: { count: number; kind: FailureKind } = { count: 0, kind: '5xx' }
  let down = false
  let baseUrl = ''
  const refundEvents: SumUpSimRefundEvent[] = []
  let nextEventId = 9_000_000_001
  const refundFaults = { hold: false, fail: 0, loseAnswers: 0, unavailable: 0 }

  // forceCloseConnections: close() must not wait for keep-alive sockets (fastify keeps them 72 s).
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024, forceCloseConnections: true })
  // The hosted page's forms post url-encoded bodies; their content does not matter.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body))

  function publicView(c: SumUpSimCheckout): SumUpSimCheckout {
    return { ...c, ...tampered.get(c.id) }
  }

  /** Auth and injected failures of the API routes; returns true when the request was answered here. */
  async function gate(route: string, request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    requestCounts[route] = (requestCounts[route] ?? 0) + 1
    if (down) {
      sumUpError(reply, 503, 'SERVICE_UNAVAILABLE', 'the provider is down (simulated)')
      return true
    }
    if (failures.count > 0) {
      failures.count--
      if (failures.kind === '5xx') {
        sumUpError(reply, 503, 'INTERNAL_ERROR', 'simulated failure')
        return true
      }
      // Never answer: hold the request until the client gives up or the simulator closes.
      await new Promise<void>((resolve) => {
        hanging.add(resolve)
        // The socket, not the request: an IncomingMessage emits 'close' once its body is read.
        request.raw.socket.once('close', resolve)
      })
      reply.hijack()
      request.raw.socket?.destroy()
      return true
    }
    if (request.headers.authorization !== `Bearer ${options.apiKey}`) {
      sumUpError(reply, 401, 'NOT_AUTHORIZED', 'invalid access token')
      return true
    }
    return false
  }

  app.post('/v0.1/checkouts', async (request, reply) => {
    if (await gate('create', request, reply)) return reply
    const body = request.body
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return sumUpError(reply, 400, 'INVALID', 'body must be a JSON object')
    const b = body as Record<string, unknown>
    const ref = b.checkout_reference
    if (typeof ref !== 'string' || ref.length < 1 || ref.length > 90) return sumUpError(reply, 400, 'INVALID', 'invalid checkout_reference', 'checkout_reference')
    if (typeof b.amount !== 'number' || !(b.amount > 0) || !/^\d+(\.\d{1,2})?$/.test(String(b.amount)))
      return sumUpError(reply, 400, 'INVALID', 'invalid amount', 'amount')
    if (typeof b.currency !== 'string' || !CURRENCIES.has(b.currency)) return sumUpError(reply, 400, 'INVALID', 'invalid currency', 'currency')
    if (b.merchant_code !== merchantCode) return sumUpError(reply, 400, 'INVALID', 'invalid merchant_code', 'merchant_code')
    if (b.description !== undefined && (typeof b.description !== 'string' || b.description.length > 255))
      return sumUpError(reply, 400, 'INVALID', 'invalid description', 'description')
    for (const key of ['redirect_url', 'return_url'] as const)
      if (b[key] !== undefined && !isHttpUrl(b[key])) return sumUpError(reply, 400, 'INVALID', `invalid ${key}`, key)
    for (const c of checkouts.values())
      if (c.checkout_reference === ref)
        return sumUpError(reply, 409, 'DUPLICATED_CHECKOUT', 'Checkout with this checkout reference and pay to email already exists')
    const id = randomUUID()
    const checkout: SumUpSimCheckout = {
      id,
      checkout_reference: ref,
      amount: b.amount,
      currency: b.currency,
      merchant_code: merchantCode,
      description: typeof b.description === 'string' ? b.description : '',
      ...(typeof b.redirect_url === 'string' ? { redirect_url: b.redirect_url } : {}),
      ...(typeof b.return_url === 'string' ? { return_url: b.return_url } : {}),
      status: 'PENDING',
      date: new Date().toISOString(),
      hosted_checkout: { enabled: (b.hosted_checkout as { enabled?: unknown } | undefined)?.enabled === true },
      hosted_checkout_url: `${baseUrl}/pay/${id}`,
      transactions: [],
    }
    checkouts.set(id, checkout)
    return reply.code(201).send(publicView(checkout))
  })

  app.get<{ Querystring: { checkout_reference?: string } }>('/v0.1/checkouts', async (request, reply) => {
    if (await gate('list', request, reply)) return reply
    const ref = request.query.checkout_reference
    return [...checkouts.values()].filter((c) => ref === undefined || c.checkout_reference === ref).map(publicView)
  })

  app.get<{ Params: { id: string } }>('/v0.1/checkouts/:id', async (request, reply) => {
    if (await gate('get', request, reply)) return reply
    const checkout = checkouts.get(request.params.id)
    if (checkout === undefined) return sumUpError(reply, 404, 'NOT_FOUND', 'Resource not found')
    return publicView(checkout)
  })

  /** A checkout's successful transaction by its id. */
  function transaction(id: string): { checkout: SumUpSimCheckout; txn: SumUpSimCheckout['transactions'][number] } | undefined {
    for (const checkout of checkouts.values()) {
      const txn = checkout.transactions.find((t) => t.id === id && t.status === 'SUCCESSFUL')
      if (txn !== undefined) return { checkout, txn }
    }
    return undefined
  }
  const cents = (amount: number) => Math.round(amount * 100)

  app.post<{ Params: { txn: string } }>('/v0.1/me/refund/:txn', async (request, reply) => {
    if (await gate('refund', request, reply)) return reply
    if (refundFaults.unavailable > 0) {
      refundFaults.unavailable--
      return sumUpError(reply, 503, 'INTERNAL_ERROR', 'simulated failure')
    }
    const found = transaction(request.params.txn)
    if (found === undefined) return sumUpError(reply, 404, 'NOT_FOUND', 'Resource not found')
    const body = request.body
    const asked = isRecord(body) ? body.amount : undefined
    if (body !== undefined && body !== null && body !== '' && !isRecord(body)) return sumUpError(reply, 400, 'INVALID', 'body must be a JSON object')
    if (asked !== undefined && (typeof asked !== 'number' || !(asked > 0) || !/^\d+(\.\d{1,2})?$/.test(String(asked))))
      return sumUpError(reply, 400, 'INVALID', 'invalid amount', 'amount')
    const taken = refundEvents.filter((e) => e.transaction_id === found.txn.id && e.status !== 'FAILED').reduce((sum, e) => sum + cents(e.amount), 0)
    const left = cents(found.txn.amount) - taken
    const amount = asked === undefined ? left : cents(asked)
    if (left <= 0 || amount > left) return sumUpError(reply, 409, 'CONFLICT', 'The amount exceeds what is left to refund on this transaction')
    let status: SumUpSimRefundStatus = refundFaults.hold ? 'PENDING' : 'REFUNDED'
    if (refundFaults.fail > 0) {
      refundFaults.fail--
      status = 'FAILED'
    }
    refundEvents.push({ id: nextEventId++, transaction_id: found.txn.id, type: 'REFUND', status, amount: amount / 100, timestamp: new Date().toISOString() })
    if (refundFaults.loseAnswers > 0) {
      refundFaults.loseAnswers--
      // Done, but the answer is lost: hold the request until the client gives up or the simulator closes.
      await new Promise<void>((resolve) => {
        hanging.add(resolve)
        request.raw.socket.once('close', resolve)
      })
      reply.hijack()
      request.raw.socket?.destroy()
      return reply
    }
    return reply.code(204).send()
  })

  app.get<{ Querystring: { id?: string } }>('/v0.1/me/transactions', async (request, reply) => {
    if (await gate('transaction', request, reply)) return reply
    const found = typeof request.query.id === 'string' ? transaction(request.query.id) : undefined
    if (found === undefined) return sumUpError(reply, 404, 'NOT_FOUND', 'Resource not found')
    const events = refundEvents.filter((e) => e.transaction_id === found.txn.id)
    const refunded = events.some((e) => e.status !== 'FAILED')
    return {
      id: found.txn.id,
      amount: found.txn.amount,
      currency: found.txn.currency,
      status: refunded ? 'REFUNDED' : 'SUCCESSFUL',
      simple_status: refunded ? 'REFUNDED' : 'SUCCESSFUL',
      timestamp: found.txn.timestamp,
      events: structuredClone(events),
    }
  })

  function page(title: string, inner: string): string {
    return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}
button{font-size:1.1rem;padding:.6rem 1.2rem;margin-right:.5rem}</style></head><body>
<p><small>SumUp simulator: no real money moves here.</small></p>${inner}</body></html>`
  }

  app.get<{ Params: { id: string } }>('/pay/:id', async (request, reply) => {
    const checkout = checkouts.get(request.params.id)
    reply.type('text/html; charset=utf-8')
    if (checkout === undefined) return reply.code(404).send(page('Unknown checkout', '<h1>Unknown checkout</h1>'))
    const amount = `${checkout.amount.toFixed(2)} ${escapeHtml(checkout.currency)}`
    if (checkout.status !== 'PENDING')
      return page('Checkout', `<h1>Checkout ${escapeHtml(checkout.status.toLowerCase())}</h1><p id="status">${escapeHtml(checkout.status)}</p>`)
    const action = (verb: string) => `/pay/${encodeURIComponent(checkout.id)}/${verb}`
    return page(
      'Pay',
      `<h1>Pay ${amount}</h1><p>${escapeHtml(checkout.description)}</p>
<form method="post" action="${action('pay')}" style="display:inline"><button id="pay" type="submit">Pay ${amount}</button></form>
<form method="post" action="${action('decline')}" style="display:inline"><button id="decline" type="submit">Decline</button></form>`,
    )
  })

  async function finishFromPage(id: string, status: SumUpSimStatus, reply: FastifyReply) {
    const checkout = checkouts.get(id)
    if (checkout === undefined) return reply.code(404).type('text/html; charset=utf-8').send(page('Unknown checkout', '<h1>Unknown checkout</h1>'))
    if (checkout.status === 'PENDING') setStatus(checkout, status)
    if (checkout.redirect_url !== undefined) return reply.redirect(checkout.redirect_url, 303)
    return reply.type('text/html; charset=utf-8').send(page('Done', `<h1>Checkout ${checkout.status.toLowerCase()}</h1><p id="status">${checkout.status}</p>`))
  }
  app.post<{ Params: { id: string } }>('/pay/:id/pay', async (request, reply) => finishFromPage(request.params.id, 'PAID', reply))
  app.post<{ Params: { id: string } }>('/pay/:id/decline', async (request, reply) => finishFromPage(request.params.id, 'FAILED', reply))

  function track<T>(p: Promise<T>): Promise<T> {
    inFlight.add(p)
    void p.finally(() => inFlight.delete(p)).catch(() => {})
    return p
  }

  async function deliver(checkout: SumUpSimCheckout, overrides?: { body?: string; signature?: string }): Promise<WebhookDelivery> {
    const url = checkout.return_url ?? options.defaultWebhookUrl
    if (url === undefined) return { checkoutId: checkout.id, url: '', status: 0 }
    const body = overrides?.body ?? JSON.stringify({ event_type: 'CHECKOUT_STATUS_CHANGED', id: checkout.id })
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    const signature = overrides?.signature ?? (options.webhookSecret === undefined ? undefined : simSignWebhook(options.webhookSecret, body))
    if (signature !== undefined) headers[SIM_SIGNATURE_HEADER] = signature
    let status = 0
    try {
      const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(options.webhookTimeoutMs ?? 5000) })
      status = res.status
      await res.arrayBuffer()
    } catch {
      status = 0
    }
    const delivery = { checkoutId: checkout.id, url, status }
    deliveries.push(delivery)
    return delivery
  }

  function sendWebhook(id: string, times = 1, overrides?: { body?: string; signature?: string }): Promise<WebhookDelivery[]> {
    const checkout = checkouts.get(id)
    if (checkout === undefined) return Promise.reject(new Error(`unknown checkout ${id}`))
    return track(Promise.all(Array.from({ length: times }, () => deliver(checkout, overrides))))
  }

  function setStatus(checkout: SumUpSimCheckout, status: SumUpSimStatus): void {
    checkout.status = status
    if (status === 'PAID' || status === 'FAILED')
      checkout.transactions.push({
        id: randomUUID(),
        amount: checkout.amount,
        currency: checkout.currency,
        status: status === 'PAID' ? 'SUCCESSFUL' : 'FAILED',
        timestamp: new Date().toISOString(),
      })
    if (webhookMode !== 'never') void sendWebhook(checkout.id, webhookMode === 'twice' ? 2 : 1)
  }

  async function change(id: string, status: SumUpSimStatus): Promise<void> {
    const checkout = checkouts.get(id)
    if (checkout === undefined) throw new Error(`unknown checkout ${id}`)
    if (checkout.status !== 'PENDING') throw new Error(`checkout ${id} is ${checkout.status}, not PENDING`)
    setStatus(checkout, status)
  }

  const address = await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 })
  const bound = app.server.address() as AddressInfo
  baseUrl = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`
  void address

  const control: SumUpSimControl = {
    checkout: (id) => {
      const c = checkouts.get(id)
      return c === undefined ? undefined : structuredClone(c)
    },
    checkouts: () => [...checkouts.values()].map((c) => structuredClone(c)),
    pay: (id) => change(id, 'PAID'),
    decline: (id) => change(id, 'FAILED'),
    expire: (id) => change(id, 'EXPIRED'),
    force: (id, status) => {
      const checkout = checkouts.get(id)
      if (checkout === undefined) throw new Error(`unknown checkout ${id}`)
      setStatus(checkout, status)
    },
    setWebhookMode: (mode) => {
      webhookMode = mode
    },
    sendWebhook,
    failNext: (count, kind) => {
      failures = { count, kind }
    },
    setDown: (value) => {
      down = value
    },
    tamper: (id, reported) => {
      tampered.set(id, { ...tampered.get(id), ...reported })
    },
    async idle() {
      // Bounded: each round waits for what was in flight; deliveries do not start new ones.
      for (let i = 0; i < 10 && inFlight.size > 0; i++) await Promise.allSettled([...inFlight])
    },
    holdRefunds: (hold) => {
      refundFaults.hold = hold
    },
    failNextRefunds: (count) => {
      refundFaults.fail = count
    },
    failNextRefundRequests: (count) => {
      refundFaults.unavailable = count
    },
    loseNextRefundAnswers: (count) => {
      refundFaults.loseAnswers = count
    },
    settleRefund: (eventId, status) => {
      const event = refundEvents.find((e) => e.id === eventId)
      if (event === undefined || event.status !== 'PENDING') throw new Error(`no pending refund ${eventId}`)
      event.status = status
    },
    refunds: (transactionId) => structuredClone(refundEvents.filter((e) => e.transaction_id === transactionId)),
    deliveries,
    requestCounts,
  }

  let closing: Promise<void> | undefined
  return {
    baseUrl,
    app,
    control,
    close() {
      closing ??= (async () => {
        for (const release of hanging) release()
        await control.idle()
        await app.close()
      })()
      return closing
    },
  }
}
