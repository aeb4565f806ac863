// Which errors mean "the disk or the database cannot take a write now", as
// opposed to a bug or a refusal. Both daemons (the kiosk's outbox, the
// gateway's ledger) and the HTTP error handler ask the same question, so the
// answer lives here, with no I/O: better-sqlite3 puts SQLite's extended result
// code on `err.code` ('SQLITE_FULL', 'SQLITE_IOERR_WRITE', 'SQLITE_BUSY', ...),
// node's file calls put the errno name there ('ENOSPC', 'EIO', ...).
//
// Such a fault passes: space is freed, the other writer lets go, the file
// system comes back. So what it failed to write is refused or left for a retry,
// and the next write simply tries again.

/** SQLite result codes (and their extended forms, `SQLITE_IOERR_*`) that are storage faults. */
const SQLITE_FAULTS = ['SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_READONLY'] as const
/** Node's errno names that are storage faults: no space, I/O error, read-only file system, quota. */
const ERRNO_FAULTS = new Set(['ENOSPC', 'EIO', 'EROFS', 'EDQUOT'])

/** The fault's code when `err` is a storage fault (see above), undefined for any other error. */
export function storageFaultCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const code: unknown = (err as { code?: unknown }).code
  if (typeof code !== 'string') return undefined
  if (ERRNO_FAULTS.has(code)) return code
  return SQLITE_FAULTS.some((fault) => code === fault || code.startsWith(`${fault}_`)) ? code : undefined
}

/** Whether a storage fault means the disk (or the database's size limit) is full, rather than an I/O error or a lock. */
export function isStorageFull(code: string): boolean {
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT'
}
