// The gateway's own birth/death sequence (bdSeq of gateway/state): one more on
// every start, kept in the gateway database's meta table so it never goes back.
import type { SqlDatabase } from '../sql/database.js'

const META_KEY = 'gateway_bd_seq'

/** Takes the bdSeq of this start: 0 the first time, then one more each time. */
export function takeGatewayBdSeq(db: SqlDatabase): number {
  return db.transaction((): number => {
    const row = db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(META_KEY)
    const last = row === undefined ? NaN : Number(row.value)
    const next = Number.isSafeInteger(last) && last >= 0 ? last + 1 : 0
    db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(META_KEY, String(next))
    return next
  })()
}
