// The event a load run sells at, and what the load generator needs to play its
// kiosks: the bench writes the set-up for the gateway and the fleet file (kiosk
// tokens and private keys, the wristbands, the product) for `wristpay-sim load`.
import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { publicKeyToBase64Url } from '../../device-protocol/index.js'
import { randomPin, type EventSetup } from '../../gateway/event-setup.js'

export interface LoadFleetFile {
  kiosks: Array<{ id: string; token: string; /** PKCS#8 DER, base64. */ privateKey: string }>
  /** Wristband UIDs, each topped up before the measured phases. */
  wristbands: string[]
  product: { id: string; price: number }
}

export const LOAD_PRODUCT = { id: 'beer', price: 450 }

export function createLoadEvent(options: { kiosks: number; wristbands: number }): { setup: EventSetup; fleet: LoadFleetFile } {
  const kiosks = Array.from({ length: options.kiosks }, (_, i) => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519')
    return { id: `load-${i + 1}`, token: randomBytes(24).toString('base64url'), publicKey, privateKey }
  })
  const wristbands = Array.from({ length: options.wristbands }, (_, i) => (0x04000000 + i).toString(16).toUpperCase().padStart(14, '0'))
  const setup: EventSetup = {
    event: { name: 'load', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: LOAD_PRODUCT.id, name: 'Beer', price: LOAD_PRODUCT.price, booth: 'bar' }],
    kiosks: kiosks.map((k) => ({ id: k.id, booth: 'bar', token: k.token, publicKey: publicKeyToBase64Url(k.publicKey), saleAllowed: true, topupAllowed: true })),
    wristbands: wristbands.map((uid) => ({ uid, pin: randomPin() })),
  }
  const fleet: LoadFleetFile = {
    kiosks: kiosks.map((k) => ({ id: k.id, token: k.token, privateKey: (k.privateKey.export({ format: 'der', type: 'pkcs8' }) as Buffer).toString('base64') })),
    wristbands,
    product: LOAD_PRODUCT,
  }
  return { setup, fleet }
}

/** Written readable by us only: it holds kiosk tokens and private keys. */
export function writeJsonPrivately(path: string, value: unknown): void {
  writeFileSync(path, JSON.stringify(value), { mode: 0o600 })
}

export function readLoadFleetFile(path: string): LoadFleetFile {
  const fleet = JSON.parse(readFileSync(path, 'utf8')) as LoadFleetFile
  if (!Array.isArray(fleet.kiosks) || fleet.kiosks.length === 0 || !Array.isArray(fleet.wristbands) || fleet.wristbands.length === 0) {
    throw new TypeError(`${path}: a fleet file needs kiosks and wristbands`)
  }
  return fleet
}

export const fleetPrivateKey = (base64: string): KeyObject => createPrivateKey({ key: Buffer.from(base64, 'base64'), format: 'der', type: 'pkcs8' })
