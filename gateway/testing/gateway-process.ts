// Test code only: the real gateway executable in its own process (through
// ts-node), for the tests that kill it with SIGKILL and start it again.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))))

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((done) => server.close(() => done()))
  return port
}

export interface GatewayProcessOptions {
  /** node's arguments that run the gateway's entry point. Default: gateway/bin.ts through ts-node (the chaos run passes a transpiled copy). */
  entryArgs?: string[]
  /** Default: 60 s. */
  startTimeoutMs?: number
}

/** Starts `wristpay-gateway` with `args` (and `env` added); resolves once it listens, rejects if it exits or takes over `startTimeoutMs`. */
export function startGatewayProcess(args: string[], env: Record<string, string> = {}, options: GatewayProcessOptions = {}): Promise<ChildProcess> {
  const { entryArgs = ['--loader', 'ts-node/esm', '--no-warnings', join(ROOT, 'gateway/bin.ts')], startTimeoutMs = 60_000 } = options
  const child = spawn(process.execPath, [...entryArgs, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WRISTPAY_GATEWAY_LOG_LEVEL: 'info', ...env },
  })
  return new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`gateway did not start within ${startTimeoutMs} ms:\n${output}`))
    }, startTimeoutMs)
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8_000)
      if (output.includes('listening: mqtt://')) {
        clearTimeout(timer)
        child.stdout!.off('data', onData)
        // Its log is not read, but must flow: a full pipe would block the gateway.
        child.stdout!.resume()
        resolve(child)
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8_000)))
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`gateway exited early (${code ?? signal}):\n${output}`))
    })
  })
}

/** Resolves when the process has exited (at once if it has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((done) => child.once('exit', () => done()))
}
