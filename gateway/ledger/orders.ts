// What the portal shows a guest, read from the SQLite store: their accepted
// kiosk transactions and external bookings as orders with line items (names as
// booked; the ledger shows the catalog's current names), and single receipts
// found by their random receipt id. Read-only.
import type Database from 'better-sqlite3'
import type { Envelope } from '../../device-protocol/index.js'
import type { CustomerOrder, OrderLine, Receipt } from './types.js'

export interface OrderReads {
  /** Accepted orders of a wristband, newest first. */
  customerOrders(uid: string): CustomerOrder[]
  receipt(receiptId: string): Receipt | undefined
}

interface TxOrderRow {
  id: string
  receipt_id: string
  type: string
  tag: string
  amount: number
  booked_at: number
  kiosk: string
  booth: string
  envelope: string
  seq: number
}

interface ExternalOrderRow {
  id: string
  receipt_id: string
  kind: string
  amount: number
  booked_at: number
  customer: string | null
  customer_delta: number
  seq: number
}

export const RECEIPT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
/** A guest's orders are bounded by what a festival allows; this keeps a runaway list from a bad import finite. */
export const MAX_ORDERS_LISTED = 10_000

export function createOrderReads(db: Database.Database): OrderReads {
  const txColumns = `id, receipt_id, type, tag, amount, booked_at, kiosk, booth, envelope, rowid AS seq`
  // customer_delta: what the booking did to the guest's balance (a refund takes money off, its reversal puts it back).
  const extColumns = `id, receipt_id, kind, amount, booked_at, customer, rowid AS seq,
    (SELECT COALESCE(SUM(p.amount), 0) FROM postings p WHERE p.tx_id = external_bookings.id AND p.account = 'customer:' || external_bookings.customer) AS customer_delta`
  const q = {
    txOfTag: db.prepare<[string], TxOrderRow>(
      `SELECT ${txColumns} FROM transactions WHERE tag = ? AND status = 'accepted' ORDER BY booked_at DESC, rowid DESC LIMIT ${MAX_ORDERS_LISTED}`,
    ),
    extOfCustomer: db.prepare<[string], ExternalOrderRow>(
      `SELECT ${extColumns} FROM external_bookings WHERE customer = ? ORDER BY booked_at DESC, rowid DESC LIMIT ${MAX_ORDERS_LISTED}`,
    ),
    txByReceipt: db.prepare<[string], TxOrderRow>(`SELECT ${txColumns} FROM transactions WHERE receipt_id = ?`),
    txById: db.prepare<[string], TxOrderRow>(`SELECT ${txColumns} FROM transactions WHERE id = ?`),
    extByReceipt: db.prepare<[string], ExternalOrderRow>(`SELECT ${extColumns} FROM external_bookings WHERE receipt_id = ?`),
    lineItems: db.prepare<[string], { product: string; name: string; qty: number; unit_price: number; tax_rate: number }>(
      `SELECT product, name, qty, unit_price, tax_rate FROM line_items WHERE tx_id = ? ORDER BY line_no`,
    ),
  }

  function linesOf(row: TxOrderRow): OrderLine[] {
    // Booked line items keep the tax rate of their day.
    const items = q.lineItems.all(row.id)
    if (items.length > 0)
      return items.map((i) => ({
        product: i.product,
        name: i.name,
        qty: i.qty,
        unitPrice: i.unit_price,
        // 0 is also the default of a product without a rate: the portal then shows the event-wide rate, as before line items.
        ...(i.tax_rate > 0 ? { taxRate: i.tax_rate } : {}),
      }))
    const envelope = JSON.parse(row.envelope) as Envelope
    return envelope.tx.lines.map((line) => ({
      product: line.product,
      name: line.product,
      qty: line.qty,
      unitPrice: line.unitPrice,
    }))
  }

  /** What a cancel took back: the sale its envelope names (a cancel carries no lines of its own). */
  function cancelledOrder(row: TxOrderRow): CustomerOrder['cancels'] {
    const ref = (JSON.parse(row.envelope) as Envelope).tx.ref
    const target = typeof ref === 'string' ? q.txById.get(ref) : undefined
    return target === undefined ? undefined : { receiptId: target.receipt_id, kind: target.type, lines: linesOf(target) }
  }

  function fromTx(row: TxOrderRow): CustomerOrder {
    const cancels = row.type === 'cancel' ? cancelledOrder(row) : undefined
    return {
      id: row.id,
      receiptId: row.receipt_id,
      kind: row.type,
      amount: row.amount,
      bookedAt: row.booked_at,
      kiosk: row.kiosk,
      booth: row.booth,
      lines: linesOf(row),
      ...(cancels === undefined ? {} : { cancels }),
    }
  }

  function fromExternal(row: ExternalOrderRow): CustomerOrder {
    return { id: row.id, receiptId: row.receipt_id, kind: row.kind, amount: row.amount, bookedAt: row.booked_at, lines: [], customerDelta: row.customer_delta }
  }

  function customerOrders(uid: string): CustomerOrder[] {
    if (typeof uid !== 'string' || uid.length === 0) return []
    const kioskOrders = q.txOfTag.all(uid).map((row) => ({ order: fromTx(row), seq: row.seq, external: 0 }))
    const externalOrders = q.extOfCustomer.all(uid).map((row) => ({ order: fromExternal(row), seq: row.seq, external: 1 }))
    // Newest first; equal times keep the order of insertion (newest first), external bookings before kiosk ones.
    return [...kioskOrders, ...externalOrders]
      .sort((a, b) => b.order.bookedAt - a.order.bookedAt || b.external - a.external || b.seq - a.seq)
      .slice(0, MAX_ORDERS_LISTED)
      .map((entry) => entry.order)
  }

  function receipt(receiptId: string): Receipt | undefined {
    // Only well-formed ids reach the database; the comparison is an exact match on a random UUID.
    if (typeof receiptId !== 'string' || !RECEIPT_ID.test(receiptId)) return undefined
    const tx = q.txByReceipt.get(receiptId)
    if (tx !== undefined) return { ...fromTx(tx), customerUid: tx.tag }
    const ext = q.extByReceipt.get(receiptId)
    if (ext !== undefined) return { ...fromExternal(ext), customerUid: ext.customer }
    return undefined
  }

  return { customerOrders, receipt }
}
