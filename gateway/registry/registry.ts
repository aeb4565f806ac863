// The registry: who is who at the event. Kiosks with their tokens, keys and
// till configs; wristbands with their PINs, blocks and variants; staff, cash
// registers and till profiles; the event set-up import that fills all of it;
// the gateway's own keys; retirement of kiosks and wristbands. The ledger
// (gateway/ledger/) reads it through RegistryFacts and asks it to write its
// side of a booking (new and replaced wristbands, vouchers, SUN counters) in
// the same batch. The money is not here: accounts are opened through
// `openAccount`, balances come from the ledger's store.
import type { KeyObject } from 'node:crypto'
import type { Logger } from 'pino'
import {
  DEFAULT_MAX_RETURN_QTY,
  DEFAULT_OFFLINE_CAP_WINDOW_MS,
  publicKeyFromBase64Url,
  type KioskConfig,
  type OfflinePolicy,
} from '../../device-protocol/index.js'
import { DEFAULT_TRANSACTION_TIME, type EventSetup, type PortalBankAccount, type PortalTranslationTexts, type TransactionTime } from '../event-setup.js'
import type { OfflineRules } from '../ledger/rules.js'
import type { RegisteredKiosk, RegistryFacts } from '../ledger/store.js'
import { accountIds, type AccountKind } from '../ledger/types.js'
import { applySetupRetirement, createRetirementControls, kiosksWithNewToken, logImportRetirement, type RetirementControls, type SetupRetirement } from './retirement.js'
import { createSecretStore } from '../secret-store.js'
import type { SqlDatabase } from '../sql/database.js'
import { dialectOf } from '../sql/dialect.js'
import { createTagCheck } from '../sun/tag-check.js'
import { applyBookingEffects } from './booking-effects.js'
import { loadGatewayKeys, type GatewayKeys } from './gateway-keys.js'
import { createKioskConfigBuilder } from './kiosk-config.js'
import { createRegistryVersion } from './registry-version.js'
import { enrollKioskKeyByAdmin, importKioskKeys, logKeyChange, type KeyChange } from './kiosk-keys.js'
import { createKioskEnrollment, type CodeCheck, type NewKiosk, type Redemption } from './enrollment.js'
import { parseKioskPublicKey } from './kiosk-public-key.js'
import { importOperations } from './operations-import.js'
import { MIN_PIN_SECRET_BYTES, PIN_SECRET_BYTES, lookupsEqual, pinLookup, pinSecretFingerprint } from './pins.js'
import { hashToken, tokenMatches } from './secrets.js'
import { ticketPin } from './ticket-pin.js'

export interface RegistryDeps {
  db: SqlDatabase
  logger: Logger
  /**
   * Key of the PIN lookups (HMAC-SHA256), at least 16 bytes; keep it outside
   * the database in production (a leaked database alone then reveals no PIN).
   * Without it the registry generates one and keeps it in the database's meta
   * table, so restarts keep working.
   */
  pinSecret?: Buffer
  /** Opens an account in the ledger's store if missing (booths' revenue, kiosks' cash, wristbands, registers, ...). */
  openAccount(id: string, kind: AccountKind, ref: string): void
  /** Whether the ledger holds any kiosk transaction (the event's currency is then fixed). */
  hasTransactions(): boolean
  /** A wristband's balance, for the operator's log when it is disabled. */
  balanceOf(uid: string): number | undefined
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

export interface Registry extends RegistryFacts {
  /** Idempotent upsert of an event set-up. Throws (and changes nothing) if it conflicts with recorded history. */
  importEventSetup(setup: EventSetup): ImportSummary
  /** Sets (or replaces) a kiosk's Ed25519 public key; it wins over the event set-up's. Throws on an unknown kiosk or a malformed key. */
  enrollKiosk(kioskId: string, publicKeyBase64Url: string): void
  /** Retired kiosks and wristbands, and the operator's switch for them (the admin API). */
  readonly retirement: RetirementControls
  /** A kiosk made through the admin API (enrollment.ts: a reload does not retire it); its config version is set. Throws EnrollmentError. */
  createKiosk(kiosk: NewKiosk): void
  /** A one-time registration code for a kiosk that takes part (an earlier unspent one stops working). Throws EnrollmentError. */
  issueRegistrationCode(kioskId: string, nowMs: number, ttlMs: number): { code: string; expiresAt: number }
  /**
   * Spends a registration code: the key is enrolled (as through the admin API) and a fresh MQTT token replaces the
   * kiosk's; a wrong, spent or expired code changes nothing. Throws (changing nothing) on a malformed key.
   */
  redeemRegistrationCode(code: string, publicKeyBase64Url: string, nowMs: number, token?: string): Redemption
  /** Whose registration code this is, or why it would be refused now; changes nothing. */
  checkRegistrationCode(code: string, nowMs: number): CodeCheck
  /** MQTT authentication of a kiosk: constant-time comparison of token hashes. */
  kioskAuth(kioskId: string, token: string): boolean
  kioskPublicKey(kioskId: string): KeyObject | undefined
  /** The retained config message of a kiosk. Throws on an unknown kiosk. Calls sharing a `pass` read what every config holds alike once (kiosk-config.ts). */
  kioskConfig(kioskId: string, pass?: Map<string, unknown>): KioskConfig
  kioskIds(): string[]
  /** Whether `pin` is the wristband's PIN (case-insensitive; spaces and hyphens ignored). */
  verifyPin(uid: string, pin: string): boolean
  /** The uid of the wristband with this PIN, blocked or not; undefined for a malformed or unknown PIN. */
  findWristbandByPin(pin: string): string | undefined
  /** Whether a wristband (retired ones too) is blocked; undefined when it is unknown. */
  wristbandBlocked(uid: string): boolean | undefined
  /** Blocks or unblocks a wristband (lost, stolen). Throws on an unknown uid. */
  setWristbandBlocked(uid: string, blocked: boolean): void
  event(): { name: string; currency: string } | undefined
  /** The portal's texts per language from the event set-up (`portal.translationTexts`); empty before any. */
  portalTexts(): PortalTranslationTexts
  /** The organiser's bank account for top-ups by transfer (`portal.bankAccount` of the event set-up); undefined without one. */
  portalBankAccount(): PortalBankAccount | undefined
  /** Re-checks every kiosk's config and bumps the version of those that changed (blocklist, variants); returns their ids. */
  refreshKioskConfigs(): string[]
  /** The gateway's key for tag-switch PINs: ingest opens sealedPin with it before the ledger sees the envelope. */
  unsealPin(jwe: string): Promise<string | undefined>
  readonly gatewayKeys: Pick<GatewayKeys, 'signingPublicKey' | 'sealPublicKey'>
  /**
   * On PostgreSQL, where other gateways may share the database: forgets what this registry keeps in memory if
   * another gateway changed it since (registry-version.ts); the ledger calls it once per batch, ingest once per
   * turn before it reads kiosk keys. Absent on SQLite, where one gateway owns the file and there is nothing to ask.
   */
  forgetIfChangedElsewhere?: () => void
}

interface KioskRow {
  id: string
  booth: string
  token_hash: string
  public_key: string | null
  sale_allowed: number
  topup_allowed: number
  config_version: number
  config_hash: string
  profile: string | null
}

/**
 * The key of the PIN lookups: the configured one, else the one kept in the
 * database (generated on first use). Refuses a key other than the one the
 * stored lookups were made with, which would lock every guest out.
 */
function resolvePinSecret(db: SqlDatabase, configured: Buffer | undefined): Buffer {
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

export function createRegistry({ db, logger, pinSecret: configuredPinSecret, openAccount, hasTransactions, balanceOf }: RegistryDeps): Registry {
  const pinSecret = resolvePinSecret(db, configuredPinSecret)
  // Tag policy and NTAG 424 SUN checks (gateway/sun/): keys in memory, counters in this database.
  const tagCheck = createTagCheck({ db, logger })
  const keys = loadGatewayKeys(db)
  const configs = createKioskConfigBuilder(db, keys)
  const dialect = dialectOf(db)
  // SQLite keeps the kiosk's chain cursor on its row, starting at genesis; on PostgreSQL it is the store's (sql/dialect.ts).
  const chain = dialect.kioskChainInsert

  const q = {
    meta: db.prepare<[string], { value: string }>(`SELECT value FROM meta WHERE key = ?`),
    setMeta: db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`),
    upsertBooth: db.prepare(`INSERT INTO booths (id, name) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name`),
    deleteProducts: db.prepare(`DELETE FROM products`),
    insertProduct: db.prepare(`
      INSERT INTO products (booth, id, name, price, kind, fixed_price, tax_rate, voucher_eligible, restrictions, ticket_variant, max_return_qty)
      VALUES (@booth, @id, @name, @price, @kind, @fixedPrice, @taxRate, @voucherEligible, @restrictions, @ticketVariant, @maxReturnQty)`),
    maxReturnQty: db.prepare<[string, string], { max_return_qty: number | null }>(`SELECT max_return_qty FROM products WHERE booth = ? AND id = ?`),
    upsertKiosk: db.prepare(`
      INSERT INTO kiosks (id, booth, token_hash, public_key, sale_allowed, topup_allowed${chain.columns})
      VALUES (@id, @booth, @tokenHash, @publicKey, @saleAllowed, @topupAllowed${chain.values})
      ON CONFLICT(id) DO UPDATE SET
        booth = excluded.booth,
        -- A token handed out by an enrollment stays (the Pi has no other); a kiosk made through the admin API becomes the file's.
        token_hash = CASE WHEN kiosks.token_source IS NULL THEN excluded.token_hash ELSE kiosks.token_hash END,
        origin = NULL,
        public_key = COALESCE(excluded.public_key, kiosks.public_key),
        sale_allowed = excluded.sale_allowed,
        topup_allowed = excluded.topup_allowed`),
    // A retired kiosk (retirement.ts) is unknown to everything but the history.
    kiosk: db.prepare<[string], KioskRow>(`SELECT * FROM kiosks WHERE id = ? AND retired IS NULL`),
    kiosks: db.prepare<[], KioskRow>(`SELECT * FROM kiosks WHERE retired IS NULL ORDER BY id`),
    setKioskConfigVersion: db.prepare(`UPDATE kiosks SET config_version = ?, config_hash = ? WHERE id = ?`),
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
    // in_payout_run: an open item of a payout run (gateway/payouts/) holds the wristband's balance for the bank,
    // or one of a refund run (gateway/payments/refund-runs.ts) for the card: either way the balance is being paid
    // back to the guest, so the rules refuse the same (in_payout_run) and the kiosks need no new reason.
    wristband: db.prepare<[string], { blocked: number; vouchers: number; variant: string | null; in_payout_run: number }>(
      `SELECT blocked, vouchers, variant,
              EXISTS (SELECT 1 FROM payout_run_items i WHERE i.uid = w.uid AND i.open = 1)
              OR EXISTS (SELECT 1 FROM card_refund_run_items r WHERE r.uid = w.uid AND r.open = 1) AS in_payout_run
         FROM wristbands w WHERE uid = ? AND retired IS NULL`,
    ),
    // External bookings know a wristband whether retired or not (its money must still be settled).
    anyWristband: db.prepare<[string], { blocked: number }>(`SELECT blocked FROM wristbands WHERE uid = ?`),
    registerExists: db.prepare<[string], { one: number }>(`SELECT 1 AS one FROM cash_registers WHERE id = ?`),
  }

  const keyCache = new Map<string, KeyObject>()
  /**
   * Enrolled, not retired kiosks as the rules see them (booth, profile), read once: every sale asked for its kiosk's
   * row. Only the registry writes what they hold (import, createKiosk, disabling), and each of those forgets them all.
   */
  const kioskFactsCache = new Map<string, RegisteredKiosk>()
  /** After a write of kiosks, products, till profiles or staff: the next booking reads them from the database. */
  function forgetBookingFacts(): void {
    kioskFactsCache.clear()
    configs.forget()
  }
  // Several gateways on one PostgreSQL database: their writes of what is cached here bump a version the others compare.
  const sharedVersion = dialect.engine === 'postgres' ? createRegistryVersion(db) : undefined
  function forgetIfChangedElsewhere(): void {
    if (sharedVersion?.changedElsewhere() !== true) return
    forgetBookingFacts()
    tagCheck.followStored()
    keyCache.clear()
    offlineRulesCache = undefined
    timeLimitsCache = undefined
  }
  const enrollment = createKioskEnrollment(db, openAccount)
  const retirementControls = createRetirementControls(db)
  const retirement: RetirementControls = {
    ...retirementControls,
    setKioskDisabled(kioskId, disabled) {
      let known: boolean
      try {
        known = retirementControls.setKioskDisabled(kioskId, disabled)
        sharedVersion?.bump()
      } finally {
        forgetBookingFacts()
      }
      keyCache.delete(kioskId)
      if (known) logger.warn({ kiosk: kioskId, disabled }, disabled ? `kiosk ${kioskId} disabled by an operator` : `kiosk ${kioskId} enabled again by an operator`)
      return known
    },
    setWristbandDisabled(uid, disabled) {
      const known = retirementControls.setWristbandDisabled(uid, disabled)
      if (known) logger.warn({ uid, disabled, balance: balanceOf(uid) }, disabled ? 'wristband disabled by an operator (its balance stays in its account)' : 'wristband enabled again by an operator')
      return known
    },
  }

  function event(): { name: string; currency: string } | undefined {
    const name = q.meta.get('event_name')?.value
    const currency = q.meta.get('currency')?.value
    return name === undefined || currency === undefined ? undefined : { name, currency }
  }

  function portalBankAccount(): PortalBankAccount | undefined {
    const stored = q.meta.get('portal_bank_account')?.value
    return stored === undefined ? undefined : ((JSON.parse(stored) as PortalBankAccount | null) ?? undefined)
  }

  function portalTexts(): PortalTranslationTexts {
    const stored = q.meta.get('portal_translation_texts')?.value
    return stored === undefined ? {} : (JSON.parse(stored) as PortalTranslationTexts)
  }

  /** Bumps the config version of every kiosk whose config content changed; returns their ids. */
  function refreshConfigVersions(): string[] {
    const changed: string[] = []
    const pass = new Map<string, unknown>()
    for (const kiosk of q.kiosks.all()) {
      const hash = configs.contentHash(kiosk, pass)
      if (hash !== kiosk.config_hash) {
        q.setKioskConfigVersion.run(kiosk.config_version + 1, hash, kiosk.id)
        changed.push(kiosk.id)
      }
    }
    return changed
  }

  const importTx = db.transaction((setup: EventSetup, pinLookups: Map<string, string>): ImportSummary => {
    const current = event()
    if (current !== undefined && current.currency !== setup.event.currency && hasTransactions())
      throw new Error(`event currency is ${current.currency} with transactions recorded; refusing to change it to ${setup.event.currency}`)
    q.setMeta.run('event_name', setup.event.name)
    q.setMeta.run('currency', setup.event.currency)
    // Replaced as a whole, like the catalog: texts removed from the file go from the portal too.
    q.setMeta.run('portal_translation_texts', JSON.stringify(setup.portal?.translationTexts ?? {}))
    q.setMeta.run('portal_bank_account', JSON.stringify(setup.portal?.bankAccount ?? null))
    for (const booth of setup.booths) {
      q.upsertBooth.run(booth.id, booth.name)
      openAccount(accountIds.revenue(booth.id), 'revenue', booth.id)
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
      })
      openAccount(accountIds.cash(k.id), 'cash', k.id)
    }
    for (const w of setup.wristbands) q.parkPin.run(w.uid, pinLookups.get(w.uid)!)
    for (const w of setup.wristbands) {
      const account = accountIds.customer(w.uid)
      openAccount(account, 'customer', w.uid)
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
        if (dialect.isUniqueViolation(err))
          throw new Error(`wristband ${w.uid}: its PIN is already the PIN of another wristband in the ledger`)
        throw err
      }
    }
    importOperations(db, setup, openAccount)
    const retirement = applySetupRetirement(db, setup, newTokens)
    const keyChanges = importKioskKeys(db, setup)
    // The configs are built from the profiles and products just written, not from those a sale left in memory.
    forgetBookingFacts()
    const configChanged = refreshConfigVersions()
    tagCheck.storePolicy(setup)
    sharedVersion?.bump()
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
    let summary: ImportSummary
    try {
      summary = importTx.immediate(setup, pinLookups)
    } finally {
      // Also after a refused import: what it read on the way into the caches may be of its rolled-back writes.
      forgetBookingFacts()
    }
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
      key = parseKioskPublicKey(publicKeyBase64Url)
    } catch (err) {
      throw new Error(`kiosk '${kioskId}': ${(err as Error).message}`)
    }
    const change = enrollKioskKeyByAdmin(db, kioskId, publicKeyBase64Url)
    sharedVersion?.bump()
    keyCache.set(kioskId, key)
    logKeyChange(logger, change)
  }

  function createKiosk(kiosk: NewKiosk): void {
    try {
      db.transaction(() => {
        enrollment.createKiosk(kiosk)
        refreshConfigVersions()
        sharedVersion?.bump()
      }).immediate()
    } finally {
      forgetBookingFacts()
    }
    logger.info({ kiosk: kiosk.id, booth: kiosk.booth, profile: kiosk.profile }, `kiosk ${kiosk.id} made through the admin API (booth ${kiosk.booth}); it takes part until an operator disables it`)
  }

  function redeemRegistrationCode(code: string, publicKeyBase64Url: string, nowMs: number, token?: string): Redemption {
    const key = parseKioskPublicKey(publicKeyBase64Url)
    const redeemed = enrollment.redeem(code, publicKeyBase64Url, nowMs, token)
    if (!redeemed.ok) return redeemed
    sharedVersion?.bump()
    keyCache.set(redeemed.kioskId, key)
    logKeyChange(logger, redeemed.keyChange)
    logger.warn({ kiosk: redeemed.kioskId }, `kiosk ${redeemed.kioskId} enrolled with a registration code: a new MQTT token was handed out; the previous token no longer logs in`)
    return redeemed
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

  function kioskConfig(kioskId: string, pass?: Map<string, unknown>): KioskConfig {
    const kiosk = q.kiosk.get(kioskId)
    if (kiosk === undefined) throw new Error(`unknown kiosk '${kioskId}'`)
    return configs.build(kiosk, kiosk.config_version, pass)
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

  function setWristbandBlocked(uid: string, blocked: boolean): void {
    const changes = q.setBlocked.run(blocked ? 1 : 0, uid).changes
    if (changes === 0) throw new Error(`unknown wristband '${uid}'`)
    logger.info({ uid, blocked }, 'wristband block changed')
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

  return {
    kiosk(id) {
      const cached = kioskFactsCache.get(id)
      if (cached !== undefined) return cached
      const kiosk = q.kiosk.get(id)
      if (kiosk === undefined) return undefined
      const facts: RegisteredKiosk = Object.freeze({ id: kiosk.id, booth: kiosk.booth, profile: configs.profileOf(kiosk) })
      kioskFactsCache.set(id, facts)
      return facts
    },
    wristband(uid) {
      const band = q.wristband.get(uid)
      if (band === undefined) return undefined
      return { blocked: band.blocked === 1, vouchers: band.vouchers, variant: band.variant, ...(band.in_payout_run === 1 ? { inPayoutRun: true } : {}) }
    },
    product: (booth, productId) => configs.product(booth, productId),
    maxReturnQty: (booth, productId) => q.maxReturnQty.get(booth, productId)?.max_return_qty ?? DEFAULT_MAX_RETURN_QTY,
    staffRoles: () => configs.staffRoles(),
    registerExists: (register) => q.registerExists.get(register) !== undefined,
    wristbandByPin: (pin) => findWristbandByPin(pin),
    ticketPin: (txId) => ticketPin(pinSecret, txId),
    checkTag: (tx) => tagCheck.check(tx),
    timeLimits: () => timeLimits(),
    offlineRules: () => offlineRules(),
    applyBooking(write) {
      const { tx, decision } = write
      if (decision.status === 'accepted')
        applyBookingEffects(db, { tx, effects: decision.effects, ticketPinLookup: () => pinLookup(pinSecret, ticketPin(pinSecret, tx.id))! })
      if (write.tagCounter !== undefined) tagCheck.record(write.tagCounter.uid, write.tagCounter.counter)
    },
    wristbandBlocked(uid) {
      const band = q.anyWristband.get(uid)
      return band === undefined ? undefined : band.blocked === 1
    },
    importEventSetup,
    enrollKiosk,
    createKiosk,
    issueRegistrationCode: (kioskId, nowMs, ttlMs) => enrollment.issueCode(kioskId, nowMs, ttlMs),
    redeemRegistrationCode,
    checkRegistrationCode: (code, nowMs) => enrollment.check(code, nowMs),
    retirement,
    kioskAuth,
    kioskPublicKey,
    kioskConfig,
    kioskIds: () => q.kiosks.all().map((k) => k.id),
    verifyPin,
    findWristbandByPin,
    setWristbandBlocked,
    event,
    portalTexts,
    portalBankAccount,
    refreshKioskConfigs: () => db.transaction(refreshConfigVersions).immediate(),
    unsealPin: keys.unsealPin,
    gatewayKeys: { signingPublicKey: keys.signingPublicKey, sealPublicKey: keys.sealPublicKey },
    ...(sharedVersion === undefined ? {} : { forgetIfChangedElsewhere }),
  }
}
