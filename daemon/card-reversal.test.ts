// A card top-up the gateway refuses after the terminal approved it is reversed
// at the terminal by its receipt number, once, and the reversal is kept in the
// kiosk database; one that is declined or lost stays an alert.
import t, { type Test } from 'tap'
import Database from 'better-sqlite3'
import { pino } from 'pino'
import type { KioskConfig, Transaction } from '../device-protocol/index.js'
import { createCardReversals } from './card-reversals.js'
import type { ReversalResult } from './terminal/terminal.js'
import { FakeTerminal } from './testing/fake-terminal.js'
import { startKioskWorld } from './testing/kiosk-world.js'
import { waitUntil } from './testing/wait.js'

const KIOSK = 'reversal-1'
const TAG = { uid: '04A1B2C3D4E5F6', type: 'ntag215' }
const catalog: KioskConfig = { kiosk: KIOSK, booth: 'Top-up', version: 1, products: [], topupAllowed: true, saleAllowed: false }

async function rig(t: Test) {
  const terminal = new FakeTerminal()
  const world = await startKioskWorld(t, { kioskId: KIOSK, config: catalog, terminal })
  world.responder.policy = (envelope) => (envelope.tx.type === 'topup_card' ? { status: 'rejected', reason: 'tag_blocked' } : { status: 'accepted', balance: 0 })
  return { ...world, terminal }
}

t.test('a blocked band after approval: the payment is reversed by its receipt number, recorded, and the cashier reads so', async (t) => {
  const { reader, kiosk, terminal } = await rig(t)
  const [outcome] = await Promise.all([kiosk.cardTopUp(1_500), reader.tapWhenReady(TAG)])
  t.match(outcome, { status: 'rejected', reason: 'tag_blocked', message: 'refused, card payment reversed', payment: { receiptNumber: '0001' } })
  t.same(terminal.reverseCalls, [{ receiptNumber: '0001', amountCents: 1_500 }])
  t.match(kiosk.counters(), { cardTopUpsRefused: 1, cardReversed: 1, cardReversalAlerts: 0 })
})

t.test('a reversal the terminal declines stays an alert, and the cashier is told to get a supervisor', async (t) => {
  const { reader, kiosk, terminal } = await rig(t)
  terminal.onReverse = (receiptNumber, amountCents) => ({ status: 'declined', receiptNumber, amountCents, resultCode: 0xb5, message: 'reversal not possible' })
  const [outcome] = await Promise.all([kiosk.cardTopUp(900), reader.tapWhenReady(TAG)])
  t.match(outcome, { status: 'rejected', message: /NOT reversed \(declined\).*supervisor/ })
  t.match(kiosk.counters(), { cardReversed: 0, cardReversalAlerts: 1 })
})

t.test('a reversal cut by a restart is never sent again: it becomes unknown, an alert', async (t) => {
  const { reader, kiosk, terminal, restart } = await rig(t)
  terminal.onReverse = () => new Promise<ReversalResult>(() => undefined) // the kiosk dies before the terminal answers
  void Promise.all([kiosk.cardTopUp(700), reader.tapWhenReady(TAG)]).catch(() => undefined)
  await waitUntil(() => terminal.reverseCalls.length === 1, 'the reversal went to the terminal')
  terminal.onReverse = (receiptNumber, amountCents) => ({ status: 'reversed', receiptNumber, amountCents, resultCode: 0 })
  const again = await restart()
  t.equal(terminal.reverseCalls.length, 1, 'not reversed twice')
  t.match(again.kiosk.counters(), { cardTopUpsRefused: 0, cardReversed: 0, cardReversalAlerts: 1 })
})

t.test('the same refusal twice (a resend answered again) reverses once; a top-up without a payment reference is left alone', async (t) => {
  const db = new Database(':memory:')
  t.teardown(() => db.close())
  const terminal = new FakeTerminal()
  let changes = 0
  const reversals = createCardReversals({ db, clock: { now: () => 1_000 }, terminal, logger: pino({ level: 'silent' }), changed: () => void (changes += 1) })
  const tx = { id: 'tx-1', type: 'topup_card', amount: 400, payment: { terminalId: 'T1', receiptNumber: '0042', traceNumber: '000042' } } as unknown as Transaction
  const [first, second] = await Promise.all([reversals.refused(tx, 'duplicate_payment'), reversals.refused(tx, 'duplicate_payment')])
  t.match(first, { txId: 'tx-1', receiptNumber: '0042', terminalId: 'T1', amount: 400, refusal: 'duplicate_payment', state: 'reversed', resultCode: 0, closedAt: 1_000 })
  t.same(second, first)
  t.match(await reversals.refused(tx, 'duplicate_payment'), { state: 'reversed' }, 'answered again later: the record, no new reversal')
  t.equal(terminal.reverseCalls.length, 1)
  t.equal(await reversals.refused({ ...tx, id: 'tx-2', payment: undefined } as unknown as Transaction, 'tag_blocked'), undefined)
  t.ok(changes > 0)
  t.same(reversals.counters(), { cardReversed: 1, cardReversalAlerts: 0 })
})

t.test('without a terminal, or when the terminal throws, the reversal is recorded as failed', async (t) => {
  const db = new Database(':memory:')
  t.teardown(() => db.close())
  const terminal = new FakeTerminal()
  terminal.onReverse = () => {
    throw new RangeError('a ZVT receipt number is 1-4 digits')
  }
  const logger = pino({ level: 'silent' })
  const withTerminal = createCardReversals({ db, clock: { now: () => 5 }, terminal, logger, changed: () => undefined })
  const tx = (id: string) => ({ id, type: 'topup_card', amount: 100, payment: { terminalId: 'T1', receiptNumber: 'manual', traceNumber: `manual-${id}` } }) as unknown as Transaction
  t.match(await withTerminal.refused(tx('a'), 'tag_blocked'), { state: 'failed', note: /1-4 digits/ })
  const without = createCardReversals({ db, clock: { now: () => 5 }, terminal: undefined, logger, changed: () => undefined })
  t.match(await without.refused(tx('b'), 'tag_blocked'), { state: 'failed', note: 'no card terminal at this kiosk' })
  t.same(without.counters(), { cardReversed: 0, cardReversalAlerts: 2 })
})
