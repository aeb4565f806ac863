// The ledger's SQLite schema. Money is INTEGER cents; the transactions table
// keeps every recorded envelope (accepted or rejected) so the kiosk chains can
// be re-verified and any answer repeated exactly. Money that does not come
// from a kiosk (online top-ups, card payments, prepayments, payouts,
// donations) is an external booking; postings belong to a kiosk transaction
// or to an external booking (checkInvariants checks which).
//
// These are the ledger's steps of the gateway database's migrations; the list
// in gateway/migrations.ts alone decides their order and versions. A step's
// text is history: a database that ran it keeps what it made, so a change to
// a table is a new step (and a new entry in that list), never an edit here.
// A table as it is now is the sum of its steps (`.schema` in the sqlite3 shell
// shows it; gateway/migrations.test.ts checks every path ends the same).
import type Database from 'better-sqlite3'

/** Account kinds; the accounts table CHECKs them (migration 2 added deposit to imbalance, migration 19 expense; a new kind needs a new migration rebuilding the table). */
export const ACCOUNT_KINDS = ['customer', 'revenue', 'cash', 'clearing', 'prepaid', 'donation', 'payout', 'deposit', 'voucher', 'register', 'vault', 'imbalance', 'expense'] as const
/** The kinds as migration 2 wrote them into the CHECK: frozen, whatever ACCOUNT_KINDS becomes. */
const VERSION_2_KIND_LIST = `'customer', 'revenue', 'cash', 'clearing', 'prepaid', 'donation', 'payout', 'deposit', 'voucher', 'register', 'vault', 'imbalance'`
/** The kinds as migration 19 wrote them into the CHECK: frozen too. */
const VERSION_19_KIND_LIST = `${VERSION_2_KIND_LIST}, 'expense'`

/** Migration 1: the ledger as first released (schema version 1). */
export const LEDGER_V1_DDL = `
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

CREATE TABLE booths (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL
) STRICT;

CREATE TABLE products (
  booth TEXT NOT NULL REFERENCES booths(id),
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  price INTEGER NOT NULL CHECK (price >= 0),
  PRIMARY KEY (booth, id)
) STRICT;

CREATE TABLE accounts (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('customer', 'revenue', 'cash', 'clearing', 'prepaid', 'donation', 'payout')),
  ref TEXT NOT NULL,
  balance INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE kiosks (
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

CREATE TABLE wristbands (
  uid TEXT PRIMARY KEY,
  -- HMAC-SHA256(pin secret, normalised PIN), hex: the portal finds a wristband by its PIN alone.
  pin_lookup TEXT NOT NULL UNIQUE,
  blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
  account TEXT NOT NULL UNIQUE REFERENCES accounts(id)
) STRICT;

CREATE TABLE transactions (
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

CREATE TABLE external_bookings (
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

CREATE TABLE postings (
  id INTEGER PRIMARY KEY,
  -- id of a kiosk transaction or of an external booking (no foreign key: it may be either).
  tx_id TEXT NOT NULL,
  account TEXT NOT NULL REFERENCES accounts(id),
  amount INTEGER NOT NULL
) STRICT;

CREATE INDEX postings_by_tx ON postings(tx_id);
CREATE INDEX postings_by_account ON postings(account);
CREATE INDEX transactions_by_tag ON transactions(tag);
CREATE INDEX external_bookings_by_customer ON external_bookings(customer);
`

/** Products are replaced as a whole at every import, so version 2 simply recreates the table. */
const PRODUCTS_V2_DDL = `
CREATE TABLE products (
  booth TEXT NOT NULL REFERENCES booths(id),
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  -- Gross cents; negative only for a discount.
  price INTEGER NOT NULL,
  kind TEXT NOT NULL DEFAULT 'item' CHECK (kind IN ('item', 'deposit', 'discount', 'ticket')),
  fixed_price INTEGER NOT NULL DEFAULT 1 CHECK (fixed_price IN (0, 1)),
  tax_rate INTEGER NOT NULL DEFAULT 0 CHECK (tax_rate BETWEEN 0 AND 10000),
  voucher_eligible INTEGER NOT NULL DEFAULT 0 CHECK (voucher_eligible IN (0, 1)),
  -- JSON array of wristband variants that may not buy it.
  restrictions TEXT NOT NULL DEFAULT '[]',
  ticket_variant TEXT,
  PRIMARY KEY (booth, id)
) STRICT;`

const ACCOUNTS_V2_DDL = `
CREATE TABLE accounts_v2 (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN (${VERSION_2_KIND_LIST})),
  ref TEXT NOT NULL,
  balance INTEGER NOT NULL DEFAULT 0
) STRICT;`

const V2_TABLES = `
CREATE TABLE till_profiles (
  id TEXT PRIMARY KEY,
  -- The profile as the set-up gave it (JSON): sale, topupCash, ..., products.
  spec TEXT NOT NULL
) STRICT;

CREATE TABLE staff (
  uid TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  roles TEXT NOT NULL,
  -- scrypt of the staff PIN (device-protocol staffPinHash), as the kiosk configs carry it.
  pin_hash TEXT
) STRICT;

CREATE TABLE cash_registers (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL
) STRICT;

-- One row per cash shift: opened by a shift_open transaction, closed by a shift_close.
CREATE TABLE shifts (
  id TEXT PRIMARY KEY,
  register TEXT NOT NULL REFERENCES cash_registers(id),
  kiosk TEXT NOT NULL REFERENCES kiosks(id),
  staff TEXT,
  opened_at INTEGER NOT NULL,
  float INTEGER NOT NULL CHECK (float >= 0),
  closed_by TEXT,
  closed_at INTEGER,
  counted INTEGER,
  expected INTEGER,
  difference INTEGER
) STRICT;
CREATE UNIQUE INDEX one_open_shift_per_register ON shifts(register) WHERE closed_by IS NULL;
CREATE UNIQUE INDEX one_open_shift_per_kiosk ON shifts(kiosk) WHERE closed_by IS NULL;

-- Line items of accepted sales and returns, with the tax rate in force when booked.
CREATE TABLE line_items (
  tx_id TEXT NOT NULL REFERENCES transactions(id),
  line_no INTEGER NOT NULL,
  product TEXT NOT NULL,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  qty INTEGER NOT NULL,
  unit_price INTEGER NOT NULL,
  total INTEGER NOT NULL,
  tax_rate INTEGER NOT NULL,
  tax INTEGER NOT NULL,
  PRIMARY KEY (tx_id, line_no)
) STRICT;

-- Offline sales that took a wristband below zero: booked, and flagged here for operators.
CREATE TABLE debts (
  tx_id TEXT PRIMARY KEY REFERENCES transactions(id),
  uid TEXT NOT NULL,
  kiosk TEXT NOT NULL,
  -- How far below zero the booking took the balance, cents (> 0).
  shortfall INTEGER NOT NULL CHECK (shortfall > 0),
  booked_at INTEGER NOT NULL
) STRICT;
CREATE INDEX debts_by_uid ON debts(uid);
`

/**
 * Migration 2, version 1 -> 2 (kiosk operations): the accounts table's kind
 * CHECK grows (SQLite cannot alter a CHECK: the table is rebuilt, SQLite's
 * documented way; the runner turns foreign keys off around it and checks them
 * before the commit), products are recreated (the next import fills them),
 * kiosks and wristbands get their new columns, and the tables of kiosk
 * operations are made.
 */
export function ledgerVersion2(db: Database.Database): void {
  db.exec(ACCOUNTS_V2_DDL)
  db.exec(`INSERT INTO accounts_v2 (id, kind, ref, balance) SELECT id, kind, ref, balance FROM accounts`)
  db.exec(`DROP TABLE accounts`)
  db.exec(`ALTER TABLE accounts_v2 RENAME TO accounts`)
  db.exec(`DROP TABLE products`)
  db.exec(PRODUCTS_V2_DDL)
  db.exec(`ALTER TABLE kiosks ADD COLUMN profile TEXT`)
  db.exec(`ALTER TABLE wristbands ADD COLUMN variant TEXT`)
  db.exec(`ALTER TABLE wristbands ADD COLUMN vouchers INTEGER NOT NULL DEFAULT 0 CHECK (vouchers >= 0)`)
  // Tag switch: the wristband that took over this one's balance and PIN.
  db.exec(`ALTER TABLE wristbands ADD COLUMN replaced_by TEXT`)
  db.exec(V2_TABLES)
}

/**
 * A cancelled sale names the cancel that undid it: a sale is cancelled at most once.
 * Databases at version 2 may have these columns already (they were added in place on every open).
 */
export function addTransactionColumns(db: Database.Database): void {
  const columns = db.prepare(`SELECT name FROM pragma_table_info('transactions')`).all() as Array<{ name: string }>
  if (!columns.some((c) => c.name === 'cancelled_by')) db.exec(`ALTER TABLE transactions ADD COLUMN cancelled_by TEXT`)
  if (!columns.some((c) => c.name === 'staff')) db.exec(`ALTER TABLE transactions ADD COLUMN staff TEXT`)
  // What an answer said besides status and balance (charged, vouchers, shift figures), so a resend gets it again.
  if (!columns.some((c) => c.name === 'result_extras')) db.exec(`ALTER TABLE transactions ADD COLUMN result_extras TEXT`)
}

/**
 * Card top-ups (topup_card) name the terminal's payment; `payment_ref` holds
 * it on the accepted row, and the UNIQUE index makes a second booking of the
 * same card payment impossible whatever the code above it does. Version-1 and
 * version-2 databases may have it already (it was added in place on every open).
 */
export function addCardPaymentRef(db: Database.Database): void {
  const columns = db.prepare(`SELECT name FROM pragma_table_info('transactions')`).all() as Array<{ name: string }>
  if (!columns.some((c) => c.name === 'payment_ref')) db.exec(`ALTER TABLE transactions ADD COLUMN payment_ref TEXT`)
  db.exec(`CREATE UNIQUE INDEX IF NOT EXISTS transactions_by_payment_ref ON transactions(payment_ref) WHERE payment_ref IS NOT NULL`)
}

/**
 * The gateway counts offline sales against the offline caps itself: `offline`
 * marks a transaction the kiosk signed as offline, and the index finds a
 * kiosk's booked offline sales by time. Added in place to older databases,
 * filled from their stored envelopes, so the counts survive the upgrade as
 * they survive a restart. Deposit products get their return bound (NULL: the
 * default). Version-2 databases may have both already. The runner's
 * transaction keeps adding the column and filling it together.
 */
export function addOfflineCounting(db: Database.Database): void {
  const columns = db.prepare(`SELECT name FROM pragma_table_info('transactions')`).all() as Array<{ name: string }>
  if (!columns.some((c) => c.name === 'offline')) {
    db.exec(`ALTER TABLE transactions ADD COLUMN offline INTEGER NOT NULL DEFAULT 0 CHECK (offline IN (0, 1))`)
    db.exec(`UPDATE transactions SET offline = 1 WHERE json_extract(envelope, '$.tx.offline') = 1`)
  }
  db.exec(`CREATE INDEX IF NOT EXISTS offline_sales_by_kiosk ON transactions(kiosk, booked_at) WHERE offline = 1 AND status = 'accepted' AND type = 'sale'`)
  const productColumns = db.prepare(`SELECT name FROM pragma_table_info('products')`).all() as Array<{ name: string }>
  // Deposits: the most units one return may bring back; NULL: the default.
  if (!productColumns.some((c) => c.name === 'max_return_qty')) db.exec(`ALTER TABLE products ADD COLUMN max_return_qty INTEGER CHECK (max_return_qty >= 1)`)
}

/**
 * Migration 19: the accounts table's kind CHECK gains 'expense' (what the event
 * pays to others, such as the payment provider's fees on its payouts). SQLite
 * cannot alter a CHECK, so the table is rebuilt as migration 2 rebuilt it (the
 * runner turns foreign keys off around it and checks them before the commit);
 * every account keeps its id, kind, ref and balance.
 */
export function addExpenseAccountKind(db: Database.Database): void {
  db.exec(`
CREATE TABLE accounts_v19 (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN (${VERSION_19_KIND_LIST})),
  ref TEXT NOT NULL,
  balance INTEGER NOT NULL DEFAULT 0
) STRICT;`)
  db.exec(`INSERT INTO accounts_v19 (id, kind, ref, balance) SELECT id, kind, ref, balance FROM accounts`)
  db.exec(`DROP TABLE accounts`)
  db.exec(`ALTER TABLE accounts_v19 RENAME TO accounts`)
}
