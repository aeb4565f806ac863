// The gateway's data folder holds the ledger database, and in it the JWT
// secrets, the PIN secret and the gateway's private keys: readable by the
// gateway's user only, whatever the umask (systemd's StateDirectoryMode=0700
// is not there when the gateway runs by hand or in a container).
import { chmodSync, closeSync, fchmodSync, mkdirSync, openSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'

export const PRIVATE_DIR_MODE = 0o700
export const PRIVATE_FILE_MODE = 0o600
const GROUP_OTHER_BITS = 0o077

export class DataDirError extends Error {
  override name = 'DataDirError'
}

/** The folder can be read or entered by group or others. */
export class InsecureDataDirError extends DataDirError {
  override name = 'InsecureDataDirError'
}

const modeText = (mode: number) => (mode & 0o777).toString(8).padStart(3, '0')

/**
 * Creates the folder 0700 when it is missing; refuses one that exists and can
 * be read or entered by group or others: its secrets may already have leaked,
 * so an operator decides (chmod 700), not the gateway.
 */
export function ensurePrivateDataDir(dir: string): void {
  let created: string | undefined
  try {
    created = mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE })
  } catch (err) {
    // A file in its place: said below.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  // mkdir's mode passes through the umask: set it exactly on every folder we created.
  if (created !== undefined) {
    const first = resolve(created)
    for (let p = resolve(dir); ; p = dirname(p)) {
      chmodSync(p, PRIVATE_DIR_MODE)
      if (p === first || p === dirname(p)) break
    }
  }
  const st = statSync(dir)
  if (!st.isDirectory()) throw new DataDirError(`data folder ${dir} is not a directory`)
  if ((st.mode & GROUP_OTHER_BITS) !== 0) {
    throw new InsecureDataDirError(
      `data folder ${dir} has mode ${modeText(st.mode)}: it holds the ledger, the JWT and PIN secrets and the gateway's private keys, ` +
        `so only the gateway's user may read it. Run: chmod 700 ${dir} (and chmod 600 the files in it), then start again`,
    )
  }
}

/**
 * Makes `path` a file of mode 0600, creating it empty when missing and
 * tightening it when it exists. SQLite gives its -wal and -shm files the mode
 * of the database file, so doing this before the first open covers them too.
 */
export function ensurePrivateFile(path: string): void {
  const fd = openSync(path, 'a', PRIVATE_FILE_MODE)
  try {
    // open's mode passes through the umask and is ignored for an existing file.
    fchmodSync(fd, PRIVATE_FILE_MODE)
  } finally {
    closeSync(fd)
  }
}

/** Tightens `path` to 0600 when it exists (a -wal or -shm file left by an older version). */
export function tightenIfPresent(path: string): void {
  try {
    chmodSync(path, PRIVATE_FILE_MODE)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}
