// Ingest hands libuv's thread pool a bounded number of signature checks: the
// rest wait in ingest's own queue, in arrival order, and are all booked.
import { verify as cryptoVerify, type KeyObject } from 'node:crypto'
import t from 'tap'
import { canonicalBytes, type Envelope, type ReplyMessage } from '../device-protocol/index.js'
import { createIngest } from './ingest.js'
import { UID, makeWorld, silentLogger } from './ledger/testing/test-helpers.js'
import { createConcurrencyLimit } from './verify-limit.js'

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

t.test('a concurrency limit starts at most max tasks, the rest in arrival order', async (t) => {
  const limit = createConcurrencyLimit(2)
  const started: number[] = []
  const finishers: Array<(v: number) => void> = []
  const results = [0, 1, 2, 3, 4].map((i) =>
    limit.run(
      () =>
        new Promise<number>((resolve) => {
          started.push(i)
          finishers[i] = resolve
        }),
    ),
  )
  t.same(started, [0, 1])
  t.equal(limit.inFlight, 2)
  t.equal(limit.waiting, 3)
  finishers[1]!(1)
  await turn()
  t.same(started, [0, 1, 2], 'a finished task lets the next waiting one start')
  finishers[0]!(0)
  await turn()
  t.same(started, [0, 1, 2, 3])
  finishers[2]!(2)
  finishers[3]!(3)
  await turn()
  finishers[4]!(4)
  t.same(await Promise.all(results), [0, 1, 2, 3, 4])
  t.equal(limit.inFlight, 0)

  // A task that throws or rejects frees its slot too.
  const one = createConcurrencyLimit(1)
  await t.rejects(one.run(() => Promise.reject(new Error('boom'))))
  await t.rejects(
    one.run(() => {
      throw new Error('sync boom')
    }),
  )
  t.equal(await one.run(() => Promise.resolve('next')), 'next')
  t.throws(() => createConcurrencyLimit(0))
})

t.test('a long queue of waiting tasks is started in arrival order, every one, however far it grew', async (t) => {
  // Past a thousand waiting, the limit compacts its queue: order and counts must survive that.
  const limit = createConcurrencyLimit(3)
  const count = 5_000
  const started: number[] = []
  const results = Array.from({ length: count }, (_, i) =>
    limit.run(async () => {
      started.push(i)
      await turn()
      return i
    }),
  )
  t.equal(limit.waiting, count - 3)
  t.same(await Promise.all(results), Array.from({ length: count }, (_, i) => i))
  t.same(started, Array.from({ length: count }, (_, i) => i), 'started in arrival order')
  t.equal(limit.waiting, 0)
  t.equal(limit.inFlight, 0)
  // And it goes on working after it drained.
  t.equal(await limit.run(() => Promise.resolve('after')), 'after')
})

t.test('ingest runs at most maxVerifiesInFlight signature checks at once and books every envelope in order', async (t) => {
  const world = makeWorld()
  t.teardown(world.close)
  const pending: Array<{ envelope: Envelope; key: KeyObject; resolve(ok: boolean): void }> = []
  let running = 0
  let mostRunning = 0
  const replies: ReplyMessage[] = []
  const ingest = createIngest({
    ledger: world.ledger,
    logger: silentLogger,
    clock: world.clock,
    publishReply: (_kiosk, message) => void replies.push(message),
    publishEvent: () => {},
    maxVerifiesInFlight: 3,
    verify: (envelope, key) =>
      new Promise<boolean>((resolve) => {
        running++
        mostRunning = Math.max(mostRunning, running)
        pending.push({
          envelope,
          key,
          resolve: (ok) => {
            running--
            resolve(ok)
          },
        })
      }),
  })
  const envelopes = Array.from({ length: 20 }, (_, i) => world.kiosks.cash.topup(UID.alice, i + 1))
  for (const e of envelopes) ingest.submit('cash-1', Buffer.from(JSON.stringify(e)))
  t.equal(pending.length, 3, 'three checks handed out, seventeen wait in ingest')
  // Finish checks newest first whenever possible: the bound must hold however they finish.
  let finished = 0
  while (finished < envelopes.length) {
    const open = pending.filter((p) => p !== undefined && !('done' in p))
    const next = open.at(-1)!
    ;(next as { done?: boolean }).done = true
    next.resolve(cryptoVerify(null, canonicalBytes(next.envelope.tx), next.key, Buffer.from(next.envelope.sig, 'base64')))
    finished++
    await turn()
    t.ok(running <= 3, `${running} running`)
  }
  await ingest.drain()
  t.equal(mostRunning, 3)
  t.same(
    pending.map((p) => p.envelope.tx.seq),
    envelopes.map((e) => e.tx.seq),
    'checks start in arrival order',
  )
  t.same(
    replies.map((r) => (r.kind === 'result' ? [r.seq, r.status] : r.kind)),
    envelopes.map((e) => [e.tx.seq, 'accepted']),
  )
  t.equal(world.ledger.balanceOf(UID.alice), (20 * 21) / 2)
})
