// The kiosk's card top-up flow against a scripted terminal and a responder
// that plays the gateway (signature, seq and chain checked). The same flow
// against the real gateway is in simulators/e2e/card-topup.e2e.test.ts.
import t, { type Test } from 'tap'
import type { KioskConfig } from '../device-protocol/index.js'
import type { KioskErrorType } from './kiosk.js'
import type { CardTopUpHooks } from './card-topup.js'
import type { Responder } from './testing/responder.js'
import { FakeTerminal } from './testing/fake-terminal.js'
import { startKioskWorld, type KioskParts, type KioskWorld } from './testing/kiosk-world.js'
import { waitUntil } from './testing/wait.js'

const KIOSK = 'topup-1'
const TAG = { uid: '04A1B2C3D4E5F6', type: 'ntag215' }
const catalog: KioskConfig = { kiosk: KIOSK, booth: 'Top-up', version: 1, products: [], topupAllowed: true, saleAllowed: false }

interface Rig extends Omit<KioskWorld, 'restart'> {
  terminal: FakeTerminal
  /** A kiosk process on the same data (the restart after a crash). */
  restart(options?: { hooks?: CardTopUpHooks }): Promise<KioskParts>
}

interface RigOptions {
  hooks?: CardTopUpHooks
  terminal?: FakeTerminal | null
  config?: Partial<KioskConfig>
  replyTimeoutMs?: number
  maxEntries?: number
}

async function rig(t: Test, options: RigOptions = {}): Promise<Rig> {
  const terminal = options.terminal === null ? undefined : (options.terminal ?? new FakeTerminal())
  const world = await startKioskWorld(t, {
    kioskId: KIOSK,
    config: { ...catalog, ...options.config },
    replyTimeoutMs: options.replyTimeoutMs,
    maxEntries: options.maxEntries,
    ...(terminal ? { terminal } : {}),
    cardHooks: options.hooks,
  })
  world.responder.policy = () => ({ status: 'accepted', balance: 2_000 })
  return { ...world, terminal: terminal!, restart: (o = {}) => world.start({ cardHooks: o.hooks }) }
}

async function refusal(t: Test, promise: Promise<unknown>, type: KioskErrorType): Promise<void> {
  await t.rejects(promise, { name: 'KioskError', type }, type)
}

const cardTxs = (responder: Responder) => responder.received.filter((e) => e.tx.type === 'topup_card')

t.test('approved: one signed topup_card with the terminal reference, record booked, green', async (t) => {
  const { responder, reader, outbox, kiosk, terminal, records } = await rig(t)
  const [outcome] = await Promise.all([kiosk.cardTopUp(2_000), reader.tapWhenReady(TAG)])
  t.match(outcome, { status: 'accepted', balance: 2_000, amount: 2_000, seq: 1, payment: { terminalId: '52500038', traceNumber: '000001', receiptNumber: '0001' } })
  t.same(terminal.payCalls, [2_000], 'the terminal was asked once, for the amount')
  const [envelope, ...more] = cardTxs(responder)
  t.same(more, [])
  t.match(envelope!.tx, {
    type: 'topup_card',
    kiosk: KIOSK,
    tag: TAG,
    lines: [],
    amount: 2_000,
    payment: { terminalId: '52500038', receiptNumber: '0001', traceNumber: '000001', maskedPan: '************0119', cardType: 'girocard' },
  })
  t.equal(envelope!.tx.id, outcome.id)
  t.same(responder.problems, [], 'signature and chain check out')
  t.same(reader.feedbacks.map((f) => f.led), ['green'])
  t.equal(outbox.depth(), 0)
  t.match(records.get(outcome.cardPaymentId), { state: 'booked', txId: outcome.id, resolution: 'terminal', amount: 2_000, uid: TAG.uid })
  t.same(records.openRecords(), [])
  t.match(kiosk.counters(), { cardTopUps: 1, cardApproved: 1, cardPaymentsUnresolved: 0, topups: 1, accepted: 1 })

  // The next one gets the terminal's next reference, and the chain goes on.
  const [second] = await Promise.all([kiosk.cardTopUp(500), reader.tapWhenReady(TAG)])
  t.match(second, { status: 'accepted', seq: 2, payment: { traceNumber: '000002' } })
  t.same(responder.problems, [])
})

for (const status of ['declined', 'aborted'] as const) {
  t.test(`${status}: nothing signed or sent, record closed, red`, async (t) => {
    const { responder, reader, outbox, kiosk, terminal, records } = await rig(t)
    terminal.onPay = (amount, term) => term.refuse(amount, status)
    const [outcome] = await Promise.all([kiosk.cardTopUp(2_000), reader.tapWhenReady(TAG)])
    t.match(outcome, { status, amount: 2_000, resultCode: status === 'declined' ? 0x05 : 0x6c })
    t.equal(outcome.id, undefined, 'no transaction')
    t.equal(outbox.head().nextSeq, 1, 'no seq used')
    t.same(responder.received, [])
    t.same(reader.feedbacks.map((f) => f.led), ['red'])
    t.match(records.get(outcome.cardPaymentId), { state: status, resolution: 'terminal' })
    t.match(kiosk.counters(), status === 'declined' ? { cardDeclined: 1, cardPaymentsUnresolved: 0 } : { cardAborted: 1, cardPaymentsUnresolved: 0 })
    // Nothing is left open: the next card top-up goes ahead.
    terminal.onPay = (amount, term) => term.approve(amount)
    const [next] = await Promise.all([kiosk.cardTopUp(700), reader.tapWhenReady(TAG)])
    t.match(next, { status: 'accepted', seq: 1 })
  })
}

t.test('refusals before the tap: no terminal, terminal down, top-ups not allowed, bad amount', async (t) => {
  await t.test('no terminal configured', async (t) => {
    const { kiosk, reader, records } = await rig(t, { terminal: null })
    await refusal(t, kiosk.cardTopUp(1_000), 'terminal_unavailable')
    t.equal(reader.listenerCount('tag'), 0)
    t.same(records.openRecords(), [])
    // Recovery and resolve are harmless without a terminal and without open records.
    await kiosk.recoverCardPayments()
    await refusal(t, kiosk.resolveCardPayment({ outcome: 'declined' }), 'no_unresolved_card_payment')
  })
  await t.test('terminal disconnected, top-ups not allowed, bad amounts, reader gone', async (t) => {
    const { kiosk, reader, terminal, outbox } = await rig(t, { config: { topupAllowed: false } })
    await refusal(t, kiosk.cardTopUp(1_000), 'topup_not_allowed')
    const other = await rig(t)
    for (const amount of [0, -1, 10.5, Number.NaN, 10_000_001]) await refusal(t, other.kiosk.cardTopUp(amount), 'invalid_amount')
    await other.terminal.close()
    await refusal(t, other.kiosk.cardTopUp(1_000), 'terminal_unavailable')
    await other.terminal.open()
    await other.reader.close()
    await refusal(t, other.kiosk.cardTopUp(1_000), 'reader_unavailable')
    t.same(other.terminal.payCalls, [])
    t.same(terminal.payCalls, [])
    t.equal(outbox.head().nextSeq, 1)
    t.equal(reader.listenerCount('tag'), 0)
    t.same(other.records.openRecords(), [], 'no record before a tap')
  })
})

t.test('unknown outcome: kept open and surfaced, card top-ups refused, supervisor resolves approved → sent once', async (t) => {
  const { responder, reader, kiosk, terminal, records, outbox } = await rig(t)
  terminal.onPay = (amount) => ({ status: 'unknown', amountCents: amount, message: 'connection lost after authorisation' })
  terminal.recoverAnswer = { status: 'unknown', amountCents: 2_000 }
  const [outcome] = await Promise.all([kiosk.cardTopUp(2_000), reader.tapWhenReady(TAG)])
  t.match(outcome, { status: 'unresolved', amount: 2_000 })
  t.same(reader.feedbacks.map((f) => f.led), ['yellow'], 'not green: the cashier must not treat it as paid')
  t.match(records.get(outcome.cardPaymentId), { state: 'unresolved', note: /could not tell/ })
  t.match(kiosk.counters(), { cardUnknown: 1, cardPaymentsUnresolved: 1 })
  t.same(responder.received, [])

  // The next card top-up asks the terminal again first; still unknown, so it is refused before any tap.
  await refusal(t, kiosk.cardTopUp(500), 'card_payment_unresolved')
  t.equal(terminal.recoverCalls, 1)
  t.same(terminal.payCalls, [2_000], 'the terminal was not asked to take another payment')
  t.equal(reader.listenerCount('tag'), 0)
  // Cash top-ups are not blocked by it.
  const [cash] = await Promise.all([kiosk.topUp(300), reader.tapWhenReady(TAG)])
  t.match(cash, { status: 'accepted', seq: 1 })

  const resolved = await kiosk.resolveCardPayment({ outcome: 'approved', receiptNumber: '0815' })
  t.match(resolved, { status: 'accepted', amount: 2_000, seq: 2, cardPaymentId: outcome.cardPaymentId, payment: { terminalId: '52500038', receiptNumber: '0815', traceNumber: `manual-${outcome.cardPaymentId}` } })
  t.match(cardTxs(responder), [{ tx: { type: 'topup_card', amount: 2_000, tag: TAG, payment: { receiptNumber: '0815' } } }])
  t.match(records.get(outcome.cardPaymentId), { state: 'booked', resolution: 'supervisor' })
  t.match(kiosk.counters(), { cardResolvedBySupervisor: 1, cardPaymentsUnresolved: 0 })
  t.equal(outbox.depth(), 0)

  // Resolving again finds nothing: the payment cannot be booked twice this way.
  await refusal(t, kiosk.resolveCardPayment({ outcome: 'approved' }), 'no_unresolved_card_payment')
  t.equal(cardTxs(responder).length, 1)
  t.same(responder.problems, [])

  terminal.onPay = (amount, term) => term.approve(amount)
  terminal.recoverAnswer = undefined
  const [next] = await Promise.all([kiosk.cardTopUp(500), reader.tapWhenReady(TAG)])
  t.match(next, { status: 'accepted', seq: 3 })
})

t.test('supervisor resolves declined: closed, nothing sent; a bad reference is refused and changes nothing', async (t) => {
  const { responder, reader, kiosk, terminal, records, outbox } = await rig(t)
  terminal.onPay = () => {
    throw new Error('serial port vanished')
  }
  terminal.recoverAnswer = new Error('no answer to status enquiry')
  const [outcome] = await Promise.all([kiosk.cardTopUp(1_500), reader.tapWhenReady(TAG)])
  t.match(outcome, { status: 'unresolved', message: /serial port vanished/ }, 'a throwing terminal is an unknown outcome, never a decline')
  await refusal(t, kiosk.resolveCardPayment({ outcome: 'approved', traceNumber: 'x'.repeat(65) }), 'invalid_reference')
  await refusal(t, kiosk.resolveCardPayment({ outcome: 'approved', receiptNumber: '12 34' }), 'invalid_reference')
  t.match(records.get(outcome.cardPaymentId), { state: 'unresolved' }, 'still open')
  t.equal(outbox.head().nextSeq, 1)
  const declined = await kiosk.resolveCardPayment({ outcome: 'declined' })
  t.match(declined, { status: 'declined', cardPaymentId: outcome.cardPaymentId })
  t.match(records.get(outcome.cardPaymentId), { state: 'declined', resolution: 'supervisor' })
  t.same(responder.received, [])
  t.match(kiosk.counters(), { cardPaymentsUnresolved: 0, cardResolvedBySupervisor: 1 })
})

t.test('approvals the kiosk cannot book as they are stay open: no reference, another amount', async (t) => {
  const { responder, reader, kiosk, terminal, records } = await rig(t)
  terminal.onPay = (amount, term) => term.approve(amount, { traceNumber: undefined })
  const [noRef] = await Promise.all([kiosk.cardTopUp(1_000), reader.tapWhenReady(TAG)])
  t.match(noRef, { status: 'unresolved' })
  t.match(records.get(noRef.cardPaymentId), { state: 'unresolved', note: /reference/ })
  await kiosk.resolveCardPayment({ outcome: 'declined' })

  terminal.onPay = (amount, term) => term.approve(amount + 1)
  terminal.recoverAnswer = null
  const [otherAmount] = await Promise.all([kiosk.cardTopUp(1_000), reader.tapWhenReady(TAG)])
  t.match(otherAmount, { status: 'unresolved' })
  t.match(records.get(otherAmount.cardPaymentId), { note: /1001 cents instead of 1000/ })
  t.same(responder.received, [])
})

t.test('a full card number from the terminal is never signed: the masked PAN is dropped', async (t) => {
  const { responder, reader, kiosk, terminal } = await rig(t)
  terminal.onPay = (amount, term) => term.approve(amount, { maskedPan: '4761739001010119', cardType: 'Visa\u0007' })
  const [outcome] = await Promise.all([kiosk.cardTopUp(1_000), reader.tapWhenReady(TAG)])
  t.match(outcome, { status: 'accepted' })
  const payment = cardTxs(responder)[0]!.tx.payment!
  t.same(Object.keys(payment).sort(), ['receiptNumber', 'terminalId', 'traceNumber'])
  t.notMatch(JSON.stringify(responder.received), /4761739001010119/)
})

t.test('crash after the terminal approved, before the outbox append: the restart recovers and books once', async (t) => {
  const hooks: CardTopUpHooks = {
    afterTerminalAnswer: () => {
      throw new Error('simulated crash')
    },
  }
  const first = await rig(t, { hooks })
  const { responder, terminal } = first
  const [crashed] = await Promise.allSettled([first.kiosk.cardTopUp(2_500), first.reader.tapWhenReady(TAG)])
  t.match(crashed, { status: 'rejected', reason: { message: 'simulated crash' } })
  t.same(terminal.payCalls, [2_500], 'the card was charged')
  t.equal(first.outbox.head().nextSeq, 1, 'nothing stored')
  t.match(first.records.openRecords(), [{ state: 'open', amount: 2_500, uid: TAG.uid }], 'but the record of the payment is on disk')
  t.equal(first.kiosk.counters().cardPaymentsUnresolved, 1)
  await first.stop()

  const second = await first.restart()
  t.equal(second.kiosk.counters().cardPaymentsUnresolved, 1, 'the open record survived the restart')
  await second.kiosk.recoverCardPayments()
  t.same(second.records.openRecords(), [])
  await waitUntil(() => second.outbox.depth() === 0 && cardTxs(responder).length === 1, 'the recovered top-up answered')
  t.match(cardTxs(responder)[0]!.tx, { amount: 2_500, tag: TAG, seq: 1, payment: { traceNumber: '000001', receiptNumber: '0001', terminalId: '52500038' } })
  t.match(second.kiosk.counters(), { cardRecovered: 1, cardPaymentsUnresolved: 0, lateAnswers: 0, accepted: 1 })
  t.same(terminal.payCalls, [2_500], 'the guest was not charged again')

  // Recovering again (another restart) finds nothing open: no second top-up.
  await second.kiosk.recoverCardPayments()
  await second.stop()
  const third = await first.restart()
  await third.kiosk.recoverCardPayments()
  t.equal(terminal.recoverCalls, 1)
  t.equal(cardTxs(responder).length, 1)
  t.same(responder.problems, [])
})

t.test('recovery reads the terminal journal: declined closes, an earlier booked approval means never charged, unknown stays open', async (t) => {
  const crash: CardTopUpHooks = {
    afterTerminalAnswer: () => {
      throw new Error('simulated crash')
    },
  }
  const { terminal, responder, reader, kiosk, restart, stop } = await rig(t)
  // A booked payment first: it is the terminal's last one.
  const [booked] = await Promise.all([kiosk.cardTopUp(1_000), reader.tapWhenReady(TAG)])
  t.match(booked, { status: 'accepted' })
  await stop()

  // The daemon dies before the next payment reaches the terminal: the journal still shows the booked one.
  let parts = await restart({ hooks: crash })
  terminal.onPay = () => terminal.last!
  await Promise.allSettled([parts.kiosk.cardTopUp(1_000), parts.reader.tapWhenReady(TAG)])
  await parts.stop()
  parts = await restart()
  await parts.kiosk.recoverCardPayments()
  t.match(parts.records.openRecords(), [])
  t.match(parts.kiosk.counters(), { cardNotCharged: 1 })
  t.equal(cardTxs(responder).length, 1, 'the earlier payment was not booked again')
  await parts.stop()

  // Declined in the journal: closed, nothing sent.
  parts = await restart({ hooks: crash })
  terminal.onPay = (amount, term) => term.refuse(amount)
  await Promise.allSettled([parts.kiosk.cardTopUp(800), parts.reader.tapWhenReady(TAG)])
  await parts.stop()
  parts = await restart()
  await parts.kiosk.recoverCardPayments()
  t.same(parts.records.openRecords(), [])
  t.match(parts.kiosk.counters(), { cardRecovered: 1 })
  await parts.stop()

  // Approved for another amount, no last transaction, unknown, or a failing terminal: stays open for the supervisor.
  for (const answer of [{ status: 'approved' as const, amountCents: 1, traceNumber: '999', receiptNumber: '9', terminalId: 'T' }, null, { status: 'unknown' as const, amountCents: 600 }, new Error('timeout')]) {
    parts = await restart({ hooks: crash })
    terminal.onPay = (amount, term) => term.approve(amount)
    await Promise.allSettled([parts.kiosk.cardTopUp(600), parts.reader.tapWhenReady(TAG)])
    await parts.stop()
    parts = await restart()
    terminal.recoverAnswer = answer
    await parts.kiosk.recoverCardPayments()
    t.match(parts.records.openRecords(), [{ state: 'unresolved', amount: 600 }], `kept open: ${answer instanceof Error ? answer.message : JSON.stringify(answer)}`)
    t.equal(parts.kiosk.counters().cardPaymentsUnresolved, 1)
    await parts.kiosk.resolveCardPayment({ outcome: 'declined' })
    terminal.recoverAnswer = undefined
    await parts.stop()
  }
  t.equal(cardTxs(responder).length, 1)
})

t.test('the gateway refusing a paid card top-up is counted and logged for a refund', async (t) => {
  const { responder, reader, kiosk } = await rig(t)
  responder.policy = () => ({ status: 'rejected', reason: 'tag_blocked' })
  const [outcome] = await Promise.all([kiosk.cardTopUp(1_000), reader.tapWhenReady(TAG)])
  t.match(outcome, { status: 'rejected', reason: 'tag_blocked', payment: { traceNumber: '000001' } })
  t.equal(kiosk.counters().cardTopUpsRefused, 1)
  t.same(reader.feedbacks.map((f) => f.led), ['red'])
})

t.test('stop during a card payment asks the terminal to abort and keeps the outcome', async (t) => {
  const { reader, kiosk, terminal, records } = await rig(t)
  let answer: (result: ReturnType<FakeTerminal['refuse']>) => void = () => undefined
  terminal.onPay = () => new Promise((resolve) => (answer = resolve))
  const payment = kiosk.cardTopUp(1_000)
  await reader.tapWhenReady(TAG)
  await waitUntil(() => terminal.payCalls.length === 1, 'the terminal is paying')
  kiosk.stop()
  t.equal(terminal.abortCalls, 1)
  answer(terminal.refuse(1_000, 'aborted'))
  t.match(await payment, { status: 'aborted' })
  t.same(records.openRecords(), [])
})

t.test('one operation at a time: a sale or another card top-up during a card payment is busy', async (t) => {
  const { reader, kiosk, terminal } = await rig(t)
  let answer: () => void = () => undefined
  terminal.onPay = (amount, term) => new Promise((resolve) => (answer = () => resolve(term.approve(amount))))
  const payment = kiosk.cardTopUp(1_000)
  await reader.tapWhenReady(TAG)
  await waitUntil(() => terminal.payCalls.length === 1, 'the terminal is paying')
  await refusal(t, kiosk.cardTopUp(1_000), 'busy')
  await refusal(t, kiosk.resolveCardPayment({ outcome: 'declined' }), 'busy')
  await kiosk.recoverCardPayments()
  t.equal(kiosk.counters().cardPaymentsUnresolved, 0, 'the payment in progress is not an unresolved one')
  answer()
  t.match(await payment, { status: 'accepted' })
  t.equal(terminal.recoverCalls, 0)
})
