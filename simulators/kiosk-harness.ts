// Shared set-up of the demo and the end-to-end tests: a kiosk daemon's config
// on embedded defaults, and the steps of one sale at a simulated kiosk.
import { DEFAULTS as KIOSK_DEFAULTS, type KioskDaemonConfig } from '../daemon/config.js'
import type { Outcome } from '../daemon/kiosk.js'

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
}

/**
 * One operation as it happens at a counter: the cashier has rung it up
 * (`operation` is waiting for a tap), the guest taps after `tapDelayMs`, the
 * wristband is taken away when the answer is shown.
 */
export async function tapAndAwait(operation: Promise<Outcome>, presenter: TagPresenter, uid: string, tapDelayMs = 10): Promise<Outcome> {
  await new Promise((done) => setTimeout(done, tapDelayMs))
  presenter.present(uid, 'ntag215')
  try {
    return await operation
  } finally {
    presenter.remove()
  }
}
