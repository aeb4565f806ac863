// Integration: the ZVT adapter over loopback TCP (ZVT as LAN terminals speak it
// on port 20007: bare APDUs), against the simulated terminal listening on TCP.
import t, { type Test } from 'tap'
import { createServer } from 'node:net'
import { pino } from 'pino'
import { ZVT_VECTORS } from '../../device-protocol/zvt/index.js'
import { createZvtTerminalSimulator, listenZvtTerminalOnTcp, type ZvtTerminalSimulatorOptions } from '../../simulators/zvt-terminal.js'
import { createZvtTerminal, type ZvtTerminalOptions } from './zvt-terminal.js'

async function setup(t: Test, simOptions: ZvtTerminalSimulatorOptions = {}, terminalOptions: Partial<ZvtTerminalOptions> = {}) {
  const sim = createZvtTerminalSimulator({ ackTimeoutMs: 500, ...simOptions, transport: 'tcp' })
  const listener = await listenZvtTerminalOnTcp({ terminal: sim })
  const terminal = createZvtTerminal({
    tcp: { host: listener.host, port: listener.port, connectTimeoutMs: 2_000 },
    password: '123456',
    currency: 978,
    logger: pino({ level: 'silent' }),
    ackTimeoutMs: 500,
    paymentTimeoutMs: 2_000,
    commandTimeoutMs: 2_000,
    recoveryTimeoutMs: 5_000,
    reconnectDelayMs: 20,
    ...terminalOptions,
  })
  t.teardown(async () => {
    await terminal.close()
    await listener.close()
  })
  await terminal.open()
  return { sim, listener, terminal }
}

t.test('open connects over TCP and registers; the registration goes out as the bare APDU of the vector', async (t) => {
  const { sim, terminal } = await setup(t)
  t.ok(sim.registered)
  t.match(terminal.status(), { kind: 'zvt', connected: true, busy: false, terminalId: '52000123' })
  const registration = ZVT_VECTORS.find((v) => v.name.startsWith('registration'))!
  t.same(sim.received[0], registration.message)
  t.equal(terminal.status().counters.crcErrors, 0)
})

t.test('approve, decline and abort over TCP', async (t) => {
  const { sim, terminal } = await setup(t, { firstTrace: 42, firstReceipt: 17 })
  sim.queueBehaviours({ kind: 'approve', intermediate: [0x0a] }, { kind: 'decline', resultCode: 0x05 }, { kind: 'waitForCard' })
  const texts: string[] = []
  terminal.on('intermediate', (text: string) => texts.push(text))
  t.match(await terminal.pay(1000), { status: 'approved', amountCents: 1000, resultCode: 0, traceNumber: '000042', receiptNumber: '0017', maskedPan: '************1234' })
  t.ok(texts.includes('insert card'))
  t.match(await terminal.pay(2500), { status: 'declined', resultCode: 0x05, amountCents: 2500 })
  terminal.once('intermediate', () => void terminal.abort())
  t.match(await terminal.pay(800), { status: 'aborted', resultCode: 0x6c })
  t.ok(sim.received.some((m) => m.kind === 'ecrAbort'))
  t.match(terminal.status().counters, { approved: 1, declined: 1, aborted: 1, recoveries: 0 })
  t.equal(sim.journal.filter((x) => x.resultCode === 0).length, 1)
})

t.test('the connection cut after the terminal approved: reconnect, recovered by status enquiry as approved, booked once', async (t) => {
  const { sim, listener, terminal } = await setup(t, { firstReceipt: 55 })
  sim.queueBehaviours({ kind: 'disconnect', approved: true })
  const result = await terminal.pay(4200)
  t.match(result, { status: 'approved', amountCents: 4200, receiptNumber: '0055', traceNumber: '000001', message: /recovered by status enquiry/ })
  t.match(terminal.status().counters, { connectionLosses: 1, reconnects: 1, recovered: 1 })
  t.equal(sim.journal.length, 1, 'booked once at the terminal')
  t.equal(sim.received.filter((m) => m.kind === 'authorisation').length, 1, 'the authorisation was not sent again')
  t.equal(listener.connections, 2)
  t.equal(terminal.status().connected, true)
})

t.test('the connection cut, not approved: recovered as not happened', async (t) => {
  const { sim, terminal } = await setup(t)
  sim.queueBehaviours({ kind: 'approve' }, { kind: 'disconnect', approved: false })
  await terminal.pay(100)
  t.match(await terminal.pay(4200), { status: 'aborted', amountCents: 4200, message: /no record/ })
})

t.test('a length the adapter cannot accept drops the connection, which is reopened; payments go on', async (t) => {
  const { sim, listener, terminal } = await setup(t)
  sim.sendRaw(Buffer.from('06D1FF00F0', 'hex')) // announces 61,440 bytes of data
  for (let i = 0; i < 400 && terminal.status().counters.connectionLosses === 0; i++) await new Promise((r) => setTimeout(r, 5))
  t.equal(terminal.status().counters.badFrames, 1)
  t.equal(terminal.status().counters.connectionLosses, 1)
  t.match(await terminal.pay(700), { status: 'approved', amountCents: 700 })
  t.equal(listener.connections, 2)
})

t.test('no terminal listening: open() returns, the adapter keeps trying and registers once the terminal is up', async (t) => {
  // A free port: listen, note it, close.
  const probe = createServer()
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()))
  const port = (probe.address() as { port: number }).port
  await new Promise<void>((r) => probe.close(() => r()))
  const terminal = createZvtTerminal({ tcp: { host: '127.0.0.1', port, connectTimeoutMs: 1_000 }, password: '123456', currency: 978, logger: pino({ level: 'silent' }), reconnectDelayMs: 20, commandTimeoutMs: 5_000 })
  const errors: Error[] = []
  terminal.on('terminalError', (e: Error) => errors.push(e))
  await terminal.open()
  t.equal(terminal.status().connected, false)
  t.match(errors[0]?.message, /cannot connect to terminal 127\.0\.0\.1:/)
  const sim = createZvtTerminalSimulator({ transport: 'tcp' })
  const listener = await listenZvtTerminalOnTcp({ terminal: sim, port })
  t.teardown(async () => {
    await terminal.close()
    await listener.close()
  })
  t.match(await terminal.pay(300), { status: 'approved' })
  t.ok(terminal.status().counters.openFailures! >= 1)
})
