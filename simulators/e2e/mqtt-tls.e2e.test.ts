// MQTT over TLS end to end: a gateway with a certificate made in the test
// (config mqtt.tls) serves mqtts:// and wss:// only; a kiosk daemon that trusts
// its CA (caFile) connects, verifying certificate and host name, and sells; a
// kiosk that trusts another CA is refused with a clear log line and sends
// nothing; an operator reads the gateway's state over wss://.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import pino from 'pino'
import { createKioskDaemon, type KioskDaemon } from '../../daemon/app.js'
import { createMemoryReader } from '../../daemon/reader/memory-reader.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import { systemClock, topics, validateGatewayState, parseJson } from '../../device-protocol/index.js'
import { makeTestCertificates } from '../../device-protocol/testing/test-certificates.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { WEBSOCKET_PATH } from '../../gateway/broker.js'
import { kioskDaemonConfig, startLoopbackGateway, tapAndAwait } from './kiosk-harness.js'

const silent = pino({ level: 'silent' })
const GUEST = '04A1B2C3D4E5F6'
const token = () => randomBytes(24).toString('base64url')

t.test('kiosks and operators over TLS', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-tls-e2e-'))
  const certs = await makeTestCertificates(dir, 'gateway')
  const strangers = await makeTestCertificates(dir, 'stranger')
  const tokens = { bar: token(), wrongCa: token(), ops: token() }
  const setup: EventSetup = {
    event: { name: 'tls', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
    kiosks: [
      { id: 'bar-1', booth: 'bar', token: tokens.bar, saleAllowed: true, topupAllowed: true },
      { id: 'bar-2', booth: 'bar', token: tokens.wrongCa, saleAllowed: true, topupAllowed: true },
    ],
    wristbands: [{ uid: GUEST, pin: 'GUEST2345' }],
  }
  const gateway = await startLoopbackGateway({
    dir,
    setup,
    logger: silent,
    config: {
      mqtt: { host: '127.0.0.1', port: 0, tls: { certFile: certs.certFile, keyFile: certs.keyFile }, websocket: { host: '127.0.0.1', port: 0 } },
      operators: [{ name: 'ops', token: tokens.ops }],
    },
  })
  const daemons: KioskDaemon[] = []
  t.teardown(async () => {
    for (const daemon of daemons) await daemon.stop()
    await gateway.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const mqttsUrl = `mqtts://127.0.0.1:${gateway.mqttAddress!.port}`

  await t.test('a kiosk that trusts the gateway CA connects over TLS and sells', async (t) => {
    const reader = createMemoryReader()
    const bar = await createKioskDaemon({
      config: kioskDaemonConfig({ kioskId: 'bar-1', token: tokens.bar, mqttUrl: mqttsUrl, dataDir: join(dir, 'bar-1'), overrides: { caFile: certs.caFile } }),
      logger: silent,
      clock: systemClock,
      reader,
    })
    daemons.push(bar)
    gateway.ledger.registry.enrollKiosk('bar-1', bar.publicKeyBase64Url)
    await bar.start()
    await waitUntil(() => bar.status().connected && bar.status().config !== null && bar.status().chain.status === 'intact', 'bar-1 connected over TLS with its config', 500, 20)
    t.match(await tapAndAwait(bar.kiosk.topUp(1_000), reader, GUEST), { status: 'accepted', balance: 1_000 })
    t.match(await tapAndAwait(bar.kiosk.sale([{ product: 'beer', qty: 1 }]), reader, GUEST), { status: 'accepted', balance: 550 })
    t.equal(gateway.ledger.balanceOf(GUEST), 550)
  })

  await t.test('a kiosk that trusts another CA is refused with a clear log line and never logs in', async (t) => {
    const lines: Array<Record<string, any>> = []
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
    const authFailuresBefore = gateway.stats().broker.authFailures
    const other = await createKioskDaemon({
      config: kioskDaemonConfig({ kioskId: 'bar-2', token: tokens.wrongCa, mqttUrl: mqttsUrl, dataDir: join(dir, 'bar-2'), overrides: { caFile: strangers.caFile } }),
      logger,
      clock: systemClock,
      reader: createMemoryReader(),
    })
    daemons.push(other)
    await other.start()
    await waitUntil(() => lines.some((l) => /TLS connection to the gateway refused/.test(l.msg)), 'the refusal in the log', 500, 20)
    const refusal = lines.find((l) => /TLS connection to the gateway refused/.test(l.msg))!
    t.equal(refusal.level, 50, 'an error')
    t.match(refusal.msg, /certificate does not chain to a trusted CA .*check caFile.*never falls back to clear text/)
    t.notMatch(JSON.stringify(lines), new RegExp(tokens.wrongCa), 'never the token')
    t.equal(other.status().connected, false)
    t.equal(gateway.stats().broker.authFailures, authFailuresBefore, 'no login reached the gateway')
  })

  await t.test('an operator reads the gateway state over wss://', async (t) => {
    const wss = `wss://127.0.0.1:${gateway.mqttWebSocketAddress!.port}${WEBSOCKET_PATH}`
    const operator = await mqtt.connectAsync(wss, { username: 'operator:ops', password: tokens.ops, ca: certs.ca, rejectUnauthorized: true, reconnectPeriod: 0, connectTimeout: 10_000 })
    t.teardown(() => operator.endAsync(true))
    const state = new Promise<Buffer>((resolve) => operator.on('message', (topic, payload) => topic === topics.gatewayState && resolve(payload)))
    await operator.subscribeAsync(topics.gatewayState, { qos: 1 })
    const parsed = parseJson(await state, validateGatewayState)
    t.ok(parsed.ok, 'a valid gateway state')
    t.equal(parsed.ok && parsed.value.status, 'online')
  })

  await t.test("the operator console's config.json tells the page to connect with wss://, the only scheme the listener speaks", async (t) => {
    const answer = await fetch(`http://127.0.0.1:${gateway.httpAddress!.port}/console/config.json`)
    t.same(await answer.json(), { mqtt: { port: gateway.mqttWebSocketAddress!.port, path: WEBSOCKET_PATH, tls: true } })
  })
})
