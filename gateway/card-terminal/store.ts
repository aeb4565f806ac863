// The card-terminal API's own SQLite tables: terminal registry, registration
// codes, Stripe locations and customers, stored cards, and card payments
// (one row per attempt to pay a cart). Money is INTEGER cents. The ledger owns
// the money itself; a payment row only records which ledger refs it booked, so
// every step can be repeated after a crash without booking twice.
import type Database from 'better-sqlite3'

export const CARD_TERMINAL_SCHEMA_VERSION = 1

const DDL = `
CREATE TABLE IF NOT EXISTS card_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

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

export type PaymentState = 'creating' | 'open' | 'succeeded' | 'failed'
export type PaymentType = 'card' | 'terminal'

export interface PaymentRow {
  id: string
  owner: string
  cart: string
  attempt: number
  location: string
  currency: string
  card_cents: number
  balance_cents: number
  wristband: string | null
  payment_type: PaymentType
  state: PaymentState
  stripe_payment_intent_id: string | null
  order_id: string | null
  error: string | null
  created_at: number
  updated_at: number
}

export interface TerminalRow {
  terminal_id: string
  location: string
  label: string
  registered_by: string
  registered_at: number
}

export interface BankcardRow {
  id: number
  payment_method: string
  user: string
  partner: string
  created_at: number
}

export interface NewPayment {
  id: string
  owner: string
  cart: string
  location: string
  currency: string
  cardCents: number
  balanceCents: number
  wristband: string | null
  paymentType: PaymentType
  at: number
}

export interface CardTerminalStore {
  // Locations
  stripeLocationOf(location: string): string | undefined
  /** The wristpay location of a Stripe location id (tml_...), if it is one of ours. */
  locationOfStripeLocation(stripeLocationId: string): string | undefined
  saveLocation(location: string, stripeLocationId: string): void
  // Registration codes and terminals
  /** Reserves a code (by hash) for one registration; false if it is used or being used. */
  reserveRegistrationCode(codeHash: string, at: number): boolean
  releaseRegistrationCode(codeHash: string): void
  /** Marks the code used and stores the terminal, in one transaction. */
  completeRegistration(codeHash: string, terminal: TerminalRow): void
  terminal(terminalId: string): TerminalRow | undefined
  terminalsAt(location: string): TerminalRow[]
  setTerminalLabel(terminalId: string, label: string): void
  deleteTerminal(terminalId: string): void
  // Customers and cards
  stripeCustomerOf(user: string): string | undefined
  saveCustomer(user: string, stripeCustomerId: string): void
  bankcardByPaymentMethod(paymentMethod: string): BankcardRow | undefined
  insertBankcard(card: Omit<BankcardRow, 'id'>): BankcardRow
  // Payments
  latestPayment(owner: string, cart: string): PaymentRow | undefined
  payment(id: string): PaymentRow | undefined
  /** Inserts the next attempt of a cart; throws if another attempt was inserted meanwhile. */
  insertPayment(p: NewPayment): PaymentRow
  deletePayment(id: string): void
  openPayment(id: string, stripePaymentIntentId: string, at: number): void
  succeedPayment(id: string, orderId: string, at: number): void
  failPayment(id: string, error: string, at: number): void
  /** Attempts still creating or open, oldest first (for the sweeper). */
  unsettledPayments(limit: number): PaymentRow[]
}

/** Creates the tables if missing; refuses a database written by a newer schema of this module. */
export function migrateCardTerminal(db: Database.Database): void {
  db.exec(DDL)
  const row = db.prepare<[], { value: string }>(`SELECT value FROM card_meta WHERE key = 'schema_version'`).get()
  if (row === undefined) db.prepare(`INSERT INTO card_meta (key, value) VALUES ('schema_version', ?)`).run(String(CARD_TERMINAL_SCHEMA_VERSION))
  else if (Number(row.value) !== CARD_TERMINAL_SCHEMA_VERSION)
    throw new Error(`card-terminal tables have schema version ${row.value}, this build knows ${CARD_TERMINAL_SCHEMA_VERSION}`)
}

export function createCardTerminalStore(db: Database.Database): CardTerminalStore {
  migrateCardTerminal(db)
  const q = {
    location: db.prepare<[string], { stripe_location_id: string }>(`SELECT stripe_location_id FROM card_locations WHERE location = ?`),
    locationOfStripe: db.prepare<[string], { location: string }>(`SELECT location FROM card_locations WHERE stripe_location_id = ?`),
    saveLocation: db.prepare(`INSERT INTO card_locations (location, stripe_location_id) VALUES (?, ?)`),
    code: db.prepare<[string], { state: string }>(`SELECT state FROM card_registration_codes WHERE code_hash = ?`),
    reserveCode: db.prepare(`INSERT INTO card_registration_codes (code_hash, state, at) VALUES (?, 'pending', ?) ON CONFLICT(code_hash) DO NOTHING`),
    releaseCode: db.prepare(`DELETE FROM card_registration_codes WHERE code_hash = ? AND state = 'pending'`),
    useCode: db.prepare(`UPDATE card_registration_codes SET state = 'used', terminal_id = ? WHERE code_hash = ? AND state = 'pending'`),
    insertTerminal: db.prepare(`
      INSERT INTO card_terminals (terminal_id, location, label, registered_by, registered_at)
      VALUES (@terminal_id, @location, @label, @registered_by, @registered_at)`),
    terminal: db.prepare<[string], TerminalRow>(`SELECT * FROM card_terminals WHERE terminal_id = ?`),
    terminalsAt: db.prepare<[string], TerminalRow>(`SELECT * FROM card_terminals WHERE location = ? ORDER BY registered_at, terminal_id`),
    setLabel: db.prepare(`UPDATE card_terminals SET label = ? WHERE terminal_id = ?`),
    deleteTerminal: db.prepare(`DELETE FROM card_terminals WHERE terminal_id = ?`),
    customer: db.prepare<[string], { stripe_customer_id: string }>(`SELECT stripe_customer_id FROM card_customers WHERE user = ?`),
    saveCustomer: db.prepare(`INSERT INTO card_customers (user, stripe_customer_id) VALUES (?, ?)`),
    bankcardByPm: db.prepare<[string], BankcardRow>(`SELECT * FROM card_bankcards WHERE payment_method = ?`),
    insertBankcard: db.prepare<[string, string, string, number], BankcardRow>(
      `INSERT INTO card_bankcards (payment_method, user, partner, created_at) VALUES (?, ?, ?, ?) RETURNING *`,
    ),
    latestPayment: db.prepare<[string, string], PaymentRow>(`SELECT * FROM card_payments WHERE owner = ? AND cart = ? ORDER BY attempt DESC LIMIT 1`),
    payment: db.prepare<[string], PaymentRow>(`SELECT * FROM card_payments WHERE id = ?`),
    insertPayment: db.prepare<Record<string, unknown>, PaymentRow>(`
      INSERT INTO card_payments (id, owner, cart, attempt, location, currency, card_cents, balance_cents, wristband, payment_type, state, created_at, updated_at)
      VALUES (@id, @owner, @cart,
              (SELECT COALESCE(MAX(attempt), 0) + 1 FROM card_payments WHERE owner = @owner AND cart = @cart),
              @location, @currency, @cardCents, @balanceCents, @wristband, @paymentType, 'creating', @at, @at)
      RETURNING *`),
    deletePayment: db.prepare(`DELETE FROM card_payments WHERE id = ? AND state = 'creating'`),
    openPayment: db.prepare(`UPDATE card_payments SET state = 'open', stripe_payment_intent_id = ?, updated_at = ? WHERE id = ? AND state IN ('creating', 'open')`),
    succeedPayment: db.prepare(`UPDATE card_payments SET state = 'succeeded', order_id = ?, error = NULL, updated_at = ? WHERE id = ? AND state = 'open'`),
    failPayment: db.prepare(`UPDATE card_payments SET state = 'failed', error = ?, updated_at = ? WHERE id = ? AND state IN ('creating', 'open')`),
    unsettled: db.prepare<[number], PaymentRow>(`SELECT * FROM card_payments WHERE state IN ('creating', 'open') ORDER BY created_at, id LIMIT ?`),
  }

  const completeRegistration = db.transaction((codeHash: string, terminal: TerminalRow) => {
    if (q.useCode.run(terminal.terminal_id, codeHash).changes !== 1) throw new Error('registration code is not reserved')
    q.insertTerminal.run(terminal)
  })

  /** A state change that did not apply means two flows raced past the per-cart lock: stop loudly. */
  function expectOne(changes: number, what: string): void {
    if (changes !== 1) throw new Error(`card payment ${what}: the row was not in the expected state`)
  }

  return {
    stripeLocationOf: (location) => q.location.get(location)?.stripe_location_id,
    locationOfStripeLocation: (id) => q.locationOfStripe.get(id)?.location,
    saveLocation: (location, id) => void q.saveLocation.run(location, id),
    reserveRegistrationCode: (codeHash, at) => q.reserveCode.run(codeHash, at).changes === 1,
    releaseRegistrationCode: (codeHash) => void q.releaseCode.run(codeHash),
    completeRegistration: (codeHash, terminal) => completeRegistration.immediate(codeHash, terminal),
    terminal: (id) => q.terminal.get(id),
    terminalsAt: (location) => q.terminalsAt.all(location),
    setTerminalLabel: (id, label) => void q.setLabel.run(label, id),
    deleteTerminal: (id) => void q.deleteTerminal.run(id),
    stripeCustomerOf: (user) => q.customer.get(user)?.stripe_customer_id,
    saveCustomer: (user, id) => void q.saveCustomer.run(user, id),
    bankcardByPaymentMethod: (pm) => q.bankcardByPm.get(pm),
    insertBankcard: (c) => q.insertBankcard.get(c.payment_method, c.user, c.partner, c.created_at)!,
    latestPayment: (owner, cart) => q.latestPayment.get(owner, cart),
    payment: (id) => q.payment.get(id),
    insertPayment: (p) =>
      q.insertPayment.get({
        id: p.id,
        owner: p.owner,
        cart: p.cart,
        location: p.location,
        currency: p.currency,
        cardCents: p.cardCents,
        balanceCents: p.balanceCents,
        wristband: p.wristband,
        paymentType: p.paymentType,
        at: p.at,
      })!,
    deletePayment: (id) => void q.deletePayment.run(id),
    openPayment: (id, pi, at) => expectOne(q.openPayment.run(pi, at, id).changes, 'open'),
    succeedPayment: (id, orderId, at) => expectOne(q.succeedPayment.run(orderId, at, id).changes, 'succeed'),
    failPayment: (id, error, at) => expectOne(q.failPayment.run(error, at, id).changes, 'fail'),
    unsettledPayments: (limit) => q.unsettled.all(limit),
  }
}
