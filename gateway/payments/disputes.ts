// Disputes (chargebacks) on online top-ups paid through the stancer provider.
//
// Discovery. The provider's webhooks are unsigned, so one naming a dispute (or
// a payment) is only a hint: the dispute is read back from the provider by its
// id (a payment's disputes are listed from the payment's `created` on). A
// poller lists the disputes created since the last high-water mark (bounded
// pages) at start and every few minutes, and asks again about the open ones it
// knows. Every way ends in recordDispute(dispute), which writes one row per
// dispute id: a second webhook, or a poll that sees the dispute again, finds
// the row and books nothing.
//
// Matching. The dispute's order_id must be the checkout id of one of our paid
// online top-ups of this provider, and the dispute's payment must be that
// top-up's payment intent's payment (asked of the provider). Anything else is
// stored as `unmatched`, alerted and listed for an operator; it books and
// blocks nothing and is never thrown at whoever delivered it. One whose top-up
// we had not confirmed as paid yet (topup_not_paid) is matched again by every
// poll, and takes effect once the top-up is booked.
//
// Effect of a matched dispute, in ONE SQLite transaction with its row:
//  - the wristband is blocked as an operator's block is (registry
//    setWristbandBlocked + refreshKioskConfigs); after the commit the kiosks'
//    retained configs, with the signed blocklist, go out at once;
//  - the disputed amount is booked customer -> clearing:{provider} (kind
//    'refund': the guest's card got the money back; ref dispute:{provider}:{id},
//    so at most once). The ledger never lets an external booking take a
//    wristband below zero, and its `debts` are offline sales of kiosk
//    transactions (they reference one), so there is no debt to book into: the
//    booking takes what the balance covers and the rest is kept on the dispute
//    row as an open debt (`debt`), which GET /admin/disputes shows and the alert
//    names. The blocked wristband can no longer spend or be topped up, so the
//    operator settles that debt with the guest (or writes it off).
//  - an alert goes out on events/alert.
//
// Resolution. The seed's dispute has no status; the simulator (and the
// client) carry one: open, won or lost. A dispute reported won reverses its
// booking (clearing -> customer, ref dispute-won:{provider}:{id}), drops its
// debt, and lifts the block if this dispute set it and no other open or lost
// dispute of the wristband holds it (an operator's block made while the
// dispute was open cannot be told apart from the dispute's: the wristband has
// one blocked flag; README says to block again after a won dispute if needed).
// Lost keeps booking, debt and block. A dispute without a status is open.
import type { SqlDatabase } from '../sql/database.js'
import type { Logger } from 'pino'
import type { Clock } from '../../device-protocol/index.js'
import { LedgerRefusalError, accountIds, type Ledger } from '../ledger/index.js'
import { migrateGatewayDatabase } from '../migrations.js'
import type { Registry } from '../registry/index.js'
import { ProviderError, type PaymentProvider } from './provider.js'
import { STANCER_MAX_LIMIT, type StancerClient, type StancerDispute } from './stancer-client.js'
import { parseStancerWebhookEvent } from './stancer.js'

export type DisputeState = 'open' | 'won' | 'lost' | 'unmatched'

export type UnmatchedReason =
  /** order_id names none of our top-ups. */
  | 'unknown_order'
  /** The top-up is not a paid one of this provider. */
  | 'topup_not_paid'
  /** The dispute's payment is not the payment of the top-up's payment intent. */
  | 'payment_mismatch'
  | 'currency_mismatch'
  /** More than the top-up less its other disputes. */
  | 'amount_exceeds_topup'

export interface DisputeView {
  id: string
  provider: string
  payment: string
  orderId: string | null
  topupId: string | null
  uid: string | null
  amountCents: number
  currency: string
  state: DisputeState
  unmatchedReason: string | null
  providerStatus: string | null
  /** The card network's reason code and the dispute's type, as the provider gives them. */
  reasonCode: string | null
  type: string | null
  /** Taken off the wristband's balance (reversed when won). */
  bookedCents: number
  /** What the balance did not cover: owed by the guest while the dispute is open or lost. */
  openDebtCents: number
  bookingId: string | null
  reversalBookingId: string | null
  /** Whether this dispute holds the wristband's block. */
  blocksWristband: boolean
  /** When the provider created it (Unix seconds), when we first saw it and last changed it (ms). */
  providerCreated: number | null
  createdAt: number
  updatedAt: number
}

export interface DisputeAlert {
  kind: 'card_dispute'
  reason: 'opened' | 'unmatched' | 'won' | 'lost' | 'reopened'
  disputeId: string
  provider: string
  uid: string | null
  amountCents: number
  debtCents: number
  message: string
}

export interface PollResult {
  listed: number
  /** Disputes that changed something (new rows, resolutions). */
  changed: number
  /** Disputes that could not be recorded now (the provider failed): the high-water mark stays. */
  failed: number
}

export type DisputeClient = Pick<StancerClient, 'getDispute' | 'listDisputes' | 'getPaymentIntent' | 'getPayment'>

export interface DisputeServiceDeps {
  /** The ledger's own connection: row, booking and block share one SQLite transaction. */
  db: SqlDatabase
  ledger: Pick<Ledger, 'ensureAccount' | 'bookExternal' | 'balanceOf'> & {
    registry: Pick<Registry, 'wristbandBlocked' | 'setWristbandBlocked' | 'refreshKioskConfigs'>
  }
  client: DisputeClient
  /** The provider's name: our top-ups' `provider`, the clearing account's ref. */
  provider: string
  clock: Clock
  logger: Logger
  /** Republishes the retained configs (with the signed blocklist) of these kiosks. */
  publishKioskConfigs?: (kioskIds: readonly string[]) => Promise<void>
  alert?: (alert: DisputeAlert) => void
  /** Pages a poll lists at most (the next poll goes on from the high-water mark). */
  maxPages?: number
  pageLimit?: number
  /** Open disputes a poll asks about again, the least recently checked first. */
  recheckBatch?: number
  /** A first poll lists from the earliest top-up less this margin (clocks differ). */
  firstPollMarginSeconds?: number
}

export interface DisputeService {
  /** The one path: records a dispute read from the provider (matching, booking, blocking, resolution), once per id. */
  recordDispute(dispute: StancerDispute): Promise<DisputeView>
  /** A webhook named this object: asks the provider about it; never throws (the poller catches what fails here). */
  hint(object: { prefix: string; id: string }): Promise<void>
  /** One bounded poll: new disputes since the high-water mark, then the open ones again. */
  poll(): Promise<PollResult>
  /** poll() now and every intervalMs (unref'd timer) until stop(), which waits for a run in progress. */
  startPolling(intervalMs: number): { stop(): Promise<void> }
  /** The provider adapter with dispute hints taken from its webhooks before it reads them itself. */
  withWebhookHints(provider: PaymentProvider): PaymentProvider
  list(filter?: { state?: DisputeState; uid?: string }): DisputeView[]
  get(id: string): DisputeView | undefined
}

interface Row {
  provider: string
  id: string
  payment: string
  order_id: string | null
  topup_id: string | null
  uid: string | null
  amount: number
  currency: string
  state: DisputeState
  unmatched_reason: string | null
  provider_status: string | null
  reason_code: string | null
  type: string | null
  booked: number
  debt: number
  booking_id: string | null
  reversal_booking_id: string | null
  blocks_wristband: number
  provider_created: number | null
  created_at: number
  updated_at: number
  checked_at: number
}

interface TopupRow {
  id: string
  provider: string
  provider_checkout_id: string | null
  uid: string
  amount: number
  currency: string
  status: string
}

interface BandRow {
  blocked: number
  retired: string | null
  blocked_before_retired: number | null
  replaced_by: string | null
}

export const disputeRef = (provider: string, id: string) => `dispute:${provider}:${id}`
export const disputeWonRef = (provider: string, id: string) => `dispute-won:${provider}:${id}`
const MAX_LISTED = 10_000
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

type Outcome = { row: Row; changed: boolean; alerts: Array<DisputeAlert['reason']>; kiosksChanged: string[] }

const errorSummary = (err: unknown) => ({ name: (err as Error)?.name, message: String((err as Error)?.message ?? err).slice(0, 300) })
const isNotFound = (err: unknown) => err instanceof ProviderError && err.providerStatus === 404

/** open, won or lost as the provider says; no status (the seed has none) or another word: open. */
function reportedState(dispute: StancerDispute): 'open' | 'won' | 'lost' {
  return dispute.status === 'won' || dispute.status === 'lost' ? dispute.status : 'open'
}

function viewOf(row: Row): DisputeView {
  return {
    id: row.id,
    provider: row.provider,
    payment: row.payment,
    orderId: row.order_id,
    topupId: row.topup_id,
    uid: row.uid,
    amountCents: row.amount,
    currency: row.currency,
    state: row.state,
    unmatchedReason: row.unmatched_reason,
    providerStatus: row.provider_status,
    reasonCode: row.reason_code,
    type: row.type,
    bookedCents: row.booked,
    openDebtCents: row.state === 'open' || row.state === 'lost' ? row.debt : 0,
    bookingId: row.booking_id,
    reversalBookingId: row.reversal_booking_id,
    blocksWristband: row.blocks_wristband === 1,
    providerCreated: row.provider_created,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

export function createDisputeService(deps: DisputeServiceDeps): DisputeService {
  const { db, ledger, client, provider, clock } = deps
  const log = deps.logger.child({ component: 'disputes', provider })
  const maxPages = deps.maxPages ?? 10
  const pageLimit = deps.pageLimit ?? STANCER_MAX_LIMIT
  const recheckBatch = deps.recheckBatch ?? 50
  const firstPollMarginSeconds = deps.firstPollMarginSeconds ?? 86_400
  if (!Number.isInteger(maxPages) || maxPages < 1) throw new RangeError('maxPages must be a positive integer')
  migrateGatewayDatabase(db)

  const q = {
    row: db.prepare<[string, string], Row>(`SELECT * FROM disputes WHERE provider = ? AND id = ?`),
    insert: db.prepare(`
      INSERT INTO disputes (provider, id, payment, order_id, topup_id, uid, amount, currency, state, unmatched_reason, provider_status,
                            reason_code, type, provider_created, created_at, updated_at, checked_at)
      VALUES (@provider, @id, @payment, @orderId, @topupId, @uid, @amount, @currency, @state, @unmatchedReason, @providerStatus,
              @reasonCode, @type, @providerCreated, @createdAt, @now, @now)`),
    setEffect: db.prepare(`UPDATE disputes SET booked = ?, debt = ?, booking_id = ?, blocks_wristband = ? WHERE provider = ? AND id = ?`),
    setState: db.prepare(`UPDATE disputes SET state = ?, provider_status = ?, updated_at = ?, checked_at = ? WHERE provider = ? AND id = ?`),
    setReversal: db.prepare(`UPDATE disputes SET reversal_booking_id = ? WHERE provider = ? AND id = ?`),
    checked: db.prepare(`UPDATE disputes SET provider_status = ?, checked_at = ? WHERE provider = ? AND id = ?`),
    topup: db.prepare<[string], TopupRow>(`SELECT id, provider, provider_checkout_id, uid, amount, currency, status FROM online_topups WHERE id = ?`),
    // What other disputes already claim of a top-up (won ones gave theirs back).
    claimed: db.prepare<[string, string, string], { cents: number | null }>(
      `SELECT SUM(amount) AS cents FROM disputes WHERE topup_id = ? AND provider = ? AND id <> ? AND state IN ('open', 'lost')`,
    ),
    // Another open or lost dispute of this wristband whose block holds it.
    otherBlocking: db.prepare<[string, string, string], { one: number }>(
      `SELECT 1 AS one FROM disputes WHERE uid = ? AND NOT (provider = ? AND id = ?) AND state IN ('open', 'lost') AND blocks_wristband = 1 LIMIT 1`,
    ),
    band: db.prepare<[string], BandRow>(`SELECT blocked, retired, blocked_before_retired, replaced_by FROM wristbands WHERE uid = ?`),
    // A retired wristband is blocked while retired; restoring it sets `blocked` from blocked_before_retired.
    blockUnderRetirement: db.prepare(`UPDATE wristbands SET blocked_before_retired = ? WHERE uid = ? AND retired IS NOT NULL`),
    ofPayment: db.prepare<[string, string], Row>(`SELECT * FROM disputes WHERE provider = ? AND payment = ? AND state = 'open'`),
    // Open ones may be resolved; one that came before we knew its top-up was paid may match now.
    openToCheck: db.prepare<[string, number], Row>(
      `SELECT * FROM disputes WHERE provider = ? AND (state = 'open' OR (state = 'unmatched' AND unmatched_reason = 'topup_not_paid'))
        ORDER BY checked_at, created_at, id LIMIT ?`,
    ),
    forget: db.prepare(`DELETE FROM disputes WHERE provider = ? AND id = ?`),
    pollMark: db.prepare<[string], { created_since: number }>(`SELECT created_since FROM dispute_polls WHERE provider = ?`),
    setPollMark: db.prepare(`INSERT INTO dispute_polls (provider, created_since, polled_at) VALUES (?, ?, ?)
                             ON CONFLICT(provider) DO UPDATE SET created_since = excluded.created_since, polled_at = excluded.polled_at`),
    earliestTopup: db.prepare<[string], { at: number | null }>(`SELECT MIN(created_at) AS at FROM online_topups WHERE provider = ?`),
    all: db.prepare<[number], Row>(`SELECT * FROM disputes ORDER BY created_at DESC, provider DESC, id DESC LIMIT ?`),
  }

  function raiseAlert(row: Row, reason: DisputeAlert['reason']): void {
    const amount = `${row.amount} cents`
    const band = row.uid === null ? 'no wristband' : `wristband ${row.uid}`
    const words: Record<DisputeAlert['reason'], string> = {
      opened: `dispute ${row.id} of ${amount} on ${band}: blocked, ${row.booked} cents booked back${row.debt > 0 ? `, ${row.debt} cents open debt (the balance was lower)` : ''}`,
      unmatched: `dispute ${row.id} of ${amount} (order ${String(row.order_id).slice(0, 40)}) matches none of our paid top-ups (${row.unmatched_reason}): nothing booked, look at it`,
      won: `dispute ${row.id} on ${band} won: ${row.booked} cents booked back onto the wristband${row.blocks_wristband === 1 ? '' : ' (its block, not this dispute\'s, stays)'}`,
      lost: `dispute ${row.id} on ${band} lost: the booking${row.debt > 0 ? ` and ${row.debt} cents of open debt` : ''} and the block stay`,
      reopened: `dispute ${row.id} on ${band} was won and is now reported ${row.provider_status}: nothing booked again, look at it`,
    }
    const alert: DisputeAlert = { kind: 'card_dispute', reason, disputeId: row.id, provider: row.provider, uid: row.uid, amountCents: row.amount, debtCents: row.debt, message: words[reason] }
    log.warn({ alert }, 'card dispute')
    try {
      deps.alert?.(alert)
    } catch (err) {
      log.error({ err }, 'dispute alert callback failed')
    }
  }

  /** Whether the wristband is blocked for a reason that is not a dispute of ours, or by one. */
  function blockWristband(uid: string, disputeId: string): boolean {
    const band = q.band.get(uid)
    if (band === undefined) return false
    const heldByDispute = q.otherBlocking.get(uid, provider, disputeId) !== undefined
    if (band.retired !== null) {
      // Retired: keep it blocked when it is restored, unless it was blocked before anyway.
      if (band.blocked_before_retired === 1 && !heldByDispute) return false
      q.blockUnderRetirement.run(1, uid)
      return true
    }
    if (band.blocked === 1 && !heldByDispute) return false
    if (band.blocked === 0) ledger.registry.setWristbandBlocked(uid, true)
    return true
  }

  /** Lifts the block this dispute holds, unless another dispute holds it or a tag switch replaced the wristband. */
  function unblockWristband(row: Row): boolean {
    if (row.uid === null || row.blocks_wristband !== 1) return false
    if (q.otherBlocking.get(row.uid, provider, row.id) !== undefined) return false
    const band = q.band.get(row.uid)
    if (band === undefined || band.replaced_by !== null) return false
    if (band.retired !== null) {
      q.blockUnderRetirement.run(0, row.uid)
      return false
    }
    if (band.blocked === 1) ledger.registry.setWristbandBlocked(row.uid, false)
    return true
  }

  /** Books customer -> clearing what the balance covers; the rest is the open debt. */
  function bookDispute(row: Row, topup: TopupRow): { booked: number; debt: number; bookingId: string | null } {
    const balance = Math.max(0, ledger.balanceOf(topup.uid) ?? 0)
    const booked = Math.min(balance, row.amount)
    if (booked === 0) return { booked: 0, debt: row.amount, bookingId: null }
    try {
      const booking = ledger.bookExternal({
        ref: disputeRef(provider, row.id),
        kind: 'refund',
        postings: [
          { account: accountIds.customer(topup.uid), amount: -booked },
          { account: ledger.ensureAccount('clearing', provider), amount: booked },
        ],
        customerUid: topup.uid,
        meta: { dispute: row.id, provider, checkoutId: topup.id, disputedCents: row.amount },
      })
      return { booked, debt: row.amount - booked, bookingId: booking.id }
    } catch (err) {
      // A refusal (a payout run holds the balance, ...): nothing is taken, all of it is debt, the alert says so.
      if (!(err instanceof LedgerRefusalError)) throw err
      log.warn({ dispute: row.id, uid: topup.uid, code: err.code }, 'dispute not booked: the ledger refused; all of it is open debt')
      return { booked: 0, debt: row.amount, bookingId: null }
    }
  }

  function reverse(row: Row): string | null {
    if (row.booked === 0 || row.uid === null) return null
    const booking = ledger.bookExternal({
      ref: disputeWonRef(provider, row.id),
      kind: 'refund',
      postings: [
        { account: ledger.ensureAccount('clearing', provider), amount: -row.booked },
        { account: accountIds.customer(row.uid), amount: row.booked },
      ],
      customerUid: row.uid,
      meta: { dispute: row.id, provider, won: true },
    })
    return booking.id
  }

  type Match = { topup: TopupRow } | { reason: UnmatchedReason; topup?: TopupRow }

  /** Everything that needs the provider, before the transaction: the top-up's intent's payment. */
  async function match(dispute: StancerDispute): Promise<Match> {
    const topup = dispute.order_id !== null && UUID.test(dispute.order_id) ? q.topup.get(dispute.order_id) : undefined
    if (topup === undefined) return { reason: 'unknown_order' }
    if (topup.provider !== provider || topup.status !== 'paid' || topup.provider_checkout_id === null) return { reason: 'topup_not_paid', topup }
    if (dispute.currency.toUpperCase() !== topup.currency) return { reason: 'currency_mismatch', topup }
    const intent = await client.getPaymentIntent(topup.provider_checkout_id)
    if (intent.payment !== dispute.payment || intent.order_id !== topup.id) return { reason: 'payment_mismatch', topup }
    return { topup }
  }

  const recordTx = db.transaction((dispute: StancerDispute, matched: Match): Outcome => {
    const now = clock.now()
    const existing = q.row.get(provider, dispute.id)
    // It came before we had confirmed its top-up as paid (the top-up was pending): matched now, it is recorded as new.
    if (existing !== undefined && awaitsTopup(existing) && !('reason' in matched)) q.forget.run(provider, dispute.id)
    else if (existing !== undefined) return resolve(existing, dispute, now)
    const createdAt = existing?.created_at ?? now
    const state = reportedState(dispute)
    let unmatched = 'reason' in matched ? matched.reason : null
    const topup = matched.topup
    if (unmatched === null && topup !== undefined && dispute.amount > topup.amount - (q.claimed.get(topup.id, provider, dispute.id)?.cents ?? 0)) unmatched = 'amount_exceeds_topup'
    q.insert.run({
      provider,
      id: dispute.id,
      payment: dispute.payment,
      orderId: dispute.order_id,
      topupId: unmatched === null ? topup!.id : null,
      uid: unmatched === null ? topup!.uid : null,
      amount: dispute.amount,
      currency: dispute.currency.toUpperCase(),
      state: unmatched === null ? state : 'unmatched',
      unmatchedReason: unmatched,
      providerStatus: dispute.status,
      reasonCode: dispute.response,
      type: dispute.type,
      providerCreated: dispute.created,
      createdAt,
      now,
    })
    if (unmatched !== null) return { row: q.row.get(provider, dispute.id)!, changed: true, alerts: ['unmatched'], kiosksChanged: [] }
    // Seen for the first time already won: the provider gave the money back before we knew; nothing to do.
    if (state === 'won') return { row: q.row.get(provider, dispute.id)!, changed: true, alerts: [], kiosksChanged: [] }
    const fresh = q.row.get(provider, dispute.id)!
    const blocks = blockWristband(topup!.uid, dispute.id)
    const { booked, debt, bookingId } = bookDispute(fresh, topup!)
    q.setEffect.run(booked, debt, bookingId, blocks ? 1 : 0, provider, dispute.id)
    const kiosksChanged = ledger.registry.refreshKioskConfigs()
    return { row: q.row.get(provider, dispute.id)!, changed: true, alerts: state === 'lost' ? ['opened', 'lost'] : ['opened'], kiosksChanged }
  })

  /** A dispute we have: only a change of the provider's status does anything. */
  function resolve(row: Row, dispute: StancerDispute, now: number): Outcome {
    const same: Outcome = { row, changed: false, alerts: [], kiosksChanged: [] }
    if (row.state === 'unmatched') {
      q.checked.run(dispute.status, now, provider, row.id)
      return same
    }
    const state = reportedState(dispute)
    q.checked.run(dispute.status, now, provider, row.id)
    if (state === row.state) return same
    if (row.state === 'won') {
      // Never booked twice: what a won dispute gave back stays; an operator decides.
      return { row: q.row.get(provider, row.id)!, changed: false, alerts: ['reopened'], kiosksChanged: [] }
    }
    if (state === 'lost') {
      q.setState.run('lost', dispute.status, now, now, provider, row.id)
      return { row: q.row.get(provider, row.id)!, changed: true, alerts: ['lost'], kiosksChanged: [] }
    }
    if (state === 'won') {
      const reversal = reverse(row)
      if (reversal !== null) q.setReversal.run(reversal, provider, row.id)
      q.setState.run('won', dispute.status, now, now, provider, row.id)
      unblockWristband(row)
      return { row: q.row.get(provider, row.id)!, changed: true, alerts: ['won'], kiosksChanged: ledger.registry.refreshKioskConfigs() }
    }
    // Reported open again after lost: the booking and block are there already.
    q.setState.run('open', dispute.status, now, now, provider, row.id)
    return { row: q.row.get(provider, row.id)!, changed: true, alerts: [], kiosksChanged: [] }
  }

  /** One dispute at a time per id: a webhook and a poll seeing it together do the work once. */
  const recording = new Map<string, Promise<Outcome>>()

  function awaitsTopup(row: Row): boolean {
    return row.state === 'unmatched' && row.unmatched_reason === 'topup_not_paid'
  }

  async function record(dispute: StancerDispute): Promise<Outcome> {
    const running = recording.get(dispute.id)
    if (running !== undefined) await running.catch(() => {})
    const work = (async () => {
      // A dispute we have needs no provider call: matching is done once, when it is first seen.
      // (except one whose top-up was not paid yet when it came: it is matched again until it is).
      const known = q.row.get(provider, dispute.id)
      const matched: Match = known === undefined || awaitsTopup(known) ? await match(dispute) : { reason: 'unknown_order' }
      const outcome = recordTx.immediate(dispute, matched)
      for (const reason of outcome.alerts) raiseAlert(outcome.row, reason)
      if (outcome.kiosksChanged.length > 0 && deps.publishKioskConfigs !== undefined) {
        await deps.publishKioskConfigs(outcome.kiosksChanged).catch((err: unknown) => log.error({ err }, 'kiosk configs not published after a dispute'))
      }
      if (outcome.changed) log.info({ dispute: dispute.id, state: outcome.row.state, uid: outcome.row.uid, booked: outcome.row.booked, debt: outcome.row.debt }, 'dispute recorded')
      return outcome
    })()
    recording.set(dispute.id, work)
    try {
      return await work
    } finally {
      if (recording.get(dispute.id) === work) recording.delete(dispute.id)
    }
  }

  async function recordDispute(dispute: StancerDispute): Promise<DisputeView> {
    return viewOf((await record(dispute)).row)
  }

  /** Lists disputes created at or after `since`, at most maxPages pages; `complete` when the list ended. */
  async function listSince(since: number): Promise<{ items: StancerDispute[]; complete: boolean }> {
    const items: StancerDispute[] = []
    let start = 0
    for (let page = 0; page < maxPages; page += 1) {
      const { range, items: got } = await client.listDisputes({ created: since, start, limit: pageLimit })
      items.push(...got)
      if (!range.has_more) return { items, complete: true }
      if (got.length === 0) throw new ProviderError('stancer dispute list says it has more but sent an empty page')
      start += got.length
    }
    return { items, complete: false }
  }

  async function hintDispute(id: string): Promise<void> {
    let dispute: StancerDispute
    try {
      dispute = await client.getDispute(id)
    } catch (err) {
      if (isNotFound(err)) {
        // Forged, or another account's: reported, nothing booked.
        log.warn({ dispute: id }, 'a webhook named a dispute the provider does not know; nothing recorded')
        return
      }
      throw err
    }
    await record(dispute)
  }

  async function hintPayment(id: string): Promise<void> {
    let payment
    try {
      payment = await client.getPayment(id)
    } catch (err) {
      if (isNotFound(err)) {
        log.warn({ payment: id }, 'a webhook named a payment the provider does not know; nothing recorded')
        return
      }
      throw err
    }
    // The open disputes we know of it may be resolved (a won dispute puts the payment back to captured) ...
    for (const row of q.ofPayment.all(provider, id)) await record(await client.getDispute(row.id))
    // ... and a disputed payment has a dispute created after it.
    if (payment.status !== 'disputed') return
    const { items } = await listSince(payment.created ?? 0)
    for (const dispute of items.filter((d) => d.payment === id)) await record(dispute)
  }

  async function hint(object: { prefix: string; id: string }): Promise<void> {
    try {
      if (object.prefix === 'dspt') await hintDispute(object.id)
      else if (object.prefix === 'paym') await hintPayment(object.id)
    } catch (err) {
      log.warn({ err: errorSummary(err), object: object.id }, 'dispute hint not followed now; the poller will')
    }
  }

  let polling: Promise<PollResult> | undefined
  function poll(): Promise<PollResult> {
    polling ??= (async () => {
      const result: PollResult = { listed: 0, changed: 0, failed: 0 }
      const earliest = q.earliestTopup.get(provider)?.at
      const stored = q.pollMark.get(provider)?.created_since
      // Nothing topped up through this provider yet: no dispute can be ours.
      if (stored === undefined && (earliest === null || earliest === undefined)) return result
      const since = stored ?? Math.max(0, Math.floor(earliest! / 1000) - firstPollMarginSeconds)
      const { items } = await listSince(since)
      result.listed = items.length
      let mark = since
      for (const dispute of items) {
        try {
          if ((await record(dispute)).changed) result.changed += 1
          if (dispute.created !== null) mark = Math.max(mark, dispute.created)
        } catch (err) {
          result.failed += 1
          log.warn({ err: errorSummary(err), dispute: dispute.id }, 'dispute not recorded now; the next poll lists it again')
        }
      }
      // Only when all were recorded: `created >= mark` lists the last second again, which books nothing.
      if (result.failed === 0) q.setPollMark.run(provider, mark, clock.now())
      for (const row of q.openToCheck.all(provider, recheckBatch)) {
        try {
          if ((await record(await client.getDispute(row.id))).changed) result.changed += 1
        } catch (err) {
          q.checked.run(row.provider_status, clock.now(), provider, row.id)
          log.warn({ err: errorSummary(err), dispute: row.id }, 'open dispute not checked now')
        }
      }
      return result
    })().finally(() => {
      polling = undefined
    })
    return polling
  }

  function startPolling(intervalMs: number): { stop(): Promise<void> } {
    if (!Number.isFinite(intervalMs) || intervalMs < 1) throw new RangeError('intervalMs must be a positive number')
    const run = () => poll().catch((err: unknown) => log.warn({ err: errorSummary(err) }, 'dispute poll failed; trying again later'))
    void run()
    const timer = setInterval(() => void run(), intervalMs)
    timer.unref()
    return {
      async stop() {
        clearInterval(timer)
        await polling?.catch(() => {})
      },
    }
  }

  function withWebhookHints(inner: PaymentProvider): PaymentProvider {
    return {
      ...inner,
      async parseWebhook(rawBody, headers) {
        let object: { prefix: string; id: string } | undefined
        try {
          object = parseStancerWebhookEvent(rawBody).object
        } catch {
          // Malformed or ignored: the adapter says so itself below.
        }
        if (object !== undefined && (object.prefix === 'dspt' || object.prefix === 'paym')) await hint(object)
        return inner.parseWebhook(rawBody, headers)
      },
    }
  }

  return {
    recordDispute,
    hint,
    poll,
    startPolling,
    withWebhookHints,
    list(filter = {}) {
      return q.all
        .all(MAX_LISTED)
        .filter((row) => (filter.state === undefined || row.state === filter.state) && (filter.uid === undefined || row.uid === filter.uid))
        .map(viewOf)
    },
    get(id) {
      const row = typeof id === 'string' ? q.row.get(provider, id) : undefined
      return row === undefined ? undefined : viewOf(row)
    },
  }
}
