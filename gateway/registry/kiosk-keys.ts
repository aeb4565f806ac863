// Which public key a kiosk signs with, when two paths can set it: `publicKey`
// in the event set-up, and PUT /admin/kiosks/{id}/public-key. The rule: the
// admin API wins. A key sent through it is the newest act of enrolment (a kiosk
// re-imaged at the gate), so a set-up file still naming the old key must not
// bring that key back on the next start or reload. Such an import keeps the
// admin key and says so loudly (a warning naming both fingerprints) until the
// file names the same key or none; once it does, the key counts as the file's
// again. A file key replaces an earlier file key (the organiser edited it).
// Every change is logged with the keys' fingerprints (public keys are not
// secret, but a fingerprint is what a person compares).
//
// Every change is also kept, in the same SQLite transaction, in
// kiosk_key_history with the kiosk's next sequence number at that moment: the
// audit checks each stored envelope against the key that was current for its
// seq, so a kiosk re-enrolled with a new key keeps an auditable past.
import { createHash } from 'node:crypto'
import type { SqlDatabase } from '../sql/database.js'
import { dialectOf } from '../sql/dialect.js'
import type { Logger } from 'pino'
import type { EventSetup } from '../event-setup.js'

/** Where a kiosk's stored key came from. */
export type KeySource = 'event_setup' | 'admin'

/**
 * Where a key in the history came from: the event set-up, the admin API, a
 * registration code, or 'migration': the key a kiosk had when the history
 * began (migration 22), recorded from seq 1 though earlier keys may have signed
 * the oldest envelopes (nothing kept them).
 */
export type KeyHistorySource = 'event_setup' | 'admin' | 'registration_code' | 'migration'

/**
 * Migration 22 of the gateway database: kiosk_key_history, seeded with every
 * kiosk's current key from seq 1 (the keys it replaced were never stored).
 */
export function addKioskKeyHistory(db: SqlDatabase, nowMs: number = Date.now()): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS kiosk_key_history (
      id INTEGER PRIMARY KEY,
      kiosk_id TEXT NOT NULL REFERENCES kiosks(id),
      public_key TEXT NOT NULL,
      -- The kiosk's next_seq when the key became current: it signs seq from_seq on.
      from_seq INTEGER NOT NULL CHECK (from_seq >= 1),
      set_at INTEGER NOT NULL,
      source TEXT NOT NULL CHECK (source IN ('event_setup', 'admin', 'registration_code', 'migration'))
    ) STRICT;
    CREATE INDEX IF NOT EXISTS kiosk_key_history_by_kiosk ON kiosk_key_history(kiosk_id, from_seq);
  `)
  db.prepare(
    `INSERT INTO kiosk_key_history (kiosk_id, public_key, from_seq, set_at, source)
     SELECT id, public_key, 1, ?, 'migration' FROM kiosks
     WHERE public_key IS NOT NULL AND id NOT IN (SELECT kiosk_id FROM kiosk_key_history)`,
  ).run(nowMs)
}

/** Records that `publicKey` is the kiosk's key from its next seq on; call in the transaction that stores the key. */
function recordKeyChange(db: SqlDatabase, kioskId: string, publicKey: string, source: Exclude<KeyHistorySource, 'migration'>, nowMs: number): void {
  // The kiosk's next seq: on its row on SQLite, in the ledger store's cursor on PostgreSQL (sql/dialect.ts).
  db.prepare(
    `INSERT INTO kiosk_key_history (kiosk_id, public_key, from_seq, set_at, source)
     SELECT id, ?, ${dialectOf(db).kioskNextSeq('kiosks')}, ?, ? FROM kiosks WHERE id = ?`,
  ).run(publicKey, nowMs, source, kioskId)
}

/** `sha256:` and the first 16 hex digits of SHA-256 over the base64url text of the key. */
export function keyFingerprint(publicKeyBase64Url: string): string {
  return `sha256:${createHash('sha256').update(publicKeyBase64Url, 'utf8').digest('hex').slice(0, 16)}`
}

export type FileKeyDecision =
  /** The file names no key, or the stored one: nothing changes. */
  | { kind: 'unchanged'; adopt: boolean }
  /** The kiosk had no key: the file's is stored. */
  | { kind: 'enroll' }
  /** The file's key replaces an earlier file key. */
  | { kind: 'replace' }
  /** The stored key came through the admin API and the file names another: the admin key stays. */
  | { kind: 'conflict_admin_key_kept' }

/**
 * What an import does with a kiosk's `publicKey`. `adopt`: the file now names
 * the key an operator sent, so the file owns it again (a later file change applies).
 */
export function decideFileKey(stored: { key: string | null; source: KeySource | null }, fileKey: string | undefined): FileKeyDecision {
  if (fileKey === undefined) return { kind: 'unchanged', adopt: false }
  if (stored.key === null) return { kind: 'enroll' }
  if (stored.key === fileKey) return { kind: 'unchanged', adopt: stored.source === 'admin' }
  // Keys stored before the source was recorded (NULL) came from the file: only it could set them on every start.
  if (stored.source === 'admin') return { kind: 'conflict_admin_key_kept' }
  return { kind: 'replace' }
}

export interface KeyChange {
  kiosk: string
  change: 'enrolled' | 'replaced' | 'conflict_admin_key_kept'
  source: KeySource
  fingerprint: string
  previousFingerprint?: string
  /** The file's key that was not taken (conflict only). */
  refusedFingerprint?: string
}

/** Applies the set-up's kiosk keys inside the import's SQLite transaction; returns what changed (logged after commit). */
export function importKioskKeys(db: SqlDatabase, setup: EventSetup, nowMs: number = Date.now()): KeyChange[] {
  const stored = db.prepare<[string], { public_key: string | null; key_source: KeySource | null }>(`SELECT public_key, key_source FROM kiosks WHERE id = ?`)
  const setKey = db.prepare(`UPDATE kiosks SET public_key = ?, key_source = 'event_setup' WHERE id = ?`)
  const adopt = db.prepare(`UPDATE kiosks SET key_source = 'event_setup' WHERE id = ?`)
  const changes: KeyChange[] = []
  for (const k of setup.kiosks) {
    const row = stored.get(k.id)
    if (row === undefined) continue
    const decision = decideFileKey({ key: row.public_key, source: row.key_source }, k.publicKey)
    switch (decision.kind) {
      case 'unchanged':
        if (decision.adopt) adopt.run(k.id)
        break
      case 'enroll':
        setKey.run(k.publicKey!, k.id)
        recordKeyChange(db, k.id, k.publicKey!, 'event_setup', nowMs)
        changes.push({ kiosk: k.id, change: 'enrolled', source: 'event_setup', fingerprint: keyFingerprint(k.publicKey!) })
        break
      case 'replace':
        setKey.run(k.publicKey!, k.id)
        recordKeyChange(db, k.id, k.publicKey!, 'event_setup', nowMs)
        changes.push({ kiosk: k.id, change: 'replaced', source: 'event_setup', fingerprint: keyFingerprint(k.publicKey!), previousFingerprint: keyFingerprint(row.public_key!) })
        break
      case 'conflict_admin_key_kept':
        changes.push({ kiosk: k.id, change: 'conflict_admin_key_kept', source: 'admin', fingerprint: keyFingerprint(row.public_key!), refusedFingerprint: keyFingerprint(k.publicKey!) })
        break
      default: {
        const never: never = decision
        throw new Error(`unhandled key decision ${JSON.stringify(never)}`)
      }
    }
  }
  return changes
}

/**
 * Stores a key sent through the admin API (`source`: 'registration_code' when a
 * code was redeemed for it) and its history row, in one transaction (a savepoint
 * inside the caller's); returns the change to log.
 */
export function enrollKioskKeyByAdmin(
  db: SqlDatabase,
  kioskId: string,
  publicKeyBase64Url: string,
  { source = 'admin', nowMs = Date.now() }: { source?: 'admin' | 'registration_code'; nowMs?: number } = {},
): KeyChange {
  const previous = db.transaction(() => {
    const row = db.prepare<[string], { public_key: string | null }>(`SELECT public_key FROM kiosks WHERE id = ?`).get(kioskId)
    db.prepare(`UPDATE kiosks SET public_key = ?, key_source = 'admin' WHERE id = ?`).run(publicKeyBase64Url, kioskId)
    const stored = row?.public_key ?? null
    // The same key sent again starts no new period.
    if (row !== undefined && stored !== publicKeyBase64Url) recordKeyChange(db, kioskId, publicKeyBase64Url, source, nowMs)
    return stored
  }).immediate()
  return {
    kiosk: kioskId,
    change: previous === null ? 'enrolled' : 'replaced',
    source: 'admin',
    fingerprint: keyFingerprint(publicKeyBase64Url),
    ...(previous === null ? {} : { previousFingerprint: keyFingerprint(previous) }),
  }
}

/** One log line per key change: info for a first enrolment, warn for a replacement or a refused file key. */
export function logKeyChange(logger: Logger, change: KeyChange): void {
  switch (change.change) {
    case 'enrolled':
      logger.info(change, `kiosk ${change.kiosk} enrolled: key ${change.fingerprint} (from the ${change.source === 'admin' ? 'admin API' : 'event set-up'})`)
      break
    case 'replaced':
      if (change.previousFingerprint === change.fingerprint) logger.info(change, `kiosk ${change.kiosk}: the same key ${change.fingerprint} sent again (admin API)`)
      else logger.warn(change, `kiosk ${change.kiosk} key replaced: ${change.previousFingerprint} -> ${change.fingerprint} (from the ${change.source === 'admin' ? 'admin API' : 'event set-up'}); transactions signed with the old key are refused from now on`)
      break
    case 'conflict_admin_key_kept':
      logger.warn(
        change,
        `kiosk ${change.kiosk}: the event set-up names key ${change.refusedFingerprint}, but key ${change.fingerprint} was enrolled through the admin API since; ` +
          `the admin key stays. Put the admin key into the file, remove publicKey from it, or send the file's key with PUT /admin/kiosks/${change.kiosk}/public-key`,
      )
      break
  }
}
