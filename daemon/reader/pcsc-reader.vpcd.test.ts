// Integration, for real: the PC/SC adapter with the real nfc-pcsc, a real pcscd
// and vsmartcard's virtual reader (vpcd), and the card simulator playing a tag
// on the virtual reader's socket. pcscd runs as a child process in a private
// network namespace when possible (see simulators/pcscd.ts), so vpcd's port is
// never reachable from the network.
import t from 'tap'
import { waitForEvent } from '../testing/wait.js'
import type { EventEmitter } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { pcscTools, probePcscd, startPcscd, type PcscdHandle } from '../../simulators/pcscd.js'
import { startVpcdCard } from '../../simulators/vpcd-card.js'
import { createPcscReader } from './pcsc-reader.js'
import type { ReaderStatus, TagInfo } from './reader.js'

const waitFor = <A extends unknown[]>(emitter: EventEmitter, event: string, accept: (...args: A) => boolean = () => true, timeoutMs = 20000) =>
  waitForEvent<A>(emitter, event, accept, timeoutMs)

const tools = pcscTools()
const nfcPcscBuilt = await import('nfc-pcsc' as string).then(
  () => true,
  () => false,
)
const skip = !tools.pcscd
  ? 'pcscd is not installed (CI: apt-get install -y pcscd vsmartcard-vpcd libpcsclite-dev)'
  : !tools.vpcdDriver
    ? 'the vpcd driver is not installed (CI: apt-get install -y vsmartcard-vpcd)'
    : !nfcPcscBuilt
      ? 'nfc-pcsc is not built (install libpcsclite-dev, then npm ci)'
      : process.getuid?.() !== 0 && !(await probePcscd())
        ? 'pcscd is not running and starting it needs root'
        : false

t.test('PC/SC adapter against a real pcscd + vpcd: tag, tag gone, feedback, and pcscd stopped and started again', { skip }, async (t) => {
  const logger = pino({ level: 'silent' })
  const bridgeDir = mkdtempSync(join(tmpdir(), 'wristpay-vpcd-test-'))
  let pcscd: PcscdHandle = await startPcscd({ bridgeDir })
  t.teardown(async () => {
    await pcscd.stop()
    rmSync(bridgeDir, { recursive: true, force: true })
  })
  t.comment(`pcscd ${pcscd.started ? 'started by the test' : 'already running'}, ${pcscd.isolated ? 'in a private network namespace' : 'vpcd on the host network'}`)

  // Feedback forced to the ACR122U commands: the virtual reader is not an ACS one, but the simulator answers them.
  const reader = createPcscReader({ logger, readerName: 'Virtual PCD', pollMs: 200, feedbackMode: 'acr122' })
  t.teardown(() => reader.close())
  const card = await startVpcdCard({ ...pcscd.vpcdEndpoint, uid: '04a1b2c3d4e5f6', present: false })
  t.teardown(() => card.close())

  const connected = waitFor<[ReaderStatus]>(reader, 'status', (s) => s.connected)
  await reader.open()
  const [status] = await connected
  t.match(status.device?.model, /^Virtual PCD/, 'the adapter sees the virtual reader')
  t.equal(status.kind, 'pcsc')

  const firstTag = waitFor<[TagInfo]>(reader, 'tag')
  await card.insert()
  const [tag] = await firstTag
  t.same(tag, { uid: '04A1B2C3D4E5F6', type: 'mifare-ultralight' }, 'UID read with GET DATA, upper-case; type from the ATR')
  t.ok(card.apduLog.some((apdu) => apdu.equals(Buffer.from('FFCA000000', 'hex'))), 'the card saw FF CA 00 00 00')

  await reader.feedback({ led: 'green', beep: 'short', durationMs: 500 })
  t.ok(card.apduLog.some((apdu) => apdu.subarray(0, 3).equals(Buffer.from('FF0040', 'hex'))), 'LED/buzzer pseudo-APDU reached the card slot')
  t.equal(reader.status().counters.feedbackSent, 1)

  const gone = waitFor<[string]>(reader, 'tagGone')
  await card.remove()
  t.same(await gone, ['04A1B2C3D4E5F6'], 'tag gone when the card leaves')

  const secondTag = waitFor<[TagInfo]>(reader, 'tag')
  await card.insert('DEADBEEF')
  t.equal((await secondTag)[0].uid, 'DEADBEEF', 'a new tag after the card came back')

  if (!pcscd.started) {
    t.comment('pcscd was already running: not stopping it, so the unplug/replug part is skipped')
    return
  }

  // "Unplug": pcscd and with it the virtual reader disappear.
  const lostTag = waitFor<[string]>(reader, 'tagGone')
  const disconnected = waitFor<[ReaderStatus]>(reader, 'status', (s) => !s.connected)
  const failed = waitFor<[Error]>(reader, 'readerError')
  await pcscd.stop()
  t.same(await lostTag, ['DEADBEEF'], 'the tag is gone with the reader')
  await disconnected
  t.ok((await failed)[0].message.length > 0, 'a readerError tells the kiosk')
  t.equal(reader.status().connected, false)

  // "Plug back in": pcscd starts again behind the same bridge; the card simulator redials by itself.
  const back = waitFor<[ReaderStatus]>(reader, 'status', (s) => s.connected)
  const tagAgain = waitFor<[TagInfo]>(reader, 'tag')
  pcscd = await startPcscd({ bridgeDir })
  await back
  t.equal((await tagAgain)[0].uid, 'DEADBEEF', 'the adapter picks the reader and the tag up again')
  const counters = reader.status().counters
  t.ok(counters.reconnects! >= 1, 'reconnect counted')
  t.ok(counters.readersLost! >= 1, 'lost reader counted')
  t.equal(counters.cards, 3, 'three tags read in all')
})
