// Helpers for tests of the ledger and ingest: kiosk keys, a kiosk that signs
// chained envelopes, and a small event set-up. Test code only.
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto'
import pino from 'pino'
import {
  GENESIS_HASH,
  envelopeHash,
  publicKeyToBase64Url,
  signTransaction,
  type Clock,
  type Envelope,
  type Line,
  type Transaction,
  type TransactionType,
} from '../../../device-protocol/index.js'
import type { EventSetup } from '../../event-setup.js'
import { openLedgerDatabase } from '../db.js'
import { migrateGatewayDatabase } from '../../migrations.js'
import { createRegistry } from '../../registry/registry.js'
import { createLedger, createLedgerOn, type Ledger } from '../ledger.js'
import { createMemoryLedgerStore } from '../memory-store.js'
import { createOperationReads } from '../operations.js'
import type { ProductFacts } from '../rules.js'
import type { LedgerStore } from '../store.js'
import type { SqlDatabase } from '../../sql/database.js'
import type { WorldDatabase } from '../../testing/world-engines.js'
import { accountIds } from '../types.js'

export const silentLogger = pino({ level: 'silent' })

/** For makeWorld's wrapStore: the store fails with `fault.code` on every booking while it is set (as better-sqlite3 throws). */
export function failingStore(fault: { code?: string }) {
  return (store: LedgerStore): LedgerStore => ({
    ...store,
    commitTransaction(write) {
      if (fault.code !== undefined) throw Object.assign(new Error(`injected ${fault.code}`), { code: fault.code })
      store.commitTransaction(write)
    },
  })
}

export function fixedClock(startMs = 1_750_000_000_000): Clock & { advance(ms: number): void } {
  let now = startMs
  return { now: () => now, advance: (ms) => void (now += ms) }
}

export interface KioskKeys {
  privateKey: KeyObject
  publicKey: KeyObject
  publicKeyBase64Url: string
}

export function makeKioskKeys(): KioskKeys {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return { privateKey, publicKey, publicKeyBase64Url: publicKeyToBase64Url(publicKey) }
}

export interface TxIntent {
  type: TransactionType
  uid: string
  lines?: Line[]
  amount: number
  id?: string
}

/**
 * A kiosk as the gateway sees it: counts seq up, chains `prev` to its own
 * previous envelope, signs. `history[seq - 1]` is the envelope of that seq.
 */
export class SigningKiosk {
  readonly history: Envelope[] = []
  readonly keys: KioskKeys

  constructor(
    readonly id: string,
    keys?: KioskKeys,
    private readonly atMs = 1_750_000_000_000,
  ) {
    this.keys = keys ?? makeKioskKeys()
  }

  get lastHash(): string {
    const last = this.history.at(-1)
    return last === undefined ? GENESIS_HASH : envelopeHash(last)
  }

  /** Builds and signs the next transaction of the chain. */
  next(intent: TxIntent, override: Partial<Transaction> = {}): Envelope {
    const tx: Transaction = {
      v: 1,
      id: intent.id ?? randomUUID(),
      kiosk: this.id,
      seq: this.history.length + 1,
      prev: this.lastHash,
      type: intent.type,
      tag: { uid: intent.uid, type: 'ntag215' },
      lines: intent.lines ?? [],
      amount: intent.amount,
      at: this.atMs + this.history.length,
      ...override,
    }
    const envelope = signTransaction(tx, this.keys.privateKey)
    this.history.push(envelope)
    return envelope
  }

  /** Signs an envelope outside the chain (a conflicting or forged one); history is unchanged. */
  sign(tx: Transaction): Envelope {
    return signTransaction(tx, this.keys.privateKey)
  }

  sale(uid: string, lines: Line[], override: Partial<Transaction> = {}): Envelope {
    const amount = lines.reduce((s, l) => s + l.qty * l.unitPrice, 0)
    return this.next({ type: 'sale', uid, lines, amount }, override)
  }

  topup(uid: string, amount: number, override: Partial<Transaction> = {}): Envelope {
    return this.next({ type: 'topup_cash', uid, amount }, override)
  }
}

export const UID = { alice: '04A1B2C3D4E5F6', bob: '04B0B0B0B0B0B0', blocked: '04BADBADBADBAD', stranger: '04FFFFFFFFFFFF' } as const
/** Portal PINs of testSetup's wristbands. */
export const PIN = { alice: 'ALCE2345AB', bob: 'BBQ9876ZZZ', blocked: 'BLCKD22222' } as const

/** bar sells beer and water, food sells fries; bar-1 sells only, cash-1 tops up only, food-1 does both. */
export function testSetup(keys: Partial<Record<string, KioskKeys>> = {}): EventSetup {
  const kiosk = (id: string, booth: string, saleAllowed: boolean, topupAllowed: boolean) => {
    const key = keys[id]?.publicKeyBase64Url
    return { id, booth, token: `token-of-${id}-0123456789abcdef`, saleAllowed, topupAllowed, ...(key ? { publicKey: key } : {}) }
  }
  return {
    event: { name: 'Test Fest', currency: 'EUR' },
    booths: [
      { id: 'bar', name: 'Bar' },
      { id: 'food', name: 'Food' },
      { id: 'cashdesk', name: 'Cash desk' },
    ],
    products: [
      { id: 'beer', name: 'Beer', price: 450, booth: 'bar' },
      { id: 'water', name: 'Water', price: 200, booth: 'bar' },
      { id: 'fries', name: 'Fries', price: 350, booth: 'food' },
      { id: 'tap-water', name: 'Tap water', price: 0, booth: 'food' },
    ],
    kiosks: [kiosk('bar-1', 'bar', true, false), kiosk('cash-1', 'cashdesk', false, true), kiosk('food-1', 'food', true, true)],
    wristbands: [
      { uid: UID.alice, pin: PIN.alice },
      { uid: UID.bob, pin: PIN.bob },
      { uid: UID.blocked, pin: PIN.blocked, blocked: true },
    ],
  }
}

export interface TestWorld<Db extends SqlDatabase = ReturnType<typeof openLedgerDatabase>> {
  db: Db
  ledger: Ledger
  kiosks: { bar: SigningKiosk; cash: SigningKiosk; food: SigningKiosk }
  clock: ReturnType<typeof fixedClock>
  close(): void
}

/** Where a test world's ledger keeps its money: the gateway's SQLite store, or the in-memory store. */
export type StoreKind = 'sqlite' | 'memory'
export const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'memory']

/**
 * A ledger over the in-memory store (memory-store.ts), with the registry on
 * its own SQLite database: what the simulation and the store-parameterised
 * tests run on. The registry's database holds no accounts (they are the
 * store's), so its foreign keys to them are off; the read models (orders,
 * shift reports) are SQLite queries and see nothing of the store here.
 */
export function createMemoryLedger({ db, clock, logger = silentLogger, wrapStore }: { db: ReturnType<typeof openLedgerDatabase>; clock: Clock; logger?: typeof silentLogger; wrapStore?: (store: LedgerStore) => LedgerStore }): Ledger {
  return createLedgerOverStore({ db, clock, logger, store: createMemoryLedgerStore(), ...(wrapStore === undefined ? {} : { wrapStore }) })
}

/** As createMemoryLedger, over any store that keeps its own cursors (the memory store, the PostgreSQL store). */
export function createLedgerOverStore({
  db,
  clock,
  logger = silentLogger,
  store: money,
  wrapStore,
}: {
  db: ReturnType<typeof openLedgerDatabase>
  clock: Clock
  logger?: typeof silentLogger
  store: LedgerStore
  wrapStore?: (store: LedgerStore) => LedgerStore
}): Ledger {
  migrateGatewayDatabase(db)
  db.pragma('foreign_keys = OFF')
  // One batch spans both: the registry's side of a booking (vouchers, new wristbands, SUN counters) rolls back with the store's.
  const registryTransaction = db.transaction((fn: () => unknown) => fn())
  const spanning: LedgerStore = { ...money, batch: (fn) => registryTransaction.immediate(() => money.batch(fn)) as ReturnType<typeof fn> }
  const store = wrapStore === undefined ? spanning : wrapStore(spanning)
  const registry = createRegistry({
    db,
    logger,
    openAccount: (id, kind, ref) => store.ensureAccount(id, kind, ref),
    hasTransactions: () => {
      const { accepted, rejected } = store.stats()
      return accepted + rejected > 0
    },
    balanceOf: (uid) => store.account(accountIds.customer(uid))?.balance,
  })
  return createLedgerOn({ store, registry, clock, logger, reads: createOperationReads(db) })
}

/**
 * A ledger on `path` (default in memory) with testSetup imported and the three kiosks enrolled; `store` says where the
 * money is kept: a kind, or a store of its own (such as a PostgreSQL store; closed with the world).
 * Given a database of a test engine (gateway/testing/world-engines.ts) instead of a path, the ledger is the gateway's
 * own on that database, SQLite or PostgreSQL, and closing the world closes only its connection.
 */
export function makeWorld(path?: string, store?: StoreKind | (LedgerStore & { close(): void }), wrapStore?: (store: LedgerStore) => LedgerStore): TestWorld
export function makeWorld(database: WorldDatabase, store?: 'sqlite', wrapStore?: (store: LedgerStore) => LedgerStore): TestWorld<SqlDatabase>
export function makeWorld(
  where: string | WorldDatabase = ':memory:',
  store: StoreKind | (LedgerStore & { close(): void }) = 'sqlite',
  wrapStore?: (store: LedgerStore) => LedgerStore,
): TestWorld<SqlDatabase> {
  const clock = fixedClock()
  const wrap = wrapStore === undefined ? {} : { wrapStore }
  let db: SqlDatabase
  let ledger: Ledger
  let close: () => void
  if (typeof where === 'string') {
    const sqlite = openLedgerDatabase(where)
    db = sqlite
    ledger =
      store === 'sqlite'
        ? createLedger({ db: sqlite, clock, logger: silentLogger, ...wrap })
        : store === 'memory'
          ? createMemoryLedger({ db: sqlite, clock, ...wrap })
          : createLedgerOverStore({ db: sqlite, clock, store, ...wrap })
    const closeStore = typeof store === 'object' ? () => store.close() : () => {}
    close = () => (sqlite.close(), closeStore())
  } else {
    if (store !== 'sqlite') throw new Error("a world on an engine's database keeps its money in that database's own store")
    const connection = where.connect()
    db = connection.db
    ledger = createLedger({ db, clock, logger: silentLogger, ...wrap })
    close = () => connection.close()
  }
  const kiosks = { bar: new SigningKiosk('bar-1'), cash: new SigningKiosk('cash-1'), food: new SigningKiosk('food-1') }
  ledger.registry.importEventSetup(testSetup({ 'bar-1': kiosks.bar.keys, 'cash-1': kiosks.cash.keys, 'food-1': kiosks.food.keys }))
  return { db, ledger, kiosks, clock, close }
}

export const verified = (envelope: Envelope) => ({ envelope })

/** A catalog product as the rules see it: a plain fixed-price item unless `more` says otherwise. */
export const productFacts = (id: string, price: number, more: Partial<ProductFacts> = {}): ProductFacts => ({
  id,
  name: id,
  price,
  kind: 'item',
  fixedPrice: true,
  taxRate: 0,
  voucherEligible: false,
  restrictions: [],
  ticketVariant: null,
  ...more,
})

