import t from 'tap'
import fc from 'fast-check'
import crc16ccitt from 'crc/crc16ccitt'
import {
  MAX_FRAME_BYTES,
  MAX_FRAME_PAYLOAD_BYTES,
  cobsDecode,
  cobsEncode,
  createDeframer,
  decodeFrame,
  encodeFrame,
  encodeFrameBody,
  maxEncodedBytes,
} from './frame.js'
import { READER_VECTORS } from './reader-vectors.js'

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

t.test('crc16ccitt is CRC-16/CCITT-FALSE (check value 0x29B1)', async (t) => {
  t.equal(crc16ccitt(Buffer.from('123456789')), 0x29b1)
})

t.test('COBS matches the published examples both ways', async (t) => {
  // From Cheshire & Baker / Wikipedia "Consistent Overhead Byte Stuffing".
  const examples: [number[], number[]][] = [
    [[], [0x01]],
    [[0x00], [0x01, 0x01]],
    [[0x00, 0x00], [0x01, 0x01, 0x01]],
    [[0x00, 0x11, 0x00], [0x01, 0x02, 0x11, 0x01]],
    [[0x11, 0x22, 0x00, 0x33], [0x03, 0x11, 0x22, 0x02, 0x33]],
    [[0x11, 0x22, 0x33, 0x44], [0x05, 0x11, 0x22, 0x33, 0x44]],
    [[0x11, 0x00, 0x00, 0x00], [0x02, 0x11, 0x01, 0x01, 0x01]],
    [range(0x01, 0xfe), [0xff, ...range(0x01, 0xfe)]],
    [[0x00, ...range(0x01, 0xfe)], [0x01, 0xff, ...range(0x01, 0xfe)]],
    [range(0x01, 0xff), [0xff, ...range(0x01, 0xfe), 0x02, 0xff]],
    [[...range(0x02, 0xff), 0x00], [0xff, ...range(0x02, 0xff), 0x01, 0x01]],
    [[...range(0x03, 0xff), 0x00, 0x01], [0xfe, ...range(0x03, 0xff), 0x02, 0x01]],
  ]
  for (const [plain, encoded] of examples) {
    t.same([...cobsEncode(Buffer.from(plain))], encoded, `encode ${plain.length} bytes`)
    t.same([...(cobsDecode(Buffer.from(encoded)) ?? [])], plain, `decode ${encoded.length} bytes`)
  }
})

t.test('COBS round-trips any bytes, never emits 0x00 and stays within the stated bound', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 700 }), (data) => {
      const encoded = cobsEncode(data)
      return !encoded.includes(0) && encoded.length <= maxEncodedBytes(data.length) && Buffer.compare(cobsDecode(encoded)!, Buffer.from(data)) === 0
    }),
    { numRuns: 300 },
  )
  t.pass('property held')
})

t.test('invalid COBS is refused, not decoded', async (t) => {
  t.equal(cobsDecode(Buffer.from([0x05, 0x11, 0x22])), null, 'block longer than the data')
  t.equal(cobsDecode(Buffer.from([0x03, 0x11, 0x00])), null, 'zero inside a block')
  t.equal(cobsDecode(Buffer.from([0x00])), null, 'zero code byte')
})

t.test('every vector: encodeFrame gives the wire bytes, deframe + decodeFrame gives the frame back', async (t) => {
  for (const v of READER_VECTORS) {
    const payload = v.body.subarray(3, v.body.length - 2)
    const type = v.body[2]!
    t.same(encodeFrameBody({ seq: v.seq, type, payload }), v.body, `${v.name}: body`)
    t.same(encodeFrame({ seq: v.seq, type, payload }), v.wire, `${v.name}: wire`)
    const { frames, discardedBytes } = createDeframer().push(v.wire)
    t.equal(frames.length, 1, `${v.name}: one frame`)
    t.equal(discardedBytes, 0)
    t.same(frames[0], v.body, `${v.name}: deframed body`)
    t.same(decodeFrame(frames[0]!), { ok: true, frame: { seq: v.seq, type, payload: Buffer.from(payload) } }, `${v.name}: decoded`)
  }
})

t.test('decodeFrame names what is wrong', async (t) => {
  const good = encodeFrameBody({ seq: 9, type: 2, payload: Buffer.from([1, 2, 3]) })
  t.match(decodeFrame(good.subarray(0, 4)), { ok: false, error: 'short' })
  const flipped = Buffer.from(good)
  flipped[4]! ^= 0x01
  t.match(decodeFrame(flipped), { ok: false, error: 'crc' })
  const badCrcByte = Buffer.from(good)
  badCrcByte[badCrcByte.length - 1]! ^= 0xff
  t.match(decodeFrame(badCrcByte), { ok: false, error: 'crc' })
  // version 2 with a correct CRC: a future protocol, refused by name
  const v2 = Buffer.from(good)
  v2[0] = 2
  v2.writeUInt16BE(crc16ccitt(v2.subarray(0, v2.length - 2)), v2.length - 2)
  t.match(decodeFrame(v2), { ok: false, error: 'version' })
  t.match(decodeFrame(Buffer.alloc(MAX_FRAME_BYTES + 1)), { ok: false, error: 'oversize' })
  t.match(decodeFrame(new Uint8Array(0)), { ok: false, error: 'short' })
})

t.test('encodeFrame refuses values our own code must not produce', async (t) => {
  t.throws(() => encodeFrame({ seq: 256, type: 1 }), RangeError)
  t.throws(() => encodeFrame({ seq: -1, type: 1 }), RangeError)
  t.throws(() => encodeFrame({ seq: 1.5, type: 1 }), RangeError)
  t.throws(() => encodeFrame({ seq: 1, type: 300 }), RangeError)
  t.throws(() => encodeFrame({ seq: 1, type: 1, payload: Buffer.alloc(MAX_FRAME_PAYLOAD_BYTES + 1) }), RangeError)
  const largest = encodeFrame({ seq: 1, type: 1, payload: Buffer.alloc(MAX_FRAME_PAYLOAD_BYTES, 0xaa) })
  const { frames, oversize } = createDeframer().push(largest)
  t.equal(frames.length, 1, 'the largest allowed frame passes the deframer')
  t.equal(oversize, 0)
  t.match(decodeFrame(frames[0]!), { ok: true })
})

// ---- hostile input ------------------------------------------------------------

const allWire = Buffer.concat(READER_VECTORS.map((v) => v.wire))

t.test('a frame split at every byte offset is still found exactly once', async (t) => {
  for (const v of READER_VECTORS) {
    for (let cut = 0; cut <= v.wire.length; cut++) {
      const d = createDeframer()
      const a = d.push(v.wire.subarray(0, cut))
      const b = d.push(v.wire.subarray(cut))
      const frames = [...a.frames, ...b.frames]
      if (frames.length !== 1 || !frames[0]!.equals(v.body)) t.fail(`${v.name} split at ${cut}`)
    }
  }
  // and byte by byte through all vectors in one stream
  const d = createDeframer()
  const frames: Buffer[] = []
  for (const byte of allWire) frames.push(...d.push(Uint8Array.of(byte)).frames)
  t.same(frames, READER_VECTORS.map((v) => v.body))
})

t.test('leading noise is discarded and counted; the frame after it is found', async (t) => {
  const noise = Buffer.from([0x13, 0x37, 0xff, 0x42, 0x99])
  const v = READER_VECTORS[1]!
  const r = createDeframer().push(Buffer.concat([noise, v.wire]))
  t.same(r.frames, [v.body])
  t.equal(r.discardedBytes, noise.length)
})

t.test('noise between frames (with and without zeros) never eats the next frame', async (t) => {
  const [a, b] = [READER_VECTORS[1]!, READER_VECTORS[5]!]
  const r = createDeframer().push(Buffer.concat([a.wire, Buffer.from([0x05, 0x00, 0x02, 0x99]), b.wire]))
  // The noise "05" sits between delimiters and is a (truncated, invalid) COBS
  // segment; "02 99" is valid COBS (one byte) that decodeFrame then rejects.
  t.equal(r.frames.length, 3)
  t.same(r.frames[0], a.body)
  t.same(r.frames[2], b.body)
  t.equal(r.invalid, 1)
  t.match(decodeFrame(r.frames[1]!), { ok: false, error: 'short' })
})

t.test('two frames in one chunk', async (t) => {
  const [a, b] = [READER_VECTORS[0]!, READER_VECTORS[6]!]
  t.same(createDeframer().push(Buffer.concat([a.wire, b.wire])).frames, [a.body, b.body])
})

t.test('a bad-CRC frame followed by a good one: the good one is decoded, the bad one is a crc error', async (t) => {
  const good = READER_VECTORS[2]!
  const bad = Buffer.from(good.wire)
  bad[6]! ^= 0x10 // a data byte of the body, not a COBS code
  const { frames } = createDeframer().push(Buffer.concat([bad, good.wire]))
  const results = frames.map((f) => decodeFrame(f))
  t.equal(results.length, 2)
  t.match(results[0], { ok: false, error: 'crc' })
  t.match(results[1], { ok: true, frame: { seq: good.seq } })
})

t.test('an oversize frame is dropped and counted without unbounded buffering; the next frame survives', async (t) => {
  const d = createDeframer({ maxFrameBytes: 64 })
  const huge = Buffer.alloc(10_000, 0x41)
  const v = READER_VECTORS[6]!
  let maxBuffered = 0
  const totals = { frames: [] as Buffer[], oversize: 0, discardedBytes: 0 }
  // byte by byte at first, so the peak of what the deframer holds is visible
  const byteByByte = [...huge.subarray(0, 200)].map((b) => Uint8Array.of(b))
  for (const chunk of [Buffer.from([0x00]), ...byteByByte, huge.subarray(200, 5000), huge.subarray(5000), v.wire]) {
    const r = d.push(chunk)
    totals.frames.push(...r.frames)
    totals.oversize += r.oversize
    totals.discardedBytes += r.discardedBytes
    maxBuffered = Math.max(maxBuffered, d.bufferedBytes)
  }
  t.equal(totals.oversize, 1)
  t.equal(totals.discardedBytes, huge.length)
  t.same(totals.frames, [v.body])
  t.equal(maxBuffered, maxEncodedBytes(64), 'held at most one encoded frame')
})

t.test('the deframer refuses a nonsensical size limit', async (t) => {
  for (const maxFrameBytes of [0, 4, 1.5, 70_000, Number.NaN]) t.throws(() => createDeframer({ maxFrameBytes }), RangeError, String(maxFrameBytes))
})

t.test('random bytes: the deframer and decoder never throw, and every valid frame hidden in noise is found', async (t) => {
  const frameArb = fc.record({
    seq: fc.integer({ min: 0, max: 255 }),
    type: fc.integer({ min: 0, max: 255 }),
    payload: fc.uint8Array({ maxLength: 40 }),
  })
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.uint8Array({ maxLength: 60 }), frameArb), { maxLength: 6 }),
      fc.uint8Array({ maxLength: 60 }),
      fc.integer({ min: 1, max: 64 }),
      (pieces, tail, chunkBytes) => {
        const stream = Buffer.concat([...pieces.flatMap(([noise, f]) => [Buffer.from(noise), encodeFrame({ ...f, payload: Buffer.from(f.payload) })]), Buffer.from(tail)])
        const d = createDeframer()
        const decoded: { seq: number; type: number; payload: Buffer }[] = []
        for (let i = 0; i < stream.length; i += chunkBytes) {
          for (const body of d.push(stream.subarray(i, i + chunkBytes)).frames) {
            const r = decodeFrame(body)
            if (r.ok) decoded.push(r.frame)
          }
        }
        // Every embedded frame appears, in order (noise may rarely add a
        // spurious valid frame in between, so look for a subsequence).
        let k = 0
        for (const [, f] of pieces) {
          while (k < decoded.length && !(decoded[k]!.seq === f.seq && decoded[k]!.type === f.type && decoded[k]!.payload.equals(Buffer.from(f.payload)))) k++
          if (k === decoded.length) return false
          k++
        }
        return true
      },
    ),
    { numRuns: 400 },
  )
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (chunks) => {
      const d = createDeframer()
      for (const c of chunks) for (const body of d.push(c).frames) decodeFrame(body)
      return d.bufferedBytes <= maxEncodedBytes(MAX_FRAME_BYTES)
    }),
    { numRuns: 300 },
  )
  t.pass('properties held')
})
