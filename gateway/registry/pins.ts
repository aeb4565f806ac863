// Portal PINs. A guest logs in with the PIN alone (no UID), so the ledger must
// find a wristband by its PIN: it stores a keyed hash (HMAC-SHA256 under a
// server-side secret) that is deterministic and can carry a UNIQUE index. A
// slow salted hash would make that lookup impossible; the PINs are instead
// high-entropy (8 to 32 characters of a 32-symbol alphabet, at least 40 bits)
// and login attempts are rate limited by the portal.
import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto'

/** Letters and digits without the look-alikes 0/O and 1/I: 32 symbols, 5 bits each. */
export const PIN_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'
export const MIN_PIN_LENGTH = 8
export const MAX_PIN_LENGTH = 32
/** What randomPin() makes by default: 10 symbols = 50 bits. */
export const DEFAULT_PIN_LENGTH = 10

/** A PIN as written in the event set-up: the alphabet in either case (compared case-insensitively). */
export const PIN_PATTERN = `^[A-HJ-NP-Za-hj-np-z2-9]{${MIN_PIN_LENGTH},${MAX_PIN_LENGTH}}$`
const NORMALISED_PIN = new RegExp(`^[A-HJ-NP-Z2-9]{${MIN_PIN_LENGTH},${MAX_PIN_LENGTH}}$`)

/** Bytes of a generated PIN secret; a configured one must have at least MIN_PIN_SECRET_BYTES. */
export const PIN_SECRET_BYTES = 32
export const MIN_PIN_SECRET_BYTES = 16

/**
 * The canonical form of a PIN as a guest may type it: upper case, with spaces
 * and hyphens (grouping such as `ABCD-EFGH`) removed. Returns undefined when
 * the result is not a well-formed PIN, so a malformed login never reaches the
 * database.
 */
export function normalisePin(pin: string): string | undefined {
  if (typeof pin !== 'string' || pin.length > 4 * MAX_PIN_LENGTH) return undefined
  const canonical = pin.replace(/[\s-]/g, '').toUpperCase()
  return NORMALISED_PIN.test(canonical) ? canonical : undefined
}

/** A uniformly random PIN (crypto.randomInt over the 32-symbol alphabet). */
export function randomPin(length = DEFAULT_PIN_LENGTH): string {
  if (!Number.isInteger(length) || length < MIN_PIN_LENGTH || length > MAX_PIN_LENGTH)
    throw new RangeError(`PIN length must be an integer ${MIN_PIN_LENGTH}..${MAX_PIN_LENGTH}, got ${length}`)
  let pin = ''
  for (let i = 0; i < length; i++) pin += PIN_ALPHABET[randomInt(PIN_ALPHABET.length)]
  return pin
}

export function generatePinSecret(): Buffer {
  return randomBytes(PIN_SECRET_BYTES)
}

/** HMAC-SHA256(secret, normalised PIN), hex; undefined for a malformed PIN. */
export function pinLookup(secret: Buffer, pin: string): string | undefined {
  const canonical = normalisePin(pin)
  return canonical === undefined ? undefined : createHmac('sha256', secret).update(canonical, 'utf8').digest('hex')
}

/**
 * A short fingerprint of the secret, kept in the database so that opening it
 * with another secret (which would make every stored PIN unfindable) is
 * detected instead of silently locking every guest out.
 */
export function pinSecretFingerprint(secret: Buffer): string {
  return createHmac('sha256', secret).update('wristpay pin secret fingerprint v1', 'utf8').digest('hex').slice(0, 32)
}

/** Constant-time comparison of two hex lookups of the same length. */
export function lookupsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex')
  const right = Buffer.from(b, 'hex')
  if (left.length !== right.length || left.length === 0) {
    timingSafeEqual(left, left)
    return false
  }
  return timingSafeEqual(left, right)
}
