// GET /metrics of a real gateway (createGateway, real MQTT and HTTP on port
// 0): after signed kiosk transactions and portal logins the metrics move by
// exactly what was booked and refused; a token gateway wants its token; two
// gateways in one process count apart; no secret or wristband leaks out.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { topics } from '../../device-protocol/index.js'
import { createGateway, type Gateway } from '../app.js'
import type { GatewayConfig } from '../config.js'
import { counterValue, parseExposition, sampleValue, type Sample } from './testing/exposition.js'
import { loopbackGatewayConfig } from '../testing/loopback-config.js'
import { MqttTestKiosk, waitFor } from '../testing/mqtt-test-kiosk.js'

const ADMIN_TOKEN = 'admin-token-for-metrics-0123'
const OPERATOR_TOKEN = 'operator-token-metrics-0123'
const METRICS_TOKEN = 'metrics-token-for-tests-4567'
const UID = '04C0FFEE123456'
const PIN = 'MXTRPCS234'
const KIOSK_TOKENS = { 'bar-1': 'token-bar-1-metrics-0123', 'cash-1': 'token-cash-1-metrics-0123' } as const
type KioskName = keyof typeof KIOSK_TOKENS

const EVENT = {
  event: { name: 'Metrics Fest', currency: 'EUR' },
  booths: [
    { id: 'bar', name: 'Bar' },
    { id: 'cashier', name: 'Cashier' },
  ],
  products: [{ id: 'beer', name: 'Beer', price: 450, booth: 'bar' }],
  kiosks: [
    { id: 'bar-1', booth: 'bar', token: KIOSK_TOKENS['bar-1'], saleAllowed: true, topupAllowed: false },
    { id: 'cash-1', booth: 'cashier', token: KIOSK_TOKENS['cash-1'], saleAllowed: false, topupAllowed: true },
  ],
  wristbands: [{ uid: UID, pin: PIN }],
}

interface Harness {
  gateway: Gateway
  mqttUrl: string
  httpBase: string
}

async function startGateway(t: Test, extra: Partial<GatewayConfig> = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'wristpay-metrics-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const config = loopbackGatewayConfig(dir, EVENT, {
    adminToken: ADMIN_TOKEN,
    operators: [{ name: 'ops', token: OPERATOR_TOKEN }],
    ...extra,
  })
  const gateway = await createGateway({ config, logger: pino({ level: 'silent' }) })
  t.teardown(() => gateway.stop())
  await gateway.start()
  return { gateway, mqttUrl: `mqtt://127.0.0.1:${gateway.mqttAddress!.port}`, httpBase: `http://127.0.0.1:${gateway.httpAddress!.port}` }
}

/** A kiosk of this file's event: its token, and the one wristband its transactions are for. */
class TestKiosk extends MqttTestKiosk {
  constructor(id: KioskName) {
    super(id, { adminToken: ADMIN_TOKEN, kioskToken: KIOSK_TOKENS[id], uid: UID })
  }
}

async function scrape(h: Harness, headers: Record<string, string> = {}): Promise<{ status: number; text: string; samples: Sample[] }> {
  const res = await fetch(`${h.httpBase}/metrics`, { headers })
  const text = await res.text()
  return { status: res.status, text, samples: res.status === 200 ? parseExposition(text) : [] }
}

async function portalLogin(h: Harness, pin: string): Promise<number> {
  const res = await fetch(`${h.httpBase}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pin }) })
  await res.arrayBuffer()
  return res.status
}

t.test('kiosk traffic and portal logins move the metrics by exactly what happened', async (t) => {
  const h = await startGateway(t)
  const cash = new TestKiosk('cash-1')
  const bar = new TestKiosk('bar-1')
  await cash.join(t, h)
  await bar.join(t, h)

  const before = await scrape(h)
  t.equal(before.status, 200, 'this machine scrapes without a token')
  const delta = (name: string, labels: Record<string, string> = {}) => (s: Sample[]) => counterValue(s, name, labels) - counterValue(before.samples, name, labels)

  const topup = cash.sign('topup_cash', 2000)
  t.match(await cash.send(topup), { status: 'accepted' })
  const sale = bar.sign('sale', 900, [{ product: 'beer', qty: 2, unitPrice: 450 }])
  t.match(await bar.send(sale), { status: 'accepted' })
  t.match(await bar.send(bar.sign('sale', 1350, [{ product: 'beer', qty: 3, unitPrice: 450 }])), { status: 'rejected', reason: 'insufficient_balance' })
  t.match(await bar.send(sale), { status: 'accepted' }, 'the same sale again: a replay')
  // Changed after signing: refused before the ledger, never committed.
  const forged = bar.sign('sale', 450, [{ product: 'beer', qty: 1, unitPrice: 450 }])
  t.match(await bar.send({ ...forged, tx: { ...forged.tx, amount: 0, lines: [] } }), { status: 'rejected', reason: 'bad_signature' })

  t.equal(await portalLogin(h, PIN), 200)
  t.equal(await portalLogin(h, 'WXYZABCD22'), 404)
  t.equal(await portalLogin(h, 'WXYZABCD33'), 404)

  const after = await scrape(h)
  t.equal(after.status, 200)
  const s = after.samples
  t.equal(delta('wristpay_transactions_total', { type: 'topup_cash', result: 'accepted' })(s), 1)
  t.equal(delta('wristpay_transactions_total', { type: 'sale', result: 'accepted' })(s), 1, 'the replay is not a second sale')
  t.equal(delta('wristpay_transactions_total', { type: 'sale', result: 'rejected' })(s), 2)
  t.equal(delta('wristpay_transaction_refusals_total', { reason: 'insufficient_balance' })(s), 1)
  t.equal(delta('wristpay_transaction_refusals_total', { reason: 'bad_signature' })(s), 1)
  t.equal(delta('wristpay_transaction_replays_total', { result: 'accepted' })(s), 1)
  // Every transaction was sent after the last was answered: one per commit, and the forged one never reached the ledger.
  t.equal(delta('wristpay_ingest_batch_transactions_count')(s), 4)
  t.equal(delta('wristpay_ingest_batch_transactions_sum')(s), 4)
  t.equal(delta('wristpay_ingest_commit_seconds_count')(s), 4)
  t.equal(delta('wristpay_ingest_answer_delay_seconds_count')(s), 5, 'every answer, the replay and the forged one included')
  t.equal(delta('wristpay_mqtt_kiosk_transactions_received_total')(s), 5)
  t.equal(sampleValue(s, 'wristpay_mqtt_clients_connected'), 2, 'the two kiosks')
  t.equal(delta('wristpay_portal_logins_total')(s), 1)
  t.equal(delta('wristpay_portal_login_failures_total', { reason: 'invalid_pin' })(s), 2)
  t.equal(sampleValue(s, 'wristpay_open_debts'), 0)
  t.equal(sampleValue(s, 'wristpay_open_debts_cents'), 0)
  t.equal(s.filter((x) => x.name === 'wristpay_online_topups_open').length, 0, 'no provider, no open top-ups')
  t.ok(sampleValue(s, 'process_resident_memory_bytes') !== undefined || sampleValue(s, 'nodejs_heap_size_used_bytes') !== undefined, 'process metrics on the same endpoint')

  // What the ledger says agrees with what the metrics counted.
  const ledger = h.gateway.ledger.stats()
  t.equal(ledger.accepted, 2)
  t.equal(ledger.rejectedByReason.insufficient_balance, 1)

  for (const secret of [ADMIN_TOKEN, OPERATOR_TOKEN, ...Object.values(KIOSK_TOKENS), UID, PIN, bar.publicKey]) {
    t.notOk(after.text.includes(secret), 'no secret, wristband or key in the metrics')
  }
  t.notOk(after.text.toLowerCase().includes(UID.toLowerCase()), 'not even in lower case')
})

t.test('with metrics.token the scrape needs it; two gateways in one process count apart', async (t) => {
  const plain = await startGateway(t)
  const guarded = await startGateway(t, { metrics: { token: METRICS_TOKEN } })
  t.equal((await scrape(guarded)).status, 401, 'no token, even from this machine')
  const wrong = await scrape(guarded, { authorization: 'Bearer metrics-token-for-tests-4568' })
  t.equal(wrong.status, 401)
  t.match(JSON.parse(wrong.text), { type: 'metrics_unauthorized' })

  const cash = new TestKiosk('cash-1')
  await cash.join(t, guarded)
  t.match(await cash.send(cash.sign('topup_cash', 500)), { status: 'accepted' })
  t.equal(await portalLogin(guarded, PIN), 200)

  const mine = await scrape(guarded, { authorization: `Bearer ${METRICS_TOKEN}` })
  t.equal(mine.status, 200)
  t.equal(sampleValue(mine.samples, 'wristpay_transactions_total', { type: 'topup_cash', result: 'accepted' }), 1)
  t.equal(sampleValue(mine.samples, 'wristpay_portal_logins_total'), 1)
  t.notOk(mine.text.includes(METRICS_TOKEN), 'the token is not in the metrics')

  const other = await scrape(plain)
  t.equal(other.status, 200)
  t.equal(counterValue(other.samples, 'wristpay_transactions_total', { type: 'topup_cash', result: 'accepted' }), 0, "the other gateway's traffic is not here")
  t.equal(sampleValue(other.samples, 'wristpay_portal_logins_total'), 0)
  t.equal(sampleValue(other.samples, 'wristpay_ingest_batch_transactions_count'), 0)
  t.equal(sampleValue(other.samples, 'wristpay_mqtt_clients_connected'), 0, 'its own broker: nobody connected')
  t.equal(sampleValue(mine.samples, 'wristpay_mqtt_clients_connected'), 1)
})

t.test("the kiosks' own reports reach the kiosk metrics through the fleet view", async (t) => {
  const h = await startGateway(t)
  const bar = new TestKiosk('bar-1')
  await bar.join(t, h)
  const before = await scrape(h)
  t.equal(sampleValue(before.samples, 'wristpay_kiosks', { status: 'never_seen' }), 2, 'both kiosks of the set-up, none reported yet')
  t.equal(sampleValue(before.samples, 'wristpay_kiosks', { status: 'online' }), 0)

  // The kiosk's birth, as the daemon publishes it (retained): its outbox and its tap-to-answer times of the last minute.
  const state = { kiosk: 'bar-1', status: 'online', at: Date.now(), bdSeq: 1, outboxDepth: 3, tapToAnswerMs: { count: 40, p50: 240, p99: 1_250, max: 1_900 } }
  await bar.client.publishAsync(topics.kioskState('bar-1'), JSON.stringify(state), { qos: 1, retain: true })
  await waitFor(() => h.gateway.fleet.snapshot().rows.some((r) => r.kiosk === 'bar-1' && r.status === 'online'), 'the fleet sees bar-1 online')

  const s = (await scrape(h)).samples
  t.equal(sampleValue(s, 'wristpay_kiosks', { status: 'online' }), 1)
  t.equal(sampleValue(s, 'wristpay_kiosks', { status: 'never_seen' }), 1, 'cash-1 never connected')
  t.equal(sampleValue(s, 'wristpay_kiosk_outbox_transactions', { kiosk: 'bar-1' }), 3)
  t.equal(sampleValue(s, 'wristpay_kiosk_tap_to_answer_seconds', { kiosk: 'bar-1', quantile: '0.5' }), 0.24)
  t.equal(sampleValue(s, 'wristpay_kiosk_tap_to_answer_seconds', { kiosk: 'bar-1', quantile: '0.99' }), 1.25)
  t.equal(sampleValue(s, 'wristpay_kiosk_outbox_transactions', { kiosk: 'cash-1' }), undefined, 'no report, no number')
})
