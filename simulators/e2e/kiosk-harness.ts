// Shared set-up of the demo, the end-to-end tests and the benchmark: a gateway
// on loopback, a kiosk daemon's config on embedded defaults, and the steps of
// one sale at a simulated kiosk.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { DEFAULTS as KIOSK_DEFAULTS, type KioskDaemonConfig } from '../../daemon/config.js'
import { systemClock } from '../../device-protocol/index.js'
import { createGateway, type Gateway } from '../../gateway/app.js'
import { DEFAULT_CONFIG, type GatewayConfig } from '../../gateway/config.js'
import type { EventSetup } from '../../gateway/event-setup.js'
import type { Outcome } from '../../daemon/kiosk.js'

export function kioskDaemonConfig(options: {
  kioskId: string
  token: string
  mqttUrl: string
  dataDir: string
  overrides?: Partial<KioskDaemonConfig>
}): KioskDaemonConfig {
  return {
    ...KIOSK_DEFAULTS,
    kioskId: options.kioskId,
    token: options.token,
    mqttUrl: options.mqttUrl,
    dataDir: options.dataDir,
    // The embedding program passes its simulated reader in.
    reader: { kind: 'memory' },
    apiPort: 0,
    ...options.overrides,
  }
}

/** A guest's tap on whatever simulates the reader (memory reader, firmware simulator). */
export interface TagPresenter {
  present(uid: string, type: string): void
  remove(): void
  /** Whether the kiosk waits for a tap now (a memory reader can tell); presenters that cannot tell tap after the delay. */
  awaitingTag?(): boolean
}

/** How long tapAndAwait waits for the kiosk to listen for a tap before it taps anyway. */
const LISTEN_WAIT_MS = 10_000

/**
 * One operation as it happens at a counter: the cashier has rung it up
 * (`operation` is waiting for a tap), the guest taps after `tapDelayMs`, the
 * wristband is taken away when the answer is shown.
 */
export async function tapAndAwait<T = Outcome>(operation: Promise<T>, presenter: TagPresenter, uid: string, tapDelayMs = 10): Promise<T> {
  // The kiosk may refuse before the tap (offline, no shift): that rejection is
  // handled from now on, not only after the delay, else Node ends the process
  // on an unhandled rejection. It is still thrown below.
  let settled = false
  operation.then(
    () => void (settled = true),
    () => void (settled = true),
  )
  await new Promise((done) => setTimeout(done, tapDelayMs))
  // A reader reports a tag once, when it arrives: on a busy machine the kiosk may
  // not be listening yet after tapDelayMs, and a tap before that is never seen.
  // Where the presenter can tell (a memory reader), the guest taps when the kiosk listens.
  const listening = () => presenter.awaitingTag === undefined || presenter.awaitingTag()
  for (let waitedMs = 0; !settled && !listening() && waitedMs < LISTEN_WAIT_MS; waitedMs += 2) await new Promise((done) => setTimeout(done, 2))
  // A refused operation waits for no tap: the guest does not tap a screen that already said no.
  if (settled) return operation
  presenter.present(uid, 'ntag215')
  try {
    return await operation
  } finally {
    presenter.remove()
  }
}

/**
 * A started gateway on loopback (free ports) with its event set-up written to
 * `dir/event.json` and its ledger in `dir/gateway`: what the end-to-end tests,
 * the browser test and the benchmark run against.
 */
export async function startLoopbackGateway(options: {
  dir: string
  setup: EventSetup
  logger: Logger
  config?: Partial<GatewayConfig>
}): Promise<Gateway> {
  const eventFile = join(options.dir, 'event.json')
  // The set-up holds kiosk tokens and PINs: readable by us only.
  writeFileSync(eventFile, JSON.stringify(options.setup), { mode: 0o600 })
  const gateway = await createGateway({
    config: {
      ...DEFAULT_CONFIG,
      mqtt: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      dataDir: join(options.dir, 'gateway'),
      eventFile,
      logLevel: 'silent',
      ...options.config,
    },
    logger: options.logger,
    clock: systemClock,
  })
  await gateway.start()
  return gateway
}
