// The card-terminal API's own SQLite tables: terminal registry, registration
// codes, Stripe locations and customers, stored cards, and card payments
// (one row per attempt to pay a cart). Money is INTEGER cents. The ledger owns
// the money itself; a payment row only records which ledger refs it booked, so
// every step can be repeated after a crash without booking twice. The tables
// are made by the gateway database's migrations (gateway/migrations.ts).
import type { SqlDatabase } from '../sql/database.js'
import { migrateGatewayDatabase } from '../migrations.js'

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
  /**
   * Stores a location's Stripe id unless one is stored already (another gateway got there first) and returns the
   * stored one: with Stripe's idempotency key both asked for the same, and the first stored is the one kept.
   */
  saveLocation(location: string, stripeLocationId: string): string
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
  /** Like saveLocation: the customer stored first is kept and returned. */
  saveCustomer(user: string, stripeCustomerId: string): string
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

export function createCardTerminalStore(db: SqlDatabase): CardTerminalStore {
  // The card_* tables come from the gateway database's migrations.
  migrateGatewayDatabase(db)
  const q = {
    location: db.prepare<[string], { stripe_location_id: string }>(`SELECT stripe_location_id FROM card_locations WHERE location = ?`),
    locationOfStripe: db.prepare<[string], { location: string }>(`SELECT location FROM card_locations WHERE stripe_location_id = ?`),
    saveLocation: db.prepare(`INSERT INTO card_locations (location, stripe_location_id) VALUES (?, ?) ON CONFLICT DO NOTHING`),
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
    customer: db.prepare<[string], { stripe_customer_id: string }>(`SELECT stripe_customer_id FROM card_customers WHERE "user" = ?`),
    saveCustomer: db.prepare(`INSERT INTO card_customers ("user", stripe_customer_id) VALUES (?, ?) ON CONFLICT DO NOTHING`),
    bankcardByPm: db.prepare<[string], BankcardRow>(`SELECT * FROM card_bankcards WHERE payment_method = ?`),
    insertBankcard: db.prepare<[string, string, string, number], BankcardRow>(
      `INSERT INTO card_bankcards (payment_method, "user", partner, created_at) VALUES (?, ?, ?, ?) RETURNING *`,
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
    saveLocation(location, id) {
      q.saveLocation.run(location, id)
      return q.location.get(location)!.stripe_location_id
    },
    reserveRegistrationCode: (codeHash, at) => q.reserveCode.run(codeHash, at).changes === 1,
    releaseRegistrationCode: (codeHash) => void q.releaseCode.run(codeHash),
    completeRegistration: (codeHash, terminal) => completeRegistration.immediate(codeHash, terminal),
    terminal: (id) => q.terminal.get(id),
    terminalsAt: (location) => q.terminalsAt.all(location),
    setTerminalLabel: (id, label) => void q.setLabel.run(label, id),
    deleteTerminal: (id) => void q.deleteTerminal.run(id),
    stripeCustomerOf: (user) => q.customer.get(user)?.stripe_customer_id,
    saveCustomer(user, id) {
      q.saveCustomer.run(user, id)
      return q.customer.get(user)!.stripe_customer_id
    },
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
