// /v1/terminal/*: locations, connection tokens, readers (register with a
// registration code, retrieve, update label, list by location, delete), the
// server-driven flow (process_payment_intent, process_setup_intent,
// cancel_action) and the test helper that presents a card on a reader.
import { cardFromNumber, DEFAULT_TERMINAL_CARD, type TestCard } from './cards.js'
import { paramInvalid, paramMissing, resourceMissing, StripeSimError, unexpectedState } from './errors.js'
import { applyMetadata, optEnum, optObject, optString, rejectUnknown, reqString, type Params } from './params.js'
import { getPaymentIntent, chargeIntent } from './payment-intents.js'
import { storeCardPaymentMethod } from './payment-methods.js'
import { completeSetup, getSetupIntent } from './setup-intents.js'
import { paginate, withExpand, type Route } from './route.js'
import { newId, type SimContext, type TerminalLocation, type TerminalReader } from './state.js'

/** Codes a simulated reader accepts without a physical device (as in Stripe's test mode). */
const SIMULATED_CODES: Record<string, string> = { 'simulated-wpe': 'simulated_wisepos_e', 'simulated-s700': 'simulated_stripe_s700' }

function getLocation(ctx: SimContext, id: string, param = 'id'): TerminalLocation {
  const location = ctx.state.locations.get(id)
  if (!location) throw resourceMissing('location', id, param)
  return location
}

export function getReader(ctx: SimContext, id: string, param = 'id'): TerminalReader {
  const reader = ctx.state.readers.get(id)
  if (!reader) throw resourceMissing('terminal.reader', id, param)
  return reader
}

function readerError(code: string, message: string): StripeSimError {
  return new StripeSimError(400, { type: 'invalid_request_error', code, message })
}

function checkReaderReady(reader: TerminalReader): void {
  if (reader.status === 'offline') {
    throw readerError('terminal_reader_offline', 'Reader is currently offline, please ensure the reader is powered on and connected to the internet before retrying your request.')
  }
  if (reader.action?.status === 'in_progress') {
    throw readerError('terminal_reader_busy', 'Reader is currently busy processing another request. Please reference the docs for more information on how to handle this error.')
  }
}

function checkLabel(label: string | undefined): void {
  if (label !== undefined && label.length > 100) throw paramInvalid('label', 'The label must be at most 100 characters.')
}

export interface PresentedCard {
  /** A card number; Stripe's decline test numbers decline. Default 4242424242424242. */
  number?: string
}

/**
 * A guest taps a card on the reader: completes (or fails) the reader's
 * current action. The reader's action says how it went, as on Stripe.
 */
export function presentCard(ctx: SimContext, reader: TerminalReader, presented: PresentedCard = {}): TerminalReader {
  const action = reader.action
  if (!action || action.status !== 'in_progress') {
    throw readerError('terminal_reader_action_not_in_progress', `Reader ${reader.id} is not processing an action; there is nothing to present a payment method to.`)
  }
  let card: TestCard = DEFAULT_TERMINAL_CARD
  if (presented.number !== undefined) {
    const found = cardFromNumber(presented.number)
    if (!found) throw paramInvalid('card_present[number]', 'Your card number is incorrect.')
    card = found
  }
  try {
    if (action.type === 'process_payment_intent') {
      const pi = getPaymentIntent(ctx, action.process_payment_intent?.payment_intent as string)
      if (pi.status !== 'requires_payment_method' && pi.status !== 'requires_confirmation') {
        throw readerError('payment_intent_unexpected_state', `The PaymentIntent has a status of ${pi.status}.`)
      }
      const pm = storeCardPaymentMethod(ctx, card, 'card_present')
      chargeIntent(ctx, pi, pm, card)
    } else {
      const si = getSetupIntent(ctx, action.process_setup_intent?.setup_intent as string)
      if (si.status !== 'requires_payment_method' && si.status !== 'requires_confirmation') {
        throw readerError('setup_intent_unexpected_state', `The SetupIntent has a status of ${si.status}.`)
      }
      // Stripe saves a reusable `card` payment method generated from the card_present read.
      const presentPm = storeCardPaymentMethod(ctx, card, 'card_present')
      const generated = storeCardPaymentMethod(ctx, card, 'card')
      ;(generated.card as Record<string, unknown>).generated_from = {
        charge: null,
        payment_method_details: { type: 'card_present', card_present: presentPm.card_present },
      }
      completeSetup(ctx, si, generated)
      if (action.process_setup_intent) action.process_setup_intent.generated_card = generated.id
    }
    action.status = 'succeeded'
    ctx.emit('terminal.reader.action_succeeded', reader)
  } catch (err) {
    if (!(err instanceof StripeSimError)) throw err
    action.status = 'failed'
    action.failure_code = err.body.code ?? 'card_declined'
    action.failure_message = err.body.message
    ctx.emit('terminal.reader.action_failed', reader)
  }
  return reader
}

const LOCATION_PARAMS = ['display_name', 'address', 'metadata', 'configuration_overrides', 'expand']

export const terminalRoutes: Route[] = [
  // --- locations
  {
    method: 'POST',
    path: '/v1/terminal/locations',
    handle(ctx, { params }) {
      rejectUnknown(params, LOCATION_PARAMS)
      const displayName = reqString(params, 'display_name', 1000)
      const address = optObject(params, 'address')
      if (!address) throw paramMissing('address')
      rejectUnknown(address, ['line1', 'line2', 'city', 'postal_code', 'state', 'country'], 'address')
      const country = reqString(address, 'country', 2)
      if (!/^[A-Z]{2}$/.test(country)) throw paramInvalid('address[country]', `Invalid country: ${country}`)
      const location: TerminalLocation = {
        id: newId('tml', 14),
        object: 'terminal.location',
        address: { city: null, country, line1: null, line2: null, postal_code: null, state: null, ...address },
        display_name: displayName,
        livemode: false,
        metadata: applyMetadata({}, params),
      }
      ctx.state.locations.set(location.id, location)
      return withExpand(ctx, location, params)
    },
  },
  {
    method: 'GET',
    path: '/v1/terminal/locations/:id',
    handle: (ctx, { params, pathParams }) => withExpand(ctx, getLocation(ctx, pathParams.id as string), params),
  },
  {
    method: 'POST',
    path: '/v1/terminal/locations/:id',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, LOCATION_PARAMS)
      const location = getLocation(ctx, pathParams.id as string)
      const displayName = optString(params, 'display_name', 1000)
      const metadata = applyMetadata(location.metadata, params)
      if (displayName) location.display_name = displayName
      location.metadata = metadata
      return withExpand(ctx, location, params)
    },
  },
  {
    method: 'DELETE',
    path: '/v1/terminal/locations/:id',
    handle(ctx, { pathParams }) {
      const location = getLocation(ctx, pathParams.id as string)
      ctx.state.locations.delete(location.id)
      return { id: location.id, object: 'terminal.location', deleted: true }
    },
  },
  {
    method: 'GET',
    path: '/v1/terminal/locations',
    handle(ctx, { params }) {
      rejectUnknown(params, ['limit', 'starting_after', 'ending_before', 'expand'])
      return paginate([...ctx.state.locations.values()], params, '/v1/terminal/locations')
    },
  },
  // --- connection tokens
  {
    method: 'POST',
    path: '/v1/terminal/connection_tokens',
    handle(ctx, { params }) {
      rejectUnknown(params, ['location', 'expand'])
      const location = optString(params, 'location')
      if (location !== undefined) getLocation(ctx, location, 'location')
      return { object: 'terminal.connection_token', secret: `pst_test_${newId('', 40).slice(1)}`, ...(location ? { location } : {}) }
    },
  },
  // --- readers
  {
    method: 'POST',
    path: '/v1/terminal/readers',
    handle(ctx, { params }) {
      rejectUnknown(params, ['registration_code', 'label', 'location', 'metadata', 'expand'])
      const code = reqString(params, 'registration_code', 100)
      // Optional in the API; a reader without a location cannot take payments in live mode.
      const locationId = optString(params, 'location') ?? null
      if (locationId !== null) getLocation(ctx, locationId, 'location')
      const label = optString(params, 'label')
      checkLabel(label)
      const metadata = applyMetadata({}, params)
      const pending = ctx.state.registrationCodes.get(code)
      const simulatedType = SIMULATED_CODES[code]
      if (!pending && !simulatedType) {
        throw paramInvalid('registration_code', 'The registration code you provided is invalid or has expired. Please generate a new code on the reader and try again.')
      }
      // A code pairs one device, once; the simulated codes make a new simulated reader each time.
      if (pending) ctx.state.registrationCodes.delete(code)
      const serialNumber = pending?.serialNumber ?? `WSC${newId('', 12).slice(1).toUpperCase()}`
      const reader: TerminalReader = {
        id: newId('tmr', 14),
        object: 'terminal.reader',
        action: null,
        device_sw_version: '2.37.2.0',
        device_type: pending?.deviceType ?? (simulatedType as string),
        ip_address: '192.168.2.2',
        label: label ?? serialNumber,
        last_seen_at: ctx.nowSeconds() * 1000,
        livemode: false,
        location: locationId,
        metadata,
        serial_number: serialNumber,
        status: 'online',
      }
      ctx.state.readers.set(reader.id, reader)
      return withExpand(ctx, reader, params)
    },
  },
  {
    method: 'GET',
    path: '/v1/terminal/readers/:id',
    handle(ctx, { params, pathParams }) {
      const id = pathParams.id as string
      return withExpand(ctx, getReader(ctx, id), params)
    },
  },
  {
    method: 'POST',
    path: '/v1/terminal/readers/:id',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, ['label', 'metadata', 'expand'])
      const reader = getReader(ctx, pathParams.id as string)
      const label = optString(params, 'label')
      checkLabel(label)
      const metadata = applyMetadata(reader.metadata, params)
      if (label !== undefined && label !== '') reader.label = label
      reader.metadata = metadata
      return withExpand(ctx, reader, params)
    },
  },
  {
    method: 'DELETE',
    path: '/v1/terminal/readers/:id',
    handle(ctx, { pathParams }) {
      const reader = getReader(ctx, pathParams.id as string)
      ctx.state.readers.delete(reader.id)
      return { id: reader.id, object: 'terminal.reader', deleted: true }
    },
  },
  {
    method: 'GET',
    path: '/v1/terminal/readers',
    handle(ctx, { params }) {
      rejectUnknown(params, ['location', 'status', 'device_type', 'serial_number', 'limit', 'starting_after', 'ending_before', 'expand'])
      const location = optString(params, 'location')
      const status = optEnum(params, 'status', ['online', 'offline'] as const)
      const deviceType = optString(params, 'device_type')
      const serial = optString(params, 'serial_number')
      const all = [...ctx.state.readers.values()].filter(
        (r) =>
          (location === undefined || r.location === location) &&
          (status === undefined || r.status === status) &&
          (deviceType === undefined || r.device_type === deviceType) &&
          (serial === undefined || r.serial_number === serial),
      )
      return paginate(all, params, '/v1/terminal/readers')
    },
  },
  {
    method: 'POST',
    path: '/v1/terminal/readers/:id/process_payment_intent',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, ['payment_intent', 'process_config', 'expand'])
      const reader = getReader(ctx, pathParams.id as string)
      const pi = getPaymentIntent(ctx, reqString(params, 'payment_intent'), 'payment_intent')
      if (!pi.payment_method_types.includes('card_present')) {
        throw paramInvalid('payment_intent', 'This PaymentIntent does not allow card_present payments: create it with payment_method_types[]=card_present.')
      }
      if (pi.status !== 'requires_payment_method' && pi.status !== 'requires_confirmation') {
        throw unexpectedState('payment_intent', `This PaymentIntent has a status of ${pi.status}; it cannot be processed on a reader.`)
      }
      checkReaderReady(reader)
      reader.action = {
        type: 'process_payment_intent',
        status: 'in_progress',
        failure_code: null,
        failure_message: null,
        process_payment_intent: { payment_intent: pi.id },
      }
      return withExpand(ctx, reader, params)
    },
  },
  {
    method: 'POST',
    path: '/v1/terminal/readers/:id/process_setup_intent',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, ['setup_intent', 'allow_redisplay', 'process_config', 'customer_consent_collected', 'expand'])
      const reader = getReader(ctx, pathParams.id as string)
      const si = getSetupIntent(ctx, reqString(params, 'setup_intent'), 'setup_intent')
      if (!si.payment_method_types.includes('card_present')) {
        throw paramInvalid('setup_intent', 'This SetupIntent does not allow card_present: create it with payment_method_types[]=card_present.')
      }
      if (si.status !== 'requires_payment_method' && si.status !== 'requires_confirmation') {
        throw unexpectedState('setup_intent', `This SetupIntent has a status of ${si.status}; it cannot be processed on a reader.`)
      }
      checkReaderReady(reader)
      reader.action = {
        type: 'process_setup_intent',
        status: 'in_progress',
        failure_code: null,
        failure_message: null,
        process_setup_intent: { setup_intent: si.id },
      }
      return withExpand(ctx, reader, params)
    },
  },
  {
    method: 'POST',
    path: '/v1/terminal/readers/:id/cancel_action',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, ['expand'])
      const reader = getReader(ctx, pathParams.id as string)
      if (reader.action?.status !== 'in_progress') {
        throw readerError('terminal_reader_action_not_in_progress', 'The reader has no action in progress to cancel.')
      }
      reader.action = null
      return withExpand(ctx, reader, params)
    },
  },
  {
    method: 'POST',
    path: '/v1/test_helpers/terminal/readers/:id/present_payment_method',
    handle(ctx, { params, pathParams }) {
      rejectUnknown(params, ['type', 'card_present', 'amount_tip', 'card', 'interac_present', 'expand'])
      const reader = getReader(ctx, pathParams.id as string)
      const type = optEnum(params, 'type', ['card_present'] as const)
      void type
      const cardPresent: Params | undefined = optObject(params, 'card_present')
      const number = cardPresent ? optString(cardPresent, 'number', 19) : undefined
      return withExpand(ctx, presentCard(ctx, reader, { number }), params)
    },
  },
]
