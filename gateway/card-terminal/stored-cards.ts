// Card storage for a guest (the seed's "user" is a wristband uid): a Stripe
// SetupIntent to save a card, read on a terminal or typed in, and the
// "bankcard" record made from the resulting Stripe payment method. Only
// Stripe's ids are kept, never card data.
import type Stripe from 'stripe'
import type { Logger } from 'pino'
import type { Clock } from '../../device-protocol/index.js'
import { HttpError } from '../http.js'
import { createKeyedLock } from '../keyed-lock.js'
import type { CardTerminalStore } from './store.js'
import { describeStripeError, isResourceMissing, providerFailure } from './stripe-errors.js'
import type { CardLedger } from './types.js'

export interface StoredCardsDeps {
  store: CardTerminalStore
  ledger: Pick<CardLedger, 'wristband'>
  stripe: Stripe
  clock: Clock
  logger: Logger
}

export interface StoredCards {
  createSetupIntent(user: string, collection: 'manual' | 'terminal'): Promise<{ setupIntentId: string; clientSecret: string }>
  storePaymentMethod(input: { user: string; partner: string; paymentMethod: string; postalCode: string; name?: string }): Promise<{ paymentMethod: string; bankcard: string }>
}

export function createStoredCards(deps: StoredCardsDeps): StoredCards {
  const { store, ledger, stripe, clock } = deps
  const log = deps.logger
  const customerLock = createKeyedLock()
  const paymentMethodLock = createKeyedLock()

  function checkUser(user: string): void {
    if (ledger.wristband(user) === undefined) throw new HttpError(422, 'unknown_user', 'no wristband with this uid')
  }

  /** The wristband's Stripe customer, created once. */
  function ensureCustomer(user: string): Promise<string> {
    return customerLock.run(user, async () => {
      const known = store.stripeCustomerOf(user)
      if (known !== undefined) return known
      let customer: Stripe.Customer
      try {
        customer = await stripe.customers.create({ metadata: { wristband: user } }, { idempotencyKey: `wristpay-customer-${user}` })
      } catch (err) {
        log.warn({ ...describeStripeError(err) }, 'Stripe customer not created')
        throw providerFailure('customer', err)
      }
      // Another gateway may have stored this wristband's customer meanwhile: the stored one is used.
      return store.saveCustomer(user, customer.id)
    })
  }

  async function createSetupIntent(user: string, collection: 'manual' | 'terminal') {
    checkUser(user)
    const customer = await ensureCustomer(user)
    let intent: Stripe.SetupIntent
    try {
      // payment_method_types: see payments.ts (Terminal's documented parameter; the newest types omit it).
      const params = {
        customer,
        payment_method_types: [collection === 'terminal' ? 'card_present' : 'card'],
        usage: 'off_session',
        metadata: { wristband: user },
      } as Stripe.SetupIntentCreateParams
      intent = await stripe.setupIntents.create(params)
    } catch (err) {
      log.warn({ ...describeStripeError(err) }, 'setup intent not created')
      throw providerFailure('setup intent', err)
    }
    if (!intent.client_secret) throw new HttpError(502, 'provider_error', 'setup intent: Stripe answered without a client secret')
    log.info({ setupIntent: intent.id, collection }, 'setup intent created')
    return { setupIntentId: intent.id, clientSecret: intent.client_secret }
  }

  async function storePaymentMethod(input: { user: string; partner: string; paymentMethod: string; postalCode: string; name?: string }) {
    checkUser(input.user)
    return paymentMethodLock.run(input.paymentMethod, async () => {
      const existing = store.bankcardByPaymentMethod(input.paymentMethod)
      if (existing !== undefined) {
        // The same request again answers the same bankcard; another user may not take it over.
        if (existing.user !== input.user) throw new HttpError(422, 'payment_method_taken', 'this payment method is stored for another user')
        return { paymentMethod: existing.payment_method, bankcard: String(existing.id) }
      }
      const customer = await ensureCustomer(input.user)
      let pm: Stripe.PaymentMethod
      try {
        pm = await stripe.paymentMethods.retrieve(input.paymentMethod)
      } catch (err) {
        if (isResourceMissing(err)) throw new HttpError(422, 'unknown_payment_method', 'Stripe has no such payment method')
        log.warn({ ...describeStripeError(err) }, 'payment method not retrieved')
        throw providerFailure('payment method', err)
      }
      const owner = typeof pm.customer === 'string' ? pm.customer : (pm.customer?.id ?? null)
      if (owner !== null && owner !== customer) throw new HttpError(422, 'payment_method_taken', 'this payment method belongs to another customer')
      if (pm.type !== 'card') throw new HttpError(422, 'unsupported_payment_method', `a ${pm.type} payment method cannot be stored; store the card generated from it`)
      try {
        if (owner === null) await stripe.paymentMethods.attach(pm.id, { customer })
        await stripe.paymentMethods.update(pm.id, {
          billing_details: { ...(input.name !== undefined ? { name: input.name } : {}), address: { postal_code: input.postalCode } },
        })
      } catch (err) {
        log.warn({ ...describeStripeError(err) }, 'payment method not attached or updated')
        throw providerFailure('store payment method', err)
      }
      const card = store.insertBankcard({ payment_method: pm.id, user: input.user, partner: input.partner, created_at: clock.now() })
      log.info({ bankcard: card.id, paymentMethod: pm.id }, 'bankcard stored')
      return { paymentMethod: pm.id, bankcard: String(card.id) }
    })
  }

  return { createSetupIntent, storePaymentMethod }
}
