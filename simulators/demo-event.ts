// The demo's event: a bar, a food stand and a top-up station, kiosks for
// them, and guests with wristbands. Tokens are made fresh for every run.
import { randomBytes } from 'node:crypto'
import { randomPin, type EventSetup } from '../gateway/event-setup.js'

export type KioskRole = 'bar' | 'food' | 'topup'

export interface DemoKiosk {
  id: string
  role: KioskRole
  token: string
}

const PRODUCTS: EventSetup['products'] = [
  { id: 'beer', name: 'Beer 0.5 l', price: 450, booth: 'bar' },
  { id: 'radler', name: 'Radler 0.5 l', price: 420, booth: 'bar' },
  { id: 'water', name: 'Water 0.5 l', price: 250, booth: 'bar' },
  { id: 'cola', name: 'Cola 0.33 l', price: 300, booth: 'bar' },
  { id: 'fries', name: 'Fries', price: 400, booth: 'food' },
  { id: 'burger', name: 'Burger', price: 850, booth: 'food' },
  { id: 'falafel', name: 'Falafel wrap', price: 750, booth: 'food' },
]

/** Roles in the order kiosks are added: a fleet of 3 has one of each. */
const ROLE_CYCLE: readonly KioskRole[] = ['bar', 'food', 'topup']

export function demoKiosks(count: number): DemoKiosk[] {
  const perRole = new Map<KioskRole, number>()
  return Array.from({ length: count }, (_, i) => {
    const role = ROLE_CYCLE[i % ROLE_CYCLE.length]!
    const n = (perRole.get(role) ?? 0) + 1
    perRole.set(role, n)
    return { id: `${role}-${n}`, role, token: randomBytes(24).toString('base64url') }
  })
}

/** A 7-byte NTAG UID: NXP's manufacturer byte 04, then six random bytes. */
export function randomTagUid(): string {
  return `04${randomBytes(6).toString('hex')}`.toUpperCase()
}

export function demoEventSetup(kiosks: readonly DemoKiosk[], guestCount: number): EventSetup {
  return {
    event: { name: 'wristpay demo festival', currency: 'EUR' },
    booths: [
      { id: 'bar', name: 'Main bar' },
      { id: 'food', name: 'Food stand' },
      { id: 'topup', name: 'Top-up station' },
    ],
    products: PRODUCTS,
    kiosks: kiosks.map((k) => ({
      id: k.id,
      booth: k.role,
      token: k.token,
      saleAllowed: k.role !== 'topup',
      topupAllowed: k.role === 'topup',
    })),
    wristbands: Array.from({ length: guestCount }, () => ({
      uid: randomTagUid(),
      pin: randomPin(),
    })),
  }
}
