// What the card-terminal API needs from the rest of the gateway, as narrow
// interfaces: the gateway passes the real ledger and functions, tests pass the same.
import type { Ledger } from '../ledger/index.js'
import type { Registry } from '../registry/index.js'

/** Who called: the seed's `Authorization: Bearer {access-token}` is a kiosk's or an operator's API token. */
export interface CardPrincipal {
  role: 'kiosk' | 'operator'
  id: string
}

/** Checks a bearer token; null when it is not a valid kiosk or operator token. Must be constant-time. */
export type Authenticate = (token: string) => CardPrincipal | null

/**
 * Locations (the seed's "Mariana Location") are the event's booths: a kiosk's
 * card terminal is registered at the kiosk's booth, and a card payment's
 * revenue goes to the booth's revenue account.
 */
export interface LocationDirectory {
  exists(location: string): boolean
  /** The booth of a kiosk; undefined for an unknown kiosk. */
  ofKiosk(kioskId: string): string | undefined
}

/** The parts of the ledger the card payments use. */
export type CardLedger = Pick<Ledger, 'bookExternal' | 'ensureAccount' | 'wristband' | 'externalBookingByRef' | 'accountBalance'>

/** Locations from the ledger: every booth that has a kiosk. */
export function locationsFromLedger(ledger: { registry: Pick<Registry, 'kioskIds' | 'kioskConfig'> }): LocationDirectory {
  const ofKiosk = (kioskId: string): string | undefined => {
    try {
      return ledger.registry.kioskConfig(kioskId).booth
    } catch {
      return undefined
    }
  }
  return {
    ofKiosk,
    exists: (location) => ledger.registry.kioskIds().some((id) => ofKiosk(id) === location),
  }
}

/** The key a principal's carts are stored under: cart ids are the caller's, so they are scoped to it. */
export const principalKey = (p: CardPrincipal): string => `${p.role}:${p.id}`
