// Secrets at rest (issue 9, point 9): the gateway's data folder is 0700 and its
// database files 0600 whatever the umask, and a data folder open to group or
// others is refused with what to chmod.
import t, { type Test } from 'tap'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { createGateway, DB_FILE_NAME } from './app.js'
import { resolveConfig } from './config.js'
import { DataDirError, ensurePrivateDataDir } from './data-dir.js'
import { openLedgerDatabase } from './ledger/db.js'

const EVENT = {
  event: { name: 'Mode Fest', currency: 'EUR' },
  booths: [{ id: 'bar', name: 'Bar' }],
  products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
  kiosks: [{ id: 'bar-1', booth: 'bar', token: 'token-bar-1-0123456789', saleAllowed: true, topupAllowed: false }],
  wristbands: [{ uid: '04A1B2C3D4E5F6', pin: 'APPTEST234' }],
}

const mode = (path: string) => statSync(path).mode & 0o777

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-datadir-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Runs `fn` with the most permissive umask: what we create must not depend on it. */
async function withUmask<T>(t: Test, umask: number, fn: () => Promise<T>): Promise<T> {
  const before = process.umask(umask)
  t.teardown(() => void process.umask(before))
  try {
    return await fn()
  } finally {
    process.umask(before)
  }
}

function gatewayConfig(dir: string, dataDir: string) {
  const eventFile = join(dir, 'event.json')
  writeFileSync(eventFile, JSON.stringify(EVENT), { mode: 0o600 })
  return resolveConfig({ mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, dataDir, eventFile, logLevel: 'silent' })
}

t.test('with umask 000 the gateway creates its data folder 0700 and the database, -wal and -shm 0600', async (t) => {
  const dir = tempDir(t)
  const dataDir = join(dir, 'state', 'gateway')
  await withUmask(t, 0o000, async () => {
    const gateway = await createGateway({ config: gatewayConfig(dir, dataDir), logger: pino({ level: 'silent' }) })
    await gateway.start()
    try {
      t.equal(mode(dataDir).toString(8), '700')
      t.equal(mode(join(dir, 'state')).toString(8), '700', 'so is a parent folder it had to create')
      const files = readdirSync(dataDir).sort()
      t.same(files, [DB_FILE_NAME, `${DB_FILE_NAME}-shm`, `${DB_FILE_NAME}-wal`], 'the database runs in WAL mode: its -wal and -shm exist')
      for (const file of files) t.equal(mode(join(dataDir, file)).toString(8), '600', file)
    } finally {
      await gateway.stop()
    }
  })
})

t.test('a data folder open to group or others is refused with what to chmod; nothing is created in it', async (t) => {
  const dir = tempDir(t)
  for (const open of [0o755, 0o750, 0o701, 0o777]) {
    const dataDir = join(dir, `data-${open.toString(8)}`)
    mkdirSync(dataDir)
    chmodSync(dataDir, open)
    // A gateway made despite the mode is stopped again, so that a regression fails instead of hanging.
    const made = createGateway({ config: gatewayConfig(dir, dataDir), logger: pino({ level: 'silent' }) }).then(async (gateway) => {
      await gateway.stop()
      return gateway
    })
    await t.rejects(
      made,
      { name: 'InsecureDataDirError', message: new RegExp(`has mode ${open.toString(8)}: .*Run: chmod 700 ${dataDir}`) },
      `mode ${open.toString(8)}`,
    )
    t.same(readdirSync(dataDir), [], 'no database was created')
    t.equal(mode(dataDir), open, 'the mode is left for the operator to fix')
  }
})

t.test('an existing 0700 folder is used; database files left open by an older version are tightened', async (t) => {
  const dir = tempDir(t)
  const dataDir = join(dir, 'data')
  mkdirSync(dataDir, { mode: 0o700 })
  chmodSync(dataDir, 0o700)
  const path = join(dataDir, DB_FILE_NAME)
  const first = openLedgerDatabase(path)
  first.exec('CREATE TABLE t (x INTEGER)')
  first.close()
  for (const file of [path, `${path}-wal`]) {
    writeFileSync(file, '', { flag: 'a' })
    chmodSync(file, 0o644)
  }
  ensurePrivateDataDir(dataDir)
  const db = openLedgerDatabase(path)
  db.exec('INSERT INTO t VALUES (1)')
  t.equal(mode(path).toString(8), '600')
  t.equal(mode(`${path}-wal`).toString(8), '600')
  t.equal(mode(`${path}-shm`).toString(8), '600')
  db.close()
})

t.test('a data folder path that is a file is refused', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'not-a-dir')
  writeFileSync(file, '')
  t.throws(() => ensurePrivateDataDir(file), new DataDirError(`data folder ${file} is not a directory`))
  t.notOk(existsSync(join(file, DB_FILE_NAME)))
})
