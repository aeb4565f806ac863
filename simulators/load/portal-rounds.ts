// The growth bench's portal measurement: GET /api/customer of the gateway
// against the bare route (bare-route-server.ts), each served by a process of
// its own, in several short rounds that alternate the two, after a warm-up of
// both. One long run of each scattered a lot (0.30 to 0.61 for the same code):
// the JIT still warming the first, whatever else the shared machine did during
// one of them. Each round gives the two rates and their ratio; the bench
// reports the medians, and prints every round so the scatter shows.
//
// autocannon runs in a process of its own (its CLI, --json), never on the
// bench's event loop: the bench's loop also drains the servers' log pipes, and
// an autocannon busy on it let the gateway's log pipe fill and its writes wait.
// Beside the rates, each round reads the server process's CPU time (Linux:
// /proc/PID/stat) and divides it by the requests answered: the CPU per request
// scatters much less than the rate on a busy machine.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

/** What the bench keeps of one autocannon run. */
export interface CannonResult {
  requestsPerSec: number
  requests: number
  latencyP99Ms: number
  /** Answers other than 2xx, connection errors and timeouts. */
  failed: number
}

export interface CannonOptions {
  url: string
  connections: number
  seconds: number
  headers?: Record<string, string>
}

const AUTOCANNON_CLI = createRequire(import.meta.url).resolve('autocannon')

/** One autocannon run in its own process; rejects when it exits without a result. */
export function runAutocannon(options: CannonOptions): Promise<CannonResult> {
  const args = [AUTOCANNON_CLI, '--json', '--connections', String(options.connections), '--duration', String(options.seconds)]
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push('--headers', `${name}=${value}`)
  args.push(options.url)
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => {
      const line = stdout.trim().split('\n').pop() ?? ''
      try {
        const result = JSON.parse(line) as { requests: { average: number; total: number }; latency: { p99: number }; non2xx: number; errors: number; timeouts: number }
        resolve({ requestsPerSec: result.requests.average, requests: result.requests.total, latencyP99Ms: result.latency.p99, failed: result.non2xx + result.errors + result.timeouts })
      } catch {
        reject(new Error(`autocannon exited ${code} without a result: ${stderr || line}`))
      }
    })
  })
}

let ticksPerSecond: number | undefined
/** The kernel's clock ticks per second (the unit of /proc/PID/stat's CPU times); 100 where getconf cannot say. */
function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    const answer = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim())
    ticksPerSecond = Number.isInteger(answer) && answer > 0 ? answer : 100
  }
  return ticksPerSecond
}

/** CPU time (user + system) a process used so far, µs (Linux: /proc/PID/stat). */
export function processCpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name (2nd field) is in parentheses and may hold spaces: count from after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / clockTicksPerSecond()
}

/** A server under measurement: where to send requests, and its process (for its CPU time). */
export interface RoundTarget {
  name: string
  url: string
  pid: number
  headers?: Record<string, string>
}

export interface TargetRun extends CannonResult {
  /** The server process's CPU time during the run per request answered, µs. */
  cpuMicrosPerRequest: number
}

/** One round: a run of each target, by target name. */
export type Round = Record<string, TargetRun>

/** One autocannon run against `target`, with the server's CPU per request. */
export async function measureTarget(target: RoundTarget, connections: number, seconds: number): Promise<TargetRun> {
  const cpuBefore = processCpuMicros(target.pid)
  const result = await runAutocannon({ url: target.url, connections, seconds, ...(target.headers === undefined ? {} : { headers: target.headers }) })
  const cpuMicros = processCpuMicros(target.pid) - cpuBefore
  return { ...result, cpuMicrosPerRequest: result.requests > 0 ? Math.round(cpuMicros / result.requests) : 0 }
}

export interface RoundsOptions {
  connections: number
  /** Each target once for this long before the rounds (not counted): the JIT and the caches warm up. */
  warmupSeconds: number
  rounds: number
  roundSeconds: number
  /** Told of each round as it ends (the bench prints it). */
  onRound?: (round: Round, index: number) => void
}

/**
 * `rounds` rounds, each running every target once for `roundSeconds`; the order turns by one each round
 * (with two targets: A B, B A, A B, ...), so neither always runs first or right after the other.
 */
export async function measureRounds(targets: readonly RoundTarget[], options: RoundsOptions): Promise<{ rounds: Round[]; failed: number }> {
  let failed = 0
  if (options.warmupSeconds > 0) for (const target of targets) failed += (await measureTarget(target, options.connections, options.warmupSeconds)).failed
  const rounds: Round[] = []
  for (let i = 0; i < options.rounds; i++) {
    const round: Round = {}
    for (let j = 0; j < targets.length; j++) {
      const target = targets[(i + j) % targets.length]!
      round[target.name] = await measureTarget(target, options.connections, options.roundSeconds)
      failed += round[target.name]!.failed
    }
    rounds.push(round)
    options.onRound?.(round, i)
  }
  return { rounds, failed }
}

/** The median (the mean of the middle two for an even count); 0 for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 1000) / 1000 : 0)

export interface RatioSummary {
  /** The median of each target's requests/s and CPU µs per request over the rounds. */
  requestsPerSec: number
  baseRequestsPerSec: number
  cpuMicrosPerRequest: number
  baseCpuMicrosPerRequest: number
  /** Each round's requests/s of `name` over that of `base`, in round order. */
  roundRatios: number[]
  /** The median of the rounds' ratios: the figure the target is judged by. */
  ratio: number
  /** The base's CPU per request over the target's (medians): the ratio the rates would have if CPU alone decided. */
  cpuRatio: number
}

/** `name` against `base` over the rounds (each round must hold both). */
export function summariseRatio(rounds: readonly Round[], name: string, base: string): RatioSummary {
  const of = (target: string) => rounds.map((r) => {
    const run = r[target]
    if (run === undefined) throw new Error(`a round without a run of ${target}`)
    return run
  })
  const runs = of(name)
  const baseRuns = of(base)
  const roundRatios = runs.map((run, i) => ratio(run.requestsPerSec, baseRuns[i]!.requestsPerSec))
  const cpuMicrosPerRequest = median(runs.map((r) => r.cpuMicrosPerRequest))
  const baseCpuMicrosPerRequest = median(baseRuns.map((r) => r.cpuMicrosPerRequest))
  return {
    requestsPerSec: Math.round(median(runs.map((r) => r.requestsPerSec))),
    baseRequestsPerSec: Math.round(median(baseRuns.map((r) => r.requestsPerSec))),
    cpuMicrosPerRequest,
    baseCpuMicrosPerRequest,
    roundRatios,
    ratio: median(roundRatios),
    cpuRatio: ratio(baseCpuMicrosPerRequest, cpuMicrosPerRequest),
  }
}

/** Starts the bare route server (`node ENTRY BODY_FILE`); resolves once it listens, with its URL. */
export function startBareRouteProcess(entryArgs: readonly string[], bodyFile: string, startTimeoutMs = 60_000): Promise<{ child: ChildProcess; baseUrl: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [...entryArgs, bodyFile], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WRISTPAY_GATEWAY_LOG_LEVEL: 'info' } })
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const gone = new Promise<void>((done) => child.once('exit', () => done()))
    child.kill('SIGTERM')
    await gone
  }
  return new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the bare route server did not start within ${startTimeoutMs} ms:\n${output}`))
    }, startTimeoutMs)
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8_000)
      const listening = /listening: (http:\/\/[^\s"]+)/.exec(output)
      if (listening) {
        clearTimeout(timer)
        child.stdout!.off('data', onData)
        // Its log (a line per request, as the gateway's) is not read, but must flow: a full pipe would block it.
        child.stdout!.resume()
        child.off('exit', onExit)
        resolve({ child, baseUrl: listening[1]!, stop })
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8_000)))
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer)
      reject(new Error(`the bare route server exited early (${code ?? signal}):\n${output}`))
    }
    child.once('exit', onExit)
  })
}
