// A kiosk's public key, checked before the gateway trusts it. Node's
// createPublicKey takes any 32 bytes as an Ed25519 key, including points of
// small order (the all-zero key, the identity, ...) and points with a torsion
// component. A signature under such a key can verify for many messages without
// the kiosk's private key existing at all, so whoever holds a registration code
// or the admin token could enroll a key that proves nothing. An honest kiosk's
// key is always a point of the prime-order subgroup in canonical encoding; we
// refuse anything else. The curve arithmetic is @noble/curves' (audited), not ours.
import type { KeyObject } from 'node:crypto'
import { ed25519 } from '@noble/curves/ed25519'
import { publicKeyFromBase64Url } from '../../device-protocol/index.js'

export class KioskKeyError extends Error {
  override name = 'KioskKeyError'
}

const BASE64URL_KEY = /^[A-Za-z0-9_-]{43}$/

/**
 * The Ed25519 key of a kiosk from its base64url form (a JWK's x): throws a
 * KioskKeyError naming what is wrong, and never quotes the key.
 */
export function parseKioskPublicKey(publicKeyBase64Url: string): KeyObject {
  if (!BASE64URL_KEY.test(publicKeyBase64Url)) throw new KioskKeyError('the public key is not a base64url Ed25519 key (43 characters)')
  const raw = Buffer.from(publicKeyBase64Url, 'base64url')
  if (raw.length !== 32 || raw.toString('base64url') !== publicKeyBase64Url) throw new KioskKeyError('the public key is not a base64url Ed25519 key (43 characters)')
  let point: InstanceType<typeof ed25519.ExtendedPoint>
  try {
    point = ed25519.ExtendedPoint.fromHex(raw)
  } catch {
    throw new KioskKeyError('the public key is not a point of the Ed25519 curve')
  }
  // fromHex accepts some non-canonical encodings (y >= p); a kiosk never makes them.
  if (!Buffer.from(point.toRawBytes()).equals(raw)) throw new KioskKeyError('the public key is not in canonical Ed25519 encoding')
  if (point.isSmallOrder()) throw new KioskKeyError('the public key is a weak Ed25519 key (a point of small order)')
  if (!point.isTorsionFree()) throw new KioskKeyError('the public key is a weak Ed25519 key (it has a small-order component)')
  let key: KeyObject
  try {
    key = publicKeyFromBase64Url(publicKeyBase64Url)
  } catch {
    throw new KioskKeyError('the public key is not a base64url Ed25519 key')
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new KioskKeyError('the public key is not Ed25519')
  return key
}
