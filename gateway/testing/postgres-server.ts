// Test code only: a private PostgreSQL 15 server for one test file. It lives
// in a temporary folder (its data and its unix socket), listens on a free
// port on 127.0.0.1 only, runs with fsync on, and is killed and removed by
// stop(); the system's own PostgreSQL service is never touched. PostgreSQL
// refuses to run as root, so under root (CI containers) initdb and postgres
// run as the `postgres` system user, which owns the folder.
//
// Starting a server takes a second or two, so a test file shares one and
// gives each test its own database: a copy (CREATE DATABASE ... TEMPLATE) of a
// template the file prepares once, such as one with the schema migrated.
// The folder is on /dev/shm when there is one: fsync stays on (the server runs
// the code path it runs in production, and a killed server keeps what it
// committed, as the page cache does), but costs microseconds instead of the
// milliseconds a shared CI disk takes per commit.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { accessSync, chmodSync, chownSync, constants, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openPgConnection, type PgConnection } from '../postgres/connection.js'
import { exited, freePort } from './gateway-process.js'

export const POSTGRES_BIN = process.env.WRISTPAY_POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin'

/** Whether this machine has PostgreSQL's server binaries (tests skip without them). */
export const postgresInstalled = (): boolean => existsSync(join(POSTGRES_BIN, 'postgres')) && existsSync(join(POSTGRES_BIN, 'initdb'))

export interface PostgresServer {
  readonly port: number
  /** The URL of a database on this server (default: the `postgres` database). */
  url(database?: string): string
  /** Creates a database, as a copy of `template` if given; returns its URL. */
  createDatabase(name: string, template?: string): string
  /** Drops a database, ending any session still on it. */
  dropDatabase(name: string): void
  /** Kills the server the hard way (no shutdown, as a crash or a pulled cable would), keeping its data. */
  kill(): Promise<void>
  /** Starts the server again on the same port and data, after kill(); resolves when it accepts connections. */
  restart(): Promise<void>
  /** Kills the server and removes its folder. */
  stop(): Promise<void>
}

export interface PostgresServerOptions {
  /** How long to wait for the server to accept connections. Default 30 000 ms. */
  startTimeoutMs?: number
  /** Where the temporary folder goes. Default /dev/shm if it is there and writable, else the system's temp folder. */
  folderIn?: string
}

export function defaultFolderIn(): string {
  try {
    accessSync('/dev/shm', constants.W_OK)
    return '/dev/shm'
  } catch {
    return tmpdir()
  }
}

const SUPERUSER = 'wristpay'

/** uid and gid to run PostgreSQL as: the `postgres` user under root, else nothing to change. */
export function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  const id = (flag: string) => {
    const out = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' })
    if (out.status !== 0) throw new Error('running as root, and there is no postgres user to run PostgreSQL as (PostgreSQL refuses root)')
    return Number(out.stdout.trim())
  }
  return { uid: id('-u'), gid: id('-g') }
}

/** Starts a private PostgreSQL; resolves when it accepts connections. */
export async function startPostgresServer(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const startTimeoutMs = options.startTimeoutMs ?? 30_000
  const folder = mkdtempSync(join(options.folderIn ?? defaultFolderIn(), 'wristpay-pg-'))
  const data = join(folder, 'data')
  const user = runAs()
  const password = randomBytes(12).toString('hex')
  let child: ChildProcess | undefined
  try {
    if (user !== undefined) chownSync(folder, user.uid, user.gid)
    chmodSync(folder, 0o700)
    const pwfile = join(folder, 'pwfile')
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 })
    if (user !== undefined) chownSync(pwfile, user.uid, user.gid)
    // --no-sync: only the throwaway cluster's creation skips fsync; the server itself runs with fsync on.
    const init = spawnSync(
      join(POSTGRES_BIN, 'initdb'),
      ['-D', data, '-U', SUPERUSER, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--no-locale', '--no-sync'],
      { encoding: 'utf8', ...(user ?? {}), cwd: folder },
    )
    rmSync(pwfile, { force: true })
    if (init.status !== 0) throw new Error(`initdb failed (${init.status ?? init.signal}): ${init.stderr || init.error?.message}`)
    const port = await freePort()

    const launch = async (): Promise<void> => {
      child = await launchPostgres({ data, folder, port, user, startTimeoutMs })
    }
    // A test process that ends without stop() (an uncaught error, process.exit) leaves no server and no folder behind.
    const leftBehind = () => {
      child?.kill('SIGQUIT')
      rmSync(folder, { recursive: true, force: true })
    }
    process.once('exit', leftBehind)
    await launch()

    let admin: PgConnection | undefined
    const url = (database = 'postgres') => `postgres://${SUPERUSER}:${password}@127.0.0.1:${port}/${database}`
    const killHard = async () => {
      const running = child
      child = undefined
      if (running === undefined) return
      // SIGQUIT: PostgreSQL's immediate shutdown, without a checkpoint; the next start recovers from the WAL.
      running.kill('SIGQUIT')
      await exited(running)
    }
    return {
      port,
      url,
      createDatabase(name, template) {
        if (!/^[a-z_][a-z0-9_]*$/.test(name) || (template !== undefined && !/^[a-z_][a-z0-9_]*$/.test(template))) throw new Error(`not a plain database name: ${name}`)
        // One connection for all of them (a new one costs a server process); it reconnects after a restart.
        admin ??= openPgConnection({ url: url() })
        admin.query(`CREATE DATABASE ${name}${template === undefined ? '' : ` TEMPLATE ${template}`}`)
        return url(name)
      },
      dropDatabase(name) {
        if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`)
        admin ??= openPgConnection({ url: url() })
        admin.query(`DROP DATABASE ${name} WITH (FORCE)`)
      },
      kill: killHard,
      async restart() {
        if (child !== undefined) throw new Error('the server is running')
        await launch()
      },
      async stop() {
        admin?.close()
        await killHard()
        rmSync(folder, { recursive: true, force: true })
        process.off('exit', leftBehind)
      },
    }
  } catch (error) {
    if (child !== undefined) {
      child.kill('SIGKILL')
      await exited(child)
    }
    rmSync(folder, { recursive: true, force: true })
    throw error
  }
}

function launchPostgres(o: { data: string; folder: string; port: number; user: { uid: number; gid: number } | undefined; startTimeoutMs: number }): Promise<ChildProcess> {
  const settings = {
    listen_addresses: '127.0.0.1',
    port: String(o.port),
    unix_socket_directories: o.folder,
    fsync: 'on',
    max_connections: '40',
    shared_buffers: '32MB',
    logging_collector: 'off',
    // Gateways booking at once may deadlock on account rows; the server finds it after this long (default 1 s) and fails one batch, which runs again.
    deadlock_timeout: '100ms',
  }
  const args = ['-D', o.data, ...Object.entries(settings).flatMap(([key, value]) => ['-c', `${key}=${value}`])]
  const child = spawn(join(POSTGRES_BIN, 'postgres'), args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: o.folder, ...(o.user ?? {}) })
  return new Promise((resolve, reject) => {
    let log = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`PostgreSQL did not accept connections within ${o.startTimeoutMs} ms:\n${log}`))
    }, o.startTimeoutMs)
    const onData = (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-8_000)
      if (log.includes('database system is ready to accept connections')) {
        clearTimeout(timer)
        child.off('exit', onExit)
        // The log is not read any more, but must flow: a full pipe would block the server.
        child.stderr!.off('data', onData)
        child.stderr!.resume()
        resolve(child)
      }
    }
    const onExit = (code: number | null, signal: string | null) => {
      clearTimeout(timer)
      reject(new Error(`PostgreSQL exited while starting (${code ?? signal}):\n${log}`))
    }
    child.stderr!.on('data', onData)
    child.once('exit', onExit)
  })
}

/**
 * `url` without its password, which goes into a passfile of mode 0600 in
 * `dir` that the URL names: how an operator hands the gateway its store.
 */
export function passfileUrl(url: string, dir: string): string {
  const parsed = new URL(url)
  const passfile = join(dir, `pgpass-${parsed.pathname.slice(1)}`)
  writeFileSync(passfile, `${parsed.hostname}:${parsed.port}:${parsed.pathname.slice(1)}:${parsed.username}:${decodeURIComponent(parsed.password)}\n`, { mode: 0o600 })
  parsed.password = ''
  parsed.searchParams.set('passfile', passfile)
  return parsed.toString()
}

/** A test file's own server (postgresForFile). */
export interface FilePostgres {
  readonly server: PostgresServer
  /** Creates a database named `{prefix}_{n}`, n counting up in this file: empty, or a copy of `template` (a database of this server). */
  freshDatabase(prefix: string, template?: string): { name: string; url: string }
}

/**
 * The test file's own server, started now and stopped when `file` ends; undefined,
 * with a comment saying why, where the PostgreSQL 15 binaries are not installed.
 */
export async function postgresForFile(file: { comment(message: string): void; teardown(fn: () => unknown): void }): Promise<FilePostgres | undefined> {
  if (!postgresInstalled()) {
    file.comment(`PostgreSQL 15 server binaries not found (${POSTGRES_BIN}): skipped; CI installs them`)
    return undefined
  }
  const server = await startPostgresServer()
  file.teardown(() => server.stop())
  let databases = 0
  return {
    server,
    freshDatabase(prefix, template) {
      const name = `${prefix}_${++databases}`
      return { name, url: server.createDatabase(name, template) }
    },
  }
}
