// The databases a module's tests run on: SQLite always, and PostgreSQL (the
// SqlDatabase facade over a private server on loopback) where its binaries
// are installed, so that one test body holds both engines to the same
// behaviour. The server starts once per test file, on first use; every
// open() is a fresh database, dropped when the test ends.
import type { Test } from 'tap'
import { openLedgerDatabase } from '../ledger/index.js'
import { openPgConnection } from '../postgres/connection.js'
import { createPgSqlDatabase } from '../postgres/sql-database.js'
import type { SqlDatabase } from '../sql/database.js'
import { postgresForFile } from './postgres-server.js'

export interface SqlEngine {
  readonly name: 'sqlite' | 'postgres'
  /** A fresh, empty database, closed (and on PostgreSQL dropped) when `t` ends. */
  open(t: Test): SqlDatabase
  /** PostgreSQL only: `count` connections to one fresh database, as several gateways have (closed and dropped when `t` ends). */
  openShared?(t: Test, count: number): SqlDatabase[]
}

/** SQLite, and PostgreSQL when installed (a comment says when it is not). The file's server stops when `file` ends. */
export async function sqlEngines(file: Test): Promise<SqlEngine[]> {
  const sqlite: SqlEngine = {
    name: 'sqlite',
    open(t) {
      const db = openLedgerDatabase(':memory:')
      t.teardown(() => db.close())
      return db
    },
  }
  // Without the binaries it says so in a comment, and the tests run on SQLite only.
  const pg = await postgresForFile(file)
  if (pg === undefined) return [sqlite]
  const { server } = pg
  const postgres: SqlEngine = {
    name: 'postgres',
    open(t) {
      const { name, url } = pg.freshDatabase('engine')
      const connection = openPgConnection({ url })
      t.teardown(() => {
        connection.close()
        server.dropDatabase(name)
      })
      return createPgSqlDatabase(connection)
    },
    openShared(t, count) {
      const { name, url } = pg.freshDatabase('engine')
      const connections = Array.from({ length: count }, () => openPgConnection({ url }))
      t.teardown(() => {
        for (const connection of connections) connection.close()
        server.dropDatabase(name)
      })
      return connections.map(createPgSqlDatabase)
    },
  }
  return [sqlite, postgres]
}
