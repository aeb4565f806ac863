// Integration: the ZVT adapter with the OS serial binding, talking to the
// simulated terminal through a real pseudo-terminal pair made by socat.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { socatAvailable, startPtyPair, type PtyPair } from '../../simulators/reader-firmware.js'
import { attachZvtTerminalToSerialPort, createZvtTerminalSimulator, type SerialZvtTerminalDevice } from '../../simulators/zvt-terminal.js'
import { createZvtTerminal } from './zvt-terminal.js'

const skip = socatAvailable() ? false : 'socat is not installed (apt-get install -y socat; CI installs it)'

t.test('ZVT terminal over a real pty pair: approve, decline, and a line lost after 06 01 recovered as approved', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-zvt-pty-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const sim = createZvtTerminalSimulator({ ackTimeoutMs: 500, firstReceipt: 90 })
  let pair: PtyPair = await startPtyPair({ dir })
  let device: SerialZvtTerminalDevice = await attachZvtTerminalToSerialPort({ path: pair.devicePath, terminal: sim })
  let replugged: Promise<void> = Promise.resolve()
  // Pulling the cable: socat goes (both ptys vanish), then comes back on the same paths.
  sim.dropLink = () => {
    replugged = (async () => {
      await device.close()
      await pair.stop()
      pair = await startPtyPair({ dir })
      device = await attachZvtTerminalToSerialPort({ path: pair.devicePath, terminal: sim })
    })()
  }
  const terminal = createZvtTerminal({
    path: pair.hostPath,
    password: '123456',
    currency: 978,
    logger: pino({ level: 'silent' }),
    ackTimeoutMs: 1_000,
    paymentTimeoutMs: 5_000,
    commandTimeoutMs: 5_000,
    recoveryTimeoutMs: 10_000,
    reconnectDelayMs: 50,
  })
  t.teardown(async () => {
    await terminal.close()
    await replugged
    await device.close()
    await pair.stop()
  })

  await terminal.open()
  t.equal(terminal.status().connected, true, 'registered over the pty')
  sim.queueBehaviours({ kind: 'approve', intermediate: [0x0a] }, { kind: 'decline', resultCode: 0x05 }, { kind: 'disconnect', approved: true })
  t.match(await terminal.pay(1000), { status: 'approved', amountCents: 1000, receiptNumber: '0090' })
  t.match(await terminal.pay(2000), { status: 'declined', resultCode: 5 })
  const lostLine = await terminal.pay(3000)
  t.match(lostLine, { status: 'approved', amountCents: 3000, receiptNumber: '0092', message: /recovered/ })
  t.match(terminal.status().counters, { connectionLosses: 1, reconnects: 1, approved: 2, declined: 1 })
  t.equal(sim.journal.filter((x) => x.resultCode === 0).length, 2)
})
