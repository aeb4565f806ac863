// A guest's portal PIN sealed to the gateway for a tag switch: JWE compact,
// ECDH-ES with X25519 and A256GCM, so neither the outbox, the MQTT broker nor a
// log ever holds the PIN in the clear. Only the gateway's private key opens it.

/** Portal PINs: 8-32 of A-Z and 2-9 without I and O, compared case-insensitively. */
const PORTAL_PIN = /^[A-HJ-NP-Z2-9]{8,32}$/

/** The PIN as the gateway compares it (upper case), or undefined when it cannot be a portal PIN. */
export function normalisePortalPin(pin: unknown): string | undefined {
  if (typeof pin !== 'string') return undefined
  const upper = pin.trim().toUpperCase()
  return PORTAL_PIN.test(upper) ? upper : undefined
}

export async function sealPin(pin: string, pinSealKeyBase64Url: string): Promise<string> {
  // Loaded on the first tag switch, not at start: jose (about 50 modules) would stay in
  // the memory of every kiosk for a step most kiosks never take.
  const { CompactEncrypt, importJWK } = await import('jose')
  const key = await importJWK({ kty: 'OKP', crv: 'X25519', x: pinSealKeyBase64Url }, 'ECDH-ES')
  return new CompactEncrypt(new TextEncoder().encode(pin)).setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM' }).encrypt(key)
}
