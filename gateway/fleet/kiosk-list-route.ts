// GET /admin/kiosks: every kiosk of the event as the fleet view sees it (the
// rows gateway/state publishes, worst first, never-seen kiosks included) with
// whether the gateway holds its key and that key's fingerprint, for an operator
// with only curl at hand: which tills are down, and which still need enrolling.
import type { KeyObject } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import Type from 'typebox'
import { FleetRow, publicKeyToBase64Url } from '../../device-protocol/index.js'
import { errorResponses } from '../http.js'
import { keyFingerprint } from '../registry/kiosk-keys.js'

export const KioskListRow = Type.Object(
  {
    ...FleetRow.properties,
    /** The gateway holds the kiosk's Ed25519 key: its transactions can be verified. */
    enrolled: Type.Boolean(),
    /** sha256:... of the key, as the gateway's log names it; absent when not enrolled. */
    keyFingerprint: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
)
export const KioskListReply = Type.Object({ kiosks: Type.Array(KioskListRow) }, { additionalProperties: false })

export interface KioskListDeps {
  /** The fleet's rows, worst first (gateway.fleet.snapshot().rows). */
  fleetRows(): FleetRow[]
  kioskPublicKey(kioskId: string): KeyObject | undefined
}

export function kioskListAdmin(deps: KioskListDeps): FastifyPluginAsync {
  return async (scope) => {
    scope.get('/kiosks', { schema: { response: { 200: KioskListReply, ...errorResponses } } }, async () => ({
      kiosks: deps.fleetRows().map((row) => {
        const key = deps.kioskPublicKey(row.kiosk)
        return key === undefined ? { ...row, enrolled: false } : { ...row, enrolled: true, keyFingerprint: keyFingerprint(publicKeyToBase64Url(key)) }
      }),
    }))
  }
}
