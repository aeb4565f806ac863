// Test code only: an event set-up with the kiosk-operation fields (product
// kinds, till profiles, staff, cash registers, offline policy, variants and
// vouchers) built on testSetup(), and a world of signing kiosks with a staff
// member logged in at each.
import type { Test } from 'tap'
import { CompactEncrypt, importJWK } from 'jose'
import type { Envelope, Line, Transaction, TxResult } from '../../../device-protocol/index.js'
import type { EventSetup } from '../../event-setup.js'
import { openLedgerDatabase } from '../db.js'
import { createLedger, type Ledger } from '../ledger.js'
import { PIN, SigningKiosk, UID, fixedClock, silentLogger, testSetup, type KioskKeys, type TxIntent } from './test-helpers.js'
import type { Outcome, VerifiedEnvelope } from '../types.js'

/** Wristbands of opsSetup besides testSetup's alice, bob and blocked. */
export const OPS_UID = {
  ...UID,
  teen: '04AAAA00000001',
  crew: '04CCCC00000001',
  fresh: '04F0F0F0F0F001',
  fresh2: '04F0F0F0F0F002',
} as const
export const OPS_PIN = { ...PIN, teen: 'TEEN2345AB', crew: 'CREW2345AB' } as const

/** Staff wristbands and the supervisor's PIN. */
export const STAFF = { cashier: '0A000001', topup: '0A000002', supervisor: '0A000003', both: '0A000004' } as const
export const SUPERVISOR_PIN = '90817263'

export const CANCEL_WINDOW_MS = 60_000

export type OpsKioskName = 'bar' | 'cash' | 'food' | 'desk'

/**
 * testSetup() plus:
 * - bar: beer (19 % tax, voucher-eligible, restricted for under16/under18),
 *   water (7 %), cup (deposit), happy (discount −50), tip (free price, no
 *   limit), donation (free price up to 1000), hidden (not in the bar profile);
 * - cashdesk: day ticket (5000, adult), youth ticket (3000, under16), merch (an item);
 * - profiles: bar-till (sale, cancels within 60 s, no 'hidden'), cash-till
 *   (cash/card top-up, cash-out, tickets, register), desk (tag switch, cash
 *   top-up without register); food-1 keeps its two flags;
 * - staff: a cashier, a top-up clerk, a supervisor with a PIN, a cashier+topup;
 * - registers drawer-1 and drawer-2; offline sales allowed;
 * - wristbands teen (under16) and crew (3 vouchers).
 */
export function opsSetup(keys: Partial<Record<string, SigningKiosk['keys']>> = {}): EventSetup {
  const base = testSetup(keys)
  const key = keys['desk-1']?.publicKeyBase64Url
  return {
    ...base,
    booths: [...base.booths],
    products: [
      { id: 'beer', name: 'Beer', price: 450, booth: 'bar', taxRate: 1900, voucherEligible: true, restrictions: ['under16', 'under18'] },
      { id: 'water', name: 'Water', price: 200, booth: 'bar', taxRate: 700 },
      { id: 'cup', name: 'Cup deposit', price: 200, booth: 'bar', kind: 'deposit' },
      { id: 'happy', name: 'Happy hour', price: -50, booth: 'bar', kind: 'discount' },
      { id: 'tip', name: 'Tip', price: 0, booth: 'bar', fixedPrice: false },
      { id: 'donation', name: 'Donation', price: 1000, booth: 'bar', fixedPrice: false },
      { id: 'hidden', name: 'Staff only', price: 100, booth: 'bar' },
      { id: 'fries', name: 'Fries', price: 350, booth: 'food' },
      { id: 'tap-water', name: 'Tap water', price: 0, booth: 'food' },
      { id: 'day', name: 'Day ticket', price: 5000, booth: 'cashdesk', kind: 'ticket', taxRate: 700 },
      { id: 'youth', name: 'Youth ticket', price: 3000, booth: 'cashdesk', kind: 'ticket', ticketVariant: 'under16' },
      { id: 'merch', name: 'Shirt', price: 1500, booth: 'cashdesk' },
    ],
    tillProfiles: [
      {
        id: 'bar-till',
        name: 'Bar till',
        sale: true,
        topupCash: false,
        topupCard: false,
        cashout: false,
        ticketSale: false,
        tagSwitch: false,
        cashRegister: false,
        cancelWindowMs: CANCEL_WINDOW_MS,
        products: ['beer', 'water', 'cup', 'happy', 'tip', 'donation'],
      },
      { id: 'cash-till', name: 'Cash desk', sale: false, topupCash: true, topupCard: true, cashout: true, ticketSale: true, tagSwitch: false, cashRegister: true, cancelWindowMs: 0 },
      { id: 'desk', name: 'Info desk', sale: false, topupCash: true, topupCard: false, cashout: false, ticketSale: false, tagSwitch: true, cashRegister: false, cancelWindowMs: 0 },
    ],
    staff: [
      { uid: STAFF.cashier, name: 'Cara Cashier', roles: ['cashier'] },
      { uid: STAFF.topup, name: 'Tom Topup', roles: ['topup'] },
      { uid: STAFF.supervisor, name: 'Sue Supervisor', roles: ['supervisor'], pin: SUPERVISOR_PIN },
      { uid: STAFF.both, name: 'Bo Both', roles: ['cashier', 'topup'] },
    ],
    cashRegisters: [
      { id: 'drawer-1', name: 'Drawer 1' },
      { id: 'drawer-2', name: 'Drawer 2' },
    ],
    offline: { allowed: true, perTagCapCents: 5_000, kioskTotalCapCents: 50_000 },
    kiosks: [
      ...base.kiosks.map((k) => (k.id === 'bar-1' ? { ...k, profile: 'bar-till' } : k.id === 'cash-1' ? { ...k, profile: 'cash-till' } : k)),
      { id: 'desk-1', booth: 'cashdesk', token: 'token-of-desk-1-0123456789abcdef', saleAllowed: false, topupAllowed: false, profile: 'desk', ...(key ? { publicKey: key } : {}) },
    ],
    wristbands: [
      ...base.wristbands,
      { uid: OPS_UID.teen, pin: OPS_PIN.teen, variant: 'under16' },
      { uid: OPS_UID.crew, pin: OPS_PIN.crew, vouchers: 3 },
    ],
  }
}

/** A signing kiosk with a staff member logged in: every transaction names `staff` unless it is set to undefined. */
export class StaffedKiosk extends SigningKiosk {
  staff: string | undefined

  constructor(id: string, staff: string | undefined, keys?: KioskKeys) {
    super(id, keys)
    this.staff = staff
  }

  override next(intent: TxIntent, override: Partial<Transaction> = {}): Envelope {
    return super.next(intent, { ...(this.staff === undefined ? {} : { staff: this.staff }), ...override })
  }

  cart(uid: string, lines: Line[], override: Partial<Transaction> = {}): Envelope {
    const total = lines.reduce((s, l) => s + l.qty * l.unitPrice, 0)
    return total < 0 ? this.next({ type: 'return', uid, lines, amount: -total }, override) : this.next({ type: 'sale', uid, lines, amount: total }, override)
  }
}

export interface OpsWorld {
  db: ReturnType<typeof openLedgerDatabase>
  ledger: Ledger
  setup: EventSetup
  kiosks: Record<OpsKioskName, StaffedKiosk>
  clock: ReturnType<typeof fixedClock>
  close(): void
}

/** Default logins: cashier at the bar, top-up clerk at the cash desk, supervisor at food-1 and the info desk. */
export function makeOpsWorld(adjust: (setup: EventSetup) => void = () => {}): OpsWorld {
  const db = openLedgerDatabase(':memory:')
  const clock = fixedClock()
  const ledger = createLedger({ db, clock, logger: silentLogger })
  const kiosks: Record<OpsKioskName, StaffedKiosk> = {
    bar: new StaffedKiosk('bar-1', STAFF.cashier),
    cash: new StaffedKiosk('cash-1', STAFF.topup),
    food: new StaffedKiosk('food-1', STAFF.supervisor),
    desk: new StaffedKiosk('desk-1', STAFF.supervisor),
  }
  const setup = opsSetup({ 'bar-1': kiosks.bar.keys, 'cash-1': kiosks.cash.keys, 'food-1': kiosks.food.keys, 'desk-1': kiosks.desk.keys })
  adjust(setup)
  ledger.registry.importEventSetup(setup)
  return { db, ledger, setup, kiosks, clock, close: () => db.close() }
}

export type Answer = TxResult & { booked: boolean; recorded: boolean; replay: boolean; alerts?: Array<{ kind: string; message: string }>; configsChanged?: boolean }

export function answerOf(outcome: Outcome | undefined): Answer {
  if (outcome?.kind !== 'result') throw new Error(`expected a result, got ${JSON.stringify(outcome)}`)
  const answer: Answer = { ...outcome.result, booked: outcome.booked, recorded: outcome.recorded, replay: outcome.replay }
  if (outcome.alerts !== undefined) answer.alerts = outcome.alerts
  if (outcome.configsChanged !== undefined) answer.configsChanged = outcome.configsChanged
  return answer
}

/** Applies envelopes (one batch) and returns their answers. */
export function applyAll(ledger: Ledger, ...items: Array<Envelope | VerifiedEnvelope>): Answer[] {
  return ledger.applyBatch(items.map((i) => ('envelope' in i ? i : { envelope: i }))).map(answerOf)
}

/** Applies one envelope and returns its answer. */
export function applyOne(ledger: Ledger, item: Envelope | VerifiedEnvelope): Answer {
  return applyAll(ledger, item)[0]!
}

/** A world for one test, closed when the test ends. */
export function opsWorld(t: Test, adjust?: Parameters<typeof makeOpsWorld>[0]): OpsWorld {
  const w = makeOpsWorld(adjust)
  t.teardown(w.close)
  return w
}

/**
 * Applies, checks the answer echoes the envelope and, when booked, that its
 * postings sum to zero; a resend (without any unsealed PIN: it is answered from
 * the record) must be a replay with the same answer, extras included, and no alerts.
 */
export function bookChecked(t: Test, w: OpsWorld, item: Envelope | VerifiedEnvelope): Answer {
  const envelope = 'envelope' in item ? item.envelope : item
  const a = applyOne(w.ledger, item)
  t.equal(a.id, envelope.tx.id)
  t.equal(a.seq, envelope.tx.seq)
  if (a.booked) t.equal(postingsSum(w.ledger, envelope.tx.id), 0, 'postings sum to zero')
  const again = applyOne(w.ledger, { envelope })
  t.ok(again.replay, 'a resend is a replay')
  t.same(resultFields(again), resultFields(a), 'a resend gets the same answer, extras included')
  t.equal(again.alerts, undefined, 'a replay alerts nothing')
  return a
}

/** The result fields a kiosk sees (what a resend must repeat exactly). */
export function resultFields(a: Answer): TxResult {
  const { booked: _b, recorded: _r, replay: _p, alerts: _a, configsChanged: _c, ...result } = a
  return result
}

/** Puts money on a wristband through the info desk (a cash top-up, no register there). */
export function fund(w: OpsWorld, uid: string, cents: number): void {
  const a = applyOne(w.ledger, w.kiosks.desk.topup(uid, cents))
  if (a.status !== 'accepted') throw new Error(`funding ${uid} failed: ${a.reason}`)
}

/** Sum of the postings of a booked transaction. */
export function postingsSum(ledger: Ledger, id: string): number {
  const tx = ledger.transaction(id)
  if (tx === undefined) throw new Error(`no transaction ${id}`)
  return tx.postings.reduce((s, p) => s + p.amount, 0)
}

/** A PIN sealed to the gateway's X25519 key, as a kiosk sends it in a tag switch. */
export async function sealPin(pin: string, sealPublicKey: string): Promise<string> {
  const key = await importJWK({ kty: 'OKP', crv: 'X25519', x: sealPublicKey }, 'ECDH-ES')
  return new CompactEncrypt(new TextEncoder().encode(pin)).setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM' }).encrypt(key)
}

export const line = (product: string, qty: number, unitPrice: number): Line => ({ product, qty, unitPrice })
export const L = {
  beer: (qty = 1) => line('beer', qty, 450),
  water: (qty = 1) => line('water', qty, 200),
  cup: (qty = 1) => line('cup', qty, 200),
  happy: (qty = 1) => line('happy', qty, -50),
  day: (qty = 1) => line('day', qty, 5000),
  youth: (qty = 1) => line('youth', qty, 3000),
}
