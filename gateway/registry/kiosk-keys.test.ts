// Two ways to enrol a kiosk's key (issue 10, point 5): `publicKey` in the event
// set-up and PUT /admin/kiosks/{id}/public-key. The admin API wins: an import
// whose file names another key keeps the admin key and warns with both
// fingerprints; every key change is logged with fingerprints.
import t from 'tap'
import { pino } from 'pino'
import { decideFileKey, keyFingerprint } from './kiosk-keys.js'
import { createLedger } from '../ledger/ledger.js'
import { openLedgerDatabase } from '../ledger/db.js'
import { fixedClock, makeKioskKeys, testSetup } from '../ledger/testing/test-helpers.js'
import type { EventSetup } from '../event-setup.js'

t.test('decideFileKey: the file enrols and replaces its own keys, never one sent through the admin API', async (t) => {
  const A = 'A'.repeat(43)
  const B = 'B'.repeat(43)
  t.same(decideFileKey({ key: null, source: null }, undefined), { kind: 'unchanged', adopt: false })
  t.same(decideFileKey({ key: A, source: 'admin' }, undefined), { kind: 'unchanged', adopt: false }, 'a file without a key keeps any key')
  t.same(decideFileKey({ key: null, source: null }, A), { kind: 'enroll' })
  t.same(decideFileKey({ key: A, source: 'event_setup' }, A), { kind: 'unchanged', adopt: false })
  t.same(decideFileKey({ key: A, source: 'admin' }, A), { kind: 'unchanged', adopt: true }, 'the file names the admin key: the file owns it again')
  t.same(decideFileKey({ key: A, source: 'event_setup' }, B), { kind: 'replace' })
  t.same(decideFileKey({ key: A, source: null }, B), { kind: 'replace' }, 'keys from before the source was recorded came from the file')
  t.same(decideFileKey({ key: A, source: 'admin' }, B), { kind: 'conflict_admin_key_kept' })
})

t.test('keyFingerprint is short, stable and differs per key', async (t) => {
  const a = makeKioskKeys().publicKeyBase64Url
  const b = makeKioskKeys().publicKeyBase64Url
  t.match(keyFingerprint(a), /^sha256:[0-9a-f]{16}$/)
  t.equal(keyFingerprint(a), keyFingerprint(a))
  t.not(keyFingerprint(a), keyFingerprint(b))
})

t.test('an import never silently reverts a key sent through the admin API; every change is logged with fingerprints', async (t) => {
  const lines: Array<Record<string, any>> = []
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
  const db = openLedgerDatabase(':memory:')
  t.teardown(() => db.close())
  const ledger = createLedger({ db, clock: fixedClock(), logger })
  const fileKey = makeKioskKeys()
  const adminKey = makeKioskKeys()
  const laterKey = makeKioskKeys()
  const withKey = (key: string | undefined): EventSetup => {
    const setup = testSetup()
    setup.kiosks = setup.kiosks.map((k) => (k.id === 'bar-1' && key !== undefined ? { ...k, publicKey: key } : k))
    return setup
  }
  const keyOfBar = () => ledger.registry.kioskPublicKey('bar-1')?.export({ format: 'der', type: 'spki' }).toString('hex')
  const der = (k: ReturnType<typeof makeKioskKeys>) => k.publicKey.export({ format: 'der', type: 'spki' }).toString('hex')
  const logged = (pattern: RegExp) => lines.filter((l) => pattern.test(l.msg))

  const first = ledger.registry.importEventSetup(withKey(fileKey.publicKeyBase64Url))
  t.same(first.keyChanges, [{ kiosk: 'bar-1', change: 'enrolled', source: 'event_setup', fingerprint: keyFingerprint(fileKey.publicKeyBase64Url) }])
  t.equal(keyOfBar(), der(fileKey))
  t.equal(logged(/kiosk bar-1 enrolled/).length, 1)

  ledger.registry.enrollKiosk('bar-1', adminKey.publicKeyBase64Url)
  t.equal(keyOfBar(), der(adminKey))
  const replaced = logged(/kiosk bar-1 key replaced/)
  t.equal(replaced.length, 1, 'the admin replacement is logged')
  t.equal(replaced[0]!.level, 40, 'as a warning')
  t.equal(replaced[0]!.previousFingerprint, keyFingerprint(fileKey.publicKeyBase64Url))
  t.equal(replaced[0]!.fingerprint, keyFingerprint(adminKey.publicKeyBase64Url))

  // A restart or reload with the unchanged file: the admin key stays, loudly.
  const again = ledger.registry.importEventSetup(withKey(fileKey.publicKeyBase64Url))
  t.equal(keyOfBar(), der(adminKey), 'the admin key is kept')
  t.match(again.keyChanges, [{ kiosk: 'bar-1', change: 'conflict_admin_key_kept', fingerprint: keyFingerprint(adminKey.publicKeyBase64Url), refusedFingerprint: keyFingerprint(fileKey.publicKeyBase64Url) }])
  const conflict = logged(/the event set-up names key/)
  t.equal(conflict.length, 1)
  t.equal(conflict[0]!.level, 40)
  t.match(conflict[0]!.msg, keyFingerprint(adminKey.publicKeyBase64Url))
  t.match(conflict[0]!.msg, keyFingerprint(fileKey.publicKeyBase64Url))
  t.match(conflict[0]!.msg, /PUT \/admin\/kiosks\/bar-1\/public-key/, 'it says what to do')

  // A file without a key, or with the admin key, changes nothing; with the admin key the file owns it again.
  t.same(ledger.registry.importEventSetup(withKey(undefined)).keyChanges, [])
  t.same(ledger.registry.importEventSetup(withKey(adminKey.publicKeyBase64Url)).keyChanges, [])
  t.equal(keyOfBar(), der(adminKey))
  const rotated = ledger.registry.importEventSetup(withKey(laterKey.publicKeyBase64Url))
  t.match(rotated.keyChanges, [{ kiosk: 'bar-1', change: 'replaced', source: 'event_setup', previousFingerprint: keyFingerprint(adminKey.publicKeyBase64Url) }])
  t.equal(keyOfBar(), der(laterKey), 'a file key replaces a key the file owns')

  // Secrets never reach the log: kiosk tokens, PINs.
  const text = lines.map((l) => JSON.stringify(l)).join('\n')
  t.notMatch(text, /token-of-bar-1/)
  t.notMatch(text, /ALCE2345AB/)
})
