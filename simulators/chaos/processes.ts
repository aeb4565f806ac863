// The chaos run's child processes: kiosk daemons driven line by line over
// their stdin/stdout (kiosk-child.ts), killed with SIGKILL and started again.
import { spawn, type ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { startGatewayProcess } from '../../gateway/testing/gateway-process.js'
import type { KioskChildOptions, KioskReply, KioskRequest } from './kiosk-protocol.js'

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))))

/** How a child is started: through ts-node from the sources, or from a transpiled copy (compile.ts). */
export interface Runner {
  /** node's arguments to run `entry` (a module path without ending, relative to the repository). */
  args(entry: string): string[]
}
export const tsNodeRunner: Runner = { args: (entry) => ['--loader', 'ts-node/esm', '--no-warnings', join(ROOT, `${entry}.ts`)] }
export const compiledRunner = (outDir: string): Runner => ({ args: (entry) => [join(outDir, `${entry}.js`)] })

/**
 * Starts `wristpay-gateway` as the gateway's process tests do, through the
 * runner; resolves once it listens, rejects if it exits or takes over `startTimeoutMs`.
 */
export function startGatewayChild(runner: Runner, args: string[], env: Record<string, string>, startTimeoutMs = 90_000): Promise<ChildProcess> {
  return startGatewayProcess(args, env, { entryArgs: runner.args('gateway/bin'), startTimeoutMs })
}

/** A kiosk process that died (or was killed) before it answered. */
export const DIED = Symbol('died')

export interface KioskProcess {
  readonly child: ChildProcess
  /** Sends one request and resolves with its reply, DIED if the process ends first. */
  request(request: KioskRequest): Promise<KioskReply | typeof DIED>
  alive(): boolean
  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<void>
  exited: Promise<void>
}

/** Starts a kiosk child; resolves once it is ready (its daemon started; it may not be connected), rejects if it dies or takes over `startTimeoutMs`. */
export function startKioskProcess(runner: Runner, options: KioskChildOptions, startTimeoutMs = 90_000): Promise<KioskProcess> {
  const child = spawn(process.execPath, [...runner.args('simulators/chaos/kiosk-child'), JSON.stringify(options)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8_000)))
  // Writing to a killed child's stdin fails with EPIPE: the request is answered DIED instead.
  child.stdin!.on('error', () => {})
  const exited = new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) done()
    else child.once('exit', () => done())
  })
  // Replies come in the order of the requests (the child handles one at a time).
  const waiting: Array<(reply: KioskReply | typeof DIED) => void> = []
  let dead = false
  void exited.then(() => {
    dead = true
    for (const resolve of waiting.splice(0)) resolve(DIED)
  })
  let onReady: (() => void) | undefined
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let reply: KioskReply
    try {
      reply = JSON.parse(line) as KioskReply
    } catch {
      return
    }
    if (reply.type === 'ready') onReady?.()
    else waiting.shift()?.(reply)
  })
  const handle: KioskProcess = {
    child,
    exited,
    alive: () => !dead,
    request(request) {
      if (dead) return Promise.resolve(DIED)
      return new Promise((resolve) => {
        waiting.push(resolve)
        child.stdin!.write(`${JSON.stringify(request)}\n`)
      })
    },
    async kill() {
      if (!dead) child.kill('SIGKILL')
      await exited
    },
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`kiosk ${options.kioskId} did not start within ${startTimeoutMs} ms:\n${stderr}`))
    }, startTimeoutMs)
    onReady = () => {
      clearTimeout(timer)
      resolve(handle)
    }
    void exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`kiosk ${options.kioskId} exited before it was ready (${child.exitCode ?? child.signalCode}):\n${stderr}`))
    })
  })
}
