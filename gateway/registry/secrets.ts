// Kiosk tokens are stored only as hashes. They are high-entropy secrets, so one
// SHA-256 is enough. (Guest PINs: see pins.ts.)
import { createHash, timingSafeEqual } from 'node:crypto'

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
