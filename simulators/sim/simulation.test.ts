// The short CI form of the deterministic simulation (the long one is
// `npm run simulate -- --seeds N`): a few hundred seeds with a modest number of
// steps, every tenth over a SQLite file (with the audit at the end), and
// proof that a seed is a replay: the same seed gives the same steps and the
// same result, byte for byte.
import t from 'tap'
import { runCampaign } from './campaign.js'
import { generatePlan } from './plan.js'
import { runPlan, runSeed } from './simulation.js'

/** Seeds and steps of the CI run: about 25 s of CPU (some 0.1 s a seed in memory, 0.25 s over SQLite), 30 to 60 s on a busy 2-core machine. */
const CI_SEEDS = 200
const CI_STEPS = 40

t.test('a seed is a replay: the same seed gives the same step log, digest and result', async (t) => {
  const first = await runSeed({ seed: 7, steps: 120, store: 'memory' })
  const again = await runSeed({ seed: 7, steps: 120, store: 'memory' })
  t.ok(first.ok, 'seed 7 passes')
  t.ok(first.log.length > 120, 'the log has the steps and what the cashiers saw')
  t.same(again.log, first.log, 'the same steps, in the same order, with the same outcomes')
  t.equal(again.digest, first.digest)
  t.same(again.transactions, first.transactions)
  t.same(again.faults, first.faults)
  const other = await runSeed({ seed: 8, steps: 120, store: 'memory' })
  t.not(other.digest, first.digest, 'another seed is another run')
})

t.test('the in-memory store and the SQLite file decide a seed the same way', async (t) => {
  const memory = await runSeed({ seed: 11, steps: 80, store: 'memory' })
  const sqlite = await runSeed({ seed: 11, steps: 80, store: 'sqlite' })
  t.ok(memory.ok && sqlite.ok, 'both pass')
  t.same(sqlite.log, memory.log, 'the same answers at the same simulated times')
})

t.test('a plan with steps left out runs only those steps', async (t) => {
  const plan = generatePlan(3, 30).filter((s) => s.index % 3 === 0)
  const result = await runPlan({ seed: 3, store: 'memory' }, plan)
  t.ok(result.ok)
  t.equal(result.steps, 10)
  t.equal(result.log.filter((line) => line.startsWith('#')).length, 10, 'ten steps in the log')
})

t.test(`${CI_SEEDS} seeds of ${CI_STEPS} steps keep every invariant`, async (t) => {
  const summary = await runCampaign({ firstSeed: 1, seeds: CI_SEEDS, steps: CI_STEPS, store: 'mixed', sqliteEvery: 10, shrink: true, shrinkBudget: { maxRuns: 30, maxMs: 30_000 }, maxFailures: 3 })
  t.same(summary.failures, [], 'no seed failed (a failure lists its seed, its steps and the command that replays them)')
  t.equal(summary.seeds, CI_SEEDS)
  t.equal(summary.stores.sqlite, CI_SEEDS / 10, 'every tenth seed over a SQLite file')
  for (const kind of ['partition', 'broker_restart', 'gateway_crash', 'kiosk_crash', 'clock_jump', 'message_drop', 'message_duplicate', 'message_delay', 'message_reorder']) {
    t.ok((summary.faults[kind] ?? 0) > 0, `faults of kind ${kind} were injected`)
  }
  t.ok(summary.transactions.accepted > CI_SEEDS, 'transactions were booked')
  t.ok(summary.transactions.rejected > 0, 'and some refused')
})
