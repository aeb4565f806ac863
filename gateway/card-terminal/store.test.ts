// The card-terminal API's records, on SQLite and on PostgreSQL (gateway/testing/sql-engines.ts).
import t from 'tap'
import { openLedgerDatabase } from '../ledger/index.js'
import { GATEWAY_SCHEMA_VERSION, migrateGatewayDatabase } from '../migrations.js'
import { sqlEngines } from '../testing/sql-engines.js'
import { createCardTerminalStore } from './store.js'

const engines = await sqlEngines(t)

t.test('sqlite: migrating again keeps the data; a database from a newer build is refused', async (t) => {
  const db = openLedgerDatabase(':memory:')
  t.teardown(() => db.close())
  const store = createCardTerminalStore(db)
  store.saveLocation('bar', 'tml_1')
  migrateGatewayDatabase(db)
  t.equal(createCardTerminalStore(db).stripeLocationOf('bar'), 'tml_1')
  db.prepare(`UPDATE meta SET value = ? WHERE key = 'schema_version'`).run(String(GATEWAY_SCHEMA_VERSION + 1))
  t.throws(() => createCardTerminalStore(db), /schema version/)
})

for (const engine of engines) {
  t.test(`${engine.name}: a registration code is reserved once and used once`, async (t) => {
    const db = engine.open(t)
    const store = createCardTerminalStore(db)
    store.saveLocation('bar', 'tml_1')
    t.ok(store.reserveRegistrationCode('h1', 1))
    t.notOk(store.reserveRegistrationCode('h1', 2), 'a second reservation of the same code fails')
    store.releaseRegistrationCode('h1')
    t.ok(store.reserveRegistrationCode('h1', 3), 'released: usable again')
    store.completeRegistration('h1', { terminal_id: 'tmr_1', location: 'bar', label: 'x', registered_by: 'kiosk:bar-1', registered_at: 3 })
    store.releaseRegistrationCode('h1')
    t.notOk(store.reserveRegistrationCode('h1', 4), 'a used code is never released')
    t.throws(() => store.completeRegistration('h2', { terminal_id: 'tmr_2', location: 'bar', label: 'x', registered_by: 'k', registered_at: 5 }), /not reserved/)
    t.equal(store.terminal('tmr_2'), undefined)
  })

  t.test(`${engine.name}: a location's or a wristband's Stripe id stored by another gateway first is kept, not refused`, async (t) => {
    const db = engine.open(t)
    const first = createCardTerminalStore(db)
    const other = createCardTerminalStore(db)
    t.equal(first.saveLocation('bar', 'tml_1'), 'tml_1')
    t.equal(other.saveLocation('bar', 'tml_1'), 'tml_1', 'the same id again (Stripe\'s idempotency key) is no error')
    t.equal(other.saveLocation('bar', 'tml_2'), 'tml_1', 'the first stored is kept')
    t.equal(first.saveCustomer('04A1B2C3D4E5F6', 'cus_1'), 'cus_1')
    t.equal(other.saveCustomer('04A1B2C3D4E5F6', 'cus_1'), 'cus_1')
    t.equal(other.saveCustomer('04A1B2C3D4E5F6', 'cus_2'), 'cus_1')
    t.equal(first.stripeCustomerOf('04A1B2C3D4E5F6'), 'cus_1')
  })

  t.test(`${engine.name}: payment state moves forward only`, async (t) => {
    const db = engine.open(t)
    const store = createCardTerminalStore(db)
    const base = { owner: 'kiosk:bar-1', cart: 'c', location: 'bar', currency: 'EUR', cardCents: 100, balanceCents: 0, wristband: null, paymentType: 'card' as const, at: 1 }
    const first = store.insertPayment({ ...base, id: 'p1' })
    t.equal(first.attempt, 1)
    t.equal(first.state, 'creating')
    store.openPayment('p1', 'pi_1', 2)
    store.succeedPayment('p1', 'order-1', 3)
    t.throws(() => store.failPayment('p1', 'late', 4), /expected state/, 'a succeeded payment cannot fail')
    t.equal(store.payment('p1')?.state, 'succeeded')
    t.equal(store.insertPayment({ ...base, id: 'p2' }).attempt, 2, 'attempts count up per cart')
    t.throws(() => store.insertPayment({ ...base, id: 'p3', balanceCents: 5 }), 'a balance part needs a wristband')
    t.throws(() => store.insertPayment({ ...base, id: 'p4', cardCents: 0 }), 'the card part is positive')
  })
}
