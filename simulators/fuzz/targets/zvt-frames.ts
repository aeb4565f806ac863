// ZVT frames: the serial byte stream from a card terminal into the kiosk
// (device-protocol/zvt/: the DLE-stuffed transport's deframer, then the APDU
// and message decoders), fed with the byte-commented vectors intact and
// damaged (bit flips, truncation, splices, length fields that lie), frames with
// a good CRC around random or damaged APDUs, and noise, cut into chunks
// anywhere. Oracle: nothing throws; no APDU above the deframer's limit comes
// out; chunking changes nothing; a frame sent twice in a row after any noise is
// found at least once (the deframer resynchronises at the next DLE STX, and a
// terminal repeats a frame it got no ACK for); a decoded message that encodes
// again decodes as the same kind of message.
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import { createZvtDeframer, decodeZvtMessage, encodeApdu, encodeZvtFrame, encodeZvtMessage, ZVT_DEFAULT_MAX_APDU_BYTES, ZVT_VECTORS, type ZvtLinkEvent } from '../../../device-protocol/zvt/index.js'
import { byteStream, chunked, cutPoints, mutatedBytes, type Segment } from '../mutate.js'
import { expect, type FuzzTarget, type Verdict } from '../target.js'

const WIRES = ZVT_VECTORS.map((v) => v.wire)
const APDUS = ZVT_VECTORS.map((v) => v.apdu)

/** A good frame around an APDU that is random, a vector's APDU damaged (length fields included), or a header with random data. */
const apdu: fc.Arbitrary<Buffer> = fc.oneof(
  mutatedBytes(APDUS),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  fc.record({ header: fc.constantFrom(...APDUS.map((a) => [a[0]!, a[1]!] as const)), data: fc.uint8Array({ maxLength: 300 }) }).map(({ header, data }) => encodeApdu(header[0], header[1], data)),
)
const wellFramed: fc.Arbitrary<Segment> = apdu.map((a) => ({ bytes: encodeZvtFrame(a) }))

export interface ZvtFramesInput {
  segments: Segment[]
  cuts: number[]
}

const arbitrary: fc.Arbitrary<ZvtFramesInput> = fc.record({
  segments: fc.oneof(
    // Intact vectors go in twice in a row: the terminal's repetition after a NAK or silence.
    byteStream(WIRES, { intactBytes: (wire) => Buffer.concat([wire, wire]) }),
    fc.array(fc.oneof(wellFramed, mutatedBytes(WIRES).map((bytes) => ({ bytes }))), { minLength: 1, maxLength: 6 }),
  ),
  cuts: cutPoints,
})

function deframe(chunks: readonly Buffer[]): { events: ZvtLinkEvent[]; discarded: number } {
  const deframer = createZvtDeframer()
  const all: { events: ZvtLinkEvent[]; discarded: number } = { events: [], discarded: 0 }
  for (const chunk of chunks) {
    const result = deframer.push(chunk)
    all.events.push(...result.events)
    all.discarded += result.discardedBytes
  }
  return all
}

export function runZvtFrames({ segments, cuts }: ZvtFramesInput): Verdict {
  const stream = Buffer.concat(segments.map((s) => s.bytes))
  const whole = deframe([stream])
  const pieces = deframe(chunked(stream, cuts))
  expect(isDeepStrictEqual(pieces, whole), 'chunking the stream changed the events')

  let accepted = 0
  for (const event of whole.events) {
    if (event.kind !== 'frame') continue
    expect(event.apdu.length <= ZVT_DEFAULT_MAX_APDU_BYTES, `an APDU of ${event.apdu.length} bytes came out of a deframer limited to ${ZVT_DEFAULT_MAX_APDU_BYTES}`)
    const decoded = decodeZvtMessage(event.apdu)
    if (!decoded.ok) continue
    accepted++
    let again: Buffer | undefined
    try {
      again = encodeZvtMessage(decoded.message)
    } catch (err) {
      // A value the encoder refuses to produce is not an input problem; only a RangeError is its named refusal.
      expect(err instanceof RangeError, `encoding a decoded ${decoded.message.kind} threw ${String(err)}`)
    }
    // Not a round trip: the decoder keeps what it could not read (parseError, otherTags) and the encoder writes no such thing.
    if (again !== undefined) {
      const redecoded = decodeZvtMessage(again)
      expect(redecoded.ok && redecoded.message.kind === decoded.message.kind, `${decoded.message.kind} decoded and encoded again does not decode as a ${decoded.message.kind}`)
    }
  }
  ZVT_VECTORS.forEach((vector, i) => {
    const expected = segments.filter((s) => s.intact === i).length
    const found = whole.events.filter((e) => e.kind === 'frame' && e.apdu.equals(vector.apdu)).length
    expect(found >= expected, `frame '${vector.name}' sent twice in a row ${expected} times inside noise, found ${found} times`)
  })
  return accepted > 0 ? 'accepted' : 'refused'
}

export const zvtFramesTarget: FuzzTarget<ZvtFramesInput> = {
  name: 'zvt-frames',
  description: 'ZVT transport frames and APDUs from vectors, damage (length fields included) and noise, in random chunks',
  ciCount: 1000,
  create: () => ({ arbitrary, synchronous: true, run: runZvtFrames }),
}
