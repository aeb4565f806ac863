// Admin routes of refund runs (inside /admin, behind its bearer token), as the
// payout runs' (gateway/payouts/payouts-admin.ts): every route that changes a
// run needs the operator's own credentials in the `Wristpay-Operator:
// <name>:<token>` header, and the name recorded with each step comes from
// them, never from the body. Each error type with its status is in ERRORS.md.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import Type, { type Static } from 'typebox'
import { HttpError, errorResponses } from '../http.js'
import { OPERATOR_HEADER, operatorOfRequest } from '../four-eyes/operator-credentials.js'
import { CreateLimitFields, Nullable, RunEventsBody, RunParams, RunSummaryTail, runAsHttp, runSummaryHead } from '../four-eyes/run-schemas.js'
import { RefundRunError, type RefundRun, type RefundRunSummary, type RefundRuns } from './refund-runs.js'

const State = Type.Union(['created', 'approved', 'executed', 'cancelled'].map((s) => Type.Literal(s)))
const RefundState = Type.Union(['pending', 'refunded', 'partly_refused', 'refused'].map((s) => Type.Literal(s)))

const SummaryFields = {
  ...runSummaryHead(State),
  executedBy: Nullable(Type.String()),
  executedAt: Nullable(Type.Integer()),
  ...RunSummaryTail,
  itemCount: Type.Integer(),
  itemSum: Type.Integer(),
  bookedCount: Type.Integer(),
  bookedSum: Type.Integer(),
}
export const RefundRunSummaryBody = Type.Object(SummaryFields, { additionalProperties: false })
export const RefundRunBody = Type.Object(
  {
    ...SummaryFields,
    progress: Type.Object(
      { notBooked: Type.Integer(), pending: Type.Integer(), refunded: Type.Integer(), partlyRefused: Type.Integer(), refused: Type.Integer(), refusedCents: Type.Integer() },
      { additionalProperties: false },
    ),
    items: Type.Array(
      Type.Object(
        {
          uid: Type.String(),
          amount: Type.Integer(),
          refundId: Nullable(Type.String()),
          booked: Nullable(Type.Integer()),
          note: Nullable(Type.String()),
          refundState: Nullable(RefundState),
          refusedCents: Type.Integer(),
          refusedReasons: Type.Array(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    events: RunEventsBody,
  },
  { additionalProperties: false },
)
const ExecuteBody = Type.Object({ run: RefundRunBody, replay: Type.Boolean() }, { additionalProperties: false })

const CreateBody = Type.Object(
  {
    ...CreateLimitFields,
  },
  { additionalProperties: false },
)

export interface RefundRunsAdminDeps {
  runs: RefundRuns
  /** Whether name and token are an operator account (constant time): four-eyes/operator-credentials.ts operatorAccountsAuth. */
  operatorAuth(name: string, token: string): boolean
}

/** The refund run errors as HTTP answers; each type with its status is in ERRORS.md. */
function asHttp(err: unknown): never {
  if (!(err instanceof RefundRunError)) throw err
  switch (err.code) {
    case 'unknown_refund_run':
      throw new HttpError(404, 'unknown_refund_run', err.message)
    case 'approver_is_creator':
      throw new HttpError(403, 'approver_is_creator', err.message)
    case 'refund_run_not_approvable':
      throw new HttpError(409, 'refund_run_not_approvable', err.message)
    case 'refund_run_not_cancellable':
      throw new HttpError(409, 'refund_run_not_cancellable', err.message)
    case 'refund_run_not_executable':
      throw new HttpError(409, 'refund_run_not_executable', err.message)
    case 'empty_refund_run':
      throw new HttpError(409, 'empty_refund_run', err.message)
    case 'invalid_refund_run_limits':
      throw new HttpError(400, 'invalid_refund_run_limits', err.message)
    case 'invalid_operator':
      throw new HttpError(401, 'operator_credentials_required', err.message)
  }
}

export function refundRunsAdmin(deps: RefundRunsAdminDeps): FastifyPluginAsync {
  /** The operator behind the request, from their own credentials. */
  const refused = `changing a refund run needs the operator's own credentials in the ${OPERATOR_HEADER} header (name:token)`
  const operatorOf = (request: FastifyRequest): string => operatorOfRequest(request, deps.operatorAuth, { missing: refused, notAnAccount: refused })

  const run = runAsHttp(asHttp)

  return async (scope) => {
    scope.get('/refund-runs', { schema: { response: { 200: Type.Array(RefundRunSummaryBody), ...errorResponses } } }, async (): Promise<RefundRunSummary[]> => deps.runs.list())

    scope.get<{ Params: Static<typeof RunParams> }>(
      '/refund-runs/:id',
      { schema: { params: RunParams, response: { 200: RefundRunBody, ...errorResponses } } },
      async (request): Promise<RefundRun> => run(() => deps.runs.get(Number(request.params.id))),
    )

    scope.post<{ Body: Static<typeof CreateBody> }>(
      '/refund-runs',
      { schema: { body: CreateBody, response: { 201: RefundRunBody, ...errorResponses } } },
      async (request, reply) => {
        const operator = operatorOf(request)
        const created = run(() => deps.runs.create({ operator, ...request.body }))
        request.log.info({ run: created.id, operator }, 'refund run created by an operator')
        return reply.code(201).send(created)
      },
    )

    for (const action of ['approve', 'cancel'] as const) {
      scope.post<{ Params: Static<typeof RunParams> }>(
        `/refund-runs/:id/${action}`,
        { schema: { params: RunParams, response: { 200: RefundRunBody, ...errorResponses } } },
        async (request) => {
          const operator = operatorOf(request)
          return run(() => deps.runs[action](Number(request.params.id), operator))
        },
      )
    }

    scope.post<{ Params: Static<typeof RunParams> }>(
      '/refund-runs/:id/execute',
      { schema: { params: RunParams, response: { 200: ExecuteBody, ...errorResponses } } },
      async (request) => {
        const operator = operatorOf(request)
        // Books the refunds and answers at once; the provider is called by the refund service's recovery loop.
        return run(() => deps.runs.execute(Number(request.params.id), operator))
      },
    )
  }
}
