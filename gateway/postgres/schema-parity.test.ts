// The gateway's tables on SQLite (gateway/migrations.ts) and on PostgreSQL
// (postgres/migrations.ts, whose step 3 is gateway-schema.ts) hold the same columns, with
// the same NOT NULL and primary keys, except for the differences written down
// below with their reasons. A SQLite migration that adds or changes a column
// fails this test until PostgreSQL has the same.
import Database from 'better-sqlite3'
import t from 'tap'
import { migrateGatewayDatabase } from '../migrations.js'
import { postgresForFile } from '../testing/postgres-server.js'
import { openPgConnection } from './connection.js'
import { migratePgDatabase, PG_SCHEMA_VERSION } from './migrations.js'
import { createSecretStore } from '../secret-store.js'
import { createPgSqlDatabase } from './sql-database.js'

interface Column {
  notNull: boolean
  primaryKey: boolean
}
type Schema = Map<string, Map<string, Column>>

/** Column keys `table.column` that only one of the engines has, and why. */
const ONLY_SQLITE: Record<string, string> = {
  'kiosks.next_seq': "on PostgreSQL a kiosk's place in its chain is the ledger store's kiosk_cursors row",
  'kiosks.last_hash': "on PostgreSQL a kiosk's place in its chain is the ledger store's kiosk_cursors row",
  'sqlite_sequence.name': "SQLite's own counters of AUTOINCREMENT keys (identity columns on PostgreSQL)",
  'sqlite_sequence.seq': "SQLite's own counters of AUTOINCREMENT keys (identity columns on PostgreSQL)",
}
const ONLY_POSTGRES: Record<string, string> = {
  'transactions.written': "the order rows were written in, which SQLite's rowid gives",
  'external_bookings.written': "the order rows were written in, which SQLite's rowid gives",
  'kiosk_cursors.kiosk': "where each kiosk's chain stands (SQLite keeps it in the kiosks row)",
  'kiosk_cursors.next_seq': "where each kiosk's chain stands (SQLite keeps it in the kiosks row)",
  'kiosk_cursors.last_hash': "where each kiosk's chain stands (SQLite keeps it in the kiosks row)",
  'schema_version.version': "the schema's version (SQLite keeps it in meta)",
  'schema_version.one': 'the key that keeps schema_version at one row',
  'job_leases.name': 'which gateway of several runs a background job (one SQLite gateway runs them all)',
  'job_leases.holder': 'which gateway of several runs a background job (one SQLite gateway runs them all)',
  'job_leases.expires_at': 'which gateway of several runs a background job (one SQLite gateway runs them all)',
  'job_leases.token': 'which gateway of several runs a background job (one SQLite gateway runs them all)',
}

function sqliteSchema(): Schema {
  const db = new Database(':memory:')
  try {
    migrateGatewayDatabase(db)
    const schema: Schema = new Map()
    for (const { name } of db.prepare<[], { name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all()) {
      const columns = db.prepare<[string], { name: string; notnull: number; pk: number }>(`SELECT name, "notnull", pk FROM pragma_table_info(?)`).all(name)
      schema.set(name, new Map(columns.map((c) => [c.name, { notNull: c.notnull === 1 || c.pk > 0, primaryKey: c.pk > 0 }])))
    }
    return schema
  } finally {
    db.close()
  }
}

const pg = await postgresForFile(t)
if (pg !== undefined) {
  const { server } = pg

  t.test('every table has the same columns, NOT NULL and primary keys on SQLite and on PostgreSQL, but for the listed differences', async (t) => {
    const conn = openPgConnection({ url: server.createDatabase('parity') })
    t.teardown(() => conn.close())
    migratePgDatabase(conn)
    const postgres: Schema = new Map()
    const rows = conn.query<{ table_name: string; column_name: string; is_nullable: string; pk: boolean }>(
      `SELECT c.table_name, c.column_name, c.is_nullable,
         EXISTS (SELECT 1 FROM information_schema.table_constraints tc
                 JOIN information_schema.key_column_usage k ON k.constraint_name = tc.constraint_name AND k.table_name = tc.table_name
                 WHERE tc.table_name = c.table_name AND tc.constraint_type = 'PRIMARY KEY' AND k.column_name = c.column_name) AS pk
       FROM information_schema.columns c WHERE c.table_schema = 'public' ORDER BY c.table_name, c.ordinal_position`,
    )
    for (const row of rows) {
      const table = postgres.get(row.table_name) ?? new Map<string, Column>()
      table.set(row.column_name, { notNull: row.is_nullable === 'NO', primaryKey: row.pk })
      postgres.set(row.table_name, table)
    }
    const sqlite = sqliteSchema()

    const differences: string[] = []
    const keys = (schema: Schema) => new Set([...schema].flatMap(([table, columns]) => [...columns.keys()].map((column) => `${table}.${column}`)))
    const columnOf = (schema: Schema, key: string) => schema.get(key.split('.')[0]!)?.get(key.split('.')[1]!)
    const inSqlite = keys(sqlite)
    const inPostgres = keys(postgres)
    for (const key of inSqlite) if (!inPostgres.has(key) && ONLY_SQLITE[key] === undefined) differences.push(`${key} is on SQLite only`)
    for (const key of inPostgres) if (!inSqlite.has(key) && ONLY_POSTGRES[key] === undefined) differences.push(`${key} is on PostgreSQL only`)
    for (const key of inSqlite) {
      const a = columnOf(sqlite, key)
      const b = columnOf(postgres, key)
      if (a === undefined || b === undefined) continue
      if (a.notNull !== b.notNull) differences.push(`${key}: NOT NULL on ${a.notNull ? 'SQLite' : 'PostgreSQL'} only`)
      if (a.primaryKey !== b.primaryKey) differences.push(`${key}: primary key on ${a.primaryKey ? 'SQLite' : 'PostgreSQL'} only`)
    }
    t.same(differences, [], 'no difference beyond the listed ones')
    for (const key of Object.keys(ONLY_SQLITE)) t.ok(inSqlite.has(key) && !inPostgres.has(key), `${key} is still a difference (else take it off the list)`)
    for (const key of Object.keys(ONLY_POSTGRES)) t.ok(inPostgres.has(key) && !inSqlite.has(key), `${key} is still a difference (else take it off the list)`)
  })

  t.test("a module on the PostgreSQL store migrates it through migrateGatewayDatabase, as on SQLite, and keeps what it wrote", async (t) => {
    const conn = openPgConnection({ url: server.createDatabase('modules') })
    t.teardown(() => conn.close())
    const db = createPgSqlDatabase(conn)
    // Every module's factory calls migrateGatewayDatabase; on this store it runs the PostgreSQL steps.
    const secrets = createSecretStore(db, 'gateway_secrets')
    t.same(conn.query<{ version: number }>('SELECT version FROM schema_version'), [{ version: PG_SCHEMA_VERSION }])
    const made = secrets.bytes('pin_secret', 32)
    t.equal(made.length, 32)
    t.same(createSecretStore(db, 'gateway_secrets').bytes('pin_secret', 32), made, 'read back, not made again')
  })
}
