// Retirement in the ledger (issue 10, point 2): what the event set-up no longer
// lists stops taking part, nothing is deleted, no money moves, and putting it
// back restores it as it was. Wristbands the file never listed (sold at a till)
// are not retired for being absent from it, also on a database made before
// retirement existed.
import t from 'tap'
import { addRetirementColumns } from './retirement.js'
import { OPS_PIN, OPS_UID, bookChecked, fund, opsWorld, sealPin } from '../ledger/testing/operations-fixtures.js'
import { PIN, UID, makeWorld, testSetup, type TestWorld } from '../ledger/testing/test-helpers.js'
import type { EventSetup } from '../event-setup.js'

function without(setup: EventSetup, uids: string[], kiosks: string[] = []): EventSetup {
  return { ...setup, wristbands: setup.wristbands.filter((w) => !uids.includes(w.uid)), kiosks: setup.kiosks.filter((k) => !kiosks.includes(k.id)) }
}

function withKeys(w: TestWorld): EventSetup {
  return testSetup({ 'bar-1': w.kiosks.bar.keys, 'cash-1': w.kiosks.cash.keys, 'food-1': w.kiosks.food.keys })
}

/** A wristband as a ticket sale at a till makes it (operations.ts, register_wristband): never in the file. */
function soldAtTill(w: TestWorld, uid: string): void {
  w.db.prepare(`INSERT INTO accounts (id, kind, ref) VALUES (?, 'customer', ?)`).run(`customer:${uid}`, uid)
  w.db.prepare(`INSERT INTO wristbands (uid, pin_lookup, blocked, account, variant, vouchers) VALUES (?, ?, 0, ?, NULL, 0)`).run(uid, `lookup-of-${uid}`, `customer:${uid}`)
}

t.test('wristbands removed from the set-up can neither pay nor log in; their money stays; back in the file they are as they were', async (t) => {
  const w = makeWorld()
  t.teardown(() => w.close())
  const { ledger } = w
  t.match(ledger.applyBatch([{ envelope: w.kiosks.cash.topup(UID.alice, 3000) }]), [{ kind: 'result', result: { status: 'accepted' } }])
  ledger.registry.setWristbandBlocked(UID.bob, true) // an operator blocked bob (lost)
  soldAtTill(w, '04C0C0C0C0C0C0')
  const setup = withKeys(w)
  const total = ledger.sumOfAllBalances()

  const summary = ledger.registry.importEventSetup(without(setup, [UID.alice, UID.bob]))
  t.same(summary.retirement, { kiosksRetired: [], kiosksRestored: [], kiosksWithNewToken: [], wristbandsRetired: 2, wristbandsRestored: 0, retiredBalanceCents: 3000 })
  t.equal(ledger.registry.findWristbandByPin(PIN.alice), undefined, 'the PIN finds nothing')
  t.notOk(ledger.registry.verifyPin(UID.alice, PIN.alice))
  t.equal(ledger.wristband(UID.alice), undefined, 'the portal and the APIs do not know it')
  t.equal(ledger.accountBalance(`customer:${UID.alice}`), 3000, 'the money stays in its account')
  t.equal(ledger.sumOfAllBalances(), total)
  t.same(ledger.checkInvariants(), [])
  const sale = w.kiosks.bar.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: 450 }])
  t.match(ledger.applyBatch([{ envelope: sale }]), [{ kind: 'result', result: { status: 'rejected', reason: 'unknown_tag' } }], 'it cannot pay')
  t.equal(ledger.accountBalance(`customer:${UID.alice}`), 3000)
  t.ok(ledger.registry.kioskConfig('bar-1').blocklist?.uids.includes(UID.alice), 'offline kiosks refuse it too (signed blocklist)')
  t.ok(ledger.wristband('04C0C0C0C0C0C0'), 'a wristband sold at a till is not retired for being absent from the file')
  t.same(ledger.registry.retirement.retiredWristbands(), [
    { uid: UID.alice, reason: 'removed_from_setup', balance: 3000 },
    { uid: UID.bob, reason: 'removed_from_setup', balance: 0 },
  ])

  const back = ledger.registry.importEventSetup(setup)
  t.equal(back.retirement.wristbandsRestored, 2)
  t.equal(ledger.registry.findWristbandByPin(PIN.alice), UID.alice, 'back in the file: the PIN logs in again')
  t.same(ledger.wristband(UID.alice), { uid: UID.alice, blocked: false, balance: 3000, account: `customer:${UID.alice}` })
  t.equal(ledger.wristband(UID.bob)?.blocked, true, "bob's block (an operator's) is kept")
  t.notOk(ledger.registry.kioskConfig('bar-1').blocklist?.uids.includes(UID.alice))
  t.same(ledger.registry.retirement.retiredWristbands(), [])
})

t.test('a kiosk removed from the set-up cannot log in, sign or be enrolled; back in the file it goes on with its chain', async (t) => {
  const w = makeWorld()
  t.teardown(() => w.close())
  const { ledger } = w
  const setup = withKeys(w)
  t.ok(ledger.registry.kioskAuth('cash-1', 'token-of-cash-1-0123456789abcdef'))
  t.match(ledger.applyBatch([{ envelope: w.kiosks.cash.topup(UID.alice, 1000) }]), [{ kind: 'result', result: { status: 'accepted' } }])

  const summary = ledger.registry.importEventSetup(without(setup, [], ['cash-1']))
  t.same(summary.retirement.kiosksRetired, ['cash-1'])
  t.notOk(ledger.registry.kioskAuth('cash-1', 'token-of-cash-1-0123456789abcdef'), 'no MQTT login')
  t.equal(ledger.registry.kioskPublicKey('cash-1'), undefined)
  t.throws(() => ledger.registry.kioskConfig('cash-1'), /unknown kiosk/)
  t.throws(() => ledger.registry.enrollKiosk('cash-1', w.kiosks.cash.keys.publicKeyBase64Url), /unknown kiosk/)
  t.notOk(ledger.registry.kioskIds().includes('cash-1'))
  const late = w.kiosks.cash.topup(UID.alice, 1000)
  t.match(ledger.applyBatch([{ envelope: late }]), [{ result: { status: 'rejected', reason: 'unknown_kiosk' } }], 'what it still sends books nothing')
  t.equal(ledger.balanceOf(UID.alice), 1000)
  t.equal(ledger.accountBalance('cash:cash-1'), -1000, 'its cash account stays')

  t.same(ledger.registry.importEventSetup(setup).retirement.kiosksRestored, ['cash-1'])
  t.ok(ledger.registry.kioskAuth('cash-1', 'token-of-cash-1-0123456789abcdef'))
  t.match(ledger.applyBatch([{ envelope: late }]), [{ result: { status: 'accepted', balance: 2000 } }], 'it delivers what it kept, on its own chain')
  t.same(ledger.checkInvariants(), [])
})

t.test('an operator disables and enables; a reload keeps what the operator did, the file decides over absence', async (t) => {
  const w = makeWorld()
  t.teardown(() => w.close())
  const { ledger } = w
  const setup = withKeys(w)
  t.ok(ledger.registry.retirement.setKioskDisabled('bar-1', true))
  t.ok(ledger.registry.retirement.setWristbandDisabled(UID.alice, true))
  t.notOk(ledger.registry.retirement.setKioskDisabled('nope-1', true), 'unknown kiosk')
  t.notOk(ledger.registry.retirement.setWristbandDisabled(UID.stranger, true), 'unknown wristband')
  ledger.registry.importEventSetup(setup)
  t.notOk(ledger.registry.kioskAuth('bar-1', 'token-of-bar-1-0123456789abcdef'), 'still disabled after a reload')
  t.equal(ledger.registry.findWristbandByPin(PIN.alice), undefined)
  ledger.registry.retirement.setKioskDisabled('bar-1', false)
  ledger.registry.retirement.setWristbandDisabled(UID.alice, false)
  t.ok(ledger.registry.kioskAuth('bar-1', 'token-of-bar-1-0123456789abcdef'))
  t.equal(ledger.registry.findWristbandByPin(PIN.alice), UID.alice)
  t.equal(ledger.wristband(UID.alice)?.blocked, false)

  ledger.registry.importEventSetup(without(setup, [UID.bob], ['food-1']))
  ledger.registry.retirement.setKioskDisabled('food-1', false)
  ledger.registry.retirement.setWristbandDisabled(UID.bob, false)
  t.equal(ledger.registry.retirement.kioskRetired('food-1'), 'removed_from_setup', 'enabling does not bring back what the file removed')
  t.equal(ledger.registry.retirement.wristbandRetired(UID.bob), 'removed_from_setup')
})

t.test('a database made before retirement: wristbands from the file are marked as such, those sold at a till are not', async (t) => {
  const w = makeWorld()
  t.teardown(() => w.close())
  soldAtTill(w, '04C0C0C0C0C0C0')
  w.db.prepare(`INSERT INTO transactions (id, kiosk, seq, type, tag, amount, status, reason, hash, envelope, booked_at, booth, receipt_id) VALUES ('t1', 'cash-1', 99, 'ticket', '04C0C0C0C0C0C0', 0, 'accepted', NULL, 'h', '{}', 0, 'cashdesk', 'r1')`).run()
  for (const column of ['in_setup', 'retired', 'blocked_before_retired']) w.db.exec(`ALTER TABLE wristbands DROP COLUMN ${column}`)
  addRetirementColumns(w.db)
  const inSetup = w.db.prepare(`SELECT uid, in_setup FROM wristbands ORDER BY uid`).all()
  t.same(inSetup, [
    { uid: UID.alice, in_setup: 1 },
    { uid: UID.bob, in_setup: 1 },
    { uid: UID.blocked, in_setup: 1 },
    { uid: '04C0C0C0C0C0C0', in_setup: 0 },
  ].sort((a, b) => a.uid.localeCompare(b.uid)))
})

t.test('after a tag switch the file still lists the old wristband with its PIN: a restart imports it, the PIN stays with the new one', async (t) => {
  const w = opsWorld(t)
  fund(w, OPS_UID.crew, 3_000)
  const sealedPin = await sealPin(OPS_PIN.crew, w.ledger.registry.gatewayKeys.sealPublicKey)
  const envelope = w.kiosks.desk.next({ type: 'tag_switch', uid: OPS_UID.fresh, amount: 0 }, { sealedPin })
  t.match(bookChecked(t, w, { envelope, pin: OPS_PIN.crew }), { status: 'accepted' })
  const setup = { ...w.setup, wristbands: w.setup.wristbands.map((band) => (band.uid === OPS_UID.crew ? { ...band, blocked: false } : band)) }
  t.doesNotThrow(() => w.ledger.registry.importEventSetup(setup), 'the import (every restart) goes through')
  t.equal(w.ledger.registry.findWristbandByPin(OPS_PIN.crew), OPS_UID.fresh, 'the PIN finds the new wristband')
  t.equal(w.ledger.wristband(OPS_UID.crew)?.blocked, true, 'the old one stays blocked, whatever the file says')
  t.equal(w.ledger.balanceOf(OPS_UID.fresh), 3_000)
  // Taken out of the file and put back: still blocked, the PIN still with the new one.
  w.ledger.registry.importEventSetup({ ...setup, wristbands: setup.wristbands.filter((band) => band.uid !== OPS_UID.crew) })
  w.ledger.registry.importEventSetup(setup)
  t.equal(w.ledger.wristband(OPS_UID.crew)?.blocked, true)
  t.equal(w.ledger.registry.findWristbandByPin(OPS_PIN.crew), OPS_UID.fresh)
  t.same(w.ledger.checkInvariants(), [])
})
