// The growth bench's stored ledger (fill-cache.ts): reused when its key is
// this run's and its file is whole; filled anew when the key differs or the
// stored file is damaged; and what is reused audits clean with the event it
// came with.
import { copyFileSync, existsSync, readdirSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { DB_FILE_NAME } from '../../gateway/app.js'
import { auditLedgerDatabase } from '../../gateway/audit/audit.js'
import { createLedger } from '../../gateway/ledger/index.js'
import { silentLogger } from '../../gateway/ledger/testing/test-helpers.js'
import { systemClock } from '../../device-protocol/index.js'
import { fillCacheKey, prepareGrowthLedger, type GrowthShape } from './fill-cache.js'

const SHAPE: GrowthShape = { fillKiosks: 2, fillWristbands: 6, kiosks: 2, wristbands: 3 }
const POSTINGS = 120

function prepare(root: string, run: string, cacheDir: string, shape = SHAPE, log: string[] = []) {
  return prepareGrowthLedger({ postings: POSTINGS, shape, tillDir: join(root, run, 'till'), dataDir: join(root, run, 'filled'), cacheDir, log: (l) => log.push(l) })
}

function ledgerRows(dataDir: string): { postings: number; transactions: number; invariants: unknown[]; findings: unknown[] } {
  const db = new Database(join(dataDir, DB_FILE_NAME))
  try {
    const ledger = createLedger({ db, clock: systemClock, logger: silentLogger })
    const count = (table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n
    return { postings: count('postings'), transactions: count('transactions'), invariants: ledger.checkInvariants(), findings: auditLedgerDatabase({ db }).findings }
  } finally {
    db.close()
  }
}

const entries = (cacheDir: string) => readdirSync(cacheDir).filter((n) => n.startsWith('ledger-'))

t.test('the first run fills and stores; the next copies the stored ledger with its event and till', async (t) => {
  const root = t.testdir()
  const cacheDir = join(root, 'cache')
  const log: string[] = []
  const first = await prepare(root, 'one', cacheDir, SHAPE, log)
  t.equal(first.reused, false, 'nothing stored yet: filled')
  t.ok(log.some((l) => l.includes('no stored ledger')), 'it says the filler runs and why')
  t.equal(entries(cacheDir).length, 1, 'and stores one entry')

  const second = await prepare(root, 'two', cacheDir)
  t.equal(second.reused, true, 'the same key: reused')
  t.same(second.fill, first.fill, "the filler's figures of the run that filled it")
  t.same(second.event.setup, first.event.setup, 'the event the ledger was filled for')
  t.same(second.event.fleet, first.event.fleet)
  t.same([...second.event.pins], [...first.event.pins])
  t.same(
    second.event.fill.kiosks.map((k) => k.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex')),
    first.event.fill.kiosks.map((k) => k.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex')),
    "the fill kiosks' keys",
  )
  t.same(second.till, first.till, "the till's id, token and public key")
  t.equal(readFileSync(join(root, 'two', 'till', 'kiosk-ed25519.pem'), 'utf8'), readFileSync(join(root, 'one', 'till', 'kiosk-ed25519.pem'), 'utf8'), "the till's key is in its folder")
  const copied = ledgerRows(join(root, 'two', 'filled'))
  t.equal(copied.postings, first.fill.postings, 'the copy holds the postings filled')
  t.same(copied.invariants, [], "the copy's invariants hold")
  t.same(copied.findings, [], 'and it audits clean: signatures and chains of the stored event')
})

t.test('another key fills anew, and replaces a stale entry of the same size', async (t) => {
  const root = t.testdir()
  const cacheDir = join(root, 'cache')
  await prepare(root, 'one', cacheDir)
  const [stale] = entries(cacheDir)
  const other = await prepare(root, 'two', cacheDir, { ...SHAPE, fillWristbands: 7 })
  t.equal(other.reused, false, 'another event shape: not reused')
  t.same(entries(cacheDir).length, 1, 'one entry for this size')
  t.not(entries(cacheDir)[0], stale, 'the new one')
  t.not(fillCacheKey(POSTINGS, SHAPE).fillerVersion, '', "the key holds the filler's version")
  t.equal(fillCacheKey(POSTINGS, SHAPE).postings, POSTINGS)
})

t.test('a damaged stored ledger is not trusted: removed, and the filler runs', async (t) => {
  const root = t.testdir()
  const cacheDir = join(root, 'cache')
  const first = await prepare(root, 'one', cacheDir)
  const entry = join(cacheDir, entries(cacheDir)[0]!)
  const file = join(entry, 'ledger.sqlite')
  // One byte changed deep in the file: SQLite might still open it, the digest does not match.
  const bytes = readFileSync(file)
  bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff
  writeFileSync(file, bytes)
  const log: string[] = []
  const second = await prepare(root, 'two', cacheDir, SHAPE, log)
  t.equal(second.reused, false, 'not reused')
  t.ok(log.some((l) => l.includes('damaged')), 'it says the stored ledger is damaged')
  t.not(second.till.publicKey, first.till.publicKey, 'a new event and till: filled anew')
  const filled = ledgerRows(join(root, 'two', 'filled'))
  t.same(filled.findings, [], 'what was filled audits clean')
  t.equal(filled.postings, second.fill.postings)

  const third = await prepare(root, 'three', cacheDir)
  t.equal(third.reused, true, 'the new entry is whole and used')
  t.same(third.till, second.till)
})

t.test('an unchanged stored ledger is copied as it is; one that is another file is checked through its digest first', async (t) => {
  const root = t.testdir()
  const cacheDir = join(root, 'cache')
  await prepare(root, 'one', cacheDir)
  const file = join(cacheDir, entries(cacheDir)[0]!, 'ledger.sqlite')
  const log: string[] = []
  t.equal((await prepare(root, 'two', cacheDir, SHAPE, log)).reused, true)
  t.ok(log.some((l) => l.includes('unchanged') && l.includes('without reading its digest')), 'the file stored: copied without its digest read')
  t.equal(readFileSync(join(root, 'two', 'filled', DB_FILE_NAME)).compare(readFileSync(file)), 0, 'the copy is the stored file')
  t.equal(statSync(join(root, 'two', 'filled', DB_FILE_NAME)).mode & 0o777, 0o600, 'readable by its owner only')

  // The same bytes in another file, as a cache folder restored from elsewhere: the digest decides, then it is the stored file.
  copyFileSync(file, `${file}.restored`)
  renameSync(`${file}.restored`, file)
  const restoredLog: string[] = []
  t.equal((await prepare(root, 'three', cacheDir, SHAPE, restoredLog)).reused, true, 'the same bytes: reused')
  t.ok(restoredLog.some((l) => l.includes('read through SHA-256 and matches')), 'after reading its copy through the digest')
  const againLog: string[] = []
  t.equal((await prepare(root, 'four', cacheDir, SHAPE, againLog)).reused, true)
  t.ok(againLog.some((l) => l.includes('without reading its digest')), 'and the next run copies it as it is')
})

t.test('a stored ledger written to and given back its times is still found damaged', async (t) => {
  const root = t.testdir()
  const cacheDir = join(root, 'cache')
  await prepare(root, 'one', cacheDir)
  const file = join(cacheDir, entries(cacheDir)[0]!, 'ledger.sqlite')
  const { atime, mtime } = statSync(file)
  // The file system stamps times from a coarse clock (a few ms): a write and a reset in the very tick the entry
  // was stored would leave the change time as it was. Any write that comes later shows; this one comes later.
  const probe = join(root, 'clock-probe')
  for (let tries = 0; tries < 200; tries++) {
    writeFileSync(probe, String(tries))
    if (statSync(probe, { bigint: true }).ctimeNs > statSync(file, { bigint: true }).ctimeNs) break
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const bytes = readFileSync(file)
  bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff
  writeFileSync(file, bytes)
  utimesSync(file, atime, mtime)
  const log: string[] = []
  t.equal((await prepare(root, 'two', cacheDir, SHAPE, log)).reused, false, 'its change time gave it away: the digest was read, and differs')
  t.ok(log.some((l) => l.includes('damaged')))
})

t.test('a truncated ledger or an entry without its description is not used', async (t) => {
  const root = t.testdir()
  const cacheDir = join(root, 'cache')
  await prepare(root, 'one', cacheDir)
  const entry = join(cacheDir, entries(cacheDir)[0]!)
  writeFileSync(join(entry, 'ledger.sqlite'), readFileSync(join(entry, 'ledger.sqlite')).subarray(0, 4096))
  t.equal((await prepare(root, 'two', cacheDir)).reused, false, 'truncated: filled anew')

  const fresh = join(cacheDir, entries(cacheDir)[0]!)
  writeFileSync(join(fresh, 'fill.json'), '{"key": {')
  t.equal((await prepare(root, 'three', cacheDir)).reused, false, 'a description that does not parse: filled anew')

  const described = join(cacheDir, entries(cacheDir)[0]!)
  const description = JSON.parse(readFileSync(join(described, 'fill.json'), 'utf8')) as { key: { schemaVersion: number } }
  description.key.schemaVersion -= 1
  writeFileSync(join(described, 'fill.json'), JSON.stringify(description))
  t.equal((await prepare(root, 'four', cacheDir)).reused, false, 'a description of another schema version: filled anew')
  t.ok(existsSync(join(root, 'four', 'filled', DB_FILE_NAME)))
})

t.test('a cache folder that cannot be written costs a fill, not the run', async (t) => {
  const root = t.testdir({ 'not-a-folder': 'a file where the cache folder should be' })
  const log: string[] = []
  const result = await prepare(root, 'one', join(root, 'not-a-folder'), SHAPE, log)
  t.equal(result.reused, false)
  t.ok(log.some((l) => l.includes('could not be stored')), 'it says so')
  t.equal(ledgerRows(join(root, 'one', 'filled')).postings, result.fill.postings, 'the run has its filled ledger')
})

t.test('without a cache folder it always fills and stores nothing', async (t) => {
  const root = t.testdir()
  const result = await prepareGrowthLedger({ postings: POSTINGS, shape: SHAPE, tillDir: join(root, 'till'), dataDir: join(root, 'filled') })
  t.equal(result.reused, false)
  t.equal(result.copyMs, 0)
  t.equal(ledgerRows(join(root, 'filled')).postings, result.fill.postings)
})
