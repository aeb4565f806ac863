#!/usr/bin/env node
// wristpay-monitor: the operators' live terminal view of the fleet, from the
// gateway's MQTT broker with an operator account (read only). `--once` prints
// one snapshot (text, or JSON for scripts) and exits.
import type { IClientOptions, MqttClient } from 'mqtt'
import { startLiveMonitor, type LiveScreenStream } from './live.js'
import { initialMonitorState, monitorReduce, type MonitorEvent, type MonitorState } from './model.js'
import { MONITOR_USAGE, MonitorUsageError, parseMonitorArgs, type MonitorOptions } from './options.js'
import { monitorSnapshot, renderScreen } from './render.js'
import { createMonitorSource } from './source.js'
import { isEntryPoint } from '../entry-point.js'

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE_OR_NOTHING = 2
export const EXIT_REFUSED = 3

export interface MonitorIo {
  env: NodeJS.ProcessEnv
  stdout: LiveScreenStream
  stderr: { write(text: string): unknown }
  now?: () => number
  /** The live monitor runs until this aborts (the bin: SIGINT or SIGTERM). */
  signal?: AbortSignal
  /** Between reconnection attempts (tests shorten it). */
  reconnectPeriodMs?: number
  connect?: (url: string, options: IClientOptions) => MqttClient
}

/** Runs the monitor; resolves with the exit code. */
export async function main(argv: readonly string[], io: MonitorIo): Promise<number> {
  let options: MonitorOptions | 'help'
  try {
    options = parseMonitorArgs(argv, io.env)
  } catch (err) {
    if (!(err instanceof MonitorUsageError)) throw err
    io.stderr.write(`wristpay-monitor: ${err.message}\n\n${MONITOR_USAGE}`)
    return EXIT_USAGE_OR_NOTHING
  }
  if (options === 'help') {
    io.stdout.write(MONITOR_USAGE)
    return EXIT_OK
  }
  return options.once ? once(options, io) : live(options, io)
}

/** Connects, waits for the gateway's retained state (or --wait-ms), prints one snapshot. */
async function once(options: MonitorOptions, io: MonitorIo): Promise<number> {
  const now = io.now ?? Date.now
  let state: MonitorState = initialMonitorState(now())
  type Outcome = { kind: 'state' } | { kind: 'fatal'; message: string } | { kind: 'timeout' }
  let finish: (outcome: Outcome) => void = () => undefined
  const settled = new Promise<Outcome>((resolve) => {
    finish = resolve
  })
  const timer = setTimeout(() => finish({ kind: 'timeout' }), options.waitMs)
  const source = createMonitorSource({
    url: options.url,
    operator: options.operator,
    token: options.token,
    ...(options.ca === undefined ? {} : { ca: options.ca }),
    now,
    reconnectPeriodMs: io.reconnectPeriodMs ?? 500,
    connectTimeoutMs: Math.min(5_000, options.waitMs),
    connect: io.connect,
    onEvent: (event: MonitorEvent) => {
      state = monitorReduce(state, event)
      if (event.kind === 'gateway_state') finish({ kind: 'state' })
    },
    onFatal: (message) => finish({ kind: 'fatal', message }),
  })
  const outcome = await settled
  // The picture as it was when the state arrived: closing the connection is the monitor's doing, not a gap.
  const seen = state
  clearTimeout(timer)
  await source.close()
  if (outcome.kind === 'fatal') {
    io.stderr.write(`wristpay-monitor: ${outcome.message} (${options.url} as operator ${options.operator})\n`)
    return EXIT_REFUSED
  }
  if (outcome.kind === 'timeout') {
    const why = seen.invalidPayloads.count > 0 ? `${seen.invalidPayloads.count} invalid payloads, the last: ${seen.invalidPayloads.last!.error}` : seen.connections > 0 ? 'connected, but the gateway published no state' : `could not connect${seen.lastConnectError === null ? '' : `: ${seen.lastConnectError.error}`}`
    io.stderr.write(`wristpay-monitor: no gateway state from ${options.url} within ${options.waitMs} ms (${why})\n`)
    return EXIT_USAGE_OR_NOTHING
  }
  const ctx = { now: now(), url: options.url, operator: options.operator }
  io.stdout.write(options.json ? `${JSON.stringify(monitorSnapshot(seen, ctx))}\n` : `${renderScreen(seen, { ...ctx, width: io.stdout.columns ?? 160 })}\n`)
  return EXIT_OK
}

/** The live screen until the signal aborts or the broker refuses the login. */
async function live(options: MonitorOptions, io: MonitorIo): Promise<number> {
  const now = io.now ?? Date.now
  const screen = startLiveMonitor({ stream: io.stdout, url: options.url, operator: options.operator, now })
  let fatal: string | null = null
  await new Promise<void>((resolve) => {
    const source = createMonitorSource({
      url: options.url,
      operator: options.operator,
      token: options.token,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      now,
      reconnectPeriodMs: io.reconnectPeriodMs,
      connect: io.connect,
      onEvent: (event) => screen.onEvent(event),
      onFatal: (message) => {
        fatal = message
        done()
      },
    })
    const done = () => {
      io.signal?.removeEventListener('abort', done)
      void source.close().then(resolve, resolve)
    }
    if (io.signal?.aborted) done()
    else io.signal?.addEventListener('abort', done, { once: true })
  })
  screen.stop()
  if (fatal !== null) {
    io.stderr.write(`wristpay-monitor: ${fatal} (${options.url} as operator ${options.operator})\n`)
    return EXIT_REFUSED
  }
  return EXIT_OK
}

if (isEntryPoint(import.meta.url)) {
  const stop = new AbortController()
  process.once('SIGINT', () => stop.abort())
  process.once('SIGTERM', () => stop.abort())
  main(process.argv.slice(2), { env: process.env, stdout: process.stdout, stderr: process.stderr, signal: stop.signal }).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`wristpay-monitor: ${(err as Error)?.stack ?? String(err)}\n`)
      process.exit(EXIT_FAILED)
    },
  )
}
