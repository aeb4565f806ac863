// A small HTTP API on the loopback interface for the kiosk's touchscreen UI
// (served under /ui/ by web-ui.ts), scripts and the demo. An operation request
// waits for the tap and the gateway's answer and returns the outcome. Bodies
// are taken literally (no coercion, no extra fields). Every error is
// `{type, id, message}` with `id` the request id, which is also in the log
// lines of that request.
import { randomUUID } from 'node:crypto'
import type {
  FastifyBaseLogger,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifySchemaCompiler,
  FastifySchemaValidationError,
  FastifySerializerCompiler,
  FastifyServerOptions,
} from 'fastify'
import Type, { type TSchema } from 'typebox'
import { Compile } from 'typebox/schema'
import type { Logger } from 'pino'
import { MAX_AMOUNT_CENTS, MAX_LINES, STAFF_PIN_PATTERN } from '../device-protocol/index.js'
import type { KioskErrorType, Kiosk, Outcome, SaleLine, TicketSale } from './kiosk.js'
import type { CardResolution, CardTopUpOutcome } from './card-topup.js'
import { KioskError } from './kiosk.js'
import { webUiPlugin } from './web-ui.js'
import { requirePackage } from './require-package.js'

const { fastify: Fastify } = requirePackage('fastify') as typeof import('fastify')

export type LocalApiKiosk = Pick<
  Kiosk,
  'sale' | 'topUp' | 'cardTopUp' | 'resolveCardPayment' | 'cashOut' | 'sellTicket' | 'switchTag' | 'cancelLast' | 'checkBalance' | 'openShift' | 'closeShift' | 'login' | 'logout' | 'abort' | 'confirmChainRecovery'
>

export interface LocalApiOptions {
  kiosk: LocalApiKiosk
  /** What GET /state returns. */
  state: () => unknown
  logger: Logger
  /** Loopback by default: this API rings up sales and has no authentication. */
  host?: string
  port: number
}

export interface LocalApi {
  /** Registers the plugins (the web UI), then listens. */
  start(): Promise<{ host: string; port: number }>
  stop(): Promise<void>
  readonly app: FastifyInstance
}

export interface ApiError {
  type: string
  id: string
  message: string
}

const Qty = Type.Integer({ minimum: 1, maximum: 1000 })
/** Whole cents, never negative, never beyond what one transaction may hold. */
const CentsBody = Type.Integer({ minimum: 0, maximum: MAX_AMOUNT_CENTS })
const ProductId = Type.String({ minLength: 1, maxLength: 64 })

const SaleBody = Type.Object(
  {
    // Empty carts pass the schema so the kiosk can refuse them with its own 'empty_cart'.
    lines: Type.Array(
      Type.Object(
        {
          product: ProductId,
          // Negative: a returned deposit; never 0.
          qty: Type.Union([Type.Integer({ minimum: -1000, maximum: -1 }), Qty]),
          // Free-price products only; the kiosk refuses it on fixed-price ones.
          unitPrice: Type.Optional(CentsBody),
        },
        { additionalProperties: false },
      ),
      { maxItems: MAX_LINES },
    ),
  },
  { additionalProperties: false },
)

const TopUpBody = Type.Object(
  { amount: Type.Integer({ minimum: 1, maximum: MAX_AMOUNT_CENTS }) },
  { additionalProperties: false },
)

/** For operations that take nothing: `{}` and nothing else. */
const EmptyBody = Type.Object({}, { additionalProperties: false })

const TicketBody = Type.Object(
  {
    lines: Type.Array(Type.Object({ product: ProductId, qty: Qty }, { additionalProperties: false }), { maxItems: MAX_LINES }),
    topup: CentsBody,
  },
  { additionalProperties: false },
)

// The kiosk checks the PIN's alphabet itself; the schema keeps out anything that cannot be one.
const TagSwitchBody = Type.Object({ pin: Type.String({ pattern: '^[A-Za-z0-9]{8,32}$' }) }, { additionalProperties: false })

const ShiftOpenBody = Type.Object(
  { register: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$' }), float: CentsBody },
  { additionalProperties: false },
)

const ShiftCloseBody = Type.Object({ counted: CentsBody }, { additionalProperties: false })

const LoginBody = Type.Object({ pin: Type.Optional(Type.String({ pattern: STAFF_PIN_PATTERN })) }, { additionalProperties: false })

/** A terminal's identifier as a supervisor types it from the terminal's journal. */
const TerminalReference = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$' })

const CardResolveBody = Type.Object(
  {
    outcome: Type.Union([Type.Literal('approved'), Type.Literal('declined')]),
    receiptNumber: Type.Optional(TerminalReference),
    traceNumber: Type.Optional(TerminalReference),
    terminalId: Type.Optional(TerminalReference),
  },
  { additionalProperties: false },
)

/** HTTP status of each refusal of the kiosk flow. */
const STATUS_OF: Record<KioskErrorType, number> = {
  busy: 409,
  no_config: 503,
  empty_cart: 400,
  unknown_product: 400,
  invalid_quantity: 400,
  cart_too_large: 400,
  invalid_amount: 400,
  sale_not_allowed: 403,
  topup_not_allowed: 403,
  outbox_full: 503,
  reader_unavailable: 503,
  // Not 408: browsers silently re-send a POST answered 408 on a kept-alive connection, which would start a second tap wait.
  tap_timeout: 504,
  stopped: 503,
  terminal_unavailable: 503,
  card_payment_unresolved: 409,
  no_unresolved_card_payment: 409,
  invalid_reference: 400,
  not_returnable: 400,
  price_required: 400,
  invalid_price: 400,
  product_restricted: 403,
  tag_blocked: 403,
  unknown_tag: 422,
  not_logged_in: 401,
  staff_not_allowed: 403,
  wrong_staff_pin: 401,
  unknown_staff: 403,
  cashout_not_allowed: 403,
  ticket_not_allowed: 403,
  tag_switch_not_allowed: 403,
  cancel_not_allowed: 409,
  nothing_to_cancel: 409,
  no_open_shift: 409,
  shift_already_open: 409,
  unknown_register: 400,
  gateway_unreachable: 503,
  offline_limit: 403,
  nothing_to_pay_out: 409,
  invalid_pin: 400,
  pin_seal_unavailable: 503,
  aborted: 409,
  chain_recovery_required: 409,
  no_chain_recovery: 409,
  not_enrolled: 409,
  locked: 423,
  storage_failed: 503,
}

/**
 * accepted and rejected are final answers (200); pending means "not answered
 * yet" and offline "accepted by the kiosk, not booked yet" (both 202: the body's
 * status tells the cashier what to do).
 */
const statusOfOutcome = (outcome: Outcome): number => (outcome.status === 'pending' || outcome.status === 'offline' ? 202 : 200)

/**
 * Card top-ups: accepted, rejected, declined and aborted are final (200);
 * pending (no gateway answer yet) and unresolved (the terminal could not tell
 * whether the card was charged; a supervisor must resolve it) are 202.
 */
const statusOfCardOutcome = (outcome: CardTopUpOutcome): number => (outcome.status === 'pending' || outcome.status === 'unresolved' ? 202 : 200)

/**
 * fastify's validator compiler for the routes' body schemas: TypeBox's JSON Schema validator (typebox/schema,
 * as device-protocol/validate.ts says why), compiled on a route's first
 * request. A refusal carries TypeBox's first errors in ajv's shape, so that fastify words it as usual
 * ("body/lines/0/qty must be ...") and marks it as a validation error.
 */
export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema }) => {
  let compiled: ReturnType<typeof Compile> | undefined
  return (data: unknown) => {
    compiled ??= Compile(schema)
    if (compiled.Check(data)) return true
    const error: FastifySchemaValidationError[] = compiled
      .Errors(data)[1]
      .slice(0, 3)
      .map((e) => ({ keyword: e.keyword, instancePath: e.instancePath, schemaPath: e.schemaPath, params: { ...e.params }, message: e.message }))
    return { error }
  }
}

/** The local API sends plain JSON and declares no response schemas; one added by mistake fails at start instead of being ignored. */
const noResponseSchemas: FastifySerializerCompiler<unknown> = ({ method, url }) => {
  throw new Error(`the kiosk's local API has no response schemas (${method} ${url} declares one)`)
}

/**
 * fastify calls each factory once and uses what it returns as the compiler (fastify's Server docs,
 * schemaController); its types describe only ajv's and fast-json-stringify's factories, hence the cast.
 */
const TYPEBOX_COMPILERS = { buildValidator: () => typeboxValidatorCompiler, buildSerializer: () => noResponseSchemas } as unknown as NonNullable<
  NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']
>

export function createLocalApi(options: LocalApiOptions): LocalApi {
  const { kiosk, state, logger } = options
  const host = options.host ?? '127.0.0.1'

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    genReqId: () => randomUUID(),
    bodyLimit: 64 * 1024,
    // The touchscreen browser keeps its connection alive: stopping the daemon must not wait for it.
    forceCloseConnections: true,
    // Bodies are checked by TypeBox's compiler, which the daemon loads anyway (device-protocol), instead
    // of fastify's ajv: ajv, its formats and fast-json-stringify are not loaded at all, about 3 MB of the
    // daemon's resident memory on a Pi. Money input is taken literally: TypeBox neither coerces ("2" is
    // not 2) nor drops unknown fields (an error).
    schemaController: { compilersFactory: TYPEBOX_COMPILERS },
  })

  const send = (reply: FastifyReply, statusCode: number, body: ApiError) => reply.code(statusCode).send(body)

  app.setErrorHandler((err: FastifyError | KioskError | Error, request, reply) => {
    if (err instanceof KioskError) return send(reply, STATUS_OF[err.type], { type: err.type, id: request.id, message: err.message })
    const fastifyErr = err as FastifyError
    if (fastifyErr.validation) {
      return send(reply, 400, { type: 'bad_request', id: request.id, message: `invalid request: ${fastifyErr.message}` })
    }
    const statusCode = fastifyErr.statusCode
    if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
      // Invalid JSON, body too large, wrong content type: fastify's own messages are clear and hold no secrets.
      return send(reply, statusCode, { type: 'bad_request', id: request.id, message: fastifyErr.message })
    }
    request.log.error({ err }, 'request failed')
    return send(reply, 500, { type: 'internal', id: request.id, message: 'internal error; see the kiosk log for this request id' })
  })

  app.setNotFoundHandler((request, reply) =>
    send(reply, 404, { type: 'not_found', id: request.id, message: `no route ${request.method} ${request.url.slice(0, 200)}` }),
  )

  app.post<{ Body: { lines: SaleLine[] } }>('/sale', { schema: { body: SaleBody } }, async (request, reply) => {
    const outcome = await kiosk.sale(request.body.lines)
    return reply.code(statusOfOutcome(outcome)).send(outcome)
  })

  /** Routes that run one kiosk operation and answer with its Outcome. */
  const operation = <B>(path: string, body: TSchema, run: (body: B) => Promise<Outcome>) =>
    app.post<{ Body: B }>(path, { schema: { body } }, async (request, reply) => {
      const outcome = await run(request.body as B)
      return reply.code(statusOfOutcome(outcome)).send(outcome)
    })

  operation('/cashout', EmptyBody, () => kiosk.cashOut())
  operation<TicketSale>('/ticket', TicketBody, (body) => kiosk.sellTicket(body))
  // The PIN is in the body only: never in a log line (fastify logs no bodies).
  operation<{ pin: string }>('/tag-switch', TagSwitchBody, (body) => kiosk.switchTag(body.pin))
  operation('/cancel-last', EmptyBody, () => kiosk.cancelLast())
  operation<{ register: string; float: number }>('/shift/open', ShiftOpenBody, (body) => kiosk.openShift(body.register, body.float))
  operation<{ counted: number }>('/shift/close', ShiftCloseBody, (body) => kiosk.closeShift(body.counted))

  app.post('/balance', { schema: { body: EmptyBody } }, async () => kiosk.checkBalance())

  app.post<{ Body: { pin?: string } }>('/staff/login', { schema: { body: LoginBody } }, async (request) => ({ staff: await kiosk.login(request.body.pin) }))

  app.post('/staff/logout', { schema: { body: EmptyBody } }, async () => {
    kiosk.logout()
    return { staff: null }
  })

  app.post('/abort', { schema: { body: EmptyBody } }, async () => ({ aborted: kiosk.abort() }))

  app.post<{ Body: { amount: number } }>('/topup', { schema: { body: TopUpBody } }, async (request, reply) => {
    const outcome = await kiosk.topUp(request.body.amount)
    return reply.code(statusOfOutcome(outcome)).send(outcome)
  })

  app.post<{ Body: { amount: number } }>('/topup/card', { schema: { body: TopUpBody } }, async (request, reply) => {
    const outcome = await kiosk.cardTopUp(request.body.amount)
    return reply.code(statusOfCardOutcome(outcome)).send(outcome)
  })

  // For a supervisor (the kiosk checks the login when the event has staff): settles a card
  // payment whose outcome the terminal could not tell (see the terminal's journal).
  app.post<{ Body: CardResolution }>('/topup/card/resolve', { schema: { body: CardResolveBody } }, async (request, reply) => {
    const outcome = await kiosk.resolveCardPayment(request.body)
    request.log.warn({ outcome: request.body.outcome, cardPayment: outcome.cardPaymentId }, 'card payment resolved by a supervisor')
    return reply.code(statusOfCardOutcome(outcome)).send(outcome)
  })

  // For a supervisor (the kiosk checks the login when the event has staff): the outbox is behind
  // what the gateway booked (GET /state `chain`); go on from the gateway's head and send what is left.
  app.post('/recovery/confirm', { schema: { body: EmptyBody } }, async (request) => {
    const recovery = await kiosk.confirmChainRecovery()
    request.log.warn({ reason: recovery.damage.reason, gatewayNextSeq: recovery.gatewayNextSeq, resigned: recovery.resigned.length }, 'outbox chain recovery confirmed')
    return recovery
  })

  app.get('/state', async () => state())

  // ---- Extension point: the touchscreen UI (daemon/web-ui.ts, owned by the web UI) serves /ui/. ----
  const plugins = app.register(webUiPlugin)

  return {
    app,
    async start() {
      await plugins
      await app.listen({ host, port: options.port })
      const address = app.server.address()
      const port = typeof address === 'object' && address ? address.port : options.port
      return { host, port }
    },
    async stop() {
      await app.close()
    },
  }
}
