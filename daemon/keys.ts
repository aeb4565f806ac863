// The kiosk's Ed25519 identity. Created once in the data dir on first start
// and loaded on every start after that: the gateway knows the kiosk by its
// public key (enrollment), so losing or replacing this file is a re-enrollment.
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, statSync, chmodSync, writeSync, unlinkSync } from 'node:fs'
import { generateKeyPairSync, createPublicKey, type KeyObject } from 'node:crypto'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { privateKeyFromPem, publicKeyToBase64Url } from '../device-protocol/index.js'

export const KEY_FILE_NAME = 'kiosk-ed25519.pem'

export class InsecureKeyFileError extends Error {
  override readonly name = 'InsecureKeyFileError'
}

export class KeyFileError extends Error {
  override readonly name = 'KeyFileError'
}

export interface KioskKeys {
  privateKey: KeyObject
  publicKey: KeyObject
  /** The 32 raw public key bytes, base64url: what the gateway enrolls. */
  publicKeyBase64Url: string
  path: string
  /** True when this call generated the key pair. */
  created: boolean
}

export interface LoadKeysOptions {
  dataDir: string
  logger?: Logger
  /**
   * What to do when the key file or the data dir can be read by group/others:
   * 'refuse' (default) throws InsecureKeyFileError, 'repair' tightens the mode
   * and goes on with a warning. The key may already have leaked either way.
   */
  onInsecure?: 'refuse' | 'repair'
}

const PRIVATE_MODE = 0o600
const DIR_MODE = 0o700
const GROUP_OTHER_BITS = 0o077

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
}

function ensurePrivateDir(dir: string, onInsecure: 'refuse' | 'repair', logger?: Logger): void {
  mkdirSync(dir, { recursive: true, mode: DIR_MODE })
  const st = statSync(dir)
  if (!st.isDirectory()) throw new KeyFileError(`data dir ${dir} is not a directory`)
  if ((st.mode & GROUP_OTHER_BITS) === 0) return
  if (onInsecure === 'repair') {
    chmodSync(dir, DIR_MODE)
    logger?.warn({ dir, mode: (st.mode & 0o777).toString(8) }, 'data dir was open to group/others; mode set to 0700')
    return
  }
  throw new InsecureKeyFileError(
    `data dir ${dir} has mode ${(st.mode & 0o777).toString(8)}; it holds the kiosk's private key and must be 0700 (chmod 700 it, or set "repairKeyPermissions": true in the config file)`,
  )
}

/** Writes the PEM to a temp file (0600, exclusive), syncs it, then renames: a crash never leaves half a key. */
function writeKeyFile(path: string, pem: string): void {
  const tmp = `${path}.tmp-${process.pid}`
  // A crash during an earlier first start may have left a temp file (pids repeat in containers).
  try {
    unlinkSync(tmp)
  } catch (err) {
    if (!isMissing(err)) throw err
  }
  const fd = openSync(tmp, 'wx', PRIVATE_MODE)
  try {
    writeSync(fd, pem)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  try {
    renameSync(tmp, path)
  } catch (err) {
    unlinkSync(tmp)
    throw err
  }
  // The rename is durable only once the directory entry is on disk.
  const dirFd = openSync(join(path, '..'), 'r')
  try {
    fsyncSync(dirFd)
  } finally {
    closeSync(dirFd)
  }
}

function readKeyFile(path: string, onInsecure: 'refuse' | 'repair', logger?: Logger): KeyObject {
  const st = lstatSync(path)
  if (!st.isFile()) throw new KeyFileError(`key file ${path} is not a regular file`)
  if ((st.mode & GROUP_OTHER_BITS) !== 0) {
    const mode = (st.mode & 0o777).toString(8)
    if (onInsecure !== 'repair') {
      throw new InsecureKeyFileError(
        `key file ${path} has mode ${mode}: it can be read by other users. Run chmod 600 on it (and consider a new key and re-enrolling the kiosk), or set "repairKeyPermissions": true in the config file`,
      )
    }
    chmodSync(path, PRIVATE_MODE)
    logger?.warn({ path, mode }, 'key file was readable by others; mode set to 0600 (consider re-enrolling the kiosk)')
  }
  try {
    return privateKeyFromPem(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new KeyFileError(`key file ${path} does not hold an Ed25519 private key in PEM: ${(err as Error).message}`)
  }
}

/** Loads the kiosk key pair from `dataDir`, creating it (and the dir) on first start. */
export function loadOrCreateKeys(options: LoadKeysOptions): KioskKeys {
  const { dataDir, logger } = options
  const onInsecure = options.onInsecure ?? 'refuse'
  ensurePrivateDir(dataDir, onInsecure, logger)
  const path = join(dataDir, KEY_FILE_NAME)

  let privateKey: KeyObject
  let created = false
  try {
    privateKey = readKeyFile(path, onInsecure, logger)
  } catch (err) {
    if (!isMissing(err)) throw err
    const pair = generateKeyPairSync('ed25519')
    writeKeyFile(path, pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString())
    privateKey = pair.privateKey
    created = true
  }
  const publicKey = createPublicKey(privateKey)
  const publicKeyBase64Url = publicKeyToBase64Url(publicKey)
  // The public key is not secret: logging it helps enrollment.
  logger?.info({ path, publicKey: publicKeyBase64Url, created }, created ? 'kiosk key pair created' : 'kiosk key pair loaded')
  return { privateKey, publicKey, publicKeyBase64Url, path, created }
}
