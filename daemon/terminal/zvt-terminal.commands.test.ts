// Repeat receipt (06 20) in recovery, reversal (06 30) and end of day (06 50):
// the ZVT adapter against the simulated terminal, over the serial line
// (serialport's MockBinding) and over loopback TCP, the same tests for both.
import t, { type Test } from 'tap'
import { pino } from 'pino'
import { createMockZvtTerminalLink, createZvtTerminalSimulator, listenZvtTerminalOnTcp, type ZvtTerminalSimulator, type ZvtTerminalSimulatorOptions } from '../../simulators/zvt-terminal.js'
import { createZvtTerminal, type ZvtTerminal } from './zvt-terminal.js'

let portNo = 0

type Transport = 'serial' | 'tcp'

async function setup(t: Test, transport: Transport, simOptions: ZvtTerminalSimulatorOptions = {}): Promise<{ sim: ZvtTerminalSimulator; terminal: ZvtTerminal }> {
  const common = {
    password: '123456',
    currency: 978,
    logger: pino({ level: 'silent' }),
    paymentTimeoutMs: 2_000,
    commandTimeoutMs: 2_000,
    recoveryTimeoutMs: 5_000,
    reconnectDelayMs: 20,
  }
  if (transport === 'serial') {
    const link = createMockZvtTerminalLink({ path: `/dev/zvt-cmd-sim-${++portNo}`, ackTimeoutMs: 100, ...simOptions })
    const terminal = createZvtTerminal({ ...common, path: link.path, binding: link.binding, ackTimeoutMs: 100 })
    t.teardown(() => terminal.close())
    await terminal.open()
    return { sim: link.terminal, terminal }
  }
  const sim = createZvtTerminalSimulator({ ackTimeoutMs: 500, ...simOptions, transport: 'tcp' })
  const listener = await listenZvtTerminalOnTcp({ terminal: sim })
  const terminal = createZvtTerminal({ ...common, tcp: { host: listener.host, port: listener.port, connectTimeoutMs: 2_000 }, ackTimeoutMs: 500 })
  t.teardown(async () => {
    await terminal.close()
    await listener.close()
  })
  await terminal.open()
  return { sim, terminal }
}

for (const transport of ['serial', 'tcp'] as const) {
  t.test(`${transport}: the payment's answer is lost and the status enquiry carries no transaction: the repeated receipt tells it was approved`, async (t) => {
    const { sim, terminal } = await setup(t, transport, { firstTrace: 42, firstReceipt: 17 })
    sim.misbehave.enquiryWithoutTransaction = true
    t.match(await terminal.pay(500), { status: 'approved', traceNumber: '000042' }, 'an earlier payment: the adapter knows the last trace')
    sim.queueBehaviours({ kind: 'timeout', outcome: 'approved' })
    const result = await terminal.pay(1000, { timeoutMs: 300 })
    t.match(result, { status: 'approved', amountCents: 1000, resultCode: 0, traceNumber: '000043', receiptNumber: '0018', message: /repeat receipt/ })
    t.ok(sim.received.some((m) => m.kind === 'repeatReceipt'), 'the adapter asked for the receipt again')
    t.match(terminal.status().counters, { recoveries: 1, recovered: 1, recoveredByReceipt: 1, repeatReceipts: 1, unknown: 0 })
  })

  t.test(`${transport}: lost answers the repeated receipt proves otherwise: declined, or not happened`, async (t) => {
    const { sim, terminal } = await setup(t, transport)
    sim.misbehave.enquiryWithoutTransaction = true
    await terminal.pay(500)
    sim.queueBehaviours({ kind: 'timeout', outcome: 'declined' })
    t.match(await terminal.pay(700, { timeoutMs: 300 }), { status: 'declined', resultCode: 0x05, amountCents: 700 })
    sim.queueBehaviours({ kind: 'disconnect', approved: false })
    t.match(await terminal.pay(800), { status: 'aborted', message: /last receipt is from before this payment/ })
  })

  t.test(`${transport}: a repeated receipt that cannot be proven to be this payment leaves it unknown`, async (t) => {
    const { sim, terminal } = await setup(t, transport)
    sim.misbehave.enquiryWithoutTransaction = true
    // The adapter never heard a trace of this terminal: "newer than before" cannot be proven.
    sim.queueBehaviours({ kind: 'timeout', outcome: 'approved' })
    t.match(await terminal.pay(1000, { timeoutMs: 300 }), { status: 'unknown' }, 'no baseline')
    // A baseline now, but the terminal reports another amount than this payment's.
    sim.queueBehaviours({ kind: 'approve' }, { kind: 'timeout', outcome: 'approved' })
    await terminal.pay(100)
    sim.misbehave.reportAmountCents = 999
    t.match(await terminal.pay(1000, { timeoutMs: 300 }), { status: 'unknown' }, 'another amount')
    t.equal(terminal.status().counters.recoveredByReceipt, 0)
  })

  t.test(`${transport}: reversal by receipt number: reversed once, then refused; an unknown receipt is refused`, async (t) => {
    const { sim, terminal } = await setup(t, transport, { firstTrace: 42, firstReceipt: 17 })
    const paid = await terminal.pay(1250)
    t.match(paid, { status: 'approved', receiptNumber: '0017' })
    t.match(await terminal.reverse('17', 1250), { status: 'reversed', receiptNumber: '0017', amountCents: 1250, resultCode: 0, traceNumber: '000043' })
    t.same(sim.received.filter((m) => m.kind === 'reversal'), [{ kind: 'reversal', password: '123456', receiptNumber: '0017' }], 'password and BMP 87')
    t.match(sim.journal.at(-1), { kind: 'reversal', amountCents: 1250 })
    t.match(await terminal.reverse('0017', 1250), { status: 'declined', resultCode: 0xb4 }, 'already reversed')
    t.match(await terminal.reverse('0099', 100), { status: 'declined', resultCode: 0xb5 }, 'no such receipt')
    await t.rejects(terminal.reverse('12345', 1), RangeError)
    t.match(terminal.status().counters, { reversals: 3, reversed: 1 })
  })

  t.test(`${transport}: end of day reports the totals per card type without reversed payments; a failed one says why`, async (t) => {
    const { sim, terminal } = await setup(t, transport, { firstReceipt: 17 })
    await terminal.pay(2000)
    await terminal.pay(1500)
    const third = await terminal.pay(300)
    await terminal.reverse(third.receiptNumber!, 300)
    const day = await terminal.endOfDay()
    t.same(day, {
      ok: true,
      totals: { totalCents: 3500, count: 2, cardTypes: [{ cardType: 'girocard', count: 2, amountCents: 3500 }], receiptFrom: '0017', receiptTo: '0018', terminalId: '52000123', traceNumber: '000005' },
    })
    t.match(await terminal.endOfDay(), { ok: true, totals: { totalCents: 0, count: 0, cardTypes: [] } }, 'a new day starts empty')
    sim.misbehave.failEndOfDay = 0x77
    t.match(await terminal.endOfDay(), { ok: false, resultCode: 0x77, reason: /end-of-day batch not possible/ })
    t.match(terminal.status().counters, { endOfDays: 3, endOfDayFailures: 1 })
    t.match(await terminal.pay(100), { status: 'approved' }, 'payments go on after it')
  })
}
