// The event set-up file: what an organiser writes before the gates open
// (booths, catalog, kiosks with their MQTT tokens, wristbands with portal PINs).
// It is validated as a whole before anything reaches the ledger, so a typo
// never half-imports an event.
import { readFileSync, statSync } from 'node:fs'
import { electronicFormatIBAN, isValidBIC, isValidIBAN } from 'ibantools'
import Type, { type Static } from 'typebox'
import {
  Cents,
  KioskId,
  OfflinePolicy,
  PIN_ROLES,
  Product,
  TillProfile,
  STAFF_PIN_PATTERN,
  STAFF_ROLES,
  TAG_TYPES,
  TagUid,
  Variant,
  createValidator,
} from '../device-protocol/index.js'
import { parseKioskPublicKey } from './registry/kiosk-public-key.js'
import { PIN_PATTERN, normalisePin, randomPin } from './registry/pins.js'

/** A random portal PIN in the set-up's format (10 symbols of A-Z and 2-9 without I and O: 50 bits). */
export { randomPin }

/** A set-up file bigger than this is refused before it is read (tens of thousands of wristbands fit). */
export const MAX_EVENT_SETUP_BYTES = 32 * 1024 * 1024

const BoothId = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$' })
const ProductId = Type.String({ minLength: 1, maxLength: 64 })
const Name = Type.String({ minLength: 1, maxLength: 128 })
/** An AES-128 key of an NTAG 424 DNA, 32 hex digits. A secret: never logged, never echoed in an error. */
const AesKeyHex = Type.String({ pattern: '^[0-9A-Fa-f]{32}$' })

/**
 * Which wristbands an event accepts for payment, and the keys to check secure
 * ones (NTAG 424 DNA SUN messages, see gateway/sun/). Without it every tag type
 * is accepted and SUN messages are not checked.
 */
export const TagPolicySchema = Type.Object(
  {
    /** Tag families (device-protocol TAG_TYPES) a sale may be paid with. */
    acceptedTypes: Type.Array(Type.String({ minLength: 1, maxLength: 32 }), { minItems: 1, maxItems: 32 }),
    /** Every sale must carry a valid SUN message with a read counter above the tag's last one. */
    requireSun: Type.Boolean(),
    /**
     * SDM keys as AN12196 names them. The meta read key decrypts the PICC data
     * and is shared by all wristbands (the UID is only known after decrypting);
     * the file read key makes the MAC: event-wide here, or per wristband
     * (`wristbands[].sunFileReadKey`, which wins).
     */
    sun: Type.Optional(Type.Object({ metaReadKey: AesKeyHex, fileReadKey: Type.Optional(AesKeyHex) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
)
export type TagPolicy = Static<typeof TagPolicySchema>

/**
 * How far a transaction's kiosk clock (`at`) may be from the gateway's clock.
 * Ahead: only clock skew. Behind: a transaction can be old, because an
 * offline sale or an unanswered one waits in the kiosk's outbox until the
 * gateway is reachable again (overnight, if the gateway was down at closing).
 */
export const TransactionTimeSchema = Type.Object(
  {
    maxAheadMs: Type.Integer({ minimum: 0, maximum: 24 * 3_600_000 }),
    maxBehindMs: Type.Integer({ minimum: 60_000, maximum: 30 * 24 * 3_600_000 }),
  },
  { additionalProperties: false },
)
export type TransactionTime = Static<typeof TransactionTimeSchema>

/** 5 minutes ahead (NTP-synced clocks differ by far less), 72 hours behind (a weekend's outbox). */
export const DEFAULT_TRANSACTION_TIME: TransactionTime = { maxAheadMs: 5 * 60_000, maxBehindMs: 72 * 3_600_000 }

/**
 * One language's texts by key, Markdown. The existing portal front end shows
 * 'faq' (FAQ page), 'agb' (terms and conditions), 'privacypolicy' and
 * 'impressum'; other keys are passed on as they are. Everything is served to
 * every visitor of the portal: at most 2 x 16 x 20,000 = 640,000 characters.
 */
const PortalTexts = Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }), Type.String({ maxLength: 20_000 }), { maxProperties: 16, additionalProperties: false })

/** What the guest portal shows besides balances and orders. */
export const PortalSetupSchema = Type.Object(
  {
    /** Per language (the OpenAPI file's `Language`), served as `translation_texts` in GET /api/config. */
    translationTexts: Type.Optional(Type.Object({ 'en-US': Type.Optional(PortalTexts), 'de-DE': Type.Optional(PortalTexts) }, { additionalProperties: false })),
    /**
     * The organiser's bank account: the portal shows it with each guest's
     * transfer reference, for a top-up by bank transfer before the event.
     * Without it the portal offers no bank transfer.
     */
    bankAccount: Type.Optional(
      Type.Object(
        {
          holder: Type.String({ minLength: 1, maxLength: 70 }),
          iban: Type.String({ minLength: 15, maxLength: 42 }),
          bic: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9]{8}([A-Za-z0-9]{3})?$' })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)
export type PortalSetup = Static<typeof PortalSetupSchema>
export type PortalTranslationTexts = NonNullable<PortalSetup['translationTexts']>
export type PortalBankAccount = NonNullable<PortalSetup['bankAccount']>

export const EventSetupSchema = Type.Object(
  {
    event: Type.Object(
      {
        name: Name,
        /** ISO 4217 code; all amounts are minor units of it. */
        currency: Type.String({ pattern: '^[A-Z]{3}$' }),
      },
      { additionalProperties: false },
    ),
    tagPolicy: Type.Optional(TagPolicySchema),
    /** The guest portal's texts (FAQ, terms) per language. */
    portal: Type.Optional(PortalSetupSchema),
    booths: Type.Array(Type.Object({ id: BoothId, name: Name }, { additionalProperties: false }), { maxItems: 10_000 }),
    products: Type.Array(
      // The kiosk config's product (device-protocol/catalog.ts: price, kind, tax, vouchers, restrictions) and its booth.
      Type.Object({ ...Product.properties, booth: BoothId }, { additionalProperties: false }),
      { maxItems: 100_000 },
    ),
    /** What each kind of till may do; a kiosk names one, or gets sale/top-up from its two flags. */
    tillProfiles: Type.Optional(
      Type.Array(
        // The kiosk config's till profile (device-protocol/catalog.ts), with a stricter id and the products it sells.
        Type.Object(
          {
            ...TillProfile.properties,
            id: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$' }),
            /** The booth's products this till sells (default: all of them). */
            products: Type.Optional(Type.Array(ProductId, { maxItems: 500 })),
          },
          { additionalProperties: false },
        ),
        { maxItems: 1_000 },
      ),
    ),
    /** Staff wristbands: who may log in at a kiosk and what they may do. With this list, every transaction needs a logged-in staff member. */
    staff: Type.Optional(
      Type.Array(
        Type.Object(
          {
            uid: TagUid,
            name: Name,
            roles: Type.Array(Type.Enum(STAFF_ROLES), { minItems: 1, maxItems: 3 }),
            /** Required for roles that demand a PIN (supervisor). Stored only as a hash. */
            pin: Type.Optional(Type.String({ pattern: STAFF_PIN_PATTERN })),
          },
          { additionalProperties: false },
        ),
        { maxItems: 10_000 },
      ),
    ),
    /** Cash registers (drawers) a shift is opened on. */
    cashRegisters: Type.Optional(
      Type.Array(Type.Object({ id: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$' }), name: Name }, { additionalProperties: false }), { maxItems: 1_000 }),
    ),
    /** Whether kiosks may sell while the gateway is unreachable, and how much. Default: not at all. */
    offline: Type.Optional(OfflinePolicy),
    /** How far a transaction's `at` may be from the gateway's clock (default DEFAULT_TRANSACTION_TIME). */
    transactionTime: Type.Optional(TransactionTimeSchema),
    kiosks: Type.Array(
      Type.Object(
        {
          id: KioskId,
          booth: BoothId,
          /** MQTT password of the kiosk; a high-entropy secret, stored only as a hash. */
          token: Type.String({ minLength: 16, maxLength: 256 }),
          /** Raw Ed25519 public key, base64url; missing until the kiosk is enrolled. */
          publicKey: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' })),
          saleAllowed: Type.Boolean(),
          topupAllowed: Type.Boolean(),
          /** A till profile id; overrides the two flags. */
          profile: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        },
        { additionalProperties: false },
      ),
      { maxItems: 10_000 },
    ),
    wristbands: Type.Array(
      Type.Object(
        {
          uid: TagUid,
          /**
           * Guest PIN for the portal, the only secret a guest logs in with: 8-32
           * characters of A-Z and 2-9 without the look-alikes I and O (at least 40
           * bits), compared case-insensitively, unique. Stored only as a keyed hash.
           */
          pin: Type.String({ pattern: PIN_PATTERN }),
          blocked: Type.Optional(Type.Boolean()),
          /** This wristband's own SDM file read key (a diversified key), instead of tagPolicy.sun.fileReadKey. */
          sunFileReadKey: Type.Optional(AesKeyHex),
          /** e.g. 'under16', 'under18': products restricted for it are refused. Default 'adult'. */
          variant: Type.Optional(Variant),
          /** Vouchers granted (crew drinks): each pays for one unit of an eligible product. */
          vouchers: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
        },
        { additionalProperties: false },
      ),
      { maxItems: 1_000_000 },
    ),
  },
  { additionalProperties: false },
)
export type EventSetup = Static<typeof EventSetupSchema>

const validateEventSetup = createValidator(EventSetupSchema)

export class EventSetupError extends Error {
  override name = 'EventSetupError'
}

/** Validates a parsed set-up value: schema first, then cross references. Throws EventSetupError. */
export function parseEventSetup(value: unknown): EventSetup {
  const checked = validateEventSetup(value)
  if (!checked.ok) throw new EventSetupError(`invalid event set-up: ${checked.error}`)
  const setup = checked.value
  const problems: string[] = []

  const booths = new Set<string>()
  setup.booths.forEach((b, i) => {
    if (booths.has(b.id)) problems.push(`/booths/${i} duplicate booth id '${b.id}'`)
    booths.add(b.id)
  })
  const products = new Set<string>()
  setup.products.forEach((p, i) => {
    if (!booths.has(p.booth)) problems.push(`/products/${i} booth '${p.booth}' is not in booths`)
    const key = `${p.booth}\u0000${p.id}`
    if (products.has(key)) problems.push(`/products/${i} duplicate product '${p.id}' at booth '${p.booth}'`)
    products.add(key)
    const kind = p.kind ?? 'item'
    if (p.price < 0 && kind !== 'discount') problems.push(`/products/${i}/price is negative: only a discount may have a negative price`)
    if (kind === 'discount' && (p.price >= 0 || p.fixedPrice === false)) problems.push(`/products/${i}/price a discount has a fixed negative price`)
    if (kind === 'ticket' && p.fixedPrice === false) problems.push(`/products/${i} a ticket has a fixed price`)
    if (p.ticketVariant !== undefined && kind !== 'ticket') problems.push(`/products/${i} ticketVariant is for tickets only`)
    if (p.maxReturnQty !== undefined && kind !== 'deposit') problems.push(`/products/${i} maxReturnQty is for deposits only`)
  })
  const profiles = new Set<string>()
  setup.tillProfiles?.forEach((p, i) => {
    if (profiles.has(p.id)) problems.push(`/tillProfiles/${i} duplicate profile id '${p.id}'`)
    profiles.add(p.id)
  })
  const registers = new Set<string>()
  setup.cashRegisters?.forEach((r, i) => {
    if (registers.has(r.id)) problems.push(`/cashRegisters/${i} duplicate register id '${r.id}'`)
    registers.add(r.id)
  })
  const staff = new Set<string>()
  setup.staff?.forEach((m, i) => {
    if (staff.has(m.uid)) problems.push(`/staff/${i} duplicate staff uid '${m.uid}'`)
    staff.add(m.uid)
    if (m.roles.some((r) => PIN_ROLES.includes(r)) && m.pin === undefined) problems.push(`/staff/${i} role ${m.roles.join(',')} needs a pin`)
  })
  const kiosks = new Set<string>()
  const tokens = new Set<string>()
  setup.kiosks.forEach((k, i) => {
    if (!booths.has(k.booth)) problems.push(`/kiosks/${i} booth '${k.booth}' is not in booths`)
    if (k.profile !== undefined && !profiles.has(k.profile)) problems.push(`/kiosks/${i} profile '${k.profile}' is not in tillProfiles`)
    if (kiosks.has(k.id)) problems.push(`/kiosks/${i} duplicate kiosk id '${k.id}'`)
    kiosks.add(k.id)
    // Never echo the token itself in an error.
    if (tokens.has(k.token)) problems.push(`/kiosks/${i} token is shared with another kiosk`)
    tokens.add(k.token)
    if (k.publicKey !== undefined) {
      try {
        parseKioskPublicKey(k.publicKey)
      } catch (err) {
        problems.push(`/kiosks/${i} publicKey: ${(err as Error).message}`)
      }
    }
  })
  setup.tillProfiles?.forEach((p, i) => {
    const sold = new Set(setup.kiosks.filter((k) => k.profile === p.id).map((k) => k.booth))
    p.products?.forEach((id, j) => {
      if (![...sold].every((booth) => products.has(`${booth}\u0000${id}`)))
        problems.push(`/tillProfiles/${i}/products/${j} '${id}' is not a product of every booth using this profile`)
    })
  })
  const uids = new Set<string>()
  const pins = new Set<string>()
  setup.wristbands.forEach((w, i) => {
    if (uids.has(w.uid)) problems.push(`/wristbands/${i} duplicate uid '${w.uid}'`)
    if (staff.has(w.uid)) problems.push(`/wristbands/${i} uid '${w.uid}' is a staff wristband`)
    uids.add(w.uid)
    // The portal finds a wristband by its PIN alone, so two may not share one (in any letter case). Never echo the PIN.
    const pin = normalisePin(w.pin)
    if (pin !== undefined && pins.has(pin)) problems.push(`/wristbands/${i} PIN is the same as another wristband's`)
    if (pin !== undefined) pins.add(pin)
  })

  problems.push(...tagPolicyProblems(setup))
  const bank = setup.portal?.bankAccount
  if (bank !== undefined && !isValidIBAN(electronicFormatIBAN(bank.iban) ?? '')) problems.push('/portal/bankAccount/iban is not a valid IBAN')
  if (bank?.bic !== undefined && !isValidBIC(bank.bic.toUpperCase())) problems.push('/portal/bankAccount/bic is not a valid BIC')

  if (problems.length > 0) {
    const shown = problems.slice(0, 5).join('; ')
    const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''
    throw new EventSetupError(`invalid event set-up: ${shown}${more}`)
  }
  return setup
}

const ALL_ZERO_KEY = /^0{32}$/

/** Cross checks of the tag policy and the wristbands' SUN keys. Never quotes a key. */
function tagPolicyProblems(setup: EventSetup): string[] {
  const problems: string[] = []
  const policy = setup.tagPolicy
  const seen = new Set<string>()
  policy?.acceptedTypes.forEach((type, i) => {
    if (!TAG_TYPES.includes(type)) problems.push(`/tagPolicy/acceptedTypes/${i} '${type}' is not a known tag type (${TAG_TYPES.join(', ')})`)
    if (seen.has(type)) problems.push(`/tagPolicy/acceptedTypes/${i} '${type}' is listed twice`)
    seen.add(type)
  })
  if (policy?.requireSun) {
    if (!seen.has('ntag424')) problems.push(`/tagPolicy requireSun needs 'ntag424' in acceptedTypes: no other tag type sends SUN messages`)
    if (policy.sun === undefined) problems.push(`/tagPolicy requireSun needs sun keys (metaReadKey and fileReadKey or per-wristband sunFileReadKey)`)
    else if (policy.sun.fileReadKey === undefined) {
      const missing = setup.wristbands.findIndex((w) => w.sunFileReadKey === undefined)
      if (missing >= 0) problems.push(`/wristbands/${missing} has no sunFileReadKey and /tagPolicy/sun has no fileReadKey: its SUN could never be checked`)
    }
  }
  // NXP ships every key as zeros: with them anyone can make a valid SUN message.
  if (policy?.sun !== undefined && ALL_ZERO_KEY.test(policy.sun.metaReadKey)) problems.push(`/tagPolicy/sun/metaReadKey is the factory default (all zero): set the tags' own keys`)
  if (policy?.sun?.fileReadKey !== undefined && ALL_ZERO_KEY.test(policy.sun.fileReadKey)) problems.push(`/tagPolicy/sun/fileReadKey is the factory default (all zero): set the tags' own keys`)
  setup.wristbands.forEach((w, i) => {
    if (w.sunFileReadKey === undefined) return
    if (policy?.sun === undefined) problems.push(`/wristbands/${i} has a sunFileReadKey but /tagPolicy/sun has no metaReadKey to decrypt its SUN`)
    if (ALL_ZERO_KEY.test(w.sunFileReadKey)) problems.push(`/wristbands/${i} sunFileReadKey is the factory default (all zero)`)
  })
  return problems
}

/** Reads and validates a set-up file. Throws EventSetupError naming the file. */
export function loadEventSetup(path: string): EventSetup {
  let text: string
  try {
    const size = statSync(path).size
    if (size > MAX_EVENT_SETUP_BYTES) throw new EventSetupError(`${path}: ${size} bytes exceeds ${MAX_EVENT_SETUP_BYTES}`)
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if (err instanceof EventSetupError) throw err
    throw new EventSetupError(`${path}: cannot read event set-up (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    // V8's message quotes a snippet of the text, which may hold a token or PIN: keep only the position.
    const position = /position (\d+)/.exec((err as Error).message)?.[1]
    throw new EventSetupError(`${path}: not valid JSON${position === undefined ? '' : ` (at position ${position})`}`)
  }
  try {
    return parseEventSetup(value)
  } catch (err) {
    throw new EventSetupError(`${path}: ${(err as Error).message}`)
  }
}
