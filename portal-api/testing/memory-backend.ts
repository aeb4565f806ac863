// An in-memory PortalBackend for the plugin's unit tests (and the web page's):
// guests, orders and checkouts in maps, with the same rules as the gateway's
// backend (donation within the balance, a checkout belongs to one guest).
import { randomUUID } from 'node:crypto'
import type {
  CheckoutStatus,
  CustomerInfoUpdate,
  PortalBackend,
  PortalBlob,
  PortalConfig,
  PortalCustomer,
  PortalOrder,
  PortalSession,
  TopupService,
} from '../backend.js'
import { PortalError } from '../backend.js'

export interface MemoryGuest {
  uid: string
  pin: string
  balanceCents: number
  blocked?: boolean
  orders?: Omit<PortalOrder, 'id'>[]
}

export const defaultPortalConfig: PortalConfig = {
  nodeId: 1,
  testMode: false,
  testModeMessage: '',
  eventName: 'Test Fest',
  dataPrivacyUrl: 'https://example.org/privacy',
  contactEmail: 'help@example.org',
  aboutPageUrl: 'https://example.org/about',
  payoutEnabled: true,
  currency: 'EUR',
  topupEnabled: true,
  allowedCountryCodes: ['DE', 'AT', 'NL'],
  translationTexts: {},
  bonLogoBlobId: null,
  feedbackUrl: null,
  bon: { title: 'Test Fest', issuer: 'Test Fest e.V.', address: 'Street 1, 12345 Town', ustId: 'DE000000000' },
  minTopupCents: 100,
  maxTopupCents: 50_000,
}

export interface MemoryPortalBackend extends PortalBackend {
  readonly sessions: Map<string, PortalSession & { revoked: boolean }>
  setBalance(uid: string, cents: number): void
  putBlob(id: string, blob: PortalBlob): void
}

export function createMemoryPortalBackend(options: {
  guests: MemoryGuest[]
  topups: TopupService
  config?: Partial<PortalConfig>
}): MemoryPortalBackend {
  const config: PortalConfig = { ...defaultPortalConfig, ...options.config }
  const customers = new Map<string, PortalCustomer & { pin: string; orders: PortalOrder[] }>()
  options.guests.forEach((g, i) => {
    customers.set(g.uid, {
      id: i + 1,
      uid: g.uid,
      pin: g.pin,
      balanceCents: g.balanceCents,
      blocked: g.blocked ?? false,
      iban: null,
      accountName: null,
      email: null,
      donationCents: 0,
      donateAll: false,
      hasEnteredInfo: false,
      orders: (g.orders ?? []).map((o, j) => ({ ...o, id: j + 1 })),
    })
  })
  const sessions = new Map<string, PortalSession & { revoked: boolean }>()
  const checkouts = new Map<string, { uid: string; checkoutId: string }>()
  const blobs = new Map<string, PortalBlob>()

  function known(uid: string) {
    const c = customers.get(uid)
    if (c === undefined) throw new PortalError(404, 'unknown_customer', 'no such customer')
    return c
  }

  function view(c: PortalCustomer & { pin: string; orders: PortalOrder[] }): PortalCustomer {
    const { pin: _pin, orders: _orders, ...customer } = c
    return customer
  }

  return {
    sessions,
    setBalance(uid, cents) {
      known(uid).balanceCents = cents
    },
    putBlob(id, blob) {
      blobs.set(id, blob)
    },
    findWristbandByPin(pin) {
      for (const c of customers.values()) if (c.pin === pin) return c.uid
      return undefined
    },
    createSession(session) {
      sessions.set(session.jti, { ...session, revoked: false })
    },
    sessionActive(jti, uid, nowMs) {
      const s = sessions.get(jti)
      return s !== undefined && !s.revoked && s.uid === uid && s.expiresAtMs > nowMs
    },
    revokeSession(jti) {
      const s = sessions.get(jti)
      if (s) s.revoked = true
    },
    customer(uid) {
      const c = customers.get(uid)
      return c === undefined ? undefined : view(c)
    },
    orders(uid) {
      return known(uid).orders
    },
    updateCustomerInfo(uid, info: CustomerInfoUpdate) {
      const c = known(uid)
      if (info.donationCents > c.balanceCents) throw new PortalError(422, 'donation_exceeds_balance', 'donation is more than the balance', 'donation')
      Object.assign(c, { iban: info.iban, accountName: info.accountName, email: info.email, donationCents: info.donationCents, donateAll: false, hasEnteredInfo: true })
    },
    donateAll(uid) {
      const c = known(uid)
      c.donateAll = true
      c.hasEnteredInfo = true
    },
    payoutInfo() {
      return { inPayoutRun: false, payoutDateMs: null }
    },
    payoutTransactions() {
      return []
    },
    config() {
      return config
    },
    receipt(receiptId) {
      for (const c of customers.values()) {
        const order = c.orders.find((o) => o.receiptId === receiptId)
        if (order) return { order, customer: { id: c.id, uid: c.uid } }
      }
      return undefined
    },
    blob(id) {
      return blobs.get(id)
    },
    async createCheckout(uid, amountCents) {
      known(uid)
      const { checkoutId, redirectUrl } = await options.topups.createCheckout({ uid, amountCents })
      const orderUuid = randomUUID()
      checkouts.set(orderUuid, { uid, checkoutId })
      return redirectUrl === undefined ? { orderUuid, checkoutId } : { orderUuid, checkoutId, redirectUrl }
    },
    async checkCheckout(uid, ref): Promise<{ status: CheckoutStatus }> {
      const entry =
        'orderUuid' in ref ? checkouts.get(ref.orderUuid) : [...checkouts.values()].find((c) => c.checkoutId === ref.checkoutId)
      if (entry === undefined || entry.uid !== uid) throw new PortalError(404, 'unknown_checkout', 'no such checkout')
      return options.topups.checkCheckout({ uid, checkoutId: entry.checkoutId })
    },
  }
}
