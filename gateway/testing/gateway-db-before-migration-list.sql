-- The gateway database as the code before the one migration list made it
-- (commit 74c10a6, schema_version 2, every column added in place, card_meta's
-- own version 1): its sqlite_master, dumped from a fresh database of that
-- build, and the version rows it wrote. Frozen: it is what databases in the
-- field look like (gateway/migrations.test.ts adopts it).
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
  -- Gross cents; negative only for a discount.
  price INTEGER NOT NULL,
  kind TEXT NOT NULL DEFAULT 'item' CHECK (kind IN ('item', 'deposit', 'discount', 'ticket')),
  fixed_price INTEGER NOT NULL DEFAULT 1 CHECK (fixed_price IN (0, 1)),
  tax_rate INTEGER NOT NULL DEFAULT 0 CHECK (tax_rate BETWEEN 0 AND 10000),
  voucher_eligible INTEGER NOT NULL DEFAULT 0 CHECK (voucher_eligible IN (0, 1)),
  -- JSON array of wristband variants that may not buy it.
  restrictions TEXT NOT NULL DEFAULT '[]',
  ticket_variant TEXT,
  -- Deposits: the most units one return may bring back; NULL: the default.
  max_return_qty INTEGER CHECK (max_return_qty >= 1),
  PRIMARY KEY (booth, id)
) STRICT;
CREATE TABLE accounts (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('customer', 'revenue', 'cash', 'clearing', 'prepaid', 'donation', 'payout', 'deposit', 'voucher', 'register', 'vault', 'imbalance')),
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
  config_hash TEXT NOT NULL DEFAULT '',
  profile TEXT
, retired TEXT CHECK (retired IN ('removed_from_setup', 'disabled_by_admin')), key_source TEXT CHECK (key_source IN ('event_setup', 'admin'))) STRICT;
CREATE TABLE wristbands (
  uid TEXT PRIMARY KEY,
  -- HMAC-SHA256(pin secret, normalised PIN), hex: the portal finds a wristband by its PIN alone.
  pin_lookup TEXT NOT NULL UNIQUE,
  blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
  account TEXT NOT NULL UNIQUE REFERENCES accounts(id),
  variant TEXT,
  vouchers INTEGER NOT NULL DEFAULT 0 CHECK (vouchers >= 0),
  -- Tag switch: the wristband that took over this one's balance and PIN.
  replaced_by TEXT
, retired TEXT CHECK (retired IN ('removed_from_setup', 'disabled_by_admin')), blocked_before_retired INTEGER CHECK (blocked_before_retired IN (0, 1)), in_setup INTEGER NOT NULL DEFAULT 0 CHECK (in_setup IN (0, 1))) STRICT;
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
  receipt_id TEXT UNIQUE, payment_ref TEXT, cancelled_by TEXT, staff TEXT, result_extras TEXT, offline INTEGER NOT NULL DEFAULT 0 CHECK (offline IN (0, 1)),
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
CREATE TABLE debts (
  tx_id TEXT PRIMARY KEY REFERENCES transactions(id),
  uid TEXT NOT NULL,
  kiosk TEXT NOT NULL,
  -- How far below zero the booking took the balance, cents (> 0).
  shortfall INTEGER NOT NULL CHECK (shortfall > 0),
  booked_at INTEGER NOT NULL
) STRICT;
CREATE INDEX debts_by_uid ON debts(uid);
CREATE INDEX postings_by_tx ON postings(tx_id);
CREATE INDEX postings_by_account ON postings(account);
CREATE INDEX transactions_by_tag ON transactions(tag);
CREATE INDEX external_bookings_by_customer ON external_bookings(customer);
CREATE UNIQUE INDEX transactions_by_payment_ref ON transactions(payment_ref) WHERE payment_ref IS NOT NULL;
CREATE INDEX offline_sales_by_kiosk ON transactions(kiosk, booked_at) WHERE offline = 1 AND status = 'accepted' AND type = 'sale';
CREATE TABLE tag_sun_counters (
      uid TEXT PRIMARY KEY,
      -- SDMReadCtr of the last SUN message used by a recorded transaction of this tag.
      last_counter INTEGER NOT NULL CHECK (last_counter BETWEEN 0 AND 16777215)
    ) STRICT;
CREATE TABLE portal_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
CREATE TABLE portal_customers (
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
CREATE TABLE portal_sessions (
  jti TEXT PRIMARY KEY,
  uid TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER
) STRICT;
CREATE INDEX portal_sessions_by_expiry ON portal_sessions(expires_at);
CREATE TABLE portal_checkouts (
  order_uuid TEXT PRIMARY KEY,
  uid TEXT NOT NULL,
  checkout_id TEXT NOT NULL UNIQUE,
  amount INTEGER NOT NULL CHECK (amount > 0),
  created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE portal_blobs (
  id TEXT PRIMARY KEY,
  content_type TEXT NOT NULL,
  data BLOB NOT NULL
) STRICT;
CREATE TABLE online_topups (
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
CREATE INDEX online_topups_open ON online_topups(status, checked_at);
CREATE INDEX online_topups_by_uid ON online_topups(uid, created_at);
CREATE TABLE card_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
CREATE TABLE card_locations (
  location TEXT PRIMARY KEY,
  stripe_location_id TEXT NOT NULL UNIQUE
) STRICT;
CREATE TABLE card_terminals (
  terminal_id TEXT PRIMARY KEY,
  location TEXT NOT NULL REFERENCES card_locations(location),
  label TEXT NOT NULL,
  -- The principal that registered it ('kiosk:bar-1', 'operator:anna').
  registered_by TEXT NOT NULL,
  registered_at INTEGER NOT NULL
) STRICT;
CREATE INDEX card_terminals_by_location ON card_terminals(location);
CREATE TABLE card_registration_codes (
  code_hash TEXT PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('pending', 'used')),
  terminal_id TEXT,
  at INTEGER NOT NULL
) STRICT;
CREATE TABLE card_customers (
  user TEXT PRIMARY KEY,
  stripe_customer_id TEXT NOT NULL UNIQUE
) STRICT;
CREATE TABLE card_bankcards (
  id INTEGER PRIMARY KEY,
  payment_method TEXT NOT NULL UNIQUE,
  user TEXT NOT NULL,
  partner TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE card_payments (
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
CREATE INDEX card_payments_unsettled ON card_payments(state) WHERE state IN ('creating', 'open');
CREATE TABLE users_api_users (
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
CREATE TABLE users_api_payments (
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
CREATE INDEX users_api_payments_by_user ON users_api_payments(user_id, seq);
CREATE INDEX users_api_users_by_creator ON users_api_users(created_by) WHERE created_by IS NOT NULL;
CREATE TABLE gateway_secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;
-- The version rows that build wrote.
INSERT INTO meta (key, value) VALUES ('schema_version', '2');
INSERT INTO card_meta (key, value) VALUES ('schema_version', '1');
