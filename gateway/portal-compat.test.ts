// The portal API as an existing portal front end uses it (issue 9): bodies
// with fields we do not know (on SQLite and on PostgreSQL), cancels and
// pay-outs signed as the reference server signs them, the status of an
// unknown PIN at login, and the texts of the FAQ and terms pages from the
// event set-up.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { pino } from 'pino'
import { orderView } from '../portal-api/views.js'
import { call, fakeTopups } from '../portal-api/testing/helpers.js'
import { CANCEL_WINDOW_MS, L, OPS_UID, STAFF, bookChecked, fund, opsWorld, type StaffedKiosk } from './ledger/testing/operations-fixtures.js'
import { EventSetupError, parseEventSetup } from './event-setup.js'
import { testSetup } from './ledger/testing/test-helpers.js'
import { createPortalBackend, orderIntegerId } from './portal-backend.js'
import { EVENT_CONFIG, PIN, startPortalWorld } from './testing/portal-world.js'
import { worldEngines } from './testing/world-engines.js'

const spec = JSON.parse(readFileSync(new URL('../portal-api/customer-portal-openapi.json', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>
}

/** A validator of one schema of the OpenAPI file's components (refs resolve inside the file). */
function conformanceValidator(component: string) {
  const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => void
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  addFormats(ajv)
  ajv.addSchema(spec, 'openapi')
  return ajv.compile({ $ref: `openapi#/components/schemas/${component}` })
}

for (const engine of await worldEngines(t)) {
  t.test(`${engine.name}: unknown fields in a request body are ignored on every portal route; the known ones are still validated`, async (t) => {
    const w = await startPortalWorld(t, { database: engine.database(t) })
    // What the existing front end sends to register for a payout.
    const frontEndBody = { iban: 'DE89370400440532013000', account_name: 'Alice A', email: 'alice@example.org', donation: 1.5, privacy_policy: true }

    const loggedIn = await call(w.base, 'POST', '/auth/login', { body: { pin: PIN.alice, node_id: 1, remember_me: true } })
    t.equal(loggedIn.status, 200, 'login with an unknown field')
    const token = loggedIn.body.access_token as string

    const registered = await call(w.base, 'POST', '/customer_info', { token, body: frontEndBody })
    t.equal(registered.status, 204, 'customer_info with privacy_policy')
    const customer = (await call(w.base, 'GET', '/customer', { token })).body
    t.match(customer, { iban: 'DE89370400440532013000', account_name: 'Alice A', email: 'alice@example.org', donation: 1.5, has_entered_info: true })
    t.notOk('privacy_policy' in customer, 'an unknown field is not stored or echoed')

    const checkout = await call(w.base, 'POST', '/sumup/create-checkout', { token, body: { amount: 12.5, currency: 'EUR' } })
    t.equal(checkout.status, 200, 'create-checkout with an unknown field')
    t.equal(w.topups.created.at(-1)?.amountCents, 1250)
    t.equal((await call(w.base, 'POST', '/sumup/check-checkout', { token, body: { order_uuid: checkout.body.order_uuid, poll: 1 } })).status, 200, 'check-checkout by order_uuid with an unknown field')
    t.equal((await call(w.base, 'POST', '/sumup/check-checkout', { token, body: { checkout_id: checkout.body.checkout_id, poll: 1 } })).status, 200, 'check-checkout by checkout_id with an unknown field')
    t.equal((await call(w.base, 'GET', '/config?base_url=https%3A%2F%2Fportal.example&lang=de')).status, 200, 'config with an unknown query parameter')

    // Known fields beside unknown ones are checked as before, and a refusal stores nothing.
    const refused: [string, unknown, string, string[]][] = [
      ['bad IBAN', { ...frontEndBody, iban: 'DE00370400440532013000', account_name: 'Mallory' }, '/customer_info', ['body', 'iban']],
      ['donation as a string', { ...frontEndBody, donation: '1', account_name: 'Mallory' }, '/customer_info', ['body', 'donation']],
      ['missing email', { iban: frontEndBody.iban, account_name: 'Mallory', privacy_policy: true }, '/customer_info', ['body', 'email']],
      ['amount as a string', { amount: '12.50', currency: 'EUR' }, '/sumup/create-checkout', ['body', 'amount']],
      ['a malformed order_uuid beside a checkout_id', { order_uuid: 'x', checkout_id: checkout.body.checkout_id }, '/sumup/check-checkout', ['body']],
    ]
    for (const [name, body, path, loc] of refused) {
      const res = await call(w.base, 'POST', path, { token, body })
      t.equal(res.status, 422, name)
      t.ok(res.body.detail.some((d: { loc: unknown[] }) => loc.every((part, i) => d.loc[i] === part)), `${name}: detail names ${loc.join('.')}`)
    }
    t.equal((await call(w.base, 'POST', '/auth/login', { body: { pin: 12345678, remember_me: true } })).status, 422, 'login: a PIN that is no string')
    t.equal((await call(w.base, 'GET', '/customer', { token })).body.account_name, 'Alice A', 'nothing refused was stored')
    t.equal(w.topups.created.length, 1, 'no checkout was created by a refused body')
  })
}

t.test('a wrong PIN at login answers 404, the status the OpenAPI file gives login, with the {type, id, message} body', async (t) => {
  const w = await startPortalWorld(t)
  const listed = Object.keys(spec.paths['/auth/login']!.post!.responses)
  t.same(listed.sort(), ['200', '404', '422'], 'the statuses the OpenAPI file lists for login')
  for (const pin of ['ZZZZ2345ZZ', `${PIN.alice}A`, PIN.alice.slice(0, -1)]) {
    const res = await call(w.base, 'POST', '/auth/login', { body: { pin } })
    t.equal(res.status, 404, pin)
    t.ok(listed.includes(String(res.status)), 'a status the OpenAPI file lists for login')
    t.match(res.body, { type: 'invalid_pin', id: String, message: 'this PIN is not known' })
    t.equal(res.headers.get('www-authenticate'), null, 'no bearer challenge')
    t.notMatch(res.text, pin, 'the PIN is not echoed')
  }
  t.equal((await call(w.base, 'POST', '/auth/login', { body: { pin: PIN.alice } })).status, 200, 'the right PIN still logs in')
})

t.test("cancels and pay-outs carry the reference server's signs: a cancel negates the cancelled lines and total, a pay-out is negative", async (t) => {
  const w = opsWorld(t)
  const { bar, cash } = w.kiosks
  fund(w, OPS_UID.alice, 10_000)
  const sale = bar.cart(OPS_UID.alice, [L.beer(2), L.cup(2), L.happy(1)])
  t.match(bookChecked(t, w, sale), { status: 'accepted', balance: 10_000 - 1_250 })
  const cancel = bar.next({ type: 'cancel', uid: OPS_UID.alice, amount: sale.tx.amount }, { ref: sale.tx.id, at: sale.tx.at + CANCEL_WINDOW_MS / 2 })
  t.match(bookChecked(t, w, cancel), { status: 'accepted', balance: 10_000 })
  // A cup bought and returned, and the return cancelled (the deposit taken back).
  bookChecked(t, w, bar.cart(OPS_UID.alice, [L.water(1), L.cup(1)]))
  const ret = bar.cart(OPS_UID.alice, [L.cup(-1)])
  t.match(bookChecked(t, w, ret), { status: 'accepted', balance: 10_000 - 400 + 200 })
  t.match(bookChecked(t, w, bar.next({ type: 'cancel', uid: OPS_UID.alice, amount: 200 }, { ref: ret.tx.id })), { status: 'accepted', balance: 10_000 - 400 })
  // The whole rest paid out in cash at the cash desk.
  const open = (k: StaffedKiosk) => k.next({ type: 'shift_open', uid: STAFF.topup, amount: 5_000 }, { register: 'drawer-1' })
  t.match(bookChecked(t, w, open(cash)), { status: 'accepted' })
  const cashout = cash.next({ type: 'cashout', uid: OPS_UID.alice, amount: 9_600 })
  t.match(bookChecked(t, w, cashout), { status: 'accepted', balance: 0 })

  const backend = createPortalBackend({ db: w.db, ledger: w.ledger, clock: w.clock, logger: pino({ level: 'silent' }), eventConfig: EVENT_CONFIG, topups: fakeTopups() })
  const customer = (await backend.customer(OPS_UID.alice))!
  const orders = (await backend.orders(OPS_UID.alice)).map((o) => orderView(o, customer, 1))
  const byReceipt = (id: string) => orders.find((o) => o.uuid === w.ledger.transaction(id)!.receiptId)!
  const soldView = byReceipt(sale.tx.id)
  const cancelView = byReceipt(cancel.tx.id)

  t.equal(soldView.total_price, 12.5, 'the sale is a positive total')
  t.equal(cancelView.order_type, 'cancel_sale')
  t.equal(cancelView.total_price, -12.5, 'the cancel is the negated total, not a second charge')
  t.equal(cancelView.cancels_order, soldView.id, 'and names the order it cancels')
  t.same(
    cancelView.line_items.map((l) => [l.product.name, l.quantity, l.product_price, l.total_price, l.total_tax]),
    soldView.line_items.map((l) => [l.product.name, -l.quantity, l.product_price, -l.total_price, -l.total_tax]),
    "its lines are the cancelled sale's with negated quantities, totals and taxes",
  )
  t.equal(cancelView.total_tax, -soldView.total_tax)
  t.equal(cancelView.line_items.reduce((s, l) => s + l.total_price, 0), -12.5, 'its lines add up to its total')

  const returnView = byReceipt(ret.tx.id)
  t.equal(returnView.total_price, -2, 'a deposit return gives money back: negative')
  const undoneReturn = orders.find((o) => o.cancels_order === returnView.id)!
  t.equal(undoneReturn.total_price, 2, 'cancelling the return takes the deposit back: positive')
  t.same(undoneReturn.line_items.map((l) => l.quantity), [1])

  const payOut = byReceipt(cashout.tx.id)
  t.equal(payOut.order_type, 'pay_out')
  t.equal(payOut.total_price, -96, 'a pay-out is negative, as the reference server books its payout line')
  t.match(payOut.line_items, [{ quantity: 1, product_price: -96, total_price: -96, product: { type: 'payout' } }])
  t.equal(cancelView.id, orderIntegerId(w.ledger.transaction(cancel.tx.id)!.receiptId!))
  // The balance read back from the signed totals: top-ups add, pay-outs (negative) take, what was paid by wristband takes.
  const balanceEffect = { top_up: 1, pay_out: 1, sale: -1, cancel_sale: -1 } as Record<string, number>
  const fromOrders = orders.reduce((s, o) => s + Math.round(o.total_price * 100) * (balanceEffect[o.order_type] ?? 0), 0)
  t.equal(fromOrders, w.ledger.balanceOf(OPS_UID.alice), 'the signed totals add up to the balance')
})

t.test('a refund to the card is a pay-out, its money coming back (refused by the bank, a payout returned) a negative cancelled sale: the signed totals add up to the balance', async (t) => {
  const w = opsWorld(t)
  fund(w, OPS_UID.alice, 5_000)
  const clearing = w.ledger.ensureAccount('clearing', 'stancer')
  const book = (ref: string, toCustomer: number) =>
    w.ledger.bookExternal({ ref, kind: 'refund', customerUid: OPS_UID.alice, postings: [{ account: `customer:${OPS_UID.alice}`, amount: toCustomer }, { account: clearing, amount: -toCustomer }] })
  book('card-refund:1', -3_000)
  book('card-refund-back:1', 3_000)
  book('card-refund:2', -1_200)

  const backend = createPortalBackend({ db: w.db, ledger: w.ledger, clock: w.clock, logger: pino({ level: 'silent' }), eventConfig: EVENT_CONFIG, topups: fakeTopups() })
  const customer = (await backend.customer(OPS_UID.alice))!
  const orders = (await backend.orders(OPS_UID.alice)).map((o) => orderView(o, customer, 1))
  const byBooking = (id: string) => orders.find((o) => o.uuid === w.ledger.externalBookingByRef(id)!.receiptId)!
  t.match(byBooking('card-refund:1'), { order_type: 'pay_out', total_price: -30 })
  t.match(byBooking('card-refund-back:1'), { order_type: 'cancel_sale', total_price: -30 })
  t.match(byBooking('card-refund:2'), { order_type: 'pay_out', total_price: -12 })
  const balanceEffect = { top_up: 1, pay_out: 1, sale: -1, cancel_sale: -1 } as Record<string, number>
  const fromOrders = orders.reduce((s, o) => s + Math.round(o.total_price * 100) * (balanceEffect[o.order_type] ?? 0), 0)
  t.equal(w.ledger.balanceOf(OPS_UID.alice), 5_000 - 1_200)
  t.equal(fromOrders, w.ledger.balanceOf(OPS_UID.alice), 'the signed totals add up to the balance')
})

t.test("the FAQ and terms texts come from the event set-up, per language, in config's translation_texts", async (t) => {
  const w = await startPortalWorld(t)
  const config = async () => (await call(w.base, 'GET', '/config?base_url=https%3A%2F%2Fportal.example')).body
  t.same((await config()).translation_texts, {}, 'none before the set-up has any')

  const texts = {
    'en-US': { faq: '## How do I pay?\n\nTap your wristband.', agb: '## Terms\n\nNo refunds of tips.' },
    'de-DE': { faq: '## Wie bezahle ich?\n\nArmband an den Leser halten.', agb: '## AGB\n\nTrinkgeld wird nicht erstattet.' },
  }
  w.ledger.registry.importEventSetup(parseEventSetup({ ...testSetup(), portal: { translationTexts: texts } }))
  const served = await config()
  t.same(served.translation_texts, texts, 'served as the set-up has them')
  const validate = conformanceValidator('CustomerPortalApiConfig')
  t.ok(validate(served), `the answer matches the OpenAPI schema ${JSON.stringify(validate.errors?.slice(0, 2))}`)

  // A reloaded set-up replaces them at once; one without texts removes them.
  w.ledger.registry.importEventSetup(parseEventSetup({ ...testSetup(), portal: { translationTexts: { 'en-US': { faq: 'Ask at the info point.' } } } }))
  t.same((await config()).translation_texts, { 'en-US': { faq: 'Ask at the info point.' } })
  w.ledger.registry.importEventSetup(parseEventSetup(testSetup()))
  t.same((await config()).translation_texts, {})
})

t.test('portal texts in the event set-up are checked: languages of the OpenAPI file, plain keys, bounded sizes', async (t) => {
  const withTexts = (translationTexts: unknown) => ({ ...testSetup(), portal: { translationTexts } })
  t.ok(parseEventSetup(withTexts({ 'de-DE': { faq: 'x', privacypolicy: '' } })), 'one language is enough')
  t.ok(parseEventSetup(withTexts({ 'en-US': Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`text${i}`, 'x'.repeat(20_000)])) })), 'the limits themselves')
  const refused: [string, unknown][] = [
    ['a language the OpenAPI file does not list', { 'fr-FR': { faq: 'x' } }],
    ['a language code in another spelling', { en: { faq: 'x' } }],
    ['a key that is no plain word', { 'en-US': { 'FAQ page': 'x' } }],
    ['a text that is not a string', { 'en-US': { faq: 42 } }],
    ['a text of more than 20,000 characters', { 'en-US': { faq: 'x'.repeat(20_001) } }],
    ['more than 16 texts in a language', { 'en-US': Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`text${i}`, 'x'])) }],
  ]
  for (const [name, texts] of refused) t.throws(() => parseEventSetup(withTexts(texts)), EventSetupError, name)
  t.throws(() => parseEventSetup({ ...testSetup(), portal: { faq: 'x' } }), EventSetupError, 'an unknown field of the portal section')
})
