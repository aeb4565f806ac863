// A kiosk's retained config message, built from the ledger: its booth's
// catalog (filtered by its till profile), the profile, the staff who may log
// in, the cash registers, the restricted wristbands, the offline policy and
// the blocklist signed with the gateway's key.
import { createHash } from 'node:crypto'
import type { SqlDatabase } from '../sql/database.js'
import { canonicalBytes, signBlocklist, type Blocklist, type KioskConfig, type OfflinePolicy, type Product, type StaffRole } from '../../device-protocol/index.js'
import type { GatewayKeys } from './gateway-keys.js'
import type { ProductFacts, ProfileFacts } from '../ledger/rules.js'

export interface KioskConfigRow {
  id: string
  booth: string
  sale_allowed: number
  topup_allowed: number
  profile: string | null
}

interface ProductRow {
  id: string
  name: string
  price: number
  kind: ProductFacts['kind']
  fixed_price: number
  tax_rate: number
  voucher_eligible: number
  restrictions: string
  ticket_variant: string | null
}

export interface StoredProfile extends ProfileFacts {
  id: string
  name: string
}

export interface KioskConfigBuilder {
  profileOf(kiosk: KioskConfigRow): StoredProfile
  product(booth: string, id: string): ProductFacts | undefined
  /** undefined when the event has no staff list (no login required). */
  staffRoles(): ((uid: string) => readonly StaffRole[] | undefined) | undefined
  build(kiosk: KioskConfigRow, version: number, pass?: Map<string, unknown>): KioskConfig
  /**
   * Hash of a config without its version: tells whether it changed. Calls sharing one `pass` (a pass over all
   * kiosks in one transaction) read what every config holds alike once: the blocklist and the tag variants each
   * scan the wristbands, and with 100,000 of them and 300 kiosks that was most of an import's CPU.
   */
  contentHash(kiosk: KioskConfigRow, pass?: Map<string, unknown>): string
  /**
   * Forgets the catalog, till profiles and staff flag kept in memory for the booking path. The registry calls it
   * after every write of products, till_profiles or the staff list (the event set-up import), so the next sale reads them anew.
   */
  forget(): void
}

/** Ids of one booth's catalog kept in memory at most (a real catalog has tens). */
const MAX_CACHED_PRODUCTS_PER_BOOTH = 10_000

function deepFreeze<T extends object>(value: T): T {
  for (const field of Object.values(value)) if (typeof field === 'object' && field !== null) deepFreeze(field as object)
  return Object.freeze(value)
}

const toFacts = (row: ProductRow): ProductFacts => ({
  id: row.id,
  name: row.name,
  price: row.price,
  kind: row.kind,
  fixedPrice: row.fixed_price === 1,
  taxRate: row.tax_rate,
  voucherEligible: row.voucher_eligible === 1,
  restrictions: JSON.parse(row.restrictions) as string[],
  ticketVariant: row.ticket_variant,
})

/** The config's product: optional fields only where they say something, so plain catalogs stay plain. */
function toConfigProduct(p: ProductFacts): Product {
  const product: Product = { id: p.id, name: p.name, price: p.price }
  if (p.kind !== 'item') product.kind = p.kind
  if (!p.fixedPrice) product.fixedPrice = false
  if (p.taxRate !== 0) product.taxRate = p.taxRate
  if (p.voucherEligible) product.voucherEligible = true
  if (p.restrictions.length > 0) product.restrictions = [...p.restrictions]
  if (p.ticketVariant !== null) product.ticketVariant = p.ticketVariant
  return product
}

export function createKioskConfigBuilder(db: SqlDatabase, keys: GatewayKeys): KioskConfigBuilder {
  const q = {
    boothProducts: db.prepare<[string], ProductRow>(`SELECT * FROM products WHERE booth = ? ORDER BY id`),
    product: db.prepare<[string, string], ProductRow>(`SELECT * FROM products WHERE booth = ? AND id = ?`),
    profile: db.prepare<[string], { id: string; spec: string }>(`SELECT id, spec FROM till_profiles WHERE id = ?`),
    staff: db.prepare<[], { uid: string; name: string; roles: string; pin_hash: string | null }>(`SELECT * FROM staff ORDER BY uid`),
    staffByUid: db.prepare<[string], { roles: string }>(`SELECT roles FROM staff WHERE uid = ?`),
    registers: db.prepare<[], { id: string; name: string }>(`SELECT id, name FROM cash_registers ORDER BY id`),
    variants: db.prepare<[], { uid: string; variant: string }>(
      `SELECT uid, variant FROM wristbands WHERE variant IS NOT NULL AND variant != 'adult' AND blocked = 0 ORDER BY uid`,
    ),
    blocked: db.prepare<[], { uid: string }>(`SELECT uid FROM wristbands WHERE blocked = 1 ORDER BY uid`),
    meta: db.prepare<[string], { value: string }>(`SELECT value FROM meta WHERE key = ?`),
    setMeta: db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`),
  }

  // What every sale reads and only an import changes, kept until forget(): a sale read its products twice (price,
  // voucher) and the staff flag once, each a statement, about a tenth of ingest's CPU per sale. Values are frozen: shared.
  /** Facts by booth, then product id; null: the booth does not sell it. */
  const products = new Map<string, Map<string, ProductFacts | null>>()
  const profiles = new Map<string, StoredProfile | null>()
  let staffRequired: boolean | undefined

  function storedProfile(id: string): StoredProfile | undefined {
    let profile = profiles.get(id)
    if (profile === undefined) {
      const stored = q.profile.get(id)
      profile = stored === undefined ? null : deepFreeze(JSON.parse(stored.spec) as StoredProfile)
      profiles.set(id, profile)
    }
    return profile ?? undefined
  }

  function product(booth: string, id: string): ProductFacts | undefined {
    let ofBooth = products.get(booth)
    if (ofBooth === undefined) {
      ofBooth = new Map()
      products.set(booth, ofBooth)
    }
    let facts = ofBooth.get(id)
    if (facts === undefined) {
      const row = q.product.get(booth, id)
      facts = row === undefined ? null : deepFreeze(toFacts(row))
      // Bounded: only ids some kiosk sent for a booth, and a kiosk's signature came first; a flood of made-up ids stops being cached.
      if (ofBooth.size < MAX_CACHED_PRODUCTS_PER_BOOTH) ofBooth.set(id, facts)
    }
    return facts ?? undefined
  }

  function profileOf(kiosk: KioskConfigRow): StoredProfile {
    const stored = kiosk.profile === null ? undefined : storedProfile(kiosk.profile)
    if (stored !== undefined) return stored
    // A kiosk without a profile does what its two flags say, as before profiles existed.
    const topup = kiosk.topup_allowed === 1
    return {
      id: 'default',
      name: 'Default',
      sale: kiosk.sale_allowed === 1,
      topupCash: topup,
      topupCard: topup,
      cashout: false,
      ticketSale: false,
      tagSwitch: false,
      cashRegister: false,
      cancelWindowMs: 0,
    }
  }

  function staffRoles(): ((uid: string) => readonly StaffRole[] | undefined) | undefined {
    staffRequired ??= q.meta.get('staff_required')?.value === '1'
    if (!staffRequired) return undefined
    return (uid) => {
      const row = q.staffByUid.get(uid)
      return row === undefined ? undefined : (JSON.parse(row.roles) as StaffRole[])
    }
  }

  /** The blocklist with a version that goes up whenever its content changes. */
  function blocklist(): Blocklist {
    const uids = q.blocked.all().map((r) => r.uid)
    const hash = createHash('sha256').update(uids.join(',')).digest('hex')
    let version = Number(q.meta.get('blocklist_version')?.value ?? '0')
    if (q.meta.get('blocklist_hash')?.value !== hash) {
      version += 1
      q.setMeta.run('blocklist_version', String(version))
      q.setMeta.run('blocklist_hash', hash)
    }
    return signBlocklist(version, uids, keys.signingKey)
  }

  const once = <T>(pass: Map<string, unknown> | undefined, key: string, read: () => T): T => {
    if (pass === undefined) return read()
    if (!pass.has(key)) pass.set(key, read())
    return pass.get(key) as T
  }

  function content(kiosk: KioskConfigRow, pass?: Map<string, unknown>): Omit<KioskConfig, 'version'> {
    const profile = profileOf(kiosk)
    const products = q.boothProducts
      .all(kiosk.booth)
      .map(toFacts)
      .filter((p) => profile.products === undefined || profile.products.includes(p.id))
    const offline = q.meta.get('offline_policy')?.value
    const config: Omit<KioskConfig, 'version'> = {
      kiosk: kiosk.id,
      booth: kiosk.booth,
      products: products.map(toConfigProduct),
      topupAllowed: profile.topupCash || profile.topupCard,
      saleAllowed: profile.sale,
      profile: {
        id: profile.id,
        name: profile.name,
        sale: profile.sale,
        topupCash: profile.topupCash,
        topupCard: profile.topupCard,
        cashout: profile.cashout,
        ticketSale: profile.ticketSale,
        tagSwitch: profile.tagSwitch,
        cashRegister: profile.cashRegister,
        cancelWindowMs: profile.cancelWindowMs,
      },
      registers: profile.cashRegister ? q.registers.all() : [],
      tagVariants: once(pass, 'tagVariants', () => q.variants.all()),
      offline: offline === undefined ? { allowed: false, perTagCapCents: 0, kioskTotalCapCents: 0 } : (JSON.parse(offline) as OfflinePolicy),
      blocklist: once(pass, 'blocklist', blocklist),
      gatewayKey: keys.signingPublicKey,
      pinSealKey: keys.sealPublicKey,
    }
    if (staffRoles() !== undefined) {
      config.staff = q.staff.all().map((m) => {
        const member: NonNullable<KioskConfig['staff']>[number] = { uid: m.uid, name: m.name, roles: JSON.parse(m.roles) as StaffRole[] }
        if (m.pin_hash !== null) member.pinHash = m.pin_hash
        return member
      })
    }
    return config
  }

  return {
    profileOf,
    product,
    staffRoles,
    build: (kiosk, version, pass) => {
      const { kiosk: id, booth, ...rest } = content(kiosk, pass)
      return { kiosk: id, booth, version, ...rest }
    },
    contentHash: (kiosk, pass) => createHash('sha256').update(canonicalBytes(content(kiosk, pass))).digest('hex'),
    forget() {
      products.clear()
      profiles.clear()
      staffRequired = undefined
    },
  }
}
