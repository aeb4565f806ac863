// The card-terminal payments API (seeds/card-terminal-payments-api.txt).
export { createCardTerminalApi, cardTerminalPlugin, type CardTerminalApi, type CardTerminalOptions } from './plugin.js'
export { createCardTerminalStore, type CardTerminalStore } from './store.js'
export { createBearerAuth, type BearerAuthDeps } from './auth.js'
export { locationsFromLedger, type Authenticate, type CardPrincipal, type LocationDirectory, type CardLedger } from './types.js'
export { type VenueAddress } from './stripe-locations.js'
export { type CardPayments, ledgerRefs, CARD_HOLD_REF, STRIPE_CLEARING_REF, DEFAULT_OPEN_TIMEOUT_MS } from './payments.js'
