// Every metric of a gateway, defined in one place with its help text, in the
// gateway's own prom-client Registry (never the global default registry: a
// process may hold several gateways, tests many). Two kinds:
// - counted as things happen (transactions, commits, portal logins): the
//   collectors (collectors.ts) feed them from ingest's and the portal's observers;
// - read when Prometheus scrapes (broker, fleet, debts, pending top-ups): gauges
//   and counters whose `collect` callback asks their source, so no timer runs
//   and a scrape always sees the current value.
// Names start with wristpay_, carry their unit (_seconds, _cents) and counters
// end in _total. Label values are bounded sets (transaction types, refusal
// reasons, providers, kiosk ids): never a wristband, a token or an amount.
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { registerProcessMetrics } from './process-metrics.js'

/** A kiosk as the fleet view knows it; gateway/fleet's FleetRow has these fields. */
export interface FleetMetricsRow {
  kiosk: string
  status: string
  outboxDepth?: number
  /** Measured by the kiosk over its last minute, from the tap to the answer on its screen. */
  tapToAnswerMs?: { p50: number; p99: number }
}

/** The broker's running counts (gateway/broker.ts BrokerCounters). */
export interface BrokerMetricsCounters {
  connectedClients: number
  pendingConnections: number
  kioskTxReceived: number
  messagesFromClients: number
  messagesFromGateway: number
  authFailures: number
  authThrottled: number
  deniedPublishes: number
  deniedSubscribes: number
  connectionsRefused: number
  sessionTakeovers: number
  clientIdRefusals: number
  oversizedPackets: number
  invalidKioskStates: number
  clientErrors: number
}

/** What the scrape-time metrics read; each is optional (its metrics stay empty without it). */
export interface MetricsSources {
  broker?: () => BrokerMetricsCounters
  /** Wristbands below zero after offline sales, and the cents they owe together. */
  openDebts?: () => { wristbands: number; cents: number }
  /** Online top-ups not finished, per provider and status (creating, pending, attention). */
  openTopups?: () => ReadonlyArray<{ provider: string; status: string; count: number }>
  /** The fleet view's rows (gateway/fleet/); kiosk metrics stay empty without it. */
  fleet?: () => readonly FleetMetricsRow[]
}

/** Statuses a kiosk row can have (C2 FleetRow.status): each is exposed, with 0 when no kiosk has it. */
export const KIOSK_STATUSES = ['online', 'offline', 'lost', 'never_seen'] as const

/** Counters of the broker and the metric each becomes (read on scrape). */
const BROKER_COUNTERS: ReadonlyArray<{ key: keyof BrokerMetricsCounters; name: string; help: string }> = [
  { key: 'kioskTxReceived', name: 'wristpay_mqtt_kiosk_transactions_received_total', help: 'Transaction messages kiosks published on their tx topic (before ingest checks them).' },
  { key: 'messagesFromClients', name: 'wristpay_mqtt_messages_received_total', help: 'Messages MQTT clients (kiosks, operators) published that the ACL let through, on every topic.' },
  { key: 'messagesFromGateway', name: 'wristpay_mqtt_messages_published_total', help: 'Messages the gateway published on its broker: replies, configs, states and events.' },
  { key: 'authFailures', name: 'wristpay_mqtt_login_failures_total', help: 'MQTT logins refused for wrong or missing credentials (throttled ones included).' },
  { key: 'authThrottled', name: 'wristpay_mqtt_logins_throttled_total', help: 'MQTT logins refused unchecked because their address is blocked after failed logins.' },
  { key: 'deniedPublishes', name: 'wristpay_mqtt_publishes_denied_total', help: 'Publishes the ACL refused (the client is disconnected).' },
  { key: 'deniedSubscribes', name: 'wristpay_mqtt_subscribes_denied_total', help: 'Subscriptions the ACL refused.' },
  { key: 'connectionsRefused', name: 'wristpay_mqtt_connections_refused_total', help: 'Connections refused because the connection limits were reached.' },
  { key: 'sessionTakeovers', name: 'wristpay_mqtt_session_takeovers_total', help: 'Kiosk connections replaced by a newer one of the same kiosk.' },
  { key: 'clientIdRefusals', name: 'wristpay_mqtt_client_id_refusals_total', help: "Logins refused because the client id belongs to another account." },
  { key: 'oversizedPackets', name: 'wristpay_mqtt_oversized_packets_total', help: 'Connections closed for a packet above maxPacketBytes.' },
  { key: 'invalidKioskStates', name: 'wristpay_mqtt_invalid_kiosk_states_total', help: 'Kiosk state messages that failed their schema (kept, but counted).' },
  { key: 'clientErrors', name: 'wristpay_mqtt_client_errors_total', help: 'MQTT client and connection errors.' },
]

const MS_PER_SECOND = 1000

/** The metrics the collectors feed as things happen. */
export interface EventMetrics {
  transactions: Counter<'type' | 'result'>
  refusals: Counter<'reason'>
  replays: Counter<'result'>
  answerDelaySeconds: Histogram
  batchTransactions: Histogram
  commitSeconds: Histogram
  syncWaitSeconds: Histogram
  commitFailures: Counter
  dropped: Counter
  portalLogins: Counter
  portalLoginFailures: Counter<'reason'>
}

export interface MetricsRegistry {
  registry: Registry
  events: EventMetrics
}

/** A counter whose value is read from `read` on every scrape (it must only grow). */
function counterReadOnScrape(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset()
      this.inc(Math.max(0, read()))
    },
  })
}

/**
 * `read`, called at most once per scrape: the registry calls every metric's
 * collect in one synchronous pass, so the fleet's snapshot is built once for
 * its three gauges and forgotten before the next scrape.
 */
function oncePerScrape<T>(read: () => T): () => T {
  let cached: { value: T } | undefined
  return () => {
    if (cached === undefined) {
      cached = { value: read() }
      queueMicrotask(() => (cached = undefined))
    }
    return cached.value
  }
}

export function createMetricsRegistry(sources: MetricsSources = {}): MetricsRegistry {
  const registry = new Registry()
  const registers = [registry]

  const events: EventMetrics = {
    transactions: new Counter({
      name: 'wristpay_transactions_total',
      help: 'Kiosk transactions answered, by type (sale, topup_cash, ...; unknown when the message was not readable) and result (accepted or rejected). A transaction sent again is counted once (see wristpay_transaction_replays_total).',
      labelNames: ['type', 'result'],
      registers,
    }),
    refusals: new Counter({
      name: 'wristpay_transaction_refusals_total',
      help: 'Kiosk transactions rejected, by the reason the kiosk was told (insufficient_balance, bad_signature, ...). Replays are not counted again.',
      labelNames: ['reason'],
      registers,
    }),
    replays: new Counter({
      name: 'wristpay_transaction_replays_total',
      help: 'Transactions a kiosk sent again and got their first answer again (nothing booked twice), by that answer.',
      labelNames: ['result'],
      registers,
    }),
    answerDelaySeconds: new Histogram({
      name: 'wristpay_ingest_answer_delay_seconds',
      help: "Time from a transaction's arrival at the gateway to its answer (signature check, queueing, the commit), by the gateway's clock.",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    batchTransactions: new Histogram({
      name: 'wristpay_ingest_batch_transactions',
      help: 'Transactions committed per SQLite transaction (ingest batches what arrives together, up to maxBatch).',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 512, 1000, 2500, 10000],
      registers,
    }),
    commitSeconds: new Histogram({
      name: 'wristpay_ingest_commit_seconds',
      help: 'Duration of one ingest commit (one SQLite transaction), on a monotonic clock; the sync to disk its answers wait for runs after it, off the main thread, and is not included.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    syncWaitSeconds: new Histogram({
      name: 'wristpay_ingest_sync_wait_seconds',
      help: 'From an ingest commit to the sync of the ledger log that put it on disk, when its answers go out (SQLite file only), on a monotonic clock.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    commitFailures: new Counter({
      name: 'wristpay_ingest_commit_failures_total',
      help: 'Ingest commits that failed: nothing of the batch was booked or answered, the kiosks send again.',
      registers,
    }),
    dropped: new Counter({
      name: 'wristpay_ingest_dropped_total',
      help: 'Transactions dropped unanswered because the ingest queue was full (the kiosk sends them again).',
      registers,
    }),
    portalLogins: new Counter({
      name: 'wristpay_portal_logins_total',
      help: 'Successful guest logins to the customer portal.',
      registers,
    }),
    portalLoginFailures: new Counter({
      name: 'wristpay_portal_login_failures_total',
      help: 'Refused guest logins to the customer portal, by reason: invalid_pin, throttled (too many attempts or wrong PINs), wristband_blocked, invalid_request, error.',
      labelNames: ['reason'],
      registers,
    }),
  }
  for (const result of ['accepted', 'rejected']) events.replays.labels({ result }).inc(0)

  const { broker, openDebts, openTopups, fleet } = sources

  if (broker) {
    new Gauge({
      name: 'wristpay_mqtt_clients_connected',
      help: 'MQTT clients connected now (kiosks and operators).',
      registers,
      collect() {
        this.set(broker().connectedClients)
      },
    })
    new Gauge({
      name: 'wristpay_mqtt_connections_pending',
      help: 'MQTT connections open but not yet logged in.',
      registers,
      collect() {
        this.set(broker().pendingConnections)
      },
    })
    for (const { key, name, help } of BROKER_COUNTERS) counterReadOnScrape(registry, name, help, () => broker()[key])
  }

  if (openDebts) {
    new Gauge({
      name: 'wristpay_open_debts',
      help: 'Wristbands below zero after offline sales (debts not yet paid back).',
      registers,
      collect() {
        this.set(openDebts().wristbands)
      },
    })
    new Gauge({
      name: 'wristpay_open_debts_cents',
      help: 'What the wristbands below zero owe together, in cents.',
      registers,
      collect() {
        this.set(openDebts().cents)
      },
    })
  }

  if (openTopups) {
    new Gauge({
      name: 'wristpay_online_topups_open',
      help: "Online top-ups not finished, by provider and status: creating (the provider was not answered yet), pending (the guest has not paid or the provider not confirmed), attention (an operator must look: README 'Online top-ups').",
      labelNames: ['provider', 'status'],
      registers,
      collect() {
        this.reset()
        for (const { provider, status, count } of openTopups()) this.set({ provider, status }, count)
      },
    })
  }

  if (fleet) {
    const rows = oncePerScrape(fleet)
    new Gauge({
      name: 'wristpay_kiosks',
      help: 'Kiosks of the event set-up by status: online, offline (stopped cleanly), lost (its connection died), never_seen.',
      labelNames: ['status'],
      registers,
      collect() {
        this.reset()
        const counts = new Map<string, number>(KIOSK_STATUSES.map((s) => [s, 0]))
        for (const row of rows()) counts.set(row.status, (counts.get(row.status) ?? 0) + 1)
        for (const [status, n] of counts) this.set({ status }, n)
      },
    })
    new Gauge({
      name: 'wristpay_kiosk_outbox_transactions',
      help: "Transactions waiting in a kiosk's outbox for the gateway's answer (its outbox depth), as the kiosk last reported.",
      labelNames: ['kiosk'],
      registers,
      collect() {
        this.reset()
        for (const row of rows()) if (row.outboxDepth !== undefined) this.set({ kiosk: row.kiosk }, row.outboxDepth)
      },
    })
    new Gauge({
      name: 'wristpay_kiosk_tap_to_answer_seconds',
      help: 'Time from the tap to the answer on the kiosk, measured by the kiosk over its last minute, per kiosk and quantile (0.5, 0.99). A gauge per quantile, not a histogram: kiosks report these quantiles, not their samples, and quantiles of different kiosks cannot be added up.',
      labelNames: ['kiosk', 'quantile'],
      registers,
      collect() {
        this.reset()
        for (const row of rows()) {
          if (row.tapToAnswerMs === undefined) continue
          this.set({ kiosk: row.kiosk, quantile: '0.5' }, row.tapToAnswerMs.p50 / MS_PER_SECOND)
          this.set({ kiosk: row.kiosk, quantile: '0.99' }, row.tapToAnswerMs.p99 / MS_PER_SECOND)
        }
      },
    })
  }

  registerProcessMetrics(registry)
  return { registry, events }
}
