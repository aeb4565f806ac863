// The operator console end to end in headless Chromium against a real gateway
// (broker with its WebSocket listener, fleet, SQLite ledger) and a real kiosk
// MQTT client that announces itself like the kiosk daemon (a retained birth,
// a `lost` will with the same bdSeq). The operator logs in, sees the kiosk
// online, the kiosk's connection is cut (it shows lost) and comes back (online
// again) while the page stays open; an admin's block button reaches the ledger
// and the lock button reaches the kiosk as a command in the admin's name; the enrollment panel makes a kiosk
// and shows its registration code and QR image; and when the gateway goes away the page says the picture is no longer live.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import pino from 'pino'
import { topics, type KioskState } from '../../device-protocol/index.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { CHROMIUM_PATH, chromiumAvailable, launchHeadlessChromium } from './headless-browser.js'
import { startLoopbackGateway } from './kiosk-harness.js'

const silent = pino({ level: 'silent' })
const GUEST = '04A1B2C3D4E5F6'
const skip = chromiumAvailable() ? false : `${CHROMIUM_PATH} is missing: install Debian's chromium (apt-get install -y chromium) to run this test`

function kioskState(status: KioskState['status'], bdSeq: number): KioskState {
  return {
    kiosk: 'bar-1',
    status,
    at: Date.now(),
    bdSeq,
    version: 'test',
    configVersion: 1,
    outboxDepth: 0,
    reader: { kind: 'serial', health: 'ok' },
    offline: { sales: 0, cents: 0 },
  }
}

/** The commands the test kiosk received, in order. */
const commandsSeen: Array<{ command: string; by: string }> = []

/** A kiosk's MQTT session as the daemon opens it: the will says lost, the retained birth says online, with this connection's bdSeq. */
async function connectKiosk(t: Test, mqttUrl: string, token: string, bdSeq: number): Promise<MqttClient> {
  const client = await mqtt.connectAsync(mqttUrl, {
    username: 'bar-1',
    password: token,
    clientId: 'kiosk-bar-1',
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    will: { topic: topics.kioskState('bar-1'), payload: Buffer.from(JSON.stringify(kioskState('lost', bdSeq))), qos: 1, retain: true },
  })
  t.teardown(() => client.endAsync(true))
  // Remote commands as the daemon answers them: by the command's id, on its own answer topic.
  client.on('message', (topic, payload) => {
    if (topic !== topics.kioskCmd('bar-1')) return
    const command = JSON.parse(payload.toString('utf8')) as { id: string; command: string; by: string }
    commandsSeen.push({ command: command.command, by: command.by })
    const answer = { v: 1, id: command.id, kiosk: 'bar-1', command: command.command, status: 'done', at: Date.now(), locked: command.command === 'lock' }
    void client.publishAsync(topics.kioskCmdAnswer('bar-1'), JSON.stringify(answer), { qos: 1 })
  })
  await client.subscribeAsync(topics.kioskCmd('bar-1'), { qos: 1 })
  await client.publishAsync(topics.kioskState('bar-1'), JSON.stringify(kioskState('online', bdSeq)), { qos: 1, retain: true })
  return client
}


t.test('the operator console in headless Chromium: the fleet live, a kiosk lost and back, a wristband blocked, a kiosk locked, a kiosk enrolled', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-console-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const kioskToken = randomBytes(24).toString('base64url')
  const boss = { name: 'boss', token: randomBytes(24).toString('base64url'), roles: ['admin' as const] }
  const setup: EventSetup = {
    event: { name: 'Console Fest', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Main bar' }],
    products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
    kiosks: [{ id: 'bar-1', booth: 'bar', token: kioskToken, saleAllowed: true, topupAllowed: false }],
    wristbands: [{ uid: GUEST, pin: 'GUEST2345' }],
  }
  const gateway = await startLoopbackGateway({
    dir,
    setup,
    logger: silent,
    config: { mqtt: { host: '127.0.0.1', port: 0, websocket: { host: '127.0.0.1', port: 0 } }, operators: [boss] },
  })
  t.teardown(() => gateway.stop())
  const mqttUrl = `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`
  t.ok(gateway.mqttWebSocketAddress, 'the WebSocket listener is open')

  let kiosk = await connectKiosk(t, mqttUrl, kioskToken, 1)

  const browser = await launchHeadlessChromium()
  t.teardown(() => browser.close())
  const page = await browser.context.newPage()
  await page.setViewportSize({ width: 1280, height: 900 })
  const pageErrors: string[] = []
  page.on('pageerror', (err) => pageErrors.push(err.message))
  // Content-security-policy refusals and failed loads show up as console errors.
  const consoleErrors: string[] = []
  page.on('console', (message) => void (message.type() === 'error' && consoleErrors.push(`${message.text()} ${message.location().url}`)))
  const row = (status: string) => page.locator(`#fleet tr[data-kiosk="bar-1"][data-status="${status}"]`)

  await page.goto(`http://127.0.0.1:${gateway.httpAddress!.port}/console/`)
  await page.locator('#login-name').fill(boss.name)
  await page.locator('#login-token').fill(boss.token)
  await page.locator('#login-submit').click()
  await page.locator('#app').waitFor({ state: 'visible' })
  t.equal(await page.locator('#role').textContent(), '(admin)')
  await row('online').waitFor({ timeout: 15_000 })
  t.equal(await row('online').locator('td.status').textContent(), 'online')
  await page.locator('#totals [data-total="kiosksOnline"] dd').waitFor()
  t.equal(await page.locator('#totals [data-total="kiosksOnline"] dd').textContent(), '1 / 1')
  t.equal(await page.locator('#banner').isVisible(), false, 'no banner while connected')
  const token = await page.evaluate('sessionStorage.getItem("wristpay-console-operator")')
  t.match(String(token), boss.token, 'the token is kept in session storage')

  // The kiosk's connection dies without a goodbye (power cut, cable): its will marks it lost.
  kiosk.stream.destroy()
  await row('lost').waitFor({ timeout: 15_000 })
  t.pass('the page shows the kiosk lost')
  kiosk = await connectKiosk(t, mqttUrl, kioskToken, 2)
  await row('online').waitFor({ timeout: 15_000 })
  t.pass('and online again after it reconnects, on the same page')

  // The admin blocks a lost wristband.
  await page.locator('#block-uid').fill(GUEST)
  await page.locator('#block-button').click()
  await page.locator('#action-result', { hasText: 'blocked' }).waitFor()
  t.equal(gateway.ledger.wristband(GUEST)?.blocked, true, 'the ledger has it blocked')
  // The admin locks the kiosk from its row: the command goes out in the operator's name and the kiosk's answer is shown.
  await row('online').locator('button[data-action="lock"]').click()
  await page.locator('#action-result', { hasText: 'answered lock: done' }).waitFor()
  t.same(commandsSeen, [{ command: 'lock', by: 'boss' }], 'the kiosk got one lock, from boss')

  // The admin makes a new kiosk in the enrollment panel: its code, the command line and the QR code are shown.
  await page.locator('#enroll-id').fill('bar-2')
  await page.locator('#enroll-booth').fill('bar')
  await page.locator('#enroll-sale').check()
  await page.locator('#enroll-create').click()
  await page.locator('#enroll-result').waitFor({ state: 'visible' })
  const code = (await page.locator('#enroll-code').textContent()) ?? ''
  t.match(code, /^[A-HJ-NP-Z2-9]{4}(-[A-HJ-NP-Z2-9]{4}){3}$/, 'the registration code is shown')
  t.equal(await page.locator('#enroll-command').textContent(), `wristpay-kiosk enroll --gateway http://127.0.0.1:${gateway.httpAddress!.port} --code ${code}`)
  t.match(await page.locator('#enroll-kiosk').textContent(), /^bar-2 \(booth bar\)$/)
  // A QR image the browser decoded: the page's content security policy let the data: URL through.
  await page.waitForFunction('document.getElementById("enroll-qr").complete && document.getElementById("enroll-qr").naturalWidth > 0')
  t.match(await page.locator('#enroll-qr').getAttribute('src'), /^data:image\/png;base64,/, 'the QR code is shown as an image')
  t.equal(gateway.ledger.registry.kiosk('bar-2')?.booth, 'bar', 'the kiosk exists in the gateway')

  t.ok((await page.locator('#chart-sales canvas').count()) > 0 && (await page.locator('#chart-latency canvas').count()) > 0, 'both charts are drawn')
  t.same(consoleErrors, [], 'no console errors while the gateway was up')

  // The gateway goes away: the page says its picture is no longer live.
  await gateway.stop()
  await page.locator('#banner').waitFor({ state: 'visible', timeout: 15_000 })
  t.same(pageErrors, [], 'no script errors on the page')
})
