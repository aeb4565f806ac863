// Each wristpay location (a booth) has one Stripe Terminal location, created
// the first time it is needed and remembered in the store. Readers are
// registered at it and connection tokens are scoped to it.
import type Stripe from 'stripe'
import type { Logger } from 'pino'
import { createKeyedLock } from '../keyed-lock.js'
import type { CardTerminalStore } from './store.js'
import { describeStripeError, providerFailure } from './stripe-errors.js'

/** The postal address Stripe requires of a Terminal location: the event's venue. */
export interface VenueAddress {
  line1: string
  city: string
  postal_code: string
  /** ISO 3166-1 alpha-2, e.g. 'DE'. */
  country: string
}

export interface StripeLocations {
  /** The Stripe location id of a location, created at Stripe on first use. */
  ensure(location: string): Promise<string>
}

export function createStripeLocations(deps: { store: CardTerminalStore; stripe: Stripe; venue: VenueAddress; logger: Logger }): StripeLocations {
  const lock = createKeyedLock()
  return {
    ensure(location) {
      const known = deps.store.stripeLocationOf(location)
      if (known !== undefined) return Promise.resolve(known)
      // One creation per location even when several requests need it at once.
      return lock.run(location, async () => {
        const again = deps.store.stripeLocationOf(location)
        if (again !== undefined) return again
        let created: Stripe.Terminal.Location
        try {
          created = await deps.stripe.terminal.locations.create(
            { display_name: location, address: { ...deps.venue }, metadata: { wristpay_location: location } },
            { idempotencyKey: `wristpay-location-${location}` },
          )
        } catch (err) {
          deps.logger.warn({ location, ...describeStripeError(err) }, 'Stripe terminal location not created')
          throw providerFailure('terminal location', err)
        }
        // Another gateway may have stored this location meanwhile: the stored one is used.
        const stored = deps.store.saveLocation(location, created.id)
        deps.logger.info({ location, stripeLocation: stored }, 'Stripe terminal location created')
        return stored
      })
    },
  }
}
