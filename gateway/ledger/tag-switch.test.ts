// Tag switch: a guest who lost a wristband proves who they are with the portal
// PIN (sealed to the gateway's X25519 key); the balance, the vouchers, the
// variant and the PIN move to the new wristband, the old one is blocked and
// lands on the signed blocklist.
import { generateKeyPairSync } from 'node:crypto'
import t, { type Test } from 'tap'
import { publicKeyFromBase64Url, validateKioskConfig, verifyBlocklist, type Envelope } from '../../device-protocol/index.js'
import { opsWorld as world, bookChecked as book, L, OPS_PIN, OPS_UID, STAFF, applyOne, fund, makeOpsWorld, postingsSum, resultFields, sealPin, type Answer, type OpsWorld } from './testing/operations-fixtures.js'
import { accountIds } from './types.js'


async function tagSwitch(w: OpsWorld, newUid: string, pin: string | undefined, over: Partial<Envelope['tx']> = {}) {
  const sealedPin = await sealPin(pin ?? 'NOTHING2345', w.ledger.registry.gatewayKeys.sealPublicKey)
  const envelope = w.kiosks.desk.next({ type: 'tag_switch', uid: newUid, amount: 0 }, { sealedPin, ...over })
  return { envelope, ...(pin === undefined ? {} : { pin }) }
}


t.test('unsealPin opens a PIN sealed to the gateway and nothing else', async (t) => {
  const w = world(t)
  const sealed = await sealPin(OPS_PIN.alice, w.ledger.registry.gatewayKeys.sealPublicKey)
  t.equal(await w.ledger.registry.unsealPin(sealed), OPS_PIN.alice)
  t.equal(await w.ledger.registry.unsealPin('garbage'), undefined)
  t.equal(await w.ledger.registry.unsealPin(''), undefined)
  t.equal(await w.ledger.registry.unsealPin('aaaa.bbbb.cccc.dddd.eeee'), undefined)
  const parts = sealed.split('.')
  const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1)
  t.equal(await w.ledger.registry.unsealPin([parts[0], parts[1], parts[2], flip(parts[3]!), parts[4]].join('.')), undefined, 'tampered ciphertext')
  t.equal(await w.ledger.registry.unsealPin([parts[0], parts[1], parts[2], parts[3], flip(parts[4]!)].join('.')), undefined, 'tampered tag')
  const foreign = generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }).x!
  t.equal(await w.ledger.registry.unsealPin(await sealPin(OPS_PIN.alice, foreign)), undefined, 'sealed to another key')
  t.equal(await w.ledger.registry.unsealPin(await sealPin('x'.repeat(65), w.ledger.registry.gatewayKeys.sealPublicKey)), undefined, 'too long to be a PIN')
  t.equal(await w.ledger.registry.unsealPin(sealed.repeat(20)), undefined, 'oversized')
  t.match(w.ledger.registry.gatewayKeys, { sealPublicKey: /^[A-Za-z0-9_-]{43}$/, signingPublicKey: /^[A-Za-z0-9_-]{43}$/ })
})

t.test('a tag switch moves balance, vouchers and PIN, blocks the old wristband and signs it onto the blocklist', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.crew, 3_000)
  t.match(applyOne(w.ledger, w.kiosks.bar.cart(OPS_UID.crew, [L.beer(), L.water()])), { status: 'accepted', balance: 2_800, vouchers: 2 })
  const versionBefore = w.ledger.registry.kioskConfig('bar-1').version
  const blocklistBefore = w.ledger.registry.kioskConfig('bar-1').blocklist!

  const item = await tagSwitch(w, OPS_UID.fresh, OPS_PIN.crew)
  t.equal(await w.ledger.registry.unsealPin(item.envelope.tx.sealedPin!), OPS_PIN.crew)
  const a = book(t, w, item)
  t.match(a, { status: 'accepted', balance: 2_800, vouchers: 2, configsChanged: true })
  t.equal(w.ledger.balanceOf(OPS_UID.fresh), 2_800)
  t.equal(w.ledger.balanceOf(OPS_UID.crew), 0)
  t.same(
    w.ledger.transaction(item.envelope.tx.id)?.postings.map((p) => ({ ...p })).sort((x, y) => x.account.localeCompare(y.account)),
    [
      { account: accountIds.customer(OPS_UID.crew), amount: -2_800 },
      { account: accountIds.customer(OPS_UID.fresh), amount: 2_800 },
    ].sort((x, y) => x.account.localeCompare(y.account)),
  )
  t.match(w.ledger.balanceView(OPS_UID.fresh), { balance: 2_800, vouchers: 2, blocked: false })
  t.match(w.ledger.balanceView(OPS_UID.crew), { balance: 0, vouchers: 0, blocked: true })
  t.equal(w.ledger.registry.findWristbandByPin(OPS_PIN.crew), OPS_UID.fresh, 'the PIN now finds the new wristband')
  t.ok(w.ledger.registry.verifyPin(OPS_UID.fresh, OPS_PIN.crew))
  t.notOk(w.ledger.registry.verifyPin(OPS_UID.crew, OPS_PIN.crew), 'the old one no longer answers to it')
  t.notMatch(JSON.stringify(w.db.prepare(`SELECT * FROM transactions WHERE id = ?`).get(item.envelope.tx.id)), new RegExp(OPS_PIN.crew), 'the PIN is not stored')

  // The new wristband pays with the vouchers, the old one is refused.
  t.match(applyOne(w.ledger, w.kiosks.bar.cart(OPS_UID.fresh, [L.beer()])), { status: 'accepted', vouchersUsed: 1, vouchers: 1, balance: 2_800 })
  t.match(applyOne(w.ledger, w.kiosks.bar.cart(OPS_UID.crew, [L.beer()])), { status: 'rejected', reason: 'tag_blocked' })

  t.ok(w.ledger.registry.refreshKioskConfigs().includes('bar-1'))
  const config = w.ledger.registry.kioskConfig('bar-1')
  t.ok(validateKioskConfig(config).ok)
  t.equal(config.version, versionBefore + 1)
  t.ok(config.blocklist!.uids.includes(OPS_UID.crew), 'the blocklist names the old wristband')
  t.ok(config.blocklist!.version > blocklistBefore.version)
  t.ok(verifyBlocklist(config.blocklist!, publicKeyFromBase64Url(config.gatewayKey!)), 'signed by the gateway key the config names')
  t.notOk(verifyBlocklist({ ...config.blocklist!, uids: config.blocklist!.uids.filter((u) => u !== OPS_UID.crew) }, publicKeyFromBase64Url(config.gatewayKey!)), 'a list with the uid removed does not verify')
  t.equal(config.gatewayKey, w.ledger.registry.gatewayKeys.signingPublicKey)
  t.equal(config.pinSealKey, w.ledger.registry.gatewayKeys.sealPublicKey)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('refused tag switches move nothing', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.alice, 1_000)
  t.match(book(t, w, await tagSwitch(w, OPS_UID.fresh, 'WRNG2345AB')), { status: 'rejected', reason: 'wrong_pin' })
  t.match(book(t, w, await tagSwitch(w, OPS_UID.fresh, undefined)), { status: 'rejected', reason: 'wrong_pin' }, 'a PIN ingest could not open')
  t.match(book(t, w, await tagSwitch(w, OPS_UID.fresh, 'not a pin!')), { status: 'rejected', reason: 'wrong_pin' })
  t.match(book(t, w, await tagSwitch(w, OPS_UID.bob, OPS_PIN.alice)), { status: 'rejected', reason: 'tag_already_registered' }, 'onto a known wristband')
  t.match(book(t, w, await tagSwitch(w, OPS_UID.alice, OPS_PIN.alice)), { status: 'rejected', reason: 'tag_already_registered' }, 'onto itself')
  t.match(book(t, w, await tagSwitch(w, OPS_UID.fresh, OPS_PIN.alice, { amount: 5 })), { status: 'rejected', reason: 'invalid_transaction' })
  t.match(book(t, w, await tagSwitch(w, OPS_UID.fresh, OPS_PIN.alice, { lines: [L.beer()] })), { status: 'rejected', reason: 'invalid_transaction' })
  w.kiosks.desk.staff = STAFF.topup
  t.match(book(t, w, await tagSwitch(w, OPS_UID.fresh, OPS_PIN.alice)), { status: 'rejected', reason: 'staff_not_allowed' }, 'a supervisor only')
  t.equal(w.ledger.balanceOf(OPS_UID.alice), 1_000)
  t.equal(w.ledger.wristband(OPS_UID.fresh), undefined)
  t.equal(w.ledger.wristband(OPS_UID.alice)?.blocked, false)
  t.equal(w.ledger.registry.findWristbandByPin(OPS_PIN.alice), OPS_UID.alice)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('a wristband already blocked (reported lost) can be switched, once', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.alice, 1_500)
  w.ledger.registry.setWristbandBlocked(OPS_UID.alice, true)
  t.match(book(t, w, await tagSwitch(w, OPS_UID.fresh, OPS_PIN.alice)), { status: 'accepted', balance: 1_500, vouchers: 0 })
  // The PIN has moved: a second switch takes it from the new wristband, never from the old one twice.
  t.match(book(t, w, await tagSwitch(w, OPS_UID.fresh2, OPS_PIN.alice)), { status: 'accepted', balance: 1_500 })
  t.equal(w.ledger.balanceOf(OPS_UID.alice), 0)
  t.equal(w.ledger.balanceOf(OPS_UID.fresh), 0)
  t.equal(w.ledger.balanceOf(OPS_UID.fresh2), 1_500)
  t.equal(w.ledger.wristband(OPS_UID.fresh)?.blocked, true)
  t.equal(w.ledger.registry.findWristbandByPin(OPS_PIN.alice), OPS_UID.fresh2)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('the variant moves with the guest', async (t) => {
  const w = world(t)
  fund(w, OPS_UID.teen, 1_000)
  t.match(book(t, w, await tagSwitch(w, OPS_UID.fresh, OPS_PIN.teen)), { status: 'accepted', balance: 1_000 })
  t.equal(w.ledger.balanceView(OPS_UID.fresh)?.variant, 'under16')
  t.match(applyOne(w.ledger, w.kiosks.bar.cart(OPS_UID.fresh, [L.beer()])), { status: 'rejected', reason: 'product_restricted' })
  w.ledger.registry.refreshKioskConfigs()
  const variants = w.ledger.registry.kioskConfig('bar-1').tagVariants
  t.same(variants, [{ uid: OPS_UID.fresh, variant: 'under16' }], 'the old, blocked wristband is no longer listed')
  t.same(w.ledger.checkInvariants(), [])
})

t.test('a wristband in debt switches with its debt', async (t) => {
  const w = world(t)
  t.match(applyOne(w.ledger, w.kiosks.bar.cart(OPS_UID.bob, [L.beer()], { offline: true })), { status: 'accepted', balance: -450, debt: true })
  t.match(book(t, w, await tagSwitch(w, OPS_UID.fresh, OPS_PIN.bob)), { status: 'accepted', balance: -450 })
  t.equal(w.ledger.balanceOf(OPS_UID.fresh), -450)
  t.match(w.ledger.debts(), [{ uid: OPS_UID.fresh, shortfall: 450, balanceNow: -450, open: true }], 'the debt is open on the new wristband')
  t.same(w.ledger.stats().openDebts, { count: 1, cents: 450 })
  t.same(w.ledger.checkInvariants(), [], 'the new wristband may be below zero: its debt is on record')
  fund(w, OPS_UID.fresh, 500)
  t.match(w.ledger.debts(), [{ uid: OPS_UID.fresh, open: false, balanceNow: 50 }])
  t.same(w.ledger.checkInvariants(), [])
})
