// Many seeds in a row, summed up: what the npm script prints and the tests
// assert on. A failed seed is shrunk (shrink.ts) and reported with its seed,
// its steps and the command that replays them.
import { createHash } from 'node:crypto'
import type { StoreKind } from './gateway.js'
import type { Violation } from './invariants.js'
import { generatePlan } from './plan.js'
import { DEFAULT_SHRINK_BUDGET, describePlan, replayCommand, shrink, type ShrinkBudget } from './shrink.js'
import { runPlan, type Breakage } from './simulation.js'

export interface CampaignOptions {
  /** A deliberately broken store or ingest, made fresh for each run (the simulator's self-test). */
  breakage?: () => Breakage
  firstSeed: number
  seeds: number
  steps: number
  /** One store for every seed; 'mixed' runs every `sqliteEvery`-th seed on SQLite, the others in memory. */
  store: StoreKind | 'mixed'
  sqliteEvery?: number
  shrink: boolean
  shrinkBudget?: ShrinkBudget
  /** Only these plan steps (by index): a replay of a shrunk failure. */
  only?: readonly number[]
  /** Include each failure's whole log. */
  withLog?: boolean
  /** Stop after this many failures. */
  maxFailures?: number
}

export interface CampaignFailure {
  seed: number
  store: StoreKind
  violation: Violation
  /** The steps that reproduce it (shrunk when shrinking was on). */
  steps: string[]
  replay: string
  /** Steps of the plan before shrinking, and replays spent shrinking. */
  planSteps: number
  shrinkRuns: number
  log?: string[]
}

export interface CampaignSummary {
  seeds: number
  firstSeed: number
  stepsPerSeed: number
  stores: Record<StoreKind, number>
  steps: number
  events: number
  faults: Record<string, number>
  transactions: { stored: number; accepted: number; rejected: number }
  failures: CampaignFailure[]
  /** SHA-256 over every seed's step log: the same campaign gives the same digest. */
  digest: string
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignSummary> {
  const summary: CampaignSummary = {
    seeds: 0,
    firstSeed: options.firstSeed,
    stepsPerSeed: options.steps,
    stores: { memory: 0, sqlite: 0 },
    steps: 0,
    events: 0,
    faults: {},
    transactions: { stored: 0, accepted: 0, rejected: 0 },
    failures: [],
    digest: '',
  }
  const digest = createHash('sha256')
  for (let seed = options.firstSeed; seed < options.firstSeed + options.seeds; seed++) {
    const store: StoreKind = options.store === 'mixed' ? (seed % (options.sqliteEvery ?? 10) === 0 ? 'sqlite' : 'memory') : options.store
    const runOptions = { seed, store, ...(options.breakage ? { breakage: options.breakage } : {}) }
    const full = generatePlan(seed, options.steps)
    const plan = options.only ? full.filter((s) => options.only!.includes(s.index)) : full
    const result = await runPlan(runOptions, plan)
    summary.seeds += 1
    summary.stores[store] += 1
    summary.steps += result.steps
    summary.events += result.events
    digest.update(result.digest)
    for (const [kind, n] of Object.entries(result.faults)) summary.faults[kind] = (summary.faults[kind] ?? 0) + n
    summary.transactions.stored += result.transactions.stored
    summary.transactions.accepted += result.transactions.accepted
    summary.transactions.rejected += result.transactions.rejected
    if (result.ok || !result.failure) continue
    const shrunk = options.shrink ? await shrink(runOptions, plan, result, options.shrinkBudget ?? DEFAULT_SHRINK_BUDGET) : { plan, result, runs: 0 }
    summary.failures.push({
      seed,
      store,
      violation: shrunk.result.failure!.violation,
      steps: describePlan(shrunk.plan),
      replay: replayCommand(runOptions, options.steps, shrunk.plan),
      planSteps: plan.length,
      shrinkRuns: shrunk.runs,
      ...(options.withLog ? { log: shrunk.result.log } : {}),
    })
    if (options.maxFailures !== undefined && summary.failures.length >= options.maxFailures) break
  }
  summary.digest = digest.digest('hex')
  summary.faults = Object.fromEntries(Object.entries(summary.faults).sort(([a], [b]) => a.localeCompare(b)))
  return summary
}
