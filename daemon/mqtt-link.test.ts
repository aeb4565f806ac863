import t from 'tap'
import { join } from 'node:path'
import { generateKeyPairSync } from 'node:crypto'
import { createRequire } from 'node:module'
import { v7 as uuidv7 } from 'uuid'
import { pino } from 'pino'
import { signTransaction, topics, type KioskConfig, type ReplyMessage } from '../device-protocol/index.js'
import { createOutbox } from './outbox.js'
import { createMqttLink, DEFAULT_BACKOFF, reconnectDelayMs } from './mqtt-link.js'
import { loadConfig } from './config.js'
import { createBirthSequence } from './birth-seq.js'
import { startTestBroker } from './testing/broker.js'
import { startResponder } from './testing/responder.js'
import { startObserver } from './testing/observer.js'
import { waitUntil } from './testing/wait.js'

const logger = pino({ level: 'silent' })
const clock = { now: () => Date.now() }
const KIOSK = 'bar-1'
const credentials = { [KIOSK]: 'kiosk-token', gateway: 'gateway-secret' }
const { privateKey, publicKey } = generateKeyPairSync('ed25519')
const fastBackoff = { initialDelayMs: 10, maxDelayMs: 50 }

function fillOutbox(path: string, count: number) {
  const outbox = createOutbox({ path, maxEntries: 100, clock })
  for (let i = 0; i < count; i++) {
    outbox.append((seq, prev) =>
      signTransaction({ v: 1, id: uuidv7(), kiosk: KIOSK, seq, prev, type: 'topup_cash', tag: { uid: '04A1B2C3', type: 'ntag215' }, lines: [], amount: 500, at: clock.now() }, privateKey),
    )
  }
  return outbox
}

t.test('reconnect delay doubles per attempt, is capped and jittered within ±20%', async (t) => {
  const opts = { initialDelayMs: 500, maxDelayMs: 30_000 }
  t.same([0, 1, 2, 3].map((a) => reconnectDelayMs(a, opts)), [500, 1000, 2000, 4000])
  t.equal(reconnectDelayMs(20, opts), 30_000)
  t.equal(reconnectDelayMs(1000, opts), 30_000, 'no overflow on long outages')
  t.equal(reconnectDelayMs(0, opts, 0), 400)
  t.ok(reconnectDelayMs(0, opts, 1) < 600)
  t.equal(reconnectDelayMs(-3, opts), 500)
})

t.test('by default a kiosk tries again at least every 12 s however long the outage, so it is back soon after the broker', async (t) => {
  const longest = Math.max(...[5, 10, 30, 1000].flatMap((attempt) => [0, 0.5, 0.999999].map((r) => reconnectDelayMs(attempt, DEFAULT_BACKOFF, r))))
  t.ok(longest <= 12_000, `longest wait ${longest} ms`)
  t.equal(loadConfig({ env: { WRISTPAY_KIOSK_ID: 'bar-1', WRISTPAY_KIOSK_TOKEN: 'tok' } }).reconnectMaxDelayMs, DEFAULT_BACKOFF.maxDelayMs, 'the daemon\'s config has the same default')
})

t.test('the link writes message ids without the cache of 65,536 Buffers mqtt-packet builds (megabytes a kiosk does not need)', async (t) => {
  // mqtt-packet as mqtt.js itself loads it; the cache is process-wide and built on the first packet unless turned off.
  const mqttPacket = createRequire(createRequire(import.meta.url).resolve('mqtt'))('mqtt-packet') as { writeToStream: { cacheNumbers: boolean } }
  const outbox = fillOutbox(join(t.testdir(), 'o.sqlite'), 0)
  t.teardown(() => outbox.close())
  const link = createMqttLink({ url: 'mqtt://127.0.0.1:1', kioskId: KIOSK, token: credentials[KIOSK], logger, clock, outbox, backoff: fastBackoff, stateDetails: () => ({ outboxDepth: outbox.depth() }) })
  link.start()
  t.teardown(() => link.stop())
  t.equal(mqttPacket.writeToStream.cacheNumbers, false)
})

t.test('on connect: subscribes, announces online (retained) and resends pending entries in seq order', async (t) => {
  const broker = await startTestBroker(credentials)
  t.teardown(() => broker.stop())
  const responder = await startResponder({ url: broker.url, username: 'gateway', password: credentials.gateway, publicKey })
  t.teardown(() => responder.stop())
  const observer = await startObserver(broker.url, 'gateway', credentials.gateway, topics.kioskState(KIOSK))
  t.teardown(() => observer.stop())

  const outbox = fillOutbox(join(t.testdir(), 'o.sqlite'), 3)
  t.teardown(() => outbox.close())
  const link = createMqttLink({ url: broker.url, kioskId: KIOSK, token: credentials[KIOSK], logger, clock, outbox, backoff: fastBackoff, stateDetails: () => ({ outboxDepth: outbox.depth() }) })
  const replies: ReplyMessage[] = []
  link.onReply((r) => {
    replies.push(r)
    if (r.kind === 'result') outbox.markAnswered(r.id, r)
  })
  link.start()
  t.teardown(() => link.stop())

  await waitUntil(() => replies.length === 3, 'three replies')
  t.same(responder.received.map((e) => e.tx.seq), [1, 2, 3], 'sent in seq order')
  t.same(responder.problems, [])
  t.equal(outbox.depth(), 0)
  await waitUntil(() => observer.json(topics.kioskState(KIOSK)).length > 0, 'a state message')
  t.match(observer.json(topics.kioskState(KIOSK))[0], { kiosk: KIOSK, status: 'online' })
  // Someone who subscribes later still gets it: it is retained.
  const late = await startObserver(broker.url, 'gateway', credentials.gateway, topics.kioskState(KIOSK))
  t.teardown(() => late.stop())
  await waitUntil(() => late.messages.length > 0, 'the retained state')
  t.match(late.messages[0], { retain: true })
  t.match(JSON.parse(late.messages[0]!.payload), { kiosk: KIOSK, status: 'online' })
  t.equal(link.isReady(), true)
})

t.test('malformed replies and configs are counted and ignored; valid ones still arrive', async (t) => {
  const broker = await startTestBroker(credentials)
  t.teardown(() => broker.stop())
  const responder = await startResponder({ url: broker.url, username: 'gateway', password: credentials.gateway })
  t.teardown(() => responder.stop())
  const outbox = createOutbox({ path: join(t.testdir(), 'o.sqlite'), maxEntries: 10, clock })
  t.teardown(() => outbox.close())
  const link = createMqttLink({ url: broker.url, kioskId: KIOSK, token: credentials[KIOSK], logger, clock, outbox, backoff: fastBackoff })
  const replies: ReplyMessage[] = []
  const configs: KioskConfig[] = []
  link.onReply((r) => replies.push(r))
  link.onConfig((c) => configs.push(c))
  link.start()
  t.teardown(() => link.stop())
  await waitUntil(() => link.isReady(), 'link ready')

  const reply = topics.kioskReply(KIOSK)
  const config = topics.kioskConfig(KIOSK)
  const hostileReplies = [
    'not json {',
    '',
    'null',
    '[]',
    JSON.stringify({ kind: 'result', id: 'x', seq: 1, status: 'accepted' }),
    JSON.stringify({ kind: 'result', id: '01890000-0000-7000-8000-000000000000', seq: 0, status: 'accepted' }),
    JSON.stringify({ kind: 'result', id: '01890000-0000-7000-8000-000000000000', seq: 1, status: 'maybe' }),
    JSON.stringify({ kind: 'resend', fromSeq: -1 }),
    JSON.stringify({ kind: 'resend', fromSeq: 1, extra: true }),
    JSON.stringify({ kind: 'result', __proto__: { status: 'accepted' } }),
    Buffer.alloc(70 * 1024, 0x20),
  ]
  for (const payload of hostileReplies) await responder.publishRaw(reply, payload)
  const validConfig: KioskConfig = { kiosk: KIOSK, booth: 'Bar', version: 1, products: [{ id: 'beer', name: 'Beer', price: 450 }], topupAllowed: false, saleAllowed: true }
  const hostileConfigs = ['{', JSON.stringify({ ...validConfig, version: -1 }), JSON.stringify({ ...validConfig, kiosk: 'bar-2' }), JSON.stringify({ ...validConfig, products: [{ id: 'beer', name: 'Beer', price: 4.5 }] })]
  for (const payload of hostileConfigs) await responder.publishRaw(config, payload)
  await responder.publishRaw(reply, JSON.stringify({ kind: 'resend', fromSeq: 4 }))
  await responder.publishRaw(config, JSON.stringify(validConfig))

  await waitUntil(() => replies.length === 1 && configs.length === 1, 'the valid reply and config')
  t.same(replies, [{ kind: 'resend', fromSeq: 4 }])
  t.same(configs, [validConfig])
  t.equal(link.counters().malformedReplies, hostileReplies.length)
  t.equal(link.counters().malformedConfigs, hostileConfigs.length)
  t.equal(link.isReady(), true, 'still connected')
})

t.test('a lost connection leaves the retained will "lost"; the link comes back online; stop says "offline"', async (t) => {
  const broker = await startTestBroker(credentials)
  t.teardown(() => broker.stop())
  const observer = await startObserver(broker.url, 'gateway', credentials.gateway, topics.kioskState(KIOSK))
  t.teardown(() => observer.stop())
  const outbox = createOutbox({ path: join(t.testdir(), 'o.sqlite'), maxEntries: 10, clock })
  t.teardown(() => outbox.close())
  const link = createMqttLink({ url: broker.url, kioskId: KIOSK, token: credentials[KIOSK], logger, clock, outbox, backoff: fastBackoff })
  link.start()
  await waitUntil(() => link.isReady(), 'link ready')
  const statuses = () => observer.json(topics.kioskState(KIOSK)).map((s) => (s as { status: string }).status)
  await waitUntil(() => statuses().includes('online'), 'online')

  t.ok(broker.dropClient(`kiosk-${KIOSK}`), 'connection cut')
  await waitUntil(() => statuses().includes('lost'), 'the will')
  await waitUntil(() => link.isReady() && statuses().lastIndexOf('online') > statuses().indexOf('lost'), 'online again')
  t.ok(link.counters().reconnectAttempts >= 1)
  t.ok(link.counters().connects >= 2)

  await link.stop()
  await waitUntil(() => statuses().at(-1) === 'offline', 'offline')
  t.equal(link.isReady(), false)
})

t.test('refused credentials: never ready, retries with backoff, no crash', async (t) => {
  const broker = await startTestBroker(credentials)
  t.teardown(() => broker.stop())
  const outbox = createOutbox({ path: join(t.testdir(), 'o.sqlite'), maxEntries: 10, clock })
  t.teardown(() => outbox.close())
  const link = createMqttLink({ url: broker.url, kioskId: KIOSK, token: 'wrong', logger, clock, outbox, backoff: fastBackoff })
  link.start()
  await waitUntil(() => link.counters().reconnectAttempts >= 3, 'three retries')
  t.equal(link.isReady(), false)
  t.equal(link.counters().connects, 0)
  await link.stop()
})

t.test('configs larger than the 64 KiB payload limit (staff, variants, blocklists) are taken up to MAX_CONFIG_PAYLOAD_BYTES', async (t) => {
  const { MAX_CONFIG_PAYLOAD_BYTES } = await import('../device-protocol/index.js')
  const broker = await startTestBroker(credentials)
  t.teardown(() => broker.stop())
  const responder = await startResponder({ url: broker.url, username: 'gateway', password: credentials.gateway, publicKey })
  t.teardown(() => responder.stop())
  const outbox = createOutbox({ path: join(t.testdir(), 'o.sqlite'), maxEntries: 10, clock })
  t.teardown(() => outbox.close())
  const tagVariants = Array.from({ length: 6_000 }, (_, i) => ({ uid: `04${i.toString(16).toUpperCase().padStart(12, '0')}`, variant: 'under-18' }))
  const big: KioskConfig = { kiosk: KIOSK, booth: 'Bar', version: 1, products: [], topupAllowed: false, saleAllowed: true, tagVariants }
  const payload = JSON.stringify(big)
  t.ok(payload.length > 64 * 1024 && payload.length < MAX_CONFIG_PAYLOAD_BYTES)
  await responder.publishRaw(topics.kioskConfig(KIOSK), payload, true)
  const link = createMqttLink({ url: broker.url, kioskId: KIOSK, token: credentials[KIOSK], logger, clock, outbox, backoff: fastBackoff })
  const configs: KioskConfig[] = []
  link.onConfig((c) => configs.push(c))
  link.start()
  t.teardown(() => link.stop())
  await waitUntil(() => configs.length === 1, 'the big config')
  t.equal(configs[0]!.tagVariants!.length, 6_000)
  t.equal(link.counters().malformedConfigs, 0)
})

t.test('every connection has a bdSeq one above the last: its birth, its will and its clean offline carry it, and it survives a restart of the kiosk', async (t) => {
  const broker = await startTestBroker(credentials)
  t.teardown(() => broker.stop())
  const observer = await startObserver(broker.url, 'gateway', credentials.gateway, topics.kioskState(KIOSK))
  t.teardown(() => observer.stop())
  const path = join(t.testdir(), 'o.sqlite')
  const outbox = createOutbox({ path, maxEntries: 10, clock })
  const states = () => observer.json(topics.kioskState(KIOSK)) as Array<{ status: string; bdSeq?: number }>
  const link = createMqttLink({ url: broker.url, kioskId: KIOSK, token: credentials[KIOSK], logger, clock, outbox, backoff: fastBackoff, birthSequence: createBirthSequence(outbox.database) })
  link.start()
  await waitUntil(() => states().some((s) => s.status === 'online'), 'first birth')
  t.match(states().find((s) => s.status === 'online'), { status: 'online', bdSeq: 0 })

  t.ok(broker.dropClient(`kiosk-${KIOSK}`), 'connection cut without DISCONNECT')
  await waitUntil(() => states().some((s) => s.status === 'lost'), 'the will')
  t.match(states().find((s) => s.status === 'lost'), { status: 'lost', bdSeq: 0 }, 'the will carries the bdSeq of its birth')
  await waitUntil(() => states().some((s) => s.status === 'online' && s.bdSeq === 1), 'the second birth')
  await link.stop()
  await waitUntil(() => states().at(-1)?.status === 'offline', 'offline')
  t.match(states().at(-1), { status: 'offline', bdSeq: 1 }, 'a clean stop carries the bdSeq of the connection it ends')
  outbox.close()

  // The kiosk starts again on the same database: the sequence goes on, it never goes back.
  const reopened = createOutbox({ path, maxEntries: 10, clock })
  t.teardown(() => reopened.close())
  const again = createMqttLink({ url: broker.url, kioskId: KIOSK, token: credentials[KIOSK], logger, clock, outbox: reopened, backoff: fastBackoff, birthSequence: createBirthSequence(reopened.database) })
  again.start()
  t.teardown(() => again.stop())
  await waitUntil(() => states().some((s) => s.status === 'online' && s.bdSeq === 2), 'the birth after the restart')
  t.equal(states().filter((s) => s.status === 'online' && s.bdSeq !== undefined && s.bdSeq < 2).length, 2, 'earlier births kept their numbers')
})
