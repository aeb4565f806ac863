// The gateway's HTTP API (fastify): a health check for monitoring and the admin
// API behind a bearer token. Every route carries TypeBox request and response
// schemas, so requests are validated before a handler runs and the OpenAPI
// document can later be generated from the same schemas. Other APIs (the
// customer portal) mount as fastify plugins through `plugins`.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify'
import Type, { type Static } from 'typebox'
import type { Logger } from 'pino'
import { KioskId } from '../device-protocol/index.js'
import { storageFaultCode } from '../device-protocol/storage-fault.js'
import { apiErrorHandler, sendApiError, type ApiErrorAnswer } from '../portal-api/http-errors.js'
import { throttleFailedCredentials } from './credential-throttle.js'
import { registerDocs, type DocsOptions } from './docs.js'
import { OneLinePerRequestLog } from './http-log.js'

// ---------------------------------------------------------------------------
// Schemas (exported: the OpenAPI generator and clients use them).

export const ErrorBody = Type.Object(
  {
    /** A stable machine-readable code, e.g. `unauthorized`, `unknown_kiosk`. */
    type: Type.String(),
    /** The request id, also in the gateway log, to find the matching log lines. */
    id: Type.String(),
    message: Type.String(),
  },
  { additionalProperties: false },
)
export type ErrorBody = Static<typeof ErrorBody>

export const HealthBody = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
    mqtt: Type.Union([Type.Literal('up'), Type.Literal('down')]),
    db: Type.Union([Type.Literal('up'), Type.Literal('down')]),
    /** Present while ingest cannot write the ledger (disk full, I/O error, locked): SQLite's code and since when (ms since the epoch). */
    storage: Type.Optional(Type.Object({ status: Type.Literal('failing'), code: Type.String({ maxLength: 64 }), since: Type.Integer({ minimum: 0 }) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
)
export type HealthBody = Static<typeof HealthBody>

/** What /healthz reports: the MQTT listener is up, the ledger database answers, and (while it fails) ingest's storage fault. */
export interface GatewayHealth {
  mqtt: boolean
  db: boolean
  storage?: { code: string; since: number }
}

export const KioskParams = Type.Object({ id: KioskId }, { additionalProperties: false })

export const EnrollKioskBody = Type.Object(
  {
    /** The kiosk's raw 32-byte Ed25519 public key, base64url without padding (the JWK `x`). */
    publicKey: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
  },
  { additionalProperties: false },
)
export type EnrollKioskBody = Static<typeof EnrollKioskBody>

export const EnrollKioskReply = Type.Object(
  { kiosk: KioskId, enrolled: Type.Literal(true) },
  { additionalProperties: false },
)

const Counters = Type.Record(Type.String(), Type.Integer())

export const StatsReply = Type.Object(
  {
    ledger: Type.Object({
      accepted: Type.Integer(),
      rejected: Type.Integer(),
      rejectedByReason: Counters,
      revenueByBooth: Counters,
      cashByKiosk: Counters,
      cashByRegister: Counters,
      depositsByBooth: Counters,
      openDebts: Type.Object({ count: Type.Integer(), cents: Type.Integer() }),
      customerBalances: Type.Integer(),
    }),
    ingest: Counters,
    broker: Counters,
    /** The app's own wiring counters (drops while stopping, publish errors). */
    gateway: Counters,
  },
  { additionalProperties: false },
)
export type StatsReply = Static<typeof StatsReply>

// ---------------------------------------------------------------------------

/** What the HTTP layer needs from the rest of the gateway; the app wires the real ones. */
export interface HttpDeps {
  logger: Logger
  /** Bearer token of /admin; undefined disables the admin API (503). */
  adminToken?: string
  health(): GatewayHealth
  kioskExists(kioskId: string): boolean
  /** Throws when the key is not a usable Ed25519 public key. */
  enrollKiosk(kioskId: string, publicKeyBase64Url: string): void
  stats(): StatsReply
  /**
   * Further APIs mounted on the same server, each an encapsulated fastify
   * plugin under its prefix: this is where the portal-api goes
   * (`{ plugin: portalApi, prefix: '/portal', options: { data } }`).
   */
  plugins?: readonly MountedPlugin[]
  /** Routes registered inside /admin, behind its bearer token (shift reports, debts, blocking). */
  adminPlugins?: readonly FastifyPluginAsync[]
  /** OpenAPI documentation of every route at /docs; none when absent. */
  docs?: DocsOptions
  /** Largest request body, bytes. */
  bodyLimitBytes?: number
  /** Timeouts and the wrong-credential throttle; DEFAULT_HTTP_LIMITS for what is not given. */
  limits?: Partial<HttpLimits>
}

export interface MountedPlugin {
  plugin: FastifyPluginAsync<any>
  prefix: string
  options?: Record<string, unknown>
  /**
   * Set (to the API's name, for the log) when the plugin answers a wrong bearer
   * token with 401: those are then throttled per source address as on /admin
   * (see credential-throttle.ts).
   */
  throttleCredentials?: string
}

/** What a client may cost the server: time to send a request, idle time, wrong credentials. */
export interface HttpLimits {
  /** Time a client has to send all request headers, counted from the connection or the end of the previous request. */
  headersTimeoutMs: number
  /** Time a client has to send the whole request, headers and body (not the time the handler then takes). */
  requestTimeoutMs: number
  /**
   * A connection with no traffic either way for this long is closed, also while a
   * handler works: keep it above the slowest handler (a Stripe call with its retries).
   */
  idleTimeoutMs: number
  /** An idle keep-alive connection is closed this long after its last response. */
  keepAliveTimeoutMs: number
  /** Wrong credentials (401) per source address and window on /admin and the card-terminal API, then 429. */
  authFailuresMax: number
  authFailuresWindowMs: number
  /**
   * Reverse proxies (addresses or CIDR ranges) whose X-Forwarded-For is believed.
   * Only these: a header from anybody else would let a guesser name any address
   * and escape every per-address limit.
   */
  trustedProxies?: string[]
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  // 64 KiB (the default body limit) in 30 s: a client slower than about 2 KiB/s is cut.
  requestTimeoutMs: 30_000,
  // Stripe: 30 s per call, up to 3 calls.
  idleTimeoutMs: 120_000,
  keepAliveTimeoutMs: 5_000,
  authFailuresMax: 20,
  authFailuresWindowMs: 60_000,
}

const REDACTED = '[redacted]'
const QUERY_NAME = /^[A-Za-z0-9_.\-[\]]{1,64}$/

/**
 * The URL with every query value replaced (a token or PIN sent in a query
 * string must not reach the log); names stay when they look like names.
 */
export function redactQuery(url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return url
  const parts = url
    .slice(q + 1)
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=')
      if (part === '') return part
      const name = eq < 0 ? '' : part.slice(0, eq)
      return QUERY_NAME.test(name) ? `${name}=${REDACTED}` : REDACTED
    })
  return `${url.slice(0, q)}?${parts.join('&')}`
}

/** fastify's request serializer, with the query values redacted. */
function serializeRequest(request: FastifyRequest) {
  return {
    method: request.method,
    url: redactQuery(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  }
}

export interface HttpServer {
  /** The fastify instance (routes are registered; ready after listen). */
  app: FastifyInstance
  listen(host: string, port: number): Promise<{ host: string; port: number }>
  address(): { host: string; port: number } | null
  close(): Promise<void>
}

/** An error with an HTTP status and a stable `type`, answered as ErrorBody. */
export { errorResponses }

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly type: string,
    message: string,
  ) {
    super(message)
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

/** Constant-time: both sides are hashed to equal lengths first. */
function tokenEquals(presented: string, expected: string): boolean {
  return timingSafeEqual(sha256(presented), sha256(expected))
}

/** An HttpError as its answer; undefined for any other error (for apiErrorHandler's `known`). */
export function httpErrorAnswer(error: unknown): ApiErrorAnswer | undefined {
  return error instanceof HttpError ? { status: error.statusCode, type: error.type, message: error.message } : undefined
}

function sendError(reply: FastifyReply, request: FastifyRequest, statusCode: number, type: string, message: string) {
  return sendApiError(request, reply, { status: statusCode, type, message })
}

/**
 * Errors of node's HTTP parser, before fastify has a request: a request line and headers above node's
 * limit (431), a client too slow (408), bytes that are not HTTP (400). fastify's own handler answers
 * these with a body of another shape; here they get the catalogue's {type, id, message} like every
 * other error (the id is new: no request id exists yet). Found by the HTTP fuzzer (simulators/fuzz/).
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [status, type, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'request_timeout', 'the request was not received in time']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'headers_too_large', 'the request line and headers are larger than allowed']
        : [400, 'malformed_http', 'the request is not valid HTTP']
  const body = JSON.stringify({ type, id: randomUUID(), message })
  if (socket.writable) socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`)
  socket.destroy(err)
}

const errorResponses = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 429: ErrorBody, 500: ErrorBody, 503: ErrorBody }

export function createHttpServer(deps: HttpDeps): HttpServer {
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...deps.limits }
  const httpLogger = deps.logger.child({ component: 'http' }, { serializers: { req: serializeRequest } }) as FastifyBaseLogger
  const app = Fastify({
    loggerInstance: httpLogger,
    bodyLimit: deps.bodyLimitBytes ?? 64 * 1024,
    // Slow clients (a body at 1 byte/s, header lines trickling in) are answered 408 and cut.
    // node checks these deadlines every connectionsCheckingInterval (30 s by default): often enough here.
    http: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, Math.max(10, Math.floor(limits.headersTimeoutMs / 4))),
    },
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    genReqId: () => randomUUID(),
    // One log line per request, on completion (gateway/http-log.ts), instead of fastify's two.
    logController: new OneLinePerRequestLog(httpLogger),
    clientErrorHandler: answerClientError,
    // A URL the router cannot take (a path parameter above its length limit, a bad percent-encoding) never reaches a
    // route or the error handler: answered here in the catalogue's shape, without quoting the URL (found by fuzzing).
    frameworkErrors: (error, request, reply) => {
      const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400
      const type = (error.code ?? 'bad_request').replace(/^FST_ERR_/, '').toLowerCase()
      return sendError(reply, request, status, type, status === 414 ? 'a path parameter of the URL is too long' : 'the URL is not valid')
    },
    // request.ip (every per-address limit) is the client's only behind a proxy named here.
    trustProxy: limits.trustedProxies && limits.trustedProxies.length > 0 ? limits.trustedProxies : false,
    // Reject unknown properties instead of silently dropping them (fastify's default strips them).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    // fastify's request log serializer omits headers, so the Authorization header never reaches the log.
  })

  app.setErrorHandler(apiErrorHandler({ known: httpErrorAnswer, validation: { status: 400, type: 'invalid_request' }, failureLog: 'request failed' }))
  app.setNotFoundHandler((request, reply) => sendError(reply, request, 404, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}`))

  // Docs first: @fastify/swagger sees only routes registered after it, in plugins.
  if (deps.docs) registerDocs(app, deps.docs)

  app.register(async (scope) => {
    scope.get('/healthz', { schema: { response: { 200: HealthBody, 503: HealthBody } } }, async (_request, reply) => {
      let health: GatewayHealth
      try {
        health = deps.health()
      } catch {
        health = { mqtt: false, db: false }
      }
      const ok = health.mqtt && health.db && health.storage === undefined
      const body: HealthBody = { status: ok ? 'ok' : 'degraded', mqtt: health.mqtt ? 'up' : 'down', db: health.db ? 'up' : 'down' }
      if (health.storage !== undefined) body.storage = { status: 'failing', code: health.storage.code.slice(0, 64), since: Math.max(0, Math.trunc(health.storage.since)) }
      return reply.code(ok ? 200 : 503).send(body)
    })
  })

  const throttle = (api: string) => ({ api, maxFailures: limits.authFailuresMax, windowMs: limits.authFailuresWindowMs, logger: deps.logger.child({ component: 'http' }) })

  const admin: FastifyPluginAsync = async (scope) => {
    // Before the token check: a throttled address is answered without one.
    await throttleFailedCredentials(scope, throttle('admin'))
    scope.addHook('onRequest', async (request) => {
      if (deps.adminToken === undefined) throw new HttpError(503, 'admin_disabled', 'the admin API is disabled: no admin token is configured')
      const header = request.headers.authorization
      const match = typeof header === 'string' ? /^Bearer ([^\s]+)$/.exec(header) : null
      if (!match || !tokenEquals(match[1]!, deps.adminToken)) {
        throw new HttpError(401, 'unauthorized', 'a valid admin bearer token is required')
      }
    })

    scope.put<{ Params: Static<typeof KioskParams>; Body: EnrollKioskBody }>(
      '/kiosks/:id/public-key',
      { schema: { params: KioskParams, body: EnrollKioskBody, response: { 200: EnrollKioskReply, ...errorResponses } } },
      async (request) => {
        const { id } = request.params
        if (!deps.kioskExists(id)) throw new HttpError(404, 'unknown_kiosk', `kiosk '${id}' is not in the event set-up`)
        try {
          deps.enrollKiosk(id, request.body.publicKey)
        } catch (err) {
          // A database that cannot take the write is not a bad key: the error handler answers storage_unavailable.
          if (storageFaultCode(err) !== undefined) throw err
          // The kiosk exists (checked above), so a refusal here is about the key.
          throw new HttpError(400, 'invalid_public_key', (err as Error).message)
        }
        request.log.info({ kioskId: id }, 'kiosk public key enrolled')
        return { kiosk: id, enrolled: true as const }
      },
    )

    scope.get('/stats', { schema: { response: { 200: StatsReply, ...errorResponses } } }, async () => deps.stats())
    for (const plugin of deps.adminPlugins ?? []) await scope.register(plugin)
  }
  app.register(admin, { prefix: '/admin' })

  for (const mounted of deps.plugins ?? []) {
    if (mounted.throttleCredentials === undefined) {
      app.register(mounted.plugin, { ...mounted.options, prefix: mounted.prefix })
      continue
    }
    // A scope around the plugin, so that the throttle's hooks run before the plugin's own auth hook.
    app.register(async (scope) => {
      await throttleFailedCredentials(scope, throttle(mounted.throttleCredentials!))
      await scope.register(mounted.plugin, { ...mounted.options, prefix: mounted.prefix })
    })
  }

  let bound: { host: string; port: number } | null = null
  let closing: Promise<void> | null = null
  return {
    app,
    async listen(host, port) {
      await app.listen({ host, port })
      const addr = app.server.address() as AddressInfo
      bound = { host: addr.address, port: addr.port }
      return bound
    },
    address: () => bound,
    close() {
      closing ??= app.close()
      return closing
    },
  }
}
