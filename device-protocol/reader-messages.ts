// Messages between the kiosk daemon (host) and an NFC reader board, carried in
// the payload of a serial frame (frame.ts). Pure codecs: decoding never throws,
// it answers { ok: false, error } for anything malformed, and accepts exactly
// the bytes a message needs (trailing bytes are an error, not ignored).
//
// Payload layouts (multi-byte integers big-endian; strings are a u8 byte length
// followed by that many bytes of UTF-8, at most MAX_READER_STRING_BYTES, no
// control characters):
//   0x01 hello        reader→host  model str, firmware str, serial str
//   0x02 tagPresent   reader→host  uidLength u8 (4|7|10), uid bytes, tagType u8,
//                                  then, only for a tag that sent a SUN message
//                                  (NTAG 424 DNA, see gateway/sun/ntag424.ts):
//                                  sunFormat u8 (0x01 = AES), encrypted PICC
//                                  data (16 bytes), SDMMAC (8 bytes)
//   0x03 tagGone      reader→host  uidLength u8 (4|7|10), uid bytes
//   0x04 feedbackAck  reader→host  acknowledged frame seq u8
//   0x0F error        reader→host  code u8, text str
//   0x10 identify     host→reader  (empty) asks the reader to send hello again
//   0x11 feedback     host→reader  led u8, beep u8, durationMs u16

export const READER_MESSAGE_TYPES = {
  hello: 0x01,
  tagPresent: 0x02,
  tagGone: 0x03,
  feedbackAck: 0x04,
  error: 0x0f,
  identify: 0x10,
  feedback: 0x11,
} as const
export type ReaderMessageKind = keyof typeof READER_MESSAGE_TYPES

/** Index = wire code. Same names as LedColour in daemon/reader/reader.ts. */
export const LED_COLOURS = ['off', 'green', 'red', 'yellow', 'blue'] as const
export type LedColourName = (typeof LED_COLOURS)[number]
/** Index = wire code. Same names as BeepPattern in daemon/reader/reader.ts. */
export const BEEP_PATTERNS = ['none', 'short', 'double', 'long', 'error'] as const
export type BeepPatternName = (typeof BEEP_PATTERNS)[number]

/** Wire code → tag family name (TagInfo.type). Codes are never reused. */
export const TAG_TYPE_CODES: Readonly<Record<number, string>> = {
  0x01: 'iso14443a',
  0x02: 'mifare-classic',
  0x03: 'mifare-ultralight',
  0x04: 'ntag213',
  0x05: 'ntag215',
  0x06: 'ntag216',
  0x07: 'ntag424',
  0x08: 'mifare-desfire',
}
const TAG_TYPE_BY_NAME: ReadonlyMap<string, number> = new Map(Object.entries(TAG_TYPE_CODES).map(([code, name]) => [name, Number(code)]))
export const TAG_TYPES = Object.values(TAG_TYPE_CODES)

/** Codes of the error report (0x0F) a reader sends; 0x80 and up are vendor-specific. */
export const READER_ERROR_CODES = {
  /** A frame from the host failed its CRC or was not valid COBS. */
  badFrame: 0x01,
  /** The host sent a message type the reader does not know. */
  unknownMessage: 0x02,
  /** The host sent a known message type with a malformed payload. */
  malformedMessage: 0x03,
  /** The RF front end or antenna failed. */
  hardware: 0x10,
} as const

export const UID_LENGTHS = [4, 7, 10] as const
/** sunFormat of a tagPresent's SUN part: AES mode, 16 bytes of encrypted PICC data and an 8-byte SDMMAC. */
export const SUN_FORMAT_AES = 0x01
export const SUN_PICC_DATA_BYTES = 16
export const SUN_MAC_BYTES = 8
export const MAX_READER_STRING_BYTES = 64
export const MAX_FEEDBACK_DURATION_MS = 0xffff

export interface HelloMessage {
  kind: 'hello'
  model: string
  firmware: string
  serial: string
}
export interface TagPresentMessage {
  kind: 'tagPresent'
  /** Upper-case hex, as TagInfo.uid. */
  uid: string
  /** Tag family name, as TagInfo.type. */
  type: string
  /** The tag's SUN message (NTAG 424 DNA), upper-case hex; absent for tags without one. */
  sun?: SunPart
}
export interface SunPart {
  /** Encrypted PICC data, 32 hex digits. */
  piccData: string
  /** Truncated SDMMAC, 16 hex digits. */
  cmac: string
}
export interface TagGoneMessage {
  kind: 'tagGone'
  uid: string
}
export interface FeedbackAckMessage {
  kind: 'feedbackAck'
  /** The seq of the feedback frame this acknowledges. */
  ackSeq: number
}
export interface ErrorReportMessage {
  kind: 'error'
  code: number
  text: string
}
export interface IdentifyMessage {
  kind: 'identify'
}
export interface FeedbackMessage {
  kind: 'feedback'
  led: LedColourName
  beep: BeepPatternName
  durationMs: number
}

export type ReaderToHostMessage = HelloMessage | TagPresentMessage | TagGoneMessage | FeedbackAckMessage | ErrorReportMessage
export type HostToReaderMessage = IdentifyMessage | FeedbackMessage
export type ReaderMessage = ReaderToHostMessage | HostToReaderMessage

export type ReaderMessageError = 'unknown-type' | 'malformed'
export type DecodedReaderMessage = { ok: true; message: ReaderMessage } | { ok: false; error: ReaderMessageError; detail: string }

/** Thrown by encodeReaderMessage for a message our own code should not have built. */
export class InvalidReaderMessageError extends Error {
  override name = 'InvalidReaderMessageError'
}

const UID_HEX = /^(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{14}|[0-9A-Fa-f]{20})$/
// C0 controls and DEL: a reader's strings end up in logs and on screens.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/

/** Upper-case hex UID, or null if `uid` is not 4, 7 or 10 bytes of hex. */
export function normaliseUid(uid: string): string | null {
  return typeof uid === 'string' && UID_HEX.test(uid) ? uid.toUpperCase() : null
}

// ---- encoding ----------------------------------------------------------------

function stringBytes(field: string, value: string): Buffer {
  if (typeof value !== 'string') throw new InvalidReaderMessageError(`${field} must be a string`)
  if (CONTROL_CHARS.test(value)) throw new InvalidReaderMessageError(`${field} contains control characters`)
  const bytes = Buffer.from(value, 'utf8')
  if (bytes.length > MAX_READER_STRING_BYTES) throw new InvalidReaderMessageError(`${field} is ${bytes.length} bytes, more than ${MAX_READER_STRING_BYTES}`)
  return Buffer.concat([Buffer.of(bytes.length), bytes])
}

function uidBytes(uid: string): Buffer {
  const normal = normaliseUid(uid)
  if (normal === null) throw new InvalidReaderMessageError(`uid must be 4, 7 or 10 bytes of hex, got ${JSON.stringify(uid)}`)
  const bytes = Buffer.from(normal, 'hex')
  return Buffer.concat([Buffer.of(bytes.length), bytes])
}

function sunBytes(sun: SunPart): Buffer {
  const hexOf = (field: string, value: unknown, bytes: number): Buffer => {
    if (typeof value !== 'string' || !new RegExp(`^[0-9A-Fa-f]{${bytes * 2}}$`).test(value))
      throw new InvalidReaderMessageError(`sun.${field} must be ${bytes} bytes of hex`)
    return Buffer.from(value, 'hex')
  }
  return Buffer.concat([Buffer.of(SUN_FORMAT_AES), hexOf('piccData', sun?.piccData, SUN_PICC_DATA_BYTES), hexOf('cmac', sun?.cmac, SUN_MAC_BYTES)])
}

function codeOf<T extends string>(field: string, names: readonly T[], value: T): number {
  const code = names.indexOf(value)
  if (code < 0) throw new InvalidReaderMessageError(`${field} must be one of ${names.join(', ')}, got ${JSON.stringify(value)}`)
  return code
}

/**
 * Message → frame type and payload. Throws InvalidReaderMessageError (with a
 * readable message) for values out of range: uid not hex, unknown tag type,
 * strings too long, durationMs not an integer 0..65535.
 */
export function encodeReaderMessage(message: ReaderMessage): { type: number; payload: Buffer } {
  const type = READER_MESSAGE_TYPES[message.kind]
  switch (message.kind) {
    case 'hello':
      return { type, payload: Buffer.concat([stringBytes('model', message.model), stringBytes('firmware', message.firmware), stringBytes('serial', message.serial)]) }
    case 'tagPresent': {
      const code = TAG_TYPE_BY_NAME.get(message.type)
      if (code === undefined) throw new InvalidReaderMessageError(`unknown tag type ${JSON.stringify(message.type)}`)
      const sun = message.sun === undefined ? Buffer.alloc(0) : sunBytes(message.sun)
      return { type, payload: Buffer.concat([uidBytes(message.uid), Buffer.of(code), sun]) }
    }
    case 'tagGone':
      return { type, payload: uidBytes(message.uid) }
    case 'feedbackAck':
      if (!Number.isInteger(message.ackSeq) || message.ackSeq < 0 || message.ackSeq > 0xff) throw new InvalidReaderMessageError(`ackSeq must be 0..255, got ${message.ackSeq}`)
      return { type, payload: Buffer.of(message.ackSeq) }
    case 'error':
      if (!Number.isInteger(message.code) || message.code < 0 || message.code > 0xff) throw new InvalidReaderMessageError(`error code must be 0..255, got ${message.code}`)
      return { type, payload: Buffer.concat([Buffer.of(message.code), stringBytes('text', message.text)]) }
    case 'identify':
      return { type, payload: Buffer.alloc(0) }
    case 'feedback': {
      const { durationMs } = message
      if (!Number.isInteger(durationMs) || durationMs < 0 || durationMs > MAX_FEEDBACK_DURATION_MS)
        throw new InvalidReaderMessageError(`durationMs must be an integer 0..${MAX_FEEDBACK_DURATION_MS}, got ${durationMs}`)
      const payload = Buffer.alloc(4)
      payload[0] = codeOf('led', LED_COLOURS, message.led)
      payload[1] = codeOf('beep', BEEP_PATTERNS, message.beep)
      payload.writeUInt16BE(durationMs, 2)
      return { type, payload }
    }
    default: {
      const unknown: never = message
      throw new InvalidReaderMessageError(`unknown message kind ${JSON.stringify((unknown as { kind?: unknown }).kind)}`)
    }
  }
}

// ---- decoding ----------------------------------------------------------------

/** Thrown only inside this module's decoder and turned into { ok: false }. */
class Malformed extends Error {}

/** A cursor over a payload that refuses to read past its end. */
class PayloadReader {
  private offset = 0
  constructor(private readonly bytes: Uint8Array) {}

  u8(field: string): number {
    if (this.offset >= this.bytes.length) throw new Malformed(`payload ends before ${field}`)
    return this.bytes[this.offset++]!
  }

  u16(field: string): number {
    return (this.u8(field) << 8) | this.u8(field)
  }

  take(field: string, length: number): Uint8Array {
    if (this.offset + length > this.bytes.length) throw new Malformed(`payload ends inside ${field} (needs ${length} bytes)`)
    const slice = this.bytes.subarray(this.offset, this.offset + length)
    this.offset += length
    return slice
  }

  string(field: string): string {
    const length = this.u8(`${field} length`)
    if (length > MAX_READER_STRING_BYTES) throw new Malformed(`${field} is ${length} bytes, more than ${MAX_READER_STRING_BYTES}`)
    let text: string
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(this.take(field, length))
    } catch {
      throw new Malformed(`${field} is not valid UTF-8`)
    }
    if (CONTROL_CHARS.test(text)) throw new Malformed(`${field} contains control characters`)
    return text
  }

  uid(): string {
    const length = this.u8('uid length')
    if (!(UID_LENGTHS as readonly number[]).includes(length)) throw new Malformed(`uid length ${length} is not 4, 7 or 10`)
    return Buffer.from(this.take('uid', length)).toString('hex').toUpperCase()
  }

  get remaining(): number {
    return this.bytes.length - this.offset
  }

  hex(field: string, length: number): string {
    return Buffer.from(this.take(field, length)).toString('hex').toUpperCase()
  }

  end(): void {
    if (this.offset !== this.bytes.length) throw new Malformed(`${this.bytes.length - this.offset} trailing bytes`)
  }
}

function named<T extends string>(field: string, names: readonly T[], code: number): T {
  const name = names[code]
  if (name === undefined) throw new Malformed(`unknown ${field} code ${code}`)
  return name
}

function decodeBody(type: number, r: PayloadReader): ReaderMessage | null {
  switch (type) {
    case READER_MESSAGE_TYPES.hello:
      return { kind: 'hello', model: r.string('model'), firmware: r.string('firmware'), serial: r.string('serial') }
    case READER_MESSAGE_TYPES.tagPresent: {
      const uid = r.uid()
      const code = r.u8('tag type')
      const tagType = TAG_TYPE_CODES[code]
      if (tagType === undefined) throw new Malformed(`unknown tag type code 0x${code.toString(16).padStart(2, '0')}`)
      if (r.remaining === 0) return { kind: 'tagPresent', uid, type: tagType }
      const format = r.u8('sun format')
      if (format !== SUN_FORMAT_AES) throw new Malformed(`unknown SUN format 0x${format.toString(16).padStart(2, '0')}`)
      const sun = { piccData: r.hex('sun PICC data', SUN_PICC_DATA_BYTES), cmac: r.hex('sun MAC', SUN_MAC_BYTES) }
      return { kind: 'tagPresent', uid, type: tagType, sun }
    }
    case READER_MESSAGE_TYPES.tagGone:
      return { kind: 'tagGone', uid: r.uid() }
    case READER_MESSAGE_TYPES.feedbackAck:
      return { kind: 'feedbackAck', ackSeq: r.u8('ackSeq') }
    case READER_MESSAGE_TYPES.error:
      return { kind: 'error', code: r.u8('code'), text: r.string('text') }
    case READER_MESSAGE_TYPES.identify:
      return { kind: 'identify' }
    case READER_MESSAGE_TYPES.feedback:
      return { kind: 'feedback', led: named('led', LED_COLOURS, r.u8('led')), beep: named('beep', BEEP_PATTERNS, r.u8('beep')), durationMs: r.u16('durationMs') }
    default:
      return null
  }
}

/** Frame type and payload → message; never throws. */
export function decodeReaderMessage(type: number, payload: Uint8Array): DecodedReaderMessage {
  const r = new PayloadReader(payload)
  try {
    const message = decodeBody(type, r)
    if (message === null) return { ok: false, error: 'unknown-type', detail: `unknown message type 0x${Number(type).toString(16).padStart(2, '0')}` }
    r.end()
    return { ok: true, message }
  } catch (err) {
    if (err instanceof Malformed) return { ok: false, error: 'malformed', detail: `${kindName(type)}: ${err.message}` }
    throw err
  }
}

function kindName(type: number): string {
  return (Object.keys(READER_MESSAGE_TYPES) as ReaderMessageKind[]).find((k) => READER_MESSAGE_TYPES[k] === type) ?? `type ${type}`
}

const FROM_READER: ReadonlySet<string> = new Set(['hello', 'tagPresent', 'tagGone', 'feedbackAck', 'error'])
/** True for messages a reader sends; a host receiving anything else is talking to something odd. */
export function isReaderToHost(message: ReaderMessage): message is ReaderToHostMessage {
  return FROM_READER.has(message.kind)
}
