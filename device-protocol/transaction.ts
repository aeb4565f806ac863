// The signed transaction envelope a kiosk sends to the gateway.
//
// A kiosk signs the RFC 8785 canonical JSON of the transaction body with its
// Ed25519 key. Each body names the hash of the kiosk's previous envelope in
// `prev`, so the gateway can tell a gap, a reorder or a rewritten history from
// a plain resend. All money is integer cents.
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import canonicalize from 'canonicalize'
import Type, { type Static } from 'typebox'
import { createValidator } from './validate.js'

/** `prev` of a kiosk's first transaction. */
export const GENESIS_HASH = '0'.repeat(64)

/** Upper bound of one transaction's amount (100,000.00): keeps sums far from 2^53. */
export const MAX_AMOUNT_CENTS = 10_000_000
export const MAX_LINES = 100

/**
 * - sale: a cart paid from the wristband (total >= 0); return: a cart whose
 *   total is negative (deposits returned), amount is what the wristband gets.
 * - topup_cash, topup_card: money onto the wristband (cash drawer, card terminal).
 * - cancel: undoes the kiosk's last sale or return (`ref`), within the profile's window.
 * - cashout: the wristband's money paid back in cash.
 * - ticket: activates a new wristband (`tag`), lines are the ticket products,
 *   `topup` the part of `amount` put on it; paid in cash.
 * - tag_switch: a guest who lost a wristband proves who they are with the
 *   portal PIN (`sealedPin`); its balance moves to `tag` and the old one is blocked.
 * - shift_open (`amount` = opening float), shift_close (`amount` = counted cash)
 *   of the cash register `register`.
 */
export const TRANSACTION_TYPES = [
  'sale',
  'return',
  'topup_cash',
  'topup_card',
  'cancel',
  'cashout',
  'ticket',
  'tag_switch',
  'shift_open',
  'shift_close',
] as const
export type TransactionType = (typeof TRANSACTION_TYPES)[number]

export const KioskId = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,31}$' })
export const TagUid = Type.String({ pattern: '^[0-9A-F]{8,20}$', description: '4, 7 or 10 byte UID, upper-case hex' })
export const Cents = Type.Integer({ minimum: 0, maximum: MAX_AMOUNT_CENTS })
export const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' })
export const Hash = Type.String({ pattern: '^[0-9a-f]{64}$' })

/**
 * A secure tag's SUN message as the reader reported it (NTAG 424 DNA, AES):
 * encrypted PICC data and truncated SDMMAC, upper-case hex. The gateway checks
 * it (gateway/sun/) and refuses a clone or a replayed tap.
 */
export const TagSun = Type.Object(
  {
    piccData: Type.String({ pattern: '^[0-9A-F]{32}$' }),
    cmac: Type.String({ pattern: '^[0-9A-F]{16}$' }),
  },
  { additionalProperties: false },
)
export type TagSun = Static<typeof TagSun>

export const Tag = Type.Object(
  {
    uid: TagUid,
    type: Type.String({ minLength: 1, maxLength: 32 }),
    sun: Type.Optional(TagSun),
  },
  { additionalProperties: false },
)

/**
 * A cart line. qty is negative for returned items (a deposit back), unitPrice
 * for a discount; neither is ever 0 for qty. The line's value is qty * unitPrice.
 */
export const Line = Type.Object(
  {
    product: Type.String({ minLength: 1, maxLength: 64 }),
    qty: Type.Integer({ minimum: -1000, maximum: 1000 }),
    unitPrice: Type.Integer({ minimum: -MAX_AMOUNT_CENTS, maximum: MAX_AMOUNT_CENTS }),
  },
  { additionalProperties: false },
)
export type Line = Static<typeof Line>

/** A card terminal's identifiers (terminal id, receipt and trace number): digits mostly, kept generic. */
const TerminalReference = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$' })

/**
 * The card terminal's reference of the payment a `topup_card` carries (required
 * there, forbidden on other types). terminalId + receiptNumber + traceNumber is
 * booked at most once. maskedPan must be masked: at most the first 6 and last 4
 * digits visible, so a full card number can never be signed into the ledger.
 */
export const CardPayment = Type.Object(
  {
    terminalId: TerminalReference,
    receiptNumber: TerminalReference,
    traceNumber: TerminalReference,
    maskedPan: Type.Optional(Type.String({ minLength: 4, maxLength: 32, pattern: '^[0-9]{0,6}[*Xx]{3,}[0-9]{0,4}$' })),
    cardType: Type.Optional(Type.String({ minLength: 1, maxLength: 32, pattern: '^[\\x20-\\x7E]+$' })),
    // What the terminal's TLV container told (ZVT 1F12, 1F10, 43, 1F2B); optional, so kiosks that do not send them still book.
    /** e.g. chip, contactless, magnetic_stripe. */
    cardTechnology: Type.Optional(Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z0-9_]+$' })),
    /** e.g. online_pin, signature, none. */
    cardholderVerification: Type.Optional(Type.String({ minLength: 1, maxLength: 40, pattern: '^[a-z0-9_]+$' })),
    /** The card application's AID: 5-16 bytes, upper-case hex. */
    aid: Type.Optional(Type.String({ minLength: 10, maxLength: 32, pattern: '^([0-9A-F]{2})+$' })),
    /** The terminal's trace number in long format: digits. */
    longReceiptNumber: Type.Optional(Type.String({ minLength: 1, maxLength: 20, pattern: '^[0-9]+$' })),
  },
  { additionalProperties: false },
)
export type CardPayment = Static<typeof CardPayment>

/** The one string the gateway keeps unique per booked card payment. */
export function cardPaymentRef(payment: Pick<CardPayment, 'terminalId' | 'receiptNumber' | 'traceNumber'>): string {
  // JSON of an array: unambiguous whatever the parts hold.
  return JSON.stringify([payment.terminalId, payment.receiptNumber, payment.traceNumber])
}

/**
 * shift_close only: what the kiosk's card terminal reported at its end of day
 * (ZVT 06 50), or why it could not. Informational: the gateway keeps it with
 * the shift's envelope and books nothing from it. Bounded: at most 16 card
 * types, counts up to 1,000,000, cents as everywhere.
 */
export const TerminalTotals = Type.Union([
  Type.Object(
    {
      status: Type.Literal('ok'),
      terminalId: Type.Optional(TerminalReference),
      totalCents: Cents,
      count: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
      cardTypes: Type.Array(
        Type.Object(
          {
            cardType: Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z0-9_]+$' }),
            count: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
            amountCents: Cents,
          },
          { additionalProperties: false },
        ),
        { maxItems: 16 },
      ),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      status: Type.Literal('missing'),
      /** Why the terminal gave no totals (printable text). */
      reason: Type.String({ minLength: 1, maxLength: 200, pattern: '^[\\x20-\\x7E]+$' }),
    },
    { additionalProperties: false },
  ),
])
export type TerminalTotals = Static<typeof TerminalTotals>

export const Transaction = Type.Object(
  {
    v: Type.Literal(1),
    id: Uuid,
    kiosk: KioskId,
    seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    prev: Hash,
    type: Type.Enum(TRANSACTION_TYPES),
    tag: Tag,
    lines: Type.Array(Line, { maxItems: MAX_LINES }),
    amount: Cents,
    /** Kiosk clock, Unix milliseconds. */
    at: Type.Integer({ minimum: 0 }),
    /** topup_card only: the terminal's reference of the card payment. */
    payment: Type.Optional(CardPayment),
    /** The staff wristband logged in at the kiosk: who booked it. Required once the event has staff. */
    staff: Type.Optional(TagUid),
    /** cancel: the id of the sale or return it undoes. */
    ref: Type.Optional(Uuid),
    /** shift_open, shift_close: the cash register. */
    register: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$' })),
    /** shift_close: the card terminal's totals from its end of day, or why they are missing. */
    terminalTotals: Type.Optional(TerminalTotals),
    /** ticket: cents of `amount` that go onto the new wristband. */
    topup: Type.Optional(Cents),
    /** tag_switch: the guest's portal PIN, encrypted to the gateway (JWE compact, ECDH-ES with X25519). */
    sealedPin: Type.Optional(Type.String({ minLength: 16, maxLength: 2048, pattern: '^[A-Za-z0-9_.-]+$' })),
    /** The kiosk accepted it while the gateway was unreachable (the guest has the goods). */
    offline: Type.Optional(Type.Literal(true)),
  },
  { additionalProperties: false },
)
export type Transaction = Static<typeof Transaction>

export const Envelope = Type.Object(
  {
    tx: Transaction,
    /** Ed25519 signature over canonicalBytes(tx), base64. */
    sig: Type.String({ pattern: '^[A-Za-z0-9+/]{86}==$' }),
  },
  { additionalProperties: false },
)
export type Envelope = Static<typeof Envelope>

export const validateEnvelope = createValidator(Envelope)

/** RFC 8785 (JCS) bytes of a JSON value: the bytes that are signed and hashed. */
export function canonicalBytes(value: unknown): Buffer {
  const text = canonicalize(value)
  if (text === undefined) throw new TypeError('value has no canonical JSON form')
  return Buffer.from(text, 'utf8')
}

/** RFC 8785 (JCS) text of a transaction: what its signature covers. */
export function canonicalText(tx: Transaction): string {
  const text = canonicalize(tx)
  if (text === undefined) throw new TypeError('value has no canonical JSON form')
  return text
}

/**
 * canonicalBytes(envelope), from the transaction's canonical text when the caller has it already (ingest
 * made it for the signature check): an envelope is exactly { sig, tx }, and JCS writes "sig" before "tx"
 * and a string as JSON.stringify does, so only the transaction needs canonicalising, once.
 */
export function canonicalEnvelopeBytes(envelope: Envelope, txText?: string): Buffer {
  if (txText === undefined) return canonicalBytes(envelope)
  return Buffer.from(`{"sig":${JSON.stringify(envelope.sig)},"tx":${txText}}`, 'utf8')
}

/** Hash of an envelope, the `prev` of the kiosk's next transaction: SHA-256 hex of its canonical bytes. */
export function envelopeHash(envelope: Envelope): string {
  return createHash('sha256').update(canonicalBytes(envelope)).digest('hex')
}

export function signTransaction(tx: Transaction, privateKey: KeyObject): Envelope {
  return { tx, sig: sign(null, canonicalBytes(tx), privateKey).toString('base64') }
}

export function verifyEnvelope(envelope: Envelope, publicKey: KeyObject): boolean {
  return verify(null, canonicalBytes(envelope.tx), publicKey, Buffer.from(envelope.sig, 'base64'))
}

/** Same check on libuv's thread pool, so that verifies spread over the cores; `txText`: canonicalText(envelope.tx) if already made. */
export function verifyEnvelopeAsync(envelope: Envelope, publicKey: KeyObject, txText?: string): Promise<boolean> {
  const data = txText === undefined ? canonicalBytes(envelope.tx) : Buffer.from(txText, 'utf8')
  return new Promise((resolve) => {
    verify(null, data, publicKey, Buffer.from(envelope.sig, 'base64'), (err, ok) => resolve(!err && ok))
  })
}

/** A kiosk public key is exchanged as the 32 raw bytes, base64url (the JWK `x`). */
export function publicKeyFromBase64Url(x: string): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' })
}

export function publicKeyToBase64Url(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' })
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new TypeError('not an Ed25519 key')
  return jwk.x
}

export function privateKeyFromPem(pem: string): KeyObject {
  const key = createPrivateKey(pem)
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError('not an Ed25519 private key')
  return key
}

/** Sum of lines in cents; the gateway refuses a sale whose amount differs. */
export function linesTotal(lines: readonly Line[]): number {
  return lines.reduce((sum, l) => sum + l.qty * l.unitPrice, 0)
}
