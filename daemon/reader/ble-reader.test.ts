// The BLE reader adapter against simulated NUS readers, through real noble
// (lib/noble on the simulator's bindings): the same code path as hardware.
import t from 'tap'
import { waitForEvent } from '../testing/wait.js'
import type { EventEmitter } from 'node:events'
import { pino } from 'pino'
import { READER_VECTORS } from '../../device-protocol/index.js'
import { createNobleWithBindings, createSimulatedBleBindings, createSimulatedBleReaderLink, type SimulatedBleBindingsOptions } from '../../simulators/ble-peripheral.js'
import { createBleReader, normaliseBleAddress, type BleReader, type BleReaderOptions, type NobleLike } from './ble-reader.js'
import type { ReaderStatus, TagInfo } from './reader.js'

const logger = pino({ level: 'silent' })

const A = 'AA:BB:CC:DD:EE:01'
const B = 'AA:BB:CC:DD:EE:02'
const STRANGER = 'AA:BB:CC:DD:EE:99'

const waitFor = <A extends unknown[]>(emitter: EventEmitter, event: string, accept: (...args: A) => boolean = () => true, timeoutMs = 5000) =>
  waitForEvent<A>(emitter, event, accept, timeoutMs)

const connectedWithDevice = (s: ReaderStatus) => s.connected && s.device !== undefined

interface Teardown {
  teardown(fn: () => unknown): void
}

function setup(
  t: Teardown,
  {
    sim: simOptions = {},
    reader: readerOptions = {},
  }: { sim?: Partial<SimulatedBleBindingsOptions>; reader?: Partial<BleReaderOptions> } = {},
) {
  const sim = createSimulatedBleBindings({
    peripherals: [
      { address: STRANGER, serial: 'SN-STRANGER' }, // advertises NUS too, but is not ours
      { address: A, model: 'WP-B1', firmware: '2.0.1', serial: 'SN-A' },
    ],
    ...simOptions,
  })
  const noble = createNobleWithBindings<NobleLike>(sim.bindings)
  let loads = 0
  const reader = createBleReader({
    addresses: [A],
    logger,
    loadNoble: async () => {
      loads++
      return noble
    },
    ackTimeoutMs: 2_000,
    reconnectDelayMs: 20,
    ...readerOptions,
  })
  const errors: Error[] = []
  reader.on('readerError', (err: Error) => errors.push(err))
  t.teardown(() => reader.close())
  return { sim, noble, reader, errors, loads: () => loads }
}

async function openAndIdentify(reader: BleReader) {
  const identified = waitFor(reader, 'status', connectedWithDevice)
  await reader.open()
  await identified
}

t.test('connects only to the configured reader, asks who it is and reports it in status', async (t) => {
  const { sim, reader } = setup(t, { sim: { peripherals: [{ address: STRANGER }, { address: A, model: 'WP-B1', firmware: '2.0.1', serial: 'SN-A', helloOnSubscribe: false }] } })
  t.equal(reader.kind, 'ble')
  t.same(reader.addresses, ['aa:bb:cc:dd:ee:01'])
  t.equal(reader.status().connected, false)
  const asked = waitFor(sim.peripheral(A).firmware, 'identify')
  await openAndIdentify(reader)
  await asked
  t.match(reader.status(), { kind: 'ble', connected: true, device: { model: 'WP-B1', firmware: '2.0.1', serial: 'SN-A' } })
  t.equal(sim.peripheral(STRANGER).counters.connections, 0, 'the other NUS device was never connected')
  t.ok(reader.status().counters.ignoredDevices! >= 1, 'and it was seen and ignored')
  t.equal(sim.peripheral(A).subscribed, true)
  t.equal(sim.scanning, false, 'no scan while every configured reader is connected')
})

t.test('tags and tag-gone events come through as TagInfo', async (t) => {
  const { sim, reader } = setup(t)
  await openAndIdentify(reader)
  const tag = waitFor<[TagInfo]>(reader, 'tag')
  sim.peripheral(A).firmware.present('04a1b2c3d4e5f6', 'ntag215')
  t.same((await tag)[0], { uid: '04A1B2C3D4E5F6', type: 'ntag215' })
  const gone = waitFor<[string]>(reader, 'tagGone')
  sim.peripheral(A).firmware.remove()
  t.same((await gone)[0], '04A1B2C3D4E5F6')
})

t.test('feedback is written to RX and resolves on the acknowledgement of that frame', async (t) => {
  const { sim, reader } = setup(t)
  await openAndIdentify(reader)
  const fw = sim.peripheral(A).firmware
  await reader.feedback({ led: 'green', beep: 'short', durationMs: 1500 })
  await reader.feedback({ led: 'red', beep: 'error', durationMs: 3000 })
  t.match(fw.feedbackLog, [
    { led: 'green', beep: 'short', durationMs: 1500 },
    { led: 'red', beep: 'error', durationMs: 3000 },
  ])
  t.not(fw.feedbackLog[0]!.seq, fw.feedbackLog[1]!.seq, 'each command has its own seq')
  t.equal(sim.peripheral(A).counters.oversizeWrites, 0, 'no write exceeded the ATT payload')
  t.ok(sim.peripheral(A).counters.largestWriteBytes <= 20)
})

t.test('frames longer than a write are split into pieces and reassembled by the reader', async (t) => {
  const { sim, reader } = setup(t, { reader: { writeChunkBytes: 4 } })
  await openAndIdentify(reader)
  const p = sim.peripheral(A)
  const writesBefore = p.counters.writes
  await reader.feedback({ led: 'yellow', beep: 'double', durationMs: 500 })
  t.match(p.firmware.feedbackLog, [{ led: 'yellow', beep: 'double', durationMs: 500 }])
  t.ok(p.counters.writes - writesBefore >= 3, `one frame took ${p.counters.writes - writesBefore} writes`)
  t.equal(p.counters.largestWriteBytes, 4)
  t.equal(p.firmware.counters.crcErrors + p.firmware.counters.malformed, 0, 'the reader saw whole, good frames')
})

t.test('frames longer than a notification (hello, a 64-character error report) arrive in pieces and decode', async (t) => {
  const { sim, reader } = setup(t)
  await openAndIdentify(reader)
  const reported = waitFor<[Error]>(reader, 'readerError')
  sim.peripheral(A).firmware.sendMessage({ kind: 'error', code: 0x80, text: 'x'.repeat(64) })
  t.match((await reported)[0].message, /0x80: x{64}/)
  t.ok(sim.peripheral(A).counters.notifications > 4, 'sent as several 20-byte notifications')
  t.equal(reader.status().counters.deviceErrors, 1)
})

t.test('feedback refuses bad values and a disconnected reader without writing anything', async (t) => {
  const { sim, reader } = setup(t)
  await t.rejects(reader.feedback({ led: 'green', beep: 'short', durationMs: 10 }), /not connected/)
  await openAndIdentify(reader)
  const writes = sim.peripheral(A).counters.writes
  await t.rejects(reader.feedback({ led: 'green', beep: 'short', durationMs: 70_000 }), { name: 'InvalidReaderMessageError', message: /durationMs/ })
  await t.rejects(reader.feedback({ led: 'pink' as 'red', beep: 'short', durationMs: 10 }), /led/)
  t.equal(sim.peripheral(A).counters.writes, writes)
})

t.test('a missing acknowledgement rejects feedback after ackTimeoutMs', async (t) => {
  const { sim, reader } = setup(t, { reader: { ackTimeoutMs: 100 } })
  await openAndIdentify(reader)
  sim.peripheral(A).firmware.misbehave.dropAcks = true
  await t.rejects(reader.feedback({ led: 'blue', beep: 'none', durationMs: 10 }), /did not acknowledge feedback within 100 ms/)
  t.equal(reader.status().counters.feedbackTimeouts, 1)
  t.equal(reader.status().connected, true, 'a lost ack is not a lost link')
})

t.test('hostile reader: noise, bad CRCs, unknown types and malformed frames are counted; the next good frame still works', async (t) => {
  const { sim, reader } = setup(t)
  await openAndIdentify(reader)
  const fw = sim.peripheral(A).firmware
  const tagVector = READER_VECTORS[2]!
  const badCrc = Buffer.from(tagVector.wire)
  badCrc[6] = badCrc[6]! ^ 0x10
  fw.sendRaw(Buffer.from('AT+RESET\r\n'))
  fw.sendRaw(badCrc)
  fw.sendFrame({ type: 0x77, payload: Buffer.from([1, 2, 3]) }) // unknown type
  fw.sendFrame({ type: 0x02, payload: Buffer.from([9, 1, 2]) }) // tagPresent with a bad uid length
  fw.sendRaw(Buffer.concat([Buffer.of(0), Buffer.alloc(2_000, 0x41), Buffer.of(0)])) // oversize
  fw.misbehave.corruptCrc = true
  fw.present('01020304', 'ntag213') // a tag in a frame with a broken CRC
  fw.misbehave.corruptCrc = false
  const tags: TagInfo[] = []
  reader.on('tag', (tag: TagInfo) => tags.push(tag))
  const good = waitFor<[TagInfo]>(reader, 'tag')
  fw.sendRaw(tagVector.wire)
  t.same((await good)[0], { uid: 'DEADBEEF', type: 'mifare-classic' })
  t.same(tags, [{ uid: 'DEADBEEF', type: 'mifare-classic' }], 'only the good frame became a tag')
  const c = reader.status().counters
  t.equal(c.crcErrors, 2, 'crc errors')
  t.equal(c.unknownTypes, 1, 'unknown types')
  t.ok(c.malformed! >= 2, `malformed ${c.malformed}`)
  t.equal(c.oversize, 1, 'oversize')
  t.ok(c.discardedBytes! >= 2_000, `discarded ${c.discardedBytes}`)
  t.equal(reader.status().connected, true, 'still connected')
})

t.test('a listener that throws does not take the reader down', async (t) => {
  const { sim, reader } = setup(t)
  await openAndIdentify(reader)
  const second = waitFor<[TagInfo]>(reader, 'tag', (tag) => tag.uid === '01020304')
  reader.on('tag', () => {
    throw new Error('kiosk bug')
  })
  sim.peripheral(A).firmware.present('DEADBEEF', 'mifare-classic')
  sim.peripheral(A).firmware.present('01020304', 'ntag213')
  await second
  t.ok(reader.status().counters.errors! >= 1)
  t.equal(reader.status().connected, true)
})

t.test('connection dropped: pending feedback is rejected, the reader is found again, re-identified and works', async (t) => {
  const { sim, reader, errors } = setup(t)
  await openAndIdentify(reader)
  const p = sim.peripheral(A)
  p.firmware.misbehave.dropAcks = true
  const pending = reader.feedback({ led: 'green', beep: 'short', durationMs: 10 })
  await waitFor(p.firmware, 'feedback')
  const down = waitFor<[ReaderStatus]>(reader, 'status', (s) => !s.connected)
  p.dropConnection()
  await t.rejects(pending, /disconnected/)
  t.notOk((await down)[0].device, 'device info dropped while disconnected')
  t.ok(errors.some((e) => /aa:bb:cc:dd:ee:01 disconnected/.test(e.message)), 'the loss was reported')

  p.firmware.misbehave.dropAcks = false
  await waitFor(reader, 'status', connectedWithDevice)
  const c = reader.status().counters
  t.equal(c.reconnects, 1)
  t.equal(c.disconnects, 1)
  t.equal(p.counters.connections, 2)
  await reader.feedback({ led: 'green', beep: 'none', durationMs: 10 })
  t.equal(p.firmware.feedbackLog.length, 2, 'works again')
  const tag = waitFor<[TagInfo]>(reader, 'tag')
  p.firmware.present('04A1B2C3D4E5F6', 'ntag215')
  t.equal((await tag)[0].uid, '04A1B2C3D4E5F6')
})

t.test('a reader switched off is waited for and picked up when it is switched on', async (t) => {
  const { sim, reader } = setup(t, { sim: { peripherals: [{ address: A, poweredOff: true }] }, reader: { scanTimeoutMs: 50 } })
  const missing = waitFor<[Error]>(reader, 'readerError', (e) => /not found within 50 ms; still scanning/.test(e.message))
  await reader.open()
  await missing
  t.equal(reader.status().connected, false)
  t.ok(reader.status().counters.scanRestarts! >= 1)
  sim.peripheral(A).powerOn()
  await waitFor(reader, 'status', connectedWithDevice)
  t.equal(reader.status().counters.reconnects, 0, 'a first connection is not a reconnect')
})

t.test('the Bluetooth adapter powered off: connections drop, the reader waits, and reconnects once it is on', async (t) => {
  const { sim, reader } = setup(t)
  await openAndIdentify(reader)
  const waiting = waitFor<[Error]>(reader, 'readerError', (e) => /Bluetooth adapter is poweredOff; waiting/.test(e.message))
  const down = waitFor<[ReaderStatus]>(reader, 'status', (s) => !s.connected)
  sim.setAdapterState('poweredOff')
  await down
  await waiting
  t.equal(sim.peripheral(A).connected, false)
  await t.rejects(reader.feedback({ led: 'green', beep: 'short', durationMs: 10 }), /not connected/)
  const up = waitFor(reader, 'status', connectedWithDevice)
  sim.setAdapterState('poweredOn')
  await up
  t.equal(reader.status().counters.reconnects, 1)
  await reader.feedback({ led: 'green', beep: 'short', durationMs: 10 })
})

t.test('an adapter that is off at open() is waited for', async (t) => {
  const { sim, reader } = setup(t, { sim: { adapterState: 'poweredOff' } })
  const waiting = waitFor<[Error]>(reader, 'readerError', (e) => /poweredOff/.test(e.message))
  await reader.open()
  await waiting
  t.equal(sim.scanning, false)
  const up = waitFor(reader, 'status', connectedWithDevice)
  sim.setAdapterState('poweredOn')
  await up
})

t.test('a failed connection attempt is counted, reported and retried', async (t) => {
  const { sim, reader } = setup(t)
  const bindings = sim.bindings as EventEmitter & { connect(uuid: string): void }
  const realConnect = bindings.connect.bind(bindings)
  let refused = 0
  bindings.connect = (uuid: string) => {
    if (refused++ < 2) setImmediate(() => bindings.emit('connect', uuid, new Error('connection failed to be established (0x3e)')))
    else realConnect(uuid)
  }
  const reported = waitFor<[Error]>(reader, 'readerError', (e) => /cannot connect to BLE reader aa:bb:cc:dd:ee:01: connect failed/.test(e.message))
  const up = waitFor(reader, 'status', connectedWithDevice)
  await reader.open()
  await reported
  await up
  t.equal(reader.status().counters.connectFailures, 2)
})

t.test('a reader without the UART characteristics is refused and retried, never half-connected', async (t) => {
  const { sim, reader, errors } = setup(t, { reader: { reconnectDelayMs: 10_000 } })
  const bindings = sim.bindings as EventEmitter & { discoverCharacteristics(uuid: string, service: string): void }
  bindings.discoverCharacteristics = (uuid: string, service: string) => setImmediate(() => bindings.emit('characteristicsDiscover', uuid, service, []))
  const reported = waitFor<[Error]>(reader, 'readerError')
  await reader.open()
  t.match((await reported)[0].message, /lacks its RX or TX characteristic/)
  t.equal(reader.status().connected, false)
  t.equal(errors.length, 1)
  t.equal(reader.status().counters.connectFailures, 1)
})

t.test('two configured readers: both connect, and feedback goes to the one the guest tapped', async (t) => {
  const { sim, reader } = setup(t, { sim: { peripherals: [{ address: A, serial: 'SN-A' }, { address: B, serial: 'SN-B' }] }, reader: { addresses: [A, B.toLowerCase()] } })
  await reader.open()
  for (let i = 0; i < 500 && !(sim.peripheral(A).subscribed && sim.peripheral(B).subscribed); i++) await new Promise((r) => setTimeout(r, 5))
  t.ok(sim.peripheral(A).subscribed && sim.peripheral(B).subscribed, 'both connected')
  const tag = waitFor<[TagInfo]>(reader, 'tag')
  sim.peripheral(B).firmware.present('04A1B2C3D4E5F6', 'ntag215')
  await tag
  await reader.feedback({ led: 'green', beep: 'short', durationMs: 10 })
  t.equal(sim.peripheral(B).firmware.feedbackLog.length, 1)
  t.equal(sim.peripheral(A).firmware.feedbackLog.length, 0)
})

t.test('noble unavailable (EAFNOSUPPORT on import): a clear error, status disconnected, no crash', async (t) => {
  const reader = createBleReader({
    addresses: [A],
    logger,
    loadNoble: async () => {
      throw Object.assign(new Error('EAFNOSUPPORT, Address family not supported by protocol'), { code: 'EAFNOSUPPORT' })
    },
  })
  t.teardown(() => reader.close())
  const reported = waitFor<[Error]>(reader, 'readerError')
  await reader.open()
  t.match((await reported)[0].message, /^BLE is unavailable on this machine: EAFNOSUPPORT/)
  t.match(reader.status(), { kind: 'ble', connected: false })
  await t.rejects(reader.feedback({ led: 'green', beep: 'short', durationMs: 10 }), /not connected/)
  await reader.close()
})

// Where the import works (a machine with Bluetooth) there is nothing to check here.
const nobleImportFails = await import('@abandonware/noble').then(
  () => false,
  () => true,
)

t.test('the default loader on a machine without Bluetooth reports BLE unavailable', { skip: nobleImportFails ? false : 'this machine has Bluetooth' }, async (t) => {
  const reader = createBleReader({ addresses: [A], logger })
  t.teardown(() => reader.close())
  const reported = waitFor<[Error]>(reader, 'readerError')
  await reader.open()
  t.match((await reported)[0].message, /^BLE is unavailable on this machine: /)
  t.equal(reader.status().connected, false)
})

t.test('close(): disconnects, rejects pending feedback, stops scanning and stays closed', async (t) => {
  const { sim, reader, noble } = setup(t)
  await openAndIdentify(reader)
  sim.peripheral(A).firmware.misbehave.dropAcks = true
  const pending = reader.feedback({ led: 'red', beep: 'long', durationMs: 10 })
  await waitFor(sim.peripheral(A).firmware, 'feedback')
  const rejected = t.rejects(pending, /closed/)
  await reader.close()
  await rejected
  t.equal(sim.peripheral(A).connected, false)
  t.equal(sim.scanning, false)
  t.equal(reader.status().connected, false)
  t.equal(noble.listenerCount('discover'), 0, 'its listeners are off the shared noble')
  // switched off and on again while closed: nobody reconnects
  sim.peripheral(A).dropConnection()
  await new Promise((r) => setTimeout(r, 100)) // several reconnect delays
  t.equal(sim.peripheral(A).counters.connections, 1)
  // and it can be opened again
  await openAndIdentify(reader)
  t.equal(sim.peripheral(A).counters.connections, 2)
})

t.test('close() while noble is still loading leaves nothing running', async (t) => {
  const sim = createSimulatedBleBindings({ peripherals: [{ address: A }] })
  const noble = createNobleWithBindings<NobleLike>(sim.bindings)
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const reader = createBleReader({ addresses: [A], logger, reconnectDelayMs: 20, loadNoble: async () => (await gate, noble) })
  const opening = reader.open()
  const closing = reader.close()
  release()
  await opening
  await closing
  t.equal(noble.listenerCount('discover'), 0)
  t.equal(sim.scanning, false)
  t.equal(sim.peripheral(A).counters.connections, 0)
})

t.test('reader addresses are validated', async (t) => {
  t.equal(normaliseBleAddress(' AA:BB:CC:DD:EE:0F '), 'aa:bb:cc:dd:ee:0f')
  t.equal(normaliseBleAddress('AA-BB-CC-DD-EE-0F'), null)
  t.equal(normaliseBleAddress('AA:BB:CC:DD:EE'), null)
  t.throws(() => createBleReader({ addresses: [], logger }), /at least one reader address/)
  t.throws(() => createBleReader({ addresses: ['hello'], logger }), /AA:BB:CC:DD:EE:FF, got "hello"/)
  t.throws(() => createBleReader({ addresses: [A, A.toLowerCase()], logger }), /listed twice/)
  t.throws(() => createBleReader({ addresses: [A], logger, writeChunkBytes: 0 }), /writeChunkBytes/)
})

t.test('the one-reader simulated link the demo uses plugs straight into the adapter', async (t) => {
  const link = createSimulatedBleReaderLink({ address: 'aa:bb:cc:dd:ee:42', serial: 'SIM-BLE' })
  t.equal(link.address, 'AA:BB:CC:DD:EE:42')
  const reader = createBleReader({ addresses: [link.address], logger, loadNoble: link.loadNoble, reconnectDelayMs: 20 })
  t.teardown(() => reader.close())
  await openAndIdentify(reader)
  t.match(reader.status().device, { serial: 'SIM-BLE' })
  const tag = waitFor<[TagInfo]>(reader, 'tag')
  link.firmware.present('04A1B2C3D4E5F6', 'ntag215')
  t.equal((await tag)[0].uid, '04A1B2C3D4E5F6')
  await reader.close()
  await openAndIdentify(reader) // a second open reuses the same noble
  t.equal(link.peripheral.counters.connections, 2)
})

t.test('a write that never completes drops the connection, which is then set up again', async (t) => {
  const { sim, reader } = setup(t, { reader: { ackTimeoutMs: 100 } })
  await openAndIdentify(reader)
  const bindings = sim.bindings as EventEmitter & { write(...args: unknown[]): void }
  const realWrite = bindings.write.bind(bindings)
  bindings.write = () => {} // the controller swallows the write: no completion, ever
  const lost = waitFor<[Error]>(reader, 'readerError', (e) => /was not completed within 100 ms/.test(e.message))
  const feedback = t.rejects(reader.feedback({ led: 'green', beep: 'short', durationMs: 10 }), /disconnected|did not acknowledge/)
  await lost
  await feedback
  t.equal(reader.status().counters.writeTimeouts, 1)
  bindings.write = realWrite
  await waitFor(reader, 'status', connectedWithDevice)
  await reader.feedback({ led: 'green', beep: 'short', durationMs: 10 })
  t.equal(reader.status().counters.reconnects, 1)
})

t.test("a secure tag's SUN message arrives over several notifications and is passed on intact", async (t) => {
  const { sim, reader } = setup(t)
  await openAndIdentify(reader)
  const notificationsBefore = sim.peripheral(A).counters.notifications
  const tag = waitFor<[TagInfo]>(reader, 'tag')
  const sun = { piccData: 'EF963FF7828658A599F3041510671E88', cmac: '94EED9EE65337086' }
  sim.peripheral(A).firmware.present('04DE5F1EACC040', 'ntag424', sun)
  t.same((await tag)[0], { uid: '04DE5F1EACC040', type: 'ntag424', sun })
  t.ok(sim.peripheral(A).counters.notifications - notificationsBefore >= 2, 'the frame did not fit one notification')
})
