import t from 'tap'
import { join } from 'node:path'
import { pino } from 'pino'
import { publicKeyFromBase64Url, topics, validateKioskState, type KioskConfig } from '../device-protocol/index.js'
import { loadConfig, type KioskDaemonConfig } from './config.js'
import { createKioskDaemon } from './app.js'
import { startTestBroker } from './testing/broker.js'
import { startResponder } from './testing/responder.js'
import { startObserver } from './testing/observer.js'
import { FakeReader } from './testing/fake-reader.js'
import { createMemoryReader, type MemoryReader } from './reader/memory-reader.js'
import { waitUntil } from './testing/wait.js'

const logger = pino({ level: 'silent' })
const clock = { now: () => Date.now() }
const KIOSK = 'food-2'
const credentials = { [KIOSK]: 'kiosk-token', gateway: 'gateway-secret' }
const TAG = { uid: '04A1B2C3', type: 'ntag215' }
const catalog: KioskConfig = { kiosk: KIOSK, booth: 'Food truck', version: 1, products: [{ id: 'fries', name: 'Fries', price: 350 }], topupAllowed: true, saleAllowed: true }

function daemonConfig(dataDir: string, mqttUrl: string): KioskDaemonConfig {
  return {
    ...loadConfig({ env: {}, overrides: { kioskId: KIOSK, token: credentials[KIOSK], dataDir, mqttUrl, reader: 'memory', apiPort: 0 } }),
    reconnectInitialDelayMs: 10,
    reconnectMaxDelayMs: 100,
    replyTimeoutMs: 2_000,
  }
}

t.test('the daemon end to end: retained config, sale over the local API, state, graceful stop and restart', async (t) => {
  const dataDir = join(t.testdir(), 'kiosk')
  const broker = await startTestBroker(credentials)
  t.teardown(() => broker.stop())
  const observer = await startObserver(broker.url, 'gateway', credentials.gateway, topics.kioskState(KIOSK))
  t.teardown(() => observer.stop())

  const reader = new FakeReader()
  const daemon = await createKioskDaemon({ config: daemonConfig(dataDir, broker.url), logger, clock, reader })
  const responder = await startResponder({ url: broker.url, username: 'gateway', password: credentials.gateway, publicKey: publicKeyFromBase64Url(daemon.publicKeyBase64Url) })
  t.teardown(() => responder.stop())
  responder.policy = () => ({ status: 'accepted', balance: 650 })
  // The gateway's retained config is waiting before the kiosk connects.
  await responder.publishRaw(topics.kioskConfig(KIOSK), JSON.stringify(catalog), true)

  await daemon.start()
  t.teardown(() => daemon.stop())
  await waitUntil(() => daemon.status().connected && daemon.status().config !== null, 'connected with config')
  const api = daemon.apiAddress()!
  t.equal(api.host, '127.0.0.1')
  const base = `http://${api.host}:${api.port}`

  const pendingSale = fetch(`${base}/sale`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ lines: [{ product: 'fries', qty: 2 }] }) })
  await reader.tapWhenReady(TAG)
  const res = await pendingSale
  t.equal(res.status, 200)
  t.match(await res.json(), { status: 'accepted', balance: 650, seq: 1, amount: 700 })
  t.same(reader.feedbacks.map((f) => f.led), ['green'])

  const bad = await fetch(`${base}/sale`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ lines: [{ product: 'caviar', qty: 1 }] }) })
  t.equal(bad.status, 400)
  t.match(await bad.json(), { type: 'unknown_product', message: /caviar/ })

  const state = (await (await fetch(`${base}/state`)).json()) as Record<string, unknown>
  t.match(state, { kiosk: KIOSK, connected: true, busy: false, outboxDepth: 0, reader: { kind: 'memory', connected: true }, counters: { sales: 1, accepted: 1 }, config: { version: 1, booth: 'Food truck' }, publicKey: daemon.publicKeyBase64Url })

  // The state message follows changes (throttled) and carries the counters.
  const states = () => observer.json(topics.kioskState(KIOSK)) as Array<{ status: string; counters?: Record<string, number> }>
  await waitUntil(() => states().some((s) => s.status === 'online' && s.counters?.accepted === 1), 'state with counters', 2000)
  // The birth carries the lifecycle details (C1): bdSeq, config version, reader health, offline totals, tap-to-answer times.
  const lifecycle = () => (states() as Array<Record<string, unknown> & { tapToAnswerMs?: { count: number } }>).find((s) => s.status === 'online' && s.tapToAnswerMs?.count === 1)
  await waitUntil(() => lifecycle() !== undefined, 'state with the tap-to-answer time of the sale', 2000)
  t.match(lifecycle(), { bdSeq: 0, configVersion: 1, reader: { health: 'ok' }, offline: { sales: 0, cents: 0 }, outboxDepth: 0, tapToAnswerMs: { count: 1 } })
  t.ok(validateKioskState(lifecycle()).ok, 'the state message validates against the schema')

  // A newer config is applied live; an older one is not.
  await responder.publishRaw(topics.kioskConfig(KIOSK), JSON.stringify({ ...catalog, version: 2, products: [{ id: 'fries', name: 'Fries', price: 400 }] }), true)
  await waitUntil(() => daemon.status().config?.version === 2, 'config v2')
  await responder.publishRaw(topics.kioskConfig(KIOSK), JSON.stringify({ ...catalog, version: 1 }), true)
  await responder.publishRaw(topics.kioskConfig(KIOSK), 'garbage', true)
  await waitUntil(() => daemon.status().counters.malformedConfigs === 1, 'garbage counted')
  t.equal(daemon.status().config?.products[0]?.price, 400)

  await daemon.stop()
  await waitUntil(() => states().at(-1)?.status === 'offline', 'offline state')
  await daemon.stop() // twice is fine

  // Restart from the same data dir: same identity, the chain continues, config is remembered.
  const again = await createKioskDaemon({ config: daemonConfig(dataDir, broker.url), logger, clock, reader: new FakeReader() })
  t.equal(again.publicKeyBase64Url, daemon.publicKeyBase64Url)
  t.equal(again.outbox.head().nextSeq, 2)
  t.equal(again.localConfig.current()?.version, 2, 'the newest applied config is remembered; the older and the garbage one never replaced it')
  await again.stop()
})

t.test('pending transactions left by a previous run are sent on start', async (t) => {
  const dataDir = join(t.testdir(), 'kiosk')
  const broker = await startTestBroker(credentials)
  t.teardown(() => broker.stop())
  const responder = await startResponder({ url: broker.url, username: 'gateway', password: credentials.gateway })
  t.teardown(() => responder.stop())
  responder.holdReplies = true
  await responder.publishRaw(topics.kioskConfig(KIOSK), JSON.stringify(catalog), true)

  const reader = new FakeReader()
  const first = await createKioskDaemon({ config: { ...daemonConfig(dataDir, broker.url), replyTimeoutMs: 50 }, logger, clock, reader })
  await first.start()
  await waitUntil(() => first.status().config !== null, 'config')
  const [outcome] = await Promise.all([first.kiosk.topUp(1_000), reader.tapWhenReady(TAG)])
  t.match(outcome, { status: 'pending' })
  await first.stop()

  responder.holdReplies = false
  const second = await createKioskDaemon({ config: daemonConfig(dataDir, broker.url), logger, clock, reader: new FakeReader() })
  t.teardown(() => second.stop())
  t.equal(second.outbox.depth(), 1)
  await second.start()
  await waitUntil(() => second.outbox.depth() === 0, 'answered after restart')
  t.match(second.outbox.answered(outcome.id), { status: 'accepted' })
  t.same(responder.problems, [])
})

t.test('refuses to start without a token', async (t) => {
  const dataDir = join(t.testdir(), 'kiosk')
  const { token: _token, ...noToken } = daemonConfig(dataDir, 'mqtt://127.0.0.1:1')
  await t.rejects(createKioskDaemon({ config: noToken, logger, clock }), { name: 'ConfigError', message: /token/ })
})

t.test('reader "memory" builds the in-process reader adapter, which the flow drives', async (t) => {
  const dataDir = join(t.testdir(), 'kiosk')
  const broker = await startTestBroker(credentials)
  t.teardown(() => broker.stop())
  const responder = await startResponder({ url: broker.url, username: 'gateway', password: credentials.gateway })
  t.teardown(() => responder.stop())
  await responder.publishRaw(topics.kioskConfig(KIOSK), JSON.stringify(catalog), true)
  const daemon = await createKioskDaemon({ config: daemonConfig(dataDir, broker.url), logger, clock })
  t.teardown(() => daemon.stop())
  const reader = daemon.reader as MemoryReader
  t.equal(reader.kind, 'memory')
  await daemon.start()
  await waitUntil(() => daemon.status().connected && daemon.status().config !== null, 'ready')
  const sale = daemon.kiosk.sale([{ product: 'fries', qty: 1 }])
  await waitUntil(() => reader.listenerCount('tag') > 0, 'waiting for a tap')
  reader.present('04a1b2c3', 'ntag215')
  t.match(await sale, { status: 'accepted', amount: 350 })
  t.match(responder.received[0]!.tx.tag, { uid: '04A1B2C3' })
  t.match(reader.feedbackLog, [{ led: 'green' }])
})

t.test("the state message carries the reader's counters, so operators see a flaky reader or cable", async (t) => {
  const dataDir = join(t.testdir(), 'kiosk')
  const broker = await startTestBroker(credentials)
  t.teardown(() => broker.stop())
  const observer = await startObserver(broker.url, 'gateway', credentials.gateway, topics.kioskState(KIOSK))
  t.teardown(() => observer.stop())
  const reader = createMemoryReader()
  const ownStatus = reader.status.bind(reader)
  reader.status = () => ({ ...ownStatus(), counters: { frames: 7, crcErrors: 2, discardedBytes: 13, reconnects: 1 } })
  const daemon = await createKioskDaemon({ config: daemonConfig(dataDir, broker.url), logger, clock, reader })
  t.teardown(() => daemon.stop())
  await daemon.start()
  const states = () => observer.json(topics.kioskState(KIOSK)) as Array<{ status: string; counters?: Record<string, number> }>
  await waitUntil(() => states().some((s) => s.status === 'online'), 'online state')
  t.match(states().find((s) => s.status === 'online')!.counters, { reader_frames: 7, reader_crcErrors: 2, reader_discardedBytes: 13, reader_reconnects: 1 })
})
