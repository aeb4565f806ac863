// The simulation's clock and queue: events in (time, sequence) order, timers
// simulated only inside the simulation's context, and a dead owner's timers
// never firing.
import t from 'tap'
import { createPrng } from './prng.js'
import { SimScheduler, createOwner } from './scheduler.js'

t.test('events run in order of time, then of scheduling, and move the clock', async (t) => {
  const s = new SimScheduler(1_000)
  const ran: string[] = []
  s.at(50, 'b', () => ran.push(`b@${s.now}`))
  s.at(10, 'a', () => ran.push(`a@${s.now}`))
  s.at(50, 'c', () => ran.push(`c@${s.now}`))
  await s.runUntil(2_000)
  t.same(ran, ['a@1010', 'b@1050', 'c@1050'])
  t.equal(s.now, 2_000, 'the clock ends where it was run to')
})

t.test('inside the simulation setTimeout and setImmediate are simulated; outside they are real', async (t) => {
  const s = new SimScheduler(0)
  const ran: string[] = []
  s.within(undefined, () => {
    setTimeout(() => ran.push(`timeout@${s.now}`), 60_000)
    setImmediate(() => ran.push(`immediate@${s.now}`))
    const cancelled = setTimeout(() => ran.push('cancelled'), 10)
    clearTimeout(cancelled)
  })
  await s.runUntil(59_999)
  t.same(ran, ['immediate@0'], 'a minute-long timer has not fired after 59.999 simulated seconds')
  await s.runUntil(60_000)
  t.same(ran, ['immediate@0', 'timeout@60000'])
  let realFired = false
  await new Promise<void>((resolve) => setTimeout(() => ((realFired = true), resolve()), 1))
  t.ok(realFired, 'a timer outside the simulation is a real one')
})

t.test("a dead owner's timers never fire, nor do the ones it starts later", async (t) => {
  const s = new SimScheduler(0)
  const owner = createOwner('kiosk')
  const ran: string[] = []
  s.within(owner, () => setTimeout(() => ran.push('early'), 10))
  s.at(5, 'crash', () => void (owner.dead = true))
  s.within(owner, () => setTimeout(() => ran.push('late'), 20))
  await s.runUntil(100)
  t.same(ran, [], 'nothing of the dead owner ran')
  t.equal(s.at(1, 'after death', () => ran.push('x'), owner), undefined, 'a dead owner cannot schedule')
})

t.test('promises started by an event settle before the next event', async (t) => {
  const s = new SimScheduler(0)
  const ran: string[] = []
  s.at(1, 'first', () => {
    void Promise.resolve()
      .then(() => Promise.resolve())
      .then(() => ran.push('first settled'))
  })
  s.at(1, 'second', () => ran.push('second'))
  await s.runUntil(10)
  t.same(ran, ['first settled', 'second'])
})

t.test('the generator gives the same numbers for the same seed, and forks are independent of draws elsewhere', async (t) => {
  const a = createPrng(42)
  const b = createPrng(42)
  const seqA = Array.from({ length: 5 }, () => a.int(1_000))
  t.same(seqA, Array.from({ length: 5 }, () => b.int(1_000)))
  t.not(seqA.join(), Array.from({ length: 5 }, () => createPrng(43).int(1_000)).join(), 'another seed, other numbers')
  const fresh = createPrng(42).fork('network').next()
  t.equal(a.fork('network').next(), fresh, 'a fork depends on the seed and its label only')
  for (let i = 0; i < 1_000; i++) {
    const n = a.between(3, 7)
    if (n < 3 || n > 7 || !Number.isInteger(n)) t.fail(`between(3, 7) gave ${n}`)
  }
})
