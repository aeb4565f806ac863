// The gateway in the simulation: the real ledger (over the in-memory store or
// a SQLite file), the real ingest and the real kiosk queries, wired to the
// simulated broker the way gateway/app.ts wires them to aedes. A crash kills
// the process (its ingest queue and timers), takes the embedded broker down
// with it, and the restart opens the ledger again from its store: the SQLite
// file is closed and reopened; the in-memory store stands for a disk that
// survives, so the same ledger goes on under a new ingest. A crash can also
// come at a chosen point of a batch, through the store's fault hook (as
// gateway/ledger/crash.test.ts does): at its k-th write (the batch rolls
// back, nothing is answered), or after its commit before any answer goes out.
import { join } from 'node:path'
import pino from 'pino'
import { verifyEnvelope, type Clock, type ReplyMessage } from '../../device-protocol/index.js'
import { createIngest, type Ingest, type IngestDeps } from '../../gateway/ingest.js'
import { createKioskQueries } from '../../gateway/kiosk-queries.js'
import { createLedger, openLedgerDatabase, type Ledger } from '../../gateway/ledger/index.js'
import type { LedgerStore } from '../../gateway/ledger/store.js'
import { createMemoryLedger } from '../../gateway/ledger/testing/test-helpers.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import type { SimNetwork } from './network.js'
import { createOwner, type Owner, type SimScheduler } from './scheduler.js'

export type StoreKind = 'memory' | 'sqlite'

const silent = pino({ level: 'silent' })

const STORE_WRITES = ['ensureAccount', 'ensureKiosk', 'commitTransaction', 'commitExternal'] as const

/** Where a planned crash strikes. */
export type CrashPoint = { at: 'now' } | { at: 'write'; write: number } | { at: 'after_commit' }

export interface SimGatewayOptions {
  scheduler: SimScheduler
  network: SimNetwork
  store: StoreKind
  /** A folder for the SQLite file (store 'sqlite'). */
  dir: string
  setup: EventSetup
  /** A deliberately broken store (the simulator's self-test); applied inside the crash hook. */
  wrapStore?: (store: LedgerStore) => LedgerStore
  /** A deliberately broken ingest (the simulator's self-test). */
  wrapIngestDeps?: (deps: IngestDeps) => IngestDeps
  /** Told when a planned crash strikes and when the gateway is back. */
  onCrash(point: string): void
}

export interface SimGateway {
  readonly ledger: Ledger
  readonly ingest: Ingest | undefined
  readonly storeKind: StoreKind
  /** The SQLite file (store 'sqlite'). */
  readonly path: string | undefined
  isUp(): boolean
  /** Whether the ledger can be read now (the SQLite file is closed while the gateway is down). */
  readable(): boolean
  /** Arms a crash: now, at a write of the next batch, or after the next commit. */
  crash(point: CrashPoint, downMs: number): void
  /** Whether a crash is armed and has not struck yet. */
  crashArmed(): boolean
  close(): void
}

export function createSimGateway(options: SimGatewayOptions): SimGateway {
  const { scheduler, network, setup } = options
  const clock: Clock = { now: () => scheduler.now }
  const path = options.store === 'sqlite' ? join(options.dir, 'ledger.sqlite') : undefined
  let owner: Owner = createOwner('gateway#0')
  let generation = 0
  let up = false
  let ingest: Ingest | undefined
  let armed: { point: CrashPoint; downMs: number; writes: number } | undefined

  /** The fault hook around the (possibly broken) store: counts writes, and strikes where a crash is armed. */
  function faultHook(store: LedgerStore): LedgerStore {
    const inner = options.wrapStore ? options.wrapStore(store) : store
    const hooked: LedgerStore = { ...inner }
    for (const name of STORE_WRITES) {
      const write = inner[name] as (...args: unknown[]) => void
      ;(hooked as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
        if (armed?.point.at === 'write') {
          armed.writes += 1
          if (armed.writes >= armed.point.write) {
            const { downMs } = armed
            strike(`at write ${armed.writes} of a batch (${name})`, downMs)
            // The power is gone before this write reaches the disk: the batch rolls back.
            throw new Error(`simulated power cut at write ${armed.writes}`)
          }
        }
        write(...args)
      }
    }
    hooked.batch = <T>(fn: () => T): T => {
      const result = inner.batch(fn)
      if (armed?.point.at === 'after_commit') strike('after a commit, before its answers', armed.downMs)
      return result
    }
    return hooked
  }

  let ledger: Ledger
  let db: ReturnType<typeof openLedgerDatabase>
  function openLedger(first: boolean): void {
    if (options.store === 'sqlite') {
      db = openLedgerDatabase(path!)
      ledger = createLedger({ db, clock, logger: silent, pinSecret: Buffer.alloc(32, 7), wrapStore: faultHook })
    } else if (first) {
      db = openLedgerDatabase(':memory:')
      ledger = createMemoryLedger({ db, clock, logger: silent, wrapStore: faultHook })
    }
    if (first) ledger.registry.importEventSetup(setup)
  }

  function publishReply(kioskId: string, message: ReplyMessage, from: Owner): void {
    // A dead process publishes nothing (the answers of a batch whose commit the crash followed are lost).
    if (from.dead) return
    network.publishDown(kioskId, JSON.stringify(message))
  }

  function start(): void {
    const mine = createOwner(`gateway#${generation}`)
    owner = mine
    up = true
    const deps: IngestDeps = {
      ledger,
      logger: silent,
      clock,
      publishReply: (kioskId, message) => publishReply(kioskId, message, mine),
      publishEvent: () => undefined,
      // The same check, synchronous: verifyEnvelopeAsync runs on the thread pool, whose order no seed decides.
      verify: async (envelope, key) => verifyEnvelope(envelope, key),
      monotonicNowMs: () => scheduler.now,
    }
    const current = createIngest(options.wrapIngestDeps ? options.wrapIngestDeps(deps) : deps)
    ingest = current
    const queries = createKioskQueries({ ledger, clock, logger: silent, publishReply: (kioskId, message) => publishReply(kioskId, message, mine) })
    network.gateway = {
      owner: mine,
      tx: (kioskId, payload) => current.submit(kioskId, payload),
      query: (kioskId, payload) => queries.handle(kioskId, payload),
    }
  }

  function strike(point: string, downMs: number): void {
    if (!up) return
    armed = undefined
    up = false
    owner.dead = true
    ingest = undefined
    network.gateway = undefined
    // The broker runs in the gateway's process: it goes down with it.
    network.restartBroker(downMs)
    options.onCrash(point)
    // The process is gone now; the file is closed once the batch in progress has rolled back.
    scheduler.at(0, 'gateway gone', () => {
      if (options.store === 'sqlite') db.close()
    })
    scheduler.at(downMs, 'gateway restart', () => {
      generation += 1
      openLedger(false)
      start()
    })
  }

  openLedger(true)
  start()

  return {
    get ledger() {
      return ledger
    },
    get ingest() {
      return ingest
    },
    storeKind: options.store,
    path,
    isUp: () => up,
    readable: () => up || options.store === 'memory',
    crash(point, downMs) {
      if (!up) return
      if (point.at === 'now') strike('between batches', downMs)
      else armed = { point, downMs, writes: 0 }
    },
    crashArmed: () => armed !== undefined,
    close() {
      owner.dead = true
      if (db.open) db.close()
    },
  }
}
