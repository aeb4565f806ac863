import t from 'tap'
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { sign, verify } from 'node:crypto'
import { pino } from 'pino'
import { publicKeyFromBase64Url } from '../device-protocol/index.js'
import { InsecureKeyFileError, KEY_FILE_NAME, KeyFileError, loadOrCreateKeys } from './keys.js'

const logger = pino({ level: 'silent' })

t.test('first start creates a 0600 key in a 0700 dir; later starts reuse it', async (t) => {
  const dataDir = join(t.testdir(), 'kiosk-a')
  const first = loadOrCreateKeys({ dataDir, logger })
  t.equal(first.created, true)
  t.equal(statSync(first.path).mode & 0o777, 0o600)
  t.equal(statSync(dataDir).mode & 0o777, 0o700)
  t.match(first.publicKeyBase64Url, /^[A-Za-z0-9_-]{43}$/)

  const again = loadOrCreateKeys({ dataDir, logger })
  t.equal(again.created, false)
  t.equal(again.publicKeyBase64Url, first.publicKeyBase64Url)
  // The exported public key verifies what the loaded private key signs.
  const message = Buffer.from('hello')
  t.ok(verify(null, message, publicKeyFromBase64Url(again.publicKeyBase64Url), sign(null, message, again.privateKey)))
})

t.test('a key file readable by others is refused, or repaired when asked', async (t) => {
  const dataDir = join(t.testdir(), 'kiosk-b')
  const { path, publicKeyBase64Url } = loadOrCreateKeys({ dataDir, logger })
  chmodSync(path, 0o644)
  t.throws(() => loadOrCreateKeys({ dataDir, logger }), InsecureKeyFileError)
  t.equal(statSync(path).mode & 0o777, 0o644, 'refusing changes nothing')

  const repaired = loadOrCreateKeys({ dataDir, logger, onInsecure: 'repair' })
  t.equal(repaired.publicKeyBase64Url, publicKeyBase64Url)
  t.equal(statSync(path).mode & 0o777, 0o600)
})

t.test('a data dir open to others is refused, or tightened when asked', async (t) => {
  const dataDir = join(t.testdir(), 'kiosk-c')
  mkdirSync(dataDir, { mode: 0o755 })
  chmodSync(dataDir, 0o755)
  t.throws(() => loadOrCreateKeys({ dataDir, logger }), InsecureKeyFileError)
  loadOrCreateKeys({ dataDir, logger, onInsecure: 'repair' })
  t.equal(statSync(dataDir).mode & 0o777, 0o700)
})

t.test('a key file that is not an Ed25519 PEM is a clear error, not a new key', async (t) => {
  const dataDir = join(t.testdir(), 'kiosk-d')
  mkdirSync(dataDir, { mode: 0o700 })
  writeFileSync(join(dataDir, KEY_FILE_NAME), 'garbage', { mode: 0o600 })
  t.throws(() => loadOrCreateKeys({ dataDir, logger }), KeyFileError)
})
