// The ledger filler on a small history: the ledger it writes passes the audit
// and the ledger's own invariant checks, and is row for row what the real
// ledger writes when it books the same envelopes (receipt ids aside: random).
import { join } from 'node:path'
import type Database from 'better-sqlite3'
import t from 'tap'
import { systemClock, validateEnvelope, type Envelope } from '../../device-protocol/index.js'
import { auditLedgerDatabase } from '../../gateway/audit/audit.js'
import { createLedger, openLedgerDatabase, type Ledger } from '../../gateway/ledger/index.js'
import { silentLogger } from '../../gateway/ledger/testing/test-helpers.js'
import { createGrowthEvent, type GrowthEvent } from './growth-event.js'
import { fillLedger } from './ledger-filler.js'

function openWithSetup(path: string, event: GrowthEvent, clock = systemClock): { db: Database.Database; ledger: Ledger } {
  const db = openLedgerDatabase(path)
  const ledger = createLedger({ db, clock, logger: silentLogger })
  ledger.registry.importEventSetup(event.setup)
  return { db, ledger }
}

const rows = (db: Database.Database, sql: string) => db.prepare(sql).all()

t.test('the filler writes a history that audits clean and is what the ledger writes for the same envelopes', async (t) => {
  const dir = t.testdir()
  const event = createGrowthEvent({ kiosks: 2, wristbands: 3, fillKiosks: 3, fillWristbands: 10 })
  const filled = openWithSetup(join(dir, 'filled.sqlite'), event)
  t.teardown(() => filled.db.close())
  const result = await fillLedger({ db: filled.db, kiosks: event.fill.kiosks, wristbands: event.fill.wristbands, cart: event.fill.cart, postings: 200, chunk: 7 })

  const count = (table: string) => (filled.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n
  t.equal(result.postings, 200, 'a top-up and six carts of three postings for each of the ten wristbands')
  t.equal(count('postings'), result.postings, 'the postings it reports are in the file')
  t.equal(count('transactions'), result.transactions)
  t.same(filled.ledger.checkInvariants(), [], "the ledger's invariants hold")
  const audit = auditLedgerDatabase({ db: filled.db })
  t.same(audit.findings, [], 'the audit finds nothing: signatures, chains, double entry, deposits')
  t.equal(audit.checked.postings, 200)
  t.ok(filled.ledger.sumOfAllBalances() === 0, 'all balances sum to zero')
  t.ok(event.fill.wristbands.every((uid) => filled.ledger.balanceOf(uid) === 0), 'every wristband spent what it was topped up with, never more')

  // The same envelopes through the real ledger, each at its own time: the same rows.
  let nowMs = 0
  const booked = openWithSetup(join(dir, 'booked.sqlite'), event, { now: () => nowMs })
  t.teardown(() => booked.db.close())
  const envelopes = (filled.db.prepare(`SELECT envelope FROM transactions ORDER BY booked_at, kiosk, seq`).all() as Array<{ envelope: string }>).map((r) => {
    const parsed = validateEnvelope(JSON.parse(r.envelope))
    if (!parsed.ok) throw new Error('a filled envelope is not a valid envelope')
    return parsed.value as Envelope
  })
  for (const envelope of envelopes) {
    nowMs = envelope.tx.at
    const [outcome] = booked.ledger.applyBatch([{ envelope }])
    if (outcome?.kind !== 'result' || outcome.result.status !== 'accepted') t.fail(`the ledger refused ${envelope.tx.type} ${envelope.tx.id}: ${JSON.stringify(outcome)}`)
  }
  const compare = (what: string, sql: string) => t.same(rows(filled.db, sql), rows(booked.db, sql), what)
  compare(
    'transactions (all but the random receipt id)',
    `SELECT id, kiosk, seq, type, tag, amount, status, reason, balance_after, hash, envelope, booked_at, booth, payment_ref, staff, result_extras, offline, cancelled_by, receipt_id IS NOT NULL AS has_receipt FROM transactions ORDER BY id`,
  )
  compare('postings, in their order within each transaction', `SELECT tx_id, account, amount FROM postings ORDER BY tx_id, id`)
  compare('line items', `SELECT * FROM line_items ORDER BY tx_id, line_no`)
  compare('accounts and balances', `SELECT id, kind, ref, balance FROM accounts ORDER BY id`)
  compare('kiosk cursors', `SELECT id, next_seq, last_hash FROM kiosks ORDER BY id`)
  // The filler builds some indexes after the rows: the file ends with the same tables and indexes, and whole.
  compare('the schema: tables and indexes with their definitions', `SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name`)
  t.same(rows(filled.db, `PRAGMA integrity_check`), [{ integrity_check: 'ok' }], 'SQLite finds the filled file whole, its indexes matching its rows')
  t.equal(filled.db.pragma('journal_mode', { simple: true }), 'wal', 'the file is left in the ledger\'s journal mode')
})

t.test('a target smaller than one wristband\'s history still writes a whole one', async (t) => {
  const event = createGrowthEvent({ kiosks: 1, wristbands: 1, fillKiosks: 2, fillWristbands: 5 })
  const { db, ledger } = openWithSetup(join(t.testdir(), 'tiny.sqlite'), event)
  t.teardown(() => db.close())
  const result = await fillLedger({ db, kiosks: event.fill.kiosks, wristbands: event.fill.wristbands, cart: event.fill.cart, postings: 3 })
  t.same({ wristbands: result.wristbands, salesPerWristband: result.salesPerWristband, postings: result.postings }, { wristbands: 1, salesPerWristband: 1, postings: 5 })
  t.same(ledger.checkInvariants(), [])
  t.same(auditLedgerDatabase({ db }).findings, [])
})

t.test('the filler refuses a kiosk or product the database does not have', async (t) => {
  const event = createGrowthEvent({ kiosks: 1, wristbands: 1, fillKiosks: 1, fillWristbands: 2 })
  const { db } = openWithSetup(join(t.testdir(), 'refused.sqlite'), event)
  t.teardown(() => db.close())
  const base = { db, wristbands: event.fill.wristbands, cart: event.fill.cart, postings: 10 }
  await t.rejects(fillLedger({ ...base, kiosks: [{ id: 'nobody', privateKey: event.fill.kiosks[0]!.privateKey }] }), /kiosk nobody is not in the database/)
  await t.rejects(fillLedger({ ...base, kiosks: event.fill.kiosks, cart: [{ product: 'wine', qty: 1 }] }), /product wine is not sold/)
  t.equal((db.prepare(`SELECT COUNT(*) AS n FROM transactions`).get() as { n: number }).n, 0, 'nothing was written')
})
