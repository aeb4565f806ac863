// What "the ledger did not change" means to the fuzz oracles: the same counts
// of postings, transactions and external bookings, the same stats (accepted,
// rejected, revenue, cash, deposits, debts, balances) and the same sum of all
// balances; and what "the ledger is sound" means: checkInvariants finds nothing.
import type Database from 'better-sqlite3'
import type { Ledger } from '../../gateway/ledger/index.js'
import { OracleFailure } from './target.js'

const COUNTED_TABLES = ['postings', 'transactions', 'external_bookings', 'debts', 'shifts', 'line_items'] as const

export interface LedgerWatch {
  /** A fingerprint of the money and its history. */
  snapshot(): string
  /** Throws when checkInvariants finds anything. */
  assertSound(context: string): void
}

export function watchLedger(ledger: Pick<Ledger, 'stats' | 'sumOfAllBalances' | 'checkInvariants'>, db: Database.Database): LedgerWatch {
  const present = new Set((db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as Array<{ name: string }>).map((r) => r.name))
  const counts = COUNTED_TABLES.filter((t) => present.has(t)).map((t) => [t, db.prepare(`SELECT count(*) AS n FROM ${t}`)] as const)
  return {
    snapshot() {
      const rows = Object.fromEntries(counts.map(([t, q]) => [t, (q.get() as { n: number }).n]))
      return JSON.stringify({ rows, sum: ledger.sumOfAllBalances(), stats: ledger.stats() })
    },
    assertSound(context) {
      const problems = ledger.checkInvariants()
      if (problems.length > 0) throw new OracleFailure(`ledger invariants broken ${context}: ${problems.slice(0, 3).join('; ')}`)
    },
  }
}
