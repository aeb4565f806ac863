// Reader frames: the serial byte stream from a reader into the kiosk
// (device-protocol/frame.ts's deframer, decodeFrame, then reader-messages.ts's
// decodeReaderMessage), fed with the byte-commented vectors intact and damaged,
// frames with a good CRC around random payloads, and noise, cut into chunks
// anywhere. Oracle: nothing throws; the deframer never holds more than one
// encoded frame; chunking changes nothing; every intact frame inside the noise
// is found (each frame starts with a delimiter, so noise never swallows one);
// a decoded message encodes back to the same bytes.
import fc from 'fast-check'
import {
  createDeframer,
  decodeFrame,
  decodeReaderMessage,
  encodeFrame,
  encodeReaderMessage,
  maxEncodedBytes,
  MAX_FRAME_BYTES,
  MAX_FRAME_PAYLOAD_BYTES,
  READER_MESSAGE_TYPES,
  type DeframeResult,
} from '../../../device-protocol/index.js'
import { READER_VECTORS } from '../../../device-protocol/reader-vectors.js'
import { byteStream, chunked, cutPoints, mutatedBytes, type Segment } from '../mutate.js'
import { expect, type FuzzTarget, type Verdict } from '../target.js'

const WIRES = READER_VECTORS.map((v) => v.wire)
const BUFFER_LIMIT = maxEncodedBytes(MAX_FRAME_BYTES)

/** A frame with a good CRC around a payload that is random or a vector's payload damaged: reaches the message decoder. */
const wellFramed: fc.Arbitrary<Segment> = fc
  .record({
    seq: fc.nat({ max: 255 }),
    type: fc.oneof(fc.constantFrom(...Object.values(READER_MESSAGE_TYPES)), fc.nat({ max: 255 })),
    payload: fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.uint8Array({ maxLength: MAX_FRAME_PAYLOAD_BYTES }),
      mutatedBytes(READER_VECTORS.map((v) => v.body.subarray(3, v.body.length - 2))).map((p) => p.subarray(0, MAX_FRAME_PAYLOAD_BYTES)),
    ),
  })
  .map(({ seq, type, payload }) => ({ bytes: encodeFrame({ seq, type, payload }) }))

export interface ReaderFramesInput {
  segments: Segment[]
  cuts: number[]
}

const arbitrary: fc.Arbitrary<ReaderFramesInput> = fc.record({
  segments: fc.oneof(byteStream(WIRES), fc.array(fc.oneof(wellFramed, byteStream(WIRES, { maxSegments: 2 }).map((s) => ({ bytes: Buffer.concat(s.map((x) => x.bytes)) }))), { minLength: 1, maxLength: 6 })),
  cuts: cutPoints,
})

/** Feeds chunks to a fresh deframer; the bodies in order and the counts. */
function deframe(chunks: readonly Buffer[]): { frames: Buffer[]; discarded: number; oversize: number; invalid: number } {
  const deframer = createDeframer()
  const all: { frames: Buffer[]; discarded: number; oversize: number; invalid: number } = { frames: [], discarded: 0, oversize: 0, invalid: 0 }
  for (const chunk of chunks) {
    const result: DeframeResult = deframer.push(chunk)
    expect(deframer.bufferedBytes <= BUFFER_LIMIT, `deframer holds ${deframer.bufferedBytes} bytes, above its limit of ${BUFFER_LIMIT}`)
    all.frames.push(...result.frames)
    all.discarded += result.discardedBytes
    all.oversize += result.oversize
    all.invalid += result.invalid
  }
  return all
}

export function runReaderFrames({ segments, cuts }: ReaderFramesInput): Verdict {
  const stream = Buffer.concat(segments.map((s) => s.bytes))
  const whole = deframe([stream])
  const pieces = deframe(chunked(stream, cuts))
  expect(pieces.frames.length === whole.frames.length && pieces.frames.every((f, i) => f.equals(whole.frames[i]!)), 'chunking the stream changed the frames found')
  expect(pieces.discarded === whole.discarded && pieces.oversize === whole.oversize && pieces.invalid === whole.invalid, 'chunking the stream changed the counts')

  let accepted = 0
  for (const body of whole.frames) {
    expect(body.length <= BUFFER_LIMIT, `a body of ${body.length} bytes came out of a deframer limited to ${BUFFER_LIMIT}`)
    const frame = decodeFrame(body)
    if (!frame.ok) continue
    const decoded = decodeReaderMessage(frame.frame.type, frame.frame.payload)
    if (!decoded.ok) continue
    accepted++
    const again = encodeReaderMessage(decoded.message)
    expect(again.type === frame.frame.type && again.payload.equals(frame.frame.payload), `${decoded.message.kind} does not encode back to the bytes it was decoded from`)
  }
  // Every intact vector in the stream is delivered (possibly more often: a mutation may leave a vector whole).
  READER_VECTORS.forEach((vector, i) => {
    const expected = segments.filter((s) => s.intact === i).length
    const found = whole.frames.filter((f) => f.equals(vector.body)).length
    expect(found >= expected, `intact frame '${vector.name}' sent ${expected} times inside noise, found ${found} times`)
  })
  return accepted > 0 ? 'accepted' : 'refused'
}

export const readerFramesTarget: FuzzTarget<ReaderFramesInput> = {
  name: 'reader-frames',
  description: 'serial reader frames (COBS, CRC-16, reader messages) from vectors, damage and noise, in random chunks',
  ciCount: 1000,
  create: () => ({ arbitrary, synchronous: true, run: runReaderFrames }),
}
