// Serial frame codec shared by the kiosk daemon (host) and reader firmware
// (device). Pure: bytes in, values out, no I/O.
//
// On the wire every frame is   00 | COBS(body) | 00
// The leading delimiter costs one byte and lets a receiver resynchronise
// immediately after line noise: noise never merges into the next frame.
//
// A decoded body is
//   [version u8 = 1][seq u8][msgType u8][payload ...][CRC-16 u16, big-endian]
// The CRC is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no
// final xor; check value of "123456789" is 0x29B1) over version..payload, sent
// high byte first.
//
// COBS is implemented here: it is about thirty lines, and the only npm package
// for it ("cobs" 0.2.x) is small and unmaintained.
import crc16ccitt from 'crc/crc16ccitt'

export const FRAME_VERSION = 1
/** Largest decoded frame body (header + payload + CRC) either side accepts. */
export const MAX_FRAME_BYTES = 256
/** version + seq + msgType + CRC-16. */
export const FRAME_OVERHEAD_BYTES = 5
/** Largest payload that fits into MAX_FRAME_BYTES. */
export const MAX_FRAME_PAYLOAD_BYTES = MAX_FRAME_BYTES - FRAME_OVERHEAD_BYTES
export const FRAME_DELIMITER = 0x00

/** Worst-case COBS length of `decodedBytes` bytes: one code byte per 254 data bytes, plus one. */
export function maxEncodedBytes(decodedBytes: number): number {
  return decodedBytes + Math.floor(decodedBytes / 254) + 1
}

/** COBS-encodes `data`; the result contains no 0x00 byte (delimiters are not added). */
export function cobsEncode(data: Uint8Array): Buffer {
  const out = Buffer.alloc(maxEncodedBytes(data.length))
  let codeIndex = 0 // where the current block's code byte goes; -1: no block open
  let code = 1
  let o = 1
  for (let i = 0; i < data.length; i++) {
    const byte = data[i]!
    if (byte !== 0) {
      out[o++] = byte
      code++
    }
    if (byte === 0 || code === 0xff) {
      out[codeIndex] = code
      code = 1
      // A full 254-byte block at the very end needs no empty block after it
      // (the canonical encoding, as in Cheshire & Baker and on Wikipedia).
      codeIndex = byte === 0 || i < data.length - 1 ? o++ : -1
    }
  }
  if (codeIndex >= 0) out[codeIndex] = code
  return out.subarray(0, o)
}

/** Decodes one COBS block sequence (without delimiters); null if it is not valid COBS. */
export function cobsDecode(encoded: Uint8Array): Buffer | null {
  const out = Buffer.alloc(encoded.length)
  let o = 0
  let i = 0
  while (i < encoded.length) {
    const code = encoded[i++]!
    if (code === 0) return null
    const end = i + code - 1
    if (end > encoded.length) return null // the block claims more bytes than there are
    for (; i < end; i++) {
      const byte = encoded[i]!
      if (byte === 0) return null
      out[o++] = byte
    }
    // A block shorter than 254 data bytes stands for "data, then a zero",
    // except the last block, whose zero is the frame delimiter itself.
    if (code !== 0xff && i < encoded.length) out[o++] = 0
  }
  return out.subarray(0, o)
}

export interface Frame {
  /** 0..255, wraps; lets the other side acknowledge a specific frame. */
  seq: number
  /** Message type code (see reader-messages.ts). */
  type: number
  payload: Buffer
}

export interface FrameInput {
  seq: number
  type: number
  payload?: Uint8Array
}

function assertByte(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new RangeError(`${name} must be an integer 0..255, got ${value}`)
}

/**
 * The decoded body of a frame (header, payload, CRC) without COBS. Throws a
 * RangeError on values our own code should never produce (seq out of range,
 * payload too long): that is a programming error, not bad input.
 */
export function encodeFrameBody({ seq, type, payload = Buffer.alloc(0) }: FrameInput): Buffer {
  assertByte('seq', seq)
  assertByte('type', type)
  if (payload.length > MAX_FRAME_PAYLOAD_BYTES) throw new RangeError(`payload of ${payload.length} bytes exceeds ${MAX_FRAME_PAYLOAD_BYTES}`)
  const body = Buffer.alloc(payload.length + FRAME_OVERHEAD_BYTES)
  body[0] = FRAME_VERSION
  body[1] = seq
  body[2] = type
  body.set(payload, 3)
  const crc = crc16ccitt(body.subarray(0, body.length - 2))
  body.writeUInt16BE(crc, body.length - 2)
  return body
}

/** A frame ready for the wire: 00, COBS-encoded body, 00. */
export function encodeFrame(frame: FrameInput): Buffer {
  const encoded = cobsEncode(encodeFrameBody(frame))
  const wire = Buffer.alloc(encoded.length + 2)
  wire[0] = FRAME_DELIMITER
  wire.set(encoded, 1)
  wire[wire.length - 1] = FRAME_DELIMITER
  return wire
}

export type FrameError = 'short' | 'oversize' | 'crc' | 'version'

export type DecodedFrame = { ok: true; frame: Frame } | { ok: false; error: FrameError; detail: string }

/** Checks and splits a decoded (un-COBSed) body; never throws. */
export function decodeFrame(body: Uint8Array, maxFrameBytes = MAX_FRAME_BYTES): DecodedFrame {
  if (body.length < FRAME_OVERHEAD_BYTES) return { ok: false, error: 'short', detail: `frame of ${body.length} bytes is shorter than ${FRAME_OVERHEAD_BYTES}` }
  if (body.length > maxFrameBytes) return { ok: false, error: 'oversize', detail: `frame of ${body.length} bytes exceeds ${maxFrameBytes}` }
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  const expected = buf.readUInt16BE(buf.length - 2)
  const actual = crc16ccitt(buf.subarray(0, buf.length - 2))
  if (expected !== actual) return { ok: false, error: 'crc', detail: `crc 0x${hex4(expected)} does not match computed 0x${hex4(actual)}` }
  // The version is checked after the CRC: in a corrupted frame it means nothing.
  if (buf[0] !== FRAME_VERSION) return { ok: false, error: 'version', detail: `frame version ${buf[0]} is not ${FRAME_VERSION}` }
  return { ok: true, frame: { seq: buf[1]!, type: buf[2]!, payload: Buffer.from(buf.subarray(3, buf.length - 2)) } }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0')
}

export interface DeframeResult {
  /** Decoded (un-COBSed) bodies, to be checked with decodeFrame. */
  frames: Buffer[]
  /** Bytes that belonged to no delivered frame: noise before the first delimiter, oversize and invalid-COBS segments. */
  discardedBytes: number
  /** Segments dropped because they grew past the maximum frame size. */
  oversize: number
  /** Segments between delimiters that were not valid COBS. */
  invalid: number
}

export interface Deframer {
  push(chunk: Uint8Array): DeframeResult
  /** Bytes currently held for an unfinished frame (never more than the largest encoded frame). */
  readonly bufferedBytes: number
}

/**
 * Incremental splitter for a byte stream of COBS frames. It starts out of sync
 * (bytes before the first delimiter are discarded: every frame starts with a
 * delimiter, so nothing valid is lost), holds at most one encoded frame, and
 * skips the rest of any segment that grows past the limit.
 */
export function createDeframer({ maxFrameBytes = MAX_FRAME_BYTES }: { maxFrameBytes?: number } = {}): Deframer {
  if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < FRAME_OVERHEAD_BYTES || maxFrameBytes > 0xffff)
    throw new RangeError(`maxFrameBytes must be an integer ${FRAME_OVERHEAD_BYTES}..65535, got ${maxFrameBytes}`)
  const limit = maxEncodedBytes(maxFrameBytes)
  const buffer = Buffer.alloc(limit)
  let length = 0
  let synced = false // seen a delimiter since start
  let skipping = false // inside an oversize segment, dropping until the next delimiter

  return {
    get bufferedBytes() {
      return length
    },
    push(chunk) {
      const result: DeframeResult = { frames: [], discardedBytes: 0, oversize: 0, invalid: 0 }
      for (const byte of chunk) {
        if (byte === FRAME_DELIMITER) {
          if (synced && !skipping && length > 0) {
            const body = cobsDecode(buffer.subarray(0, length))
            if (body === null) {
              result.invalid++
              result.discardedBytes += length
            } else {
              result.frames.push(body)
            }
          }
          synced = true
          skipping = false
          length = 0
          continue
        }
        if (!synced || skipping) {
          result.discardedBytes++
          continue
        }
        if (length === limit) {
          result.oversize++
          result.discardedBytes += length + 1
          length = 0
          skipping = true
          continue
        }
        buffer[length++] = byte
      }
      return result
    },
  }
}
