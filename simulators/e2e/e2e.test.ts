// End to end over real parts: the gateway (aedes on a loopback socket, SQLite
// file, ingest) and two real kiosk daemons, one reading wristbands through the
// serial reader adapter and the simulated reader firmware (serialport's mock
// binding), the other through the in-memory reader. Hostile clients connect
// with mqtt.js over the same socket.
import t from 'tap'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import pino from 'pino'
import { v7 as uuidv7 } from 'uuid'
import {
  GENESIS_HASH,
  publicKeyToBase64Url,
  signTransaction,
  systemClock,
  topics,
  validateReply,
  type Envelope,
  type ReplyMessage,
} from '../../device-protocol/index.js'
import type { Gateway } from '../../gateway/app.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import { createKioskDaemon, type KioskDaemon } from '../../daemon/app.js'
import { createMemoryReader } from '../../daemon/reader/memory-reader.js'
import { createSerialReader } from '../../daemon/reader/serial-reader.js'
import { waitUntil } from '../../daemon/testing/wait.js'
import { kioskDaemonConfig, tapAndAwait, startLoopbackGateway } from './kiosk-harness.js'
import { createMockReaderLink } from '../reader-firmware.js'

const silent = pino({ level: 'silent' })
const GUEST = '04A1B2C3D4E5F6'
const POOR_GUEST = '04A1B2C3D4E5F7'
const token = () => randomBytes(24).toString('base64url')


t.test('gateway and two kiosk daemons over real MQTT', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-e2e-'))
  const rogueKey = generateKeyPairSync('ed25519')
  const tokens = { bar: token(), topup: token(), rogue: token() }
  const setup: EventSetup = {
    event: { name: 'e2e', currency: 'EUR' },
    booths: [
      { id: 'bar', name: 'Bar' },
      { id: 'topup', name: 'Top-up' },
    ],
    products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
    kiosks: [
      { id: 'bar-1', booth: 'bar', token: tokens.bar, saleAllowed: true, topupAllowed: false },
      { id: 'topup-1', booth: 'topup', token: tokens.topup, saleAllowed: false, topupAllowed: true },
      // A kiosk whose credentials an attacker holds: it may use only its own topics.
      { id: 'rogue-1', booth: 'bar', token: tokens.rogue, publicKey: publicKeyToBase64Url(rogueKey.publicKey), saleAllowed: true, topupAllowed: true },
    ],
    wristbands: [
      { uid: GUEST, pin: 'GUEST2345' },
      { uid: POOR_GUEST, pin: 'PRGUEST789' },
    ],
  }
  const gateway: Gateway = await startLoopbackGateway({ dir, setup, logger: silent })
  const mqttUrl = `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`
  const clients: MqttClient[] = []
  const daemons: KioskDaemon[] = []
  t.teardown(async () => {
    for (const c of clients) await c.endAsync(true).catch(() => undefined)
    for (const d of daemons) await d.stop()
    await gateway.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  // The bar kiosk reads through the serial adapter and the simulated reader board.
  const readerLink = createMockReaderLink({ path: '/dev/ttyE2E-bar', model: 'wristpay-r1', firmware: '1.0.0', serial: 'E2E-1' })
  const serialReader = createSerialReader({ path: readerLink.path, binding: readerLink.binding, logger: silent, ackTimeoutMs: 500, reconnectDelayMs: 100 })
  const bar = await createKioskDaemon({
    config: kioskDaemonConfig({ kioskId: 'bar-1', token: tokens.bar, mqttUrl, dataDir: join(dir, 'bar-1'), overrides: { replyTimeoutMs: 5_000, tapTimeoutMs: 5_000 } }),
    logger: silent,
    clock: systemClock,
    reader: serialReader,
  })
  const memoryReader = createMemoryReader()
  const topup = await createKioskDaemon({
    config: kioskDaemonConfig({ kioskId: 'topup-1', token: tokens.topup, mqttUrl, dataDir: join(dir, 'topup-1'), overrides: { replyTimeoutMs: 5_000, tapTimeoutMs: 5_000 } }),
    logger: silent,
    clock: systemClock,
    reader: memoryReader,
  })
  daemons.push(bar, topup)
  gateway.ledger.registry.enrollKiosk('bar-1', bar.publicKeyBase64Url)
  gateway.ledger.registry.enrollKiosk('topup-1', topup.publicKeyBase64Url)
  await bar.start()
  await topup.start()
  await waitUntil(() => [bar, topup].every((d) => d.status().connected && d.status().config !== null && d.status().chain.status === 'intact'), 'both kiosks connected with their config and their chain checked', 500, 20)
  await waitUntil(() => bar.reader.status().connected, 'the serial reader is connected', 500, 20)

  const ledgerCount = () => {
    const s = gateway.ledger.stats()
    return s.accepted + s.rejected
  }

  await t.test('a cash top-up is booked and the guest balance shows on the kiosk', async (t) => {
    const outcome = await tapAndAwait(topup.kiosk.topUp(5_000), memoryReader, GUEST)
    t.match(outcome, { status: 'accepted', balance: 5_000, amount: 5_000 })
    t.equal(gateway.ledger.balanceOf(GUEST), 5_000)
    t.equal(gateway.ledger.stats().cashByKiosk['topup-1'], 5_000)
    t.equal(topup.outbox.depth(), 0, 'the answered transaction left the outbox')
  })

  await t.test('a sale through the serial reader is booked; the reader shows green', async (t) => {
    const outcome = await tapAndAwait(bar.kiosk.sale([{ product: 'beer', qty: 2 }]), readerLink.firmware, GUEST)
    t.match(outcome, { status: 'accepted', balance: 4_100, amount: 900 })
    t.equal(gateway.ledger.balanceOf(GUEST), 4_100)
    t.equal(gateway.ledger.stats().revenueByBooth.bar, 900)
    t.equal(gateway.ledger.transaction(outcome.id)?.status, 'accepted')
    await waitUntil(() => readerLink.firmware.feedbackLog.some((f) => f.led === 'green'), 'the reader got green feedback', 500, 20)
    t.equal(bar.outbox.depth(), 0)
  })

  await t.test('a sale over the balance is rejected with a reason and changes no balance', async (t) => {
    const before = { guest: gateway.ledger.balanceOf(POOR_GUEST), revenue: gateway.ledger.stats().revenueByBooth.bar }
    const outcome = await tapAndAwait(bar.kiosk.sale([{ product: 'beer', qty: 1 }]), readerLink.firmware, POOR_GUEST)
    t.match(outcome, { status: 'rejected', reason: 'insufficient_balance' })
    t.equal(gateway.ledger.balanceOf(POOR_GUEST), before.guest)
    t.equal(gateway.ledger.stats().revenueByBooth.bar, before.revenue)
    await waitUntil(() => readerLink.firmware.feedbackLog.some((f) => f.led === 'red'), 'the reader got red feedback', 500, 20)
  })

  await t.test('the same transaction sent again is booked once and answered with the first outcome', async (t) => {
    const first = await tapAndAwait(bar.kiosk.sale([{ product: 'beer', qty: 1 }]), readerLink.firmware, GUEST)
    t.equal(first.status, 'accepted')
    const envelope = gateway.ledger.transaction(first.id)!.envelope
    const count = ledgerCount()
    const balance = gateway.ledger.balanceOf(GUEST)
    const replaysBefore = gateway.stats().ingest.replays ?? 0
    // The kiosk's own link sends it again, as after a restart with the entry still in its outbox.
    for (let i = 0; i < 3; i++) bar.link.publishTx(envelope)
    await waitUntil(() => (gateway.stats().ingest.replays ?? 0) >= replaysBefore + 3, 'three replays answered', 500, 20)
    t.equal(ledgerCount(), count, 'no new transaction')
    t.equal(gateway.ledger.balanceOf(GUEST), balance, 'no second debit')
    t.equal(gateway.ledger.checkInvariants().length, 0)
  })

  async function connectAs(username: string | undefined, password: string | undefined): Promise<MqttClient> {
    const client = await mqtt.connectAsync(mqttUrl, { username, password, reconnectPeriod: 0, connectTimeout: 5_000 })
    clients.push(client)
    return client
  }

  await t.test('an anonymous client and a wrong token are refused', async (t) => {
    await t.rejects(connectAs(undefined, undefined), /Not authorized|Bad username or password/i)
    await t.rejects(connectAs('bar-1', 'not-the-token'), /Not authorized|Bad username or password/i)
    await t.rejects(connectAs('operator:nobody', 'x'.repeat(20)), /Not authorized|Bad username or password/i)
  })

  function forgedSale(kioskId: string, seq: number): Envelope {
    return signTransaction(
      { v: 1, id: uuidv7(), kiosk: kioskId, seq, prev: GENESIS_HASH, type: 'sale', tag: { uid: GUEST, type: 'ntag215' }, lines: [{ product: 'beer', qty: 1, unitPrice: 450 }], amount: 450, at: Date.now() },
      generateKeyPairSync('ed25519').privateKey, // not the key the gateway enrolled
    )
  }

  await t.test('a forged signature is rejected and the ledger is unchanged', async (t) => {
    const rogue = await connectAs('rogue-1', tokens.rogue)
    const replies: ReplyMessage[] = []
    rogue.on('message', (_topic, payload) => {
      const parsed = validateReply(JSON.parse(payload.toString()))
      if (parsed.ok) replies.push(parsed.value)
    })
    await rogue.subscribeAsync(topics.kioskReply('rogue-1'), { qos: 1 })
    const count = ledgerCount()
    const balance = gateway.ledger.balanceOf(GUEST)
    const forged = forgedSale('rogue-1', 1)
    await rogue.publishAsync(topics.kioskTx('rogue-1'), JSON.stringify(forged), { qos: 1 })
    await waitUntil(() => replies.length > 0, 'the forged sale is answered', 500, 20)
    t.match(replies[0], { kind: 'result', id: forged.tx.id, status: 'rejected', reason: 'bad_signature' })
    t.equal(ledgerCount(), count)
    t.equal(gateway.ledger.balanceOf(GUEST), balance)
    t.equal(gateway.ledger.kioskCursor('rogue-1')?.nextSeq, 1, 'the forgery did not use up a sequence number')
    await rogue.endAsync()
  })

  await t.test("a kiosk publishing under another kiosk's topic is denied; the ledger is unchanged", async (t) => {
    const rogue = await connectAs('rogue-1', tokens.rogue)
    const deniedBefore = gateway.stats().broker.deniedPublishes ?? 0
    const count = ledgerCount()
    const closed = new Promise<void>((done) => rogue.once('close', () => done()))
    rogue.publish(topics.kioskTx('bar-1'), JSON.stringify(forgedSale('bar-1', 99)), { qos: 1 })
    await closed // aedes drops a client whose publish is not authorised
    t.equal(gateway.stats().broker.deniedPublishes, deniedBefore + 1)
    t.equal(ledgerCount(), count)
    const again = await connectAs('rogue-1', tokens.rogue)
    // The broker answers the SUBACK with 0x80 (failure), which mqtt.js turns into an error.
    await t.rejects(again.subscribeAsync(topics.kioskReply('bar-1'), { qos: 1 }), /Subscribe error/, "subscribing to another kiosk's replies is refused")
    await again.endAsync()
  })

  await t.test('malformed MQTT payloads are counted and the gateway keeps booking', async (t) => {
    const rogue = await connectAs('rogue-1', tokens.rogue)
    const malformedBefore = gateway.stats().ingest.malformed ?? 0
    for (const payload of ['{', 'null', '{"tx":1,"sig":2}', Buffer.from([0xff, 0x00, 0x13]), JSON.stringify({ tx: { __proto__: { admin: true } } })]) {
      await rogue.publishAsync(topics.kioskTx('rogue-1'), payload, { qos: 1 })
    }
    await waitUntil(() => (gateway.stats().ingest.malformed ?? 0) >= malformedBefore + 5, 'five malformed payloads counted', 500, 20)
    await rogue.endAsync()
    const outcome = await tapAndAwait(bar.kiosk.sale([{ product: 'beer', qty: 1 }]), readerLink.firmware, GUEST)
    t.equal(outcome.status, 'accepted', 'the next sale is booked as usual')
  })

  await t.test('malformed reader frames are counted and the kiosk keeps selling', async (t) => {
    const before = bar.reader.status().counters
    readerLink.firmware.sendRaw(Buffer.from([0x00, 0x13, 0x37, 0xff, 0x00, 0x05, 0x01, 0x02, 0x03, 0x04, 0x00]))
    readerLink.firmware.sendRaw(randomBytes(300))
    await waitUntil(() => {
      const now = bar.reader.status().counters
      return (now.crcErrors ?? 0) + (now.malformed ?? 0) + (now.discardedBytes ?? 0) + (now.oversize ?? 0) > (before.crcErrors ?? 0) + (before.malformed ?? 0) + (before.discardedBytes ?? 0) + (before.oversize ?? 0)
    }, 'the reader counted the garbage', 500, 20)
    const outcome = await tapAndAwait(bar.kiosk.sale([{ product: 'beer', qty: 1 }]), readerLink.firmware, GUEST)
    t.match(outcome, { status: 'accepted' })
  })

  t.same(gateway.ledger.checkInvariants(), [], 'ledger invariants hold at the end')
  t.equal(gateway.ledger.sumOfAllBalances(), 0)
})
