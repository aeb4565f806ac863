// Online top-ups through a hosted-checkout payment provider, booked exactly once.
//
// A guest asks for a top-up; we record a checkout of ours (random id) in the
// `online_topups` table, create the provider's checkout with our id as its
// reference, and send the guest to the provider's page. Money is booked only
// when the provider itself says "paid" in answer to our GET (after the guest's
// poll, a webhook, or the periodic reconcile), never on the word of a browser or
// of an unsigned webhook. Booking and the row's move to 'paid' happen in one
// SQLite transaction on the ledger's connection, and the ledger's idempotency
// ref (`{provider}:{providerCheckoutId}`) is a second lock: a confirmation that
// arrives twice, concurrently or after a crash books nothing more.
import { randomUUID } from 'node:crypto'
import type { SqlDatabase } from '../sql/database.js'
import type { FastifyPluginAsync } from 'fastify'
import type { Logger } from 'pino'
import Type from 'typebox'
import type { Clock } from '../../device-protocol/index.js'
import { apiErrorHandler } from '../../portal-api/http-errors.js'
import { ErrorBody } from '../http.js'
import { LedgerRefusalError } from '../ledger/errors.js'
import { migrateGatewayDatabase } from '../migrations.js'
import { WebhookIgnoredError, WebhookVerificationError, type PaymentProvider, type ProviderCheckout } from './provider.js'

/** What this module needs of the ledger (gateway/ledger's Ledger has all of it). */
export interface TopupLedger {
  ensureAccount(kind: 'clearing', ref: string): string
  bookExternal(input: {
    ref: string
    kind: 'topup_online'
    postings: Array<{ account: string; amount: number }>
    customerUid?: string
    meta?: Record<string, string | number | boolean | null>
  }): { status: 'booked' | 'replay'; id: string; receiptId: string; bookedAt: number }
  wristband(uid: string): { uid: string; blocked: boolean; balance: number } | undefined
}

export type TopupRowStatus = 'creating' | 'pending' | 'paid' | 'failed' | 'attention'
export type GuestCheckoutStatus = 'PENDING' | 'PAID' | 'FAILED'

export interface OnlineTopupRecord {
  checkoutId: string
  provider: string
  providerCheckoutId: string | null
  uid: string
  amountCents: number
  currency: string
  status: TopupRowStatus
  bookingId: string | null
  attentionReason: string | null
  createdAt: number
  updatedAt: number
}

export interface OnlineTopupAlert {
  kind: 'online_topup_attention'
  reason: string
  checkoutId: string
  provider: string
  providerCheckoutId: string | null
  uid: string
  amountCents: number
}

export type OnlineTopupErrorCode =
  | 'invalid_amount'
  | 'amount_out_of_range'
  | 'unknown_tag'
  | 'tag_blocked'
  | 'not_found'
  | 'unknown_provider'
  | 'too_many_open_checkouts'
  | 'provider_unavailable'
  | 'invalid_webhook'

const STATUS_CODE: Record<OnlineTopupErrorCode, number> = {
  invalid_amount: 422,
  amount_out_of_range: 422,
  unknown_tag: 404,
  tag_blocked: 403,
  not_found: 404,
  unknown_provider: 404,
  too_many_open_checkouts: 429,
  provider_unavailable: 503,
  invalid_webhook: 400,
}

/** A refusal with a stable code and the HTTP status that fits it; the message names no secret. */
export class OnlineTopupError extends Error {
  override name = 'OnlineTopupError'
  readonly statusCode: number
  constructor(
    readonly code: OnlineTopupErrorCode,
    message: string,
  ) {
    super(message)
    this.statusCode = STATUS_CODE[code]
  }
}

export interface OnlineTopupsDeps {
  /** The ledger's own connection: the booking and the row update share one SQLite transaction. */
  db: SqlDatabase
  ledger: TopupLedger
  providers: Record<string, PaymentProvider>
  defaultProvider: string
  /** The event's currency (ISO 4217). */
  currency: string
  clock: Clock
  logger: Logger
  /** Where the provider sends the guest's browser back; `checkout_id={our id}` is added to its query. */
  returnUrlBase: string | (() => string)
  minAmountCents?: number
  maxAmountCents?: number
  /** Checkouts a wristband may have open (creating or pending) from the last hour; stops flooding the provider. */
  maxOpenCheckoutsPerUid?: number
  /** reconcilePending polls pending checkouts created within this window. */
  reconcileWindowMs?: number
  /** reconcilePending polls at most this many checkouts per run (the least recently checked first). */
  reconcileBatch?: number
  /** A checkout still 'creating' after this long lost its provider answer (a crash): an operator must look. */
  staleCreatingMs?: number
  description?: string
  /** Called for every checkout that needs an operator (the gateway publishes it on `events/alert`). */
  alert?: (alert: OnlineTopupAlert) => void
}

export interface OnlineTopups {
  createCheckout(input: { uid: string; amountCents: number }): Promise<{ checkoutId: string; redirectUrl: string; providerCheckoutId: string }>
  checkCheckout(input: { uid: string; checkoutId: string }): Promise<{ status: GuestCheckoutStatus }>
  handleWebhook(provider: string, rawBody: Buffer, headers: Record<string, string | string[] | undefined>): Promise<void>
  reconcilePending(): Promise<void>
  /** Runs reconcilePending every intervalMs (unref'd timer) until stop(), which waits for a run in progress. */
  startReconciling(intervalMs: number): { stop(): Promise<void> }
  /** POST /payments/webhooks/:provider with the raw body (mount with prefix ''). */
  webhookPlugin: FastifyPluginAsync
  checkout(checkoutId: string): OnlineTopupRecord | undefined
  needingAttention(): OnlineTopupRecord[]
}

interface Row {
  id: string
  provider: string
  provider_checkout_id: string | null
  uid: string
  amount: number
  currency: string
  status: TopupRowStatus
  redirect_url: string | null
  booking_id: string | null
  attention_reason: string | null
  created_at: number
  updated_at: number
  checked_at: number
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const PROVIDER_NAME = /^[a-z0-9_-]{1,32}$/
const HOUR_MS = 3_600_000

function recordOf(row: Row): OnlineTopupRecord {
  return {
    checkoutId: row.id,
    provider: row.provider,
    providerCheckoutId: row.provider_checkout_id,
    uid: row.uid,
    amountCents: row.amount,
    currency: row.currency,
    status: row.status,
    bookingId: row.booking_id,
    attentionReason: row.attention_reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

function guestStatus(status: TopupRowStatus): GuestCheckoutStatus {
  if (status === 'paid') return 'PAID'
  if (status === 'failed') return 'FAILED'
  // 'attention': the provider may have taken the money; an operator settles it, so it is not "failed".
  return 'PENDING'
}

/** The ledger's refusal code, or undefined for any other error. */
function refusalCode(err: unknown): string | undefined {
  return err instanceof LedgerRefusalError ? err.code : undefined
}

export function createOnlineTopups(deps: OnlineTopupsDeps): OnlineTopups {
  const { db, ledger, providers, clock, currency } = deps
  const log = deps.logger.child({ component: 'online-topups' })
  const minAmountCents = deps.minAmountCents ?? 100
  const maxAmountCents = deps.maxAmountCents ?? 50_000
  const maxOpen = deps.maxOpenCheckoutsPerUid ?? 5
  const reconcileWindowMs = deps.reconcileWindowMs ?? 48 * HOUR_MS
  const reconcileBatch = deps.reconcileBatch ?? 100
  const staleCreatingMs = deps.staleCreatingMs ?? 10 * 60_000
  const description = deps.description ?? 'Wristband top-up'
  if (!Number.isSafeInteger(minAmountCents) || !Number.isSafeInteger(maxAmountCents) || minAmountCents < 1 || maxAmountCents < minAmountCents)
    throw new RangeError('online top-up limits must be integers with 1 <= min <= max')
  if (!Object.hasOwn(providers, deps.defaultProvider)) throw new Error(`default provider '${deps.defaultProvider}' is not configured`)
  for (const [key, provider] of Object.entries(providers))
    // Rows and webhook routes name the provider by key; the ledger ref and clearing account by name.
    if (provider.name !== key || !PROVIDER_NAME.test(key)) throw new Error(`provider '${key}' must be registered under its own name`)
  // A function when the address is known only once the gateway listens (port 0).
  const returnUrlBase = (): URL => new URL(typeof deps.returnUrlBase === 'function' ? deps.returnUrlBase() : deps.returnUrlBase)
  if (typeof deps.returnUrlBase === 'string') returnUrlBase() // a malformed URL fails at start, not at the first top-up

  // online_topups comes from the gateway database's migrations.
  migrateGatewayDatabase(db)
  const q = {
    insert: db.prepare(`INSERT INTO online_topups (id, provider, uid, amount, currency, status, created_at, updated_at)
                        VALUES (@id, @provider, @uid, @amount, @currency, 'creating', @now, @now)`),
    created: db.prepare(`UPDATE online_topups SET provider_checkout_id = ?, redirect_url = ?, status = 'pending', updated_at = ?
                         WHERE id = ? AND status = 'creating'`),
    failCreating: db.prepare(`UPDATE online_topups SET status = 'failed', updated_at = ? WHERE id = ? AND status = 'creating'`),
    setStatus: db.prepare(`UPDATE online_topups SET status = ?, updated_at = ? WHERE id = ?`),
    setPaid: db.prepare(`UPDATE online_topups SET status = 'paid', booking_id = ?, updated_at = ? WHERE id = ?`),
    setAttention: db.prepare(`UPDATE online_topups SET status = 'attention', attention_reason = ?, updated_at = ? WHERE id = ?`),
    checked: db.prepare(`UPDATE online_topups SET checked_at = ? WHERE id = ?`),
    byId: db.prepare<[string], Row>(`SELECT * FROM online_topups WHERE id = ?`),
    byIdAndUid: db.prepare<[string, string], Row>(`SELECT * FROM online_topups WHERE id = ? AND uid = ?`),
    byProviderId: db.prepare<[string, string], Row>(`SELECT * FROM online_topups WHERE provider = ? AND provider_checkout_id = ?`),
    openCount: db.prepare<[string, number], { n: number }>(
      `SELECT COUNT(*) AS n FROM online_topups WHERE uid = ? AND status IN ('creating', 'pending') AND created_at >= ?`,
    ),
    pending: db.prepare<[number, number], Row>(
      `SELECT * FROM online_topups WHERE status = 'pending' AND created_at >= ? ORDER BY checked_at, created_at, id LIMIT ?`,
    ),
    staleCreating: db.prepare<[number], Row>(`SELECT * FROM online_topups WHERE status = 'creating' AND created_at < ?`),
    attention: db.prepare<[], Row>(`SELECT * FROM online_topups WHERE status = 'attention' ORDER BY updated_at, id`),
  }

  function raiseAlert(row: Row, reason: string): void {
    const alert: OnlineTopupAlert = {
      kind: 'online_topup_attention',
      reason,
      checkoutId: row.id,
      provider: row.provider,
      providerCheckoutId: row.provider_checkout_id,
      uid: row.uid,
      amountCents: row.amount,
    }
    log.error({ alert }, 'online top-up needs manual attention')
    try {
      deps.alert?.(alert)
    } catch (err) {
      log.error({ err }, 'online top-up alert callback failed')
    }
  }

  function providerOf(name: string): PaymentProvider {
    if (typeof name !== 'string' || !Object.hasOwn(providers, name)) throw new OnlineTopupError('unknown_provider', 'no such payment provider')
    return providers[name]!
  }

  type Settled = { alert?: string; booked?: boolean }

  /**
   * Applies what the provider reported, synchronously and in one IMMEDIATE transaction: the row is
   * re-read inside it, so whichever confirmation comes first books and every later one sees 'paid'.
   */
  const settleTx = db.transaction((checkoutId: string, reported: ProviderCheckout): Settled => {
    const row = q.byId.get(checkoutId)
    // 'failed' is re-checked too: should a provider ever turn a failed checkout into a paid one, the
    // guest's money must still land on the wristband.
    if (row === undefined || (row.status !== 'pending' && row.status !== 'failed')) return {}
    const now = clock.now()
    if (reported.reference !== row.id || reported.amountCents !== row.amount || reported.currency !== row.currency) {
      q.setAttention.run('provider_mismatch', now, row.id)
      return { alert: 'provider_mismatch' }
    }
    if (reported.status === 'pending' || (reported.status === 'failed' && row.status === 'failed')) return {}
    if (reported.status === 'failed') {
      q.setStatus.run('failed', now, row.id)
      return {}
    }
    try {
      const booking = ledger.bookExternal({
        ref: `${row.provider}:${row.provider_checkout_id}`,
        kind: 'topup_online',
        postings: [
          { account: ledger.ensureAccount('clearing', row.provider), amount: -row.amount },
          { account: `customer:${row.uid}`, amount: row.amount },
        ],
        customerUid: row.uid,
        meta: { checkoutId: row.id, provider: row.provider },
      })
      q.setPaid.run(booking.id, now, row.id)
      return { booked: booking.status === 'booked', ...(row.status === 'failed' ? { alert: 'paid_after_failed' } : {}) }
    } catch (err) {
      const code = refusalCode(err)
      // Anything else (a busy database, a bug) rolls back and the next confirmation tries again.
      if (code === undefined) throw err
      // The provider has the guest's money but the ledger refuses it (blocked wristband, ...): never
      // book it silently later, never drop it; an operator refunds or books it by hand.
      q.setAttention.run(`ledger_refused:${code}`, now, row.id)
      return { alert: `ledger_refused:${code}` }
    }
  })

  function settle(checkoutId: string, reported: ProviderCheckout): void {
    const { alert, booked } = settleTx.immediate(checkoutId, reported)
    const row = q.byId.get(checkoutId)!
    if (alert !== undefined) raiseAlert(row, alert)
    if (booked) log.info({ checkoutId, provider: row.provider, bookingId: row.booking_id, amount: row.amount }, 'online top-up booked')
  }

  /**
   * One provider GET per checkout at a time. A confirmation asked for while one is running may carry
   * newer news (a webhook sent after the running GET was answered), so it does not just share the
   * running GET: it makes the run ask once more, however many callers pile up meanwhile.
   */
  const confirming = new Map<string, { again: boolean; done: Promise<void> }>()

  function confirm(row: Row): Promise<void> {
    const running = confirming.get(row.id)
    if (running !== undefined) {
      running.again = true
      return running.done
    }
    const state = { again: false, done: Promise.resolve() }
    state.done = (async () => {
      const provider = providerOf(row.provider)
      do {
        state.again = false
        q.checked.run(clock.now(), row.id)
        const reported = await provider.getCheckout(row.provider_checkout_id!)
        settle(row.id, reported)
        const status = q.byId.get(row.id)!.status
        if (status !== 'pending' && status !== 'failed') break
      } while (state.again)
    })().finally(() => confirming.delete(row.id))
    confirming.set(row.id, state)
    return state.done
  }

  async function createCheckout({ uid, amountCents }: { uid: string; amountCents: number }) {
    if (typeof amountCents !== 'number' || !Number.isSafeInteger(amountCents) || amountCents <= 0)
      throw new OnlineTopupError('invalid_amount', 'amount must be a positive whole number of cents')
    if (amountCents < minAmountCents || amountCents > maxAmountCents)
      throw new OnlineTopupError('amount_out_of_range', `amount must be between ${minAmountCents} and ${maxAmountCents} cents`)
    const band = typeof uid === 'string' ? ledger.wristband(uid) : undefined
    if (band === undefined) throw new OnlineTopupError('unknown_tag', 'unknown wristband')
    if (band.blocked) throw new OnlineTopupError('tag_blocked', 'this wristband is blocked')
    const now = clock.now()
    if (q.openCount.get(uid, now - HOUR_MS)!.n >= maxOpen)
      throw new OnlineTopupError('too_many_open_checkouts', `at most ${maxOpen} open top-ups per hour; finish or wait for one`)

    const provider = providerOf(deps.defaultProvider)
    const checkoutId = randomUUID()
    q.insert.run({ id: checkoutId, provider: provider.name, uid, amount: amountCents, currency, now })
    const returnUrl = returnUrlBase()
    returnUrl.searchParams.set('checkout_id', checkoutId)
    let created: { providerCheckoutId: string; redirectUrl: string }
    try {
      created = await provider.createCheckout({ reference: checkoutId, amountCents, currency, description, returnUrl: returnUrl.href })
      if (q.created.run(created.providerCheckoutId, created.redirectUrl, clock.now(), checkoutId).changes !== 1)
        throw new Error('checkout row changed while the provider created it')
    } catch (err) {
      // The guest never got a payment page, so nothing can be paid on it: failed is the safe end
      // (unless reconcile already flagged the row for an operator while the provider was silent).
      q.failCreating.run(clock.now(), checkoutId)
      log.warn({ err: { name: (err as Error).name, message: (err as Error).message }, checkoutId, provider: provider.name }, 'provider checkout not created')
      throw new OnlineTopupError('provider_unavailable', 'the payment provider is not available; please try again later')
    }
    log.info({ checkoutId, provider: provider.name, providerCheckoutId: created.providerCheckoutId, amount: amountCents }, 'online top-up checkout created')
    return { checkoutId, redirectUrl: created.redirectUrl, providerCheckoutId: created.providerCheckoutId }
  }

  async function checkCheckout({ uid, checkoutId }: { uid: string; checkoutId: string }) {
    // Another guest's checkout is "not found", exactly like a made-up id.
    const row = typeof checkoutId === 'string' && typeof uid === 'string' && UUID.test(checkoutId) ? q.byIdAndUid.get(checkoutId, uid) : undefined
    if (row === undefined) throw new OnlineTopupError('not_found', 'no such checkout')
    if (row.status === 'pending') {
      try {
        await confirm(row)
      } catch (err) {
        // Provider down or slow: the guest sees PENDING and the reconcile loop tries again.
        log.warn({ err: { name: (err as Error).name, message: (err as Error).message }, checkoutId }, 'checkout status not confirmed')
      }
    }
    return { status: guestStatus(q.byId.get(row.id)!.status) }
  }

  async function handleWebhook(providerName: string, rawBody: Buffer, headers: Record<string, string | string[] | undefined>) {
    const provider = providerOf(providerName)
    let providerCheckoutId: string
    try {
      ;({ providerCheckoutId } = await provider.parseWebhook(rawBody, headers))
    } catch (err) {
      if (err instanceof WebhookIgnoredError) {
        log.debug({ provider: providerName, reason: err.message }, 'webhook ignored')
        return
      }
      if (!(err instanceof WebhookVerificationError)) log.warn({ err: { name: (err as Error).name }, provider: providerName }, 'webhook parser failed')
      log.warn({ provider: providerName, reason: (err as Error).message }, 'webhook refused')
      throw new OnlineTopupError('invalid_webhook', 'webhook refused')
    }
    const row = q.byProviderId.get(provider.name, providerCheckoutId)
    if (row === undefined) {
      // Not ours (or forged): acknowledge so the provider stops retrying; nothing changes.
      log.info({ provider: providerName }, 'webhook for an unknown checkout ignored')
      return
    }
    if (row.status !== 'pending' && row.status !== 'failed') return
    try {
      await confirm(row)
    } catch (err) {
      log.warn({ err: { name: (err as Error).name, message: (err as Error).message }, checkoutId: row.id }, 'webhook not confirmed with the provider')
      // A non-2xx answer makes the provider deliver the webhook again later.
      throw new OnlineTopupError('provider_unavailable', 'could not confirm the checkout with the provider')
    }
  }

  let reconciling: Promise<void> | undefined
  function reconcilePending(): Promise<void> {
    reconciling ??= (async () => {
      const now = clock.now()
      for (const row of q.staleCreating.all(now - staleCreatingMs)) {
        q.setAttention.run('create_unconfirmed', now, row.id)
        raiseAlert(row, 'create_unconfirmed')
      }
      // Sequential on purpose: a few hundred GETs every 30 s is nothing, a burst of them is rude.
      for (const row of q.pending.all(now - reconcileWindowMs, reconcileBatch)) {
        try {
          await confirm(row)
        } catch (err) {
          log.warn({ err: { name: (err as Error).name, message: (err as Error).message }, checkoutId: row.id }, 'reconcile: checkout not confirmed')
        }
      }
    })().finally(() => {
      reconciling = undefined
    })
    return reconciling
  }

  function startReconciling(intervalMs: number): { stop(): Promise<void> } {
    if (!Number.isFinite(intervalMs) || intervalMs < 1) throw new RangeError('intervalMs must be a positive number')
    const timer = setInterval(() => {
      // reconcilePending logs per checkout and never rejects on provider errors; this catches the rest.
      reconcilePending().catch((err: unknown) => log.error({ err }, 'reconcile run failed'))
    }, intervalMs)
    timer.unref()
    return {
      async stop() {
        clearInterval(timer)
        await reconciling?.catch(() => {})
      },
    }
  }

  const WebhookParams = Type.Object({ provider: Type.String({ pattern: PROVIDER_NAME.source }) }, { additionalProperties: false })
  const WebhookReply = Type.Object({ received: Type.Literal(true) }, { additionalProperties: false })

  const webhookPlugin: FastifyPluginAsync = async (scope) => {
    // Webhook signatures are over the exact bytes sent: keep the body raw, whatever its content type.
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))
    scope.setErrorHandler(
      apiErrorHandler({
        known: (error) => (error instanceof OnlineTopupError ? { status: error.statusCode, type: error.code, message: error.message } : undefined),
        validation: { status: 400, type: 'invalid_request' },
        clientType: () => 'bad_request',
        failureLog: 'webhook failed',
      }),
    )
    scope.post<{ Params: { provider: string } }>(
      '/payments/webhooks/:provider',
      {
        bodyLimit: 64 * 1024,
        schema: {
          summary: 'Payment provider webhook (raw body; signature checked by the provider adapter, status confirmed with the provider)',
          tags: ['payments'],
          params: WebhookParams,
          response: { 200: WebhookReply, 400: ErrorBody, 404: ErrorBody, 413: ErrorBody, 503: ErrorBody },
        },
      },
      async (request) => {
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
        await handleWebhook(request.params.provider, body, request.headers)
        return { received: true as const }
      },
    )
  }

  return {
    createCheckout,
    checkCheckout,
    handleWebhook,
    reconcilePending,
    startReconciling,
    webhookPlugin,
    checkout: (checkoutId) => {
      const row = typeof checkoutId === 'string' ? q.byId.get(checkoutId) : undefined
      return row === undefined ? undefined : recordOf(row)
    },
    needingAttention: () => q.attention.all().map(recordOf),
  }
}
