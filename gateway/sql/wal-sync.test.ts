// The ledger's group commit: who is called back when, what a failed sync
// does to everyone after it, and that the connection waits for the disk
// again outside a deferred batch. The file system is held or failed by a
// stand-in where the order matters; the rest runs on a real SQLite file.
import { close as fsClose, fdatasync as fsFdatasync, mkdtempSync, open as fsOpen, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { openLedgerDatabase } from '../ledger/db.js'
import { createWalSync, type WalSyncFs } from './wal-sync.js'

/** A real file system whose fdatasync calls wait until the test lets each go, or fail it. */
function heldFs() {
  const held: Array<{ fd: number; release(err?: NodeJS.ErrnoException): void }> = []
  let opens = 0
  let closes = 0
  const fs: WalSyncFs = {
    open(path, flags, callback) {
      opens++
      fsOpen(path, flags, callback)
    },
    fdatasync(fd, callback) {
      held.push({ fd, release: (err) => (err === undefined ? fsFdatasync(fd, callback) : setImmediate(() => callback(err))) })
    },
    close(fd, callback) {
      closes++
      fsClose(fd, callback)
    },
  }
  return { fs, held, opens: () => opens, closes: () => closes }
}

const tick = () => new Promise((resolve) => setImmediate(resolve))
/** Turns of the event loop until `until` holds (bounded: the file system answers within these). */
async function settle(until: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !until(); i++) await new Promise((resolve) => setTimeout(resolve, 1))
}

function ledgerFile(t: Test): Database.Database {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-wal-sync-'))
  const db = openLedgerDatabase(join(dir, 'gateway.sqlite'))
  db.exec('CREATE TABLE sales (id INTEGER PRIMARY KEY, cents INTEGER NOT NULL)')
  t.teardown(() => {
    if (db.open) db.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return db
}

t.test('an in-memory database has no disk to wait for', async (t) => {
  const db = new Database(':memory:')
  t.equal(createWalSync(db), undefined)
  db.close()
})

t.test('inside withoutWaiting the commits do not wait for the disk; before and after, and after a throw, they do', async (t) => {
  const db = ledgerFile(t)
  const sync = createWalSync(db)!
  const level = () => db.pragma('synchronous', { simple: true })
  t.equal(level(), 2, 'FULL outside')
  const inside = sync.withoutWaiting(() => {
    db.prepare('INSERT INTO sales (cents) VALUES (250)').run()
    return level()
  })
  t.equal(inside, 1, 'NORMAL inside')
  t.equal(level(), 2, 'FULL again')
  t.throws(() =>
    sync.withoutWaiting(() => {
      throw new Error('the batch failed')
    }),
  )
  t.equal(level(), 2, 'FULL again after a throw')
})

t.test('a caller waits for a sync that began after it; callers during a sync share the next one', async (t) => {
  const db = ledgerFile(t)
  const disk = heldFs()
  const sync = createWalSync(db, { fs: disk.fs })!
  const calls: string[] = []
  sync.withoutWaiting(() => db.prepare('INSERT INTO sales (cents) VALUES (100)').run())
  sync.whenDurable((err) => calls.push(`first:${err?.message ?? 'ok'}`))
  await settle(() => disk.held.length === 1)
  t.equal(disk.held.length, 1, 'one sync begun')
  // Committed while that sync runs: it may not cover these.
  sync.withoutWaiting(() => db.prepare('INSERT INTO sales (cents) VALUES (200)').run())
  sync.whenDurable((err) => calls.push(`second:${err?.message ?? 'ok'}`))
  sync.whenDurable((err) => calls.push(`third:${err?.message ?? 'ok'}`))
  await tick()
  t.same(calls, [], 'nobody is called back before the disk answers')
  t.equal(disk.held.length, 1, 'no second sync while one runs')

  disk.held[0]!.release()
  await settle(() => calls.length === 1 && disk.held.length === 2)
  t.same(calls, ['first:ok'], 'the first caller only: the others committed after its sync began')
  t.equal(disk.held.length, 2, 'the next sync began for the callers that waited')

  disk.held[1]!.release()
  await settle(() => calls.length === 3)
  t.same(calls, ['first:ok', 'second:ok', 'third:ok'], 'both waiting callers, in order, from one sync')
  t.equal(sync.syncs(), 2)
  t.equal(disk.opens(), 1, 'the log is opened once and kept')
})

t.test('a failed sync fails its callers and everyone after it, without syncing again', async (t) => {
  const db = ledgerFile(t)
  const disk = heldFs()
  const sync = createWalSync(db, { fs: disk.fs })!
  const errors: Array<Error | undefined> = []
  sync.withoutWaiting(() => db.prepare('INSERT INTO sales (cents) VALUES (100)').run())
  sync.whenDurable((err) => errors.push(err))
  await settle(() => disk.held.length === 1)
  sync.whenDurable((err) => errors.push(err))
  disk.held[0]!.release(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }))
  await settle(() => errors.length === 2)
  t.equal(errors.length, 2)
  t.match(errors[0]?.message, /write-ahead log failed: EIO/)
  t.equal(errors[1], errors[0], 'the caller that waited for the next sync gets the same error')
  t.equal((errors[0]?.cause as NodeJS.ErrnoException).code, 'EIO', 'the errno is kept')

  // The disk would answer now: after an fsync error nothing committed before it can be vouched for.
  sync.withoutWaiting(() => db.prepare('INSERT INTO sales (cents) VALUES (300)').run())
  const later = await new Promise<Error | undefined>((resolve) => sync.whenDurable(resolve))
  t.equal(later, errors[0], 'a later caller fails too')
  t.equal(sync.syncs(), 1, 'no sync after the failure')
})

t.test('on a real disk the commits made without waiting are called back durable', async (t) => {
  const db = ledgerFile(t)
  const sync = createWalSync(db)!
  for (let i = 0; i < 5; i++) sync.withoutWaiting(() => db.prepare('INSERT INTO sales (cents) VALUES (?)').run(i))
  const results = await Promise.all([1, 2, 3].map(() => new Promise<Error | undefined>((resolve) => sync.whenDurable(resolve))))
  t.same(results, [undefined, undefined, undefined])
  t.ok(sync.syncs() >= 1 && sync.syncs() <= 3)
  t.same(db.prepare('SELECT COUNT(*) AS n FROM sales').get(), { n: 5 }, 'the rows are there')
})

t.test('closed with its database: the descriptor is let go after the sync that uses it, and later callers are told it is on disk', async (t) => {
  const db = ledgerFile(t)
  const disk = heldFs()
  const sync = createWalSync(db, { fs: disk.fs })!
  sync.withoutWaiting(() => db.prepare('INSERT INTO sales (cents) VALUES (100)').run())
  const first = new Promise<Error | undefined>((resolve) => sync.whenDurable(resolve))
  await settle(() => disk.held.length === 1)
  db.close()
  sync.close()
  t.equal(disk.closes(), 0, 'not closed under the running sync')
  disk.held[0]!.release()
  t.equal(await first, undefined)
  await settle(() => disk.closes() === 1)
  t.equal(disk.closes(), 1, 'closed once the sync called back')
  const after = await new Promise<Error | undefined>((resolve) => sync.whenDurable(resolve))
  t.equal(after, undefined, 'closing the database checkpointed and synced what it held')
  t.equal(sync.syncs(), 1)
})

t.test('closed while its database is still open: later callers are not told their commits are on disk', async (t) => {
  const db = ledgerFile(t)
  const sync = createWalSync(db)!
  sync.close()
  const err = await new Promise<Error | undefined>((resolve) => sync.whenDurable(resolve))
  t.match(err?.message, /closed before its database/)
})
