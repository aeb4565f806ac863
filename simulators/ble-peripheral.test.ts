// The simulated BLE reader, driven through real noble (lib/noble) as the
// daemon's adapter drives it: these tests pin down that it behaves like a
// NUS peripheral where noble can see it.
import t from 'tap'
import { on, type EventEmitter } from 'node:events'
import { createDeframer, decodeFrame, decodeReaderMessage, encodeFrame, encodeReaderMessage } from '../device-protocol/index.js'
import { NUS_RX_UUID, NUS_SERVICE_UUID, NUS_TX_UUID, createNobleWithBindings, createSimulatedBleBindings } from './ble-peripheral.js'

// noble's own objects, as far as these tests use them.
interface Characteristic extends EventEmitter {
  uuid: string
  properties: string[]
  write(data: Buffer, withoutResponse: boolean, cb: () => void): void
  subscribe(cb: (err?: unknown) => void): void
}
interface Peripheral extends EventEmitter {
  address: string
  mtu: number | null
  advertisement: { localName: string; serviceUuids: string[] }
  connect(cb: (err?: unknown) => void): void
  disconnect(cb?: () => void): void
  discoverSomeServicesAndCharacteristics(s: string[], c: string[], cb: (err: unknown, services: unknown[], chars: Characteristic[]) => void): void
}
interface Noble extends EventEmitter {
  state: string
  startScanning(uuids: string[], dup: boolean, cb?: (err?: Error | null) => void): void
  stopScanning(): void
}

// The first `event` that `accept` takes; the timeout ends a broken test, it measures nothing.
// (node's own events.on, not the daemon's test helper: a device simulator's tests import no daemon code.)
async function waitFor<A extends unknown[]>(emitter: EventEmitter, event: string, accept: (...args: A) => boolean = () => true, timeoutMs = 5000): Promise<A> {
  for await (const args of on(emitter, event, { signal: AbortSignal.timeout(timeoutMs) })) {
    if (accept(...(args as A))) return args as A
  }
  throw new Error(`'${event}' ended without a match`)
}

const A = 'AA:BB:CC:DD:EE:01'
const B = 'AA:BB:CC:DD:EE:02'

function setup(t: { teardown(fn: () => unknown): void }, mtu?: number) {
  const sim = createSimulatedBleBindings({ peripherals: [{ address: A, name: 'reader A', serial: 'SN-A', ...(mtu ? { mtu } : {}) }, { address: B, serial: 'SN-B' }] })
  const noble = createNobleWithBindings<Noble>(sim.bindings)
  t.teardown(() => noble.stopScanning())
  return { sim, noble }
}

async function poweredOn(noble: Noble) {
  if (noble.state !== 'poweredOn') await waitFor(noble, 'stateChange', (s: string) => s === 'poweredOn')
}

async function connectTo(noble: Noble, address: string) {
  await poweredOn(noble)
  const found = waitFor<[Peripheral]>(noble, 'discover', (p) => p.address === address.toLowerCase())
  noble.startScanning([NUS_SERVICE_UUID], false)
  const [peripheral] = await found
  noble.stopScanning()
  await new Promise<void>((resolve, reject) => peripheral.connect((err) => (err ? reject(err) : resolve())))
  const chars = await new Promise<Characteristic[]>((resolve, reject) =>
    peripheral.discoverSomeServicesAndCharacteristics([NUS_SERVICE_UUID], [NUS_RX_UUID, NUS_TX_UUID], (err, _s, c) => (err ? reject(err) : resolve(c))),
  )
  const rx = chars.find((c) => c.uuid === NUS_RX_UUID)!
  const tx = chars.find((c) => c.uuid === NUS_TX_UUID)!
  return { peripheral, rx, tx }
}

/** Collects notification bytes and decodes them into reader messages. */
function collect(tx: Characteristic) {
  const deframer = createDeframer()
  const messages: unknown[] = []
  const pieces: number[] = []
  tx.on('data', (data: Buffer) => {
    pieces.push(data.length)
    for (const body of deframer.push(data).frames) {
      const frame = decodeFrame(body)
      if (frame.ok) {
        const m = decodeReaderMessage(frame.frame.type, frame.frame.payload)
        if (m.ok) messages.push(m.message)
      }
    }
  })
  return { messages, pieces }
}

async function until(check: () => boolean, what: string) {
  for (let i = 0; i < 500; i++) {
    if (check()) return
    await new Promise((r) => setTimeout(r, 5))
  }
  throw new Error(`timed out waiting for ${what}`)
}

t.test('advertises NUS with its address and name; noble finds only what matches the scan filter', async (t) => {
  const { noble } = setup(t)
  await poweredOn(noble)
  const seen = new Map<string, Peripheral>()
  noble.on('discover', (p: Peripheral) => seen.set(p.address, p))
  noble.startScanning(['180d'], false) // heart rate: nobody here
  await new Promise((r) => setTimeout(r, 30))
  t.equal(seen.size, 0, 'a scan for another service finds nothing')
  noble.startScanning([NUS_SERVICE_UUID], false)
  await until(() => seen.size === 2, 'two readers')
  t.match(seen.get('aa:bb:cc:dd:ee:01')!.advertisement, { localName: 'reader A', serviceUuids: [NUS_SERVICE_UUID] })
})

t.test('connect, discover RX/TX, subscribe: the firmware greets, and frames flow both ways in MTU-sized pieces', async (t) => {
  const { sim, noble } = setup(t)
  const { peripheral, rx, tx } = await connectTo(noble, A)
  t.equal(peripheral.mtu, 23)
  t.ok(rx.properties.includes('write'))
  t.ok(tx.properties.includes('notify'))
  const { messages, pieces } = collect(tx)
  await new Promise<void>((resolve, reject) => tx.subscribe((err) => (err ? reject(err) : resolve())))
  await until(() => messages.length === 1, 'hello')
  t.match(messages[0], { kind: 'hello', serial: 'SN-A' })
  t.ok(pieces.length > 1 && pieces.every((n) => n <= 20), `hello came in pieces of at most 20 bytes: ${pieces}`)

  // host → reader: one feedback frame, written in two pieces: the firmware reassembles it
  const frame = encodeFrame({ seq: 7, ...encodeReaderMessage({ kind: 'feedback', led: 'green', beep: 'short', durationMs: 100 }) })
  const fw = sim.peripheral(A).firmware
  await new Promise<void>((r) => rx.write(frame.subarray(0, 4), false, r))
  await new Promise<void>((r) => rx.write(frame.subarray(4), false, r))
  await until(() => fw.feedbackLog.length === 1, 'feedback applied')
  t.match(fw.feedbackLog[0], { seq: 7, led: 'green' })
  await until(() => messages.length === 2, 'ack')
  t.match(messages[1], { kind: 'feedbackAck', ackSeq: 7 })
  t.equal(sim.peripheral(A).counters.largestWriteBytes, Math.max(4, frame.length - 4))
  t.equal(sim.peripheral(A).counters.writes, 2)
})

t.test('a write longer than MTU - 3 is refused and counted, as a real stack would', async (t) => {
  const { sim, noble } = setup(t)
  const { rx, tx } = await connectTo(noble, A)
  await new Promise<void>((r) => tx.subscribe(() => r()))
  const frame = encodeFrame({ seq: 1, ...encodeReaderMessage({ kind: 'error', code: 1, text: 'x'.repeat(30) }) })
  t.ok(frame.length > 20)
  await new Promise<void>((r) => rx.write(frame, false, r))
  t.equal(sim.peripheral(A).counters.oversizeWrites, 1)
  t.equal(sim.peripheral(A).firmware.counters.framesReceived, 0, 'the firmware never saw it')
})

t.test('a larger MTU gives larger notification pieces', async (t) => {
  const { sim, noble } = setup(t, 64)
  const { peripheral, tx } = await connectTo(noble, A)
  t.equal(peripheral.mtu, 64)
  const { messages, pieces } = collect(tx)
  await new Promise<void>((r) => tx.subscribe(() => r()))
  await until(() => messages.length === 1, 'hello')
  sim.peripheral(A).firmware.sendMessage({ kind: 'error', code: 2, text: 'y'.repeat(60) })
  await until(() => messages.length === 2, 'error report')
  t.ok(pieces.some((n) => n > 20) && pieces.every((n) => n <= 61), `pieces: ${pieces}`)
})

t.test('dropConnection and powerOff disconnect the host; a powered-off reader does not advertise until powerOn', async (t) => {
  const { sim, noble } = setup(t)
  const a = sim.peripheral(A)
  const { peripheral } = await connectTo(noble, A)
  t.equal(a.connected, true)
  const dropped = waitFor<[number]>(peripheral, 'disconnect')
  a.dropConnection()
  t.equal((await dropped)[0], 0x08, 'supervision timeout')
  t.equal(a.connected, false)

  const again = await connectTo(noble, A)
  const off = waitFor(again.peripheral, 'disconnect')
  a.powerOff()
  await off
  const seen: string[] = []
  noble.on('discover', (p: Peripheral) => seen.push(p.address))
  noble.startScanning([NUS_SERVICE_UUID], true)
  await until(() => seen.includes('aa:bb:cc:dd:ee:02'), 'B advertising')
  await new Promise((r) => setTimeout(r, 120)) // a few advertising periods
  t.notOk(seen.includes('aa:bb:cc:dd:ee:01'), 'A is silent while off')
  a.powerOn()
  await until(() => seen.includes('aa:bb:cc:dd:ee:01'), 'A advertising again')
  t.equal(a.counters.connections, 2)
})

t.test('the firmware bytes are dropped, not queued, while nobody is subscribed', async (t) => {
  const { sim } = setup(t)
  const a = sim.peripheral(A)
  a.firmware.present('04A1B2C3D4E5F6', 'ntag215')
  t.ok(a.counters.droppedBytes > 0)
  t.equal(a.counters.notifications, 0)
})

t.test('the host adapter powered off: links drop, noble sees the state; a connect to an absent device fails', async (t) => {
  const { sim, noble } = setup(t)
  const { peripheral } = await connectTo(noble, B)
  const dropped = waitFor(peripheral, 'disconnect')
  const off = waitFor<[string]>(noble, 'stateChange')
  sim.setAdapterState('poweredOff')
  await dropped
  t.equal((await off)[0], 'poweredOff')
  t.equal(sim.scanning, false)
  const scanError = await new Promise<Error | null | undefined>((r) => noble.startScanning([NUS_SERVICE_UUID], false, r))
  t.match(scanError, /poweredOff/)
  const on = waitFor<[string]>(noble, 'stateChange')
  sim.setAdapterState('poweredOn')
  t.equal((await on)[0], 'poweredOn')
  sim.peripheral(B).powerOff()
  const err = await new Promise<unknown>((r) => peripheral.connect(r))
  t.match(err, /failed to be established/)
})

t.test('bad peripheral specs are refused', async (t) => {
  t.throws(() => createSimulatedBleBindings({ peripherals: [{ address: 'nope' }] }), /AA:BB:CC:DD:EE:FF/)
  t.throws(() => createSimulatedBleBindings({ peripherals: [{ address: A }, { address: A.toLowerCase() }] }), /two peripherals/)
  t.throws(() => createSimulatedBleBindings({ peripherals: [{ address: A, mtu: 10 }] }), /mtu/)
  t.throws(() => createSimulatedBleBindings({ peripherals: [{ address: A }] }).peripheral(B), /no simulated peripheral/)
})
