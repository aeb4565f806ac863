// Request and response schemas of the users and payments API, named and shaped
// as in seeds/users-payments-api.txt (CreateUserDto, ReturnUserDto, ...). They
// validate requests and generate the OpenAPI document. Our additions to the
// seed are optional and marked: `amount` on CreatePaymentDto and the wristband link.
import Type, { type Static } from 'typebox'
import { TagUid } from '../../device-protocol/index.js'

const EMAIL_PATTERN = '^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$'

const Email = Type.String({ pattern: EMAIL_PATTERN, minLength: 3, maxLength: 254, description: "The user's email address." })
const UserName = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S', description: "The user's name." })
/** Bounded above so that scrypt never hashes megabytes. */
const Password = Type.String({ minLength: 8, maxLength: 128, description: "The user's password (8 to 128 characters)." })
const CustomerId = Type.String({
  pattern: '^cus_[A-Za-z0-9_]{1,250}$',
  description: "The user's Stripe customer id. It is assigned by the server: only the user's current value is accepted (403 customer_id_immutable otherwise).",
})
const Cuid = Type.String({
  pattern: '^[A-Za-z0-9_-]{8,64}$',
  description:
    'CUID (collision resistant id) that identifies the user session; the idempotency key of the payment intent creation: unique for each payment, constant between retries.',
})

export const CreateUserDto = Type.Object({ userName: UserName, email: Email, password: Password }, { additionalProperties: false })
export type CreateUserDto = Static<typeof CreateUserDto>

export const LoginUserDto = Type.Object(
  // No pattern on login: a malformed email simply does not match a user (401).
  { email: Type.String({ minLength: 1, maxLength: 254 }), password: Type.String({ minLength: 1, maxLength: 128 }) },
  { additionalProperties: false },
)
export type LoginUserDto = Static<typeof LoginUserDto>

export const UpdateUserDto = Type.Object(
  {
    /** Accepted so that a client may send back the whole ReturnUserDto it got; must be the id of the path. */
    userId: Type.Optional(Type.String({ maxLength: 128, description: "The user's id, as returned; if sent, it must be the id in the path." })),
    userName: Type.Optional(UserName),
    email: Type.Optional(Email),
    /** Accepted as the seed has it, but only with the user's own current value: a user cannot take over another Stripe customer. */
    customerId: Type.Optional(CustomerId),
  },
  { additionalProperties: false },
)
export type UpdateUserDto = Static<typeof UpdateUserDto>

export const ReturnUserDto = Type.Object(
  {
    userId: Type.String({ description: "The user's id." }),
    userName: Type.String(),
    email: Type.String(),
    customerId: Type.Optional(Type.String({ description: "The user's Stripe customer id. Users without payments do not have one." })),
  },
  { additionalProperties: false },
)
export type ReturnUserDto = Static<typeof ReturnUserDto>

export const AuthGrantDto = Type.Object({ access_token: Type.String({ description: 'The access token.' }) }, { additionalProperties: false })
export type AuthGrantDto = Static<typeof AuthGrantDto>

export const CreatePaymentDto = Type.Object(
  {
    cuid: Cuid,
    /** wristpay addition: the amount to pre-pay in cents; without it the configured default amount. */
    amount: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000_000, description: 'Amount in cents (wristpay addition; default: the configured amount).' })),
  },
  { additionalProperties: false },
)
export type CreatePaymentDto = Static<typeof CreatePaymentDto>

export const ConfirmPaymentDto = Type.Object(
  {
    cuid: Cuid,
    paymentId: Type.String({ pattern: '^pi_[A-Za-z0-9_]{1,100}$', description: 'Payment intent id.' }),
    paymentMethodId: Type.String({ pattern: '^pm_[A-Za-z0-9_]{1,100}$', description: 'Payment method id.' }),
  },
  { additionalProperties: false },
)
export type ConfirmPaymentDto = Static<typeof ConfirmPaymentDto>

const paymentFields = {
  id: Type.String({ description: 'Payment Intent ID.' }),
  amount: Type.Integer({ description: 'Amount in cents.' }),
  currency: Type.String({ description: 'Currency code (lower case, as Stripe has it).' }),
  status: Type.String({ description: 'Payment Intent status, as Stripe has it (requires_payment_method, requires_action, processing, succeeded, canceled, ...).' }),
  paymentMethod: Type.String({ description: 'Stripe payment method; empty before one is attached.' }),
}

export const ReturnPaymentDto = Type.Object(paymentFields, { additionalProperties: false })
export type ReturnPaymentDto = Static<typeof ReturnPaymentDto>

export const PaymentCreatedDto = Type.Object(
  { ...paymentFields, clientSecret: Type.String({ description: 'Client secret for the payment intent.' }) },
  { additionalProperties: false },
)
export type PaymentCreatedDto = Static<typeof PaymentCreatedDto>

export const IdParams = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' }) }, { additionalProperties: false })
export type IdParams = Static<typeof IdParams>

/** wristpay addition: link the account to a wristband, proven by the wristband's PIN. */
export const LinkWristbandDto = Type.Object(
  { uid: TagUid, pin: Type.String({ minLength: 1, maxLength: 64, description: "The wristband's PIN." }) },
  { additionalProperties: false },
)
export type LinkWristbandDto = Static<typeof LinkWristbandDto>

export const WristbandLinkDto = Type.Object(
  {
    userId: Type.String(),
    uid: Type.String(),
    /** 'replay': linked before; nothing moved now. */
    status: Type.Union([Type.Literal('linked'), Type.Literal('replay')]),
    /** Cents moved from the prepaid account to the wristband by this request. */
    amount: Type.Integer(),
  },
  { additionalProperties: false },
)
export type WristbandLinkDto = Static<typeof WristbandLinkDto>
