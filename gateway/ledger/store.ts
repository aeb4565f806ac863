// The two things the ledger stands on, as interfaces:
//
// - LedgerStore: the money and its history (accounts and balances, postings,
//   kiosk transactions and each kiosk's chain cursor, line items, cash shifts,
//   debts, external bookings). sqlite-store.ts keeps it in the gateway's SQLite
//   file; memory-store.ts keeps it in memory (tests and simulation);
//   pg-store.ts keeps it in PostgreSQL. All three pass the one contract suite
//   in store-contract.ts, as every aedes persistence passes the same suite.
// - RegistryFacts: who is who (kiosks and what their tills may do, wristbands
//   and their PINs, products, staff, registers, the event's rules), kept by
//   the registry (gateway/registry/).
//
// The core (core.ts) reads both through LedgerFacts; the ledger (ledger.ts)
// writes what the core decides through them, all within one store batch.
import type { StaffRole, Transaction } from '../../device-protocol/index.js'
import type { TagCheckResult } from '../sun/tag-check.js'
import type { RecordedTransaction, TransactionWrite } from './core.js'
import type {
  CancelTarget,
  DepositAccountFacts,
  OfflineRules,
  OfflineSpent,
  ProductFacts,
  ProfileFacts,
  ShiftFacts,
  TimeLimits,
} from './rules.js'
import type { AccountKind, CustomerOrder, KioskCursor, LedgerStats, PostingRecord, Receipt, TransactionRecord } from './types.js'

/** An external booking as the store keeps it (external.ts decides; the store writes). */
export interface StoredExternalBooking {
  id: string
  ref: string
  kind: string
  /** Sum of the positive postings, cents. */
  amount: number
  customer: string | null
  /** JSON of the booking's meta object. */
  meta: string
  /** SHA-256 over kind, customer and sorted postings: a ref booked again must carry the same. */
  contentHash: string
  receiptId: string
  bookedAt: number
}

export interface LedgerStore {
  /**
   * Runs `fn` as one atomic commit: everything it wrote is kept, durably, or
   * (if it throws) nothing. Batches do not nest across stores; a nested call
   * joins the outer batch.
   */
  batch<T>(fn: () => T): T
  /**
   * Only a store several gateways write at once (pg-store.ts): inside a batch,
   * before anything is read, holds these kiosks' chains until the batch ends,
   * so another writer's batch of the same kiosk waits and then sees this one's
   * commit. Stores with one writer leave it out.
   */
  lockKiosks?(kioskIds: readonly string[]): void
  /** Only a store several gateways write at once: whether a batch failed with this error because another writer's batch won (a deadlock, a unique key it wrote first), so that running it again decides on the winner's commit. */
  isConflict?(error: unknown): boolean

  // --- What the core reads (money and history) ---
  /** Where a kiosk's chain stands; undefined before the kiosk is known to the store. */
  cursor(kioskId: string): KioskCursor | undefined
  recorded(id: string): RecordedTransaction | undefined
  isExternalBooking(id: string): boolean
  account(id: string): { kind: string; balance: number } | undefined
  /** Accepted offline sales of a kiosk booked after `sinceMs` (gateway clock): of one wristband, and in total. */
  offlineSpent(kioskId: string, sinceMs: number, uid: string): OfflineSpent
  /** Every deposit account, by id. */
  depositAccounts(): DepositAccountFacts[]
  /** Whether an accepted card top-up holds this payment reference. */
  cardPaymentBooked(ref: string): boolean
  openShift(kioskId: string): ShiftFacts | undefined
  registerBusy(register: string): boolean
  cancelTarget(id: string): CancelTarget | undefined

  // --- Writes (inside batch) ---
  /** Opens an account if missing (its kind and ref fixed from then on). */
  ensureAccount(id: string, kind: AccountKind, ref: string): void
  /** Starts a kiosk's chain at genesis if the store has no cursor for it. */
  ensureKiosk(kioskId: string): void
  /**
   * Writes a recorded kiosk transaction: its row, and for an accepted one its
   * postings, line items and the store's side of its effects (cancelled sales,
   * cash shifts, debts, a replaced wristband's debts); then moves the kiosk's
   * cursor past it. Accounts its postings name must exist (ensureAccount)
   * before. Throws if the cursor is not at its seq.
   */
  commitTransaction(write: TransactionWrite): void
  /** Writes an external booking with its postings (checked and decided by external.ts). */
  commitExternal(booking: StoredExternalBooking, postings: readonly PostingRecord[]): void

  // --- Reads for answers, reports and checks ---
  externalBooking(id: string): StoredExternalBooking | undefined
  externalBookingByRef(ref: string): StoredExternalBooking | undefined
  postingsOf(id: string): PostingRecord[]
  transaction(id: string): TransactionRecord | undefined
  /**
   * A wristband's accepted kiosk transactions (by tag) and external bookings
   * (by customer), newest first (equal times: newest written first, external
   * before kiosk), at most MAX_ORDERS_LISTED; line names as booked.
   */
  customerOrders(uid: string): CustomerOrder[]
  /** An order by its receipt id, with the wristband it belongs to; undefined unless the id is a well-formed UUID. */
  receipt(receiptId: string): Receipt | undefined
  sumOfAllBalances(): number
  stats(): LedgerStats
  /** Violations of the ledger's invariants (postings sum to zero, balances equal postings, chains complete, ...). */
  checkInvariants(): string[]
}

/** A kiosk as the registry knows it: enrolled, not retired. */
export interface RegisteredKiosk {
  id: string
  booth: string
  profile: ProfileFacts
}

/** A wristband as the registry knows it (its balance is the store's). */
export interface RegisteredWristband {
  blocked: boolean
  /** In an open payout run or an open refund run item (created or approved): its balance is being paid back, to the bank account or the card, so it cannot spend. Absent: in neither. */
  inPayoutRun?: boolean
  vouchers: number
  variant: string | null
}

/** What the core needs of the registry, and the registry's side of a booking. */
export interface RegistryFacts {
  kiosk(id: string): RegisteredKiosk | undefined
  wristband(uid: string): RegisteredWristband | undefined
  product(booth: string, productId: string): ProductFacts | undefined
  maxReturnQty(booth: string, productId: string): number
  /** undefined: the event has no staff list, so no login is required. */
  staffRoles(): ((uid: string) => readonly StaffRole[] | undefined) | undefined
  registerExists(register: string): boolean
  /** The uid of the (not retired) wristband with this PIN. */
  wristbandByPin(pin: string): string | undefined
  ticketPin(txId: string): string
  checkTag(tx: Transaction): TagCheckResult
  timeLimits(): TimeLimits
  offlineRules(): OfflineRules
  /**
   * The registry's side of a recorded transaction, in the same batch, before
   * the store writes it: the SUN counter it used, and for an accepted one new
   * wristbands (ticket, tag switch), a replaced wristband blocked, vouchers
   * used or given back.
   */
  applyBooking(write: TransactionWrite): void
}
