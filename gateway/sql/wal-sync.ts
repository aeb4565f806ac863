// Group commit for the SQLite ledger: commits that do not wait for the disk,
// and one sync of the write-ahead log, off the main thread, that puts all of
// them there before anyone is told.
//
// With synchronous=FULL every commit fsyncs the WAL on the thread that
// commits: the gateway's one main thread waited for the disk once per ingest
// batch (the bench's profile: about 40% of its busy time at 2,000 sales/s),
// and no other kiosk, portal or operator request ran meanwhile. Here a batch
// commits with synchronous=NORMAL (its WAL frames written, not yet synced),
// the main thread goes on, and the batch's answers wait for an fdatasync of
// the WAL on libuv's thread pool that began after the commit. Batches
// committed while one sync runs wait for the next, which covers them all.
// A kiosk still hears "accepted" only once its booking is on disk.
//
// Why that is as durable as FULL: in WAL mode the commits only append frames
// to the -wal file, and a synced frame with its commit mark survives a power
// cut; SQLite itself syncs the WAL before every checkpoint (NORMAL and FULL
// alike) and the database file after, so nothing leaves the WAL unsynced.
// The setting is per connection and switched back to FULL after each
// deferred batch: every other writer (HTTP top-ups, imports) still waits for
// its own commit to be synced, which covers earlier deferred commits too.
//
// A failed sync is final: after an fsync error Linux may have dropped the
// unwritten pages and report the next fsync as a success (PostgreSQL's
// "fsyncgate"), so nothing committed before it can be vouched for until the
// process restarts and SQLite reads the WAL back from the disk. Every later
// caller gets the same error.
import { close, fdatasync, open } from 'node:fs'
import type Database from 'better-sqlite3'

/** The file system calls a sync makes; node:fs by default, replaced in tests to hold or fail them. */
export interface WalSyncFs {
  open(path: string, flags: string, callback: (err: NodeJS.ErrnoException | null, fd: number) => void): void
  fdatasync(fd: number, callback: (err: NodeJS.ErrnoException | null) => void): void
  close(fd: number, callback: (err: NodeJS.ErrnoException | null) => void): void
}

export interface DeferredSync {
  /** Runs `fn` (its commits) without waiting for the disk; the connection waits again afterwards, also when `fn` throws. */
  withoutWaiting<T>(fn: () => T): T
  /**
   * Calls `done` once everything committed before this call is on disk, or with the error that keeps it
   * from being known to be. Callbacks are called in the order they were given, never synchronously.
   */
  whenDurable(done: (err: Error | undefined) => void): void
  /** Syncs begun so far (for metrics and tests). */
  syncs(): number
  /** Lets go of the log's file once the database is closed; later syncs find nothing left to wait for. */
  close(): void
}

const defaultFs: WalSyncFs = { open, fdatasync, close }

/** The deferred sync of a ledger connection; undefined for an in-memory database, which has no disk to wait for. */
export function createWalSync(db: Database.Database, options: { fs?: WalSyncFs } = {}): DeferredSync | undefined {
  if (db.memory) return undefined
  const fs = options.fs ?? defaultFs
  const walPath = `${db.name}-wal`
  /** Callbacks whose commits the sync running now may not cover: they wait for the next. */
  let waiting: Array<(err: Error | undefined) => void> = []
  let syncing = false
  let syncsBegun = 0
  let failure: Error | undefined
  /** The WAL's descriptor, opened on the first sync and kept: SQLite keeps the file (one inode) while the database is open. */
  let walFd: number | undefined
  let closed = false

  function withoutWaiting<T>(fn: () => T): T {
    // Not a prepared statement run again: SQLite applies this pragma when it compiles it.
    db.exec('PRAGMA synchronous = NORMAL')
    try {
      return fn()
    } finally {
      db.exec('PRAGMA synchronous = FULL')
    }
  }

  function whenDurable(done: (err: Error | undefined) => void): void {
    if (failure !== undefined || closed) {
      // Closed: SQLite checkpointed and synced the WAL into the database file when the last connection closed.
      const err = failure ?? (db.open ? new Error('the ledger sync was closed before its database') : undefined)
      setImmediate(() => done(err))
      return
    }
    waiting.push(done)
    if (!syncing) beginSync()
  }

  function beginSync(): void {
    syncing = true
    syncsBegun++
    const round = waiting
    waiting = []
    syncWal((err) => {
      syncing = false
      if (err !== undefined && failure === undefined) failure = new Error(`syncing the ledger's write-ahead log failed: ${err.message}`, { cause: err })
      if (closed) closeFd()
      for (const done of round) done(failure)
      if (waiting.length === 0) return
      if (failure === undefined && !closed) beginSync()
      else {
        const late = waiting
        waiting = []
        for (const done of late) whenDurable(done)
      }
    })
  }

  function syncWal(done: (err: Error | undefined) => void): void {
    if (walFd !== undefined) {
      fs.fdatasync(walFd, (err) => done(err ?? undefined))
      return
    }
    fs.open(walPath, 'r', (openErr, fd) => {
      if (openErr !== null) done(openErr)
      else {
        walFd = fd
        syncWal(done)
      }
    })
  }

  function closeFd(): void {
    const fd = walFd
    walFd = undefined
    if (fd !== undefined) fs.close(fd, () => {})
  }

  /** After the database closed: its descriptor is let go once no sync uses it. */
  function close(): void {
    closed = true
    if (!syncing) closeFd()
  }

  return { withoutWaiting, whenDurable, syncs: () => syncsBegun, close }
}
