// The oldest unanswered transaction is sent again when the gateway leaves it
// unanswered: never one answered in time, first after firstAfterMs at the
// head, then backing off; a new head starts over; nothing while the link is
// down or the chain guard holds sending back.
import t from 'tap'
import { pino } from 'pino'
import type { Envelope } from '../device-protocol/index.js'
import type { OutboxEntry } from './outbox.js'
import { createUnansweredNudge } from './unanswered-nudge.js'

const logger = pino({ level: 'silent' })

function world() {
  let now = 1_700_000_000_000
  const pending: OutboxEntry[] = []
  const published: number[] = []
  const link = { ready: true, gateOpen: true }
  const nudge = createUnansweredNudge({
    outbox: { pending: (options) => pending.slice(0, options?.limit ?? pending.length) },
    link: {
      isReady: () => link.ready,
      publishTx: (envelope: Envelope) => {
        if (!link.ready || !link.gateOpen) return false
        published.push(envelope.tx.seq)
        return true
      },
    },
    clock: { now: () => now },
    logger,
    firstAfterMs: 10_000,
    maxAfterMs: 40_000,
  })
  const entry = (seq: number): OutboxEntry => ({ seq, id: `id-${seq}`, createdAt: now, envelope: { tx: { seq } } as unknown as Envelope })
  /** Moves the clock on in the nudge's ticks of 1 s, checking at each. */
  const run = (ms: number) => {
    for (let waited = 0; waited < ms; waited += 1_000) {
      now += 1_000
      nudge.check()
    }
  }
  return { nudge, pending, published, link, entry, run }
}

t.test('an entry answered within the first wait is never sent again', async (t) => {
  const w = world()
  w.pending.push(w.entry(1))
  w.run(9_000)
  w.pending.shift() // answered
  w.run(60_000)
  t.same(w.published, [])
  t.equal(w.nudge.sent(), 0)
})

t.test('a stuck head is sent again after the first wait, then after twice as long each time, up to the longest wait', async (t) => {
  const w = world()
  w.pending.push(w.entry(3), w.entry(4))
  w.nudge.check() // first seen at the head
  w.run(9_000)
  t.same(w.published, [], 'not before 10 s')
  w.run(1_000)
  t.same(w.published, [3], 'only the oldest, at 10 s')
  w.run(19_000)
  t.same(w.published, [3], 'the next try waits 20 s')
  w.run(1_000)
  t.same(w.published, [3, 3])
  w.run(40_000)
  t.same(w.published, [3, 3, 3], 'then 40 s')
  w.run(40_000)
  t.same(w.published, [3, 3, 3, 3], 'and no longer than the longest wait')
  t.equal(w.nudge.sent(), 4)
})

t.test('a new head (the old one answered) starts over with the first wait', async (t) => {
  const w = world()
  w.pending.push(w.entry(5), w.entry(6))
  w.nudge.check()
  w.run(10_000)
  t.same(w.published, [5])
  w.pending.shift()
  w.run(9_000)
  t.same(w.published, [5], 'seq 6 waits its own first 10 s')
  w.run(2_000)
  t.same(w.published, [5, 6])
})

t.test('nothing is sent while the link is down or the chain guard holds sending back; it goes once they allow it', async (t) => {
  const w = world()
  w.pending.push(w.entry(7))
  w.nudge.check()
  w.link.ready = false
  w.run(30_000)
  t.same(w.published, [], 'link down: the connect sends every pending entry itself')
  w.link.ready = true
  w.link.gateOpen = false
  w.run(5_000)
  t.same(w.published, [], 'chain guard holds sending back')
  t.equal(w.nudge.sent(), 0)
  w.link.gateOpen = true
  w.run(1_000)
  t.same(w.published, [7])
})

t.test('an empty outbox sends nothing; start and stop run the check on a timer', async (t) => {
  const w = world()
  w.run(60_000)
  t.same(w.published, [])
  const ticks: Array<() => void> = []
  let cleared = 0
  const timed = createUnansweredNudge({
    outbox: { pending: () => [] },
    link: { isReady: () => true, publishTx: () => true },
    clock: { now: () => 0 },
    logger,
    timers: { setInterval: (fn) => (ticks.push(fn), ticks.length), clearInterval: () => void cleared++ },
  })
  timed.start()
  timed.start()
  t.equal(ticks.length, 1, 'one timer')
  timed.stop()
  timed.stop()
  t.equal(cleared, 1)
})
