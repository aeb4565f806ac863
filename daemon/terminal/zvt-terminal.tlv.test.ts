// The ZVT adapter reads the TLV container (BMP 06) over both transports: the
// card details of an approval, the error details of a result code FF, and the
// display text of intermediate statuses, against the simulated terminal on the
// serial line (serialport's MockBinding) and on loopback TCP.
import t, { type Test } from 'tap'
import { pino } from 'pino'
import { createMockZvtTerminalLink, createZvtTerminalSimulator, listenZvtTerminalOnTcp, type ZvtTerminalSimulator, type ZvtTerminalSimulatorOptions } from '../../simulators/zvt-terminal.js'
import { createZvtTerminal, type ZvtTerminal } from './zvt-terminal.js'

const logger = pino({ level: 'silent' })
const timing = { ackTimeoutMs: 300, paymentTimeoutMs: 2_000, commandTimeoutMs: 2_000, recoveryTimeoutMs: 3_000, reconnectDelayMs: 20 }
const CARD_DATA: ZvtTerminalSimulatorOptions['cardData'] = { cardTechnology: 'contactless', cardholderVerification: 'online_pin', aid: 'A0000000041010', longReceiptNumber: true }

let portNo = 0
type Setup = (t: Test, simOptions: ZvtTerminalSimulatorOptions) => Promise<{ sim: ZvtTerminalSimulator; terminal: ZvtTerminal }>

const transports: Array<[string, Setup]> = [
  [
    'serial',
    async (t, simOptions) => {
      const link = createMockZvtTerminalLink({ path: `/dev/zvt-tlv-${++portNo}`, ackTimeoutMs: 300, ...simOptions })
      const terminal = createZvtTerminal({ path: link.path, binding: link.binding, password: '123456', currency: 978, logger, ...timing })
      t.teardown(() => terminal.close())
      await terminal.open()
      return { sim: link.terminal, terminal }
    },
  ],
  [
    'tcp',
    async (t, simOptions) => {
      const sim = createZvtTerminalSimulator({ ackTimeoutMs: 300, ...simOptions, transport: 'tcp' })
      const listener = await listenZvtTerminalOnTcp({ terminal: sim })
      const terminal = createZvtTerminal({ tcp: { host: listener.host, port: listener.port, connectTimeoutMs: 2_000 }, password: '123456', currency: 978, logger, ...timing })
      t.teardown(async () => {
        await terminal.close()
        await listener.close()
      })
      await terminal.open()
      return { sim, terminal }
    },
  ],
]

for (const [name, setup] of transports) {
  t.test(`${name}: an approval carries card technology, cardholder verification, AID and the long trace number`, async (t) => {
    const { sim, terminal } = await setup(t, { firstTrace: 42, firstReceipt: 17, cardData: CARD_DATA })
    sim.queueBehaviours({ kind: 'approve', intermediate: ['Karte vorhalten', 0x01] })
    const texts: string[] = []
    terminal.on('intermediate', (text: string) => texts.push(text))
    const result = await terminal.pay(1000)
    t.match(result, {
      status: 'approved',
      traceNumber: '000042',
      receiptNumber: '0017',
      maskedPan: '************1234',
      cardTechnology: 'contactless',
      cardholderVerification: 'online_pin',
      aid: 'A0000000041010',
      longReceiptNumber: '000000000042',
    })
    t.equal(result.errorDetail, undefined)
    t.same(texts, ['Karte vorhalten', 'please watch the PIN pad'], 'the TLV text as it is, the coded status as its text')
  })

  t.test(`${name}: result code FF carries the terminal's error details, and the payment is declined`, async (t) => {
    const { sim, terminal } = await setup(t, { firstTrace: 7 })
    sim.queueBehaviours({ kind: 'decline', resultCode: 0xff, errorDetail: { code: '0104', text: 'HOST OFFLINE' } })
    const result = await terminal.pay(2500)
    t.match(result, { status: 'declined', resultCode: 0xff, errorDetail: 'code 0104: HOST OFFLINE' })
    t.match(result.message, /HOST OFFLINE/)
    t.equal(terminal.status().counters.recoveries, 0, 'a whole answer: no recovery')
  })

  t.test(`${name}: hostile intermediate text arrives cleaned and bounded`, async (t) => {
    const { sim, terminal } = await setup(t, {})
    sim.queueBehaviours({ kind: 'approve', intermediate: ['<img src=x onerror=alert(1)>\u001b[2J' + 'x'.repeat(400)] })
    const texts: string[] = []
    terminal.on('intermediate', (text: string) => texts.push(text))
    t.match(await terminal.pay(500), { status: 'approved' })
    t.equal(texts.length, 1)
    t.ok(texts[0]!.length <= 160, 'bounded')
    t.notOk(/[\u0000-\u001f]/.test(texts[0]!), 'no control characters')
  })
}
