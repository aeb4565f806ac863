// Disputes (chargebacks) for operators, inside /admin (behind its bearer token):
// every dispute with its state (open, won, lost, unmatched), amounts, wristband
// and times, and one by its provider id. Read only: what a dispute does is
// decided by the provider's answer (gateway/payments/disputes.ts).
import type { FastifyPluginAsync } from 'fastify'
import Type, { type Static } from 'typebox'
import { TagUid } from '../../device-protocol/index.js'
import { HttpError, errorResponses } from '../http.js'
import type { DisputeService } from './disputes.js'

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])
const State = Type.Union([Type.Literal('open'), Type.Literal('won'), Type.Literal('lost'), Type.Literal('unmatched')])

export const DisputeBody = Type.Object(
  {
    id: Type.String(),
    provider: Type.String(),
    payment: Type.String(),
    orderId: Nullable(Type.String()),
    topupId: Nullable(Type.String()),
    uid: Nullable(Type.String()),
    amountCents: Type.Integer(),
    currency: Type.String(),
    state: State,
    unmatchedReason: Nullable(Type.String()),
    providerStatus: Nullable(Type.String()),
    reasonCode: Nullable(Type.String()),
    type: Nullable(Type.String()),
    bookedCents: Type.Integer(),
    openDebtCents: Type.Integer(),
    bookingId: Nullable(Type.String()),
    reversalBookingId: Nullable(Type.String()),
    blocksWristband: Type.Boolean(),
    providerCreated: Nullable(Type.Integer()),
    createdAt: Type.Integer(),
    updatedAt: Type.Integer(),
  },
  { additionalProperties: false },
)

const ListQuery = Type.Object({ state: Type.Optional(State), uid: Type.Optional(TagUid) }, { additionalProperties: false })
const IdParams = Type.Object({ id: Type.String({ pattern: '^dspt_[a-zA-Z0-9]{24}$' }) }, { additionalProperties: false })

export function disputesAdmin(deps: { disputes: Pick<DisputeService, 'list' | 'get'> }): FastifyPluginAsync {
  return async (scope) => {
    scope.get<{ Querystring: Static<typeof ListQuery> }>(
      '/disputes',
      { schema: { querystring: ListQuery, response: { 200: Type.Array(DisputeBody), ...errorResponses } } },
      async (request) => deps.disputes.list(request.query),
    )
    scope.get<{ Params: Static<typeof IdParams> }>(
      '/disputes/:id',
      { schema: { params: IdParams, response: { 200: DisputeBody, ...errorResponses } } },
      async (request) => {
        const dispute = deps.disputes.get(request.params.id)
        if (dispute === undefined) throw new HttpError(404, 'unknown_dispute', `no dispute ${request.params.id}`)
        return dispute
      },
    )
  }
}
