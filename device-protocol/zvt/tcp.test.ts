import t from 'tap'
import fc from 'fast-check'
import { ZVT_TCP_OVERLONG_HEADER, ZVT_TCP_STREAM_VECTORS, ZVT_VECTORS } from './vectors.js'
import { ZvtApduLengthError, createZvtApduSplitter } from './tcp.js'
import { decodeApdu, encodeApdu } from './apdu.js'

/** Feeds `stream` cut at `cuts` (offsets) and returns every APDU. */
function splitAt(stream: Buffer, cuts: number[], maxApduBytes?: number): Buffer[] {
  const s = createZvtApduSplitter({ maxApduBytes })
  const points = [0, ...[...new Set(cuts)].filter((c) => c > 0 && c < stream.length).sort((a, b) => a - b), stream.length]
  const out: Buffer[] = []
  for (let i = 1; i < points.length; i++) out.push(...s.push(stream.subarray(points[i - 1], points[i])))
  if (s.bufferedBytes !== 0) throw new Error(`${s.bufferedBytes} bytes left over`)
  return out
}

t.test('every APDU vector alone is its own TCP form and comes out whole', async (t) => {
  for (const v of ZVT_VECTORS) t.same(createZvtApduSplitter().push(v.apdu), [v.apdu], v.name)
})

t.test('the stream vectors split into their APDUs, which decode', async (t) => {
  for (const v of ZVT_TCP_STREAM_VECTORS) {
    const apdus = createZvtApduSplitter().push(v.stream)
    t.same(apdus, v.apdus, v.name)
    for (const a of apdus) t.ok(decodeApdu(a).ok, `${v.name}: ${a.subarray(0, 5).toString('hex')} decodes`)
  }
})

t.test('all vectors back to back, cut at every offset and byte by byte, come out once each in order', async (t) => {
  const apdus = [...ZVT_VECTORS.map((v) => v.apdu), ...ZVT_TCP_STREAM_VECTORS.flatMap((v) => v.apdus)]
  const stream = Buffer.concat(apdus)
  for (let cut = 0; cut <= stream.length; cut++) {
    const got = splitAt(stream, [cut])
    if (got.length !== apdus.length || got.some((a, i) => !a.equals(apdus[i]!))) t.fail(`cut at ${cut}`)
  }
  t.same(splitAt(stream, [...stream.keys()]), apdus, 'byte by byte')
})

t.test('random APDUs in random chunks: the same APDUs come out, and the buffer never holds more than one APDU', async () => {
  const apdu = fc
    .record({ cls: fc.integer({ min: 0, max: 255 }), instr: fc.integer({ min: 0, max: 255 }), data: fc.uint8Array({ maxLength: 600 }) })
    .map(({ cls, instr, data }) => encodeApdu(cls, instr, data))
  fc.assert(
    fc.property(fc.array(apdu, { maxLength: 12 }), fc.array(fc.nat(8000), { maxLength: 40 }), (apdus, cuts) => {
      const stream = Buffer.concat(apdus)
      const s = createZvtApduSplitter({ maxApduBytes: 1024 })
      const points = [0, ...[...new Set(cuts)].filter((c) => c > 0 && c < stream.length).sort((a, b) => a - b), stream.length]
      const out: Buffer[] = []
      for (let i = 1; i < points.length; i++) {
        out.push(...s.push(stream.subarray(points[i - 1], points[i])))
        if (s.bufferedBytes > 1024) return false
      }
      return s.bufferedBytes === 0 && out.length === apdus.length && out.every((a, i) => a.equals(apdus[i]!))
    }),
    { numRuns: 300 },
  )
})

t.test('a length beyond the bound is a ZvtApduLengthError, before the data arrives, and the splitter stays failed', async (t) => {
  const s = createZvtApduSplitter()
  t.same(s.push(Buffer.from('800000', 'hex')), [Buffer.from('800000', 'hex')], 'the APDU before it is delivered')
  t.same(s.push(ZVT_TCP_OVERLONG_HEADER.subarray(0, 4)), [], 'an incomplete extended header is held')
  t.throws(() => s.push(ZVT_TCP_OVERLONG_HEADER.subarray(4)), ZvtApduLengthError)
  t.throws(() => s.push(Buffer.from('800000', 'hex')), ZvtApduLengthError, 'the stream is out of step for good')
  const small = createZvtApduSplitter({ maxApduBytes: 10 })
  t.throws(() => small.push(Buffer.from('060F08', 'hex')), { name: 'ZvtApduLengthError', lengthBytes: 11, maxApduBytes: 10 })
  t.same(createZvtApduSplitter({ maxApduBytes: 10 }).push(Buffer.from('060F0701020304050607', 'hex')).length, 1, 'exactly the bound is accepted')
  t.throws(() => createZvtApduSplitter({ maxApduBytes: 2 }), RangeError)
})
