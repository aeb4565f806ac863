// The kiosk's small human-readable state (lowdb, one JSON file): the last
// KioskConfig it applied (booth, catalog, flags). The gateway's retained config
// is the source of truth; this copy lets a kiosk that restarts while the
// gateway is unreachable keep selling from the catalog it had.
import { renameSync } from 'node:fs'
import { JSONFilePreset } from 'lowdb/node'
import type { Low } from 'lowdb'
import type { Logger } from 'pino'
import type { Clock, KioskConfig, Product } from '../device-protocol/index.js'
import { validateKioskConfig } from '../device-protocol/index.js'

export interface LocalConfigData {
  kioskConfig: KioskConfig | null
  /** Clock time the config was applied, Unix ms. */
  appliedAt: number | null
}

export type ApplyResult =
  | { applied: true; version: number }
  | { applied: false; reason: 'invalid' | 'wrong_kiosk' | 'older' | 'same_version'; detail: string }

/** What the kiosk flow reads: the config currently in force. */
export interface CatalogSource {
  current(): KioskConfig | undefined
}

export interface LocalConfigStore extends CatalogSource {
  appliedAt(): number | undefined
  product(id: string): Product | undefined
  /**
   * Applies a candidate config if it is valid, for this kiosk and newer than
   * the current one; persists it before resolving.
   */
  apply(candidate: unknown): Promise<ApplyResult>
  onChange(listener: (config: KioskConfig) => void): void
}

export interface LocalConfigOptions {
  path: string
  kioskId: string
  clock: Clock
  logger: Logger
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

  function use(config: KioskConfig): void {
    current = config
    products = new Map(config.products.map((p) => [p.id, p]))
  }

  const stored = db.data?.kioskConfig ?? null
  if (stored !== null) {
    const checked = validateKioskConfig(stored)
    if (checked.ok && checked.value.kiosk === kioskId) use(checked.value)
    else logger.error({ path, error: checked.ok ? `config is for kiosk ${checked.value.kiosk}` : checked.error }, 'stored config ignored')
  }
  if (!db.data || typeof db.data !== 'object') db.data = emptyData()

  // Writes go one after another so the file always ends with the newest config.
  let writes: Promise<void> = Promise.resolve()

  return {
    current: () => current,
    appliedAt: () => db.data.appliedAt ?? undefined,
    product: (id) => products.get(id),

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
      use(copy)
      db.data = { kioskConfig: copy, appliedAt: clock.now() }
      const write = writes.then(() => db.write())
      writes = write.catch(() => undefined)
      await write
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

    onChange: (listener) => void listeners.push(listener),
  }
}
