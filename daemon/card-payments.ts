// The durable record of card payments at this kiosk, on the outbox's SQLite
// connection (WAL, synchronous=FULL).
//
// A record is written before the terminal is asked to take the money and is
// closed only when the outcome is known: 'booked' in the same SQLite
// transaction as the outbox append of the topup_card that carries it (so a
// crash can never leave an approved payment both unrecorded and unsent, nor
// send it twice), or declined/aborted/not_charged. A record still open after
// a restart is a payment whose outcome this kiosk does not know yet.
import type Database from 'better-sqlite3'
import { cardPaymentRef, type CardPayment, type Clock } from '../device-protocol/index.js'
import { migrateKioskDatabase } from './migrations.js'

/** open: the terminal may be taking it right now (or was, when the daemon died); unresolved: asked and no answer. */
export type CardPaymentState = 'open' | 'unresolved' | 'booked' | 'declined' | 'aborted' | 'not_charged'
export type CardPaymentResolution = 'terminal' | 'recovered' | 'supervisor'
export const OPEN_STATES: readonly CardPaymentState[] = ['open', 'unresolved']

export interface CardPaymentRecord {
  id: string
  uid: string
  tagType: string
  amount: number
  startedAt: number
  state: CardPaymentState
  /** The terminal's id when the payment started, if it told. */
  terminalId?: string
  closedAt?: number
  /** The outbox transaction that carries a booked payment. */
  txId?: string
  payment?: CardPayment
  resultCode?: number
  resolution?: CardPaymentResolution
  /** Why it is unresolved, or a refused payment's error details from the terminal (for the operator), never card data. */
  note?: string
}

export class CardPaymentStateError extends Error {
  override readonly name = 'CardPaymentStateError'
}

export interface CardPaymentStore {
  /** Records a payment about to be taken. Throws CardPaymentStateError while another one is open. */
  open(input: { id: string; uid: string; tagType: string; amount: number; terminalId?: string }): CardPaymentRecord
  /** Records still open or unresolved, oldest first. */
  openRecords(): CardPaymentRecord[]
  get(id: string): CardPaymentRecord | undefined
  markUnresolved(id: string, note: string): void
  /** Closes an open record without a booking. Throws CardPaymentStateError if it is not open. */
  closeUnbooked(id: string, state: 'declined' | 'aborted' | 'not_charged', resolution: CardPaymentResolution, resultCode?: number, note?: string): void
  /**
   * Closes an open record as booked by outbox transaction `txId`. Call it inside
   * the outbox append's SQLite transaction (Outbox.append's `within`): if it
   * throws (the record is no longer open), the append is rolled back too.
   */
  markBooked(id: string, txId: string, payment: CardPayment, resolution: CardPaymentResolution): void
  /** Whether a payment with this terminal reference was booked from this kiosk. */
  isBookedRef(payment: CardPayment): boolean
}

interface Row {
  id: string
  uid: string
  tag_type: string
  amount: number
  started_at: number
  state: CardPaymentState
  terminal_id: string | null
  closed_at: number | null
  tx_id: string | null
  payment_ref: string | null
  payment: string | null
  result_code: number | null
  resolution: CardPaymentResolution | null
  note: string | null
}

function toRecord(row: Row): CardPaymentRecord {
  const record: CardPaymentRecord = { id: row.id, uid: row.uid, tagType: row.tag_type, amount: row.amount, startedAt: row.started_at, state: row.state }
  if (row.terminal_id !== null) record.terminalId = row.terminal_id
  if (row.closed_at !== null) record.closedAt = row.closed_at
  if (row.tx_id !== null) record.txId = row.tx_id
  if (row.payment !== null) record.payment = JSON.parse(row.payment) as CardPayment
  if (row.result_code !== null) record.resultCode = row.result_code
  if (row.resolution !== null) record.resolution = row.resolution
  if (row.note !== null) record.note = row.note
  return record
}

export function createCardPaymentStore({ db, clock }: { db: Database.Database; clock: Clock }): CardPaymentStore {
  // card_payments comes from the kiosk database's migrations (daemon/migrations.ts).
  migrateKioskDatabase(db)
  const q = {
    countOpen: db.prepare(`SELECT count(*) AS n FROM card_payments WHERE state IN ('open', 'unresolved')`),
    insert: db.prepare(`INSERT INTO card_payments (id, uid, tag_type, amount, started_at, state, terminal_id) VALUES (?, ?, ?, ?, ?, 'open', ?)`),
    get: db.prepare(`SELECT * FROM card_payments WHERE id = ?`),
    openRecords: db.prepare(`SELECT * FROM card_payments WHERE state IN ('open', 'unresolved') ORDER BY started_at, rowid`),
    markUnresolved: db.prepare(`UPDATE card_payments SET state = 'unresolved', note = ? WHERE id = ? AND state IN ('open', 'unresolved')`),
    closeUnbooked: db.prepare(
      `UPDATE card_payments SET state = ?, closed_at = ?, resolution = ?, result_code = ?, note = ? WHERE id = ? AND state IN ('open', 'unresolved')`,
    ),
    markBooked: db.prepare(
      `UPDATE card_payments SET state = 'booked', closed_at = ?, tx_id = ?, payment_ref = ?, payment = ?, resolution = ?, note = NULL
       WHERE id = ? AND state IN ('open', 'unresolved')`,
    ),
    bookedRef: db.prepare(`SELECT 1 AS one FROM card_payments WHERE payment_ref = ?`),
  }

  const openTx = db.transaction((input: { id: string; uid: string; tagType: string; amount: number; terminalId?: string }) => {
    // One at a time: a terminal can tell only the outcome of its last payment, so recovery needs this.
    if ((q.countOpen.get() as { n: number }).n > 0) throw new CardPaymentStateError('another card payment is still open')
    const startedAt = clock.now()
    q.insert.run(input.id, input.uid, input.tagType, input.amount, startedAt, input.terminalId ?? null)
    return toRecord(q.get.get(input.id) as Row)
  })

  return {
    open: (input) => openTx.immediate(input),
    openRecords: () => (q.openRecords.all() as Row[]).map(toRecord),
    get(id) {
      const row = q.get.get(id) as Row | undefined
      return row ? toRecord(row) : undefined
    },
    markUnresolved(id, note) {
      if (q.markUnresolved.run(note.slice(0, 500), id).changes !== 1) throw new CardPaymentStateError(`card payment ${id} is not open`)
    },
    closeUnbooked(id, state, resolution, resultCode, note) {
      if (q.closeUnbooked.run(state, clock.now(), resolution, resultCode ?? null, note ?? null, id).changes !== 1) throw new CardPaymentStateError(`card payment ${id} is not open`)
    },
    markBooked(id, txId, payment, resolution) {
      const changes = q.markBooked.run(clock.now(), txId, cardPaymentRef(payment), JSON.stringify(payment), resolution, id).changes
      if (changes !== 1) throw new CardPaymentStateError(`card payment ${id} is not open; not booking it again`)
    },
    isBookedRef: (payment) => q.bookedRef.get(cardPaymentRef(payment)) !== undefined,
  }
}
