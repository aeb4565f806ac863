// The guests' balances a payout run decides on, held still until its
// transaction ends.
//
// A payout run reads guests' balances and then writes what it read: at
// creation each item's amount (the balance less the donation), at export the
// payouts that take those amounts. On SQLite the gateway's one connection is
// its file's only writer, so nothing can change a balance in between. On
// PostgreSQL the run's transaction takes the facade's writer lock, but the
// kiosks' ledger batches on other gateways do not: they take per-kiosk
// advisory locks and read the wristband's balance row FOR UPDATE
// (ledger/pg-store.ts). So the run locks the same rows, FOR UPDATE, before it
// reads them: a sale already holding one is waited for and its balance read
// after its commit; a sale that comes later waits for the run's commit, and
// then reads the wristband's open payout item (ledger/facts.ts reads the
// balance before the wristband's facts for that reason) and is refused.
//
// The rows are locked in account id order (byte-wise, as pg-store orders its
// deposit accounts), so two runs, or a run and a batch touching two guests,
// never wait on each other in a cycle.
import type { SqlDatabase } from '../sql/database.js'
import { accountIds } from '../ledger/index.js'
import { pgConnectionOf } from '../postgres/sql-database.js'

export interface BalanceLocks {
  /** Inside the run's transaction: the customer accounts of these wristbands cannot change until it ends. Nothing to do on SQLite. */
  lockCustomers(uids: Iterable<string>): void
}

/** A wristband's account has no row before its first booking: a row that does not exist is not locked, and its balance is 0 until a booking makes it (which waits on nothing here: nothing to pay out). */
const LOCK_ACCOUNT = `SELECT id FROM accounts WHERE id = ? FOR UPDATE`

export function balanceLocks(db: SqlDatabase): BalanceLocks {
  // SQLite's single writer already holds every balance still for the transaction (and it has no FOR UPDATE).
  if (pgConnectionOf(db) === undefined) return { lockCustomers: () => {} }
  const lock = db.prepare<[string], { id: string }>(LOCK_ACCOUNT)
  return {
    lockCustomers(uids) {
      if (!db.inTransaction) throw new Error('balances are locked inside the payout run’s transaction, and none is open')
      const ids = [...new Set([...uids].map((uid) => accountIds.customer(uid)))].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      for (const id of ids) lock.get(id)
    },
  }
}
