// The reads the tills and operators need of bookings: a wristband's balance view, shift reports
// with their close-out figures, and the debts offline sales left.
import type { SqlDatabase } from '../sql/database.js'
import { dialectOf } from '../sql/dialect.js'
import { Value } from 'typebox/value'
import { TerminalTotals, type HistoryEntry, type WristbandView } from '../../device-protocol/index.js'
import { accountIds } from './types.js'

export type BalanceView = WristbandView

export interface CashMovement {
  count: number
  cents: number
}

export interface ShiftReport {
  id: string
  register: string
  registerName: string
  kiosk: string
  staff: string | null
  staffName: string | null
  openedAt: number
  closedAt: number | null
  float: number
  cashTopups: CashMovement
  cashouts: CashMovement
  tickets: CashMovement
  /** Closed: what the drawer should have held; open: what it should hold now. */
  expected: number
  counted: number | null
  difference: number | null
  /** The card top-ups the gateway booked for this kiosk during the shift. */
  cardTopups: CashMovement
  /** What the card terminal's end of day reported at the close (or that it is missing and why); null while open or when the kiosk sent none. */
  terminalTotals: TerminalTotals | null
  /** The terminal's total minus the card top-ups booked: not zero when they disagree; null without the terminal's totals. */
  cardDifference: number | null
}

export interface DebtRecord {
  txId: string
  uid: string
  kiosk: string
  shortfall: number
  bookedAt: number
  balanceNow: number
  open: boolean
}

interface ShiftRow {
  id: string
  register: string
  register_name: string
  kiosk: string
  staff: string | null
  staff_name: string | null
  opened_at: number
  closed_at: number | null
  float: number
  counted: number | null
  expected: number | null
  difference: number | null
  open_seq: number
  close_seq: number | null
  close_envelope: string | null
}

export interface OperationReads {
  balanceView(uid: string): BalanceView | undefined
  shiftReports(): ShiftReport[]
  shiftReport(id: string): ShiftReport | undefined
  debts(): DebtRecord[]
}

const RECENT_ENTRIES = 10
const MAX_SHIFTS_LISTED = 1_000
const MAX_DEBTS_LISTED = 10_000

export function createOperationReads(db: SqlDatabase): OperationReads {
  // A shift's id is its opening transaction's, closed_by its closing one's. What happened during it is what its
  // kiosk booked between the two: between their seqs, the kiosk's own order, the same on both engines.
  const shiftSelect = `
    SELECT s.*, r.name AS register_name, m.name AS staff_name,
      (SELECT seq FROM transactions WHERE id = s.id) AS open_seq,
      (SELECT seq FROM transactions WHERE id = s.closed_by) AS close_seq,
      (SELECT envelope FROM transactions WHERE id = s.closed_by) AS close_envelope,
      (SELECT ${dialectOf(db).transactionsWritten} FROM transactions WHERE id = s.id) AS opened_written
    FROM shifts s JOIN cash_registers r ON r.id = s.register LEFT JOIN staff m ON m.uid = s.staff`
  const q = {
    wristband: db.prepare<[string], { uid: string; blocked: number; vouchers: number; variant: string | null; balance: number; account: string }>(
      `SELECT w.uid, w.blocked, w.vouchers, w.variant, a.balance, w.account FROM wristbands w JOIN accounts a ON a.id = w.account WHERE w.uid = ?`,
    ),
    recent: db.prepare<[string], { amount: number; at: number; type: string; booth: string | null }>(`
      SELECT p.amount, COALESCE(t.booked_at, e.booked_at) AS at, COALESCE(t.type, e.kind) AS type, t.booth
      FROM postings p LEFT JOIN transactions t ON t.id = p.tx_id LEFT JOIN external_bookings e ON e.id = p.tx_id
      WHERE p.account = ? ORDER BY p.id DESC LIMIT ${RECENT_ENTRIES}`),
    // Shifts opened at the same time: the one opened last first (its opening transaction written last).
    shifts: db.prepare<[], ShiftRow>(`${shiftSelect} ORDER BY s.opened_at DESC, opened_written DESC LIMIT ${MAX_SHIFTS_LISTED}`),
    shift: db.prepare<[string], ShiftRow>(`${shiftSelect} WHERE s.id = ?`),
    movements: db.prepare<[string, string, number, number], { type: string; n: number; cents: number }>(`
      SELECT t.type, COUNT(*) AS n, SUM(ABS(p.amount)) AS cents FROM postings p JOIN transactions t ON t.id = p.tx_id
      WHERE p.account = ? AND t.kiosk = ? AND t.seq > ? AND t.seq < ? AND t.type IN ('topup_cash', 'cashout', 'ticket')
      GROUP BY t.type`),
    cardTopups: db.prepare<[string, number, number], { n: number; cents: number | null }>(`
      SELECT COUNT(*) AS n, SUM(amount) AS cents FROM transactions
      WHERE kiosk = ? AND seq > ? AND seq < ? AND type = 'topup_card' AND status = 'accepted'`),
    balance: db.prepare<[string], { balance: number }>(`SELECT balance FROM accounts WHERE id = ?`),
    debts: db.prepare<[], { tx_id: string; uid: string; kiosk: string; shortfall: number; booked_at: number; balance: number }>(`
      SELECT d.*, a.balance FROM debts d JOIN wristbands w ON w.uid = d.uid JOIN accounts a ON a.id = w.account
      ORDER BY d.booked_at DESC LIMIT ${MAX_DEBTS_LISTED}`),
  }

  // The totals were checked against the schema when the close was booked; they
  // are read from its stored envelope (the ledger keeps no other copy) and
  // checked again, so a report never shows something of another shape.
  function terminalTotalsOf(envelope: string | null): TerminalTotals | null {
    if (envelope === null) return null
    const totals: unknown = (JSON.parse(envelope) as { tx?: { terminalTotals?: unknown } }).tx?.terminalTotals
    return totals !== undefined && Value.Check(TerminalTotals, totals) ? totals : null
  }

  function report(row: ShiftRow): ShiftReport {
    const card = q.cardTopups.get(row.kiosk, row.open_seq, row.close_seq ?? Number.MAX_SAFE_INTEGER)
    const cardTopups = { count: card?.n ?? 0, cents: card?.cents ?? 0 }
    const terminalTotals = terminalTotalsOf(row.close_envelope)
    const byType = new Map(q.movements.all(accountIds.register(row.register), row.kiosk, row.open_seq, row.close_seq ?? Number.MAX_SAFE_INTEGER).map((m) => [m.type, m]))
    const movement = (type: string): CashMovement => ({ count: byType.get(type)?.n ?? 0, cents: byType.get(type)?.cents ?? 0 })
    return {
      id: row.id,
      register: row.register,
      registerName: row.register_name,
      kiosk: row.kiosk,
      staff: row.staff,
      staffName: row.staff_name,
      openedAt: row.opened_at,
      closedAt: row.closed_at,
      float: row.float,
      cashTopups: movement('topup_cash'),
      cashouts: movement('cashout'),
      tickets: movement('ticket'),
      expected: row.expected ?? -(q.balance.get(accountIds.register(row.register))?.balance ?? 0),
      counted: row.counted,
      difference: row.difference,
      cardTopups,
      terminalTotals,
      cardDifference: terminalTotals?.status === 'ok' ? terminalTotals.totalCents - cardTopups.cents : null,
    }
  }

  return {
    balanceView(uid) {
      if (typeof uid !== 'string') return undefined
      const w = q.wristband.get(uid)
      if (w === undefined) return undefined
      const recent = q.recent.all(w.account).map((r) => {
        const entry: HistoryEntry = { at: r.at, type: r.type.slice(0, 32), amount: r.amount }
        if (r.booth !== null) entry.booth = r.booth
        return entry
      })
      return { uid: w.uid, balance: w.balance, vouchers: w.vouchers, blocked: w.blocked === 1, variant: w.variant, debt: w.balance < 0, recent }
    },
    shiftReports: () => q.shifts.all().map(report),
    shiftReport(id) {
      const row = typeof id === 'string' ? q.shift.get(id) : undefined
      return row === undefined ? undefined : report(row)
    },
    debts: () =>
      q.debts.all().map((d) => ({ txId: d.tx_id, uid: d.uid, kiosk: d.kiosk, shortfall: d.shortfall, bookedAt: d.booked_at, balanceNow: d.balance, open: d.balance < 0 })),
  }
}
