// Password hashing for the users API: salted scrypt (node:crypto), verified in
// constant time. The async scrypt runs on the thread pool, so a login does not
// stall the gateway's event loop (ingest runs there too).
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

export const DEFAULT_PASSWORD_SCRYPT_N = 16384
const SCRYPT_R = 8
const SCRYPT_P = 1
const KEY_BYTES = 32
const SALT_BYTES = 16
// A tampered row must not make us allocate gigabytes.
const MAX_SCRYPT_N = 1 << 20

function scryptAsync(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key)))
  })
}

/** `scrypt$N$r$p$salt$hash` (salt and hash base64url). */
export async function hashPassword(password: string, scryptN = DEFAULT_PASSWORD_SCRYPT_N): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const key = await scryptAsync(password, salt, { N: scryptN, r: SCRYPT_R, p: SCRYPT_P, maxmem: 256 * scryptN * SCRYPT_R })
  return ['scrypt', scryptN, SCRYPT_R, SCRYPT_P, salt.toString('base64url'), key.toString('base64url')].join('$')
}

/** False for a wrong password and for any malformed stored hash (e.g. a deleted user's ''). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [n, r, p] = parts.slice(1, 4).map(Number) as [number, number, number]
  if (![n, r, p].every(Number.isInteger) || n < 2 || n > MAX_SCRYPT_N || r < 1 || r > 32 || p < 1 || p > 16) return false
  const salt = Buffer.from(parts[4]!, 'base64url')
  const expected = Buffer.from(parts[5]!, 'base64url')
  if (expected.length !== KEY_BYTES) return false
  let key: Buffer
  try {
    key = await scryptAsync(password, salt, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 })
  } catch {
    return false
  }
  return timingSafeEqual(key, expected)
}

/**
 * A hash of a random password: login with an unknown email verifies against it,
 * so that answering "wrong email" costs as much as "wrong password".
 */
export function createDecoyHash(scryptN = DEFAULT_PASSWORD_SCRYPT_N): Promise<string> {
  return hashPassword(randomBytes(24).toString('base64url'), scryptN)
}
