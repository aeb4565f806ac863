// The payments provider simulator: a fastify server on 127.0.0.1 that serves
// the part of the provider's v2 API (seed: payments-provider-api.txt) wristpay
// uses — customers, payment intents with a hosted payment page, payments,
// refunds, disputes, payouts and SEPA checks — with JSON bodies, Basic or
// Bearer authentication with the secret key, the provider's ids and list
// pagination, unsigned webhooks, and failures on demand (timeouts, 500s,
// duplicate or lost webhooks) for tests and the demo.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { controlRoutes } from './control-routes.js'
import { customerRoutes } from './customers.js'
import { disputeRoutes, raiseDispute, resolveDispute, type RaiseDisputeOptions } from './disputes.js'
import { ProviderSimError } from './errors.js'
import { createFaults, normalisePath, type FaultOptions } from './faults.js'
import { renderChallengePage, renderNotFoundPage, renderPaymentPage } from './hosted-page.js'
import { createIdGenerator, isId } from './ids.js'
import { getIntent, paymentIntentRoutes } from './payment-intents.js'
import { completeChallenge, payIntent, paymentRoutes, type ChallengeOutcome, type PayOutcome } from './payments.js'
import { payoutRoutes, setPayoutStatus, settleNow } from './payouts.js'
import { refundRoutes, type RefundPolicy } from './refunds.js'
import type { Route } from './route.js'
import { completeCheck, sepaCheckRoutes, type CheckPolicy } from './sepa-checks.js'
import { createState, type Dispute, type PaymentIntent, type Payout, type PayoutStatus, type ProviderState, type SepaCheck, type SimContext } from './state.js'
import { createWebhookSender, type WebhookDelivery, type WebhookEvent, type WebhookMode } from './webhooks.js'

export interface ProviderSimOptions {
  /** The secret key clients must present (Basic user or Bearer token). Never logged. */
  secretKey: string
  /** Milliseconds since the epoch; tests can move time. */
  clock?: () => number
  /** Makes every id the same on each run (a test's ids are then deterministic). */
  seed?: string | number
  /** Where webhook events are POSTed; none are sent until one is set. */
  webhookUrl?: string
  /** The provider's fee on each paid payment: basis points of the amount (default 140 = 1.4 %) ... */
  feeBasisPoints?: number
  /** ... plus a fixed part in integer cents (default 25). */
  feeFixedCents?: number
  /** VAT on the fees, basis points (default 0: fees_vat is 0). */
  feeVatBasisPoints?: number
  /** Request bodies above this many bytes are refused with 413 (default 64 KiB). */
  bodyLimitBytes?: number
  /** How long an injected timeout hangs before the connection is closed (default 30 s; closing the simulator ends it). */
  timeoutHangMs?: number
}

export interface RequestLogEntry {
  method: string
  path: string
  statusCode: number
  /** An injected failure: the status is what the request would have answered (a timeout answers nothing). */
  fault?: 'timeout' | 'error'
}

export interface ProviderSimControls {
  setWebhookUrl(url: string | undefined): void
  /** How the next `count` events are delivered (all later ones without a count): once, twice (a duplicate), none (lost). */
  setWebhookMode(mode: WebhookMode, count?: number): void
  /** Waits until every webhook queued so far has been delivered or has failed. */
  flushWebhooks(): Promise<void>
  resendEvent(eventId: string): Promise<void>
  events(type?: string): WebhookEvent[]
  deliveries(): WebhookDelivery[]
  /** The guest on the hosted page. */
  payIntent(intentId: string, outcome: PayOutcome): PaymentIntent
  completeChallenge(intentId: string, outcome: ChallengeOutcome): PaymentIntent
  raiseDispute(paymentId: string, options?: RaiseDisputeOptions): Dispute
  resolveDispute(disputeId: string, outcome: 'won' | 'lost'): Dispute
  /** Pays out everything settled so far: one payout per currency (none when there is nothing). */
  settleNow(status?: PayoutStatus): Payout[]
  setPayoutStatus(payoutId: string, status: PayoutStatus): Payout
  /** The next `count` SEPA checks answer that the name does not match the IBAN's holder. */
  mismatchNextChecks(count: number): void
  /** The next `count` SEPA checks stay `pending` until completeCheck(). */
  pendingNextChecks(count: number): void
  completeCheck(checkId: string): SepaCheck
  /** The card network refuses the next `count` refunds (`not_honored`). */
  refuseNextRefunds(count: number): void
  /** The next requests to `path` hang without an answer (carried out anyway unless `when: 'before'` ... see faults.ts). */
  timeoutNext(path: string | RegExp, options?: FaultOptions): void
  /** The next requests to `path` answer 500 (`when: 'after'`: carried out, answer lost). */
  failNext(path: string | RegExp, options?: FaultOptions): void
  clearFaults(): void
  /** Resolves when every hung request so far has ended and been carried out. */
  faultsSettled(): Promise<void>
  /** Ends every hanging request now (closing its connection; a `before` one is carried out now). */
  endTimeouts(): Promise<void>
  requests(): RequestLogEntry[]
}

export interface ProviderSim {
  /** Starts listening; resolves to the base URL (`http://127.0.0.1:<port>`). */
  listen(port?: number, host?: string): Promise<string>
  close(): Promise<void>
  readonly baseUrl: string
  /** The account as the simulator holds it (read it; change it through controls). */
  readonly state: ProviderState
  readonly controls: ProviderSimControls
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

/** The key from `Authorization: Bearer <key>` or `Basic base64(<key>:)`. */
function presentedKey(header: string | undefined): string | undefined {
  if (typeof header !== 'string') return undefined
  const [scheme, value] = header.split(/\s+/, 2)
  if (!value) return undefined
  if (scheme?.toLowerCase() === 'bearer') return value
  if (scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    return colon === -1 ? decoded : decoded.slice(0, colon)
  }
  return undefined
}

function isApiPath(url: string): boolean {
  return url.startsWith('/v2/') || url === '/v2' || url.startsWith('/_control/')
}

export function createProviderSim(options: ProviderSimOptions): ProviderSim {
  if (typeof options.secretKey !== 'string' || options.secretKey.length < 8) throw new Error('provider-sim: secretKey must be at least 8 characters')
  const clock = options.clock ?? Date.now
  const keyHash = sha256(options.secretKey)
  const state = createState()
  const webhooks = createWebhookSender({ url: options.webhookUrl })
  const faults = createFaults(options.timeoutHangMs ?? 30_000)
  const refundPolicy: RefundPolicy = { refuseNext: 0 }
  const checkPolicy: CheckPolicy = { mismatchNext: 0, pendingNext: 0, pendingScores: new Map() }
  const requestLog: RequestLogEntry[] = []
  let baseUrl = ''

  const ctx: SimContext = {
    state,
    newId: createIdGenerator(options.seed),
    nowSeconds: () => Math.floor(clock() / 1000),
    today: () => new Date(clock()).toISOString().slice(0, 10),
    isoNow: () => new Date(clock()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    baseUrl: () => baseUrl,
    fees: { basisPoints: options.feeBasisPoints ?? 140, fixedCents: options.feeFixedCents ?? 25, vatBasisPoints: options.feeVatBasisPoints ?? 0 },
    emit(type, object) {
      webhooks.deliver({ id: ctx.newId('evnt'), type, created: ctx.nowSeconds(), data: structuredClone(object) })
    },
  }

  const controls: ProviderSimControls = {
    setWebhookUrl: (url) => webhooks.setUrl(url),
    setWebhookMode: (mode, count) => webhooks.setMode(mode, count),
    flushWebhooks: () => webhooks.flush(),
    resendEvent: (eventId) => webhooks.resend(eventId),
    events: (type) => webhooks.events(type),
    deliveries: () => webhooks.deliveries(),
    payIntent: (intentId, outcome) => structuredClone(payIntent(ctx, getIntent(ctx, intentId), outcome)),
    completeChallenge: (intentId, outcome) => structuredClone(completeChallenge(ctx, getIntent(ctx, intentId), outcome)),
    raiseDispute: (paymentId, opts) => structuredClone(raiseDispute(ctx, paymentId, opts)),
    resolveDispute: (disputeId, outcome) => structuredClone(resolveDispute(ctx, disputeId, outcome)),
    settleNow: (status) => structuredClone(settleNow(ctx, status)),
    setPayoutStatus: (payoutId, status) => structuredClone(setPayoutStatus(ctx, payoutId, status)),
    mismatchNextChecks(count) {
      checkPolicy.mismatchNext = count
    },
    pendingNextChecks(count) {
      checkPolicy.pendingNext = count
    },
    completeCheck: (checkId) => structuredClone(completeCheck(ctx, checkPolicy, checkId)),
    refuseNextRefunds(count) {
      refundPolicy.refuseNext = count
    },
    timeoutNext: (path, opts) => faults.add('timeout', path, opts),
    failNext: (path, opts) => faults.add('error', path, opts),
    clearFaults: () => faults.clear(),
    faultsSettled: () => faults.settled(),
    async endTimeouts() {
      faults.releaseAll()
      await faults.settled()
    },
    requests: () => [...requestLog],
  }

  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimitBytes ?? 64 * 1024,
    forceCloseConnections: true,
    routerOptions: { ignoreTrailingSlash: true },
    // The router's own refusals (an over-long or undecodable path) with the provider's error body too.
    frameworkErrors(error, _request, reply: FastifyReply) {
      const statusCode = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400
      void reply.code(statusCode).send({ error: statusCode === 414 ? 'The path is too long' : 'Bad request path' })
    },
  })
  // Keep every body as text and decide per route: the API takes JSON only, the hosted page's forms are ignored.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body))

  function sendError(reply: FastifyReply, err: ProviderSimError): FastifyReply {
    if (err.statusCode === 401) reply.header('www-authenticate', 'Basic realm="provider-sim", Bearer')
    return reply.code(err.statusCode).send(err.body)
  }

  app.addHook('onRequest', async (request, reply) => {
    if (!isApiPath(request.url)) return
    const key = presentedKey(request.headers.authorization)
    if (key === undefined) return sendError(reply, new ProviderSimError(401, 'Authentication required: the secret key as Basic user or Bearer token'))
    if (!timingSafeEqual(sha256(key), keyHash)) return sendError(reply, new ProviderSimError(401, 'Invalid secret key'))
  })

  /** The JSON body of an API request: empty is allowed (GET, DELETE, optional bodies). */
  function jsonBody(request: FastifyRequest): unknown {
    const raw = typeof request.body === 'string' ? request.body : ''
    if (raw.trim().length === 0) return undefined
    const contentType = String(request.headers['content-type'] ?? '')
    if (!/^application\/json\s*(;|$)/i.test(contentType)) {
      throw new ProviderSimError(415, `The body must be application/json (got ${contentType.slice(0, 60) || 'no content type'})`)
    }
    try {
      return JSON.parse(raw)
    } catch {
      throw new ProviderSimError(400, 'The body is not valid JSON')
    }
  }

  function run(route: Route, request: FastifyRequest): { statusCode: number; body: unknown } {
    try {
      const body = route.handle(ctx, { body: jsonBody(request), query: request.query as Record<string, string>, params: request.params as Record<string, string> })
      return { statusCode: 200, body: structuredClone(body) }
    } catch (err) {
      if (err instanceof ProviderSimError) return { statusCode: err.statusCode, body: err.body }
      return { statusCode: 500, body: { error: 'Internal error' } }
    }
  }

  function register(route: Route, faultable: boolean): void {
    app.route({
      method: route.method,
      url: route.path,
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const path = normalisePath(request.url)
        const log = (statusCode: number, fault?: 'timeout' | 'error') => requestLog.push({ method: route.method, path, statusCode, fault })
        const fault = faultable ? faults.take(route.method, path) : undefined
        if (fault?.kind === 'error' && fault.when === 'before') {
          log(fault.statusCode, 'error')
          return reply.code(fault.statusCode).send({ error: 'Internal server error (injected by the simulator)' })
        }
        if (fault?.kind === 'timeout') {
          // No answer: the connection hangs, then is closed. The request is carried out now or when the hang ends.
          reply.hijack()
          const outcome = fault.when === 'after' ? run(route, request) : undefined
          const work = faults.hang(fault.hangMs).then(() => {
            const late = outcome ?? run(route, request)
            log(late.statusCode, 'timeout')
            request.raw.socket?.destroy()
          })
          faults.track(work)
          return
        }
        const outcome = run(route, request)
        if (fault?.kind === 'error') {
          log(fault.statusCode, 'error')
          return reply.code(fault.statusCode).send({ error: 'Internal server error (injected by the simulator)' })
        }
        log(outcome.statusCode)
        return reply.code(outcome.statusCode).send(outcome.body)
      },
    })
  }

  const apiRoutes: Route[] = [
    ...customerRoutes,
    ...paymentIntentRoutes,
    ...paymentRoutes,
    ...refundRoutes(refundPolicy),
    ...disputeRoutes,
    ...payoutRoutes,
    ...sepaCheckRoutes(checkPolicy),
  ]
  for (const route of apiRoutes) register(route, true)
  for (const route of controlRoutes(controls, webhooks)) register(route, false)

  // --- the hosted payment page (no key: the guest's browser opens it)
  function html(reply: FastifyReply, statusCode: number, body: string): FastifyReply {
    return reply.code(statusCode).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body)
  }
  function pageIntent(request: FastifyRequest): PaymentIntent | undefined {
    const id = (request.params as { id?: string }).id
    return id !== undefined && isId('pi', id) ? state.paymentIntents.get(id) : undefined
  }
  function afterPayment(reply: FastifyReply, intent: PaymentIntent, notice?: string): FastifyReply {
    const paid = intent.status === 'captured' || intent.status === 'authorized'
    if (paid && intent.return_url) return reply.redirect(intent.return_url, 303)
    return html(reply, notice ? 402 : 200, renderPaymentPage(intent, notice))
  }
  app.get('/pay/:id', async (request, reply) => {
    const intent = pageIntent(request)
    if (!intent) return html(reply, 404, renderNotFoundPage())
    return html(reply, 200, renderPaymentPage(intent))
  })
  app.get('/pay/:id/3ds', async (request, reply) => {
    const intent = pageIntent(request)
    if (!intent) return html(reply, 404, renderNotFoundPage())
    if (intent.status !== 'require_authentication') return afterPayment(reply, intent)
    return html(reply, 200, renderChallengePage(intent))
  })
  const pageActions: Array<[string, (intent: PaymentIntent) => string | undefined]> = [
    ['pay', (intent) => (payIntent(ctx, intent, 'paid'), undefined)],
    ['decline', (intent) => (payIntent(ctx, intent, 'declined'), 'Your card was declined. Try another card.')],
    ['challenge', (intent) => (payIntent(ctx, intent, 'challenge'), undefined)],
    ['3ds/pass', (intent) => (completeChallenge(ctx, intent, 'passed'), undefined)],
    ['3ds/fail', (intent) => (completeChallenge(ctx, intent, 'failed'), 'The 3-D Secure check failed. Try again.')],
  ]
  for (const [action, act] of pageActions) {
    app.post(`/pay/:id/${action}`, async (request, reply) => {
      const intent = pageIntent(request)
      if (!intent) return html(reply, 404, renderNotFoundPage())
      let notice: string | undefined
      try {
        notice = act(intent)
      } catch (err) {
        if (!(err instanceof ProviderSimError)) throw err
        // Already paid, canceled or not in a challenge: show where the payment stands (or go back to the shop).
        return afterPayment(reply, intent)
      }
      if (intent.status === 'require_authentication') return reply.redirect(`/pay/${intent.id}/3ds`, 303)
      return afterPayment(reply, intent, notice)
    })
  }

  app.setNotFoundHandler((request, reply) => {
    sendError(reply, new ProviderSimError(404, `Unknown path: ${request.method} ${normalisePath(request.url).slice(0, 200)}`))
  })
  app.setErrorHandler((error: { statusCode?: number; message: string }, _request, reply) => {
    // fastify's own errors (body too large, bad content length ...) with the provider's error body.
    const statusCode = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500
    const message = statusCode === 413 ? 'The request body is too large' : statusCode < 500 ? error.message : 'Internal error'
    sendError(reply, new ProviderSimError(statusCode, message))
  })

  let listening = false
  return {
    async listen(port = 0, host = '127.0.0.1') {
      await app.listen({ port, host })
      listening = true
      const address = app.server.address() as AddressInfo
      baseUrl = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
      return baseUrl
    },
    async close() {
      faults.releaseAll()
      await faults.settled()
      await webhooks.flush()
      if (listening) await app.close()
      listening = false
    },
    get baseUrl() {
      return baseUrl
    },
    state,
    controls,
  }
}
