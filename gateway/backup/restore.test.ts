// Restore, audit, resume, on the gateway's SQLite file: a backup is copied into
// place of a ledger that went on booking after it, the audit finds the
// restored file clean, and then
// - what a kiosk sends again that the backup already holds is answered from
//   the record, never booked twice; what the backup missed is booked once;
// - a kiosk that no longer holds what the backup missed (the kiosk's outbox
//   deletes an envelope once it is answered: daemon/outbox.ts) finds its next
//   sale held as a gap: nothing is booked out of order, nothing twice, and the
//   books stay balanced; README "Backups and restore" says what an operator
//   must do about such a kiosk.
import { copyFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { Envelope } from '../../device-protocol/index.js'
import { auditLedgerDatabase } from '../audit/audit.js'
import { openLedgerDatabase } from '../ledger/db.js'
import { createLedger } from '../ledger/index.js'
import { UID, fixedClock, makeWorld, silentLogger, verified, type TestWorld } from '../ledger/testing/test-helpers.js'
import { backupDatabase } from './backup.js'

const TOPUP = 1_000
const BEER = 450

/** One batch: a top-up at the cash desk and a beer at the bar. */
function batch(w: TestWorld): Envelope[] {
  const envelopes = [w.kiosks.cash.topup(UID.alice, TOPUP), w.kiosks.bar.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: BEER }])]
  w.ledger.applyBatch(envelopes.map(verified))
  return envelopes
}

/** Five batches, a backup after the third, then the gateway stopped and the backup copied into place of its file. */
async function restoredAfterFiveBatches(t: { testdir(): string; teardown(fn: () => void): void }) {
  const root = t.testdir()
  const path = join(root, 'gateway.sqlite')
  const w = makeWorld(path)
  const before = [...batch(w), ...batch(w), ...batch(w)]
  const backup = await backupDatabase({ db: w.db, dir: join(root, 'backups'), now: Date.UTC(2026, 7, 5, 3) })
  const after = [...batch(w), ...batch(w)]
  w.close()
  // The restore: the gateway stopped, its file (and any -wal, -shm) replaced by the backup.
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
  copyFileSync(backup.file, path)
  const audit = auditLedgerDatabase({ path })
  const db = openLedgerDatabase(path)
  t.teardown(() => db.close())
  const ledger = createLedger({ db, clock: fixedClock(), logger: silentLogger })
  return { w, before, after, audit, db, ledger }
}

t.test('restore, audit, resume: what the kiosks send again is booked exactly once', async (t) => {
  const { before, after, audit, db, ledger } = await restoredAfterFiveBatches(t)
  t.same(audit.findings, [], 'the restored file passes the audit')
  t.equal(ledger.kioskCursor('bar-1')!.nextSeq, 4, 'the restored ledger ends where the backup was taken')
  t.equal(ledger.balanceOf(UID.alice), 3 * (TOPUP - BEER))

  // Every envelope again, in each kiosk's order, in one batch (a kiosk's resend after the restart).
  const outcomes = ledger.applyBatch([...before, ...after].map(verified))
  t.same(
    outcomes.map((o) => (o.kind === 'result' ? (o.replay ? 'replay' : o.booked ? 'booked' : 'other') : o.kind)),
    [...before.map(() => 'replay'), ...after.map(() => 'booked')],
    'what the backup holds is answered from the record; what it missed is booked',
  )
  t.same(ledger.checkInvariants(), [])
  t.equal(ledger.sumOfAllBalances(), 0)
  t.equal(ledger.balanceOf(UID.alice), 5 * (TOPUP - BEER), 'every sale and top-up once')
  const ids = db.prepare('SELECT id FROM transactions').all() as Array<{ id: string }>
  t.same(ids.map((r) => r.id).sort(), [...before, ...after].map((e) => e.tx.id).sort(), 'each transaction recorded exactly once')
  t.same(auditLedgerDatabase({ db }).findings, [], 'the audit is clean after the resume')
})

t.test('a kiosk that deleted what the backup missed: its next sale waits as a gap, nothing is booked twice or out of order', async (t) => {
  const { w, audit, ledger } = await restoredAfterFiveBatches(t)
  t.same(audit.findings, [])
  // The real kiosk holds only unanswered entries: seqs 4 and 5 were answered before the restore and are gone.
  const next = w.kiosks.bar.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: BEER }])
  t.equal(next.tx.seq, 6)
  const [outcome] = ledger.applyBatch([verified(next)])
  t.match(outcome, { kind: 'gap', fromSeq: 4 }, 'the gateway asks for seq 4 again, which this kiosk can no longer send')
  t.equal(ledger.kioskCursor('bar-1')!.nextSeq, 4, 'nothing booked past the gap')
  t.equal(ledger.balanceOf(UID.alice), 3 * (TOPUP - BEER), 'the restored balances stand')
  t.same(ledger.checkInvariants(), [])
})
