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
import { createZvtTerminalSimulator, listenZvtTerminalOnTcp } from '../simulators/zvt-terminal.js'
import { createZvtTerminal } from './terminal/zvt-terminal.js'
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

t.test('a reversal the terminal refuses because it is busy with another payment is tried again once it is free, recorded, never twice at once', async (t) => {
  const db = new Database(':memory:')
  t.teardown(() => db.close())
  const terminal = new FakeTerminal()
  const busyReverse = () => {
    throw new Error('the card terminal is busy')
  }
  terminal.onReverse = busyReverse
  terminal.setBusy(true)
  // A long fallback delay: the next try comes from the terminal's 'status' saying it is free.
  const reversals = createCardReversals({ db, clock: { now: () => 7 }, terminal, logger: pino({ level: 'silent' }), changed: () => undefined, maxAttempts: 3, retryDelayMs: 60_000 })
  const tx = { id: 'tx-busy', type: 'topup_card', amount: 1_200, payment: { terminalId: 'T1', receiptNumber: '0007', traceNumber: '000007' } } as unknown as Transaction
  const running = reversals.refused(tx, 'tag_blocked')
  await waitUntil(() => terminal.reverseCalls.length === 1, 'the first try')
  await waitUntil(() => /try 1 of 3/.test(reversals.get('tx-busy')?.note ?? ''), 'the busy try noted')
  t.match(reversals.get('tx-busy'), { state: 'pending', note: /try 1 of 3: the card terminal is busy/ }, 'recorded, still pending')
  t.equal(reversals.refused(tx, 'tag_blocked'), running, 'the same refusal again joins the reversal in flight')
  t.equal(terminal.reverseCalls.length, 1, 'no second reversal while the terminal is busy')
  terminal.onReverse = (receiptNumber, amountCents) => ({ status: 'reversed', receiptNumber, amountCents, resultCode: 0, message: 'successful' })
  terminal.setBusy(false)
  t.match(await running, { state: 'reversed', note: /successful \(try 2: the terminal was busy before\)/ })
  t.equal(terminal.reverseCalls.length, 2)
  t.same(reversals.counters(), { cardReversed: 1, cardReversalAlerts: 0 })
})

t.test('a terminal busy for longer than the tries allow: the reversal fails after them, an alert; a busy one answering unknown is not tried again', async (t) => {
  const db = new Database(':memory:')
  t.teardown(() => db.close())
  const terminal = new FakeTerminal()
  terminal.busy = true
  terminal.onReverse = () => {
    throw new Error('the card terminal is busy')
  }
  const reversals = createCardReversals({ db, clock: { now: () => 7 }, terminal, logger: pino({ level: 'silent' }), changed: () => undefined, maxAttempts: 3, retryDelayMs: 1 })
  const tx = (id: string, receiptNumber: string) => ({ id, type: 'topup_card', amount: 500, payment: { terminalId: 'T1', receiptNumber, traceNumber: `00${receiptNumber}` } }) as unknown as Transaction
  t.match(await reversals.refused(tx('tx-a', '0001'), 'duplicate_payment'), { state: 'failed', note: /busy: gave up after 3 tries/ })
  t.equal(terminal.reverseCalls.length, 3, 'bounded')

  // Busy once, then the answer is lost: unknown, an alert, and no further try.
  let calls = 0
  terminal.onReverse = (receiptNumber, amountCents) => {
    calls += 1
    if (calls === 1) throw new Error('the card terminal is busy')
    return { status: 'unknown', receiptNumber, amountCents, message: 'reversal outcome not heard' }
  }
  t.match(await reversals.refused(tx('tx-b', '0002'), 'duplicate_payment'), { state: 'unknown' })
  t.equal(calls, 2, 'not tried after the unknown answer')
  t.same(reversals.counters(), { cardReversed: 0, cardReversalAlerts: 2 })
})

async function zvtOverTcp(t: Test) {
  const sim = createZvtTerminalSimulator({ ackTimeoutMs: 500, transport: 'tcp' })
  const listener = await listenZvtTerminalOnTcp({ terminal: sim })
  const terminal = createZvtTerminal({
    password: '123456',
    currency: 978,
    logger: pino({ level: 'silent' }),
    paymentTimeoutMs: 2_000,
    commandTimeoutMs: 2_000,
    recoveryTimeoutMs: 2_000,
    reconnectDelayMs: 20,
    tcp: { host: listener.host, port: listener.port, connectTimeoutMs: 2_000 },
    ackTimeoutMs: 500,
  })
  t.teardown(async () => {
    await terminal.close()
    await listener.close()
  })
  await terminal.open()
  return { sim, terminal }
}

t.test('ZVT over TCP: a reversal refused while the terminal takes another payment is sent when that payment ends, and reversed', async (t) => {
  const { sim, terminal } = await zvtOverTcp(t)
  const paid = await terminal.pay(1_000)
  t.match(paid, { status: 'approved' })
  sim.queueBehaviours({ kind: 'waitForCard' })
  const next = terminal.pay(2_000)
  await waitUntil(() => terminal.status().busy && sim.received.some((m) => m.kind === 'authorisation' && m.amountCents === 2_000), 'the next payment waits for a card')
  const db = new Database(':memory:')
  t.teardown(() => db.close())
  const reversals = createCardReversals({ db, clock: { now: () => 9 }, terminal, logger: pino({ level: 'silent' }), changed: () => undefined, retryDelayMs: 60_000 })
  const tx = { id: 'tx-late', type: 'topup_card', amount: 1_000, payment: { terminalId: 'T1', receiptNumber: paid.receiptNumber, traceNumber: paid.traceNumber } } as unknown as Transaction
  const reversal = reversals.refused(tx, 'tag_blocked')
  await waitUntil(() => /try 1 of 5/.test(reversals.get('tx-late')?.note ?? ''), 'the busy try noted')
  t.equal(sim.received.filter((m) => m.kind === 'reversal').length, 0, 'nothing sent while the terminal is busy')
  sim.presentCard()
  t.match(await next, { status: 'approved', amountCents: 2_000 })
  t.match(await reversal, { state: 'reversed', note: /try 2: the terminal was busy before/ })
  t.equal(sim.received.filter((m) => m.kind === 'reversal').length, 1)
})

t.test('ZVT over TCP: a reversal whose answer is lost is unknown, stays an alert and is not sent again', async (t) => {
  const { sim, terminal } = await zvtOverTcp(t)
  const paid = await terminal.pay(1_000)
  t.match(paid, { status: 'approved' })
  // The line is lost the moment the terminal receives the reversal: no answer ever reaches the kiosk.
  sim.on('command', (message: { kind: string }) => void (message.kind === 'reversal' && sim.dropLink()))
  const db = new Database(':memory:')
  t.teardown(() => db.close())
  const reversals = createCardReversals({ db, clock: { now: () => 9 }, terminal, logger: pino({ level: 'silent' }), changed: () => undefined, retryDelayMs: 1 })
  const tx = { id: 'tx-lost', type: 'topup_card', amount: 1_000, payment: { terminalId: 'T1', receiptNumber: paid.receiptNumber, traceNumber: paid.traceNumber } } as unknown as Transaction
  t.match(await reversals.refused(tx, 'tag_blocked'), { state: 'unknown', note: /not heard/ })
  t.equal(sim.received.filter((m) => m.kind === 'reversal').length, 1, 'sent once')
  t.match(await reversals.refused(tx, 'tag_blocked'), { state: 'unknown' }, 'answered again: the record, not a second reversal')
  t.equal(sim.received.filter((m) => m.kind === 'reversal').length, 1)
  t.same(reversals.counters(), { cardReversed: 0, cardReversalAlerts: 1 })
})
