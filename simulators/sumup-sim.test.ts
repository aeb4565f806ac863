// The SumUp simulator itself: its API's refusals, and its hosted page clicked
// in headless Chromium the way a guest would.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { chromiumAvailable, launchHeadlessChromium } from './e2e/headless-browser.js'
import { startSumUpSim } from './sumup-sim.js'

const API_KEY = 'sup_sk_sim_test'

async function sim(t: Test) {
  const s = await startSumUpSim({ apiKey: API_KEY, merchantCode: 'MSIM', webhookMode: 'never' })
  t.teardown(() => s.close())
  const api = (method: string, path: string, body?: unknown, key = API_KEY) =>
    fetch(s.baseUrl + path, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    })
  return { s, api }
}

const valid = { checkout_reference: 'ref-1', amount: 10.5, currency: 'EUR', merchant_code: 'MSIM', description: 'Top-up', hosted_checkout: { enabled: true } }

t.test('the API refuses what SumUp refuses, in SumUp error shape', async (t) => {
  const { s, api } = await sim(t)
  const unauthorized = await api('POST', '/v0.1/checkouts', valid, 'wrong')
  t.equal(unauthorized.status, 401)
  t.match(await unauthorized.json(), { error_code: 'NOT_AUTHORIZED' })
  const cases: Array<[string, unknown]> = [
    ['amount', { ...valid, amount: 10.555 }],
    ['amount', { ...valid, amount: -1 }],
    ['amount', { ...valid, amount: '10.50' }],
    ['currency', { ...valid, currency: 'XXX' }],
    ['merchant_code', { ...valid, merchant_code: 'OTHER' }],
    ['checkout_reference', { ...valid, checkout_reference: '' }],
    ['redirect_url', { ...valid, redirect_url: 'javascript:alert(1)' }],
    ['return_url', { ...valid, return_url: 'ftp://x' }],
  ]
  for (const [param, body] of cases) {
    const res = await api('POST', '/v0.1/checkouts', body)
    t.equal(res.status, 400, param)
    t.match(await res.json(), { error_code: 'INVALID', param })
  }
  t.equal((await api('POST', '/v0.1/checkouts', '[1]')).status, 400)
  t.equal((await api('POST', '/v0.1/checkouts', '{bad json')).status, 400)
  const created = await api('POST', '/v0.1/checkouts', valid)
  t.equal(created.status, 201)
  const checkout = (await created.json()) as { id: string; status: string; hosted_checkout_url: string }
  t.equal(checkout.status, 'PENDING')
  const duplicate = await api('POST', '/v0.1/checkouts', valid)
  t.equal(duplicate.status, 409)
  t.match(await duplicate.json(), { error_code: 'DUPLICATED_CHECKOUT' })
  t.equal((await api('GET', '/v0.1/checkouts/nope')).status, 404)
  t.same(((await (await api('GET', '/v0.1/checkouts?checkout_reference=ref-1')).json()) as unknown[]).length, 1)
  t.equal(s.control.checkouts().length, 1)
  await t.rejects(s.control.pay('nope'), /unknown checkout/)
  await s.control.pay(checkout.id)
  await t.rejects(s.control.decline(checkout.id), /not PENDING/)
})

t.test('refunds of a paid checkout\'s transaction: 204, events on the transaction, 409 beyond what is left', async (t) => {
  const { s, api } = await sim(t)
  const checkout = (await (await api('POST', '/v0.1/checkouts', valid)).json()) as { id: string }
  await s.control.pay(checkout.id)
  const txn = s.control.checkout(checkout.id)!.transactions[0]!.id
  t.equal((await api('POST', '/v0.1/me/refund/nope', { amount: 1 })).status, 404)
  t.match(await (await api('POST', `/v0.1/me/refund/${txn}`, { amount: 1.005 })).json(), { error_code: 'INVALID', param: 'amount' })
  const partial = await api('POST', `/v0.1/me/refund/${txn}`, { amount: 4.5 })
  t.equal(partial.status, 204)
  t.equal(await partial.text(), '', 'no body: SumUp names no refund')
  s.control.failNextRefunds(1)
  t.equal((await api('POST', `/v0.1/me/refund/${txn}`, { amount: 6 })).status, 204)
  const tooMuch = await api('POST', `/v0.1/me/refund/${txn}`, { amount: 6.01 })
  t.equal(tooMuch.status, 409, 'a failed refund gives its amount back, but no more than is left')
  t.match(await tooMuch.json(), { error_code: 'CONFLICT' })
  const transaction = (await (await api('GET', `/v0.1/me/transactions?id=${txn}`)).json()) as { status: string; events: Array<{ type: string; amount: number; status: string }> }
  t.match(transaction, { status: 'REFUNDED', events: [{ type: 'REFUND', amount: 4.5, status: 'REFUNDED' }, { type: 'REFUND', amount: 6, status: 'FAILED' }] })
  t.equal((await api('GET', '/v0.1/me/transactions?id=nope')).status, 404)
  t.equal((await api('POST', `/v0.1/me/refund/${txn}`, { amount: 4.5 }, 'wrong')).status, 401)
})

t.test('a hanging request is released when the simulator closes', async (t) => {
  const s = await startSumUpSim({ apiKey: API_KEY })
  s.control.failNext(1, 'hang')
  const hanging = fetch(`${s.baseUrl}/v0.1/checkouts/x`, { headers: { authorization: `Bearer ${API_KEY}` } }).then(
    () => 'answered',
    () => 'failed',
  )
  // Bounded: wait until the request reached the simulator.
  for (let i = 0; i < 200 && (s.control.requestCounts.get ?? 0) === 0; i++) await new Promise((r) => setTimeout(r, 5))
  await s.close()
  t.equal(await hanging, 'failed', 'the client sees the connection end, the simulator closed')
})

t.test('the hosted page in headless Chromium: Pay and Decline, then back to the shop', { skip: chromiumAvailable() ? false : 'no /usr/bin/chromium' }, async (t) => {
  const { s, api } = await sim(t)
  // The "shop" the browser returns to.
  const shop = createServer((req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(`<h1 id="back">back at ${req.url}</h1>`))
  await new Promise<void>((resolve) => shop.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => shop.close(() => resolve())))
  const shopUrl = `http://127.0.0.1:${(shop.address() as AddressInfo).port}/portal`
  const browser = await launchHeadlessChromium()
  t.teardown(() => browser.close())
  const page = await browser.context.newPage()

  for (const [ref, button, status] of [
    ['ref-pay', '#pay', 'PAID'],
    ['ref-decline', '#decline', 'FAILED'],
  ] as const) {
    const created = (await (await api('POST', '/v0.1/checkouts', { ...valid, checkout_reference: ref, redirect_url: `${shopUrl}?ref=${ref}` })).json()) as {
      id: string
      hosted_checkout_url: string
    }
    await page.goto(created.hosted_checkout_url)
    t.match(await page.textContent('h1'), /Pay 10\.50 EUR/)
    await Promise.all([page.waitForURL(`${shopUrl}?ref=${ref}`), page.click(button)])
    t.match(await page.textContent('#back'), `ref=${ref}`)
    t.equal(s.control.checkout(created.id)!.status, status)
  }
})
