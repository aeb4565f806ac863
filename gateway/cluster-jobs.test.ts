// The lease keeper and runWhileLeased (cluster-jobs.ts) over a scripted lease
// and fake timers: renewal at a third of the lease's length, a lapsed or
// failed renewal stops the job, release at stop, and a worker started only
// while this gateway holds the lease. (The lease itself in PostgreSQL:
// postgres/lease.test.ts; the bank import queue on two gateways:
// bank/import-queue-cluster.test.ts.)
import pino from 'pino'
import t from 'tap'
import { createLeaseKeeper, runWhileLeased, soleLeases } from './cluster-jobs.js'
import type { JobLease, LeaseHolding } from './postgres/lease.js'
import { fakeIntervalTimers } from './testing/fake-interval-timers.js'

const silent = pino({ level: 'silent' })


/** A lease another gateway may hold (`otherHolds`), whose renewals the test lets fail. */
function scriptedLease(ttlMs = 30_000) {
  const calls: string[] = []
  const state = { otherHolds: false, renewals: 'ok' as 'ok' | 'lost' | 'throw', token: 0, held: undefined as number | undefined }
  const lease: JobLease = {
    name: 'reconciliation',
    holder: 'this',
    ttlMs,
    acquire(): LeaseHolding | undefined {
      calls.push('acquire')
      if (state.otherHolds) return undefined
      if (state.held === undefined) state.held = ++state.token
      return { token: state.held, expiresAtMs: 0 }
    },
    renew(holding) {
      calls.push(`renew ${holding.token}`)
      if (state.renewals === 'throw') throw new Error('connection lost')
      if (state.renewals === 'lost' || state.held !== holding.token) return undefined
      return holding
    },
    holds: (holding) => state.held === holding.token,
    release(holding) {
      calls.push(`release ${holding.token}`)
      if (state.held === holding.token) state.held = undefined
    },
  }
  return { lease, calls, state }
}

t.test('the keeper renews at a third of the lease, drops it when a renewal fails, and releases it', async (t) => {
  const fake = fakeIntervalTimers()
  const { lease, calls, state } = scriptedLease(30_000)
  const keeper = createLeaseKeeper({ lease, logger: silent, timers: fake.timers })
  let lapses = 0
  keeper.onLapse(() => lapses++)
  state.otherHolds = true
  t.equal(keeper.hold(), undefined, 'held elsewhere: not ours')
  t.equal(fake.intervals.size, 0, 'nothing to renew')
  state.otherHolds = false
  t.equal(keeper.hold()?.token, 1)
  t.same([...fake.intervals.values()].map((i) => i.ms), [10_000], 'renewed every third of 30 s')
  t.equal(keeper.hold()?.token, 1, 'asked again: the same holding, no new acquire')
  fake.fire(10_000)
  t.same(calls, ['acquire', 'acquire', 'renew 1'])

  state.renewals = 'lost'
  fake.fire(10_000)
  t.equal(keeper.current(), undefined, 'a renewal refused (taken over or expired): the holding is gone')
  t.equal(lapses, 1, 'and the job is told')
  t.equal(fake.intervals.size, 0, 'renewals stop')

  state.renewals = 'throw'
  state.held = undefined
  t.equal(keeper.hold()?.token, 2)
  fake.fire(10_000)
  t.equal(keeper.current(), undefined, 'a renewal that fails (database unreachable) stops the job too')
  t.equal(lapses, 2)

  state.renewals = 'ok'
  state.held = undefined
  t.equal(keeper.hold()?.token, 3)
  keeper.release()
  t.equal(calls.at(-1), 'release 3')
  t.equal(keeper.current(), undefined)
  t.equal(fake.intervals.size, 0)
  t.equal(lapses, 2, 'a release is no lapse')
})

t.test('runWhileLeased starts the worker when the lease is got, stops it when it lapses, and releases at stop', async (t) => {
  const fake = fakeIntervalTimers()
  const { lease, calls, state } = scriptedLease(30_000)
  const keeper = createLeaseKeeper({ lease, logger: silent, timers: fake.timers })
  const events: string[] = []
  state.otherHolds = true
  const leased = runWhileLeased({
    keeper,
    pollMs: 5_000,
    logger: silent,
    timers: fake.timers,
    start: () => {
      events.push('start')
      return { stop: async () => void events.push('stop') }
    },
  })
  t.same(events, [], 'another gateway holds the lease: the job does not run here')
  state.otherHolds = false
  fake.fire(5_000)
  t.same(events, ['start'], 'got it at the next poll: started')
  fake.fire(5_000)
  t.same(events, ['start'], 'held: started once')

  state.renewals = 'lost'
  fake.fire(10_000)
  await new Promise((resolve) => setImmediate(resolve))
  t.same(events, ['start', 'stop'], 'lapsed: stopped at once')
  state.renewals = 'ok'
  state.held = undefined
  fake.fire(5_000)
  t.same(events, ['start', 'stop', 'start'], 'got it again: started again')

  await leased.stop()
  t.same(events, ['start', 'stop', 'start', 'stop'])
  t.equal(calls.at(-1), 'release 2', 'the lease is released, so another gateway need not wait for its expiry')
  t.equal(fake.intervals.size, 0, 'no timer left')
})

t.test('with the sole lease (SQLite) the worker starts at once and nothing is ever renewed', async (t) => {
  const fake = fakeIntervalTimers()
  const keeper = createLeaseKeeper({ lease: soleLeases('disputes'), logger: silent, timers: fake.timers })
  let started = 0
  const leased = runWhileLeased({ keeper, pollMs: 5_000, logger: silent, timers: fake.timers, start: () => (started++, { stop: async () => {} }) })
  t.equal(started, 1)
  t.same([...fake.intervals.values()].map((i) => i.ms), [5_000], 'only the poll')
  await leased.stop()
})
