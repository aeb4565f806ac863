import t from 'tap'
import fc from 'fast-check'
import crc16kermit from 'crc/crc16kermit'
import { ZVT_VECTORS } from './vectors.js'
import { createZvtDeframer, encodeZvtFrame, stuffDle, zvtCrc, type ZvtLinkEvent } from './transport.js'

const frames = (events: ZvtLinkEvent[]) => events.flatMap((e) => (e.kind === 'frame' ? [e.apdu] : []))
const kinds = (events: ZvtLinkEvent[]) => events.map((e) => (e.kind === 'badFrame' ? `bad:${e.reason}` : e.kind))

t.test('the CRC is CRC-16/KERMIT (reflected 0x8408, init 0) over APDU + ETX', async (t) => {
  t.equal(crc16kermit(Buffer.from('123456789')), 0x2189, 'catalogue check value')
  t.equal(zvtCrc(Buffer.from('800000', 'hex')), 0x1ff5, 'ACK APDU: F5 1F on the wire, as in ZVT traces')
})

t.test('every vector frames byte for byte, and deframes back to its APDU', async (t) => {
  for (const v of ZVT_VECTORS) {
    t.same(encodeZvtFrame(v.apdu), v.wire, `${v.name}: encode`)
    const r = createZvtDeframer().push(v.wire)
    t.same(frames(r.events), [v.apdu], `${v.name}: deframe`)
    t.equal(r.events.length, 1)
    t.equal(r.discardedBytes, 0)
  }
})

t.test('stuffing doubles DLE only', async (t) => {
  t.same(stuffDle(Buffer.from('10011010', 'hex')), Buffer.from('10100110101010', 'hex'))
  t.same(stuffDle(Buffer.from('0203', 'hex')), Buffer.from('0203', 'hex'))
})

t.test('a frame split at every offset is received exactly once', async (t) => {
  for (const v of ZVT_VECTORS) {
    for (let cut = 0; cut <= v.wire.length; cut++) {
      const d = createZvtDeframer()
      const events = [...d.push(v.wire.subarray(0, cut)).events, ...d.push(v.wire.subarray(cut)).events]
      if (events.length !== 1 || !frames(events)[0]?.equals(v.apdu)) t.fail(`${v.name} split at ${cut}: ${JSON.stringify(kinds(events))}`)
    }
  }
  const d = createZvtDeframer()
  const oneByOne = ZVT_VECTORS.flatMap((v) => [...v.wire].flatMap((b) => d.push(Buffer.of(b)).events))
  t.same(frames(oneByOne), ZVT_VECTORS.map((v) => v.apdu), 'byte by byte, all vectors back to back')
})

t.test('ACK and NAK bytes are events outside frames and data inside them', async (t) => {
  const completion = ZVT_VECTORS.find((v) => v.message.kind === 'completion')!
  const r = createZvtDeframer().push(Buffer.concat([Buffer.of(0x06), completion.wire, Buffer.of(0x15, 0x06)]))
  t.same(kinds(r.events), ['ack', 'frame', 'nak', 'ack'], 'the 06 inside "06 0F 00" is not an ACK')
})

t.test('noise is counted and skipped; a DLE followed by anything but STX is noise', async (t) => {
  const v = ZVT_VECTORS[0]!
  const r = createZvtDeframer().push(Buffer.concat([Buffer.from('hello', 'latin1'), Buffer.of(0x10, 0x41, 0x10, 0x10), v.wire, Buffer.of(0xff, 0x03)]))
  t.same(frames(r.events), [v.apdu])
  t.equal(r.discardedBytes, 5 + 4 + 2)
})

t.test('a bad CRC is reported, and the next good frame is still received', async (t) => {
  const v = ZVT_VECTORS[1]!
  const bad = Buffer.from(v.wire)
  bad[bad.length - 1] = bad[bad.length - 1]! ^ 0x01
  const r = createZvtDeframer().push(Buffer.concat([bad, v.wire]))
  t.same(kinds(r.events), ['bad:crc', 'frame'])
  t.same(frames(r.events), [v.apdu])
})

t.test('a stray DLE inside a frame drops the frame; the sender starting over mid-frame is followed', async (t) => {
  const v = ZVT_VECTORS[0]!
  const stray = Buffer.concat([Buffer.from('1002060010', 'hex'), Buffer.of(0x44, 0x55), v.wire])
  const r1 = createZvtDeframer().push(stray)
  t.same(kinds(r1.events), ['bad:stray-dle', 'frame'])
  const cut = Buffer.concat([v.wire.subarray(0, 5), v.wire])
  const r2 = createZvtDeframer().push(cut)
  t.same(kinds(r2.events), ['bad:restarted', 'frame'])
  t.same(frames(r2.events), [v.apdu])
})

t.test('an oversize frame is dropped whole, even with a stuffed DLE STX inside, then the next frame is received', async (t) => {
  const v = ZVT_VECTORS[0]!
  const big = encodeZvtFrame(Buffer.from('060120' + '00'.repeat(8) + '10021002' + '00'.repeat(10), 'hex'))
  const d = createZvtDeframer({ maxApduBytes: 9 })
  const r = d.push(Buffer.concat([big, v.wire]))
  t.same(kinds(r.events), ['bad:oversize', 'frame'])
  t.same(frames(r.events), [v.apdu])
})

t.test('property: any APDU survives framing and any chunking', async (t) => {
  t.doesNotThrow(() => fc.assert(
    fc.property(fc.uint8Array({ minLength: 3, maxLength: 300 }), fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 50 }), (apdu, sizes) => {
      const wire = encodeZvtFrame(apdu)
      const d = createZvtDeframer()
      const events: ZvtLinkEvent[] = []
      let i = 0
      let k = 0
      while (i < wire.length) {
        const n = sizes[k++ % sizes.length]!
        events.push(...d.push(wire.subarray(i, i + n)).events)
        i += n
      }
      return events.length === 1 && events[0]!.kind === 'frame' && events[0]!.apdu.equals(Buffer.from(apdu))
    }),
  ))
})

t.test('property: random bytes never throw, chunking does not change what is received, and noise without DLE never hides the next frame', async (t) => {
  t.doesNotThrow(() => fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), fc.integer({ min: 1, max: 17 }), (bytes, size) => {
      const whole = createZvtDeframer().push(bytes)
      const d = createZvtDeframer()
      const events: ZvtLinkEvent[] = []
      let discarded = 0
      for (let i = 0; i < bytes.length; i += size) {
        const r = d.push(bytes.subarray(i, i + size))
        events.push(...r.events)
        discarded += r.discardedBytes
      }
      return JSON.stringify(events) === JSON.stringify(whole.events) && discarded === whole.discardedBytes
    }),
  ))
  const v = ZVT_VECTORS[5]!
  t.doesNotThrow(() => fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (noise) => {
      const clean = Buffer.from(noise.filter((b) => b !== 0x10))
      const r = createZvtDeframer().push(Buffer.concat([clean, v.wire]))
      const got = frames(r.events)
      return got.length === 1 && got[0]!.equals(v.apdu) && r.events.every((e) => e.kind !== 'badFrame')
    }),
  ))
})
