// Admin routes for running the tills (inside /admin, behind its bearer token):
// cash shift reports with their close-out figures, the debts offline sales
// left, blocking a lost wristband (which goes out to every kiosk's signed
// blocklist at once), and the gateway's public keys for installing kiosks.
import type { FastifyPluginAsync } from 'fastify'
import Type, { type Static } from 'typebox'
import { KioskId, TagUid, TerminalTotals } from '../device-protocol/index.js'
import { HttpError, errorResponses } from './http.js'
import { EventSetupError } from './event-setup.js'
import type { Ledger } from './ledger/index.js'
import type { ImportSummary, Registry } from './registry/index.js'

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
    /** Card top-ups booked at the kiosk during the shift. */
    cardTopups: Movement,
    /** The card terminal's end-of-day totals signed into the close, or that they are missing and why; null while open or without a terminal. */
    terminalTotals: Nullable(TerminalTotals),
    /** The terminal's total minus the card top-ups booked; null without the terminal's totals. */
    cardDifference: Nullable(Type.Integer()),
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
const KioskParams = Type.Object({ id: KioskId }, { additionalProperties: false })
const DisableBody = Type.Object({ disabled: Type.Boolean() }, { additionalProperties: false })
const RetiredReason = Type.Union([Type.Literal('removed_from_setup'), Type.Literal('disabled_by_admin')])
const RetiredBody = Type.Object(
  {
    kiosks: Type.Array(Type.Object({ id: Type.String(), reason: RetiredReason }, { additionalProperties: false })),
    /** Each with the balance it still holds: money owed to a guest, paid out like any other. */
    wristbands: Type.Array(Type.Object({ uid: Type.String(), reason: RetiredReason, balance: Type.Integer() }, { additionalProperties: false })),
  },
  { additionalProperties: false },
)

export interface OperationsAdminDeps {
  ledger: Pick<Ledger, 'shiftReports' | 'shiftReport' | 'debts' | 'wristband'> & { registry: Pick<Registry, 'setWristbandBlocked' | 'refreshKioskConfigs' | 'gatewayKeys' | 'retirement'> }
  /** Republishes the retained configs of these kiosks. */
  publishKioskConfigs(kioskIds: readonly string[]): Promise<void>
  /** Reads the event set-up file again and imports it; throws EventSetupError (nothing imported) on a bad file. */
  reloadEventSetup?: () => ImportSummary
  /** Closes the connections of retired kiosks (and clears their retained configs) and of kiosks whose token changed. */
  endKioskSessions?: (retired: readonly string[], newToken?: readonly string[]) => Promise<void>
}

/**
 * Blocks or unblocks a wristband and sends every kiosk its new blocklist at once (also the operator
 * console's button); 404 unknown_tag when the ledger does not know the wristband.
 */
export async function setWristbandBlocked(
  deps: { ledger: Pick<Ledger, 'wristband'> & { registry: Pick<Registry, 'setWristbandBlocked' | 'refreshKioskConfigs'> }; publishKioskConfigs(kioskIds: readonly string[]): Promise<void> },
  uid: string,
  blocked: boolean,
): Promise<{ uid: string; blocked: boolean; kiosksUpdated: number }> {
  if (deps.ledger.wristband(uid) === undefined) throw new HttpError(404, 'unknown_tag', `wristband ${uid} is not in the ledger`)
  deps.ledger.registry.setWristbandBlocked(uid, blocked)
  // Every kiosk's blocklist changes: the retained configs go out now, so offline tills know too.
  const changed = deps.ledger.registry.refreshKioskConfigs()
  await deps.publishKioskConfigs(changed)
  return { uid, blocked, kiosksUpdated: changed.length }
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
      async () => ({ signingPublicKey: deps.ledger.registry.gatewayKeys.signingPublicKey, pinSealPublicKey: deps.ledger.registry.gatewayKeys.sealPublicKey }),
    )

    // The organiser edited the event file (prices, till profiles, staff): the kiosks get it live, no restart.
    scope.post(
      '/event/reload',
      {
        schema: {
          response: {
            200: Type.Object(
              {
                booths: Type.Integer(),
                products: Type.Integer(),
                kiosks: Type.Integer(),
                wristbands: Type.Integer(),
                kiosksUpdated: Type.Integer(),
                kiosksRetired: Type.Array(Type.String()),
                wristbandsRetired: Type.Integer(),
                /** What the wristbands retired by this reload still hold, cents (GET /admin/retired lists them). */
                retiredBalanceCents: Type.Integer(),
                /** Kiosks whose file key differs from the key sent through the admin API: the admin key stays (see the log). */
                keyConflicts: Type.Array(Type.String()),
              },
              { additionalProperties: false },
            ),
            ...errorResponses,
          },
        },
      },
      async (request) => {
        if (deps.reloadEventSetup === undefined) throw new HttpError(404, 'not_found', 'this gateway has no event file to reload')
        let summary: ImportSummary
        try {
          summary = deps.reloadEventSetup()
        } catch (err) {
          // The set-up's own errors name the place and never quote a secret; anything else stays in the log.
          if (err instanceof EventSetupError) throw new HttpError(400, 'invalid_event_setup', err.message)
          request.log.error({ err }, 'event set-up reload failed')
          throw new HttpError(400, 'invalid_event_setup', 'the event set-up conflicts with the ledger; see the gateway log')
        }
        const { retirement } = summary
        await deps.endKioskSessions?.(retirement.kiosksRetired, retirement.kiosksWithNewToken)
        await deps.publishKioskConfigs(summary.configChanged)
        request.log.info({ kiosks: summary.configChanged.length, kiosksRetired: retirement.kiosksRetired.length, wristbandsRetired: retirement.wristbandsRetired }, 'event set-up reloaded by an operator')
        return {
          booths: summary.booths,
          products: summary.products,
          kiosks: summary.kiosks,
          wristbands: summary.wristbands,
          kiosksUpdated: summary.configChanged.length,
          kiosksRetired: retirement.kiosksRetired,
          wristbandsRetired: retirement.wristbandsRetired,
          retiredBalanceCents: retirement.retiredBalanceCents,
          keyConflicts: summary.keyChanges.filter((c) => c.change === 'conflict_admin_key_kept').map((c) => c.kiosk),
        }
      },
    )

    // Retiring without editing the file: a kiosk stolen or broken, a wristband that must stop at once. A reload keeps it.
    scope.put<{ Params: Static<typeof KioskParams>; Body: Static<typeof DisableBody> }>(
      '/kiosks/:id/disabled',
      { schema: { params: KioskParams, body: DisableBody, response: { 200: Type.Object({ kiosk: Type.String(), disabled: Type.Boolean() }, { additionalProperties: false }), ...errorResponses } } },
      async (request) => {
        const { id } = request.params
        const { disabled } = request.body
        if (!deps.ledger.registry.retirement.setKioskDisabled(id, disabled)) throw new HttpError(404, 'unknown_kiosk', `kiosk '${id}' is not in the ledger`)
        const reason = deps.ledger.registry.retirement.kioskRetired(id)
        if (!disabled && reason === 'removed_from_setup') throw new HttpError(409, 'kiosk_not_in_event_setup', `kiosk '${id}' is not in the event set-up: add it to the file and reload`)
        if (disabled) await deps.endKioskSessions?.([id])
        else await deps.publishKioskConfigs([id])
        return { kiosk: id, disabled: reason !== null }
      },
    )

    scope.put<{ Params: Static<typeof WristbandParams>; Body: Static<typeof DisableBody> }>(
      '/wristbands/:uid/disabled',
      { schema: { params: WristbandParams, body: DisableBody, response: { 200: Type.Object({ uid: Type.String(), disabled: Type.Boolean(), kiosksUpdated: Type.Integer() }, { additionalProperties: false }), ...errorResponses } } },
      async (request) => {
        const { uid } = request.params
        const { disabled } = request.body
        if (!deps.ledger.registry.retirement.setWristbandDisabled(uid, disabled)) throw new HttpError(404, 'unknown_tag', `wristband ${uid} is not in the ledger`)
        const reason = deps.ledger.registry.retirement.wristbandRetired(uid)
        if (!disabled && reason === 'removed_from_setup') throw new HttpError(409, 'wristband_not_in_event_setup', `wristband ${uid} is not in the event set-up: add it to the file and reload`)
        // Its block goes onto every kiosk's blocklist (or comes off it).
        const changed = deps.ledger.registry.refreshKioskConfigs()
        await deps.publishKioskConfigs(changed)
        return { uid, disabled: reason !== null, kiosksUpdated: changed.length }
      },
    )

    scope.get('/retired', { schema: { response: { 200: RetiredBody, ...errorResponses } } }, async () => ({
      kiosks: deps.ledger.registry.retirement.retiredKiosks(),
      wristbands: deps.ledger.registry.retirement.retiredWristbands(),
    }))

    scope.get('/debts', { schema: { response: { 200: Type.Array(DebtBody), ...errorResponses } } }, async () => deps.ledger.debts())

    scope.put<{ Params: Static<typeof WristbandParams>; Body: Static<typeof BlockBody> }>(
      '/wristbands/:uid/blocked',
      { schema: { params: WristbandParams, body: BlockBody, response: { 200: Type.Object({ uid: Type.String(), blocked: Type.Boolean(), kiosksUpdated: Type.Integer() }), ...errorResponses } } },
      async (request) => {
        const result = await setWristbandBlocked(deps, request.params.uid, request.body.blocked)
        request.log.info({ uid: result.uid, blocked: result.blocked, kiosks: result.kiosksUpdated }, 'wristband block set by an operator')
        return result
      },
    )
  }
}
