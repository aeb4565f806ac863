// The kiosk's touchscreen page end to end in headless Chromium at 800x480
// against real parts: a gateway (broker, ingest, SQLite ledger) and a real
// kiosk daemon serving the page and its local API, its reader simulated in
// process. The cashier logs in with a staff wristband, rings up a cart with a
// cup deposit, the guest taps, and the page shows the new balance; then the
// gateway goes away and the page says so (the stop is idempotent, so teardown may stop it again).
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { systemClock } from '../../device-protocol/index.js'
import { createKioskDaemon } from '../../daemon/app.js'
import { createMemoryReader } from '../../daemon/reader/memory-reader.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { CHROMIUM_PATH, chromiumAvailable, launchHeadlessChromium } from './headless-browser.js'
import { kioskDaemonConfig, startLoopbackGateway } from './kiosk-harness.js'

const silent = pino({ level: 'silent' })
const GUEST = '04A1B2C3D4E5F6'
const CASHIER = '04CA5100000001'
const skip = chromiumAvailable() ? false : `${CHROMIUM_PATH} is missing: install Debian's chromium (apt-get install -y chromium) to run this test`

t.test('the kiosk screen in headless Chromium: log in, ring up a cart, tap, see the new balance', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-kiosk-ui-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const kioskToken = randomBytes(24).toString('base64url')
  const setup: EventSetup = {
    event: { name: 'Screen Fest', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Main bar' }],
    products: [
      { id: 'beer', name: 'Beer 0.5 l', price: 450, booth: 'bar', taxRate: 1900 },
      { id: 'cup', name: 'Cup deposit', price: 200, booth: 'bar', kind: 'deposit' },
    ],
    tillProfiles: [
      { id: 'bar', name: 'Bar till', sale: true, topupCash: false, topupCard: false, cashout: false, ticketSale: false, tagSwitch: false, cashRegister: false, cancelWindowMs: 120_000 },
    ],
    staff: [{ uid: CASHIER, name: 'Cara Cashier', roles: ['cashier'] }],
    kiosks: [{ id: 'bar-1', booth: 'bar', token: kioskToken, saleAllowed: true, topupAllowed: false, profile: 'bar' }],
    wristbands: [{ uid: GUEST, pin: 'GUEST2345' }],
  }
  const gateway = await startLoopbackGateway({ dir, setup, logger: silent })
  // The guest topped up 20.00 online before coming to the bar.
  const provider = gateway.ledger.ensureAccount('clearing', 'sumup')
  gateway.ledger.bookExternal({ ref: 'sumup:chk_1', kind: 'topup_online', postings: [{ account: provider, amount: -2_000 }, { account: `customer:${GUEST}`, amount: 2_000 }] })

  const reader = createMemoryReader()
  const daemon = await createKioskDaemon({
    config: kioskDaemonConfig({
      kioskId: 'bar-1',
      token: kioskToken,
      mqttUrl: `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`,
      dataDir: join(dir, 'bar-1'),
      overrides: { replyTimeoutMs: 5_000, tapTimeoutMs: 10_000 },
    }),
    logger: silent,
    clock: systemClock,
    reader,
  })
  gateway.ledger.registry.enrollKiosk('bar-1', daemon.publicKeyBase64Url)
  await daemon.start()
  t.teardown(async () => {
    await daemon.stop()
    await gateway.stop()
  })
  await waitUntil(() => daemon.status().connected && daemon.status().config !== null, 'the kiosk has its config', 500, 20)

  /** The wristband is held to the reader once the kiosk waits for it, and taken away after. */
  const tapWhenAsked = async (uid: string) => {
    await waitUntil(() => daemon.kiosk.isBusy(), 'the kiosk waits for a tap', 500, 20)
    reader.present(uid, 'ntag215')
    await waitUntil(() => !daemon.kiosk.isBusy(), 'the kiosk is done', 500, 20)
    reader.remove()
  }

  const browser = await launchHeadlessChromium()
  t.teardown(() => browser.close())
  const page = await browser.context.newPage()
  await page.setViewportSize({ width: 800, height: 480 })
  const pageErrors: string[] = []
  page.on('pageerror', (err) => pageErrors.push(err.message))
  const id = (testId: string) => page.getByTestId(testId)

  await page.goto(`http://127.0.0.1:${daemon.apiAddress()!.port}/`)
  await id('screen-login').waitFor()
  await id('login-start').click()
  await id('tap-prompt').waitFor()
  await tapWhenAsked(CASHIER)
  await id('screen-sale').waitFor()
  t.match(await id('staff-name').textContent(), 'Cara Cashier')
  t.equal(await id('tab-topup').isVisible(), false, 'a cashier at a bar till sees no top-up')

  await id('product-beer').click()
  await id('product-beer').click()
  await id('product-cup').click()
  t.equal(await id('cart-total').textContent(), '11.00')
  await id('cart-pay').click()
  await id('tap-prompt').waitFor()
  await tapWhenAsked(GUEST)
  await id('result').waitFor()
  t.equal(await id('result').getAttribute('data-status'), 'accepted')
  t.match(await id('result-balance').textContent(), /9\.00/, 'the new balance: 20.00 - 11.00')
  t.equal(gateway.ledger.balanceOf(GUEST), 900, 'and the ledger agrees')
  const booked = gateway.ledger.customerOrders(GUEST)[0]
  t.match(booked, { kind: 'sale', amount: 1_100 })
  t.equal(gateway.ledger.transaction(booked!.id)?.envelope.tx.staff, CASHIER, 'booked by the cashier who logged in')
  await id('result-done').click()

  // The gateway goes away: the page shows it at once.
  await gateway.stop()
  await id('offline-banner').waitFor({ state: 'visible', timeout: 15_000 })
  t.ok(await id('offline-banner').isVisible(), 'the offline banner is up')
  t.same(pageErrors, [], 'no script errors on the page')
})
