// The gateway database's schema, all of it: every migration in order, with
// its version and why it exists. This list alone decides what runs and in which
// order; meta.schema_version records how far a database has come. A shipped
// step is history: to change a table, add a step at the end, never edit one above.
//
// Versions 1 and 2 are the ledger's schema versions as they were stored
// before this list existed. Until then, the other modules' tables were made
// (CREATE TABLE IF NOT EXISTS) and columns added in place on every open, so a
// database at version 2 may already hold any of what steps 3 to 12 make: those
// steps look before they add, and so adopt it as it is.
//
// The ledger's steps live in ledger/schema.ts and ledger/retirement.ts; the
// other modules' tables are defined here (those modules import only
// migrateGatewayDatabase from here, and call it when they are made).
import Database from 'better-sqlite3'
import type { SqlDatabase } from './sql/database.js'
import { migratePgDatabase } from './postgres/migrations.js'
import { pgConnectionOf } from './postgres/sql-database.js'
import { PAYOUT_RUNS_DDL } from './payouts/schema.js'
import { BANK_IMPORT_DDL } from './bank/import-schema.js'
import { CARD_REFUNDS_DDL } from './payments/refund-schema.js'
import { REFUND_RUNS_DDL } from './payments/refund-run-schema.js'
import { DISPUTES_DDL } from './payments/disputes-schema.js'
import { RECONCILIATION_DDL } from './payments/reconciliation-schema.js'
import { addSepaChecks } from './payments/sepa-check-schema.js'
import { addCardPaymentRef, addExpenseAccountKind, addOfflineCounting, addTransactionColumns, LEDGER_V1_DDL, ledgerVersion2 } from './ledger/schema.js'
import { addRetirementColumns } from './registry/retirement.js'
import { addKioskEnrollment } from './registry/enrollment.js'
import { addKioskKeyHistory } from './registry/kiosk-keys.js'
import { runMigrations, type Migration, type SchemaVersionStore } from './migration-runner.js'

// gateway/sun/tag-check.ts
const SUN_COUNTERS_DDL = `
CREATE TABLE IF NOT EXISTS tag_sun_counters (
  uid TEXT PRIMARY KEY,
  -- SDMReadCtr of the last SUN message used by a recorded transaction of this tag.
  last_counter INTEGER NOT NULL CHECK (last_counter BETWEEN 0 AND 16777215)
) STRICT;
`

// gateway/secret-store.ts
const GATEWAY_SECRETS_DDL = `CREATE TABLE IF NOT EXISTS gateway_secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT`

// gateway/portal-backend.ts
const PORTAL_DDL = `
CREATE TABLE IF NOT EXISTS portal_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

-- One row per wristband seen by the portal: a stable integer id (the seed's ids
-- are integers) and the payout details the guest registered.
CREATE TABLE IF NOT EXISTS portal_customers (
  id INTEGER PRIMARY KEY,
  uid TEXT NOT NULL UNIQUE,
  iban TEXT,
  account_name TEXT,
  email TEXT,
  donation_cents INTEGER NOT NULL DEFAULT 0 CHECK (donation_cents >= 0),
  donate_all INTEGER NOT NULL DEFAULT 0 CHECK (donate_all IN (0, 1)),
  has_entered_info INTEGER NOT NULL DEFAULT 0 CHECK (has_entered_info IN (0, 1)),
  updated_at INTEGER
) STRICT;

-- A token is valid only while its session row is: logout sets revoked_at.
CREATE TABLE IF NOT EXISTS portal_sessions (
  jti TEXT PRIMARY KEY,
  uid TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS portal_sessions_by_expiry ON portal_sessions(expires_at);

-- Online top-ups started from the portal: order_uuid is the guest's handle, the
-- row says whose it is, so nobody can poll another guest's checkout.
CREATE TABLE IF NOT EXISTS portal_checkouts (
  order_uuid TEXT PRIMARY KEY,
  uid TEXT NOT NULL,
  checkout_id TEXT NOT NULL UNIQUE,
  amount INTEGER NOT NULL CHECK (amount > 0),
  created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS portal_blobs (
  id TEXT PRIMARY KEY,
  content_type TEXT NOT NULL,
  data BLOB NOT NULL
) STRICT;
`

// gateway/payments/online-topups.ts
const ONLINE_TOPUPS_DDL = `
CREATE TABLE IF NOT EXISTS online_topups (
  id TEXT PRIMARY KEY,
  provider TEXT NOT NULL,
  provider_checkout_id TEXT,
  uid TEXT NOT NULL,
  amount INTEGER NOT NULL CHECK (amount > 0),
  currency TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('creating', 'pending', 'paid', 'failed', 'attention')),
  redirect_url TEXT,
  booking_id TEXT,
  attention_reason TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  checked_at INTEGER NOT NULL DEFAULT 0,
  UNIQUE (provider, provider_checkout_id),
  CHECK ((status = 'paid') = (booking_id IS NOT NULL))
) STRICT;
CREATE INDEX IF NOT EXISTS online_topups_open ON online_topups(status, checked_at);
CREATE INDEX IF NOT EXISTS online_topups_by_uid ON online_topups(uid, created_at);
`

// gateway/card-terminal/store.ts: terminal registry, registration codes, Stripe
// locations and customers, stored cards, and card payments (one row per attempt
// to pay a cart). The ledger owns the money; a payment row only records which
// ledger refs it booked, so every step can be repeated after a crash.
const CARD_TERMINAL_DDL = `
-- One Stripe Terminal location per wristpay location (a booth).
CREATE TABLE IF NOT EXISTS card_locations (
  location TEXT PRIMARY KEY,
  stripe_location_id TEXT NOT NULL UNIQUE
) STRICT;

CREATE TABLE IF NOT EXISTS card_terminals (
  terminal_id TEXT PRIMARY KEY,
  location TEXT NOT NULL REFERENCES card_locations(location),
  label TEXT NOT NULL,
  -- The principal that registered it ('kiosk:bar-1', 'operator:anna').
  registered_by TEXT NOT NULL,
  registered_at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS card_terminals_by_location ON card_terminals(location);

-- A registration code works once: its SHA-256 stays here after deregistration.
CREATE TABLE IF NOT EXISTS card_registration_codes (
  code_hash TEXT PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('pending', 'used')),
  terminal_id TEXT,
  at INTEGER NOT NULL
) STRICT;

-- A wristband (the seed's "user") and its Stripe customer, for stored cards.
CREATE TABLE IF NOT EXISTS card_customers (
  user TEXT PRIMARY KEY,
  stripe_customer_id TEXT NOT NULL UNIQUE
) STRICT;

-- The seed's "bankcard": a stored Stripe payment method of a user. No card data, only the id.
CREATE TABLE IF NOT EXISTS card_bankcards (
  id INTEGER PRIMARY KEY,
  payment_method TEXT NOT NULL UNIQUE,
  user TEXT NOT NULL,
  partner TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;

-- One row per attempt to pay a cart. owner + cart name the cart (cart ids are
-- chosen by the caller, so they are scoped to it); a failed attempt may be
-- followed by a new one for the same cart.
CREATE TABLE IF NOT EXISTS card_payments (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  cart TEXT NOT NULL,
  attempt INTEGER NOT NULL CHECK (attempt >= 1),
  location TEXT NOT NULL,
  currency TEXT NOT NULL,
  card_cents INTEGER NOT NULL CHECK (card_cents > 0),
  balance_cents INTEGER NOT NULL CHECK (balance_cents >= 0),
  wristband TEXT,
  payment_type TEXT NOT NULL CHECK (payment_type IN ('card', 'terminal')),
  -- creating: balance part booked (if any), PaymentIntent not yet known;
  -- open: PaymentIntent created, waiting for the card;
  -- succeeded: card part booked; failed: PaymentIntent cancelled or never made, balance part refunded.
  state TEXT NOT NULL CHECK (state IN ('creating', 'open', 'succeeded', 'failed')),
  stripe_payment_intent_id TEXT UNIQUE,
  order_id TEXT,
  error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (owner, cart, attempt),
  CHECK (balance_cents = 0 OR wristband IS NOT NULL),
  CHECK ((state = 'succeeded') = (order_id IS NOT NULL)),
  CHECK (state IN ('creating', 'failed') OR stripe_payment_intent_id IS NOT NULL)
) STRICT;
CREATE INDEX IF NOT EXISTS card_payments_unsettled ON card_payments(state) WHERE state IN ('creating', 'open');
`

// gateway/users-payments/store.ts
const USERS_API_DDL = `
CREATE TABLE IF NOT EXISTS users_api_users (
  id TEXT PRIMARY KEY,
  user_name TEXT NOT NULL,
  -- Lower-cased; NULL once the user is deleted, so the address can register again.
  email TEXT UNIQUE,
  password_hash TEXT NOT NULL,
  customer_id TEXT UNIQUE,
  -- The wristband this user's prepaid money went to; one user per wristband.
  linked_uid TEXT UNIQUE,
  linked_at INTEGER,
  created_at INTEGER NOT NULL,
  deleted_at INTEGER,
  -- The account that created this one with POST /user (it may manage it); NULL when registered.
  created_by TEXT
) STRICT;

CREATE TABLE IF NOT EXISTS users_api_payments (
  seq INTEGER PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users_api_users(id),
  cuid TEXT NOT NULL,
  amount INTEGER NOT NULL CHECK (amount > 0),
  currency TEXT NOT NULL,
  -- NULL while the payment intent is being created at Stripe (written ahead of the call).
  intent_id TEXT UNIQUE,
  status TEXT NOT NULL,
  payment_method TEXT,
  client_secret TEXT,
  booking_id TEXT,
  booked_to TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (user_id, cuid)
) STRICT;

CREATE INDEX IF NOT EXISTS users_api_payments_by_user ON users_api_payments(user_id, seq);
`

/** A step that only runs one SQL text. */
const exec = (sql: string) => (db: Database.Database) => db.exec(sql)

export const GATEWAY_MIGRATIONS: readonly Migration[] = [
  { version: 1, reason: 'the ledger as first released: booths, products, accounts, kiosks, wristbands, transactions, external bookings, postings', up: exec(LEDGER_V1_DDL) },
  {
    version: 2,
    reason: 'kiosk operations: new account kinds (accounts rebuilt), products with kinds and tax, till profiles, staff, cash shifts, line items, debts',
    up: ledgerVersion2,
    rebuildsTables: true,
  },
  { version: 3, reason: 'card top-ups name their payment (transactions.payment_ref, unique): a card payment is booked at most once', up: addCardPaymentRef },
  { version: 4, reason: 'transactions keep the cancel that undid them, the staff member, and the answer extras a resend repeats', up: addTransactionColumns },
  { version: 5, reason: 'the gateway counts offline sales itself (transactions.offline, filled from the envelopes); deposits get their return bound', up: addOfflineCounting },
  { version: 6, reason: 'kiosks and wristbands can be retired; a kiosk key remembers where it came from', up: addRetirementColumns },
  { version: 7, reason: 'NTAG 424 tags: the last SUN counter used per tag, so a replayed tap is refused', up: exec(SUN_COUNTERS_DDL) },
  { version: 8, reason: "the gateway's own generated secrets (gateway_secrets)", up: exec(GATEWAY_SECRETS_DDL) },
  { version: 9, reason: 'the customer portal: its meta, customers, sessions, checkouts and blobs', up: exec(PORTAL_DDL) },
  { version: 10, reason: 'online top-ups through payment providers (online_topups)', up: exec(ONLINE_TOPUPS_DDL) },
  { version: 11, reason: "the card-terminal API's tables; its own version record (card_meta) is retired, the version lives in meta", up: cardTerminalTables },
  { version: 12, reason: 'the users-and-payments API: users (with who created them) and their payments', up: usersApiTables },
  { version: 13, reason: 'payout runs: runs, the guests in each with their payout data and end-to-end ids, and every operator action on them', up: exec(PAYOUT_RUNS_DDL) },
  { version: 14, reason: 'bank import jobs (seed 003) with their transactions and checksums, and the transfer codes of wristbands for bank top-ups', up: exec(BANK_IMPORT_DDL) },
  { version: 15, reason: 'refunds to the card: the requests of guests and operators and their parts, one per online top-up the money goes back to', up: exec(CARD_REFUNDS_DDL) },
  { version: 16, reason: 'disputes (chargebacks) on online top-ups: each dispute once, its booking, debt and block, and where polling the provider goes on from', up: exec(DISPUTES_DDL) },
  { version: 17, reason: 'SEPA checks of payout data (does the holder name match the IBAN?) per guest, and the check state of each payout run item', up: addSepaChecks },
  { version: 18, reason: 'provider payout reconciliation: each booked provider payout with what it contained, and the latest reconciliation report per provider', up: exec(RECONCILIATION_DDL) },
  {
    version: 19,
    reason: "a new account kind, expense (what the event pays others: the payment provider's fees); the accounts table is rebuilt for its CHECK",
    up: addExpenseAccountKind,
    rebuildsTables: true,
  },
  { version: 20, reason: 'refund runs: the balances of guests without payout data back to their cards after the event, with four eyes, their items and every operator action', up: exec(REFUND_RUNS_DDL) },
  { version: 21, reason: 'kiosks made through the admin API and enrolled by one-time registration codes (kiosks.origin, kiosks.token_source, kiosk_registration_codes)', up: addKioskEnrollment },
  {
    version: 22,
    reason: "each kiosk's key history (kiosk_key_history: key, from which seq, when, from where) for the audit; seeded with every kiosk's current key from seq 1, since the keys it replaced were never kept",
    up: (db) => addKioskKeyHistory(db),
  },
]

/** The schema version this build writes and understands. */
export const GATEWAY_SCHEMA_VERSION = GATEWAY_MIGRATIONS.length

function cardTerminalTables(db: Database.Database): void {
  db.exec(CARD_TERMINAL_DDL)
  // It held only schema_version = 1, which nothing reads any more.
  db.exec(`DROP TABLE IF EXISTS card_meta`)
}

function usersApiTables(db: Database.Database): void {
  db.exec(USERS_API_DDL)
  // Tables made before created_by existed get it in place.
  const columns = db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('users_api_users')`).all()
  if (!columns.some((c) => c.name === 'created_by')) db.exec(`ALTER TABLE users_api_users ADD COLUMN created_by TEXT`)
  db.exec(`CREATE INDEX IF NOT EXISTS users_api_users_by_creator ON users_api_users(created_by) WHERE created_by IS NOT NULL`)
}

/** meta.schema_version, where the ledger has always kept it; 0 while there is none. */
export const gatewaySchemaVersion: SchemaVersionStore = {
  read(db) {
    const hasMeta = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get() !== undefined
    if (!hasMeta) return 0
    const row = db.prepare<[], { value: string }>(`SELECT value FROM meta WHERE key = 'schema_version'`).get()
    if (row === undefined) return 0
    const version = Number(row.value)
    if (!Number.isSafeInteger(version) || version < 0) throw new Error(`the gateway database's meta.schema_version is not a version: ${JSON.stringify(row.value)}`)
    return version
  },
  write(db, version) {
    db.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`).run(String(version))
  },
}

/** What an operator reads when the database is newer than the build. */
export function gatewayTooNewMessage(found: number, known: number): string {
  return `ledger database has schema version ${found}, this build knows ${known}: a newer wristpay gateway has written it; run that build (or a newer one), or restore a backup made by this one`
}

/**
 * Brings the gateway database to GATEWAY_SCHEMA_VERSION; refuses a database
 * from a newer build (SchemaTooNewError) without touching it. Idempotent and
 * cheap when up to date, so every module's factory calls it.
 */
export function migrateGatewayDatabase(db: SqlDatabase): void {
  // The modules take any SqlDatabase: on PostgreSQL its own steps
  // (postgres/migrations.ts), which the schema parity test keeps in step.
  const pg = pgConnectionOf(db)
  if (pg !== undefined) {
    migratePgDatabase(pg)
    return
  }
  if (!(db instanceof Database)) throw new Error('the gateway database is neither SQLite (better-sqlite3) nor the PostgreSQL store')
  runMigrations(db, { migrations: GATEWAY_MIGRATIONS, versions: gatewaySchemaVersion, tooNewMessage: gatewayTooNewMessage })
}
