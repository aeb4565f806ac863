// External bookings: money that does not come from a kiosk (online and card
// top-ups, card payments, prepayments, payouts, donations, refunds). Each is a
// set of balanced postings under an idempotency key (`ref`) from outside: the
// same ref with the same content answers with the first result and books
// nothing, the same ref with other content is refused. One SQLite transaction
// each; better-sqlite3 is synchronous, so it never interleaves with applyBatch.
import { createHash, randomUUID } from 'node:crypto'
import type { Clock } from '../../device-protocol/index.js'
import { MAX_AMOUNT_CENTS } from '../../device-protocol/index.js'
import type { Logger } from 'pino'
import { LedgerRefusalError } from './errors.js'
import type { LedgerStore, StoredExternalBooking } from './store.js'
import {
  EXTERNAL_ACCOUNT_KINDS,
  EXTERNAL_BOOKING_KINDS,
  accountIds,
  type BookingMetaValue,
  type ExternalAccountKind,
  type ExternalBookingInput,
  type ExternalBookingKind,
  type ExternalBookingRecord,
  type ExternalBookingResult,
  type PostingRecord,
} from './types.js'

export const MAX_REF_LENGTH = 200
export const MAX_POSTINGS_PER_BOOKING = 50
export const MAX_META_KEYS = 50
export const MAX_META_BYTES = 8 * 1024
const MAX_ACCOUNT_ID_LENGTH = 300
/** Visible ASCII only: refs and account refs end up in logs, URLs and file names. */
const REF_PATTERN = /^[\x21-\x7e]+$/

/**
 * Kinds that put money on a wristband or spend from it at a point of sale:
 * refused for a blocked (lost, stolen) wristband. Payouts, donations and
 * refunds stay possible so a blocked wristband's money can still be settled.
 */
const BLOCKED_REFUSES: ReadonlySet<ExternalBookingKind> = new Set(['topup_online', 'topup_card', 'prepaid_transfer', 'card_payment'])
/** The only kinds that may take money off a wristband in an open payout run: the run's own bookings (gateway/payouts/). */
const PAYOUT_RUN_ALLOWS: ReadonlySet<ExternalBookingKind> = new Set(['payout', 'donation'])
/** Account kinds whose balance may never go below 0. */
const NON_NEGATIVE_KINDS: ReadonlySet<string> = new Set(['customer', 'prepaid'])

export interface ExternalBookings {
  ensureAccount(kind: ExternalAccountKind, ref: string): string
  bookExternal(input: ExternalBookingInput): ExternalBookingResult
  externalBooking(id: string): ExternalBookingRecord | undefined
  externalBookingByRef(ref: string): ExternalBookingRecord | undefined
}

interface CheckedInput {
  ref: string
  kind: ExternalBookingKind
  postings: PostingRecord[]
  customerUid: string | null
  meta: Record<string, BookingMetaValue>
  amount: number
  contentHash: string
}

const refuse = (code: LedgerRefusalError['code'], message: string, details?: LedgerRefusalError['details']): never => {
  throw new LedgerRefusalError(code, message, details)
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype

function checkMeta(meta: unknown): Record<string, BookingMetaValue> {
  if (meta === undefined) return {}
  if (!isPlainObject(meta)) return refuse('invalid_booking', 'meta must be an object of strings, numbers, booleans or null')
  const keys = Object.keys(meta)
  if (keys.length > MAX_META_KEYS) refuse('invalid_booking', `meta has more than ${MAX_META_KEYS} keys`)
  for (const key of keys) {
    const value = meta[key]
    const ok = value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))
    if (!ok) refuse('invalid_booking', `meta value of '${key.slice(0, 64)}' must be a string, finite number, boolean or null`)
  }
  if (Buffer.byteLength(JSON.stringify(meta), 'utf8') > MAX_META_BYTES) refuse('invalid_booking', `meta is larger than ${MAX_META_BYTES} bytes`)
  return { ...(meta as Record<string, BookingMetaValue>) }
}

/** Everything that can be checked without the database; throws LedgerRefusalError. */
function checkInput(input: unknown): CheckedInput {
  if (!isPlainObject(input)) return refuse('invalid_booking', 'booking must be an object')
  const { ref, kind, postings, customerUid, meta } = input
  if (typeof ref !== 'string' || ref.length === 0 || ref.length > MAX_REF_LENGTH || !REF_PATTERN.test(ref))
    refuse('invalid_booking', `ref must be 1..${MAX_REF_LENGTH} visible ASCII characters`)
  if (typeof kind !== 'string' || !(EXTERNAL_BOOKING_KINDS as readonly string[]).includes(kind))
    refuse('invalid_booking', `kind must be one of ${EXTERNAL_BOOKING_KINDS.join(', ')}`)
  if (customerUid !== undefined && (typeof customerUid !== 'string' || customerUid.length === 0 || customerUid.length > 64))
    refuse('invalid_booking', 'customerUid must be a wristband uid')
  if (!Array.isArray(postings) || postings.length === 0) return refuse('invalid_amount', 'a booking needs postings')
  if (postings.length > MAX_POSTINGS_PER_BOOKING) refuse('invalid_booking', `more than ${MAX_POSTINGS_PER_BOOKING} postings`)

  const checked: PostingRecord[] = []
  const seen = new Set<string>()
  let sum = 0
  let positive = 0
  const customerAccounts: string[] = []
  for (const [i, posting] of (postings as unknown[]).entries()) {
    if (!isPlainObject(posting)) return refuse('invalid_booking', `posting ${i} must be {account, amount}`)
    const { account, amount } = posting
    if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount === 0 || Math.abs(amount) > MAX_AMOUNT_CENTS)
      refuse('invalid_amount', `posting ${i}: amount must be a non-zero integer number of cents within ±${MAX_AMOUNT_CENTS}`)
    if (typeof account !== 'string' || account.length === 0 || account.length > MAX_ACCOUNT_ID_LENGTH)
      return refuse('unknown_account', `posting ${i}: account must be an account id`)
    if (seen.has(account)) refuse('invalid_booking', `posting ${i}: account ${account} appears twice`)
    seen.add(account)
    if (account.startsWith(accountIds.customer(''))) customerAccounts.push(account)
    sum += amount as number
    if ((amount as number) > 0) positive += amount as number
    checked.push({ account, amount: amount as number })
  }
  if (sum !== 0) refuse('unbalanced', `postings sum to ${sum}, not 0`)
  if (positive > MAX_AMOUNT_CENTS) refuse('invalid_amount', `booking moves ${positive} cents, more than ${MAX_AMOUNT_CENTS}`)

  // The orders list of a guest is found through customerUid: a posting on a
  // wristband must name that same wristband, so no booking hides from its guest.
  if (customerAccounts.length > 1) refuse('invalid_booking', 'a booking may touch at most one wristband')
  let customer = (customerUid as string | undefined) ?? null
  const postedCustomer = customerAccounts[0]
  if (postedCustomer !== undefined) {
    if (customer === null) customer = postedCustomer.slice(accountIds.customer('').length)
    else if (postedCustomer !== accountIds.customer(customer)) refuse('invalid_booking', 'the customer posting is not on customerUid')
  }

  const sorted = [...checked].sort((a, b) => (a.account < b.account ? -1 : a.account > b.account ? 1 : 0))
  const contentHash = createHash('sha256')
    .update(JSON.stringify({ kind, customer, postings: sorted.map((p) => [p.account, p.amount]) }), 'utf8')
    .digest('hex')
  return { ref: ref as string, kind: kind as ExternalBookingKind, postings: checked, customerUid: customer, meta: checkMeta(meta), amount: positive, contentHash }
}

export interface ExternalBookingDeps {
  store: LedgerStore
  clock: Clock
  logger: Logger
  /** Whether the wristband is blocked; undefined when the ledger does not know it. */
  wristbandBlocked(uid: string): boolean | undefined
  /** Whether the wristband is in an open payout run (its balance is promised to the guest's bank account). */
  wristbandInPayoutRun?: (uid: string) => boolean
  /** A fresh random id (bookings and receipts); injected so a simulation can replay it. */
  newId?: () => string
}

export function createExternalBookings({ store, clock, logger, wristbandBlocked, wristbandInPayoutRun, newId = randomUUID }: ExternalBookingDeps): ExternalBookings {
  function ensureAccount(kind: ExternalAccountKind, ref: string): string {
    if (!EXTERNAL_ACCOUNT_KINDS.includes(kind)) refuse('invalid_account', `account kind must be one of ${EXTERNAL_ACCOUNT_KINDS.join(', ')}`)
    if (typeof ref !== 'string' || ref.length === 0 || ref.length > MAX_REF_LENGTH || !REF_PATTERN.test(ref))
      refuse('invalid_account', `account ref must be 1..${MAX_REF_LENGTH} visible ASCII characters`)
    const id = accountIds[kind](ref)
    store.ensureAccount(id, kind, ref)
    return id
  }

  const resultOf = (booking: StoredExternalBooking, status: ExternalBookingResult['status']): ExternalBookingResult => ({
    status,
    id: booking.id,
    receiptId: booking.receiptId,
    bookedAt: booking.bookedAt,
  })

  /** A fresh booking id that is no kiosk transaction's id either (postings share the tx_id column). */
  function newBookingId(): string {
    for (let attempt = 0; attempt < 3; attempt++) {
      const id = newId()
      if (store.recorded(id) === undefined && !store.isExternalBooking(id)) return id
    }
    throw new Error('could not draw an unused booking id')
  }

  function book(booking: CheckedInput): ExternalBookingResult {
    const existing = store.externalBookingByRef(booking.ref)
    if (existing !== undefined) {
      if (existing.contentHash !== booking.contentHash)
        refuse('ref_conflict', `ref was booked before with other content (booking ${existing.id})`)
      return resultOf(existing, 'replay')
    }
    if (booking.customerUid !== null) {
      const blocked = wristbandBlocked(booking.customerUid)
      if (blocked === undefined) refuse('unknown_tag', `wristband ${booking.customerUid} is not known`)
      if (blocked === true && BLOCKED_REFUSES.has(booking.kind)) refuse('tag_blocked', `wristband ${booking.customerUid} is blocked`)
      const debitsCustomer = booking.postings.some((p) => p.amount < 0 && p.account === accountIds.customer(booking.customerUid!))
      if (debitsCustomer && !PAYOUT_RUN_ALLOWS.has(booking.kind) && wristbandInPayoutRun?.(booking.customerUid) === true)
        refuse('in_payout_run', `wristband ${booking.customerUid} is in a payout run: its balance is being paid back`)
    }
    for (const p of booking.postings) {
      const account = store.account(p.account)
      if (account === undefined) return refuse('unknown_account', `account ${p.account} does not exist`)
      // Only a debit can break the floor; a credit to an account in offline debt must still go through.
      if (p.amount < 0 && NON_NEGATIVE_KINDS.has(account.kind) && account.balance + p.amount < 0)
        refuse('insufficient_balance', `account ${p.account} holds ${account.balance}, needs ${-p.amount}`, {
          account: p.account,
          balance: account.balance,
        })
    }
    const stored: StoredExternalBooking = {
      id: newBookingId(),
      ref: booking.ref,
      kind: booking.kind,
      amount: booking.amount,
      customer: booking.customerUid,
      meta: JSON.stringify(booking.meta),
      contentHash: booking.contentHash,
      receiptId: newId(),
      bookedAt: clock.now(),
    }
    store.commitExternal(stored, booking.postings)
    return resultOf(stored, 'booked')
  }

  function bookExternal(input: ExternalBookingInput): ExternalBookingResult {
    const booking = checkInput(input)
    // One batch: the ref check and the balance checks see the state the booking is written on.
    const result = store.batch(() => book(booking))
    if (result.status === 'booked')
      logger.info({ booking: result.id, kind: booking.kind, amount: booking.amount, customer: booking.customerUid }, 'external booking')
    return result
  }

  function recordOf(booking: StoredExternalBooking | undefined): ExternalBookingRecord | undefined {
    if (booking === undefined) return undefined
    return {
      id: booking.id,
      ref: booking.ref,
      kind: booking.kind as ExternalBookingKind,
      amount: booking.amount,
      customerUid: booking.customer,
      meta: JSON.parse(booking.meta) as Record<string, BookingMetaValue>,
      receiptId: booking.receiptId,
      bookedAt: booking.bookedAt,
      postings: store.postingsOf(booking.id),
    }
  }

  return {
    ensureAccount,
    bookExternal,
    externalBooking: (id) => recordOf(typeof id === 'string' ? store.externalBooking(id) : undefined),
    externalBookingByRef: (ref) => recordOf(typeof ref === 'string' ? store.externalBookingByRef(ref) : undefined),
  }
}
