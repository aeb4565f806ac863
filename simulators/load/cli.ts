// `wristpay-sim load`: the load generator in its own process. It plays the
// kiosks of a fleet file against a gateway's MQTT listener, offers sales at
// fixed rates in an open loop, optionally searches the highest rate sustained
// with p99 under a limit, and prints a line per phase, then one JSON object as
// the last line (what `npm run bench` reads).
import { parseArgs } from 'node:util'
import { createLoadGenerator, findCapacity, saturationRate, sustained, type CapacitySearch, type PhaseResult } from './generator.js'
import { readLoadFleetFile, type LoadFleetFile } from './load-event.js'
import type { ThroughputSeries } from './throughput.js'

export const LOAD_USAGE = `  load --mqtt URL --fleet FILE [options]
      The load generator (npm run bench starts it): one MQTT connection per kiosk
      of FILE (written by the bench: kiosk ids, tokens, private keys, wristbands),
      sales signed before each phase in chain order and sent open loop at their
      intended times; latency from the intended time to the answer.
      --kiosks N             kiosks to play, the first N of FILE (default: all)
      --rates R,R,...        offered sales/s, one phase each (default 100,500,1000,2000)
      --seconds S            length of each phase (default 10)
      --drain-seconds S      wait for answers after a phase's last sale (default 5)
      --fund-cents N         top every wristband up by N first (default 0: none)
      --capacity             then search the highest rate with p99 under --p99-ms
      --p99-ms N             the capacity search's limit (default 50)
      --capacity-phases N    at most N phases for the search (default 6)
      --capacity-seconds S   length of each search phase (default 5)
      --saturate             then, unless a phase had a backlog already (fell behind, or its median
                             over --p99-ms), one phase as long as a search phase at twice the highest
                             rate offered: the gateway with a backlog`

export interface LoadRunOptions {
  mqttUrl: string
  fleet: LoadFleetFile
  kiosks?: number
  ratesPerSec: number[]
  phaseMs: number
  drainMs: number
  fundCents: number
  capacity?: { p99LimitMs: number; maxPhases: number; phaseMs: number }
  /** After the search: one phase of the search's length at twice the highest rate offered, unless one had a backlog already. */
  saturate?: boolean
  /** Most a phase waits for the previous one's stragglers before it starts. */
  settleMs?: number
}

export interface LoadReport {
  kiosks: number
  openLoop: PhaseResult[]
  capacity?: CapacitySearch & { p99LimitMs: number }
  /** The phase that saturated the gateway (--saturate), when one ran. */
  saturation?: PhaseResult
  generator: {
    /** The least idle the generator's event loop was in any phase (1 = always idle). */
    idleShareMin: number
    /** The latest it sent any sale after its intended time, ms. */
    sendLagMaxMs: number
  }
  /** Sales due and answered per second over the run's phases, the gaps between them included. */
  throughput: ThroughputSeries
}

export function describePhase(p: PhaseResult): string {
  return (
    `offered ${p.offeredPerSec}/s achieved ${p.achievedPerSec}/s, latency ms p50 ${p.p50} p99 ${p.p99} p99.9 ${p.p999} max ${p.max}, ` +
    `${p.sales} sales (${p.rejected} rejected, ${p.unanswered} unanswered), generator idle ${Math.round(p.generatorIdleShare * 100)}% lag max ${p.sendLagMaxMs} ms`
  )
}

export async function runLoad(options: LoadRunOptions, log: (line: string) => void = () => {}): Promise<LoadReport> {
  const generator = createLoadGenerator({ fleet: options.fleet, mqttUrl: options.mqttUrl, ...(options.kiosks === undefined ? {} : { kiosks: options.kiosks }) })
  const settleMs = options.settleMs ?? 30_000
  try {
    await generator.connect()
    if (options.fundCents > 0) await generator.fund(options.fundCents)
    const phase = async (ratePerSec: number, durationMs: number, label: string): Promise<PhaseResult> => {
      const stragglers = await generator.settle(settleMs)
      if (stragglers > 0) log(`${stragglers} sales of earlier phases still unanswered`)
      const result = await generator.runPhase({ ratePerSec, durationMs, drainMs: options.drainMs })
      log(`${label}: ${describePhase(result)}`)
      return result
    }
    const openLoop: PhaseResult[] = []
    for (const rate of options.ratesPerSec) openLoop.push(await phase(rate, options.phaseMs, 'open loop'))
    let capacity: LoadReport['capacity']
    if (options.capacity) {
      const { p99LimitMs, maxPhases, phaseMs } = options.capacity
      const passed = openLoop.filter((p) => sustained(p, p99LimitMs)).map((p) => p.offeredPerSec)
      const knownGoodPerSec = passed.length > 0 ? Math.max(...passed) : undefined
      const failedAbove = openLoop.filter((p) => !sustained(p, p99LimitMs) && p.offeredPerSec > (knownGoodPerSec ?? 0)).map((p) => p.offeredPerSec)
      const knownBadPerSec = failedAbove.length > 0 ? Math.min(...failedAbove) : undefined
      const search = await findCapacity((rate) => phase(rate, phaseMs, 'capacity search'), {
        p99LimitMs,
        maxPhases,
        startPerSec: 100,
        ...(knownGoodPerSec === undefined ? {} : { knownGoodPerSec }),
        ...(knownBadPerSec === undefined ? {} : { knownBadPerSec }),
      })
      capacity = { ...search, p99LimitMs }
      log(`capacity: ${search.capacityPerSec} sales/s with p99 under ${p99LimitMs} ms (${search.phases.length} search phases)`)
    }
    const all = [...openLoop, ...(capacity?.phases ?? [])]
    const rate = options.saturate ? saturationRate(all, options.capacity?.p99LimitMs ?? 50) : undefined
    const saturation = rate === undefined ? undefined : await phase(rate, options.capacity?.phaseMs ?? options.phaseMs, 'saturation')
    if (saturation !== undefined) all.push(saturation)
    return {
      kiosks: generator.kiosks,
      openLoop,
      ...(capacity === undefined ? {} : { capacity }),
      ...(saturation === undefined ? {} : { saturation }),
      generator: {
        idleShareMin: all.length === 0 ? 1 : Math.min(...all.map((p) => p.generatorIdleShare)),
        sendLagMaxMs: all.length === 0 ? 0 : Math.max(...all.map((p) => p.sendLagMaxMs)),
      },
      throughput: generator.throughput(),
    }
  } finally {
    await generator.close()
  }
}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new TypeError(`${name} must be a positive number, not ${JSON.stringify(value)}`)
  return n
}

export function parseLoadArgs(argv: string[]): LoadRunOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      mqtt: { type: 'string' },
      fleet: { type: 'string' },
      kiosks: { type: 'string' },
      rates: { type: 'string' },
      seconds: { type: 'string' },
      'drain-seconds': { type: 'string' },
      'fund-cents': { type: 'string' },
      capacity: { type: 'boolean', default: false },
      'p99-ms': { type: 'string' },
      'capacity-phases': { type: 'string' },
      'capacity-seconds': { type: 'string' },
      saturate: { type: 'boolean', default: false },
    },
  })
  if (values.mqtt === undefined || values.fleet === undefined) throw new TypeError('load needs --mqtt URL and --fleet FILE')
  const ratesPerSec = (values.rates ?? '100,500,1000,2000').split(',').map((r) => positive('--rates', r.trim(), 0))
  return {
    mqttUrl: values.mqtt,
    fleet: readLoadFleetFile(values.fleet),
    ...(values.kiosks === undefined ? {} : { kiosks: positive('--kiosks', values.kiosks, 1) }),
    ratesPerSec,
    phaseMs: positive('--seconds', values.seconds, 10) * 1000,
    drainMs: positive('--drain-seconds', values['drain-seconds'], 5) * 1000,
    fundCents: values['fund-cents'] === undefined ? 0 : positive('--fund-cents', values['fund-cents'], 0),
    ...(values.capacity
      ? {
          capacity: {
            p99LimitMs: positive('--p99-ms', values['p99-ms'], 50),
            maxPhases: positive('--capacity-phases', values['capacity-phases'], 6),
            phaseMs: positive('--capacity-seconds', values['capacity-seconds'], 5) * 1000,
          },
        }
      : {}),
    ...(values.saturate ? { saturate: true } : {}),
  }
}

export async function runLoadCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(`Usage: wristpay-sim${LOAD_USAGE.trimStart().replace(/^load/, ' load')}`)
    return 0
  }
  const options = parseLoadArgs(argv)
  const report = await runLoad(options, (line) => console.log(line))
  console.log(JSON.stringify(report))
  return 0
}
