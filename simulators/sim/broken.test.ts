// The simulator's self-test: with a deliberately broken store or ingest in
// place (breakages.ts, injected through the factories' dependencies), the
// simulation must fail, name the seed, and give a shortened list of steps
// that fails the same way again. A simulator that cannot fail proves nothing.
import t, { type Test } from 'tap'
import { ingestAcceptingWithoutCommit, storeDroppingPostings, storeForgettingIds } from './breakages.js'
import { runCampaign } from './campaign.js'
import { generatePlan } from './plan.js'
import { runPlan, type Breakage } from './simulation.js'
import type { StoreKind } from './gateway.js'

const STEPS = 60

async function expectCaught(t: Test, name: string, breakage: () => Breakage, store: StoreKind): Promise<void> {
  const summary = await runCampaign({ firstSeed: 1, seeds: 15, steps: STEPS, store, breakage, shrink: true, shrinkBudget: { maxRuns: 12, maxMs: 15_000 }, maxFailures: 1 })
  t.equal(summary.failures.length, 1, `${name} is caught`)
  const failure = summary.failures[0]
  if (!failure) return
  t.comment(`${name}: seed ${failure.seed}, ${failure.violation.kind}: ${failure.violation.message}; ${failure.steps.length} of ${failure.planSteps} steps`)
  t.ok(Number.isInteger(failure.seed), 'the failure names its seed')
  t.ok(failure.steps.length > 0 && failure.steps.length < failure.planSteps, 'and fewer steps than the plan had')
  t.match(failure.replay, new RegExp(`--seed ${failure.seed} .*--only `), 'and the command that replays them')
  // The shortened steps fail again, the same way.
  const kept = new Set(failure.replay.split('--only ')[1]!.split(',').map(Number))
  const replay = await runPlan({ seed: failure.seed, store, breakage }, generatePlan(failure.seed, STEPS).filter((s) => kept.has(s.index)))
  t.notOk(replay.ok, 'replaying the shortened steps fails')
  t.equal(replay.failure?.violation.kind, failure.violation.kind, 'with the same kind of violation')
  // Without the breakage the same steps pass: it was the breakage that was caught.
  const honest = await runPlan({ seed: failure.seed, store }, generatePlan(failure.seed, STEPS).filter((s) => kept.has(s.index)))
  t.ok(honest.ok, 'the same steps pass on the real code')
}

t.test('an ingest that answers accepted without committing', (t) => expectCaught(t, 'accepted without commit', () => ingestAcceptingWithoutCommit(), 'memory'))
t.test('the same over SQLite', (t) => expectCaught(t, 'accepted without commit (SQLite)', () => ingestAcceptingWithoutCommit(), 'sqlite'))
t.test('a store that drops every 50th posting', (t) => expectCaught(t, 'dropped postings', () => storeDroppingPostings(), 'memory'))
t.test('a store whose duplicate check forgets ids', (t) => expectCaught(t, 'forgetful dedup', () => storeForgettingIds(), 'memory'))
