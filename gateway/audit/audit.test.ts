// The audit on a real gateway ledger file: clean after real signed traffic,
// and each kind of damage, made with plain SQL on the file, found with its code.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { canonicalBytes, envelopeHash, type Envelope } from '../../device-protocol/index.js'
import { openLedgerDatabase } from '../ledger/db.js'
import { SigningKiosk, makeKioskKeys } from '../ledger/testing/test-helpers.js'
import { auditLedgerDatabase } from './audit.js'
import { AUDIT_FINDING_CODES, type AuditFindingCode } from './findings.js'
import { writeAuditedLedger, type AuditedLedgerFile } from './testing/audited-ledger.js'

/** A fresh clean ledger file for one test. */
function ledgerFile(t: Test): AuditedLedgerFile {
  return writeAuditedLedger(t.testdir())
}

/** Changes the file as an attacker or a broken disk would: plain SQL, no triggers, no foreign keys. */
function damage(path: string, sql: string, ...params: unknown[]): true {
  const db = new Database(path)
  db.pragma('foreign_keys = OFF')
  const changed = db.prepare(sql).run(...params).changes
  db.close()
  if (changed === 0) throw new Error(`damage changed nothing: ${sql}`)
  return true
}

/** Replaces a stored envelope and keeps its stored hash consistent with it: only the chain and the signature can tell. */
function rewriteEnvelope(path: string, id: string, change: (envelope: Envelope) => Envelope): void {
  const db = new Database(path)
  const row = db.prepare<[string], { envelope: string }>(`SELECT envelope FROM transactions WHERE id = ?`).get(id)!
  const changed = change(JSON.parse(row.envelope) as Envelope)
  db.prepare(`UPDATE transactions SET envelope = ?, hash = ? WHERE id = ?`).run(canonicalBytes(changed).toString('utf8'), envelopeHash(changed), id)
  db.close()
}

const codes = (path: string): AuditFindingCode[] => [...new Set(auditLedgerDatabase({ path }).findings.map((f) => f.code))].sort()

t.test('a ledger built from real signed traffic audits clean', async (t) => {
  const { path } = ledgerFile(t)
  const result = auditLedgerDatabase({ path })
  t.same(result.findings, [])
  t.match(result.checked, { kiosks: 4, transactions: 7, externalBookings: 1, debts: 1 })
  t.ok(result.checked.postings > 10)
})

/** The damage done with plain SQL and the codes the audit must report for it (others may come along). */
const DAMAGES: Array<{ name: string; damage: (file: AuditedLedgerFile) => void; expect: AuditFindingCode[]; not?: AuditFindingCode[] }> = [
  {
    name: "a transaction's amount changed",
    damage: ({ path, ids }) => damage(path, `UPDATE transactions SET amount = amount + 100 WHERE id = ?`, ids.beerWithCup),
    expect: ['transaction_differs_from_envelope'],
  },
  {
    name: 'the amount inside a stored envelope changed',
    damage: ({ path, ids }) => damage(path, `UPDATE transactions SET envelope = json_set(envelope, '$.tx.amount', 1) WHERE id = ?`, ids.beerWithCup),
    expect: ['envelope_hash_mismatch', 'signature_invalid', 'transaction_differs_from_envelope'],
  },
  {
    name: 'a posting deleted',
    damage: ({ path, ids }) => damage(path, `DELETE FROM postings WHERE id = (SELECT MIN(id) FROM postings WHERE tx_id = ?)`, ids.secondBarSale),
    expect: ['balance_differs_from_postings', 'booking_unbalanced'],
  },
  {
    name: 'a posting moved to a booking that does not exist',
    damage: ({ path, ids }) => damage(path, `UPDATE postings SET tx_id = 'nowhere' WHERE tx_id = ?`, ids.secondBarSale),
    expect: ['booking_missing_postings', 'posting_orphaned'],
  },
  {
    name: "an account's balance changed",
    damage: ({ path }) => damage(path, `UPDATE accounts SET balance = balance + 500 WHERE kind = 'revenue' AND ref = 'bar'`),
    expect: ['balance_differs_from_postings', 'balances_do_not_sum_to_zero'],
  },
  {
    name: "an envelope's prev rewritten, its stored hash made to match",
    damage: ({ path, ids }) => rewriteEnvelope(path, ids.cupReturn, (envelope) => ({ ...envelope, tx: { ...envelope.tx, prev: 'ab'.repeat(32) } })),
    expect: ['chain_prev_mismatch', 'signature_invalid'],
  },
  {
    name: 'a transaction removed from the middle of a chain, with its postings and lines',
    damage: ({ path, ids }) => {
      damage(path, `DELETE FROM postings WHERE tx_id = ?`, ids.cupReturn)
      damage(path, `DELETE FROM line_items WHERE tx_id = ?`, ids.cupReturn)
      damage(path, `DELETE FROM transactions WHERE id = ?`, ids.cupReturn)
    },
    expect: ['balance_differs_from_postings', 'chain_gap', 'chain_prev_mismatch'],
  },
  {
    name: 'one byte of a signature flipped',
    damage: ({ path, ids }) =>
      damage(path, `UPDATE transactions SET envelope = json_set(envelope, '$.sig', CASE WHEN substr(json_extract(envelope, '$.sig'), 1, 1) = 'A' THEN 'B' ELSE 'A' END || substr(json_extract(envelope, '$.sig'), 2)) WHERE id = ?`, ids.secondBarSale),
    expect: ['envelope_hash_mismatch', 'signature_invalid'],
  },
  {
    name: "a kiosk's cursor moved",
    damage: ({ path }) => damage(path, `UPDATE kiosks SET next_seq = next_seq + 1 WHERE id = 'bar-1'`),
    expect: ['chain_cursor_mismatch'],
  },
  {
    name: "a deposit line's total changed",
    damage: ({ path, ids }) => damage(path, `UPDATE line_items SET total = total + 100 WHERE tx_id = ? AND kind = 'deposit'`, ids.beerWithCup),
    expect: ['deposit_postings_differ_from_lines'],
  },
  {
    name: 'a debt deleted',
    damage: ({ path, ids }) => damage(path, `DELETE FROM debts WHERE tx_id = ?`, ids.offlineSale),
    expect: ['debt_missing'],
  },
  {
    name: 'a debt moved to an online sale',
    damage: ({ path, ids }) => damage(path, `UPDATE debts SET tx_id = ? WHERE tx_id = ?`, ids.secondBarSale, ids.offlineSale),
    expect: ['debt_without_offline_sale'],
  },
  {
    name: 'a debt larger than its sale',
    damage: ({ path, ids }) => damage(path, `UPDATE debts SET shortfall = 100000 WHERE tx_id = ?`, ids.offlineSale),
    expect: ['debt_exceeds_sale'],
  },
  {
    name: "an external booking's amount changed",
    damage: ({ path, ids }) => damage(path, `UPDATE external_bookings SET amount = amount + 1 WHERE id = ?`, ids.onlineTopup),
    expect: ['external_amount_differs'],
  },
  {
    name: 'a second paid online top-up naming the same booking',
    damage: ({ path, ids }) =>
      damage(
        path,
        `INSERT INTO online_topups (id, provider, provider_checkout_id, uid, amount, currency, status, booking_id, created_at, updated_at)
         SELECT 'topup-2', provider, 'checkout-2', uid, amount, currency, status, booking_id, 0, 0 FROM online_topups WHERE booking_id = ?`,
        ids.onlineTopup,
      ),
    expect: ['external_reference_duplicate'],
  },
  {
    name: 'a paid online top-up naming a booking that does not exist',
    damage: ({ path }) => damage(path, `UPDATE online_topups SET booking_id = 'no-such-booking' WHERE id = 'topup-1'`),
    expect: ['external_reference_missing'],
  },
  {
    name: 'a bank statement line naming a booking ref that does not exist',
    damage: ({ path }) =>
      damage(
        path,
        `INSERT INTO bank_import_transactions (job_id, idx, state, checksum, payer, reference, amount, date, iban, bic, uid, booking_ref)
         VALUES (1, 0, 'valid', 'c', 'Alice', 'WP-ALICE', '10.00', '2026-07-01', 'DE00', 'BIC', 'u', 'bank:no-such-ref')`,
      ),
    expect: ['external_reference_missing'],
  },
  {
    name: 'a bank statement line naming the online top-up booking by its ref',
    damage: ({ path }) =>
      damage(
        path,
        `INSERT INTO bank_import_transactions (job_id, idx, state, checksum, payer, reference, amount, date, iban, bic, uid, booking_ref)
         VALUES (1, 0, 'valid', 'c', 'Alice', 'WP-ALICE', '15.00', '2026-07-01', 'DE00', 'BIC', 'u', 'sumup:checkout-1')`,
      ),
    expect: [],
    not: ['external_reference_missing'],
  },
  {
    name: "a kiosk's key removed",
    damage: ({ path }) => damage(path, `UPDATE kiosks SET public_key = NULL WHERE id = 'bar-1'`),
    expect: ['signature_no_key'],
  },
  {
    name: 'a stored envelope overwritten with garbage',
    damage: ({ path, ids }) => damage(path, `UPDATE transactions SET envelope = '{"tx":1}' WHERE id = ?`, ids.beerWithCup),
    expect: ['envelope_hash_mismatch', 'envelope_unreadable'],
  },
  {
    name: 'a posting moved to a rejected transaction',
    damage: ({ path, ids }) => damage(path, `UPDATE postings SET tx_id = ? WHERE id = (SELECT MIN(id) FROM postings WHERE tx_id = ?)`, ids.rejectedSale, ids.secondBarSale),
    expect: ['booking_unbalanced', 'rejected_with_postings'],
  },
  {
    name: 'a posting naming an account that does not exist',
    damage: ({ path, ids }) => damage(path, `UPDATE postings SET account = 'revenue:nowhere' WHERE id = (SELECT MIN(id) FROM postings WHERE tx_id = ?)`, ids.secondBarSale),
    expect: ['posting_account_missing'],
  },
  {
    name: 'a deposit account below zero',
    damage: ({ path }) => damage(path, `UPDATE accounts SET balance = -200 WHERE kind = 'deposit'`),
    expect: ['deposit_negative'],
  },
  {
    name: "an external booking given a kiosk transaction's receipt",
    damage: ({ path, ids }) => damage(path, `UPDATE external_bookings SET receipt_id = (SELECT receipt_id FROM transactions WHERE id = ?) WHERE id = ?`, ids.aliceTopup, ids.onlineTopup),
    expect: ['external_id_reused'],
  },
  {
    name: "an external booking's postings deleted",
    damage: ({ path, ids }) => damage(path, `DELETE FROM postings WHERE tx_id = ?`, ids.onlineTopup),
    expect: ['booking_missing_postings'],
  },
]

t.test('every finding code is made by some damage below', async (t) => {
  const made = new Set([...DAMAGES.flatMap((d) => d.expect), 'signature_key_changed'])
  t.same(Object.keys(AUDIT_FINDING_CODES).filter((code) => !made.has(code as AuditFindingCode)), [])
})

for (const { name, damage: doDamage, expect, not = [] } of DAMAGES) {
  t.test(`found: ${name}`, async (t) => {
    const file = ledgerFile(t)
    doDamage(file)
    const found = codes(file.path)
    for (const code of expect) t.ok(found.includes(code), `${code} among ${found.join(', ')}`)
    for (const code of not) t.notOk(found.includes(code), `no ${code}`)
  })
}

t.test('every finding names its object and says what is wrong', async (t) => {
  const file = ledgerFile(t)
  damage(file.path, `UPDATE transactions SET amount = amount + 100 WHERE id = ?`, file.ids.beerWithCup)
  const { findings } = auditLedgerDatabase({ path: file.path })
  t.same(findings.map((f) => [f.code, f.object]), [['transaction_differs_from_envelope', { kind: 'transaction', id: file.ids.beerWithCup }]])
  t.match(findings[0]!.message, /envelope says amount 650/)
})

t.test("a kiosk key replaced since: the old envelopes are told from forged ones", async (t) => {
  const file = ledgerFile(t)
  const otherKey = makeKioskKeys().publicKeyBase64Url
  damage(file.path, `UPDATE kiosks SET public_key = ? WHERE id = 'bar-1'`, otherKey)
  const findings = auditLedgerDatabase({ path: file.path }).findings
  t.ok(findings.length > 0)
  t.ok(findings.every((f) => f.code === 'signature_key_changed'), 'an intact chain that verifies nowhere looks like a replaced key, not a forgery')
})

t.test('a forged envelope after envelopes that verify is invalid, not a key change', async (t) => {
  const file = ledgerFile(t)
  // The last bar sale re-signed by a stranger, its hash and the cursor kept consistent: only the signature tells.
  const stranger = new SigningKiosk('bar-1')
  rewriteEnvelope(file.path, file.ids.secondBarSale, (envelope) => stranger.sign(envelope.tx))
  const db = new Database(file.path)
  db.prepare(`UPDATE kiosks SET last_hash = (SELECT hash FROM transactions WHERE id = ?) WHERE id = 'bar-1'`).run(file.ids.secondBarSale)
  db.close()
  const { findings } = auditLedgerDatabase({ path: file.path })
  t.same(findings.map((f) => [f.code, f.object.id]), [['signature_invalid', file.ids.secondBarSale]])
})

t.test('the audit only reads: the file is unchanged, and a running writer does not stop it', async (t) => {
  const { path } = ledgerFile(t)
  const writer = openLedgerDatabase(path)
  t.teardown(() => writer.close())
  writer.prepare(`INSERT INTO meta (key, value) VALUES ('audit-test', 'written by the gateway')`).run()
  const before = readFileSync(path)
  const beforeWal = readFileSync(`${path}-wal`)
  t.same(auditLedgerDatabase({ path }).findings, [])
  t.ok(readFileSync(path).equals(before), 'the database file is unchanged')
  t.ok(readFileSync(`${path}-wal`).equals(beforeWal), 'the WAL is unchanged')
})

t.test('a file that is not a ledger database throws', async (t) => {
  const dir = t.testdir({ 'not-a-db': 'hello' })
  t.throws(() => auditLedgerDatabase({ path: join(dir, 'not-a-db') }))
  t.throws(() => auditLedgerDatabase({ path: join(dir, 'missing.db') }))
})
