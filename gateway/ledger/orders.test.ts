import t from 'tap'
import { UID, makeWorld, testSetup, verified, type TestWorld } from './testing/test-helpers.js'
import { accountIds } from './types.js'

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const beer = { product: 'beer', qty: 2, unitPrice: 450 }
const water = { product: 'water', qty: 1, unitPrice: 200 }

/** Alice: cash top-up, a sale, a refused sale, an online top-up; Bob: an online top-up and a sale. */
function history(w: TestWorld) {
  const clearing = w.ledger.ensureAccount('clearing', 'sumup')
  const apply = (envelope: Parameters<typeof verified>[0]) => {
    w.clock.advance(1000)
    return w.ledger.applyBatch([verified(envelope)])
  }
  const cash = w.kiosks.cash.topup(UID.alice, 2000)
  apply(cash)
  const sale = w.kiosks.bar.sale(UID.alice, [beer, water])
  apply(sale)
  const refused = w.kiosks.bar.sale(UID.alice, [{ ...beer, qty: 10 }])
  apply(refused)
  w.clock.advance(1000)
  const online = w.ledger.bookExternal({
    ref: 'sumup:chk_a',
    kind: 'topup_online',
    customerUid: UID.alice,
    postings: [
      { account: clearing, amount: -1500 },
      { account: accountIds.customer(UID.alice), amount: 1500 },
    ],
  })
  w.clock.advance(1000)
  const bobOnline = w.ledger.bookExternal({
    ref: 'sumup:chk_b',
    kind: 'topup_online',
    customerUid: UID.bob,
    postings: [
      { account: clearing, amount: -1000 },
      { account: accountIds.customer(UID.bob), amount: 1000 },
    ],
  })
  const bobSale = w.kiosks.food.sale(UID.bob, [{ product: 'fries', qty: 1, unitPrice: 350 }])
  apply(bobSale)
  return { cash, sale, refused, online, bobOnline, bobSale }
}

t.test("a guest's orders: accepted ones, newest first, with named lines", async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  const h = history(w)
  const orders = w.ledger.customerOrders(UID.alice)
  const start = 1_750_000_000_000
  t.same(orders, [
    { id: h.online.id, receiptId: h.online.receiptId, kind: 'topup_online', amount: 1500, bookedAt: start + 4000, lines: [], customerDelta: 1500 },
    {
      id: h.sale.tx.id,
      receiptId: w.ledger.transaction(h.sale.tx.id)!.receiptId,
      kind: 'sale',
      amount: 1100,
      bookedAt: start + 2000,
      kiosk: 'bar-1',
      booth: 'bar',
      lines: [
        { product: 'beer', name: 'Beer', qty: 2, unitPrice: 450 },
        { product: 'water', name: 'Water', qty: 1, unitPrice: 200 },
      ],
    },
    {
      id: h.cash.tx.id,
      receiptId: w.ledger.transaction(h.cash.tx.id)!.receiptId,
      kind: 'topup_cash',
      amount: 2000,
      bookedAt: start + 1000,
      kiosk: 'cash-1',
      booth: 'cashdesk',
      lines: [],
    },
  ])
  t.notOk(orders.some((o) => o.id === h.refused.tx.id), 'a refused sale is no order')
  t.equal(w.ledger.transaction(h.refused.tx.id)?.receiptId, undefined, 'a refused sale has no receipt')
})

t.test("the orders of one guest never include another's", async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  const h = history(w)
  const alice = w.ledger.customerOrders(UID.alice).map((o) => o.id)
  const bob = w.ledger.customerOrders(UID.bob).map((o) => o.id)
  t.same(bob, [h.bobSale.tx.id, h.bobOnline.id])
  t.same(alice.filter((id) => bob.includes(id)), [])
  t.same(w.ledger.customerOrders(UID.stranger), [])
  t.same(w.ledger.customerOrders(UID.blocked), [])
  for (const hostile of ['', '%', "' OR 1=1 --", UID.alice.toLowerCase(), 42 as unknown as string, undefined as unknown as string])
    t.same(w.ledger.customerOrders(hostile), [], `customerOrders(${String(hostile)})`)
})

t.test('receipts', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  const h = history(w)
  const saleReceipt = w.ledger.transaction(h.sale.tx.id)!.receiptId!
  t.match(w.ledger.receipt(saleReceipt), { id: h.sale.tx.id, kind: 'sale', amount: 1100, customerUid: UID.alice, kiosk: 'bar-1', booth: 'bar' })
  t.same(w.ledger.receipt(saleReceipt)?.lines.map((l) => l.name), ['Beer', 'Water'])
  t.same(w.ledger.receipt(h.online.receiptId), {
    id: h.online.id,
    receiptId: h.online.receiptId,
    kind: 'topup_online',
    amount: 1500,
    bookedAt: h.online.bookedAt,
    lines: [],
    customerDelta: 1500,
    customerUid: UID.alice,
  })
  const anonymous = w.ledger.bookExternal({
    ref: 'refund:1',
    kind: 'refund',
    postings: [
      { account: accountIds.clearing('sumup'), amount: 100 },
      { account: accountIds.revenue('bar'), amount: -100 },
    ],
  })
  t.equal(w.ledger.receipt(anonymous.receiptId)?.customerUid, null, 'a booking without wristband has a receipt with no customer')

  t.test('receipt ids are random and not derivable', async (t) => {
    const ids = [
      saleReceipt,
      w.ledger.transaction(h.cash.tx.id)!.receiptId!,
      w.ledger.transaction(h.bobSale.tx.id)!.receiptId!,
      h.online.receiptId,
      h.bobOnline.receiptId,
    ]
    for (const id of ids) t.match(id, UUID_V4, 'a random (version 4) UUID, not a time-based one')
    t.equal(new Set(ids).size, ids.length)
    // The transaction id (which the kiosk knows) is not a receipt id.
    t.equal(w.ledger.receipt(h.sale.tx.id), undefined)
    t.equal(w.ledger.receipt(h.online.id), undefined)
    // Two bookings with identical content get unrelated receipt ids.
    const same = () =>
      w.ledger.applyBatch([verified(w.kiosks.food.sale(UID.bob, [{ product: 'tap-water', qty: 1, unitPrice: 0 }]))])[0]!
    const a = same()
    const b = same()
    const ra = a.kind === 'result' ? w.ledger.transaction(a.result.id)!.receiptId! : ''
    const rb = b.kind === 'result' ? w.ledger.transaction(b.result.id)!.receiptId! : ''
    t.not(ra, rb)
    t.not(ra.slice(0, 8), rb.slice(0, 8), 'no shared time prefix')
  })

  t.test('unknown and malformed receipt ids find nothing', async (t) => {
    for (const bad of [
      '00000000-0000-4000-8000-000000000000',
      saleReceipt.toUpperCase(),
      saleReceipt.slice(0, -1),
      `${saleReceipt} `,
      '',
      '%',
      "' OR '1'='1",
      'x'.repeat(10_000),
      null as unknown as string,
      {} as unknown as string,
    ])
      t.equal(w.ledger.receipt(bad), undefined)
  })
})

t.test('an order keeps the booth of its time; names come from that booth', async (t) => {
  const w = makeWorld()
  t.teardown(w.close)
  const h = history(w)
  const moved = testSetup()
  // bar-1 moves to the food booth, and the bar renames its beer.
  moved.kiosks[0]!.booth = 'food'
  moved.products[0]!.name = 'Pils'
  // Water leaves the catalog.
  moved.products.splice(1, 1)
  w.ledger.registry.importEventSetup(moved)
  const sale = w.ledger.customerOrders(UID.alice).find((o) => o.id === h.sale.tx.id)!
  t.equal(sale.booth, 'bar')
  t.same(sale.lines, [
    { product: 'beer', name: 'Pils', qty: 2, unitPrice: 450 },
    // Gone from the catalog: the name it was sold under, kept with the line item.
    { product: 'water', name: 'Water', qty: 1, unitPrice: 200 },
  ])
  t.same(w.ledger.checkInvariants(), [])
})
