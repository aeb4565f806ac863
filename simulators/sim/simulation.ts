// The deterministic simulation of the whole protocol in one process: the real
// kiosks (core, outbox) on a simulated link, a simulated broker and network,
// the real ingest and ledger, all on one simulated clock (scheduler.ts). A
// seed gives a plan (plan.ts); the run follows it, checks the safety
// invariants after every step, then stops the faults, lets everything drain,
// and checks that nothing was lost (and, on SQLite, runs the audit). A failed
// run is shrunk to fewer steps that still fail the same way (shrink.ts).
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Envelope } from '../../device-protocol/index.js'
import type { IngestDeps } from '../../gateway/ingest.js'
import type { LedgerStore } from '../../gateway/ledger/store.js'
import { auditLedgerDatabase } from '../../gateway/audit/audit.js'
import type { Outbox } from '../../daemon/outbox.js'
import { SIM_KIOSKS, simEventSetup } from './event.js'
import { createSimGateway, type StoreKind } from './gateway.js'
import { checkDrained, checkSafety, type Observed, type Violation } from './invariants.js'
import { createSimKiosk, ed25519FromSeed, publicKeyOf, type Shown, type SimKiosk } from './kiosk-node.js'
import { SimNetwork } from './network.js'
import { describeStep, generatePlan, type PlanStep } from './plan.js'
import { createPrng } from './prng.js'
import { SimScheduler } from './scheduler.js'

/** Unix ms the simulated clock starts at (any fixed time works; this one reads well in logs). */
export const SIM_EPOCH_MS = 1_780_000_000_000
/** How long the run may take to drain after the last step before what is left counts as stuck, simulated ms (the longest outage left after the faults stop is a reconnect backoff of 30 s). */
export const DRAIN_LIMIT_MS = 5 * 60_000

export interface Breakage {
  /** Wraps the ledger's store (a store that loses writes, forgets ids, ...). */
  wrapStore?: (store: LedgerStore) => LedgerStore
  /** Wraps ingest's dependencies (a ledger that answers without committing, ...). */
  wrapIngestDeps?: (deps: IngestDeps) => IngestDeps
}

export interface RunOptions {
  seed: number
  store: StoreKind
  /** Makes a fresh breakage for each run (its counters start over, so a replay breaks the same way). */
  breakage?: () => Breakage
}

export interface RunFailure {
  violation: Violation
  /** The plan step after which it was found; undefined: after draining. */
  afterStep?: number
}

export interface RunResult {
  seed: number
  store: StoreKind
  ok: boolean
  failure?: RunFailure
  /** Plan steps run. */
  steps: number
  /** What happened, one line each (steps, what the cashiers saw, crashes): the same seed gives the same lines. */
  log: string[]
  /** SHA-256 of the log. */
  digest: string
  faults: Record<string, number>
  transactions: { stored: number; accepted: number; rejected: number }
  events: number
  simulatedMs: number
}

function shownLine(now: number, shown: Shown): string {
  const o = shown.outcome
  const what = o ? `${o.status}${o.reason ? ` ${o.reason}` : ''} seq ${o.seq}${o.balance === undefined ? '' : ` balance ${o.balance}`}` : `refused ${shown.refused}`
  return `t=${now} ${shown.kiosk} ${shown.operation.kind} showed ${what}`
}

/** Runs one plan (all of a seed's, or the steps a shrink kept). */
export async function runPlan(options: RunOptions, plan: readonly PlanStep[]): Promise<RunResult> {
  const { seed } = options
  const root = createPrng(seed)
  const scheduler = new SimScheduler(SIM_EPOCH_MS)
  const log: string[] = []
  const faults: Record<string, number> = {}
  const count = (kind: string) => void (faults[kind] = (faults[kind] ?? 0) + 1)
  const network = new SimNetwork(scheduler, root.fork('network'), { fault: (kind) => count(`message_${kind}`) })
  const keys = new Map(SIM_KIOSKS.map((k) => [k.id, ed25519FromSeed(createHash('sha256').update(`wristpay-sim ${seed} ${k.id}`).digest())]))
  const setup = simEventSetup(Object.fromEntries([...keys].map(([id, key]) => [id, publicKeyOf(key)])))
  // A tmpfs where there is one: the SQLite file is really written and synced, only faster.
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'wristpay-sim-'))
  const at = (): number => scheduler.now - SIM_EPOCH_MS

  const breakage = options.breakage?.() ?? {}
  const gateway = createSimGateway({
    scheduler,
    network,
    store: options.store,
    dir,
    setup,
    ...(breakage.wrapStore ? { wrapStore: breakage.wrapStore } : {}),
    ...(breakage.wrapIngestDeps ? { wrapIngestDeps: breakage.wrapIngestDeps } : {}),
    onCrash: (point) => log.push(`t=${at()} gateway crashed ${point}`),
  })

  const observed: Observed = { stored: new Map(), shown: [], outboxes: new Map<string, Outbox>() }
  const kiosks = new Map<string, SimKiosk>()
  SIM_KIOSKS.forEach((k, index) => {
    const kiosk = createSimKiosk({
      id: k.id,
      index: index + 1,
      privateKey: keys.get(k.id)!,
      config: gateway.ledger.registry.kioskConfig(k.id),
      scheduler,
      network,
      random: root.fork(`kiosk ${k.id}`),
      onStored: (entry) => observed.stored.set(entry.id, { kiosk: k.id, envelope: entry.envelope as Envelope }),
      onShown: (shown) => {
        observed.shown.push(shown)
        log.push(shownLine(at(), shown))
      },
    })
    kiosks.set(k.id, kiosk)
    observed.outboxes.set(k.id, kiosk.outbox)
  })
  for (const kiosk of kiosks.values()) kiosk.start()
  await scheduler.settle()

  let failure: RunFailure | undefined
  let transactions: RunResult['transactions'] = { stored: 0, accepted: 0, rejected: 0 }
  const fail = (found: Violation[], afterStep?: number): boolean => {
    if (found.length === 0) return false
    failure = { violation: found[0]!, ...(afterStep === undefined ? {} : { afterStep }) }
    for (const violation of found.slice(0, 5)) log.push(`t=${at()} VIOLATION ${violation.kind}: ${violation.message}`)
    return true
  }

  try {
    for (const step of plan) {
      await scheduler.runUntil(SIM_EPOCH_MS + step.at)
      log.push(`${describeStep(step)}${apply(step)}`)
      // What the step started runs before the next event, however many turns its promises take.
      await scheduler.settle()
      if (gateway.readable() && fail(checkSafety(gateway.ledger, observed), step.index)) break
    }
    if (!failure) {
      // The faults stop; everything left must get through.
      network.heal()
      log.push(`t=${at()} faults stop, draining`)
      const limit = scheduler.now + DRAIN_LIMIT_MS
      while (!drained() && (await scheduler.step(limit))) {
        /* next event */
      }
      if (!fail(checkSafety(gateway.ledger, observed))) {
        const leftover = checkDrained(gateway.ledger, observed)
        if (leftover.length > 0 && !drained()) leftover.unshift({ kind: 'stuck', message: `not drained ${DRAIN_LIMIT_MS} ms after the faults stopped: ${stuckReport()}` })
        if (!fail(leftover) && gateway.storeKind === 'sqlite') {
          const audit = auditLedgerDatabase({ path: gateway.path! })
          fail(audit.findings.map((f) => ({ kind: 'audit', message: `audit: ${JSON.stringify(f)}` })))
        }
      }
    }
  } finally {
    const records = [...observed.stored.keys()].map((id) => (gateway.readable() ? gateway.ledger.transaction(id) : undefined))
    transactions = {
      stored: observed.stored.size,
      accepted: records.filter((r) => r?.status === 'accepted').length,
      rejected: records.filter((r) => r?.status === 'rejected').length,
    }
    for (const kiosk of kiosks.values()) kiosk.close()
    gateway.close()
    rmSync(dir, { recursive: true, force: true })
  }

  function apply(step: PlanStep): string {
    switch (step.kind) {
      case 'operate': {
        const kiosk = kiosks.get(step.kiosk)!
        return kiosk.begin(step.operation) ? '' : kiosk.kiosk ? ' (busy: skipped)' : ' (kiosk down: skipped)'
      }
      case 'message_faults':
        count(`windows_${step.fault}`)
        network.windows.push({ kiosk: step.kiosk, dir: step.dir, kind: step.fault, probability: step.probability, untilMs: scheduler.now + step.durationMs })
        return ''
      case 'partition':
        count('partition')
        network.partition(step.kiosk, step.durationMs)
        return ''
      case 'broker_restart':
        count('broker_restart')
        network.restartBroker(step.downMs)
        return ''
      case 'gateway_crash':
        if (!gateway.isUp() || gateway.crashArmed()) return ' (gateway already down: skipped)'
        count('gateway_crash')
        gateway.crash(step.point, step.downMs)
        // A crash armed for a batch that does not come strikes anyway a little later.
        if (step.point.at !== 'now') scheduler.at(5_000, 'armed crash strikes', () => gateway.crashArmed() && gateway.crash({ at: 'now' }, step.downMs))
        return ''
      case 'kiosk_crash': {
        const kiosk = kiosks.get(step.kiosk)!
        if (!kiosk.kiosk) return ' (already down: skipped)'
        count('kiosk_crash')
        kiosk.crash(step.downMs)
        return ''
      }
      case 'clock_jump':
        count('clock_jump')
        kiosks.get(step.kiosk)!.shiftClock(step.deltaMs)
        return ''
    }
  }

  function drained(): boolean {
    if (!gateway.isUp() || !network.brokerUp()) return false
    for (const kiosk of kiosks.values()) {
      if (!kiosk.kiosk || kiosk.inProgress() > 0 || kiosk.outbox.depth() > 0 || !network.isConnected(kiosk.id)) return false
      const cursor = gateway.ledger.kioskCursor(kiosk.id)
      if (cursor && cursor.nextSeq !== kiosk.outbox.head().nextSeq) return false
    }
    return true
  }

  function stuckReport(): string {
    return [...kiosks.values()]
      .map((k) => `${k.id}: ${k.kiosk ? `chain ${k.kiosk.chainState().status}, ${network.isConnected(k.id) ? 'connected' : 'not connected'}` : 'down'}, outbox ${k.outbox.depth()}, head ${k.outbox.head().nextSeq}, ledger ${gateway.ledger.kioskCursor(k.id)?.nextSeq ?? '-'}`)
      .join('; ')
  }

  const result: RunResult = {
    seed,
    store: options.store,
    ok: failure === undefined,
    ...(failure ? { failure } : {}),
    steps: plan.length,
    log,
    digest: createHash('sha256').update(log.join('\n')).digest('hex'),
    faults,
    transactions,
    events: scheduler.ran,
    simulatedMs: at(),
  }
  return result
}

/** A seed's whole plan. */
export function runSeed(options: RunOptions & { steps: number }): Promise<RunResult> {
  return runPlan(options, generatePlan(options.seed, options.steps))
}
