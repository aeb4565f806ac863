// Request and response schemas of the card-terminal API, field for field as
// the seed (card-terminal-payments-api.txt) has them. The seed types ids as
// strings but its own examples send numbers (`"cart": 123`), so id fields take
// either and are used as strings. Amounts are decimal strings ("56.78").
// Unknown properties are refused, like everywhere in the gateway.
import Type, { type Static } from 'typebox'

const PRINTABLE_ID = '^[\\x21-\\x7E]+$'
const NO_CONTROL = '^[^\\x00-\\x1F\\x7F]+$'

export const IdString = Type.String({ minLength: 1, maxLength: 64, pattern: PRINTABLE_ID })
/** An id the seed types as string but sends as a number in its examples. */
export const IdLike = Type.Union([IdString, Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })])
/** Decimal amount with at most two decimals, e.g. "56.78". */
export const DecimalAmount = Type.String({ maxLength: 16, pattern: '^(0|[1-9][0-9]{0,8})(\\.[0-9]{1,2})?$', description: 'decimal amount, at most two decimals, e.g. "56.78"' })
/**
 * The seed's "user" is a wristband: its UID in hex. Typed as the seed has it (a
 * string, sent as a number in its own examples), so any id-like value passes
 * the schema and one that names no wristband is answered 422 `unknown_user`.
 * A number is read as its decimal digits (234510 is the UID "234510").
 */
const userIdOf = (description: string) => Type.Union([IdString, Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })], { description })
export const UserId = userIdOf('The wristband (its UID in hex, e.g. "04A1B2C3D4E5F6"); a number is read as its decimal digits.')
/** A location: a booth id, or the Stripe location id (tml_...) that `configuration` answers for it. */
export const LocationId = Type.Union([IdString, Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })], {
  description: 'The location: a booth id, or its Stripe location id (tml_...) as `configuration` answers it.',
})
export const Label = Type.String({ minLength: 1, maxLength: 100, pattern: NO_CONTROL })
export const TerminalId = Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_]+$' })

const strict = { additionalProperties: false } as const

export const ConfigurationRequest = Type.Object({ cart: Type.Optional(IdLike) }, strict)
export const ConfigurationResponse = Type.Object({
  stripe_publishable_api_key: Type.Optional(Type.String()),
  stripe_location_id: Type.Optional(Type.String()),
})

export const SetupIntentRequest = Type.Object(
  {
    user: UserId,
    // Spelled as in the seed.
    colletion_method: Type.Optional(Type.Union([Type.Literal('manual'), Type.Literal('terminal')])),
  },
  strict,
)
export const SetupIntentResponse = Type.Object({
  stripe_setup_intent_id: Type.Optional(Type.String()),
  stripe_publishable_api_key: Type.Optional(Type.String()),
  client_secret: Type.Optional(Type.String()),
})

export const StorePaymentMethodRequest = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: NO_CONTROL })),
    partner: IdLike,
    payment_method: Type.String({ minLength: 3, maxLength: 100, pattern: '^[A-Za-z0-9_]+$' }),
    postal_code: Type.Union([Type.String({ minLength: 1, maxLength: 16, pattern: '^[A-Za-z0-9 -]+$' }), Type.Integer({ minimum: 0, maximum: 9_999_999_999 })]),
    user: UserId,
  },
  strict,
)
export const StorePaymentMethodResponse = Type.Object({
  payment_method: Type.Optional(Type.String()),
  bankcard: Type.Optional(Type.String()),
})

export const PaymentIntentRequest = Type.Object(
  {
    cart: IdLike,
    /** The part charged by card through Stripe. */
    amount: DecimalAmount,
    /** The part taken from the wristband's balance (needs `user`). */
    account_balance_payment_amount: Type.Optional(DecimalAmount),
    payment_type: Type.Optional(Type.Union([Type.Literal('card'), Type.Literal('terminal')])),
    /** wristpay extension: the wristband whose balance pays account_balance_payment_amount. */
    user: Type.Optional(
      userIdOf(
        'wristpay extension, not in the seed: the wristband (UID) whose balance pays account_balance_payment_amount. ' +
          'Required when account_balance_payment_amount is above 0 (422 user_required without it); card-only payments do not need it.',
      ),
    ),
  },
  strict,
)
export const PaymentIntentResponse = Type.Object({
  stripe_payment_intent_id: Type.Optional(Type.String()),
  stripe_publishable_api_key: Type.Optional(Type.String()),
  client_secret: Type.Optional(Type.String()),
})

export const PaymentStatusRequest = Type.Object({ cart: IdLike }, strict)
export const PaymentStatusResponse = Type.Object({
  status: Type.Optional(Type.Union([Type.Literal('Open'), Type.Literal('Submitted'), Type.Literal('Failed')])),
  order: Type.Optional(Type.String()),
  error: Type.Optional(Type.String()),
})

export const ConnectionTokenRequest = Type.Object({ cart: IdLike }, strict)
export const ConnectionTokenResponse = Type.Object({ stripe_connection_token: Type.Optional(Type.String()) })

export const RegisterTerminalRequest = Type.Object(
  {
    location: LocationId,
    registration_code: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9-]+$' }),
    label: Label,
  },
  strict,
)
export const TerminalListRequest = Type.Object({ location: LocationId }, strict)
export const TerminalListResponse = Type.Array(
  Type.Object({
    terminal_id: Type.Optional(Type.String()),
    label: Type.Optional(Type.String()),
  }),
)
export const UpdateTerminalRequest = Type.Object({ terminal_id: TerminalId, label: Label }, strict)
export const DeregisterTerminalRequest = Type.Object({ terminal_id: TerminalId }, strict)

export type ConfigurationRequest = Static<typeof ConfigurationRequest>
export type SetupIntentRequest = Static<typeof SetupIntentRequest>
export type StorePaymentMethodRequest = Static<typeof StorePaymentMethodRequest>
export type PaymentIntentRequest = Static<typeof PaymentIntentRequest>
export type PaymentStatusRequest = Static<typeof PaymentStatusRequest>
export type ConnectionTokenRequest = Static<typeof ConnectionTokenRequest>
export type RegisterTerminalRequest = Static<typeof RegisterTerminalRequest>
export type TerminalListRequest = Static<typeof TerminalListRequest>
export type UpdateTerminalRequest = Static<typeof UpdateTerminalRequest>
export type DeregisterTerminalRequest = Static<typeof DeregisterTerminalRequest>
