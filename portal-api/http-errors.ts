// The one fastify error handler of the gateway's HTTP APIs (admin, portal,
// users, card terminal, payment webhooks). Every API answers an error with
// the same body `{type, id, message}` (the portal adds `detail` on a 422); the
// APIs differ only in their own error class, in how a schema violation is
// answered (400 or 422) and in a few seed-compatible quirks, which they pass
// as options. It lives in portal-api because both the gateway and the portal
// may import it (the gateway may import portal-api, not the other way).
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { storageFaultCode } from '../device-protocol/storage-fault.js'

/** How long a client is told to wait after storage_unavailable: freeing disk space takes an operator a while. */
export const STORAGE_RETRY_AFTER_S = 30

/** An error as the client sees it. */
export interface ApiErrorAnswer {
  status: number
  type: string
  message: string
  /** The portal's validation details (seed's HTTPValidationError). */
  detail?: unknown[]
}

export interface ApiErrorHandlerOptions {
  /** The API's own errors (HttpError, PortalError, ...) as answers; undefined for anything else. */
  known(error: FastifyError): ApiErrorAnswer | undefined
  /** How a request that breaks the route's schema is answered. */
  validation: { status: number; type: string; detail?: (error: FastifyError) => unknown[] }
  /** The status of fastify's own client errors (bad JSON, wrong content type, body too large); default: theirs. */
  clientStatus?: (status: number) => number
  /** The type of fastify's own client errors; default: their code without FST_ERR_, lower case. */
  clientType?: (error: FastifyError) => string
  /** Logged with an unexpected error (answered 500 `internal`, its message never sent). */
  failureLog: string
  /** Answer a 401 with `WWW-Authenticate: Bearer`. */
  bearerChallenge?: boolean
}

export function sendApiError(request: FastifyRequest, reply: FastifyReply, answer: ApiErrorAnswer, bearerChallenge = false) {
  const body: { type: string; id: string; message: string; detail?: unknown[] } = { type: answer.type, id: String(request.id), message: answer.message }
  if (answer.detail !== undefined) body.detail = answer.detail
  if (bearerChallenge && answer.status === 401) reply.header('www-authenticate', 'Bearer')
  return reply.code(answer.status).send(body)
}

const typeFromCode = (error: FastifyError) => (error.code ?? 'bad_request').replace(/^FST_ERR_/, '').toLowerCase()

export function apiErrorHandler(options: ApiErrorHandlerOptions) {
  const clientStatus = options.clientStatus ?? ((status: number) => status)
  const clientType = options.clientType ?? typeFromCode
  const bearer = options.bearerChallenge ?? false
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const known = options.known(error)
    if (known !== undefined) return sendApiError(request, reply, known, bearer)
    if (error.validation) {
      const { status, type, detail } = options.validation
      return sendApiError(request, reply, { status, type, message: error.message, ...(detail ? { detail: detail(error) } : {}) }, bearer)
    }
    // The database cannot take a write (disk full, I/O error, locked): nothing was stored, and it passes. Not a bug.
    const storage = storageFaultCode(error)
    if (storage !== undefined) {
      request.log.error({ err: error, code: storage }, 'the database cannot be written; request refused')
      reply.header('retry-after', String(STORAGE_RETRY_AFTER_S))
      return sendApiError(request, reply, { status: 503, type: 'storage_unavailable', message: `the gateway cannot store anything right now (${storage}); nothing was changed, try again later` }, bearer)
    }
    const status = error.statusCode ?? 500
    if (status >= 400 && status < 500) {
      // fastify's own client errors. Their messages never quote the body (V8's
      // JSON.parse message would: a PIN, an IBAN); the portal's tests check it.
      return sendApiError(request, reply, { status: clientStatus(status), type: clientType(error), message: error.message }, bearer)
    }
    request.log.error({ err: error }, options.failureLog)
    return sendApiError(request, reply, { status: 500, type: 'internal', message: 'internal error' }, bearer)
  }
}
