// The kiosk database's one migration list: a fresh file, a file at every earlier
// version and one as the code before the list made it all reach the latest
// version with their rows; a newer file is refused untouched; a failing step
// leaves nothing behind.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { checkKioskMigrationList, KIOSK_MIGRATIONS, KIOSK_SCHEMA_VERSION, KioskSchemaTooNewError, migrateKioskDatabase, type KioskMigration } from './migrations.js'
import { createOutbox } from './outbox.js'

/**
 * The outbox as the code before the migration list made it (commit 74c10a6:
 * user_version 1, last_sale and card_payments made on open), dumped from a
 * fresh file of that build. Frozen: it is what kiosks in the field have.
 */
const BEFORE_MIGRATION_LIST = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE chain (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        next_seq INTEGER NOT NULL CHECK (next_seq >= 1),
        last_hash TEXT NOT NULL
      );
CREATE TABLE pending (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        envelope TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
CREATE TABLE answered (
        n INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        seq INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
        balance INTEGER,
        reason TEXT,
        answered_at INTEGER NOT NULL
      );
CREATE TABLE last_sale (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        amount INTEGER NOT NULL,
        at INTEGER NOT NULL,
        tag TEXT NOT NULL,
        cancelled INTEGER NOT NULL DEFAULT 0
      );
CREATE TABLE card_payments (
      id TEXT PRIMARY KEY,
      uid TEXT NOT NULL,
      tag_type TEXT NOT NULL,
      amount INTEGER NOT NULL CHECK (amount > 0),
      started_at INTEGER NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('open', 'unresolved', 'booked', 'declined', 'aborted', 'not_charged')),
      terminal_id TEXT,
      closed_at INTEGER,
      tx_id TEXT UNIQUE,
      payment_ref TEXT UNIQUE,
      payment TEXT,
      result_code INTEGER,
      resolution TEXT CHECK (resolution IN ('terminal', 'recovered', 'supervisor')),
      note TEXT,
      CHECK ((state = 'booked') = (tx_id IS NOT NULL AND payment_ref IS NOT NULL)),
      CHECK ((state IN ('open', 'unresolved')) = (closed_at IS NULL))
    );
CREATE INDEX card_payments_by_state ON card_payments(state);
PRAGMA user_version = 1;
`

const clock = { now: () => 1_700_000_000_000 }

function open(): Database.Database {
  const db = new Database(':memory:')
  t.teardown(() => db.close())
  return db
}

const version = (db: Database.Database) => db.pragma('user_version', { simple: true }) as number
const tableNames = (db: Database.Database) =>
  db.prepare<[], { name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all().map((r) => r.name)
const schemaOf = (db: Database.Database) => db.prepare(`SELECT type, name, sql FROM sqlite_master ORDER BY name`).all()

function layout(db: Database.Database) {
  return {
    tables: Object.fromEntries(tableNames(db).map((name) => [name, db.prepare(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)`).all(name)])),
    indexes: db.prepare(`SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all(),
    triggers: db.prepare(`SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' ORDER BY name`).all(),
  }
}

function rows(db: Database.Database): Record<string, unknown[]> {
  return Object.fromEntries(tableNames(db).map((name) => [name, db.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all()]))
}

/** Rows of the outbox's first tables: a pending and an answered entry, the chain head, the kiosk binding. */
function seedOutboxRows(db: Database.Database): void {
  db.exec(`
    INSERT INTO meta (key, value) VALUES ('kiosk', 'bar-1');
    INSERT INTO chain (one, next_seq, last_hash) VALUES (1, 3, 'hash-2');
    INSERT INTO answered (id, seq, status, balance, reason, answered_at) VALUES ('tx-1', 1, 'accepted', 650, NULL, 1);
    INSERT INTO pending (seq, id, envelope, created_at) VALUES (2, 'tx-2', '{"tx":{"seq":2}}', 2);
  `)
}

t.test('versions count up from 1 without gaps, each with a one-line reason', async (t) => {
  t.same(
    KIOSK_MIGRATIONS.map((m) => m.version),
    Array.from({ length: KIOSK_MIGRATIONS.length }, (_, i) => i + 1),
  )
  t.equal(KIOSK_SCHEMA_VERSION, KIOSK_MIGRATIONS.at(-1)!.version)
  for (const m of KIOSK_MIGRATIONS) t.match(m.reason, /^[^\n]{10,}$/, `migration ${m.version} says why on one line`)
  const step = (version: number): KioskMigration => ({ version, reason: 'a step', up: () => {} })
  t.throws(() => checkKioskMigrationList([step(1), step(3)]), /versions must count up/, 'a gap is refused')
  t.throws(() => checkKioskMigrationList([step(1), step(1)]), /versions must count up/, 'a repeat is refused')
  t.throws(() => migrateKioskDatabase(open(), 'test', [step(2), step(1)]), /versions must count up/, 'the runner refuses a list out of order')
})

t.test('a fresh file reaches the latest version; running again changes nothing', async (t) => {
  const db = open()
  migrateKioskDatabase(db)
  t.equal(version(db), KIOSK_SCHEMA_VERSION)
  t.same(tableNames(db), ['answered', 'answered_envelopes', 'answered_envelopes_total', 'card_payments', 'card_reversals', 'chain', 'last_sale', 'meta', 'offline_booked', 'pending'])
  seedOutboxRows(db)
  const schema = schemaOf(db)
  const before = rows(db)
  migrateKioskDatabase(db)
  t.equal(version(db), KIOSK_SCHEMA_VERSION)
  t.same(schemaOf(db), schema)
  t.same(rows(db), before)
})

t.test('a file as the code before the migration list made it (version 1) is adopted with its rows', async (t) => {
  const fresh = open()
  migrateKioskDatabase(fresh)
  const db = open()
  db.exec(BEFORE_MIGRATION_LIST)
  seedOutboxRows(db)
  db.exec(`
    INSERT INTO last_sale (one, id, seq, type, amount, at, tag) VALUES (1, 'tx-1', 1, 'sale', 350, 1, '04A1');
    INSERT INTO card_payments (id, uid, tag_type, amount, started_at, state) VALUES ('cp-1', '04A1', 'ntag215', 1000, 1, 'open');
  `)
  const before = rows(db)
  migrateKioskDatabase(db)
  t.equal(version(db), KIOSK_SCHEMA_VERSION)
  const after = rows(db)
  for (const table of Object.keys(before)) t.same(after[table], before[table], `${table} intact`)
  t.same(after.answered_envelopes, [], 'no answered envelope kept yet: the old file deleted them')
  t.same(after.answered_envelopes_total, [{ one: 1, count: 0, bytes: 0 }])
  t.same(layout(db), layout(fresh), 'the layout of a fresh file')

  // The same through the outbox, on a file: its entries are still there.
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-kiosk-migrations-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'outbox.sqlite')
  const file = new Database(path)
  file.exec(BEFORE_MIGRATION_LIST)
  seedOutboxRows(file)
  file.close()
  const outbox = createOutbox({ path, maxEntries: 10, clock, kioskId: 'bar-1' })
  t.teardown(() => outbox.close())
  t.equal(version(outbox.database), KIOSK_SCHEMA_VERSION)
  t.same(outbox.head(), { nextSeq: 3, prev: 'hash-2' })
  t.same(outbox.pending().map((e) => e.id), ['tx-2'])
  t.match(outbox.answered('tx-1'), { status: 'accepted', balance: 650 })
})

t.test('a file at every earlier version upgrades with its rows intact and ends as a fresh one', async (t) => {
  const fresh = open()
  migrateKioskDatabase(fresh)
  for (let at = 1; at < KIOSK_SCHEMA_VERSION; at++) {
    const db = open()
    migrateKioskDatabase(db, 'test', KIOSK_MIGRATIONS.slice(0, at))
    t.equal(version(db), at)
    seedOutboxRows(db)
    const before = rows(db)
    migrateKioskDatabase(db)
    t.equal(version(db), KIOSK_SCHEMA_VERSION, `from version ${at}`)
    const after = rows(db)
    for (const table of Object.keys(before)) t.same(after[table], before[table], `from version ${at}: ${table} intact`)
    t.same(layout(db), layout(fresh), `from version ${at}: the layout of a fresh file`)
  }
})

t.test('step 6 counts the accepted offline sales among the kept envelopes as booked, and nothing else', async (t) => {
  const db = open()
  migrateKioskDatabase(db, 'test', KIOSK_MIGRATIONS.slice(0, 5))
  const envelope = (type: string, offline: boolean, uid: string, amount: number) => JSON.stringify({ tx: { type, offline, tag: { uid }, amount } })
  const keep = db.prepare('INSERT INTO answered_envelopes (seq, id, envelope, created_at, answered_at, status) VALUES (?, ?, ?, 1, ?, ?)')
  keep.run(1, 'off-sale', envelope('sale', true, '04A1', 700), 50, 'accepted')
  keep.run(2, 'off-refused', envelope('sale', true, '04A1', 900), 60, 'rejected')
  keep.run(3, 'off-return', envelope('return', true, '04A1', 200), 70, 'accepted')
  keep.run(4, 'online-sale', envelope('sale', false, '04A1', 300), 80, 'accepted')
  keep.run(5, 'off-other', envelope('sale', true, '04B2', 400), 90, 'accepted')
  migrateKioskDatabase(db)
  t.same(db.prepare('SELECT id, uid, amount, answered_at FROM offline_booked ORDER BY id').all(), [
    { id: 'off-other', uid: '04B2', amount: 400, answered_at: 90 },
    { id: 'off-sale', uid: '04A1', amount: 700, answered_at: 50 },
  ])
})

t.test('a file from a newer daemon is refused and left untouched', async (t) => {
  const db = open()
  migrateKioskDatabase(db)
  seedOutboxRows(db)
  const newer = KIOSK_SCHEMA_VERSION + 1
  db.pragma(`user_version = ${newer}`)
  const schema = schemaOf(db)
  const before = rows(db)
  const err = t.throws(() => migrateKioskDatabase(db, 'outbox /x'), new RegExp(`^outbox /x has schema version ${newer}, this daemon knows ${KIOSK_SCHEMA_VERSION}: a newer wristpay kiosk daemon`))
  t.ok(err instanceof KioskSchemaTooNewError)
  t.equal(version(db), newer)
  t.same(schemaOf(db), schema)
  t.same(rows(db), before)

  // The outbox refuses to start on it, naming the file.
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-kiosk-newer-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'outbox.sqlite')
  const file = new Database(path)
  file.pragma(`user_version = ${newer}`)
  file.close()
  t.throws(() => createOutbox({ path, maxEntries: 10, clock }), new RegExp(`outbox ${path} has schema version ${newer}, this daemon knows ${KIOSK_SCHEMA_VERSION}`))
  const reopened = new Database(path)
  t.teardown(() => reopened.close())
  t.equal(version(reopened), newer, 'not overwritten')
  t.same(tableNames(reopened), [], 'nothing made')
})

t.test('a failing step rolls back: nothing half-applied, the version stays at the last whole step', async (t) => {
  const failing = (version: number): KioskMigration => ({
    version,
    reason: 'test: fails half-way',
    up: (db) => {
      db.exec(`CREATE TABLE half_made (x INTEGER)`)
      db.exec(`INSERT INTO meta (key, value) VALUES ('half', 'made')`)
      db.exec(`ALTER TABLE pending ADD COLUMN half TEXT`)
      throw new Error('boom')
    },
  })
  const db = open()
  migrateKioskDatabase(db)
  seedOutboxRows(db)
  const schema = schemaOf(db)
  const before = rows(db)
  t.throws(
    () => migrateKioskDatabase(db, 'outbox /x', [...KIOSK_MIGRATIONS, failing(KIOSK_SCHEMA_VERSION + 1)]),
    new RegExp(`outbox /x: schema migration ${KIOSK_SCHEMA_VERSION + 1} \\(test: fails half-way\\) failed, the file stays at version ${KIOSK_SCHEMA_VERSION}: boom`),
  )
  t.equal(version(db), KIOSK_SCHEMA_VERSION)
  t.same(schemaOf(db), schema)
  t.same(rows(db), before)

  const partly = open()
  t.throws(() => migrateKioskDatabase(partly, 'test', [KIOSK_MIGRATIONS[0]!, failing(2)]), /stays at version 1: boom/)
  t.equal(version(partly), 1, 'the step before is committed, whole')
  t.same(tableNames(partly), ['answered', 'chain', 'meta', 'pending'])
})

t.test('an outbox file from before answered envelopes were kept (version 3) upgrades: its entries stay, and answers from then on keep their envelopes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-kiosk-migrations-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'outbox.sqlite')
  const file = new Database(path)
  migrateKioskDatabase(file, 'test', KIOSK_MIGRATIONS.slice(0, 3))
  seedOutboxRows(file)
  file.close()

  const outbox = createOutbox({ path, maxEntries: 10, clock, kioskId: 'bar-1' })
  t.teardown(() => outbox.close())
  t.equal(version(outbox.database), KIOSK_SCHEMA_VERSION)
  t.match(outbox.answered('tx-1'), { status: 'accepted', balance: 650 }, 'the old history stands')
  t.same(outbox.keptAnswered(), [], 'what the old file deleted is not there')
  t.same(outbox.keptTotals(), { count: 0, bytes: 0, firstSeq: undefined })
  outbox.markAnswered('tx-2', { status: 'accepted', balance: 300 })
  t.same(
    outbox.keptAnswered().map((e) => [e.seq, e.id, JSON.stringify(e.envelope)]),
    [[2, 'tx-2', '{"tx":{"seq":2}}']],
    'the pending entry, answered after the upgrade, is kept as it was stored',
  )
  t.same(outbox.keptTotals(), { count: 1, bytes: '{"tx":{"seq":2}}'.length, firstSeq: 2 })
})
