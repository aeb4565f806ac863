// The kiosk configs the gateway builds from till profiles, the catalog, staff,
// registers, restricted wristbands, the offline policy and the signed blocklist.
import t, { type Test } from 'tap'
import { publicKeyFromBase64Url, validateKioskConfig, verifyBlocklist, verifyStaffPin, type KioskConfig } from '../../device-protocol/index.js'
import { opsWorld as world, OPS_PIN, OPS_UID, STAFF, SUPERVISOR_PIN, makeOpsWorld, type OpsWorld } from '../ledger/testing/operations-fixtures.js'


const KIOSKS = ['bar-1', 'cash-1', 'desk-1', 'food-1']

function configs(w: OpsWorld): Record<string, KioskConfig> {
  return Object.fromEntries(KIOSKS.map((id) => [id, w.ledger.registry.kioskConfig(id)]))
}

t.test('every config is valid and carries the gateway keys', async (t) => {
  const w = world(t)
  t.same(w.ledger.registry.kioskIds(), KIOSKS)
  for (const [id, config] of Object.entries(configs(w))) {
    const checked = validateKioskConfig(config)
    t.ok(checked.ok, `${id}: ${checked.ok ? 'valid' : checked.error}`)
    t.equal(config.kiosk, id)
    t.equal(config.gatewayKey, w.ledger.registry.gatewayKeys.signingPublicKey)
    t.equal(config.pinSealKey, w.ledger.registry.gatewayKeys.sealPublicKey)
    t.ok(verifyBlocklist(config.blocklist!, publicKeyFromBase64Url(config.gatewayKey!)))
  }
  t.same(w.ledger.checkInvariants(), [])
})

t.test('the catalog is the booth’s, filtered by the till profile, with only the fields that say something', async (t) => {
  const w = world(t)
  const c = configs(w)
  t.same(
    c['bar-1']!.products,
    [
      { id: 'beer', name: 'Beer', price: 450, taxRate: 1900, voucherEligible: true, restrictions: ['under16', 'under18'] },
      { id: 'cup', name: 'Cup deposit', price: 200, kind: 'deposit' },
      { id: 'donation', name: 'Donation', price: 1000, fixedPrice: false },
      { id: 'happy', name: 'Happy hour', price: -50, kind: 'discount' },
      { id: 'tip', name: 'Tip', price: 0, fixedPrice: false },
      { id: 'water', name: 'Water', price: 200, taxRate: 700 },
    ],
    "'hidden' is not in the bar profile",
  )
  t.same(c['food-1']!.products.map((p) => p.id), ['fries', 'tap-water'], 'no profile: all of the booth')
  t.same(c['cash-1']!.products, [
    { id: 'day', name: 'Day ticket', price: 5000, kind: 'ticket', taxRate: 700 },
    { id: 'merch', name: 'Shirt', price: 1500 },
    { id: 'youth', name: 'Youth ticket', price: 3000, kind: 'ticket', ticketVariant: 'under16' },
  ])
  t.match(c['bar-1'], { saleAllowed: true, topupAllowed: false, profile: { id: 'bar-till', sale: true, cancelWindowMs: 60_000, cashRegister: false } })
  t.notOk('products' in c['bar-1']!.profile!, 'the profile itself does not repeat the product list')
  t.match(c['cash-1'], { saleAllowed: false, topupAllowed: true, profile: { id: 'cash-till', cashout: true, ticketSale: true, cashRegister: true } })
  t.match(c['desk-1'], { saleAllowed: false, topupAllowed: true, profile: { id: 'desk', tagSwitch: true } })
  t.match(c['food-1'], {
    saleAllowed: true,
    topupAllowed: true,
    profile: { id: 'default', sale: true, topupCash: true, topupCard: true, cashout: false, ticketSale: false, tagSwitch: false, cashRegister: false, cancelWindowMs: 0 },
  })
})

t.test('registers only for register tills', async (t) => {
  const c = configs(world(t))
  t.same(c['cash-1']!.registers, [
    { id: 'drawer-1', name: 'Drawer 1' },
    { id: 'drawer-2', name: 'Drawer 2' },
  ])
  for (const id of ['bar-1', 'desk-1', 'food-1']) t.same(c[id]!.registers, [], id)
})

t.test('staff carry a PIN hash the kiosk can check, never the PIN', async (t) => {
  const w = world(t)
  const c = configs(w)
  for (const config of Object.values(c)) {
    t.same(
      config.staff?.map((m) => ({ uid: m.uid, roles: m.roles, hasPin: m.pinHash !== undefined })),
      [
        { uid: STAFF.cashier, roles: ['cashier'], hasPin: false },
        { uid: STAFF.topup, roles: ['topup'], hasPin: false },
        { uid: STAFF.supervisor, roles: ['supervisor'], hasPin: true },
        { uid: STAFF.both, roles: ['cashier', 'topup'], hasPin: false },
      ],
    )
    const hash = config.staff!.find((m) => m.uid === STAFF.supervisor)!.pinHash!
    t.ok(verifyStaffPin(SUPERVISOR_PIN, hash), 'the supervisor PIN verifies')
    t.notOk(verifyStaffPin('12345678', hash), 'another PIN does not')
    const json = JSON.stringify(config)
    t.notOk(json.includes(SUPERVISOR_PIN), 'no staff PIN in the config')
    for (const pin of Object.values(OPS_PIN)) t.notOk(json.toUpperCase().includes(pin), 'no guest PIN in the config')
    t.notOk(json.includes('token-of-'), 'no kiosk token in the config')
  }
  // A re-import keeps the hash (and its salt): the configs do not change for nothing.
  const before = c['bar-1']!
  t.same(w.ledger.registry.importEventSetup(w.setup).configChanged, [])
  t.same(w.ledger.registry.kioskConfig('bar-1'), before)
  // A new PIN is a new hash and a new config version.
  w.setup.staff = w.setup.staff!.map((m) => (m.uid === STAFF.supervisor ? { ...m, pin: '11223344' } : m))
  t.same(w.ledger.registry.importEventSetup(w.setup).configChanged.sort(), KIOSKS)
  const after = w.ledger.registry.kioskConfig('bar-1')
  t.equal(after.version, before.version + 1)
  const hash = after.staff!.find((m) => m.uid === STAFF.supervisor)!.pinHash!
  t.ok(verifyStaffPin('11223344', hash))
  t.notOk(verifyStaffPin(SUPERVISOR_PIN, hash))
})

t.test('an event without staff sends no staff list', async (t) => {
  const w = world(t, (s) => void delete s.staff)
  for (const config of Object.values(configs(w))) {
    t.equal(config.staff, undefined)
    t.ok(validateKioskConfig(config).ok)
  }
})

t.test('restricted wristbands and the offline policy', async (t) => {
  const w = world(t)
  for (const config of Object.values(configs(w))) {
    t.same(config.tagVariants, [{ uid: OPS_UID.teen, variant: 'under16' }], 'adults are not listed')
    t.same(config.offline, { allowed: true, perTagCapCents: 5_000, kioskTotalCapCents: 50_000 })
  }
  const none = world(t, (s) => void delete s.offline)
  t.same(none.ledger.registry.kioskConfig('bar-1').offline, { allowed: false, perTagCapCents: 0, kioskTotalCapCents: 0 }, 'default: no offline sales')
})

t.test('the blocklist version goes up when a wristband is blocked, and only then', async (t) => {
  const w = world(t)
  const before = configs(w)
  t.same(before['bar-1']!.blocklist!.uids, [OPS_UID.blocked])
  t.same(w.ledger.registry.refreshKioskConfigs(), [], 'nothing changed since the import')
  t.same(configs(w), before, 'the same configs, versions included')

  w.ledger.registry.setWristbandBlocked(OPS_UID.alice, true)
  t.same(w.ledger.registry.refreshKioskConfigs().sort(), KIOSKS, 'every kiosk gets the new blocklist')
  const blocked = configs(w)
  for (const id of KIOSKS) {
    const config = blocked[id]!
    t.equal(config.version, before[id]!.version + 1, `${id}: config version up by one`)
    t.equal(config.blocklist!.version, before[id]!.blocklist!.version + 1, `${id}: blocklist version up by one`)
    t.same(config.blocklist!.uids, [OPS_UID.alice, OPS_UID.blocked].sort())
    t.ok(verifyBlocklist(config.blocklist!, publicKeyFromBase64Url(config.gatewayKey!)))
    t.ok(validateKioskConfig(config).ok)
  }
  t.same(w.ledger.registry.refreshKioskConfigs(), [], 'a second refresh changes nothing')
  t.same(configs(w), blocked)

  // Blocking the restricted wristband also takes it off the variant list.
  w.ledger.registry.setWristbandBlocked(OPS_UID.teen, true)
  t.same(w.ledger.registry.refreshKioskConfigs().sort(), KIOSKS)
  const teenBlocked = w.ledger.registry.kioskConfig('bar-1')
  t.same(teenBlocked.tagVariants, [])
  t.equal(teenBlocked.blocklist!.version, blocked['bar-1']!.blocklist!.version + 1)

  // Unblocking is a change too: the version never goes back.
  w.ledger.registry.setWristbandBlocked(OPS_UID.teen, false)
  w.ledger.registry.setWristbandBlocked(OPS_UID.alice, false)
  t.same(w.ledger.registry.refreshKioskConfigs().sort(), KIOSKS)
  const unblocked = w.ledger.registry.kioskConfig('bar-1')
  t.same(unblocked.blocklist!.uids, [OPS_UID.blocked])
  t.ok(unblocked.blocklist!.version > teenBlocked.blocklist!.version)
  t.equal(unblocked.version, teenBlocked.version + 1)
  t.same(unblocked.tagVariants, [{ uid: OPS_UID.teen, variant: 'under16' }])
  t.throws(() => w.ledger.registry.setWristbandBlocked(OPS_UID.stranger, true), /unknown wristband/)
  t.same(w.ledger.checkInvariants(), [])
})

t.test('the gateway keys survive a restart, so the pinned key stays valid', async (t) => {
  const w = world(t)
  const { signingPublicKey, sealPublicKey } = w.ledger.registry.gatewayKeys
  const { createLedger } = await import('../ledger/ledger.js')
  const { silentLogger, fixedClock } = await import('../ledger/testing/test-helpers.js')
  const again = createLedger({ db: w.db, clock: fixedClock(), logger: silentLogger })
  t.same(again.registry.gatewayKeys, { signingPublicKey, sealPublicKey })
  t.same(again.registry.kioskConfig('bar-1'), w.ledger.registry.kioskConfig('bar-1'))
})
