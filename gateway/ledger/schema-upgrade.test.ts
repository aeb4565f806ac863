// Schema version 1 -> latest: a ledger written before kiosk operations keeps its
// history and takes the new account kinds, columns and tables; a database from
// a newer build is refused. (gateway/migrations.test.ts checks every step.)
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { canonicalBytes, envelopeHash, type Envelope } from '../../device-protocol/index.js'
import { openLedgerDatabase } from './db.js'
import { createLedger } from './ledger.js'
import { L, OPS_UID, STAFF, StaffedKiosk, applyOne, opsSetup, postingsSum } from './testing/operations-fixtures.js'
import { generatePinSecret, pinLookup, pinSecretFingerprint } from '../registry/pins.js'
import { GATEWAY_SCHEMA_VERSION } from '../migrations.js'
import { PIN, SigningKiosk, UID, fixedClock, silentLogger } from './testing/test-helpers.js'

/** The version-1 DDL (gateway/ledger/schema.ts before 9b77ce9), with the payment_ref column version 1 already added. */
const V1_DDL = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE booths (id TEXT PRIMARY KEY, name TEXT NOT NULL) STRICT;
CREATE TABLE products (
  booth TEXT NOT NULL REFERENCES booths(id), id TEXT NOT NULL, name TEXT NOT NULL,
  price INTEGER NOT NULL CHECK (price >= 0), PRIMARY KEY (booth, id)
) STRICT;
CREATE TABLE accounts (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('customer', 'revenue', 'cash', 'clearing', 'prepaid', 'donation', 'payout')),
  ref TEXT NOT NULL,
  balance INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE kiosks (
  id TEXT PRIMARY KEY, booth TEXT NOT NULL REFERENCES booths(id), token_hash TEXT NOT NULL, public_key TEXT,
  sale_allowed INTEGER NOT NULL CHECK (sale_allowed IN (0, 1)), topup_allowed INTEGER NOT NULL CHECK (topup_allowed IN (0, 1)),
  next_seq INTEGER NOT NULL DEFAULT 1 CHECK (next_seq >= 1), last_hash TEXT NOT NULL,
  config_version INTEGER NOT NULL DEFAULT 0, config_hash TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE TABLE wristbands (
  uid TEXT PRIMARY KEY, pin_lookup TEXT NOT NULL UNIQUE,
  blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
  account TEXT NOT NULL UNIQUE REFERENCES accounts(id)
) STRICT;
CREATE TABLE transactions (
  id TEXT PRIMARY KEY, kiosk TEXT NOT NULL REFERENCES kiosks(id), seq INTEGER NOT NULL CHECK (seq >= 1),
  type TEXT NOT NULL, tag TEXT NOT NULL, amount INTEGER NOT NULL CHECK (amount >= 0),
  status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')), reason TEXT, balance_after INTEGER,
  hash TEXT NOT NULL, envelope TEXT NOT NULL, booked_at INTEGER NOT NULL, booth TEXT NOT NULL, receipt_id TEXT UNIQUE,
  payment_ref TEXT,
  UNIQUE (kiosk, seq),
  CHECK ((status = 'accepted') = (reason IS NULL)),
  CHECK ((status = 'accepted') = (receipt_id IS NOT NULL))
) STRICT;
CREATE TABLE external_bookings (
  id TEXT PRIMARY KEY, ref TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('topup_online', 'topup_card', 'prepayment', 'prepaid_transfer', 'card_payment', 'payout', 'donation', 'refund')),
  amount INTEGER NOT NULL CHECK (amount > 0), customer TEXT REFERENCES wristbands(uid), meta TEXT NOT NULL,
  content_hash TEXT NOT NULL, receipt_id TEXT NOT NULL UNIQUE, booked_at INTEGER NOT NULL
) STRICT;
CREATE TABLE postings (id INTEGER PRIMARY KEY, tx_id TEXT NOT NULL, account TEXT NOT NULL REFERENCES accounts(id), amount INTEGER NOT NULL) STRICT;
CREATE INDEX postings_by_tx ON postings(tx_id);
CREATE INDEX postings_by_account ON postings(account);
CREATE INDEX transactions_by_tag ON transactions(tag);
CREATE INDEX external_bookings_by_customer ON external_bookings(customer);
CREATE UNIQUE INDEX transactions_by_payment_ref ON transactions(payment_ref) WHERE payment_ref IS NOT NULL;
`

interface V1World {
  path: string
  food: SigningKiosk
  topup: Envelope
  sale: Envelope
  refused: Envelope
}

/** A version-1 ledger file: booths, a product, food-1 with a cash top-up, a sale and a refused sale of alice. */
function buildV1(t: Test): V1World {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-v1-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'ledger.db')
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('foreign_keys = ON')
  db.exec(V1_DDL)
  const secret = generatePinSecret()
  const meta = db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?)`)
  meta.run('schema_version', '1')
  meta.run('event_name', 'Test Fest')
  meta.run('currency', 'EUR')
  meta.run('pin_secret', secret.toString('base64'))
  meta.run('pin_secret_fingerprint', pinSecretFingerprint(secret))
  for (const [id, name] of [['bar', 'Bar'], ['food', 'Food'], ['cashdesk', 'Cash desk']]) db.prepare(`INSERT INTO booths VALUES (?, ?)`).run(id, name)
  db.prepare(`INSERT INTO products VALUES ('food', 'fries', 'Fries', 350)`).run()
  const account = db.prepare(`INSERT INTO accounts (id, kind, ref, balance) VALUES (?, ?, ?, ?)`)
  account.run(`customer:${UID.alice}`, 'customer', UID.alice, 650)
  account.run(`customer:${UID.bob}`, 'customer', UID.bob, 0)
  account.run('revenue:food', 'revenue', 'food', 350)
  account.run('revenue:bar', 'revenue', 'bar', 0)
  account.run('cash:food-1', 'cash', 'food-1', -1000)
  db.prepare(`INSERT INTO wristbands (uid, pin_lookup, blocked, account) VALUES (?, ?, 0, ?)`).run(UID.alice, pinLookup(secret, PIN.alice), `customer:${UID.alice}`)
  db.prepare(`INSERT INTO wristbands (uid, pin_lookup, blocked, account) VALUES (?, ?, 0, ?)`).run(UID.bob, pinLookup(secret, PIN.bob), `customer:${UID.bob}`)

  // A plain v1 kiosk: no staff field in its envelopes.
  const food = new SigningKiosk('food-1')
  const topup = food.topup(UID.alice, 1_000)
  const sale = food.sale(UID.alice, [{ product: 'fries', qty: 1, unitPrice: 350 }])
  const refused = food.sale(UID.bob, [{ product: 'fries', qty: 1, unitPrice: 350 }])
  db.prepare(`INSERT INTO kiosks (id, booth, token_hash, public_key, sale_allowed, topup_allowed, next_seq, last_hash) VALUES (?, 'food', ?, ?, 1, 1, 4, ?)`).run(
    'food-1',
    '0'.repeat(64),
    food.keys.publicKeyBase64Url,
    envelopeHash(refused),
  )
  const insertTx = db.prepare(`
    INSERT INTO transactions (id, kiosk, seq, type, tag, amount, status, reason, balance_after, hash, envelope, booked_at, booth, receipt_id)
    VALUES (?, 'food-1', ?, ?, ?, ?, ?, ?, ?, ?, ?, 1750000000000, 'food', ?)`)
  const row = (e: Envelope, status: 'accepted' | 'rejected', reason: string | null, balance: number) =>
    insertTx.run(e.tx.id, e.tx.seq, e.tx.type, e.tx.tag.uid, e.tx.amount, status, reason, balance, envelopeHash(e), canonicalBytes(e).toString('utf8'), status === 'accepted' ? `receipt-${e.tx.seq}` : null)
  row(topup, 'accepted', null, 1_000)
  row(sale, 'accepted', null, 650)
  row(refused, 'rejected', 'insufficient_balance', 0)
  const posting = db.prepare(`INSERT INTO postings (tx_id, account, amount) VALUES (?, ?, ?)`)
  posting.run(topup.tx.id, 'cash:food-1', -1000)
  posting.run(topup.tx.id, `customer:${UID.alice}`, 1000)
  posting.run(sale.tx.id, `customer:${UID.alice}`, -350)
  posting.run(sale.tx.id, 'revenue:food', 350)
  t.throws(() => account.run('deposit:bar', 'deposit', 'bar', 0), /CHECK constraint/, 'version 1 does not know the deposit kind')
  db.close()
  return { path, food, topup, sale, refused }
}

t.test('a version-1 ledger is upgraded in place and keeps its history', async (t) => {
  const v1 = buildV1(t)
  const db = openLedgerDatabase(v1.path)
  t.teardown(() => db.close())
  const ledger = createLedger({ db, clock: fixedClock(), logger: silentLogger })
  t.equal((db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string }).value, String(GATEWAY_SCHEMA_VERSION))
  t.equal(db.pragma('foreign_keys', { simple: true }), 1, 'foreign keys are on again')
  t.same(db.pragma('foreign_key_check'), [])
  t.same(ledger.checkInvariants(), [], 'the old history holds the invariants')

  // History: balances, records and answers of resends.
  t.equal(ledger.balanceOf(UID.alice), 650)
  t.match(ledger.transaction(v1.sale.tx.id), { status: 'accepted', balanceAfter: 650, postings: [{ account: `customer:${UID.alice}`, amount: -350 }, { account: 'revenue:food', amount: 350 }] })
  t.ok(ledger.registry.verifyPin(UID.alice, PIN.alice), 'PINs still work')
  t.equal(ledger.registry.findWristbandByPin(PIN.bob), UID.bob)
  const resent = applyOne(ledger, v1.sale)
  t.match(resent, { replay: true, status: 'accepted', balance: 650 })
  t.equal(resent.charged, undefined, 'a version-1 answer has no extras')
  t.match(applyOne(ledger, v1.refused), { replay: true, status: 'rejected', reason: 'insufficient_balance', balance: 0 })
  t.same(ledger.kioskCursor('food-1'), { nextSeq: 4, lastHash: envelopeHash(v1.refused) })
  t.match(ledger.wristband(UID.alice), { blocked: false, balance: 650 })
  t.match(ledger.balanceView(UID.alice), { vouchers: 0, variant: null, debt: false })
  t.match(ledger.customerOrders(UID.alice).map((o) => o.id).sort(), [v1.sale.tx.id, v1.topup.tx.id].sort())

  // Before any new import the old kiosk goes on as before (its catalog comes with the next import).
  t.match(applyOne(ledger, v1.food.topup(UID.bob, 500)), { status: 'accepted', balance: 500 })

  // The new set-up imports: new account kinds, profiles, staff, registers.
  const bar = new StaffedKiosk('bar-1', STAFF.cashier)
  // food-1 goes on with its chain, now with a staff member logged in.
  const food = new StaffedKiosk('food-1', STAFF.supervisor, v1.food.keys)
  food.history.push(...v1.food.history)
  ledger.registry.importEventSetup(opsSetup({ 'bar-1': bar.keys, 'food-1': v1.food.keys }))
  for (const id of ['deposit:bar', 'voucher:event', 'vault:event', 'imbalance:event', 'register:drawer-1'])
    t.equal(ledger.accountBalance(id), 0, `${id} exists`)
  t.equal(ledger.balanceOf(UID.alice), 650, 'the import keeps balances')
  t.ok(ledger.registry.verifyPin(UID.alice, PIN.alice))

  // And the new operations book on the upgraded tables.
  t.match(applyOne(ledger, food.topup(UID.alice, 1_000)), { status: 'accepted', balance: 1_650 })
  const cupSale = bar.cart(UID.alice, [L.beer(), L.cup()])
  t.match(applyOne(ledger, cupSale), { status: 'accepted', balance: 1_000 })
  t.equal(postingsSum(ledger, cupSale.tx.id), 0)
  t.equal(ledger.accountBalance('deposit:bar'), 200)
  t.match(applyOne(ledger, bar.cart(OPS_UID.bob, [L.water(3)], { offline: true })), { status: 'accepted', balance: -100, debt: true })
  t.equal(ledger.debts().length, 1)
  t.match(applyOne(ledger, bar.next({ type: 'cancel', uid: OPS_UID.bob, amount: 600 }, { ref: bar.history.at(-1)!.tx.id })), { status: 'accepted', balance: 500 })
  t.same(ledger.checkInvariants(), [])

  // Opening it again is a no-op: the latest version stays.
  db.close()
  const reopened = openLedgerDatabase(v1.path)
  t.teardown(() => reopened.close())
  const again = createLedger({ db: reopened, clock: fixedClock(), logger: silentLogger })
  t.equal(again.balanceOf(UID.alice), 1_000)
  t.equal(again.accountBalance('deposit:bar'), 200)
  t.same(again.checkInvariants(), [])
})

t.test('a database from a newer schema is refused and left alone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-v3-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'ledger.db')
  const made = openLedgerDatabase(path)
  createLedger({ db: made, clock: fixedClock(), logger: silentLogger })
  const newer = String(GATEWAY_SCHEMA_VERSION + 1)
  made.prepare(`UPDATE meta SET value = ? WHERE key = 'schema_version'`).run(newer)
  const tables = made.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all()
  made.close()

  const db = openLedgerDatabase(path)
  t.teardown(() => db.close())
  t.throws(() => createLedger({ db, clock: fixedClock(), logger: silentLogger }), new RegExp(`schema version ${newer}, this build knows ${GATEWAY_SCHEMA_VERSION}`))
  t.equal((db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string }).value, newer, 'not overwritten')
  t.same(db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all(), tables)
})

t.test('a fresh database is created at the latest version', async (t) => {
  const db = openLedgerDatabase(':memory:')
  t.teardown(() => db.close())
  const ledger = createLedger({ db, clock: fixedClock(), logger: silentLogger })
  t.equal((db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string }).value, String(GATEWAY_SCHEMA_VERSION))
  ledger.registry.importEventSetup(opsSetup())
  t.same(ledger.checkInvariants(), [])
})
