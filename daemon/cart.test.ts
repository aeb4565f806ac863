import t from 'tap'
import type { KioskConfig } from '../device-protocol/index.js'
import { priceCart, priceTickets, restrictedProducts, variantOf } from './cart.js'
import { effectiveProfile } from './profile.js'

const PROFILE = { id: 'bar', name: 'Bar', sale: true, topupCash: false, topupCard: false, cashout: false, ticketSale: true, tagSwitch: false, cashRegister: false, cancelWindowMs: 0 }
const config: KioskConfig = {
  kiosk: 'bar-1',
  booth: 'Bar',
  version: 1,
  topupAllowed: false,
  saleAllowed: true,
  profile: PROFILE,
  products: [
    { id: 'beer', name: 'Beer', price: 450, restrictions: ['under-16', 'under-18'] },
    { id: 'cup', name: 'Cup deposit', price: 200, kind: 'deposit' },
    { id: 'happy', name: 'Happy hour', price: -100, kind: 'discount' },
    { id: 'tip', name: 'Tip', price: 0, fixedPrice: false },
    { id: 'cake', name: 'Cake', price: 500, fixedPrice: false },
    { id: 'day', name: 'Day ticket', price: 3_000, kind: 'ticket', ticketVariant: 'adult' },
    { id: 'odd', name: 'Odd ticket', price: 0, kind: 'ticket', fixedPrice: false },
  ],
  tagVariants: [{ uid: '04AAAAAAAAAAAA', variant: 'under-16' }],
}

const refused = (result: ReturnType<typeof priceCart> | ReturnType<typeof priceTickets>) => (result.ok ? 'ok' : result.type)

t.test('sale: fixed prices, deposits, discounts, free prices', async (t) => {
  t.same(priceCart([{ product: 'beer', qty: 2 }, { product: 'cup', qty: 2 }], config), {
    ok: true,
    value: { type: 'sale', amount: 1_300, lines: [{ product: 'beer', qty: 2, unitPrice: 450 }, { product: 'cup', qty: 2, unitPrice: 200 }] },
  })
  t.match(priceCart([{ product: 'beer', qty: 1 }, { product: 'happy', qty: 1 }], config), { ok: true, value: { type: 'sale', amount: 350 } }, 'a discount is a negative unit price')
  t.match(priceCart([{ product: 'tip', qty: 1, unitPrice: 12_345 }], config), { ok: true, value: { amount: 12_345, lines: [{ unitPrice: 12_345 }] } }, 'price 0: no upper limit')
  t.match(priceCart([{ product: 'cake', qty: 2, unitPrice: 500 }], config), { ok: true, value: { amount: 1_000 } })
  t.match(priceCart([{ product: 'tip', qty: 1, unitPrice: 0 }], config), { ok: true, value: { type: 'sale', amount: 0 } })
})

t.test('returned deposits: a negative total is a return of what the wristband gets', async (t) => {
  t.same(priceCart([{ product: 'cup', qty: -3 }], config), { ok: true, value: { type: 'return', amount: 600, lines: [{ product: 'cup', qty: -3, unitPrice: 200 }] } })
  t.match(priceCart([{ product: 'beer', qty: 1 }, { product: 'cup', qty: -1 }], config), { ok: true, value: { type: 'sale', amount: 250 } })
  t.match(priceCart([{ product: 'beer', qty: 1 }, { product: 'cup', qty: -3 }], config), { ok: true, value: { type: 'return', amount: 150 } })
  t.equal(refused(priceCart([{ product: 'beer', qty: -1 }], config)), 'not_returnable')
  t.equal(refused(priceCart([{ product: 'happy', qty: -1 }], config)), 'not_returnable', 'a negative discount would be a surcharge by the back door')
})

t.test('sale refusals', async (t) => {
  const cases: Array<[unknown, string]> = [
    [[], 'empty_cart'],
    ['beer', 'empty_cart'],
    [[{ product: 'wine', qty: 1 }], 'unknown_product'],
    [[{ product: 'constructor', qty: 1 }], 'unknown_product'],
    [[{ product: 7, qty: 1 }], 'unknown_product'],
    [[{ product: 'beer', qty: 0 }], 'invalid_quantity'],
    [[{ product: 'beer', qty: 1.5 }], 'invalid_quantity'],
    [[{ product: 'cup', qty: -1001 }], 'invalid_quantity'],
    [[{ product: 'beer', qty: '1' }], 'invalid_quantity'],
    [[{ product: 'beer', qty: 1, unitPrice: 400 }], 'invalid_price'],
    [[{ product: 'tip', qty: 1 }], 'price_required'],
    [[{ product: 'tip', qty: 1, unitPrice: -5 }], 'invalid_price'],
    [[{ product: 'tip', qty: 1, unitPrice: 2.5 }], 'invalid_price'],
    [[{ product: 'tip', qty: 1, unitPrice: 10_000_001 }], 'invalid_price'],
    [[{ product: 'cake', qty: 1, unitPrice: 501 }], 'invalid_price'],
    [[{ product: 'day', qty: 1 }], 'ticket_not_allowed'],
    [Array.from({ length: 101 }, () => ({ product: 'beer', qty: 1 })), 'cart_too_large'],
    [[{ product: 'tip', qty: 1000, unitPrice: 10_001 }], 'cart_too_large'],
  ]
  for (const [lines, type] of cases) t.equal(refused(priceCart(lines as never, config)), type, JSON.stringify(lines).slice(0, 80))
  t.equal(refused(priceCart([{ product: 'beer', qty: 1 }], { ...config, profile: { ...PROFILE, sale: false } })), 'sale_not_allowed')
  const legacy = { ...config, saleAllowed: false }
  delete legacy.profile
  t.equal(refused(priceCart([{ product: 'beer', qty: 1 }], legacy)), 'sale_not_allowed', 'without a profile the old flag decides')
})

t.test('restricted products by the wristband variant; returns are never restricted', async (t) => {
  const lines = [{ product: 'beer', qty: 1, unitPrice: 450 }, { product: 'cup', qty: 1, unitPrice: 200 }]
  t.equal(variantOf(config, '04AAAAAAAAAAAA'), 'under-16')
  t.same(restrictedProducts(lines, config, '04AAAAAAAAAAAA'), ['beer'])
  t.same(restrictedProducts(lines, config, '04BBBBBBBBBBBB'), [], 'no variant: no restriction')
  t.same(restrictedProducts([{ product: 'beer', qty: -1, unitPrice: 450 }], config, '04AAAAAAAAAAAA'), [])
  const noVariants = { ...config }
  delete noVariants.tagVariants
  t.same(restrictedProducts(lines, noVariants, '04AAAAAAAAAAAA'), [])
})

t.test('tickets: ticket products at fixed prices plus a top-up', async (t) => {
  t.same(priceTickets([{ product: 'day', qty: 2 }], 1_000, config), { ok: true, value: { lines: [{ product: 'day', qty: 2, unitPrice: 3_000 }], topup: 1_000, amount: 7_000 } })
  t.equal(refused(priceTickets([], 0, config)), 'empty_cart')
  t.equal(refused(priceTickets([{ product: 'beer', qty: 1 }], 0, config)), 'ticket_not_allowed')
  t.equal(refused(priceTickets([{ product: 'odd', qty: 1 }], 0, config)), 'ticket_not_allowed')
  t.equal(refused(priceTickets([{ product: 'day', qty: 0 }], 0, config)), 'invalid_quantity')
  t.equal(refused(priceTickets([{ product: 'day', qty: -1 }], 0, config)), 'invalid_quantity')
  for (const topup of [-1, 1.5, Number.NaN, 10_000_001]) t.equal(refused(priceTickets([{ product: 'day', qty: 1 }], topup, config)), 'invalid_amount')
  t.equal(refused(priceTickets([{ product: 'day', qty: 1 }], 9_999_000, config)), 'cart_too_large')
  t.equal(refused(priceTickets([{ product: 'day', qty: 1 }], 0, { ...config, profile: { ...PROFILE, ticketSale: false } })), 'ticket_not_allowed')
})

t.test('effective profile: the config one, or the two flags and nothing else', async (t) => {
  t.same(effectiveProfile(config), PROFILE)
  t.same(effectiveProfile({ booth: 'Top-up', saleAllowed: false, topupAllowed: true }), {
    id: 'default',
    name: 'Top-up',
    sale: false,
    topupCash: true,
    topupCard: true,
    cashout: false,
    ticketSale: false,
    tagSwitch: false,
    cashRegister: false,
    cancelWindowMs: 0,
  })
})
