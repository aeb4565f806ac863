// A run's plan: every operation and every fault, with its simulated time,
// drawn from the seed before the run starts. The run only follows it (plus
// the network's per-message draws inside the fault windows), so a failure
// can be replayed with steps left out: that is how it is shrunk.
import type { CrashPoint } from './gateway.js'
import type { Operation } from './kiosk-node.js'
import type { Direction, MessageFault } from './network.js'
import { createPrng } from './prng.js'
import { SIM_KIOSKS, SIM_PRODUCTS, SIM_WRISTBANDS } from './event.js'

export type PlanAction =
  | { kind: 'operate'; kiosk: string; operation: Operation }
  | { kind: 'message_faults'; kiosk: string | '*'; dir: Direction | 'both'; fault: MessageFault; probability: number; durationMs: number }
  | { kind: 'partition'; kiosk: string; durationMs: number }
  | { kind: 'broker_restart'; downMs: number }
  | { kind: 'gateway_crash'; point: CrashPoint; downMs: number }
  | { kind: 'kiosk_crash'; kiosk: string; downMs: number }
  | { kind: 'clock_jump'; kiosk: string; deltaMs: number }

export type PlanStep = PlanAction & { index: number; at: number }

/** The kinds of fault a summary counts (operations are not faults). */
export const FAULT_KINDS = ['message_faults', 'partition', 'broker_restart', 'gateway_crash', 'kiosk_crash', 'clock_jump'] as const

/** When the first step comes: the kiosks have connected and checked their chains. */
export const PLAN_START_MS = 2_000

export function generatePlan(seed: number, steps: number): PlanStep[] {
  const rng = createPrng(seed).fork('plan')
  const plan: PlanStep[] = []
  let at = PLAN_START_MS
  for (let index = 0; index < steps; index++) {
    // Mostly a steady trickle, sometimes a rush, sometimes a lull.
    at += rng.chance(0.2) ? rng.between(5, 200) : rng.chance(0.1) ? rng.between(5_000, 60_000) : rng.between(200, 4_000)
    plan.push({ index, at, ...action(rng) })
  }
  return plan

  function action(r: typeof rng): PlanAction {
    const roll = r.next()
    const kiosk = r.pick(SIM_KIOSKS)
    if (roll < 0.68) return { kind: 'operate', kiosk: kiosk.id, operation: operation(r, kiosk) }
    if (roll < 0.77) {
      const fault = r.pick(['drop', 'duplicate', 'delay', 'reorder'] as const)
      return { kind: 'message_faults', kiosk: r.chance(0.5) ? '*' : kiosk.id, dir: r.pick(['up', 'down', 'both'] as const), fault, probability: r.pick([0.05, 0.2, 0.5]), durationMs: r.between(1_000, 60_000) }
    }
    if (roll < 0.84) {
      // Some outages are long: the kiosk sells offline into its caps.
      const durationMs = r.chance(0.35) ? r.between(120_000, 600_000) : r.between(500, 30_000)
      return { kind: 'partition', kiosk: kiosk.id, durationMs }
    }
    if (roll < 0.87) return { kind: 'broker_restart', downMs: r.between(100, 15_000) }
    if (roll < 0.92) {
      const point: CrashPoint = r.chance(0.4) ? { at: 'write', write: r.between(1, 12) } : r.chance(0.5) ? { at: 'after_commit' } : { at: 'now' }
      return { kind: 'gateway_crash', point, downMs: r.between(200, 20_000) }
    }
    if (roll < 0.96) return { kind: 'kiosk_crash', kiosk: kiosk.id, downMs: r.between(100, 10_000) }
    // Skew of a few seconds, or a jump of minutes to hours, either way.
    const magnitude = r.chance(0.6) ? r.between(1_000, 60_000) : r.between(6 * 60_000, 3 * 3_600_000)
    return { kind: 'clock_jump', kiosk: kiosk.id, deltaMs: r.chance(0.5) ? magnitude : -magnitude }
  }

  function operation(r: typeof rng, kiosk: (typeof SIM_KIOSKS)[number]): Operation {
    const uid = r.pick(SIM_WRISTBANDS)
    const noise = {
      ...(r.chance(0.08) ? { garbledFirst: true } : {}),
      ...(r.chance(0.08) ? { repeatTap: true } : {}),
      ...(r.chance(0.04) ? { walkAway: true } : {}),
    }
    const sells = kiosk.sells && (!kiosk.topsUp || r.chance(0.5))
    if (!sells) return { kind: 'topup', uid, amount: r.between(10, 100) * 50, noise }
    const products = SIM_PRODUCTS[kiosk.booth]!
    const lines = r.chance(0.7) ? [r.pick(products)] : products
    return { kind: 'sale', uid, lines: lines.map((p) => ({ product: p.id, qty: r.between(1, 3) })), noise }
  }
}

/** One line for a step, for the step list a failure prints. */
export function describeStep(step: PlanStep): string {
  const head = `#${step.index} t=${step.at}`
  switch (step.kind) {
    case 'operate': {
      const op = step.operation
      const noise = Object.keys(op.noise).join('+')
      const what = op.kind === 'sale' ? `sale ${op.lines.map((l) => `${l.qty}x${l.product}`).join(',')}` : `topup ${op.amount}`
      return `${head} ${step.kiosk} ${what} tag ${op.uid}${noise ? ` (${noise})` : ''}`
    }
    case 'message_faults':
      return `${head} ${step.fault} ${step.dir} messages of ${step.kiosk} p=${step.probability} for ${step.durationMs} ms`
    case 'partition':
      return `${head} partition ${step.kiosk} for ${step.durationMs} ms`
    case 'broker_restart':
      return `${head} broker restart, down ${step.downMs} ms`
    case 'gateway_crash':
      return `${head} gateway crash ${step.point.at === 'write' ? `at write ${step.point.write} of the next batch` : step.point.at === 'after_commit' ? 'after the next commit' : 'now'}, down ${step.downMs} ms`
    case 'kiosk_crash':
      return `${head} kiosk ${step.kiosk} crash, down ${step.downMs} ms`
    case 'clock_jump':
      return `${head} clock of ${step.kiosk} ${step.deltaMs > 0 ? '+' : ''}${step.deltaMs} ms`
  }
}
