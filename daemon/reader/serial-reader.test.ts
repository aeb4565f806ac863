import t from 'tap'
import { waitForEvent } from '../testing/wait.js'
import type { EventEmitter } from 'node:events'
import { pino } from 'pino'
import { READER_VECTORS, encodeFrame, encodeReaderMessage, MAX_FRAME_PAYLOAD_BYTES } from '../../device-protocol/index.js'
import { createMockReaderLink, type MockReaderLinkOptions } from '../../simulators/reader-firmware.js'
import { createSerialReader, type SerialReader } from './serial-reader.js'
import type { ReaderStatus, TagInfo } from './reader.js'

const logger = pino({ level: 'silent' })
let portNo = 0

const waitFor = <A extends unknown[]>(emitter: EventEmitter, event: string, accept: (...args: A) => boolean = () => true, timeoutMs = 5000) =>
  waitForEvent<A>(emitter, event, accept, timeoutMs)

const connectedWithDevice = (s: ReaderStatus) => s.connected && s.device !== undefined

/** The part of a tap test setup needs. */
interface Teardown {
  teardown(fn: () => unknown): void
}

async function setup(t: Teardown, linkOptions: Partial<MockReaderLinkOptions> = {}, readerOptions: { ackTimeoutMs?: number; reconnectDelayMs?: number } = {}) {
  const link = createMockReaderLink({ path: `/dev/sim-reader-${++portNo}`, model: 'WP-R1', firmware: '1.2.0', serial: `SN${portNo}`, ...linkOptions })
  const reader = createSerialReader({ path: link.path, binding: link.binding, logger, ackTimeoutMs: 2_000, reconnectDelayMs: 20, ...readerOptions })
  const errors: Error[] = []
  reader.on('readerError', (err: Error) => errors.push(err))
  t.teardown(() => reader.close())
  return { link, reader, errors }
}

async function openAndIdentify(reader: SerialReader) {
  const identified = waitFor(reader, 'status', connectedWithDevice)
  await reader.open()
  await identified
}

t.test('opens, asks the reader who it is, and reports it in status', async (t) => {
  const { link, reader } = await setup(t, { helloOnOpen: false })
  t.equal(reader.kind, 'serial')
  t.equal(reader.status().connected, false)
  const asked = waitFor(link.firmware, 'identify')
  await openAndIdentify(reader)
  await asked
  t.match(reader.status(), { kind: 'serial', connected: true, device: { model: 'WP-R1', firmware: '1.2.0', serial: link.firmware.info.serial } })
})

t.test('tags and tag-gone events come through as TagInfo', async (t) => {
  const { link, reader } = await setup(t)
  await openAndIdentify(reader)
  const tag = waitFor<[TagInfo]>(reader, 'tag')
  link.firmware.present('04a1b2c3d4e5f6', 'ntag215')
  t.same((await tag)[0], { uid: '04A1B2C3D4E5F6', type: 'ntag215' })
  const gone = waitFor<[string]>(reader, 'tagGone')
  link.firmware.remove()
  t.same((await gone)[0], '04A1B2C3D4E5F6')
})

t.test('feedback resolves when the reader acknowledges that very frame', async (t) => {
  const { link, reader } = await setup(t)
  await openAndIdentify(reader)
  await reader.feedback({ led: 'green', beep: 'short', durationMs: 1500 })
  await reader.feedback({ led: 'red', beep: 'error', durationMs: 3000 })
  t.match(link.firmware.feedbackLog, [
    { led: 'green', beep: 'short', durationMs: 1500 },
    { led: 'red', beep: 'error', durationMs: 3000 },
  ])
  t.not(link.firmware.feedbackLog[0]!.seq, link.firmware.feedbackLog[1]!.seq, 'each command has its own seq')
})

t.test('an acknowledgement for another seq does not resolve feedback; a missing one rejects it', async (t) => {
  const { link, reader } = await setup(t, {}, { ackTimeoutMs: 100 })
  await openAndIdentify(reader)
  link.firmware.misbehave.dropAcks = true
  link.firmware.on('feedback', (r: { seq: number }) => link.firmware.sendMessage({ kind: 'feedbackAck', ackSeq: (r.seq + 1) & 0xff }))
  await t.rejects(reader.feedback({ led: 'blue', beep: 'none', durationMs: 10 }), /did not acknowledge feedback within 100 ms/)
  t.equal(reader.status().counters.feedbackTimeouts, 1)
  t.equal(reader.status().counters.unmatchedAcks, 1)
})

t.test('feedback refuses bad values and a disconnected reader without writing anything', async (t) => {
  const { link, reader } = await setup(t)
  await t.rejects(reader.feedback({ led: 'green', beep: 'short', durationMs: 10 }), /not connected/)
  await openAndIdentify(reader)
  const before = link.recording.length
  await t.rejects(reader.feedback({ led: 'green', beep: 'short', durationMs: 70_000 }), { name: 'InvalidReaderMessageError', message: /durationMs/ })
  await t.rejects(reader.feedback({ led: 'pink' as 'red', beep: 'short', durationMs: 10 }), /led/)
  t.equal(link.recording.length, before)
})

t.test('hostile line: noise, bad CRC, unknown types, malformed and oversize frames are counted; the next good frame still works', async (t) => {
  const { link, reader } = await setup(t)
  await openAndIdentify(reader)
  const fw = link.firmware
  const tagVector = READER_VECTORS[2]!
  const badCrc = Buffer.from(tagVector.wire)
  badCrc[6] = badCrc[6]! ^ 0x10
  fw.sendRaw(Buffer.from('AT+RESET\r\n'))
  fw.sendRaw(badCrc)
  fw.sendFrame({ type: 0x77, payload: Buffer.from([1, 2, 3]) }) // unknown type
  fw.sendFrame({ type: 0x02, payload: Buffer.from([9, 1, 2]) }) // tagPresent with a bad uid length
  fw.sendFrame({ type: 0x11, payload: Buffer.from([1, 1, 0, 1]) }) // a feedback command, wrong direction
  fw.sendRaw(Buffer.concat([Buffer.of(0), Buffer.alloc(2_000, 0x41), Buffer.of(0)])) // oversize
  fw.sendRaw(Buffer.concat([Buffer.of(0), encodeFrame({ seq: 1, type: 1, payload: Buffer.alloc(10) }).subarray(1, 4), Buffer.of(0)])) // truncated
  const tags: TagInfo[] = []
  reader.on('tag', (tag: TagInfo) => tags.push(tag))
  const good = waitFor<[TagInfo]>(reader, 'tag')
  fw.sendRaw(tagVector.wire)
  t.same((await good)[0], { uid: 'DEADBEEF', type: 'mifare-classic' })
  t.same(tags, [{ uid: 'DEADBEEF', type: 'mifare-classic' }], 'only the good frame became a tag')
  const c = reader.status().counters
  t.equal(c.crcErrors, 1, 'crc errors')
  t.equal(c.unknownTypes, 1, 'unknown types')
  // "AT+RESET\r\n" and the truncated frame are invalid COBS; the bad uid length and the wrong-direction message
  t.equal(c.malformed, 4, 'malformed')
  t.equal(c.oversize, 1, 'oversize')
  t.ok((c.discardedBytes ?? 0) >= 2_000, `discarded ${c.discardedBytes}`)
  t.equal(reader.status().connected, true, 'still connected')
})

t.test('noise before every frame and frames split into 1-byte writes still decode', async (t) => {
  const { link, reader } = await setup(t, { misbehave: { noiseBeforeFrame: Buffer.from([0xff, 0xfe, 0x13]), chunkBytes: 1 } })
  await openAndIdentify(reader)
  const tag = waitFor<[TagInfo]>(reader, 'tag')
  link.firmware.present('0102030405060708090A', 'iso14443a')
  t.same((await tag)[0], { uid: '0102030405060708090A', type: 'iso14443a' })
  await reader.feedback({ led: 'yellow', beep: 'double', durationMs: 500 })
  t.ok((reader.status().counters.discardedBytes ?? 0) > 0)
})

t.test('an error report from the reader becomes a readerError event', async (t) => {
  const { link, reader, errors } = await setup(t)
  await openAndIdentify(reader)
  const reported = waitFor<[Error]>(reader, 'readerError')
  link.firmware.sendMessage({ kind: 'error', code: 0x10, text: 'antenna fault' })
  t.match((await reported)[0].message, /0x10: antenna fault/)
  t.equal(reader.status().counters.deviceErrors, 1)
  t.equal(errors.length, 1)
})

t.test('a listener that throws does not take the reader down', async (t) => {
  const { link, reader } = await setup(t)
  await openAndIdentify(reader)
  // registered first: an emitter stops calling listeners at the one that throws
  const second = waitFor<[TagInfo]>(reader, 'tag', (tag) => tag.uid === '01020304')
  reader.on('tag', () => {
    throw new Error('kiosk bug')
  })
  link.firmware.present('DEADBEEF', 'mifare-classic')
  link.firmware.present('01020304', 'ntag213')
  await second
  t.ok((reader.status().counters.errors ?? 0) >= 1)
  t.equal(reader.status().connected, true)
})

t.test('unplugged: pending feedback is rejected, the port is reopened after replug, device re-identified', async (t) => {
  const { link, reader, errors } = await setup(t)
  await openAndIdentify(reader)
  link.firmware.misbehave.dropAcks = true
  const pending = reader.feedback({ led: 'green', beep: 'short', durationMs: 10 })
  await waitFor(link.firmware, 'feedback')
  const down = waitFor<[ReaderStatus]>(reader, 'status', (s) => !s.connected)
  const cannotOpen = waitFor<[Error]>(reader, 'readerError', (e) => /cannot open/.test(e.message))
  link.unplug()
  await t.rejects(pending, /disconnected/)
  t.notOk((await down)[0].device, 'device info dropped while unplugged')
  await cannotOpen
  t.ok(errors.some((e) => /closed/.test(e.message)), 'the loss was reported')

  const up = waitFor<[ReaderStatus]>(reader, 'status', connectedWithDevice)
  link.replug()
  link.firmware.misbehave.dropAcks = false
  await up
  const c = reader.status().counters
  t.equal(c.reconnects, 1)
  t.ok((c.openFailures ?? 0) >= 1)
  await reader.feedback({ led: 'green', beep: 'none', durationMs: 10 })
  t.equal(link.firmware.feedbackLog.length, 2, 'works again')
})

t.test('a reader that is not there at open() is picked up when it appears', async (t) => {
  const link = createMockReaderLink({ path: `/dev/sim-reader-${++portNo}` })
  link.unplug()
  const reader = createSerialReader({ path: link.path, binding: link.binding, logger, reconnectDelayMs: 20 })
  t.teardown(() => reader.close())
  const failed = waitFor<[Error]>(reader, 'readerError')
  await reader.open()
  t.match((await failed)[0].message, /cannot open reader port/)
  t.equal(reader.status().connected, false)
  const up = waitFor(reader, 'status', connectedWithDevice)
  link.replug()
  await up
  t.equal(reader.status().counters.reconnects, 0, 'a first connection is not a reconnect')
})

t.test('close() rejects pending feedback, stops retrying and closes the port', async (t) => {
  const { link, reader } = await setup(t)
  await openAndIdentify(reader)
  link.firmware.misbehave.dropAcks = true
  const pending = reader.feedback({ led: 'red', beep: 'long', durationMs: 10 })
  await reader.close()
  await t.rejects(pending, /closed/)
  t.equal(link.hostOpen, false)
  t.equal(reader.status().connected, false)
  // An unplugged reader that is closed is not retried: replugging does not reopen it.
  const { link: link2, reader: reader2 } = await setup(t)
  link2.unplug()
  await reader2.open()
  await reader2.close()
  const failuresAtClose = reader2.status().counters.openFailures
  link2.replug()
  await new Promise((resolve) => setTimeout(resolve, 100)) // several reconnect delays
  t.equal(link2.hostOpen, false)
  t.equal(reader2.status().counters.openFailures, failuresAtClose)
})

t.test('largest payload the protocol allows passes; the limit is stated', async (t) => {
  t.equal(MAX_FRAME_PAYLOAD_BYTES, 251)
  const { link, reader } = await setup(t)
  await openAndIdentify(reader)
  // an error report with the largest text the message allows still decodes
  const reported = waitFor<[Error]>(reader, 'readerError')
  link.firmware.sendFrame(encodeReaderMessage({ kind: 'error', code: 0x80, text: 'x'.repeat(64) }))
  t.match((await reported)[0].message, /0x80: x{64}/)
})
