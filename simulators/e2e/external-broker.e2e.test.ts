// End to end over an external Mosquitto 2 (config mqtt.url): a private broker
// (gateway/testing/mosquitto-server.ts), the gateway as its client provisioning
// the kiosk's login, and a real kiosk daemon selling through it. The gateway is
// stopped and started again while a sale is on its way: the sale waits in the
// broker's persistent session for the gateway, is booked once and answered.
import t from 'tap'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqttClient from 'mqtt'
import pino from 'pino'
import { publicKeyToBase64Url, systemClock, topics } from '../../device-protocol/index.js'
import { createKioskDaemon } from '../../daemon/app.js'
import { createMemoryReader } from '../../daemon/reader/memory-reader.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import type { Gateway } from '../../gateway/app.js'
import type { GatewayConfig } from '../../gateway/config.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { mosquittoAvailable, startMosquitto } from '../../gateway/testing/mosquitto-server.js'
import { kioskDaemonConfig, startLoopbackGateway, tapAndAwait } from './kiosk-harness.js'

const silent = pino({ level: 'silent' })
const GUEST = '04A1B2C3D4E5F6'
const ADMIN_TOKEN = 'admin-token-for-the-external-broker-e2e'

/** Whether the broker lets these credentials log in (and the login ends at once). */
async function logsIn(url: string, username: string, password: string): Promise<boolean> {
  return mqttClient.connectAsync(url, { clientId: `kiosk-${username}`, username, password, reconnectPeriod: 0, connectTimeout: 5_000 }, false).then(
    async (client) => {
      await client.endAsync()
      return true
    },
    () => false,
  )
}

if (!mosquittoAvailable()) {
  t.test('sales through an external mosquitto', { skip: 'mosquitto with the dynamic security plugin is not installed' }, async () => {})
} else {
  t.test('a kiosk sells through the gateway over an external mosquitto; a gateway restart loses nothing', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'wristpay-external-e2e-'))
    const server = await startMosquitto()
    t.teardown(async () => {
      await server.remove()
      rmSync(dir, { recursive: true, force: true })
    })
    // The secrets as an operator keeps them: files only the gateway's user reads.
    const gatewayPasswordFile = join(dir, 'gateway-mqtt-password')
    const adminPasswordFile = join(dir, 'dynsec-admin-password')
    writeFileSync(gatewayPasswordFile, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 })
    writeFileSync(adminPasswordFile, `${server.admin.password}\n`, { mode: 0o600 })
    const mqtt: GatewayConfig['mqtt'] = {
      host: '127.0.0.1',
      port: 0,
      url: server.url,
      external: { credentialFile: gatewayPasswordFile, dynsecAdminUsername: server.admin.username, dynsecAdminCredentialFile: adminPasswordFile },
    }
    const token = randomBytes(24).toString('base64url')
    const setup: EventSetup = {
      event: { name: 'external-broker', currency: 'EUR' },
      booths: [{ id: 'bar', name: 'Bar' }],
      products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
      kiosks: [{ id: 'bar-1', booth: 'bar', token, saleAllowed: true, topupAllowed: true }],
      wristbands: [{ uid: GUEST, pin: 'GUEST2345' }],
    }
    const watcher = { name: 'watch', token: randomBytes(18).toString('base64url') }
    const start = () => startLoopbackGateway({ dir, setup, logger: silent, config: { mqtt, adminToken: ADMIN_TOKEN, operators: [watcher] } })
    let gateway: Gateway | undefined = await start()
    t.teardown(() => gateway?.stop())

    const reader = createMemoryReader()
    const kiosk = await createKioskDaemon({
      config: kioskDaemonConfig({ kioskId: 'bar-1', token, mqttUrl: server.url, dataDir: join(dir, 'bar-1'), overrides: { replyTimeoutMs: 60_000, tapTimeoutMs: 10_000 } }),
      logger: silent,
      clock: systemClock,
      reader,
    })
    t.teardown(() => kiosk.stop())
    gateway.ledger.registry.enrollKiosk('bar-1', kiosk.publicKeyBase64Url)
    await kiosk.start()
    await waitUntil(() => kiosk.status().connected && kiosk.status().config !== null && kiosk.status().chain.status === 'intact', 'the kiosk logged in at mosquitto with its config and its chain checked', 1_000, 20)

    const topUp = await tapAndAwait(kiosk.kiosk.topUp(5_000), reader, GUEST)
    t.match(topUp, { status: 'accepted', balance: 5_000 })
    const sale = await tapAndAwait(kiosk.kiosk.sale([{ product: 'beer', qty: 1 }]), reader, GUEST)
    t.match(sale, { status: 'accepted', balance: 4_550, amount: 450 })
    t.equal(gateway.ledger.balanceOf(GUEST), 4_550)

    // The config's operator logs in at the broker as the monitor does and reads the gateway's retained state.
    const monitor = await mqttClient.connectAsync(server.url, { clientId: `operator-${watcher.name}/monitor-e2e`, username: `operator:${watcher.name}`, password: watcher.token, reconnectPeriod: 0, connectTimeout: 5_000 })
    t.teardown(() => monitor.endAsync(true))
    const gatewayStates: string[] = []
    monitor.on('message', (topic, payload) => topic === topics.gatewayState && gatewayStates.push(payload.toString('utf8')))
    await monitor.subscribeAsync(topics.gatewayState, { qos: 1 })
    await waitUntil(() => gatewayStates.length > 0, 'the gateway state at the operator', 1_000, 20)
    t.match(JSON.parse(gatewayStates[0]!), { status: 'online' }, 'the operator reads the gateway state through mosquitto')
    await monitor.endAsync()

    // The gateway goes away; the kiosk stays logged in at the broker and sells on.
    await gateway.stop()
    gateway = undefined
    const during = tapAndAwait(kiosk.kiosk.sale([{ product: 'beer', qty: 2 }]), reader, GUEST)
    await waitUntil(() => kiosk.outbox.depth() === 1, 'the sale written to the outbox and sent to the broker', 1_000, 20)
    gateway = await start()
    const answered = await during
    t.match(answered, { status: 'accepted', balance: 3_650, amount: 900 }, 'answered by the restarted gateway')
    t.equal(gateway.ledger.balanceOf(GUEST), 3_650)
    t.equal(gateway.ledger.transaction(answered.id)?.status, 'accepted')
    t.equal(gateway.ledger.stats().accepted, 3, 'each transaction booked once')
    await waitUntil(() => kiosk.outbox.depth() === 0, 'the outbox emptied', 1_000, 20)

    // A kiosk made by an operator gets its broker login when its registration code is redeemed, and a new code replaces it.
    const http = `http://127.0.0.1:${gateway.httpAddress!.port}`
    const issue = async (path: string, body: unknown) => {
      const response = await fetch(`${http}${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
      t.equal(response.status < 300, true, `${path} answered ${response.status}`)
      return ((await response.json()) as { code: string }).code
    }
    const enroll = async (code: string) => {
      const publicKey = publicKeyToBase64Url(generateKeyPairSync('ed25519').publicKey)
      const response = await fetch(`${http}/enroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code, publicKey }) })
      t.equal(response.status, 200)
      return ((await response.json()) as { mqtt: { url: string; username: string; token: string } }).mqtt
    }
    const firstCode = await issue('/admin/kiosks', { id: 'bar-7', booth: 'bar', saleAllowed: true })
    const first = await enroll(firstCode)
    t.match(first, { url: server.url, username: 'bar-7' }, 'the kiosk is sent to the external broker')
    t.equal(await logsIn(server.url, 'bar-7', first.token), true, 'the enrolled token logs in at the broker')
    const second = await enroll(await issue('/admin/kiosks/bar-7/registration-code', {}))
    t.equal(await logsIn(server.url, 'bar-7', second.token), true, 'the new token logs in')
    t.equal(await logsIn(server.url, 'bar-7', first.token), false, 'the replaced token no longer does')
  })
}
