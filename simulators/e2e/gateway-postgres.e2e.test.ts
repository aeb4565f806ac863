// The whole gateway on PostgreSQL (config `store`): a real kiosk daemon sells
// through the gateway's broker, the guest reads the sale on the portal, and a
// gateway started again on the same database finds everything and books on
// along the kiosk's chain; no SQLite file is made. The password reaches libpq
// through a 0600 passfile, never the URL.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { systemClock } from '../../device-protocol/index.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { createKioskDaemon, type KioskDaemon } from '../../daemon/app.js'
import { createMemoryReader } from '../../daemon/reader/memory-reader.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import { createGateway, DB_FILE_NAME, type Gateway } from '../../gateway/app.js'
import { DEFAULT_CONFIG, type GatewayConfig } from '../../gateway/config.js'
import { passfileUrl, postgresInstalled, startPostgresServer } from '../../gateway/testing/postgres-server.js'
import { kioskDaemonConfig, tapAndAwait } from './kiosk-harness.js'

const silent = pino({ level: 'silent' })
const GUEST = '04A1B2C3D4E5F6'
const PIN = 'GUEST2345'
const KIOSK = 'bar-1'

t.test('a gateway on PostgreSQL books a kiosk\'s sales, shows them on the portal and finds them again after a restart', { skip: postgresInstalled() ? false : 'PostgreSQL 15 server binaries not installed (CI installs them)' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-gateway-pg-'))
  const server = await startPostgresServer()
  t.teardown(async () => {
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const store = passfileUrl(server.createDatabase('wristpay'), dir)
  t.notMatch(store, /:[^:@/]+@/, 'the store URL carries no password')

  const kioskToken = randomBytes(24).toString('base64url')
  const setup: EventSetup = {
    event: { name: 'pg fest', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
    kiosks: [{ id: KIOSK, booth: 'bar', token: kioskToken, saleAllowed: true, topupAllowed: true }],
    wristbands: [{ uid: GUEST, pin: PIN }],
  }
  writeFileSync(join(dir, 'event.json'), JSON.stringify(setup), { mode: 0o600 })
  const dataDir = join(dir, 'gateway')
  const config: GatewayConfig = { ...DEFAULT_CONFIG, store, mqtt: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, dataDir, eventFile: join(dir, 'event.json'), logLevel: 'silent' }

  const open: { gateway?: Gateway; daemon?: KioskDaemon } = {}
  t.teardown(async () => {
    await open.daemon?.stop()
    await open.gateway?.stop()
  })
  async function startGatewayAndKiosk(): Promise<{ gateway: Gateway; daemon: KioskDaemon; reader: ReturnType<typeof createMemoryReader> }> {
    const gateway = await createGateway({ config, logger: silent, clock: systemClock })
    open.gateway = gateway
    await gateway.start()
    const reader = createMemoryReader()
    const daemon = await createKioskDaemon({
      config: kioskDaemonConfig({ kioskId: KIOSK, token: kioskToken, mqttUrl: `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`, dataDir: join(dir, KIOSK), overrides: { replyTimeoutMs: 2_000, tapTimeoutMs: 10_000 } }),
      logger: silent,
      clock: systemClock,
      reader,
    })
    open.daemon = daemon
    gateway.ledger.registry.enrollKiosk(KIOSK, daemon.publicKeyBase64Url)
    await daemon.start()
    await waitUntil(() => daemon.status().config !== null && daemon.status().chain.status !== 'unchecked', 'kiosk configured, chain checked', 15_000, 10)
    return { gateway, daemon, reader }
  }

  const first = await startGatewayAndKiosk()
  t.equal(first.daemon.status().chain.status, 'intact')
  t.match(await tapAndAwait(first.daemon.kiosk.topUp(5_000), first.reader, GUEST), { status: 'accepted' })
  const sale = await tapAndAwait(first.daemon.kiosk.sale([{ product: 'beer', qty: 2 }]), first.reader, GUEST)
  t.match(sale, { status: 'accepted' })
  t.equal(first.gateway.ledger.balanceOf(GUEST), 5_000 - 900)
  t.same(first.gateway.ledger.checkInvariants(), [])
  t.notOk(existsSync(join(dataDir, DB_FILE_NAME)), 'no SQLite file: the ledger is in PostgreSQL')

  // The guest on the portal, over real HTTP.
  const base = `http://127.0.0.1:${first.gateway.httpAddress!.port}`
  const health = await fetch(`${base}/healthz`)
  t.equal(health.status, 200)
  t.match(await health.json(), { db: 'up' })
  const login = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pin: PIN }) })
  t.equal(login.status, 200)
  const { access_token: token } = (await login.json()) as { access_token: string }
  const customer = await fetch(`${base}/api/customer`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(customer.status, 200)
  t.match(await customer.json(), { user_tag_uid_hex: GUEST, balance: 41 })
  const orders = await fetch(`${base}/api/orders_with_bon`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(orders.status, 200)
  const receiptId = first.gateway.ledger.transaction(sale.id)?.receiptId
  t.type(receiptId, 'string')
  t.ok(((await orders.json()) as Array<{ uuid: string }>).some((o) => o.uuid === receiptId), 'the sale is among the guest\'s orders')

  // Stopped and started again on the same database: the books, the kiosk's chain and its enrolment are all there.
  await first.daemon.stop()
  await first.gateway.stop()
  const second = await startGatewayAndKiosk()
  t.equal(second.daemon.status().chain.status, 'intact', 'the kiosk\'s chain continues where the database left it')
  t.equal(second.gateway.ledger.balanceOf(GUEST), 4_100)
  t.match(second.gateway.ledger.transaction(sale.id), { status: 'accepted' })
  t.match(await tapAndAwait(second.daemon.kiosk.sale([{ product: 'beer', qty: 1 }]), second.reader, GUEST), { status: 'accepted' })
  t.equal(second.gateway.ledger.balanceOf(GUEST), 3_650)
  t.same(second.gateway.ledger.checkInvariants(), [])
  t.equal(second.gateway.ledger.sumOfAllBalances(), 0)
})
