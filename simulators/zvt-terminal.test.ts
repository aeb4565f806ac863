// The simulated ZVT terminal on its own, driven byte by byte with the vectors.
import t from 'tap'
import {
  ZVT_UNKNOWN_BMPS,
  ZVT_VECTORS,
  createZvtDeframer,
  decodeZvtMessage,
  encodeZvtFrame,
  encodeZvtMessage,
  type ZvtLinkEvent,
  type ZvtMessage,
} from '../device-protocol/zvt/index.js'
import { createZvtTerminalSimulator, type ZvtTerminalSimulatorOptions } from './zvt-terminal.js'

const vector = (name: string) => ZVT_VECTORS.find((v) => v.name.startsWith(name))!

/** A minimal ECR: records what the terminal writes, ACKs its frames and answers its commands with 80 00 00. */
function rig(options: ZvtTerminalSimulatorOptions = {}, { autoAck = true } = {}) {
  const sim = createZvtTerminalSimulator({ ackTimeoutMs: 50, now: () => new Date(2025, 6, 15, 14, 30, 5), ...options })
  const deframer = createZvtDeframer()
  const events: ZvtLinkEvent[] = []
  const messages: ZvtMessage[] = []
  const wire: Buffer[] = []
  sim.attach((bytes) => {
    wire.push(Buffer.from(bytes))
    for (const e of deframer.push(bytes).events) {
      events.push(e)
      if (e.kind !== 'frame') continue
      const d = decodeZvtMessage(e.apdu)
      if (d.ok) messages.push(d.message)
      if (!autoAck) continue
      setImmediate(() => {
        sim.receive(Buffer.of(0x06))
        if (d.ok && d.message.kind !== 'ack' && d.message.kind !== 'nak') setImmediate(() => sim.receive(encodeZvtFrame(encodeZvtMessage({ kind: 'ack' }))))
      })
    }
  })
  const until = async (what: () => boolean) => {
    for (let i = 0; i < 400 && !what(); i++) await new Promise((r) => setTimeout(r, 5))
    if (!what()) throw new Error('condition not reached')
  }
  return { sim, events, messages, wire, until }
}

t.test('registration: ACK byte, ACK APDU and completion with the terminal id, as in the vectors', async (t) => {
  const { sim, wire, messages, until } = rig()
  sim.receive(vector('registration').wire)
  await until(() => messages.length === 2)
  t.same(wire[0], Buffer.of(0x06), 'the frame is acknowledged first')
  t.same(wire[1], vector('ACK APDU').wire)
  t.same(wire[2], vector('completion 06 0F with terminal id').wire)
  t.ok(sim.registered)
})

t.test('an approved payment sends the status information vector byte for byte', async (t) => {
  const { sim, wire, messages, until } = rig({ firstTrace: 42, firstReceipt: 17 })
  sim.receive(vector('registration').wire)
  await until(() => messages.length === 2)
  sim.receive(vector('authorisation').wire)
  await until(() => messages.some((m) => m.kind === 'completion' && m.terminalId === undefined))
  t.ok(wire.some((w) => w.equals(vector('status information 04 0F: approved').wire)))
  t.match(sim.lastTransaction, { kind: 'payment', amountCents: 1000, resultCode: 0, traceNumber: '000042', receiptNumber: '0017' })
})

t.test('a status enquiry answers with the last transaction, then completion with the terminal status', async (t) => {
  const { sim, messages, until } = rig()
  sim.receive(vector('status enquiry').wire)
  await until(() => messages.some((m) => m.kind === 'completion'))
  t.same(messages.slice(-1), [{ kind: 'completion', softwareVersion: 'WP-SIM 1.0', terminalStatus: 0 }], 'empty journal: no status information')
  sim.receive(vector('registration').wire)
  sim.queueBehaviours({ kind: 'decline', resultCode: 0x05 })
  await until(() => sim.registered)
  sim.receive(vector('authorisation').wire)
  await until(() => messages.some((m) => m.kind === 'abort'))
  messages.length = 0
  sim.receive(vector('status enquiry').wire)
  await until(() => messages.some((m) => m.kind === 'completion'))
  t.match(messages, [{ kind: 'ack' }, { kind: 'statusInformation', info: { resultCode: 5, amountCents: 1000, traceNumber: '000001' } }, { kind: 'completion', terminalStatus: 0 }])
})

t.test('reversal of an approved receipt, then refusals', async (t) => {
  const { sim, messages, until } = rig()
  sim.receive(vector('registration').wire)
  await until(() => sim.registered)
  sim.receive(encodeZvtFrame(encodeZvtMessage({ kind: 'authorisation', amountCents: 300 })))
  await until(() => sim.journal.length === 1)
  const receiptNumber = sim.journal[0]!.receiptNumber
  const reversal = encodeZvtFrame(encodeZvtMessage({ kind: 'reversal', password: '123456', receiptNumber }))
  await until(() => !sim.busy)
  sim.receive(reversal)
  await until(() => sim.journal.length === 2)
  t.match(sim.journal[1], { kind: 'reversal', amountCents: 300, resultCode: 0 })
  await until(() => !sim.busy)
  messages.length = 0
  sim.receive(reversal)
  await until(() => messages.some((m) => m.kind === 'abort'))
  t.match(messages.at(-1), { kind: 'abort', resultCode: 0xb4 }, 'already reversed')
})

t.test('hostile ECR input: bad CRC and garbage are NAKed or skipped, unknown commands refused, wrong password refused', async (t) => {
  const { sim, wire, messages, until } = rig()
  const bad = Buffer.from(vector('registration').wire)
  bad[bad.length - 1] = bad[bad.length - 1]! ^ 1
  sim.receive(Buffer.concat([Buffer.from('noise'), bad]))
  t.same(wire.at(-1), Buffer.of(0x15))
  t.match(sim.counters, { crcErrors: 1, discardedBytes: 5 })
  sim.receive(encodeZvtFrame(Buffer.from('0699020102', 'hex')))
  await until(() => messages.some((m) => m.kind === 'nak'))
  t.match(messages.at(-1), { kind: 'nak', code: 0x83 })
  sim.receive(encodeZvtFrame(encodeZvtMessage({ kind: 'registration', password: '000000', configByte: 8 })))
  await until(() => messages.filter((m) => m.kind === 'nak').length === 2)
  t.notOk(sim.registered)
  sim.receive(encodeZvtFrame(Buffer.from('0601020499', 'hex'))) // truncated amount
  await until(() => sim.counters.malformed === 1)
  t.pass('no exception from any of it')
})

t.test('NAKs the first frames when told, and repeats its own frames on NAK, giving up after 3 attempts', async (t) => {
  const { sim, wire, until } = rig({ misbehave: { nakFrames: 1 } }, { autoAck: false })
  sim.receive(vector('status enquiry').wire)
  t.same(wire, [Buffer.of(0x15)], 'NAKed, not processed')
  sim.receive(vector('status enquiry').wire)
  await until(() => sim.counters.sendFailures === 1)
  const ackFrames = wire.filter((w) => w.equals(vector('ACK APDU').wire))
  t.equal(ackFrames.length, 3, 'its ACK APDU sent three times in all')
  t.equal(sim.counters.retransmits, 2)
})

t.test('busy: a second authorisation is refused with 84 9C', async (t) => {
  const { sim, messages, until } = rig()
  sim.receive(vector('registration').wire)
  await until(() => sim.registered)
  sim.queueBehaviours({ kind: 'waitForCard' })
  sim.receive(vector('authorisation').wire)
  await until(() => sim.busy && messages.some((m) => m.kind === 'intermediateStatus'))
  sim.receive(vector('authorisation').wire)
  await until(() => messages.some((m) => m.kind === 'nak'))
  t.match(messages.at(-1), { kind: 'nak', code: 0x9c })
  sim.receive(vector('ECR abort').wire)
  await until(() => messages.some((m) => m.kind === 'abort'))
  t.match(messages.at(-1), { kind: 'abort', resultCode: 0x6c })
  t.equal(sim.journal.length, 0)
})

t.test('told to, the status information carries unknown bitmaps, and a payment can end in an abort without a result code', async (t) => {
  const { sim, wire, messages, until } = rig({ firstTrace: 42, firstReceipt: 17, misbehave: { unknownBmpsInStatus: true } })
  sim.receive(vector('registration').wire)
  await until(() => sim.registered)
  sim.receive(vector('authorisation').wire)
  await until(() => messages.some((m) => m.kind === 'completion' && m.terminalId === undefined))
  const info = messages.find((m) => m.kind === 'statusInformation')
  t.match(info, { kind: 'statusInformation', info: { resultCode: 0, amountCents: 1000, traceNumber: '000042', receiptNumber: '0017', skippedTags: [0x70, 0xfd] } })
  t.ok(wire.some((w) => w.includes(ZVT_UNKNOWN_BMPS)), 'the unknown bitmaps of the vectors went out')
  messages.length = 0
  sim.queueBehaviours({ kind: 'abortWithoutCode' })
  sim.receive(vector('authorisation').wire)
  await until(() => messages.some((m) => m.kind === 'abort'))
  t.ok(wire.some((w) => w.equals(vector('abort 06 1E without a result code').wire)), 'the abort vector byte for byte')
  t.equal(sim.journal.length, 1, 'nothing journaled for the abort')
})
