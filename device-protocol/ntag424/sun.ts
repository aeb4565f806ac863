// NTAG 424 DNA "Secure Unique NFC" (SUN) messages, AES mode, as NXP's
// application note AN12196 ("NTAG 424 DNA and NTAG 424 DNA TagTamper features
// and hints") describes them. Pure functions, no I/O.
//
// On every read the tag increments its SDMReadCtr and mirrors into its NDEF
// message:
//   - the encrypted PICC data: AES-128-CBC, IV 0, key K_SDMMetaRead, of
//     PICCDataTag (1) || UID (7) || SDMReadCtr (3, little-endian) || random (5);
//   - the SDMMAC: a CMAC under the session key
//     K_SesSDMFileReadMAC = CMAC(K_SDMFileRead, SV2), with
//     SV2 = 3C C3 00 01 00 80 || UID || SDMReadCtr, over the bytes of the NDEF
//     message between SDMMACInputOffset and SDMMACOffset (empty when the two
//     offsets are equal), truncated to the odd-indexed bytes S1 S3 ... S15.
// Only a tag that holds the keys can produce a valid pair, and each pair
// carries its read counter, so a copy replayed later shows an old counter.
//
// Supported: AES mode (16-byte PICC data) with UID and counter mirrored
// (PICCDataTag C7h). LRP mode (24-byte PICC data) and encrypted file data are
// not, and are refused as malformed.
import { createCipheriv, createDecipheriv, timingSafeEqual } from 'node:crypto'
import { aesCmac } from './aes-cmac.js'

export const SUN_KEY_BYTES = 16
export const PICC_DATA_BYTES = 16
export const SDM_MAC_BYTES = 8
export const SUN_UID_BYTES = 7
/** The highest SDMReadCtr: 3 bytes. The tag stops answering SUN reads there. */
export const MAX_SDM_READ_COUNTER = 0xffffff
/** PICCDataTag of a tag that mirrors UID and SDMReadCtr (bits 7 and 6) with a 7-byte UID (bits 3..0). */
export const PICC_DATA_TAG_UID_AND_COUNTER = 0xc7

/** A SUN message as readers report it: upper-case hex. */
export interface SunMessage {
  /** 16 bytes of encrypted PICC data, 32 hex digits. */
  piccData: string
  /** The 8-byte truncated SDMMAC, 16 hex digits. */
  cmac: string
}

export interface SunKeys {
  /** K_SDMMetaRead (16 bytes): decrypts the PICC data. Shared by all tags: the UID is only known after decryption. */
  metaReadKey: Uint8Array
  /** K_SDMFileRead (16 bytes) of the tag with this UID (upper-case hex), or undefined if there is none. */
  fileReadKeyFor(uid: string): Uint8Array | undefined
}

export type SunFailure =
  /** Not 16 + 8 bytes of hex. */
  | 'malformed'
  /** The PICC data did not decrypt to UID and counter: another meta read key, or forged bytes. */
  | 'bad_picc_data'
  /** No file read key for the decrypted UID. */
  | 'no_key'
  /** The SDMMAC does not match: a forged or altered message, or another file read key. */
  | 'bad_mac'

export type SunVerification = { ok: true; uid: string; counter: number } | { ok: false; failure: SunFailure }

const ZERO_IV = Buffer.alloc(16)
const SV2_PREFIX = Buffer.from('3cc300010080', 'hex')
const PICC_DATA_HEX = /^[0-9A-Fa-f]{32}$/
const SDM_MAC_HEX = /^[0-9A-Fa-f]{16}$/

function requireKey(name: string, key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== SUN_KEY_BYTES) throw new RangeError(`${name} must be ${SUN_KEY_BYTES} bytes`)
}

function requireUid(uid: Uint8Array): void {
  if (uid.length !== SUN_UID_BYTES) throw new RangeError(`a SUN UID is ${SUN_UID_BYTES} bytes, got ${uid.length}`)
}

function requireCounter(counter: number): void {
  if (!Number.isInteger(counter) || counter < 0 || counter > MAX_SDM_READ_COUNTER) throw new RangeError(`SDMReadCtr must be 0..${MAX_SDM_READ_COUNTER}, got ${counter}`)
}

function counterBytes(counter: number): Buffer {
  const bytes = Buffer.alloc(3)
  bytes.writeUIntLE(counter, 0, 3)
  return bytes
}

/** AES-128-CBC of one block with IV 0 (the tag's PICC data encryption), either way. */
function aesBlock(direction: 'encrypt' | 'decrypt', key: Uint8Array, block: Uint8Array): Buffer {
  const cipher = direction === 'encrypt' ? createCipheriv('aes-128-cbc', key, ZERO_IV) : createDecipheriv('aes-128-cbc', key, ZERO_IV)
  cipher.setAutoPadding(false)
  return Buffer.concat([cipher.update(block), cipher.final()])
}

/** Decrypted PICC data, or undefined unless it says UID and counter are mirrored with a 7-byte UID. */
export function decryptPiccData(metaReadKey: Uint8Array, encrypted: Uint8Array): { piccDataTag: number; uid: Buffer; counter: number } | undefined {
  requireKey('metaReadKey', metaReadKey)
  if (encrypted.length !== PICC_DATA_BYTES) return undefined
  const plain = aesBlock('decrypt', metaReadKey, encrypted)
  const piccDataTag = plain[0]!
  if (piccDataTag !== PICC_DATA_TAG_UID_AND_COUNTER) return undefined
  return { piccDataTag, uid: plain.subarray(1, 8), counter: plain.readUIntLE(8, 3) }
}

/** What the tag does: encrypts PICCDataTag || UID || SDMReadCtr || 5 random bytes. For simulators and tests. */
export function encryptPiccData(metaReadKey: Uint8Array, uid: Uint8Array, counter: number, random: Uint8Array): Buffer {
  requireKey('metaReadKey', metaReadKey)
  requireUid(uid)
  requireCounter(counter)
  if (random.length !== 5) throw new RangeError('the PICC data padding is 5 random bytes')
  return aesBlock('encrypt', metaReadKey, Buffer.concat([Buffer.of(PICC_DATA_TAG_UID_AND_COUNTER), uid, counterBytes(counter), random]))
}

/** K_SesSDMFileReadMAC = CMAC(K_SDMFileRead, SV2), SV2 = 3C C3 00 01 00 80 || UID || SDMReadCtr (16 bytes, no padding needed). */
export function sessionMacKey(fileReadKey: Uint8Array, uid: Uint8Array, counter: number): Buffer {
  requireKey('fileReadKey', fileReadKey)
  requireUid(uid)
  requireCounter(counter)
  return aesCmac(fileReadKey, Buffer.concat([SV2_PREFIX, uid, counterBytes(counter)]))
}

/** NXP's MACt: the odd-indexed bytes S1 S3 ... S15 of a 16-byte CMAC. */
export function truncateMac(mac: Uint8Array): Buffer {
  if (mac.length !== 16) throw new RangeError('a CMAC is 16 bytes')
  return Buffer.from([1, 3, 5, 7, 9, 11, 13, 15].map((i) => mac[i]!))
}

/** The 8-byte SDMMAC a tag with this key, UID and counter mirrors over `macInput` (empty by default). */
export function sdmMac(fileReadKey: Uint8Array, uid: Uint8Array, counter: number, macInput: Uint8Array = Buffer.alloc(0)): Buffer {
  return truncateMac(aesCmac(sessionMacKey(fileReadKey, uid, counter), macInput))
}

/**
 * Checks a SUN message: decrypts the PICC data, derives the tag's session MAC
 * key, compares the SDMMAC in constant time. Never throws on what the tag or
 * reader sent; throws RangeError only for keys of the wrong size (our config).
 * `macInput`: the NDEF bytes between SDMMACInputOffset and SDMMACOffset, empty
 * for tags configured with both offsets equal.
 */
export function verifySun(message: SunMessage, keys: SunKeys, macInput: Uint8Array = Buffer.alloc(0)): SunVerification {
  requireKey('metaReadKey', keys.metaReadKey)
  if (typeof message?.piccData !== 'string' || typeof message.cmac !== 'string' || !PICC_DATA_HEX.test(message.piccData) || !SDM_MAC_HEX.test(message.cmac))
    return { ok: false, failure: 'malformed' }
  const picc = decryptPiccData(keys.metaReadKey, Buffer.from(message.piccData, 'hex'))
  if (picc === undefined) return { ok: false, failure: 'bad_picc_data' }
  const uid = picc.uid.toString('hex').toUpperCase()
  const fileReadKey = keys.fileReadKeyFor(uid)
  if (fileReadKey === undefined) return { ok: false, failure: 'no_key' }
  const expected = sdmMac(fileReadKey, picc.uid, picc.counter, macInput)
  if (!timingSafeEqual(expected, Buffer.from(message.cmac, 'hex'))) return { ok: false, failure: 'bad_mac' }
  return { ok: true, uid, counter: picc.counter }
}
