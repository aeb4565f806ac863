// The short form of the fuzzing campaign (issue 16, point 6): every target
// with a fixed seed and a moderate count, so CI replays the same inputs each
// time; `npm run fuzz -- --count N` runs the long form with the same code. And
// the harness itself must be able to fail: an oracle that breaks, a promise
// left rejected and a growing heap are each caught and reported with a seed
// and a shrunk counterexample.
import t from 'tap'
import fc from 'fast-check'
import { heapGrowth, runTarget } from './harness.js'
import { FUZZ_TARGETS } from './targets/index.js'
import { expect, type FuzzTarget } from './target.js'

/** Fixed: the same inputs on every run. */
const CI_SEED = 20261205

for (const target of FUZZ_TARGETS) {
  t.test(`${target.name}: ${target.ciCount} inputs with seed ${CI_SEED} break no oracle`, async (t) => {
    const summary = await runTarget(target, { count: target.ciCount, seed: CI_SEED, heapSamples: 8 })
    t.equal(summary.crashes, 0, 'no crash')
    t.equal(summary.unhandledRejections, 0, 'no unhandled rejection')
    t.equal(summary.tried, target.ciCount, 'every input was tried')
    t.ok(summary.refused > 0, 'some inputs were refused')
    t.ok(summary.accepted > 0, 'some inputs got through')
    t.not(summary.heap.growth, 'grew', 'the heap did not keep growing')
    if (!summary.ok) t.fail(`failure: ${JSON.stringify(summary.failure)}`)
  })
}

t.test('every boundary of issue 16 point 6 has a target', async (t) => {
  t.same(FUZZ_TARGETS.map((target) => target.name).sort(), ['bank-statements', 'event-setup', 'http-routes', 'mqtt-gateway', 'mqtt-kiosk', 'reader-frames', 'zvt-frames'].sort())
})

t.test('a broken oracle is caught: the summary names the seed and the shrunk counterexample', async (t) => {
  const broken: FuzzTarget<number> = {
    name: 'broken',
    description: 'refuses numbers above 1000 by throwing',
    ciCount: 500,
    create: () => ({
      arbitrary: fc.integer({ min: 0, max: 1_000_000 }),
      synchronous: true,
      run(n) {
        expect(n <= 1000, `${n} is above 1000`)
        return 'accepted'
      },
    }),
  }
  const summary = await runTarget(broken, { count: 500, seed: 7, heapSamples: 0 })
  t.equal(summary.ok, false)
  t.equal(summary.crashes, 1)
  t.equal(summary.failure?.seed, 7)
  t.equal(summary.failure?.counterexample, '[1001]', 'shrunk to the smallest failing input')
  t.match(summary.failure?.error, /OracleFailure: 1001 is above 1000/)
  t.type(summary.failure?.path, 'string', 'the path replays it')
})

t.test('a promise left rejected by an input is caught as an unhandled rejection', async (t) => {
  const leaky: FuzzTarget<number> = {
    name: 'leaky',
    description: 'leaves a rejected promise behind for odd numbers',
    ciCount: 50,
    create: () => ({
      arbitrary: fc.integer({ min: 0, max: 100 }),
      async run(n): Promise<'refused'> {
        if (n % 2 === 1) void Promise.reject(new Error(`left behind by ${n}`))
        return 'refused'
      },
    }),
  }
  const summary = await runTarget(leaky, { count: 50, seed: 3, heapSamples: 0 })
  t.equal(summary.ok, false)
  t.ok(summary.unhandledRejections > 0)
  const blamed = /unhandled rejection: Error: left behind by (\d+)$/.exec(summary.failure?.error ?? '')?.[1]
  t.ok(blamed !== undefined && Number(blamed) % 2 === 1, 'an odd input is blamed')
  t.equal(summary.failure?.counterexample, `[${blamed}]`, 'the counterexample is the input that left the promise behind')
})

t.test('heap growth: the last quarter well above the second is "grew", a flat heap is "bounded", few samples are "unchecked"', async (t) => {
  const mib = 1024 * 1024
  t.equal(heapGrowth([10, 10, 10, 10, 10, 10, 10, 10].map((x) => x * mib)).growth, 'bounded')
  t.equal(heapGrowth([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120].map((x) => x * mib)).growth, 'grew')
  t.equal(heapGrowth([10, 11, 12, 13, 14, 15, 16, 17].map((x) => x * mib)).growth, 'bounded', 'a few MiB more is within the margin')
  t.equal(heapGrowth([1, 2, 3].map((x) => x * mib)).growth, 'unchecked')
})
