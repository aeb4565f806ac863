// Wires the kiosk daemon: keys + outbox + local config + reader + MQTT link +
// kiosk flow + local HTTP API, with a graceful start/stop. bin.ts and the demo
// use this; each part stays testable on its own.
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { Clock } from '../device-protocol/index.js'
import { ConfigError, type KioskDaemonConfig } from './config.js'
import { loadOrCreateKeys } from './keys.js'
import { createOutbox, type Outbox } from './outbox.js'
import { createLocalConfigStore, type LocalConfigStore } from './local-config.js'
import { createMqttLink, type LinkCounters, type MqttLink, type StateDetails } from './mqtt-link.js'
import { createKiosk, type Kiosk, type KioskCounters } from './kiosk.js'
import { createLocalApi, type LocalApi } from './local-api.js'
import type { Reader, ReaderStatus } from './reader/reader.js'

export const OUTBOX_FILE_NAME = 'outbox.sqlite'
export const LOCAL_CONFIG_FILE_NAME = 'kiosk-config.json'
/** The state message is sent on change, but not more often than this. */
const STATE_MIN_INTERVAL_MS = 1_000

export interface KioskDaemonStatus {
  kiosk: string
  /** Connected to the broker and subscribed. */
  connected: boolean
  busy: boolean
  outboxDepth: number
  reader: ReaderStatus
  counters: KioskCounters & LinkCounters
  config: { version: number; booth: string; saleAllowed: boolean; topupAllowed: boolean; products: Array<{ id: string; name: string; price: number }> } | null
  publicKey: string
}

export interface KioskDaemon {
  readonly kiosk: Kiosk
  readonly outbox: Outbox
  readonly link: MqttLink
  readonly localConfig: LocalConfigStore
  readonly reader: Reader
  readonly publicKeyBase64Url: string
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
}

async function readerFromConfig(config: KioskDaemonConfig, logger: Logger): Promise<Reader> {
  const spec = config.reader
  if (spec.kind === 'memory') {
    // Driven in-process (demo, simulators): the embedding program casts daemon.reader to MemoryReader.
    const { createMemoryReader } = await import('./reader/memory-reader.js')
    return createMemoryReader()
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

export async function createKioskDaemon(options: CreateKioskDaemonOptions): Promise<KioskDaemon> {
  const { config, logger, clock } = options
  if (!config.token) throw new ConfigError(`no MQTT token for kiosk ${config.kioskId}: set WRISTPAY_KIOSK_TOKEN or token in the config file`)
  const token = config.token

  const keys = loadOrCreateKeys({ dataDir: config.dataDir, logger: logger.child({ module: 'keys' }), onInsecure: config.repairKeyPermissions ? 'repair' : 'refuse' })
  const outbox = createOutbox({ path: join(config.dataDir, OUTBOX_FILE_NAME), maxEntries: config.outboxMaxEntries, clock, kioskId: config.kioskId })
  let reader: Reader
  let localConfig: LocalConfigStore
  try {
    localConfig = await createLocalConfigStore({ path: join(config.dataDir, LOCAL_CONFIG_FILE_NAME), kioskId: config.kioskId, clock, logger: logger.child({ module: 'config' }) })
    reader = options.reader ?? (await readerFromConfig(config, logger))
  } catch (err) {
    outbox.close()
    throw err
  }

  // The link asks for state details, which need the kiosk: resolved lazily.
  let kioskRef: Kiosk | undefined
  const link = createMqttLink({
    url: config.mqttUrl,
    kioskId: config.kioskId,
    token,
    logger: logger.child({ module: 'mqtt' }),
    clock,
    outbox,
    backoff: { initialDelayMs: config.reconnectInitialDelayMs, maxDelayMs: config.reconnectMaxDelayMs },
    stateDetails: () => stateDetails(),
  })
  const kiosk = createKiosk({
    kioskId: config.kioskId,
    reader,
    outbox,
    link,
    privateKey: keys.privateKey,
    clock,
    logger: logger.child({ module: 'kiosk' }),
    catalog: localConfig,
    replyTimeoutMs: config.replyTimeoutMs,
    tapTimeoutMs: config.tapTimeoutMs,
    feedbackDurationMs: config.feedbackDurationMs,
  })
  kioskRef = kiosk

  function counters(): KioskCounters & LinkCounters {
    return { ...link.counters(), ...kiosk.counters() }
  }

  function stateDetails(): StateDetails {
    const readerStatus = reader.status()
    const details: StateDetails = {
      outboxDepth: outbox.depth(),
      reader: `${readerStatus.kind}:${readerStatus.connected ? 'connected' : 'disconnected'}`.slice(0, 128),
      counters: kioskRef ? { ...counters() } : {},
    }
    if (options.version) details.version = options.version.slice(0, 64)
    return details
  }

  function status(): KioskDaemonStatus {
    const current = localConfig.current()
    return {
      kiosk: config.kioskId,
      connected: link.isReady(),
      busy: kiosk.isBusy(),
      outboxDepth: outbox.depth(),
      reader: reader.status(),
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
  function publishStateNow(): void {
    if (stopped) return
    lastStateAt = Date.now()
    link.publishState()
  }

  link.onConfig((candidate) => {
    localConfig
      .apply(candidate)
      .then((result) => {
        if (!result.applied) logger.info({ reason: result.reason, detail: result.detail }, 'config from the gateway not applied')
      })
      .catch((err: Error) => logger.error({ err: err.message }, 'storing the config failed'))
  })
  localConfig.onChange(stateChanged)
  kiosk.onChange(stateChanged)
  const onReaderStatus = () => stateChanged()
  const onReaderError = (err: Error) => logger.warn({ err: err?.message }, 'reader error')
  reader.on('status', onReaderStatus)
  reader.on('readerError', onReaderError)

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
    publicKeyBase64Url: keys.publicKeyBase64Url,
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
      link.start()
      apiAddress = await api.start()
      stateTimer = setInterval(publishStateNow, config.stateIntervalMs)
      logger.info({ kiosk: config.kioskId, api: apiAddress, mqtt: config.mqttUrl, outboxDepth: outbox.depth() }, 'kiosk daemon started')
    },

    stop() {
      stopping ??= (async () => {
        stopped = true
        clearInterval(stateTimer)
        clearTimeout(throttleTimer)
        kiosk.stop()
        const steps: Array<[string, () => Promise<void> | void]> = [
          ['api', () => api.stop()],
          ['mqtt', () => link.stop()],
          ['reader', () => (started ? reader.close() : undefined)],
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
        logger.info({ kiosk: config.kioskId }, 'kiosk daemon stopped')
      })()
      return stopping
    },
  }
}
