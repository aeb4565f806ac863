// ZVT's TLV container (the value of BMP 06) ⇄ a tree of tags. Pure.
//
// Encoding (BER-TLV as ZVT uses it):
// - Tag: 1 to 3 bytes. Bit 0x20 of the first byte marks a constructed tag (its
//   value is more TLV). When the first byte's low five bits are 11111 (e.g. 1F
//   of 1F12) more tag bytes follow; each further byte with bit 0x80 set is
//   followed by another (1F 80 01 is a three-byte tag). Tags are kept as
//   numbers: 1F12 is 0x1F12, 1F8001 is 0x1F8001.
// - Length: one byte up to 0x7F, or 81 nn (up to 255), or 82 nn nn (big
//   endian, as in BER and as bmp.ts reads BMP 06's own length). Other forms
//   (80, 83..FF) are refused.
// - Unknown tags are kept (tag, value) and passed over by their own length;
//   the reader below takes only what it knows.
//
// decodeZvtTlv never throws: a tag or length cut short, a value running past
// its container, nesting too deep or too many tags are a named error, so a
// hostile container costs bounded work and ends as a decode error.
import { decodeBcd } from './bcd.js'

export interface ZvtTlvNode {
  tag: number
  /** The raw value (for a constructed tag: its encoded children). */
  value: Buffer
  /** Only on constructed tags: the tags inside. */
  children?: ZvtTlvNode[]
}

export type DecodeZvtTlvResult =
  | { ok: true; nodes: ZvtTlvNode[] }
  | { ok: false; error: 'bad-tag' | 'bad-length' | 'truncated' | 'too-deep' | 'too-many'; detail: string }

/** Constructed tags inside constructed tags; ZVT nests two or three deep. */
export const ZVT_TLV_MAX_DEPTH = 8
/** Tags in one container, all levels; real containers carry a few dozen. */
export const ZVT_TLV_MAX_NODES = 512

// Tag numbers this project reads or sends, from the ZVT specification's tag
// overview ("Overview of tags used", ECR interface ZVT protocol, rev. 13.x;
// checked against two independent public ZVT implementations, a .NET client
// library's status and intermediate-status parsers and a ZVT trace viewer's tag
// table, since the specification itself is not redistributable).
export const ZVT_TAG = {
  /** 07 text-lines: one line of display or print text (primitive). */
  textLine: 0x07,
  /** 24 display-texts: constructed, holds 07 text-lines. */
  displayTexts: 0x24,
  /** 2F payment-type: constructed. */
  paymentType: 0x2f,
  /** 60 application: constructed, holds 42, 43, ... */
  application: 0x60,
  /** 42 name of the application (ASCII). */
  applicationName: 0x42,
  /** 43 application-ID: the card application's AID (binary, 5-16 bytes). */
  applicationId: 0x43,
  /** 1F10 cardholder authentication (CVM), one byte. */
  cardholderAuthentication: 0x1f10,
  /** 1F12 card technology, one byte. */
  cardTechnology: 0x1f12,
  /** 1F16 extended error code (binary), sent with result code FF. */
  extendedErrorCode: 0x1f16,
  /** 1F17 extended error text (ASCII), sent with result code FF. */
  extendedErrorText: 0x1f17,
  /** 1F2B trace number, long format (BCD): what the issue calls the long receipt number. */
  traceNumberLong: 0x1f2b,
} as const

/** 1F12 values. */
export const ZVT_CARD_TECHNOLOGY: Readonly<Record<number, string>> = { 0x00: 'magnetic_stripe', 0x01: 'chip', 0x02: 'contactless' }

/** 1F10 values. */
export const ZVT_CARDHOLDER_AUTHENTICATION: Readonly<Record<number, string>> = {
  0x00: 'none',
  0x01: 'signature',
  0x02: 'online_pin',
  0x03: 'offline_pin_encrypted',
  0x04: 'offline_pin_plain',
  0x05: 'offline_pin_encrypted_and_signature',
  0x06: 'offline_pin_plain_and_signature',
  0x07: 'online_pin_and_signature',
  0xff: 'unknown',
}

export const tlvTagHex = (tag: number): string => tag.toString(16).toUpperCase().padStart(2, '0')

type Cursor = { nodes: number }

function readTag(bytes: Buffer, at: number): { tag: number; next: number } | { error: 'bad-tag' | 'truncated'; detail: string } {
  const first = bytes[at]!
  let tag = first
  let i = at + 1
  if ((first & 0x1f) !== 0x1f) return { tag, next: i }
  // Multi-byte tag: at most two more bytes (ZVT's longest are 1F 80 xx).
  for (let extra = 0; extra < 2; extra++) {
    const b = bytes[i]
    if (b === undefined) return { error: 'truncated', detail: `tag at offset ${at} cut short` }
    tag = tag * 256 + b
    i++
    if ((b & 0x80) === 0) return { tag, next: i }
  }
  return { error: 'bad-tag', detail: `tag at offset ${at} longer than 3 bytes` }
}

function readLength(bytes: Buffer, at: number): { length: number; next: number } | { error: 'bad-length' | 'truncated'; detail: string } {
  const first = bytes[at]
  if (first === undefined) return { error: 'truncated', detail: `length at offset ${at} missing` }
  if (first < 0x80) return { length: first, next: at + 1 }
  if (first === 0x81) {
    if (at + 1 >= bytes.length) return { error: 'truncated', detail: `length at offset ${at} cut short` }
    return { length: bytes[at + 1]!, next: at + 2 }
  }
  if (first === 0x82) {
    if (at + 2 >= bytes.length) return { error: 'truncated', detail: `length at offset ${at} cut short` }
    return { length: bytes.readUInt16BE(at + 1), next: at + 3 }
  }
  return { error: 'bad-length', detail: `length byte 0x${first.toString(16).toUpperCase()} at offset ${at}` }
}

function decodeLevel(bytes: Buffer, start: number, end: number, depth: number, cursor: Cursor): DecodeZvtTlvResult {
  const nodes: ZvtTlvNode[] = []
  let i = start
  while (i < end) {
    if (++cursor.nodes > ZVT_TLV_MAX_NODES) return { ok: false, error: 'too-many', detail: `more than ${ZVT_TLV_MAX_NODES} tags` }
    const tag = readTag(bytes.subarray(0, end), i)
    if ('error' in tag) return { ok: false, error: tag.error, detail: tag.detail }
    const length = readLength(bytes.subarray(0, end), tag.next)
    if ('error' in length) return { ok: false, error: length.error, detail: `tag ${tlvTagHex(tag.tag)}: ${length.detail}` }
    if (length.next + length.length > end) {
      return { ok: false, error: 'truncated', detail: `tag ${tlvTagHex(tag.tag)} at offset ${i} needs ${length.length} bytes, ${end - length.next} left` }
    }
    const value = Buffer.from(bytes.subarray(length.next, length.next + length.length))
    const node: ZvtTlvNode = { tag: tag.tag, value }
    const firstByte = bytes[i]!
    if ((firstByte & 0x20) !== 0) {
      if (depth >= ZVT_TLV_MAX_DEPTH) return { ok: false, error: 'too-deep', detail: `constructed tags nested deeper than ${ZVT_TLV_MAX_DEPTH}` }
      const inner = decodeLevel(bytes, length.next, length.next + length.length, depth + 1, cursor)
      if (!inner.ok) return { ...inner, detail: `inside tag ${tlvTagHex(tag.tag)}: ${inner.detail}` }
      node.children = inner.nodes
    }
    nodes.push(node)
    i = length.next + length.length
  }
  return { ok: true, nodes }
}

/** Decodes the value of BMP 06 (without BMP 06's own length). Never throws on input. */
export function decodeZvtTlv(data: Uint8Array): DecodeZvtTlvResult {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  return decodeLevel(bytes, 0, bytes.length, 0, { nodes: 0 })
}

/** What to encode: a primitive tag with its value, or a constructed one with its children. */
export type ZvtTlvInput = { tag: number; value: Uint8Array } | { tag: number; children: ZvtTlvInput[] }

function encodeTag(tag: number): Buffer {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xffffff) throw new RangeError(`TLV tag must be 1-3 bytes, got ${tag}`)
  const bytes = tag > 0xffff ? [tag >> 16, (tag >> 8) & 0xff, tag & 0xff] : tag > 0xff ? [tag >> 8, tag & 0xff] : [tag]
  // The form must be what a decoder reads back: 1F.. for more bytes, 0x80 on all but the last.
  const multi = (bytes[0]! & 0x1f) === 0x1f
  if (multi !== bytes.length > 1) throw new RangeError(`TLV tag ${tlvTagHex(tag)} is not a well-formed tag`)
  for (let i = 1; i < bytes.length; i++) if (((bytes[i]! & 0x80) !== 0) !== (i < bytes.length - 1)) throw new RangeError(`TLV tag ${tlvTagHex(tag)} is not a well-formed tag`)
  return Buffer.from(bytes)
}

export function encodeTlvLength(length: number): Buffer {
  if (!Number.isInteger(length) || length < 0 || length > 0xffff) throw new RangeError(`TLV length out of range: ${length}`)
  return length < 0x80 ? Buffer.of(length) : length <= 0xff ? Buffer.of(0x81, length) : Buffer.of(0x82, length >> 8, length & 0xff)
}

/** Encodes tags into a container value (what follows BMP 06 and its length). Throws RangeError on what our own code must not produce. */
export function encodeZvtTlv(nodes: readonly ZvtTlvInput[]): Buffer {
  return Buffer.concat(
    nodes.map((n) => {
      const tag = encodeTag(n.tag)
      const constructed = (tag[0]! & 0x20) !== 0
      if ('children' in n !== constructed) throw new RangeError(`TLV tag ${tlvTagHex(n.tag)} is ${constructed ? 'constructed' : 'primitive'}`)
      const value = 'children' in n ? encodeZvtTlv(n.children) : Buffer.from(n.value)
      return Buffer.concat([tag, encodeTlvLength(value.length), value])
    }),
  )
}

// ---- what this project reads from a container ----

/** The longest display or error text kept; terminals show 4 lines of about 20 characters. */
export const ZVT_TLV_TEXT_MAX = 160

/**
 * Text from the terminal is untrusted: control characters (C0, DEL, C1) become
 * spaces, runs of spaces one, and it is cut to `max` characters.
 */
export function cleanTerminalText(raw: string, max = ZVT_TLV_TEXT_MAX): string {
  // eslint-disable-next-line no-control-regex
  return raw.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').replace(/ {2,}/g, ' ').trim().slice(0, max).trim()
}

/** The fields a status information's container may carry that this project keeps. Card data beyond these is not kept. */
export interface ZvtTlvFields {
  cardTechnology?: string
  cardholderVerification?: string
  /** Upper-case hex, 5-16 bytes. */
  aid?: string
  /** Digits (1F2B, BCD). */
  longReceiptNumber?: string
  /** 1F16 as upper-case hex. */
  extendedErrorCode?: string
  /** 1F17, cleaned. */
  extendedErrorText?: string
  /** Display text (24 ⊃ 07), its lines joined by ' / ', cleaned. */
  displayText?: string
  /** Every tag in the container (all levels) this reader does not use, for logs. */
  otherTags?: number[]
}

function walk(nodes: readonly ZvtTlvNode[], visit: (n: ZvtTlvNode, parent: number | null) => void, parent: number | null = null): void {
  for (const n of nodes) {
    visit(n, parent)
    if (n.children) walk(n.children, visit, n.tag)
  }
}

const codeName = (names: Readonly<Record<number, string>>, code: number): string => names[code] ?? `code_${code.toString(16).padStart(2, '0')}`

/**
 * Reads the known tags out of a decoded container, wherever they sit (the AID
 * usually inside 60 application). A value of the wrong size or format is
 * passed over (listed in otherTags), never guessed at.
 */
export function readZvtTlvFields(nodes: readonly ZvtTlvNode[]): ZvtTlvFields {
  const fields: ZvtTlvFields = {}
  const other: number[] = []
  const lines: string[] = []
  walk(nodes, (n, parent) => {
    switch (n.tag) {
      case ZVT_TAG.cardTechnology:
        if (n.value.length === 1) fields.cardTechnology = codeName(ZVT_CARD_TECHNOLOGY, n.value[0]!)
        else other.push(n.tag)
        return
      case ZVT_TAG.cardholderAuthentication:
        if (n.value.length === 1) fields.cardholderVerification = codeName(ZVT_CARDHOLDER_AUTHENTICATION, n.value[0]!)
        else other.push(n.tag)
        return
      case ZVT_TAG.applicationId:
        if (n.value.length >= 5 && n.value.length <= 16) fields.aid = n.value.toString('hex').toUpperCase()
        else other.push(n.tag)
        return
      case ZVT_TAG.traceNumberLong: {
        const digits = n.value.length >= 1 && n.value.length <= 10 ? decodeBcd(n.value) : null
        if (digits !== null) fields.longReceiptNumber = digits
        else other.push(n.tag)
        return
      }
      case ZVT_TAG.extendedErrorCode:
        if (n.value.length >= 1 && n.value.length <= 8) fields.extendedErrorCode = n.value.toString('hex').toUpperCase()
        else other.push(n.tag)
        return
      case ZVT_TAG.extendedErrorText: {
        const text = cleanTerminalText(n.value.toString('latin1'))
        if (text) fields.extendedErrorText = text
        return
      }
      case ZVT_TAG.textLine:
        // Lines count as display text only inside 24 display-texts (25 print-texts are receipts).
        if (parent === ZVT_TAG.displayTexts) lines.push(n.value.toString('latin1'))
        else other.push(n.tag)
        return
      case ZVT_TAG.displayTexts:
      case ZVT_TAG.application:
        return
      default:
        other.push(n.tag)
    }
  })
  const display = cleanTerminalText(lines.map((l) => cleanTerminalText(l)).filter((l) => l.length > 0).join(' / '))
  if (display) fields.displayText = display
  if (other.length > 0) fields.otherTags = other
  return fields
}

function codeOf(names: Readonly<Record<number, string>>, name: string, what: string): number {
  for (const [code, n] of Object.entries(names)) if (n === name) return Number(code)
  const m = /^code_([0-9a-f]{2})$/.exec(name)
  if (m) return parseInt(m[1]!, 16)
  throw new RangeError(`unknown ${what}: ${name}`)
}

/**
 * The container a terminal would send for these fields (the simulator's side,
 * and round trips in tests): 1F12, 1F10, 60 ⊃ 43, 1F2B, 1F16, 1F17, 24 ⊃ 07
 * (displayText split at ' / '). otherTags are not encoded.
 */
export function zvtTlvFromFields(fields: ZvtTlvFields): ZvtTlvInput[] {
  const nodes: ZvtTlvInput[] = []
  if (fields.cardTechnology !== undefined) nodes.push({ tag: ZVT_TAG.cardTechnology, value: Buffer.of(codeOf(ZVT_CARD_TECHNOLOGY, fields.cardTechnology, 'card technology')) })
  if (fields.cardholderVerification !== undefined) {
    nodes.push({ tag: ZVT_TAG.cardholderAuthentication, value: Buffer.of(codeOf(ZVT_CARDHOLDER_AUTHENTICATION, fields.cardholderVerification, 'cardholder verification')) })
  }
  if (fields.aid !== undefined) {
    if (!/^([0-9A-F]{2}){5,16}$/.test(fields.aid)) throw new RangeError(`an AID is 5-16 bytes of upper-case hex, got ${fields.aid}`)
    nodes.push({ tag: ZVT_TAG.application, children: [{ tag: ZVT_TAG.applicationId, value: Buffer.from(fields.aid, 'hex') }] })
  }
  if (fields.longReceiptNumber !== undefined) {
    if (!/^([0-9]{2}){1,10}$/.test(fields.longReceiptNumber)) throw new RangeError(`the long receipt number is an even number of digits (2-20), got ${fields.longReceiptNumber}`)
    nodes.push({ tag: ZVT_TAG.traceNumberLong, value: Buffer.from(fields.longReceiptNumber, 'hex') })
  }
  if (fields.extendedErrorCode !== undefined) {
    if (!/^([0-9A-F]{2}){1,8}$/.test(fields.extendedErrorCode)) throw new RangeError(`the extended error code is 1-8 bytes of upper-case hex, got ${fields.extendedErrorCode}`)
    nodes.push({ tag: ZVT_TAG.extendedErrorCode, value: Buffer.from(fields.extendedErrorCode, 'hex') })
  }
  if (fields.extendedErrorText !== undefined) nodes.push({ tag: ZVT_TAG.extendedErrorText, value: Buffer.from(fields.extendedErrorText, 'latin1') })
  if (fields.displayText !== undefined) {
    nodes.push({ tag: ZVT_TAG.displayTexts, children: fields.displayText.split(' / ').map((line) => ({ tag: ZVT_TAG.textLine, value: Buffer.from(line, 'latin1') })) })
  }
  return nodes
}
