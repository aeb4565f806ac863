// Card top-ups end to end with the real ZVT adapter: the real gateway, a real
// kiosk daemon, and the simulated ZVT terminal on the serial line
// (serialport's MockBinding) and on loopback TCP. While the guest pays, the
// terminal's own text (an intermediate status with a TLV display text) is in
// the kiosk's GET /state for its screen, and gone when the payment ends; the
// approval's card details from the TLV container reach the kiosk's answer and
// the gateway's record of the booking.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { systemClock } from '../../device-protocol/index.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { createKioskDaemon } from '../../daemon/app.js'
import { FakeReader } from '../../daemon/testing/fake-reader.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import { createZvtTerminal } from '../../daemon/terminal/zvt-terminal.js'
import type { PaymentTerminal } from '../../daemon/terminal/terminal.js'
import { createMockZvtTerminalLink, createZvtTerminalSimulator, listenZvtTerminalOnTcp, type ZvtTerminalSimulator, type ZvtTerminalSimulatorOptions } from '../zvt-terminal.js'
import { kioskDaemonConfig, startLoopbackGateway } from './kiosk-harness.js'

const silent = pino({ level: 'silent' })
const GUEST = '04A1B2C3D4E5F6'
const TAG = { uid: GUEST, type: 'ntag215' }
const TIMING = { ackTimeoutMs: 300, paymentTimeoutMs: 10_000, commandTimeoutMs: 3_000, recoveryTimeoutMs: 5_000, reconnectDelayMs: 20 }
const SIM: ZvtTerminalSimulatorOptions = {
  ackTimeoutMs: 300,
  firstTrace: 42,
  firstReceipt: 17,
  cardData: { cardTechnology: 'contactless', cardholderVerification: 'online_pin', aid: 'A0000000041010', longReceiptNumber: true },
}

let portNo = 0
type Transport = (t: Test) => Promise<{ sim: ZvtTerminalSimulator; terminal: PaymentTerminal }>
const transports: Array<[string, Transport]> = [
  [
    'serial',
    async () => {
      const link = createMockZvtTerminalLink({ path: `/dev/zvt-e2e-${++portNo}`, ...SIM })
      const terminal = createZvtTerminal({ path: link.path, binding: link.binding, password: '123456', currency: 978, logger: silent, ...TIMING })
      return { sim: link.terminal, terminal }
    },
  ],
  [
    'tcp',
    async (t) => {
      const sim = createZvtTerminalSimulator({ ...SIM, transport: 'tcp' })
      const listener = await listenZvtTerminalOnTcp({ terminal: sim })
      t.teardown(() => listener.close())
      const terminal = createZvtTerminal({ tcp: { host: listener.host, port: listener.port, connectTimeoutMs: 2_000 }, password: '123456', currency: 978, logger: silent, ...TIMING })
      return { sim, terminal }
    },
  ],
]

for (const [name, transport] of transports) {
  t.test(`${name}: the terminal's text on the kiosk's state while the guest pays; the card details in the booking`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'wristpay-zvt-e2e-'))
    const token = randomBytes(24).toString('base64url')
    const setup: EventSetup = {
      event: { name: 'zvt e2e', currency: 'EUR' },
      booths: [{ id: 'topup', name: 'Top-up' }],
      products: [],
      kiosks: [{ id: 'topup-1', booth: 'topup', token, saleAllowed: false, topupAllowed: true }],
      wristbands: [{ uid: GUEST, pin: 'GUEST2345' }],
    }
    const gateway = await startLoopbackGateway({ dir, setup, logger: silent })
    const { sim, terminal } = await transport(t)
    const reader = new FakeReader()
    const daemon = await createKioskDaemon({
      config: kioskDaemonConfig({
        kioskId: 'topup-1',
        token,
        mqttUrl: `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`,
        dataDir: join(dir, 'topup-1'),
        overrides: { replyTimeoutMs: 5_000, tapTimeoutMs: 5_000, reconnectInitialDelayMs: 20, reconnectMaxDelayMs: 200 },
      }),
      logger: silent,
      clock: systemClock,
      reader,
      terminal,
    })
    t.teardown(async () => {
      await daemon.stop()
      await gateway.stop()
      rmSync(dir, { recursive: true, force: true })
    })
    gateway.ledger.registry.enrollKiosk('topup-1', daemon.publicKeyBase64Url)
    await daemon.start()
    await waitUntil(() => daemon.status().connected && daemon.status().config !== null && daemon.status().chain.status === 'intact' && daemon.status().terminal?.connected === true, 'kiosk connected, terminal registered', 500, 20)
    t.equal(daemon.status().terminalText, null, 'no text before a payment')

    sim.queueBehaviours({ kind: 'waitForCard', text: 'Karte vorhalten' })
    const paying = daemon.kiosk.cardTopUp(2_000)
    await reader.tapWhenReady(TAG)
    await waitUntil(() => daemon.status().terminalText === 'Karte vorhalten', "the terminal's text in the kiosk state", 500, 20)
    t.equal(daemon.status().terminalText, 'Karte vorhalten')
    sim.presentCard()
    const outcome = await paying
    t.match(outcome, {
      status: 'accepted',
      balance: 2_000,
      payment: { terminalId: '52000123', receiptNumber: '0017', traceNumber: '000042', cardTechnology: 'contactless', cardholderVerification: 'online_pin', aid: 'A0000000041010', longReceiptNumber: '000000000042' },
    })
    t.equal(daemon.status().terminalText, null, 'gone when the payment ended')
    const record = gateway.ledger.transaction(String(outcome.id))!
    t.match(record, { type: 'topup_card', status: 'accepted', amount: 2_000 })
    t.match(record.envelope.tx.payment, { cardTechnology: 'contactless', cardholderVerification: 'online_pin', aid: 'A0000000041010', longReceiptNumber: '000000000042' })
    t.same(gateway.ledger.checkInvariants(), [])
  })
}
