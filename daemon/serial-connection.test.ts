import t from 'tap'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { createMockReaderLink, type MockBindingInterface } from '../simulators/reader-firmware.js'
import { waitUntil } from './testing/wait.js'
import { createSerialConnection, type SerialConnectionCounter } from './serial-connection.js'

let portNo = 0

/**
 * A device behind serialport's MockBinding (the simulated reader's link, used
 * here only as a byte pipe): unplug() makes reads fail, as when a USB device
 * goes, and opening fail until replug(). Counts the host's open attempts.
 */
function createMockDevice() {
  const link = createMockReaderLink({ path: `/dev/sim-serial-${++portNo}`, helloOnOpen: false })
  let opens = 0
  const binding: MockBindingInterface = {
    ...link.binding,
    open(openOptions) {
      opens++
      return link.binding.open(openOptions)
    },
  }
  return {
    path: link.path,
    binding,
    get opens() {
      return opens
    },
    /** What the host wrote. */
    get recording() {
      return link.recording
    },
    /** Bytes from the device to the host. */
    send: (bytes: Buffer) => link.firmware.sendRaw(bytes),
    unplug: () => link.unplug(),
    replug: () => link.replug(),
    set absent(value: boolean) {
      if (value) link.unplug()
      else link.replug()
    },
  }
}

/** The part of a tap test setup needs. */
interface Teardown {
  teardown(fn: () => unknown): void
}

function setup(t: Teardown) {
  const device = createMockDevice()
  const lines: { level: number; msg: string }[] = []
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string })
        callback()
      },
    }),
  )
  const counters: Record<SerialConnectionCounter, number> = { reconnects: 0, openFailures: 0, errors: 0 }
  const events = { opened: 0, lost: 0, statuses: 0, errors: [] as Error[], data: [] as Buffer[] }
  const connection = createSerialConnection({
    path: device.path,
    baudRate: 115_200,
    binding: device.binding,
    logger,
    reconnectDelayMs: 5,
    what: 'reader',
    counters,
    onOpen: () => events.opened++,
    onData: (chunk) => events.data.push(chunk),
    onLost: () => events.lost++,
    emitError: (err) => events.errors.push(err),
    emitStatus: () => events.statuses++,
  })
  t.teardown(() => connection.close())
  return { device, connection, counters, events, lines }
}

t.test('open: the port opens, bytes go both ways, close() closes it', async (t) => {
  const { device, connection, counters, events, lines } = setup(t)
  t.equal(connection.isOpen, false)
  await connection.open()
  t.equal(connection.isOpen, true)
  t.ok(connection.port)
  t.equal(events.opened, 1)
  t.same(counters, { reconnects: 0, openFailures: 0, errors: 0 })
  t.ok(lines.some((l) => l.msg === 'reader port open'))

  device.send(Buffer.from([1, 2, 3]))
  await waitUntil(() => events.data.length > 0, 'data from the port')
  t.same(Buffer.concat(events.data), Buffer.from([1, 2, 3]))

  connection.write(Buffer.from([4, 5]))
  await waitUntil(() => device.recording.length === 2, 'bytes written to the port')
  t.same(device.recording, Buffer.from([4, 5]))

  t.equal(await connection.close(), true)
  t.equal(connection.isOpen, false)
  t.equal(events.lost, 0, 'closing on purpose is not a loss')
  t.same(events.errors, [])
  t.equal(await connection.close(), false, 'closing twice is harmless')
})

t.test('open failure: reported once, counted every time, retried until the port appears', async (t) => {
  const { device, connection, counters, events, lines } = setup(t)
  device.absent = true
  await connection.open()
  t.equal(connection.isOpen, false, 'open() resolves after the first failed attempt')
  t.equal(counters.openFailures, 1)
  t.equal(events.errors.length, 1)
  t.match(events.errors[0]!.message, /^cannot open reader port \/dev\/sim-serial-\d+: .*No such file/)

  await waitUntil(() => counters.openFailures >= 3, 'more failed attempts')
  device.absent = false
  await waitUntil(() => connection.isOpen, 'the port to open')
  t.equal(events.opened, 1)
  t.equal(events.errors.length, 1, 'the streak is reported once')
  t.equal(counters.reconnects, 0, 'a first opening is not a reconnect')
  const failures = lines.filter((l) => /cannot open|still cannot be opened/.test(l.msg))
  t.equal(failures[0]!.level, 40, 'the first failure at warn')
  t.equal(failures[0]!.msg, 'cannot open the reader port; retrying')
  t.ok(failures.length >= 3)
  t.ok(
    failures.slice(1).every((l) => l.level === 20 && l.msg === 'reader port still cannot be opened'),
    'later ones at debug',
  )
})

t.test('unplug: the loss is reported, the port is reopened and the reconnect counted', async (t) => {
  const { device, connection, counters, events } = setup(t)
  await connection.open()
  t.equal(events.opened, 1)
  device.unplug()
  await waitUntil(() => events.lost === 1, 'the port to be lost')
  t.equal(connection.isOpen, false)
  t.equal(connection.port, null)
  t.ok(events.errors.some((e) => e.message.startsWith(`reader port ${device.path} closed`)))
  t.ok(events.statuses >= 1, 'status emitted after the loss')

  await waitUntil(() => counters.openFailures >= 1, 'a failed reopening while unplugged')
  device.replug()
  await waitUntil(() => connection.isOpen, 'the port to be reopened')
  t.equal(events.opened, 2)
  t.equal(counters.reconnects, 1)

  // And it still works.
  device.send(Buffer.from('hi'))
  await waitUntil(() => events.data.length > 0, 'data after the reconnect')
  t.same(Buffer.concat(events.data).toString(), 'hi')
})

t.test('close() stops the retrying', async (t) => {
  const { device, connection, counters, events } = setup(t)
  device.absent = true
  await connection.open()
  await waitUntil(() => counters.openFailures >= 2, 'a retry')
  await connection.close()
  const opens = device.opens
  const failures = counters.openFailures
  // Many reconnect delays' worth of turns of the event loop: nothing more happens.
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal(device.opens, opens, 'no open attempt after close()')
  t.equal(counters.openFailures, failures)
  t.equal(connection.isOpen, false)

  // The device appearing later does not matter either; a new open() starts afresh.
  device.absent = false
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal(connection.isOpen, false)
  t.equal(events.opened, 0)
  await connection.open()
  t.equal(connection.isOpen, true)
  t.equal(counters.reconnects, 0, 'an open() after close() is not a reconnect')
})

t.test('close() while unplugged stops the reopening too', async (t) => {
  const { device, connection, counters, events } = setup(t)
  await connection.open()
  device.unplug()
  await waitUntil(() => events.lost === 1, 'the port to be lost')
  await connection.close()
  const opens = device.opens
  device.replug()
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal(device.opens, opens, 'no open attempt after close()')
  t.equal(connection.isOpen, false)
  t.equal(counters.reconnects, 0)
})
