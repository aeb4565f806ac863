// The festival the simulation runs: three booths, four kiosks (two bars that
// only sell, a food stand that sells and tops up, a cash desk that tops up),
// a handful of guests, and offline sales allowed with small caps so that long
// outages run into them.
import type { EventSetup } from '../../gateway/event-setup.js'

export const SIM_KIOSKS = [
  { id: 'bar-1', booth: 'bar', sells: true, topsUp: false },
  { id: 'bar-2', booth: 'bar', sells: true, topsUp: false },
  { id: 'food-1', booth: 'food', sells: true, topsUp: true },
  { id: 'cash-1', booth: 'cashdesk', sells: false, topsUp: true },
] as const

export const SIM_PRODUCTS: Record<string, ReadonlyArray<{ id: string; price: number }>> = {
  bar: [
    { id: 'beer', price: 450 },
    { id: 'water', price: 200 },
  ],
  food: [
    { id: 'fries', price: 350 },
    { id: 'burger', price: 900 },
  ],
  cashdesk: [],
}

export const SIM_WRISTBANDS = ['04A1B2C3D4E501', '04A1B2C3D4E502', '04A1B2C3D4E503', '04A1B2C3D4E504', '04A1B2C3D4E505', '04A1B2C3D4E506'] as const

export const OFFLINE_POLICY = { allowed: true, perTagCapCents: 1_500, kioskTotalCapCents: 4_000 } as const

const PINS = ['GUESTAA2', 'GUESTBB3', 'GUESTCC4', 'GUESTDD5', 'GUESTEE6', 'GUESTFF7']

export function simEventSetup(publicKeys: Record<string, string>): EventSetup {
  return {
    event: { name: 'Simulated Fest', currency: 'EUR' },
    booths: [
      { id: 'bar', name: 'Bar' },
      { id: 'food', name: 'Food' },
      { id: 'cashdesk', name: 'Cash desk' },
    ],
    products: Object.entries(SIM_PRODUCTS).flatMap(([booth, products]) => products.map((p) => ({ id: p.id, name: p.id, price: p.price, booth }))),
    offline: { ...OFFLINE_POLICY },
    kiosks: SIM_KIOSKS.map((k) => ({
      id: k.id,
      booth: k.booth,
      token: `token-of-${k.id}-0123456789abcdef`,
      saleAllowed: k.sells,
      topupAllowed: k.topsUp,
      publicKey: publicKeys[k.id]!,
    })),
    wristbands: SIM_WRISTBANDS.map((uid, i) => ({ uid, pin: PINS[i]! })),
  }
}
