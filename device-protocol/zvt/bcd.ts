// Packed BCD and the ZVT length prefixes (LLVAR, LLLVAR). Pure.
//
// ZVT writes numbers as packed BCD, two digits per byte, most significant
// first (amount 12.34 EUR as 6 bytes: 00 00 00 00 12 34). Variable fields are
// prefixed by their length in "FxFy" form: every length digit in the low
// nibble of a byte whose high nibble is F (length 12 = F1 F2).

/** Encodes a string of decimal digits into `bytes` bytes of packed BCD, left-padded with zeros. */
export function encodeBcd(digits: string, bytes: number): Buffer {
  if (!/^[0-9]*$/.test(digits)) throw new RangeError(`BCD digits must be 0-9, got ${JSON.stringify(digits)}`)
  if (digits.length > bytes * 2) throw new RangeError(`${digits.length} digits do not fit into ${bytes} BCD bytes`)
  const padded = digits.padStart(bytes * 2, '0')
  return Buffer.from(padded, 'hex')
}

/** Decodes packed BCD into its digits; null if any nibble is not 0-9. */
export function decodeBcd(bytes: Uint8Array): string | null {
  const hex = Buffer.from(bytes).toString('hex')
  return /^[0-9]*$/.test(hex) ? hex : null
}

/** 6 bytes of BCD: at most 12 digits, i.e. 9,999,999,999.99 in cents. */
export const ZVT_MAX_AMOUNT_CENTS = 999_999_999_999

export function encodeAmount(amountCents: number): Buffer {
  if (!Number.isSafeInteger(amountCents) || amountCents < 0 || amountCents > ZVT_MAX_AMOUNT_CENTS) {
    throw new RangeError(`amount must be an integer number of cents 0..${ZVT_MAX_AMOUNT_CENTS}, got ${amountCents}`)
  }
  return encodeBcd(String(amountCents), 6)
}

export function decodeAmount(bytes: Uint8Array): number | null {
  const digits = decodeBcd(bytes)
  return digits === null ? null : Number(digits)
}

/** The FxFy(Fz) length prefix of an LLVAR (2 digits) or LLLVAR (3 digits) field. */
export function encodeVarLength(length: number, digits: 2 | 3): Buffer {
  const max = digits === 2 ? 99 : 999
  if (!Number.isInteger(length) || length < 0 || length > max) throw new RangeError(`variable field of ${length} bytes exceeds ${max}`)
  const text = String(length).padStart(digits, '0')
  return Buffer.from([...text].map((d) => 0xf0 | Number(d)))
}

/** Reads an FxFy(Fz) length prefix at `offset`; null if the bytes are not of that form or missing. */
export function decodeVarLength(bytes: Uint8Array, offset: number, digits: 2 | 3): number | null {
  if (offset + digits > bytes.length) return null
  let length = 0
  for (let i = 0; i < digits; i++) {
    const b = bytes[offset + i]!
    if ((b & 0xf0) !== 0xf0 || (b & 0x0f) > 9) return null
    length = length * 10 + (b & 0x0f)
  }
  return length
}

/**
 * A masked card number (BMP 22): packed digits where nibble E stands for a
 * masked digit and a trailing F pads an odd count. Returns e.g. "************1234",
 * or null for any other nibble.
 */
export function decodeMaskedPan(bytes: Uint8Array): string | null {
  const hex = Buffer.from(bytes).toString('hex').toUpperCase().replace(/F$/, '')
  if (!/^[0-9E]*$/.test(hex)) return null
  return hex.replace(/E/g, '*')
}

/** The inverse of decodeMaskedPan: digits and '*' (masked). */
export function encodeMaskedPan(masked: string): Buffer {
  if (!/^[0-9*]+$/.test(masked)) throw new RangeError('a masked PAN holds only digits and *')
  const nibbles = masked.replace(/\*/g, 'E') + (masked.length % 2 === 1 ? 'F' : '')
  return Buffer.from(nibbles, 'hex')
}
