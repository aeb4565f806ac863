import t from 'tap'
import { join } from 'node:path'
import { generateKeyPairSync } from 'node:crypto'
import { v7 as uuidv7 } from 'uuid'
import { signTransaction, type CardPayment } from '../device-protocol/index.js'
import { createOutbox, type Outbox } from './outbox.js'
import { CardPaymentStateError, createCardPaymentStore } from './card-payments.js'

const clock = { now: () => 1_750_000_000_000 }
const { privateKey } = generateKeyPairSync('ed25519')
const PAYMENT: CardPayment = { terminalId: '52500038', receiptNumber: '0001', traceNumber: '000001' }

function cardTopUp(outbox: Outbox, payment: CardPayment, within: Parameters<Outbox['append']>[1]) {
  return outbox.append(
    (seq, prev) =>
      signTransaction({ v: 1, id: uuidv7(), kiosk: 'topup-1', seq, prev, type: 'topup_card', tag: { uid: '04A1B2C3', type: 'ntag215' }, lines: [], amount: 1000, at: clock.now(), payment }, privateKey),
    within,
  )
}

function open(dir: string) {
  const outbox = createOutbox({ path: join(dir, 'outbox.sqlite'), maxEntries: 10, clock })
  return { outbox, payments: createCardPaymentStore({ db: outbox.database, clock }) }
}

t.test('a record is on disk (synchronous=FULL) before the payment and survives a reopen', async (t) => {
  const dir = t.testdir()
  const first = open(dir)
  t.equal(first.outbox.database.pragma('synchronous', { simple: true }), 2, 'FULL')
  const record = first.payments.open({ id: uuidv7(), uid: '04A1B2C3', tagType: 'ntag215', amount: 1000, terminalId: '52500038' })
  t.match(record, { state: 'open', amount: 1000, terminalId: '52500038' })
  first.outbox.close()
  const second = open(dir)
  t.teardown(() => second.outbox.close())
  t.match(second.payments.openRecords(), [{ id: record.id, state: 'open', uid: '04A1B2C3', tagType: 'ntag215', amount: 1000 }])
})

t.test('only one card payment may be open at a time', async (t) => {
  const { outbox, payments } = open(t.testdir())
  t.teardown(() => outbox.close())
  const a = payments.open({ id: uuidv7(), uid: '04A1B2C3', tagType: 'x', amount: 100 })
  t.throws(() => payments.open({ id: uuidv7(), uid: '04A1B2C3', tagType: 'x', amount: 100 }), CardPaymentStateError)
  payments.markUnresolved(a.id, 'lost')
  t.throws(() => payments.open({ id: uuidv7(), uid: '04A1B2C3', tagType: 'x', amount: 100 }), CardPaymentStateError, 'unresolved counts as open')
  payments.closeUnbooked(a.id, 'declined', 'supervisor')
  t.ok(payments.open({ id: uuidv7(), uid: '04A1B2C3', tagType: 'x', amount: 100 }))
  t.throws(() => payments.open({ id: uuidv7(), uid: '04A1B2C3', tagType: 'x', amount: 0 }), 'amount must be positive')
})

t.test('booked together with the outbox append, or not at all', async (t) => {
  const { outbox, payments } = open(t.testdir())
  t.teardown(() => outbox.close())
  const record = payments.open({ id: uuidv7(), uid: '04A1B2C3', tagType: 'x', amount: 1000 })
  const entry = cardTopUp(outbox, PAYMENT, (e) => payments.markBooked(record.id, e.id, PAYMENT, 'terminal'))
  t.match(payments.get(record.id), { state: 'booked', txId: entry.id, payment: PAYMENT, resolution: 'terminal' })
  t.equal(outbox.depth(), 1)
  t.ok(payments.isBookedRef(PAYMENT))
  t.notOk(payments.isBookedRef({ ...PAYMENT, traceNumber: '000002' }))

  // A second booking of the same (now closed) record rolls the append back: the outbox does not move.
  const head = outbox.head()
  t.throws(() => cardTopUp(outbox, PAYMENT, (e) => payments.markBooked(record.id, e.id, PAYMENT, 'recovered')), CardPaymentStateError)
  t.same(outbox.head(), head)
  t.equal(outbox.depth(), 1)
  t.throws(() => payments.closeUnbooked(record.id, 'declined', 'supervisor'), CardPaymentStateError, 'a booked record cannot be closed as declined')
  t.throws(() => payments.markUnresolved(record.id, 'x'), CardPaymentStateError)

  // The same terminal reference on another record is refused too (UNIQUE), and rolls back.
  const other = payments.open({ id: uuidv7(), uid: '04A1B2C3', tagType: 'x', amount: 1000 })
  t.throws(() => cardTopUp(outbox, PAYMENT, (e) => payments.markBooked(other.id, e.id, PAYMENT, 'recovered')))
  t.same(outbox.head(), head)
  t.match(payments.get(other.id), { state: 'open' })
})
