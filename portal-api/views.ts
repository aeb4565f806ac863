// From the backend's records (integer cents, millisecond times, hex uids) to
// the seed API's bodies (two-decimal numbers, ISO times, integer ids). Pure.
import type {
  PortalConfig,
  PortalCustomer,
  PortalOrder,
  PortalOrderLine,
  PortalPayoutInfo,
  PortalPayoutTransaction,
  PortalReceipt,
} from './backend.js'
import { decimalFromCents as amountFromCents } from '../device-protocol/index.js'
import type { BonJson, Customer, LineItem, OrderWithBon } from './schemas.js'
import type { Static } from 'typebox'
import type { CustomerPortalApiConfig, PayoutInfo, PayoutTransaction } from './schemas.js'

const iso = (ms: number) => new Date(ms).toISOString()

/**
 * The seed has integer tag uids; ours are up to 10 bytes of hex, beyond what a
 * JSON number holds exactly. Integer only when it is exact, else null (the
 * seed allows null) and the hex field carries it.
 */
export function uidAsInteger(uidHex: string): number | null {
  if (!/^[0-9A-Fa-f]{1,20}$/.test(uidHex)) return null
  const value = BigInt(`0x${uidHex}`)
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : null
}

export function customerView(c: PortalCustomer, nodeId: number): Customer {
  const uidInt = uidAsInteger(c.uid)
  return {
    node_id: nodeId,
    id: c.id,
    type: 'private',
    name: null,
    comment: null,
    balance: amountFromCents(c.balanceCents),
    vouchers: 0,
    user_tag_id: c.id,
    user_tag_uid: uidInt,
    user_tag_comment: null,
    user_tag_variant_ids: [],
    user_tag_variant_names: [],
    tag_history: [],
    iban: c.iban,
    account_name: c.accountName,
    email: c.email,
    donation: amountFromCents(c.donationCents),
    payout_export: true,
    // The seed would echo the PIN; we never send a PIN anywhere.
    user_tag_pin: null,
    donate_all: c.donateAll,
    has_entered_info: c.hasEnteredInfo,
    payout: null,
    user_tag_uid_hex: c.uid,
  }
}

/**
 * Tax contained in a gross amount: gross * rate / (1 + rate), rounded to the
 * cent, half away from zero, so a negative amount (a cancel, a return) has
 * exactly the negated tax of the positive one.
 */
export function containedTaxCents(grossCents: number, rateBasisPoints: number): number {
  const magnitude = Math.round((Math.abs(grossCents) * rateBasisPoints) / (10_000 + rateBasisPoints))
  return grossCents < 0 && magnitude !== 0 ? -magnitude : magnitude
}

const productTypeOf = { sale: 'user_defined', cancel_sale: 'user_defined', top_up: 'topup', pay_out: 'payout', ticket: 'ticket', money_transfer: 'money_transfer' } as const

function lineView(order: PortalOrder, line: PortalOrderLine, nodeId: number): LineItem {
  const totalCents = line.quantity * line.unitPriceCents
  const taxRate = line.taxRateBasisPoints / 10_000
  return {
    quantity: line.quantity,
    product: {
      name: line.productName,
      price: amountFromCents(line.unitPriceCents),
      fixed_price: order.orderType === 'sale',
      price_in_vouchers: null,
      tax_rate_id: line.taxRateId,
      user_tag_variant_ids: [],
      is_locked: true,
      is_returnable: false,
      target_account_id: null,
      node_id: nodeId,
      id: line.productId,
      tax_name: line.taxName,
      tax_rate: taxRate,
      type: productTypeOf[order.orderType],
      price_per_voucher: null,
    },
    product_price: amountFromCents(line.unitPriceCents),
    tax_rate_id: line.taxRateId,
    tax_name: line.taxName,
    tax_rate: taxRate,
    vouchers_redeemed: 0,
    item_id: line.itemId,
    total_tax: amountFromCents(containedTaxCents(totalCents, line.taxRateBasisPoints)),
    total_price: amountFromCents(totalCents),
  }
}

function totalTaxCents(order: PortalOrder): number {
  return order.lines.reduce((sum, l) => sum + containedTaxCents(l.quantity * l.unitPriceCents, l.taxRateBasisPoints), 0)
}

export function orderView(order: PortalOrder, customer: { id: number; uid: string }, nodeId: number): OrderWithBon {
  const tax = totalTaxCents(order)
  return {
    id: order.id,
    uuid: order.receiptId,
    total_price: amountFromCents(order.totalCents),
    total_tax: amountFromCents(tax),
    total_no_tax: amountFromCents(order.totalCents - tax),
    cancels_order: order.cancelsOrderId ?? null,
    booked_at: iso(order.bookedAtMs),
    payment_method: order.paymentMethod,
    order_type: order.orderType,
    cashier_id: null,
    till_id: null,
    cash_register_id: null,
    customer_account_id: customer.id,
    customer_tag_uid: uidAsInteger(customer.uid),
    customer_tag_id: customer.id,
    line_items: order.lines.map((l) => lineView(order, l, nodeId)),
    bon_generated: true,
    customer_tag_uid_hex: customer.uid,
  }
}

export function bonView(receipt: PortalReceipt, config: PortalConfig): BonJson {
  const { bon_generated: _notOnTse, ...order } = orderView(receipt.order, receipt.customer, config.nodeId)
  const byRate = new Map<string, { name: string; bp: number; gross: number; tax: number }>()
  for (const l of receipt.order.lines) {
    const key = `${l.taxName}\u0000${l.taxRateBasisPoints}`
    const entry = byRate.get(key) ?? { name: l.taxName, bp: l.taxRateBasisPoints, gross: 0, tax: 0 }
    const gross = l.quantity * l.unitPriceCents
    entry.gross += gross
    entry.tax += containedTaxCents(gross, l.taxRateBasisPoints)
    byRate.set(key, entry)
  }
  return {
    order: { ...order, signature_status: 'no_tse', node_id: config.nodeId, tse_qr_code_text: '' },
    tax_rate_aggregations: [...byRate.values()].map((r) => ({
      tax_name: r.name,
      tax_rate: r.bp / 10_000,
      total_price: amountFromCents(r.gross),
      total_tax: amountFromCents(r.tax),
      total_no_tax: amountFromCents(r.gross - r.tax),
    })),
    config: { title: config.bon.title, issuer: config.bon.issuer, address: config.bon.address, ust_id: config.bon.ustId },
    currency_identifier: config.currency,
  }
}

export function configView(c: PortalConfig): Static<typeof CustomerPortalApiConfig> {
  return {
    test_mode: c.testMode,
    test_mode_message: c.testModeMessage,
    event_name: c.eventName,
    data_privacy_url: c.dataPrivacyUrl,
    contact_email: c.contactEmail,
    about_page_url: c.aboutPageUrl,
    payout_enabled: c.payoutEnabled,
    currency_identifier: c.currency,
    sumup_topup_enabled: c.topupEnabled,
    allowed_country_codes: c.allowedCountryCodes,
    translation_texts: c.translationTexts,
    event_design: { bon_logo_blob_id: c.bonLogoBlobId },
    node_id: c.nodeId,
    feedback_url: c.feedbackUrl,
  }
}

export function payoutInfoView(p: PortalPayoutInfo): Static<typeof PayoutInfo> {
  return { in_payout_run: p.inPayoutRun, payout_date: p.payoutDateMs === null ? null : iso(p.payoutDateMs) }
}

export function payoutTransactionView(t: PortalPayoutTransaction): Static<typeof PayoutTransaction> {
  return {
    amount: amountFromCents(t.amountCents),
    booked_at: iso(t.bookedAtMs),
    target_account_name: t.targetAccountName,
    target_account_type: t.targetAccountType,
    transaction_id: t.transactionId,
  }
}
