// Tables of the bank import jobs (pretix's bank import job resource) and of
// the wristbands' transfer codes. A job's transactions are stored when it is
// uploaded (state `imported`) and decided one by one in the background; a
// checksum claimed by one transaction makes the same transaction `already` in
// any later job.
export const BANK_IMPORT_DDL = `
CREATE TABLE IF NOT EXISTS bank_import_jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  event TEXT,
  created_at INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'error', 'completed')),
  created_by TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS bank_import_jobs_open ON bank_import_jobs(id) WHERE state IN ('pending', 'running');
CREATE TABLE IF NOT EXISTS bank_import_transactions (
  job_id INTEGER NOT NULL REFERENCES bank_import_jobs(id),
  idx INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('imported', 'nomatch', 'invalid', 'error', 'valid', 'discarded', 'already')),
  message TEXT NOT NULL DEFAULT '',
  checksum TEXT NOT NULL,
  payer TEXT NOT NULL,
  reference TEXT NOT NULL,
  amount TEXT NOT NULL,
  amount_cents INTEGER,
  currency TEXT,
  date TEXT NOT NULL,
  iban TEXT NOT NULL,
  bic TEXT NOT NULL,
  external_id TEXT,
  -- Why it is invalid, found when it was uploaded; NULL when it can be matched.
  problem TEXT,
  order_code TEXT,
  comment TEXT NOT NULL DEFAULT '',
  -- The wristband it was booked to, and the ledger booking's ref.
  uid TEXT,
  booking_ref TEXT,
  decided_by TEXT,
  PRIMARY KEY (job_id, idx)
) STRICT;
CREATE INDEX IF NOT EXISTS bank_import_transactions_open ON bank_import_transactions(job_id, idx) WHERE state IN ('nomatch', 'error');
CREATE TABLE IF NOT EXISTS bank_import_checksums (
  checksum TEXT PRIMARY KEY,
  job_id INTEGER NOT NULL,
  idx INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS bank_transfer_codes (
  uid TEXT PRIMARY KEY,
  code TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
) STRICT;
`
