// Ingest with group commit (gateway/sql/wal-sync.ts): a batch commits without
// waiting for the disk and is answered only once a sync has put it there; a
// failed sync leaves everything it should have covered unanswered, says so
// once, and stays failed until a restart. The sync is a stand-in the test
// holds, fails or lets go; the ledger is a real SQLite file.
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { AlertEvent, Envelope, ReplyMessage } from '../device-protocol/index.js'
import { waitFor } from './testing/wait.js'
import { createIngest, type IngestDeps, type IngestObservation } from './ingest.js'
import { UID, failingStore, makeWorld, silentLogger } from './ledger/testing/test-helpers.js'
import { createWalSync } from './sql/wal-sync.js'

/** A sync the test answers: each whenDurable waits in `held` until it is let go or failed. */
function heldSync() {
  const held: Array<(err: Error | undefined) => void> = []
  let deferred = 0
  return {
    held,
    deferredBatches: () => deferred,
    durability: {
      withoutWaiting<T>(fn: () => T): T {
        deferred++
        return fn()
      },
      whenDurable(done: (err: Error | undefined) => void) {
        held.push(done)
      },
    } satisfies NonNullable<IngestDeps['durability']>,
  }
}

function harness(t: Test, durability: NonNullable<IngestDeps['durability']>, fault?: { code?: string }) {
  const world = makeWorld(join(t.testdir(), 'gateway.sqlite'), 'sqlite', fault === undefined ? undefined : failingStore(fault))
  t.teardown(world.close)
  const replies: Array<{ kioskId: string; message: ReplyMessage }> = []
  const alerts: AlertEvent[] = []
  const observations: IngestObservation[] = []
  const ingest = createIngest({
    ledger: world.ledger,
    logger: silentLogger,
    clock: world.clock,
    durability,
    publishReply: (kioskId, message) => void replies.push({ kioskId, message }),
    publishEvent: (kind, payload) => void (kind === 'alert' && alerts.push(payload as AlertEvent)),
    observe: (o) => void observations.push(o),
    // The kiosks of a failed commit are asked again from a timer (unref'd): not within these tests.
    storageRetryMs: 60_000,
  })
  const submit = (kioskId: string, envelope: Envelope) => ingest.submit(kioskId, Buffer.from(JSON.stringify(envelope)))
  const resultOf = (id: string) => replies.filter((r) => r.message.kind === 'result' && r.message.id === id).map((r) => r.message)
  return { world, ingest, replies, alerts, observations, submit, resultOf, k: world.kiosks }
}

/** Turns of the event loop (bounded) until `done`: signature checks run on a worker thread. */
const until = (done: () => boolean, what: string) => waitFor(done, what, { polls: 1000, pollMs: 2 })

/** A harness on a held sync with one top-up committed and waiting for the disk. */
async function oneBatchWaiting(t: Test) {
  const sync = heldSync()
  const h = harness(t, sync.durability)
  const topup = h.k.cash.topup(UID.alice, 5_000)
  h.submit('cash-1', topup)
  await until(() => sync.held.length === 1, 'the first batch committed')
  return { sync, h, topup }
}

t.test('a committed batch is answered only once the sync calls back; drain and settled wait for it, and answers keep their order', async (t) => {
  const { sync, h, topup: first } = await oneBatchWaiting(t)
  t.ok(h.world.ledger.transaction(first.tx.id), 'booked in the ledger')
  t.equal(sync.deferredBatches(), 1, 'committed without waiting for the disk')
  t.same(h.resultOf(first.tx.id), [], 'not answered before it is on disk')

  let drained = false
  let settled = false
  void h.ingest.drain().then(() => (drained = true))
  void h.ingest.settled().then(() => (settled = true))
  const second = h.k.cash.topup(UID.bob, 2_000)
  h.submit('cash-1', second)
  await until(() => sync.held.length === 2, 'the second batch committed while the first waits')
  t.same(h.replies, [], 'nothing answered')
  t.notOk(drained, 'drain waits for the disk')
  t.notOk(settled, 'settled waits for the disk')

  sync.held[0]!(undefined)
  t.match(h.resultOf(first.tx.id), [{ status: 'accepted' }], 'answered once its sync called back')
  t.same(h.resultOf(second.tx.id), [], 'the second still waits for its own')
  await new Promise((resolve) => setImmediate(resolve))
  t.ok(settled, 'settled: everything submitted before it asked is answered')
  t.notOk(drained, 'drain still waits for the second')

  sync.held[1]!(undefined)
  t.match(h.resultOf(second.tx.id), [{ status: 'accepted' }])
  await h.ingest.drain()
  t.same(
    h.replies.map((r) => (r.message.kind === 'result' ? r.message.seq : undefined)),
    [first.tx.seq, second.tx.seq],
    'in the kiosk sequence',
  )
  t.match(
    h.observations.filter((o) => o.kind === 'synced'),
    [{ kind: 'synced', size: 1 }, { kind: 'synced', size: 1 }],
    'each batch reported on disk',
  )
})

t.test('a refusal that follows a batch waiting for the disk is answered after it', async (t) => {
  const { sync, h, topup: sale } = await oneBatchWaiting(t)
  const forged = h.k.food.topup(UID.bob, 1_000)
  forged.tx.amount = 9_999
  h.submit('food-1', forged)
  await until(() => sync.held.length === 2, 'the refusal queued behind the batch')
  t.same(h.replies, [], 'the refusal waits behind the batch on its way to disk')
  sync.held[0]!(undefined)
  sync.held[1]!(undefined)
  t.match(
    h.replies.map((r) => r.message),
    [
      { kind: 'result', id: sale.tx.id, status: 'accepted' },
      { kind: 'result', id: forged.tx.id, status: 'rejected', reason: 'bad_signature' },
    ],
  )
})

t.test('a failed sync: nothing it covered is answered, one alert asking for a restart, and the fault stays until then', async (t) => {
  const eio = new Error("syncing the ledger's write-ahead log failed: EIO", { cause: Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }) })
  let syncs = 0
  const h = harness(t, {
    withoutWaiting: (fn) => fn(),
    whenDurable: (done) => {
      syncs++
      setImmediate(() => done(eio))
    },
  })
  const topup = h.k.cash.topup(UID.alice, 5_000)
  h.submit('cash-1', topup)
  await until(() => h.alerts.length > 0, 'the alert')
  await h.ingest.drain()
  t.same(h.resultOf(topup.tx.id), [], 'not answered: the kiosk keeps it')
  t.match(h.alerts, [{ kind: 'storage_failed', message: /synced to disk \(EIO\).*restart the gateway/ }])
  t.match(h.ingest.storageFault(), { code: 'EIO' })
  t.equal(h.ingest.counters().commitErrors, 1)
  t.match(h.observations.filter((o) => o.kind === 'commit_failed'), [{ size: 1 }])

  // A later batch commits (the ledger takes writes) but cannot be vouched for either: no answer, the fault stays.
  const next = h.k.cash.topup(UID.bob, 1_000)
  h.submit('cash-1', next)
  await until(() => syncs === 2, 'the next batch committed')
  await h.ingest.drain()
  t.same(h.resultOf(next.tx.id), [])
  t.match(h.ingest.storageFault(), { code: 'EIO' }, 'a commit that works does not end it')
  // The kiosk sends the first again: answered from the record would vouch for what may not be on disk.
  h.submit('cash-1', topup)
  await until(() => syncs === 3, 'the resend looked up')
  await h.ingest.drain()
  t.same(h.resultOf(topup.tx.id), [], 'a replay is not answered either')
  t.equal(h.alerts.length, 1, 'alerted once')
})

/** A batch committed and waiting for the disk, then one whose commit fails behind it (the store refuses it). */
async function failedCommitBehindWaitingBatch(t: Test) {
  const sync = heldSync()
  const fault: { code?: string } = {}
  const h = harness(t, sync.durability, fault)
  const first = h.k.cash.topup(UID.alice, 5_000)
  h.submit('cash-1', first)
  await until(() => sync.held.length === 1, 'the first batch committed')
  fault.code = 'SQLITE_IOERR_WRITE'
  const second = h.k.food.topup(UID.bob, 2_000)
  h.submit('food-1', second)
  // It booked nothing, but its answers (none here) keep their place behind the first batch's.
  await until(() => sync.held.length === 2, 'the failed batch queued behind the first')
  t.equal(h.ingest.counters().commitErrors, 1, 'the failed commit is counted')
  t.match(h.alerts, [{ kind: 'storage_failed', message: /cannot be written \(SQLITE_IOERR_WRITE\)/ }])
  t.notOk(h.world.ledger.transaction(second.tx.id), 'not booked')
  return { sync, h, first, second }
}

t.test('a batch whose commit failed waits only for the answers before it: it is not reported on disk', async (t) => {
  const { sync, h, first, second } = await failedCommitBehindWaitingBatch(t)
  sync.held[0]!(undefined)
  sync.held[1]!(undefined)
  t.match(h.resultOf(first.tx.id), [{ status: 'accepted' }])
  t.same(h.resultOf(second.tx.id), [], 'the failed one is not answered: its kiosk sends it again')
  t.same(
    h.observations.filter((o) => o.kind === 'synced').map((o) => (o as { size: number }).size),
    [1],
    'only the batch that wrote is reported synced',
  )
  t.equal(h.ingest.counters().commitErrors, 1)
})

t.test('a sync that fails after a failed commit counts and alerts only what it was to cover', async (t) => {
  const { sync, h, first, second } = await failedCommitBehindWaitingBatch(t)
  const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })
  sync.held[0]!(eio)
  sync.held[1]!(eio)
  t.same(h.resultOf(first.tx.id), [], 'the committed batch is not vouched for')
  t.same(h.resultOf(second.tx.id), [])
  t.equal(h.ingest.counters().commitErrors, 2, 'the failed commit once, the failed sync of the first batch once: not the failed commit again')
  t.same(
    h.observations.filter((o) => o.kind === 'commit_failed').map((o) => (o as { size: number }).size),
    [1, 1],
  )
  t.same(h.observations.filter((o) => o.kind === 'synced'), [])
  t.same(
    h.alerts.map((a) => a.kind),
    ['storage_failed', 'storage_failed'],
    'the failed commit, then the failed sync asking for a restart: once each',
  )
  t.match(h.alerts[1], { message: /could not be synced to disk \(EIO\)/ })
})

t.test('with the real sync on the ledger file: answered after it, and every other commit still waits for the disk', async (t) => {
  const world = makeWorld(join(t.testdir(), 'gateway.sqlite'))
  t.teardown(world.close)
  const sync = createWalSync(world.db)!
  const replies: ReplyMessage[] = []
  const ingest = createIngest({
    ledger: world.ledger,
    logger: silentLogger,
    clock: world.clock,
    durability: sync,
    publishReply: (_kioskId, message) => void replies.push(message),
    publishEvent: () => {},
  })
  const envelopes = [world.kiosks.cash.topup(UID.alice, 5_000), world.kiosks.cash.topup(UID.bob, 3_000)]
  for (const e of envelopes) ingest.submit('cash-1', Buffer.from(JSON.stringify(e)))
  await until(() => replies.length === 2, 'both answered')
  await ingest.drain()
  t.match(replies, [{ status: 'accepted' }, { status: 'accepted' }])
  t.ok(sync.syncs() >= 1, 'after a sync of the log')
  t.equal(world.db.pragma('synchronous', { simple: true }), 2, 'the connection is back to synchronous=FULL for every other writer')
})
