// Restore a gateway backup under a real kiosk daemon (loopback gateway on a
// SQLite file, the kiosk in-process on its own outbox): what the backup holds
// stands, nothing is booked twice, and what the kiosk sold after the backup is
// not resent, because the kiosk's outbox deletes an envelope once answered
// (daemon/outbox.ts keeps only id, seq and answer). The kiosk's next
// transaction waits behind the gap and the gateway raises a `gap` alert: an
// operator has to act (README "Backups and restore"). This test pins down that
// behaviour; resending answered entries needs a kiosk that keeps them.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import pino from 'pino'
import { systemClock, topics, type AlertEvent } from '../../device-protocol/index.js'
import { DB_FILE_NAME, type Gateway } from '../../gateway/app.js'
import { auditLedgerDatabase } from '../../gateway/audit/audit.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { createKioskDaemon, type KioskDaemon } from '../../daemon/app.js'
import { createMemoryReader } from '../../daemon/reader/memory-reader.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import { kioskDaemonConfig, startLoopbackGateway, tapAndAwait } from './kiosk-harness.js'

const silent = pino({ level: 'silent' })
const GUEST = '04A1B2C3D4E5F6'
const TOPUP = 1_000
const token = () => randomBytes(24).toString('base64url')
const OPERATOR = { name: 'ops', token: token() }

t.test('a restored backup under a running kiosk: nothing doubled; what the kiosk already deleted is a gap with an alert', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-restore-'))
  const kioskToken = token()
  const setup: EventSetup = {
    event: { name: 'restore', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
    kiosks: [{ id: 'bar-1', booth: 'bar', token: kioskToken, saleAllowed: true, topupAllowed: true }],
    wristbands: [{ uid: GUEST, pin: 'GUEST2345' }],
  }
  const backupDir = join(dir, 'backups')
  const gatewayConfig = { operators: [OPERATOR], backup: { dir: backupDir } }
  const stops: Array<() => Promise<void>> = []
  t.teardown(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  })
  const kioskDir = join(dir, 'bar-1')
  const startKiosk = async (gateway: Gateway) => {
    const reader = createMemoryReader()
    const daemon: KioskDaemon = await createKioskDaemon({
      config: kioskDaemonConfig({ kioskId: 'bar-1', token: kioskToken, mqttUrl: `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`, dataDir: kioskDir, overrides: { replyTimeoutMs: 1_500, tapTimeoutMs: 10_000 } }),
      logger: silent,
      clock: systemClock,
      reader,
    })
    stops.push(() => daemon.stop())
    return { daemon, reader }
  }

  let gateway = await startLoopbackGateway({ dir, setup, logger: silent, config: gatewayConfig })
  stops.push(() => gateway.stop())
  let kiosk = await startKiosk(gateway)
  gateway.ledger.registry.enrollKiosk('bar-1', kiosk.daemon.publicKeyBase64Url)
  await kiosk.daemon.start()
  await waitUntil(() => kiosk.daemon.status().config !== null && kiosk.daemon.status().chain.status === 'intact', 'kiosk ready', 4_000, 5)
  const topUp = async () => t.match(await tapAndAwait(kiosk.daemon.kiosk.topUp(TOPUP), kiosk.reader, GUEST), { status: 'accepted' })
  await topUp()
  await topUp()
  const backup = await gateway.backups!.run('requested')
  await topUp()
  await topUp()
  t.equal(gateway.ledger.balanceOf(GUEST), 4 * TOPUP)
  await kiosk.daemon.stop()
  await gateway.stop()

  // The restore: the backup copied into place of the stopped gateway's file, then the audit.
  const dbPath = join(dir, 'gateway', DB_FILE_NAME)
  for (const suffix of ['', '-wal', '-shm']) rmSync(dbPath + suffix, { force: true })
  copyFileSync(backup.file, dbPath)
  t.same(auditLedgerDatabase({ path: dbPath }).findings, [], 'the restored file passes the audit')

  gateway = await startLoopbackGateway({ dir, setup, logger: silent, config: gatewayConfig })
  stops.push(() => gateway.stop())
  const operator = await mqtt.connectAsync(`mqtt://127.0.0.1:${gateway.mqttAddress!.port}`, { username: `operator:${OPERATOR.name}`, password: OPERATOR.token, reconnectPeriod: 0 })
  stops.push(() => operator.endAsync(true))
  const alerts: AlertEvent[] = []
  operator.on('message', (_topic, payload) => alerts.push(JSON.parse(payload.toString()) as AlertEvent))
  await operator.subscribeAsync(topics.event('alert'), { qos: 1 })
  t.equal(gateway.ledger.kioskCursor('bar-1')!.nextSeq, 3, 'the restored ledger ends where the backup was taken')

  kiosk = await startKiosk(gateway)
  await kiosk.daemon.start()
  await waitUntil(() => kiosk.daemon.status().chain.status === 'intact', 'the chain checked after the restore', 4_000, 5)
  t.equal(kiosk.daemon.outbox.depth(), 0, 'the kiosk holds nothing to resend: seqs 3 and 4 were answered and deleted')
  t.equal(kiosk.daemon.outbox.head().nextSeq, 5)

  // The next transaction is seq 5: the gateway holds it behind the gap at seq 3 and alerts.
  const held = await tapAndAwait(kiosk.daemon.kiosk.topUp(TOPUP), kiosk.reader, GUEST)
  t.match(held, { status: 'pending', seq: 5 }, 'the cashier sees it pending: no answer comes')
  t.equal(kiosk.daemon.outbox.depth(), 1, 'it stays in the outbox, unanswered')
  await waitUntil(() => alerts.some((a) => a.kind === 'gap' && a.kiosk === 'bar-1'), 'the gateway\'s gap alert', 4_000, 5)
  t.match(alerts.find((a) => a.kind === 'gap'), { message: /kiosk bar-1 sent seq 5 while seq 3 is missing/ })
  t.equal(gateway.ledger.kioskCursor('bar-1')!.nextSeq, 3, 'nothing booked past the gap')
  t.equal(gateway.ledger.balanceOf(GUEST), 2 * TOPUP, 'what the backup holds stands, nothing twice')
  t.same(gateway.ledger.checkInvariants(), [])
})
