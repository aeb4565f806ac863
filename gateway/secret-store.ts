// The one store of the secrets the gateway generates for itself (token keys,
// the PIN lookup key, its own signing and sealing keys): kept in a table of the
// gateway's database and made on first use, so a restart keeps every token,
// PIN and pinned key valid. Each kind stays in the table it has always lived
// in (an existing database must find its secrets where it put them); this
// module is the only code that reads or writes them.
import { randomBytes } from 'node:crypto'
import type { SqlDatabase } from './sql/database.js'
import { migrateGatewayDatabase } from './migrations.js'

/**
 * The tables secrets live in, their key column and how a value is kept (TEXT:
 * bytes as base64; BLOB: raw). All three come from the gateway database's
 * migrations (gateway/migrations.ts): the ledger's meta, the portal's meta, gateway_secrets.
 */
const TABLES = {
  meta: { keyColumn: 'key', blob: false },
  portal_meta: { keyColumn: 'key', blob: false },
  gateway_secrets: { keyColumn: 'name', blob: true },
} as const

export type SecretTable = keyof typeof TABLES

export interface SecretStore {
  /** The random bytes kept under `name`; `length` fresh ones, stored now, if there are none yet. */
  bytes(name: string, length: number): Buffer
  /** The bytes kept under `name`, or undefined; never makes any. */
  peekBytes(name: string): Buffer | undefined
  /** The text (a PEM key, ...) kept under `name`; make()'s, stored now, if there is none yet. */
  text(name: string, make: () => string): string
  /** Drops what is kept under `name` (a secret that is configured now must not linger in the database). */
  forget(name: string): void
}

export function createSecretStore(db: SqlDatabase, table: SecretTable): SecretStore {
  const { keyColumn, blob } = TABLES[table]
  migrateGatewayDatabase(db)
  const select = db.prepare<[string], { value: string | Buffer }>(`SELECT value FROM ${table} WHERE ${keyColumn} = ?`)
  // First writer wins, then everybody reads back: two processes racing on a new database end with one secret.
  const insert = db.prepare<[string, string | Buffer]>(`INSERT INTO ${table} (${keyColumn}, value) VALUES (?, ?) ON CONFLICT(${keyColumn}) DO NOTHING`)
  const remove = db.prepare<[string]>(`DELETE FROM ${table} WHERE ${keyColumn} = ?`)

  const toBytes = (value: string | Buffer): Buffer => (Buffer.isBuffer(value) ? value : Buffer.from(value, 'base64'))
  const toText = (value: string | Buffer): string => (Buffer.isBuffer(value) ? value.toString('utf8') : value)
  const loadOrCreate = (name: string, make: () => string | Buffer): string | Buffer => {
    const row = select.get(name)
    if (row !== undefined) return row.value
    insert.run(name, make())
    return select.get(name)!.value
  }

  return {
    bytes(name, length) {
      return toBytes(loadOrCreate(name, () => (blob ? randomBytes(length) : randomBytes(length).toString('base64'))))
    },
    peekBytes(name) {
      const row = select.get(name)
      return row === undefined ? undefined : toBytes(row.value)
    },
    text(name, make) {
      return toText(loadOrCreate(name, () => (blob ? Buffer.from(make(), 'utf8') : make())))
    },
    forget(name) {
      remove.run(name)
    },
  }
}
