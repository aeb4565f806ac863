// The kiosk database's schema (the outbox file, which the card-payment records
// share): every migration in order, with its version and why it exists, and the
// small runner that applies them. This list alone decides what runs and in which
// order; PRAGMA user_version records how far a file has come. A shipped step is
// history: to change a table, add a step at the end, never edit one above.
//
// Version 1 is what the outbox stored before this list existed. Until then
// last_sale and card_payments were made (CREATE TABLE IF NOT EXISTS) on every
// open, so a file at version 1 may hold them already: steps 2 and 3 adopt it.
//
// (The gateway has its own list and runner, gateway/migrations.ts: the daemon
// and the gateway share no code but device-protocol/.)
import type Database from 'better-sqlite3'

export interface KioskMigration {
  /** Strictly increasing, from 1: the user_version a file has after this step. */
  version: number
  /** One line: why this step exists. */
  reason: string
  up(db: Database.Database): void
}

export const KIOSK_MIGRATIONS: readonly KioskMigration[] = [
  {
    version: 1,
    reason: 'the outbox: its meta, the chain head, pending and answered entries',
    up: (db) =>
      db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS chain (
          one INTEGER PRIMARY KEY CHECK (one = 1),
          next_seq INTEGER NOT NULL CHECK (next_seq >= 1),
          last_hash TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS pending (
          seq INTEGER PRIMARY KEY,
          id TEXT NOT NULL UNIQUE,
          envelope TEXT NOT NULL,
          created_at INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS answered (
          n INTEGER PRIMARY KEY AUTOINCREMENT,
          id TEXT NOT NULL UNIQUE,
          seq INTEGER NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
          balance INTEGER,
          reason TEXT,
          answered_at INTEGER NOT NULL
        );`),
  },
  {
    version: 2,
    reason: 'the last sale, so the till can cancel it after a restart',
    up: (db) =>
      db.exec(`
        CREATE TABLE IF NOT EXISTS last_sale (
          one INTEGER PRIMARY KEY CHECK (one = 1),
          id TEXT NOT NULL,
          seq INTEGER NOT NULL,
          type TEXT NOT NULL,
          amount INTEGER NOT NULL,
          at INTEGER NOT NULL,
          tag TEXT NOT NULL,
          cancelled INTEGER NOT NULL DEFAULT 0
        );`),
  },
  {
    version: 3,
    reason: 'card-terminal payments of top-ups, one at a time, so an interrupted one is recovered and never booked twice',
    up: (db) =>
      db.exec(`
        CREATE TABLE IF NOT EXISTS card_payments (
          id TEXT PRIMARY KEY,
          uid TEXT NOT NULL,
          tag_type TEXT NOT NULL,
          amount INTEGER NOT NULL CHECK (amount > 0),
          started_at INTEGER NOT NULL,
          state TEXT NOT NULL CHECK (state IN ('open', 'unresolved', 'booked', 'declined', 'aborted', 'not_charged')),
          terminal_id TEXT,
          closed_at INTEGER,
          tx_id TEXT UNIQUE,
          payment_ref TEXT UNIQUE,
          payment TEXT,
          result_code INTEGER,
          resolution TEXT CHECK (resolution IN ('terminal', 'recovered', 'supervisor')),
          note TEXT,
          CHECK ((state = 'booked') = (tx_id IS NOT NULL AND payment_ref IS NOT NULL)),
          CHECK ((state IN ('open', 'unresolved')) = (closed_at IS NULL))
        );
        CREATE INDEX IF NOT EXISTS card_payments_by_state ON card_payments(state);`),
  },
  {
    version: 4,
    reason: 'answered envelopes kept for a while (bytes as signed, with their answer), so a gateway restored from a backup can be sent what it lost',
    // The totals row is kept by triggers, so every delete (pruning, a rebase) counts, and pruning never scans the table.
    up: (db) =>
      db.exec(`
        CREATE TABLE answered_envelopes (
          seq INTEGER PRIMARY KEY,
          id TEXT NOT NULL UNIQUE,
          envelope TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          answered_at INTEGER NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
          balance INTEGER,
          reason TEXT
        );
        CREATE TABLE answered_envelopes_total (
          one INTEGER PRIMARY KEY CHECK (one = 1),
          count INTEGER NOT NULL,
          bytes INTEGER NOT NULL
        );
        INSERT INTO answered_envelopes_total (one, count, bytes) VALUES (1, 0, 0);
        CREATE TRIGGER answered_envelopes_added AFTER INSERT ON answered_envelopes BEGIN
          UPDATE answered_envelopes_total SET count = count + 1, bytes = bytes + length(CAST(NEW.envelope AS BLOB)) WHERE one = 1;
        END;
        CREATE TRIGGER answered_envelopes_removed AFTER DELETE ON answered_envelopes BEGIN
          UPDATE answered_envelopes_total SET count = count - 1, bytes = bytes - length(CAST(OLD.envelope AS BLOB)) WHERE one = 1;
        END;`),
  },
  {
    version: 5,
    reason: 'card reversals: a paid card top-up the gateway refused is reversed at the terminal once, and what the terminal answered is kept',
    // One row per refused topup_card (its transaction id), written before the terminal is asked: a restart never reverses twice.
    up: (db) =>
      db.exec(`
        CREATE TABLE card_reversals (
          tx_id TEXT PRIMARY KEY,
          receipt_number TEXT NOT NULL,
          terminal_id TEXT,
          amount INTEGER NOT NULL,
          refusal TEXT NOT NULL,
          state TEXT NOT NULL CHECK (state IN ('pending', 'reversed', 'declined', 'unknown', 'failed')),
          result_code INTEGER,
          note TEXT,
          started_at INTEGER NOT NULL,
          closed_at INTEGER,
          CHECK ((state = 'pending') = (closed_at IS NULL))
        );`),
  },
  {
    version: 6,
    reason: 'offline sales the gateway booked, with when its answer came, so the kiosk counts its offline caps over the same window as the gateway',
    // Filled from the kept envelopes, so a kiosk updated between two outages still counts what it sold in the first.
    up: (db) =>
      db.exec(`
        CREATE TABLE offline_booked (
          id TEXT PRIMARY KEY,
          uid TEXT NOT NULL,
          amount INTEGER NOT NULL CHECK (amount >= 0),
          answered_at INTEGER NOT NULL
        );
        CREATE INDEX offline_booked_by_answer ON offline_booked(answered_at);
        INSERT INTO offline_booked (id, uid, amount, answered_at)
          SELECT id, json_extract(envelope, '$.tx.tag.uid'), json_extract(envelope, '$.tx.amount'), answered_at FROM answered_envelopes
          WHERE status = 'accepted' AND json_extract(envelope, '$.tx.offline') = 1 AND json_extract(envelope, '$.tx.type') = 'sale';`),
  },
]

/** The user_version this build writes and understands. */
export const KIOSK_SCHEMA_VERSION = KIOSK_MIGRATIONS.length

/** The file was written by a newer kiosk daemon: it is refused, and left as it is. */
export class KioskSchemaTooNewError extends Error {
  constructor(
    what: string,
    readonly found: number,
    readonly known: number,
  ) {
    super(`${what} has schema version ${found}, this daemon knows ${known}: a newer wristpay kiosk daemon has written it; run that build (or a newer one)`)
    this.name = 'KioskSchemaTooNewError'
  }
}

/** Throws unless the versions count 1, 2, 3, ... in order. */
export function checkKioskMigrationList(migrations: readonly KioskMigration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration list: entry ${i + 1} has version ${m.version}; versions must count up from 1 without gaps`)
    if (m.reason.trim() === '') throw new Error(`migration ${m.version} has no reason`)
  })
}

const userVersion = (db: Database.Database) => db.pragma('user_version', { simple: true }) as number

/**
 * Brings the kiosk database to the last version of the list, each pending step
 * in its own IMMEDIATE transaction together with its user_version, so a failing
 * or interrupted step leaves the file at the last whole one. Refuses a file from
 * a newer build without touching it. Idempotent and cheap when up to date.
 * `what` names the file in errors ("outbox /var/lib/...").
 */
export function migrateKioskDatabase(db: Database.Database, what = 'kiosk database', migrations: readonly KioskMigration[] = KIOSK_MIGRATIONS): void {
  checkKioskMigrationList(migrations)
  const latest = migrations.length
  const refuseNewer = (found: number) => {
    if (found > latest) throw new KioskSchemaTooNewError(what, found, latest)
  }
  const from = userVersion(db)
  refuseNewer(from)
  if (from === latest) return
  if (db.inTransaction) throw new Error(`${what} is at schema version ${from} of ${latest}: migrations cannot run inside a transaction`)
  for (const migration of migrations.filter((m) => m.version > from)) {
    try {
      db.transaction(() => {
        // Read again under the write lock: another connection may have run this step meanwhile.
        const now = userVersion(db)
        refuseNewer(now)
        if (now >= migration.version) return
        migration.up(db)
        // user_version lives in the file's header page: it commits or rolls back with the step.
        db.pragma(`user_version = ${migration.version}`)
      }).immediate()
    } catch (err) {
      if (err instanceof KioskSchemaTooNewError) throw err
      const failed = new Error(`${what}: schema migration ${migration.version} (${migration.reason}) failed, the file stays at version ${userVersion(db)}: ${(err as Error).message}`, { cause: err })
      // SQLite's code (SQLITE_CORRUPT, ...) stays visible to callers that tell damage from other failures.
      throw Object.assign(failed, { code: (err as { code?: unknown }).code })
    }
  }
}
