// The customer portal API as a fastify plugin: every operation of
// customer-portal-openapi.json (same paths, methods, field names and types),
// mounted by the gateway under a prefix (default /api). Requests and responses
// go through the TypeBox schemas in schemas.ts; money is integer cents in the
// backend and a two-decimal number here. Every authenticated route checks the
// token's signature and expiry and that its session is still open, and then
// only ever asks the backend about the uid inside the token.
import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import type { Logger } from 'pino'
import type { Static } from 'typebox'
import { centsFromDecimal, type Clock } from '../device-protocol/index.js'
import { PortalError, type PortalBackend, type PortalCardRefund, type PortalCustomer } from './backend.js'
import { checkCustomerInfo } from './customer-info.js'
import { apiErrorHandler, sendApiError } from './http-errors.js'
import { retryAfterSeconds, type PinAttemptLimiter } from './pin-attempts.js'
import {
  BankTransfer,
  BlobParams,
  CardRefundPayload,
  PayoutCheck,
  CardRefunds,
  CardRefund,
  BonJson,
  BonParams,
  CheckCheckoutPayload,
  CheckCheckoutResponse,
  ConfigQuery,
  CreateCheckoutPayload,
  CreateCheckoutResponse,
  Customer,
  CustomerBank,
  CustomerPortalApiConfig,
  LoginPayload,
  LoginResponse,
  OrdersWithBon,
  PayoutInfo,
  PayoutTransactions,
  PortalErrorBody,
} from './schemas.js'
import { createPortalTokens, type TokenClaims } from './tokens.js'
import { bonView, configView, customerView, orderView, payoutInfoView, payoutTransactionView } from './views.js'

/** What the portal page shows for each state of the SEPA check. */
const PAYOUT_CHECK_MESSAGES = {
  none: 'No payout account entered yet.',
  checking: 'Your bank account is being checked.',
  ok: 'Your bank account was checked: the account holder matches the IBAN.',
  needs_correction: 'The bank says the account holder does not match this IBAN. Please correct the account holder name or the IBAN, or we cannot pay you back.',
} as const

export const DEFAULT_PORTAL_PREFIX = '/api'
export const DEFAULT_TOKEN_TTL_S = 12 * 60 * 60

export interface LoginRateLimit {
  /** Login attempts (right or wrong) per client IP (IPv6: per /64) per window. */
  perIpMax: number
  perIpWindowMs: number
}

/**
 * 10 per minute per IP stops one client from hammering the route. Guessing is
 * bounded by the `pinAttempts` limiter, which counts wrong PINs per source and
 * event-wide and is shared with every other place that checks a PIN. Nothing
 * is counted per PIN or PIN prefix: whoever could spend such a limit could
 * lock that guest out.
 */
export const DEFAULT_LOGIN_RATE_LIMIT: LoginRateLimit = {
  perIpMax: 10,
  perIpWindowMs: 60_000,
}

export interface PortalApiOptions {
  backend: PortalBackend
  /** HS256 key of the bearer tokens, at least 32 random bytes; keep it across restarts or all guests log in again. */
  authSecret: Uint8Array
  clock: Clock
  logger: Logger
  tokenTtlS?: number
  rateLimit?: Partial<LoginRateLimit>
  /** The gateway's one limiter of PIN guessing (shared with the other places that check PINs). */
  pinAttempts: PinAttemptLimiter
  /** Told how every login ended (the gateway's metrics count them); a throw is logged, never answered. */
  observeLogin?: (outcome: PortalLoginOutcome) => void
}

/**
 * How a login ended: success, an unknown PIN, `throttled` (too many attempts
 * from the address, or too many wrong PINs), a blocked wristband, a body that
 * breaks the schema, or anything else (`error`).
 */
export type PortalLoginOutcome = 'success' | 'invalid_pin' | 'throttled' | 'wristband_blocked' | 'invalid_request' | 'error'

/** The outcome of a login by its answer's status: each refusal of the route has its own status. */
function loginOutcome(statusCode: number): PortalLoginOutcome {
  if (statusCode === 200) return 'success'
  if (statusCode === 404) return 'invalid_pin'
  if (statusCode === 429) return 'throttled'
  if (statusCode === 403) return 'wristband_blocked'
  if (statusCode === 422) return 'invalid_request'
  return 'error'
}

const errorResponses = {
  400: PortalErrorBody,
  401: PortalErrorBody,
  403: PortalErrorBody,
  404: PortalErrorBody,
  422: PortalErrorBody,
  429: PortalErrorBody,
  500: PortalErrorBody,
  502: PortalErrorBody,
  503: PortalErrorBody,
}
const bearer = [{ OAuth2PasswordBearer: [] }]

/** fastify's names of request parts, in the seed's `loc` words. */
const LOCATION: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' }

interface ValidationIssue {
  instancePath?: string
  keyword?: string
  message?: string
  params?: Record<string, unknown>
}

function validationDetail(error: FastifyError) {
  const where = LOCATION[error.validationContext ?? 'body'] ?? 'body'
  return (error.validation as ValidationIssue[]).map((issue) => {
    const path = (issue.instancePath ?? '').split('/').filter((p) => p !== '')
    const missing = issue.params?.missingProperty
    if (typeof missing === 'string') path.push(missing)
    return { loc: [where, ...path.map((p) => (/^\d+$/.test(p) ? Number(p) : p))], msg: issue.message ?? 'invalid', type: issue.keyword ?? 'invalid' }
  })
}

/** A 422 about one body field, shaped like the seed's HTTPValidationError too. */
function fieldError(field: string, type: string, message: string): PortalError {
  return new PortalError(422, type, message, field)
}

/**
 * Refund requests a client IP may make per minute: each one calls the payment provider, so a
 * loop must not hammer it; a guest needs one or two (IPv6: per address, fastify's default key).
 */
export const CARD_REFUND_RATE_LIMIT = { max: 20, timeWindow: 60_000 }

const cardRefundView = (r: PortalCardRefund) => ({
  id: r.id,
  amount: r.amountCents / 100,
  state: r.state,
  created_at: new Date(r.createdAtMs).toISOString(),
  parts: r.parts.map((p) => ({ amount: p.amountCents / 100, state: p.state, reason: p.reason })),
})

/** Largest amount a guest can send (100,000.00). */
const MAX_PORTAL_AMOUNT_CENTS = 10_000_000

function amountToCents(field: string, amount: number): number {
  const result = centsFromDecimal(amount, { maxCents: MAX_PORTAL_AMOUNT_CENTS })
  if (!result.ok) throw fieldError(field, 'invalid_amount', `${field}: ${result.reason}`)
  return result.cents
}

/** The request slot the auth hook fills (see portalApi). */
const AUTHENTICATED = Symbol('portal authentication')
type AuthenticatedRequest = FastifyRequest & { [AUTHENTICATED]?: { claims: TokenClaims; customer: PortalCustomer } | null }

export const portalApi: FastifyPluginAsync<PortalApiOptions> = async (app: FastifyInstance, options: PortalApiOptions) => {
  const { backend, clock } = options
  const log = options.logger.child({ component: 'portal-api' })
  const limits: LoginRateLimit = { ...DEFAULT_LOGIN_RATE_LIMIT, ...options.rateLimit }
  const tokens = createPortalTokens({ secret: options.authSecret, clock, ttlS: options.tokenTtlS ?? DEFAULT_TOKEN_TTL_S })
  // Who a request is authenticated as, and the customer the auth hook read (to check it is known and not
  // blocked): a read-only route answers from it instead of reading the same rows again a moment later in the
  // same request. A slot under a symbol of this module, declared on this plugin's requests (fastify sets it
  // to null in each), so the request type stays untouched. It was two WeakMaps keyed by the request: at
  // portal polling rates each entry is garbage a moment later, and the garbage collector walks weak
  // tables' entries on every scavenge.
  app.decorateRequest(AUTHENTICATED as unknown as string, null)

  app.setErrorHandler(
    apiErrorHandler({
      known(error) {
        if (!(error instanceof PortalError)) return undefined
        const detail = error.statusCode === 422 ? [{ loc: ['body', ...(error.field ? [error.field] : [])], msg: error.message, type: error.type }] : undefined
        return { status: error.statusCode, type: error.type, message: error.message, ...(detail ? { detail } : {}) }
      },
      validation: { status: 422, type: 'validation_error', detail: validationDetail },
      failureLog: 'portal request failed',
      bearerChallenge: true,
    }),
  )

  // Answers about a guest must not sit in shared caches. A callback hook: an async one costs a promise per request.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (!request.url.includes('/blob/')) reply.header('cache-control', 'no-store')
    done(null, payload)
  })

  await app.register(rateLimit, {
    global: false,
    // Counters live in an LRU: big enough that junk keys cannot push real ones out quickly.
    cache: 100_000,
    errorResponseBuilder: (_request, context) =>
      new PortalError(429, 'rate_limited', `too many login attempts, retry in ${context.after}`),
  })

  async function authenticate(request: FastifyRequest): Promise<void> {
    const header = request.headers.authorization
    const match = typeof header === 'string' ? /^Bearer ([A-Za-z0-9_.-]{1,4096})$/i.exec(header) : null
    if (!match) throw new PortalError(401, 'unauthorized', 'a bearer token is required')
    const verified = await tokens.verify(match[1]!)
    if (!verified.ok) throw new PortalError(401, verified.reason === 'expired' ? 'token_expired' : 'unauthorized', verified.reason === 'expired' ? 'the token has expired; log in again' : 'the token is not valid')
    const { uid, jti } = verified.claims
    const nowMs = clock.now()
    const customer =
      backend.sessionCustomer !== undefined ? await backend.sessionCustomer(jti, uid, nowMs) : (await backend.sessionActive(jti, uid, nowMs)) ? await backend.customer(uid) : 'session_ended'
    if (customer === 'session_ended') throw new PortalError(401, 'session_ended', 'the session has ended; log in again')
    if (customer === undefined) throw new PortalError(401, 'unauthorized', 'the wristband of this session is unknown')
    if (customer.blocked) throw new PortalError(403, 'wristband_blocked', 'this wristband is blocked; please ask at the info point')
    ;(request as AuthenticatedRequest)[AUTHENTICATED] = { claims: verified.claims, customer }
  }

  function auth(request: FastifyRequest): TokenClaims {
    const claims = (request as AuthenticatedRequest)[AUTHENTICATED]?.claims
    // Unreachable when a route has the onRequest hook; a guard against a route that forgot it.
    if (claims === undefined) throw new PortalError(401, 'unauthorized', 'not authenticated')
    return claims
  }

  const nodeIdOf = async () => (backend.nodeId === undefined ? (await backend.config()).nodeId : backend.nodeId())

  async function knownCustomer(uid: string) {
    const customer = await backend.customer(uid)
    if (customer === undefined) throw new PortalError(404, 'unknown_customer', 'no such customer')
    return customer
  }

  // -------------------------------------------------------------------------
  // auth

  app.post<{ Body: LoginPayload }>(
    '/auth/login',
    {
      schema: { tags: ['auth'], summary: 'customer login with wristband hardware tag and pin', operationId: 'login', body: LoginPayload, response: { 200: LoginResponse, ...errorResponses } },
      config: {
        // Counted on arrival (onRequest), before the body is even parsed: every attempt counts.
        rateLimit: { max: limits.perIpMax, timeWindow: limits.perIpWindowMs },
      },
      // Every answer of this route, also the rate limiter's and the schema's, after it was sent.
      onResponse: async (_request, reply) => {
        if (options.observeLogin === undefined) return
        try {
          options.observeLogin(loginOutcome(reply.statusCode))
        } catch (err) {
          log.error({ err }, 'portal login observer failed')
        }
      },
    },
    async (request, reply) => {
      const attempt = options.pinAttempts.attempt({ address: request.ip })
      if (!attempt.allowed) {
        log.warn({ ip: request.ip, reason: attempt.reason }, 'portal login: PIN not checked, too many wrong PINs')
        reply.header('retry-after', String(retryAfterSeconds(attempt)))
        throw new PortalError(429, 'rate_limited', `too many wrong PINs, retry in ${retryAfterSeconds(attempt)} s`)
      }
      const uid = await backend.findWristbandByPin(request.body.pin)
      if (uid === undefined) {
        log.info({ ip: request.ip }, 'portal login refused: unknown PIN')
        // 404: the status the OpenAPI file gives login for an unknown PIN (it lists 200, 404 and 422 only).
        throw new PortalError(404, 'invalid_pin', 'this PIN is not known')
      }
      // The PIN was right: not a wrong guess, whatever follows.
      attempt.refund()
      const customer = await knownCustomer(uid)
      if (customer.blocked) throw new PortalError(403, 'wristband_blocked', 'this wristband is blocked; please ask at the info point')
      const issued = await tokens.issue(uid)
      await backend.createSession({ jti: issued.jti, uid, createdAtMs: issued.issuedAtMs, expiresAtMs: issued.expiresAtMs })
      log.info({ uid }, 'portal login')
      const config = await backend.config()
      return { customer: customerView(customer, config.nodeId), access_token: issued.token, grant_type: 'bearer' }
    },
  )

  app.post(
    '/auth/logout',
    { schema: { tags: ['auth'], summary: 'sign out of the current session', operationId: 'logout', security: bearer, response: { 204: { type: 'null' }, ...errorResponses } }, onRequest: authenticate },
    async (request, reply) => {
      await backend.revokeSession(auth(request).jti, clock.now())
      return reply.code(204).send()
    },
  )

  // -------------------------------------------------------------------------
  // base

  app.get(
    '/customer',
    { schema: { tags: ['base'], summary: 'Obtain customer', operationId: 'get_customer', security: bearer, response: { 200: Customer, ...errorResponses } }, onRequest: authenticate },
    async (request) => {
      const uid = auth(request).uid
      const customer = (request as AuthenticatedRequest)[AUTHENTICATED]?.customer ?? (await knownCustomer(uid))
      return customerView(customer, await nodeIdOf())
    },
  )

  app.get(
    '/orders_with_bon',
    { schema: { tags: ['base'], summary: 'Obtain customer orders', operationId: 'get_orders', security: bearer, response: { 200: OrdersWithBon, ...errorResponses } }, onRequest: authenticate },
    async (request) => {
      const customer = await knownCustomer(auth(request).uid)
      const nodeId = await nodeIdOf()
      return (await backend.orders(customer.uid)).map((o) => orderView(o, customer, nodeId))
    },
  )

  app.post<{ Body: CustomerBank }>(
    '/customer_info',
    {
      schema: { tags: ['base'], summary: 'set iban, account name and email', operationId: 'update_customer_info', security: bearer, body: CustomerBank, response: { 204: { type: 'null' }, ...errorResponses } },
      onRequest: authenticate,
    },
    async (request, reply) => {
      const { uid } = auth(request)
      const body = request.body
      const donationCents = amountToCents('donation', body.donation ?? 0)
      const config = await backend.config()
      const checked = checkCustomerInfo({ iban: body.iban, accountName: body.account_name, email: body.email, donationCents }, config.allowedCountryCodes)
      if (!checked.ok) {
        const first = checked.problems[0]!
        return sendApiError(request, reply, {
          status: 422,
          type: first.type,
          message: checked.problems.map((p) => p.msg).join('; '),
          detail: checked.problems.map((p) => ({ loc: ['body', p.field], msg: p.msg, type: p.type })),
        })
      }
      await backend.updateCustomerInfo(uid, checked.value)
      log.info({ uid }, 'payout details registered')
      return reply.code(204).send()
    },
  )

  app.post(
    '/customer_all_donation',
    {
      schema: { tags: ['base'], summary: 'shortcut to declare that customer wants to donate all of the remaining balance', operationId: 'update_customer_info_donate_all', security: bearer, response: { 204: { type: 'null' }, ...errorResponses } },
      onRequest: authenticate,
    },
    async (request, reply) => {
      const { uid } = auth(request)
      await backend.donateAll(uid)
      log.info({ uid }, 'donate all registered')
      return reply.code(204).send()
    },
  )

  app.get(
    '/payout_info',
    { schema: { tags: ['base'], summary: 'info about current state of payout', operationId: 'payout_info', security: bearer, response: { 200: PayoutInfo, ...errorResponses } }, onRequest: authenticate },
    async (request) => payoutInfoView(await backend.payoutInfo(auth(request).uid)),
  )

  app.get(
    '/get_payout_transactions',
    {
      schema: { tags: ['base'], summary: 'transactions booked for payout if payout already happened', operationId: 'get_payout_transactions', security: bearer, response: { 200: PayoutTransactions, ...errorResponses } },
      onRequest: authenticate,
    },
    async (request) => (await backend.payoutTransactions(auth(request).uid)).map(payoutTransactionView),
  )

  // A wristpay addition (not in the seed's file): how to top up by bank transfer before the event.
  app.get(
    '/bank_transfer',
    { schema: { tags: ['base'], summary: 'transfer reference and organiser account for a top-up by bank transfer', operationId: 'get_bank_transfer', security: bearer, response: { 200: BankTransfer, ...errorResponses } }, onRequest: authenticate },
    async (request) => {
      const found = backend.bankTransfer ? await backend.bankTransfer(auth(request).uid) : undefined
      if (found === undefined) throw new PortalError(404, 'bank_transfer_unavailable', 'this event takes no top-ups by bank transfer')
      return { reference: found.reference, reference_display: found.referenceDisplay, account_holder: found.accountHolder, iban: found.iban, bic: found.bic }
    },
  )

  // A wristpay addition (not in the seed's file): whether the provider's SEPA check found the holder name to match the IBAN.
  app.get(
    '/customer/payout_check',
    { schema: { tags: ['base'], summary: 'whether the payout account holder matches the IBAN (SEPA check)', operationId: 'get_payout_check', security: bearer, response: { 200: PayoutCheck, ...errorResponses } }, onRequest: authenticate },
    async (request) => {
      if (backend.payoutCheck === undefined) throw new PortalError(404, 'payout_check_unavailable', 'payout data is not checked at this event')
      const found = await backend.payoutCheck.status(auth(request).uid)
      const state = found?.state ?? 'none'
      return { state, message: PAYOUT_CHECK_MESSAGES[state] }
    },
  )

  // A wristpay addition (not in the seed's file): the balance back to the card(s) the guest topped up with online.
  function cardRefunds() {
    if (backend.cardRefunds === undefined) throw new PortalError(404, 'card_refund_unavailable', 'refunds to the card are not offered at this event')
    return backend.cardRefunds
  }

  app.get(
    '/customer/card_refund',
    { schema: { tags: ['base'], summary: 'what can go back to the card, and the refunds asked for', operationId: 'get_card_refunds', security: bearer, response: { 200: CardRefunds, ...errorResponses } }, onRequest: authenticate },
    async (request) => {
      const listed = await cardRefunds().list(auth(request).uid)
      return { refundable: listed.refundableCents / 100, refunds: listed.refunds.map(cardRefundView) }
    },
  )

  app.post<{ Body: CardRefundPayload }>(
    '/customer/card_refund',
    {
      schema: {
        tags: ['base'],
        summary: 'refund the balance (or `amount` of it) to the card(s) topped up with online',
        operationId: 'create_card_refund',
        security: bearer,
        body: CardRefundPayload,
        response: { 201: CardRefund, ...errorResponses, 409: PortalErrorBody },
      },
      onRequest: authenticate,
      config: { rateLimit: CARD_REFUND_RATE_LIMIT },
    },
    async (request, reply) => {
      const { uid } = auth(request)
      const service = cardRefunds()
      const amountCents = request.body.amount === undefined ? undefined : amountToCents('amount', request.body.amount)
      if (amountCents === 0) throw fieldError('amount', 'invalid_amount', 'amount must be above zero')
      const made = await service.request(uid, amountCents)
      log.info({ uid, refund: made.id, amountCents: made.amountCents, state: made.state }, 'refund to the card asked for')
      return reply.code(201).send(cardRefundView(made))
    },
  )

  app.get<{ Querystring: Static<typeof ConfigQuery> }>(
    '/config',
    { schema: { tags: ['base'], summary: 'get customer customer portal config', operationId: 'get_customer_config', querystring: ConfigQuery, response: { 200: CustomerPortalApiConfig, ...errorResponses } } },
    // One event per gateway: base_url (which portal is asking) does not change the answer.
    async () => configView(await backend.config()),
  )

  app.get<{ Params: Static<typeof BonParams> }>(
    '/bon/:order_uuid',
    { schema: { tags: ['base'], summary: 'Retrieve a bon', operationId: 'get_bon', params: BonParams, response: { 200: BonJson, ...errorResponses } } },
    async (request) => {
      // Public by design: the random receipt id is the secret. Malformed and unknown ids get the same 404.
      const id = request.params.order_uuid.toLowerCase()
      const receipt = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id) ? await backend.receipt(id) : undefined
      if (receipt === undefined) throw new PortalError(404, 'not_found', 'no such receipt')
      return bonView(receipt, await backend.config())
    },
  )

  app.get<{ Params: Static<typeof BlobParams> }>(
    '/blob/:blob_id',
    { schema: { tags: ['base'], summary: 'Get Blob', operationId: 'get_blob', params: BlobParams, response: errorResponses } },
    async (request, reply) => {
      const blob = await backend.blob(request.params.blob_id.toLowerCase())
      if (blob === undefined) throw new PortalError(404, 'not_found', 'no such blob')
      // Stored content is served as data only: no sniffing, no scripts even for SVG.
      return reply
        .header('content-type', blob.contentType)
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; sandbox")
        .send(Buffer.from(blob.data))
    },
  )

  // -------------------------------------------------------------------------
  // sumup (online top-up)

  app.post<{ Body: CreateCheckoutPayload }>(
    '/sumup/create-checkout',
    {
      schema: { tags: ['sumup'], summary: 'initiate customer checkout', operationId: 'create_checkout', security: bearer, body: CreateCheckoutPayload, response: { 200: CreateCheckoutResponse, ...errorResponses } },
      onRequest: authenticate,
    },
    async (request) => {
      const { uid } = auth(request)
      const config = await backend.config()
      if (!config.topupEnabled) throw new PortalError(403, 'topup_disabled', 'online top-up is not enabled for this event')
      const amountCents = amountToCents('amount', request.body.amount)
      if (amountCents < config.minTopupCents || amountCents > config.maxTopupCents)
        throw fieldError('amount', 'invalid_amount', `amount must be between ${config.minTopupCents / 100} and ${config.maxTopupCents / 100}`)
      const created = await backend.createCheckout(uid, amountCents)
      log.info({ uid, amountCents, orderUuid: created.orderUuid }, 'online top-up checkout created')
      return { checkout_id: created.checkoutId, order_uuid: created.orderUuid, ...(created.redirectUrl === undefined ? {} : { redirect_url: created.redirectUrl }) }
    },
  )

  app.post<{ Body: CheckCheckoutPayload }>(
    '/sumup/check-checkout',
    {
      schema: { tags: ['sumup'], summary: 'after payment check checkout state', operationId: 'check_checkout', security: bearer, body: CheckCheckoutPayload, response: { 200: CheckCheckoutResponse, ...errorResponses } },
      onRequest: authenticate,
    },
    async (request) => {
      const { uid } = auth(request)
      const body = request.body
      const ref = 'order_uuid' in body ? { orderUuid: body.order_uuid.toLowerCase() } : { checkoutId: body.checkout_id }
      return backend.checkCheckout(uid, ref)
    },
  )
}
