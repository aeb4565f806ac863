// The kiosk's touchscreen page (daemon/web/) in headless Chromium at the Pi's
// 800x480, against a small stateful fake of the kiosk daemon's local API: the
// test plays the wristband ("tap" resolves the operation waiting for one) and
// the gateway (balances, refusals, offline, no answer), and checks what the
// cashier sees.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Page } from 'playwright-core'
import { webUiPlugin } from '../../daemon/web-ui.js'
import { CHROMIUM_PATH, chromiumAvailable, inPage, launchHeadlessChromium } from './headless-browser.js'

type Role = 'cashier' | 'topup' | 'supervisor'

interface FakeStaff {
  uid: string
  name: string
  roles: Role[]
  pin?: string
}

interface Product {
  id: string
  name: string
  price: number
  kind?: 'item' | 'deposit' | 'discount' | 'ticket'
  fixedPrice?: boolean
  voucherEligible?: boolean
  restrictions?: string[]
}

class FakeError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message)
  }
}

interface TapWait {
  path: string
  resolve(uid: string): void
  reject(err: FakeError): void
}

const STAFF: FakeStaff[] = [
  { uid: '04CA5E1E000001', name: 'Ana Cashier', roles: ['cashier'] },
  { uid: '04CA5E1E000002', name: 'Toni Topup', roles: ['topup'] },
  { uid: '04CA5E1E000003', name: 'Sam Super', roles: ['supervisor'], pin: '4321' },
]
const GUEST = '04A000001C2D80'
const POOR_GUEST = '04A000001C2D81'
const KIOSK_KEY = 'x7Zq0n4yVbW1kS3pL9dT6uR2mF8hJ5cA0eN4gH7iK1o'

function fakeState() {
  return {
    kiosk: 'bar-1',
    connected: true,
    offline: false,
    busy: false,
    outboxDepth: 0,
    reader: { kind: 'serial', connected: true, counters: {} },
    terminal: { kind: 'zvt', connected: true, busy: false, counters: {} } as null | Record<string, unknown>,
    config: { version: 3, booth: 'Main bar', saleAllowed: true, topupAllowed: true, products: [] as Product[] } as null | Record<string, unknown>,
    products: [
      { id: 'beer', name: 'Beer 0.5 l', price: 450, kind: 'item', voucherEligible: true, restrictions: ['under-16'] },
      { id: 'lemonade', name: 'Lemonade', price: 300, kind: 'item' },
      { id: 'water', name: 'Water', price: 200 },
      { id: 'fries', name: 'Fries', price: 400 },
      { id: 'cup', name: 'Cup deposit', price: 200, kind: 'deposit' },
      { id: 'staff-discount', name: 'Staff -1.00', price: -100, kind: 'discount' },
      { id: 'tip', name: 'Tip', price: 2000, kind: 'item', fixedPrice: false },
      { id: 'day-ticket', name: 'Day ticket', price: 4500, kind: 'ticket' },
    ] as Product[],
    profile: { id: 'bar', name: 'Bar till', sale: true, topupCash: true, topupCard: true, cashout: true, ticketSale: true, tagSwitch: true, cashRegister: true, cancelWindowMs: 120_000 },
    registers: [{ id: 'drawer-1', name: 'Drawer 1' }],
    staff: null as null | { uid: string; name: string; roles: Role[]; since: number },
    staffRequired: false,
    shift: null as null | { register: string; openedAt: number; float: number },
    lastSale: null as null | { id: string; type: 'sale' | 'return'; amount: number; at: number; cancellableUntil: number },
    counters: {},
    chain: { status: 'intact' } as { status: string; damage?: Record<string, unknown> },
    enrollment: { status: 'enrolled', publicKey: KIOSK_KEY, keyFile: '/var/lib/wristpay-kiosk/kiosk-ed25519.pem' } as { status: string; publicKey: string; keyFile: string; todo?: string },
    lock: null as null | { by: string; reason?: string; at: number; message: string },
    /** What the card terminal shows the guest during a card payment (the daemon's GET /state terminalText). */
    terminalText: null as null | string,
  }
}

interface Fake {
  app: FastifyInstance
  base: string
  state: ReturnType<typeof fakeState>
  balances: Map<string, number>
  requests: Array<{ method: string; url: string; body: unknown }>
  /** What the next operation's gateway answer is, instead of the normal booking. */
  next: { status?: 'pending' | 'offline' | 'rejected'; reason?: string; message?: string; error?: FakeError } | null
  tapWait: TapWait | null
  /** Waits until the page waits for a tap, then taps this wristband. */
  tap(uid: string): Promise<void>
  /** Waits until the page waits for a tap, then fails the wait like the kiosk would. */
  failTap(err: FakeError): Promise<void>
  posts(url: string): unknown[]
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

async function fakeApi(): Promise<Fake> {
  const app = Fastify({ logger: false, forceCloseConnections: true })
  const state = fakeState()
  state.config!.products = state.products.map((p) => ({ id: p.id, name: p.name, price: p.price }))
  let seq = 0
  const fake: Fake = {
    app,
    base: '',
    state,
    balances: new Map([[GUEST, 2_000], [POOR_GUEST, 100]]),
    requests: [],
    next: null,
    tapWait: null,
    async tap(uid) {
      await until('the page to wait for a tap', () => fake.tapWait !== null)
      const wait = fake.tapWait!
      fake.tapWait = null
      wait.resolve(uid)
    },
    async failTap(err) {
      await until('the page to wait for a tap', () => fake.tapWait !== null)
      const wait = fake.tapWait!
      fake.tapWait = null
      wait.reject(err)
    },
    posts: (url) => fake.requests.filter((r) => r.method === 'POST' && r.url === url).map((r) => r.body),
  }

  const waitTap = (path: string) =>
    new Promise<string>((resolve, reject) => {
      if (fake.tapWait) return reject(new FakeError(409, 'busy', 'another operation is waiting for a tap'))
      fake.tapWait = { path, resolve, reject }
    })
  const outcome = (amount: number, extra: Record<string, unknown> = {}) => {
    seq += 1
    return { status: 'accepted', id: `0190a5c2-7c1e-7000-8000-${String(seq).padStart(12, '0')}`, seq, amount, ...extra }
  }
  /** The test's override of the gateway's answer, if any. */
  const override = (amount: number) => {
    const next = fake.next
    fake.next = null
    if (next?.error) throw next.error
    if (next?.status) return { ...outcome(amount), status: next.status, ...(next.reason === undefined ? {} : { reason: next.reason }), ...(next.message === undefined ? {} : { message: next.message }) }
    return null
  }
  const requireStaff = (roles: Role[]) => {
    if (!state.staffRequired) return
    if (!state.staff) throw new FakeError(401, 'not_logged_in', 'log in with a staff wristband first')
    if (!state.staff.roles.some((r) => roles.includes(r))) throw new FakeError(403, 'staff_not_allowed', `${state.staff.name} may not do this`)
  }

  app.setErrorHandler((err, request, reply) => {
    if (err instanceof FakeError) return reply.code(err.status).send({ type: err.type, id: request.id, message: err.message })
    return reply.code(500).send({ type: 'internal', id: request.id, message: String(err) })
  })
  app.addHook('preHandler', async (request) => {
    if (request.method === 'POST') fake.requests.push({ method: request.method, url: request.url, body: request.body })
  })
  await app.register(webUiPlugin)

  app.get('/state', async () => state)

  app.post<{ Body: { lines: Array<{ product: string; qty: number; unitPrice?: number }> } }>('/sale', async (request) => {
    requireStaff(['cashier', 'supervisor'])
    // As the kiosk does: refused before the tap while the gateway does not know its key.
    if (state.enrollment.status !== 'enrolled') throw new FakeError(409, 'not_enrolled', `this kiosk is not enrolled: ${state.enrollment.todo ?? ''}`)
    // As the kiosk does while an operator has locked it (remote command lock).
    if (state.lock) throw new FakeError(423, 'locked', state.lock.message)
    let total = 0
    for (const line of request.body.lines) {
      const p = state.products.find((x) => x.id === line.product)
      if (!p) throw new FakeError(400, 'unknown_product', `no product ${line.product}`)
      total += line.qty * (p.fixedPrice === false ? line.unitPrice ?? 0 : p.price)
    }
    const uid = await waitTap('/sale')
    const overridden = override(Math.abs(total))
    if (overridden) return overridden
    const balance = fake.balances.get(uid)
    if (balance === undefined) return { ...outcome(total), status: 'rejected', reason: 'unknown_tag' }
    if (balance < total) return { ...outcome(total), status: 'rejected', reason: 'insufficient_balance', balance }
    fake.balances.set(uid, balance - total)
    const answer = outcome(Math.abs(total), { balance: balance - total, charged: total, vouchersUsed: 0, vouchers: 0 })
    state.lastSale = { id: answer.id, type: total < 0 ? 'return' : 'sale', amount: Math.abs(total), at: Date.now(), cancellableUntil: Date.now() + state.profile.cancelWindowMs }
    return answer
  })

  app.post<{ Body: { amount: number } }>('/topup', async (request) => {
    requireStaff(['topup', 'supervisor'])
    const uid = await waitTap('/topup')
    const overridden = override(request.body.amount)
    if (overridden) return overridden
    const balance = (fake.balances.get(uid) ?? 0) + request.body.amount
    fake.balances.set(uid, balance)
    return outcome(request.body.amount, { balance })
  })

  // A card top-up: the tap stands for the whole payment at the terminal (the test sets terminalText meanwhile).
  app.post<{ Body: { amount: number } }>('/topup/card', async (request) => {
    requireStaff(['topup', 'supervisor'])
    const uid = await waitTap('/topup/card')
    const overridden = override(request.body.amount)
    if (overridden) return overridden
    const balance = (fake.balances.get(uid) ?? 0) + request.body.amount
    fake.balances.set(uid, balance)
    return { ...outcome(request.body.amount, { balance }), cardPaymentId: 'card-1', payment: { terminalId: '52000123', receiptNumber: '0017', traceNumber: '000042' } }
  })

  app.post<{ Body: { lines: Array<{ product: string; qty: number }>; topup: number } }>('/ticket', async (request) => {
    requireStaff(['topup', 'supervisor'])
    const uid = await waitTap('/ticket')
    const tickets = request.body.lines.reduce((sum, l) => sum + l.qty * (state.products.find((p) => p.id === l.product)?.price ?? 0), 0)
    fake.balances.set(uid, request.body.topup)
    return outcome(tickets + request.body.topup, { balance: request.body.topup, pin: 'UXHE2A435V' })
  })

  app.post('/balance', async () => {
    const uid = await waitTap('/balance')
    return {
      uid,
      balance: fake.balances.get(uid) ?? 0,
      vouchers: 2,
      blocked: false,
      variant: 'adult',
      debt: false,
      recent: [
        { at: Date.UTC(2025, 6, 1, 18, 5), type: 'sale', amount: -450, booth: 'Main bar' },
        { at: Date.UTC(2025, 6, 1, 17, 0), type: 'topup_cash', amount: 2_000, booth: 'Top-up 1' },
      ],
    }
  })

  app.post<{ Body: { counted: number } }>('/shift/close', async (request) => {
    requireStaff(['topup', 'supervisor'])
    if (!state.shift) throw new FakeError(409, 'no_open_shift', 'no cash shift is open')
    const expected = state.shift.float + 3_000
    state.shift = null
    return outcome(request.body.counted, { expected, difference: request.body.counted - expected })
  })

  app.post<{ Body: { pin?: string } }>('/staff/login', async (request) => {
    const uid = await waitTap('/staff/login')
    const member = STAFF.find((m) => m.uid === uid)
    if (!member) throw new FakeError(403, 'unknown_staff', 'this wristband belongs to no staff member')
    if (member.pin !== undefined && request.body.pin !== member.pin) throw new FakeError(401, 'wrong_staff_pin', `the PIN of ${member.name} is wrong or missing`)
    state.staff = { uid: member.uid, name: member.name, roles: member.roles, since: Date.now() }
    return { staff: state.staff }
  })

  app.post('/staff/logout', async () => {
    state.staff = null
    return { staff: null }
  })

  app.post('/recovery/confirm', async () => {
    if (state.chain.status !== 'recovery_required') throw new FakeError(409, 'no_chain_recovery', 'nothing to confirm')
    state.chain = { status: 'intact' }
    return { nextSeq: 42 }
  })

  app.post('/abort', async () => {
    const wait = fake.tapWait
    fake.tapWait = null
    wait?.reject(new FakeError(409, 'aborted', 'the cashier cancelled the tap wait'))
    return { aborted: wait !== null }
  })

  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  fake.base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  return fake
}

interface Fixture {
  fake: Fake
  page: Page
}

const skip = chromiumAvailable() ? false : `${CHROMIUM_PATH} is missing: install Debian's chromium (apt-get install -y chromium) to run this test`

t.test('the kiosk page against a fake local API', { skip }, async (t) => {
  const browser = await launchHeadlessChromium()
  t.teardown(() => browser.close())

  /** A subtest with a fresh fake and page at 800x480; afterwards the page must have had no script errors. */
  const kioskTest = (name: string, setUp: (state: Fake['state']) => void, body: (t: Test, fixture: Fixture) => Promise<void>) =>
    t.test(name, async (t) => {
      const fake = await fakeApi()
      setUp(fake.state)
      const page = await browser.context.newPage()
      await page.setViewportSize({ width: 800, height: 480 })
      t.teardown(async () => {
        await page.close()
        // A test that ends with the page waiting for a tap: end the wait so that the server can close.
        fake.tapWait?.reject(new FakeError(503, 'stopped', 'test over'))
        await fake.app.close()
      })
      const pageErrors: string[] = []
      page.on('pageerror', (err) => pageErrors.push(err.message))
      page.on('console', (message) => {
        if (message.type() === 'error' && !/favicon/.test(message.text()) && !/status of [45][0-9][0-9]/.test(message.text())) pageErrors.push(message.text())
      })
      await page.goto(`${fake.base}/`)
      t.equal(new URL(page.url()).pathname, '/ui/', '/ leads to /ui/')
      await body(t, { fake, page })
      t.same(pageErrors, [], 'no script errors (and no CSP violations) on the page')
    })

  const id = (page: Page, testId: string) => page.getByTestId(testId)

  await kioskTest('a cart is rung up, the guest taps, the result shows the new balance', () => {}, async (t, { fake, page }) => {
    await id(page, 'screen-sale').waitFor()
    t.equal(await id(page, 'booth-name').textContent(), 'Main bar')
    t.equal(await id(page, 'cart-pay').isDisabled(), true, 'nothing to pay for an empty cart')
    await id(page, 'product-beer').click()
    await id(page, 'product-beer').click()
    await id(page, 'product-cup').click()
    await id(page, 'product-cup').click()
    await id(page, 'product-return-cup').click()
    await id(page, 'product-lemonade').click()
    await id(page, 'cart-dec-lemonade').click()
    t.equal(await id(page, 'cart-line-lemonade').count(), 0, 'down to 0 removes the line')
    t.equal(await id(page, 'cart-qty-beer').textContent(), '2')
    t.equal(await id(page, 'cart-qty-cup').textContent(), '1')
    t.equal(await id(page, 'cart-total').textContent(), '11.00')
    t.equal(await id(page, 'cart-pay').textContent(), 'Pay 11.00')

    await id(page, 'cart-pay').click()
    await id(page, 'tap-prompt').waitFor()
    t.match(await id(page, 'overlay-busy').textContent(), /Tap wristband.*Pay 11\.00/s)
    t.equal(await id(page, 'result').isVisible(), false, 'no result before the tap')
    await fake.tap(GUEST)
    await id(page, 'result').waitFor()
    t.equal(await id(page, 'result').getAttribute('data-status'), 'accepted')
    t.equal(await id(page, 'result-title').textContent(), 'Paid')
    t.equal(await id(page, 'result-balance').textContent(), 'New balance 9.00')
    t.equal(await id(page, 'result-amount').textContent(), 'Charged 11.00')
    t.equal(await id(page, 'tap-prompt').isVisible(), false)
    t.same(fake.posts('/sale'), [{ lines: [{ product: 'beer', qty: 2 }, { product: 'cup', qty: 1 }] }], 'integer quantities, no prices for fixed-price products')
    await id(page, 'result-done').click()
    t.equal(await id(page, 'cart-total').textContent(), '0.00', 'the cart is cleared after an accepted sale')
    await id(page, 'cancel-last').waitFor()
    t.match(await id(page, 'cancel-last').textContent(), /Undo last 11\.00/)
  })

  await kioskTest('a returned deposit alone gives money back; a free-price product asks for its price', () => {}, async (t, { fake, page }) => {
    await id(page, 'product-return-cup').click()
    t.equal(await id(page, 'cart-qty-cup').textContent(), '-1')
    t.equal(await id(page, 'cart-pay').textContent(), 'Give back 2.00')
    await id(page, 'product-tip').click()
    await id(page, 'price-dialog').waitFor()
    t.match(await id(page, 'price-hint').textContent(), 'At most 20.00')
    for (const key of ['2', '5', '1']) await id(page, `price-key-${key}`).click()
    t.equal(await id(page, 'price-add').isDisabled(), true, 'more than the product allows')
    await id(page, 'price-key-back').click()
    await id(page, 'price-key-dot').click()
    await id(page, 'price-key-5').click()
    t.equal(await id(page, 'price-display').textContent(), '25.5')
    for (let i = 0; i < 4; i++) await id(page, 'price-key-back').click()
    t.equal(await id(page, 'price-display').textContent(), '0.00')
    await id(page, 'price-key-3').click()
    await id(page, 'price-add').click()
    t.equal(await id(page, 'cart-total').textContent(), '1.00', '3.00 tip minus 2.00 deposit back')
    await id(page, 'cart-pay').click()
    await fake.tap(GUEST)
    await id(page, 'result').waitFor()
    t.same(fake.posts('/sale'), [{ lines: [{ product: 'cup', qty: -1 }, { product: 'tip', qty: 1, unitPrice: 300 }] }])
  })

  await kioskTest('a refusal is shown in plain words with the balance; the cart stays', () => {}, async (t, { fake, page }) => {
    await id(page, 'product-fries').click()
    await id(page, 'cart-pay').click()
    await fake.tap(POOR_GUEST)
    await id(page, 'result').waitFor()
    t.equal(await id(page, 'result').getAttribute('data-status'), 'rejected')
    t.equal(await id(page, 'result-title').textContent(), 'REFUSED')
    t.equal(await id(page, 'result-text').textContent(), 'Not enough money on the wristband.')
    t.equal(await id(page, 'result-balance').textContent(), 'Balance 1.00')
    t.match(await id(page, 'result-code').textContent(), 'Reason insufficient_balance')
    t.equal(await id(page, 'result-amount').textContent(), 'Nothing charged (total 4.00)', 'a refused sale never says "Charged"')
    t.notMatch(await id(page, 'result').textContent(), /charged 4|paid/i)
    await id(page, 'result-done').click()
    t.equal(await id(page, 'cart-total').textContent(), '4.00', 'the cart is kept for another try')
  })

  await kioskTest('no answer from the gateway does not look accepted; an offline acceptance says so', () => {}, async (t, { fake, page }) => {
    await id(page, 'product-water').click()
    fake.next = { status: 'pending' }
    await id(page, 'cart-pay').click()
    await fake.tap(GUEST)
    await id(page, 'result').waitFor()
    t.equal(await id(page, 'result').getAttribute('data-status'), 'pending')
    t.equal(await id(page, 'result-title').textContent(), 'NOT CONFIRMED')
    t.match(await id(page, 'result-text').textContent(), /Do not hand out anything/)
    t.notMatch(await id(page, 'result').textContent(), /Paid|accepted/i)
    t.equal(await id(page, 'result-amount').textContent(), 'Total 2.00 · not charged yet', 'no answer: not "Charged"')
    await id(page, 'result-done').click()

    fake.next = { status: 'offline' }
    await id(page, 'cart-pay').click()
    await fake.tap(GUEST)
    await id(page, 'result').waitFor()
    t.equal(await id(page, 'result').getAttribute('data-status'), 'offline')
    t.match(await id(page, 'result-title').textContent(), /ACCEPTED OFFLINE: hand out the goods/)
    t.equal(await id(page, 'result-balance').isVisible(), false, 'no balance is claimed')
    t.equal(await id(page, 'result-amount').textContent(), 'Total 2.00 · charged when the gateway books it')
  })

  await kioskTest(
    'a damaged outbox stops sales with a banner until a supervisor confirms the recovery',
    (state) => void (state.chain = { status: 'recovery_required', damage: { reason: 'behind', localNextSeq: 1, gatewayNextSeq: 42, missing: 0, detectedAt: 1 } }),
    async (t, { fake, page }) => {
      await id(page, 'chain-banner').waitFor({ timeout: 3_000 })
      t.match(await id(page, 'chain-banner').textContent(), /SALES STOPPED.*no\. 1, the gateway expects no\. 42.*supervisor must confirm/s)
      await id(page, 'chain-confirm').click()
      await id(page, 'notice').filter({ hasText: 'Recovery confirmed: selling again from no. 42' }).waitFor()
      await id(page, 'chain-banner').waitFor({ state: 'hidden', timeout: 3_000 })
      t.equal(fake.posts('/recovery/confirm').length, 1)
    },
  )

  await kioskTest('a kiosk that is not enrolled says so and what to do; a sale the gateway refused unrecorded charges nothing', (s) => {
    s.enrollment = { ...s.enrollment, status: 'not_enrolled', todo: `enroll ${KIOSK_KEY} (PUT /admin/kiosks/bar-1/public-key)` }
  }, async (t, { fake, page }) => {
    await id(page, 'enroll-banner').waitFor()
    t.match(await id(page, 'enroll-banner').textContent(), /NOT ENROLLED.*Kiosk bar-1 is not enrolled.*Nothing can be sold/s)
    t.match(await id(page, 'enroll-text').textContent(), KIOSK_KEY, 'the key to enroll is on the screen')
    t.match(await id(page, 'enroll-text').textContent(), 'registration code (wristpay-gateway kiosk code bar-1, then wristpay-kiosk enroll --gateway URL --code CODE here)', 'and enrollment by registration code')
    t.equal(await id(page, 'status-gateway').textContent(), 'Not enrolled', 'not "Online"')
    t.equal(await id(page, 'status-gateway').getAttribute('data-state'), 'bad')
    await id(page, 'product-water').click()
    await id(page, 'cart-pay').click()
    await id(page, 'error').waitFor()
    t.equal(await id(page, 'error-type').textContent(), 'not_enrolled')
    t.match(await id(page, 'error-title').textContent(), /not enrolled.*operator/)
    t.match(await id(page, 'error-message').textContent(), /PUT \/admin\/kiosks\/bar-1\/public-key/)
    await id(page, 'error-done').click()

    fake.state.enrollment = { ...fake.state.enrollment, status: 'other_key' }
    await page.getByTestId('enroll-text').filter({ hasText: 'another key' }).waitFor({ timeout: 3_000 })

    fake.state.enrollment = { status: 'enrolled', publicKey: KIOSK_KEY, keyFile: fake.state.enrollment.keyFile }
    await id(page, 'enroll-banner').waitFor({ state: 'hidden', timeout: 3_000 })
    t.equal(await id(page, 'status-gateway').textContent(), 'Online')
    // An answer from before the enrollment: refused without booking.
    fake.next = { status: 'rejected', reason: 'unknown_kiosk' }
    await id(page, 'cart-pay').click()
    await fake.tap(GUEST)
    await id(page, 'result').waitFor()
    t.equal(await id(page, 'result-title').textContent(), 'REFUSED')
    t.match(await id(page, 'result-text').textContent(), /not enrolled.*Nothing was charged/)
    t.equal(await id(page, 'result-amount').textContent(), 'Nothing charged (total 2.00)')
  })

  await kioskTest('a kiosk locked by an operator says who and why, refuses the sale, and sells again once unlocked', (s) => {
    s.lock = { by: 'root', reason: 'cash count', at: 1, message: 'This kiosk was locked by operator root (cash count): nothing can be sold or booked until an operator unlocks it.' }
  }, async (t, { fake, page }) => {
    await id(page, 'lock-banner').waitFor()
    t.match(await id(page, 'lock-banner').textContent(), /KIOSK LOCKED.*locked by operator root \(cash count\)/s)
    t.equal(await id(page, 'status-gateway').textContent(), 'Locked', 'not "Online"')
    t.equal(await id(page, 'status-gateway').getAttribute('data-state'), 'bad')
    await id(page, 'product-water').click()
    await id(page, 'cart-pay').click()
    await id(page, 'error').waitFor()
    t.equal(await id(page, 'error-type').textContent(), 'locked')
    t.match(await id(page, 'error-title').textContent(), /locked by an operator/)
    t.match(await id(page, 'error-message').textContent(), /operator root \(cash count\)/)
    await id(page, 'error-done').click()

    fake.state.lock = null
    await id(page, 'lock-banner').waitFor({ state: 'hidden', timeout: 3_000 })
    t.equal(await id(page, 'status-gateway').textContent(), 'Online')
    await id(page, 'cart-pay').click()
    await fake.tap(GUEST)
    await id(page, 'result').waitFor()
    t.equal(await id(page, 'result').getAttribute('data-status'), 'accepted')
  })

  await kioskTest('the offline banner comes and goes with the state', () => {}, async (t, { fake, page }) => {
    await id(page, 'screen-sale').waitFor()
    t.equal(await id(page, 'offline-banner').isVisible(), false)
    fake.state.offline = true
    fake.state.connected = false
    fake.state.outboxDepth = 3
    await id(page, 'offline-banner').waitFor({ timeout: 3_000 })
    t.match(await id(page, 'offline-banner').textContent(), /OFFLINE.*3 waiting/s)
    t.equal(await id(page, 'status-gateway').getAttribute('data-state'), 'bad')
    t.equal(await id(page, 'status-outbox').textContent(), 'Queue 3')
    // Over a dialog too.
    await id(page, 'product-water').click()
    await id(page, 'cart-pay').click()
    await id(page, 'tap-prompt').waitFor()
    t.equal(await id(page, 'offline-banner').isVisible(), true, 'the banner stays visible over the tap prompt')
    await id(page, 'tap-cancel').click()
    await id(page, 'notice').filter({ hasText: 'Cancelled' }).waitFor()
    fake.state.offline = false
    fake.state.connected = true
    await id(page, 'offline-banner').waitFor({ state: 'hidden', timeout: 3_000 })
    t.equal(await id(page, 'status-gateway').textContent(), 'Online')
    fake.state.reader.connected = false
    await page.getByTestId('status-reader').filter({ hasText: 'No reader' }).waitFor({ timeout: 3_000 })
  })

  await kioskTest('cancel on the tap prompt aborts; errors show their message and type', () => {}, async (t, { fake, page }) => {
    await id(page, 'product-water').click()
    await id(page, 'cart-pay').click()
    await id(page, 'tap-prompt').waitFor()
    await id(page, 'tap-cancel').click()
    await id(page, 'tap-prompt').waitFor({ state: 'hidden' })
    t.same(fake.posts('/abort'), [{}])
    t.equal(await id(page, 'error').isVisible(), false, 'a cancel by the cashier is no error')
    t.match(await id(page, 'notice').textContent(), 'Cancelled. Nothing was booked.')

    // Not 408, the status the local API gives tap_timeout today: Chromium silently resends a POST
    // answered 408 on a kept-alive connection, so the page never sees the timeout (the kiosk just
    // waits for a tap again). Checked here with 504; the local API should not use 408 either.
    await id(page, 'cart-pay').click()
    await fake.failTap(new FakeError(504, 'tap_timeout', 'no wristband within 15 s'))
    await id(page, 'error').waitFor()
    t.equal(await id(page, 'error-title').textContent(), 'No wristband was tapped in time. Nothing was booked.')
    t.equal(await id(page, 'error-message').textContent(), 'no wristband within 15 s')
    t.equal(await id(page, 'error-type').textContent(), 'tap_timeout')
    t.match(await id(page, 'error-id').textContent(), /^req-/)
    await id(page, 'error-done').click()

    fake.next = { error: new FakeError(403, 'offline_limit', 'this wristband has spent its offline allowance of 20.00') }
    await id(page, 'cart-pay').click()
    await fake.tap(GUEST)
    await id(page, 'error').waitFor()
    t.equal(await id(page, 'error-type').textContent(), 'offline_limit')
    t.equal(await id(page, 'error-message').textContent(), 'this wristband has spent its offline allowance of 20.00')
    await id(page, 'error-done').click()

    // An unknown error type still shows the API's own words.
    fake.next = { error: new FakeError(503, 'something_new', 'a brand-new refusal') }
    await id(page, 'cart-pay').click()
    await fake.tap(GUEST)
    await id(page, 'error').waitFor()
    t.equal(await id(page, 'error-title').textContent(), 'Not done.')
    t.equal(await id(page, 'error-message').textContent(), 'a brand-new refusal')
    t.equal(await id(page, 'error-type').textContent(), 'something_new')
  })

  await kioskTest('staff login: a tap, the PIN pad when the kiosk asks for it, logout', (s) => { s.staffRequired = true }, async (t, { fake, page }) => {
    await id(page, 'screen-login').waitFor()
    t.equal(await page.locator('#tabs').isVisible(), false, 'no screens before the login')
    t.equal(await id(page, 'login-pin').isVisible(), false, 'no PIN pad until needed')
    await id(page, 'login-start').click()
    await id(page, 'tap-prompt').waitFor()
    t.match(await id(page, 'tap-title').textContent(), /staff wristband/)
    await fake.tap(STAFF[2]!.uid)
    await id(page, 'login-pin').waitFor()
    t.match(await id(page, 'login-hint').textContent(), /needs your PIN/)
    for (const key of ['4', '3', '2', '9', 'back', '1']) await id(page, `staffpin-key-${key}`).click()
    t.equal(await id(page, 'staffpin-display').textContent(), '••••', 'the PIN is not shown')
    await id(page, 'login-start').click()
    await fake.tap(STAFF[2]!.uid)
    await id(page, 'screen-sale').waitFor()
    t.same(fake.posts('/staff/login'), [{}, { pin: '4321' }])
    t.match(await id(page, 'staff-name').textContent(), 'Sam Super')
    for (const tab of ['sale', 'topup', 'cashout', 'ticket', 'tagswitch', 'balance', 'shift']) t.equal(await id(page, `tab-${tab}`).isVisible(), true, `a supervisor sees ${tab}`)
    await id(page, 'logout').click()
    await id(page, 'screen-login').waitFor()
    t.same(fake.posts('/staff/logout'), [{}])
    t.equal(await id(page, 'logout').isVisible(), false)
  })

  await kioskTest("during a card top-up the terminal's own text shows on the busy dialog, as text, and goes when the payment ends", () => {}, async (t, { fake, page }) => {
    await id(page, 'tab-topup').click()
    await id(page, 'topup-quick-2000').click()
    await page.waitForFunction('!document.querySelector(\'[data-testid="topup-card"]\').disabled')
    await id(page, 'topup-card').click()
    await until('the card top-up to wait', () => fake.tapWait?.path === '/topup/card')
    t.equal(await id(page, 'terminal-text').isVisible(), false, 'no text before the terminal shows one')
    fake.state.terminalText = 'Karte vorhalten <img src=x data-testid=injected>'
    await id(page, 'terminal-text').waitFor({ state: 'visible', timeout: 5_000 })
    t.equal(await id(page, 'terminal-text').textContent(), 'Karte vorhalten <img src=x data-testid=injected>', 'shown as it came, as text')
    t.equal(await id(page, 'injected').count(), 0, 'no element made from the text')
    fake.state.terminalText = 'Bitte PIN eingeben'
    for (let i = 0; i < 100 && (await id(page, 'terminal-text').textContent()) !== 'Bitte PIN eingeben'; i++) await sleep(50)
    t.equal(await id(page, 'terminal-text').textContent(), 'Bitte PIN eingeben', 'the next text replaces it')
    fake.state.terminalText = null
    await fake.tap(GUEST)
    await id(page, 'result').waitFor()
    t.equal(await id(page, 'terminal-text').isVisible(), false, 'gone with the payment')
    t.same(fake.posts('/topup/card'), [{ amount: 2000 }])
  })

  await kioskTest('a card top-up the gateway refused tells the cashier whether the card payment was reversed, as text', () => {}, async (t, { fake, page }) => {
    await id(page, 'tab-topup').click()
    const cardTopUp = async () => {
      await id(page, 'topup-quick-2000').click()
      await page.waitForFunction('!document.querySelector(\'[data-testid="topup-card"]\').disabled')
      await id(page, 'topup-card').click()
      await until('the card top-up to wait', () => fake.tapWait?.path === '/topup/card')
      await fake.tap(GUEST)
      await id(page, 'result').waitFor()
    }
    fake.next = { status: 'rejected', reason: 'tag_blocked', message: 'refused, card payment reversed' }
    await cardTopUp()
    t.equal(await id(page, 'result-title').textContent(), 'REFUSED')
    t.match(await id(page, 'result-text').textContent(), /blocked.*refused, card payment reversed/)
    await id(page, 'result-done').click()
    await id(page, 'result').waitFor({ state: 'hidden' })
    fake.next = { status: 'rejected', reason: 'duplicate_payment', message: 'refused, card payment NOT reversed (declined): a supervisor must refund it <b data-testid=injected>' }
    await cardTopUp()
    t.match(await id(page, 'result-text').textContent(), /NOT reversed \(declined\): a supervisor must refund it <b data-testid=injected>/, 'the message as text')
    t.equal(await id(page, 'injected').count(), 0, 'no element made from it')
    t.same(fake.posts('/topup/card'), [{ amount: 2000 }, { amount: 2000 }])
  })

  await kioskTest('each role sees only what it may do', (s) => { s.staffRequired = true }, async (t, { fake, page }) => {
    await id(page, 'login-start').click()
    await fake.tap(STAFF[0]!.uid)
    await id(page, 'screen-sale').waitFor()
    t.match(await id(page, 'staff-name').textContent(), 'Ana Cashier')
    for (const [tab, visible] of [['sale', true], ['balance', true], ['topup', false], ['cashout', false], ['ticket', false], ['tagswitch', false], ['shift', false]] as const) {
      t.equal(await id(page, `tab-${tab}`).isVisible(), visible, `a cashier ${visible ? 'sees' : 'does not see'} ${tab}`)
    }
    t.equal(await id(page, 'topup-cash').isVisible(), false, 'no top-up button for a cashier')
    await id(page, 'logout').click()

    await id(page, 'login-start').click()
    await fake.tap(STAFF[1]!.uid)
    await id(page, 'screen-topup').waitFor()
    for (const [tab, visible] of [['sale', false], ['topup', true], ['cashout', true], ['ticket', true], ['shift', true], ['tagswitch', false]] as const) {
      t.equal(await id(page, `tab-${tab}`).isVisible(), visible, `top-up staff ${visible ? 'sees' : 'does not see'} ${tab}`)
    }
    t.equal(await id(page, 'topup-cash').isDisabled(), true, 'no cash top-up without an open shift')
    t.match(await id(page, 'topup-hint').textContent(), /open the cash shift first/)

    // The till profile hides what the till may not do, whoever is logged in.
    fake.state.profile.topupCard = false
    fake.state.shift = { register: 'drawer-1', openedAt: Date.now(), float: 10_000 }
    await id(page, 'topup-card').waitFor({ state: 'hidden', timeout: 3_000 })
    await id(page, 'topup-quick-2000').click()
    t.equal(await id(page, 'topup-amount').textContent(), '20.00')
    await page.waitForFunction('!document.querySelector(\'[data-testid="topup-cash"]\').disabled')
    await id(page, 'topup-cash').click()
    await fake.tap(GUEST)
    await id(page, 'result').waitFor()
    t.equal(await id(page, 'result-title').textContent(), 'Topped up 20.00 (cash)')
    t.equal(await id(page, 'result-balance').textContent(), 'New balance 40.00')
    t.same(fake.posts('/topup'), [{ amount: 2000 }])
  })

  await kioskTest('a ticket sale shows the new PIN once; balance check; shift close with the difference', (s) => {
    s.shift = { register: 'drawer-1', openedAt: Date.now(), float: 10_000 }
  }, async (t, { fake, page }) => {
    await id(page, 'tab-ticket').click()
    await id(page, 'ticket-day-ticket').click()
    for (const key of ['1', '0']) await id(page, `ticket-key-${key}`).click()
    t.equal(await id(page, 'ticket-total').textContent(), '55.00')
    await id(page, 'ticket-sell').click()
    await fake.tap('04A000001C2D99')
    await id(page, 'result').waitFor()
    t.equal(await id(page, 'result-pin').textContent(), 'UXHE 2A43 5V')
    t.same(fake.posts('/ticket'), [{ lines: [{ product: 'day-ticket', qty: 1 }], topup: 1000 }])
    await id(page, 'result-done').click()
    t.equal(await page.locator('body').textContent().then((text) => text?.includes('UXHE')), false, 'the PIN is gone from the page')

    await id(page, 'tab-balance').click()
    await id(page, 'balance-check').click()
    await fake.tap(GUEST)
    await id(page, 'balance-info').waitFor()
    t.equal(await id(page, 'balance-amount').textContent(), '20.00')
    t.match(await id(page, 'balance-details').textContent(), /2 vouchers/)
    t.equal(await page.locator('[data-testid="balance-history"] li').count(), 2)
    t.match(await id(page, 'balance-history').textContent(), /Purchase · Main bar-4\.50.*Top-up cash · Top-up 1\+20\.00/s)
    await id(page, 'tab-sale').click()
    await id(page, 'tab-balance').click()
    t.equal(await id(page, 'balance-info').isVisible(), false, 'a balance is not left on the screen')

    await id(page, 'tab-shift').click()
    await id(page, 'shift-opened').waitFor()
    t.match(await id(page, 'shift-info').textContent(), /Drawer 1: open since .* float 100\.00/)
    for (const key of ['1', '2', '9', 'dot', '5']) await id(page, `shift-key-${key}`).click()
    await id(page, 'shift-close').click()
    await id(page, 'result').waitFor()
    t.same(fake.posts('/shift/close'), [{ counted: 12_950 }])
    t.equal(await id(page, 'result-expected').textContent(), '130.00')
    t.equal(await id(page, 'result-difference').textContent(), '-0.50')
  })

  await kioskTest('text from the API is shown as text, never run as HTML', (s) => {
    s.products[0]!.name = '<img src=x onerror="window.__pwned=1">Evil beer'
    s.config!.booth = '<script>window.__pwned=2</script>Bar'
  }, async (t, { page }) => {
    await id(page, 'screen-sale').waitFor()
    t.match(await id(page, 'product-beer').textContent(), '<img src=x onerror="window.__pwned=1">Evil beer')
    t.equal(await id(page, 'booth-name').textContent(), '<script>window.__pwned=2</script>Bar')
    t.equal(await inPage(page, 'window.__pwned'), undefined)
    t.equal(await page.locator('#products img').count(), 0)
  })

  await kioskTest('fits 800x480 without scrolling, touch targets of 48 px (screenshots)', () => {}, async (t, { fake, page }) => {
    const dir = process.env.WRISTPAY_KIOSK_SHOTS ?? mkdtempSync(join(tmpdir(), 'wristpay-kiosk-shots-'))
    t.teardown(() => {
      if (!process.env.WRISTPAY_KIOSK_SHOTS) rmSync(dir, { recursive: true, force: true })
    })
    const check = async (name: string) => {
      await page.screenshot({ path: join(dir, `${name}.png`) })
      t.equal(await inPage(page, 'document.documentElement.scrollHeight <= innerHeight && document.documentElement.scrollWidth <= innerWidth'), true, `${name}: no scrolling`)
      const small = await inPage<string[]>(
        page,
        `[...document.querySelectorAll('button')].filter((b) => b.offsetParent !== null).map((b) => [b.dataset.testid || b.textContent, b.getBoundingClientRect()]).filter(([, r]) => r.width < 48 || r.height < 48).map(([n, r]) => n + ' ' + Math.round(r.width) + 'x' + Math.round(r.height))`,
      )
      t.same(small, [], `${name}: every visible button is at least 48x48`)
    }
    await id(page, 'screen-sale').waitFor()
    for (const p of ['beer', 'beer', 'lemonade', 'cup', 'fries', 'staff-discount']) await id(page, `product-${p}`).click()
    await check('sale')
    await id(page, 'cart-pay').click()
    await id(page, 'tap-prompt').waitFor()
    await check('tap-prompt')
    await fake.tap(GUEST)
    await id(page, 'result').waitFor()
    await check('result')
    await id(page, 'result-done').click()
    fake.state.offline = true
    await id(page, 'offline-banner').waitFor({ timeout: 3_000 })
    for (const p of ['beer', 'lemonade', 'water', 'fries', 'cup', 'tip']) if (p !== 'tip') await id(page, `product-${p}`).click()
    await check('sale-offline')
    for (const tab of ['topup', 'cashout', 'ticket', 'tagswitch', 'balance', 'shift']) {
      await id(page, `tab-${tab}`).click()
      await id(page, `screen-${tab}`).waitFor()
      await check(tab)
    }
    fake.state.staffRequired = true
    await id(page, 'screen-login').waitFor({ timeout: 3_000 })
    await id(page, 'login-with-pin').click()
    await id(page, 'login-pin').waitFor()
    await check('login-pin')
    fake.state.staff = { uid: STAFF[2]!.uid, name: 'Samantha Supervisor-Longname', roles: ['supervisor'], since: Date.now() }
    await id(page, 'tab-sale').click({ timeout: 3_000 })
    await id(page, 'screen-sale').waitFor()
    await check('sale-staff')
    if (process.env.WRISTPAY_KIOSK_SHOTS) t.comment(`screenshots in ${dir}`)
  })
})
