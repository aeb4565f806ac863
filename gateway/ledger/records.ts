// What the stores answer, built the same way from whatever rows they keep:
// a transaction's record and the ledger's statistics. Pure; both stores
// (sqlite-store.ts, memory-store.ts) use them, so they cannot drift apart.
import type { Envelope, RejectReason } from '../../device-protocol/index.js'
import type { CancelTarget } from './rules.js'
import type { LedgerStats, PostingRecord, TransactionRecord } from './types.js'

/** A recorded transaction as a store keeps it (the envelope as its canonical JSON). */
export interface TransactionFields {
  id: string
  kiosk: string
  seq: number
  type: string
  tag: string
  amount: number
  status: 'accepted' | 'rejected'
  reason: string | null
  balanceAfter: number | null
  hash: string
  envelope: string
  bookedAt: number
  booth: string
  receiptId: string | null
}

export function transactionRecord(row: TransactionFields, postings: PostingRecord[]): TransactionRecord {
  const record: TransactionRecord = {
    id: row.id,
    kiosk: row.kiosk,
    seq: row.seq,
    type: row.type,
    tag: row.tag,
    amount: row.amount,
    status: row.status,
    hash: row.hash,
    envelope: JSON.parse(row.envelope) as Envelope,
    bookedAt: row.bookedAt,
    booth: row.booth,
    postings,
  }
  if (row.receiptId !== null) record.receiptId = row.receiptId
  if (row.reason !== null) record.reason = row.reason as RejectReason
  if (row.balanceAfter !== null) record.balanceAfter = row.balanceAfter
  return record
}

/**
 * The ledger's figures from transaction counts by status and reason, every
 * account (ordered by id) and the number of external bookings.
 */
export function ledgerStats(
  counts: Iterable<{ status: string; reason: string | null; n: number }>,
  accounts: Iterable<{ kind: string; ref: string; balance: number }>,
  externalBookings: number,
): LedgerStats {
  const result: LedgerStats = {
    accepted: 0,
    rejected: 0,
    rejectedByReason: {},
    revenueByBooth: {},
    cashByKiosk: {},
    cashByRegister: {},
    depositsByBooth: {},
    openDebts: { count: 0, cents: 0 },
    customerBalances: 0,
    balancesByKind: {},
    externalBookings,
  }
  for (const r of counts) {
    if (r.status === 'accepted') result.accepted += r.n
    else {
      result.rejected += r.n
      const reason = r.reason ?? 'unknown'
      result.rejectedByReason[reason] = (result.rejectedByReason[reason] ?? 0) + r.n
    }
  }
  for (const a of accounts) {
    result.balancesByKind[a.kind] = (result.balancesByKind[a.kind] ?? 0) + a.balance
    if (a.kind === 'revenue') result.revenueByBooth[a.ref] = a.balance
    // The cash account is the contra side of cash top-ups: cash taken in is its negated balance.
    else if (a.kind === 'cash') result.cashByKiosk[a.ref] = -a.balance
    else if (a.kind === 'register') result.cashByRegister[a.ref] = -a.balance
    else if (a.kind === 'deposit') result.depositsByBooth[a.ref] = a.balance
    else if (a.kind === 'customer') {
      result.customerBalances += a.balance
      if (a.balance < 0) {
        result.openDebts.count += 1
        result.openDebts.cents -= a.balance
      }
    }
  }
  return result
}

/** A recorded sale or return as a cancel sees it: `isLast` and `cancelled` are the store's to tell. */
export function cancelTargetOf(
  row: TransactionFields & { resultExtras: string | null },
  state: { cancelled: boolean; isLast: boolean; postings: PostingRecord[] },
): CancelTarget {
  const envelope = JSON.parse(row.envelope) as Envelope
  const extras = row.resultExtras === null ? {} : (JSON.parse(row.resultExtras) as { vouchersUsed?: number })
  return {
    id: row.id,
    kiosk: row.kiosk,
    type: row.type,
    tag: row.tag,
    amount: row.amount,
    at: envelope.tx.at,
    status: row.status,
    ...state,
    vouchersUsed: extras.vouchersUsed ?? 0,
  }
}
