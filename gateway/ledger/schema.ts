// The ledger's SQLite schema. Money is INTEGER cents; the transactions table
// keeps every recorded envelope (accepted or rejected) so the kiosk chains can
// be re-verified and any answer repeated exactly. Money that does not come
// from a kiosk (online top-ups, card payments, prepayments, payouts,
// donations) is an external booking; postings belong to a kiosk transaction
// or to an external booking (checkInvariants checks which).
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
  kind TEXT NOT NULL CHECK (kind IN ('customer', 'revenue', 'cash', 'clearing', 'prepaid', 'donation', 'payout')),
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
  -- HMAC-SHA256(pin secret, normalised PIN), hex: the portal finds a wristband by its PIN alone.
  pin_lookup TEXT NOT NULL UNIQUE,
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
  -- The kiosk's booth when the transaction was booked (a re-import may move the kiosk).
  booth TEXT NOT NULL,
  -- Random and unguessable; the public receipt link of an accepted transaction.
  receipt_id TEXT UNIQUE,
  UNIQUE (kiosk, seq),
  CHECK ((status = 'accepted') = (reason IS NULL)),
  CHECK ((status = 'accepted') = (receipt_id IS NOT NULL))
) STRICT;

CREATE TABLE IF NOT EXISTS external_bookings (
  id TEXT PRIMARY KEY,
  -- The caller's idempotency key ('stripe:pi_123'): a ref is booked at most once.
  ref TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('topup_online', 'topup_card', 'prepayment', 'prepaid_transfer', 'card_payment', 'payout', 'donation', 'refund')),
  -- Sum of the positive postings.
  amount INTEGER NOT NULL CHECK (amount > 0),
  customer TEXT REFERENCES wristbands(uid),
  meta TEXT NOT NULL,
  -- SHA-256 of kind, customer and postings: tells a replay from a conflicting reuse of the ref.
  content_hash TEXT NOT NULL,
  receipt_id TEXT NOT NULL UNIQUE,
  booked_at INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS postings (
  id INTEGER PRIMARY KEY,
  -- id of a kiosk transaction or of an external booking (no foreign key: it may be either).
  tx_id TEXT NOT NULL,
  account TEXT NOT NULL REFERENCES accounts(id),
  amount INTEGER NOT NULL
) STRICT;

CREATE INDEX IF NOT EXISTS postings_by_tx ON postings(tx_id);
CREATE INDEX IF NOT EXISTS postings_by_account ON postings(account);
CREATE INDEX IF NOT EXISTS transactions_by_tag ON transactions(tag);
CREATE INDEX IF NOT EXISTS external_bookings_by_customer ON external_bookings(customer);
`

/** Creates the schema if missing; refuses a database written by a newer schema. */
export function migrate(db: Database.Database): void {
  db.exec(DDL)
  addCardPaymentRef(db)
  const row = db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string } | undefined
  if (row === undefined) {
    db.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?)`).run(String(SCHEMA_VERSION))
  } else if (Number(row.value) !== SCHEMA_VERSION) {
    throw new Error(`ledger database has schema version ${row.value}, this build knows ${SCHEMA_VERSION}`)
  }
}

/**
 * Card top-ups (topup_card) name the terminal's payment; `payment_ref` holds
 * it on the accepted row, and the UNIQUE index makes a second booking of the
 * same card payment impossible whatever the code above it does. Additive, so
 * databases made before it get the column in place.
 */
function addCardPaymentRef(db: Database.Database): void {
  const columns = db.prepare(`SELECT name FROM pragma_table_info('transactions')`).all() as Array<{ name: string }>
  if (!columns.some((c) => c.name === 'payment_ref')) db.exec(`ALTER TABLE transactions ADD COLUMN payment_ref TEXT`)
  db.exec(`CREATE UNIQUE INDEX IF NOT EXISTS transactions_by_payment_ref ON transactions(payment_ref) WHERE payment_ref IS NOT NULL`)
}
