// The gateway database's one migration list: a fresh database, a database at
// every earlier version and one as the code before the list made it all reach
// the latest version with their rows; a newer one is refused untouched; a
// failing step leaves nothing behind.
import { readFileSync } from 'node:fs'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { ACCOUNT_KINDS } from './ledger/schema.js'
import { GATEWAY_MIGRATIONS, GATEWAY_SCHEMA_VERSION, gatewaySchemaVersion, gatewayTooNewMessage, migrateGatewayDatabase } from './migrations.js'
import { checkMigrationList, runMigrations, SchemaTooNewError, type Migration } from './migration-runner.js'

/** Today's layout before the one migration list, with its version rows: a frozen dump (SQL, read as data). */
const GATEWAY_DB_BEFORE_MIGRATION_LIST = readFileSync(new URL('./testing/gateway-db-before-migration-list.sql', import.meta.url), 'utf8')

/** A connection as the gateway opens one (foreign keys on), in memory. */
function open(): Database.Database {
  const db = new Database(':memory:')
  db.pragma('foreign_keys = ON')
  t.teardown(() => db.close())
  return db
}

const version = (db: Database.Database) => gatewaySchemaVersion.read(db)
const runUpTo = (db: Database.Database, last: number) =>
  runMigrations(db, { migrations: GATEWAY_MIGRATIONS.slice(0, last), versions: gatewaySchemaVersion, tooNewMessage: gatewayTooNewMessage })

const tableNames = (db: Database.Database) =>
  db.prepare<[], { name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all().map((r) => r.name)

/** Every table's columns (in order, with type, NOT NULL, default, key) and every index: what a table's rows can be. */
function layout(db: Database.Database) {
  return {
    tables: Object.fromEntries(tableNames(db).map((name) => [name, db.prepare(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)`).all(name)])),
    indexes: db.prepare(`SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all(),
  }
}

/** Every row of every table, by the columns the table has now; order-free. */
function rows(db: Database.Database): Map<string, { columns: string[]; rows: string[] }> {
  const out = new Map<string, { columns: string[]; rows: string[] }>()
  for (const name of tableNames(db)) {
    const columns = db.prepare<[string], { name: string }>(`SELECT name FROM pragma_table_info(?)`).all(name).map((c) => c.name)
    out.set(name, { columns, rows: rowsOf(db, name, columns) })
  }
  return out
}

function rowsOf(db: Database.Database, table: string, columns: string[]): string[] {
  const list = columns.map((c) => `"${c}"`).join(', ')
  return db.prepare(`SELECT ${list} FROM "${table}"`).raw().all().map((r) => JSON.stringify(r, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v))).sort()
}

/** Rows every layout from version 1 on can hold (only version-1 columns), one offline sale among them. */
function seedLedgerRows(db: Database.Database): void {
  db.exec(`
    INSERT INTO meta (key, value) VALUES ('event_name', 'Test Fest');
    INSERT INTO booths (id, name) VALUES ('bar', 'Bar'), ('food', 'Food');
    INSERT INTO accounts (id, kind, ref, balance) VALUES ('customer:A', 'customer', 'A', 650), ('revenue:bar', 'revenue', 'bar', 350), ('cash:bar-1', 'cash', 'bar-1', -1000);
    INSERT INTO wristbands (uid, pin_lookup, blocked, account) VALUES ('A', 'lookup-a', 0, 'customer:A');
    INSERT INTO kiosks (id, booth, token_hash, public_key, sale_allowed, topup_allowed, next_seq, last_hash) VALUES ('bar-1', 'bar', 'h', 'k', 1, 1, 3, 'last');
    INSERT INTO transactions (id, kiosk, seq, type, tag, amount, status, reason, balance_after, hash, envelope, booked_at, booth, receipt_id) VALUES
      ('t1', 'bar-1', 1, 'topup_cash', 'A', 1000, 'accepted', NULL, 1000, 'h1', '{"tx":{"seq":1}}', 1, 'bar', 'r1'),
      ('t2', 'bar-1', 2, 'sale', 'A', 350, 'accepted', NULL, 650, 'h2', '{"tx":{"seq":2,"offline":1}}', 2, 'bar', 'r2');
    INSERT INTO postings (tx_id, account, amount) VALUES ('t1', 'cash:bar-1', -1000), ('t1', 'customer:A', 1000), ('t2', 'customer:A', -350), ('t2', 'revenue:bar', 350);
    INSERT INTO external_bookings (id, ref, kind, amount, customer, meta, content_hash, receipt_id, booked_at) VALUES ('e1', 'stripe:pi_1', 'topup_online', 100, 'A', '{}', 'c', 'r3', 3);
  `)
}

/** Rows of the other modules' tables, as the code before the list made them. */
function seedModuleRows(db: Database.Database): void {
  db.exec(`
    INSERT INTO tag_sun_counters (uid, last_counter) VALUES ('A', 7);
    INSERT INTO gateway_secrets (name, value) VALUES ('users-api-jwt', x'00ff10');
    INSERT INTO portal_meta (key, value) VALUES ('auth_secret', 'c2VjcmV0');
    INSERT INTO portal_customers (uid, iban, donation_cents, has_entered_info) VALUES ('A', 'DE00', 50, 1);
    INSERT INTO portal_sessions (jti, uid, created_at, expires_at) VALUES ('j1', 'A', 1, 2);
    INSERT INTO online_topups (id, provider, uid, amount, currency, status, created_at, updated_at) VALUES ('o1', 'stripe', 'A', 500, 'EUR', 'creating', 1, 1);
    INSERT INTO card_locations (location, stripe_location_id) VALUES ('bar', 'tml_1');
    INSERT INTO card_terminals (terminal_id, location, label, registered_by, registered_at) VALUES ('tmr_1', 'bar', 'Bar 1', 'kiosk:bar-1', 1);
    INSERT INTO users_api_users (id, user_name, email, password_hash, created_at, created_by) VALUES ('u1', 'Ada', 'ada@example.org', 'x', 1, NULL);
    INSERT INTO users_api_payments (user_id, cuid, amount, currency, status, created_at, updated_at) VALUES ('u1', 'c1', 1000, 'EUR', 'creating', 1, 1);
  `)
}

/** Checks that every row `before` held is still there with the same values (new columns aside). */
function sameRows(t: Test, db: Database.Database, before: ReturnType<typeof rows>, skip: string[] = []): void {
  for (const [table, { columns, rows: expected }] of before) {
    if (skip.includes(table)) continue
    const kept = table === 'meta' ? rowsOf(db, table, columns).filter((r) => !r.includes('"schema_version"')) : rowsOf(db, table, columns)
    t.same(kept, table === 'meta' ? expected.filter((r) => !r.includes('"schema_version"')) : expected, `${table}: rows intact`)
  }
}

t.test('versions count up from 1 without gaps, each with a one-line reason', async (t) => {
  t.same(
    GATEWAY_MIGRATIONS.map((m) => m.version),
    Array.from({ length: GATEWAY_MIGRATIONS.length }, (_, i) => i + 1),
  )
  t.equal(GATEWAY_SCHEMA_VERSION, GATEWAY_MIGRATIONS.at(-1)!.version)
  for (const m of GATEWAY_MIGRATIONS) t.match(m.reason, /^[^\n]{10,}$/, `migration ${m.version} says why on one line`)
  const step = (version: number): Migration => ({ version, reason: 'a step', up: () => {} })
  t.doesNotThrow(() => checkMigrationList(GATEWAY_MIGRATIONS))
  t.throws(() => checkMigrationList([step(1), step(3)]), /versions must count up/, 'a gap is refused')
  t.throws(() => checkMigrationList([step(1), step(1)]), /versions must count up/, 'a repeat is refused')
  t.throws(() => checkMigrationList([step(2), step(1)]), /versions must count up/, 'a step out of order is refused')
})

t.test('a fresh database reaches the latest version; running again changes nothing', async (t) => {
  const db = open()
  t.same(runMigrations(db, { migrations: GATEWAY_MIGRATIONS, versions: gatewaySchemaVersion, tooNewMessage: gatewayTooNewMessage }), { from: 0, to: GATEWAY_SCHEMA_VERSION })
  t.equal(version(db), GATEWAY_SCHEMA_VERSION)
  t.equal(db.pragma('foreign_keys', { simple: true }), 1, 'foreign keys are on again after the table rebuild')
  t.notOk(tableNames(db).includes('card_meta'), 'the card API keeps no version of its own')
  for (const kind of ACCOUNT_KINDS) db.prepare(`INSERT INTO accounts (id, kind, ref) VALUES (?, ?, 'x')`).run(`${kind}:x`, kind)
  t.pass('the accounts table takes every kind the ledger knows')
  seedLedgerRows(db)
  seedModuleRows(db)
  const schema = db.prepare(`SELECT type, name, sql FROM sqlite_master ORDER BY name`).all()
  const before = rows(db)
  t.same(runMigrations(db, { migrations: GATEWAY_MIGRATIONS, versions: gatewaySchemaVersion, tooNewMessage: gatewayTooNewMessage }), { from: GATEWAY_SCHEMA_VERSION, to: GATEWAY_SCHEMA_VERSION })
  migrateGatewayDatabase(db)
  t.same(db.prepare(`SELECT type, name, sql FROM sqlite_master ORDER BY name`).all(), schema, 'same schema')
  t.same(rows(db), before, 'same rows, same version')
})

t.test('a database as the code before the migration list made it (version 2, columns added in place) is adopted with its rows', async (t) => {
  const fresh = open()
  migrateGatewayDatabase(fresh)

  const db = open()
  db.exec(GATEWAY_DB_BEFORE_MIGRATION_LIST)
  seedLedgerRows(db)
  seedModuleRows(db)
  const before = rows(db)
  migrateGatewayDatabase(db)
  t.equal(version(db), GATEWAY_SCHEMA_VERSION)
  sameRows(t, db, before, ['card_meta'])
  t.same(layout(db), layout(fresh), 'it has exactly the tables, columns and indexes of a fresh database')
  t.same(db.prepare(`SELECT offline FROM transactions ORDER BY seq`).all(), [{ offline: 0 }, { offline: 0 }], 'steps that found their column present left it alone')
})

t.test('a database at every earlier version upgrades with its rows intact and ends as a fresh one', async (t) => {
  const fresh = open()
  migrateGatewayDatabase(fresh)
  for (let at = 1; at < GATEWAY_SCHEMA_VERSION; at++) {
    const db = open()
    runUpTo(db, at)
    t.equal(version(db), at)
    seedLedgerRows(db)
    const before = rows(db)
    migrateGatewayDatabase(db)
    t.equal(version(db), GATEWAY_SCHEMA_VERSION, `from version ${at}`)
    // Migration 2 recreates products by design (the next import fills them); there are none here.
    sameRows(t, db, before)
    t.same(layout(db), layout(fresh), `from version ${at}: the layout of a fresh database`)
    t.same(db.pragma('foreign_key_check'), [])
    if (at < 5) t.same(db.prepare(`SELECT id FROM transactions WHERE offline = 1`).all(), [{ id: 't2' }], `from version ${at}: offline sales are marked from their envelopes`)
  }
})

t.test('a database from a newer build is refused and left untouched', async (t) => {
  const db = open()
  migrateGatewayDatabase(db)
  seedLedgerRows(db)
  const newer = GATEWAY_SCHEMA_VERSION + 1
  gatewaySchemaVersion.write(db, newer)
  const schema = db.prepare(`SELECT type, name, sql FROM sqlite_master ORDER BY name`).all()
  const before = rows(db)
  const err = t.throws(() => migrateGatewayDatabase(db), new RegExp(`ledger database has schema version ${newer}, this build knows ${GATEWAY_SCHEMA_VERSION}: a newer wristpay gateway`))
  t.ok(err instanceof SchemaTooNewError)
  t.equal(version(db), newer, 'not overwritten')
  t.same(db.prepare(`SELECT type, name, sql FROM sqlite_master ORDER BY name`).all(), schema)
  t.same(rows(db), before)
})

t.test('a failing step rolls back: nothing half-applied, the version stays at the last whole step', async (t) => {
  const failing = (version: number, rebuildsTables = false): Migration => ({
    version,
    reason: 'test: fails half-way',
    rebuildsTables,
    up: (db) => {
      db.exec(`CREATE TABLE half_made (x INTEGER)`)
      db.exec(`INSERT INTO booths (id, name) VALUES ('half', 'Half')`)
      db.exec(`ALTER TABLE kiosks ADD COLUMN half TEXT`)
      throw new Error('boom')
    },
  })
  const plan = (migrations: Migration[]) => ({ migrations, versions: gatewaySchemaVersion, tooNewMessage: gatewayTooNewMessage })

  const db = open()
  migrateGatewayDatabase(db)
  seedLedgerRows(db)
  const schema = db.prepare(`SELECT type, name, sql FROM sqlite_master ORDER BY name`).all()
  const before = rows(db)
  for (const rebuildsTables of [false, true]) {
    t.throws(
      () => runMigrations(db, plan([...GATEWAY_MIGRATIONS, failing(GATEWAY_SCHEMA_VERSION + 1, rebuildsTables)])),
      new RegExp(`schema migration ${GATEWAY_SCHEMA_VERSION + 1} \\(test: fails half-way\\) failed, the database stays at version ${GATEWAY_SCHEMA_VERSION}: boom`),
    )
    t.equal(version(db), GATEWAY_SCHEMA_VERSION)
    t.same(db.prepare(`SELECT type, name, sql FROM sqlite_master ORDER BY name`).all(), schema, 'no table, column or index of the failed step')
    t.same(rows(db), before, 'no row of the failed step')
    t.equal(db.pragma('foreign_keys', { simple: true }), 1, 'foreign keys are on again')
  }

  // Several pending steps: those before the failing one stay committed, each whole.
  const partly = open()
  t.throws(() => runMigrations(partly, plan([...GATEWAY_MIGRATIONS.slice(0, 2), failing(3)])), /stays at version 2: boom/)
  t.equal(version(partly), 2)
  t.notOk(tableNames(partly).includes('half_made'))
  t.ok(tableNames(partly).includes('debts'), 'step 2 is there, whole')
})

t.test('migration 19 lets the accounts table take expense accounts and keeps every account and posting', async (t) => {
  const db = open()
  runUpTo(db, 18)
  seedLedgerRows(db)
  t.throws(() => db.prepare(`INSERT INTO accounts (id, kind, ref) VALUES ('expense:fees:stancer', 'expense', 'fees:stancer')`).run(), /CHECK constraint failed/, 'refused before')
  const before = rows(db)
  migrateGatewayDatabase(db)
  sameRows(t, db, before)
  db.prepare(`INSERT INTO accounts (id, kind, ref) VALUES ('expense:fees:stancer', 'expense', 'fees:stancer')`).run()
  t.same(db.prepare(`SELECT kind, balance FROM accounts WHERE id = 'expense:fees:stancer'`).get(), { kind: 'expense', balance: 0 })
  t.same(db.pragma('foreign_key_check'), [], 'postings still point at their accounts')
  t.equal(db.pragma('foreign_keys', { simple: true }), 1)
})

t.test('the key-history step (22) adds kiosk_key_history and seeds it with each kiosk\'s current key from seq 1', async (t) => {
  const db = open()
  runUpTo(db, 21)
  seedLedgerRows(db)
  db.exec(`INSERT INTO kiosks (id, booth, token_hash, public_key, sale_allowed, topup_allowed, next_seq, last_hash) VALUES ('food-1', 'food', 'h2', NULL, 1, 0, 1, 'genesis')`)
  t.notOk(tableNames(db).includes('kiosk_key_history'))
  migrateGatewayDatabase(db)
  t.ok(tableNames(db).includes('kiosk_key_history'))
  // bar-1 is at next_seq 3, but nothing kept its earlier keys: the seeded key counts from seq 1, marked as seeded; a kiosk without a key gets no row.
  t.same(db.prepare(`SELECT kiosk_id, public_key, from_seq, source FROM kiosk_key_history ORDER BY id`).all(), [{ kiosk_id: 'bar-1', public_key: 'k', from_seq: 1, source: 'migration' }])
  GATEWAY_MIGRATIONS.find((m) => m.version === 22)!.up(db)
  t.equal(db.prepare(`SELECT COUNT(*) AS n FROM kiosk_key_history`).pluck().get(), 1, 'the step run again seeds nothing twice')
})

t.test('the modules take any SqlDatabase, but an engine that is neither SQLite nor the PostgreSQL store is refused before anything runs', async (t) => {
  const statements: string[] = []
  const notSqlite = {
    prepare: (sql: string) => (statements.push(sql), { run: () => ({ changes: 0, lastInsertRowid: 0 }), get: () => undefined, all: () => [], iterate: () => [][Symbol.iterator]() }),
    transaction: () => Object.assign(() => undefined, { deferred: () => undefined, immediate: () => undefined }),
    exec: () => notSqlite,
    inTransaction: false,
  }
  t.throws(() => migrateGatewayDatabase(notSqlite as never), { message: /neither SQLite \(better-sqlite3\) nor the PostgreSQL store/ })
  t.same(statements, [], 'not one statement was sent to it')
})
