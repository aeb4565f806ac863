// Kiosks made through the admin API and enrollment by registration code, in
// the registry: a reload neither retires such a kiosk nor takes back a token
// an enrollment handed out; a code works once, only before it expires, and a
// wrong, spent or expired one changes nothing.
import t from 'tap'
import type { KeyObject } from 'node:crypto'
import { publicKeyToBase64Url } from '../../device-protocol/index.js'
import { SigningKiosk, UID, makeKioskKeys, makeWorld, testSetup, type TestWorld } from '../ledger/testing/test-helpers.js'
import { REGISTRATION_CODE_LENGTH, type EnrollmentError, newRegistrationCode, normaliseRegistrationCode } from './enrollment.js'

const NOW = 1_750_000_000_000
const DAY_MS = 24 * 3_600_000
const FILE_TOKEN = 'token-of-bar-1-0123456789abcdef'

/** The EnrollmentError's kind `fn` throws, or 'none'. */
function thrownKind(fn: () => unknown): string {
  try {
    fn()
    return 'none'
  } catch (err) {
    return (err as EnrollmentError).kind ?? String(err)
  }
}

const keyText = (key: KeyObject | undefined) => (key === undefined ? undefined : publicKeyToBase64Url(key))

/** Everything a redemption could touch: the kiosks and the codes, row by row. */
function registrySnapshot(w: TestWorld): unknown {
  return {
    kiosks: w.db.prepare(`SELECT * FROM kiosks ORDER BY id`).all(),
    codes: w.db.prepare(`SELECT * FROM kiosk_registration_codes ORDER BY code_hash`).all(),
  }
}

function fileSetup(w: TestWorld) {
  return testSetup({ 'bar-1': w.kiosks.bar.keys, 'cash-1': w.kiosks.cash.keys, 'food-1': w.kiosks.food.keys })
}

t.test('a code is 16 symbols without look-alikes, in groups of four; typed in any case, with or without hyphens', async (t) => {
  const code = newRegistrationCode()
  t.match(code, /^[A-HJ-NP-Z2-9]{4}(-[A-HJ-NP-Z2-9]{4}){3}$/)
  t.not(newRegistrationCode(), code, 'random')
  t.equal(normaliseRegistrationCode(code.toLowerCase().replace(/-/g, ' ')), code.replace(/-/g, ''))
  t.equal(normaliseRegistrationCode('ABCD-EFGH-JKLM-NPQ0'), undefined, '0 is not in the alphabet')
  t.equal(normaliseRegistrationCode('ABCD-EFGH-JKLM-NPQ'), undefined, 'too short')
  t.equal(REGISTRATION_CODE_LENGTH * Math.log2(32), 80, '80 bits')
})

t.test('a kiosk made through the admin API takes part, survives a reload of the set-up, and becomes the file\'s once listed', async (t) => {
  const w = makeWorld()
  t.teardown(() => w.close())
  const { registry } = w.ledger
  registry.createKiosk({ id: 'bar-9', booth: 'bar', saleAllowed: true, topupAllowed: false })
  t.ok(registry.kioskIds().includes('bar-9'))
  t.match(registry.kioskConfig('bar-9'), { kiosk: 'bar-9', booth: 'bar', saleAllowed: true, topupAllowed: false, products: [{ id: 'beer' }, { id: 'water' }] })
  t.ok(registry.kioskConfig('bar-9').version >= 1, 'it has a config version to publish')
  t.notOk(registry.kioskAuth('bar-9', ''), 'no token logs in before its enrollment')
  t.equal(registry.kioskPublicKey('bar-9'), undefined)

  const reload = registry.importEventSetup(fileSetup(w))
  t.same(reload.retirement.kiosksRetired, [], 'absent from the file, it is not retired')
  t.ok(registry.kioskIds().includes('bar-9'))

  for (const [kiosk, kind] of [
    [{ id: 'bar-9', booth: 'bar', saleAllowed: true, topupAllowed: false }, 'kiosk_exists'],
    [{ id: 'bar-1', booth: 'bar', saleAllowed: true, topupAllowed: false }, 'kiosk_exists'],
    [{ id: 'bar-8', booth: 'nowhere', saleAllowed: true, topupAllowed: false }, 'unknown_booth'],
    [{ id: 'bar-8', booth: 'bar', profile: 'nope', saleAllowed: true, topupAllowed: false }, 'unknown_profile'],
  ] as const) {
    t.equal(thrownKind(() => registry.createKiosk(kiosk)), kind, `${kiosk.id} in ${kiosk.booth}: ${kind}`)
  }
  t.notOk(registry.kioskIds().includes('bar-8'), 'a refused kiosk is not made')

  // The organiser adds it to the file: from then on the file decides, also to retire it.
  const listed = fileSetup(w)
  listed.kiosks.push({ id: 'bar-9', booth: 'food', token: 'token-of-bar-9-0123456789abcdef', saleAllowed: true, topupAllowed: true })
  registry.importEventSetup(listed)
  t.equal(registry.kioskConfig('bar-9').booth, 'food', "the file's booth")
  t.same(registry.importEventSetup(fileSetup(w)).retirement.kiosksRetired, ['bar-9'], 'taken out of the file again, it is retired')
})

t.test('a code enrolls the key with a fresh token once; wrong, spent and expired codes change nothing', async (t) => {
  const w = makeWorld()
  t.teardown(() => w.close())
  const { registry } = w.ledger
  registry.createKiosk({ id: 'bar-9', booth: 'bar', saleAllowed: true, topupAllowed: false })
  const { code, expiresAt } = registry.issueRegistrationCode('bar-9', NOW, DAY_MS)
  t.equal(expiresAt, NOW + DAY_MS)
  t.notMatch(JSON.stringify(registrySnapshot(w)), code.replace(/-/g, ''), 'the code is stored only as a hash')
  const keys = makeKioskKeys()

  const before = registrySnapshot(w)
  t.same(registry.redeemRegistrationCode(newRegistrationCode(), keys.publicKeyBase64Url, NOW), { ok: false, refused: 'invalid' })
  t.same(registry.redeemRegistrationCode('not a code', keys.publicKeyBase64Url, NOW), { ok: false, refused: 'invalid' })
  t.throws(() => registry.redeemRegistrationCode(code, 'A'.repeat(42), NOW), /public key/, 'a malformed key is refused before the code is looked at')
  t.same(registrySnapshot(w), before, 'nothing changed')

  const redeemed = registry.redeemRegistrationCode(code.toLowerCase(), keys.publicKeyBase64Url, NOW + 1000)
  if (!redeemed.ok) throw new Error(`refused: ${redeemed.refused}`)
  t.match(redeemed, { kioskId: 'bar-9', booth: 'bar', token: /^[A-Za-z0-9_-]{43}$/ })
  t.notMatch(JSON.stringify(registrySnapshot(w)), redeemed.token, 'the token is stored only as a hash')
  t.ok(registry.kioskAuth('bar-9', redeemed.token), 'the new token logs in')
  t.equal(keyText(registry.kioskPublicKey('bar-9')), keys.publicKeyBase64Url, 'the key is enrolled')
  const kiosk = new SigningKiosk('bar-9', keys)
  const [answer] = w.ledger.applyBatch([{ envelope: kiosk.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: 450 }]) }])
  t.match(answer, { kind: 'result', result: { status: 'rejected', reason: 'insufficient_balance' } }, 'the ledger knows the kiosk: its sale reaches the rules')

  const after = registrySnapshot(w)
  t.same(registry.redeemRegistrationCode(code, makeKioskKeys().publicKeyBase64Url, NOW + 2000), { ok: false, refused: 'used' }, 'a code works once')
  t.same(registrySnapshot(w), after, 'a spent code changes nothing')
  t.ok(registry.kioskAuth('bar-9', redeemed.token))

  const late = registry.issueRegistrationCode('bar-9', NOW, DAY_MS)
  const beforeExpired = registrySnapshot(w)
  t.same(registry.redeemRegistrationCode(late.code, makeKioskKeys().publicKeyBase64Url, late.expiresAt), { ok: false, refused: 'expired' })
  t.same(registrySnapshot(w), beforeExpired, 'an expired code changes nothing')
  t.ok(registry.kioskAuth('bar-9', redeemed.token))
})

t.test('a new code replaces an unspent one; a retired kiosk gets no code and cannot spend one', async (t) => {
  const w = makeWorld()
  t.teardown(() => w.close())
  const { registry } = w.ledger
  const first = registry.issueRegistrationCode('food-1', NOW, DAY_MS)
  const second = registry.issueRegistrationCode('food-1', NOW, DAY_MS)
  t.same(registry.redeemRegistrationCode(first.code, makeKioskKeys().publicKeyBase64Url, NOW), { ok: false, refused: 'invalid' }, 'the earlier code no longer works')
  registry.retirement.setKioskDisabled('food-1', true)
  t.same(registry.redeemRegistrationCode(second.code, makeKioskKeys().publicKeyBase64Url, NOW), { ok: false, refused: 'kiosk_retired' })
  t.equal(thrownKind(() => registry.issueRegistrationCode('food-1', NOW, DAY_MS)), 'unknown_kiosk')
  t.equal(thrownKind(() => registry.issueRegistrationCode('nope-1', NOW, DAY_MS)), 'unknown_kiosk')
})

t.test("re-enrolling a kiosk of the file revokes its old key and token, and a reload does not bring the file's token back", async (t) => {
  const w = makeWorld()
  t.teardown(() => w.close())
  const { registry } = w.ledger
  t.ok(registry.kioskAuth('bar-1', FILE_TOKEN))
  const newKeys = makeKioskKeys()
  const { code } = registry.issueRegistrationCode('bar-1', NOW, DAY_MS)
  const redeemed = registry.redeemRegistrationCode(code, newKeys.publicKeyBase64Url, NOW)
  if (!redeemed.ok) throw new Error(`refused: ${redeemed.refused}`)
  t.notOk(registry.kioskAuth('bar-1', FILE_TOKEN), 'the old token no longer logs in')
  t.ok(registry.kioskAuth('bar-1', redeemed.token))
  t.equal(keyText(registry.kioskPublicKey('bar-1')), newKeys.publicKeyBase64Url, 'the old key is replaced')
  t.match(redeemed.keyChange, { kiosk: 'bar-1', change: 'replaced', source: 'admin' })

  // The file still names the old key and token.
  const reload = registry.importEventSetup(fileSetup(w))
  t.same(reload.retirement.kiosksWithNewToken, [], 'no session is ended for a token the file cannot change')
  t.ok(registry.kioskAuth('bar-1', redeemed.token), 'the enrolled token stays')
  t.notOk(registry.kioskAuth('bar-1', FILE_TOKEN), "the file's token does not come back")
  t.equal(keyText(registry.kioskPublicKey('bar-1')), newKeys.publicKeyBase64Url, 'the enrolled key stays (the admin key wins)')
  t.same(reload.keyChanges.map((c) => [c.kiosk, c.change]), [['bar-1', 'conflict_admin_key_kept']])
  const changedFile = fileSetup(w)
  changedFile.kiosks[0]!.token = 'another-token-of-bar-1-0123456789'
  t.same(registry.importEventSetup(changedFile).retirement.kiosksWithNewToken, [], 'a changed file token does not replace the enrolled one either')
  t.ok(registry.kioskAuth('bar-1', redeemed.token))
})
