import { chmodSync, copyFileSync, existsSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { openLedgerDatabase } from '../ledger/db.js'
import { createLedger } from '../ledger/index.js'
import { UID, fixedClock, makeWorld, silentLogger, verified, type TestWorld } from '../ledger/testing/test-helpers.js'
import { backupDatabase, backupFileName, listBackups, pruneBackups } from './backup.js'

/** One batch: a top-up at the cash desk and a beer at the bar, decided together. */
function batch(w: TestWorld) {
  return w.ledger.applyBatch([verified(w.kiosks.cash.topup(UID.alice, 1_000)), verified(w.kiosks.bar.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: 450 }]))])
}

/** Opens a copy of a backup as the gateway would after a restore (on a scratch copy: the backup stays untouched). */
function openRestored(t: { teardown(fn: () => void): void }, file: string) {
  const restored = join(`${file}.restored`)
  copyFileSync(file, restored)
  const db = openLedgerDatabase(restored)
  t.teardown(() => db.close())
  return createLedger({ db, clock: fixedClock(), logger: silentLogger })
}

t.test('a backup taken while batches are booked holds whole batches only, and the ledger invariants hold in it', async (t) => {
  const root = t.testdir()
  const w = makeWorld(join(root, 'gateway.sqlite'))
  t.teardown(() => w.close())
  for (let i = 0; i < 20; i++) batch(w)
  // Padding so the copy takes many steps.
  w.db.exec("CREATE TABLE padding (x TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO padding SELECT printf('%0500d', i) FROM n")
  let booking = true
  let booked = 20
  // Ingest's turn between the backup's steps: a batch per turn of the event loop.
  const ingest = (async () => {
    while (booking) {
      batch(w)
      booked++
      await new Promise((resolve) => setImmediate(resolve))
    }
  })()
  const dir = join(root, 'backups')
  const result = await backupDatabase({ db: w.db, dir, now: Date.UTC(2026, 7, 5, 14, 15, 3, 123), pagesPerStep: 2 })
  booking = false
  await ingest
  t.ok(booked > 21, 'batches were booked while the backup ran')
  t.equal(result.file, join(dir, 'gateway-20260805T141503123Z.sqlite'))
  t.equal(result.bytes, statSync(result.file).size)
  t.ok(result.pages > 100)
  t.equal(statSync(result.file).mode & 0o777, 0o600, 'the backup holds secrets: 0600')
  t.same(readdirSync(dir), ['gateway-20260805T141503123Z.sqlite'], 'one self-contained file: no temporary, -wal or -shm file beside it')

  const copy = openRestored(t, result.file)
  t.same(copy.checkInvariants(), [])
  t.equal(copy.sumOfAllBalances(), 0)
  const cash = copy.kioskCursor('cash-1')!.nextSeq - 1
  const bar = copy.kioskCursor('bar-1')!.nextSeq - 1
  t.equal(cash, bar, 'every batch in the copy is whole: as many top-ups as beers')
  t.ok(cash >= 20 && cash <= booked)
  t.equal(copy.balanceOf(UID.alice), cash * (1_000 - 450))
})

t.test('retention keeps the newest backups; other files in the folder are left alone', async (t) => {
  const root = t.testdir()
  const w = makeWorld(join(root, 'gateway.sqlite'))
  t.teardown(() => w.close())
  const dir = join(root, 'backups')
  const start = Date.UTC(2026, 7, 5, 12)
  for (let i = 0; i < 5; i++) await backupDatabase({ db: w.db, dir, now: start + i * 3_600_000 })
  writeFileSync(join(dir, 'notes.txt'), 'mine')
  t.same(pruneBackups(dir, 2), [0, 1, 2].map((i) => backupFileName(start + i * 3_600_000)))
  t.same(listBackups(dir), [3, 4].map((i) => backupFileName(start + i * 3_600_000)))
  t.ok(existsSync(join(dir, 'notes.txt')))
  t.throws(() => pruneBackups(dir, 0), RangeError)
})

t.test('a failing destination leaves nothing behind', async (t) => {
  const root = t.testdir()
  const w = makeWorld(join(root, 'gateway.sqlite'))
  t.teardown(() => w.close())
  batch(w)

  t.test('a read-only folder', { skip: process.getuid?.() === 0 ? 'root writes into read-only folders' : false }, async (t) => {
    const dir = join(root, 'read-only')
    await backupDatabase({ db: w.db, dir, now: 1 }).then(() => undefined)
    chmodSync(dir, 0o500)
    t.teardown(() => chmodSync(dir, 0o700))
    await t.rejects(backupDatabase({ db: w.db, dir, now: 2 }), { name: 'BackupError' })
    t.same(readdirSync(dir), [backupFileName(1)])
  })

  t.test('a folder that cannot be made (its parent is a file)', async (t) => {
    const parent = join(root, 'a-file')
    writeFileSync(parent, '')
    await t.rejects(backupDatabase({ db: w.db, dir: join(parent, 'backups'), now: 1 }), { name: 'BackupError', message: /backup to .* failed/ })
  })

  t.test('a copy whose check finds something is deleted, with the findings', async (t) => {
    const dir = join(root, 'checked')
    let checkedRows = 0
    const error = await backupDatabase({
      db: w.db,
      dir,
      now: 3,
      check: (copy) => {
        checkedRows = (copy.prepare('SELECT count(*) AS n FROM transactions').get() as { n: number }).n
        return ['kiosk bar-1: seq 2 missing']
      },
    }).catch((err: unknown) => err)
    t.match(error, { name: 'BackupError', findings: ['kiosk bar-1: seq 2 missing'], message: /failed its check: kiosk bar-1: seq 2 missing/ })
    t.equal(checkedRows, 2, 'the check read the written copy')
    t.same(readdirSync(dir), [], 'no half or unchecked file is left')
  })
})
