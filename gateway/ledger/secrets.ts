// Kiosk tokens and guest PINs are stored only as hashes.
// Tokens are high-entropy secrets, so one SHA-256 is enough; PINs are a few
// digits, so they get a salted scrypt (slow on purpose).
import { createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto'

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

/** Constant-time comparison of a presented token with a stored hash. */
export function tokenMatches(token: string, storedHash: string): boolean {
  const presented = Buffer.from(hashToken(token), 'hex')
  const stored = Buffer.from(storedHash, 'hex')
  if (stored.length !== presented.length) {
    // Still spend a comparison so an unknown or corrupt row does not answer faster.
    timingSafeEqual(presented, presented)
    return false
  }
  return timingSafeEqual(presented, stored)
}

export const DEFAULT_PIN_SCRYPT_N = 16384
const SCRYPT_R = 8
const SCRYPT_P = 1
const KEY_BYTES = 32
// Upper bound of N read back from a stored hash, so a tampered row cannot make us allocate gigabytes.
const MAX_SCRYPT_N = 1 << 20

/** `scrypt$N$r$p$salt$hash` (salt and hash base64url). */
export function hashPin(pin: string, scryptN = DEFAULT_PIN_SCRYPT_N): string {
  const salt = randomBytes(16)
  const key = scryptSync(pin, salt, KEY_BYTES, { N: scryptN, r: SCRYPT_R, p: SCRYPT_P })
  return ['scrypt', scryptN, SCRYPT_R, SCRYPT_P, salt.toString('base64url'), key.toString('base64url')].join('$')
}

export function pinMatches(pin: string, stored: string): boolean {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [n, r, p] = parts.slice(1, 4).map(Number) as [number, number, number]
  if (![n, r, p].every(Number.isInteger) || n < 2 || n > MAX_SCRYPT_N || r < 1 || r > 32 || p < 1 || p > 16) return false
  const salt = Buffer.from(parts[4]!, 'base64url')
  const expected = Buffer.from(parts[5]!, 'base64url')
  if (expected.length !== KEY_BYTES) return false
  let key: Buffer
  try {
    key = scryptSync(pin, salt, KEY_BYTES, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 })
  } catch {
    return false
  }
  return timingSafeEqual(key, expected)
}
