// Test code only: a private Mosquitto 2 (Debian's package) with the dynamic
// security plugin, for the tests of the external broker. Each one lives in its
// own temporary folder (config, dynamic-security.json, persistence, log) and
// listens on a free port of 127.0.0.1 only; anonymous clients are refused. The
// system service is never touched. Mosquitto started as root drops to the
// `mosquitto` user, so the folder is handed to that user first.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './gateway-process.js'

export const MOSQUITTO_BINARY = '/usr/sbin/mosquitto'
export const MOSQUITTO_CTRL_BINARY = '/usr/bin/mosquitto_ctrl'
export const DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so'

/** Whether this machine has Mosquitto and its plugin (tests skip without them). */
export function mosquittoAvailable(): boolean {
  return existsSync(MOSQUITTO_BINARY) && existsSync(MOSQUITTO_CTRL_BINARY) && existsSync(DYNSEC_PLUGIN)
}

export interface MosquittoServer {
  readonly host: '127.0.0.1'
  readonly port: number
  /** mqtt://127.0.0.1:PORT */
  readonly url: string
  /** The dynamic security admin made by `mosquitto_ctrl dynsec init`. */
  readonly admin: { username: string; password: string }
  readonly dir: string
  /** The broker's log so far (for failure messages). */
  log(): string
  /** Stops the broker (SIGTERM, SIGKILL after a bound); its folder stays until remove(). */
  stop(): Promise<void>
  /** Starts it again on the same port with the same folder (persistence and dynsec state kept). */
  restart(): Promise<void>
  /** stop() and deletes the folder. */
  remove(): Promise<void>
}

export interface MosquittoServerOptions {
  /** How long to wait for the listener; default 10 s. */
  startTimeoutMs?: number
  /** More mosquitto.conf lines (global options). */
  extraConfig?: string[]
}

function mosquittoUser(): { uid: number; gid: number } | undefined {
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((line) => line.startsWith('mosquitto:'))
  if (entry === undefined) return undefined
  const [, , uid, gid] = entry.split(':')
  return { uid: Number(uid), gid: Number(gid) }
}

/** Mosquitto as root changes to `mosquitto`: it must be able to write its folder (dynsec saves, persistence). */
function handToBrokerUser(dir: string): string {
  if (process.getuid?.() !== 0) return ''
  const user = mosquittoUser()
  if (user === undefined) return 'user root'
  chownSync(dir, user.uid, user.gid)
  for (const name of readdirSync(dir)) chownSync(join(dir, name), user.uid, user.gid)
  return 'user mosquitto'
}

function waitForListener(port: number, deadline: number, child: ChildProcess, log: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`mosquitto exited while starting:\n${log()}`))
      if (Date.now() > deadline) return reject(new Error(`mosquitto did not accept connections on port ${port} in time:\n${log()}`))
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => {
        socket.destroy()
        resolve()
      })
      socket.once('error', () => {
        socket.destroy()
        setTimeout(attempt, 50)
      })
    }
    attempt()
  })
}

export async function startMosquitto(options: MosquittoServerOptions = {}): Promise<MosquittoServer> {
  const startTimeoutMs = options.startTimeoutMs ?? 10_000
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-mosquitto-'))
  const admin = { username: 'wristpay-dynsec-admin', password: `admin-${process.pid}-${Math.random().toString(36).slice(2)}` }
  const dynsecFile = join(dir, 'dynamic-security.json')
  // `dynsec init` asks for the password twice on its input.
  const init = spawnSync(MOSQUITTO_CTRL_BINARY, ['dynsec', 'init', dynsecFile, admin.username], { input: `${admin.password}\n${admin.password}\n`, encoding: 'utf8', timeout: 10_000 })
  if (init.status !== 0) throw new Error(`mosquitto_ctrl dynsec init failed: ${init.stderr || init.stdout}`)
  const port = await freePort()
  const logFile = join(dir, 'mosquitto.log')
  writeFileSync(logFile, '')
  const userLine = handToBrokerUser(dir)
  const configFile = join(dir, 'mosquitto.conf')
  writeFileSync(
    configFile,
    [
      userLine,
      'per_listener_settings false',
      'allow_anonymous false',
      `listener ${port} 127.0.0.1`,
      `plugin ${DYNSEC_PLUGIN}`,
      `plugin_opt_config_file ${dynsecFile}`,
      'persistence true',
      `persistence_location ${dir}/`,
      // As README's mosquitto.conf: the gateway holds a whole batch unacknowledged until it is committed
      // (external-broker.ts), and Mosquitto's default of 20 messages in flight per client would cap the batch
      // at 20; what waits beyond the in-flight window is queued, up to max_queued_messages (default 1000).
      'max_inflight_messages 1000',
      'max_queued_messages 100000',
      `log_dest file ${logFile}`,
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      ...(options.extraConfig ?? []),
      '',
    ].join('\n'),
  )
  if (userLine === 'user mosquitto') handToBrokerUser(dir)

  let child: ChildProcess | undefined
  let output = ''
  const log = () => {
    let file = ''
    try {
      file = readFileSync(logFile, 'utf8')
    } catch {}
    return `${file}${output}`.slice(-8_000)
  }

  async function start(): Promise<void> {
    output = ''
    const started = spawn(MOSQUITTO_BINARY, ['-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'] })
    child = started
    started.stdout!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4_000)))
    started.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4_000)))
    try {
      await waitForListener(port, Date.now() + startTimeoutMs, started, log)
    } catch (err) {
      started.kill('SIGKILL')
      throw err
    }
  }

  async function stop(): Promise<void> {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => running.kill('SIGKILL'), 5_000)
      running.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
      running.kill('SIGTERM')
    })
  }

  try {
    await start()
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  return {
    host: '127.0.0.1',
    port,
    url: `mqtt://127.0.0.1:${port}`,
    admin,
    dir,
    log,
    stop,
    async restart() {
      await stop()
      await start()
    },
    async remove() {
      await stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
