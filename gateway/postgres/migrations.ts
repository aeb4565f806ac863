// The PostgreSQL database's schema: numbered steps, versioned like the SQLite
// schema (gateway/migrations.ts), with the version in schema_version. A
// shipped step is history: to change a table, append a step, never edit one.
// Each step runs in its own transaction with its new version, so a failure
// leaves the database at the last whole step; a database from a newer build
// is refused and left untouched. Every step's transaction first takes an
// advisory lock, so gateways starting at once migrate one after the other.
//
// Step 1 holds the ledger store's tables (what LedgerStore in
// ledger/store.ts keeps), step 2 the job leases (lease.ts), step 3 every other
// table of the gateway (gateway-schema.ts, the SQLite schema's at version 22;
// schema-parity.test.ts holds the two engines to the same columns). The
// ledger tables of step 1 name registry rows without foreign keys (kiosks:
// the store's own kiosk_cursors; wristbands, cash registers), as they came first.
import { SchemaTooNewError } from '../migration-runner.js'
import type { PgConnection } from './connection.js'
import { GATEWAY_TABLES_V1 } from './gateway-schema.js'

export interface PgMigration {
  /** Strictly increasing from 1: the schema version after this step. */
  version: number
  /** One line: why this step exists. */
  reason: string
  /** The step's SQL (several statements allowed). */
  sql: string
}

/** The account kinds of version 1, frozen here whatever ledger/schema.ts's ACCOUNT_KINDS becomes. */
const V1_ACCOUNT_KINDS = `'customer', 'revenue', 'cash', 'clearing', 'prepaid', 'donation', 'payout', 'deposit', 'voucher', 'register', 'vault', 'imbalance', 'expense'`
const V1_EXTERNAL_KINDS = `'topup_online', 'topup_card', 'prepayment', 'prepaid_transfer', 'card_payment', 'payout', 'donation', 'refund'`

/**
 * Version 1: the ledger store's tables, as the SQLite schema has them at its
 * version 22, money in bigint cents. `written` stands for SQLite's rowid: the
 * order rows were written in, which the portal's order list sorts by.
 */
const LEDGER_V1 = `
CREATE TABLE accounts (
  id text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN (${V1_ACCOUNT_KINDS})),
  ref text NOT NULL,
  balance bigint NOT NULL DEFAULT 0
);

-- Where each kiosk's chain stands. On SQLite the cursor is a column of the
-- registry's kiosks row; here the store keeps its own, made by ensureKiosk.
-- A booking moves it with UPDATE ... WHERE next_seq = <the booking's seq>, so
-- two writers can never both book the same seq of a kiosk.
CREATE TABLE kiosk_cursors (
  kiosk text PRIMARY KEY,
  next_seq bigint NOT NULL DEFAULT 1 CHECK (next_seq >= 1),
  last_hash text NOT NULL
);

CREATE TABLE transactions (
  id text PRIMARY KEY,
  written bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  kiosk text NOT NULL REFERENCES kiosk_cursors(kiosk),
  seq bigint NOT NULL CHECK (seq >= 1),
  type text NOT NULL,
  tag text NOT NULL,
  amount bigint NOT NULL CHECK (amount >= 0),
  status text NOT NULL CHECK (status IN ('accepted', 'rejected')),
  reason text,
  balance_after bigint,
  hash text NOT NULL,
  envelope text NOT NULL,
  booked_at bigint NOT NULL,
  -- The kiosk's booth when the transaction was booked.
  booth text NOT NULL,
  -- Random and unguessable; the public receipt link of an accepted transaction.
  receipt_id text UNIQUE,
  -- A card top-up's payment: booked at most once.
  payment_ref text,
  staff text,
  -- What an answer said besides status and balance, so a resend gets it again.
  result_extras text,
  offline boolean NOT NULL DEFAULT false,
  -- The cancel that undid this sale.
  cancelled_by text,
  UNIQUE (kiosk, seq),
  CHECK ((status = 'accepted') = (reason IS NULL)),
  CHECK ((status = 'accepted') = (receipt_id IS NOT NULL))
);
CREATE UNIQUE INDEX transactions_by_payment_ref ON transactions (payment_ref) WHERE payment_ref IS NOT NULL;
CREATE INDEX transactions_by_tag ON transactions (tag);
CREATE INDEX offline_sales_by_kiosk ON transactions (kiosk, booked_at) WHERE offline AND status = 'accepted' AND type = 'sale';
CREATE INDEX carts_by_kiosk ON transactions (kiosk, seq) WHERE status = 'accepted' AND type IN ('sale', 'return');

CREATE TABLE external_bookings (
  id text PRIMARY KEY,
  written bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  -- The caller's idempotency key ('stripe:pi_123'): a ref is booked at most once.
  ref text NOT NULL UNIQUE,
  kind text NOT NULL CHECK (kind IN (${V1_EXTERNAL_KINDS})),
  -- Sum of the positive postings.
  amount bigint NOT NULL CHECK (amount > 0),
  -- A wristband's uid (no foreign key until the registry is here).
  customer text,
  meta text NOT NULL,
  content_hash text NOT NULL,
  receipt_id text NOT NULL UNIQUE,
  booked_at bigint NOT NULL
);
CREATE INDEX external_bookings_by_customer ON external_bookings (customer);

CREATE TABLE postings (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- id of a kiosk transaction or of an external booking (no foreign key: it may be either).
  tx_id text NOT NULL,
  account text NOT NULL REFERENCES accounts(id),
  amount bigint NOT NULL
);
CREATE INDEX postings_by_tx ON postings (tx_id);
CREATE INDEX postings_by_account ON postings (account);

CREATE TABLE line_items (
  tx_id text NOT NULL REFERENCES transactions(id),
  line_no integer NOT NULL,
  product text NOT NULL,
  name text NOT NULL,
  kind text NOT NULL,
  qty integer NOT NULL,
  unit_price bigint NOT NULL,
  total bigint NOT NULL,
  tax_rate integer NOT NULL,
  tax bigint NOT NULL,
  PRIMARY KEY (tx_id, line_no)
);

CREATE TABLE shifts (
  id text PRIMARY KEY,
  -- A cash register of the registry (no foreign key until the registry is here).
  register text NOT NULL,
  kiosk text NOT NULL REFERENCES kiosk_cursors(kiosk),
  staff text,
  opened_at bigint NOT NULL,
  float bigint NOT NULL CHECK (float >= 0),
  closed_by text,
  closed_at bigint,
  counted bigint,
  expected bigint,
  difference bigint
);
CREATE UNIQUE INDEX one_open_shift_per_register ON shifts (register) WHERE closed_by IS NULL;
CREATE UNIQUE INDEX one_open_shift_per_kiosk ON shifts (kiosk) WHERE closed_by IS NULL;

CREATE TABLE debts (
  tx_id text PRIMARY KEY REFERENCES transactions(id),
  uid text NOT NULL,
  kiosk text NOT NULL,
  shortfall bigint NOT NULL CHECK (shortfall > 0),
  booked_at bigint NOT NULL
);
CREATE INDEX debts_by_uid ON debts (uid);
`

/**
 * Version 2: the leases of the jobs that run once across the cluster
 * (postgres/lease.ts). expires_at is compared with the database's clock only.
 */
const JOB_LEASES_V2 = `
CREATE TABLE job_leases (
  name text PRIMARY KEY,
  holder text NOT NULL,
  -- The fencing token: grows on every takeover, never goes back.
  token bigint NOT NULL CHECK (token >= 1),
  expires_at timestamptz NOT NULL
);
`

export const PG_MIGRATIONS: readonly PgMigration[] = [
  { version: 1, reason: "the ledger store's tables: accounts, kiosk cursors, transactions, external bookings, postings, line items, shifts, debts", sql: LEDGER_V1 },
  { version: 2, reason: 'job leases: background jobs run by one gateway of several at a time, with a fencing token', sql: JOB_LEASES_V2 },
  { version: 3, reason: "the gateway's other tables: registry, secrets, portal, payments, payouts, bank jobs, refunds, disputes, reconciliation", sql: GATEWAY_TABLES_V1 },
]

/** The schema version this build writes and understands. */
export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length

/** Any fixed number: the advisory lock under which the steps run (pg_advisory_xact_lock). */
const MIGRATION_LOCK = 0x77_70_6d_31

export function pgTooNewMessage(found: number, known: number): string {
  return `the PostgreSQL database has schema version ${found}, this build knows ${known}: a newer wristpay gateway has written it; run that build (or a newer one), or restore a backup made by this one`
}

/** Brings the database to PG_SCHEMA_VERSION; returns the versions before and after. */
export function migratePgDatabase(conn: PgConnection, migrations: readonly PgMigration[] = PG_MIGRATIONS): { from: number; to: number } {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`PostgreSQL migration list: entry ${i + 1} has version ${m.version}; versions must count up from 1 without gaps`)
  })
  const latest = migrations.length
  let from: number | undefined
  for (;;) {
    conn.query('BEGIN')
    try {
      conn.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
      conn.query(`CREATE TABLE IF NOT EXISTS schema_version (
        one boolean PRIMARY KEY DEFAULT true CHECK (one),
        version integer NOT NULL CHECK (version >= 0)
      )`)
      const version = conn.query<{ version: number }>('SELECT version FROM schema_version')[0]?.version ?? 0
      from ??= version
      if (version > latest) throw new SchemaTooNewError(pgTooNewMessage(version, latest), version, latest)
      if (version === latest) {
        conn.query('COMMIT')
        return { from, to: version }
      }
      const step = migrations[version]!
      conn.query(step.sql)
      conn.query('INSERT INTO schema_version (one, version) VALUES (true, $1) ON CONFLICT (one) DO UPDATE SET version = excluded.version', [step.version])
      conn.query('COMMIT')
    } catch (error) {
      if (conn.connected) conn.query('ROLLBACK')
      throw error
    }
  }
}
