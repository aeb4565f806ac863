// The table of SEPA checks (gateway/payments/sepa-checks.ts): one row per
// guest, for the payout data they registered last. It keeps no copy of the
// IBAN or the holder's name, only a fingerprint of the pair that was checked,
// so a result is never read for data it was not asked about. Payout run items
// keep the state their guest's check had when the run was made.
import type { SqlDatabase } from '../sql/database.js'

export const SEPA_CHECKS_DDL = `
CREATE TABLE IF NOT EXISTS sepa_checks (
  uid TEXT PRIMARY KEY,
  -- SHA-256 (hex) of the IBAN and holder name this check is about.
  fingerprint TEXT NOT NULL,
  -- queued: not yet asked; pending: the provider is checking; unknown: the provider could not be asked (retried);
  -- matched / mismatch: the provider's answer.
  state TEXT NOT NULL CHECK (state IN ('queued', 'pending', 'unknown', 'matched', 'mismatch')),
  -- The provider's chck_ id once it took the check.
  check_id TEXT,
  -- The provider's name score, 0..1.
  score REAL,
  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at INTEGER NOT NULL,
  requested_at INTEGER NOT NULL,
  completed_at INTEGER,
  -- Why the last attempt failed (the provider error's words; never the IBAN or the name).
  last_error TEXT
) STRICT;

CREATE INDEX IF NOT EXISTS sepa_checks_due ON sepa_checks(next_attempt_at) WHERE state IN ('queued', 'pending', 'unknown');
`

/**
 * Migration 17: the table, and the column payout run items keep the check's
 * state in (NULL when the event has no SEPA check). Every step can run again on
 * a database that has it already (one that says an older version): the column
 * is added only where it is missing.
 */
export function addSepaChecks(db: SqlDatabase): void {
  db.exec(SEPA_CHECKS_DDL)
  const columns = db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('payout_run_items')`).all()
  if (!columns.some((c) => c.name === 'sepa_check')) db.exec(`ALTER TABLE payout_run_items ADD COLUMN sepa_check TEXT`)
}
