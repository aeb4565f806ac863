// Pricing a cart and a ticket sale from the config in force: pure, the same
// rules the gateway enforces (the gateway decides; this only refuses early so
// a guest is not asked to tap for a sale the gateway would refuse anyway).
import type { KioskConfig, Line, Product } from '../device-protocol/index.js'
import { MAX_AMOUNT_CENTS, MAX_LINES, isFixedPrice, linesTotal, productKind } from '../device-protocol/index.js'
import { effectiveProfile } from './profile.js'
import { ok, refusal, type Checked } from './kiosk-error.js'

/** A cart line as the cashier rings it up: qty < 0 returns a deposit; unitPrice only for free-price products. */
export interface SaleLine {
  product: string
  qty: number
  unitPrice?: number
}

export interface PricedCart {
  /** A cart whose total is negative is a return: the wristband gets `amount`. */
  type: 'sale' | 'return'
  lines: Line[]
  amount: number
}

export interface TicketLine {
  product: string
  qty: number
}

export interface PricedTickets {
  lines: Line[]
  /** Cents that go onto the new wristband. */
  topup: number
  /** Tickets plus top-up: the cash the guest hands over. */
  amount: number
}

const MAX_QTY = 1000

const quote = (value: unknown): string => JSON.stringify(String(value)).slice(0, 80)

function findProduct(config: KioskConfig, id: unknown): Product | undefined {
  return typeof id === 'string' ? config.products.find((p) => p.id === id) : undefined
}

function unitPriceOf(product: Product, line: SaleLine): Checked<number> {
  if (isFixedPrice(product)) {
    // The price of a fixed-price product is the catalog's: a cashier cannot type another.
    if (line.unitPrice !== undefined && line.unitPrice !== product.price) return refusal('invalid_price', `${product.id} has a fixed price of ${product.price} cents`)
    return ok(product.price)
  }
  const price = line.unitPrice
  if (price === undefined) return refusal('price_required', `${product.id} has no fixed price: enter the amount`)
  if (!Number.isSafeInteger(price) || price < 0 || price > MAX_AMOUNT_CENTS) return refusal('invalid_price', `the price of ${product.id} must be a whole number of cents from 0 to ${MAX_AMOUNT_CENTS}`)
  // A free-price product's price is the most a line may charge (0: no limit).
  if (product.price > 0 && price > product.price) return refusal('invalid_price', `the price of ${product.id} may be at most ${product.price} cents`)
  return ok(price)
}

export function priceCart(saleLines: readonly SaleLine[], config: KioskConfig): Checked<PricedCart> {
  if (!effectiveProfile(config).sale) return refusal('sale_not_allowed', `sales are not allowed at booth ${config.booth}`)
  if (!Array.isArray(saleLines) || saleLines.length === 0) return refusal('empty_cart', 'the cart is empty')
  if (saleLines.length > MAX_LINES) return refusal('cart_too_large', `a cart holds at most ${MAX_LINES} lines`)
  const lines: Line[] = []
  for (const line of saleLines) {
    const product = findProduct(config, line?.product)
    if (!product) return refusal('unknown_product', `unknown product ${quote(line?.product)}`)
    const kind = productKind(product)
    if (kind === 'ticket') return refusal('ticket_not_allowed', `${product.id} is a ticket: sell it with a ticket sale`)
    const qty = line.qty
    if (!Number.isInteger(qty) || qty === 0 || Math.abs(qty) > MAX_QTY) return refusal('invalid_quantity', `quantity of ${product.id} must be a whole number from -${MAX_QTY} to ${MAX_QTY}, not 0`)
    if (qty < 0 && kind !== 'deposit') return refusal('not_returnable', `${product.id} is no deposit: it cannot be returned`)
    const unitPrice = unitPriceOf(product, line)
    if (!unitPrice.ok) return unitPrice
    lines.push({ product: product.id, qty, unitPrice: unitPrice.value })
  }
  const total = linesTotal(lines)
  if (Math.abs(total) > MAX_AMOUNT_CENTS) return refusal('cart_too_large', `the cart total ${total} exceeds ${MAX_AMOUNT_CENTS} cents`)
  return ok(total >= 0 ? { type: 'sale', lines, amount: total } : { type: 'return', lines, amount: -total })
}

/** Variant index per config: tagVariants may hold 200,000 entries, and each sale asks once. */
const variantIndex = new WeakMap<object, Map<string, string>>()

/** The wristband's variant from the config (undefined: no restriction). */
export function variantOf(config: KioskConfig, uid: string): string | undefined {
  const list = config.tagVariants
  if (!list) return undefined
  let index = variantIndex.get(list)
  if (!index) {
    index = new Map(list.map((v) => [v.uid, v.variant]))
    variantIndex.set(list, index)
  }
  return index.get(uid)
}

/** Products of the cart the wristband may not buy (returns are never restricted). */
export function restrictedProducts(lines: readonly Line[], config: KioskConfig, uid: string): string[] {
  const variant = variantOf(config, uid)
  if (variant === undefined) return []
  const refused = new Set<string>()
  for (const line of lines) {
    if (line.qty <= 0) continue
    const product = findProduct(config, line.product)
    if (product?.restrictions?.includes(variant)) refused.add(product.id)
  }
  return [...refused]
}

export function priceTickets(ticketLines: readonly TicketLine[], topupCents: number, config: KioskConfig): Checked<PricedTickets> {
  if (!effectiveProfile(config).ticketSale) return refusal('ticket_not_allowed', `ticket sales are not allowed at booth ${config.booth}`)
  if (!Array.isArray(ticketLines) || ticketLines.length === 0) return refusal('empty_cart', 'no ticket in the cart')
  if (ticketLines.length > MAX_LINES) return refusal('cart_too_large', `a cart holds at most ${MAX_LINES} lines`)
  const lines: Line[] = []
  for (const line of ticketLines) {
    const product = findProduct(config, line?.product)
    if (!product) return refusal('unknown_product', `unknown product ${quote(line?.product)}`)
    if (productKind(product) !== 'ticket') return refusal('ticket_not_allowed', `${product.id} is no ticket`)
    if (!isFixedPrice(product) || product.price < 0) return refusal('ticket_not_allowed', `ticket ${product.id} has no fixed price`)
    if (!Number.isInteger(line.qty) || line.qty < 1 || line.qty > MAX_QTY) return refusal('invalid_quantity', `quantity of ${product.id} must be a whole number from 1 to ${MAX_QTY}`)
    lines.push({ product: product.id, qty: line.qty, unitPrice: product.price })
  }
  if (!Number.isSafeInteger(topupCents) || topupCents < 0 || topupCents > MAX_AMOUNT_CENTS) return refusal('invalid_amount', `the top-up must be a whole number of cents from 0 to ${MAX_AMOUNT_CENTS}`)
  const amount = linesTotal(lines) + topupCents
  if (amount > MAX_AMOUNT_CENTS) return refusal('cart_too_large', `tickets and top-up of ${amount} cents exceed ${MAX_AMOUNT_CENTS}`)
  return ok({ lines, topup: topupCents, amount })
}
