// The operator console's cash shift table in headless Chromium against a real
// gateway: beside the cash figures each closed shift shows the card top-ups
// booked, the card terminal's end-of-day totals the kiosk signed into the
// close (or that they are missing and why, as text) and the difference.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { applyOne, opsSetup, OPS_UID, StaffedKiosk, STAFF } from '../../gateway/ledger/testing/operations-fixtures.js'
import { CHROMIUM_PATH, chromiumAvailable, launchHeadlessChromium } from './headless-browser.js'
import { startLoopbackGateway } from './kiosk-harness.js'

const skip = chromiumAvailable() ? false : `${CHROMIUM_PATH} is missing: install Debian's chromium (apt-get install -y chromium) to run this test`

t.test("the console's shift table shows the terminal's totals, missing ones with the reason, and the card difference", { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-console-shifts-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const cash = new StaffedKiosk('cash-1', STAFF.topup)
  const boss = { name: 'boss', token: randomBytes(24).toString('base64url'), roles: ['admin' as const] }
  const gateway = await startLoopbackGateway({
    dir,
    setup: opsSetup({ 'cash-1': cash.keys }),
    logger: pino({ level: 'silent' }),
    config: { mqtt: { host: '127.0.0.1', port: 0 }, operators: [boss] },
  })
  t.teardown(() => gateway.stop())

  // Signed now: the gateway's real clock refuses the fixtures' fixed times.
  const book = (e: Parameters<typeof applyOne>[1]) => t.match(applyOne(gateway.ledger, e), { status: 'accepted' })
  const shift = (cardCents: number[], terminalTotals: object) => {
    book(cash.next({ type: 'shift_open', uid: STAFF.topup, amount: 0 }, { register: 'drawer-1', at: Date.now() }))
    cardCents.forEach((cents, i) =>
      book(cash.next({ type: 'topup_card', uid: OPS_UID.alice, amount: cents }, { at: Date.now(), payment: { terminalId: '52000123', receiptNumber: String(100 + cents + i), traceNumber: String(cents + i).padStart(6, '0') } })),
    )
    book(cash.next({ type: 'shift_close', uid: STAFF.topup, amount: 0 }, { register: 'drawer-1', at: Date.now(), terminalTotals } as object))
  }
  shift([2_000], { status: 'ok', terminalId: '52000123', totalCents: 2_500, count: 2, cardTypes: [{ cardType: 'girocard', count: 1, amountCents: 2_000 }, { cardType: 'visa', count: 1, amountCents: 500 }] })
  shift([700], { status: 'missing', reason: 'the terminal aborted the end of day <b data-testid=injected>' })

  const browser = await launchHeadlessChromium()
  t.teardown(() => browser.close())
  const page = await browser.context.newPage()
  await page.goto(`http://127.0.0.1:${gateway.httpAddress!.port}/console/`)
  await page.locator('#login-name').fill(boss.name)
  await page.locator('#login-token').fill(boss.token)
  await page.locator('#login-submit').click()
  await page.locator('#shifts tbody tr').nth(1).waitFor({ timeout: 15_000 })
  const cells = async (row: number) => page.locator('#shifts tbody tr').nth(row).locator('td').allTextContents()
  const headers = await page.locator('#shifts thead th').allTextContents()
  const column = (name: string) => headers.indexOf(name)
  t.ok(column('card terminal') > 0 && column('card difference') > 0 && column('card top-ups') > 0, 'the columns are there')
  // Newest first: the shift with missing totals, then the one with totals.
  const missing = await cells(0)
  t.equal(missing[column('card terminal')], 'missing: the terminal aborted the end of day <b data-testid=injected>', 'the reason, as text')
  t.equal(missing[column('card difference')], '')
  t.match(missing[column('card top-ups')], /^1 · .*7\.00/)
  t.equal(await page.locator('[data-testid="injected"]').count(), 0, 'no element made from it')
  const withTotals = await cells(1)
  t.match(withTotals[column('card terminal')], /^2 · .*25\.00 \(girocard 1 · .*20\.00, visa 1 · .*5\.00\)$/)
  t.match(withTotals[column('card top-ups')], /^1 · .*20\.00/)
  t.match(withTotals[column('card difference')], /5\.00/, 'the terminal took 5.00 more than was booked')
})
