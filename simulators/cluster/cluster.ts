// `npm run cluster`: the demo's fleet against two gateways that share one
// PostgreSQL database and one Mosquitto, all on this machine. It starts a
// private PostgreSQL and a private Mosquitto 2 (dynamic security plugin) on
// free loopback ports in temporary folders (gateway/testing/: the same starters
// the tests use), then two `wristpay-gateway` processes with the same event
// set-up, each with its own data folder and HTTP port, `--store` (the password
// in a 0600 passfile) and `--mqtt-url`. The demo's kiosk daemons log in at
// Mosquitto with the logins the gateways provisioned; their sales reach the
// gateways through the shared subscription, one message here, the next there.
// The script opens the ledger on the same database itself, to enroll the
// kiosks' keys and to read the summary, which is the demo's plus what each
// gateway answered (its /metrics). Everything is removed at the end; the exit
// code is 0 only if nothing was lost or doubled and the books balance.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { ChildProcess } from 'node:child_process'
import pino, { type Logger } from 'pino'
import { systemClock } from '../../device-protocol/index.js'
import { createLedger, type Ledger } from '../../gateway/ledger/index.js'
import { openPgConnection } from '../../gateway/postgres/connection.js'
import { createPgSqlDatabase } from '../../gateway/postgres/sql-database.js'
import { exited, freePort, startGatewayProcess } from '../../gateway/testing/gateway-process.js'
import { mosquittoAvailable, startMosquitto, type MosquittoServer } from '../../gateway/testing/mosquitto-server.js'
import { postgresInstalled, startPostgresServer, type PostgresServer } from '../../gateway/testing/postgres-server.js'
import { demoEvent, demoKiosks } from '../demo/demo-event.js'
import { lazyPcscStack } from '../demo/demo-readers.js'
import { runDemoTills, startDemoKiosks, summariseDemo } from '../demo/demo-fleet.js'
import type { TillRuntime } from '../demo/demo-tills.js'
import { benchBuild } from '../load/bench-build.js'
import { runAsProgram } from '../script-main.js'

const USAGE = `usage: npm run cluster -- [options]

Starts a private PostgreSQL and Mosquitto, two gateways sharing them, and the
demo's kiosks selling through them; prints the demo's JSON summary.

  --duration SECONDS  how long the tills sell (default 20)
  --kiosks N          number of kiosks (default 4: a bar, a food stand, a top-up station, a cash desk)
  --guests N          number of guests with wristbands (default 40)
  --help              this text`

export interface ClusterOptions {
  durationS: number
  kiosks: number
  guests: number
  /** node arguments that run `wristpay-gateway`; default the bench's transpiled build (ts-node would take ~10 s per start). */
  gatewayArgs?: string[]
}

/** Why the cluster cannot run on this machine, or undefined when it can. */
export function clusterUnavailable(): string | undefined {
  if (!postgresInstalled()) return 'PostgreSQL 15 server binaries are not installed (apt-get install postgresql)'
  if (!mosquittoAvailable()) return 'Mosquitto 2 with its dynamic security plugin is not installed (apt-get install mosquitto mosquitto-clients)'
  return undefined
}

function parseOptions(argv: string[]): ClusterOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '20' },
      kiosks: { type: 'string', default: '4' },
      guests: { type: 'string', default: '40' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  })
  if (values.help) return 'help'
  const int = (name: string, raw: string, min: number, max: number): number => {
    const n = Number(raw)
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`)
    return n
  }
  return { durationS: int('duration', values.duration, 1, 86_400), kiosks: int('kiosks', values.kiosks, 1, 50), guests: int('guests', values.guests, 1, 5_000) }
}

/** The server's URL without its password, which goes into a passfile of mode 0600 as libpq reads it. */
function storeUrlWithPassfile(url: string, passfile: string): string {
  const parsed = new URL(url)
  writeFileSync(passfile, `${parsed.hostname}:${parsed.port}:${parsed.pathname.slice(1)}:${parsed.username}:${decodeURIComponent(parsed.password)}\n`, { mode: 0o600 })
  parsed.password = ''
  parsed.searchParams.set('passfile', passfile)
  return parsed.toString()
}

export interface ClusterGateway {
  name: string
  child: ChildProcess
  httpBase: string
  /** Its command line (config, data folder, HTTP port): a restart uses the same. */
  args: string[]
}

/** Transactions this gateway answered (booked accepted or rejected), from its own wristpay_transactions_total; a resend it answered again is not counted. */
export async function answeredBy(gateway: ClusterGateway): Promise<{ alive: boolean; answered: number | null }> {
  const alive = gateway.child.exitCode === null && gateway.child.signalCode === null
  try {
    const health = await fetch(`${gateway.httpBase}/healthz`, { signal: AbortSignal.timeout(5_000) })
    const metrics = await fetch(`${gateway.httpBase}/metrics`, { signal: AbortSignal.timeout(5_000) })
    if (!metrics.ok) return { alive: alive && health.ok, answered: null }
    let answered = 0
    for (const m of (await metrics.text()).matchAll(/^wristpay_transactions_total\{[^}]*\} (\d+)$/gm)) answered += Number(m[1])
    return { alive: alive && health.ok, answered }
  } catch {
    return { alive: false, answered: null }
  }
}

/** SIGTERM (a clean stop), SIGKILL if it takes longer than 15 s. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  child.kill('SIGTERM')
  await exited(child)
  clearTimeout(timer)
}

export type ClusterSetupOptions = Pick<ClusterOptions, 'kiosks' | 'guests' | 'gatewayArgs'> & {
  /** The folder's name starts with this (default wristpay-cluster-). */
  dirPrefix?: string
  /** The gateways' mqtt.external.sessionExpirySeconds (default: the gateway's own default). */
  gatewaySessionExpiryS?: number
}

/** A running cluster: the servers, the two gateways, the enrolled kiosks (not selling yet) and the script's own ledger on the database. */
export interface Cluster {
  dir: string
  logger: Logger
  postgres: PostgresServer
  mosquitto: MosquittoServer
  gateways: ClusterGateway[]
  /** The script's view of the books: the same database, as a third member of the cluster. */
  ledger: Ledger
  runtimes: TillRuntime[]
  setup: ReturnType<typeof demoEvent>['setup']
  elapsedS(): string
  /** SIGKILL, as a machine that dies; resolves once the process is gone. */
  killGateway(name: string): Promise<void>
  /** Starts a stopped or killed gateway again with its command line; resolves once it listens. */
  startGateway(name: string): Promise<void>
  /** Stops everything that runs and removes the folder; safe to call more than once. */
  teardown(): Promise<void>
}

/**
 * Starts PostgreSQL, Mosquitto, two gateways and the kiosks (enrolled,
 * connected, not selling). On a failure stops what it started and throws.
 */
export async function startCluster(options: ClusterSetupOptions, out: (line: string) => void = console.log): Promise<Cluster> {
  const unavailable = clusterUnavailable()
  if (unavailable !== undefined) throw new Error(unavailable)
  const dir = mkdtempSync(join(tmpdir(), options.dirPrefix ?? 'wristpay-cluster-'))
  // Logs go to a file: the terminal shows the status line.
  const logFile = join(dir, 'cluster.log')
  const logger: Logger = pino({ level: 'info' }, pino.destination({ dest: logFile, sync: true }))
  const startedMs = performance.now()
  const elapsedS = () => ((performance.now() - startedMs) / 1000).toFixed(1)

  let postgres: PostgresServer | undefined
  let mosquitto: MosquittoServer | undefined
  let ledger: (Ledger & { close(): void }) | undefined
  const gateways: ClusterGateway[] = []
  const runtimes: TillRuntime[] = []
  const closers: Array<() => Promise<void>> = []
  const pcscStack = lazyPcscStack()
  let gatewayArgs: string[] = []
  let torn: Promise<void> | undefined
  // Should this process end before the teardown (an uncaught error, process.exit), the gateways go with it
  // (the PostgreSQL starter does the same for its server).
  const killGateways = () => gateways.forEach((g) => g.child.kill('SIGKILL'))
  process.once('exit', killGateways)
  const teardown = () =>
    (torn ??= (async () => {
      process.off('exit', killGateways)
      for (const r of runtimes) await r.daemon.stop().catch(() => undefined)
      for (const close of closers) await close().catch(() => undefined)
      await pcscStack.stop()
      await Promise.all(gateways.map((g) => stopProcess(g.child)))
      out(`cluster: gateways stopped (${elapsedS()} s)`)
      ledger?.close()
      await mosquitto?.remove()
      await postgres?.stop()
      logger.flush()
      rmSync(dir, { recursive: true, force: true })
      out(`cluster: PostgreSQL and Mosquitto stopped, ${dir} removed (${elapsedS()} s)`)
    })())
  const gateway = (name: string) => {
    const found = gateways.find((g) => g.name === name)
    if (found === undefined) throw new Error(`no gateway ${name}`)
    return found
  }
  try {
    // The servers start while the gateway's build is transpiled (synchronously: their start-up waits meanwhile).
    const servers = Promise.allSettled([startPostgresServer(), startMosquitto()])
    let buildFailure: unknown
    try {
      gatewayArgs = options.gatewayArgs ?? benchBuild().gatewayArgs
      out(`cluster: gateway build ready (${elapsedS()} s)`)
    } catch (err) {
      buildFailure = err
    }
    const [pg, broker] = await servers
    if (pg.status === 'fulfilled') postgres = pg.value
    if (broker.status === 'fulfilled') mosquitto = broker.value
    // Thrown once the servers are known, so that the teardown below stops them.
    if (buildFailure !== undefined) throw buildFailure
    if (pg.status === 'rejected') throw pg.reason
    if (broker.status === 'rejected') throw broker.reason
    const store = storeUrlWithPassfile(postgres!.createDatabase('wristpay'), join(dir, 'pgpass'))
    out(`cluster: PostgreSQL on 127.0.0.1:${postgres!.port}, Mosquitto on ${mosquitto!.url} (${elapsedS()} s)`)

    // The event set-up and the secrets, as an operator keeps them: files only this user reads.
    const specs = demoKiosks(options.kiosks)
    const { setup } = demoEvent(specs, options.guests)
    const eventFile = join(dir, 'event.json')
    writeFileSync(eventFile, JSON.stringify(setup, null, 2), { mode: 0o600 })
    const gatewayPasswordFile = join(dir, 'gateway-mqtt-password')
    const adminPasswordFile = join(dir, 'dynsec-admin-password')
    writeFileSync(gatewayPasswordFile, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 })
    writeFileSync(adminPasswordFile, `${mosquitto!.admin.password}\n`, { mode: 0o600 })
    const configFile = join(dir, 'gateway.json')
    // One config for both: the same database, broker, share group and event; each its own data folder and HTTP port (flags).
    writeFileSync(
      configFile,
      JSON.stringify({
        eventFile,
        http: { host: '127.0.0.1' },
        mqtt: {
          url: mosquitto!.url,
          external: {
            credentialFile: gatewayPasswordFile,
            dynsecAdminUsername: mosquitto!.admin.username,
            dynsecAdminCredentialFile: adminPasswordFile,
            ...(options.gatewaySessionExpiryS === undefined ? {} : { sessionExpirySeconds: options.gatewaySessionExpiryS }),
          },
        },
        store,
      }),
      { mode: 0o600 },
    )

    // Both at once: the migrations take an advisory lock, so one migrates and the other finds it done.
    const names = ['gateway-a', 'gateway-b']
    const ports = await Promise.all(names.map(() => freePort()))
    const args = names.map((name, i) => ['--config', configFile, '--data-dir', join(dir, name), '--http-port', String(ports[i])])
    const started = await Promise.allSettled(args.map((a) => startGatewayProcess(a, {}, { entryArgs: gatewayArgs, startTimeoutMs: 120_000 })))
    started.forEach((s, i) => s.status === 'fulfilled' && gateways.push({ name: names[i]!, child: s.value, httpBase: `http://127.0.0.1:${ports[i]}`, args: args[i]! }))
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected')
    if (failed) throw failed.reason
    out(`cluster: ${gateways.map((g) => `${g.name} ${g.httpBase}`).join(', ')} on one database and one broker (${elapsedS()} s)`)

    const connection = openPgConnection({ url: store })
    const db = createPgSqlDatabase(connection)
    ledger = Object.assign(createLedger({ db, clock: systemClock, logger: logger.child({ service: 'cluster-ledger' }) }), { close: () => connection.close() })
    const books = ledger

    await startDemoKiosks({
      specs,
      readers: ['serial'],
      mqttUrl: mosquitto!.url,
      dataDir: dir,
      logger,
      pcsc: pcscStack.get,
      // Written to the shared database: each gateway's next batch sees the registry's new version and reads the key.
      enroll: (id, key) => books.registry.enrollKiosk(id, key),
      runtimes,
      closers,
    })
    out(`kiosks: ${runtimes.map((r) => r.spec.id).join(', ')} on ${mosquitto!.url}; ${setup.wristbands.length} guests (${elapsedS()} s)`)
    return {
      dir,
      logger,
      postgres: postgres!,
      mosquitto: mosquitto!,
      gateways,
      ledger: books,
      runtimes,
      setup,
      elapsedS,
      async killGateway(name) {
        const g = gateway(name)
        g.child.kill('SIGKILL')
        await exited(g.child)
      },
      async startGateway(name) {
        const g = gateway(name)
        if (g.child.exitCode === null && g.child.signalCode === null) throw new Error(`${name} is running`)
        g.child = await startGatewayProcess(g.args, {}, { entryArgs: gatewayArgs, startTimeoutMs: 120_000 })
      },
      teardown,
    }
  } catch (err) {
    await teardown()
    throw err
  }
}

export async function runCluster(options: ClusterOptions, out: (line: string) => void = console.log): Promise<Record<string, unknown>> {
  const cluster = await startCluster(options, out)
  try {
    out(`cluster: running for ${options.durationS} s (${cluster.elapsedS()} s)`)
    const tills = await runDemoTills({
      runtimes: cluster.runtimes,
      wristbandUids: cluster.setup.wristbands.map((w) => w.uid),
      freshWristbands: Math.ceil(options.guests / 2),
      durationS: options.durationS,
      ledger: cluster.ledger,
      logger: cluster.logger,
      out,
    })
    const summary = summariseDemo(cluster.ledger, cluster.runtimes, tills)
    out(`cluster: sales stopped, outboxes empty (${cluster.elapsedS()} s)`)
    const byGateway: Record<string, { alive: boolean; answered: number | null }> = {}
    for (const g of cluster.gateways) byGateway[g.name] = await answeredBy(g)
    return { ...summary, gateways: byGateway }
  } finally {
    await cluster.teardown()
  }
}

/** Whether a run's summary is sound: nothing lost or doubled, the books balanced, both gateways alive and answering. */
export function clusterSound(summary: Record<string, unknown>): boolean {
  const gateways = Object.values((summary.gateways ?? {}) as Record<string, { alive: boolean }>)
  return summary.lost === 0 && summary.duplicates === 0 && summary.ledgerBalanced === true && gateways.length === 2 && gateways.every((g) => g.alive)
}

// Run only as a program, not when a test imports runCluster.
runAsProgram(
  {
    name: 'cluster',
    usage: USAGE,
    parse: parseOptions,
    unavailable: clusterUnavailable,
    async run(options) {
      const summary = await runCluster(options)
      console.log(JSON.stringify(summary))
      return clusterSound(summary) ? 0 : 1
    },
  },
  process.argv[1]?.endsWith('simulators/cluster/cluster.ts') === true,
)
