// The ZVT adapter against the simulated terminal over serialport's MockBinding.
import t, { type Test } from 'tap'
import { once } from 'node:events'
import { pino } from 'pino'
import { ZVT_VECTORS, encodeZvtFrame } from '../../device-protocol/zvt/index.js'
import { createMockZvtTerminalLink, type MockZvtTerminalLinkOptions } from '../../simulators/zvt-terminal.js'
import { createZvtTerminal, type ZvtTerminalOptions } from './zvt-terminal.js'

let portNo = 0

async function setup(t: Test, simOptions: Partial<MockZvtTerminalLinkOptions> = {}, terminalOptions: Partial<ZvtTerminalOptions> = {}) {
  const link = createMockZvtTerminalLink({ path: `/dev/zvt-sim-${++portNo}`, ackTimeoutMs: 100, ...simOptions })
  const terminal = createZvtTerminal({
    path: link.path,
    binding: link.binding,
    password: '123456',
    currency: 978,
    logger: pino({ level: 'silent' }),
    ackTimeoutMs: 100,
    paymentTimeoutMs: 600,
    commandTimeoutMs: 600,
    recoveryTimeoutMs: 1_500,
    reconnectDelayMs: 20,
    ...terminalOptions,
  })
  t.teardown(() => terminal.close())
  await terminal.open()
  return { link, sim: link.terminal, terminal }
}

const vector = (name: string) => ZVT_VECTORS.find((v) => v.name.startsWith(name))!

t.test('open registers at the terminal with the registration vector', async (t) => {
  const { link, sim, terminal } = await setup(t)
  t.ok(sim.registered)
  t.match(terminal.status(), { kind: 'zvt', connected: true, busy: false, terminalId: '52000123' })
  t.same(link.recording.subarray(0, vector('registration').wire.length), vector('registration').wire, 'first frame on the wire')
  t.equal(terminal.status().counters.registrations, 1)
})

t.test('approve: intermediate statuses forwarded, result with trace, receipt, terminal id and masked PAN', async (t) => {
  const { link, sim, terminal } = await setup(t, { firstTrace: 42, firstReceipt: 17 })
  sim.queueBehaviours({ kind: 'approve', intermediate: [0x0a, 0x01] })
  const texts: string[] = []
  terminal.on('intermediate', (text: string) => texts.push(text))
  const result = await terminal.pay(1000)
  t.match(result, { status: 'approved', amountCents: 1000, resultCode: 0, traceNumber: '000042', receiptNumber: '0017', terminalId: '52000123', maskedPan: '************1234', cardType: 'girocard' })
  t.same(texts, ['insert card', 'please watch the PIN pad'])
  t.ok(link.recording.includes(vector('authorisation').wire), 'the authorisation went out as in the vector (DLE stuffed)')
  t.same(sim.received.filter((m) => m.kind === 'authorisation'), [{ kind: 'authorisation', amountCents: 1000, currency: 978 }])
  t.match(terminal.status().counters, { payments: 1, approved: 1, recoveries: 0, intermediate: 2 })
})

t.test('declines carry the real result codes; 0x6C is an abort', async (t) => {
  const { sim, terminal } = await setup(t)
  sim.queueBehaviours({ kind: 'decline', resultCode: 0x05 }, { kind: 'decline', resultCode: 0x64 }, { kind: 'decline', resultCode: 0x6c })
  t.match(await terminal.pay(2500), { status: 'declined', resultCode: 0x05, traceNumber: '000001', amountCents: 2500 })
  const unreadable = await terminal.pay(2500)
  t.match(unreadable, { status: 'declined', resultCode: 0x64, message: /card not readable/ })
  t.match(await terminal.pay(2500), { status: 'aborted', resultCode: 0x6c })
  t.match(terminal.status().counters, { declined: 2, aborted: 1, approved: 0 })
})

t.test('time-out, approved at the terminal: recovered by status enquiry as approved with its numbers', async (t) => {
  const { sim, terminal } = await setup(t, { firstTrace: 7, firstReceipt: 3 })
  sim.queueBehaviours({ kind: 'approve' }, { kind: 'timeout', outcome: 'approved' })
  await terminal.pay(500)
  const result = await terminal.pay(1234)
  t.match(result, { status: 'approved', amountCents: 1234, traceNumber: '000008', receiptNumber: '0004', message: /recovered by status enquiry/ })
  t.match(terminal.status().counters, { paymentTimeouts: 1, recoveries: 1, recovered: 1 })
})

t.test('time-out, declined at the terminal: recovered as declined', async (t) => {
  const { sim, terminal } = await setup(t)
  sim.queueBehaviours({ kind: 'timeout', outcome: 'declined' })
  t.match(await terminal.pay(999), { status: 'declined', resultCode: 0x05, traceNumber: '000001' })
})

t.test('a terminal stuck mid-payment gives unknown, never a guess; after its restart the kiosk learns it did not happen', async (t) => {
  const { sim, terminal } = await setup(t)
  sim.queueBehaviours({ kind: 'approve' }, { kind: 'timeout', outcome: 'stuck' })
  await terminal.pay(100)
  const result = await terminal.pay(200)
  t.match(result, { status: 'unknown', amountCents: 200, message: /busy/ })
  t.equal(terminal.status().counters.unknown, 1)
  sim.reset() // power cycle: idle, journal unchanged
  t.match(await terminal.recoverLast(), { status: 'aborted', amountCents: 200, message: /no record/ })
  t.match(await terminal.recoverLast(), { status: 'approved', amountCents: 100, traceNumber: '000001' }, 'then: the journal’s last transaction')
})

t.test('line lost after 06 01, approved at the terminal: reconnect, recover as approved with its receipt number', async (t) => {
  const { sim, terminal } = await setup(t, { firstReceipt: 55 })
  sim.queueBehaviours({ kind: 'disconnect', approved: true })
  const result = await terminal.pay(4200)
  t.match(result, { status: 'approved', amountCents: 4200, receiptNumber: '0055', traceNumber: '000001' })
  t.match(terminal.status().counters, { connectionLosses: 1, reconnects: 1, recovered: 1 })
  t.equal(sim.journal.length, 1, 'booked once at the terminal')
  t.equal(terminal.status().connected, true)
})

t.test('line lost after 06 01, not approved: recovered as not happened (aborted), not as approved', async (t) => {
  const { sim, terminal } = await setup(t)
  sim.queueBehaviours({ kind: 'approve' }, { kind: 'disconnect', approved: false })
  await terminal.pay(100)
  const result = await terminal.pay(4200)
  t.match(result, { status: 'aborted', amountCents: 4200, message: /no record/ })
  t.notOk('traceNumber' in result)
})

t.test('a terminal that goes mute: unknown; recoverLast after it comes back learns the outcome', async (t) => {
  const { sim, terminal } = await setup(t, {}, { recoveryTimeoutMs: 800 })
  sim.queueBehaviours({ kind: 'mute' })
  const result = await terminal.pay(300)
  t.equal(result.status, 'unknown')
  t.ok(terminal.status().counters.ackTimeouts! > 0)
  sim.unmute()
  t.match(await terminal.recoverLast(), { status: 'aborted', amountCents: 300 }, 'the terminal never took it')
})

t.test('a NAKed frame is repeated and the payment goes through', async (t) => {
  const { sim, terminal } = await setup(t)
  sim.misbehave.nakFrames = 2
  t.match(await terminal.pay(100), { status: 'approved' })
  t.equal(sim.counters.naksSent, 2)
  t.match(terminal.status().counters, { naksReceived: 2 })
  t.ok(terminal.status().counters.retransmits! >= 2)
})

t.test('garbage, broken CRCs and split writes on the line: counted, NAKed, and the payment still correct', async (t) => {
  const { sim, terminal } = await setup(t)
  sim.misbehave = { noiseBeforeFrame: Buffer.from('garbage!'), corruptCrcFrames: 2, chunkBytes: 3 }
  t.match(await terminal.pay(1000), { status: 'approved', amountCents: 1000 })
  const c = terminal.status().counters
  t.equal(c.crcErrors, 2)
  t.equal(c.naksSent, 2)
  t.ok(c.discardedBytes! >= 8)
  sim.misbehave = {}
  sim.sendRaw(Buffer.from([0x10, 0x02, 0x04, 0x0f, 0x10, 0x99, 0xff, 0x00, 0x01]))
  sim.sendRaw(encodeZvtFrame(Buffer.from('040F030B0A0000', 'hex'))) // a status information whose trace is not BCD
  sim.sendRaw(encodeZvtFrame(Buffer.from('040F02270000', 'hex'))) // wrong length
  for (let i = 0; i < 200 && terminal.status().counters.malformed! < 2; i++) await new Promise((r) => setTimeout(r, 5))
  t.match(await terminal.pay(700), { status: 'approved', amountCents: 700 }, 'still works')
  t.ok(terminal.status().counters.malformed! >= 2)
})

t.test('an approval of another amount is never reported as approved', async (t) => {
  const { sim, terminal } = await setup(t)
  sim.misbehave.reportAmountCents = 1
  const result = await terminal.pay(5000)
  t.equal(result.status, 'unknown')
  t.match(result.message, /not this payment/)
})

t.test('abort() sends the ECR abort; the terminal ends the payment with 0x6C', async (t) => {
  const { sim, terminal } = await setup(t)
  sim.queueBehaviours({ kind: 'waitForCard' })
  terminal.once('intermediate', () => void terminal.abort())
  t.match(await terminal.pay(800), { status: 'aborted', resultCode: 0x6c })
  t.ok(sim.received.some((m) => m.kind === 'ecrAbort'))
  t.equal(sim.journal.length, 0)
})

t.test('bitmaps unknown to us in the status information: the payment is approved with its numbers, not unknown', async (t) => {
  const { terminal } = await setup(t, { firstTrace: 42, firstReceipt: 17, misbehave: { unknownBmpsInStatus: true } })
  t.match(await terminal.pay(1000), { status: 'approved', resultCode: 0, traceNumber: '000042', receiptNumber: '0017', cardType: 'girocard' })
  // The second payment's status enquiry reads the journal's status information, unknown bitmaps and all.
  t.match(await terminal.pay(1000), { status: 'approved', traceNumber: '000043', receiptNumber: '0018' })
  t.match(terminal.status().counters, { approved: 2, unknown: 0, recoveries: 0, malformed: 0 })
  t.ok(terminal.status().counters.skippedBmps! > 0, 'the unknown bitmaps are counted')
})

t.test('an abort without a result code (06 1E 00) ends the payment as aborted, without the payment timeout and recovery', async (t) => {
  // Timeouts far beyond the test's own: without the abort being understood the payment would not end.
  const { sim, terminal } = await setup(t, {}, { paymentTimeoutMs: 600_000, recoveryTimeoutMs: 600_000 })
  sim.queueBehaviours({ kind: 'abortWithoutCode' })
  t.match(await terminal.pay(700), { status: 'aborted', amountCents: 700, message: /without a result code/ })
  t.match(terminal.status().counters, { aborted: 1, paymentTimeouts: 0, recoveries: 0, malformed: 0 })
  t.match(await terminal.pay(700), { status: 'approved' }, 'the terminal takes the next payment')
})

t.test('presenting the card after waiting approves', async (t) => {
  const { sim, terminal } = await setup(t)
  sim.queueBehaviours({ kind: 'waitForCard' })
  terminal.once('intermediate', () => sim.presentCard())
  t.match(await terminal.pay(800), { status: 'approved' })
})

t.test('bad requests are refused before anything is sent', async (t) => {
  const { link, sim, terminal } = await setup(t)
  for (const amount of [0, -1, 1.5, Number.NaN, 1e13]) await t.rejects(terminal.pay(amount), RangeError, `amount ${amount}`)
  sim.queueBehaviours({ kind: 'waitForCard' })
  const waiting = once(terminal, 'intermediate')
  const first = terminal.pay(100)
  await t.rejects(terminal.pay(100), /already in progress/)
  await t.rejects(terminal.recoverLast(), /in progress/)
  await waiting
  sim.presentCard()
  await first
  link.unplug()
  await t.rejects(terminal.pay(100), /no payment was started/)
  t.equal(sim.received.filter((m) => m.kind === 'authorisation').length, 1)
  t.throws(() => createZvtTerminal({ path: 'x', password: '12', currency: 978, logger: pino({ level: 'silent' }) }), /6 digits/)
})

t.test('a wrong password: registration fails, no payment starts, the error is reported', async (t) => {
  const errors: Error[] = []
  const { terminal } = await setup(t, { password: '999999' })
  terminal.on('terminalError', (e: Error) => errors.push(e))
  t.equal(terminal.status().connected, false)
  t.ok(terminal.status().counters.registrationFailures! >= 1)
  await t.rejects(terminal.pay(100), /not connected/)
})

t.test('recoverLast: null with an empty journal, the last transaction otherwise', async (t) => {
  const { sim, terminal } = await setup(t)
  t.equal(await terminal.recoverLast(), null)
  sim.queueBehaviours({ kind: 'decline', resultCode: 0x05 })
  await terminal.pay(100)
  t.match(await terminal.recoverLast(), { status: 'declined', resultCode: 5, amountCents: 100 })
})

t.test('reconnects after the terminal is unplugged and plugged back in', async (t) => {
  const { link, terminal } = await setup(t)
  link.unplug()
  for (let i = 0; i < 200 && terminal.status().connected; i++) await new Promise((r) => setTimeout(r, 5))
  t.equal(terminal.status().connected, false)
  link.replug()
  t.match(await terminal.pay(100), { status: 'approved' })
  t.equal(terminal.status().counters.reconnects, 1)
})
