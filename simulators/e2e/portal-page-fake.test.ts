// The portal page in headless Chromium against a small fake of the portal API
// (the contract of customer-portal-openapi.json) and a fake hosted-checkout
// page: the flows the real gateway test cannot easily force (a declined
// payment, a session revoked under the guest, hostile text from the server,
// a server that fails), each checked on the rendered page.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Page } from 'playwright-core'
import { portalWeb } from '../../portal-api/web-plugin.js'
import { CHROMIUM_PATH, chromiumAvailable, inPage, launchHeadlessChromium, type HeadlessBrowser } from './headless-browser.js'

const PIN = 'K7QF-2MXD-9PLA'

interface FakeOrder {
  uuid: string
  order_type: string
  total_cents: number
  booked_at: string
  lines: Array<{ name: string; qty: number; unit_cents: number }>
}

interface FakeState {
  balanceCents: number
  eventName: string
  orders: FakeOrder[]
  tokens: Set<string>
  checkouts: Map<string, { amountCents: number; status: 'PENDING' | 'PAID' | 'FAILED'; token: string }>
  customerInfo: { iban: string | null; account_name: string | null; email: string | null; donationCents: number; donateAll: boolean }
  requests: Array<{ method: string; url: string; body: unknown }>
  failCustomerWith?: number
  inPayoutRun: boolean
  /** GET /customer/payout_check's answer; undefined: 404 (the event does not check payout data). */
  payoutCheck?: { state: string; message: string }
}

const amount = (cents: number) => cents / 100

function fakeState(): FakeState {
  return {
    balanceCents: 2_500,
    eventName: 'Fake Festival',
    orders: [
      { uuid: randomUUID(), order_type: 'top_up', total_cents: 3_000, booked_at: '2025-07-01T12:00:00Z', lines: [{ name: 'Top-up', qty: 1, unit_cents: 3_000 }] },
      { uuid: randomUUID(), order_type: 'sale', total_cents: 500, booked_at: '2025-07-01T13:00:00Z', lines: [{ name: 'Lemonade', qty: 2, unit_cents: 250 }] },
    ],
    tokens: new Set(),
    checkouts: new Map(),
    customerInfo: { iban: null, account_name: null, email: null, donationCents: 0, donateAll: false },
    requests: [],
    inPayoutRun: false,
  }
}

function lineItem(line: FakeOrder['lines'][number], index: number) {
  return {
    quantity: line.qty,
    product: { name: line.name, price: amount(line.unit_cents), fixed_price: true, tax_rate_id: 1, user_tag_variant_ids: [], is_locked: true, is_returnable: false, node_id: 0, id: index + 1, tax_name: 'MwSt', tax_rate: 0.19, type: 'user_defined' },
    product_price: amount(line.unit_cents),
    tax_rate_id: 1,
    tax_name: 'MwSt',
    tax_rate: 0.19,
    vouchers_redeemed: 0,
    item_id: index + 1,
    total_tax: amount(Math.round((line.qty * line.unit_cents * 19) / 119)),
    total_price: amount(line.qty * line.unit_cents),
  }
}

function orderView(order: FakeOrder, id: number) {
  return {
    id,
    uuid: order.uuid,
    total_price: amount(order.total_cents),
    total_tax: 0,
    total_no_tax: amount(order.total_cents),
    booked_at: order.booked_at,
    payment_method: 'tag',
    order_type: order.order_type,
    line_items: order.lines.map(lineItem),
  }
}

/** The fake API: the seed's paths and bodies, errors as `{type, id, message}`. */
async function fakeServer(state: FakeState): Promise<FastifyInstance> {
  // The shared browser keeps its keep-alive connections to a subtest's server after the page closes: close them with it.
  const app = Fastify({ logger: false, forceCloseConnections: true })
  const fail = (reply: FastifyReply, status: number, type: string, message: string) => reply.code(status).send({ type, id: 'req-1', message })
  const authed = (request: FastifyRequest, reply: FastifyReply): boolean => {
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1]
    if (!token || !state.tokens.has(token)) {
      void fail(reply, 401, 'unauthorized', 'not logged in')
      return false
    }
    return true
  }
  app.addHook('onRequest', async (request) => {
    if (request.url.startsWith('/api/')) state.requests.push({ method: request.method, url: request.url, body: undefined })
  })
  app.addHook('preHandler', async (request) => {
    const last = state.requests.at(-1)
    if (last && last.url === request.url) last.body = request.body
  })

  await app.register(portalWeb, { prefix: '/portal', apiBase: '/api' })
  await app.register(
    async (api) => {
      api.post<{ Body: { pin?: unknown } }>('/auth/login', async (request, reply) => {
        if (request.body?.pin !== PIN) return fail(reply, 404, 'invalid_pin', 'unknown pin')
        const token = randomUUID()
        state.tokens.add(token)
        return { customer: {}, access_token: token, grant_type: 'bearer' }
      })
      api.post('/auth/logout', async (request, reply) => {
        const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1]
        if (token) state.tokens.delete(token)
        return reply.code(204).send()
      })
      api.get('/customer', async (request, reply) => {
        if (!authed(request, reply)) return reply
        if (state.failCustomerWith) return fail(reply, state.failCustomerWith, 'internal', 'boom')
        const info = state.customerInfo
        return {
          node_id: 0, id: 7, type: 'private', name: null, comment: null, balance: amount(state.balanceCents), vouchers: 0,
          user_tag_id: 7, user_tag_uid: null, tag_history: [], iban: info.iban, account_name: info.account_name, email: info.email,
          donation: amount(info.donationCents), payout_export: true, user_tag_pin: null, donate_all: info.donateAll,
          has_entered_info: info.iban !== null, payout: null, user_tag_uid_hex: '04A1B2C3D4E5F6',
        }
      })
      api.get('/orders_with_bon', async (request, reply) => {
        if (!authed(request, reply)) return reply
        return state.orders.map((o, i) => orderView(o, i + 1))
      })
      api.post<{ Body: { iban: string; account_name: string; email: string; donation: number } }>('/customer_info', async (request, reply) => {
        if (!authed(request, reply)) return reply
        const { iban, account_name, email, donation } = request.body
        if (!iban.startsWith('DE')) return fail(reply, 422, 'iban_country_not_allowed', 'IBANs from this country are not accepted for payouts')
        state.customerInfo = { iban, account_name, email, donationCents: Math.round(donation * 100), donateAll: false }
        return reply.code(204).send()
      })
      api.post('/customer_all_donation', async (request, reply) => {
        if (!authed(request, reply)) return reply
        state.customerInfo.donateAll = true
        return reply.code(204).send()
      })
      api.get('/payout_info', async (request, reply) => {
        if (!authed(request, reply)) return reply
        return { in_payout_run: state.inPayoutRun, payout_date: state.inPayoutRun ? '2025-08-01T00:00:00Z' : null }
      })
      api.get('/customer/payout_check', async (request, reply) => {
        if (!authed(request, reply)) return reply
        if (state.payoutCheck === undefined) return fail(reply, 404, 'payout_check_unavailable', 'payout data is not checked at this event')
        return state.payoutCheck
      })
      api.get('/get_payout_transactions', async (request, reply) => {
        if (!authed(request, reply)) return reply
        return []
      })
      api.get('/config', async () => ({
        test_mode: false, test_mode_message: '', event_name: state.eventName, data_privacy_url: 'javascript:alert(1)', contact_email: 'info@fake.example',
        about_page_url: 'https://fake.example/about', payout_enabled: true, currency_identifier: 'EUR', sumup_topup_enabled: true,
        allowed_country_codes: ['DE'], translation_texts: {}, event_design: { bon_logo_blob_id: null }, node_id: 0,
      }))
      api.get<{ Params: { uuid: string } }>('/bon/:uuid', async (request, reply) => {
        const index = state.orders.findIndex((o) => o.uuid === request.params.uuid)
        if (index < 0) return fail(reply, 404, 'not_found', 'no such receipt')
        const order = state.orders[index]!
        return {
          order: { ...orderView(order, index + 1), signature_status: 'new', node_id: 0, customer_tag_uid_hex: null, tse_qr_code_text: '' },
          tax_rate_aggregations: [{ tax_name: 'MwSt', tax_rate: 0.19, total_price: amount(order.total_cents), total_tax: amount(Math.round((order.total_cents * 19) / 119)), total_no_tax: amount(order.total_cents - Math.round((order.total_cents * 19) / 119)) }],
          config: { title: 'Fake Festival', issuer: 'Fake Events GmbH', address: 'Fakestr. 1, 12345 Fakestadt', ust_id: 'DE123456789' },
          currency_identifier: 'EUR',
        }
      })
      api.post<{ Body: { amount: number } }>('/sumup/create-checkout', async (request, reply) => {
        if (!authed(request, reply)) return reply
        const orderUuid = randomUUID()
        state.checkouts.set(orderUuid, { amountCents: Math.round(request.body.amount * 100), status: 'PENDING', token: request.headers.authorization! })
        return { checkout_id: `co_${orderUuid}`, order_uuid: orderUuid, redirect_url: `/fake-provider/${orderUuid}` }
      })
      api.post<{ Body: { order_uuid?: string; checkout_id?: string } }>('/sumup/check-checkout', async (request, reply) => {
        if (!authed(request, reply)) return reply
        const orderUuid = request.body.order_uuid ?? request.body.checkout_id?.replace(/^co_/, '') ?? ''
        const checkout = state.checkouts.get(orderUuid)
        if (!checkout) return fail(reply, 404, 'unknown_checkout', 'no such checkout')
        return { status: checkout.status }
      })
    },
    { prefix: '/api' },
  )

  // The provider's hosted checkout page: pay or decline, then back to the portal.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => done(null, body))
  app.get<{ Params: { id: string } }>('/fake-provider/:id', async (request, reply) => {
    const id = request.params.id
    return reply
      .type('text/html')
      .send(`<!doctype html><title>Fake provider</title><h1>Pay</h1><form method="post" action="/fake-provider/${id}/pay"><button>Pay now</button></form><form method="post" action="/fake-provider/${id}/decline"><button>Decline</button></form>`)
  })
  app.post<{ Params: { id: string; outcome: string } }>('/fake-provider/:id/:outcome', async (request, reply) => {
    const checkout = state.checkouts.get(request.params.id)
    if (checkout && checkout.status === 'PENDING') {
      checkout.status = request.params.outcome === 'pay' ? 'PAID' : 'FAILED'
      if (checkout.status === 'PAID') {
        state.balanceCents += checkout.amountCents
        state.orders.push({ uuid: randomUUID(), order_type: 'top_up', total_cents: checkout.amountCents, booked_at: '2025-07-02T10:00:00Z', lines: [{ name: 'Online top-up', qty: 1, unit_cents: checkout.amountCents }] })
      }
    }
    // As the real gateway's return address: our checkout id in the query.
    return reply.redirect(`/portal/?checkout_id=co_${request.params.id}`, 303)
  })

  await app.listen({ host: '127.0.0.1', port: 0 })
  return app
}

interface PortalFixture {
  state: FakeState
  base: string
  browser: HeadlessBrowser
  page: Page
}

/**
 * One browser for the whole file (starting Chromium is the slow part); each
 * subtest gets a fresh fake server (its own origin, so its own storage), no
 * cookies (they are shared across ports) and a new page, which must have had no
 * script errors afterwards.
 */
let sharedBrowser: Promise<HeadlessBrowser> | undefined
t.teardown(async () => {
  if (sharedBrowser !== undefined) await (await sharedBrowser).close()
})

function portalTest(t: Test, name: string, body: (t: Test, fixture: PortalFixture) => Promise<void>) {
  return t.test(name, async (t) => {
    const fixture = await setUp(t)
    const pageErrors: string[] = []
    fixture.page.on('pageerror', (err) => pageErrors.push(err.message))
    await body(t, fixture)
    t.same(pageErrors, [], 'no script errors on the page')
  })
}

async function setUp(t: Test): Promise<PortalFixture> {
  const state = fakeState()
  const app = await fakeServer(state)
  const address = app.server.address()
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  sharedBrowser ??= launchHeadlessChromium()
  const browser = await sharedBrowser
  await browser.context.clearCookies()
  const page = await browser.context.newPage()
  t.teardown(async () => {
    await page.close()
    await app.close()
  })
  return { state, base, browser, page }
}

async function logIn(page: Page, base: string, pin = PIN) {
  await page.goto(`${base}/portal/`)
  await page.getByLabel('Wristband PIN').fill(pin)
  await page.getByRole('button', { name: 'Log in' }).click()
}

const skip = chromiumAvailable() ? false : `${CHROMIUM_PATH} is missing: install Debian's chromium (apt-get install -y chromium) to run this test`

t.test('the portal page against a fake portal API', { skip }, async (t) => {
  await portalTest(t, 'a wrong PIN is refused in plain words; the right one shows balance and orders', async (t, { base, page }) => {
    await logIn(page, base, 'WRONG-PIN')
    await page.getByRole('alert').waitFor()
    t.match(await page.getByRole('alert').textContent(), /This PIN is not known/)
    t.equal(await page.getByLabel('Wristband PIN').getAttribute('aria-invalid'), 'true')
    t.equal(await inPage(page, 'document.activeElement?.id'), 'pin', 'focus goes back to the PIN')

    await page.getByLabel('Wristband PIN').fill(PIN)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.locator('#account-view').waitFor()
    t.equal(await page.locator('#balance').textContent(), '€25.00')
    t.equal(await page.locator('#event-name').textContent(), 'Fake Festival')
    const orders = page.locator('#orders > li')
    t.equal(await orders.count(), 2)
    t.match(await orders.nth(0).textContent(), /Purchase−€5\.00.*2 × Lemonade€5\.00/s, 'newest first, with its line items')
    t.match(await orders.nth(1).textContent(), /Top-up\+€30\.00/s)
    t.equal(await page.getByRole('alert').isVisible(), false, 'the error is gone')
    t.equal(await page.locator('#privacy-link').isVisible(), false, 'a javascript: link from the config is not used')
    t.equal(await page.locator('#about-link').getAttribute('href'), 'https://fake.example/about')
  })

  await portalTest(t, "signed totals as the reference server's: a cancel and a pay-out read as money back and money out, not as charges", async (t, { state, base, page }) => {
    state.orders.push(
      { uuid: randomUUID(), order_type: 'cancel_sale', total_cents: -500, booked_at: '2025-07-01T13:01:00Z', lines: [{ name: 'Lemonade', qty: -2, unit_cents: 250 }] },
      { uuid: randomUUID(), order_type: 'sale', total_cents: -400, booked_at: '2025-07-01T13:02:00Z', lines: [{ name: 'Cup deposit', qty: -2, unit_cents: 200 }] },
      { uuid: randomUUID(), order_type: 'pay_out', total_cents: -2_000, booked_at: '2025-07-01T14:00:00Z', lines: [{ name: 'Cash-out', qty: 1, unit_cents: -2_000 }] },
    )
    await logIn(page, base)
    await page.locator('#account-view').waitFor()
    const orders = page.locator('#orders > li')
    t.equal(await orders.count(), 5)
    t.match(await orders.nth(0).textContent(), /Payout−€20\.00/s, 'a pay-out takes money off the balance')
    t.match(await orders.nth(1).textContent(), /Purchase\+€4\.00/s, 'a deposit return gives money back')
    t.match(await orders.nth(2).textContent(), /Cancelled purchase\+€5\.00/s, 'a cancel gives the purchase back')
    t.match(await orders.nth(3).textContent(), /Purchase−€5\.00/s, 'the cancelled purchase itself')
  })

  await portalTest(t, 'the token lives in sessionStorage: a reload stays logged in; logout forgets it and revokes it', async (t, { state, base, page }) => {
    await logIn(page, base)
    await page.locator('#account-view').waitFor()
    const token = await inPage<string | null>(page, "sessionStorage.getItem('wristpay.portal.token')")
    t.ok(token && state.tokens.has(token))
    t.equal(await inPage(page, 'localStorage.length'), 0, 'nothing in localStorage')
    state.balanceCents = 1_234
    await page.reload()
    await page.locator('#account-view').waitFor()
    t.equal(await page.locator('#balance').textContent(), '€12.34')
    await page.getByRole('button', { name: 'Log out' }).click()
    await page.locator('#login-view').waitFor()
    t.equal(state.tokens.size, 0, 'the server was told to end the session')
    t.equal(await inPage(page, "sessionStorage.getItem('wristpay.portal.token')"), null)
    t.match(await page.getByRole('status').first().textContent(), /logged out/)
  })

  await portalTest(t, 'a session revoked on the server sends the guest back to the login with a message', async (t, { state, base, page }) => {
    await logIn(page, base)
    await page.locator('#account-view').waitFor()
    state.tokens.clear()
    await page.getByRole('button', { name: 'Refresh' }).click()
    await page.locator('#login-view').waitFor()
    t.match(await page.getByRole('alert').textContent(), /session has ended/)
    t.equal(await inPage(page, "sessionStorage.getItem('wristpay.portal.token')"), null)
  })

  await portalTest(t, 'a server error is shown in plain words, without technical detail', async (t, { state, base, page }) => {
    await logIn(page, base)
    await page.locator('#account-view').waitFor()
    state.failCustomerWith = 500
    await page.getByRole('button', { name: 'Refresh' }).click()
    await page.getByRole('alert').waitFor()
    t.equal(await page.getByRole('alert').textContent(), 'Something went wrong on our side. Please try again in a moment.')
  })

  await portalTest(t, 'text from the server is shown as text, never run as HTML', async (t, { state, base, page }) => {
    state.eventName = '<img src=x onerror="window.__pwned=1">Evil'
    state.orders[1]!.lines[0]!.name = '<script>window.__pwned=2</script>Beer'
    await logIn(page, base)
    await page.locator('#account-view').waitFor()
    t.equal(await page.locator('#event-name').textContent(), state.eventName)
    t.match(await page.locator('#orders').textContent(), '<script>window.__pwned=2</script>Beer')
    t.equal(await inPage(page, 'window.__pwned'), undefined)
    t.equal(await page.locator('#orders img, #event-name img').count(), 0)
  })

  await portalTest(t, 'a receipt link shows the receipt, public, with lines and taxes', async (t, { state, base, page }) => {
    await logIn(page, base)
    await page.locator('#account-view').waitFor()
    await page.locator('#orders > li').nth(0).getByRole('link', { name: /Receipt/ }).click()
    await page.locator('#bon-view').waitFor()
    // The view shows before its receipt has loaded: wait for the total, then read it.
    await page.locator('#bon-total').filter({ hasText: '€' }).waitFor()
    t.equal(new URL(page.url()).searchParams.get('bon'), state.orders[1]!.uuid)
    t.match(await page.locator('#bon-lines tbody').textContent(), /2.*Lemonade.*€2\.50.*€5\.00/s)
    t.equal(await page.locator('#bon-total').textContent(), '€5.00')
    t.match(await page.locator('#bon-issuer').textContent(), /Fake Events GmbH.*VAT ID DE123456789/s)
    t.match(await page.locator('#bon-taxes').textContent(), /MwSt 19\.0 %.*€0\.80/s)
    // Public: it opens without a session too.
    await inPage(page, 'sessionStorage.clear()')
    await page.reload()
    await page.locator('#bon-view').waitFor()
    await page.locator('#bon-total').filter({ hasText: '€' }).waitFor()
    t.equal(await page.locator('#bon-total').textContent(), '€5.00')

    await page.goto(`${base}/portal/?bon=00000000-0000-4000-8000-000000000000`)
    await page.getByRole('alert').waitFor()
    t.equal(await page.getByRole('alert').textContent(), 'This receipt does not exist.')
    const asked = state.requests.filter((r) => r.url.startsWith('/api/bon/')).length
    await page.goto(`${base}/portal/?bon=../customer`)
    await page.getByRole('alert').waitFor()
    t.equal(await page.getByRole('alert').textContent(), 'This receipt link is not valid.')
    t.equal(state.requests.filter((r) => r.url.startsWith('/api/bon/')).length, asked, 'a malformed id is not even sent')
  })

  await portalTest(t, 'online top-up: to the provider, pay, back, polled until PAID, balance updated', async (t, { state, base, page }) => {
    await logIn(page, base)
    await page.locator('#account-view').waitFor()
    await page.getByLabel(/^Amount/).fill('abc')
    await page.getByRole('button', { name: 'Top up' }).click()
    t.match(await page.getByRole('alert').textContent(), /amount to top up/)
    t.equal(state.checkouts.size, 0, 'nothing was sent for a bad amount')

    await page.getByLabel(/^Amount/).fill('12,50')
    await page.getByRole('button', { name: 'Top up' }).click()
    await page.waitForURL(/\/fake-provider\//)
    const create = state.requests.find((r) => r.url === '/api/sumup/create-checkout')
    t.same(create?.body, { amount: 12.5 }, 'the amount goes out as a two-decimal number')
    await page.getByRole('button', { name: 'Pay now' }).click()
    await page.locator('#topup-result.paid').waitFor()
    t.equal(new URL(page.url()).search, '', 'the checkout id is taken off the address')
    t.match(await page.locator('#topup-result').textContent(), /€12\.50 was received/)
    t.equal(await page.locator('#balance').textContent(), '€37.50')
    const [orderUuid] = [...state.checkouts.keys()]
    t.same(state.requests.filter((r) => r.url === '/api/sumup/check-checkout').map((r) => r.body), [{ order_uuid: orderUuid }], 'checked with the order uuid of the spec')
    t.equal(await inPage(page, "sessionStorage.getItem('wristpay.portal.pendingCheckout')"), null, 'the finished checkout is forgotten')
    await page.reload()
    await page.locator('#account-view').waitFor()
    t.equal(await page.locator('#topup-result').isVisible(), false, 'and not checked again after a reload')
  })

  await portalTest(t, 'back from the provider in a tab that forgot the checkout: the return address names it', async (t, { state, base, page }) => {
    await logIn(page, base)
    await page.locator('#account-view').waitFor()
    await page.getByLabel(/^Amount/).fill('5')
    await page.getByRole('button', { name: 'Top up' }).click()
    await page.waitForURL(/\/fake-provider\//)
    await inPage(page, "sessionStorage.removeItem('wristpay.portal.pendingCheckout')")
    await page.getByRole('button', { name: 'Pay now' }).click()
    await page.locator('#topup-result.paid').waitFor()
    t.equal(await page.locator('#balance').textContent(), '€30.00')
    const [orderUuid] = [...state.checkouts.keys()]
    t.same(state.requests.filter((r) => r.url === '/api/sumup/check-checkout').map((r) => r.body), [{ checkout_id: `co_${orderUuid}` }])
  })

  await portalTest(t, 'online top-up declined at the provider: shown as failed, balance unchanged', async (t, { base, page }) => {
    await logIn(page, base)
    await page.locator('#account-view').waitFor()
    await page.getByLabel(/^Amount/).fill('20')
    await page.getByRole('button', { name: 'Top up' }).click()
    await page.waitForURL(/\/fake-provider\//)
    await page.getByRole('button', { name: 'Decline' }).click()
    await page.locator('#topup-result.failed').waitFor()
    t.match(await page.locator('#topup-result').textContent(), /did not go through\. Nothing was added/)
    t.equal(await page.locator('#balance').textContent(), '€25.00')
  })

  await portalTest(t, 'payout registration: checked on the page, refused by the server in its words, saved, donate all', async (t, { state, base, page }) => {
    await logIn(page, base)
    await page.locator('#account-view').waitFor()
    t.match(await page.locator('#payout-state').textContent(), /not entered bank details/)
    const save = page.getByRole('button', { name: 'Save bank details' })
    await page.getByLabel('IBAN').fill('nonsense')
    await save.click()
    t.match(await page.getByRole('alert').textContent(), /complete IBAN/)
    t.equal(await page.getByLabel('IBAN').getAttribute('aria-invalid'), 'true')

    await page.getByLabel('IBAN').fill('FR14 2004 1010 0505 0001 3M02 606')
    await page.getByLabel('Account holder').fill('Erika Mustermann')
    await page.getByLabel('Email').fill('erika@example.org')
    await page.getByLabel(/^Donation/).fill('30')
    await save.click()
    t.match(await page.getByRole('alert').textContent(), /cannot be more than your balance of €25\.00/)
    await page.getByLabel(/^Donation/).fill('2.5')
    await save.click()
    await page.getByRole('alert').waitFor()
    t.match(await page.getByRole('alert').textContent(), /not saved: IBANs from this country are not accepted/)
    t.equal(state.customerInfo.iban, null)

    await page.getByLabel('IBAN').fill('de89 3704 0044 0532 0130 00')
    await save.click()
    await page.getByRole('status').filter({ hasText: 'saved' }).waitFor()
    t.same(state.customerInfo, { iban: 'DE89370400440532013000', account_name: 'Erika Mustermann', email: 'erika@example.org', donationCents: 250, donateAll: false })
    t.match(await page.locator('#payout-state').textContent(), /ending in 3000 \(Erika Mustermann\).*donate €2\.50/)
    t.equal(await page.getByLabel('IBAN').inputValue(), '', 'the IBAN is not left in the form')

    await page.getByRole('button', { name: /Donate all/ }).click()
    await page.getByRole('button', { name: 'Cancel' }).click()
    t.equal(state.customerInfo.donateAll, false, 'nothing happens without confirming')
    await page.getByRole('button', { name: /Donate all/ }).click()
    await page.getByRole('button', { name: 'Yes, donate everything' }).click()
    await page.getByRole('status').filter({ hasText: 'Thank you' }).waitFor()
    t.equal(state.customerInfo.donateAll, true)
    t.match(await page.locator('#payout-state').textContent(), /donate all of your remaining balance/)
  })

  await portalTest(t, 'the bank found the holder name not to match the IBAN: the payout section asks the guest to correct it', async (t, { state, base, page }) => {
    state.customerInfo = { iban: 'DE89370400440532013000', account_name: 'Erika Mustermann', email: 'erika@example.org', donationCents: 0, donateAll: false }
    state.payoutCheck = { state: 'needs_correction', message: 'The bank says the account holder does not match this IBAN. Please correct the account holder name or the IBAN, or we cannot pay you back.' }
    await logIn(page, base)
    await page.locator('#account-view').waitFor()
    const line = page.locator('#payout-check')
    await line.waitFor()
    t.match(await line.textContent(), /does not match this IBAN\. Please correct/)
    t.match(await line.getAttribute('class'), /error/)
    t.equal(await line.getAttribute('role'), 'status')
  })

  await portalTest(t, 'in a payout run the bank details can no longer be changed', async (t, { state, base, page }) => {
    state.inPayoutRun = true
    await logIn(page, base)
    await page.locator('#account-view').waitFor()
    await page.locator('#payout-state', { hasText: 'being prepared' }).waitFor()
    t.equal(await page.getByRole('button', { name: 'Save bank details' }).isDisabled(), true)
    t.equal(await page.getByLabel('IBAN').isDisabled(), true)
  })

  await portalTest(t, 'looks right on a phone, light and dark (screenshots)', async (t, { base, page }) => {
    const dir = mkdtempSync(join(tmpdir(), 'wristpay-portal-shots-'))
    t.teardown(() => {
      if (!process.env.WRISTPAY_KEEP_SCREENSHOTS) rmSync(dir, { recursive: true, force: true })
    })
    const shoot = async (name: string) => {
      const file = join(dir, `${name}.png`)
      await page.screenshot({ path: file, fullPage: true })
      if (process.env.WRISTPAY_KEEP_SCREENSHOTS) t.comment(`screenshot: ${file}`)
      // No horizontal scrolling on a 390 px wide phone.
      t.equal(await inPage(page, 'document.documentElement.scrollWidth <= window.innerWidth'), true, `${name}: no sideways scrolling`)
    }
    await page.goto(`${base}/portal/`)
    await page.locator('#login-view').waitFor()
    await shoot('login')
    await logIn(page, base)
    await page.locator('#account-view').waitFor()
    await shoot('account')
    await page.emulateMedia({ colorScheme: 'dark' })
    await shoot('account-dark')
    // Keyboard users see where they are: the focused button has a visible outline.
    await page.getByRole('button', { name: 'Refresh' }).focus()
    await page.keyboard.press('Tab')
    const outline = await inPage<string>(page, 'getComputedStyle(document.activeElement).outlineStyle')
    t.equal(outline, 'solid', 'the focus ring shows')
  })
})
