// Inside a batch the SQLite store writes a booking without a savepoint of its own (a savepoint made SQLite copy
// every page it changed to a temporary file, most of a sale's system time). A booking that fails midway must
// still leave nothing of it: the whole batch is rolled back, with that booking's error, even if the caller
// caught the error and went on.
import t, { type Test } from 'tap'
import type { TransactionWrite } from './core.js'
import type { LedgerStore } from './store.js'
import { UID, makeWorld, verified } from './testing/test-helpers.js'
import { accountIds } from './types.js'

/** A world on the SQLite store that hands out its store and every booking's write. */
function worldWithStore() {
  let store: LedgerStore | undefined
  const writes: TransactionWrite[] = []
  const w = makeWorld(':memory:', 'sqlite', (inner) => {
    store = inner
    return {
      ...inner,
      commitTransaction(write) {
        writes.push(write)
        inner.commitTransaction(write)
      },
    }
  })
  return { w, store: store!, writes }
}

/** A top-up of alice at cash-1 (its seq 1) as the ledger writes it, taken from another ledger with the same set-up. */
function firstTopUpWrite(t: Test): TransactionWrite {
  const other = worldWithStore()
  t.teardown(other.w.close)
  const [outcome] = other.w.ledger.applyBatch([verified(other.w.kiosks.cash.topup(UID.alice, 1_000))])
  t.match(outcome, { kind: 'result', result: { status: 'accepted' } })
  return other.writes[0]!
}

t.test('a booking that fails inside a batch fails the whole batch, even when its caller catches the error', async (t) => {
  const write = firstTopUpWrite(t)
  const { w, store } = worldWithStore()
  t.teardown(w.close)
  let caught: unknown
  const thrown = (() => {
    try {
      store.batch(() => {
        store.commitTransaction(write)
        try {
          // The same booking again: the kiosk's cursor has moved past its seq.
          store.commitTransaction(write)
        } catch (err) {
          caught = err
        }
        return 'went on'
      })
    } catch (err) {
      return err
    }
    return undefined
  })()
  t.ok(caught instanceof Error, 'the second booking was refused')
  t.equal(thrown, caught, "the batch failed with that booking's error")
  t.equal(store.recorded(write.row.id), undefined, 'the first booking of the batch is not kept either')
  t.equal(store.cursor('cash-1')?.nextSeq, 1)
  t.equal(store.account(accountIds.customer(UID.alice))?.balance, 0)
  t.strictSame(store.checkInvariants(), [])

  // The store is not stuck in the failed batch: the next one books.
  store.batch(() => store.commitTransaction(write))
  t.equal(store.recorded(write.row.id)?.status, 'accepted')
  t.equal(store.cursor('cash-1')?.nextSeq, 2)
  t.equal(store.account(accountIds.customer(UID.alice))?.balance, 1_000)
})

t.test('a booking outside any batch is its own atomic write', async (t) => {
  const write = firstTopUpWrite(t)
  const { w, store } = worldWithStore()
  t.teardown(w.close)
  store.commitTransaction(write)
  t.throws(() => store.commitTransaction(write), 'booked once only')
  t.equal(store.account(accountIds.customer(UID.alice))?.balance, 1_000)
  t.strictSame(store.checkInvariants(), [])
})

t.test('the ledger books batches as before: all of a batch, answered in order', async (t) => {
  const { w } = worldWithStore()
  t.teardown(w.close)
  const outcomes = w.ledger.applyBatch([
    verified(w.kiosks.cash.topup(UID.alice, 1_000)),
    verified(w.kiosks.bar.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: 450 }])),
    verified(w.kiosks.bar.sale(UID.alice, [{ product: 'beer', qty: 2, unitPrice: 450 }])),
  ])
  t.match(outcomes, [
    { kind: 'result', result: { status: 'accepted', balance: 1_000 } },
    { kind: 'result', result: { status: 'accepted', balance: 550 } },
    { kind: 'result', result: { status: 'rejected', reason: 'insufficient_balance' } },
  ])
  t.equal(w.ledger.balanceOf(UID.alice), 550)
  t.strictSame(w.ledger.checkInvariants(), [])
})
