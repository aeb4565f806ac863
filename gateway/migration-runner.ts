// Applies a database's list of schema migrations (gateway/migrations.ts is the
// gateway's). Each pending step runs in its own IMMEDIATE transaction together
// with writing its version, so a crash or a failing step leaves the database
// at the last whole step, never half-way. Cheap when up to date (one read), so
// every factory that needs the tables may call it.
import type Database from 'better-sqlite3'

export interface Migration {
  /** Strictly increasing, from 1; the schema version a database has after this step. */
  version: number
  /** One line: why this step exists. */
  reason: string
  up(db: Database.Database): void
  /**
   * The step rebuilds a table (SQLite's documented way: create, copy, drop,
   * rename): foreign keys are off around its transaction and checked before it commits.
   */
  rebuildsTables?: boolean
}

/** Where a database keeps its schema version; 0 for a database no step has run on. */
export interface SchemaVersionStore {
  read(db: Database.Database): number
  write(db: Database.Database, version: number): void
}

/** The database was written by a newer build: it is refused, and left as it is. */
export class SchemaTooNewError extends Error {
  constructor(
    message: string,
    readonly found: number,
    readonly known: number,
  ) {
    super(message)
    this.name = 'SchemaTooNewError'
  }
}

export interface MigrationPlan {
  migrations: readonly Migration[]
  versions: SchemaVersionStore
  /** The refusal's text for a database at `found` when this build knows up to `known`. */
  tooNewMessage(found: number, known: number): string
}

/** Throws unless the versions count 1, 2, 3, ... in order (a gap or a repeat is a mistake in the list). */
export function checkMigrationList(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration list: entry ${i + 1} has version ${m.version}; versions must count up from 1 without gaps`)
    if (m.reason.trim() === '') throw new Error(`migration ${m.version} has no reason`)
  })
}

/** Brings the database to the last version of the list; returns the versions before and after. */
export function runMigrations(db: Database.Database, plan: MigrationPlan): { from: number; to: number } {
  const { migrations, versions } = plan
  checkMigrationList(migrations)
  const latest = migrations.length
  const refuseNewer = (found: number) => {
    if (found > latest) throw new SchemaTooNewError(plan.tooNewMessage(found, latest), found, latest)
  }
  const from = versions.read(db)
  refuseNewer(from)
  if (from === latest) return { from, to: from }
  // Foreign keys cannot be switched off inside a transaction, and a step must commit on its own.
  if (db.inTransaction) throw new Error(`the database is at schema version ${from} of ${latest}: migrations cannot run inside a transaction`)
  for (const migration of migrations.filter((m) => m.version > from)) {
    const foreignKeysWereOn = db.pragma('foreign_keys', { simple: true }) === 1
    if (migration.rebuildsTables) db.pragma('foreign_keys = OFF')
    try {
      db.transaction(() => {
        // Read again under the write lock: another connection may have run this step meanwhile.
        const now = versions.read(db)
        refuseNewer(now)
        if (now >= migration.version) return
        migration.up(db)
        if (migration.rebuildsTables) {
          const broken = db.pragma('foreign_key_check') as unknown[]
          if (broken.length > 0) throw new Error(`migration ${migration.version} left ${broken.length} broken foreign keys`)
        }
        versions.write(db, migration.version)
      }).immediate()
    } catch (err) {
      if (err instanceof SchemaTooNewError) throw err
      throw new Error(`schema migration ${migration.version} (${migration.reason}) failed, the database stays at version ${versions.read(db)}: ${(err as Error).message}`, { cause: err })
    } finally {
      if (migration.rebuildsTables && foreignKeysWereOn) db.pragma('foreign_keys = ON')
    }
  }
  return { from, to: versions.read(db) }
}
