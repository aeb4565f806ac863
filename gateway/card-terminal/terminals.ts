// The terminal registry: card readers registered with Stripe at a location
// (a booth) with a one-time registration code, listed by location, relabelled
// and deregistered. A kiosk may manage only the readers of its own booth; an
// operator those of any booth.
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
  /** Throws 422 for an unknown location and 403 when a kiosk names another booth than its own. */
  checkLocation(principal: CardPrincipal, location: string): void
}

/** Codes are stored hashed: a registration code is a short-lived credential. */
const codeHash = (code: string) => createHash('sha256').update(code, 'utf8').digest('hex')

export function createTerminalRegistry(deps: TerminalRegistryDeps): TerminalRegistry {
  const { store, stripe, locations, stripeLocations, clock } = deps
  const log = deps.logger

  function checkLocation(principal: CardPrincipal, location: string): void {
    if (principal.role === 'kiosk') {
      if (locations.ofKiosk(principal.id) !== location)
        throw new HttpError(403, 'other_location', `kiosk ${principal.id} may only manage terminals of its own location`)
      return
    }
    if (!locations.exists(location)) throw new HttpError(422, 'unknown_location', `no location ${location}`)
  }

  function knownTerminal(principal: CardPrincipal, terminalId: string) {
    const terminal = store.terminal(terminalId)
    if (terminal === undefined) throw new HttpError(404, 'unknown_terminal', `no registered terminal ${terminalId}`)
    if (principal.role === 'kiosk' && locations.ofKiosk(principal.id) !== terminal.location)
      throw new HttpError(403, 'other_location', `terminal ${terminalId} belongs to another location`)
    return terminal
  }

  async function register(principal: CardPrincipal, input: { location: string; registrationCode: string; label: string }): Promise<void> {
    checkLocation(principal, input.location)
    const hash = codeHash(input.registrationCode)
    if (!store.reserveRegistrationCode(hash, clock.now()))
      throw new HttpError(409, 'registration_code_used', 'this registration code was used already')
    let reader: Stripe.Terminal.Reader
    try {
      const stripeLocation = await stripeLocations.ensure(input.location)
      reader = await stripe.terminal.readers.create({
        registration_code: input.registrationCode,
        label: input.label,
        location: stripeLocation,
        metadata: { wristpay_location: input.location },
      })
    } catch (err) {
      // Nothing was registered: the code may be tried again (once it is right).
      store.releaseRegistrationCode(hash)
      if (err instanceof HttpError) throw err
      log.warn({ location: input.location, ...describeStripeError(err) }, 'terminal not registered')
      if (isStripeRequestRefusal(err)) throw new HttpError(422, 'invalid_registration_code', 'Stripe refused the registration code')
      throw providerFailure('register terminal', err)
    }
    if (store.terminal(reader.id) !== undefined) {
      // Stripe gave us a reader we already have: never silently move it between locations.
      store.releaseRegistrationCode(hash)
      throw new HttpError(409, 'terminal_registered', `terminal ${reader.id} is registered already; deregister it first`)
    }
    store.completeRegistration(hash, {
      terminal_id: reader.id,
      location: input.location,
      label: input.label,
      registered_by: principalKey(principal),
      registered_at: clock.now(),
    })
    log.info({ terminal: reader.id, location: input.location, by: principalKey(principal) }, 'terminal registered')
  }

  async function list(principal: CardPrincipal, location: string): Promise<TerminalSummary[]> {
    checkLocation(principal, location)
    return store.terminalsAt(location).map((t) => ({ terminal_id: t.terminal_id, label: t.label }))
  }

  async function update(principal: CardPrincipal, terminalId: string, label: string): Promise<void> {
    knownTerminal(principal, terminalId)
    try {
      await stripe.terminal.readers.update(terminalId, { label })
    } catch (err) {
      log.warn({ terminal: terminalId, ...describeStripeError(err) }, 'terminal label not updated')
      throw providerFailure('update terminal', err)
    }
    store.setTerminalLabel(terminalId, label)
    log.info({ terminal: terminalId, by: principalKey(principal) }, 'terminal relabelled')
  }

  async function deregister(principal: CardPrincipal, terminalId: string): Promise<void> {
    knownTerminal(principal, terminalId)
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

  return { register, list, update, deregister, checkLocation }
}
