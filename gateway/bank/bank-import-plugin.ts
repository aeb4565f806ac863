// The bank import jobs API of seed 003 (pretix's banktransfer plugin), so that
// pretix-banktool and other clients of it can send bank statements:
// GET/POST /api/v1/organizers/{organizer}/bankimportjobs/ and GET .../{id}/.
// A client authenticates with `Authorization: Token <token>`; the organizer is
// the one slug this gateway answers for (another one is 403, as the seed
// says); unknown fields of a job or a transaction are ignored as the
// reference server ignores them. Money fields stay strings at this edge.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { apiErrorHandler } from '../../portal-api/http-errors.js'
import { HttpError, httpErrorAnswer } from '../http.js'
import { JOB_STATES, type BankImportJobs } from './import-jobs.js'
import type { ImportQueue } from './import-queue.js'

export const BANK_IMPORT_PAGE_SIZE = 50
/** Largest upload: a statement of many thousand transactions fits; anything larger is refused before it is read. */
export const BANK_IMPORT_BODY_LIMIT_BYTES = 5 * 1024 * 1024
export const MAX_TRANSACTIONS_PER_JOB = 20_000

export interface BankImportApiOptions {
  jobs: BankImportJobs
  queue: ImportQueue
  /** The organizer slug this gateway answers for. */
  organizer: string
  /** The event slug jobs may name (or null). */
  event: string
  /** The operator a token belongs to; undefined for a wrong one. Constant-time. */
  authenticate(token: string): string | undefined
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

export const bankImportApi: FastifyPluginAsync<BankImportApiOptions> = async (scope, options) => {
  const { jobs, queue } = options
  const base = '/api/v1/organizers/:organizer/bankimportjobs'

  scope.setErrorHandler(
    apiErrorHandler({
      known: httpErrorAnswer,
      validation: { status: 400, type: 'invalid_request' },
      // The seed knows 400 for any invalid input: a body too large is one too (Django answers it 400 as well).
      clientStatus: (status) => (status === 413 ? 400 : status),
      failureLog: 'bank import request failed',
    }),
  )

  /** Who is calling, for every route: 401 without a valid token, 403 for another organizer. */
  function operatorOf(request: FastifyRequest<{ Params: { organizer: string } }>): string {
    const header = request.headers.authorization
    const match = typeof header === 'string' ? /^Token ([\x21-\x7e]{1,512})$/.exec(header) : null
    const operator = match ? options.authenticate(match[1]!) : undefined
    if (operator === undefined) throw new HttpError(401, 'unauthorized', 'a valid API token is required (Authorization: Token ...)')
    if (request.params.organizer !== options.organizer) throw new HttpError(403, 'forbidden', 'the organizer does not exist or you have no permission to view it')
    return operator
  }

  // Authentication comes before the body is read, so a wrong token is 401 whatever it sends.
  scope.addHook('onRequest', async (request) => {
    operatorOf(request as FastifyRequest<{ Params: { organizer: string } }>)
  })

  const paths = (suffix: string) => [`${base}${suffix}/`, `${base}${suffix}`]

  for (const path of paths('')) {
    scope.get<{ Params: { organizer: string }; Querystring: Record<string, string | undefined> }>(path, async (request) => {
      const { page: pageText = '1', event, state } = request.query
      const page = /^[1-9][0-9]{0,6}$/.test(pageText) ? Number(pageText) : NaN
      if (!Number.isSafeInteger(page)) throw new HttpError(404, 'invalid_page', 'invalid page')
      if (state !== undefined && !(JOB_STATES as readonly string[]).includes(state))
        throw new HttpError(400, 'invalid_request', `state must be one of ${JOB_STATES.join(', ')}`)
      const { count, jobs: results } = jobs.list({ ...(event !== undefined ? { event } : {}), ...(state !== undefined ? { state } : {}), offset: (page - 1) * BANK_IMPORT_PAGE_SIZE, limit: BANK_IMPORT_PAGE_SIZE })
      if (page > 1 && results.length === 0) throw new HttpError(404, 'invalid_page', 'invalid page')
      const url = (n: number) => {
        const query = new URLSearchParams({ ...(event !== undefined ? { event } : {}), ...(state !== undefined ? { state } : {}), page: String(n) })
        return `${request.protocol}://${request.host}${request.url.split('?')[0]}?${query}`
      }
      return { count, next: page * BANK_IMPORT_PAGE_SIZE < count ? url(page + 1) : null, previous: page > 1 ? url(page - 1) : null, results }
    })

    scope.post<{ Params: { organizer: string }; Body: unknown }>(path, { bodyLimit: BANK_IMPORT_BODY_LIMIT_BYTES }, async (request, reply) => {
      const operator = operatorOf(request)
      const body = request.body
      if (!isPlainObject(body)) throw new HttpError(400, 'invalid_request', 'the body must be a JSON object')
      const event = body.event ?? null
      if (event !== null && event !== options.event) throw new HttpError(400, 'invalid_request', 'event must be the slug of this event or null')
      const transactions = body.transactions
      if (!Array.isArray(transactions) || transactions.length === 0) throw new HttpError(400, 'invalid_request', 'transactions must be a non-empty list')
      if (transactions.length > MAX_TRANSACTIONS_PER_JOB) throw new HttpError(400, 'invalid_request', `a job holds at most ${MAX_TRANSACTIONS_PER_JOB} transactions`)
      if (!transactions.every(isPlainObject)) throw new HttpError(400, 'invalid_request', 'every transaction must be an object')
      const id = jobs.create({ event: event as string | null, transactions, createdBy: operator })
      request.log.info({ job: id, transactions: transactions.length, operator }, 'bank import job uploaded')
      // As the seed's background mode answers: pending, no transactions yet.
      const created = jobs.job(id)
      queue.kick()
      return reply.code(201).send(created)
    })
  }

  for (const path of paths('/:id')) {
    scope.get<{ Params: { organizer: string; id: string } }>(path, async (request) => {
      const id = /^[1-9][0-9]{0,15}$/.test(request.params.id) ? Number(request.params.id) : NaN
      const job = Number.isSafeInteger(id) ? jobs.job(id) : undefined
      if (job === undefined) throw new HttpError(404, 'unknown_bank_import_job', 'no such bank import job')
      return job
    })
  }
}
