// The LedgerStore (store.ts) in the gateway's SQLite file. A batch is one
// IMMEDIATE SQLite transaction, and the connection runs with synchronous=FULL
// (db.ts): a kiosk hears "accepted" only after the batch that booked it is on
// disk, and a crash at any point keeps all of a batch or none of it. The
// kiosks' chain cursors live in the registry's kiosks rows (the registry
// enrols kiosks; the store only moves their cursors).
import { createHash } from 'node:crypto'
import type Database from 'better-sqlite3'
import { GENESIS_HASH, taxOfGross } from '../../device-protocol/index.js'
import type { RecordedTransaction, TransactionWrite } from './core.js'
import type { CancelTarget, SideEffect } from './rules.js'
import { createOrderReads } from './orders.js'
import { cancelTargetOf, ledgerStats, transactionRecord } from './records.js'
import type { LedgerStore } from './store.js'
import type { AccountKind, LedgerStats, PostingRecord, TransactionRecord } from './types.js'
import { assertBalancedPostings, externalOf, fieldsOf, MAX_VIOLATIONS_PER_CHECK, recordedOf, transactionRowValues, type ExternalRow, type TxRow } from './store-rows.js'

/** The store over an open ledger database (db.ts opens it, the migrations give it its tables). */
export function createSqliteLedgerStore(db: Database.Database): LedgerStore {
  const q = {
    ensureAccount: db.prepare(`INSERT INTO accounts (id, kind, ref) VALUES (?, ?, ?) ON CONFLICT(id) DO NOTHING`),
    account: db.prepare<[string], { kind: string; balance: number }>(`SELECT kind, balance FROM accounts WHERE id = ?`),
    depositAccounts: db.prepare<[], { account: string; balance: number }>(`SELECT id AS account, balance FROM accounts WHERE kind = 'deposit' ORDER BY id`),
    // Offline sales the gateway booked from a kiosk since a time (its own clock): what the offline caps count.
    offlineSpentByKiosk: db.prepare<[string, number], { cents: number }>(
      `SELECT COALESCE(SUM(amount), 0) AS cents FROM transactions
       WHERE kiosk = ? AND offline = 1 AND status = 'accepted' AND type = 'sale' AND booked_at > ?`,
    ),
    offlineSpentByTag: db.prepare<[string, number, string], { cents: number }>(
      `SELECT COALESCE(SUM(amount), 0) AS cents FROM transactions
       WHERE kiosk = ? AND offline = 1 AND status = 'accepted' AND type = 'sale' AND booked_at > ? AND tag = ?`,
    ),
    cursor: db.prepare<[string], { next_seq: number; last_hash: string }>(`SELECT next_seq, last_hash FROM kiosks WHERE id = ?`),
    advanceKiosk: db.prepare(`UPDATE kiosks SET next_seq = ?, last_hash = ? WHERE id = ? AND next_seq = ?`),
    openShift: db.prepare<[string], { id: string; register: string }>(`SELECT id, register FROM shifts WHERE kiosk = ? AND closed_by IS NULL`),
    registerBusy: db.prepare<[string], { one: number }>(`SELECT 1 AS one FROM shifts WHERE register = ? AND closed_by IS NULL`),
    lastCartOfKiosk: db.prepare<[string], { id: string }>(
      `SELECT id FROM transactions WHERE kiosk = ? AND status = 'accepted' AND type IN ('sale', 'return') ORDER BY seq DESC LIMIT 1`,
    ),
    // Positional parameters on the booking path: binding by name looks up every parameter by name and
    // cost about a third of the insert (50,000 transaction rows: 905 ms named, 585 ms positional).
    insertLineItem: db.prepare(`
      INSERT INTO line_items (tx_id, line_no, product, name, kind, qty, unit_price, total, tax_rate, tax)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    externalExists: db.prepare<[string], { one: number }>(`SELECT 1 AS one FROM external_bookings WHERE id = ?`),
    txById: db.prepare<[string], TxRow>(`SELECT * FROM transactions WHERE id = ?`),
    insertTx: db.prepare(`
      INSERT INTO transactions (id, kiosk, seq, type, tag, amount, status, reason, balance_after, hash, envelope, booked_at, booth, receipt_id, payment_ref, staff, result_extras, offline)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    paymentRefBooked: db.prepare<[string], { one: number }>(`SELECT 1 AS one FROM transactions WHERE payment_ref = ?`),
    insertPosting: db.prepare(`INSERT INTO postings (tx_id, account, amount) VALUES (?, ?, ?)`),
    addToBalance: db.prepare(`UPDATE accounts SET balance = balance + ? WHERE id = ?`),
    postingsOf: db.prepare<[string], PostingRecord>(`SELECT account, amount FROM postings WHERE tx_id = ? ORDER BY id`),
    sumBalances: db.prepare<[], { total: number | null }>(`SELECT SUM(balance) AS total FROM accounts`),
    countsByStatus: db.prepare<[], { status: string; reason: string | null; n: number }>(
      `SELECT status, reason, COUNT(*) AS n FROM transactions GROUP BY status, reason`,
    ),
    externalCount: db.prepare<[], { n: number }>(`SELECT COUNT(*) AS n FROM external_bookings`),
    accountBalances: db.prepare<[], { kind: string; ref: string; balance: number }>(`SELECT kind, ref, balance FROM accounts ORDER BY id`),
    markCancelled: db.prepare(`UPDATE transactions SET cancelled_by = ? WHERE id = ?`),
    openShiftRow: db.prepare(`INSERT INTO shifts (id, register, kiosk, staff, opened_at, float) VALUES (?, ?, ?, ?, ?, ?)`),
    closeShift: db.prepare(`UPDATE shifts SET closed_by = ?, closed_at = ?, counted = ?, expected = ?, difference = ? WHERE id = ?`),
    insertDebt: db.prepare(`INSERT INTO debts (tx_id, uid, kiosk, shortfall, booked_at) VALUES (?, ?, ?, ?, ?)`),
    // A debt moves with the balance: the new wristband is below zero now, and only a debt row allows that.
    moveDebts: db.prepare(`UPDATE debts SET uid = ? WHERE uid = ?`),
    externalByRef: db.prepare<[string], ExternalRow>(`SELECT * FROM external_bookings WHERE ref = ?`),
    externalById: db.prepare<[string], ExternalRow>(`SELECT * FROM external_bookings WHERE id = ?`),
    insertExternal: db.prepare(`
      INSERT INTO external_bookings (id, ref, kind, amount, customer, meta, content_hash, receipt_id, booked_at)
      VALUES (@id, @ref, @kind, @amount, @customer, @meta, @contentHash, @receiptId, @bookedAt)`),
  }

  // IMMEDIATE: take the write lock up front so a reader connection never makes the upgrade fail midway.
  const batchTx = db.transaction((fn: () => unknown) => fn())
  /** Inside a batch this store began (its own transaction, or its savepoint within the registry's import). */
  let inBatch = false
  /** A write of this batch that failed midway: the batch is rolled back as a whole even if its caller caught the error. */
  let failedWrite: { error: unknown } | undefined
  function batch<T>(fn: () => T): T {
    // Within an open transaction (a batch in a batch, or the registry's import) better-sqlite3 makes this a savepoint.
    if (inBatch) return batchTx.immediate(fn) as T
    return batchTx.immediate(() => {
      inBatch = true
      try {
        const result = fn()
        if (failedWrite !== undefined) throw failedWrite.error
        return result
      } finally {
        inBatch = false
        failedWrite = undefined
      }
    }) as T
  }

  function postings(id: string): PostingRecord[] {
    return q.postingsOf.all(id)
  }

  function writePostings(id: string, list: readonly PostingRecord[]): void {
    for (const p of list) {
      q.insertPosting.run(id, p.account, p.amount)
      q.addToBalance.run(p.amount, p.account)
    }
  }

  /** The store's side of an accepted booking's effects (the registry keeps wristbands and vouchers). */
  function applyEffects(write: TransactionWrite, effects: readonly SideEffect[]): void {
    const { tx, row } = write
    for (const effect of effects) {
      switch (effect.kind) {
        case 'cancelled':
          q.markCancelled.run(tx.id, effect.txId)
          break
        case 'open_shift':
          q.openShiftRow.run(tx.id, effect.register, row.kiosk, tx.staff ?? null, row.bookedAt, effect.float)
          break
        case 'close_shift':
          q.closeShift.run(tx.id, row.bookedAt, effect.counted, effect.expected, effect.difference, effect.shiftId)
          break
        case 'debt':
          q.insertDebt.run(tx.id, effect.uid, row.kiosk, effect.shortfall, row.bookedAt)
          break
        case 'replace_wristband':
          q.moveDebts.run(effect.newUid, effect.oldUid)
          break
        case 'vouchers':
        case 'register_wristband':
        case 'alert':
          break
        default: {
          const unknown: never = effect
          void unknown
        }
      }
    }
  }

  /**
   * One write is atomic on its own too: a refusal midway (a cursor that moved, a reused id) leaves nothing of it.
   * Inside a batch not by a savepoint of its own but by failing the whole batch: SQLite copies every page a
   * savepoint changes into a statement journal, a temporary file, about thirty writes to disk per sale (with the
   * savepoint, a sale's main-thread CPU was about a third system time, most of it these writes).
   */
  function commitTransaction(write: TransactionWrite): void {
    if (!inBatch) return batch(() => writeTransaction(write))
    try {
      writeTransaction(write)
    } catch (error) {
      failedWrite ??= { error }
      throw error
    }
  }

  function writeTransaction(write: TransactionWrite): void {
    const { row, decision } = write
    assertBalancedPostings(write)
    q.insertTx.run(...transactionRowValues(row, (offline) => (offline ? 1 : 0)))
    if (decision.status === 'accepted') {
      writePostings(row.id, decision.postings)
      applyEffects(write, decision.effects)
      const lines = decision.lines ?? []
      for (let lineNo = 0; lineNo < lines.length; lineNo++) {
        const line = lines[lineNo]!
        q.insertLineItem.run(row.id, lineNo, line.product, line.name, line.kind, line.qty, line.unitPrice, line.total, line.taxRate, taxOfGross(line.total, line.taxRate))
      }
    }
    const moved = q.advanceKiosk.run(row.seq + 1, row.hash, row.kiosk, row.seq).changes
    if (moved !== 1) throw new Error(`kiosk ${row.kiosk} cursor moved under us at seq ${row.seq}`)
  }

  function recorded(id: string): RecordedTransaction | undefined {
    const row = q.txById.get(id)
    return row === undefined ? undefined : recordedOf(row)
  }

  function cancelTarget(id: string): CancelTarget | undefined {
    const row = q.txById.get(id)
    if (row === undefined) return undefined
    return cancelTargetOf(fieldsOf(row), { cancelled: row.cancelled_by !== null, isLast: q.lastCartOfKiosk.get(row.kiosk)?.id === row.id, postings: postings(row.id) })
  }


  function transaction(id: string): TransactionRecord | undefined {
    const row = q.txById.get(id)
    if (row === undefined) return undefined
    return transactionRecord(fieldsOf(row), postings(row.id))
  }

  function sumOfAllBalances(): number {
    return q.sumBalances.get()?.total ?? 0
  }

  function stats(): LedgerStats {
    return ledgerStats(q.countsByStatus.all(), q.accountBalances.all(), q.externalCount.get()!.n)
  }

  function checkInvariants(): string[] {
    const violations: string[] = []
    const lim = MAX_VIOLATIONS_PER_CHECK
    for (const r of db
      .prepare<[], { tx_id: string; s: number }>(`SELECT tx_id, SUM(amount) AS s FROM postings GROUP BY tx_id HAVING s != 0 LIMIT ${lim}`)
      .all())
      violations.push(`postings of ${r.tx_id} sum to ${r.s}, not 0`)
    for (const r of db
      .prepare<[], { id: string; balance: number; s: number }>(
        `SELECT a.id, a.balance, COALESCE(SUM(p.amount), 0) AS s FROM accounts a LEFT JOIN postings p ON p.account = a.id
         GROUP BY a.id HAVING a.balance != s LIMIT ${lim}`,
      )
      .all())
      violations.push(`account ${r.id} has balance ${r.balance} but its postings sum to ${r.s}`)
    const total = sumOfAllBalances()
    if (total !== 0) violations.push(`sum of all balances is ${total}, not 0`)
    for (const r of db
      .prepare<[], { id: string; kind: string; balance: number }>(
        // A customer account may be below zero only through offline sales, each flagged as a debt.
        `SELECT id, kind, balance FROM accounts a WHERE kind IN ('customer', 'prepaid') AND balance < 0
           AND NOT (kind = 'customer' AND EXISTS (SELECT 1 FROM debts d WHERE d.uid = a.ref)) LIMIT ${lim}`,
      )
      .all())
      violations.push(`${r.kind} account ${r.id} is negative (${r.balance})`)
    // Deposits paid back never exceed deposits taken, at any booth (rules.ts depositPostings).
    for (const r of db
      .prepare<[], { id: string; balance: number }>(`SELECT id, balance FROM accounts WHERE kind = 'deposit' AND balance < 0 LIMIT ${lim}`)
      .all())
      violations.push(`deposit account ${r.id} is negative (${r.balance}): more deposits paid back than taken`)
    for (const r of db
      .prepare<[], { tx_id: string; n: number }>(
        `SELECT p.tx_id, COUNT(*) AS n FROM postings p
         WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.id = p.tx_id)
           AND NOT EXISTS (SELECT 1 FROM external_bookings e WHERE e.id = p.tx_id)
         GROUP BY p.tx_id LIMIT ${lim}`,
      )
      .all())
      violations.push(`${r.n} postings of ${r.tx_id}, which is neither a kiosk transaction nor an external booking`)
    for (const r of db
      .prepare<[], { id: string }>(`SELECT t.id FROM transactions t JOIN external_bookings e ON e.id = t.id LIMIT ${lim}`)
      .all())
      violations.push(`${r.id} is both a kiosk transaction and an external booking`)
    for (const r of db
      .prepare<[], { id: string; amount: number; c: number; pos: number }>(
        `SELECT e.id, e.amount, COUNT(p.id) AS c, COALESCE(SUM(CASE WHEN p.amount > 0 THEN p.amount ELSE 0 END), 0) AS pos
         FROM external_bookings e LEFT JOIN postings p ON p.tx_id = e.id GROUP BY e.id
         HAVING c < 2 OR pos != e.amount LIMIT ${lim}`,
      )
      .all())
      violations.push(`external booking ${r.id} has ${r.c} postings moving ${r.pos}, recorded amount ${r.amount}`)
    for (const r of db
      .prepare<[], { id: string }>(`SELECT t.id FROM transactions t JOIN external_bookings e ON e.receipt_id = t.receipt_id LIMIT ${lim}`)
      .all())
      violations.push(`receipt id of ${r.id} is also an external booking's`)
    for (const r of db
      .prepare<[], { id: string; status: string; c: number }>(
        `SELECT t.id, t.status, COUNT(p.id) AS c FROM transactions t LEFT JOIN postings p ON p.tx_id = t.id GROUP BY t.id
         HAVING (t.status = 'accepted' AND c < 2) OR (t.status = 'rejected' AND c > 0) LIMIT ${lim}`,
      )
      .all())
      violations.push(`${r.status} transaction ${r.id} has ${r.c} postings`)
    for (const r of db
      .prepare<[], { id: string; next_seq: number; last_hash: string; n: number; mn: number | null; mx: number | null; tail: string | null }>(
        `SELECT k.id, k.next_seq, k.last_hash, COUNT(t.id) AS n, MIN(t.seq) AS mn, MAX(t.seq) AS mx,
                (SELECT hash FROM transactions WHERE kiosk = k.id ORDER BY seq DESC LIMIT 1) AS tail
         FROM kiosks k LEFT JOIN transactions t ON t.kiosk = k.id GROUP BY k.id`,
      )
      .all()) {
      if (r.n !== r.next_seq - 1 || (r.n > 0 && (r.mn !== 1 || r.mx !== r.n)))
        violations.push(`kiosk ${r.id}: ${r.n} transactions with seq ${r.mn ?? '-'}..${r.mx ?? '-'} but next seq ${r.next_seq}`)
      if (r.last_hash !== (r.tail ?? GENESIS_HASH)) violations.push(`kiosk ${r.id}: last hash is not the hash of its last transaction`)
    }
    for (const r of db.prepare<[], { id: string; hash: string; envelope: string }>(`SELECT id, hash, envelope FROM transactions`).iterate()) {
      if (createHash('sha256').update(r.envelope, 'utf8').digest('hex') !== r.hash) {
        violations.push(`transaction ${r.id}: stored envelope does not match its hash`)
        if (violations.length > 4 * lim) break
      }
    }
    return violations
  }

  const orders = createOrderReads(db)

  return {
    batch,
    customerOrders: orders.customerOrders,
    receipt: orders.receipt,
    cursor(kioskId) {
      const row = q.cursor.get(kioskId)
      return row === undefined ? undefined : { nextSeq: row.next_seq, lastHash: row.last_hash }
    },
    recorded,
    isExternalBooking: (id) => q.externalExists.get(id) !== undefined,
    account: (id) => (typeof id === 'string' ? q.account.get(id) : undefined),
    offlineSpent: (kioskId, sinceMs, uid) => ({
      tagCents: q.offlineSpentByTag.get(kioskId, sinceMs, uid)!.cents,
      kioskCents: q.offlineSpentByKiosk.get(kioskId, sinceMs)!.cents,
    }),
    depositAccounts: () => q.depositAccounts.all(),
    cardPaymentBooked: (ref) => q.paymentRefBooked.get(ref) !== undefined,
    openShift: (kioskId) => q.openShift.get(kioskId),
    registerBusy: (register) => q.registerBusy.get(register) !== undefined,
    cancelTarget,
    ensureAccount(id: string, kind: AccountKind, ref: string) {
      q.ensureAccount.run(id, kind, ref)
    },
    ensureKiosk(kioskId) {
      // Kiosks are enrolled by the registry, whose row carries the cursor from genesis.
      if (q.cursor.get(kioskId) === undefined) throw new Error(`kiosk ${kioskId} is not enrolled`)
    },
    commitTransaction,
    commitExternal(booking, list) {
      batch(() => {
        q.insertExternal.run(booking)
        writePostings(booking.id, list)
      })
    },
    externalBooking: (id) => externalOf(typeof id === 'string' ? q.externalById.get(id) : undefined),
    externalBookingByRef: (ref) => externalOf(typeof ref === 'string' ? q.externalByRef.get(ref) : undefined),
    postingsOf: postings,
    transaction,
    sumOfAllBalances,
    stats,
    checkInvariants,
  }
}
