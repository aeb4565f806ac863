// The gateway's double-entry ledger on SQLite: a deterministic state machine
// that takes signature-verified envelopes in arrival order and answers each
// with a named result. Every decision and its postings are written in the same
// SQLite transaction as the kiosk's sequence cursor, so a crash can never book
// without advancing the cursor or the reverse.
import { createHash, randomUUID, type KeyObject } from 'node:crypto'
import type Database from 'better-sqlite3'
import type { Logger } from 'pino'
import {
  DEFAULT_MAX_RETURN_QTY,
  DEFAULT_OFFLINE_CAP_WINDOW_MS,
  GENESIS_HASH,
  canonicalBytes,
  cardPaymentRef,
  taxOfGross,
  publicKeyFromBase64Url,
  validateEnvelope,
  type Clock,
  type Envelope,
  type KioskConfig,
  type OfflinePolicy,
  type RejectReason,
  type TxResult,
} from '../../device-protocol/index.js'
import { DEFAULT_TRANSACTION_TIME, type EventSetup, type TransactionTime } from '../event-setup.js'
import type { PortalTranslationTexts } from '../event-setup.js'
import { createTagCheck, type TagCheckResult } from '../sun/tag-check.js'
import { enrollKioskKeyByAdmin, importKioskKeys, logKeyChange, type KeyChange } from './kiosk-keys.js'
import { applySetupRetirement, createRetirementControls, kiosksWithNewToken, logImportRetirement, type RetirementControls, type SetupRetirement } from './retirement.js'
import { configureLedgerConnection } from './db.js'
import { createExternalBookings } from './external.js'
import { createOrderReads } from './orders.js'
import { MIN_PIN_SECRET_BYTES, PIN_SECRET_BYTES, lookupsEqual, pinLookup, pinSecretFingerprint } from './pins.js'
import { CARD_TERMINAL_CLEARING, decide, type CancelTarget, type Decision, type OfflineRules } from './rules.js'
import { applyEffects, createOperationReads, type BalanceView, type DebtRecord, type ShiftReport } from './operations.js'
import { loadGatewayKeys, type GatewayKeys } from './gateway-keys.js'
import { createSecretStore } from '../secret-store.js'
import { createKioskConfigBuilder } from './kiosk-config.js'
import { importOperations } from './operations-import.js'
import { ticketPin } from './ticket-pin.js'
import { migrate } from './schema.js'
import { tokenMatches, hashToken } from './secrets.js'
import {
  accountIds,
  type CustomerOrder,
  type ExternalAccountKind,
  type ExternalBookingInput,
  type ExternalBookingRecord,
  type ExternalBookingResult,
  type KioskCursor,
  type Receipt,
  type WristbandInfo,
  type LedgerStats,
  type Outcome,
  type TransactionRecord,
  type VerifiedEnvelope,
} from './types.js'

export interface LedgerDeps {
  db: Database.Database
  clock: Clock
  logger: Logger
  /**
   * Key of the PIN lookups (HMAC-SHA256), at least 16 bytes; keep it outside
   * the database in production (a leaked database alone then reveals no PIN).
   * Without it the ledger generates one and keeps it in the database's meta
   * table, so restarts keep working.
   */
  pinSecret?: Buffer
}

export interface ImportSummary {
  booths: number
  products: number
  kiosks: number
  wristbands: number
  /** Kiosks whose config (catalog, flags, booth) changed: their retained config topic needs publishing. */
  configChanged: string[]
  /** What the import retired or restored (retirement.ts): retired kiosks and changed tokens lose their connection. */
  retirement: SetupRetirement
  /** Kiosk keys set, replaced or refused (kiosk-keys.ts: the admin API wins over the file). */
  keyChanges: KeyChange[]
}

export interface Ledger {
  /** Idempotent upsert of an event set-up. Throws (and changes nothing) if it conflicts with recorded history. */
  importEventSetup(setup: EventSetup): ImportSummary
  /** Sets (or replaces) a kiosk's Ed25519 public key; it wins over the event set-up's. Throws on an unknown kiosk or a malformed key. */
  enrollKiosk(kioskId: string, publicKeyBase64Url: string): void
  /** Retired kiosks and wristbands, and the operator's switch for them (the admin API). */
  readonly retirement: RetirementControls
  /** MQTT authentication of a kiosk: constant-time comparison of token hashes. */
  kioskAuth(kioskId: string, token: string): boolean
  kioskPublicKey(kioskId: string): KeyObject | undefined
  /** The retained config message of a kiosk. Throws on an unknown kiosk. */
  kioskConfig(kioskId: string): KioskConfig
  kioskIds(): string[]
  kioskCursor(kioskId: string): KioskCursor | undefined
  /** Whether `pin` is the wristband's PIN (case-insensitive; spaces and hyphens ignored). */
  verifyPin(uid: string, pin: string): boolean
  /** The uid of the wristband with this PIN, blocked or not; undefined for a malformed or unknown PIN. */
  findWristbandByPin(pin: string): string | undefined
  wristband(uid: string): WristbandInfo | undefined
  /** Blocks or unblocks a wristband (lost, stolen). Throws on an unknown uid. */
  setWristbandBlocked(uid: string, blocked: boolean): void
  /** Processes verified envelopes in order, all in one SQLite transaction. */
  applyBatch(items: readonly VerifiedEnvelope[]): Outcome[]
  balanceOf(uid: string): number | undefined
  /** Balance of any account by id, undefined if there is no such account. */
  accountBalance(accountId: string): number | undefined
  /** Opens a clearing, prepaid, donation or payout account if missing; returns its id. Throws LedgerRefusalError('invalid_account'). */
  ensureAccount(kind: ExternalAccountKind, ref: string): string
  /**
   * Books money that does not come from a kiosk, exactly once per `ref`, in one
   * SQLite transaction. Throws LedgerRefusalError (nothing booked) on a refusal.
   */
  bookExternal(input: ExternalBookingInput): ExternalBookingResult
  externalBooking(id: string): ExternalBookingRecord | undefined
  externalBookingByRef(ref: string): ExternalBookingRecord | undefined
  /** A wristband's accepted kiosk transactions and external bookings, newest first. */
  customerOrders(uid: string): CustomerOrder[]
  /** An order by its random receipt id, with the wristband it belongs to. */
  receipt(receiptId: string): Receipt | undefined
  transaction(id: string): TransactionRecord | undefined
  sumOfAllBalances(): number
  stats(): LedgerStats
  /** Violations of the ledger invariants, empty when all hold. */
  checkInvariants(): string[]
  event(): { name: string; currency: string } | undefined
  /** The portal's texts per language from the event set-up (`portal.translationTexts`); empty before any. */
  portalTexts(): PortalTranslationTexts
  /** Re-checks every kiosk's config and bumps the version of those that changed (blocklist, variants); returns their ids. */
  refreshKioskConfigs(): string[]
  /** What a kiosk shows on a balance check; undefined for an unknown wristband. */
  balanceView(uid: string): BalanceView | undefined
  /** Cash shifts, newest first, with their close-out figures. */
  shiftReports(): ShiftReport[]
  shiftReport(id: string): ShiftReport | undefined
  /** Offline sales that took wristbands below zero, and whether each wristband is still below. */
  debts(): DebtRecord[]
  /** The gateway's key for tag-switch PINs: ingest opens sealedPin with it before the ledger sees the envelope. */
  unsealPin(jwe: string): Promise<string | undefined>
  readonly gatewayKeys: Pick<GatewayKeys, 'signingPublicKey' | 'sealPublicKey'>
}

interface KioskRow {
  id: string
  booth: string
  token_hash: string
  public_key: string | null
  sale_allowed: number
  topup_allowed: number
  next_seq: number
  last_hash: string
  config_version: number
  config_hash: string
  profile: string | null
}

interface TxRow {
  id: string
  kiosk: string
  seq: number
  type: string
  tag: string
  amount: number
  status: 'accepted' | 'rejected'
  reason: string | null
  balance_after: number | null
  hash: string
  envelope: string
  booked_at: number
  booth: string
  receipt_id: string | null
  cancelled_by: string | null
  result_extras: string | null
}

const MAX_VIOLATIONS_PER_CHECK = 20

/**
 * The key of the PIN lookups: the configured one, else the one kept in the
 * database (generated on first use). Refuses a key other than the one the
 * stored lookups were made with, which would lock every guest out.
 */
function resolvePinSecret(db: Database.Database, configured: Buffer | undefined): Buffer {
  if (configured !== undefined && (!Buffer.isBuffer(configured) || configured.length < MIN_PIN_SECRET_BYTES))
    throw new Error(`pinSecret must be a Buffer of at least ${MIN_PIN_SECRET_BYTES} bytes`)
  const get = (key: string) => (db.prepare(`SELECT value FROM meta WHERE key = ?`).get(key) as { value: string } | undefined)?.value
  const set = (key: string, value: string) =>
    db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`).run(key, value)
  const secrets = createSecretStore(db, 'meta')
  // One transaction: a refusal below rolls back a secret generated on the way.
  return db.transaction((): Buffer => {
    const hasWristbands = db.prepare(`SELECT 1 FROM wristbands LIMIT 1`).get() !== undefined
    const storedFingerprint = get('pin_secret_fingerprint')
    let secret: Buffer
    if (configured !== undefined) {
      secret = configured
    } else {
      if (secrets.peekBytes('pin_secret') === undefined && storedFingerprint !== undefined && hasWristbands)
        throw new Error('the PINs of this ledger were stored with a configured pinSecret: configure it again')
      // A generated secret must land in the database, or a restart would lose every PIN.
      secret = secrets.bytes('pin_secret', PIN_SECRET_BYTES)
    }
    const fingerprint = pinSecretFingerprint(secret)
    if (storedFingerprint !== undefined && storedFingerprint !== fingerprint && hasWristbands)
      throw new Error('pinSecret differs from the one the stored PINs were made with: no guest could log in')
    // A configured secret never lands in the database.
    if (configured !== undefined) secrets.forget('pin_secret')
    set('pin_secret_fingerprint', fingerprint)
    return secret
  }).immediate()
}

export function createLedger({ db, clock, logger, pinSecret: configuredPinSecret }: LedgerDeps): Ledger {
  configureLedgerConnection(db)
  migrate(db)
  const pinSecret = resolvePinSecret(db, configuredPinSecret)
  const external = createExternalBookings({ db, clock, logger })
  const orders = createOrderReads(db)
  // Tag policy and NTAG 424 SUN checks (gateway/sun/): keys in memory, counters in this database.
  const tagCheck = createTagCheck({ db, logger })
  const keys = loadGatewayKeys(db)
  const configs = createKioskConfigBuilder(db, keys)
  const operations = createOperationReads(db)

  const q = {
    meta: db.prepare<[string], { value: string }>(`SELECT value FROM meta WHERE key = ?`),
    setMeta: db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`),
    txCount: db.prepare<[], { n: number }>(`SELECT COUNT(*) AS n FROM transactions`),
    upsertBooth: db.prepare(`INSERT INTO booths (id, name) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name`),
    ensureAccount: db.prepare(`INSERT INTO accounts (id, kind, ref) VALUES (?, ?, ?) ON CONFLICT(id) DO NOTHING`),
    deleteProducts: db.prepare(`DELETE FROM products`),
    insertProduct: db.prepare(`
      INSERT INTO products (booth, id, name, price, kind, fixed_price, tax_rate, voucher_eligible, restrictions, ticket_variant, max_return_qty)
      VALUES (@booth, @id, @name, @price, @kind, @fixedPrice, @taxRate, @voucherEligible, @restrictions, @ticketVariant, @maxReturnQty)`),
    maxReturnQty: db.prepare<[string, string], { max_return_qty: number | null }>(`SELECT max_return_qty FROM products WHERE booth = ? AND id = ?`),
    depositAccounts: db.prepare<[], { account: string; balance: number }>(`SELECT id AS account, balance FROM accounts WHERE kind = 'deposit' ORDER BY id`),
    // Offline sales the gateway booked from a kiosk since a time (its own clock): what the offline caps count.
    offlineSpentByKiosk: db.prepare<[string, number], { cents: number }>(
      `SELECT COALESCE(SUM(amount), 0) AS cents FROM transactions
       WHERE kiosk = ? AND offline = 1 AND status = 'accepted' AND type = 'sale' AND booked_at > ?`,
    ),
    offlineSpentByTag: db.prepare<[string, number, string], { cents: number }>(
      `SELECT COALESCE(SUM(amount), 0) AS cents FROM transactions
       WHERE kiosk = ? AND offline = 1 AND status = 'accepted' AND type = 'sale' AND booked_at > ? AND tag = ?`,
    ),
    upsertKiosk: db.prepare(`
      INSERT INTO kiosks (id, booth, token_hash, public_key, sale_allowed, topup_allowed, last_hash)
      VALUES (@id, @booth, @tokenHash, @publicKey, @saleAllowed, @topupAllowed, @genesis)
      ON CONFLICT(id) DO UPDATE SET
        booth = excluded.booth,
        token_hash = excluded.token_hash,
        public_key = COALESCE(excluded.public_key, kiosks.public_key),
        sale_allowed = excluded.sale_allowed,
        topup_allowed = excluded.topup_allowed`),
    // A retired kiosk (retirement.ts) is unknown to everything but the history.
    kiosk: db.prepare<[string], KioskRow>(`SELECT * FROM kiosks WHERE id = ? AND retired IS NULL`),
    kiosks: db.prepare<[], KioskRow>(`SELECT * FROM kiosks WHERE retired IS NULL ORDER BY id`),
    setKioskConfigVersion: db.prepare(`UPDATE kiosks SET config_version = ?, config_hash = ? WHERE id = ?`),
    advanceKiosk: db.prepare(`UPDATE kiosks SET next_seq = ?, last_hash = ? WHERE id = ? AND next_seq = ?`),
    // A retired wristband's PIN logs in nowhere; its account stays (retirement.ts).
    wristbandPin: db.prepare<[string], { pin_lookup: string }>(`SELECT pin_lookup FROM wristbands WHERE uid = ? AND retired IS NULL`),
    wristbandByPin: db.prepare<[string], { uid: string }>(`SELECT uid FROM wristbands WHERE pin_lookup = ? AND retired IS NULL`),
    // A PIN moving between wristbands in one import would hit the UNIQUE index midway: park changed ones first.
    parkPin: db.prepare(`UPDATE wristbands SET pin_lookup = 'moving:' || uid WHERE uid = ? AND pin_lookup != ? AND replaced_by IS NULL`),
    // Vouchers are granted once, when the wristband first comes in: a re-import must not hand out used ones again.
    upsertWristband: db.prepare(`
      INSERT INTO wristbands (uid, pin_lookup, blocked, account, variant, vouchers)
      VALUES (@uid, @pinLookup, COALESCE(@blocked, 0), @account, @variant, @vouchers)
      ON CONFLICT(uid) DO UPDATE SET
        -- A tag switch moved this wristband's PIN to its replacement and blocked it for good: the file's PIN and block do not undo that.
        pin_lookup = CASE WHEN wristbands.replaced_by IS NULL THEN excluded.pin_lookup ELSE wristbands.pin_lookup END,
        blocked = CASE WHEN wristbands.replaced_by IS NULL THEN COALESCE(@blocked, wristbands.blocked) ELSE 1 END,
        variant = excluded.variant`),
    setBlocked: db.prepare(`UPDATE wristbands SET blocked = ? WHERE uid = ?`),
    wristband: db.prepare<[string], { uid: string; blocked: number; balance: number; account: string; vouchers: number; variant: string | null }>(
      `SELECT w.uid, w.blocked, a.balance, w.account, w.vouchers, w.variant FROM wristbands w JOIN accounts a ON a.id = w.account WHERE w.uid = ? AND w.retired IS NULL`,
    ),
    openShift: db.prepare<[string], { id: string; register: string }>(`SELECT id, register FROM shifts WHERE kiosk = ? AND closed_by IS NULL`),
    registerExists: db.prepare<[string], { one: number }>(`SELECT 1 AS one FROM cash_registers WHERE id = ?`),
    registerBusy: db.prepare<[string], { one: number }>(`SELECT 1 AS one FROM shifts WHERE register = ? AND closed_by IS NULL`),
    lastCartOfKiosk: db.prepare<[string], { id: string }>(
      `SELECT id FROM transactions WHERE kiosk = ? AND status = 'accepted' AND type IN ('sale', 'return') ORDER BY seq DESC LIMIT 1`,
    ),
    insertLineItem: db.prepare(`
      INSERT INTO line_items (tx_id, line_no, product, name, kind, qty, unit_price, total, tax_rate, tax)
      VALUES (@txId, @lineNo, @product, @name, @kind, @qty, @unitPrice, @total, @taxRate, @tax)`),
    externalExists: db.prepare<[string], { one: number }>(`SELECT 1 AS one FROM external_bookings WHERE id = ?`),
    txById: db.prepare<[string], TxRow>(`SELECT * FROM transactions WHERE id = ?`),
    insertTx: db.prepare(`
      INSERT INTO transactions (id, kiosk, seq, type, tag, amount, status, reason, balance_after, hash, envelope, booked_at, booth, receipt_id, payment_ref, staff, result_extras, offline)
      VALUES (@id, @kiosk, @seq, @type, @tag, @amount, @status, @reason, @balanceAfter, @hash, @envelope, @bookedAt, @booth, @receiptId, @paymentRef, @staff, @resultExtras, @offline)`),
    paymentRefBooked: db.prepare<[string], { one: number }>(`SELECT 1 AS one FROM transactions WHERE payment_ref = ?`),
    insertPosting: db.prepare(`INSERT INTO postings (tx_id, account, amount) VALUES (?, ?, ?)`),
    addToBalance: db.prepare(`UPDATE accounts SET balance = balance + ? WHERE id = ?`),
    postingsOf: db.prepare<[string], { account: string; amount: number }>(
      `SELECT account, amount FROM postings WHERE tx_id = ? ORDER BY id`,
    ),
    balance: db.prepare<[string], { balance: number }>(`SELECT balance FROM accounts WHERE id = ?`),
    sumBalances: db.prepare<[], { total: number | null }>(`SELECT SUM(balance) AS total FROM accounts`),
    countsByStatus: db.prepare<[], { status: string; reason: string | null; n: number }>(
      `SELECT status, reason, COUNT(*) AS n FROM transactions GROUP BY status, reason`,
    ),
    externalCount: db.prepare<[], { n: number }>(`SELECT COUNT(*) AS n FROM external_bookings`),
    accountBalances: db.prepare<[], { kind: string; ref: string; balance: number }>(`SELECT kind, ref, balance FROM accounts ORDER BY id`),
  }

  const keyCache = new Map<string, KeyObject>()
  const retirementControls = createRetirementControls(db)
  const retirement: RetirementControls = {
    ...retirementControls,
    setKioskDisabled(kioskId, disabled) {
      const known = retirementControls.setKioskDisabled(kioskId, disabled)
      keyCache.delete(kioskId)
      if (known) logger.warn({ kiosk: kioskId, disabled }, disabled ? `kiosk ${kioskId} disabled by an operator` : `kiosk ${kioskId} enabled again by an operator`)
      return known
    },
    setWristbandDisabled(uid, disabled) {
      const known = retirementControls.setWristbandDisabled(uid, disabled)
      if (known) logger.warn({ uid, disabled, balance: q.balance.get(accountIds.customer(uid))?.balance }, disabled ? 'wristband disabled by an operator (its balance stays in its account)' : 'wristband enabled again by an operator')
      return known
    },
  }

  function event(): { name: string; currency: string } | undefined {
    const name = q.meta.get('event_name')?.value
    const currency = q.meta.get('currency')?.value
    return name === undefined || currency === undefined ? undefined : { name, currency }
  }

  function portalTexts(): PortalTranslationTexts {
    const stored = q.meta.get('portal_translation_texts')?.value
    return stored === undefined ? {} : (JSON.parse(stored) as PortalTranslationTexts)
  }

  /** Bumps the config version of every kiosk whose config content changed; returns their ids. */
  function refreshConfigVersions(): string[] {
    const changed: string[] = []
    for (const kiosk of q.kiosks.all()) {
      const hash = configs.contentHash(kiosk)
      if (hash !== kiosk.config_hash) {
        q.setKioskConfigVersion.run(kiosk.config_version + 1, hash, kiosk.id)
        changed.push(kiosk.id)
      }
    }
    return changed
  }

  const importTx = db.transaction((setup: EventSetup, pinLookups: Map<string, string>): ImportSummary => {
    const current = event()
    if (current !== undefined && current.currency !== setup.event.currency && q.txCount.get()!.n > 0)
      throw new Error(`event currency is ${current.currency} with transactions recorded; refusing to change it to ${setup.event.currency}`)
    q.setMeta.run('event_name', setup.event.name)
    q.setMeta.run('currency', setup.event.currency)
    // Replaced as a whole, like the catalog: texts removed from the file go from the portal too.
    q.setMeta.run('portal_translation_texts', JSON.stringify(setup.portal?.translationTexts ?? {}))
    for (const booth of setup.booths) {
      q.upsertBooth.run(booth.id, booth.name)
      q.ensureAccount.run(accountIds.revenue(booth.id), 'revenue', booth.id)
    }
    // The catalog is replaced as a whole: products live only in the set-up, history keeps each sale's lines.
    q.deleteProducts.run()
    for (const p of setup.products)
      q.insertProduct.run({
        booth: p.booth,
        id: p.id,
        name: p.name,
        price: p.price,
        kind: p.kind ?? 'item',
        fixedPrice: p.fixedPrice === false ? 0 : 1,
        taxRate: p.taxRate ?? 0,
        voucherEligible: p.voucherEligible ? 1 : 0,
        restrictions: JSON.stringify(p.restrictions ?? []),
        ticketVariant: p.ticketVariant ?? null,
        maxReturnQty: p.maxReturnQty ?? null,
      })
    const newTokens = kiosksWithNewToken(db, setup)
    for (const k of setup.kiosks) {
      q.upsertKiosk.run({
        id: k.id,
        booth: k.booth,
        tokenHash: hashToken(k.token),
        // Keys are set by importKioskKeys below, which knows whether an operator enrolled one since.
        publicKey: null,
        saleAllowed: k.saleAllowed ? 1 : 0,
        topupAllowed: k.topupAllowed ? 1 : 0,
        genesis: GENESIS_HASH,
      })
      q.ensureAccount.run(accountIds.cash(k.id), 'cash', k.id)
    }
    for (const w of setup.wristbands) q.parkPin.run(w.uid, pinLookups.get(w.uid)!)
    for (const w of setup.wristbands) {
      const account = accountIds.customer(w.uid)
      q.ensureAccount.run(account, 'customer', w.uid)
      try {
        q.upsertWristband.run({
          uid: w.uid,
          pinLookup: pinLookups.get(w.uid)!,
          // Omitted: keep what an operator set since.
          blocked: w.blocked === undefined ? null : w.blocked ? 1 : 0,
          account,
          variant: w.variant ?? null,
          vouchers: w.vouchers ?? 0,
        })
      } catch (err) {
        // Within one set-up parseEventSetup refuses duplicates; this is a wristband imported earlier and not in this file.
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE')
          throw new Error(`wristband ${w.uid}: its PIN is already the PIN of another wristband in the ledger`)
        throw err
      }
    }
    importOperations(db, setup)
    const retirement = applySetupRetirement(db, setup, newTokens)
    const keyChanges = importKioskKeys(db, setup)
    const configChanged = refreshConfigVersions()
    tagCheck.storePolicy(setup)
    return {
      booths: setup.booths.length,
      products: setup.products.length,
      kiosks: setup.kiosks.length,
      wristbands: setup.wristbands.length,
      configChanged,
      retirement,
      keyChanges,
    }
  })

  function importEventSetup(setup: EventSetup): ImportSummary {
    // The set-up was validated by parseEventSetup; a PIN that does not normalise here is refused all the same.
    const pinLookups = new Map<string, string>()
    for (const [i, w] of setup.wristbands.entries()) {
      const lookup = pinLookup(pinSecret, w.pin)
      if (lookup === undefined) throw new Error(`/wristbands/${i} PIN is not 8-32 characters of A-Z and 2-9 without I and O`)
      pinLookups.set(w.uid, lookup)
    }
    const summary = importTx.immediate(setup, pinLookups)
    tagCheck.activate(setup)
    keyCache.clear()
    offlineRulesCache = undefined
    timeLimitsCache = undefined
    logImportRetirement(logger, summary.retirement)
    for (const change of summary.keyChanges) logKeyChange(logger, change)
    logger.info(
      { booths: summary.booths, products: summary.products, kiosks: summary.kiosks, wristbands: summary.wristbands },
      'event set-up imported',
    )
    return summary
  }

  function enrollKiosk(kioskId: string, publicKeyBase64Url: string): void {
    if (q.kiosk.get(kioskId) === undefined) throw new Error(`unknown kiosk '${kioskId}'`)
    let key: KeyObject
    try {
      key = publicKeyFromBase64Url(publicKeyBase64Url)
    } catch {
      throw new Error(`kiosk '${kioskId}': public key is not a base64url Ed25519 key`)
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`kiosk '${kioskId}': public key is not Ed25519`)
    const change = enrollKioskKeyByAdmin(db, kioskId, publicKeyBase64Url)
    keyCache.set(kioskId, key)
    logKeyChange(logger, change)
  }

  function kioskAuth(kioskId: string, token: string): boolean {
    const row = q.kiosk.get(kioskId)
    // Unknown kiosk: compare against a hash that cannot match, so both paths cost the same.
    return tokenMatches(token, row?.token_hash ?? '0'.repeat(64)) && row !== undefined
  }

  function kioskPublicKey(kioskId: string): KeyObject | undefined {
    const cached = keyCache.get(kioskId)
    if (cached !== undefined) return cached
    const encoded = q.kiosk.get(kioskId)?.public_key
    if (encoded == null) return undefined
    try {
      const key = publicKeyFromBase64Url(encoded)
      keyCache.set(kioskId, key)
      return key
    } catch {
      logger.error({ kiosk: kioskId }, 'stored public key of kiosk is unusable')
      return undefined
    }
  }

  function kioskConfig(kioskId: string): KioskConfig {
    const kiosk = q.kiosk.get(kioskId)
    if (kiosk === undefined) throw new Error(`unknown kiosk '${kioskId}'`)
    return configs.build(kiosk, kiosk.config_version)
  }

  function kioskCursor(kioskId: string): KioskCursor | undefined {
    const kiosk = q.kiosk.get(kioskId)
    return kiosk === undefined ? undefined : { nextSeq: kiosk.next_seq, lastHash: kiosk.last_hash }
  }

  function verifyPin(uid: string, pin: string): boolean {
    if (typeof uid !== 'string') return false
    const presented = pinLookup(pinSecret, pin)
    const stored = q.wristbandPin.get(uid)?.pin_lookup
    return presented !== undefined && stored !== undefined && lookupsEqual(presented, stored)
  }

  function findWristbandByPin(pin: string): string | undefined {
    // The index is keyed by an HMAC the caller cannot choose, so the lookup's timing tells nothing about other PINs.
    const lookup = pinLookup(pinSecret, pin)
    return lookup === undefined ? undefined : q.wristbandByPin.get(lookup)?.uid
  }

  function wristband(uid: string): WristbandInfo | undefined {
    if (typeof uid !== 'string') return undefined
    const row = q.wristband.get(uid)
    return row === undefined ? undefined : { uid: row.uid, blocked: row.blocked === 1, balance: row.balance, account: row.account }
  }

  function setWristbandBlocked(uid: string, blocked: boolean): void {
    const changes = q.setBlocked.run(blocked ? 1 : 0, uid).changes
    if (changes === 0) throw new Error(`unknown wristband '${uid}'`)
    logger.info({ uid, blocked }, 'wristband block changed')
  }

  function resultOf(row: TxRow): TxResult {
    const result: TxResult = { kind: 'result', id: row.id, seq: row.seq, status: row.status }
    if (row.balance_after !== null) result.balance = row.balance_after
    if (row.reason !== null) result.reason = row.reason as RejectReason
    if (row.result_extras !== null) {
      const { newPin, ...extras } = JSON.parse(row.result_extras) as NonNullable<Extract<Decision, { status: 'accepted' }>['extras']>
      Object.assign(result, extras)
      // Derived, never stored: a resent ticket sale gets the same PIN again.
      if (newPin) result.pin = ticketPin(pinSecret, row.id)
    }
    return result
  }

  function cancelTarget(id: string): CancelTarget | undefined {
    const row = q.txById.get(id)
    if (row === undefined) return undefined
    const envelope = JSON.parse(row.envelope) as Envelope
    const extras = row.result_extras === null ? {} : (JSON.parse(row.result_extras) as { vouchersUsed?: number })
    return {
      id: row.id,
      kiosk: row.kiosk,
      type: row.type,
      tag: row.tag,
      amount: row.amount,
      at: envelope.tx.at,
      status: row.status,
      cancelled: row.cancelled_by !== null,
      isLast: q.lastCartOfKiosk.get(row.kiosk)?.id === row.id,
      postings: q.postingsOf.all(row.id),
      vouchersUsed: extras.vouchersUsed ?? 0,
    }
  }

  // Both are read for every transaction and change only with an import: kept parsed until then.
  let offlineRulesCache: OfflineRules | undefined
  let timeLimitsCache: TransactionTime | undefined
  const offlineRules = (): OfflineRules => (offlineRulesCache ??= readOfflineRules())
  const timeLimits = (): TransactionTime => (timeLimitsCache ??= readTimeLimits())

  /** The event's offline policy as the set-up gave it (none: no offline sales), with the cap window resolved. */
  function readOfflineRules(): OfflineRules {
    const stored = q.meta.get('offline_policy')?.value
    const policy = stored === undefined ? undefined : (JSON.parse(stored) as OfflinePolicy)
    return {
      allowed: policy?.allowed ?? false,
      perTagCapCents: policy?.perTagCapCents ?? 0,
      kioskTotalCapCents: policy?.kioskTotalCapCents ?? 0,
      capWindowMs: policy?.capWindowMs ?? DEFAULT_OFFLINE_CAP_WINDOW_MS,
    }
  }

  function readTimeLimits(): TransactionTime {
    const stored = q.meta.get('transaction_time')?.value
    return stored === undefined ? DEFAULT_TRANSACTION_TIME : (JSON.parse(stored) as TransactionTime)
  }

  /** A refusal that is not recorded: the kiosk's cursor does not move. */
  function unrecorded(envelope: Envelope, reason: RejectReason): Outcome {
    return {
      kind: 'result',
      result: { kind: 'result', id: envelope.tx.id, seq: envelope.tx.seq, status: 'rejected', reason },
      booked: false,
      recorded: false,
      replay: false,
    }
  }

  function applyOne({ envelope, pin, pinRefused }: VerifiedEnvelope): Outcome {
    // The ledger is the last line before money moves: re-check the shape even though ingest did.
    if (!validateEnvelope(envelope).ok) return unrecorded(envelope, 'invalid_transaction')
    const { tx } = envelope
    // Same bytes as envelopeHash(envelope), computed once: they are hashed and stored.
    const canonical = canonicalBytes(envelope)
    const hash = createHash('sha256').update(canonical).digest('hex')

    if (q.externalExists.get(tx.id) !== undefined) {
      // Postings of kiosk transactions and external bookings share tx_id: an id may belong to one of them only.
      logger.warn({ kiosk: tx.kiosk, id: tx.id }, 'transaction id is the id of an external booking')
      return unrecorded(envelope, 'invalid_transaction')
    }
    const existing = q.txById.get(tx.id)
    if (existing !== undefined) {
      if (existing.kiosk !== tx.kiosk) {
        // Another kiosk's id: never hand out that kiosk's answer (it holds a guest's balance).
        logger.warn({ kiosk: tx.kiosk, id: tx.id, owner: existing.kiosk }, 'transaction id already used by another kiosk')
        return unrecorded(envelope, 'invalid_transaction')
      }
      if (existing.hash !== hash)
        logger.warn({ kiosk: tx.kiosk, id: tx.id, seq: tx.seq }, 'resent transaction id with different content; answering with the first outcome')
      return { kind: 'result', result: resultOf(existing), booked: false, recorded: false, replay: true }
    }

    const kiosk = q.kiosk.get(tx.kiosk)
    if (kiosk === undefined) return unrecorded(envelope, 'unknown_kiosk')
    if (tx.seq < kiosk.next_seq) return unrecorded(envelope, 'seq_conflict')
    if (tx.seq > kiosk.next_seq) return { kind: 'gap', kioskId: kiosk.id, fromSeq: kiosk.next_seq }

    let decision: Decision
    // One reading of the gateway's clock: the time checks, the offline cap window and booked_at agree.
    const now = clock.now()
    // The event's tag policy and a secure wristband's SUN (gateway/sun/tag-check.ts), on an intact chain only.
    const tag: TagCheckResult = tx.prev === kiosk.last_hash ? tagCheck.check(tx) : { ok: true }
    if (tx.prev !== kiosk.last_hash) {
      // Recorded, and the chain continues from this envelope: the kiosk's history
      // is what it signed, and an operator is alerted to look at the break.
      decision = { status: 'rejected', reason: 'chain_mismatch' }
    } else if (!tag.ok) {
      decision = { status: 'rejected', reason: tag.reason }
    } else {
      const facts = (uid: string) => {
        const band = q.wristband.get(uid)
        return band === undefined ? undefined : { blocked: band.blocked === 1, balance: band.balance, vouchers: band.vouchers, variant: band.variant }
      }
      const staffRoles = configs.staffRoles()
      const offlinePolicy = offlineRules()
      decision = decide({
        tx,
        kiosk: { id: kiosk.id, booth: kiosk.booth, profile: configs.profileOf(kiosk) },
        now,
        timeLimits: timeLimits(),
        offlinePolicy,
        offlineSpent: () => {
          const since = now - offlinePolicy.capWindowMs
          return {
            tagCents: q.offlineSpentByTag.get(kiosk.id, since, tx.tag.uid)!.cents,
            kioskCents: q.offlineSpentByKiosk.get(kiosk.id, since)!.cents,
          }
        },
        depositAccounts: () => q.depositAccounts.all(),
        maxReturnQty: (booth, productId) => q.maxReturnQty.get(booth, productId)?.max_return_qty ?? DEFAULT_MAX_RETURN_QTY,
        wristband: facts(tx.tag.uid),
        product: configs.product,
        cardPaymentBooked: (ref) => q.paymentRefBooked.get(ref) !== undefined,
        ...(staffRoles === undefined ? {} : { staffRoles }),
        openShift: () => q.openShift.get(kiosk.id),
        registerExists: (register) => q.registerExists.get(register) !== undefined,
        registerBusy: (register) => q.registerBusy.get(register) !== undefined,
        accountBalance: (account) => q.balance.get(account)?.balance ?? 0,
        cancelTarget,
        ...(pinRefused === true ? { pinRefused: true } : {}),
        wristbandByPin: () => {
          const uid = pin === undefined ? undefined : findWristbandByPin(pin)
          const found = uid === undefined ? undefined : facts(uid)
          return uid === undefined || found === undefined ? undefined : { uid, facts: found }
        },
      })
    }

    const balanceAfter = decision.status === 'accepted' ? decision.balanceAfter : decision.balance
    const row: TxRow = {
      id: tx.id,
      kiosk: kiosk.id,
      seq: tx.seq,
      type: tx.type,
      tag: tx.tag.uid,
      amount: tx.amount,
      status: decision.status,
      reason: decision.status === 'rejected' ? decision.reason : null,
      balance_after: balanceAfter ?? null,
      hash,
      envelope: canonical.toString('utf8'),
      booked_at: now,
      booth: kiosk.booth,
      // Random, never derived from the transaction: knowing one receipt tells nothing about another.
      receipt_id: decision.status === 'accepted' ? randomUUID() : null,
      cancelled_by: null,
      result_extras: decision.status === 'accepted' && decision.extras !== undefined ? JSON.stringify(decision.extras) : null,
    }
    q.insertTx.run({
      id: row.id,
      kiosk: row.kiosk,
      seq: row.seq,
      type: row.type,
      tag: row.tag,
      amount: row.amount,
      status: row.status,
      reason: row.reason,
      balanceAfter: row.balance_after,
      hash: row.hash,
      envelope: row.envelope,
      bookedAt: row.booked_at,
      booth: row.booth,
      receiptId: row.receipt_id,
      // Only a booked card payment holds its reference (UNIQUE): a refused one must not block the real one.
      paymentRef: decision.status === 'accepted' && tx.payment !== undefined ? cardPaymentRef(tx.payment) : null,
      staff: tx.staff ?? null,
      resultExtras: row.result_extras,
      offline: tx.offline === true ? 1 : 0,
    })
    let applied: ReturnType<typeof applyEffects> = { alerts: [], configsChanged: false }
    if (decision.status === 'accepted') {
      if (tx.type === 'topup_card') q.ensureAccount.run(accountIds.clearing(CARD_TERMINAL_CLEARING), 'clearing', CARD_TERMINAL_CLEARING)
      const sum = decision.postings.reduce((s, p) => s + p.amount, 0)
      // Unreachable by construction; throwing rolls the whole batch back rather than book unbalanced.
      if (sum !== 0) throw new Error(`unbalanced postings for ${tx.id}`)
      // A ticket's or tag switch's wristband (and its account) must exist before postings name it.
      applied = applyEffects(db, { tx, kioskId: kiosk.id, now: row.booked_at, effects: decision.effects, ticketPinLookup: () => pinLookup(pinSecret, ticketPin(pinSecret, tx.id))! }, 'before')
      for (const p of decision.postings) {
        q.insertPosting.run(tx.id, p.account, p.amount)
        q.addToBalance.run(p.amount, p.account)
      }
      const after = applyEffects(db, { tx, kioskId: kiosk.id, now: row.booked_at, effects: decision.effects, ticketPinLookup: () => '' }, 'after')
      applied = { alerts: [...applied.alerts, ...after.alerts], configsChanged: applied.configsChanged || after.configsChanged }
      decision.lines?.forEach((line, lineNo) =>
        q.insertLineItem.run({
          txId: tx.id,
          lineNo,
          product: line.product,
          name: line.name,
          kind: line.kind,
          qty: line.qty,
          unitPrice: line.unitPrice,
          total: line.total,
          taxRate: line.taxRate,
          tax: taxOfGross(line.total, line.taxRate),
        }),
      )
    }
    // The SUN was used by this recorded transaction, accepted or not: the same one is never good again.
    if (tag.ok && tag.counter !== undefined) tagCheck.record(tx.tag.uid, tag.counter)
    const moved = q.advanceKiosk.run(tx.seq + 1, hash, kiosk.id, tx.seq).changes
    if (moved !== 1) throw new Error(`kiosk ${kiosk.id} cursor moved under us at seq ${tx.seq}`)
    const outcome: Outcome = { kind: 'result', result: resultOf(row), booked: decision.status === 'accepted', recorded: true, replay: false }
    if (decision.status === 'rejected' && decision.alert !== undefined) applied.alerts.push(decision.alert)
    if (applied.alerts.length > 0) outcome.alerts = applied.alerts
    if (applied.configsChanged) outcome.configsChanged = true
    return outcome
  }

  const applyBatchTx = db.transaction((items: readonly VerifiedEnvelope[]) => items.map(applyOne))

  function applyBatch(items: readonly VerifiedEnvelope[]): Outcome[] {
    if (items.length === 0) return []
    // IMMEDIATE: take the write lock up front so a reader connection never makes the upgrade fail midway.
    return applyBatchTx.immediate(items)
  }

  function balanceOf(uid: string): number | undefined {
    return q.balance.get(accountIds.customer(uid))?.balance
  }

  function transaction(id: string): TransactionRecord | undefined {
    const row = q.txById.get(id)
    if (row === undefined) return undefined
    const record: TransactionRecord = {
      id: row.id,
      kiosk: row.kiosk,
      seq: row.seq,
      type: row.type,
      tag: row.tag,
      amount: row.amount,
      status: row.status,
      hash: row.hash,
      envelope: JSON.parse(row.envelope) as Envelope,
      bookedAt: row.booked_at,
      booth: row.booth,
      postings: q.postingsOf.all(row.id),
    }
    if (row.receipt_id !== null) record.receiptId = row.receipt_id
    if (row.reason !== null) record.reason = row.reason as RejectReason
    if (row.balance_after !== null) record.balanceAfter = row.balance_after
    return record
  }

  function sumOfAllBalances(): number {
    return q.sumBalances.get()?.total ?? 0
  }

  function stats(): LedgerStats {
    const byStatus = q.countsByStatus.all()
    const result: LedgerStats = {
      accepted: 0,
      rejected: 0,
      rejectedByReason: {},
      revenueByBooth: {},
      cashByKiosk: {},
      cashByRegister: {},
      depositsByBooth: {},
      openDebts: { count: 0, cents: 0 },
      customerBalances: 0,
      balancesByKind: {},
      externalBookings: q.externalCount.get()!.n,
    }
    for (const r of byStatus) {
      if (r.status === 'accepted') result.accepted += r.n
      else {
        result.rejected += r.n
        result.rejectedByReason[r.reason ?? 'unknown'] = r.n
      }
    }
    const accounts = q.accountBalances.all()
    for (const a of accounts) {
      result.balancesByKind[a.kind] = (result.balancesByKind[a.kind] ?? 0) + a.balance
      if (a.kind === 'revenue') result.revenueByBooth[a.ref] = a.balance
      // The cash account is the contra side of cash top-ups: cash taken in is its negated balance.
      else if (a.kind === 'cash') result.cashByKiosk[a.ref] = -a.balance
      else if (a.kind === 'register') result.cashByRegister[a.ref] = -a.balance
      else if (a.kind === 'deposit') result.depositsByBooth[a.ref] = a.balance
      else if (a.kind === 'customer') {
        result.customerBalances += a.balance
        if (a.balance < 0) {
          result.openDebts.count += 1
          result.openDebts.cents -= a.balance
        }
      }
    }
    return result
  }

  function checkInvariants(): string[] {
    const violations: string[] = []
    const lim = MAX_VIOLATIONS_PER_CHECK
    for (const r of db
      .prepare<[], { tx_id: string; s: number }>(`SELECT tx_id, SUM(amount) AS s FROM postings GROUP BY tx_id HAVING s != 0 LIMIT ${lim}`)
      .all())
      violations.push(`postings of ${r.tx_id} sum to ${r.s}, not 0`)
    for (const r of db
      .prepare<[], { id: string; balance: number; s: number }>(
        `SELECT a.id, a.balance, COALESCE(SUM(p.amount), 0) AS s FROM accounts a LEFT JOIN postings p ON p.account = a.id
         GROUP BY a.id HAVING a.balance != s LIMIT ${lim}`,
      )
      .all())
      violations.push(`account ${r.id} has balance ${r.balance} but its postings sum to ${r.s}`)
    const total = sumOfAllBalances()
    if (total !== 0) violations.push(`sum of all balances is ${total}, not 0`)
    for (const r of db
      .prepare<[], { id: string; kind: string; balance: number }>(
        // A customer account may be below zero only through offline sales, each flagged as a debt.
        `SELECT id, kind, balance FROM accounts a WHERE kind IN ('customer', 'prepaid') AND balance < 0
           AND NOT (kind = 'customer' AND EXISTS (SELECT 1 FROM debts d WHERE d.uid = a.ref)) LIMIT ${lim}`,
      )
      .all())
      violations.push(`${r.kind} account ${r.id} is negative (${r.balance})`)
    // Deposits paid back never exceed deposits taken, at any booth (rules.ts depositPostings).
    for (const r of db
      .prepare<[], { id: string; balance: number }>(`SELECT id, balance FROM accounts WHERE kind = 'deposit' AND balance < 0 LIMIT ${lim}`)
      .all())
      violations.push(`deposit account ${r.id} is negative (${r.balance}): more deposits paid back than taken`)
    for (const r of db
      .prepare<[], { tx_id: string; n: number }>(
        `SELECT p.tx_id, COUNT(*) AS n FROM postings p
         WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.id = p.tx_id)
           AND NOT EXISTS (SELECT 1 FROM external_bookings e WHERE e.id = p.tx_id)
         GROUP BY p.tx_id LIMIT ${lim}`,
      )
      .all())
      violations.push(`${r.n} postings of ${r.tx_id}, which is neither a kiosk transaction nor an external booking`)
    for (const r of db
      .prepare<[], { id: string }>(`SELECT t.id FROM transactions t JOIN external_bookings e ON e.id = t.id LIMIT ${lim}`)
      .all())
      violations.push(`${r.id} is both a kiosk transaction and an external booking`)
    for (const r of db
      .prepare<[], { id: string; amount: number; c: number; pos: number }>(
        `SELECT e.id, e.amount, COUNT(p.id) AS c, COALESCE(SUM(CASE WHEN p.amount > 0 THEN p.amount ELSE 0 END), 0) AS pos
         FROM external_bookings e LEFT JOIN postings p ON p.tx_id = e.id GROUP BY e.id
         HAVING c < 2 OR pos != e.amount LIMIT ${lim}`,
      )
      .all())
      violations.push(`external booking ${r.id} has ${r.c} postings moving ${r.pos}, recorded amount ${r.amount}`)
    for (const r of db
      .prepare<[], { id: string }>(`SELECT t.id FROM transactions t JOIN external_bookings e ON e.receipt_id = t.receipt_id LIMIT ${lim}`)
      .all())
      violations.push(`receipt id of ${r.id} is also an external booking's`)
    for (const r of db
      .prepare<[], { id: string; status: string; c: number }>(
        `SELECT t.id, t.status, COUNT(p.id) AS c FROM transactions t LEFT JOIN postings p ON p.tx_id = t.id GROUP BY t.id
         HAVING (t.status = 'accepted' AND c < 2) OR (t.status = 'rejected' AND c > 0) LIMIT ${lim}`,
      )
      .all())
      violations.push(`${r.status} transaction ${r.id} has ${r.c} postings`)
    for (const r of db
      .prepare<[], { id: string; next_seq: number; last_hash: string; n: number; mn: number | null; mx: number | null; tail: string | null }>(
        `SELECT k.id, k.next_seq, k.last_hash, COUNT(t.id) AS n, MIN(t.seq) AS mn, MAX(t.seq) AS mx,
                (SELECT hash FROM transactions WHERE kiosk = k.id ORDER BY seq DESC LIMIT 1) AS tail
         FROM kiosks k LEFT JOIN transactions t ON t.kiosk = k.id GROUP BY k.id`,
      )
      .all()) {
      if (r.n !== r.next_seq - 1 || (r.n > 0 && (r.mn !== 1 || r.mx !== r.n)))
        violations.push(`kiosk ${r.id}: ${r.n} transactions with seq ${r.mn ?? '-'}..${r.mx ?? '-'} but next seq ${r.next_seq}`)
      if (r.last_hash !== (r.tail ?? GENESIS_HASH)) violations.push(`kiosk ${r.id}: last hash is not the hash of its last transaction`)
    }
    for (const r of db.prepare<[], { id: string; hash: string; envelope: string }>(`SELECT id, hash, envelope FROM transactions`).iterate()) {
      if (createHash('sha256').update(r.envelope, 'utf8').digest('hex') !== r.hash) {
        violations.push(`transaction ${r.id}: stored envelope does not match its hash`)
        if (violations.length > 4 * lim) break
      }
    }
    return violations
  }

  return {
    importEventSetup,
    enrollKiosk,
    kioskAuth,
    kioskPublicKey,
    kioskConfig,
    kioskIds: () => q.kiosks.all().map((k) => k.id),
    kioskCursor,
    verifyPin,
    findWristbandByPin,
    wristband,
    setWristbandBlocked,
    applyBatch,
    balanceOf,
    accountBalance: (accountId) => (typeof accountId === 'string' ? q.balance.get(accountId)?.balance : undefined),
    ensureAccount: external.ensureAccount,
    bookExternal: external.bookExternal,
    externalBooking: external.externalBooking,
    externalBookingByRef: external.externalBookingByRef,
    customerOrders: orders.customerOrders,
    receipt: orders.receipt,
    transaction,
    sumOfAllBalances,
    stats,
    checkInvariants,
    event,
    portalTexts,
    retirement,
    refreshKioskConfigs: () => db.transaction(refreshConfigVersions).immediate(),
    balanceView: operations.balanceView,
    shiftReports: operations.shiftReports,
    shiftReport: operations.shiftReport,
    debts: operations.debts,
    unsealPin: keys.unsealPin,
    gatewayKeys: { signingPublicKey: keys.signingPublicKey, sealPublicKey: keys.sealPublicKey },
  }
}
