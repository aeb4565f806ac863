// The engines a whole-ledger test world (makeWorld, refund-world.ts) runs on:
// a SQLite file always, and a PostgreSQL database where the binaries are
// installed, so that one test body holds the ledger and the payment modules on
// it to the same money on both. The file's PostgreSQL server starts once
// (postgresForFile); each world gets a fresh database, a copy of a template
// migrated once per file, dropped when its test ends. A world can close its
// connection and connect again to the same database, as a restarted gateway
// does (refund-world's reopen()).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { openLedgerDatabase } from '../ledger/db.js'
import { migrateGatewayDatabase } from '../migrations.js'
import { openPgConnection } from '../postgres/connection.js'
import { createPgSqlDatabase } from '../postgres/sql-database.js'
import type { SqlDatabase } from '../sql/database.js'
import { passfileUrl, postgresForFile } from './postgres-server.js'

export type EngineName = 'sqlite' | 'postgres'

/** One open connection to a world's database. */
export interface WorldConnection {
  readonly db: SqlDatabase
  close(): void
}

/** A world's database, which outlives its connections until its test ends. */
export interface WorldDatabase {
  readonly engine: EngineName
  /** A new connection to this database (closed by the caller). */
  connect(): WorldConnection
  /**
   * What a whole gateway's config `store` says to run on this database, its password in a passfile in `dir`;
   * undefined on SQLite, where a gateway keeps its own file in its data folder.
   */
  gatewayStore(dir: string): string | undefined
}

export interface WorldEngine {
  readonly name: EngineName
  /** A fresh, empty database, removed when `t` ends. */
  database(t: Pick<Test, 'teardown'>): WorldDatabase
}

/** A SQLite file in a temporary folder of its own. */
export const sqliteWorlds: WorldEngine = {
  name: 'sqlite',
  database(t) {
    const dir = mkdtempSync(join(tmpdir(), 'wristpay-world-'))
    const path = join(dir, 'gateway.sqlite')
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    return {
      engine: 'sqlite',
      connect() {
        const db = openLedgerDatabase(path)
        return { db, close: () => db.close() }
      },
      gatewayStore: () => undefined,
    }
  },
}

/** SQLite, and PostgreSQL when installed (postgresForFile comments when it is not); the server stops when `file` ends. */
export async function worldEngines(file: Test): Promise<WorldEngine[]> {
  const postgres = await postgresForFile(file)
  if (postgres === undefined) return [sqliteWorlds]
  // Migrated once: a copy of a migrated database costs a few milliseconds, the migration itself far more.
  const template = postgres.freshDatabase('world_template')
  const connection = openPgConnection({ url: template.url })
  try {
    migrateGatewayDatabase(createPgSqlDatabase(connection))
  } finally {
    connection.close()
  }
  let databases = 0
  return [
    sqliteWorlds,
    {
      name: 'postgres',
      database(t) {
        const name = `world_${++databases}`
        const url = postgres.server.createDatabase(name, template.name)
        t.teardown(() => postgres.server.dropDatabase(name))
        return {
          engine: 'postgres',
          connect() {
            const pg = openPgConnection({ url })
            return { db: createPgSqlDatabase(pg), close: () => pg.close() }
          },
          gatewayStore: (dir) => passfileUrl(url, dir),
        }
      },
    },
  ]
}

/** Registers `body` as one test of `file` per engine, each named `{engine}: {name}`. */
export function testOnEngines(file: Test, engines: readonly WorldEngine[], name: string, body: (t: Test, engine: WorldEngine) => Promise<void>): void {
  for (const engine of engines) file.test(`${engine.name}: ${name}`, (t) => body(t, engine))
}
