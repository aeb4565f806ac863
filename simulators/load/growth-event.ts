// The event of the growth bench: the load event (load-event.ts: the load
// generator's kiosks and wristbands, the beer) and beside it the kiosks and
// wristbands of the history the ledger filler writes: more tills at the same
// bar, many more guests, and a cup deposit that goes with every filled beer.
// The empty and the filled ledger run on this same set-up, so the postings are
// the only difference between them. A real kiosk daemon (the chaos run's
// kiosk process) may take part too, selling its free-price item.
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { publicKeyToBase64Url } from '../../device-protocol/index.js'
import { randomPin, type EventSetup } from '../../gateway/event-setup.js'
import { CHAOS_PRODUCT } from '../chaos/kiosk-protocol.js'
import { createLoadEvent, LOAD_PRODUCT, type LoadFleetFile } from './load-event.js'

export const CUP_DEPOSIT = { id: 'cup', price: 100 }

export interface GrowthEvent {
  setup: EventSetup
  /** For `wristpay-sim load`. */
  fleet: LoadFleetFile
  /** The kiosks and wristbands the filler writes its history for. */
  fill: { kiosks: Array<{ id: string; privateKey: KeyObject }>; wristbands: string[]; cart: Array<{ product: string; qty: number }> }
  /** Every wristband's PIN, for logging in to the portal. */
  pins: Map<string, string>
}

export function createGrowthEvent(options: {
  kiosks: number
  wristbands: number
  fillKiosks: number
  fillWristbands: number
  /** Kiosk daemons that take part with keys of their own. */
  tills?: Array<{ id: string; token: string; publicKey: string }>
}): GrowthEvent {
  const { setup: load, fleet } = createLoadEvent({ kiosks: options.kiosks, wristbands: options.wristbands })
  const fillKiosks = Array.from({ length: options.fillKiosks }, (_, i) => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519')
    return { id: `fill-${i + 1}`, token: randomBytes(24).toString('base64url'), publicKey, privateKey }
  })
  // Past the load generator's wristbands (0x04000000 + i).
  const fillWristbands = Array.from({ length: options.fillWristbands }, (_, i) => (0x05000000 + i).toString(16).toUpperCase().padStart(14, '0'))
  const booth = load.booths[0]!.id
  const setup: EventSetup = {
    ...load,
    products: [
      ...load.products,
      { id: CUP_DEPOSIT.id, name: 'Cup deposit', price: CUP_DEPOSIT.price, booth, kind: 'deposit' },
      { id: CHAOS_PRODUCT, name: 'Anything', price: 0, booth, fixedPrice: false },
    ],
    kiosks: [
      ...load.kiosks,
      ...(options.tills ?? []).map((k) => ({ id: k.id, booth, token: k.token, publicKey: k.publicKey, saleAllowed: true, topupAllowed: true })),
      ...fillKiosks.map((k) => ({ id: k.id, booth, token: k.token, publicKey: publicKeyToBase64Url(k.publicKey), saleAllowed: true, topupAllowed: true })),
    ],
    wristbands: [...load.wristbands, ...fillWristbands.map((uid) => ({ uid, pin: randomPin() }))],
  }
  return {
    setup,
    fleet,
    fill: {
      kiosks: fillKiosks.map((k) => ({ id: k.id, privateKey: k.privateKey })),
      wristbands: fillWristbands,
      cart: [
        { product: LOAD_PRODUCT.id, qty: 1 },
        { product: CUP_DEPOSIT.id, qty: 1 },
      ],
    },
    pins: new Map(setup.wristbands.map((w) => [w.uid, w.pin])),
  }
}
