import t from 'tap'
import Database from 'better-sqlite3'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSecretStore } from './secret-store.js'

const dir = mkdtempSync(join(tmpdir(), 'wristpay-secrets-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

function open(name: string): Database.Database {
  // A bare file: the store brings it to the gateway database's schema (gateway/migrations.ts) itself.
  return new Database(join(dir, name))
}

t.test('a generated secret is made once, kept across reopening, and differs per name', async (t) => {
  for (const table of ['meta', 'gateway_secrets'] as const) {
    const first = open(`reopen-${table}.sqlite`)
    const secret = createSecretStore(first, table).bytes('token-key', 32)
    t.equal(secret.length, 32)
    t.not(createSecretStore(first, table).bytes('other-key', 32).toString('hex'), secret.toString('hex'), 'each name has its own secret')
    first.close()
    const second = open(`reopen-${table}.sqlite`)
    t.teardown(() => second.close())
    t.equal(createSecretStore(second, table).bytes('token-key', 32).toString('hex'), secret.toString('hex'), `${table}: the same after a restart`)
  }
})

t.test('two connections racing on a new database end with one secret (first writer wins)', async (t) => {
  const a = open('race.sqlite')
  const b = open('race.sqlite')
  t.teardown(() => (a.close(), b.close()))
  const storeA = createSecretStore(a, 'meta')
  const storeB = createSecretStore(b, 'meta')
  t.equal(storeB.peekBytes('k'), undefined, 'peeking makes nothing')
  const pemA = storeA.text('pem', () => 'written by a')
  t.equal(storeB.text('pem', () => 'written by b'), pemA, 'the second maker is ignored')
  t.equal(storeB.bytes('k', 16).toString('hex'), storeA.bytes('k', 16).toString('hex'))
})

t.test('forget drops a secret; text kept in the blob table reads back as text', async (t) => {
  const db = open('forget.sqlite')
  t.teardown(() => db.close())
  const store = createSecretStore(db, 'gateway_secrets')
  const before = store.bytes('k', 32)
  store.forget('k')
  t.equal(store.peekBytes('k'), undefined)
  t.not(store.bytes('k', 32).toString('hex'), before.toString('hex'), 'a fresh one after forgetting')
  t.equal(store.text('note', () => 'ünïcode'), 'ünïcode')
  t.equal(createSecretStore(db, 'meta').peekBytes('k'), undefined, 'tables do not share names')
})
