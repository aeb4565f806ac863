// Several gateways on one PostgreSQL database each keep the registry's facts
// in memory (kiosks, products, till profiles, staff, the event's rules, kiosk
// keys), read once and forgotten when this gateway writes them. What another
// gateway writes must reach them too: every such write also sets a version
// row (meta 'registry_version', a new random value), and each ledger batch
// compares it once with the value this gateway last saw. A changed value:
// another gateway wrote, so everything cached is read again. On SQLite one
// gateway owns the file, and none of this runs.
import { randomUUID } from 'node:crypto'
import type { SqlDatabase } from '../sql/database.js'

const VERSION_KEY = 'registry_version'

export interface RegistryVersion {
  /** After (or inside the transaction of) a write of cached facts: the other gateways will read them again. */
  bump(): void
  /** Whether another gateway wrote since this one last looked (or bumped). */
  changedElsewhere(): boolean
}

export function createRegistryVersion(db: SqlDatabase): RegistryVersion {
  const read = db.prepare<[string], { value: string }>(`SELECT value FROM meta WHERE key = ?`)
  const write = db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`)
  let seen = read.get(VERSION_KEY)?.value
  return {
    bump() {
      const next = randomUUID()
      write.run(VERSION_KEY, next)
      seen = next
    },
    changedElsewhere() {
      const now = read.get(VERSION_KEY)?.value
      if (now === seen) return false
      seen = now
      return true
    },
  }
}
