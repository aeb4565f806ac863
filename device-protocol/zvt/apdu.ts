// ZVT APDU envelope: CLASS INSTR LEN DATA. Pure.
// LEN is one byte for 0..254 bytes of data; 0xFF means "extended": the next two
// bytes are the length, low byte first (up to 65,535).

export interface ZvtApdu {
  cls: number
  instr: number
  data: Buffer
}

export const ZVT_MAX_DATA_BYTES = 0xffff

export function encodeApdu(cls: number, instr: number, data: Uint8Array = Buffer.alloc(0)): Buffer {
  for (const [name, v] of [['class', cls], ['instr', instr]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`${name} must be a byte, got ${v}`)
  }
  if (data.length > ZVT_MAX_DATA_BYTES) throw new RangeError(`APDU data of ${data.length} bytes exceeds ${ZVT_MAX_DATA_BYTES}`)
  const header = data.length < 0xff ? Buffer.of(cls, instr, data.length) : Buffer.of(cls, instr, 0xff, data.length & 0xff, data.length >> 8)
  return Buffer.concat([header, data])
}

export type DecodeApduResult = { ok: true; apdu: ZvtApdu } | { ok: false; error: 'short' | 'length'; detail: string }

export function decodeApdu(bytes: Uint8Array): DecodeApduResult {
  if (bytes.length < 3) return { ok: false, error: 'short', detail: `APDU of ${bytes.length} bytes (at least 3 needed)` }
  const buf = Buffer.from(bytes)
  let length = buf[2]!
  let start = 3
  if (length === 0xff) {
    if (buf.length < 5) return { ok: false, error: 'short', detail: 'extended length without its two bytes' }
    length = buf.readUInt16LE(3)
    start = 5
  }
  if (buf.length - start !== length) return { ok: false, error: 'length', detail: `length field says ${length} bytes, ${buf.length - start} present` }
  return { ok: true, apdu: { cls: buf[0]!, instr: buf[1]!, data: buf.subarray(start) } }
}
