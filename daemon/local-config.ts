// The kiosk's small human-readable state (lowdb, one JSON file): the last
// KioskConfig it applied (booth, catalog, flags), the gateway key it pinned and
// the cash register shift open at it. The gateway's retained config is the
// source of truth; this copy lets a kiosk that restarts while the gateway is
// unreachable keep selling from the catalog it had.
//
// The blocklist in a stored config is always one that verified with the
// trusted gateway key: a config whose list does not verify is applied with the
// previous verified list in its place (see blocklist.ts).
import { renameSync } from 'node:fs'
import { JSONFilePreset } from 'lowdb/node'
import type { Low } from 'lowdb'
import type { Logger } from 'pino'
import type { Clock, KioskConfig, Product } from '../device-protocol/index.js'
import { validateKioskConfig } from '../device-protocol/index.js'
import { acceptBlocklist, chooseGatewayKey } from './blocklist.js'

/** The cash register shift open at this kiosk, as the gateway accepted its shift_open. */
export interface OpenShift {
  register: string
  /** `at` of the shift_open, Unix ms (kiosk clock). */
  openedAt: number
  /** Staff uid who opened it, null without a staff list. */
  staff: string | null
  /** Opening float, cents. */
  floatCents: number
}

export interface LocalConfigData {
  kioskConfig: KioskConfig | null
  /** Clock time the config was applied, Unix ms. */
  appliedAt: number | null
  /** The gateway's Ed25519 key (base64url) pinned the first time a config offered one. */
  gatewayKeyPin?: string | null
  shift?: OpenShift | null
}

/** Kiosk state that must survive a restart besides the outbox. */
export interface KioskLocalState {
  shift(): OpenShift | undefined
  /** Persists before resolving. */
  setShift(shift: OpenShift | undefined): Promise<void>
}

export type ApplyResult =
  | { applied: true; version: number }
  | { applied: false; reason: 'invalid' | 'wrong_kiosk' | 'older' | 'same_version'; detail: string }

/** What the kiosk flow reads: the config currently in force. */
export interface CatalogSource {
  current(): KioskConfig | undefined
}

export interface LocalConfigStore extends CatalogSource, KioskLocalState {
  appliedAt(): number | undefined
  /** The key blocklists are verified with (configured, or pinned), if any. */
  gatewayKey(): string | undefined
  counters(): { blocklistRejected: number; gatewayKeyMismatches: number }
  product(id: string): Product | undefined
  /**
   * Applies a candidate config if it is valid, for this kiosk and newer than
   * the current one; persists it before resolving.
   */
  apply(candidate: unknown): Promise<ApplyResult>
  /** Resolves once every write begun so far is on disk (or failed): the daemon's stop waits for it. */
  settled(): Promise<void>
  onChange(listener: (config: KioskConfig) => void): void
}

export interface LocalConfigOptions {
  path: string
  kioskId: string
  clock: Clock
  logger: Logger
  /** The gateway key set by the operator (WRISTPAY_GATEWAY_KEY): never replaced by what a config offers. */
  gatewayKey?: string
}

const emptyData = (): LocalConfigData => ({ kioskConfig: null, appliedAt: null })

async function openDb(path: string, clock: Clock, logger: Logger): Promise<Low<LocalConfigData>> {
  try {
    return await JSONFilePreset<LocalConfigData>(path, emptyData())
  } catch (err) {
    // A hand-edited or truncated file must not keep the kiosk from starting:
    // keep it aside for inspection and start from nothing (the retained config comes on connect).
    const aside = `${path}.corrupt-${clock.now()}`
    renameSync(path, aside)
    logger.error({ err: (err as Error).message, path, movedTo: aside }, 'local config unreadable; starting without a config')
    return JSONFilePreset<LocalConfigData>(path, emptyData())
  }
}

export async function createLocalConfigStore(options: LocalConfigOptions): Promise<LocalConfigStore> {
  const { path, kioskId, clock, logger } = options
  const db = await openDb(path, clock, logger)

  let current: KioskConfig | undefined
  let products = new Map<string, Product>()
  const listeners: Array<(config: KioskConfig) => void> = []
  const counts = { blocklistRejected: 0, gatewayKeyMismatches: 0 }

  function use(config: KioskConfig): void {
    current = config
    products = new Map(config.products.map((p) => [p.id, p]))
  }

  if (!db.data || typeof db.data !== 'object') db.data = emptyData()
  const pinned = (): string | undefined => (typeof db.data.gatewayKeyPin === 'string' ? db.data.gatewayKeyPin : undefined)
  const trustedKey = (): string | undefined => options.gatewayKey ?? pinned()

  const stored = db.data.kioskConfig ?? null
  if (stored !== null) {
    const checked = validateKioskConfig(stored)
    if (checked.ok && checked.value.kiosk === kioskId) {
      const config = checked.value
      // A hand-edited file must not bring in a list the gateway never signed.
      if (config.blocklist !== undefined && acceptBlocklist(config.blocklist, undefined, trustedKey()).rejected !== undefined) {
        logger.error({ path }, 'stored blocklist does not verify; dropped')
        delete config.blocklist
      }
      use(config)
    } else logger.error({ path, error: checked.ok ? `config is for kiosk ${checked.value.kiosk}` : checked.error }, 'stored config ignored')
  }

  // Writes go one after another so the file always ends with the newest state.
  let writes: Promise<void> = Promise.resolve()
  function persist(): Promise<void> {
    const write = writes.then(() => db.write())
    writes = write.catch(() => undefined)
    return write
  }

  return {
    current: () => current,
    appliedAt: () => db.data.appliedAt ?? undefined,
    product: (id) => products.get(id),
    gatewayKey: trustedKey,
    counters: () => ({ ...counts }),
    shift: () => (db.data.shift ? { ...db.data.shift } : undefined),
    async setShift(shift) {
      db.data = { ...db.data, shift: shift ? { ...shift } : null }
      await persist()
    },

    async apply(candidate) {
      const checked = validateKioskConfig(candidate)
      if (!checked.ok) return { applied: false, reason: 'invalid', detail: checked.error }
      const config = checked.value
      if (config.kiosk !== kioskId) return { applied: false, reason: 'wrong_kiosk', detail: `config is for kiosk ${config.kiosk}` }
      if (current && config.version < current.version) {
        return { applied: false, reason: 'older', detail: `version ${config.version} is older than ${current.version}` }
      }
      if (current && config.version === current.version) {
        return { applied: false, reason: 'same_version', detail: `version ${config.version} is already applied` }
      }
      // Copy: the caller's object must not alias the state in force.
      const copy = structuredClone(config)
      const key = chooseGatewayKey(options.gatewayKey, pinned(), copy.gatewayKey)
      if (key.mismatch) {
        counts.gatewayKeyMismatches += 1
        logger.warn({ version: copy.version }, 'config offers another gateway key than the trusted one; ignored')
      }
      const decision = acceptBlocklist(copy.blocklist, current?.blocklist, key.key)
      if (decision.rejected !== undefined) {
        counts.blocklistRejected += 1
        logger.error({ version: copy.version, blocklistVersion: copy.blocklist?.version, why: decision.rejected }, 'blocklist refused; the previous verified one stays in force')
      }
      if (decision.blocklist === undefined) delete copy.blocklist
      else copy.blocklist = decision.blocklist
      use(copy)
      db.data = { ...db.data, kioskConfig: copy, appliedAt: clock.now(), ...(key.pinNow !== undefined ? { gatewayKeyPin: key.pinNow } : {}) }
      if (key.pinNow !== undefined) logger.info('gateway key pinned (first seen)')
      await persist()
      logger.info({ version: copy.version, booth: copy.booth, products: copy.products.length }, 'kiosk config applied')
      for (const listener of listeners) {
        try {
          listener(copy)
        } catch (err) {
          logger.error({ err }, 'config listener failed')
        }
      }
      return { applied: true, version: copy.version }
    },

    settled: () => writes,
    onChange: (listener) => void listeners.push(listener),
  }
}
