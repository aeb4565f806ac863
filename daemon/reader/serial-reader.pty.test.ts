// Integration: the serial reader adapter with the OS serial binding, talking to
// the simulated firmware through a real pseudo-terminal pair made by socat.
import t from 'tap'
import { waitForEvent } from '../testing/wait.js'
import type { EventEmitter } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { attachFirmwareToSerialPort, socatAvailable, startPtyPair } from '../../simulators/reader-firmware.js'
import { createSerialReader } from './serial-reader.js'
import type { ReaderStatus, TagInfo } from './reader.js'

const waitFor = <A extends unknown[]>(emitter: EventEmitter, event: string, accept: (...args: A) => boolean = () => true, timeoutMs = 10000) =>
  waitForEvent<A>(emitter, event, accept, timeoutMs)

const identified = (s: ReaderStatus) => s.connected && s.device !== undefined

const skip = socatAvailable() ? false : 'socat is not installed (apt-get install -y socat; CI installs it)'

t.test('serial reader over a real pty pair: identify, tag, feedback, and reconnect after the line is lost', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-pty-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  let pair = await startPtyPair({ dir })
  let device = await attachFirmwareToSerialPort({ path: pair.devicePath, model: 'WP-R1', firmware: '1.2.0', serial: 'PTY0001' })
  const reader = createSerialReader({ path: pair.hostPath, logger: pino({ level: 'silent' }), ackTimeoutMs: 5_000, reconnectDelayMs: 50 })
  t.teardown(async () => {
    await reader.close()
    await device.close()
    await pair.stop()
  })

  const up = waitFor<[ReaderStatus]>(reader, 'status', identified)
  await reader.open()
  t.match((await up)[0].device, { model: 'WP-R1', firmware: '1.2.0', serial: 'PTY0001' }, 'identified over the pty')

  const tag = waitFor<[TagInfo]>(reader, 'tag')
  device.firmware.present('04A1B2C3D4E5F6', 'ntag424')
  t.same((await tag)[0], { uid: '04A1B2C3D4E5F6', type: 'ntag424' })

  await reader.feedback({ led: 'green', beep: 'double', durationMs: 1200 })
  t.match(device.firmware.feedbackLog, [{ led: 'green', beep: 'double', durationMs: 1200 }])

  // The line goes away (socat dies: the pty vanishes), then comes back.
  // A generous bound: under a loaded CI machine the kernel's hang-up reaches the poller late.
  const down = waitFor<[ReaderStatus]>(reader, 'status', (s) => !s.connected, 30_000)
  await device.close()
  await pair.stop()
  await down
  t.equal(reader.status().connected, false, 'disconnected when the pty vanished')

  const back = waitFor<[ReaderStatus]>(reader, 'status', identified)
  pair = await startPtyPair({ dir })
  device = await attachFirmwareToSerialPort({ path: pair.devicePath, serial: 'PTY0002' })
  t.match((await back)[0].device, { serial: 'PTY0002' }, 'reopened and re-identified')
  t.equal(reader.status().counters.reconnects, 1)
  await reader.feedback({ led: 'red', beep: 'error', durationMs: 100 })
  t.equal(device.firmware.feedbackLog.length, 1)
})
