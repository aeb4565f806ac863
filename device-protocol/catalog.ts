// What a kiosk sells and who may do what at it: products (tax, deposits, free
// prices, discounts, vouchers, restrictions), till profiles, staff roles, the
// offline policy and the signed blocklist. The gateway builds these into each
// kiosk's retained config; the kiosk refuses early with the same rules the
// gateway enforces (the gateway decides: it never trusts the kiosk's check).
import { randomBytes, scryptSync, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto'
import Type, { type Static } from 'typebox'
import { canonicalBytes, type TransactionType } from './transaction.js'

const MAX_PRICE_CENTS = 10_000_000

/**
 * - item: an ordinary product, revenue of the booth.
 * - deposit: a returnable item's deposit (a cup); its money is a liability
 *   (`deposit:{booth}`), and a return is a line with negative qty.
 * - discount: a fixed amount off, its price is negative.
 * - ticket: sold with a new wristband (ticket sale); `ticketVariant` is the
 *   variant the wristband gets.
 */
export const PRODUCT_KINDS = ['item', 'deposit', 'discount', 'ticket'] as const
export type ProductKind = (typeof PRODUCT_KINDS)[number]

/** A wristband's variant: which restricted products it may not buy. 'adult' has no restriction. */
export const Variant = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,31}$' })

export const STAFF_ROLES = ['cashier', 'topup', 'supervisor'] as const
export type StaffRole = (typeof STAFF_ROLES)[number]

/**
 * Which staff roles may book each transaction type. One table for the kiosk
 * (which hides what a login may not do) and the gateway (which refuses it).
 */
export const ROLES_FOR_TYPE: Record<TransactionType, readonly StaffRole[]> = {
  sale: ['cashier', 'supervisor'],
  return: ['cashier', 'supervisor'],
  cancel: ['cashier', 'supervisor'],
  topup_cash: ['topup', 'supervisor'],
  topup_card: ['topup', 'supervisor'],
  cashout: ['topup', 'supervisor'],
  ticket: ['topup', 'supervisor'],
  shift_open: ['topup', 'supervisor'],
  shift_close: ['topup', 'supervisor'],
  tag_switch: ['supervisor'],
}

/** Roles whose login needs the staff member's PIN as well as the tap. */
export const PIN_ROLES: readonly StaffRole[] = ['supervisor']

export function roleAllows(roles: readonly string[], type: TransactionType): boolean {
  return ROLES_FOR_TYPE[type].some((role) => roles.includes(role))
}

/** Tax rate in basis points: 1900 = 19 %. */
export const TaxRateBasisPoints = Type.Integer({ minimum: 0, maximum: 10_000 })

export const Product = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 64 }),
    name: Type.String({ minLength: 1, maxLength: 128 }),
    /** Gross price in cents (tax included); negative for a discount; for a free-price product the most a line may charge, 0 for no limit. */
    price: Type.Integer({ minimum: -MAX_PRICE_CENTS, maximum: MAX_PRICE_CENTS }),
    kind: Type.Optional(Type.Enum(PRODUCT_KINDS)),
    /** false: the cashier types the price (a donation, a custom amount). Default true. */
    fixedPrice: Type.Optional(Type.Boolean()),
    taxRate: Type.Optional(TaxRateBasisPoints),
    /** Vouchers on the guest's account pay for this product first. */
    voucherEligible: Type.Optional(Type.Boolean()),
    /** Wristband variants that may not buy it (e.g. under-16 and under-18 for alcohol). */
    restrictions: Type.Optional(Type.Array(Variant, { maxItems: 16 })),
    /** kind 'ticket': the variant of the wristband it activates. */
    ticketVariant: Type.Optional(Variant),
    /**
     * kind 'deposit': the most units one transaction may bring back (default
     * DEFAULT_MAX_RETURN_QTY). A return beyond it is refused as
     * `return_qty_exceeded`: it bounds what one forged return can claim.
     */
    maxReturnQty: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  },
  { additionalProperties: false },
)
export type Product = Static<typeof Product>

/** Units of one deposit product a single return may bring back when the set-up names no maxReturnQty. */
export const DEFAULT_MAX_RETURN_QTY = 50

export const productKind = (p: Pick<Product, 'kind'>): ProductKind => p.kind ?? 'item'
export const isFixedPrice = (p: Pick<Product, 'fixedPrice'>): boolean => p.fixedPrice !== false

/** What a till may do; the gateway refuses anything else from this kiosk. */
export const TillProfile = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 64 }),
    name: Type.String({ minLength: 1, maxLength: 128 }),
    sale: Type.Boolean(),
    topupCash: Type.Boolean(),
    topupCard: Type.Boolean(),
    cashout: Type.Boolean(),
    ticketSale: Type.Boolean(),
    tagSwitch: Type.Boolean(),
    /** Cash is handled in a cash register: cash top-ups, cash-outs and tickets need an open shift. */
    cashRegister: Type.Boolean(),
    /** How long after a sale the cashier may still cancel it; 0 disables cancelling. */
    cancelWindowMs: Type.Integer({ minimum: 0, maximum: 24 * 3_600_000 }),
  },
  { additionalProperties: false },
)
export type TillProfile = Static<typeof TillProfile>

export const StaffMember = Type.Object(
  {
    uid: Type.String({ pattern: '^[0-9A-F]{8,20}$' }),
    name: Type.String({ minLength: 1, maxLength: 128 }),
    roles: Type.Array(Type.Enum(STAFF_ROLES), { minItems: 1, maxItems: 3 }),
    /** scrypt of the staff PIN (see staffPinHash); present where a role demands a PIN. */
    pinHash: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false },
)
export type StaffMember = Static<typeof StaffMember>

/** The longest cap window a policy may name: a week. */
export const MAX_OFFLINE_CAP_WINDOW_MS = 7 * 24 * 3_600_000

export const OfflinePolicy = Type.Object(
  {
    /** Whether the kiosk may accept sales while the gateway is unreachable. */
    allowed: Type.Boolean(),
    /** Most a single wristband may spend at this kiosk while offline, cents. */
    perTagCapCents: Type.Integer({ minimum: 0, maximum: MAX_PRICE_CENTS }),
    /** Most this kiosk may accept offline in total within the cap window, cents. */
    kioskTotalCapCents: Type.Integer({ minimum: 0, maximum: 100 * MAX_PRICE_CENTS }),
    /**
     * The gateway counts both caps itself, over the offline sales it booked
     * from the kiosk within this many milliseconds of its own clock (default
     * DEFAULT_OFFLINE_CAP_WINDOW_MS): a kiosk can claim an outage, but it
     * cannot make the gateway's clock run faster. The kiosk counts over the
     * same window (its unanswered offline sales and those booked whose answer
     * came within it), so it never hands out goods the gateway then refuses.
     */
    capWindowMs: Type.Optional(Type.Integer({ minimum: 60_000, maximum: MAX_OFFLINE_CAP_WINDOW_MS })),
  },
  { additionalProperties: false },
)
export type OfflinePolicy = Static<typeof OfflinePolicy>

/** The window the gateway counts offline caps over when the policy names none: one hour. */
export const DEFAULT_OFFLINE_CAP_WINDOW_MS = 3_600_000


export const Blocklist = Type.Object(
  {
    version: Type.Integer({ minimum: 0 }),
    uids: Type.Array(Type.String({ pattern: '^[0-9A-F]{8,20}$' }), { maxItems: 200_000 }),
    /** Ed25519 signature of the gateway over blocklistSignedBytes(version, uids), base64. */
    sig: Type.String({ pattern: '^[A-Za-z0-9+/]{86}==$' }),
  },
  { additionalProperties: false },
)
export type Blocklist = Static<typeof Blocklist>

export function blocklistSignedBytes(version: number, uids: readonly string[]): Buffer {
  return canonicalBytes({ kind: 'wristpay-blocklist', version, uids })
}

export function signBlocklist(version: number, uids: readonly string[], privateKey: KeyObject): Blocklist {
  const sorted = [...uids].sort()
  return { version, uids: sorted, sig: sign(null, blocklistSignedBytes(version, sorted), privateKey).toString('base64') }
}

export function verifyBlocklist(list: Blocklist, publicKey: KeyObject): boolean {
  try {
    return verify(null, blocklistSignedBytes(list.version, list.uids), publicKey, Buffer.from(list.sig, 'base64'))
  } catch {
    return false
  }
}

export const CashRegisterRef = Type.Object(
  { id: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$' }), name: Type.String({ minLength: 1, maxLength: 128 }) },
  { additionalProperties: false },
)
export type CashRegisterRef = Static<typeof CashRegisterRef>

export const TagVariant = Type.Object(
  { uid: Type.String({ pattern: '^[0-9A-F]{8,20}$' }), variant: Variant },
  { additionalProperties: false },
)
export type TagVariant = Static<typeof TagVariant>

/**
 * Which products of a cart a wristband's vouchers pay for: one voucher per
 * unit, the dearest eligible units first (the guest's best deal), lines in
 * cart order on ties. Returns the vouchers used and the cents they cover.
 */
export function applyVouchers(
  lines: ReadonlyArray<{ product: string; qty: number; unitPrice: number }>,
  eligible: (productId: string) => boolean,
  vouchers: number,
): { used: number; coveredCents: number } {
  const units: number[] = []
  for (const line of lines) {
    if (line.qty <= 0 || line.unitPrice <= 0 || !eligible(line.product)) continue
    for (let i = 0; i < line.qty; i++) units.push(line.unitPrice)
  }
  units.sort((a, b) => b - a)
  const take = Math.max(0, Math.min(Math.floor(vouchers), units.length))
  let coveredCents = 0
  for (let i = 0; i < take; i++) coveredCents += units[i]!
  return { used: take, coveredCents }
}

/**
 * Tax in a gross amount at a rate in basis points, rounded half up to a cent:
 * 1190 gross at 1900 bp holds 190 tax. Integers only.
 */
export function taxOfGross(grossCents: number, rateBasisPoints: number): number {
  if (rateBasisPoints === 0) return 0
  const sign = grossCents < 0 ? -1 : 1
  const gross = Math.abs(grossCents)
  // tax = gross * r / (10000 + r), rounded half up, in integers.
  const numerator = gross * rateBasisPoints * 2
  const denominator = (10_000 + rateBasisPoints) * 2
  return sign * Math.floor((numerator + denominator / 2) / denominator)
}

/** A staff PIN: 4 to 12 digits, typed on the kiosk's keypad. */
export const STAFF_PIN_PATTERN = '^[0-9]{4,12}$'
const SCRYPT = { N: 16_384, r: 8, p: 1, keyLength: 32 } as const

/**
 * The staff PIN as the kiosk config carries it: scrypt with a random salt, so
 * a config copied off a kiosk does not show the PIN (a short PIN can still be
 * guessed offline from it: the config goes only to the kiosks, over their ACL).
 */
export function staffPinHash(pin: string, salt: Buffer = randomBytes(16)): string {
  const hash = scryptSync(pin, salt, SCRYPT.keyLength, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p })
  return `scrypt:${SCRYPT.N}:${SCRYPT.r}:${SCRYPT.p}:${salt.toString('base64')}:${hash.toString('base64')}`
}

export function verifyStaffPin(pin: string, stored: string): boolean {
  if (typeof pin !== 'string' || !new RegExp(STAFF_PIN_PATTERN).test(pin)) return false
  const parts = stored.split(':')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])]
  // Only the parameters we write: a config cannot make the kiosk burn memory on a huge N.
  if (N !== SCRYPT.N || r !== SCRYPT.r || p !== SCRYPT.p) return false
  const salt = Buffer.from(parts[4]!, 'base64')
  const expected = Buffer.from(parts[5]!, 'base64')
  if (expected.length !== SCRYPT.keyLength || salt.length < 8) return false
  const actual = scryptSync(pin, salt, SCRYPT.keyLength, { N, r, p })
  return timingSafeEqual(actual, expected)
}
