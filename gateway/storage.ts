// Where the gateway keeps its tables: the SQLite file in its data folder (one
// gateway, the default), or a PostgreSQL database that several gateways share
// (config `store`, --store). Both are handed to the modules as one SqlDatabase;
// this module only opens, checks and closes it.
//
// The PostgreSQL password never travels in the URL: a URL ends up in config
// files, process listings, shell histories and --print-config. libpq reads it
// from a passfile instead, and a passfile this module can see (passfile= in
// the URL, or PGPASSFILE) must be the gateway user's alone: libpq itself only
// warns about one others can read and then ignores it silently.
import { statSync } from 'node:fs'
import { join } from 'node:path'
import type Database from 'better-sqlite3'
import { openLedgerDatabase } from './ledger/index.js'
import type { LeaseFor } from './cluster-jobs.js'
import { openPgConnection, redactedUrl, type PgConnection } from './postgres/connection.js'
import { pgLeases } from './postgres/lease.js'
import { createPgSqlDatabase } from './postgres/sql-database.js'
import type { SqlDatabase } from './sql/database.js'

export const DB_FILE_NAME = 'gateway.sqlite'
/**
 * How long a background job's lease lasts without renewal: its holder renews
 * at a third of it, and a gateway that died hands its jobs over after at most
 * this long.
 */
export const JOB_LEASE_TTL_MS = 30_000

export interface GatewayStorage {
  readonly engine: 'sqlite' | 'postgres'
  readonly db: SqlDatabase
  /** The SQLite connection, for what only a file has (online backups); undefined on PostgreSQL. */
  readonly sqlite: Database.Database | undefined
  /** The background jobs' leases when gateways share the database (PostgreSQL); undefined: this gateway is the only one. */
  readonly leaseFor: LeaseFor | undefined
  /** For logs and errors: the file, or the URL without credentials. */
  readonly where: string
  /** Whether the database answers a read now. */
  healthy(): boolean
  /**
   * What an operator should fix that does not stop the gateway (logged as
   * warnings at the start): a PostgreSQL database whose text sorts by a
   * language's rules instead of by bytes, as SQLite and the tests sort.
   */
  advisories(): string[]
  close(): void
}

export class StorageConfigError extends Error {
  override name = 'StorageConfigError'
}

export interface StorageSettings {
  dataDir: string
  /** config.store: a postgres:// URL, or undefined for the SQLite file. */
  store?: string | undefined
  /** The environment libpq reads (PGPASSFILE); default process.env. */
  env?: NodeJS.ProcessEnv
}

/** Opens the gateway's database as `settings` say; a store URL that would leak or cannot work is refused before any connection. */
export function openGatewayStorage(settings: StorageSettings): GatewayStorage {
  if (settings.store === undefined) return sqliteStorage(join(settings.dataDir, DB_FILE_NAME))
  const url = checkedStoreUrl(settings.store, settings.env ?? process.env)
  // The leases get a connection of their own: a lease statement on the ledger's connection would join its open batch.
  return postgresStorage(openPgConnection({ url }), openPgConnection({ url }), redactedUrl(url))
}

/** The URL as given, once it holds no password and any passfile it leads to is private. */
export function checkedStoreUrl(store: string, env: NodeJS.ProcessEnv): string {
  let url: URL
  try {
    url = new URL(store)
  } catch {
    throw new StorageConfigError('store must be a URL such as postgres://wristpay@127.0.0.1:5432/wristpay')
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new StorageConfigError(`store must be a postgres:// URL, not ${url.protocol}//`)
  if (url.password !== '' || url.searchParams.has('password'))
    throw new StorageConfigError(
      `store ${redactedUrl(store)} carries a password: put it in a passfile of mode 0600 (~/.pgpass of the gateway's user, PGPASSFILE, or passfile= in the URL) and leave it out of the URL`,
    )
  if (url.pathname === '' || url.pathname === '/') throw new StorageConfigError(`store ${redactedUrl(store)} names no database: postgres://user@host:port/DATABASE`)
  const passfile = url.searchParams.get('passfile') ?? env.PGPASSFILE
  if (passfile !== undefined && passfile !== '') {
    let mode: number
    try {
      mode = statSync(passfile).mode
    } catch (error) {
      throw new StorageConfigError(`the PostgreSQL passfile ${passfile} cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
    }
    if ((mode & 0o077) !== 0) throw new StorageConfigError(`the PostgreSQL passfile ${passfile} is open to others (mode ${(mode & 0o777).toString(8)}): chmod 600 it`)
  }
  return store
}

function sqliteStorage(file: string): GatewayStorage {
  const db = openLedgerDatabase(file)
  return {
    engine: 'sqlite',
    db,
    sqlite: db,
    leaseFor: undefined,
    where: file,
    healthy() {
      try {
        return db.open && db.prepare('SELECT 1 AS one').get() !== undefined
      } catch {
        return false
      }
    },
    advisories: () => [],
    close: () => db.close(),
  }
}

/** libc collations that compare UTF-8 text by bytes (code points), as SQLite does. */
const BYTE_ORDER_COLLATIONS = new Set(['C', 'POSIX', 'C.UTF-8', 'C.utf8'])

function postgresStorage(connection: PgConnection, leaseConnection: PgConnection, where: string): GatewayStorage {
  const db = createPgSqlDatabase(connection)
  let closed = false
  return {
    engine: 'postgres',
    db,
    sqlite: undefined,
    leaseFor: pgLeases(leaseConnection, { ttlMs: JOB_LEASE_TTL_MS }),
    where,
    healthy() {
      if (closed) return false
      try {
        // Inside a transaction of its own code the connection is busy with that; outside, one round trip.
        return db.inTransaction || connection.query<{ one: number }>('SELECT 1 AS one')[0]?.one === 1
      } catch {
        return false
      }
    },
    advisories() {
      const [row] = connection.query<{ provider: string; collation: string; icu: string | null }>(
        'SELECT datlocprovider AS provider, datcollate AS collation, daticulocale AS icu FROM pg_database WHERE datname = current_database()',
      )
      const locale = row === undefined ? 'unknown' : row.provider === 'i' ? `ICU ${row.icu ?? ''}` : row.collation
      return row !== undefined && row.provider === 'c' && BYTE_ORDER_COLLATIONS.has(row.collation)
        ? []
        : [
            `the database sorts text by the locale ${JSON.stringify(locale)}, not by bytes: lists sorted by kiosk id or uid come out in another order than on SQLite. Create it with the C collation (createdb --locale=C --template=template0)`,
          ]
    },
    close() {
      if (closed) return
      closed = true
      leaseConnection.close()
      connection.close()
    },
  }
}
