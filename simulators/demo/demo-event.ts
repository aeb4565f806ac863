// The demo's event: a bar (with cup deposits, a happy-hour discount and beer
// that under-18 wristbands may not buy), a food stand, a top-up station and an
// entrance cash desk that sells tickets, each till with its profile; staff
// wristbands for every till (the supervisor with a PIN); cash registers for
// the two tills that take cash; guests of several variants, crew with drink
// vouchers. Tokens and PINs are made fresh for every run.
import { randomBytes, randomInt } from 'node:crypto'
import { randomPin, type EventSetup } from '../../gateway/event-setup.js'

export type KioskRole = 'bar' | 'food' | 'topup' | 'cashdesk'

export interface DemoKiosk {
  id: string
  role: KioskRole
  token: string
  /** The staff wristband the cashier of this till logs in with. */
  staffUid: string
  /** The cash register its shift is opened on (tills that take cash). */
  register?: string
}

export interface DemoStaff {
  uid: string
  name: string
  roles: Array<'cashier' | 'topup' | 'supervisor'>
  pin?: string
}

const VAT_DRINKS = 1900
const VAT_FOOD = 700

const PRODUCTS: EventSetup['products'] = [
  { id: 'beer', name: 'Beer 0.5 l', price: 450, booth: 'bar', taxRate: VAT_DRINKS, voucherEligible: true, restrictions: ['under16', 'under18'] },
  { id: 'radler', name: 'Radler 0.5 l', price: 420, booth: 'bar', taxRate: VAT_DRINKS, voucherEligible: true, restrictions: ['under16'] },
  { id: 'water', name: 'Water 0.5 l', price: 250, booth: 'bar', taxRate: VAT_DRINKS, voucherEligible: true },
  { id: 'cola', name: 'Cola 0.33 l', price: 300, booth: 'bar', taxRate: VAT_DRINKS, voucherEligible: true },
  { id: 'cup', name: 'Cup deposit', price: 200, booth: 'bar', kind: 'deposit' },
  { id: 'happy-hour', name: 'Happy hour', price: -50, booth: 'bar', kind: 'discount' },
  { id: 'tip', name: 'Tip', price: 2000, booth: 'bar', fixedPrice: false },
  { id: 'fries', name: 'Fries', price: 400, booth: 'food', taxRate: VAT_FOOD },
  { id: 'burger', name: 'Burger', price: 850, booth: 'food', taxRate: VAT_FOOD },
  { id: 'falafel', name: 'Falafel wrap', price: 750, booth: 'food', taxRate: VAT_FOOD },
  { id: 'day-ticket', name: 'Day ticket', price: 3500, booth: 'cashdesk', kind: 'ticket', taxRate: VAT_FOOD, ticketVariant: 'adult' },
  { id: 'day-ticket-u18', name: 'Day ticket under 18', price: 2000, booth: 'cashdesk', kind: 'ticket', taxRate: VAT_FOOD, ticketVariant: 'under18' },
]

export const DEMO_PROFILES: NonNullable<EventSetup['tillProfiles']> = [
  { id: 'bar-till', name: 'Bar till', sale: true, topupCash: false, topupCard: false, cashout: false, ticketSale: false, tagSwitch: false, cashRegister: false, cancelWindowMs: 120_000 },
  { id: 'food-till', name: 'Food till', sale: true, topupCash: false, topupCard: false, cashout: false, ticketSale: false, tagSwitch: false, cashRegister: false, cancelWindowMs: 120_000 },
  { id: 'topup-station', name: 'Top-up station', sale: false, topupCash: true, topupCard: true, cashout: true, ticketSale: false, tagSwitch: false, cashRegister: true, cancelWindowMs: 0 },
  { id: 'cash-desk', name: 'Entrance cash desk', sale: false, topupCash: true, topupCard: false, cashout: true, ticketSale: true, tagSwitch: true, cashRegister: true, cancelWindowMs: 0 },
]

const PROFILE_OF: Record<KioskRole, string> = { bar: 'bar-till', food: 'food-till', topup: 'topup-station', cashdesk: 'cash-desk' }
const STAFF_ROLE_OF: Record<KioskRole, 'cashier' | 'topup'> = { bar: 'cashier', food: 'cashier', topup: 'topup', cashdesk: 'topup' }

/** Roles in the order kiosks are added: a fleet of 4 has one of each. */
const ROLE_CYCLE: readonly KioskRole[] = ['bar', 'food', 'topup', 'cashdesk']

/** A 7-byte NTAG UID: NXP's manufacturer byte 04, then six random bytes. */
export function randomTagUid(): string {
  return `04${randomBytes(6).toString('hex')}`.toUpperCase()
}

export function demoKiosks(count: number): DemoKiosk[] {
  const perRole = new Map<KioskRole, number>()
  return Array.from({ length: count }, (_, i) => {
    const role = ROLE_CYCLE[i % ROLE_CYCLE.length]!
    const n = (perRole.get(role) ?? 0) + 1
    perRole.set(role, n)
    const id = `${role}-${n}`
    const kiosk: DemoKiosk = { id, role, token: randomBytes(24).toString('base64url'), staffUid: randomTagUid() }
    if (role === 'topup' || role === 'cashdesk') kiosk.register = `drawer-${id}`
    return kiosk
  })
}

/** The portal's FAQ and terms pages (Markdown), in both of its languages. */
const PORTAL_TEXTS: NonNullable<EventSetup['portal']> = {
  translationTexts: {
    'en-US': {
      faq: [
        '## How do I pay?',
        'Hold your wristband to the reader at any bar or food stand. The screen shows the price and your new balance.',
        '## How do I get money on my wristband?',
        'With cash at the top-up station or the entrance cash desk, or online on this page.',
        '## I lost my wristband',
        'Come to the info point with the PIN from your wristband card: your balance moves to a new wristband.',
        '## How do I get my money back?',
        'Cash at the cash desk before you leave, or enter your bank account on this page for a transfer after the event.',
      ].join('\n\n'),
      agb: [
        '## Terms of the wristpay demo festival',
        'This is a demo: no real money moves. Balances are kept in euro cents; a cup deposit of 2.00 is refunded when the cup comes back.',
        'Remaining balances are paid out after the event to the bank account you enter, less any donation you choose.',
      ].join('\n\n'),
    },
    'de-DE': {
      faq: [
        '## Wie bezahle ich?',
        'Halte dein Armband an das Lesegerät an einer Bar oder einem Essensstand. Der Bildschirm zeigt den Preis und dein neues Guthaben.',
        '## Wie lade ich Geld auf mein Armband?',
        'Bar an der Aufladestation oder an der Kasse am Eingang, oder online auf dieser Seite.',
        '## Ich habe mein Armband verloren',
        'Komm mit der PIN von deiner Armbandkarte zum Infopunkt: dein Guthaben zieht auf ein neues Armband um.',
        '## Wie bekomme ich mein Geld zurück?',
        'Bar an der Kasse, bevor du gehst, oder gib auf dieser Seite dein Bankkonto für eine Überweisung nach der Veranstaltung an.',
      ].join('\n\n'),
      agb: [
        '## AGB des wristpay-Demofestivals',
        'Dies ist eine Demo: es fließt kein echtes Geld. Guthaben werden in Euro-Cent geführt; 2,00 Becherpfand gibt es bei Rückgabe des Bechers zurück.',
        'Restguthaben werden nach der Veranstaltung auf das angegebene Bankkonto überwiesen, abzüglich einer gewählten Spende.',
      ].join('\n\n'),
    },
  },
}

export interface DemoEvent {
  setup: EventSetup
  staff: DemoStaff[]
  supervisor: DemoStaff
}

export function demoEvent(kiosks: readonly DemoKiosk[], guestCount: number): DemoEvent {
  const staff: DemoStaff[] = kiosks.map((k) => ({ uid: k.staffUid, name: `Staff ${k.id}`, roles: [STAFF_ROLE_OF[k.role]] }))
  const supervisor: DemoStaff = { uid: randomTagUid(), name: 'Supervisor', roles: ['supervisor'], pin: String(randomInt(100_000, 1_000_000)) }
  const setup: EventSetup = {
    event: { name: 'wristpay demo festival', currency: 'EUR' },
    // A made-up account of the organiser: the portal shows it for bank top-ups, and payout files send from it.
    portal: { ...PORTAL_TEXTS, bankAccount: { holder: 'wristpay demo festival e.V.', iban: 'DE02120300000000202051', bic: 'BYLADEM1001' } },
    booths: [
      { id: 'bar', name: 'Main bar' },
      { id: 'food', name: 'Food stand' },
      { id: 'topup', name: 'Top-up station' },
      { id: 'cashdesk', name: 'Entrance cash desk' },
    ],
    products: PRODUCTS,
    tillProfiles: DEMO_PROFILES,
    staff: [...staff, supervisor],
    cashRegisters: kiosks.filter((k) => k.register !== undefined).map((k) => ({ id: k.register!, name: `Drawer of ${k.id}` })),
    offline: { allowed: true, perTagCapCents: 2_000, kioskTotalCapCents: 20_000 },
    kiosks: kiosks.map((k) => ({
      id: k.id,
      booth: k.role,
      token: k.token,
      saleAllowed: k.role === 'bar' || k.role === 'food',
      topupAllowed: k.role === 'topup' || k.role === 'cashdesk',
      profile: PROFILE_OF[k.role],
    })),
    // One guest in eight is under 18, one in ten is crew with two drink vouchers.
    wristbands: Array.from({ length: guestCount }, (_, i) => ({
      uid: randomTagUid(),
      pin: randomPin(),
      ...(i % 8 === 7 ? { variant: 'under18' } : {}),
      ...(i % 10 === 3 ? { vouchers: 2 } : {}),
    })),
  }
  return { setup, staff, supervisor }
}
