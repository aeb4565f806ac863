// The ledger's SQLite schema. Money is INTEGER cents; the transactions table
// keeps every recorded envelope (accepted or rejected) so the kiosk chains can
// be re-verified and any answer repeated exactly.
import type Database from 'better-sqlite3'

export const SCHEMA_VERSION = 1

const DDL = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS booths (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS products (
  booth TEXT NOT NULL REFERENCES booths(id),
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  price INTEGER NOT NULL CHECK (price >= 0),
  PRIMARY KEY (booth, id)
) STRICT;

CREATE TABLE IF NOT EXISTS accounts (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('customer', 'revenue', 'cash')),
  ref TEXT NOT NULL,
  balance INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE IF NOT EXISTS kiosks (
  id TEXT PRIMARY KEY,
  booth TEXT NOT NULL REFERENCES booths(id),
  token_hash TEXT NOT NULL,
  public_key TEXT,
  sale_allowed INTEGER NOT NULL CHECK (sale_allowed IN (0, 1)),
  topup_allowed INTEGER NOT NULL CHECK (topup_allowed IN (0, 1)),
  next_seq INTEGER NOT NULL DEFAULT 1 CHECK (next_seq >= 1),
  last_hash TEXT NOT NULL,
  config_version INTEGER NOT NULL DEFAULT 0,
  config_hash TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE IF NOT EXISTS wristbands (
  uid TEXT PRIMARY KEY,
  pin_hash TEXT NOT NULL,
  blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
  account TEXT NOT NULL UNIQUE REFERENCES accounts(id)
) STRICT;

CREATE TABLE IF NOT EXISTS transactions (
  id TEXT PRIMARY KEY,
  kiosk TEXT NOT NULL REFERENCES kiosks(id),
  seq INTEGER NOT NULL CHECK (seq >= 1),
  type TEXT NOT NULL,
  tag TEXT NOT NULL,
  amount INTEGER NOT NULL CHECK (amount >= 0),
  status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
  reason TEXT,
  balance_after INTEGER,
  hash TEXT NOT NULL,
  envelope TEXT NOT NULL,
  booked_at INTEGER NOT NULL,
  UNIQUE (kiosk, seq),
  CHECK ((status = 'accepted') = (reason IS NULL))
) STRICT;

CREATE TABLE IF NOT EXISTS postings (
  id INTEGER PRIMARY KEY,
  tx_id TEXT NOT NULL REFERENCES transactions(id),
  account TEXT NOT NULL REFERENCES accounts(id),
  amount INTEGER NOT NULL
) STRICT;

CREATE INDEX IF NOT EXISTS postings_by_tx ON postings(tx_id);
CREATE INDEX IF NOT EXISTS postings_by_account ON postings(account);
CREATE INDEX IF NOT EXISTS transactions_by_tag ON transactions(tag);
`

/** Creates the schema if missing; refuses a database written by a newer schema. */
export function migrate(db: Database.Database): void {
  db.exec(DDL)
  const row = db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string } | undefined
  if (row === undefined) {
    db.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?)`).run(String(SCHEMA_VERSION))
  } else if (Number(row.value) !== SCHEMA_VERSION) {
    throw new Error(`ledger database has schema version ${row.value}, this build knows ${SCHEMA_VERSION}`)
  }
}
