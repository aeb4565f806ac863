// The kiosk daemon with a really full outbox disk (SQLite max_page_count on
// its file): the local API refuses the sale 503 storage_failed, the MQTT state
// tells operators (storage failed, SQLite's code), and once there is space the
// next sale works and the state no longer says so, without a restart.
import t from 'tap'
import { join } from 'node:path'
import { pino } from 'pino'
import { publicKeyFromBase64Url, topics, validateKioskState, type KioskConfig, type KioskState } from '../device-protocol/index.js'
import { loadConfig } from './config.js'
import { createKioskDaemon } from './app.js'
import { startTestBroker } from './testing/broker.js'
import { startResponder } from './testing/responder.js'
import { startObserver } from './testing/observer.js'
import { FakeReader } from './testing/fake-reader.js'
import { waitUntil } from './testing/wait.js'

const KIOSK = 'food-2'
const credentials = { [KIOSK]: 'kiosk-token', gateway: 'gateway-secret' }
const TAG = { uid: '04A1B2C3', type: 'ntag215' }
const catalog: KioskConfig = { kiosk: KIOSK, booth: 'Food truck', version: 1, products: [{ id: 'fries', name: 'Fries', price: 350 }], topupAllowed: true, saleAllowed: true }

t.test('a full outbox disk: 503 storage_failed, the state says so, and the next sale after space is back works', async (t) => {
  const broker = await startTestBroker(credentials)
  t.teardown(() => broker.stop())
  const observer = await startObserver(broker.url, 'gateway', credentials.gateway, topics.kioskState(KIOSK))
  t.teardown(() => observer.stop())
  const reader = new FakeReader()
  const config = {
    ...loadConfig({ env: {}, overrides: { kioskId: KIOSK, token: credentials[KIOSK], dataDir: join(t.testdir(), 'kiosk'), mqttUrl: broker.url, reader: 'memory', apiPort: 0 } }),
    reconnectInitialDelayMs: 10,
    reconnectMaxDelayMs: 100,
    replyTimeoutMs: 150,
  }
  const daemon = await createKioskDaemon({ config, logger: pino({ level: 'silent' }), clock: { now: () => Date.now() }, reader })
  const responder = await startResponder({ url: broker.url, username: 'gateway', password: credentials.gateway, publicKey: publicKeyFromBase64Url(daemon.publicKeyBase64Url) })
  t.teardown(() => responder.stop())
  await responder.publishRaw(topics.kioskConfig(KIOSK), JSON.stringify(catalog), true)
  await daemon.start()
  t.teardown(() => daemon.stop())
  await waitUntil(() => daemon.status().connected && daemon.status().config !== null && daemon.status().chain.status === 'intact', 'connected, configured, chain checked')
  const api = daemon.apiAddress()!
  const sale = async () => {
    const answer = fetch(`http://${api.host}:${api.port}/sale`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ lines: [{ product: 'fries', qty: 1 }] }) })
    await reader.tapWhenReady(TAG)
    const res = await answer
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }

  // The gateway is slow (sales stay pending and stored) and the disk can hold no more pages.
  responder.holdReplies = true
  const db = daemon.outbox.database
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`)
  let answer = await sale()
  for (let i = 0; i < 40 && answer.status === 202; i++) answer = await sale()
  t.equal(answer.status, 503)
  t.match(answer.body, { type: 'storage_failed', message: /^Storage full: this till cannot record sales\. Call a supervisor\./ })

  const states = () => observer.json(topics.kioskState(KIOSK)) as KioskState[]
  await waitUntil(() => states().some((s) => s.storage !== undefined), 'a state that says storage failed', 2_000)
  const failing = states().find((s) => s.storage !== undefined)!
  t.match(failing.storage, { status: 'failed', code: 'SQLITE_FULL' })
  t.ok(validateKioskState(failing).ok, 'the state validates against the schema')

  db.pragma('max_page_count = 1073741823')
  responder.holdReplies = false
  responder.releaseHeld()
  const next = await sale()
  t.ok(next.status === 200 || next.status === 202, 'stored again without a restart')
  await waitUntil(() => daemon.outbox.depth() === 0, 'every stored sale answered')
  const count = states().length
  await waitUntil(() => states().length > count && states().at(-1)!.storage === undefined, 'a state without the storage problem', 2_000)
})
