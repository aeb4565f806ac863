// Restore a gateway backup under a real kiosk daemon (loopback gateway on a
// SQLite file, the kiosk in-process on its own outbox), README "Backups and
// restore": sales before the backup, the backup, more sales answered after it,
// the gateway stopped, the backup copied into place, the audit, the gateway
// started on it. The kiosk keeps its answered envelopes for a while
// (keepAnswered*), so at its chain check it sends the restored gateway, as they
// were signed, what the backup missed: every sale is booked exactly once, the
// balances are what the kiosk sold, and the next sale is accepted. A kiosk that
// no longer keeps them says which seqs are missing, and its next transaction
// waits behind the gap with the gateway's `gap` alert: an operator must act.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import mqtt from 'mqtt'
import pino from 'pino'
import { envelopeHash, systemClock, topics, type AlertEvent } from '../../device-protocol/index.js'
import { DB_FILE_NAME, type Gateway } from '../../gateway/app.js'
import { auditLedgerDatabase } from '../../gateway/audit/audit.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { createKioskDaemon, type KioskDaemon } from '../../daemon/app.js'
import type { KioskDaemonConfig } from '../../daemon/config.js'
import { createMemoryReader } from '../../daemon/reader/memory-reader.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import { kioskDaemonConfig, startLoopbackGateway, tapAndAwait } from './kiosk-harness.js'

const silent = pino({ level: 'silent' })
const GUEST = '04A1B2C3D4E5F6'
const TOPUP = 1_000
const BEER = 450
const token = () => randomBytes(24).toString('base64url')
const OPERATOR = { name: 'ops', token: token() }

interface Sold {
  id: string
  seq: number
  status: string
  balance?: number | undefined
}

/** A festival with one kiosk, a gateway that backs up into `dir`/backups, and the steps of a restore. */
function restoreWorld(t: Test, kioskOverrides: Partial<KioskDaemonConfig> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-restore-'))
  const kioskToken = token()
  const setup: EventSetup = {
    event: { name: 'restore', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: 'beer', name: 'Beer', price: BEER, booth: 'bar' }],
    kiosks: [{ id: 'bar-1', booth: 'bar', token: kioskToken, saleAllowed: true, topupAllowed: true }],
    wristbands: [{ uid: GUEST, pin: 'GUEST2345' }],
  }
  const gatewayConfig = { operators: [OPERATOR], backup: { dir: join(dir, 'backups') } }
  const dbPath = join(dir, 'gateway', DB_FILE_NAME)
  const stops: Array<() => Promise<void>> = []
  t.teardown(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  })
  const kioskDir = join(dir, 'bar-1')

  async function startGateway(): Promise<Gateway> {
    const gateway = await startLoopbackGateway({ dir, setup, logger: silent, config: gatewayConfig })
    stops.push(() => gateway.stop())
    return gateway
  }

  async function startKiosk(gateway: Gateway) {
    const reader = createMemoryReader()
    const daemon: KioskDaemon = await createKioskDaemon({
      config: kioskDaemonConfig({
        kioskId: 'bar-1',
        token: kioskToken,
        mqttUrl: `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`,
        dataDir: kioskDir,
        overrides: { replyTimeoutMs: 1_500, tapTimeoutMs: 10_000, ...kioskOverrides },
      }),
      logger: silent,
      clock: systemClock,
      reader,
    })
    stops.push(() => daemon.stop())
    const topUp = async (): Promise<Sold> => tapAndAwait(daemon.kiosk.topUp(TOPUP), reader, GUEST)
    const sale = async (): Promise<Sold> => tapAndAwait(daemon.kiosk.sale([{ product: 'beer', qty: 1 }]), reader, GUEST)
    return { daemon, reader, topUp, sale }
  }

  /** The restore of README "Backups and restore": the stopped gateway's files moved aside, the backup copied into place. */
  function restore(backupFile: string): void {
    for (const suffix of ['', '-wal', '-shm']) rmSync(dbPath + suffix, { force: true })
    copyFileSync(backupFile, dbPath)
  }

  async function watchAlerts(gateway: Gateway): Promise<AlertEvent[]> {
    const operator = await mqtt.connectAsync(`mqtt://127.0.0.1:${gateway.mqttAddress!.port}`, { username: `operator:${OPERATOR.name}`, password: OPERATOR.token, reconnectPeriod: 0 })
    stops.push(() => operator.endAsync(true))
    const alerts: AlertEvent[] = []
    operator.on('message', (_topic, payload) => alerts.push(JSON.parse(payload.toString()) as AlertEvent))
    await operator.subscribeAsync(topics.event('alert'), { qos: 1 })
    return alerts
  }

  return { dbPath, startGateway, startKiosk, restore, watchAlerts }
}

t.test('restore, audit, resume: the kiosk resends what the backup missed, as signed, and nothing is booked twice', async (t) => {
  const world = restoreWorld(t)
  let gateway = await world.startGateway()
  let kiosk = await world.startKiosk(gateway)
  gateway.ledger.registry.enrollKiosk('bar-1', kiosk.daemon.publicKeyBase64Url)
  await kiosk.daemon.start()
  await waitUntil(() => kiosk.daemon.status().config !== null && kiosk.daemon.status().chain.status === 'intact', 'kiosk ready', 4_000, 5)

  const sold: Sold[] = []
  sold.push(await kiosk.topUp(), await kiosk.topUp(), await kiosk.sale())
  const backup = await gateway.backups!.run('requested')
  sold.push(await kiosk.topUp(), await kiosk.sale(), await kiosk.sale())
  t.same(sold.map((s) => [s.seq, s.status]), [[1, 'accepted'], [2, 'accepted'], [3, 'accepted'], [4, 'accepted'], [5, 'accepted'], [6, 'accepted']])
  const expectedBalance = 3 * TOPUP - 3 * BEER
  t.equal(gateway.ledger.balanceOf(GUEST), expectedBalance)
  t.equal(kiosk.daemon.outbox.depth(), 0, 'everything answered: nothing pending to resend')
  const kept = kiosk.daemon.outbox.keptAnswered({ fromSeq: 4 })
  t.same(kept.map((e) => e.seq), [4, 5, 6], 'the answered envelopes are kept')
  await kiosk.daemon.stop()
  await gateway.stop()

  world.restore(backup.file)
  t.same(auditLedgerDatabase({ path: world.dbPath }).findings, [], 'the restored file passes the audit')

  gateway = await world.startGateway()
  const alerts = await world.watchAlerts(gateway)
  t.equal(gateway.ledger.kioskCursor('bar-1')!.nextSeq, 4, 'the restored ledger ends where the backup was taken')
  t.equal(gateway.ledger.balanceOf(GUEST), 2 * TOPUP - BEER)

  kiosk = await world.startKiosk(gateway)
  await kiosk.daemon.start()
  // The chain check finds the gateway behind seqs the kiosk answered and sends it 4, 5 and 6 again.
  await waitUntil(() => gateway.ledger.kioskCursor('bar-1')!.nextSeq === 7, 'what the backup missed booked again', 6_000, 5)
  t.equal(kiosk.daemon.status().chain.status, 'intact')
  t.equal(kiosk.daemon.status().chain.problem, undefined)
  for (const entry of kept) {
    const booked = gateway.ledger.transaction(entry.id)
    const first = sold.find((s) => s.id === entry.id)!
    t.match(booked, { seq: entry.seq, status: first.status, balanceAfter: first.balance, hash: envelopeHash(entry.envelope) }, `seq ${entry.seq} booked as it was signed, with the answer the cashier saw`)
  }
  t.equal(gateway.ledger.balanceOf(GUEST), expectedBalance, 'the balance is what the kiosk sold')

  const next = await kiosk.sale()
  t.match(next, { status: 'accepted', seq: 7, balance: expectedBalance - BEER }, 'a new sale after the resume is accepted')
  sold.push(next)
  t.equal(gateway.ledger.balanceOf(GUEST), expectedBalance - BEER)
  t.same(gateway.ledger.checkInvariants(), [], 'the ledger balances')
  t.equal(gateway.ledger.sumOfAllBalances(), 0)
  t.match(kiosk.daemon.status().counters, { conflictingReplies: 0, unknownReplies: 0 }, 'the restored gateway gave every resent sale its first answer')
  t.notOk(alerts.some((a) => a.kind === 'gap'), 'no gap: the kiosk sent what was missing before anything new')
  await kiosk.daemon.stop()
  await gateway.stop()

  t.same(auditLedgerDatabase({ path: world.dbPath }).findings, [], 'the books after the resume pass the audit')
  const db = new Database(world.dbPath, { readonly: true })
  t.teardown(() => db.close())
  const rows = db.prepare<[string], { id: string; seq: number }>('SELECT id, seq FROM transactions WHERE kiosk = ? ORDER BY seq').all('bar-1')
  t.same(
    rows.map((r) => [r.seq, r.id]),
    sold.map((s) => [s.seq, s.id]),
    'every sale and top-up of the kiosk booked exactly once',
  )
})

t.test('a kiosk that no longer keeps what the backup missed names the missing seqs; its next transaction waits behind the gap with an alert', async (t) => {
  // keepAnswered*: 0 keeps no answered envelope (as kiosks did before they kept them).
  const world = restoreWorld(t, { keepAnsweredCount: 0, keepAnsweredHours: 0, keepAnsweredMaxBytes: 0 })
  let gateway = await world.startGateway()
  let kiosk = await world.startKiosk(gateway)
  gateway.ledger.registry.enrollKiosk('bar-1', kiosk.daemon.publicKeyBase64Url)
  await kiosk.daemon.start()
  await waitUntil(() => kiosk.daemon.status().config !== null && kiosk.daemon.status().chain.status === 'intact', 'kiosk ready', 4_000, 5)
  t.match(await kiosk.topUp(), { status: 'accepted' })
  t.match(await kiosk.topUp(), { status: 'accepted' })
  const backup = await gateway.backups!.run('requested')
  t.match(await kiosk.topUp(), { status: 'accepted' })
  t.match(await kiosk.topUp(), { status: 'accepted' })
  t.same(kiosk.daemon.outbox.keptTotals(), { count: 0, bytes: 0, firstSeq: undefined })
  await kiosk.daemon.stop()
  await gateway.stop()

  world.restore(backup.file)
  t.same(auditLedgerDatabase({ path: world.dbPath }).findings, [], 'the restored file passes the audit')
  gateway = await world.startGateway()
  const alerts = await world.watchAlerts(gateway)
  kiosk = await world.startKiosk(gateway)
  await kiosk.daemon.start()
  await waitUntil(() => kiosk.daemon.status().chain.problem !== undefined, 'the kiosk finds what it cannot send', 4_000, 5)
  t.match(kiosk.daemon.status().chain, {
    status: 'intact',
    problem: { reason: 'gateway_behind_unrecoverable', why: 'pruned', gatewayNextSeq: 3, missingFromSeq: 3, missingToSeq: 4, todo: /seqs 3\.\.4 of kiosk bar-1/ },
  })

  const held = await kiosk.topUp()
  t.match(held, { status: 'pending', seq: 5 }, 'the cashier sees it pending: no answer comes')
  t.equal(kiosk.daemon.outbox.depth(), 1, 'it stays in the outbox, unanswered')
  await waitUntil(() => alerts.some((a) => a.kind === 'gap' && a.kiosk === 'bar-1'), 'the gateway\'s gap alert', 4_000, 5)
  t.match(alerts.find((a) => a.kind === 'gap'), { message: /kiosk bar-1 sent seq 5 while seq 3 is missing/ })
  t.equal(gateway.ledger.kioskCursor('bar-1')!.nextSeq, 3, 'nothing booked past the gap')
  t.equal(gateway.ledger.balanceOf(GUEST), 2 * TOPUP, 'what the backup holds stands, nothing twice')
  t.same(gateway.ledger.checkInvariants(), [])
})
