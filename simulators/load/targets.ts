// Issue 17's speed targets, judged from one bench run, and which limit of this
// machine stops a target that is not met. Every ceiling is in sales/s, each
// measured in the same run: the generator against the null gateway, the bare
// broker's QoS 1 round trips, Ed25519 verifies on the thread pool, SQLite at
// its best batch size, the gateway's main thread (one core: the CPU it used
// per sale booked), and the machine's cores shared by the generator and the
// gateway (the CPU both used per sale).
import { readFileSync } from 'node:fs'

/** The issue's targets: capacity with p99 under 50 ms, as sales/s and against the one-core verify limit; p99 at 500/s offered. */
export const TARGETS = { capacityPerSec: 5_000, capacityPerVerifyOneCore: 0.5, p99At500Ms: 15 } as const

/** The growth part's targets: ingest on a filled ledger against an empty one, the portal route against a bare one, a kiosk's memory after its sales. */
export const GROWTH_TARGETS = { ingestFilledToEmpty: 0.9, portalCustomerToBare: 0.5, kioskRssAfterMb: 80 } as const

export interface Ceiling {
  resource: string
  perSec: number
}

export interface TargetVerdict {
  met: boolean
  value: number
  target: number
  /** When not met: the ceiling (sales/s) of the resource that stops it; for the p99 target, its figure named in `limitedBy`. */
  limit?: number
  limitedBy?: string
}

export interface TargetInput {
  capacityPerSec: number
  p99At500Ms: number | undefined
  verifiesPerSecOneCore: number
  /** Ceilings of this run, sales/s; unknown ones left out. */
  ceilings: Ceiling[]
  /** The gateway main thread's CPU while 500/s was offered, as a share of one core, if measured. */
  mainThreadShareAt500?: number
  /** One commit of one sale on SQLite with the ledger's settings, ms (what a lone sale waits for at least). */
  commitMsOneSale?: number
  /** How busy the gateway's main thread (share of one core) and the machine (gateway and generator, share of all cores) were at the capacity found. */
  atCapacity?: { offeredPerSec: number; mainThreadShare: number; machineShare?: number }
}

/** The lowest ceiling: what stops throughput first. */
export function lowestCeiling(ceilings: readonly Ceiling[]): Ceiling | undefined {
  return ceilings.filter((c) => Number.isFinite(c.perSec) && c.perSec > 0).reduce<Ceiling | undefined>((low, c) => (low === undefined || c.perSec < low.perSec ? c : low), undefined)
}

/** Every measured ceiling, lowest first (rounded): what stops capacity first, and how far the next ones are. */
export function rankCeilings(ceilings: readonly Ceiling[]): Ceiling[] {
  return ceilings
    .filter((c) => Number.isFinite(c.perSec) && c.perSec > 0)
    .map((c) => ({ resource: c.resource, perSec: Math.round(c.perSec) }))
    .sort((a, b) => a.perSec - b.perSec)
}

/** The bench's line: `ceilings, lowest first (sales/s): gateway main thread (...) 2,882; ...`. */
export function describeCeilings(ceilings: readonly Ceiling[]): string {
  const ranked = rankCeilings(ceilings)
  return `ceilings, lowest first (sales/s): ${ranked.length === 0 ? 'none measured' : ranked.map((c) => `${c.resource} ${c.perSec.toLocaleString('en-US')}`).join('; ')}`
}

export function judgeTargets(input: TargetInput): Record<'capacityPerSec' | 'capacityPerVerifyOneCore' | 'p99At500Ms', TargetVerdict> {
  const low = lowestCeiling(input.ceilings)
  // A capacity below the target with every ceiling above it was stopped by latency (p99 over 50 ms) first.
  const capacityLimit = (needed: number): Pick<TargetVerdict, 'limit' | 'limitedBy'> =>
    low !== undefined && low.perSec < needed * 1.05
      ? { limit: Math.round(low.perSec), limitedBy: low.resource }
      : { limit: Math.round(low?.perSec ?? 0), limitedBy: `p99 over 50 ms before any measured ceiling (lowest: ${low?.resource ?? 'none'})${busyAtCapacity(input.atCapacity)}` }
  const ratio = input.verifiesPerSecOneCore > 0 ? Math.round((input.capacityPerSec / input.verifiesPerSecOneCore) * 1000) / 1000 : 0
  const capacityMet = input.capacityPerSec >= TARGETS.capacityPerSec
  const ratioMet = ratio >= TARGETS.capacityPerVerifyOneCore
  const p99 = input.p99At500Ms
  const p99Met = p99 !== undefined && p99 <= TARGETS.p99At500Ms
  const p99Limit = (): Pick<TargetVerdict, 'limit' | 'limitedBy'> => {
    if (p99 === undefined) return { limit: 0, limitedBy: 'no phase at 500/s offered in this run (--rates)' }
    const share = input.mainThreadShareAt500
    if (share !== undefined && share >= 0.7) return { limit: Math.round(share * 100) / 100, limitedBy: 'gateway main thread busy (share of one core at 500/s): sales queue behind commits and other sales' }
    if (input.commitMsOneSale !== undefined && input.commitMsOneSale * 2 > TARGETS.p99At500Ms)
      return { limit: Math.round(input.commitMsOneSale * 100) / 100, limitedBy: 'SQLite commit time (ms, synchronous=FULL): every answer waits for one' }
    return { limit: Math.round((share ?? 0) * 100) / 100, limitedBy: 'the machine shared with other work (gateway main thread share of one core at 500/s given)' }
  }
  return {
    capacityPerSec: { met: capacityMet, value: input.capacityPerSec, target: TARGETS.capacityPerSec, ...(capacityMet ? {} : capacityLimit(TARGETS.capacityPerSec)) },
    capacityPerVerifyOneCore: {
      met: ratioMet,
      value: ratio,
      target: TARGETS.capacityPerVerifyOneCore,
      ...(ratioMet ? {} : capacityLimit(input.verifiesPerSecOneCore * TARGETS.capacityPerVerifyOneCore)),
    },
    p99At500Ms: { met: p99Met, value: p99 ?? 0, target: TARGETS.p99At500Ms, ...(p99Met ? {} : p99Limit()) },
  }
}

/** `; at capacity (2,125/s offered) the gateway's main thread was 73% busy, the machine 65%`: how near saturation p99 passed its limit. */
function busyAtCapacity(at: TargetInput['atCapacity']): string {
  if (at === undefined) return ''
  const percent = (share: number) => `${Math.round(share * 100)}%`
  return `; at capacity (${at.offeredPerSec.toLocaleString('en-US')}/s offered) the gateway's main thread was ${percent(at.mainThreadShare)} busy` + (at.machineShare === undefined ? '' : `, the machine ${percent(at.machineShare)}`)
}

/** What judgeGrowthTargets reads of the growth part's result (growth.ts). */
export interface GrowthFigures {
  ingestFilledToEmpty: number
  ingestFilledSalesPerSec: number
  portalCustomerToBare: number
  portalCustomerRequestsPerSec: number
  portalBareRequestsPerSec: number
  kioskRssStartMb: number
  kioskRssAfterMb: number
  kioskSales: number
}

/**
 * The growth targets; for one not met, what stops it, with its number: the
 * filled ledger's rate, the portal route's own rate (the bare route's is the
 * framework's), or the daemon's memory before its first sale (what Node and
 * its libraries take).
 */
export function judgeGrowthTargets(g: GrowthFigures): Record<keyof typeof GROWTH_TARGETS, TargetVerdict> {
  const ingestMet = g.ingestFilledToEmpty >= GROWTH_TARGETS.ingestFilledToEmpty
  const portalMet = g.portalCustomerToBare >= GROWTH_TARGETS.portalCustomerToBare
  const kioskMet = g.kioskRssAfterMb < GROWTH_TARGETS.kioskRssAfterMb
  return {
    ingestFilledToEmpty: {
      met: ingestMet,
      value: g.ingestFilledToEmpty,
      target: GROWTH_TARGETS.ingestFilledToEmpty,
      ...(ingestMet ? {} : { limit: g.ingestFilledSalesPerSec, limitedBy: 'ingest on the filled ledger (sales/s)' }),
    },
    portalCustomerToBare: {
      met: portalMet,
      value: g.portalCustomerToBare,
      target: GROWTH_TARGETS.portalCustomerToBare,
      ...(portalMet ? {} : { limit: g.portalCustomerRequestsPerSec, limitedBy: `the portal route's own work per request (requests/s; the bare route ${g.portalBareRequestsPerSec}/s)` }),
    },
    kioskRssAfterMb: {
      met: kioskMet,
      value: g.kioskRssAfterMb,
      target: GROWTH_TARGETS.kioskRssAfterMb,
      ...(kioskMet
        ? {}
        : g.kioskRssStartMb >= GROWTH_TARGETS.kioskRssAfterMb
          ? { limit: g.kioskRssStartMb, limitedBy: 'the daemon before its first sale: Node and its libraries (MB)' }
          : { limit: Math.round((g.kioskRssAfterMb - g.kioskRssStartMb) * 10) / 10, limitedBy: `growth during ${g.kioskSales} sales (MB)` }),
    },
  }
}

/** CPU time a process (or one thread of it: `tid`) has used, ms; undefined where /proc cannot tell (not Linux). */
export function cpuMs(pid: number, tid?: number): number | undefined {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8')
    // Fields after the command name in parentheses (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // Clock ticks of 10 ms: Linux's USER_HZ is 100 on every architecture node runs on.
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}
