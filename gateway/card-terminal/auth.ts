// Bearer tokens of the card-terminal API, built from the credentials kiosks and
// operators already have for MQTT: `<kioskId>:<kiosk token>` for a kiosk and
// `operator:<name>:<operator token>` for an operator (kiosk ids cannot contain
// ':', so the two never collide). Comparisons are constant-time.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Authenticate, CardPrincipal } from './types.js'

export interface BearerAuthDeps {
  /** The ledger's kiosk token check (constant-time). */
  kioskAuth(kioskId: string, token: string): boolean
  operators: ReadonlyArray<{ name: string; token: string }>
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest()
const OPERATOR_PREFIX = 'operator:'

export function createBearerAuth(deps: BearerAuthDeps): Authenticate {
  const operators = new Map(deps.operators.map((op) => [op.name, sha256(op.token)]))
  return (bearer: string): CardPrincipal | null => {
    if (bearer.startsWith(OPERATOR_PREFIX)) {
      const rest = bearer.slice(OPERATOR_PREFIX.length)
      const colon = rest.indexOf(':')
      if (colon <= 0) return null
      const expected = operators.get(rest.slice(0, colon))
      // Hash first so that the comparison is constant-time whatever the lengths.
      return expected && timingSafeEqual(sha256(rest.slice(colon + 1)), expected) ? { role: 'operator', id: rest.slice(0, colon) } : null
    }
    const colon = bearer.indexOf(':')
    if (colon <= 0 || colon === bearer.length - 1) return null
    const kioskId = bearer.slice(0, colon)
    return deps.kioskAuth(kioskId, bearer.slice(colon + 1)) ? { role: 'kiosk', id: kioskId } : null
  }
}
