// Crash safety: the gateway process is killed with SIGKILL while two kiosk
// daemons keep selling, so that they hold unanswered transactions, and is
// started again on the same ledger file. Afterwards every transaction the
// kiosks made is in the ledger exactly once, every one a kiosk showed as
// accepted is accepted there, and both outboxes are empty.
import t from 'tap'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pino from 'pino'
import { systemClock } from '../../device-protocol/index.js'
import { createKioskDaemon, type KioskDaemon } from '../../daemon/app.js'
import type { Outcome } from '../../daemon/kiosk.js'
import { createMemoryReader, type MemoryReader } from '../../daemon/reader/memory-reader.js'
import { DB_FILE_NAME } from '../../gateway/app.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { createLedger } from '../../gateway/ledger/index.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import { exited, freePort, startGatewayProcess } from '../../gateway/testing/gateway-process.js'
import { kioskDaemonConfig, tapAndAwait } from './kiosk-harness.js'

const silent = pino({ level: 'silent' })
const GUESTS = ['04000000000001', '04000000000002', '04000000000003', '04000000000004']





t.test('SIGKILL of the gateway loses and doubles nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-crash-'))
  const port = await freePort()
  const mqttUrl = `mqtt://127.0.0.1:${port}`
  const kioskIds = ['bar-1', 'bar-2']
  const tokens = kioskIds.map(() => randomBytes(24).toString('base64url'))
  const readers: MemoryReader[] = []
  const daemons: KioskDaemon[] = []
  let gateway: ChildProcess | undefined
  t.teardown(async () => {
    for (const d of daemons) await d.stop()
    if (gateway) {
      gateway.kill('SIGKILL')
      await exited(gateway)
    }
    rmSync(dir, { recursive: true, force: true })
  })

  // Kiosks first: their keys go into the event set-up, as at enrollment.
  for (const [i, kioskId] of kioskIds.entries()) {
    const reader = createMemoryReader()
    const daemon = await createKioskDaemon({
      config: kioskDaemonConfig({
        kioskId,
        token: tokens[i]!,
        mqttUrl,
        dataDir: join(dir, kioskId),
        // Short waits so that the test sees pending sales while the gateway is down.
        overrides: { replyTimeoutMs: 400, tapTimeoutMs: 5_000, reconnectInitialDelayMs: 100, reconnectMaxDelayMs: 400, feedbackDurationMs: 10 },
      }),
      logger: silent,
      clock: systemClock,
      reader,
    })
    readers.push(reader)
    daemons.push(daemon)
  }
  const setup: EventSetup = {
    event: { name: 'crash', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
    kiosks: kioskIds.map((id, i) => ({ id, booth: 'bar', token: tokens[i]!, publicKey: daemons[i]!.publicKeyBase64Url, saleAllowed: true, topupAllowed: true })),
    wristbands: GUESTS.map((uid, i) => ({ uid, pin: `CRASHKEY${'ABCDEFGH'[i]}` })),
    // While the gateway is dead the kiosks go on selling offline (and taking top-ups, which stay pending).
    offline: { allowed: true, perTagCapCents: 1_000_000, kioskTotalCapCents: 10_000_000 },
  }
  const eventFile = join(dir, 'event.json')
  writeFileSync(eventFile, JSON.stringify(setup))
  const gatewayArgs = ['--event', eventFile, '--data-dir', join(dir, 'gateway'), '--mqtt-port', String(port), '--http-port', '0']

  gateway = await startGatewayProcess(gatewayArgs)
  for (const d of daemons) await d.start()
  await waitUntil(() => daemons.every((d) => d.status().connected && d.status().config !== null), 'kiosks connected with config', 400, 50)

  const outcomes: Outcome[] = []
  let phase: 'up' | 'down' | 'restarted' | 'done' = 'up'
  let opsWhileDown = 0
  const cashier = async (i: number): Promise<void> => {
    const daemon = daemons[i]!
    // Everyone gets money first; afterwards sales and top-ups alternate.
    for (let n = 0; phase !== 'done' && n < 400; n++) {
      const uid = GUESTS[(n + i) % GUESTS.length]!
      const operation = n < 2 || n % 3 === 0 ? daemon.kiosk.topUp(2_000) : daemon.kiosk.sale([{ product: 'beer', qty: 1 }])
      const outcome = await tapAndAwait(operation, readers[i]!, uid, 1)
      outcomes.push(outcome)
      if (phase === 'down') opsWhileDown += 1
    }
  }
  const loops = daemons.map((_, i) => cashier(i))

  await waitUntil(() => outcomes.filter((o) => o.status === 'accepted').length >= 20, 'some sales booked', 600, 50)
  gateway.kill('SIGKILL')
  await exited(gateway)
  phase = 'down'
  await waitUntil(() => opsWhileDown >= 6 && daemons.every((d) => d.outbox.depth() > 0), 'kiosks hold unanswered transactions', 600, 50)
  t.ok(daemons.every((d) => d.outbox.depth() > 0), 'both kiosks have unanswered transactions while the gateway is dead')

  gateway = await startGatewayProcess(gatewayArgs)
  phase = 'restarted'
  await waitUntil(() => outcomes.filter((o) => o.status === 'accepted').length >= 40, 'more sales after the restart', 600, 50)
  phase = 'done'
  await Promise.all(loops)
  await waitUntil(() => daemons.every((d) => d.outbox.depth() === 0), 'outboxes empty', 600, 50)
  t.same(daemons.map((d) => d.outbox.depth()), [0, 0], 'every kiosk ends with an empty outbox')

  // What each kiosk finally knows of each transaction: its answer, or the late answer to a pending one.
  const settledLater = (o: Outcome) => o.status === 'pending' || o.status === 'offline'
  const finalStatus = new Map(outcomes.map((o) => [o.id, settledLater(o) ? daemons.map((d) => d.outbox.answered(o.id)?.status).find(Boolean) : o.status]))
  for (const d of daemons) await d.stop()
  daemons.length = 0
  gateway.kill('SIGTERM')
  await exited(gateway)
  gateway = undefined

  const db = new Database(join(dir, 'gateway', DB_FILE_NAME))
  try {
    const ledger = createLedger({ db, clock: systemClock, logger: silent })
    const rows = db.prepare('SELECT id, status FROM transactions').all() as Array<{ id: string; status: string }>
    const booked = new Map(rows.map((r) => [r.id, r.status]))
    t.ok(outcomes.some((o) => o.status === 'pending'), 'some sales were pending when the gateway died')
    t.equal(rows.length, outcomes.length, 'the ledger holds exactly the transactions the kiosks made')
    t.equal(booked.size, rows.length, 'no id twice')
    const missing = outcomes.filter((o) => !booked.has(o.id))
    t.same(missing, [], 'no transaction lost')
    // Accepted offline is accepted for the guest, who has the goods: the ledger must book it too.
    const shownAccepted = outcomes.filter((o) => o.status === 'accepted' || o.status === 'offline')
    t.same(shownAccepted.filter((o) => booked.get(o.id) !== 'accepted'), [], 'every sale a kiosk showed as accepted (online or offline) is accepted in the ledger')
    const disagreeing = outcomes.filter((o) => finalStatus.get(o.id) !== booked.get(o.id))
    t.same(disagreeing, [], 'late answers on the kiosks agree with the ledger')
    t.same(ledger.checkInvariants(), [], 'ledger invariants hold')
    t.equal(ledger.sumOfAllBalances(), 0)
  } finally {
    db.close()
  }
})
