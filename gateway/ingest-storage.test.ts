// Ingest when the ledger's disk fills or fails (SQLITE_FULL, SQLITE_IOERR,
// SQLITE_BUSY): the batch rolls back, nobody is answered (the kiosks keep their
// transactions), one storage_failed alert per episode, and once the disk takes
// writes again the kiosks are asked to send again and each transaction is
// booked exactly once, without a restart.
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { AlertEvent, Envelope, ReplyMessage } from '../device-protocol/index.js'
import { waitFor } from './testing/wait.js'
import { createIngest, type IngestDeps } from './ingest.js'
import { UID, failingStore, makeWorld, silentLogger, type TestWorld } from './ledger/testing/test-helpers.js'

function harness(t: Test, world: TestWorld, opts: Partial<IngestDeps> = {}) {
  t.teardown(world.close)
  const replies: Array<{ kioskId: string; message: ReplyMessage }> = []
  const alerts: AlertEvent[] = []
  const ingest = createIngest({
    ledger: world.ledger,
    logger: silentLogger,
    clock: world.clock,
    storageRetryMs: 5,
    publishReply: (kioskId, message) => void replies.push({ kioskId, message }),
    publishEvent: (kind, payload) => void (kind === 'alert' && alerts.push(payload as AlertEvent)),
    ...opts,
  })
  const send = async (kioskId: string, envelope: Envelope) => {
    ingest.submit(kioskId, Buffer.from(JSON.stringify(envelope)))
    await ingest.drain()
  }
  const resultOf = (id: string) => replies.filter((r) => r.message.kind === 'result' && r.message.id === id).map((r) => r.message)
  const storageAlerts = () => alerts.filter((a) => a.kind.startsWith('storage_')).map((a) => a.kind)
  return { ingest, replies, alerts, send, resultOf, storageAlerts, k: world.kiosks }
}

/** Polls (bounded) until `done`; what is waited for is a resend request sent from a timer. */
const until = (done: () => boolean, what: string) => waitFor(done, what, { polls: 500, pollMs: 5 })

t.test('a really full ledger disk (SQLite max_page_count on the file): nothing booked, nothing answered, one alert; booked exactly once after space is back', async (t) => {
  const world = makeWorld(join(t.testdir(), 'gateway.sqlite'))
  const h = harness(t, world)
  await h.send('cash-1', h.k.cash.topup(UID.alice, 5_000))
  t.match(h.replies.at(-1)?.message, { status: 'accepted' })

  // The disk is full from now on: SQLite may not grow the file by one page.
  world.db.pragma(`max_page_count = ${world.db.pragma('page_count', { simple: true }) as number}`)
  const sent: Envelope[] = []
  for (let i = 0; i < 100 && h.ingest.counters().commitErrors === 0; i++) {
    const sale = h.k.bar.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: 450 }])
    sent.push(sale)
    await h.send('bar-1', sale)
  }
  t.equal(h.ingest.counters().commitErrors, 1, 'a batch failed once the file could not grow')
  const failed = sent.at(-1)!
  const booked = sent.slice(0, -1)
  t.same(h.resultOf(failed.tx.id), [], 'the failed transaction is not answered: the kiosk keeps it')
  t.equal(world.ledger.transaction(failed.tx.id), undefined, 'nothing of the batch is booked')
  t.equal(world.ledger.kioskCursor('bar-1')?.nextSeq, failed.tx.seq, 'the cursor did not move')
  t.same(world.ledger.checkInvariants(), [])
  t.match(h.ingest.storageFault(), { code: 'SQLITE_FULL' })
  t.match(h.alerts.find((a) => a.kind === 'storage_failed'), { message: /SQLITE_FULL/ })

  // The kiosk sends it again while the disk is still full (the retry asks it to): still nothing, still one alert.
  await until(() => h.replies.some((r) => r.kioskId === 'bar-1' && r.message.kind === 'resend'), 'a resend request while the disk is full')
  t.match(h.replies.find((r) => r.message.kind === 'resend')?.message, { kind: 'resend', fromSeq: failed.tx.seq })
  await h.send('bar-1', failed)
  t.equal(world.ledger.transaction(failed.tx.id), undefined)
  t.same(h.storageAlerts(), ['storage_failed'], 'one alert for the episode')

  // Space is back: the next resend is booked, once.
  world.db.pragma('max_page_count = 1073741823')
  const before = h.replies.length
  await until(() => h.replies.slice(before).some((r) => r.message.kind === 'resend'), 'a resend request after space is back')
  await h.send('bar-1', failed)
  t.match(h.resultOf(failed.tx.id), [{ status: 'accepted' }])
  t.equal(h.ingest.storageFault(), undefined)
  t.same(h.storageAlerts(), ['storage_failed', 'storage_recovered'])
  await h.send('bar-1', failed)
  t.match(h.resultOf(failed.tx.id), [{ status: 'accepted' }, { status: 'accepted' }], 'a second resend is answered from the record')
  t.equal(world.ledger.stats().accepted, 1 + booked.length + 1, 'booked exactly once')
  t.equal(world.ledger.balanceOf(UID.alice), 5_000 - 450 * (booked.length + 1))
  t.same(world.ledger.checkInvariants(), [])
})

t.test('SQLITE_BUSY and SQLITE_IOERR: one alert per episode, no false answer, the kiosks asked again until it works', async (t) => {
  const fault: { code?: string } = { code: 'SQLITE_BUSY' }
  const world = makeWorld(':memory:', 'sqlite', failingStore(fault))
  const h = harness(t, world)
  const a = h.k.cash.topup(UID.alice, 1_000)
  const b = h.k.food.topup(UID.bob, 2_000)
  await h.send('cash-1', a)
  fault.code = 'SQLITE_IOERR_WRITE'
  await h.send('food-1', b)
  t.same(h.replies.filter((r) => r.message.kind === 'result'), [], 'no answer at all')
  t.equal(h.ingest.counters().commitErrors, 2)
  t.same(h.storageAlerts(), ['storage_failed'], 'one alert for the episode')
  t.same(
    h.alerts.filter((x) => x.kind === 'commit_failed'),
    [],
    'not alerted per batch',
  )
  t.match(h.ingest.storageFault(), { code: 'SQLITE_IOERR_WRITE' }, 'the latest code')
  await until(() => ['cash-1', 'food-1'].every((k) => h.replies.some((r) => r.kioskId === k && r.message.kind === 'resend')), 'both kiosks asked again')

  delete fault.code
  await h.send('cash-1', a)
  await h.send('food-1', b)
  t.match(h.resultOf(a.tx.id), [{ status: 'accepted' }])
  t.match(h.resultOf(b.tx.id), [{ status: 'accepted' }])
  t.same(h.storageAlerts(), ['storage_failed', 'storage_recovered'])
  t.equal(world.ledger.stats().accepted, 2)
  t.same(world.ledger.checkInvariants(), [])
})

t.test('a batch that writes nothing (a replay) does not end the episode', async (t) => {
  const fault: { code?: string } = {}
  const world = makeWorld(':memory:', 'sqlite', failingStore(fault))
  const h = harness(t, world, { storageRetryMs: 60_000 })
  const a = h.k.cash.topup(UID.alice, 1_000)
  await h.send('cash-1', a)
  fault.code = 'SQLITE_FULL'
  await h.send('cash-1', h.k.cash.topup(UID.alice, 1_000))
  await h.send('cash-1', a)
  t.match(h.resultOf(a.tx.id), [{ status: 'accepted' }, { status: 'accepted' }], 'the replay is answered from the record')
  t.match(h.ingest.storageFault(), { code: 'SQLITE_FULL' }, 'still failing')
  t.same(h.storageAlerts(), ['storage_failed'])
})
