// Test code only: a streaming replica of a private PostgreSQL (postgres-server.ts),
// made the way README's operations guide tells an operator to make one:
// `pg_basebackup -R -X stream -C -S <slot>` with the replication login's
// password in a passfile, then the server started on the copy (standby.signal
// and primary_conninfo written by -R). It lives in a temporary folder of its
// own on a free loopback port and is started and stopped with pg_ctl, as the
// guide does; under root every PostgreSQL program runs as the `postgres` user.
import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from './gateway-process.js'
import { defaultFolderIn, POSTGRES_BIN, runAs, type PostgresServer } from './postgres-server.js'

export interface PostgresStandby {
  readonly port: number
  /** The URL of a database on the standby, with the primary's superuser (a physical copy has the same roles). */
  url(database?: string): string
  /** `pg_ctl promote`: the standby leaves recovery and takes writes; resolves when it has. */
  promote(): void
  /** Stops the server (immediate) and removes its folder. */
  stop(): void
}

export interface StandbyOptions {
  /** The replication slot created on the primary for it (-C -S). */
  slot: string
  /** Its name in the primary's pg_stat_replication and in synchronous_standby_names. */
  applicationName: string
}

/** A replica of `primary`, streaming; resolves once it accepts (read-only) connections. */
export async function startStandby(primary: PostgresServer, options: StandbyOptions): Promise<PostgresStandby> {
  const primaryUrl = new URL(primary.url())
  const user = runAs()
  const folder = mkdtempSync(join(defaultFolderIn(), 'wristpay-pg-standby-'))
  const data = join(folder, 'data')
  const passfile = join(folder, 'pgpass')
  const port = await freePort()
  const run = (program: string, args: string[], env: Record<string, string> = {}) => {
    const out = spawnSync(join(POSTGRES_BIN, program), args, { encoding: 'utf8', cwd: folder, env: { ...process.env, ...env }, ...(user ?? {}) })
    if (out.status !== 0) throw new Error(`${program} ${args.join(' ')} failed (${out.status ?? out.signal}): ${out.stderr || out.error?.message}`)
    return out.stdout
  }
  try {
    if (user !== undefined) chownSync(folder, user.uid, user.gid)
    chmodSync(folder, 0o700)
    // The replication login's password, for pg_basebackup now and the standby's walreceiver later (primary_conninfo names this file).
    writeFileSync(passfile, `127.0.0.1:${primary.port}:*:${primaryUrl.username}:${decodeURIComponent(primaryUrl.password)}\n`, { mode: 0o600 })
    if (user !== undefined) chownSync(passfile, user.uid, user.gid)
    // --checkpoint=fast: the copy starts at once, not after a spread checkpoint (which took over a minute here).
    run(
      'pg_basebackup',
      ['-h', '127.0.0.1', '-p', String(primary.port), '-U', primaryUrl.username, '-D', data, '-R', '-X', 'stream', '-C', '-S', options.slot, '-d', `application_name=${options.applicationName}`, '--checkpoint=fast', '--no-sync'],
      { PGPASSFILE: passfile },
    )
    const settings = ['-c', 'listen_addresses=127.0.0.1', '-c', `port=${port}`, '-c', `unix_socket_directories=${folder}`, '-c', 'fsync=on', '-c', 'max_connections=40', '-c', 'shared_buffers=32MB']
    run('pg_ctl', ['-D', data, '-l', join(folder, 'server.log'), '-o', settings.join(' '), '-w', '-t', '60', 'start'])
  } catch (error) {
    spawnSync(join(POSTGRES_BIN, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop'], { cwd: folder, ...(user ?? {}) })
    rmSync(folder, { recursive: true, force: true })
    throw error
  }
  let stopped = false
  const stop = () => {
    if (stopped) return
    stopped = true
    spawnSync(join(POSTGRES_BIN, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], { cwd: folder, ...(user ?? {}) })
    rmSync(folder, { recursive: true, force: true })
    process.off('exit', stop)
  }
  // A test process that ends without stop() leaves no server behind.
  process.once('exit', stop)
  return {
    port,
    url: (database = 'postgres') => `postgres://${primaryUrl.username}:${primaryUrl.password}@127.0.0.1:${port}/${database}`,
    promote: () => void run('pg_ctl', ['-D', data, '-w', '-t', '60', 'promote']),
    stop,
  }
}
