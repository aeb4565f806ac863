// The one test world of the daemon's kiosk tests: a real MQTT broker on
// loopback, a responder that plays the gateway (signature, seq and chain
// checked), and a kiosk on its own files (outbox, local config) with a fake
// reader and, if asked, a fake card terminal. start() runs another kiosk
// process on the same files (the restart after a crash); everything stops
// with the test.
import type { Test } from 'tap'
import { join } from 'node:path'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { pino, type Logger } from 'pino'
import type { Clock, KioskConfig } from '../../device-protocol/index.js'
import { createOutbox, type Outbox } from '../outbox.js'
import { createMqttLink, type MqttLink } from '../mqtt-link.js'
import { createLocalConfigStore, type LocalConfigStore } from '../local-config.js'
import { createKiosk, type Kiosk } from '../kiosk.js'
import { createCardPaymentStore, type CardPaymentStore } from '../card-payments.js'
import type { CardTopUpHooks } from '../card-topup.js'
import { startTestBroker, type TestBroker } from './broker.js'
import { startResponder, type Responder } from './responder.js'
import { FakeReader } from './fake-reader.js'
import type { FakeTerminal } from './fake-terminal.js'
import { waitUntil } from './wait.js'

export const WORLD_GATEWAY_SECRET = 'gateway-secret'
export const WORLD_KIOSK_TOKEN = 'kiosk-token'

/** A clock the test moves by hand. */
export interface ManualClock extends Clock {
  advance(ms: number): void
}

export function createManualClock(startMs = 1_700_000_000_000): ManualClock {
  let now = startMs
  return { now: () => now, advance: (ms) => void (now += ms) }
}

/** What a started kiosk is made of. */
export interface KioskParts {
  reader: FakeReader
  outbox: Outbox
  link: MqttLink
  config: LocalConfigStore
  kiosk: Kiosk
  /** A second view of the card payment records (same database). */
  records: CardPaymentStore
  /** Stops this kiosk (idempotent; also done at the end of the test). */
  stop(): Promise<void>
}

export interface KioskStart {
  cardHooks?: CardTopUpHooks | undefined
  /** What to wait for before the kiosk is handed out: 'link' (default), 'chain' (the gateway confirmed the chain too), 'nothing'. */
  waitFor?: 'link' | 'chain' | 'nothing'
  /** Wraps the outbox the kiosk and its link are given (fault injection: a write that fails). */
  wrapOutbox?: ((outbox: Outbox) => Outbox) | undefined
}

export interface KioskWorldOptions extends KioskStart {
  kioskId?: string
  /** The config the local store starts with (kept across restarts); null: none. */
  config?: KioskConfig | null
  clock?: Clock
  replyTimeoutMs?: number
  tapTimeoutMs?: number
  maxEntries?: number
  terminal?: FakeTerminal
  /** The kiosk's logger (silent when omitted). */
  logger?: Logger
}

export interface KioskWorld extends KioskParts {
  kioskId: string
  broker: TestBroker
  responder: Responder
  terminal: FakeTerminal | undefined
  clock: Clock
  /** The kiosk's folder (outbox.sqlite, config.json). */
  dir: string
  privateKey: KeyObject
  publicKey: KeyObject
  /** Another kiosk process on the same files; the running one is left as it is. */
  start(options?: KioskStart): Promise<KioskParts>
  /** Stops the kiosk started last, then starts another on the same files. */
  restart(options?: KioskStart): Promise<KioskParts>
}

const silentLogger = pino({ level: 'silent' })

export async function startKioskWorld(t: Test, options: KioskWorldOptions = {}): Promise<KioskWorld> {
  const logger = options.logger ?? silentLogger
  const kioskId = options.kioskId ?? 'bar-1'
  const clock = options.clock ?? { now: () => Date.now() }
  const dir = t.testdir()
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const broker = await startTestBroker({ [kioskId]: WORLD_KIOSK_TOKEN, gateway: WORLD_GATEWAY_SECRET })
  t.teardown(() => broker.stop())
  const responder = await startResponder({ url: broker.url, username: 'gateway', password: WORLD_GATEWAY_SECRET, publicKey })
  t.teardown(() => responder.stop())
  const terminal = options.terminal
  await terminal?.open()

  async function start(startOptions: KioskStart = {}): Promise<KioskParts> {
    const stored = createOutbox({ path: join(dir, 'outbox.sqlite'), maxEntries: options.maxEntries ?? 100, clock })
    const outbox = startOptions.wrapOutbox ? startOptions.wrapOutbox(stored) : stored
    const link = createMqttLink({ url: broker.url, kioskId, token: WORLD_KIOSK_TOKEN, logger, clock, outbox, backoff: { initialDelayMs: 10, maxDelayMs: 100 } })
    const config = await createLocalConfigStore({ path: join(dir, 'config.json'), kioskId, clock, logger })
    if (options.config && !config.current()) await config.apply(options.config)
    const reader = new FakeReader()
    await reader.open()
    const kiosk = createKiosk({
      kioskId,
      reader,
      outbox,
      link,
      privateKey,
      clock,
      logger,
      catalog: config,
      localState: config,
      replyTimeoutMs: options.replyTimeoutMs ?? 5_000,
      tapTimeoutMs: options.tapTimeoutMs ?? 5_000,
      ...(terminal ? { terminal } : {}),
      ...(startOptions.cardHooks ? { cardHooks: startOptions.cardHooks } : {}),
    })
    link.start()
    let stopped = false
    const stop = async () => {
      if (stopped) return
      stopped = true
      kiosk.stop()
      await link.stop()
      outbox.close()
    }
    t.teardown(stop)
    const waitFor = startOptions.waitFor ?? 'link'
    if (waitFor !== 'nothing') await waitUntil(() => link.isReady(), 'kiosk link ready')
    // The gateway (here the responder) confirmed the chain: a started kiosk sells from here on.
    if (waitFor === 'chain') await waitUntil(() => kiosk.chainState().status === 'intact', 'chain checked')
    return { reader, outbox, link, config, kiosk, records: createCardPaymentStore({ db: outbox.database, clock }), stop }
  }

  let latest = await start(options)
  return {
    ...latest,
    kioskId,
    broker,
    responder,
    terminal,
    clock,
    dir,
    privateKey,
    publicKey,
    async start(startOptions) {
      latest = await start(startOptions)
      return latest
    },
    async restart(startOptions) {
      await latest.stop()
      latest = await start(startOptions)
      return latest
    },
  }
}
