// Enrollment against the real gateway (aedes on loopback, SQLite ledger,
// ingest, HTTP admin API) and real kiosk daemons on real SQLite files.
//
// A kiosk that is not enrolled (or enrolled with another key) says so in
// GET /state and refuses before the tap; once an operator enrolls its key the
// next sale is accepted, without a restart. A kiosk whose outbox holds
// transactions the gateway refused unrecorded before enrollment (what kiosks
// did before the chain check told them; unknown_kiosk and bad_signature do not
// move the gateway's sequence) re-anchors on the gateway's head once enrolled:
// its next sale is accepted, booked once, across restarts.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import pino from 'pino'
import { v7 as uuidv7 } from 'uuid'
import { parseJson, signTransaction, systemClock, topics, validateReply, type TxResult } from '../../device-protocol/index.js'
import type { Gateway } from '../../gateway/app.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { OUTBOX_FILE_NAME, createKioskDaemon, type KioskDaemon } from '../../daemon/app.js'
import { loadOrCreateKeys } from '../../daemon/keys.js'
import { createOutbox } from '../../daemon/outbox.js'
import { createMemoryReader, type MemoryReader } from '../../daemon/reader/memory-reader.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import { makeKioskKeys } from '../../gateway/ledger/testing/test-helpers.js'
import { kioskDaemonConfig, startLoopbackGateway, tapAndAwait } from './kiosk-harness.js'

const silent = pino({ level: 'silent' })
const GUEST = '04A1B2C3D4E5F6'
const token = () => randomBytes(24).toString('base64url')
const ADMIN_TOKEN = token()
const KIOSKS = ['bar-1', 'bar-2'] as const
type KioskName = (typeof KIOSKS)[number]

t.test('a kiosk used before enrollment sells once enrolled: refused before the tap until then, its chain re-anchored, each sale booked once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-enrollment-'))
  const tokens = Object.fromEntries(KIOSKS.map((k) => [k, token()])) as Record<KioskName, string>
  // No kiosk has a publicKey: they log in with their tokens alone.
  const setup: EventSetup = {
    event: { name: 'enrollment', currency: 'EUR' },
    booths: [{ id: 'bar', name: 'Bar' }],
    products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
    kiosks: KIOSKS.map((id) => ({ id, booth: 'bar', token: tokens[id], saleAllowed: true, topupAllowed: true })),
    wristbands: [{ uid: GUEST, pin: 'GUEST2345' }],
  }
  const gateway: Gateway = await startLoopbackGateway({ dir, setup, logger: silent, config: { adminToken: ADMIN_TOKEN } })
  const mqttUrl = `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`
  const admin = `http://127.0.0.1:${gateway.httpAddress!.port}`
  const running = new Set<KioskDaemon>()
  t.teardown(async () => {
    for (const d of running) await d.stop()
    await gateway.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const dataDir = (kiosk: KioskName) => join(dir, kiosk)
  let balance = 0

  async function startKiosk(kiosk: KioskName): Promise<{ daemon: KioskDaemon; reader: MemoryReader; api: string }> {
    const reader = createMemoryReader()
    const daemon = await createKioskDaemon({
      config: kioskDaemonConfig({ kioskId: kiosk, token: tokens[kiosk], mqttUrl, dataDir: dataDir(kiosk), overrides: { replyTimeoutMs: 5_000, tapTimeoutMs: 5_000 } }),
      logger: silent,
      clock: systemClock,
      reader,
    })
    running.add(daemon)
    await daemon.start()
    await waitUntil(() => daemon.status().config !== null && daemon.status().chain.status !== 'unchecked', `${kiosk} configured and its chain checked`, 4_000, 5)
    return { daemon, reader, api: `http://127.0.0.1:${daemon.apiAddress()!.port}` }
  }

  async function stopKiosk(daemon: KioskDaemon): Promise<void> {
    await daemon.stop()
    running.delete(daemon)
  }

  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  const enrollOverHttp = (kiosk: KioskName, publicKey: string) =>
    fetch(`${admin}/admin/kiosks/${kiosk}/public-key`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ publicKey }) })

  /** A not-enrolled kiosk: GET /state says so with what to do, a sale is refused before the tap, nothing reaches the gateway. */
  async function refusedBeforeTheTap(kiosk: KioskName, daemon: KioskDaemon, reader: MemoryReader, api: string, reason: 'not_enrolled' | 'other_key'): Promise<void> {
    const state = (await (await fetch(`${api}/state`)).json()) as { enrollment: { status: string; publicKey: string; keyFile: string; todo: string }; chain: { status: string } }
    t.match(state.enrollment, { status: reason, publicKey: daemon.publicKeyBase64Url, keyFile: join(dataDir(kiosk), 'kiosk-ed25519.pem') }, `${kiosk}: GET /state says ${reason}, with the key to enroll and its file`)
    t.match(state.enrollment.todo, new RegExp(`PUT /admin/kiosks/${kiosk}/public-key.*${daemon.publicKeyBase64Url}`), 'and what to do')
    t.match(state.enrollment.todo, `registration code (wristpay-gateway kiosk code ${kiosk}, then on this kiosk wristpay-kiosk enroll --gateway URL --code CODE`, 'also by registration code')
    t.equal(state.chain.status, 'not_enrolled')
    const received = gateway.stats().ingest.received ?? 0
    const refused = await post(`${api}/sale`, { lines: [{ product: 'beer', qty: 1 }] })
    t.equal(refused.status, 409)
    t.match(await refused.json(), { type: 'not_enrolled', message: /not enrolled.*wristpay-kiosk enroll --gateway URL --code CODE.*PUT \/admin\/kiosks/ })
    await t.rejects(tapAndAwait(daemon.kiosk.sale([{ product: 'beer', qty: 1 }]), reader, GUEST), { name: 'KioskError', type: 'not_enrolled', message: /not enrolled/ }, 'a tap finds no sale waiting')
    t.equal(reader.listenerCount('tag'), 0, 'refused before the tap')
    t.equal(gateway.stats().ingest.received ?? 0, received, 'nothing was sent')
  }

  // ---- bar-1: its outbox holds two sales the gateway refused as unknown_kiosk before it was enrolled.
  {
    const kiosk = 'bar-1'
    const keys = loadOrCreateKeys({ dataDir: dataDir(kiosk) })
    const outbox = createOutbox({ path: join(dataDir(kiosk), OUTBOX_FILE_NAME), maxEntries: 100, clock: systemClock, kioskId: kiosk })
    // What a kiosk did before its chain check asked about enrollment: sign, send, record the refusal.
    const client = await mqtt.connectAsync(mqttUrl, { username: kiosk, password: tokens[kiosk], clientId: `kiosk-${kiosk}/before-enrollment`, reconnectPeriod: 0 })
    const replies: TxResult[] = []
    client.on('message', (_topic, payload) => {
      const reply = parseJson(payload, validateReply)
      if (reply.ok && reply.value.kind === 'result') replies.push(reply.value)
    })
    await client.subscribeAsync(topics.kioskReply(kiosk), { qos: 1 })
    for (let i = 0; i < 2; i++) {
      const entry = outbox.append((seq, prev) =>
        signTransaction({ v: 1, id: uuidv7(), kiosk, seq, prev, type: 'sale', tag: { uid: GUEST, type: 'ntag215' }, lines: [{ product: 'beer', qty: 1, unitPrice: 450 }], amount: 450, at: Date.now() }, keys.privateKey),
      )
      await client.publishAsync(topics.kioskTx(kiosk), JSON.stringify(entry.envelope), { qos: 1 })
      await waitUntil(() => replies.some((r) => r.id === entry.id), 'the gateway answers', 2_000, 5)
      const reply = replies.find((r) => r.id === entry.id)!
      t.match(reply, { status: 'rejected', reason: 'unknown_kiosk', seq: i + 1 })
      outbox.markAnswered(entry.id, reply)
    }
    await client.endAsync()
    t.equal(outbox.head().nextSeq, 3, 'the kiosk went on to seq 3')
    outbox.close()
    t.equal(gateway.ledger.kioskCursor(kiosk)!.nextSeq, 1, 'the gateway is still at seq 1: the broken state of the issue')

    let { daemon, reader, api } = await startKiosk(kiosk)
    await refusedBeforeTheTap(kiosk, daemon, reader, api, 'not_enrolled')

    // The operator enrolls the key GET /state shows; the kiosk finds out at the next operation.
    const enrolled = await enrollOverHttp(kiosk, daemon.publicKeyBase64Url)
    t.equal(enrolled.status, 200)
    const topUp = await tapAndAwait(daemon.kiosk.topUp(5_000), reader, GUEST)
    balance += 5_000
    t.match(topUp, { status: 'accepted', seq: 1, balance }, 'seq 1: the void seqs 1 and 2 were given to the next transactions')
    const sale = await tapAndAwait(daemon.kiosk.sale([{ product: 'beer', qty: 1 }]), reader, GUEST)
    balance -= 450
    t.match(sale, { status: 'accepted', seq: 2, balance })
    t.match(gateway.ledger.transaction(sale.id), { status: 'accepted', seq: 2 }, 'booked')
    t.equal(gateway.ledger.kioskCursor(kiosk)!.nextSeq, 3, 'booked once each')
    t.match((await (await fetch(`${api}/state`)).json()) as object, { enrollment: { status: 'enrolled' }, chain: { status: 'intact' }, outboxDepth: 0 })

    // Across a restart: the chain is intact, the next sale follows.
    await stopKiosk(daemon)
    ;({ daemon, reader, api } = await startKiosk(kiosk))
    t.equal(daemon.status().chain.status, 'intact')
    const after = await tapAndAwait(daemon.kiosk.sale([{ product: 'beer', qty: 1 }]), reader, GUEST)
    balance -= 450
    t.match(after, { status: 'accepted', seq: 3, balance })
    await stopKiosk(daemon)
  }

  // ---- bar-2: enrolled with a key from another data folder, then its own; later its key is replaced while it runs.
  {
    const kiosk = 'bar-2'
    const wrongKey = makeKioskKeys().publicKeyBase64Url
    t.equal((await enrollOverHttp(kiosk, wrongKey)).status, 200)
    const { daemon, reader, api } = await startKiosk(kiosk)
    await refusedBeforeTheTap(kiosk, daemon, reader, api, 'other_key')
    t.equal(daemon.status().enrollment.gatewayKey, wrongKey, 'the key the gateway holds is shown beside the kiosk\'s')

    t.equal((await enrollOverHttp(kiosk, daemon.publicKeyBase64Url)).status, 200)
    const first = await tapAndAwait(daemon.kiosk.sale([{ product: 'beer', qty: 1 }]), reader, GUEST)
    balance -= 450
    t.match(first, { status: 'accepted', seq: 1, balance })

    // Another key is enrolled while the kiosk runs on a checked chain: its next sale is refused unrecorded.
    gateway.ledger.registry.enrollKiosk(kiosk, wrongKey)
    const refused = await tapAndAwait(daemon.kiosk.sale([{ product: 'beer', qty: 1 }]), reader, GUEST)
    t.match(refused, { status: 'rejected', reason: 'bad_signature', seq: 2 }, 'shown as refused: no money taken')
    await waitUntil(() => daemon.status().chain.status === 'not_enrolled', 'the kiosk asked again and learnt about the other key', 2_000, 5)
    t.match(daemon.status().enrollment, { status: 'other_key', gatewayKey: wrongKey })
    t.equal(gateway.ledger.kioskCursor(kiosk)!.nextSeq, 2, 'the gateway did not move')

    gateway.ledger.registry.enrollKiosk(kiosk, daemon.publicKeyBase64Url)
    const again = await tapAndAwait(daemon.kiosk.sale([{ product: 'beer', qty: 1 }]), reader, GUEST)
    balance -= 450
    t.match(again, { status: 'accepted', seq: 2, balance }, 'the void seq 2 is the next sale\'s')
    t.equal(gateway.ledger.transaction(refused.id), undefined, 'the refused sale is never booked')
    t.equal(gateway.ledger.kioskCursor(kiosk)!.nextSeq, 3)
  }

  t.equal(gateway.ledger.balanceOf(GUEST), balance)
  t.equal(gateway.ledger.stats().rejected, 0, 'no seq_conflict, chain_mismatch or gap was ever recorded')
  t.same(gateway.ledger.checkInvariants(), [])
})
