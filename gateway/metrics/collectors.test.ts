// The metrics registry and its collectors without a gateway: what each
// observation and each source becomes in the exposition text.
import t from 'tap'
import { openLedgerDatabase } from '../ledger/index.js'
import { migrateGatewayDatabase } from '../migrations.js'
import { openTopupCounts } from '../payments/open-topups.js'
import { createGatewayMetrics, openDebtTotals } from './collectors.js'
import type { BrokerMetricsCounters, FleetMetricsRow } from './registry.js'
import { counterValue, metricTypes, parseExposition, sampleValue } from './testing/exposition.js'

const scrape = async (metrics: { registry: { metrics(): Promise<string> } }) => parseExposition(await metrics.registry.metrics())

t.test('ingest observations become transaction, refusal, replay, batch and commit metrics', async (t) => {
  const metrics = createGatewayMetrics()
  const answered = { kind: 'answered' as const, kioskId: 'bar-1', offline: false, replay: false }
  metrics.observeIngest({ ...answered, txType: 'sale', status: 'accepted', queuedMs: 20 })
  metrics.observeIngest({ ...answered, txType: 'sale', status: 'accepted', queuedMs: 30 })
  metrics.observeIngest({ ...answered, txType: 'sale', status: 'rejected', reason: 'insufficient_balance', queuedMs: 5 })
  metrics.observeIngest({ ...answered, txType: 'topup_cash', status: 'rejected', reason: 'bad_signature', queuedMs: 1 })
  metrics.observeIngest({ ...answered, status: 'rejected', reason: 'invalid_transaction', queuedMs: 0 })
  // A replay answers the first answer again: not a new transaction, not a new refusal.
  metrics.observeIngest({ ...answered, txType: 'sale', status: 'rejected', reason: 'insufficient_balance', replay: true, queuedMs: 4 })
  metrics.observeIngest({ kind: 'committed', size: 3, commitMs: 4 })
  metrics.observeIngest({ kind: 'committed', size: 1, commitMs: 2 })
  metrics.observeIngest({ kind: 'commit_failed', size: 7 })
  metrics.observeIngest({ kind: 'dropped', kioskId: 'bar-1' })
  const s = await scrape(metrics)

  t.equal(sampleValue(s, 'wristpay_transactions_total', { type: 'sale', result: 'accepted' }), 2)
  t.equal(sampleValue(s, 'wristpay_transactions_total', { type: 'sale', result: 'rejected' }), 1)
  t.equal(sampleValue(s, 'wristpay_transactions_total', { type: 'topup_cash', result: 'rejected' }), 1)
  t.equal(sampleValue(s, 'wristpay_transactions_total', { type: 'unknown', result: 'rejected' }), 1, 'an unreadable message has no type')
  t.equal(sampleValue(s, 'wristpay_transaction_refusals_total', { reason: 'insufficient_balance' }), 1)
  t.equal(sampleValue(s, 'wristpay_transaction_refusals_total', { reason: 'bad_signature' }), 1)
  t.equal(sampleValue(s, 'wristpay_transaction_refusals_total', { reason: 'invalid_transaction' }), 1)
  t.equal(sampleValue(s, 'wristpay_transaction_replays_total', { result: 'rejected' }), 1)
  t.equal(sampleValue(s, 'wristpay_transaction_replays_total', { result: 'accepted' }), 0, 'both results exist from the start')

  t.equal(sampleValue(s, 'wristpay_ingest_answer_delay_seconds_count'), 6, 'every answer, replays included')
  t.equal(sampleValue(s, 'wristpay_ingest_answer_delay_seconds_sum'), 0.06)
  t.equal(sampleValue(s, 'wristpay_ingest_answer_delay_seconds_bucket', { le: '0.005' }), 4, 'milliseconds become seconds')
  t.equal(sampleValue(s, 'wristpay_ingest_batch_transactions_count'), 2)
  t.equal(sampleValue(s, 'wristpay_ingest_batch_transactions_sum'), 4)
  t.equal(sampleValue(s, 'wristpay_ingest_batch_transactions_bucket', { le: '2' }), 1)
  t.equal(sampleValue(s, 'wristpay_ingest_commit_seconds_count'), 2)
  t.equal(sampleValue(s, 'wristpay_ingest_commit_seconds_sum'), 0.006)
  t.equal(sampleValue(s, 'wristpay_ingest_commit_failures_total'), 1)
  t.equal(sampleValue(s, 'wristpay_ingest_dropped_total'), 1)
})

t.test('portal login outcomes count successes and failures by reason', async (t) => {
  const metrics = createGatewayMetrics()
  for (const outcome of ['success', 'success', 'invalid_pin', 'throttled', 'invalid_pin', 'wristband_blocked'] as const) metrics.observePortalLogin(outcome)
  const s = await scrape(metrics)
  t.equal(sampleValue(s, 'wristpay_portal_logins_total'), 2)
  t.equal(sampleValue(s, 'wristpay_portal_login_failures_total', { reason: 'invalid_pin' }), 2)
  t.equal(sampleValue(s, 'wristpay_portal_login_failures_total', { reason: 'throttled' }), 1)
  t.equal(sampleValue(s, 'wristpay_portal_login_failures_total', { reason: 'wristband_blocked' }), 1)
})

t.test('broker, debts and pending top-ups are read when scraped, never cached', async (t) => {
  const broker: BrokerMetricsCounters = {
    connectedClients: 3,
    pendingConnections: 1,
    kioskTxReceived: 10,
    messagesFromClients: 25,
    messagesFromGateway: 40,
    authFailures: 2,
    authThrottled: 0,
    deniedPublishes: 1,
    deniedSubscribes: 0,
    connectionsRefused: 0,
    sessionTakeovers: 0,
    clientIdRefusals: 0,
    oversizedPackets: 0,
    invalidKioskStates: 0,
    clientErrors: 0,
  }
  let debts = { wristbands: 0, cents: 0 }
  let topups = [{ provider: 'stancer', status: 'pending', count: 2 }]
  const metrics = createGatewayMetrics({ broker: () => broker, openDebts: () => debts, openTopups: () => topups })
  let s = await scrape(metrics)
  t.equal(sampleValue(s, 'wristpay_mqtt_clients_connected'), 3)
  t.equal(sampleValue(s, 'wristpay_mqtt_connections_pending'), 1)
  t.equal(sampleValue(s, 'wristpay_mqtt_kiosk_transactions_received_total'), 10)
  t.equal(sampleValue(s, 'wristpay_mqtt_messages_received_total'), 25)
  t.equal(sampleValue(s, 'wristpay_mqtt_messages_published_total'), 40)
  t.equal(sampleValue(s, 'wristpay_mqtt_login_failures_total'), 2)
  t.equal(sampleValue(s, 'wristpay_mqtt_publishes_denied_total'), 1)
  t.equal(sampleValue(s, 'wristpay_open_debts'), 0)
  t.equal(sampleValue(s, 'wristpay_online_topups_open', { provider: 'stancer', status: 'pending' }), 2)

  broker.connectedClients = 1
  broker.kioskTxReceived = 12
  debts = { wristbands: 2, cents: 1_950 }
  topups = [{ provider: 'stancer', status: 'attention', count: 1 }]
  s = await scrape(metrics)
  t.equal(sampleValue(s, 'wristpay_mqtt_clients_connected'), 1)
  t.equal(sampleValue(s, 'wristpay_mqtt_kiosk_transactions_received_total'), 12)
  t.equal(sampleValue(s, 'wristpay_open_debts'), 2)
  t.equal(sampleValue(s, 'wristpay_open_debts_cents'), 1_950)
  t.equal(sampleValue(s, 'wristpay_online_topups_open', { provider: 'stancer', status: 'attention' }), 1)
  t.equal(sampleValue(s, 'wristpay_online_topups_open', { provider: 'stancer', status: 'pending' }), undefined, 'a finished status is gone, not stuck at its last value')

  const types = metricTypes(await metrics.registry.metrics())
  t.equal(types.get('wristpay_mqtt_kiosk_transactions_received_total'), 'counter', 'read-on-scrape counts are counters (rate() works)')
  t.equal(types.get('wristpay_mqtt_clients_connected'), 'gauge')
})

t.test('the fleet gives kiosks by status, outbox depths and the kiosks\' tap-to-answer quantiles', async (t) => {
  let rows: FleetMetricsRow[] = [
    { kiosk: 'bar-1', status: 'online', outboxDepth: 0, tapToAnswerMs: { p50: 180, p99: 950 } },
    { kiosk: 'bar-2', status: 'lost', outboxDepth: 37 },
    { kiosk: 'cash-1', status: 'online', outboxDepth: 2, tapToAnswerMs: { p50: 220, p99: 1_400 } },
    { kiosk: 'food-1', status: 'never_seen' },
  ]
  let snapshots = 0
  const metrics = createGatewayMetrics({
    fleet: () => {
      snapshots++
      return rows
    },
  })
  let s = await scrape(metrics)
  t.equal(snapshots, 1, 'one fleet snapshot serves the three kiosk gauges of a scrape')
  t.equal(sampleValue(s, 'wristpay_kiosks', { status: 'online' }), 2)
  t.equal(sampleValue(s, 'wristpay_kiosks', { status: 'lost' }), 1)
  t.equal(sampleValue(s, 'wristpay_kiosks', { status: 'never_seen' }), 1)
  t.equal(sampleValue(s, 'wristpay_kiosks', { status: 'offline' }), 0, 'every status is there, with 0 when no kiosk has it')
  t.equal(sampleValue(s, 'wristpay_kiosk_outbox_transactions', { kiosk: 'bar-2' }), 37)
  t.equal(sampleValue(s, 'wristpay_kiosk_outbox_transactions', { kiosk: 'cash-1' }), 2)
  t.equal(sampleValue(s, 'wristpay_kiosk_outbox_transactions', { kiosk: 'food-1' }), undefined, 'no report, no number')
  t.equal(sampleValue(s, 'wristpay_kiosk_tap_to_answer_seconds', { kiosk: 'bar-1', quantile: '0.5' }), 0.18)
  t.equal(sampleValue(s, 'wristpay_kiosk_tap_to_answer_seconds', { kiosk: 'cash-1', quantile: '0.99' }), 1.4)
  t.equal(metricTypes(await metrics.registry.metrics()).get('wristpay_kiosk_tap_to_answer_seconds'), 'gauge')

  rows = [{ kiosk: 'bar-1', status: 'offline' }]
  const taken = snapshots
  s = await scrape(metrics)
  t.equal(snapshots, taken + 1, 'and the next scrape takes a fresh one')
  t.equal(sampleValue(s, 'wristpay_kiosks', { status: 'online' }), 0)
  t.equal(sampleValue(s, 'wristpay_kiosk_outbox_transactions', { kiosk: 'bar-2' }), undefined, 'a kiosk gone from the fleet leaves no stale series')
  t.equal(sampleValue(s, 'wristpay_kiosk_tap_to_answer_seconds', { kiosk: 'bar-1', quantile: '0.5' }), undefined)
})

t.test('without a source its metrics are absent, the process metrics are always there', async (t) => {
  const s = await scrape(createGatewayMetrics())
  t.equal(s.some((x) => x.name.startsWith('wristpay_kiosk')), false)
  t.equal(s.some((x) => x.name.startsWith('wristpay_mqtt')), false)
  t.ok(counterValue(s, 'process_cpu_user_seconds_total') >= 0 && sampleValue(s, 'process_start_time_seconds')! > 0, 'process metrics')
  t.ok(sampleValue(s, 'nodejs_heap_size_used_bytes')! > 0)
})

t.test('two registries share no wristpay metric', async (t) => {
  const a = createGatewayMetrics()
  const b = createGatewayMetrics()
  a.observeIngest({ kind: 'committed', size: 5, commitMs: 1 })
  a.observePortalLogin('success')
  const sb = await scrape(b)
  t.equal(sampleValue(sb, 'wristpay_ingest_batch_transactions_count'), 0)
  t.equal(sampleValue(sb, 'wristpay_portal_logins_total'), 0)
  t.equal(sampleValue(await scrape(a), 'wristpay_portal_logins_total'), 1)
})

t.test('open debts count each wristband once, with what it owes now', async (t) => {
  const debt = (uid: string, shortfall: number, balanceNow: number) => ({ txId: `tx-${uid}-${shortfall}`, uid, kiosk: 'bar-1', shortfall, bookedAt: 0, balanceNow, open: balanceNow < 0 })
  t.same(openDebtTotals([]), { wristbands: 0, cents: 0 })
  t.same(openDebtTotals([debt('A', 300, -500), debt('A', 200, -500), debt('B', 100, -100), debt('C', 400, 0)]), { wristbands: 2, cents: 600 })
})

t.test('open top-ups are counted per provider and status; finished ones are not', async (t) => {
  const db = openLedgerDatabase(':memory:')
  t.teardown(() => db.close())
  migrateGatewayDatabase(db)
  const insert = db.prepare(`INSERT INTO online_topups (id, provider, uid, amount, currency, status, booking_id, created_at, updated_at) VALUES (?, ?, 'U', 500, 'EUR', ?, ?, 0, 0)`)
  const rows: Array<[string, string]> = [['stancer', 'pending'], ['stancer', 'pending'], ['stancer', 'creating'], ['sumup', 'attention'], ['sumup', 'failed'], ['stancer', 'paid']]
  rows.forEach(([provider, status], i) => insert.run(`t${i}`, provider, status, status === 'paid' ? 'b1' : null))
  t.same(openTopupCounts(db)(), [
    { provider: 'stancer', status: 'creating', count: 1 },
    { provider: 'stancer', status: 'pending', count: 2 },
    { provider: 'sumup', status: 'attention', count: 1 },
  ])
})
