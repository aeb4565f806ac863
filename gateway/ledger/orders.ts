// What the portal shows a guest, read from the ledger's database (SQLite or
// PostgreSQL: both stores read through createOrderReads): their accepted
// kiosk transactions and external bookings as orders with line items (names as
// booked; the ledger shows the catalog's current names), and single receipts
// found by their random receipt id. Read-only. orderReadsOver builds the
// orders from the rows (the in-memory store gives its own).
import type { SqlDatabase } from '../sql/database.js'
import { dialectOf } from '../sql/dialect.js'
import type { Envelope } from '../../device-protocol/index.js'
import type { CustomerOrder, OrderLine, Receipt } from './types.js'

export interface OrderReads {
  /** Accepted orders of a wristband, newest first. */
  customerOrders(uid: string): CustomerOrder[]
  receipt(receiptId: string): Receipt | undefined
}

export interface TxOrderRow {
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

export interface ExternalOrderRow {
  id: string
  receipt_id: string
  kind: string
  amount: number
  booked_at: number
  customer: string | null
  customer_delta: number
  seq: number
}

export interface LineItemRow {
  tx_id: string
  product: string
  name: string
  qty: number
  unit_price: number
  tax_rate: number
}

export const RECEIPT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
/** A guest's orders are bounded by what a festival allows; this keeps a runaway list from a bad import finite. */
export const MAX_ORDERS_LISTED = 10_000

/**
 * The rows orders are built from; `seq` is the order of writing (SQLite's
 * rowid), ids are given as a JSON list.
 */
export interface OrderQueries {
  txOfTag(uid: string): TxOrderRow[]
  extOfCustomer(uid: string): ExternalOrderRow[]
  txByReceipt(receiptId: string): TxOrderRow | undefined
  extByReceipt(receiptId: string): ExternalOrderRow | undefined
  lineItemsOf(txIdsJson: string): LineItemRow[]
  txOfIds(txIdsJson: string): TxOrderRow[]
}

export function createOrderReads(db: SqlDatabase): OrderReads {
  // The order of writing and the JSON list are said per engine (sql/dialect.ts); the rest is the same SQL on both.
  const dialect = dialectOf(db)
  const txWritten = dialect.transactionsWritten
  const extWritten = dialect.externalBookingsWritten
  const txColumns = `id, receipt_id, type, tag, amount, booked_at, kiosk, booth, envelope, ${txWritten} AS seq`
  // customer_delta: what the booking did to the guest's balance (a refund takes money off, its reversal puts it back).
  const extColumns = `id, receipt_id, kind, amount, booked_at, customer, ${extWritten} AS seq,
    (SELECT COALESCE(SUM(p.amount), 0) FROM postings p WHERE p.tx_id = external_bookings.id AND p.account = 'customer:' || external_bookings.customer) AS customer_delta`
  const q = {
    txOfTag: db.prepare<[string], TxOrderRow>(
      `SELECT ${txColumns} FROM transactions WHERE tag = ? AND status = 'accepted' ORDER BY booked_at DESC, ${txWritten} DESC LIMIT ${MAX_ORDERS_LISTED}`,
    ),
    extOfCustomer: db.prepare<[string], ExternalOrderRow>(
      `SELECT ${extColumns} FROM external_bookings WHERE customer = ? ORDER BY booked_at DESC, ${extWritten} DESC LIMIT ${MAX_ORDERS_LISTED}`,
    ),
    txByReceipt: db.prepare<[string], TxOrderRow>(`SELECT ${txColumns} FROM transactions WHERE receipt_id = ?`),
    extByReceipt: db.prepare<[string], ExternalOrderRow>(`SELECT ${extColumns} FROM external_bookings WHERE receipt_id = ?`),
    // One query for the line items of a whole page of orders (a JSON list of ids), not one per order:
    // the portal lists every order of a guest on each refresh. Only line_no's order matters (they are grouped by tx_id),
    // so tx_id's collation does not.
    lineItemsOf: db.prepare<[string], LineItemRow>(
      `SELECT tx_id, product, name, qty, unit_price, tax_rate FROM line_items WHERE tx_id IN (${dialect.jsonTextList('?')}) ORDER BY tx_id, line_no`,
    ),
    txOfIds: db.prepare<[string], TxOrderRow>(`SELECT ${txColumns} FROM transactions WHERE id IN (${dialect.jsonTextList('?')})`),
  }
  return orderReadsOver({
    txOfTag: (uid) => q.txOfTag.all(uid),
    extOfCustomer: (uid) => q.extOfCustomer.all(uid),
    txByReceipt: (receiptId) => q.txByReceipt.get(receiptId),
    extByReceipt: (receiptId) => q.extByReceipt.get(receiptId),
    lineItemsOf: (txIdsJson) => q.lineItemsOf.all(txIdsJson),
    txOfIds: (txIdsJson) => q.txOfIds.all(txIdsJson),
  })
}

/** Orders and receipts from a store's rows (createOrderReads: the database's). */
export function orderReadsOver(q: OrderQueries): OrderReads {

  /** The line items of the given transactions, by transaction id (a transaction without any is absent). */
  function lineItemsByTx(txIds: readonly string[]): Map<string, LineItemRow[]> {
    const byTx = new Map<string, LineItemRow[]>()
    if (txIds.length === 0) return byTx
    for (const item of q.lineItemsOf(JSON.stringify(txIds))) {
      const items = byTx.get(item.tx_id)
      if (items === undefined) byTx.set(item.tx_id, [item])
      else items.push(item)
    }
    return byTx
  }

  function linesOf(row: TxOrderRow, items: readonly LineItemRow[] = []): OrderLine[] {
    // Booked line items keep the tax rate of their day.
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

  /** The transaction a cancel names in its envelope (a cancel carries no lines of its own). */
  function cancelRef(row: TxOrderRow): string | undefined {
    const ref = (JSON.parse(row.envelope) as Envelope).tx.ref
    return typeof ref === 'string' ? ref : undefined
  }

  /**
   * Kiosk transactions as orders, with three queries however many there are: the sales their
   * cancels took back, then the line items of all of them and of those sales.
   */
  function fromTxRows(rows: readonly TxOrderRow[]): CustomerOrder[] {
    const refs = new Map<TxOrderRow, string>()
    for (const row of rows) {
      const ref = row.type === 'cancel' ? cancelRef(row) : undefined
      if (ref !== undefined) refs.set(row, ref)
    }
    const targets = new Map<string, TxOrderRow>()
    if (refs.size > 0) for (const target of q.txOfIds(JSON.stringify([...new Set(refs.values())]))) targets.set(target.id, target)
    const items = lineItemsByTx([...new Set([...rows.map((row) => row.id), ...targets.keys()])])
    return rows.map((row) => {
      const ref = refs.get(row)
      const target = ref === undefined ? undefined : targets.get(ref)
      const cancels = target === undefined ? undefined : { receiptId: target.receipt_id, kind: target.type, lines: linesOf(target, items.get(target.id)) }
      return fromTx(row, items.get(row.id), cancels)
    })
  }

  function fromTx(row: TxOrderRow, items: readonly LineItemRow[] | undefined, cancels: CustomerOrder['cancels']): CustomerOrder {
    return {
      id: row.id,
      receiptId: row.receipt_id,
      kind: row.type,
      amount: row.amount,
      bookedAt: row.booked_at,
      kiosk: row.kiosk,
      booth: row.booth,
      lines: linesOf(row, items),
      ...(cancels === undefined ? {} : { cancels }),
    }
  }

  function fromExternal(row: ExternalOrderRow): CustomerOrder {
    return { id: row.id, receiptId: row.receipt_id, kind: row.kind, amount: row.amount, bookedAt: row.booked_at, lines: [], customerDelta: row.customer_delta }
  }

  function customerOrders(uid: string): CustomerOrder[] {
    if (typeof uid !== 'string' || uid.length === 0) return []
    const txRows = q.txOfTag(uid)
    const kioskOrders = fromTxRows(txRows).map((order, i) => ({ order, seq: txRows[i]!.seq, external: 0 }))
    const externalOrders = q.extOfCustomer(uid).map((row) => ({ order: fromExternal(row), seq: row.seq, external: 1 }))
    // Newest first; equal times keep the order of insertion (newest first), external bookings before kiosk ones.
    return [...kioskOrders, ...externalOrders]
      .sort((a, b) => b.order.bookedAt - a.order.bookedAt || b.external - a.external || b.seq - a.seq)
      .slice(0, MAX_ORDERS_LISTED)
      .map((entry) => entry.order)
  }

  function receipt(receiptId: string): Receipt | undefined {
    // Only well-formed ids reach the database; the comparison is an exact match on a random UUID.
    if (typeof receiptId !== 'string' || !RECEIPT_ID.test(receiptId)) return undefined
    const tx = q.txByReceipt(receiptId)
    if (tx !== undefined) return { ...fromTxRows([tx])[0]!, customerUid: tx.tag }
    const ext = q.extByReceipt(receiptId)
    if (ext !== undefined) return { ...fromExternal(ext), customerUid: ext.customer }
    return undefined
  }

  return { customerOrders, receipt }
}
