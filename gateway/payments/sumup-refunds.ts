// Refunds to the card for the SumUp adapter (the CardRefunds capability of
// provider.ts), over SumUp's REST API:
//
//   refund    -> the checkout's successful transaction (GET /v0.1/checkouts/{id}: `transactions`),
//                then POST /v0.1/me/refund/{txn_id} {amount (decimal)}, answered 204 WITHOUT a body;
//   refundsOf -> GET /v0.1/me/transactions?id={txn_id}: its `events` of type REFUND, each with a
//                numeric id (ours: its decimal text), a decimal amount and a status.
//
// SumUp takes no idempotency key and names no refund in its answer. So refund() reads the
// transaction's refunds before and after its POST and answers the one refund that is new; when it
// cannot tell (none, several, or a read that fails) it throws a ProviderError: the outcome is
// unknown, and refunds.ts asks refundsOf() before it ever sends again (one payment at a time, so a
// new refund of the part's amount can only be the part's). Statuses: PENDING -> pending,
// REFUNDED / SUCCESSFUL -> succeeded, FAILED -> refused. A 400 or 409 to the POST (more than is
// left, already refunded, an amount SumUp does not take) means nothing was refunded: RefundRefusedError.
// Money is a decimal at this edge and integer cents everywhere else.
import type { Logger } from 'pino'
import { centsFromDecimal, decimalFromCents } from '../../device-protocol/index.js'
import { ProviderError, RefundRefusedError, type CardRefunds, type ProviderRefund, type ProviderRefundStatus } from './provider.js'

/** Checkout and transaction ids are UUIDs at SumUp; never allow path characters. */
const SUMUP_ID = /^[A-Za-z0-9_-]{1,128}$/

const REFUND_STATUS: Record<string, ProviderRefundStatus> = {
  PENDING: 'pending',
  REFUNDED: 'succeeded',
  SUCCESSFUL: 'succeeded',
  FAILED: 'refused',
}

/** What a guest reads (no card data, no provider text). */
export const SUMUP_REFUND_REASONS = {
  failed: "The card's bank did not accept the refund.",
  notRefundable: 'The card payment cannot be refunded (already refunded, less left than asked, or not paid).',
} as const

export interface SumUpRefundsOptions {
  /** The adapter's authenticated API call (JSON in, parsed JSON or undefined for a 204 out; ProviderError on failure). */
  call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown>
  logger: Logger
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function createSumUpRefunds(options: SumUpRefundsOptions): CardRefunds {
  const { call, logger: log } = options

  /** The checkout's successful transaction, or undefined when it is not paid. */
  async function transactionOf(providerCheckoutId: string): Promise<{ txn: string | undefined; currency: string }> {
    if (!SUMUP_ID.test(providerCheckoutId)) throw new RangeError('not a sumup checkout id')
    const checkout = await call('GET', `/v0.1/checkouts/${encodeURIComponent(providerCheckoutId)}`)
    if (!isRecord(checkout) || checkout.id !== providerCheckoutId) throw new ProviderError('sumup answered with another checkout')
    if (typeof checkout.currency !== 'string' || !/^[A-Z]{3}$/.test(checkout.currency)) throw new ProviderError('sumup checkout has an unusable currency')
    if (checkout.status !== 'PAID') return { txn: undefined, currency: checkout.currency }
    const transactions = checkout.transactions
    if (!Array.isArray(transactions)) throw new ProviderError('sumup paid checkout has no transactions')
    const successful = transactions.filter((t) => isRecord(t) && t.status === 'SUCCESSFUL')
    if (successful.length !== 1) throw new ProviderError('sumup paid checkout has not exactly one successful transaction')
    const txn = (successful[0] as Record<string, unknown>).id
    if (typeof txn !== 'string' || !SUMUP_ID.test(txn)) throw new ProviderError('sumup transaction has an unusable id')
    return { txn, currency: checkout.currency }
  }

  /** Every refund of a transaction, checked field by field. */
  async function refundsOfTransaction(txn: string, currency: string): Promise<ProviderRefund[]> {
    const body = await call('GET', `/v0.1/me/transactions?id=${encodeURIComponent(txn)}`)
    if (!isRecord(body) || body.id !== txn) throw new ProviderError('sumup answered with another transaction')
    if (body.currency !== undefined && body.currency !== currency) throw new ProviderError('sumup transaction is in another currency')
    if (body.events === undefined) return []
    if (!Array.isArray(body.events)) throw new ProviderError('sumup transaction events are not a list')
    const refunds: ProviderRefund[] = []
    const seen = new Set<string>()
    for (const event of body.events) {
      if (!isRecord(event)) throw new ProviderError('sumup transaction event is not an object')
      if (event.type !== 'REFUND') continue
      if (event.transaction_id !== undefined && event.transaction_id !== txn) throw new ProviderError('sumup refund is of another transaction')
      if (typeof event.id !== 'number' || !Number.isSafeInteger(event.id) || event.id <= 0) throw new ProviderError('sumup refund has an unusable id')
      const amount = centsFromDecimal(event.amount)
      if (!amount.ok || amount.cents <= 0) throw new ProviderError('sumup refund has an unusable amount')
      const status = typeof event.status === 'string' && Object.hasOwn(REFUND_STATUS, event.status) ? REFUND_STATUS[event.status]! : undefined
      if (status === undefined) throw new ProviderError('sumup refund has an unknown status')
      const id = String(event.id)
      if (seen.has(id)) throw new ProviderError('sumup lists a refund twice')
      seen.add(id)
      refunds.push({ id, amountCents: amount.cents, status, ...(status === 'refused' ? { reason: SUMUP_REFUND_REASONS.failed } : {}) })
    }
    return refunds
  }

  return {
    // No idempotency key at SumUp: requestId cannot go with the call (see above).
    async refund({ providerCheckoutId, amountCents, currency }) {
      if (!Number.isSafeInteger(amountCents) || amountCents <= 0) throw new RangeError('amountCents must be a positive integer')
      const { txn, currency: paid } = await transactionOf(providerCheckoutId)
      if (paid !== currency) throw new ProviderError('sumup checkout is in another currency than the refund')
      if (txn === undefined) throw new RefundRefusedError(SUMUP_REFUND_REASONS.notRefundable)
      const before = new Set((await refundsOfTransaction(txn, currency)).map((r) => r.id))
      try {
        await call('POST', `/v0.1/me/refund/${encodeURIComponent(txn)}`, { amount: decimalFromCents(amountCents) })
      } catch (err) {
        if (err instanceof ProviderError && (err.providerStatus === 400 || err.providerStatus === 409)) {
          log.info({ provider: 'sumup', providerCheckoutId, amount: amountCents, status: err.providerStatus }, 'sumup refused the refund')
          throw new RefundRefusedError(SUMUP_REFUND_REASONS.notRefundable)
        }
        throw err
      }
      const made = (await refundsOfTransaction(txn, currency)).filter((r) => !before.has(r.id))
      if (made.length !== 1) throw new ProviderError(`sumup accepted the refund but shows ${made.length} new refunds of the transaction`)
      log.info({ provider: 'sumup', providerCheckoutId, providerRefund: made[0]!.id, status: made[0]!.status, amount: amountCents }, 'sumup refund made')
      // A FAILED one is answered refused WITH its id, so that refunds.ts links it to its part.
      return made[0]!
    },

    async refundsOf(providerCheckoutId) {
      const { txn, currency } = await transactionOf(providerCheckoutId)
      return txn === undefined ? [] : refundsOfTransaction(txn, currency)
    },
  }
}
