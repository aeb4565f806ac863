// TypeBox schemas of the customer portal API, written to match the components
// of customer-portal-openapi.json (same field names, types and required
// lists). fastify validates requests and serialises responses with them, and
// @fastify/swagger generates the documentation from them; the conformance
// test checks real responses against the OpenAPI file itself.
import Type, { type Static, type TSchema } from 'typebox'

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])
/** A string enum that serialises as a string (TypeBox's Enum has no `type`). */
const StringEnum = <const T extends readonly string[]>(values: T, title: string) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], title })

/** Money at this edge: a number with at most two decimals (checked in code, see money.ts). */
const Money = Type.Number()
const DateTime = Type.String({ format: 'date-time' })
const UuidString = Type.String({ format: 'uuid' })

// ---------------------------------------------------------------------------
// Errors

export const ValidationErrorItem = Type.Object({
  loc: Type.Array(Type.Union([Type.String(), Type.Integer()])),
  msg: Type.String(),
  type: Type.String(),
})

/** Every error of this API; 422 answers add `detail` so they also match the seed's HTTPValidationError. */
export const PortalErrorBody = Type.Object({
  type: Type.String(),
  id: Type.String(),
  message: Type.String(),
  detail: Type.Optional(Type.Array(ValidationErrorItem)),
})
export type PortalErrorBody = Static<typeof PortalErrorBody>

// ---------------------------------------------------------------------------
// Requests
//
// Unknown fields of a request are ignored, as the reference server does and
// the OpenAPI file allows (no `additionalProperties: false`): an existing
// front end sends more than we read (`privacy_policy` with the bank data).
// The known fields are validated all the same; handlers read only those.

/**
 * PINs: letters and digits, optionally grouped with spaces or hyphens
 * (`ABCD-EFGH`); the backend normalises and checks the rest. The narrow
 * alphabet also keeps junk out of the per-prefix rate limit's counters.
 */
export const Pin = Type.String({ minLength: 4, maxLength: 128, pattern: '^[A-Za-z0-9 -]+$', title: 'Pin' })

export const LoginPayload = Type.Object(
  {
    pin: Pin,
    /** The seed requires it; we accept and ignore it (one event per gateway). */
    node_id: Type.Optional(Type.Integer({ title: 'Node Id' })),
  },
  { title: 'LoginPayload' },
)
export type LoginPayload = Static<typeof LoginPayload>

export const CustomerBank = Type.Object(
  {
    iban: Type.String({ maxLength: 64, title: 'Iban' }),
    account_name: Type.String({ maxLength: 200, title: 'Account Name' }),
    email: Type.String({ maxLength: 320, title: 'Email' }),
    donation: Type.Optional(Type.Number({ title: 'Donation', default: 0 })),
  },
  { title: 'CustomerBank' },
)
export type CustomerBank = Static<typeof CustomerBank>

export const CreateCheckoutPayload = Type.Object({ amount: Type.Number({ title: 'Amount' }) }, { title: 'CreateCheckoutPayload' })
export type CreateCheckoutPayload = Static<typeof CreateCheckoutPayload>

/**
 * The OpenAPI file names the checkout by `order_uuid`; older front ends (the
 * seed text) send `checkout_id`. Either one; a body with an `order_uuid` is
 * judged by it (a malformed one is refused, not passed over for `checkout_id`).
 */
export const CheckCheckoutPayload = Type.Union(
  [Type.Object({ order_uuid: UuidString }), Type.Object({ checkout_id: Type.String({ minLength: 1, maxLength: 128 }) }, { not: { required: ['order_uuid'] } })],
  { title: 'CheckCheckoutPayload' },
)
export type CheckCheckoutPayload = Static<typeof CheckCheckoutPayload>

export const ConfigQuery = Type.Object({ base_url: Type.String({ maxLength: 2048, title: 'Base Url' }) })
export const BonParams = Type.Object({ order_uuid: Type.String({ maxLength: 64, title: 'Order Uuid' }) }, { additionalProperties: false })
export const BlobParams = Type.Object({ blob_id: Type.String({ format: 'uuid', title: 'Blob Id' }) }, { additionalProperties: false })

// ---------------------------------------------------------------------------
// Responses

export const AccountType = StringEnum(
  ['private', 'sale_exit', 'cash_entry', 'cash_exit', 'cash_topup_source', 'cash_imbalance', 'cash_vault', 'sumup_entry', 'sumup_online_entry', 'transport', 'voucher_create', 'donation_exit', 'sepa_exit', 'cash_register'] as const,
  'AccountType',
)
export const OrderType = StringEnum(
  ['sale', 'cancel_sale', 'top_up', 'pay_out', 'ticket', 'money_transfer', 'money_transfer_imbalance', 'cashier_shift_start', 'cashier_shift_end'] as const,
  'OrderType',
)
export const PaymentMethod = StringEnum(['cash', 'sumup', 'tag', 'sumup_online'] as const, 'PaymentMethod')
export const ProductType = StringEnum(['discount', 'topup', 'payout', 'money_transfer', 'imbalance', 'user_defined', 'ticket'] as const, 'ProductType')
export const SumUpCheckoutStatus = StringEnum(['PENDING', 'FAILED', 'PAID'] as const, 'SumUpCheckoutStatus')

export const Payout = Type.Object(
  {
    id: Type.Integer(),
    customer_account_id: Type.Integer(),
    iban: Nullable(Type.String()),
    account_name: Nullable(Type.String()),
    email: Nullable(Type.String()),
    user_tag_id: Type.Integer(),
    user_tag_uid: Type.Integer(),
    amount: Money,
    donation: Money,
    payout_run_id: Type.Integer(),
    user_tag_uid_hex: Nullable(Type.String()),
  },
  { title: 'Payout' },
)

export const UserTagHistoryEntry = Type.Object(
  {
    user_tag_id: Type.Integer(),
    user_tag_pin: Type.String(),
    user_tag_uid: Nullable(Type.Integer()),
    account_id: Type.Integer(),
    comment: Type.Optional(Nullable(Type.String())),
    mapping_was_valid_until: DateTime,
    user_tag_uid_hex: Nullable(Type.String()),
  },
  { title: 'UserTagHistoryEntry' },
)

export const Customer = Type.Object(
  {
    node_id: Type.Integer(),
    id: Type.Integer(),
    type: AccountType,
    name: Nullable(Type.String()),
    comment: Nullable(Type.String()),
    balance: Money,
    vouchers: Type.Integer(),
    activated_at: Type.Optional(Nullable(DateTime)),
    user_tag_id: Nullable(Type.Integer()),
    user_tag_uid: Nullable(Type.Integer()),
    user_tag_comment: Type.Optional(Nullable(Type.String())),
    user_tag_variant_ids: Type.Optional(Type.Array(Type.Integer())),
    user_tag_variant_names: Type.Optional(Type.Array(Type.String())),
    tag_history: Type.Array(UserTagHistoryEntry),
    iban: Nullable(Type.String()),
    account_name: Nullable(Type.String()),
    email: Nullable(Type.String()),
    donation: Nullable(Money),
    payout_export: Nullable(Type.Boolean()),
    user_tag_pin: Nullable(Type.String()),
    donate_all: Type.Boolean(),
    has_entered_info: Type.Boolean(),
    payout: Nullable(Payout),
    user_tag_uid_hex: Nullable(Type.String()),
  },
  { title: 'Customer' },
)
export type Customer = Static<typeof Customer>

export const LoginResponse = Type.Object(
  { customer: Customer, access_token: Type.String(), grant_type: Type.String({ default: 'bearer' }) },
  { title: 'LoginResponse' },
)

export const Product = Type.Object(
  {
    name: Type.String(),
    price: Nullable(Money),
    fixed_price: Type.Boolean(),
    price_in_vouchers: Type.Optional(Nullable(Type.Integer())),
    tax_rate_id: Type.Integer(),
    user_tag_variant_ids: Type.Array(Type.Integer()),
    is_locked: Type.Boolean(),
    is_returnable: Type.Boolean(),
    target_account_id: Type.Optional(Nullable(Type.Integer())),
    node_id: Type.Integer(),
    id: Type.Integer(),
    tax_name: Type.String(),
    tax_rate: Type.Number(),
    type: ProductType,
    price_per_voucher: Type.Optional(Nullable(Money)),
  },
  { title: 'Product' },
)

export const LineItem = Type.Object(
  {
    quantity: Type.Integer(),
    product: Product,
    product_price: Money,
    tax_rate_id: Type.Integer(),
    tax_name: Type.String(),
    tax_rate: Type.Number(),
    vouchers_redeemed: Type.Integer(),
    item_id: Type.Integer(),
    total_tax: Money,
    total_price: Money,
  },
  { title: 'LineItem' },
)
export type LineItem = Static<typeof LineItem>

const orderFields = {
  id: Type.Integer(),
  uuid: UuidString,
  total_price: Money,
  total_tax: Money,
  total_no_tax: Money,
  cancels_order: Nullable(Type.Integer()),
  booked_at: DateTime,
  payment_method: PaymentMethod,
  order_type: OrderType,
  cashier_id: Nullable(Type.Integer()),
  till_id: Nullable(Type.Integer()),
  cash_register_id: Nullable(Type.Integer()),
  customer_account_id: Nullable(Type.Integer()),
  customer_tag_uid: Nullable(Type.Integer()),
  customer_tag_id: Nullable(Type.Integer()),
  line_items: Type.Array(LineItem),
  customer_tag_uid_hex: Nullable(Type.String()),
}

export const OrderWithBon = Type.Object({ ...orderFields, bon_generated: Nullable(Type.Boolean()) }, { title: 'OrderWithBon' })
export type OrderWithBon = Static<typeof OrderWithBon>
export const OrdersWithBon = Type.Array(OrderWithBon)

export const OrderWithTse = Type.Object(
  {
    ...orderFields,
    signature_status: Type.String(),
    transaction_process_type: Type.Optional(Nullable(Type.String())),
    transaction_process_data: Type.Optional(Nullable(Type.String())),
    tse_transaction: Type.Optional(Nullable(Type.String())),
    tse_signaturenr: Type.Optional(Nullable(Type.String())),
    tse_start: Type.Optional(Nullable(Type.String())),
    tse_end: Type.Optional(Nullable(Type.String())),
    tse_hashalgo: Type.Optional(Nullable(Type.String())),
    tse_time_format: Type.Optional(Nullable(Type.String())),
    tse_signature: Type.Optional(Nullable(Type.String())),
    tse_public_key: Type.Optional(Nullable(Type.String())),
    node_id: Type.Integer(),
    tse_qr_code_text: Type.String(),
  },
  { title: 'OrderWithTse' },
)

export const TaxRateAggregation = Type.Object(
  { tax_name: Type.String(), tax_rate: Type.Number(), total_price: Money, total_tax: Money, total_no_tax: Money },
  { title: 'TaxRateAggregation' },
)

export const BonConfig = Type.Object(
  { title: Type.String(), issuer: Type.String(), address: Type.String(), ust_id: Type.String() },
  { title: 'BonConfig' },
)

export const BonJson = Type.Object(
  { order: OrderWithTse, tax_rate_aggregations: Type.Array(TaxRateAggregation), config: BonConfig, currency_identifier: Type.String() },
  { title: 'BonJson' },
)
export type BonJson = Static<typeof BonJson>

export const PayoutInfo = Type.Object({ in_payout_run: Type.Boolean(), payout_date: Nullable(DateTime) }, { title: 'PayoutInfo' })

export const PayoutTransaction = Type.Object(
  {
    amount: Money,
    booked_at: DateTime,
    target_account_name: Type.String(),
    target_account_type: Type.String(),
    transaction_id: Type.Integer(),
  },
  { title: 'PayoutTransaction' },
)
export const PayoutTransactions = Type.Array(PayoutTransaction)

export const Language = StringEnum(['en-US', 'de-DE'] as const, 'Language')

export const CustomerPortalApiConfig = Type.Object(
  {
    test_mode: Type.Boolean(),
    test_mode_message: Type.String(),
    event_name: Type.String(),
    data_privacy_url: Type.String(),
    contact_email: Type.String({ format: 'email' }),
    about_page_url: Type.String(),
    payout_enabled: Type.Boolean(),
    currency_identifier: Type.String(),
    sumup_topup_enabled: Type.Boolean(),
    allowed_country_codes: Nullable(Type.Array(Type.String())),
    translation_texts: Type.Record(Type.String(), Type.Record(Type.String(), Type.String())),
    event_design: Type.Object({ bon_logo_blob_id: Nullable(UuidString) }, { title: 'EventDesign' }),
    node_id: Type.Integer(),
    feedback_url: Type.Optional(Nullable(Type.String())),
  },
  { title: 'CustomerPortalApiConfig' },
)

export const CreateCheckoutResponse = Type.Object(
  {
    checkout_id: Type.String(),
    order_uuid: UuidString,
    /** Ours, beyond the seed: where a hosted-checkout provider wants the guest's browser. */
    redirect_url: Type.Optional(Type.String()),
  },
  { title: 'CreateCheckoutResponse' },
)

export const CheckCheckoutResponse = Type.Object({ status: SumUpCheckoutStatus }, { title: 'CheckCheckoutResponse' })

/** Not in the seed's OpenAPI file: a wristpay addition for top-ups by bank transfer before the event. */
export const BankTransfer = Type.Object(
  {
    reference: Type.String({ title: 'Reference' }),
    reference_display: Type.String({ title: 'Reference Display' }),
    account_holder: Type.String({ title: 'Account Holder' }),
    iban: Type.String({ title: 'Iban' }),
    bic: Nullable(Type.String({ title: 'Bic' })),
  },
  { title: 'BankTransfer', additionalProperties: false },
)

/**
 * Not in the seed's OpenAPI file: a wristpay addition, what the SEPA check of the guest's payout data
 * says. `none`: no payout data; `checking`: not answered yet; `ok`: the holder name matches the IBAN;
 * `needs_correction`: it does not, the guest should correct the name or the IBAN.
 */
export const PayoutCheck = Type.Object(
  {
    state: Type.Union([Type.Literal('none'), Type.Literal('checking'), Type.Literal('ok'), Type.Literal('needs_correction')], { title: 'State' }),
    message: Type.String({ title: 'Message' }),
  },
  { title: 'PayoutCheck', additionalProperties: false },
)

/**
 * Not in the seed's OpenAPI file: a wristpay addition, the guest's balance back to the card(s) they
 * topped up with online. Unknown fields are refused here, unlike the seed's bodies: a misspelt
 * `amount` must not become a refund of the whole balance.
 */
export const CardRefundPayload = Type.Object({ amount: Type.Optional(Type.Number({ title: 'Amount' })) }, { title: 'CardRefundPayload', additionalProperties: false })
export type CardRefundPayload = Static<typeof CardRefundPayload>

const CardRefundState = Type.Union([Type.Literal('pending'), Type.Literal('refunded'), Type.Literal('partly_refused'), Type.Literal('refused')])
export const CardRefund = Type.Object(
  {
    id: Type.String(),
    amount: Type.Number({ title: 'Amount' }),
    state: CardRefundState,
    created_at: DateTime,
    parts: Type.Array(
      Type.Object(
        { amount: Type.Number(), state: Type.Union([Type.Literal('pending'), Type.Literal('refunded'), Type.Literal('refused')]), reason: Nullable(Type.String()) },
        { additionalProperties: false },
      ),
    ),
  },
  { title: 'CardRefund', additionalProperties: false },
)
export const CardRefunds = Type.Object({ refundable: Type.Number({ title: 'Refundable' }), refunds: Type.Array(CardRefund) }, { title: 'CardRefunds', additionalProperties: false })
