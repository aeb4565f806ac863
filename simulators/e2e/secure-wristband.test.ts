// End to end with a secure wristband: a simulated NTAG 424 DNA read by the
// simulated reader board, the kiosk daemon's serial adapter, real MQTT, and
// the gateway checking the SUN message. A genuine tap pays; the same SUN
// message played again is refused as tag_replayed.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { systemClock } from '../../device-protocol/index.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { createKioskDaemon } from '../../daemon/app.js'
import type { Outcome } from '../../daemon/kiosk.js'
import { createSerialReader } from '../../daemon/reader/serial-reader.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import { kioskDaemonConfig, startLoopbackGateway } from './kiosk-harness.js'
import { createSimulatedNtag424 } from '../ntag424-tag.js'
import { createMockReaderLink } from '../reader-firmware.js'

const silent = pino({ level: 'silent' })
const GUEST = '04C767F2066180'
const META = randomBytes(16)
const FILE = randomBytes(16)

t.test('a secure wristband through the serial reader: genuine tap accepted, replayed SUN refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-sun-e2e-'))
  const token = randomBytes(24).toString('base64url')
  const setup: EventSetup = {
    event: { name: 'sun e2e', currency: 'EUR' },
    tagPolicy: { acceptedTypes: ['ntag424'], requireSun: true, sun: { metaReadKey: META.toString('hex'), fileReadKey: FILE.toString('hex') } },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
    kiosks: [{ id: 'bar-1', booth: 'bar', token, saleAllowed: true, topupAllowed: true }],
    wristbands: [{ uid: GUEST, pin: 'SECURE2345' }],
  }
  const gateway = await startLoopbackGateway({ dir, setup, logger: silent })
  const readerLink = createMockReaderLink({ path: '/dev/ttySUN-bar', model: 'wristpay-r1', firmware: '1.0.0', serial: 'SUN-1' })
  const serialReader = createSerialReader({ path: readerLink.path, binding: readerLink.binding, logger: silent, ackTimeoutMs: 500, reconnectDelayMs: 100 })
  const bar = await createKioskDaemon({
    config: kioskDaemonConfig({
      kioskId: 'bar-1',
      token,
      mqttUrl: `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`,
      dataDir: join(dir, 'bar-1'),
      overrides: { replyTimeoutMs: 5_000, tapTimeoutMs: 5_000 },
    }),
    logger: silent,
    clock: systemClock,
    reader: serialReader,
  })
  t.teardown(async () => {
    await bar.stop()
    await gateway.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  gateway.ledger.registry.enrollKiosk('bar-1', bar.publicKeyBase64Url)
  await bar.start()
  await waitUntil(() => bar.status().connected && bar.status().config !== null && bar.status().chain.status === 'intact', 'the kiosk connected with its config and its chain checked', 500, 20)
  await waitUntil(() => serialReader.status().connected, 'the serial reader is connected', 500, 20)

  const wristband = createSimulatedNtag424({ uid: GUEST, metaReadKey: META, fileReadKey: FILE, counter: 41 })
  const listenersIdle = serialReader.listenerCount('tag')
  /** The cashier rang it up; once the kiosk listens, the guest taps (present) and takes the wristband away after the answer. */
  async function tap(operation: Promise<Outcome>, present: () => void): Promise<Outcome> {
    await waitUntil(() => serialReader.listenerCount('tag') > listenersIdle, 'the kiosk waits for a tap', 500, 5)
    present()
    try {
      return await operation
    } finally {
      readerLink.firmware.remove()
    }
  }
  const topUp = await tap(bar.kiosk.topUp(2_000), () => readerLink.firmware.presentSecure(wristband))
  t.match(topUp, { status: 'accepted', balance: 2_000 })

  let sun = { piccData: '', cmac: '' }
  const sale = await tap(bar.kiosk.sale([{ product: 'beer', qty: 1 }]), () => (sun = readerLink.firmware.presentSecure(wristband)))
  t.match(sale, { status: 'accepted', balance: 1_550 })
  t.same(gateway.ledger.transaction(sale.id)?.envelope.tx.tag, { uid: GUEST, type: 'ntag424', sun }, 'the SUN went from the reader into the signed transaction')
  t.equal(wristband.counter, 43)

  // A recorded tap played again: the same tagPresent message, SUN and all.
  const replay = await tap(bar.kiosk.sale([{ product: 'beer', qty: 1 }]), () => readerLink.firmware.present(GUEST, 'ntag424', sun))
  t.match(replay, { status: 'rejected', reason: 'tag_replayed' })
  t.equal(gateway.ledger.balanceOf(GUEST), 1_550, 'nothing booked')
  await waitUntil(() => readerLink.firmware.feedbackLog.some((f) => f.led === 'red'), 'the reader shows red', 500, 20)

  // A tag that only copies the UID (no SUN) is refused as not authentic.
  const clone = await tap(bar.kiosk.sale([{ product: 'beer', qty: 1 }]), () => readerLink.firmware.present(GUEST, 'ntag424'))
  t.match(clone, { status: 'rejected', reason: 'tag_not_authentic' })

  const again = await tap(bar.kiosk.sale([{ product: 'beer', qty: 1 }]), () => readerLink.firmware.presentSecure(wristband))
  t.match(again, { status: 'accepted', balance: 1_100 }, 'the genuine wristband pays again with its next read')
  t.same(gateway.ledger.checkInvariants(), [])
})
