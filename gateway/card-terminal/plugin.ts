// The card-terminal payments API of the seed ("Mariana Tek Stripe Integration
// API", card-terminal-payments-api.txt) as a fastify plugin. Paths start with
// /api/stripe/v1/, so the gateway mounts it with prefix ''.
//
// Callers are kiosks and operators: `Authorization: Bearer <token>` is checked
// by the injected `auth` function (the gateway wires it to kiosk API tokens
// and operator tokens). A kiosk's location is its booth.
//
// Status codes: the seed lists 401, 403 and 422 for every operation. We answer
// those, and besides them only what they cannot express: 502 when Stripe did
// not answer (nothing is wrong with the request), 413 and 415 for a body too
// large or not JSON, 429 after too many wrong tokens, 500. Every operation lists its codes and its bearer
// security in /docs. Bodies of errors are the gateway's `{type, id, message}`.
//
// Bodies: the seed's own samples (curl, Python) send `Content-Type:
// application/json` with no body, its PHP samples `[]`; both read as no fields
// (see json-body.ts): `configuration` then answers, the others 422.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type Stripe from 'stripe'
import type { Logger } from 'pino'
import { centsFromDecimalString, type Clock } from '../../device-protocol/index.js'
import { BEARER_SECURITY_SCHEME } from '../docs.js'
import { apiErrorHandler } from '../../portal-api/http-errors.js'
import { ErrorBody, HttpError, httpErrorAnswer } from '../http.js'
import { acceptEmptyJsonBody } from '../json-body.js'
import { createCardPayments, type CardPayments } from './payments.js'
import * as S from './schemas.js'
import type { CardTerminalStore } from './store.js'
import { createStoredCards } from './stored-cards.js'
import { createStripeLocations, type VenueAddress } from './stripe-locations.js'
import { describeStripeError, providerFailure } from './stripe-errors.js'
import { createTerminalRegistry } from './terminals.js'
import { principalKey, type Authenticate, type CardLedger, type CardPrincipal, type LocationDirectory } from './types.js'

export interface CardTerminalOptions {
  store: CardTerminalStore
  ledger: CardLedger
  stripe: Stripe
  /** Bearer token -> kiosk or operator; null refuses (401). */
  auth: Authenticate
  locations: LocationDirectory
  clock: Clock
  logger: Logger
  /** ISO 4217 of the event, e.g. 'EUR'. */
  currency: string
  /** Stripe publishable key handed to front ends (pk_...): not a secret. */
  publishableKey: string
  /** Address of the Stripe Terminal locations created for booths. */
  venue: VenueAddress
  /** Open card payments older than this are cancelled and their balance part refunded. */
  openTimeoutMs?: number
}

export interface CardTerminalApi {
  /** Mount with prefix ''. */
  plugin: FastifyPluginAsync
  payments: CardPayments
}

const documentedErrors = {
  401: { ...ErrorBody, description: 'Authorization information is missing or invalid.' },
  403: { ...ErrorBody, description: 'The authenticated user does not have permission to perform this request.' },
  422: { ...ErrorBody, description: 'Request is invalid.' },
}
const serverErrors = {
  // Answered by the gateway's wrong-credential throttle (credential-throttle.ts) in front of this API.
  429: { ...ErrorBody, description: 'wristpay: too many wrong tokens from this address; retry after Retry-After seconds.' },
  500: { ...ErrorBody, description: 'wristpay: an internal error (logged with the request id).' },
  502: { ...ErrorBody, description: 'wristpay: Stripe did not complete the request; nothing was changed, it may be sent again.' },
}
/** Answers of a GET (no body). */
const errorsWithoutBody = { ...documentedErrors, ...serverErrors }
/** Answers of a POST: also a body above the size limit, or not JSON. */
const errors = {
  ...errorsWithoutBody,
  413: { ...ErrorBody, description: 'wristpay: the body is larger than the limit.' },
  415: { ...ErrorBody, description: 'wristpay: the body is not application/json.' },
}
const noContent = { type: 'null', description: 'Success.' }
const security = [{ [BEARER_SECURITY_SCHEME]: [] }]
const TAG = 'card terminal payments'
const op = (summary: string) => ({ security, summary, tags: [TAG] })

/** Ids arrive as strings or numbers (see schemas.ts); inside they are strings. */
const idOf = (value: string | number): string => String(value)
const userOf = (value: string | number): string => String(value).toUpperCase()

function amountOf(text: string, field: string): number {
  const cents = centsFromDecimalString(text)
  if (cents === undefined) throw new HttpError(422, 'invalid_amount', `${field} must be a decimal amount with at most two decimals, at most 1000000.00`)
  return cents
}

export function createCardTerminalApi(options: CardTerminalOptions): CardTerminalApi {
  const log = options.logger
  const stripeLocations = createStripeLocations({ store: options.store, stripe: options.stripe, venue: options.venue, logger: log })
  const payments = createCardPayments({
    store: options.store,
    ledger: options.ledger,
    stripe: options.stripe,
    clock: options.clock,
    logger: log,
    currency: options.currency,
    openTimeoutMs: options.openTimeoutMs,
  })
  const terminals = createTerminalRegistry({
    store: options.store,
    stripe: options.stripe,
    locations: options.locations,
    stripeLocations,
    clock: options.clock,
    logger: log,
  })
  const cards = createStoredCards({ store: options.store, ledger: options.ledger, stripe: options.stripe, clock: options.clock, logger: log })
  const publishableKey = options.publishableKey

  const principals = new WeakMap<FastifyRequest, CardPrincipal>()
  const principalOf = (request: FastifyRequest): CardPrincipal => principals.get(request)!

  /** The location a cart pays into: the cart's own, else the calling kiosk's booth. */
  function locationForCart(principal: CardPrincipal, cart: string | undefined): string | undefined {
    const known = cart === undefined ? undefined : payments.cartLocation(principalKey(principal), cart)
    if (known !== undefined) return known
    return principal.role === 'kiosk' ? options.locations.ofKiosk(principal.id) : undefined
  }

  function kioskLocation(principal: CardPrincipal): string {
    if (principal.role !== 'kiosk') throw new HttpError(403, 'kiosk_only', 'only a kiosk takes card payments (its booth is where the money goes)')
    const location = options.locations.ofKiosk(principal.id)
    if (location === undefined) throw new HttpError(403, 'unknown_kiosk', `kiosk ${principal.id} has no location`)
    return location
  }

  const plugin: FastifyPluginAsync = async (scope) => {
    acceptEmptyJsonBody(scope, { emptyArrayAsObject: true })
    scope.setErrorHandler(
      apiErrorHandler({
        known: httpErrorAnswer,
        validation: { status: 422, type: 'invalid_request' },
        // Malformed JSON and the like: "Request is invalid", as the seed answers it.
        clientStatus: (status) => (status === 400 ? 422 : status),
        failureLog: 'card-terminal request failed',
      }),
    )

    scope.addHook('onRequest', async (request) => {
      const header = request.headers.authorization
      const match = typeof header === 'string' ? /^Bearer ([\x21-\x7e]{1,512})$/.exec(header) : null
      const principal = match ? options.auth(match[1]!) : null
      if (principal === null) throw new HttpError(401, 'unauthorized', 'a valid kiosk or operator bearer token is required')
      principals.set(request, principal)
    })

    const configuration = async (request: FastifyRequest, cart: string | number | undefined) => {
      const principal = principalOf(request)
      const body: { stripe_publishable_api_key: string; stripe_location_id?: string } = { stripe_publishable_api_key: publishableKey }
      if (cart !== undefined) {
        const location = locationForCart(principal, idOf(cart))
        if (location !== undefined) body.stripe_location_id = await stripeLocations.ensure(location)
      }
      return body
    }
    scope.get<{ Querystring: S.ConfigurationRequest }>(
      '/api/stripe/v1/configuration/',
      { schema: { ...op('Get configuration values'), querystring: S.ConfigurationRequest, response: { 200: S.ConfigurationResponse, ...errorsWithoutBody } } },
      // A query string carries text only: a numeric cart arrives as a string, which is what we use anyway.
      async (request) => configuration(request, request.query?.cart),
    )
    scope.post<{ Body: S.ConfigurationRequest | undefined }>(
      '/api/stripe/v1/configuration/',
      { schema: { ...op('Get configuration values'), body: optionalBody(S.ConfigurationRequest), response: { 200: S.ConfigurationResponse, ...errors } } },
      async (request) => configuration(request, request.body?.cart),
    )

    scope.post<{ Body: S.SetupIntentRequest }>(
      '/api/stripe/v1/setup_intent/',
      { schema: { ...op('Create a setup intent'), body: S.SetupIntentRequest, response: { 200: S.SetupIntentResponse, ...errors } } },
      async (request) => {
        const { setupIntentId, clientSecret } = await cards.createSetupIntent(userOf(request.body.user), request.body.colletion_method ?? 'manual')
        return { stripe_setup_intent_id: setupIntentId, stripe_publishable_api_key: publishableKey, client_secret: clientSecret }
      },
    )

    scope.post<{ Body: S.StorePaymentMethodRequest }>(
      '/api/stripe/v1/store_payment_method/',
      { schema: { ...op('Create a bankcard from a Stripe payment method'), body: S.StorePaymentMethodRequest, response: { 200: S.StorePaymentMethodResponse, ...errors } } },
      async (request) => {
        const b = request.body
        const stored = await cards.storePaymentMethod({
          user: userOf(b.user),
          partner: idOf(b.partner),
          paymentMethod: b.payment_method,
          postalCode: String(b.postal_code),
          ...(b.name !== undefined ? { name: b.name } : {}),
        })
        return { payment_method: stored.paymentMethod, bankcard: stored.bankcard }
      },
    )

    scope.post<{ Body: S.PaymentIntentRequest }>(
      '/api/stripe/v1/payment_intent/',
      {
        schema: {
          ...op('Create a payment intent'),
          description:
            'A part of the cart may be paid from a wristband balance (account_balance_payment_amount); the wristband is named by `user`, ' +
            'a wristpay extension. Without a balance part (card only) the seed\'s body works as it is.',
          body: S.PaymentIntentRequest,
          response: { 200: S.PaymentIntentResponse, ...errors },
        },
      },
      async (request) => {
        const principal = principalOf(request)
        const location = kioskLocation(principal)
        const b = request.body
        const cardCents = amountOf(b.amount, 'amount')
        if (cardCents === 0) throw new HttpError(422, 'invalid_amount', 'amount (the part paid by card) must be above 0')
        const balanceCents = b.account_balance_payment_amount === undefined ? 0 : amountOf(b.account_balance_payment_amount, 'account_balance_payment_amount')
        const answer = await payments.createPaymentIntent({
          owner: principalKey(principal),
          location,
          cart: idOf(b.cart),
          cardCents,
          balanceCents,
          ...(b.user !== undefined ? { wristband: userOf(b.user) } : {}),
          paymentType: b.payment_type ?? 'card',
        })
        return { stripe_payment_intent_id: answer.paymentIntentId, stripe_publishable_api_key: publishableKey, client_secret: answer.clientSecret }
      },
    )

    scope.post<{ Body: S.PaymentStatusRequest }>(
      '/api/stripe/v1/payment_status/',
      { schema: { ...op('Get the status of a cart'), body: S.PaymentStatusRequest, response: { 200: S.PaymentStatusResponse, ...errors } } },
      async (request) => payments.paymentStatus(principalKey(principalOf(request)), idOf(request.body.cart)),
    )

    scope.post<{ Body: S.ConnectionTokenRequest }>(
      '/api/stripe/v1/connection_token/',
      { schema: { ...op('Create a connection token'), body: S.ConnectionTokenRequest, response: { 200: S.ConnectionTokenResponse, ...errors } } },
      async (request) => {
        const location = locationForCart(principalOf(request), idOf(request.body.cart))
        const stripeLocation = location === undefined ? undefined : await stripeLocations.ensure(location)
        try {
          const token = await options.stripe.terminal.connectionTokens.create(stripeLocation === undefined ? {} : { location: stripeLocation })
          return { stripe_connection_token: token.secret }
        } catch (err) {
          log.warn({ ...describeStripeError(err) }, 'connection token not created')
          throw providerFailure('connection token', err)
        }
      },
    )

    scope.post<{ Body: S.RegisterTerminalRequest }>(
      '/api/stripe/v1/register_terminal/',
      { schema: { ...op('Register a terminal reader'), body: S.RegisterTerminalRequest, response: { 204: noContent, ...errors } } },
      async (request, reply) => {
        const b = request.body
        await terminals.register(principalOf(request), { location: idOf(b.location), registrationCode: b.registration_code, label: b.label })
        return reply.code(204).send()
      },
    )

    scope.post<{ Body: S.TerminalListRequest }>(
      '/api/stripe/v1/terminal_readers/',
      { schema: { ...op('List terminal readers'), body: S.TerminalListRequest, response: { 200: S.TerminalListResponse, ...errors } } },
      async (request) => terminals.list(principalOf(request), idOf(request.body.location)),
    )

    scope.post<{ Body: S.UpdateTerminalRequest }>(
      '/api/stripe/v1/update_terminal/',
      { schema: { ...op('Update a terminal reader'), body: S.UpdateTerminalRequest, response: { 204: noContent, ...errors } } },
      async (request, reply) => {
        await terminals.update(principalOf(request), request.body.terminal_id, request.body.label)
        return reply.code(204).send()
      },
    )

    scope.post<{ Body: S.DeregisterTerminalRequest }>(
      '/api/stripe/v1/deregister_terminal/',
      { schema: { ...op('Deregister a terminal reader'), body: S.DeregisterTerminalRequest, response: { 204: noContent, ...errors } } },
      async (request, reply) => {
        await terminals.deregister(principalOf(request), request.body.terminal_id)
        return reply.code(204).send()
      },
    )
  }

  return { plugin, payments }
}

/** The seed marks every body "Required: false"; configuration's has no required field, so no body is fine too. */
function optionalBody<T extends object>(schema: T): object {
  return { anyOf: [schema, { type: 'null' }] }
}

/** The plugin form: `{ plugin: cardTerminalPlugin, prefix: '', options: CardTerminalOptions }`. */
export const cardTerminalPlugin: FastifyPluginAsync<CardTerminalOptions> = async (scope, options) => {
  await scope.register(createCardTerminalApi(options).plugin)
}
