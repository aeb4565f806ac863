// The kiosk's birth/death sequence (bdSeq, Sparkplug style): one more on every
// MQTT connection it makes, kept in the outbox database's meta table so that it
// never goes back, not even after a crash. The will registered with a
// connection carries the same number as that connection's birth, so a consumer
// can tell a stale death (an old connection noticed late) from a real one.
import type Database from 'better-sqlite3'

const META_KEY = 'bd_seq'

export interface BirthSequence {
  /** Takes the number of the next connection (0 for the first ever), stored before it is returned. */
  next(): number
  /** The last number taken, undefined before the first. */
  current(): number | undefined
}

/** `db` is the outbox database (its meta table exists from migration 1 on). */
export function createBirthSequence(db: Database.Database): BirthSequence {
  const select = db.prepare('SELECT value FROM meta WHERE key = ?')
  const upsert = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
  const read = (): number | undefined => {
    const row = select.get(META_KEY) as { value: string } | undefined
    const value = row === undefined ? NaN : Number(row.value)
    // A damaged value starts over from 0 rather than stopping the kiosk: consumers see a lower bdSeq once.
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  }
  const take = db.transaction((): number => {
    const last = read()
    const next = last === undefined ? 0 : last + 1
    upsert.run(META_KEY, String(next))
    return next
  })
  return { next: () => take(), current: read }
}
