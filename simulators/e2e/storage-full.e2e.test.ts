// The gateway's disk fills during sales (SQLite max_page_count on the real
// ledger file, under the real gateway and a real kiosk daemon): no sale is
// answered that is not booked, one storage_failed alert, /healthz says so;
// once there is space again the gateway asks the kiosk to send again, each
// sale is booked exactly once and the till sells on, with no restart.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type Database from 'better-sqlite3'
import mqtt from 'mqtt'
import pino from 'pino'
import { systemClock, topics, type AlertEvent } from '../../device-protocol/index.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { createKioskDaemon } from '../../daemon/app.js'
import { createMemoryReader } from '../../daemon/reader/memory-reader.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import type { Outcome } from '../../daemon/kiosk.js'
import { createGateway } from '../../gateway/app.js'
import { DEFAULT_CONFIG } from '../../gateway/config.js'
import { kioskDaemonConfig, tapAndAwait } from './kiosk-harness.js'

const silent = pino({ level: 'silent' })
const GUEST = '04A1B2C3D4E5F6'
const KIOSK = 'bar-1'
const OPERATOR = { name: 'ops', token: randomBytes(24).toString('base64url') }

t.test('a full ledger disk under a real gateway and kiosk: nothing answered unbooked, one alert, booked exactly once after space is back', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-storage-full-'))
  const kioskToken = randomBytes(24).toString('base64url')
  const setup: EventSetup = {
    event: { name: 'full disk', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
    kiosks: [{ id: KIOSK, booth: 'bar', token: kioskToken, saleAllowed: true, topupAllowed: true }],
    wristbands: [{ uid: GUEST, pin: 'GUEST2345' }],
  }
  // The gateway as startLoopbackGateway starts it, and its ledger connection (where max_page_count applies) through httpPlugins.
  writeFileSync(join(dir, 'event.json'), JSON.stringify(setup), { mode: 0o600 })
  let ledgerDb: Database.Database | undefined
  const gateway = await createGateway({
    config: { ...DEFAULT_CONFIG, mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, dataDir: join(dir, 'gateway'), eventFile: join(dir, 'event.json'), logLevel: 'silent', operators: [OPERATOR] },
    logger: silent,
    clock: systemClock,
    httpPlugins: (parts) => {
      // The gateway runs on its SQLite file here (no store): parts.db is the better-sqlite3 connection.
      ledgerDb = parts.db as Database.Database
      return []
    },
  })
  await gateway.start()
  const db = ledgerDb!
  const mqttUrl = `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`
  const operator = await mqtt.connectAsync(mqttUrl, { username: `operator:${OPERATOR.name}`, password: OPERATOR.token, reconnectPeriod: 0 })
  const alerts: AlertEvent[] = []
  operator.on('message', (_topic, payload) => void (payload.length > 0 && alerts.push(JSON.parse(payload.toString()) as AlertEvent)))
  await operator.subscribeAsync(topics.event('alert'), { qos: 1 })
  const reader = createMemoryReader()
  const daemon = await createKioskDaemon({
    config: kioskDaemonConfig({ kioskId: KIOSK, token: kioskToken, mqttUrl, dataDir: join(dir, KIOSK), overrides: { replyTimeoutMs: 1_000, tapTimeoutMs: 10_000 } }),
    logger: silent,
    clock: systemClock,
    reader,
  })
  t.teardown(async () => {
    await operator.endAsync(true)
    await daemon.stop()
    await gateway.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  gateway.ledger.registry.enrollKiosk(KIOSK, daemon.publicKeyBase64Url)
  await daemon.start()
  await waitUntil(() => daemon.status().config !== null && daemon.status().chain.status !== 'unchecked', 'kiosk configured, chain checked', 10_000, 5)
  t.equal(daemon.status().chain.status, 'intact')
  const health = async () => {
    const res = await fetch(`http://127.0.0.1:${gateway.httpAddress!.port}/healthz`)
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }
  const storageAlerts = () => alerts.filter((a) => a.kind.startsWith('storage_')).map((a) => a.kind)

  t.match(await tapAndAwait(daemon.kiosk.topUp(5_000), reader, GUEST), { status: 'accepted' })

  // The gateway's disk is full from now on: the ledger file may not grow by one page.
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`)
  const sales: Outcome[] = []
  for (let i = 0; i < 100 && sales.at(-1)?.status !== 'pending'; i++) sales.push(await tapAndAwait(daemon.kiosk.sale([{ product: 'beer', qty: 1 }]), reader, GUEST))
  const unanswered = sales.at(-1)!
  t.equal(unanswered.status, 'pending', 'a sale the gateway could not book is not answered')
  t.ok(sales.slice(0, -1).every((s) => s.status === 'accepted'))
  t.equal(gateway.ledger.transaction(unanswered.id), undefined, 'and not booked')
  await waitUntil(() => storageAlerts().length > 0, 'the alert', 5_000, 5)
  t.match(alerts.find((a) => a.kind === 'storage_failed'), { message: /SQLITE_FULL/ })
  const down = await health()
  t.equal(down.status, 503)
  t.match(down.body, { status: 'degraded', storage: { status: 'failing', code: 'SQLITE_FULL' } })

  // Another sale while the disk is still full: not answered either, and no second alert.
  const another = await tapAndAwait(daemon.kiosk.sale([{ product: 'beer', qty: 1 }]), reader, GUEST)
  t.equal(another.status, 'pending')
  sales.push(another)
  t.same(storageAlerts(), ['storage_failed'])

  // Space is back: no restart. The gateway asks the kiosk to send again; each sale is booked once.
  db.pragma('max_page_count = 1073741823')
  await waitUntil(() => daemon.outbox.depth() === 0, 'the kiosk outbox answered', 30_000, 20)
  for (const sale of sales) {
    t.match(gateway.ledger.transaction(sale.id), { status: 'accepted' })
    t.match(daemon.outbox.answered(sale.id), { status: 'accepted' })
  }
  t.equal(gateway.ledger.balanceOf(GUEST), 5_000 - 450 * sales.length, 'each sale booked exactly once')
  t.same(gateway.ledger.checkInvariants(), [])
  await waitUntil(() => storageAlerts().length === 2, 'the recovery alert', 5_000, 5)
  t.same(storageAlerts(), ['storage_failed', 'storage_recovered'])
  const up = await health()
  t.equal(up.status, 200)
  t.notOk('storage' in up.body)
  t.match(await tapAndAwait(daemon.kiosk.sale([{ product: 'beer', qty: 1 }]), reader, GUEST), { status: 'accepted' })
})
