// The gateway daemon wired together: ledger (SQLite) + ingest + embedded MQTT
// broker + HTTP API. This module only connects the parts and owns their
// lifecycle; each part does its one job in its own module.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { SqlDatabase } from './sql/database.js'
import { openGatewayStorage, DB_FILE_NAME } from './storage.js'
import type { Logger } from 'pino'
import { systemClock, topics, type AlertEvent, type Clock, type GatewayState } from '../device-protocol/index.js'
import { createGatewayApis } from './apis.js'
import { createBroker, type Broker, type BrokerOptions, type Principal } from './broker.js'
import { connectExternalMessaging, externalMessagingSettings, kioskCredentialsOf, type ExternalMessaging } from './external-messaging.js'
import { kioskCommandsAdmin } from './commands/admin-route.js'
import { createKioskCommands, type KioskCommands } from './commands/index.js'
import type { GatewayConfig } from './config.js'
import { ensurePrivateDataDir } from './data-dir.js'
import { loadEventSetup } from './event-setup.js'
import { createHttpServer, type GatewayHealth, type HttpServer, type MountedPlugin, type StatsReply } from './http.js'
import { createIngest } from './ingest.js'
import { createWalSync } from './sql/wal-sync.js'
import { readTlsCredentials } from './tls-credentials.js'
import type { BookedEvent } from '../device-protocol/index.js'
import { createFleetTracker, DEFAULT_GATEWAY_STATE_INTERVAL_MS, openDebtCents, STATUS_CHANGE_DEBOUNCE_MS, takeGatewayBdSeq, type FleetSnapshot } from './fleet/index.js'
import { createKioskQueries } from './kiosk-queries.js'
import { createGatewayMetrics, openDebtTotals } from './metrics/collectors.js'
import { metricsMount } from './metrics/route.js'
import { DEFAULT_REGISTRATION_CODE_TTL_MS, kioskEnrollmentAdmin, kioskEnrollmentApi, type KioskEnrollmentDeps } from './kiosk-enrollment.js'
import { createPinAttempts, type GatewayPinAttempts, type PinAttemptLimits } from './pin-attempts.js'
import { operationsAdmin } from './operations-admin.js'
import { createPayoutRuns } from './payouts/payout-runs.js'
import { operatorConsole } from './console/plugin.js'
import { openTopupCounts } from './payments/open-topups.js'
import { sepaCheckOf } from './payments/sepa-checks.js'
import { operatorAccountsAuth, payoutsAdmin } from './payouts/payouts-admin.js'
import { renderPayoutFiles } from './payouts/payout-files.js'
import { createPayoutReturns } from './payouts/payout-returns.js'
import { createLedger, type Ledger } from './ledger/index.js'
import { kioskListAdmin } from './fleet/kiosk-list-route.js'
import { backupsAdmin } from './backup/admin-route.js'
import { createBackupSchedule, createBackups, DEFAULT_BACKUP_KEEP, ledgerAuditCheck, type Backups, type IntervalTimers } from './backup/backups.js'
import { storeBackupAdvice } from './backup/store-backups.js'

/** MQTT usernames of operators start with this; kiosk ids cannot contain ':'. */
export const OPERATOR_USERNAME_PREFIX = 'operator:'

export { DB_FILE_NAME }
export const GATEWAY_VERSION = '0.1.0'

export interface GatewayDeps {
  config: GatewayConfig
  logger: Logger
  clock?: Clock
  /**
   * More HTTP APIs on the gateway's server (the portal-api goes here): a list,
   * or a function that builds it from the gateway's parts (ledger, database).
   */
  httpPlugins?: readonly MountedPlugin[] | ((parts: GatewayParts) => readonly MountedPlugin[])
  /** Limits of PIN guessing; default DEFAULT_PIN_ATTEMPT_LIMITS (tests lower them). */
  pinAttemptLimits?: Partial<PinAttemptLimits>
  /** The timers of the backup schedule (config backup.intervalMinutes); default the real ones (tests pass a fake clock's). */
  backupTimers?: IntervalTimers
}

/** What an HTTP plugin of the gateway may build on. */
export interface GatewayParts {
  ledger: Ledger
  db: SqlDatabase
  /** The one limiter of PIN guessing: portal login, wristband link and tag switch all count here. */
  pinAttempts: GatewayPinAttempts
  config: GatewayConfig
  clock: Clock
  logger: Logger
}

export interface GatewayCounters {
  txSubmitted: number
  /** Transactions that arrived while stopping: not processed; the kiosk sends them again (it keeps them until a reply). */
  txDroppedWhileStopping: number
  ingestSubmitErrors: number
  publishErrors: number
  configPublishErrors: number
}

export interface Gateway {
  readonly ledger: Ledger
  /** The fleet as gateway/state publishes it (gateway/fleet/): rows worst first, and totals. */
  readonly fleet: { snapshot(): FleetSnapshot }
  /** Broker and HTTP listening, retained configs and `gateway/state` online published. */
  start(): Promise<void>
  /** Graceful: stop accepting, drain ingest, publish offline, close broker, HTTP and DB. Idempotent. */
  stop(): Promise<void>
  /** The bound addresses (real ports when 0 was configured); null before start(). */
  readonly mqttAddress: { host: string; port: number } | null
  /** The MQTT-over-WebSocket listener's address (config mqtt.websocket); null when off or before start(). */
  readonly mqttWebSocketAddress: { host: string; port: number } | null
  readonly httpAddress: { host: string; port: number } | null
  /** (Re)publishes the retained `kiosk/{id}/config` of the given kiosks, or all. */
  publishKioskConfigs(kioskIds?: readonly string[]): Promise<void>
  stats(): StatsReply
  /** What /healthz reports: the MQTT listener is up (and not stopping) and the ledger database answers. */
  health(): GatewayHealth
  /** Sends kiosks remote commands (lock, unlock, report_state, reload_config) and waits for their answers (README "Remote commands"). */
  readonly kioskCommands: KioskCommands
  /** Backups of the ledger database (config backup, README "Backups and restore"); undefined when backup.dir is not set. */
  readonly backups: Backups | undefined
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

/** Numbers only, integers: what the stats schema promises. */
function integerCounters(value: unknown): Record<string, number> {
  const out: Record<string, number> = {}
  if (typeof value !== 'object' || value === null) return out
  for (const [key, v] of Object.entries(value)) if (typeof v === 'number' && Number.isFinite(v)) out[key] = Math.trunc(v)
  return out
}

const EVENT_KIND = /^[a-z0-9_-]{1,32}$/
const ALERT_TOPIC = topics.event('alert')
const BOOKED_TOPIC = topics.event('booked')

export async function createGateway(deps: GatewayDeps): Promise<Gateway> {
  const { config } = deps
  const log = deps.logger
  const clock = deps.clock ?? systemClock

  // Online backups copy the SQLite file; PostgreSQL has its own tools (README "Backups and restore"), which the refusal names.
  if (config.store !== undefined && config.backup !== undefined) throw new Error(`${storeBackupAdvice(config.store)}\nRemove "backup" from the config: it is for the SQLite file.`)
  // The demo's set-up is no default: a gateway without one would run an event nobody wrote.
  const eventFile = config.eventFile
  if (eventFile === undefined) throw new Error('no event set-up: set eventFile (--event FILE, WRISTPAY_GATEWAY_EVENT_FILE)')
  // Validate the set-up before creating anything on disk: a typo must not leave a half-made data dir.
  const setup = loadEventSetup(eventFile)
  // The MQTT certificate too: a missing file or a key of another certificate stops the start here.
  const mqttTls = config.mqtt.tls ? readTlsCredentials(config.mqtt.tls) : undefined
  // An external broker (mqtt.url): its secrets are read here, so a missing or exposed one stops the start before anything is made.
  const externalMqtt = externalMessagingSettings(config.mqtt, process.env, { dataDir: config.dataDir, operators: config.operators })
  // 0700, or a refusal when it is open to others (it holds the secrets).
  ensurePrivateDataDir(config.dataDir)
  const storage = openGatewayStorage({ dataDir: config.dataDir, store: config.store })
  const { db } = storage
  log.info({ store: storage.engine, where: storage.where }, 'ledger database opened')
  let ledger: Ledger
  try {
    const pinSecret = config.pinSecretFile ? readFileSync(config.pinSecretFile) : undefined
    ledger = createLedger({ db, clock, logger: log.child({ component: 'ledger' }), ...(pinSecret ? { pinSecret } : {}) })
    for (const advisory of storage.advisories()) log.warn({ store: storage.engine }, advisory)
    const summary = ledger.registry.importEventSetup(setup)
    const { retirement } = summary
    log.info(
      {
        event: setup.event.name,
        booths: summary.booths,
        products: summary.products,
        kiosks: summary.kiosks,
        wristbands: summary.wristbands,
        configChanged: summary.configChanged.length,
        kiosksRetired: retirement.kiosksRetired.length,
        wristbandsRetired: retirement.wristbandsRetired,
        keyConflicts: summary.keyChanges.filter((c) => c.change === 'conflict_admin_key_kept').length,
      },
      'event set-up imported',
    )
  } catch (err) {
    storage.close()
    throw err
  }

  const counts: GatewayCounters = { txSubmitted: 0, txDroppedWhileStopping: 0, ingestSubmitErrors: 0, publishErrors: 0, configPublishErrors: 0 }
  let stopping = false
  /** Publishes begun and not finished, and who waits for none to be left (stop). */
  let publishing = 0
  let publishesDone: Array<() => void> = []
  // Assigned right below; publish() is only called once the broker exists.
  let broker: Broker

  /** Publishes and never rejects: a failed publish is counted and logged, the caller goes on. */
  function publish(topic: string, payload: unknown, options: { qos: 0 | 1; retain?: boolean }): Promise<void> {
    // Every event and alert of the gateway passes here: the fleet's totals count them.
    if (topic === ALERT_TOPIC) fleet.alert()
    else if (topic === BOOKED_TOPIC) fleet.booked(payload as BookedEvent)
    // Every sale publishes a booked event at QoS 0, which no broker keeps for anyone: with no operator
    // connected it would reach nobody, so it is not made (its JSON, its buffer, aedes' publish).
    if (options.qos === 0 && options.retain !== true && broker.mayHaveReaders?.(topic) === false) return Promise.resolve()
    const sent = broker.publish(topic, JSON.stringify(payload), options)
    publishing++
    // One promise after the broker's (every sale publishes twice): failures are counted and logged here, never rejected.
    return sent.then(published, (err: unknown) => {
      counts.publishErrors++
      log.error({ err, topic }, 'mqtt publish failed')
      published()
    })
  }

  function published(): void {
    publishing--
    if (publishing > 0) return
    const waiters = publishesDone
    publishesDone = []
    for (const wake of waiters) wake()
  }

  /** Resolves once every publish begun so far (and any begun meanwhile) has finished. */
  function publishesIdle(): Promise<void> {
    return publishing === 0 ? Promise.resolve() : new Promise((resolve) => publishesDone.push(resolve))
  }

  const pinAttemptLimits = { ...config.pinAttempts, ...deps.pinAttemptLimits }
  const pinAttempts = createPinAttempts({ clock, logger: log, limits: pinAttemptLimits })
  // This gateway's own metrics registry (GET /metrics): its gauges read these parts on every scrape.
  const metrics = createGatewayMetrics({
    broker: () => broker.counters(),
    openDebts: () => openDebtTotals(ledger.debts()),
    openTopups: openTopupCounts(db),
    // Declared below; read only when scraped, after the gateway is built.
    fleet: () => fleet.snapshot().rows,
  })
  // The fleet view (gateway/fleet/): kiosk states from the broker, answers from ingest, the kiosks of the registry.
  // Booth names come from the kiosks' configs, built once per kiosk until configs are published again.
  const booths = new Map<string, string>()
  function boothOf(kioskId: string, pass?: Map<string, unknown>): string {
    let booth = booths.get(kioskId)
    if (booth === undefined) {
      try {
        booth = ledger.registry.kioskConfig(kioskId, pass).booth
      } catch {
        booth = ''
      }
      booths.set(kioskId, booth)
    }
    return booth
  }
  const fleet = createFleetTracker({
    now: () => clock.now(),
    // One pass over all kiosks: their configs' common part (the blocklist, tag variants: scans of the wristbands) read once.
    kiosks: () => {
      const pass = new Map<string, unknown>()
      return ledger.registry.kioskIds().map((id) => ({ id, booth: boothOf(id, pass) }))
    },
    openDebtsCents: () => openDebtCents(ledger.debts()),
  })
  // Group commit on the SQLite file: the main thread does not wait for the disk, the answers do.
  const ledgerSync = storage.sqlite === undefined ? undefined : createWalSync(storage.sqlite)
  const ingest = createIngest({
    ledger,
    logger: log.child({ component: 'ingest' }),
    clock,
    maxBatch: config.maxBatch,
    ...(ledgerSync === undefined ? {} : { durability: ledgerSync }),
    unsealPin: (jwe) => ledger.registry.unsealPin(jwe),
    pinAttempts,
    observe: (observation) => {
      metrics.observeIngest(observation)
      fleet.observe(observation)
    },
    onConfigsChanged: () => void publishKioskConfigs(ledger.registry.refreshKioskConfigs()),
    // publish() never rejects (it counts and logs a failure): nothing is returned, so ingest chains no catch of its own on each.
    publishReply: (kioskId, message) => void publish(topics.kioskReply(kioskId), message, { qos: 1 }),
    publishEvent: (kind, payload) => {
      if (!EVENT_KIND.test(kind)) {
        log.error({ kind: String(kind).slice(0, 64) }, 'event kind is not a topic level; not published')
        return
      }
      // Booked events are many and informational: QoS 0. Alerts must arrive: QoS 1.
      void publish(topics.event(kind), payload, { qos: kind === 'booked' ? 0 : 1 })
    },
  })

  // Online backups (gateway/backup/): each checked with the ledger audit; a failed one is an operator alert.
  const backups = config.backup
    ? createBackups({
        // Refused with a store at the start (above): backups are of the SQLite file.
        db: storage.sqlite!,
        dir: config.backup.dir,
        keep: config.backup.keep ?? DEFAULT_BACKUP_KEEP,
        clock,
        logger: log.child({ component: 'backup' }),
        check: ledgerAuditCheck,
        alert: (kind, message) => void publish(ALERT_TOPIC, { kind, message: message.slice(0, 1024), at: clock.now() } satisfies AlertEvent, { qos: 1 }),
      })
    : undefined
  const backupSchedule = backups && config.backup?.intervalMinutes ? createBackupSchedule(backups, config.backup.intervalMinutes * 60_000, deps.backupTimers) : undefined

  const queries = createKioskQueries({
    ledger,
    clock,
    logger: log.child({ component: 'queries' }),
    publishReply: (kioskId, message) => publish(topics.kioskReply(kioskId), message, { qos: 1 }),
    alert: (kind, message, kioskId) => void publish(topics.event('alert'), { kind, message, kiosk: kioskId, at: clock.now() } satisfies AlertEvent, { qos: 1 }),
  })

  const operators = new Map(config.operators.map((op) => [op.name, sha256(op.token)]))
  // Admin operators may also send kiosks commands and read their answers (the broker's ACLs).
  const adminOperators = new Set(config.operators.filter((op) => op.roles?.includes('admin')).map((op) => op.name))
  function authenticate(username: string | undefined, password: string | undefined): Principal | null {
    if (username === undefined || password === undefined) return null
    if (username.startsWith(OPERATOR_USERNAME_PREFIX)) {
      const name = username.slice(OPERATOR_USERNAME_PREFIX.length)
      const expected = operators.get(name)
      // Hash first so the comparison is constant-time whatever the lengths.
      return expected && timingSafeEqual(sha256(password), expected) ? { role: 'operator', name, ...(adminOperators.has(name) ? { admin: true } : {}) } : null
    }
    return ledger.registry.kioskAuth(username, password) ? { role: 'kiosk', kioskId: username } : null
  }

  const brokerOptions: BrokerOptions = {
    authenticate,
    logger: log.child({ component: 'broker' }),
    maxPacketBytes: config.maxPacketBytes,
    ...(mqttTls ? { tls: mqttTls } : {}),
    // The connection and login limits among the mqtt settings (host and port are ignored there).
    limits: config.mqtt,
    onKioskTx(kioskId, payload) {
      if (stopping) {
        counts.txDroppedWhileStopping++
        return
      }
      try {
        counts.txSubmitted++
        ingest.submit(kioskId, payload)
      } catch (err) {
        counts.ingestSubmitErrors++
        log.error({ err, kioskId }, 'ingest refused a message')
      }
    },
    onKioskState(kioskId, state) {
      const outcome = fleet.kioskState(kioskId, state)
      if (outcome === 'stale') log.info({ kioskId, status: state.status, bdSeq: state.bdSeq }, 'stale kiosk death ignored: the kiosk has connected again since')
    },
    isStaleKioskState: (kioskId, state) => fleet.isStale(kioskId, state),
    onKioskQuery: (kioskId, payload) => {
      if (!stopping) queries.handle(kioskId, payload)
    },
    onKioskCommandAnswer: (kioskId, payload) => kioskCommands.handleAnswer(kioskId, payload),
  }
  // The plain kiosk tokens at hand for an external broker's logins (the registry keeps hashes only): the event set-up's.
  let setupTokens: ReadonlyMap<string, string> = new Map(setup.kiosks.map((k) => [k.id, k.token]))
  let external: ExternalMessaging | undefined
  const brokerReady: Promise<Broker> = externalMqtt
    ? connectExternalMessaging({
        settings: externalMqtt,
        brokerOptions,
        kiosks: () => kioskCredentialsOf(db),
        alert: (kind, message) => void publish(ALERT_TOPIC, { kind, message: message.slice(0, 1024), at: clock.now() } satisfies AlertEvent, { qos: 1 }),
        logger: log.child({ component: 'broker' }),
        // A kiosk's tx is acknowledged to the broker only once its batch is committed: a killed gateway loses none.
        kioskTxSettled: () => ingest.settled(),
      }).then((messaging) => {
        external = messaging
        return messaging.broker
      })
    : createBroker(brokerOptions)
  // The gateway's own sender of kiosk commands (also the console's and the admin route's); broker is assigned before any send.
  const kioskCommands: KioskCommands = createKioskCommands({
    publish: (topic, payload) => broker.publish(topic, payload, { qos: 1 }),
    clock,
    newId: randomUUID,
    logger: log.child({ component: 'kiosk-commands' }),
  })
  try {
    broker = await brokerReady
  } catch (err) {
    storage.close()
    throw err
  }

  function health(): GatewayHealth {
    // A database that answers reads may still refuse writes (a full disk): ingest knows, and says so until a batch commits again.
    const storageFault = ingest.storageFault()
    return { mqtt: broker.address() !== null && !stopping, db: storage.healthy(), ...(storageFault === undefined ? {} : { storage: storageFault }) }
  }

  function stats(): StatsReply {
    const ledgerStats = ledger.stats()
    return {
      ledger: ledgerStats,
      ingest: integerCounters(ingest.counters()),
      broker: integerCounters(broker.counters()),
      gateway: integerCounters({ ...counts, ...Object.fromEntries(Object.entries(queries.counters()).map(([k, v]) => [`queries_${k}`, v])), ...Object.fromEntries(Object.entries(pinAttempts.counters()).map(([k, v]) => [`pins_${k}`, v])) }),
    }
  }

  const parts: GatewayParts = { ledger, db, config, clock, logger: log, pinAttempts }
  // How guests' browsers reach us (payment return URLs); with port 0 known only after listen.
  const publicBaseUrl = () => {
    if (config.portal.publicBaseUrl) return config.portal.publicBaseUrl
    const bound = http.address()
    return `http://${config.http.host}:${bound?.port ?? config.http.port}`
  }
  const apis = createGatewayApis(parts, {
    publicBaseUrl,
    alert: ({ kind, message }) => void publish(topics.event('alert'), { kind, message: message.slice(0, 1024), at: clock.now() }, { qos: 1 }),
    // A returned transfer finds its payout and invalidates the guest's payout data (gateway/payouts/).
    payoutReturns: createPayoutReturns({ db, clock }),
    publishKioskConfigs: (ids) => publishKioskConfigs(ids),
    observePortalLogin: metrics.observePortalLogin,
    // With PostgreSQL other gateways may share the database: each background job runs where its lease is held.
    ...(storage.leaseFor === undefined ? {} : { leaseFor: storage.leaseFor }),
  })
  const extraPlugins = typeof deps.httpPlugins === 'function' ? deps.httpPlugins(parts) : (deps.httpPlugins ?? [])
  // Kiosks made by operators and enrolled with one-time registration codes (README "Enrolling a kiosk with a registration code").
  const enrollment: KioskEnrollmentDeps = {
    registry: ledger.registry,
    clock,
    logger: log,
    codeTtlMs: config.enrollment?.codeTtlMs ?? DEFAULT_REGISTRATION_CODE_TTL_MS,
    ...(config.enrollment?.gatewayUrl === undefined ? {} : { gatewayUrl: config.enrollment.gatewayUrl }),
    // With an external broker kiosks are sent to it (unless enrollment.mqttUrl says how they reach it).
    ...((config.enrollment?.mqttUrl ?? config.mqtt.url) === undefined ? {} : { mqttUrl: (config.enrollment?.mqttUrl ?? config.mqtt.url)! }),
    mqttListener: () => ({ host: config.mqtt.host, port: broker.address()?.port ?? config.mqtt.port, tls: config.mqtt.tls !== undefined }),
    publishKioskConfigs: (ids) => publishKioskConfigs(ids),
    endKioskSessions: (retired, newToken) => endKioskSessions(retired, newToken),
    // The new token goes to the external broker's login of the kiosk before the code is spent (the registry keeps only its hash).
    ...(externalMqtt ? { provisionKioskLogin: (kioskId: string, token: string) => external?.provisionKioskLogin(kioskId, token, setupTokens) ?? Promise.resolve(false) } : {}),
  }
  // The operator console (README "The operator console"): the page, fed over the broker's WebSocket
  // listener, and its API under /console/api/ with the operators' own credentials.
  const consoleMount: MountedPlugin = {
    prefix: '/console',
    throttleCredentials: 'operator console',
    plugin: operatorConsole({
      operators: config.operators,
      ledger,
      publishKioskConfigs: (ids) => publishKioskConfigs(ids),
      sendKioskCommand: (request) => kioskCommands.send(request),
      // With mqtt.tls the WebSocket listener speaks wss only: the page must be told so.
      mqttWebSocket: () => {
        const listener = broker.webSocketAddress()
        return listener === null ? null : { port: listener.port, tls: config.mqtt.tls !== undefined }
      },
      enrollment,
    }),
  }

  const { host: _httpHost, port: _httpPort, ...httpLimits } = config.http
  const http: HttpServer = createHttpServer({
    logger: log,
    limits: httpLimits,
    adminToken: config.adminToken,
    health,
    kioskExists: (kioskId) => ledger.registry.kioskIds().includes(kioskId),
    enrollKiosk: (kioskId, key) => ledger.registry.enrollKiosk(kioskId, key),
    stats,
    adminPlugins: [
      operationsAdmin({
        ledger,
        publishKioskConfigs: (ids) => publishKioskConfigs(ids),
        reloadEventSetup: () => {
          const reloaded = loadEventSetup(eventFile)
          const summary = ledger.registry.importEventSetup(reloaded)
          setupTokens = new Map(reloaded.kiosks.map((k) => [k.id, k.token]))
          return summary
        },
        endKioskSessions,
      }),
      // Payout runs: four eyes, so the operator's own credentials name who acts (README "Paying guests back").
      payoutsAdmin({
        runs: createPayoutRuns({
          db,
          ledger,
          clock,
          logger: log,
          allowedCountryCodes: () => config.portal.allowedCountryCodes,
          // The provider's SEPA checks exist only with the stancer provider: without it nobody is checked or flagged.
          ...(config.payments.stancer ? { sepaCheck: sepaCheckOf(db) } : {}),
        }),
        operatorAuth: operatorAccountsAuth(config.operators),
        // The bank files need the organiser's account (portal.bankAccount of the event set-up); without it the export answers the bookings only.
        renderFiles: (run) => {
          const account = ledger.registry.portalBankAccount()
          if (account === undefined) return {}
          return renderPayoutFiles(run, { debtor: { holder: account.holder, iban: account.iban, ...(account.bic === undefined ? {} : { bic: account.bic }) }, eventName: ledger.registry.event()?.name ?? 'wristpay' })
        },
      }),
      ...apis.adminPlugins,
      kioskEnrollmentAdmin(enrollment),
      backupsAdmin({ backups, store: config.store }),
      kioskListAdmin({ fleetRows: () => fleet.snapshot().rows, kioskPublicKey: (kioskId) => ledger.registry.kioskPublicKey(kioskId) }),
      kioskCommandsAdmin({
        commands: kioskCommands,
        kioskExists: (kioskId) => ledger.registry.kioskIds().includes(kioskId),
        operatorAuth: operatorAccountsAuth(config.operators),
        adminOperatorAuth: operatorAccountsAuth(config.operators.filter((op) => op.roles?.includes('admin'))),
      }),
    ],
    plugins: [...apis.plugins, ...extraPlugins, consoleMount, { plugin: kioskEnrollmentApi(enrollment), prefix: '' }, metricsMount({ registry: metrics.registry, ...(config.metrics?.token === undefined ? {} : { token: config.metrics.token }) })],
    docs: { title: 'wristpay gateway', version: GATEWAY_VERSION, portalPrefix: config.portal.prefix },
  })

  async function publishKioskConfigs(kioskIds: readonly string[] = ledger.registry.kioskIds()): Promise<void> {
    // A changed config may name another booth.
    booths.clear()
    // Built in one synchronous loop: what every config holds alike (blocklist, tag variants) is read once.
    const pass = new Map<string, unknown>()
    await Promise.all(
      kioskIds.map((kioskId) => {
        try {
          return publish(topics.kioskConfig(kioskId), ledger.registry.kioskConfig(kioskId, pass), { qos: 1, retain: true })
        } catch (err) {
          counts.configPublishErrors++
          log.error({ err, kioskId }, 'kiosk config not published')
          return Promise.resolve()
        }
      }),
    )
  }

  /**
   * Retired kiosks lose their live connection and their retained config (so
   * nothing is left on the broker for them); a kiosk whose token changed only
   * its connection: it logs in again with the new token or not at all.
   */
  async function endKioskSessions(retired: readonly string[], newToken: readonly string[] = []): Promise<void> {
    for (const kioskId of [...retired, ...newToken]) broker.disconnectKiosk(kioskId)
    // An external broker: retired kiosks' logins deleted, changed tokens set (the broker closes those connections).
    if (external && retired.length + newToken.length > 0) await external.provisionKiosks(setupTokens)
    // An empty retained message deletes the retained one (MQTT 3.1.1, 3.3.1.3); publish() would send JSON "".
    await Promise.all(
      retired.map((kioskId) =>
        broker.publish(topics.kioskConfig(kioskId), Buffer.alloc(0), { qos: 1, retain: true }).catch((err: unknown) => {
          counts.publishErrors++
          log.error({ err, kioskId }, 'retained config of a retired kiosk not cleared')
        }),
      ),
    )
  }

  // gateway/state (contract C2): at start, every monitoring.stateIntervalMs, soon after a kiosk's status changes, offline on stop.
  const stateIntervalMs = config.monitoring?.stateIntervalMs ?? DEFAULT_GATEWAY_STATE_INTERVAL_MS
  let bdSeq: number | undefined
  let startedAt: number | undefined
  let stateTimer: NodeJS.Timeout | undefined
  let stateSoonTimer: NodeJS.Timeout | undefined

  /** Integer counters of the gateway, the broker and ingest, under prefixes (keys of at most 64 characters). */
  function stateCounters(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [prefix, values] of [['', counts], ['broker_', broker.counters()], ['ingest_', ingest.counters()]] as const) {
      for (const [key, value] of Object.entries(integerCounters(values))) out[`${prefix}${key}`.slice(0, 64)] = value
    }
    return out
  }

  function gatewayState(status: GatewayState['status']): GatewayState {
    const state: GatewayState = { status, at: clock.now(), version: GATEWAY_VERSION }
    if (bdSeq !== undefined) state.bdSeq = bdSeq
    if (startedAt !== undefined) state.startedAt = startedAt
    if (status === 'offline') return state
    const { rows, totals } = fleet.snapshot()
    return { ...state, counters: stateCounters(), totals, fleet: rows }
  }

  function publishGatewayState(): Promise<void> {
    let state: GatewayState
    try {
      state = gatewayState('online')
    } catch (err) {
      // The database went away under us (stopping): the next period tries again.
      log.error({ err }, 'gateway state not built')
      return Promise.resolve()
    }
    return publish(topics.gatewayState, state, { qos: 1, retain: true })
  }

  fleet.onStatusChange(() => {
    if (!started || stopping || stateSoonTimer) return
    stateSoonTimer = setTimeout(() => {
      stateSoonTimer = undefined
      if (!stopping) void publishGatewayState()
    }, STATUS_CHANGE_DEBOUNCE_MS)
  })

  let started = false
  let stopped: Promise<void> | null = null

  async function stop(): Promise<void> {
    stopped ??= (async () => {
      stopping = true
      log.info('gateway stopping')
      broker.stopAccepting()
      // Let ingest finish what it has: those kiosks get their replies before the broker closes.
      try {
        await ingest.drain()
      } catch (err) {
        log.error({ err }, 'ingest drain failed')
      }
      clearInterval(stateTimer)
      clearTimeout(stateSoonTimer)
      // A backup still copying finishes (or fails) before the database closes under it.
      backupSchedule?.stop()
      await backups?.idle()
      if (started) await publish(topics.gatewayState, gatewayState('offline'), { qos: 1, retain: true })
      await publishesIdle()
      kioskCommands.close()
      await broker.close()
      await http.close()
      await apis.stop()
      storage.close()
      ledgerSync?.close()
      log.info('gateway stopped')
    })()
    return stopped
  }

  return {
    ledger,
    fleet: { snapshot: () => fleet.snapshot() },
    get mqttAddress() {
      return broker.address()
    },
    get mqttWebSocketAddress() {
      return broker.webSocketAddress()
    },
    get httpAddress() {
      return http.address()
    },
    publishKioskConfigs,
    stats,
    health,
    kioskCommands,
    backups,
    async start() {
      if (started || stopping) throw new Error('gateway already started or stopped')
      started = true
      try {
        // An external broker gets every kiosk's login first; a failure stops the start (it is in the log).
        if (external && !(await external.provisionKiosks(setupTokens))) throw new Error('provisioning the kiosks\' logins in the external mqtt broker failed (see the log)')
        // Retained before the listener opens: the first kiosk to connect already finds its config.
        await publishKioskConfigs()
        bdSeq = takeGatewayBdSeq(db)
        startedAt = clock.now()
        await publishGatewayState()
        stateTimer = setInterval(() => void publishGatewayState(), stateIntervalMs)
        const mqtt = await broker.listen(config.mqtt.host, config.mqtt.port)
        const mqttWebSocket = config.mqtt.websocket ? await broker.listenWebSocket(config.mqtt.websocket.host, config.mqtt.websocket.port) : null
        const httpAddress = await http.listen(config.http.host, config.http.port)
        apis.start()
        backupSchedule?.start()
        log.info({ mqtt, ...(mqttWebSocket ? { mqttWebSocket } : {}), http: httpAddress }, 'gateway started')
      } catch (err) {
        await stop()
        throw err
      }
    },
    stop,
  }
}
