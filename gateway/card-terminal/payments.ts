// Card payments of a cart at a kiosk: part of the amount may come from the
// guest's wristband balance, the rest is paid by card through a Stripe
// PaymentIntent. Money moves in the ledger like this (each step one booking
// with its own ref, so repeating a step after a crash or a retried request
// never books twice):
//
//   1. payment_intent:  customer:<uid> -b, clearing:card-hold +b     ref card:<id>:balance  (only if b > 0)
//   2. card succeeded:  clearing:stripe -c, clearing:card-hold -b,
//                       revenue:<booth> +(c+b)                      ref card:<id>:card
//   3. card failed:     clearing:card-hold -b, customer:<uid> +b     ref card:<id>:refund   (only if b > 0)
//
// Step 2 happens only after Stripe reports the intent succeeded; step 3 only
// after Stripe reports it cancelled (we cancel a declined or expired intent
// first, so it can never succeed later). A payment row moves creating -> open
// -> succeeded | failed and never back, so 2 and 3 exclude each other.
import { randomUUID } from 'node:crypto'
import type Stripe from 'stripe'
import type { Logger } from 'pino'
import type { Clock } from '../../device-protocol/index.js'
import { HttpError } from '../http.js'
import { LedgerRefusalError, accountIds } from '../ledger/index.js'
import { createKeyedLock } from '../keyed-lock.js'
import type { CardTerminalStore, PaymentRow, PaymentType } from './store.js'
import { describeStripeError, providerFailure } from './stripe-errors.js'
import type { CardLedger } from './types.js'

/** The clearing account of money Stripe holds for us (shared with other Stripe payments). */
export const STRIPE_CLEARING_REF = 'stripe'
/** The clearing account holding balance parts of card payments until the card part settles. */
export const CARD_HOLD_REF = 'card-hold'

export const DEFAULT_OPEN_TIMEOUT_MS = 15 * 60_000

export const ledgerRefs = {
  balance: (paymentId: string) => `card:${paymentId}:balance`,
  card: (paymentId: string) => `card:${paymentId}:card`,
  refund: (paymentId: string) => `card:${paymentId}:refund`,
} as const

export interface CardPaymentsDeps {
  store: CardTerminalStore
  ledger: CardLedger
  stripe: Stripe
  clock: Clock
  logger: Logger
  /** ISO 4217, e.g. 'EUR'. */
  currency: string
  /** An open card payment not paid within this time is cancelled (and its balance part refunded) when next looked at. */
  openTimeoutMs?: number
}

export interface PaymentIntentRequest {
  /** principalKey of the caller: carts are scoped to it. */
  owner: string
  /** The booth whose revenue the cart is. */
  location: string
  cart: string
  cardCents: number
  balanceCents: number
  /** The wristband the balance part is taken from; required when balanceCents > 0. */
  wristband?: string
  paymentType: PaymentType
}

export interface PaymentIntentAnswer {
  paymentIntentId: string
  clientSecret: string
}

export type CartStatus = { status: 'Open' } | { status: 'Submitted'; order: string } | { status: 'Failed'; error: string }

export interface CardPayments {
  createPaymentIntent(request: PaymentIntentRequest): Promise<PaymentIntentAnswer>
  /** The cart's status, after asking Stripe about an open payment (and booking or refunding accordingly). */
  paymentStatus(owner: string, cart: string): Promise<CartStatus>
  /** The cart's location if the owner has such a cart. */
  cartLocation(owner: string, cart: string): string | undefined
  /** Settles payments that were interrupted or have expired; returns how many it looked at. */
  sweep(limit?: number): Promise<number>
}

const UNKNOWN_PAYMENT_ERROR = 'the card payment failed'

export function createCardPayments(deps: CardPaymentsDeps): CardPayments {
  const { store, ledger, stripe, clock, currency } = deps
  const log = deps.logger
  const openTimeoutMs = deps.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS
  const lock = createKeyedLock()
  const cartKey = (owner: string, cart: string) => JSON.stringify([owner, cart])

  const accounts = () => ({
    stripe: ledger.ensureAccount('clearing', STRIPE_CLEARING_REF),
    hold: ledger.ensureAccount('clearing', CARD_HOLD_REF),
  })

  function refusal(err: LedgerRefusalError): HttpError {
    switch (err.code) {
      case 'insufficient_balance':
        return new HttpError(422, 'insufficient_balance', 'the wristband balance is lower than account_balance_payment_amount')
      case 'unknown_tag':
        return new HttpError(422, 'unknown_user', 'no wristband with this uid')
      case 'tag_blocked':
        return new HttpError(422, 'user_blocked', 'the wristband is blocked')
      case 'in_payout_run':
        return new HttpError(422, 'user_in_payout_run', 'the wristband is in a payout run: its balance is being paid back to the guest')
      default:
        return new HttpError(422, err.code, err.message)
    }
  }

  function sameRequest(row: PaymentRow, r: PaymentIntentRequest): boolean {
    return (
      row.card_cents === r.cardCents &&
      row.balance_cents === r.balanceCents &&
      (row.wristband ?? undefined) === (r.balanceCents > 0 ? r.wristband : undefined) &&
      row.payment_type === r.paymentType &&
      row.location === r.location
    )
  }

  function bookBalancePart(row: PaymentRow) {
    const { hold } = accounts()
    return ledger.bookExternal({
      ref: ledgerRefs.balance(row.id),
      kind: 'card_payment',
      postings: [
        { account: accountIds.customer(row.wristband!), amount: -row.balance_cents },
        { account: hold, amount: row.balance_cents },
      ],
      customerUid: row.wristband!,
      meta: { cart: row.cart, part: 'balance', location: row.location },
    })
  }

  /** Gives the balance part back, if it was taken; then the payment is failed. Never after the card part. */
  function fail(row: PaymentRow, error: string): PaymentRow {
    if (row.balance_cents > 0 && ledger.externalBookingByRef(ledgerRefs.balance(row.id)) !== undefined) {
      const { hold } = accounts()
      ledger.bookExternal({
        ref: ledgerRefs.refund(row.id),
        kind: 'refund',
        postings: [
          { account: hold, amount: -row.balance_cents },
          { account: accountIds.customer(row.wristband!), amount: row.balance_cents },
        ],
        customerUid: row.wristband!,
        meta: { cart: row.cart, part: 'balance', location: row.location },
      })
    }
    store.failPayment(row.id, error, clock.now())
    log.info({ payment: row.id, cart: row.cart, balanceRefunded: row.balance_cents }, 'card payment failed')
    return store.payment(row.id)!
  }

  function succeed(row: PaymentRow, intent: Stripe.PaymentIntent): PaymentRow {
    // Book only what we asked Stripe for: anything else is a bug or tampering for an operator to look at.
    const received = intent.amount_received ?? intent.amount
    if (intent.amount !== row.card_cents || received !== row.card_cents || intent.currency !== row.currency.toLowerCase()) {
      log.error({ payment: row.id, paymentIntent: intent.id, amount: intent.amount, received, currency: intent.currency }, 'card payment amount differs from Stripe: not booked')
      throw new HttpError(502, 'provider_mismatch', 'Stripe reports another amount than this cart was created with; an operator must check it')
    }
    const { stripe: stripeClearing, hold } = accounts()
    const postings = [
      { account: stripeClearing, amount: -row.card_cents },
      { account: accountIds.revenue(row.location), amount: row.card_cents + row.balance_cents },
    ]
    if (row.balance_cents > 0) postings.push({ account: hold, amount: -row.balance_cents })
    const booking = ledger.bookExternal({
      ref: ledgerRefs.card(row.id),
      kind: 'card_payment',
      postings,
      meta: { cart: row.cart, part: 'card', location: row.location, paymentIntent: intent.id, owner: row.owner },
    })
    store.succeedPayment(row.id, booking.receiptId, clock.now())
    log.info({ payment: row.id, cart: row.cart, card: row.card_cents, balance: row.balance_cents, order: booking.receiptId }, 'card payment succeeded')
    return store.payment(row.id)!
  }

  async function retrieve(id: string): Promise<Stripe.PaymentIntent> {
    try {
      return await stripe.paymentIntents.retrieve(id)
    } catch (err) {
      log.warn({ paymentIntent: id, ...describeStripeError(err) }, 'payment intent not retrieved')
      throw providerFailure('payment status', err)
    }
  }

  /** Cancels the intent so it can never succeed, then fails the payment; if it succeeded meanwhile, books that. */
  async function cancelAndFail(row: PaymentRow, intentId: string, error: string): Promise<PaymentRow> {
    let intent: Stripe.PaymentIntent
    try {
      intent = await stripe.paymentIntents.cancel(intentId, {}, { idempotencyKey: `wristpay-card-cancel-${row.id}` })
    } catch (err) {
      // Refused: typically the intent succeeded or is processing right now. Stripe's word decides.
      log.warn({ payment: row.id, paymentIntent: intentId, ...describeStripeError(err) }, 'payment intent not cancelled; looking again')
      intent = await retrieve(intentId)
    }
    if (intent.status === 'canceled') return fail(row, error)
    if (intent.status === 'succeeded') return succeed(row, intent)
    return row
  }

  function declineMessage(intent: Stripe.PaymentIntent): string {
    const e = intent.last_payment_error
    return e?.message || (e?.decline_code ? `card declined (${e.decline_code})` : e?.code ? `card payment failed (${e.code})` : UNKNOWN_PAYMENT_ERROR)
  }

  /** Brings an unsettled payment up to date with Stripe. Runs under the cart's lock. */
  async function settle(row: PaymentRow): Promise<PaymentRow> {
    if (row.state === 'succeeded' || row.state === 'failed') return row
    if (row.state === 'creating') {
      // Under the lock a payment is only seen creating if the process stopped midway;
      // nobody got the intent's id or secret, so no card can pay it: give the balance back.
      return fail(row, 'the payment was interrupted; start it again')
    }
    const intentId = row.stripe_payment_intent_id!
    let intent = await retrieve(intentId)
    const expired = clock.now() - row.created_at >= openTimeoutMs
    switch (intent.status) {
      case 'succeeded':
        return succeed(row, intent)
      case 'requires_capture':
        try {
          intent = await stripe.paymentIntents.capture(intentId, {}, { idempotencyKey: `wristpay-card-capture-${row.id}` })
        } catch (err) {
          log.warn({ payment: row.id, paymentIntent: intentId, ...describeStripeError(err) }, 'payment intent not captured')
          throw providerFailure('capture', err)
        }
        return intent.status === 'succeeded' ? succeed(row, intent) : row
      case 'canceled':
        return fail(row, intent.cancellation_reason ? `the card payment was cancelled (${intent.cancellation_reason})` : 'the card payment was cancelled')
      case 'requires_payment_method':
        // A declined card leaves the intent waiting for another card; for the kiosk the attempt has failed.
        if (intent.last_payment_error) return cancelAndFail(row, intentId, declineMessage(intent))
        return expired ? cancelAndFail(row, intentId, 'the card payment timed out') : row
      case 'processing':
        // Money may be moving: never cancel here, wait for Stripe's outcome.
        return row
      default:
        return expired ? cancelAndFail(row, intentId, 'the card payment timed out') : row
    }
  }

  async function startIntent(row: PaymentRow): Promise<PaymentIntentAnswer> {
    let intent: Stripe.PaymentIntent
    try {
      // payment_method_types is the parameter Stripe Terminal documents for card_present (and the one
      // the simulator knows); the package's newest types list only its successor, hence the widening.
      const params = {
        amount: row.card_cents,
        currency: row.currency.toLowerCase(),
        payment_method_types: [row.payment_type === 'terminal' ? 'card_present' : 'card'],
        capture_method: 'automatic',
        description: `wristpay cart ${row.cart}`,
        metadata: { wristpay_payment: row.id, cart: row.cart, location: row.location },
      } as Stripe.PaymentIntentCreateParams
      intent = await stripe.paymentIntents.create(
        params,
        // A retried create after a crash gets the same intent back from Stripe.
        { idempotencyKey: `wristpay-card-payment-${row.id}` },
      )
    } catch (err) {
      log.warn({ payment: row.id, ...describeStripeError(err) }, 'payment intent not created')
      // Nobody learnt an intent id or secret, so nothing can be paid: give the balance part back.
      fail(row, 'the card payment could not be started')
      throw providerFailure('payment intent', err)
    }
    if (intent.amount !== row.card_cents || !intent.client_secret) {
      log.error({ payment: row.id, paymentIntent: intent.id }, 'Stripe answered an unusable payment intent')
      await cancelAndFail(row, intent.id, 'the card payment could not be started')
      throw new HttpError(502, 'provider_error', 'payment intent: Stripe answered an unusable payment intent')
    }
    store.openPayment(row.id, intent.id, clock.now())
    log.info({ payment: row.id, cart: row.cart, paymentIntent: intent.id, card: row.card_cents, balance: row.balance_cents }, 'card payment started')
    return { paymentIntentId: intent.id, clientSecret: intent.client_secret }
  }

  async function createPaymentIntent(r: PaymentIntentRequest): Promise<PaymentIntentAnswer> {
    if (r.balanceCents > 0 && r.wristband === undefined)
      // The seed's body has no field naming whose balance this is (the reference server knows the cart's customer); guessing
      // a wristband could take a stranger's money, so the wristband comes only from the `user` extension.
      throw new HttpError(422, 'user_required', 'account_balance_payment_amount needs `user` (wristpay extension): the wristband whose balance pays it')
    // A named wristband must exist even when it pays nothing: a typo is an error, not a card-only payment.
    if (r.wristband !== undefined && ledger.wristband(r.wristband) === undefined) throw new HttpError(422, 'unknown_user', 'no wristband with this uid')
    return lock.run(cartKey(r.owner, r.cart), async () => {
      const latest = store.latestPayment(r.owner, r.cart)
      if (latest !== undefined && latest.state !== 'failed') {
        if (latest.state === 'succeeded') throw new HttpError(422, 'cart_paid', `cart ${r.cart} is paid already (order ${latest.order_id})`)
        if (!sameRequest(latest, r))
          throw new HttpError(422, 'cart_in_progress', `cart ${r.cart} has an open payment with other amounts; wait until payment_status says Failed`)
        // The same request again (a retry): answer with the same intent, book nothing new.
        if (latest.state === 'creating') {
          // An earlier attempt stopped midway: the balance booking is idempotent, so make sure it is there and go on.
          if (latest.balance_cents > 0) {
            try {
              bookBalancePart(latest)
            } catch (err) {
              if (!(err instanceof LedgerRefusalError)) throw err
              fail(latest, 'the payment was interrupted; start it again')
              throw refusal(err)
            }
          }
          return startIntent(latest)
        }
        const intent = await retrieve(latest.stripe_payment_intent_id!)
        if (!intent.client_secret) throw new HttpError(502, 'provider_error', 'payment intent: Stripe answered without a client secret')
        return { paymentIntentId: intent.id, clientSecret: intent.client_secret }
      }

      if (ledger.accountBalance(accountIds.revenue(r.location)) === undefined)
        throw new HttpError(422, 'unknown_location', `location ${r.location} has no revenue account`)
      if (r.balanceCents > 0) {
        const band = ledger.wristband(r.wristband!)
        if (band === undefined) throw new HttpError(422, 'unknown_user', 'no wristband with this uid')
        if (band.blocked) throw new HttpError(422, 'user_blocked', 'the wristband is blocked')
        if (band.balance < r.balanceCents)
          throw new HttpError(422, 'insufficient_balance', 'the wristband balance is lower than account_balance_payment_amount')
      }
      const row = store.insertPayment({
        id: randomUUID(),
        owner: r.owner,
        cart: r.cart,
        location: r.location,
        currency,
        cardCents: r.cardCents,
        balanceCents: r.balanceCents,
        wristband: r.balanceCents > 0 ? r.wristband! : null,
        paymentType: r.paymentType,
        at: clock.now(),
      })
      if (row.balance_cents > 0) {
        try {
          bookBalancePart(row)
        } catch (err) {
          // Nothing was booked and nothing exists at Stripe: forget the attempt entirely.
          store.deletePayment(row.id)
          if (err instanceof LedgerRefusalError) throw refusal(err)
          throw err
        }
      }
      return startIntent(row)
    })
  }

  function toStatus(row: PaymentRow): CartStatus {
    if (row.state === 'succeeded') return { status: 'Submitted', order: row.order_id! }
    if (row.state === 'failed') return { status: 'Failed', error: row.error ?? UNKNOWN_PAYMENT_ERROR }
    return { status: 'Open' }
  }

  async function paymentStatus(owner: string, cart: string): Promise<CartStatus> {
    return lock.run(cartKey(owner, cart), async () => {
      const latest = store.latestPayment(owner, cart)
      if (latest === undefined) throw new HttpError(422, 'unknown_cart', `no payment was started for cart ${cart}`)
      return toStatus(await settle(latest))
    })
  }

  async function sweep(limit = 100): Promise<number> {
    const now = clock.now()
    const due = store.unsettledPayments(limit).filter((row) => row.state === 'creating' || now - row.created_at >= openTimeoutMs)
    for (const row of due) {
      try {
        await lock.run(cartKey(row.owner, row.cart), async () => {
          // Re-read under the lock: a request may have settled it meanwhile.
          // A creating row seen under the lock is interrupted work, whatever its age.
          return settle(store.payment(row.id)!)
        })
      } catch (err) {
        log.warn({ payment: row.id, err: err instanceof Error ? err.message : String(err) }, 'card payment not settled by the sweep')
      }
    }
    return due.length
  }

  return {
    createPaymentIntent,
    paymentStatus,
    cartLocation: (owner, cart) => store.latestPayment(owner, cart)?.location,
    sweep,
  }
}
