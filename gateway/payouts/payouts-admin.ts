// Admin routes of payout runs (inside /admin, behind its bearer token). The
// admin token is one for all; four eyes need to know WHO acts, so every route
// that changes a run also needs the operator's own credentials in the
// `Wristpay-Operator: <name>:<token>` header (an operator account of the
// config, as for MQTT). The operator's name recorded with each step comes from
// those credentials, never from the body.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import Type, { type Static } from 'typebox'
import { OPERATOR_HEADER, operatorOfRequest } from '../four-eyes/operator-credentials.js'
import { CreateLimitFields, Nullable, RunEventsBody, RunParams, RunSummaryTail, runAsHttp, runSummaryHead } from '../four-eyes/run-schemas.js'
import { HttpError, errorResponses } from '../http.js'
import { PayoutRunError, type CreatedPayoutRun, type PayoutRun, type PayoutRunSummary, type PayoutRuns } from './payout-runs.js'

// Where they were first: other modules and tests import them from here.
export { OPERATOR_HEADER, operatorAccountsAuth } from '../four-eyes/operator-credentials.js'

const State = Type.Union([Type.Literal('created'), Type.Literal('approved'), Type.Literal('exported'), Type.Literal('cancelled')])

const SummaryFields = {
  ...runSummaryHead(State),
  exportedBy: Nullable(Type.String()),
  exportedAt: Nullable(Type.Integer()),
  ...RunSummaryTail,
  payoutCount: Type.Integer(),
  payoutSum: Type.Integer(),
  donationSum: Type.Integer(),
}
export const PayoutRunSummaryBody = Type.Object(SummaryFields, { additionalProperties: false })
export const PayoutRunBody = Type.Object(
  {
    ...SummaryFields,
    items: Type.Array(
      Type.Object(
        {
          uid: Type.String(),
          endToEndId: Type.String(),
          iban: Type.String(),
          accountName: Type.String(),
          email: Type.String(),
          amount: Type.Integer(),
          donation: Type.Integer(),
          payoutBooking: Nullable(Type.String()),
          /** The guest's SEPA check when the run was made; absent when the event has none. */
          sepaCheck: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    events: RunEventsBody,
  },
  { additionalProperties: false },
)
/** A new run, with the guests it left out because the bank files could not carry their payout data. */
export const CreatedPayoutRunBody = Type.Object(
  {
    ...PayoutRunBody.properties,
    skipped: Type.Array(Type.Object({ uid: Type.String(), reason: Type.String() }, { additionalProperties: false })),
  },
  { additionalProperties: false },
)
const ExportBody = Type.Object(
  {
    run: PayoutRunBody,
    replay: Type.Boolean(),
    /** The SEPA files (pain.001.001.09, .03) and the CSV, when the SEPA renderer is wired in; absent otherwise. Rendered in the export's transaction: no files, no bookings. */
    files: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  { additionalProperties: false },
)

const CreateBody = Type.Object(
  {
    ...CreateLimitFields,
    /** Leave out guests whose SEPA check is not answered yet (by default they are in, flagged). */
    requireSepaCheck: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

export interface PayoutsAdminDeps {
  runs: PayoutRuns
  /** Whether name and token are an operator account (constant time). */
  operatorAuth(name: string, token: string): boolean
  /** Renders the files of an exported run (payout-files.ts), inside the export's transaction; without it the export answers the bookings only. */
  renderFiles?: (run: PayoutRun) => Record<string, string>
}

/** The payout run errors as HTTP answers; each type with its status is in ERRORS.md. */
function asHttp(err: unknown): never {
  if (!(err instanceof PayoutRunError)) throw err
  switch (err.code) {
    case 'unknown_payout_run':
      throw new HttpError(404, 'unknown_payout_run', err.message)
    case 'approver_is_creator':
      throw new HttpError(403, 'approver_is_creator', err.message)
    case 'payout_run_not_approvable':
      throw new HttpError(409, 'payout_run_not_approvable', err.message)
    case 'payout_run_not_cancellable':
      throw new HttpError(409, 'payout_run_not_cancellable', err.message)
    case 'payout_run_not_exportable':
      throw new HttpError(409, 'payout_run_not_exportable', err.message)
    case 'payout_balance_changed':
      throw new HttpError(409, 'payout_balance_changed', err.message)
    case 'empty_payout_run':
      throw new HttpError(409, 'empty_payout_run', err.message)
    case 'payout_files_unrenderable':
      throw new HttpError(409, 'payout_files_unrenderable', err.message)
    case 'invalid_payout_limits':
      throw new HttpError(400, 'invalid_payout_limits', err.message)
    case 'invalid_operator':
      throw new HttpError(401, 'operator_credentials_required', err.message)
  }
}

export function payoutsAdmin(deps: PayoutsAdminDeps): FastifyPluginAsync {
  /** The operator behind the request, from their own credentials. */
  const refusals = {
    missing: `changing a payout run needs the operator's own credentials in the ${OPERATOR_HEADER} header (name:token)`,
    notAnAccount: `the ${OPERATOR_HEADER} header names no operator account with that token`,
  }
  const operatorOf = (request: FastifyRequest): string => operatorOfRequest(request, deps.operatorAuth, refusals)

  const run = runAsHttp(asHttp)

  return async (scope) => {
    scope.get('/payout-runs', { schema: { response: { 200: Type.Array(PayoutRunSummaryBody), ...errorResponses } } }, async (): Promise<PayoutRunSummary[]> => deps.runs.list())

    scope.get<{ Params: Static<typeof RunParams> }>(
      '/payout-runs/:id',
      { schema: { params: RunParams, response: { 200: PayoutRunBody, ...errorResponses } } },
      async (request) => run(() => deps.runs.get(Number(request.params.id))),
    )

    scope.post<{ Body: Static<typeof CreateBody> }>(
      '/payout-runs',
      { schema: { body: CreateBody, response: { 201: CreatedPayoutRunBody, ...errorResponses } } },
      async (request, reply) => {
        const operator = operatorOf(request)
        const created: CreatedPayoutRun = run(() => deps.runs.create({ operator, ...request.body }))
        request.log.info({ run: created.id, operator }, 'payout run created by an operator')
        return reply.code(201).send(created)
      },
    )

    scope.post<{ Params: Static<typeof RunParams> }>(
      '/payout-runs/:id/approve',
      { schema: { params: RunParams, response: { 200: PayoutRunBody, ...errorResponses } } },
      async (request) => {
        const operator = operatorOf(request)
        return run(() => deps.runs.approve(Number(request.params.id), operator))
      },
    )

    scope.post<{ Params: Static<typeof RunParams> }>(
      '/payout-runs/:id/cancel',
      { schema: { params: RunParams, response: { 200: PayoutRunBody, ...errorResponses } } },
      async (request) => {
        const operator = operatorOf(request)
        return run(() => deps.runs.cancel(Number(request.params.id), operator))
      },
    )

    scope.post<{ Params: Static<typeof RunParams> }>(
      '/payout-runs/:id/export',
      { schema: { params: RunParams, response: { 200: ExportBody, ...errorResponses } } },
      async (request) => {
        const operator = operatorOf(request)
        // The files are rendered inside the export: if they cannot be written, nothing is booked (payout_files_unrenderable names the payouts).
        return run(() => deps.runs.export(Number(request.params.id), operator, deps.renderFiles))
      },
    )
  }
}
