// The terminal registry: card readers registered with Stripe at a location
// (a booth) with a one-time registration code, listed by location, relabelled
// and deregistered. A kiosk may manage only the readers of its own booth; an
// operator those of any booth. A location is named by the booth id or by the
// Stripe location id that `configuration` hands out for it (tml_...).
//
// The list is Stripe's (the seed: "Query Stripe for the terminal readers
// registered at a given location"), so readers paired in Stripe's dashboard
// show up too; a reader registered through us carries the label we keep.
// Such a Stripe-only reader can be relabelled and deregistered here as well.
import { createHash } from 'node:crypto'
import type Stripe from 'stripe'
import type { Logger } from 'pino'
import type { Clock } from '../../device-protocol/index.js'
import { HttpError } from '../http.js'
import type { CardTerminalStore } from './store.js'
import type { StripeLocations } from './stripe-locations.js'
import { describeStripeError, isResourceMissing, isStripeRequestRefusal, providerFailure } from './stripe-errors.js'
import { principalKey, type CardPrincipal, type LocationDirectory } from './types.js'

export interface TerminalRegistryDeps {
  store: CardTerminalStore
  stripe: Stripe
  locations: LocationDirectory
  stripeLocations: StripeLocations
  clock: Clock
  logger: Logger
}

export interface TerminalSummary {
  terminal_id: string
  label: string
}

export interface TerminalRegistry {
  register(principal: CardPrincipal, input: { location: string; registrationCode: string; label: string }): Promise<void>
  list(principal: CardPrincipal, location: string): Promise<TerminalSummary[]>
  update(principal: CardPrincipal, terminalId: string, label: string): Promise<void>
  deregister(principal: CardPrincipal, terminalId: string): Promise<void>
  /** The booth a location names (a booth id, or one of our Stripe location ids). */
  boothOf(location: string): string
  /** Throws 422 for an unknown location and 403 when a kiosk names another booth than its own. */
  checkLocation(principal: CardPrincipal, booth: string): void
}

/** More readers than this at one booth is a misconfiguration, not a list to page through forever. */
export const MAX_LISTED_READERS = 500

/** Codes are stored hashed: a registration code is a short-lived credential. */
const codeHash = (code: string) => createHash('sha256').update(code, 'utf8').digest('hex')

const unknownTerminal = (terminalId: string) => new HttpError(422, 'unknown_terminal', `no terminal ${terminalId} at any location of this event`)

export function createTerminalRegistry(deps: TerminalRegistryDeps): TerminalRegistry {
  const { store, stripe, locations, stripeLocations, clock } = deps
  const log = deps.logger

  function boothOf(location: string): string {
    return (location.startsWith('tml_') ? store.locationOfStripeLocation(location) : undefined) ?? location
  }

  function checkLocation(principal: CardPrincipal, booth: string): void {
    if (principal.role === 'kiosk') {
      if (locations.ofKiosk(principal.id) !== booth)
        throw new HttpError(403, 'other_location', `kiosk ${principal.id} may only manage terminals of its own location`)
      return
    }
    if (!locations.exists(booth)) throw new HttpError(422, 'unknown_location', `no location ${booth}`)
  }

  /** The booth of a reader: from our registry, else from Stripe for a reader at one of our Stripe locations. */
  async function terminalBooth(principal: CardPrincipal, terminalId: string): Promise<string> {
    let booth = store.terminal(terminalId)?.location
    if (booth === undefined) {
      let reader: Stripe.Terminal.Reader | Stripe.Terminal.DeletedReader
      try {
        reader = await stripe.terminal.readers.retrieve(terminalId)
      } catch (err) {
        if (isResourceMissing(err)) throw unknownTerminal(terminalId)
        log.warn({ terminal: terminalId, ...describeStripeError(err) }, 'terminal not retrieved')
        throw providerFailure('terminal', err)
      }
      if (reader.deleted === true) throw unknownTerminal(terminalId)
      const stripeLocation = typeof reader.location === 'string' ? reader.location : (reader.location?.id ?? null)
      booth = stripeLocation === null ? undefined : store.locationOfStripeLocation(stripeLocation)
      // A reader elsewhere in the Stripe account is not this event's to manage.
      if (booth === undefined) throw unknownTerminal(terminalId)
    }
    if (principal.role === 'kiosk' && locations.ofKiosk(principal.id) !== booth)
      throw new HttpError(403, 'other_location', `terminal ${terminalId} belongs to another location`)
    return booth
  }

  async function register(principal: CardPrincipal, input: { location: string; registrationCode: string; label: string }): Promise<void> {
    const booth = boothOf(input.location)
    checkLocation(principal, booth)
    const hash = codeHash(input.registrationCode)
    if (!store.reserveRegistrationCode(hash, clock.now()))
      throw new HttpError(422, 'registration_code_used', 'this registration code was used already')
    let reader: Stripe.Terminal.Reader
    try {
      const stripeLocation = await stripeLocations.ensure(booth)
      reader = await stripe.terminal.readers.create({
        registration_code: input.registrationCode,
        label: input.label,
        location: stripeLocation,
        metadata: { wristpay_location: booth },
      })
    } catch (err) {
      // Nothing was registered: the code may be tried again (once it is right).
      store.releaseRegistrationCode(hash)
      if (err instanceof HttpError) throw err
      log.warn({ location: booth, ...describeStripeError(err) }, 'terminal not registered')
      if (isStripeRequestRefusal(err)) throw new HttpError(422, 'invalid_registration_code', 'Stripe refused the registration code')
      throw providerFailure('register terminal', err)
    }
    if (store.terminal(reader.id) !== undefined) {
      // Stripe gave us a reader we already have: never silently move it between locations.
      store.releaseRegistrationCode(hash)
      throw new HttpError(422, 'terminal_registered', `terminal ${reader.id} is registered already; deregister it first`)
    }
    store.completeRegistration(hash, {
      terminal_id: reader.id,
      location: booth,
      label: input.label,
      registered_by: principalKey(principal),
      registered_at: clock.now(),
    })
    log.info({ terminal: reader.id, location: booth, by: principalKey(principal) }, 'terminal registered')
  }

  async function list(principal: CardPrincipal, location: string): Promise<TerminalSummary[]> {
    const booth = boothOf(location)
    checkLocation(principal, booth)
    const stripeLocation = store.stripeLocationOf(booth)
    // No Stripe location yet: nobody can have paired a reader there.
    if (stripeLocation === undefined) return []
    const ourLabels = new Map(store.terminalsAt(booth).map((t) => [t.terminal_id, t.label]))
    const listed: TerminalSummary[] = []
    try {
      for await (const reader of stripe.terminal.readers.list({ location: stripeLocation, limit: 100 })) {
        listed.push({ terminal_id: reader.id, label: ourLabels.get(reader.id) ?? reader.label ?? reader.serial_number })
        if (listed.length >= MAX_LISTED_READERS) break
      }
    } catch (err) {
      log.warn({ location: booth, ...describeStripeError(err) }, 'terminal readers not listed')
      throw providerFailure('list terminals', err)
    }
    return listed
  }

  async function update(principal: CardPrincipal, terminalId: string, label: string): Promise<void> {
    await terminalBooth(principal, terminalId)
    try {
      await stripe.terminal.readers.update(terminalId, { label })
    } catch (err) {
      if (isResourceMissing(err)) throw unknownTerminal(terminalId)
      log.warn({ terminal: terminalId, ...describeStripeError(err) }, 'terminal label not updated')
      throw providerFailure('update terminal', err)
    }
    store.setTerminalLabel(terminalId, label)
    log.info({ terminal: terminalId, by: principalKey(principal) }, 'terminal relabelled')
  }

  async function deregister(principal: CardPrincipal, terminalId: string): Promise<void> {
    await terminalBooth(principal, terminalId)
    try {
      await stripe.terminal.readers.del(terminalId)
    } catch (err) {
      // Already gone at Stripe: what is left is to forget it here too.
      if (!isResourceMissing(err)) {
        log.warn({ terminal: terminalId, ...describeStripeError(err) }, 'terminal not deregistered')
        throw providerFailure('deregister terminal', err)
      }
    }
    store.deleteTerminal(terminalId)
    log.info({ terminal: terminalId, by: principalKey(principal) }, 'terminal deregistered')
  }

  return { register, list, update, deregister, boothOf, checkLocation }
}
