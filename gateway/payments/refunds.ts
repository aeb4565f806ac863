// Refunds to the card: a guest's remaining balance back onto the card(s) they
// topped up with online.
//
// What can go back: the guest's paid online top-ups (online_topups) through a
// provider that can refund (PaymentProvider.refunds), less what earlier refunds
// took from each (refused parts give theirs back). A request takes the guest's
// whole balance unless it names less, never more than the balance and never
// more than that sum, and splits it over the top-ups newest first.
//
// Booked before the provider is called: the request, its parts and one booking
// per part (customer -> clearing:{provider}, kind 'refund', ref
// card-refund:{part}) are one SQLite transaction. Only then is the provider
// called, part by part. A part is set 'sending' and committed before its call,
// so after a timeout, a 5xx or a crash its outcome is known to be unknown: the
// provider's refunds of that payment are then looked at (refundsOf), a refund
// no part of ours is linked to, of the part's amount, is adopted, and only when
// there is none is the part sent again. One keyed lock per provider payment and
// the rule that a payment's part in 'sending' is settled before any other part
// of it is sent keep at most one call in flight per payment, so an unlinked
// refund there can only be that part's. A refused part books its money back
// (clearing -> customer, ref card-refund-back:{part}) and keeps the reason.
//
// A blocked wristband: only an operator may refund it. A block means the
// wristband was reported lost, or (issue 14 point 4) a top-up of it is
// disputed: whoever holds the portal session may not be its owner, and a
// refund of a disputed payment would pay the same money twice. An operator who
// has looked at it may. A wristband in an open payout run is refused for
// anyone: the run pays the same balance to the bank account. Once booked, the
// money is off the balance, so nothing else (sales, payout runs) can take it.
import { v7 as uuidv7 } from 'uuid'
import type { SqlDatabase } from '../sql/database.js'
import type { Logger } from 'pino'
import type { Clock } from '../../device-protocol/index.js'
import { createKeyedLock } from '../keyed-lock.js'
import { LedgerRefusalError, accountIds, type Ledger } from '../ledger/index.js'
import { migrateGatewayDatabase } from '../migrations.js'
import type { Registry } from '../registry/index.js'
import { RefundRefusedError, type CardRefunds, type PaymentProvider, type ProviderRefund } from './provider.js'

export type RefundPartState = 'booked' | 'sending' | 'sent' | 'succeeded' | 'refused'
/** A request as a whole: pending while any part is open. */
export type RefundRequestState = 'pending' | 'refunded' | 'partly_refused' | 'refused'

export type CardRefundErrorCode =
  /** Not a whole number of cents above zero. */
  | 'invalid_amount'
  /** The wristband is not known. */
  | 'unknown_tag'
  /** A guest asked for a blocked wristband (an operator may). */
  | 'wristband_blocked'
  /** The wristband is in an open payout run: the run pays this money out. */
  | 'in_payout_run'
  /** The wristband is in an open refund run (refund-runs.ts): the run sends this money back to the card. */
  | 'in_refund_run'
  /** No balance, or no paid online top-up through a provider that can refund is left. */
  | 'nothing_refundable'
  /** More than the balance or than what can go back to the cards. */
  | 'refund_too_large'

export class CardRefundError extends Error {
  override name = 'CardRefundError'
  constructor(
    readonly code: CardRefundErrorCode,
    message: string,
    /** For refund_too_large and nothing_refundable: what could be refunded now, cents. */
    readonly maxCents?: number,
  ) {
    super(message)
  }
}

export interface RefundPartView {
  id: string
  topupId: string
  provider: string
  amountCents: number
  state: RefundPartState
  providerRefundId: string | null
  /** Why the provider refused it (state 'refused'). */
  reason: string | null
  updatedAt: number
}

export interface RefundRequestView {
  id: string
  uid: string
  amountCents: number
  currency: string
  state: RefundRequestState
  /** 'guest' or the operator's name. */
  requestedBy: string
  via: 'portal' | 'operator'
  createdAt: number
  parts: RefundPartView[]
}

export interface RefundableTopup {
  topupId: string
  provider: string
  providerCheckoutId: string
  amountCents: number
  remainingCents: number
  createdAt: number
}

export interface Refundable {
  balanceCents: number
  /** Newest first. */
  topups: RefundableTopup[]
  /** What a request could take now: the lower of the balance and what the top-ups have left. */
  maxCents: number
}

export interface CardRefundAlert {
  kind: 'card_refund_attention'
  reason: string
  partId: string
  uid: string
  provider: string
  amountCents: number
}

export type RefundRequester = { via: 'portal' } | { via: 'operator'; operator: string }

export interface CardRefundService {
  refundable(uid: string): Refundable
  /** Books the request and calls the provider for each part; refusals throw CardRefundError, nothing booked. */
  request(input: { uid: string; amountCents?: number; by: RefundRequester }): Promise<RefundRequestView>
  /**
   * Books the request and its parts like request() but calls no provider: the parts stay 'booked'
   * for recover() to send (a refund run of thousands of guests holds no HTTP request open). Inside
   * a caller's transaction it joins it (a savepoint); refusals throw CardRefundError, nothing booked.
   */
  book(input: { uid: string; amountCents?: number; by: RefundRequester }): RefundRequestView
  /** The wristband's requests, newest first. */
  list(uid: string): RefundRequestView[]
  get(id: string): RefundRequestView | undefined
  /**
   * One bounded run over open parts (the least recently looked at first): sends booked ones,
   * settles those whose outcome is unknown by asking the provider, polls pending ones.
   */
  recover(): Promise<void>
  /** recover() now and then every intervalMs (unref'd timer) until stop(), which waits for a run in progress. */
  startRecovering(intervalMs: number): { stop(): Promise<void> }
}

export interface CardRefundDeps {
  /** The ledger's own connection: request, parts and bookings share one SQLite transaction. */
  db: SqlDatabase
  ledger: Pick<Ledger, 'wristband' | 'ensureAccount' | 'bookExternal'> & { registry: Pick<Registry, 'wristband'> }
  providers: Record<string, PaymentProvider>
  /** The event's currency (ISO 4217): only top-ups in it are refunded. */
  currency: string
  clock: Clock
  logger: Logger
  /** Parts one recover() run looks at. */
  recoverBatch?: number
  /** A part sent this often without an answer raises an alert (it is still tried). */
  attemptsBeforeAlert?: number
  alert?: (alert: CardRefundAlert) => void
  newId?: () => string
}

interface RequestRow {
  id: string
  uid: string
  amount: number
  currency: string
  requested_by: string
  via: 'portal' | 'operator'
  created_at: number
}

interface PartRow {
  id: string
  refund_id: string
  topup_id: string
  provider: string
  provider_checkout_id: string
  uid: string
  amount: number
  currency: string
  state: RefundPartState
  booking_id: string
  provider_refund_id: string | null
  reversal_booking: string | null
  reason: string | null
  attempts: number
  created_at: number
  updated_at: number
}

interface TopupRow {
  id: string
  provider: string
  provider_checkout_id: string
  amount: number
  created_at: number
  taken: number
}

export const refundRef = (partId: string) => `card-refund:${partId}`
export const refundBackRef = (partId: string) => `card-refund-back:${partId}`
const MAX_REASON_LENGTH = 300
const OPEN_STATES: ReadonlySet<RefundPartState> = new Set(['booked', 'sending', 'sent'])

function requestState(parts: PartRow[]): RefundRequestState {
  if (parts.some((p) => OPEN_STATES.has(p.state))) return 'pending'
  const refused = parts.filter((p) => p.state === 'refused').length
  if (refused === 0) return 'refunded'
  return refused === parts.length ? 'refused' : 'partly_refused'
}

/** A reason from the provider, as plain one-line text of bounded length (the guest reads it). */
function cleanReason(reason: unknown): string {
  const text = typeof reason === 'string' ? reason.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim() : ''
  return (text === '' ? 'refused by the payment provider' : text).slice(0, MAX_REASON_LENGTH)
}

const errorSummary = (err: unknown) => ({ name: (err as Error)?.name, message: String((err as Error)?.message ?? err).slice(0, 300) })

export function createCardRefunds(deps: CardRefundDeps): CardRefundService {
  const { db, ledger, providers, clock, currency } = deps
  const log = deps.logger.child({ component: 'card-refunds' })
  // Time-ordered ids: two requests of one guest in the same millisecond still list newest first.
  const newId = deps.newId ?? (() => uuidv7())
  const recoverBatch = deps.recoverBatch ?? 100
  const attemptsBeforeAlert = deps.attemptsBeforeAlert ?? 5
  migrateGatewayDatabase(db)

  const capable = (name: string): CardRefunds | undefined => (Object.hasOwn(providers, name) ? providers[name]!.refunds : undefined)
  const refundingProviders = () => Object.keys(providers).filter((name) => capable(name) !== undefined)

  const q = {
    // What each paid top-up of the guest has left: its amount less every part not refused, and less what a
    // dispute (open or lost) took back through the card network: refunding that too would pay it twice.
    topups: db.prepare<[string, string], TopupRow>(`
      SELECT t.id, t.provider, t.provider_checkout_id, t.amount, t.created_at,
             COALESCE((SELECT SUM(p.amount) FROM card_refund_parts p WHERE p.topup_id = t.id AND p.state <> 'refused'), 0)
             + COALESCE((SELECT SUM(d.amount) FROM disputes d WHERE d.topup_id = t.id AND d.state IN ('open', 'lost')), 0) AS taken
        FROM online_topups t
       WHERE t.uid = ? AND t.status = 'paid' AND t.currency = ? AND t.provider_checkout_id IS NOT NULL
       ORDER BY t.created_at DESC, t.id DESC`),
    insertRequest: db.prepare(`INSERT INTO card_refunds (id, uid, amount, currency, requested_by, via, created_at)
                               VALUES (@id, @uid, @amount, @currency, @requestedBy, @via, @now)`),
    insertPart: db.prepare(`
      INSERT INTO card_refund_parts (id, refund_id, topup_id, provider, provider_checkout_id, uid, amount, currency, state, booking_id, created_at, updated_at)
      VALUES (@id, @refundId, @topupId, @provider, @checkoutId, @uid, @amount, @currency, 'booked', @bookingId, @now, @now)`),
    request: db.prepare<[string], RequestRow>(`SELECT * FROM card_refunds WHERE id = ?`),
    requestsOf: db.prepare<[string], RequestRow>(`SELECT * FROM card_refunds WHERE uid = ? ORDER BY created_at DESC, id DESC`),
    // In the order they were made: a refund splits over the top-ups newest first (q.topups).
    parts: db.prepare<[string], PartRow>(`
      SELECT p.* FROM card_refund_parts p LEFT JOIN online_topups t ON t.id = p.topup_id
       WHERE p.refund_id = ? ORDER BY COALESCE(t.created_at, 0) DESC, p.topup_id DESC, p.id`),
    part: db.prepare<[string], PartRow>(`SELECT * FROM card_refund_parts WHERE id = ?`),
    sendingOfPayment: db.prepare<[string, string], PartRow>(
      `SELECT * FROM card_refund_parts WHERE provider = ? AND provider_checkout_id = ? AND state = 'sending' ORDER BY created_at, id`,
    ),
    linkedOfPayment: db.prepare<[string, string], { provider_refund_id: string }>(
      `SELECT provider_refund_id FROM card_refund_parts WHERE provider = ? AND provider_checkout_id = ? AND provider_refund_id IS NOT NULL`,
    ),
    open: db.prepare<[number], PartRow>(`SELECT * FROM card_refund_parts WHERE state IN ('booked', 'sending', 'sent') ORDER BY updated_at, id LIMIT ?`),
    setSending: db.prepare(`UPDATE card_refund_parts SET state = 'sending', attempts = attempts + 1, updated_at = ? WHERE id = ? AND state = 'booked'`),
    backToBooked: db.prepare(`UPDATE card_refund_parts SET state = 'booked', updated_at = ? WHERE id = ? AND state = 'sending'`),
    // Only a part in flight or pending takes news: a finished one stays as it ended.
    setReported: db.prepare(`UPDATE card_refund_parts SET state = ?, provider_refund_id = ?, updated_at = ? WHERE id = ? AND state IN ('sending', 'sent')`),
    setRefused: db.prepare(`UPDATE card_refund_parts SET state = 'refused', provider_refund_id = COALESCE(?, provider_refund_id), reason = ?, reversal_booking = ?, updated_at = ? WHERE id = ?`),
    touch: db.prepare(`UPDATE card_refund_parts SET updated_at = ? WHERE id = ?`),
    // An open item of a refund run (refund-runs.ts) holds the wristband's balance for that run.
    inRefundRun: db.prepare<[string], { one: number }>(`SELECT 1 AS one FROM card_refund_run_items WHERE uid = ? AND open = 1`),
  }

  function raiseAlert(part: PartRow, reason: string): void {
    const alert: CardRefundAlert = { kind: 'card_refund_attention', reason, partId: part.id, uid: part.uid, provider: part.provider, amountCents: part.amount }
    log.error({ alert }, 'card refund needs an operator')
    try {
      deps.alert?.(alert)
    } catch (err) {
      log.error({ err }, 'card refund alert callback failed')
    }
  }

  function refundableTopups(uid: string): RefundableTopup[] {
    const usable = new Set(refundingProviders())
    return q.topups
      .all(uid, currency)
      .filter((t) => usable.has(t.provider) && t.amount > t.taken)
      .map((t) => ({ topupId: t.id, provider: t.provider, providerCheckoutId: t.provider_checkout_id, amountCents: t.amount, remainingCents: t.amount - t.taken, createdAt: t.created_at }))
  }

  function refundable(uid: string): Refundable {
    const band = typeof uid === 'string' ? ledger.wristband(uid) : undefined
    if (band === undefined) throw new CardRefundError('unknown_tag', 'unknown wristband')
    const topups = refundableTopups(uid)
    const left = topups.reduce((sum, t) => sum + t.remainingCents, 0)
    return { balanceCents: band.balance, topups, maxCents: Math.max(0, Math.min(band.balance, left)) }
  }

  function view(row: RequestRow): RefundRequestView {
    const parts = q.parts.all(row.id)
    return {
      id: row.id,
      uid: row.uid,
      amountCents: row.amount,
      currency: row.currency,
      state: requestState(parts),
      requestedBy: row.requested_by,
      via: row.via,
      createdAt: row.created_at,
      parts: parts.map((p) => ({
        id: p.id,
        topupId: p.topup_id,
        provider: p.provider,
        amountCents: p.amount,
        state: p.state,
        providerRefundId: p.provider_refund_id,
        reason: p.reason,
        updatedAt: p.updated_at,
      })),
    }
  }

  /** Everything is read inside the transaction: two requests at once cannot both take the same money. */
  const requestTx = db.transaction((uid: string, asked: number | undefined, by: RefundRequester): string => {
    const band = ledger.wristband(uid)
    if (band === undefined) throw new CardRefundError('unknown_tag', 'unknown wristband')
    if (band.blocked && by.via !== 'operator') throw new CardRefundError('wristband_blocked', 'this wristband is blocked; please ask at the info point')
    // Before the payout run's check: the registry counts an open refund run as a payout run too (the kiosks refuse the same way).
    if (q.inRefundRun.get(uid) !== undefined)
      throw new CardRefundError('in_refund_run', 'this balance is in a refund run that sends it back to the card it was topped up with')
    if (ledger.registry.wristband(uid)?.inPayoutRun === true)
      throw new CardRefundError('in_payout_run', 'this balance is being paid to the bank account registered for it')
    const { maxCents, topups } = refundable(uid)
    if (maxCents <= 0) throw new CardRefundError('nothing_refundable', 'nothing can be refunded to a card: no balance, or no online top-up left to refund to', 0)
    const amount = asked ?? maxCents
    if (amount > maxCents) throw new CardRefundError('refund_too_large', `at most ${maxCents} cents can be refunded to the card now`, maxCents)

    const id = newId()
    const now = clock.now()
    q.insertRequest.run({ id, uid, amount, currency, requestedBy: by.via === 'operator' ? by.operator : 'guest', via: by.via, now })
    let left = amount
    for (const topup of topups) {
      if (left === 0) break
      const take = Math.min(left, topup.remainingCents)
      left -= take
      const partId = newId()
      const booking = ledger.bookExternal({
        ref: refundRef(partId),
        kind: 'refund',
        customerUid: uid,
        postings: [
          { account: accountIds.customer(uid), amount: -take },
          { account: ledger.ensureAccount('clearing', topup.provider), amount: take },
        ],
        meta: { cardRefund: id, part: partId, topup: topup.topupId, provider: topup.provider },
      })
      q.insertPart.run({ id: partId, refundId: id, topupId: topup.topupId, provider: topup.provider, checkoutId: topup.providerCheckoutId, uid, amount: take, currency, bookingId: booking.id, now })
    }
    return id
  })

  // ---------------------------------------------------------------------------
  // What the provider reported, applied in one transaction each.

  /** The provider refused the part: its money goes back onto the wristband, the reason stays. */
  const refuseTx = db.transaction((partId: string, reason: string, providerRefundId: string | null): boolean => {
    const part = q.part.get(partId)
    if (part === undefined || !OPEN_STATES.has(part.state)) return false
    const back = ledger.bookExternal({
      ref: refundBackRef(part.id),
      kind: 'refund',
      customerUid: part.uid,
      postings: [
        { account: accountIds.clearing(part.provider), amount: -part.amount },
        { account: accountIds.customer(part.uid), amount: part.amount },
      ],
      meta: { cardRefund: part.refund_id, part: part.id, refused: true },
    })
    q.setRefused.run(providerRefundId, reason, back.id, clock.now(), part.id)
    return true
  })

  function applyReported(part: PartRow, reported: ProviderRefund): void {
    if (reported.amountCents !== part.amount) raiseAlert(part, `provider_amount_differs:${reported.amountCents}`)
    if (reported.status === 'refused') {
      if (refuseTx.immediate(part.id, cleanReason(reported.reason), reported.id)) log.info({ part: part.id, uid: part.uid, amount: part.amount }, 'card refund refused by the provider: booked back')
      return
    }
    const state: RefundPartState = reported.status === 'succeeded' ? 'succeeded' : 'sent'
    q.setReported.run(state, reported.id, clock.now(), part.id)
    log.info({ part: part.id, provider: part.provider, providerRefund: reported.id, state }, 'card refund reported by the provider')
  }

  // ---------------------------------------------------------------------------
  // Talking to the provider: one payment at a time.

  const lock = createKeyedLock()
  const paymentKey = (part: PartRow) => `${part.provider}\u0000${part.provider_checkout_id}`

  /**
   * Settles a part whose call's outcome is unknown: adopts the provider's refund of that
   * payment that no part is linked to and has its amount, or, when there is none, makes it
   * 'booked' again to be sent. False when the provider could not be asked (still unknown).
   */
  async function settleUnknown(part: PartRow, refunds: CardRefunds): Promise<boolean> {
    let listed: ProviderRefund[]
    try {
      listed = await refunds.refundsOf(part.provider_checkout_id)
    } catch (err) {
      log.warn({ err: errorSummary(err), part: part.id }, 'card refund: the provider could not be asked about a refund of unknown outcome')
      return false
    }
    const linked = new Set(q.linkedOfPayment.all(part.provider, part.provider_checkout_id).map((r) => r.provider_refund_id))
    const unlinked = listed.filter((r) => !linked.has(r.id))
    // One that went through comes first: a refused one of the same amount (made outside wristpay) must
    // not make us book the money back while the provider is refunding it to the card.
    const sameAmount = unlinked.filter((r) => r.amountCents === part.amount)
    const found = sameAmount.find((r) => r.status !== 'refused') ?? sameAmount[0]
    if (found !== undefined) {
      log.info({ part: part.id, providerRefund: found.id }, 'card refund of unknown outcome found at the provider: adopted, not sent again')
      applyReported(part, found)
      return true
    }
    // Someone refunded this payment outside wristpay (the provider's dashboard?): say so, it is not ours.
    if (unlinked.length > 0) raiseAlert(part, `unknown_provider_refunds:${unlinked.map((r) => r.id).join(',').slice(0, 200)}`)
    q.backToBooked.run(clock.now(), part.id)
    log.info({ part: part.id }, 'card refund of unknown outcome not found at the provider: it will be sent again')
    return true
  }

  async function sendLocked(partId: string): Promise<void> {
    let part = q.part.get(partId)
    if (part === undefined || (part.state !== 'booked' && part.state !== 'sending')) return
    const refunds = capable(part.provider)
    if (refunds === undefined) {
      q.touch.run(clock.now(), part.id)
      raiseAlert(part, 'provider_cannot_refund')
      return
    }
    // Another part of this payment with an unknown outcome first: its refund may be the one the provider holds.
    for (const other of q.sendingOfPayment.all(part.provider, part.provider_checkout_id)) {
      if (other.id !== part.id && !(await settleUnknown(other, refunds))) return
    }
    part = q.part.get(partId)!
    if (part.state === 'sending') {
      if (!(await settleUnknown(part, refunds))) {
        q.touch.run(clock.now(), part.id)
        return
      }
      part = q.part.get(partId)!
    }
    if (part.state !== 'booked') return
    // Committed before the call: a crash from here on leaves 'sending', which is asked about, never blindly resent.
    if (q.setSending.run(clock.now(), part.id).changes !== 1) return
    const attempt = part.attempts + 1
    if (attempt === attemptsBeforeAlert) raiseAlert(part, `sent_${attempt}_times`)
    let reported: ProviderRefund
    try {
      reported = await refunds.refund({ providerCheckoutId: part.provider_checkout_id, amountCents: part.amount, currency: part.currency, requestId: `${part.id}.${attempt}` })
    } catch (err) {
      if (err instanceof RefundRefusedError) {
        if (refuseTx.immediate(part.id, cleanReason(err.reason), null)) log.info({ part: part.id, uid: part.uid, amount: part.amount }, 'card refund refused by the provider: booked back')
        return
      }
      // Timeout, 5xx, a body we cannot read: the provider may have made the refund. It stays 'sending'.
      log.warn({ err: errorSummary(err), part: part.id, attempt }, 'card refund: outcome unknown, the provider will be asked')
      return
    }
    applyReported(q.part.get(part.id)!, reported)
  }

  /** A pending refund: is it done? */
  async function pollLocked(partId: string): Promise<void> {
    const part = q.part.get(partId)
    if (part === undefined || part.state !== 'sent') return
    q.touch.run(clock.now(), part.id)
    const refunds = capable(part.provider)
    if (refunds === undefined) return
    let listed: ProviderRefund[]
    try {
      listed = await refunds.refundsOf(part.provider_checkout_id)
    } catch (err) {
      log.warn({ err: errorSummary(err), part: part.id }, 'card refund: status not fetched')
      return
    }
    const found = listed.find((r) => r.id === part.provider_refund_id)
    if (found === undefined) return raiseAlert(part, 'provider_refund_missing')
    if (found.status !== 'pending') applyReported(part, found)
  }

  /** Moves a part on as far as it goes now; its state is read again under the lock of its payment. */
  function drive(partId: string): Promise<void> {
    const part = q.part.get(partId)
    if (part === undefined) return Promise.resolve()
    return lock.run(paymentKey(part), () => (q.part.get(partId)?.state === 'sent' ? pollLocked(partId) : sendLocked(partId)))
  }

  /** The request booked (request() and book() alike); its id. */
  function bookRequest({ uid, amountCents, by }: { uid: string; amountCents?: number; by: RefundRequester }): string {
    if (amountCents !== undefined && (typeof amountCents !== 'number' || !Number.isSafeInteger(amountCents) || amountCents <= 0))
      throw new CardRefundError('invalid_amount', 'amount must be a whole number of cents above zero')
    if (typeof uid !== 'string') throw new CardRefundError('unknown_tag', 'unknown wristband')
    let id: string
    try {
      id = requestTx.immediate(uid, amountCents, by)
    } catch (err) {
      // The ledger's own last word (an open payout run it saw): the same refusal, nothing booked.
      if (err instanceof LedgerRefusalError && err.code === 'in_payout_run') throw new CardRefundError('in_payout_run', 'this balance is being paid to the bank account registered for it')
      throw err
    }
    const amount = q.request.get(id)!.amount
    log.info({ refund: id, uid, amount, by: by.via === 'operator' ? `operator:${by.operator}` : 'guest' }, 'card refund booked')
    return id
  }

  function book(input: { uid: string; amountCents?: number; by: RefundRequester }): RefundRequestView {
    return view(q.request.get(bookRequest(input))!)
  }

  async function request(input: { uid: string; amountCents?: number; by: RefundRequester }): Promise<RefundRequestView> {
    const id = bookRequest(input)
    const made = view(q.request.get(id)!)
    // Sent now, one payment after another; whatever stays open the recovery runs finish.
    for (const part of made.parts) {
      try {
        await drive(part.id)
      } catch (err) {
        log.error({ err, part: part.id }, 'card refund: sending failed')
      }
    }
    return view(q.request.get(id)!)
  }

  let recovering: Promise<void> | undefined
  function recover(): Promise<void> {
    recovering ??= (async () => {
      for (const part of q.open.all(recoverBatch)) {
        try {
          await drive(part.id)
        } catch (err) {
          log.error({ err, part: part.id }, 'card refund recovery failed for a part')
        }
      }
    })().finally(() => {
      recovering = undefined
    })
    return recovering
  }

  function startRecovering(intervalMs: number): { stop(): Promise<void> } {
    if (!Number.isFinite(intervalMs) || intervalMs < 1) throw new RangeError('intervalMs must be a positive number')
    const run = () => void recover().catch((err: unknown) => log.error({ err }, 'card refund recovery run failed'))
    // At start: parts left 'booked' or 'sending' by a crash are settled now, not an interval later.
    run()
    const timer = setInterval(run, intervalMs)
    timer.unref()
    return {
      async stop() {
        clearInterval(timer)
        await recovering?.catch(() => {})
      },
    }
  }

  return {
    refundable,
    request,
    book,
    list: (uid) => (typeof uid === 'string' ? q.requestsOf.all(uid).map(view) : []),
    get: (id) => {
      const row = typeof id === 'string' ? q.request.get(id) : undefined
      return row === undefined ? undefined : view(row)
    },
    recover,
    startRecovering,
  }
}
