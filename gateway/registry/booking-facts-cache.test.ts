// The registry keeps what every sale reads and only an operator changes (kiosks' booth and till profile, the
// catalog, till profiles, whether staff must log in) in memory. Each change through the registry must reach the
// very next sale: a price, a product taken off the menu, a till profile, a kiosk disabled or moved, a staff list,
// a blocked wristband. Every test books a sale first, so the old facts are in memory when the change comes.
import t, { type Test } from 'tap'
import type { Envelope, TxResult } from '../../device-protocol/index.js'
import type { EventSetup } from '../event-setup.js'
import { UID, makeWorld, testSetup, verified, type TestWorld } from '../ledger/testing/test-helpers.js'

const beer = { product: 'beer', qty: 1, unitPrice: 450 }
const water = { product: 'water', qty: 1, unitPrice: 200 }

function book(w: TestWorld, envelope: Envelope): TxResult {
  const [outcome] = w.ledger.applyBatch([verified(envelope)])
  if (outcome?.kind !== 'result') throw new Error(`expected a result, got ${JSON.stringify(outcome)}`)
  return outcome.result
}

/** A world where alice has money and bar-1 has sold her a beer (its kiosk, catalog and staff flag were read). */
function worldAfterOneSale(t: Test): TestWorld {
  const w = makeWorld()
  t.teardown(w.close)
  t.match(book(w, w.kiosks.food.topup(UID.alice, 5_000)), { status: 'accepted' })
  t.match(book(w, w.kiosks.bar.sale(UID.alice, [beer])), { status: 'accepted' }, 'a first sale at the old facts')
  return w
}

/** testSetup with the kiosks' keys of this world, changed by `change`. */
function setupOf(w: TestWorld, change: (setup: EventSetup) => EventSetup): EventSetup {
  return change(testSetup({ 'bar-1': w.kiosks.bar.keys, 'cash-1': w.kiosks.cash.keys, 'food-1': w.kiosks.food.keys }))
}

t.test('a new price takes effect for the very next sale', async (t) => {
  const w = worldAfterOneSale(t)
  w.ledger.registry.importEventSetup(setupOf(w, (s) => ({ ...s, products: s.products.map((p) => (p.id === 'beer' ? { ...p, price: 500 } : p)) })))
  t.match(book(w, w.kiosks.bar.sale(UID.alice, [beer])), { status: 'rejected', reason: 'price_mismatch' }, 'the old price is refused')
  t.match(book(w, w.kiosks.bar.sale(UID.alice, [{ ...beer, unitPrice: 500 }])), { status: 'accepted' }, 'the new price is booked')
})

t.test('a product taken off the menu is refused at once, and sold again once it is back', async (t) => {
  const w = worldAfterOneSale(t)
  const withoutBeer = setupOf(w, (s) => ({ ...s, products: s.products.filter((p) => p.id !== 'beer') }))
  w.ledger.registry.importEventSetup(withoutBeer)
  t.match(book(w, w.kiosks.bar.sale(UID.alice, [beer])), { status: 'rejected', reason: 'unknown_product' })
  w.ledger.registry.importEventSetup(setupOf(w, (s) => s))
  t.match(book(w, w.kiosks.bar.sale(UID.alice, [beer])), { status: 'accepted' })
})

t.test('a kiosk disabled by an operator is unknown to the next sale, and sells again once enabled', async (t) => {
  const w = worldAfterOneSale(t)
  t.equal(w.ledger.registry.retirement.setKioskDisabled('bar-1', true), true)
  t.match(book(w, w.kiosks.bar.sale(UID.alice, [beer])), { status: 'rejected', reason: 'unknown_kiosk' })
  t.equal(w.ledger.registry.retirement.setKioskDisabled('bar-1', false), true)
  // The refused envelope was not recorded: the kiosk sends it again with the same seq.
  const again = w.kiosks.bar.history.pop()!
  t.match(book(w, again), { status: 'accepted' })
})

t.test("a kiosk's flags and till profile from a new set-up rule its next sale", async (t) => {
  const w = worldAfterOneSale(t)
  const profile = { id: 'beer-only', name: 'Beer only', sale: true, topupCash: false, topupCard: false, cashout: false, ticketSale: false, tagSwitch: false, cashRegister: false, cancelWindowMs: 0 }
  const withProfile = (products: string[]) =>
    setupOf(w, (s) => ({ ...s, tillProfiles: [{ ...profile, products }], kiosks: s.kiosks.map((k) => (k.id === 'bar-1' ? { ...k, profile: 'beer-only' } : k)) }))
  w.ledger.registry.importEventSetup(withProfile(['beer']))
  t.match(book(w, w.kiosks.bar.sale(UID.alice, [water])), { status: 'rejected', reason: 'unknown_product' }, 'the profile leaves water out')
  w.ledger.registry.importEventSetup(withProfile(['beer', 'water']))
  t.match(book(w, w.kiosks.bar.sale(UID.alice, [water])), { status: 'accepted' }, 'the changed profile sells it')
  w.ledger.registry.importEventSetup(setupOf(w, (s) => ({ ...s, kiosks: s.kiosks.map((k) => (k.id === 'bar-1' ? { ...k, saleAllowed: false } : k)) })))
  t.match(book(w, w.kiosks.bar.sale(UID.alice, [beer])), { status: 'rejected', reason: 'sale_not_allowed' }, 'without its profile the flags rule again')
})

t.test('a staff list from a new set-up makes the next sale need a login', async (t) => {
  const w = worldAfterOneSale(t)
  const staff = [{ uid: '0A000000000001', name: 'Sam', roles: ['cashier' as const] }]
  w.ledger.registry.importEventSetup(setupOf(w, (s) => ({ ...s, staff })))
  t.match(book(w, w.kiosks.bar.sale(UID.alice, [beer])), { status: 'rejected', reason: 'staff_required' })
  t.match(book(w, w.kiosks.bar.sale(UID.alice, [beer], { staff: '0A000000000001' })), { status: 'accepted' })
  w.ledger.registry.importEventSetup(setupOf(w, (s) => s))
  t.match(book(w, w.kiosks.bar.sale(UID.alice, [beer])), { status: 'accepted' }, 'without the list no login is needed again')
})

t.test('a wristband blocked by an operator is refused at the next sale', async (t) => {
  const w = worldAfterOneSale(t)
  w.ledger.registry.setWristbandBlocked(UID.alice, true)
  t.match(book(w, w.kiosks.bar.sale(UID.alice, [beer])), { status: 'rejected', reason: 'tag_blocked' })
  w.ledger.registry.setWristbandBlocked(UID.alice, false)
  t.match(book(w, w.kiosks.bar.sale(UID.alice, [beer])), { status: 'accepted' })
})

t.test('the facts handed out are shared and frozen: a caller cannot change what the next sale sees', async (t) => {
  const w = worldAfterOneSale(t)
  const product = w.ledger.registry.product('bar', 'beer')!
  t.throws(() => {
    ;(product as { price: number }).price = 1
  })
  t.equal(w.ledger.registry.product('bar', 'beer')?.price, 450)
  t.ok(Object.isFrozen(w.ledger.registry.kiosk('bar-1')))
})

t.test("a changed till profile reaches the kiosk's pushed config in the same import, not only the next sale", async (t) => {
  const w = worldAfterOneSale(t)
  const profile = { id: 'beer-only', name: 'Beer only', sale: true, topupCash: false, topupCard: false, cashout: false, ticketSale: false, tagSwitch: false, cashRegister: false, cancelWindowMs: 0 }
  const withProfile = (products: string[]) =>
    setupOf(w, (s) => ({ ...s, tillProfiles: [{ ...profile, products }], kiosks: s.kiosks.map((k) => (k.id === 'bar-1' ? { ...k, profile: 'beer-only' } : k)) }))
  w.ledger.registry.importEventSetup(withProfile(['beer']))
  // A sale reads the profile into memory; the next import changes it.
  t.match(book(w, w.kiosks.bar.sale(UID.alice, [beer])), { status: 'accepted' })
  const before = w.ledger.registry.kioskConfig('bar-1')
  t.same(before.products.map((p) => p.id), ['beer'])
  w.ledger.registry.importEventSetup(withProfile(['beer', 'water']))
  const after = w.ledger.registry.kioskConfig('bar-1')
  t.same(after.products.map((p) => p.id).sort(), ['beer', 'water'], 'the config lists what the new profile sells')
  t.ok(after.version > before.version, 'and has a new version, so the kiosk is sent it')
})
