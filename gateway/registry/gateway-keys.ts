// The gateway's own keys, kept in the ledger database's meta table (generated
// on first use, so restarts keep them and the kiosks' pinned key stays valid):
// an Ed25519 key that signs the blocklist the kiosks enforce offline, and an
// X25519 key that guests' PINs are sealed to for a tag switch (JWE ECDH-ES).
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import type { SqlDatabase } from '../sql/database.js'
import { compactDecrypt } from 'jose'
import { createSecretStore, type SecretStore } from '../secret-store.js'

export interface GatewayKeys {
  signingKey: KeyObject
  /** The signing key's public half, base64url (the JWK `x`): the kiosk config's `gatewayKey`. */
  signingPublicKey: string
  /** The X25519 public key (JWK `x`): the kiosk config's `pinSealKey`. */
  sealPublicKey: string
  /** Opens a PIN sealed with sealPublicKey; undefined for anything that does not decrypt to a short text. */
  unsealPin(jwe: string): Promise<string | undefined>
}

const MAX_SEALED_PIN_CHARS = 64

function loadOrCreate(secrets: SecretStore, metaKey: string, type: 'ed25519' | 'x25519'): KeyObject {
  const pem = secrets.text(metaKey, () => {
    const { privateKey } = type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('x25519')
    return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  })
  return createPrivateKey(pem)
}

const publicX = (key: KeyObject): string => {
  const jwk = createPublicKey(key).export({ format: 'jwk' })
  if (typeof jwk.x !== 'string') throw new TypeError('key has no public x')
  return jwk.x
}

export function loadGatewayKeys(db: SqlDatabase): GatewayKeys {
  const secrets = createSecretStore(db, 'meta')
  const signingKey = loadOrCreate(secrets, 'gateway_signing_key', 'ed25519')
  const sealKey = loadOrCreate(secrets, 'gateway_pin_seal_key', 'x25519')
  return {
    signingKey,
    signingPublicKey: publicX(signingKey),
    sealPublicKey: publicX(sealKey),
    async unsealPin(jwe) {
      if (typeof jwe !== 'string' || jwe.length > 2048) return undefined
      try {
        const { plaintext, protectedHeader } = await compactDecrypt(jwe, sealKey, { keyManagementAlgorithms: ['ECDH-ES'], contentEncryptionAlgorithms: ['A256GCM'] })
        if (protectedHeader.alg !== 'ECDH-ES' || plaintext.byteLength > MAX_SEALED_PIN_CHARS) return undefined
        return new TextDecoder('utf-8', { fatal: true }).decode(plaintext)
      } catch {
        // Not ours, tampered, or not UTF-8: the tag switch is refused as a wrong PIN.
        return undefined
      }
    },
  }
}
