// A guest's order list is read with a fixed number of queries (line items of
// the whole list at once), and the answer is exactly what reading each order's
// line items on its own gives: this test keeps that per-order reading as the reference.
import t from 'tap'
import type Database from 'better-sqlite3'
import type { Envelope } from '../../device-protocol/index.js'
import { OPS_UID, opsWorld } from './testing/operations-fixtures.js'
import { busyGuest } from './testing/busy-guest.js'
import { createOrderReads } from './orders.js'
import type { CustomerOrder, OrderLine } from './types.js'

interface TxRow {
  id: string
  receipt_id: string
  type: string
  amount: number
  booked_at: number
  kiosk: string
  booth: string
  envelope: string
  seq: number
}

/** The list as one query per order builds it: straightforward, and slow for a guest with many orders. */
function referenceOrders(db: Database.Database, uid: string): CustomerOrder[] {
  const txCols = `id, receipt_id, type, amount, booked_at, kiosk, booth, envelope, rowid AS seq`
  const linesOf = (row: TxRow): OrderLine[] => {
    const items = db.prepare(`SELECT product, name, qty, unit_price, tax_rate FROM line_items WHERE tx_id = ? ORDER BY line_no`).all(row.id) as Array<{
      product: string
      name: string
      qty: number
      unit_price: number
      tax_rate: number
    }>
    if (items.length > 0) return items.map((i) => ({ product: i.product, name: i.name, qty: i.qty, unitPrice: i.unit_price, ...(i.tax_rate > 0 ? { taxRate: i.tax_rate } : {}) }))
    return (JSON.parse(row.envelope) as Envelope).tx.lines.map((l) => ({ product: l.product, name: l.product, qty: l.qty, unitPrice: l.unitPrice }))
  }
  const kiosk = (db.prepare(`SELECT ${txCols} FROM transactions WHERE tag = ? AND status = 'accepted'`).all(uid) as TxRow[]).map((row) => {
    const ref = (JSON.parse(row.envelope) as Envelope).tx.ref
    const target = row.type === 'cancel' && typeof ref === 'string' ? (db.prepare(`SELECT ${txCols} FROM transactions WHERE id = ?`).get(ref) as TxRow | undefined) : undefined
    const order: CustomerOrder = { id: row.id, receiptId: row.receipt_id, kind: row.type, amount: row.amount, bookedAt: row.booked_at, kiosk: row.kiosk, booth: row.booth, lines: linesOf(row) }
    if (target !== undefined) order.cancels = { receiptId: target.receipt_id, kind: target.type, lines: linesOf(target) }
    return { order, seq: row.seq, external: 0 }
  })
  const external = (
    db.prepare(`SELECT id, receipt_id, kind, amount, booked_at, rowid AS seq FROM external_bookings WHERE customer = ?`).all(uid) as Array<{
      id: string
      receipt_id: string
      kind: string
      amount: number
      booked_at: number
      seq: number
    }>
  ).map((row) => {
    const delta = (db.prepare(`SELECT COALESCE(SUM(amount), 0) AS d FROM postings WHERE tx_id = ? AND account = ?`).get(row.id, `customer:${uid}`) as { d: number }).d
    return { order: { id: row.id, receiptId: row.receipt_id, kind: row.kind, amount: row.amount, bookedAt: row.booked_at, lines: [], customerDelta: delta } as CustomerOrder, seq: row.seq, external: 1 }
  })
  return [...kiosk, ...external].sort((a, b) => b.order.bookedAt - a.order.bookedAt || b.external - a.external || b.seq - a.seq).map((e) => e.order)
}

/** The database with every statement run (all, get, iterate, run) counted. */
function countingDb(db: Database.Database): { db: Database.Database; runs: () => number } {
  let runs = 0
  const wrapped = new Proxy(db, {
    get(target, prop, receiver) {
      if (prop !== 'prepare') return Reflect.get(target, prop, receiver)
      return (...args: Parameters<Database.Database['prepare']>) => {
        const statement = target.prepare(...args)
        return new Proxy(statement, {
          get(s, p) {
            const value = Reflect.get(s, p, s) as unknown
            if (typeof value !== 'function') return value
            if (p === 'all' || p === 'get' || p === 'iterate' || p === 'run')
              return (...a: unknown[]) => {
                runs++
                return (value as (...x: unknown[]) => unknown).apply(s, a)
              }
            return (value as (...x: unknown[]) => unknown).bind(s)
          },
        })
      }
    },
  })
  return { db: wrapped, runs: () => runs }
}

t.test("a busy guest's orders equal the per-order reading: order, fields, signs, cancelled sales", async (t) => {
  const w = opsWorld(t)
  busyGuest(w, OPS_UID.alice, 12)
  busyGuest(w, OPS_UID.bob, 3)
  const orders = w.ledger.customerOrders(OPS_UID.alice)
  const kinds = new Set(orders.map((o) => o.kind))
  for (const kind of ['sale', 'return', 'cancel', 'topup_cash', 'topup_online', 'refund']) t.ok(kinds.has(kind), `the list has a ${kind}`)
  t.ok(orders.some((o) => o.cancels !== undefined && o.cancels.lines.length > 0), 'a cancel names the lines of the sale it took back')
  t.ok(orders.some((o) => o.lines.some((l) => l.qty < 0)), 'a return keeps its negative quantities')
  t.ok(orders.some((o) => (o.customerDelta ?? 0) < 0), 'a refund keeps its negative sign')
  t.ok(orders.length >= 50, `${orders.length} orders`)
  t.same(orders, referenceOrders(w.db, OPS_UID.alice))
  t.same(w.ledger.customerOrders(OPS_UID.bob), referenceOrders(w.db, OPS_UID.bob))
  for (const order of orders.slice(0, 20)) t.same(w.ledger.receipt(order.receiptId), { ...order, customerUid: OPS_UID.alice }, `receipt of a ${order.kind}`)
})

t.test('the number of queries for an order list does not grow with the number of orders', async (t) => {
  const w = opsWorld(t)
  busyGuest(w, OPS_UID.alice, 2)
  busyGuest(w, OPS_UID.bob, 20)
  const counted = countingDb(w.db)
  const reads = createOrderReads(counted.db)
  const runsFor = (uid: string) => {
    const before = counted.runs()
    const orders = reads.customerOrders(uid)
    return { orders: orders.length, runs: counted.runs() - before }
  }
  const few = runsFor(OPS_UID.alice)
  const many = runsFor(OPS_UID.bob)
  t.ok(many.orders >= 8 * few.orders, `${many.orders} orders against ${few.orders}`)
  t.equal(many.runs, few.runs, `${many.runs} statements for ${many.orders} orders, ${few.runs} for ${few.orders}`)
  t.ok(many.runs <= 4, 'kiosk orders, external bookings, cancelled sales, line items')
})
