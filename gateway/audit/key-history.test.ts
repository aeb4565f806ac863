// The audit checks every envelope against the key its kiosk's key history
// names for its seq (issue 16, point 4): a kiosk re-enrolled with a new key,
// through the admin API or a registration code, audits clean; an envelope
// tampered with after the change is a bad signature; only a database upgraded
// to the history after its keys were replaced cannot tell, and says so.
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { canonicalBytes, envelopeHash, type Envelope } from '../../device-protocol/index.js'
import { openLedgerDatabase } from '../ledger/db.js'
import { createLedger, type Ledger } from '../ledger/ledger.js'
import { L, OPS_UID, STAFF, StaffedKiosk, opsSetup } from '../ledger/testing/operations-fixtures.js'
import { fixedClock, makeKioskKeys, silentLogger } from '../ledger/testing/test-helpers.js'
import { addKioskKeyHistory } from '../registry/kiosk-keys.js'
import { auditLedgerDatabase } from './audit.js'

const NOW_MS = 1_750_000_000_000

interface World {
  db: Database.Database
  ledger: Ledger
  /** bar-1 as it signs now; `rekey` gives it a new key that continues the same chain. */
  bar: StaffedKiosk
}

function world(t: Test): World {
  const db = openLedgerDatabase(':memory:')
  t.teardown(() => db.close())
  const ledger = createLedger({ db, clock: fixedClock(), logger: silentLogger })
  const bar = new StaffedKiosk('bar-1', STAFF.cashier)
  const desk = new StaffedKiosk('desk-1', STAFF.supervisor)
  ledger.registry.importEventSetup(opsSetup({ 'bar-1': bar.keys, 'desk-1': desk.keys }))
  book(ledger, desk.topup(OPS_UID.alice, 5000))
  return { db, ledger, bar }
}

function book(ledger: Ledger, envelope: Envelope): string {
  const [outcome] = ledger.applyBatch([{ envelope }])
  if (outcome?.kind !== 'result' || outcome.result.status !== 'accepted') throw new Error(`not accepted: ${JSON.stringify(outcome)}`)
  return envelope.tx.id
}

/** The same kiosk (same chain so far) signing with a fresh key from now on. */
function rekey(kiosk: StaffedKiosk): StaffedKiosk {
  const next = new StaffedKiosk(kiosk.id, kiosk.staff, makeKioskKeys())
  next.history.push(...kiosk.history)
  return next
}

/** Replaces a stored envelope, keeping its hash and (for the last one) the kiosk's cursor consistent: only the signature can tell. */
function rewriteEnvelope(db: Database.Database, id: string, change: (envelope: Envelope) => Envelope): void {
  const row = db.prepare<[string], { envelope: string; kiosk: string }>(`SELECT envelope, kiosk FROM transactions WHERE id = ?`).get(id)!
  const before = JSON.parse(row.envelope) as Envelope
  const changed = change(before)
  db.prepare(`UPDATE transactions SET envelope = ?, hash = ? WHERE id = ?`).run(canonicalBytes(changed).toString('utf8'), envelopeHash(changed), id)
  db.prepare(`UPDATE kiosks SET last_hash = ? WHERE id = ? AND last_hash = ?`).run(envelopeHash(changed), row.kiosk, envelopeHash(before))
}

const findingsOf = (db: Database.Database) => auditLedgerDatabase({ db }).findings.map((f): [string, string] => [f.code, f.object.id])

/** bar-1 signs with the file's key, then with a key sent through the admin API, then with one enrolled by a registration code. */
function rekeyedTwice(t: Test) {
  const w = world(t)
  let bar = w.bar
  const ids = { fileKey: book(w.ledger, bar.cart(OPS_UID.alice, [L.beer()])), adminKey: '', codeKey: '' }
  bar = rekey(bar)
  w.ledger.registry.enrollKiosk('bar-1', bar.keys.publicKeyBase64Url)
  ids.adminKey = book(w.ledger, bar.cart(OPS_UID.alice, [L.water()]))
  bar = rekey(bar)
  const { code } = w.ledger.registry.issueRegistrationCode('bar-1', NOW_MS, 60_000)
  const redeemed = w.ledger.registry.redeemRegistrationCode(code, bar.keys.publicKeyBase64Url, NOW_MS)
  if (!redeemed.ok) throw new Error(`the code was refused: ${redeemed.refused}`)
  ids.codeKey = book(w.ledger, bar.cart(OPS_UID.alice, [L.water()]))
  return { ...w, bar, ids }
}

t.test('every key change is kept with the seq it counts from and where it came from', async (t) => {
  const { db } = rekeyedTwice(t)
  t.same(
    db.prepare(`SELECT from_seq, source FROM kiosk_key_history WHERE kiosk_id = 'bar-1' ORDER BY id`).all(),
    [
      { from_seq: 1, source: 'event_setup' },
      { from_seq: 2, source: 'admin' },
      { from_seq: 3, source: 'registration_code' },
    ],
  )
  const current = db.prepare(`SELECT public_key FROM kiosks WHERE id = 'bar-1'`).pluck().get()
  t.equal(db.prepare(`SELECT public_key FROM kiosk_key_history WHERE kiosk_id = 'bar-1' ORDER BY id DESC LIMIT 1`).pluck().get(), current, 'the newest row is the current key')
})

t.test('the same key sent again starts no new period', async (t) => {
  const w = world(t)
  w.ledger.registry.enrollKiosk('bar-1', w.bar.keys.publicKeyBase64Url)
  t.same(w.db.prepare(`SELECT source FROM kiosk_key_history WHERE kiosk_id = 'bar-1'`).pluck().all(), ['event_setup'])
})

t.test('a kiosk re-enrolled through the admin API and by a registration code audits clean', async (t) => {
  const { db } = rekeyedTwice(t)
  t.same(findingsOf(db), [])
})

t.test('an envelope tampered with after a key change is a bad signature, not a key change', async (t) => {
  const { db, ids } = rekeyedTwice(t)
  rewriteEnvelope(db, ids.codeKey, (envelope) => ({ ...envelope, tx: { ...envelope.tx, at: envelope.tx.at + 1 } }))
  t.same(findingsOf(db), [['signature_invalid', ids.codeKey]])
})

t.test('a forged first envelope is a bad signature: the history says which key was current, no guessing', async (t) => {
  const { db, ids } = rekeyedTwice(t)
  const stranger = new StaffedKiosk('bar-1', STAFF.cashier)
  rewriteEnvelope(db, ids.fileKey, (envelope) => stranger.sign(envelope.tx))
  const found = findingsOf(db)
  t.same(
    found.filter(([code]) => code.startsWith('signature_')),
    [['signature_invalid', ids.fileKey]],
    'without the history, an intact first envelope that fails looked like a replaced key',
  )
  t.same(found.filter(([code]) => !code.startsWith('signature_')), [['chain_prev_mismatch', ids.adminKey]], 'its new hash breaks the link of the next one')
})

t.test('a database upgraded to the history after its key was replaced still reports the old envelopes as signature_key_changed', async (t) => {
  const w = world(t)
  let bar = w.bar
  const old = [book(w.ledger, bar.cart(OPS_UID.alice, [L.beer()])), book(w.ledger, bar.cart(OPS_UID.alice, [L.water()]))]
  // Before migration 22: the key was replaced and nothing kept the old one; the upgrade seeds the current key from seq 1.
  bar = rekey(bar)
  w.ledger.registry.enrollKiosk('bar-1', bar.keys.publicKeyBase64Url)
  w.db.exec(`DELETE FROM kiosk_key_history`)
  addKioskKeyHistory(w.db, NOW_MS)
  const seeded = book(w.ledger, bar.cart(OPS_UID.alice, [L.water()]))
  // After the upgrade the history keeps every change.
  bar = rekey(bar)
  w.ledger.registry.enrollKiosk('bar-1', bar.keys.publicKeyBase64Url)
  const later = book(w.ledger, bar.cart(OPS_UID.alice, [L.water()]))
  const { findings } = auditLedgerDatabase({ db: w.db })
  t.same(
    findings.map((f) => [f.code, f.object.id]),
    old.map((id) => ['signature_key_changed', id]),
    `${seeded} and ${later} verify against the keys the history names`,
  )
  t.match(findings[0]!.message, /key history cannot tell which key was current for this seq/)
})
