// ZVT bitmaps (BMP): a one-byte tag followed by a value whose length the tag
// fixes (or an LLVAR/LLLVAR/TLV length prefix gives). Pure.
// The table lists every bitmap of the ZVT specification's bitmap list a
// terminal may send. Terminals send others too (vendor and newer bitmaps, e.g.
// display images). A bitmap's number does not tell its length class in ZVT (22
// is LLVAR, 24 LLLVAR, 27 fixed: the spec fixes each tag's format in its bitmap
// list, there is no numbering rule), so an unknown tag is skipped only when its
// value carries its own length: an LLVAR (F0-F9 F0-F9) or LLLVAR (three F0-F9
// bytes) prefix, the spec's only self-describing forms besides BMP 06's TLV
// (section "Bitmaps", FxFy length encoding). Both readings are tried, and a
// reading counts only if the rest of the message then decodes to its last byte;
// an unknown tag no reading or more than one reading fits (e.g. a fixed-length
// one) leaves the message undecodable from there.
import { decodeVarLength, encodeVarLength } from './bcd.js'

export type BmpFormat =
  | { type: 'fixed'; bytes: number }
  | { type: 'llvar' }
  | { type: 'lllvar' }
  /** BER-TLV container (BMP 06): length 1 byte < 0x80, or 81 xx, or 82 xx xx. */
  | { type: 'tlv' }

const fixed = (bytes: number): BmpFormat => ({ type: 'fixed', bytes })
const LLVAR: BmpFormat = { type: 'llvar' }
const LLLVAR: BmpFormat = { type: 'lllvar' }

export const BMP = {
  timeout: 0x01,
  maxStatusInfos: 0x02,
  serviceByte: 0x03,
  amount: 0x04,
  tlv: 0x06,
  traceNumber: 0x0b,
  time: 0x0c,
  date: 0x0d,
  expiryDate: 0x0e,
  cardSequenceNumber: 0x17,
  paymentType: 0x19,
  maskedPan: 0x22,
  resultCode: 0x27,
  terminalId: 0x29,
  vuNumber: 0x2a,
  originalTrace: 0x37,
  aid: 0x3b,
  additionalText: 0x3c,
  password: 0x3d,
  currency: 0x49,
  individualTotals: 0x60,
  receiptNumber: 0x87,
  turnoverNumber: 0x88,
  cardType: 0x8a,
  cardName: 0x8b,
  cardOperator: 0x8c,
  resultCodeAs: 0xa0,
  dateYymmdd: 0xaa,
} as const

export const BMP_FORMATS: ReadonlyMap<number, BmpFormat> = new Map<number, BmpFormat>([
  [0x01, fixed(1)], [0x02, fixed(1)], [0x03, fixed(1)], [0x04, fixed(6)], [0x05, fixed(1)], [0x06, { type: 'tlv' }],
  [0x0b, fixed(3)], [0x0c, fixed(3)], [0x0d, fixed(2)], [0x0e, fixed(2)], [0x17, fixed(2)], [0x19, fixed(1)],
  [0x22, LLVAR], [0x23, LLVAR], [0x24, LLLVAR], [0x27, fixed(1)], [0x29, fixed(4)], [0x2a, fixed(15)],
  [0x2d, LLVAR], [0x2e, LLLVAR], [0x37, fixed(3)], [0x3a, fixed(2)], [0x3b, fixed(8)], [0x3c, LLLVAR],
  [0x3d, fixed(3)], [0x49, fixed(2)], [0x60, LLLVAR], [0x87, fixed(2)], [0x88, fixed(3)], [0x8a, fixed(1)],
  [0x8b, LLVAR], [0x8c, fixed(1)], [0x92, LLLVAR], [0x9a, LLLVAR], [0xa0, fixed(1)], [0xa7, LLVAR],
  [0xaa, fixed(3)], [0xaf, LLLVAR], [0xba, fixed(5)], [0xd0, fixed(1)], [0xd1, LLVAR], [0xd2, fixed(1)],
  [0xd3, fixed(1)], [0xe0, fixed(1)], [0xe1, LLVAR], [0xe2, LLVAR], [0xe3, LLVAR], [0xe4, LLVAR],
  [0xe5, LLVAR], [0xe6, LLVAR], [0xe7, LLVAR], [0xe8, LLVAR], [0xe9, fixed(1)], [0xea, fixed(1)],
  [0xeb, fixed(8)], [0xf0, fixed(1)], [0xf1, LLVAR], [0xf2, LLVAR], [0xf3, LLVAR], [0xf4, LLVAR],
  [0xf5, LLVAR], [0xf6, LLVAR], [0xf7, LLVAR], [0xf8, LLVAR], [0xf9, fixed(1)], [0xfa, fixed(1)],
  [0xfb, fixed(1)], [0xfc, fixed(1)],
])

export interface BmpField {
  tag: number
  value: Buffer
}

/** An unknown bitmap passed over by its LLVAR/LLLVAR length (see the top of this file). */
export interface SkippedBmp {
  tag: number
  /** Where its tag byte was. */
  offset: number
  format: 'llvar' | 'lllvar'
  /** Tag, length prefix and value. */
  bytes: number
}

export type DecodeBmpsResult =
  /** `skipped` is there only when unknown bitmaps were passed over. */
  | { ok: true; fields: BmpField[]; skipped?: SkippedBmp[] }
  /** `fields` holds what was read before the problem. */
  | { ok: false; fields: BmpField[]; error: 'unknown-bmp' | 'truncated' | 'bad-length'; detail: string }

/**
 * How many unknown tags one decode may try readings for: bounds the work (each
 * try decodes the rest of the message twice at most) and the recursion on
 * hostile input. Real terminals send a handful.
 */
export const MAX_UNKNOWN_BMP_TRIES = 32

function tlvLength(bytes: Buffer, offset: number): { length: number; headerBytes: number } | null {
  const first = bytes[offset]
  if (first === undefined) return null
  if (first < 0x80) return { length: first, headerBytes: 1 }
  if (first === 0x81 && offset + 1 < bytes.length) return { length: bytes[offset + 1]!, headerBytes: 2 }
  if (first === 0x82 && offset + 2 < bytes.length) return { length: bytes.readUInt16BE(offset + 1), headerBytes: 3 }
  return null
}

/** Reads BMP fields from `offset` to the end of `data`. Never throws on input. */
export function decodeBmps(data: Uint8Array, offset = 0): DecodeBmpsResult {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  return decodeBmpsFrom(bytes, offset, { unknownTries: 0 })
}

function decodeBmpsFrom(bytes: Buffer, offset: number, budget: { unknownTries: number }): DecodeBmpsResult {
  const fields: BmpField[] = []
  let i = offset
  while (i < bytes.length) {
    const tag = bytes[i]!
    const format = BMP_FORMATS.get(tag)
    const hexTag = `0x${tag.toString(16).padStart(2, '0')}`
    if (!format) return skipUnknownBmp(bytes, i, fields, budget)
    i++
    let length: number
    if (format.type === 'fixed') length = format.bytes
    else if (format.type === 'tlv') {
      const l = tlvLength(bytes, i)
      if (!l) return { ok: false, fields, error: 'bad-length', detail: `BMP ${hexTag}: bad TLV length` }
      i += l.headerBytes
      length = l.length
    } else {
      const digits = format.type === 'llvar' ? 2 : 3
      const l = decodeVarLength(bytes, i, digits)
      if (l === null) return { ok: false, fields, error: 'bad-length', detail: `BMP ${hexTag}: bad ${format.type.toUpperCase()} length` }
      i += digits
      length = l
    }
    if (i + length > bytes.length) return { ok: false, fields, error: 'truncated', detail: `BMP ${hexTag} needs ${length} bytes, ${bytes.length - i} left` }
    fields.push({ tag, value: Buffer.from(bytes.subarray(i, i + length)) })
    i += length
  }
  return { ok: true, fields }
}

/** An unknown tag at `at`: skipped if exactly one of its LLVAR/LLLVAR readings lets the rest decode to the end. */
function skipUnknownBmp(bytes: Buffer, at: number, before: BmpField[], budget: { unknownTries: number }): DecodeBmpsResult {
  const tag = bytes[at]!
  const fail = (why: string): DecodeBmpsResult => ({ ok: false, fields: before, error: 'unknown-bmp', detail: `unknown BMP 0x${tag.toString(16).padStart(2, '0')} at offset ${at}: ${why}` })
  if (++budget.unknownTries > MAX_UNKNOWN_BMP_TRIES) return fail(`more than ${MAX_UNKNOWN_BMP_TRIES} unknown BMPs`)
  const readings: { skipped: SkippedBmp; rest: Extract<DecodeBmpsResult, { ok: true }> }[] = []
  for (const digits of [2, 3] as const) {
    const length = decodeVarLength(bytes, at + 1, digits)
    if (length === null || at + 1 + digits + length > bytes.length) continue
    const rest = decodeBmpsFrom(bytes, at + 1 + digits + length, budget)
    if (rest.ok) readings.push({ skipped: { tag, offset: at, format: digits === 2 ? 'llvar' : 'lllvar', bytes: 1 + digits + length }, rest })
  }
  if (readings.length === 0) return fail(budget.unknownTries > MAX_UNKNOWN_BMP_TRIES ? `more than ${MAX_UNKNOWN_BMP_TRIES} unknown BMPs` : 'its length cannot be told')
  if (readings.length > 1) return fail('it reads both as LLVAR and as LLLVAR')
  const { skipped, rest } = readings[0]!
  return { ok: true, fields: [...before, ...rest.fields], skipped: [skipped, ...(rest.skipped ?? [])] }
}

/** Encodes one BMP field, checking the value against the tag's format. */
export function encodeBmp(tag: number, value: Uint8Array): Buffer {
  const format = BMP_FORMATS.get(tag)
  if (!format) throw new RangeError(`unknown BMP 0x${tag.toString(16)}`)
  switch (format.type) {
    case 'fixed':
      if (value.length !== format.bytes) throw new RangeError(`BMP 0x${tag.toString(16)} takes ${format.bytes} bytes, got ${value.length}`)
      return Buffer.concat([Buffer.of(tag), value])
    case 'llvar':
      return Buffer.concat([Buffer.of(tag), encodeVarLength(value.length, 2), value])
    case 'lllvar':
      return Buffer.concat([Buffer.of(tag), encodeVarLength(value.length, 3), value])
    case 'tlv': {
      if (value.length > 0xffff) throw new RangeError('TLV container too long')
      const header = value.length < 0x80 ? Buffer.of(value.length) : value.length <= 0xff ? Buffer.of(0x81, value.length) : Buffer.of(0x82, value.length >> 8, value.length & 0xff)
      return Buffer.concat([Buffer.of(tag), header, value])
    }
  }
}
