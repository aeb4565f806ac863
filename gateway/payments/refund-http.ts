// Refunds to the card over HTTP: the operator's admin routes (inside /admin,
// behind its bearer token, plus the operator's own credentials so the request
// names who asked) and the portal's side (the guest's refusals as PortalErrors).
// Each error type with its status is in ERRORS.md.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import Type, { type Static } from 'typebox'
import { MAX_AMOUNT_CENTS, TagUid } from '../../device-protocol/index.js'
import { PortalError, type CardRefundPortalService, type PortalCardRefund } from '../../portal-api/index.js'
import { HttpError, errorResponses } from '../http.js'
// The operator's own credentials, as the payout runs take them: `Wristpay-Operator: name:token`.
import { OPERATOR_HEADER, operatorOfRequest } from '../four-eyes/operator-credentials.js'
import { CardRefundError, type CardRefundService, type RefundRequestView } from './refunds.js'

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])
const PartState = Type.Union(['booked', 'sending', 'sent', 'succeeded', 'refused'].map((s) => Type.Literal(s)))
const RequestState = Type.Union(['pending', 'refunded', 'partly_refused', 'refused'].map((s) => Type.Literal(s)))

export const CardRefundBody = Type.Object(
  {
    id: Type.String(),
    uid: Type.String(),
    amountCents: Type.Integer(),
    currency: Type.String(),
    state: RequestState,
    requestedBy: Type.String(),
    via: Type.Union([Type.Literal('portal'), Type.Literal('operator')]),
    createdAt: Type.Integer(),
    parts: Type.Array(
      Type.Object(
        {
          id: Type.String(),
          topupId: Type.String(),
          provider: Type.String(),
          amountCents: Type.Integer(),
          state: PartState,
          providerRefundId: Nullable(Type.String()),
          reason: Nullable(Type.String()),
          updatedAt: Type.Integer(),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)
const ListBody = Type.Object(
  { balanceCents: Type.Integer(), refundableCents: Type.Integer(), refunds: Type.Array(CardRefundBody) },
  { additionalProperties: false },
)
const WristbandParams = Type.Object({ uid: TagUid }, { additionalProperties: false })
/** Cents; without it, everything that can go back to the cards. */
const RequestBody = Type.Object({ amountCents: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_AMOUNT_CENTS })) }, { additionalProperties: false })
const conflict = { 403: errorResponses[400], 409: errorResponses[400] }

function adminError(err: unknown): never {
  if (!(err instanceof CardRefundError)) throw err
  switch (err.code) {
    case 'invalid_amount':
      throw new HttpError(400, 'invalid_request', err.message)
    case 'unknown_tag':
      throw new HttpError(404, 'unknown_tag', err.message)
    case 'wristband_blocked':
      throw new HttpError(403, 'wristband_blocked', err.message)
    case 'in_payout_run':
      throw new HttpError(409, 'refund_in_payout_run', err.message)
    case 'in_refund_run':
      throw new HttpError(409, 'refund_in_refund_run', `${err.message}; cancel the run to refund this wristband by hand`)
    case 'nothing_refundable':
      throw new HttpError(409, 'nothing_refundable', err.message)
    case 'refund_too_large':
      throw new HttpError(409, 'refund_too_large', err.message)
  }
}

export function cardRefundsAdmin(deps: { refunds: CardRefundService; operatorAuth(name: string, token: string): boolean }): FastifyPluginAsync {
  const refusal = `a refund to the card needs the operator's own credentials in the ${OPERATOR_HEADER} header (name:token)`
  const operatorOf = (request: FastifyRequest): string => operatorOfRequest(request, deps.operatorAuth, { missing: refusal, notAnAccount: refusal })

  return async (scope) => {
    scope.get<{ Params: Static<typeof WristbandParams> }>(
      '/wristbands/:uid/card-refund',
      { schema: { params: WristbandParams, response: { 200: ListBody, ...errorResponses } } },
      async (request) => {
        const { uid } = request.params
        try {
          const { balanceCents, maxCents } = deps.refunds.refundable(uid)
          return { balanceCents, refundableCents: maxCents, refunds: deps.refunds.list(uid) }
        } catch (err) {
          return adminError(err)
        }
      },
    )

    scope.post<{ Params: Static<typeof WristbandParams>; Body: Static<typeof RequestBody> }>(
      '/wristbands/:uid/card-refund',
      { schema: { params: WristbandParams, body: RequestBody, response: { 201: CardRefundBody, ...errorResponses, ...conflict } } },
      async (request, reply) => {
        const operator = operatorOf(request)
        const { uid } = request.params
        // An operator action: who, for which wristband, how much; the request row keeps the name too.
        request.log.info({ uid, operator, amountCents: request.body.amountCents ?? null }, 'refund to the card asked for by an operator')
        let made: RefundRequestView
        try {
          made = await deps.refunds.request({ uid, ...(request.body.amountCents === undefined ? {} : { amountCents: request.body.amountCents }), by: { via: 'operator', operator } })
        } catch (err) {
          request.log.info({ uid, operator, refused: (err as CardRefundError).code }, 'refund to the card refused')
          return adminError(err)
        }
        return reply.code(201).send(made)
      },
    )
  }
}

function portalError(err: unknown): never {
  if (!(err instanceof CardRefundError)) throw err
  switch (err.code) {
    case 'invalid_amount':
      throw new PortalError(422, 'invalid_amount', err.message, 'amount')
    case 'unknown_tag':
      throw new PortalError(404, 'unknown_customer', 'no such customer')
    case 'wristband_blocked':
      throw new PortalError(403, 'wristband_blocked', 'this wristband is blocked; please ask at the info point')
    case 'in_payout_run':
      throw new PortalError(409, 'refund_in_payout_run', 'your balance is being paid to the bank account you registered; it cannot go to your card as well')
    case 'in_refund_run':
      throw new PortalError(409, 'refund_in_refund_run', 'your balance is already on its way back to the card you topped up with; you need not ask for it')
    case 'nothing_refundable':
      throw new PortalError(409, 'nothing_refundable', 'nothing can go back to a card: there is no balance, or it was not topped up online')
    case 'refund_too_large':
      throw new PortalError(422, 'refund_too_large', `at most ${(err.maxCents ?? 0) / 100} can go back to your card`, 'amount')
  }
}

const GUEST_PART_STATE = { booked: 'pending', sending: 'pending', sent: 'pending', succeeded: 'refunded', refused: 'refused' } as const

function guestView(r: RefundRequestView): PortalCardRefund {
  return {
    id: r.id,
    amountCents: r.amountCents,
    state: r.state,
    createdAtMs: r.createdAt,
    // What the guest reads: amount, whether it is done, and the provider's reason for a refusal; no ids of the provider.
    parts: r.parts.map((p) => ({ amountCents: p.amountCents, state: GUEST_PART_STATE[p.state], reason: p.state === 'refused' ? p.reason : null })),
  }
}

/** The portal's side of the refund service: the guest's own refunds, refusals as PortalErrors. */
export function portalCardRefunds(refunds: CardRefundService): CardRefundPortalService {
  return {
    list(uid) {
      try {
        return { refundableCents: refunds.refundable(uid).maxCents, refunds: refunds.list(uid).map(guestView) }
      } catch (err) {
        return portalError(err)
      }
    },
    async request(uid, amountCents) {
      try {
        return guestView(await refunds.request({ uid, ...(amountCents === undefined ? {} : { amountCents }), by: { via: 'portal' } }))
      } catch (err) {
        return portalError(err)
      }
    },
  }
}
