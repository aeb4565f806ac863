// Admin routes of the bank import (inside /admin, behind its bearer token): an
// operator books a transaction the import could not match to a wristband, or
// discards it (a transfer that is not for us, a debit); and looks up the
// transfer reference of a wristband for a guest who asks.
import type { FastifyPluginAsync } from 'fastify'
import Type, { type Static } from 'typebox'
import { TagUid } from '../../device-protocol/index.js'
import { HttpError, errorResponses } from '../http.js'
import type { BankImportJobs } from './import-jobs.js'
import type { TransferCodes } from './transfer-codes.js'

const TransactionParams = Type.Object(
  { job: Type.String({ pattern: '^[1-9][0-9]{0,15}$' }), idx: Type.String({ pattern: '^(0|[1-9][0-9]{0,6})$' }) },
  { additionalProperties: false },
)
const MatchBody = Type.Object({ uid: TagUid, operator: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[\\x21-\\x7e]+$' })) }, { additionalProperties: false })
const DiscardBody = Type.Object(
  { comment: Type.Optional(Type.String({ maxLength: 1000 })), operator: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[\\x21-\\x7e]+$' })) },
  { additionalProperties: false },
)
const WristbandParams = Type.Object({ uid: TagUid }, { additionalProperties: false })
const TransactionReply = Type.Object({
  state: Type.String(),
  message: Type.String(),
  checksum: Type.String(),
  payer: Type.String(),
  external_id: Type.Union([Type.String(), Type.Null()]),
  reference: Type.String(),
  amount: Type.String(),
  iban: Type.String(),
  bic: Type.String(),
  date: Type.String(),
  order: Type.Union([Type.String(), Type.Null()]),
  comment: Type.String(),
})
const conflict = { 409: errorResponses[400] }

export function bankAdmin({ jobs, transferCodes, wristbandKnown }: { jobs: BankImportJobs; transferCodes: TransferCodes; wristbandKnown(uid: string): boolean }): FastifyPluginAsync {
  return async (scope) => {
    scope.post<{ Params: Static<typeof TransactionParams>; Body: Static<typeof MatchBody> }>(
      '/bank/import-jobs/:job/transactions/:idx/match',
      { schema: { params: TransactionParams, body: MatchBody, response: { 200: TransactionReply, ...errorResponses, ...conflict } } },
      async (request) => jobs.matchByOperator(Number(request.params.job), Number(request.params.idx), request.body.uid, request.body.operator ?? 'admin'),
    )
    scope.post<{ Params: Static<typeof TransactionParams>; Body: Static<typeof DiscardBody> }>(
      '/bank/import-jobs/:job/transactions/:idx/discard',
      { schema: { params: TransactionParams, body: DiscardBody, response: { 200: TransactionReply, ...errorResponses, ...conflict } } },
      async (request) => jobs.discardByOperator(Number(request.params.job), Number(request.params.idx), request.body.comment ?? '', request.body.operator ?? 'admin'),
    )
    scope.get<{ Params: Static<typeof WristbandParams> }>(
      '/wristbands/:uid/transfer-reference',
      { schema: { params: WristbandParams, response: { 200: Type.Object({ reference: Type.String(), display: Type.String() }), ...errorResponses } } },
      async (request) => {
        if (!wristbandKnown(request.params.uid)) throw new HttpError(404, 'unknown_tag', `wristband ${request.params.uid} is not known`)
        const ref = transferCodes.referenceOf(request.params.uid)
        return { reference: ref.compact, display: ref.display }
      },
    )
  }
}
