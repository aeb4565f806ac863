// The users and payments API of seeds/users-payments-api.txt as a fastify
// plugin: accounts that pre-pay before the event (Stripe payment intents) and
// are later linked to a wristband, which then receives the prepaid money.
// The gateway mounts it under a prefix (e.g. /users-api); errors are HttpError,
// answered as {type, id, message} by the gateway's error handler.
import rateLimit from '@fastify/rate-limit'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import type Stripe from 'stripe'
import Type from 'typebox'
import { systemClock, type Clock } from '../../device-protocol/index.js'
import { retryAfterSeconds, type PinAttemptLimiter } from '../../portal-api/index.js'
import { BEARER_SECURITY_SCHEME } from '../docs.js'
import { ErrorBody, HttpError } from '../http.js'
import { acceptEmptyJsonBody } from '../json-body.js'
import { accountIds } from '../ledger/index.js'
import type { UsersLedger } from './ledger-port.js'
import { LinkRefusedError, linkWristband } from './linking.js'
import { DEFAULT_PASSWORD_SCRYPT_N, createDecoyHash, hashPassword, verifyPassword } from './passwords.js'
import { createPaymentsService, type PaymentsService } from './payments.js'
import {
  AuthGrantDto,
  ConfirmPaymentDto,
  CreatePaymentDto,
  CreateUserDto,
  IdParams,
  LinkWristbandDto,
  LoginUserDto,
  PaymentCreatedDto,
  ReturnPaymentDto,
  ReturnUserDto,
  UpdateUserDto,
  WristbandLinkDto,
} from './schemas.js'
import { EmailTakenError, type PaymentRow, type UserRow, type UsersStore } from './store.js'
import { createTokenIssuer } from './tokens.js'

export { linkWristband, LinkRefusedError, type LinkDeps, type LinkResult } from './linking.js'
export { createUsersStore, type UsersStore } from './store.js'
export { createPaymentsService, type PaymentsService } from './payments.js'

export interface RateLimitSetting {
  max: number
  timeWindowMs: number
}

export interface UsersPaymentsOptions {
  store: UsersStore
  ledger: UsersLedger
  /** From createStripeClient({ apiKey, baseUrl }) (gateway/payments/stripe-client.ts). */
  stripe: Stripe
  /** HS256 key of the bearer tokens, at least 32 bytes. */
  jwtSecret: string | Uint8Array
  clock?: Clock
  logger: Logger
  /** The event's currency, ISO 4217 (e.g. 'EUR'). */
  currency: string
  /** Lifetime of a bearer token; default 1 hour. */
  tokenTtlSeconds?: number
  /** scrypt cost of new password hashes; tests lower it. */
  passwordScryptN?: number
  /** Amount of a POST /payment without `amount` (the seed's request has only `cuid`); default 2000 (the seed's example). */
  defaultAmountCents?: number
  minAmountCents?: number
  maxAmountCents?: number
  /** Per client IP, on register and login; default 10 per minute. */
  authRateLimit?: RateLimitSetting
  /** Per client IP, on the wristband link (PIN checks); default 10 per minute. */
  linkRateLimit?: RateLimitSetting
  /** The gateway's one limiter of PIN guessing (gateway/pin-attempts.ts), shared with the portal login and tag switches. */
  pinAttempts: PinAttemptLimiter
  /** A shared payments service (e.g. one whose reconcilePending() the gateway runs periodically); built if absent. */
  payments?: PaymentsService
  /** A wristband's transfer reference with the organiser's account (gateway/bank/); undefined when the event takes no bank transfers. */
  bankTransfer?: (uid: string) => { reference: string; referenceDisplay: string; accountHolder: string; iban: string; bic: string | null } | undefined
}

/** Not in the seed: a wristpay addition, as the portal's GET /api/bank_transfer. */
const BankTransferDto = Type.Object(
  { reference: Type.String(), referenceDisplay: Type.String(), accountHolder: Type.String(), iban: Type.String(), bic: Type.Union([Type.String(), Type.Null()]) },
  { additionalProperties: false },
)

export const DEFAULT_TOKEN_TTL_SECONDS = 3600
export const DEFAULT_AMOUNT_CENTS = 2000
export const DEFAULT_MIN_AMOUNT_CENTS = 100
export const DEFAULT_MAX_AMOUNT_CENTS = 100_000
const DEFAULT_RATE_LIMIT: RateLimitSetting = { max: 10, timeWindowMs: 60_000 }

const errorResponses = {
  400: ErrorBody,
  401: ErrorBody,
  402: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  422: ErrorBody,
  429: ErrorBody,
  500: ErrorBody,
  502: ErrorBody,
}

const bearer = [{ bearerAuth: [] }]

/**
 * What each status means on this API; a route lists exactly the ones it can
 * answer (the seed lists only the success codes, so these are all ours).
 */
const STATUS_MEANING: Record<number, string> = {
  400: 'The request is malformed (body, id or JSON).',
  401: 'No valid bearer token (or wrong email or password on login).',
  402: 'The card was declined.',
  403: 'The caller may not access this user, or tried to change a customer id.',
  404: 'No user or payment with this id.',
  409: 'Conflicts with the current state (email taken, cuid reused, money still prepaid, payment canceled or processing).',
  413: 'The body is larger than the limit.',
  415: 'The body is not application/json.',
  422: 'The payment provider refused the request (amount out of range, payment not confirmable).',
  429: 'Too many requests from this client; retry later.',
  500: 'Internal error (logged with the request id).',
  502: 'The payment provider did not answer; nothing was changed, the request may be sent again.',
}
function errorsOf(...statuses: number[]): Record<number, unknown> {
  return Object.fromEntries(statuses.map((status) => [status, { ...ErrorBody, description: STATUS_MEANING[status] }]))
}
/** Every route may fail internally; every route with a body may get one too large or not JSON. */
const BODY = [400, 413, 415, 500]
const NO_BODY = [500]

function normaliseEmail(email: string): string {
  return email.trim().toLowerCase()
}

function userDto(user: UserRow): ReturnUserDto {
  const dto: ReturnUserDto = { userId: user.id, userName: user.userName, email: user.email }
  if (user.customerId !== null) dto.customerId = user.customerId
  return dto
}

function paymentDto(row: PaymentRow): ReturnPaymentDto {
  return { id: row.intentId!, amount: row.amount, currency: row.currency, status: row.status, paymentMethod: row.paymentMethod ?? '' }
}

export const usersPaymentsPlugin: FastifyPluginAsync<UsersPaymentsOptions> = async (app, options) => {
  const { store, ledger } = options
  const clock = options.clock ?? systemClock
  const logger = options.logger.child({ component: 'users-api' })
  const scryptN = options.passwordScryptN ?? DEFAULT_PASSWORD_SCRYPT_N
  const tokens = createTokenIssuer({ secret: options.jwtSecret, clock, ttlSeconds: options.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS })
  const minAmountCents = options.minAmountCents ?? DEFAULT_MIN_AMOUNT_CENTS
  const maxAmountCents = options.maxAmountCents ?? DEFAULT_MAX_AMOUNT_CENTS
  const defaultAmountCents = options.defaultAmountCents ?? DEFAULT_AMOUNT_CENTS
  const payments =
    options.payments ??
    createPaymentsService({ store, ledger, stripe: options.stripe, clock, logger, currency: options.currency, minAmountCents, maxAmountCents })
  const decoyHash = await createDecoyHash(scryptN)
  const users = new WeakMap<FastifyRequest, UserRow>()
  // The seed's samples send Content-Type: application/json on requests without a body too.
  acceptEmptyJsonBody(app)

  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) => new HttpError(429, 'rate_limited', `too many requests; retry in ${context.after}`),
  })
  const limit = (setting: RateLimitSetting | undefined) => {
    const s = setting ?? DEFAULT_RATE_LIMIT
    return { rateLimit: { max: s.max, timeWindow: s.timeWindowMs } }
  }

  /** onRequest of every secured route: runs before body validation, so a stranger learns nothing about bodies. */
  async function requireUser(request: FastifyRequest): Promise<void> {
    const header = request.headers.authorization
    const match = typeof header === 'string' ? /^Bearer ([A-Za-z0-9_.-]{1,4096})$/.exec(header) : null
    if (match === null) throw new HttpError(401, 'unauthorized', 'a bearer token is required (POST /user/login)')
    const userId = await tokens.verify(match[1]!)
    const user = userId === null ? undefined : store.userById(userId)
    if (user === undefined) throw new HttpError(401, 'unauthorized', 'the bearer token is invalid or expired')
    users.set(request, user)
  }
  function currentUser(request: FastifyRequest): UserRow {
    const user = users.get(request)
    if (user === undefined) throw new Error('route without requireUser')
    return user
  }
  /**
   * An account sees and manages itself and the accounts it created with POST
   * /user (an organiser's sub-accounts), no others (403). Ids are 96 random
   * bits, so answering 404 for an id that does not exist tells nothing useful.
   */
  function requireManaged(request: FastifyRequest, id: string): UserRow {
    const caller = currentUser(request)
    if (id === caller.id) return caller
    const target = store.userById(id)
    if (target === undefined) throw new HttpError(404, 'unknown_user', 'no user with this id')
    if (target.createdBy !== caller.id) throw new HttpError(403, 'forbidden', 'a user can only access their own account and the accounts they created')
    return target
  }
  /** Only the user themselves: moving money onto a wristband. */
  function requireSelf(request: FastifyRequest, id: string): UserRow {
    const user = currentUser(request)
    if (id !== user.id) throw new HttpError(403, 'forbidden', 'a user can only access their own account')
    return user
  }

  async function createUser(body: CreateUserDto, createdBy?: string): Promise<UserRow> {
    const passwordHash = await hashPassword(body.password, scryptN)
    try {
      return store.insertUser({
        id: store.newUserId(),
        userName: body.userName.trim(),
        email: normaliseEmail(body.email),
        passwordHash,
        createdAt: clock.now(),
        ...(createdBy !== undefined ? { createdBy } : {}),
      })
    } catch (err) {
      if (err instanceof EmailTakenError) throw new HttpError(409, 'email_taken', 'a user with this email exists already')
      throw err
    }
  }

  app.post<{ Body: CreateUserDto }>(
    '/user/register',
    { config: limit(options.authRateLimit), schema: { security: [], body: CreateUserDto, response: { 201: AuthGrantDto, ...errorsOf(...BODY, 409, 429) } } },
    async (request, reply) => {
      const user = await createUser(request.body)
      logger.info({ userId: user.id }, 'user registered')
      return reply.code(201).send({ access_token: await tokens.issue(user.id) })
    },
  )

  app.post<{ Body: LoginUserDto }>(
    '/user/login',
    { config: limit(options.authRateLimit), schema: { security: [], body: LoginUserDto, response: { 201: AuthGrantDto, ...errorsOf(...BODY, 401, 429) } } },
    async (request, reply) => {
      const user = store.userByEmail(normaliseEmail(request.body.email))
      // Unknown email: verify against a decoy so both refusals cost the same.
      const ok = await verifyPassword(request.body.password, user?.passwordHash ?? decoyHash)
      if (user === undefined || !ok) throw new HttpError(401, 'invalid_credentials', 'wrong email or password')
      return reply.code(201).send({ access_token: await tokens.issue(user.id) })
    },
  )

  app.post<{ Body: CreateUserDto }>(
    '/user',
    { onRequest: requireUser, schema: { security: bearer, body: CreateUserDto, response: { 201: ReturnUserDto, ...errorsOf(...BODY, 401, 409) } } },
    async (request, reply) => {
      const user = await createUser(request.body, currentUser(request).id)
      logger.info({ userId: user.id, by: currentUser(request).id }, 'user created')
      return reply.code(201).send(userDto(user))
    },
  )

  app.get(
    '/user',
    { onRequest: requireUser, schema: { security: bearer, response: { 200: Type.Array(ReturnUserDto), ...errorsOf(...NO_BODY, 401) } } },
    // The caller and the accounts it created; never anybody else.
    async (request) => {
      const caller = currentUser(request)
      return [caller, ...store.usersCreatedBy(caller.id)].map(userDto)
    },
  )

  app.get<{ Params: IdParams }>(
    '/user/:id',
    { onRequest: requireUser, schema: { security: bearer, params: IdParams, response: { 200: ReturnUserDto, ...errorsOf(...NO_BODY, 400, 401, 403, 404) } } },
    async (request) => userDto(requireManaged(request, request.params.id)),
  )

  // A pre-registered guest tops up by bank transfer to the wristband linked to their account (a wristpay addition).
  app.get<{ Params: IdParams }>(
    '/user/:id/bank-transfer',
    { onRequest: requireUser, schema: { security: bearer, params: IdParams, response: { 200: BankTransferDto, ...errorsOf(...NO_BODY, 400, 401, 403, 404, 409) } } },
    async (request) => {
      const user = requireSelf(request, request.params.id)
      if (options.bankTransfer === undefined) throw new HttpError(404, 'bank_transfer_unavailable', 'this event takes no top-ups by bank transfer')
      if (user.linkedUid === null) throw new HttpError(409, 'wristband_not_linked', 'link a wristband first: a bank transfer tops up a wristband')
      const details = options.bankTransfer(user.linkedUid)
      if (details === undefined) throw new HttpError(404, 'bank_transfer_unavailable', 'this event takes no top-ups by bank transfer')
      return details
    },
  )

  app.patch<{ Params: IdParams; Body: UpdateUserDto }>(
    '/user/:id',
    {
      onRequest: requireUser,
      schema: { security: bearer, params: IdParams, body: UpdateUserDto, response: { 200: ReturnUserDto, ...errorsOf(...BODY, 401, 403, 404, 409) } },
    },
    async (request) => {
      const user = requireManaged(request, request.params.id)
      const { userId, userName, email, customerId } = request.body
      // A client may send back the whole user it got (the seed's ReturnUserDto): its id must be this one.
      if (userId !== undefined && userId !== user.id) throw new HttpError(400, 'user_id_mismatch', 'userId in the body is not the id in the path')
      if (customerId !== undefined && customerId !== user.customerId)
        throw new HttpError(403, 'customer_id_immutable', 'the Stripe customer id is assigned by the server and cannot be changed')
      let updated: UserRow
      try {
        updated = store.updateUser(user.id, {
          ...(userName !== undefined ? { userName: userName.trim() } : {}),
          ...(email !== undefined ? { email: normaliseEmail(email) } : {}),
        })
      } catch (err) {
        if (err instanceof EmailTakenError) throw new HttpError(409, 'email_taken', 'a user with this email exists already')
        throw err
      }
      if (updated.customerId !== null && (userName !== undefined || email !== undefined)) {
        // Best effort: Stripe's copy of name and email is for receipts only; ours is the truth.
        options.stripe.customers
          .update(updated.customerId, { name: updated.userName, email: updated.email })
          .catch((err: unknown) => logger.warn({ userId: user.id, err: err instanceof Error ? err.message : String(err) }, 'stripe customer not updated'))
      }
      return userDto(updated)
    },
  )

  app.delete<{ Params: IdParams }>(
    '/user/:id',
    { onRequest: requireUser, schema: { security: bearer, params: IdParams, response: { 200: ReturnUserDto, ...errorsOf(...BODY, 401, 403, 404, 409, 502) } } },
    async (request) => {
      const user = requireManaged(request, request.params.id)
      // Open intents are canceled (or booked if they succeeded meanwhile) so no money arrives for a deleted user.
      await payments.settleOpenPayments(user)
      const prepaid = ledger.accountBalance(accountIds.prepaid(user.id)) ?? 0
      if (prepaid !== 0)
        throw new HttpError(409, 'balance_not_zero', 'this account holds prepaid money; link it to a wristband before deleting the account')
      store.deleteUser(user.id, clock.now())
      logger.info({ userId: user.id }, 'user deleted')
      return userDto(user)
    },
  )

  app.post<{ Params: IdParams; Body: LinkWristbandDto }>(
    '/user/:id/wristband',
    {
      onRequest: requireUser,
      config: limit(options.linkRateLimit),
      schema: {
        security: bearer,
        params: IdParams,
        body: LinkWristbandDto,
        response: { 200: WristbandLinkDto, 201: WristbandLinkDto, ...errorResponses },
      },
    },
    async (request, reply) => {
      const user = requireSelf(request, request.params.id)
      const { uid, pin } = request.body
      const attempt = options.pinAttempts.attempt({ address: request.ip })
      if (!attempt.allowed) {
        logger.warn({ ip: request.ip, reason: attempt.reason }, 'wristband link: PIN not checked, too many wrong PINs')
        reply.header('retry-after', String(retryAfterSeconds(attempt)))
        throw new HttpError(429, 'rate_limited', `too many wrong PINs; retry in ${retryAfterSeconds(attempt)} s`)
      }
      // Unknown wristband and wrong PIN answer alike: the route does not tell which uids exist.
      if (!ledger.registry.verifyPin(uid, pin)) throw new HttpError(403, 'wrong_pin', 'wrong wristband or PIN')
      attempt.refund()
      try {
        const result = linkWristband({ store, ledger, clock, logger }, { userId: user.id, uid })
        return reply
          .code(result.status === 'linked' ? 201 : 200)
          .send({ userId: result.userId, uid: result.uid, status: result.status, amount: result.movedCents })
      } catch (err) {
        if (!(err instanceof LinkRefusedError)) throw err
        if (err.code === 'unknown_user') throw new HttpError(401, 'unauthorized', 'the user no longer exists')
        if (err.code === 'unknown_tag') throw new HttpError(403, 'wrong_pin', 'wrong wristband or PIN')
        throw new HttpError(409, err.code, err.message)
      }
    },
  )

  app.post<{ Body: CreatePaymentDto }>(
    '/payment',
    { onRequest: requireUser, schema: { security: bearer, body: CreatePaymentDto, response: { 201: PaymentCreatedDto, ...errorsOf(...BODY, 401, 409, 422, 502) } } },
    async (request, reply) => {
      const row = await payments.create(currentUser(request), { cuid: request.body.cuid, amountCents: request.body.amount ?? defaultAmountCents })
      return reply.code(201).send({ ...paymentDto(row), clientSecret: row.clientSecret ?? '' })
    },
  )

  app.get(
    '/payment',
    { onRequest: requireUser, schema: { security: bearer, response: { 200: Type.Array(ReturnPaymentDto), ...errorsOf(...NO_BODY, 401) } } },
    async (request) => payments.list(currentUser(request)).map(paymentDto),
  )

  app.post<{ Body: ConfirmPaymentDto }>(
    '/payment/confirm',
    { onRequest: requireUser, schema: { security: bearer, body: ConfirmPaymentDto, response: { 201: ReturnPaymentDto, ...errorsOf(...BODY, 401, 402, 404, 409, 422, 502) } } },
    async (request, reply) => {
      const row = await payments.confirm(currentUser(request), request.body)
      return reply.code(201).send(paymentDto(row))
    },
  )

  app.get<{ Params: IdParams }>(
    '/payment/:id',
    { onRequest: requireUser, schema: { security: bearer, params: IdParams, response: { 200: ReturnPaymentDto, ...errorsOf(...NO_BODY, 400, 401, 404, 502) } } },
    async (request) => paymentDto(await payments.get(currentUser(request), request.params.id)),
  )
}
