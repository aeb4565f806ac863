// Retiring kiosks and wristbands: the event set-up is the list of what may take
// part, so a kiosk or a wristband taken out of the file (or disabled by an
// operator through the admin API) stops taking part at once. Nothing is
// deleted: transactions, postings and accounts reference them, and a retired
// wristband's balance is still the guest's money. Retiring only refuses:
//  - a retired kiosk cannot log in over MQTT, gets no config, and anything it
//    sent is refused as `unknown_kiosk`;
//  - a retired wristband cannot pay (it is blocked, so kiosks get it on their
//    signed blocklist too) and cannot log in to the portal (its PIN finds
//    nothing), while its balance stays in its account for a payout.
// Putting it back into the file (or enabling it again) restores it as it was.
// Wristbands sold at a till (ticket sale) or moved by a tag switch were never in
// the file: they are not retired for being absent from it.
import type { SqlDatabase } from '../sql/database.js'
import type { Logger } from 'pino'
import type { EventSetup } from '../event-setup.js'
import { tokenMatches } from './secrets.js'

/** Why something is retired: absent from the event set-up, or disabled through the admin API (which a reload keeps). */
export type RetiredReason = 'removed_from_setup' | 'disabled_by_admin'

export interface SetupRetirement {
  kiosksRetired: string[]
  kiosksRestored: string[]
  /** Kiosks of the file whose token changed: a live connection made with the old token is closed. */
  kiosksWithNewToken: string[]
  wristbandsRetired: number
  wristbandsRestored: number
  /** Sum of the balances of the wristbands retired by this import, cents: still owed to their guests. */
  retiredBalanceCents: number
}

export interface RetiredWristband {
  uid: string
  reason: RetiredReason
  balance: number
}

/**
 * Migration 6 of the gateway database (gateway/migrations.ts): adds the columns
 * of retirement and key provenance, in place (a version-2 database may have
 * them already): wristbands imported so far are marked as the file's, except
 * those a ticket sale or a tag switch made. The runner's transaction keeps the
 * columns and their filling together.
 */
export function addRetirementColumns(db: SqlDatabase): void {
  const kioskColumns = (db.prepare(`SELECT name FROM pragma_table_info('kiosks')`).all() as Array<{ name: string }>).map((c) => c.name)
  const bandColumns = (db.prepare(`SELECT name FROM pragma_table_info('wristbands')`).all() as Array<{ name: string }>).map((c) => c.name)
  if (!kioskColumns.includes('retired')) db.exec(`ALTER TABLE kiosks ADD COLUMN retired TEXT CHECK (retired IN ('removed_from_setup', 'disabled_by_admin'))`)
  if (!kioskColumns.includes('key_source')) db.exec(`ALTER TABLE kiosks ADD COLUMN key_source TEXT CHECK (key_source IN ('event_setup', 'admin'))`)
  if (!bandColumns.includes('retired')) db.exec(`ALTER TABLE wristbands ADD COLUMN retired TEXT CHECK (retired IN ('removed_from_setup', 'disabled_by_admin'))`)
  // What `blocked` was before retiring set it, so that a restored wristband is as it was.
  if (!bandColumns.includes('blocked_before_retired')) db.exec(`ALTER TABLE wristbands ADD COLUMN blocked_before_retired INTEGER CHECK (blocked_before_retired IN (0, 1))`)
  if (!bandColumns.includes('in_setup')) {
    db.exec(`ALTER TABLE wristbands ADD COLUMN in_setup INTEGER NOT NULL DEFAULT 0 CHECK (in_setup IN (0, 1))`)
    db.exec(`
      UPDATE wristbands SET in_setup = 1
      WHERE uid NOT IN (SELECT replaced_by FROM wristbands WHERE replaced_by IS NOT NULL)
        AND uid NOT IN (SELECT tag FROM transactions WHERE type = 'ticket' AND status = 'accepted')`)
  }
}

/** Which kiosks of the set-up come with another token than the stored one. Call before the kiosks are upserted. */
export function kiosksWithNewToken(db: SqlDatabase, setup: EventSetup): string[] {
  const stored = db.prepare<[string], { token_hash: string; token_source: string | null }>(`SELECT token_hash, token_source FROM kiosks WHERE id = ?`)
  return setup.kiosks.filter((k) => {
    const row = stored.get(k.id)
    // An enrolled token stays whatever the file says (registry/enrollment.ts).
    return row !== undefined && row.token_source === null && !tokenMatches(k.token, row.token_hash)
  }).map((k) => k.id)
}

/** Rows of one multi-row insert into setup_ids: two parameters each, well under SQLite's oldest limit of 999. */
const SETUP_IDS_PER_INSERT = 400

/**
 * Puts the set-up's kiosk ids and wristband uids into a temporary table of
 * this connection (emptied first), for the statements below to read: SQLite's
 * json_each, which took the lists as one JSON parameter, has no PostgreSQL
 * twin, while a temporary table and multi-row inserts are the same on both.
 */
function stageSetupIds(db: SqlDatabase, setup: EventSetup): void {
  db.exec(`CREATE TEMP TABLE IF NOT EXISTS setup_ids (kind TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (kind, id))`)
  db.exec(`DELETE FROM setup_ids`)
  const rows: Array<[string, string]> = [...setup.kiosks.map((k): [string, string] => ['kiosk', k.id]), ...setup.wristbands.map((w): [string, string] => ['wristband', w.uid])]
  for (let start = 0; start < rows.length; start += SETUP_IDS_PER_INSERT) {
    const chunk = rows.slice(start, start + SETUP_IDS_PER_INSERT)
    db.prepare(`INSERT INTO setup_ids (kind, id) VALUES ${chunk.map(() => '(?, ?)').join(', ')} ON CONFLICT DO NOTHING`).run(...chunk.flat())
  }
}

const SETUP_KIOSKS = `(SELECT id FROM setup_ids WHERE kind = 'kiosk')`
const SETUP_WRISTBANDS = `(SELECT id FROM setup_ids WHERE kind = 'wristband')`

/** Retires what the set-up no longer lists and restores what it lists again; inside the import's transaction, after the upserts. */
export function applySetupRetirement(db: SqlDatabase, setup: EventSetup, kiosksWithNewTokenIds: string[]): SetupRetirement {
  stageSetupIds(db, setup)
  const retirement = retireAndRestore(db, setup, kiosksWithNewTokenIds)
  // Not kept beyond the import (a set-up may list tens of thousands of wristbands); a failed import's rollback takes them too.
  db.exec(`DELETE FROM setup_ids`)
  return retirement
}

function retireAndRestore(db: SqlDatabase, setup: EventSetup, kiosksWithNewTokenIds: string[]): SetupRetirement {
  const kiosksRestored = db
    .prepare<[], { id: string }>(`UPDATE kiosks SET retired = NULL WHERE retired = 'removed_from_setup' AND id IN ${SETUP_KIOSKS} RETURNING id`)
    .all()
    .map((r) => r.id)
  const kiosksRetired = db
    // Kiosks an operator made through the admin API were never in the file: absence does not retire them (registry/enrollment.ts).
    .prepare<[], { id: string }>(`UPDATE kiosks SET retired = 'removed_from_setup' WHERE retired IS NULL AND origin IS NULL AND id NOT IN ${SETUP_KIOSKS} RETURNING id`)
    .all()
    .map((r) => r.id)

  db.prepare(`UPDATE wristbands SET in_setup = 1 WHERE in_setup = 0 AND uid IN ${SETUP_WRISTBANDS}`).run()
  const fileBlocked = new Map(setup.wristbands.map((w) => [w.uid, w.blocked]))
  const back = db.prepare<[], { uid: string }>(`SELECT uid FROM wristbands WHERE retired = 'removed_from_setup' AND uid IN ${SETUP_WRISTBANDS}`).all()
  // A wristband a tag switch replaced stays blocked whatever the file says.
  const restore = db.prepare(
    `UPDATE wristbands SET retired = NULL, blocked = CASE WHEN replaced_by IS NULL THEN COALESCE(?, blocked_before_retired, 0) ELSE 1 END, blocked_before_retired = NULL WHERE uid = ?`,
  )
  for (const { uid } of back) {
    const blocked = fileBlocked.get(uid)
    restore.run(blocked === undefined ? null : blocked ? 1 : 0, uid)
  }
  const retiring = `FROM wristbands w JOIN accounts a ON a.id = w.account WHERE w.in_setup = 1 AND w.retired IS NULL AND w.uid NOT IN ${SETUP_WRISTBANDS}`
  const owed = db.prepare<[], { n: number; cents: number | null }>(`SELECT COUNT(*) AS n, SUM(a.balance) AS cents ${retiring}`).get()!
  db.prepare(
    `UPDATE wristbands SET retired = 'removed_from_setup', blocked_before_retired = blocked, blocked = 1
     WHERE uid IN (SELECT w.uid ${retiring})`,
  ).run()
  return {
    kiosksRetired,
    kiosksRestored,
    kiosksWithNewToken: kiosksWithNewTokenIds,
    wristbandsRetired: owed.n,
    wristbandsRestored: back.length,
    retiredBalanceCents: owed.cents ?? 0,
  }
}

/** After the import's commit: a warning per kiosk retired, and the money the retired wristbands still hold. */
export function logImportRetirement(logger: Logger, r: SetupRetirement): void {
  for (const kiosk of r.kiosksRetired) logger.warn({ kiosk }, `kiosk ${kiosk} retired: it is no longer in the event set-up (its history and cash account stay; put it back to let it deliver what its outbox still holds)`)
  for (const kiosk of r.kiosksRestored) logger.warn({ kiosk }, `kiosk ${kiosk} restored: it is in the event set-up again`)
  for (const kiosk of r.kiosksWithNewToken) logger.warn({ kiosk }, `kiosk ${kiosk} has a new token in the event set-up: the old one no longer logs in`)
  if (r.wristbandsRetired > 0)
    logger.warn(
      { wristbands: r.wristbandsRetired, balanceCents: r.retiredBalanceCents },
      `${r.wristbandsRetired} wristbands retired (no longer in the event set-up): they cannot pay or log in to the portal; their balances (${r.retiredBalanceCents} cents in all) stay in their accounts (GET /admin/retired)`,
    )
  if (r.wristbandsRestored > 0) logger.warn({ wristbands: r.wristbandsRestored }, `${r.wristbandsRestored} retired wristbands restored: they are in the event set-up again`)
}

/** Operator actions and views on retirement (the admin API). */
export function createRetirementControls(db: SqlDatabase) {
  const kiosk = db.prepare<[string], { retired: RetiredReason | null }>(`SELECT retired FROM kiosks WHERE id = ?`)
  const band = db.prepare<[string], { retired: RetiredReason | null; blocked: number; blocked_before_retired: number | null }>(
    `SELECT retired, blocked, blocked_before_retired FROM wristbands WHERE uid = ?`,
  )
  return {
    /**
     * Disables (or enables again) a kiosk. Returns false for an unknown kiosk.
     * Enabling one the set-up no longer lists changes nothing: the file decides.
     */
    setKioskDisabled(kioskId: string, disabled: boolean): boolean {
      const row = kiosk.get(kioskId)
      if (row === undefined) return false
      if (disabled && row.retired === null) db.prepare(`UPDATE kiosks SET retired = 'disabled_by_admin' WHERE id = ?`).run(kioskId)
      if (!disabled && row.retired === 'disabled_by_admin') db.prepare(`UPDATE kiosks SET retired = NULL WHERE id = ?`).run(kioskId)
      return true
    },
    kioskRetired(kioskId: string): RetiredReason | null | undefined {
      return kiosk.get(kioskId)?.retired
    },
    /** Disables (or enables again) a wristband as retiring does; false for an unknown uid. */
    setWristbandDisabled(uid: string, disabled: boolean): boolean {
      return db.transaction(() => {
        const row = band.get(uid)
        if (row === undefined) return false
        if (disabled && row.retired === null) {
          db.prepare(`UPDATE wristbands SET retired = 'disabled_by_admin', blocked_before_retired = blocked, blocked = 1 WHERE uid = ?`).run(uid)
        }
        if (!disabled && row.retired === 'disabled_by_admin') {
          db.prepare(`UPDATE wristbands SET retired = NULL, blocked = COALESCE(blocked_before_retired, 0), blocked_before_retired = NULL WHERE uid = ?`).run(uid)
        }
        return true
      }).immediate()
    },
    wristbandRetired(uid: string): RetiredReason | null | undefined {
      return band.get(uid)?.retired
    },
    retiredKiosks(): Array<{ id: string; reason: RetiredReason }> {
      return db.prepare<[], { id: string; reason: RetiredReason }>(`SELECT id, retired AS reason FROM kiosks WHERE retired IS NOT NULL ORDER BY id`).all()
    },
    retiredWristbands(): RetiredWristband[] {
      return db
        .prepare<[], RetiredWristband>(`SELECT w.uid, w.retired AS reason, a.balance FROM wristbands w JOIN accounts a ON a.id = w.account WHERE w.retired IS NOT NULL ORDER BY w.uid`)
        .all()
    },
  }
}
export type RetirementControls = ReturnType<typeof createRetirementControls>
