// The Stripe API simulator: a fastify server on 127.0.0.1 that speaks the
// subset of Stripe's REST API wristpay uses, the way the official `stripe`
// package calls it (form-encoded bracket parameters, Bearer secret key,
// Idempotency-Key, Stripe-shaped objects and errors), plus a hosted checkout
// page and signed webhooks. Tests steer it through `control`.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { checkoutRoutes, completeCheckout, expireSession, getSession, renderCheckoutPage, settleCheckout, successRedirect, type CheckoutOutcome } from './checkout.js'
import { customerRoutes } from './customers.js'
import { StripeSimError, type StripeErrorBody } from './errors.js'
import { eventRoutes } from './events.js'
import { parseFormBody, parseQueryString, type FormObject } from './form.js'
import { createIdempotencyStore, isSavedOutcome, requestFingerprint } from './idempotency.js'
import { paymentIntentRoutes } from './payment-intents.js'
import { paymentMethodRoutes } from './payment-methods.js'
import { createRefundBehaviour, getRefund, refundRoutes, settleRefund } from './refunds.js'
import type { Route } from './route.js'
import { lookupById } from './route.js'
import { setupIntentRoutes } from './setup-intents.js'
import { createState, newId, type CheckoutSession, type Refund, type RefundFailureReason, type SimContext, type StripeEvent, type StripeObject, type TerminalReader } from './state.js'
import { getReader, presentCard, type PresentedCard } from './terminal.js'
import { terminalRoutes } from './terminal.js'
import { createWebhookSender, type WebhookDelivery, type WebhookMode } from './webhooks.js'

export interface StripeSimOptions {
  /** The secret key clients must send (`sk_test_...`). */
  apiKey: string
  /** Signing secret of the webhook endpoint (`whsec_...`); a random one when omitted. */
  webhookSecret?: string
  /** Where events are POSTed; none are sent until one is set. */
  webhookUrl?: string
  webhookMode?: WebhookMode
  host?: string
  port?: number
  /** Milliseconds since the epoch; tests can move time (checkout expiry, webhook timestamps). */
  clock?: () => number
  logger?: Logger
}

export interface RequestLogEntry {
  method: string
  path: string
  idempotencyKey: string | undefined
  statusCode: number
  replayed: boolean
}

/** Which requests an injected fault hits: all, or only those of this method and/or exact path. */
export interface FaultTarget {
  method?: 'GET' | 'POST' | 'DELETE'
  /** The URL path without its query, e.g. `/v1/refunds`. */
  path?: string
}

export interface StripeSimControl {
  setWebhookUrl(url: string | undefined): void
  /** How each new event is delivered: once (default), twice (a duplicate), none (lost). */
  setWebhookMode(mode: WebhookMode): void
  /** Waits until every webhook queued so far has been delivered or has failed. */
  flushWebhooks(): Promise<void>
  /** Delivers a stored event again now, whatever the mode. */
  resendEvent(eventId: string): Promise<void>
  events(type?: string): StripeEvent[]
  deliveries(): WebhookDelivery[]
  /** The guest on the hosted page: pays, is declined, or pays with a delayed method. */
  completeCheckout(sessionId: string, outcome: CheckoutOutcome): CheckoutSession
  /** A delayed payment (outcome `processing`) succeeds or fails. */
  settleCheckout(sessionId: string, result: 'succeeded' | 'failed'): CheckoutSession
  expireCheckout(sessionId: string): CheckoutSession
  /** A card tapped on a reader that is processing an intent; decline test numbers decline. */
  presentCard(readerId: string, card?: PresentedCard): TerminalReader
  /** A physical terminal shows this code, waiting to be registered with it. */
  addRegistrationCode(code: string, device?: { deviceType?: string; serialNumber?: string }): void
  setReaderStatus(readerId: string, status: 'online' | 'offline'): void
  /**
   * The next `count` API requests fail with a 500: `before` the endpoint runs
   * (nothing happens), or `after` it ran (the result is saved under the
   * idempotency key but the answer is lost: a retry with the same key replays it).
   */
  failNextRequests(count: number, options?: { when?: 'before' | 'after'; statusCode?: number } & FaultTarget): void
  /**
   * The next `count` matching API requests get no answer until `hangMs` has passed or the
   * simulator closes (a client timeout): `before` the endpoint runs (nothing happens until
   * the hang ends), or `after` it ran (the result is saved under the idempotency key).
   */
  hangNextRequests(count: number, options?: { when?: 'before' | 'after'; hangMs?: number } & FaultTarget): void
  /** New refunds stay `pending` until settleRefund() (true), or succeed at once as card refunds do in test mode (false, the default). */
  holdRefunds(hold: boolean): void
  /** The next `count` refunds made fail at the card's bank with `failureReason` (status `failed`). */
  failNextRefunds(count: number, failureReason?: RefundFailureReason): void
  /** A pending refund is paid out, fails (with its reason) or is canceled. */
  settleRefund(refundId: string, outcome: 'succeeded' | 'failed' | 'canceled', failureReason?: RefundFailureReason): Refund
  requests(): RequestLogEntry[]
  /** A copy of any stored object by id. */
  object(id: string): StripeObject | undefined
}

export interface StripeSim {
  baseUrl: string
  apiKey: string
  publishableKey: string
  webhookSecret: string
  control: StripeSimControl
  close(): Promise<void>
}

/** The version the bundled `stripe` package pins (stripe 23). */
const API_VERSION = '2026-10-28.endive'

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

function redactKey(key: string): string {
  return `${key.slice(0, 8)}****${key.slice(-4)}`
}

export async function startStripeSim(options: StripeSimOptions): Promise<StripeSim> {
  if (!/^sk_test_[A-Za-z0-9_]{4,}$/.test(options.apiKey)) throw new Error('stripe-sim: apiKey must look like sk_test_...')
  const clock = options.clock ?? Date.now
  const nowSeconds = () => Math.floor(clock() / 1000)
  const webhookSecret = options.webhookSecret ?? `whsec_${randomBytes(24).toString('hex')}`
  const publishableKey = `pk_test_${options.apiKey.slice('sk_test_'.length)}`
  const apiKeyHash = sha256(options.apiKey)
  const state = createState()
  const idempotency = createIdempotencyStore()
  const webhooks = createWebhookSender({ secret: webhookSecret, url: options.webhookUrl, mode: options.webhookMode, nowSeconds })
  const requestLog: RequestLogEntry[] = []
  let failures: { remaining: number; when: 'before' | 'after'; statusCode: number } & FaultTarget = { remaining: 0, when: 'before', statusCode: 500 }
  let hangs: { remaining: number; when: 'before' | 'after'; hangMs: number } & FaultTarget = { remaining: 0, when: 'before', hangMs: 0 }
  const hanging = new Set<() => void>()
  const refundBehaviour = createRefundBehaviour()
  const hits = (target: FaultTarget, method: string, path: string) =>
    (target.method === undefined || target.method === method) && (target.path === undefined || target.path === path)
  /** Takes one injected 500 if the next one is due here. */
  function failsHere(when: 'before' | 'after', method: string, path: string): boolean {
    if (failures.remaining <= 0 || failures.when !== when || !hits(failures, method, path)) return false
    failures.remaining -= 1
    return true
  }
  /** Holds the answer back if an injected hang is due here; resolves when it ends (or the simulator closes). */
  async function hangHere(when: 'before' | 'after', method: string, path: string): Promise<void> {
    if (hangs.remaining <= 0 || hangs.when !== when || !hits(hangs, method, path)) return
    hangs.remaining -= 1
    await new Promise<void>((resolve) => {
      const release = () => {
        clearTimeout(timer)
        hanging.delete(release)
        resolve()
      }
      const timer = setTimeout(release, hangs.hangMs)
      hanging.add(release)
    })
  }
  let baseUrl = ''

  const ctx: SimContext = {
    state,
    nowSeconds,
    baseUrl: () => baseUrl,
    emit(type, object) {
      const event: StripeEvent = {
        id: newId('evt', 24),
        object: 'event',
        api_version: API_VERSION,
        created: nowSeconds(),
        data: { object: structuredClone(object) },
        livemode: false,
        pending_webhooks: 1,
        request: { id: null, idempotency_key: null },
        type,
      }
      state.events.set(event.id, event)
      webhooks.deliver(event)
    },
  }

  const app = Fastify({ logger: false, bodyLimit: 256 * 1024 })
  // Stripe's API takes form bodies only; keep every body as a string and parse it ourselves.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body))

  function sendError(reply: FastifyReply, statusCode: number, error: StripeErrorBody): FastifyReply {
    if (statusCode < 500) reply.header('stripe-should-retry', 'false')
    return reply.code(statusCode).send({ error })
  }

  app.addHook('onRequest', async (request, reply) => {
    reply.header('request-id', newId('req', 14))
    reply.header('stripe-version', API_VERSION)
    if (!request.url.startsWith('/v1/')) return
    const header = request.headers.authorization
    let key: string | undefined
    if (typeof header === 'string' && header.startsWith('Bearer ')) key = header.slice('Bearer '.length).trim()
    else if (typeof header === 'string' && header.startsWith('Basic ')) key = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':')[0]
    if (!key) {
      reply.header('www-authenticate', 'Bearer realm="Stripe"')
      return sendError(reply, 401, {
        type: 'invalid_request_error',
        message: "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
      })
    }
    if (!timingSafeEqual(sha256(key), apiKeyHash)) {
      reply.header('www-authenticate', 'Bearer realm="Stripe"')
      return sendError(reply, 401, { type: 'invalid_request_error', message: `Invalid API Key provided: ${redactKey(key)}` })
    }
  })

  function register(route: Route): void {
    app.route({
      method: route.method,
      url: route.path,
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const path = request.url.split('?')[0] as string
        const rawBody = typeof request.body === 'string' ? request.body : ''
        const keyHeader = request.headers['idempotency-key']
        const idempotencyKey = route.method === 'POST' && typeof keyHeader === 'string' ? keyHeader : undefined
        const log = (statusCode: number, replayed = false) =>
          requestLog.push({ method: route.method, path, idempotencyKey, statusCode, replayed })
        try {
          const contentType = request.headers['content-type'] ?? ''
          if (rawBody.length > 0 && !contentType.startsWith('application/x-www-form-urlencoded')) {
            throw new StripeSimError(400, {
              type: 'invalid_request_error',
              message: `Invalid request: the body must be application/x-www-form-urlencoded (got ${contentType.slice(0, 60)}).`,
            })
          }
          await hangHere('before', route.method, path)
          if (failsHere('before', route.method, path)) {
            log(failures.statusCode)
            return reply.code(failures.statusCode).send({ error: { type: 'api_error', message: 'An unknown error occurred (injected by the simulator).' } })
          }
          const fingerprint = requestFingerprint(route.method, path, rawBody)
          if (idempotencyKey !== undefined) {
            const saved = idempotency.lookup(idempotencyKey, fingerprint)
            if (saved) {
              log(saved.statusCode, true)
              reply.header('idempotent-replayed', 'true')
              if (saved.statusCode >= 400) reply.header('stripe-should-retry', 'false')
              return reply.code(saved.statusCode).send(saved.body)
            }
          }
          const params: FormObject = route.method === 'POST' ? parseFormBody(rawBody) : parseQueryString(request.url)
          let statusCode = 200
          let body: unknown
          let code: string | undefined
          try {
            body = route.handle(ctx, { params, pathParams: request.params as Record<string, string> })
          } catch (err) {
            if (!(err instanceof StripeSimError)) throw err
            statusCode = err.statusCode
            body = { error: err.body }
            code = err.body.code
          }
          if (idempotencyKey !== undefined && isSavedOutcome(statusCode, code)) {
            idempotency.save(idempotencyKey, fingerprint, { statusCode, body })
            if (idempotencyKey) reply.header('idempotency-key', idempotencyKey)
          }
          await hangHere('after', route.method, path)
          if (failsHere('after', route.method, path)) {
            log(failures.statusCode)
            return reply.code(failures.statusCode).send({ error: { type: 'api_error', message: 'An unknown error occurred (injected by the simulator).' } })
          }
          log(statusCode)
          if (statusCode >= 400) reply.header('stripe-should-retry', 'false')
          return reply.code(statusCode).send(body)
        } catch (err) {
          if (err instanceof StripeSimError) {
            log(err.statusCode)
            return sendError(reply, err.statusCode, err.body)
          }
          options.logger?.error({ err, path }, 'stripe-sim: handler failed')
          log(500)
          return sendError(reply, 500, { type: 'api_error', message: 'An unknown error occurred.' })
        }
      },
    })
  }

  for (const route of [...customerRoutes, ...paymentMethodRoutes, ...setupIntentRoutes, ...paymentIntentRoutes, ...checkoutRoutes, ...refundRoutes(refundBehaviour), ...terminalRoutes, ...eventRoutes]) {
    register(route)
  }

  // --- the hosted checkout page (no API key: the guest's browser opens it)
  function pageSession(request: FastifyRequest, reply: FastifyReply): CheckoutSession | undefined {
    const id = (request.params as { id: string }).id
    try {
      return getSession(ctx, id)
    } catch {
      void reply.code(404).type('text/html; charset=utf-8').send('<!doctype html><title>Not found</title><p>No such checkout.</p>')
      return undefined
    }
  }
  app.get('/pay/cs/:id', async (request, reply) => {
    const session = pageSession(request, reply)
    if (!session) return reply
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(renderCheckoutPage(session))
  })
  const pageActions: Record<string, CheckoutOutcome | 'cancel'> = { pay: 'paid', decline: 'declined', async: 'processing', cancel: 'cancel' }
  for (const [action, outcome] of Object.entries(pageActions)) {
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const session = pageSession(request, reply)
      if (!session) return reply
      if (outcome === 'cancel') {
        if (session.status === 'open' && session.cancel_url) return reply.redirect(session.cancel_url, 303)
      } else if (session.status === 'open') {
        completeCheckout(ctx, session, outcome)
        if (outcome === 'declined') {
          return reply.code(402).type('text/html; charset=utf-8').send(renderCheckoutPage(session, 'Your card was declined.'))
        }
      }
      // Completed (now or before): back to the shop, as Stripe does for a finished session.
      if (session.status === 'complete') return reply.redirect(successRedirect(session), 303)
      return reply.type('text/html; charset=utf-8').send(renderCheckoutPage(session))
    }
    app.get(`/pay/cs/:id/${action}`, handler)
    app.post(`/pay/cs/:id/${action}`, handler)
  }

  app.setNotFoundHandler((request, reply) => {
    sendError(reply, 404, {
      type: 'invalid_request_error',
      message: `Unrecognized request URL (${request.method}: ${request.url.split('?')[0]}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
    })
  })
  app.setErrorHandler((error: { statusCode?: number; message: string }, _request, reply) => {
    const statusCode = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500
    sendError(reply, statusCode, { type: statusCode < 500 ? 'invalid_request_error' : 'api_error', message: statusCode < 500 ? error.message : 'An unknown error occurred.' })
  })

  await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 })
  const address = app.server.address() as AddressInfo
  baseUrl = `http://${address.address}:${address.port}`

  function unwrap<T>(fn: () => T): T {
    try {
      return fn()
    } catch (err) {
      if (err instanceof StripeSimError) throw new Error(`stripe-sim: ${err.body.message}`)
      throw err
    }
  }

  const control: StripeSimControl = {
    setWebhookUrl: (url) => webhooks.setUrl(url),
    setWebhookMode: (mode) => webhooks.setMode(mode),
    flushWebhooks: () => webhooks.flush(),
    resendEvent(eventId) {
      const event = state.events.get(eventId)
      if (!event) throw new Error(`stripe-sim: no such event ${eventId}`)
      return webhooks.resend(event)
    },
    events: (type) => [...state.events.values()].filter((e) => type === undefined || e.type === type),
    deliveries: () => webhooks.deliveries(),
    completeCheckout: (sessionId, outcome) => unwrap(() => completeCheckout(ctx, getSession(ctx, sessionId), outcome)),
    settleCheckout: (sessionId, result) => unwrap(() => settleCheckout(ctx, getSession(ctx, sessionId), result)),
    expireCheckout: (sessionId) =>
      unwrap(() => {
        const session = getSession(ctx, sessionId)
        expireSession(ctx, session)
        return session
      }),
    presentCard: (readerId, card) => unwrap(() => presentCard(ctx, getReader(ctx, readerId), card)),
    addRegistrationCode(code, device = {}) {
      state.registrationCodes.set(code, {
        deviceType: device.deviceType ?? 'bbpos_wisepos_e',
        serialNumber: device.serialNumber ?? `WSC${randomBytes(6).toString('hex').toUpperCase()}`,
      })
    },
    setReaderStatus: (readerId, status) =>
      unwrap(() => {
        getReader(ctx, readerId).status = status
      }),
    failNextRequests(count, opts = {}) {
      failures = { remaining: count, when: opts.when ?? 'before', statusCode: opts.statusCode ?? 500, method: opts.method, path: opts.path }
    },
    hangNextRequests(count, opts = {}) {
      // Default: until the simulator closes (setTimeout's own limit is about 24.8 days).
      hangs = { remaining: count, when: opts.when ?? 'before', hangMs: opts.hangMs ?? 2 ** 31 - 1, method: opts.method, path: opts.path }
    },
    holdRefunds(hold) {
      refundBehaviour.hold = hold
    },
    failNextRefunds(count, failureReason = 'declined') {
      refundBehaviour.failures.push(...Array.from({ length: count }, () => failureReason))
    },
    settleRefund: (refundId, outcome, failureReason) => unwrap(() => structuredClone(settleRefund(ctx, getRefund(ctx, refundId), outcome, failureReason))),
    requests: () => [...requestLog],
    object(id) {
      const found = lookupById(ctx, id) ?? state.events.get(id)
      return found ? structuredClone(found) : undefined
    },
  }

  return {
    baseUrl,
    apiKey: options.apiKey,
    publishableKey,
    webhookSecret,
    control,
    async close() {
      for (const release of [...hanging]) release()
      await webhooks.flush()
      await app.close()
    },
  }
}
