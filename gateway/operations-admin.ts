// Admin routes for running the tills (inside /admin, behind its bearer token):
// cash shift reports with their close-out figures, the debts offline sales
// left, blocking a lost wristband (which goes out to every kiosk's signed
// blocklist at once), and the gateway's public keys for installing kiosks.
import type { FastifyPluginAsync } from 'fastify'
import Type, { type Static } from 'typebox'
import { TagUid } from '../device-protocol/index.js'
import { HttpError, errorResponses } from './http.js'
import type { Ledger } from './ledger/index.js'

const Movement = Type.Object({ count: Type.Integer(), cents: Type.Integer() }, { additionalProperties: false })
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

export const ShiftReportBody = Type.Object(
  {
    id: Type.String(),
    register: Type.String(),
    registerName: Type.String(),
    kiosk: Type.String(),
    staff: Nullable(Type.String()),
    staffName: Nullable(Type.String()),
    openedAt: Type.Integer(),
    closedAt: Nullable(Type.Integer()),
    float: Type.Integer(),
    cashTopups: Movement,
    cashouts: Movement,
    tickets: Movement,
    expected: Type.Integer(),
    counted: Nullable(Type.Integer()),
    difference: Nullable(Type.Integer()),
  },
  { additionalProperties: false },
)

export const DebtBody = Type.Object(
  {
    txId: Type.String(),
    uid: Type.String(),
    kiosk: Type.String(),
    shortfall: Type.Integer(),
    bookedAt: Type.Integer(),
    balanceNow: Type.Integer(),
    open: Type.Boolean(),
  },
  { additionalProperties: false },
)

const ShiftParams = Type.Object({ id: Type.String({ pattern: '^[0-9a-f-]{36}$' }) }, { additionalProperties: false })
const WristbandParams = Type.Object({ uid: TagUid }, { additionalProperties: false })
const BlockBody = Type.Object({ blocked: Type.Boolean() }, { additionalProperties: false })

export interface OperationsAdminDeps {
  ledger: Pick<Ledger, 'shiftReports' | 'shiftReport' | 'debts' | 'setWristbandBlocked' | 'wristband' | 'refreshKioskConfigs' | 'gatewayKeys'>
  /** Republishes the retained configs of these kiosks. */
  publishKioskConfigs(kioskIds: readonly string[]): Promise<void>
}

export function operationsAdmin(deps: OperationsAdminDeps): FastifyPluginAsync {
  return async (scope) => {
    scope.get('/shifts', { schema: { response: { 200: Type.Array(ShiftReportBody), ...errorResponses } } }, async () => deps.ledger.shiftReports())

    scope.get<{ Params: Static<typeof ShiftParams> }>(
      '/shifts/:id',
      { schema: { params: ShiftParams, response: { 200: ShiftReportBody, ...errorResponses } } },
      async (request) => {
        const report = deps.ledger.shiftReport(request.params.id)
        if (report === undefined) throw new HttpError(404, 'unknown_shift', `no shift ${request.params.id}`)
        return report
      },
    )

    // For kiosk installs: WRISTPAY_GATEWAY_KEY pins this key instead of trusting the first config.
    scope.get(
      '/gateway-keys',
      { schema: { response: { 200: Type.Object({ signingPublicKey: Type.String(), pinSealPublicKey: Type.String() }, { additionalProperties: false }), ...errorResponses } } },
      async () => ({ signingPublicKey: deps.ledger.gatewayKeys.signingPublicKey, pinSealPublicKey: deps.ledger.gatewayKeys.sealPublicKey }),
    )

    scope.get('/debts', { schema: { response: { 200: Type.Array(DebtBody), ...errorResponses } } }, async () => deps.ledger.debts())

    scope.put<{ Params: Static<typeof WristbandParams>; Body: Static<typeof BlockBody> }>(
      '/wristbands/:uid/blocked',
      { schema: { params: WristbandParams, body: BlockBody, response: { 200: Type.Object({ uid: Type.String(), blocked: Type.Boolean(), kiosksUpdated: Type.Integer() }), ...errorResponses } } },
      async (request) => {
        const { uid } = request.params
        if (deps.ledger.wristband(uid) === undefined) throw new HttpError(404, 'unknown_tag', `wristband ${uid} is not in the ledger`)
        deps.ledger.setWristbandBlocked(uid, request.body.blocked)
        // Every kiosk's blocklist changes: the retained configs go out now, so offline tills know too.
        const changed = deps.ledger.refreshKioskConfigs()
        await deps.publishKioskConfigs(changed)
        request.log.info({ uid, blocked: request.body.blocked, kiosks: changed.length }, 'wristband block set by an operator')
        return { uid, blocked: request.body.blocked, kiosksUpdated: changed.length }
      },
    )
  }
}
