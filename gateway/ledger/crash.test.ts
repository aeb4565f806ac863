// A crash at any step of a batch, against both stores: the store's k-th write
// fails like a power cut (for every k the batch makes), and then
// - nothing of the batch is left: balances, cursors, records and statistics are
//   what they were before it (on SQLite also after reopening the file),
// - the kiosks send the same envelopes again and get exactly the answers a
//   batch that never crashed gives, booked once, with the invariants holding.
// The end-to-end crash test (simulators/e2e/crash.test.ts) kills a real
// gateway process under load; this one reaches every step of a batch. Where
// PostgreSQL 15 is installed it runs against the PostgreSQL store too (a
// private server, a database per run, reopened through a new connection).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { GENESIS_HASH, envelopeHash, type Envelope } from '../../device-protocol/index.js'
import type { LedgerStore } from './store.js'
import { postgresInstalled, startPostgresServer } from '../testing/postgres-server.js'
import { createPgLedgerStore } from './pg-store.js'
import { STORE_KINDS, UID, makeWorld, verified, type StoreKind, type TestWorld } from './testing/test-helpers.js'
import type { Outcome } from './types.js'

const WRITES = ['ensureAccount', 'ensureKiosk', 'commitTransaction', 'commitExternal'] as const

/** Counts the store's writes; throws at the `failAt`-th one (1-based) while armed. */
function faultyStore(fault: { failAt: number; writes: number }) {
  return (store: LedgerStore): LedgerStore => {
    const wrapped: LedgerStore = { ...store }
    for (const name of WRITES) {
      const write = store[name] as (...args: unknown[]) => void
      ;(wrapped as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
        fault.writes += 1
        if (fault.writes === fault.failAt) throw new Error(`power cut at write ${fault.writes} (${name})`)
        write(...args)
      }
    }
    return wrapped
  }
}

/** The batch under test: top-ups and sales over three kiosks, a refusal, and a card top-up. */
function batchOf(w: TestWorld): Envelope[] {
  const { bar, cash, food } = w.kiosks
  return [
    cash.topup(UID.bob, 1_500),
    bar.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: 450 }]),
    food.topup(UID.bob, 700),
    food.sale(UID.bob, [{ product: 'fries', qty: 2, unitPrice: 350 }]),
    bar.sale(UID.bob, [{ product: 'water', qty: 50, unitPrice: 200 }]),
    food.next({ type: 'topup_card', uid: UID.alice, amount: 900 }, { payment: { terminalId: '52500038', receiptNumber: '0042', traceNumber: '000042' } }),
  ]
}

/** What a kiosk is told, without the transaction ids (each run signs its own envelopes). */
const answers = (outcomes: Outcome[]) =>
  outcomes.map((o) => {
    if (o.kind === 'gap') return o
    const { id: _id, ...result } = o.result
    return { result, booked: o.booked, recorded: o.recorded, replay: o.replay }
  })

function snapshot(w: TestWorld) {
  const { ledger } = w
  return {
    stats: ledger.stats(),
    balances: [UID.alice, UID.bob].map((uid) => ledger.balanceOf(uid)),
    // Where each chain stands: its next seq, and whether its last hash is that of an envelope the kiosk signed (or genesis).
    cursors: (['bar', 'cash', 'food'] as const).map((name) => {
      const kiosk = w.kiosks[name]
      const cursor = ledger.kioskCursor(kiosk.id)!
      const signed = [GENESIS_HASH, ...kiosk.history.map(envelopeHash)]
      return { nextSeq: cursor.nextSeq, lastHash: signed.indexOf(cursor.lastHash) }
    }),
    orders: [UID.alice, UID.bob].map((uid) => ledger.customerOrders(uid).map((o) => `${o.kind} ${o.amount}`)),
  }
}

interface Run {
  world: TestWorld
  fault: { failAt: number; writes: number }
  reopen(): TestWorld
  close(): void
}

const postgres = postgresInstalled() ? await startPostgresServer() : undefined
if (postgres !== undefined) {
  t.teardown(() => postgres.stop())
  postgres.createDatabase('crash_template')
  createPgLedgerStore({ url: postgres.url('crash_template') }).close()
}
let pgDatabases = 0

function start(store: StoreKind | 'postgres', failAt: number): Run {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-crash-'))
  // On PostgreSQL the registry stays in a SQLite file (it is not on PostgreSQL yet) and the money in a database of its own.
  const path = store === 'memory' ? ':memory:' : join(dir, 'ledger.db')
  const url = store === 'postgres' ? postgres!.createDatabase(`crash_${++pgDatabases}`, 'crash_template') : ''
  const storeOf = () => (store === 'postgres' ? createPgLedgerStore({ url }) : store)
  const fault = { failAt, writes: 0 }
  const world = makeWorld(path, storeOf(), faultyStore(fault))
  // Money on alice before the batch: a committed state the crash must not touch.
  const warmUp = world.ledger.applyBatch([verified(world.kiosks.cash.topup(UID.alice, 2_000))])
  if (warmUp[0]?.kind !== 'result' || !warmUp[0].booked) throw new Error('warm-up top-up was not booked')
  return {
    world,
    fault,
    reopen() {
      // A restart: the same file under a new ledger, the kiosks keep their chains (their outboxes).
      world.close()
      const again = makeWorld(path, storeOf())
      again.kiosks.bar = world.kiosks.bar
      again.kiosks.cash = world.kiosks.cash
      again.kiosks.food = world.kiosks.food
      this.world = again
      return again
    },
    close() {
      this.world.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

for (const store of [...STORE_KINDS, ...(postgres === undefined ? [] : (['postgres'] as const))]) {
  t.test(`${store} store: a crash at any write of a batch leaves nothing of it, and the resend books it once`, async (t) => {
    // The run without a crash: its answers, its end state, and how many writes it makes.
    const reference = start(store, 0)
    const referenceWritesBefore = reference.fault.writes
    const batch = batchOf(reference.world)
    const expected = answers(reference.world.ledger.applyBatch(batch.map(verified)))
    const writes = reference.fault.writes - referenceWritesBefore
    const expectedState = snapshot(reference.world)
    reference.close()
    t.ok(writes >= batch.length, `the batch makes ${writes} writes`)
    t.same(
      expected.map((a) => ('result' in a ? a.result.status : a.kind)),
      ['accepted', 'accepted', 'accepted', 'accepted', 'rejected', 'accepted'],
      'the batch mixes bookings and a refusal',
    )

    for (let k = 1; k <= writes; k++) {
      const run = start(store, 0)
      const before = snapshot(run.world)
      const batchK = batchOf(run.world)
      run.fault.failAt = run.fault.writes + k
      t.throws(() => run.world.ledger.applyBatch(batchK.map(verified)), /power cut/, `write ${k} of ${writes} fails`)
      t.same(snapshot(run.world), before, `crash at write ${k}: nothing of the batch is left`)
      t.same(run.world.ledger.checkInvariants(), [], `crash at write ${k}: invariants hold`)
      const world = store === 'memory' ? run.world : run.reopen()
      if (store !== 'memory') t.same(snapshot(world), before, `crash at write ${k}: the database holds the state before the batch`)
      const resent = answers(world.ledger.applyBatch(batchK.map(verified)))
      t.same(resent, expected, `crash at write ${k}: the resend gets the answers of a batch that never crashed`)
      t.same(snapshot(world), expectedState, `crash at write ${k}: booked once`)
      t.same(world.ledger.checkInvariants(), [], `crash at write ${k}: invariants hold after the resend`)
      const again = world.ledger.applyBatch(batchK.map(verified))
      t.ok(again.every((o) => o.kind === 'result' && o.replay && !o.booked), `crash at write ${k}: a third send is answered from the record`)
      run.close()
    }
  })
}
