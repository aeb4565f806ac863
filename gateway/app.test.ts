import t, { type Test } from 'tap'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect as netConnect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { pino } from 'pino'
import { topics, validateKioskConfig } from '../device-protocol/index.js'
import { createGateway, type Gateway } from './app.js'
import { MqttTestKiosk, connectClient, waitFor } from './testing/mqtt-test-kiosk.js'
import { resolveConfig, type GatewayConfig } from './config.js'

const ADMIN_TOKEN = 'admin-token-for-tests-0123'
const OPERATOR_TOKEN = 'operator-token-0123'
const UID = '04A1B2C3D4E5F6'
const KIOSK_TOKENS = { 'bar-1': 'token-bar-1-0123456789', 'cash-1': 'token-cash-1-0123456789' } as const
type KioskName = keyof typeof KIOSK_TOKENS

const EVENT = {
  event: { name: 'Test Fest', currency: 'EUR' },
  booths: [
    { id: 'bar', name: 'Bar' },
    { id: 'cashier', name: 'Cashier' },
  ],
  products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
  kiosks: [
    { id: 'bar-1', booth: 'bar', token: KIOSK_TOKENS['bar-1'], saleAllowed: true, topupAllowed: false },
    { id: 'cash-1', booth: 'cashier', token: KIOSK_TOKENS['cash-1'], saleAllowed: false, topupAllowed: true },
  ],
  wristbands: [{ uid: UID, pin: 'APPTEST234' }],
}

interface Harness {
  gateway: Gateway
  config: GatewayConfig
  dir: string
  mqttUrl: string
  httpBase: string
}

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-gateway-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function testConfig(dir: string, extra: Partial<GatewayConfig> = {}): GatewayConfig {
  const eventFile = join(dir, 'event.json')
  if (!existsSync(eventFile)) writeFileSync(eventFile, JSON.stringify(EVENT))
  return resolveConfig({
    mqtt: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    dataDir: join(dir, 'data'),
    eventFile,
    adminToken: ADMIN_TOKEN,
    operators: [{ name: 'ops', token: OPERATOR_TOKEN }],
    logLevel: 'silent',
    ...extra,
  })
}

async function startGateway(t: Test, dir = tempDir(t), extra: Partial<GatewayConfig> = {}): Promise<Harness> {
  const config = testConfig(dir, extra)
  const gateway = await createGateway({ config, logger: pino({ level: 'silent' }) })
  t.teardown(() => gateway.stop())
  await gateway.start()
  const m = gateway.mqttAddress!
  const h = gateway.httpAddress!
  return { gateway, config, dir, mqttUrl: `mqtt://127.0.0.1:${m.port}`, httpBase: `http://127.0.0.1:${h.port}` }
}

const connect = connectClient

/** A kiosk of this file's event: its token, and the one wristband its transactions are for. */
class TestKiosk extends MqttTestKiosk {
  constructor(id: KioskName) {
    super(id, { adminToken: ADMIN_TOKEN, kioskToken: KIOSK_TOKENS[id], uid: UID })
  }
}

t.test('a signed top-up and sale over real MQTT are accepted and booked', async (t) => {
  const h = await startGateway(t)
  const operator = await connect(t, h.mqttUrl, 'operator:ops', OPERATOR_TOKEN)
  const events: Array<{ topic: string; body: any }> = []
  operator.on('message', (topic, payload) => events.push({ topic, body: JSON.parse(payload.toString('utf8')) }))
  await operator.subscribeAsync([topics.allEvents, topics.gatewayState], { qos: 1 })
  await waitFor(() => events.some((e) => e.topic === topics.gatewayState), 'retained gateway state')
  t.equal(events.find((e) => e.topic === topics.gatewayState)?.body.status, 'online')

  const cash = new TestKiosk('cash-1')
  const bar = new TestKiosk('bar-1')
  await cash.enroll(h)
  await bar.enroll(h)
  await cash.connect(t, h)
  await bar.connect(t, h)

  // The retained config arrives on subscribe.
  const configs: unknown[] = []
  bar.client.on('message', (topic, payload) => topic === topics.kioskConfig('bar-1') && configs.push(JSON.parse(payload.toString('utf8'))))
  await bar.client.subscribeAsync(topics.kioskConfig('bar-1'), { qos: 1 })
  await waitFor(() => configs.length === 1, 'retained config')
  const config = validateKioskConfig(configs[0])
  t.ok(config.ok, 'config matches the schema')
  if (config.ok) {
    t.equal(config.value.kiosk, 'bar-1')
    t.same(config.value.products.map((p) => [p.id, p.price]), [['beer', 450]])
  }

  const topup = cash.sign('topup_cash', 2000)
  t.match(await cash.send(topup), { kind: 'result', id: topup.tx.id, status: 'accepted', balance: 2000 })
  const sale = bar.sign('sale', 900, [{ product: 'beer', qty: 2, unitPrice: 450 }])
  t.match(await bar.send(sale), { kind: 'result', id: sale.tx.id, status: 'accepted', balance: 1100 })
  const tooMuch = bar.sign('sale', 1350, [{ product: 'beer', qty: 3, unitPrice: 450 }])
  t.match(await bar.send(tooMuch), { kind: 'result', status: 'rejected', reason: 'insufficient_balance' })

  // Sending the same envelope again never books twice.
  t.match(await bar.send(sale), { id: sale.tx.id, status: 'accepted', balance: 1100 })

  t.equal(h.gateway.ledger.balanceOf(UID), 1100)
  t.equal(h.gateway.ledger.sumOfAllBalances(), 0)
  t.same(h.gateway.ledger.checkInvariants(), [])
  await waitFor(() => events.some((e) => e.topic === topics.event('booked') && e.body.id === sale.tx.id), 'booked event')
  const booked = events.find((e) => e.body.id === sale.tx.id)!.body
  t.notOk('sig' in booked, 'no signature in operator events')
})

t.test('with no operator connected a sale makes no booked event; an operator who connects gets the next one', async (t) => {
  const h = await startGateway(t)
  const cash = new TestKiosk('cash-1')
  const bar = new TestKiosk('bar-1')
  await cash.enroll(h)
  await bar.enroll(h)
  await cash.connect(t, h)
  await bar.connect(t, h)
  const topup = cash.sign('topup_cash', 2000)
  t.match(await cash.send(topup), { status: 'accepted' })
  // The answer is the only message the gateway makes for a sale: nobody could read a booked event. (The
  // gateway's state is published now and then too: the fewest messages around one sale is what counts.)
  let fewest = Number.POSITIVE_INFINITY
  const unpublished: string[] = []
  const fromGateway = () => h.gateway.stats().broker.messagesFromGateway ?? 0
  for (let i = 0; i < 3 && fewest > 1; i++) {
    const before = fromGateway()
    const sale = bar.sign('sale', 450, [{ product: 'beer', qty: 1, unitPrice: 450 }])
    t.match(await bar.send(sale), { status: 'accepted' })
    unpublished.push(sale.tx.id)
    fewest = Math.min(fewest, fromGateway() - before)
  }
  t.equal(fewest, 1, 'the answer alone')

  const operator = await connect(t, h.mqttUrl, 'operator:ops', OPERATOR_TOKEN)
  const events: Array<{ topic: string; body: any }> = []
  operator.on('message', (topic, payload) => events.push({ topic, body: JSON.parse(payload.toString('utf8')) }))
  await operator.subscribeAsync(topics.event('booked'), { qos: 1 })
  const second = bar.sign('sale', 450, [{ product: 'beer', qty: 1, unitPrice: 450 }])
  t.match(await bar.send(second), { status: 'accepted' })
  await waitFor(() => events.some((e) => e.body.id === second.tx.id), 'booked event of the sale after the operator came')
  t.notOk(events.some((e) => unpublished.includes(e.body.id)), 'the earlier ones were never published')
})

t.test('a kiosk publishing under another kiosk is refused; the ledger is unchanged', async (t) => {
  const h = await startGateway(t)
  const cash = new TestKiosk('cash-1')
  const bar = new TestKiosk('bar-1')
  await cash.enroll(h)
  await bar.enroll(h)
  await cash.connect(t, h)
  const before = h.gateway.stats()

  // bar-1 holds cash-1's key material in this scenario and tries to top up through cash-1's topic.
  const forged = cash.sign('topup_cash', 5000)
  const intruder = await connect(t, h.mqttUrl, 'bar-1', KIOSK_TOKENS['bar-1'])
  const gone = new Promise<void>((resolve) => intruder.once('close', () => resolve()))
  intruder.publish(topics.kioskTx('cash-1'), JSON.stringify(forged), { qos: 1 })
  await gone

  const after = h.gateway.stats()
  t.equal(after.broker.deniedPublishes, 1)
  t.equal(after.gateway.txSubmitted, before.gateway.txSubmitted, 'nothing reached ingest')
  t.same(after.ledger, before.ledger)
  t.equal(h.gateway.ledger.balanceOf(UID), 0)
  t.same(cash.replies, [], 'no reply went to the real cash-1')
})

t.test('kiosk subscribing to another kiosk reply is denied; operators cannot publish', async (t) => {
  const h = await startGateway(t)
  const bar = await connect(t, h.mqttUrl, 'bar-1', KIOSK_TOKENS['bar-1'])
  const denied = await bar.subscribeAsync(topics.kioskReply('cash-1'), { qos: 1 }).then(
    (granted) => granted.map((g) => g.qos),
    (err: { packet?: { granted?: number[] } }) => err.packet?.granted,
  )
  t.same(denied, [128])

  const operator = await connect(t, h.mqttUrl, 'operator:ops', OPERATOR_TOKEN)
  const gone = new Promise<void>((resolve) => operator.once('close', () => resolve()))
  operator.publish(topics.kioskTx('bar-1'), '{}', { qos: 1 })
  await gone
  const stats = h.gateway.stats()
  t.equal(stats.broker.deniedSubscribes, 1)
  t.equal(stats.broker.deniedPublishes, 1)
  t.equal(stats.gateway.txSubmitted, 0)
})

t.test('wrong or missing credentials are refused', async (t) => {
  const h = await startGateway(t)
  const attempts: Array<[string | undefined, string | undefined]> = [
    [undefined, undefined],
    ['bar-1', 'wrong-token-0123456789'],
    ['bar-1', KIOSK_TOKENS['cash-1']],
    ['operator:ops', 'wrong'],
    ['operator:nobody', OPERATOR_TOKEN],
    ['ops', OPERATOR_TOKEN],
    ['nope', 'whatever'],
  ]
  for (const [username, password] of attempts) {
    const err = await mqtt.connectAsync(h.mqttUrl, { username, password, reconnectPeriod: 0, connectTimeout: 5000 }).then(
      async (c) => {
        await c.endAsync(true)
        return null
      },
      (e: Error & { code?: number }) => e,
    )
    t.ok(err && (err.code === 4 || err.code === 5), `refused: ${username}`)
  }
  t.equal(h.gateway.stats().broker.authFailures, attempts.length)
})

t.test('the mqtt limits of the config reach the broker', async (t) => {
  // One failed login blocks the address for a minute: the right token that follows waits too.
  const h = await startGateway(t, undefined, { mqtt: { host: '127.0.0.1', port: 0, loginFailuresBeforeBlock: 1, loginBlockBaseMs: 60_000 } })
  const attempt = (password: string) =>
    mqtt.connectAsync(h.mqttUrl, { username: 'bar-1', password, reconnectPeriod: 0, connectTimeout: 5000 }).then(
      async (c) => {
        await c.endAsync(true)
        return null
      },
      (e: Error & { code?: number }) => e,
    )
  t.equal((await attempt('wrong-token-0123456789'))?.code, 4)
  t.equal((await attempt(KIOSK_TOKENS['bar-1']))?.code, 5, 'refused unchecked')
  t.equal(h.gateway.stats().broker.authThrottled, 1)
})

t.test('the wrong-PIN limits of the config reach the one PIN limiter', async (t) => {
  // One wrong PIN per source: the second login from the same address is not checked.
  const h = await startGateway(t, undefined, { pinAttempts: { perSourceWrongMax: 1 } })
  const login = (pin: string) =>
    fetch(`${h.httpBase}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pin }) })
  t.equal((await login('WRONGPIN22')).status, 404, 'the first wrong PIN is checked')
  t.equal((await login('WRONGPIN33')).status, 429, 'the second waits')
  t.equal(h.gateway.stats().gateway.pins_refusedSourceLimit, 1, 'refused by the per-source limit')
})

t.test('malformed payloads are counted and never crash the gateway or touch the ledger', async (t) => {
  const h = await startGateway(t)
  const cash = new TestKiosk('cash-1')
  await cash.enroll(h)
  await cash.connect(t, h)
  const garbage = ['not json', '{}', '[]', 'null', '{"tx":{"v":1},"sig":"x"}', JSON.stringify({ tx: { a: 'b'.repeat(60_000) } }), '\u0000\u0001\u00ff']
  for (const payload of garbage) await cash.client.publishAsync(topics.kioskTx('cash-1'), payload, { qos: 1 })
  // A forged signature: the right shape, signed by another key.
  const other = new TestKiosk('cash-1')
  const forged = other.sign('topup_cash', 5000)
  await cash.client.publishAsync(topics.kioskTx('cash-1'), JSON.stringify(forged), { qos: 1 })
  await waitFor(() => h.gateway.stats().gateway.txSubmitted === garbage.length + 1, 'all messages submitted')
  // The forged one is answered bad_signature, addressed by its id.
  await waitFor(() => cash.replies.some((r) => r.kind === 'result' && r.id === forged.tx.id), 'refusal of the forged envelope')
  t.match(cash.replies.find((r) => r.kind === 'result' && r.id === forged.tx.id), { status: 'rejected', reason: 'bad_signature' })
  t.equal(h.gateway.stats().ingest.malformed, garbage.length, 'malformed payloads are counted')

  t.equal(h.gateway.ledger.balanceOf(UID), 0)
  t.same(h.gateway.ledger.stats().accepted, 0)
  t.same(h.gateway.ledger.checkInvariants(), [])
  t.ok(cash.client.connected, 'the kiosk stays connected')
  // The gateway still books a good one afterwards.
  const good = cash.sign('topup_cash', 700)
  t.match(await cash.send(good), { id: good.tx.id, status: 'accepted', balance: 700 })
  const health = await fetch(`${h.httpBase}/healthz`)
  t.equal(health.status, 200)
})

t.test('/healthz and the admin API over HTTP', async (t) => {
  const h = await startGateway(t)
  t.same(await (await fetch(`${h.httpBase}/healthz`)).json(), { status: 'ok', mqtt: 'up', db: 'up' })
  const unauthorized = await fetch(`${h.httpBase}/admin/stats`)
  t.equal(unauthorized.status, 401)
  const stats = await fetch(`${h.httpBase}/admin/stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.equal(stats.status, 200)
  const body = (await stats.json()) as any
  t.equal(body.ledger.accepted, 0)
  t.type(body.broker.connectedClients, 'number')
  t.type(body.gateway.txSubmitted, 'number')
  t.type(body.ingest, 'object')

  const unknown = await fetch(`${h.httpBase}/admin/kiosks/ghost-1/public-key`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ publicKey: new TestKiosk('bar-1').publicKey }),
  })
  t.equal(unknown.status, 404)
  t.equal(h.gateway.ledger.registry.kioskPublicKey('ghost-1'), undefined)
})

t.test('stop publishes offline, closes everything; a restart keeps the ledger', async (t) => {
  const dir = tempDir(t)
  const h = await startGateway(t, dir)
  const cash = new TestKiosk('cash-1')
  await cash.enroll(h)
  await cash.connect(t, h)
  t.match(await cash.send(cash.sign('topup_cash', 1500)), { status: 'accepted', balance: 1500 })

  const operator = await connect(t, h.mqttUrl, 'operator:ops', OPERATOR_TOKEN)
  const states: string[] = []
  operator.on('message', (topic, payload) => topic === topics.gatewayState && states.push(JSON.parse(payload.toString('utf8')).status))
  await operator.subscribeAsync(topics.gatewayState, { qos: 1 })
  await waitFor(() => states.length === 1, 'retained online state')

  const kioskGone = new Promise<void>((resolve) => cash.client.once('close', () => resolve()))
  await h.gateway.stop()
  await h.gateway.stop() // idempotent
  await kioskGone
  t.same(states, ['online', 'offline'])
  await t.rejects(fetch(`${h.httpBase}/healthz`), 'HTTP is closed')

  const again = await startGateway(t, dir)
  t.equal(again.gateway.ledger.balanceOf(UID), 1500, 'balance survives the restart')
  t.ok(again.gateway.ledger.registry.kioskPublicKey('cash-1'), 'enrollment survives the restart')
  await cash.connect(t, again)
  t.match(await cash.send(cash.sign('topup_cash', 500)), { status: 'accepted', balance: 2000 }, 'the chain continues')
})

t.test('start fails cleanly when the HTTP port is taken', async (t) => {
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()))
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())))
  const port = (blocker.address() as { port: number }).port
  const config = testConfig(tempDir(t), { http: { host: '127.0.0.1', port } })
  const gateway = await createGateway({ config, logger: pino({ level: 'silent' }) })
  await t.rejects(gateway.start(), /EADDRINUSE/)
  // The failed start stopped what it had opened: the MQTT port is free again.
  const mqttPort = gateway.mqttAddress!.port
  const refused = await new Promise<string>((resolve) => {
    const socket = netConnect(mqttPort, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve('connected')
    })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'))
  })
  t.equal(refused, 'ECONNREFUSED')
  await gateway.stop() // already stopped by the failed start; must not throw
})

t.test('a broken event set-up is refused before anything is created', async (t) => {
  const dir = tempDir(t)
  const eventFile = join(dir, 'event.json')
  writeFileSync(eventFile, JSON.stringify({ ...EVENT, kiosks: [{ ...EVENT.kiosks[0], booth: 'nowhere' }] }))
  const config = testConfig(dir, { eventFile })
  await t.rejects(createGateway({ config, logger: pino({ level: 'silent' }) }), /booth 'nowhere'/)
  t.notOk(existsSync(config.dataDir), 'no data dir was created')
})
