// Unit tests of the PC/SC adapter with an injected fake nfc-pcsc: pcscd absent
// (no hang, nfc-pcsc never initialised), readers removed and re-added, PC/SC
// failing, hostile answers from readers, and feedback.
import t, { type Test } from 'tap'
import { EventEmitter } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import {
  GET_UID_APDU,
  PCSCD_NOT_RUNNING_MESSAGE,
  acr1252FeedbackCommands,
  acr122FeedbackApdu,
  createPcscReader,
  probePcscdSocket,
  tagTypeFromAtr,
  uidFromGetDataResponse,
  type NfcPcscModule,
  type NfcPcscReaderDevice,
  type PcscReaderOptions,
} from './pcsc-reader.js'
import type { ReaderStatus, TagInfo } from './reader.js'

const NTAG_ATR = Buffer.from('3B8F8001804F0CA0000003060300030000000068', 'hex')
const CLASSIC_ATR = Buffer.from('3B8F8001804F0CA000000306030001000000006A', 'hex')

class FakeDevice extends EventEmitter implements NfcPcscReaderDevice {
  autoProcessing = true
  card: unknown = null
  connection: unknown = null
  transmitted: Buffer[] = []
  controlled: Buffer[] = []
  /** What the next transmit answers (a Buffer, an Error to reject with, or a promise to wait on). */
  answer: (apdu: Buffer) => Buffer | Error | Promise<Buffer> = () => Buffer.from('04A1B2C3D4E5F69000', 'hex')
  constructor(readonly name: string) {
    super()
  }
  async transmit(data: Buffer): Promise<Buffer> {
    this.transmitted.push(Buffer.from(data))
    const a = this.answer(data)
    if (a instanceof Error) throw a
    return a
  }
  async control(data: Buffer): Promise<Buffer> {
    this.controlled.push(Buffer.from(data))
    return Buffer.from([0x90, 0x00])
  }
  /** A tag enters the field: nfc-pcsc connects and (autoProcessing off) emits 'card'. */
  present(atr = NTAG_ATR): void {
    this.card = { atr }
    this.connection = { protocol: 2 }
    this.emit('card', { atr, standard: 'TAG_ISO_14443_3', type: 'TAG_ISO_14443_3' })
  }
  leave(): void {
    const card = this.card
    this.card = null
    this.connection = null
    this.emit('card.off', { ...(card as object) })
  }
}

class FakeNfc extends EventEmitter {
  closed = false
  close(): void {
    this.closed = true
  }
}

function fakeNfcPcsc() {
  const instances: FakeNfc[] = []
  let loads = 0
  const module: NfcPcscModule = {
    NFC: class extends FakeNfc {
      constructor() {
        super()
        instances.push(this)
      }
    },
  }
  return {
    instances,
    get loads() {
      return loads
    },
    load: async () => {
      loads++
      return module
    },
  }
}

function waitFor<A extends unknown[]>(emitter: EventEmitter, event: string, accept: (...args: A) => boolean = () => true, timeoutMs = 5_000): Promise<A> {
  return new Promise((resolve, reject) => {
    const onEvent = (...args: unknown[]) => {
      if (!accept(...(args as A))) return
      cleanup()
      resolve(args as A)
    }
    const timer = setTimeout(() => (cleanup(), reject(new Error(`no matching '${event}' within ${timeoutMs} ms`))), timeoutMs)
    const cleanup = () => {
      clearTimeout(timer)
      emitter.off(event, onEvent)
    }
    emitter.on(event, onEvent)
  })
}

/** Resolves once pending promise callbacks (the adapter's UID reads) have run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** A Unix socket that stands in for pcscd's: the adapter only probes it. */
async function fakePcscdSocket(t: Test, dir: string): Promise<{ path: string; server: Server }> {
  const path = join(dir, 'pcscd.comm')
  const server = createServer((s) => s.destroy())
  await new Promise<void>((resolve) => server.listen(path, resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { path, server }
}

function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-pcsc-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function openWithReader(t: Test, extra: Partial<PcscReaderOptions> = {}, name = 'Generic PC/SC Reader 00 00') {
  const dir = tmp(t)
  const { path } = await fakePcscdSocket(t, dir)
  const fake = fakeNfcPcsc()
  const reader = createPcscReader({ logger: pino({ level: 'silent' }), pcscdSocketPath: path, pollMs: 20, loadNfcPcsc: fake.load, ...extra })
  t.teardown(() => reader.close())
  await reader.open()
  const nfc = fake.instances[0]!
  const device = new FakeDevice(name)
  nfc.emit('reader', device)
  return { reader, fake, nfc, device, path }
}

// ---- pure helpers ------------------------------------------------------------------

t.test('tagTypeFromAtr reads the PC/SC part 3 card name', async (t) => {
  t.equal(tagTypeFromAtr(NTAG_ATR), 'mifare-ultralight')
  t.equal(tagTypeFromAtr(CLASSIC_ATR), 'mifare-classic')
  t.equal(tagTypeFromAtr(Buffer.from('3B8180018080', 'hex')), 'iso14443a', 'ISO 14443-4 ATR')
  t.equal(tagTypeFromAtr(undefined), 'iso14443a')
  t.equal(tagTypeFromAtr(Buffer.alloc(0)), 'iso14443a')
  const wrongRid = Buffer.from(NTAG_ATR)
  wrongRid[8] = 0x99
  t.equal(tagTypeFromAtr(wrongRid), 'iso14443a', 'unknown registered application provider')
})

t.test('uidFromGetDataResponse accepts 4, 7 and 10 byte UIDs with 90 00 only', async (t) => {
  t.same(uidFromGetDataResponse(Buffer.from('04a1b2c3d4e5f69000', 'hex')), { uid: '04A1B2C3D4E5F6' })
  t.same(uidFromGetDataResponse(Buffer.from('DEADBEEF9000', 'hex')), { uid: 'DEADBEEF' })
  t.same(uidFromGetDataResponse(Buffer.from('00112233445566778899' + '9000', 'hex')), { uid: '00112233445566778899' })
  t.match(uidFromGetDataResponse(Buffer.from('6A81', 'hex')), { error: /6a81/ })
  t.match(uidFromGetDataResponse(Buffer.from('AABBCC9000', 'hex')), { error: /3 bytes/ })
  t.match(uidFromGetDataResponse(Buffer.from('90', 'hex')), { error: /shorter/ })
  t.match(uidFromGetDataResponse(Buffer.from('9000', 'hex')), { error: /0 bytes/ })
})

t.test('ACR122U LED/buzzer pseudo-APDU', async (t) => {
  t.same([...acr122FeedbackApdu({ led: 'green', beep: 'none', durationMs: 1000 })], [0xff, 0x00, 0x40, 0xac, 0x04, 10, 0, 1, 0x00], 'green for 1 s, silent')
  t.same([...acr122FeedbackApdu({ led: 'red', beep: 'error', durationMs: 900 })], [0xff, 0x00, 0x40, 0x5c, 0x04, 3, 1, 3, 0x01], 'red, three beeps')
  t.same([...acr122FeedbackApdu({ led: 'yellow', beep: 'short', durationMs: 2000 })], [0xff, 0x00, 0x40, 0xfc, 0x04, 1, 0, 1, 0x01], 'both LEDs, a short beep')
  t.equal(acr122FeedbackApdu({ led: 'off', beep: 'none', durationMs: 0 })[3], 0x0c, 'off: both final states off, no blinking')
  t.equal(acr122FeedbackApdu({ led: 'green', beep: 'long', durationMs: 1e9 })[5], 255, 'duration clamped to one byte')
})

t.test('ACR1252U escape commands', async (t) => {
  const [led, buzzer] = acr1252FeedbackCommands({ led: 'red', beep: 'short', durationMs: 500 })
  t.same([...led!], [0xe0, 0x00, 0x00, 0x29, 0x01, 0x01])
  t.same([...buzzer!], [0xe0, 0x00, 0x00, 0x28, 0x01, 10])
  t.equal(acr1252FeedbackCommands({ led: 'green', beep: 'none', durationMs: 500 }).length, 1, 'no buzzer command when silent')
})

// ---- pcscd absent -------------------------------------------------------------------

t.test('pcscd not running: clear error, nfc-pcsc never initialised, keeps checking, starts when pcscd appears', async (t) => {
  const dir = tmp(t)
  const path = join(dir, 'pcscd.comm')
  const fake = fakeNfcPcsc()
  const reader = createPcscReader({ logger: pino({ level: 'silent' }), pcscdSocketPath: path, pollMs: 20, loadNfcPcsc: fake.load })
  t.teardown(() => reader.close())
  const errors: Error[] = []
  reader.on('readerError', (err: Error) => errors.push(err))

  await reader.open()
  t.equal(errors[0]?.message, PCSCD_NOT_RUNNING_MESSAGE)
  t.equal(reader.status().connected, false)
  t.equal(reader.status().counters.pcscdDown, 1)
  t.equal(fake.loads, 0, 'nfc-pcsc not loaded: pcsclite() would block forever without pcscd')

  // A stale socket file (pcscd killed) is no daemon either.
  writeFileSync(path, '')
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(fake.instances.length, 0, 'a stale socket file does not count as pcscd')
  t.equal(errors.length, 1, 'the absence is reported once, not on every check')
  rmSync(path)

  const server = createServer((s) => s.destroy())
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const started = new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (fake.instances.length > 0) {
        clearInterval(timer)
        resolve()
      }
    }, 10)
  })
  await new Promise<void>((resolve) => server.listen(path, resolve))
  await started
  t.equal(fake.instances.length, 1, 'PC/SC started once pcscd answered')
})

t.test('probePcscdSocket: missing path, stale file, live socket', async (t) => {
  const dir = tmp(t)
  t.equal(await probePcscdSocket(join(dir, 'none')), false)
  writeFileSync(join(dir, 'file'), '')
  t.equal(await probePcscdSocket(join(dir, 'file')), false)
  const { path } = await fakePcscdSocket(t, dir)
  t.equal(await probePcscdSocket(path), true)
})

t.test('close() while waiting for pcscd stops the checks (the test ends by itself)', async (t) => {
  const dir = tmp(t)
  const fake = fakeNfcPcsc()
  const reader = createPcscReader({ logger: pino({ level: 'silent' }), pcscdSocketPath: join(dir, 'absent'), pollMs: 10, loadNfcPcsc: fake.load })
  await reader.open()
  await reader.close()
  t.equal(reader.status().connected, false)
})

t.test('nfc-pcsc missing: a clear error, no crash, no retry loop', async (t) => {
  const dir = tmp(t)
  const { path } = await fakePcscdSocket(t, dir)
  let loads = 0
  const reader = createPcscReader({
    logger: pino({ level: 'silent' }),
    pcscdSocketPath: path,
    pollMs: 10,
    loadNfcPcsc: async () => {
      loads++
      throw new Error("Cannot find module 'nfc-pcsc'")
    },
  })
  t.teardown(() => reader.close())
  const failed = waitFor<[Error]>(reader, 'readerError')
  await reader.open()
  t.match((await failed)[0].message, /nfc-pcsc could not be loaded.*libpcsclite-dev/)
  await new Promise((resolve) => setTimeout(resolve, 60))
  t.equal(loads, 1)
  t.equal(reader.status().counters.errors, 1)
})

// ---- readers and tags ---------------------------------------------------------------

t.test('a tag is reported with its UID (GET DATA) and type, then gone', async (t) => {
  const { reader, device } = await openWithReader(t)
  t.equal(device.autoProcessing, false, 'the adapter reads UIDs itself')
  t.equal(reader.status().connected, true)
  t.equal(reader.status().device?.model, 'Generic PC/SC Reader 00 00')

  const tag = waitFor<[TagInfo]>(reader, 'tag')
  device.present()
  t.same((await tag)[0], { uid: '04A1B2C3D4E5F6', type: 'mifare-ultralight' })
  t.same(device.transmitted[0], GET_UID_APDU)

  const gone = waitFor<[string]>(reader, 'tagGone')
  device.leave()
  t.same(await gone, ['04A1B2C3D4E5F6'])
  t.match(reader.status().counters, { cards: 1, tagsGone: 1 })
})

t.test('reader unplugged and plugged back in: tag gone, error, status, reconnect counted', async (t) => {
  const { reader, nfc, device } = await openWithReader(t)
  device.present()
  await waitFor(reader, 'tag')

  const events: string[] = []
  reader.on('tagGone', (uid: string) => events.push(`tagGone ${uid}`))
  reader.on('readerError', (err: Error) => events.push(`error ${err.message}`))
  reader.on('status', (s: ReaderStatus) => events.push(`status ${s.connected}`))
  device.emit('end')
  t.same(events, ['tagGone 04A1B2C3D4E5F6', 'error reader Generic PC/SC Reader 00 00 was removed', 'status false'])
  t.equal(reader.status().counters.readersLost, 1)

  device.emit('card', { atr: NTAG_ATR }) // a late event of the unplugged reader
  await settle()
  t.equal(reader.status().counters.cards, 1, 'events of a removed reader are ignored')

  const again = new FakeDevice('Generic PC/SC Reader 00 00')
  nfc.emit('reader', again)
  t.equal(reader.status().connected, true)
  t.equal(reader.status().counters.reconnects, 1)
  const tag = waitFor<[TagInfo]>(reader, 'tag')
  again.answer = () => Buffer.from('DEADBEEF9000', 'hex')
  again.present(CLASSIC_ATR)
  t.same((await tag)[0], { uid: 'DEADBEEF', type: 'mifare-classic' })
})

t.test('PC/SC failing (pcscd stopped): everything dropped, PC/SC restarted when pcscd answers', async (t) => {
  const { reader, fake, nfc, device } = await openWithReader(t)
  device.present()
  await waitFor(reader, 'tag')
  const gone = waitFor<[string]>(reader, 'tagGone')
  const failed = waitFor<[Error]>(reader, 'readerError')
  nfc.emit('error', new Error('SCardGetStatusChange error: RPC transport error.(0x80100013)'))
  t.same(await gone, ['04A1B2C3D4E5F6'])
  t.match((await failed)[0].message, /PC\/SC failed: .*RPC transport error/)
  t.equal(nfc.closed, true, 'the broken context is closed')
  t.equal(reader.status().connected, false)
  device.emit('end') // nfc-pcsc also ends the readers: no second report
  nfc.emit('error', new Error('late')) // nor for late errors of the old context
  t.equal(reader.status().counters.readersLost, 1)

  const restarted = new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (fake.instances.length === 2) {
        clearInterval(timer)
        resolve()
      }
    }, 5)
  })
  await restarted
  fake.instances[1]!.emit('reader', new FakeDevice('Generic PC/SC Reader 00 00'))
  t.equal(reader.status().connected, true)
  t.equal(reader.status().counters.reconnects, 1)
})

t.test('hostile and failing readers never crash the daemon', async (t) => {
  const { reader, device } = await openWithReader(t)
  const errors: string[] = []
  reader.on('readerError', (err: Error) => errors.push(err.message))
  const tags: TagInfo[] = []
  reader.on('tag', (tag: TagInfo) => tags.push(tag))

  device.emit('error', new Error('SCardConnect error: Card is unpowered'))
  device.answer = () => Buffer.from('6A81', 'hex')
  device.present()
  await settle()
  device.leave()
  device.answer = () => Buffer.from('AABBCC9000', 'hex') // 3-byte UID
  device.present()
  await settle()
  device.leave()
  device.answer = () => new Error('SCardTransmit error')
  device.present()
  await settle()
  device.leave()
  device.answer = () => Buffer.alloc(0)
  device.present()
  await settle()
  device.leave()

  t.same(tags, [], 'no tag from a bad answer')
  t.equal(reader.status().counters.uidErrors, 4)
  t.equal(reader.status().counters.errors, 1)
  t.equal(reader.status().counters.tagsGone, 0, 'no tagGone for a tag never reported')
  t.equal(errors.length, 5)
  t.match(errors[0], /Card is unpowered/)

  // A listener that throws is counted, not propagated into nfc-pcsc's native callback.
  reader.on('tag', () => {
    throw new Error('kiosk bug')
  })
  device.answer = () => Buffer.from('04A1B2C3D4E5F69000', 'hex')
  device.present()
  await settle()
  t.equal(tags.length, 1)
  t.equal(reader.status().counters.errors, 2)
})

t.test('a tag that leaves while its UID is being read is not reported', async (t) => {
  const { reader, device } = await openWithReader(t)
  let release: (b: Buffer) => void = () => {}
  device.answer = () => new Promise<Buffer>((resolve) => (release = resolve))
  const tags: TagInfo[] = []
  reader.on('tag', (tag: TagInfo) => tags.push(tag))
  device.present()
  await settle()
  device.leave()
  release(Buffer.from('04A1B2C3D4E5F69000', 'hex'))
  await settle()
  t.same(tags, [])
  t.equal(reader.status().counters.cards, 0)
})

t.test('readerName picks readers; others are ignored but cannot crash', async (t) => {
  const { reader, nfc, device } = await openWithReader(t, { readerName: /ACR122/ }, 'ACS ACR122U PICC Interface')
  const other = new FakeDevice('Virtual PCD 00 00')
  nfc.emit('reader', other)
  t.same(reader.readerNames(), ['ACS ACR122U PICC Interface'])
  other.emit('error', new Error('noise')) // has a listener: no throw
  other.present()
  await settle()
  t.equal(other.transmitted.length, 0, 'an ignored reader is not read')
  device.present()
  await waitFor(reader, 'tag')
})

t.test('a string readerName matches part of the name, any case', async (t) => {
  const { reader } = await openWithReader(t, { readerName: 'acr1252' }, 'ACS ACR1252 1S CL Reader PICC 00 00')
  t.equal(reader.status().connected, true)
})

// ---- feedback -------------------------------------------------------------------------

t.test('feedback: no-op on readers without LED commands, ACR122U pseudo-APDU, ACR1252U escapes, errors', async (t) => {
  t.test('generic reader: resolves without sending anything', async (t) => {
    const { reader, device } = await openWithReader(t)
    device.present()
    await waitFor(reader, 'tag')
    await reader.feedback({ led: 'green', beep: 'short', durationMs: 300 })
    t.equal(device.transmitted.length, 1, 'only the UID read')
    t.equal(reader.status().counters.feedbackSent, 0)
  })
  t.test('ACR122U with a card: FF 00 40 ...', async (t) => {
    const { reader, device } = await openWithReader(t, {}, 'ACS ACR122U PICC Interface 00 00')
    device.present()
    await waitFor(reader, 'tag')
    device.answer = () => Buffer.from('9000', 'hex')
    await reader.feedback({ led: 'red', beep: 'error', durationMs: 900 })
    t.same(device.transmitted[1], acr122FeedbackApdu({ led: 'red', beep: 'error', durationMs: 900 }))
    t.equal(reader.status().counters.feedbackSent, 1)

    device.answer = () => Buffer.from('6300', 'hex')
    await t.rejects(reader.feedback({ led: 'green', beep: 'none', durationMs: 100 }), /answered 6300/)
    t.equal(reader.status().counters.feedbackFailures, 1)
  })
  t.test('ACR122U without a card: skipped (needs a card connection)', async (t) => {
    const { reader, device } = await openWithReader(t, {}, 'ACS ACR122U PICC Interface 00 00')
    await reader.feedback({ led: 'green', beep: 'short', durationMs: 300 })
    t.equal(device.transmitted.length, 0)
  })
  t.test('ACR1252U: escape commands through control()', async (t) => {
    const { reader, device } = await openWithReader(t, {}, 'ACS ACR1252 1S CL Reader PICC 00 00')
    device.present()
    await waitFor(reader, 'tag')
    await reader.feedback({ led: 'green', beep: 'short', durationMs: 300 })
    t.same(device.controlled, acr1252FeedbackCommands({ led: 'green', beep: 'short', durationMs: 300 }))
  })
  t.test('feedbackMode none: never sends, even to an ACS reader', async (t) => {
    const { reader, device } = await openWithReader(t, { feedbackMode: 'none' }, 'ACS ACR122U PICC Interface 00 00')
    device.present()
    await waitFor(reader, 'tag')
    await reader.feedback({ led: 'green', beep: 'short', durationMs: 300 })
    t.equal(device.transmitted.length, 1)
  })
  t.test('no reader: rejects', async (t) => {
    const dir = tmp(t)
    const reader = createPcscReader({ logger: pino({ level: 'silent' }), pcscdSocketPath: join(dir, 'absent'), pollMs: 10, loadNfcPcsc: fakeNfcPcsc().load })
    t.teardown(() => reader.close())
    await t.rejects(reader.feedback({ led: 'green', beep: 'short', durationMs: 300 }), /not connected/)
  })
})

t.test('close() releases PC/SC and reports disconnected', async (t) => {
  const { reader, nfc } = await openWithReader(t)
  const disconnected = waitFor<[ReaderStatus]>(reader, 'status', (s) => !s.connected)
  await reader.close()
  await disconnected
  t.equal(nfc.closed, true)
  t.equal(reader.status().counters.readersLost, 0, 'closing on purpose is not a lost reader')
})
