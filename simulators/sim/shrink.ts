// Shrinking a failed run: the same seed replayed with fewer plan steps, kept
// when it still fails the same way (the same kind of violation). First the
// shortest prefix (a binary search), then each step left out in turn.
// Bounded: at most maxRuns replays and maxMs of real time, so a failure is
// always reported, shrunk as far as the budget went.
import { describeStep, type PlanStep } from './plan.js'
import { runPlan, type RunOptions, type RunResult } from './simulation.js'

export interface ShrinkBudget {
  maxRuns: number
  maxMs: number
}

export const DEFAULT_SHRINK_BUDGET: ShrinkBudget = { maxRuns: 80, maxMs: 60_000 }

export interface Shrunk {
  /** The steps that still fail. */
  plan: PlanStep[]
  /** The run of those steps. */
  result: RunResult
  /** Replays made while shrinking. */
  runs: number
}

export async function shrink(options: RunOptions, plan: readonly PlanStep[], failed: RunResult, budget: ShrinkBudget = DEFAULT_SHRINK_BUDGET): Promise<Shrunk> {
  const kind = failed.failure?.violation.kind
  // Real time only bounds the effort; the runs themselves are simulated.
  const startedMs = performance.now()
  let runs = 0
  let best: Shrunk = { plan: [...plan], result: failed, runs: 0 }
  const left = () => runs < budget.maxRuns && performance.now() - startedMs < budget.maxMs

  async function stillFails(candidate: PlanStep[]): Promise<boolean> {
    runs += 1
    const result = await runPlan(options, candidate)
    if (result.ok || result.failure?.violation.kind !== kind) return false
    best = { plan: candidate, result, runs }
    return true
  }

  // The steps after the one the violation was found at do not matter for it.
  const at = failed.failure?.afterStep
  if (at !== undefined) {
    const upTo = best.plan.findIndex((s) => s.index === at)
    if (upTo >= 0 && upTo < best.plan.length - 1 && left()) await stillFails(best.plan.slice(0, upTo + 1))
  }
  // The shortest prefix that fails (failures are not always monotone in the prefix, so this is a heuristic).
  let lo = 0
  let hi = best.plan.length
  while (lo < hi && left()) {
    const mid = (lo + hi) >> 1
    if (await stillFails(best.plan.slice(0, mid))) hi = mid
    else lo = mid + 1
  }
  // Each step left out in turn, from the first.
  for (let i = 0; i < best.plan.length && left(); ) {
    const without = [...best.plan.slice(0, i), ...best.plan.slice(i + 1)]
    if (!(await stillFails(without))) i += 1
  }
  return { ...best, runs }
}

/** How to run a shrunk plan again. */
export function replayCommand(options: RunOptions, steps: number, plan: readonly PlanStep[]): string {
  return `npm run simulate -- --seed ${options.seed} --steps ${steps} --store ${options.store} --only ${plan.map((s) => s.index).join(',')}`
}

export function describePlan(plan: readonly PlanStep[]): string[] {
  return plan.map(describeStep)
}
