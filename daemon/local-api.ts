// A small HTTP API on the loopback interface to ring up without a screen (a
// cashier UI, a script, the demo). A sale request waits for the tap and the
// gateway's answer and returns the outcome. Every error is `{type, id, message}`
// with `id` the request id, which is also in the log lines of that request.
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify'
import Type from 'typebox'
import type { Logger } from 'pino'
import { MAX_AMOUNT_CENTS, MAX_LINES } from '../device-protocol/index.js'
import type { KioskErrorType, Kiosk, Outcome, SaleLine } from './kiosk.js'
import type { CardResolution, CardTopUpOutcome } from './card-topup.js'
import { KioskError } from './kiosk.js'

export interface LocalApiOptions {
  kiosk: Pick<Kiosk, 'sale' | 'topUp' | 'cardTopUp' | 'resolveCardPayment'>
  /** What GET /state returns. */
  state: () => unknown
  logger: Logger
  /** Loopback by default: this API rings up sales and has no authentication. */
  host?: string
  port: number
}

export interface LocalApi {
  start(): Promise<{ host: string; port: number }>
  stop(): Promise<void>
  readonly app: FastifyInstance
}

export interface ApiError {
  type: string
  id: string
  message: string
}

const SaleBody = Type.Object(
  {
    // Empty carts pass the schema so the kiosk can refuse them with its own 'empty_cart'.
    lines: Type.Array(
      Type.Object(
        {
          product: Type.String({ minLength: 1, maxLength: 64 }),
          qty: Type.Integer({ minimum: 1, maximum: 1000 }),
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
  tap_timeout: 408,
  stopped: 503,
  terminal_unavailable: 503,
  card_payment_unresolved: 409,
  no_unresolved_card_payment: 409,
  invalid_reference: 400,
}

/** accepted and rejected are final answers; pending means "not answered yet" (202). */
const statusOfOutcome = (outcome: Outcome): number => (outcome.status === 'pending' ? 202 : 200)

/**
 * Card top-ups: accepted, rejected, declined and aborted are final (200);
 * pending (no gateway answer yet) and unresolved (the terminal could not tell
 * whether the card was charged; a supervisor must resolve it) are 202.
 */
const statusOfCardOutcome = (outcome: CardTopUpOutcome): number => (outcome.status === 'pending' || outcome.status === 'unresolved' ? 202 : 200)

export function createLocalApi(options: LocalApiOptions): LocalApi {
  const { kiosk, state, logger } = options
  const host = options.host ?? '127.0.0.1'

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    genReqId: () => randomUUID(),
    bodyLimit: 64 * 1024,
    ajv: {
      // Money input is taken literally: "2" is not 2, and unknown fields are an error, not dropped.
      customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false },
    },
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

  app.post<{ Body: { amount: number } }>('/topup', { schema: { body: TopUpBody } }, async (request, reply) => {
    const outcome = await kiosk.topUp(request.body.amount)
    return reply.code(statusOfOutcome(outcome)).send(outcome)
  })

  app.post<{ Body: { amount: number } }>('/topup/card', { schema: { body: TopUpBody } }, async (request, reply) => {
    const outcome = await kiosk.cardTopUp(request.body.amount)
    return reply.code(statusOfCardOutcome(outcome)).send(outcome)
  })

  // For a supervisor: settles a card payment whose outcome the terminal could not tell (see the terminal's journal).
  app.post<{ Body: CardResolution }>('/topup/card/resolve', { schema: { body: CardResolveBody } }, async (request, reply) => {
    const outcome = await kiosk.resolveCardPayment(request.body)
    request.log.warn({ outcome: request.body.outcome, cardPayment: outcome.cardPaymentId }, 'card payment resolved by a supervisor')
    return reply.code(statusOfCardOutcome(outcome)).send(outcome)
  })

  app.get('/state', async () => state())

  return {
    app,
    async start() {
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
