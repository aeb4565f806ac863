// An online backup of the gateway's database (SQLite's backup API through
// better-sqlite3's db.backup): copied a few pages per step, each step its own
// turn of the event loop, so ingest runs between steps and never waits longer
// than one step. The source connection is the gateway's own: a batch it
// commits while the copy runs is carried into the copy whole by SQLite, and a
// batch is one synchronous transaction, so the copy never holds half of one.
//
// The copy is written under a temporary name (mode 0600: it holds the
// gateway's secrets), switched from WAL to a single self-contained file,
// fsynced, checked (read-only: PRAGMA integrity_check and the caller's audit),
// and only then renamed to its final, sortable name. Anything that fails
// removes the temporary file: a backup folder holds whole, checked backups
// only.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'

/** Pages copied per step: with SQLite's default 4 KiB pages, 400 KiB, a few milliseconds. */
export const DEFAULT_PAGES_PER_STEP = 100

const BACKUP_NAME = /^gateway-(\d{8}T\d{6}\d{3}Z)\.sqlite$/
const TEMPORARY_SUFFIX = '.partial'

/** A backup's file name: the UTC time it was started, so names sort by age (gateway-20260805T141503123Z.sqlite). */
export function backupFileName(atMs: number): string {
  const stamp = new Date(atMs).toISOString().replace(/[-:.]/g, '')
  return `gateway-${stamp}.sqlite`
}

/** The backups in `dir`, oldest first (temporary files and foreign files are not backups). */
export function listBackups(dir: string): string[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  return names.filter((name) => BACKUP_NAME.test(name)).sort()
}

/** Deletes all but the newest `keep` backups of `dir`; returns the deleted names. */
export function pruneBackups(dir: string, keep: number): string[] {
  if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`keep must be a whole number of at least 1, got ${keep}`)
  const names = listBackups(dir)
  const old = names.slice(0, Math.max(0, names.length - keep))
  for (const name of old) rmSync(join(dir, name), { force: true })
  return old
}

/** What a check of a written copy found: nothing when it is sound. */
export type BackupCheck = (copy: Database.Database, file: string) => readonly string[] | Promise<readonly string[]>

export class BackupError extends Error {
  override readonly name = 'BackupError'
  constructor(
    message: string,
    /** The integrity or audit findings, when the copy was written but is not sound. */
    readonly findings: readonly string[] = [],
  ) {
    super(message)
  }
}

export interface BackupResult {
  /** The backup's path. */
  file: string
  bytes: number
  pages: number
}

export interface BackupOptions {
  /** The gateway's open database (the source). */
  db: Database.Database
  /** The backup folder, made (0700) when missing. */
  dir: string
  /** Unix ms: names the file. */
  now: number
  pagesPerStep?: number
  /** Checks beyond PRAGMA integrity_check on the read-only copy (the ledger audit). */
  check?: BackupCheck
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

function removeTemporary(path: string): void {
  for (const suffix of ['', '-journal', '-wal', '-shm']) rmSync(path + suffix, { force: true })
}

/** Writes one checked backup of `db` into `dir`; throws BackupError (and leaves no file behind) when anything fails. */
export async function backupDatabase(options: BackupOptions): Promise<BackupResult> {
  const pagesPerStep = options.pagesPerStep ?? DEFAULT_PAGES_PER_STEP
  let file = ''
  let temporary = ''
  let created = false
  try {
    mkdirSync(options.dir, { recursive: true, mode: 0o700 })
    // Two backups in one millisecond: the later one takes the next free name, never the earlier one's.
    for (let at = options.now; file === '' || existsSync(file); at++) file = join(options.dir, backupFileName(at))
    temporary = `${file}${TEMPORARY_SUFFIX}`
    // Created empty with 0600 before SQLite writes a page into it: the copy holds secrets.
    closeSync(openSync(temporary, 'wx', 0o600))
    created = true
    const { totalPages } = await options.db.backup(temporary, { progress: () => pagesPerStep })
    // The copy inherits WAL mode: make it one self-contained file (no -wal or -shm beside it), durable.
    const copy = new Database(temporary, { fileMustExist: true })
    try {
      copy.pragma('journal_mode = DELETE')
    } finally {
      copy.close()
    }
    fsyncPath(temporary)
    const findings = await checkCopy(temporary, options.check)
    if (findings.length > 0) throw new BackupError(`the copy failed its check: ${findings.slice(0, 3).join('; ')}${findings.length > 3 ? ` (and ${findings.length - 3} more)` : ''}`, findings)
    renameSync(temporary, file)
    // The rename is durable only once the folder is.
    fsyncPath(options.dir)
    return { file, bytes: statSync(file).size, pages: totalPages }
  } catch (err) {
    if (created) removeTemporary(temporary)
    if (err instanceof BackupError) throw err
    throw new BackupError(`backup to ${options.dir} failed: ${(err as Error).message}`)
  }
}

/** Opens the copy read-only: SQLite's integrity check, then `check`. */
async function checkCopy(path: string, check: BackupCheck | undefined): Promise<readonly string[]> {
  const copy = new Database(path, { readonly: true, fileMustExist: true })
  try {
    const rows = copy.pragma('integrity_check') as Array<{ integrity_check: string }>
    const integrity = rows.map((row) => row.integrity_check).filter((line) => line !== 'ok')
    if (integrity.length > 0) return integrity.map((line) => `integrity_check: ${line}`)
    return check === undefined ? [] : await check(copy, path)
  } finally {
    copy.close()
  }
}
