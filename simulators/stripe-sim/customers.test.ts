// Customers and payment methods through the official package.
import t from 'tap'
import { ANY_MESSAGE, startSimWithClient } from './testing/sim-client.js'

const NEXT_YEARS = new Date().getUTCFullYear() + 5

t.test('customers: create, retrieve, update (metadata merge), list by email, paginate, delete', async (t) => {
  const { stripe, sim } = await startSimWithClient(t)
  const ada = await stripe.customers.create({ email: 'ada@example.org', name: 'Ada', metadata: { wristband: 'w-1', tier: 'gold' } })
  t.match(ada, { object: 'customer', email: 'ada@example.org', name: 'Ada', metadata: { wristband: 'w-1', tier: 'gold' }, livemode: false })
  t.match(ada.id, /^cus_/)
  t.same(await stripe.customers.retrieve(ada.id), ada)

  const updated = await stripe.customers.update(ada.id, { name: 'Ada L.', metadata: { tier: '', note: 'vip' } })
  t.same(updated.metadata, { wristband: 'w-1', note: 'vip' }, "'' removes a metadata key, others merge")
  t.equal(updated.name, 'Ada L.')
  t.equal(updated.email, 'ada@example.org', 'fields not sent stay')
  await t.rejects(stripe.customers.update(ada.id, { metadata: { ['k'.repeat(41)]: 'v' } }), { statusCode: 400, code: 'parameter_invalid' })
  t.equal((await stripe.customers.retrieve(ada.id) as { name: string }).name, 'Ada L.', 'a refused update changes nothing')

  const ids = [ada.id]
  for (let i = 0; i < 3; i += 1) ids.push((await stripe.customers.create({ email: `g${i}@example.org` })).id)
  const byEmail = await stripe.customers.list({ email: 'g1@example.org' })
  t.same(byEmail.data.map((c) => c.id), [ids[2]])
  const page1 = await stripe.customers.list({ limit: 2 })
  t.same(page1.data.map((c) => c.id), [ids[3], ids[2]], 'newest first')
  t.equal(page1.has_more, true)
  const page2 = await stripe.customers.list({ limit: 2, starting_after: page1.data[1]!.id })
  t.same(page2.data.map((c) => c.id), [ids[1], ids[0]])
  t.equal(page2.has_more, false)
  const all: string[] = []
  for await (const c of stripe.customers.list({ limit: 1 })) all.push(c.id)
  t.same(all, [...ids].reverse(), 'the package auto-paginates over the simulator')
  await t.rejects(stripe.customers.list({ limit: 101 }), { message: ANY_MESSAGE, statusCode: 400 })

  const deleted = await stripe.customers.del(ada.id)
  t.same(deleted, { id: ada.id, object: 'customer', deleted: true })
  t.same(await stripe.customers.retrieve(ada.id), { id: ada.id, object: 'customer', deleted: true }, 'Stripe answers a deleted customer with a stub')
  await t.rejects(stripe.customers.update(ada.id, { name: 'x' }), { statusCode: 404, code: 'resource_missing' })
  t.ok(sim.control.events('customer.deleted').length === 1)
})

t.test('payment methods: tokens and test numbers, attach, detach, list by customer', async (t) => {
  const { stripe } = await startSimWithClient(t)
  const customer = await stripe.customers.create({ email: 'bo@example.org' })
  const visa = await stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_visa' } })
  t.match(visa, { object: 'payment_method', type: 'card', customer: null, card: { brand: 'visa', last4: '4242' } })
  const mc = await stripe.paymentMethods.create({ type: 'card', card: { number: '5555 5555 5555 4444', exp_month: 12, exp_year: NEXT_YEARS, cvc: '123' } } as never)
  t.match(mc, { card: { brand: 'mastercard', last4: '4444', exp_month: 12, exp_year: NEXT_YEARS } })
  t.notMatch(JSON.stringify(mc), /5555555555554444/, 'the full card number is never shown')

  await t.rejects(stripe.paymentMethods.create({ type: 'card', card: { number: '4242424242424241', exp_month: 1, exp_year: NEXT_YEARS } } as never), {
    type: 'StripeCardError',
    statusCode: 402,
    code: 'incorrect_number',
  })
  await t.rejects(stripe.paymentMethods.create({ type: 'card', card: { number: '4242424242424242', exp_month: 1, exp_year: 2001 } } as never), {
    code: 'invalid_expiry_year',
  })
  await t.rejects(stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_nonsense' } }), { statusCode: 404, code: 'resource_missing' })
  await t.rejects(stripe.paymentMethods.create({ type: 'sepa_debit' } as never), { message: ANY_MESSAGE, statusCode: 400 })

  const attached = await stripe.paymentMethods.attach(visa.id, { customer: customer.id })
  t.equal(attached.customer, customer.id)
  const magic = await stripe.paymentMethods.attach('pm_card_mastercard', { customer: customer.id })
  t.not(magic.id, 'pm_card_mastercard', 'a magic id becomes a new payment method, as on Stripe')
  t.equal(magic.card?.brand, 'mastercard')

  const other = await stripe.customers.create({})
  await t.rejects(stripe.paymentMethods.attach(visa.id, { customer: other.id }), { message: ANY_MESSAGE, statusCode: 400 }, 'already attached elsewhere')
  await t.rejects(stripe.paymentMethods.attach('pm_card_chargeDeclined', { customer: customer.id }), {
    type: 'StripeCardError',
    code: 'card_declined',
    decline_code: 'generic_decline',
  })
  const saved = await stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.id })
  t.equal(saved.customer, customer.id, '4000000000000341 saves, then fails when charged')

  const list = await stripe.paymentMethods.list({ customer: customer.id, type: 'card' })
  t.same(new Set(list.data.map((pm) => pm.id)), new Set([visa.id, magic.id, saved.id]))
  const viaCustomer = await stripe.customers.listPaymentMethods(customer.id)
  t.equal(viaCustomer.data.length, 3)
  await stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: visa.id } })

  const detached = await stripe.paymentMethods.detach(visa.id)
  t.equal(detached.customer, null)
  const reread = await stripe.customers.retrieve(customer.id)
  t.equal((reread as { invoice_settings: { default_payment_method: unknown } }).invoice_settings.default_payment_method, null, 'a detached default is cleared')
  await t.rejects(stripe.paymentMethods.detach(visa.id), { message: ANY_MESSAGE, statusCode: 400 })
  await t.rejects(stripe.paymentMethods.retrieve('pm_missing'), { statusCode: 404, code: 'resource_missing' })
  await t.rejects(stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: visa.id } }), { message: ANY_MESSAGE, statusCode: 404 }, 'not attached: not a default')
})
