// What a kiosk must not forget about remote commands across a restart: whether
// an operator locked it (and who, why), and which command ids it has already
// answered, with the first answer, so that a command delivered again (QoS 1
// redelivery, a persistent session after a crash, a replay) is never run twice.
// Kept in the outbox database's meta table, like the bdSeq: one file to back up,
// and a lock change is one SQLite transaction with the memory of its command.
import type Database from 'better-sqlite3'

export interface RemoteLock {
  /** The operator who locked the kiosk. */
  by: string
  reason?: string
  /** Kiosk clock, ms. */
  at: number
  commandId: string
}

/** The first answer to a command, as a repeat of it reports it. */
export interface FirstAnswer {
  status: 'done' | 'refused' | 'expired'
  at: number
  message?: string
}

export interface RemoteCommandStore {
  lock(): RemoteLock | null
  /** The first answer to command `id`, undefined when it was never answered (or forgotten after keepUntil). */
  answered(id: string): FirstAnswer | undefined
  /**
   * Remembers the answer to `id` until `keepUntil` (kiosk clock) and, when `lock` is given,
   * sets (a RemoteLock) or clears (null) the lock, all in one transaction.
   */
  record(id: string, answer: FirstAnswer, keepUntil: number, lock?: RemoteLock | null): void
  /** Forgets the answers whose keepUntil has passed. */
  prune(now: number): number
}

const LOCK_KEY = 'remote_lock'
const COMMAND_PREFIX = 'remote_cmd:'

/** `db` is the outbox database (its meta table exists from migration 1 on). */
export function createRemoteCommandStore(db: Database.Database): RemoteCommandStore {
  const select = db.prepare('SELECT value FROM meta WHERE key = ?')
  const upsert = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
  const remove = db.prepare('DELETE FROM meta WHERE key = ?')
  const commands = db.prepare(`SELECT key, value FROM meta WHERE key >= ? AND key < ?`)

  function readJson(key: string): Record<string, unknown> | undefined {
    const row = select.get(key) as { value: string } | undefined
    if (row === undefined) return undefined
    try {
      const value: unknown = JSON.parse(row.value)
      return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined
    } catch {
      return undefined
    }
  }

  const record = db.transaction((id: string, answer: FirstAnswer, keepUntil: number, lock: RemoteLock | null | undefined) => {
    upsert.run(COMMAND_PREFIX + id, JSON.stringify({ ...answer, keepUntil }))
    if (lock === null) remove.run(LOCK_KEY)
    else if (lock !== undefined) upsert.run(LOCK_KEY, JSON.stringify(lock))
  })

  return {
    lock() {
      const value = readJson(LOCK_KEY)
      if (value === undefined) return null
      // A damaged entry still locks: an operator locked this kiosk, and only an unlock ends that.
      const by = typeof value.by === 'string' ? value.by : 'an operator'
      return {
        by,
        ...(typeof value.reason === 'string' ? { reason: value.reason } : {}),
        at: typeof value.at === 'number' ? value.at : 0,
        commandId: typeof value.commandId === 'string' ? value.commandId : '',
      }
    },
    answered(id) {
      const value = readJson(COMMAND_PREFIX + id)
      if (value === undefined) return undefined
      const status = value.status === 'done' || value.status === 'refused' || value.status === 'expired' ? value.status : 'done'
      return { status, at: typeof value.at === 'number' ? value.at : 0, ...(typeof value.message === 'string' ? { message: value.message } : {}) }
    },
    record(id, answer, keepUntil, lock) {
      record(id, answer, keepUntil, lock)
    },
    prune(now) {
      // ';' follows ':' in ASCII: the range is exactly the keys with the prefix.
      const rows = commands.all(COMMAND_PREFIX, COMMAND_PREFIX.slice(0, -1) + ';') as Array<{ key: string; value: string }>
      let pruned = 0
      for (const row of rows) {
        let keepUntil = 0
        try {
          keepUntil = Number((JSON.parse(row.value) as { keepUntil?: unknown }).keepUntil)
        } catch {
          // A damaged entry is forgotten like an old one.
        }
        if (!(keepUntil >= now)) {
          remove.run(row.key)
          pruned++
        }
      }
      return pruned
    },
  }
}
