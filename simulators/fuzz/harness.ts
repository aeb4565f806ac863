// Runs one fuzz target with fast-check: a fixed or given seed, N inputs, the
// oracle of the target on each, and three oracles of the process around it:
// no unhandled promise rejection while the target runs, no uncaught exception,
// and a heap that does not keep growing (sampled after a forced GC). The
// result is one JSON-ready summary; a failure carries the seed, the path and
// the shrunk counterexample, so `npm run fuzz -- --target T --seed S` replays it.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import fc from 'fast-check'
import type { FuzzTarget, Verdict } from './target.js'

export interface HeapReport {
  /** heapUsed after a forced GC, before the first input and after the last. */
  beforeBytes: number
  afterBytes: number
  samples: number
  /** 'grew': the last quarter's median is well above the second quarter's; 'unchecked': too few samples or no GC. */
  growth: 'bounded' | 'grew' | 'unchecked'
  secondQuarterMedianBytes?: number
  lastQuarterMedianBytes?: number
}

export interface FuzzSummary {
  target: string
  seed: number
  count: number
  /** Inputs the target ran (shrinking runs not counted). */
  tried: number
  accepted: number
  refused: number
  /** Inputs whose oracle failed, unhandled rejections and uncaught exceptions. */
  crashes: number
  unhandledRejections: number
  ms: number
  heap: HeapReport
  /** What the target reports of itself (statuses seen, counters of the boundary). */
  details?: Record<string, unknown>
  ok: boolean
  /** On failure: fast-check's seed and path, the shrunk input and the error. */
  failure?: { seed: number; path?: string; counterexample?: string; error: string }
}

export interface RunOptions {
  count: number
  seed: number
  /** Heap samples taken over the run (each after a forced GC). Default 24; 0 skips the check. */
  heapSamples?: number
}

/** A forced GC: --expose-gc when given, else switched on at run time; undefined when neither works. */
function findGc(): (() => void) | undefined {
  const global = globalThis as { gc?: () => void }
  if (typeof global.gc === 'function') return global.gc
  try {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as unknown
    return typeof gc === 'function' ? (gc as () => void) : undefined
  } catch {
    return undefined
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** Growth "without bound": the last quarter's median above the second quarter's by a quarter plus 16 MiB. */
export function heapGrowth(samples: readonly number[]): Pick<HeapReport, 'growth' | 'secondQuarterMedianBytes' | 'lastQuarterMedianBytes'> {
  const n = samples.length
  if (n < 8) return { growth: 'unchecked' }
  const second = median(samples.slice(Math.floor(n / 4), Math.floor(n / 2)))
  const last = median(samples.slice(Math.floor((3 * n) / 4)))
  const grew = last > second * 1.25 + 16 * 1024 * 1024
  return { growth: grew ? 'grew' : 'bounded', secondQuarterMedianBytes: second, lastQuarterMedianBytes: last }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 2000)
  return String(err).slice(0, 2000)
}

export async function runTarget<T>(target: FuzzTarget<T>, options: RunOptions): Promise<FuzzSummary> {
  const { count, seed } = options
  const gc = findGc()
  const sampleEvery = options.heapSamples === 0 || gc === undefined ? 0 : Math.max(1, Math.floor(count / (options.heapSamples ?? 24)))
  const heap = (): number => {
    gc?.()
    return process.memoryUsage().heapUsed
  }

  const rejections: unknown[] = []
  const exceptions: unknown[] = []
  /** Since the last check: each input answers for its own (so that shrinking finds the input that leaves one). */
  let fresh: unknown[] = []
  const onRejection = (reason: unknown) => {
    rejections.push(reason)
    fresh.push(reason)
  }
  const onException = (err: unknown) => {
    exceptions.push(err)
    fresh.push(err)
  }
  process.on('unhandledRejection', onRejection)
  process.on('uncaughtException', onException)

  const started = Date.now()
  const instance = await target.create()
  const counts = { tried: 0, accepted: 0, refused: 0 }
  const samples: number[] = []
  let failed = false
  let beforeBytes = 0
  let afterBytes = 0
  try {
    beforeBytes = heap()
    const record = (verdict: Verdict) => {
      if (failed) return // shrinking: not counted
      counts.tried++
      counts[verdict]++
      if (sampleEvery > 0 && counts.tried % sampleEvery === 0) samples.push(heap())
    }
    const checkProcess = () => {
      const [first] = fresh
      if (fresh.length === 0) return
      fresh = []
      throw new Error(`${exceptions.includes(first) ? 'uncaught exception' : 'unhandled rejection'}: ${describeError(first)}`)
    }
    const settings = { numRuns: count, seed }
    const details = instance.synchronous
      ? // Pure codecs: no promise, no turn of the event loop per input (a million inputs stay quick).
        fc.check(
          fc.property(instance.arbitrary, (input) => {
            try {
              record(instance.run(input) as Verdict)
            } catch (err) {
              failed = true
              throw err
            }
          }),
          settings,
        )
      : await fc.check(
          fc.asyncProperty(instance.arbitrary, async (input) => {
            try {
              const verdict = await instance.run(input)
              // Let rejections of promises the input left behind surface before the next input.
              await turn()
              checkProcess()
              record(verdict)
            } catch (err) {
              failed = true
              throw err
            }
          }),
          settings,
        )
    await turn()
    if (!details.failed) {
      failed = false
      await instance.finish?.()
    }
    afterBytes = heap()
    const growth = heapGrowth(samples)
    const crashes = (details.failed ? 1 : 0) + rejections.length + exceptions.length
    const summary: FuzzSummary = {
      target: target.name,
      seed,
      count,
      ...counts,
      crashes,
      unhandledRejections: rejections.length,
      ms: Date.now() - started,
      heap: { beforeBytes, afterBytes, samples: samples.length, ...growth },
      ...(instance.report === undefined ? {} : { details: instance.report() }),
      ok: !details.failed && rejections.length === 0 && exceptions.length === 0 && growth.growth !== 'grew',
    }
    if (details.failed) {
      summary.failure = {
        seed: details.seed,
        ...(details.counterexamplePath === null ? {} : { path: details.counterexamplePath }),
        counterexample: fc.stringify(details.counterexample).slice(0, 2000),
        error: describeError(details.errorInstance),
      }
    } else if (growth.growth === 'grew') {
      summary.failure = { seed, error: `heap grew from a median of ${growth.secondQuarterMedianBytes} bytes (second quarter) to ${growth.lastQuarterMedianBytes} (last quarter)` }
    }
    return summary
  } catch (err) {
    // finish() failed (an oracle over the whole run), or the target could not run at all.
    return {
      target: target.name,
      seed,
      count,
      ...counts,
      crashes: 1 + rejections.length + exceptions.length,
      unhandledRejections: rejections.length,
      ms: Date.now() - started,
      heap: { beforeBytes, afterBytes: afterBytes || heap(), samples: samples.length, growth: 'unchecked' },
      ok: false,
      failure: { seed, error: describeError(err) },
    }
  } finally {
    try {
      await instance.close?.()
    } finally {
      await turn()
      process.off('unhandledRejection', onRejection)
      process.off('uncaughtException', onException)
    }
  }
}
