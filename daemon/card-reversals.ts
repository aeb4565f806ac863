// Reversing a card top-up the gateway refused after the terminal had approved
// it (a blocked wristband, a duplicate payment, any refusal): the guest's card
// was charged and the ledger booked nothing, so the kiosk asks the terminal to
// reverse the payment by its receipt number.
//
// Exactly once: the row (keyed by the topup_card's id) is written, fsynced,
// before the terminal is asked; a refusal answered again (a resend, a restart)
// finds the row and does nothing. A row still 'pending' after a restart is a
// reversal whose answer was lost: it is not sent again (the terminal may have
// booked it), it becomes 'unknown', an alert for a supervisor like a declined
// or failed one. The counts go out with the kiosk's counters in its state.
//
// A terminal busy with another payment refuses the reversal before anything is
// sent: that one is tried again once the terminal is free (its 'status' event
// says not busy, or after retryDelayMs), at most maxAttempts times, each try
// noted on the pending row. The row stays 'pending' meanwhile and only this
// one call runs it, so one payment never has two reversals in flight; an
// 'unknown' answer (the terminal may have booked it) is never tried again.
import type Database from 'better-sqlite3'
import type { Logger } from 'pino'
import type { Clock, Transaction } from '../device-protocol/index.js'
import { migrateKioskDatabase } from './migrations.js'
import type { PaymentTerminal, ReversalResult } from './terminal/terminal.js'

export type CardReversalState = 'pending' | 'reversed' | 'declined' | 'unknown' | 'failed'

export interface CardReversalRecord {
  txId: string
  receiptNumber: string
  terminalId?: string
  amount: number
  /** The gateway's reason for refusing the top-up. */
  refusal: string
  state: CardReversalState
  resultCode?: number
  note?: string
  startedAt: number
  closedAt?: number
}

export interface CardReversalCounters {
  /** Refused card top-ups the terminal reversed. */
  cardReversed: number
  /** Refused card top-ups not (known to be) reversed: declined, failed, unknown or in progress. A supervisor must refund them. */
  cardReversalAlerts: number
}

export interface CardReversals {
  /** The gateway refused this topup_card: reverse its payment (once). Resolves with the record when the terminal has answered. */
  refused(tx: Transaction, reason: string): Promise<CardReversalRecord | undefined>
  /** The reversal of this transaction, once started (awaits one in progress). */
  settled(txId: string): Promise<CardReversalRecord | undefined>
  get(txId: string): CardReversalRecord | undefined
  /** Rows left 'pending' by a crash become 'unknown' (never sent again). Call once at start. */
  recover(): void
  counters(): CardReversalCounters
}

interface Row {
  tx_id: string
  receipt_number: string
  terminal_id: string | null
  amount: number
  refusal: string
  state: CardReversalState
  result_code: number | null
  note: string | null
  started_at: number
  closed_at: number | null
}

function toRecord(row: Row): CardReversalRecord {
  return {
    txId: row.tx_id,
    receiptNumber: row.receipt_number,
    ...(row.terminal_id !== null ? { terminalId: row.terminal_id } : {}),
    amount: row.amount,
    refusal: row.refusal,
    state: row.state,
    ...(row.result_code !== null ? { resultCode: row.result_code } : {}),
    ...(row.note !== null ? { note: row.note } : {}),
    startedAt: row.started_at,
    ...(row.closed_at !== null ? { closedAt: row.closed_at } : {}),
  }
}

export interface CardReversalOptions {
  db: Database.Database
  clock: Clock
  terminal: PaymentTerminal | undefined
  logger: Logger
  changed(): void
  /** Tries of a reversal the terminal refused because it was busy (default 5). */
  maxAttempts?: number
  /** The longest wait for the terminal to say it is free before the next try (default 2 s). */
  retryDelayMs?: number
}

/** Resolves when the terminal reports itself not busy, or after delayMs, whichever is first. */
function untilFree(terminal: PaymentTerminal, delayMs: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      terminal.off('status', onStatus)
      resolve()
    }
    const onStatus = (status: { busy?: boolean }) => void (status.busy ? undefined : done())
    const timer = setTimeout(done, delayMs)
    terminal.on('status', onStatus)
    if (!terminal.status().busy) done()
  })
}

export function createCardReversals(options: CardReversalOptions): CardReversals {
  const { db, clock, terminal, logger, changed } = options
  const maxAttempts = Math.max(1, options.maxAttempts ?? 5)
  const retryDelayMs = options.retryDelayMs ?? 2_000
  migrateKioskDatabase(db)
  const q = {
    insert: db.prepare(
      `INSERT OR IGNORE INTO card_reversals (tx_id, receipt_number, terminal_id, amount, refusal, state, started_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)`,
    ),
    close: db.prepare(`UPDATE card_reversals SET state = ?, result_code = ?, note = ?, closed_at = ? WHERE tx_id = ? AND state = 'pending'`),
    note: db.prepare(`UPDATE card_reversals SET note = ? WHERE tx_id = ? AND state = 'pending'`),
    get: db.prepare(`SELECT * FROM card_reversals WHERE tx_id = ?`),
    pending: db.prepare(`SELECT tx_id FROM card_reversals WHERE state = 'pending'`),
    counts: db.prepare(`SELECT state, count(*) AS n FROM card_reversals GROUP BY state`),
  }
  const inFlight = new Map<string, Promise<CardReversalRecord | undefined>>()

  const get = (txId: string) => {
    const row = q.get.get(txId) as Row | undefined
    return row ? toRecord(row) : undefined
  }

  function close(txId: string, state: Exclude<CardReversalState, 'pending'>, resultCode: number | undefined, note: string | undefined): CardReversalRecord | undefined {
    q.close.run(state, resultCode ?? null, note?.slice(0, 300) ?? null, clock.now(), txId)
    const record = get(txId)
    if (state === 'reversed') logger.info({ id: txId, receiptNumber: record?.receiptNumber, amount: record?.amount }, 'refused card top-up reversed at the terminal')
    else logger.error({ id: txId, state, resultCode, note, amount: record?.amount }, 'refused card top-up NOT reversed at the terminal: a supervisor must refund it')
    changed()
    return record
  }

  async function reverse(tx: Transaction, reason: string): Promise<CardReversalRecord | undefined> {
    const payment = tx.payment
    if (!payment) return undefined
    // Written before the terminal is asked: a second refusal of the same id, or a restart, never reverses twice.
    if (q.insert.run(tx.id, payment.receiptNumber, payment.terminalId, tx.amount, reason.slice(0, 100), clock.now()).changes !== 1) return get(tx.id)
    changed()
    if (!terminal) return close(tx.id, 'failed', undefined, 'no card terminal at this kiosk')
    let result: ReversalResult
    let attempt = 1
    for (;;) {
      try {
        result = await terminal.reverse(payment.receiptNumber, tx.amount)
        break
      } catch (err) {
        // Refused before anything was sent: a receipt number the terminal cannot take fails at
        // once; a terminal busy with another payment (it says so in its status) is tried again.
        const message = (err as Error).message
        const busy = terminal.status().busy
        if (!busy) return close(tx.id, 'failed', undefined, message)
        if (attempt >= maxAttempts) return close(tx.id, 'failed', undefined, `${message}: gave up after ${attempt} tries`)
        q.note.run(`try ${attempt} of ${maxAttempts}: ${message}; trying again when it is free`.slice(0, 300), tx.id)
        logger.warn({ id: tx.id, attempt, maxAttempts }, 'card terminal busy: the reversal is tried again when it is free')
        await untilFree(terminal, retryDelayMs)
        attempt += 1
      }
    }
    const tries = attempt > 1 ? ` (try ${attempt}: the terminal was busy before)` : ''
    return close(tx.id, result.status, result.resultCode, result.message === undefined && tries === '' ? undefined : `${result.message ?? result.status}${tries}`)
  }

  return {
    refused(tx, reason) {
      const existing = inFlight.get(tx.id)
      if (existing) return existing
      const running = reverse(tx, reason).catch((err: Error) => {
        logger.error({ err: err.message, id: tx.id }, 'recording the reversal of a refused card top-up failed')
        return undefined
      })
      inFlight.set(tx.id, running)
      void running.finally(() => inFlight.delete(tx.id))
      return running
    },
    async settled(txId) {
      return (await inFlight.get(txId)) ?? get(txId)
    },
    get,
    recover() {
      for (const { tx_id } of q.pending.all() as { tx_id: string }[]) {
        if (inFlight.has(tx_id)) continue
        close(tx_id, 'unknown', undefined, 'the kiosk stopped while the terminal was reversing it: not sent again')
      }
    },
    counters() {
      const by = new Map((q.counts.all() as { state: CardReversalState; n: number }[]).map((r) => [r.state, r.n]))
      return { cardReversed: by.get('reversed') ?? 0, cardReversalAlerts: (by.get('declined') ?? 0) + (by.get('unknown') ?? 0) + (by.get('failed') ?? 0) + (by.get('pending') ?? 0) }
    },
  }
}
