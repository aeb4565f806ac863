// The guest portal end to end in headless Chromium (Debian's chromium driven by
// playwright-core) against real parts: a gateway (createGateway: broker,
// ingest, SQLite ledger, HTTP) with the portal API mounted under /api and the
// portal page under /portal; kiosk daemons over real MQTT making the sales;
// online top-up through the SumUp adapter against the SumUp simulator, whose
// hosted checkout page the browser visits. The guest logs in with a PIN, sees
// the balance, a sale happens at the bar, the page shows the new balance and
// order after a reload, and so on. A second event in the same file takes bank
// transfers (portal.bankAccount) and tops up online through the payments
// provider simulator (the stancer provider), which can refund to the card.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { systemClock } from '../../device-protocol/index.js'
import { createKioskDaemon, type KioskDaemon } from '../../daemon/app.js'
import { createMemoryReader } from '../../daemon/reader/memory-reader.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import type { Gateway } from '../../gateway/app.js'
import { DEFAULT_CONFIG } from '../../gateway/config.js'
import { randomPin, type EventSetup } from '../../gateway/event-setup.js'
import { creditorReference, isValidCreditorReference } from '../../gateway/bank/transfer-reference.js'
import { STANCER_REFUND_NOT_HONORED } from '../../gateway/payments/stancer.js'
import { CHROMIUM_PATH, chromiumAvailable, inPage, launchHeadlessChromium } from './headless-browser.js'
import { kioskDaemonConfig, tapAndAwait, startLoopbackGateway } from './kiosk-harness.js'
import { startPaymentSimulators } from '../demo/payment-sims.js'

const silent = pino({ level: 'silent' })
const GUEST = '04A1B2C3D4E5F6'
const OTHER_GUEST = '04A1B2C3D4E5F7'
const token = () => randomBytes(24).toString('base64url')

const skip = chromiumAvailable() ? false : `${CHROMIUM_PATH} is missing: install Debian's chromium (apt-get install -y chromium) to run this test`

t.test('the guest portal in headless Chromium against a real gateway and kiosks', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-portal-browser-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const pins = { guest: randomPin(), other: randomPin() }
  const tokens = { bar: token(), topup: token() }
  const setup: EventSetup = {
    event: { name: 'Browser Fest', currency: 'EUR' },
    booths: [
      { id: 'bar', name: 'Bar' },
      { id: 'topup', name: 'Top-up' },
    ],
    products: [
      { id: 'beer', name: 'Beer 0.5 l', price: 450, booth: 'bar' },
      { id: 'water', name: 'Water', price: 250, booth: 'bar' },
    ],
    kiosks: [
      { id: 'bar-1', booth: 'bar', token: tokens.bar, saleAllowed: true, topupAllowed: false },
      { id: 'topup-1', booth: 'topup', token: tokens.topup, saleAllowed: false, topupAllowed: true },
    ],
    wristbands: [
      { uid: GUEST, pin: pins.guest },
      { uid: OTHER_GUEST, pin: pins.other },
    ],
  }
  // The gateway serves the portal API under /api and the page under /portal; online top-ups go to the SumUp simulator.
  const sims = await startPaymentSimulators()
  t.teardown(() => sims.close())
  const gateway: Gateway = await startLoopbackGateway({
    dir,
    setup,
    logger: silent,
    config: {
      portal: { ...DEFAULT_CONFIG.portal, allowedCountryCodes: ['DE', 'AT'], contactEmail: 'help@browserfest.example', salesTax: { name: 'VAT', rateBasisPoints: 1900 } },
      payments: { ...DEFAULT_CONFIG.payments, ...sims.payments },
    },
  })
  const daemons: KioskDaemon[] = []
  t.teardown(async () => {
    for (const d of daemons) await d.stop()
    await gateway.stop()
  })
  const base = `http://127.0.0.1:${gateway.httpAddress!.port}`
  sims.connect(base)
  const sim = sims.sumup

  const mqttUrl = `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`
  const kiosk = async (kioskId: string, kioskToken: string) => {
    const reader = createMemoryReader()
    const daemon = await createKioskDaemon({
      config: kioskDaemonConfig({ kioskId, token: kioskToken, mqttUrl, dataDir: join(dir, kioskId), overrides: { replyTimeoutMs: 5_000, tapTimeoutMs: 5_000 } }),
      logger: silent,
      clock: systemClock,
      reader,
    })
    daemons.push(daemon)
    gateway.ledger.registry.enrollKiosk(kioskId, daemon.publicKeyBase64Url)
    await daemon.start()
    return { daemon, reader }
  }
  const bar = await kiosk('bar-1', tokens.bar)
  const topupStation = await kiosk('topup-1', tokens.topup)
  await waitUntil(() => daemons.every((d) => d.status().connected && d.status().config !== null), 'both kiosks connected with their config', 500, 20)

  const cashTopUp = await tapAndAwait(topupStation.daemon.kiosk.topUp(2_000), topupStation.reader, GUEST)
  t.match(cashTopUp, { status: 'accepted', balance: 2_000 })

  const browser = await launchHeadlessChromium()
  t.teardown(() => browser.close())
  const page = await browser.context.newPage()
  const pageErrors: string[] = []
  page.on('pageerror', (err) => pageErrors.push(err.message))
  const screenshots = mkdtempSync(join(tmpdir(), 'wristpay-portal-shots-'))
  t.teardown(() => {
    if (!process.env.WRISTPAY_KEEP_SCREENSHOTS) rmSync(screenshots, { recursive: true, force: true })
  })

  const orders = page.locator('#orders > li')

  await t.test('log in with the wristband PIN: balance and the top-up order show', async (t) => {
    await page.goto(`${base}/portal`)
    t.equal(new URL(page.url()).pathname, '/portal/', '/portal redirects to /portal/')
    await page.getByLabel('Wristband PIN').fill(pins.other.slice(0, -1) + (pins.other.endsWith('A') ? 'B' : 'A'))
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.getByRole('alert').waitFor()
    t.match(await page.getByRole('alert').textContent(), /This PIN is not known/)

    // PINs are compared case-insensitively; guests type them as they like.
    await page.getByLabel('Wristband PIN').fill(pins.guest.toLowerCase())
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.locator('#account-view').waitFor()
    t.equal(await page.locator('#event-name').textContent(), 'Browser Fest')
    t.equal(await page.locator('#balance').textContent(), '€20.00')
    t.equal(await orders.count(), 1)
    t.match(await orders.nth(0).textContent(), /Top-up\+€20\.00/)
  })

  await t.test('a sale at the bar kiosk: after a reload the page shows the new balance and the order', async (t) => {
    const sale = await tapAndAwait(bar.daemon.kiosk.sale([{ product: 'beer', qty: 2 }, { product: 'water', qty: 1 }]), bar.reader, GUEST)
    t.match(sale, { status: 'accepted', balance: 850, amount: 1_150 })
    await page.reload()
    await page.locator('#account-view').waitFor()
    t.equal(await page.locator('#balance').textContent(), '€8.50')
    t.equal(await orders.count(), 2)
    t.match(await orders.nth(0).textContent(), /Purchase−€11\.50/, 'the newest order first')
    t.match(await orders.nth(0).locator('.order-lines').textContent(), /2 × Beer 0\.5 l€9\.00.*1 × Water€2\.50/s)

    // And once more without a reload: the Refresh button.
    const second = await tapAndAwait(bar.daemon.kiosk.sale([{ product: 'water', qty: 1 }]), bar.reader, GUEST)
    t.match(second, { status: 'accepted', balance: 600 })
    await page.getByRole('button', { name: 'Refresh' }).click()
    await page.locator('#balance', { hasText: '€6.00' }).waitFor()
    t.equal(await orders.count(), 3)
  })

  await t.test('the receipt of the sale', async (t) => {
    await orders.nth(1).getByRole('link', { name: /Receipt/ }).click()
    await page.locator('#bon-view').waitFor()
    await page.locator('#bon-lines tbody tr').first().waitFor()
    t.match(await page.locator('#bon-lines tbody').textContent(), /2Beer 0\.5 l€4\.50€9\.00.*1Water€2\.50€2\.50/s)
    t.equal(await page.locator('#bon-total').textContent(), '€11.50')
    t.match(await page.locator('#bon-taxes').textContent(), /€1\.84/, 'the VAT contained in 11.50 at 19 %')
    await page.getByRole('link', { name: 'Back to your account' }).click()
    await page.locator('#account-view').waitFor()
  })

  await t.test('online top-up: the provider page, pay, back on the portal, booked once', async (t) => {
    await page.getByLabel(/^Amount/).fill('15')
    await page.getByRole('button', { name: 'Top up' }).click()
    await page.waitForURL((url) => url.href.startsWith(sim.baseUrl))
    await page.locator('#pay').click()
    await page.locator('#topup-result.paid').waitFor({ timeout: 30_000 })
    t.match(await page.locator('#topup-result').textContent(), /€15\.00 was received/)
    t.equal(await page.locator('#balance').textContent(), '€21.00')
    t.equal(gateway.ledger.balanceOf(GUEST), 2_100, 'the ledger agrees')
    t.equal(new URL(page.url()).search, '', 'the checkout id is taken off the address')
    t.match(await orders.nth(0).textContent(), /Top-up\+€15\.00/)
    // A reload checks nothing again and books nothing again.
    await page.reload()
    await page.locator('#account-view').waitFor()
    t.equal(await page.locator('#topup-result').isVisible(), false)
    t.equal(gateway.ledger.balanceOf(GUEST), 2_100)
    t.same(gateway.ledger.checkInvariants(), [])
  })

  await t.test('a declined online payment adds nothing', async (t) => {
    await page.getByLabel(/^Amount/).fill('7.50')
    await page.getByRole('button', { name: 'Top up' }).click()
    await page.waitForURL((url) => url.href.startsWith(sim.baseUrl))
    await page.locator('#decline').click()
    await page.locator('#topup-result.failed').waitFor({ timeout: 30_000 })
    t.equal(await page.locator('#balance').textContent(), '€21.00')
    t.equal(gateway.ledger.balanceOf(GUEST), 2_100)
  })

  await t.test('payout registration: a refused IBAN country in plain words, then saved', async (t) => {
    await page.getByLabel('IBAN').fill('FR14 2004 1010 0505 0001 3M02 606')
    await page.getByLabel('Account holder').fill('Erika Mustermann')
    await page.getByLabel('Email').fill('erika@example.org')
    await page.getByLabel(/^Donation/).fill('1')
    await page.getByRole('button', { name: 'Save bank details' }).click()
    await page.getByRole('alert').waitFor()
    t.match(await page.getByRole('alert').textContent(), /^Your bank details were not saved: /)
    t.notMatch(await page.getByRole('alert').textContent(), /FR14/, 'the IBAN is not echoed')

    await page.getByLabel('IBAN').fill('DE89 3704 0044 0532 0130 00')
    await page.getByRole('button', { name: 'Save bank details' }).click()
    await page.getByRole('status').filter({ hasText: 'saved' }).waitFor()
    t.match(await page.locator('#payout-state').textContent(), /ending in 3000 \(Erika Mustermann\)\. You donate €1\.00/)
  })

  await t.test('the page looks right on a phone (screenshot)', async (t) => {
    const file = join(screenshots, 'portal-account.png')
    await page.screenshot({ path: file, fullPage: true })
    if (process.env.WRISTPAY_KEEP_SCREENSHOTS) t.comment(`screenshot: ${file}`)
    t.equal(await inPage(page, 'document.documentElement.scrollWidth <= window.innerWidth'), true, 'no sideways scrolling')
  })

  await t.test('log out ends the session on the server; another guest sees only their own account', async (t) => {
    const oldToken = await inPage<string | null>(page, "sessionStorage.getItem('wristpay.portal.token')")
    t.ok(oldToken)
    await page.getByRole('button', { name: 'Log out' }).click()
    await page.locator('#login-view').waitFor()
    const stale = await fetch(`${base}/api/customer`, { headers: { authorization: `Bearer ${oldToken}` } })
    t.equal(stale.status, 401, 'the old token no longer works')

    await page.getByLabel('Wristband PIN').fill(pins.other)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.locator('#account-view').waitFor()
    t.equal(await page.locator('#balance').textContent(), '€0.00')
    t.equal(await orders.count(), 0)
    t.equal(await page.locator('#orders-empty').isVisible(), true)
    t.match(await page.locator('#payout-state').textContent(), /not entered bank details/)
  })

  await t.test('an event without an organiser account shows no bank transfer; no online top-up by card, no refund to the card', async (t) => {
    const sessionToken = await inPage<string | null>(page, "sessionStorage.getItem('wristpay.portal.token')")
    const answer = await fetch(`${base}/api/bank_transfer`, { headers: { authorization: `Bearer ${sessionToken}` } })
    t.equal(answer.status, 404, 'the event takes no bank transfers')
    t.equal(await page.getByRole('region', { name: 'Top up by bank transfer' }).count(), 0)
    t.equal(await page.locator('#bank-transfer-section').isHidden(), true)
    // Nothing of this guest's can go back to a card (no balance left on SumUp top-ups): the section stays hidden.
    t.equal(await page.getByRole('region', { name: 'Refund to my card' }).count(), 0)
  })

  // The second event: the organiser's account in the set-up and online top-ups through the payments
  // provider simulator, whose webhooks now go to this gateway (the first event's top-ups used SumUp).
  const REFUND_GUEST = '04D1B2C3D4E5F6'
  const refundPin = randomPin()
  const bankAccount = { holder: 'Refund Fest e.V.', iban: 'de02 1203 0000 0000 2020 51', bic: 'byladem1001' }
  const refundDir = join(dir, 'refund-fest')
  mkdirSync(refundDir)
  const refundGateway: Gateway = await startLoopbackGateway({
    dir: refundDir,
    setup: {
      event: { name: 'Refund Fest', currency: 'EUR' },
      booths: [{ id: 'bar', name: 'Bar' }],
      products: [{ id: 'beer', name: 'Beer 0.5 l', price: 450, booth: 'bar' }],
      kiosks: [],
      wristbands: [{ uid: REFUND_GUEST, pin: refundPin }],
      portal: { bankAccount },
    },
    logger: silent,
    config: { payments: { ...DEFAULT_CONFIG.payments, ...sims.payments, defaultProvider: 'stancer' } },
  })
  t.teardown(() => refundGateway.stop())
  const refundBase = `http://127.0.0.1:${refundGateway.httpAddress!.port}`
  sims.provider.controls.setWebhookUrl(`${refundBase}/payments/webhooks/stancer`)
  const refundPage = await browser.context.newPage()
  refundPage.on('pageerror', (err) => pageErrors.push(err.message))
  const refundSection = refundPage.getByRole('region', { name: 'Refund to my card' })
  const refundItems = refundPage.locator('#card-refunds > li')

  await t.test('bank transfer before the event: the organiser\'s account and the guest\'s own reference', async (t) => {
    await refundPage.goto(`${refundBase}/portal`)
    await refundPage.getByLabel('Wristband PIN').fill(refundPin)
    await refundPage.getByRole('button', { name: 'Log in' }).click()
    await refundPage.locator('#account-view').waitFor()
    const section = refundPage.getByRole('region', { name: 'Top up by bank transfer' })
    await section.waitFor()
    t.same(await section.getByRole('term').allTextContents(), ['Account holder', 'IBAN', 'BIC', 'Reference'])
    const [holder, iban, bic, reference] = await section.getByRole('definition').allTextContents()
    t.equal(holder, 'Refund Fest e.V.')
    t.equal(iban, 'DE02 1203 0000 0000 2020 51', 'in groups of four, upper case')
    t.equal(bic, 'BYLADEM1001')
    // ISO 11649: RF, two check digits, the body; grouped in fours as people type it.
    t.match(reference, /^RF\d{2}( [A-Z0-9]{1,4})+$/)
    const compact = reference!.replace(/ /g, '')
    t.ok(isValidCreditorReference(compact), 'the check digits hold')
    t.equal(creditorReference(compact.slice(4)), compact, 'the check digits are the ones the body gives')
    const sessionToken = await inPage<string | null>(refundPage, "sessionStorage.getItem('wristpay.portal.token')")
    const answer = await fetch(`${refundBase}/api/bank_transfer`, { headers: { authorization: `Bearer ${sessionToken}` } })
    t.equal(((await answer.json()) as { reference: string }).reference, compact, 'the guest\'s own reference, as the API gives it')
    // Nothing topped up online yet: nothing can go back to a card, and the section is not shown.
    const refundable = await fetch(`${refundBase}/api/customer/card_refund`, { headers: { authorization: `Bearer ${sessionToken}` } })
    t.same(await refundable.json(), { refundable: 0, refunds: [] })
    t.equal(await refundSection.count(), 0)
  })

  await t.test('refund to the card: top up through the provider, see what can go back, ask for part of it', async (t) => {
    await refundPage.getByLabel(/^Amount/).fill('30')
    await refundPage.getByRole('button', { name: 'Top up' }).click()
    await refundPage.waitForURL((url) => url.href.startsWith(sims.provider.baseUrl))
    await refundPage.getByRole('button', { name: 'Pay', exact: true }).click()
    await refundPage.locator('#topup-result.paid').waitFor({ timeout: 30_000 })
    t.equal(await refundPage.locator('#balance').textContent(), '€30.00')
    await refundSection.waitFor()
    t.match(await refundSection.textContent(), /Now up to €30\.00 can/)
    t.equal(await refundItems.count(), 0)

    await refundPage.getByLabel(/^Refund amount/).fill('12.50')
    await refundPage.getByRole('button', { name: 'Refund to my card' }).click()
    await refundPage.getByRole('status').filter({ hasText: '€12.50 is on its way to your card.' }).waitFor()
    t.equal(await refundPage.locator('#balance').textContent(), '€17.50', 'the balance drops by the refund')
    t.equal(refundGateway.ledger.balanceOf(REFUND_GUEST), 1_750, 'the ledger agrees')
    t.equal(await refundItems.count(), 1)
    t.match(await refundItems.nth(0).textContent(), /€12\.50 on its way/)
    t.match(await refundSection.textContent(), /Now up to €17\.50 can/)
    t.equal(await refundPage.getByLabel(/^Refund amount/).inputValue(), '', 'the amount field is cleared')
  })

  await t.test('a refund the card\'s bank refuses: the page says why and the money is back on the wristband', async (t) => {
    sims.provider.controls.refuseNextRefunds(1)
    await refundPage.getByLabel(/^Refund amount/).fill('5')
    await refundPage.getByRole('button', { name: 'Refund to my card' }).click()
    await refundPage.getByRole('alert').filter({ hasText: 'refused' }).waitFor()
    t.match(await refundPage.getByRole('alert').textContent(), /Your card refund was refused; the money is on your wristband again/)
    await refundItems.nth(1).waitFor()
    const refused = refundItems.filter({ hasText: '€5.00 refused' })
    t.equal(await refused.count(), 1)
    t.match(await refused.textContent(), `€5.00 could not go back to the card and is on your wristband again: ${STANCER_REFUND_NOT_HONORED}`)
    t.match(await refundItems.filter({ hasText: '€12.50' }).textContent(), /on its way/, 'the first refund is still listed')
    t.equal(await refundPage.locator('#balance').textContent(), '€17.50', 'the balance is back')
    t.equal(refundGateway.ledger.balanceOf(REFUND_GUEST), 1_750)
    t.match(await refundSection.textContent(), /Now up to €17\.50 can/)
    t.same(refundGateway.ledger.checkInvariants(), [])
  })

  await t.test('all the rest back to the card: the form goes away and keyboard focus moves to the named list of refunds', async (t) => {
    await refundPage.getByRole('button', { name: 'Refund to my card' }).click()
    await refundPage.getByRole('status').filter({ hasText: '€17.50 is on its way to your card.' }).waitFor()
    t.equal(await refundPage.locator('#balance').textContent(), '€0.00')
    t.equal(await refundPage.getByRole('button', { name: 'Refund to my card' }).count(), 0, 'nothing is left to ask for')
    const list = refundPage.getByRole('list', { name: 'Your refunds to the card' })
    t.equal(await list.getByRole('listitem').count(), 3)
    t.equal(await inPage<string | null>(refundPage, 'document.activeElement && document.activeElement.id'), 'card-refunds', 'focus is on the list, not lost with the hidden button')
    t.equal(refundGateway.ledger.balanceOf(REFUND_GUEST), 0)
    t.same(refundGateway.ledger.checkInvariants(), [])
  })

  t.same(pageErrors, [], 'no script errors on the page')
})
