// Transactions a kiosk signs without a guest's tap: a cancel (the tag of the
// sale it undoes), a cash shift (the staff member's wristband), and a card top-up
// recovered after a restart with nobody logged in.
import t from 'tap'
import type { EventSetup } from '../event-setup.js'
import { createLedger } from './ledger.js'
import { openLedgerDatabase } from './db.js'
import { SigningKiosk, UID, fixedClock, silentLogger, testSetup, verified } from './testing/test-helpers.js'

const STAFF = '04517AFF000001'
const SECURE = { acceptedTypes: ['ntag215', 'ntag424'], requireSun: true, sun: { metaReadKey: '11'.repeat(16), fileReadKey: '22'.repeat(16) } }

function world(extra: (setup: EventSetup) => void = () => undefined) {
  const db = openLedgerDatabase(':memory:')
  const ledger = createLedger({ db, clock: fixedClock(), logger: silentLogger })
  const bar = new SigningKiosk('bar-1')
  const cash = new SigningKiosk('cash-1')
  const setup = testSetup({ 'bar-1': bar.keys, 'cash-1': cash.keys })
  setup.tillProfiles = [
    { id: 'bar', name: 'Bar', sale: true, topupCash: false, topupCard: false, cashout: false, ticketSale: false, tagSwitch: false, cashRegister: false, cancelWindowMs: 60_000 },
    { id: 'desk', name: 'Desk', sale: false, topupCash: true, topupCard: true, cashout: false, ticketSale: false, tagSwitch: false, cashRegister: true, cancelWindowMs: 0 },
  ]
  setup.cashRegisters = [{ id: 'drawer-1', name: 'Drawer 1' }]
  setup.kiosks = setup.kiosks.map((k) => (k.id === 'bar-1' ? { ...k, profile: 'bar' } : k.id === 'cash-1' ? { ...k, profile: 'desk' } : k))
  extra(setup)
  ledger.registry.importEventSetup(setup)
  const apply = (envelope: Parameters<typeof verified>[0]) => {
    const outcome = ledger.applyBatch([verified(envelope)])[0]!
    if (outcome.kind !== 'result') throw new Error('gap')
    return outcome.result
  }
  return { db, ledger, bar, cash, setup, apply }
}

t.test('a cancel and a cash shift carry no SUN and are not refused by a policy that demands one', async (t) => {
  const w = world()
  t.teardown(() => w.db.close())
  t.match(w.apply(w.cash.next({ type: 'shift_open', uid: STAFF, amount: 1_000 }, { register: 'drawer-1' })), { status: 'accepted' })
  t.match(w.apply(w.cash.topup(UID.alice, 2_000)), { status: 'accepted' })
  const sale = w.bar.sale(UID.alice, [{ product: 'beer', qty: 1, unitPrice: 450 }])
  t.match(w.apply(sale), { status: 'accepted', balance: 1_550 })
  // From now on every tapped transaction needs a valid SUN.
  w.ledger.registry.importEventSetup({ ...w.setup, tagPolicy: SECURE })
  t.match(w.apply(w.bar.sale(UID.alice, [{ product: 'water', qty: 1, unitPrice: 200 }])), { status: 'rejected', reason: 'tag_not_authentic' }, 'a tapped sale without SUN is refused')
  t.match(w.apply(w.bar.next({ type: 'cancel', uid: UID.alice, amount: 450 }, { ref: sale.tx.id, at: sale.tx.at + 1_000 })), { status: 'accepted', balance: 2_000 })
  t.match(w.apply(w.cash.next({ type: 'shift_close', uid: STAFF, amount: 3_000 }, { register: 'drawer-1' })), { status: 'accepted', expected: 3_000, difference: 0 })
  t.same(w.ledger.checkInvariants(), [])
})

t.test('with a staff list, a card top-up without staff is booked (the card was charged); other types are refused', async (t) => {
  const w = world((setup) => {
    setup.staff = [{ uid: STAFF, name: 'Desk', roles: ['topup'] }]
  })
  t.teardown(() => w.db.close())
  t.match(w.apply(w.cash.next({ type: 'shift_open', uid: STAFF, amount: 0 }, { register: 'drawer-1' })), { status: 'rejected', reason: 'staff_required' })
  t.match(w.apply(w.cash.topup(UID.alice, 1_000)), { status: 'rejected', reason: 'staff_required' })
  const payment = { terminalId: 'T1', receiptNumber: '0001', traceNumber: '000001' }
  t.match(w.apply(w.cash.next({ type: 'topup_card', uid: UID.alice, amount: 1_500 }, { payment })), { status: 'accepted', balance: 1_500 })
  t.match(w.apply(w.cash.next({ type: 'topup_card', uid: UID.alice, amount: 500 }, { payment: { ...payment, receiptNumber: '0002' }, staff: '04000000000099' })), { status: 'rejected', reason: 'staff_required' }, 'a staff uid that is no staff member is still refused')
  t.same(w.ledger.checkInvariants(), [])
})
