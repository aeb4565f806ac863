import t from 'tap'
import { once } from 'node:events'
import { SerialPortStream } from '@serialport/stream'
import {
  READER_ERROR_CODES,
  READER_VECTORS,
  createDeframer,
  decodeFrame,
  decodeReaderMessage,
  encodeFrame,
  encodeReaderMessage,
  type ReaderMessage,
} from '../device-protocol/index.js'
import { createMockReaderLink, createReaderFirmware, type ReaderFirmwareOptions } from './reader-firmware.js'

/** What a host would make of the bytes the firmware wrote. */
function hostView(bytes: Buffer) {
  const { frames, discardedBytes } = createDeframer().push(bytes)
  const messages: ReaderMessage[] = []
  const frameErrors: string[] = []
  const seqs: number[] = []
  for (const body of frames) {
    const f = decodeFrame(body)
    if (!f.ok) {
      frameErrors.push(f.error)
      continue
    }
    seqs.push(f.frame.seq)
    const m = decodeReaderMessage(f.frame.type, f.frame.payload)
    if (m.ok) messages.push(m.message)
  }
  return { messages, frameErrors, seqs, discardedBytes }
}

function firmwareWithOutput(options: Omit<ReaderFirmwareOptions, 'write'> = {}) {
  const writes: Buffer[] = []
  const firmware = createReaderFirmware({ ...options, write: (b) => writes.push(Buffer.from(b)) })
  return { firmware, writes, output: () => Buffer.concat(writes) }
}

const hostVectors = READER_VECTORS.filter((v) => v.direction === 'host-to-reader')
const deviceVectors = READER_VECTORS.filter((v) => v.direction === 'reader-to-host')

t.test('the firmware writes the reader-to-host vectors byte for byte', async (t) => {
  const { firmware, writes } = firmwareWithOutput()
  for (const v of deviceVectors) {
    t.equal(v.seq, firmware.counters.framesSent, 'vectors are in seq order')
    firmware.sendMessage(v.message as Parameters<typeof firmware.sendMessage>[0])
    t.same(writes.at(-1), v.wire, v.name)
  }
})

t.test('connect and present produce the hello and tag vectors', async (t) => {
  const { firmware, writes } = firmwareWithOutput({ model: 'WP-R1', firmware: '1.2.0', serial: 'SN0001' })
  firmware.connect()
  firmware.present('04a1b2c3d4e5f6', 'ntag215')
  t.same(writes[0], READER_VECTORS[0]!.wire)
  t.same(writes[1], READER_VECTORS[1]!.wire)
  t.same(firmware.currentTag, { uid: '04A1B2C3D4E5F6', type: 'ntag215' })
})

t.test('presenting a second tag removes the first; remove sends tagGone once', async (t) => {
  const { firmware, output } = firmwareWithOutput()
  firmware.present('DEADBEEF', 'mifare-classic')
  firmware.present('04A1B2C3D4E5F6', 'ntag424')
  firmware.remove()
  firmware.remove()
  t.same(hostView(output()).messages, [
    { kind: 'tagPresent', uid: 'DEADBEEF', type: 'mifare-classic' },
    { kind: 'tagGone', uid: 'DEADBEEF' },
    { kind: 'tagPresent', uid: '04A1B2C3D4E5F6', type: 'ntag424' },
    { kind: 'tagGone', uid: '04A1B2C3D4E5F6' },
  ])
  t.throws(() => firmware.present('xyz', 'ntag215'), RangeError)
  t.throws(() => firmware.present('01020304', 'floppy'), /unknown tag type/)
  t.equal(firmware.currentTag, null, 'a refused present changes nothing')
})

t.test('host-to-reader vectors: feedback is logged and acknowledged with its seq, identify answers hello', async (t) => {
  for (const v of hostVectors) {
    const { firmware, output } = firmwareWithOutput()
    firmware.receive(v.wire)
    const { messages } = hostView(output())
    if (v.message.kind === 'feedback') {
      const { kind: _kind, ...fb } = v.message
      t.same(firmware.feedbackLog, [{ seq: v.seq, ...fb }], v.name)
      t.same(messages, [{ kind: 'feedbackAck', ackSeq: v.seq }], `${v.name}: ack`)
    } else {
      t.same(messages, [{ kind: 'hello', ...firmware.info }], v.name)
    }
  }
})

t.test('a host frame split at every byte offset is applied exactly once', async (t) => {
  const v = hostVectors[0]!
  for (let cut = 0; cut <= v.wire.length; cut++) {
    const { firmware } = firmwareWithOutput()
    firmware.receive(v.wire.subarray(0, cut))
    firmware.receive(v.wire.subarray(cut))
    if (firmware.feedbackLog.length !== 1) t.fail(`split at ${cut}`)
  }
  t.pass('all offsets')
})

t.test('hostile host input: counted, answered with an error report, and the next good frame still works', async (t) => {
  const { firmware, output } = firmwareWithOutput()
  const badCrc = encodeFrame({ seq: 1, ...encodeReaderMessage({ kind: 'feedback', led: 'red', beep: 'error', durationMs: 10 }) })
  badCrc[badCrc.length - 2] = badCrc[badCrc.length - 2]! ^ 0x40
  firmware.receive(Buffer.concat([Buffer.from('garbage!'), badCrc]))
  firmware.receive(encodeFrame({ seq: 2, type: 0x66, payload: Buffer.from([1, 2]) })) // unknown type
  firmware.receive(encodeFrame({ seq: 3, type: 0x11, payload: Buffer.from([1]) })) // truncated feedback
  firmware.receive(encodeFrame({ seq: 4, ...encodeReaderMessage({ kind: 'tagGone', uid: '01020304' }) })) // wrong direction
  firmware.receive(hostVectors[0]!.wire)
  t.equal(firmware.counters.crcErrors, 1)
  t.equal(firmware.counters.discardedBytes, 'garbage!'.length)
  t.equal(firmware.counters.malformed, 3)
  t.equal(firmware.feedbackLog.length, 1, 'only the good feedback was applied')
  const codes = hostView(output()).messages.flatMap((m) => (m.kind === 'error' ? [m.code] : []))
  t.same(codes, [READER_ERROR_CODES.badFrame, READER_ERROR_CODES.unknownMessage, READER_ERROR_CODES.malformedMessage, READER_ERROR_CODES.unknownMessage])
})

t.test('misbehaviour: noise, broken CRCs, split writes, dropped acks', async (t) => {
  const noisy = firmwareWithOutput({ misbehave: { noiseBeforeFrame: Buffer.from([0xde, 0xad, 0x00, 0x02, 0x99]) } })
  noisy.firmware.present('DEADBEEF', 'mifare-classic')
  const noisyView = hostView(noisy.output())
  t.same(noisyView.messages, [{ kind: 'tagPresent', uid: 'DEADBEEF', type: 'mifare-classic' }], 'the frame survives the noise')
  t.same(noisyView.frameErrors, ['short'], 'the noise after its zero is a short frame')

  const broken = firmwareWithOutput({ misbehave: { corruptCrc: true } })
  broken.firmware.connect()
  broken.firmware.present('DEADBEEF', 'mifare-classic')
  t.same(hostView(broken.output()).frameErrors, ['crc', 'crc'])

  const split = firmwareWithOutput({ misbehave: { chunkBytes: 3 } })
  split.firmware.connect()
  t.ok(split.writes.length > 3, `${split.writes.length} writes`)
  t.ok(split.writes.every((w) => w.length <= 3))
  t.same(hostView(split.output()).messages, [{ kind: 'hello', ...split.firmware.info }])

  const mute = firmwareWithOutput({ misbehave: { dropAcks: true } })
  mute.firmware.receive(hostVectors[0]!.wire)
  t.equal(mute.firmware.feedbackLog.length, 1, 'feedback applied')
  t.equal(mute.writes.length, 0, 'but not acknowledged')
})

t.test('MockBinding link: the firmware sees what the host writes and the host reads what it sends', async (t) => {
  const link = createMockReaderLink({ path: '/dev/sim-fw-1', serial: 'LINK1' })
  const port = new SerialPortStream({ binding: link.binding, path: link.path, baudRate: 115_200, autoOpen: false })
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())))
  t.ok(link.hostOpen)
  const [hello] = (await once(port, 'data', { signal: AbortSignal.timeout(5_000) })) as [Buffer]
  t.same(hostView(hello).messages, [{ kind: 'hello', ...link.firmware.info }], 'hello on open')

  const feedback = once(link.firmware, 'feedback', { signal: AbortSignal.timeout(5_000) })
  port.write(hostVectors[0]!.wire)
  const [record] = await feedback
  t.match(record, { seq: 0x2a, led: 'green' })
  t.same(link.recording, hostVectors[0]!.wire, 'the host bytes are recorded')
  const [ack] = (await once(port, 'data', { signal: AbortSignal.timeout(5_000) })) as [Buffer]
  t.same(hostView(ack).messages, [{ kind: 'feedbackAck', ackSeq: 0x2a }])

  const closed = once(port, 'close', { signal: AbortSignal.timeout(5_000) })
  link.unplug()
  const [err] = (await closed) as [Error & { disconnected?: boolean }]
  t.equal(err?.disconnected, true, 'the host sees a disconnect')
  t.notOk(link.hostOpen)

  const again = new SerialPortStream({ binding: link.binding, path: link.path, baudRate: 115_200, autoOpen: false })
  const refused = await new Promise<Error | null>((resolve) => again.open((e) => resolve(e)))
  t.match(refused?.message, /No such file/, 'cannot open while unplugged')
  link.replug()
  await new Promise<void>((resolve, reject) => again.open((e) => (e ? reject(e) : resolve())))
  t.ok(link.hostOpen, 'opens again after replug')
  await new Promise<void>((resolve) => again.close(() => resolve()))
})

t.test('presentSecure: the reader reads the NTAG 424 and reports its fresh SUN message with the tag', async (t) => {
  const { createSimulatedNtag424 } = await import('./ntag424-tag.js')
  const { firmware, output } = firmwareWithOutput()
  const tag = createSimulatedNtag424({ uid: '04DE5F1EACC040', metaReadKey: Buffer.alloc(16, 1), fileReadKey: Buffer.alloc(16, 2) })
  const first = firmware.presentSecure(tag)
  const second = firmware.presentSecure(tag)
  t.equal(tag.counter, 2, 'each tap is a read')
  t.not(first.cmac, second.cmac)
  t.same(firmware.currentTag, { uid: '04DE5F1EACC040', type: 'ntag424', sun: second })
  t.same(hostView(output()).messages, [
    { kind: 'tagPresent', uid: '04DE5F1EACC040', type: 'ntag424', sun: first },
    { kind: 'tagGone', uid: '04DE5F1EACC040' },
    { kind: 'tagPresent', uid: '04DE5F1EACC040', type: 'ntag424', sun: second },
  ])
  // The same SUN again (a replay) is what present() with it sends; a garbled one throws and changes nothing.
  firmware.remove()
  t.throws(() => firmware.present('04DE5F1EACC040', 'ntag424', { piccData: 'AB', cmac: first.cmac }), /sun.piccData/)
  t.equal(firmware.currentTag, null)
})
