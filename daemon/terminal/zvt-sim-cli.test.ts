// `wristpay-sim zvt` (simulators/zvt-cli.ts) in process: its flags, and the terminal it starts on
// loopback TCP answering the kiosk's ZVT adapter (payment, reversal, end of
// day; drop-answer recovered by repeat receipt).
import t, { type Test } from 'tap'
import { pino } from 'pino'
import { createZvtTerminal } from './zvt-terminal.js'
import { parseZvtArgs, startZvtTerminalCommand } from '../../simulators/zvt-cli.js'

t.test('flags: one of --listen and --port, checked values, defaults', async (t) => {
  t.match(parseZvtArgs(['--listen', '127.0.0.1:20007']), { listen: { host: '127.0.0.1', port: 20007 }, password: '123456', terminalId: '52000123', mode: 'approve', declineCode: 5, unknownBmps: false })
  t.match(parseZvtArgs(['--listen', '[::1]:0', '--mode', 'decline', '--decline-code', '81', '--fail-end-of-day', '119', '--unknown-bmps']), { listen: { host: '::1', port: 0 }, mode: 'decline', declineCode: 81, failEndOfDay: 119, unknownBmps: true })
  t.match(parseZvtArgs(['--port', '/tmp/zvt-tty', '--baud', '19200']), { serialPath: '/tmp/zvt-tty', baudRate: 19_200 })
  t.throws(() => parseZvtArgs([]), /exactly one of --listen/)
  t.throws(() => parseZvtArgs(['--listen', 'x:1', '--port', '/dev/x']), /exactly one of --listen/)
  t.throws(() => parseZvtArgs(['--listen', '127.0.0.1']), /HOST:PORT/)
  t.throws(() => parseZvtArgs(['--listen', 'h:70000']), /HOST:PORT/)
  t.throws(() => parseZvtArgs(['--listen', 'h:1', '--mode', 'explode']), /--mode/)
  t.throws(() => parseZvtArgs(['--listen', 'h:1', '--password', '12']), /6 digits/)
  t.throws(() => parseZvtArgs(['--listen', 'h:1', '--decline-code', '300']), /byte/)
  t.throws(() => parseZvtArgs(['--listen', 'h:1', '--what']))
})

async function adapterFor(t: Test, port: number) {
  const terminal = createZvtTerminal({
    tcp: { host: '127.0.0.1', port, connectTimeoutMs: 2_000 },
    password: '123456',
    currency: 978,
    logger: pino({ level: 'silent' }),
    ackTimeoutMs: 500,
    paymentTimeoutMs: 2_000,
    commandTimeoutMs: 2_000,
    recoveryTimeoutMs: 5_000,
    reconnectDelayMs: 20,
  })
  t.teardown(() => terminal.close())
  await terminal.open()
  return terminal
}

t.test('the command listens on TCP and takes, reverses and totals payments, printing what the ECR asked', async (t) => {
  const lines: string[] = []
  const running = await startZvtTerminalCommand(parseZvtArgs(['--listen', '127.0.0.1:0']), (line) => lines.push(line))
  t.teardown(() => running.close())
  t.match(running.where, /^tcp 127\.0\.0\.1:\d+$/)
  const terminal = await adapterFor(t, running.port!)
  const paid = await terminal.pay(1_000)
  t.match(paid, { status: 'approved', amountCents: 1_000, terminalId: '52000123' })
  t.match(await terminal.reverse(paid.receiptNumber!, 1_000), { status: 'reversed' })
  await terminal.pay(600)
  t.match(await terminal.endOfDay(), { ok: true, totals: { totalCents: 600, count: 1 } })
  t.ok(lines[0]?.startsWith('ZVT terminal 52000123 (approve) listening on tcp 127.0.0.1:'))
  t.ok(lines.includes('ecr: authorisation 1000 cents'))
  t.ok(lines.some((l) => /^ecr: reversal receipt \d{4}$/.test(l)))
  t.ok(lines.some((l) => l.startsWith('journal: endOfDay 600 cents')))
})

t.test('--mode drop-answer: the payment is recovered only by the repeated receipt; --fail-end-of-day fails once', async (t) => {
  const running = await startZvtTerminalCommand(parseZvtArgs(['--listen', '127.0.0.1:0', '--mode', 'drop-answer', '--fail-end-of-day', '119']), () => undefined)
  t.teardown(() => running.close())
  const terminal = await adapterFor(t, running.port!)
  running.terminal.queueBehaviours({ kind: 'approve' }) // one answered payment first: the adapter learns the last trace
  await terminal.pay(200)
  t.match(await terminal.pay(1_000, { timeoutMs: 300 }), { status: 'approved', message: /repeat receipt/ })
  t.match(await terminal.endOfDay(), { ok: false, resultCode: 0x77 })
  t.match(await terminal.endOfDay(), { ok: true, totals: { totalCents: 1_200 } })
})
