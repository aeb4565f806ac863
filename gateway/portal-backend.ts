// The customer portal's data access on the gateway: the PortalBackend of
// portal-api implemented on the ledger (wristbands, balances, orders,
// receipts) and on a few tables of its own in the same SQLite file (sessions,
// payout details, checkouts, blobs). The ledger stays the only writer of
// money; this module only records what the guest tells us for the payout run.
import { createHash, randomUUID } from 'node:crypto'
import type { SqlDatabase } from './sql/database.js'
import type { Logger } from 'pino'
import type { Clock } from '../device-protocol/index.js'
import {
  PortalError,
  checkCustomerInfo,
  portalApi,
  type CardRefundPortalService,
  type PayoutCheckPortalService,
  type CheckoutStatus,
  type CustomerInfoUpdate,
  type LoginRateLimit,
  type PortalBackend,
  type PortalBankTransfer,
  type PortalBlob,
  type PortalConfig,
  type PortalCustomer,
  type PortalLoginOutcome,
  type PortalOrder,
  type PortalOrderLine,
  type PortalOrderType,
  type PortalPaymentMethod,
  type PinAttemptLimiter,
  type TopupService,
} from '../portal-api/index.js'
import { accountIds, type CustomerOrder, type Ledger } from './ledger/index.js'
import type { Registry } from './registry/index.js'
import type { MountedPlugin } from './http.js'
import { createSecretStore } from './secret-store.js'
import { migrateGatewayDatabase } from './migrations.js'
import { createPayoutReads } from './payouts/reads.js'

/** What the portal reads from the ledger; the real Ledger has all of it. */
export type PortalLedger = Pick<Ledger, 'wristband' | 'customerOrders' | 'receipt'> & { registry: Pick<Registry, 'findWristbandByPin' | 'event' | 'portalTexts'> }

/** The event's portal settings; everything but the contact and the countries has a default. */
export interface PortalEventConfig {
  /** Upper-case ISO 3166 alpha-2 codes of IBANs accepted for payouts; null accepts any valid IBAN. */
  allowedCountryCodes: string[] | null
  contactEmail: string
  /** Defaults to the event name of the set-up. */
  eventName?: string
  nodeId?: number
  testMode?: boolean
  testModeMessage?: string
  dataPrivacyUrl?: string
  aboutPageUrl?: string
  payoutEnabled?: boolean
  topupEnabled?: boolean
  /** Defaults for languages the event set-up (`portal.translationTexts`, which wins) has no texts for. */
  translationTexts?: Record<string, Record<string, string>>
  bonLogoBlobId?: string | null
  feedbackUrl?: string | null
  bon?: Partial<PortalConfig['bon']>
  /** The tax contained in sale prices (prices are gross), for receipts. Default: none. */
  salesTax?: { name: string; rateBasisPoints: number; id?: number }
  minTopupCents?: number
  maxTopupCents?: number
}

export interface PortalBackendDeps {
  db: SqlDatabase
  ledger: PortalLedger
  clock: Clock
  logger: Logger
  eventConfig: PortalEventConfig
  topups: TopupService
  /** A guest's bank transfer details (gateway/bank/); undefined when the event takes no bank transfers. */
  bankTransfer?: (uid: string) => PortalBankTransfer | undefined
  /** Refunds to the card (gateway/payments/refund-http.ts); absent when no provider of the event can refund. */
  cardRefunds?: CardRefundPortalService
  /** SEPA checks of payout data (gateway/payments/sepa-checks.ts); absent when the event has none. */
  payoutCheck?: PayoutCheckPortalService
}

export interface GatewayPortalBackend extends PortalBackend {
  /** Stores a blob (the receipt logo) under a UUID; replaces an existing one. */
  putBlob(id: string, blob: PortalBlob): void
  /** Deletes sessions that expired before `beforeMs`; returns how many. */
  purgeSessions(beforeMs: number): number
}

/**
 * The HS256 key of portal tokens: the configured one, else one generated once
 * and kept in the database, so sessions survive a restart.
 */
export function portalAuthSecret(db: SqlDatabase, configured?: Uint8Array): Uint8Array {
  if (configured !== undefined) return configured
  return new Uint8Array(createSecretStore(db, 'portal_meta').bytes('auth_secret', 32))
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const NO_TAX = { name: 'none', rateBasisPoints: 0, id: 0 }

/** How each ledger kind shows in the seed's terms, and the line shown when it has no product lines. */
const KIND_VIEW: Record<string, { orderType: PortalOrderType; paymentMethod: PortalPaymentMethod; label: string }> = {
  sale: { orderType: 'sale', paymentMethod: 'tag', label: 'Sale' },
  return: { orderType: 'sale', paymentMethod: 'tag', label: 'Deposit return' },
  cancel: { orderType: 'cancel_sale', paymentMethod: 'tag', label: 'Sale cancelled' },
  cashout: { orderType: 'pay_out', paymentMethod: 'cash', label: 'Cash-out' },
  ticket: { orderType: 'ticket', paymentMethod: 'cash', label: 'Ticket' },
  tag_switch: { orderType: 'money_transfer', paymentMethod: 'tag', label: 'Balance moved from a lost wristband' },
  topup_cash: { orderType: 'top_up', paymentMethod: 'cash', label: 'Top-up (cash)' },
  topup_online: { orderType: 'top_up', paymentMethod: 'sumup_online', label: 'Top-up (online)' },
  topup_card: { orderType: 'top_up', paymentMethod: 'sumup', label: 'Top-up (card)' },
  prepaid_transfer: { orderType: 'top_up', paymentMethod: 'sumup_online', label: 'Top-up (prepaid)' },
  card_payment: { orderType: 'sale', paymentMethod: 'tag', label: 'Card terminal payment' },
  payout: { orderType: 'pay_out', paymentMethod: 'tag', label: 'Payout' },
  donation: { orderType: 'money_transfer', paymentMethod: 'tag', label: 'Donation' },
  refund: { orderType: 'cancel_sale', paymentMethod: 'tag', label: 'Money back on the wristband' },
}
const OTHER_KIND = { orderType: 'money_transfer', paymentMethod: 'tag', label: 'Booking' } as const
/**
 * Kinds in which the guest gets money back. The reference server signs an
 * order's total as what the guest pays in it: its pay-outs carry a negative
 * price, so do these (a deposit return's lines are negative already).
 */
const GUEST_RECEIVES = new Set(['return', 'cashout', 'payout', 'refund'])
/**
 * Refunds go both ways. One that puts money back on the wristband (a card
 * terminal payment undone, a card refund the bank refused, a payout the bank
 * returned) is a cancelled sale in the seed's terms: a negative total that adds
 * to the balance. One that takes money off the wristband to a card (a refund to
 * the card, a chargeback) is a pay-out: a negative total that takes from it.
 * Shown as a cancelled sale it would read as money coming back.
 */
const PAID_BACK_TO_CARD = { orderType: 'pay_out', paymentMethod: 'tag', label: 'Paid back to the card' } as const
const takesMoneyToCard = (order: CustomerOrder) => order.kind === 'refund' && order.customerDelta !== undefined && order.customerDelta < 0

const integerId = (text: string) => createHash('sha256').update(text, 'utf8').digest().readUIntBE(0, 6)

/** A stable integer id for a product of a booth (the seed's product ids are integers): 48 bits of a hash. */
export function productIntegerId(booth: string, product: string): number {
  return integerId(`product\u0000${booth}\u0000${product}`)
}

/**
 * A stable integer id of an order (the seed's order ids are integers): 48 bits
 * of a hash of its receipt id. Not a position in a list, which would shift when
 * two orders share a millisecond; not a counter, which would tell guests how
 * busy the event is. It reveals nothing of the receipt id.
 */
export function orderIntegerId(receiptId: string): number {
  return integerId(`order\u0000${receiptId}`)
}

type Nullable<T> = { [K in keyof T]: T[K] | null }

/** The session check's row (sessionCustomer): the session, the guest's portal row, the wristband and its balance. */
type SessionCheckRow = { session_uid: string; expires_at: number; revoked_at: number | null } & Nullable<CustomerRow> & { band_blocked: number | null; band_balance: number | null }

interface CustomerRow {
  id: number
  uid: string
  iban: string | null
  account_name: string | null
  email: string | null
  donation_cents: number
  donate_all: number
  has_entered_info: number
}

export function createPortalBackend(deps: PortalBackendDeps): GatewayPortalBackend {
  const { db, ledger, clock, topups } = deps
  const log = deps.logger.child({ component: 'portal-backend' })
  const ev = deps.eventConfig
  // The portal's tables (portal_*) come from the gateway database's migrations.
  migrateGatewayDatabase(db)

  const payouts = createPayoutReads(db)

  const q = {
    ensureCustomer: db.prepare(`INSERT INTO portal_customers (uid) VALUES (?) ON CONFLICT(uid) DO NOTHING`),
    customer: db.prepare<[string], CustomerRow>(`SELECT * FROM portal_customers WHERE uid = ?`),
    setInfo: db.prepare(`
      UPDATE portal_customers SET iban = @iban, account_name = @accountName, email = @email, donation_cents = @donationCents,
        donate_all = 0, has_entered_info = 1, updated_at = @now WHERE uid = @uid`),
    setDonateAll: db.prepare(`UPDATE portal_customers SET donate_all = 1, has_entered_info = 1, updated_at = ? WHERE uid = ?`),
    insertSession: db.prepare(`INSERT INTO portal_sessions (jti, uid, created_at, expires_at) VALUES (?, ?, ?, ?)`),
    session: db.prepare<[string], { session_uid: string; expires_at: number; revoked_at: number | null }>(
      `SELECT uid AS session_uid, expires_at, revoked_at FROM portal_sessions WHERE jti = ?`,
    ),
    // The check of every authenticated request in one statement (sessionCustomer below): the session, its
    // guest's portal row (columns null while the row is missing), and the token's wristband as the ledger's
    // wristband() finds it (registered and not retired, with its customer account): null when not.
    sessionCheck: db.prepare<[string, string, string], SessionCheckRow>(`
      SELECT s.uid AS session_uid, s.expires_at, s.revoked_at,
             c.id, c.uid, c.iban, c.account_name, c.email, c.donation_cents, c.donate_all, c.has_entered_info,
             w.blocked AS band_blocked, a.balance AS band_balance
      FROM portal_sessions s
      LEFT JOIN portal_customers c ON c.uid = s.uid
      LEFT JOIN wristbands w ON w.uid = ? AND w.retired IS NULL
      LEFT JOIN accounts a ON a.id = ?
      WHERE s.jti = ?`),
    revokeSession: db.prepare(`UPDATE portal_sessions SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL`),
    purgeSessions: db.prepare(`DELETE FROM portal_sessions WHERE expires_at < ?`),
    insertCheckout: db.prepare(`INSERT INTO portal_checkouts (order_uuid, uid, checkout_id, amount, created_at) VALUES (?, ?, ?, ?, ?)`),
    checkoutByOrder: db.prepare<[string], { uid: string; checkout_id: string }>(`SELECT uid, checkout_id FROM portal_checkouts WHERE order_uuid = ?`),
    checkoutById: db.prepare<[string], { uid: string; checkout_id: string }>(`SELECT uid, checkout_id FROM portal_checkouts WHERE checkout_id = ?`),
    blob: db.prepare<[string], { content_type: string; data: Buffer }>(`SELECT content_type, data FROM portal_blobs WHERE id = ?`),
    putBlob: db.prepare(`INSERT INTO portal_blobs (id, content_type, data) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET content_type = excluded.content_type, data = excluded.data`),
  }

  // Read first: the row exists for every guest after their first request, and an INSERT
  // (even one that changes nothing) is a write transaction on the ledger's database per request.
  function customerRow(uid: string): CustomerRow {
    const existing = q.customer.get(uid)
    if (existing !== undefined) return existing
    q.ensureCustomer.run(uid)
    return q.customer.get(uid)!
  }

  function config(): PortalConfig {
    const event = ledger.registry.event()
    const eventName = ev.eventName ?? event?.name ?? 'wristpay'
    return {
      nodeId: ev.nodeId ?? 1,
      testMode: ev.testMode ?? false,
      testModeMessage: ev.testModeMessage ?? '',
      eventName,
      dataPrivacyUrl: ev.dataPrivacyUrl ?? '',
      contactEmail: ev.contactEmail,
      aboutPageUrl: ev.aboutPageUrl ?? '',
      payoutEnabled: ev.payoutEnabled ?? true,
      currency: event?.currency ?? 'EUR',
      topupEnabled: ev.topupEnabled ?? true,
      allowedCountryCodes: ev.allowedCountryCodes === null ? null : ev.allowedCountryCodes.map((c) => c.toUpperCase()),
      // From the event set-up as the ledger holds it now: a reloaded set-up shows at once.
      translationTexts: { ...ev.translationTexts, ...ledger.registry.portalTexts() },
      bonLogoBlobId: ev.bonLogoBlobId ?? null,
      feedbackUrl: ev.feedbackUrl ?? null,
      bon: { title: ev.bon?.title ?? eventName, issuer: ev.bon?.issuer ?? eventName, address: ev.bon?.address ?? '', ustId: ev.bon?.ustId ?? '' },
      minTopupCents: ev.minTopupCents ?? 100,
      maxTopupCents: ev.maxTopupCents ?? 50_000,
    }
  }

  function customer(uid: string): PortalCustomer | undefined {
    const band = ledger.wristband(uid)
    if (band === undefined) return undefined
    return customerOf(band, customerRow(uid))
  }

  function customerOf(band: { uid: string; balance: number; blocked: boolean }, row: CustomerRow): PortalCustomer {
    return {
      id: row.id,
      uid: band.uid,
      balanceCents: band.balance,
      blocked: band.blocked,
      iban: row.iban,
      accountName: row.account_name,
      email: row.email,
      donationCents: row.donation_cents,
      donateAll: row.donate_all === 1,
      hasEnteredInfo: row.has_entered_info === 1,
    }
  }

  // The check of every authenticated portal request: session, portal row, wristband and balance read by one
  // statement, which is its own snapshot on either engine. It was a read transaction of three statements
  // (BEGIN, the session with the portal row, the registry's wristband, the store's balance, COMMIT): in a
  // profile of GET /api/customer their locks, transaction and statement steps were the largest part of the
  // route's own CPU. The wristband is read as the ledger's wristband() reads it (the session tests compare
  // the two). Only a guest's first request writes: the missing portal row, inserted only when missing (the
  // insert does nothing when another request made it first).
  function sessionCustomer(jti: string, uid: string, nowMs: number): PortalCustomer | undefined | 'session_ended' {
    const found = q.sessionCheck.get(uid, accountIds.customer(uid), jti)
    if (found === undefined || !isActive(found, uid, nowMs)) return 'session_ended'
    if (found.band_blocked === null || found.band_balance === null) return undefined
    const band = { uid, balance: found.band_balance, blocked: found.band_blocked === 1 }
    return customerOf(band, found.id === null ? customerRow(uid) : (found as CustomerRow))
  }

  function isActive(session: { session_uid: string; expires_at: number; revoked_at: number | null }, uid: string, nowMs: number): boolean {
    return session.session_uid === uid && session.revoked_at === null && session.expires_at > nowMs
  }

  function sessionActive(jti: string, uid: string, nowMs: number): boolean {
    const s = q.session.get(jti)
    return s !== undefined && isActive(s, uid, nowMs)
  }

  function toPortalOrder(order: CustomerOrder): PortalOrder {
    if (order.kind === 'cancel') return toPortalCancel(order)
    const view = takesMoneyToCard(order) ? PAID_BACK_TO_CARD : (KIND_VIEW[order.kind] ?? OTHER_KIND)
    const sign = GUEST_RECEIVES.has(order.kind) ? -1 : 1
    const tax = view.orderType === 'sale' && order.kind === 'sale' ? { ...NO_TAX, ...ev.salesTax } : NO_TAX
    const lines: PortalOrderLine[] =
      order.lines.length > 0
        ? order.lines.map((line, i) => ({
            itemId: i + 1,
            productId: productIntegerId(order.booth ?? '', line.product),
            productName: line.name,
            quantity: line.qty,
            unitPriceCents: line.unitPrice,
            // The rate booked with the line item where there is one; the event-wide rate for older sales.
            ...(line.taxRate !== undefined
              ? { taxRateBasisPoints: line.taxRate, taxName: line.taxRate === 0 ? NO_TAX.name : `${line.taxRate / 100} %`, taxRateId: line.taxRate }
              : { taxRateBasisPoints: tax.rateBasisPoints, taxName: tax.name, taxRateId: tax.id ?? 0 }),
          }))
        : // A top-up, payout or donation has no products: one line so the receipt adds up.
          [{ itemId: 1, productId: productIntegerId('', `kind:${order.kind}`), productName: view.label, quantity: 1, unitPriceCents: sign * order.amount, taxRateBasisPoints: 0, taxName: NO_TAX.name, taxRateId: NO_TAX.id }]
    return {
      id: orderIntegerId(order.receiptId),
      receiptId: order.receiptId,
      orderType: view.orderType,
      paymentMethod: view.paymentMethod,
      totalCents: sign * order.amount,
      bookedAtMs: order.bookedAt,
      lines,
    }
  }

  /**
   * A cancel as the reference server shows one: the cancelled order's lines
   * with their quantities negated and the negated total, so it reads as money
   * back, not as a second charge. A cancelled deposit return comes out positive.
   */
  function toPortalCancel(order: CustomerOrder): PortalOrder {
    const cancelled = order.cancels
    const original = toPortalOrder({ ...order, kind: cancelled?.kind ?? 'sale', lines: cancelled?.lines ?? [], cancels: undefined })
    return {
      id: orderIntegerId(order.receiptId),
      receiptId: order.receiptId,
      orderType: 'cancel_sale',
      paymentMethod: original.paymentMethod,
      totalCents: -original.totalCents,
      bookedAtMs: order.bookedAt,
      lines: original.lines.map((line) => ({ ...line, quantity: -line.quantity })),
      cancelsOrderId: cancelled === undefined ? null : orderIntegerId(cancelled.receiptId),
    }
  }

  /** The guest's orders, newest first. */
  function orders(uid: string): PortalOrder[] {
    return ledger.customerOrders(uid).map(toPortalOrder)
  }

  /** Wraps a payment provider failure: the guest gets a clear 502, the log gets the cause. */
  async function viaProvider<T>(what: string, uid: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (err) {
      if (err instanceof PortalError) throw err
      log.error({ err, uid }, `online top-up: ${what} failed`)
      throw new PortalError(502, 'payment_provider_error', 'the payment provider could not be reached; please try again')
    }
  }

  const updateInfoTx = db.transaction((uid: string, info: CustomerInfoUpdate, nowMs: number) => {
    const band = ledger.wristband(uid)
    if (band === undefined) throw new PortalError(404, 'unknown_customer', 'no such customer')
    // Read in the same transaction as the write: the balance the check saw is the one stored against.
    if (info.donationCents > band.balance)
      throw new PortalError(422, 'donation_exceeds_balance', `donation is more than the balance of ${band.balance / 100}`, 'donation')
    customerRow(uid)
    q.setInfo.run({ uid, iban: info.iban, accountName: info.accountName, email: info.email, donationCents: info.donationCents, now: nowMs })
  })

  return {
    findWristbandByPin: (pin) => ledger.registry.findWristbandByPin(pin),

    createSession(session) {
      q.insertSession.run(session.jti, session.uid, session.createdAtMs, session.expiresAtMs)
      // Keep the table small: sessions expired a day ago can go (a revoked one stays revoked by expiry anyway).
      q.purgeSessions.run(clock.now() - 24 * 60 * 60_000)
    },
    sessionActive,
    sessionCustomer,
    revokeSession(jti, nowMs) {
      q.revokeSession.run(nowMs, jti)
    },
    purgeSessions: (beforeMs) => q.purgeSessions.run(beforeMs).changes,

    customer,
    orders,

    updateCustomerInfo(uid, info) {
      // Checked again here (the plugin did too): nothing unchecked reaches the payout table, whoever calls.
      const checked = checkCustomerInfo(info, config().allowedCountryCodes)
      if (!checked.ok) {
        const first = checked.problems[0]!
        throw new PortalError(422, first.type, first.msg, first.field)
      }
      updateInfoTx.immediate(uid, checked.value, clock.now())
      // After the commit, and never in the way of the save: the check runs in the background.
      if (deps.payoutCheck) {
        try {
          deps.payoutCheck.saved(uid)
        } catch (err) {
          log.error({ err, uid }, 'payout data saved, but its SEPA check could not be queued (it is queued at the next start)')
        }
      }
    },

    donateAll(uid) {
      if (ledger.wristband(uid) === undefined) throw new PortalError(404, 'unknown_customer', 'no such customer')
      // Recorded for the payout run, not booked now: the wristband keeps working until the event ends.
      customerRow(uid)
      q.setDonateAll.run(clock.now(), uid)
    },

    // Payout runs (gateway/payouts/): in one from its creation, with the run's date (the export's once paid).
    payoutInfo: (uid) => payouts.payoutInfo(uid),
    // The payouts booked for the guest; the id is the payout booking's order id, as in the guest's orders list.
    payoutTransactions: (uid) =>
      payouts.payoutTransactions(uid).map((p) => ({
        transactionId: p.receiptId === null ? 0 : orderIntegerId(p.receiptId),
        amountCents: p.amountCents,
        bookedAtMs: p.bookedAtMs,
        targetAccountName: p.accountName,
        targetAccountType: 'sepa',
      })),

    bankTransfer(uid) {
      if (ledger.wristband(uid) === undefined) return undefined
      return deps.bankTransfer?.(uid)
    },

    ...(deps.cardRefunds ? { cardRefunds: deps.cardRefunds } : {}),
    ...(deps.payoutCheck ? { payoutCheck: deps.payoutCheck } : {}),

    config,
    // The configured node id: config() without its three reads of the event set-up.
    nodeId: () => ev.nodeId ?? 1,

    receipt(receiptId) {
      if (!UUID.test(receiptId)) return undefined
      const found = ledger.receipt(receiptId)
      if (found === undefined || found.customerUid === null) return undefined
      const uid = found.customerUid
      return { order: toPortalOrder(found), customer: { id: customerRow(uid).id, uid } }
    },

    blob(id) {
      const row = UUID.test(id) ? q.blob.get(id) : undefined
      return row === undefined ? undefined : { contentType: row.content_type, data: new Uint8Array(row.data) }
    },
    putBlob(id, blob) {
      if (!UUID.test(id)) throw new Error('blob id must be a lower-case UUID')
      q.putBlob.run(id, blob.contentType, Buffer.from(blob.data))
    },

    async createCheckout(uid, amountCents) {
      const band = ledger.wristband(uid)
      if (band === undefined) throw new PortalError(404, 'unknown_customer', 'no such customer')
      if (band.blocked) throw new PortalError(403, 'wristband_blocked', 'this wristband is blocked')
      if (!Number.isSafeInteger(amountCents) || amountCents <= 0) throw new PortalError(422, 'invalid_amount', 'amount must be positive', 'amount')
      const created = await viaProvider('create checkout', uid, () => topups.createCheckout({ uid, amountCents }))
      const orderUuid = randomUUID()
      q.insertCheckout.run(orderUuid, uid, created.checkoutId, amountCents, clock.now())
      return created.redirectUrl === undefined
        ? { orderUuid, checkoutId: created.checkoutId }
        : { orderUuid, checkoutId: created.checkoutId, redirectUrl: created.redirectUrl }
    },

    async checkCheckout(uid, ref): Promise<{ status: CheckoutStatus }> {
      const row = 'orderUuid' in ref ? q.checkoutByOrder.get(ref.orderUuid) : q.checkoutById.get(ref.checkoutId)
      // Another guest's checkout answers exactly like a missing one.
      if (row === undefined || row.uid !== uid) throw new PortalError(404, 'unknown_checkout', 'no such checkout')
      const { status } = await viaProvider('check checkout', uid, () => topups.checkCheckout({ uid, checkoutId: row.checkout_id }))
      return { status }
    },
  }
}

export interface PortalMountOptions {
  eventConfig: PortalEventConfig
  topups: TopupService
  /** Default '/api'. */
  prefix?: string
  /** Default: a key generated once and kept in the database. */
  authSecret?: Uint8Array
  tokenTtlS?: number
  rateLimit?: Partial<LoginRateLimit>
  bankTransfer?: (uid: string) => PortalBankTransfer | undefined
  cardRefunds?: CardRefundPortalService
  payoutCheck?: PayoutCheckPortalService
  /** Told how every login ended (the gateway's metrics). */
  observeLogin?: (outcome: PortalLoginOutcome) => void
}

/** The portal API as one of the gateway's HTTP plugins (for createGateway's `httpPlugins`). */
export function portalMount(
  parts: { ledger: PortalLedger; db: SqlDatabase; clock: Clock; logger: Logger; pinAttempts: PinAttemptLimiter },
  options: PortalMountOptions,
): MountedPlugin {
  const backend = createPortalBackend({ db: parts.db, ledger: parts.ledger, clock: parts.clock, logger: parts.logger, eventConfig: options.eventConfig, topups: options.topups, ...(options.bankTransfer ? { bankTransfer: options.bankTransfer } : {}), ...(options.cardRefunds ? { cardRefunds: options.cardRefunds } : {}), ...(options.payoutCheck ? { payoutCheck: options.payoutCheck } : {}) })
  return {
    plugin: portalApi,
    prefix: options.prefix ?? '/api',
    options: {
      backend,
      authSecret: portalAuthSecret(parts.db, options.authSecret),
      clock: parts.clock,
      logger: parts.logger,
      pinAttempts: parts.pinAttempts,
      ...(options.tokenTtlS === undefined ? {} : { tokenTtlS: options.tokenTtlS }),
      ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }),
      ...(options.observeLogin === undefined ? {} : { observeLogin: options.observeLogin }),
    },
  }
}
