// A damaged kiosk outbox against the real gateway (aedes on loopback, SQLite
// ledger, ingest) and real kiosk daemons on real SQLite files: emptied to 0
// bytes, its WAL deleted after a crash, its WAL damaged after a crash, rows
// deleted. Each time the kiosk notices that its chain is behind what the
// gateway booked, refuses to sell with a clear reason, raises an alert, and
// after an operator's confirmation sells again on the gateway's chain: the
// next sale is accepted and booked once, and what the damaged outbox still
// held is booked once too.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, openSync, rmSync, statSync, truncateSync, writeSync, closeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import mqtt from 'mqtt'
import pino from 'pino'
import { systemClock, topics, type AlertEvent } from '../../device-protocol/index.js'
import type { Gateway } from '../../gateway/app.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { OUTBOX_FILE_NAME, createKioskDaemon, type KioskDaemon } from '../../daemon/app.js'
import { createMemoryReader, type MemoryReader } from '../../daemon/reader/memory-reader.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import { kioskDaemonConfig, startLoopbackGateway, tapAndAwait } from './kiosk-harness.js'

const silent = pino({ level: 'silent' })
const GUEST = '04A1B2C3D4E5F6'
const KIOSKS = ['empty-1', 'crash-1', 'rows-1'] as const
type KioskName = (typeof KIOSKS)[number]
const token = () => randomBytes(24).toString('base64url')
/** Cents of each top-up (the crash child's too). */
const TOPUP = 1_000
const OPERATOR = { name: 'ops', token: token() }

t.test('a damaged outbox waits for an operator, then goes on from the gateway head: nothing lost that the gateway had, nothing booked twice', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-outbox-damage-'))
  const tokens = Object.fromEntries(KIOSKS.map((k) => [k, token()])) as Record<KioskName, string>
  const setup: EventSetup = {
    event: { name: 'outbox damage', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
    kiosks: KIOSKS.map((id) => ({ id, booth: 'bar', token: tokens[id], saleAllowed: true, topupAllowed: true })),
    wristbands: [{ uid: GUEST, pin: 'GUEST2345' }],
  }
  const gateway: Gateway = await startLoopbackGateway({ dir, setup, logger: silent, config: { operators: [OPERATOR] } })
  const mqttUrl = `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`
  const running = new Set<KioskDaemon>()
  // The operators' view: the gateway's alerts and the kiosks' state messages.
  const operator = await mqtt.connectAsync(mqttUrl, { username: `operator:${OPERATOR.name}`, password: OPERATOR.token, reconnectPeriod: 0 })
  const alerts: AlertEvent[] = []
  const states: Array<{ kiosk: string; chain?: { status: string; reason?: string } }> = []
  operator.on('message', (topic, payload) => {
    if (payload.length === 0) return
    if (topic === topics.event('alert')) alerts.push(JSON.parse(payload.toString()) as AlertEvent)
    else states.push(JSON.parse(payload.toString()) as (typeof states)[number])
  })
  await operator.subscribeAsync([topics.event('alert'), topics.kioskState('+')], { qos: 1 })
  t.teardown(async () => {
    await operator.endAsync(true)
    for (const d of running) await d.stop()
    await gateway.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  const dataDirs: Record<string, string> = Object.fromEntries(KIOSKS.map((k) => [k, join(dir, k)]))
  const dataDir = (kiosk: KioskName) => dataDirs[kiosk]!
  const outboxPath = (kiosk: KioskName) => join(dataDir(kiosk), OUTBOX_FILE_NAME)
  let balance = 0

  async function startKiosk(kiosk: KioskName, overrides: { replyTimeoutMs?: number; mqttUrl?: string } = {}): Promise<{ daemon: KioskDaemon; reader: MemoryReader }> {
    const reader = createMemoryReader()
    const daemon = await createKioskDaemon({
      config: kioskDaemonConfig({ kioskId: kiosk, token: tokens[kiosk], mqttUrl: overrides.mqttUrl ?? mqttUrl, dataDir: dataDir(kiosk), overrides: { replyTimeoutMs: overrides.replyTimeoutMs ?? 10_000, tapTimeoutMs: 10_000 } }),
      logger: silent,
      clock: systemClock,
      reader,
    })
    running.add(daemon)
    await daemon.start()
    if (overrides.mqttUrl !== undefined) return { daemon, reader }
    await waitUntil(() => daemon.status().config !== null && daemon.status().chain.status !== 'unchecked', `${kiosk} configured and its chain checked`, 4_000, 5)
    return { daemon, reader }
  }

  async function stopKiosk(daemon: KioskDaemon): Promise<void> {
    await daemon.stop()
    running.delete(daemon)
  }

  /** Enrolls the kiosk's key (made on the first creation) without starting it. */
  async function enroll(kiosk: KioskName): Promise<void> {
    const daemon = await createKioskDaemon({ config: kioskDaemonConfig({ kioskId: kiosk, token: tokens[kiosk], mqttUrl, dataDir: dataDir(kiosk) }), logger: silent, clock: systemClock, reader: createMemoryReader() })
    gateway.ledger.registry.enrollKiosk(kiosk, daemon.publicKeyBase64Url)
    await daemon.stop()
  }

  async function topUps(daemon: KioskDaemon, reader: MemoryReader, n: number): Promise<string[]> {
    const ids: string[] = []
    for (let i = 0; i < n; i++) {
      const outcome = await tapAndAwait(daemon.kiosk.topUp(TOPUP), reader, GUEST)
      t.equal(outcome.status, 'accepted')
      balance += TOPUP
      ids.push(outcome.id)
    }
    return ids
  }

  /**
   * The kiosk found the damage: sales refused with the reason (kiosk API and
   * local HTTP API), GET /state and the state message say so, the gateway
   * alerted. Then the operator confirms and the next sale is booked once, at
   * the gateway's next seq.
   */
  async function refuseConfirmSell(t: Test, kiosk: KioskName, daemon: KioskDaemon, reader: MemoryReader, reason: string): Promise<void> {
    await waitUntil(() => daemon.status().chain.status === 'recovery_required', `${kiosk} found the damage`, 2_000, 5)
    t.match(daemon.status().chain, { status: 'recovery_required', damage: { reason } })
    await t.rejects(daemon.kiosk.sale([{ product: 'beer', qty: 1 }]), { name: 'KioskError', type: 'chain_recovery_required', message: /behind what the gateway booked.*operator must confirm/ })
    t.equal(reader.listenerCount('tag'), 0, 'refused before the tap')
    const api = `http://127.0.0.1:${daemon.apiAddress()!.port}`
    const refused = await fetch(`${api}/sale`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ lines: [{ product: 'beer', qty: 1 }] }) })
    t.equal(refused.status, 409)
    t.match(await refused.json(), { type: 'chain_recovery_required' })
    t.match(await (await fetch(`${api}/state`)).json(), { chain: { status: 'recovery_required', damage: { reason } } })
    await waitUntil(() => alerts.some((a) => a.kind === 'kiosk_chain_behind' && a.kiosk === kiosk) || reason === 'entries_missing', `gateway alert for ${kiosk}`, 2_000, 5)
    daemon.link.publishState()
    await waitUntil(() => states.some((s) => s.kiosk === kiosk && s.chain?.status === 'recovery_required' && s.chain.reason === reason), `state message of ${kiosk}`, 2_000, 5)

    const gatewayNextSeq = gateway.ledger.kioskCursor(kiosk)!.nextSeq
    const confirmed = await fetch(`${api}/recovery/confirm`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    t.equal(confirmed.status, 200)
    t.match(await confirmed.json(), { damage: { reason }, gatewayNextSeq })
    t.equal(daemon.status().chain.status, 'intact')
    const again = await fetch(`${api}/recovery/confirm`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    t.match({ status: again.status, body: await again.json() }, { status: 409, body: { type: 'no_chain_recovery' } }, 'a second confirmation has nothing to do')
    await waitUntil(() => daemon.outbox.depth() === 0, `${kiosk}'s outbox answered`, 2_000, 5)

    const before = { next: gateway.ledger.kioskCursor(kiosk)!.nextSeq, rejected: gateway.ledger.stats().rejected }
    const sale = await tapAndAwait(daemon.kiosk.sale([{ product: 'beer', qty: 1 }]), reader, GUEST)
    balance -= 450
    t.match(sale, { status: 'accepted', seq: before.next, balance })
    t.match(gateway.ledger.transaction(sale.id), { status: 'accepted', seq: before.next })
    t.equal(gateway.ledger.kioskCursor(kiosk)!.nextSeq, before.next + 1, 'booked once, right after the gateway head')
    t.equal(gateway.ledger.balanceOf(GUEST), balance)
    t.equal(gateway.ledger.stats().rejected, before.rejected, 'nothing rejected as seq_conflict or chain_mismatch')
    t.same(gateway.ledger.checkInvariants(), [])
  }

  await Promise.all(KIOSKS.map(enroll))

  // The two crash cases: a real daemon in a child process books 5 top-ups, its
  // WAL checkpointed after the 2nd, and dies by SIGKILL. A copy of what it left
  // on disk is the second case, on the same kiosk after the first one's recovery.
  const crashed = async (kiosk: KioskName): Promise<string[]> => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(new URL('../../daemon/testing/kiosk-crash-child.ts', import.meta.url)), dataDir(kiosk), mqttUrl, kiosk, tokens[kiosk], '5', '2', GUEST], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)))
    t.equal(signal, 'SIGKILL', `the ${kiosk} child died without closing anything${stderr ? `: ${stderr.slice(0, 500)}` : ''}`)
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as string[]
  }
  const crashIds = await crashed('crash-1')
  balance += TOPUP * crashIds.length
  t.equal(gateway.ledger.balanceOf(GUEST), balance, 'the crashed kiosk\'s top-ups were booked')
  const crashCopy = join(dir, 'crash-1-copy')
  cpSync(dataDir('crash-1'), crashCopy, { recursive: true })

  await t.test('an outbox truncated to 0 bytes', async (t) => {
    const first = await startKiosk('empty-1')
    t.equal(first.daemon.status().chain.status, 'intact')
    await topUps(first.daemon, first.reader, 3)
    await stopKiosk(first.daemon)
    truncateSync(outboxPath('empty-1'), 0)
    for (const suffix of ['-wal', '-shm']) rmSync(outboxPath('empty-1') + suffix, { force: true })

    const { daemon, reader } = await startKiosk('empty-1')
    t.equal(daemon.outbox.head().nextSeq, 1, 'SQLite opened the empty file as a new outbox')
    await refuseConfirmSell(t, 'empty-1', daemon, reader, 'behind')
    t.equal(gateway.ledger.kioskCursor('empty-1')!.nextSeq, 5, 'seq 1-3 top-ups, 4 the sale')
  })

  await t.test('the WAL deleted after a crash', async (t) => {
    t.ok(statSync(outboxPath('crash-1') + '-wal').size > 0, 'the crash left a WAL behind')
    rmSync(outboxPath('crash-1') + '-wal')
    rmSync(outboxPath('crash-1') + '-shm', { force: true })
    const { daemon, reader } = await startKiosk('crash-1')
    t.equal(daemon.outbox.head().nextSeq, 3, 'the outbox rolled back to the checkpoint after 2 top-ups')
    await refuseConfirmSell(t, 'crash-1', daemon, reader, 'behind')
    t.equal(gateway.ledger.kioskCursor('crash-1')!.nextSeq, 7, '5 top-ups, then the sale at seq 6')
    for (const id of crashIds) t.equal(gateway.ledger.transaction(id)?.status, 'accepted')
    await stopKiosk(daemon)
  })

  await t.test('the WAL damaged after a crash', async (t) => {
    // The same crash once more (the copy), now behind the sale of the case before too.
    dataDirs['crash-1'] = crashCopy
    const wal = outboxPath('crash-1') + '-wal'
    const size = statSync(wal).size
    t.ok(size > 32 + 24, 'the crash left WAL frames behind')
    // Garble the second half of the WAL: SQLite drops every frame from the first bad checksum on, silently.
    const fd = openSync(wal, 'r+')
    writeSync(fd, Buffer.alloc(size - Math.floor(size / 2), 0x5a), 0, size - Math.floor(size / 2), Math.floor(size / 2))
    closeSync(fd)
    // Before it reaches the gateway again, the rolled-back kiosk takes a top-up on a seq the gateway already booked.
    const offline = await startKiosk('crash-1', { mqttUrl: 'mqtt://127.0.0.1:1', replyTimeoutMs: 1_000 })
    const rolledBackTo = offline.daemon.outbox.head().nextSeq
    t.ok(rolledBackTo < 6, 'the outbox rolled back to an older state')
    const unsent = await tapAndAwait(offline.daemon.kiosk.topUp(TOPUP), offline.reader, GUEST)
    t.match(unsent, { status: 'pending', seq: rolledBackTo }, 'signed on a seq the gateway holds another transaction for')
    await stopKiosk(offline.daemon)

    const { daemon, reader } = await startKiosk('crash-1')
    // Sent again after the confirmation, answered seq_conflict (never booked), signed again on the head: booked once.
    balance += TOPUP
    await refuseConfirmSell(t, 'crash-1', daemon, reader, 'behind')
    t.match(gateway.ledger.transaction(unsent.id), { status: 'accepted', seq: 7 }, 'the unsent top-up, same id, on the gateway chain')
    t.equal(gateway.ledger.kioskCursor('crash-1')!.nextSeq, 9, 'the top-up at seq 7, the sale at 8')
    for (const id of crashIds) t.equal(gateway.ledger.transaction(id)?.status, 'accepted')
  })

  await t.test('rows deleted: an unanswered entry lost, the ones after it still sent', async (t) => {
    const first = await startKiosk('rows-1', { replyTimeoutMs: 1_000 })
    await topUps(first.daemon, first.reader, 2)
    // The gateway goes out of reach: three top-ups stay unanswered in the outbox (seq 3-5).
    await first.daemon.link.stop()
    const pendingIds: string[] = []
    for (let i = 0; i < 3; i++) {
      const outcome = await tapAndAwait(first.daemon.kiosk.topUp(TOPUP), first.reader, GUEST)
      t.equal(outcome.status, 'pending')
      pendingIds.push(outcome.id)
    }
    await stopKiosk(first.daemon)
    const db = new Database(outboxPath('rows-1'))
    t.equal(db.prepare('DELETE FROM pending WHERE seq = 3').run().changes, 1)
    db.close()

    const { daemon, reader } = await startKiosk('rows-1')
    t.same(daemon.outbox.pending().map((e) => e.seq), [4, 5], 'held back: seq 4 and 5 would be a gap at the gateway')
    t.equal(gateway.ledger.kioskCursor('rows-1')!.nextSeq, 3, 'nothing was sent before the confirmation')
    t.match(daemon.status().chain, { damage: { missing: 1 } })
    // Seq 4 and 5 are booked at the confirmation, before the sale.
    balance += 2 * TOPUP
    await refuseConfirmSell(t, 'rows-1', daemon, reader, 'entries_missing')
    t.equal(gateway.ledger.transaction(pendingIds[0]!), undefined, 'the deleted entry is lost (reported as missing: 1)')
    t.match(gateway.ledger.transaction(pendingIds[1]!), { status: 'accepted', seq: 3 }, 'the rest signed again on the gateway chain, same id')
    t.match(gateway.ledger.transaction(pendingIds[2]!), { status: 'accepted', seq: 4 })
    t.equal(gateway.ledger.kioskCursor('rows-1')!.nextSeq, 6)
    t.equal(gateway.ledger.balanceOf(GUEST), balance)
  })

  await t.test('a corrupt outbox file stops the daemon with a clear error instead of starting over', async (t) => {
    const kiosk: KioskName = 'empty-1'
    const daemon = [...running].find((d) => d.status().kiosk === kiosk)!
    await stopKiosk(daemon)
    const bytes = statSync(outboxPath(kiosk)).size
    const fd = openSync(outboxPath(kiosk), 'r+')
    writeSync(fd, Buffer.alloc(100, 0x00), 0, 100, 0) // the SQLite header
    closeSync(fd)
    await t.rejects(
      createKioskDaemon({ config: kioskDaemonConfig({ kioskId: kiosk, token: tokens[kiosk], mqttUrl, dataDir: dataDir(kiosk) }), logger: silent, clock: systemClock, reader: createMemoryReader() }),
      { name: 'OutboxDamagedError', message: /is damaged .*refusing to start/ },
    )
    t.equal(statSync(outboxPath(kiosk)).size, bytes, 'the file is left for inspection')
    t.ok(existsSync(outboxPath(kiosk)))
  })

  t.same(gateway.ledger.checkInvariants(), [])
})
