// The growth bench's filled ledger, stored per machine: writing 10 million
// postings means signing about 3.4 million envelopes (minutes of CPU), and the
// result is the same every time but for its random keys. So the first run
// stores what the filler wrote (the ledger file and the event it belongs to,
// keys included) in the bench's cache folder, and later runs copy it.
//
// Never trusted blindly:
// - an entry is used only for the same key: the filler's version (a digest of
//   the sources that decide what it writes), the gateway's schema version, the
//   postings asked for and the event's shape; any other key fills anew;
// - the stored file is copied only when it is unchanged since it was stored:
//   when it is still the same file (device, inode) with the length, change time
//   and modification time recorded then, it is copied as it is; else (a cache
//   folder restored or copied from elsewhere, a file written to) the copy is
//   read through SHA-256 and compared with the digest and length stored when it
//   was written, and one that differs is thrown away with the entry and the
//   filler runs. Reading 5.5 GB through SHA-256 on every run cost about as long
//   as the copy itself. The file's times are a proof that no process wrote to it
//   (store() sets its modification time to a fixed one, which a write replaces
//   with the present, and the change time cannot be set back from user space);
//   they are no proof against the disk itself changing a bit under the file
//   system, which the digest would find: a damaged page of a benchmark's
//   fixture would show as a SQLite error or a wrong figure, not as lost money;
// - an entry is written to a staging folder and renamed into place with its
//   description written last, so one cut short is never found.
import { createHash, createPrivateKey, randomBytes, type KeyObject } from 'node:crypto'
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'
import pino from 'pino'
import { loadOrCreateKeys, KEY_FILE_NAME } from '../../daemon/keys.js'
import { systemClock } from '../../device-protocol/index.js'
import { DB_FILE_NAME } from '../../gateway/app.js'
import { createLedger, openLedgerDatabase } from '../../gateway/ledger/index.js'
import { GATEWAY_SCHEMA_VERSION } from '../../gateway/migrations.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { createGrowthEvent, type GrowthEvent } from './growth-event.js'
import { fillLedger, type LedgerFill } from './ledger-filler.js'
import type { LoadFleetFile } from './load-event.js'

const HERE = dirname(fileURLToPath(import.meta.url))
/** The sources that decide what the filler writes and the event it writes it for. */
const FILLER_SOURCES = ['ledger-filler.ts', 'ledger-filler-worker.ts', 'growth-event.ts', 'load-event.ts', 'fill-cache.ts']
/** Bumped when an entry's layout changes. */
const ENTRY_FORMAT = 1
const DESCRIPTION = 'fill.json'
const LEDGER = 'ledger.sqlite'

/** The event's shape: the fill's and the load generator's kiosks and wristbands. */
export interface GrowthShape {
  fillKiosks: number
  fillWristbands: number
  kiosks: number
  wristbands: number
}

export interface FillCacheKey extends GrowthShape {
  format: number
  fillerVersion: string
  schemaVersion: number
  postings: number
}

/** A digest of the filler's sources (as they are now): its version. */
export function fillerVersion(): string {
  const hash = createHash('sha256')
  for (const name of FILLER_SOURCES) hash.update(name).update('\0').update(readFileSync(join(HERE, name))).update('\0')
  return hash.digest('hex')
}

export function fillCacheKey(postings: number, shape: GrowthShape): FillCacheKey {
  const { fillKiosks, fillWristbands, kiosks, wristbands } = shape
  return { format: ENTRY_FORMAT, fillerVersion: fillerVersion(), schemaVersion: GATEWAY_SCHEMA_VERSION, postings, fillKiosks, fillWristbands, kiosks, wristbands }
}

/** The event as stored: private keys as PKCS#8 DER in base64. */
interface StoredEvent {
  setup: EventSetup
  fleet: LoadFleetFile
  fill: { kiosks: Array<{ id: string; privateKey: string }>; wristbands: string[]; cart: Array<{ product: string; qty: number }> }
}

interface EntryDescription {
  key: FillCacheKey
  /** The ledger file's SHA-256 (hex) and length. */
  sha256: string
  bytes: number
  /** The stored file as the file system saw it once stored and checked (absent: check the digest). */
  identity?: FileIdentity
  fill: LedgerFill
  event: StoredEvent
  till: { id: string; token: string; privateKeyPem: string }
}

export interface GrowthLedger {
  event: GrowthEvent
  /** The kiosk daemon of the bench, in the event with its key in `tillDir`. */
  till: { id: string; token: string; publicKey: string }
  /** What the filler wrote; when reused, its figures (and time) from the run that wrote it. */
  fill: LedgerFill
  reused: boolean
  /** Copying and checking the stored ledger (0 when filled). */
  copyMs: number
}

export interface GrowthLedgerOptions {
  postings: number
  shape: GrowthShape
  /** The till's data folder (made here, 0700); its key is written or kept in it. */
  tillDir: string
  /** The filled gateway's data folder (made here); its ledger is written there. */
  dataDir: string
  /** Where entries are kept; undefined: no cache, always fill. */
  cacheDir?: string
  log?: (line: string) => void
}

function entryDir(cacheDir: string, key: FillCacheKey): string {
  return join(cacheDir, `ledger-${createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 24)}`)
}

/** Copies `from` to `to` (the kernel copies, no bytes through this process), readable by its owner only. */
function copyPrivately(from: string, to: string): void {
  copyFileSync(from, to)
  chmodSync(to, 0o600)
}

/** A file's SHA-256 and length, read in large blocks. */
function digestOf(path: string): { sha256: string; bytes: number } {
  const hash = createHash('sha256')
  const block = Buffer.allocUnsafe(8 << 20)
  const fd = openSync(path, 'r')
  let bytes = 0
  try {
    for (let n = readSync(fd, block, 0, block.length, null); n > 0; n = readSync(fd, block, 0, block.length, null)) {
      hash.update(block.subarray(0, n))
      bytes += n
    }
  } finally {
    closeSync(fd)
  }
  return { sha256: hash.digest('hex'), bytes }
}

/** Which file it is and when it last changed, to the nanosecond (decimal strings: JSON has no bigint). */
interface FileIdentity {
  dev: string
  ino: string
  size: string
  mtimeNs: string
  ctimeNs: string
}

function identityOf(path: string): FileIdentity {
  const { dev, ino, size, mtimeNs, ctimeNs } = statSync(path, { bigint: true })
  return { dev: String(dev), ino: String(ino), size: String(size), mtimeNs: String(mtimeNs), ctimeNs: String(ctimeNs) }
}

/**
 * A stored file's modification time: fixed, so that any later write (which sets it to the present) shows,
 * however soon after storing it came (the file system's clock may not have moved on yet).
 */
const STORED_MTIME = new Date('2000-01-01T00:00:00Z')

/** Marks a stored file with STORED_MTIME; returns its identity from then on. */
function markStored(path: string): FileIdentity {
  utimesSync(path, STORED_MTIME, STORED_MTIME)
  return identityOf(path)
}

/** Replaces an entry's description by writing another file and renaming it over (never a description cut short). */
function rewriteDescription(dir: string, description: EntryDescription): void {
  const temporary = join(dir, `${DESCRIPTION}.${process.pid}.tmp`)
  writeFileSync(temporary, JSON.stringify(description), { mode: 0o600 })
  renameSync(temporary, join(dir, DESCRIPTION))
}

function readDescription(dir: string): EntryDescription | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, DESCRIPTION), 'utf8')) as EntryDescription
  } catch {
    return undefined
  }
}

function storedEvent(event: GrowthEvent): StoredEvent {
  return {
    setup: event.setup,
    fleet: event.fleet,
    fill: {
      kiosks: event.fill.kiosks.map((k) => ({ id: k.id, privateKey: k.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64') })),
      wristbands: event.fill.wristbands,
      cart: event.fill.cart,
    },
  }
}

function eventOf(stored: StoredEvent): GrowthEvent {
  const kiosks: Array<{ id: string; privateKey: KeyObject }> = stored.fill.kiosks.map((k) => ({
    id: k.id,
    privateKey: createPrivateKey({ key: Buffer.from(k.privateKey, 'base64'), format: 'der', type: 'pkcs8' }),
  }))
  return {
    setup: stored.setup,
    fleet: stored.fleet,
    fill: { kiosks, wristbands: stored.fill.wristbands, cart: stored.fill.cart },
    pins: new Map(stored.setup.wristbands.map((w) => [w.uid, w.pin!])),
  }
}

/** Writes the filler's history into a fresh gateway database in `dataDir`. */
async function writeFilledLedger(dataDir: string, event: GrowthEvent, postings: number): Promise<LedgerFill> {
  const db = openLedgerDatabase(join(dataDir, DB_FILE_NAME))
  try {
    const ledger = createLedger({ db, clock: systemClock, logger: pino({ level: 'silent' }) })
    ledger.registry.importEventSetup(event.setup)
    return await fillLedger({ db, kiosks: event.fill.kiosks, wristbands: event.fill.wristbands, cart: event.fill.cart, postings })
  } finally {
    db.close()
  }
}

/** The stored entry copied into place when it is there, whole and of this key; undefined (and the entry gone when damaged) otherwise. */
async function reuse(cacheDir: string, key: FillCacheKey, options: GrowthLedgerOptions): Promise<GrowthLedger | undefined> {
  const log = options.log ?? (() => {})
  const dir = entryDir(cacheDir, key)
  if (!existsSync(dir)) return undefined
  const description = readDescription(dir)
  if (description === undefined || !isDeepStrictEqual(description.key, key)) {
    log(`growth: the stored ledger in ${dir} has no description or another key: it is not used, the filler runs`)
    rmSync(dir, { recursive: true, force: true })
    return undefined
  }
  const started = performance.now()
  const stored = join(dir, LEDGER)
  const target = join(options.dataDir, DB_FILE_NAME)
  let unchanged = false
  let copied: { sha256: string; bytes: number } | undefined
  try {
    unchanged = description.identity !== undefined && isDeepStrictEqual(identityOf(stored), description.identity)
    copyPrivately(stored, target)
    // Unchanged since it was stored: the copy is the file that was checked then. Else the copy is read through the digest.
    copied = unchanged ? { sha256: description.sha256, bytes: statSync(target).size } : digestOf(target)
  } catch (err) {
    log(`growth: the stored ledger in ${dir} could not be read (${(err as Error).message}): the filler runs`)
  }
  if (copied === undefined || copied.sha256 !== description.sha256 || copied.bytes !== description.bytes) {
    if (copied !== undefined) log(`growth: the stored ledger in ${dir} is damaged (its SHA-256 or length differs from when it was written): it is removed, the filler runs`)
    rmSync(target, { force: true })
    rmSync(dir, { recursive: true, force: true })
    return undefined
  }
  if (unchanged) log(`growth: the stored ledger in ${dir} is the file stored then, unchanged (same file, length and times): copied without reading its digest`)
  else {
    log(`growth: the stored ledger in ${dir} was not the file stored then (restored, copied or touched): its copy was read through SHA-256 and matches`)
    // Its digest matched: from now on this file is the one stored.
    try {
      rewriteDescription(dir, { ...description, identity: markStored(stored) })
    } catch (err) {
      log(`growth: could not note the stored ledger as checked (${(err as Error).message}); the next run checks its digest again`)
    }
  }
  const event = eventOf(description.event)
  const tillKey = join(options.tillDir, KEY_FILE_NAME)
  writeFileSync(tillKey, description.till.privateKeyPem, { mode: 0o600 })
  const publicKey = loadOrCreateKeys({ dataDir: options.tillDir }).publicKeyBase64Url
  const till = { id: description.till.id, token: description.till.token, publicKey }
  return { event, till, fill: description.fill, reused: true, copyMs: Math.round(performance.now() - started) }
}

/** Stores what was just filled (the ledger in `dataDir`) as the entry of `key`, replacing older entries of the same size. */
async function store(cacheDir: string, key: FillCacheKey, filled: GrowthLedger, tillKeyPem: string, dataDir: string): Promise<string> {
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 })
  const staging = mkdtempSync(join(cacheDir, 'staging-ledger-'))
  const dir = entryDir(cacheDir, key)
  try {
    copyPrivately(join(dataDir, DB_FILE_NAME), join(staging, LEDGER))
    const { sha256, bytes } = digestOf(join(staging, LEDGER))
    const description: EntryDescription = {
      key,
      sha256,
      bytes,
      identity: markStored(join(staging, LEDGER)),
      fill: filled.fill,
      event: storedEvent(filled.event),
      till: { id: filled.till.id, token: filled.till.token, privateKeyPem: tillKeyPem },
    }
    // Written last: an entry without it is not used.
    writeFileSync(join(staging, DESCRIPTION), JSON.stringify(description), { mode: 0o600 })
    rmSync(dir, { recursive: true, force: true })
    renameSync(staging, dir)
    // Entries of the same size from another filler or schema version are stale now.
    for (const name of readdirSync(cacheDir)) {
      const other = join(cacheDir, name)
      if (!name.startsWith('ledger-') || other === dir) continue
      if (readDescription(other)?.key.postings === key.postings) rmSync(other, { recursive: true, force: true })
    }
    return dir
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
}

/**
 * The growth bench's event and filled ledger: copied from `cacheDir` when an entry of the same key is there
 * and whole, else filled (and stored there for the next run).
 */
export async function prepareGrowthLedger(options: GrowthLedgerOptions): Promise<GrowthLedger> {
  const log = options.log ?? (() => {})
  mkdirSync(options.tillDir, { mode: 0o700, recursive: true })
  mkdirSync(options.dataDir, { mode: 0o700, recursive: true })
  const key = fillCacheKey(options.postings, options.shape)
  if (options.cacheDir !== undefined) {
    const reused = await reuse(options.cacheDir, key, options)
    if (reused !== undefined) return reused
    log(`growth: no stored ledger of ${options.postings} postings for this filler and schema in ${options.cacheDir} (first run here, or they changed): the filler runs, and its ledger is stored for the next runs`)
  }
  const tillKeys = loadOrCreateKeys({ dataDir: options.tillDir })
  const till = { id: 'till-1', token: randomBytes(24).toString('base64url'), publicKey: tillKeys.publicKeyBase64Url }
  const event = createGrowthEvent({ ...options.shape, tills: [till] })
  const fill = await writeFilledLedger(options.dataDir, event, options.postings)
  const filled: GrowthLedger = { event, till, fill, reused: false, copyMs: 0 }
  if (options.cacheDir !== undefined) {
    // A cache that cannot be written (full disk, another bench storing the same entry) costs the next run a fill, not this run.
    try {
      const stored = await store(options.cacheDir, key, filled, tillKeys.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), options.dataDir)
      log(`growth: the filled ledger is stored in ${stored} for the next runs`)
    } catch (err) {
      log(`growth: the filled ledger could not be stored in ${options.cacheDir} (${(err as Error).message}); the next run fills again`)
    }
  }
  return filled
}
