// The gateway's double-entry ledger: a deterministic state machine that takes
// signature-verified envelopes in arrival order and answers each with a named
// result. The core (core.ts) decides from facts read through the registry
// (gateway/registry/: who is who) and the store (store.ts: money and
// history); the ledger writes what it decided through both in one store batch
// with the kiosk's sequence cursor, so a crash can never book without
// advancing the cursor or the reverse. createLedger puts it together on the
// gateway's database, SQLite or PostgreSQL; createLedgerOn takes any store and
// registry (the in-memory store in tests and simulation).
import { randomUUID } from 'node:crypto'
import Database from 'better-sqlite3'
import type { Logger } from 'pino'
import type { Clock } from '../../device-protocol/index.js'
import { migrateGatewayDatabase } from '../migrations.js'
import { pgConnectionOf } from '../postgres/sql-database.js'
import type { SqlDatabase } from '../sql/database.js'
import { createRegistry, type Registry } from '../registry/registry.js'
import { applyEnvelope, type TransactionWrite } from './core.js'
import { configureLedgerConnection } from './db.js'
import { createExternalBookings } from './external.js'
import { composeLedgerFacts } from './facts.js'
import { createOperationReads, type BalanceView, type DebtRecord, type OperationReads, type ShiftReport } from './operations.js'
import { CARD_TERMINAL_CLEARING } from './rules.js'
import { pgLedgerStoreOn } from './pg-store.js'
import { createSqliteLedgerStore } from './sqlite-store.js'
import type { LedgerStore } from './store.js'
import {
  accountIds,
  type CustomerOrder,
  type OrderLine,
  type ExternalAccountKind,
  type ExternalBookingInput,
  type ExternalBookingRecord,
  type ExternalBookingResult,
  type KioskCursor,
  type Receipt,
  type WristbandInfo,
  type LedgerStats,
  type Outcome,
  type TransactionRecord,
  type VerifiedEnvelope,
} from './types.js'

export interface LedgerDeps {
  /** The gateway's database: a better-sqlite3 Database, or the PostgreSQL SqlDatabase (postgres/sql-database.ts). */
  db: SqlDatabase
  clock: Clock
  logger: Logger
  /**
   * Key of the PIN lookups (HMAC-SHA256), at least 16 bytes; keep it outside
   * the database in production (a leaked database alone then reveals no PIN).
   * Without it the ledger generates one and keeps it in the database's meta
   * table, so restarts keep working.
   */
  pinSecret?: Buffer
  /** Wraps the store: fault injection for the crash tests and the simulation (a write that fails like a power cut). */
  wrapStore?: (store: LedgerStore) => LedgerStore
}

export interface Ledger {
  /** Who is who: kiosks, wristbands and PINs, staff, the event set-up, the gateway's keys (gateway/registry/). */
  readonly registry: Registry
  kioskCursor(kioskId: string): KioskCursor | undefined
  wristband(uid: string): WristbandInfo | undefined
  /** Processes verified envelopes in order, all in one store batch. */
  applyBatch(items: readonly VerifiedEnvelope[]): Outcome[]
  balanceOf(uid: string): number | undefined
  /** Balance of any account by id, undefined if there is no such account. */
  accountBalance(accountId: string): number | undefined
  /** Opens a clearing, prepaid, donation or payout account if missing; returns its id. Throws LedgerRefusalError('invalid_account'). */
  ensureAccount(kind: ExternalAccountKind, ref: string): string
  /**
   * Books money that does not come from a kiosk, exactly once per `ref`, in one
   * SQLite transaction. Throws LedgerRefusalError (nothing booked) on a refusal.
   */
  bookExternal(input: ExternalBookingInput): ExternalBookingResult
  externalBooking(id: string): ExternalBookingRecord | undefined
  externalBookingByRef(ref: string): ExternalBookingRecord | undefined
  /** A wristband's accepted kiosk transactions and external bookings, newest first. */
  customerOrders(uid: string): CustomerOrder[]
  /** An order by its random receipt id, with the wristband it belongs to. */
  receipt(receiptId: string): Receipt | undefined
  transaction(id: string): TransactionRecord | undefined
  sumOfAllBalances(): number
  stats(): LedgerStats
  /** Violations of the ledger invariants, empty when all hold. */
  checkInvariants(): string[]
  /** What a kiosk shows on a balance check; undefined for an unknown wristband. */
  balanceView(uid: string): BalanceView | undefined
  /** Cash shifts, newest first, with their close-out figures. */
  shiftReports(): ShiftReport[]
  shiftReport(id: string): ShiftReport | undefined
  /** Offline sales that took wristbands below zero, and whether each wristband is still below. */
  debts(): DebtRecord[]
}

/** What the tills and operators read of bookings besides the store's own reads (SQL both engines run, operations.ts). */
export type LedgerReads = OperationReads

export interface LedgerParts {
  store: LedgerStore
  registry: Registry
  clock: Clock
  logger: Logger
  reads: LedgerReads
  /** Receipt ids; random by default, injected so a simulation can replay them. */
  newId?: () => string
}

/**
 * The ledger on the gateway's database: the store (SQLite's, or PostgreSQL's on the facade's connection) and the
 * registry share the database and its transactions, so a batch's registry writes and an import's bookings are each
 * one transaction (on PostgreSQL through the connection's shared transaction state, postgres/transactions.ts).
 */
export function createLedger({ db, clock, logger, pinSecret, wrapStore }: LedgerDeps): Ledger {
  const money = ledgerStoreOn(db)
  const store = wrapStore === undefined ? money : wrapStore(money)
  const registry = createRegistry({
    db,
    logger,
    ...(pinSecret === undefined ? {} : { pinSecret }),
    openAccount: (id, kind, ref) => store.ensureAccount(id, kind, ref),
    hasTransactions: () => {
      const { accepted, rejected } = store.stats()
      return accepted + rejected > 0
    },
    balanceOf: (uid) => store.account(accountIds.customer(uid))?.balance,
  })
  const reads: LedgerReads = createOperationReads(db)
  return createLedgerOn({ store, registry, clock, logger, reads })
}

/** The store on the gateway's database, its schema brought to this build's version first. */
function ledgerStoreOn(db: SqlDatabase): LedgerStore {
  const pg = pgConnectionOf(db)
  if (pg !== undefined) {
    migrateGatewayDatabase(db)
    return pgLedgerStoreOn(pg)
  }
  if (!(db instanceof Database)) throw new Error('the gateway database is neither SQLite (better-sqlite3) nor the PostgreSQL SqlDatabase')
  configureLedgerConnection(db)
  migrateGatewayDatabase(db)
  return createSqliteLedgerStore(db)
}

/** How often a batch that lost a race with another gateway's (store.isConflict) is run in all before its error stands. */
const MAX_BATCH_ATTEMPTS = 5

export function createLedgerOn({ store, registry, clock, logger, reads, newId = randomUUID }: LedgerParts): Ledger {
  const external = createExternalBookings({
    store,
    clock,
    logger,
    wristbandBlocked: (uid) => registry.wristbandBlocked(uid),
    wristbandInPayoutRun: (uid) => registry.wristband(uid)?.inPayoutRun === true,
    newId,
  })
  const facts = composeLedgerFacts(registry, store)
  /** Kiosks whose chain the store was told to start (store.ensureKiosk). */
  const chainsStarted = new Set<string>()

  function wristband(uid: string): WristbandInfo | undefined {
    if (typeof uid !== 'string') return undefined
    const band = registry.wristband(uid)
    const account = accountIds.customer(uid)
    const balance = store.account(account)?.balance
    return band === undefined || balance === undefined ? undefined : { uid, blocked: band.blocked, balance, account }
  }

  /** Writes what the core decided: accounts the postings name first, then the registry's side, then the store's. */
  function record(write: TransactionWrite): void {
    const { tx, decision } = write
    if (decision.status === 'accepted') {
      if (tx.type === 'topup_card') store.ensureAccount(accountIds.clearing(CARD_TERMINAL_CLEARING), 'clearing', CARD_TERMINAL_CLEARING)
      // A ticket's or tag switch's wristband (and its account) must exist before postings name it.
      for (const effect of decision.effects)
        if (effect.kind === 'register_wristband') store.ensureAccount(accountIds.customer(effect.uid), 'customer', effect.uid)
    }
    // The registry enrolled the kiosk; a store that keeps cursors apart from it starts the chain
    // now. Once per kiosk, not a query on every transaction; a batch that fails forgets them all
    // (its ensureKiosk was rolled back with it).
    if (!chainsStarted.has(write.row.kiosk)) {
      store.ensureKiosk(write.row.kiosk)
      chainsStarted.add(write.row.kiosk)
    }
    registry.applyBooking(write)
    store.commitTransaction(write)
  }

  function applyOne({ envelope, pin, pinRefused, txText }: VerifiedEnvelope): Outcome {
    const applied = applyEnvelope(facts, {
      envelope,
      ...(pin === undefined ? {} : { pin }),
      ...(pinRefused === true ? { pinRefused } : {}),
      ...(txText === undefined ? {} : { txText }),
      now: clock.now(),
      newReceiptId: newId,
    })
    if ((applied.kind === 'unrecorded' || applied.kind === 'replay') && applied.note !== undefined) logger.warn(applied.note.fields, applied.note.message)
    if (applied.kind === 'recorded') record(applied.write)
    return applied.outcome
  }

  function applyBatch(items: readonly VerifiedEnvelope[]): Outcome[] {
    if (items.length === 0) return []
    const kiosks = store.lockKiosks === undefined ? [] : items.map((item) => item.envelope.tx.kiosk)
    for (let attempt = 1; ; attempt++) {
      try {
        return store.batch(() => {
          store.lockKiosks?.(kiosks)
          // Another gateway's import or kiosk change on the same database: decide on it, not on what this one cached.
          registry.forgetIfChangedElsewhere?.()
          return items.map(applyOne)
        })
      } catch (err) {
        chainsStarted.clear()
        // Another gateway's batch won a race on the same database: nothing of this one was written, and run again it decides on what the other committed.
        if (attempt < MAX_BATCH_ATTEMPTS && store.isConflict?.(err) === true) {
          logger.warn({ attempt, err: String(err) }, 'batch lost a race with another gateway on the same database; running it again')
          continue
        }
        throw err
      }
    }
  }

  /** Lines named as the booth's catalog names them now (the name booked stays where the product is gone). */
  function withCatalogNames<T extends CustomerOrder>(order: T): T {
    const booth = order.booth
    if (booth === undefined) return order
    const rename = (lines: OrderLine[]) => lines.map((line) => ({ ...line, name: registry.product(booth, line.product)?.name ?? line.name }))
    const renamed: T = { ...order, lines: rename(order.lines) }
    if (order.cancels !== undefined) renamed.cancels = { ...order.cancels, lines: rename(order.cancels.lines) }
    return renamed
  }

  function balanceOf(uid: string): number | undefined {
    return store.account(accountIds.customer(uid))?.balance
  }

  return {
    registry,
    kioskCursor: (kioskId) => {
      const kiosk = facts.kiosk(kioskId)
      return kiosk === undefined ? undefined : { nextSeq: kiosk.nextSeq, lastHash: kiosk.lastHash }
    },
    wristband,
    applyBatch,
    balanceOf,
    accountBalance: (accountId) => (typeof accountId === 'string' ? store.account(accountId)?.balance : undefined),
    ensureAccount: external.ensureAccount,
    bookExternal: external.bookExternal,
    externalBooking: external.externalBooking,
    externalBookingByRef: external.externalBookingByRef,
    customerOrders: (uid) => store.customerOrders(uid).map(withCatalogNames),
    receipt(receiptId) {
      const found = store.receipt(receiptId)
      return found === undefined ? undefined : withCatalogNames(found)
    },
    transaction: store.transaction,
    sumOfAllBalances: store.sumOfAllBalances,
    stats: store.stats,
    checkInvariants: store.checkInvariants,
    balanceView: reads.balanceView,
    shiftReports: reads.shiftReports,
    shiftReport: reads.shiftReport,
    debts: reads.debts,
  }
}
