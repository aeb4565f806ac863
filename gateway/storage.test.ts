// The gateway's database choice: the SQLite file by default, PostgreSQL with
// `store`; a store URL that would leak its password, or lead libpq to a
// passfile others can read, is refused before anything connects.
import t from 'tap'
import { chmodSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { parseCli } from './bin.js'
import { loadConfig, DEFAULT_CONFIG } from './config.js'
import { checkedStoreUrl, DB_FILE_NAME, openGatewayStorage, StorageConfigError } from './storage.js'
import { createGateway } from './app.js'
import { openPgConnection } from './postgres/connection.js'
import { passfileUrl, postgresInstalled, startPostgresServer } from './testing/postgres-server.js'

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-storage-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('without a store the gateway keeps its tables in the SQLite file of its data folder', async (t) => {
  const dir = tempDir(t)
  const storage = openGatewayStorage({ dataDir: dir })
  t.teardown(() => storage.close())
  t.equal(storage.engine, 'sqlite')
  t.equal(storage.where, join(dir, DB_FILE_NAME))
  t.ok(existsSync(join(dir, DB_FILE_NAME)))
  t.equal(storage.sqlite, storage.db, 'the file has its better-sqlite3 connection for backups')
  t.equal(storage.healthy(), true)
  storage.close()
  t.equal(storage.healthy(), false, 'a closed database is not healthy')
})

t.test('a store URL is taken from --store, WRISTPAY_GATEWAY_STORE or the config file, and must be postgres://', async (t) => {
  const url = 'postgres://wristpay@127.0.0.1:5432/wristpay'
  t.match(parseCli(['--store', url]), { kind: 'run', overrides: { store: url } })
  t.equal(loadConfig({ env: { WRISTPAY_GATEWAY_STORE: url } }).store, url)
  t.equal(loadConfig({ env: {} }).store, undefined, 'the SQLite file by default')
  t.throws(() => loadConfig({ env: { WRISTPAY_GATEWAY_STORE: 'mysql://db/wristpay' } }), /store/)
  t.throws(() => loadConfig({ env: { WRISTPAY_GATEWAY_STORE: 'postgres://db/with space' } }), /store/)
})

t.test('a password in the URL is refused and never repeated in the error', async (t) => {
  for (const store of ['postgres://wristpay:s3cret-pw@127.0.0.1:5432/wristpay', 'postgres://wristpay@127.0.0.1/wristpay?password=s3cret-pw']) {
    let error: unknown
    try {
      checkedStoreUrl(store, {})
    } catch (e) {
      error = e
    }
    t.type(error, StorageConfigError, store.replace('s3cret-pw', '…'))
    t.match((error as Error).message, /passfile/)
    t.notMatch((error as Error).message, /s3cret-pw/, 'the password is not in the message')
  }
})

t.test('other URLs that cannot work are refused with what to write instead', async (t) => {
  t.throws(() => checkedStoreUrl('not a url', {}), /postgres:\/\//)
  t.throws(() => checkedStoreUrl('mysql://db/wristpay', {}), /postgres:\/\//)
  t.throws(() => checkedStoreUrl('postgres://wristpay@127.0.0.1:5432/', {}), /names no database/)
  t.equal(checkedStoreUrl('postgresql://wristpay@127.0.0.1:5432/wristpay', {}), 'postgresql://wristpay@127.0.0.1:5432/wristpay')
})

t.test('a passfile the URL or PGPASSFILE names must be the gateway user\'s alone', async (t) => {
  const dir = tempDir(t)
  const passfile = join(dir, 'pgpass')
  writeFileSync(passfile, '127.0.0.1:5432:wristpay:wristpay:s3cret-pw\n', { mode: 0o644 })
  chmodSync(passfile, 0o644)
  const url = `postgres://wristpay@127.0.0.1:5432/wristpay?passfile=${encodeURIComponent(passfile)}`
  t.throws(() => checkedStoreUrl(url, {}), /open to others \(mode 644\).*chmod 600/)
  t.throws(() => checkedStoreUrl('postgres://wristpay@127.0.0.1:5432/wristpay', { PGPASSFILE: passfile }), /open to others/)
  t.throws(() => checkedStoreUrl('postgres://wristpay@127.0.0.1:5432/wristpay', { PGPASSFILE: join(dir, 'missing') }), /cannot be read: ENOENT/)
  chmodSync(passfile, 0o600)
  t.equal(checkedStoreUrl(url, {}), url)
  t.equal(checkedStoreUrl('postgres://wristpay@127.0.0.1:5432/wristpay', { PGPASSFILE: passfile }), 'postgres://wristpay@127.0.0.1:5432/wristpay')
})

t.test('a gateway with a store and backup of the SQLite file is refused before anything is made', async (t) => {
  const dir = tempDir(t)
  const dataDir = join(dir, 'gateway')
  writeFileSync(join(dir, 'event.json'), JSON.stringify({ event: { name: 'Test' }, booths: [], products: [], kiosks: [], wristbands: [] }))
  await t.rejects(
    createGateway({
      config: { ...DEFAULT_CONFIG, dataDir, eventFile: join(dir, 'event.json'), store: 'postgres://wristpay@127.0.0.1:1/wristpay', backup: { dir: join(dir, 'backups') } },
      logger: pino({ level: 'silent' }),
    }),
    /backup copies the SQLite file/,
  )
  t.notOk(existsSync(join(dataDir, DB_FILE_NAME)), 'no SQLite file was made')
})

t.test('on PostgreSQL: the tables are there after the first open, and a database that sorts text by a language is pointed out', { skip: postgresInstalled() ? false : 'PostgreSQL 15 server binaries not installed (CI installs them)' }, async (t) => {
  const dir = tempDir(t)
  const server = await startPostgresServer()
  t.teardown(() => server.stop())
  const bytes = openGatewayStorage({ dataDir: dir, store: passfileUrl(server.createDatabase('bytes'), dir) })
  t.teardown(() => bytes.close())
  t.equal(bytes.engine, 'postgres')
  t.equal(bytes.sqlite, undefined)
  t.type(bytes.leaseFor, 'function', 'background jobs take leases: other gateways may share the database')
  t.notMatch(bytes.where, /:[^:@/]+@/, 'where names no password')
  t.equal(bytes.healthy(), true)
  t.same(bytes.advisories(), [], 'C collation: text sorts by bytes, as on SQLite')

  const admin = openPgConnection({ url: server.url() })
  t.teardown(() => admin.close())
  admin.query(`CREATE DATABASE german TEMPLATE template0 LOCALE 'C' LOCALE_PROVIDER icu ICU_LOCALE 'de-DE'`)
  const german = openGatewayStorage({ dataDir: dir, store: passfileUrl(server.url('german'), dir) })
  t.teardown(() => german.close())
  t.match(german.advisories(), [/sorts text by the locale "ICU de-DE".*--locale=C/])
  german.close()
  t.equal(german.healthy(), false, 'closed')
})
