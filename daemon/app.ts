// Wires the kiosk daemon: keys + outbox + local config + reader + MQTT link +
// kiosk flow + local HTTP API, with a graceful start/stop. bin.ts and the demo
// use this; each part stays testable on its own.
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { Clock, Product, TillProfile, CashRegisterRef, DeviceStatus, KioskState } from '../device-protocol/index.js'
import { ConfigError, readMqttCa, type KioskDaemonConfig } from './config.js'
import { loadOrCreateKeys } from './keys.js'
import { createOutbox, type Outbox } from './outbox.js'
import { createLocalConfigStore, type ApplyResult, type LocalConfigStore } from './local-config.js'
import { createRemoteCommandStore } from './remote-command-store.js'
import { createRemoteCommands, lockMessage, type RemoteCommands } from './remote-commands.js'
import { createMqttLink, type LinkCounters, type MqttLink, type StateDetails } from './mqtt-link.js'
import { createUnansweredNudge } from './unanswered-nudge.js'
import { createBirthSequence } from './birth-seq.js'
import { createTapLatencyWindow } from './tap-latency.js'
import { createKiosk, type Kiosk, type KioskCounters, type LastSaleInfo } from './kiosk.js'
import type { ChainState } from './chain-guard.js'
import { effectiveProfile } from './profile.js'
import type { StaffSession } from './staff-session.js'
import type { OpenShift } from './local-config.js'
import { createLocalApi, type LocalApi } from './local-api.js'
import type { Reader, ReaderStatus } from './reader/reader.js'
import type { PaymentTerminal, TerminalStatus } from './terminal/terminal.js'
import { createTerminalDisplay } from './terminal/terminal-display.js'
import type { CardTopUpHooks } from './card-topup.js'

export const OUTBOX_FILE_NAME = 'outbox.sqlite'
export const LOCAL_CONFIG_FILE_NAME = 'kiosk-config.json'
/** The state message is sent on change, but not more often than this. */
const STATE_MIN_INTERVAL_MS = 1_000
/** A remote reload_config waits this long for the retained config to arrive and be applied. */
const CONFIG_RELOAD_WAIT_MS = 3_000

export interface KioskDaemonStatus {
  kiosk: string
  /** Connected to the broker and subscribed. */
  connected: boolean
  /** The gateway is unreachable (not connected): sales go offline if the config allows it. */
  offline: boolean
  /** Unanswered offline sales of this kiosk: their count (returns included) and the sales' cents. */
  offlineTotals: { count: number; kioskCents: number }
  /** The logged-in staff member, null when nobody is. */
  staff: StaffSession | null
  /** The config has a staff list: nothing is booked until a staff member logs in. */
  staffRequired: boolean
  /** The cash register shift open at this kiosk. */
  shift: OpenShift | null
  /** The last accepted sale or return that is not cancelled. */
  lastSale: LastSaleInfo | null
  /** The till profile in force (null without a config). */
  profile: TillProfile | null
  /** The full products of the config in force. */
  products: Product[]
  registers: CashRegisterRef[]
  busy: boolean
  outboxDepth: number
  /**
   * Whether the outbox's chain matches what the gateway booked. recovery_required:
   * every transaction is refused until a supervisor confirms (POST /recovery/confirm).
   */
  chain: ChainState
  /**
   * Whether the gateway checks this kiosk's signatures with its key (learnt at
   * the chain check): unknown until the gateway answered; not_enrolled or
   * other_key refuse every transaction, and `todo` says what an operator does.
   */
  enrollment: { status: 'unknown' | 'enrolled' | 'not_enrolled' | 'other_key'; publicKey: string; keyFile: string; gatewayKey?: string; todo?: string }
  reader: ReaderStatus
  /** The card terminal, null when none is configured. */
  terminal: TerminalStatus | null
  /**
   * What the card terminal shows the guest during a card payment ("Karte
   * vorhalten"), from the terminal and so untrusted: control characters
   * removed, at most 160 characters; the page shows it as text. null otherwise.
   */
  terminalText: string | null
  counters: KioskCounters & LinkCounters & { blocklistRejected: number; gatewayKeyMismatches: number }
  config: { version: number; booth: string; saleAllowed: boolean; topupAllowed: boolean; products: Array<{ id: string; name: string; price: number }> } | null
  publicKey: string
  /** An operator locked this kiosk (remote command lock): every operation is refused with 'locked' and this message until unlocked. */
  lock: { by: string; reason?: string; at: number; message: string } | null
}

export interface KioskDaemon {
  readonly kiosk: Kiosk
  readonly outbox: Outbox
  readonly link: MqttLink
  readonly localConfig: LocalConfigStore
  readonly reader: Reader
  readonly terminal: PaymentTerminal | undefined
  readonly publicKeyBase64Url: string
  /** The handler of remote commands on the kiosk's cmd topic (lock, unlock, report_state, reload_config). */
  readonly remoteCommands: RemoteCommands
  /** Opens the reader, starts connecting (does not wait for the broker) and starts the local API. */
  start(): Promise<void>
  /** Ends the current operation, announces offline, closes everything. Safe to call twice. */
  stop(): Promise<void>
  status(): KioskDaemonStatus
  /** Where the local API listens, once started. */
  apiAddress(): { host: string; port: number } | undefined
}

export interface CreateKioskDaemonOptions {
  config: KioskDaemonConfig
  logger: Logger
  clock: Clock
  /** A reader to use instead of the one the config names (tests, demo, simulators). */
  reader?: Reader
  /** Version string for the state message. */
  version?: string
  /** A card terminal to use instead of the one the config names (tests, demo, simulators). */
  terminal?: PaymentTerminal
  /** Test seams of the card top-up flow (a crash between the terminal's answer and the outbox). */
  cardHooks?: CardTopUpHooks
}

/** A reader's or terminal's status as the state message carries it: connected is ok, anything else down. */
function deviceStatus(kind: string, connected: boolean): DeviceStatus {
  return connected ? { kind: kind.slice(0, 64), health: 'ok' } : { kind: kind.slice(0, 64), health: 'down', detail: 'disconnected' }
}

/** Integer counters under a prefix, as the state message's schema takes them (non-negative integers, short keys). */
function prefixedCounters(prefix: string, values: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [key, value] of Object.entries(values)) if (Number.isSafeInteger(value) && value >= 0) out[`${prefix}${key}`.slice(0, 64)] = value
  return out
}

async function readerFromConfig(config: KioskDaemonConfig, logger: Logger): Promise<Reader> {
  const spec = config.reader
  if (spec.kind === 'memory') {
    // Driven in-process (demo, simulators): the embedding program casts daemon.reader to MemoryReader.
    const { createMemoryReader } = await import('./reader/memory-reader.js')
    return createMemoryReader()
  }
  if (spec.kind === 'pcsc') {
    // nfc-pcsc is an optional native dependency: the adapter loads it lazily, after checking pcscd runs.
    const { createPcscReader } = await import('./reader/pcsc-reader.js')
    return createPcscReader({ logger: logger.child({ module: 'reader' }), ...(spec.readerName ? { readerName: spec.readerName } : {}) })
  }
  if (spec.kind === 'ble') {
    // noble is loaded inside the adapter, lazily: importing it throws on machines without Bluetooth.
    const { createBleReader } = await import('./reader/ble-reader.js')
    return createBleReader({ addresses: spec.addresses, logger: logger.child({ module: 'reader' }), ackTimeoutMs: config.serialAckTimeoutMs, reconnectDelayMs: config.serialReconnectDelayMs })
  }
  // Loaded lazily: serialport's native binding is needed only on kiosks that use it.
  const { createSerialReader } = await import('./reader/serial-reader.js')
  return createSerialReader({
    path: spec.path,
    baudRate: spec.baudRate,
    logger: logger.child({ module: 'reader' }),
    ackTimeoutMs: config.serialAckTimeoutMs,
    reconnectDelayMs: config.serialReconnectDelayMs,
  })
}

async function terminalFromConfig(config: KioskDaemonConfig, logger: Logger): Promise<PaymentTerminal | undefined> {
  const spec = config.terminal
  if (spec === undefined) return undefined
  // An in-process terminal is handed in by the embedding program (demo, simulators), like the memory reader's driver.
  if (spec.kind === 'memory') throw new ConfigError('terminal: a memory terminal must be passed to createKioskDaemon by the program that drives it')
  // Loaded lazily: serialport's native binding is needed only on kiosks that use it.
  const { createZvtTerminal } = await import('./terminal/zvt-terminal.js')
  return createZvtTerminal({
    ...(spec.kind === 'zvt-tcp' ? { tcp: { host: spec.host, port: spec.port } } : { path: spec.path, baudRate: spec.baudRate }),
    password: config.terminalPassword,
    currency: config.terminalCurrency,
    logger: logger.child({ module: 'terminal' }),
  })
}

export async function createKioskDaemon(options: CreateKioskDaemonOptions): Promise<KioskDaemon> {
  const { config, logger, clock } = options
  if (!config.token) throw new ConfigError(`no MQTT token for kiosk ${config.kioskId}: set WRISTPAY_KIOSK_TOKEN or token in the config file`)
  const token = config.token
  // Read before anything is opened: an unreadable caFile is a config error, not a kiosk that never connects.
  const mqttCa = readMqttCa(config)

  const keys = loadOrCreateKeys({ dataDir: config.dataDir, logger: logger.child({ module: 'keys' }), onInsecure: config.repairKeyPermissions ? 'repair' : 'refuse' })
  const outbox = createOutbox({
    path: join(config.dataDir, OUTBOX_FILE_NAME),
    maxEntries: config.outboxMaxEntries,
    clock,
    kioskId: config.kioskId,
    keepAnswered: { count: config.keepAnsweredCount, maxAgeMs: config.keepAnsweredHours * 3_600_000, maxBytes: config.keepAnsweredMaxBytes },
  })
  let reader: Reader
  let terminal: PaymentTerminal | undefined
  let localConfig: LocalConfigStore
  try {
    localConfig = await createLocalConfigStore({
      path: join(config.dataDir, LOCAL_CONFIG_FILE_NAME),
      kioskId: config.kioskId,
      clock,
      logger: logger.child({ module: 'config' }),
      ...(config.gatewayKey !== undefined ? { gatewayKey: config.gatewayKey } : {}),
    })
    reader = options.reader ?? (await readerFromConfig(config, logger))
    terminal = options.terminal ?? (await terminalFromConfig(config, logger))
  } catch (err) {
    outbox.close()
    throw err
  }

  // What the terminal shows the guest during a card payment, for GET /state (the page polls it every second).
  const terminalDisplay = terminal ? createTerminalDisplay(terminal) : undefined

  // The link asks for state details, which need the kiosk: resolved lazily.
  let kioskRef: Kiosk | undefined
  const link = createMqttLink({
    url: config.mqttUrl,
    ...(mqttCa === undefined ? {} : { ca: mqttCa }),
    kioskId: config.kioskId,
    token,
    logger: logger.child({ module: 'mqtt' }),
    clock,
    outbox,
    backoff: { initialDelayMs: config.reconnectInitialDelayMs, maxDelayMs: config.reconnectMaxDelayMs },
    stateDetails: () => stateDetails(),
    birthSequence: createBirthSequence(outbox.database),
  })
  // The oldest transaction the gateway leaves unanswered is sent again (a gateway that died may hold it at the broker).
  const unansweredNudge = createUnansweredNudge({ outbox, link, clock, logger: logger.child({ module: 'mqtt' }) })
  // Tap to answer: the entry is stored right after the tap, so its age when the answer arrives is what
  // the guest waited. Registered before the kiosk's own listener, which removes the entry from the outbox.
  // Answers that come after the reply timeout (the till showed "pending") are no tap-to-answer times.
  const tapLatency = createTapLatencyWindow({ now: () => clock.now() })
  link.onReply((reply) => {
    if (reply.kind !== 'result') return
    const entry = outbox.get(reply.id)
    if (!entry) return
    const waitedMs = clock.now() - entry.createdAt
    if (waitedMs >= 0 && waitedMs <= config.replyTimeoutMs) tapLatency.record(waitedMs)
  })
  // Remote commands (lock, unlock, report_state, reload_config): the lock and the ids already run live in the outbox database.
  const configWaiters: Array<(result: ApplyResult) => void> = []
  const remoteCommands = createRemoteCommands({
    kioskId: config.kioskId,
    clock,
    logger: logger.child({ module: 'commands' }),
    store: createRemoteCommandStore(outbox.database),
    publishAnswer: (answer) => link.publishCommandAnswer(answer),
    reportState: () => publishStateNow(),
    reloadConfig,
    changed: () => stateChanged(),
  })
  link.onCommand((payload) => void remoteCommands.handle(payload))
  const kiosk = createKiosk({
    lockedMessage: () => {
      const lock = remoteCommands.lock()
      return lock ? lockMessage(lock) : null
    },
    kioskId: config.kioskId,
    reader,
    outbox,
    link,
    privateKey: keys.privateKey,
    clock,
    logger: logger.child({ module: 'kiosk' }),
    catalog: localConfig,
    localState: localConfig,
    replyTimeoutMs: config.replyTimeoutMs,
    tapTimeoutMs: config.tapTimeoutMs,
    feedbackDurationMs: config.feedbackDurationMs,
    ...(terminal ? { terminal } : {}),
    ...(options.cardHooks ? { cardHooks: options.cardHooks } : {}),
  })
  kioskRef = kiosk

  function counters(): KioskDaemonStatus['counters'] {
    return { ...link.counters(), ...kiosk.counters(), ...localConfig.counters() }
  }

  function stateDetails(): StateDetails {
    const readerStatus = reader.status()
    const details: StateDetails = {
      outboxDepth: outbox.depth(),
      reader: deviceStatus(readerStatus.kind, readerStatus.connected),
      tapToAnswerMs: tapLatency.stats(),
      // The reader's own counters (frames, CRC errors, discarded bytes, reconnects, ...) beside the kiosk's,
      // so that an operator sees a flaky reader or cable from the fleet view.
      counters: { ...(kioskRef ? counters() : {}), ...prefixedCounters('reader_', readerStatus.counters), ...(terminal ? prefixedCounters('terminal_', terminal.status().counters) : {}) },
    }
    if (options.version) details.version = options.version.slice(0, 64)
    if (terminal) details.terminal = deviceStatus(terminal.kind, terminal.status().connected)
    const configVersion = localConfig.current()?.version
    if (configVersion !== undefined) details.configVersion = configVersion
    if (kioskRef) {
      const offline = kioskRef.offlineTotals()
      details.offline = { sales: offline.count, cents: Math.max(0, offline.kioskCents) }
    }
    // Operators see a locked kiosk in the fleet, with who locked it and why.
    const lock = remoteCommands.lock()
    if (lock) {
      details.lock = { by: lock.by.slice(0, 64) || 'operator', ...(lock.reason ? { reason: lock.reason.slice(0, 200) } : {}), at: Math.max(0, Math.trunc(lock.at)) }
    }
    // Operators see a till whose outbox cannot be written (it refuses every sale) in the fleet.
    const storage = kioskRef?.storageFault()
    if (storage) details.storage = { status: 'failed', code: storage.code.slice(0, 64), since: Math.max(0, Math.trunc(storage.since)) }
    // The kiosk's own alert of a damaged outbox, beside the gateway's (events/alert kiosk_chain_behind).
    if (kioskRef) {
      const chain = kioskRef.chainState()
      details.chain = chain.damage
        ? { status: chain.status, reason: chain.damage.reason, localNextSeq: chain.damage.localNextSeq, gatewayNextSeq: chain.damage.gatewayNextSeq }
        : chain.enrollment
          ? { status: chain.status, reason: chain.enrollment.reason }
          : chain.problem
            ? // A restored gateway lacks seqs from gatewayNextSeq on that this kiosk no longer keeps (the range: local status, log).
              { status: chain.status, reason: chain.problem.reason, localNextSeq: outbox.head().nextSeq, gatewayNextSeq: chain.problem.gatewayNextSeq }
            : { status: chain.status }
    }
    return details
  }

  function enrollment(chain: ChainState): KioskDaemonStatus['enrollment'] {
    const base = { publicKey: keys.publicKeyBase64Url, keyFile: keys.path }
    if (chain.enrollment) {
      const { reason, gatewayKey, todo } = chain.enrollment
      return { status: reason, ...base, ...(gatewayKey === undefined ? {} : { gatewayKey }), todo }
    }
    return { status: chain.status === 'unchecked' ? 'unknown' : 'enrolled', ...base }
  }

  function status(): KioskDaemonStatus {
    const current = localConfig.current()
    const chain = kiosk.chainState()
    return {
      kiosk: config.kioskId,
      connected: link.isReady(),
      offline: !link.isReady(),
      offlineTotals: kiosk.offlineTotals(),
      staff: kiosk.session(),
      staffRequired: current?.staff !== undefined,
      shift: kiosk.shift(),
      lastSale: kiosk.lastSale(),
      profile: current ? effectiveProfile(current) : null,
      products: current ? structuredClone(current.products) : [],
      registers: current?.registers ? structuredClone(current.registers) : [],
      busy: kiosk.isBusy(),
      outboxDepth: outbox.depth(),
      chain,
      enrollment: enrollment(chain),
      reader: reader.status(),
      terminal: terminal ? terminal.status() : null,
      terminalText: terminalDisplay?.text() ?? null,
      counters: counters(),
      config: current
        ? {
            version: current.version,
            booth: current.booth,
            saleAllowed: current.saleAllowed,
            topupAllowed: current.topupAllowed,
            products: current.products.map((p) => ({ id: p.id, name: p.name, price: p.price })),
          }
        : null,
      publicKey: keys.publicKeyBase64Url,
      lock: lockStatus(),
    }
  }

  function lockStatus(): KioskDaemonStatus['lock'] {
    const lock = remoteCommands.lock()
    return lock ? { by: lock.by, ...(lock.reason ? { reason: lock.reason } : {}), at: lock.at, message: lockMessage(lock) } : null
  }

  /** reload_config: the broker sends the retained config again on a new subscription; it is applied when newer. */
  async function reloadConfig(): Promise<string> {
    let timer: NodeJS.Timeout | undefined
    let waiter: ((result: ApplyResult) => void) | undefined
    const arrived = new Promise<ApplyResult | undefined>((resolve) => {
      waiter = resolve
      configWaiters.push(resolve)
      timer = setTimeout(() => resolve(undefined), CONFIG_RELOAD_WAIT_MS)
    })
    try {
      if (!(await link.refetchConfig())) return 'not connected to the gateway: config not fetched'
      const result = await arrived
      if (result === undefined) return 'no retained config arrived from the gateway'
      return result.applied ? `config version ${localConfig.current()?.version ?? '?'} applied` : `config version ${localConfig.current()?.version ?? '?'} kept (${result.detail})`
    } finally {
      clearTimeout(timer)
      const at = waiter ? configWaiters.indexOf(waiter) : -1
      if (at >= 0) configWaiters.splice(at, 1)
    }
  }

  // State on change, throttled: a busy kiosk changes its counters on every sale.
  let stateTimer: NodeJS.Timeout | undefined
  let throttleTimer: NodeJS.Timeout | undefined
  let lastStateAt = 0
  let stopped = false
  function stateChanged(): void {
    if (stopped || throttleTimer) return
    const waitMs = Math.max(0, lastStateAt + STATE_MIN_INTERVAL_MS - Date.now())
    throttleTimer = setTimeout(() => {
      throttleTimer = undefined
      publishStateNow()
    }, waitMs)
  }
  function publishStateNow(): KioskState | null {
    if (stopped) return null
    lastStateAt = Date.now()
    return link.publishState()
  }

  link.onConfig((candidate) => {
    localConfig
      .apply(candidate)
      .then((result) => {
        if (!result.applied) logger.info({ reason: result.reason, detail: result.detail }, 'config from the gateway not applied')
        for (const waiter of configWaiters.splice(0)) waiter(result)
      })
      .catch((err: Error) => logger.error({ err: err.message }, 'storing the config failed'))
  })
  localConfig.onChange(stateChanged)
  kiosk.onChange(stateChanged)
  const onReaderStatus = () => stateChanged()
  const onReaderError = (err: Error) => logger.warn({ err: err?.message }, 'reader error')
  reader.on('status', onReaderStatus)
  reader.on('readerError', onReaderError)

  // Card payments left open by a crash are settled from the terminal's last transaction, whenever it is reachable.
  function recoverCardPayments(): void {
    if (stopped) return
    kiosk.recoverCardPayments().catch((err: Error) => logger.error({ err: err.message }, 'card payment recovery failed'))
  }
  const onTerminalStatus = (terminalStatus: TerminalStatus) => {
    stateChanged()
    if (terminalStatus?.connected && kiosk.counters().cardPaymentsUnresolved > 0) recoverCardPayments()
  }
  const onTerminalError = (err: Error) => logger.warn({ err: err?.message }, 'card terminal error')
  terminal?.on('status', onTerminalStatus)
  terminal?.on('terminalError', onTerminalError)

  const api: LocalApi = createLocalApi({ kiosk, state: status, logger: logger.child({ module: 'api' }), port: config.apiPort })
  let apiAddress: { host: string; port: number } | undefined
  let started = false
  let stopping: Promise<void> | undefined

  return {
    kiosk,
    outbox,
    link,
    localConfig,
    reader,
    terminal,
    publicKeyBase64Url: keys.publicKeyBase64Url,
    remoteCommands,
    status,
    apiAddress: () => apiAddress,

    async start() {
      if (started) return
      started = true
      try {
        await reader.open()
      } catch (err) {
        // Sales are refused with 'reader_unavailable' until the adapter gets its device back.
        logger.error({ err: (err as Error).message }, 'reader did not open')
      }
      if (terminal) {
        try {
          await terminal.open()
        } catch (err) {
          // Card top-ups are refused with 'terminal_unavailable' until the adapter reaches its terminal.
          logger.error({ err: (err as Error).message }, 'card terminal did not open')
        }
        recoverCardPayments()
      }
      link.start()
      unansweredNudge.start()
      apiAddress = await api.start()
      stateTimer = setInterval(publishStateNow, config.stateIntervalMs)
      logger.info({ kiosk: config.kioskId, api: apiAddress, mqtt: config.mqttUrl, outboxDepth: outbox.depth() }, 'kiosk daemon started')
    },

    stop() {
      stopping ??= (async () => {
        stopped = true
        clearInterval(stateTimer)
        clearTimeout(throttleTimer)
        unansweredNudge.stop()
        kiosk.stop()
        const steps: Array<[string, () => Promise<void> | void]> = [
          ['api', () => api.stop()],
          ['mqtt', () => link.stop()],
          // A config applied just now is in force before its file is written: a restart must find it.
          ['config', () => localConfig.settled()],
          ['reader', () => (started ? reader.close() : undefined)],
          ['terminal', () => (started ? terminal?.close() : undefined)],
          ['outbox', () => outbox.close()],
        ]
        for (const [name, step] of steps) {
          try {
            await step()
          } catch (err) {
            logger.error({ err: (err as Error).message, part: name }, 'stop step failed')
          }
        }
        reader.off('status', onReaderStatus)
        reader.off('readerError', onReaderError)
        terminal?.off('status', onTerminalStatus)
        terminal?.off('terminalError', onTerminalError)
        terminalDisplay?.close()
        logger.info({ kiosk: config.kioskId }, 'kiosk daemon stopped')
      })()
      return stopping
    },
  }
}
