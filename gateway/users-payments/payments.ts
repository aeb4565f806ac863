// Payments of the users API: a Stripe payment intent per (user, cuid), confirmed
// with a payment method, and booked in the ledger exactly once when Stripe says
// it succeeded: clearing:stripe -> prepaid:{userId}, or straight to the linked
// wristband's customer account.
//
// Exactly once rests on three things: the write-ahead row per (user, cuid) and
// Stripe's Idempotency-Key (one intent per cuid, even across a crash between the
// Stripe call and our write), the ledger's idempotency by ref `users:{intentId}`,
// and marking the row booked in the same SQLite transaction as the booking.
import type Stripe from 'stripe'
import type { Logger } from 'pino'
import type { Clock } from '../../device-protocol/index.js'
import { HttpError } from '../http.js'
import { createKeyedLock } from '../keyed-lock.js'
import type { UsersLedger } from './ledger-port.js'
import { type PaymentRow, type UserRow, type UsersStore } from './store.js'

/** Payment intent statuses after which nothing changes any more. */
const FINAL_STATUSES = new Set(['succeeded', 'canceled'])
const STRIPE_CLEARING = 'stripe'
/** Upper bound of open payments one reconcile pass asks Stripe about. */
const RECONCILE_BATCH = 100

export interface PaymentsDeps {
  store: UsersStore
  ledger: UsersLedger
  stripe: Stripe
  clock: Clock
  logger: Logger
  /** ISO 4217, e.g. 'EUR' (Stripe gets it lower-case). */
  currency: string
  minAmountCents: number
  maxAmountCents: number
}

export interface PaymentsService {
  create(user: UserRow, input: { cuid: string; amountCents: number }): Promise<PaymentRow>
  confirm(user: UserRow, input: { cuid: string; paymentId: string; paymentMethodId: string }): Promise<PaymentRow>
  /** The user's payment, brought up to date from Stripe if it is still open (and booked if it succeeded). */
  get(user: UserRow, paymentId: string): Promise<PaymentRow>
  list(user: UserRow): PaymentRow[]
  /** Asks Stripe about open payments and books those that succeeded (e.g. confirmed by the client with Stripe.js). */
  reconcilePending(): Promise<{ checked: number; booked: number }>
  /** Cancels the user's open intents at Stripe and books any that succeeded meanwhile (before deleting a user). */
  settleOpenPayments(user: UserRow): Promise<void>
}

/** Stripe error fields we look at; the stripe package throws StripeError subclasses carrying them. */
interface StripeErrorLike {
  type?: string
  code?: string
  decline_code?: string
  statusCode?: number
  payment_intent?: Stripe.PaymentIntent
}

function asStripeError(err: unknown): StripeErrorLike | undefined {
  return err instanceof Error && typeof (err as StripeErrorLike).type === 'string' && (err as StripeErrorLike).type!.startsWith('Stripe')
    ? (err as StripeErrorLike)
    : undefined
}

function paymentMethodId(intent: Stripe.PaymentIntent): string | null {
  const pm = intent.payment_method
  if (pm === null || pm === undefined) return null
  return typeof pm === 'string' ? pm : pm.id
}

export function createPaymentsService(deps: PaymentsDeps): PaymentsService {
  const { store, ledger, stripe, clock, logger } = deps
  const stripeCurrency = deps.currency.toLowerCase()
  const lock = createKeyedLock()

  function stripeFailure(err: unknown, what: string): HttpError {
    const se = asStripeError(err)
    logger.error({ err: se ? { type: se.type, code: se.code, statusCode: se.statusCode } : String(err) }, `stripe: ${what} failed`)
    if (se?.type === 'StripeIdempotencyError')
      return new HttpError(409, 'cuid_conflict', 'this cuid was already used for a different payment request')
    return new HttpError(502, 'payment_provider_error', `the payment provider could not ${what}; try again`)
  }

  async function ensureCustomer(user: UserRow): Promise<string> {
    return lock.run(`customer:${user.id}`, async () => {
      const current = store.userById(user.id)
      if (current === undefined) throw new HttpError(401, 'unauthorized', 'the user no longer exists')
      if (current.customerId !== null) return current.customerId
      let customer: Stripe.Customer
      try {
        // Keyed by our user id: a retry after a crash gets the same customer, not a second one.
        customer = await stripe.customers.create(
          { email: current.email, name: current.userName, metadata: { wristpayUserId: current.id } },
          { idempotencyKey: `wristpay-users-customer-${current.id}` },
        )
      } catch (err) {
        throw stripeFailure(err, 'create the customer')
      }
      store.setCustomerId(current.id, customer.id)
      return customer.id
    })
  }

  /** Refuses an intent that is not the one we asked for; nothing of it is stored or booked. */
  function checkIntentMatches(row: { amount: number; intentId?: string | null }, intent: Stripe.PaymentIntent): void {
    if (intent.amount !== row.amount || intent.currency.toLowerCase() !== stripeCurrency || (row.intentId != null && intent.id !== row.intentId)) {
      logger.error(
        { intent: intent.id, expected: { amount: row.amount, currency: stripeCurrency }, got: { amount: intent.amount, currency: intent.currency } },
        'ALERT: stripe payment intent does not match our payment; not booked',
      )
      throw new HttpError(502, 'payment_mismatch', 'the payment provider reported a different amount or currency; nothing was booked')
    }
  }

  /** Books a succeeded payment exactly once; the row and the ledger change in one SQLite transaction. */
  const bookSucceeded = (intentId: string): PaymentRow =>
    store.db.transaction((): PaymentRow => {
      const row = store.paymentByIntent(intentId)
      if (row === undefined) throw new Error(`payment ${intentId} vanished`)
      if (row.bookingId !== null) return row
      const clearing = ledger.ensureAccount('clearing', STRIPE_CLEARING)
      const linkedUid = store.linkedUidOf(row.userId)
      const meta = { userId: row.userId, cuid: row.cuid }
      const ref = `users:${intentId}`
      let bookedTo: string | undefined
      let bookingId: string | undefined
      if (linkedUid !== null) {
        const band = ledger.wristband(linkedUid)
        if (band !== undefined && !band.blocked) {
          const result = ledger.bookExternal({
            ref,
            kind: 'prepayment',
            postings: [
              { account: clearing, amount: -row.amount },
              { account: band.account, amount: row.amount },
            ],
            customerUid: linkedUid,
            meta,
          })
          bookedTo = band.account
          bookingId = result.id
        } else {
          // A blocked (lost, stolen) wristband must not receive money: the user's prepaid account keeps it.
          logger.warn({ intent: intentId, uid: linkedUid }, 'linked wristband is blocked or gone; prepayment booked to the prepaid account')
        }
      }
      if (bookingId === undefined) {
        const prepaid = ledger.ensureAccount('prepaid', row.userId)
        const result = ledger.bookExternal({
          ref,
          kind: 'prepayment',
          postings: [
            { account: clearing, amount: -row.amount },
            { account: prepaid, amount: row.amount },
          ],
          meta,
        })
        bookedTo = prepaid
        bookingId = result.id
      }
      store.markPaymentBooked(intentId, bookingId, bookedTo!, clock.now())
      logger.info({ intent: intentId, userId: row.userId, amount: row.amount, account: bookedTo }, 'prepayment booked')
      return store.paymentByIntent(intentId)!
    }).immediate()

  /** Stores what Stripe says about an intent and books it if it succeeded. */
  function applyIntent(row: PaymentRow, intent: Stripe.PaymentIntent): PaymentRow {
    checkIntentMatches(row, intent)
    store.setPaymentStatus(intent.id, intent.status, paymentMethodId(intent), clock.now())
    if (intent.status === 'succeeded') return bookSucceeded(intent.id)
    return store.paymentByIntent(intent.id)!
  }

  function ownPayment(user: UserRow, paymentId: string): PaymentRow {
    const row = store.paymentByIntent(paymentId)
    // Another user's payment answers exactly like a missing one.
    if (row === undefined || row.userId !== user.id) throw new HttpError(404, 'payment_not_found', 'no such payment')
    return row
  }

  async function refresh(row: PaymentRow): Promise<PaymentRow> {
    if (row.intentId === null) return row
    if (FINAL_STATUSES.has(row.status) && (row.status !== 'succeeded' || row.bookingId !== null)) return row
    const intentId = row.intentId
    return lock.run(`intent:${intentId}`, async () => {
      const current = store.paymentByIntent(intentId)!
      let intent: Stripe.PaymentIntent
      try {
        intent = await stripe.paymentIntents.retrieve(intentId)
      } catch (err) {
        throw stripeFailure(err, 'look up the payment')
      }
      return applyIntent(current, intent)
    })
  }

  return {
    async create(user, { cuid, amountCents }) {
      if (!Number.isSafeInteger(amountCents) || amountCents < deps.minAmountCents || amountCents > deps.maxAmountCents)
        throw new HttpError(422, 'invalid_amount', `amount must be whole cents between ${deps.minAmountCents} and ${deps.maxAmountCents}`)
      return lock.run(`create:${user.id}:${cuid}`, async () => {
        const existing = store.paymentByCuid(user.id, cuid)
        if (existing !== undefined) {
          if (existing.amount !== amountCents || existing.currency !== stripeCurrency)
            throw new HttpError(409, 'cuid_conflict', 'this cuid was already used for a payment with a different amount')
          if (existing.intentId !== null) return existing
          // A row without an intent: an earlier attempt did not finish; ask Stripe again with the same key.
        } else {
          store.insertCreatingPayment({ userId: user.id, cuid, amount: amountCents, currency: stripeCurrency, at: clock.now() })
        }
        const customer = await ensureCustomer(user)
        let intent: Stripe.PaymentIntent
        try {
          intent = await stripe.paymentIntents.create(
            {
              amount: amountCents,
              currency: stripeCurrency,
              customer,
              // Cards only in practice: no redirect-based methods, so confirming needs no return_url.
              automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
              description: 'wristpay prepayment',
              metadata: { wristpayUserId: user.id, cuid },
            },
            // Stripe idempotency keys are per Stripe account, so the user id is part of it: two users' cuids never collide.
            { idempotencyKey: `wristpay-users-pi-${user.id}-${cuid}` },
          )
        } catch (err) {
          throw stripeFailure(err, 'create the payment')
        }
        checkIntentMatches({ amount: amountCents }, intent)
        const owner = store.paymentByIntent(intent.id)
        if (owner !== undefined && (owner.userId !== user.id || owner.cuid !== cuid)) {
          logger.error({ intent: intent.id }, 'ALERT: stripe returned an intent that belongs to another payment')
          throw new HttpError(502, 'payment_mismatch', 'the payment provider returned another payment')
        }
        store.setPaymentIntent(
          user.id,
          cuid,
          { intentId: intent.id, status: intent.status, paymentMethod: paymentMethodId(intent), clientSecret: intent.client_secret ?? null },
          clock.now(),
        )
        logger.info({ intent: intent.id, userId: user.id, amount: amountCents }, 'payment intent created')
        return store.paymentByCuid(user.id, cuid)!
      })
    },

    async confirm(user, { cuid, paymentId, paymentMethodId: pmId }) {
      const row = ownPayment(user, paymentId)
      if (row.cuid !== cuid) throw new HttpError(409, 'cuid_mismatch', 'the cuid does not belong to this payment')
      return lock.run(`intent:${paymentId}`, async () => {
        const current = store.paymentByIntent(paymentId)!
        if (current.bookingId !== null) return current
        if (current.status === 'canceled') throw new HttpError(409, 'payment_canceled', 'this payment was canceled')
        let intent: Stripe.PaymentIntent
        try {
          intent = await stripe.paymentIntents.confirm(
            paymentId,
            { payment_method: pmId },
            // Same payment method again (a retry) gets Stripe's first answer; another one is a new attempt.
            { idempotencyKey: `wristpay-users-confirm-${paymentId}-${pmId}` },
          )
        } catch (err) {
          const se = asStripeError(err)
          if (se?.type === 'StripeCardError') {
            const declined = se.payment_intent
            if (declined !== undefined && declined.id === paymentId) {
              checkIntentMatches(current, declined)
              store.setPaymentStatus(paymentId, declined.status, paymentMethodId(declined), clock.now())
            }
            logger.info({ intent: paymentId, code: se.code, declineCode: se.decline_code }, 'card declined')
            throw new HttpError(402, se.code ?? 'card_declined', `the card was declined${se.decline_code ? ` (${se.decline_code})` : ''}`)
          }
          if (se?.type === 'StripeInvalidRequestError' && se.statusCode !== undefined && se.statusCode < 500) {
            // E.g. already succeeded (a concurrent confirm, or Stripe.js) or an unknown payment method: ask for the truth.
            let fresh: Stripe.PaymentIntent
            try {
              fresh = await stripe.paymentIntents.retrieve(paymentId)
            } catch (err2) {
              throw stripeFailure(err2, 'look up the payment')
            }
            const applied = applyIntent(current, fresh)
            if (applied.status === 'succeeded') return applied
            throw new HttpError(422, se.code ?? 'payment_not_confirmable', 'the payment provider refused to confirm this payment with this payment method')
          }
          throw stripeFailure(err, 'confirm the payment')
        }
        return applyIntent(current, intent)
      })
    },

    async get(user, paymentId) {
      const row = ownPayment(user, paymentId)
      try {
        return await refresh(row)
      } catch (err) {
        // Stripe unreachable: what we know is still a correct answer about our side.
        if (err instanceof HttpError && err.type === 'payment_provider_error') return store.paymentByIntent(paymentId)!
        throw err
      }
    },

    list: (user) => store.paymentsOfUser(user.id),

    async reconcilePending() {
      let checked = 0
      let booked = 0
      for (const row of store.openPayments(RECONCILE_BATCH)) {
        checked++
        try {
          const after = await refresh(row)
          if (row.bookingId === null && after.bookingId !== null) booked++
        } catch (err) {
          logger.warn({ intent: row.intentId, err: err instanceof Error ? err.message : String(err) }, 'reconcile of a payment failed; will retry')
        }
      }
      return { checked, booked }
    },

    async settleOpenPayments(user) {
      for (const row of store.paymentsOfUser(user.id)) {
        if (row.intentId === null || FINAL_STATUSES.has(row.status)) {
          if (row.status === 'succeeded' && row.bookingId === null) await refresh(row)
          continue
        }
        const intentId = row.intentId
        await lock.run(`intent:${intentId}`, async () => {
          const current = store.paymentByIntent(intentId)!
          let intent: Stripe.PaymentIntent
          try {
            intent = await stripe.paymentIntents.retrieve(intentId)
            if (!FINAL_STATUSES.has(intent.status) && intent.status !== 'processing')
              intent = await stripe.paymentIntents.cancel(intentId, {}, { idempotencyKey: `wristpay-users-cancel-${intentId}` })
          } catch (err) {
            throw stripeFailure(err, 'cancel an open payment')
          }
          const applied = applyIntent(current, intent)
          if (applied.status === 'processing')
            throw new HttpError(409, 'payment_processing', 'a payment is still processing; try again later')
        })
      }
    },
  }
}
