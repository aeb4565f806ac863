// The LedgerStore (store.ts) in PostgreSQL, over the same data as
// sqlite-store.ts (the tables of postgres/migrations.ts, money in bigint cents).
//
// The interface is synchronous, so the store runs on one synchronous libpq
// connection per gateway process (postgres/connection.ts, pg-native; every
// wait bounded). A batch is one database transaction, BEGIN ... COMMIT, and
// ROLLBACK when its function throws; a nested batch is a savepoint inside the
// outer one, as on SQLite. The transaction is the connection's
// (postgres/transactions.ts), shared with the SqlDatabase facade on it, so the
// registry's writes and the store's nest either way in one transaction. A
// batch that meets a dead database throws, and nothing of it is written: the
// server never saw a COMMIT, or (the connection broke during the COMMIT
// itself) the error says the outcome is unknown, and the kiosks' resends are
// answered from the record if it was written. The next batch connects again.
//
// Per-kiosk order is enforced by the database as well as by the core: a
// booking moves the kiosk's cursor with UPDATE ... WHERE next_seq = <its seq>
// and fails unless exactly that row moved; (kiosk, seq) and the transaction id
// are unique. So two writers can never both book a seq: under READ COMMITTED
// the second UPDATE waits for the first transaction and then finds the cursor
// moved.
//
// Several gateways on one database give the result of one (issue 18):
// - lockKiosks: the ledger names a batch's kiosks before the core reads
//   anything, and the batch takes a transaction-scoped advisory lock per
//   kiosk, in ascending key order (two batches never wait on each other's
//   kiosks in a cycle). Under READ COMMITTED every statement after it sees
//   what the previous holder committed, so the second gateway handed a
//   kiosk's envelopes decides on the first one's cursor, and a transaction
//   delivered to both is booked once and answered as a resend by the other.
//   An advisory lock rather than the cursor row's: a kiosk's first batch has
//   no row to lock yet.
// - What the core decides on and other kiosks can change too, a wristband's
//   and the deposit accounts' balances, is read FOR UPDATE inside a batch.
// - What the unique keys hold (a transaction id, a card payment, a register's
//   open shift) needs no lock: a batch that loses the race fails with a
//   unique violation, and isConflict tells the ledger to run it again, when
//   it sees the winner's commit. A deadlock (accounts locked in the order the
//   envelopes name them) fails one batch the same way.
import { createHash } from 'node:crypto'
import { GENESIS_HASH, taxOfGross } from '../../device-protocol/index.js'
import { openPgConnection, sqlStateOf, type PgConnection, type PgConnectionOptions, type PgParam } from '../postgres/connection.js'
import { migratePgDatabase } from '../postgres/migrations.js'
import { createPgSqlDatabase } from '../postgres/sql-database.js'
import { pgTransactionsOf } from '../postgres/transactions.js'
import type { RecordedTransaction, TransactionWrite } from './core.js'
import { createOrderReads } from './orders.js'
import { cancelTargetOf, ledgerStats, transactionRecord } from './records.js'
import type { CancelTarget, SideEffect } from './rules.js'
import type { LedgerStore } from './store.js'
import type { AccountKind, LedgerStats, PostingRecord, TransactionRecord } from './types.js'
import { assertBalancedPostings, externalOf, fieldsOf, MAX_VIOLATIONS_PER_CHECK, recordedOf, transactionRowValues, type ExternalRow, type TxRow } from './store-rows.js'


const TX_COLUMNS = `id, kiosk, seq, type, tag, amount, status, reason, balance_after, hash, envelope, booked_at, booth, receipt_id, cancelled_by, result_extras`
const EXTERNAL_COLUMNS = `id, ref, kind, amount, customer, meta, content_hash, receipt_id, booked_at`

/** The store's statements, each prepared on the connection on first use. Text is compared byte-wise (COLLATE "C"), as the other stores sort ids. */
const SQL = {
  ensureAccount: `INSERT INTO accounts (id, kind, ref) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
  account: `SELECT kind, balance FROM accounts WHERE id = $1`,
  accountForUpdate: `SELECT kind, balance FROM accounts WHERE id = $1 FOR UPDATE`,
  depositAccounts: `SELECT id AS account, balance FROM accounts WHERE kind = 'deposit' ORDER BY id COLLATE "C"`,
  depositAccountsForUpdate: `SELECT id AS account, balance FROM accounts WHERE kind = 'deposit' ORDER BY id COLLATE "C" FOR UPDATE`,
  lockKiosk: `SELECT pg_advisory_xact_lock(${0x77_6b_69_6f}, $1::int4)`,
  offlineSpent: `SELECT COALESCE(SUM(amount), 0) AS kiosk_cents, COALESCE(SUM(amount) FILTER (WHERE tag = $3), 0) AS tag_cents FROM transactions
    WHERE kiosk = $1 AND offline AND status = 'accepted' AND type = 'sale' AND booked_at > $2`,
  cursor: `SELECT next_seq, last_hash FROM kiosk_cursors WHERE kiosk = $1`,
  ensureKiosk: `INSERT INTO kiosk_cursors (kiosk, next_seq, last_hash) VALUES ($1, 1, $2) ON CONFLICT (kiosk) DO NOTHING`,
  advanceKiosk: `UPDATE kiosk_cursors SET next_seq = $1, last_hash = $2 WHERE kiosk = $3 AND next_seq = $4 RETURNING kiosk`,
  openShift: `SELECT id, register FROM shifts WHERE kiosk = $1 AND closed_by IS NULL`,
  registerBusy: `SELECT 1 AS one FROM shifts WHERE register = $1 AND closed_by IS NULL`,
  lastCartOfKiosk: `SELECT id FROM transactions WHERE kiosk = $1 AND status = 'accepted' AND type IN ('sale', 'return') ORDER BY seq DESC LIMIT 1`,
  insertLineItem: `INSERT INTO line_items (tx_id, line_no, product, name, kind, qty, unit_price, total, tax_rate, tax) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
  externalExists: `SELECT 1 AS one FROM external_bookings WHERE id = $1`,
  txById: `SELECT ${TX_COLUMNS} FROM transactions WHERE id = $1`,
  insertTx: `INSERT INTO transactions (id, kiosk, seq, type, tag, amount, status, reason, balance_after, hash, envelope, booked_at, booth, receipt_id, payment_ref, staff, result_extras, offline)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
  paymentRefBooked: `SELECT 1 AS one FROM transactions WHERE payment_ref = $1`,
  insertPosting: `INSERT INTO postings (tx_id, account, amount) VALUES ($1, $2, $3)`,
  addToBalance: `UPDATE accounts SET balance = balance + $1 WHERE id = $2`,
  postingsOf: `SELECT account, amount FROM postings WHERE tx_id = $1 ORDER BY id`,
  sumBalances: `SELECT COALESCE(SUM(balance), 0) AS total FROM accounts`,
  countsByStatus: `SELECT status, reason, COUNT(*) AS n FROM transactions GROUP BY status, reason`,
  externalCount: `SELECT COUNT(*) AS n FROM external_bookings`,
  accountBalances: `SELECT kind, ref, balance FROM accounts ORDER BY id COLLATE "C"`,
  markCancelled: `UPDATE transactions SET cancelled_by = $1 WHERE id = $2`,
  openShiftRow: `INSERT INTO shifts (id, register, kiosk, staff, opened_at, float) VALUES ($1, $2, $3, $4, $5, $6)`,
  closeShift: `UPDATE shifts SET closed_by = $1, closed_at = $2, counted = $3, expected = $4, difference = $5 WHERE id = $6`,
  insertDebt: `INSERT INTO debts (tx_id, uid, kiosk, shortfall, booked_at) VALUES ($1, $2, $3, $4, $5)`,
  // A debt moves with the balance: the new wristband is below zero now, and only a debt row allows that.
  moveDebts: `UPDATE debts SET uid = $1 WHERE uid = $2`,
  externalByRef: `SELECT ${EXTERNAL_COLUMNS} FROM external_bookings WHERE ref = $1`,
  externalById: `SELECT ${EXTERNAL_COLUMNS} FROM external_bookings WHERE id = $1`,
  insertExternal: `INSERT INTO external_bookings (id, ref, kind, amount, customer, meta, content_hash, receipt_id, booked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
} as const

/**
 * SQLSTATEs of a batch that lost to another writer's concurrent batch: a
 * deadlock, a serialization failure, a unique key the other wrote first.
 * Run again, the batch sees the other's commit and decides on it.
 */
const CONFLICT_STATES: ReadonlySet<string> = new Set(['40P01', '40001', '23505'])

/** A batch's error that means it lost a race with another writer: run it again (the store's isConflict). */
export const isBatchConflict = (error: unknown): boolean => CONFLICT_STATES.has(sqlStateOf(error) ?? '')

/** The advisory lock key (second half of the two-int key) of a kiosk: 32 bits of the SHA-256 of its id. Two kiosks may share a key; they then wait for each other, nothing worse. */
export function kioskLockKey(kioskId: string): number {
  return createHash('sha256').update(kioskId).digest().readInt32BE(0)
}

export interface PgLedgerStore extends LedgerStore {
  lockKiosks(kioskIds: readonly string[]): void
  isConflict(error: unknown): boolean
  /** Ends the connection; the store is unusable after. */
  close(): void
}

export interface PgLedgerStoreOptions extends PgConnectionOptions {}

/**
 * Connects to the database at `options.url`, brings its schema to this
 * build's version (postgres/migrations.ts) and returns the store over it.
 */
export function createPgLedgerStore(options: PgLedgerStoreOptions): PgLedgerStore {
  const conn = openPgConnection(options)
  try {
    migratePgDatabase(conn)
  } catch (error) {
    conn.close()
    throw error
  }
  return pgLedgerStoreOn(conn)
}

/** The store over an open connection to a migrated database (the connection is the store's from now on). */
export function pgLedgerStoreOn(conn: PgConnection): PgLedgerStore {
  // The connection's one transaction (postgres/transactions.ts), shared with the SqlDatabase facade on it: a batch
  // inside a facade transaction (an import, an admin booking) is a savepoint of it, and the registry's writes
  // through the facade inside a batch join the batch's transaction.
  const transactions = pgTransactionsOf(conn)
  const BATCH = { begin: 'BEGIN', noun: 'batch' } as const

  function exec<R>(name: keyof typeof SQL, params: readonly PgParam[]): R[] {
    transactions.assertIntact()
    return conn.run<R>(name, SQL[name], params)
  }
  const one = <R>(name: keyof typeof SQL, params: readonly PgParam[]): R | undefined => exec<R>(name, params)[0]

  const batch = <T>(fn: () => T): T => transactions.run(BATCH, fn)
  /** Whether a batch (or a facade transaction) is open on the connection. */
  const inTransaction = (): boolean => transactions.depth > 0

  /**
   * Writes outside a batch are a batch of their own, so each write is atomic.
   * Inside a batch a write takes no savepoint of its own (many subtransactions
   * in one transaction slow PostgreSQL down): a write that fails there fails
   * the whole batch, even if its error is caught, never part of it.
   */
  const inBatch = (fn: () => void): void => (inTransaction() ? fn() : batch(fn))

  const postings = (id: string): PostingRecord[] => exec<PostingRecord>('postingsOf', [id])

  function writePostings(id: string, list: readonly PostingRecord[]): void {
    for (const p of list) {
      exec('insertPosting', [id, p.account, p.amount])
      exec('addToBalance', [p.amount, p.account])
    }
  }

  /** The store's side of an accepted booking's effects (the registry keeps wristbands and vouchers). */
  function applyEffects(write: TransactionWrite, effects: readonly SideEffect[]): void {
    const { tx, row } = write
    for (const effect of effects) {
      switch (effect.kind) {
        case 'cancelled':
          exec('markCancelled', [tx.id, effect.txId])
          break
        case 'open_shift':
          exec('openShiftRow', [tx.id, effect.register, row.kiosk, tx.staff ?? null, row.bookedAt, effect.float])
          break
        case 'close_shift':
          exec('closeShift', [tx.id, row.bookedAt, effect.counted, effect.expected, effect.difference, effect.shiftId])
          break
        case 'debt':
          exec('insertDebt', [tx.id, effect.uid, row.kiosk, effect.shortfall, row.bookedAt])
          break
        case 'replace_wristband':
          exec('moveDebts', [effect.newUid, effect.oldUid])
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

  function writeTransaction(write: TransactionWrite): void {
    const { row, decision } = write
    assertBalancedPostings(write)
    exec('insertTx', transactionRowValues(row, (offline) => offline))
    if (decision.status === 'accepted') {
      writePostings(row.id, decision.postings)
      applyEffects(write, decision.effects)
      decision.lines?.forEach((line, lineNo) =>
        exec('insertLineItem', [row.id, lineNo, line.product, line.name, line.kind, line.qty, line.unitPrice, line.total, line.taxRate, taxOfGross(line.total, line.taxRate)]),
      )
    }
    // The database's own check of the chain: only the cursor still at this seq moves.
    const moved = exec('advanceKiosk', [row.seq + 1, row.hash, row.kiosk, row.seq])
    if (moved.length !== 1) throw new Error(`kiosk ${row.kiosk} cursor moved under us at seq ${row.seq}`)
  }

  function recorded(id: string): RecordedTransaction | undefined {
    const row = one<TxRow>('txById', [id])
    return row === undefined ? undefined : recordedOf(row)
  }

  function cancelTarget(id: string): CancelTarget | undefined {
    const row = one<TxRow>('txById', [id])
    if (row === undefined) return undefined
    const last = one<{ id: string }>('lastCartOfKiosk', [row.kiosk])
    return cancelTargetOf(fieldsOf(row), { cancelled: row.cancelled_by !== null, isLast: last?.id === row.id, postings: postings(row.id) })
  }

  function transaction(id: string): TransactionRecord | undefined {
    const row = one<TxRow>('txById', [id])
    return row === undefined ? undefined : transactionRecord(fieldsOf(row), postings(row.id))
  }

  const sumOfAllBalances = (): number => one<{ total: number }>('sumBalances', [])!.total

  function stats(): LedgerStats {
    return ledgerStats(
      exec<{ status: string; reason: string | null; n: number }>('countsByStatus', []),
      exec<{ kind: string; ref: string; balance: number }>('accountBalances', []),
      one<{ n: number }>('externalCount', [])!.n,
    )
  }

  /** The checks and messages of sqlite-store.ts's checkInvariants, in SQL; the envelope hashes too are checked in the database. */
  function checkInvariants(): string[] {
    const violations: string[] = []
    const lim = MAX_VIOLATIONS_PER_CHECK
    const rows = <R>(text: string): R[] => conn.query<R>(text)
    for (const r of rows<{ tx_id: string; s: number }>(
      `SELECT tx_id, SUM(amount) AS s FROM postings GROUP BY tx_id HAVING SUM(amount) <> 0 ORDER BY tx_id COLLATE "C" LIMIT ${lim}`,
    ))
      violations.push(`postings of ${r.tx_id} sum to ${r.s}, not 0`)
    for (const r of rows<{ id: string; balance: number; s: number }>(
      `SELECT a.id, a.balance, COALESCE(SUM(p.amount), 0) AS s FROM accounts a LEFT JOIN postings p ON p.account = a.id
       GROUP BY a.id HAVING a.balance <> COALESCE(SUM(p.amount), 0) ORDER BY a.id COLLATE "C" LIMIT ${lim}`,
    ))
      violations.push(`account ${r.id} has balance ${r.balance} but its postings sum to ${r.s}`)
    const total = sumOfAllBalances()
    if (total !== 0) violations.push(`sum of all balances is ${total}, not 0`)
    // A customer account may be below zero only through offline sales, each flagged as a debt.
    for (const r of rows<{ id: string; kind: string; balance: number }>(
      `SELECT id, kind, balance FROM accounts a WHERE kind IN ('customer', 'prepaid') AND balance < 0
         AND NOT (kind = 'customer' AND EXISTS (SELECT 1 FROM debts d WHERE d.uid = a.ref)) ORDER BY id COLLATE "C" LIMIT ${lim}`,
    ))
      violations.push(`${r.kind} account ${r.id} is negative (${r.balance})`)
    // Deposits paid back never exceed deposits taken, at any booth (rules.ts depositPostings).
    for (const r of rows<{ id: string; balance: number }>(`SELECT id, balance FROM accounts WHERE kind = 'deposit' AND balance < 0 ORDER BY id COLLATE "C" LIMIT ${lim}`))
      violations.push(`deposit account ${r.id} is negative (${r.balance}): more deposits paid back than taken`)
    for (const r of rows<{ tx_id: string; n: number }>(
      `SELECT p.tx_id, COUNT(*) AS n FROM postings p
       WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.id = p.tx_id)
         AND NOT EXISTS (SELECT 1 FROM external_bookings e WHERE e.id = p.tx_id)
       GROUP BY p.tx_id ORDER BY p.tx_id COLLATE "C" LIMIT ${lim}`,
    ))
      violations.push(`${r.n} postings of ${r.tx_id}, which is neither a kiosk transaction nor an external booking`)
    for (const r of rows<{ id: string }>(`SELECT t.id FROM transactions t JOIN external_bookings e ON e.id = t.id ORDER BY t.id COLLATE "C" LIMIT ${lim}`))
      violations.push(`${r.id} is both a kiosk transaction and an external booking`)
    for (const r of rows<{ id: string; amount: number; c: number; pos: number }>(
      `SELECT e.id, e.amount, COUNT(p.id) AS c, COALESCE(SUM(CASE WHEN p.amount > 0 THEN p.amount ELSE 0 END), 0) AS pos
       FROM external_bookings e LEFT JOIN postings p ON p.tx_id = e.id GROUP BY e.id
       HAVING COUNT(p.id) < 2 OR COALESCE(SUM(CASE WHEN p.amount > 0 THEN p.amount ELSE 0 END), 0) <> e.amount ORDER BY e.id COLLATE "C" LIMIT ${lim}`,
    ))
      violations.push(`external booking ${r.id} has ${r.c} postings moving ${r.pos}, recorded amount ${r.amount}`)
    for (const r of rows<{ id: string }>(`SELECT t.id FROM transactions t JOIN external_bookings e ON e.receipt_id = t.receipt_id ORDER BY t.id COLLATE "C" LIMIT ${lim}`))
      violations.push(`receipt id of ${r.id} is also an external booking's`)
    for (const r of rows<{ id: string; status: string; c: number }>(
      `SELECT t.id, t.status, COUNT(p.id) AS c FROM transactions t LEFT JOIN postings p ON p.tx_id = t.id GROUP BY t.id
       HAVING (t.status = 'accepted' AND COUNT(p.id) < 2) OR (t.status = 'rejected' AND COUNT(p.id) > 0) ORDER BY t.id COLLATE "C" LIMIT ${lim}`,
    ))
      violations.push(`${r.status} transaction ${r.id} has ${r.c} postings`)
    for (const r of rows<{ id: string; next_seq: number; last_hash: string; n: number; mn: number | null; mx: number | null; tail: string | null }>(
      `SELECT k.kiosk AS id, k.next_seq, k.last_hash, COUNT(t.id) AS n, MIN(t.seq) AS mn, MAX(t.seq) AS mx,
              (SELECT hash FROM transactions WHERE kiosk = k.kiosk ORDER BY seq DESC LIMIT 1) AS tail
       FROM kiosk_cursors k LEFT JOIN transactions t ON t.kiosk = k.kiosk GROUP BY k.kiosk ORDER BY k.kiosk COLLATE "C"`,
    )) {
      if (r.n !== r.next_seq - 1 || (r.n > 0 && (r.mn !== 1 || r.mx !== r.n)))
        violations.push(`kiosk ${r.id}: ${r.n} transactions with seq ${r.mn ?? '-'}..${r.mx ?? '-'} but next seq ${r.next_seq}`)
      if (r.last_hash !== (r.tail ?? GENESIS_HASH)) violations.push(`kiosk ${r.id}: last hash is not the hash of its last transaction`)
    }
    for (const r of rows<{ id: string }>(
      `SELECT id FROM transactions WHERE encode(sha256(convert_to(envelope, 'UTF8')), 'hex') <> hash ORDER BY written LIMIT ${4 * lim + 1}`,
    ))
      violations.push(`transaction ${r.id}: stored envelope does not match its hash`)
    return violations
  }

  // The same reads as the SQLite store's (orders.ts), through the SQL facade on this connection: its statements join an open batch as the store's do.
  const orders = createOrderReads(createPgSqlDatabase(conn))

  /** Holds the kiosks' chains until the batch ends; keys in ascending order, each once. */
  function lockKiosks(kioskIds: readonly string[]): void {
    if (!inTransaction()) throw new Error('lockKiosks locks for a batch: call it inside one')
    const keys = [...new Set(kioskIds.filter((id) => typeof id === 'string').map(kioskLockKey))].sort((a, b) => a - b)
    for (const key of keys) exec('lockKiosk', [key])
  }

  return {
    batch,
    lockKiosks,
    isConflict: isBatchConflict,
    customerOrders: orders.customerOrders,
    receipt: orders.receipt,
    cursor(kioskId) {
      const row = one<{ next_seq: number; last_hash: string }>('cursor', [kioskId])
      return row === undefined ? undefined : { nextSeq: row.next_seq, lastHash: row.last_hash }
    },
    recorded,
    isExternalBooking: (id) => one('externalExists', [id]) !== undefined,
    // Inside a batch the core decides on the balance: no other writer may change it before this commit.
    account: (id) => (typeof id === 'string' ? one<{ kind: string; balance: number }>(inTransaction() ? 'accountForUpdate' : 'account', [id]) : undefined),
    offlineSpent(kioskId, sinceMs, uid) {
      const row = one<{ kiosk_cents: number; tag_cents: number }>('offlineSpent', [kioskId, sinceMs, uid])!
      return { tagCents: row.tag_cents, kioskCents: row.kiosk_cents }
    },
    depositAccounts: () => exec<{ account: string; balance: number }>(inTransaction() ? 'depositAccountsForUpdate' : 'depositAccounts', []),
    cardPaymentBooked: (ref) => one('paymentRefBooked', [ref]) !== undefined,
    openShift: (kioskId) => one<{ id: string; register: string }>('openShift', [kioskId]),
    registerBusy: (register) => one('registerBusy', [register]) !== undefined,
    cancelTarget,
    ensureAccount(id: string, kind: AccountKind, ref: string) {
      inBatch(() => void exec('ensureAccount', [id, kind, ref]))
    },
    ensureKiosk(kioskId) {
      // The store's own cursor row, from genesis (on SQLite the registry's kiosk row carries it).
      inBatch(() => void exec('ensureKiosk', [kioskId, GENESIS_HASH]))
    },
    commitTransaction: (write) => inBatch(() => writeTransaction(write)),
    commitExternal(booking, list) {
      inBatch(() => {
        exec('insertExternal', [booking.id, booking.ref, booking.kind, booking.amount, booking.customer, booking.meta, booking.contentHash, booking.receiptId, booking.bookedAt])
        writePostings(booking.id, list)
      })
    },
    externalBooking: (id) => externalOf(typeof id === 'string' ? one<ExternalRow>('externalById', [id]) : undefined),
    externalBookingByRef: (ref) => externalOf(typeof ref === 'string' ? one<ExternalRow>('externalByRef', [ref]) : undefined),
    postingsOf: postings,
    transaction,
    sumOfAllBalances,
    stats,
    checkInvariants,
    close: () => conn.close(),
  }
}
