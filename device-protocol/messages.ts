// Payload schemas of the MQTT topics other than the transaction envelope
// (see transaction.ts). Every receiver validates with these before acting.
import Type, { type Static } from 'typebox'
import { Cents, KioskId, Uuid } from './transaction.js'
import { createValidator } from './validate.js'

/**
 * Named result codes of the ledger, TigerBeetle style: every refusal has one, the
 * kiosk shows it, tests assert on it.
 */
export const REJECT_REASONS = [
  'invalid_transaction', // schema or arithmetic wrong (amount != sum of lines, ...)
  'unknown_kiosk',
  'bad_signature',
  'seq_conflict', // a different transaction already holds this kiosk's seq
  'chain_mismatch', // prev is not the hash of the kiosk's previous envelope
  'unknown_tag',
  'tag_blocked',
  'unknown_product',
  'price_mismatch',
  'amount_mismatch',
  'insufficient_balance',
  'topup_not_allowed',
  'sale_not_allowed',
  'tag_not_authentic', // the tag's SUN is missing where required, does not verify, or names another UID: a clone
  'tag_replayed', // the SUN's read counter is not above the last one seen for the tag: a recorded tap played again
  'tag_type_not_accepted', // the event does not accept this tag type
  'duplicate_payment', // a topup_card whose card-terminal reference was booked before
] as const
export type RejectReason = (typeof REJECT_REASONS)[number]

export const TxResult = Type.Object(
  {
    kind: Type.Literal('result'),
    id: Uuid,
    seq: Type.Integer({ minimum: 1 }),
    status: Type.Union([Type.Literal('accepted'), Type.Literal('rejected')]),
    /** The guest's balance after the booking, cents. */
    balance: Type.Optional(Type.Integer()),
    reason: Type.Optional(Type.Enum(REJECT_REASONS)),
  },
  { additionalProperties: false },
)
export type TxResult = Static<typeof TxResult>

/**
 * The gateway saw seq N+k while it expected N: it processes nothing past the
 * gap and asks the kiosk to send again from `fromSeq`.
 */
export const ResendRequest = Type.Object(
  {
    kind: Type.Literal('resend'),
    fromSeq: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
)
export type ResendRequest = Static<typeof ResendRequest>

export const ReplyMessage = Type.Union([TxResult, ResendRequest])
export type ReplyMessage = Static<typeof ReplyMessage>
export const validateReply = createValidator(ReplyMessage)

export const KioskState = Type.Object(
  {
    kiosk: KioskId,
    status: Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('lost')]),
    at: Type.Integer({ minimum: 0 }),
    version: Type.Optional(Type.String({ maxLength: 64 })),
    outboxDepth: Type.Optional(Type.Integer({ minimum: 0 })),
    reader: Type.Optional(Type.String({ maxLength: 128 })),
    counters: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Integer({ minimum: 0 }))),
  },
  { additionalProperties: false },
)
export type KioskState = Static<typeof KioskState>
export const validateKioskState = createValidator(KioskState)

export const Product = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 64 }),
    name: Type.String({ minLength: 1, maxLength: 128 }),
    price: Cents,
  },
  { additionalProperties: false },
)
export type Product = Static<typeof Product>

export const KioskConfig = Type.Object(
  {
    kiosk: KioskId,
    booth: Type.String({ minLength: 1, maxLength: 64 }),
    /** Bumped on every change; a kiosk ignores a config older than the one it has. */
    version: Type.Integer({ minimum: 0 }),
    products: Type.Array(Product, { maxItems: 500 }),
    topupAllowed: Type.Boolean(),
    saleAllowed: Type.Boolean(),
  },
  { additionalProperties: false },
)
export type KioskConfig = Static<typeof KioskConfig>
export const validateKioskConfig = createValidator(KioskConfig)

export const GatewayState = Type.Object(
  {
    status: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
    at: Type.Integer({ minimum: 0 }),
    version: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
)
export type GatewayState = Static<typeof GatewayState>
export const validateGatewayState = createValidator(GatewayState)

/** `events/booked`: what operators see of a processed transaction (no signature, no secrets). */
export const BookedEvent = Type.Object(
  {
    id: Uuid,
    kiosk: KioskId,
    seq: Type.Integer({ minimum: 1 }),
    type: Type.String(),
    amount: Cents,
    status: Type.Union([Type.Literal('accepted'), Type.Literal('rejected')]),
    reason: Type.Optional(Type.String()),
    at: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
)
export type BookedEvent = Static<typeof BookedEvent>

/** `events/alert`: something an operator should look at (a gap, a forged signature, a chain break). */
export const AlertEvent = Type.Object(
  {
    kind: Type.String({ maxLength: 64 }),
    message: Type.String({ maxLength: 1024 }),
    kiosk: Type.Optional(KioskId),
    at: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
)
export type AlertEvent = Static<typeof AlertEvent>
