// Types of the ledger's public API.
import type { Envelope, RejectReason, TxResult } from '../../device-protocol/index.js'

/**
 * An envelope whose Ed25519 signature the caller has checked against the
 * kiosk's enrolled key. The ledger trusts that and checks everything else
 * (shape, sequence, chain, business rules); it computes the envelope hash itself.
 */
export interface VerifiedEnvelope {
  envelope: Envelope
}

export type Outcome =
  | {
      kind: 'result'
      result: TxResult
      /** Postings were written by this call (a new accepted transaction). */
      booked: boolean
      /** A new row was written by this call, accepted or rejected: the kiosk's cursor moved. */
      recorded: boolean
      /** The id was already recorded: `result` is its first outcome, nothing changed. */
      replay: boolean
    }
  | {
      kind: 'gap'
      kioskId: string
      /** The seq the ledger expects next: the kiosk should send again from here. */
      fromSeq: number
    }

export interface KioskCursor {
  /** The seq the next transaction of this kiosk must carry. */
  nextSeq: number
  /** Hash of the kiosk's last recorded envelope (GENESIS_HASH before the first). */
  lastHash: string
}

export interface PostingRecord {
  account: string
  amount: number
}

export interface TransactionRecord {
  id: string
  kiosk: string
  seq: number
  type: string
  tag: string
  amount: number
  status: 'accepted' | 'rejected'
  reason?: RejectReason
  /** The guest's balance after the booking (accepted), or at the time of an insufficient_balance refusal. */
  balanceAfter?: number
  hash: string
  envelope: Envelope
  bookedAt: number
  postings: PostingRecord[]
}

export interface LedgerStats {
  accepted: number
  rejected: number
  rejectedByReason: Record<string, number>
  /** Cents earned per booth. */
  revenueByBooth: Record<string, number>
  /** Cents of cash taken in per kiosk (top-ups paid in cash). */
  cashByKiosk: Record<string, number>
  /** Cents held on all wristbands together. */
  customerBalances: number
}

/** Account ids; one customer account per wristband, a revenue account per booth, a cash account per kiosk. */
export const accountIds = {
  customer: (uid: string) => `customer:${uid}`,
  revenue: (boothId: string) => `revenue:${boothId}`,
  cash: (kioskId: string) => `cash:${kioskId}`,
} as const
