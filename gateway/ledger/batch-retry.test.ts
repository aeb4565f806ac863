// The ledger's side of several gateways on one database (ledger.ts
// applyBatch): it names a batch's kiosks to the store before anything is read
// (lockKiosks), and runs a batch again when the store says it lost a race with
// another writer (isConflict), at most five times in all; any other error
// stands at once. The store here is the in-memory one with a conflict
// injected after a write, so the rollback is real; pg-concurrent.test.ts has
// the races themselves on PostgreSQL.
import t from 'tap'
import type { LedgerStore } from './store.js'
import { makeWorld, UID, verified } from './testing/test-helpers.js'

const deadlock = () => Object.assign(new Error('deadlock detected'), { code: '40P01' })

/** A store that records lockKiosks calls and fails the first `conflicts` commits (after writing them) with `error`. */
function racingStore(conflicts: number, error: () => Error = deadlock) {
  const seen = { locked: [] as string[][], attempts: 0 }
  let left = conflicts
  const wrap = (store: LedgerStore): LedgerStore => ({
    ...store,
    lockKiosks: (ids) => void seen.locked.push([...ids]),
    isConflict: (e) => (e as { code?: unknown }).code === '40P01',
    commitTransaction(write) {
      store.commitTransaction(write)
      if (write.row.kiosk !== 'bar-1') return
      seen.attempts += 1
      if (left-- > 0) throw error()
    },
  })
  return { seen, wrap }
}

t.test('a batch that lost a race runs again and is booked once, with the answers of a batch that never lost', async (t) => {
  const { seen, wrap } = racingStore(2)
  const w = makeWorld(':memory:', 'memory', wrap)
  t.teardown(() => w.close())
  w.ledger.applyBatch([verified(w.kiosks.cash.topup(UID.alice, 1_000))])
  seen.locked.length = 0
  const outcomes = w.ledger.applyBatch([verified(w.kiosks.food.topup(UID.bob, 300)), verified(w.kiosks.bar.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: 450 }]))])
  t.strictSame(
    outcomes.map((o) => (o.kind === 'result' ? [o.result.status, o.result.balance, o.booked] : o.kind)),
    [
      ['accepted', 300, true],
      ['accepted', 550, true],
    ],
  )
  t.equal(seen.attempts, 3, 'two lost attempts, the third commits')
  t.strictSame(seen.locked, [['food-1', 'bar-1'], ['food-1', 'bar-1'], ['food-1', 'bar-1']], "each attempt names the batch's kiosks first")
  t.equal(w.ledger.balanceOf(UID.alice), 550)
  t.equal(w.ledger.balanceOf(UID.bob), 300)
  t.equal(w.ledger.stats().accepted, 3, 'booked once')
  t.strictSame(w.ledger.checkInvariants(), [])
})

t.test('a batch that keeps losing fails after five attempts, and nothing of it is written', async (t) => {
  const { seen, wrap } = racingStore(100)
  const w = makeWorld(':memory:', 'memory', wrap)
  t.teardown(() => w.close())
  w.ledger.applyBatch([verified(w.kiosks.cash.topup(UID.alice, 1_000))])
  t.throws(() => w.ledger.applyBatch([verified(w.kiosks.bar.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: 450 }]))]), /deadlock detected/)
  t.equal(seen.attempts, 5)
  t.equal(w.ledger.balanceOf(UID.alice), 1_000)
  t.equal(w.ledger.kioskCursor('bar-1')?.nextSeq, 1)
  t.strictSame(w.ledger.checkInvariants(), [])
})

t.test('any other error is not run again', async (t) => {
  const { seen, wrap } = racingStore(1, () => new Error('disk on fire'))
  const w = makeWorld(':memory:', 'memory', wrap)
  t.teardown(() => w.close())
  w.ledger.applyBatch([verified(w.kiosks.cash.topup(UID.alice, 1_000))])
  t.throws(() => w.ledger.applyBatch([verified(w.kiosks.bar.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: 450 }]))]), /disk on fire/)
  t.equal(seen.attempts, 1)
  t.equal(w.ledger.balanceOf(UID.alice), 1_000)
})

t.test('a store with one writer (no lockKiosks, no isConflict) runs each batch once, as before', async (t) => {
  let batches = 0
  const w = makeWorld(':memory:', 'memory', (store) => ({
    ...store,
    batch: (fn) => ((batches += 1), store.batch(fn)),
    commitTransaction(write) {
      store.commitTransaction(write)
      if (write.row.kiosk === 'bar-1') throw deadlock()
    },
  }))
  t.teardown(() => w.close())
  t.throws(() => w.ledger.applyBatch([verified(w.kiosks.bar.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: 450 }]))]), /deadlock detected/)
  t.equal(batches, 1)
})
