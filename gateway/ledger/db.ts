// Opening the ledger's SQLite file with the settings money needs.
import Database from 'better-sqlite3'
import { ensurePrivateFile, tightenIfPresent } from '../data-dir.js'

/**
 * WAL so readers (HTTP, portal) never block the writer; synchronous=FULL so a
 * committed booking survives a power cut (the kiosk is told "accepted" only
 * after the commit; ingest's batches commit without waiting and are answered
 * after one sync of the log off the main thread, gateway/sql/wal-sync.ts);
 * foreign keys on so a posting can never name a missing account.
 */
export function configureLedgerConnection(db: Database.Database): void {
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.pragma('foreign_keys = ON')
  db.pragma('busy_timeout = 5000')
}

/** Opens (creating if needed, mode 0600) a ledger database file; ':memory:' for tests. */
export function openLedgerDatabase(path: string): Database.Database {
  if (path !== ':memory:' && path !== '') {
    // It holds secrets (JWT and PIN secrets, private keys). SQLite creates its
    // -wal, -shm and -journal files with the database file's mode.
    ensurePrivateFile(path)
    for (const suffix of ['-wal', '-shm', '-journal']) tightenIfPresent(path + suffix)
  }
  const db = new Database(path)
  configureLedgerConnection(db)
  return db
}
